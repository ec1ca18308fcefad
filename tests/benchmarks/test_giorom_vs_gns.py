"""The GIOROM-vs-GNS study (issue 7): the statistics are the frame differences in frame units, the oracle
of the floor drives the sparse nodes along their true trajectory, and the whole pipeline (datasets through the
one generator, both models in the one training loop in worker processes, rollouts, timings, the report) runs
at the quick settings, where the reconstruction from the true sparse trajectory tracks the motion."""
import numpy as np
import pytest
import torch

from surrolab.benchmarks import giorom_vs_gns as study


def test_statistics_are_per_frame_differences():
    t = np.arange(7)[:, None, None] * 1.0
    positions = np.concatenate([0.5 + 0.01 * t, 0.2 - 0.002 * t**2], axis=2) * np.ones((1, 3, 1))  # (7, 3, 2)
    (v_mean, v_std), (a_mean, a_std) = study.statistics([positions], frame_interval=0.1)
    assert v_mean[0] == pytest.approx(0.01) and v_std[0] == pytest.approx(0.0, abs=1e-12)
    assert a_mean == pytest.approx([0.0, -0.004]) and a_std == pytest.approx([0.0, 0.0], abs=1e-12)


def test_the_oracle_gives_the_acceleration_onto_the_true_frame():
    truth = torch.rand(8, 5, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sparse = np.array([0, 3])
    a = study._true_acceleration(truth, sparse, 6)
    assert torch.allclose(truth[5, sparse] + (truth[5, sparse] - truth[4, sparse]) + a, truth[6, sparse])


def test_the_quick_study_runs_end_to_end(tmp_path):
    result = study.run(study.QUICK, tmp_path, jobs=1, material_names=("water", "jelly"))
    assert [r["material"] for r in result["rows"]] == ["water", "jelly"]
    for row in result["rows"]:
        assert 0 < row["sparse_nodes"] < row["particles"]
        for model in ("gns", "giorom", "giorom_floor", "at_rest"):
            assert np.isfinite(row[model]["mean"]) and row[model]["mean"] > 0
        # interpolating the true sparse trajectory follows the falling blob far better than standing still
        assert row["giorom_floor"]["mean"] < 0.2 * row["at_rest"]["mean"]
        assert row["gns_ms_per_step"] > 0 and row["giorom_ms_per_step"] > 0
    assert [r["particles"] for r in result["scaling"]] == [289, 1024]
    assert {(c["kind"], c["material"]) for c in result["training"]} == {
        (k, m) for k in ("gns", "giorom") for m in ("water", "jelly")}
    text = study.report(result, "python -m surrolab.benchmarks.giorom_vs_gns --quick")
    assert text.count("| water | 0 |") == 1 and "| gns | jelly |" in text and "| giorom | water |" in text
