"""The Navier–Stokes solver proves its science: measured orders in space and time, an exactly recovered
Poiseuille flow, the forcing slot, Ghia's cavity profiles, divergence and mass balance, the two linear
solvers agreeing, and failures at the boundary (STYLE.md, "Tests prove the science")."""
from __future__ import annotations

import math

import dolfinx_solver  # noqa: F401  (must be imported before dolfinx)
import dolfinx.fem
import numpy as np
import pytest
import ufl

from surrolab.benchmarks.ns_validation import fitted_order, l2_errors
from surrolab.errors import SurrolabError
from surrolab.solvers.fem.navier_stokes import NavierStokesSolver, VelocityBC, unit_square_mesh
from surrolab.solvers.fem.reference_flows import (ERTURK_U, ERTURK_V, ERTURK_X, ERTURK_Y, GHIA_SUSPECT, GHIA_U,
                                                  GHIA_V, GHIA_X, GHIA_Y, LidDrivenCavity, PlanePoiseuille,
                                                  PulsatingTaylorGreen, TaylorGreenVortex)


def gradient_l2(solver: NavierStokesSolver, state, weight=1.0) -> float:
    u_h, _ = solver.functions(state)
    integrand = weight * ufl.inner(ufl.grad(u_h), ufl.grad(u_h))
    return math.sqrt(dolfinx.fem.assemble_scalar(dolfinx.fem.form(integrand * ufl.dx)))


# -- orders of accuracy (diffrax test_ode_order) ---------------------------------------------------
def test_taylor_green_order_in_space():
    """P2–P1: velocity O(h³), pressure O(h²) in L2, and ‖∇·u_h‖ O(h²), against the exact vortex.

    Δt shrinks with h² (8, 32, 128 steps to t = 0.5 on 8², 16², 32²), so the O(Δt²) time error falls as h⁴
    and the slopes are the spatial ones: measured 3.21 then 3.05 for the velocity, 2.08 then 2.02 for the
    pressure (with Δt ∝ h the pressure at 8² still shows the time error). The divergence is checked after
    every step: it is a discretisation error of the weak constraint, O(h²), not a drift.
    """
    reference = TaylorGreenVortex(viscosity=0.05)
    resolutions, steps, t_end = (8, 16, 32), (8, 32, 128), 0.5
    velocity_errors, pressure_errors, divergences = [], [], []
    for n, n_steps in zip(resolutions, steps):
        solver = NavierStokesSolver(unit_square_mesh(n, diagonal="right"), reference.boundary_conditions(),
                                    viscosity=reference.viscosity, density=reference.density, dt=t_end / n_steps)
        assert solver.enclosed
        state = solver.initial_state(lambda x: reference.velocity_data(x, 0.0))
        largest_divergence = 0.0
        for _ in range(n_steps):
            state = solver.step(state)
            diagnostics = solver.diagnostics(state)
            largest_divergence = max(largest_divergence, diagnostics["divergence_l2"] / gradient_l2(solver, state))
            assert abs(diagnostics["boundary_flux"]) < 1e-12  # the data's fluxes cancel side by side
        assert state.t == pytest.approx(t_end)
        velocity_error, pressure_error = l2_errors(solver, state, reference)
        velocity_errors.append(velocity_error)
        pressure_errors.append(pressure_error)
        divergences.append(largest_divergence)
    h = 1.0 / np.array(resolutions)
    print(f"Taylor-Green: u L2 {velocity_errors}, p L2 {pressure_errors}, max_t |div u|/|grad u| {divergences}")
    assert fitted_order(h, velocity_errors) == pytest.approx(NavierStokesSolver.order_in_space[0], abs=0.25)
    assert fitted_order(h, pressure_errors) == pytest.approx(NavierStokesSolver.order_in_space[1], abs=0.2)
    assert fitted_order(h[1:], divergences[1:]) == pytest.approx(2.0, abs=0.2)  # 2.26 on the first interval
    assert divergences[-1] < 2e-3


def test_taylor_green_order_in_time():
    """BDF2: velocity and pressure both O(Δt²) (no splitting error), by self-convergence on one mesh.

    With the mesh fixed, the differences between solutions at Δt and Δt/2 (t = 1, 8 to 128 steps, 8²) are
    the time error alone; measured ratios give slopes 2.23, 2.08, 2.04 (velocity) and 2.17, 2.08, 2.04
    (pressure). The BDF1 first step does not lower the order.
    """
    reference = TaylorGreenVortex(viscosity=0.1)
    mesh = unit_square_mesh(8, diagonal="right")
    steps, t_end = (8, 16, 32, 64, 128), 1.0
    finals = []
    for n_steps in steps:
        solver = NavierStokesSolver(mesh, reference.boundary_conditions(), viscosity=reference.viscosity,
                                    dt=t_end / n_steps)
        state = solver.rollout(solver.initial_state(lambda x: reference.velocity_data(x, 0.0)), n_steps,
                               save_every=n_steps)[-1]
        finals.append(solver.functions(state))
    norm = lambda e: math.sqrt(dolfinx.fem.assemble_scalar(dolfinx.fem.form(ufl.inner(e, e) * ufl.dx)))  # noqa: E731
    du = [norm(a[0] - b[0]) for a, b in zip(finals, finals[1:])]
    dp = [norm(a[1] - b[1]) for a, b in zip(finals, finals[1:])]
    dt = t_end / np.array(steps[:-1])
    assert fitted_order(dt, du) == pytest.approx(NavierStokesSolver.order_in_time, abs=0.2)
    assert fitted_order(dt, dp) == pytest.approx(NavierStokesSolver.order_in_time, abs=0.2)


# -- exact recovery, the forcing slot ---------------------------------------------------------------
@pytest.mark.parametrize("stabilization", ["none", "supg"])
def test_poiseuille_is_recovered_to_rounding(stabilization):
    """Open boundary (do-nothing outflow), so no pressure null space: P2/P1 contain the exact solution. With
    SUPG and grad-div too: their strong residual (ρ(u·∇)u − μΔu + ∇p, nonzero term by term here) and ∇·u
    vanish for the exact solution, so a consistent stabilisation leaves it exact; a residual missing −μΔu or
    ∇p would not."""
    reference = PlanePoiseuille()
    solver = NavierStokesSolver(unit_square_mesh(6, diagonal="right"), reference.boundary_conditions(),
                                viscosity=reference.viscosity, density=reference.density, dt=0.5,
                                stabilization=stabilization)
    assert not solver.enclosed
    result = solver.run_to_steady_state(solver.initial_state(), tol=1e-11, max_steps=200)
    assert result.converged and result.state.stabilized == (stabilization == "supg")
    velocity_error, pressure_error = l2_errors(solver, result.state, _Steady(reference))
    assert velocity_error < 1e-10 and pressure_error < 1e-9
    outflow = solver.diagnostics(result.state)["boundary_flux"]
    assert outflow == pytest.approx(0.0, abs=1e-12)  # what enters at x = 0 leaves at x = 1


class _Steady:
    """PlanePoiseuille in the (x, y, t, xp) form that `l2_errors` expects."""

    def __init__(self, flow: PlanePoiseuille):
        self.flow = flow

    def velocity(self, x, y, t, xp):
        return 4 * self.flow.centre_speed * y * (1 - y), 0 * x

    def pressure(self, x, y, t, xp):
        return self.flow.pressure(x, y)


def test_body_force_slot_is_evaluated_at_the_new_time_level():
    """A manufactured solution held by a time-dependent force (16², Δt = 0.1, t = 1).

    Measured: velocity error 1.8e-4, the spatial floor (the same with Δt = 0.05 and 0.025); the same force
    deliberately lagged by one step gives 4.5e-3, halving with Δt (O(Δt)), the control that shows the test
    can tell the time levels apart.
    """
    reference = PulsatingTaylorGreen()
    mesh = unit_square_mesh(16, diagonal="right")
    n_steps, dt = 10, 0.1
    errors = {}
    for name, force in (("new", reference.body_force), ("lagged", lambda x, t: reference.body_force(x, t - dt))):
        solver = NavierStokesSolver(mesh, reference.boundary_conditions(), viscosity=reference.viscosity,
                                    density=reference.density, dt=dt, body_force=force)
        state = solver.rollout(solver.initial_state(lambda x: reference.velocity_data(x, 0.0)), n_steps,
                               save_every=n_steps)[-1]
        errors[name] = l2_errors(solver, state, reference)[0]
    assert errors["new"] < 3e-4
    assert errors["lagged"] > 10 * errors["new"]


# -- the lid-driven cavity (Ghia, Ghia & Shin 1982) --------------------------------------------------
def test_ghia_tables_are_consistent():
    """17 stations each, no slip at the walls, the lid at y = 1, and the known defects flagged."""
    for table in (GHIA_U, GHIA_V):
        assert sorted(table) == [100, 400, 1000, 3200, 5000]
        assert all(values.shape == (17,) for values in table.values())
    assert np.all(np.diff(GHIA_Y) < 0) and np.all(np.diff(GHIA_X) < 0)
    for re in GHIA_U:
        assert GHIA_U[re][0] == 1.0 and GHIA_U[re][-1] == 0.0
        assert GHIA_V[re][0] == 0.0 and GHIA_V[re][-1] == 0.0
    assert GHIA_U[100][list(GHIA_Y).index(0.5)] == -0.20581  # spot checks of single digits
    assert GHIA_V[400][list(GHIA_X).index(0.8594)] == -0.44993
    assert GHIA_V[1000][list(GHIA_X).index(0.2344)] == 0.32235
    assert GHIA_SUSPECT[400]["v"] == (0.9063,) and GHIA_SUSPECT[3200]["u"] == (0.4531,)
    with pytest.raises(SurrolabError, match="tabulated here"):
        LidDrivenCavity(reynolds=2000).table()


def test_erturk_tables_are_consistent():
    """23 stations each, ascending, no slip at the walls, the lid at y = 1; the same Re = 1000 flow as Ghia's
    within 2 % of the lid speed where their stations nearly coincide (two solutions of one flow)."""
    for table in (ERTURK_U, ERTURK_V):
        assert sorted(table) == [1000, 2500, 5000]
        assert all(values.shape == (23,) for values in table.values())
    assert np.all(np.diff(ERTURK_Y) > 0) and np.all(np.diff(ERTURK_X) > 0)
    for re in ERTURK_U:
        assert ERTURK_U[re][-1] == 1.0 and ERTURK_U[re][0] == 0.0
        assert ERTURK_V[re][0] == 0.0 and ERTURK_V[re][-1] == 0.0
    assert ERTURK_U[2500][list(ERTURK_Y).index(0.98)] == 0.5924
    centre = LidDrivenCavity(1000, reference="erturk").table()
    assert centre[1][list(ERTURK_Y).index(0.5)] == pytest.approx(GHIA_U[1000][list(GHIA_Y).index(0.5)], abs=0.002)
    assert centre[3][list(ERTURK_X).index(0.5)] == pytest.approx(GHIA_V[1000][list(GHIA_X).index(0.5)], abs=0.002)
    with pytest.raises(SurrolabError, match="reference="):
        LidDrivenCavity(1000, reference="botella")


@pytest.mark.parametrize("stabilization", ["none", "supg"])
def test_lid_driven_cavity_re100_matches_ghia(stabilization):
    """32×32 (P2: 65² velocity nodes), steady state from rest with Δt = 1 (about 20 steps), plain Galerkin
    (what `auto` gives here: the cell Reynolds number is 4.4) and with SUPG/grad-div.

    Measured: largest deviation 0.49 % of the lid speed for u(0.5, y) and 0.92 % for v(x, 0.5) (0.90 % with
    the stabilisation), unchanged to 1e-4 at 64×64 — the mesh is converged and what is left is mostly the
    error of Ghia's own 129² second-order solution. Asserted below 1.2 %. Mass balance: ∫_∂Ω u·n = 0 after
    every step. The divergence away from the lid corners (whose velocity jump makes ∇·u_h O(1/h) on the
    corner cells) is 1.7 % of ‖∇u_h‖ there.
    """
    cavity = LidDrivenCavity(reynolds=100)
    solver = NavierStokesSolver(unit_square_mesh(32, diagonal="right"), cavity.boundary_conditions(),
                                viscosity=cavity.viscosity, density=cavity.density, dt=1.0,
                                stabilization=stabilization)
    assert solver.enclosed
    state = solver.initial_state()
    for _ in range(5):  # mass balance step by step, then the rest of the way to steady state
        state = solver.step(state)
        assert abs(solver.diagnostics(state)["boundary_flux"]) < 1e-12
    result = solver.run_to_steady_state(state, tol=1e-6, max_steps=200)
    assert result.converged and result.change_rate < 1e-6

    on_vertical, on_horizontal = cavity.centreline_points()
    u = solver.evaluate_velocity(result.state, on_vertical)[:, 0]
    v = solver.evaluate_velocity(result.state, on_horizontal)[:, 1]
    deviation = cavity.deviation(u, v)
    print(f"Ghia Re=100, 32x32: {deviation}, {result.n_steps + 5} steps")
    assert deviation.largest < 0.012

    corners = solver.evaluate_velocity(result.state, np.array([[0.0, 1.0], [1.0, 1.0], [0.5, 1.0]]))
    np.testing.assert_allclose(corners, [[0, 0], [0, 0], [1, 0]], atol=1e-12)  # walls win at the corners

    x = ufl.SpatialCoordinate(solver.mesh)
    corner_distance = ufl.min_value(ufl.sqrt(x[0] ** 2 + (x[1] - 1) ** 2), ufl.sqrt((x[0] - 1) ** 2 + (x[1] - 1) ** 2))
    away = ufl.conditional(ufl.gt(corner_distance, 0.1), 1.0, 0.0)
    u_h, p_h = solver.functions(result.state)
    divergence = math.sqrt(dolfinx.fem.assemble_scalar(dolfinx.fem.form(away * ufl.div(u_h) ** 2 * ufl.dx)))
    assert divergence / gradient_l2(solver, result.state, away) < 0.03
    assert abs(dolfinx.fem.assemble_scalar(dolfinx.fem.form(p_h * ufl.dx))) < 1e-10  # ∫p = 0 fixes the constant


def test_steady_state_does_not_depend_on_the_time_step():
    """A fixed point of the scheme solves the discrete steady equations, whatever Δt led there."""
    cavity = LidDrivenCavity(reynolds=100)
    mesh = unit_square_mesh(12, diagonal="right")
    states = []
    for dt in (0.5, 2.0):
        solver = NavierStokesSolver(mesh, cavity.boundary_conditions(), viscosity=cavity.viscosity, dt=dt)
        result = solver.run_to_steady_state(solver.initial_state(), tol=1e-9, max_steps=400)
        assert result.converged
        states.append(result.state)
    np.testing.assert_allclose(states[0].velocity, states[1].velocity, atol=1e-6)
    np.testing.assert_allclose(states[0].pressure, states[1].pressure, atol=1e-5)


def test_fieldsplit_krylov_agrees_with_lu():
    cavity = LidDrivenCavity(reynolds=100)
    mesh = unit_square_mesh(12, diagonal="right")
    finals = []
    for linear_solver in ("lu", "fieldsplit"):
        solver = NavierStokesSolver(mesh, cavity.boundary_conditions(), viscosity=cavity.viscosity, dt=0.1,
                                    linear_solver=linear_solver)
        finals.append(solver.rollout(solver.initial_state(), 4, save_every=4)[-1])
    np.testing.assert_allclose(finals[1].velocity, finals[0].velocity, atol=1e-8)
    np.testing.assert_allclose(finals[1].pressure, finals[0].pressure, atol=1e-7)


# -- failures at the boundary ----------------------------------------------------------------------
def test_bad_inputs_fail_with_a_message():
    cavity = LidDrivenCavity()
    mesh = unit_square_mesh(4)
    with pytest.raises(SurrolabError, match="viscosity"):
        NavierStokesSolver(mesh, cavity.boundary_conditions(), viscosity=0.0, dt=0.1)
    with pytest.raises(SurrolabError, match="linear_solver"):
        NavierStokesSolver(mesh, cavity.boundary_conditions(), viscosity=0.01, dt=0.1, linear_solver="cg")
    with pytest.raises(SurrolabError, match="components"):
        NavierStokesSolver(mesh, [VelocityBC(cavity.walls, (0.0, 0.0, 0.0))], viscosity=0.01, dt=0.1)
    with pytest.raises(SurrolabError, match="grading"):
        unit_square_mesh(4, grading=1.0)
    solver = NavierStokesSolver(mesh, cavity.boundary_conditions(), viscosity=0.01, dt=0.1)
    with pytest.raises(SurrolabError, match="outside the mesh"):
        solver.evaluate_velocity(solver.initial_state(), np.array([[0.5, 1.5]]))
    with pytest.raises(SurrolabError, match="ghia stations"):
        cavity.deviation(np.zeros(3), np.zeros(15))
