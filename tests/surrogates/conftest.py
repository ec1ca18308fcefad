import numpy as np
import pytest


@pytest.fixture
def drag_windows():
    """Four clouds of 40 particles falling with linear drag, a = g − k v per frame²: each particle's
    acceleration is a function of its last velocity, which a learned simulator must recover from its
    noisy history. Returns the training windows (history 3, noise 1e-5) and the per-frame (mean, std) of
    the velocities and of the windows' acceleration targets."""
    import torch

    from surrolab.datasets.particle_data import ParticleWindows

    rng = np.random.default_rng(0)
    trajectories = []
    for _ in range(4):
        x, v = rng.uniform(0.3, 0.7, (40, 2)), rng.normal(scale=0.01, size=(40, 2))
        frames = [x]
        for _ in range(20):
            v = v + np.array([0.0, -1e-3]) - 0.1 * v
            frames.append(frames[-1] + v)
        trajectories.append(np.stack(frames))
    windows = ParticleWindows(trajectories, [np.zeros(40)] * 4, history=3, noise_std=1e-5)
    accelerations = torch.cat([windows[k]["target"] for k in range(len(windows))]).numpy()
    velocities = np.concatenate([np.diff(t, axis=0).reshape(-1, 2) for t in trajectories])
    return windows, (velocities.mean(0), velocities.std(0)), (accelerations.mean(0), accelerations.std(0))
