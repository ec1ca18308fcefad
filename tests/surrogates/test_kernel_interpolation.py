"""GIOROM's query decoder: normalised kernel weights reproduce a uniform displacement exactly, and the
value at a query point depends on nothing but that point (not the order or number of the others), the
node set (not its order) and relative positions (not a translation of everything)."""
import numpy as np
import torch

from surrolab.surrogates.kernel_interpolation import KernelInterpolation

F64 = torch.float64


def setup(dim=2, seed=0):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    decoder = KernelInterpolation(dim).to(F64)
    nodes = torch.rand(60, dim, generator=g, dtype=F64)
    values = torch.randn(60, dim, generator=g, dtype=F64)
    queries = torch.rand(500, dim, generator=g, dtype=F64)
    return decoder, nodes, values, queries


def test_a_uniform_displacement_is_reproduced_exactly():
    for dim in (2, 3):
        decoder, nodes, _, queries = setup(dim)
        uniform = torch.tensor([0.3, -1.2, 2.0][:dim], dtype=F64).expand(60, dim)
        assert torch.allclose(decoder(nodes, uniform, queries), uniform[:1].expand(500, dim), atol=1e-14)


def test_each_query_depends_only_on_itself_the_nodes_and_relative_positions():
    decoder, nodes, values, queries = setup()
    full = decoder(nodes, values, queries)
    subset = torch.tensor(np.random.default_rng(1).choice(500, 37, replace=False))
    assert torch.allclose(decoder(nodes, values, queries[subset]), full[subset], atol=1e-14)  # number, order
    order = torch.randperm(60, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(decoder(nodes[order], values[order], queries), full, atol=1e-12)  # node order
    shift = torch.tensor([3.0, -7.0], dtype=F64)
    assert torch.allclose(decoder(nodes + shift, values, queries + shift), full, atol=1e-10)  # translation
    assert not torch.allclose(full, values.mean(dim=0).expand_as(full), atol=1e-3)  # not a plain average


def test_the_kernel_learns():
    # fitted to a smooth displacement field sampled at other points, its error falls (measured: 0.019 -> 0.0054)
    decoder, nodes, _, queries = setup()
    field = lambda x: torch.stack([torch.sin(3 * x[:, 1]), x[:, 0] ** 2], dim=1)  # noqa: E731
    values, target = field(nodes), field(queries)
    optimiser = torch.optim.Adam(decoder.parameters(), lr=1e-2)
    errors = []
    for _ in range(150):
        loss = (decoder(nodes, values, queries) - target).square().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        errors.append(loss.item())
    assert errors[-1] < 0.5 * errors[0]
