"""The MPM speed benchmark at a tiny size: the warp run measures something, and (with taichi installed)
the two codes give the same particles."""
import math

import numpy as np
import pytest

from surrolab.benchmarks.mpm_speed import Case, in_fresh_process, physics_difference, run_warp

TINY = {2: Case(dim=2, n_grid=16, lower=0.125, upper=0.5, n_warmup=2, n_steps=5, repeats=2),
        3: Case(dim=3, n_grid=12, lower=0.25, upper=0.5, n_warmup=2, n_steps=3, repeats=2)}


@pytest.mark.parametrize("dim", [2, 3])
def test_warp_run_reports_a_rate_and_moves_the_block(dim):
    case = TINY[dim]
    r = run_warp(case)
    positions, _ = case.block()
    assert r["n_particles"] == len(positions) == (2 * round((case.upper - case.lower) / case.dx)) ** dim
    assert math.isfinite(r["particle_steps_per_s"]) and r["particle_steps_per_s"] > 0
    assert r["step_s"] > 0 and r["first_step_s"] > 0
    # the block was thrown down: its centre of mass fell by at least the thrown distance's order
    steps = case.n_warmup + case.repeats * case.n_steps
    fell = positions[:, 1].mean() - r["positions"][:, 1].mean()
    assert 0.5 * case.velocity_down * steps * case.dt < fell < 2.0 * case.velocity_down * steps * case.dt
    # state, scratch, mass, volume, indices: 2·(2d + 2d²) + 2d² + 3 floats per particle
    assert r["bytes"]["particle"] == 4 * (2 * (2 * dim + 2 * dim * dim) + 2 * dim * dim + 3) * len(positions)


def test_physics_difference_is_zero_for_the_same_positions_and_sees_a_shift():
    x = np.random.default_rng(0).random((10, 2))
    assert physics_difference(x, x, 0.1) == {"max_particle_cells": 0.0, "com_cells": 0.0}
    shifted = physics_difference(x, x + [0.0, 0.05], 0.1)
    assert shifted["max_particle_cells"] == pytest.approx(0.5) and shifted["com_cells"] == pytest.approx(0.5)


def test_taichi_and_warp_give_the_same_particles():
    pytest.importorskip("taichi")
    case = TINY[2]
    warp = run_warp(case)
    taichi = in_fresh_process(_run_taichi_one_thread, case)
    assert taichi["n_particles"] == warp["n_particles"]
    assert math.isfinite(taichi["particle_steps_per_s"]) and taichi["particle_steps_per_s"] > 0
    diff = physics_difference(warp["positions"], taichi["positions"], case.dx)
    assert diff["max_particle_cells"] < 1e-3 and diff["com_cells"] < 1e-4


def _run_taichi_one_thread(case):
    from surrolab.benchmarks.mpm_speed import run_taichi
    return run_taichi(case, threads=1)


def test_chunked_launch_scatters_and_gathers_like_one_launch():
    """`--warp-threads`: P2G over 3 chunks on 3 threads (private grids summed) and G2P over chunks give what
    one launch gives, to float32 rounding."""
    import warp as wp

    from surrolab.solvers.mpm.kernels import transfer_kernels
    from surrolab.solvers.mpm.parallel import ChunkedLauncher, Launcher

    k, n_grid, rng = transfer_kernels(2), 16, np.random.default_rng(0)
    n, dx, dims = 500, 1.0 / n_grid, wp.vec3i(n_grid + 1, n_grid + 1, 1)
    x = wp.array(rng.uniform(0.2, 0.8, (n, 2)).astype(np.float32), dtype=k.vec)
    v = wp.array(rng.normal(size=(n, 2)).astype(np.float32), dtype=k.vec)
    C, tau, F = (wp.array(rng.normal(size=(n, 2, 2)).astype(np.float32), dtype=k.mat) for _ in range(3))
    mass, volume = wp.full(n, 1e-3, dtype=float), wp.full(n, dx * dx / 4, dtype=float)
    results = []
    for launcher in (Launcher(), ChunkedLauncher(3)):
        momentum, grid_mass = wp.zeros(dims[0] * dims[1], dtype=k.vec), wp.zeros(dims[0] * dims[1], dtype=float)
        launcher.launch(k.p2g, n, [x, v, C, tau, mass, volume, 1e-4, dx, dims], [momentum, grid_mass], "cpu",
                        accumulate=(momentum, grid_mass))
        outputs = [wp.zeros_like(x), wp.zeros_like(v), wp.zeros_like(C), wp.zeros_like(F)]
        launcher.launch(k.g2p, n, [x, F, momentum, 1e-4, dx, dims], outputs, "cpu", shared=(momentum,))
        results.append([momentum.numpy(), grid_mass.numpy()] + [a.numpy() for a in outputs])
    for serial, chunked in zip(*results):
        np.testing.assert_allclose(chunked, serial, rtol=1e-5, atol=1e-6 * np.abs(serial).max())
    assert np.abs(results[0][1]).sum() == pytest.approx(1e-3 * n, rel=1e-5)  # P2G conserves mass
