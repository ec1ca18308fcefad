"""GIOROM (Viswanath et al., arXiv 2407.03925): the properties its construction guarantees. The sparse
processor is equivariant to permuting the nodes and invariant to translating them (its latent grid is
anchored to the cloud); unlike GNS its reach is not bounded by the message-passing radius (the operator on
the latent grid is global); a batch of graphs gives each graph's own output; a rollout driven by an oracle
reproduces the sparse trajectory exactly and a rigid motion of the dense cloud exactly."""
import numpy as np
import pytest
import torch

from surrolab.surrogates.giorom import GIOROM, dense_rollout, sparse_subset
from surrolab.surrogates.gns import GNS
from surrolab.surrogates.kernel_interpolation import KernelInterpolation
from surrolab.surrogates.particle_graph import graph_edges, radius_graph

RADIUS = 0.06


def model(dim=2, n_types=2, grid_points=12):
    torch.manual_seed(0)
    return GIOROM(dim, n_types, radius=RADIUS, bounds=(np.zeros(dim), np.ones(dim)),
                  velocity_stats=(np.zeros(dim), np.full(dim, 0.01)),
                  acceleration_stats=(np.zeros(dim), np.full(dim, 0.001)), latent=32, grid_points=grid_points)


def history(n=80, dim=2, seed=1, low=0.35, high=0.65):
    rng = np.random.default_rng(seed)
    x = rng.uniform(low, high, (n, dim))
    steps = rng.normal(scale=0.005, size=(5, n, dim)).cumsum(axis=0)
    return torch.tensor(np.stack([x] + [x + s for s in steps], axis=1), dtype=torch.float32)  # (n, 6, dim)


def edges(positions):
    return graph_edges(positions[:, -1], RADIUS, self_loops=True)


@pytest.mark.parametrize("dim", [2, 3])
def test_permutation_equivariance(dim):
    net, x = model(dim), history(dim=dim)
    types = torch.tensor(np.arange(len(x)) % 2)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(2))
    out = net(x, types, *edges(x))
    assert torch.allclose(net(x[perm], types[perm], *edges(x[perm])), out[perm], atol=1e-5)
    assert out.abs().max() > 1e-2


@pytest.mark.parametrize("dim", [2, 3])
def test_translation_invariance_away_from_the_walls(dim):
    net, x = model(dim), history(dim=dim)
    types = torch.tensor(np.arange(len(x)) % 2)
    out = net(x, types, *edges(x))
    # every particle stays farther than R from the walls; the shift is not a multiple of the grid spacing
    shifted = x + torch.tensor([0.071, -0.053, 0.029][:dim])
    assert torch.allclose(net(shifted, types, *edges(shifted)), out, atol=1e-5)


def test_the_operator_reaches_beyond_the_message_passing_radius():
    # two clusters 0.3 apart: 2 + 2 interaction layers of radius 0.06 reach 0.24, GNS's 3 layers 0.18; a
    # change of cluster A's velocities moves GIOROM's output on cluster B (through the latent grid), not GNS's
    x = torch.cat([history(30, seed=3, low=0.2, high=0.3), history(30, seed=4, low=0.6, high=0.7)])
    kicked = x.clone()
    kicked[:30, -1] += 0.01
    types = torch.zeros(60, dtype=torch.long)
    net = model()
    change = (net(kicked, types, *edges(kicked)) - net(x, types, *edges(x)))[30:].abs().max()
    torch.manual_seed(0)
    gns = GNS(2, 2, RADIUS, (np.zeros(2), np.ones(2)), (np.zeros(2), np.full(2, 0.01)),
              (np.zeros(2), np.full(2, 0.001)), latent=32, n_layers=3)

    def gns_out(p):
        s, r = radius_graph(p[:, -1].numpy(), RADIUS)
        return gns(p, types, torch.as_tensor(s), torch.as_tensor(r))

    assert change > 1e-5  # at initialisation the path through the grid is weak, but it is there
    assert (gns_out(kicked) - gns_out(x))[30:].abs().max() == 0


def test_a_batch_gives_each_graph_its_own_output():
    net, a, b = model(), history(40, seed=5), history(50, seed=6, low=0.1, high=0.4)
    types = torch.zeros(90, dtype=torch.long)
    (sa, ra), (sb, rb) = edges(a), edges(b)
    batch = net(torch.cat([a, b]), types, torch.cat([sa, sb + 40]), torch.cat([ra, rb + 40]),
                torch.cat([torch.zeros(40, dtype=torch.long), torch.ones(50, dtype=torch.long)]))
    assert torch.allclose(batch[:40], net(a, types[:40], sa, ra), atol=1e-6)
    assert torch.allclose(batch[40:], net(b, types[40:], sb, rb), atol=1e-6)


@pytest.mark.parametrize("corner", [(0.0, 0.0), (0.8, 0.8), (0.0, 0.8)])
def test_every_node_reaches_the_latent_grid_wherever_the_cloud_is(corner):
    net = model(grid_points=8)
    cloud = torch.tensor(corner) + 0.2 * torch.rand(200, 2, generator=torch.Generator().manual_seed(7))
    cloud = torch.cat([cloud, torch.tensor([[0.0, 0.0], [1.0, 1.0]])])  # spanning the whole box
    local = cloud - (cloud.amin(dim=0) - 1.5 * net.grid[1, -1])
    found = net.gno_out.neighbor_search(data=net.grid, queries=local, radius=net.gno_radius)
    counts = found["neighbors_row_splits"][1:] - found["neighbors_row_splits"][:-1]
    assert counts.min() >= 1


def test_oracle_rollout_reproduces_the_sparse_trajectory_and_a_rigid_motion_of_the_dense_cloud():
    generator = torch.Generator().manual_seed(3)
    dense0 = torch.rand(300, 2, generator=generator, dtype=torch.float64) * 0.3 + 0.3
    t = torch.linspace(0, 1, 30, dtype=torch.float64)[:, None, None]
    wobble = dense0 + 0.05 * torch.sin(3 * t + dense0) - 0.05 * t**2  # (30, 300, 2): deforms
    rigid = dense0 + torch.cat([0.2 * t, -0.1 * t**2], dim=2)  # translation only
    sparse = sparse_subset(dense0.numpy(), 40, "fps", np.random.default_rng(0))
    interpolation = KernelInterpolation(2).double()
    for truth, exact_everywhere in ((wobble, False), (rigid, True)):
        accelerations = (truth[2:] - 2 * truth[1:-1] + truth[:-2])[:, sparse]
        calls = []

        def oracle(window):
            calls.append(None)
            return accelerations[len(calls) + 3]

        frames = dense_rollout(oracle, interpolation, truth[:6].transpose(0, 1), sparse, 24)
        assert torch.allclose(frames[:, sparse], truth[6:, sparse], atol=1e-12)
        if exact_everywhere:
            assert torch.allclose(frames, truth[6:], atol=1e-12)
        else:
            assert (frames - truth[6:]).abs().max() > 1e-6  # the interpolation is not exact for a deformation


def test_the_hooks_cut_each_window_to_its_sparse_subset():
    net = model()
    hooks = net.training_hooks(fraction=0.25, sampling="fps")
    items = [{"positions": history(80, seed=s), "types": torch.zeros(80, dtype=torch.long),
              "target": torch.zeros(80, 2)} for s in (1, 2)]
    batch = hooks.collate(items)
    assert batch["positions"].shape == (40, 6, 2) and torch.equal(batch["graph"].bincount(), torch.tensor([20, 20]))
    assert (batch["senders"] == batch["receivers"]).sum() == 40  # a self-loop at every node
    within = batch["graph"][batch["senders"]] == batch["graph"][batch["receivers"]]
    assert within.all()
    assert torch.isfinite(hooks.loss(net, batch, 0))
    with pytest.raises(ValueError, match="fraction"):
        net.training_hooks(fraction=0.0)


def test_every_parameter_receives_a_gradient():
    net, x = model(), history()
    types = torch.tensor(np.arange(80) % 2)
    net.acceleration(net(x, types, *edges(x))).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().max() > 0 for p in net.parameters())


def test_learns_the_drag_law_on_sparse_subsets_in_the_one_training_loop(tmp_path, drag_windows):
    from surrolab.surrogates.training import TrainConfig, train

    windows, velocity_stats, acceleration_stats = drag_windows
    torch.manual_seed(0)
    net = GIOROM(2, 1, radius=0.2, bounds=(np.zeros(2), np.ones(2)), history=3, latent=32, n_layers=1,
                 grid_points=8, velocity_stats=velocity_stats, acceleration_stats=acceleration_stats)
    hooks = net.training_hooks(fraction=0.5, seed=0)
    batch = net.training_hooks(fraction=0.5, seed=1).collate([windows[k] for k in range(len(windows))])
    with torch.no_grad():
        before = hooks.loss(net, batch, 0).item()
    train(net, None, windows, [], TrainConfig(epochs=30, batch_size=8, learning_rate=3e-3, weight_decay=0.0),
          tmp_path, signature={"problem": "drag"}, hooks=hooks)
    with torch.no_grad():
        after = hooks.loss(net, batch, 0).item()
    # normalised MSE (1: predicting the mean) on subsets it did not train on: 0.99 -> 0.14 measured (GNS's
    # schedule; GNS on all the particles reaches < 0.05 in tests/surrogates/test_gns.py)
    assert before > 0.5 and after < 0.25 * before
