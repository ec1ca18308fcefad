"""Steady operator pairs of a mesh dataset (schema 1.3) for operator models (SPON): one item per sample, on
the graph of its P1 DOFs (the mesh vertices; edges the cells' edges, both directions, `mesh_graph.mesh_edges`).

Item i is a PyG `Data`:
    inputs (N, n_in), outputs (N, n_out)          float32, physical units: the fields of role "input", "output"
    pos (N, d), edge_index (2, E)                 the vertices and the DOF graph
    dirichlet (N,) bool, dirichlet_values (N, n_out)   vertices on a boundary the dataset lists as Dirichlet for
                                                  the outputs, and the outputs' stored values there (the data g:
                                                  in `poisson` equal to `boundary_data` bit for bit)
    parameters (N, P) float32                     the sample's PDE parameters at every vertex
`torch_geometric.data.Batch.from_data_list` batches samples of different meshes (the disjoint union).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from torch.utils.data import Dataset

warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)  # PyG 2.8 import
from torch_geometric.data import Data  # noqa: E402

from surrolab.datasets import schema
from surrolab.errors import SurrolabError
from surrolab.meshes.mesh_graph import mesh_edges


def dirichlet_boundaries(description: schema.DatasetDescription) -> tuple[str, ...]:
    """The named boundaries on which the dataset's boundary conditions fix an output field."""
    return tuple(bc.boundary for bc in description.boundary_conditions
                 if bc.kind == "dirichlet" and (not bc.fields or set(bc.fields) & set(description.output_fields)))


def check_operator_dataset(f) -> schema.DatasetDescription:
    """The description of an open dataset of steady scalar pairs on meshes, or one line saying what it is instead."""
    description = schema.read_description(f)
    if not description.steady or description.geometry_type != "mesh":
        kind = "steady" if description.steady else "trajectory"
        raise SurrolabError(f"{f.filename} is a {kind} {description.geometry_type} dataset; an operator model "
                            "learns steady input/output pairs on meshes (generate poisson)")
    if any(spec.order for spec in description.fields):
        raise SurrolabError(f"{f.filename} has vector or tensor fields; operator models take scalar fields here")
    return description


class OperatorPairs(Dataset):
    """A list of per-sample `Data` (module docstring), read once and kept in memory."""

    def __init__(self, items: list[Data]):
        self.items = list(items)

    @classmethod
    def from_dataset(cls, f, samples) -> "OperatorPairs":
        description = check_operator_dataset(f)
        names = list(description.channel_names)
        inputs = [names.index(n) for n in description.input_fields]
        outputs = [names.index(n) for n in description.output_fields]
        boundaries = dirichlet_boundaries(description)
        parameters = schema.read_parameters(f, description, samples)
        items = []
        for k, i in enumerate(samples):
            mesh = schema.read_mesh(f, int(i))
            values = schema.read_mesh_fields(f, description, int(i))[0]  # (channels, N): the one steady frame
            dirichlet = np.zeros(mesh.n_points, dtype=bool)
            for name in boundaries:
                if name in mesh.boundaries:
                    dirichlet[mesh.boundary_nodes(name)] = True
            out = torch.as_tensor(values[outputs].T, dtype=torch.float32)
            items.append(Data(inputs=torch.as_tensor(values[inputs].T, dtype=torch.float32), outputs=out,
                              pos=torch.as_tensor(mesh.points, dtype=torch.float32),
                              edge_index=torch.as_tensor(mesh_edges(mesh.cells)), dirichlet=torch.as_tensor(dirichlet),
                              dirichlet_values=torch.where(torch.as_tensor(dirichlet)[:, None], out, 0.0),
                              parameters=torch.as_tensor(parameters[k], dtype=torch.float32).expand(mesh.n_points, -1),
                              num_nodes=mesh.n_points))
        return cls(items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Data:
        return self.items[i]


__all__ = ["OperatorPairs", "check_operator_dataset", "dirichlet_boundaries"]
