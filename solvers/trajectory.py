"""What every solver returns: a trajectory on a grid, a mesh or a particle set (DESIGN.md, Contracts).

Solvers return this and do no file I/O; the dataset writer turns it into HDF5.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from surrolab.errors import SurrolabError


@dataclass(frozen=True)
class FieldSpec:
    """A named physical field. `order` is the tensor order (0 scalar, 1 vector, 2 tensor), as in The Well."""

    name: str
    units: str
    order: int = 0
    description: str = ""


@dataclass(frozen=True)
class GridGeometry:
    """A regular grid: node coordinates along each axis (x first, then y), `ij` indexing."""

    axes: tuple[np.ndarray, ...]
    axis_names: tuple[str, ...] = ("x", "y")

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a) for a in self.axes)

    def boundary_mask(self) -> np.ndarray:
        """True on the nodes of the domain's boundary (used by boundary RMSE)."""
        return domain_boundary_mask(self.shape)


CELL_VERTICES = {"triangle": 3}  # cell types a MeshGeometry may have: vertices per (linear) cell


@dataclass(frozen=True)
class MeshGeometry:
    """An unstructured mesh of linear (P1) cells: what a FEM solver stores its fields on.

    points: (N, dim) vertex coordinates. cells: (M, k) vertex indices of each cell (k = 3 for
    "triangle"). boundaries: name -> (F, dim) vertex indices of the boundary facets carrying that name
    (edges in 2D). Facets rather than node lists, because nodes follow from facets (`boundary_nodes`)
    but not the other way round: a corner node belongs to two boundaries, and surface integrals (drag,
    lift) need the facets. Fields on a mesh are nodal values at `points`; a higher-order solution (the P2
    velocity of Taylor-Hood) is stored by its values at the vertices, so it reads as a P1 field.
    """

    points: np.ndarray
    cells: np.ndarray
    boundaries: dict[str, np.ndarray] = field(default_factory=dict)
    cell_type: str = "triangle"

    def __post_init__(self):
        object.__setattr__(self, "points", np.asarray(self.points, dtype=np.float64))
        object.__setattr__(self, "cells", np.asarray(self.cells, dtype=np.int64))
        object.__setattr__(self, "boundaries", {k: np.asarray(v, dtype=np.int64) for k, v in self.boundaries.items()})
        problems = mesh_problems(self.points.shape, self.cells, self.boundaries, self.cell_type)
        if problems:
            raise SurrolabError(f"invalid mesh: {problems[0]}")

    @property
    def n_points(self) -> int:
        return len(self.points)

    @property
    def dim(self) -> int:
        return self.points.shape[1]

    def boundary_nodes(self, name: str) -> np.ndarray:
        """Sorted indices of the vertices on the boundary `name`."""
        return np.unique(self.boundaries[name])

    def lumped_mass(self) -> np.ndarray:
        """(N,) m_i = ∫_Ω φ_i, the P1 hat function of each vertex (the row sums of the P1 mass matrix): a P1
        function's integral is exactly m · (its vertex values), and Σ_i m_i f_i² is the lumped-mass FE L2 norm²
        (it differs from ∫ f_h² by O(h²) for smooth f). Triangles only."""
        if self.cell_type != "triangle":
            raise SurrolabError(f"lumped_mass is defined here for triangles, not {self.cell_type!r}")
        a, b, c = (self.points[self.cells[:, i], :2] for i in range(3))
        area = 0.5 * np.abs((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))
        mass = np.zeros(self.n_points)
        np.add.at(mass, self.cells.reshape(-1), np.repeat(area / 3.0, 3))
        return mass


@dataclass(frozen=True)
class ParticleGeometry:
    """A particle set (an MPM run): what stays fixed while the particles move.

    material_id: (N,) int, the index into `materials` of each particle's material; mass: (N,) kg and
    volume: (N,) m^d, the particles' initial mass and volume; materials: one dict per material, its law's
    registered name under "law" and its parameters (JSON-able); domain: (lower, upper) corners of the
    box the particles move in, each (dim,); particle_index: (N,) the index of each stored particle in the
    simulated set (storage may keep a subset of the particles). Fields on a particle set have shape
    (n_times, N) for scalars, (n_times, N, dim) for vectors, (n_times, N, dim, dim) for tensors; the
    positions are the vector field "position".
    """

    material_id: np.ndarray
    mass: np.ndarray
    volume: np.ndarray
    materials: tuple[dict, ...]
    domain: tuple[np.ndarray, np.ndarray]
    particle_index: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "material_id", np.asarray(self.material_id, dtype=np.int32))
        object.__setattr__(self, "mass", np.asarray(self.mass, dtype=np.float64))
        object.__setattr__(self, "volume", np.asarray(self.volume, dtype=np.float64))
        object.__setattr__(self, "particle_index", np.asarray(self.particle_index, dtype=np.int64))
        object.__setattr__(self, "domain", tuple(np.asarray(c, dtype=np.float64) for c in self.domain))
        n = len(self.material_id)
        for name in ("mass", "volume", "particle_index"):
            if getattr(self, name).shape != (n,):
                raise SurrolabError(f"invalid particle set: {name} has shape {getattr(self, name).shape}, expected ({n},)")
        if n and (self.material_id.min() < 0 or self.material_id.max() >= len(self.materials)):
            raise SurrolabError(f"invalid particle set: material_id outside [0, {len(self.materials)})")

    @property
    def n_points(self) -> int:
        return len(self.material_id)

    @property
    def dim(self) -> int:
        return len(self.domain[0])


def mesh_problems(points_shape: tuple[int, ...], cells: np.ndarray, boundaries: dict[str, np.ndarray],
                  cell_type: str) -> list[str]:
    """Every way a mesh's arrays are inconsistent, as one-line messages (used by the dataset validator)."""
    if cell_type not in CELL_VERTICES:
        return [f"cell type {cell_type!r} is not supported; allowed: {sorted(CELL_VERTICES)}"]
    if len(points_shape) != 2 or points_shape[1] != 2:
        return [f"points have shape {tuple(points_shape)}, expected (N, 2)"]
    n, k = points_shape[0], CELL_VERTICES[cell_type]
    arrays = {"cells": (cells, k), **{f"the facets of boundary {name!r}": (facets, points_shape[1])
                                      for name, facets in boundaries.items()}}
    problems = []
    for label, (arr, width) in arrays.items():
        if arr.ndim != 2 or arr.shape[1] != width or not np.issubdtype(arr.dtype, np.integer):
            problems.append(f"{label} are {arr.dtype} {arr.shape}, expected integers of shape (…, {width})")
        elif arr.size and (arr.min() < 0 or arr.max() >= n):
            problems.append(f"{label} index vertices outside [0, {n})")
    return problems


def domain_boundary_mask(spatial_shape: tuple[int, ...]) -> np.ndarray:
    """Boolean mask of `spatial_shape`, True on the first and last node along every axis."""
    mask = np.zeros(tuple(spatial_shape), dtype=bool)
    for axis in range(mask.ndim):
        index = [slice(None)] * mask.ndim
        for edge in (0, -1):
            index[axis] = edge
            mask[tuple(index)] = True
    return mask


@dataclass
class Trajectory:
    """One solver run.

    fields: name -> array of shape (n_times, *grid.shape) for scalars, (n_times, *grid.shape, dim) for
    vectors on a grid; (n_times, N) and (n_times, N, dim) on a mesh or particle set of N points.
    `times` has shape (n_times,) and starts with the initial state.
    """

    times: np.ndarray
    fields: dict[str, np.ndarray]
    geometry: GridGeometry | MeshGeometry | ParticleGeometry
    diagnostics: dict[str, float] = field(default_factory=dict)
