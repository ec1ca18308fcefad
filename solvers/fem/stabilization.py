"""Residual-based stabilisation of convection for the FEM solvers, and the cell numbers that say when it is needed.

Galerkin's approximation of a convection-dominated field oscillates from node to node once the cell's
convection outweighs its diffusion: the cell Péclet number |w| h / D (D a diffusivity, ν = μ/ρ for momentum,
where it is called the cell Reynolds number) is the measure. The remedy used here is the streamline-upwind
Petrov–Galerkin method (SUPG; Brooks & Hughes, Comput. Methods Appl. Mech. Eng. 32 (1982) 199–259): the
strong residual of the equation, tested cell by cell with τ_K w·∇v. It is consistent (the exact solution's
residual is zero), so it keeps the method's order; it adds diffusion along the streamlines only.

τ, for a Lagrange space of degree k on a cell of diameter h_K, with the length ℓ_K = h_K / k (the nodes'
spacing; the usual choice for higher-order SUPG, e.g. V. John, "Finite Element Methods for Incompressible
Flow Problems", Springer 2016, §7.2) and without a 1/Δt term:

    τ_K = ((2|w|/ℓ_K)² + (12 D/ℓ_K²)²)^(−1/2)        →  ℓ_K/(2|w|) where convection dominates, ℓ_K²/(12 D) where
                                                          diffusion does (Shakib, Hughes & Johan 1991's form).

No 1/Δt term: John & Novo (SIAM J. Numer. Anal. 49 (2011) 1149–1176) analyse SUPG for evolutionary problems
with a τ independent of Δt; a τ that shrinks with Δt loses the stabilisation at small steps (Bochev,
Gunzburger & Shadid, Comput. Methods Appl. Mech. Eng. 193 (2004) 2301–2323); and without it a steady state of
the time march is exactly the steady stabilised problem, so the steady solver and the march agree.

Grad-div, γ_K (∇·u, ∇·v)_K with γ_K = ℓ_K²/(4 τ_K) (units of a kinematic viscosity; ×ρ in the momentum
equation), which is ℓ_K|w|/2 where convection dominates, as the least-squares incompressibility constraint of
Tezduyar & Osawa (Comput. Methods Appl. Mech. Eng. 190 (2000) 411–430), and 3ν where diffusion does. It is
the τ_C = (τ_M g·g)⁻¹ of the residual-based VMS method (Bazilevs et al., Comput. Methods Appl. Mech. Eng. 197
(2007) 173–201) for a cell of length ℓ_K. It is also consistent (∇·u = 0) and improves the weakly
divergence-free Taylor–Hood velocity and its pressure-robustness (Olshanskii & Reusken, Numer. Math. 2004;
Jenkins, John, Linke & Rebholz, Adv. Comput. Math. 40 (2014) 491–516).
"""
from __future__ import annotations

import dolfinx_solver  # noqa: F401  (must be imported before dolfinx)
import dolfinx
import numpy as np
import ufl
from mpi4py import MPI

STABILIZATIONS = ("auto", "supg", "none")
"""`auto`: on from the first step from a flow whose cell Reynolds number is above the solver's limit (and on
after it); `supg`: always on; `none`: plain Galerkin."""


def element_length(mesh: dolfinx.mesh.Mesh, degree: int) -> ufl.core.expr.Expr:
    """ℓ_K = h_K / k: the cell diameter over the Lagrange degree (the spacing of the cell's nodes)."""
    return ufl.CellDiameter(mesh) / degree


def supg_tau(speed, diffusivity, length) -> ufl.core.expr.Expr:
    """τ_K = ((2|w|/ℓ)² + (12 D/ℓ²)²)^(−1/2), in time units (module docstring)."""
    return 1.0 / ufl.sqrt((2.0 * speed / length) ** 2 + (12.0 * diffusivity / length**2) ** 2)


def grad_div_parameter(tau, length) -> ufl.core.expr.Expr:
    """γ_K = ℓ²/(4 τ_K): ℓ|w|/2 where convection dominates, 3D where diffusion does (module docstring)."""
    return length**2 / (4.0 * tau)


def speed(w) -> ufl.core.expr.Expr:
    """|w|, smooth at w = 0 (a Newton linearisation differentiates it)."""
    return ufl.sqrt(ufl.dot(w, w) + 1e-30)


class CellNumber:
    """The largest cell Péclet (Reynolds) number max_K |w|_K h_K / D of a velocity given by its dofs.

    |w|_K is the largest speed at the cell's velocity nodes, h_K its diameter (the longest edge of a
    triangle), D the diffusivity (ν = μ/ρ for the cell Reynolds number). Owned cells only, the maximum taken
    over the ranks. Pure numpy over the dofmap: cheap enough to run before every time step.
    """

    def __init__(self, velocity_space: dolfinx.fem.FunctionSpace):
        mesh = velocity_space.mesh
        tdim = mesh.topology.dim
        owned = mesh.topology.index_map(tdim).size_local
        self._comm = mesh.comm
        self._cells = velocity_space.dofmap.list[:owned]  # (K, nodes per cell), block (node) indices
        self._diameters = dolfinx.cpp.mesh.h(mesh._cpp_object, tdim, np.arange(owned, dtype=np.int32))
        self._dim = velocity_space.dofmap.index_map_bs

    def __call__(self, velocity: np.ndarray, diffusivity: float) -> float:
        speeds = np.linalg.norm(np.asarray(velocity).reshape(-1, self._dim), axis=1)
        local = float(np.max(speeds[self._cells].max(axis=1) * self._diameters)) if len(self._cells) else 0.0
        return self._comm.allreduce(local, op=MPI.MAX) / diffusivity


__all__ = ["CellNumber", "STABILIZATIONS", "element_length", "grad_div_parameter", "speed", "supg_tau"]
