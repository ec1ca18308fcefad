"""GNS (Sanchez-Gonzalez et al. 2020): the properties its construction guarantees: translation invariance
away from the walls, permutation equivariance, and a rollout driven by an oracle that
returns the true accelerations reproduces the trajectory (LagrangeBench's rollout test)."""
import numpy as np
import torch

from surrolab.surrogates.gns import GNS, rollout
from surrolab.surrogates.particle_graph import radius_graph


def model(dim=2, n_types=2):
    torch.manual_seed(0)
    return GNS(dim, n_types, radius=0.1, bounds=(np.zeros(dim), np.ones(dim)),
               velocity_stats=(np.zeros(dim), np.full(dim, 0.01)),
               acceleration_stats=(np.zeros(dim), np.full(dim, 0.001)), latent=32, n_layers=3)


def history(n=60, dim=2, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.35, 0.65, (n, dim))
    steps = rng.normal(scale=0.005, size=(5, n, dim)).cumsum(axis=0)
    return torch.tensor(np.stack([x] + [x + s for s in steps], axis=1), dtype=torch.float32)  # (n, 6, dim)


def edges(positions, radius=0.1):
    s, r = radius_graph(positions[:, -1].numpy(), radius)
    return torch.as_tensor(s, dtype=torch.long), torch.as_tensor(r, dtype=torch.long)


def test_translation_invariance_away_from_the_walls():
    net, x = model(), history()
    types = torch.tensor(np.arange(60) % 2)
    out = net(x, types, *edges(x))
    shifted = x + torch.tensor([0.07, -0.05])  # every particle stays farther than R from the walls
    assert torch.allclose(net(shifted, types, *edges(shifted)), out, atol=1e-4)
    assert out.abs().max() > 1e-3


def test_permutation_equivariance():
    net, x = model(), history()
    types = torch.tensor(np.arange(60) % 2)
    perm = torch.randperm(60, generator=torch.Generator().manual_seed(2))
    out = net(x, types, *edges(x))
    assert torch.allclose(net(x[perm], types[perm], *edges(x[perm])), out[perm], atol=1e-5)


def test_rollout_with_an_oracle_reproduces_the_trajectory():
    # a trajectory, and an oracle returning its true accelerations (second differences of the frames)
    t = torch.linspace(0, 1, 30)[:, None, None]
    x0 = torch.rand(40, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    truth = x0 + 0.1 * torch.sin(3 * t + x0) - 0.05 * t**2  # (30, 40, 2)
    accelerations = truth[2:] - 2 * truth[1:-1] + truth[:-2]
    calls = []

    def oracle(window):
        calls.append(None)
        return accelerations[len(calls) + 3]  # call k (from 1) predicts frame k + 5: truth[k+5] − 2 truth[k+4] + truth[k+3]

    frames = rollout(oracle, truth[:6].transpose(0, 1), 24)
    assert torch.allclose(frames, truth[6:], atol=1e-12)


def test_every_parameter_receives_a_gradient():
    net, x = model(), history()
    types = torch.tensor(np.arange(60) % 2)
    net.acceleration(net(x, types, *edges(x))).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().max() > 0 for p in net.parameters())


def test_trains_in_the_one_training_loop_and_reloads_from_its_checkpoint(tmp_path, drag_windows):
    # the trained GNS recovers the drag law from noisy histories; the checkpoint rebuilds the model
    from surrolab.surrogates.base import load_checkpoint
    from surrolab.surrogates.training import TrainConfig, train

    windows, velocity_stats, acceleration_stats = drag_windows
    torch.manual_seed(0)
    net = GNS(2, 1, radius=0.08, bounds=(np.zeros(2), np.ones(2)), history=3, latent=32, n_layers=2,
              velocity_stats=velocity_stats, acceleration_stats=acceleration_stats)
    hooks = net.training_hooks()
    batch = hooks.collate([windows[k] for k in range(len(windows))])
    with torch.no_grad():
        before = hooks.loss(net, batch, 0).item()
    train(net, None, windows, [], TrainConfig(epochs=30, batch_size=8, learning_rate=3e-3, weight_decay=0.0),
          tmp_path, signature={"problem": "drag"}, hooks=hooks)
    with torch.no_grad():
        after = hooks.loss(net, batch, 0).item()
    assert before > 0.5 and after < 0.05 * before  # normalised MSE: 1 is predicting the mean

    payload = load_checkpoint(tmp_path)
    assert payload["model"] == "gns" and payload["normalizer"] == {}
    rebuilt = GNS(**payload["constructor"])
    rebuilt.load_state_dict(payload["state_dict"])
    with torch.no_grad():
        assert torch.allclose(rebuilt.predict(batch["positions"], batch["types"]),
                              net.predict(batch["positions"], batch["types"]), atol=1e-6)
