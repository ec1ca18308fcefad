"""The comparison harness: surrogates against the solver, on the same trajectories, on this machine.

For each test trajectory the solver is run again from its initial state (timed after a warm-up run),
then coarsened in mesh and time step (the same problem at factors 2, 4, ...), and every surrogate
is rolled out from the same first frames (timed after a warm-up). Reported per model: relative L2
one step ahead (teacher forcing) and over the rollout, the error at every rollout step, the metrics
of `metrics.evaluate_all`, and three speed figures:

- speed-up = solver seconds per trajectory / surrogate seconds per trajectory (full-resolution solver);
- speed-up at matched error: against the cheapest coarsened solver whose rollout error is still at or
  below the surrogate's (the comparison most published claims leave out);
- break-even: the number of queries after which data generation plus training is paid back by the
  time each query saves (None when a query saves nothing).

For fields the PDE conserves (`Problem.conserved`), the drift of their domain integral over the rollout
is reported for the prediction beside that of the stored truth.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.interpolate import RegularGridInterpolator

from surrolab.benchmarks.metrics import evaluate_all, integral_drift, relative_l2
from surrolab.datasets import schema
from surrolab.errors import SurrolabError, check_positive_int
from surrolab.provenance import hardware
from surrolab.registry import get_problem
from surrolab.surrogates.base import load_checkpoint, model_from_checkpoint
from surrolab.surrogates.rollout import rollout


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
    rollout_rel_l2: float
    error_curve: list[float] = field(default_factory=list)


@dataclass
class ModelResult:
    label: str
    model: str
    n_parameters: int
    seconds_per_trajectory: float
    one_step_rel_l2: float
    rollout_rel_l2: float
    error_curve: list[float]
    metrics: dict[str, float]
    speedup: float
    matched_solver: str
    speedup_at_matched_error: float
    matched_error_bound: str  # "matched", "solver more accurate" (the coarsest run is still better)
    break_even_queries: float | None
    break_even_at_matched_error: float | None
    conservation: dict[str, dict[str, float]]  # conserved field -> integral drift of truth and prediction


def _mean_rel_l2(pred: np.ndarray, true: np.ndarray) -> tuple[float, list[float]]:
    """Space-time relative L2 over (N, T, C, *spatial), and the per-frame curve (mean over N and C)."""
    n_spatial = pred.ndim - 3
    axes = tuple(range(3, 3 + n_spatial))
    curve = relative_l2(pred, true, n_spatial=n_spatial).mean(axis=(0, 2))
    total = np.sqrt(((pred - true) ** 2).sum(axis=(1, *axes)) / np.maximum((true ** 2).sum(axis=(1, *axes)), 1e-30))
    return float(total.mean()), [float(c) for c in curve]


def upsample(frames: np.ndarray, coarse_axes, fine_axes) -> np.ndarray:
    """Linear interpolation of (..., *spatial) frames from a coarse grid to a fine one (second order,
    like the P1 solution it stands for)."""
    n_spatial = len(coarse_axes)
    lead = frames.shape[:-n_spatial]
    flat = frames.reshape(-1, *frames.shape[-n_spatial:])
    points = np.stack(np.meshgrid(*fine_axes, indexing="ij"), axis=-1)
    out = np.stack([RegularGridInterpolator(coarse_axes, f)(points) for f in flat])
    return out.reshape(*lead, *points.shape[:-1])


def _time_solver(problem, config, description, initial: np.ndarray, params: np.ndarray) -> tuple[np.ndarray, float]:
    """Solve every trajectory from its initial frame (N, C, *spatial); returns (N, T, C, *spatial) and s/traj."""
    names = description.parameter_names
    runs, seconds = [], []
    problem.solve(config, dict(zip(names, params[0])), schema.channels_to_fields(description, initial[0]))  # warm-up
    for x0, p in zip(initial, params):
        tick = time.perf_counter()
        traj = problem.solve(config, dict(zip(names, p)), schema.channels_to_fields(description, x0))
        seconds.append(time.perf_counter() - tick)
        runs.append(np.stack([traj.fields[f.name] for f in description.fields], axis=1))  # scalar fields only
    return np.stack(runs), float(np.mean(seconds))


def run_solvers(problem, config, description, truth: np.ndarray, params: np.ndarray,
                factors: tuple[int, ...]) -> list[SolverResult]:
    """The full solver and its coarsened versions, each compared with the stored truth."""
    results = []
    full, seconds = _time_solver(problem, config, description, truth[:, 0], params)
    err, curve = _mean_rel_l2(full[:, 1:], truth[:, 1:])
    results.append(SolverResult("solver", 1, seconds, err, curve))
    for factor in factors:
        try:
            coarse_cfg = problem.coarsen(config, factor)
        except SurrolabError:
            continue  # this factor does not divide the resolution or the time step
        coarse_geom = problem.grid(coarse_cfg)
        stride = (slice(None), slice(None)) + tuple(slice(None, None, factor) for _ in coarse_geom.shape)
        label = f"solver coarsened x{factor}"
        try:
            coarse, seconds = _time_solver(problem, coarse_cfg, description, truth[:, 0][stride], params)
        except SurrolabError:  # a coarse time step past the stability limit: a result, not a failure
            results.append(SolverResult(label + " (diverged)", factor, float("nan"), float("inf")))
            continue
        fine = upsample(coarse, coarse_geom.axes, description.geometry.axes)
        err, curve = _mean_rel_l2(fine[:, 1:], truth[:, 1:])
        results.append(SolverResult(label, factor, seconds, err, curve))
    return results


def run_model(run: str | Path, description, truth: np.ndarray, params: np.ndarray, device: str, inside: np.ndarray):
    """Roll a checkpoint out over the test trajectories: (prediction, s/traj, one-step rel L2, payload).

    `inside` (N, 1, 1, *spatial) masks the grid nodes outside the fluid, where no error is counted."""
    payload = load_checkpoint(run)
    model, normalizer = model_from_checkpoint(payload, description)
    model, normalizer = model.to(device), normalizer.to(device)
    h, n_times = model.history, truth.shape[1]
    if n_times <= h:
        raise SurrolabError(f"trajectories have {n_times} frames; the model needs more than history={h}")
    x = torch.as_tensor(truth, dtype=torch.float32, device=device)
    p = torch.as_tensor(params, dtype=torch.float32, device=device)
    rollout(model, normalizer, x[:1, :h], p[:1], n_times)  # warm-up
    preds, seconds = [], []
    for i in range(len(truth)):  # one trajectory at a time, as the solver is timed
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        tick = time.perf_counter()
        preds.append(rollout(model, normalizer, x[i:i + 1, :h], p[i:i + 1], n_times))
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
    one_err, _ = _mean_rel_l2(one, truth[:, h:])
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
        if any(s.order for s in description.fields):
            raise SurrolabError("the harness handles scalar fields only so far")
        idx = schema.read_split(f, config.split)[: config.max_trajectories]
        if len(idx) == 0:
            raise SurrolabError(f"split {config.split!r} of {data} is empty: generate more samples")
        truth = schema.read_fields(f, description, idx)
        # (N, 1, 1, *spatial): grid nodes inside the fluid (all in a grid dataset); predictions outside a mesh
        # dataset's fluid are zeroed like its stored truth, so they count no error
        inside = schema.read_mask(f, idx)[:, None, None]
        params = schema.read_parameters(f, description, idx)
        problem_config = json.loads(f["provenance"].attrs["problem_config"])
        generation_seconds = float(f["samples/wall_time"][()].sum())
    problem = get_problem(description.problem)
    config_obj = problem.make_config(**problem_config)
    solvers = run_solvers(problem, config_obj, description, truth, params, config.coarsen_factors)
    full = solvers[0]
    models = []
    boundary = description.geometry.boundary_mask()
    channels = description.channel_names

    def drift(frames: np.ndarray, name: str) -> float:
        return float(np.mean(integral_drift(frames[:, :, channels.index(name)], description.geometry.axes)))

    for run in runs:
        pred, seconds, one_err, payload, n_params = run_model(run, description, truth, params, config.device, inside)
        h = payload["constructor"]["history"]
        err, curve = _mean_rel_l2(pred[:, h:], truth[:, h:])
        scores = evaluate_all(pred[:, h:], truth[:, h:], boundary, n_spatial=truth.ndim - 3)
        metrics = {k: float(np.mean(v)) for k, v in scores.items()}
        matched, bound = _matched(solvers, err)
        cost = generation_seconds + float(payload.get("train_seconds_total", payload.get("train_seconds", 0.0)))
        models.append(ModelResult(
            label=Path(run).name, model=payload["model"], n_parameters=n_params, seconds_per_trajectory=seconds,
            one_step_rel_l2=one_err, rollout_rel_l2=err, error_curve=[float("nan")] * h + curve, metrics=metrics,
            speedup=full.seconds_per_trajectory / seconds, matched_solver=matched.label,
            speedup_at_matched_error=matched.seconds_per_trajectory / seconds, matched_error_bound=bound,
            break_even_queries=_break_even(cost, full.seconds_per_trajectory, seconds),
            break_even_at_matched_error=_break_even(cost, matched.seconds_per_trajectory, seconds),
            conservation={c: {"truth": drift(truth, c), "prediction": drift(pred, c)} for c in problem.conserved}))
    return {"dataset": str(data), "problem": description.problem, "split": config.split,
            "trajectories": [int(i) for i in idx], "times": [float(t) for t in description.times],
            "hardware": hardware(), "device": config.device, "generation_seconds": generation_seconds,
            "solvers": [dataclasses.asdict(s) for s in solvers], "models": [dataclasses.asdict(m) for m in models]}
