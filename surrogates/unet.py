"""A modern U-Net baseline in the style of PDEArena's `Unet` (Gupta & Brandstetter, "Towards
Multi-spatiotemporal-scale Generalized PDE Modeling", 2022).

    lift (3x3 conv) -> L down levels -> L up levels with skip concatenation -> project (3x3 conv)

Each level is a residual stack of conv blocks (3x3 conv, GroupNorm, GELU, twice) with a 1x1-conv
shortcut (`conv_blocks.py`). Level l has width hidden_channels * channel_multipliers[l-1] (level 0:
hidden_channels); there are len(channel_multipliers) halvings. Down by average/max pooling or a
strided 3x3 convolution; up by interpolation (bicubic, bilinear, nearest; wrap-padded when circular)
or a 2x2 transposed convolution. Zero or circular padding.

Departures from PDEArena's `Unet`: the block is post-normalised (conv, norm, activation), the block of
SineNet, so that one SineNet wave with its additions off is exactly this network; there is no middle
block and no attention. Inputs and outputs follow the grid contract (`base.py`): history frames and
PDE parameters as channels; odd grids padded and cropped. What is predicted (`predict_difference`, default
False) is the next frame itself, as PDEArena's models do (the output is the future frames, no residual
added: `pdearena/models/pdemodel.py`); True predicts the change from the last frame, which made SineNet's
step unstable in our cylinder study (see `sinenet.py`) and cost the U-Net accuracy there too (rollout rel.
L2 0.23–0.26 with the change, 0.13–0.15 with the frame, 3 seeds, `../shared/references/sinenet-review.md`).
"""
from __future__ import annotations

from collections.abc import Sequence

from surrolab.surrogates.conv_blocks import (DOWN_MODES, PADDING_MODES, UP_MODES, ConvGridSurrogate, UShape,
                                             groups_divide_widths, widths_at_least_one)
from surrolab.surrogates.hyperparameters import Choice, Flag, Integer, Number, Numbers, check_hyperparameters


def unet_widths(hidden_channels: int, channel_multipliers: Sequence[float]) -> list[int]:
    """Channels of level 0..L: hidden_channels, then int(hidden_channels * multiplier) per halving."""
    return [hidden_channels] + [int(hidden_channels * m) for m in channel_multipliers]


def _widths(values: dict) -> list[int]:
    return unet_widths(values["hidden_channels"], values["channel_multipliers"])


class UNetSurrogate(ConvGridSurrogate):
    name = "unet"
    limits = {"hidden_channels": Integer(),
              "channel_multipliers": (Numbers(Number(0, low_open=True)),
                                      widths_at_least_one(_widths, "int(hidden_channels x multiplier)")),
              "n_blocks": Integer(), "down": Choice(DOWN_MODES), "up": Choice(UP_MODES),
              "padding_mode": Choice(PADDING_MODES), "groups": (Integer(), groups_divide_widths(_widths)),
              "predict_difference": Flag()}

    def __init__(self, *, n_channels: int, n_parameters: int, spatial_shape: tuple[int, ...], history: int = 2,
                 horizon: int = 1, hidden_channels: int = 64, channel_multipliers: Sequence[float] = (1, 2, 2, 4),
                 n_blocks: int = 1, down: str = "conv", up: str = "transpose", padding_mode: str = "zeros",
                 groups: int = 1, predict_difference: bool = False):
        check_hyperparameters(self.limits, locals())  # the arguments, before anything is built
        super().__init__(n_channels=n_channels, n_parameters=n_parameters, spatial_shape=spatial_shape,
                         history=history, horizon=horizon)
        self.constructor = dict(n_channels=n_channels, n_parameters=n_parameters, spatial_shape=list(spatial_shape),
                                history=history, horizon=horizon, hidden_channels=hidden_channels,
                                channel_multipliers=list(channel_multipliers), n_blocks=n_blocks, down=down, up=up,
                                padding_mode=padding_mode, groups=groups, predict_difference=predict_difference)
        widths = unet_widths(hidden_channels, channel_multipliers)
        self._build_ends(hidden_channels, len(channel_multipliers), padding_mode, predict_difference)
        self.body = UShape(widths, padding_mode, n_blocks=n_blocks, down=down, up=up, groups=groups)
