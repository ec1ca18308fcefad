"""Graphs of FEM meshes for mesh-native surrogates (MeshGraphNets, SPON, HCMT), as `torch_geometric` data.

A sample's mesh (`MeshGeometry`, what `schema.read_mesh` returns) becomes a graph whose nodes are the mesh
vertices and whose edges are the cells' edges, in both directions (MeshGraphNets' "mesh edges"; Pfaff et al.,
ICLR 2021, §3). Per node: the position and a node type from the named boundaries, one-hot encoded. Per edge,
as in the reference code (`meshgraphnets/cfd_model.py`, `cloth_model.py`): the relative rest position of
the sender to the receiver, x_s − x_r, and its norm; for a moving mesh also the relative world position and
its norm.

Node types, in the order of precedence where boundaries meet (a corner of a wall and the inlet is a wall
node, as the flow solver gives the first-listed no-slip wall its corner nodes):

    wall      no slip (`walls`)                          obstacle  a body in the flow (`cylinder`, `barrier`)
    inlet     a driven boundary: prescribed non-zero velocity (`inlet`, and the cavity's `lid`, which is what
              MeshGraphNets' INFLOW type means for the model: a node whose velocity the boundary data set)
    outlet    the do-nothing outflow (`outlet`)          interior  every other vertex

Graph data and batching are PyG's (`Data`; `Batch.from_data_list` makes the disjoint union of graphs of
different sizes, offsetting `edge_index`). PyG 2.8 runs here without torch-scatter, torch-sparse and pyg-lib
(`torch_geometric.typing.WITH_TORCH_SCATTER` is False on this machine): its `scatter` falls back to torch's
`scatter_reduce`, which is what `MessagePassing` aggregation uses.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

# PyG 2.8 calls torch.jit.script at import, which torch 2.15 deprecates with a FutureWarning on stderr: not ours
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
from torch_geometric.data import Data  # noqa: E402

from surrolab.errors import SurrolabError
from surrolab.solvers.trajectory import MeshGeometry

NODE_TYPES = ("interior", "inlet", "outlet", "wall", "obstacle")
BOUNDARY_TYPES = {"walls": "wall", "cylinder": "obstacle", "barrier": "obstacle", "inlet": "inlet", "lid": "inlet",
                  "outlet": "outlet"}
"""Boundary name (as the geometries name them) -> node type."""
_PRECEDENCE = ("outlet", "inlet", "obstacle", "wall")  # later ones overwrite earlier ones at shared vertices


def node_types(mesh: MeshGeometry) -> np.ndarray:
    """(N,) index into `NODE_TYPES` of each vertex (module docstring for the precedence)."""
    unknown = sorted(set(mesh.boundaries) - set(BOUNDARY_TYPES))
    if unknown:
        raise SurrolabError(f"boundary names {unknown} have no node type; known: {sorted(BOUNDARY_TYPES)}")
    types = np.zeros(mesh.n_points, dtype=np.int64)
    for kind in _PRECEDENCE:
        for name, facets in mesh.boundaries.items():
            if BOUNDARY_TYPES[name] == kind:
                types[np.unique(facets)] = NODE_TYPES.index(kind)
    return types


def mesh_edges(cells: np.ndarray) -> np.ndarray:
    """(2, E) sender and receiver of every cell edge, each edge in both directions once, sorted."""
    cells = np.asarray(cells, dtype=np.int64)
    k = cells.shape[1]
    pairs = np.concatenate([cells[:, [a, b]] for a in range(k) for b in range(a + 1, k)])  # (M k(k-1)/2, 2)
    pairs = np.unique(np.sort(pairs, axis=1), axis=0)
    return np.concatenate([pairs, pairs[:, ::-1]]).T.copy()


def edge_features(positions: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
    """(E, d + 1): x_sender − x_receiver and its norm (MeshGraphNets' relative mesh position)."""
    relative = positions[edge_index[0]] - positions[edge_index[1]]
    return torch.cat([relative, relative.norm(dim=-1, keepdim=True)], dim=-1)


def mesh_graph(mesh: MeshGeometry, world_positions: np.ndarray | None = None) -> Data:
    """The graph of one mesh: `pos` (N, d) rest positions, `edge_index` (2, E), `node_type` (N,) indices into
    `NODE_TYPES`, `edge_attr` (E, d + 1) relative rest position and norm, with (E, 2(d + 1)) the relative world
    position and norm appended when `world_positions` (N, d) are given (a moving mesh)."""
    pos = torch.as_tensor(mesh.points, dtype=torch.float32)
    edge_index = torch.as_tensor(mesh_edges(mesh.cells))
    attributes = edge_features(pos, edge_index)
    if world_positions is not None:
        world = torch.as_tensor(np.asarray(world_positions), dtype=torch.float32)
        if world.shape != pos.shape:
            raise SurrolabError(f"world positions have shape {tuple(world.shape)}; the mesh's are {tuple(pos.shape)}")
        attributes = torch.cat([attributes, edge_features(world, edge_index)], dim=-1)
    return Data(pos=pos, edge_index=edge_index, edge_attr=attributes,
                node_type=torch.as_tensor(node_types(mesh)), num_nodes=mesh.n_points)


__all__ = ["BOUNDARY_TYPES", "NODE_TYPES", "edge_features", "mesh_edges", "mesh_graph", "node_types"]
