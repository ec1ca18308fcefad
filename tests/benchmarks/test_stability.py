"""The harness's stability probe: it flags a step that amplifies grid-scale perturbations and passes one
that damps them, and a smooth perturbation reads as smooth."""
import numpy as np
import pytest
import torch

from surrolab.benchmarks.stability import GRID_GROWTH_LIMIT, grid_model_growth, perturbations
from surrolab.surrogates.base import Normalizer


class StencilStep(torch.nn.Module):
    """u ← u + c Δ_h u with the 5-point Laplacian (replicated edges): c > 0 diffuses (every mode damped or
    kept), c < 0 anti-diffuses (the checkerboard mode grows by 1 + 8|c| per step, smooth modes barely)."""

    history, horizon = 1, 1

    def __init__(self, c: float):
        super().__init__()
        self.c = c

    def forward(self, frames, parameters):
        u = frames[:, -1]
        p = torch.nn.functional.pad(u, (1, 1, 1, 1), mode="replicate")
        lap = p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:] - 4 * u
        return (u + self.c * lap)[:, None]


def probe(c: float, inside=None):
    rng = np.random.default_rng(0)
    n = 24
    axes = (np.linspace(0, 1, n), np.linspace(0, 1, n))
    x, y = np.meshgrid(*axes, indexing="ij")
    truth = np.stack([np.sin(np.pi * x * k) * np.cos(np.pi * y) for k in (1, 2, 3)])[:, None, None]  # (3, 1, 1, n, n)
    truth = np.repeat(truth, 5, axis=1) * rng.uniform(0.5, 2.0, (3, 5, 1, 1, 1))
    inside = np.ones((3, n, n), dtype=bool) if inside is None else inside
    normalizer = Normalizer([0.0], [1.0], [0.0], [1.0])
    return grid_model_growth(StencilStep(c), normalizer, truth, np.zeros((3, 1)), inside, axes)


def test_an_anti_diffusive_step_is_flagged_and_a_diffusive_one_passes():
    unstable, stable = probe(-0.05), probe(0.2)
    assert unstable.unstable and unstable.grid_scale > 3.0  # (1 + 8 · 0.05)^10 ≈ 29 for the checkerboard
    assert unstable.smooth < unstable.grid_scale / 3
    assert not stable.unstable and stable.grid_scale < 0.5 and stable.grid_scale < stable.smooth <= 1.0 + 1e-6
    assert GRID_GROWTH_LIMIT > 1.0


def test_the_identity_step_neither_grows_nor_damps():
    g = probe(0.0)
    assert g.grid_scale == pytest.approx(1.0, rel=1e-4) and g.smooth == pytest.approx(1.0, rel=1e-4)


def test_nodes_outside_the_domain_are_not_perturbed_or_counted():
    inside = np.ones((3, 24, 24), dtype=bool)
    inside[:, 8:16, 8:16] = False  # an obstacle whose nodes the rollout resets
    g = probe(0.0, inside)
    assert g.grid_scale == pytest.approx(1.0, rel=1e-4)


def test_smooth_perturbations_vary_on_the_lattice_scale():
    coords = np.stack(np.meshgrid(np.linspace(0, 1, 33), np.linspace(0, 1, 33), indexing="ij"), -1).reshape(-1, 2)
    rng = np.random.default_rng(0)
    rough, smooth = (perturbations(k, coords, 1, 1 / 32, 2, rng).reshape(2, 33, 33) for k in ("grid", "smooth"))

    def neighbour_correlation(f):
        return np.mean([np.corrcoef(a[:-1].ravel(), a[1:].ravel())[0, 1] for a in f])

    assert abs(neighbour_correlation(rough)) < 0.1 and neighbour_correlation(smooth) > 0.8
