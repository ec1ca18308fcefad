"""Dataset file -> trained run: the one place that reads a dataset's splits and trains a model on them (a
particle model goes through `particle_run.train_particle_run`, a mesh model through `mesh_run.train_mesh_run`,
chosen by the model's `input_kind`).

`surrolab train` and the comparison scripts under benchmarks/ both call `train_run`, so a model trains the
same way from the command line and in a study. It sits at the edge (files in, files out); the numerics
are `training.train` and the model's `forward`. `announce(n_parameters, n_train_windows, n_val_windows)`
and `progress` are the caller's callbacks (the CLI prints and shows a bar).
"""
from __future__ import annotations

from pathlib import Path


def model_settings(cls) -> dict:
    """The hyperparameters `cls` takes as `--set` keys, with the defaults that type them: a grid model's
    keyword-only constructor arguments other than the shapes the dataset gives, a particle model's
    `particle_run.particle_settings`."""
    import inspect

    from surrolab.surrogates.particle_run import is_particle_model, particle_settings

    if is_particle_model(cls):
        return particle_settings(cls)
    return {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()
            if p.kind is p.KEYWORD_ONLY and p.default is not p.empty
            and k not in ("history", "horizon", "n_channels", "n_parameters", "spatial_shape")}


def check_settings(cls, hyper: dict, prefix: str = "") -> dict:
    """`hyper` for `cls`, refused before any dataset is read: an unknown key fails with the allowed ones, a
    value outside its limits (the model's `limits` table, with the particle settings' for particle models)
    with the field, the value and what is allowed. `prefix` names the fields (`base.` for CAPE's base)."""
    from surrolab.errors import SurrolabError
    from surrolab.surrogates.hyperparameters import check_hyperparameters
    from surrolab.surrogates.particle_run import PARTICLE_LIMITS, is_particle_model

    allowed = model_settings(cls)
    unknown = sorted(set(hyper) - set(allowed))
    if unknown:
        raise SurrolabError(f"unknown {cls.name} setting(s) {', '.join(prefix + k for k in unknown)}; allowed: "
                            f"{', '.join(sorted(allowed))}")
    limits = {**cls.limits, **(PARTICLE_LIMITS if is_particle_model(cls) else {})}
    check_hyperparameters(limits, {**allowed, **hyper}, prefix)
    return hyper


def training_splits(f, model_name: str, kind: str, remedy: str):
    """(description, train indices, val indices) of an open dataset that a `kind` model (`particles`, `mesh`)
    trains on; a dataset of another geometry, or one without training samples, fails naming what to do."""
    from surrolab.datasets import schema
    from surrolab.errors import SurrolabError

    description = schema.read_description(f)
    refuse_steady(description, f.filename, model_name)
    if description.geometry_type != kind:
        raise SurrolabError(f"{model_name} is a {'particle' if kind == 'particles' else kind} model and {f.filename} "
                            f"a {description.geometry_type} dataset: {remedy}")
    return (description, *train_val_indices(f))


def train_val_indices(f):
    """(train indices, val indices) of an open dataset; none to train on fails in one line."""
    from surrolab.datasets import schema
    from surrolab.errors import SurrolabError

    train_idx, val_idx = schema.read_split(f, "train"), schema.read_split(f, "val")
    if len(train_idx) == 0:
        raise SurrolabError(f"{f.filename} has no training samples: generate more samples")
    return train_idx, val_idx


def refuse_steady(description, data, model_name: str) -> None:
    """One line when a time-stepping model is given a dataset of steady operator pairs (schema 1.3)."""
    from surrolab.errors import SurrolabError

    if description.steady:
        raise SurrolabError(f"{data} holds steady operator pairs ({', '.join(description.input_fields)} -> "
                            f"{', '.join(description.output_fields)}), not trajectories: {model_name} steps "
                            "fields in time and cannot learn it")


def run_summary(out, model) -> dict:
    """What a runner returns: the run folder, the parameter count and the training time of the whole run as
    the checkpoint records it (a resumed or already finished run counts the epochs of every session)."""
    import torch

    seconds = float(torch.load(Path(out) / "model.pt", weights_only=True)["train_seconds_total"])
    return {"run": str(out), "n_parameters": sum(p.numel() for p in model.parameters()), "train_seconds": seconds}


def train_run(model_name: str, data: str | Path, out: str | Path, *, epochs: int = 20, batch_size: int = 16,
              lr: float = 1e-3, history: int | None = None, seed: int = 0, device: str = "auto", hyper: dict | None = None,
              curriculum: bool = False, warmup_epochs: int = 0, select_on: str = "val_loss", progress=None,
              announce=None) -> dict:
    """Build `model_name` for the dataset, train it on the training split and save the run in `out`.

    What `surrolab train` and the comparison scripts run: masks on mesh datasets, `model.training_hooks()` (CAPE's curriculum,
    T1's spectral loss), windows unrolled as the hooks ask. `history`: input frames (None: 2 for grid models,
    the model's own default for particle models). Returns {"run", "n_parameters", "train_seconds"}.
    """
    import torch

    from surrolab.datasets import schema
    from surrolab.datasets.torch_data import FrameWindows
    from surrolab.errors import SurrolabError, check_positive_int
    from surrolab.registry import get_model_class
    from surrolab.surrogates.base import Normalizer, build_model, dataset_signature
    from surrolab.surrogates.mesh_run import train_mesh_run
    from surrolab.surrogates.operator_run import train_operator_run
    from surrolab.surrogates.particle_run import train_particle_run
    from surrolab.surrogates.training import TrainConfig, train

    config = TrainConfig(epochs=epochs, batch_size=batch_size, learning_rate=lr, seed=seed, device=device,
                         warmup_epochs=warmup_epochs, select_on=select_on)
    config.torch_device()  # a GPU asked for and not there fails here, before the dataset is read
    cls = get_model_class(model_name)
    hyper = check_settings(cls, dict(hyper or {}))
    if history is not None:
        check_positive_int("history", history)
    kind = getattr(cls, "input_kind", "grid")
    if kind != "grid":  # particle, mesh and operator models: their own runner, the same loop
        if select_on != "val_loss":
            raise SurrolabError(f"select_on={select_on!r} is for grid models; {model_name} keeps the lowest val_loss")
        if curriculum:
            raise SurrolabError(f"--curriculum is for grid models; {model_name} trains on one-step targets")
        runner = {"particles": train_particle_run, "mesh": train_mesh_run, "operator": train_operator_run}[kind]
        return runner(model_name, data, out, config, history=history, hyper=hyper, progress=progress,
                      announce=announce)
    history = 2 if history is None else history
    with schema.open_dataset(data) as f:
        description = schema.read_description(f)
        refuse_steady(description, data, model_name)
        if description.geometry_type == "particles":
            raise SurrolabError(f"{data} is a particle dataset and {model_name} a grid model: train a particle "
                                "model (gns, giorom)")
        train_idx, val_idx = schema.read_split(f, "train"), schema.read_split(f, "val")
        if len(train_idx) == 0:
            raise SurrolabError(f"{data} has no training samples: generate more samples")
        fields_train = schema.read_fields(f, description, train_idx)
        fields_val = schema.read_fields(f, description, val_idx)
        params_train = schema.read_parameters(f, description, train_idx)
        params_val = schema.read_parameters(f, description, val_idx)
        normalizer = Normalizer.from_dataset(f, description)
        on_mesh = description.geometry_type == "mesh"
        mask_train = schema.read_mask(f, train_idx) if on_mesh else None
        mask_val = schema.read_mask(f, val_idx) if on_mesh and len(val_idx) else None
    torch.manual_seed(seed)
    model = build_model(model_name, description, history=history, **(hyper or {}))
    hooks = model.training_hooks()
    if curriculum and hooks is None:
        from surrolab.surrogates.curriculum import Curriculum

        hooks = Curriculum()
    unroll = getattr(hooks, "rollout_steps", 1)
    train_set = FrameWindows(fields_train, params_train, model.history, model.horizon, normalizer, mask_train,
                             rollout_steps=unroll)
    val_set = FrameWindows(fields_val, params_val, model.history, model.horizon, normalizer, mask_val,
                           rollout_steps=unroll)
    if announce is not None:
        announce(sum(p.numel() for p in model.parameters()), len(train_set), len(val_set))
    score = None
    if select_on == "val_rollout" and len(val_idx):
        from surrolab.surrogates.rollout import validation_rollout

        score = validation_rollout(fields_val, params_val, normalizer, model.history, mask_val)
    train(model, normalizer, train_set, val_set, config, out, signature=dataset_signature(description),
          hooks=hooks, progress=progress, metadata={"data": str(data)}, validation_rollout=score)
    return run_summary(out, model)
