"""Smoke test of the grid comparison script: one study, end to end, at the smallest settings."""
from surrolab.benchmarks.grid_comparisons import main


def test_t1_vs_fno_smoke(tmp_path, capsys):
    out = tmp_path / "gc"
    assert main(["t1-vs-fno", "--quick", "--seeds", "0", "1", "--epochs", "1", "--out", str(out)]) == 0
    text = (out / "t1-vs-fno.md").read_text()
    assert "python -m surrolab.benchmarks.grid_comparisons t1-vs-fno --quick --seeds 0 1 --epochs 1" in text
    assert "not the papers' setting" in text
    rows = [line for line in text.splitlines() if line.startswith("| T1 ") or line.startswith("| FNO ")]
    assert len(rows) == 2
    for row in rows:  # one-step, rollout and train time, each mean ± std over the two seeds
        assert row.count("±") == 3
    import json

    summary = json.loads((out / "t1-vs-fno.json").read_text())["summary"]
    assert {s["label"] for s in summary} == {"T1", "FNO"}
    for s in summary:
        assert s["seeds"] == [0, 1]
        for m in ("one_step_rel_l2", "rollout_rel_l2"):
            assert s[m]["mean"] > 0 and s[m]["std"] >= 0
