"""Checks every CFD flow family's tests share (the contract of `FlowFamily`), written once.

Imported by the family test files beside it (pytest puts this folder on sys.path).
"""
from __future__ import annotations

import numpy as np
import pytest


def assert_deterministic(problem, config, params, trajectory) -> None:
    """A second solve of the same sample gives the same mesh and bit-identical fields."""
    again = problem.solve(config, params, problem.initial_state(config, None))
    np.testing.assert_array_equal(again.geometry.points, trajectory.geometry.points)
    for name in ("velocity", "pressure"):
        np.testing.assert_array_equal(again.fields[name], trajectory.fields[name])


def assert_records_drawn_parameters(f, problem, n_samples: int, seed: int = 0) -> dict[str, np.ndarray]:
    """The dataset's parameters are the ones drawn for each sample (rng [seed, i]), with their Re; returns them."""
    params = {name: f[f"parameters/{name}"][()] for name in problem.parameter_names()}
    for i in range(n_samples):
        drawn = problem.sample_parameters(np.random.default_rng([seed, i]))
        assert {name: values[i] for name, values in params.items()} == pytest.approx(drawn)
        assert f["samples/reynolds"][i] == pytest.approx(problem.reynolds(drawn))
    return params


def assert_fast_inflows_held_out_and_no_net_flux(f, params: dict[str, np.ndarray]) -> None:
    """`test_heldout` is the top 20 % of the inlet speed's range [0.5, 1.5] (one sample with seed 0), and
    the stored net boundary flux is zero to rounding."""
    np.testing.assert_array_equal(f["splits/test_heldout"][()], np.flatnonzero(params["inlet_speed"] >= 1.3))
    assert len(f["splits/test_heldout"][()]) == 1
    assert np.all(f["samples/boundary_mass_flux"][()] < 1e-10)


def assert_every_preset_coarsens_by_two(problem) -> None:
    """h doubles, substeps halve and the frame times stay, for every preset."""
    for preset in ("demo", "default", "large"):
        config = problem.make_config(preset)
        coarse = problem.coarsen(config, 2)
        assert coarse.h == 2 * config.h and coarse.substeps * 2 == config.substeps
        assert np.array_equal(coarse.times, config.times)
