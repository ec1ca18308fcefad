"""CFDBench's dam (Luo et al., 2023) as a registered flow family (`flow_family.py`): channel flow over a
barrier on the floor.

`dam`: the channel (0, L) × (0, H) less the barrier B = [x_b, x_b + w] × [0, b] standing on its floor,
fluid at rest at t = 0, a parabolic inflow of mean speed Ū switched on at x = 0, no slip on the floor, the
ceiling and the barrier, the do-nothing outflow at x = L:

    ρ (∂u/∂t + (u·∇)u) − μ Δu + ∇p = 0,    ∇·u = 0    in Ω = (0, L) × (0, H) \\ B,      u(x, 0) = 0,
    u = (r(t) 6 Ū y (H − y)/H², 0) at x = 0,    u = 0 on the walls and the barrier,    μ ∂u/∂n − p n = 0 at x = L.

The flow separates at the barrier's top corners and reattaches on the floor downstream, enclosing a
recirculation (u < 0 near the floor behind the barrier), whose length grows with Re and b.

As in CFDBench, a case varies by its boundary condition (Ū), its physical properties (ρ, μ) and its
geometry (the barrier's height b and width w); all five are sampled, the channel is fixed: H = 0.4 m, L = 2 m,
x_b = 0.5 m. The Reynolds number Re = ρ Ū H / μ (H, the channel height) lies in [16, 144] over the sampling
ranges below (extremes: ρ Ū H = 0.8·0.5·0.4 = 0.16 with μ = 0.01, and 1.2·1.5·0.4 = 0.72 with μ = 5e-3);
on the barrier's height, Re_b = ρ Ū b / μ ∈ [0.8·0.5·0.08/0.01, 1.2·1.5·0.16/5e-3] = [3.2, 57.6]. Laminar
and steady: at the most inertial sampled corner (Re = 144, b = 0.16, w = 0.02) the flow settles and the
recirculation ends at x = 1.54 m, and even at Re = 200 (b = 0.16, w = 0.06) it settles (no shedding) and
reattaches 7.3 b behind the barrier, at x = 1.72 m, still inside the channel: no sample has backflow
through the outlet, where the do-nothing condition would be ill-posed.

Where this deviates from CFDBench (the repository luo-yining/CFDBench, `src/dataset/dam.py`,
`generation-code/icem-rpl/mesh.py`, `generation-code/fluent-scheme/create_scheme.py`): its channel is
1.5 m × 0.4 m with the barrier at x = 0.5 m (kept), barrier heights 0.1–0.15 m and widths 0.01–0.1 m (we
sample b ∈ [0.08, 0.16], w ∈ [0.02, 0.1]: a barrier thinner than 0.02 m is thinner than the refined mesh
cells); we lengthen the channel to 2 m so that the recirculation closes before the outlet. CFDBench's Fluent
cases impose a uniform inflow, which jumps to 0 at the floor and the ceiling (two corner singularities,
∇u ~ 1/r); we impose the developed parabola of the same mean speed, as if the channel upstream were long.
CFDBench varies the inlet speed over 0.05–2 m/s and ρ ∈ [10, 1000], μ ∈ [0.01, 1] on a table around
ρ = 100, μ = 0.1 (Re up to 800 on the channel height); we sample every parameter uniformly over narrower,
laminar ranges in the units of the other families (ρ near 1).

Discretisation: `NavierStokesSolver` (Taylor–Hood P2–P1, linearly implicit BDF2, MUMPS LU) on the gmsh mesh
`meshes.geometries.step_channel(L, H, x_b, w, b, h)`, refined to h/3 on the barrier, growing to h over 3 b.
Walls and barrier are listed first (the inlet's end nodes take the wall value 0, which the parabola has
there anyway).

Start-up, stored fields, the grid and the per-sample diagnostics are the flow families' (`flow_family.py`):
the inflow is ramped by r(t) over `ramp_time`; the grid covers the channel, and its nodes inside the
barrier are masked. The net boundary flux is zero to rounding (q = 1 is in the P1 pressure space, so
∫_∂Ω u_h·n = ∫_Ω ∇·u_h = 0); ‖∇·u_h‖/‖∇u_h‖ is dominated by the barrier's corners, where ∇u is singular.

Cost (this machine: 2 cores shared with other jobs; one sample from rest, the solve alone): default (h = 0.04,
320 steps) 7,400–10,100 Taylor–Hood unknowns and 9–17 s wall (8–11 s of CPU) for the first three samples of
seed 0, 14 s at the default parameters, 29 s at the most expensive corner (b = 0.16, w = 0.02, Re = 144) on a
loaded machine; demo (h = 0.08, 40 steps) 2,100–2,800 unknowns, 0.4–0.6 s; large (h = 0.02, 640 steps) about
33k unknowns at the default parameters, 160 ms a step, under two minutes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from surrolab.meshes.geometries import MeshedDomain, step_channel
from surrolab.solvers.fem.flow_family import FlowConfig, FlowFamily, ramp
from surrolab.solvers.fem.navier_stokes import VelocityBC
from surrolab.solvers.fem.tube import inlet_profile
from surrolab.solvers.problem import BoundaryCondition, ParameterSpec

CHANNEL_LENGTH = 2.0  # L (m)
CHANNEL_HEIGHT = 0.4  # H (m), CFDBench's
BARRIER_X = 0.5  # x_b (m), CFDBench's: the barrier's upstream face


@dataclass(frozen=True)
class DamConfig(FlowConfig):
    """Defaults: t = 0..8 s in 81 frames (0.1 s apart), Δt = 0.025 s (320 steps): 2–6 passages L/Ū, by
    which the recirculation has reached its length (measured: the change over the last second of the run is
    3e-8 at the default parameters, 7e-5 at the most inertial corner, 4e-6 with Ū = 0.5, in m/s).
    h = 0.04 is 10 cells across the channel, h/3 on the barrier; `substeps` = 4 and h allow coarsening by 2."""

    h: float = 0.04
    t_end: float = 8.0
    n_frames: int = 81
    substeps: int = 4
    grid_resolution: int = 80
    ramp_time: float = 0.5


class DamProblem(FlowFamily):
    """Channel flow over a barrier from rest (CFDBench's dam), Re = ρŪH/μ ∈ [16, 144]; module docstring."""

    name = "dam"
    description = ("Channel flow over a barrier on the floor, from rest (CFDBench dam), varying inlet speed, "
                   "density, viscosity, barrier height and width; Taylor-Hood P2-P1 + BDF2 on a gmsh mesh, "
                   "Re 16-144.")
    parameters = (
        ParameterSpec("inlet_speed", "m/s", low=0.5, high=1.5, default=1.0, allowed_low=1e-6, allowed_high=1e3,
                      description="mean speed Ū of the parabolic inflow (boundary condition)"),
        ParameterSpec("density", "kg/m^3", low=0.8, high=1.2, default=1.0, allowed_low=1e-6, allowed_high=1e5,
                      description="density ρ (physical property)"),
        ParameterSpec("viscosity", "Pa s", low=5e-3, high=1e-2, default=5e-3, allowed_low=1e-9, allowed_high=1e3,
                      description="dynamic viscosity μ (physical property)"),
        ParameterSpec("barrier_height", "m", low=0.08, high=0.16, default=0.12, allowed_low=1e-3,
                      allowed_high=0.9 * CHANNEL_HEIGHT, description="height b of the barrier (geometry)"),
        ParameterSpec("barrier_width", "m", low=0.02, high=0.1, default=0.05, allowed_low=1e-3,
                      allowed_high=CHANNEL_LENGTH - BARRIER_X - 0.1, description="width w of the barrier (geometry)"),
    )
    boundary_conditions = (
        BoundaryCondition(boundary="walls", kind="dirichlet", value=0.0, fields=("velocity",)),
        BoundaryCondition(boundary="barrier", kind="dirichlet", value=0.0, fields=("velocity",)),
        BoundaryCondition(boundary="inlet", kind="dirichlet", value=float("nan"), fields=("velocity",)),
        BoundaryCondition(boundary="outlet", kind="neumann", value=0.0, fields=("velocity", "pressure")),
    )  # inlet: the sample's parabola of mean inlet_speed, hence NaN; outlet: do-nothing, (μ∇u − pI)n = 0
    Config = DamConfig
    presets = {"demo": {"h": 0.08, "t_end": 2.0, "n_frames": 11, "substeps": 4, "grid_resolution": 40},
               "large": {"h": 0.02, "t_end": 8.0, "n_frames": 161, "substeps": 4, "grid_resolution": 160}}

    @staticmethod
    def reynolds(params: dict[str, float]) -> float:
        """Re = ρ Ū H / μ, H = 0.4 m the channel height."""
        return params["density"] * params["inlet_speed"] * CHANNEL_HEIGHT / params["viscosity"]

    def extent(self):
        """The channel [0, L] × [0, H] (the same for every sample; the barrier is masked per sample)."""
        return (0.0, CHANNEL_LENGTH), (0.0, CHANNEL_HEIGHT)

    def domain(self, config, params: dict[str, float]) -> MeshedDomain:
        return step_channel(length=CHANNEL_LENGTH, height=CHANNEL_HEIGHT, step_x=BARRIER_X,
                            step_width=params["barrier_width"], step_height=params["barrier_height"], h=config.h)

    def velocity_conditions(self, domain: MeshedDomain, config, params: dict[str, float]) -> tuple[VelocityBC, ...]:
        """Walls and barrier first (no slip), then the ramped parabola at x = 0; the outlet is do-nothing."""
        speed, ramp_time = params["inlet_speed"], config.ramp_time

        def inflow(x: np.ndarray, t: float) -> np.ndarray:
            u = ramp(t, ramp_time) * inlet_profile(x[1], CHANNEL_HEIGHT, speed)
            return np.vstack([u, np.zeros(x.shape[1])])

        return (VelocityBC(domain.facets("walls"), (0.0, 0.0)), VelocityBC(domain.facets("barrier"), (0.0, 0.0)),
                VelocityBC(domain.facets("inlet"), inflow))


__all__ = ["BARRIER_X", "CHANNEL_HEIGHT", "CHANNEL_LENGTH", "DamConfig", "DamProblem"]
