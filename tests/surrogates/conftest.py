import numpy as np
import pytest


@pytest.fixture
def drag_trajectories():
    """Four clouds of 40 particles falling with linear drag, a = g − k v per frame²: each particle's
    acceleration is a function of its last velocity, which a learned simulator must recover from its
    noisy history. (T = 21, 40, 2) each."""
    rng = np.random.default_rng(0)
    trajectories = []
    for _ in range(4):
        x, v = rng.uniform(0.3, 0.7, (40, 2)), rng.normal(scale=0.01, size=(40, 2))
        frames = [x]
        for _ in range(20):
            v = v + np.array([0.0, -1e-3]) - 0.1 * v
            frames.append(frames[-1] + v)
        trajectories.append(np.stack(frames))
    return trajectories
