"""Lid-driven cavity against published steady profiles: the Navier–Stokes solver's centre-line velocities.

    python -m surrolab.benchmarks.cavity_ghia --re 100 400 --n 64
    python -m surrolab.benchmarks.cavity_ghia --re 3200 5000 --n 64 128 256 --steady
    python -m surrolab.benchmarks.cavity_ghia --re 5000 --n 128 --steady --reference erturk --stabilization none

For each Reynolds number and mesh: the steady flow, by the march from rest (relative velocity change per
unit time below --tol) or, with --steady, by Newton's method with continuation in the viscosity
(`navier_stokes_steady.py`; each mesh after the first of --n starts from the previous mesh's solution,
interpolated); then the largest deviation from the reference's tables (Ghia, Ghia & Shin 1982,
or Erturk, Corke & Gökçöl 2005) as a fraction of the lid speed — u along x = 0.5, v along y = 0.5, and both
without the stations that Ghia's printed table gets wrong (`reference_flows.GHIA_SUSPECT`) — with the number
of steps (time steps, or Newton iterations), whether the stabilisation was on, the largest cell Reynolds
number and the wall time of the solve.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from surrolab.errors import SurrolabError
from surrolab.solvers.fem.navier_stokes import NavierStokesSolver, unit_square_mesh
from surrolab.solvers.fem.navier_stokes_steady import solve_steady
from surrolab.solvers.fem.reference_flows import CavityDeviation, LidDrivenCavity


@dataclass(frozen=True)
class Comparison:
    """One solution against one reference's tables."""

    reference: str
    deviation: CavityDeviation
    worst_u_station: float  # y of the largest u deviation
    worst_v_station: float  # x of the largest v deviation


@dataclass(frozen=True)
class CavityRun:
    reynolds: float
    resolution: int
    n_dofs: int
    n_steps: int  # time steps, or Newton iterations over the continuation
    converged: bool
    seconds: float  # mesh, spaces, forms and the solve
    comparisons: tuple[Comparison, ...]  # one per requested reference that tabulates this Re
    stabilized: bool
    cell_reynolds: float  # max_K |u|_K h_K / ν of the steady flow
    solution: tuple = field(repr=False, compare=False, default=None)  # (solver, state), a guess for a finer mesh

    @property
    def deviation(self) -> CavityDeviation:
        return self.comparisons[0].deviation


def compare(solver: NavierStokesSolver, state, cavity: LidDrivenCavity) -> Comparison:
    """The solution's centre-line velocities against `cavity.reference`'s tables."""
    on_vertical, on_horizontal = cavity.centreline_points()
    u = solver.evaluate_velocity(state, on_vertical)[:, 0]
    v = solver.evaluate_velocity(state, on_horizontal)[:, 1]
    y, u_ref, x, v_ref = cavity.table()
    worst_u = on_vertical[np.argmax(np.abs(u - u_ref[(y > 0) & (y < 1)])), 1]
    worst_v = on_horizontal[np.argmax(np.abs(v - v_ref[(x > 0) & (x < 1)])), 0]
    return Comparison(cavity.reference, cavity.deviation(u, v), float(worst_u), float(worst_v))


def run_cavity(reynolds: float, resolution: int, *, dt: float = 0.5, tol: float = 1e-6, max_steps: int = 2000,
               grading: float = 0.0, diagonal: str = "right", linear_solver: str = "lu", steady: bool = False,
               references: tuple[str, ...] = ("ghia",), stabilization: str = "auto",
               guess: tuple | None = None) -> CavityRun:
    """The steady cavity at `reynolds` on a resolution² mesh, compared with each of `references` that
    tabulates this Re (at least one must). `guess`: (solver, state) of an earlier run (another mesh), from
    which the steady solver starts instead of rest; `CavityRun.solution` is that pair for the next run."""
    cavities = []
    for reference in references:
        cavity = LidDrivenCavity(reynolds=reynolds, reference=reference)
        try:
            cavity.table()
            cavities.append(cavity)
        except SurrolabError:
            if len(references) == 1:
                raise
    if not cavities:
        raise SurrolabError(f"none of the references {list(references)} tabulates Re={reynolds:g}")
    cavity = cavities[0]
    start = time.perf_counter()
    solver = NavierStokesSolver(unit_square_mesh(resolution, grading=grading, diagonal=diagonal),
                                cavity.boundary_conditions(), viscosity=cavity.viscosity, density=cavity.density,
                                dt=dt, linear_solver=linear_solver, stabilization=stabilization)
    if steady:
        solution = solve_steady(solver, None if guess is None else solver.transfer(guess[1], guess[0]))
        state, n_steps, converged = solution.state, solution.newton_iterations, True
    else:
        result = solver.run_to_steady_state(solver.initial_state(), tol=tol, max_steps=max_steps)
        state, n_steps, converged = result.state, result.n_steps, result.converged
    seconds = time.perf_counter() - start
    return CavityRun(reynolds, resolution, solver.mixed_space.dofmap.index_map.size_global, n_steps,
                     converged, seconds, tuple(compare(solver, state, c) for c in cavities), state.stabilized,
                     solver.cell_reynolds(state), (solver, state))


def refine(reynolds: float, resolutions, **options):
    """`run_cavity` on each of the n² meshes in turn, each steady solve starting from the solution of the last
    mesh that had one: yields (n, CavityRun), or (n, the SurrolabError) for a mesh without a steady solution."""
    guess = None
    for n in resolutions:
        try:
            run = run_cavity(reynolds, n, guess=guess, **options)
        except SurrolabError as error:
            yield n, error
            continue
        guess = run.solution
        yield n, run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m surrolab.benchmarks.cavity_ghia",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--re", type=float, nargs="+", default=[100.0, 400.0], help="Reynolds numbers (tabulated)")
    parser.add_argument("--n", type=int, nargs="+", default=[64], help="cells per side of the structured mesh")
    parser.add_argument("--steady", action="store_true", help="Newton on the steady equations instead of the march")
    parser.add_argument("--reference", nargs="+", default=["ghia"], choices=["ghia", "erturk"],
                        help="compare with each that tabulates the Re")
    parser.add_argument("--stabilization", default="auto", choices=["auto", "supg", "none"])
    parser.add_argument("--dt", type=float, default=0.5, help="time step of the march to steady state")
    parser.add_argument("--tol", type=float, default=1e-6, help="steady when |du|/(dt |u|) is below this")
    parser.add_argument("--max-steps", type=int, default=2000)
    parser.add_argument("--grading", type=float, default=0.0, help="wall clustering g in [0, 1)")
    parser.add_argument("--diagonal", default="right", help="dolfinx diagonal: right, left, crossed, ...")
    parser.add_argument("--linear-solver", default="lu", choices=["lu", "fieldsplit"])
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    method = "Newton with continuation" if args.steady else f"BDF2 march dt={args.dt:g}, tol={args.tol:g}"
    print(f"lid-driven cavity vs {', '.join(args.reference)}: P2-P1 ({args.diagonal} diagonals), {method}, "
          f"grading={args.grading:g}, stabilization={args.stabilization}, {args.linear_solver}")
    print(f"{'Re':>6} {'n':>4} {'dofs':>8} {'steps':>6} {'stab':>5} {'cell Re':>8} {'wall s':>8} {'reference':>9} "
          f"{'max|du|/U':>10} {'at y':>7} {'max|dv|/U':>10} {'at x':>7} {'w/o suspect':>12}")
    try:
        for re in args.re:
            for n, run in refine(re, args.n, dt=args.dt, tol=args.tol, max_steps=args.max_steps,
                                 grading=args.grading, diagonal=args.diagonal, linear_solver=args.linear_solver,
                                 steady=args.steady, references=tuple(args.reference),
                                 stabilization=args.stabilization):
                if isinstance(run, SurrolabError):
                    raise run
                flag = "" if run.converged else "  (not converged)"
                for c in run.comparisons:
                    d = c.deviation
                    print(f"{re:6g} {n:4d} {run.n_dofs:8d} {run.n_steps:6d} {'on' if run.stabilized else 'off':>5} "
                          f"{run.cell_reynolds:8.1f} {run.seconds:8.1f} {c.reference:>9} {d.u:10.4f} "
                          f"{c.worst_u_station:7.4f} {d.v:10.4f} {c.worst_v_station:7.4f} "
                          f"{d.largest_without_suspect:12.4f}{flag}", flush=True)
    except SurrolabError as err:
        print(f"cavity_ghia: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
