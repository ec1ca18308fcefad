"""Constitutive laws: the material slot of the MPM step (STYLE.md: a physical term a model may replace).

A law gives, for a particle's deformation gradient F (and APIC velocity gradient C),
    stress(F, C) -> τ          the Kirchhoff stress τ = P Fᵀ = J σ that P2G spreads to the grid
    project(F_trial, dt) -> F  the plastic return mapping of the trial gradient F_trial = (I + Δt C) F
and its parameters are one small array, so a warp tape gives the gradient of a loss with respect to them.
`MPMSolver` launches `stress` before P2G and `project` after G2P on the particles of each material; a
neural law (NCLaw) is another object with the same two methods.

The five registered laws (names as in the MPM-learning literature):
- `jelly`: fixed-corotated elasticity (Stomakhin et al. 2012), τ = 2μ(F − R)Fᵀ + λ(J − 1)J I, R the
  polar rotation of F; elastic, F is kept.
- `water`: weakly compressible Newtonian fluid, σ = −p I + 2η dev(D), D = sym(C), Tait equation of state
  p = (K/γ)(J^−γ − 1) with γ = 7; F is reset to J^{1/d} I (a fluid remembers its volume, not its shape).
- `plasticine`: von Mises elastoplasticity with Hencky (logarithmic) elasticity, τ = U(2μ ε + λ tr ε I)Uᵀ,
  ε = log Σ for F = UΣVᵀ; the radial return keeps √(d/(d−1))‖dev τ‖ ≤ σ_y, the uniaxial yield stress σ_y
  (√(3/2) in 3D; √2 in 2D, so that σ_y is the uniaxial yield stress of the 2D continuum too).
- `goop`: a viscoplastic (Bingham) fluid: the same Hencky elasticity and von Mises yield surface, with
  the Duvaut–Lions (Perzyna) overstress relaxation: the return covers the fraction 1/(1 + η/(2μΔt)) of
  the distance to the yield surface, so stress above yield decays with the relaxation time η/(2μ);
  η → 0 is perfect plasticity, large η a viscous fluid above its yield stress.
- `sand`: Drucker–Prager plasticity with Hencky elasticity and the return mapping of Klar et al. (2016,
  §4.3.1): tension projects to the cone's tip (ε = 0), otherwise ε̂ (the deviator of ε) shrinks by
  δγ = ‖ε̂‖ + (dλ + 2μ)/(2μ) tr(ε) α, α = √(2/3)·2 sin φ/(3 − sin φ), φ the friction angle (in 2D
  α = sin φ/√2, the Mohr–Coulomb cone of the plane).
All laws take Young's modulus E and Poisson's ratio ν (μ = E/(2(1+ν)), λ = Eν/((1+ν)(1−2ν))) where they
are elastic. In 2D the laws are those of a 2D continuum (d = 2 in the deviator and in J^{1/d}).
"""

import functools
import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, fields
from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import warp as wp

from surrolab.errors import SurrolabError, check_positive_number, check_range


# -- linear algebra shared by the laws, per dimension ----------------------------------------------
@functools.cache
def linalg(dim: int):
    """Small matrix helpers for `dim`×`dim` matrices (warp closures)."""
    vec = wp.types.vector(dim, wp.float32)
    mat = wp.types.matrix((dim, dim), wp.float32)

    @wp.func
    def svd(F: mat):
        # F = U diag(σ) Vᵀ with U and V rotations (σ_d negative for an inverted F)
        U = mat()
        sigma = vec()
        V = mat()
        if wp.static(dim == 3):
            wp.svd3(F, U, sigma, V)
        else:
            # warp's svd2 returns U = V = I for any F = s·R (equal singular values, e.g. a pure rotation),
            # which loses R (warp 1.19, native/svd.h `_svd_2`). So split off the polar rotation in closed form
            # first, R = rot(θ), θ = atan2(F₁₀ − F₀₁, F₀₀ + F₁₁), and decompose the symmetric S = RᵀF, for
            # which U = V = I at equal singular values is right.
            theta = wp.atan2(F[1, 0] - F[0, 1], F[0, 0] + F[1, 1])
            R = mat(wp.cos(theta), -wp.sin(theta), wp.sin(theta), wp.cos(theta))
            Us = mat()
            wp.svd2(wp.transpose(R) * F, Us, sigma, V)
            U = R * Us
            # svd2 gives σ ≥ 0 and U or V (or both) may be reflections: flip the second column of each
            # reflection and the sign of σ₂ with it, so U and V are rotations and U diag(σ) Vᵀ = F
            if wp.determinant(U) < 0.0:
                U[0, 1] = -U[0, 1]
                U[1, 1] = -U[1, 1]
                sigma[1] = -sigma[1]
            if wp.determinant(V) < 0.0:
                V[0, 1] = -V[0, 1]
                V[1, 1] = -V[1, 1]
                sigma[1] = -sigma[1]
        return U, sigma, V

    @wp.func
    def polar_rotation(F: mat):
        # R of the polar decomposition F = R S: closed form in 2D (θ = atan2(F₁₀ − F₀₁, F₀₀ + F₁₁), no SVD
        # needed), U Vᵀ of the SVD in 3D
        if wp.static(dim == 3):
            U, sigma, V = svd(F)
            return U * wp.transpose(V)
        else:
            theta = wp.atan2(F[1, 0] - F[0, 1], F[0, 0] + F[1, 1])
            return mat(wp.cos(theta), -wp.sin(theta), wp.sin(theta), wp.cos(theta))

    @wp.func
    def diag(s: vec):
        out = mat()
        for d in range(dim):
            out[d, d] = s[d]
        return out

    @wp.func
    def lame(E: float, nu: float):
        return E / (2.0 * (1.0 + nu)), E * nu / ((1.0 + nu) * (1.0 - 2.0 * nu))

    @wp.func
    def hencky(F: mat):
        # U, ε = log σ (the principal Hencky strains), V
        U, sigma, V = svd(F)
        eps = vec()
        for d in range(dim):
            eps[d] = wp.log(wp.max(wp.abs(sigma[d]), 1.0e-6))
        return U, eps, V

    @wp.func
    def hencky_kirchhoff(F: mat, mu: float, lam: float):
        # τ = U (2μ ε + λ tr(ε) I) Uᵀ
        U, eps, V = hencky(F)
        trace = float(0.0)
        for d in range(dim):
            trace += eps[d]
        t = vec()
        for d in range(dim):
            t[d] = 2.0 * mu * eps[d] + lam * trace
        return U * diag(t) * wp.transpose(U)

    @wp.func
    def deviator(eps: vec):
        trace = float(0.0)
        for d in range(dim):
            trace += eps[d]
        dev = vec()
        for d in range(dim):
            dev[d] = eps[d] - trace / float(dim)
        return dev, trace

    @wp.func
    def from_strain(U: mat, eps: vec, V: mat):
        s = vec()
        for d in range(dim):
            s[d] = wp.exp(eps[d])
        return U * diag(s) * wp.transpose(V)

    @wp.func
    def von_mises_return(F: mat, mu: float, yield_stress: float, fraction: float):
        # radial return of the Hencky strain deviator to √(3/2)·2μ‖ε̂‖ = σ_y, covering `fraction` of the way
        U, eps, V = hencky(F)
        dev, trace = deviator(eps)
        norm = wp.length(dev)
        # uniaxial stress σ has ‖dev τ‖ = σ √((d − 1)/d): the factor √(d/(d − 1)) (√(3/2) in 3D, √2 in 2D)
        # makes σ_y the uniaxial yield stress in either dimension
        excess = norm - yield_stress / (2.0 * mu * wp.sqrt(float(dim) / float(dim - 1)))
        out = F
        if excess > 0.0:
            eps = eps - (fraction * excess / norm) * dev
            out = from_strain(U, eps, V)
        return out

    return SimpleNamespace(vec=vec, mat=mat, svd=svd, polar_rotation=polar_rotation, diag=diag, lame=lame, hencky=hencky,
                           hencky_kirchhoff=hencky_kirchhoff, deviator=deviator, from_strain=from_strain,
                           von_mises_return=von_mises_return)


# -- the laws -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Material(ABC):
    """The slot: a constitutive law and its parameters, which `MPMSolver` calls on the particles of its
    material. Subclasses list their parameters as dataclass fields (`density` first, which P2G uses through
    the particle masses, then the law's own: the array `params` the two calls receive) and implement
    `stress` and `project` on warp arrays (the analytic laws below through warp kernels, `WarpLaw`; a
    learned law may compute them any way, e.g. in torch through `wp.to_torch`)."""

    name: ClassVar[str]
    density: float = 1.0e3  # kg/m^d (per unit area in 2D)

    def __post_init__(self):
        check_positive_number("density", self.density)

    # the parameters the kernels read, in `fields` order after density
    def law_parameters(self) -> np.ndarray:
        return np.array([getattr(self, f.name) for f in fields(self)][1:], dtype=np.float32)

    def as_dict(self) -> dict:
        return {"law": self.name, **asdict(self)}

    @abstractmethod
    def wave_speed(self) -> float:
        """The fastest elastic (or acoustic) wave speed (m/s), for the time step's CFL bound."""

    @abstractmethod
    def stress(self, dim: int, F: wp.array, C: wp.array, indices: wp.array, params: wp.array, tau: wp.array) -> None:
        """Write the Kirchhoff stress τ(F, C) of particles `indices` into `tau` (arrays of all particles)."""

    @abstractmethod
    def project(self, dim: int, F_trial: wp.array, indices: wp.array, params: wp.array, dt: float,
                F: wp.array) -> None:
        """Write the plastically projected deformation gradient of particles `indices` into `F`."""


@dataclass(frozen=True)
class WarpLaw(Material):
    """A law given by two warp functions, `_funcs(dim)` -> (stress(F, C, params) -> τ, project(F, params,
    dt) -> F), launched as kernels over the material's particles."""

    @classmethod
    @abstractmethod
    def _funcs(cls, dim: int):
        """(stress, project) warp functions for `dim`."""

    def stress(self, dim, F, C, indices, params, tau) -> None:
        kernels = _law_kernels(type(self), dim)
        wp.launch(kernels.stress, dim=len(indices), inputs=[F, C, indices, params], outputs=[tau], device=F.device)

    def project(self, dim, F_trial, indices, params, dt: float, F) -> None:
        kernels = _law_kernels(type(self), dim)
        wp.launch(kernels.project, dim=len(indices), inputs=[F_trial, indices, params, dt], outputs=[F],
                  device=F.device)


@functools.cache
def _law_kernels(law: type[WarpLaw], dim: int):
    stress_fn, project_fn = law._funcs(dim)
    la = linalg(dim)

    @wp.kernel
    def stress(F: wp.array(dtype=la.mat), C: wp.array(dtype=la.mat), indices: wp.array(dtype=int),
               params: wp.array(dtype=float), tau: wp.array(dtype=la.mat)):
        p = indices[wp.tid()]
        tau[p] = stress_fn(F[p], C[p], params)

    @wp.kernel
    def project(F_trial: wp.array(dtype=la.mat), indices: wp.array(dtype=int), params: wp.array(dtype=float),
                dt: float, F: wp.array(dtype=la.mat)):
        p = indices[wp.tid()]
        F[p] = project_fn(F_trial[p], params, dt)

    return SimpleNamespace(stress=stress, project=project)


@dataclass(frozen=True)
class ElasticSolid(WarpLaw):
    """A solid with Young's modulus E and Poisson's ratio ν (its law's parameters 0 and 1)."""

    youngs_modulus: float = 1.0e5  # E, Pa
    poisson_ratio: float = 0.2  # ν

    def __post_init__(self):
        super().__post_init__()
        check_positive_number("youngs_modulus", self.youngs_modulus)
        if not -1.0 < self.poisson_ratio < 0.5:
            raise SurrolabError(f"poisson_ratio={self.poisson_ratio} is not allowed: it must lie in (-1, 0.5) "
                                "(0.5 is incompressible, for which λ is infinite)")

    def wave_speed(self) -> float:
        """The P-wave speed √((λ + 2μ)/ρ)."""
        E, nu = self.youngs_modulus, self.poisson_ratio
        mu, lam = E / (2 * (1 + nu)), E * nu / ((1 + nu) * (1 - 2 * nu))
        return math.sqrt((lam + 2 * mu) / self.density)


@dataclass(frozen=True)
class FixedCorotated(ElasticSolid):
    """Fixed-corotated elastic solid (jelly)."""

    name: ClassVar[str] = "jelly"

    @classmethod
    def _funcs(cls, dim):
        la = linalg(dim)

        @wp.func
        def stress(F: la.mat, C: la.mat, params: wp.array(dtype=float)):
            mu, lam = la.lame(params[0], params[1])
            R = la.polar_rotation(F)
            J = wp.determinant(F)
            # (F − R)Fᵀ = FFᵀ − R S Rᵀ is symmetric; written so in float32 too (an SVD of nearly equal singular
            # values leaves R Fᵀ asymmetric by ~1e-4, which would be a spurious torque)
            RFt = R * wp.transpose(F)
            return 2.0 * mu * (F * wp.transpose(F) - 0.5 * (RFt + wp.transpose(RFt))) + \
                (lam * (J - 1.0) * J) * wp.identity(n=dim, dtype=float)

        @wp.func
        def project(F: la.mat, params: wp.array(dtype=float), dt: float):
            return F

        return stress, project


@dataclass(frozen=True)
class NewtonianFluid(WarpLaw):
    """Weakly compressible Newtonian fluid (water)."""

    name: ClassVar[str] = "water"
    bulk_modulus: float = 2.0e5  # K, Pa (far below water's 2.2 GPa: "weakly" compressible, Mach ≪ 1)
    viscosity: float = 1.0e-3  # η, Pa·s

    GAMMA: ClassVar[float] = 7.0  # Tait exponent

    def __post_init__(self):
        super().__post_init__()
        check_positive_number("bulk_modulus", self.bulk_modulus)
        check_range("viscosity", self.viscosity, 0.0, math.inf, unit="Pa s")

    def wave_speed(self) -> float:
        return math.sqrt(self.bulk_modulus / self.density)

    @classmethod
    def _funcs(cls, dim):
        la = linalg(dim)
        gamma = cls.GAMMA

        @wp.func
        def stress(F: la.mat, C: la.mat, params: wp.array(dtype=float)):
            J = wp.determinant(F)
            pressure = params[0] / gamma * (wp.pow(J, -gamma) - 1.0)
            strain_rate = 0.5 * (C + wp.transpose(C))
            deviatoric = strain_rate - (wp.trace(strain_rate) / float(dim)) * wp.identity(n=dim, dtype=float)
            return J * (2.0 * params[1] * deviatoric - pressure * wp.identity(n=dim, dtype=float))

        @wp.func
        def project(F: la.mat, params: wp.array(dtype=float), dt: float):
            J = wp.determinant(F)
            return wp.pow(J, 1.0 / float(dim)) * wp.identity(n=dim, dtype=float)

        return stress, project


@dataclass(frozen=True)
class HenckyPlastic(ElasticSolid):
    """An elastoplastic law with Hencky elasticity, τ = U(2μ ε + λ tr ε I)Uᵀ; subclasses give the return
    mapping as `_return_mapping(dim)`: the warp function project(F, params, dt) -> F."""

    @classmethod
    def _return_mapping(cls, dim):
        raise NotImplementedError

    @classmethod
    def _funcs(cls, dim):
        la = linalg(dim)

        @wp.func
        def stress(F: la.mat, C: la.mat, params: wp.array(dtype=float)):
            mu, lam = la.lame(params[0], params[1])
            return la.hencky_kirchhoff(F, mu, lam)

        return stress, cls._return_mapping(dim)


@dataclass(frozen=True)
class VonMises(HenckyPlastic):
    """Von Mises elastoplastic solid with Hencky elasticity (plasticine)."""

    name: ClassVar[str] = "plasticine"
    youngs_modulus: float = 3.0e5
    poisson_ratio: float = 0.25
    yield_stress: float = 5.0e3  # σ_y, Pa (uniaxial)

    def __post_init__(self):
        super().__post_init__()
        check_positive_number("yield_stress", self.yield_stress)

    @classmethod
    def _return_mapping(cls, dim):
        la = linalg(dim)

        @wp.func
        def project(F: la.mat, params: wp.array(dtype=float), dt: float):
            mu, lam = la.lame(params[0], params[1])
            return la.von_mises_return(F, mu, params[2], 1.0)

        return project


@dataclass(frozen=True)
class Viscoplastic(HenckyPlastic):
    """Viscoplastic Bingham fluid (goop): von Mises yield with Duvaut–Lions overstress relaxation."""

    name: ClassVar[str] = "goop"
    youngs_modulus: float = 2.0e5
    poisson_ratio: float = 0.3
    yield_stress: float = 1.0e2  # σ_y, Pa
    viscosity: float = 10.0  # η, Pa·s (plastic viscosity)

    def __post_init__(self):
        super().__post_init__()
        check_positive_number("yield_stress", self.yield_stress)
        check_range("viscosity", self.viscosity, 0.0, math.inf, unit="Pa s")

    @classmethod
    def _return_mapping(cls, dim):
        la = linalg(dim)

        @wp.func
        def project(F: la.mat, params: wp.array(dtype=float), dt: float):
            mu, lam = la.lame(params[0], params[1])
            fraction = 1.0 / (1.0 + params[3] / (2.0 * mu * dt))
            return la.von_mises_return(F, mu, params[2], fraction)

        return project


@dataclass(frozen=True)
class DruckerPrager(HenckyPlastic):
    """Drucker–Prager sand with Hencky elasticity (Klar et al. 2016)."""

    name: ClassVar[str] = "sand"
    youngs_modulus: float = 1.0e6
    poisson_ratio: float = 0.3
    friction_angle: float = 30.0  # φ, degrees

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 < self.friction_angle < 90.0:
            raise SurrolabError(f"friction_angle={self.friction_angle} is not allowed: it must lie in (0, 90) degrees")

    @classmethod
    def _return_mapping(cls, dim):
        la = linalg(dim)

        @wp.func
        def project(F: la.mat, params: wp.array(dtype=float), dt: float):
            mu, lam = la.lame(params[0], params[1])
            sin_phi = wp.sin(params[2] * (wp.pi / 180.0))
            # the cone ‖dev τ‖ ≤ −α tr τ: in 3D Klar et al.'s α (eq. 27); in 2D α = sin φ/√2, which is exactly
            # Mohr–Coulomb, |σ₁ − σ₂| ≤ −sin φ (σ₁ + σ₂) (Klar's 3D α would be a 2D friction angle of 27.5° for 30°)
            alpha = wp.sqrt(2.0 / 3.0) * 2.0 * sin_phi / (3.0 - sin_phi)
            if wp.static(dim == 2):
                alpha = sin_phi / wp.sqrt(2.0)
            U, eps, V = la.hencky(F)
            dev, trace = la.deviator(eps)
            norm = wp.length(dev)
            out = F
            if trace >= 0.0:  # tension: no cohesion, project to the cone's tip
                out = U * wp.transpose(V)
            elif norm > 1.0e-12:
                shrink = norm + (float(dim) * lam + 2.0 * mu) / (2.0 * mu) * trace * alpha
                if shrink > 0.0:
                    eps = eps - (shrink / norm) * dev
                    out = la.from_strain(U, eps, V)
            return out

        return project


MATERIALS: dict[str, type[Material]] = {
    law.name: law for law in (FixedCorotated, NewtonianFluid, VonMises, Viscoplastic, DruckerPrager)
}


def make_material(law: str, **parameters) -> Material:
    """The registered law `law` with `parameters`, failing with the allowed names."""
    if law not in MATERIALS:
        raise SurrolabError(f"material law={law!r} is not registered; choose one of {sorted(MATERIALS)}")
    cls = MATERIALS[law]
    allowed = {f.name for f in fields(cls)}
    unknown = sorted(set(parameters) - allowed)
    if unknown:
        raise SurrolabError(f"unknown parameter(s) {unknown} for material {law!r}; allowed: {sorted(allowed)}")
    return cls(**parameters)
