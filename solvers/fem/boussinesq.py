"""Boussinesq flow in 2D: a transported scalar (smoke concentration, temperature) that drives an incompressible
flow through buoyancy; `NavierStokesSolver` for the flow, a P1 advection–diffusion solver for the scalar.

PDE (Ω ⊂ R² enclosed by walls, velocity u, pressure p, scalar c, density ρ, dynamic viscosity μ, scalar
diffusivity κ, buoyancy β per unit of c, ê = (0, 1) pointing up, source density s ≥ 0)

    ρ (∂u/∂t + (u·∇)u) − μ Δu + ∇p = ρ β c ê,      ∇·u = 0,
    ∂c/∂t + u·∇c − κ Δc = s(x, t)                                      in Ω,
    u = g on ∂Ω (no slip, or driven walls with g·n = 0),      κ ∂c/∂n = 0 on ∂Ω (no flux).

The buoyancy points up (c > 0 rises), as the smoke of PDEArena's data (phiflow: force = c · (0, β)); it is the
Boussinesq form −ρ β_T (T − T₀) g of a temperature with c = T − T₀ and β = β_T |g|. With u·n = 0 and the
no-flux condition the scalar's total changes only by its source: d/dt ∫_Ω c = ∫_Ω s.

Flow: `NavierStokesSolver` (Taylor–Hood P2–P1, linearly implicit BDF2, MUMPS LU), with the buoyancy in its
body-force slot. The flow must be enclosed (every boundary a Dirichlet wall): the scalar's no-flux condition is
the natural one only where u·n = 0.

Scalar (`ScalarTransport`): continuous P1 on the same mesh, which is the pressure space. Advection in the
skew-symmetric form b(w; c, v) = (w·∇c, v) + ½((∇·w) c, v), so b(w; c, c) = 0 for any w (the scalar's L2
norm is not fed by the discrete divergence of u_h). BDF2 in time with the same coefficients as the flow
(BDF1 on the first step):

    (a₀cⁿ⁺¹ − b₁cⁿ − b₂cⁿ⁻¹, v) + b(uⁿ⁺¹; cⁿ⁺¹, v) + κ(∇cⁿ⁺¹, ∇v) + SUPG = (sⁿ⁺¹, v)      ∀ v ∈ P1.

Exact discrete conservation: with v = 1 the diffusion and SUPG terms vanish (∇1 = 0), and so does the
advection, b(u_h; c_h, 1) = −½(∇·u_h, c_h) = 0, because Taylor–Hood's discrete incompressibility holds against
every q in P1 and c_h is one (u_h = 0 on ∂Ω removes the boundary term). Hence the BDF2 recurrence
(3Mⁿ⁺¹ − 4Mⁿ + Mⁿ⁻¹)/(2Δt) = Sⁿ⁺¹ for Mⁿ = ∫c_hⁿ, Sⁿ = ∫s_h(tⁿ): for a steady source Mⁿ = M⁰ + tⁿ S exactly
(BDF1's first step gives M¹ − M⁰ = ΔtS, and the recurrence then keeps every increment at ΔtS), up to the
linear solvers' rounding. A P2 scalar would be more accurate per unknown but would lose this identity.

Stabilisation: SUPG (Brooks & Hughes, Comput. Methods Appl. Mech. Eng. 32 (1982) 199–259), the residual of
the time-discrete equation tested with τ w·∇v cell by cell,

    SUPG = Σ_K (a₀cⁿ⁺¹ − b₁cⁿ − b₂cⁿ⁻¹ + w·∇cⁿ⁺¹ − κΔcⁿ⁺¹ − sⁿ⁺¹, τ_K w·∇v)_K,
    τ_K = ((2|w|/h_K)² + (12κ/h_K²)²)^(−1/2),   h_K the cell diameter, w = uⁿ⁺¹,

which is consistent (zero for the exact solution, up to the BDF2 error), so it keeps the orders below. τ has
no 1/Δt term: John & Novo (SIAM J. Numer. Anal. 49 (2011) 1149–1176) analyse SUPG for evolutionary problems
with a τ independent of Δt, and a τ that shrinks with Δt loses the stabilisation at small steps (Bochev,
Gunzburger & Shadid, Comput. Methods Appl. Mech. Eng. 193 (2004) 2301–2323). Why it is needed: Galerkin P1
oscillates once the mesh Péclet number |u|h/(2κ) exceeds 1; in the `smoke` family (u up to ~2 m/s,
h = 1 m, κ = 0.04 m²/s) it is ~25. SUPG reduces the wiggles at fronts to over- and undershoots of a few
percent (it is not monotone: c may dip slightly below 0, which `smoke` reports). `stabilization="none"` gives
plain Galerkin (for the scalar; the flow's own SUPG/grad-div switch is `flow_stabilization`, default `auto`).

Coupling, one linear solve for (u, p) then one for c per step, second order and linear:
1. the buoyancy at tⁿ⁺¹ uses the extrapolated scalar c* = 2cⁿ − cⁿ⁻¹ (c* = c⁰ on the first step), an
   O(Δt²) approximation of cⁿ⁺¹, so the flow step is the flow solver's BDF2 with a second-order force;
2. the scalar at tⁿ⁺¹ is advected by the new velocity uⁿ⁺¹, so its BDF2 step is the exact time-discrete
   equation at tⁿ⁺¹ (no lag).
Both solves are linear (the flow's advection is linearised by its own extrapolation), and the step's global
order is 2 in time; in space it is the flow's (3 for u, 2 for p in L2) and 2 for the P1 scalar in L2.
`tests/solvers/fem/test_boussinesq.py` measures the scalar's order in h and Δt against a manufactured solution
and the coupled scheme's order in Δt.

Buoyancy split (pressure robustness): Taylor–Hood's velocity error contains a term (1/ν) inf_q ‖p − q‖ over
the discrete pressures (John, Linke, Merdon, Neilan & Rebholz, "On the divergence constraint in mixed finite
element methods for incompressible flows", SIAM Review 59 (2017) 492–544), so a large gradient force, such as
the hydrostatic part of a buoyancy once the scalar stratifies, drives a spurious flow although in the PDE it
only changes the pressure. With `split_buoyancy=True` (the default) the force's discrete Helmholtz gradient
part, φ ∈ P2 with (∇φ, ∇q) = (ρβc*ê, ∇q) for all q ∈ P2 and ∫φ = 0 (one more solve per step, with a matrix
factored once), goes into the pressure: the flow solver gets f − ∇φ, its P1 pressure p̃ carries only the rest,
and the state's pressure is p̃ + φ at the P1 nodes, shifted to ∫p = 0. The PDE is unchanged (the two forces
differ by a gradient). Measured: for a stable stratification at rest, an exact steady state, the spurious
velocity falls 140-fold and ‖∇·u_h‖ 560-fold on a structured mesh (the test; there the P1 scalar stays a
function of y alone) and the velocity 4.6-fold on an unstructured gmsh box (h = 0.08, layer width 0.05); in
`smoke` (defaults, Δt = 0.375 s) ‖∇·u_h‖/‖∇u_h‖ over the first 24 s falls 1.4- to 4-fold (0.053 -> 0.013
at t = 6 s, 0.030 -> 0.021 at 24 s). It cannot remove the gradient part of the nonlinear term, so an
under-resolved flow still shows a large ‖∇·u_h‖; the flow solver's grad-div term, on where its cell Reynolds
number calls for SUPG (`flow_stabilization`, `navier_stokes.py`), is the general remedy.

Stability: the flow step alone is unconditionally stable for a given force, and the scalar step alone is
A-stable BDF2 with b(w; c, c) = 0; neither has a CFL limit. The coupling, explicit in the buoyancy, is not
unconditionally stable: for the internal gravity waves of a stable stratification, buoyancy frequency
N = (β ∂c/∂y)^(1/2), the scheme's amplification matrix for the linear oscillator w' = βc, c' = −(∂c/∂y)w has
spectral radius 1 + 0.25(NΔt)⁴ + ... (1.00002 at NΔt = 0.1, 1.0018 at 0.3, 1.077 at 1), a slight
anti-damping, growth rate ~0.25N⁴Δt³, that viscosity and diffusion (νk², κk² for a wave number k) must
outweigh; in `smoke` NΔt ≲ 0.1 (N ≲ 0.55 1/s in the stratified layer). Measured beyond that linear picture:
in `smoke` at |u|Δt/h ≈ 1 some samples grow a grid-scale oscillation at sharp smoke fronts, which halving Δt
removes (`smoke.py`), so keep |u|Δt/h ≲ 0.5 there. Treating the buoyancy implicitly (one monolithic
(u, p, c) solve, or a fixed-point iteration per step) would lift these limits at a higher cost per step.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dolfinx_solver  # noqa: F401  (must be imported before dolfinx)
import dolfinx
import dolfinx.fem.petsc
import numpy as np
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from surrolab.errors import SurrolabError, check_positive_number
from surrolab.solvers.fem.navier_stokes import FlowState, NavierStokesSolver, VelocityBC, rollout
from surrolab.solvers.fem.stabilization import element_length, speed, supg_tau

ScalarSource = Callable[[ufl.SpatialCoordinate, dolfinx.fem.Constant], ufl.core.expr.Expr]
ScalarData = Callable[[np.ndarray], np.ndarray]  # points (3, N) -> values (N,)

STABILIZATIONS = ("supg", "none")


def _finite(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SurrolabError(f"{name}={value!r} is not allowed: it must be a finite number")
    return float(value)


def _lu(comm: MPI.Comm, matrix: PETSc.Mat) -> PETSc.KSP:
    """A direct solver of `matrix`: MUMPS LU where PETSc has it (and in parallel), else PETSc's LU."""
    ksp = PETSc.KSP().create(comm)
    ksp.setOperators(matrix)
    ksp.setType(PETSc.KSP.Type.PREONLY)
    pc = ksp.getPC()
    pc.setType(PETSc.PC.Type.LU)
    if PETSc.Sys.hasExternalPackage("mumps"):
        pc.setFactorSolverType("mumps")
    return ksp


# -- the scalar alone -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScalarState:
    """The scalar at one time level: P1 dofs of cⁿ (this rank's, owned then ghosts) and cⁿ⁻¹ for BDF2
    (None before the first step, which is then BDF1)."""

    t: float
    scalar: np.ndarray
    previous_scalar: np.ndarray | None = None
    n_steps: int = 0


class ScalarTransport:
    """∂c/∂t + w·∇c − κΔc = s with no-flux walls: P1, skew-symmetric advection, SUPG, BDF2 (module docstring).

    Built once from the mesh, κ, Δt and an optional source slot `source(x, t)` (a UFL scalar in
    x = `ufl.SpatialCoordinate` and t, a `fem.Constant` set to tⁿ⁺¹; it may be a dolfinx Function). The
    advecting velocity is given to every `step` as dofs of `velocity_space` (P2 vectors by default, the flow
    solver's); it must satisfy w·n = 0 on ∂Ω for the no-flux condition to hold.
    """

    order_in_space: int = 2  # L2, P1
    order_in_time: int = 2

    def __init__(self, mesh: dolfinx.mesh.Mesh, *, diffusivity: float, dt: float,
                 velocity_space: dolfinx.fem.FunctionSpace | None = None, source: ScalarSource | None = None,
                 stabilization: str = "supg"):
        self.diffusivity, self.dt = check_positive_number("diffusivity", diffusivity), check_positive_number("dt", dt)
        if stabilization not in STABILIZATIONS:
            raise SurrolabError(f"stabilization={stabilization!r} is not allowed; choose one of {STABILIZATIONS}")
        self.mesh, self.comm, self.stabilization = mesh, mesh.comm, stabilization
        self.space = dolfinx.fem.functionspace(mesh, ("Lagrange", 1))
        if velocity_space is None:
            velocity_space = dolfinx.fem.functionspace(mesh, ("Lagrange", 2, (mesh.geometry.dim,)))
        self.velocity_space = velocity_space

        self.t = dolfinx.fem.Constant(mesh, PETSc.ScalarType(0.0))
        self._a0, self._b1, self._b2 = (dolfinx.fem.Constant(mesh, PETSc.ScalarType(0.0)) for _ in range(3))
        self._c_n, self._c_nm1 = dolfinx.fem.Function(self.space), dolfinx.fem.Function(self.space)
        self._w = dolfinx.fem.Function(velocity_space)
        kappa = dolfinx.fem.Constant(mesh, PETSc.ScalarType(self.diffusivity))
        c, v = ufl.TrialFunction(self.space), ufl.TestFunction(self.space)
        x = ufl.SpatialCoordinate(mesh)
        w = self._w
        s = source(x, self.t) if source is not None else dolfinx.fem.Constant(mesh, PETSc.ScalarType(0.0))
        history = self._b1 * self._c_n + self._b2 * self._c_nm1  # (4cⁿ − cⁿ⁻¹)/(2Δt) for BDF2

        a = (self._a0 * c * v + ufl.dot(w, ufl.grad(c)) * v + 0.5 * ufl.div(w) * c * v
             + kappa * ufl.dot(ufl.grad(c), ufl.grad(v))) * ufl.dx
        rhs = (history + s) * v * ufl.dx
        if stabilization == "supg":
            tau = supg_tau(speed(w), kappa, element_length(mesh, 1))  # `stabilization.py`
            streamline = tau * ufl.dot(w, ufl.grad(v))
            dx = ufl.dx(metadata={"quadrature_degree": 4})  # τ is not a polynomial
            a += (self._a0 * c + ufl.dot(w, ufl.grad(c)) - kappa * ufl.div(ufl.grad(c))) * streamline * dx
            rhs += (history + s) * streamline * dx
        self._a, self._L = dolfinx.fem.form(a), dolfinx.fem.form(rhs)
        self._matrix = dolfinx.fem.petsc.create_matrix(self._a)
        self._rhs = dolfinx.fem.petsc.create_vector(self.space)
        self._solution = dolfinx.fem.Function(self.space)
        self._ksp = _lu(self.comm, self._matrix)

        self._c = dolfinx.fem.Function(self.space)
        self._mass_form = dolfinx.fem.form(self._c * ufl.dx)
        # the source's load vector (s, φ_i) with the quadrature of the right-hand side; its sum is (s, 1)
        self._source_load = dolfinx.fem.form(s * v * ufl.dx)

    def _integral(self, form) -> float:
        return self.comm.allreduce(dolfinx.fem.assemble_scalar(form), op=MPI.SUM)

    def initial_state(self, scalar: ScalarData | None = None, t: float = 0.0) -> ScalarState:
        """c⁰ interpolated from scalar(x) -> (N,) (zero when None) at time t."""
        c0 = dolfinx.fem.Function(self.space)
        if scalar is not None:
            c0.interpolate(lambda x: np.asarray(scalar(x), dtype=float))
            c0.x.scatter_forward()
        return ScalarState(t=float(t), scalar=c0.x.array.copy())

    def step(self, state: ScalarState, velocity: np.ndarray) -> ScalarState:
        """One BDF2 step (BDF1 when `state.previous_scalar` is None) advected by `velocity` (dofs of
        `velocity_space` at tⁿ⁺¹)."""
        dt, t_next = self.dt, state.t + self.dt
        self._c_n.x.array[:] = state.scalar
        if state.previous_scalar is None:
            coefficients = (1.0 / dt, 1.0 / dt, 0.0)
            self._c_nm1.x.array[:] = 0.0
        else:
            coefficients = (1.5 / dt, 2.0 / dt, -0.5 / dt)
            self._c_nm1.x.array[:] = state.previous_scalar
        for constant, value in zip((self._a0, self._b1, self._b2), coefficients):
            constant.value = value
        self._w.x.array[:] = velocity
        self.t.value = t_next

        self._matrix.zeroEntries()
        dolfinx.fem.petsc.assemble_matrix(self._matrix, self._a)
        self._matrix.assemble()
        with self._rhs.localForm() as local:
            local.set(0.0)
        dolfinx.fem.petsc.assemble_vector(self._rhs, self._L)
        self._rhs.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        self._ksp.solve(self._rhs, self._solution.x.petsc_vec)
        if self._ksp.getConvergedReason() < 0:
            raise SurrolabError(f"the scalar's linear solve failed at t={t_next:g} (PETSc reason "
                                f"{self._ksp.getConvergedReason()})")
        self._solution.x.scatter_forward()
        scalar = self._solution.x.array.copy()
        if not np.all(np.isfinite(scalar)):
            raise SurrolabError(f"the scalar became non-finite at t={t_next:g}")
        return ScalarState(t=t_next, scalar=scalar, previous_scalar=state.scalar, n_steps=state.n_steps + 1)

    def mass(self, scalar: np.ndarray) -> float:
        """∫_Ω c_h."""
        self._c.x.array[:] = scalar
        return self._integral(self._mass_form)

    def source_rate(self, t: float) -> float:
        """∫_Ω s(x, t), what the scalar's total gains per unit time at t, integrated as the step does (the sum
        of the load vector (s, φ_i), since Σφ_i = 1), so the discrete balance holds to rounding."""
        previous, self.t.value = float(self.t.value), t
        load = dolfinx.fem.assemble_vector(self._source_load)
        load.scatter_reverse(dolfinx.la.InsertMode.add)
        self.t.value = previous
        owned = self.space.dofmap.index_map.size_local
        return self.comm.allreduce(float(np.sum(load.array[:owned])), op=MPI.SUM)

    def function(self, scalar: np.ndarray) -> dolfinx.fem.Function:
        """A new dolfinx Function holding the scalar's dofs (for norms, errors and output)."""
        c = dolfinx.fem.Function(self.space)
        c.x.array[:] = scalar
        return c


class _GradientPart:
    """The discrete Helmholtz gradient part of a force f: φ ∈ P2 with (∇φ, ∇q) = (f, ∇q) for all q ∈ P2 and
    ∫φ = 0 (pure Neumann: f − ∇φ is then L2-orthogonal to every discrete gradient). `solve()` updates `phi`
    from the current values of the Functions in f; `at_pressure_dofs` gives φ at the P1 nodes."""

    def __init__(self, mesh: dolfinx.mesh.Mesh, force: ufl.core.expr.Expr):
        self.comm = mesh.comm
        self.space = dolfinx.fem.functionspace(mesh, ("Lagrange", 2))
        phi, q = ufl.TrialFunction(self.space), ufl.TestFunction(self.space)
        stiffness = dolfinx.fem.petsc.assemble_matrix(dolfinx.fem.form(ufl.inner(ufl.grad(phi), ufl.grad(q)) * ufl.dx))
        stiffness.assemble()  # constant: factored once
        self._nullspace = PETSc.NullSpace().create(constant=True, comm=self.comm)
        stiffness.setNullSpace(self._nullspace)
        self._matrix = stiffness
        self._ksp = _lu(self.comm, stiffness)
        if PETSc.Sys.hasExternalPackage("mumps"):
            self._ksp.getPC().setFactorSetUpSolverType()
            self._ksp.getPC().getFactorMatrix().setMumpsIcntl(icntl=24, ival=1)  # the constant's null pivot
        self._L = dolfinx.fem.form(ufl.inner(force, ufl.grad(q)) * ufl.dx)
        self._rhs = dolfinx.fem.petsc.create_vector(self.space)
        self.phi = dolfinx.fem.Function(self.space)
        self._mean = dolfinx.fem.form(self.phi * ufl.dx)
        one = dolfinx.fem.Constant(mesh, PETSc.ScalarType(1.0))
        self.area = self.comm.allreduce(dolfinx.fem.assemble_scalar(dolfinx.fem.form(one * ufl.dx)), op=MPI.SUM)
        self._vertex: np.ndarray | None = None

    def bind(self, pressure_space: dolfinx.fem.FunctionSpace) -> None:
        """Map each dof of the flow's (collapsed) P1 pressure space to the P2 dof on the same vertex; basix
        orders the first three dofs of a P1 and of a P2 cell as the cell's vertices."""
        index_map = pressure_space.dofmap.index_map
        self._vertex = np.full(index_map.size_local + index_map.num_ghosts, -1, dtype=np.int64)
        self._vertex[pressure_space.dofmap.list[:, :3]] = self.space.dofmap.list[:, :3]

    def solve(self) -> None:
        with self._rhs.localForm() as local:
            local.set(0.0)
        dolfinx.fem.petsc.assemble_vector(self._rhs, self._L)
        self._rhs.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        self._nullspace.remove(self._rhs)
        self._ksp.solve(self._rhs, self.phi.x.petsc_vec)
        self.phi.x.scatter_forward()
        self.phi.x.array[:] -= self.comm.allreduce(dolfinx.fem.assemble_scalar(self._mean), op=MPI.SUM) / self.area

    def at_pressure_dofs(self) -> np.ndarray:
        return self.phi.x.array[self._vertex]


# -- the coupled solver -----------------------------------------------------------------------------
@dataclass(frozen=True)
class BoussinesqState:
    """Flow and scalar at one time level, as dof arrays: `velocity` (P2, interleaved), `pressure` (P1),
    `scalar` (P1), and the previous level's velocity and scalar for BDF2 (None before the first step)."""

    t: float
    velocity: np.ndarray
    pressure: np.ndarray
    scalar: np.ndarray
    previous_velocity: np.ndarray | None = None
    previous_scalar: np.ndarray | None = None
    n_steps: int = 0
    stabilized: bool = False  # the flow's SUPG/grad-div (`FlowState.stabilized`)

    @property
    def flow(self) -> FlowState:
        return FlowState(t=self.t, velocity=self.velocity, pressure=self.pressure,
                         previous_velocity=self.previous_velocity, n_steps=self.n_steps, stabilized=self.stabilized)

    @property
    def transported(self) -> ScalarState:
        return ScalarState(t=self.t, scalar=self.scalar, previous_scalar=self.previous_scalar, n_steps=self.n_steps)


class BoussinesqSolver:
    """`NavierStokesSolver` driven by the buoyancy ρβcê of a `ScalarTransport` scalar (module docstring).

    Built once from the mesh, the (enclosing) velocity walls, the physics (ρ, μ, κ, β, an optional scalar
    source slot) and Δt; `step` and `rollout` map `BoussinesqState`s to `BoussinesqState`s. It offers what
    the flow families' loop uses: `initial_state()`, `step`, `mesh`, `comm`, the three spaces and
    `extra_dofs` (the scalar's unknowns).
    """

    order_in_space: tuple[int, int, int] = (3, 2, 2)  # L2 orders of velocity, pressure, scalar
    order_in_time: int = 2

    def __init__(self, mesh: dolfinx.mesh.Mesh, boundary_conditions: Sequence[VelocityBC], *, viscosity: float,
                 diffusivity: float, buoyancy: float, dt: float, density: float = 1.0,
                 source: ScalarSource | None = None, stabilization: str = "supg", split_buoyancy: bool = True,
                 linear_solver: str = "lu", flow_stabilization: str = "auto"):
        self.buoyancy = _finite("buoyancy", buoyancy)  # β < 0: a heavy scalar that sinks
        self.mesh, self.comm, self.dt = mesh, mesh.comm, float(dt)
        # the scalar's space exists before the flow's forms, which read the extrapolated scalar c*
        self._buoyant = dolfinx.fem.Function(dolfinx.fem.functionspace(mesh, ("Lagrange", 1)))
        beta = dolfinx.fem.Constant(mesh, PETSc.ScalarType(self.buoyancy))
        rho = dolfinx.fem.Constant(mesh, PETSc.ScalarType(density))
        up = ufl.as_vector((0.0, 1.0))

        buoyancy_force = rho * beta * self._buoyant * up
        self._gradient_part = None
        if split_buoyancy:
            self._gradient_part = _GradientPart(mesh, buoyancy_force)
            body_force = buoyancy_force - ufl.grad(self._gradient_part.phi)
        else:
            body_force = buoyancy_force
        self.flow = NavierStokesSolver(mesh, boundary_conditions, viscosity=viscosity, density=density, dt=dt,
                                       body_force=lambda x, t: body_force, linear_solver=linear_solver,
                                       stabilization=flow_stabilization)
        if not self.flow.enclosed:
            raise SurrolabError("the Boussinesq solver needs an enclosed flow (velocity walls on all of ∂Ω): the "
                                "scalar's no-flux condition holds only where u·n = 0")
        self.transport = ScalarTransport(mesh, diffusivity=diffusivity, dt=dt,
                                         velocity_space=self.flow.velocity_space, source=source,
                                         stabilization=stabilization)
        if self._gradient_part is not None:
            self._gradient_part.bind(self.flow.pressure_space)
        if not np.array_equal(self.transport.space.dofmap.list, self._buoyant.function_space.dofmap.list):
            raise RuntimeError("two P1 spaces on one mesh numbered their dofs differently")  # a dolfinx change
        self._pressure = dolfinx.fem.Function(self.flow.pressure_space)
        self._pressure_mean = dolfinx.fem.form(self._pressure * ufl.dx)
        scalar_map = self.transport.space.dofmap.index_map
        self.extra_dofs = scalar_map.size_global

    # the flow families' interface
    @property
    def velocity_space(self) -> dolfinx.fem.FunctionSpace:
        return self.flow.velocity_space

    @property
    def pressure_space(self) -> dolfinx.fem.FunctionSpace:
        return self.flow.pressure_space

    @property
    def mixed_space(self) -> dolfinx.fem.FunctionSpace:
        return self.flow.mixed_space

    @property
    def scalar_space(self) -> dolfinx.fem.FunctionSpace:
        return self.transport.space

    def initial_state(self, velocity: Callable[[np.ndarray], np.ndarray] | None = None,
                      scalar: ScalarData | None = None, t: float = 0.0) -> BoussinesqState:
        """u⁰ from velocity(x) -> (2, N) and c⁰ from scalar(x) -> (N,), zero when None, at time t."""
        flow, transported = self.flow.initial_state(velocity, t), self.transport.initial_state(scalar, t)
        return BoussinesqState(t=float(t), velocity=flow.velocity, pressure=flow.pressure, scalar=transported.scalar)

    def step(self, state: BoussinesqState) -> BoussinesqState:
        """One step from tⁿ to tⁿ⁺¹: the flow with the buoyancy of c* = 2cⁿ − cⁿ⁻¹ (c⁰ on the first step),
        then the scalar advected by uⁿ⁺¹."""
        if state.previous_scalar is None:
            self._buoyant.x.array[:] = state.scalar
        else:
            self._buoyant.x.array[:] = 2.0 * state.scalar - state.previous_scalar
        if self._gradient_part is not None:
            self._gradient_part.solve()
        flow = self.flow.step(state.flow)
        pressure = flow.pressure
        if self._gradient_part is not None:  # p = p̃ + φ (at the P1 nodes), shifted to ∫p = 0 again
            self._pressure.x.array[:] = pressure + self._gradient_part.at_pressure_dofs()
            mean = self.comm.allreduce(dolfinx.fem.assemble_scalar(self._pressure_mean), op=MPI.SUM)
            pressure = self._pressure.x.array - mean / self._gradient_part.area
        transported = self.transport.step(state.transported, flow.velocity)
        return BoussinesqState(t=flow.t, velocity=flow.velocity, pressure=pressure, scalar=transported.scalar,
                               previous_velocity=state.velocity, previous_scalar=state.scalar,
                               n_steps=state.n_steps + 1, stabilized=flow.stabilized)

    def rollout(self, state: BoussinesqState, n_steps: int, save_every: int = 1) -> list[BoussinesqState]:
        """The states at steps 0, save_every, 2 save_every, ..., n_steps (the given state first)."""
        return rollout(self.step, state, n_steps, save_every)

    def diagnostics(self, state: BoussinesqState) -> dict[str, float]:
        """The flow's (‖∇·u_h‖, net boundary flux, kinetic energy) plus the scalar's total ∫c_h
        (`scalar_mass`) and its source rate ∫s_h(t) (`source_rate`)."""
        return {**self.flow.diagnostics(state.flow), "scalar_mass": self.transport.mass(state.scalar),
                "source_rate": self.transport.source_rate(state.t)}

    def cell_reynolds(self, state: BoussinesqState) -> float:
        """The flow's max_K |u|_K h_K / ν (`NavierStokesSolver.cell_reynolds`)."""
        return self.flow.cell_reynolds(state.flow)

    def cell_peclet(self, state: BoussinesqState) -> float:
        """The scalar's max_K |u|_K h_K / κ, the flow's cell Reynolds number times ν/κ (the same velocity and
        cells); Galerkin P1 is free of wiggles below 2 (|u|h/(2κ) < 1)."""
        kinematic_viscosity = self.flow.viscosity / self.flow.density
        return self.cell_reynolds(state) * kinematic_viscosity / self.transport.diffusivity

    def functions(self, state: BoussinesqState) -> tuple[dolfinx.fem.Function, ...]:
        """New dolfinx Functions (u_h, p_h, c_h) holding the state."""
        return (*self.flow.functions(state.flow), self.transport.function(state.scalar))


__all__ = ["BoussinesqSolver", "BoussinesqState", "ScalarState", "ScalarTransport", "STABILIZATIONS"]
