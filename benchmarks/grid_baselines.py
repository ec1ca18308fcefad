"""Reference predictors on a grid dataset, scored like any model: what a learned step must beat.

- Persistence: the next frame is the last one. A model near it has learned little (its training loss
  barely moved); one far below it has learned the change.
- The band-limited oracle of a model that changes only the lowest m × m DCT modes (T1 with
  `predict_difference`): one step ahead, the last frame plus the exact change in the kept modes; over a
  rollout, the exact kept modes with every mode beyond them frozen at the last input frame's values. No
  such model can do better, so its error is the floor the truncation alone sets.

Frames are (N, T, C, N₁, N₂) in physical units, as `schema.read_fields` gives them; each function returns
predictions of frames `history:` in the same layout, for `scoring.rollout_errors`.
"""
from __future__ import annotations

import numpy as np
import scipy.fft


def persistence(truth: np.ndarray, history: int) -> tuple[np.ndarray, np.ndarray]:
    """(one-step, rollout) predictions of frames `history:`: the previous true frame, and the last input
    frame held for the whole rollout."""
    one_step = truth[:, history - 1:-1]
    rollout = np.repeat(truth[:, history - 1:history], truth.shape[1] - history, axis=1)
    return one_step, rollout


def low_pass(frames: np.ndarray, modes: int) -> np.ndarray:
    """The part of (..., N₁, N₂) frames in the lowest `modes` × `modes` orthonormal DCT-II modes."""
    spectrum = scipy.fft.dctn(frames, type=2, norm="ortho", axes=(-2, -1))
    spectrum[..., modes:, :] = 0.0
    spectrum[..., :, modes:] = 0.0
    return scipy.fft.idctn(spectrum, type=2, norm="ortho", axes=(-2, -1))


def band_limited_oracle(truth: np.ndarray, history: int, modes: int) -> tuple[np.ndarray, np.ndarray]:
    """(one-step, rollout) predictions of frames `history:` by the best model that changes only the lowest
    `modes` × `modes` DCT modes of the last frame."""
    change = np.diff(truth, axis=1)[:, history - 1:]  # u_{t+1} - u_t for t = history-1 .. T-2
    one_step = truth[:, history - 1:-1] + low_pass(change, modes)
    last = truth[:, history - 1:history]
    rollout = low_pass(truth[:, history:], modes) + (last - low_pass(last, modes))
    return one_step, rollout
