"""What every solver returns: a trajectory on a grid, a mesh or a particle set (DESIGN.md, Contracts).

Solvers return this and do no file I/O; the dataset writer turns it into HDF5.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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
    vectors. `times` has shape (n_times,) and starts with the initial state.
    """

    times: np.ndarray
    fields: dict[str, np.ndarray]
    geometry: GridGeometry
    diagnostics: dict[str, float] = field(default_factory=dict)
