"""MeshGraphNets (Pfaff, Fortunato, Sanchez-Gonzalez & Battaglia, "Learning Mesh-Based Simulation with Graph
Networks", ICLR 2021), the CFD variant, on the mesh graphs of `meshes/mesh_graph.py`.

Encode–process–decode on the mesh graph G = (V, E^M) (paper §3, reference code
google-deepmind/deepmind-research `meshgraphnets/`: `core_model.py`, `cfd_model.py`, `normalization.py`):

    encode     v_i ← ε^V([u_i, onehot(n_i), θ]),        e_ij ← ε^M([x_i − x_j, |x_i − x_j|])
    process    e'_ij = f^M(e_ij, v_i, v_j),   v'_i = f^V(v_i, Σ_j e'_ij),
               e_ij ← e_ij + e'_ij,           v_i ← v_i + v'_i                       (L blocks, own weights)
    decode     (Δu_i, p_i) = δ^V(v_i)                                                (normalised)

with x the mesh position, u the velocity, n the node type (interior, inlet, outlet, wall, obstacle) and θ the
sample's PDE parameters. Every ε, f, δ is an MLP with two hidden layers of width `latent` (ReLU), followed by
LayerNorm except in the decoder; L = 15 blocks of latent 128 as in the paper. Aggregation is the sum over a
node's incoming mesh edges (`MessagePassing(aggr="add")`). Inputs and outputs are normalised by online
accumulating z-score normalisers (`OnlineNormalizer`, the reference's `Normalizer`: statistics accumulated
over the first `max_accumulations` training batches, then frozen).

Step (the paper's first-order integrator for CFD): uⁿ⁺¹ = uⁿ + Δu on interior and outlet nodes; nodes
with Dirichlet data (inlet, wall, obstacle) take their boundary values (`rollout`). Training (`loss`):
MSE of the normalised (Δu, p) targets, Δu on interior and outlet nodes only (the reference's loss mask),
with Gaussian noise of std `noise` added to the input velocity of those nodes and the target taken from the
noisy input, so the model learns to correct its own drift (CylinderFlow: σ = 0.02, γ = 1).

Departures from the reference, and why:
* θ (density, viscosity, driving speed, geometry parameters: whatever the dataset samples) is appended to
  every node's input. The paper's CylinderFlow keeps ρ and μ fixed; our families vary them per sample
  (CFDBench), and a model that cannot see them cannot tell two samples with the same velocity apart. This is
  how every CFDBench adaptation of a model conditions it on the case.
* The decoder also outputs the pressure pⁿ⁺¹ (normalised), as the paper's CFD results report; the reference
  `cfd_model.py` decodes the velocity change alone. Its loss term is over all nodes.
* Dirichlet nodes are overwritten with the boundary values of the *next* frame, where the reference keeps
  their current value: our driven boundaries ramp up in time, the reference's inflow is constant.
* Message passing is PyG's `MessagePassing` (senders are `edge_index[0]`, receivers `edge_index[1]`); the
  reference uses its own segment sums. Same arithmetic.
"""
from __future__ import annotations

import warnings

import torch
from torch import nn

# PyG 2.8 calls torch.jit.script at import, which torch 2.15 deprecates with a FutureWarning on stderr: not ours
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
from torch_geometric.data import Batch  # noqa: E402
from torch_geometric.nn import MessagePassing  # noqa: E402

from surrolab.meshes.mesh_graph import NODE_TYPES
from surrolab.surrogates.gns import mlp
from surrolab.surrogates.hyperparameters import Integer, Number, check_hyperparameters
from surrolab.surrogates.training import Hooks

DIRICHLET_TYPES = tuple(NODE_TYPES.index(kind) for kind in ("inlet", "wall", "obstacle"))


class OnlineNormalizer(nn.Module):
    """z-score with statistics accumulated in training mode over the first `max_accumulations` calls (the
    reference's `normalization.Normalizer`; std floored at `std_epsilon`). Shapes: (..., size)."""

    def __init__(self, size: int, max_accumulations: int = 10**6, std_epsilon: float = 1e-8):
        super().__init__()
        self.max_accumulations, self.std_epsilon = max_accumulations, std_epsilon
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("calls", torch.zeros((), dtype=torch.int64))
        self.register_buffer("total", torch.zeros(size, dtype=torch.float64))
        self.register_buffer("total_squares", torch.zeros(size, dtype=torch.float64))

    def mean_std(self) -> tuple[torch.Tensor, torch.Tensor]:
        count = self.count.clamp(min=1.0)
        mean = self.total / count
        std = (self.total_squares / count - mean**2).clamp(min=0.0).sqrt().clamp(min=self.std_epsilon)
        return mean.float(), std.float()

    def forward(self, x: torch.Tensor, accumulate: bool = True) -> torch.Tensor:
        if self.training and accumulate and int(self.calls) < self.max_accumulations:
            flat = x.detach().reshape(-1, x.shape[-1]).double()
            self.total += flat.sum(0)
            self.total_squares += (flat**2).sum(0)
            self.count += flat.shape[0]
            self.calls += 1
        mean, std = self.mean_std()
        return (x - mean) / std

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.mean_std()
        return x * std + mean


class GraphNetBlock(MessagePassing):
    """One processor block: e'_ij = f^M([e_ij, v_i, v_j]), v'_i = f^V([v_i, Σ_j e'_ij]), then residuals
    e_ij + e'_ij and v_i + v'_i (the reference aggregates the new edge latents before their residual).

    Shapes: nodes (N, latent), edge_index (2, E) senders then receivers, edges (E, latent).
    """

    def __init__(self, latent: int):
        super().__init__(aggr="add")
        self.edge_mlp = mlp(3 * latent, latent, latent)
        self.node_mlp = mlp(2 * latent, latent, latent)

    def forward(self, nodes: torch.Tensor, edge_index: torch.Tensor, edges: torch.Tensor):
        senders, receivers = edge_index
        # index_select, not nodes[senders]: its backward is index_add, where advanced indexing's accumulating
        # index_put took a quarter of a training step on this CPU (torch 2.15 profiler, latent 26, 25k edges)
        update = self.edge_mlp(torch.cat([edges, nodes.index_select(0, senders), nodes.index_select(0, receivers)],
                                         dim=-1))  # (E, latent)
        aggregated = self.propagate(edge_index, message_features=update, size=(len(nodes), len(nodes)))
        return nodes + self.node_mlp(torch.cat([nodes, aggregated], dim=-1)), edges + update

    def message(self, message_features: torch.Tensor) -> torch.Tensor:
        return message_features  # the edge's new latent, summed at its receiver


class MeshGraphNets(nn.Module):
    """Velocity, node types, edge features and parameters -> normalised (Δu, p) per node (module docstring).

    dim: space dimension; n_parameters: PDE parameters per sample; n_edge_features: d + 1 (rest mesh) or
    2(d + 1) (moving mesh).
    """

    name = "mgn"
    input_kind = "mesh"
    limits = {"latent": Integer(), "n_layers": Integer(), "noise": Number(0), "dim": Integer(),
              "n_parameters": Integer(minimum=0), "n_edge_features": Integer()}

    def __init__(self, dim: int = 2, n_parameters: int = 0, n_edge_features: int | None = None, *,
                 latent: int = 128, n_layers: int = 15, noise: float = 0.02):
        n_edge_features = dim + 1 if n_edge_features is None else n_edge_features
        check_hyperparameters(self.limits, locals())
        super().__init__()
        self.constructor = dict(dim=dim, n_parameters=n_parameters, n_edge_features=n_edge_features,
                                latent=latent, n_layers=n_layers, noise=noise)
        self.dim, self.noise = dim, noise
        n_node_features = dim + len(NODE_TYPES) + n_parameters
        self.node_normalizer = OnlineNormalizer(n_node_features)
        self.edge_normalizer = OnlineNormalizer(n_edge_features)
        self.output_normalizer = OnlineNormalizer(dim + 1)
        self.node_encoder = mlp(n_node_features, latent, latent)
        self.edge_encoder = mlp(n_edge_features, latent, latent)
        self.processor = nn.ModuleList(GraphNetBlock(latent) for _ in range(n_layers))
        self.decoder = mlp(latent, dim + 1, latent, layer_norm=False)

    def forward(self, velocity: torch.Tensor, node_type: torch.Tensor, edge_index: torch.Tensor,
                edge_attr: torch.Tensor, parameters: torch.Tensor) -> torch.Tensor:
        """velocity (N, d), node_type (N,) long, edge_index (2, E), edge_attr (E, n_edge_features), parameters
        (N, n_parameters) (each node its sample's θ; a batch is a disjoint union of graphs) -> (N, d + 1)."""
        one_hot = nn.functional.one_hot(node_type, len(NODE_TYPES)).to(velocity.dtype)
        nodes = self.node_encoder(self.node_normalizer(torch.cat([velocity, one_hot, parameters], dim=-1)))
        edges = self.edge_encoder(self.edge_normalizer(edge_attr))
        for block in self.processor:
            nodes, edges = block(nodes, edge_index, edges)
        return self.decoder(nodes)

    def step(self, velocity, node_type, edge_index, edge_attr, parameters, boundary_velocity):
        """(uⁿ⁺¹, pⁿ⁺¹) physical: uⁿ + Δu where the flow is free, `boundary_velocity` (N, d) on Dirichlet nodes."""
        change = self.output_normalizer.inverse(self(velocity, node_type, edge_index, edge_attr, parameters))
        free = ~dirichlet_mask(node_type)
        next_velocity = torch.where(free[:, None], velocity + change[:, :self.dim], boundary_velocity)
        return next_velocity, change[:, self.dim]

    def loss(self, velocity, next_velocity, next_pressure, node_type, edge_index, edge_attr, parameters,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """The training loss of one (batched) transition, with the input noise (module docstring)."""
        free = ~dirichlet_mask(node_type)
        if self.noise > 0 and self.training:  # validation scores the clean transition
            noise = torch.randn(velocity.shape, generator=generator, dtype=velocity.dtype).to(velocity.device)
            velocity = velocity + self.noise * noise * free[:, None]
        target = self.output_normalizer(torch.cat([next_velocity - velocity, next_pressure[:, None]], dim=-1))
        output = self(velocity, node_type, edge_index, edge_attr, parameters)
        velocity_error = ((output[:, :self.dim] - target[:, :self.dim]) ** 2).sum(-1)[free].mean()
        return velocity_error + ((output[:, self.dim] - target[:, self.dim]) ** 2).mean()

    @torch.no_grad()
    def rollout(self, graph, parameters: torch.Tensor, velocity: torch.Tensor,
                boundary_velocities: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The model's trajectory on one mesh `graph` (`mesh_graph`) from `velocity` (N, d), with the sample's
        parameters (P,) and the Dirichlet values of each next frame (T, N, d): velocities (T + 1, N, d),
        pressures (T, N) (`rollout`)."""
        nodes = parameters.reshape(1, -1).expand(graph.num_nodes, -1)
        return rollout(lambda u, boundary: self.step(u, graph.node_type, graph.edge_index, graph.edge_attr, nodes,
                                                     boundary), velocity, boundary_velocities)

    def training_hooks(self, seed: int = 0) -> "MeshGraphNetsHooks":
        return MeshGraphNetsHooks(seed)


class GraphBatchHooks(Hooks):
    """Graph models in the one training loop: a batch is PyG's disjoint union of the items' graphs, handed to
    the loss as the tensors named in `KEYS` (a subclass's), and counted in graphs."""

    KEYS: tuple[str, ...] = ()

    def collate(self, items: list) -> dict[str, torch.Tensor]:
        batch = Batch.from_data_list(items)  # edge_index offset by the nodes of the graphs before
        return {**{key: batch[key] for key in self.KEYS}, "graphs": torch.tensor(len(items))}

    def batch_size(self, batch: dict[str, torch.Tensor]) -> int:
        return int(batch["graphs"])


class MeshGraphNetsHooks(GraphBatchHooks):
    """MeshGraphNets' step in the one training loop: the items are transitions on their mesh graphs
    (`datasets/mesh_data.py`), the loss `MeshGraphNets.loss`. The input noise is drawn from a generator
    reseeded at every epoch, so a run resumed at an epoch boundary draws what an uninterrupted one does."""

    KEYS = ("velocity", "next_velocity", "next_pressure", "node_type", "edge_index", "edge_attr", "parameters")

    def __init__(self, seed: int = 0):
        self.seed, self.epoch, self.generator = seed, None, torch.Generator()

    def loss(self, model: MeshGraphNets, batch: dict[str, torch.Tensor], epoch: int) -> torch.Tensor:
        if epoch != self.epoch:
            self.epoch = epoch
            self.generator.manual_seed(self.seed * 100_003 + epoch)
        return model.loss(*(batch[key] for key in self.KEYS), generator=self.generator)


def dirichlet_mask(node_type: torch.Tensor) -> torch.Tensor:
    """(N,) True where the node's velocity is set by boundary data (inlet, wall, obstacle)."""
    return torch.isin(node_type, torch.tensor(DIRICHLET_TYPES, device=node_type.device))


def rollout(step, velocity: torch.Tensor, boundary_velocities: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Repeat `step(velocity, boundary_velocity) -> (next_velocity, next_pressure)` from `velocity` (N, d), with
    the boundary values of each next frame, boundary_velocities (T, N, d): velocities (T + 1, N, d) starting
    with the given one, pressures (T, N)."""
    velocities, pressures = [velocity], []
    for boundary in boundary_velocities:
        velocity, pressure = step(velocity, boundary)
        velocities.append(velocity)
        pressures.append(pressure)
    return torch.stack(velocities), torch.stack(pressures)


__all__ = ["DIRICHLET_TYPES", "GraphBatchHooks", "GraphNetBlock", "MeshGraphNets", "MeshGraphNetsHooks",
           "OnlineNormalizer", "dirichlet_mask", "rollout"]
