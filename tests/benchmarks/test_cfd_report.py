"""The CFD report end to end: a tiny cavity family, an FNO trained for one epoch by `surrolab train`, the report
in Markdown and as one self-contained HTML page."""
import json
import re

import pytest

from surrolab.benchmarks import cfd_report
from surrolab.cli import main as surrolab
from surrolab.datasets.generate import generate
from surrolab.datasets.splits import SplitSpec
from surrolab.registry import get_problem

SETTINGS = dict(t_end=0.4, n_frames=3, ramp_time=0.2, grid_resolution=16)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("cfd")
    problem = get_problem("cavity")
    config = problem.make_config("demo", **SETTINGS)
    generate(problem, config, 5, root / "data" / "cavity.h5",
             splits=SplitSpec(heldout_parameter="viscosity", heldout_fraction=0.2))  # 2 train, 1 val, 1 test, 1 held out
    # one kind's test set, as `surrolab generate --vary lid_speed --test-fraction 1` makes it
    assert surrolab(["generate", "cavity", "--preset", "demo", *sum((["--set", f"{k}={v}"] for k, v in SETTINGS.items()), []),
                     "--samples", "2", "--seed", "1", "--vary", "lid_speed", "--val-fraction", "0",
                     "--test-fraction", "1", "--heldout-parameter", "", "--out", str(root / "data" / "cavity_bc.h5")]) == 0
    assert surrolab(["train", "fno", "--data", str(root / "data" / "cavity.h5"), "--out", str(root / "runs" / "cavity"
                     / "fno"), "--epochs", "1", "--batch-size", "4", "--history", "1", "--device", "cpu",
                     "--set", "modes=4", "--set", "hidden_channels=8", "--set", "n_layers=2"]) == 0
    out = root / "report"
    assert cfd_report.main(["--runs-root", str(root / "runs"), "--data-root", str(root / "data"), "--out", str(out),
                            "--max-trajectories", "1", "--coarsen", "2"]) == 0
    return root, out


def test_the_report_has_every_models_numbers_in_markdown_and_html(made):
    _, out = made
    report = json.loads((out / "cfd_report.json").read_text())
    cavity = report["families"]["cavity"]
    assert set(cavity["splits"]) == {"test", "test_heldout", "boundary condition"}
    text, page = (out / "cfd_report.md").read_text(), (out / "cfd_report.html").read_text()
    for split, res in cavity["splits"].items():
        (model,) = res["compare"]["models"]
        assert model["label"] == "fno"
        for value in (model["one_step_rel_l2"], model["rollout_rel_l2"]):
            assert f"{value:.3e}" in text and f"{value:.3e}" in page
        for value in (model["speedup"], model["speedup_at_matched_error"]):
            assert f"{value:.3g}x" in text and f"{value:.3g}x" in page
    # the parameters and their kind of variation
    roles = {p["name"]: p["role"] for p in cavity["parameters"]}
    assert roles == {"lid_speed": "boundary condition", "density": "physical properties",
                     "viscosity": "physical properties", "width": "geometry", "height": "geometry"}
    # in the kind's test set only the lid speed varies (read from the data), the rest at its default
    assert cavity["splits"]["boundary condition"]["varied"] == ["lid_speed"]
    assert "| cavity | boundary condition | cavity_bc.h5 (test) | lid_speed |" in text
    # missing kinds and families without data are listed as not reported, not raised
    assert any("geometry: no dataset" in n for n in cavity["notes"])
    assert any("no dataset" in n for n in report["families"]["tube"]["notes"])
    assert "tube: no dataset" in text


def test_the_html_page_is_self_contained(made):
    _, out = made
    page = (out / "cfd_report.html").read_text()
    assert "http" not in page and "url(" not in page
    sources = re.findall(r"src\s*=\s*['\"]([^'\"]*)", page)
    report = json.loads((out / "cfd_report.json").read_text())
    n_splits = len(report["families"]["cavity"]["splits"])
    assert len(sources) == 2 * n_splits  # error curves and fields per variation
    assert all(s.startswith("data:image/png;base64,") and len(s) > 2000 for s in sources)
    assert "<link" not in page and "<script" not in page
