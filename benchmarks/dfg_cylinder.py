"""The DFG flow around a cylinder (Schäfer & Turek, 1996) with the Navier–Stokes solver: 2D-1 and 2D-2.

    python -m surrolab.benchmarks.dfg_cylinder --case 2D-1 --h 0.02
    python -m surrolab.benchmarks.dfg_cylinder --case 2D-2 --h 0.02 --dt 0.005 --t-end 10

2D-1 (Re = 20): march from rest to the steady state (relative velocity change per unit time below --tol,
Δt = --dt, default 0.1), then print c_D, c_L and Δp.
2D-2 (Re = 100): march from rest with the full inflow to --t-end, recording c_D, c_L and Δp every step;
over the last --periods periods of the lift signal (the flow must be periodic by then: check that the
printed period spread is small) print c_D,max, c_L,max, St = D f / Ū with f from the lift's upward
zero crossings, and Δp half a period after the last lift maximum (the paper's definition).
Forces by the volume (reaction) form, `flow_quantities.BoundaryForces`; the surface integral is printed
beside for 2D-1. Each quantity is shown with the published interval (`reference_flows.DFG_REFERENCE`),
the high-precision value, the number of dofs, the steps and the wall time of mesh + solve.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from surrolab.errors import SurrolabError
from surrolab.meshes.geometries import cylinder_channel
from surrolab.solvers.fem.flow_quantities import BoundaryForces, pressure_difference
from surrolab.solvers.fem.navier_stokes import NavierStokesSolver
from surrolab.solvers.fem.reference_flows import DFGCylinder


@dataclass(frozen=True)
class DFGRun:
    case: str
    h: float
    h_cylinder: float
    dt: float
    n_dofs: int
    n_steps: int
    converged: bool  # 2D-1: steady state reached; 2D-2: at least `periods` periods of lift found
    seconds: float
    quantities: dict[str, float]  # the names of DFG_REFERENCE[case].bounds
    extra: dict[str, float] = field(default_factory=dict)  # cross-checks (surface drag, period spread, ...)


def _setup(case: DFGCylinder, h: float, h_cylinder: float, dt: float, stabilization: str = "auto"):
    domain = cylinder_channel(h=h, h_cylinder=h_cylinder)
    solver = NavierStokesSolver(domain.mesh, case.boundary_conditions(domain), viscosity=case.viscosity,
                                density=case.density, dt=dt, stabilization=stabilization)
    return solver, BoundaryForces(solver, domain.facets("cylinder"))


def run_steady(h: float, h_cylinder: float, *, dt: float = 0.1, tol: float = 1e-6, max_steps: int = 500,
               stabilization: str = "auto") -> DFGRun:
    """2D-1: the steady state of the time march (a fixed point of the scheme for any Δt)."""
    case = DFGCylinder("2D-1")
    start = time.perf_counter()
    solver, forces = _setup(case, h, h_cylinder, dt, stabilization)
    result = solver.run_to_steady_state(solver.initial_state(), tol=tol, max_steps=max_steps)
    c_d, c_l = case.coefficients(forces.volume_forces(result.state))
    c_d_surface, c_l_surface = case.coefficients(forces.surface_forces(result.state))
    delta_p = pressure_difference(solver, result.state, *case.pressure_points)
    seconds = time.perf_counter() - start
    return DFGRun("2D-1", h, h_cylinder, dt, solver.mixed_space.dofmap.index_map.size_global, result.n_steps,
                  result.converged, seconds, {"c_D": c_d, "c_L": c_l, "delta_p": delta_p},
                  {"c_D_surface": c_d_surface, "c_L_surface": c_l_surface, "change_rate": result.change_rate,
                   "stabilized": float(result.state.stabilized), "cell_reynolds": solver.cell_reynolds(result.state)})


def upward_crossings(t: np.ndarray, signal: np.ndarray) -> np.ndarray:
    """Times where the signal crosses its mean upwards, by linear interpolation between samples."""
    s = signal - signal.mean()
    i = np.flatnonzero((s[:-1] < 0) & (s[1:] >= 0))
    return t[i] - s[i] * (t[i + 1] - t[i]) / (s[i + 1] - s[i])


def periodic_quantities(t: np.ndarray, c_d: np.ndarray, c_l: np.ndarray, delta_p: np.ndarray, diameter: float,
                        mean_velocity: float, periods: int = 3) -> tuple[dict[str, float], dict[str, float], bool]:
    """c_D,max, c_L,max, St and Δp(t₀ + 1/(2f)) over the last `periods` lift periods (t₀: the last lift
    maximum that leaves half a period of signal after it). Also the relative spread of those periods."""
    crossings = upward_crossings(t, c_l)
    if len(crossings) < periods + 1:
        return {}, {"lift_periods_found": float(max(len(crossings) - 1, 0))}, False
    window = crossings[-(periods + 1):]
    lengths = np.diff(window)
    frequency = 1.0 / lengths.mean()
    inside = (t >= window[0]) & (t <= window[-1])
    half = 0.5 / frequency
    candidates = np.flatnonzero(inside & (t <= t[-1] - half))
    i0 = candidates[np.argmax(c_l[candidates])]
    quantities = {"c_D_max": float(c_d[inside].max()), "c_L_max": float(c_l[inside].max()),
                  "strouhal": diameter * frequency / mean_velocity,
                  "delta_p": float(np.interp(t[i0] + half, t, delta_p))}
    extra = {"frequency": frequency, "period_spread": float(np.ptp(lengths) / lengths.mean()),
             "t_first_window": float(window[0])}
    return quantities, extra, True


def run_periodic(h: float, h_cylinder: float, *, dt: float = 0.005, t_end: float = 10.0, periods: int = 3,
                 stabilization: str = "auto") -> DFGRun:
    """2D-2: impulsive start with the full inflow, then the lift signal's last `periods` periods."""
    case = DFGCylinder("2D-2")
    start = time.perf_counter()
    solver, forces = _setup(case, h, h_cylinder, dt, stabilization)
    n_steps = int(round(t_end / dt))
    state = solver.initial_state()
    t, c_d, c_l, delta_p = (np.empty(n_steps) for _ in range(4))
    for n in range(n_steps):
        state = solver.step(state)
        t[n] = state.t
        c_d[n], c_l[n] = case.coefficients(forces.volume_forces(state))
        delta_p[n] = pressure_difference(solver, state, *case.pressure_points)
    keep = t >= 0.5 * t_end  # leave out the start-up transient
    quantities, extra, found = periodic_quantities(t[keep], c_d[keep], c_l[keep], delta_p[keep], case.diameter,
                                                   case.mean_velocity, periods)
    extra.update(stabilized=float(state.stabilized), cell_reynolds=solver.cell_reynolds(state))
    seconds = time.perf_counter() - start
    return DFGRun("2D-2", h, h_cylinder, dt, solver.mixed_space.dofmap.index_map.size_global, n_steps, found,
                  seconds, quantities, extra)


def report(run: DFGRun) -> str:
    reference = DFGCylinder(run.case).reference
    lines = [f"DFG {run.case}: h={run.h:g}, h_cylinder={run.h_cylinder:g}, P2-P1, BDF2 dt={run.dt:g}: "
             f"{run.n_dofs} dofs, {run.n_steps} steps, {run.seconds:.1f} s"
             + ("" if run.converged else "  (NOT converged / not periodic)"),
             f"  {'quantity':>10} {'computed':>12} {'bounds (S&T 1996)':>20} {'in':>4} {'reference':>10} {'rel err':>9}"]
    for name, interval in reference.bounds.items():
        value = run.quantities.get(name, float("nan"))
        exact = reference.values[name]
        lines.append(f"  {name:>10} {value:12.6f} {f'[{interval.lower:g}, {interval.upper:g}]':>20} "
                     f"{'yes' if value in interval else 'NO':>4} {exact:10.6g} {(value - exact) / exact:9.2e}")
    lines += [f"  {name}: {value:.6g}" for name, value in run.extra.items()]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m surrolab.benchmarks.dfg_cylinder",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--case", choices=["2D-1", "2D-2"], default="2D-1")
    parser.add_argument("--h", type=float, default=0.02, help="largest edge length of the mesh")
    parser.add_argument("--h-cylinder", type=float, default=None, help="edge length on the cylinder (default h/5)")
    parser.add_argument("--dt", type=float, default=None, help="time step (2D-1: 0.1, 2D-2: 0.005)")
    parser.add_argument("--tol", type=float, default=1e-6, help="2D-1: steady when |du|/(dt |u|) < tol")
    parser.add_argument("--max-steps", type=int, default=500, help="2D-1: most steps of the march")
    parser.add_argument("--t-end", type=float, default=10.0, help="2D-2: flow time simulated")
    parser.add_argument("--periods", type=int, default=3, help="2D-2: lift periods analysed at the end")
    parser.add_argument("--stabilization", default="auto", choices=["auto", "supg", "none"],
                        help="the solver's SUPG/grad-div switch")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    h_cylinder = args.h / 5 if args.h_cylinder is None else args.h_cylinder
    try:
        if args.case == "2D-1":
            run = run_steady(args.h, h_cylinder, dt=0.1 if args.dt is None else args.dt, tol=args.tol,
                             max_steps=args.max_steps, stabilization=args.stabilization)
        else:
            run = run_periodic(args.h, h_cylinder, dt=0.005 if args.dt is None else args.dt, t_end=args.t_end,
                               periods=args.periods, stabilization=args.stabilization)
    except SurrolabError as err:
        print(f"dfg_cylinder: error: {err}", file=sys.stderr)
        return 2
    print(report(run), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
