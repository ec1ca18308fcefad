"""Torch views of a dataset split: sliding windows of frames for next-step training.

The split's arrays are read once into memory (the datasets this loader serves are small); each item
is a window of `history` input frames and the `horizon` frames that follow, with the PDE parameters.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from surrolab.errors import SurrolabError


class FrameWindows(Dataset):
    """Items: dict(frames=(history, C, *spatial), parameters=(P,), targets=(horizon, C, *spatial)),
    and mask=(1, 1, *spatial) float (1 inside the sample's domain) when a `mask` is given.

    `fields`: (n_samples, n_times, C, *spatial) physical values; `parameters`: (n_samples, P);
    `mask`: None, or (n_samples, *spatial) bool, a mesh dataset's fluid mask (`schema.read_mask`): the grid
    nodes outside hold no solution, so the training loss leaves them out (`training.Hooks.loss`).
    The windows are normalised by `normalizer` (a `surrogates.base.Normalizer`) when given.
    `rollout_steps` > 1: the targets hold the frames of that many model calls, (rollout_steps·horizon, C,
    *spatial), for losses that unroll the model (`surrogates.curriculum.Curriculum`).
    """

    def __init__(self, fields: np.ndarray, parameters: np.ndarray, history: int, horizon: int = 1,
                 normalizer=None, mask: np.ndarray | None = None, rollout_steps: int = 1):
        if rollout_steps < 1:
            raise ValueError(f"rollout_steps={rollout_steps}: must be >= 1")
        horizon = horizon * rollout_steps  # the frames the targets hold
        n_samples, n_times = fields.shape[:2]
        if n_times < history + horizon:
            raise SurrolabError(f"history={history} is not allowed: the {n_times} frames of a trajectory cannot "
                                f"hold it plus horizon={horizon} target frames")
        fields_t = torch.as_tensor(fields, dtype=torch.float32)
        params_t = torch.as_tensor(parameters, dtype=torch.float32)
        if normalizer is not None:
            fields_t = normalizer.encode_fields(fields_t, fields.ndim - 3)
            params_t = normalizer.encode_parameters(params_t)
        self.fields, self.parameters = fields_t, params_t
        self.mask = None
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != (n_samples, *fields.shape[3:]):
                raise ValueError(f"mask has shape {mask.shape}; the fields need {(n_samples, *fields.shape[3:])}")
            self.mask = torch.as_tensor(mask, dtype=torch.float32)[:, None, None]  # (S, 1, 1, *spatial)
        self.history, self.horizon = history, horizon
        self.per_sample = n_times - history - horizon + 1
        self.n_samples = n_samples

    def __len__(self) -> int:
        return self.n_samples * self.per_sample

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample, start = divmod(index, self.per_sample)
        stop = start + self.history
        item = {"frames": self.fields[sample, start:stop], "parameters": self.parameters[sample],
                "targets": self.fields[sample, stop:stop + self.horizon]}
        if self.mask is not None:
            item["mask"] = self.mask[sample]
        return item
