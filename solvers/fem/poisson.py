"""Poisson's equation with a variable coefficient and Dirichlet data on part of the boundary, in Lagrange P1/P2:
the steady operator-learning problem of SPON (issue 17; the `poisson` family will draw f, κ and the domain).

    −∇·(κ ∇u) = f  in Ω,      u = g  on Γ_D,      κ ∂u/∂n = 0  on ∂Ω \\ Γ_D.

Weak form: find u_h ∈ V_h with u_h = I_h g on Γ_D such that ∫ κ ∇u_h·∇v = ∫ f v for every v ∈ V_h vanishing on
Γ_D; a direct solve (MUMPS through PETSc). `stiffness_matrix` gives the same operator as a scipy matrix for the
oracle processor of the SPON tests. f and κ may be numbers, ufl expressions or dolfinx Functions.
"""
from __future__ import annotations

import dolfinx_solver  # noqa: F401  (must be imported before dolfinx)
import dolfinx
import dolfinx.fem.petsc
import numpy as np
import scipy.sparse
import scipy.sparse.linalg
import ufl

from surrolab.solvers.fem.fe_operators import sparse_matrix


def solve_poisson(V, f, kappa, dirichlet_dofs: np.ndarray, dirichlet_values: np.ndarray) -> np.ndarray:
    """The coefficients of u_h in V (module docstring); `dirichlet_values` are g at `dirichlet_dofs`."""
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    g = dolfinx.fem.Function(V)
    g.x.array[dirichlet_dofs] = dirichlet_values
    bc = dolfinx.fem.dirichletbc(g, np.asarray(dirichlet_dofs, dtype=np.int32))
    problem = dolfinx.fem.petsc.LinearProblem(
        kappa * ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx, f * v * ufl.dx, bcs=[bc],
        petsc_options_prefix="surrolab_poisson_",
        petsc_options={"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"})
    return problem.solve().x.array.copy()


def stiffness_matrix(V, kappa) -> scipy.sparse.csr_array:
    """K_ij = ∫ κ ∇φ_j·∇φ_i, without boundary conditions."""
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    return sparse_matrix(kappa * ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx)


def solve_with_lifting(stiffness, load: np.ndarray, dirichlet_dofs: np.ndarray,
                       dirichlet_values: np.ndarray) -> np.ndarray:
    """The discrete solve as linear algebra: K_FF c_F = b_F − K_FD g, c_D = g (F the free DOFs, D the Dirichlet
    ones): what `solve_poisson` computes, given K and the load vector b_i = ∫ f φ_i."""
    n = stiffness.shape[0]
    free = np.setdiff1d(np.arange(n), dirichlet_dofs)
    c = np.zeros(n)
    c[dirichlet_dofs] = dirichlet_values
    K = scipy.sparse.csr_array(stiffness)
    rhs = load[free] - K[free][:, dirichlet_dofs] @ dirichlet_values
    c[free] = scipy.sparse.linalg.spsolve(K[free][:, free].tocsc(), rhs)
    return c


__all__ = ["solve_poisson", "solve_with_lifting", "stiffness_matrix"]
