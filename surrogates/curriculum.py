"""The curriculum from teacher forcing to autoregressive training (CAPE, Takamoto et al. 2023, Sec. 3.3).

A model trained only on one-step pairs (teacher forcing) never sees its own errors as inputs, and its
rollouts drift; a model trained only on long autoregressive rollouts learns slowly and unstably at the
start. The curriculum moves smoothly from the first to the second. Over a window of `n` steps the model
is unrolled from true frames; after step k the frame appended to its input window is its own prediction
for the first `n_fed` steps and the true frame afterwards, and

    e     = clip((epoch − warm-up) / (epochs − 1 − warm-up), 0, 1)          training progress
    s(e)  = ½ (1 + tanh((e − ½)/w)), rescaled to s(0) = 0 and s(1) = 1        the paper's schedule, w = 0.2
    n_fed = round(s(e) · (n − 1))                                            feedbacks (n − 1 at most)

so epoch 0 is pure teacher forcing and the last epoch a fully autoregressive rollout. The paper's tanh
leaves 0.7 % at either end; the affine rescaling makes the endpoints exact and keeps the shape.

Fed-back predictions are detached by default (`detach=True`): the gradient of each step's loss goes
through that step's call only, as in the pushforward trick (Brandstetter et al., ICLR 2022, Sec. 2.3).
The model is trained on the distribution of its own outputs as inputs, memory stays that of one step
whatever the rollout length, and no gradient explodes through a long chain of calls. `detach=False`
backpropagates through the whole rollout.

Every grid model can switch it on: pass `Curriculum()` as the training loop's hooks and give it windows
of several steps (`FrameWindows(..., rollout_steps=n)`). Validation (the model in eval mode) always
scores the fully autoregressive rollout, a fixed criterion, so the kept best epoch is comparable across
the schedule.
"""
from __future__ import annotations

import math

import torch

from surrolab.errors import SurrolabError
from surrolab.surrogates.training import Hooks, masked_mse


def autoregressive_fraction(epoch: int, epochs: int, warmup: int = 0, width: float = 0.2) -> float:
    """s(e) in [0, 1] at 0-based `epoch` of `epochs`: 0 up to the warm-up, 1 at the last epoch, monotone."""
    if width <= 0:
        raise SurrolabError(f"width={width}: the schedule's width must be > 0")
    span = epochs - 1 - warmup
    if epoch < warmup:
        return 0.0
    if span <= 0:  # no epochs left to ramp over: the end of the schedule
        return 1.0
    e = min(max((epoch - warmup) / span, 0.0), 1.0)
    edge = math.tanh(0.5 / width)
    return (math.tanh((e - 0.5) / width) + edge) / (2.0 * edge)


class Curriculum(Hooks):
    """Hooks that train any grid surrogate along the teacher-forcing → autoregressive schedule.

    `epochs`: the length of the schedule; None takes the training run's epochs (`on_train_start`).
    `warmup`: epochs of pure teacher forcing first. `width`: the tanh's width in units of progress.
    `detach`: cut the gradient through fed-back predictions (see the module docstring).
    `rollout_steps`: how many model calls a training window holds (what `FrameWindows` is asked for).
    """

    def __init__(self, epochs: int | None = None, warmup: int = 0, width: float = 0.2, detach: bool = True,
                 rollout_steps: int = 3):
        if rollout_steps < 1:
            raise SurrolabError(f"rollout_steps={rollout_steps}: must be >= 1")
        self.epochs, self.warmup, self.width = epochs, warmup, width
        self.detach, self.rollout_steps = detach, rollout_steps

    def on_train_start(self, config) -> None:
        if self.epochs is None:
            self.epochs = config.epochs

    def fraction(self, epoch: int) -> float:
        if self.epochs is None:
            raise SurrolabError("the curriculum does not know the number of epochs: give epochs= or train "
                                "through training.train")
        return autoregressive_fraction(epoch, self.epochs, self.warmup, self.width)

    def n_fed(self, epoch: int, n_steps: int) -> int:
        """How many of the n_steps − 1 feedbacks use the model's own prediction at this epoch."""
        return round(self.fraction(epoch) * (n_steps - 1))

    def loss(self, model, batch: dict[str, torch.Tensor], epoch: int) -> torch.Tensor:
        frames, targets = batch["frames"], batch["targets"]  # (B, history, C, *s), (B, n·horizon, C, *s)
        horizon = model.horizon
        if targets.shape[1] % horizon:
            raise SurrolabError(f"the window holds {targets.shape[1]} target frames, not a multiple of the "
                                f"model's horizon {horizon}")
        n_steps = targets.shape[1] // horizon
        n_fed = self.n_fed(epoch, n_steps) if model.training else n_steps - 1
        return unrolled_loss(model, frames, batch["parameters"], targets, n_fed, self.detach, batch.get("mask"))


def unrolled_loss(model, frames: torch.Tensor, parameters: torch.Tensor, targets: torch.Tensor, n_fed: int,
                  detach: bool = True, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over the n steps of the one-step loss, the first `n_fed` steps feeding back the prediction."""
    history, horizon = frames.shape[1], model.horizon
    window, losses = frames, []
    for k in range(targets.shape[1] // horizon):
        truth = targets[:, k * horizon:(k + 1) * horizon]  # (B, horizon, C, *spatial)
        prediction = model(window, parameters)  # (B, horizon, C, *spatial)
        losses.append(masked_mse(prediction, truth, mask))
        fed = (prediction.detach() if detach else prediction) if k < n_fed else truth
        window = torch.cat([window, fed], dim=1)[:, -history:]  # (B, history, C, *spatial)
    return torch.stack(losses).mean()
