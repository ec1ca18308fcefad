"""The `cavity` family (CFDBench's lid-driven cavity): generated through the pipeline into a valid mesh
dataset, with an exact lid boundary condition, zero mass flux, a small discrete divergence and determinism."""
import h5py
import matplotlib.tri as mtri
import numpy as np
import pytest

from surrolab.datasets import schema
from surrolab.datasets.generate import generate
from surrolab.errors import SurrolabError
from surrolab.registry import get_problem
from surrolab.meshes.geometries import cavity
from surrolab.solvers.fem.cavity import CavityProblem
from surrolab.solvers.fem.flow_family import ramp as lid_ramp, vertex_dofs as _vertex_dofs
from surrolab.solvers.fem.navier_stokes import NavierStokesSolver, VelocityBC
from surrolab.solvers.fem.reference_flows import GHIA_X, GHIA_Y, LidDrivenCavity
from surrolab.solvers.trajectory import MeshGeometry

PROBLEM = CavityProblem()
TINY = dict(h=0.15, t_end=0.4, n_frames=3, substeps=2, ramp_time=0.1, grid_resolution=16)
PARAMS = {"lid_speed": 1.25, "density": 1.1, "viscosity": 6e-3, "width": 0.8, "height": 0.6}


@pytest.fixture(scope="module")
def config():
    return PROBLEM.make_config(**TINY)


@pytest.fixture(scope="module")
def trajectory(config):
    return PROBLEM.solve(config, PARAMS, PROBLEM.initial_state(config, np.random.default_rng(0)))


@pytest.fixture(scope="module")
def dataset(config, tmp_path_factory):
    return generate(get_problem("cavity"), config, 3, tmp_path_factory.mktemp("cavity") / "cavity.h5")


def test_registered_with_a_reynolds_range_in_the_laminar_regime():
    assert isinstance(get_problem("cavity"), CavityProblem)
    spec = {p.name: p for p in CavityProblem.parameters}
    corners = [{n: getattr(spec[n], "low" if (n == "viscosity") == big else "high") for n in spec}
               for big in (True, False)]
    assert CavityProblem.reynolds(corners[0]) == pytest.approx(360.0)
    assert CavityProblem.reynolds(corners[1]) == pytest.approx(10.0)


def test_generated_dataset_validates_with_a_mesh_per_sample_and_masked_grid(dataset):
    assert schema.validate(dataset) == []
    with h5py.File(dataset) as f:
        assert str(f.attrs["geometry_type"]) == "mesh"
        widths, heights = f["parameters/width"][()], f["parameters/height"][()]
        sizes = {f[f"mesh/{i}/points"].shape[0] for i in range(3)}
        assert len(sizes) == 3  # three different cavities, three different meshes
        x, y = (f[f"geometry/axes/{a}"][()] for a in ("x", "y"))
        mask = schema.read_mask(f, np.arange(3))
        grid_velocity = f["fields/t1_fields/velocity"][()]  # (S, T, nx, ny, 2)
        for i in range(3):
            outside = (x[:, None] > widths[i] + 1e-9) | (y[None, :] > heights[i] + 1e-9)
            inside = (x[:, None] < widths[i] - 1e-9) & (y[None, :] < heights[i] - 1e-9)
            assert not mask[i][outside].any() and mask[i][inside].all()
            assert np.all(grid_velocity[i][:, outside] == 0.0)
            mesh_velocity = f[f"mesh/{i}/fields/t1_fields/velocity"]
            assert mesh_velocity.shape == (TINY["n_frames"], f[f"mesh/{i}/points"].shape[0], 2)
        assert (widths < x[-1]).any() or (heights < y[-1]).any()  # some sample leaves masked nodes
        for key in ("relative_divergence", "boundary_mass_flux", "n_dofs", "n_time_steps"):
            assert f[f"samples/{key}"].shape == (3,)
        np.testing.assert_array_equal(f["samples/n_time_steps"][()], 4.0)
        assert np.all(np.abs(f["samples/boundary_mass_flux"][()]) < 1e-12)


def test_mass_balance_and_divergence(trajectory):
    # u·n = 0 on every Dirichlet node (the lid moves tangentially), so the flux vanishes to rounding
    assert trajectory.diagnostics["boundary_mass_flux"] < 1e-12
    # Taylor-Hood is divergence-free only weakly; the lid's discontinuous corners dominate ‖∇·u_h‖
    assert 0.0 < trajectory.diagnostics["relative_divergence"] < 0.3
    assert trajectory.diagnostics["n_dofs"] > 0


def test_lid_speed_is_imposed_exactly_on_the_lid_nodes(config, trajectory):
    mesh = trajectory.geometry
    assert isinstance(mesh, MeshGeometry)
    lid, walls = np.unique(mesh.boundaries["lid"]), np.unique(mesh.boundaries["walls"])
    interior_lid = np.setdiff1d(lid, walls)  # the two top corners belong to the walls
    assert len(lid) - len(interior_lid) == 2
    velocity = trajectory.fields["velocity"]  # (T, N, 2)
    assert np.all(velocity[0] == 0.0) and np.all(trajectory.fields["pressure"][0] == 0.0)  # rest
    for frame, t in enumerate(trajectory.times[1:], start=1):
        speed = PARAMS["lid_speed"] * lid_ramp(t, config.ramp_time)
        assert t >= config.ramp_time and speed == PARAMS["lid_speed"]
        np.testing.assert_array_equal(velocity[frame, interior_lid, 0], speed)
        np.testing.assert_array_equal(velocity[frame, interior_lid, 1], 0.0)
        np.testing.assert_array_equal(velocity[frame, walls], 0.0)


def test_solve_is_deterministic(config, trajectory):
    again = PROBLEM.solve(config, PARAMS, PROBLEM.initial_state(config, np.random.default_rng(1)))
    np.testing.assert_array_equal(again.geometry.points, trajectory.geometry.points)
    for name in ("velocity", "pressure"):
        np.testing.assert_array_equal(again.fields[name], trajectory.fields[name])


def test_out_of_range_parameter_and_config_fail_naming_the_field(config):
    with pytest.raises(SurrolabError, match="viscosity"):
        PROBLEM.solve(config, {**PARAMS, "viscosity": -1e-3}, PROBLEM.initial_state(config, None))
    with pytest.raises(SurrolabError, match="substeps"):
        PROBLEM.make_config(substeps=0)
    with pytest.raises(SurrolabError, match="h="):
        PROBLEM.make_config(h=-0.1)
    with pytest.raises(SurrolabError, match="rest"):
        state = PROBLEM.initial_state(config, None)
        PROBLEM.solve(config, PARAMS, {**state, "pressure": state["pressure"] + 1.0})


def test_coarsen_multiplies_h_and_divides_substeps():
    config = PROBLEM.make_config()
    coarse = PROBLEM.coarsen(config, 2)
    assert coarse.h == 2 * config.h and coarse.substeps == config.substeps // 2
    assert np.array_equal(coarse.times, config.times)
    with pytest.raises(SurrolabError, match="substeps"):
        PROBLEM.coarsen(config, 3)


def test_grid_covers_the_largest_cavity(config):
    x, y = PROBLEM.grid(config).axes
    assert x[-1] == 1.0 and y[-1] == 1.0 and len(x) == TINY["grid_resolution"] + 1


def test_stored_vertex_values_agree_with_interpolation_to_vertices(config):
    """The exact copy of vertex dofs that `solve` stores equals `MeshedDomain.vertex_values` to rounding."""
    domain = cavity(0.7, 0.5, 0.15)
    solver = NavierStokesSolver(domain.mesh, (VelocityBC(domain.facets("walls"), (0.0, 0.0)),
                                              VelocityBC(domain.facets("lid"), (1.0, 0.0))), viscosity=0.01, dt=0.1)
    state = solver.step(solver.initial_state())
    u, p = solver.functions(state)
    np.testing.assert_allclose(state.velocity.reshape(-1, 2)[_vertex_dofs(solver.velocity_space)],
                               domain.vertex_values(u), rtol=0, atol=1e-12)
    np.testing.assert_allclose(state.pressure[_vertex_dofs(solver.pressure_space)], domain.vertex_values(p),
                               rtol=0, atol=1e-12)


def test_unit_cavity_at_re_100_settles_onto_ghia_profiles():
    """Default mesh, unit cavity, Re = 100: by t = 20 s the flow is steady and its centre-line velocities
    (vertex values, interpolated linearly) are within 2 % of U of Ghia, Ghia & Shin (1982); measured 0.7 %."""
    config = PROBLEM.make_config(t_end=20.0, n_frames=2, substeps=50)  # Δt = 0.4: BDF2's steady state is Δt-free
    params = {"lid_speed": 1.0, "density": 1.0, "viscosity": 0.01, "width": 1.0, "height": 1.0}
    trajectory = PROBLEM.solve(config, params, PROBLEM.initial_state(config, None))
    mesh = trajectory.geometry
    triangulation = mtri.Triangulation(*mesh.points.T, mesh.cells)
    u, v = (mtri.LinearTriInterpolator(triangulation, trajectory.fields["velocity"][-1, :, c]) for c in (0, 1))
    y, x = GHIA_Y[(GHIA_Y > 0) & (GHIA_Y < 1)], GHIA_X[(GHIA_X > 0) & (GHIA_X < 1)]
    deviation = LidDrivenCavity(reynolds=100.0).deviation(np.asarray(u(np.full_like(y, 0.5), y)),
                                                          np.asarray(v(x, np.full_like(x, 0.5))))
    assert deviation.largest < 0.02
