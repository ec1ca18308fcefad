"""The MLS-MPM solver (warp) against Taichi's MLS-MPM on the CPU: the same jelly problem, side by side.

    python -m surrolab.benchmarks.mpm_speed --out benchmarks/results/mpm_speed.md

Both codes run one problem per case: a jelly block (fixed-corotated, E = 10⁵ Pa, ν = 0.2, ρ = 10³ kg/m^d)
on a lattice of spacing Δx/2 (2^d particles per cell), thrown down at the floor of the unit box with
slip walls (nodes within 3 of a face: the velocity component into the wall is removed), gravity along −y,
the same grid ((n_grid + 1)^d nodes), Δt and number of steps, float32. The Taichi code is written here in
the style of Taichi's mpm88/mpm3d examples (quadratic B-splines, APIC, stress computed inside P2G) with
the transfer formulas of `solvers/mpm/kernels.py`, so the two must give the same particles; the report
gives the largest particle distance between them after the run and the centre-of-mass difference.

Each code and each thread count runs in a fresh process (Taichi can be initialised once per process):
build, first step (kernel compilation: warp into an empty kernel cache, and again loading from its cache;
Taichi with its offline cache off), warm-up steps, then timed steps between synchronisations. The figure is
particle-steps per second (particles × steps / seconds). Warp's CPU backend runs a kernel on one thread;
`--warp-threads 2` launches the particle kernels in chunks from a thread pool (`solvers/mpm/parallel.py`).
Taichi runs with `cpu_max_num_threads=1` and with all cores. Memory: bytes per particle of the warp
solver's particle arrays (the two states of a rollout and the step's scratch), and the peak resident
memory and time per step of a 3D run with 10⁶ particles.
"""
import argparse
import concurrent.futures
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from surrolab.provenance import hardware

YOUNGS_MODULUS, POISSON_RATIO, DENSITY, GRAVITY = 1.0e5, 0.2, 1.0e3, 9.81
WALL_CELLS = 3  # as in solvers/mpm/kernels.py


@dataclass(frozen=True)
class Case:
    """One problem: a cube (square) block [lower, upper]^d on a lattice of spacing Δx/2, initial velocity
    (velocity_x, −velocity_down, 0), `n_warmup` steps of Δt, then `repeats` timed blocks of `n_steps`."""

    dim: int
    n_grid: int
    lower: float
    upper: float
    dt: float = 1.0e-4
    n_warmup: int = 5
    n_steps: int = 50
    repeats: int = 3  # timed blocks of n_steps; the fastest counts (the machine may be shared)
    velocity_x: float = 0.5
    velocity_down: float = 2.0

    @property
    def dx(self) -> float:
        return 1.0 / self.n_grid

    def block(self) -> tuple[np.ndarray, np.ndarray]:
        """(positions, velocities), float32 arrays of shape (N, dim): two particles per cell and axis."""
        h = self.dx / 2
        axis = np.arange(self.lower + h / 2, self.upper, h)
        positions = np.stack(np.meshgrid(*[axis] * self.dim, indexing="ij"), -1).reshape(-1, self.dim)
        velocities = np.zeros_like(positions)
        velocities[:, 0], velocities[:, 1] = self.velocity_x, -self.velocity_down
        return positions.astype(np.float32), velocities.astype(np.float32)

    @property
    def n_particles(self) -> int:
        return len(self.block()[0])


CASES = {"2d": Case(dim=2, n_grid=128, lower=0.05, upper=0.85, n_steps=200),
         # the same 2D problem 4× finer: kernels long enough for threads to pay off
         "2d-fine": Case(dim=2, n_grid=256, lower=0.05, upper=0.85, n_steps=50),
         "3d": Case(dim=3, n_grid=64, lower=0.05, upper=0.5, n_steps=40),
         # the memory check: 100³ = 10⁶ particles on a 128³ grid
         "3d-1M": Case(dim=3, n_grid=128, lower=0.05, upper=0.05 + 100 / 256, n_warmup=1, n_steps=4)}


def _timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _timed_block(call) -> tuple[float, float]:
    """(wall-clock, process CPU) seconds of `call()`; CPU time counts every thread of the process."""
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def _result(case: Case, build_s: float, first_s: float, blocks: list[tuple[float, float]], positions: np.ndarray,
            **extra) -> dict:
    wall, cpu = min(blocks)  # the fastest timed block
    step_s = wall / case.n_steps
    return {"n_particles": len(positions), "build_s": build_s, "first_step_s": first_s, "step_s": step_s,
            "cpu_step_s": cpu / case.n_steps,
            "particle_steps_per_s": len(positions) / step_s,
            "positions": positions, "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            **extra}


# -- warp: the solver under test ------------------------------------------------------------------------
def run_warp(case: Case, threads: int = 1, kernel_cache: str | None = None) -> dict:
    """Run `case` with the warp solver; `kernel_cache` = a directory for warp's kernel cache (an empty one
    measures compilation). Call in a fresh process for the first-step time to mean anything."""
    import warp as wp

    if kernel_cache is not None:
        wp.config.kernel_cache_dir = kernel_cache
    wp.init()
    from surrolab.solvers.mpm.materials import FixedCorotated
    from surrolab.solvers.mpm.parallel import ChunkedLauncher
    from surrolab.solvers.mpm.solver import MPMConfig, MPMSolver

    positions, velocities = case.block()
    start = time.perf_counter()
    config = MPMConfig(dim=case.dim, n_grid=case.n_grid, gravity=GRAVITY, walls="slip")
    law = FixedCorotated(density=DENSITY, youngs_modulus=YOUNGS_MODULUS, poisson_ratio=POISSON_RATIO)
    launcher = {"launcher": ChunkedLauncher(threads)} if threads > 1 else {}
    solver = MPMSolver(config, [law], np.zeros(len(positions)), (case.dx / 2) ** case.dim, **launcher)
    solver.check_dt(case.dt, velocities)
    state = solver.initial_state(positions, velocities)
    wp.synchronize()
    build_s = time.perf_counter() - start

    start = time.perf_counter()
    state = solver.rollout(state, case.dt, 1)  # compiles (or loads) the kernels
    wp.synchronize()
    first_s = time.perf_counter() - start
    state = solver.rollout(state, case.dt, case.n_warmup - 1, t0=case.dt)
    wp.synchronize()
    blocks = []
    for r in range(case.repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        state = solver.rollout(state, case.dt, case.n_steps, t0=(case.n_warmup + r * case.n_steps) * case.dt)
        wp.synchronize()
        blocks.append((time.perf_counter() - wall, time.process_time() - cpu))
    return _result(case, build_s, first_s, blocks, state.x.numpy(), bytes=warp_bytes(solver, state))


def warp_bytes(solver, state) -> dict[str, int]:
    """Bytes of the warp arrays of a rollout: per-particle (the two states it ping-pongs, the step's scratch
    τ and F_trial, mass, volume, the materials' indices) and grid (momentum, mass, velocities)."""
    tau, grid_momentum, grid_mass, velocities, F_trial = solver._scratch
    particle = [tau, F_trial, solver.mass, solver.volume_wp, *solver.indices] + 2 * [state.x, state.v, state.C, state.F]
    grid = [grid_momentum, grid_mass, *velocities]
    return {"particle": sum(a.capacity for a in particle), "grid": sum(a.capacity for a in grid)}


# -- Taichi: the reference, written here in the style of its mpm88/mpm3d examples ----------------------
def run_taichi(case: Case, threads: int | None = None) -> dict:
    """Run `case` with the Taichi MLS-MPM below on the CPU with `threads` threads (None: all cores)."""
    import taichi as ti

    options = {"cpu_max_num_threads": threads} if threads else {}
    ti.init(arch=ti.cpu, default_fp=ti.f32, offline_cache=False, log_level=ti.WARN, **options)
    positions, velocities = case.block()
    start = time.perf_counter()
    step, x, v = taichi_mls_mpm(ti, case, len(positions))
    x.from_numpy(positions)
    v.from_numpy(velocities)
    ti.sync()
    build_s = time.perf_counter() - start

    def advance(n_steps: int):
        for _ in range(n_steps):
            step()
        ti.sync()

    first_s = _timed(lambda: advance(1))  # compiles
    advance(case.n_warmup - 1)
    blocks = [_timed_block(lambda: advance(case.n_steps)) for _ in range(case.repeats)]
    return _result(case, build_s, first_s, blocks, x.to_numpy())


def taichi_mls_mpm(ti, case: Case, n_particles: int):
    """Fields x, v, C, F of `n_particles` and a `step()` kernel: stress → P2G → grid → G2P, as kernels.py."""
    dim, n_nodes, dx, dt = case.dim, case.n_grid + 1, case.dx, case.dt
    inv_dx = 1.0 / dx
    volume = (dx / 2) ** dim
    mass = DENSITY * volume
    mu = YOUNGS_MODULUS / (2 * (1 + POISSON_RATIO))
    lam = YOUNGS_MODULUS * POISSON_RATIO / ((1 + POISSON_RATIO) * (1 - 2 * POISSON_RATIO))
    x = ti.Vector.field(dim, ti.f32, n_particles)
    v = ti.Vector.field(dim, ti.f32, n_particles)
    C = ti.Matrix.field(dim, dim, ti.f32, n_particles)
    F = ti.Matrix.field(dim, dim, ti.f32, n_particles)
    grid_v = ti.Vector.field(dim, ti.f32, (n_nodes,) * dim)
    grid_m = ti.field(ti.f32, (n_nodes,) * dim)
    stencil = ti.ndrange(*(3,) * dim)
    gravity = ti.Vector([0.0, -GRAVITY] + [0.0] * (dim - 2))

    @ti.kernel
    def reset():
        for p in F:
            F[p] = ti.Matrix.identity(ti.f32, dim)
            C[p] = ti.Matrix.zero(ti.f32, dim, dim)

    @ti.kernel
    def step():
        for I in ti.grouped(grid_m):
            grid_v[I] = ti.Vector.zero(ti.f32, dim)
            grid_m[I] = 0.0
        for p in x:  # P2G, with the fixed-corotated Kirchhoff stress τ = 2μ(F − R)Fᵀ + λ(J − 1)J I
            Xp = x[p] * inv_dx
            base = ti.cast(ti.floor(Xp - 0.5), ti.i32)
            fx = Xp - base
            w = [0.5 * (1.5 - fx) ** 2, 0.75 - (fx - 1.0) ** 2, 0.5 * (fx - 0.5) ** 2]  # quadratic B-spline
            U, sigma, V = ti.svd(F[p])
            J = F[p].determinant()
            tau = 2.0 * mu * (F[p] - U @ V.transpose()) @ F[p].transpose() + lam * (J - 1.0) * J * ti.Matrix.identity(ti.f32, dim)
            affine = mass * C[p] - (dt * volume * 4.0 * inv_dx * inv_dx) * tau
            for offset in ti.static(ti.grouped(stencil)):
                weight = 1.0
                for d in ti.static(range(dim)):
                    weight *= w[offset[d]][d]
                dpos = (offset - fx) * dx
                grid_v[base + offset] += weight * (mass * v[p] + affine @ dpos)
                grid_m[base + offset] += weight * mass
        for I in ti.grouped(grid_m):  # momentum → velocity, gravity, slip walls
            velocity = ti.Vector.zero(ti.f32, dim)
            if grid_m[I] > 0.0:
                velocity = grid_v[I] / grid_m[I] + dt * gravity
            for d in ti.static(range(dim)):
                if (I[d] < WALL_CELLS and velocity[d] < 0.0) or (I[d] > n_nodes - 1 - WALL_CELLS and velocity[d] > 0.0):
                    velocity[d] = 0.0
            grid_v[I] = velocity
        for p in x:  # G2P and the trial deformation gradient (jelly keeps it)
            Xp = x[p] * inv_dx
            base = ti.cast(ti.floor(Xp - 0.5), ti.i32)
            fx = Xp - base
            w = [0.5 * (1.5 - fx) ** 2, 0.75 - (fx - 1.0) ** 2, 0.5 * (fx - 0.5) ** 2]
            new_v = ti.Vector.zero(ti.f32, dim)
            new_C = ti.Matrix.zero(ti.f32, dim, dim)
            for offset in ti.static(ti.grouped(stencil)):
                weight = 1.0
                for d in ti.static(range(dim)):
                    weight *= w[offset[d]][d]
                node_v = grid_v[base + offset]
                new_v += weight * node_v
                new_C += (4.0 * inv_dx * weight) * node_v.outer_product(offset - fx)
            v[p], C[p] = new_v, new_C
            x[p] += dt * new_v
            F[p] = (ti.Matrix.identity(ti.f32, dim) + dt * new_C) @ F[p]

    reset()
    return step, x, v


# -- running each in a fresh process ------------------------------------------------------------------------
def in_fresh_process(function, *args, **kwargs):
    """`function(*args, **kwargs)` in a new Python process (spawned: no state inherited from this one)."""
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args, **kwargs).result()


def solver_takes_launcher() -> bool:
    """Whether `MPMSolver` has the `launcher` slot that `--warp-threads` needs."""
    import dataclasses

    from surrolab.solvers.mpm.solver import MPMSolver
    return "launcher" in {f.name for f in dataclasses.fields(MPMSolver)}


def compare(case: Case, warp_threads: int = 2, taichi_threads: tuple = (1, None), cold_compile: bool = True,
            taichi: bool = True) -> dict:
    """Every run of one case, each in a fresh process: {label: result}. Labels: "warp" (1 thread, kernel
    cache warm), "warp cold" (empty kernel cache), "warp N threads", "taichi 1", "taichi all"."""
    runs = {}
    if cold_compile:
        with tempfile.TemporaryDirectory() as cache:
            runs["warp cold"] = in_fresh_process(run_warp, case, 1, cache)
    runs["warp"] = in_fresh_process(run_warp, case, 1)
    if warp_threads > 1 and solver_takes_launcher():
        runs[f"warp {warp_threads} threads"] = in_fresh_process(run_warp, case, warp_threads)
    for threads in taichi_threads if taichi else ():
        runs[f"taichi {threads or 'all'}"] = in_fresh_process(run_taichi, case, threads)
    return runs


def physics_difference(a: np.ndarray, b: np.ndarray, dx: float) -> dict[str, float]:
    """Largest particle distance and centre-of-mass distance between two runs' positions, in cells."""
    return {"max_particle_cells": float(np.max(np.linalg.norm(a - b, axis=1))) / dx,
            "com_cells": float(np.linalg.norm(a.mean(axis=0) - b.mean(axis=0))) / dx}


def report(cases: dict[str, Case], results: dict[str, dict], memory: dict | None, command: str) -> list[str]:
    """The Markdown report of `results` ({case name: compare(...)}) and the 10⁶-particle run."""
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = ["# MLS-MPM: the warp solver against Taichi on the CPU, side by side", "",
             "```", command, "```", "",
             f"CPU: {hardware()}; load average (1/5/15 min) at the end: {load}. Jelly block (fixed-corotated, "
             f"E = 10⁵ Pa, ν = 0.2, ρ = 10³), 2^d particles per cell, slip walls, float32, Δt = "
             f"{next(iter(cases.values())).dt:g} s. Each run in a fresh process; time per step = the fastest of "
             "the timed blocks (wall clock between synchronisations), with the process CPU time of that block beside "
             "it: for a one-thread run, wall time well above CPU time means it waited for a core (a shared "
             "machine).", "",
             "## Speed", "",
             "| case | particles | grid | steps timed | code | threads | ms / step | particle-steps / s | "
             "warp (1 thread) ÷ this | CPU ms / step (all threads) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, runs in results.items():
        case, base = cases[name], runs["warp"]
        for label, r in runs.items():
            if label == "warp cold":
                continue
            code, _, threads = label.partition(" ")
            threads = threads.replace(" threads", "") or "1"
            lines.append(f"| {name} | {r['n_particles']:,} | {case.n_grid}^{case.dim} | {case.repeats} × "
                         f"{case.n_steps} | {code} | {threads} | {1e3 * r['step_s']:.2f} | "
                         f"{r['particle_steps_per_s'] / 1e6:.2f} M | {r['step_s'] / base['step_s']:.2f} | "
                         f"{1e3 * r['cpu_step_s']:.2f} |")
    lines += ["", "Speed-up of warp over Taichi (Taichi's time per step ÷ warp's; above 1: warp faster):", "",
              "| case | one thread each | warp's threads vs Taichi on all cores | fastest warp vs fastest Taichi |",
              "|---|---|---|---|"]
    for name, runs in results.items():
        warp_runs = [r["step_s"] for label, r in runs.items() if label.startswith("warp") and label != "warp cold"]
        threaded = [r["step_s"] for label, r in runs.items() if label.startswith("warp") and label.endswith("threads")]
        if "taichi 1" in runs and "taichi all" in runs:
            lines.append(f"| {name} | {runs['taichi 1']['step_s'] / runs['warp']['step_s']:.2f} | "
                         + (f"{runs['taichi all']['step_s'] / threaded[0]:.2f}" if threaded else "–")
                         + f" | {min(runs['taichi 1']['step_s'], runs['taichi all']['step_s']) / min(warp_runs):.2f} |")
    lines += ["", "## Kernel compilation (first step, seconds)", "",
              "| case | warp, empty kernel cache | warp, cached kernels | Taichi (offline cache off) | one step |",
              "|---|---|---|---|---|"]
    for name, runs in results.items():
        taichi = runs.get("taichi 1")
        lines.append(f"| {name} | {runs['warp cold']['first_step_s']:.2f} | {runs['warp']['first_step_s']:.3f} | "
                     f"{taichi['first_step_s']:.2f} | {runs['warp']['step_s']:.3f} |" if taichi and "warp cold" in runs
                     else f"| {name} | – | {runs['warp']['first_step_s']:.3f} | – | {runs['warp']['step_s']:.3f} |")
    lines += ["", "## Same physics", "",
              "Positions after the whole run (warm-up and timed steps, the same number in both codes), in cells of "
              "the grid:", "", "| case | steps | centre of mass fell | mean particle moved | warp vs Taichi: "
              "largest particle distance | centre-of-mass distance |", "|---|---|---|---|---|---|"]
    for name, runs in results.items():
        case = cases[name]
        x0 = case.block()[0]
        warp = runs["warp"]["positions"]
        fell = (x0[:, 1].mean() - warp[:, 1].mean()) / case.dx
        moved = np.linalg.norm(warp - x0, axis=1).mean() / case.dx
        for label in [k for k in runs if k.startswith("taichi") or k.endswith("threads")]:
            diff = physics_difference(warp, runs[label]["positions"], case.dx)
            lines.append(f"| {name} ({label}) | {case.n_warmup + case.repeats * case.n_steps} | {fell:.3f} | "
                         f"{moved:.3f} | {diff['max_particle_cells']:.1e} | {diff['com_cells']:.1e} |")
    lines += ["", "## Memory", "", "| case | particles | particle arrays, bytes / particle | grid, bytes / node | "
              "peak resident memory of the process | ms / step |", "|---|---|---|---|---|---|"]
    rows = [(name, runs["warp"], cases[name]) for name, runs in results.items()]
    if memory is not None:
        rows.append(("3d-1M", memory, cases["3d-1M"]))
    for name, r, case in rows:
        nodes = (case.n_grid + 1) ** case.dim
        lines.append(f"| {name} | {r['n_particles']:,} | {r['bytes']['particle'] / r['n_particles']:.0f} | "
                     f"{r['bytes']['grid'] / nodes:.0f} | {r['peak_rss_bytes'] / 2**20:,.0f} MiB | "
                     f"{1e3 * r['step_s']:.3g} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m surrolab.benchmarks.mpm_speed", description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", default=["2d", "2d-fine", "3d"], choices=[c for c in CASES if c != "3d-1M"])
    parser.add_argument("--warp-threads", type=int, default=2,
                        help="also run warp's chunked launch on this many threads (needs MPMSolver.launcher)")
    parser.add_argument("--no-memory", action="store_true", help="skip the 10⁶-particle 3D run")
    parser.add_argument("--out", default=None, help="also write the report as Markdown here")
    args = parser.parse_args(argv)
    try:
        import taichi  # noqa: F401
    except ImportError:
        parser.error("taichi is not installed: `uv sync --group bench`")
    command = "python -m surrolab.benchmarks.mpm_speed " + " ".join(argv if argv is not None else sys.argv[1:])
    results = {}
    for name in args.cases:
        results[name] = compare(CASES[name], args.warp_threads)
        for label, r in results[name].items():
            print(f"{name} {label}: {1e3 * r['step_s']:.2f} ms/step, {r['particle_steps_per_s'] / 1e6:.2f} M "
                  f"particle-steps/s, first step {r['first_step_s']:.2f} s", flush=True)
    memory = None if args.no_memory else in_fresh_process(run_warp, CASES["3d-1M"], 1)
    lines = report(CASES, results, memory, command)
    print("\n".join(lines), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
