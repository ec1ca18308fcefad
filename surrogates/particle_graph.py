"""Graphs on particle sets, shared by the particle models (GNS, GIOROM): radius graphs from scipy's
cKDTree (`torch-cluster` and `pyg-lib` do not install here) and farthest-point sampling of a sparse
subset (GIOROM's sparse graph, Viswanath et al.; the PointNet++ sampling of Qi et al. 2017)."""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def radius_graph(positions: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Directed edges (senders, receivers) between distinct particles closer than `radius`, both ways."""
    pairs = cKDTree(positions).query_pairs(radius, output_type="ndarray")  # (E/2, 2), i < j
    return np.concatenate([pairs[:, 0], pairs[:, 1]]), np.concatenate([pairs[:, 1], pairs[:, 0]])


def farthest_point_sampling(positions: np.ndarray, n_samples: int, first: int = 0) -> np.ndarray:
    """Indices of `n_samples` particles, each the one farthest from those already chosen (greedy), starting
    from particle `first`: a subset that covers the set evenly. Its covering radius (the largest distance
    from a particle to the subset) is at most the subset's smallest pairwise distance. O(N · n_samples)."""
    positions = np.asarray(positions, dtype=np.float64)
    n = len(positions)
    if not 1 <= n_samples <= n:
        raise ValueError(f"n_samples={n_samples} is not allowed: from 1 to the {n} particles")
    chosen = np.empty(n_samples, dtype=np.int64)
    chosen[0] = first
    distance = np.linalg.norm(positions - positions[first], axis=1)  # to the nearest chosen particle
    for k in range(1, n_samples):
        chosen[k] = int(np.argmax(distance))
        np.minimum(distance, np.linalg.norm(positions - positions[chosen[k]], axis=1), out=distance)
    return chosen


def graph_edges(positions, radius: float, self_loops: bool = False, backend: str = "auto"):
    """`radius_graph` of a torch tensor of positions (N, dim), as long tensors on its device. backend "auto":
    scipy's cKDTree for CPU tensors (faster here: benchmarks/results/particle_graph_speed.md), warp's HashGrid
    on the tensor's GPU; "kdtree" or "warp" to choose."""
    import torch

    if backend not in ("auto", "kdtree", "warp"):
        raise ValueError(f"backend={backend!r} is not allowed: 'auto', 'kdtree' or 'warp'")
    points = positions.detach().cpu().numpy()
    if backend == "warp" or (backend == "auto" and positions.is_cuda):
        from surrolab.surrogates.warp_radius_graph import radius_graph_warp

        device = f"cuda:{positions.device.index or 0}" if positions.is_cuda else "cpu"
        senders, receivers = radius_graph_warp(points, radius, device=device)
    else:
        senders, receivers = radius_graph(points, radius)
    if self_loops:
        loops = np.arange(len(points))
        senders, receivers = np.concatenate([senders, loops]), np.concatenate([receivers, loops])
    as_index = lambda a: torch.as_tensor(a, dtype=torch.long, device=positions.device)  # noqa: E731
    return as_index(senders), as_index(receivers)
