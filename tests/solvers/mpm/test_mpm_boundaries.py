"""Walls and colliders of the MPM solver: sticky and slip walls, static, moving and spinning rigid bodies
given by signed distance functions (issue 5)."""
import numpy as np
import pytest
import warp as wp

from surrolab.errors import SurrolabError
from surrolab.solvers.mpm.colliders import Collider
from surrolab.solvers.mpm.materials import FixedCorotated, NewtonianFluid
from surrolab.solvers.mpm.shapes import fill, lattice
from surrolab.solvers.mpm.solver import MPMConfig, MPMSolver

wp.config.quiet = True


def slide(walls):
    """A jelly block thrown sideways onto the floor: its horizontal velocity after landing."""
    cfg = MPMConfig(dim=2, n_grid=32, walls=walls)
    h = cfg.dx / 2
    points = lattice([0.3, 0.12], [0.5, 0.25], h)
    solver = MPMSolver(cfg, [FixedCorotated(youngs_modulus=2e4)], np.zeros(len(points)), h**2)
    velocities = np.tile([1.0, -0.5], (len(points), 1))
    state = solver.rollout(solver.initial_state(points, velocities), 5e-4, 500)  # 0.25 s: landed, bounced
    return state.v.numpy(), state.x.numpy(), cfg


def test_sticky_floor_stops_the_material_and_slip_floor_lets_it_slide():
    v_sticky, x_sticky, cfg = slide("sticky")
    v_slip, x_slip, _ = slide("slip")
    bottom = x_sticky[:, 1] < x_sticky[:, 1].min() + cfg.dx
    assert np.abs(v_sticky[bottom, 0]).max() < 0.15  # stuck to the floor
    assert v_slip[:, 0].mean() > 0.8  # slides on at nearly the thrown speed
    assert x_slip[:, 0].mean() > x_sticky[:, 0].mean() + 0.02
    # neither lets the material through the floor's wall layer
    assert min(x_sticky[:, 1].min(), x_slip[:, 1].min()) > cfg.dx


@pytest.mark.parametrize("dim", [2, 3])
def test_a_static_ball_is_not_penetrated(dim):
    cfg = MPMConfig(dim=dim, n_grid=32 if dim == 2 else 24)
    h = cfg.dx / 2
    centre = np.full(3, 0.5)
    centre[1] = 0.35
    radius = 0.12
    points = fill("box", np.r_[0.5, 0.62, 0.5][:dim], np.full(dim, 0.08), np.eye(dim), h)
    collider = Collider("sphere", tuple(centre), size=(radius,) * 3, mode="slip")
    solver = MPMSolver(cfg, [NewtonianFluid(viscosity=0.0)], np.zeros(len(points)), h**dim, colliders=(collider,))
    state = solver.initial_state(points, np.zeros_like(points))
    dt = 0.3 * solver.stable_dt(solver.speed_bound(np.zeros_like(points)))
    closest = np.inf
    for _ in range(10):  # 0.3 s in all: the water lands on the ball and flows round it
        state = solver.rollout(state, dt, int(0.03 / dt))
        closest = min(closest, np.linalg.norm(state.x.numpy() - centre[:dim], axis=1).min())
    assert closest > radius - cfg.dx  # within one cell of the surface at most (the grid's resolution)
    assert state.x.numpy()[:, 1].min() < 0.35  # and the water did get past the ball's equator


def test_material_inside_a_moving_sticky_body_moves_rigidly_with_it():
    # every grid node inside a sticky body takes the body's velocity, so material within it is transported
    cfg = MPMConfig(dim=2, n_grid=32, gravity=9.81, walls="none")
    h = cfg.dx / 2
    points = lattice([0.35, 0.35], [0.45, 0.45], h)
    body = Collider("box", (0.4, 0.4, 0.0), size=(0.15, 0.15, 0.1), velocity=(0.5, -0.25, 0.0), mode="sticky")
    solver = MPMSolver(cfg, [FixedCorotated(youngs_modulus=1e4)], np.zeros(len(points)), h**2, colliders=(body,))
    state = solver.rollout(solver.initial_state(points, np.zeros_like(points)), 5e-4, 200)  # 0.1 s
    assert np.allclose(state.v.numpy(), [0.5, -0.25], atol=1e-4)
    assert np.allclose(state.x.numpy() - points, [0.05, -0.025], atol=2e-4)  # moved with it from the 1st step


@pytest.mark.parametrize("mode", ["slip", "sticky"])
def test_a_rising_piston_pushes_the_material_without_letting_it_through(mode):
    cfg = MPMConfig(dim=2, n_grid=32, gravity=9.81, walls="slip")
    h = cfg.dx / 2
    points = lattice([0.35, 0.3], [0.65, 0.4], h)
    piston = Collider("box", (0.5, 0.2, 0.0), size=(0.3, 0.1, 0.1), velocity=(0.0, 0.5, 0.0), mode=mode)
    solver = MPMSolver(cfg, [FixedCorotated(youngs_modulus=2e4)], np.zeros(len(points)), h**2, colliders=(piston,))
    state = solver.initial_state(points, np.zeros_like(points))
    for step in range(1, 7):  # 0.3 s, the piston's top rises from 0.3 to 0.45
        state = solver.rollout(state, 5e-4, 100, t0=(step - 1) * 0.05)
        top = 0.3 + 0.5 * step * 0.05
        assert state.x.numpy()[:, 1].min() > top - cfg.dx
    assert state.v.numpy()[:, 1].mean() > 0.3  # carried up against gravity


def test_a_spinning_sticky_ball_drags_its_surface_layer_round():
    # sticky ball spinning at ω about z: material next to it moves with the surface velocity ω × r
    cfg = MPMConfig(dim=2, n_grid=32, gravity=0.0, walls="none")
    h = cfg.dx / 2
    ring = lattice([0.3, 0.3], [0.7, 0.7], h)
    r = np.linalg.norm(ring - 0.5, axis=1)
    ring = ring[(r > 0.1) & (r < 0.16)]
    ball = Collider("sphere", (0.5, 0.5, 0.0), size=(0.12, 0.12, 0.12), angular_velocity=(0.0, 0.0, 2.0),
                    mode="sticky")
    solver = MPMSolver(cfg, [NewtonianFluid(viscosity=0.0)], np.zeros(len(ring)), h**2, colliders=(ball,))
    state = solver.rollout(solver.initial_state(ring, np.zeros_like(ring)), 5e-4, 100)
    x, v = state.x.numpy() - 0.5, state.v.numpy()
    inside = np.linalg.norm(x, axis=1) < 0.12
    tangential = (x[:, 0] * v[:, 1] - x[:, 1] * v[:, 0]) / np.linalg.norm(x, axis=1) ** 2  # angular rate
    assert np.median(tangential[inside]) == pytest.approx(2.0, rel=0.15)


def test_bad_colliders_are_refused():
    with pytest.raises(SurrolabError, match="shape"):
        Collider("torus", (0.5, 0.5, 0.5))
    with pytest.raises(SurrolabError, match="mode"):
        Collider("sphere", (0.5, 0.5, 0.5), mode="glue")
    with pytest.raises(SurrolabError, match="size"):
        Collider("sphere", (0.5, 0.5, 0.5), size=(-0.1, 0.1, 0.1))
    with pytest.raises(SurrolabError, match="3 components"):
        Collider("box", (0.5, 0.5))


@pytest.mark.parametrize("dim", [2, 3])
def test_a_block_sliding_on_a_frictional_floor_stops_where_coulomb_says(dim):
    # a block thrown along a slip floor with Coulomb friction μ decelerates at μg: it stops after v²/(2μg)
    from surrolab.solvers.mpm.kernels import WALL_CELLS

    mu, speed = 0.3, 1.0
    cfg = MPMConfig(dim=dim, n_grid=32, walls="slip", wall_friction=mu)
    h = cfg.dx / 2
    floor = WALL_CELLS * cfg.dx
    points = lattice([0.2, floor, 0.4][:dim], [0.35, floor + 0.1, 0.55][:dim], h)
    solver = MPMSolver(cfg, [FixedCorotated(youngs_modulus=1e5)], np.zeros(len(points)), h**dim)
    velocities = np.zeros_like(points)
    velocities[:, 0] = speed
    state = solver.rollout(solver.initial_state(points, velocities), 2e-4, 2500)  # 0.5 s; it stops at 0.34 s
    distance = state.x.numpy()[:, 0].mean() - points[:, 0].mean()
    assert distance == pytest.approx(speed**2 / (2 * mu * 9.81), rel=0.06)  # measured −4 % at 32 cells
    assert np.abs(state.v.numpy()[:, 0]).mean() < 0.02  # at rest


@pytest.mark.parametrize("dim", [2, 3])
def test_particles_stay_inside_the_grid_even_when_the_run_is_unstable(dim):
    # far beyond the CFL bound (a learned law while it trains can be): positions are clamped into
    # [Δx, L − Δx], so every stencil stays on the grid (warp does not check bounds on the CPU) and the
    # NaN of a blown-up particle lands on the wall instead of indexing outside the grid
    cfg = MPMConfig(dim=dim, n_grid=8, walls="none", gravity=0.0)
    points = np.full((3, dim), 0.5)
    points[1, 0] = 0.4
    solver = MPMSolver(cfg, [FixedCorotated()], np.zeros(3), 1e-3)
    velocities = np.zeros((3, dim))
    velocities[0, 0], velocities[0, 1] = 1e4, -1e4
    state = solver.initial_state(points, velocities)
    v = state.v.numpy()
    v[1, 0] = np.nan
    state.v.assign(v)
    for _ in range(3):
        state = solver.step(state, 1e-3)
    x = state.x.numpy()
    assert np.all(np.isfinite(x)) and x.min() >= cfg.dx - 1e-7 and x.max() <= 1.0 - cfg.dx + 1e-7
    assert x[0, 0] == pytest.approx(1.0 - cfg.dx) or x[0, 1] == pytest.approx(cfg.dx)
