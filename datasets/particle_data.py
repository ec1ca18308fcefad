"""Training windows of a particle dataset for learned simulators (GNS, GIOROM): position histories and the
acceleration to predict, in frame units, with GNS's training noise.

Item k is one sample at one frame t (history ≤ t ≤ n_times − 2):
    positions: (N, history + 1, dim) float32, frames t − history … t (oldest first)
    types:     (N,) long, the particles' material ids
    target:    (N, dim) float32, the acceleration x_{t+1} − 2 x_t + x_{t−1} (position units per frame²)

Noise (Sanchez-Gonzalez et al. 2020, §4 "Training noise"): a random walk of velocity noise, std
`noise_std` per frame at the last input velocity, is added to the input positions, and the target is
the acceleration that brings the noisy last position to the clean next one: x_{t+1} − x̃_t − (x̃_t − x̃_{t−1}).
So the model learns to correct its own accumulated error; with noise 0 the target is the clean acceleration.
"""
from __future__ import annotations

import torch
from torch.utils.data import Dataset

from surrolab.datasets import schema
from surrolab.errors import SurrolabError


class ParticleWindows(Dataset):
    """The windows of trajectories `positions` (each (T, N, d), T ≥ history + 2) with material ids `types`
    (each (N,)); `from_dataset` reads them from a particle dataset."""

    def __init__(self, positions, types, history: int = 5, noise_std: float = 0.0, seed: int = 0):
        self.positions = [torch.as_tensor(p, dtype=torch.float32) for p in positions]
        self.types = [torch.as_tensor(t, dtype=torch.long) for t in types]
        for frames in self.positions:
            if frames.shape[0] < history + 2:
                raise SurrolabError(f"history={history} is not allowed: a trajectory's {frames.shape[0]} frames "
                                    "cannot hold history + 1 input positions plus the next frame")
        self.history, self.noise_std = history, noise_std
        self.index = [(s, t) for s, frames in enumerate(self.positions) for t in range(history, frames.shape[0] - 1)]
        self.generator = torch.Generator().manual_seed(seed)

    @classmethod
    def from_dataset(cls, path, samples, history: int = 5, noise_std: float = 0.0, seed: int = 0) -> "ParticleWindows":
        """The samples `samples` of the particle dataset at `path` (read once, kept in memory)."""
        with schema.open_dataset(path) as f:
            description = schema.read_description(f)
            if description.geometry_type != "particles":
                raise ValueError(f"{path} is a {description.geometry_type!r} dataset, not a particle dataset")
            positions = [schema.read_particle_fields(f, description, int(i), ["position"])["position"] for i in samples]
            types = [schema.read_particles(f, int(i)).material_id for i in samples]
        return cls(positions, types, history, noise_std, seed)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        sample, t = self.index[k]
        frames = self.positions[sample]
        window = frames[t - self.history:t + 1].transpose(0, 1).clone()  # (N, history + 1, d)
        if self.noise_std > 0:
            # random-walk velocity noise whose last step has std noise_std (the paper's scaling)
            steps = self.history
            velocity_noise = torch.randn(window.shape[0], steps, window.shape[2], generator=self.generator)
            velocity_noise = (velocity_noise * self.noise_std / steps**0.5).cumsum(dim=1)
            position_noise = torch.cat([torch.zeros_like(velocity_noise[:, :1]), velocity_noise.cumsum(dim=1)], 1)
            window = window + position_noise
        target = frames[t + 1] - window[:, -1] - (window[:, -1] - window[:, -2])
        return {"positions": window, "types": self.types[sample], "target": target}
