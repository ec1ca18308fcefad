"""Fixed FE operators as sparse matrices (SPON's encoder, decoder and transfers): checked against dolfinx itself."""
import dolfinx_solver  # noqa: F401  (before dolfinx)
import dolfinx
import dolfinx.fem.petsc
import numpy as np
import pytest
import ufl
from mpi4py import MPI

from surrolab.solvers.fem.fe_operators import (L2Projection, boundary_dofs, dof_graph, mass_matrix,
                                               prolongation_matrix)


def square(n: int, diagonal=dolfinx.mesh.DiagonalType.right):
    return dolfinx.mesh.create_unit_square(MPI.COMM_SELF, n, n, diagonal=diagonal)


def lagrange(mesh, degree: int):
    return dolfinx.fem.functionspace(mesh, ("Lagrange", degree))


def smooth(x):
    return np.sin(2.0 * x[0]) * np.exp(x[1]) + x[0] * x[1] ** 2


@pytest.mark.parametrize("degree", [1, 2])
def test_the_mass_matrix_integrates_and_is_symmetric(degree):
    V = lagrange(square(6), degree)
    mass = mass_matrix(V)
    assert mass.sum() == pytest.approx(1.0, rel=1e-13)  # Σ_ij ∫ φ_i φ_j = ∫ 1
    assert abs(mass - mass.T).max() < 1e-16


def test_projection_is_galerkin_orthogonal_idempotent_and_equals_dolfinx_projection():
    mesh = square(8)
    P1, P2 = lagrange(mesh, 1), lagrange(mesh, 2)
    u2 = dolfinx.fem.Function(P2)
    u2.interpolate(smooth)
    down = L2Projection.between(P1, P2)
    c = down(u2.x.array)
    np.testing.assert_allclose(down.mass @ c, down.mixed @ u2.x.array, atol=1e-14)  # ∫(u − Πu) φ_i = 0
    # dolfinx's own projection: find p ∈ P1 with ∫ p v = ∫ u v for all v ∈ P1
    p, v = ufl.TrialFunction(P1), ufl.TestFunction(P1)
    problem = dolfinx.fem.petsc.LinearProblem(p * v * ufl.dx, u2 * v * ufl.dx, petsc_options_prefix="projection",
                                              petsc_options={"ksp_type": "preonly", "pc_type": "lu"})
    np.testing.assert_allclose(c, problem.solve().x.array, atol=1e-12)
    same = L2Projection.between(P1, P1)
    np.testing.assert_allclose(same(c), c, atol=1e-13)  # E(D(c)) = c: idempotent on the space itself
    up = L2Projection.between(P2, P1)  # P1 ⊂ P2: the projection of a P1 function is that function
    u1 = dolfinx.fem.Function(P1)
    u1.x.array[:] = c
    exact = dolfinx.fem.Function(P2)
    exact.interpolate(u1)
    np.testing.assert_allclose(up(c), exact.x.array, atol=1e-12)
    assert np.shape(down(np.stack([u2.x.array, 2 * u2.x.array], axis=1))) == (len(c), 2)


@pytest.mark.parametrize("degree", [1, 2])
def test_prolongation_is_interpolate_nonmatching_and_reproduces_constants(degree):
    coarse_mesh = square(4)
    coarse_mesh.topology.create_entities(1)
    fine_mesh, _, _ = dolfinx.mesh.refine(coarse_mesh)
    other_mesh = square(7, dolfinx.mesh.DiagonalType.left)  # not nested in the coarse mesh
    Vc = lagrange(coarse_mesh, degree)
    uc = dolfinx.fem.Function(Vc)
    uc.interpolate(smooth)
    for mesh in (fine_mesh, other_mesh):
        Vf = lagrange(mesh, degree)
        P = prolongation_matrix(Vc, Vf)
        cells = np.arange(mesh.topology.index_map(2).size_local, dtype=np.int32)
        reference = dolfinx.fem.Function(Vf)
        reference.interpolate_nonmatching(uc, cells, dolfinx.fem.create_interpolation_data(Vf, Vc, cells,
                                                                                           padding=1e-14))
        np.testing.assert_allclose(P @ uc.x.array, reference.x.array, atol=1e-13)
        np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-13)  # Lagrange bases sum to one
    # nested: every coarse function is a fine one, so sampling its prolongation back at the coarse DOFs returns it
    fine = lagrange(fine_mesh, degree)
    back = prolongation_matrix(fine, Vc) @ (prolongation_matrix(Vc, fine) @ uc.x.array)
    np.testing.assert_allclose(back, uc.x.array, atol=1e-13)
    other = lagrange(other_mesh, degree)
    round_trip = prolongation_matrix(other, Vc) @ (prolongation_matrix(Vc, other) @ uc.x.array)
    assert np.abs(round_trip - uc.x.array).max() > 1e-4  # not nested: information is lost


def test_the_dof_graph_is_the_mass_matrix_sparsity_and_boundary_dofs_lie_on_the_boundary():
    V = lagrange(square(5), 2)
    edges = dof_graph(V)
    mass = mass_matrix(V).tocoo()
    off = mass.row != mass.col
    pattern = set(zip(mass.row[off].tolist(), mass.col[off].tolist()))
    assert set(zip(edges[0].tolist(), edges[1].tolist())) == pattern
    x = V.tabulate_dof_coordinates()[:, :2]
    on_edge = np.flatnonzero(np.any(np.isclose(x, 0.0) | np.isclose(x, 1.0), axis=1))
    np.testing.assert_array_equal(boundary_dofs(V), on_edge)
    assert len(on_edge) == 4 * 10  # P2 on a 5x5 square: 11 DOFs per side, 4 corners shared
