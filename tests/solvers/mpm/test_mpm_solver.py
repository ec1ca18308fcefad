"""The MLS-MPM step: mass, momentum and angular momentum conservation, tape gradients against finite
differences, and bad input failing before the run (issue 5)."""
import numpy as np
import pytest
import warp as wp

from surrolab.errors import SurrolabError
from surrolab.solvers.mpm.materials import MATERIALS, FixedCorotated, make_material
from surrolab.solvers.mpm.shapes import lattice
from surrolab.solvers.mpm.solver import MPMConfig, MPMSolver

wp.config.quiet = True


def block(dim, n_grid=32, lower=0.4, upper=0.6, jitter=0.0, seed=0):
    cfg = MPMConfig(dim=dim, n_grid=n_grid, gravity=0.0, walls="none")
    h = cfg.dx / 2
    points = lattice(np.full(dim, lower), np.full(dim, upper), h)
    points += np.random.default_rng(seed).uniform(-jitter, jitter, points.shape) * h
    return cfg, points, h**dim


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("law", sorted(MATERIALS))
def test_momentum_and_angular_momentum_are_conserved_without_gravity_and_walls(dim, law):
    # APIC transfers conserve linear and angular momentum (Jiang et al. 2015) and the stresses of every law
    # are symmetric, so with no external force both totals stay at round-off over hundreds of steps.
    cfg, points, volume = block(dim, n_grid=16 if dim == 3 else 32, jitter=0.3)
    rng = np.random.default_rng(1)
    solver = MPMSolver(cfg, [MATERIALS[law]()], np.zeros(len(points)), volume)
    r = points - points.mean(axis=0)
    spin = np.stack([-r[:, 1], r[:, 0]], 1) * 6.0 if dim == 2 else np.cross([2.0, 3.0, 5.0], r)
    velocities = 0.3 * rng.normal(size=points.shape) + spin
    state = solver.initial_state(points, velocities)
    linear0, angular0 = solver.momentum(state)
    dt = 0.3 * solver.stable_dt(solver.speed_bound(velocities))
    final = solver.rollout(state, dt, int(np.ceil(0.1 / dt)))  # 0.1 s
    linear1, angular1 = solver.momentum(final)
    scale = (solver.mass_np[:, None] * np.abs(velocities)).sum()
    assert np.abs(linear1 - linear0).max() < 1e-5 * scale
    assert np.abs(angular1 - angular0).max() < 2e-5 * np.abs(angular0).max()
    # and the particles did move, and stresses changed their velocities: the check is not trivially satisfied
    assert np.abs(final.x.numpy() - points).max() > 0.5 * cfg.dx
    assert np.abs(final.v.numpy() - velocities).max() > 0.01


@pytest.mark.parametrize("dim", [2, 3])
def test_mass_is_exact_on_the_grid(dim):
    # P2G spreads each particle's mass with B-spline weights that sum to one: the grid holds exactly the
    # particles' mass (to float32 round-off) wherever they are, and the particle masses never change.
    cfg, points, volume = block(dim, n_grid=16, jitter=0.5)
    solver = MPMSolver(cfg, [FixedCorotated()], np.zeros(len(points)), volume)
    state = solver.initial_state(points, np.random.default_rng(2).normal(size=points.shape))
    for _ in range(3):
        state = solver.step(state, 1e-4)
        grid_mass = solver._scratch[2].numpy()
        assert grid_mass.sum() == pytest.approx(solver.mass_np.sum(), rel=1e-6)
        assert grid_mass.min() >= 0.0
    assert solver.mass_np == pytest.approx(1e3 * volume)


@wp.kernel
def _weighted_displacement(x: wp.array(dtype=wp.vec2), x0: wp.array(dtype=wp.vec2), w: wp.array(dtype=wp.vec2),
                           loss: wp.array(dtype=float)):
    p = wp.tid()
    wp.atomic_add(loss, 0, wp.dot(x[p] - x0[p], w[p]))


GRADIENT_CASES = [  # (law, its parameters, index of the parameter checked): soft enough that 40 steps deform it
    ("jelly", dict(youngs_modulus=1e4, poisson_ratio=0.3), 0),
    ("plasticine", dict(youngs_modulus=1e4, poisson_ratio=0.3, yield_stress=100.0), 2),  # most particles yield
    ("water", dict(bulk_modulus=1e4, viscosity=1.0), 0),
    ("goop", dict(youngs_modulus=1e4, poisson_ratio=0.3, yield_stress=300.0, viscosity=1.0), 0),
]


class SpinningBlock:
    """loss = Σ_p w_p · (x_p(T) − x_p(0)) after 40 steps of a spinning, sheared block under gravity between
    slip walls, random weights w: by finite differences (summed in float64 on the host) or on a warp tape."""

    def __init__(self, material):
        self.cfg = MPMConfig(dim=2, n_grid=16, gravity=9.8, walls="slip")
        self.h = self.cfg.dx / 2
        self.points = lattice(np.full(2, 0.3), np.full(2, 0.7), self.h)
        self.velocities = 4 * np.stack([self.points[:, 1] - 0.5, -0.5 * (self.points[:, 0] - 0.5)], 1)
        self.weights = np.random.default_rng(0).normal(size=self.points.shape)
        self.material = material

    def _solver(self, law_parameters=None, requires_grad=False):
        solver = MPMSolver(self.cfg, [self.material], np.zeros(len(self.points)), self.h**2,
                           requires_grad=requires_grad)
        if law_parameters is not None:
            solver.law_parameters[0] = wp.array(law_parameters, dtype=float)
        return solver

    def loss(self, law_parameters=None, points=None, velocities=None) -> float:
        solver = self._solver(law_parameters)
        state = solver.initial_state(self.points if points is None else points,
                                     self.velocities if velocities is None else velocities)
        final = solver.rollout(state, 1e-3, 40)
        return float(((final.x.numpy().astype(np.float64) - self.points) * self.weights).sum())

    def gradients(self):
        """(solver, initial state) after the tape's backward pass: their arrays carry the gradients."""
        solver = self._solver(requires_grad=True)
        state = solver.initial_state(self.points, self.velocities)
        total = wp.zeros(1, dtype=float, requires_grad=True)
        tape = wp.Tape()
        with tape:
            final = solver.rollout(state, 1e-3, 40)
            wp.launch(_weighted_displacement, len(self.points), inputs=[
                final.x, wp.array(self.points, dtype=wp.vec2), wp.array(self.weights, dtype=wp.vec2), total])
        tape.backward(total)
        return solver, state


@pytest.mark.parametrize("law,parameters,checked", GRADIENT_CASES)
def test_tape_gradients_match_finite_differences(law, parameters, checked):
    # with respect to a material parameter and to one particle's initial velocity
    block = SpinningBlock(make_material(law, **parameters))
    solver, state = block.gradients()
    d_parameter = solver.law_parameters[0].grad.numpy()[checked]
    d_velocity = state.v.grad.numpy()[5, 0]

    p0 = block.material.law_parameters().astype(np.float64)
    # a 10 % step: float32 rounding in 40 steps swamps smaller ones, and the plastic laws' return mapping
    # switches particles on and off the yield surface, which differences over tiny steps pick up as noise
    step = 0.1 * p0[checked]
    plus, minus = p0.copy(), p0.copy()
    plus[checked] += step
    minus[checked] -= step
    fd_parameter = (block.loss(plus) - block.loss(minus)) / (2 * step)
    v_plus, v_minus = block.velocities.copy(), block.velocities.copy()
    v_plus[5, 0] += 1e-2
    v_minus[5, 0] -= 1e-2
    fd_velocity = (block.loss(velocities=v_plus) - block.loss(velocities=v_minus)) / 2e-2

    assert abs(d_parameter * p0[checked]) > 1e-4  # a gradient that matters, not a vanishing one
    assert d_parameter == pytest.approx(fd_parameter, rel=0.05)
    assert d_velocity == pytest.approx(fd_velocity, rel=0.1, abs=2e-5)


def test_gradient_with_respect_to_initial_positions_matches_finite_differences():
    # (With equal weights this gradient is exactly zero: the grid conserves momentum, so the mean
    # displacement does not depend on where the particles start. Random weights make it informative.)
    block = SpinningBlock(FixedCorotated(youngs_modulus=1e4, poisson_ratio=0.3))
    _, state = block.gradients()
    gradient = state.x.grad.numpy()
    for particle, axis in [(5, 0), (100, 1)]:
        plus, minus = block.points.copy(), block.points.copy()
        plus[particle, axis] += 1e-2
        minus[particle, axis] -= 1e-2
        fd = (block.loss(points=plus) - block.loss(points=minus)) / 2e-2
        assert abs(fd) > 1e-2
        assert gradient[particle, axis] == pytest.approx(fd, rel=0.02)


# -- bad input fails before the run --------------------------------------------------------------------
def test_time_step_above_the_stability_bound_is_refused():
    cfg, points, volume = block(2)
    solver = MPMSolver(cfg, [FixedCorotated()], np.zeros(len(points)), volume)
    velocities = np.zeros_like(points)
    bound = solver.stable_dt(solver.speed_bound(velocities))
    solver.check_dt(0.9 * bound, velocities)
    with pytest.raises(SurrolabError, match="stability bound"):
        solver.check_dt(1.1 * bound, velocities)


@pytest.mark.parametrize("law,bad,match", [
    ("jelly", dict(poisson_ratio=0.5), "poisson_ratio"),
    ("sand", dict(poisson_ratio=0.7), "poisson_ratio"),
    ("plasticine", dict(density=-1.0), "density"),
    ("water", dict(bulk_modulus=0.0), "bulk_modulus"),
    ("goop", dict(yield_stress=-5.0), "yield_stress"),
    ("sand", dict(friction_angle=95.0), "friction_angle"),
    ("jelly", dict(stiffness=1.0), "unknown parameter"),
])
def test_unphysical_material_parameters_are_refused(law, bad, match):
    with pytest.raises(SurrolabError, match=match):
        make_material(law, **bad)


def test_bad_solver_input_is_refused():
    cfg, points, volume = block(2)
    with pytest.raises(SurrolabError, match="walls"):
        MPMConfig(walls="rubber")
    with pytest.raises(SurrolabError, match="dim"):
        MPMConfig(dim=4)
    with pytest.raises(SurrolabError, match="wall_friction"):
        MPMConfig(wall_friction=-0.1)
    with pytest.raises(SurrolabError, match="material_id"):
        MPMSolver(cfg, [FixedCorotated()], np.ones(len(points)), volume)
    solver = MPMSolver(cfg, [FixedCorotated()], np.zeros(len(points)), volume)
    with pytest.raises(SurrolabError, match="inside the box"):
        solver.initial_state(points - 0.45, np.zeros_like(points))
    with pytest.raises(SurrolabError, match="finite"):
        solver.initial_state(points, np.full_like(points, np.nan))
