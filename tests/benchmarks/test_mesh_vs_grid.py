"""Smoke test of the mesh-against-grid study: one family, one seed, a second of training per model."""
import json

from surrolab.benchmarks.mesh_vs_grid import main


def test_mesh_vs_grid_smoke(tmp_path):
    out = tmp_path / "mvg"
    argv = ["--quick", "--seeds", "0", "--train-seconds", "1", "--budget", "5000", "--families", "cylinder",
            "--out", str(out)]
    assert main(argv) == 0
    text = (out / "mesh_vs_grid.md").read_text()
    assert "python -m surrolab.benchmarks.mesh_vs_grid --quick --seeds 0 --train-seconds 1" in text
    assert "pipeline check" in text
    for label in ("MeshGraphNets", "FNO", "U-Net"):
        assert sum(line.startswith(f"| {label} |") for line in text.splitlines()) == 3  # errors, band, forces
    assert "| grid round trip" in text and "c_D" in text
    report = json.loads((out / "mesh_vs_grid.json").read_text())
    rows = report["rows"]
    assert {r["label"] for r in rows} == {"MeshGraphNets", "FNO", "U-Net"}
    parameters = report["settings"]["families"]["cylinder"]["parameters"]
    assert max(parameters.values()) < 2 * min(parameters.values())  # one budget
    for r in rows:
        assert r["rollout_rel_l2"] > 0 and r["band_rel_l2"] > 0 and r["epochs"] >= 1
    trip = report["grid_round_trip"]["cylinder"]
    assert 0 < trip["rollout_rel_l2"] < trip["band_rel_l2"]  # the grid loses most near the cylinder
