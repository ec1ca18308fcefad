"""Error metrics between a predicted and a true field: one number per sample, never averaged here.

Shape convention
----------------
``pred`` and ``true`` have the same shape ``(*leading, *spatial)``. The trailing ``n_spatial`` axes
(1, 2 or 3) are a uniform grid; every axis before them (batch, time, channel, in whatever order the
caller uses) is *leading* and is kept. Each metric reduces over the spatial axes only and returns an
array of shape ``leading`` (0-d when there is none). A channel axis is one more leading axis, so the
metrics come out per channel; averaging over samples, channels or time is the caller's job, which
lets the harness draw error-against-time curves. ``n_spatial`` is a required keyword: a 1D field
with a time axis and a 2D field look alike, so it is never guessed. Inputs are computed in float64.

Definitions (e = pred - true; sums, means and norms over the spatial axes; N grid points)
-----------------------------------------------------------------------------------------
relative_l2   ||e||_2 / max(||true||_2, 1e-12). The floor only matters for an all-zero truth;
              otherwise the ratio is exactly invariant under scaling both fields.
nrmse         PDEBench's nRMSE, ||e||_2 / ||true||_2, which is the same number as relative_l2
              (the 1/N of both root-mean-squares cancels), so it is defined as relative_l2.
rmse          sqrt(mean(e^2)).
max_error     max |e|.
boundary_rmse sqrt(mean(e^2)) over the nodes where a boolean mask of the spatial shape is True;
              PDEBench's bRMSE takes the domain boundary, given by ``domain_boundary_mask``.
fourier_band_rmse  PDEBench's fRMSE bands, see that function.
vrmse         The Well's VRMSE: sqrt(mean(e^2) / (mean((true - mean(true))^2) + 1e-7)), the RMSE
              over the spatial standard deviation of the truth; predicting the mean scores 1.
divergence    a physics check on a predicted vector field, not an error between two fields.

References: M. Takamoto et al., "PDEBench: An Extensive Benchmark for Scientific Machine Learning",
NeurIPS 2022 Datasets and Benchmarks (nRMSE, bRMSE, fRMSE with iLow=4, iHigh=12);
R. Ohana et al., "The Well: a Large-Scale Collection of Diverse Physics Simulations for Machine
Learning", NeurIPS 2024 Datasets and Benchmarks (VRMSE). Implemented from these definitions.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from math import prod

import numpy as np

from surrolab.errors import SurrolabError
from surrolab.solvers.trajectory import domain_boundary_mask  # noqa: F401  (re-exported for callers)

RELATIVE_EPS = 1e-12  # floor of ||true||_2 in relative_l2
VRMSE_EPS = 1e-7  # added to the variance of the truth, as in The Well

# Fourier bands by integer radial index floor(|k|), |k| = sqrt(k_1^2 + ... + k_d^2) in integer
# frequency indices; PDEBench's iLow=4, iHigh=12. Closed intervals of the radial index.
FOURIER_BANDS = {"low": (0, 4), "mid": (5, 12), "high": (13, np.inf)}


def _prepare(pred, true, n_spatial: int) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Both fields as float64 arrays of one shape, and the spatial axes (the trailing n_spatial)."""
    pred, true = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if pred.shape != true.shape:
        raise SurrolabError(f"pred has shape {pred.shape} but true has shape {true.shape}; they must match")
    if not 1 <= n_spatial <= pred.ndim:
        raise SurrolabError(f"n_spatial={n_spatial!r} is not allowed for {pred.ndim}-d fields: "
                            f"it must be in [1, {pred.ndim}]")
    return pred, true, tuple(range(-n_spatial, 0))


def relative_l2(pred, true, *, n_spatial: int) -> np.ndarray:
    """||pred - true||_2 / max(||true||_2, RELATIVE_EPS) over the spatial axes; shape `leading`."""
    pred, true, axes = _prepare(pred, true, n_spatial)
    error_norm = np.sqrt(np.sum((pred - true) ** 2, axis=axes))
    true_norm = np.sqrt(np.sum(true**2, axis=axes))
    return error_norm / np.maximum(true_norm, RELATIVE_EPS)


def nrmse(pred, true, *, n_spatial: int) -> np.ndarray:
    """PDEBench's nRMSE, ||pred - true||_2 / ||true||_2 per sample and channel.

    RMSE(pred, true) / RMS(true) is the same ratio as relative L2 (the 1/N under both roots
    cancels), so this is `relative_l2`; it is kept under PDEBench's name for their tables.
    """
    return relative_l2(pred, true, n_spatial=n_spatial)


def rmse(pred, true, *, n_spatial: int) -> np.ndarray:
    """sqrt(mean((pred - true)^2)) over the spatial axes; shape `leading`."""
    pred, true, axes = _prepare(pred, true, n_spatial)
    return np.sqrt(np.mean((pred - true) ** 2, axis=axes))


def max_error(pred, true, *, n_spatial: int) -> np.ndarray:
    """max |pred - true| over the spatial axes; shape `leading`."""
    pred, true, axes = _prepare(pred, true, n_spatial)
    return np.max(np.abs(pred - true), axis=axes)


def vrmse(pred, true, *, n_spatial: int, eps: float = VRMSE_EPS) -> np.ndarray:
    """The Well's VRMSE: sqrt(mean(e^2) / (var(true) + eps)), means over the spatial axes.

    var(true) = mean((true - mean(true))^2) is the spatial variance of each sample, so a prediction
    equal to the spatial mean of the truth scores 1 (up to eps), whatever the field's offset and scale.
    """
    pred, true, axes = _prepare(pred, true, n_spatial)
    mse = np.mean((pred - true) ** 2, axis=axes)
    variance = np.mean((true - np.mean(true, axis=axes, keepdims=True)) ** 2, axis=axes)
    return np.sqrt(mse / (variance + eps))


def boundary_rmse(pred, true, boundary_mask) -> np.ndarray:
    """RMSE over the nodes where `boundary_mask` is True; errors elsewhere are ignored.

    `boundary_mask` is boolean with the spatial shape (so n_spatial = its ndim); PDEBench's bRMSE
    uses `domain_boundary_mask(spatial_shape)`. Returns shape `leading`.
    """
    mask = np.asarray(boundary_mask)
    if mask.dtype != bool or not mask.any():
        raise SurrolabError("boundary_mask must be a boolean array with at least one True node")
    pred, true, _ = _prepare(pred, true, mask.ndim)
    if pred.shape[pred.ndim - mask.ndim:] != mask.shape:
        raise SurrolabError(f"boundary_mask has shape {mask.shape} but the fields' spatial shape is "
                            f"{pred.shape[pred.ndim - mask.ndim:]}")
    selected = (pred - true)[..., mask]  # (*leading, number of masked nodes)
    return np.sqrt(np.mean(selected**2, axis=-1))


def _radial_index(spatial_shape: Sequence[int]) -> np.ndarray:
    """floor(|k|) on the full FFT grid, with k_i the integer frequency indices of np.fft.fftfreq."""
    k = np.meshgrid(*(np.fft.fftfreq(n, d=1.0 / n) for n in spatial_shape), indexing="ij")
    return np.floor(np.sqrt(sum(k_i**2 for k_i in k)))


def fourier_band_rmse(pred, true, bands: Sequence[str] = ("low", "mid", "high"), *,
                      n_spatial: int) -> dict[str, np.ndarray]:
    """Error amplitude in low/mid/high Fourier bands (PDEBench's fRMSE); 1D, 2D or 3D grids.

    With E = fftn(pred - true) over the spatial axes (unnormalised, N grid points) and the radial
    index r = floor(sqrt(k_1^2 + ... + k_d^2)) of the integer frequency indices, the value of a band
    B is

        b_B = sqrt( sum_{r(k) in B} |E_k|^2 ) / N,

    with low: r in [0, 4], mid: [5, 12], high: [13, inf) (PDEBench's iLow=4, iHigh=12). The whole
    spectrum is used (both signs of every k_i), so the bands partition it and Parseval,
    mean(e^2) = sum_k |E_k|^2 / N^2, gives

        b_low^2 + b_mid^2 + b_high^2 = rmse(pred, true)^2  exactly.

    So b_B is the RMSE of the band-passed error field: the error amplitude that band carries. Like
    PDEBench this divides by the number of grid points; PDEBench's per-band numbers may differ from
    these by a constant factor, so compare bands across surrolab models, not with their tables.

    Returns {band name: array of shape `leading`} for the requested `bands`.
    """
    unknown = [name for name in bands if name not in FOURIER_BANDS]
    if unknown:
        raise SurrolabError(f"unknown Fourier band(s) {unknown}; available: {', '.join(FOURIER_BANDS)}")
    pred, true, axes = _prepare(pred, true, n_spatial)
    spatial_shape = pred.shape[-n_spatial:]
    power = np.abs(np.fft.fftn(pred - true, axes=axes)) ** 2  # (*leading, *spatial)
    radius = _radial_index(spatial_shape)  # (*spatial)
    result = {}
    for name in bands:
        low, high = FOURIER_BANDS[name]
        in_band = (radius >= low) & (radius <= high)
        result[name] = np.sqrt(power[..., in_band].sum(axis=-1)) / prod(spatial_shape)
    return result


def divergence(vector_field, spacing: Sequence[float]) -> np.ndarray:
    """div u = sum_i d u_i / d x_i on a uniform grid, by numpy.gradient.

    `vector_field` has shape (*leading, d, *spatial) with d = len(spacing) spatial axes; component i
    is the velocity along spatial axis i, and spacing[i] is the grid step along that axis. Central
    differences in the interior and one-sided second-order ones at the edges (edge_order=2): the
    error is O(h^2) everywhere and the result is exact for quadratic fields. Every spatial axis
    needs at least 3 nodes. Returns shape (*leading, *spatial).
    """
    field = np.asarray(vector_field, dtype=np.float64)
    steps = [float(h) for h in spacing]
    d = len(steps)
    if d < 1 or field.ndim < d + 1 or field.shape[-d - 1] != d:
        raise SurrolabError(f"vector_field of shape {field.shape} does not fit {d} spacing(s): "
                            f"expected (*leading, {d}, *spatial) with {d} spatial axes")
    return sum(np.gradient(np.take(field, i, axis=-d - 1), steps[i], axis=i - d, edge_order=2)
               for i in range(d))


# The metrics with signature (pred, true, *, n_spatial) -> array of shape `leading`.
METRICS: dict[str, Callable[..., np.ndarray]] = {
    "relative_l2": relative_l2,
    "nrmse": nrmse,
    "rmse": rmse,
    "max_error": max_error,
    "vrmse": vrmse,
}


def integral_drift(frames, axes: Sequence[np.ndarray]) -> np.ndarray:
    """Largest change of the domain integral over time, relative to the integral's scale.

    frames: (*leading, n_times, *spatial) on the node grid given by `axes`; the integral is the
    trapezoidal rule. Returns max_t |Q(t) - Q(0)| / max(|Q(0)|, RMS of the initial field · |domain|),
    shape `leading`: a physics check of a prediction for a quantity the PDE conserves.
    """
    frames = np.asarray(frames, dtype=np.float64)
    q = frames
    for axis in reversed(axes):  # integrate the trailing axes one at a time
        q = np.trapezoid(q, x=axis, axis=-1)
    volume = prod(float(a[-1] - a[0]) for a in axes)
    n_spatial = len(axes)
    rms0 = np.sqrt(np.mean(frames[..., 0, *([slice(None)] * n_spatial)] ** 2, axis=tuple(range(-n_spatial, 0))))
    scale = np.maximum(np.abs(q[..., 0]), rms0 * volume)
    return np.max(np.abs(q - q[..., :1]), axis=-1) / np.maximum(scale, RELATIVE_EPS)


def evaluate_all(pred, true, boundary_mask=None, *, n_spatial: int) -> dict[str, np.ndarray]:
    """Every metric of `METRICS`, the Fourier bands as 'fourier_low/mid/high', and 'boundary_rmse'
    when a mask is given; each value has shape `leading`, left for the caller to average."""
    results = {name: metric(pred, true, n_spatial=n_spatial) for name, metric in METRICS.items()}
    bands = fourier_band_rmse(pred, true, n_spatial=n_spatial)
    results.update({f"fourier_{name}": value for name, value in bands.items()})
    if boundary_mask is not None:
        if np.ndim(boundary_mask) != n_spatial:
            raise SurrolabError(f"boundary_mask has {np.ndim(boundary_mask)} axes but n_spatial={n_spatial}")
        results["boundary_rmse"] = boundary_rmse(pred, true, boundary_mask)
    return results
