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

import copy
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
    """τ(F) = s₀ R sym(X(F)) Fᵀ: Kirchhoff stress, (N, d, d) -> (N, d, d). s₀ (`stress_scale`, Pa) is the
    unit of the network's output: fixed, not learned. The paper has none (s₀ = 1) and reaches stresses of
    10⁴–10⁶ Pa by Adam steps of 1.0 on the weights; in our runs those steps overshot into laws stiffer than
    the time step allows, and steps small enough to be stable took hundreds of epochs to grow the weights.
    With s₀ of the order of the moduli the weights stay O(1) and a rate of 0.03 learns in tens of epochs."""

    def __init__(self, dim: int, widths: tuple[int, ...] = (64, 64), stress_scale: float = 1.0):
        super().__init__()
        self.mlp = InvariantMLP(dim, widths)
        self.stress_scale = stress_scale

    def forward(self, F: torch.Tensor) -> torch.Tensor:
        return self.stress_scale * polar_rotation(F) @ self.mlp(F) @ F.transpose(1, 2)


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


# -- training from one observed trajectory (Ma et al. 2023, §4; their experiments/train.py) --------------------
@dataclass(frozen=True)
class NCLawTraining:
    """The paper's schedule. Every epoch simulates the whole observed trajectory, restarting from the
    observed state (x, v, C, F) at the start of each of ⌈T/λ⌉ equal segments ("teacher forcing"), λ growing
    from `window_start` to `window_end` along a cosine over the epochs; loss `loss_scale`·MSE of the
    positions at every step, weighted by ⌈T/λ⌉/T; one Adam step per epoch, rates cosine-annealed, gradient
    norms clipped per network. The paper: 300 epochs, λ 25 → 200, loss scale 1e4, clip 0.1, rates 1.0 and
    0.1 with Xavier-initialised weights (`init_weights`).

    Where we depart (measured in 2D, Δt 5e-4 s): the elastic rate is 0.03, with
    `ElasticNetwork(stress_scale=1e5)`; at the paper's 1.0 (with either output unit) the jelly laws
    overshot within 10 epochs into ones the explicit step cannot integrate. The plastic rate is the
    paper's 0.1: at 0.003 the plastic map could not grow the gain (~1/α) a return mapping needs within
    120 epochs, shear piled up in F (singular values 0.4–4 where the data's stay within 0.95–1.02) and
    free runs of water and plasticine diverged; at 0.1 the same 300-step runs stay within 1.3 and 6.7 mm."""

    epochs: int = 300
    window_start: int = 25
    window_end: int = 200
    lr_elastic: float = 0.03  # the paper: 1.0 (see the class docstring)
    lr_plastic: float = 0.1  # the paper's
    grad_clip: float = 0.1
    loss_scale: float = 1.0e4

    def __post_init__(self):
        for name in ("epochs", "window_start", "window_end"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} is not allowed: a positive integer")
        for name in ("lr_elastic", "lr_plastic", "grad_clip", "loss_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}={getattr(self, name)!r} is not allowed: a positive number")

    def window(self, epoch: int) -> float:
        """λ of `epoch` (0-based): `window_start` at the first epoch, `window_end` after the last."""
        progress = 0.5 * (1 + math.cos(math.pi * epoch / self.epochs))
        return self.window_end + (self.window_start - self.window_end) * progress


def teacher_segments(n_steps: int, window: float) -> list[tuple[int, int]]:
    """(first step, length) of the ⌈n_steps/λ⌉ near-equal segments the paper restarts at."""
    n_segments = math.ceil(n_steps / min(window, n_steps))
    starts = [n_steps * k // n_segments for k in range(n_segments)] + [n_steps]
    return [(a, b - a) for a, b in zip(starts[:-1], starts[1:])]


def init_weights(*networks: nn.Module) -> None:
    """Xavier-uniform weights, as the paper initialises its networks (`nclaw/material/utils.py`)."""
    for network in networks:
        for module in network.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)


def fit(solver, elastic: nn.Module, plastic: nn.Module | None, states: list[dict], dt: float,
        training: NCLawTraining = NCLawTraining(), progress=None) -> list[float]:
    """Train the networks on one observed trajectory: `states[t]` holds the arrays x, v, C, F at step t
    (`ParticleState.numpy()`), Δt apart. Each segment's loss is back-propagated on its own (its start is
    observed, so segments do not share a graph): memory is that of one window, not of the trajectory.

    An epoch whose simulation diverges (a learned law too stiff for Δt, or with negative stiffness: a
    non-finite loss or gradient) is rejected: the weights and optimiser go back to before the last step and
    the rates are halved. `progress(epoch, loss)` is called after every epoch. Returns the loss of every
    epoch (NaN for a rejected one)."""
    n_steps = len(states) - 1
    observed = {key: torch.tensor(np.stack([s[key] for s in states])) for key in ("x", "v", "C", "F")}
    nets = [(elastic, training.lr_elastic)] + ([(plastic, training.lr_plastic)] if plastic is not None else [])
    optimisers = [torch.optim.Adam(net.parameters(), lr=lr) for net, lr in nets]
    schedules = [torch.optim.lr_scheduler.CosineAnnealingLR(o, training.epochs) for o in optimisers]
    losses, before_step = [], None
    for epoch in range(training.epochs):
        segments = teacher_segments(n_steps, training.window(epoch))
        weight = training.loss_scale * len(segments) / n_steps
        for optimiser in optimisers:
            optimiser.zero_grad()
        total = 0.0
        try:
            for start, length in segments:
                positions, _ = simulate(solver, elastic, plastic, observed["x"][start], observed["v"][start], length,
                                        dt, C0=observed["C"][start], F0=observed["F"][start], t0=start * dt)
                error = (positions - observed["x"][start + 1:start + 1 + length]).square().mean(dim=(1, 2))
                loss = weight * error.sum()
                loss.backward()
                total += loss.item()
            norms = [torch.nn.utils.clip_grad_norm_(net.parameters(), training.grad_clip) for net, _ in nets]
            diverged = not (math.isfinite(total) and all(torch.isfinite(n) for n in norms))
        except torch.linalg.LinAlgError:  # the SVD of a non-finite F
            diverged = True
        if diverged:
            if before_step is None:
                raise FloatingPointError("the simulation diverged with the initial networks: lower stress_scale")
            for (net, _), optimiser, (net_state, optimiser_state) in zip(nets, optimisers, before_step):
                net.load_state_dict(net_state)
                optimiser.load_state_dict(optimiser_state)
                for group in optimiser.param_groups:
                    group["lr"] *= 0.5
            losses.append(float("nan"))
        else:
            before_step = [(copy.deepcopy(net.state_dict()), copy.deepcopy(o.state_dict())) for (net, _), o
                           in zip(nets, optimisers)]
            for optimiser in optimisers:
                optimiser.step()
            losses.append(total)
        for schedule in schedules:
            schedule.step()
        if progress is not None:
            progress(epoch, losses[-1])
    return losses
