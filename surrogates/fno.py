"""FNO baseline: `neuraloperator`'s Fourier neural operator (Li et al., ICLR 2021), not a re-implementation.

The wrapper only adapts the data: the last `history` frames are stacked as channels, the PDE parameters
are appended as constant channels, and the FNO predicts the next `horizon` frames themselves (`predict_difference`,
default False): the reference's choice (Li et al.'s `fourier_2d_time.py` steps the vorticity by feeding
back `model(x)`, with no residual; neuraloperator's autoregressive examples likewise). True adds the last
frame to the output (a residual in time); until issue 24 that was the default, for every grid model.
neuraloperator appends the grid coordinates itself (`positional_embedding="grid"`).
Our boundaries are not periodic (Neumann), so the domain is padded before the FFT (`domain_padding`).
"""
from __future__ import annotations

import torch
from neuralop.models import FNO

from surrolab.surrogates.base import GridSurrogate
from surrolab.surrogates.hyperparameters import Flag, Integer, Number, check_hyperparameters


class FNOSurrogate(GridSurrogate):
    name = "fno"
    # modes: per axis, capped at what the grid holds; domain_padding: a fraction of each side (0: none)
    limits = {"modes": Integer(), "hidden_channels": Integer(), "n_layers": Integer(), "domain_padding": Number(0, 1),
              "positional_embedding": Flag(), "predict_difference": Flag()}

    def __init__(self, *, n_channels: int, n_parameters: int, spatial_shape: tuple[int, ...], history: int = 2,
                 horizon: int = 1, modes: int = 12, hidden_channels: int = 32, n_layers: int = 4,
                 domain_padding: float = 0.125, positional_embedding: bool = True,
                 predict_difference: bool = False):
        check_hyperparameters(self.limits, locals())  # the arguments, before anything is built
        super().__init__(n_channels=n_channels, n_parameters=n_parameters, spatial_shape=spatial_shape,
                         history=history, horizon=horizon)
        self.constructor = dict(n_channels=n_channels, n_parameters=n_parameters, spatial_shape=list(spatial_shape),
                                history=history, horizon=horizon, modes=modes, hidden_channels=hidden_channels,
                                n_layers=n_layers, domain_padding=domain_padding,
                                positional_embedding=positional_embedding,
                                predict_difference=predict_difference)
        self.predict_difference = predict_difference
        n_modes = tuple(min(modes, s // 2 + 1) for s in spatial_shape)  # no more modes than the grid holds
        self.fno = FNO(n_modes=n_modes, in_channels=history * n_channels + n_parameters,
                       out_channels=horizon * n_channels, hidden_channels=hidden_channels, n_layers=n_layers,
                       domain_padding=domain_padding or None,
                       positional_embedding="grid" if positional_embedding else None)

    def forward(self, frames: torch.Tensor, parameters: torch.Tensor) -> torch.Tensor:
        batch, history, channels, *spatial = frames.shape
        x = frames.reshape(batch, history * channels, *spatial)  # (B, H·C, *spatial)
        p = parameters.reshape(batch, -1, *([1] * len(spatial))).expand(-1, -1, *spatial)  # (B, P, *spatial)
        y = self.fno(torch.cat([x, p], dim=1))  # (B, horizon·C, *spatial)
        y = y.reshape(batch, self.horizon, channels, *spatial)
        return y + frames[:, -1:] if self.predict_difference else y
