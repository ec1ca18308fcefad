"""`surrolab train gns|giorom` on a particle dataset: the models are built from what the dataset says (per-frame
statistics of the training split, the box inside the MPM walls, the particle spacing behind the default radius),
train in the one loop, and their checkpoints rebuild them; wrong pairings and settings fail with the field named."""
import numpy as np
import pytest
import torch

from surrolab.cli import main
from surrolab.errors import SurrolabError
from surrolab.surrogates.base import load_checkpoint, model_from_checkpoint
from surrolab.surrogates.particle_run import (NOISE_PER_ACCELERATION_STD, RADIUS_SPACINGS, particle_model_arguments,
                                              read_trajectories)
from surrolab.surrogates.train_run import train_run

N_GRID = 32


@pytest.fixture(scope="module")
def water(tmp_path_factory):
    from surrolab.datasets.generate import generate
    from surrolab.datasets.splits import SplitSpec
    from surrolab.registry import get_problem

    problem = get_problem("mpm_blob_water")
    frames = dict(dim=2, n_grid=N_GRID, t_end=0.06, n_frames=13)
    config = problem.Config(**frames, substeps=problem.stable_substeps(**frames))
    splits = SplitSpec(val_fraction=0.25, test_fraction=0.25, heldout_parameter="")
    return generate(problem, config, 4, tmp_path_factory.mktemp("particles") / "water.h5", seed=1, splits=splits)


def arguments_of(path):
    from surrolab.datasets import schema

    with schema.open_dataset(path) as f:
        positions, types = read_trajectories(f, schema.read_split(f, "train"))
        return particle_model_arguments(f, schema.read_description(f), positions), positions, types


def test_the_model_arguments_are_the_training_split_per_frame_and_the_box_inside_the_walls(water):
    arguments, positions, types = arguments_of(water)
    velocity = np.concatenate([np.diff(p.astype(np.float64), axis=0).reshape(-1, 2) for p in positions])
    acceleration = np.concatenate([np.diff(p.astype(np.float64), 2, axis=0).reshape(-1, 2) for p in positions])
    for (mean, std), values in ((arguments["velocity_stats"], velocity), (arguments["acceleration_stats"], acceleration)):
        np.testing.assert_allclose(mean, values.mean(0), rtol=1e-4, atol=1e-9)
        np.testing.assert_allclose(std, values.std(0), rtol=1e-4)
    wall = 3 / N_GRID  # WALL_CELLS grid cells of the unit box
    np.testing.assert_allclose(arguments["bounds"][0], [wall, wall])
    np.testing.assert_allclose(arguments["bounds"][1], [1 - wall, 1 - wall])
    assert arguments["spacing"] == pytest.approx(1 / (2 * N_GRID), rel=0.05)  # two particles per cell per axis
    assert arguments["dim"] == 2 and arguments["n_types"] == 1 and all((t == 0).all() for t in types)
    assert all(p.min() > wall - 1e-9 and p.max() < 1 - wall + 1e-9 for p in positions)  # the walls hold them


def test_surrolab_train_gns_builds_from_the_dataset_and_its_checkpoint_rebuilds_the_model(water, tmp_path):
    arguments, positions, types = arguments_of(water)
    run = tmp_path / "gns"
    assert main(["train", "gns", "--data", str(water), "--out", str(run), "--epochs", "2", "--batch-size", "4",
                 "--set", "latent=16", "--set", "n_layers=1"]) == 0
    payload = load_checkpoint(run)
    constructor = payload["constructor"]
    assert payload["model"] == "gns" and constructor["latent"] == 16 and constructor["n_layers"] == 1
    assert constructor["history"] == 5  # GNS's own default, not the grid models' 2
    assert constructor["radius"] == pytest.approx(RADIUS_SPACINGS * arguments["spacing"])
    assert payload["training_noise"] == pytest.approx(NOISE_PER_ACCELERATION_STD
                                                      * np.mean(arguments["acceleration_stats"][1]))
    model, normalizer = model_from_checkpoint(payload)
    assert normalizer is None  # the statistics are the model's buffers
    window = torch.as_tensor(positions[0][:6]).transpose(0, 1)
    with torch.no_grad():
        acceleration = model.predict(window, torch.as_tensor(types[0], dtype=torch.long))
    assert acceleration.shape == (positions[0].shape[1], 2) and torch.isfinite(acceleration).all()
    lines = (run / "log.csv").read_text().splitlines()
    assert len(lines) == 3 and all(np.isfinite(float(x)) for x in lines[-1].split(",")[1:3])  # train, val loss


def test_giorom_trains_on_its_sparse_share_with_the_sparse_sets_radius(water, tmp_path):
    arguments, *_ = arguments_of(water)
    result = train_run("giorom", water, tmp_path / "giorom", epochs=1, batch_size=4,
                       hyper={"latent": 16, "n_layers": 1, "grid_points": 8, "fraction": 0.25, "noise": 0.0})
    payload = load_checkpoint(result["run"])
    assert payload["model"] == "giorom" and payload["fraction"] == 0.25 and payload["sampling"] == "fps"
    assert payload["training_noise"] == 0.0  # 0 is "no noise"; only a negative value means "from the data"
    # a quarter of the particles, as evenly spread: the spacing doubles in 2D, and so does the radius
    assert payload["constructor"]["radius"] == pytest.approx(RADIUS_SPACINGS * arguments["spacing"] * 2)


@pytest.mark.parametrize("model, settings, message", [
    ("giorom", {"fraction": 2.0}, "fraction=2.0"),
    ("gns", {"fraction": 0.5}, "allowed: .*latent"),
    ("gns", {"radius": 0.0}, "radius=0"),
    ("fno", {}, "particle dataset"),
])
def test_bad_settings_and_pairings_fail_naming_what_is_wrong(water, tmp_path, model, settings, message):
    with pytest.raises(SurrolabError, match=message):
        train_run(model, water, tmp_path / "run", epochs=1, hyper=settings)


def test_a_particle_model_refuses_a_grid_dataset(tiny_dataset, tmp_path):
    with pytest.raises(SurrolabError, match="particle model"):
        train_run("gns", tiny_dataset, tmp_path / "run", epochs=1)


def test_compare_points_a_particle_dataset_to_the_particle_study(water, tmp_path):
    from surrolab.benchmarks.harness import compare

    with pytest.raises(SurrolabError, match="giorom_vs_gns"):
        compare(water, [tmp_path / "gns"])
