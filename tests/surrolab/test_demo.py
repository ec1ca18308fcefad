"""The demo in its small setting: the whole pipeline runs and its report holds real, finite numbers."""
import json
import math

from surrolab.cli import main
from surrolab.datasets.schema import validate


def test_quick_demo_runs_end_to_end(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| model |" in out and "speed-up" in out
    assert validate(tmp_path / "data" / "diffusion_reaction.h5") == []
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    (model,) = report["models"]
    for key in ("one_step_rel_l2", "rollout_rel_l2", "seconds_per_trajectory", "speedup", "speedup_at_matched_error"):
        assert math.isfinite(model[key]) and model[key] > 0, key
    solver = report["solvers"][0]
    assert solver["factor"] == 1 and solver["rollout_rel_l2"] < 1e-6  # the re-run reproduces the stored data
    assert [s["factor"] for s in report["solvers"][1:]] == [2, 4, 8]
    heldout = json.loads((tmp_path / "report_heldout" / "report.json").read_text())
    assert heldout["split"] == "test_heldout" and heldout["models"]
    # coarser solvers are less accurate, which the matched-error speed-up relies on
    errors = [s["rollout_rel_l2"] for s in report["solvers"]]
    assert errors == sorted(errors)
    assert (tmp_path / "report" / "error_vs_time.png").stat().st_size > 1000
    assert (tmp_path / "viz" / "diffusion_reaction_sample0000.xdmf").exists()
