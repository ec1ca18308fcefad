"""Onto the vertices of a mesh: a masked grid field (`grid_to_points`) and a P1 field of another mesh
(`mesh_to_points`), what the harness uses to score grid models and coarsened solver runs on the data's mesh."""
import numpy as np
import pytest

from surrolab.datasets.interpolate import grid_interpolation, grid_to_points, mesh_to_points
from surrolab.meshes.geometries import cylinder_channel

AXES = (np.linspace(0.0, 1.0, 33), np.linspace(0.0, 0.5, 17))
CENTRE, RADIUS = np.array([0.3, 0.2]), 0.08


@pytest.fixture(scope="module")
def meshes():
    """The same channel with a cylinder at two resolutions (the coarse one's polygon cuts the fine one's)."""
    return [cylinder_channel(length=1.0, height=0.5, center=tuple(CENTRE), radius=RADIUS, h=h).mesh_geometry()
            for h in (0.1, 0.05)]


def linear(points: np.ndarray) -> np.ndarray:
    return 2.0 + 3.0 * points[..., 0] - 1.5 * points[..., 1]


def test_a_masked_grid_field_reads_linear_fields_exactly_up_to_walls_and_holes(meshes):
    """At every vertex, on the cylinder, at the walls, in cells cut by the hole: a linear field is read exactly,
    whatever the grid holds outside its mask."""
    fine = meshes[1]
    mask = grid_interpolation(fine, AXES).mask
    assert (~mask).sum() > 10  # the cylinder covers grid nodes
    nodes = np.stack(np.meshgrid(*AXES, indexing="ij"), axis=-1)
    read = grid_to_points(AXES, mask, fine.points)
    values = np.where(mask, linear(nodes), 0.0)
    np.testing.assert_allclose(read(values.ravel()), linear(fine.points), rtol=0, atol=1e-12)
    garbage = np.where(mask, values, np.random.default_rng(0).normal(size=mask.shape) * 100)
    np.testing.assert_array_equal(read(garbage.ravel()), read(values.ravel()))  # nodes outside never count
    on_cylinder = fine.boundary_nodes("cylinder")
    assert np.all(np.linalg.norm(fine.points[on_cylinder] - CENTRE, axis=1) > RADIUS - 1e-9)


def test_a_bilinear_grid_field_is_read_exactly_where_the_cell_is_whole():
    x, y = np.meshgrid(*AXES, indexing="ij")
    field = 1.0 + x - 2.0 * y + 4.0 * x * y
    points = np.random.default_rng(1).uniform((0, 0), (1, 0.5), size=(200, 2))
    read = grid_to_points(AXES, np.ones(x.shape, dtype=bool), points)
    px, py = points.T
    np.testing.assert_allclose(read(field.ravel()), 1.0 + px - 2.0 * py + 4.0 * px * py, atol=1e-12)


def test_frames_keep_their_leading_axes():
    mask = np.ones(tuple(len(a) for a in AXES), dtype=bool)
    points = np.array([[0.1, 0.1], [0.5, 0.25]])
    frames = np.random.default_rng(2).normal(size=(4, 3, mask.size))  # (T, C, grid nodes)
    out = grid_to_points(AXES, mask, points)(frames, node_axis=-1)
    assert out.shape == (4, 3, 2)
    np.testing.assert_array_equal(out[2, 1], grid_to_points(AXES, mask, points)(frames[2, 1]))


def test_a_coarse_mesh_field_is_read_at_the_fine_vertices_in_its_own_cells(meshes):
    """P1 in the coarse cells reproduces a linear field at every fine vertex inside the coarse mesh; a fine vertex
    on the cylinder outside the coarse polygon is read on the edge of the coarse cell it lies least outside of."""
    coarse, fine = meshes
    read = mesh_to_points(coarse, fine.points)
    out = read(linear(coarse.points))
    distance = np.abs(np.linalg.norm(fine.points - CENTRE, axis=1) - RADIUS)
    away = distance > 0.02  # clear of the cylinder, where the two polygons differ
    np.testing.assert_allclose(out[away], linear(fine.points[away]), rtol=0, atol=1e-12)
    np.testing.assert_allclose(out, linear(fine.points), atol=3.5 * 0.02)  # |∇f| times the polygons' gap
    weights = read.weights.toarray()
    assert np.all(weights >= 0) and np.allclose(weights.sum(axis=1), 1.0)  # a convex combination everywhere
    time_series = np.stack([linear(coarse.points), 2 * linear(coarse.points)])  # (T, N)
    np.testing.assert_allclose(read(time_series, node_axis=1)[1], 2 * out)
