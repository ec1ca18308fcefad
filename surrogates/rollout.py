"""Autoregressive rollout of a grid surrogate in physical units.

The model sees its own predictions after the first `history` frames, which come from the solver.
A model with horizon h advances h frames per call; the last call's surplus frames are dropped.
"""
from __future__ import annotations

import torch

from surrolab.surrogates.base import GridSurrogate, Normalizer


@torch.no_grad()
def rollout(model: GridSurrogate, normalizer: Normalizer, initial_frames: torch.Tensor, parameters: torch.Tensor,
            n_frames: int) -> torch.Tensor:
    """initial_frames: (B, history, C, *spatial), physical; parameters: (B, P), physical.

    Returns (B, n_frames, C, *spatial) physical: the `history` given frames followed by the predicted ones.
    """
    n_spatial = initial_frames.ndim - 3
    frames = normalizer.encode_fields(initial_frames, n_spatial)
    params = normalizer.encode_parameters(parameters)
    out = [frames]
    produced = frames.shape[1]
    while produced < n_frames:
        window = torch.cat(out, dim=1)[:, -model.history:]  # (B, history, C, *spatial)
        nxt = model(window, params)  # (B, horizon, C, *spatial)
        out.append(nxt)
        produced += nxt.shape[1]
    return normalizer.decode_fields(torch.cat(out, dim=1)[:, :n_frames], n_spatial)
