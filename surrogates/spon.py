"""SPON, structure-preserving operator networks (Bouziani & Boullé, "Structure-Preserving Operator Learning",
arXiv 2410.01065, 2024), and its multigrid variant SPON-MG: the learned processor and the exact boundary
conditions. The fixed FE parts (encoder, decoder, transfers) are `solvers/fem/fe_operators.py`.

    S = D ∘ P_θ ∘ E
    E   the input functions' DOF coefficients in the output Lagrange space V_h (Galerkin projection,
        `fe_operators.L2Projection`, or the identity when they already live in V_h): fixed, no parameters
    P_θ message passing on the graph of V_h's DOFs (pairs sharing a cell, `fe_operators.dof_graph`), the
        MeshGraphNets processor (`meshgraphnets.GraphNetBlock`): encode [inputs, boundary flag, θ] per DOF and
        [x_i − x_j, |x_i − x_j|] per edge, L residual blocks, decode to the output coefficients: the only
        learned part
    D   the coefficient vector as the function Σ c_i φ_i ∈ V_h, with the Dirichlet DOFs set to the lifted data:
        c = m ⊙ g + (1 − m) ⊙ P_θ(E u), m the Dirichlet DOF mask, g = I_h g the interpolated boundary data, so
        u_h = I_h g on the Dirichlet boundary exactly, whatever the processor outputs

SPON-MG (two levels): the fine DOF features are restricted to a coarse space by R, processed there by a larger
processor (the long-range coupling, on a graph with fewer nodes), prolonged back by P and added to the fine
features (a skip connection), then processed by a light fine-level processor:

    h_f ← ε(x_f);   h_c ← P_c(R h_f, coarse graph);   h_f ← P_f(h_f + P h_c, fine graph);   c = D(δ(h_f))

P is `fe_operators.prolongation_matrix` (coarse Lagrange basis at the fine DOFs), R = Pᵀ with its rows scaled to
sum to one (a weighted average of fine features, so features keep their scale on every level). Both are fixed
sparse tensors, built once per mesh pair; they carry no parameters.

What is the paper's and what is ours (the authors' repository holds no code; `../shared/references/spon.md`):
* the paper's: S = D ∘ P_θ ∘ E with fixed FE encoder and decoder and only P_θ learned; E the Galerkin
  projection; a message-passing processor on the DOF graph; exact Dirichlet conditions; SPON-MG with sparse
  restriction and prolongation, a larger coarse processor and light fine processing.
* ours: the processor's blocks are MeshGraphNets' (the suite's mesh path); the Dirichlet mechanism is the
  overwrite of the boundary DOFs by the interpolated data (the paper states exactness, not how); R = row-
  normalised Pᵀ and the additive skip after prolongation; two levels; the PDE parameters θ enter every DOF's input
  (as for every model of this suite); the node inputs, edge features and outputs are normalised by online
  statistics (MeshGraphNets' `OnlineNormalizer`, buffers in the checkpoint), the processor works in normalised
  units and the decoder de-normalises before the Dirichlet DOFs are overwritten, so they stay exact; the loss is
  the mean squared error of the normalised outputs at the free DOFs.

Training: `surrolab train spon --data <steady pairs>` (`operator_run.py`: P1, the DOF graph is the mesh's vertex
graph, the Dirichlet DOFs are the vertices on the boundaries the dataset names Dirichlet). SPON-MG is not
registered yet: its datasets need the nested mesh hierarchy per sample, which the `poisson` family does not store.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from surrolab.surrogates.gns import mlp
from surrolab.surrogates.hyperparameters import Integer, check_hyperparameters
from surrolab.surrogates.meshgraphnets import GraphBatchHooks, GraphNetBlock, OnlineNormalizer


def dof_edge_features(coordinates: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
    """(E, d + 1): x_sender − x_receiver and its norm, for DOF coordinates (N, d)."""
    relative = coordinates.index_select(0, edge_index[0]) - coordinates.index_select(0, edge_index[1])
    return torch.cat([relative, relative.norm(dim=-1, keepdim=True)], dim=-1)


def apply_dirichlet(coefficients: torch.Tensor, dirichlet: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """The decoder's constraint: Dirichlet DOFs (mask (N,)) take `values` (N, k) exactly, the others the processor's."""
    return torch.where(dirichlet[:, None], values.to(coefficients.dtype), coefficients)


class Processor(nn.Module):
    """L MeshGraphNets blocks of width `latent` on one DOF graph: (h (N, latent), edges (E, latent)) -> same."""

    def __init__(self, latent: int, n_layers: int):
        super().__init__()
        self.blocks = nn.ModuleList(GraphNetBlock(latent) for _ in range(n_layers))

    def forward(self, nodes: torch.Tensor, edge_index: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            nodes, edges = block(nodes, edge_index, edges)
        return nodes


class SPON(nn.Module):
    """Input DOF coefficients (N, n_inputs) in V_h -> output coefficients (N, n_outputs) with exact Dirichlet DOFs.

    `forward` takes the DOF graph (edge_index (2, E), DOF coordinates (N, d)), the Dirichlet mask (N,) and data
    (N, n_outputs), and the PDE parameters per DOF (N, n_parameters)."""

    name = "spon"
    input_kind = "operator"  # trained on steady input/output pairs (`datasets/operator_data.py`)
    limits = {"n_inputs": Integer(), "n_outputs": Integer(), "n_parameters": Integer(minimum=0), "dim": Integer(),
              "latent": Integer(), "n_layers": Integer()}

    def __init__(self, n_inputs: int, n_outputs: int = 1, n_parameters: int = 0, dim: int = 2, *, latent: int = 64,
                 n_layers: int = 8):
        check_hyperparameters(self.limits, locals())
        super().__init__()
        self.constructor = dict(n_inputs=n_inputs, n_outputs=n_outputs, n_parameters=n_parameters, dim=dim,
                                latent=latent, n_layers=n_layers)
        # online statistics of the node inputs, edge features and outputs, as MeshGraphNets keeps them (buffers,
        # saved with the weights; they accumulate in training mode only)
        self.node_normalizer = OnlineNormalizer(n_inputs + 1 + n_parameters)
        self.edge_normalizer = OnlineNormalizer(dim + 1)
        self.output_normalizer = OnlineNormalizer(n_outputs)
        self.node_encoder = mlp(n_inputs + 1 + n_parameters, latent, latent)
        self.edge_encoder = mlp(dim + 1, latent, latent)
        self.processor = Processor(latent, n_layers)
        self.decoder = mlp(latent, n_outputs, latent, layer_norm=False)

    def encode(self, inputs, dirichlet, parameters, coordinates, edge_index):
        nodes = torch.cat([inputs, dirichlet[:, None].to(inputs.dtype), parameters], dim=-1)
        nodes = self.node_encoder(self.node_normalizer(nodes).to(inputs.dtype))
        edges = self.edge_normalizer(dof_edge_features(coordinates, edge_index)).to(inputs.dtype)
        return nodes, self.edge_encoder(edges)

    def coefficients(self, inputs, edge_index, coordinates, dirichlet, parameters) -> torch.Tensor:
        """P_θ(E u): the processor's output coefficients, normalised (before the Dirichlet DOFs are set)."""
        nodes, edges = self.encode(inputs, dirichlet, parameters, coordinates, edge_index)
        return self.decoder(self.processor(nodes, edge_index, edges))

    def decode(self, normalised, dirichlet, dirichlet_values) -> torch.Tensor:
        """D: physical coefficients, the Dirichlet DOFs overwritten by the data (last, so they hold exactly)."""
        values = self.output_normalizer.inverse(normalised).to(normalised.dtype)
        return apply_dirichlet(values, dirichlet, dirichlet_values)

    def forward(self, inputs, edge_index, coordinates, dirichlet, dirichlet_values, parameters):
        return self.decode(self.coefficients(inputs, edge_index, coordinates, dirichlet, parameters), dirichlet,
                           dirichlet_values)

    def loss(self, inputs, outputs, edge_index, pos, dirichlet, parameters) -> torch.Tensor:
        """Mean squared error of the normalised output coefficients at the free DOFs (the Dirichlet DOFs are
        exact by construction and carry no gradient)."""
        target = self.output_normalizer(outputs)
        output = self.coefficients(inputs, edge_index, pos, dirichlet, parameters)
        return ((output - target) ** 2).sum(-1)[~dirichlet].mean()

    def training_hooks(self, seed: int = 0) -> "OperatorHooks":
        return OperatorHooks()


class SPONMG(SPON):
    """SPON-MG: `forward` also takes the coarse level: its DOF graph and coordinates and the fixed transfers
    `prolongation` (N_fine, N_coarse) and `restriction` (N_coarse, N_fine), sparse (module docstring)."""

    name = "spon_mg"
    limits = {**SPON.limits, "coarse_layers": Integer(), "coarse_latent": Integer()}

    def __init__(self, n_inputs: int, n_outputs: int = 1, n_parameters: int = 0, dim: int = 2, *, latent: int = 32,
                 n_layers: int = 2, coarse_latent: int = 64, coarse_layers: int = 8):
        check_hyperparameters(self.limits, locals())
        super().__init__(n_inputs, n_outputs, n_parameters, dim, latent=latent, n_layers=n_layers)
        self.constructor.update(coarse_latent=coarse_latent, coarse_layers=coarse_layers)
        self.down = nn.Linear(latent, coarse_latent)
        self.up = nn.Linear(coarse_latent, latent)
        self.coarse_edge_encoder = mlp(dim + 1, coarse_latent, coarse_latent)
        self.coarse_processor = Processor(coarse_latent, coarse_layers)

    def forward(self, inputs, edge_index, coordinates, dirichlet, dirichlet_values, parameters, *, coarse_edge_index,
                coarse_coordinates, prolongation, restriction):
        nodes, edges = self.encode(inputs, dirichlet, parameters, coordinates, edge_index)
        coarse = self.down(torch.sparse.mm(restriction, nodes))
        coarse_edges = self.coarse_edge_encoder(dof_edge_features(coarse_coordinates, coarse_edge_index))
        coarse = self.coarse_processor(coarse, coarse_edge_index, coarse_edges)
        nodes = nodes + self.up(torch.sparse.mm(prolongation, coarse))
        return self.decode(self.decoder(self.processor(nodes, edge_index, edges)), dirichlet, dirichlet_values)


class OperatorHooks(GraphBatchHooks):
    """SPON's step in the one training loop: the items are the samples' pairs on their DOF graphs
    (`datasets/operator_data.py`), the loss `SPON.loss`."""

    KEYS = ("inputs", "outputs", "edge_index", "pos", "dirichlet", "parameters")

    def loss(self, model: SPON, batch: dict[str, torch.Tensor], epoch: int) -> torch.Tensor:
        return model.loss(*(batch[key] for key in self.KEYS))


def transfer_tensors(prolongation) -> tuple[torch.Tensor, torch.Tensor]:
    """(P, R) as sparse torch tensors from a scipy prolongation (N_fine, N_coarse): R = Pᵀ, rows scaled to sum 1."""
    P = prolongation.tocoo()
    R = prolongation.T.tocsr()
    R = R.multiply(1.0 / np.maximum(np.asarray(R.sum(axis=1)).reshape(-1, 1), 1e-300)).tocoo()

    def torch_sparse(m) -> torch.Tensor:
        index = torch.as_tensor(np.vstack([m.row, m.col]), dtype=torch.long)
        return torch.sparse_coo_tensor(index, torch.as_tensor(m.data, dtype=torch.float32), m.shape,
                                       check_invariants=True).coalesce()  # built once per mesh: check it

    return torch_sparse(P), torch_sparse(R)


__all__ = ["OperatorHooks", "SPON", "SPONMG", "apply_dirichlet", "dof_edge_features", "transfer_tensors"]
