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
