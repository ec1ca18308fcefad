"""Training windows of particle datasets: shapes, the target is the second difference of the frames, and
with GNS's noise the target still lands the noisy window on the clean next frame."""
import pytest
import torch

from surrolab.datasets.dummy import write_tiny_particles
from surrolab.datasets.particle_data import ParticleWindows
from surrolab.surrogates.gns import next_positions


@pytest.fixture
def particles(tmp_path):
    return write_tiny_particles(tmp_path / "particles.h5", counts=(5, 9, 7), n_times=8)


def test_windows_hold_the_history_and_the_second_difference(particles):
    windows = ParticleWindows.from_dataset(particles, [0, 2], history=3)
    assert len(windows) == 2 * (8 - 1 - 3)  # t = 3 … 6 in each sample
    item = windows[len(windows) - 1]  # sample 2, t = 6
    assert item["positions"].shape == (7, 4, 2) and item["types"].shape == (7,)
    x = windows.positions[1]  # (T, N, d)
    assert torch.allclose(item["positions"], x[3:7].transpose(0, 1))
    assert torch.allclose(item["target"], x[7] - 2 * x[6] + x[5], atol=1e-7)
    # free fall: the acceleration per frame² is g Δt², the same for every particle
    assert torch.allclose(item["target"], item["target"][:1].expand(7, 2), atol=1e-6)


def test_noisy_windows_keep_the_clean_next_frame(particles):
    clean = ParticleWindows.from_dataset(particles, [1], history=4)
    noisy = ParticleWindows.from_dataset(particles, [1], history=4, noise_std=1e-3, seed=3)
    a, b = clean[1], noisy[1]
    assert not torch.allclose(a["positions"], b["positions"])
    assert (b["positions"] - a["positions"]).abs().max() < 0.02
    # x̃_t + (x̃_t − x̃_{t−1}) + target = x_{t+1}: the model learns to undo its accumulated error
    assert torch.allclose(next_positions(b["positions"], b["target"]), next_positions(a["positions"], a["target"]),
                          atol=1e-6)


def test_a_grid_dataset_is_refused(tiny_dataset):
    with pytest.raises(ValueError, match="not a particle dataset"):
        ParticleWindows.from_dataset(tiny_dataset, [0])
