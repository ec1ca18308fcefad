"""ParaView export of one trajectory: the truth, each surrogate's rollout and its error, side by side.

Writes `<out>/<problem>_sample<k>.h5` and an `.xdmf` beside it; open the `.xdmf` in ParaView. Every
array is one time series on the dataset's grid: `<field>_truth`, `<field>_<run>` and `<field>_<run>_error`
(prediction minus truth).
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import torch

from surrolab.datasets import schema
from surrolab.datasets.xdmf import Attribute, write_xdmf
from surrolab.errors import SurrolabError
from surrolab.surrogates.base import load_checkpoint, model_from_checkpoint
from surrolab.surrogates.rollout import rollout


def export_sample(data: str | os.PathLike, sample: int, runs: list[str | os.PathLike], out_dir: str | os.PathLike) -> Path:
    with schema.open_dataset(data) as f:
        description = schema.read_description(f)
        n = int(f.attrs["n_samples"])
        if not 0 <= sample < n:
            raise SurrolabError(f"sample={sample} is out of range: the dataset has samples 0..{n - 1}")
        truth = schema.read_fields(f, description, [sample])  # (1, T, C, *spatial)
        params = schema.read_parameters(f, description, [sample])
        inside = schema.read_mask(f, [sample])  # (1, *spatial): all True on a grid dataset
    series = {f"{c}_truth": truth[0, :, i] for i, c in enumerate(description.channel_names)}
    for run in runs:
        model, normalizer = model_from_checkpoint(load_checkpoint(run), description, kinds=("grid",))
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
