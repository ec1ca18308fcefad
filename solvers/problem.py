"""The interface every registered problem implements, written once (STYLE.md: the contract in the base class).

A problem knows its fields, its physical parameters with their allowed ranges, how to draw a random
initial state from a seeded generator, and how to solve from a given initial state. `solve` is pure:
arrays in, a `Trajectory` out, no files, no logging. The same `solve` runs at full resolution (to make
data) and coarsened (the harness's speed-up at matched error), which is why the initial state is an
argument and not drawn inside.
"""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from surrolab.errors import SurrolabError, check_positive_int, check_positive_number, check_range
from surrolab.solvers.trajectory import FieldSpec, GridGeometry, Trajectory


@dataclass(frozen=True)
class FrameSchedule:
    """The time axis every time-dependent config shares: `n_frames` stored frames equally spaced in
    [0, t_end] (t = 0 included), `substeps` solver steps between frames, so Δt = t_end / ((n_frames − 1) substeps).
    Problem configs subclass it (and call `super().__post_init__()`)."""

    t_end: float = 1.0
    n_frames: int = 2
    substeps: int = 1

    def __post_init__(self):
        check_positive_number("t_end", self.t_end)
        check_positive_int("n_frames", self.n_frames, minimum=2)
        check_positive_int("substeps", self.substeps)

    @property
    def n_steps(self) -> int:
        return (self.n_frames - 1) * self.substeps

    @property
    def dt(self) -> float:
        return self.t_end / self.n_steps

    @property
    def times(self) -> np.ndarray:
        return np.linspace(0.0, self.t_end, self.n_frames)


@dataclass(frozen=True)
class ParameterSpec:
    """A physical parameter of a problem, with the range it is drawn from and the range that is allowed."""

    name: str
    units: str
    low: float  # sampling range for datasets
    high: float
    default: float
    allowed_low: float  # physically admissible range: anything outside fails at the boundary
    allowed_high: float
    description: str = ""


@dataclass(frozen=True)
class BoundaryCondition:
    """A boundary condition recorded as data (The Well): kind on a named boundary, with its value."""

    boundary: str
    kind: str  # "neumann" | "dirichlet" | "periodic"
    value: float = 0.0
    fields: tuple[str, ...] = ()


def mesh_size_settings(resolution: int) -> dict[str, float]:
    """`--resolution N` of a problem meshed by gmsh: mesh size h = 1/N (N cells per unit length, before any
    local refinement)."""
    check_positive_int("resolution", resolution)
    return {"h": 1.0 / resolution}


class Problem(ABC):
    """A registered PDE family.

    Subclasses set the class attributes and implement `grid`, `initial_state` and `solve`.
    `Config` is a frozen `FrameSchedule` dataclass of numerical settings (resolution, time step, horizon); its
    `__post_init__` validates every field and raises `SurrolabError` naming the field.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    fields: ClassVar[tuple[FieldSpec, ...]]
    parameters: ClassVar[tuple[ParameterSpec, ...]]
    boundary_conditions: ClassVar[tuple[BoundaryCondition, ...]]
    Config: ClassVar[type]
    conserved: ClassVar[tuple[str, ...]] = ()  # fields whose domain integral the PDE conserves
    # "mesh": `solve` returns fields on a MeshGeometry, which the dataset stores on the mesh and, interpolated,
    # on `grid(config)`
    geometry_type: ClassVar[str] = "grid"
    # a steady operator-learning problem (schema 1.3): the fields its operator maps from, solved as one frame
    # (`Config.times` = [0]); the other fields are the operator's outputs. Empty: a time-dependent problem.
    input_fields: ClassVar[tuple[str, ...]] = ()
    # named sets of settings (CLI `--preset`): "demo" small enough for the demo and CI, "large" for real use;
    # the Config's defaults are the "default" preset
    presets: ClassVar[dict[str, dict[str, Any]]] = {}

    # -- parameters -------------------------------------------------------------------------------
    @classmethod
    def parameter_names(cls) -> tuple[str, ...]:
        return tuple(p.name for p in cls.parameters)

    @classmethod
    def check_parameters(cls, params: dict[str, float]) -> dict[str, float]:
        """Validate a parameter dict against the allowed physical ranges."""
        known = {p.name: p for p in cls.parameters}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise SurrolabError(
                f"unknown parameter(s) {unknown} for problem {cls.name!r}; allowed: {sorted(known)}"
            )
        out = {}
        for name, spec in known.items():
            value = float(params.get(name, spec.default))
            out[name] = check_range(name, value, spec.allowed_low, spec.allowed_high, unit=spec.units)
        return out

    @classmethod
    def sample_parameters(cls, rng: np.random.Generator) -> dict[str, float]:
        """Draw every parameter uniformly from its sampling range."""
        return {p.name: float(rng.uniform(p.low, p.high)) for p in cls.parameters}

    @classmethod
    def make_config(cls, preset: str | None = None, **overrides: Any):
        """Build the typed config from a preset (None or "default": the Config's defaults) and overrides,
        failing on unknown keys with the list of known ones."""
        names = {f.name for f in dataclasses.fields(cls.Config)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise SurrolabError(f"unknown setting(s) {unknown} for problem {cls.name!r}; allowed: {sorted(names)}")
        if preset not in (None, "default") and preset not in cls.presets:
            raise SurrolabError(f"preset={preset!r} is not allowed for problem {cls.name!r}; "
                                f"choose one of {sorted({'default', *cls.presets})}")
        return cls.Config(**{**cls.presets.get(preset, {}), **overrides})

    @classmethod
    def resolution_settings(cls, resolution: int) -> dict[str, Any]:
        """The settings that CLI `--resolution N` stands for (grid problems: cells per side)."""
        return {"resolution": resolution}

    # -- numerics ---------------------------------------------------------------------------------
    @abstractmethod
    def grid(self, config) -> GridGeometry:
        """The regular grid the fields are stored on (for a mesh problem: also, interpolated)."""

    @abstractmethod
    def initial_state(self, config, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """A random initial state: field name -> array of shape grid(config).shape."""

    @abstractmethod
    def solve(self, config, params: dict[str, float], initial_state: dict[str, np.ndarray]) -> Trajectory:
        """Advance `initial_state` to the horizon of `config`; pure and deterministic."""

    def prepare(self, config) -> None:
        """One-time work before a run of solves (compiling kernels), so that it is not counted in the first
        sample's wall time; the default does nothing."""

    def resolution_warning(self, config, diagnostics: dict[str, float]) -> str | None:
        """One line when a solved sample's diagnostics say the discretisation does not resolve it (e.g. a
        cell Reynolds number beyond what plain Galerkin handles), else None; generation prints it. The
        default has nothing to say."""
        return None

    def check_config(self, config) -> None:
        if not isinstance(config, self.Config):
            raise SurrolabError(f"problem {self.name!r} needs a {self.Config.__name__}, got {type(config).__name__}")

    def divided(self, config, factor: int, names: tuple[str, ...]) -> dict[str, int]:
        """The integer settings `names` of `config` divided by `factor`, failing if one is not divisible
        (for `coarsen`: a coarser mesh or time step must keep the output frame times)."""
        self.check_config(config)
        check_positive_int("factor", factor)
        for name in names:
            value = getattr(config, name)
            if value % factor:
                raise SurrolabError(f"cannot coarsen by factor={factor}: {name}={value} is not divisible by it")
        return {name: getattr(config, name) // factor for name in names}

    def coarsen(self, config, factor: int):
        """The same problem with the mesh and the time step coarsened by `factor` (harness, matched error).

        Output times are unchanged, so a coarse trajectory is compared frame by frame with the reference.
        """
        raise SurrolabError(f"problem {self.name!r} cannot be coarsened")
