"""Errors and checks of a rollout against the stored truth on the dataset's grid, for the harness (`harness.py`).

A rollout is (N, T, C, *spatial) in the channel layout of `schema.read_fields`. Errors are taken per field, over
all of its components (a vector's error is the norm of the error vector), and the headline number is their mean
over the fields, so fields in different units are never added together. `inside` (N, *spatial) says which grid
nodes count: all of them on a grid dataset, the nodes inside each sample's fluid on a mesh dataset's grid (the
harness scores a mesh dataset on its meshes instead: `mesh_scoring.py`, which shares `RolloutErrors` and `Scores`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import RegularGridInterpolator

from surrolab.benchmarks.metrics import (divergence_rms, evaluate_all, gradient_rms, integral_drift, mask_boundary,
                                         relative_l2)
from surrolab.datasets.interpolate import grid_interpolation
from surrolab.solvers.trajectory import MeshGeometry, Trajectory


def field_channels(description) -> dict[str, slice]:
    """Each field's channels in the layout of `schema.read_fields` (a vector's components are adjacent)."""
    out, start = {}, 0
    for spec in description.fields:
        n = description.spatial_dim ** spec.order
        out[spec.name] = slice(start, start + n)
        start += n
    return out


@dataclass(frozen=True)
class RolloutErrors:
    """Relative L2 of (N, T, C, *spatial) frames against the truth, per field over all its components."""

    total: float  # mean over the fields of the space-time error (mean over the trajectories)
    curve: list[float]  # per frame: mean over the trajectories and the fields
    per_field: dict[str, float]  # field -> space-time error, mean over the trajectories


def rollout_errors(pred: np.ndarray, true: np.ndarray, fields: dict[str, slice], inside: np.ndarray) -> RolloutErrors:
    """`inside` (N, *spatial) bool: the grid nodes that count (all of them in a grid dataset)."""
    n, n_times = true.shape[:2]
    n_spatial = true.ndim - 3
    per_field, curves = {}, []
    for name, channels in fields.items():
        p, t = pred[:, :, channels], true[:, :, channels]  # (N, T, k, *spatial)
        k = p.shape[2]
        # space-time: frames and components together are the vector (N, T k, *spatial)
        total = relative_l2(p.reshape(n, n_times * k, *p.shape[3:]), t.reshape(n, n_times * k, *t.shape[3:]),
                            n_spatial=n_spatial, mask=inside, component_axis=1)  # (N,)
        per_field[name] = float(total.mean())
        curves.append(relative_l2(p, t, n_spatial=n_spatial, mask=inside[:, None], component_axis=2))  # (N, T)
    curve = np.mean(curves, axis=(0, 1))
    return RolloutErrors(total=float(np.mean(list(per_field.values()))), curve=[float(c) for c in curve],
                         per_field=per_field)


def divergence_check(pred: np.ndarray, true: np.ndarray, description, inside: np.ndarray) -> dict[str, float] | None:
    """For a vector field named `velocity`: ||div u|| / ||grad u|| over the frames and the interior fluid
    nodes (whose grid neighbours all lie in the fluid), for the prediction and for the stored truth, each
    relative to its own gradient (the solver's `relative_divergence` diagnostic, on the grid), mean over the
    trajectories. None for a dataset without such a field.

    The truth is the solver's (weakly divergence-free) field interpolated onto the grid, so its number is the
    floor this finite-difference check reaches on this grid; a prediction is judged against it. The ratio
    does not see the amplitude (a prediction too weak by half scores as its shape does): the errors do."""
    spec = next((f for f in description.fields if f.name == "velocity" and f.order == 1), None)
    if spec is None:
        return None
    channels = field_channels(description)["velocity"]
    spacing = [float(a[1] - a[0]) for a in description.geometry.axes]
    mask = inside[:, None]  # (N, 1, *spatial) against frames (N, T, *spatial)

    def pooled(values: np.ndarray) -> np.ndarray:  # RMS over the frames of per-frame RMS values: (N,)
        return np.sqrt(np.mean(values**2, axis=1))

    def relative(frames: np.ndarray) -> float:
        u = frames[:, :, channels]  # (N, T, dim, *spatial)
        scale = np.maximum(pooled(gradient_rms(u, spacing, mask)), 1e-30)
        return float(np.mean(pooled(divergence_rms(u, spacing, mask)) / scale))

    return {"prediction": relative(pred), "truth": relative(true)}


@dataclass(frozen=True)
class Scores:
    errors: RolloutErrors
    metrics: dict[str, float]  # each metric's mean over the fields
    field_metrics: dict[str, dict[str, float]]
    divergence: dict[str, float] | None
    forces: dict | None = None  # mesh scoring only (`mesh_scoring.py`)
    band: dict | None = None  # mesh scoring only


def score_prediction(pred: np.ndarray, true: np.ndarray, description, inside: np.ndarray) -> Scores:
    """Every error and check of a rollout (N, T, C, *spatial) against the truth, counted where `inside`
    (N, *spatial) is True; the boundary RMSE takes the nodes of the domain's edge (`mask_boundary`:
    the grid's boundary for a grid dataset, the fluid's for a mesh dataset)."""
    fields = field_channels(description)
    n_spatial = true.ndim - 3
    boundary = mask_boundary(inside, n_spatial)[:, None]  # (N, 1, *spatial)
    per_field = {}
    for name, channels in fields.items():
        scores = evaluate_all(pred[:, :, channels], true[:, :, channels], boundary, n_spatial=n_spatial,
                              mask=inside[:, None], component_axis=2)  # each (N, T)
        per_field[name] = {k: float(np.mean(v)) for k, v in scores.items()}
    names = next(iter(per_field.values()))
    metrics = {k: float(np.mean([m[k] for m in per_field.values()])) for k in names}
    return Scores(errors=rollout_errors(pred, true, fields, inside), metrics=metrics, field_metrics=per_field,
                  divergence=divergence_check(pred, true, description, inside))



class GridScoring:
    """The scoring space of a grid dataset (and of a mesh dataset's grid): frames (N, T', C, *spatial) aligned
    with the truth's frames `start:`, counted where `inside` (N, *spatial) is True. The interface the harness
    asks of a scoring space (`mesh_scoring.MeshScoring` is the other)."""

    scored_on = "grid"

    def __init__(self, description, truth: np.ndarray, inside: np.ndarray):
        self.description, self.grid_truth, self.inside = description, truth, inside
        self.fields = field_channels(description)

    def solver_frames(self, trajectory, i: int) -> np.ndarray:
        return on_dataset_grid(self.description, trajectory)

    def from_grid(self, frames: np.ndarray) -> np.ndarray:
        return frames

    def errors(self, frames, start: int) -> RolloutErrors:
        return rollout_errors(np.asarray(frames), self.grid_truth[:, start:], self.fields, self.inside)

    def scores(self, frames, start: int) -> Scores:
        return score_prediction(np.asarray(frames), self.grid_truth[:, start:], self.description, self.inside)

    def drift(self, frames, name: str) -> float:
        channel = list(self.description.channel_names).index(name)
        return float(np.mean(integral_drift(np.asarray(frames)[:, :, channel], self.description.geometry.axes)))


# -- solver runs on the dataset's grid -------------------------------------------------------------------
def upsample(frames: np.ndarray, coarse_axes, fine_axes) -> np.ndarray:
    """Linear interpolation of (..., *spatial) frames from a coarse grid to a fine one (second order,
    like the P1 solution it stands for)."""
    n_spatial = len(coarse_axes)
    lead = frames.shape[:-n_spatial]
    flat = frames.reshape(-1, *frames.shape[-n_spatial:])
    points = np.stack(np.meshgrid(*fine_axes, indexing="ij"), axis=-1)
    out = np.stack([RegularGridInterpolator(coarse_axes, f)(points) for f in flat])
    return out.reshape(*lead, *points.shape[:-1])


def fields_to_channels(description, fields: dict[str, np.ndarray], n_spatial: int | None = None) -> np.ndarray:
    """field name -> (T, *spatial[, dim...]) on any grid, to (T, C, *spatial) in the channel order of
    `schema.read_fields` (the inverse of `schema.channels_to_fields` with a time axis). `n_spatial`: the node axes
    (default the dataset's dimension; 1 for fields at a mesh's vertices, (T, N[, dim...]) -> (T, C, N))."""
    nd = description.spatial_dim if n_spatial is None else n_spatial
    parts = []
    for spec in description.fields:
        arr = np.asarray(fields[spec.name])
        parts.append(np.moveaxis(arr.reshape(*arr.shape[:1 + nd], -1), -1, 1))  # components become channels
    return np.concatenate(parts, axis=1)


def on_dataset_grid(description, trajectory: Trajectory) -> np.ndarray:
    """A solver run's fields as (T, C, *spatial) on the dataset's grid: a mesh run by P1 interpolation
    in its own cells (0 outside its mesh, as the dataset writer does), a coarser grid run linearly."""
    geometry, axes = trajectory.geometry, description.geometry.axes
    if isinstance(geometry, MeshGeometry):
        to_grid = grid_interpolation(geometry, axes)
        return fields_to_channels(description, {k: to_grid(v, node_axis=1) for k, v in trajectory.fields.items()})
    frames = fields_to_channels(description, trajectory.fields)
    if geometry.shape != description.geometry.shape:
        frames = upsample(frames, geometry.axes, axes)
    return frames


__all__ = ["GridScoring", "RolloutErrors", "Scores", "divergence_check", "field_channels", "fields_to_channels",
           "on_dataset_grid", "rollout_errors", "score_prediction", "upsample"]
