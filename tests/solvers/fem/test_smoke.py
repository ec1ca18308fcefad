"""The `smoke` family (PDEArena's buoyant smoke): smoke that rises from its sources only when buoyant, an
exact smoke balance and walls that hold, a valid dataset with the parameters recorded and the strongest
buoyancies held out, determinism, and coarsening."""
import h5py
import numpy as np
import pytest

from surrolab.datasets import schema
from surrolab.datasets.generate import generate
from surrolab.errors import SurrolabError
from surrolab.registry import get_problem
from surrolab.solvers.fem.smoke import SIZE, SmokeProblem
from surrolab.solvers.trajectory import MeshGeometry

PROBLEM = SmokeProblem()
TINY = dict(h=4.0, t_end=6.0, n_frames=3, substeps=2, grid_resolution=2)  # 8 cells a side, Δt = 1.5 s
PARAMS = {"buoyancy": 0.45, "source_1_x": 10.0, "source_1_y": 6.0, "source_2_x": 22.0, "source_2_y": 6.0,
          "source_radius": 2.5, "source_rate": 0.2}


def smoke_centroid_height(trajectory) -> float:
    weights = trajectory.geometry.lumped_mass()
    smoke = trajectory.fields["smoke"][-1]
    return float(weights @ (smoke * trajectory.geometry.points[:, 1]) / (weights @ smoke))


@pytest.fixture(scope="module")
def plume():
    """h = 2 m, 12 s: the plumes have risen a few metres."""
    config = PROBLEM.make_config(h=2.0, t_end=12.0, n_frames=5, substeps=2, grid_resolution=2)
    return config, PROBLEM.solve(config, PARAMS, PROBLEM.initial_state(config, None))


def test_registered_with_pdearenas_buoyancy_range_first():
    problem = get_problem("smoke")
    assert isinstance(problem, SmokeProblem)
    first = problem.parameters[0]
    assert (first.name, first.low, first.high) == ("buoyancy", 0.2, 0.5)  # PDEArena's smoke_cond range
    assert [f.name for f in problem.fields] == ["velocity", "pressure", "smoke"]
    assert problem.extent() == ((0.0, SIZE), (0.0, SIZE))


def test_smoke_rises_only_when_buoyant(plume):
    """Buoyancy 0.45: the smoke's centroid climbs above the sources (y = 6 m) and the fluid moves. Buoyancy 0:
    the fluid stays exactly at rest and the smoke only diffuses, so its centroid stays at the sources' height
    (the walls are 6 m away, the diffusion length √(4κt) 1.4 m)."""
    config, buoyant = plume
    inert = PROBLEM.solve(config, {**PARAMS, "buoyancy": 0.0}, PROBLEM.initial_state(config, None))
    assert np.all(inert.fields["velocity"] == 0.0)
    assert smoke_centroid_height(inert) == pytest.approx(6.0, abs=0.05)
    assert smoke_centroid_height(buoyant) > 7.0
    assert np.abs(buoyant.fields["velocity"][-1]).max() > 0.3


def test_smoke_balance_walls_and_diagnostics(plume):
    """∫c grows by exactly ∫∫s (to rounding); ∫∫s is the two Gaussians' 2 r π a² t_end to the P1
    interpolation error; no slip holds exactly at the wall nodes; everything starts at rest and clean."""
    config, trajectory = plume
    diagnostics = trajectory.diagnostics
    assert diagnostics["smoke_mass_balance"] < 1e-12
    injected = 2 * PARAMS["source_rate"] * np.pi * PARAMS["source_radius"] ** 2 * config.t_end
    assert diagnostics["smoke_injected"] == pytest.approx(injected, rel=0.03)
    assert diagnostics["boundary_mass_flux"] < 1e-12
    assert 0.0 < diagnostics["relative_divergence"] < 0.25  # measured 0.16 at h = 2 m
    assert 0.0 <= diagnostics["smoke_undershoot"] < 0.2
    assert diagnostics["reynolds"] == pytest.approx(SmokeProblem.reynolds(PARAMS, config.viscosity))
    mesh = trajectory.geometry
    assert isinstance(mesh, MeshGeometry)
    walls = mesh.boundary_nodes("walls")
    assert np.all(trajectory.fields["velocity"][:, walls] == 0.0)
    assert all(np.all(values[0] == 0.0) for values in trajectory.fields.values())
    assert trajectory.fields["smoke"][-1].max() > 0.5


def test_solve_is_deterministic():
    config = PROBLEM.make_config(**TINY)
    first, second = (PROBLEM.solve(config, PARAMS, PROBLEM.initial_state(config, None)) for _ in range(2))
    for name in ("velocity", "pressure", "smoke"):
        np.testing.assert_array_equal(first.fields[name], second.fields[name])


def test_generated_dataset_validates_records_parameters_and_holds_out_strong_buoyancy(tmp_path):
    """Seed 5, 4 samples: buoyancies 0.442, 0.432, 0.271, 0.414; the held-out split is the top 20 % of the
    buoyancy range, β ≥ 0.44, so sample 0 alone."""
    config, seed = PROBLEM.make_config(**TINY), 5
    path = generate(get_problem("smoke"), config, 4, tmp_path / "smoke.h5", seed=seed)
    assert schema.validate(path) == []
    with h5py.File(path) as f:
        for i in range(4):
            drawn = PROBLEM.sample_parameters(np.random.default_rng([seed, i]))
            for spec in PROBLEM.parameters:
                assert f[f"parameters/{spec.name}"][i] == drawn[spec.name]
        buoyancy = f["parameters/buoyancy"][()]
        np.testing.assert_array_equal(f["splits/test_heldout"][()], np.flatnonzero(buoyancy >= 0.44))
        assert len(f["splits/test_heldout"][()]) == 1 and len(f["splits/train"][()]) >= 1
        assert np.all(f["samples/smoke_mass_balance"][()] < 1e-12)
        assert np.all(f["samples/boundary_mass_flux"][()] < 1e-12)
        assert np.all(f["samples/relative_divergence"][()] > 0.0)
        assert f["mesh/0/fields/t0_fields/smoke"].shape == (TINY["n_frames"], f["mesh/0/points"].shape[0])
        grid_smoke = f["fields/t0_fields/smoke"][()]  # (S, T, nx, ny), interpolated
        assert grid_smoke.shape[-2:] == (65, 65) and grid_smoke[:, -1].max() > 0.1


def test_lumped_mass_integrates_p1_functions_exactly(plume):
    mesh = plume[1].geometry
    weights = mesh.lumped_mass()
    assert weights.sum() == pytest.approx(SIZE**2, rel=1e-12)
    x, y = mesh.points.T
    assert weights @ (2 * x + 3 * y) == pytest.approx(5 * SIZE**3 / 2, rel=1e-12)  # ∫(2x + 3y)


def test_presets_and_coarsening():
    default, large = PROBLEM.make_config(), PROBLEM.make_config("large")
    assert (large.h, large.dt) == (default.h / 2, default.dt)  # large refines the mesh at the default's Δt
    coarse = PROBLEM.coarsen(default, 4)
    assert coarse.h == 4 * default.h and coarse.substeps == 2 and np.array_equal(coarse.times, default.times)
    assert PROBLEM.make_config("demo").n_steps < default.n_steps
    with pytest.raises(SurrolabError, match="viscosity"):
        PROBLEM.make_config(viscosity=0.0)
    with pytest.raises(SurrolabError, match="buoyancy"):
        PROBLEM.solve(default, {**PARAMS, "buoyancy": -1.0}, PROBLEM.initial_state(default, None))
