"""The harness on a mesh (flow) dataset: a tiny lid-driven cavity family, a tiny FNO and a tiny MeshGraphNets,
`compare()` end to end, scored on each test sample's mesh.

Velocity is a vector field, pressure a scalar; every sample has its own mesh and its own fluid region on the
shared grid. What must hold: the solver re-run reproduces the stored truth to float32 storage (on the grid inside
the fluid, and at the mesh vertices where the report scores it); grid nodes outside the fluid never change a grid
error; a coarsened solver is measurably worse than the re-run, and a coarsening the problem refuses is reported,
not raised; the grid model and the mesh model sit in one table, scored at the same vertices by the same norm;
the report gives velocity and pressure separately, and the divergence of the velocity beside that of the data.
"""
import json
import math

import numpy as np
import pytest
import torch

from surrolab.benchmarks.harness import (CompareConfig, compare, field_channels, initial_states, on_dataset_grid,
                                         score_prediction)
from surrolab.benchmarks.report import markdown, write_report
from surrolab.datasets import schema
from surrolab.datasets.generate import generate
from surrolab.datasets.splits import SplitSpec
from surrolab.datasets.torch_data import FrameWindows
from surrolab.errors import SurrolabError
from surrolab.registry import get_problem
from surrolab.surrogates.base import Normalizer, build_model, dataset_signature
from surrolab.surrogates.train_run import train_run
from surrolab.surrogates.training import TrainConfig, train

SETTINGS = dict(t_end=0.4, n_frames=3, ramp_time=0.2, grid_resolution=16)  # h = 0.1, 4 substeps per frame


@pytest.fixture(scope="module")
def cavity(tmp_path_factory):
    """Five cavities (one test, one validation, three training samples), an FNO and a MeshGraphNets trained for
    two epochs, and the harness's report on both."""
    root = tmp_path_factory.mktemp("flow")
    problem = get_problem("cavity")
    path = generate(problem, problem.make_config("demo", **SETTINGS), 5, root / "cavity.h5",
                    splits=SplitSpec(heldout_fraction=0.0))
    with schema.open_dataset(path) as f:
        d = schema.read_description(f)
        norm = Normalizer.from_dataset(f, d)
        data = [FrameWindows(schema.read_fields(f, d, i), schema.read_parameters(f, d, i), 1, 1, norm)
                for i in (schema.read_split(f, "train"), schema.read_split(f, "val"))]
    torch.manual_seed(0)
    model = build_model("fno", d, history=1, modes=4, hidden_channels=8, n_layers=2)
    train(model, norm, *data, TrainConfig(epochs=2, batch_size=4, device="cpu"), root / "fno",
          signature=dataset_signature(d))
    train_run("mgn", path, root / "mgn", epochs=2, batch_size=4, hyper={"latent": 8, "n_layers": 2}, device="cpu")
    report = compare(path, [root / "fno", root / "mgn"], CompareConfig(max_trajectories=1))
    return path, root, report


def _test_sample(path):
    with schema.open_dataset(path) as f:
        d = schema.read_description(f)
        idx = schema.read_split(f, "test")[:1]
        return (d, idx, schema.read_fields(f, d, idx), schema.read_mask(f, idx), schema.read_parameters(f, d, idx),
                json.loads(f["provenance"].attrs["problem_config"]))


def test_the_solver_rerun_reproduces_the_stored_truth_to_float32_inside_the_fluid(cavity):
    path, _, report = cavity
    d, idx, truth, inside, params, config = _test_sample(path)
    problem = get_problem("cavity")
    config = problem.make_config(**config)
    (x0,) = initial_states(problem, d, truth[:, 0], inside, 0, idx)(config, 1)
    assert all(np.all(v == 0) for v in x0.values())  # from rest, on the grid
    rerun = on_dataset_grid(d, problem.solve(config, dict(zip(d.parameter_names, params[0])), x0))
    fluid = np.broadcast_to(inside[0][None, None], truth[0].shape)
    assert np.abs(truth[0][fluid]).max() > 0.1  # the lid has set the fluid moving: not a trivial comparison
    # deterministic: the same float64 values, rounded to float32 as the dataset stored them
    np.testing.assert_allclose(rerun[fluid], truth[0][fluid], rtol=2**-23, atol=1e-12)
    assert np.all(truth[0][~fluid] == 0)  # outside the fluid the dataset holds no solution
    solver = report["solvers"][0]
    assert solver["factor"] == 1 and solver["rollout_rel_l2"] < 1e-6
    assert set(solver["field_rel_l2"]) == {"velocity", "pressure"}
    assert all(v < 1e-6 for v in solver["field_rel_l2"].values())


def test_a_coarsened_solver_is_worse_and_refused_factors_are_reported(cavity):
    _, _, report = cavity
    reference, *coarse = report["solvers"]
    assert [s["factor"] for s in coarse] == [2, 4, 8]
    half = coarse[0]
    assert half["note"] == "" and math.isfinite(half["rollout_rel_l2"])
    assert half["rollout_rel_l2"] > 1e-3 > 1e3 * reference["rollout_rel_l2"]  # h and dt doubled: a real error
    assert all(half["field_rel_l2"][f] > 1e3 * reference["field_rel_l2"][f] for f in ("velocity", "pressure"))
    eighth = coarse[2]  # 4 substeps per frame cannot be divided by 8
    assert eighth["note"].startswith("unavailable") and "not divisible" in eighth["note"]
    assert eighth["rollout_rel_l2"] == math.inf and not eighth["error_curve"]
    quarter = coarse[1]  # h = 0.4 is refused for a cavity narrower than 0.8
    assert quarter["note"].startswith("unavailable") or quarter["rollout_rel_l2"] > half["rollout_rel_l2"]


def test_grid_nodes_outside_the_fluid_never_change_a_score(cavity):
    path, *_ = cavity
    d, _, truth, inside, *_ = _test_sample(path)
    rng = np.random.default_rng(0)
    fluid = inside[:, None, None]
    pred = (truth + 0.05 * rng.normal(size=truth.shape) * fluid).astype(np.float32)
    scores = score_prediction(pred, truth, d, inside)
    garbage = pred + 10.0 * rng.normal(size=truth.shape) * ~fluid
    assert score_prediction(garbage, truth, d, inside) == scores  # every error, metric and check, bit for bit
    unmasked = score_prediction(garbage, truth, d, np.ones_like(inside))
    assert unmasked.errors.total > 10 * scores.errors.total  # counted, the garbage would dominate
    worse = score_prediction(pred + 0.05 * fluid, truth, d, inside)
    assert worse.errors.total > scores.errors.total  # inside the fluid a change counts
    assert set(scores.field_metrics) == {"velocity", "pressure"}


def test_the_divergence_check_tells_a_solenoidal_prediction_from_a_source(cavity):
    path, *_ = cavity
    d, _, truth, inside, *_ = _test_sample(path)
    floor = score_prediction(truth, truth, d, inside).divergence
    assert floor["prediction"] == floor["truth"] < 0.5  # the data's own level on this grid
    velocity = field_channels(d)["velocity"]
    x, y = np.meshgrid(*d.geometry.axes, indexing="ij")
    source = truth.copy()
    source[:, :, velocity] += np.stack([x, y])[None, None] * inside[:, None, None]  # div = 2 in the fluid
    check = score_prediction(source, truth, d, inside).divergence
    assert check["truth"] == floor["truth"] and check["prediction"] > 2 * floor["truth"]


def test_the_initial_state_must_match_the_stored_first_frame(cavity):
    path, *_ = cavity
    d, idx, truth, inside, _, config = _test_sample(path)
    problem = get_problem("cavity")
    moved = truth[:, 0].copy()
    moved[:, :, 5, 5] = 1.0  # not at rest: not what the cavity problem starts from
    with pytest.raises(SurrolabError, match="first frame"):
        initial_states(problem, d, moved, inside, 0, idx)(problem.make_config(**config), 1)


def test_the_report_gives_velocity_and_pressure_separately(cavity, tmp_path):
    _, _, report = cavity
    model, _ = report["models"]
    assert report["geometry_type"] == "mesh" and 0 < report["fluid_fraction"] < 1
    assert report["fields"]["velocity"] == {"order": 1, "units": "m/s", "channels": ["velocity_x", "velocity_y"]}
    for key in ("field_rel_l2", "field_one_step_rel_l2"):
        assert set(model[key]) == {"velocity", "pressure"}
        assert all(math.isfinite(v) and v > 0 for v in model[key].values())
    np.testing.assert_allclose(model["rollout_rel_l2"], np.mean(list(model["field_rel_l2"].values())), rtol=1e-12)
    assert set(model["field_metrics"]) == {"velocity", "pressure"}
    assert math.isfinite(model["divergence"]["prediction"]) and math.isfinite(model["divergence"]["truth"])
    assert model["conservation"] == {}  # the cavity declares no conserved field
    text = markdown(report)
    for name in ("velocity", "pressure"):
        assert f"{model['field_rel_l2'][name]:.3e}" in text
        assert f"| fno | {name} |" in text
    assert "Divergence of the velocity" in text and "unavailable" in text
    paths = write_report(report, tmp_path)
    assert json.loads(paths["json"].read_text())["models"][0]["field_rel_l2"] == model["field_rel_l2"]
    assert paths["plot"].stat().st_size > 1000


def test_grid_and_mesh_models_are_scored_at_the_same_vertices_by_the_same_norm(cavity):
    """One table: the FNO (read at the vertices from the grid) and MeshGraphNets (on the mesh), each error the
    lumped-mass relative L2 at the test sample's vertices; a perfect prediction scores 0, the data's own grid read
    at the vertices scores what the grid costs."""
    from surrolab.benchmarks.mesh_scoring import MeshScoring, read_mesh_samples

    path, _, report = cavity
    fno, mgn = report["models"]
    assert report["scored_on"] == "mesh" and (fno["model"], mgn["model"]) == ("fno", "mgn")
    for model in (fno, mgn):
        assert set(model["field_rel_l2"]) == set(model["field_one_step_rel_l2"]) == {"velocity", "pressure"}
        assert all(math.isfinite(v) and v > 0 for v in model["field_rel_l2"].values())
        assert model["band"]["rollout_rel_l2"] == model["rollout_rel_l2"] and "band_rel_l2" not in model["band"]
        assert model["forces"] is None  # the cavity has no body in the flow
        assert math.isfinite(model["speedup"]) and model["seconds_per_trajectory"] > 0
    d, idx, truth, inside, params, _ = _test_sample(path)
    with schema.open_dataset(path) as f:
        samples = read_mesh_samples(f, d, idx)
    assert report["mesh_vertices"] == [samples.meshes[0].n_points]
    space = MeshScoring(d, samples, inside, params)
    perfect = space.scores(space.truth(1), 1)
    assert perfect.errors.total == 0 and perfect.divergence["prediction"] == perfect.divergence["truth"]
    trip = report["grid_round_trip"]
    np.testing.assert_allclose(trip["rollout_rel_l2"], space.errors(space.from_grid(truth[:, 1:]), 1).total, rtol=1e-12)
    assert 0 < trip["rollout_rel_l2"] < fno["rollout_rel_l2"]  # the grid costs something; an FNO of 2 epochs more
    text = markdown(report)
    assert "Scored on the mesh" in text and "| mgn (mgn) |" in text
    assert ("Grid round trip (the data's grid fields read at the vertices, what a perfect grid prediction scores): "
            f"rollout rel. L2 {trip['rollout_rel_l2']:.3e}") in text


def test_every_model_reports_the_stability_of_its_step(cavity):
    """Perturbation growth for the grid model (10 steps on the grid) and the mesh model (the steps the stored
    boundary data allow), and the rollout error on the training trajectories, scored as the test split is."""
    from surrolab.benchmarks.harness import run_model
    from surrolab.benchmarks.mesh_scoring import MeshScoring, read_mesh_samples

    path, root, report = cavity
    fno, mgn = report["models"]
    for model, steps in ((fno, 10), (mgn, 2)):
        st = model["stability"]
        assert st["steps"] == steps and st["train_trajectories"] == 3
        assert 0 < st["grid_scale_growth"] < 1e3 and 0 < st["smooth_growth"] < 1e3
        assert st["unstable"] == (st["grid_scale_growth"] > 1.1)
        assert math.isfinite(st["train_rollout_rel_l2"]) and st["train_rollout_rel_l2"] > 0
    with schema.open_dataset(path) as f:
        d = schema.read_description(f)
        idx = schema.read_split(f, "train")
        truth, inside, params = schema.read_fields(f, d, idx), schema.read_mask(f, idx), schema.read_parameters(f, d, idx)
        space = MeshScoring(d, read_mesh_samples(f, d, idx), inside, params)
    run = run_model(root / "fno", d, truth, params, "cpu", inside[:, None, None])
    expected = space.errors([x[1:] for x in space.from_grid(run.prediction)], 1).total
    np.testing.assert_allclose(fno["stability"]["train_rollout_rel_l2"], expected, rtol=1e-6)
    assert "Stability of the learned step" in markdown(report) and "| mgn (mgn) |" in markdown(report)
