"""The comparison harness: surrogates against the solver, on the same trajectories, on this machine.

For each test trajectory the solver is run again from its initial state (timed after a warm-up run),
then coarsened in mesh and time step (the same problem at factors 2, 4, ...), and every surrogate
is rolled out from the same first frames (timed after a warm-up). Reported per model: relative L2
one step ahead (teacher forcing) and over the rollout, the error at every rollout step, the metrics
of `metrics.evaluate_all`, each per field and averaged over the fields, and three speed figures:

- speed-up = solver seconds per trajectory / surrogate seconds per trajectory (full-resolution solver);
- speed-up at matched error: against the cheapest coarsened solver whose rollout error is still at or
  below the surrogate's (the comparison most published claims leave out);
- break-even: the number of queries after which data generation plus training is paid back by the
  time each query saves (None when a query saves nothing).

Errors are taken per field, over all of its components (a vector's error is the norm of the error vector),
and the headline number is their mean over the fields, so fields in different units (velocity in m/s,
pressure in Pa) are never added together. Everything is compared on the dataset's grid. On a mesh dataset
(the flow families: fields on a per-sample mesh, interpolated onto the grid) only the grid nodes inside the
sample's fluid count (`schema.read_mask`): the others hold no solution and enter no norm, mean or maximum.
Solver runs on a mesh (`Trajectory.geometry` a `MeshGeometry`, possibly coarser than the data's) are
interpolated onto the grid the way the dataset writer does it (`grid_interpolation`), then compared frame
by frame with the stored truth; solver runs on a coarser grid are interpolated linearly.

A coarsening factor that the problem refuses (a time step count it does not divide, a mesh too coarse for
the sample's geometry) or whose run fails or diverges is reported as unavailable with the reason, never
as a crash. Physics checks of the prediction: for fields the PDE conserves (`Problem.conserved`), the drift
of their domain integral over the rollout beside that of the stored truth; for a dataset with a vector field
named `velocity`, the divergence of the predicted velocity on the grid's interior fluid nodes beside that of
the stored truth, each relative to its own velocity gradient (`metrics.divergence_rms`).
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.interpolate import RegularGridInterpolator

from surrolab.benchmarks.metrics import (divergence_rms, evaluate_all, gradient_rms, integral_drift, mask_boundary,
                                         relative_l2)
from surrolab.datasets import schema
from surrolab.datasets.interpolate import grid_interpolation
from surrolab.errors import SurrolabError, check_positive_int
from surrolab.provenance import hardware
from surrolab.registry import get_problem
from surrolab.solvers.trajectory import MeshGeometry, Trajectory
from surrolab.surrogates.base import load_checkpoint, model_from_checkpoint
from surrolab.surrogates.rollout import rollout

InitialStates = Callable[[object, int], list[dict[str, np.ndarray]]]  # (config, factor) -> one per trajectory


@dataclass(frozen=True)
class CompareConfig:
    split: str = "test"
    max_trajectories: int = 8
    coarsen_factors: tuple[int, ...] = (2, 4, 8)
    device: str = "cpu"

    def __post_init__(self):
        check_positive_int("max_trajectories", self.max_trajectories)
        for f in self.coarsen_factors:
            check_positive_int("coarsen_factors", f, minimum=2)


@dataclass
class SolverResult:
    label: str
    factor: int
    seconds_per_trajectory: float
    rollout_rel_l2: float  # inf when there is no result (`note` says why)
    error_curve: list[float] = field(default_factory=list)
    field_rel_l2: dict[str, float] = field(default_factory=dict)
    note: str = ""  # "" for a result; "unavailable: <reason>" or "diverged: <reason>" otherwise


@dataclass
class ModelResult:
    label: str
    model: str
    n_parameters: int
    seconds_per_trajectory: float
    one_step_rel_l2: float
    rollout_rel_l2: float
    error_curve: list[float]
    metrics: dict[str, float]  # each metric's mean over the fields
    speedup: float
    matched_solver: str
    speedup_at_matched_error: float
    matched_error_bound: str  # "matched", "solver more accurate" (the coarsest run is still better)
    break_even_queries: float | None
    break_even_at_matched_error: float | None
    conservation: dict[str, dict[str, float]]  # conserved field -> integral drift of truth and prediction
    field_one_step_rel_l2: dict[str, float] = field(default_factory=dict)
    field_rel_l2: dict[str, float] = field(default_factory=dict)
    field_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    divergence: dict[str, float] | None = None  # relative divergence of the prediction and of the truth


# -- errors on the dataset's grid -------------------------------------------------------------------
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


# -- the solver ---------------------------------------------------------------------------------------
def upsample(frames: np.ndarray, coarse_axes, fine_axes) -> np.ndarray:
    """Linear interpolation of (..., *spatial) frames from a coarse grid to a fine one (second order,
    like the P1 solution it stands for)."""
    n_spatial = len(coarse_axes)
    lead = frames.shape[:-n_spatial]
    flat = frames.reshape(-1, *frames.shape[-n_spatial:])
    points = np.stack(np.meshgrid(*fine_axes, indexing="ij"), axis=-1)
    out = np.stack([RegularGridInterpolator(coarse_axes, f)(points) for f in flat])
    return out.reshape(*lead, *points.shape[:-1])


def fields_to_channels(description, fields: dict[str, np.ndarray]) -> np.ndarray:
    """field name -> (T, *spatial[, dim...]) on any grid, to (T, C, *spatial) in the channel order of
    `schema.read_fields` (the inverse of `schema.channels_to_fields` with a time axis)."""
    nd = description.spatial_dim
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


def initial_states(problem, description, first_frames: np.ndarray, inside: np.ndarray, dataset_seed: int,
                   sample_seeds: np.ndarray) -> InitialStates:
    """What each trajectory's solve starts from, for a config coarsened by `factor`. `first_frames` (N, C,
    *spatial) are the stored ones, `inside` (N, *spatial) the grid nodes in each sample's domain.

    Grid problems: the stored first frame, taken at every factor-th node on a coarsened grid. Mesh problems
    take their initial state on the grid (`Problem.initial_state`; the flow families: rest), which is not the
    stored first frame outside the fluid: it is drawn again as generation drew it (`default_rng([seed, i])`,
    parameters first), and checked against the stored frame inside the fluid."""
    if problem.geometry_type != "mesh":
        def from_data(config, factor: int) -> list[dict[str, np.ndarray]]:
            stride = (slice(None), slice(None)) + (slice(None, None, factor),) * description.spatial_dim
            return [schema.channels_to_fields(description, x0) for x0 in first_frames[stride]]
        return from_data

    def drawn(config, factor: int) -> list[dict[str, np.ndarray]]:
        states = []
        for s in sample_seeds:
            rng = np.random.default_rng([dataset_seed, int(s)])
            problem.sample_parameters(rng)
            states.append(problem.initial_state(config, rng))
        if factor == 1:
            for state, x0, fluid, seed in zip(states, first_frames, inside, sample_seeds):
                frame = fields_to_channels(description, {k: v[None] for k, v in state.items()})[0]  # (C, *spatial)
                gap = np.max(np.abs(frame - x0) * fluid)
                if gap > 1e-6 * max(1.0, float(np.max(np.abs(x0)))):
                    raise SurrolabError(f"the initial state problem {problem.name!r} draws for sample seed {seed} "
                                        f"differs from the stored first frame by {gap:.3g} in the fluid: the dataset "
                                        "was made by another version of the problem; generate it again")
        return states
    return drawn


def _time_solver(problem, config, description, initial: list[dict[str, np.ndarray]],
                 params: np.ndarray) -> tuple[np.ndarray, float]:
    """Solve every trajectory from its initial state; returns (N, T, C, *spatial) on the dataset's grid and
    the solver's seconds per trajectory (the solve alone, as at generation; not the interpolation)."""
    names = description.parameter_names
    runs, seconds = [], []
    problem.solve(config, dict(zip(names, params[0])), initial[0])  # warm-up
    for x0, p in zip(initial, params):
        tick = time.perf_counter()
        trajectory = problem.solve(config, dict(zip(names, p)), x0)
        seconds.append(time.perf_counter() - tick)
        frames = on_dataset_grid(description, trajectory)
        if not np.all(np.isfinite(frames)):
            raise FloatingPointError("the solution has non-finite values")
        runs.append(frames)
    return np.stack(runs), float(np.mean(seconds))


def run_solvers(problem, config, description, truth: np.ndarray, params: np.ndarray, factors: tuple[int, ...],
                inside: np.ndarray, initial: InitialStates) -> list[SolverResult]:
    """The full solver and its coarsened versions, each compared with the stored truth inside `inside`."""
    fields = field_channels(description)
    full, seconds = _time_solver(problem, config, description, initial(config, 1), params)
    err = rollout_errors(full[:, 1:], truth[:, 1:], fields, inside)
    results = [SolverResult("solver", 1, seconds, err.total, err.curve, err.per_field)]
    for factor in factors:
        label = f"solver coarsened x{factor}"
        try:
            coarse_cfg = problem.coarsen(config, factor)
            coarse, seconds = _time_solver(problem, coarse_cfg, description, initial(coarse_cfg, factor), params)
        except SurrolabError as error:  # refused: not divisible, mesh too coarse, a failed or non-finite step
            results.append(SolverResult(label, factor, float("nan"), float("inf"), note=f"unavailable: {error}"))
            continue
        except FloatingPointError as error:  # a time step past the stability limit: a result, not a failure
            results.append(SolverResult(label, factor, float("nan"), float("inf"), note=f"diverged: {error}"))
            continue
        err = rollout_errors(coarse[:, 1:], truth[:, 1:], fields, inside)
        results.append(SolverResult(label, factor, seconds, err.total, err.curve, err.per_field))
    return results


# -- the surrogates -----------------------------------------------------------------------------------
def run_model(run: str | Path, description, truth: np.ndarray, params: np.ndarray, device: str, inside: np.ndarray):
    """Roll a checkpoint out over the test trajectories: (prediction, s/traj, one-step errors, payload, n_params).

    `inside` (N, 1, 1, *spatial) masks the grid nodes outside the fluid: the rollout sets the prediction
    there to 0, as the data are, and no error is counted there."""
    payload = load_checkpoint(run)
    model, normalizer = model_from_checkpoint(payload, description, kinds=("grid",))
    model, normalizer = model.to(device), normalizer.to(device)
    h, n_times = model.history, truth.shape[1]
    if n_times <= h:
        raise SurrolabError(f"trajectories have {n_times} frames; the model needs more than history={h}")
    x = torch.as_tensor(truth, dtype=torch.float32, device=device)
    p = torch.as_tensor(params, dtype=torch.float32, device=device)
    m = None if inside.all() else torch.as_tensor(inside, device=device)  # a grid dataset has no outside
    rollout(model, normalizer, x[:1, :h], p[:1], n_times, None if m is None else m[:1])  # warm-up
    preds, seconds = [], []
    for i in range(len(truth)):  # one trajectory at a time, as the solver is timed
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        tick = time.perf_counter()
        preds.append(rollout(model, normalizer, x[i:i + 1, :h], p[i:i + 1], n_times, None if m is None else m[i:i + 1]))
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - tick)
    pred = torch.cat(preds).cpu().numpy() * inside
    with torch.no_grad():  # one step ahead from true frames (teacher forcing), every step at once
        n_spatial = truth.ndim - 3
        z = normalizer.encode_fields(x, n_spatial)
        zp = normalizer.encode_parameters(p)
        one_step = []
        for t in range(h, n_times):
            nxt = normalizer.decode_fields(model(z[:, t - h:t], zp)[:, 0], n_spatial)
            one_step.append(nxt.cpu().numpy())
    one = np.stack(one_step, axis=1) * inside
    one_err = rollout_errors(one, truth[:, h:], field_channels(description), inside[:, 0, 0])
    return pred, float(np.mean(seconds)), one_err, payload, sum(q.numel() for q in model.parameters())


def _matched(solvers: list[SolverResult], error: float) -> tuple[SolverResult, str]:
    """The cheapest solver whose rollout error is at or below `error`."""
    ok = [s for s in solvers if s.rollout_rel_l2 <= error]
    best = min(ok, key=lambda s: s.seconds_per_trajectory)
    coarsest = max((s for s in solvers if math.isfinite(s.rollout_rel_l2)), key=lambda s: s.factor)
    return best, ("solver more accurate" if best is coarsest and best.factor > 1 else "matched")


def _break_even(cost: float, solver_s: float, model_s: float) -> float | None:
    saved = solver_s - model_s
    return math.ceil(cost / saved) if saved > 0 else None


def compare(data: str | Path, runs: list[str | Path], config: CompareConfig = CompareConfig()) -> dict:
    """Run the comparison and return the report as a JSON-ready dict."""
    with schema.open_dataset(data) as f:
        description = schema.read_description(f)
        if description.geometry_type == "particles":
            raise SurrolabError(f"{data} is a particle dataset: `compare` scores grid and mesh surrogates; GNS and "
                                "GIOROM are scored against the MPM solver by `python -m surrolab.benchmarks.giorom_vs_gns`")
        idx = schema.read_split(f, config.split)[: config.max_trajectories]
        if len(idx) == 0:
            raise SurrolabError(f"split {config.split!r} of {data} is empty: generate more samples")
        truth = schema.read_fields(f, description, idx)
        # (N, *spatial): grid nodes inside the fluid (all of them in a grid dataset); a mesh dataset stores 0
        # outside, where no error is counted and the rollout keeps its prediction at 0
        inside = schema.read_mask(f, idx)
        params = schema.read_parameters(f, description, idx)
        problem_config = json.loads(f["provenance"].attrs["problem_config"])
        dataset_seed = int(f["provenance"].attrs.get("seed", 0))
        sample_seeds = f["samples/seed"][()][idx]
        generation_seconds = float(f["samples/wall_time"][()].sum())
    for run in runs:  # a checkpoint this harness cannot run fails before the solvers' minutes, not after
        model_from_checkpoint(load_checkpoint(run), description, kinds=("grid",))
    problem = get_problem(description.problem)
    config_obj = problem.make_config(**problem_config)
    initial = initial_states(problem, description, truth[:, 0], inside, dataset_seed, sample_seeds)
    solvers = run_solvers(problem, config_obj, description, truth, params, config.coarsen_factors, inside, initial)
    full = solvers[0]
    models = []
    channels = description.channel_names

    def drift(frames: np.ndarray, name: str) -> float:
        return float(np.mean(integral_drift(frames[:, :, channels.index(name)], description.geometry.axes)))

    for run in runs:
        pred, seconds, one_step, payload, n_params = run_model(run, description, truth, params, config.device,
                                                               inside[:, None, None])
        h = payload["constructor"]["history"]
        scores = score_prediction(pred[:, h:], truth[:, h:], description, inside)
        err = scores.errors
        matched, bound = _matched(solvers, err.total)
        cost = generation_seconds + float(payload.get("train_seconds_total", payload.get("train_seconds", 0.0)))
        models.append(ModelResult(
            label=Path(run).name, model=payload["model"], n_parameters=n_params, seconds_per_trajectory=seconds,
            one_step_rel_l2=one_step.total, rollout_rel_l2=err.total, error_curve=[float("nan")] * h + err.curve,
            metrics=scores.metrics, speedup=full.seconds_per_trajectory / seconds, matched_solver=matched.label,
            speedup_at_matched_error=matched.seconds_per_trajectory / seconds, matched_error_bound=bound,
            break_even_queries=_break_even(cost, full.seconds_per_trajectory, seconds),
            break_even_at_matched_error=_break_even(cost, matched.seconds_per_trajectory, seconds),
            conservation={c: {"truth": drift(truth, c), "prediction": drift(pred, c)} for c in problem.conserved},
            field_one_step_rel_l2=one_step.per_field, field_rel_l2=err.per_field, field_metrics=scores.field_metrics,
            divergence=scores.divergence))
    return {"dataset": str(data), "problem": description.problem, "split": config.split,
            "trajectories": [int(i) for i in idx], "times": [float(t) for t in description.times],
            "hardware": hardware(), "device": config.device, "generation_seconds": generation_seconds,
            "geometry_type": description.geometry_type,
            "fields": {s.name: {"order": s.order, "units": s.units,
                                "channels": list(channels[field_channels(description)[s.name]])}
                       for s in description.fields},
            "fluid_fraction": float(inside.mean()),
            "solvers": [dataclasses.asdict(s) for s in solvers], "models": [dataclasses.asdict(m) for m in models]}
