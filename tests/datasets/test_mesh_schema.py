"""Mesh datasets: a mesh per sample, its fields on it and, interpolated exactly, on the grid companion."""
import shutil
from dataclasses import dataclass
from pathlib import Path

import h5py
import matplotlib.tri as mtri
import numpy as np
import pytest

from surrolab.datasets import schema
from surrolab.datasets.dummy import MESH_RADII, tiny_mesh_description, tiny_mesh_fields, write_tiny, write_tiny_mesh
from surrolab.datasets.interpolate import grid_interpolation, mesh_to_grid
from surrolab.errors import SurrolabError
from surrolab.solvers.problem import FrameSchedule, Problem
from surrolab.solvers.trajectory import MeshGeometry, Trajectory

CENTRE = np.array([0.3, 0.2])  # of the cylinder in `write_tiny_mesh`


@pytest.fixture(scope="module")
def tiny_mesh(tmp_path_factory):
    return write_tiny_mesh(tmp_path_factory.mktemp("mesh") / "tiny_mesh.h5")


@pytest.fixture
def mesh_copy(tiny_mesh, tmp_path):
    """A copy of the module's dataset that a test may break."""
    return Path(shutil.copy(tiny_mesh, tmp_path / "copy.h5"))


def l_shape() -> MeshGeometry:
    """[0, 2]² without its top-right quarter: three unit squares, two triangles each. The convex hull of
    its points (what a Delaunay triangulation would interpolate on) also covers the missing quarter."""
    points = [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1), (0, 2), (1, 2)]
    cells = [(0, 1, 4), (0, 4, 3), (1, 2, 5), (1, 5, 4), (3, 4, 7), (3, 7, 6)]
    return MeshGeometry(points, cells, {"notch": [(5, 4), (4, 7)]})


def test_interpolation_is_exact_for_linear_fields_and_masks_the_notch():
    mesh = l_shape()
    axes = (np.linspace(0.0, 2.0, 9), np.linspace(0.0, 2.0, 5))  # nodes on the notch's edges too
    x, y = np.meshgrid(*axes, indexing="ij")
    linear = lambda px, py: 1.0 + 2.0 * px - 3.0 * py  # noqa: E731
    values, mask = mesh_to_grid(mesh, linear(*mesh.points.T), axes)
    np.testing.assert_array_equal(mask, (x <= 1.0) | (y <= 1.0))  # the notch's edges count as inside
    np.testing.assert_allclose(values[mask], linear(x, y)[mask], rtol=0, atol=1e-13)
    assert np.all(values[~mask] == 0.0)


def test_interpolation_keeps_time_and_component_axes_in_place():
    mesh = l_shape()
    axes = (np.linspace(0.0, 2.0, 9), np.linspace(0.0, 2.0, 5))
    values = np.random.default_rng(0).normal(size=(4, mesh.n_points, 2))  # (T, N, dim)
    interpolation = grid_interpolation(mesh, axes)
    grid = interpolation(values, node_axis=1)
    assert grid.shape == (4, 9, 5, 2)
    for t in range(4):
        for c in range(2):
            np.testing.assert_array_equal(grid[t, ..., c], interpolation(values[t, :, c]))
    np.testing.assert_array_equal(interpolation(values, node_axis=-2), grid)


def test_interpolation_agrees_with_matplotlib_on_the_gmsh_mesh(tiny_mesh):
    """An independent implementation (matplotlib's triangle finder on the same cells) gives the same
    mask and values, on a mesh with a hole and curved, refined boundaries."""
    with h5py.File(tiny_mesh) as f:
        mesh, d = schema.read_mesh(f, 1), schema.read_description(f)
    values = np.random.default_rng(1).normal(size=mesh.n_points)
    ours, mask = mesh_to_grid(mesh, values, d.geometry.axes)
    x, y = np.meshgrid(*d.geometry.axes, indexing="ij")
    theirs = mtri.LinearTriInterpolator(mtri.Triangulation(*mesh.points.T, mesh.cells), values)(x, y)
    found = ~np.ma.getmaskarray(theirs)
    interior = ~d.geometry.boundary_mask()  # on the box's edges the two may round either way
    np.testing.assert_array_equal(mask[interior], found[interior])
    assert (~mask).sum() > 3
    np.testing.assert_allclose(ours[mask & found], theirs.data[mask & found], rtol=0, atol=1e-12)


def test_mesh_dataset_is_valid_and_round_trips(tiny_mesh):
    from surrolab.meshes.geometries import cylinder_channel

    assert schema.validate(tiny_mesh) == []
    with schema.open_dataset(tiny_mesh) as f:
        d = schema.read_description(f)
        assert d.geometry_type == "mesh" and d.channel_names == ("p", "vel_x", "vel_y")
        assert f.attrs["schema_version"] == schema.SCHEMA_VERSION == "1.3"  # mesh layout as since 1.1
        sizes = []
        for i, radius in enumerate(MESH_RADII):
            mesh = schema.read_mesh(f, i)
            built = cylinder_channel(length=1.0, center=(0.3, 0.2), radius=radius, h=0.1).mesh_geometry()
            np.testing.assert_array_equal(mesh.points, built.points)
            np.testing.assert_array_equal(mesh.cells, built.cells)
            assert mesh.boundaries.keys() == built.boundaries.keys() == {"inlet", "outlet", "walls", "cylinder"}
            for name in mesh.boundaries:
                np.testing.assert_array_equal(mesh.boundaries[name], built.boundaries[name])
            r = np.linalg.norm(mesh.points[mesh.boundary_nodes("cylinder")] - CENTRE, axis=1)
            np.testing.assert_allclose(r, radius, rtol=1e-12)  # the facets are where their name says
            assert np.all(mesh.points[mesh.boundary_nodes("inlet"), 0] == 0.0)

            channels = schema.read_mesh_fields(f, d, i)  # (T, C, N)
            truth = tiny_mesh_fields(mesh.points, d.times)
            assert channels.shape == (3, 3, mesh.n_points) and channels.dtype == np.float32
            np.testing.assert_array_equal(channels[:, 0], truth["p"].astype(np.float32))
            np.testing.assert_array_equal(channels[:, 1:], np.moveaxis(truth["vel"], -1, 1).astype(np.float32))
            assert f[f"mesh/{i}/fields/t1_fields/vel"].chunks == (1, mesh.n_points, 2)  # one frame per chunk
            sizes.append(mesh.n_points)
        assert sizes[0] != sizes[1]  # per-sample meshes of different sizes
        assert schema.read_fields(f, d, [1, 0]).shape == (2, 3, 3, 21, 9)  # the grid part reads as ever


def test_grid_companion_is_the_exact_interpolation_and_masks_the_cylinder(tiny_mesh):
    with schema.open_dataset(tiny_mesh) as f:
        d = schema.read_description(f)
        grid = schema.read_fields(f, d, [0, 1])  # (S, T, C, nx, ny)
        mask = schema.read_mask(f, [0, 1])
    x, y = np.meshgrid(*d.geometry.axes, indexing="ij")
    truth = tiny_mesh_fields(np.stack([x, y], axis=-1), d.times)  # p: (T, nx, ny), vel: (T, nx, ny, 2)
    truth = np.concatenate([truth["p"][:, None], np.moveaxis(truth["vel"], -1, 1)], axis=1)  # (T, C, nx, ny)
    for s, radius in enumerate(MESH_RADII):
        r = np.hypot(x - CENTRE[0], y - CENTRE[1])
        clear = np.abs(r - radius) > 2e-3  # between the circle and its inscribed polygon: either
        np.testing.assert_array_equal(mask[s][clear], (r >= radius)[clear])
        assert (~mask[s]).sum() > 3 and mask[s][d.geometry.boundary_mask()].all()  # walls, inlet, outlet inside
        inside = np.broadcast_to(mask[s], grid[s].shape)
        np.testing.assert_allclose(grid[s][inside], truth[inside], rtol=0, atol=2e-6)  # float32
        assert np.all(grid[s][~inside] == 0.0)
    assert not np.array_equal(mask[0], mask[1])


def test_grid_datasets_are_unchanged_and_version_1_0_still_reads(tmp_path):
    path = write_tiny(tmp_path / "grid.h5")
    with h5py.File(path, "a") as f:
        assert "mesh" not in f and "geometry/mask" not in f and f.attrs["geometry_type"] == "grid"
        f.attrs["schema_version"] = "1.0"  # what the surrolab before mesh datasets wrote
    assert schema.validate(path) == []
    with schema.open_dataset(path) as f:
        d = schema.read_description(f)
        assert d.geometry_type == "grid"
        assert schema.read_mask(f, [2, 0]).shape == (2, 8, 8) and schema.read_mask(f, [2, 0]).all()
        with pytest.raises(SurrolabError, match="no mesh for sample 0"):
            schema.read_mesh(f, 0)


@pytest.mark.parametrize("damage, message", [
    (lambda f: f["mesh/1/cells"].__setitem__((5, 1), f["mesh/1/points"].shape[0]), "/mesh/1: cells index vertices"),
    (lambda f: f["mesh/0/boundaries/cylinder"].__setitem__((0, 0), -1), "boundary 'cylinder' index vertices"),
    (lambda f: f.__delitem__("mesh/1"), "samples [1] have none"),
    (lambda f: f.__delitem__("geometry/mask"), "/geometry/mask is missing"),
    (lambda f: (f.__delitem__("mesh/0/fields/t0_fields/p"), f.create_dataset("mesh/0/fields/t0_fields/p",
                                                                             data=np.zeros((3, 7)))),
     "/mesh/0/fields/t0_fields/p has shape (3, 7)"),
])
def test_validator_finds_a_broken_mesh(mesh_copy, damage, message):
    with h5py.File(mesh_copy, "a") as f:
        damage(f)
    problems = schema.validate(mesh_copy)
    assert any(message in p for p in problems), problems


def test_writer_refuses_inconsistent_mesh_samples_and_leaves_no_file(tmp_path):
    d = tiny_mesh_description()
    mesh = l_shape()
    good = schema.Sample(seed=0, parameters={"radius": 0.1}, wall_time=0.0, mesh=mesh,
                         fields=tiny_mesh_fields(mesh.points, d.times))
    with pytest.raises(SurrolabError, match="sample 1 has no mesh"):
        schema.write_dataset(tmp_path / "x.h5", d, [good, schema.Sample(1, {"radius": 0.1}, good.fields, 0.0)], {})
    short = schema.Sample(seed=0, parameters={"radius": 0.1}, wall_time=0.0, mesh=mesh,
                          fields={k: v[:, :-1] for k, v in good.fields.items()})
    with pytest.raises(SurrolabError, match=r"shape \(3, 7\); the dataset expects \(3, 8\)"):
        schema.write_dataset(tmp_path / "x.h5", d, [short], {})
    with pytest.raises(SurrolabError, match="index vertices outside"):
        MeshGeometry(mesh.points, mesh.cells + 3)
    assert list(tmp_path.iterdir()) == []


def test_p2_solutions_are_stored_by_their_values_at_the_vertices():
    import dolfinx_solver  # noqa: F401
    import dolfinx

    from surrolab.meshes.geometries import cylinder_channel

    domain = cylinder_channel(length=1.0, center=(0.3, 0.2), radius=0.1, h=0.1)
    mesh = domain.mesh_geometry()
    u = dolfinx.fem.Function(dolfinx.fem.functionspace(domain.mesh, ("Lagrange", 2, (2,))))
    u.interpolate(lambda x: np.stack([x[0] ** 2 + x[1], 3 * x[0] * x[1]]))  # in P2: exact at every node
    x, y = mesh.points.T
    np.testing.assert_allclose(domain.vertex_values(u), np.stack([x**2 + y, 3 * x * y], axis=-1), atol=1e-14)


class CylinderChannelFields(Problem):
    """A stand-in for a FEM problem whose geometry varies per sample: the dummy's analytic fields."""

    name, description = "cylinder_fields", "analytic fields around a cylinder of random radius"
    fields, parameters = tiny_mesh_description().fields, tiny_mesh_description().parameters
    boundary_conditions = ()
    geometry_type = "mesh"

    @dataclass(frozen=True)
    class Config(FrameSchedule):
        t_end: float = 1.0
        n_frames: int = 3

    def grid(self, config):
        return tiny_mesh_description().geometry

    def initial_state(self, config, rng):
        return {}

    def solve(self, config, params, initial_state):
        from surrolab.meshes.geometries import cylinder_channel

        mesh = cylinder_channel(length=1.0, center=(0.3, 0.2), radius=params["radius"], h=0.1).mesh_geometry()
        return Trajectory(times=config.times, fields=tiny_mesh_fields(mesh.points, config.times), geometry=mesh)


def test_generation_writes_mesh_datasets_with_statistics_of_the_fluid(tmp_path):
    from surrolab.datasets.generate import generate
    from surrolab.datasets.splits import SplitSpec

    out = generate(CylinderChannelFields(), CylinderChannelFields.Config(), 3, tmp_path / "gen.h5",
                   splits=SplitSpec(val_fraction=0.0, test_fraction=0.0, heldout_fraction=0.0))
    assert schema.validate(out) == [] and out.with_suffix(".xdmf").exists() and (tmp_path / "gen_grid.xdmf").exists()
    with schema.open_dataset(out) as f:
        d = schema.read_description(f)
        radii = f["parameters/radius"][()]
        assert len({schema.read_mesh(f, i).n_points for i in range(3)}) == 3  # three radii, three meshes
        grid, mask = schema.read_fields(f, d, [0, 1, 2]), schema.read_mask(f, [0, 1, 2])
        p = grid[:, :, 0]  # (S, T, nx, ny)
        inside = np.broadcast_to(mask[:, None], p.shape)
        np.testing.assert_allclose(f["normalization/p/mean"][()], p[inside].mean(), rtol=1e-6)
        np.testing.assert_allclose(f["normalization/p/std"][()], p[inside].std(), rtol=1e-5)
        for i in range(3):  # the part files carried each mesh through to the dataset
            mesh = schema.read_mesh(f, i)
            r = np.linalg.norm(mesh.points[mesh.boundary_nodes("cylinder")] - CENTRE, axis=1)
            np.testing.assert_allclose(r, radii[i], rtol=1e-12)


def test_schema_document_describes_the_mesh_layout():
    text = (Path(schema.__file__).parent / "SCHEMA.md").read_text()
    for path in ("/geometry/mask", "/mesh/<i>/points", "/mesh/<i>/cells", "/mesh/<i>/boundaries/<name>",
                 "/mesh/<i>/fields/t0_fields/<name>", "cell_type", '"1.1"'):
        assert path in text, path
