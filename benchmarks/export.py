"""ParaView export of one trajectory: the truth, each surrogate's rollout and its error, side by side.

Writes `<out>/<problem>_sample<k>.h5` and an `.xdmf` beside it; open the `.xdmf` in ParaView. Every
array is one time series on the dataset's grid: `<field>_truth`, `<field>_<run>` and `<field>_<run>_error`
(prediction minus truth). Mesh models (MeshGraphNets) are exported on the sample's own mesh instead, its
triangles and vertices (`export_on_mesh`, `<problem>_sample<k>_mesh.xdmf`).
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import torch

from surrolab.datasets import schema
from surrolab.datasets.xdmf import Attribute, write_mesh_xdmf, write_xdmf
from surrolab.errors import SurrolabError
from surrolab.registry import get_model_class
from surrolab.surrogates.base import load_checkpoint, model_from_checkpoint
from surrolab.surrogates.rollout import rollout


def export_sample(data: str | os.PathLike, sample: int, runs: list[str | os.PathLike], out_dir: str | os.PathLike) -> Path:
    payloads = [load_checkpoint(run) for run in runs]
    kinds = {getattr(get_model_class(p["model"]), "input_kind", "grid") for p in payloads}
    if "mesh" in kinds:
        if kinds != {"mesh"}:
            raise SurrolabError("export mesh models and grid models in separate calls: a mesh model's file shows "
                                "the sample's own mesh, a grid model's the dataset's grid")
        return export_on_mesh(data, sample, dict(zip(runs, payloads)), out_dir)
    with schema.open_dataset(data) as f:
        description = schema.read_description(f)
        n = int(f.attrs["n_samples"])
        if not 0 <= sample < n:
            raise SurrolabError(f"sample={sample} is out of range: the dataset has samples 0..{n - 1}")
        truth = schema.read_fields(f, description, [sample])  # (1, T, C, *spatial)
        params = schema.read_parameters(f, description, [sample])
        inside = schema.read_mask(f, [sample])  # (1, *spatial): all True on a grid dataset
    series = {f"{c}_truth": truth[0, :, i] for i, c in enumerate(description.channel_names)}
    for run, payload in zip(runs, payloads):
        model, normalizer = model_from_checkpoint(payload, description, kinds=("grid",))
        label = Path(run).name
        mask = torch.as_tensor(inside)[:, None, None] if description.geometry_type == "mesh" else None
        pred = rollout(model, normalizer, torch.as_tensor(truth[:, : model.history]),
                       torch.as_tensor(params, dtype=torch.float32), truth.shape[1], mask=mask).numpy()
        for i, c in enumerate(description.channel_names):
            series[f"{c}_{label}"] = pred[0, :, i]
            series[f"{c}_{label}_error"] = pred[0, :, i] - truth[0, :, i]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    h5_path = out_dir / f"{description.problem}_sample{sample:04d}.h5"
    tmp = h5_path.with_suffix(".h5.tmp")
    with h5py.File(tmp, "w") as g:
        schema.write_geometry(g, description.geometry)
        g.create_dataset("time", data=description.times)
        for name, arr in series.items():
            g.create_dataset(f"export/{name}", data=arr.astype(np.float32))
    os.replace(tmp, h5_path)
    shape = description.geometry.shape
    frames = [[Attribute(name, f"/export/{name}", arr.shape, (t,)) for name, arr in series.items()]
              for t in range(len(description.times))]
    write_xdmf(h5_path.with_suffix(".xdmf"), h5_path, shape, description.times, {f"sample_{sample:04d}": frames})
    return h5_path.with_suffix(".xdmf")


def export_on_mesh(data: str | os.PathLike, sample: int, runs: dict, out_dir: str | os.PathLike) -> Path:
    """Mesh models' rollouts on the sample's own mesh: `<out>/<problem>_sample<k>_mesh.h5` and `.xdmf` with the
    mesh (`/mesh/points`, `/mesh/cells`) and per frame `velocity_truth`, `pressure_truth`, `velocity_<run>`,
    `pressure_<run>`, `velocity_<run>_error`, `pressure_<run>_error` at the vertices (the predicted pressure of
    frame 0 is the truth's: the model predicts it from frame 1 on). `runs`: run folder -> its loaded checkpoint."""
    from surrolab.datasets.mesh_data import MeshTransitions

    with schema.open_dataset(data) as f:
        description = schema.read_description(f)
        n = int(f.attrs["n_samples"])
        if not 0 <= sample < n:
            raise SurrolabError(f"sample={sample} is out of range: the dataset has samples 0..{n - 1}")
        mesh = schema.read_mesh(f, sample)
        transitions = MeshTransitions.from_dataset(f, [sample])
    graph, velocity, pressure = transitions.graphs[0], transitions.velocities[0], transitions.pressures[0]
    series = {"velocity_truth": velocity.numpy(), "pressure_truth": pressure.numpy()}
    for run, payload in runs.items():
        model, _ = model_from_checkpoint(payload, description, kinds=("mesh",))
        velocities, pressures = model.rollout(graph, transitions.parameters[0], velocity[0], velocity[1:])
        label = Path(run).name
        series[f"velocity_{label}"] = velocities.numpy()
        series[f"pressure_{label}"] = torch.cat([pressure[:1], pressures]).numpy()
        series[f"velocity_{label}_error"] = series[f"velocity_{label}"] - series["velocity_truth"]
        series[f"pressure_{label}_error"] = series[f"pressure_{label}"] - series["pressure_truth"]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    h5_path = out_dir / f"{description.problem}_sample{sample:04d}_mesh.h5"
    tmp = h5_path.with_suffix(".h5.tmp")
    with h5py.File(tmp, "w") as g:
        g.create_dataset("mesh/points", data=mesh.points)
        g.create_dataset("mesh/cells", data=mesh.cells)
        g.create_dataset("time", data=description.times)
        for name, arr in series.items():
            g.create_dataset(f"export/{name}", data=arr.astype(np.float32))
    os.replace(tmp, h5_path)
    frames = [[Attribute(name, f"/export/{name}", arr.shape, (t,)) for name, arr in series.items()]
              for t in range(len(description.times))]
    return write_mesh_xdmf(h5_path.with_suffix(".xdmf"), h5_path, "/mesh", mesh.points.shape, mesh.cells.shape,
                           mesh.cell_type, description.times, frames, name=f"sample_{sample:04d}")
