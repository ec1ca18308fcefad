"""Forces on a body and point values of the pressure, from a `FlowState` of the Navier–Stokes solver.

Force on the body S exerted by the fluid (n the unit normal pointing out of the fluid, into the body, so
that −n points out of the body):

    F = −∫_S σ n ds,      σ = −p I + μ ∇u      (the stress of the solver's weak form).

Volume (reaction) form, the one to use (Giles, Larson, Levenstam & Süli 1997; V. John, "Reference values
for drag and lift of a two-dimensional time-dependent flow around a cylinder", Int. J. Numer. Methods
Fluids 44 (2004) 777–788, section 3). Multiply the momentum equation by a velocity test function v_k
that equals the unit vector e_k on S and vanishes on every other boundary, and integrate by parts:

    F·e_k = −R(u_h, p_h; v_k),
    R(u, p; v) = ρ(∂u/∂t, v) + ρ c(u; u, v) + μ(∇u, ∇v) − (p, ∇·v),
    c(w; u, v) = ((w·∇)u, v) + ½((∇·w)u, v)    (the solver's skew-symmetric advection).

For a discrete steady solution R(u_h, p_h; v) = 0 for every v in the discrete space that vanishes on the
Dirichlet boundary, so the value does not depend on how v_k is extended into the fluid: v_k here is the P2
function equal to e_k at the nodes on S and 0 at all others. The error is that of the energy norm squared
(O(h⁴) for Taylor–Hood on smooth domains), against O(h²) for the surface integral of σn, which needs
∇u_h and p_h on the boundary. `surface_forces` gives that surface integral as an independent check.

Stabilisation: a state that the solver computed with SUPG and grad-div (`state.stabilized`) zeroes the
residual with those terms added, so R then includes them (with w = u_h and the same τ_K, γ_K; they are
consistent, so they vanish as h → 0), and the value again does not depend on the extension of v_k. A body
force f of the solver enters as −(f, v).

Time derivative: ∂u/∂t is taken as (uⁿ − uⁿ⁻¹)/Δt from `state.velocity` and `state.previous_velocity`
(zero when there is no previous velocity, and zero at a steady state, where the form is exact). The
solver's BDF2 step would need uⁿ⁻² as well; the first-order difference leaves an O(Δt) error in the
O(Δt⁻¹)-small inertial part of the force, which `benchmarks/dfg_cylinder.py` accepts for 2D-2.

Parallel: on a mesh spread over MPI ranks every form is assembled over each rank's owned cells and facets
and summed over the ranks, so every rank gets the whole force; point values come from
`navier_stokes.evaluate`, which asks the rank that owns the point's cell.
"""
from __future__ import annotations

import dolfinx_solver  # noqa: F401  (must be imported before dolfinx)
import dolfinx
import numpy as np
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from surrolab.errors import SurrolabError
from surrolab.solvers.fem.navier_stokes import FlowState, NavierStokesSolver, evaluate, stabilization_terms
from surrolab.solvers.fem.stabilization import element_length


class BoundaryForces:
    """The force that the fluid exerts on one boundary piece (e.g. `MeshedDomain.facets("cylinder")`).

    Built once per solver and boundary (it compiles two small forms); `volume_forces` and
    `surface_forces` map a `FlowState` to the force vector (F_x, F_y) and keep no state between calls.
    """

    def __init__(self, solver: NavierStokesSolver, facets: np.ndarray):
        facets = np.asarray(facets)
        n_facets = solver.comm.allreduce(facets.size, op=MPI.SUM)  # in parallel a rank may hold none of them
        if facets.ndim != 1 or not np.issubdtype(facets.dtype, np.integer) or n_facets == 0:
            raise SurrolabError("facets must be a non-empty 1D integer array of boundary facets")
        self.solver = solver
        mesh, space = solver.mesh, solver.velocity_space
        fdim = mesh.topology.dim - 1
        facets = np.unique(facets.astype(np.int32))

        self._u = dolfinx.fem.Function(space)
        self._u_previous = dolfinx.fem.Function(space)
        self._p = dolfinx.fem.Function(solver.pressure_space)
        self._inverse_dt = dolfinx.fem.Constant(mesh, PETSc.ScalarType(0.0))
        rho = dolfinx.fem.Constant(mesh, PETSc.ScalarType(solver.density))
        mu = dolfinx.fem.Constant(mesh, PETSc.ScalarType(solver.viscosity))
        u, p = self._u, self._p

        # v_k: e_k at the P2 nodes on the facets, 0 elsewhere (blocked space: dof b holds components 2b, 2b+1)
        blocks = dolfinx.fem.locate_dofs_topological(space, fdim, facets)
        self._test_functions = []
        for k in range(mesh.geometry.dim):
            v = dolfinx.fem.Function(space)
            v.x.array[space.dofmap.bs * blocks + k] = 1.0
            v.x.scatter_forward()
            self._test_functions.append(v)
        residuals = [(rho * self._inverse_dt * ufl.inner(u - self._u_previous, v)
                      + rho * (ufl.inner(ufl.dot(ufl.grad(u), u), v) + 0.5 * ufl.div(u) * ufl.inner(u, v))
                      + mu * ufl.inner(ufl.grad(u), ufl.grad(v)) - p * ufl.div(v)) * ufl.dx
                     for v in self._test_functions]
        if solver.body_force is not None:
            residuals = [r - ufl.inner(solver.body_force, v) * ufl.dx for r, v in zip(residuals, self._test_functions)]
        self._residual_forms = {False: [dolfinx.fem.form(r) for r in residuals]}
        if solver.stabilization != "none":  # a stabilised solution zeroes the stabilised residual
            stabilized = []
            for r, v in zip(residuals, self._test_functions):
                left, right = stabilization_terms(
                    u, u, p, v, rho, mu, element_length(mesh, 2), force=solver.body_force,
                    unsteady=(rho * self._inverse_dt * u, rho * self._inverse_dt * self._u_previous))
                stabilized.append(dolfinx.fem.form(r + left - right))
            self._residual_forms[True] = stabilized

        # surface integral of −σn over the tagged facets, n the fluid's outward normal
        tags = dolfinx.mesh.meshtags(mesh, fdim, facets, np.ones(facets.size, dtype=np.int32))
        ds = ufl.Measure("ds", domain=mesh, subdomain_data=tags, subdomain_id=1)
        n = ufl.FacetNormal(mesh)
        traction = -(-p * n + mu * ufl.dot(ufl.grad(u), n))
        self._surface_forms = [dolfinx.fem.form(traction[k] * ds) for k in range(mesh.geometry.dim)]

    def _load(self, state: FlowState, with_time_derivative: bool) -> None:
        self._u.x.array[:] = state.velocity
        self._p.x.array[:] = state.pressure
        if with_time_derivative and state.previous_velocity is not None:
            self._u_previous.x.array[:] = state.previous_velocity
            self._inverse_dt.value = 1.0 / self.solver.dt
        else:
            self._u_previous.x.array[:] = state.velocity
            self._inverse_dt.value = 0.0

    def _sum(self, form) -> float:
        return self.solver.comm.allreduce(dolfinx.fem.assemble_scalar(form), op=MPI.SUM)

    def volume_forces(self, state: FlowState, *, time_derivative: bool = True) -> np.ndarray:
        """(F_x, F_y) = −R(u_h, p_h; e_k-extension), the accurate one (module docstring)."""
        self._load(state, time_derivative)
        return -np.array([self._sum(form) for form in self._residual_forms[state.stabilized]])

    def surface_forces(self, state: FlowState) -> np.ndarray:
        """(F_x, F_y) = −∫_S σ(u_h, p_h) n ds: first order less accurate, for cross-checking."""
        self._load(state, False)
        return np.array([self._sum(form) for form in self._surface_forms])


def pressure_difference(solver: NavierStokesSolver, state: FlowState, a: tuple[float, float],
                        b: tuple[float, float]) -> float:
    """p_h(a) − p_h(b) (the DFG benchmarks' Δp with a = (0.15, 0.2), b = (0.25, 0.2)); on a mesh spread over
    MPI ranks each point is evaluated on the rank that owns its cell, and every rank gets Δp."""
    _, p = solver.functions(state)
    values = evaluate(p, np.array([a, b], dtype=float))[:, 0]
    return float(values[0] - values[1])
