"""CFDBench's cylinder (Luo et al., 2023) as a registered flow family (`flow_family.py`): the flow around a
circular cylinder in a channel, steady at low Re and a vortex street above the onset of shedding.

`cylinder`: the DFG channel (0, L) × (0, H) = (0, 2.2) × (0, 0.41) (Schäfer & Turek, 1996) less the disk
of radius r centred at (c_x, c_y), fluid at rest at t = 0, a parabolic inflow of mean speed Ū switched on
at x = 0, no slip on the walls and the cylinder, the do-nothing outflow at x = L:

    ρ (∂u/∂t + (u·∇)u) − μ Δu + ∇p = 0,    ∇·u = 0    in Ω,      u(x, 0) = 0,
    u = (r(t) 6 Ū y (H − y)/H², 0) at x = 0,    u = 0 on the walls and the cylinder,    μ ∂u/∂n − p n = 0 at x = L.

As in CFDBench, a case varies by its boundary condition (Ū), its physical properties (ρ, μ) and its
geometry (the cylinder's radius and position); all six are sampled. The Reynolds number Re = ρ Ū D / μ
(D = 2r, Ū the mean inflow speed: the DFG benchmark's definition) lies in [16, 216] over the sampling ranges
below (extremes: ρ Ū D = 0.8·0.5·0.08 = 0.032 with μ = 2e-3, and 1.2·1.5·0.12 = 0.216 with μ = 1e-3); its
median over the uniform sampling is 65 (10th–90th percentiles 37 and 107). The defaults are the DFG 2D-2
case (Ū = 1, ρ = 1, μ = 1e-3, D = 0.1 at (0.2, 0.2): Re = 100).

Onset of shedding, measured with this solver on the default mesh (DFG geometry, c_y = 0.2, Ū = 1, Δt = 0.02,
12 s): at Re = 40 the lift oscillation decays (amplitude of c_L = 2F_y/(ρŪ²D) 0.014 → 0.011 over
t = 7..12 s), at Re = 55 it saturates at amplitude 0.70 with St = D f / Ū = 0.278, and at Re = 100
(Δt = 0.01) at 1.12 with St = 0.302, inside the DFG 2D-2 interval [0.295, 0.305]. So the critical Re of this
confined cylinder lies between 40 and 55 (the unconfined cylinder's is 47 on the free-stream speed; here the
cylinder meets up to 1.5 Ū and the walls are near), and about 70 % of the samples (those with Re ≳ 50)
carry a vortex street; those close to the onset grow slowly and may not saturate by t_end.
`benchmarks/cylinder_strouhal.py` measures St from the lift on the default config (Δt = 0.0125): Re = 40
steady (c_L amplitude 7e-4 and decaying), St = 0.276 at Re = 55 (still growing at t = 8 s), 0.304 at 100,
0.320 at 150 and 0.331 at 200.

Where this deviates from CFDBench (the repository luo-yining/CFDBench, `src/dataset/cylinder.py`,
`generation-code/fluent-scheme/`): its Fluent cases impose a uniform inflow (`velocity-inlet` with one
speed), which jumps to 0 at the walls (two corner singularities); we impose the DFG parabola of the same
mean speed, so that the default sample is a published benchmark with reference values
(`reference_flows.DFG_REFERENCE`). CFDBench's cases centre on ρ = 10, μ = 1e-3, u = 1 m/s and move the
channel's edges around the cylinder per case (`x_min`, `x_max`, `y_min`, `y_max` in its case files); we keep
the DFG channel and move the cylinder instead, which is the same family of geometries, and sample radius
0.04–0.06 m and centre (0.15–0.3, 0.165–0.245) m, symmetric about the centre line y = H/2 = 0.205 m.

Discretisation: `NavierStokesSolver` (Taylor–Hood P2–P1, linearly implicit BDF2, MUMPS LU; the convective
form with the do-nothing outflow) on the gmsh mesh `meshes.geometries.cylinder_channel(...)`, refined to
h/5 on the cylinder, growing to h over 4r. Walls and cylinder are listed first (the inlet's end nodes take
the wall value 0, which the parabola has there anyway).

Start-up, stored fields, the grid and the per-sample diagnostics are the flow families' (`flow_family.py`):
the inflow is ramped over `ramp_time`; the grid covers the channel, and its nodes inside the cylinder are
masked. The net boundary flux is zero to rounding (q = 1 is in the P1 pressure space, so
∫_∂Ω u_h·n = ∫_Ω ∇·u_h = 0).

Cost (this machine: 2 cores shared with other jobs; one sample from rest, the solve alone): default (h = 0.04,
Δt = 0.0125, 640 steps) 8,700–10,700 Taylor–Hood unknowns and 18–23 s for the first three samples of seed 0,
21–26 s at the Re of the benchmark table; demo (h = 0.08, Δt = 0.04, 50 steps) 2,400–2,900 unknowns,
0.6–0.7 s; large (h = 0.02, Δt = 0.005, 2,000 steps) about 37k unknowns, 200 ms a step, about 7 minutes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from surrolab.meshes.geometries import MeshedDomain, cylinder_channel
from surrolab.solvers.fem.flow_family import FlowConfig, FlowFamily, ramp
from surrolab.solvers.fem.navier_stokes import VelocityBC
from surrolab.solvers.fem.tube import inlet_profile
from surrolab.solvers.problem import BoundaryCondition, ParameterSpec

CHANNEL_LENGTH = 2.2  # L (m), the DFG channel's
CHANNEL_HEIGHT = 0.41  # H (m)


@dataclass(frozen=True)
class CylinderConfig(FlowConfig):
    """Defaults: t = 0..8 s in 161 frames (0.05 s apart: 6.6 frames per shedding period at Re = 100),
    Δt = 0.0125 s (640 steps; 14–36 steps per shedding period D/(St Ū) over the sampled Ū and D, taking
    St ≈ 0.3). At Re = 100 the street is periodic from t ≈ 4 s. h = 0.04 (h/5 on the cylinder) gives St
    within the DFG interval at Re = 100 (`benchmarks/cylinder_strouhal.py`); `substeps` = 4 and h allow
    coarsening by 2."""

    h: float = 0.04
    t_end: float = 8.0
    n_frames: int = 161
    substeps: int = 4
    grid_resolution: int = 64
    ramp_time: float = 0.5


class CylinderProblem(FlowFamily):
    """The flow around a cylinder in a channel from rest (CFDBench's cylinder, the DFG geometry),
    Re = ρŪD/μ ∈ [16, 216], shedding above Re ≈ 50; module docstring."""

    name = "cylinder"
    description = ("Flow around a cylinder in the DFG channel, from rest (CFDBench cylinder), varying inlet speed, "
                   "density, viscosity, radius and position; Taylor-Hood P2-P1 + BDF2 on a gmsh mesh, Re 16-216, "
                   "vortex shedding above Re ~50.")
    parameters = (
        ParameterSpec("inlet_speed", "m/s", low=0.5, high=1.5, default=1.0, allowed_low=1e-6, allowed_high=1e3,
                      description="mean speed Ū of the parabolic inflow (boundary condition)"),
        ParameterSpec("density", "kg/m^3", low=0.8, high=1.2, default=1.0, allowed_low=1e-6, allowed_high=1e5,
                      description="density ρ (physical property)"),
        ParameterSpec("viscosity", "Pa s", low=1e-3, high=2e-3, default=1e-3, allowed_low=1e-9, allowed_high=1e3,
                      description="dynamic viscosity μ (physical property)"),
        ParameterSpec("radius", "m", low=0.04, high=0.06, default=0.05, allowed_low=1e-3, allowed_high=0.15,
                      description="cylinder radius r (geometry)"),
        ParameterSpec("center_x", "m", low=0.15, high=0.3, default=0.2, allowed_low=0.0, allowed_high=CHANNEL_LENGTH,
                      description="x of the cylinder's centre (geometry)"),
        ParameterSpec("center_y", "m", low=0.165, high=0.245, default=0.2, allowed_low=0.0,
                      allowed_high=CHANNEL_HEIGHT, description="y of the cylinder's centre (geometry)"),
    )
    boundary_conditions = (
        BoundaryCondition(boundary="walls", kind="dirichlet", value=0.0, fields=("velocity",)),
        BoundaryCondition(boundary="cylinder", kind="dirichlet", value=0.0, fields=("velocity",)),
        BoundaryCondition(boundary="inlet", kind="dirichlet", value=float("nan"), fields=("velocity",)),
        BoundaryCondition(boundary="outlet", kind="neumann", value=0.0, fields=("velocity", "pressure")),
    )  # inlet: the sample's parabola of mean inlet_speed, hence NaN; outlet: do-nothing, (μ∇u − pI)n = 0
    Config = CylinderConfig
    presets = {"demo": {"h": 0.08, "t_end": 2.0, "n_frames": 26, "substeps": 2, "grid_resolution": 32},
               "large": {"h": 0.02, "t_end": 10.0, "n_frames": 251, "substeps": 8, "grid_resolution": 128}}

    @staticmethod
    def reynolds(params: dict[str, float]) -> float:
        """Re = ρ Ū D / μ, D = 2r."""
        return params["density"] * params["inlet_speed"] * 2.0 * params["radius"] / params["viscosity"]

    @staticmethod
    def force_scale(params: dict[str, float]) -> float:
        """½ρŪ²D (N/m): drag and lift coefficients are c_D = F_x / this, c_L = F_y / this (DFG's definition)."""
        return 0.5 * params["density"] * params["inlet_speed"] ** 2 * 2.0 * params["radius"]

    def extent(self):
        """The channel [0, L] × [0, H] (the same for every sample; the cylinder is masked per sample)."""
        return (0.0, CHANNEL_LENGTH), (0.0, CHANNEL_HEIGHT)

    def domain(self, config, params: dict[str, float]) -> MeshedDomain:
        return cylinder_channel(length=CHANNEL_LENGTH, height=CHANNEL_HEIGHT,
                                center=(params["center_x"], params["center_y"]), radius=params["radius"], h=config.h)

    def velocity_conditions(self, domain: MeshedDomain, config, params: dict[str, float]) -> tuple[VelocityBC, ...]:
        """Walls and cylinder first (no slip), then the ramped parabola at x = 0; the outlet is do-nothing."""
        speed, ramp_time = params["inlet_speed"], config.ramp_time

        def inflow(x: np.ndarray, t: float) -> np.ndarray:
            u = ramp(t, ramp_time) * inlet_profile(x[1], CHANNEL_HEIGHT, speed)
            return np.vstack([u, np.zeros(x.shape[1])])

        return (VelocityBC(domain.facets("walls"), (0.0, 0.0)), VelocityBC(domain.facets("cylinder"), (0.0, 0.0)),
                VelocityBC(domain.facets("inlet"), inflow))


__all__ = ["CHANNEL_HEIGHT", "CHANNEL_LENGTH", "CylinderConfig", "CylinderProblem"]
