"""The surrogate contract, the normaliser beside the model, and checkpoints.

Grid surrogate contract (every model in the `grid` family implements it):

    forward(frames, parameters) -> next_frames
      frames:      (batch, history, channels, *spatial)   normalised fields of the last `history` steps
      parameters:  (batch, n_parameters)                   normalised PDE parameters
      next_frames: (batch, horizon, channels, *spatial)    normalised fields of the next `horizon` steps

Shapes come from the dataset's description when a model is built (`build_model`); a model's own
settings are hyperparameters only. Normalisation is not inside `forward`: `Normalizer` maps physical
arrays to the model's space and back (as neuraloperator's data processors do).

Checkpoints are plain tensors and JSON-like values, loaded with `torch.load(weights_only=True)`: no
arbitrary objects are unpickled. They carry the constructor arguments and a format version, so a model
is rebuilt from its checkpoint alone.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from surrolab.datasets.schema import DatasetDescription
from surrolab.errors import SurrolabError

CHECKPOINT_VERSION = 1


class GridSurrogate(nn.Module):
    """Base of the grid models; subclasses take (n_channels, n_parameters, spatial_shape, history,
    horizon) plus keyword hyperparameters, and store them in `self.constructor`."""

    input_kind: ClassVar[str] = "grid"
    name: ClassVar[str]
    limits: ClassVar[dict] = {}  # hyperparameter -> what it may be (`hyperparameters.py`); checked by the constructor

    def __init__(self, *, n_channels: int, n_parameters: int, spatial_shape: tuple[int, ...],
                 history: int = 1, horizon: int = 1):
        super().__init__()
        if history < 1 or horizon < 1:
            raise SurrolabError(f"history={history}, horizon={horizon}: both must be >= 1")
        self.n_channels, self.n_parameters = n_channels, n_parameters
        self.spatial_shape, self.history, self.horizon = tuple(spatial_shape), history, horizon

    def training_hooks(self):
        """The `training.Hooks` this model trains with (a frequency-space loss, a curriculum); None: the
        default one-step loss. The one training loop asks the model, so `surrolab train` needs no branch."""
        return None


class Normalizer(nn.Module):
    """z-score of the fields (per channel) and parameters, from the training split's statistics."""

    def __init__(self, field_mean, field_std, parameter_mean, parameter_std):
        super().__init__()
        for name, value in (("field_mean", field_mean), ("field_std", field_std),
                            ("parameter_mean", parameter_mean), ("parameter_std", parameter_std)):
            self.register_buffer(name, torch.as_tensor(value, dtype=torch.float32).reshape(-1))

    @classmethod
    def from_dataset(cls, f, description: DatasetDescription) -> "Normalizer":
        """The statistics stored in an open dataset (`/normalization`, computed on its training split)."""
        if "normalization/parameters" not in f:
            raise SurrolabError(f"{f.filename} stores no normalisation statistics: generate it with `surrolab generate`")
        stats = [(f[f"normalization/{s.name}/mean"][()].reshape(-1), f[f"normalization/{s.name}/std"][()].reshape(-1))
                 for s in description.fields]  # per field, per component: in channel order
        group = f["normalization/parameters"]
        names = list(description.parameter_names)
        stored = [str(x) for x in group.attrs["names"]] if "names" in group.attrs else _declared_order(f, names)
        order = [stored.index(name) for name in names]  # into the order of `description.parameters`
        return cls(field_mean=[x for mean, _ in stats for x in mean], field_std=[x for _, std in stats for x in std],
                   parameter_mean=group["mean"][()][order], parameter_std=group["std"][()][order])

    def encode_fields(self, x: torch.Tensor, n_spatial: int) -> torch.Tensor:
        # x: (..., channels, *spatial); the statistics (channels,) broadcast as (channels, 1, ..., 1)
        shape = (-1,) + (1,) * n_spatial
        return (x - self.field_mean.reshape(shape)) / self.field_std.reshape(shape)

    def decode_fields(self, z: torch.Tensor, n_spatial: int) -> torch.Tensor:
        shape = (-1,) + (1,) * n_spatial
        return z * self.field_std.reshape(shape) + self.field_mean.reshape(shape)

    def encode_parameters(self, p: torch.Tensor) -> torch.Tensor:
        return (p - self.parameter_mean) / self.parameter_std


def tensor_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """The module's state dict without non-tensor entries (neuraloperator adds a `_metadata` dict holding
    Python functions, which `weights_only` loading rightly refuses; our checkpoints carry the
    constructor arguments instead)."""
    return {k: v for k, v in module.state_dict().items() if torch.is_tensor(v)}


def _declared_order(f, names: list[str]) -> list[str]:
    """The order of a dataset's parameter statistics when the file does not name them (written before
    `normalization/parameters` had `names`): `generate` computed them in the problem's declared order."""
    from surrolab.registry import PROBLEMS, get_problem

    problem = str(f.attrs["problem"])
    declared = list(get_problem(problem).parameter_names()) if problem in PROBLEMS else names
    return declared if sorted(declared) == sorted(names) else names


def dataset_signature(description: DatasetDescription) -> dict:
    """What a checkpoint must agree with to be used on a dataset."""
    return {"problem": description.problem, "channels": list(description.channel_names),
            "parameters": list(description.parameter_names), "spatial_shape": list(description.geometry.shape)}


def build_model(name: str, description: DatasetDescription, history: int, horizon: int = 1, **hyper) -> GridSurrogate:
    from surrolab.registry import get_model_class

    cls = get_model_class(name)
    return cls(n_channels=len(description.channel_names), n_parameters=len(description.parameters),
               spatial_shape=description.geometry.shape, history=history, horizon=horizon, **hyper)


def save_checkpoint(path: str | os.PathLike, model: nn.Module, normalizer: Normalizer | None, signature: dict,
                    **extra) -> None:
    """`normalizer` None: the model carries its statistics as buffers (the particle models)."""
    path = Path(path)
    payload = {"version": CHECKPOINT_VERSION, "model": model.name, "constructor": dict(model.constructor),
               "state_dict": tensor_state(model), "normalizer": {} if normalizer is None else normalizer.state_dict(),
               "dataset": signature, **extra}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # a killed save never leaves a truncated checkpoint


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise SurrolabError(f"no checkpoint at {str(path)!r} (give a run folder or its model.pt)")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for a foreign or truncated file
        raise SurrolabError(f"{path}: not a surrolab checkpoint ({type(err).__name__})") from None
    if not isinstance(payload, dict) or payload.get("version") != CHECKPOINT_VERSION:
        raise SurrolabError(f"{path}: checkpoint version {payload.get('version') if isinstance(payload, dict) else None!r}"
                            f" is not supported; this surrolab reads version {CHECKPOINT_VERSION}")
    return payload


def model_from_checkpoint(payload: dict, description: DatasetDescription | None = None, *,
                          kinds: tuple[str, ...] | None = None):
    """Rebuild (model, normalizer) from a loaded checkpoint; check it fits `description` if given, and that
    the model takes one of the input `kinds` if given (a caller that can only run grid models says so). The
    normalizer is None for a model that keeps its statistics itself (GNS, GIOROM, MeshGraphNets)."""
    from surrolab.registry import get_model_class

    kind = getattr(get_model_class(payload["model"]), "input_kind", "grid")
    if kinds is not None and kind not in kinds:
        raise SurrolabError(f"the checkpoint holds {payload['model']}, a {kind} model; this step runs "
                            f"{' and '.join(kinds)} models only")
    if description is not None:
        expected, found = dataset_signature(description), payload["dataset"]
        for key in ("channels", "parameters", "spatial_shape"):
            if list(found[key]) != list(expected[key]):
                raise SurrolabError(f"checkpoint was trained on {key}={found[key]} but the dataset has "
                                    f"{key}={expected[key]}: train on this dataset's problem and resolution")
    model = get_model_class(payload["model"])(**payload["constructor"])
    model.load_state_dict(payload["state_dict"])
    if not payload["normalizer"]:  # a particle model: its statistics are its own buffers
        return model.eval(), None
    normalizer = Normalizer(*(payload["normalizer"][k] for k in ("field_mean", "field_std", "parameter_mean",
                                                                   "parameter_std")))
    return model.eval(), normalizer
