"""The gmsh geometries: areas and boundary lengths are the exact ones, boundaries are named, h is honoured."""
import math

import dolfinx_solver  # noqa: F401
import dolfinx
import numpy as np
import pytest
import ufl

from surrolab.errors import SurrolabError
from surrolab.meshes import geometries as g


def area(domain):
    return dolfinx.fem.assemble_scalar(dolfinx.fem.form(1.0 * ufl.dx(domain=domain.mesh)))


def length(domain, name):
    ds = ufl.Measure("ds", domain=domain.mesh, subdomain_data=domain.facet_tags)
    return dolfinx.fem.assemble_scalar(dolfinx.fem.form(1.0 * ds(domain.boundaries[name])))


@pytest.mark.parametrize("build, expected_area, lengths", [
    (lambda: g.cavity(width=1.0, height=0.8), 0.8, {"lid": 1.0, "walls": 2.6}),
    (lambda: g.channel(length=2.0, height=0.5), 1.0, {"inlet": 0.5, "outlet": 0.5, "walls": 4.0}),
    # DFG 2D benchmark (Schäfer & Turek 1996): 2.2 x 0.41 minus a disk of diameter 0.1
    (lambda: g.cylinder_channel(h=0.04, h_cylinder=0.004), 2.2 * 0.41 - math.pi * 0.05**2,
     {"inlet": 0.41, "outlet": 0.41, "walls": 4.4, "cylinder": math.pi * 0.1}),
    (lambda: g.step_channel(length=3.0, height=0.5, step_x=0.5, step_width=0.1, step_height=0.2), 1.48,
     {"inlet": 0.5, "outlet": 0.5, "walls": 5.9, "barrier": 0.5}),
    (lambda: g.backward_facing_step(length=3.0, height=0.5, step_height=0.25, inlet_length=0.5), 1.375,
     {"inlet": 0.25, "outlet": 0.5, "walls": 5.5, "barrier": 0.75}),
])
def test_geometry_areas_and_named_boundary_lengths(build, expected_area, lengths):
    domain = build()
    assert set(domain.boundaries) == set(lengths)
    assert area(domain) == pytest.approx(expected_area, rel=2e-4)  # the disk is a polygon: O(h_cylinder²)
    for name, value in lengths.items():
        assert length(domain, name) == pytest.approx(value, rel=5e-4), name  # polygon: (π h/d)²/6
    # every boundary facet carries a name
    domain.mesh.topology.create_connectivity(1, 2)
    exterior = dolfinx.mesh.exterior_facet_indices(domain.mesh.topology)
    assert np.array_equal(np.sort(domain.facet_tags.indices), np.sort(exterior))


def test_mesh_size_is_honoured_and_the_cylinder_is_refined():
    coarse, fine = g.channel(h=0.1), g.channel(h=0.05)
    assert fine.mesh.topology.index_map(2).size_local > 3 * coarse.mesh.topology.index_map(2).size_local
    domain = g.cylinder_channel(h=0.04)
    x = domain.mesh.geometry.x
    domain.mesh.topology.create_entities(1)
    n_edges = domain.mesh.topology.index_map(1).size_local
    # geometry nodes of each edge (topology vertex numbers need not index geometry.x)
    edges = dolfinx.mesh.entities_to_geometry(domain.mesh, 1, np.arange(n_edges, dtype=np.int32))
    lengths = np.linalg.norm(x[edges[:, 0]] - x[edges[:, 1]], axis=1)
    midpoints = 0.5 * (x[edges[:, 0]] + x[edges[:, 1]])
    near = np.linalg.norm(midpoints[:, :2] - [0.2, 0.2], axis=1) < 0.06
    assert lengths[near].max() < 0.4 * lengths[~near].max()
    assert lengths.max() < 0.04 * 1.5


def test_bad_geometry_is_refused_with_the_field_named():
    with pytest.raises(SurrolabError, match="radius="):
        g.cylinder_channel(radius=0.3)
    with pytest.raises(SurrolabError, match="h=0"):
        g.cavity(h=0.0)
    with pytest.raises(SurrolabError, match="step_height="):
        g.step_channel(step_height=0.6)
    with pytest.raises(SurrolabError, match="no boundary 'inlet'"):
        g.cavity().facets("inlet")
