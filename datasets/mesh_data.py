"""Training transitions of a mesh dataset for mesh-native surrogates (MeshGraphNets): each sample on its own
mesh graph (`meshes/mesh_graph.py`), the fields at its vertices.

Item k is one sample at one frame t (0 ≤ t ≤ n_times − 2), a PyG `Data`:
    velocity (N, d), next_velocity (N, d), next_pressure (N,)   float32, physical units
    node_type (N,) long, edge_index (2, E), edge_attr (E, d + 1)    the sample's graph (shared by its frames)
    parameters (N, P) float32                                      the sample's PDE parameters at every node
`torch_geometric.data.Batch.from_data_list` batches items of different meshes (the disjoint union).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from torch.utils.data import Dataset

# PyG 2.8 calls torch.jit.script at import, which torch 2.15 deprecates with a FutureWarning on stderr: not ours
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
from torch_geometric.data import Data  # noqa: E402

from surrolab.datasets import schema
from surrolab.errors import SurrolabError
from surrolab.meshes.mesh_graph import mesh_graph

FLOW_FIELDS = ("velocity", "pressure")


class MeshTransitions(Dataset):
    """The (frame, next frame) pairs of mesh trajectories: graphs (one `Data` per sample, from `mesh_graph`),
    velocities (each (T, N, d)), pressures (each (T, N)) and parameters (each (P,))."""

    def __init__(self, graphs, velocities, pressures, parameters):
        self.graphs = list(graphs)
        self.velocities = [torch.as_tensor(v, dtype=torch.float32) for v in velocities]
        self.pressures = [torch.as_tensor(p, dtype=torch.float32) for p in pressures]
        self.parameters = [torch.as_tensor(np.asarray(p), dtype=torch.float32) for p in parameters]
        self.index = [(s, t) for s, v in enumerate(self.velocities) for t in range(v.shape[0] - 1)]

    @classmethod
    def from_dataset(cls, f, samples) -> "MeshTransitions":
        """The samples `samples` of an open mesh dataset of velocity and pressure (read once, kept in memory)."""
        description = schema.read_description(f)
        if description.geometry_type != "mesh":
            raise SurrolabError(f"{f.filename} is a {description.geometry_type} dataset; a mesh model needs a mesh "
                                "dataset (a Navier–Stokes family: cavity, tube, dam, cylinder)")
        names = sorted(spec.name for spec in description.fields)
        if names != sorted(FLOW_FIELDS):
            raise SurrolabError(f"{f.filename} holds the fields {names}; a mesh flow model learns "
                                f"{list(FLOW_FIELDS)} (the smoke family's scalar is not modelled yet)")
        channels = list(description.channel_names)
        velocity = [channels.index(f"velocity_{axis}") for axis in "xyz"[:description.spatial_dim]]
        pressure = channels.index("pressure")
        graphs, velocities, pressures = [], [], []
        for i in samples:
            values = schema.read_mesh_fields(f, description, int(i))  # (T, channels, N)
            graphs.append(mesh_graph(schema.read_mesh(f, int(i))))
            velocities.append(np.moveaxis(values[:, velocity], 1, 2))  # (T, N, d)
            pressures.append(values[:, pressure])
        return cls(graphs, velocities, pressures, schema.read_parameters(f, description, samples))

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k: int) -> Data:
        sample, t = self.index[k]
        graph = self.graphs[sample]
        return Data(velocity=self.velocities[sample][t], next_velocity=self.velocities[sample][t + 1],
                    next_pressure=self.pressures[sample][t + 1], node_type=graph.node_type,
                    edge_index=graph.edge_index, edge_attr=graph.edge_attr,
                    parameters=self.parameters[sample].expand(graph.num_nodes, -1), num_nodes=graph.num_nodes)


__all__ = ["FLOW_FIELDS", "MeshTransitions"]
