"""The one training loop for every surrogate, with hooks where a model needs a different step (a grid
model's batches are stacked frames; a particle model's are graphs, which `Hooks.collate` builds).

Seeded and resumable exactly: the batch order of epoch e comes from a generator seeded with
(seed, e), and the end of every epoch writes `state.pt` (model, optimiser, scheduler, epoch, log), so a
run stopped at any point and started again with the same command ends with the same weights as an
uninterrupted one. `model.pt` holds the weights of the epoch with the lowest validation loss, with the
normaliser and the constructor arguments: all that inference needs.
Files, progress and logging stay out of the numerics: `progress` is a callback given by the CLI.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from surrolab.errors import SurrolabError, check_positive_int, check_range
from surrolab.surrogates.base import GridSurrogate, Normalizer, save_checkpoint, tensor_state

Progress = Callable[[int, int, float, float], None]  # (epoch, epochs, train loss, validation loss)
SELECT_ON = ("val_loss", "val_rollout")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 20
    batch_size: int = 16
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    grad_clip: float = 1.0  # max gradient norm; 0 switches clipping off
    seed: int = 0
    device: str = "auto"  # "auto" picks cuda when torch sees a GPU
    # the learning rate rises linearly over the steps of the first `warmup_epochs` epochs, then follows the
    # cosine: SineNet's schedule (Zhang et al. 2024, Sec. 5); without it SineNet's first epoch on our flow
    # datasets reached losses of 10³ in normalised units and had not recovered after 10 epochs
    warmup_epochs: int = 0
    # which epoch's weights `model.pt` keeps: the lowest validation loss (one step, teacher-forced), or the
    # lowest validation rollout error (`train(validation_rollout=...)`), the SineNet reference's choice
    # (`monitor: valid/unrolled_loss_mean`), which sees an unstable step that one-step targets do not
    select_on: str = "val_loss"

    def __post_init__(self):
        check_positive_int("epochs", self.epochs)
        if not isinstance(self.warmup_epochs, int) or not 0 <= self.warmup_epochs < self.epochs:
            raise SurrolabError(f"warmup_epochs={self.warmup_epochs!r} is not allowed: an integer from 0 to "
                                f"epochs - 1 = {self.epochs - 1}")
        if self.select_on not in SELECT_ON:
            raise SurrolabError(f"select_on={self.select_on!r} is not allowed: one of {', '.join(SELECT_ON)}")
        check_positive_int("batch_size", self.batch_size)
        check_range("learning_rate", self.learning_rate, 1e-8, 1.0)
        check_range("weight_decay", self.weight_decay, 0.0, 1.0)
        check_range("grad_clip", self.grad_clip, 0.0, 1e6)
        check_positive_int("seed", self.seed, minimum=0)  # GIOROM's subsets: numpy's generators refuse a negative seed
        if self.device not in ("auto", "cpu", "cuda") and not re.fullmatch(r"cuda:\d+", self.device):
            raise SurrolabError(f"device={self.device!r} is not allowed: use auto, cpu, cuda or cuda:N")

    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise SurrolabError(f"device={self.device!r} but torch sees no GPU; use --device cpu")
        return torch.device(self.device)


def masked_mse(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error over (B, horizon, C, *spatial); with a mask (B, 1, 1, *spatial), 1 inside the
    domain, the mean over the nodes inside only (a mesh dataset's grid nodes outside hold no solution)."""
    squared = (prediction - target) ** 2
    if mask is None:
        return torch.mean(squared)
    weight = mask.expand_as(squared)
    return (squared * weight).sum() / weight.sum().clamp_min(1.0)


class Hooks:
    """Default step: one-step mean squared error in normalised units (inside the fluid for mesh datasets).
    Subclass to change the step (multi-step rollout losses, CAPE's teacher-forcing curriculum,
    frequency-space losses)."""

    def loss(self, model: GridSurrogate, batch: dict[str, torch.Tensor], epoch: int) -> torch.Tensor:
        prediction = model(batch["frames"], batch["parameters"])
        return masked_mse(prediction, batch["targets"], batch.get("mask"))

    def collate(self, items: list[dict]) -> dict[str, torch.Tensor]:
        """Items of the dataset -> one batch (tensors only: the loop moves every value to the device)."""
        return default_collate(items)

    def batch_size(self, batch: dict[str, torch.Tensor]) -> int:
        """How many samples `batch` holds (the loss is averaged over samples)."""
        return len(batch["frames"])

    def on_train_start(self, config: TrainConfig) -> None:
        """Called once before the first epoch (a schedule over epochs learns the run's length here)."""

    def on_epoch_end(self, epoch: int, row: dict) -> None:
        pass


def train(model: torch.nn.Module, normalizer: Normalizer | None, train_set: Dataset, val_set: Dataset, config: TrainConfig,
          out_dir: str | Path, *, signature: dict, hooks: Hooks | None = None, progress: Progress | None = None,
          metadata: dict | None = None, validation_rollout: Callable[[torch.nn.Module], float] | None = None) -> dict:
    """Train `model` (already built and seeded) and return the last log row. `normalizer` None: the model
    holds its statistics itself (the particle models' buffers). `validation_rollout(model)`: the rollout error
    on the validation trajectories, logged every epoch and, with `config.select_on="val_rollout"`, what chooses
    the kept checkpoint."""
    if config.select_on == "val_rollout" and validation_rollout is None:
        raise SurrolabError("select_on='val_rollout' needs validation trajectories to roll out (a grid model's run)")
    hooks = hooks or Hooks()
    hooks.on_train_start(config)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = config.torch_device()
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    settings = dataclasses.asdict(config)
    for key, default in (("warmup_epochs", 0), ("select_on", "val_loss")):  # runs saved before these existed resume
        if settings[key] == default:
            del settings[key]
    run = {"train": settings, "model": model.name, "constructor": model.constructor, "dataset": signature}
    state_path = out_dir / "state.pt"
    start_epoch, best_val, rows, seconds = 0, float("inf"), [], 0.0
    if state_path.exists():
        state = torch.load(state_path, map_location=device, weights_only=True)
        if json.loads(state["run"]) != json.loads(json.dumps(run)):
            raise SurrolabError(f"{out_dir} holds a run with other settings; use another --out or the same command")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, best_val, rows, seconds = state["epoch"], state["best_val"], state["rows"], state["seconds"]
    val_loader = DataLoader(val_set, batch_size=config.batch_size, shuffle=False, collate_fn=hooks.collate)
    for epoch in range(start_epoch, config.epochs):
        tick = time.perf_counter()
        order = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, generator=order,
                            collate_fn=hooks.collate)
        model.train()
        total, count = 0.0, 0
        epoch_lr, warmup_steps = scheduler.get_last_lr()[0], config.warmup_epochs * len(loader)
        for step, batch in enumerate(loader):
            if epoch * len(loader) + step < warmup_steps:
                _set_learning_rate(optimizer, epoch_lr * (epoch * len(loader) + step + 1) / warmup_steps)
            batch = {k: v.to(device) for k, v in batch.items()}
            loss = hooks.loss(model, batch, epoch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            size = hooks.batch_size(batch)
            total, count = total + loss.item() * size, count + size
        _set_learning_rate(optimizer, epoch_lr)  # the cosine's own step starts from the value it set
        scheduler.step()
        val_loss = evaluate_loss(model, val_loader, hooks, epoch, device) if len(val_set) else float("nan")
        extra = {}
        if validation_rollout is not None:
            extra["val_rollout"] = validation_rollout(model) if len(val_set) else float("nan")
        seconds += time.perf_counter() - tick  # the validation, which chooses the checkpoint, is training's cost
        row = {"epoch": epoch + 1, "train_loss": total / max(count, 1), "val_loss": val_loss,
               "learning_rate": scheduler.get_last_lr()[0], "seconds": seconds, **extra}
        rows.append(row)
        selected = row["val_rollout"] if config.select_on == "val_rollout" else val_loss
        if not (selected >= best_val):  # also true for the first epoch when there is no validation split
            best_val = selected
            save_checkpoint(out_dir / "model.pt", model, normalizer and normalizer.cpu(), signature, epoch=epoch + 1,
                            val_loss=val_loss, train_seconds=seconds, train_config=dataclasses.asdict(config),
                            **(metadata or {}))
        torch.save({"run": json.dumps(run), "model": tensor_state(model), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "epoch": epoch + 1, "best_val": best_val, "rows": rows,
                    "seconds": seconds}, out_dir / "state.tmp")
        (out_dir / "state.tmp").replace(state_path)
        _write_log(out_dir / "log.csv", rows)
        hooks.on_epoch_end(epoch + 1, row)
        if progress is not None:
            progress(epoch + 1, config.epochs, row["train_loss"], val_loss)
    # the total training time goes into the kept checkpoint too: the harness's break-even count needs it
    best = torch.load(out_dir / "model.pt", weights_only=True)
    best["train_seconds_total"] = seconds
    torch.save(best, out_dir / "model.tmp")
    (out_dir / "model.tmp").replace(out_dir / "model.pt")
    return rows[-1] if rows else {}


@torch.no_grad()
def evaluate_loss(model: torch.nn.Module, loader: DataLoader, hooks: Hooks, epoch: int, device) -> float:
    model.eval()
    total, count = 0.0, 0
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        size = hooks.batch_size(batch)
        total += hooks.loss(model, batch, epoch).item() * size
        count += size
    return total / max(count, 1)


def _write_log(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _set_learning_rate(optimizer: torch.optim.Optimizer, value: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = value
