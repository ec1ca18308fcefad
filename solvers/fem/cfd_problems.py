"""CFDBench's flow families as registered mesh problems (Luo et al., "CFDBench: A Large-Scale Benchmark for
Machine Learning Methods in Fluid Dynamics", 2023, arXiv:2310.05963). First: the lid-driven cavity.

`cavity`: the rectangle Ω = (0, W) × (0, H), fluid at rest at t = 0, the lid y = H sliding at speed U,
no slip on the three other walls:

    ρ (∂u/∂t + (u·∇)u) − μ Δu + ∇p = 0,    ∇·u = 0    in Ω,      u(x, 0) = 0,
    u = (U r(t), 0) on the lid,      u = 0 on the walls,         ∫_Ω p = 0.

As in CFDBench, a case varies by its boundary condition (U), its physical properties (ρ, μ) and its
geometry (W, H); all five are sampled. The Reynolds number Re = ρ U W / μ (W, the lid's length) lies in
[10, 360] over the sampling ranges below (extremes: ρ U W = 0.8·0.5·0.5 with μ = 0.02, and 1.2·1.5·1.0 with
μ = 0.005): laminar, the range of CFDBench's cavity (Re up to a few hundred), and resolved by the default
mesh (h = 0.05, refined to h/3 towards the lid's corners; the solver matches Ghia's Re = 400 profiles at
comparable resolution, `solvers/fem/reference_flows.py`).

Discretisation: `NavierStokesSolver` (Taylor–Hood P2–P1, linearly implicit BDF2, MUMPS LU; order 3/2 in
space for u/p in L2, 2 in time, no CFL limit) on the gmsh mesh `meshes.geometries.cavity(W, H, h)`. The
walls are listed first, so the two top corners, where lid and wall meet, take the wall value 0.

Start-up: an impulsively started lid is singular in time (an infinite pressure pulse at t = 0⁺, which the
first steps resolve poorly), so the lid speed is ramped smoothly, r(t) = (1 − cos(π t / t_r)) / 2 for
t < t_r and r = 1 after, with t_r = `ramp_time` (0 gives the impulsive start). From t_r on the lid value
is exactly U.

Stored fields, at the mesh vertices (`MeshGeometry`, one mesh per sample since W and H vary): `velocity`
(m/s), the P2 velocity by its nodal values at the vertices, and `pressure` (Pa), the P1 pressure (its
vertex values are all of it), shifted to zero mean. The dataset writer interpolates both onto the grid of
`CavityProblem.grid`, which covers the largest cavity of the sampling ranges; nodes outside a sample's
cavity are masked.

Diagnostics per sample: `relative_divergence`, max over frames of ‖∇·u_h‖_L2 / ‖∇u_h‖_L2 (Taylor–Hood is
divergence-free only weakly; at the default mesh it is 0.15–0.18, dominated by the lid's discontinuous
corners, where ∇u ~ 1/r, so it falls only slowly with h); `boundary_mass_flux`, max over frames of
|∫_∂Ω u_h·n ds| (zero: u·n = 0 at every boundary node); `n_dofs` (Taylor–Hood unknowns); `n_time_steps`;
`reynolds`.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import dolfinx_solver  # noqa: F401  (must be imported before dolfinx)
import dolfinx
import numpy as np
import ufl
from mpi4py import MPI

from surrolab.errors import SurrolabError, check_positive_int, check_positive_number
from surrolab.meshes.geometries import cavity
from surrolab.solvers.fem.navier_stokes import FlowState, NavierStokesSolver, VelocityBC
from surrolab.solvers.problem import BoundaryCondition, FrameSchedule, ParameterSpec, Problem
from surrolab.solvers.trajectory import FieldSpec, GridGeometry, Trajectory


def lid_ramp(t: float, ramp_time: float) -> float:
    """r(t) = (1 − cos(π t / t_r)) / 2 on [0, t_r], 1 after: C¹, from 0 to exactly 1."""
    if t >= ramp_time:
        return 1.0
    return 0.5 * (1.0 - math.cos(math.pi * t / ramp_time))


@dataclass(frozen=True)
class CavityConfig(FrameSchedule):
    """Numerical settings; the frames and Δt follow `FrameSchedule` (t = 0 is the fluid at rest).

    Defaults: t = 0..10 s in 51 frames, Δt = 0.05 s (200 steps), about 7–20 lid-passage times W/U, by
    which the primary vortex has formed (the viscous time ρW²/μ is longer, so late frames still evolve
    slowly at high Re). `h` is the gmsh mesh size (m). `grid_resolution` is the number of grid cells per
    metre of the grid the writer interpolates onto. `ramp_time` (s) is the lid's start-up (module docstring).
    `substeps` = 4 and h allow coarsening by 2 and 4.
    """

    h: float = 0.05
    t_end: float = 10.0
    n_frames: int = 51
    substeps: int = 4
    grid_resolution: int = 64
    ramp_time: float = 0.5

    def __post_init__(self):
        super().__post_init__()
        check_positive_number("h", self.h)
        check_positive_int("grid_resolution", self.grid_resolution, minimum=2)
        check_positive_number("ramp_time", self.ramp_time, allow_zero=True)
        if self.ramp_time > self.t_end:
            raise SurrolabError(f"ramp_time={self.ramp_time!r} is not allowed: it must not exceed t_end={self.t_end!r}")


class CavityProblem(Problem):
    """The lid-driven cavity from rest (CFDBench's cavity), Re = ρUW/μ ∈ [10, 360]; module docstring.

    The random part of a sample is its parameters: the flow starts from rest, so `initial_state` is zero
    and `solve` accepts only that.
    """

    name = "cavity"
    description = ("Lid-driven cavity flow from rest (CFDBench cavity), varying lid speed, density, viscosity, "
                   "width and height; Taylor-Hood P2-P1 + BDF2 on a gmsh mesh, Re 10-360.")
    geometry_type = "mesh"
    fields = (
        FieldSpec("velocity", "m/s", order=1, description="velocity u (P2, stored by its values at the vertices)"),
        FieldSpec("pressure", "Pa", order=0, description="pressure p (P1), zero mean over the cavity"),
    )
    parameters = (
        ParameterSpec("lid_speed", "m/s", low=0.5, high=1.5, default=1.0, allowed_low=1e-6, allowed_high=1e3,
                      description="speed U of the lid (boundary condition)"),
        ParameterSpec("density", "kg/m^3", low=0.8, high=1.2, default=1.0, allowed_low=1e-6, allowed_high=1e5,
                      description="density ρ (physical property)"),
        ParameterSpec("viscosity", "Pa s", low=5e-3, high=2e-2, default=1e-2, allowed_low=1e-9, allowed_high=1e3,
                      description="dynamic viscosity μ (physical property)"),
        ParameterSpec("width", "m", low=0.5, high=1.0, default=1.0, allowed_low=1e-3, allowed_high=1e3,
                      description="cavity width W, the lid's length (geometry)"),
        ParameterSpec("height", "m", low=0.5, high=1.0, default=1.0, allowed_low=1e-3, allowed_high=1e3,
                      description="cavity height H (geometry)"),
    )
    boundary_conditions = (
        BoundaryCondition(boundary="lid", kind="dirichlet", value=float("nan"), fields=("velocity",)),
        BoundaryCondition(boundary="walls", kind="dirichlet", value=0.0, fields=("velocity",)),
    )  # the lid's value is the sample's parameter lid_speed (tangential), hence NaN here
    Config = CavityConfig
    order_in_space: ClassVar[tuple[int, int]] = NavierStokesSolver.order_in_space
    order_in_time: ClassVar[int] = NavierStokesSolver.order_in_time

    @staticmethod
    def reynolds(params: dict[str, float]) -> float:
        """Re = ρ U W / μ."""
        return params["density"] * params["lid_speed"] * params["width"] / params["viscosity"]

    def grid(self, config) -> GridGeometry:
        """[0, W_max] × [0, H_max] (the largest cavity sampled), `grid_resolution` cells per metre."""
        self.check_config(config)
        spec = {p.name: p for p in self.parameters}
        axes = tuple(np.linspace(0.0, spec[name].high, max(2, round(spec[name].high * config.grid_resolution)) + 1)
                     for name in ("width", "height"))
        return GridGeometry(axes=axes)

    def initial_state(self, config, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Rest: zero velocity and pressure on the grid (`rng` is not used; the parameters are the random part)."""
        shape = self.grid(config).shape
        return {"velocity": np.zeros((*shape, 2)), "pressure": np.zeros(shape)}

    def solve(self, config, params: dict[str, float], initial_state: dict[str, np.ndarray]) -> Trajectory:
        """The cavity of these parameters from rest to t_end (pure, deterministic)."""
        self.check_config(config)
        params = self.check_parameters(params)
        self._check_rest(initial_state)
        domain = cavity(params["width"], params["height"], config.h)
        speed, ramp_time = params["lid_speed"], config.ramp_time

        def lid(x: np.ndarray, t: float) -> np.ndarray:
            value = speed * lid_ramp(t, ramp_time)
            return np.vstack([np.full(x.shape[1], value), np.zeros(x.shape[1])])

        solver = NavierStokesSolver(
            domain.mesh, (VelocityBC(domain.facets("walls"), (0.0, 0.0)), VelocityBC(domain.facets("lid"), lid)),
            viscosity=params["viscosity"], density=params["density"], dt=config.dt, enclosed=True)
        gradient_norm = _GradientNorm(solver)
        at_vertex = {"velocity": _vertex_dofs(solver.velocity_space), "pressure": _vertex_dofs(solver.pressure_space)}

        state = solver.initial_state()
        velocity, pressure = [], []
        divergence, flux = 0.0, 0.0
        for frame in range(config.n_frames):
            if frame > 0:
                for _ in range(config.substeps):
                    state = solver.step(state)
                diagnostics = solver.diagnostics(state)
                divergence = max(divergence, diagnostics["divergence_l2"] / max(gradient_norm(state), 1e-300))
                flux = max(flux, abs(diagnostics["boundary_flux"]))
            velocity.append(state.velocity.reshape(-1, 2)[at_vertex["velocity"]])  # (N, 2)
            pressure.append(state.pressure[at_vertex["pressure"]])  # (N,)
        n_dofs = solver.mixed_space.dofmap.index_map.size_local * solver.mixed_space.dofmap.index_map_bs
        return Trajectory(times=config.times,
                          fields={"velocity": np.stack(velocity), "pressure": np.stack(pressure)},  # (T, N, 2), (T, N)
                          geometry=domain.mesh_geometry(),
                          diagnostics={"relative_divergence": divergence, "boundary_mass_flux": flux,
                                       "n_dofs": float(n_dofs), "n_time_steps": float(state.n_steps),
                                       "reynolds": self.reynolds(params)})

    def coarsen(self, config, factor: int):
        """h × factor and substeps / factor: the mesh and Δt both coarsen by `factor`, the frame times stay."""
        return dataclasses.replace(config, h=config.h * factor, **self.divided(config, factor, ("substeps",)))

    def _check_rest(self, initial_state: dict[str, np.ndarray]) -> None:
        names = sorted(f.name for f in self.fields)
        if sorted(initial_state) != names:
            raise SurrolabError(f"initial state has fields {sorted(initial_state)}; problem {self.name!r} needs {names}")
        for name, value in initial_state.items():
            if np.any(np.asarray(value) != 0):
                raise SurrolabError(f"initial state {name!r} is not zero: the cavity flow starts from rest")


def _vertex_dofs(space: dolfinx.fem.FunctionSpace) -> np.ndarray:
    """For each geometry node (the points of `MeshedDomain.mesh_geometry()`), the (block) dof of a Lagrange
    space sitting on it: (N,). The values are copied, not interpolated, so the stored vertex values are the
    solver's dofs bit for bit (a Dirichlet value stays exact); `MeshedDomain.vertex_values` agrees to rounding.

    A cell's first three dofs of P1 or P2 (basix) and its first three geometry nodes are its vertices, in the
    same reference order; the gmsh cavity mesh is affine, so its geometry nodes are exactly the vertices.
    """
    geometry = space.mesh.geometry.dofmaps[0]  # (M, 3)
    index = np.full(len(space.mesh.geometry.x), -1, dtype=np.int64)
    index[geometry[:, :3]] = space.dofmap.list[:, :3]
    if np.any(index < 0):
        raise SurrolabError("the mesh has geometry nodes that are not cell vertices")  # a higher-order mesh
    return index


class _GradientNorm:
    """‖∇u_h‖_L2 of a state's velocity, the scale the relative divergence ‖∇·u_h‖ / ‖∇u_h‖ is measured against."""

    def __init__(self, solver: NavierStokesSolver):
        self._solver = solver
        self._u = dolfinx.fem.Function(solver.velocity_space)
        self._form = dolfinx.fem.form(ufl.inner(ufl.grad(self._u), ufl.grad(self._u)) * ufl.dx)

    def __call__(self, state: FlowState) -> float:
        self._u.x.array[:] = state.velocity
        value = self._solver.comm.allreduce(dolfinx.fem.assemble_scalar(self._form), op=MPI.SUM)
        return math.sqrt(max(value, 0.0))


__all__ = ["CavityConfig", "CavityProblem", "lid_ramp"]
