"""Steady-pair dataset file -> trained operator model (SPON): the operator path of `train_run`.

The model is built from what the dataset says (how many input and output fields, parameters, the space
dimension); its statistics are online buffers (`meshgraphnets.OnlineNormalizer`), so the checkpoint needs no
`Normalizer`. Training is the one loop (`training.train`) with the model's graph-batch hooks; an item is one
sample's (inputs, outputs) pair on its own DOF graph (`datasets/operator_data.py`).
"""
from __future__ import annotations

from pathlib import Path

from surrolab.errors import SurrolabError


def train_operator_run(model_name: str, data: str | Path, out: str | Path, config, *, history: int | None = None,
                       hyper: dict | None = None, progress=None, announce=None) -> dict:
    """Build `model_name` (a registered operator model) for the steady dataset `data`, train it on the training
    split (validation: the val split) and save the run in `out`. `config`: a `TrainConfig`."""
    import torch

    from surrolab.datasets import schema
    from surrolab.datasets.operator_data import OperatorPairs, check_operator_dataset
    from surrolab.registry import get_model_class
    from surrolab.surrogates.base import dataset_signature
    from surrolab.surrogates.train_run import run_summary, train_val_indices
    from surrolab.surrogates.training import train

    if history is not None:
        raise SurrolabError(f"history={history} is not allowed for {model_name}: it maps steady inputs to outputs, "
                            "with no time history")
    cls = get_model_class(model_name)
    with schema.open_dataset(data) as f:
        description = check_operator_dataset(f)
        train_idx, val_idx = train_val_indices(f)
        train_set = OperatorPairs.from_dataset(f, train_idx)
        val_set = OperatorPairs.from_dataset(f, val_idx) if len(val_idx) else []
    torch.manual_seed(config.seed)
    model = cls(n_inputs=len(description.input_fields), n_outputs=len(description.output_fields),
                n_parameters=len(description.parameter_names), dim=description.spatial_dim, **(hyper or {}))
    if announce is not None:
        announce(sum(p.numel() for p in model.parameters()), len(train_set), len(val_set))
    train(model, None, train_set, val_set, config, out, signature=dataset_signature(description),
          hooks=model.training_hooks(seed=config.seed), progress=progress, metadata={"data": str(data)})
    return run_summary(out, model)
