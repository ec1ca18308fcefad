"""The radius graph on warp's `HashGrid`: the same edges as `particle_graph.radius_graph` (scipy's cKDTree),
computed where the particles live (a GPU, with the MPM state), in two passes: count each particle's
neighbours, then write them at offsets from the counts' prefix sum. Particles in 3D; 2D positions get z = 0.
Which is faster on the CPU is measured by benchmarks/particle_graph_speed.py."""

import numpy as np
import warp as wp


@wp.kernel
def _count(grid: wp.uint64, points: wp.array(dtype=wp.vec3), radius: float, counts: wp.array(dtype=wp.int32)):
    i = wp.tid()
    x = points[i]
    n = int(0)
    for j in wp.hash_grid_query(grid, x, radius):
        if j != i and wp.length(points[j] - x) < radius:
            n += 1
    counts[i] = n


@wp.kernel
def _fill(grid: wp.uint64, points: wp.array(dtype=wp.vec3), radius: float, offsets: wp.array(dtype=wp.int32),
          senders: wp.array(dtype=wp.int32), receivers: wp.array(dtype=wp.int32)):
    i = wp.tid()
    x = points[i]
    k = offsets[i]
    for j in wp.hash_grid_query(grid, x, radius):
        if j != i and wp.length(points[j] - x) < radius:
            senders[k] = j
            receivers[k] = i
            k += 1


def radius_graph_warp(positions: np.ndarray, radius: float, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Directed edges (senders, receivers) between distinct particles closer than `radius`, both ways,
    grouped by receiver (the order differs from cKDTree's; the set of edges is the same)."""
    positions = np.asarray(positions, dtype=np.float32)
    if positions.shape[1] == 2:
        positions = np.concatenate([positions, np.zeros((len(positions), 1), np.float32)], axis=1)
    n = len(positions)
    points = wp.array(positions, dtype=wp.vec3, device=device)
    # cells of size `radius`, enough of them to cover the set's extent (at most 128 per axis)
    extent = positions.max(axis=0) - positions.min(axis=0)
    cells = [int(min(128, max(1, np.ceil(e / radius)))) for e in extent]
    grid = wp.HashGrid(*cells, device=device)
    grid.build(points, radius)
    counts = wp.zeros(n, dtype=wp.int32, device=device)
    wp.launch(_count, n, inputs=[grid.id, points, radius, counts], device=device)
    counts_np = counts.numpy()
    offsets = wp.array(np.concatenate([[0], np.cumsum(counts_np)[:-1]]).astype(np.int32), device=device)
    n_edges = int(counts_np.sum())
    senders = wp.empty(n_edges, dtype=wp.int32, device=device)
    receivers = wp.empty(n_edges, dtype=wp.int32, device=device)
    wp.launch(_fill, n, inputs=[grid.id, points, radius, offsets, senders, receivers], device=device)
    return senders.numpy().astype(np.int64), receivers.numpy().astype(np.int64)
