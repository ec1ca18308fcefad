"""The FEM diffusion–reaction family proves its science: measured orders, an exact decay, conservation,
determinism, coarsening and failures at the boundary (STYLE.md, "Tests prove the science")."""
from __future__ import annotations

import math

import dolfinx_solver  # noqa: F401  (must be imported before dolfinx)
import dolfinx.fem
import numpy as np
import pytest
import ufl
from petsc4py import PETSc

from surrolab.errors import SurrolabError
from surrolab.registry import get_problem
from surrolab.solvers.fem.diffusion_reaction import P1Space, unit_square_p1
from surrolab.solvers.fem.reference import REFERENCE_SOLUTIONS, HeatMode

REFERENCE_IDS = [type(r).__name__ for r in REFERENCE_SOLUTIONS]


def solve_reference(reference, *, resolution: int, t_end: float, substeps: int, n_frames: int = 2):
    """Solve `reference`'s problem from its exact initial state with its manufactured source."""
    problem = get_problem(reference.problem)
    config = problem.make_config(resolution=resolution, t_end=t_end, n_frames=n_frames, substeps=substeps)
    x, y = np.meshgrid(*problem.grid(config).axes, indexing="ij")  # (n+1, n+1) each
    initial = dict(zip((f.name for f in problem.fields), reference.exact(x, y, 0.0)))
    return problem, problem.solve(config, reference.parameters, initial, source=reference.source)


def l2_error_to_exact(reference, problem, trajectory, resolution: int) -> float:
    """‖u_h − u_e‖_L2 at the last frame, summed over fields: u_e as a UFL expression, degree-8 quadrature."""
    space = unit_square_p1(resolution)
    x = ufl.SpatialCoordinate(space.mesh)
    t = dolfinx.fem.Constant(space.mesh, PETSc.ScalarType(trajectory.times[-1]))
    dx = ufl.dx(metadata={"quadrature_degree": 8})
    squared = 0.0
    for field, exact in zip(problem.fields, reference.exact(x[0], x[1], t, xp=ufl)):
        u_h = dolfinx.fem.Function(space.function_space)
        u_h.x.array[:] = space.to_dofs(trajectory.fields[field.name][-1])
        squared += dolfinx.fem.assemble_scalar(dolfinx.fem.form((u_h - exact) ** 2 * dx))
    return math.sqrt(squared)


def p1_l2_norm(space: P1Space, grid_values: np.ndarray) -> float:
    """The exact L2 norm of the P1 function with these nodal values: √(eᵀ M e)."""
    e = PETSc.Vec().createWithArray(space.to_dofs(grid_values))
    mass_e = e.duplicate()
    space.mass.mult(e, mass_e)
    return math.sqrt(mass_e.dot(e))


def fitted_order(steps, errors) -> float:
    return float(np.polyfit(np.log(steps), np.log(errors), 1)[0])


# -- orders of accuracy (diffrax test_ode_order) ---------------------------------------------------
@pytest.mark.parametrize("reference", REFERENCE_SOLUTIONS, ids=REFERENCE_IDS)
def test_order_in_space(reference):
    resolutions = (8, 16, 32, 64)
    errors = []
    for n in resolutions:
        problem, trajectory = solve_reference(reference, resolution=n, t_end=0.5, substeps=200)  # Δt = 2.5e-3
        errors.append(l2_error_to_exact(reference, problem, trajectory, n))
    order = fitted_order([1 / n for n in resolutions], errors)
    print(f"{reference.problem}: L2 errors {errors}, order in space {order:.3f}")
    assert problem.order_in_space - 0.2 <= order <= problem.order_in_space + 0.3


@pytest.mark.parametrize("reference", REFERENCE_SOLUTIONS, ids=REFERENCE_IDS)
def test_order_in_time(reference):
    """Temporal error against a Δt/16 solution on the same mesh, so the spatial error cancels exactly."""
    n, t_end, substeps = 16, 1.0, (10, 20, 40, 80)
    problem, fine = solve_reference(reference, resolution=n, t_end=t_end, substeps=16 * substeps[-1])
    space = unit_square_p1(n)
    errors = []
    for m in substeps:
        _, coarse = solve_reference(reference, resolution=n, t_end=t_end, substeps=m)
        errors.append(math.sqrt(sum(p1_l2_norm(space, coarse.fields[f.name][-1] - fine.fields[f.name][-1]) ** 2
                                    for f in problem.fields)))
    order = fitted_order([t_end / m for m in substeps], errors)
    print(f"{reference.problem}: temporal errors {errors}, order in time {order:.3f}")
    assert problem.order_in_time - 0.2 <= order <= problem.order_in_time + 0.3


# -- reference values and conservation ------------------------------------------------------------
def test_heat_mode_decays_at_the_exact_rate():
    """u = exp(−2π²Dt) cos(πx) cos(πy): the fitted decay rate of the mode and the field itself match.

    P1 with a consistent mass matrix overestimates the rate by O(h²) (measured +0.24 % at n = 32);
    the nodal error is largest in the corners (3e-3 at n = 32), the RMS error is ~4e-4.
    """
    reference = HeatMode()  # D = 1e-2, the default
    problem = get_problem("heat")
    config = problem.make_config()  # resolution 32, t ∈ [0, 2], Δt = 0.0125
    x, y = np.meshgrid(*problem.grid(config).axes, indexing="ij")
    (mode,) = reference.exact(x, y, 0.0)
    trajectory = problem.solve(config, reference.parameters, {"temperature": mode})
    temperature = trajectory.fields["temperature"]  # (n_frames, 33, 33)
    amplitude = np.einsum("tij,ij->t", temperature, mode) / np.sum(mode * mode)  # projection on the mode
    rate = -np.polyfit(trajectory.times, np.log(amplitude), 1)[0]
    assert rate == pytest.approx(2 * math.pi**2 * reference.diffusivity, rel=5e-3)
    for t, u in zip(trajectory.times, temperature):
        (exact,) = reference.exact(x, y, t)
        assert np.sqrt(np.mean((u - exact) ** 2)) < 1e-3


def test_heat_conserves_the_integral_at_every_step():
    """Neumann walls: ∫u = 1ᵀ M u is constant to round-off (module docstring), at every step (substeps=1)."""
    problem = get_problem("heat")
    config = problem.make_config(resolution=16, t_end=0.5, n_frames=41, substeps=1)
    initial = problem.initial_state(config, np.random.default_rng(3))
    trajectory = problem.solve(config, {"diffusivity": 2e-2}, initial)
    space = unit_square_p1(config.resolution)
    ones = PETSc.Vec().createWithArray(np.ones(space.n_dofs))
    weights = ones.duplicate()
    space.mass.mult(ones, weights)  # ∫φ_d for every dof
    integrals = np.einsum("tij,ij->t", trajectory.fields["temperature"], space.to_grid(weights.array))
    assert np.std(trajectory.fields["temperature"][-1]) < 0.9 * np.std(initial["temperature"])  # it did diffuse
    np.testing.assert_allclose(integrals, integrals[0], rtol=0, atol=1e-13)


# -- determinism and coarsening -------------------------------------------------------------------
@pytest.mark.parametrize("name", ["heat", "diffusion_reaction"])
def test_solve_is_deterministic(name):
    problem = get_problem(name)
    config = problem.make_config(resolution=16, t_end=1.0, n_frames=6)
    rng = np.random.default_rng(7)
    params, initial = problem.sample_parameters(rng), problem.initial_state(config, rng)
    first, second = problem.solve(config, params, initial), problem.solve(config, params, initial)
    for field in problem.fields:
        assert first.fields[field.name].shape == (6, 17, 17)
        np.testing.assert_array_equal(first.fields[field.name], second.fields[field.name])
    np.testing.assert_array_equal(first.times, second.times)


@pytest.mark.parametrize("name", ["heat", "diffusion_reaction"])
def test_coarsen_keeps_times_and_subsamples_the_initial_state(name):
    problem = get_problem(name)
    fine = problem.make_config()
    coarse = problem.coarsen(fine, 2)
    assert (coarse.resolution, coarse.substeps) == (fine.resolution // 2, fine.substeps // 2)
    assert coarse.dt == pytest.approx(2 * fine.dt)
    # the random field is a continuous function: a coarse draw is the fine draw subsampled
    fine_initial = problem.initial_state(fine, np.random.default_rng(1))
    coarse_initial = problem.initial_state(coarse, np.random.default_rng(1))
    for field in problem.fields:
        np.testing.assert_allclose(coarse_initial[field.name], fine_initial[field.name][::2, ::2], atol=1e-12)
    short = dict(t_end=1.0, n_frames=6)  # keep the test fast; times must still agree exactly
    fine, coarse = problem.make_config(**short), problem.coarsen(problem.make_config(**short), 2)
    params = {p.name: p.default for p in problem.parameters}
    fine_run = problem.solve(fine, params, fine_initial)
    coarse_run = problem.solve(coarse, params, {k: v[::2, ::2] for k, v in fine_initial.items()})
    np.testing.assert_array_equal(fine_run.times, coarse_run.times)
    for field in problem.fields:
        assert coarse_run.fields[field.name].shape == (6, 17, 17)


def test_coarsen_rejects_a_factor_that_does_not_divide():
    problem = get_problem("diffusion_reaction")
    with pytest.raises(SurrolabError, match="substeps"):
        problem.coarsen(problem.make_config(substeps=10), 4)
    with pytest.raises(SurrolabError, match="resolution"):
        problem.coarsen(problem.make_config(resolution=30), 4)


# -- failures at the boundary ---------------------------------------------------------------------
def test_negative_diffusivity_is_rejected():
    problem = get_problem("heat")
    config = problem.make_config(resolution=4, n_frames=2, substeps=1)
    initial = problem.initial_state(config, np.random.default_rng(0))
    with pytest.raises(SurrolabError, match="diffusivity"):
        problem.solve(config, {"diffusivity": -1e-3}, initial)
    with pytest.raises(SurrolabError, match="inhibitor_diffusivity"):
        get_problem("diffusion_reaction").check_parameters({"inhibitor_diffusivity": 0.0})


@pytest.mark.parametrize("name", ["heat", "diffusion_reaction"])
@pytest.mark.parametrize("setting", [dict(resolution=0), dict(t_end=-1.0), dict(n_frames=1), dict(substeps=0),
                                     dict(ic_length_scale=0.0)])
def test_bad_config_is_rejected(name, setting):
    (field,) = setting
    with pytest.raises(SurrolabError, match=field):
        get_problem(name).make_config(**setting)


def test_wrong_initial_state_is_rejected():
    problem = get_problem("diffusion_reaction")
    config = problem.make_config(resolution=8, t_end=0.1, n_frames=2, substeps=1)
    initial = problem.initial_state(config, np.random.default_rng(0))
    params = {p.name: p.default for p in problem.parameters}
    with pytest.raises(SurrolabError, match="inhibitor"):
        problem.solve(config, params, {**initial, "inhibitor": np.zeros((8, 8))})
    with pytest.raises(SurrolabError, match="inhibitor"):
        problem.solve(config, params, {"activator": initial["activator"]})
    with pytest.raises(SurrolabError, match="activator"):
        problem.solve(config, params, {**initial, "activator": np.full((9, 9), np.nan)})
