"""Crash-safe, resumable, MPI-parallel dataset generation: problem config -> solver -> HDF5.

Each finished sample is written to its own small file in `<out>.parts/`, under a temporary name that is
renamed into place, so a run killed at any moment (even SIGKILL) loses at most the samples in flight.
Running the same command again finds the finished parts and solves only the rest. Sample i is drawn
from `numpy.random.default_rng([seed, i])`, so its parameters and initial state do not depend on which
rank solves it or on whether the run was interrupted: a resumed run gives the same arrays as an
uninterrupted one. When every part is there, one rank assembles the dataset (`schema.write_dataset`,
atomic), computes splits and normalisation on the training split, writes the XDMF sidecar and removes
the parts. A mesh problem's parts carry each sample's mesh, a particle problem's its `ParticleGeometry`.

Under `mpiexec -n R`, rank r solves samples r, r+R, ... (DESIGN.md, Scale-out).
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from surrolab.datasets import schema
from surrolab.datasets.interpolate import grid_interpolation
from surrolab.datasets.splits import (SplitSpec, frame_differences, make_splits, normalization_statistics,
                                      pooled_statistics)
from surrolab.datasets.xdmf import write_dataset_xdmf
from surrolab.errors import SurrolabError, check_positive_int
from surrolab.provenance import provenance
from surrolab.solvers.problem import Problem
from surrolab.solvers.trajectory import MeshGeometry, ParticleGeometry

Progress = Callable[[int, int], None]  # (samples done, samples total)


def describe(problem: Problem, config) -> schema.DatasetDescription:
    """The dataset description that `problem` solved with `config` produces (no solve needed)."""
    geometry = problem.grid(config)
    times = config.times  # every problem config is a FrameSchedule
    return schema.DatasetDescription(problem=problem.name, fields=problem.fields, parameters=problem.parameters,
                                     geometry=geometry, times=times,
                                     boundary_conditions=problem.boundary_conditions,
                                     geometry_type=problem.geometry_type,
                                     input_fields=tuple(problem.input_fields))


def fixed_parameters(problem: Problem, vary) -> dict[str, float]:
    """The parameters held at their defaults when only those named in `vary` are drawn (None: all drawn).

    CFDBench's subsets vary one kind of condition at a time (boundary condition, physical properties or
    geometry) with the others at their nominal values; `vary` makes such a subset from any problem."""
    if vary is None:
        return {}
    names = problem.parameter_names()
    unknown = sorted(set(vary) - set(names))
    if unknown or not vary:
        raise SurrolabError(f"vary={list(vary)}: name at least one parameter of {problem.name!r}; "
                            f"allowed: {', '.join(names)}")
    return {p.name: float(p.default) for p in problem.parameters if p.name not in vary}


def solve_sample(problem: Problem, config, seed: int, index: int, fixed: dict[str, float] | None = None) -> schema.Sample:
    """Draw sample `index` from the seeded generator and solve it, timing the solve alone. Parameters in
    `fixed` take the given value instead of their draw (the draws are still made, so the initial state and
    the other parameters are those of the same sample drawn with everything varying)."""
    rng = np.random.default_rng([seed, index])
    params = {**problem.sample_parameters(rng), **(fixed or {})}
    initial = problem.initial_state(config, rng)
    where = f"sample {index} of problem {problem.name!r} (seed {seed}; " + \
        ", ".join(f"{k}={v:.6g}" for k, v in params.items()) + ")"
    start = time.perf_counter()
    try:
        trajectory = problem.solve(config, params, initial)
    except SurrolabError as error:
        raise SurrolabError(f"{where} failed: {error}") from error
    except Exception as error:  # a solver library's own failure (PETSc, gmsh, ...): still name the sample
        raise SurrolabError(f"{where} failed: {type(error).__name__}: {error}") from error
    wall = time.perf_counter() - start
    bad = [name for name, values in trajectory.fields.items() if not np.all(np.isfinite(values))]
    if bad:  # never write NaN fields into a dataset
        raise SurrolabError(f"{where} produced non-finite values in {bad}; nothing was written for it")
    mesh = trajectory.geometry if isinstance(trajectory.geometry, MeshGeometry) else None
    particles = trajectory.geometry if isinstance(trajectory.geometry, ParticleGeometry) else None
    return schema.Sample(seed=index, parameters=params, fields=trajectory.fields, wall_time=wall,
                         diagnostics=trajectory.diagnostics, mesh=mesh, particles=particles)


def generate(problem: Problem, config, n_samples: int, out: str | os.PathLike, *, seed: int = 0,
             splits: SplitSpec = SplitSpec(), progress: Progress | None = None, comm=None,
             vary: tuple[str, ...] | None = None, warn: Callable[[str], None] | None = None) -> Path | None:
    """Generate (or resume) `n_samples` samples into `out`. Returns the path on the assembling rank.
    `vary`: draw only these parameters, the others at their defaults (`fixed_parameters`). `warn` receives
    one line for each sample solved here whose discretisation does not resolve it
    (`Problem.resolution_warning`)."""
    check_positive_int("samples", n_samples)
    fixed = fixed_parameters(problem, vary)
    out = Path(out)
    rank, size = (comm.Get_rank(), comm.Get_size()) if comm is not None else (0, 1)
    parts = out.with_name(out.name + ".parts")
    request = {"problem": problem.name, "config": dataclasses.asdict(config), "samples": n_samples,
               "seed": seed, "splits": dataclasses.asdict(splits), "fixed_parameters": fixed}
    if rank == 0:
        _claim_parts_dir(parts, request, out)
    if comm is not None:
        comm.Barrier()

    problem.prepare(config)  # one-time set-up (kernel compilation) outside every sample's timed solve
    for i in range(rank, n_samples, size):
        part = parts / _part_name(i)
        if not part.exists():
            sample = solve_sample(problem, config, seed, i, fixed)
            _write_part(part, sample)
            message = problem.resolution_warning(config, sample.diagnostics)
            if message is not None and warn is not None:
                warn(f"sample {i}: {message}")
        if progress is not None and rank == 0:  # counts every rank's finished parts
            progress(sum((parts / _part_name(j)).exists() for j in range(n_samples)), n_samples)
    if comm is not None:
        comm.Barrier()
    if rank != 0:
        return None

    description = describe(problem, config)
    samples = [_read_part(parts / _part_name(i)) for i in range(n_samples)]
    params = {p.name: np.array([s.parameters[p.name] for s in samples]) for p in problem.parameters}
    split_idx = make_splits(params, {p.name: (p.low, p.high) for p in problem.parameters}, splits)
    on_mesh = description.geometry_type == "mesh"  # each mesh's interpolation onto the grid, built once
    to_grid = [grid_interpolation(s.mesh, description.geometry.axes) for s in samples] if on_mesh else None
    normalization = _normalization(description, samples, split_idx["train"], to_grid)
    meta = provenance(seed=seed, problem_config=dataclasses.asdict(config), generation=request,
                      n_ranks=size)
    schema.write_dataset(out, description, samples, meta, split_idx, normalization, interpolations=to_grid)
    write_dataset_xdmf(out)
    shutil.rmtree(parts)
    return out


def _claim_parts_dir(parts: Path, request: dict, out: Path) -> None:
    manifest = parts / "request.json"
    if manifest.exists():
        previous = json.loads(manifest.read_text())
        if previous != json.loads(json.dumps(request)):
            raise SurrolabError(
                f"{parts} holds an interrupted generation with other settings ({_diff(previous, request)}); "
                "run the same command again to resume it, or delete that folder")
        return
    if out.exists():
        out.unlink()  # regenerating: the old file goes first so a failure never leaves it looking new
    parts.mkdir(parents=True, exist_ok=True)
    tmp = manifest.with_suffix(".tmp")
    tmp.write_text(json.dumps(request, sort_keys=True))
    os.replace(tmp, manifest)


def _diff(previous: dict, request: dict) -> str:
    request = json.loads(json.dumps(request))
    keys = [k for k in request if previous.get(k) != request[k]]
    return ", ".join(f"{k}: {previous.get(k)} -> {request[k]}" for k in keys) or "unknown difference"


def _part_name(index: int) -> str:
    return f"sample_{index:06d}.h5"


def _write_part(path: Path, sample: schema.Sample) -> None:
    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs.update(seed=sample.seed, wall_time=sample.wall_time, parameters=json.dumps(sample.parameters),
                       diagnostics=json.dumps(sample.diagnostics))
        for name, arr in sample.fields.items():
            f.create_dataset(name, data=arr)
        if sample.mesh is not None:
            schema.write_mesh(f.create_group("mesh"), sample.mesh)
            f["mesh"].attrs["cell_type"] = sample.mesh.cell_type
        if sample.particles is not None:
            schema.write_particles(f.create_group("particles"), sample.particles)
    os.replace(tmp, path)  # atomic: the part exists whole or not at all


def _read_part(path: Path) -> schema.Sample:
    with h5py.File(path, "r") as f:
        mesh = schema.read_mesh_group(f["mesh"], str(f["mesh"].attrs["cell_type"])) if "mesh" in f else None
        particles = schema.read_particle_group(f["particles"]) if "particles" in f else None
        return schema.Sample(seed=int(f.attrs["seed"]), parameters=json.loads(f.attrs["parameters"]),
                             fields={k: f[k][()] for k in f if k not in ("mesh", "particles")},
                             wall_time=float(f.attrs["wall_time"]), diagnostics=json.loads(f.attrs["diagnostics"]),
                             mesh=mesh, particles=particles)


def _normalization(description: schema.DatasetDescription, samples: list[schema.Sample], train: np.ndarray,
                   to_grid: list | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-field, per-component mean and std over the training split (all times, all grid nodes; in a mesh
    dataset, the grid nodes inside the mesh: the values grid surrogates see; in a particle dataset, all
    particles, and also the finite-difference velocity and acceleration of the positions)."""
    train = train if len(train) else np.arange(len(samples))  # a tiny dataset may have no training split
    if description.geometry_type == "particles":
        stats = _particle_normalization(description, [samples[i] for i in train])
    else:
        stats = _grid_normalization(description, [samples[i] for i in train], to_grid and [to_grid[i] for i in train])
    stats["parameters"] = (
        np.array([np.mean([samples[i].parameters[p.name] for i in train]) for p in description.parameters]),
        np.array([np.std([samples[i].parameters[p.name] for i in train]) or 1.0 for p in description.parameters]),
    )
    return stats


def _grid_normalization(description: schema.DatasetDescription, train: list[schema.Sample],
                        to_grid: list | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per field and component over all times and grid nodes of the training samples (a mesh dataset's
    samples interpolated by `to_grid`, over the grid nodes inside their meshes)."""
    on_mesh = description.geometry_type == "mesh"
    mask = np.stack([g.mask for g in to_grid]) if on_mesh else None
    stats = {}
    for spec in description.fields:
        arr = np.stack([g(s.fields[spec.name], node_axis=1) if on_mesh else s.fields[spec.name]
                        for s, g in zip(train, to_grid or [None] * len(train))])
        nd = description.spatial_dim
        channels = arr.reshape(*arr.shape[: 2 + nd], -1)  # (S, T, *spatial, components)
        stats[spec.name] = normalization_statistics(np.moveaxis(channels, -1, 2), mask)
    return stats


def _particle_normalization(description: schema.DatasetDescription,
                            train: list[schema.Sample]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A particle dataset's statistics: per field and component over all times and particles of the training
    samples (whose particle counts differ), and per component of `frame_differences` of the stored (float32)
    positions, as `position_velocity` and `position_acceleration` (m/s and m/s^2 for positions in m)."""
    stats = {}
    for spec in description.fields:
        rows = [np.asarray(s.fields[spec.name]).reshape(-1, description.spatial_dim ** spec.order) for s in train]
        stats[spec.name] = pooled_statistics(rows)  # (T N_i, components) each
    differences = [frame_differences(np.asarray(s.fields[schema.POSITION], dtype=np.float32), description.times)
                   for s in train]
    for name, k in (("position_velocity", 0), ("position_acceleration", 1)):
        rows = [d[k].reshape(-1, description.spatial_dim) for d in differences]
        if sum(len(r) for r in rows):  # 2 (3) stored frames at least
            stats[name] = pooled_statistics(rows)
    return stats
