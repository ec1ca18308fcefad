import math

import numpy as np
import pytest
import torch

from surrolab.datasets.torch_data import FrameWindows
from surrolab.errors import SurrolabError
from surrolab.surrogates.base import GridSurrogate, Normalizer
from surrolab.surrogates.curriculum import Curriculum, autoregressive_fraction, unrolled_loss
from surrolab.surrogates.rollout import rollout


class Damped(GridSurrogate):
    """next = a · last + b · previous, a learnable linear map: its rollout is easy to compute by hand."""

    name = "damped"

    def __init__(self, history=2):
        super().__init__(n_channels=1, n_parameters=1, spatial_shape=(4,), history=history)
        self.constructor = {}
        self.a = torch.nn.Parameter(torch.tensor(0.7))
        self.b = torch.nn.Parameter(torch.tensor(0.2))

    def forward(self, frames, parameters):
        return self.a * frames[:, -1:] + self.b * frames[:, -2:-1]


class Oracle(GridSurrogate):
    """Returns the true next frame of the trajectory `truth` that the window was cut from."""

    name = "oracle"

    def __init__(self, truth):
        super().__init__(n_channels=1, n_parameters=1, spatial_shape=(4,), history=2)
        self.constructor, self.truth = {}, truth
        self.scale = torch.nn.Parameter(torch.tensor(1.0))

    def forward(self, frames, parameters):
        # find where the window's last frame sits in the trajectory (frames are distinct)
        last = frames[:, -1]  # (B, C, *spatial)
        hit = [int(torch.argmin(((self.truth[i] - last[i]) ** 2).flatten(1).sum(1))) for i in range(len(last))]
        return self.scale * torch.stack([self.truth[i, t + 1] for i, t in enumerate(hit)])[:, None]


def test_the_schedule_starts_with_teacher_forcing_ends_autoregressive_and_never_goes_back():
    epochs = 50
    s = [autoregressive_fraction(e, epochs) for e in range(epochs)]
    assert s[0] == 0.0 and s[-1] == 1.0  # exact endpoints
    assert all(b > a for a, b in zip(s, s[1:]))  # strictly increasing over the ramp
    # the paper's ½(1 + tanh((e − ½)/0.2)), up to the rescaling that makes the endpoints exact
    for e, value in enumerate(s):
        paper = 0.5 * (1 + math.tanh((e / (epochs - 1) - 0.5) / 0.2))
        assert abs(value - paper) < 0.007
    assert s[(epochs - 1) // 2] < 0.5 < s[epochs // 2]  # symmetric about the middle of training
    warm = [autoregressive_fraction(e, epochs, warmup=10) for e in range(epochs)]
    assert warm[:11] == [0.0] * 11 and warm[-1] == 1.0
    assert all(b >= a for a, b in zip(warm, warm[1:]))
    steps = [Curriculum(epochs=epochs, rollout_steps=5).n_fed(e, 5) for e in range(epochs)]
    assert steps[0] == 0 and steps[-1] == 4 and steps == sorted(steps)
    with pytest.raises(SurrolabError, match="width"):
        autoregressive_fraction(0, 10, width=0.0)


def trajectory(n_times=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(3, n_times, 1, 4, generator=g)  # (B, T, C, x)


def test_at_the_start_every_step_sees_the_truth_and_at_the_end_its_own_rollout():
    truth, model = trajectory(), Damped()
    frames, targets, p = truth[:, :2], truth[:, 2:], torch.zeros(3, 1)
    hooks = Curriculum(epochs=10, rollout_steps=4)
    batch = {"frames": frames, "parameters": p, "targets": targets}
    with torch.no_grad():
        forced = hooks.loss(model, batch, epoch=0)
        one_step = torch.stack([torch.mean((model(truth[:, k:k + 2], p) - truth[:, k + 2:k + 3]) ** 2)
                                for k in range(4)]).mean()
        torch.testing.assert_close(forced, one_step)
        free = hooks.loss(model, batch, epoch=9)
        identity = Normalizer([0.0], [1.0], [0.0], [1.0])
        rolled = rollout(model, identity, frames, p, n_frames=6)[:, 2:]  # the shared autoregressive rollout
        torch.testing.assert_close(free, torch.mean((rolled - targets) ** 2))
        assert not torch.isclose(forced, free)
        # validation (eval mode) always scores the full rollout, whatever the epoch
        model.eval()
        torch.testing.assert_close(hooks.loss(model, batch, epoch=0), free)


def test_a_model_that_returns_the_true_next_state_has_zero_loss_at_every_stage():
    truth = trajectory()
    model = Oracle(truth)
    batch = {"frames": truth[:, :2], "parameters": torch.zeros(3, 1), "targets": truth[:, 2:]}
    hooks = Curriculum(epochs=5, rollout_steps=4)
    for epoch in range(5):
        assert hooks.loss(model, batch, epoch).item() == 0.0


def test_detached_feedback_cuts_the_gradient_through_earlier_calls_only_when_predictions_are_fed():
    truth = trajectory()
    frames, targets, p = truth[:, :2], truth[:, 2:], torch.zeros(3, 1)

    def grads(n_fed, detach):
        model = Damped()
        unrolled_loss(model, frames, p, targets, n_fed, detach).backward()
        return torch.stack([model.a.grad, model.b.grad])

    torch.testing.assert_close(grads(0, True), grads(0, False))  # teacher forcing: nothing to detach
    assert not torch.allclose(grads(3, True), grads(3, False))  # backpropagation through the rollout


def test_frame_windows_unrolled_hold_consecutive_targets_and_default_is_unchanged():
    rng = np.random.default_rng(0)
    fields = rng.normal(size=(2, 7, 1, 3)).astype(np.float32)
    single = FrameWindows(fields, np.zeros((2, 1)), history=2)
    unrolled = FrameWindows(fields, np.zeros((2, 1)), history=2, rollout_steps=3)
    assert len(single) == 2 * 5 and len(unrolled) == 2 * 3
    item = unrolled[4]  # sample 1, start 1
    np.testing.assert_array_equal(item["frames"].numpy(), fields[1, 1:3])
    np.testing.assert_array_equal(item["targets"].numpy(), fields[1, 3:6])
    np.testing.assert_array_equal(single[6]["targets"].numpy(), fields[1, 3:4])
    with pytest.raises(ValueError, match="rollout_steps"):
        FrameWindows(fields, np.zeros((2, 1)), history=2, rollout_steps=0)


def test_the_curriculum_learns_the_run_length_from_the_training_loop():
    from surrolab.surrogates.training import TrainConfig

    hooks = Curriculum()
    with pytest.raises(SurrolabError, match="epochs"):
        hooks.fraction(0)
    hooks.on_train_start(TrainConfig(epochs=7))
    assert hooks.fraction(0) == 0.0 and hooks.fraction(6) == 1.0
