"""The registered MPM scenes: the data of GIOROM and NCLaw (issue 5), each one scene made of one law.

- `blob` (`mpm_blob_<law>`): a ball, ellipse(oid) or box of random size, aspect and orientation, thrown with
  a random initial linear and angular velocity, falls in the box and hits the floor and walls: NCLaw's
  falling blob and the GNS/GIOROM datasets' drops. Parameters: `speed` (m/s, random direction),
  `angular_speed` (rad/s, about z in 2D, a random axis in 3D), `size` (mean half-extent, m).
  Sand's walls have Coulomb friction tan 30° (on a frictionless floor the grains slide on forever), the
  others slip freely.
- `column` (`mpm_column_sand`): granular column collapse (Lube et al. 2005; Lajeunesse et al. 2005): a
  column of width `width` and height `aspect_ratio`·`width` against the left wall, released from rest onto
  the floor. (The runout-against-aspect-ratio validation is `benchmarks/mpm_validation.py`.)
- `dam_break` (`mpm_dam_break_<law>`): a block of `width` × `height` in the lower-left corner, released.
- `multi_material` (`mpm_multi_material`): four blobs of jelly, plasticine, sand and water at their
  laws' default parameters, dropped with random speeds on one another.
- `collider` (`mpm_collider_<law>`): a blob dropped onto a rigid ball (`collider_radius`) that moves
  sideways with `collider_speed` (0: static), slip contact with friction 0.3.

The presets: "demo" (small, for tests and the demo), "default" (2D, 64² grid, 1 s, 51 frames) and "3d"
(48³ grid, 0.5 s); every preset's substeps are those stable for every sample of the ranges
(`MPMScene.stable_substeps`).
"""
from __future__ import annotations

from dataclasses import field, make_dataclass

import numpy as np

from surrolab.solvers.mpm.colliders import Collider
from surrolab.solvers.mpm.scene import LAW_PARAMETERS, MPMScene, MPMSceneConfig, law_material, parameter_spec
from surrolab.solvers.mpm.shapes import fill, random_blob


SPEED = parameter_spec("speed", "m/s", 0.0, 2.0, 1.0, 0.0, 20.0, "initial speed, random direction")
ANGULAR_SPEED = parameter_spec("angular_speed", "rad/s", 0.0, 10.0, 3.0, 0.0, 100.0, "initial spin")
SIZE = parameter_spec("size", "m", 0.06, 0.12, 0.09, 0.01, 0.3, "mean half-extent of the blob")


def rigid_velocity(positions: np.ndarray, velocity: np.ndarray, angular: float, axis: np.ndarray) -> np.ndarray:
    """v = u + ω × (x − x̄) for a body of particles (2D: ω about z)."""
    r = positions - positions.mean(axis=0)
    if positions.shape[1] == 2:
        return velocity + angular * np.stack([-r[:, 1], r[:, 0]], axis=1)
    return velocity + np.cross(angular * axis, r)


# walls as rough as sand itself: Coulomb friction μ = tan 30° (a no-slip "sticky" floor instead makes the
# runout of a collapse depend on the grid: benchmarks/mpm_validation.py)
ROUGH_WALLS = {"walls": "slip", "wall_friction": 0.577}


def _blob_centre(config, rng, reach: float, height: tuple[float, float]) -> np.ndarray:
    low, high = config.interior
    centre = rng.uniform(low + reach, high - reach, config.dim)
    centre[1] = rng.uniform(*height) * config.domain_size
    return centre


class Blob(MPMScene):
    description = "a blob of random shape thrown with random linear and angular velocity, falling in a box"
    scene_parameters = (SPEED, ANGULAR_SPEED, SIZE)
    max_speed = SPEED.high + ANGULAR_SPEED.high * SIZE.high * 1.3 * np.sqrt(3)

    def place(self, config, params, rng):
        reach = params["size"] * 1.3 * np.sqrt(config.dim)  # the farthest a blob point lies from its centre
        points = random_blob(config.dim, rng, params["size"], _blob_centre(config, rng, reach, (0.45, 0.7)),
                             config.spacing)
        return points, np.zeros(len(points), dtype=np.int32)

    def velocities(self, config, params, positions, directions):
        return rigid_velocity(positions, params["speed"] * directions[0], params["angular_speed"], directions[1])


class Column(MPMScene):
    description = "granular column collapse: a column against the left wall released onto the floor"
    config_defaults = ROUGH_WALLS  # a rough floor, as in the experiments
    scene_parameters = (parameter_spec("aspect_ratio", "1", 0.5, 3.0, 1.0, 0.05, 20.0, "height / width"),
                        parameter_spec("width", "m", 0.1, 0.2, 0.15, 0.01, 0.9, "width of the column"))

    def place(self, config, params, rng):
        low, _ = config.interior
        extent = np.full(config.dim, params["width"])
        extent[1] = params["aspect_ratio"] * params["width"]
        points = fill("box", low + extent / 2, extent / 2, np.eye(config.dim), config.spacing)
        return points, np.zeros(len(points), dtype=np.int32)


class DamBreak(MPMScene):
    description = "dam break: a block of fluid in the lower-left corner released"
    scene_parameters = (parameter_spec("width", "m", 0.2, 0.4, 0.3, 0.02, 0.9, "width of the block"),
                        parameter_spec("height", "m", 0.3, 0.6, 0.45, 0.02, 0.9, "height of the block"))

    def place(self, config, params, rng):
        low, _ = config.interior
        extent = np.full(config.dim, params["width"])
        extent[1] = params["height"]
        if config.dim == 3:
            extent[2] = 0.5 * (config.interior[1] - low)
        points = fill("box", low + extent / 2, extent / 2, np.eye(config.dim), config.spacing)
        return points, np.zeros(len(points), dtype=np.int32)


class MultiMaterial(MPMScene):
    description = "four blobs (jelly, plasticine, sand, water) at default parameters dropped on one another"
    laws = ("jelly", "plasticine", "sand", "water")
    law = "multi"
    scene_parameters = (SPEED, parameter_spec("size", "m", 0.05, 0.08, 0.065, 0.01, 0.12, "mean half-extent of each blob"))
    max_speed = SPEED.high

    def materials(self, params):
        return tuple(law_material(law, {p.name: p.default for p in LAW_PARAMETERS[law]}) for law in self.laws)

    def place(self, config, params, rng):
        reach = params["size"] * 1.3 * np.sqrt(config.dim)
        low, high = config.interior
        slots = np.linspace(low + reach, high - reach, len(self.laws))  # one column of space per blob
        points, ids = [], []
        for k in rng.permutation(len(self.laws)):
            centre = _blob_centre(config, rng, reach, (0.3, 0.75))
            centre[0] = slots[len(points)]
            blob = random_blob(config.dim, rng, params["size"], centre, config.spacing)
            points.append(blob)
            ids.append(np.full(len(blob), k, dtype=np.int32))
        return np.concatenate(points), np.concatenate(ids)

    def velocities(self, config, params, positions, directions):
        return np.broadcast_to(params["speed"] * directions[0], positions.shape).copy()


class ColliderImpact(MPMScene):
    description = "a blob dropped onto a rigid ball that moves sideways (or stands still)"
    scene_parameters = (SPEED, SIZE,
                        parameter_spec("collider_radius", "m", 0.08, 0.15, 0.1, 0.01, 0.3, "radius of the rigid ball"),
                        parameter_spec("collider_speed", "m/s", -0.3, 0.3, 0.0, -5.0, 5.0, "horizontal speed of the ball"))
    max_speed = SPEED.high

    def colliders(self, config, params):
        centre = [0.5 * config.domain_size, 0.3 * config.domain_size, 0.5 * config.domain_size]
        radius = params["collider_radius"]
        return (Collider("sphere", tuple(centre), size=(radius, radius, radius),
                         velocity=(params["collider_speed"], 0.0, 0.0), mode="slip", friction=0.3),)

    def place(self, config, params, rng):
        reach = params["size"] * 1.3 * np.sqrt(config.dim)
        centre = np.full(config.dim, 0.5 * config.domain_size) + rng.uniform(-0.1, 0.1, config.dim)
        centre[1] = rng.uniform(0.6, 0.75) * config.domain_size
        centre = np.clip(centre, config.interior[0] + reach, config.interior[1] - reach)
        points = random_blob(config.dim, rng, params["size"], centre, config.spacing)
        return points, np.zeros(len(points), dtype=np.int32)

    def velocities(self, config, params, positions, directions):
        down = directions[0].copy()
        down[1] = -abs(down[1])  # thrown towards the ball, not away
        return np.broadcast_to(params["speed"] * down, positions.shape).copy()


PRESETS = {  # substeps are filled in per registered problem (`registered`)
    "demo": {"dim": 2, "n_grid": 32, "t_end": 0.4, "n_frames": 11},
    "3d": {"dim": 3, "n_grid": 48, "t_end": 0.5, "n_frames": 26},
}


def registered(scene: type[MPMScene], name: str, law: str | None = None, **config_defaults) -> type[MPMScene]:
    """The problem `name`: `scene` made of `law`, its parameters the scene's then the law's, its presets with
    the stable number of substeps; `config_defaults` change the scene's default settings."""
    law = law or scene.law
    config_defaults = {**scene.config_defaults, **config_defaults}
    attrs = {"name": name, "law": law,
             "parameters": scene.scene_parameters + LAW_PARAMETERS.get(law, ()),
             "description": f"{scene.description} ({law})" if law in LAW_PARAMETERS else scene.description,
             "__module__": __name__}
    problem = type("".join(part.capitalize() for part in name.split("_")), (scene,), attrs)
    problem.config_defaults = config_defaults
    problem.Config = _scene_config(config_defaults)
    problem.presets = {preset: {**settings, "substeps": problem.stable_substeps(**settings)}
                       for preset, settings in PRESETS.items()}
    problem.Config = _scene_config({**config_defaults, "substeps": problem.stable_substeps()})
    return problem


def _scene_config(defaults: dict):
    """MPMSceneConfig with other defaults (a scene's walls; the substeps stable for the default settings)."""
    return make_dataclass("Config", [(k, type(v), field(default=v)) for k, v in defaults.items()],
                          bases=(MPMSceneConfig,), frozen=True)


MpmBlobJelly = registered(Blob, "mpm_blob_jelly", "jelly")
MpmBlobWater = registered(Blob, "mpm_blob_water", "water")
MpmBlobSand = registered(Blob, "mpm_blob_sand", "sand", **ROUGH_WALLS)  # on a frictionless floor sand never stops
MpmBlobPlasticine = registered(Blob, "mpm_blob_plasticine", "plasticine")
MpmBlobGoop = registered(Blob, "mpm_blob_goop", "goop")
MpmColumnSand = registered(Column, "mpm_column_sand", "sand")
MpmDamBreakWater = registered(DamBreak, "mpm_dam_break_water", "water")
MpmDamBreakGoop = registered(DamBreak, "mpm_dam_break_goop", "goop")
MpmMultiMaterial = registered(MultiMaterial, "mpm_multi_material")
MpmColliderJelly = registered(ColliderImpact, "mpm_collider_jelly", "jelly")
MpmColliderPlasticine = registered(ColliderImpact, "mpm_collider_plasticine", "plasticine")
