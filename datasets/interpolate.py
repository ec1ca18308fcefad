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


# -- the other way: onto the vertices of a mesh -------------------------------------------------------
@dataclass(frozen=True)
class PointInterpolation:
    """A linear map from values at some nodes (a grid's, in `ij` order, or a mesh's points) to values at points."""

    weights: scipy.sparse.csr_array  # (n_points, n_nodes)

    def __call__(self, values: np.ndarray, node_axis: int = -1) -> np.ndarray:
        """`values` with the nodes along `node_axis` (flattened there for a grid: (..., *spatial) reshaped to
        (..., n_grid_nodes) by the caller) -> the same with the points there."""
        values = np.moveaxis(np.asarray(values), node_axis, 0)
        out = self.weights @ values.reshape(len(values), -1)
        return np.moveaxis(np.asarray(out).reshape(-1, *values.shape[1:]), 0, node_axis)


def grid_to_points(axes: tuple[np.ndarray, ...], mask: np.ndarray, points: np.ndarray) -> PointInterpolation:
    """Values at the grid nodes where `mask` is True -> values at `points` (n, d); linear fields are reproduced
    exactly wherever enough nodes are inside.

    A point whose grid cell has every corner inside: d-linear interpolation. A point whose cell has a corner
    outside (inside an obstacle or beyond a wall, where a masked grid field holds 0 and no information): the
    value at the point of the linear function fitted by weighted least squares to the inside nodes of the 4^d
    block around the cell (weights (1 − (r/2ℓ)²)², ℓ the cell diagonal: a moving-least-squares reconstruction),
    so neither the zeros outside nor a plain average leak in: a linear field is read exactly up to a wall. Where
    that fit is ill-posed (fewer than d + 1 inside nodes in general position), the weighted mean of the inside
    nodes, and with none of them the nearest inside node. This is the kindest reading of a masked grid field at
    the vertices of the mesh it was interpolated from: what it still misses is what the grid itself lost."""
    from scipy.spatial import cKDTree

    points = np.asarray(points, dtype=np.float64)
    shape, dim = tuple(len(a) for a in axes), len(axes)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != shape or points.ndim != 2 or points.shape[1] != dim:
        raise ValueError(f"mask {mask.shape} and points {points.shape} do not fit a grid of shape {shape}")
    lower, fraction = [], []
    for k, axis in enumerate(axes):
        i = np.clip(np.searchsorted(axis, points[:, k], side="right") - 1, 0, len(axis) - 2)
        lower.append(i)
        fraction.append(np.clip((points[:, k] - axis[i]) / (axis[i + 1] - axis[i]), 0.0, 1.0))
    rows, cols, vals = [], [], []
    full = np.ones(len(points), dtype=bool)
    for corner in np.ndindex(*(2,) * dim):  # d-linear weights, kept for the points whose corners are all inside
        index = tuple(lower[k] + corner[k] for k in range(dim))
        full &= mask[index]
        rows.append(np.arange(len(points)))
        cols.append(np.ravel_multi_index(index, shape))
        vals.append(np.prod([fraction[k] if corner[k] else 1.0 - fraction[k] for k in range(dim)], axis=0))
    rows, cols, vals = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    keep = full[rows]
    rows, cols, vals = [rows[keep]], [cols[keep]], [vals[keep]]
    cut = np.flatnonzero(~full)
    if cut.size:  # moving least squares on the inside nodes of the 4^d block
        offsets = np.array(list(np.ndindex(*(4,) * dim))) - 1  # (B, d)
        index = np.stack([np.clip(np.stack(lower, axis=1)[cut, None, k] + offsets[None, :, k], 0, shape[k] - 1)
                          for k in range(dim)], axis=-1)  # (P, B, d)
        node = np.stack([axes[k][index[..., k]] for k in range(dim)], axis=-1)  # (P, B, d)
        flat = np.ravel_multi_index(tuple(index[..., k] for k in range(dim)), shape)  # (P, B)
        spacing = np.sqrt(sum(np.diff(axes[k]).max() ** 2 for k in range(dim)))
        r = np.linalg.norm(node - points[cut, None], axis=-1) / (2 * spacing)
        w = np.clip(1.0 - r**2, 0.0, None) ** 2 * mask.ravel()[flat]  # (P, B)
        basis = np.concatenate([np.ones(w.shape + (1,)), (node - points[cut, None]) / spacing], axis=-1)  # (P, B, d+1)
        gram = np.einsum("pb,pbi,pbj->pij", w, basis, basis)
        posed = np.linalg.cond(gram) < 1e8
        fit = np.zeros_like(w)
        if posed.any():  # value at the point = the fitted constant: e_0ᵀ G⁻¹ Aᵀ W
            solved = np.linalg.solve(gram[posed], np.einsum("pbi,pb->pib", basis[posed], w[posed]))
            fit[posed] = solved[:, 0]
        total = w.sum(axis=1)
        mean = ~posed & (total > 0)
        fit[mean] = w[mean] / total[mean, None]
        dedup = np.zeros_like(w)  # a clipped block repeats nodes: sum their weights once per (point, node)
        for p in range(len(cut)):
            _, first, inverse = np.unique(flat[p], return_index=True, return_inverse=True)
            np.add.at(dedup[p], first[inverse], fit[p])
        has = np.abs(dedup) > 0
        rows.append(np.repeat(cut, has.sum(axis=1)))
        cols.append(flat[has])
        vals.append(dedup[has])
        stranded = cut[~posed & (total <= 0)]
        if stranded.size:  # no inside node near: the nearest inside node
            inside = np.flatnonzero(mask.ravel())
            grid_points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, dim)[inside]
            _, nearest = cKDTree(grid_points).query(points[stranded])
            rows.append(stranded)
            cols.append(inside[nearest])
            vals.append(np.ones(stranded.size))
    weights = scipy.sparse.csr_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                     shape=(len(points), int(np.prod(shape))))
    return PointInterpolation(weights)


def mesh_to_points(mesh: MeshGeometry, points: np.ndarray) -> PointInterpolation:
    """P1 interpolation from the vertices of `mesh` (triangles) to `points` (n, 2), in the mesh's own cells
    (matplotlib's trapezoid-map search on the given triangles, so holes stay holes). A point outside every
    cell (a vertex of a finer mesh on a curved boundary, just outside the coarser polygon) is read in the cell it
    lies least outside of (the largest smallest barycentric coordinate among the 8 cells with the nearest
    centroids), with its barycentric coordinates clipped to the triangle and renormalised: a value on that
    cell's boundary edge, a convex combination like every other."""
    from matplotlib.tri import Triangulation
    from scipy.spatial import cKDTree

    if mesh.cell_type != "triangle" or mesh.dim != 2:
        raise ValueError(f"mesh_to_points interpolates on 2D triangles, not {mesh.dim}D {mesh.cell_type}")
    points = np.asarray(points, dtype=np.float64)
    corners = mesh.points[mesh.cells]  # (M, 3, 2)
    cell = Triangulation(mesh.points[:, 0], mesh.points[:, 1], mesh.cells).get_trifinder()(points[:, 0], points[:, 1])
    outside = np.flatnonzero(cell < 0)
    if outside.size:
        _, near = cKDTree(corners.mean(axis=1)).query(points[outside], k=min(8, len(mesh.cells)))
        near = near.reshape(len(outside), -1)
        lam = _barycentric(corners[near], points[outside, None])  # (n_out, k, 3)
        best = np.argmax(lam.min(axis=-1), axis=1)
        cell[outside] = near[np.arange(len(outside)), best]
    lam = _barycentric(corners[cell], points)
    lam = np.clip(lam, 0.0, None)
    lam /= lam.sum(axis=-1, keepdims=True)
    rows = np.repeat(np.arange(len(points)), 3)
    weights = scipy.sparse.csr_array((lam.ravel(), (rows, mesh.cells[cell].ravel())),
                                     shape=(len(points), mesh.n_points))
    return PointInterpolation(weights)


def _barycentric(corners: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Barycentric coordinates (..., 3) of x (..., 2) in the triangles corners (..., 3, 2)."""
    edges = np.stack([corners[..., 1, :] - corners[..., 0, :], corners[..., 2, :] - corners[..., 0, :]], axis=-1)
    lam = np.linalg.solve(edges, (x - corners[..., 0, :])[..., None])[..., 0]
    return np.concatenate([1.0 - lam.sum(axis=-1, keepdims=True), lam], axis=-1)
