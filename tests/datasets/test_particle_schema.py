"""Particle datasets (geometry_type "particles", schema 1.2): a particle set per sample, of its own size, with
its fields at the particles; written, read back exactly, checked, generated (and resumed) from a real MPM scene."""
import json
import shutil
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest

from surrolab.datasets import schema
from surrolab.datasets.dummy import (PARTICLE_COUNTS, PARTICLE_MATERIALS, tiny_particle_description,
                                     tiny_particle_sample, write_tiny, write_tiny_particles)
from surrolab.datasets.splits import SplitSpec, frame_differences
from surrolab.errors import SurrolabError
from surrolab.solvers.trajectory import ParticleGeometry


@pytest.fixture(scope="module")
def tiny_particles(tmp_path_factory):
    return write_tiny_particles(tmp_path_factory.mktemp("particles") / "tiny_particles.h5")


@pytest.fixture
def particles_copy(tiny_particles, tmp_path):
    """A copy of the module's dataset that a test may break."""
    return Path(shutil.copy(tiny_particles, tmp_path / "copy.h5"))


def test_particle_dataset_is_valid_and_round_trips_exactly(tiny_particles):
    assert schema.validate(tiny_particles) == []
    with schema.open_dataset(tiny_particles) as f:
        assert f.attrs["schema_version"] == schema.SCHEMA_VERSION == "1.3"
        d = schema.read_description(f)
        assert d.geometry_type == "particles" and d.geometry.shape == (9, 9)  # the background grid reads as ever
        assert [(s.name, s.units, s.order) for s in d.fields] == [
            ("position", "m", 1), ("velocity", "m/s", 1), ("deformation_gradient", "1", 2), ("stress", "Pa", 2)]
        for i, n in enumerate(PARTICLE_COUNTS):
            truth = tiny_particle_sample(i, n, d.times)
            particles = schema.read_particles(f, i)
            assert isinstance(particles, ParticleGeometry) and particles.n_points == n and particles.dim == 2
            for name in ("material_id", "mass", "volume", "particle_index"):
                got, want = getattr(particles, name), getattr(truth.particles, name)
                assert got.dtype == want.dtype
                np.testing.assert_array_equal(got, want, err_msg=name)
            assert particles.materials == PARTICLE_MATERIALS
            np.testing.assert_array_equal(np.stack(particles.domain), [[0.0, 0.0], [1.0, 1.0]])
            fields = schema.read_particle_fields(f, d, i)
            assert list(fields) == ["position", "velocity", "deformation_gradient", "stress"]
            for name, values in fields.items():
                assert values.dtype == np.float32 and values.shape == truth.fields[name].shape
                np.testing.assert_array_equal(values, truth.fields[name].astype(np.float32), err_msg=name)
                # one frame per chunk, compressed: a frame reads without touching the others
                path = f"particles/{i}/fields/t{min(values.ndim - 2, 2)}_fields/{name}"
                assert f[path].chunks == (1, *values.shape[1:]) and f[path].compression == "gzip"
            only = schema.read_particle_fields(f, d, i, names=["stress", "position"])
            assert list(only) == ["stress", "position"]
            np.testing.assert_array_equal(only["position"], fields["position"])
        with pytest.raises(SurrolabError, match=r"no field\(s\) \['pressure'\]"):
            schema.read_particle_fields(f, d, 0, names=["pressure"])
        with pytest.raises(SurrolabError, match="no particles for sample 3"):
            schema.read_particles(f, 3)
        # the field catalogue: attributes only, no grid arrays
        assert isinstance(f["fields/t1_fields/position"], h5py.Group)
        assert dict(f["fields/t2_fields/stress"].attrs) == {"units": "Pa", "description": "Cauchy stress", "order": 2,
                                                            "sample_varying": True, "time_varying": True,
                                                            "role": "state"}
        f["fields"].visititems(lambda name, obj: pytest.fail(f"grid array {name}") if isinstance(obj, h5py.Dataset)
                               else None)
        np.testing.assert_array_equal(f["particles/vertices"][()], np.arange(max(PARTICLE_COUNTS)))


def test_normalisation_covers_every_particle_and_the_frame_differences(tiny_particles):
    """Per component over all times and particles of the training samples (of different sizes), and the
    finite-difference velocity and acceleration of the stored positions, divided by the frame interval."""
    with schema.open_dataset(tiny_particles) as f:
        d = schema.read_description(f)
        train = schema.read_split(f, "train")
        fields = [schema.read_particle_fields(f, d, i) for i in train]
        for spec in d.fields:
            rows = np.concatenate([x[spec.name].reshape(-1, 2 ** spec.order) for x in fields]).astype(np.float64)
            truth = [tiny_particle_sample(i, n, d.times).fields[spec.name] for i, n in enumerate(PARTICLE_COUNTS)]
            raw = np.concatenate([x.reshape(-1, 2 ** spec.order) for x in truth])  # the solver's values
            np.testing.assert_allclose(f[f"normalization/{spec.name}/mean"][()], raw.mean(axis=0), rtol=1e-12)
            std = raw.std(axis=0)
            np.testing.assert_allclose(f[f"normalization/{spec.name}/std"][()], np.where(std > 0, std, 1.0),
                                       rtol=1e-12)
            np.testing.assert_allclose(raw, rows, rtol=1e-6, atol=1e-6)
        dt = d.times[1] - d.times[0]
        x = [p["position"].astype(np.float64) for p in fields]  # the stored float32 positions
        velocity = np.concatenate([(p[1:] - p[:-1]).reshape(-1, 2) / dt for p in x])
        acceleration = np.concatenate([(p[2:] - 2 * p[1:-1] + p[:-2]).reshape(-1, 2) / dt**2 for p in x])
        for name, values in (("position_velocity", velocity), ("position_acceleration", acceleration)):
            np.testing.assert_allclose(f[f"normalization/{name}/mean"][()], values.mean(axis=0), rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(f[f"normalization/{name}/std"][()], values.std(axis=0), rtol=1e-6, atol=1e-9)
        # free fall: the acceleration is gravity (up to the float32 rounding of the positions)
        np.testing.assert_allclose(f["normalization/position_acceleration/mean"][()], [0.0, -9.81], atol=2e-3)
        assert f["normalization/position_acceleration"].attrs["units"] == "m/s^2"
        assert f["normalization/position_velocity"].attrs["units"] == "m/s"
        assert "t[k+1] - t[k]" in f["normalization/position_velocity"].attrs["definition"]


def test_frame_differences_on_unequal_frames_are_exact_for_a_parabola():
    times = np.array([0.0, 0.1, 0.25, 0.3, 0.7])
    a, v0, x0 = np.array([1.5, -9.81]), np.array([0.3, 2.0]), np.array([0.5, 0.4])
    x = x0 + v0 * times[:, None, None] + 0.5 * a * times[:, None, None] ** 2  # (T, 1, 2)
    velocity, acceleration = frame_differences(x, times)
    assert velocity.shape == (4, 1, 2) and acceleration.shape == (3, 1, 2)
    middle = 0.5 * (times[1:] + times[:-1])[:, None, None]
    np.testing.assert_allclose(velocity, v0 + a * middle, rtol=1e-12)  # exact at the interval midpoints
    np.testing.assert_allclose(acceleration, np.broadcast_to(a, acceleration.shape), rtol=1e-10)


def test_grid_readers_refuse_a_particle_dataset_and_particle_readers_a_grid_one(tiny_particles, tmp_path):
    with schema.open_dataset(tiny_particles) as f:
        d = schema.read_description(f)
        for read in (lambda: schema.read_fields(f, d, [0]), lambda: schema.read_mask(f, [0])):
            with pytest.raises(SurrolabError, match="geometry_type is 'particles'.*read_particle_fields"):
                read()
        with pytest.raises(SurrolabError, match="no mesh for sample 0"):
            schema.read_mesh(f, 0)
    grid = write_tiny(tmp_path / "grid.h5")
    with schema.open_dataset(grid) as f:
        with pytest.raises(SurrolabError, match="no particles for sample 0 \\(geometry_type 'grid'"):
            schema.read_particles(f, 0)


def test_grid_files_are_unchanged_and_versions_1_0_to_1_2_still_read(tmp_path):
    path = write_tiny(tmp_path / "grid.h5")
    with h5py.File(path) as f:
        assert "particles" not in f and f.attrs["schema_version"] == "1.3"
        assert all(isinstance(f[f"fields/t0_fields/{k}"], h5py.Dataset) for k in ("u", "v"))
    for version in ("1.0", "1.1", "1.2"):
        with h5py.File(path, "a") as f:
            f.attrs["schema_version"] = version
        assert schema.validate(path) == []


def _set(path, value):
    return lambda f: f[path].__setitem__(..., value)


def _replace(path, data):
    def damage(f):
        del f[path]
        f.create_dataset(path, data=data)
    return damage


@pytest.mark.parametrize("damage, message", [
    (_replace("particles/1/fields/t1_fields/velocity", np.zeros((4, 8, 2), np.float32)),
     "/particles/1/fields/t1_fields/velocity has shape (4, 8, 2), expected (4, 9, 2)"),
    (_replace("particles/2/fields/t2_fields/stress", np.zeros((4, 7, 2), np.float32)),
     "/particles/2/fields/t2_fields/stress has shape (4, 7, 2), expected (4, 7, 2, 2)"),
    (_replace("particles/0/mass", np.ones(4)),
     "/particles/0/mass has shape (4,), expected one value per particle (5,)"),
    (lambda f: f.__delitem__("particles/1"), "samples [1] have none"),
    (lambda f: f.create_group("particles/3"), "groups ['3'] are no sample"),
    (lambda f: f.__delitem__("particles/2/fields/t2_fields/deformation_gradient"),
     "/particles/2 lacks fields/t2_fields/deformation_gradient"),
    (lambda f: f.__delitem__("particles/0/volume"), "/particles/0 lacks ['volume']"),
    (_set("particles/1/material_id", 2), "/particles/1/material_id lies outside [0, 2)"),
    (_set("particles/1/material_id", -1), "/particles/1/material_id lies outside [0, 2)"),
    (_replace("particles/1/material_id", np.zeros(9)), "material_id is float64, expected integers"),
    (lambda f: f["particles/0/mass"].__setitem__(2, np.nan), "/particles/0/mass has non-finite or non-positive"),
    (lambda f: f["particles/2/volume"].__setitem__(0, 0.0), "/particles/2/volume has non-finite or non-positive"),
    (_set("particles/0/particle_index", 3), "particle_index must hold distinct non-negative integers"),
    (lambda f: f["particles/0"].attrs.__setitem__("materials", "jelly"), "lacks the attribute 'materials'"),
    (lambda f: f["particles/0"].attrs.__setitem__("domain", [[0.0, 0.0], [1.0, -1.0]]), "attribute 'domain'"),
    (lambda f: f["particles/0"].attrs.__setitem__("domain", [0.0, 1.0]), "attribute 'domain'"),
    (_replace("particles/vertices", np.arange(8)), "/particles/vertices must be 0, 1, ..., at least 9"),
    (lambda f: f.create_dataset("fields/t0_fields/pressure", data=np.zeros((3, 4, 9, 9))).attrs.update(
        units="Pa", sample_varying=True, time_varying=True), "field 'pressure': a particle dataset has no grid fields"),
    (lambda f: f.__delitem__("fields/t1_fields/position"), "needs the vector field 'position'"),
    (lambda f: f.__delitem__("particles"), "/particles is missing"),
])
def test_validator_finds_a_broken_particle_dataset(particles_copy, damage, message):
    with h5py.File(particles_copy, "a") as f:
        damage(f)
    problems = schema.validate(particles_copy)
    assert any(message in p for p in problems), problems
    with pytest.raises(SurrolabError, match="not a valid surrolab dataset"):
        schema.open_dataset(particles_copy)


def test_writer_refuses_inconsistent_particle_samples_and_leaves_no_file(tmp_path):
    d = tiny_particle_description()
    good = tiny_particle_sample(0, 5, d.times)
    geometry = good.particles
    cases = [
        ([good, replace(good, particles=None)], d, "sample 1 has no particle set"),
        ([good], replace(d, geometry_type="grid"),
         "sample 0 has a particle set, but the dataset's geometry_type is 'grid'"),
        ([replace(good, fields={**good.fields, "velocity": good.fields["velocity"][:, :4]})], d,
         r"field 'velocity' has shape \(4, 4, 2\); the dataset expects \(4, 5, 2\)"),
        ([replace(good, fields={**good.fields, "stress": np.full((4, 5, 2, 2), np.inf)})], d, "non-finite"),
        ([replace(good, particles=replace(geometry, mass=-geometry.mass))], d,
         r"non-positive or non-finite \['mass'\]"),
        ([replace(good, particles=replace(geometry, domain=(np.zeros(3), np.ones(3))))], d,
         "in 3D; the dataset needs at least one, in 2D"),
        ([good], replace(d, fields=d.fields[1:]), "needs the vector field 'position'"),
    ]
    for samples, description, message in cases:
        with pytest.raises(SurrolabError, match=message):
            schema.write_dataset(tmp_path / "x.h5", description, samples, {})
    assert list(tmp_path.iterdir()) == []


def test_three_dimensional_particles_round_trip(tmp_path):
    path = write_tiny_particles(tmp_path / "p3.h5", counts=(4, 6), n_times=3, dim=3)
    assert schema.validate(path) == []
    with schema.open_dataset(path) as f:
        d = schema.read_description(f)
        assert d.geometry.axis_names == ("x", "y", "z")
        fields = schema.read_particle_fields(f, d, 1)
        assert fields["position"].shape == (3, 6, 3) and fields["stress"].shape == (3, 6, 3, 3)
        assert f["normalization/stress/mean"].shape == (9,)


def test_info_prints_particle_counts_and_materials(tiny_particles):
    from surrolab.datasets.info import summary

    text = summary(tiny_particles)
    assert "background grid 9 x 9 nodes" in text
    assert f"particles: {min(PARTICLE_COUNTS)} .. {max(PARTICLE_COUNTS)} per sample, {sum(PARTICLE_COUNTS)} in all" \
        in text
    assert "jelly (density=1000, poisson_ratio=0.3, youngs_modulus=10000): every sample" in text
    assert "sand (density=1500, friction_angle=30" in text


# -- generation from a real MPM scene ------------------------------------------------------------------------
SCENE = "mpm_blob_jelly"
SETTINGS = {"n_grid": 16, "t_end": 0.05, "n_frames": 4}  # 20-40 particles a sample: a second per dataset


def scene_config(problem, **settings):
    settings = {**SETTINGS, **settings}
    return problem.make_config(**settings, substeps=problem.stable_substeps(**settings))


def test_generation_from_an_mpm_scene_writes_what_the_solver_returned(tmp_path):
    from surrolab.datasets.generate import generate, solve_sample
    from surrolab.datasets.info import summary
    from surrolab.registry import get_problem

    problem = get_problem(SCENE)
    config = scene_config(problem)
    out = generate(problem, config, 4, tmp_path / "blob.h5", seed=3)
    assert schema.validate(out) == [] and out.with_suffix(".xdmf").exists()
    assert not (tmp_path / "blob_grid.xdmf").exists()  # no grid fields, no grid sidecar
    with schema.open_dataset(out) as f:
        d = schema.read_description(f)
        assert d.geometry_type == "particles" and d.geometry.shape == (17, 17)
        counts = []
        for i in range(4):  # solved again here: the file holds exactly what the solver returns
            sample = solve_sample(problem, config, 3, i)
            particles, fields = schema.read_particles(f, i), schema.read_particle_fields(f, d, i)
            for name in ("material_id", "mass", "volume", "particle_index"):
                np.testing.assert_array_equal(getattr(particles, name), getattr(sample.particles, name))
            assert particles.materials == sample.particles.materials and particles.materials[0]["law"] == "jelly"
            for name, values in sample.fields.items():
                np.testing.assert_array_equal(fields[name], values.astype(np.float32), err_msg=name)
            for p in ("youngs_modulus", "poisson_ratio"):  # the sampled law parameters made the material
                assert particles.materials[0][p] == pytest.approx(f[f"parameters/{p}"][i], rel=1e-12)
            counts.append(particles.n_points)
        assert len(set(counts)) > 1, counts  # random blob sizes: particle counts differ between samples
        train = schema.read_split(f, "train")
        position = np.concatenate([schema.read_particle_fields(f, d, i)["position"].reshape(-1, 2) for i in train])
        np.testing.assert_allclose(f["normalization/position/mean"][()], position.mean(axis=0, dtype=np.float64),
                                   rtol=1e-9)
        accel = f["normalization/position_acceleration/mean"][()]
        assert accel[1] < -5.0  # the blobs fall (gravity 9.81 m/s², the floor is not reached yet)
    text = summary(out)
    assert f"particles: {min(counts)} .. {max(counts)} per sample" in text and "jelly (density=1000" in text


def test_stored_particles_subset_keeps_the_simulated_indices(tmp_path):
    from surrolab.datasets.generate import generate
    from surrolab.registry import get_problem

    problem = get_problem("mpm_multi_material")
    config = scene_config(problem, stored_particles=12)
    out = generate(problem, config, 2, tmp_path / "multi.h5", seed=0,
                   splits=SplitSpec(val_fraction=0.0, test_fraction=0.0, heldout_fraction=0.0))
    with schema.open_dataset(out) as f:
        for i in range(2):
            particles = schema.read_particles(f, i)
            assert particles.n_points == 12 and len(particles.materials) == 4
            index = particles.particle_index
            assert np.all(np.diff(index) > 0) and index[-1] >= 12  # a sorted subset of a larger set
            assert set(particles.material_id) <= {0, 1, 2, 3}


class Interrupted(BaseException):
    """A stop that no solver wrapper catches (as KeyboardInterrupt)."""


def test_interrupted_particle_generation_resumes_to_the_same_arrays(tmp_path, h5_arrays):
    """Parts carry each sample's particle set; a run stopped part-way and started again solves only the
    missing samples and gives the same dataset as an uninterrupted run."""
    from surrolab.datasets.generate import generate
    from surrolab.registry import get_problem

    problem = get_problem(SCENE)
    config = scene_config(problem)
    clean = generate(problem, config, 5, tmp_path / "clean.h5", seed=4)

    solved = []

    class Stopping(type(problem)):  # the same problem and settings; "killed" while solving its third sample
        def solve(self, config, params, initial_state):
            if len(solved) == 2:
                raise Interrupted
            solved.append(params)
            return super().solve(config, params, initial_state)

    out = tmp_path / "resumed.h5"
    with pytest.raises(Interrupted):
        generate(Stopping(), config, 5, out, seed=4)
    parts = sorted(p.name for p in (tmp_path / "resumed.h5.parts").glob("sample_*"))
    assert parts == ["sample_000000.h5", "sample_000001.h5"] and not out.exists()
    with h5py.File(tmp_path / "resumed.h5.parts" / parts[1]) as part:  # the part carries the particle set
        assert "particles/material_id" in part and json.loads(part["particles"].attrs["materials"])

    resumed = []

    class Counting(type(problem)):
        def solve(self, config, params, initial_state):
            resumed.append(params)
            return super().solve(config, params, initial_state)

    generate(Counting(), config, 5, out, seed=4)
    assert len(resumed) == 3  # only the missing samples
    a, b = h5_arrays(clean), h5_arrays(out)
    assert a.keys() == b.keys() and any(k.startswith("particles/4/") for k in a)
    for key in a:
        if key != "samples/wall_time":
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_particle_generation_over_two_mpi_ranks_equals_the_serial_run(serial_and_mpi, h5_arrays):
    from surrolab.registry import get_problem

    substeps = get_problem(SCENE).stable_substeps(**SETTINGS)
    args = ["generate", SCENE, "--samples", "3", *[a for k, v in SETTINGS.items() for a in ("--set", f"{k}={v}")],
            "--set", f"substeps={substeps}"]
    serial, parallel = serial_and_mpi(args)
    a, b = h5_arrays(serial), h5_arrays(parallel)
    with h5py.File(parallel) as f:
        assert f["provenance"].attrs["n_ranks"] == 2 and f.attrs["geometry_type"] == "particles"
    assert a.keys() == b.keys()
    for key in a:
        if key != "samples/wall_time":
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_schema_document_describes_the_particle_layout():
    text = (Path(schema.__file__).parent / "SCHEMA.md").read_text()
    for needle in ('"particles"', "/particles/<i>/material_id", "/particles/<i>/fields/t1_fields/<name>",
                   "/particles/vertices", "materials", "domain", "particle_index", "position_velocity",
                   "position_acceleration", "read_particles", "read_particle_fields", "Polyvertex", '"1.2"'):
        assert needle in text, needle
