"""CAPE: parameter-guided channel attention in front of any grid surrogate (Takamoto, Alesiani and
Niepert, "Learning Neural PDE Solvers with Parameter-Guided Channel Attention", ICML 2023, Sec. 3).

Written from the paper; nothing is taken from its reference code.

The CAPE block makes a cheap estimate of the next state whose form is steered by the PDE parameters
(Sec. 3.1, Fig. 2). Three embeddings of the parameters p, MLPs p → w/2 → w with GELU, give channel
masks m₁, m₂, m₃ ∈ R^w. A k×k trunk convolution maps the history window x to w/2 channels (GELU); three
branches lift it to w channels, each scaled channel-wise by its mask, and are summed:

    h = m₁ ⊙ up(K(pool₄ z)) + m₂ ⊙ W z + m₃ ⊙ D z,        z = GELU(conv_k(x))
      K: spectral convolution on the map average-pooled by `pool` (long range, cheap), then upsampled
      W: 1×1 convolution (pointwise)           D: depthwise k×k convolution (local)
    y = LayerNorm(conv(GELU(conv₁ₓ₁ h)))          (horizon·C channels)
    û = u_last ⊙ (1 + y)                          the estimate of the next `horizon` frames

Which branch matters is what the parameters choose: an advection speed favours the spectral (transport)
path, a small viscosity the local ones, so one network serves the whole parameter range.

The estimate joins the base model's input (Sec. 3.2): the base is any registered grid surrogate, built
with `history + horizon` frames so that û is the newest frame of its window, and with n_parameters = 0:
it never sees p, which reaches the output only through the masks. A 1×1 convolution mixes the base's
output with the estimate (initialised to pass the base's output through).

Departures: the paper feeds sigmoid(log p) of the raw parameters to the embeddings; ours get the
normalised (z-scored) parameters, which may be negative, so they go in as they are.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from neuralop.layers.spectral_convolution import SpectralConv
from torch import nn

from surrolab.errors import SurrolabError
from surrolab.surrogates.base import GridSurrogate
from surrolab.surrogates.hyperparameters import Integer, check_hyperparameters

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


class ParameterEmbedding(nn.Module):
    """p (B, P) → a channel mask (B, w): Linear(P, w/2), GELU, Linear(w/2, w)."""

    def __init__(self, n_parameters: int, width: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_parameters, width // 2), nn.GELU(), nn.Linear(width // 2, width))

    def forward(self, parameters: torch.Tensor) -> torch.Tensor:
        return self.net(parameters)


class CAPEBlock(nn.Module):
    """(frames (B, history, C, *spatial), parameters (B, P)) → estimate (B, horizon, C, *spatial)."""

    def __init__(self, n_channels: int, n_parameters: int, n_spatial: int, history: int, horizon: int,
                 width: int = 32, kernel_size: int = 5, modes: int = 8, pool: int = 4):
        super().__init__()
        if n_spatial not in _CONV:
            raise SurrolabError(f"CAPE works on 1D, 2D and 3D grids, not {n_spatial}D")
        if width < 2 or width % 2:
            raise SurrolabError(f"width={width}: CAPE's width must be even and >= 2")
        if n_parameters < 1:
            raise SurrolabError("CAPE needs PDE parameters to guide its masks; the dataset has none")
        conv, half, pad = _CONV[n_spatial], width // 2, kernel_size // 2
        self.n_spatial, self.pool, self.horizon, self.n_channels = n_spatial, pool, horizon, n_channels
        self.embeddings = nn.ModuleList(ParameterEmbedding(n_parameters, width) for _ in range(3))
        self.trunk = conv(history * n_channels, half, kernel_size, padding=pad)
        self.spectral = SpectralConv(half, width, n_modes=(modes,) * n_spatial)
        self.pointwise = conv(half, width, 1)
        self.depthwise = conv(half, width, kernel_size, padding=pad, groups=half)  # 2 outputs per channel
        self.mix = conv(width, width, 1)
        self.head = conv(width, horizon * n_channels, kernel_size, padding=pad)
        self.norm = nn.GroupNorm(1, horizon * n_channels)  # LayerNorm over (channels, *spatial)
        # the estimate starts as persistence ± 10 %: with the default gain 1, y ~ N(0, 1) makes û = u(1 + y)
        # pure noise at first, and 3-epoch quick runs then rolled out 25-34x worse than the bare base
        nn.init.constant_(self.norm.weight, 0.1)

    def masks(self, parameters: torch.Tensor) -> torch.Tensor:
        """(B, P) → (3, B, w): the masks of the spectral, pointwise and depthwise branches."""
        return torch.stack([embed(parameters) for embed in self.embeddings])

    def forward(self, frames: torch.Tensor, parameters: torch.Tensor) -> torch.Tensor:
        batch, history, channels, *spatial = frames.shape
        x = frames.reshape(batch, history * channels, *spatial)  # (B, H·C, *spatial)
        z = F.gelu(self.trunk(x))  # (B, w/2, *spatial)
        pooled = _pool(z, self.pool)  # (B, w/2, *spatial/pool)
        long_range = F.interpolate(self.spectral(pooled), size=tuple(spatial), mode="nearest")  # (B, w, *s)
        broadcast = (slice(None), slice(None)) + (None,) * len(spatial)
        m = self.masks(parameters)[(slice(None),) + broadcast]  # (3, B, w, 1, ..., 1)
        h = m[0] * long_range + m[1] * self.pointwise(z) + m[2] * self.depthwise(z)  # (B, w, *spatial)
        y = self.norm(self.head(F.gelu(self.mix(h))))  # (B, horizon·C, *spatial)
        y = y.reshape(batch, self.horizon, channels, *spatial)
        return frames[:, -1:] * (1.0 + y)  # (B, horizon, C, *spatial)


def _pool(z: torch.Tensor, factor: int) -> torch.Tensor:
    """Average pooling by `factor` per axis (at least one cell left on a small grid)."""
    size = tuple(max(1, s // factor) for s in z.shape[2:])
    pool = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}[z.dim() - 2]
    return pool(z, size)


class GridBase:
    """The limit on CAPE's `base`: a registered grid model other than CAPE; `base_hyper`, the base's own
    hyperparameters, are checked against the base's table and named `base.KEY` (as on the command line)."""

    def check(self, name: str, value, values: dict) -> None:
        from surrolab.registry import MODELS, get_model_class
        from surrolab.surrogates.train_run import check_settings

        def grid(model: str) -> bool:
            return model != CAPESurrogate.name and getattr(get_model_class(model), "input_kind", None) == "grid"

        if value not in MODELS or not grid(value):
            raise SurrolabError(f"{name}={value!r} is not allowed: CAPE's base is another grid model; available: "
                                f"{', '.join(sorted(m for m in MODELS if grid(m)))}")
        hyper = values.get("base_hyper")
        if hyper is not None and not isinstance(hyper, dict):
            raise SurrolabError(f"base_hyper={hyper!r} is not allowed: the base model's settings as a dict "
                                "(on the command line: --set base.KEY=VALUE)")
        check_settings(get_model_class(value), hyper or {}, prefix=f"{name}.")


class CAPESurrogate(GridSurrogate):
    """CAPE block + a base grid surrogate (`base`, built with `base_hyper`) that never sees the parameters.

    Hyperparameters: `width` (w), `kernel_size` (k), `modes` of the spectral branch (capped by the pooled
    grid), `pool` factor, `base` (a registered grid model other than "cape") and `base_hyper`.
    """

    name = "cape"
    # width even: the trunk has w/2 channels and the depthwise branch 2 outputs per channel; kernel_size odd:
    # the convolutions pad k // 2 per side to keep the grid
    limits = {"base": GridBase(), "width": Integer(2, "even"), "kernel_size": Integer(1, "odd"), "modes": Integer(),
              "pool": Integer()}

    def __init__(self, *, n_channels: int, n_parameters: int, spatial_shape: tuple[int, ...], history: int = 2,
                 horizon: int = 1, base: str = "fno", base_hyper: dict | None = None, width: int = 32,
                 kernel_size: int = 5, modes: int = 8, pool: int = 4):
        check_hyperparameters(self.limits, locals())  # the arguments, before anything is built
        super().__init__(n_channels=n_channels, n_parameters=n_parameters, spatial_shape=spatial_shape,
                         history=history, horizon=horizon)
        base_hyper = dict(base_hyper or {})
        self.constructor = dict(n_channels=n_channels, n_parameters=n_parameters, spatial_shape=list(spatial_shape),
                                history=history, horizon=horizon, base=base, base_hyper=base_hyper, width=width,
                                kernel_size=kernel_size, modes=modes, pool=pool)
        from surrolab.registry import get_model_class

        base_cls = get_model_class(base)
        pooled = [max(1, s // pool) for s in spatial_shape]
        self.cape = CAPEBlock(n_channels, n_parameters, len(spatial_shape), history, horizon, width, kernel_size,
                              modes=min([modes] + [s // 2 + 1 for s in pooled]), pool=pool)
        # the base sees history + horizon frames (the estimate last) and no parameters
        self.base = base_cls(n_channels=n_channels, n_parameters=0, spatial_shape=tuple(spatial_shape),
                             history=history + horizon, horizon=horizon, **base_hyper)
        self.output = _CONV[len(spatial_shape)](2 * n_channels, n_channels, 1)
        with torch.no_grad():  # start as the base's output: [I, 0]
            self.output.weight.zero_()
            identity = torch.eye(n_channels).reshape(n_channels, n_channels, *(1,) * len(spatial_shape))
            self.output.weight[:, :n_channels].copy_(identity)
            self.output.bias.zero_()

    def forward(self, frames: torch.Tensor, parameters: torch.Tensor) -> torch.Tensor:
        return self.forward_with_estimate(frames, parameters)[0]

    def forward_with_estimate(self, frames: torch.Tensor, parameters: torch.Tensor):
        """(prediction, CAPE's estimate), both (B, horizon, C, *spatial)."""
        batch, _, channels, *spatial = frames.shape
        estimate = self.cape(frames, parameters)  # (B, horizon, C, *spatial)
        window = torch.cat([frames, estimate], dim=1)  # (B, history + horizon, C, *spatial)
        out = self.base(window, parameters[:, :0])  # (B, horizon, C, *spatial); the base gets no parameters
        both = torch.cat([out, estimate], dim=2).reshape(batch * self.horizon, 2 * channels, *spatial)
        return self.output(both).reshape(batch, self.horizon, channels, *spatial), estimate

    def training_hooks(self):
        from surrolab.surrogates.curriculum import Curriculum

        return Curriculum()  # the paper trains CAPE along its curriculum (Sec. 3.3)
