"""Lid-driven cavity against Ghia, Ghia & Shin (1982): the Navier–Stokes solver's steady centre-line profiles.

    python -m surrolab.benchmarks.cavity_ghia --re 100 400 --n 64

For each Reynolds number: march from rest to steady state (relative velocity change per unit time below
--tol), then print the largest deviation from Ghia's Tables I and II as a fraction of the lid speed — u
along x = 0.5, v along y = 0.5, and v without the station that the printed table gets wrong at Re = 400
(`reference_flows.GHIA_SUSPECT`) — with the number of steps and the wall time of the solve.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import numpy as np

from surrolab.errors import SurrolabError
from surrolab.solvers.fem.navier_stokes import NavierStokesSolver, unit_square_mesh
from surrolab.solvers.fem.reference_flows import CavityDeviation, LidDrivenCavity


@dataclass(frozen=True)
class CavityRun:
    reynolds: float
    resolution: int
    n_dofs: int
    n_steps: int
    converged: bool
    seconds: float  # mesh, spaces, forms and the march to steady state
    deviation: CavityDeviation
    worst_u_station: float  # y of the largest u deviation
    worst_v_station: float  # x of the largest v deviation


def run_cavity(reynolds: float, resolution: int, *, dt: float = 0.5, tol: float = 1e-6, max_steps: int = 2000,
               grading: float = 0.0, diagonal: str = "right", linear_solver: str = "lu") -> CavityRun:
    cavity = LidDrivenCavity(reynolds=reynolds)
    cavity.ghia_table()  # fail early on an untabulated Re
    start = time.perf_counter()
    solver = NavierStokesSolver(unit_square_mesh(resolution, grading=grading, diagonal=diagonal),
                                cavity.boundary_conditions(), viscosity=cavity.viscosity, density=cavity.density,
                                dt=dt, linear_solver=linear_solver)
    result = solver.run_to_steady_state(solver.initial_state(), tol=tol, max_steps=max_steps)
    seconds = time.perf_counter() - start

    on_vertical, on_horizontal = cavity.centreline_points()
    u = solver.evaluate_velocity(result.state, on_vertical)[:, 0]
    v = solver.evaluate_velocity(result.state, on_horizontal)[:, 1]
    deviation = cavity.deviation(u, v)
    _, u_ref, _, v_ref = cavity.ghia_table()
    worst_u = on_vertical[np.argmax(np.abs(u - u_ref[1:-1])), 1]
    worst_v = on_horizontal[np.argmax(np.abs(v - v_ref[1:-1])), 0]
    return CavityRun(reynolds, resolution, solver.mixed_space.dofmap.index_map.size_global, result.n_steps,
                     result.converged, seconds, deviation, float(worst_u), float(worst_v))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m surrolab.benchmarks.cavity_ghia",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--re", type=float, nargs="+", default=[100.0, 400.0], help="Reynolds numbers (100, 400)")
    parser.add_argument("--n", type=int, default=64, help="cells per side of the structured mesh")
    parser.add_argument("--dt", type=float, default=0.5, help="time step of the march to steady state")
    parser.add_argument("--tol", type=float, default=1e-6, help="steady when |du|/(dt |u|) is below this")
    parser.add_argument("--max-steps", type=int, default=2000)
    parser.add_argument("--grading", type=float, default=0.0, help="wall clustering g in [0, 1)")
    parser.add_argument("--diagonal", default="right", help="dolfinx diagonal: right, left, crossed, ...")
    parser.add_argument("--linear-solver", default="lu", choices=["lu", "fieldsplit"])
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(f"lid-driven cavity vs Ghia et al. (1982): {args.n}x{args.n} cells ({args.diagonal}), P2-P1, "
          f"BDF2 dt={args.dt:g}, tol={args.tol:g}, grading={args.grading:g}, {args.linear_solver}")
    print(f"{'Re':>6} {'dofs':>8} {'steps':>6} {'wall s':>8} {'max|du|/U':>10} {'at y':>7} "
          f"{'max|dv|/U':>10} {'at x':>7} {'v w/o suspect':>14}")
    try:
        for re in args.re:
            run = run_cavity(re, args.n, dt=args.dt, tol=args.tol, max_steps=args.max_steps, grading=args.grading,
                             diagonal=args.diagonal, linear_solver=args.linear_solver)
            flag = "" if run.converged else "  (not converged)"
            d = run.deviation
            print(f"{re:6g} {run.n_dofs:8d} {run.n_steps:6d} {run.seconds:8.1f} {d.u:10.4f} {run.worst_u_station:7.4f} "
                  f"{d.v:10.4f} {run.worst_v_station:7.4f} {d.v_without_suspect:14.4f}{flag}", flush=True)
    except SurrolabError as err:
        print(f"cavity_ghia: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
