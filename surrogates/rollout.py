"""Autoregressive rollout of a grid surrogate in physical units.

The model sees its own predictions after the first `history` frames, which come from the solver.
A model with horizon h advances h frames per call; the last call's surplus frames are dropped.

On a mesh dataset's grid part the nodes outside a sample's domain (inside an obstacle, beyond a smaller
cavity) hold no solution: the data store 0 there. Given that sample's `mask`, every predicted frame is set
to 0 outside it before the model sees it again, as in the data it was trained on. The mask is part of the
sample's geometry, which a query knows as the solver does; it is not read from the answer.
"""
from __future__ import annotations

import torch

from surrolab.surrogates.base import GridSurrogate, Normalizer


@torch.no_grad()
def rollout(model: GridSurrogate, normalizer: Normalizer, initial_frames: torch.Tensor, parameters: torch.Tensor,
            n_frames: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """initial_frames: (B, history, C, *spatial), physical; parameters: (B, P), physical;
    mask: None, or bool broadcastable to (B, 1, 1, *spatial), True where the domain is.

    Returns (B, n_frames, C, *spatial) physical: the `history` given frames followed by the predicted ones
    (0 outside `mask`).
    """
    n_spatial = initial_frames.ndim - 3
    frames = normalizer.encode_fields(initial_frames, n_spatial)
    params = normalizer.encode_parameters(parameters)
    outside = None
    if mask is not None:  # physical 0 outside the domain, in the model's normalised units: (1, 1, C, 1, ...)
        outside = normalizer.encode_fields(torch.zeros_like(frames[:1, :1, :, *(slice(0, 1),) * n_spatial]), n_spatial)
    return normalizer.decode_fields(rollout_normalised(model, frames, params, n_frames, mask, outside), n_spatial)


@torch.no_grad()
def rollout_normalised(model: GridSurrogate, frames: torch.Tensor, params: torch.Tensor, n_frames: int,
                       mask: torch.Tensor | None = None, outside: torch.Tensor | None = None) -> torch.Tensor:
    """The same rollout in the model's normalised units: frames (B, history, C, *spatial) -> (B, n_frames, C,
    *spatial); with `mask`, every predicted frame takes the value `outside` outside it."""
    out = [frames]
    produced = frames.shape[1]
    while produced < n_frames:
        window = torch.cat(out, dim=1)[:, -model.history:]  # (B, history, C, *spatial)
        nxt = model(window, params)  # (B, horizon, C, *spatial)
        if mask is not None:
            nxt = torch.where(mask, nxt, outside)
        out.append(nxt)
        produced += nxt.shape[1]
    return torch.cat(out, dim=1)[:, :n_frames]


def validation_rollout(fields, parameters, normalizer: Normalizer, history: int, mask=None):
    """`model -> error` of the rollout from each trajectory's first `history` frames: the relative L2 in
    normalised units over the predicted frames (and the nodes inside `mask`), mean over the trajectories.
    fields (N, T, C, *spatial) and parameters (N, P) physical (numpy or torch); mask (N, *spatial) or None.
    What `training.train(validation_rollout=...)` logs, and selects the checkpoint on when asked."""
    x = torch.as_tensor(fields, dtype=torch.float32)
    n_spatial = x.ndim - 3
    z = normalizer.encode_fields(x, n_spatial)
    p = normalizer.encode_parameters(torch.as_tensor(parameters, dtype=torch.float32))
    inside = None if mask is None else torch.as_tensor(mask, dtype=torch.bool)[:, None, None]  # (N, 1, 1, *spatial)
    outside = normalizer.encode_fields(torch.zeros_like(z[:1, :1, :, *(slice(0, 1),) * n_spatial]), n_spatial)

    def error(model: GridSurrogate) -> float:
        device = next(model.parameters()).device
        model.eval()
        m = None if inside is None else inside.to(device)
        pred = rollout_normalised(model, z[:, :history].to(device), p.to(device), z.shape[1], m, outside.to(device))
        diff, true = (pred - z.to(device))[:, history:], z[:, history:].to(device)
        if m is not None:
            diff, true = diff * m, true * m
        dims = tuple(range(1, diff.ndim))
        return float(torch.mean(torch.linalg.vector_norm(diff, dim=dims)
                                / torch.linalg.vector_norm(true, dim=dims).clamp_min(1e-12)))

    return error
