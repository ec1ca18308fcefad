"""Rigid colliders given by signed distance functions, static or moving, applied on the grid.

A collider is a rigid body: a shape's signed distance φ in its own frame (negative inside), a centre
c(t) = c₀ + u t moving with constant velocity u, and (for a spinning body) a constant angular velocity ω
about its centre. At every grid node x with φ(Rᵀ(x − c)) < 0 after the grid update, the node's velocity v
is set relative to the body's velocity v_b = u + ω × (x − c):

    sticky   v = v_b
    slip     v_rel = v − v_b; if v_rel·n < 0 (approaching): v_rel ← v_rel − (v_rel·n) n, and friction
             shrinks the tangential part by μ |v_rel·n| (Coulomb; μ = 0 is frictionless); v = v_b + v_rel

with n the outward normal ∇φ. This is the grid-based collision of Stomakhin et al. (2013, §8) and of
Hu et al.'s MLS-MPM reference code. A collider is a slot like the material: `MPMSolver` takes a tuple of
them and launches each one's kernel after the walls.
"""

import functools
import math
from dataclasses import dataclass

import numpy as np
import warp as wp

from surrolab.errors import SurrolabError, check_positive_number, check_range

COLLIDER_MODES = {"sticky": 0, "slip": 1}


@wp.func
def sphere_sdf(q: wp.vec3, size: wp.vec3):
    # a ball (disc in 2D) of radius size[0]
    r = wp.length(q)
    normal = wp.vec3(0.0, 1.0, 0.0)
    if r > 1.0e-12:
        normal = q / r
    return r - size[0], normal


@wp.func
def box_sdf(q: wp.vec3, size: wp.vec3):
    # an axis-aligned box (in the body frame) with half-extents `size` (size[2] = large in 2D)
    d = wp.vec3(wp.abs(q[0]) - size[0], wp.abs(q[1]) - size[1], wp.abs(q[2]) - size[2])
    outside = wp.vec3(wp.max(d[0], 0.0), wp.max(d[1], 0.0), wp.max(d[2], 0.0))
    distance = wp.length(outside) + wp.min(wp.max(d[0], wp.max(d[1], d[2])), 0.0)
    normal = wp.vec3(0.0, 0.0, 0.0)
    if wp.length(outside) > 0.0:
        normal = wp.normalize(wp.vec3(wp.sign(q[0]) * outside[0], wp.sign(q[1]) * outside[1], wp.sign(q[2]) * outside[2]))
    else:
        axis = 0
        if d[1] > d[0] and d[1] >= d[2]:
            axis = 1
        if d[2] > d[0] and d[2] > d[1]:
            axis = 2
        normal[axis] = wp.sign(q[axis])
    return distance, normal


@wp.func
def plane_sdf(q: wp.vec3, size: wp.vec3):
    # the half-space below the plane through the body's centre with normal +y of the body frame
    return q[1], wp.vec3(0.0, 1.0, 0.0)


SHAPES = {"sphere": sphere_sdf, "box": box_sdf, "plane": plane_sdf}


@functools.cache
def collider_kernel(dim: int, shape: str):
    """The grid kernel of one collider shape in `dim` dimensions (a warp closure over the shape's SDF)."""
    vec = wp.types.vector(dim, wp.float32)
    sdf = SHAPES[shape]

    @wp.func
    def lift(v: vec):
        out = wp.vec3(0.0, 0.0, 0.0)
        for d in range(dim):
            out[d] = v[d]
        return out

    @wp.func
    def drop(v: wp.vec3):
        out = vec()
        for d in range(dim):
            out[d] = v[d]
        return out

    @wp.kernel
    def apply(velocity_in: wp.array(dtype=vec), grid_mass: wp.array(dtype=float), dims: wp.vec3i, dx: float,
              centre: wp.vec3, rotation: wp.mat33, velocity: wp.vec3, angular_velocity: wp.vec3, size: wp.vec3,
              mode: int, friction: float, velocity_out: wp.array(dtype=vec)):
        # reads one array and writes another, so the step stays differentiable on a warp tape
        i = wp.tid()
        v = lift(velocity_in[i])
        node = wp.vec3(float(i // (dims[1] * dims[2])), float((i // dims[2]) % dims[1]), float(i % dims[2])) * dx
        if dim == 2:
            node[2] = 0.0
        r = node - centre
        distance, body_normal = sdf(wp.transpose(rotation) * r, size)
        if grid_mass[i] > 0.0 and distance < 0.0:
            normal = rotation * body_normal
            body_velocity = velocity + wp.cross(angular_velocity, r)
            if mode == 0:
                v = body_velocity
            else:
                relative = v - body_velocity
                vn = wp.dot(relative, normal)
                if vn < 0.0:
                    tangential = relative - vn * normal
                    speed = wp.length(tangential)
                    if speed > 1.0e-20:
                        tangential = tangential * wp.max(0.0, 1.0 + friction * vn / speed)
                    v = body_velocity + tangential
        velocity_out[i] = drop(v)

    return apply


@dataclass(frozen=True)
class Collider:
    """A rigid body the material cannot enter. `centre`, `velocity` and `angular_velocity` are 3-vectors (z
    ignored in 2D; in 2D only angular_velocity[2] spins in the plane). `size`: radius (sphere), half-extents
    (box); unused for a plane, whose `normal` is the unit normal pointing out of the solid half-space.
    """

    shape: str
    centre: tuple[float, float, float]
    size: tuple[float, float, float] = (0.1, 0.1, 0.1)
    normal: tuple[float, float, float] = (0.0, 1.0, 0.0)
    velocity: tuple[float, float, float] = (0.0, 0.0, 0.0)
    angular_velocity: tuple[float, float, float] = (0.0, 0.0, 0.0)
    mode: str = "slip"
    friction: float = 0.0

    def __post_init__(self):
        if self.shape not in SHAPES:
            raise SurrolabError(f"collider shape={self.shape!r} is not allowed; choose one of {sorted(SHAPES)}")
        if self.mode not in COLLIDER_MODES:
            raise SurrolabError(f"collider mode={self.mode!r} is not allowed; choose one of {sorted(COLLIDER_MODES)}")
        check_range("friction", self.friction, 0.0, math.inf)
        for name in ("centre", "size", "normal", "velocity", "angular_velocity"):
            if len(getattr(self, name)) != 3:
                raise SurrolabError(f"collider {name}={getattr(self, name)!r} must have 3 components (z ignored in 2D)")
        if self.shape != "plane":
            for s in self.size[: 1 if self.shape == "sphere" else 3]:
                check_positive_number("collider size", s)
        if self.shape == "plane" and not np.linalg.norm(self.normal) > 0:
            raise SurrolabError(f"collider normal={self.normal!r} must be a non-zero vector")

    def rotation(self, t: float, dim: int = 3) -> np.ndarray:
        """The body's rotation at time t (Rodrigues' formula for constant ω, only its z part in 2D; a plane's
        frame maps +y to its normal)."""
        base = np.eye(3)
        if self.shape == "plane":
            n = np.asarray(self.normal, float) / np.linalg.norm(self.normal)
            base = _rotation_between(np.array([0.0, 1.0, 0.0]), n)
        omega = np.asarray(self.angular_velocity, float) * ([0.0, 0.0, 1.0] if dim == 2 else 1.0)
        angle = np.linalg.norm(omega) * t
        if angle == 0.0:
            return base
        k = omega / np.linalg.norm(omega)
        K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
        return (np.eye(3) + math.sin(angle) * K + (1 - math.cos(angle)) * K @ K) @ base

    def apply(self, dim: int, velocity_in, grid_mass, dims, dx: float, t: float, velocity_out) -> None:
        """Write to `velocity_out` the grid velocities `velocity_in` with the collision condition at time t."""
        centre = np.asarray(self.centre, float) + t * np.asarray(self.velocity, float)
        velocity, angular_velocity = np.asarray(self.velocity, float), np.asarray(self.angular_velocity, float)
        size = self.size
        if dim == 2:  # the plane z = 0: no offset, motion or extent out of it; spin about z only
            centre[2], velocity[2], angular_velocity[:2] = 0.0, 0.0, 0.0
            size = (self.size[0], self.size[1], 1e30) if self.shape == "box" else self.size
        wp.launch(collider_kernel(dim, self.shape), dim=velocity_in.shape[0], device=velocity_in.device,
                  inputs=[velocity_in, grid_mass, dims, dx, wp.vec3(*centre), wp.mat33(*self.rotation(t, dim).ravel()),
                          wp.vec3(*velocity), wp.vec3(*angular_velocity), wp.vec3(*size),
                          COLLIDER_MODES[self.mode], self.friction, velocity_out])


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The rotation taking unit vector a to unit vector b."""
    v, c = np.cross(a, b), float(np.dot(a, b))
    if np.linalg.norm(v) < 1e-12:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    K = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + K + K @ K / (1 + c)
