"""GNS: the graph network simulator of Sanchez-Gonzalez et al., "Learning to Simulate Complex Physics with
Graph Networks" (ICML 2020), the learned-simulator baseline of NCLaw and GIOROM.

A particle set at frame t is a graph: nodes are particles, edges join particles closer than the
connectivity radius R (built with scipy's cKDTree: `torch-cluster` does not install here). The model
predicts each particle's acceleration from the last `history` velocities, and a semi-implicit Euler step
advances the positions (§2 of the paper), with Δt the frame interval folded in (velocities are position
differences between frames, accelerations differences of those):

    ẋ_t = x_t − x_{t−1},    ẍ_t = model(x_{t−history} … x_t),    ẋ_{t+1} = ẋ_t + ẍ_t,    x_{t+1} = x_t + ẋ_{t+1}

Encode–process–decode (§2, "Encoder", "Processor", "Decoder"):
- node inputs: the `history` most recent velocities (normalised by the dataset's statistics), the distance
  to each wall of the box clipped at R (over R), and a learned embedding of the particle's material;
- edge inputs: the relative displacement (x_i − x_j)/R and its norm (no absolute position: the model is
  invariant to translations away from the walls);
- M interaction-network blocks with residuals: e'_ij = e_ij + φ_e([e_ij, v_i, v_j]),
  v'_i = v_i + φ_v([v_i, Σ_j e'_ij]) (sum over the edges j → i);
- MLPs of two hidden layers of width `latent` with ReLU, LayerNorm on every output but the decoder's.
The paper's sizes: latent 128, M = 10, history 5, type embedding 16.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from surrolab.surrogates.hyperparameters import Integer, Number, check_hyperparameters
from surrolab.surrogates.particle_graph import graph_edges
from surrolab.surrogates.training import Hooks


def mlp(n_in: int, n_out: int, latent: int, layer_norm: bool = True) -> nn.Sequential:
    layers = [nn.Linear(n_in, latent), nn.ReLU(), nn.Linear(latent, latent), nn.ReLU(), nn.Linear(latent, n_out)]
    return nn.Sequential(*layers, *([nn.LayerNorm(n_out)] if layer_norm else []))


class InteractionBlock(nn.Module):
    """One processor step: e'_ij = e_ij + φ_e([e_ij, v_i, v_j]), v'_i = v_i + φ_v([v_i, Σ_{j→i} e'_ij]).

    Shapes: nodes (N, latent), edges (E, latent), senders and receivers (E,) long.
    """

    def __init__(self, latent: int):
        super().__init__()
        self.edge_mlp = mlp(3 * latent, latent, latent)
        self.node_mlp = mlp(2 * latent, latent, latent)

    def forward(self, nodes, edges, senders, receivers):
        edges = edges + self.edge_mlp(torch.cat([edges, nodes[receivers], nodes[senders]], dim=1))
        incoming = torch.zeros_like(nodes).index_add_(0, receivers, edges)  # Σ over the edges into each node
        return nodes + self.node_mlp(torch.cat([nodes, incoming], dim=1)), edges


class GNS(nn.Module):
    """Positions of the last `history` + 1 frames -> normalised accelerations (see the module docstring).

    velocity_stats, acceleration_stats: (mean, std) per component, in position units per frame (per frame²),
    as the dataset stores them for a frame interval Δt (×Δt, ×Δt²); bounds: (lower, upper) corners of the box.
    """

    name = "gns"
    input_kind = "particles"  # trained by `surrolab train` on particle datasets (`particle_run`)
    limits = {"radius": Number(0, low_open=True), "history": Integer(), "latent": Integer(), "n_layers": Integer(),
              "type_embedding": Integer()}

    def __init__(self, dim: int, n_types: int, radius: float, bounds, velocity_stats, acceleration_stats,
                 history: int = 5, latent: int = 128, n_layers: int = 10, type_embedding: int = 16):
        check_hyperparameters(self.limits, locals())  # the arguments, before anything is built
        super().__init__()
        as_list = lambda pair: [np.asarray(a, dtype=float).reshape(-1).tolist() for a in pair]  # noqa: E731
        self.constructor = dict(dim=dim, n_types=n_types, radius=radius, bounds=as_list(bounds),
                                velocity_stats=as_list(velocity_stats), acceleration_stats=as_list(acceleration_stats),
                                history=history, latent=latent, n_layers=n_layers, type_embedding=type_embedding)
        self.dim, self.radius, self.history = dim, radius, history
        for name, value in (("lower", bounds[0]), ("upper", bounds[1]), ("velocity_mean", velocity_stats[0]),
                            ("velocity_std", velocity_stats[1]), ("acceleration_mean", acceleration_stats[0]),
                            ("acceleration_std", acceleration_stats[1])):
            self.register_buffer(name, torch.as_tensor(np.asarray(value), dtype=torch.float32))
        self.types = nn.Embedding(n_types, type_embedding)
        self.node_encoder = mlp(history * dim + 2 * dim + type_embedding, latent, latent)
        self.edge_encoder = mlp(dim + 1, latent, latent)
        self.processor = nn.ModuleList(InteractionBlock(latent) for _ in range(n_layers))
        self.decoder = mlp(latent, dim, latent, layer_norm=False)

    def forward(self, positions: torch.Tensor, types: torch.Tensor, senders: torch.Tensor,
                receivers: torch.Tensor) -> torch.Tensor:
        """positions (N, history + 1, dim), oldest first; types (N,) long; edges of the latest frame.
        Returns the normalised acceleration (N, dim)."""
        current = positions[:, -1]
        velocities = (positions[:, 1:] - positions[:, :-1] - self.velocity_mean) / self.velocity_std
        walls = torch.cat([current - self.lower, self.upper - current], dim=1).clamp(max=self.radius) / self.radius
        nodes = self.node_encoder(torch.cat([velocities.flatten(1), walls, self.types(types)], dim=1))
        offset = (current[senders] - current[receivers]) / self.radius  # (E, dim)
        edges = self.edge_encoder(torch.cat([offset, offset.norm(dim=1, keepdim=True)], dim=1))
        for block in self.processor:
            nodes, edges = block(nodes, edges, senders, receivers)
        return self.decoder(nodes)

    def acceleration(self, normalised: torch.Tensor) -> torch.Tensor:
        """Position units per frame² from the network's normalised output."""
        return normalised * self.acceleration_std + self.acceleration_mean

    def predict(self, positions: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """Acceleration (N, dim) in position units per frame², on a fresh radius graph of the latest frame:
        the `accelerations` of `rollout`."""
        return self.acceleration(self(positions, types, *graph_edges(positions[:, -1], self.radius)))

    def training_hooks(self) -> "GNSHooks":
        return GNSHooks(self.radius)


class GNSHooks(Hooks):
    """GNS's step in the one training loop: a batch is the disjoint union of the windows' graphs (radius
    graph of each noisy latest frame, node indices offset), the loss the MSE of the normalised acceleration
    (§4 of the paper: the target normalised by the training set's acceleration statistics)."""

    def __init__(self, radius: float):
        self.radius = radius

    def collate(self, items: list[dict]) -> dict[str, torch.Tensor]:
        senders, receivers, offset = [], [], 0
        for item in items:
            s, r = graph_edges(item["positions"][:, -1], self.radius)
            senders.append(s + offset)
            receivers.append(r + offset)
            offset += len(item["types"])
        batch = {key: torch.cat([item[key] for item in items]) for key in ("positions", "types", "target")}
        batch["senders"], batch["receivers"] = torch.cat(senders), torch.cat(receivers)
        batch["graphs"] = torch.tensor(len(items))
        return batch

    def batch_size(self, batch: dict[str, torch.Tensor]) -> int:
        return int(batch["graphs"])

    def loss(self, model: "GNS", batch: dict[str, torch.Tensor], epoch: int) -> torch.Tensor:
        prediction = model(batch["positions"], batch["types"], batch["senders"], batch["receivers"])
        target = (batch["target"] - model.acceleration_mean) / model.acceleration_std
        return torch.mean((prediction - target) ** 2)


def next_positions(positions: torch.Tensor, acceleration: torch.Tensor) -> torch.Tensor:
    """Semi-implicit Euler in frame units: x_{t+1} = x_t + (x_t − x_{t−1}) + ẍ_t. positions (N, ≥2, dim)."""
    current = positions[:, -1]
    return current + (current - positions[:, -2]) + acceleration


def rollout(accelerations, positions: torch.Tensor, n_steps: int) -> torch.Tensor:
    """Advance `n_steps` frames from positions (N, history + 1, dim) with `accelerations(window) -> (N, dim)`
    (position units per frame²: a trained GNS's `acceleration(model(...))` on a fresh radius graph, or an
    oracle). Returns the new frames (n_steps, N, dim)."""
    window, frames = positions, []
    for _ in range(n_steps):
        new = next_positions(window, accelerations(window))
        frames.append(new)
        window = torch.cat([window[:, 1:], new[:, None]], dim=1)
    return torch.stack(frames)
