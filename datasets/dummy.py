"""Tiny conforming datasets for tests (as The Well's `utils/dummy_data.py`): no solver needed."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from surrolab.datasets import schema
from surrolab.datasets.splits import SplitSpec, make_splits
from surrolab.provenance import provenance
from surrolab.solvers.problem import BoundaryCondition, ParameterSpec
from surrolab.solvers.trajectory import FieldSpec, GridGeometry, ParticleGeometry


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


MESH_RADII = (0.08, 0.12)  # one cylinder per sample: meshes of different sizes


def tiny_mesh_description(n_times: int = 3, nx: int = 21, ny: int = 9) -> schema.DatasetDescription:
    """A channel [0, 1] x [0, 0.41] with a cylinder at (0.3, 0.2); the grid companion is nx x ny nodes."""
    return schema.DatasetDescription(
        problem="tiny_mesh",
        fields=(FieldSpec("p", "Pa", 0, "a linear pressure"), FieldSpec("vel", "m/s", 1, "a linear velocity")),
        parameters=(ParameterSpec("radius", "m", 0.05, 0.15, 0.1, 0.01, 0.18, "cylinder radius"),),
        geometry=GridGeometry(axes=(np.linspace(0.0, 1.0, nx), np.linspace(0.0, 0.41, ny))),
        times=np.linspace(0.0, 1.0, n_times),
        boundary_conditions=(BoundaryCondition("cylinder", "dirichlet", 0.0, ("vel",)),),
        geometry_type="mesh",
    )


def tiny_mesh_fields(points: np.ndarray, times: np.ndarray) -> dict[str, np.ndarray]:
    """Fields linear in space, so the grid companion is exact: p = (1 + t)(1 + 2x - 3y), vel = (x + y, t x - y)."""
    x, y = points[..., 0], points[..., 1]
    t = np.asarray(times).reshape(-1, *(1,) * x.ndim)
    return {"p": (1 + t) * (1 + 2 * x - 3 * y), "vel": np.stack([x + y + 0 * t, t * x - y], axis=-1)}


def write_tiny_mesh(path: str | Path, radii: tuple[float, ...] = MESH_RADII, n_times: int = 3, h: float = 0.1,
                    seed: int = 0) -> Path:
    """A mesh dataset: one gmsh cylinder channel per sample (radius `radii[i]`, mesh size h), analytic fields."""
    from surrolab.meshes.geometries import cylinder_channel  # gmsh and dolfinx: only where a mesh is built

    d = tiny_mesh_description(n_times)
    samples = []
    for i, radius in enumerate(radii):
        mesh = cylinder_channel(length=1.0, center=(0.3, 0.2), radius=radius, h=h).mesh_geometry()
        samples.append(schema.Sample(seed=i, parameters={"radius": radius}, wall_time=0.01, mesh=mesh,
                                     fields=tiny_mesh_fields(mesh.points, d.times)))
    return schema.write_dataset(path, d, samples, provenance(seed=seed, problem_config={"h": h}),
                                splits={"train": np.arange(len(radii))})


PARTICLE_COUNTS = (5, 9, 7)  # particles per sample: a different count in each
PARTICLE_MATERIALS = ({"law": "jelly", "density": 1000.0, "youngs_modulus": 1.0e4, "poisson_ratio": 0.3},
                      {"law": "sand", "density": 1500.0, "youngs_modulus": 1.0e5, "poisson_ratio": 0.3,
                       "friction_angle": 30.0})
GRAVITY = 9.81  # m/s^2, along -y


def tiny_particle_description(n_times: int = 4, dim: int = 2) -> schema.DatasetDescription:
    """Particles in the box [0, 1]^dim on a background grid of 9 nodes per side, the MPM problems' fields."""
    axis = np.linspace(0.0, 1.0, 9)
    return schema.DatasetDescription(
        problem="tiny_particles",
        fields=(FieldSpec("position", "m", 1, "particle position"),
                FieldSpec("velocity", "m/s", 1, "particle velocity"),
                FieldSpec("deformation_gradient", "1", 2, "F"), FieldSpec("stress", "Pa", 2, "Cauchy stress")),
        parameters=(ParameterSpec("speed", "m/s", 0.0, 1.0, 0.5, 0.0, 5.0, "initial speed"),),
        geometry=GridGeometry(axes=(axis,) * dim, axis_names=("x", "y", "z")[:dim]),
        times=np.linspace(0.0, 0.1, n_times),
        geometry_type="particles",
    )


def tiny_particle_sample(index: int, n: int, times: np.ndarray, dim: int = 2) -> schema.Sample:
    """Free fall: x = x0 + v0 t - g t²/2 e_y, so the frame differences are exact (acceleration -g e_y);
    F = I + t A and σ = E sym(F - I) with a random A per particle; material ids alternate at random."""
    rng = np.random.default_rng([7, index])
    speed = float(rng.uniform(0.0, 1.0))
    x0, v0 = rng.uniform(0.3, 0.7, size=(n, dim)), speed * rng.normal(size=(n, dim)) / np.sqrt(dim)
    t = np.asarray(times)[:, None, None]  # (T, 1, 1)
    g = np.zeros(dim)
    g[1] = -GRAVITY
    a = rng.normal(scale=0.1, size=(n, dim, dim))
    F = np.eye(dim) + t[..., None] * a  # (T, N, dim, dim)
    material_id = rng.integers(0, len(PARTICLE_MATERIALS), size=n)
    E = np.array([m["youngs_modulus"] for m in PARTICLE_MATERIALS])[material_id][None, :, None, None]
    strain = 0.5 * (F + np.swapaxes(F, -1, -2)) - np.eye(dim)
    volume = np.full(n, 0.01**dim)
    density = np.array([m["density"] for m in PARTICLE_MATERIALS])[material_id]
    particles = ParticleGeometry(material_id=material_id, mass=density * volume, volume=volume,
                                 materials=PARTICLE_MATERIALS, domain=(np.zeros(dim), np.ones(dim)),
                                 particle_index=np.arange(n) * 2)  # every second simulated particle
    fields = {"position": x0 + v0 * t + 0.5 * g * t**2, "velocity": v0 + g * t + 0 * x0,
              "deformation_gradient": F, "stress": E * strain}
    return schema.Sample(seed=index, parameters={"speed": speed}, fields=fields, wall_time=0.01, particles=particles)


def write_tiny_particles(path: str | Path, counts: tuple[int, ...] = PARTICLE_COUNTS, n_times: int = 4,
                         dim: int = 2) -> Path:
    """A particle dataset: free-falling particles of two materials, `counts[i]` in sample i, with the
    statistics that generation computes (all samples are in the training split)."""
    from surrolab.datasets.generate import _normalization  # the statistics generation writes

    d = tiny_particle_description(n_times, dim)
    samples = [tiny_particle_sample(i, n, d.times, dim) for i, n in enumerate(counts)]
    train = np.arange(len(counts))
    return schema.write_dataset(path, d, samples, provenance(seed=0, problem_config={"counts": list(counts)}),
                                splits={"train": train}, normalization=_normalization(d, samples, train))
