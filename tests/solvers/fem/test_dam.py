"""The `dam` family (CFDBench's channel flow over a barrier): exact inflow and no-slip data, zero net flux, a
recirculation behind the barrier that closes before the outlet, determinism, and a valid dataset whose grid
masks the barrier."""
import h5py
import numpy as np
import pytest

from flow_family_checks import (assert_deterministic, assert_every_preset_coarsens_by_two,
                                assert_fast_inflows_held_out_and_no_net_flux, assert_records_drawn_parameters)
from surrolab.datasets import schema
from surrolab.datasets.generate import generate
from surrolab.registry import get_problem
from surrolab.solvers.fem.dam import BARRIER_X, CHANNEL_HEIGHT, CHANNEL_LENGTH, DamProblem
from surrolab.solvers.fem.flow_family import ramp
from surrolab.solvers.fem.tube import inlet_profile, poiseuille

PROBLEM = DamProblem()
TINY = dict(h=0.1, t_end=0.4, n_frames=5, substeps=2, ramp_time=0.2, grid_resolution=100)
PARAMS = {"inlet_speed": 0.8, "density": 1.1, "viscosity": 7e-3, "barrier_height": 0.1, "barrier_width": 0.04}


@pytest.fixture(scope="module")
def config():
    return PROBLEM.make_config(**TINY)


@pytest.fixture(scope="module")
def trajectory(config):
    return PROBLEM.solve(config, PARAMS, PROBLEM.initial_state(config, None))


@pytest.fixture(scope="module")
def dataset(config, tmp_path_factory):
    # seed 0: the inlet speeds drawn are 1.137, 1.390, 0.581, so sample 1 is in the top 20 % (>= 1.3)
    return generate(get_problem("dam"), config, 3, tmp_path_factory.mktemp("dam") / "dam.h5")


def test_registered_with_inlet_speed_first_and_a_laminar_reynolds_range():
    assert isinstance(get_problem("dam"), DamProblem)
    assert DamProblem.parameter_names()[0] == "inlet_speed"
    spec = {p.name: p for p in DamProblem.parameters}
    low = {n: getattr(spec[n], "high" if n == "viscosity" else "low") for n in spec}
    high = {n: getattr(spec[n], "low" if n == "viscosity" else "high") for n in spec}
    assert DamProblem.reynolds(low) == pytest.approx(16.0)  # 0.8·0.5·0.4 / 0.01
    assert DamProblem.reynolds(high) == pytest.approx(144.0)  # 1.2·1.5·0.4 / 5e-3


def test_inflow_walls_and_barrier_are_imposed_exactly_at_the_stored_vertices(config, trajectory):
    mesh, velocity = trajectory.geometry, trajectory.fields["velocity"]
    walls, barrier = np.unique(mesh.boundaries["walls"]), np.unique(mesh.boundaries["barrier"])
    inlet = np.setdiff1d(np.unique(mesh.boundaries["inlet"]), walls)
    x, y = mesh.points[barrier].T  # the barrier's nodes lie on its three faces
    b, w = PARAMS["barrier_height"], PARAMS["barrier_width"]
    on_faces = (np.isclose(x, BARRIER_X) | np.isclose(x, BARRIER_X + w)) & (y <= b + 1e-12) | np.isclose(y, b)
    assert on_faces.all() and (x >= BARRIER_X - 1e-12).all() and (x <= BARRIER_X + w + 1e-12).all()
    assert np.all(velocity[0] == 0.0)
    for frame, t in enumerate(trajectory.times[1:], start=1):
        expected = ramp(t, config.ramp_time) * inlet_profile(mesh.points[inlet, 1], CHANNEL_HEIGHT,
                                                             PARAMS["inlet_speed"])
        np.testing.assert_allclose(velocity[frame, inlet, 0], expected, rtol=0, atol=1e-14)
        np.testing.assert_array_equal(velocity[frame, inlet, 1], 0.0)
        np.testing.assert_array_equal(velocity[frame, walls], 0.0)
        np.testing.assert_array_equal(velocity[frame, barrier], 0.0)


def test_mass_balance_and_divergence(trajectory):
    # ∫_∂Ω u_h·n = (∇·u_h, 1) = 0 since q = 1 is a P1 pressure test function: zero up to the LU's rounding
    assert trajectory.diagnostics["boundary_mass_flux"] < 1e-10
    # the barrier's corners (∇u ~ r^-0.46 at a 270° corner) dominate: measured 0.14 on TINY, 0.09 by default
    assert 0.0 < trajectory.diagnostics["relative_divergence"] < 0.3


def test_recirculation_behind_the_barrier_closes_before_the_outlet():
    """Default parameters (Re = 80, b = 0.12, w = 0.05) on the demo mesh, marched to the steady state (Δt = 0.1).
    Behind the barrier the floor flow runs backwards (u < 0; measured min −0.17 Ū), while upstream of it and
    over the last quarter of the channel it runs forwards (no backflow at the do-nothing outlet); the barrier
    costs pressure: the drop from inlet to outlet exceeds the empty channel's Poiseuille drop 12 μ Ū L / H²."""
    params = {p.name: p.default for p in DamProblem.parameters}
    config = PROBLEM.make_config("demo", t_end=10.0, n_frames=3, substeps=50)
    trajectory = PROBLEM.solve(config, params, PROBLEM.initial_state(config, None))
    (x, y), velocity = trajectory.geometry.points.T, trajectory.fields["velocity"]
    pressure = trajectory.fields["pressure"][-1]
    b, w, speed = params["barrier_height"], params["barrier_width"], params["inlet_speed"]
    assert np.abs(velocity[-1] - velocity[-2]).max() < 1e-3 * speed  # steady
    u = velocity[-1, :, 0]
    interior = (y > 0) & (y < CHANNEL_HEIGHT)
    behind = interior & (x > BARRIER_X + w) & (x < BARRIER_X + w + 3 * b) & (y < b)
    assert u[behind].min() < -0.1 * speed
    assert u[interior & (x < BARRIER_X - b)].min() > 0.0  # (a small corner eddy may sit at the barrier's foot)
    assert u[interior & (x > 0.75 * CHANNEL_LENGTH)].min() > 0.0
    outlet, inlet = np.isclose(x, CHANNEL_LENGTH), x == 0.0
    _, dpdx = poiseuille(0.0, CHANNEL_HEIGHT, speed, params["viscosity"])
    assert pressure[inlet].mean() - pressure[outlet].mean() > 1.25 * -dpdx * CHANNEL_LENGTH  # measured 1.54 times


def test_solve_is_deterministic(config, trajectory):
    assert_deterministic(PROBLEM, config, PARAMS, trajectory)


def test_dataset_validates_records_parameters_masks_the_barrier_and_holds_out_fast_inflows(dataset):
    assert schema.validate(dataset) == []
    with h5py.File(dataset) as f:
        params = assert_records_drawn_parameters(f, DamProblem, 3)
        assert_fast_inflows_held_out_and_no_net_flux(f, params)
        x, y = (f[f"geometry/axes/{a}"][()] for a in ("x", "y"))
        assert (x[0], x[-1], y[0], y[-1]) == pytest.approx((0.0, CHANNEL_LENGTH, 0.0, CHANNEL_HEIGHT))
        mask = schema.read_mask(f, np.arange(3))
        grid_velocity = f["fields/t1_fields/velocity"][()]  # (S, T, nx, ny, 2)
        for i in range(3):
            b, w = params["barrier_height"][i], params["barrier_width"][i]
            in_x = (x[:, None] > BARRIER_X + 1e-9) & (x[:, None] < BARRIER_X + w - 1e-9)
            inside_barrier = in_x & (y[None, :] < b - 1e-9)
            outside = ~((x[:, None] >= BARRIER_X - 1e-9) & (x[:, None] <= BARRIER_X + w + 1e-9)
                        & (y[None, :] <= b + 1e-9))
            assert inside_barrier.sum() > 10  # grid spacing 0.01: the barrier covers grid nodes
            assert not mask[i][inside_barrier].any() and mask[i][outside].all()
            assert np.all(grid_velocity[i][:, inside_barrier] == 0.0)


def test_coarsen_and_presets():
    assert_every_preset_coarsens_by_two(PROBLEM)
