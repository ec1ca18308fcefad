"""Incompressible Navier–Stokes in 2D: Taylor–Hood P2–P1, linearly implicit BDF2, one monolithic solve per step.

PDE (Ω ⊂ R², velocity u, pressure p, constant density ρ, dynamic viscosity μ, ν = μ/ρ, body force f)

    ρ (∂u/∂t + (u·∇)u) − μ Δu + ∇p = f,      ∇·u = 0      in Ω,
    u = g_k(x, t) on Γ_k (k = 1..K, the Dirichlet pieces),    μ ∂u/∂n − p n = 0 on the rest of ∂Ω.

The natural condition on the unlisted boundary is the "do-nothing" outflow of the DFG benchmarks (Schäfer &
Turek, 1996). When the Γ_k cover ∂Ω ("enclosed" flow, e.g. the lid-driven cavity), p is determined up to a
constant, which is fixed by ∫_Ω p = 0.

Space: Taylor–Hood, continuous P2 velocity and P1 pressure on a triangle mesh passed in (any dolfinx mesh,
so gmsh meshes plug in). The pair is inf-sup stable (Brezzi & Fortin, "Mixed and Hybrid Finite Element
Methods", 1991): ‖u − u_h‖_L2 = O(h³), ‖∇(u − u_h)‖_L2 = O(h²), ‖p − p_h‖_L2 = O(h²) for smooth
solutions. The discrete velocity is divergence-free only weakly, (∇·u_h, q) = 0 for all q ∈ P1, so
‖∇·u_h‖_L2 = O(h²) is reported, not zero.

Weak form, advection in Temam's skew-symmetrised form for enclosed flows, which is consistent for
∇·u = 0 and does no work on fields that vanish on the boundary, c(w; v, v) = 0:

    c(w; u, v) = ((w·∇)u, v) + ½ ((∇·w) u, v).

With an open (do-nothing) boundary the convective form c(w; u, v) = ((w·∇)u, v) is used instead, as in
the DFG benchmark computations: the skew term changes the natural outflow condition (by ½(w·n)u), and
with it the DFG 2D-2 flow (Re = 100) blew up (drag 3 -> 16 within 1.5 s at h = 0.04) while the convective
form gives the periodic vortex street. The stability argument below is then the enclosed-flow one.

Time: BDF2 with the advecting velocity extrapolated, u* = 2uⁿ − uⁿ⁻¹ (a linearly implicit, or
"semi-implicit", BDF2; see V. John, "Finite Element Methods for Incompressible Flow Problems", Springer 2016,
on such linearised schemes). Each step solves one linear saddle-point problem for (u, p)ⁿ⁺¹:

    ρ/(2Δt) (3uⁿ⁺¹ − 4uⁿ + uⁿ⁻¹, v) + ρ c(u*; uⁿ⁺¹, v) + μ (∇uⁿ⁺¹, ∇v) − (pⁿ⁺¹, ∇·v) = (fⁿ⁺¹, v),
    −(∇·uⁿ⁺¹, q) = 0,                                                     uⁿ⁺¹ = g_k(tⁿ⁺¹) on Γ_k.

The first step is the same with BDF1 (backward Euler, u* = u⁰); its O(Δt²) local error keeps the global
order at 2.

Order: 2 in time for velocity and pressure (the scheme is monolithic: no splitting error), 3 in space for
the velocity and 2 for the pressure in L2. `tests/solvers/fem/test_navier_stokes.py` measures all four.

Stability: for g = 0 and f = 0 the scheme is stable for every Δt. Testing with v = uⁿ⁺¹ the advection
vanishes (c(u*; v, v) = 0 for any u*), and the BDF2 identity
2(3a − 4b + c, a) = |a|² + |2a − b|² − |b|² − |2b − c|² + |a − 2b + c|² gives decay of the G-norm
|uⁿ⁺¹|² + |2uⁿ⁺¹ − uⁿ|² (Dahlquist's G-stability of BDF2). There is no CFL limit; Δt is an accuracy choice.
A steady state of the scheme (uⁿ⁺¹ = uⁿ = uⁿ⁻¹) is exactly the discrete steady Navier–Stokes solution, for
any Δt, which `run_to_steady_state` uses with a large Δt; `navier_stokes_steady.py` solves the same steady
problem by Newton's method instead.

Why not incremental pressure correction (IPCS, as in Dokken's FEniCSx tutorial): its splitting imposes a
spurious ∂p/∂n = 0 on the pressure step, which limits the pressure to O(Δt) in L2 (O(Δt^{3/2}) in the
rotational form) and needs Δt small against the boundary layer it creates (Guermond, Minev & Shen,
"An overview of projection methods for incompressible flows", Comput. Methods Appl. Mech. Eng. 195 (2006)
6011–6045). The monolithic step costs one saddle-point solve instead of three SPD ones, which a sparse LU
does here in 30 ms at 32×32 cells (9.5k unknowns) and 0.2 s at 64×64 (37.5k).

Stabilisation where the mesh under-resolves convection (`stabilization=`, `stabilization.py` for τ and γ):
plain Galerkin is accurate while the cell Reynolds number Re_K = |u|_K h_K / ν stays moderate; beyond, it
makes node-to-node wiggles and, worse for a data generator, spurious dynamics: the Re = 1000 cavity on a
64² mesh (Re_K ≈ 22 with the lid speed and the diagonal) never becomes steady with Δt = 0.5 or 0.1, while the
physical flow is steady up to Re ≈ 8000. Two consistent terms (zero for the exact solution, so the orders
above stand) are added cell by cell:

    + Σ_K (R_M, τ_K (u*·∇)v)_K        SUPG (Brooks & Hughes 1982) with the full strong residual
                                      R_M = ρ(a₀uⁿ⁺¹ − b₁uⁿ − b₂uⁿ⁻¹) + ρ(u*·∇)uⁿ⁺¹ − μΔuⁿ⁺¹ + ∇pⁿ⁺¹ − fⁿ⁺¹,
    + Σ_K ργ_K (∇·uⁿ⁺¹, ∇·v)_K        grad-div,

τ_K = ((2|u*|/ℓ_K)² + (12ν/ℓ_K²)²)^(−1/2) and γ_K = ℓ_K²/(4τ_K) with ℓ_K = h_K/2 (the P2 nodes' spacing), τ
without 1/Δt so the steady states of the march are those of the steady solver (`navier_stokes_steady.py`).
Both use the extrapolated u*, so the step stays one linear solve. This is the SUPG + grad-div method analysed
for inf-sup stable pairs by Gelhard, Lube, Olshanskii & Starcke (J. Comput. Appl. Math. 177 (2005) 243–267);
PSPG is not added: Taylor–Hood needs no pressure stabilisation, and its q-test term would break the exact
(∇·u_h, q) = 0 that the mass-balance diagnostics and the Boussinesq scalar's conservation rely on.
`"none"` is plain Galerkin; `"supg"` always stabilises; `"auto"` (default) starts as Galerkin and turns both
terms on, for that step and all later ones (the state carries the flag), at the first step from a flow uⁿ
with max_K Re_K > `cell_reynolds_limit` (default `CELL_REYNOLDS_LIMIT`), so a mesh that resolves the flow
gives exactly the Galerkin results. (uⁿ, not the extrapolation u*: after an impulsive start, 2u¹ − u⁰ is
twice the lid speed at the lid and would switch on a resolved Re = 100 cavity.) `cell_reynolds(state)`
reports max_K Re_K, which the datasets record. Measured (`benchmarks/results/navier_stokes_validation.md`):
the limit leaves the validated Re = 100/400 cavities and DFG 2D-1 unchanged; DFG 2D-2 at h = 0.02 is
stabilised and stays inside every bound, and at h = 0.04 it enters the bound for c_L,max that Galerkin
misses; on 64² the Re = 1000 steady solution is 0.24 % of the lid speed from Erturk et al.'s 601² profiles
(Galerkin's steady solution, which the march cannot reach, 0.10 %), 0.08 % for both on 128².

Linear algebra: the matrix changes every step (u* does), so it is reassembled into the same sparsity and
solved by
* `linear_solver="lu"` (default): MUMPS LU of the whole saddle-point matrix (PETSc's own LU when MUMPS is
  absent, which cannot factor an enclosed flow's singular matrix); the symbolic factorisation is reused
  from step to step. For enclosed flows MUMPS's null-pivot
  detection (ICNTL(24)) handles the constant pressure mode.
* `linear_solver="fieldsplit"`: FGMRES with a Schur-complement field split (upper factorisation): one
  sweep of block-Jacobi/ILU(0) on the velocity block, Jacobi on the `selfp` approximation −B diag(A)⁻¹ Bᵀ
  of the Schur complement. For enclosed flows the constant pressure is attached as a null space. (GAMG and
  LU on the Schur approximation fail on its constant null space; GAMG on the velocity block took more
  iterations than ILU.) Measured on the Re = 100 cavity with Δt = 0.2 (2 shared cores): ~70 iterations and
  50 ms per step at 32×32, ~150 and 0.45 s at 64×64 where LU takes 0.2 s; the march to steady state at
  64×64 (Δt = 0.5, 45 steps) takes 36 s against LU's 11 s. LU is the default.
After either solve the pressure is shifted to ∫_Ω p = 0 when the flow is enclosed.

Parallel (one mesh over several MPI ranks, dolfinx's own domain decomposition): pass a mesh made on a
communicator with more than one rank (`unit_square_mesh(n, comm=MPI.COMM_WORLD)`, or a
`meshes.geometries` builder with `comm=MPI.COMM_WORLD`, which meshes on rank 0 and distributes). Each rank
then assembles its own cells, MUMPS factors the distributed matrix, and the state's arrays are this
rank's part of the dofs: owned first, then the ghosts, which every step refreshes from their owners
(`scatter_forward`). The constant-pressure null space is built on the owned dofs; every integral (the
pressure mean, the diagnostics, the steady-state norm, which counts owned dofs only) is summed over the
ranks; `evaluate_velocity` and `evaluate` find each point on the rank that owns its cell and give every
rank all the values. The result equals the serial one to the LU's rounding
(`tests/solvers/fem/test_navier_stokes_mpi.py`); `benchmarks/parallel_solve.py` measures the speed-up.

Body force slot: `body_force(x, t)` returns a UFL vector expression in x = `ufl.SpatialCoordinate` and the
time t (a `fem.Constant` set to tⁿ⁺¹); it may contain dolfinx Functions that the caller updates between
steps (the slot for a Boussinesq buoyancy −ρβ(T − T₀)g with a temperature T from another solver).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import basix.ufl
import dolfinx_solver  # noqa: F401  (must be imported before dolfinx)
import dolfinx
import dolfinx.fem.petsc
import numpy as np
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from surrolab.errors import SurrolabError, check_positive_int
from surrolab.solvers.fem.stabilization import (STABILIZATIONS, CellNumber, element_length, grad_div_parameter,
                                                speed, supg_tau)

Locator = Callable[[np.ndarray], np.ndarray]  # points (3, N) -> bool (N,)
VelocityData = Callable[[np.ndarray, float], np.ndarray]  # points (3, N), t -> values (gdim, N)
BodyForce = Callable[[ufl.SpatialCoordinate, dolfinx.fem.Constant], ufl.core.expr.Expr]


# -- meshes ---------------------------------------------------------------------------------------
def unit_square_mesh(n: int, *, grading: float = 0.0, diagonal: str = "right",
                     comm: MPI.Comm = MPI.COMM_SELF) -> dolfinx.mesh.Mesh:
    """A structured n×n triangle mesh of (0, 1)², optionally clustered toward the four walls.

    `grading` g ∈ [0, 1) maps each coordinate s ↦ s − g sin(2πs)/(2π): the spacing is (1 − g)h at the
    walls and (1 + g)h at the centre lines. `diagonal` is dolfinx's: "right" (two triangles per square, the
    default), "left", "right/left", "left/right" or "crossed" (four triangles per square, symmetric under
    the square's reflections; twice the unknowns, and no closer to Ghia's cavity profiles at 32×32).
    """
    check_positive_int("n", n)
    if not 0.0 <= grading < 1.0:
        raise SurrolabError(f"grading={grading!r} is not allowed: it must lie in [0, 1)")
    diagonals = {"crossed": dolfinx.mesh.DiagonalType.crossed, "right": dolfinx.mesh.DiagonalType.right,
                 "left": dolfinx.mesh.DiagonalType.left, "right/left": dolfinx.mesh.DiagonalType.right_left,
                 "left/right": dolfinx.mesh.DiagonalType.left_right}
    if diagonal not in diagonals:
        raise SurrolabError(f"diagonal={diagonal!r} is not allowed; choose one of {sorted(diagonals)}")
    mesh = dolfinx.mesh.create_unit_square(comm, n, n, diagonal=diagonals[diagonal])
    if grading:
        x = mesh.geometry.x  # (n_nodes, 3), updated in place
        x[:, :2] -= grading * np.sin(2 * np.pi * x[:, :2]) / (2 * np.pi)
    return mesh


# -- boundary data --------------------------------------------------------------------------------
@dataclass(frozen=True)
class VelocityBC:
    """Dirichlet velocity data on one piece of the boundary.

    where: a locator, points (3, N) -> bool (N,), true on the piece (a facet belongs to it when the locator
        holds at all of its vertices), or the indices of its facets (e.g. `MeshedDomain.facets("lid")`).
    value: a constant vector (u_x, u_y), or g(x, t) with points (3, N) -> values (2, N), evaluated at the
        new time level of every step.
    Where pieces share nodes (a cavity's top corners), the piece listed first wins.
    """

    where: Locator | np.ndarray
    value: Sequence[float] | VelocityData


class _DirichletPiece:
    """A `VelocityBC` bound to the mixed space: its dofs, its data Function and its dolfinx BC."""

    def __init__(self, bc: VelocityBC, mixed: dolfinx.fem.FunctionSpace, velocity_space: dolfinx.fem.FunctionSpace,
                 facets: np.ndarray, claimed: np.ndarray):
        mesh = mixed.mesh
        # (2, n): row 0 indexes the mixed space, row 1 the collapsed velocity space
        dofs = np.asarray(dolfinx.fem.locate_dofs_topological((mixed.sub(0), velocity_space),
                                                              mesh.topology.dim - 1, facets))
        keep = ~np.isin(dofs[0], claimed)
        self.mixed_dofs = dofs[0][keep]
        self.data = dolfinx.fem.Function(velocity_space)
        self.time_dependent = callable(bc.value)
        self.value = bc.value
        if not self.time_dependent:
            constant = np.asarray(bc.value, dtype=float)
            if constant.shape != (mesh.geometry.dim,):
                raise SurrolabError(f"a constant velocity value must have {mesh.geometry.dim} components, "
                                    f"got {bc.value!r}")
            self.data.interpolate(lambda x: np.tile(constant[:, None], (1, x.shape[1])))
        self.dirichlet = dolfinx.fem.dirichletbc(self.data, [self.mixed_dofs, dofs[1][keep]], mixed.sub(0))

    def update(self, t: float) -> None:
        if self.time_dependent:
            self.data.interpolate(lambda x: np.asarray(self.value(x, t), dtype=float))


def _facets_of(mesh: dolfinx.mesh.Mesh, where: Locator | np.ndarray) -> np.ndarray:
    fdim = mesh.topology.dim - 1
    if callable(where):
        return dolfinx.mesh.locate_entities_boundary(mesh, fdim, where)
    facets = np.asarray(where)
    if facets.ndim != 1 or not np.issubdtype(facets.dtype, np.integer):
        raise SurrolabError(f"VelocityBC.where must be a locator or a 1D integer array of facets, got {where!r}")
    return facets.astype(np.int32)


# -- state ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlowState:
    """The solution at one time level, as dof arrays of the solver's spaces.

    velocity: P2 dofs of uⁿ, shape (2 n_P2,), components interleaved (u_x, u_y) per node.
    pressure: P1 dofs of pⁿ, shape (n_P1,); zeros at the initial time (the scheme needs no initial pressure).
    On a mesh spread over MPI ranks, n_P2 and n_P1 count this rank's nodes, owned first, then ghosts.
    previous_velocity: uⁿ⁻¹ for BDF2, None before the first step (which is then BDF1).
    """

    t: float
    velocity: np.ndarray
    pressure: np.ndarray
    previous_velocity: np.ndarray | None = None
    n_steps: int = 0
    stabilized: bool = False  # SUPG and grad-div were on for the step that made this state (and stay on)


@dataclass(frozen=True)
class SteadyState:
    """What `run_to_steady_state` returns: the last state and how the iteration ended."""

    state: FlowState
    converged: bool
    n_steps: int
    change_rate: float  # ‖uⁿ⁺¹ − uⁿ‖ / (Δt ‖uⁿ⁺¹‖) at the last step (dof vectors, Euclidean norm)


def rollout(step: Callable, state, n_steps: int, save_every: int = 1) -> list:
    """`step` applied n_steps times; the states at steps 0, save_every, 2 save_every, ..., n_steps (the given
    state first). Shared by the flow and Boussinesq solvers."""
    check_positive_int("n_steps", n_steps)
    check_positive_int("save_every", save_every)
    states = [state]
    for n in range(1, n_steps + 1):
        state = step(state)
        if n % save_every == 0:
            states.append(state)
    return states


# -- the forms ------------------------------------------------------------------------------------
CELL_REYNOLDS_LIMIT = 10.0
"""`stabilization="auto"` turns SUPG and grad-div on once max_K |uⁿ|_K h_K / ν exceeds this (module docstring)."""


def galerkin_terms(w, u, p, v, q, rho, mu, enclosed: bool) -> ufl.core.expr.Expr:
    """The integrand of ρ c(w; u, v) + μ(∇u, ∇v) − (p, ∇·v) − (q, ∇·u), the advection skew-symmetric for an
    enclosed flow and convective otherwise (module docstring). Shared by the time step and the steady solver."""
    advection = ufl.inner(ufl.dot(ufl.grad(u), w), v)
    if enclosed:  # skew-symmetric (Temam): c(w; v, v) = 0 exactly
        advection += 0.5 * ufl.div(w) * ufl.inner(u, v)
    return rho * advection + mu * ufl.inner(ufl.grad(u), ufl.grad(v)) - p * ufl.div(v) - q * ufl.div(u)


def stabilization_terms(w, u, p, v, rho, mu, length, *, unsteady=None, force=None) -> tuple:
    """SUPG and grad-div (module docstring): (left, right) integrals, left − right = Σ_K (R_M, τ_K (w·∇)v)_K
    + Σ_K ρ γ_K (∇·u, ∇·v)_K with the strong momentum residual R_M = ρ∂_t u + ρ(w·∇)u − μΔu + ∇p − f.

    `unsteady` = (the part of ρ∂_t u that holds u, the part that holds the old levels), None for a steady
    problem; `force` f or None; `right` is None when there is neither. τ and γ are functions of w, so quadrature
    is fixed at degree 4."""
    tau = supg_tau(speed(w), mu / rho, length)
    streamline = tau * ufl.dot(ufl.grad(v), w)  # τ_K (w·∇)v
    residual = rho * ufl.dot(ufl.grad(u), w) - mu * ufl.div(ufl.grad(u)) + ufl.grad(p)
    data = [term for term in (unsteady and unsteady[1], force) if term is not None]
    if unsteady is not None:
        residual = residual + unsteady[0]
    dx = ufl.dx(metadata={"quadrature_degree": 4})
    left = (ufl.inner(residual, streamline) + rho * grad_div_parameter(tau, length) * ufl.div(u) * ufl.div(v)) * dx
    return left, (ufl.inner(sum(data[1:], data[0]), streamline) * dx if data else None)


# -- the solver -----------------------------------------------------------------------------------
class NavierStokesSolver:
    """Taylor–Hood P2–P1 with linearly implicit BDF2 (module docstring for the equations and orders).

    Built once from the mesh, the boundary data, the physics (density ρ, dynamic viscosity μ, an optional
    body-force slot) and Δt. `step`, `rollout` and `run_to_steady_state` map `FlowState`s to `FlowState`s
    and keep nothing between calls but the assembled operators' memory.
    """

    order_in_space: tuple[int, int] = (3, 2)  # L2 orders of velocity and pressure
    order_in_time: int = 2

    def __init__(self, mesh: dolfinx.mesh.Mesh, boundary_conditions: Sequence[VelocityBC], *, viscosity: float,
                 dt: float, density: float = 1.0, body_force: BodyForce | None = None,
                 enclosed: bool | None = None, linear_solver: str = "lu", stabilization: str = "auto",
                 cell_reynolds_limit: float = CELL_REYNOLDS_LIMIT):
        for name, value in (("viscosity", viscosity), ("density", density), ("dt", dt),
                            ("cell_reynolds_limit", cell_reynolds_limit)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise SurrolabError(f"{name}={value!r} is not allowed: it must be a finite number > 0")
        if linear_solver not in ("lu", "fieldsplit"):
            raise SurrolabError(f"linear_solver={linear_solver!r} is not allowed; choose 'lu' or 'fieldsplit'")
        if stabilization not in STABILIZATIONS:
            raise SurrolabError(f"stabilization={stabilization!r} is not allowed; choose one of {STABILIZATIONS}")
        self.stabilization, self.cell_reynolds_limit = stabilization, float(cell_reynolds_limit)
        if mesh.geometry.dim != 2:
            raise SurrolabError(f"the solver is 2D; the mesh has geometric dimension {mesh.geometry.dim}")
        self.mesh, self.dt = mesh, float(dt)
        self.density, self.viscosity = float(density), float(viscosity)
        self.comm = mesh.comm
        tdim = mesh.topology.dim
        mesh.topology.create_connectivity(tdim - 1, tdim)

        cell = mesh.basix_cell()
        element = basix.ufl.mixed_element([basix.ufl.element("Lagrange", cell, 2, shape=(2,)),
                                           basix.ufl.element("Lagrange", cell, 1)])
        self.mixed_space = dolfinx.fem.functionspace(mesh, element)
        self.velocity_space, self._velocity_dofs = self.mixed_space.sub(0).collapse()
        self.pressure_space, self._pressure_dofs = self.mixed_space.sub(1).collapse()
        # collapse() maps collapsed dofs to mixed dofs (unrolled; a list holding one array in dolfinx 0.11)
        self._velocity_dofs = np.asarray(self._velocity_dofs, dtype=np.int32).reshape(-1)
        self._pressure_dofs = np.asarray(self._pressure_dofs, dtype=np.int32).reshape(-1)
        velocity_map = self.velocity_space.dofmap
        self._owned_velocity = velocity_map.index_map.size_local * velocity_map.index_map_bs  # then the ghosts

        # boundary pieces, the first listed winning on shared nodes
        self._pieces: list[_DirichletPiece] = []
        covered, claimed = [], np.zeros(0, dtype=np.int32)
        for bc in boundary_conditions:
            facets = _facets_of(mesh, bc.where)
            piece = _DirichletPiece(bc, self.mixed_space, self.velocity_space, facets, claimed)
            claimed = np.union1d(claimed, piece.mixed_dofs)
            covered.append(facets)
            self._pieces.append(piece)
        self._bcs = [piece.dirichlet for piece in self._pieces]
        if enclosed is None:
            exterior = dolfinx.mesh.exterior_facet_indices(mesh.topology)
            uncovered = np.setdiff1d(exterior, np.concatenate(covered) if covered else exterior).size
            enclosed = self.comm.allreduce(uncovered, op=MPI.SUM) == 0
        self.enclosed = bool(enclosed)

        # the forms: BDF coefficients and the extrapolation are constants, so BDF1 and BDF2 share them
        self.t = dolfinx.fem.Constant(mesh, PETSc.ScalarType(0.0))
        self._u_n = dolfinx.fem.Function(self.velocity_space)
        self._u_nm1 = dolfinx.fem.Function(self.velocity_space)
        self._a0, self._b1, self._b2, self._e1, self._e2 = (dolfinx.fem.Constant(mesh, PETSc.ScalarType(0.0))
                                                             for _ in range(5))
        rho = dolfinx.fem.Constant(mesh, PETSc.ScalarType(self.density))
        mu = dolfinx.fem.Constant(mesh, PETSc.ScalarType(self.viscosity))
        u, p = ufl.TrialFunctions(self.mixed_space)
        v, q = ufl.TestFunctions(self.mixed_space)
        w = self._e1 * self._u_n + self._e2 * self._u_nm1  # u*, the advecting velocity
        x = ufl.SpatialCoordinate(mesh)
        self.body_force = body_force(x, self.t) if body_force is not None else None
        history = self._b1 * self._u_n + self._b2 * self._u_nm1  # (4uⁿ − uⁿ⁻¹)/(2Δt) for BDF2
        a = (rho * self._a0 * ufl.inner(u, v) + galerkin_terms(w, u, p, v, q, rho, mu, self.enclosed)) * ufl.dx
        rhs = rho * ufl.inner(history, v) * ufl.dx
        if self.body_force is not None:
            rhs += ufl.inner(self.body_force, v) * ufl.dx
        # the same forms with SUPG and grad-div; both forms couple the same dofs, so one matrix serves both
        self._forms = {False: (dolfinx.fem.form(a), dolfinx.fem.form(rhs))}
        if stabilization != "none":
            lhs_terms, rhs_terms = stabilization_terms(
                w, u, p, v, rho, mu, element_length(mesh, 2), unsteady=(rho * self._a0 * u, rho * history),
                force=self.body_force)
            self._forms[True] = (dolfinx.fem.form(a + lhs_terms), dolfinx.fem.form(rhs + rhs_terms))
        self._matrix = dolfinx.fem.petsc.create_matrix(self._forms[stabilization != "none"][0])
        self._rhs = dolfinx.fem.petsc.create_vector(self.mixed_space)
        self._solution = dolfinx.fem.Function(self.mixed_space)

        # diagnostics and the pressure mean
        self._u = dolfinx.fem.Function(self.velocity_space)
        self._p = dolfinx.fem.Function(self.pressure_space)
        n = ufl.FacetNormal(mesh)
        self._divergence_form = dolfinx.fem.form(ufl.div(self._u) ** 2 * ufl.dx)
        self._flux_form = dolfinx.fem.form(ufl.dot(self._u, n) * ufl.ds)
        self._energy_form = dolfinx.fem.form(0.5 * rho * ufl.inner(self._u, self._u) * ufl.dx)
        self._pressure_integral = dolfinx.fem.form(self._p * ufl.dx)
        self._area = self._assemble(dolfinx.fem.form(dolfinx.fem.Constant(mesh, PETSc.ScalarType(1.0)) * ufl.dx))
        self._cell_number = CellNumber(self.velocity_space)

        self.linear_solver = linear_solver
        self._ksp = self._make_ksp(linear_solver)
        self._locator: PointLocator | None = None

    # -- linear algebra ---------------------------------------------------------------------------
    def _make_ksp(self, kind: str) -> PETSc.KSP:
        ksp = PETSc.KSP().create(self.comm)
        ksp.setOperators(self._matrix)
        pc = ksp.getPC()
        if self.enclosed:
            constant_pressure = self._matrix.createVecRight()  # this rank's owned rows only, no ghosts
            owned = self.mixed_space.dofmap.index_map.size_local * self.mixed_space.dofmap.index_map_bs
            constant_pressure.set(0.0)
            constant_pressure.array[self._pressure_dofs[self._pressure_dofs < owned]] = 1.0
            constant_pressure.normalize()
            self._nullspace = PETSc.NullSpace().create(vectors=[constant_pressure], comm=self.comm)
            self._matrix.setNullSpace(self._nullspace)
            self._matrix.setTransposeNullSpace(self._nullspace)
        if kind == "lu":
            ksp.setType(PETSc.KSP.Type.PREONLY)
            pc.setType(PETSc.PC.Type.LU)
            if PETSc.Sys.hasExternalPackage("mumps"):
                pc.setFactorSolverType("mumps")
                pc.setFactorSetUpSolverType()
                if self.enclosed:
                    pc.getFactorMatrix().setMumpsIcntl(icntl=24, ival=1)  # detect the null pivot
                    pc.getFactorMatrix().setMumpsIcntl(icntl=25, ival=0)  # and return one solution
        else:
            ksp.setType(PETSc.KSP.Type.FGMRES)
            ksp.setTolerances(rtol=1e-10, atol=1e-14, max_it=500)
            ksp.setGMRESRestart(100)
            index_map = self.mixed_space.dofmap.index_map
            owned = index_map.size_local
            split = [(name, PETSc.IS().createGeneral(
                index_map.local_to_global(dofs[dofs < owned].astype(np.int32)).astype(PETSc.IntType), comm=self.comm))
                for name, dofs in (("u", self._velocity_dofs), ("p", self._pressure_dofs))]
            pc.setType(PETSc.PC.Type.FIELDSPLIT)
            pc.setFieldSplitIS(*split)
            pc.setFieldSplitType(PETSc.PC.CompositeType.SCHUR)
            pc.setFieldSplitSchurFactType(PETSc.PC.FieldSplitSchurFactType.UPPER)
            pc.setFieldSplitSchurPreType(PETSc.PC.FieldSplitSchurPreType.SELFP)
            self._split_configured = False
        return ksp

    def _configure_split(self) -> None:
        """Sub-solvers exist once the operator has been set up (first solve)."""
        self._ksp.setUp()
        velocity, schur = self._ksp.getPC().getFieldSplitSubKSP()
        for sub, pc_type in ((velocity, PETSc.PC.Type.BJACOBI), (schur, PETSc.PC.Type.JACOBI)):
            sub.setType(PETSc.KSP.Type.PREONLY)
            sub.getPC().setType(pc_type)
        self._split_configured = True

    def _assemble(self, form) -> float:
        return self.comm.allreduce(dolfinx.fem.assemble_scalar(form), op=MPI.SUM)

    # -- states -----------------------------------------------------------------------------------
    def initial_state(self, velocity: Callable[[np.ndarray], np.ndarray] | None = None, t: float = 0.0) -> FlowState:
        """u⁰ interpolated from velocity(x) -> (2, N) (zero when None) at time t."""
        u0 = dolfinx.fem.Function(self.velocity_space)
        if velocity is not None:
            u0.interpolate(lambda x: np.asarray(velocity(x), dtype=float))
            u0.x.scatter_forward()
        return FlowState(t=float(t), velocity=u0.x.array.copy(), pressure=np.zeros(len(self._pressure_dofs)))

    def step(self, state: FlowState) -> FlowState:
        """One BDF2 step (BDF1 when `state.previous_velocity` is None) from tⁿ to tⁿ⁺¹ = tⁿ + Δt."""
        dt, t_next = self.dt, state.t + self.dt
        self._u_n.x.array[:] = state.velocity
        if state.previous_velocity is None:
            coefficients = (1.0 / dt, 1.0 / dt, 0.0, 1.0, 0.0)  # a0, b1, b2, e1, e2
            self._u_nm1.x.array[:] = 0.0
        else:
            coefficients = (1.5 / dt, 2.0 / dt, -0.5 / dt, 2.0, -1.0)
            self._u_nm1.x.array[:] = state.previous_velocity
        for constant, value in zip((self._a0, self._b1, self._b2, self._e1, self._e2), coefficients):
            constant.value = value
        self.t.value = t_next
        for piece in self._pieces:
            piece.update(t_next)
        stabilized = self.stabilization == "supg" or state.stabilized
        if self.stabilization == "auto" and not stabilized:  # the cell Reynolds number of the flow uⁿ
            stabilized = self.cell_reynolds(state) > self.cell_reynolds_limit
        a, L = self._forms[stabilized]

        self._matrix.zeroEntries()
        dolfinx.fem.petsc.assemble_matrix(self._matrix, a, bcs=self._bcs)
        self._matrix.assemble()
        with self._rhs.localForm() as local:
            local.set(0.0)
        dolfinx.fem.petsc.assemble_vector(self._rhs, L)
        dolfinx.fem.petsc.apply_lifting(self._rhs, [a], bcs=[self._bcs])
        self._rhs.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        dolfinx.fem.petsc.set_bc(self._rhs, self._bcs)
        if self.enclosed:
            self._nullspace.remove(self._rhs)  # the data's flux is zero up to rounding; make it exactly so
        if self.linear_solver == "fieldsplit" and not self._split_configured:
            self._configure_split()
        self._ksp.solve(self._rhs, self._solution.x.petsc_vec)
        if self._ksp.getConvergedReason() < 0:
            raise SurrolabError(f"the linear solve failed at t={t_next:g} (PETSc reason "
                                f"{self._ksp.getConvergedReason()})")
        self._solution.x.scatter_forward()

        velocity = self._solution.x.array[self._velocity_dofs].copy()
        pressure = self._solution.x.array[self._pressure_dofs].copy()
        if self.enclosed:
            self._p.x.array[:] = pressure
            pressure -= self._assemble(self._pressure_integral) / self._area
        if not (np.all(np.isfinite(velocity)) and np.all(np.isfinite(pressure))):
            raise SurrolabError(f"the solution became non-finite at t={t_next:g}")
        return FlowState(t=t_next, velocity=velocity, pressure=pressure, previous_velocity=state.velocity,
                         n_steps=state.n_steps + 1, stabilized=stabilized)

    def rollout(self, state: FlowState, n_steps: int, save_every: int = 1) -> list[FlowState]:
        """The states at steps 0, save_every, 2 save_every, ..., n_steps (the given state first)."""
        return rollout(self.step, state, n_steps, save_every)

    def run_to_steady_state(self, state: FlowState, tol: float = 1e-6, max_steps: int = 1000) -> SteadyState:
        """Step until ‖uⁿ⁺¹ − uⁿ‖ / (Δt ‖uⁿ⁺¹‖) < tol (relative change per unit time) or max_steps steps.

        The fixed point does not depend on Δt, but reaching it does: energy stability bounds the iterates,
        it does not make them converge. Measured on the cavity (structured meshes): Re = 100 converges in
        about 20 steps for Δt = 1 to 5 at 32×32; Re = 400 takes 104 steps with Δt = 0.5 at 64×64 and 128×128
        and 329 at 32×32, while with Δt = 1 at 32×32 the change rate stalls near 3e-5 and with Δt = 0.5 at
        16×16 the iterates oscillate (Δt = 0.1 then converges, in 526 steps). `SteadyState.converged` says
        which happened.
        """
        check_positive_int("max_steps", max_steps)
        rate = math.inf
        for n in range(1, max_steps + 1):
            new = self.step(state)
            owned_new, owned_old = new.velocity[:self._owned_velocity], state.velocity[:self._owned_velocity]
            size = self.comm.allreduce(float(np.dot(owned_new, owned_new)), op=MPI.SUM)
            change = self.comm.allreduce(float(np.sum((owned_new - owned_old) ** 2)), op=MPI.SUM)
            rate = math.sqrt(change) / (self.dt * max(math.sqrt(size), np.finfo(float).tiny))
            state = new
            if rate < tol:
                return SteadyState(state, True, n, rate)
        return SteadyState(state, False, max_steps, rate)

    # -- post-processing --------------------------------------------------------------------------
    def functions(self, state: FlowState) -> tuple[dolfinx.fem.Function, dolfinx.fem.Function]:
        """New dolfinx Functions (u_h, p_h) holding the state (for norms, errors and output)."""
        u, p = dolfinx.fem.Function(self.velocity_space), dolfinx.fem.Function(self.pressure_space)
        u.x.array[:] = state.velocity
        p.x.array[:] = state.pressure
        return u, p

    def diagnostics(self, state: FlowState) -> dict[str, float]:
        """‖∇·u_h‖_L2, the net outflow ∫_∂Ω u_h·n ds, and the kinetic energy ½ρ∫|u_h|²."""
        self._u.x.array[:] = state.velocity
        return {"divergence_l2": math.sqrt(max(self._assemble(self._divergence_form), 0.0)),
                "boundary_flux": self._assemble(self._flux_form),
                "kinetic_energy": self._assemble(self._energy_form)}

    def cell_reynolds(self, state: FlowState) -> float:
        """max_K |u|_K h_K / ν of the state's velocity (`stabilization.CellNumber`)."""
        return self._cell_number(state.velocity, self.viscosity / self.density)

    def transfer(self, state: FlowState, source: NavierStokesSolver) -> FlowState:
        """`state` of the solver `source` (another mesh of the same domain) interpolated into this solver's
        spaces, e.g. a coarse mesh's steady flow as the Newton guess on a finer one. The Dirichlet data are
        not re-imposed (the next step or Newton iteration does that); the previous level is dropped."""
        fields = []
        for mine, theirs, values in ((self.velocity_space, source.velocity_space, state.velocity),
                                     (self.pressure_space, source.pressure_space, state.pressure)):
            given, wanted = dolfinx.fem.Function(theirs), dolfinx.fem.Function(mine)
            given.x.array[:] = values
            cells = np.arange(self.mesh.topology.index_map(self.mesh.topology.dim).size_local, dtype=np.int32)
            wanted.interpolate_nonmatching(given, cells, dolfinx.fem.create_interpolation_data(mine, theirs, cells))
            wanted.x.scatter_forward()
            fields.append(wanted.x.array.copy())
        return FlowState(t=state.t, velocity=fields[0], pressure=fields[1], stabilized=state.stabilized)

    def evaluate_velocity(self, state: FlowState, points: np.ndarray) -> np.ndarray:
        """u_h at points (N, 2) or (N, 3) -> (N, 2), the same on every rank (see `evaluate`)."""
        if self._locator is None:
            self._locator = PointLocator(self.mesh)
        self._u.x.array[:] = state.velocity
        return self._locator.evaluate(self._u, points)


class PointLocator:
    """Point evaluation of functions on one mesh, serial or spread over MPI ranks.

    Each point is evaluated on one rank only, the lowest-numbered rank that owns a cell containing it (a
    point on a face between two ranks' cells is found by both), and the values are summed over the ranks,
    so every rank returns all of them. Every rank must pass the same points. A point that lies in no cell of
    any rank fails on every rank. The bounding-box tree of the owned cells is built once, the cells of a
    set of points are found once and kept for the next call with the same points.
    """

    def __init__(self, mesh: dolfinx.mesh.Mesh):
        self.mesh, self.comm = mesh, mesh.comm
        tdim = mesh.topology.dim
        owned = np.arange(mesh.topology.index_map(tdim).size_local, dtype=np.int32)
        self._tree = dolfinx.geometry.bb_tree(mesh, tdim, entities=owned)
        self._points: np.ndarray | None = None
        self._cells = self._mine = None

    def _locate(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(xyz (N, 3), this rank's cell per point or -1, True where this rank evaluates the point)."""
        points = np.asarray(points, dtype=float)
        if points.ndim != 2 or points.shape[1] not in (2, 3):
            raise SurrolabError(f"points must have shape (N, 2) or (N, 3), got {points.shape}")
        xyz = np.zeros((len(points), 3))
        xyz[:, :points.shape[1]] = points
        if self._points is not None and np.array_equal(xyz, self._points):
            return xyz, self._cells, self._mine
        candidates = dolfinx.geometry.compute_collisions_points(self._tree, xyz)
        colliding = dolfinx.geometry.compute_colliding_cells(self.mesh, candidates, xyz)
        cells = np.array([links[0] if len(links := colliding.links(i)) else -1 for i in range(len(xyz))],
                         dtype=np.int32)
        rank, size = self.comm.Get_rank(), self.comm.Get_size()
        owner = np.where(cells >= 0, rank, size).astype(np.int32)
        self.comm.Allreduce(MPI.IN_PLACE, owner, op=MPI.MIN)  # the lowest rank that found the point
        outside = owner == size
        if np.any(outside):
            raise SurrolabError(f"{int(np.sum(outside))} point(s) lie outside the mesh, e.g. "
                                f"{points[outside][0].tolist()}")
        self._points, self._cells, self._mine = xyz, cells, owner == rank
        return xyz, cells, self._mine

    def evaluate(self, function: dolfinx.fem.Function, points: np.ndarray) -> np.ndarray:
        """function at points (N, 2) or (N, 3) -> (N, value size), on every rank."""
        xyz, cells, mine = self._locate(points)
        size = int(np.prod(function.function_space.value_shape, dtype=int))
        values = np.zeros((len(xyz), size))
        if np.any(mine):
            values[mine] = np.asarray(function.eval(xyz[mine], cells[mine])).reshape(-1, size)
        if self.comm.Get_size() > 1:
            self.comm.Allreduce(MPI.IN_PLACE, values, op=MPI.SUM)  # one rank holds each point, the rest 0
        return values


def evaluate(function: dolfinx.fem.Function, points: np.ndarray) -> np.ndarray:
    """A dolfinx Function at points (N, 2) or (N, 3) -> (N, value size), on every rank (`PointLocator`)."""
    return PointLocator(function.function_space.mesh).evaluate(function, points)
