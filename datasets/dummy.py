"""Tiny conforming datasets for tests (as The Well's `utils/dummy_data.py`): no solver needed."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from surrolab.datasets import schema
from surrolab.datasets.splits import SplitSpec, make_splits
from surrolab.provenance import provenance
from surrolab.solvers.problem import BoundaryCondition, ParameterSpec
from surrolab.solvers.trajectory import FieldSpec, GridGeometry


def tiny_description(n: int = 8, n_times: int = 5) -> schema.DatasetDescription:
    axis = np.linspace(0.0, 1.0, n)
    return schema.DatasetDescription(
        problem="tiny",
        fields=(FieldSpec("u", "1", 0, "a travelling wave"), FieldSpec("v", "1", 0, "its time derivative")),
        parameters=(ParameterSpec("speed", "1/s", 0.5, 2.0, 1.0, 0.0, 10.0, "wave speed"),),
        geometry=GridGeometry(axes=(axis, axis)),
        times=np.linspace(0.0, 1.0, n_times),
        boundary_conditions=(BoundaryCondition("all", "periodic", 0.0, ("u", "v")),),
    )


def write_tiny(path: str | Path, n_samples: int = 6, n: int = 8, n_times: int = 5, seed: int = 0) -> Path:
    """A smooth analytic trajectory per sample: u = sin(2π(x - c t) + φ) cos(2πy), v = ∂u/∂t."""
    d = tiny_description(n, n_times)
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(*d.geometry.axes, indexing="ij")
    samples = []
    for i in range(n_samples):
        c, phase = rng.uniform(0.5, 2.0), rng.uniform(0, 2 * np.pi)
        arg = 2 * np.pi * (x[None] - c * d.times[:, None, None]) + phase
        u = np.sin(arg) * np.cos(2 * np.pi * y)[None]
        v = -2 * np.pi * c * np.cos(arg) * np.cos(2 * np.pi * y)[None]
        samples.append(schema.Sample(seed=i, parameters={"speed": c}, fields={"u": u, "v": v}, wall_time=0.01))
    params = {"speed": np.array([s.parameters["speed"] for s in samples])}
    splits = make_splits(params, {"speed": (0.5, 2.0)}, SplitSpec(val_fraction=0.2, test_fraction=0.2))
    fields = np.stack([np.stack([s.fields["u"], s.fields["v"]], axis=1) for s in samples])
    mean = fields.mean(axis=(0, 1, 3, 4))
    std = fields.std(axis=(0, 1, 3, 4))
    norm = {"u": (mean[:1], std[:1]), "v": (mean[1:], std[1:]),
            "parameters": (params["speed"].mean(keepdims=True), params["speed"].std(keepdims=True))}
    return schema.write_dataset(path, d, samples, provenance(seed=seed, problem_config={}), splits, norm)
