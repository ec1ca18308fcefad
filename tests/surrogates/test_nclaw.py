"""NCLaw's networks: the properties the architecture guarantees (Ma et al. 2023, §3): rotation
equivariance, no stress at rest or under a rotation, the plastic map leaves the undeformed state alone;
the networks run inside the MPM solver through its material slot; and the gradient of a loss on
positions flows through the simulation to the weights, exactly (against the warp tape) and against
finite differences."""
import copy

import numpy as np
import pytest
import torch
import warp as wp
from scipy.spatial.transform import Rotation

from surrolab.solvers.mpm.materials import FixedCorotated
from surrolab.solvers.mpm.shapes import lattice
from surrolab.solvers.mpm.solver import MPMConfig, MPMSolver
from surrolab.surrogates.nclaw import (ElasticNetwork, NCLawTraining, NeuralLaw, PlasticNetwork, fit, init_weights,
                                       invariants, polar_rotation, simulate, teacher_segments)

wp.config.quiet = True
F64 = torch.float64


def rotations(n, dim, seed):
    rng = np.random.default_rng(seed)
    if dim == 3:
        return torch.tensor(Rotation.random(n, random_state=rng).as_matrix())
    a = torch.tensor(rng.uniform(0, 2 * np.pi, n))
    return torch.stack([torch.stack([a.cos(), -a.sin()], -1), torch.stack([a.sin(), a.cos()], -1)], 1)


def deformations(n, dim, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.eye(dim, dtype=F64) + 0.2 * torch.randn(n, dim, dim, generator=g, dtype=F64)


@pytest.mark.parametrize("dim", [2, 3])
def test_stress_and_plastic_map_are_rotation_equivariant(dim):
    torch.manual_seed(0)
    elastic, plastic = ElasticNetwork(dim).to(F64), PlasticNetwork(dim, alpha=0.1).to(F64)
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
    elastic, plastic = ElasticNetwork(dim).to(F64), PlasticNetwork(dim, alpha=0.1).to(F64)
    rest = torch.cat([torch.eye(dim, dtype=F64)[None], rotations(8, dim, 3)])
    assert elastic(rest).abs().max() < 1e-12
    assert torch.allclose(plastic(rest[:1]), rest[:1], atol=1e-14)
    assert torch.allclose(plastic(rest), rest, atol=1e-12)


def test_networks_have_no_biases_and_every_weight_gets_a_gradient():
    torch.manual_seed(0)
    elastic = ElasticNetwork(3).to(F64)
    assert all("bias" not in name for name, _ in elastic.named_parameters())
    elastic(deformations(16, 3, 4)).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().max() > 0 for p in elastic.parameters())


def test_the_networks_run_in_the_mpm_solver_through_the_material_slot():
    # a stretched, falling block: its motion differs from the same block with a zero-stress network, so the
    # network's stress reached the grid through the slot
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


# -- gradients through the simulation ------------------------------------------------------------------
def spinning_block():
    """A spinning, shearing 2D block under gravity between slip walls, and random weights for the loss
    Σ w·(x(T) − x(0))."""
    cfg = MPMConfig(dim=2, n_grid=16, walls="slip")
    h = cfg.dx / 2
    points = lattice([0.3, 0.3], [0.7, 0.7], h)
    solver = MPMSolver(cfg, [FixedCorotated()], np.zeros(len(points)), h**2, requires_grad=True)
    x0 = torch.tensor(points, dtype=torch.float32)
    v0 = 4 * torch.stack([x0[:, 1] - 0.5, -0.5 * (x0[:, 0] - 0.5)], 1)
    weights = torch.tensor(np.random.default_rng(0).normal(size=points.shape), dtype=torch.float32)
    return solver, points, x0, v0, weights


@wp.kernel
def _weighted_displacement(x: wp.array(dtype=wp.vec2), x0: wp.array(dtype=wp.vec2), w: wp.array(dtype=wp.vec2),
                           loss: wp.array(dtype=float)):
    p = wp.tid()
    wp.atomic_add(loss, 0, wp.dot(x[p] - x0[p], w[p]))


class TorchCorotated(torch.nn.Module):
    """Fixed-corotated elasticity written in torch, with Young's modulus as a learnable parameter."""

    def __init__(self, youngs_modulus: float, poisson_ratio: float):
        super().__init__()
        self.E, self.nu = torch.nn.Parameter(torch.tensor(youngs_modulus)), poisson_ratio

    def forward(self, F):
        mu, lam = self.E / (2 * (1 + self.nu)), self.E * self.nu / ((1 + self.nu) * (1 - 2 * self.nu))
        J = torch.det(F)[:, None, None]
        return 2 * mu * (F - polar_rotation(F)) @ F.transpose(1, 2) + lam * (J - 1) * J * torch.eye(F.shape[-1])


def test_torch_laws_and_warp_transfers_form_one_exact_gradient():
    # fixed-corotated in torch through `simulate` moves the block as the warp law does and gives the same
    # dL/dE as the warp tape (which tests/solvers/mpm checks against finite differences)
    solver, points, x0, v0, weights = spinning_block()
    law = TorchCorotated(1e4, 0.3)
    positions, _ = simulate(solver, law, None, x0, v0, 40, 1e-3)
    ((positions[-1] - x0) * weights).sum().backward()

    warp_solver = MPMSolver(solver.config, [FixedCorotated(youngs_modulus=1e4, poisson_ratio=0.3)],
                            np.zeros(len(points)), solver.volume, requires_grad=True)
    state = warp_solver.initial_state(points, v0.numpy())
    total = wp.zeros(1, dtype=float, requires_grad=True)
    tape = wp.Tape()
    with tape:
        final = warp_solver.rollout(state, 1e-3, 40)
        wp.launch(_weighted_displacement, len(points), inputs=[
            final.x, wp.array(points, dtype=wp.vec2), wp.array(weights.numpy(), dtype=wp.vec2), total])
    tape.backward(total)
    assert np.abs(final.x.numpy() - positions[-1].detach().numpy()).max() < 1e-6
    assert law.E.grad.item() == pytest.approx(float(warp_solver.law_parameters[0].grad.numpy()[0]), rel=1e-3)


def test_weight_gradients_through_the_simulation_match_finite_differences():
    # 40 steps with both networks as the material; the largest gradient entry of three weight matrices
    # against central differences D(h) over h = ±20 % and ±10 % of that weight, Richardson-extrapolated,
    # (4 D(h/2) − D(h)) / 3, which cancels the O(h²) error: the float32 simulation makes smaller steps noise,
    # and at ±10 % alone the plastic weight's quotient (its effect on the loss is small) was within 10 % on
    # one machine and 10.2 % off on another; extrapolated there: 0.4 %, 1.8 %, 6 % off for the three
    torch.manual_seed(0)
    solver, points, x0, v0, weights = spinning_block()
    elastic, plastic = ElasticNetwork(2, widths=(16, 16)), PlasticNetwork(2, widths=(16, 16), alpha=0.05)
    with torch.no_grad():
        elastic.mlp.net[-1].weight.mul_(3e4)  # stresses of O(10³) Pa, which move a 10³ kg/m² block

    def loss():
        positions, _ = simulate(solver, elastic, plastic, x0, v0, 40, 1e-3)
        return ((positions[-1].double() - x0.double()) * weights.double()).sum()

    loss().backward()
    for weight, tolerance in ((elastic.mlp.net[0].weight, 0.03), (elastic.mlp.net[-1].weight, 0.03),
                              (plastic.mlp.net[0].weight, 0.1)):
        index = np.unravel_index(weight.grad.abs().argmax().item(), weight.shape)
        value = weight[index].item()

        def difference_quotient(step):
            with torch.no_grad():
                weight[index] = value + step
                plus = loss().item()
                weight[index] = value - step
                minus = loss().item()
                weight[index] = value
            return (plus - minus) / (2 * step)

        h = 0.2 * abs(value)
        extrapolated = (4 * difference_quotient(h / 2) - difference_quotient(h)) / 3
        assert weight.grad[index].item() == pytest.approx(extrapolated, rel=tolerance)


@pytest.mark.parametrize("dim", [2, 3])
def test_polar_rotation_gradient_is_finite_at_rest_and_matches_finite_differences(dim):
    # at F = I (every particle's first state) torch's own SVD backward divides by σ_i² − σ_j² = 0
    G = torch.randn(dim, dim, generator=torch.Generator().manual_seed(5), dtype=F64)
    for F in (torch.eye(dim, dtype=F64), deformations(1, dim, 6)[0], rotations(1, dim, 7)[0]):
        F = F.clone().requires_grad_(True)
        (polar_rotation(F[None])[0] * G).sum().backward()
        assert torch.all(torch.isfinite(F.grad))
        numeric = torch.zeros_like(F)
        for i in range(dim):
            for j in range(dim):
                E = torch.zeros_like(F)
                E[i, j] = 1e-6
                numeric[i, j] = ((polar_rotation((F + E)[None])[0] - polar_rotation((F - E)[None])[0]) * G).sum() / 2e-6
        assert torch.allclose(F.grad, numeric, atol=1e-6)


def jelly_trajectory(n_steps=120):
    """One observed trajectory: a jelly block (fixed-corotated, E = 1e4 Pa, ν = 0.3) thrown spinning at the
    floor of a 16² box; the states every step (Δt = 1e-3 s)."""
    cfg = MPMConfig(dim=2, n_grid=16, walls="slip")
    h = cfg.dx / 2
    points = lattice([0.3, 0.2], [0.6, 0.5], h)
    truth = FixedCorotated(youngs_modulus=1e4, poisson_ratio=0.3)
    observed = MPMSolver(cfg, [truth], np.zeros(len(points)), h**2)
    velocity = 3 * np.stack([points[:, 1] - 0.35, -(points[:, 0] - 0.45)], 1) + np.array([0.0, -1.0])
    state = observed.initial_state(points, velocity)
    states = [state.numpy()]
    for step in range(n_steps):
        state = observed.step(state, 1e-3, step * 1e-3)
        states.append(state.numpy())
    return cfg, points, truth, states


def test_trained_on_jelly_the_learned_stress_approaches_the_analytic_one():
    # NCLaw's schedule on one observed trajectory; afterwards the network's stress on the trajectory's
    # deformation gradients is far closer to the analytic law's than at the start
    # (measured: relative error 0.91 -> 0.18; epoch loss 0.0092 -> 0.0023 over the first and last five)
    torch.manual_seed(0)
    cfg, points, truth, states = jelly_trajectory()
    elastic = ElasticNetwork(2, stress_scale=1e4)
    init_weights(elastic)
    F = torch.tensor(np.concatenate([s["F"] for s in states[::10]]))
    analytic = TorchCorotated(1e4, 0.3)(F).detach()

    def stress_error():
        with torch.no_grad():
            return ((elastic(F) - analytic).norm() / analytic.norm()).item()

    before = stress_error()
    solver = MPMSolver(cfg, [truth], np.zeros(len(points)), h_squared(cfg), requires_grad=True)
    losses = fit(solver, elastic, None, states, 1e-3,
                 NCLawTraining(epochs=25, window_start=10, window_end=40, lr_elastic=0.03))
    assert before > 0.8
    assert stress_error() < 0.4
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])  # though the windows grew from 10 to 40 steps


def h_squared(cfg):
    return (cfg.dx / 2) ** 2


def test_teacher_forcing_schedule_is_the_papers():
    # λ: 25 at the first epoch, rising on a cosine to 200; each epoch's ⌈T/λ⌉ segments tile the trajectory
    training = NCLawTraining(epochs=300)
    assert training.window(0) == pytest.approx(25) and training.window(300) == pytest.approx(200)
    assert training.window(150) == pytest.approx(112.5)
    assert all(training.window(e) < training.window(e + 1) for e in range(299))
    for n_steps, window in ((1000, 25), (1000, 112.5), (1000, 200), (37, 10), (5, 200)):
        segments = teacher_segments(n_steps, window)
        assert len(segments) == int(np.ceil(n_steps / min(window, n_steps)))
        assert segments[0][0] == 0 and sum(length for _, length in segments) == n_steps
        assert all(a + n == b for (a, n), (b, _) in zip(segments, segments[1:]))
        assert max(n for _, n in segments) - min(n for _, n in segments) <= 1
    with pytest.raises(ValueError, match="epochs"):
        NCLawTraining(epochs=0)


def test_a_diverged_epoch_is_rejected_and_the_rates_halved(monkeypatch):
    # the third epoch's simulation fails as a diverged law does (the SVD of a non-finite F): its loss is NaN,
    # the weights are those from before the second epoch's step and the rates are halved
    import surrolab.surrogates.nclaw as nclaw

    torch.manual_seed(0)
    cfg, points, truth, states = jelly_trajectory(n_steps=20)
    solver = MPMSolver(cfg, [truth], np.zeros(len(points)), h_squared(cfg), requires_grad=True)
    elastic = ElasticNetwork(2, stress_scale=1e4)
    snapshots, calls, simulate_ = [], [0], nclaw.simulate

    def flaky(*args, **kwargs):
        calls[0] += 1
        if calls[0] == 3:
            raise torch.linalg.LinAlgError("non-finite F")
        return simulate_(*args, **kwargs)

    monkeypatch.setattr(nclaw, "simulate", flaky)
    losses = nclaw.fit(solver, elastic, None, states, 1e-3,
                       NCLawTraining(epochs=4, window_start=50, window_end=50, lr_elastic=0.03),
                       progress=lambda epoch, loss: snapshots.append(copy.deepcopy(elastic.state_dict())))
    assert np.isfinite(losses[0]) and np.isfinite(losses[1]) and np.isnan(losses[2]) and np.isfinite(losses[3])
    for key, value in snapshots[2].items():
        assert torch.equal(value, snapshots[0][key])  # back to before epoch 1's step
        assert not torch.equal(snapshots[1][key], snapshots[0][key])


def test_a_diverging_first_epoch_is_an_error():
    cfg, points, truth, states = jelly_trajectory(n_steps=20)
    solver = MPMSolver(cfg, [truth], np.zeros(len(points)), h_squared(cfg), requires_grad=True)
    torch.manual_seed(0)
    elastic = ElasticNetwork(2, stress_scale=-1e9)  # negative stiffness of 10⁹ Pa: blows up at once
    init_weights(elastic)
    with pytest.raises(FloatingPointError, match="stress_scale"):
        fit(solver, elastic, None, states, 1e-3, NCLawTraining(epochs=2, window_start=20, window_end=20))
