"""The Navier–Stokes solver's validation, each figure next to its published bound, regenerated as Markdown.

    python -m surrolab.benchmarks.ns_validation                 # full runs, ~21 min on 2 cores
    python -m surrolab.benchmarks.ns_validation --quick         # coarse versions of the same runs, ~1 min

Writes `benchmarks/results/navier_stokes_validation.md` (or `--out`) with:
1. Taylor–Green vortex with exact Dirichlet data: L2 errors of velocity and pressure on 8², 16², 32² (64²
   unless --quick), Δt ∝ h² so the time error is negligible, and the fitted orders against the theory
   (P2–P1: 3 and 2). Time: self-convergence on one mesh (BDF2: 2).
2. Lid-driven cavity, steady, Re = 100 and 400 against Ghia, Ghia & Shin (1982): largest deviation of the
   centre-line profiles as a fraction of the lid speed (`cavity_ghia.run_cavity`).
3. DFG flow around a cylinder (Schäfer & Turek, 1996): 2D-1 c_D, c_L, Δp and 2D-2 c_D,max, c_L,max, St, Δp,
   each with the published interval (`dfg_cylinder.run_steady`, `run_periodic`).
4. Lid-driven cavity at Re = 1000, 2500, 3200, 5000 by the steady Newton solver on 64², 128², 256² (32², 64² with
   --quick) against Ghia et al. (1982) and Erturk, Corke & Gökçöl (2005), with the smallest mesh within 1 %.
5. DFG 2D-2 on a mesh twice as coarse as section 3's, plain Galerkin and stabilised.
Every run is timed; the machine and the exact command are written at the top.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import dolfinx_solver  # noqa: F401  (must be imported before dolfinx)
import dolfinx.fem
import numpy as np
import ufl
from petsc4py import PETSc

from surrolab.benchmarks.cavity_ghia import refine, run_cavity
from surrolab.benchmarks.dfg_cylinder import DFGRun, run_periodic, run_steady
from surrolab.errors import SurrolabError
from surrolab.provenance import hardware
from surrolab.solvers.fem.navier_stokes import CELL_REYNOLDS_LIMIT, NavierStokesSolver, unit_square_mesh
from surrolab.solvers.fem.reference_flows import DFGCylinder, TaylorGreenVortex

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "navier_stokes_validation.md"


# -- Taylor–Green ------------------------------------------------------------------------------------
def l2_errors(solver: NavierStokesSolver, state, reference) -> tuple[float, float]:
    """(‖u_h − u‖_L2, ‖p_h − p‖_L2) at state.t against the exact fields, degree-8 quadrature."""
    u_h, p_h = solver.functions(state)
    x = ufl.SpatialCoordinate(solver.mesh)
    t = dolfinx.fem.Constant(solver.mesh, PETSc.ScalarType(state.t))
    u = ufl.as_vector(reference.velocity(x[0], x[1], t, xp=ufl))
    p = reference.pressure(x[0], x[1], t, xp=ufl)
    dx = ufl.dx(metadata={"quadrature_degree": 8})
    return (math.sqrt(dolfinx.fem.assemble_scalar(dolfinx.fem.form(ufl.inner(u_h - u, u_h - u) * dx))),
            math.sqrt(dolfinx.fem.assemble_scalar(dolfinx.fem.form((p_h - p) ** 2 * dx))))


def fitted_order(steps, errors) -> float:
    """Least-squares slope of log(error) against log(step)."""
    return float(np.polyfit(np.log(steps), np.log(errors), 1)[0])


@dataclass(frozen=True)
class OrderStudy:
    steps: tuple[float, ...]  # h or Δt
    velocity_errors: tuple[float, ...]
    pressure_errors: tuple[float, ...]
    seconds: float

    @property
    def orders(self) -> tuple[float, float]:
        return fitted_order(self.steps, self.velocity_errors), fitted_order(self.steps, self.pressure_errors)


def taylor_green_space(resolutions=(8, 16, 32, 64), viscosity: float = 0.05, t_end: float = 0.5) -> OrderStudy:
    """Errors against the exact vortex with Δt ∝ h² (8 steps on 8², ×4 per refinement): spatial orders."""
    reference = TaylorGreenVortex(viscosity=viscosity)
    start, u_errors, p_errors = time.perf_counter(), [], []
    for n in resolutions:
        n_steps = 8 * (n // 8) ** 2
        solver = NavierStokesSolver(unit_square_mesh(n), reference.boundary_conditions(),
                                    viscosity=reference.viscosity, density=reference.density, dt=t_end / n_steps)
        state = solver.rollout(solver.initial_state(lambda x: reference.velocity_data(x, 0.0)), n_steps,
                               save_every=n_steps)[-1]
        u_error, p_error = l2_errors(solver, state, reference)
        u_errors.append(u_error)
        p_errors.append(p_error)
    return OrderStudy(tuple(1.0 / np.array(resolutions)), tuple(u_errors), tuple(p_errors),
                      time.perf_counter() - start)


def taylor_green_time(steps=(8, 16, 32, 64, 128), resolution: int = 8, viscosity: float = 0.1,
                      t_end: float = 1.0) -> OrderStudy:
    """Self-convergence on one mesh: differences of solutions at Δt and Δt/2 are the time error alone."""
    reference = TaylorGreenVortex(viscosity=viscosity)
    mesh = unit_square_mesh(resolution)
    start, finals = time.perf_counter(), []
    for n_steps in steps:
        solver = NavierStokesSolver(mesh, reference.boundary_conditions(), viscosity=reference.viscosity,
                                    dt=t_end / n_steps)
        state = solver.rollout(solver.initial_state(lambda x: reference.velocity_data(x, 0.0)), n_steps,
                               save_every=n_steps)[-1]
        finals.append(solver.functions(state))

    def norm(e) -> float:
        return math.sqrt(dolfinx.fem.assemble_scalar(dolfinx.fem.form(ufl.inner(e, e) * ufl.dx)))

    du = tuple(norm(a[0] - b[0]) for a, b in zip(finals, finals[1:]))
    dp = tuple(norm(a[1] - b[1]) for a, b in zip(finals, finals[1:]))
    return OrderStudy(tuple(t_end / np.array(steps[:-1])), du, dp, time.perf_counter() - start)


# -- the report ----------------------------------------------------------------------------------------
def _order_rows(label: str, study: OrderStudy, expected: tuple[int, int]) -> list[str]:
    u, p = study.orders
    errors = ", ".join(f"{e:.2e}" for e in study.velocity_errors)
    perrors = ", ".join(f"{e:.2e}" for e in study.pressure_errors)
    return [f"| {label}, velocity | {errors} | {u:.2f} | {expected[0]} | {study.seconds:.0f} |",
            f"| {label}, pressure | {perrors} | {p:.2f} | {expected[1]} | |"]


def _dfg_rows(run: DFGRun) -> list[str]:
    reference = DFGCylinder(run.case).reference
    rows = []
    for name, interval in reference.bounds.items():
        value = run.quantities.get(name, float("nan"))
        inside = "yes" if value in interval else "**no**"
        stabilized = "on" if run.extra.get("stabilized") else "off"
        rows.append(f"| {run.case} | {name} | {value:.5g} | [{interval.lower:g}, {interval.upper:g}] | {inside} "
                    f"| {reference.values[name]:g} | {run.n_dofs:,} | {run.seconds:.0f} "
                    f"| {stabilized} (cell Re {run.extra.get('cell_reynolds', float('nan')):.0f}) |")
    return rows


def build_report(quick: bool) -> str:
    command = "python -m surrolab.benchmarks.ns_validation" + (" --quick" if quick else "")
    lines = ["# Navier–Stokes solver: validation against exact solutions and published benchmarks", "",
             f"Regenerated by `{command}`. Machine: {hardware()}.", "",
             "Solver: Taylor–Hood P2–P1, linearly implicit BDF2, monolithic MUMPS LU "
             "(`solvers/fem/navier_stokes.py`).", ""]

    space = taylor_green_space((8, 16, 32) if quick else (8, 16, 32, 64))
    time_study = taylor_green_time((8, 16, 32) if quick else (8, 16, 32, 64, 128))
    lines += ["## 1. Taylor–Green vortex (exact Dirichlet data), observed orders", "",
              "| study | L2 errors (coarse → fine) | fitted order | theory | wall s |", "|---|---|---|---|---|",
              *_order_rows(f"space, h = 1/8 … 1/{round(1 / space.steps[-1])}, Δt ∝ h²", space, (3, 2)),
              *_order_rows(f"time, Δt = 1/8 … 1/{round(1 / time_study.steps[-1])} (self-convergence, 8²)",
                           time_study, (2, 2)), ""]

    n = 32 if quick else 64
    lines += ["## 2. Lid-driven cavity against Ghia, Ghia & Shin (1982)", "",
              f"Steady state on a {n}² mesh (march with Δt = 0.5 until the relative change per unit time < 1e-6). "
              "Largest deviation over the tabulated stations, as a fraction of the lid speed. Ghia's Re = 400 "
              "v table has one station (x = 0.9063) out of line with its neighbours (`GHIA_SUSPECT`); the v "
              "deviation is shown with and without it. `stabilization=auto` (the default): SUPG/grad-div would "
              f"switch on past a cell Reynolds number of {CELL_REYNOLDS_LIMIT:g}.", "",
              "| Re | dofs | steps | cell Re | SUPG/grad-div | max \\|u − u_Ghia\\| / U | max \\|v − v_Ghia\\| / U "
              "| v without the suspect station | wall s |", "|---|---|---|---|---|---|---|---|---|"]
    for reynolds in (100.0, 400.0):
        run = run_cavity(reynolds, n)
        d = run.deviation
        lines.append(f"| {reynolds:g} | {run.n_dofs:,} | {run.n_steps} | {run.cell_reynolds:.1f} "
                     f"| {'on' if run.stabilized else 'off'} | {d.u:.2%} | {d.v:.2%} | {d.v_without_suspect:.2%} "
                     f"| {run.seconds:.0f} |")
    lines.append("")

    h = 0.04 if quick else 0.02
    steady = run_steady(h, h / 5)
    periodic = run_periodic(h, h / 5, dt=0.01 if quick else 0.005, t_end=8.0)
    lines += ["## 3. DFG flow around a cylinder (Schäfer & Turek, 1996)", "",
              f"Mesh h = {h:g}, h = {h / 5:g} on the cylinder. 2D-1: steady state of the march (Δt = 0.1). "
              f"2D-2: impulsive start, Δt = {periodic.dt:g}, t ∈ [0, 8], quantities over the last three lift periods "
              f"(period spread {periodic.extra.get('period_spread', float('nan')):.1e}). Intervals: the paper's "
              "lower/upper bounds (sources in `solvers/fem/reference_flows.py`); reference: high-precision values. "
              "`stabilization=auto`; the last column says whether it switched SUPG/grad-div on, and at which "
              "largest cell Reynolds number of the final flow.", "",
              "| case | quantity | computed | published bounds | inside | reference | dofs | wall s | SUPG/grad-div |",
              "|---|---|---|---|---|---|---|---|---|", *_dfg_rows(steady), *_dfg_rows(periodic), ""]

    cavity_rows, first_within = high_reynolds_cavity((1000.0, 2500.0, 3200.0, 5000.0),
                                                     (32, 64) if quick else (64, 128, 256))
    lines += ["## 4. Lid-driven cavity at higher Reynolds numbers, steady solver", "",
              "Newton's method on the steady equations with continuation in the viscosity "
              "(`solvers/fem/navier_stokes_steady.py`), `stabilization=auto`, uniform n² meshes ('right' "
              "diagonals), each mesh starting from the previous mesh's solution (interpolated), against Ghia, "
              "Ghia & Shin (1982; 129² at Re = 1000, 257² above) and Erturk, Corke & Gökçöl (2005; 601²). "
              "Largest deviation over each table's interior stations as a fraction of the lid speed; the last column leaves out Ghia's misprinted Re = 3200 u at y = 0.4531 (`GHIA_SUSPECT`). "
              "Steps: Newton iterations summed over the continuation.", "",
              "| Re | n | dofs | Newton steps | cell Re | SUPG/grad-div | reference | max \\|Δu\\| / U | at y "
              "| max \\|Δv\\| / U | at x | largest without suspect | wall s |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|", *cavity_rows, "",
              "Smallest mesh within 1 % of the lid speed (largest deviation without the suspect station): "
              + "; ".join(f"Re = {re:g} vs {ref}: {n}" for (re, ref), n in first_within.items()) + ".", ""]

    coarse = 0.08 if quick else 0.04
    runs = [run_periodic(coarse, coarse / 5, dt=0.01 if quick else 0.005, t_end=8.0, stabilization=stabilization)
            for stabilization in ("none", "supg")]
    lines += ["## 5. DFG 2D-2 on a coarser mesh, with and without the stabilisation", "",
              f"Mesh h = {coarse:g}, h = {coarse / 5:g} on the cylinder (section 3: h = {h:g}), Δt = {runs[0].dt:g}, "
              "t ∈ [0, 8]; first plain Galerkin (`stabilization=none`), then SUPG/grad-div from the first step.", "",
              "| case | quantity | computed | published bounds | inside | reference | dofs | wall s | SUPG/grad-div |",
              "|---|---|---|---|---|---|---|---|---|", *_dfg_rows(runs[0]), *_dfg_rows(runs[1]), ""]
    return "\n".join(lines)


def high_reynolds_cavity(reynolds_numbers, resolutions) -> tuple[list[str], dict]:
    """Section 4's rows, and for each (Re, reference) the smallest n within 1 % ('none' if no mesh is)."""
    rows, first_within = [], {}
    for reynolds in reynolds_numbers:
        for n, run in refine(reynolds, resolutions, steady=True, references=("ghia", "erturk")):
            if isinstance(run, SurrolabError):  # no steady solution found on this mesh: say so in the table
                rows.append(f"| {reynolds:g} | {n} | | | | | | {run} | | | | | |")
                continue
            for c in run.comparisons:
                d = c.deviation
                rows.append(f"| {reynolds:g} | {n} | {run.n_dofs:,} | {run.n_steps} | {run.cell_reynolds:.1f} "
                            f"| {'on' if run.stabilized else 'off'} | {c.reference} | {d.u:.2%} "
                            f"| {c.worst_u_station:.4f} | {d.v:.2%} | {c.worst_v_station:.4f} "
                            f"| {d.largest_without_suspect:.2%} | {run.seconds:.0f} |")
                key = (reynolds, c.reference)
                if first_within.get(key, "none") == "none":
                    first_within[key] = f"{n}²" if d.largest_without_suspect < 0.01 else "none"
    return rows, first_within


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m surrolab.benchmarks.ns_validation",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="coarse meshes and steps (about a minute)")
    parser.add_argument("--out", type=Path, default=None, help=f"Markdown file (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    out = args.out or (DEFAULT_OUT.with_name("navier_stokes_validation_quick.md") if args.quick else DEFAULT_OUT)
    text = build_report(args.quick)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    print(text)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
