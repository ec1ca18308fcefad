"""Cheap signs of an unstable learned step, reported by the harness for every compared model.

A learned step can fit one-step targets well and still amplify what the training data never show: grid-
scale perturbations. The probe starts from a true state in the middle of a trajectory, adds a small
perturbation δ (rms 10⁻³ of the state's rms, over the free nodes) to the model's input, rolls the model
out `steps` steps with and without it, and reports the growth

    g = rms(x̃_steps − x_steps) / rms(δ)

as the geometric mean over the test trajectories and `draws` perturbations, for two kinds of δ:

- grid-scale: independent at every node (on a grid the checkerboard-rich white noise; on a mesh per vertex);
- smooth: white noise on a lattice 4 node spacings wide, interpolated (multilinearly) to the nodes.

The PDEs of this suite damp grid-scale content (diffusion, viscosity), so a grid-scale growth above
`GRID_GROWTH_LIMIT` is a defect of the learned step, not physics; a smooth growth above 1 can be physical
(an unstable wake amplifies smooth disturbances). Measured on `cylinder` (issue 24's review): U-Nets and
SineNets predicting the next frame, 0.13–0.20; SineNet predicting the change, 1.2–3.7, with the seeds that
diverged at the top; a U-Net predicting the change, 0.98–1.01. The limit sits between the stable 1.01 and
the unstable 1.2.

The second sign is the rollout error on training trajectories (`harness.compare`): a model that diverges
on the data it was fitted to is unstable, not overfitted.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.interpolate import RegularGridInterpolator

GRID_GROWTH_LIMIT = 1.1  # above it the learned step amplifies grid-scale perturbations (module docstring)
STEPS = 10
AMPLITUDE = 1e-3  # relative to the state's rms: small enough to stay in the step's linear range
SMOOTH_CELLS = 4  # node spacings per lattice cell of a smooth perturbation


@dataclass(frozen=True)
class Growth:
    grid_scale: float
    smooth: float
    steps: int

    @property
    def unstable(self) -> bool:
        return bool(self.grid_scale > GRID_GROWTH_LIMIT)


def perturbations(kind: str, coords: np.ndarray, n_channels: int, spacing: float, draws: int,
                  rng: np.random.Generator) -> np.ndarray:
    """(draws, n_nodes, n_channels) unit-variance perturbations at the nodes `coords` (n_nodes, d):
    independent per node (`grid`), or interpolated from a lattice `SMOOTH_CELLS` × `spacing` wide (`smooth`)."""
    n = len(coords)
    if kind == "grid":
        return rng.standard_normal((draws, n, n_channels))
    if kind != "smooth":
        raise ValueError(f"kind={kind!r}: grid or smooth")
    low, high = coords.min(0), coords.max(0)
    axes = [np.linspace(a, b, max(2, int(np.ceil((b - a) / (SMOOTH_CELLS * spacing))) + 1)) for a, b in zip(low, high)]
    lattice = rng.standard_normal((draws, n_channels, *(len(a) for a in axes)))
    out = np.empty((draws, n, n_channels))
    for d in range(draws):
        for c in range(n_channels):
            out[d, :, c] = RegularGridInterpolator(axes, lattice[d, c])(coords)
    return out


def growth(advance: Callable[[torch.Tensor], torch.Tensor], state: torch.Tensor, coords: np.ndarray,
           free: np.ndarray, spacing: float, draws: int = 4, seed: int = 0) -> tuple[float, float]:
    """(grid-scale, smooth) growth of one start state. `state` (n_nodes, C): the frame the perturbation is
    scaled to; `advance(δ)` takes perturbations (D, n_nodes, C) of the input and returns the states (D, n_nodes, C)
    `steps` steps later; `free` (n_nodes,) marks the nodes the model predicts (not fixed by boundary data)."""
    rng = np.random.default_rng(seed)
    free_t = torch.as_tensor(free, device=state.device)
    scale = AMPLITUDE * torch.sqrt(torch.mean(state[free_t] ** 2)).clamp_min(1e-12)
    base = advance(torch.zeros_like(state)[None])[0]
    out = []
    for kind in ("grid", "smooth"):
        delta = torch.as_tensor(perturbations(kind, coords, state.shape[1], spacing, draws, rng),
                                dtype=state.dtype, device=state.device) * free_t[None, :, None]
        delta = delta * scale / torch.sqrt(torch.mean(delta[:, free_t] ** 2, dim=(1, 2), keepdim=True))
        moved = advance(delta) - base[None]
        ratio = torch.sqrt(torch.mean(moved[:, free_t] ** 2, dim=(1, 2))) / scale
        out.append(float(torch.exp(torch.mean(torch.log(ratio.clamp_min(1e-30))))))
    return out[0], out[1]


def geometric_mean(values) -> float:
    return float(np.exp(np.mean(np.log(np.maximum(values, 1e-30)))))


def grid_model_growth(model, normalizer, truth: np.ndarray, params: np.ndarray, inside: np.ndarray,
                      axes: tuple[np.ndarray, ...], device: str = "cpu", steps: int = STEPS, draws: int = 4) -> Growth:
    """The growth of a grid surrogate over trajectories `truth` (N, T, C, *spatial) (physical, with `params`
    (N, P) and `inside` (N, *spatial)), in the model's normalised units, from frames [t0, t0 + history) with
    t0 = (T − history) // 2; the nodes outside the fluid stay at their reset value, as in the rollout."""
    from surrolab.surrogates.rollout import rollout_normalised

    n_spatial = truth.ndim - 3
    h = model.history
    t0 = (truth.shape[1] - h) // 2
    coords = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, n_spatial)
    spacing = min(float(np.min(np.diff(a))) for a in axes)
    x = torch.as_tensor(truth[:, t0:t0 + h], dtype=torch.float32, device=device)
    z = normalizer.encode_fields(x, n_spatial)
    p = normalizer.encode_parameters(torch.as_tensor(params, dtype=torch.float32, device=device))
    outside = normalizer.encode_fields(torch.zeros_like(z[:1, :1, :, *(slice(0, 1),) * n_spatial]), n_spatial)
    grids, smooths = [], []
    for i in range(len(truth)):
        mask = torch.as_tensor(inside[i], device=device)[None, None, None]  # (1, 1, 1, *spatial)
        spatial = truth.shape[3:]
        channels = truth.shape[2]

        def advance(delta: torch.Tensor, i=i, mask=mask) -> torch.Tensor:  # (D, n, C) -> (D, n, C)
            d = delta.transpose(1, 2).reshape(len(delta), 1, channels, *spatial)
            frames = z[i:i + 1] + d  # (D, h, C, *spatial): the same δ on every input frame
            out = rollout_normalised(model, frames, p[i:i + 1].expand(len(delta), -1), h + steps,
                                     None if inside[i].all() else mask, outside)
            return out[:, -1].reshape(len(delta), channels, -1).transpose(1, 2)

        state = z[i, -1].reshape(channels, -1).T
        g, s = growth(advance, state, coords, inside[i].reshape(-1), spacing, draws, seed=i)
        grids.append(g)
        smooths.append(s)
    return Growth(geometric_mean(grids), geometric_mean(smooths), steps)


def mesh_model_growth(model, graphs, truth: list[torch.Tensor], params: torch.Tensor, velocity: slice,
                      steps: int = STEPS, draws: int = 4) -> Growth:
    """The growth of MeshGraphNets' velocity step on each sample's mesh graph: truth[i] (T, C, N_i), the
    Dirichlet values of the stored frames as in the rollout; the start frame is t0 = max(0, min((T − 1) // 2,
    T − 1 − steps)), and the steps stop where the trajectory does."""
    from surrolab.surrogates.meshgraphnets import dirichlet_mask

    grids, smooths, used = [], [], steps
    for i, graph in enumerate(graphs):
        u = truth[i][:, velocity].transpose(1, 2)  # (T, N, d)
        t0 = max(0, min((len(u) - 1) // 2, len(u) - 1 - steps))
        used = min(steps, len(u) - 1 - t0)
        coords = graph.pos.cpu().numpy()
        spacing = float(torch.median(graph.edge_attr[:, graph.pos.shape[1]]))  # the rest edge lengths' median

        def advance(delta: torch.Tensor, i=i, graph=graph, u=u, t0=t0, n=used) -> torch.Tensor:
            return torch.stack([model.rollout(graph, params[i], u[t0] + d, u[t0 + 1:t0 + 1 + n])[0][-1] for d in delta])

        free = (~dirichlet_mask(graph.node_type)).cpu().numpy()
        g, s = growth(advance, u[t0], coords, free, spacing, draws, seed=i)
        grids.append(g)
        smooths.append(s)
    return Growth(geometric_mean(grids), geometric_mean(smooths), used)
