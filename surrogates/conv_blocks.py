"""Convolutional building blocks shared by the U-Net baseline (`unet.py`) and SineNet (`sinenet.py`).

One U-shaped pass, `UShape`, is the body of the U-Net and one wave of SineNet, so "SineNet with one wave
and its two additions switched off is a U-Net" holds by construction and is tested by copying weights.

    ConvBlock:  h = GELU(GN(conv3x3(GELU(GN(conv3x3(x))))))
    Down:       h = pool(h) ; [h, pool^l(x_wave)] if disentangled ; h = ConvBlock(.) + shortcut(pool(h))
    Up:         u = up(h)   ; h = ConvBlock([skip, u]) + shortcut(u)
    UShape:     widths w_0 .. w_L; L Down levels w_l -> w_{l+1}, then L Up levels back to w_0

The shortcut is a 1x1 convolution of the level's main input (not of the concatenated extras), as in the
SineNet authors' code (divelab/AIRS, OpenPDE/SineNet). With `n_blocks > 1` the further blocks of a
level have identity shortcuts.

Grids whose sides are not multiples of 2^L (our 33x33, 65x65, 129x129) are padded at the high end of
each axis to the next multiple before the network and cropped back after it (`ConvGridSurrogate`):
by edge replication for zero-padded convolutions, by periodic wrap for circular ones. Wrap padding of
a size that is not a multiple keeps the data continuous but is not exactly periodic any more, so exact
shift equivariance holds only on grids whose sides are multiples of 2^L.

Shapes: every module here maps (B, C, X, Y) tensors; levels halve X and Y.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from surrolab.errors import SurrolabError
from surrolab.surrogates.base import GridSurrogate
from surrolab.surrogates.hyperparameters import Rule

PADDING_MODES = ("zeros", "circular")
UP_MODES = ("bicubic", "bilinear", "nearest", "transpose")
DOWN_MODES = ("avgpool", "maxpool", "conv")


def conv3x3(in_channels: int, out_channels: int, padding_mode: str, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, padding_mode=padding_mode)


class ConvBlock(nn.Module):
    """Two 3x3 convolutions, each followed by GroupNorm and GELU (no shortcut: the level adds it)."""

    def __init__(self, in_channels: int, out_channels: int, padding_mode: str, groups: int = 1):
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels, padding_mode)
        self.norm1 = nn.GroupNorm(groups, out_channels)
        self.conv2 = conv3x3(out_channels, out_channels, padding_mode)
        self.norm2 = nn.GroupNorm(groups, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.gelu(self.norm1(self.conv1(x)))
        return F.gelu(self.norm2(self.conv2(h)))


class _ResidualStack(nn.Module):
    """`n_blocks` ConvBlocks; the first gets a 1x1-conv shortcut of `source` (the level's main input),
    the others identity shortcuts."""

    def __init__(self, in_channels: int, source_channels: int, out_channels: int, padding_mode: str,
                 n_blocks: int, groups: int):
        super().__init__()
        self.blocks = nn.ModuleList(ConvBlock(in_channels if b == 0 else out_channels, out_channels, padding_mode,
                                              groups) for b in range(n_blocks))
        self.shortcut = nn.Conv2d(source_channels, out_channels, kernel_size=1)

    def forward(self, h: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        h = self.blocks[0](h) + self.shortcut(source)
        for block in self.blocks[1:]:
            h = block(h) + h
        return h


class Down(nn.Module):
    """Halve the resolution, optionally append `extra_channels` (SineNet's pooled wave input), convolve."""

    def __init__(self, in_channels: int, out_channels: int, padding_mode: str, *, extra_channels: int = 0,
                 n_blocks: int = 1, down: str = "avgpool", groups: int = 1):
        super().__init__()
        if down == "conv":
            self.down = conv3x3(in_channels, in_channels, padding_mode, stride=2)
        else:
            self.down = nn.AvgPool2d(2) if down == "avgpool" else nn.MaxPool2d(2)
        self.stack = _ResidualStack(in_channels + extra_channels, in_channels, out_channels, padding_mode, n_blocks,
                                    groups)

    def forward(self, h: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        h = self.down(h)  # (B, in, X/2, Y/2)
        inputs = h if extra is None else torch.cat([h, extra], dim=1)  # (B, in + extra, X/2, Y/2)
        return self.stack(inputs, h)


class CircularInterpolate(nn.Module):
    """x2 interpolation of periodic data: wrap-pad 2 cells (the bicubic stencil's reach), interpolate,
    crop the 4 cells per side that came from the pad. Commutes with periodic shifts."""

    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (2, 2, 2, 2), mode="circular")  # (B, C, X + 4, Y + 4)
        x = F.interpolate(x, scale_factor=2, mode=self.mode)  # (B, C, 2X + 8, 2Y + 8)
        return x[..., 4:-4, 4:-4]


class Interpolate(nn.Module):
    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode=self.mode)


class Up(nn.Module):
    """Double the resolution of `h` (in_channels), concatenate the skip (out_channels), convolve."""

    def __init__(self, in_channels: int, out_channels: int, padding_mode: str, *, n_blocks: int = 1,
                 up: str = "bicubic", groups: int = 1):
        super().__init__()
        if up == "transpose":
            self.up = nn.ConvTranspose2d(in_channels, in_channels, kernel_size=2, stride=2)
        elif padding_mode == "circular":
            self.up = CircularInterpolate(up)
        else:
            self.up = Interpolate(up)
        self.stack = _ResidualStack(in_channels + out_channels, in_channels, out_channels, padding_mode, n_blocks,
                                    groups)

    def forward(self, h: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        u = self.up(h)  # (B, in, 2X, 2Y)
        return self.stack(torch.cat([skip, u], dim=1), u)  # (B, out, 2X, 2Y)


class UShape(nn.Module):
    """One U-shaped pass over widths w_0..w_L (input and output both w_0 channels).

    `disentangle` (SineNet): the pass's input x is average-pooled alongside the path, and pool^l(x) is
    concatenated to the input of every Down level but the first (where it would equal the main input).
    """

    def __init__(self, widths: list[int], padding_mode: str, *, n_blocks: int = 1, down: str = "avgpool",
                 up: str = "bicubic", groups: int = 1, disentangle: bool = False):
        super().__init__()
        self.disentangle = disentangle
        levels = len(widths) - 1
        self.downs = nn.ModuleList(
            Down(widths[i], widths[i + 1], padding_mode, n_blocks=n_blocks, down=down, groups=groups,
                 extra_channels=widths[0] if disentangle and i > 0 else 0) for i in range(levels))
        self.ups = nn.ModuleList(Up(widths[i + 1], widths[i], padding_mode, n_blocks=n_blocks, up=up, groups=groups)
                                 for i in reversed(range(levels)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips, h, pooled = [x], x, x
        for i, down in enumerate(self.downs):
            if self.disentangle:
                pooled = F.avg_pool2d(pooled, 2)  # the wave input at this level's resolution
            h = down(h, pooled if self.disentangle and i > 0 else None)
            skips.append(h)
        h = skips.pop()
        for up in self.ups:
            h = up(h, skips.pop())
        return h


def groups_divide_widths(widths: Callable[[dict], list[int]]) -> Rule:
    """The limit on `groups` of a network whose levels have `widths(values)` channels: GroupNorm splits each
    level's channels into `groups` equal groups."""
    return Rule(lambda v: all(w % v["groups"] == 0 for w in widths(v)),
                lambda v: f"it must divide every level's width; these settings give widths {widths(v)}")


def widths_at_least_one(widths: Callable[[dict], list[int]], how: str) -> Rule:
    """The limit on a width multiplier: every level keeps at least one channel."""
    return Rule(lambda v: min(widths(v)) >= 1,
                lambda v: f"every level's width, {how}, must be >= 1; these settings give {widths(v)}")


class ConvGridSurrogate(GridSurrogate):
    """The data adaptation common to the convolutional grid surrogates (U-Net, SineNet).

    The last `history` frames are stacked on channels, the PDE parameters appended as constant channels,
    the grid padded to a multiple of 2^levels, lifted by a 3x3 convolution, passed through `self.body`,
    projected by a 3x3 convolution to `horizon` frames and cropped back. With `predict_difference` the
    output is added to the last input frame. Subclasses set `self.body` and call `_build_ends`.
    """

    def _build_ends(self, hidden_channels: int, levels: int, padding_mode: str, predict_difference: bool):
        if len(self.spatial_shape) != 2:
            raise SurrolabError(f"{self.name} is two-dimensional; spatial_shape={list(self.spatial_shape)}")
        self.levels, self.padding_mode, self.predict_difference = levels, padding_mode, predict_difference
        in_channels = self.history * self.n_channels + self.n_parameters
        self.lift = conv3x3(in_channels, hidden_channels, padding_mode)
        self.project = conv3x3(hidden_channels, self.horizon * self.n_channels, padding_mode)

    def forward(self, frames: torch.Tensor, parameters: torch.Tensor) -> torch.Tensor:
        batch, history, channels, *spatial = frames.shape
        x = frames.reshape(batch, history * channels, *spatial)  # (B, H·C, X, Y)
        p = parameters.reshape(batch, -1, 1, 1).expand(-1, -1, *spatial)  # (B, P, X, Y)
        x = torch.cat([x, p], dim=1)  # (B, H·C + P, X, Y)
        multiple = 2 ** self.levels
        pad = [0, -spatial[1] % multiple, 0, -spatial[0] % multiple]  # the high end of Y, then of X
        if any(pad):
            x = F.pad(x, pad, mode="circular" if self.padding_mode == "circular" else "replicate")
        y = self.project(self.body(self.lift(x)))  # (B, horizon·C, X', Y')
        y = y[..., :spatial[0], :spatial[1]].reshape(batch, self.horizon, channels, *spatial)
        return y + frames[:, -1:] if self.predict_difference else y
