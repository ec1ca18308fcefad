"""The CFDBench-style report: every trained surrogate against the solver on each flow family.

For each family (cavity, tube, dam, cylinder) with a training dataset `<data-root>/<family>.h5` and run
folders `<runs-root>/<family>/<model>/` (checkpoints written by `surrolab train`), `harness.compare()` runs
every model and the solver (with its coarsenings) on each variation of the test data:

- `test`: the dataset's random test split, all parameters drawn from the training ranges (interpolation);
- `test_heldout`: its held-out split, the top of the first parameter's range (unseen parameters);
- one test set per kind of variation of CFDBench (Luo et al., 2023, Sec. 3): `<family>_bc.h5`,
  `<family>_properties.h5`, `<family>_geometry.h5`, made with `surrolab generate --vary ...
  --test-fraction 1`, in which only the parameters of that kind vary and the others sit at their defaults.
  A parameter's kind comes from its units and name (`parameter_role`): a speed is the boundary condition, a
  length the geometry, the rest (density, viscosity; buoyancy) physical properties.
  Departure: CFDBench trains one model per kind; here one model per family is trained with all kinds
  varying and tested on each kind's set, which costs a third of the training on this machine.

A variation whose dataset is missing is listed under "not reported", not raised.

Outputs: `cfd_report.md` (tables), `cfd_report.html` (one self-contained page: the tables and PNG plots
embedded as data URIs: error against rollout step per family and variation, and truth, prediction and
error of the velocity magnitude at the last frame of one test sample, masked outside the fluid) and
`cfd_report.json` (the `compare()` reports it was made from).
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

import numpy as np

from surrolab.benchmarks.report import draw_error_curves
from surrolab.errors import SurrolabError

# the harness (torch, the solvers) and the dataset schema (h5py) are imported where they are used, so that the
# CLI can add this module's arguments (`add_arguments`) without loading them

FAMILIES = ("cavity", "tube", "dam", "cylinder")
# CFDBench's kinds of variation, and the suffix of each kind's test set <family>_<suffix>.h5
KIND_FILES = {"boundary condition": "bc", "physical properties": "properties", "geometry": "geometry"}
ROLES = tuple(KIND_FILES)


@dataclass(frozen=True)
class Variation:
    name: str
    file_suffix: str  # the dataset <family><suffix>.h5
    split: str
    meaning: str


VARIATIONS = (
    Variation("test", "", "test", "random test split: all parameters drawn from the training ranges"),
    Variation("test_heldout", "", "test_heldout", "held-out split: the top of the first parameter's range, unseen"),
    *(Variation(kind, f"_{slug}", "test", f"only the {kind} varies, the other parameters at their defaults")
      for kind, slug in KIND_FILES.items()),
)


def parameter_role(spec) -> str:
    """CFDBench's kind of variation a parameter belongs to, from its units and name."""
    if spec.units == "m/s" or "speed" in spec.name:
        return "boundary condition"
    if spec.units == "m":
        return "geometry"
    return "physical properties"


def kind_parameters(parameters, kind: str) -> list[str]:
    """The names of the parameters of one kind (what `surrolab generate --vary` gets for its test set)."""
    return [p.name for p in parameters if parameter_role(p) == kind]


def discover(runs_root: str | Path, data_root: str | Path, families=FAMILIES) -> dict[str, dict]:
    """family -> {"data": {variation name: path or None}, "runs": [run folders with a model.pt]}."""
    runs_root, data_root = Path(runs_root), Path(data_root)
    found = {}
    for family in families:
        data = {v.name: data_root / f"{family}{v.file_suffix}.h5" for v in VARIATIONS}
        folder = runs_root / family
        runs = sorted(p for p in folder.iterdir() if (p / "model.pt").is_file()) if folder.is_dir() else []
        found[family] = {"data": {k: (p if p.is_file() else None) for k, p in data.items()}, "runs": runs}
    return found


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


def sample_view(data: Path, runs: list[Path], split: str, device: str) -> SampleView:
    """The split's first sample at its last frame, truth and each model's rollout (models only)."""
    from surrolab.benchmarks.harness import field_channels, run_model
    from surrolab.datasets import schema

    with schema.open_dataset(data) as f:
        d = schema.read_description(f)
        idx = schema.read_split(f, split)[:1]
        truth = schema.read_fields(f, d, idx)
        inside = schema.read_mask(f, idx)
        params = schema.read_parameters(f, d, idx)
    predictions = {run.name: run_model(run, d, truth, params, device, inside[:, None, None]).prediction[0, -1]
                   for run in runs}
    fields = field_channels(d)
    name = "velocity" if "velocity" in fields else next(iter(fields))
    return SampleView(axes=tuple(d.geometry.axes), inside=inside[0], truth=truth[0, -1], predictions=predictions,
                      channels=fields[name], field=name, sample=int(idx[0]))


# -- building the report ------------------------------------------------------------------------------
def varied_parameters(data: Path, split: str) -> list[str]:
    """The parameters that take more than one value over a split (a kind's test set varies only its own)."""
    from surrolab.datasets import schema

    with schema.open_dataset(data) as f:
        d = schema.read_description(f)
        values = schema.read_parameters(f, d, schema.read_split(f, split))
    return [p.name for p, column in zip(d.parameters, values.T) if len(column) > 1 and np.ptp(column) > 0]


def build(runs_root: str | Path, data_root: str | Path, families=FAMILIES, config=None,
          variations=VARIATIONS) -> tuple[dict, dict]:
    """(report, views): the JSON-ready report and, per (family, variation), the `SampleView` for the field
    plot. `config` is a `harness.CompareConfig` (its split is ignored: each variation names its own)."""
    from surrolab.benchmarks.harness import CompareConfig, compare
    from surrolab.datasets import schema

    config = CompareConfig() if config is None else config
    report = {"families": {}, "variations": {v.name: v.meaning for v in variations}, "device": config.device}
    views = {}
    for family, where in discover(runs_root, data_root, families).items():
        entry = {"data": {k: str(p) if p else None for k, p in where["data"].items()},
                 "runs": [str(r) for r in where["runs"]], "parameters": [], "splits": {}, "notes": []}
        report["families"][family] = entry
        main = where["data"]["test"]
        if main is None:
            entry["notes"].append(f"no dataset {Path(data_root) / (family + '.h5')}")
            continue
        with schema.open_dataset(main) as f:
            d = schema.read_description(f)
        entry["parameters"] = [{"name": p.name, "units": p.units, "low": p.low, "high": p.high,
                                "role": parameter_role(p)} for p in d.parameters]
        if not where["runs"]:
            entry["notes"].append(f"no trained runs under {Path(runs_root) / family}")
            continue
        for v in variations:
            data = where["data"][v.name]
            if data is None:
                entry["notes"].append(f"{v.name}: no dataset {Path(data_root) / (family + v.file_suffix + '.h5')}")
                continue
            split_config = CompareConfig(split=v.split, max_trajectories=config.max_trajectories,
                                         coarsen_factors=config.coarsen_factors, device=config.device)
            try:
                result = compare(data, where["runs"], split_config)
                view = sample_view(data, where["runs"], v.split, config.device)
                varied = varied_parameters(data, v.split)
            except SurrolabError as err:  # an empty split, a checkpoint for another dataset, ...
                entry["notes"].append(f"{v.name}: {err}")
                continue
            entry["splits"][v.name] = {"compare": result, "data": str(data), "split": v.split, "varied": varied}
            views[(family, v.name)] = view
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


def variation_rows(report: dict) -> list[list[str]]:
    """Which parameters actually vary in each family's variation (read from the data, not assumed)."""
    return [[family, name, f"{Path(res['data']).name} ({res['split']})", ", ".join(res["varied"]) or "none"]
            for family, entry in report["families"].items() for name, res in entry["splits"].items()]


VARIATION_HEADER = ["family", "variation", "dataset (split)", "parameters that vary"]


def parameter_rows(report: dict) -> list[list[str]]:
    return [[family, p["name"], p["units"], f"{p['low']:g} to {p['high']:g}", p["role"]]
            for family, entry in report["families"].items() for p in entry["parameters"]]


PARAM_HEADER = ["family", "parameter", "units", "sampling range", "kind of variation"]


def stability_rows(report: dict, split: str = "test") -> list[list[str]]:
    """Per family and model, the harness's stability check on the random test split (`benchmarks/stability.py`):
    growth of node-wise and smooth perturbations over 10 learned steps, and the rollout on training trajectories."""
    out = []
    for family, entry in report["families"].items():
        for m in entry["splits"].get(split, {}).get("compare", {}).get("models", []):
            st = m.get("stability")
            if st:
                out.append([family, f"{m['label']} ({m['model']})", f"{st['grid_scale_growth']:.3g}",
                            f"{st['smooth_growth']:.3g}", "yes" if st["unstable"] else "no",
                            _fmt(st["train_rollout_rel_l2"])])
    return out


def stability_header() -> list[str]:
    from surrolab.benchmarks.stability import GRID_GROWTH_LIMIT, STEPS

    return ["family", "model", f"grid-scale growth ({STEPS} steps)", "smooth growth",
            f"unstable (> {GRID_GROWTH_LIMIT:g})", "rollout rel. L2 on training trajectories"]

def explain(report: dict) -> str:
    """What the numbers are; where the errors were taken depends on the harness that made the report (reports
    from before mesh scoring were scored on the grid)."""
    scored = {split["compare"].get("scored_on", "grid") for entry in report["families"].values()
              for split in entry["splits"].values()}
    where = ("at each test sample's own mesh vertices with the lumped P1 mass (grid models' predictions read at "
             "the vertices from the grid nodes inside the fluid)" if scored == {"mesh"}
             else "on the dataset's grid, inside the fluid only")
    return ("Speed-up = solver seconds per trajectory / surrogate seconds per trajectory (both timed on this machine "
            "after a warm-up); speed-up at matched error is against the cheapest coarsened solver whose rollout error "
            f"is at or below the surrogate's. Errors are relative L2 {where}, mean over the fields. The models were "
            "trained once per family with every parameter varying.")


def _md_table(header, body) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + \
           ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in body]


def markdown(report: dict) -> str:
    lines = ["# CFD benchmark: surrogates against the solver", ""]
    if report.get("command"):
        lines += ["Regenerate with:", "", "```", report["command"], "```", "",
                  f"Machine: {report.get('hardware', 'unknown')}; revision {report.get('revision', 'unknown')}; "
                  f"wall time {report.get('wall_seconds', float('nan')):.0f} s.", ""]
    lines += [
             "Variations: " + "; ".join(f"`{k}`: {v}" for k, v in report["variations"].items()) + ".", "",
             *_md_table(HEADER, rows(report)), "", explain(report), "",
             "## What varies in each variation", "", *_md_table(VARIATION_HEADER, variation_rows(report)), "",
             "## Parameters and their kind of variation", "", *_md_table(PARAM_HEADER, parameter_rows(report))]
    stability = stability_rows(report)
    if stability:
        lines += ["", "## Stability of the learned step (random test split)", "",
                  *_md_table(stability_header(), stability)]
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
             + "</p>", _html_table(HEADER, rows(report)), f"<p>{html.escape(explain(report))}</p>",
             "<h2>What varies in each variation</h2>", _html_table(VARIATION_HEADER, variation_rows(report)),
             "<h2>Parameters and their kind of variation</h2>", _html_table(PARAM_HEADER, parameter_rows(report)),
             "<h2>Stability of the learned step (random test split)</h2>",
             _html_table(stability_header(), stability_rows(report))]
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
