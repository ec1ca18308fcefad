"""GIOROM: the reduced-order neural operator of Viswanath et al., "Reduced-Order Neural Operators: Learning
Lagrangian Dynamics on Highly Sparse Graphs" (arXiv 2407.03925; code HrishikeshVish/GIOROM,
`offline/models/giorom2d_T.py`). It advances a sparse subset of the particles (farthest-point or random,
`particle_graph`) and evaluates the displacement anywhere with `kernel_interpolation.KernelInterpolation`.

The time stepper φ_Θ is GNS's (`gns.py`): positions of the last `history` + 1 frames → accelerations of the
sparse nodes, semi-implicit Euler in frame units (`gns.rollout`). Its network, as in the reference code:

1. encode: node inputs the normalised velocity history, the wall distances clipped at R (over R) and a
   material embedding; edge inputs (x_i − x_j)/R and its norm;
2. `n_layers` interaction layers (`Interaction`) on the sparse graph (the radius graph with a self-loop at
   every node, the reference's `loop=True`), then the node decoder: a first
   per-node acceleration estimate, which is the function the operator sees (the reference feeds the GNO
   encoder the output of the same `node_out` MLP that makes the final prediction);
3. a GNO (`neuralop`'s GNOBlock, kernel k(y, x, f(y)), mean over the ball of radius r) onto a regular latent
   grid, an operator on the grid (`LinearAttentionBlock`s: GNOT's linear attention, the reference's
   transformer), a GNO back to the nodes (kernel k(y, x) ⊙ f(y)), a linear projection;
4. `n_layers` more interaction layers, which reuse the edge features of step 2, and the same node decoder.

Translation invariance: the latent grid (`grid_points` per axis, spacing `grid_extent` / (grid_points − 4)) is
anchored 1.5 spacings below the sparse cloud's lower corner and every coordinate enters relative to that
anchor, so translating all particles changes nothing (away from the walls, whose distances are inputs, as in
GNS). The reference places its grid on fixed domain coordinates [−1, 1]^d instead; we anchor it so that the
model has the symmetry of the physics. A graph batch is a disjoint union; each graph gets its own grid.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from neuralop.layers.gno_block import GNOBlock
from torch import nn

from surrolab.surrogates.gns import GNSHooks, mlp, next_positions
from surrolab.surrogates.hyperparameters import Integer, Number, Rule, check_hyperparameters
from surrolab.surrogates.kernel_interpolation import KernelInterpolation, interpolate
from surrolab.surrogates.particle_graph import farthest_point_sampling, graph_edges


class Interaction(nn.Module):
    """GIOROM's interaction layer (the reference's `SchInteractionNetwork`):

        m_ij = φ_e([v_i, v_j, e_ij]),   e'_ij = e_ij + m_ij,
        v'_i = v_i + φ_v([v_i, mean_j m_ij / (1 + |x_i − x_j| / R)]) + W v_i + b,

    the mean over the edges j → i. The reference adds a PyG `SSGConv` term fed the graph Laplacian's entries
    as edge weights; GCN normalisation of those weights divides by each node's weighted degree, which is
    Σ_j L_ij = 0 and is masked to 0, so the propagated part vanishes and the term is the linear map
    0.7·W v_i + b (checked against PyG 2.8.1's SSGConv: equal to the last bit). We write that map directly
    (W absorbs the 0.7)."""

    def __init__(self, latent: int):
        super().__init__()
        self.edge_mlp = mlp(3 * latent, latent, latent)
        self.node_mlp = mlp(2 * latent, latent, latent)
        self.linear = nn.Linear(latent, latent)

    def forward(self, nodes, edges, senders, receivers, distance):
        """nodes (N, latent), edges (E, latent), senders/receivers (E,), distance (E, 1) = |x_i − x_j| / R."""
        message = self.edge_mlp(torch.cat([nodes[receivers], nodes[senders], edges], dim=1))
        total = torch.zeros_like(nodes).index_add_(0, receivers, message / (1 + distance))
        count = torch.zeros(len(nodes), 1, dtype=nodes.dtype, device=nodes.device).index_add_(
            0, receivers, torch.ones_like(distance))
        mean = total / count.clamp_min(1)
        return nodes + self.node_mlp(torch.cat([nodes, mean], dim=1)) + self.linear(nodes), edges + message


class LinearAttentionBlock(nn.Module):
    """A pre-norm transformer block with GNOT's normalised linear attention (Hao et al., ICML 2023; the
    reference's `GPTNOT`, 'l1' type): per head q = softmax(W_q x), k = softmax(W_k x) over the channels,

        attention(x) = (q (kᵀ v)) / (q · Σ_tokens k) + q,

    linear in the number of tokens; then a GELU feed-forward of width 4 × channels. GNOT's cross-attention
    to other input functions and its mixture of expert feed-forwards are left out: GIOROM gives the operator
    one input function and the reference's configuration one expert's worth of width."""

    def __init__(self, channels: int, heads: int):
        super().__init__()
        if channels % heads:
            raise ValueError(f"heads={heads} is not allowed: it must divide the operator's channels ({channels})")
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(channels), nn.LayerNorm(channels)
        self.query, self.key, self.value = (nn.Linear(channels, channels) for _ in range(3))
        self.out = nn.Linear(channels, channels)
        self.feed_forward = nn.Sequential(nn.Linear(channels, 4 * channels), nn.GELU(), nn.Linear(4 * channels, channels))

    def attention(self, x):
        split = lambda t: t.reshape(len(t), self.heads, -1).transpose(0, 1)  # noqa: E731  (heads, tokens, c)
        q, k, v = split(self.query(x)).softmax(-1), split(self.key(x)).softmax(-1), split(self.value(x))
        normaliser = 1.0 / (q * k.sum(dim=1, keepdim=True)).sum(-1, keepdim=True)
        y = (q @ (k.transpose(1, 2) @ v)) * normaliser + q
        return self.out(y.transpose(0, 1).reshape(len(x), -1))

    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.feed_forward(self.norm2(x))


class GIOROM(nn.Module):
    """Positions of the sparse nodes over the last `history` + 1 frames → normalised accelerations (see the
    module docstring). velocity_stats, acceleration_stats, bounds: as `GNS`. The reference's sizes (2D):
    latent 128, 2 + 2 interaction layers, a 32² grid, GNO kernels of widths 32-64, encoder output 32,
    operator 2 layers of 4 heads."""

    name = "giorom"
    input_kind = "particles"
    # grid_points: the grid spans the box plus 1.5 spacings each side (see below), so at least 5 per axis;
    # heads split the operator's `latent` channels evenly
    limits = {"radius": Number(0, low_open=True), "history": Integer(), "latent": Integer(), "n_layers": Integer(),
              "type_embedding": Integer(), "grid_points": Integer(5), "gno_channels": Integer(),
              "operator_layers": Integer(),
              "heads": (Integer(), Rule(lambda v: v["latent"] % v["heads"] == 0, "it must divide latent={latent}"))}

    def __init__(self, dim: int, n_types: int, radius: float, bounds, velocity_stats, acceleration_stats,
                 history: int = 5, latent: int = 128, n_layers: int = 2, type_embedding: int = 16,
                 grid_points: int = 32, grid_extent: float | None = None, gno_radius: float | None = None,
                 gno_channels: int = 32, operator_layers: int = 2, heads: int = 4):
        check_hyperparameters(self.limits, locals())  # the arguments, before anything is built
        super().__init__()
        as_list = lambda pair: [np.asarray(a, dtype=float).reshape(-1).tolist() for a in pair]  # noqa: E731
        bounds = as_list(bounds)
        grid_extent = float(grid_extent if grid_extent is not None else max(u - lo for lo, u in zip(*bounds)))
        # the grid spans grid_extent (the box) plus 1.5 spacings each side, so that a cloud anywhere in the box,
        # anchored 1.5 spacings below its lower corner, lies inside; 1.5 spacings > a cell's half-diagonal in
        # 2D and 3D, so every point reaches a grid node and every node of the cloud's cells reaches a point
        spacing = grid_extent / (grid_points - 4)
        gno_radius = float(gno_radius if gno_radius is not None else 1.5 * spacing)
        self.constructor = dict(dim=dim, n_types=n_types, radius=radius, bounds=bounds,
                                velocity_stats=as_list(velocity_stats), acceleration_stats=as_list(acceleration_stats),
                                history=history, latent=latent, n_layers=n_layers, type_embedding=type_embedding,
                                grid_points=grid_points, grid_extent=grid_extent, gno_radius=gno_radius,
                                gno_channels=gno_channels, operator_layers=operator_layers, heads=heads)
        self.dim, self.radius, self.history, self.gno_radius = dim, radius, history, gno_radius
        for name, value in (("lower", bounds[0]), ("upper", bounds[1]), ("velocity_mean", velocity_stats[0]),
                            ("velocity_std", velocity_stats[1]), ("acceleration_mean", acceleration_stats[0]),
                            ("acceleration_std", acceleration_stats[1])):
            self.register_buffer(name, torch.as_tensor(np.asarray(value), dtype=torch.float32))
        axis = torch.arange(grid_points, dtype=torch.float32) * spacing
        grid = torch.stack(torch.meshgrid(*[axis] * dim, indexing="ij"), dim=-1).reshape(-1, dim)
        self.register_buffer("grid", grid)  # (grid_points^d, dim), relative to the anchor
        self.types = nn.Embedding(n_types, type_embedding)
        self.node_encoder = mlp(history * dim + 2 * dim + type_embedding, latent, latent)
        self.edge_encoder = mlp(dim + 1, latent, latent)
        self.in_layers = nn.ModuleList(Interaction(latent) for _ in range(n_layers))
        self.out_layers = nn.ModuleList(Interaction(latent) for _ in range(n_layers))
        self.decoder = mlp(latent, dim, latent, layer_norm=False)
        gno = dict(coord_dim=dim, radius=gno_radius, reduction="mean", pos_embedding_type=None,
                   channel_mlp_layers=[32, 64], use_torch_scatter_reduce=False, use_open3d_neighbor_search=False)
        self.gno_in = GNOBlock(dim, gno_channels, transform_type="nonlinear_kernelonly", **gno)
        self.lift = nn.Linear(gno_channels + dim, latent)
        self.operator = nn.Sequential(*(LinearAttentionBlock(latent, heads) for _ in range(operator_layers)))
        self.gno_out = GNOBlock(latent, latent, transform_type="linear", **gno)
        self.projection = nn.Linear(latent, latent)

    def forward(self, positions: torch.Tensor, types: torch.Tensor, senders: torch.Tensor, receivers: torch.Tensor,
                graph: torch.Tensor | None = None) -> torch.Tensor:
        """positions (N, history + 1, dim), oldest first; types (N,); edges of the latest frame (with
        self-loops); graph (N,) the graph of each node in a batch (None: one graph). Returns (N, dim)."""
        current = positions[:, -1]
        velocities = (positions[:, 1:] - positions[:, :-1] - self.velocity_mean) / self.velocity_std
        walls = torch.cat([current - self.lower, self.upper - current], dim=1).clamp(max=self.radius) / self.radius
        nodes = self.node_encoder(torch.cat([velocities.flatten(1), walls, self.types(types)], dim=1))
        offset = (current[senders] - current[receivers]) / self.radius
        distance = offset.norm(dim=1, keepdim=True)
        edges = self.edge_encoder(torch.cat([offset, distance], dim=1))
        for layer in self.in_layers:
            nodes, edges = layer(nodes, edges, senders, receivers, distance)
        estimate = self.decoder(nodes)
        graph = torch.zeros(len(current), dtype=torch.long, device=current.device) if graph is None else graph
        nodes = torch.empty_like(nodes)
        for g in torch.unique(graph):
            mask = graph == g
            nodes[mask] = self.operator_path(current[mask], estimate[mask])
        for layer in self.out_layers:
            nodes, edges = layer(nodes, edges, senders, receivers, distance)
        return self.decoder(nodes)

    def operator_path(self, current: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
        """GNO to the latent grid, the operator, GNO back: (n, dim), (n, dim) → (n, latent), one graph."""
        spacing = self.grid[1, -1]
        local = current - (current.detach().amin(dim=0) - 1.5 * spacing)  # coordinates relative to the anchor
        on_grid = self.gno_in(y=local, x=self.grid, f_y=estimate)  # (G, gno_channels)
        extent = self.grid[-1].max()
        latent = self.operator(self.lift(torch.cat([on_grid, self.grid / extent], dim=1)))
        return self.projection(self.gno_out(y=self.grid, x=local, f_y=latent))

    def acceleration(self, normalised: torch.Tensor) -> torch.Tensor:
        return normalised * self.acceleration_std + self.acceleration_mean

    def predict(self, positions: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """Acceleration (n, dim) of the sparse nodes in position units per frame² (`gns.rollout`'s callback)."""
        return self.acceleration(self(positions, types, *graph_edges(positions[:, -1], self.radius, self_loops=True)))

    def training_hooks(self, fraction: float = 1.0, sampling: str = "fps", seed: int = 0) -> "GIOROMHooks":
        return GIOROMHooks(self.radius, fraction, sampling, seed)


def sparse_subset(positions: np.ndarray, n_nodes: int, sampling: str, rng: np.random.Generator) -> np.ndarray:
    """Indices of the sparse nodes: farthest-point sampling from a random first particle, or a random subset."""
    if sampling == "fps":
        return farthest_point_sampling(positions, n_nodes, first=int(rng.integers(len(positions))))
    if sampling == "random":
        return np.sort(rng.choice(len(positions), n_nodes, replace=False))
    raise ValueError(f"sampling={sampling!r} is not allowed: 'fps' or 'random'")


class GIOROMHooks(GNSHooks):
    """GIOROM's step in the one training loop: each window is cut to a sparse subset of `fraction` of its
    particles (chosen on the window's oldest frame, as the reference's data loader does), then batched like
    GNS's windows, with self-loops and each node's graph index; the loss is the MSE of the normalised
    acceleration of the sparse nodes."""

    def __init__(self, radius: float, fraction: float = 1.0, sampling: str = "fps", seed: int = 0):
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction={fraction!r} is not allowed: a share of the particles in (0, 1]")
        super().__init__(radius)
        self.fraction, self.sampling = fraction, sampling
        self.rng = np.random.default_rng(seed)

    def collate(self, items: list[dict]) -> dict[str, torch.Tensor]:
        senders, receivers, graph, cut, offset = [], [], [], [], 0
        for g, item in enumerate(items):
            n = len(item["types"])
            subset = sparse_subset(item["positions"][:, 0].numpy(), max(1, math.ceil(self.fraction * n)),
                                   self.sampling, self.rng)
            item = {key: value[subset] for key, value in item.items()}
            s, r = graph_edges(item["positions"][:, -1], self.radius, self_loops=True)
            senders.append(s + offset)
            receivers.append(r + offset)
            graph.append(np.full(len(subset), g))
            offset += len(subset)
            cut.append(item)
        batch = {key: torch.cat([item[key] for item in cut]) for key in ("positions", "types", "target")}
        batch["senders"], batch["receivers"] = torch.cat(senders), torch.cat(receivers)
        batch["graph"] = torch.as_tensor(np.concatenate(graph), dtype=torch.long)
        batch["graphs"] = torch.tensor(len(items))
        return batch

    def loss(self, model: GIOROM, batch: dict[str, torch.Tensor], epoch: int) -> torch.Tensor:
        prediction = model(batch["positions"], batch["types"], batch["senders"], batch["receivers"], batch["graph"])
        target = (batch["target"] - model.acceleration_mean) / model.acceleration_std
        return torch.mean((prediction - target) ** 2)


@torch.no_grad()
def dense_rollout(accelerations, interpolation: KernelInterpolation, window: torch.Tensor, sparse_index,
                  n_steps: int, weights: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """GIOROM's inference: advance the sparse nodes `sparse_index` of the dense window (N, history + 1, dim)
    with `accelerations` (sparse window → (n, dim) per frame²: a trained model's `predict`, or an oracle) and
    evaluate every frame on all N particles: x_q(t) = X_q + Σ_j w_qj (x_j(t) − X_j), the displacement from the
    last input frame X interpolated at the particles' positions there (the weights are computed once); the
    sparse nodes keep their own positions. `weights`: `interpolation.weights(X[sparse_index], X)` if already
    computed (the set-up, apart from the stepping). Returns (n_steps, N, dim)."""
    sparse_index = torch.as_tensor(sparse_index, dtype=torch.long)
    reference = window[:, -1]
    index, weight = weights if weights is not None else interpolation.weights(reference[sparse_index], reference)
    sparse = window[sparse_index]
    frames = []
    for _ in range(n_steps):
        new = next_positions(sparse, accelerations(sparse))
        dense = reference + interpolate(index, weight, new - reference[sparse_index])
        dense[sparse_index] = new
        frames.append(dense)
        sparse = torch.cat([sparse[:, 1:], new[:, None]], dim=1)
    return torch.stack(frames)
