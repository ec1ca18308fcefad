"""Kernel launches over particle chunks from a thread pool: warp's CPU backend on more than one core.

Warp runs a CPU kernel on one thread, but its launch calls the compiled kernel through ctypes with the
GIL released, so launches from several Python threads run at once. A particle kernel is split into
contiguous chunks (array views, no copies), one launch per chunk:

- gather kernels (G2P, the materials' stress and return mapping) write disjoint particle ranges: no race;
- scatter kernels (P2G) add into the grid with `wp.atomic_add`, which on warp's CPU backend is a plain
  read-add-write (native/builtin.h: `atomic_add` is `buf[0] += value` off the GPU), so two chunks adding
  into one grid would lose updates. Each chunk after the first scatters into a private copy of the grid,
  and the copies are summed into the first afterwards (in node chunks, also in parallel).

A `Launcher` is the serial default (one `wp.launch`); `ChunkedLauncher(threads)` the parallel one. Both
have the same two calls, which the solver's step makes for its particle kernels; on a GPU, or when an
array records gradients (a `wp.Tape` must see the launches as they are), the chunked launcher launches
once, serially. Float sums in P2G are then added in a different order than in one launch: results agree
to float32 rounding, not bit for bit.
"""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import warp as wp


VIEW_CACHE = 512  # array views kept for reuse

@wp.kernel
def add_into(total: wp.array(dtype=Any), part: wp.array(dtype=Any)):
    # total += part, node by node (generic over the grid's value type)
    i = wp.tid()
    total[i] = total[i] + part[i]


class Launcher:
    """Serial launches: what `MPMSolver.step` does with no launcher given."""

    threads = 1

    def launch(self, kernel, n: int, inputs: list, outputs: list, device, shared=(), accumulate=(),
               before=None, after=None) -> None:
        """`kernel` over particles 0..n−1. Arrays in `shared` (e.g. the grid a gather reads) and in
        `accumulate` (the grid a scatter adds into) are not per-particle; every other array is. `before` and
        `after`, if given, are called as f(lo, hi) on each chunk of particles just before and after the kernel
        runs on it, in the same thread: work on the same particles needs no barrier of its own."""
        if before is not None:
            before(0, n)
        wp.launch(kernel, dim=n, inputs=inputs, outputs=outputs, device=device)
        if after is not None:
            after(0, n)

    def view(self, a: wp.array, lo: int, hi: int) -> wp.array:
        """Elements lo..hi−1 of `a` (for `before` and `after`)."""
        return a if (lo, hi) == (0, a.shape[0]) else a[lo:hi]

    def map(self, launch_on, indices: wp.array) -> None:
        """`launch_on(chunk)` for chunks of the particle index array `indices` (a material's particles)."""
        launch_on(indices)


class ChunkedLauncher(Launcher):
    """Launches over `threads` contiguous particle chunks at once on the CPU (see the module docstring)."""

    def __init__(self, threads: int = 2):
        if threads < 1:
            raise ValueError(f"threads={threads} must be at least 1")
        self.threads = threads
        self._pool = ThreadPoolExecutor(threads - 1, thread_name_prefix="mpm") if threads > 1 else None
        self._private: dict[tuple, list] = {}  # (id of a grid array, chunk) -> its private copy
        # Python-side costs dominate a 2D step (a 24k-particle step computes in ~1.7 ms; slicing a warp array
        # costs ~25 µs): chunk bounds and array views are made once and reused, the views with their parent
        # (so an id is not reused while it is a key), the cache emptied when it grows past VIEW_CACHE entries
        self._bounds_cache: dict[int, list[tuple[int, int]]] = {}
        self._views: dict[tuple, tuple] = {}

    def _serial(self, device, arrays) -> bool:
        return (self._pool is None or wp.get_device(device).is_cuda
                or any(isinstance(a, wp.array) and a.requires_grad for a in arrays))

    def _bounds(self, n: int) -> list[tuple[int, int]]:
        if n not in self._bounds_cache:
            edges = np.linspace(0, n, min(self.threads, max(n, 1)) + 1).astype(int)
            self._bounds_cache[n] = [(int(lo), int(hi)) for lo, hi in zip(edges[:-1], edges[1:]) if hi > lo]
        return self._bounds_cache[n]

    def _slice(self, a: wp.array, lo: int, hi: int) -> wp.array:
        key = (id(a), lo, hi)
        if key not in self._views:
            if len(self._views) > VIEW_CACHE:
                self._views.clear()
            self._views[key] = (a, a[lo:hi])
        return self._views[key][1]

    def _run(self, calls) -> None:
        # the first chunk runs on the calling thread: one hand-off fewer per phase (~0.1 ms, a 2D step's scale)
        futures = [self._pool.submit(call) for call in calls[1:]]
        try:
            calls[0]()
        finally:
            for future in futures:
                future.result()  # re-raises a chunk's error

    def _copy(self, grid: wp.array, chunk: int) -> wp.array:
        key = (id(grid), grid.shape, chunk)
        if key not in self._private:
            self._private[key] = [grid, wp.empty_like(grid)]  # keeps `grid` alive while its id is a key
        return self._private[key][1]

    def view(self, a: wp.array, lo: int, hi: int) -> wp.array:
        return self._slice(a, lo, hi)

    def launch(self, kernel, n, inputs, outputs, device, shared=(), accumulate=(), before=None, after=None) -> None:
        arguments = inputs + outputs
        if self._serial(device, arguments):
            return super().launch(kernel, n, inputs, outputs, device, shared, accumulate, before, after)
        bounds = self._bounds(n)

        def view(a, j: int, lo: int, hi: int):
            if not isinstance(a, wp.array) or any(a is s for s in shared):
                return a
            if any(a is g for g in accumulate):
                return a if j == 0 else self._copy(a, j)
            return self._slice(a, lo, hi)

        def chunk(j: int, lo: int, hi: int):
            for grid in accumulate if j else ():
                self._copy(grid, j).zero_()
            if before is not None:
                before(lo, hi)
            wp.launch(kernel, dim=hi - lo, inputs=[view(a, j, lo, hi) for a in inputs],
                      outputs=[view(a, j, lo, hi) for a in outputs], device=device)
            if after is not None:
                after(lo, hi)

        self._run([lambda j=j, lo=lo, hi=hi: chunk(j, lo, hi) for j, (lo, hi) in enumerate(bounds)])
        if not accumulate:
            return
        # sum the private copies into the shared grids: one parallel phase over node chunks, all grids in each
        pairs = [(grid, self._copy(grid, j)) for grid in accumulate for j in range(1, len(bounds))]

        def add(lo: int, hi: int):
            for grid, part in pairs:
                wp.launch(add_into, dim=hi - lo, inputs=[self._slice(grid, lo, hi), self._slice(part, lo, hi)],
                          device=device)

        self._run([lambda lo=lo, hi=hi: add(lo, hi) for lo, hi in self._bounds(accumulate[0].shape[0])])

    def map(self, launch_on, indices) -> None:
        if self._serial(indices.device, [indices]):
            return launch_on(indices)
        self._run([lambda lo=lo, hi=hi: launch_on(self._slice(indices, lo, hi))
                   for lo, hi in self._bounds(indices.shape[0])])
