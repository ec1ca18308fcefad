"""Fixed finite-element operators as sparse matrices, from dolfinx: what SPON's encoder, decoder and multigrid
transfers are made of (`surrogates/spon.py`, issue 17), and what any model needs to move DOF vectors between
Lagrange spaces.

Everything here is assembled once per mesh, serially (COMM_SELF: `MatrixCSR.to_scipy` keeps owned rows only),
and returned as scipy CSR matrices and numpy arrays, so the numerics that use them need no dolfinx:

    mass_matrix(V)              M_ij = ∫ φ_j φ_i                     (n_V, n_V)
    mixed_mass_matrix(V, U)     B_ij = ∫ ψ_j φ_i, ψ ∈ U, φ ∈ V        (n_V, n_U), U and V on one mesh
    L2Projection(V, U)          c = M⁻¹ B u: the Galerkin (L²) projection of u_h ∈ U onto V, ∫(u_h − Π u_h) φ_i = 0
    prolongation_matrix(Vc, Vf) P_ij = φ^c_j(x^f_i): the Lagrange interpolant of a coarse function at the fine
                                DOFs (any two meshes of one domain; on nested meshes exact for every coarse function)
    dof_graph(V)                DOF pairs that share a cell, both directions: the off-diagonal sparsity of M
    boundary_dofs(V)            DOFs on the exterior facets

The prolongation evaluates the coarse basis at the fine DOF coordinates: locate each point's coarse cell
(`geometry.bb_tree`, `compute_colliding_cells`), pull it back to the reference cell (`cmaps[0].pull_back`) and
tabulate the basix element there. This is what `Function.interpolate_nonmatching` computes, as a matrix (a test
checks the two agree). It holds for scalar Lagrange elements, which need no DOF transformations; a point outside
every coarse cell (a fine vertex on a curved boundary outside the coarse polygon) is refused.
"""
from __future__ import annotations

from dataclasses import dataclass

import dolfinx_solver  # noqa: F401  (must be imported before dolfinx)
import dolfinx
import numpy as np
import scipy.sparse
import scipy.sparse.linalg
import ufl

from surrolab.errors import SurrolabError


def sparse_matrix(form) -> scipy.sparse.csr_array:
    """A bilinear ufl form assembled serially into a scipy CSR matrix (rows: test functions)."""
    matrix = dolfinx.fem.assemble_matrix(dolfinx.fem.form(form))
    matrix.scatter_reverse()
    return scipy.sparse.csr_array(matrix.to_scipy())


def _check_scalar_lagrange(V) -> None:
    element = V.element
    if V.dofmap.index_map_bs != 1 or element.needs_dof_transformations:
        raise SurrolabError("fe_operators handles scalar Lagrange spaces (P1, P2); got a blocked space or an element "
                            "with DOF transformations")


def mass_matrix(V) -> scipy.sparse.csr_array:
    """M_ij = ∫ φ_j φ_i over V's mesh."""
    return sparse_matrix(ufl.TrialFunction(V) * ufl.TestFunction(V) * ufl.dx)


def mixed_mass_matrix(V, U) -> scipy.sparse.csr_array:
    """B_ij = ∫ ψ_j φ_i with ψ_j the basis of U and φ_i that of V (both on one mesh): (n_V, n_U)."""
    return sparse_matrix(ufl.TrialFunction(U) * ufl.TestFunction(V) * ufl.dx)


@dataclass(frozen=True)
class L2Projection:
    """The Galerkin projection of functions of U onto V (one mesh): coefficients c = M_V⁻¹ B u, factorised once.
    Applied to (n_U,) or (n_U, k) coefficient arrays."""

    mass: scipy.sparse.csr_array  # M_V
    mixed: scipy.sparse.csr_array  # B (n_V, n_U)
    solve: object  # the LU factorisation's solve

    @classmethod
    def between(cls, V, U) -> "L2Projection":
        mass = mass_matrix(V)
        return cls(mass=mass, mixed=mixed_mass_matrix(V, U), solve=scipy.sparse.linalg.splu(mass.tocsc()).solve)

    def __call__(self, coefficients: np.ndarray) -> np.ndarray:
        return self.solve(np.asarray(self.mixed @ coefficients, dtype=np.float64))


def prolongation_matrix(coarse, fine, padding: float = 1e-12) -> scipy.sparse.csr_array:
    """P (n_fine, n_coarse): row i holds the coarse basis functions' values at fine DOF i (module docstring)."""
    for V in (coarse, fine):
        _check_scalar_lagrange(V)
    mesh = coarse.mesh
    tdim, gdim = mesh.topology.dim, mesh.geometry.dim
    points = np.ascontiguousarray(fine.tabulate_dof_coordinates()[:, :3], dtype=np.float64)
    tree = dolfinx.geometry.bb_tree(mesh, tdim, padding=padding)
    colliding = dolfinx.geometry.compute_colliding_cells(mesh, dolfinx.geometry.compute_collisions_points(tree, points),
                                                         points)
    counts = np.diff(colliding.offsets)
    if np.any(counts == 0):
        missing = points[np.flatnonzero(counts == 0)[0], :gdim]
        raise SurrolabError(f"{int(np.sum(counts == 0))} fine DOFs lie outside every coarse cell (the first at "
                            f"{np.round(missing, 6).tolist()}): the coarse mesh must cover the fine one")
    cells = colliding.array[colliding.offsets[:-1]]  # the first colliding cell of each point
    cmap, geometry = mesh.geometry.cmaps[0], mesh.geometry.dofmaps[0]
    basix_element = coarse.element.basix_element
    rows, cols, vals = [], [], []
    for cell in np.unique(cells):
        here = np.flatnonzero(cells == cell)
        reference = cmap.pull_back(points[here, :gdim], mesh.geometry.x[geometry[cell], :gdim])
        values = basix_element.tabulate(0, reference)[0, :, :, 0]  # (points, cell DOFs)
        dofs = coarse.dofmap.cell_dofs(cell)
        rows.append(np.repeat(here, len(dofs)))
        cols.append(np.tile(dofs, len(here)))
        vals.append(values.ravel())
    matrix = scipy.sparse.csr_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                    shape=(len(points), coarse.dofmap.index_map.size_local))
    matrix.eliminate_zeros()
    return matrix


def dof_graph(V) -> np.ndarray:
    """(2, E) sender and receiver DOFs of every pair that shares a cell, both directions, sorted; no self-loops."""
    cells = np.asarray(V.dofmap.list, dtype=np.int64)  # (n_cells, DOFs per cell)
    k = cells.shape[1]
    pairs = np.concatenate([cells[:, [a, b]] for a in range(k) for b in range(a + 1, k)])
    pairs = np.unique(np.sort(pairs, axis=1), axis=0)
    return np.concatenate([pairs, pairs[:, ::-1]]).T.copy()


def boundary_dofs(V) -> np.ndarray:
    """Sorted DOFs on the mesh's exterior facets."""
    mesh = V.mesh
    fdim = mesh.topology.dim - 1
    mesh.topology.create_connectivity(fdim, mesh.topology.dim)
    facets = dolfinx.mesh.exterior_facet_indices(mesh.topology)
    return np.sort(dolfinx.fem.locate_dofs_topological(V, fdim, facets))


__all__ = ["L2Projection", "boundary_dofs", "dof_graph", "mass_matrix", "mixed_mass_matrix", "prolongation_matrix",
           "sparse_matrix"]
