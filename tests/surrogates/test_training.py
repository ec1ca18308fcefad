import numpy as np
import pytest
import torch

from surrolab.datasets import schema
from surrolab.datasets.torch_data import FrameWindows
from surrolab.errors import SurrolabError
from surrolab.surrogates.base import (Normalizer, build_model, dataset_signature, load_checkpoint,
                                      model_from_checkpoint)
from surrolab.surrogates.training import Hooks, TrainConfig, train


def setup(path):
    with schema.open_dataset(path) as f:
        d = schema.read_description(f)
        tr, va = schema.read_split(f, "train"), schema.read_split(f, "val")
        norm = Normalizer.from_dataset(f, d)
        np.testing.assert_allclose(norm.field_mean, [f["normalization/u/mean"][0], f["normalization/v/mean"][0]], rtol=1e-6)
        data = [FrameWindows(schema.read_fields(f, d, i), schema.read_parameters(f, d, i), 2, 1, norm)
                for i in (tr, va)]
    torch.manual_seed(0)
    model = build_model("fno", d, history=2, modes=4, hidden_channels=8, n_layers=2)
    return d, norm, model, data


class StopAfter(Hooks):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, epoch, row):
        if epoch == self.epoch:
            raise KeyboardInterrupt  # a run killed after this epoch


def test_resumed_training_ends_with_the_same_weights(tiny_dataset, tmp_path):
    config = TrainConfig(epochs=3, batch_size=4, seed=1, device="cpu")
    d, norm, model, (tr, va) = setup(tiny_dataset)
    train(model, norm, tr, va, config, tmp_path / "a", signature=dataset_signature(d))
    straight = torch.load(tmp_path / "a" / "state.pt", weights_only=True)["model"]

    d, norm, model, (tr, va) = setup(tiny_dataset)
    with pytest.raises(KeyboardInterrupt):
        train(model, norm, tr, va, config, tmp_path / "b", signature=dataset_signature(d), hooks=StopAfter(2))
    d, norm, model, (tr, va) = setup(tiny_dataset)  # a fresh process would start from new weights
    train(model, norm, tr, va, config, tmp_path / "b", signature=dataset_signature(d))
    resumed = torch.load(tmp_path / "b" / "state.pt", weights_only=True)["model"]
    assert straight.keys() == resumed.keys()
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key
    rows = (tmp_path / "b" / "log.csv").read_text().splitlines()
    assert len(rows) == 4  # header + one row per epoch, none repeated


def test_training_reduces_the_loss_and_the_checkpoint_rebuilds_the_model(tiny_dataset, tmp_path):
    d, norm, model, (tr, va) = setup(tiny_dataset)
    last = train(model, norm, tr, va, TrainConfig(epochs=30, batch_size=2, learning_rate=1e-2, device="cpu"),
                 tmp_path, signature=dataset_signature(d))
    log = (tmp_path / "log.csv").read_text().splitlines()
    first = float(log[1].split(",")[1])
    assert last["train_loss"] < 0.5 * first
    payload = load_checkpoint(tmp_path)  # weights_only=True inside: no arbitrary unpickling
    rebuilt, norm2 = model_from_checkpoint(payload, d)
    x, p = torch.randn(2, 2, 2, 8, 8), torch.randn(2, 1)
    best = torch.load(tmp_path / "model.pt", weights_only=True)
    model.load_state_dict(best["state_dict"])
    torch.testing.assert_close(rebuilt(x, p), model.eval()(x, p))
    torch.testing.assert_close(norm2.field_std, norm.field_std)
    assert payload["train_seconds_total"] > 0


def test_checkpoint_for_another_grid_is_refused(tiny_dataset, tmp_path):
    from surrolab.datasets.dummy import write_tiny

    d, norm, model, (tr, va) = setup(tiny_dataset)
    train(model, norm, tr, va, TrainConfig(epochs=1, device="cpu"), tmp_path / "run", signature=dataset_signature(d))
    other = write_tiny(tmp_path / "other.h5", n=10)
    with schema.open_dataset(other) as f:
        d10 = schema.read_description(f)
    with pytest.raises(SurrolabError, match="spatial_shape"):
        model_from_checkpoint(load_checkpoint(tmp_path / "run"), d10)


def test_bad_training_settings_name_the_field():
    with pytest.raises(SurrolabError, match="epochs=0"):
        TrainConfig(epochs=0)
    with pytest.raises(SurrolabError, match="device='tpu'"):
        TrainConfig(device="tpu")
    with pytest.raises(SurrolabError, match="select_on='rollout'.*val_loss, val_rollout"):
        TrainConfig(select_on="rollout")


def test_the_checkpoint_is_chosen_on_the_validation_rollout_when_asked(tiny_dataset, tmp_path):
    """`select_on="val_rollout"`: every epoch logs the validation rollout error, and model.pt holds the epoch
    where it is lowest (the SineNet reference's rule); the default keeps the lowest one-step loss."""
    import csv

    from surrolab.surrogates.train_run import train_run

    for select in ("val_rollout", "val_loss"):
        out = tmp_path / select
        train_run("unet", tiny_dataset, out, epochs=6, batch_size=2, lr=3e-2, seed=0, device="cpu", select_on=select,
                  hyper=dict(hidden_channels=4, channel_multipliers=(1,)))
        rows = list(csv.DictReader(open(out / "log.csv")))
        kept = torch.load(out / "model.pt", weights_only=True)["epoch"]
        column = "val_rollout" if select == "val_rollout" else "val_loss"
        assert ("val_rollout" in rows[0]) == (select == "val_rollout")
        assert kept == 1 + int(np.argmin([float(r[column]) for r in rows]))
    with pytest.raises(SurrolabError, match="select_on='val_rollout' is for grid models"):
        train_run("mgn", tiny_dataset, tmp_path / "m", epochs=1, select_on="val_rollout")


def test_the_validation_rollout_error_of_persistence_is_computed_by_hand(tiny_dataset):
    from surrolab.surrogates.rollout import validation_rollout

    d, norm, model, _ = setup(tiny_dataset)
    with schema.open_dataset(tiny_dataset) as f:
        idx = schema.read_split(f, "val")
        fields, params = schema.read_fields(f, d, idx), schema.read_parameters(f, d, idx)

    class Persistence(torch.nn.Module):
        history = 2

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, frames, parameters):
            return frames[:, -1:] + 0 * self.w

    z = norm.encode_fields(torch.as_tensor(fields, dtype=torch.float32), 2)
    held = z[:, 1:2].expand(-1, z.shape[1] - 2, -1, -1, -1)
    dims = (1, 2, 3, 4)
    expected = torch.mean(torch.linalg.vector_norm(held - z[:, 2:], dim=dims) / torch.linalg.vector_norm(z[:, 2:], dim=dims))
    assert validation_rollout(fields, params, norm, 2)(Persistence()) == pytest.approx(float(expected), rel=1e-5)


def test_warm_up_raises_the_learning_rate_linearly_then_leaves_the_cosine_as_it_was(tiny_dataset, tmp_path,
                                                                                    monkeypatch):
    """SineNet's schedule: a linear ramp over the first epochs' steps, then the cosine unchanged."""
    seen = []
    step = torch.optim.AdamW.step

    def recording_step(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", recording_step)
    logs = {}
    for warmup in (0, 2):
        seen.clear()
        d, norm, model, (tr, va) = setup(tiny_dataset)
        config = TrainConfig(epochs=4, batch_size=2, learning_rate=1e-2, warmup_epochs=warmup, device="cpu")
        train(model, norm, tr, va, config, tmp_path / str(warmup), signature=dataset_signature(d))
        logs[warmup] = [line.split(",")[3] for line in (tmp_path / str(warmup) / "log.csv").read_text().splitlines()]
        rates = list(seen)
    per_epoch = len(rates) // 4
    ramp = 2 * per_epoch
    expected = [1e-2 * (i + 1) / ramp for i in range(per_epoch)]  # epoch 1 at the full rate, ramped
    cosine_1 = 1e-2 * 0.5 * (1 + np.cos(np.pi / 4))  # epoch 2's cosine rate, ramped
    expected += [cosine_1 * (per_epoch + i + 1) / ramp for i in range(per_epoch)]
    np.testing.assert_allclose(rates[:ramp], expected, rtol=1e-9)
    assert rates[ramp - 1] == pytest.approx(cosine_1) and np.all(np.diff(rates[:per_epoch]) > 0)
    assert logs[0] == logs[2]  # the cosine per epoch is what it is without warm-up
    with pytest.raises(SurrolabError, match="warmup_epochs=4"):
        TrainConfig(epochs=4, warmup_epochs=4)


def test_the_loss_of_a_mesh_dataset_counts_only_the_nodes_inside_the_fluid():
    """Grid nodes outside a sample's mesh hold no solution: whatever a model predicts there, the default
    loss does not change, and inside it is the plain mean squared error over the inside nodes."""
    from surrolab.surrogates.training import masked_mse

    rng = np.random.default_rng(0)
    fields = rng.normal(size=(2, 4, 3, 6, 5)).astype(np.float32)  # (S, T, C, x, y)
    mask = np.ones((2, 6, 5), dtype=bool)
    mask[0, 4:, :] = False
    mask[1, :, :2] = False
    windows = FrameWindows(fields, np.zeros((2, 1)), history=2, horizon=1, mask=mask)
    batch = torch.utils.data.default_collate([windows[i] for i in range(len(windows))])
    prediction = batch["targets"] + torch.as_tensor(rng.normal(size=batch["targets"].shape), dtype=torch.float32)
    loss = masked_mse(prediction, batch["targets"], batch["mask"])
    garbage = torch.where(batch["mask"].bool(), prediction, torch.full_like(prediction, 1e6))
    assert masked_mse(garbage, batch["targets"], batch["mask"]) == loss
    inside = batch["mask"].bool().expand_as(prediction)
    assert loss == pytest.approx(float(((prediction - batch["targets"])[inside] ** 2).mean()), rel=1e-6)
    assert masked_mse(prediction, batch["targets"]) != pytest.approx(float(loss))  # the mask matters here
    with pytest.raises(ValueError, match="mask has shape"):
        FrameWindows(fields, np.zeros((2, 1)), history=2, mask=mask[:, :5])
