"""The NCLaw-vs-GNS study (issue 6): the scenes are the ones described, the horizon case continues the
training run exactly, the error is the mean particle distance, and the whole pipeline (training in worker
processes, rollouts of both models, the report) runs at the quick settings."""
import numpy as np
import pytest
import warp as wp

from surrolab.benchmarks import nclaw_generalisation as study

wp.config.quiet = True


def test_scenes_and_the_horizon_case_extends_the_training_run():
    settings = study.QUICK
    x, v, ids = study.scene("training", settings)
    assert x.min(axis=0) == pytest.approx([0.3 + 0.0125, 0.16 + 0.0125]) and np.all(ids == 0)
    shape = study.scene("shape", settings)[0]
    assert abs(len(shape) - len(x)) < 0.3 * len(x) and len(shape) != len(x)  # 109 and 144 particles
    _, spin, _ = study.scene("velocity", settings)
    assert spin.std(axis=0).max() > 0.1  # rotating, not a uniform velocity
    assert set(study.scene("multi", settings)[2]) == {0, 1, 2, 3}
    law = [study.materials()["jelly"]]
    training = study.run_scene(law, "training", settings, every=5)
    horizon = study.run_scene(law, "horizon", settings, every=5)
    assert len(horizon) == 2 * (len(training) - 1) + 1
    for a, b in zip(training, horizon):
        assert np.array_equal(a["x"], b["x"])


def test_errors_are_mean_particle_distances_and_divergence_is_reported():
    truth = np.zeros((5, 4, 2))
    prediction = truth.copy()
    prediction[:, :, 0] = np.arange(5)[:, None] * 1e-3  # frame k: every particle k mm off
    assert study.errors_mm(prediction, truth, first=2) == pytest.approx({"mean": 3.0, "final": 4.0})
    prediction[3:] = np.nan
    assert study.errors_mm(prediction, truth, first=2) == {"mean": np.inf, "final": np.inf, "diverged_at_frame": 3}


def test_the_quick_study_runs_end_to_end(tmp_path):
    result = study.run(study.QUICK, jobs=1, material_names=("jelly",))
    assert [(r["material"], r["case"]) for r in result["rows"]] == [
        ("jelly", c) for c in study.CASES] + [("jelly", "multi-material")]
    for row in result["rows"]:
        for model in ("nclaw", "gns"):
            assert np.isfinite(row[model]["mean"]) or "diverged_at_frame" in row[model]
    assert {(c["kind"], c["name"]) for c in result["training"]} == {("nclaw", "jelly"), ("gns", "jelly"),
                                                                     ("gns", "all")}
    assert all(c["rss_peak_mib"] >= c["rss_before_mib"] > 0 and c["seconds"] > 0 for c in result["training"])
    text = study.report(result, "python -m surrolab.benchmarks.nclaw_generalisation --quick")
    assert text.count("\n| jelly |") == len(study.CASES) + 1 and "| jelly | multi-material |" in text
