"""Poisson with a variable coefficient: manufactured-solution orders for P1 and P2, and SPON's structure with an
oracle processor (the exact discrete solve in place of P_θ) giving back the FE solution and its FE rate."""
import dolfinx_solver  # noqa: F401  (before dolfinx)
import dolfinx
import numpy as np
import pytest
import torch
import ufl
from mpi4py import MPI

from surrolab.solvers.fem.fe_operators import L2Projection, boundary_dofs, mass_matrix
from surrolab.solvers.fem.poisson import solve_poisson, solve_with_lifting, stiffness_matrix
from surrolab.surrogates.spon import apply_dirichlet


def exact(x):  # u(x, y), as ufl or numpy
    sin = ufl.sin if isinstance(x, ufl.core.expr.Expr) else np.sin
    return sin(np.pi * x[0]) * sin(2 * np.pi * x[1]) + x[0] * x[1]


def kappa_of(x):
    return 1.0 + 0.5 * x[0] * x[1]


def setup(n: int, degree: int):
    mesh = dolfinx.mesh.create_unit_square(MPI.COMM_SELF, n, n)
    V = dolfinx.fem.functionspace(mesh, ("Lagrange", degree))
    x = ufl.SpatialCoordinate(mesh)
    u, kappa = exact(x), kappa_of(x)
    f = -ufl.div(kappa * ufl.grad(u))
    dofs = boundary_dofs(V)
    g = exact(V.tabulate_dof_coordinates()[dofs, :2].T)
    return mesh, V, x, u, kappa, f, dofs, g


def l2_error(mesh, V, coefficients, u) -> float:
    uh = dolfinx.fem.Function(V)
    uh.x.array[:] = coefficients
    return float(np.sqrt(dolfinx.fem.assemble_scalar(dolfinx.fem.form((uh - u) ** 2 * ufl.dx(degree=8)))))


@pytest.mark.parametrize("degree, order", [(1, 2.0), (2, 3.0)])
def test_manufactured_solution_converges_at_the_fe_rate(degree, order):
    errors = []
    for n in (8, 16, 32):
        mesh, V, x, u, kappa, f, dofs, g = setup(n, degree)
        errors.append(l2_error(mesh, V, solve_poisson(V, f, kappa, dofs, g), u))
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    print(f"P{degree}: L2 errors {errors}, rates {rates}")
    assert np.all(np.abs(rates - order) < 0.15)


def test_an_oracle_processor_gives_the_fe_solution_and_its_rate():
    """S = D ∘ P ∘ E with E the Galerkin projection of a P2 source onto V_h = P1, P the discrete solve (K⁻¹ M with
    the Dirichlet rows lifted), D the exact-Dirichlet decoder: the FE solution to solver tolerance, so E and D add
    nothing to the FE error, which falls as h²."""
    errors = []
    for n in (8, 16, 32):
        mesh, V, x, u, kappa, f, dofs, g = setup(n, 1)
        source = dolfinx.fem.Function(dolfinx.fem.functionspace(mesh, ("Lagrange", 2)))
        source.interpolate(dolfinx.fem.Expression(f, source.function_space.element.interpolation_points))
        encoded = L2Projection.between(V, source.function_space)(source.x.array)  # E
        oracle = solve_with_lifting(stiffness_matrix(V, kappa), mass_matrix(V) @ encoded, dofs, g)  # P
        mask, lifted = np.zeros(len(oracle), dtype=bool), np.zeros(len(oracle))
        mask[dofs], lifted[dofs] = True, g
        decoded = apply_dirichlet(torch.as_tensor(oracle)[:, None], torch.as_tensor(mask),
                                  torch.as_tensor(lifted)[:, None])  # D
        direct = solve_poisson(V, source, kappa, dofs, g)
        np.testing.assert_allclose(decoded[:, 0].numpy(), direct, rtol=1e-9, atol=1e-11)
        errors.append(l2_error(mesh, V, direct, u))
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(rates > 1.85)
