"""Mesh graphs (`meshes/mesh_graph.py`): the cells' edges in both directions, node types from the named
boundaries with the solver's precedence at corners, MeshGraphNets' edge features, PyG batching."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from surrolab.errors import SurrolabError
from surrolab.meshes.geometries import cavity, cylinder_channel
from surrolab.meshes.mesh_graph import NODE_TYPES, mesh_edges, mesh_graph, node_types  # filters PyG's warning
from torch_geometric.data import Batch  # noqa: I001  (after mesh_graph, which filters its import-time warning)
from surrolab.solvers.trajectory import MeshGeometry


@pytest.fixture(scope="module")
def cylinder():
    return cylinder_channel(h=0.08, h_cylinder=0.03).mesh_geometry()


def test_edges_are_the_cells_edges_in_both_directions(cylinder):
    """Euler's formula for a triangulated plane domain with one hole: V − E + F = 0, so E = V + F; each
    edge appears once per direction, and every cell's three edges are among them."""
    edges = mesh_edges(cylinder.cells)
    assert edges.shape == (2, 2 * (cylinder.n_points + len(cylinder.cells)))
    pairs = set(map(tuple, edges.T))
    assert len(pairs) == edges.shape[1] and all((r, s) in pairs for s, r in pairs)
    for a, b, c in cylinder.cells[:50]:
        assert {(a, b), (b, c), (c, a)} <= pairs
    square = MeshGeometry(points=[[0, 0], [1, 0], [1, 1], [0, 1]], cells=[[0, 1, 2], [0, 2, 3]])
    assert mesh_edges(square.cells).shape == (2, 10)  # 5 edges, V + F − 1 for a simply connected domain


def test_node_types_follow_the_boundaries_and_walls_win_at_corners(cylinder):
    types = node_types(cylinder)
    assert np.all(types[cylinder.boundary_nodes("cylinder")] == NODE_TYPES.index("obstacle"))
    walls = cylinder.boundary_nodes("walls")
    assert np.all(types[walls] == NODE_TYPES.index("wall"))  # including the inlet's and outlet's corners
    inlet_only = np.setdiff1d(cylinder.boundary_nodes("inlet"), walls)
    outlet_only = np.setdiff1d(cylinder.boundary_nodes("outlet"), walls)
    assert len(inlet_only) > 0 and np.all(types[inlet_only] == NODE_TYPES.index("inlet"))
    assert np.all(types[outlet_only] == NODE_TYPES.index("outlet"))
    boundary = np.unique(np.concatenate([f.reshape(-1) for f in cylinder.boundaries.values()]))
    assert np.sum(types == 0) == cylinder.n_points - len(boundary)
    lid = cavity(h=0.25).mesh_geometry()
    assert set(node_types(lid)[lid.boundary_nodes("lid")]) <= {NODE_TYPES.index("inlet"), NODE_TYPES.index("wall")}
    with pytest.raises(SurrolabError, match="no node type"):
        node_types(MeshGeometry(points=lid.points, cells=lid.cells, boundaries={"sky": lid.boundaries["lid"]}))


def test_edge_features_are_relative_positions_and_norms(cylinder):
    graph = mesh_graph(cylinder)
    s, r = graph.edge_index
    np.testing.assert_allclose(graph.edge_attr[:, :2], graph.pos[s] - graph.pos[r], atol=1e-7)
    np.testing.assert_allclose(graph.edge_attr[:, 2], (graph.pos[s] - graph.pos[r]).norm(dim=1), atol=1e-7)
    moving = mesh_graph(cylinder, world_positions=cylinder.points * 2.0)
    assert moving.edge_attr.shape == (graph.num_edges, 6)
    np.testing.assert_allclose(moving.edge_attr[:, 3:], 2.0 * graph.edge_attr, rtol=1e-6, atol=1e-7)


def test_pyg_batches_are_disjoint_unions_of_graphs_of_different_sizes(cylinder):
    small = mesh_graph(cavity(h=0.25).mesh_geometry())
    big = mesh_graph(cylinder)
    batch = Batch.from_data_list([small, big])
    assert batch.num_nodes == small.num_nodes + big.num_nodes
    assert torch.equal(batch.edge_index[:, small.num_edges:], big.edge_index + small.num_nodes)
    assert torch.equal(batch.node_type, torch.cat([small.node_type, big.node_type]))
