"""NCLaw's networks: the properties the architecture guarantees (Ma et al. 2023, §3): rotation
equivariance, no stress at rest or under a rotation, the plastic map leaves the undeformed state alone;
and the networks run inside the MPM solver through its material slot."""
import numpy as np
import pytest
import torch
import warp as wp
from scipy.spatial.transform import Rotation

from surrolab.solvers.mpm.shapes import lattice
from surrolab.solvers.mpm.solver import MPMConfig, MPMSolver
from surrolab.surrogates.nclaw import ElasticNetwork, NeuralLaw, PlasticNetwork, invariants

wp.config.quiet = True
torch.set_default_dtype(torch.float64)


def rotations(n, dim, seed):
    rng = np.random.default_rng(seed)
    if dim == 3:
        return torch.tensor(Rotation.random(n, random_state=rng).as_matrix())
    a = torch.tensor(rng.uniform(0, 2 * np.pi, n))
    return torch.stack([torch.stack([a.cos(), -a.sin()], -1), torch.stack([a.sin(), a.cos()], -1)], 1)


def deformations(n, dim, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.eye(dim) + 0.2 * torch.randn(n, dim, dim, generator=g)


@pytest.mark.parametrize("dim", [2, 3])
def test_stress_and_plastic_map_are_rotation_equivariant(dim):
    torch.manual_seed(0)
    elastic, plastic = ElasticNetwork(dim), PlasticNetwork(dim, alpha=0.1)
    F, Q = deformations(32, dim, 1), rotations(32, dim, 2)
    tau, tau_rotated = elastic(F), elastic(Q @ F)
    assert tau.abs().max() > 1e-3  # a random network gives a non-trivial stress
    assert torch.allclose(tau_rotated, Q @ tau @ Q.transpose(1, 2), atol=1e-10)
    assert torch.allclose(plastic(Q @ F), Q @ plastic(F), atol=1e-10)
    assert torch.allclose(invariants(Q @ F), invariants(F), atol=1e-10)
    assert not torch.allclose(plastic(F), F)  # the plastic map does change a deformed state


@pytest.mark.parametrize("dim", [2, 3])
def test_no_stress_at_rest_or_under_a_rotation_and_plastic_identity_is_identity(dim):
    torch.manual_seed(0)
    elastic, plastic = ElasticNetwork(dim), PlasticNetwork(dim, alpha=0.1)
    rest = torch.cat([torch.eye(dim)[None], rotations(8, dim, 3)])
    assert elastic(rest).abs().max() < 1e-12
    assert torch.allclose(plastic(torch.eye(dim)[None]), torch.eye(dim)[None], atol=1e-14)
    assert torch.allclose(plastic(rest), rest, atol=1e-12)


def test_networks_have_no_biases_and_every_weight_gets_a_gradient():
    torch.manual_seed(0)
    elastic = ElasticNetwork(3)
    assert all("bias" not in name for name, _ in elastic.named_parameters())
    elastic(deformations(16, 3, 4)).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().max() > 0 for p in elastic.parameters())


def test_the_networks_run_in_the_mpm_solver_through_the_material_slot():
    # a stretched, falling block: its motion differs from the same block with a zero-stress network, so the
    # network's stress reached the grid through the slot
    torch.set_default_dtype(torch.float32)
    try:
        cfg = MPMConfig(dim=2, n_grid=32, walls="slip")
        h = cfg.dx / 2
        points = lattice([0.35, 0.3], [0.6, 0.55], h)
        velocities = 2.0 * (points - points.mean(axis=0))  # uniform stretching: F moves away from I
        final = {}
        for scale in (1.0e5, 0.0):  # a random network's stress is O(strain) Pa: scaled to moving size, and to 0
            torch.manual_seed(0)
            elastic = ElasticNetwork(2)
            with torch.no_grad():
                elastic.mlp.net[-1].weight.mul_(scale)
            law = NeuralLaw(elastic=elastic, plastic=PlasticNetwork(2), wave_speed_bound=10.0)
            solver = MPMSolver(cfg, [law], np.zeros(len(points)), h**2)
            state = solver.rollout(solver.initial_state(points, velocities), 2e-4, 200)
            final[scale] = state.x.numpy(), state.F.numpy()
        x, F = final[1.0e5]
        assert np.all(np.isfinite(x)) and np.all(np.isfinite(F))
        assert x[:, 1].mean() < points[:, 1].mean() - 0.005  # it fell under gravity (½gt² = 7.8 mm in 0.04 s)
        assert not np.allclose(F, np.eye(2), atol=1e-3)  # and stretched
        assert np.abs(x - final[0.0][0]).max() > 1e-6  # the network's stress moved the particles
    finally:
        torch.set_default_dtype(torch.float64)
