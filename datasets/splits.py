"""Train/validation/test splits: random, and by parameter range (held-out parameters).

A random split tests interpolation between training samples; the held-out split puts every sample whose
chosen parameter lies in the top (or bottom) part of its sampling range into `test_heldout`, which tests
extrapolation in the PDE parameters, the case a surrogate meets in use.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from surrolab.errors import SurrolabError, check_positive_int, check_range


@dataclass(frozen=True)
class SplitSpec:
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    heldout_parameter: str | None = None  # None: the problem's first parameter; "" switches it off
    heldout_fraction: float = 0.2  # the top part of that parameter's sampling range
    seed: int = 0

    def __post_init__(self):
        check_range("val_fraction", self.val_fraction, 0.0, 0.5)
        check_range("test_fraction", self.test_fraction, 0.0, 1.0)  # 1: a test-only set (CFD report's kinds)
        if self.val_fraction + self.test_fraction > 1.0:
            raise SurrolabError(f"val_fraction={self.val_fraction} + test_fraction={self.test_fraction} "
                                "exceeds 1: nothing would be left for training")
        check_range("heldout_fraction", self.heldout_fraction, 0.0, 0.9)
        check_positive_int("seed", self.seed, minimum=0)  # numpy's generators take no negative seed


def make_splits(parameters: dict[str, np.ndarray], ranges: dict[str, tuple[float, float]],
                spec: SplitSpec) -> dict[str, np.ndarray]:
    """Sample indices of `train`, `val`, `test` and (if switched on) `test_heldout`."""
    n = len(next(iter(parameters.values()))) if parameters else 0
    heldout = np.zeros(n, dtype=bool)
    name = next(iter(parameters), None) if spec.heldout_parameter is None else spec.heldout_parameter
    if name and spec.heldout_fraction > 0:
        if name not in parameters:
            raise SurrolabError(f"heldout_parameter={name!r} is not a parameter; allowed: {sorted(parameters)}")
        low, high = ranges[name]
        heldout = parameters[name] >= high - spec.heldout_fraction * (high - low)
    rest = np.flatnonzero(~heldout)
    rest = rest[np.random.default_rng(spec.seed).permutation(len(rest))]
    # at least one validation and one test sample whenever three or more remain, so that the smallest
    # datasets (the CLI's default of 8 samples) can still be trained with validation and compared
    at_least = 1 if len(rest) >= 3 else 0
    n_val = max(at_least if spec.val_fraction > 0 else 0, int(round(spec.val_fraction * len(rest))))
    n_test = max(at_least if spec.test_fraction > 0 else 0, int(round(spec.test_fraction * len(rest))))
    splits = {
        "val": np.sort(rest[:n_val]),
        "test": np.sort(rest[n_val:n_val + n_test]),
        "train": np.sort(rest[n_val + n_test:]),
    }
    if name and spec.heldout_fraction > 0:
        splits["test_heldout"] = np.flatnonzero(heldout)
    return splits


def normalization_statistics(fields: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of (n_samples, n_times, n_channels, *spatial) arrays,
    over the nodes where `mask` (n_samples, *spatial) is True when given (a mesh dataset's grid part)."""
    axes = tuple(i for i in range(fields.ndim) if i != 2)
    if mask is None:
        mean = fields.mean(axis=axes, dtype=np.float64)
        std = fields.std(axis=axes, dtype=np.float64)
    else:
        where = np.broadcast_to(mask[:, None, None], fields.shape)
        mean = fields.mean(axis=axes, dtype=np.float64, where=where)
        std = fields.std(axis=axes, dtype=np.float64, where=where)
    return mean, np.where(std > 0, std, 1.0)


def pooled_statistics(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation over every row of a list of (n_rows_k, n_columns) arrays
    whose row counts differ (the particles of samples of different sizes); two passes in float64, std 0 → 1."""
    count = sum(len(r) for r in rows)
    mean = sum(r.sum(axis=0, dtype=np.float64) for r in rows) / count
    var = sum(((r - mean) ** 2).sum(axis=0) for r in rows) / count
    std = np.sqrt(var)
    return mean, np.where(std > 0, std, 1.0)


def frame_differences(positions: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The velocity and acceleration of particles by finite differences between stored frames, in float64.

    positions: (T, N, dim) at `times` (T,). Returns velocity (T-1, N, dim), v[k] = (x[k+1] - x[k]) / (t[k+1]
    - t[k]), and acceleration (T-2, N, dim), a[k] = 2 (v[k+1] - v[k]) / (t[k+2] - t[k]): the second difference
    (x[k+2] - 2 x[k+1] + x[k]) / Δt² when the frames are equally spaced. Learned particle simulators (GNS,
    Sanchez-Gonzalez et al. 2020) normalise their input velocities and target accelerations by these,
    undivided (per frame): multiply by Δt and Δt² to get theirs.
    """
    x = np.asarray(positions, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    dt = np.diff(t).reshape(-1, *(1,) * (x.ndim - 1))
    velocity = np.diff(x, axis=0) / dt
    acceleration = 2 * np.diff(velocity, axis=0) / (dt[1:] + dt[:-1])
    return velocity, acceleration
