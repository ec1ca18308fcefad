"""T1, "Transform Once" (Poli et al., NeurIPS 2022, arXiv 2211.14453): a frequency-domain model (FDM).

The input is transformed once by a real orthonormal transform T (DCT-II by default, rFFT optional; see
`spectral.py`), and every layer works on the kept m₁ × m₂ low modes; modes beyond them are zero and never
stored. With z⁰ = lift(T u) restricted to the kept modes, layer ℓ is (the paper's T1 block)

    zˡ⁺¹ = M₂ M₁ σ(W zˡ) + zˡ,      (W z)ₖ = Wₖ zₖ,  Wₖ ∈ R^{w×w} per mode k (channel mixing)

where M₁, M₂ mix the modes densely along each axis, one m × m matrix per channel, and σ = sin. A
bias-free pointwise head w → 128 → horizon·C (sin between) maps the coefficients to the predicted
change of the last frame's spectrum. The loss is computed on spectra (`SpectralLoss`): T is orthonormal,
so the relative L2 of spectra equals that of fields (Parseval), and training applies no inverse
transform. `forward` applies T⁻¹ once, only because the grid contract asks for physical frames.

Variance-preserving initialisation (the paper's): truncating N = N₁N₂ modes to m = m₁m₂ keeps, for a
white signal, only m/N of its energy, so the per-mode channel weights get std gain·√(N / (w·m)) (gain 1
for the DCT, ½ for the DFT) and the mode-mixing matrices √(1/m_axis) (fan-in m_axis).

Cost (CPU, 2 threads, batch 8, ~360k parameters each, modes 12): against neuraloperator's FNO (modes 12,
width 32, 4 layers) a training step (loss + backward) is ~12x faster at 64² and ~36x at 128², inference
~10x and ~25x (T1 works on 12 x 12 coefficients whatever the grid; part of the gap is the FNO's
full-resolution lifting, projection and channel MLPs, not only its transforms).

Shapes: frames (B, history, C, N₁, N₂), parameters (B, P) -> (B, horizon, C, N₁, N₂); spectra
(B, horizon, C, K₁, K₂) with (K₁, K₂) = (N₁, N₂) for the DCT, (N₁, N₂//2+1) complex for the rFFT.

Departures from the paper (and from github.com/DiffEqML/kairos), each for a stated reason:
- The pointwise lift is applied after the transform, to the coefficients. A pointwise linear map commutes
  with T, so lift(T u) = T(lift u) exactly (the lift's bias is the weight of a constant-one channel), and
  this lets the one transform of the input also give the spectrum of the last frame, to which the head's
  output is added (a residual in time, as in our FNO wrapper) without a second transform.
- None in the head: both of its matrices start at std 1e-8 as in kairos (`src/models/t1.py` l. 185-187), so
  sin(head1 z) ≈ head1 z and the initial prediction is the last frame. (Until issue 24 the first matrix
  started at std 1/√w "so that its gradient is not ~1e-8 at the first step"; that reason does not hold
  under Adam, which normalises step sizes, and the departure cost most of T1's accuracy: the kept DCT
  modes have rms ~3 and the DC mode ~40 (constant channels enter at √N), so sin saw pre-activations of
  rms ~5 and the head started as random high-frequency features. On the t1-vs-fno study's data, 10
  epochs, one-step rel. L2 0.129 -> 0.064 and rollout 1.31 -> 0.58 with 1e-8; `benchmarks/results/
  grid_t1_vs_fno.md` has the rerun.)
- The layers' activation is sin, kairos's default (`act="sin"`), although every experiment configuration
  shipped with kairos switches it to GELU (e.g. `configs/experiment/navier-stokes/t1.yaml`). With the
  variance-preserving channel init each layer multiplies the coefficients' variance by ~N/m (≈ 29 at m = 12
  on 65²): bounded sin absorbs that, GELU compounds it, and on the t1-vs-fno data a GELU T1 did not learn
  at all (one-step 0.140 = persistence, with either head init).
- What is predicted (`predict_difference`, default True, kairos's choice for autoregressive tasks:
  `src/tasks/sequence_default.py`, integration_order 1 adds the last frame after the model): the head's
  output is the change of the last frame's spectrum, so modes beyond m keep the last frame's values and only
  the change is band-limited. At m = 12 on the study's data the best band-limited one-step predictor has
  error 0.013 this way, 0.052 band-limiting the state (kairos's NS task, a single map with no residual).
- rFFT: the kept modes along the first axis are those of both signs (kairos keeps only [:m₁]), complex
  weights are stored as (..., 2) real pairs, and sin acts on real and imaginary parts separately (complex
  sin grows like cosh of the imaginary part).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from surrolab.errors import SurrolabError
from surrolab.surrogates.base import GridSurrogate
from surrolab.surrogates.hyperparameters import Choice, Flag, Integer, check_hyperparameters
from surrolab.surrogates.spectral import TRANSFORMS, SpectralTransform
from surrolab.surrogates.training import Hooks


HEAD_INIT_STD = 1e-8  # kairos, src/models/t1.py l. 185-187


def _weight(tensor: torch.Tensor, complex_: bool) -> torch.Tensor:
    return torch.view_as_complex(tensor) if complex_ else tensor


def _sin(z: torch.Tensor) -> torch.Tensor:
    return torch.complex(torch.sin(z.real), torch.sin(z.imag)) if z.is_complex() else torch.sin(z)


class T1Layer(nn.Module):
    """One T1 block on kept modes: per-mode channel mixing, sin, mode mixing along each axis, residual.

    Shapes: z (B, width, r₁, m₂) -> (B, width, r₁, m₂), real (DCT) or complex (rFFT).
    """

    def __init__(self, width: int, kept: tuple[int, int], n_spatial: int, complex_: bool):
        super().__init__()
        r1, m2 = kept
        gain = 0.5 if complex_ else 1.0
        pair = (2,) if complex_ else ()
        std_channel = gain * math.sqrt(n_spatial / (width * r1 * m2))  # the paper's variance-preserving init
        self.channel = nn.Parameter(std_channel * torch.randn(width, width, r1, m2, *pair))
        self.mix1 = nn.Parameter(gain * math.sqrt(1 / r1) * torch.randn(r1, r1, width, *pair))
        self.mix2 = nn.Parameter(gain * math.sqrt(1 / m2) * torch.randn(m2, m2, width, *pair))
        self.complex = complex_

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        c = self.complex
        y = torch.einsum("bixy,ioxy->boxy", z, _weight(self.channel, c))  # per-mode w×w
        y = _sin(y)
        y = torch.einsum("bcxy,xoc->bcoy", y, _weight(self.mix1, c))  # along the first axis, per channel
        y = torch.einsum("bcxy,yoc->bcxo", y, _weight(self.mix2, c))  # along the second axis
        return y + z


class T1Surrogate(GridSurrogate):
    name = "t1"
    limits = {"modes": Integer(), "width": Integer(), "n_layers": Integer(), "head_width": Integer(),
              "transform": Choice(tuple(TRANSFORMS)), "positional_embedding": Flag(), "predict_difference": Flag()}

    def __init__(self, *, n_channels: int, n_parameters: int, spatial_shape: tuple[int, ...], history: int = 2,
                 horizon: int = 1, modes: int = 16, width: int = 32, n_layers: int = 4, head_width: int = 128,
                 transform: str = "dct", positional_embedding: bool = True, predict_difference: bool = True):
        check_hyperparameters(self.limits, locals())  # the arguments, before anything is built
        super().__init__(n_channels=n_channels, n_parameters=n_parameters, spatial_shape=spatial_shape,
                         history=history, horizon=horizon)
        if len(self.spatial_shape) != 2:
            raise SurrolabError(f"t1 needs a 2D grid; spatial_shape={list(spatial_shape)}")
        self.constructor = dict(n_channels=n_channels, n_parameters=n_parameters, spatial_shape=list(spatial_shape),
                                history=history, horizon=horizon, modes=modes, width=width, n_layers=n_layers,
                                head_width=head_width, transform=transform,
                                positional_embedding=positional_embedding, predict_difference=predict_difference)
        self.positional_embedding, self.predict_difference = positional_embedding, predict_difference
        self.transform: SpectralTransform = TRANSFORMS[transform](self.spatial_shape)
        cplx = self.transform.complex
        k1, k2 = self.transform.spectrum_shape
        self.register_buffer("rows", self.transform.low_rows(min(modes, k1)), persistent=False)
        self.m2 = min(modes, k2)
        kept = (len(self.rows), self.m2)
        n_spatial = math.prod(self.spatial_shape)
        n_in = history * n_channels + n_parameters + (2 if positional_embedding else 0) + 1  # + constant one
        self.lift = nn.Parameter(torch.randn(n_in, width) / math.sqrt(n_in))
        self.layers = nn.ModuleList(T1Layer(width, kept, n_spatial, cplx) for _ in range(n_layers))
        pair = (2,) if cplx else ()
        # kairos's head init: both matrices at std 1e-8, so the head starts linear and at zero
        self.head1 = nn.Parameter(HEAD_INIT_STD * torch.randn(width, head_width, *pair))
        self.head2 = nn.Parameter(HEAD_INIT_STD * torch.randn(head_width, horizon * n_channels, *pair))

    def _inputs(self, frames: torch.Tensor, parameters: torch.Tensor) -> torch.Tensor:
        batch, history, channels, *spatial = frames.shape
        if tuple(spatial) != self.spatial_shape:
            raise SurrolabError(f"frames on a {spatial} grid; this model was built for {list(self.spatial_shape)}")
        x = frames.reshape(batch, history * channels, *spatial)  # (B, H·C, N1, N2)
        extra = [parameters, torch.ones_like(parameters[:, :1])]  # constant channels: (B, P), (B, 1)
        const = torch.cat(extra, dim=1)[:, :, None, None].expand(-1, -1, *spatial)  # (B, P+1, N1, N2)
        parts = [x, const]
        if self.positional_embedding:
            axes = [torch.linspace(0, 1, n, device=x.device, dtype=x.dtype) for n in spatial]
            grid = torch.stack(torch.meshgrid(*axes, indexing="ij"))  # (2, N1, N2)
            parts.append(grid.expand(batch, -1, -1, -1))
        return torch.cat(parts, dim=1)  # (B, n_in, N1, N2)

    def spectral_features(self, frames: torch.Tensor, parameters: torch.Tensor):
        """(spectrum of the whole input (B, n_in, K1, K2), lifted kept modes z⁰ (B, w, r1, m2)): the one
        forward transform of a pass."""
        u_hat = self.transform(self._inputs(frames, parameters))  # the only forward transform
        z = u_hat.index_select(-2, self.rows)[..., : self.m2]  # (B, n_in, r1, m2)
        lift = self.lift.to(z.dtype)
        return u_hat, torch.einsum("bixy,io->boxy", z, lift)

    def layer_states(self, frames: torch.Tensor, parameters: torch.Tensor) -> list[torch.Tensor]:
        """z⁰, z¹, ..., z^L on the kept modes (for the variance test)."""
        _, z = self.spectral_features(frames, parameters)
        states = [z]
        for layer in self.layers:
            states.append(layer(states[-1]))
        return states

    def forward_spectral(self, frames: torch.Tensor, parameters: torch.Tensor) -> torch.Tensor:
        """The prediction's spectrum (B, horizon, C, K1, K2), with no inverse transform."""
        batch, history, channels = frames.shape[:3]
        u_hat, z = self.spectral_features(frames, parameters)
        for layer in self.layers:
            z = layer(z)
        c = self.transform.complex
        y = _sin(torch.einsum("bixy,io->boxy", z, _weight(self.head1, c)))
        y = torch.einsum("bixy,io->boxy", y, _weight(self.head2, c))  # (B, horizon·C, r1, m2)
        k1, k2 = self.transform.spectrum_shape
        y = nn.functional.pad(y, (0, k2 - self.m2))  # (B, horizon·C, r1, K2): modes beyond m2 zero
        full = y.new_zeros(batch, self.horizon * channels, k1, k2).index_copy(-2, self.rows, y)  # (.., K1, K2)
        full = full.reshape(batch, self.horizon, channels, k1, k2)
        if self.predict_difference:
            last = u_hat[:, (history - 1) * channels: history * channels]  # (B, C, K1, K2): last frame's spectrum
            full = full + last[:, None]
        return full

    def forward(self, frames: torch.Tensor, parameters: torch.Tensor) -> torch.Tensor:
        return self.transform.inverse(self.forward_spectral(frames, parameters))  # the one inverse transform

    def training_hooks(self) -> "SpectralLoss":
        return SpectralLoss()


def spectral_energy(z: torch.Tensor, transform: SpectralTransform, dims: tuple[int, ...]) -> torch.Tensor:
    """Σ |z|² over `dims` weighted so that it equals the physical Σ x² of T⁻¹z (Parseval)."""
    power = z.abs() ** 2 if z.is_complex() else z ** 2
    weights = transform.energy_weights()
    if weights is not None:
        power = power * weights[: z.shape[-1]].to(power.device)  # kept modes: the first columns
    return power.sum(dim=dims)


def spectral_relative_l2(prediction: torch.Tensor, target: torch.Tensor, transform: SpectralTransform) -> torch.Tensor:
    """Mean over the batch of ‖ŷ - ŝ‖ / ‖ŝ‖ on spectra (B, ...): the physical relative L2 by Parseval."""
    dims = tuple(range(1, prediction.ndim))
    error = spectral_energy(prediction - target, transform, dims)
    norm = spectral_energy(target, transform, dims)
    return torch.mean(torch.sqrt(error / norm.clamp_min(1e-12)))


class SpectralLoss(Hooks):
    """Relative L2 computed between the model's spectral prediction and T(target): the paper's loss,
    with no inverse transform in training. (The target's transform is data preparation, not the model's.)
    Departure for masked (mesh) datasets: they hold no solution outside the fluid, which a global transform
    cannot leave out (Parseval covers the whole grid), so there the loss is the shared masked MSE on the
    physical prediction: one inverse transform per step in training, the layers still all spectral."""

    def loss(self, model: T1Surrogate, batch: dict[str, torch.Tensor], epoch: int) -> torch.Tensor:
        if batch.get("mask") is not None:
            return super().loss(model, batch, epoch)
        prediction = model.forward_spectral(batch["frames"], batch["parameters"])
        target = model.transform(batch["targets"])
        return spectral_relative_l2(prediction, target, model.transform)
