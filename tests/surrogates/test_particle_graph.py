"""Radius graphs against brute force. Farthest-point sampling: each pick is the particle farthest from those before it, the subset covers the
set within its own spacing, and the choice moves with the particles (translation, permutation)."""
import numpy as np
import pytest

from surrolab.surrogates.particle_graph import farthest_point_sampling, radius_graph


def test_each_pick_is_the_farthest_from_the_picks_before_it():
    x = np.random.default_rng(0).uniform(size=(300, 2))
    chosen = farthest_point_sampling(x, 20, first=7)
    assert chosen[0] == 7 and len(set(chosen.tolist())) == 20
    for k in range(1, 20):
        nearest = np.linalg.norm(x[:, None] - x[chosen[:k]][None], axis=-1).min(axis=1)
        assert nearest[chosen[k]] == pytest.approx(nearest.max())


@pytest.mark.parametrize("dim", [2, 3])
def test_the_subset_covers_the_set_within_its_own_spacing(dim):
    x = np.random.default_rng(1).uniform(size=(2000, dim))
    chosen = farthest_point_sampling(x, 100)
    sub = x[chosen]
    spacing = np.linalg.norm(sub[:, None] - sub[None], axis=-1)[np.triu_indices(100, 1)].min()
    covering = np.linalg.norm(x[:, None] - sub[None], axis=-1).min(axis=1).max()
    assert covering <= spacing + 1e-12
    # evenly spread: a random subset of the same size leaves larger holes (measured: 0.63× in 3D)
    random = x[np.random.default_rng(2).choice(2000, 100, replace=False)]
    assert covering < 0.75 * np.linalg.norm(x[:, None] - random[None], axis=-1).min(axis=1).max()


def test_the_choice_moves_with_the_particles():
    x = np.random.default_rng(3).uniform(size=(500, 3))
    chosen = farthest_point_sampling(x, 30)
    assert np.array_equal(farthest_point_sampling(x + 5.0, 30), chosen)
    order = np.random.default_rng(4).permutation(500)
    permuted = farthest_point_sampling(x[order], 30, first=int(np.flatnonzero(order == 0)[0]))
    assert np.array_equal(order[permuted], chosen)
    with pytest.raises(ValueError, match="n_samples"):
        farthest_point_sampling(x, 501)


def test_radius_graph_matches_brute_force():
    x = np.random.default_rng(0).uniform(size=(200, 3))
    senders, receivers = radius_graph(x, 0.15)
    distance = np.linalg.norm(x[:, None] - x[None], axis=-1)
    expected = {(i, j) for i, j in zip(*np.nonzero(distance < 0.15)) if i != j}
    assert set(zip(senders.tolist(), receivers.tolist())) == expected


@pytest.mark.parametrize("dim", [2, 3])
def test_warp_hash_grid_gives_the_same_edges_as_the_kd_tree(dim):
    from surrolab.surrogates.warp_radius_graph import radius_graph_warp

    x = np.random.default_rng(5).uniform(size=(1500, dim)) * np.array([1.0, 0.5, 0.3][:dim])
    expected = set(zip(*(a.tolist() for a in radius_graph(x, 0.05))))
    found = list(zip(*(a.tolist() for a in radius_graph_warp(x, 0.05))))
    assert len(found) == len(set(found)) and set(found) == expected and len(expected) > 1500


def test_graph_edges_are_the_same_from_either_backend_with_or_without_self_loops():
    import torch

    from surrolab.surrogates.particle_graph import graph_edges

    positions = torch.rand(300, 2, generator=torch.Generator().manual_seed(4))
    edge_sets = []
    for backend in ("kdtree", "warp"):
        senders, receivers = graph_edges(positions, 0.08, self_loops=True, backend=backend)
        assert senders.dtype == torch.long and senders.device == positions.device
        edge_sets.append(set(zip(senders.tolist(), receivers.tolist())))
    assert edge_sets[0] == edge_sets[1]
    assert {(i, i) for i in range(300)} <= edge_sets[0]
    plain = graph_edges(positions, 0.08)  # "auto" on a CPU tensor: cKDTree
    assert len(plain[0]) == len(edge_sets[0]) - 300
    with pytest.raises(ValueError, match="backend"):
        graph_edges(positions, 0.08, backend="faiss")
