"""The CFD benchmark in one command (generate, train, report), on a tiny cavity family."""
import json

from surrolab.benchmarks import cfd_benchmark, cfd_report
from surrolab.registry import get_problem


def test_one_command_makes_every_variation_trains_every_model_and_reports(tmp_path):
    out = tmp_path / "cfd"
    assert cfd_benchmark.main(["--quick", "--families", "cavity", "--out", str(out), "--coarsen", "2",
                               "--max-trajectories", "2"]) == 0
    report = json.loads((out / "report" / "cfd_report.json").read_text())
    cavity = report["families"]["cavity"]
    assert set(cavity["splits"]) == {v.name for v in cfd_report.VARIATIONS}
    for name, res in cavity["splits"].items():
        assert {m["label"] for m in res["compare"]["models"]} == set(cfd_benchmark.QUICK_MODELS)
    parameters = get_problem("cavity").parameters
    for kind in cfd_report.ROLES:  # each kind's test set varies exactly that kind's parameters
        assert sorted(cavity["splits"][kind]["varied"]) == sorted(cfd_report.kind_parameters(parameters, kind))
    assert "python -m surrolab.benchmarks.cfd_benchmark --quick" in (out / "report" / "cfd_report.md").read_text()
    # a second call reuses the datasets and runs (no epoch is trained again): only the report is made again
    before = {p: p.stat().st_mtime_ns for p in [*out.rglob("*.h5"), *out.rglob("log.csv")]}
    assert cfd_benchmark.main(["--quick", "--families", "cavity", "--out", str(out), "--coarsen", "2",
                               "--max-trajectories", "2"]) == 0
    assert before == {p: p.stat().st_mtime_ns for p in before}
