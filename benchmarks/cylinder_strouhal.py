"""The vortex street of the `cylinder` family: Strouhal number and lift amplitude against Re.

    python -m surrolab.benchmarks.cylinder_strouhal                          # default config, Re 40 55 100 150 200
    python -m surrolab.benchmarks.cylinder_strouhal --reynolds 100 --preset large

Runs the family's own solver, as a dataset sample does (`CylinderProblem.domain` and `make_solver`: the same
mesh, boundary data, ramp and Δt), with the family's default parameters (the DFG 2D-2 geometry: D = 0.1 at
(0.2, 0.2), Ū = 1, ρ = 1) and the viscosity μ = ρ Ū D / Re of each requested Re. Every step it records the
lift coefficient c_L = 2 F_y / (ρ Ū² D) (`BoundaryForces`, volume form). Over the second half of the run:

* St = D f / Ū, f from the mean spacing of the last `--periods` upward crossings of c_L (as in
  `dfg_cylinder.py`), with the spread of those periods;
* the c_L amplitude (half its range) over the last quarter of the run, and its ratio to the amplitude over
  the quarter before (`growth`: < 1 decaying, ~1 saturated, > 1 still growing).

A run whose last-quarter amplitude is below 1e-3 or decaying is reported as steady, one with fewer than
`--periods` lift periods in its second half as developing (no St for either). At Re = 100 the case is DFG
2D-2 and St is compared with its published interval (`reference_flows.DFG_REFERENCE`).
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import numpy as np

from surrolab.benchmarks.dfg_cylinder import upward_crossings
from surrolab.errors import SurrolabError
from surrolab.solvers.fem.cylinder import CylinderProblem
from surrolab.solvers.fem.flow_quantities import BoundaryForces
from surrolab.solvers.fem.reference_flows import DFG_REFERENCE


@dataclass(frozen=True)
class SheddingRun:
    reynolds: float
    state: str  # "steady" (no sustained oscillation), "developing" (too few periods yet) or "periodic"
    strouhal: float | None  # None unless periodic
    lift_amplitude: float  # half the range of c_L over the last quarter of the run
    growth: float  # that amplitude over the one of the quarter before
    period_spread: float  # (longest − shortest) / mean of the periods St is taken from; nan when steady
    n_dofs: int
    n_steps: int
    seconds: float


def lift_history(problem: CylinderProblem, config, params: dict[str, float]) -> tuple[np.ndarray, np.ndarray, int]:
    """(t, c_L) at every step of the family's solver from rest to t_end, and the number of unknowns."""
    params = problem.check_parameters(params)
    domain = problem.domain(config, params)
    solver = problem.make_solver(domain, config, params)
    forces = BoundaryForces(solver, domain.facets("cylinder"))
    scale = 2.0 / (params["density"] * params["inlet_speed"] ** 2 * 2.0 * params["radius"])
    state = solver.initial_state()
    t, lift = np.empty(config.n_steps), np.empty(config.n_steps)
    for n in range(config.n_steps):
        state = solver.step(state)
        t[n], lift[n] = state.t, scale * forces.volume_forces(state)[1]
    return t, lift, solver.mixed_space.dofmap.index_map.size_global


def shedding(t: np.ndarray, lift: np.ndarray, diameter: float, mean_speed: float,
             periods: int = 3) -> tuple[str, float | None, float, float, float]:
    """(state, St or None, last-quarter c_L amplitude, growth, period spread) of a lift history (module
    docstring)."""
    quarter = t[-1] / 4
    last, before = t > 3 * quarter, (t > 2 * quarter) & (t <= 3 * quarter)
    amplitude = 0.5 * float(np.ptp(lift[last]))
    growth = amplitude / max(0.5 * float(np.ptp(lift[before])), 1e-300)
    crossings = upward_crossings(t[t > 2 * quarter], lift[t > 2 * quarter])
    if amplitude < 1e-3 or growth < 0.95:
        return "steady", None, amplitude, growth, float("nan")
    if len(crossings) < periods + 1:
        return "developing", None, amplitude, growth, float("nan")
    lengths = np.diff(crossings[-(periods + 1):])
    strouhal = diameter / (lengths.mean() * mean_speed)
    return "periodic", strouhal, amplitude, growth, float(np.ptp(lengths) / lengths.mean())


def run(reynolds: float, preset: str | None = None, periods: int = 3) -> SheddingRun:
    problem = CylinderProblem()
    config = problem.make_config(preset)
    params = {p.name: p.default for p in problem.parameters}
    diameter = 2.0 * params["radius"]
    params["viscosity"] = params["density"] * params["inlet_speed"] * diameter / reynolds
    start = time.perf_counter()
    t, lift, n_dofs = lift_history(problem, config, params)
    seconds = time.perf_counter() - start
    state, strouhal, amplitude, growth, spread = shedding(t, lift, diameter, params["inlet_speed"], periods)
    return SheddingRun(reynolds, state, strouhal, amplitude, growth, spread, n_dofs, config.n_steps, seconds)


def report(runs: list[SheddingRun], preset: str | None) -> str:
    config = CylinderProblem.make_config(preset)
    interval = DFG_REFERENCE["2D-2"].bounds["strouhal"]
    lines = [f"cylinder family, preset {preset or 'default'}: h = {config.h:g}, Δt = {config.dt:g}, t_end = "
             f"{config.t_end:g} s; DFG geometry, Ū = 1, ρ = 1, D = 0.1, μ = Ū D / Re",
             f"  {'Re':>6} {'St':>10} {'c_L amp':>8} {'growth':>7} {'spread':>7} {'dofs':>6} {'steps':>6} {'s':>6}"]
    for r in runs:
        st = r.state if r.strouhal is None else f"{r.strouhal:.4f}"
        note = ""
        if abs(r.reynolds - 100.0) < 1e-9:
            inside = r.strouhal is not None and r.strouhal in interval
            note = f"  DFG 2D-2 St ∈ [{interval.lower:g}, {interval.upper:g}]: {'yes' if inside else 'NO'}"
        lines.append(f"  {r.reynolds:6.1f} {st:>10} {r.lift_amplitude:8.4f} {r.growth:7.3f} {r.period_spread:7.1e} "
                     f"{r.n_dofs:6d} {r.n_steps:6d} {r.seconds:6.1f}{note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m surrolab.benchmarks.cylinder_strouhal",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--reynolds", type=float, nargs="+", default=[40.0, 55.0, 100.0, 150.0, 200.0])
    parser.add_argument("--preset", choices=["demo", "default", "large"], default="default")
    parser.add_argument("--periods", type=int, default=3, help="lift periods St is taken from")
    args = parser.parse_args(argv)
    preset = None if args.preset == "default" else args.preset
    try:
        runs = []
        for reynolds in args.reynolds:
            runs.append(run(reynolds, preset, args.periods))
            print(report(runs[-1:], preset).splitlines()[-1], flush=True)
    except SurrolabError as err:
        print(f"cylinder_strouhal: error: {err}", file=sys.stderr)
        return 2
    print(report(runs, preset))
    return 0


if __name__ == "__main__":
    sys.exit(main())
