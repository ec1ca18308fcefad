"""Seeded Gaussian random fields on the unit square, defined as continuous functions.

A draw is a truncated Karhunen–Loève expansion in the Neumann eigenfunctions of the Laplacian,

    u(x, y) = Σ_{k,l=0..K} σ_kl ξ_kl cos(kπx) cos(lπy),     ξ_kl ~ N(0, 1) independent,

so every draw satisfies ∂u/∂n = 0 on the boundary, and the same draw can be evaluated on any grid: the
harness solves fine and coarsened from one initial state.

The variances follow the Matérn spectral density in d = 2 at the wave vector ω = π(k, l),

    S(ω) ∝ (2ν/ℓ² + |ω|²)^-(ν + d/2)

(Rasmussen & Williams, *Gaussian Processes for Machine Learning*, 2006, eq. 4.15), with length scale ℓ
and smoothness ν. The KL eigenvalue of the orthonormal basis function φ_kl = c_k c_l cos(kπx) cos(lπy)
(c_0 = 1, c_k = √2) is λ_kl ∝ S(ω_kl), so σ_kl = c_k c_l √λ_kl. The λ_kl are scaled to sum to one,
which makes the domain average of the pointwise variance exactly 1: the field has unit standard
deviation on average (less near the centre of a cell of the cosine lattice, more at the walls).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from surrolab.errors import SurrolabError, check_positive_int


@dataclass(frozen=True)
class CosineField:
    """One draw: u(x, y) = Σ_kl a_kl cos(kπx) cos(lπy), with a_kl = σ_kl ξ_kl of shape (K+1, K+1)."""

    coefficients: np.ndarray

    def evaluate(self, x_axis: np.ndarray, y_axis: np.ndarray) -> np.ndarray:
        """The field on the tensor grid x_axis × y_axis, shape (nx, ny), `ij` indexing: out[i, j] = u(x_i, y_j)."""
        modes = np.arange(self.coefficients.shape[0])
        cos_x = np.cos(np.pi * np.outer(np.asarray(x_axis, dtype=float), modes))  # (nx, K+1)
        cos_y = np.cos(np.pi * np.outer(np.asarray(y_axis, dtype=float), modes))  # (ny, K+1)
        return cos_x @ self.coefficients @ cos_y.T  # (nx, ny)


def matern_cosine_std(n_modes: int, length_scale: float, smoothness: float = 2.0) -> np.ndarray:
    """σ_kl for k, l = 0..n_modes, shape (n_modes+1, n_modes+1), normalised to unit mean variance."""
    check_positive_int("n_modes", n_modes)
    if not (length_scale > 0 and np.isfinite(length_scale)):
        raise SurrolabError(f"length_scale={length_scale!r} is not allowed: it must be a finite number > 0")
    if not (smoothness > 0 and np.isfinite(smoothness)):
        raise SurrolabError(f"smoothness={smoothness!r} is not allowed: it must be a finite number > 0")
    k = np.arange(n_modes + 1)
    omega_squared = np.pi**2 * (k[:, None] ** 2 + k[None, :] ** 2)
    eigenvalues = (2 * smoothness / length_scale**2 + omega_squared) ** -(smoothness + 1.0)  # d/2 = 1
    eigenvalues /= eigenvalues.sum()
    basis_norm = np.where(k == 0, 1.0, np.sqrt(2.0))  # c_k: cos(kπx) has L2 norm² 1/2 for k > 0
    return np.outer(basis_norm, basis_norm) * np.sqrt(eigenvalues)


def draw_cosine_field(rng: np.random.Generator, n_modes: int, length_scale: float, *,
                      smoothness: float = 2.0) -> CosineField:
    """Draw one field with modes k, l = 0..n_modes; consumes (n_modes+1)² normals from `rng`."""
    std = matern_cosine_std(n_modes, length_scale, smoothness)
    return CosineField(std * rng.standard_normal(std.shape))
