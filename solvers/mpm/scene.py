"""What every MPM scene shares: its config, its per-material parameters, and `solve` (the `Problem` contract).

A scene (`scenes.py`) says where the particles are (`initial_state`, drawn from the sample's generator),
which materials they are made of, how they move at t = 0 and which colliders there are; this base runs the
`MPMSolver` and records the frames. The sampled parameters of a scene are its own (speeds, sizes, ...)
followed by those of its material law (`LAW_PARAMETERS`), so one registered problem is one scene made of
one law (`mpm_blob_sand`, ...) and every recorded parameter acts on the run.

Frames: `n_frames` frames over [0, t_end] with `substeps` MPM steps between frames, Δt = t_end /
((n_frames − 1)·substeps); storing every `substeps`-th step is the subsampling in time. Particles: all of
them, or a seeded random subset of `stored_particles` (the solver still moves all). Each frame stores the
particles' position, velocity, deformation gradient F and Cauchy stress σ = τ/J (what GNS/GIOROM and
NCLaw learn from). A Δt above the stability bound (`MPMSolver.check_dt`) fails before the run, naming the
number of substeps that would be stable.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Sequence

import numpy as np

from surrolab.errors import SurrolabError, check_positive_int
from surrolab.solvers.mpm.colliders import Collider
from surrolab.solvers.mpm.kernels import WALL_CELLS
from surrolab.solvers.mpm.materials import MATERIALS, Material
from surrolab.solvers.mpm.parallel import ChunkedLauncher, Launcher
from surrolab.solvers.mpm.solver import MPMConfig, MPMSolver, speed_bound, stable_time_step
from surrolab.solvers.problem import FrameSchedule, ParameterSpec, Problem
from surrolab.solvers.trajectory import FieldSpec, GridGeometry, ParticleGeometry, Trajectory

FIELDS = (
    FieldSpec("position", "m", 1, "particle position"),
    FieldSpec("velocity", "m/s", 1, "particle velocity"),
    FieldSpec("deformation_gradient", "1", 2, "deformation gradient F (elastic part for plastic laws)"),
    FieldSpec("stress", "Pa", 2, "Cauchy stress σ = τ/J"),
)


def parameter_spec(name, units, low, high, default, allowed_low, allowed_high, description=""):
    """A `ParameterSpec` from its fields in order (the tables below and in `scenes.py` stay one line each)."""
    return ParameterSpec(name, units, low, high, default, allowed_low, allowed_high, description)


# Sampling ranges around the materials of NCLaw's data (REFERENCES.md: jelly E 1e5, ν 0.2; plasticine
# E 3e5, ν 0.25, σ_y 5e3; sand E 1e6, φ 25°); density 1000 kg/m^d for all. Allowed ranges are the physical ones.
LAW_PARAMETERS: dict[str, tuple[ParameterSpec, ...]] = {
    "jelly": (parameter_spec("youngs_modulus", "Pa", 5e4, 2e5, 1e5, 1e-3, 1e9),
              parameter_spec("poisson_ratio", "1", 0.15, 0.35, 0.2, -0.99, 0.4999)),
    "water": (parameter_spec("bulk_modulus", "Pa", 1e5, 3e5, 2e5, 1e-3, 1e9),
              parameter_spec("viscosity", "Pa s", 1e-3, 1.0, 1e-3, 0.0, 1e3)),
    "plasticine": (parameter_spec("youngs_modulus", "Pa", 1e5, 5e5, 3e5, 1e-3, 1e9),
                   parameter_spec("poisson_ratio", "1", 0.2, 0.3, 0.25, -0.99, 0.4999),
                   parameter_spec("yield_stress", "Pa", 2e3, 1e4, 5e3, 1e-6, 1e9)),
    "goop": (parameter_spec("youngs_modulus", "Pa", 1e5, 3e5, 2e5, 1e-3, 1e9),
             parameter_spec("poisson_ratio", "1", 0.25, 0.35, 0.3, -0.99, 0.4999),
             parameter_spec("yield_stress", "Pa", 50.0, 300.0, 100.0, 1e-6, 1e9),
             parameter_spec("viscosity", "Pa s", 1.0, 50.0, 10.0, 0.0, 1e6)),
    "sand": (parameter_spec("youngs_modulus", "Pa", 5e5, 2e6, 1e6, 1e-3, 1e10),
             parameter_spec("poisson_ratio", "1", 0.2, 0.35, 0.3, -0.99, 0.4999),
             parameter_spec("friction_angle", "deg", 25.0, 40.0, 30.0, 1e-3, 89.9)),
}
DENSITY = 1.0e3  # kg/m^d


def law_material(law: str, params: dict[str, float]) -> Material:
    """The material `law` with the sample's parameters (the law's own names) and DENSITY."""
    names = [p.name for p in LAW_PARAMETERS[law]]
    return MATERIALS[law](density=DENSITY, **{n: params[n] for n in names})


@dataclass(frozen=True)
class MPMSceneConfig(FrameSchedule):
    """Numerical settings of an MPM scene (the physical ones are the sampled parameters)."""

    t_end: float = 1.0  # s
    n_frames: int = 51
    substeps: int = 100
    dim: int = 2
    n_grid: int = 64  # grid cells per side of the box [0, domain_size]^dim
    domain_size: float = 1.0  # m
    particles_per_cell: int = 2  # per axis: lattice spacing Δx / particles_per_cell
    walls: str = "slip"
    wall_friction: float = 0.0  # Coulomb μ of slip walls
    stored_particles: int = 0  # 0: store every particle; else a seeded random subset of this many
    device: str = "cpu"
    threads: int = 1  # CPU threads for the particle kernels (`parallel.ChunkedLauncher`); sums differ in rounding

    def __post_init__(self):
        super().__post_init__()
        self.mpm()  # validates dim, n_grid, domain_size, walls
        check_positive_int("particles_per_cell", self.particles_per_cell)
        check_positive_int("stored_particles", self.stored_particles, minimum=0)
        check_positive_int("threads", self.threads)

    def mpm(self) -> MPMConfig:
        return MPMConfig(dim=self.dim, n_grid=self.n_grid, domain_size=self.domain_size, walls=self.walls,
                         wall_friction=self.wall_friction, device=self.device)

    @property
    def spacing(self) -> float:
        return self.domain_size / self.n_grid / self.particles_per_cell

    @property
    def interior(self) -> tuple[float, float]:
        """Where particles may start: inside the wall layers of the box."""
        dx = self.domain_size / self.n_grid
        return WALL_CELLS * dx, self.domain_size - WALL_CELLS * dx


class MPMScene(Problem):
    """Base of the registered MPM scenes. Subclasses set `law` (or `laws` for a multi-material scene),
    `scene_parameters`, and implement `place` (the particles) and `velocities`; `colliders` is optional."""

    geometry_type = "particles"
    fields = FIELDS
    boundary_conditions = ()
    Config = MPMSceneConfig
    law: ClassVar[str]
    scene_parameters: ClassVar[tuple[ParameterSpec, ...]] = ()
    max_speed: ClassVar[float] = 0.0  # the largest initial speed a sample can draw (stability bound)
    config_defaults: ClassVar[dict] = {}  # settings whose default differs for this scene

    # -- what a scene defines ------------------------------------------------------------------------
    def place(self, config: MPMSceneConfig, params: dict[str, float],
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Initial particle positions (N, dim) and each particle's index into `materials` (N,)."""
        raise NotImplementedError

    def velocities(self, config: MPMSceneConfig, params: dict[str, float], positions: np.ndarray,
                   directions: np.ndarray) -> np.ndarray:
        """Initial velocities (N, dim); `directions` are two random unit vectors drawn with the placement."""
        return np.zeros_like(positions)

    def materials(self, params: dict[str, float]) -> Sequence[Material]:
        return (law_material(self.law, params),)

    def colliders(self, config: MPMSceneConfig, params: dict[str, float]) -> Sequence[Collider]:
        return ()

    # -- the Problem contract ----------------------------------------------------------------------------
    @classmethod
    def resolution_settings(cls, resolution: int) -> dict:
        """CLI `--resolution N`: N grid cells per side (a finer grid needs more substeps: the run says how many)."""
        return {"n_grid": resolution}

    def grid(self, config) -> GridGeometry:
        """The MPM background grid (the box the particles move in)."""
        self.check_config(config)
        axis = np.linspace(0.0, config.domain_size, config.n_grid + 1)
        return GridGeometry(tuple(axis for _ in range(config.dim)), ("x", "y", "z")[: config.dim])

    def initial_state(self, config, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """A seed for the sample's placement: where the particles go depends on sampled parameters (a
        blob's size, a column's aspect ratio), so `solve` places them, from this seed, deterministically."""
        self.check_config(config)
        return {"placement_seed": np.array([rng.integers(2**63)], dtype=np.int64)}

    def particles(self, config, params: dict[str, float], initial_state) -> dict[str, np.ndarray]:
        """Positions, material indices, volumes, unit directions (row 0: translation, row 1: rotation axis in
        3D) and the indices of the stored particles, from the placement seed."""
        rng = np.random.default_rng(int(initial_state["placement_seed"][0]))
        positions, material_id = self.place(config, params, rng)
        low, high = config.interior
        if not len(positions) or positions.min() < low or positions.max() > high:
            raise SurrolabError(f"scene {self.name!r} placed particles outside the box's interior [{low:.3g}, "
                                f"{high:.3g}] (or none): a larger n_grid or domain_size is needed")
        directions = rng.normal(size=(2, config.dim))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        n = len(positions)
        stored = np.arange(n) if not config.stored_particles or config.stored_particles >= n else \
            np.sort(rng.choice(n, config.stored_particles, replace=False))
        return {"position": positions, "material_id": np.asarray(material_id, dtype=np.int32),
                "volume": np.full(n, config.spacing**config.dim), "directions": directions, "stored": stored}

    def solve(self, config, params: dict[str, float], initial_state: dict[str, np.ndarray]) -> Trajectory:
        self.check_config(config)
        params = self.check_parameters(params)
        particles = self.particles(config, params, initial_state)
        materials = self.materials(params)
        positions = particles["position"]
        launcher = ChunkedLauncher(config.threads) if config.threads > 1 else Launcher()
        solver = MPMSolver(config.mpm(), materials, particles["material_id"], particles["volume"],
                           colliders=self.colliders(config, params), launcher=launcher)
        velocities = self.velocities(config, params, positions, particles["directions"])
        self._check_dt(solver, config, velocities)
        state = solver.initial_state(positions, velocities)
        stored = particles["stored"]
        frames = [self._record(solver, state, stored)]
        for frame in range(1, config.n_frames):
            state = solver.rollout(state, config.dt, config.substeps, t0=(frame - 1) * config.substeps * config.dt)
            frames.append(self._record(solver, state, stored))
        fields = {name: np.stack([f[name] for f in frames]) for name in frames[0]}
        geometry = ParticleGeometry(
            material_id=solver.material_id[stored], mass=solver.mass_np[stored], volume=solver.volume[stored],
            materials=tuple(m.as_dict() for m in materials),
            domain=(np.zeros(config.dim), np.full(config.dim, config.domain_size)), particle_index=stored)
        return Trajectory(times=config.times, fields=fields, geometry=geometry,
                          diagnostics={"n_particles": float(solver.n_particles), "dt": config.dt})

    def prepare(self, config) -> None:
        """Compile (or load from warp's cache) every kernel a solve of this scene launches: one step of the
        scene's materials and colliders at their default parameters on a few particles."""
        self.check_config(config)
        params = {p.name: p.default for p in self.parameters}
        materials = self.materials(params)
        low, high = config.interior
        centre = np.full(config.dim, (low + high) / 2)
        positions = centre + config.spacing * np.arange(len(materials))[:, None]
        solver = MPMSolver(config.mpm(), materials, np.arange(len(materials)), config.spacing**config.dim,
                           colliders=self.colliders(config, params))
        solver.step(solver.initial_state(positions, np.zeros_like(positions)), 1e-6)

    # -- helpers ---------------------------------------------------------------------------------------------
    @staticmethod
    def _check_dt(solver: MPMSolver, config, velocities: np.ndarray) -> None:
        try:
            solver.check_dt(config.dt, velocities)
        except SurrolabError as error:
            bound = solver.stable_dt(solver.speed_bound(velocities))
            needed = math.ceil(config.t_end / ((config.n_frames - 1) * bound))
            raise SurrolabError(f"{error}: with t_end={config.t_end} and n_frames={config.n_frames}, "
                                f"substeps={config.substeps} is too few, use substeps >= {needed}") from error

    @staticmethod
    def _record(solver: MPMSolver, state, stored: np.ndarray) -> dict[str, np.ndarray]:
        F = state.F.numpy()[stored]
        tau = solver.kirchhoff_stress(state).numpy()[stored]
        J = np.linalg.det(F)
        return {"position": state.x.numpy()[stored], "velocity": state.v.numpy()[stored],
                "deformation_gradient": F, "stress": tau / J[:, None, None]}

    @classmethod
    def stable_substeps(cls, **settings) -> int:
        """The substeps a preset with `settings` needs so that every sample drawn from the sampling ranges
        is stable: the bound at the stiff end of every range and the fastest initial speed, 10 % margin."""
        config = cls.Config(**{**settings, "substeps": 1})
        stiff = {p.name: p.high for p in cls.parameters}
        problem = cls()
        velocity = np.full((1, config.dim), cls.max_speed / math.sqrt(config.dim))
        bound = speed_bound(config.mpm(), problem.colliders(config, stiff), velocity)
        dt = 0.9 * stable_time_step(problem.materials(stiff), config.mpm(), bound)
        return max(1, math.ceil(config.t_end / ((config.n_frames - 1) * dt)))


__all__ = ["FIELDS", "LAW_PARAMETERS", "MPMSceneConfig", "MPMScene", "law_material", "parameter_spec"]
