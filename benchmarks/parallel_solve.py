"""One flow solved on one mesh spread over MPI ranks (dolfinx's own domain decomposition): wall time and
speed-up against the serial solve, and the check that both give the same flow.

    python -m surrolab.benchmarks.parallel_solve                       # DFG 2D-1, then the cavity at 128²
    python -m surrolab.benchmarks.parallel_solve --case dfg --h 0.02 --ranks 2 --repeats 3

Cases, each marched from rest to its steady state (`NavierStokesSolver.run_to_steady_state`):

* `dfg`: the DFG 2D-1 channel (Schäfer & Turek 1996, Re = 20), gmsh mesh with edge length --h (cylinder
  --h/5), meshed on rank 0 and distributed; Δt = 0.1; drag, lift (volume form) and Δp at the end;
* `cavity`: the lid-driven cavity at Re = 100 on the structured --n × --n mesh; Δt = 1; u at the centre.

Each case runs as its own process, `python -m surrolab.benchmarks.parallel_solve --worker ...` (serial)
and the same under `mpiexec -n R`, alternately, `--repeats` times each (the machine may be shared). A
worker times, between barriers, the mesh (gmsh + distribution), the set-up (spaces, forms, matrix) and the
time loop, and prints them with the flow's quantities as JSON. Speed-up = serial / parallel medians.
The report replaces this script's section of `benchmarks/results/generation_throughput.md`.

BLAS threads: every run is made twice, with the environment's OPENBLAS_NUM_THREADS (unset: OpenBLAS, which
MUMPS calls for its dense fronts, starts one thread per core) and with 1. Measured here on DFG 2D-1, h = 0.02:
with 2 OpenBLAS threads per rank (4 threads on 2 cores) one small MPI_Allreduce per step, the steady-state
test's, doubled the parallel step from 0.10 to 0.19 s, so 2 ranks were no faster than 1; with one thread per
rank the step takes 0.12 s with or without it, against 0.21 s serially (where the thread count makes no
difference). Under `mpiexec`, set OPENBLAS_NUM_THREADS=1 (`mpiexec -n 2 -env OPENBLAS_NUM_THREADS 1 ...`).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from surrolab.benchmarks.generation_throughput import MPIEXEC, RESULTS, machine, write_section


# -- the worker (every rank runs it) ----------------------------------------------------------------
def solve_case(case: str, h: float, n: int, tol: float) -> dict:
    """Mesh, set up and march one case on MPI_COMM_WORLD; rank 0's answer holds the timings and quantities."""
    from mpi4py import MPI

    from surrolab.meshes.geometries import cylinder_channel
    from surrolab.solvers.fem.flow_quantities import BoundaryForces, pressure_difference
    from surrolab.solvers.fem.navier_stokes import NavierStokesSolver, unit_square_mesh
    from surrolab.solvers.fem.reference_flows import DFGCylinder, LidDrivenCavity

    comm = MPI.COMM_WORLD
    clock = []

    def lap() -> None:
        comm.Barrier()
        clock.append(time.perf_counter())

    lap()
    if case == "dfg":
        flow = DFGCylinder("2D-1")
        domain = cylinder_channel(h=h, h_cylinder=h / 5, comm=comm)
        mesh, conditions, dt = domain.mesh, flow.boundary_conditions(domain), 0.1
    else:
        flow = LidDrivenCavity(reynolds=100)
        mesh, conditions, dt = unit_square_mesh(n, comm=comm), flow.boundary_conditions(), 1.0
    lap()
    solver = NavierStokesSolver(mesh, conditions, viscosity=flow.viscosity, density=flow.density, dt=dt)
    forces = BoundaryForces(solver, domain.facets("cylinder")) if case == "dfg" else None
    lap()
    result = solver.run_to_steady_state(solver.initial_state(), tol=tol, max_steps=500)
    lap()
    if case == "dfg":
        c_d, c_l = flow.coefficients(forces.volume_forces(result.state))
        delta_p = pressure_difference(solver, result.state, *flow.pressure_points)
        quantities = {"c_D": c_d, "c_L": c_l, "delta_p": delta_p}
    else:
        u, v = solver.evaluate_velocity(result.state, [[0.5, 0.5]])[0]
        quantities = {"u_centre": float(u), "v_centre": float(v), **solver.diagnostics(result.state)}
    cells = mesh.topology.index_map(mesh.topology.dim)
    return {"case": case, "ranks": comm.size, "n_dofs": solver.mixed_space.dofmap.index_map.size_global,
            "owned_cells": comm.allgather(cells.size_local), "n_steps": result.n_steps,
            "converged": result.converged, "mesh_s": clock[1] - clock[0], "setup_s": clock[2] - clock[1],
            "steps_s": clock[3] - clock[2], "total_s": clock[3] - clock[0], "quantities": quantities}


# -- the driver -----------------------------------------------------------------------------------
INHERIT = "inherit"  # the BLAS thread setting of the environment the benchmark runs in


@dataclass(frozen=True)
class CaseReport:
    """The serial and parallel runs of one case, by BLAS thread setting."""

    case: str
    ranks: int
    serial: dict[str, list[dict]]
    parallel: dict[str, list[dict]]

    @staticmethod
    def median(runs: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    def speed_up(self, setting: str, key: str) -> float:
        return self.median(self.serial[setting], key) / self.median(self.parallel[setting], key)


def run_worker(case: str, h: float, n: int, tol: float, ranks: int, blas_threads: str) -> dict:
    environment = dict(os.environ)
    if blas_threads != INHERIT:
        environment.update(OPENBLAS_NUM_THREADS=blas_threads, OMP_NUM_THREADS=blas_threads)
    load = os.getloadavg()[0]
    launcher = [str(MPIEXEC), "-n", str(ranks)] if ranks > 1 else []
    command = [*launcher, sys.executable, "-m", "surrolab.benchmarks.parallel_solve", "--worker", "--case", case,
               "--h", str(h), "--n", str(n), "--tol", str(tol)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600, env=environment)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "load": load}


def case_label(case: str, h: float, n: int) -> str:
    return f"DFG 2D-1, h = {h:g} (cylinder {h / 5:g})" if case == "dfg" else f"cavity Re = 100, {n}×{n}"


def _setting_name(setting: str) -> str:
    inherited = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    return f"as inherited ({inherited})" if setting == INHERIT else setting


def case_markdown(report: CaseReport, label: str) -> str:
    settings = list(report.serial)
    s, p = report.serial[settings[0]][0], report.parallel[settings[0]][0]
    lines = [f"### {label}: {s['n_dofs']:,} unknowns, {s['n_steps']} steps to the steady state "
             f"(MPI: {p['n_steps']}; owned cells per rank {p['owned_cells']})", "",
             f"| OPENBLAS_NUM_THREADS | phase | serial s | {report.ranks} ranks s | speed-up |",
             "|---|---|---:|---:|---:|"]
    for setting in settings:
        serial, parallel = report.serial[setting], report.parallel[setting]
        for key, name in (("mesh_s", "mesh (+ distribution)"), ("setup_s", "set-up: spaces, forms, matrix"),
                          ("steps_s", "time steps (assembly + MUMPS LU)"), ("total_s", "**total**")):
            lines.append(f"| {_setting_name(setting)} | {name} | {report.median(serial, key):.2f} | "
                         f"{report.median(parallel, key):.2f} | {report.speed_up(setting, key):.2f}× |")
    lines.append("")
    for setting in settings:
        runs = {name: ", ".join(f"{r['total_s']:.1f} s (load {r['load']:.1f})" for r in group[setting])
                for name, group in (("serial", report.serial), ("parallel", report.parallel))}
        lines.append(f"Runs with OPENBLAS_NUM_THREADS {_setting_name(setting)}: serial {runs['serial']}; "
                     f"{report.ranks} ranks {runs['parallel']}.  ")
    everything = [r for group in (report.serial, report.parallel) for runs in group.values() for r in runs]
    lines += ["", "| quantity | serial | parallel | largest relative difference over all runs |",
              "|---|---:|---:|---:|"]
    for name, value in s["quantities"].items():
        difference = max(abs(r["quantities"][name] - value) for r in everything) / max(abs(value), 1e-300)
        lines.append(f"| {name} | {value:.12g} | {p['quantities'][name]:.12g} | {difference:.1e} |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m surrolab.benchmarks.parallel_solve",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--case", choices=["dfg", "cavity"], action="append", help="repeatable; default: both")
    parser.add_argument("--h", type=float, default=0.02, help="dfg: largest edge length of the mesh")
    parser.add_argument("--n", type=int, default=128, help="cavity: cells per side")
    parser.add_argument("--tol", type=float, default=1e-6, help="steady when |du|/(dt |u|) < tol")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="serial/parallel pairs per case and setting")
    parser.add_argument("--blas-threads", action="append", metavar="N",
                        help=f"OPENBLAS_NUM_THREADS for the runs, or {INHERIT!r} (repeatable; default: "
                             f"{INHERIT} and 1)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the Markdown file to update")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.worker:
        from mpi4py import MPI

        result = solve_case(args.case[0], args.h, args.n, args.tol)
        if MPI.COMM_WORLD.rank == 0:
            print(json.dumps(result), flush=True)
        return 0
    command = "python -m surrolab.benchmarks.parallel_solve" + "".join(
        f" {a}" for a in (sys.argv[1:] if argv is None else argv))
    sections = []
    settings = args.blas_threads or [INHERIT, "1"]
    for case in args.case or ["dfg", "cavity"]:
        serial: dict[str, list[dict]] = {setting: [] for setting in settings}
        parallel: dict[str, list[dict]] = {setting: [] for setting in settings}
        for _ in range(args.repeats):  # alternate, so a burst of load elsewhere hits every kind alike
            for setting in settings:
                serial[setting].append(run_worker(case, args.h, args.n, args.tol, 1, setting))
                parallel[setting].append(run_worker(case, args.h, args.n, args.tol, args.ranks, setting))
        text = case_markdown(CaseReport(case, args.ranks, serial, parallel), case_label(case, args.h, args.n))
        print(text + "\n", flush=True)
        sections.append(text)
    report = "\n\n".join(["## One mesh over MPI ranks (`benchmarks/parallel_solve.py`)", f"Machine: {machine()}.",
                          f"Command: `{command}`",
                          "Each rank assembles its own cells; MUMPS factors the distributed matrix. Speed-up = "
                          "serial median / parallel median, per phase. Every run is made with the environment's "
                          "OpenBLAS threads (MUMPS's dense kernels; unset: one per core) and with one thread per "
                          "process. The machine is shared: each run's 1-minute load average is shown; above 1 the "
                          "second rank competes for a core.", *sections])
    write_section(args.out, "parallel_solve", report)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
