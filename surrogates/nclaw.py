"""NCLaw's neural constitutive laws (Ma et al., ICML 2023, arXiv 2304.14369), the material of an MPM run.

NCLaw keeps the momentum balance (the MPM solver of `solvers/mpm/`) and learns only the material, as two
networks that plug into the solver's material slot:

- elasticity: F ↦ τ, the Kirchhoff stress. Inputs are rotation invariants of F (the paper's "invariant
  full" variant): the singular values minus one, vec(FᵀF − I) and det F − 1, all zero at F = I; an MLP
  with no biases and GELU (which vanishes at zero) gives X (d×d), symmetrised; P = R·sym(X) with R the
  rotation of the polar decomposition F = R S, and τ = P Fᵀ.
- plasticity: F_trial ↦ F, the return mapping, as F + α R·sym(X) with the same inputs and α = 1e-3.

Consequences, by construction (tests/surrogates/test_nclaw.py checks them): for every rotation Q,
τ(QF) = Q τ(F) Qᵀ and plastic(QF) = Q plastic(F) (the inputs are invariant, R turns with F); τ(I) = 0 and
τ(Q) = 0 (the inputs vanish); plastic(I) = I.

`NeuralLaw` is the slot object (`solvers.mpm.materials.Material`): it runs the two networks on the
particles of its material through `wp.to_torch`, without copies (forward only: data generation, rollouts).
For training, `simulate` runs the networks in torch and each step's P2G–grid–G2P (`MPMSolver.transfer`) as
one torch operation backed by a warp tape, so a loss on positions has gradients with respect to the
weights (and the initial state) through every step; memory grows with the steps simulated, which is why
NCLaw trains on windows that restart from the observed trajectory.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import warp as wp
from torch import nn

from surrolab.solvers.mpm.materials import Material
from surrolab.solvers.mpm.solver import ParticleState


def _signed_svd(F: torch.Tensor):
    """F = U diag(σ) Vᵀ with U, V rotations: where det(U Vᵀ) < 0, U's last column and σ_d change sign."""
    U, sigma, Vh = torch.linalg.svd(F)
    sign = torch.sign(torch.det(U @ Vh))
    U = torch.cat([U[..., :-1], U[..., -1:] * sign[..., None, None]], dim=-1)
    sigma = torch.cat([sigma[..., :-1], sigma[..., -1:] * sign[..., None]], dim=-1)
    return U, sigma, Vh


class _PolarRotation(torch.autograd.Function):
    """R = U Vᵀ with the polar decomposition's own derivative, dR = U Ω Vᵀ, Ω_ij = (M_ij − M_ji)/(σ_i + σ_j),
    M = Uᵀ dF V. It is finite at equal singular values (F = I, the state every particle starts in), where
    differentiating U and V separately, as torch's SVD backward does, divides by σ_i² − σ_j² = 0."""

    @staticmethod
    def forward(ctx, F):
        U, sigma, Vh = _signed_svd(F)
        ctx.save_for_backward(U, sigma, Vh)
        return U @ Vh

    @staticmethod
    def backward(ctx, grad):
        U, sigma, Vh = ctx.saved_tensors
        H = U.transpose(-1, -2) @ grad @ Vh.transpose(-1, -2)  # Uᵀ G V
        denominator = sigma[..., :, None] + sigma[..., None, :]
        denominator = torch.where(denominator.abs() < 1e-6, torch.full_like(denominator, 1e-6), denominator)
        return U @ ((H - H.transpose(-1, -2)) / denominator) @ Vh


def polar_rotation(F: torch.Tensor) -> torch.Tensor:
    """R of F = R S for a batch (…, d, d): the rotation closest to F (U Vᵀ of the SVD, sign-corrected), with
    a derivative that stays finite at equal singular values (`_PolarRotation`)."""
    return _PolarRotation.apply(F)


def invariants(F: torch.Tensor) -> torch.Tensor:
    """(N, d + d² + 1): σ(F) − 1, vec(FᵀF − I), det F − 1: unchanged by F ↦ QF, all zero at F = I."""
    n, d = F.shape[0], F.shape[-1]
    eye = torch.eye(d, dtype=F.dtype, device=F.device)
    sigma = torch.linalg.svdvals(F)
    stretch = (F.transpose(1, 2) @ F - eye).reshape(n, d * d)
    return torch.cat([sigma - 1.0, stretch, (torch.det(F) - 1.0)[:, None]], dim=1)


class InvariantMLP(nn.Module):
    """Invariants of F -> a symmetric d×d matrix: bias-free linear layers with GELU between (GELU(0) = 0,
    so zero invariants give zero output)."""

    def __init__(self, dim: int, widths: tuple[int, ...] = (64, 64)):
        super().__init__()
        layers, width = [], dim + dim * dim + 1
        for next_width in widths:
            layers += [nn.Linear(width, next_width, bias=False), nn.GELU()]
            width = next_width
        layers.append(nn.Linear(width, dim * dim, bias=False))
        self.net = nn.Sequential(*layers)
        self.dim = dim

    def forward(self, F: torch.Tensor) -> torch.Tensor:
        X = self.net(invariants(F)).reshape(-1, self.dim, self.dim)
        return 0.5 * (X + X.transpose(1, 2))


class ElasticNetwork(nn.Module):
    """τ(F) = R sym(X(F)) Fᵀ: Kirchhoff stress, (N, d, d) -> (N, d, d)."""

    def __init__(self, dim: int, widths: tuple[int, ...] = (64, 64)):
        super().__init__()
        self.mlp = InvariantMLP(dim, widths)

    def forward(self, F: torch.Tensor) -> torch.Tensor:
        return polar_rotation(F) @ self.mlp(F) @ F.transpose(1, 2)


class PlasticNetwork(nn.Module):
    """F ↦ F + α R sym(X(F)): the learned return mapping, (N, d, d) -> (N, d, d); α = 1e-3 (the paper's)."""

    def __init__(self, dim: int, widths: tuple[int, ...] = (64, 64), alpha: float = 1.0e-3):
        super().__init__()
        self.mlp = InvariantMLP(dim, widths)
        self.alpha = alpha

    def forward(self, F: torch.Tensor) -> torch.Tensor:
        return F + self.alpha * polar_rotation(F) @ self.mlp(F)


@dataclass(frozen=True, eq=False)
class NeuralLaw(Material):
    """The two networks in the MPM solver's material slot. `wave_speed` is the bound the time step is
    checked against (a network has no wave speed of its own: give that of the material it learns)."""

    name = "nclaw"
    elastic: ElasticNetwork | None = field(default=None, compare=False)
    plastic: PlasticNetwork | None = field(default=None, compare=False)
    wave_speed_bound: float = 10.0  # m/s

    def law_parameters(self) -> np.ndarray:  # the networks' weights are torch parameters, not a warp array
        return np.zeros(1, dtype=np.float32)

    def as_dict(self) -> dict:
        return {"law": self.name, "density": self.density, "wave_speed_bound": self.wave_speed_bound}

    def wave_speed(self) -> float:
        return self.wave_speed_bound

    @staticmethod
    def _gather(a: wp.array, index: torch.Tensor, dim: int) -> torch.Tensor:
        return wp.to_torch(a).reshape(-1, dim, dim)[index]

    def stress(self, dim, F, C, indices, params, tau) -> None:
        index = wp.to_torch(indices).long()
        with torch.no_grad():
            wp.to_torch(tau).reshape(-1, dim, dim)[index] = self.elastic(self._gather(F, index, dim))

    def project(self, dim, F_trial, indices, params, dt, F) -> None:
        index = wp.to_torch(indices).long()
        with torch.no_grad():
            trial = self._gather(F_trial, index, dim)
            wp.to_torch(F).reshape(-1, dim, dim)[index] = trial if self.plastic is None else self.plastic(trial)


# -- differentiable simulation: the networks in torch, the MPM transfers in warp, one autograd graph --------
class _Transfer(torch.autograd.Function):
    """One step's P2G, grid update and G2P (`MPMSolver.transfer`) as a torch operation: forward records it on
    a warp tape, backward replays the tape with the incoming gradients (no copies: `wp.from_torch`)."""

    @staticmethod
    def forward(ctx, solver, dt: float, t: float, x, v, C, F, tau):
        k = solver.kernels
        inputs = [wp.from_torch(a.detach().contiguous(), dtype=dtype, requires_grad=True)
                  for a, dtype in ((x, k.vec), (v, k.vec), (C, k.mat), (F, k.mat), (tau, k.mat))]
        tape = wp.Tape()
        with tape:
            out = solver.transfer(ParticleState(*inputs[:4]), inputs[4], dt, t)
        ctx.tape, ctx.inputs, ctx.outputs = tape, inputs, (out.x, out.v, out.C, out.F)
        return tuple(wp.to_torch(a).clone() for a in ctx.outputs)

    @staticmethod
    def backward(ctx, *grads):
        ctx.tape.backward(grads={a: wp.from_torch(g.contiguous(), dtype=a.dtype) for a, g in zip(ctx.outputs, grads)})
        result = tuple(wp.to_torch(a.grad).clone() for a in ctx.inputs)
        ctx.tape.zero()
        return (None, None, None, *result)


def simulate(solver, elastic: nn.Module, plastic: nn.Module | None, x0: torch.Tensor, v0: torch.Tensor,
             n_steps: int, dt: float, C0: torch.Tensor | None = None, F0: torch.Tensor | None = None,
             t0: float = 0.0) -> tuple[torch.Tensor, ...]:
    """`n_steps` MPM steps with the networks as the material, differentiable end to end: returns the
    positions of every step (n_steps, N, d) and the final (x, v, C, F). `solver` must be built with
    `requires_grad=True` (its materials are not used: the networks are)."""
    n, d = x0.shape
    C = torch.zeros(n, d, d, dtype=x0.dtype) if C0 is None else C0
    F = torch.eye(d, dtype=x0.dtype).expand(n, d, d).contiguous() if F0 is None else F0
    x, v, positions = x0, v0, []
    for step in range(n_steps):
        x, v, C, F_trial = _Transfer.apply(solver, dt, t0 + step * dt, x, v, C, F, elastic(F))
        F = F_trial if plastic is None else plastic(F_trial)
        positions.append(x)
    return torch.stack(positions), (x, v, C, F)


# -- training from one observed trajectory (Ma et al. 2023, §4) -----------------------------------------------
@dataclass(frozen=True)
class NCLawTraining:
    """The paper's schedule: each iteration restarts the simulation from the observed state at a random
    step and simulates a window of λ steps, λ growing from `window_start` to `window_end` along a cosine;
    loss `loss_scale`·MSE of the positions at every step of the window; Adam with cosine-annealed rates,
    gradient norm clipped. (The paper: λ 25 → 200, loss scale 1e4, clip 0.1, rates 1.0 and 0.1 for its
    weight initialisation; ours start from PyTorch's, hence smaller rates.)"""

    iterations: int = 300
    window_start: int = 25
    window_end: int = 200
    lr_elastic: float = 1.0e-2
    lr_plastic: float = 1.0e-3
    grad_clip: float = 0.1
    loss_scale: float = 1.0e4
    seed: int = 0

    def window(self, iteration: int) -> int:
        progress = iteration / max(self.iterations - 1, 1)
        return round(self.window_end + 0.5 * (self.window_start - self.window_end) * (1 + math.cos(math.pi * progress)))


def fit(solver, elastic: nn.Module, plastic: nn.Module | None, states: list[dict], dt: float,
        training: NCLawTraining = NCLawTraining()) -> list[float]:
    """Train the networks on one observed trajectory: `states[t]` holds the arrays x, v, C, F at step t
    (`ParticleState.numpy()`), Δt apart. Returns the loss of every iteration."""
    rng = np.random.default_rng(training.seed)
    groups = [{"params": elastic.parameters(), "lr": training.lr_elastic}]
    if plastic is not None:
        groups.append({"params": plastic.parameters(), "lr": training.lr_plastic})
    optimiser = torch.optim.Adam(groups)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, training.iterations)
    observed = torch.tensor(np.stack([s["x"] for s in states]))
    losses = []
    for iteration in range(training.iterations):
        window = min(training.window(iteration), len(states) - 1)
        start = int(rng.integers(0, len(states) - window))
        state = {k: torch.tensor(v) for k, v in states[start].items()}
        positions, _ = simulate(solver, elastic, plastic, state["x"], state["v"], window, dt, C0=state["C"],
                                F0=state["F"], t0=start * dt)
        loss = training.loss_scale * (positions - observed[start + 1:start + 1 + window]).square().mean()
        optimiser.zero_grad()
        loss.backward()
        nets = [*elastic.parameters(), *(plastic.parameters() if plastic is not None else [])]
        torch.nn.utils.clip_grad_norm_(nets, training.grad_clip)
        optimiser.step()
        schedule.step()
        losses.append(loss.item())
    return losses
