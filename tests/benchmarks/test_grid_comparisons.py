"""Smoke test of the grid comparison script: one study, end to end, at the smallest settings."""
from surrolab.benchmarks.grid_comparisons import main


def test_t1_vs_fno_smoke(tmp_path, capsys):
    out = tmp_path / "gc"
    assert main(["t1-vs-fno", "--quick", "--seeds", "0", "1", "--epochs", "1", "--out", str(out)]) == 0
    text = (out / "t1-vs-fno.md").read_text()
    assert "python -m surrolab.benchmarks.grid_comparisons t1-vs-fno --quick --seeds 0 1 --epochs 1" in text
    assert "not the papers' setting" in text
    table = text.split("## Per field")[0]
    rows = [line for line in table.splitlines() if line.startswith("| T1") or line.startswith("| FNO")]
    assert len(rows) == 6  # T1 at m and 2m, FNO at both targets, T1 at the FNO's training time at m and 2m
    for row in rows:  # one-step, rollout and train time, each mean ± std over the two seeds
        assert row.count("±") == 3
    baselines = [line for line in table.splitlines() if line.startswith("| persistence") or "oracle" in line]
    assert len(baselines) == 3 and all("±" not in line for line in baselines)
    import json

    result = json.loads((out / "t1-vs-fno.json").read_text())
    summary = result["summary"]
    assert {s["label"] for s in summary} >= {"T1, m = 6", "FNO", "FNO, change as target", "persistence"}
    by = {s["label"]: s for s in summary}
    for s in summary:
        assert s["seeds"] == ([None] if s["model"] == "baseline" else [0, 1])
        for m in ("one_step_rel_l2", "rollout_rel_l2"):
            assert s[m]["mean"] > 0 and s[m]["std"] >= 0
    # the band-limited oracle is the floor of any model that changes only the kept modes
    assert by["band-limited oracle, m = 6"]["one_step_rel_l2"]["mean"] < by["persistence"]["one_step_rel_l2"]["mean"]
    # the equal-time T1 trained for the epochs the FNO's time allows at T1's own seconds per epoch
    rows = {(r["label"], r["seed"]): r for r in result["rows"]}
    for seed in (0, 1):
        timed, t1, fno = (rows[(label, seed)] for label in ("T1, m = 6, FNO's training time", "T1, m = 6", "FNO"))
        assert timed["epochs"] == max(1, round(fno["train_seconds"] / t1["train_seconds"] * t1["epochs"]))
