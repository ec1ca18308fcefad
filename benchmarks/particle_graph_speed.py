"""Radius graphs on the CPU: scipy's cKDTree against warp's HashGrid (issue 7: use whichever measures
faster), at 10³–10⁵ particles with about 20 neighbours each, in 2D and 3D. Each time is the fastest of
5 after a warm-up (warp's kernels compiled and cached), both in one process, one after the other.

    python -m surrolab.benchmarks.particle_graph_speed --out benchmarks/results/particle_graph_speed.md
"""
from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np


def best_time(function, repeats: int = 5) -> float:
    function()
    times = []
    for _ in range(repeats):
        tick = time.perf_counter()
        function()
        times.append(time.perf_counter() - tick)
    return min(times)


def measure(counts=(1_000, 10_000, 100_000), neighbours: float = 20.0) -> list[dict]:
    import warp as wp

    from surrolab.surrogates.particle_graph import radius_graph
    from surrolab.surrogates.warp_radius_graph import radius_graph_warp

    wp.config.quiet = True
    rows = []
    for dim in (2, 3):
        for n in counts:
            x = np.random.default_rng(0).uniform(size=(n, dim))
            ball = np.pi if dim == 2 else 4 * np.pi / 3  # unit ball's volume
            radius = float((neighbours / (n * ball)) ** (1 / dim))
            edges = len(radius_graph(x, radius)[0])
            rows.append({"dim": dim, "particles": n, "radius": radius, "edges": edges,
                         "kd_tree_ms": 1e3 * best_time(lambda: radius_graph(x, radius)),
                         "hash_grid_ms": 1e3 * best_time(lambda: radius_graph_warp(x, radius))})
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/particle_graph_speed.md"))
    args = parser.parse_args(argv)
    rows = measure()
    lines = ["# Radius graphs on the CPU: cKDTree against warp's HashGrid", "",
             f"Command: `python -m surrolab.benchmarks.particle_graph_speed`. Machine: {platform.processor() or platform.machine()}, "
             "CPU only; uniform random particles in the unit box, about 20 neighbours each; fastest of 5.", "",
             "| dim | particles | edges | cKDTree (ms) | HashGrid (ms) | HashGrid / cKDTree |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dim']} | {r['particles']} | {r['edges']} | {r['kd_tree_ms']:.2f} | {r['hash_grid_ms']:.2f} | "
                     f"{r['hash_grid_ms'] / r['kd_tree_ms']:.2f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(args.out.read_text())


if __name__ == "__main__":
    main()
