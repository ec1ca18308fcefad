"""GNS (Sanchez-Gonzalez et al. 2020): the properties its construction guarantees: translation invariance
away from the walls, permutation equivariance, the radius graph, and a rollout driven by an oracle that
returns the true accelerations reproduces the trajectory (LagrangeBench's rollout test)."""
import numpy as np
import torch

from surrolab.surrogates.gns import GNS, radius_graph, rollout


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


def test_radius_graph_matches_brute_force():
    x = np.random.default_rng(0).uniform(size=(200, 3))
    senders, receivers = radius_graph(x, 0.15)
    distance = np.linalg.norm(x[:, None] - x[None], axis=-1)
    expected = {(i, j) for i, j in zip(*np.nonzero(distance < 0.15)) if i != j}
    assert set(zip(senders.tolist(), receivers.tolist())) == expected


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
