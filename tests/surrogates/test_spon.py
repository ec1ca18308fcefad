"""SPON and SPON-MG: exact Dirichlet DOFs whatever the weights, a processor that is a GNN on the DOF graph
(equivariant, mesh-agnostic), fixed transfers without parameters, and a lighter fine level for SPON-MG."""
import dolfinx_solver  # noqa: F401  (before dolfinx)
import dolfinx
import numpy as np
import pytest
import torch
from mpi4py import MPI

from surrolab.solvers.fem.fe_operators import boundary_dofs, dof_graph, prolongation_matrix
from surrolab.surrogates.spon import SPON, SPONMG, transfer_tensors


def level(n: int, degree: int = 2, mesh=None):
    """A P2 space on the unit square (or `mesh`): (space, edge_index, coordinates, Dirichlet mask, data)."""
    mesh = dolfinx.mesh.create_unit_square(MPI.COMM_SELF, n, n) if mesh is None else mesh
    V = dolfinx.fem.functionspace(mesh, ("Lagrange", degree))
    x = V.tabulate_dof_coordinates()[:, :2]
    dirichlet = np.zeros(len(x), dtype=bool)
    dirichlet[boundary_dofs(V)] = True
    data = np.sin(3 * x[:, :1]) + x[:, 1:] ** 2  # g at the DOFs: I_h g
    return (V, torch.as_tensor(dof_graph(V)), torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(dirichlet),
            torch.as_tensor(data, dtype=torch.float32))


def inputs_for(coordinates: torch.Tensor, n_parameters: int = 2):
    f = torch.cos(coordinates[:, :1] * 4) * coordinates[:, 1:]
    return f, torch.full((len(coordinates), n_parameters), 0.3)


def test_dirichlet_dofs_are_the_data_exactly_for_random_weights_and_after_a_step():
    _, edges, x, dirichlet, data = level(4)
    f, theta = inputs_for(x)
    torch.manual_seed(0)
    model = SPON(n_inputs=1, n_parameters=2, latent=16, n_layers=3)
    out = model(f, edges, x, dirichlet, data, theta)
    assert torch.equal(out[dirichlet], data[dirichlet])  # bit for bit
    processed = model.coefficients(f, edges, x, dirichlet, theta)  # what the overwrite replaces is not the data
    assert not torch.allclose(processed[dirichlet], data[dirichlet], atol=1e-2)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        loss = (model(f, edges, x, dirichlet, data, theta) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert torch.equal(model(f, edges, x, dirichlet, data, theta)[dirichlet], data[dirichlet])


def test_the_processor_is_equivariant_under_dof_renumbering_and_runs_on_another_mesh():
    _, edges, x, dirichlet, data = level(3)
    f, theta = inputs_for(x)
    torch.manual_seed(1)
    model = SPON(n_inputs=1, n_parameters=2, latent=16, n_layers=2).double()
    out = model(f.double(), edges, x.double(), dirichlet, data.double(), theta.double())
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    inverse = torch.argsort(order)
    renumbered = model(f.double()[order], inverse[edges], x.double()[order], dirichlet[order], data.double()[order],
                       theta.double()[order])
    torch.testing.assert_close(renumbered, out[order], rtol=1e-12, atol=1e-12)
    _, edges6, x6, dirichlet6, data6 = level(6)  # the same weights on a finer mesh
    f6, theta6 = inputs_for(x6)
    assert model(f6.double(), edges6, x6.double(), dirichlet6, data6.double(), theta6.double()).shape == (len(x6), 1)


@pytest.fixture(scope="module")
def two_levels():
    coarse_mesh = dolfinx.mesh.create_unit_square(MPI.COMM_SELF, 4, 4)
    coarse_mesh.topology.create_entities(1)
    fine_mesh, _, _ = dolfinx.mesh.refine(coarse_mesh)
    coarse, fine = level(0, mesh=coarse_mesh), level(0, mesh=fine_mesh)
    P, R = transfer_tensors(prolongation_matrix(coarse[0], fine[0]))
    return coarse, fine, P, R


def test_spon_mg_keeps_exact_dirichlet_dofs_and_its_transfers_carry_no_parameters(two_levels):
    coarse, fine, P, R = two_levels
    _, edges, x, dirichlet, data = fine
    f, theta = inputs_for(x)
    torch.manual_seed(2)
    model = SPONMG(n_inputs=1, n_parameters=2, latent=8, n_layers=1, coarse_latent=16, coarse_layers=3)
    out = model(f, edges, x, dirichlet, data, theta, coarse_edge_index=coarse[1], coarse_coordinates=coarse[2],
                prolongation=P, restriction=R)
    assert torch.equal(out[dirichlet], data[dirichlet])
    assert not P.requires_grad and not R.requires_grad
    assert all(p.layout == torch.strided for p in model.parameters())  # no transfer matrix among the parameters
    ones = torch.ones(P.shape[1], 1)
    torch.testing.assert_close(torch.sparse.mm(P, ones), torch.ones(P.shape[0], 1))  # constants are prolonged exactly
    torch.testing.assert_close(torch.sparse.mm(R, torch.ones(R.shape[1], 1)), torch.ones(R.shape[0], 1))


def edge_updates(model, *args, **kwargs) -> dict[int, int]:
    """Run one forward and count the edge-MLP evaluations (rows through each block's edge MLP), by graph size."""
    from surrolab.surrogates.meshgraphnets import GraphNetBlock

    counts: dict[int, int] = {}

    def hook(module, inputs, output):
        counts[len(output)] = counts.get(len(output), 0) + len(output)

    handles = [m.edge_mlp.register_forward_hook(hook) for m in model.modules() if isinstance(m, GraphNetBlock)]
    with torch.no_grad():
        model(*args, **kwargs)
    for handle in handles:
        handle.remove()
    return counts


def test_spon_mg_does_less_message_passing_on_the_fine_level_at_equal_parameters(two_levels):
    """Counted in a forward pass: edge-MLP evaluations on the fine and the coarse graph. SPON-MG moves its depth
    to the coarse graph."""
    coarse, fine, P, R = two_levels
    _, edges, x, dirichlet, data = fine
    f, theta = inputs_for(x)
    n_fine_edges, n_coarse_edges = edges.shape[1], coarse[1].shape[1]
    single = SPON(n_inputs=1, n_parameters=2, latent=32, n_layers=6)
    multi = SPONMG(n_inputs=1, n_parameters=2, latent=16, n_layers=2, coarse_latent=40, coarse_layers=4)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert abs(count(multi) - count(single)) < 0.25 * count(single)  # about one budget
    assert 3 * n_coarse_edges < n_fine_edges  # one refinement: about a quarter of the edges
    on_single = edge_updates(single, f, edges, x, dirichlet, data, theta)
    on_multi = edge_updates(multi, f, edges, x, dirichlet, data, theta, coarse_edge_index=coarse[1],
                            coarse_coordinates=coarse[2], prolongation=P, restriction=R)
    assert set(on_single) == {n_fine_edges} and set(on_multi) == {n_fine_edges, n_coarse_edges}
    fine_single, fine_multi = on_single[n_fine_edges], on_multi[n_fine_edges]
    assert fine_multi * 3 == fine_single  # a third of the fine-level edge updates
    assert sum(on_multi.values()) < 0.6 * fine_single  # and fewer edge updates in all
