"""Mesh dataset file -> trained mesh-native surrogate (MeshGraphNets): the mesh path of `train_run`.

A mesh model is built from what the dataset says: the space dimension and the number of PDE parameters
(each sample's θ enters every node's input); its normalisers are online (they accumulate the training
inputs and targets, `meshgraphnets.OnlineNormalizer`), so the dataset's grid statistics are not used and the
checkpoint needs no `Normalizer`. Training is the one loop (`training.train`) with the model's graph-batch
hooks; the items are (frame, next frame) transitions of each training sample on its own mesh graph
(`datasets/mesh_data.py`).
"""
from __future__ import annotations

from pathlib import Path

from surrolab.errors import SurrolabError


def train_mesh_run(model_name: str, data: str | Path, out: str | Path, config, *, history: int | None = None,
                   hyper: dict | None = None, progress=None, announce=None) -> dict:
    """Build `model_name` (a registered mesh model) for the mesh dataset `data`, train it on the training
    split (validation: the val split) and save the run in `out`. `config`: a `TrainConfig`."""
    import torch

    from surrolab.datasets import schema
    from surrolab.datasets.mesh_data import MeshTransitions
    from surrolab.registry import get_model_class
    from surrolab.surrogates.base import dataset_signature
    from surrolab.surrogates.train_run import run_summary, training_splits
    from surrolab.surrogates.training import train

    if history not in (None, 1):
        raise SurrolabError(f"history={history} is not allowed for {model_name}: it steps from the current frame "
                            "alone (history 1)")
    cls = get_model_class(model_name)
    with schema.open_dataset(data) as f:
        description, train_idx, val_idx = training_splits(
            f, model_name, "mesh", "generate a Navier–Stokes family (cavity, tube, dam, cylinder)")
        train_set = MeshTransitions.from_dataset(f, train_idx)
        val_set = MeshTransitions.from_dataset(f, val_idx) if len(val_idx) else []
    torch.manual_seed(config.seed)
    model = cls(dim=description.spatial_dim, n_parameters=len(description.parameter_names), **(hyper or {}))
    if announce is not None:
        announce(sum(p.numel() for p in model.parameters()), len(train_set), len(val_set))
    train(model, None, train_set, val_set, config, out, signature=dataset_signature(description),
          hooks=model.training_hooks(seed=config.seed), progress=progress, metadata={"data": str(data)})
    return run_summary(out, model)
