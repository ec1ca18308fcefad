"""The shared machinery of the CFDBench-style flow families (Luo et al., "CFDBench: A Large-Scale Benchmark
for Machine Learning Methods in Fluid Dynamics", 2023, arXiv:2310.05963): `cavity`, `tube`, `dam`,
`cylinder` and the Boussinesq `smoke`.

Every family solves, per sample, the incompressible Navier–Stokes equations

    ρ (∂u/∂t + (u·∇)u) − μ Δu + ∇p = f,    ∇·u = 0    in Ω(θ),      u(x, 0) = 0,

from rest on a gmsh mesh of its own geometry Ω(θ) (θ: the sample's parameters), with `NavierStokesSolver`
(Taylor–Hood P2–P1, linearly implicit BDF2, MUMPS LU). A family says only what differs: its parameters, its
geometry (`domain`), its Dirichlet data (`velocity_conditions`), its Reynolds number and the box that covers
every geometry it samples (`extent`, from which the shared grid is made). Everything else is here, once:
the frame loop, the vertex sampling, the diagnostics, coarsening and the from-rest initial state.

Start-up: a boundary speed switched on at t = 0 is singular in time (an infinite pressure pulse at t = 0⁺),
so driven boundaries are ramped smoothly with `ramp(t, t_r)`, r(t) = (1 − cos(π t / t_r)) / 2 for t < t_r and
1 after; from t_r on the boundary data are exactly the sample's.

Stored fields, at the mesh vertices (`MeshGeometry`, one mesh per sample since the geometry varies):
`velocity` (m/s), the P2 velocity by its nodal values at the vertices (copied, so Dirichlet values stay
exact), and `pressure` (Pa), the P1 pressure. The dataset writer interpolates both onto `grid(config)` and
masks the grid nodes outside a sample's fluid.

Diagnostics per sample (the issue asks for divergence and mass balance on every sample):
`relative_divergence`, max over frames of ‖∇·u_h‖_L2 / ‖∇u_h‖_L2 (Taylor–Hood is divergence-free only
weakly); `boundary_mass_flux`, max over frames of |∫_∂Ω u_h·n ds| / Q, the net mass imbalance through the
whole boundary relative to the throughput Q = ∫_∂Ω |u_h·n| ds (for an enclosed flow Q is ~0 and the
absolute value is stored; see `_MassBalance`); `n_dofs` (Taylor–Hood unknowns); `n_time_steps`; `reynolds`;
`cell_reynolds`, max over frames and cells of |u|_K h_K / ν, the measure of how well the mesh resolves the
flow; `stabilized`, 1 when the solver's SUPG/grad-div was on (from the first step past its cell Reynolds
limit, `navier_stokes.py`), else 0. With `stabilization=none` a sample past that limit makes generation
print a one-line warning (`resolution_warning`).
"""
from __future__ import annotations

import dataclasses
import math
from abc import abstractmethod
from dataclasses import dataclass
from collections.abc import Callable
from typing import ClassVar

import dolfinx_solver  # noqa: F401  (must be imported before dolfinx)
import dolfinx
import numpy as np
import ufl
from mpi4py import MPI

from surrolab.errors import SurrolabError, check_positive_int, check_positive_number
from surrolab.meshes.geometries import MeshedDomain
from surrolab.solvers.fem.navier_stokes import CELL_REYNOLDS_LIMIT, FlowState, NavierStokesSolver, VelocityBC
from surrolab.solvers.fem.stabilization import STABILIZATIONS
from surrolab.solvers.problem import FrameSchedule, Problem, mesh_size_settings
from surrolab.solvers.trajectory import FieldSpec, GridGeometry, Trajectory


def ramp(t: float, ramp_time: float) -> float:
    """r(t) = (1 − cos(π t / t_r)) / 2 on [0, t_r], 1 after: C¹, from 0 to exactly 1 (t_r = 0: a step)."""
    if t >= ramp_time:
        return 1.0
    return 0.5 * (1.0 - math.cos(math.pi * t / ramp_time))


@dataclass(frozen=True)
class FlowConfig(FrameSchedule):
    """Numerical settings shared by the flow families; frames and Δt follow `FrameSchedule` (t = 0 is rest).

    `h` is the gmsh mesh size (m), `grid_resolution` the number of grid cells per metre of the grid the
    writer interpolates onto, `ramp_time` (s) the start-up of the driven boundaries (module docstring),
    `stabilization` the flow solver's SUPG/grad-div switch (`auto`, `supg` or `none`; `navier_stokes.py`).
    Families subclass it to set their own defaults.
    """

    h: float = 0.05
    grid_resolution: int = 64
    ramp_time: float = 0.5
    stabilization: str = "auto"

    def __post_init__(self):
        super().__post_init__()
        if self.stabilization not in STABILIZATIONS:
            raise SurrolabError(f"stabilization={self.stabilization!r} is not allowed; choose one of "
                                f"{', '.join(STABILIZATIONS)}")
        check_positive_number("h", self.h)
        # 1 cell per metre is enough for the 32 m smoke box (33² nodes); `grid` keeps >= 2 cells per axis
        check_positive_int("grid_resolution", self.grid_resolution, minimum=1)
        check_positive_number("ramp_time", self.ramp_time, allow_zero=True)
        if self.ramp_time > self.t_end:
            raise SurrolabError(f"ramp_time={self.ramp_time!r} is not allowed: it must not exceed t_end={self.t_end!r}")


VELOCITY = FieldSpec("velocity", "m/s", order=1, description="velocity u (P2, stored by its values at the vertices)")
PRESSURE = FieldSpec("pressure", "Pa", order=0, description="pressure p (P1)")


class FlowFamily(Problem):
    """A family of incompressible flows from rest on per-sample gmsh meshes (module docstring).

    Subclasses set `name`, `description`, `parameters`, `boundary_conditions`, `Config` and implement
    `domain`, `velocity_conditions`, `reynolds` and `extent`. A family with more physics (the Boussinesq
    `smoke`) overrides `make_solver` and `vertex_sampler`.
    """

    geometry_type = "mesh"
    fields: ClassVar[tuple[FieldSpec, ...]] = (VELOCITY, PRESSURE)
    order_in_space: ClassVar[tuple[int, int]] = NavierStokesSolver.order_in_space
    order_in_time: ClassVar[int] = NavierStokesSolver.order_in_time

    # -- what a family says ---------------------------------------------------------------------
    @abstractmethod
    def domain(self, config, params: dict[str, float]) -> MeshedDomain:
        """The gmsh mesh of this sample's geometry, mesh size `config.h`."""

    @abstractmethod
    def velocity_conditions(self, domain: MeshedDomain, config, params: dict[str, float]) -> tuple[VelocityBC, ...]:
        """The Dirichlet velocity data (ramped with `ramp` where they drive the flow); the first listed wins
        on shared nodes. Boundaries not listed are do-nothing outflow."""

    @staticmethod
    @abstractmethod
    def reynolds(params: dict[str, float]) -> float:
        """The sample's Reynolds number (definition in the family's docstring)."""

    @abstractmethod
    def extent(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """((x0, x1), (y0, y1)), a box that contains the fluid of every geometry in the sampling ranges."""

    # -- shared ---------------------------------------------------------------------------------
    @classmethod
    def resolution_settings(cls, resolution: int) -> dict:
        return mesh_size_settings(resolution)

    def grid(self, config) -> GridGeometry:
        """`extent()` with `grid_resolution` cells per metre along each axis (at least 2)."""
        self.check_config(config)
        axes = tuple(np.linspace(low, high, max(2, round((high - low) * config.grid_resolution)) + 1)
                     for low, high in self.extent())
        return GridGeometry(axes=axes)

    def initial_state(self, config, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Rest: zero fields on the grid (`rng` is not used; the parameters are the random part)."""
        shape = self.grid(config).shape
        return {f.name: np.zeros((*shape, 2) if f.order == 1 else shape) for f in self.fields}

    def make_solver(self, domain: MeshedDomain, config, params: dict[str, float]) -> NavierStokesSolver:
        return NavierStokesSolver(domain.mesh, self.velocity_conditions(domain, config, params),
                                  viscosity=params["viscosity"], density=params["density"], dt=config.dt,
                                  stabilization=config.stabilization)

    def vertex_sampler(self, solver) -> Callable[[FlowState], dict[str, np.ndarray]]:
        """state -> the stored fields at the geometry nodes: velocity (N, 2), pressure (N,)."""
        velocity_at, pressure_at = vertex_dofs(solver.velocity_space), vertex_dofs(solver.pressure_space)
        return lambda state: {"velocity": state.velocity.reshape(-1, 2)[velocity_at],
                              "pressure": state.pressure[pressure_at]}

    def solve(self, config, params: dict[str, float], initial_state: dict[str, np.ndarray]) -> Trajectory:
        """This sample's flow from rest to t_end (pure, deterministic)."""
        self.check_config(config)
        params = self.check_parameters(params)
        self._check_rest(initial_state)
        domain = self.domain(config, params)
        solver = self.make_solver(domain, config, params)
        balance, sample = _MassBalance(solver), self.vertex_sampler(solver)

        state = solver.initial_state()
        frames: list[dict[str, np.ndarray]] = []
        divergence, flux, cells = 0.0, 0.0, {}
        for frame in range(config.n_frames):
            if frame > 0:
                for _ in range(config.substeps):
                    state = solver.step(state)
                ratio, imbalance = balance(state)
                divergence, flux = max(divergence, ratio), max(flux, imbalance)
                for name, value in self.cell_numbers(solver, state).items():
                    cells[name] = max(cells.get(name, 0.0), value)
            frames.append(sample(state))
        index_map = solver.mixed_space.dofmap.index_map
        n_dofs = index_map.size_global * solver.mixed_space.dofmap.index_map_bs
        fields = {name: np.stack([frame[name] for frame in frames]) for name in frames[0]}  # (T, N, ...)
        trajectory = Trajectory(times=config.times, fields=fields, geometry=domain.mesh_geometry(),
                                diagnostics={"relative_divergence": divergence, "boundary_mass_flux": flux,
                                             "n_dofs": float(n_dofs + getattr(solver, "extra_dofs", 0)),
                                             "n_time_steps": float(state.n_steps), "reynolds": self.reynolds(params),
                                             **cells, "stabilized": float(state.stabilized)})
        trajectory.diagnostics.update(self.extra_diagnostics(config, params, trajectory))
        return trajectory

    def extra_diagnostics(self, config, params: dict[str, float], trajectory: Trajectory) -> dict[str, float]:
        """A family's own per-sample checks (e.g. `smoke`'s scalar balance), merged over the shared ones."""
        return {}

    def cell_numbers(self, solver, state) -> dict[str, float]:
        """The state's largest cell numbers, recorded per sample as their maximum over the frames:
        `cell_reynolds` max_K |u|_K h_K / ν (`smoke` adds the scalar's `cell_peclet`)."""
        return {"cell_reynolds": solver.cell_reynolds(state)}

    def resolution_warning(self, config, diagnostics: dict[str, float]) -> str | None:
        """A one-line warning when a sample's cell numbers exceed what the chosen discretisation resolves:
        plain Galerkin (`stabilization=none`) beyond the limit at which `auto` would stabilise."""
        cell_reynolds = diagnostics.get("cell_reynolds", 0.0)
        if config.stabilization == "none" and cell_reynolds > CELL_REYNOLDS_LIMIT:
            return (f"cell Reynolds number {cell_reynolds:.3g} exceeds {CELL_REYNOLDS_LIMIT:g}, beyond which plain "
                    f"Galerkin (stabilization=none) makes spurious wiggles and dynamics; refine h or use "
                    f"stabilization=auto")
        return None

    def coarsen(self, config, factor: int):
        """h × factor and substeps / factor: mesh and Δt both coarsen by `factor`, the frame times stay."""
        return dataclasses.replace(config, h=config.h * factor, **self.divided(config, factor, ("substeps",)))

    def _check_rest(self, initial_state: dict[str, np.ndarray]) -> None:
        names = sorted(f.name for f in self.fields)
        if sorted(initial_state) != names:
            raise SurrolabError(f"initial state has fields {sorted(initial_state)}; problem {self.name!r} needs {names}")
        for name, value in initial_state.items():
            if np.any(np.asarray(value) != 0):
                raise SurrolabError(f"initial state {name!r} is not zero: the {self.name} flow starts from rest")


def vertex_dofs(space: dolfinx.fem.FunctionSpace) -> np.ndarray:
    """For each geometry node (the points of `MeshedDomain.mesh_geometry()`), the (block) dof of a Lagrange
    space sitting on it: (N,). The values are copied, not interpolated, so the stored vertex values are the
    solver's dofs bit for bit (a Dirichlet value stays exact); `MeshedDomain.vertex_values` agrees to rounding.

    A cell's first three dofs of P1 or P2 (basix) and its first three geometry nodes are its vertices, in the
    same reference order; the gmsh meshes are affine, so their geometry nodes are exactly the vertices.
    """
    geometry = space.mesh.geometry.dofmaps[0]  # (M, 3)
    index = np.full(len(space.mesh.geometry.x), -1, dtype=np.int64)
    index[geometry[:, :3]] = space.dofmap.list[:, :3]
    if np.any(index < 0):
        raise SurrolabError("the mesh has geometry nodes that are not cell vertices")  # a higher-order mesh
    return index


class _MassBalance:
    """Per state: ‖∇·u_h‖ / ‖∇u_h‖ and the relative net flux |∫_∂Ω u_h·n| / ∫_∂Ω |u_h·n|.

    For an open flow the ratio is |Q_out − Q_in| / (Q_out + Q_in), Q_in and Q_out the volume fluxes in and
    out (2D: m²/s). For an enclosed flow u_h·n = 0 at every boundary node, the
    denominator is ~0, and it is replaced by 1 (m²/s), so the absolute net flux is reported (~1e-16).
    """

    def __init__(self, solver: NavierStokesSolver):
        self._comm = solver.comm
        self._u = dolfinx.fem.Function(solver.velocity_space)
        n = ufl.FacetNormal(solver.mesh)
        grad, div, flux = ufl.grad(self._u), ufl.div(self._u), ufl.dot(self._u, n)
        self._forms = [dolfinx.fem.form(expr) for expr in (ufl.inner(grad, grad) * ufl.dx, div**2 * ufl.dx,
                                                          flux * ufl.ds, abs(flux) * ufl.ds)]

    def __call__(self, state: FlowState) -> tuple[float, float]:
        self._u.x.array[:] = state.velocity
        gradient, divergence, net, throughput = (
            self._comm.allreduce(dolfinx.fem.assemble_scalar(form), op=MPI.SUM) for form in self._forms)
        ratio = math.sqrt(max(divergence, 0.0)) / max(math.sqrt(max(gradient, 0.0)), 1e-300)
        return ratio, abs(net) / (throughput if throughput > 1e-12 else 1.0)


__all__ = ["FlowConfig", "FlowFamily", "PRESSURE", "VELOCITY", "ramp", "vertex_dofs"]
