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
pressure in Pa) are never added together.

Where the errors are taken (the scoring space):
- a grid dataset: on its grid (`scoring.GridScoring`); solver runs on a coarser grid are interpolated linearly;
- a mesh dataset (the flow families: fields on a per-sample mesh, also interpolated onto a grid): at each test
  sample's own mesh vertices with the lumped P1 mass (`mesh_scoring.MeshScoring`), whatever the model. A mesh
  model (MeshGraphNets) is rolled out on the sample's mesh graph; a grid model on the grid, its prediction then
  read at the vertices from the grid nodes inside the fluid; a solver run on a coarsened mesh is interpolated
  onto the data's mesh in its own cells. Both kinds are so judged at the same points by the same norm, and the
  report adds what the grid itself costs (`grid_round_trip`: the stored grid fields read back at the vertices),
  the error in a band around an obstacle, and drag and lift from the predicted fields beside the truth's.

A coarsening factor that the problem refuses (a time step count it does not divide, a mesh too coarse for
the sample's geometry) or whose run fails or diverges is reported as unavailable with the reason, never
as a crash. Physics checks of the prediction: for fields the PDE conserves (`Problem.conserved`), the drift
of their domain integral over the rollout beside that of the stored truth; for a dataset with a vector field
named `velocity`, the divergence of the predicted velocity beside that of the stored truth, each relative to
its own velocity gradient (on the grid's interior fluid nodes, or per triangle on the mesh).
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

from surrolab.benchmarks.mesh_scoring import MeshScoring, read_mesh_samples
from surrolab.benchmarks.scoring import (GridScoring, RolloutErrors, Scores, divergence_check,  # noqa: F401
                                         field_channels, fields_to_channels, on_dataset_grid, rollout_errors,
                                         score_prediction, upsample)
from surrolab.datasets import schema
from surrolab.errors import SurrolabError, check_positive_int
from surrolab.provenance import hardware
from surrolab.registry import get_model_class, get_problem
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
    forces: dict | None = None  # mesh datasets with an obstacle: drag and lift, prediction beside truth
    band: dict | None = None  # mesh datasets: error over the domain and in the band around the obstacle
    # signs of an unstable learned step (`stability.py`): perturbation growth over 10 steps, grid-scale and
    # smooth, and the rollout error on training trajectories
    stability: dict | None = None


# -- the solver ---------------------------------------------------------------------------------------
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


def _time_solver(problem, config, description, initial: list[dict[str, np.ndarray]], params: np.ndarray,
                 space) -> tuple[list[np.ndarray], float]:
    """Solve every trajectory from its initial state; returns each run's frames in the scoring space (`space`:
    `GridScoring` or `MeshScoring`) and the solver's seconds per trajectory (the solve alone, as at generation;
    not the interpolation)."""
    names = description.parameter_names
    runs, seconds = [], []
    problem.solve(config, dict(zip(names, params[0])), initial[0])  # warm-up
    for i, (x0, p) in enumerate(zip(initial, params)):
        tick = time.perf_counter()
        trajectory = problem.solve(config, dict(zip(names, p)), x0)
        seconds.append(time.perf_counter() - tick)
        frames = space.solver_frames(trajectory, i)
        if not np.all(np.isfinite(frames)):
            raise FloatingPointError("the solution has non-finite values")
        runs.append(frames)
    return runs, float(np.mean(seconds))


def run_solvers(problem, config, description, space, params: np.ndarray, factors: tuple[int, ...],
                initial: InitialStates) -> list[SolverResult]:
    """The full solver and its coarsened versions, each scored against the stored truth in `space`."""
    full, seconds = _time_solver(problem, config, description, initial(config, 1), params, space)
    err = space.errors([x[1:] for x in full], 1)
    results = [SolverResult("solver", 1, seconds, err.total, err.curve, err.per_field)]
    for factor in factors:
        label = f"solver coarsened x{factor}"
        try:
            coarse_cfg = problem.coarsen(config, factor)
            coarse, seconds = _time_solver(problem, coarse_cfg, description, initial(coarse_cfg, factor), params, space)
        except SurrolabError as error:  # refused: not divisible, mesh too coarse, a failed or non-finite step
            results.append(SolverResult(label, factor, float("nan"), float("inf"), note=f"unavailable: {error}"))
            continue
        except FloatingPointError as error:  # a time step past the stability limit: a result, not a failure
            results.append(SolverResult(label, factor, float("nan"), float("inf"), note=f"diverged: {error}"))
            continue
        err = space.errors([x[1:] for x in coarse], 1)
        results.append(SolverResult(label, factor, seconds, err.total, err.curve, err.per_field))
    return results


# -- the surrogates -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelRun:
    """A checkpoint rolled out over the test trajectories, in its own representation: on the dataset grid
    (N, T, C, *spatial) for a grid model, per-sample (T, C, N_i) lists on the meshes for a mesh model.
    `one_step` holds the frames `history:` predicted from true frames (teacher forcing)."""

    prediction: object
    one_step: object
    seconds_per_trajectory: float
    payload: dict
    n_parameters: int

    @property
    def history(self) -> int:
        return int(self.payload["constructor"].get("history", 1))


def _timed(device: str, fn):
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    tick = time.perf_counter()
    out = fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return out, time.perf_counter() - tick


def run_model(run: str | Path, description, truth: np.ndarray, params: np.ndarray, device: str,
              inside: np.ndarray) -> ModelRun:
    """Roll a grid checkpoint out over the test trajectories, one at a time, as the solver is timed.

    `inside` (N, 1, 1, *spatial) masks the grid nodes outside the fluid: the rollout sets the prediction
    there to 0, as the data are."""
    payload = load_checkpoint(run)
    model, normalizer = model_from_checkpoint(payload, description, kinds=("grid",))
    model, normalizer = model.to(device), normalizer.to(device)
    h, n_times = model.history, truth.shape[1]
    if n_times <= h:
        raise SurrolabError(f"trajectories have {n_times} frames; the model needs more than history={h}")
    x = torch.as_tensor(truth, dtype=torch.float32, device=device)
    p = torch.as_tensor(params, dtype=torch.float32, device=device)
    m = None if inside.all() else torch.as_tensor(inside, device=device)  # a grid dataset has no outside

    def one(i: int):
        return rollout(model, normalizer, x[i:i + 1, :h], p[i:i + 1], n_times, None if m is None else m[i:i + 1])

    one(0)  # warm-up
    preds, seconds = zip(*(_timed(device, lambda i=i: one(i)) for i in range(len(truth))))
    pred = torch.cat(preds).cpu().numpy() * inside
    with torch.no_grad():  # one step ahead from true frames (teacher forcing), every step at once
        n_spatial = truth.ndim - 3
        z = normalizer.encode_fields(x, n_spatial)
        zp = normalizer.encode_parameters(p)
        one_step = [normalizer.decode_fields(model(z[:, t - h:t], zp)[:, 0], n_spatial).cpu().numpy()
                    for t in range(h, n_times)]
    return ModelRun(pred, np.stack(one_step, axis=1) * inside, float(np.mean(seconds)), payload,
                    sum(q.numel() for q in model.parameters()))


def run_mesh_model(run: str | Path, description, samples, params: np.ndarray, device: str) -> ModelRun:
    """Roll a mesh checkpoint (MeshGraphNets) out on each test sample's own mesh graph from its first frame,
    with the Dirichlet values of the stored frames (the boundary data), one trajectory at a time. The frame-0
    pressure is the truth's (the model predicts the pressure from frame 1 on; it is never scored)."""
    from surrolab.meshes.mesh_graph import mesh_graph

    payload = load_checkpoint(run)
    model, _ = model_from_checkpoint(payload, description, kinds=("mesh",))
    model = model.to(device)
    fields = field_channels(description)
    velocity, pressure = fields["velocity"], fields["pressure"].start
    graphs = [mesh_graph(mesh).to(device) for mesh in samples.meshes]
    truth = [torch.as_tensor(t, dtype=torch.float32, device=device) for t in samples.truth]
    theta = torch.as_tensor(params, dtype=torch.float32, device=device)

    def one(i: int):
        u = truth[i][:, velocity].transpose(1, 2)  # (T, N, d)
        return model.rollout(graphs[i], theta[i], u[0], u[1:])

    one(0)  # warm-up
    preds, seconds = [], []
    for i in range(len(truth)):
        (velocities, pressures), s = _timed(device, lambda i=i: one(i))
        frames = samples.truth[i].copy()
        frames[:, velocity] = velocities.transpose(1, 2).cpu().numpy()
        frames[1:, pressure] = pressures.cpu().numpy()
        preds.append(frames)
        seconds.append(s)
    one_step = []
    with torch.no_grad():  # each next frame from the true one
        for i, graph in enumerate(graphs):
            u = truth[i][:, velocity].transpose(1, 2)
            nodes = theta[i].reshape(1, -1).expand(graph.num_nodes, -1)
            steps = [model.step(u[t], graph.node_type, graph.edge_index, graph.edge_attr, nodes, u[t + 1])
                     for t in range(len(u) - 1)]
            frames = samples.truth[i][1:].copy()
            frames[:, velocity] = torch.stack([s[0] for s in steps]).transpose(1, 2).cpu().numpy()
            frames[:, pressure] = torch.stack([s[1] for s in steps]).cpu().numpy()
            one_step.append(frames)
    return ModelRun(preds, one_step, float(np.mean(seconds)), payload, sum(q.numel() for q in model.parameters()))


TRAIN_TRAJECTORIES = 4  # training trajectories the stability check rolls out


@dataclass(frozen=True)
class Trajectories:
    """One split's trajectories as the harness reads them: grid frames (N, T, C, *spatial), `inside` (N,
    *spatial), parameters (N, P), and on a mesh dataset the samples on their meshes."""

    truth: np.ndarray
    inside: np.ndarray
    params: np.ndarray
    samples: object = None


def read_trajectories(f, description, idx) -> Trajectories:
    on_mesh = description.geometry_type == "mesh"
    return Trajectories(schema.read_fields(f, description, idx), schema.read_mask(f, idx),
                        schema.read_parameters(f, description, idx),
                        read_mesh_samples(f, description, idx) if on_mesh else None)


def model_stability(run: str | Path, kind: str, description, test: Trajectories, train: Trajectories,
                    train_space, device: str) -> dict:
    """The growth of perturbations over `stability.STEPS` steps from mid-trajectory test states, and the rollout
    error on (up to `TRAIN_TRAJECTORIES`) training trajectories, scored by `train_space` as the test split is."""
    from surrolab.benchmarks.stability import grid_model_growth, mesh_model_growth
    from surrolab.meshes.mesh_graph import mesh_graph

    payload = load_checkpoint(run)
    model, normalizer = model_from_checkpoint(payload, description, kinds=(kind,))
    model = model.to(device).eval()
    if kind == "mesh":
        graphs = [mesh_graph(mesh).to(device) for mesh in test.samples.meshes]
        truth = [torch.as_tensor(t, dtype=torch.float32, device=device) for t in test.samples.truth]
        theta = torch.as_tensor(test.params, dtype=torch.float32, device=device)
        growth = mesh_model_growth(model, graphs, truth, theta, field_channels(description)["velocity"])
        result = run_mesh_model(run, description, train.samples, train.params, device)
        pred = result.prediction
    else:
        growth = grid_model_growth(model, normalizer.to(device), test.truth, test.params, test.inside,
                                   description.geometry.axes, device)
        result = run_model(run, description, train.truth, train.params, device, train.inside[:, None, None])
        pred = train_space.from_grid(result.prediction)
    h = result.history
    return {"grid_scale_growth": growth.grid_scale, "smooth_growth": growth.smooth, "steps": growth.steps,
            "unstable": growth.unstable, "train_rollout_rel_l2": train_space.errors([x[h:] for x in pred], h).total,
            "train_trajectories": len(train.truth)}


def _matched(solvers: list[SolverResult], error: float) -> tuple[SolverResult, str]:
    """The cheapest solver whose rollout error is at or below `error`."""
    ok = [s for s in solvers if s.rollout_rel_l2 <= error]
    best = min(ok, key=lambda s: s.seconds_per_trajectory)
    coarsest = max((s for s in solvers if math.isfinite(s.rollout_rel_l2)), key=lambda s: s.factor)
    return best, ("solver more accurate" if best is coarsest and best.factor > 1 else "matched")


def _break_even(cost: float, solver_s: float, model_s: float) -> float | None:
    saved = solver_s - model_s
    return math.ceil(cost / saved) if saved > 0 else None


def _model_kind(payload: dict) -> str:
    return getattr(get_model_class(payload["model"]), "input_kind", "grid")


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
        # outside, where the rollout of a grid model keeps its prediction at 0
        inside = schema.read_mask(f, idx)
        params = schema.read_parameters(f, description, idx)
        problem_config = json.loads(f["provenance"].attrs["problem_config"])
        dataset_seed = int(f["provenance"].attrs.get("seed", 0))
        sample_seeds = f["samples/seed"][()][idx]
        generation_seconds = float(f["samples/wall_time"][()].sum())
        on_mesh = description.geometry_type == "mesh"
        samples = read_mesh_samples(f, description, idx) if on_mesh else None
        train = read_trajectories(f, description, schema.read_split(f, "train")[:TRAIN_TRAJECTORIES])
    kinds = {}
    for run in runs:  # a checkpoint this harness cannot run fails before the solvers' minutes, not after
        payload = load_checkpoint(run)
        kinds[run] = _model_kind(payload)
        if kinds[run] == "mesh" and not on_mesh:
            raise SurrolabError(f"{run} holds {payload['model']}, a mesh model, but {data} is a grid dataset: mesh "
                                "models are compared on a mesh dataset (a Navier–Stokes family)")
        model_from_checkpoint(payload, description, kinds=("grid", "mesh"))
    problem = get_problem(description.problem)
    config_obj = problem.make_config(**problem_config)
    space = (MeshScoring(description, samples, inside, params, getattr(problem, "force_scale", None)) if on_mesh
             else GridScoring(description, truth, inside))
    initial = initial_states(problem, description, truth[:, 0], inside, dataset_seed, sample_seeds)
    solvers = run_solvers(problem, config_obj, description, space, params, config.coarsen_factors, initial)
    full = solvers[0]
    models = []
    test = Trajectories(truth, inside, params, samples)
    force_scale = getattr(problem, "force_scale", None)
    train_space = None
    if len(train.truth):
        train_space = (MeshScoring(description, train.samples, train.inside, train.params, force_scale) if on_mesh
                       else GridScoring(description, train.truth, train.inside))
    for run in runs:
        if kinds[run] == "mesh":
            result = run_mesh_model(run, description, samples, params, config.device)
            pred, one_step = result.prediction, result.one_step
        else:
            result = run_model(run, description, truth, params, config.device, inside[:, None, None])
            pred, one_step = space.from_grid(result.prediction), space.from_grid(result.one_step)
        payload, h, seconds = result.payload, result.history, result.seconds_per_trajectory
        scores = space.scores([x[h:] for x in pred], h)
        one = space.errors(one_step, h)
        err = scores.errors
        matched, bound = _matched(solvers, err.total)
        cost = generation_seconds + float(payload.get("train_seconds_total", payload.get("train_seconds", 0.0)))
        models.append(ModelResult(
            label=Path(run).name, model=payload["model"], n_parameters=result.n_parameters,
            seconds_per_trajectory=seconds, one_step_rel_l2=one.total, rollout_rel_l2=err.total,
            error_curve=[float("nan")] * h + err.curve, metrics=scores.metrics,
            speedup=full.seconds_per_trajectory / seconds, matched_solver=matched.label,
            speedup_at_matched_error=matched.seconds_per_trajectory / seconds, matched_error_bound=bound,
            break_even_queries=_break_even(cost, full.seconds_per_trajectory, seconds),
            break_even_at_matched_error=_break_even(cost, matched.seconds_per_trajectory, seconds),
            conservation={c: {"truth": space.drift(space.truth(0) if on_mesh else truth, c),
                              "prediction": space.drift(pred, c)} for c in problem.conserved},
            field_one_step_rel_l2=one.per_field, field_rel_l2=err.per_field, field_metrics=scores.field_metrics,
            divergence=scores.divergence, forces=scores.forces, band=scores.band,
            stability=model_stability(run, kinds[run], description, test, train, train_space, config.device)
            if train_space is not None else None))
    channels = description.channel_names
    report = {"dataset": str(data), "problem": description.problem, "split": config.split,
              "trajectories": [int(i) for i in idx], "times": [float(t) for t in description.times],
              "hardware": hardware(), "device": config.device, "generation_seconds": generation_seconds,
              "geometry_type": description.geometry_type, "scored_on": space.scored_on,
              "fields": {s.name: {"order": s.order, "units": s.units,
                                  "channels": list(channels[field_channels(description)[s.name]])}
                         for s in description.fields},
              "fluid_fraction": float(inside.mean()),
              "solvers": [dataclasses.asdict(s) for s in solvers], "models": [dataclasses.asdict(m) for m in models]}
    if on_mesh:
        report["mesh_vertices"] = [int(m.n_points) for m in samples.meshes]
        if "grid" in kinds.values():
            report["grid_round_trip"] = space.grid_round_trip(truth, 1)
    return report
