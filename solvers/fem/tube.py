"""CFDBench's tube (Luo et al., 2023) as a registered flow family (`flow_family.py`): channel flow developing
from an inlet.

`tube`: the channel Ω = (0, L) × (0, H), fluid at rest at t = 0, a blunt inflow of mean speed Ū switched on
at x = 0, no slip on the walls y = 0 and y = H, the do-nothing outflow at x = L:

    ρ (∂u/∂t + (u·∇)u) − μ Δu + ∇p = 0,    ∇·u = 0    in Ω,      u(x, 0) = 0,
    u = (r(t) g(y), 0) at x = 0,    u = 0 on the walls,    μ ∂u/∂n − p n = 0 at x = L,

    g(y) = Ū (m + 1)/m · (1 − |2y/H − 1|^m),    m = INLET_EXPONENT = 4,    (1/H) ∫₀^H g dy = Ū.

Downstream the flow develops into plane Poiseuille flow, u = 6 Ū y (H − y)/H², ∂p/∂x = −12 μ Ū / H²
(`poiseuille`), which satisfies the do-nothing condition exactly (p = 0 and ∂u/∂x = 0 at x = L); g with
m = 2 is that parabola (`inlet_profile`, which `dam` and `cylinder` use with m = 2).

As in CFDBench, a case varies by its boundary condition (Ū), its physical properties (ρ, μ) and its
geometry (H, L); all five are sampled. The Reynolds number Re = ρ Ū H / μ (H, the channel height) lies in
[5, 90] over the sampling ranges below (extremes: ρ Ū H = 0.8·0.5·0.1 = 0.04 with μ = 8e-3, and
1.2·1.5·0.2 = 0.36 with μ = 4e-3). The entrance length of a uniform inflow, L_e ≈ 0.044 Re H (Durst et al.,
J. Fluids Eng. 127 (2005) 1154), is at most 0.044·90·0.2 = 0.8 m, within the shortest channel (1.5 m), so
every sample reaches Poiseuille flow before the outlet (the blunt inflow develops sooner than a uniform one).

Where this deviates from CFDBench (the repository luo-yining/CFDBench, `generation-code/fluent-scheme/
create_scheme.py` and `src/dataset/tube.py`): CFDBench's Fluent cases impose a uniform inflow
(`velocity-inlet` with one speed), which jumps to 0 at the walls: two corner singularities with ∇u ~ 1/r
that dominate the discrete divergence and that no mesh resolves. The blunt profile g keeps CFDBench's
plug-like start (centre-line speed 1.25 Ū, against the developed 1.5 Ū) but is continuous, zero at the
walls. CFDBench's generation script varies ρ ∈ [10, 1000] kg/m³ and μ ∈ [0.01, 1] Pa s on a 10 × 10 table around
ρ = 100, μ = 0.1, u = 1 m/s (Re = 100 with its 0.1 m tube), and the inlet speed from 0.1 to 5 m/s (Re up to
500; its dataset loader's docstring quotes narrower ranges, 0.05–0.15 m/s, ρ 900–1100, μ 0.005–0.015);
we sample every parameter uniformly and narrow the ranges so that Re stays laminar and within what the
default mesh resolves, in the units of the other families (ρ near 1). Its tube is 0.1 m wide (0.05–0.15) and
1 m long (0.5–1); ours is 0.1–0.2 m by 1.5–2 m, long enough for the developed flow to appear in every sample.

Discretisation: `NavierStokesSolver` (Taylor–Hood P2–P1, linearly implicit BDF2, MUMPS LU) on the gmsh mesh
`meshes.geometries.channel(L, H, h)`; P2 represents Poiseuille flow exactly, so the developed part of the
flow is exact up to the error carried in from the entrance region. The walls are listed first (the inlet's
end nodes take the wall value 0, which g has there anyway).

Start-up, stored fields, the grid and the per-sample diagnostics are the flow families' (`flow_family.py`):
the inflow is ramped, r(t) g(y), over `ramp_time`; the grid covers the longest and widest channel sampled.
The net boundary flux is zero to rounding: the weak incompressibility (∇·u_h, q) = 0 holds for q = 1, which
is in the P1 pressure space, so ∫_∂Ω u_h·n = ∫_Ω ∇·u_h = 0 up to the LU solve's rounding.

Cost (this machine: 2 cores shared with other jobs; one sample from rest, the solve alone): default (h = 0.02,
240 steps) 5,200–8,800 Taylor–Hood unknowns and 3.6–6.5 s for the first three samples of seed 0, 7.6k and
4–8 s at the default parameters; demo (h = 0.025, 40 steps) 3,700–5,400 unknowns, 0.6–1.0 s; large
(h = 0.01, 480 steps) about 29k unknowns at the default parameters, 130 ms a step, about a minute.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from surrolab.meshes.geometries import MeshedDomain, channel
from surrolab.solvers.fem.flow_family import FlowConfig, FlowFamily, ramp
from surrolab.solvers.fem.navier_stokes import VelocityBC
from surrolab.solvers.problem import BoundaryCondition, ParameterSpec

INLET_EXPONENT = 4
"""m of the tube's blunt inflow profile g (module docstring); m = 2 is the parabola."""


def inlet_profile(y: np.ndarray, height: float, mean_speed: float, exponent: int = 2) -> np.ndarray:
    """g(y) = Ū (m + 1)/m (1 − |2y/H − 1|^m) on [0, H]: zero at the walls, mean Ū, centre-line speed
    Ū (m + 1)/m. m = 2 is Poiseuille's parabola 6 Ū y (H − y)/H²."""
    s = np.minimum(np.abs(2.0 * np.asarray(y) / height - 1.0), 1.0)  # |2y/H − 1| ≤ 1, also at rounded walls
    return mean_speed * (exponent + 1) / exponent * (1.0 - s**exponent)


def poiseuille(y: np.ndarray, height: float, mean_speed: float, viscosity: float) -> tuple[np.ndarray, float]:
    """Plane Poiseuille flow of mean speed Ū in a channel of height H: (u(y), ∂p/∂x = −12 μ Ū / H²)."""
    return inlet_profile(y, height, mean_speed, 2), -12.0 * viscosity * mean_speed / height**2


@dataclass(frozen=True)
class TubeConfig(FlowConfig):
    """Defaults: t = 0..6 s in 61 frames (0.1 s apart, CFDBench's frame spacing), Δt = 0.025 s (240 steps).
    The start-up decays on the viscous time ρH²/(π²μ) ≤ 1.2·0.2²/(π²·4e-3) = 1.2 s and the entrance region
    fills in L_e/Ū ≤ 1.6 s, so the last frames are steady (at the default parameters the last two frames agree
    to 1e-15). h = 0.02 puts 5–10 cells across the channel; `substeps` = 4 and h allow coarsening by 2 (h = 0.04
    still meshes the narrowest channel, H = 0.1; so does the demo's h = 0.025)."""

    h: float = 0.02
    t_end: float = 6.0
    n_frames: int = 61
    substeps: int = 4
    grid_resolution: int = 128
    ramp_time: float = 0.5


class TubeProblem(FlowFamily):
    """Developing channel flow from rest (CFDBench's tube), Re = ρŪH/μ ∈ [5, 90]; module docstring."""

    name = "tube"
    description = ("Channel flow developing from a blunt inflow, from rest (CFDBench tube), varying inlet speed, "
                   "density, viscosity, height and length; Taylor-Hood P2-P1 + BDF2 on a gmsh mesh, Re 5-90.")
    parameters = (
        ParameterSpec("inlet_speed", "m/s", low=0.5, high=1.5, default=1.0, allowed_low=1e-6, allowed_high=1e3,
                      description="mean speed Ū of the inflow (boundary condition)"),
        ParameterSpec("density", "kg/m^3", low=0.8, high=1.2, default=1.0, allowed_low=1e-6, allowed_high=1e5,
                      description="density ρ (physical property)"),
        ParameterSpec("viscosity", "Pa s", low=4e-3, high=8e-3, default=5e-3, allowed_low=1e-9, allowed_high=1e3,
                      description="dynamic viscosity μ (physical property)"),
        ParameterSpec("height", "m", low=0.1, high=0.2, default=0.15, allowed_low=1e-3, allowed_high=1e3,
                      description="channel height H (geometry)"),
        ParameterSpec("length", "m", low=1.5, high=2.0, default=1.75, allowed_low=1e-3, allowed_high=1e3,
                      description="channel length L (geometry)"),
    )
    boundary_conditions = (
        BoundaryCondition(boundary="walls", kind="dirichlet", value=0.0, fields=("velocity",)),
        BoundaryCondition(boundary="inlet", kind="dirichlet", value=float("nan"), fields=("velocity",)),
        BoundaryCondition(boundary="outlet", kind="neumann", value=0.0, fields=("velocity", "pressure")),
    )  # inlet: the sample's profile g(y) of mean inlet_speed, hence NaN; outlet: do-nothing, (μ∇u − pI)n = 0
    Config = TubeConfig
    presets = {"demo": {"h": 0.025, "t_end": 2.0, "n_frames": 11, "substeps": 4, "grid_resolution": 64},
               "large": {"h": 0.01, "t_end": 6.0, "n_frames": 121, "substeps": 4, "grid_resolution": 256}}

    @staticmethod
    def reynolds(params: dict[str, float]) -> float:
        """Re = ρ Ū H / μ."""
        return params["density"] * params["inlet_speed"] * params["height"] / params["viscosity"]

    def extent(self):
        """[0, L_max] × [0, H_max], the largest channel sampled."""
        spec = {p.name: p for p in self.parameters}
        return (0.0, spec["length"].high), (0.0, spec["height"].high)

    def domain(self, config, params: dict[str, float]) -> MeshedDomain:
        return channel(params["length"], params["height"], config.h)

    def velocity_conditions(self, domain: MeshedDomain, config, params: dict[str, float]) -> tuple[VelocityBC, ...]:
        """Walls first (no slip), then the ramped blunt inflow r(t) g(y) at x = 0; the outlet is do-nothing."""
        height, speed, ramp_time = params["height"], params["inlet_speed"], config.ramp_time

        def inflow(x: np.ndarray, t: float) -> np.ndarray:
            u = ramp(t, ramp_time) * inlet_profile(x[1], height, speed, INLET_EXPONENT)
            return np.vstack([u, np.zeros(x.shape[1])])

        return VelocityBC(domain.facets("walls"), (0.0, 0.0)), VelocityBC(domain.facets("inlet"), inflow)


__all__ = ["INLET_EXPONENT", "TubeConfig", "TubeProblem", "inlet_profile", "poiseuille"]
