"""The comparison report: a Markdown table, the JSON it was made from, and the error-against-time plot."""
from __future__ import annotations

import json
from pathlib import Path


def _break_even(x) -> str:
    return "never (no time saved per query)" if x is None else f"{x:,d}"


def markdown(report: dict) -> str:
    lines = [f"# {report['problem']}: surrogates against the solver",
             "",
             f"Dataset `{report['dataset']}`, split `{report['split']}`, {len(report['trajectories'])} trajectories "
             f"of {len(report['times'])} frames. Hardware: {report['hardware']}; surrogate device: {report['device']}.",
             "",
             "| model | parameters | one-step rel. L2 | rollout rel. L2 | VRMSE | s / trajectory | speed-up "
             "| matched solver | speed-up at matched error | break-even queries |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for m in report["models"]:
        note = "" if m["matched_error_bound"] == "matched" else " (solver still more accurate)"
        lines.append(
            f"| {m['label']} ({m['model']}) | {m['n_parameters']:,} | {m['one_step_rel_l2']:.3e} "
            f"| {m['rollout_rel_l2']:.3e} | {m['metrics'].get('vrmse', float('nan')):.3e} "
            f"| {m['seconds_per_trajectory']:.4f} | {m['speedup']:.3g}x | {m['matched_solver']}{note} "
            f"| {m['speedup_at_matched_error']:.3g}x | {_break_even(m['break_even_queries'])} |")
    lines += ["", "| solver | rollout rel. L2 vs reference | s / trajectory |", "|---|---|---|"]
    for s in report["solvers"]:
        if s["error_curve"]:
            lines.append(f"| {s['label']} | {s['rollout_rel_l2']:.3e} | {s['seconds_per_trajectory']:.4f} |")
        else:  # refused (not divisible, mesh too coarse) or diverged; older reports carry no note
            note = s.get("note") or "diverged (time step past the stability limit)"
            lines.append(f"| {s['label']} | {note.replace('|', '/')} | n/a |")
    lines += _per_field(report)
    lines += ["", "Speed-up = solver s/trajectory / surrogate s/trajectory, both timed here after a warm-up, one "
              "trajectory at a time. The full solver's error is its re-run against the stored data (float32 "
              "storage). Break-even = (data-generation solve time "
              f"{report['generation_seconds']:.1f} s + training time) / time saved per query."]
    mesh = report.get("scored_on") == "mesh"
    if mesh:
        low, high = min(report["mesh_vertices"]), max(report["mesh_vertices"])
        lines.append(f"\nScored on the mesh: every error is taken at each test sample's own mesh vertices "
                     f"({low:,}{'' if low == high else f'–{high:,}'} per sample here), weighted by the lumped P1 mass "
                     "(the FE L2 norm). "
                     "A mesh model is rolled out on the sample's mesh graph; a grid model on the dataset's grid, its "
                     "prediction then read at the vertices from the grid nodes inside the fluid (bilinear in whole "
                     "cells, a "
                     "moving-least-squares linear fit in cells cut by a wall or an obstacle); a solver "
                     "run on a coarsened mesh is interpolated onto the data's mesh in its own cells.")
    elif report.get("geometry_type") == "mesh":  # a report from before mesh scoring
        lines.append(f"\nErrors count only the grid nodes inside each sample's fluid "
                     f"({100 * report['fluid_fraction']:.0f}% of the grid here); the solver runs on meshes are "
                     "interpolated onto the grid as the dataset writer does it.")
    how = ("per triangle of the P1 interpolant at the vertices" if mesh
           else "over the interior fluid nodes (central differences on the grid)")
    for m in report["models"]:
        if m.get("divergence"):
            d = m["divergence"]
            lines.append(f"\nDivergence of the velocity, RMS of div u / RMS of |grad u| {how}: {m['label']} "
                         f"{d['prediction']:.2e}, solver data {d['truth']:.2e} (the data's value is what this check "
                         "reads on the solver's solenoidal field).")
    lines += _forces(report) + _band(report) + _stability(report)
    for m in report["models"]:
        for name, d in m.get("conservation", {}).items():
            lines.append(f"\nConserved integral of `{name}`, largest drift over the rollout (relative): "
                         f"{m['label']} {d['prediction']:.2e}, solver data {d['truth']:.2e}.")
    if report["models"]:
        names = list(report["models"][0]["metrics"])
        lines += ["", "Metrics over the rollout, mean over the fields:", "",
                  "| model | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for m in report["models"]:
            lines.append(f"| {m['label']} | " + " | ".join(f"{m['metrics'][k]:.3e}" for k in names) + " |")
        if len(report.get("fields", {})) > 1 or any(f["order"] for f in report.get("fields", {}).values()):
            lines += ["", "The same per field:", "", "| model | field | " + " | ".join(names) + " |",
                      "|---|---|" + "---|" * len(names)]
            for m in report["models"]:
                for field, values in m.get("field_metrics", {}).items():
                    lines.append(f"| {m['label']} | {field} | " + " | ".join(f"{values[k]:.3e}" for k in names) + " |")
    return "\n".join(lines) + "\n"


def _per_field(report: dict) -> list[str]:
    """Rollout relative L2 of every model and solver run per field (a vector over all its components)."""
    fields = report.get("fields", {})
    if not fields:  # a report from before per-field errors
        return []
    names = list(fields)
    described = [f"{n} ({'vector, ' if fields[n]['order'] == 1 else ''}{fields[n]['units']})" for n in names]
    lines = ["", "Rollout relative L2 per field (a vector field over all its components; the headline numbers "
             "above are the mean over the fields):", "",
             "| run | " + " | ".join(described) + " |", "|---|" + "---|" * len(names)]
    for m in report["models"]:
        for label, errors in ((f"{m['label']} ({m['model']})", m["field_rel_l2"]),
                              (f"{m['label']}, one step", m["field_one_step_rel_l2"])):
            lines.append(f"| {label} | " + " | ".join(f"{errors[n]:.3e}" for n in names) + " |")
    for s in report["solvers"]:
        if s.get("field_rel_l2"):
            lines.append(f"| {s['label']} | " + " | ".join(f"{s['field_rel_l2'][n]:.3e}" for n in names) + " |")
    return lines


def _forces(report: dict) -> list[str]:
    """Drag and lift on the obstacle from each model's fields beside the solver data's (mesh scoring)."""
    rows = [m for m in report["models"] if m.get("forces")]
    if not rows:
        return []
    f0 = rows[0]["forces"]
    lines = ["", f"Forces on `{f0['boundary']}` ({f0['units']}; −∫σn ds from the P1 fields at the vertices, the "
             "same "
             "formula on the data and on each prediction, over the frames each model predicts):", "",
             "| model | mean drag, model | mean drag, data | RMS drag error | lift amplitude, model "
             "| lift amplitude, data | RMS lift error |", "|---|---|---|---|---|---|---|"]
    trip = (report.get("grid_round_trip") or {}).get("forces")
    for label, f in [(m["label"], m["forces"]) for m in rows] + ([("grid round trip", trip)] if trip else []):
        lines.append(f"| {label} | {f['drag_prediction']:.4g} | {f['drag_truth']:.4g} | {f['drag_rms_error']:.3g} "
                     f"| {f['lift_amplitude_prediction']:.4g} | {f['lift_amplitude_truth']:.4g} "
                     f"| {f['lift_rms_error']:.3g} |")
    return lines


def _stability(report: dict) -> list[str]:
    """Signs of an unstable learned step (`stability.py`) for every model that has them."""
    rows = [m for m in report["models"] if m.get("stability")]
    if not rows:
        return []
    from surrolab.benchmarks.stability import GRID_GROWTH_LIMIT

    st = rows[0]["stability"]
    lines = ["", f"Stability of the learned step: growth of a small perturbation of a mid-trajectory test state over "
             f"{st['steps']} steps (rms ratio, geometric mean over the trajectories and 4 draws), node-wise (grid-scale) "
             f"and smooth over 4 node spacings; a grid-scale growth above {GRID_GROWTH_LIMIT} flags a step that "
             "amplifies what the PDE damps. Beside it, the rollout error on "
             f"{st['train_trajectories']} training trajectories (a model that fails there is unstable, not "
             "overfitted):", "",
             "| model | grid-scale growth | smooth growth | rollout rel. L2, training trajectories | flag |",
             "|---|---|---|---|---|"]
    for m in rows:
        s = m["stability"]
        lines.append(f"| {m['label']} ({m['model']}) | {s['grid_scale_growth']:.3g} | {s['smooth_growth']:.3g} "
                     f"| {s['train_rollout_rel_l2']:.3e} | {'unstable' if s['unstable'] else 'ok'} |")
    return lines


def _band(report: dict) -> list[str]:
    """Rollout error over the whole domain and in the band around the obstacle (mesh scoring), with what the
    grid alone costs (the stored grid fields read at the vertices)."""
    runs = [(f"{m['label']} ({m['model']})", m["band"]) for m in report["models"] if m.get("band")]
    if report.get("grid_round_trip"):
        runs.append(("grid round trip (the data's grid fields read at the vertices)", report["grid_round_trip"]))
    if not runs:
        return []
    if "band_rel_l2" not in runs[0][1]:  # no obstacle: what the grid costs, over the whole domain
        trip = report.get("grid_round_trip")
        return [] if not trip else [
            "", "Grid round trip (the data's grid fields read at the vertices, what a perfect grid prediction scores): "
            f"rollout rel. L2 {trip['rollout_rel_l2']:.3e} ("
            + ", ".join(f"{k} {v:.3e}" for k, v in trip["field_rel_l2"].items())
            + ")."]
    names = list(runs[0][1]["field_rel_l2"])
    lines = ["", f"Rollout relative L2 over the whole domain and in the band within one obstacle diameter of "
             f"`{runs[0][1]['band_boundary']}` (lumped mass restricted to the band):", "",
             "| run | whole domain | band | " + " | ".join(f"{n}, whole | {n}, band" for n in names) + " |",
             "|---|---|---|" + "---|---|" * len(names)]
    for label, b in runs:
        cells = " | ".join(f"{b['field_rel_l2'][n]:.3e} | {b['band_field_rel_l2'][n]:.3e}" for n in names)
        lines.append(f"| {label} | {b['rollout_rel_l2']:.3e} | {b['band_rel_l2']:.3e} | {cells} |")
    return lines


def draw_error_curves(ax, report: dict, x, legend_size: int = 8) -> None:
    """Onto `ax`: each model's error curve against `x` (one value per frame), each available coarsened
    solver's dashed against x[1:], log scale, grid, legend. The caller sets the x label and title."""
    for m in report["models"]:
        ax.plot(x, m["error_curve"], marker="o", ms=3, label=f"{m['label']} ({m['model']})")
    for s in report["solvers"][1:]:
        if s["error_curve"]:  # a diverged or unavailable coarse run has none
            ax.plot(x[1:], s["error_curve"], ls="--", label=s["label"])
    ax.set_yscale("log")
    ax.set_ylabel("relative L2 error")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=legend_size)


def plot_error_curves(report: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    draw_error_curves(ax, report, report["times"])
    ax.set_xlabel("time")
    ax.set_title(f"{report['problem']}: error against time ({report['split']} split)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(report: dict, out_dir: str | Path) -> dict[str, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json", "markdown": out_dir / "report.md", "plot": out_dir / "error_vs_time.png"}
    paths["json"].write_text(json.dumps(report, indent=2))
    paths["markdown"].write_text(markdown(report))
    plot_error_curves(report, paths["plot"])
    return paths
