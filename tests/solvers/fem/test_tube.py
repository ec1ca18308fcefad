"""The `tube` family (CFDBench's developing channel flow): exact inflow and wall data, zero net flux, a small
divergence, Poiseuille flow downstream, determinism, and a valid dataset with a held-out split."""
import h5py
import numpy as np
import pytest

from flow_family_checks import (assert_deterministic, assert_every_preset_coarsens_by_two,
                                assert_fast_inflows_held_out_and_no_net_flux, assert_records_drawn_parameters)
from surrolab.datasets import schema
from surrolab.datasets.generate import generate
from surrolab.errors import SurrolabError
from surrolab.registry import get_problem
from surrolab.solvers.fem.flow_family import ramp
from surrolab.solvers.fem.tube import INLET_EXPONENT, TubeProblem, inlet_profile, poiseuille

PROBLEM = TubeProblem()
TINY = dict(h=0.05, t_end=0.4, n_frames=5, substeps=2, ramp_time=0.2, grid_resolution=40)
PARAMS = {"inlet_speed": 1.2, "density": 1.1, "viscosity": 6e-3, "height": 0.15, "length": 1.6}


@pytest.fixture(scope="module")
def config():
    return PROBLEM.make_config(**TINY)


@pytest.fixture(scope="module")
def trajectory(config):
    return PROBLEM.solve(config, PARAMS, PROBLEM.initial_state(config, None))


@pytest.fixture(scope="module")
def dataset(config, tmp_path_factory):
    # seed 0: the inlet speeds drawn are 1.137, 1.390, 0.581, so sample 1 is in the top 20 % (>= 1.3)
    return generate(get_problem("tube"), config, 3, tmp_path_factory.mktemp("tube") / "tube.h5")


def test_registered_with_inlet_speed_first_and_a_laminar_reynolds_range():
    assert isinstance(get_problem("tube"), TubeProblem)
    assert TubeProblem.parameter_names()[0] == "inlet_speed"  # the held-out split's parameter
    spec = {p.name: p for p in TubeProblem.parameters}
    low = {n: getattr(spec[n], "high" if n == "viscosity" else "low") for n in spec}
    high = {n: getattr(spec[n], "low" if n == "viscosity" else "high") for n in spec}
    assert TubeProblem.reynolds(low) == pytest.approx(5.0)  # 0.8·0.5·0.1 / 8e-3
    assert TubeProblem.reynolds(high) == pytest.approx(90.0)  # 1.2·1.5·0.2 / 4e-3


def test_inlet_profile_has_the_mean_speed_and_exponent_two_is_poiseuille():
    y = np.linspace(0.0, 0.3, 30001)
    for m in (2, INLET_EXPONENT):
        g = inlet_profile(y, 0.3, 1.7, m)
        assert np.trapezoid(g, y) / 0.3 == pytest.approx(1.7, rel=1e-7)
        assert g[0] == 0.0 and g[-1] == 0.0 and g[15000] == pytest.approx(1.7 * (m + 1) / m)
    np.testing.assert_allclose(inlet_profile(y, 0.3, 1.7), 6 * 1.7 * y * (0.3 - y) / 0.3**2, atol=1e-12)


def test_inflow_and_walls_are_imposed_exactly_at_the_stored_vertices(config, trajectory):
    mesh, velocity = trajectory.geometry, trajectory.fields["velocity"]  # (T, N, 2)
    inlet, walls = np.unique(mesh.boundaries["inlet"]), np.unique(mesh.boundaries["walls"])
    inlet = np.setdiff1d(inlet, walls)  # the two corners are wall nodes
    y = mesh.points[inlet, 1]
    assert np.all(velocity[0] == 0.0) and np.all(trajectory.fields["pressure"][0] == 0.0)  # rest
    ramped = 0
    for frame, t in enumerate(trajectory.times[1:], start=1):
        r = ramp(t, config.ramp_time)
        ramped += r < 1.0
        expected = r * inlet_profile(y, PARAMS["height"], PARAMS["inlet_speed"], INLET_EXPONENT)
        np.testing.assert_allclose(velocity[frame, inlet, 0], expected, rtol=0, atol=1e-14)
        np.testing.assert_array_equal(velocity[frame, inlet, 1], 0.0)
        np.testing.assert_array_equal(velocity[frame, walls], 0.0)
    assert ramped == 1  # the frame at t = 0.1 lies inside the ramp (r = 1/2), the others after it


def test_mass_balance_and_divergence(trajectory):
    # ∫_∂Ω u_h·n = (∇·u_h, 1) = 0 because q = 1 is a P1 pressure test function: zero up to the LU's rounding
    assert trajectory.diagnostics["boundary_mass_flux"] < 1e-10
    # weakly divergence-free Taylor-Hood on a smooth flow (the inflow is continuous): measured 0.02 here
    assert 0.0 < trajectory.diagnostics["relative_divergence"] < 0.05
    assert trajectory.diagnostics["reynolds"] == pytest.approx(1.1 * 1.2 * 0.15 / 6e-3)


def test_flow_develops_into_poiseuille_downstream():
    """Re = 25 (H = 0.2, L = 1.5, μ = 8e-3), demo mesh (h = 0.025), marched to the steady state with Δt = 0.5
    (BDF2's fixed point does not depend on Δt). The blunt inflow (centre 1.25 Ū) develops within the entrance
    length 0.044 Re H = 0.22 m; on the downstream half the vertex velocities match u = 6Ū y(H − y)/H² within
    0.1 % of Ū (measured 0.007 %: P2 holds the parabola exactly, the residue is the interpolated inflow's
    flux, 1e-3 at h = 0.04) and the pressure gradient matches −12 μ Ū/H² within 0.2 % (measured 0.004 %),
    with p = 0 at the do-nothing outlet to 1e-3 of the channel's pressure drop (measured 2e-6)."""
    params = {"inlet_speed": 1.0, "density": 1.0, "viscosity": 8e-3, "height": 0.2, "length": 1.5}
    config = PROBLEM.make_config("demo", t_end=10.0, n_frames=3, substeps=10)
    trajectory = PROBLEM.solve(config, params, PROBLEM.initial_state(config, None))
    points, velocity = trajectory.geometry.points, trajectory.fields["velocity"]
    pressure = trajectory.fields["pressure"]
    assert np.abs(velocity[-1] - velocity[-2]).max() < 1e-5  # steady (measured 4e-7)
    u_exact, dpdx = poiseuille(points[:, 1], 0.2, 1.0, 8e-3)
    downstream = points[:, 0] >= 0.75
    assert np.abs(velocity[-1, downstream, 0] - u_exact[downstream]).max() < 1e-3
    assert np.abs(velocity[-1, downstream, 1]).max() < 1e-4
    slope, intercept = np.polyfit(points[downstream, 0], pressure[-1, downstream], 1)
    assert slope == pytest.approx(dpdx, rel=2e-3)
    assert abs(slope * 1.5 + intercept) < 1e-3 * abs(dpdx) * 1.5  # p(L) = 0
    inlet = points[:, 0] == 0.0  # the blunt inflow differs from the parabola by up to 0.25 Ū: the flow develops
    assert np.abs(velocity[-1, inlet, 0] - u_exact[inlet]).max() > 0.15


def test_solve_is_deterministic(config, trajectory):
    assert_deterministic(PROBLEM, config, PARAMS, trajectory)


def test_dataset_validates_records_parameters_masks_the_grid_and_holds_out_fast_inflows(dataset):
    assert schema.validate(dataset) == []
    with h5py.File(dataset) as f:
        params = assert_records_drawn_parameters(f, TubeProblem, 3)
        for i in range(3):  # each sample's mesh is its own channel
            points = f[f"mesh/{i}/points"][()]
            assert points[:, 0].max() == pytest.approx(params["length"][i])
            assert points[:, 1].max() == pytest.approx(params["height"][i])
        assert_fast_inflows_held_out_and_no_net_flux(f, params)
        x, y = (f[f"geometry/axes/{a}"][()] for a in ("x", "y"))
        assert x[-1] == 2.0 and y[-1] == pytest.approx(0.2)  # the longest, widest channel sampled
        mask = schema.read_mask(f, np.arange(3))
        for i in range(3):
            length, height = params["length"][i], params["height"][i]
            outside = (x[:, None] > length + 1e-9) | (y[None, :] > height + 1e-9)
            inside = (x[:, None] < length - 1e-9) & (y[None, :] < height - 1e-9)
            assert outside.any() and not mask[i][outside].any() and mask[i][inside].all()


def test_coarsen_and_presets():
    assert_every_preset_coarsens_by_two(PROBLEM)
    for preset in ("demo", "default", "large"):  # coarsened by 2, the narrowest channel (H = 0.1) still meshes
        assert PROBLEM.coarsen(PROBLEM.make_config(preset), 2).h <= 0.5 * 0.1
    assert PROBLEM.make_config("demo").n_steps < PROBLEM.make_config().n_steps < PROBLEM.make_config("large").n_steps


def test_out_of_range_parameter_fails_naming_it(config):
    with pytest.raises(SurrolabError, match="inlet_speed"):
        PROBLEM.solve(config, {**PARAMS, "inlet_speed": -1.0}, PROBLEM.initial_state(config, None))
