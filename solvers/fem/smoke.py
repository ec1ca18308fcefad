"""`smoke`: buoyancy-driven flow in a closed box fed by random smoke sources, the shape of PDEArena's 2D
Navier–Stokes smoke set (Gupta & Brandstetter, "Towards Multi-spatiotemporal-scale Generalized PDE Modeling",
2022, arXiv:2209.15616; its conditioned variant is the data SineNet is evaluated on), as a flow family
(`flow_family.py`).

Per sample, from rest and without smoke, in the box Ω = (0, L)², L = 32 m:

    ∂u/∂t + (u·∇)u − ν Δu + ∇p/ρ = β c ê,      ∇·u = 0,
    ∂c/∂t + u·∇c − κ Δc = s(x) = r Σ_{k=1,2} exp(−|x − x_k|² / a²),
    u = 0 and κ ∂c/∂n = 0 on ∂Ω,       u(x, 0) = 0,  c(x, 0) = 0,

with ê = (0, 1) up: the smoke rises in two plumes, hits the lid and spreads into a stratified layer. The
sampled parameters are the buoyancy β (first, so the held-out split takes its top 20 %), the two source
centres x_k, their common radius a and rate r. The solver is `BoussinesqSolver` (Taylor–Hood P2–P1 with
linearly implicit BDF2 for the flow, P1 + SUPG + BDF2 for the smoke, buoyancy from the extrapolated smoke:
second order in time; see `boussinesq.py`) on the gmsh mesh `meshes.geometries.box(L, L, h)`.

What follows PDEArena (pdearena/pdearena, `pdedatagen/navier_stokes.py`, `configs/navierstokes2dsmoke.yaml`,
`scripts/generate_data.py`, experiment `smoke_cond`): the closed 32 × 32 box with walls where the velocity
vanishes and the smoke has no flux, a buoyancy (0, β) per unit of smoke with β drawn uniformly from
[0.2, 0.5] per sample, ρ = 1, a flow from rest, and the horizon: PDEArena makes 64 steps of Δt = 1.5 s
(t_end = 96 s) and stores 56 frames 1.5 s apart after the first 8 steps; we store every 1.5 s from t = 0
(65 frames) with 8 solver steps between frames, Δt = 0.1875 s.

Where we deviate, and why:
* Smoke enters through two random Gaussian sources from t = 0 instead of PDEArena's random initial smoke
  (the absolute value of a phiflow `Noise` field) with no inflow: the issue asks for random smoke sources,
  and sources give per-sample parameters that can be recorded and held out (a noise field cannot). The
  source centres lie in the lower part of the box, x ∈ [6, 26] m (at least 2.4 radii from the side walls),
  y ∈ [3, 10] m; radius a ∈ [1.5, 2.5] m, peak rate r ∈ [0.05, 0.2] 1/s (so c stays O(1), as PDEArena's).
* Viscosity ν = 0.1 m²/s (PDEArena: 0.01) and smoke diffusivity κ = 0.04 m²/s (PDEArena: none). PDEArena's
  semi-Lagrangian advection (phiflow, Δt = 1.5 s on Δx = 0.25 m: Courant numbers of several units at
  |u| ~ 1 m/s) diffuses numerically far more than ν = 0.01 does, and it has no explicit smoke diffusion; a
  Galerkin discretisation adds no such diffusion, so ν and κ themselves must be large enough for the mesh to
  resolve the plumes. Measured, h = 1 m against h = 0.5 m (`large`) over the horizon: with a draft's
  r = 0.2 1/s, ν = 0.05 (κ = 0.02) gave velocity differences of 7–67 % and ‖∇·u_h‖/‖∇u_h‖ up to 0.59 at
  h = 1 m, ν = 0.1 gave 5–27 % and 0.033; at the final defaults (r = 0.1 1/s, ν = 0.1) they differ by 4–11 %
  (smoke 4–13 %) and the ratio stays below 0.025 (0.006 in `large`). κ > 0 makes the no-flux condition and
  the smoke's smoothness well posed; the mesh Péclet number |u|h/(2κ) ~ 25 is why the smoke carries SUPG.
* The plumes are unstable at the top of the ranges (Re ~ 500): there h = 1 m agrees with `large` to 5–20 %
  up to t ≈ 36 s, after which the two decorrelate (a chaotic flow: the difference passes 100 % by t = 72 s
  while both keep ‖∇·u_h‖/‖∇u_h‖ at 0.04 and 0.012), so use `large` when the late frames of strong samples
  matter. Not a Galerkin artefact of under-resolution, as far as measured: every default sample passes the
  flow's cell Reynolds limit (13–32), so `stabilization=auto` runs it with SUPG/grad-div, and on seed 0's
  first sample (Re 404) that changes the velocity by at most 0.6 % and the smoke by 0.6 % over the 96 s
  against `stabilization=none`. Δt: with twice the default, 0.375 s, one sample in six (seed 0, sample 0,
  Re 404) grew a grid-scale oscillation at a sharp smoke front after t ≈ 50 s (‖∇·u_h‖/‖∇u_h‖ 0.55, all of it from one
  patch of cells; at 0.1875 s 0.036) and the Re 500 corner reached 0.38 (0.043), so the default keeps
  |u|Δt/h ≲ 0.5; halving Δt once more changes a default run by less than 1.3 % (smoke) and 0.8 % (velocity).
* The fields are stored at the mesh vertices and interpolated onto a 129² grid of nodes (grid_resolution 4
  cells per metre: 128 cells a side, PDEArena's resolution).

Reynolds number (`reynolds`): the velocity of a plume from a source of buoyancy flux B = β Q, Q = ∫s the
smoke injected per unit time (a 2D point source, i.e. a line plume: U ~ B^(1/3), independent of height),
with the box size as the length: Re = (β Q)^(1/3) L / ν; 170–500 over the sampling ranges, 307 at the
defaults, where the flow reaches |u| ≈ 1.5–1.8 m/s.

Cost (2 shared cores, serial, one sample; `surrolab generate smoke`): the default (h = 1 m, 512 steps of
0.1875 s; 2.4k cells, 12.4k unknowns: 11.1k Taylor–Hood plus 1.3k smoke, and the buoyancy split's 4.9k P2)
about 23 s; `demo` (h = 2 m, Δt = 0.375 s, t_end = 24 s, 17 frames, 65² grid; 3.2k unknowns) about 0.7 s;
`large` (h = 0.5 m, the same Δt, 48k unknowns) about 130 s.

Diagnostics per sample: the flow families' (`relative_divergence`, `boundary_mass_flux`, `n_dofs` including
the smoke's, `n_time_steps`, `reynolds`, `cell_reynolds`, `stabilized`) plus the smoke's largest cell Péclet
number `cell_peclet` = max |u|h/κ (33–80 at the defaults, hence SUPG on the smoke; `scalar_stabilization=none`
past 2 makes generation warn) and the smoke's balance, `smoke_mass_balance`, the largest over the
frames of |∫c(t) − ∫c(0) − t∫s| / (t_end∫s) (zero up to the linear solvers' rounding, ~1e-13: the P1 smoke
is conserved exactly by the scheme, `boussinesq.py`, and integrals of P1 vertex values are exact),
`smoke_injected` = t_end∫s, and `smoke_undershoot` = −min(c, 0) / max c, SUPG's dip below zero (0.07–0.14 at
the default mesh, ~0.015 in `large`).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import dolfinx_solver  # noqa: F401  (must be imported before dolfinx)
import dolfinx
import numpy as np

from surrolab.errors import SurrolabError, check_positive_number
from surrolab.meshes.geometries import MeshedDomain, box
from surrolab.solvers.fem.boussinesq import STABILIZATIONS as SCALAR_STABILIZATIONS
from surrolab.solvers.fem.boussinesq import BoussinesqSolver, BoussinesqState
from surrolab.solvers.fem.flow_family import PRESSURE, VELOCITY, FlowConfig, FlowFamily, vertex_dofs
from surrolab.solvers.fem.navier_stokes import VelocityBC
from surrolab.solvers.problem import BoundaryCondition, ParameterSpec
from surrolab.solvers.trajectory import FieldSpec, Trajectory

SIZE = 32.0  # m, the side of PDEArena's box
N_SOURCES = 2
SMOKE = FieldSpec("smoke", "1", order=0, description="smoke concentration c (P1), dimensionless")


@dataclass(frozen=True)
class SmokeConfig(FlowConfig):
    """Defaults: t = 0..96 s in 65 frames 1.5 s apart (PDEArena's horizon and frame spacing), 8 steps per
    frame (Δt = 0.1875 s), h = 1 m, grid of 4 cells per metre (128 per side, PDEArena's resolution);
    ν and κ (m²/s) are the dataset's, not sampled (module docstring for their values). No boundary is
    driven, so there is no start-up ramp. `substeps` = 8 and h allow coarsening by 2, 4 and 8.
    """

    h: float = 1.0
    t_end: float = 96.0
    n_frames: int = 65
    substeps: int = 8
    grid_resolution: int = 4
    ramp_time: float = 0.0
    viscosity: float = 0.1
    diffusivity: float = 0.04
    scalar_stabilization: str = "supg"

    def __post_init__(self):
        super().__post_init__()
        check_positive_number("viscosity", self.viscosity)
        check_positive_number("diffusivity", self.diffusivity)
        if self.scalar_stabilization not in SCALAR_STABILIZATIONS:
            raise SurrolabError(f"scalar_stabilization={self.scalar_stabilization!r} is not allowed; choose one of "
                                f"{', '.join(SCALAR_STABILIZATIONS)}")


def _source_parameters() -> tuple[ParameterSpec, ...]:
    specs = []
    for k in range(1, N_SOURCES + 1):
        specs += [ParameterSpec(f"source_{k}_x", "m", low=6.0, high=26.0, default=10.0 + 12.0 * (k - 1),
                                allowed_low=0.0, allowed_high=SIZE, description=f"x of smoke source {k}'s centre"),
                  ParameterSpec(f"source_{k}_y", "m", low=3.0, high=10.0, default=6.0, allowed_low=0.0,
                                allowed_high=SIZE, description=f"y of smoke source {k}'s centre")]
    return tuple(specs)


def source_density(points: np.ndarray, params: dict[str, float]) -> np.ndarray:
    """s(x) = r Σ_k exp(−|x − x_k|² / a²) (1/s) at points (N, ≥2) -> (N,)."""
    x, y = points[:, 0], points[:, 1]
    radius, rate = params["source_radius"], params["source_rate"]
    total = np.zeros(len(points))
    for k in range(1, N_SOURCES + 1):
        total += np.exp(-((x - params[f"source_{k}_x"]) ** 2 + (y - params[f"source_{k}_y"]) ** 2) / radius**2)
    return rate * total


class SmokeProblem(FlowFamily):
    """Buoyant smoke plumes from two random sources in a closed 32 m box (PDEArena's smoke); module docstring."""

    name = "smoke"
    description = ("Buoyancy-driven smoke in a closed 32 m box (PDEArena's Navier-Stokes smoke set), two random "
                   "smoke sources, buoyancy 0.2-0.5; Boussinesq: Taylor-Hood P2-P1 + P1/SUPG smoke, BDF2.")
    fields = (VELOCITY, PRESSURE, SMOKE)
    order_in_space = BoussinesqSolver.order_in_space  # velocity, pressure, smoke (L2), as `fields`
    order_in_time = BoussinesqSolver.order_in_time
    parameters = (
        ParameterSpec("buoyancy", "m/s^2", low=0.2, high=0.5, default=0.35, allowed_low=0.0, allowed_high=10.0,
                      description="buoyancy β: upward acceleration per unit smoke (PDEArena's buoyancy_y)"),
        *_source_parameters(),
        ParameterSpec("source_radius", "m", low=1.5, high=2.5, default=2.0, allowed_low=0.1, allowed_high=SIZE / 2,
                      description="radius a of the Gaussian smoke sources exp(-|x - x_k|^2 / a^2)"),
        ParameterSpec("source_rate", "1/s", low=0.05, high=0.2, default=0.1, allowed_low=0.0, allowed_high=100.0,
                      description="peak rate r of smoke injection at a source's centre"),
    )
    boundary_conditions = (
        BoundaryCondition(boundary="walls", kind="dirichlet", value=0.0, fields=("velocity",)),
        BoundaryCondition(boundary="walls", kind="neumann", value=0.0, fields=("smoke",)),
    )
    Config = SmokeConfig
    presets = {"demo": {"h": 2.0, "t_end": 24.0, "n_frames": 17, "substeps": 4, "grid_resolution": 2},
               "large": {"h": 0.5, "t_end": 96.0, "n_frames": 65, "substeps": 8, "grid_resolution": 4}}

    @staticmethod
    def reynolds(params: dict[str, float], viscosity: float = SmokeConfig.viscosity) -> float:
        """Re = (β Q)^(1/3) L / ν, Q = r π a² N_sources, the smoke injected per unit time by sources clear
        of the walls (module docstring)."""
        injection = params["source_rate"] * math.pi * params["source_radius"] ** 2 * N_SOURCES
        return (params["buoyancy"] * injection) ** (1.0 / 3.0) * SIZE / viscosity

    def extent(self):
        return (0.0, SIZE), (0.0, SIZE)

    def domain(self, config, params: dict[str, float]) -> MeshedDomain:
        return box(SIZE, SIZE, config.h)

    def velocity_conditions(self, domain: MeshedDomain, config, params: dict[str, float]) -> tuple[VelocityBC, ...]:
        return (VelocityBC(domain.facets("walls"), (0.0, 0.0)),)

    def make_solver(self, domain: MeshedDomain, config, params: dict[str, float]) -> BoussinesqSolver:
        source = dolfinx.fem.Function(dolfinx.fem.functionspace(domain.mesh, ("Lagrange", 1)))
        source.interpolate(lambda x: source_density(x.T, params))  # P1: its vertex values are its dofs
        return BoussinesqSolver(domain.mesh, self.velocity_conditions(domain, config, params),
                                viscosity=config.viscosity, diffusivity=config.diffusivity,
                                buoyancy=params["buoyancy"], dt=config.dt, source=lambda x, t: source,
                                stabilization=config.scalar_stabilization, flow_stabilization=config.stabilization)

    def cell_numbers(self, solver: BoussinesqSolver, state: BoussinesqState) -> dict[str, float]:
        """The flow's cell Reynolds number and the smoke's cell Péclet number max_K |u|_K h_K / κ."""
        return {**super().cell_numbers(solver, state), "cell_peclet": solver.cell_peclet(state)}

    def resolution_warning(self, config, diagnostics: dict[str, float]) -> str | None:
        """The flow's warning, or the smoke's: Galerkin P1 (`scalar_stabilization=none`) oscillates once
        |u|h/κ > 2 (a mesh Péclet number |u|h/(2κ) > 1)."""
        flow = super().resolution_warning(config, diagnostics)
        peclet = diagnostics.get("cell_peclet", 0.0)
        if flow is None and config.scalar_stabilization == "none" and peclet > 2.0:
            return (f"cell Péclet number {peclet:.3g} of the smoke exceeds 2, beyond which Galerkin P1 "
                    f"(scalar_stabilization=none) oscillates; refine h or use scalar_stabilization=supg")
        return flow

    def vertex_sampler(self, solver: BoussinesqSolver) -> Callable[[BoussinesqState], dict[str, np.ndarray]]:
        """state -> velocity (N, 2), pressure (N,), smoke (N,) at the geometry nodes (copied dofs)."""
        flow = super().vertex_sampler(solver)
        smoke_at = vertex_dofs(solver.scalar_space)
        return lambda state: {**flow(state), "smoke": state.scalar[smoke_at]}

    def extra_diagnostics(self, config, params: dict[str, float], trajectory: Trajectory) -> dict[str, float]:
        """The smoke's balance from the stored P1 vertex values (module docstring), its SUPG undershoot, and
        the Reynolds number with this config's viscosity."""
        mesh = trajectory.geometry
        weights = mesh.lumped_mass()  # ∫c_h = weights · (vertex values), exactly for P1
        smoke = trajectory.fields["smoke"]  # (T, N)
        mass = smoke @ weights  # (T,)
        rate = float(weights @ source_density(mesh.points, params))
        injected = rate * config.t_end
        scale = max(injected, abs(mass[0]), np.finfo(float).tiny)
        balance = float(np.max(np.abs(mass - mass[0] - rate * trajectory.times))) / scale
        undershoot = -min(float(smoke.min()), 0.0) / max(float(smoke.max()), np.finfo(float).tiny)
        return {"reynolds": self.reynolds(params, config.viscosity), "smoke_mass_balance": balance,
                "smoke_injected": injected, "smoke_undershoot": undershoot}


__all__ = ["SMOKE", "SmokeConfig", "SmokeProblem", "source_density"]
