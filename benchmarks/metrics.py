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

Two optional keywords widen this, and leave every number unchanged when they are not given:

- ``component_axis``: a leading axis holding the components of one vector (or tensor) field. The
  metric then treats the field as one quantity: squared errors are summed over the components at each
  node (|e|^2 = sum_c e_c^2) before the spatial reduction, and that axis is removed from the result. A
  length-1 axis gives the scalar numbers.
- ``mask``: boolean, broadcastable to the fields' shape without the component axis (for example
  ``spatial``, or ``(batch, 1, *spatial)``). Only the nodes where it is True count: a node outside
  enters neither a norm, a mean, a maximum nor a node count, so the values there are irrelevant. A mesh
  dataset's grid part is masked this way (grid nodes outside the fluid hold no solution). Every sample
  must keep at least one node.

Definitions (e = pred - true; sums, means and norms over the counted nodes; N of them; |.| the
component norm at a node)
----------------------------------------------------------------------------------------
relative_l2   ||e||_2 / max(||true||_2, 1e-12). The floor only matters for an all-zero truth;
              otherwise the ratio is exactly invariant under scaling both fields.
nrmse         PDEBench's nRMSE, ||e||_2 / ||true||_2, which is the same number as relative_l2
              (the 1/N of both root-mean-squares cancels), so it is defined as relative_l2.
rmse          sqrt(mean(|e|^2)).
max_error     max |e|.
boundary_rmse sqrt(mean(|e|^2)) over the nodes where a boolean mask is True; PDEBench's bRMSE takes
              the domain boundary, given by ``domain_boundary_mask`` (``mask_boundary`` of a fluid mask
              for a masked domain: the same nodes when the mask is all True).
fourier_band_rmse  PDEBench's fRMSE bands, see that function.
vrmse         The Well's VRMSE: sqrt(mean(|e|^2) / (mean(|true - mean(true)|^2) + 1e-7)), the RMSE
              over the spatial standard deviation of the truth; predicting the mean scores 1.
divergence    a physics check on a predicted vector field, not an error between two fields
              (`divergence`, `divergence_rms` against `gradient_rms`).

References: M. Takamoto et al., "PDEBench: An Extensive Benchmark for Scientific Machine Learning",
NeurIPS 2022 Datasets and Benchmarks (nRMSE, bRMSE, fRMSE with iLow=4, iHigh=12);
R. Ohana et al., "The Well: a Large-Scale Collection of Diverse Physics Simulations for Machine
Learning", NeurIPS 2024 Datasets and Benchmarks (VRMSE). Implemented from these definitions.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import prod

import numpy as np

from surrolab.errors import SurrolabError
from surrolab.solvers.trajectory import domain_boundary_mask  # noqa: F401  (re-exported for callers)

RELATIVE_EPS = 1e-12  # floor of ||true||_2 in relative_l2
VRMSE_EPS = 1e-7  # added to the variance of the truth, as in The Well

# Fourier bands by integer radial index floor(|k|), |k| = sqrt(k_1^2 + ... + k_d^2) in integer
# frequency indices; PDEBench's iLow=4, iHigh=12. Closed intervals of the radial index.
FOURIER_BANDS = {"low": (0, 4), "mid": (5, 12), "high": (13, np.inf)}


@dataclass(frozen=True)
class _Pair:
    """pred and true brought to one layout: (*leading, k, *spatial), k components (1 for a scalar)."""

    error: np.ndarray  # pred - true, zero at the nodes that do not count
    true: np.ndarray  # zero at the nodes that do not count
    counted: np.ndarray  # (*leading, 1, *spatial) bool, broadcast: the nodes that count
    nodes: np.ndarray  # (*leading, 1, 1 ...) number of counted nodes, kept dims for broadcasting
    spatial: tuple[int, ...]  # the spatial axes (negative)
    field_axes: tuple[int, ...]  # the component axis and the spatial axes (negative)

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Sum over components and counted nodes: shape `leading`."""
        return np.sum(values, axis=self.field_axes)


def _prepare(pred, true, n_spatial: int, mask=None, component_axis: int | None = None) -> _Pair:
    """Both fields as float64 arrays of one layout, with the counted nodes (module docstring)."""
    pred, true = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if pred.shape != true.shape:
        raise SurrolabError(f"pred has shape {pred.shape} but true has shape {true.shape}; they must match")
    n_leading = pred.ndim - n_spatial
    if not 1 <= n_spatial <= pred.ndim:
        raise SurrolabError(f"n_spatial={n_spatial!r} is not allowed for {pred.ndim}-d fields: "
                            f"it must be in [1, {pred.ndim}]")
    if component_axis is None:
        pred, true = np.expand_dims(pred, -n_spatial - 1), np.expand_dims(true, -n_spatial - 1)
    else:
        if not -pred.ndim <= component_axis < pred.ndim or component_axis % pred.ndim >= n_leading:
            raise SurrolabError(f"component_axis={component_axis!r} is not a leading axis of fields of shape "
                                f"{pred.shape} with n_spatial={n_spatial}")
        pred = np.moveaxis(pred, component_axis, -n_spatial - 1)
        true = np.moveaxis(true, component_axis, -n_spatial - 1)
    node_shape = pred.shape[:-n_spatial - 1] + pred.shape[-n_spatial:]  # without the component axis
    if mask is None:
        counted = np.ones((1,) * (len(node_shape) + 1), dtype=bool)
    else:
        mask = np.asarray(mask)
        if mask.dtype != bool:
            raise SurrolabError(f"mask must be boolean, got {mask.dtype}")
        try:
            counted = np.expand_dims(np.broadcast_to(mask, node_shape), -n_spatial - 1)
        except ValueError:
            raise SurrolabError(f"mask of shape {mask.shape} does not broadcast to the fields' nodes "
                                f"{node_shape}") from None
    spatial = tuple(range(-n_spatial, 0))
    nodes = np.sum(np.broadcast_to(counted, (*node_shape[:-n_spatial], 1, *node_shape[-n_spatial:])),
                   axis=spatial, keepdims=True)
    if np.any(nodes == 0):
        raise SurrolabError("mask leaves a sample without any node to compare")
    return _Pair(error=np.where(counted, pred - true, 0.0), true=np.where(counted, true, 0.0), counted=counted,
                 nodes=nodes, spatial=spatial, field_axes=(-n_spatial - 1, *spatial))


def _count(pair: _Pair) -> np.ndarray:
    """The number of counted nodes per sample: shape `leading`."""
    return np.squeeze(pair.nodes, axis=pair.field_axes)


def relative_l2(pred, true, *, n_spatial: int, mask=None, component_axis: int | None = None) -> np.ndarray:
    """||pred - true||_2 / max(||true||_2, RELATIVE_EPS) over the counted nodes (and components)."""
    pair = _prepare(pred, true, n_spatial, mask, component_axis)
    return np.sqrt(pair.sum(pair.error**2)) / np.maximum(np.sqrt(pair.sum(pair.true**2)), RELATIVE_EPS)


def lumped_l2(values, mass, *, component_axis: int | None = None) -> np.ndarray:
    """The FE L2 norm of fields at the vertices of a mesh, with the lumped P1 mass m (`MeshGeometry.lumped_mass`):
    sqrt(Σ_i m_i |v_i|²). values: (*leading, N), or with `component_axis` one leading axis of components summed
    at each node; mass: (N,). Returns `leading` (without the component axis). Unlike the plain vector norm it
    does not weigh a refined region by its number of nodes; it differs from ∫ v_h² by O(h²)."""
    squared = np.asarray(values, dtype=np.float64) ** 2
    if component_axis is not None:
        squared = squared.sum(axis=component_axis)
    return np.sqrt(squared @ np.asarray(mass, dtype=np.float64))


def nrmse(pred, true, *, n_spatial: int, mask=None, component_axis: int | None = None) -> np.ndarray:
    """PDEBench's nRMSE, ||pred - true||_2 / ||true||_2 per sample and channel.

    RMSE(pred, true) / RMS(true) is the same ratio as relative L2 (the 1/N under both roots
    cancels), so this is `relative_l2`; it is kept under PDEBench's name for their tables.
    """
    return relative_l2(pred, true, n_spatial=n_spatial, mask=mask, component_axis=component_axis)


def rmse(pred, true, *, n_spatial: int, mask=None, component_axis: int | None = None) -> np.ndarray:
    """sqrt(mean(|pred - true|^2)) over the counted nodes; shape `leading`."""
    pair = _prepare(pred, true, n_spatial, mask, component_axis)
    return np.sqrt(pair.sum(pair.error**2) / _count(pair))


def max_error(pred, true, *, n_spatial: int, mask=None, component_axis: int | None = None) -> np.ndarray:
    """max |pred - true| over the counted nodes (|.| the norm over the components); shape `leading`."""
    pair = _prepare(pred, true, n_spatial, mask, component_axis)
    return np.max(np.sqrt(np.sum(pair.error**2, axis=pair.field_axes[0])), axis=pair.spatial)


def vrmse(pred, true, *, n_spatial: int, eps: float = VRMSE_EPS, mask=None,
          component_axis: int | None = None) -> np.ndarray:
    """The Well's VRMSE: sqrt(mean(|e|^2) / (var(true) + eps)), means over the counted nodes.

    var(true) = mean(|true - mean(true)|^2) is the spatial variance of each sample (summed over the
    components of a vector), so a prediction equal to the spatial mean of the truth scores 1 (up to
    eps), whatever the field's offset and scale.
    """
    pair = _prepare(pred, true, n_spatial, mask, component_axis)
    mean = np.sum(pair.true, axis=pair.spatial, keepdims=True) / pair.nodes  # per component
    deviation = np.where(pair.counted, pair.true - mean, 0.0)
    count = _count(pair)
    return np.sqrt((pair.sum(pair.error**2) / count) / (pair.sum(deviation**2) / count + eps))


def boundary_rmse(pred, true, boundary_mask, *, n_spatial: int | None = None,
                  component_axis: int | None = None) -> np.ndarray:
    """RMSE over the nodes where `boundary_mask` is True; errors elsewhere are ignored.

    `boundary_mask` is boolean; its trailing `n_spatial` axes are the spatial shape (n_spatial defaults
    to its ndim, a mask shared by every sample) and any axes before them broadcast against the leading
    axes (a mask per sample). PDEBench's bRMSE uses `domain_boundary_mask(spatial_shape)`.
    Returns shape `leading`.
    """
    mask = np.asarray(boundary_mask)
    if mask.dtype != bool or not mask.any():
        raise SurrolabError("boundary_mask must be a boolean array with at least one True node")
    n_spatial = mask.ndim if n_spatial is None else n_spatial
    shape = np.shape(pred)
    spatial_shape = shape[len(shape) - n_spatial:] if len(shape) >= n_spatial else None
    if mask.ndim < n_spatial or spatial_shape != mask.shape[mask.ndim - n_spatial:]:
        raise SurrolabError(f"boundary_mask has shape {mask.shape} but the fields' spatial shape is "
                            f"{shape[max(len(shape) - n_spatial, 0):]}")
    return rmse(pred, true, n_spatial=n_spatial, mask=mask, component_axis=component_axis)


def _radial_index(spatial_shape: Sequence[int]) -> np.ndarray:
    """floor(|k|) on the full FFT grid, with k_i the integer frequency indices of np.fft.fftfreq."""
    k = np.meshgrid(*(np.fft.fftfreq(n, d=1.0 / n) for n in spatial_shape), indexing="ij")
    return np.floor(np.sqrt(sum(k_i**2 for k_i in k)))


def fourier_band_rmse(pred, true, bands: Sequence[str] = ("low", "mid", "high"), *, n_spatial: int,
                      mask=None, component_axis: int | None = None) -> dict[str, np.ndarray]:
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

    With a `mask` the error is set to zero at the nodes that do not count and N² becomes N · N_counted,
    so the identity above still holds with the masked RMSE (the bands then also see the mask's edge).
    The power of a vector's components is summed.

    Returns {band name: array of shape `leading`} for the requested `bands`.
    """
    unknown = [name for name in bands if name not in FOURIER_BANDS]
    if unknown:
        raise SurrolabError(f"unknown Fourier band(s) {unknown}; available: {', '.join(FOURIER_BANDS)}")
    pair = _prepare(pred, true, n_spatial, mask, component_axis)
    spatial_shape = pair.error.shape[-n_spatial:]
    power = np.sum(np.abs(np.fft.fftn(pair.error, axes=pair.spatial)) ** 2, axis=pair.field_axes[0])
    radius = _radial_index(spatial_shape)  # (*spatial)
    scale = np.sqrt(prod(spatial_shape) * _count(pair))
    result = {}
    for name in bands:
        low, high = FOURIER_BANDS[name]
        in_band = (radius >= low) & (radius <= high)
        result[name] = np.sqrt(power[..., in_band].sum(axis=-1)) / scale
    return result


def divergence(vector_field, spacing: Sequence[float]) -> np.ndarray:
    """div u = sum_i d u_i / d x_i on a uniform grid, by numpy.gradient.

    `vector_field` has shape (*leading, d, *spatial) with d = len(spacing) spatial axes; component i
    is the velocity along spatial axis i, and spacing[i] is the grid step along that axis. Central
    differences in the interior and one-sided second-order ones at the edges (edge_order=2): the
    error is O(h^2) everywhere and the result is exact for quadratic fields. Every spatial axis
    needs at least 3 nodes. Returns shape (*leading, *spatial).
    """
    field = _vector_field(vector_field, spacing)
    d = len(spacing)
    return sum(np.gradient(np.take(field, i, axis=-d - 1), float(spacing[i]), axis=i - d, edge_order=2)
               for i in range(d))


def _vector_field(vector_field, spacing: Sequence[float]) -> np.ndarray:
    field = np.asarray(vector_field, dtype=np.float64)
    d = len(spacing)
    if d < 1 or field.ndim < d + 1 or field.shape[-d - 1] != d:
        raise SurrolabError(f"vector_field of shape {field.shape} does not fit {d} spacing(s): "
                            f"expected (*leading, {d}, *spatial) with {d} spatial axes")
    return field


def mask_boundary(mask, n_spatial: int) -> np.ndarray:
    """The nodes of `mask` (True: in the domain) with a grid neighbour (one step along an axis) outside it
    or beyond the grid's edge. For an all-True mask these are exactly `domain_boundary_mask`'s nodes.

    `mask` is boolean with `n_spatial` trailing spatial axes; leading axes are kept. Same shape out."""
    mask = np.asarray(mask, dtype=bool)
    boundary = np.zeros_like(mask)
    for axis in range(-n_spatial, 0):
        padded = np.pad(mask, [(0, 0)] * (mask.ndim + axis) + [(1, 1)] + [(0, 0)] * (-axis - 1))
        n = mask.shape[axis]
        for shift in (0, 2):  # the neighbour before and the one after
            boundary |= ~np.take(padded, range(shift, shift + n), axis=axis)
    return mask & boundary


def mask_interior(mask, n_spatial: int) -> np.ndarray:
    """The nodes of `mask` whose 2 · n_spatial grid neighbours all lie in it: where a central difference
    uses values inside the domain only."""
    return np.asarray(mask, dtype=bool) & ~mask_boundary(mask, n_spatial)


def divergence_rms(vector_field, spacing: Sequence[float], mask=None) -> np.ndarray:
    """RMS of div u over the interior nodes of `mask` (`mask_interior`; the grid's interior without one):
    a physics check of a predicted velocity, in units of u / length. Shape (*leading).

    Central differences only, so a divergence-free field scores its O(h^2) truncation error (zero for the
    fields the scheme differentiates exactly) and the values outside the domain are never read. `mask`
    has the spatial shape, or leading axes that broadcast against those of `vector_field` without its
    component axis."""
    d = len(spacing)
    div = divergence(vector_field, spacing)  # (*leading, *spatial)
    return _interior_rms(div, d, mask)


def gradient_rms(vector_field, spacing: Sequence[float], mask=None) -> np.ndarray:
    """RMS of |grad u| (the Frobenius norm of the velocity gradient) over the same nodes as
    `divergence_rms`: the scale that makes a divergence small or large. Shape (*leading)."""
    field = _vector_field(vector_field, spacing)
    d = len(spacing)
    squared = sum(np.gradient(np.take(field, i, axis=-d - 1), float(spacing[j]), axis=j - d, edge_order=2) ** 2
                  for i in range(d) for j in range(d))
    return _interior_rms(np.sqrt(squared), d, mask)


def _interior_rms(values: np.ndarray, n_spatial: int, mask) -> np.ndarray:
    inside = np.ones(values.shape[-n_spatial:], dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    interior = mask_interior(inside, n_spatial)
    return rmse(values, np.zeros_like(values), n_spatial=n_spatial, mask=interior)


# The metrics with signature (pred, true, *, n_spatial, mask=None, component_axis=None) -> array `leading`.
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


def evaluate_all(pred, true, boundary_mask=None, *, n_spatial: int, mask=None,
                 component_axis: int | None = None) -> dict[str, np.ndarray]:
    """Every metric of `METRICS`, the Fourier bands as 'fourier_low/mid/high', and 'boundary_rmse'
    when a boundary mask is given (counted where it and `mask` are both True); each value has shape
    `leading`, left for the caller to average."""
    options = dict(n_spatial=n_spatial, mask=mask, component_axis=component_axis)
    results = {name: metric(pred, true, **options) for name, metric in METRICS.items()}
    bands = fourier_band_rmse(pred, true, **options)
    results.update({f"fourier_{name}": value for name, value in bands.items()})
    if boundary_mask is not None:
        if np.ndim(boundary_mask) < n_spatial:
            raise SurrolabError(f"boundary_mask has {np.ndim(boundary_mask)} axes but n_spatial={n_spatial}")
        edge = np.asarray(boundary_mask) if mask is None else np.asarray(boundary_mask) & np.asarray(mask)
        results["boundary_rmse"] = boundary_rmse(pred, true, edge, n_spatial=n_spatial,
                                                 component_axis=component_axis)
    return results
