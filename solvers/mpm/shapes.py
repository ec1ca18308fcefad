"""Particles filling simple shapes: the initial configurations of the MPM scenes.

Particles sit on a regular lattice of spacing h (by default Δx/2: 2^d particles per grid cell, the usual
MPM sampling) clipped to the shape, each carrying the volume h^d of its lattice cell, so the total volume
converges to the shape's as h → 0 and the mass is ρ h^d per particle.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def lattice(lower, upper, spacing: float) -> np.ndarray:
    """Cell-centred lattice points of `spacing` in the box [lower, upper] (each (dim,)): (N, dim)."""
    axes = [np.arange(lo + spacing / 2, hi, spacing) for lo, hi in zip(lower, upper)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))


def random_rotation(dim: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random rotation matrix (dim × dim)."""
    if dim == 2:
        a = rng.uniform(0, 2 * np.pi)
        return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return Rotation.random(random_state=rng).as_matrix()


def fill(kind: str, centre, half_extents, rotation: np.ndarray, spacing: float) -> np.ndarray:
    """Lattice points inside a rotated ellipsoid (`kind` "ellipsoid", a ball or disc when the half-extents
    are equal) or box ("box") with the given centre and half-extents: (N, dim), the lattice aligned with
    the axes (not with the shape) so neighbouring shapes share one lattice."""
    centre, half = np.asarray(centre, float), np.asarray(half_extents, float)
    reach = np.linalg.norm(half)
    points = lattice(centre - reach, centre + reach, spacing)
    body = (points - centre) @ rotation  # coordinates in the shape's frame (rows: Rᵀ(x − c))
    if kind == "ellipsoid":
        inside = ((body / half) ** 2).sum(axis=1) <= 1.0
    elif kind == "box":
        inside = np.all(np.abs(body) <= half, axis=1)
    else:
        raise ValueError(f"unknown shape kind {kind!r}")
    return points[inside]


def random_blob(dim: int, rng: np.random.Generator, size: float, centre, spacing: float) -> np.ndarray:
    """A blob of random kind (ball, ellipsoid or box), aspect ratios in [0.7, 1.3] and orientation, whose
    half-extents average `size`: the "falling blob or cube" of NCLaw and GNS-style datasets."""
    kind = ("ellipsoid", "box")[int(rng.integers(2))]
    half = size * rng.uniform(0.7, 1.3, dim)
    half *= size / half.mean()
    return fill(kind, centre, half, random_rotation(dim, rng), spacing)
