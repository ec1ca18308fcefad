"""CFDBench's lid-driven cavity (Luo et al., 2023) as a registered flow family (`flow_family.py`).

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

Start-up, stored fields, the grid and the per-sample diagnostics are the flow families' (`flow_family.py`):
the lid speed is ramped, r(t) U, over `ramp_time`; the grid covers the largest cavity sampled. At the default
mesh ‖∇·u_h‖/‖∇u_h‖ is 0.15–0.18, dominated by the lid's discontinuous corners, where ∇u ~ 1/r, so it falls
only slowly with h; the net boundary flux is zero to rounding (u·n = 0 at every boundary node).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from surrolab.meshes.geometries import MeshedDomain, cavity
from surrolab.solvers.fem.flow_family import FlowConfig, FlowFamily, ramp
from surrolab.solvers.fem.navier_stokes import VelocityBC
from surrolab.solvers.problem import BoundaryCondition, ParameterSpec


@dataclass(frozen=True)
class CavityConfig(FlowConfig):
    """Defaults: t = 0..10 s in 51 frames, Δt = 0.05 s (200 steps), about 7–20 lid-passage times W/U, by
    which the primary vortex has formed (the viscous time ρW²/μ is longer, so late frames still evolve
    slowly at high Re). `substeps` = 4 and h allow coarsening by 2 and 4.
    """

    h: float = 0.05
    t_end: float = 10.0
    n_frames: int = 51
    substeps: int = 4
    grid_resolution: int = 64
    ramp_time: float = 0.5


class CavityProblem(FlowFamily):
    """The lid-driven cavity from rest (CFDBench's cavity), Re = ρUW/μ ∈ [10, 360]; module docstring."""

    name = "cavity"
    description = ("Lid-driven cavity flow from rest (CFDBench cavity), varying lid speed, density, viscosity, "
                   "width and height; Taylor-Hood P2-P1 + BDF2 on a gmsh mesh, Re 10-360.")
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
    presets = {"demo": {"h": 0.1, "t_end": 2.0, "n_frames": 11, "substeps": 4, "grid_resolution": 32},
               "large": {"h": 0.025, "t_end": 10.0, "n_frames": 101, "substeps": 4, "grid_resolution": 128}}

    @staticmethod
    def reynolds(params: dict[str, float]) -> float:
        """Re = ρ U W / μ."""
        return params["density"] * params["lid_speed"] * params["width"] / params["viscosity"]

    def extent(self):
        """[0, W_max] × [0, H_max], the largest cavity sampled."""
        spec = {p.name: p for p in self.parameters}
        return (0.0, spec["width"].high), (0.0, spec["height"].high)

    def domain(self, config, params: dict[str, float]) -> MeshedDomain:
        return cavity(params["width"], params["height"], config.h)

    def velocity_conditions(self, domain: MeshedDomain, config, params: dict[str, float]) -> tuple[VelocityBC, ...]:
        """Walls first, so the lid's two end nodes take the wall value 0; the lid moves at r(t) U."""
        speed, ramp_time = params["lid_speed"], config.ramp_time

        def lid(x: np.ndarray, t: float) -> np.ndarray:
            return np.vstack([np.full(x.shape[1], speed * ramp(t, ramp_time)), np.zeros(x.shape[1])])

        return VelocityBC(domain.facets("walls"), (0.0, 0.0)), VelocityBC(domain.facets("lid"), lid)


__all__ = ["CavityConfig", "CavityProblem"]
