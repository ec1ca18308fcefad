"""SineNet (Zhang et al., "SineNet: Learning Temporal Dynamics in Time-Dependent PDEs", ICLR 2024,
arXiv 2403.19507; authors' code divelab/AIRS, OpenPDE/SineNet).

K U-shaped waves connected in sequence, each advancing the latent state a fraction of the time step,
so that skip connections carry features that are misaligned in time by less than in one U-Net:

    x_0 = lift([frames, parameters])               (3x3 conv)
    x_k = x_{k-1} + V_k(x_{k-1}),  k = 1..K        (wave residual)
    next = project(x_K)                            (3x3 conv; the normalised next frame itself)

Each wave V_k is a U-Net over widths int(hidden * mult^l), l = 0..L (`conv_blocks.UShape`): down by
average pooling then a conv block with a 1x1-conv shortcut, up by bicubic x2 (wrap-padded for circular
padding), concatenation with the skip, conv block. Disentangling: the wave input x_{k-1} is
average-pooled along the down path and concatenated to the input of every down level but the first, so
each level sees the wave's own input at its scale, besides the features computed from it.

With K = 1, `wave_residual=False` and `disentangle=False`, SineNet is `unet.UNetSurrogate` with
channel_multipliers mult^1..mult^L, down="avgpool", up="bicubic" (tested by copying weights).

What is predicted (`predict_difference`, default False): the next frame itself, as the reference code does
(divelab/AIRS `OpenPDE/SineNet`, `sinenet_dual.py` and `models/pdemodel.py`: the network's output is the
normalised next frame). Until issue 24 ours predicted the change from the last frame (next = last +
project(x_K)). With the wave residuals that makes the step "last frame + a learned linear stencil", whose
grid-scale gain the smooth training data never constrain: on `cylinder` (10 epochs, 240 steps) grid-scale
perturbations grew 1.2–3.7x over 10 steps, some seeds diverged (rollout rel. L2 1.06 and 1.59 for
SineNet-2 and -8 at seed 1) and SineNet lost to the U-Net; with the full-frame target the growth was
0.13–0.20 and every seed rolled out at 0.12–0.15 (`../shared/references/sinenet-review.md`; the study is
`benchmarks/results/grid_sinenet_vs_unet.md`). The harness reports the growth for every model
(`benchmarks/stability.py`).

Equal parameter budget: the paper compares K = 2, 4, 6, 8 at SineNet-8's size (hidden 64, mult 1.425,
35.5 M parameters) by choosing the multiplier per K (2: 1.8075, 4: 1.611, 6: 1.5);
`sinenet_config_for_budget` finds that multiplier for any budget.
"""
from __future__ import annotations

import torch

from surrolab.errors import SurrolabError
from surrolab.surrogates.conv_blocks import (PADDING_MODES, UP_MODES, ConvGridSurrogate, UShape, groups_divide_widths,
                                             widths_at_least_one)
from surrolab.surrogates.hyperparameters import Choice, Flag, Integer, Number, check_hyperparameters


def sinenet_widths(hidden_channels: int, mult: float, levels: int) -> list[int]:
    return [int(hidden_channels * mult ** level) for level in range(levels + 1)]


def _widths(values: dict) -> list[int]:
    return sinenet_widths(values["hidden_channels"], values["mult"], values["levels"])


class SineNetSurrogate(ConvGridSurrogate):
    name = "sinenet"
    limits = {"hidden_channels": Integer(), "n_waves": Integer(), "levels": Integer(),
              "mult": (Number(0, low_open=True), widths_at_least_one(_widths, "int(hidden_channels x mult^level)")),
              "n_blocks": Integer(), "up": Choice(UP_MODES), "padding_mode": Choice(PADDING_MODES),
              "groups": (Integer(), groups_divide_widths(_widths)), "wave_residual": Flag(), "disentangle": Flag(),
              "predict_difference": Flag()}

    def __init__(self, *, n_channels: int, n_parameters: int, spatial_shape: tuple[int, ...], history: int = 2,
                 horizon: int = 1, hidden_channels: int = 64, n_waves: int = 8, mult: float = 1.425,
                 levels: int = 4, n_blocks: int = 1, up: str = "bicubic", padding_mode: str = "zeros",
                 groups: int = 1, wave_residual: bool = True, disentangle: bool = True,
                 predict_difference: bool = False):
        check_hyperparameters(self.limits, locals())  # the arguments, before anything is built
        super().__init__(n_channels=n_channels, n_parameters=n_parameters, spatial_shape=spatial_shape,
                         history=history, horizon=horizon)
        self.constructor = dict(n_channels=n_channels, n_parameters=n_parameters, spatial_shape=list(spatial_shape),
                                history=history, horizon=horizon, hidden_channels=hidden_channels, n_waves=n_waves,
                                mult=mult, levels=levels, n_blocks=n_blocks, up=up, padding_mode=padding_mode,
                                groups=groups, wave_residual=wave_residual, disentangle=disentangle,
                                predict_difference=predict_difference)
        self.wave_residual = wave_residual
        self._build_ends(hidden_channels, levels, padding_mode, predict_difference)
        widths = sinenet_widths(hidden_channels, mult, levels)
        self.waves = torch.nn.ModuleList(
            UShape(widths, padding_mode, n_blocks=n_blocks, down="avgpool", up=up, groups=groups,
                   disentangle=disentangle) for _ in range(n_waves))

    def body(self, x: torch.Tensor) -> torch.Tensor:
        for wave in self.waves:  # x: (B, hidden, X, Y) throughout
            x = x + wave(x) if self.wave_residual else wave(x)
        return x


def sinenet_parameter_count(n_waves: int, mult: float, **kwargs) -> int:
    """Exact parameter count, from a model built on the meta device (no memory, no initialisation cost)."""
    args = dict(n_channels=3, n_parameters=0, spatial_shape=(128, 128), history=4)
    with torch.device("meta"):
        model = SineNetSurrogate(**{**args, **kwargs}, n_waves=n_waves, mult=mult)
    return sum(p.numel() for p in model.parameters())


def sinenet_config_for_budget(n_waves: int, budget: int, *, resolution: float = 0.0005, low: float = 1.0,
                              high: float = 3.0, **kwargs) -> dict:
    """The multiplier (on a grid of step `resolution`) whose SineNet-`n_waves` is closest to `budget`
    parameters, other settings (`hidden_channels`, `levels`, channels...) as in `kwargs`.

    The count is non-decreasing in the multiplier (widths are int(hidden * mult^l)), so a bisection on
    the grid finds the last multiplier at or under the budget; it or the next one is the closest.
    Returns {"n_waves", "mult", "parameters"}; pass the first two (with `kwargs`) to the model. Several
    multipliers can give the same count (truncation to int); the largest of them is returned (for K = 6 at
    SineNet-8's budget: 1.501, which has exactly the parameters of the paper's 1.5).
    Departure: the paper lists its multipliers without saying how they were chosen; this is one way.
    """
    lo, hi = 0, round((high - low) / resolution)

    def count(i: int) -> int:
        return sinenet_parameter_count(n_waves, round(low + i * resolution, 6), **kwargs)

    if count(lo) > budget or count(hi) < budget:
        raise SurrolabError(f"budget={budget} is outside what multipliers {low}..{high} give with {n_waves} waves")
    while hi - lo > 1:  # invariant: count(lo) <= budget <= count(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if count(mid) <= budget else (lo, mid)
    best = min((lo, hi), key=lambda i: abs(count(i) - budget))
    return {"n_waves": n_waves, "mult": round(low + best * resolution, 6), "parameters": count(best)}
