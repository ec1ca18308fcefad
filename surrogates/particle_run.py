"""Particle dataset file -> trained learned simulator (GNS, GIOROM): the particle path of `train_run`.

A learned particle simulator is built from what the dataset says (`particle_model_arguments`):
- its dimension and the number of materials of its particle sets (one type embedding per material);
- the box inside the MPM solver's walls (`WALL_CELLS` grid cells in from each face), which the models'
  clipped wall-distance inputs measure to;
- the training split's velocity and acceleration statistics, which the generator stores per second
  (`position_velocity`, `position_acceleration`) and the models take per frame (× Δt, × Δt²);
- the particles' spacing (the median nearest-neighbour distance at the first frame), which sets the default
  connectivity radius: `RADIUS_SPACINGS` spacings of the set the model's graph is built on, all particles
  for GNS, GIOROM's sparse share for GIOROM (spacing / fraction^(1/d): the sparse set is as uniform as the
  dense one after farthest-point sampling).
Training is the one loop (`training.train`) with the model's graph-batch hooks and GNS's random-walk input
noise (`ParticleWindows`); the checkpoint carries the model's statistics as buffers, so it needs no
`Normalizer`, and records the sparse share and sampling GIOROM trained with.
"""
from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np

from surrolab.errors import SurrolabError
from surrolab.surrogates.hyperparameters import Choice, Number, Rule

RADIUS_SPACINGS = 2.5  # connectivity radius in particle spacings: ~20 neighbours in 2D (π 2.5² lattice sites)
NOISE_PER_ACCELERATION_STD = 0.4  # default training noise (m per frame) over the acceleration std (per frame²)
# settings of the particle models that are not constructor arguments; a negative value means "from the data"
PARTICLE_SETTINGS = {"radius": -1.0, "noise": -1.0}
SPARSE_SETTINGS = {"fraction": 0.125, "sampling": "fps"}  # GIOROM's sparse share (the paper: 1/3 to 1/30)
# what they may be (`hyperparameters.py`); `radius` here replaces the constructor's limit (> 0), as the
# setting may also be negative
PARTICLE_LIMITS = {
    "radius": Rule(lambda v: Number().holds(v["radius"]) and v["radius"] != 0,
                   f"a connectivity radius in metres (> 0), or negative for {RADIUS_SPACINGS} particle spacings"),
    "noise": Number(), "fraction": Number(0, 1, low_open=True), "sampling": Choice(("fps", "random"))}
DATASET_ARGUMENTS = ("dim", "n_types", "bounds", "velocity_stats", "acceleration_stats", "history", "radius")


def is_particle_model(cls) -> bool:
    return getattr(cls, "input_kind", "grid") == "particles"


def particle_settings(cls) -> dict:
    """The `--set` keys of a particle model and their defaults: its constructor's hyperparameters (those
    with a default that is a number or a string), the radius and training noise, GIOROM's sparse share."""
    signature = inspect.signature(cls.__init__).parameters.items()
    settings = {k: p.default for k, p in signature if k not in DATASET_ARGUMENTS and p.default is not p.empty
                and isinstance(p.default, (int, float, str))}
    return {**settings, **PARTICLE_SETTINGS, **(SPARSE_SETTINGS if trains_on_subsets(cls) else {})}


def trains_on_subsets(cls) -> bool:
    """GIOROM's hooks cut each window to a sparse share of its particles; GNS's take them all."""
    return "fraction" in inspect.signature(cls.training_hooks).parameters


def read_trajectories(f, samples) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Positions (T, N_i, dim) float32 and material ids (N_i,) of the samples of an open particle dataset."""
    from surrolab.datasets import schema

    description = schema.read_description(f)
    positions = [schema.read_particle_fields(f, description, int(i), [schema.POSITION])[schema.POSITION]
                 for i in samples]
    return positions, [schema.read_particles(f, int(i)).material_id for i in samples]


def particle_model_arguments(f, description, positions: list[np.ndarray]) -> dict:
    """What a particle model is built from (see the module docstring), from an open particle dataset and
    its training trajectories: dim, n_types, bounds, velocity_stats, acceleration_stats (per frame) and the
    particles' spacing (m)."""
    from scipy.spatial import cKDTree

    from surrolab.datasets import schema
    from surrolab.solvers.mpm.kernels import WALL_CELLS

    times = np.asarray(description.times, dtype=np.float64)
    steps = np.diff(times)
    if len(times) < 3 or not np.allclose(steps, steps[0], rtol=1e-6):
        raise SurrolabError(f"{f.filename}: a learned simulator needs 3 or more equally spaced frames; "
                            f"this dataset's frame intervals are {np.unique(steps.round(12))}")
    frame_interval = float(steps[0])
    stats = {}
    for name, power in (("velocity", 1), ("acceleration", 2)):
        group = f"normalization/position_{name}"
        if group not in f:
            raise SurrolabError(f"{f.filename} stores no {group}: generate it with `surrolab generate`")
        stats[name] = (f[group]["mean"][()] * frame_interval**power, f[group]["std"][()] * frame_interval**power)
    first = schema.read_particles(f, 0)
    cell = np.array([axis[1] - axis[0] for axis in description.geometry.axes])
    wall = WALL_CELLS * cell
    spacing = float(np.median(cKDTree(positions[0][0]).query(positions[0][0], k=2)[0][:, 1]))
    return {"dim": description.spatial_dim, "n_types": len(first.materials),
            "bounds": (first.domain[0] + wall, first.domain[1] - wall), "velocity_stats": stats["velocity"],
            "acceleration_stats": stats["acceleration"], "spacing": spacing}


def train_particle_run(model_name: str, data: str | Path, out: str | Path, config, *, history: int | None = None,
                       hyper: dict | None = None, progress=None, announce=None) -> dict:
    """Build `model_name` (a registered particle model) for the particle dataset `data`, train it on the
    training split (validation: the val split) and save the run in `out`. `config`: a `TrainConfig`."""
    import torch

    from surrolab.datasets import schema
    from surrolab.datasets.particle_data import ParticleWindows
    from surrolab.registry import get_model_class
    from surrolab.surrogates.base import dataset_signature
    from surrolab.surrogates.train_run import check_settings, run_summary, training_splits
    from surrolab.surrogates.training import train

    cls = get_model_class(model_name)
    hyper = check_settings(cls, dict(hyper or {}))
    with schema.open_dataset(data) as f:
        description, train_idx, val_idx = training_splits(f, model_name, "particles",
                                                          "generate an MPM problem (mpm_...)")
        train_positions, train_types = read_trajectories(f, train_idx)
        val_positions, val_types = read_trajectories(f, val_idx)
        arguments = particle_model_arguments(f, description, train_positions)
    spacing = arguments.pop("spacing")
    sparse = {k: hyper.pop(k, v) for k, v in SPARSE_SETTINGS.items()} if trains_on_subsets(cls) else {}
    fraction = float(sparse.get("fraction", 1.0))
    radius, noise = hyper.pop("radius", -1.0), hyper.pop("noise", -1.0)
    if radius < 0:
        radius = RADIUS_SPACINGS * spacing / fraction ** (1 / arguments["dim"])
    if noise < 0:
        noise = NOISE_PER_ACCELERATION_STD * float(np.mean(arguments["acceleration_stats"][1]))
    history = history if history is not None else inspect.signature(cls.__init__).parameters["history"].default
    torch.manual_seed(config.seed)
    model = cls(**arguments, radius=radius, history=history, **hyper)
    hooks = model.training_hooks(**sparse, seed=config.seed) if sparse else model.training_hooks()
    train_set = ParticleWindows(train_positions, train_types, history, noise, config.seed)
    val_set = ParticleWindows(val_positions, val_types, history, 0.0, config.seed) if val_positions else []
    if announce is not None:
        announce(sum(p.numel() for p in model.parameters()), len(train_set), len(val_set))
    train(model, None, train_set, val_set, config, out, signature=dataset_signature(description), hooks=hooks,
          progress=progress, metadata={"data": str(data), "training_noise": noise, **sparse})
    return run_summary(out, model)
