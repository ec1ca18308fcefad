"""The `poisson` family (SPON's operator pairs): the solver's FE rates on its own holed gmsh meshes, the
exact Dirichlet data at the stored vertices, the insulated holes (its datasets: tests/datasets/test_steady_schema.py)."""
import dolfinx_solver  # noqa: F401  (before dolfinx)
import dolfinx
import numpy as np
import pytest
import ufl

from surrolab.errors import SurrolabError
from surrolab.meshes.geometries import plate_with_holes
from surrolab.registry import get_problem
from surrolab.solvers.fem.poisson import solve_poisson

HOLES = ((0.3, 0.5, 0.1), (0.72, 0.4, 0.08))


def manufactured_error(h: float, degree: int) -> float:
    """L2 error of u_h for u = sin(πx) sin(2πy) + xy, κ = 1 + xy/2, Dirichlet u on every boundary of the holed plate."""
    domain = plate_with_holes(HOLES, h=h)
    V = dolfinx.fem.functionspace(domain.mesh, ("Lagrange", degree))
    x = ufl.SpatialCoordinate(domain.mesh)
    u = ufl.sin(np.pi * x[0]) * ufl.sin(2 * np.pi * x[1]) + x[0] * x[1]
    kappa = 1.0 + 0.5 * x[0] * x[1]
    facets = np.concatenate([domain.facets("outer"), domain.facets("holes")])
    dofs = dolfinx.fem.locate_dofs_topological(V, 1, facets)
    xy = V.tabulate_dof_coordinates()[dofs]
    g = np.sin(np.pi * xy[:, 0]) * np.sin(2 * np.pi * xy[:, 1]) + xy[:, 0] * xy[:, 1]
    uh = dolfinx.fem.Function(V)
    uh.x.array[:] = solve_poisson(V, -ufl.div(kappa * ufl.grad(u)), kappa, dofs, g)
    return float(np.sqrt(dolfinx.fem.assemble_scalar(dolfinx.fem.form((uh - u) ** 2 * ufl.dx(degree=8)))))


@pytest.mark.parametrize("degree, order", [(1, 2.0), (2, 3.0)])
def test_the_solver_converges_at_the_fe_rate_on_the_holed_meshes(degree, order):
    """Unstructured gmsh meshes halve h only on average, so the rate is fitted over three sizes. At h = 0.1 the
    rims' refinement (h/2 over 4h) covers most of the plate and the rate is pre-asymptotic (P1 1.48, P2 2.31
    from 0.1 to 0.05), so the sizes start at 0.05: measured 1.81, 1.95 (P1) and 2.79, 3.13 (P2) per halving."""
    hs = np.array([0.05, 0.025, 0.0125])
    errors = np.array([manufactured_error(h, degree) for h in hs])
    rate = np.polyfit(np.log(hs), np.log(errors), 1)[0]
    print(f"P{degree}: errors {errors}, fitted rate {rate:.2f}")
    assert abs(rate - order) < 0.2


@pytest.fixture(scope="module")
def samples():
    problem = get_problem("poisson")
    config = problem.make_config("demo")
    out = []
    for i in range(2):
        rng = np.random.default_rng([0, i])
        params = problem.sample_parameters(rng)
        out.append((params, problem.solve(config, params, problem.initial_state(config, rng))))
    return problem, config, out


def test_the_dirichlet_data_hold_exactly_and_the_holes_are_holes(samples):
    problem, config, solved = samples
    for params, trajectory in solved:
        mesh, fields = trajectory.geometry, trajectory.fields
        outer = mesh.boundary_nodes("outer")
        assert np.array_equal(fields["solution"][0, outer], fields["boundary_data"][0, outer])  # bit for bit
        assert trajectory.diagnostics["dirichlet_max_error"] == 0.0
        for x, y, r in problem.holes(params):  # no vertex inside a hole; the rims' vertices on the circle
            distance = np.hypot(mesh.points[:, 0] - x, mesh.points[:, 1] - y)
            assert distance.min() > r * (1 - 1e-6)
        rims = mesh.boundary_nodes("holes")
        assert min(np.abs(np.hypot(mesh.points[rims, 0] - x, mesh.points[rims, 1] - y) - r).min()
                   for x, y, r in problem.holes(params)) < 1e-9
        assert np.all(fields["conductivity"] > 0)


def test_the_solution_solves_the_discrete_problem_with_insulated_holes(samples):
    """Away from the sides, u_h's residual vanishes: its weak form holds against every P1 test function that is
    zero on the sides, the holes' rims included, so the holes carry the natural condition κ ∂u/∂n = 0 (the
    solve is redone on the same mesh from the stored vertex values)."""
    problem, config, solved = samples
    params, trajectory = solved[0]
    domain = plate_with_holes(problem.holes(params), h=config.h)
    V = dolfinx.fem.functionspace(domain.mesh, ("Lagrange", 1))
    from surrolab.solvers.fem.flow_family import vertex_dofs

    at = vertex_dofs(V)
    u, f, kappa = (dolfinx.fem.Function(V) for _ in range(3))
    for function, name in ((u, "solution"), (f, "source"), (kappa, "conductivity")):
        function.x.array[at] = trajectory.fields[name][0]
    v = ufl.TestFunction(V)
    residual = dolfinx.fem.assemble_vector(dolfinx.fem.form(kappa * ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx
                                                            - f * v * ufl.dx)).array
    load = dolfinx.fem.assemble_vector(dolfinx.fem.form(abs(f) * v * ufl.dx)).array
    outer = dolfinx.fem.locate_dofs_topological(V, 1, domain.facets("outer"))
    free = np.setdiff1d(np.arange(len(residual)), outer)
    rims = dolfinx.fem.locate_dofs_topological(V, 1, domain.facets("holes"))
    assert np.abs(residual[free]).max() < 1e-5 * np.abs(load).max()  # float32 storage of the fields
    assert np.abs(residual[rims]).max() < 1e-5 * np.abs(load).max()


def test_bad_settings_and_touching_holes_end_in_one_line():
    problem = get_problem("poisson")
    with pytest.raises(SurrolabError, match="degree=3 is not allowed"):
        problem.make_config(None, degree=3)
    with pytest.raises(SurrolabError, match="closer than one mesh size"):
        plate_with_holes(((0.4, 0.5, 0.1), (0.55, 0.5, 0.1)), h=0.05)
