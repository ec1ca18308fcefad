"""Reference solutions for the FEM problems, in one module (STYLE.md; jax-cfd `validation_problems.py`).

Each reference names the registered problem it checks, its parameters, the exact solution and the source
that makes it exact. Formulas are written once over a namespace `xp`: numpy for nodal values, ufl for an
exact L2 error by quadrature (`xp=ufl`, with x, y from `ufl.SpatialCoordinate` and t a `fem.Constant`).
Every function is a sum of products cos(aπx) cos(bπy), so ∂/∂n = 0 on the walls of the unit square.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np


@dataclass(frozen=True)
class HeatMode:
    """The slowest non-constant Neumann mode of the heat equation, exact without forcing:

        u = exp(−2π² D t) cos(πx) cos(πy).
    """

    problem: ClassVar[str] = "heat"
    source: ClassVar[None] = None  # exact without forcing
    diffusivity: float = 1e-2

    @property
    def parameters(self) -> dict[str, float]:
        return {"diffusivity": self.diffusivity}

    def exact(self, x, y, t, xp=np) -> tuple:
        return (xp.exp(-2 * np.pi**2 * self.diffusivity * t) * xp.cos(np.pi * x) * xp.cos(np.pi * y),)


@dataclass(frozen=True)
class ManufacturedFitzHughNagumo:
    """A manufactured solution of the FitzHugh–Nagumo system (`diffusion_reaction`):

        u_e = 1/2 + cos(t) cos(πx) cos(πy),        v_e = sin(t) cos(2πx) cos(πy),

    exact for u_t = D_u Δu + u − u³ − k − v + f_u, v_t = D_v Δv + u − v + f_v with

        f_u = ∂_t u_e − D_u Δu_e − (u_e − u_e³ − k − v_e),      f_v = ∂_t v_e − D_v Δv_e − (u_e − v_e),

    where Δ cos(aπx) cos(bπy) = −(a² + b²)π² cos(aπx) cos(bπy). The offset 1/2 makes the cubic
    asymmetric; the diffusivities are larger than PDEBench's so that the stiffness matrix matters.
    """

    problem: ClassVar[str] = "diffusion_reaction"
    activator_diffusivity: float = 0.05
    inhibitor_diffusivity: float = 0.1
    reaction_constant: float = 5e-3

    @property
    def parameters(self) -> dict[str, float]:
        return {"activator_diffusivity": self.activator_diffusivity,
                "inhibitor_diffusivity": self.inhibitor_diffusivity,
                "reaction_constant": self.reaction_constant}

    def exact(self, x, y, t, xp=np) -> tuple:
        u = 0.5 + xp.cos(t) * xp.cos(np.pi * x) * xp.cos(np.pi * y)
        v = xp.sin(t) * xp.cos(2 * np.pi * x) * xp.cos(np.pi * y)
        return u, v

    def source(self, x, y, t, xp=np) -> tuple:
        u, v = self.exact(x, y, t, xp)
        u_t = -xp.sin(t) * xp.cos(np.pi * x) * xp.cos(np.pi * y)
        v_t = xp.cos(t) * xp.cos(2 * np.pi * x) * xp.cos(np.pi * y)
        laplacian_u = -2 * np.pi**2 * (u - 0.5)
        laplacian_v = -5 * np.pi**2 * v
        f_u = u_t - self.activator_diffusivity * laplacian_u - (u - u**3 - self.reaction_constant - v)
        f_v = v_t - self.inhibitor_diffusivity * laplacian_v - (u - v)
        return f_u, f_v


REFERENCE_SOLUTIONS = (HeatMode(), ManufacturedFitzHughNagumo())
