"""The CFDBench-style report: every trained surrogate against the solver on each flow family.

For each family (cavity, tube, dam, cylinder) with a dataset `<data-root>/<family>.h5` and run folders
`<runs-root>/<family>/<model>/` (checkpoints written by `surrolab train`), `harness.compare()` is run on
two variations of the test data:

- `test`: a random test split, parameters drawn from the training ranges (interpolation);
- `test_heldout`: the samples whose held-out parameter lies in the top of its range (unseen parameters).

CFDBench varies three kinds of condition: the boundary condition, the physical properties and the
geometry. Here they are the parameter groups of each family (`parameter_role`: a speed in m/s is the
boundary condition, a length in m the geometry, the rest -- density, viscosity -- physical properties).
The samples of a family vary all groups at once, so the report does not have one dataset per kind: it
assigns each test sample to the kind of its parameter farthest from the training mean (in units of the
parameter's sampling range) and gives every model's rollout error per kind, from a rollout of the model
alone (the solver is not run again for that).

Outputs: `cfd_report.md` (tables), `cfd_report.html` (one self-contained page: the tables and PNG plots
embedded as data URIs: error against rollout step per family and variation, and truth, prediction and
error of the velocity magnitude at the last frame of one test sample, masked outside the fluid) and
`cfd_report.json` (the `compare()` reports it was made from, and the per-kind errors).
"""
from __future__ import annotations

import argparse
import base64
import html
import io
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from surrolab.benchmarks.report import draw_error_curves
from surrolab.errors import SurrolabError

if TYPE_CHECKING:  # annotations only: the harness imports torch and the solvers
    from surrolab.benchmarks.harness import CompareConfig

# the harness (torch, the solvers) and the dataset schema (h5py) are imported where they are used, so that the
# CLI can add this module's arguments (`add_arguments`) without loading them

FAMILIES = ("cavity", "tube", "dam", "cylinder")
VARIATIONS = {"test": "random test split (seen parameter ranges)",
              "test_heldout": "held-out split (unseen parameters: top of one parameter's range)"}
ROLES = ("boundary condition", "physical properties", "geometry")


def parameter_role(spec) -> str:
    """CFDBench's kind of variation a parameter belongs to, from its units and name."""
    if spec.units == "m/s" or "speed" in spec.name:
        return "boundary condition"
    if spec.units == "m":
        return "geometry"
    return "physical properties"


def discover(runs_root: str | Path, data_root: str | Path, families=FAMILIES) -> dict[str, dict]:
    """family -> {"data": path or None, "runs": [run folders with a model.pt]}."""
    runs_root, data_root = Path(runs_root), Path(data_root)
    found = {}
    for family in families:
        data = data_root / f"{family}.h5"
        folder = runs_root / family
        runs = sorted(p for p in folder.iterdir() if (p / "model.pt").is_file()) if folder.is_dir() else []
        found[family] = {"data": data if data.is_file() else None, "runs": runs}
    return found


# -- per-sample errors by kind of variation -----------------------------------------------------------
@dataclass
class SampleView:
    """What the field plot needs: one test sample's last frame, truth and each model's prediction."""

    axes: tuple
    inside: np.ndarray  # (*spatial) bool
    truth: np.ndarray  # (C, *spatial)
    predictions: dict[str, np.ndarray]  # run label -> (C, *spatial)
    channels: slice  # the velocity's channels (or the first field's)
    field: str
    sample: int


def _magnitude(frame: np.ndarray, channels: slice) -> np.ndarray:
    return np.sqrt(np.sum(frame[channels] ** 2, axis=0))


def per_sample(data: Path, runs: list[Path], split: str, config: CompareConfig):
    """Each model's rollout error on each sample of the split, the kind of variation of each sample (the
    role of its parameter farthest from the training mean, in sampling ranges), and a `SampleView` of the
    split's first sample. Models only: no solver run."""
    from surrolab.benchmarks.harness import field_channels, rollout_errors, run_model
    from surrolab.datasets import schema

    with schema.open_dataset(data) as f:
        d = schema.read_description(f)
        idx = schema.read_split(f, split)[: config.max_trajectories]
        if len(idx) == 0:
            raise SurrolabError(f"split {split!r} of {data} is empty")
        truth = schema.read_fields(f, d, idx)
        inside = schema.read_mask(f, idx)
        params = schema.read_parameters(f, d, idx)
        train_params = schema.read_parameters(f, d, schema.read_split(f, "train"))
    spans = np.array([max(p.high - p.low, 1e-30) for p in d.parameters])
    distance = np.abs(params - train_params.mean(axis=0)) / spans  # (N, P)
    farthest = distance.argmax(axis=1)
    samples = [{"index": int(i), "farthest_parameter": d.parameters[k].name,
                "kind": parameter_role(d.parameters[k]), "distance": float(distance[n, k])}
               for n, (i, k) in enumerate(zip(idx, farthest))]
    fields = field_channels(d)
    errors, predictions = {}, {}
    for run in runs:
        pred, _, _, payload, _ = run_model(run, d, truth, params, config.device, inside[:, None, None])
        h = int(payload["constructor"]["history"])  # the first h frames are given, not predicted
        errors[run.name] = [rollout_errors(pred[n:n + 1, h:], truth[n:n + 1, h:], fields, inside[n:n + 1]).total
                            for n in range(len(idx))]
        predictions[run.name] = pred[0, -1]
    by_kind = {}
    for kind in ROLES:
        members = [n for n, s in enumerate(samples) if s["kind"] == kind]
        if members:
            by_kind[kind] = {"samples": len(members),
                             "rollout_rel_l2": {label: float(np.mean([e[n] for n in members]))
                                                for label, e in errors.items()}}
    name = "velocity" if "velocity" in fields else next(iter(fields))
    view = SampleView(axes=tuple(d.geometry.axes), inside=inside[0], truth=truth[0, -1], predictions=predictions,
                      channels=fields[name], field=name, sample=int(idx[0]))
    return samples, by_kind, errors, view


# -- building the report ------------------------------------------------------------------------------
def build(runs_root: str | Path, data_root: str | Path, families=FAMILIES, config=None,
          splits=tuple(VARIATIONS)) -> tuple[dict, dict]:
    """(report, views): the JSON-ready report and, per (family, split), the `SampleView` for the field plot.
    `config` is a `harness.CompareConfig` (its split is ignored: every split of `splits` is compared)."""
    from surrolab.benchmarks.harness import CompareConfig, compare
    from surrolab.datasets import schema

    config = CompareConfig() if config is None else config
    report = {"families": {}, "variations": {s: VARIATIONS.get(s, s) for s in splits}, "device": config.device}
    views = {}
    for family, where in discover(runs_root, data_root, families).items():
        entry = {"data": str(where["data"]) if where["data"] else None, "runs": [str(r) for r in where["runs"]],
                 "parameters": [], "splits": {}, "notes": []}
        report["families"][family] = entry
        if where["data"] is None:
            entry["notes"].append(f"no dataset {Path(data_root) / (family + '.h5')}")
            continue
        with schema.open_dataset(where["data"]) as f:
            d = schema.read_description(f)
        entry["parameters"] = [{"name": p.name, "units": p.units, "low": p.low, "high": p.high,
                                "role": parameter_role(p)} for p in d.parameters]
        if not where["runs"]:
            entry["notes"].append(f"no trained runs under {Path(runs_root) / family}")
            continue
        for split in splits:
            split_config = CompareConfig(split=split, max_trajectories=config.max_trajectories,
                                         coarsen_factors=config.coarsen_factors, device=config.device)
            try:
                result = compare(where["data"], where["runs"], split_config)
                samples, by_kind, errors, view = per_sample(where["data"], where["runs"], split, split_config)
            except SurrolabError as err:  # an empty split, a checkpoint for another dataset, ...
                entry["notes"].append(f"{split}: {err}")
                continue
            entry["splits"][split] = {"compare": result, "samples": samples, "by_kind": by_kind,
                                      "sample_rollout_rel_l2": errors}
            views[(family, split)] = view
    return report, views


def _fmt(x) -> str:
    if x is None:
        return "n/a"
    return f"{x:.3e}" if isinstance(x, float) and math.isfinite(x) else f"{x:.3g}"


def rows(report: dict) -> list[list[str]]:
    """The headline table: family, variation, model, one-step and rollout rel. L2, speed-ups."""
    out = []
    for family, entry in report["families"].items():
        for split, res in entry["splits"].items():
            for m in res["compare"]["models"]:
                matched = m["matched_solver"] + ("" if m["matched_error_bound"] == "matched"
                                                 else " (solver still more accurate)")
                out.append([family, split, f"{m['label']} ({m['model']})", _fmt(m["one_step_rel_l2"]),
                            _fmt(m["rollout_rel_l2"]), f"{m['speedup']:.3g}x", f"{m['speedup_at_matched_error']:.3g}x",
                            matched])
    return out


HEADER = ["family", "variation", "model", "one-step rel. L2", "rollout rel. L2", "speed-up",
          "speed-up at matched error", "matched solver"]


def kind_rows(report: dict) -> list[list[str]]:
    out = []
    for family, entry in report["families"].items():
        for split, res in entry["splits"].items():
            for kind, k in res["by_kind"].items():
                for label, err in k["rollout_rel_l2"].items():
                    out.append([family, split, kind, str(k["samples"]), label, _fmt(err)])
    return out


KIND_HEADER = ["family", "variation", "kind (farthest parameter)", "samples", "model", "rollout rel. L2"]


def parameter_rows(report: dict) -> list[list[str]]:
    return [[family, p["name"], p["units"], f"{p['low']:g} to {p['high']:g}", p["role"]]
            for family, entry in report["families"].items() for p in entry["parameters"]]


PARAM_HEADER = ["family", "parameter", "units", "sampling range", "kind of variation"]

EXPLAIN = ("Speed-up = solver seconds per trajectory / surrogate seconds per trajectory (both timed on this machine "
           "after a warm-up); speed-up at matched error is against the cheapest coarsened solver whose rollout error "
           "is at or below the surrogate's. Errors are relative L2 on the dataset's grid, inside the fluid only, mean "
           "over the fields. Kinds of variation: every sample varies all parameters at once; a test sample is counted "
           "under the kind of its parameter farthest from the training mean (in units of its sampling range).")


def _md_table(header, body) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + \
           ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in body]


def markdown(report: dict) -> str:
    lines = ["# CFD benchmark: surrogates against the solver", "",
             "Variations: " + "; ".join(f"`{k}`: {v}" for k, v in report["variations"].items()) + ".", "",
             *_md_table(HEADER, rows(report)), "", EXPLAIN, "",
             "## Error by kind of variation", "", *_md_table(KIND_HEADER, kind_rows(report)), "",
             "## Parameters and their kind of variation", "", *_md_table(PARAM_HEADER, parameter_rows(report))]
    notes = [f"- {family}: {n}" for family, e in report["families"].items() for n in e["notes"]]
    if notes:
        lines += ["", "## Not reported", "", *notes]
    return "\n".join(lines) + "\n"


# -- plots and the HTML page --------------------------------------------------------------------------
def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def plot_error_curves(family: str, split: str, result: dict) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(6, 3.6))
    draw_error_curves(ax, result, np.arange(len(result["times"])), legend_size=7)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("rollout step")
    ax.set_title(f"{family}, {split}: error against rollout step")
    fig.tight_layout()
    return _png(fig)


def plot_fields(family: str, split: str, view: SampleView) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outside = ~view.inside
    truth = np.ma.array(_magnitude(view.truth, view.channels), mask=outside)
    n = max(1, len(view.predictions))
    fig, axs = plt.subplots(n, 3, figsize=(11, 3.2 * n), squeeze=False)
    extent = None
    if len(view.axes) == 2:
        extent = [view.axes[0][0], view.axes[0][-1], view.axes[1][0], view.axes[1][-1]]
    vmax = float(truth.max()) if truth.count() else 1.0
    for row, (label, frame) in zip(axs, view.predictions.items()):
        pred = np.ma.array(_magnitude(frame, view.channels), mask=outside)
        for ax, img, title, cmap, vm in ((row[0], truth, "truth", "viridis", vmax),
                                         (row[1], pred, f"{label}: prediction", "viridis", vmax),
                                         (row[2], np.abs(pred - truth), f"{label}: |error|", "magma", None)):
            im = ax.imshow(img.T, origin="lower", extent=extent, cmap=cmap, vmin=0, vmax=vm, aspect="equal")
            ax.set_title(title, fontsize=9)
            fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(f"{family}, {split}, sample {view.sample}: |{view.field}| at the last frame", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def _html_table(header, body) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>"


def html_page(report: dict, views: dict) -> str:
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>CFD benchmark report</title><style>",
             "body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #bbb;padding:3px 8px;font-size:13px}th{background:#eee}img{max-width:100%}",
             "</style></head><body><h1>CFD benchmark: surrogates against the solver</h1>",
             "<p>" + html.escape("Variations: " + "; ".join(f"{k}: {v}" for k, v in report["variations"].items()))
             + "</p>", _html_table(HEADER, rows(report)), f"<p>{html.escape(EXPLAIN)}</p>",
             "<h2>Error by kind of variation</h2>", _html_table(KIND_HEADER, kind_rows(report)),
             "<h2>Parameters and their kind of variation</h2>", _html_table(PARAM_HEADER, parameter_rows(report))]
    for family, entry in report["families"].items():
        parts.append(f"<h2>{html.escape(family)}</h2>")
        for note in entry["notes"]:
            parts.append(f"<p><em>{html.escape(note)}</em></p>")
        for split, res in entry["splits"].items():
            parts.append(f"<h3>{html.escape(split)}</h3>")
            parts.append(f"<img alt='error against rollout step' src='{plot_error_curves(family, split, res['compare'])}'>")
            if (family, split) in views:
                parts.append(f"<img alt='fields' src='{plot_fields(family, split, views[(family, split)])}'>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write(report: dict, views: dict, out_dir: str | Path) -> dict[str, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "cfd_report.json", "markdown": out_dir / "cfd_report.md",
             "html": out_dir / "cfd_report.html"}
    paths["json"].write_text(json.dumps(report, indent=2, default=float))
    paths["markdown"].write_text(markdown(report))
    paths["html"].write_text(html_page(report, views))
    return paths


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs-root", default="runs", help="folder with <family>/<model>/ run folders (default runs)")
    p.add_argument("--data-root", default="data", help="folder with <family>.h5 datasets (default data)")
    p.add_argument("--out", default="reports/cfd", help="report folder (default reports/cfd)")
    p.add_argument("--families", nargs="+", default=list(FAMILIES))
    p.add_argument("--max-trajectories", type=int, default=8)
    p.add_argument("--coarsen", type=int, nargs="*", default=[2, 4, 8], help="solver coarsening factors")
    p.add_argument("--device", default="cpu")


def run(args) -> dict[str, Path]:
    from surrolab.benchmarks.harness import CompareConfig

    config = CompareConfig(max_trajectories=args.max_trajectories, coarsen_factors=tuple(args.coarsen),
                           device=args.device)
    report, views = build(args.runs_root, args.data_root, tuple(args.families), config)
    paths = write(report, views, args.out)
    print(markdown(report))
    print(f"wrote {paths['markdown']}, {paths['html']}, {paths['json']}")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="surrolab report cfd", description=__doc__.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        run(args)
    except SurrolabError as err:
        print(f"surrolab report cfd: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
