"""GIOROM's decoder to arbitrary query points (Viswanath et al., arXiv 2407.03925): the field known on
the sparse nodes (a displacement, in the paper) evaluated anywhere by a learned kernel interpolation,

    u(q) = Σ_j w(x_j − q) u_j / Σ_j w(x_j − q),   j over the k nodes nearest to q,

w = softplus(MLP(Δ/h, |Δ|/h)) > 0 with Δ = x_j − q and h the distance to the k-th nearest node (the
kernel's bandwidth adapts to the local node spacing). Normalised weights sum to one, so a uniform field
(a rigid translation) is reproduced exactly; each query is computed from its own neighbourhood, so the
output does not depend on the order or number of the query points; only differences of positions enter,
so it is unchanged by translating everything. Neighbours come from scipy's cKDTree (faster than warp's
HashGrid on this CPU: benchmarks/results/particle_graph_speed.md)."""
from __future__ import annotations

import torch
from scipy.spatial import cKDTree
from torch import nn
from torch.nn import functional


class KernelInterpolation(nn.Module):
    def __init__(self, dim: int, k: int = 8, hidden: int = 32):
        super().__init__()
        self.dim, self.k = dim, k
        self.kernel = nn.Sequential(nn.Linear(dim + 1, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                    nn.Linear(hidden, 1))

    def forward(self, nodes: torch.Tensor, values: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        """nodes (M, dim), values (M, channels), queries (Q, dim) -> (Q, channels)."""
        return interpolate(*self.weights(nodes, queries), values)

    def weights(self, nodes: torch.Tensor, queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The k nearest nodes of each query (Q, k) and their normalised weights (Q, k, 1). They depend only
        on where the nodes and queries are: in a rollout that evaluates the displacement at fixed reference
        positions they are computed once, and each frame costs one weighted sum (`interpolate`)."""
        k = min(self.k, len(nodes))
        _, index = cKDTree(nodes.detach().cpu().numpy()).query(queries.detach().cpu().numpy(), k=k)
        index = torch.as_tensor(index, dtype=torch.long, device=nodes.device).reshape(len(queries), k)
        offset = nodes[index] - queries[:, None]  # (Q, k, dim)
        distance = offset.norm(dim=-1, keepdim=True)
        bandwidth = distance.amax(dim=1, keepdim=True).clamp_min(1e-12)  # the k-th nearest node's distance
        weight = functional.softplus(self.kernel(torch.cat([offset, distance], dim=-1) / bandwidth)) + 1e-12
        return index, weight / weight.sum(dim=1, keepdim=True)  # a partition of unity


def interpolate(index: torch.Tensor, weight: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Σ_j w_qj u_j: index (Q, k), weight (Q, k, 1), values (..., M, channels) -> (..., Q, channels)."""
    return (weight * values[..., index, :]).sum(dim=-2)
