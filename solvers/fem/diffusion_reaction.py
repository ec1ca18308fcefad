"""Heat and FitzHugh–Nagumo diffusion–reaction on the unit square: P1 finite elements, IMEX SBDF2.

PDE (species s = 1..S, Ω = (0, 1)², homogeneous Neumann ∂u_s/∂n = 0 on ∂Ω)

    ∂u_s/∂t = D_s Δu_s + R_s(u) + f_s(x, y, t),

with f = 0 in production (a manufactured source is accepted for verification). Two registered families:

* `heat` (S = 1): R = 0, parameter D.
* `diffusion_reaction` (S = 2): the FitzHugh–Nagumo activator–inhibitor system of PDEBench's 2D
  diffusion–reaction set (Takamoto et al., "PDEBench: An Extensive Benchmark for Scientific Machine
  Learning", NeurIPS 2022 Datasets and Benchmarks, arXiv:2210.07182; its 2D DR equations):

      ∂u/∂t = D_u Δu + u − u³ − k − v,        ∂v/∂t = D_v Δv + u − v.

  PDEBench solves it on [−1, 1]² for t ∈ [0, 5] with D_u = 1e-3, D_v = 5e-3, k = 5e-3 and Neumann
  walls; we sample around those values on the unit square, so patterns of length ~√(D t) are twice as
  large relative to the domain as in PDEBench.

Weak form: find u_s(t) ∈ H¹(Ω) with (∂u_s/∂t, φ) + D_s (∇u_s, ∇φ) = (R_s(u) + f_s, φ) for all φ ∈ H¹(Ω);
the Neumann condition is natural (the boundary term vanishes).

Space: P1 Lagrange on `create_unit_square(n, n)` (two triangles per cell), so the unknowns are the
nodal values on the regular (n+1)×(n+1) grid. The nonlinearity is interpolated in P1 ("group finite
element", Fletcher, Comput. Methods Appl. Mech. Eng. 37 (1983) 225–244) and so is the source:

    M du/dt + D_s K u = M (R(u) + f)         (M mass, K stiffness; nodal R and f),

which keeps the L2 error O(h²) and reduces each step to a mat-vec with M plus a solve with a constant matrix.

Time: IMEX SBDF2 (Ascher, Ruuth & Wetton, SIAM J. Numer. Anal. 32 (1995) 797–823, "SBDF"), diffusion
by BDF2, reaction extrapolated, source at the new time level:

    (3/(2Δt) M + D_s K) u^{n+1} = M [ (4u^n − u^{n−1})/(2Δt) + 2R(u^n) − R(u^{n−1}) + f^{n+1} ],

started by one IMEX Euler step (M/Δt + D_s K) u¹ = M [u⁰/Δt + R(u⁰) + f¹], whose O(Δt²) local error
leaves the global order at 2. Both matrices are LU-factorised once per species with PETSc.

Order: 2 in space (L2, P1) and 2 in time; `tests/solvers/fem/test_diffusion_reaction.py` measures both.
Stability: the diffusion part is A-stable (any Δt); the explicit reaction is stable for a linearised
rate λ < 0 while Δt|λ| < 4/3 (SBDF2's explicit interval; 2 for the Euler start). For FitzHugh–Nagumo
λ ≈ 1 − 3u², so Δt ≲ 0.03 for |u| ≤ 4; the default Δt = 0.0125 is well inside and resolves the O(1)
reaction time scale. With R = 0 the scheme conserves ∫u exactly: 1ᵀK = 0 gives 3m^{n+1} = 4m^n − m^{n−1}
for m = 1ᵀMu, and the Euler start gives m¹ = m⁰.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import dolfinx_solver  # noqa: F401  (must be imported before dolfinx)
import dolfinx
import dolfinx.fem.petsc
import numpy as np
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from surrolab.errors import SurrolabError, check_positive_int, check_positive_number
from surrolab.solvers.problem import BoundaryCondition, FrameSchedule, ParameterSpec, Problem
from surrolab.solvers.random_fields import draw_cosine_field
from surrolab.solvers.trajectory import FieldSpec, GridGeometry, Trajectory

Reaction = Callable[[np.ndarray], np.ndarray]  # nodal state (S, n_dofs) -> nodal rates (S, n_dofs)
Source = Callable[[np.ndarray, np.ndarray, float], Sequence[np.ndarray]]  # (x, y, t) nodal -> S arrays (n_dofs,)


# -- the discrete space ---------------------------------------------------------------------------
@dataclass(frozen=True)
class P1Space:
    """P1 Lagrange on the structured n×n unit square, with its mass and stiffness matrices.

    `grid_index` maps dof d to its grid node (i, j) = (round(x_d n), round(y_d n)), so
    `to_grid` / `to_dofs` convert between dof vectors (..., n_dofs) and `ij` grids (..., n+1, n+1).
    """

    resolution: int
    function_space: dolfinx.fem.FunctionSpace
    mass: PETSc.Mat
    stiffness: PETSc.Mat
    grid_index: tuple[np.ndarray, np.ndarray]
    x: np.ndarray  # dof coordinates, shape (n_dofs,)
    y: np.ndarray

    @property
    def mesh(self) -> dolfinx.mesh.Mesh:
        return self.function_space.mesh

    @property
    def n_dofs(self) -> int:
        return len(self.x)

    def to_dofs(self, grid_values: np.ndarray) -> np.ndarray:
        """(..., n+1, n+1) -> (..., n_dofs)."""
        i, j = self.grid_index
        return np.ascontiguousarray(grid_values[..., i, j])

    def to_grid(self, dof_values: np.ndarray) -> np.ndarray:
        """(..., n_dofs) -> (..., n+1, n+1)."""
        n = self.resolution
        out = np.empty(dof_values.shape[:-1] + (n + 1, n + 1))
        out[(..., *self.grid_index)] = dof_values
        return out


def unit_square_p1(resolution: int) -> P1Space:
    """Build the mesh on MPI.COMM_SELF (one sample per rank), the P1 space, M and K."""
    n = check_positive_int("resolution", resolution, minimum=2)
    mesh = dolfinx.mesh.create_unit_square(MPI.COMM_SELF, n, n)
    space = dolfinx.fem.functionspace(mesh, ("Lagrange", 1))
    u, v = ufl.TrialFunction(space), ufl.TestFunction(space)
    mass = dolfinx.fem.petsc.assemble_matrix(dolfinx.fem.form(ufl.inner(u, v) * ufl.dx))
    stiffness = dolfinx.fem.petsc.assemble_matrix(dolfinx.fem.form(ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx))
    mass.assemble()
    stiffness.assemble()

    coordinates = space.tabulate_dof_coordinates()  # (n_dofs, 3)
    i = np.rint(coordinates[:, 0] * n).astype(np.intp)
    j = np.rint(coordinates[:, 1] * n).astype(np.intp)
    if len(coordinates) != (n + 1) ** 2 or len(np.unique(i * (n + 1) + j)) != (n + 1) ** 2:
        raise SurrolabError(f"P1 dofs of the {n}x{n} unit square do not map one-to-one onto the grid")
    return P1Space(n, space, mass, stiffness, (i, j), coordinates[:, 0].copy(), coordinates[:, 1].copy())


# -- the time stepper -----------------------------------------------------------------------------
def _lu_solver(matrix: PETSc.Mat) -> PETSc.KSP:
    """A direct solver for `matrix`, factorised now (KSP preonly + LU), untouched by PETSc options."""
    ksp = PETSc.KSP().create(MPI.COMM_SELF)
    ksp.setOperators(matrix)
    ksp.setType(PETSc.KSP.Type.PREONLY)
    ksp.getPC().setType(PETSc.PC.Type.LU)
    ksp.setUp()
    return ksp


def _shifted_stiffness(space: P1Space, mass_coefficient: float, diffusivity: float) -> PETSc.Mat:
    """mass_coefficient M + diffusivity K (same sparsity: both come from the P1 dofmap)."""
    matrix = space.stiffness.copy()
    matrix.scale(diffusivity)
    matrix.axpy(mass_coefficient, space.mass, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
    return matrix


class SBDF2Stepper:
    """IMEX SBDF2 for M du/dt + D_s K u = M (R(u) + f) on a `P1Space` (module docstring for the scheme).

    Built once from the physics (diffusivities, reaction slot, optional source) and Δt; `first_step`
    and `step` are pure maps on nodal states of shape (S, n_dofs).
    """

    def __init__(self, space: P1Space, diffusivities: Sequence[float], dt: float, *,
                 reaction: Reaction | None = None, source: Source | None = None):
        self.space = space
        self.dt = dt
        self.n_species = len(diffusivities)
        self.reaction = reaction
        self.source = source
        self._euler = [_lu_solver(_shifted_stiffness(space, 1.0 / dt, d)) for d in diffusivities]
        self._bdf2 = [_lu_solver(_shifted_stiffness(space, 1.5 / dt, d)) for d in diffusivities]
        # numpy buffers shared with PETSc vectors: the loop fills and reads them without copies
        self._nodal = np.zeros(space.n_dofs)
        self._rhs = np.zeros(space.n_dofs)
        self._solution = np.zeros(space.n_dofs)
        self._vectors = [PETSc.Vec().createWithArray(a, comm=MPI.COMM_SELF)
                         for a in (self._nodal, self._rhs, self._solution)]

    def _forcing(self, state: np.ndarray) -> np.ndarray:
        return np.zeros_like(state) if self.reaction is None else self.reaction(state)

    def _source(self, t: float) -> np.ndarray | float:
        if self.source is None:
            return 0.0
        return np.stack([np.broadcast_to(f, (self.space.n_dofs,)) for f in self.source(self.space.x, self.space.y, t)])

    def _solve(self, solvers: list[PETSc.KSP], nodal_rhs: np.ndarray) -> np.ndarray:
        """u_s = A_s⁻¹ M w_s for every species s; w has shape (S, n_dofs)."""
        nodal, rhs, solution = self._vectors
        out = np.empty_like(nodal_rhs)
        for s, ksp in enumerate(solvers):
            self._nodal[:] = nodal_rhs[s]
            self.space.mass.mult(nodal, rhs)
            ksp.solve(rhs, solution)
            out[s] = self._solution
        return out

    def first_step(self, u0: np.ndarray, t1: float) -> np.ndarray:
        """IMEX Euler: (M/Δt + D K) u¹ = M [u⁰/Δt + R(u⁰) + f(t¹)]."""
        return self._solve(self._euler, u0 / self.dt + self._forcing(u0) + self._source(t1))

    def step(self, u: np.ndarray, u_previous: np.ndarray, t_next: float) -> np.ndarray:
        """SBDF2: (3/(2Δt) M + D K) u^{n+1} = M [(4u^n − u^{n−1})/(2Δt) + 2R(u^n) − R(u^{n−1}) + f^{n+1}]."""
        history = (4.0 * u - u_previous) / (2.0 * self.dt)
        extrapolated = 2.0 * self._forcing(u) - self._forcing(u_previous)
        return self._solve(self._bdf2, history + extrapolated + self._source(t_next))

    def rollout(self, u0: np.ndarray, n_steps: int, save_every: int) -> np.ndarray:
        """States at steps 0, save_every, 2 save_every, ..., n_steps: shape (n_steps // save_every + 1, S, n_dofs)."""
        frames = [u0]
        previous, current = None, u0
        # overflow in an unstable run is caught by the finiteness check at the next frame, with a clear message
        with np.errstate(over="ignore", invalid="ignore"):
            for n in range(1, n_steps + 1):
                t_next = n * self.dt  # not accumulated, so frame times carry no drift
                if previous is None:
                    previous, current = current, self.first_step(current, t_next)
                else:
                    previous, current = current, self.step(current, previous, t_next)
                if n % save_every == 0:
                    if not np.all(np.isfinite(current)):
                        raise SurrolabError(f"the solution became non-finite at t={t_next:g}; the explicit reaction "
                                            f"needs a smaller time step (raise substeps, now dt={self.dt:g})")
                    frames.append(current)
        return np.stack(frames)


# -- physics --------------------------------------------------------------------------------------
def fitzhugh_nagumo_reaction(state: np.ndarray, reaction_constant: float) -> np.ndarray:
    """PDEBench 2D DR: R_u = u − u³ − k − v, R_v = u − v; state (2, n_dofs) -> (2, n_dofs)."""
    u, v = state
    return np.stack([u - u**3 - reaction_constant - v, u - v])


# -- configuration --------------------------------------------------------------------------------
@dataclass(frozen=True)
class StepperConfig(FrameSchedule):
    """Numerical settings shared by the family. Output frames are `n_frames` equally spaced times in
    [0, t_end] (t = 0 included), with `substeps` time steps between frames: Δt = t_end / ((n_frames − 1) substeps).

    The initial state is a Matérn cosine random field (`surrolab.solvers.random_fields`) with modes
    k, l = 0..`ic_modes`, length scale `ic_length_scale` and standard deviation ~`ic_amplitude`.
    `resolution` = 32 and the default `substeps` are divisible by 2, 4 and 8, the harness's coarsening factors.
    """

    resolution: int = 32  # cells per side; the grid has resolution + 1 nodes per side
    t_end: float = 5.0
    n_frames: int = 26
    substeps: int = 16
    ic_modes: int = 16
    ic_length_scale: float = 0.1
    ic_amplitude: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        check_positive_int("resolution", self.resolution, minimum=2)
        check_positive_int("ic_modes", self.ic_modes)
        check_positive_number("ic_length_scale", self.ic_length_scale)
        check_positive_number("ic_amplitude", self.ic_amplitude)


@dataclass(frozen=True)
class DiffusionReactionConfig(StepperConfig):
    """PDEBench's horizon, t ∈ [0, 5] in 26 frames, with Δt = 0.2/16 = 0.0125 (stability: module docstring)."""


@dataclass(frozen=True)
class HeatConfig(StepperConfig):
    """t ∈ [0, 2] in 21 frames, Δt = 0.1/8 = 0.0125. Over the sampled D ∈ [5e-3, 2e-2] the slowest cosine
    mode decays by exp(−π²Dt) = 0.91–0.67 while modes with k ≳ 5 are smoothed away: the fluctuation of
    the default initial field (ℓ = 0.1) keeps 25–45 % of its standard deviation."""

    t_end: float = 2.0
    n_frames: int = 21
    substeps: int = 8


# -- the registered problems ----------------------------------------------------------------------
class _ReactionDiffusionFamily(Problem):
    """What heat and FitzHugh–Nagumo share: the grid, random initial states, the solve and coarsening.

    Subclasses supply the physics through `diffusivities(params)` and `reaction(params)`.
    """

    order_in_space: ClassVar[int] = 2  # L2 error of P1
    order_in_time: ClassVar[int] = 2  # IMEX SBDF2
    boundary_conditions = (BoundaryCondition(boundary="all", kind="neumann", value=0.0),)

    def diffusivities(self, params: dict[str, float]) -> tuple[float, ...]:
        raise NotImplementedError

    def reaction(self, params: dict[str, float]) -> Reaction | None:
        return None

    def grid(self, config) -> GridGeometry:
        axis = np.linspace(0.0, 1.0, config.resolution + 1)
        return GridGeometry(axes=(axis, axis.copy()))

    def initial_state(self, config, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """One independent random field per species, drawn in the order of `fields`."""
        self.check_config(config)
        x, y = self.grid(config).axes
        return {f.name: config.ic_amplitude * draw_cosine_field(rng, config.ic_modes, config.ic_length_scale).evaluate(x, y)
                for f in self.fields}

    def solve(self, config, params: dict[str, float], initial_state: dict[str, np.ndarray], *,
              source: Source | None = None) -> Trajectory:
        """Integrate from `initial_state` (field -> (n+1, n+1)); `source` (verification only) returns f_s(x, y, t)."""
        self.check_config(config)
        params = self.check_parameters(params)
        u0 = self._check_initial_state(config, initial_state)  # (S, n+1, n+1)
        space = unit_square_p1(config.resolution)
        stepper = SBDF2Stepper(space, self.diffusivities(params), config.dt,
                               reaction=self.reaction(params), source=source)
        frames = space.to_grid(stepper.rollout(space.to_dofs(u0), config.n_steps, config.substeps))  # (T, S, n+1, n+1)
        fields = {f.name: np.ascontiguousarray(frames[:, s]) for s, f in enumerate(self.fields)}
        return Trajectory(times=config.times, fields=fields, geometry=self.grid(config),
                          diagnostics={"n_dofs": float(space.n_dofs), "n_time_steps": float(config.n_steps),
                                       "dt": config.dt})

    def coarsen(self, config, factor: int):
        """resolution / factor and substeps / factor: h and Δt both grow by `factor`, the frame times stay."""
        return dataclasses.replace(config, **self.divided(config, factor, ("resolution", "substeps")))

    def _check_initial_state(self, config, initial_state: dict[str, np.ndarray]) -> np.ndarray:
        names = [f.name for f in self.fields]
        if sorted(initial_state) != sorted(names):
            raise SurrolabError(f"initial state has fields {sorted(initial_state)}; problem {self.name!r} needs {names}")
        shape = self.grid(config).shape
        for name in names:
            value = np.asarray(initial_state[name])
            if value.shape != shape:
                raise SurrolabError(f"initial state {name!r} has shape {value.shape}; resolution={config.resolution} "
                                    f"needs {shape}")
            if not np.all(np.isfinite(value)):
                raise SurrolabError(f"initial state {name!r} has non-finite values")
        return np.stack([np.asarray(initial_state[name], dtype=float) for name in names])


class HeatProblem(_ReactionDiffusionFamily):
    """u_t = D Δu on the unit square, ∂u/∂n = 0 (module docstring: P1 + BDF2, order 2 in space and time).

    The temperature is nondimensional (units "1"): the domain, the time and the random initial field are
    all in units of the problem, and the equation is linear, so any temperature scale factors out.
    """

    name = "heat"
    description = "Heat equation u_t = D Δu on the unit square, homogeneous Neumann; P1 FEM + BDF2."
    fields = (FieldSpec("temperature", "1", description="nondimensional temperature"),)
    conserved = ("temperature",)  # no flux through Neumann walls, no source
    parameters = (
        ParameterSpec("diffusivity", "1", low=5e-3, high=2e-2, default=1e-2, allowed_low=1e-8, allowed_high=10.0,
                      description="thermal diffusivity D (nondimensional: unit square, unit time)"),
    )
    Config = HeatConfig

    def diffusivities(self, params: dict[str, float]) -> tuple[float, ...]:
        return (params["diffusivity"],)


class DiffusionReactionProblem(_ReactionDiffusionFamily):
    """FitzHugh–Nagumo activator u and inhibitor v (PDEBench 2D DR, Takamoto et al. 2022; module docstring).

    u_t = D_u Δu + u − u³ − k − v,  v_t = D_v Δv + u − v on the unit square, ∂u/∂n = ∂v/∂n = 0.
    P1 FEM + IMEX SBDF2, order 2 in space and time; explicit reaction stable for Δt|1 − 3u²| < 4/3.
    """

    name = "diffusion_reaction"
    description = ("FitzHugh–Nagumo activator–inhibitor diffusion–reaction (PDEBench 2D DR) on the unit square, "
                   "homogeneous Neumann; P1 FEM + IMEX SBDF2.")
    fields = (
        FieldSpec("activator", "1", description="activator u"),
        FieldSpec("inhibitor", "1", description="inhibitor v"),
    )
    parameters = (
        ParameterSpec("activator_diffusivity", "1", low=5e-4, high=2e-3, default=1e-3, allowed_low=1e-8,
                      allowed_high=1.0, description="D_u (PDEBench: 1e-3)"),
        ParameterSpec("inhibitor_diffusivity", "1", low=2.5e-3, high=1e-2, default=5e-3, allowed_low=1e-8,
                      allowed_high=1.0, description="D_v (PDEBench: 5e-3)"),
        ParameterSpec("reaction_constant", "1", low=1e-3, high=1e-2, default=5e-3, allowed_low=-1.0,
                      allowed_high=1.0, description="k in R_u = u − u³ − k − v (PDEBench: 5e-3)"),
    )
    Config = DiffusionReactionConfig

    def diffusivities(self, params: dict[str, float]) -> tuple[float, ...]:
        return (params["activator_diffusivity"], params["inhibitor_diffusivity"])

    def reaction(self, params: dict[str, float]) -> Reaction:
        return functools.partial(fitzhugh_nagumo_reaction, reaction_constant=params["reaction_constant"])
