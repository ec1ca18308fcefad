"""Mesh to grid: P1 fields on an unstructured mesh, interpolated onto the nodes of a regular grid.

Every mesh dataset also stores its fields on a regular grid, so that grid surrogates read it like any
other dataset (`datasets/SCHEMA.md`). A grid node that lies in cell c with barycentric coordinates
λ_0..λ_d gets Σ_k λ_k u(v_k), the value of the P1 field there: linear fields are reproduced to
round-off. Cells are located against the mesh's own cells, never a triangulation of its points (which
would fill the cylinder and every other hole), so a node outside every cell, inside an obstacle or
outside the box, gets 0 and `mask` False. A node on a boundary edge counts as inside (barycentric
coordinates down to -1e-10), so the grid's nodes on straight walls, inlets and outlets are kept.

The weights are a sparse (n_grid_nodes, n_points) matrix, built once per mesh and applied to every time
step and component at once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse

from surrolab.solvers.trajectory import MeshGeometry

INSIDE_TOLERANCE = 1e-10  # barycentric coordinates >= -this count as inside the cell


@dataclass(frozen=True)
class GridInterpolation:
    """Interpolation from the vertices of one mesh to the nodes of one regular grid."""

    weights: scipy.sparse.csr_array  # (n_grid_nodes, n_points), grid nodes in `ij` order; empty rows outside
    mask: np.ndarray  # (*spatial) bool, True where the grid node lies in a cell

    def __call__(self, values: np.ndarray, node_axis: int = 0) -> np.ndarray:
        """Values at the mesh's points -> values at the grid's nodes (0 outside the mesh).

        `values` has the mesh's points along `node_axis`, e.g. (N,), (N, dim) or (n_times, N, dim) with
        node_axis=1; the result has the grid's axes there instead: (*spatial,), (*spatial, dim), ...
        """
        values = np.asarray(values)
        node_axis %= values.ndim
        values = np.moveaxis(values, node_axis, 0)
        flat = values.reshape(len(values), -1)  # (N, everything else)
        grid = np.asarray(self.weights @ flat).reshape(*self.mask.shape, *values.shape[1:])
        return np.moveaxis(grid, tuple(range(self.mask.ndim)), tuple(range(node_axis, node_axis + self.mask.ndim)))


def grid_interpolation(mesh: MeshGeometry, axes: tuple[np.ndarray, ...]) -> GridInterpolation:
    """The interpolation from `mesh` to the grid with node coordinates `axes` (x first, `ij` order)."""
    points, cells = mesh.points, mesh.cells
    dim = points.shape[1]
    if len(axes) != dim:
        raise ValueError(f"a {dim}D mesh cannot be interpolated onto a {len(axes)}D grid")
    shape = tuple(len(a) for a in axes)
    # Candidate (cell, grid node) pairs: the grid nodes in each cell's bounding box, slightly enlarged.
    corners = points[cells]  # (M, d+1, d)
    lo, hi, count = [], [], np.ones(len(cells), dtype=np.int64)
    for k, axis in enumerate(axes):
        pad = INSIDE_TOLERANCE * (axis[-1] - axis[0])
        lo.append(np.searchsorted(axis, corners[:, :, k].min(axis=1) - pad, side="left"))
        hi.append(np.searchsorted(axis, corners[:, :, k].max(axis=1) + pad, side="right"))
        count *= hi[k] - lo[k]
    cell = np.repeat(np.arange(len(cells)), count)
    rest = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)  # rank within the cell's box
    index = []
    for k in reversed(range(dim)):  # unravel `rest` over the box, last axis fastest
        width = (hi[k] - lo[k])[cell]
        index.insert(0, lo[k][cell] + rest % width)
        rest = rest // width
    node = np.stack([axes[k][index[k]] for k in range(dim)], axis=-1)  # (P, d)
    # Barycentric coordinates: λ_1..λ_d solve [v_1 - v_0, ..., v_d - v_0] λ = x - v_0, and λ_0 = 1 - Σ λ_k.
    edges = np.swapaxes(corners[:, 1:] - corners[:, :1], 1, 2)  # (M, d, d), columns v_k - v_0
    lam = np.einsum("pij,pj->pi", np.linalg.inv(edges)[cell], node - corners[cell, 0])
    lam = np.concatenate([1.0 - lam.sum(axis=1, keepdims=True), lam], axis=1)  # (P, d+1)
    inside = lam.min(axis=1) >= -INSIDE_TOLERANCE
    flat = np.ravel_multi_index(tuple(i[inside] for i in index), shape)
    flat, first = np.unique(flat, return_index=True)  # a node on a shared edge: the first cell's weights
    chosen_cell, chosen_lam = cell[inside][first], lam[inside][first]
    weights = scipy.sparse.csr_array(
        (chosen_lam.ravel(), (np.repeat(flat, dim + 1), cells[chosen_cell].ravel())),
        shape=(int(np.prod(shape)), len(points)))
    mask = np.zeros(int(np.prod(shape)), dtype=bool)
    mask[flat] = True
    return GridInterpolation(weights=weights, mask=mask.reshape(shape))


def mesh_to_grid(mesh: MeshGeometry, values: np.ndarray, axes: tuple[np.ndarray, ...],
                 node_axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """P1 values at the mesh's points -> (values at the grid's nodes, 0 outside; mask of the nodes inside)."""
    interpolation = grid_interpolation(mesh, axes)
    return interpolation(values, node_axis), interpolation.mask
