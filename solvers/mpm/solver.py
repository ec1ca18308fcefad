"""The MLS-MPM solver: particles of one or more materials in a box, gravity, walls and colliders.

Momentum balance ρ Dv/Dt = ∇·σ + ρ g on the particles' material, discretised by the moving least squares
material point method (Hu et al., SIGGRAPH 2018) with APIC transfers (Jiang et al. 2015) and quadratic
B-splines: one step is stress (material slot) → P2G → grid update (gravity, walls, colliders) → G2P →
plastic projection (material slot); see `kernels.py` for the equations. Explicit in time, first order;
stable for Δt ≤ CFL_LIMIT·Δx/(c + |v|max), c the fastest wave speed of the materials (and, with a viscous
material, Δt ≤ ρ Δx²/(2 d η)). `stable_dt` gives the bound and a run with a larger Δt fails before it
starts.

`step` is pure in the warp sense: it reads a `ParticleState` and returns a new one; with
`requires_grad=True` every step allocates its own arrays, so a `wp.Tape` records a rollout and gives
gradients with respect to the initial state and to each material's parameter array (`law_parameters`).
Without it, `rollout` reuses two states and one grid (ping-pong), which is what data generation runs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import warp as wp

from surrolab.errors import SurrolabError, check_positive_int, check_positive_number, check_range
from surrolab.solvers.mpm.colliders import Collider
from surrolab.solvers.mpm.kernels import WALL_CELLS, WALL_MODES, transfer_kernels
from surrolab.solvers.mpm.materials import Material
from surrolab.solvers.mpm.parallel import Launcher

CFL_LIMIT = 0.5  # Δt·(c + |v|)/Δx above this is refused (explicit MPM is unstable near 1)


@dataclass(frozen=True)
class MPMConfig:
    """Numerical settings: the box [0, domain_size]^dim on n_grid cells per side, gravity along −y."""

    dim: int = 2
    n_grid: int = 64
    domain_size: float = 1.0  # m
    gravity: float = 9.81  # m/s², along −y
    walls: str = "slip"  # "sticky", "slip" or "none" on every face of the box
    wall_friction: float = 0.0  # Coulomb coefficient μ of "slip" walls (0: frictionless)
    device: str = "cpu"

    def __post_init__(self):
        if self.dim not in (2, 3):
            raise SurrolabError(f"dim={self.dim!r} is not allowed; choose 2 or 3")
        check_positive_int("n_grid", self.n_grid, minimum=2 * WALL_CELLS + 2)
        check_positive_number("domain_size", self.domain_size)
        check_range("gravity", self.gravity, -math.inf, math.inf)
        if self.walls not in WALL_MODES:
            raise SurrolabError(f"walls={self.walls!r} is not allowed; choose one of {sorted(WALL_MODES)}")
        check_range("wall_friction", self.wall_friction, 0.0, math.inf)

    @property
    def dx(self) -> float:
        return self.domain_size / self.n_grid

    @property
    def n_nodes(self) -> int:
        return (self.n_grid + 1) ** self.dim


def stable_time_step(materials: Sequence[Material], config: MPMConfig, max_speed: float) -> float:
    """Δt ≤ CFL_LIMIT·Δx/(c + max_speed), c the fastest wave speed of `materials`, and with an explicitly
    viscous material (water) Δt ≤ ρ Δx²/(2 d η) (goop's viscosity enters through an implicit relaxation)."""
    c = max(m.wave_speed() for m in materials)
    dt = CFL_LIMIT * config.dx / (c + max_speed)
    for m in materials:
        if m.name == "water" and m.viscosity > 0:
            dt = min(dt, m.density * config.dx**2 / (2 * config.dim * m.viscosity))
    return dt


def speed_bound(config: MPMConfig, colliders: Sequence[Collider], velocities: np.ndarray) -> float:
    """A bound on particle speeds over a run: the initial maximum, plus free fall across the box, plus the
    fastest collider surface."""
    v0 = float(np.max(np.linalg.norm(velocities, axis=1))) if len(velocities) else 0.0
    fall = math.sqrt(2 * abs(config.gravity) * config.domain_size)
    body = max((np.linalg.norm(c.velocity) + np.linalg.norm(c.angular_velocity) * config.domain_size
                for c in colliders), default=0.0)
    return v0 + fall + body


@dataclass
class ParticleState:
    """What changes each step, per particle: position x, velocity v, APIC affine matrix C (the velocity
    gradient), deformation gradient F. Warp arrays of length N."""

    x: wp.array
    v: wp.array
    C: wp.array
    F: wp.array

    def numpy(self) -> dict[str, np.ndarray]:
        return {"x": self.x.numpy(), "v": self.v.numpy(), "C": self.C.numpy(), "F": self.F.numpy()}


@dataclass
class MPMSolver:
    """MLS-MPM for a fixed set of particles: `material_id[p]` indexes `materials`, `volume[p]` is the
    particle's initial volume (m^d); its mass is density × volume. `colliders` are applied after the walls.
    """

    config: MPMConfig
    materials: Sequence[Material]
    material_id: np.ndarray
    volume: np.ndarray
    colliders: Sequence[Collider] = ()
    requires_grad: bool = False
    launcher: Launcher = field(default_factory=Launcher)  # serial; parallel.ChunkedLauncher(n) uses n CPU cores
    law_parameters: list = field(init=False)  # one warp array per material: the slot's parameters

    def __post_init__(self):
        self.materials = tuple(self.materials)
        if not self.materials:
            raise SurrolabError("materials: at least one material is needed")
        self.material_id = np.asarray(self.material_id, dtype=np.int32)
        self.volume = np.broadcast_to(np.asarray(self.volume, dtype=np.float64), self.material_id.shape).copy()
        if self.material_id.ndim != 1 or not len(self.material_id):
            raise SurrolabError(f"material_id must be a non-empty 1D array, got shape {self.material_id.shape}")
        if self.material_id.min() < 0 or self.material_id.max() >= len(self.materials):
            raise SurrolabError(f"material_id values must lie in [0, {len(self.materials)}) (one per material)")
        if not np.all(self.volume > 0):
            raise SurrolabError("volume: every particle volume must be positive")
        device = self.config.device
        density = np.array([m.density for m in self.materials])[self.material_id]
        self.mass_np = density * self.volume
        self.mass = wp.array(self.mass_np, dtype=float, device=device)
        self.volume_wp = wp.array(self.volume, dtype=float, device=device)
        self.indices = [wp.array(np.flatnonzero(self.material_id == k).astype(np.int32), dtype=int, device=device)
                        for k in range(len(self.materials))]
        self.law_parameters = [wp.array(m.law_parameters(), dtype=float, device=device,
                                        requires_grad=self.requires_grad) for m in self.materials]
        self.kernels = transfer_kernels(self.config.dim)
        n = self.config.n_grid + 1
        self.dims = wp.vec3i(n, n, n if self.config.dim == 3 else 1)
        self._scratch = None

    @property
    def n_particles(self) -> int:
        return len(self.material_id)

    # -- stability -----------------------------------------------------------------------------------
    def stable_dt(self, max_speed: float) -> float:
        """The largest stable Δt for particle speeds up to `max_speed` (m/s): `stable_time_step`."""
        return stable_time_step(self.materials, self.config, max_speed)

    def speed_bound(self, velocities: np.ndarray) -> float:
        """A bound on particle speeds over a run from these initial velocities: `speed_bound`."""
        return speed_bound(self.config, self.colliders, velocities)

    def check_dt(self, dt: float, velocities: np.ndarray) -> None:
        """Fail before the run if Δt exceeds the stability bound."""
        check_positive_number("dt", dt)
        bound = self.stable_dt(self.speed_bound(velocities))
        if dt > bound:
            raise SurrolabError(f"dt={dt:.3g} s is above the stability bound {bound:.3g} s (CFL {CFL_LIMIT} with "
                                f"wave speed {max(m.wave_speed() for m in self.materials):.3g} m/s, Δx "
                                f"{self.config.dx:.3g} m); use a smaller dt or more substeps")

    # -- state -----------------------------------------------------------------------------------------
    def _zeros(self, n: int, dtype):
        return wp.zeros(n, dtype=dtype, device=self.config.device, requires_grad=self.requires_grad)

    def _empty_state(self) -> ParticleState:
        k, n = self.kernels, self.n_particles
        return ParticleState(self._zeros(n, k.vec), self._zeros(n, k.vec), self._zeros(n, k.mat), self._zeros(n, k.mat))

    def initial_state(self, positions: np.ndarray, velocities: np.ndarray) -> ParticleState:
        """Particles at rest shape: C = 0, F = I. Positions must keep one cell away from the box's faces."""
        d, n = self.config.dim, self.n_particles
        positions = np.asarray(positions, dtype=np.float32)
        velocities = np.asarray(velocities, dtype=np.float32)
        for name, arr in (("positions", positions), ("velocities", velocities)):
            if arr.shape != (n, d):
                raise SurrolabError(f"{name} have shape {arr.shape}, expected ({n}, {d})")
            if not np.all(np.isfinite(arr)):
                raise SurrolabError(f"{name} must be finite")
        margin = self.config.dx
        if positions.min() < margin or positions.max() > self.config.domain_size - margin:
            raise SurrolabError(f"positions must lie in [{margin:.3g}, {self.config.domain_size - margin:.3g}] "
                                "(one cell inside the box)")
        device, grad = self.config.device, self.requires_grad
        return ParticleState(
            wp.array(positions, dtype=self.kernels.vec, device=device, requires_grad=grad),
            wp.array(velocities, dtype=self.kernels.vec, device=device, requires_grad=grad),
            self._zeros(n, self.kernels.mat),
            wp.array(np.tile(np.eye(d, dtype=np.float32), (n, 1, 1)), dtype=self.kernels.mat, device=device,
                     requires_grad=grad),
        )

    # -- the step ----------------------------------------------------------------------------------------
    def kirchhoff_stress(self, state: ParticleState, out=None):
        """τ of every particle, from its material (the slot)."""
        tau = out if out is not None else self._zeros(self.n_particles, self.kernels.mat)
        for material, indices, params in zip(self.materials, self.indices, self.law_parameters):
            self.launcher.map(lambda chunk: material.stress(self.config.dim, state.F, state.C, chunk, params, tau),
                              indices)
        return tau

    def _buffers(self):
        """τ, grid momentum, grid mass, grid velocities (one per collider and one more) and F_trial: reused
        between steps unless `requires_grad` (a tape needs every step's arrays)."""
        cfg, k = self.config, self.kernels
        if self._scratch is not None and not self.requires_grad:
            tau, grid_momentum, grid_mass, velocities, F_trial = self._scratch
            grid_momentum.zero_()
            grid_mass.zero_()
            return self._scratch
        buffers = (self._zeros(self.n_particles, k.mat), self._zeros(cfg.n_nodes, k.vec), self._zeros(cfg.n_nodes, float),
                   [self._zeros(cfg.n_nodes, k.vec) for _ in range(1 + len(self.colliders))],
                   self._zeros(self.n_particles, k.mat))
        if not self.requires_grad:
            self._scratch = buffers
        return buffers

    def step(self, state: ParticleState, dt: float, t: float = 0.0, out: ParticleState | None = None) -> ParticleState:
        """Advance `state` by `dt` (time t at the start of the step, for moving colliders) into `out` (a new
        state if None). Nothing in `state` is modified."""
        cfg = self.config
        tau, grid_momentum, grid_mass, velocities, F_trial = self._buffers()
        out = out if out is not None else self._empty_state()
        # one material covers particles 0..N−1 in order (indices = arange(N)), so its stress and return mapping
        # run in the same chunk, thread and phase as P2G and G2P on those particles (no barrier between)
        single, launcher = len(self.materials) == 1, self.launcher
        material, indices, params = self.materials[0], self.indices[0], self.law_parameters[0]
        if single:
            before = lambda lo, hi: material.stress(cfg.dim, state.F, state.C, launcher.view(indices, lo, hi),  # noqa: E731
                                                    params, tau)
            after = lambda lo, hi: material.project(cfg.dim, F_trial, launcher.view(indices, lo, hi), params, dt,  # noqa: E731
                                                    out.F)
        else:
            self.kirchhoff_stress(state, tau)
            before = after = None
        self._transfer(state, tau, dt, t, (grid_momentum, grid_mass, velocities), (out.x, out.v, out.C, F_trial),
                       before, after)
        if not single:
            for material, indices, params in zip(self.materials, self.indices, self.law_parameters):
                launcher.map(lambda chunk: material.project(cfg.dim, F_trial, chunk, params, dt, out.F), indices)
        return out

    def transfer(self, state: ParticleState, tau: wp.array, dt: float, t: float = 0.0) -> ParticleState:
        """The material-independent part of a step for given Kirchhoff stresses τ: P2G, grid update (gravity,
        walls, colliders) and G2P. Returns new arrays (x, v, C, F_trial) as a ParticleState whose F is the
        trial gradient (I + Δt C)F, before any return mapping. A law computed outside warp (NCLaw's networks)
        wraps this between its stress and its projection."""
        _, grid_momentum, grid_mass, velocities, _ = self._buffers()
        out = self._empty_state()
        self._transfer(state, tau, dt, t, (grid_momentum, grid_mass, velocities), (out.x, out.v, out.C, out.F))
        return out

    def _transfer(self, state, tau, dt, t, grid, outputs, before=None, after=None) -> None:
        cfg, k, launcher = self.config, self.kernels, self.launcher
        grid_momentum, grid_mass, velocities = grid
        launcher.launch(k.p2g, self.n_particles, device=cfg.device,
                        inputs=[state.x, state.v, state.C, tau, self.mass, self.volume_wp, dt, cfg.dx, self.dims],
                        outputs=[grid_momentum, grid_mass], accumulate=(grid_momentum, grid_mass), before=before)
        gravity = k.vec()
        gravity[1] = -cfg.gravity
        wp.launch(k.grid_update, dim=cfg.n_nodes, device=cfg.device,
                  inputs=[grid_momentum, grid_mass, gravity, dt, self.dims, WALL_MODES[cfg.walls], cfg.wall_friction],
                  outputs=[velocities[0]])
        for j, collider in enumerate(self.colliders):
            collider.apply(cfg.dim, velocities[j], grid_mass, self.dims, cfg.dx, t + dt, velocities[j + 1])
        launcher.launch(k.g2p, self.n_particles, device=cfg.device,
                        inputs=[state.x, state.F, velocities[-1], dt, cfg.dx, self.dims],
                        outputs=list(outputs), shared=(velocities[-1],), after=after)

    def rollout(self, state: ParticleState, dt: float, n_steps: int, t0: float = 0.0) -> ParticleState:
        """`n_steps` steps from `state` (not modified); returns the final state. Ping-pongs two states unless
        `requires_grad`, when every step's state is kept for the tape."""
        check_positive_int("n_steps", n_steps, minimum=0)
        if self.requires_grad:
            for s in range(n_steps):
                state = self.step(state, dt, t0 + s * dt)
            return state
        a, b = self._empty_state(), self._empty_state()
        current = state
        for s in range(n_steps):
            target = a if current is not a else b
            current = self.step(current, dt, t0 + s * dt, out=target)
        return current

    # -- diagnostics ------------------------------------------------------------------------------------------
    def momentum(self, state: ParticleState) -> tuple[np.ndarray, np.ndarray]:
        """Total linear momentum Σ m v and angular momentum about the origin, APIC's including each particle's
        affine spin: L = Σ m [x × v + (Δx²/4) ε:Cᵀ] (Jiang et al. 2015, §5.3; D = Δx²/4 I for quadratic
        B-splines). 2D: L is a scalar (z component)."""
        m = self.mass_np[:, None]
        x, v, C = state.x.numpy().astype(np.float64), state.v.numpy().astype(np.float64), state.C.numpy().astype(np.float64)
        D = self.config.dx**2 / 4
        linear = (m * v).sum(axis=0)
        if self.config.dim == 2:
            spin = D * (C[:, 1, 0] - C[:, 0, 1])
            angular = (self.mass_np * (x[:, 0] * v[:, 1] - x[:, 1] * v[:, 0] + spin)).sum()
        else:
            spin = D * np.stack([C[:, 2, 1] - C[:, 1, 2], C[:, 0, 2] - C[:, 2, 0], C[:, 1, 0] - C[:, 0, 1]], axis=1)
            angular = (m * (np.cross(x, v) + spin)).sum(axis=0)
        return linear, np.asarray(angular)
