"""`surrolab info`: a human summary of a dataset, read through the schema."""
from __future__ import annotations

import json

import numpy as np

from surrolab.datasets import schema


def summary(path) -> str:
    with schema.open_dataset(path) as f:
        d = schema.read_description(f)
        n = int(f.attrs["n_samples"])
        wall = f["samples/wall_time"][()]
        prov = f["provenance"].attrs
        lines = [
            f"{path}: problem {d.problem!r}, schema {f.attrs['schema_version']}, {n} samples",
            f"  {'background grid' if d.geometry_type == 'particles' else 'grid'} "
            f"{' x '.join(map(str, d.geometry.shape))} nodes on "
            + " x ".join(f"[{a[0]:g}, {a[-1]:g}]" for a in d.geometry.axes),
            f"  steady operator pairs: {', '.join(d.input_fields)} -> {', '.join(d.output_fields)}" if d.steady else
            f"  time {len(d.times)} frames, t = {d.times[0]:g} .. {d.times[-1]:g}",
            *_mesh_line(f, d, n),
            *_particle_lines(f, d, n),
            "  fields: " + ", ".join(f"{s.name} [{s.units}] (order {s.order})" for s in d.fields),
            "  parameters:",
        ]
        fixed = json.loads(prov.get("generation", "{}")).get("fixed_parameters", {})  # `generate --vary`
        for p in d.parameters:
            values = f[f"parameters/{p.name}"][()]
            drawn = f"held at its default {fixed[p.name]:g}" if p.name in fixed else \
                f"sampled in [{p.low:g}, {p.high:g}]"
            lines.append(f"    {p.name} [{p.units}]: {drawn}, data {values.min():.4g} .. {values.max():.4g}")
        lines.append("  boundary conditions: " + ", ".join(f"{b.kind} on {b.boundary}" for b in d.boundary_conditions))
        lines.append("  splits: " + ", ".join(f"{k} {len(v)}" for k, v in f.get("splits", {}).items()))
        lines.append(f"  solver wall time: {wall.sum():.2f} s total, {np.mean(wall):.3f} s per sample")
        diagnostics = sorted(k for k in f["samples"] if k not in ("wall_time", "seed"))
        if diagnostics:  # per-sample checks the solver stored (divergence, mass balance, dofs, ...)
            lines.append("  per-sample diagnostics (min .. max): " + ", ".join(
                f"{k} {np.nanmin(f['samples'][k][()]):.3g} .. {np.nanmax(f['samples'][k][()]):.3g}"
                for k in diagnostics))
        lines.append(f"  config: {prov.get('problem_config', '{}')}")
        lines.append(f"  git {prov.get('git_revision', '?')}, seed {prov.get('seed', '?')}, "
                     f"packages {json.loads(prov.get('packages', '{}')).get('dolfinx-solver-real', '?')} dolfinx")
        lines.append(f"  hardware: {prov.get('hardware', '?')}")
    return "\n".join(lines)


def _mesh_line(f, d: schema.DatasetDescription, n: int) -> list[str]:
    if d.geometry_type != "mesh":
        return []
    points = [f[f"mesh/{i}/points"].shape[0] for i in range(n)]
    inside = schema.read_mask(f, range(n)).mean()
    return [f"  solved on a {f['mesh'].attrs['cell_type']} mesh per sample, {min(points)} .. {max(points)} points; "
            f"the grid holds them interpolated ({inside:.0%} of its nodes inside the mesh)"]


def _particle_lines(f, d: schema.DatasetDescription, n: int) -> list[str]:
    """Particle counts per sample and the materials, each with the samples that use it."""
    if d.geometry_type != "particles":
        return []
    counts = [f[f"particles/{i}/material_id"].shape[0] for i in range(n)]
    used: dict[str, list[int]] = {}  # material (JSON) -> samples
    for i in range(n):
        for material in json.loads(f[f"particles/{i}"].attrs["materials"]):
            used.setdefault(json.dumps(material, sort_keys=True), []).append(i)
    lines = [f"  particles: {min(counts)} .. {max(counts)} per sample, {sum(counts)} in all; "
             f"{len(used)} material{'s' if len(used) != 1 else ''}:"]
    for text, samples in list(used.items())[:8]:
        material = json.loads(text)
        law = material.pop("law")
        where = "every sample" if len(samples) == n else f"{len(samples)} sample{'s' if len(samples) > 1 else ''}"
        lines.append(f"    {law} (" + ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}"
                                               for k, v in material.items()) + f"): {where}")
    if len(used) > 8:
        lines.append(f"    ... and {len(used) - 8} more")
    return lines
