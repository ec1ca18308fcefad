"""The Boussinesq solver proves its science: the scalar's order in h and Δt against a manufactured solution,
the coupled scheme's order in Δt, exact conservation of the scalar (and its growth by the source), a fluid
that stays exactly at rest without buoyancy while the scalar spreads at the diffusive rate, plumes that rise
above a source and are mirror-symmetric about it, and failures at the boundary."""
from __future__ import annotations

import math

import dolfinx_solver  # noqa: F401  (must be imported before dolfinx)
import dolfinx.fem
import numpy as np
import pytest
import ufl

from surrolab.errors import SurrolabError
from surrolab.solvers.fem.boussinesq import BoussinesqSolver, ScalarTransport
from surrolab.solvers.fem.navier_stokes import VelocityBC, unit_square_mesh

WALLS = (VelocityBC(lambda x: np.full(x.shape[1], True), (0.0, 0.0)),)
PI = math.pi


def fitted_order(steps, errors) -> float:
    return float(np.polyfit(np.log(steps), np.log(errors), 1)[0])


def gaussian(x0: float, y0: float, width: float):
    """exp(−|x − x0|² / width²) as a numpy interpolant and as a UFL expression."""
    def values(x):
        return np.exp(-((x[0] - x0) ** 2 + (x[1] - y0) ** 2) / width**2)

    def expression(x, t=None):
        return ufl.exp(-((x[0] - x0) ** 2 + (x[1] - y0) ** 2) / width**2)

    return values, expression


def l2(function, exact=None) -> float:
    integrand = function if exact is None else function - exact
    form = dolfinx.fem.form(integrand**2 * ufl.dx(metadata={"quadrature_degree": 8}))
    return math.sqrt(dolfinx.fem.assemble_scalar(form))


# -- orders of accuracy ----------------------------------------------------------------------------
class Manufactured:
    """c = 1 + cos(πx)cos(2πy) sin(1 + 2t) + ½cos(2πx)cos(πy)cos(3t) on the unit square, ∂c/∂n = 0 on the
    walls, carried by the cellular flow w = (sin πx cos πy, −cos πx sin πy) (∇·w = 0, w·n = 0 on the walls);
    the source s = ∂c/∂t + w·∇c − κΔc makes it exact."""

    kappa = 0.01

    @staticmethod
    def c(x, t, m):
        return (1 + m.cos(PI * x[0]) * m.cos(2 * PI * x[1]) * m.sin(1 + 2 * t)
                + 0.5 * m.cos(2 * PI * x[0]) * m.cos(PI * x[1]) * m.cos(3 * t))

    @staticmethod
    def dc_dt(x, t, m):
        return (2 * m.cos(PI * x[0]) * m.cos(2 * PI * x[1]) * m.cos(1 + 2 * t)
                - 1.5 * m.cos(2 * PI * x[0]) * m.cos(PI * x[1]) * m.sin(3 * t))

    @staticmethod
    def w(x, m):
        return m.sin(PI * x[0]) * m.cos(PI * x[1]), -m.cos(PI * x[0]) * m.sin(PI * x[1])

    def source(self, x, t):
        c = self.c(x, t, ufl)
        wind = ufl.as_vector(self.w(x, ufl))
        return self.dc_dt(x, t, ufl) + ufl.dot(wind, ufl.grad(c)) - self.kappa * ufl.div(ufl.grad(c))

    def error(self, n: int, n_steps: int, stabilization: str, t_end: float = 1.0) -> float:
        transport = ScalarTransport(unit_square_mesh(n), diffusivity=self.kappa, dt=t_end / n_steps,
                                    source=self.source, stabilization=stabilization)
        wind = dolfinx.fem.Function(transport.velocity_space)
        wind.interpolate(lambda x: np.vstack(self.w(x, np)))
        state = transport.initial_state(lambda x: self.c(x, 0.0, np))
        for _ in range(n_steps):
            state = transport.step(state, wind.x.array)
        assert state.t == pytest.approx(t_end)
        x = ufl.SpatialCoordinate(transport.mesh)
        return l2(transport.function(state.scalar), self.c(x, t_end, ufl))


@pytest.mark.parametrize("stabilization", ["supg", "none"])
def test_scalar_is_second_order_in_h_and_dt_together(stabilization):
    """P1 in space (O(h²) in L2) and BDF2 in time (O(Δt²)): with Δt ∝ h the error falls as h². Measured
    (κ = 0.01, mesh Péclet |w|h/2κ up to 6, h = 1/8, 1/16, 1/32): errors 5.8e-2, 1.6e-2, 3.7e-3 with SUPG
    (order 2.1 over the last halving, 2.0 fitted), 7.0e-2, 2.5e-2, 6.7e-3 without (1.9, 1.7): SUPG is
    consistent, so it keeps the order, and is the more accurate here."""
    problem = Manufactured()
    resolutions = (8, 16, 32)
    errors = [problem.error(n, n // 2, stabilization) for n in resolutions]
    h = 1.0 / np.array(resolutions)
    assert errors[-1] < 2e-2
    assert fitted_order(h[1:], errors[1:]) == pytest.approx(ScalarTransport.order_in_time, abs=0.25)
    assert fitted_order(h, errors) > 1.6


def test_coupled_scheme_is_second_order_in_time():
    """Buoyancy from the extrapolated scalar 2cⁿ − cⁿ⁻¹, scalar advected by uⁿ⁺¹: second order. On one mesh
    the differences between runs with Δt, Δt/2, ... fall as Δt² (the spatial error cancels); a lagged
    buoyancy (cⁿ) gives order 1. Measured over Δt = 1/20 .. 1/160: successive orders 1.88, 1.93 for u and
    1.89, 1.94 for c (1.03–1.04 with the buoyancy lagged)."""
    source = gaussian(0.4, 0.25, 0.1)[1]
    blob = gaussian(0.6, 0.5, 0.15)[0]
    finals = []
    for n_steps in (20, 40, 80, 160):
        solver = BoussinesqSolver(unit_square_mesh(10), WALLS, viscosity=0.01, diffusivity=0.01, buoyancy=2.0,
                                  dt=1.0 / n_steps, source=lambda x, t: source(x))
        finals.append(solver.rollout(solver.initial_state(scalar=blob), n_steps)[-1])
    velocity_changes = [np.linalg.norm(a.velocity - b.velocity) for a, b in zip(finals, finals[1:])]
    scalar_changes = [np.linalg.norm(a.scalar - b.scalar) for a, b in zip(finals, finals[1:])]
    assert np.linalg.norm(finals[-1].velocity, np.inf) > 0.05  # the buoyancy really drives a flow
    steps = 1.0 / np.array([20, 40, 80])
    assert fitted_order(steps, velocity_changes) == pytest.approx(BoussinesqSolver.order_in_time, abs=0.2)
    assert fitted_order(steps, scalar_changes) == pytest.approx(BoussinesqSolver.order_in_time, abs=0.2)


# -- conservation ----------------------------------------------------------------------------------
@pytest.mark.parametrize("with_source", [False, True])
def test_scalar_total_changes_only_by_its_source(with_source):
    """No flux through the walls and Taylor–Hood's discrete incompressibility against P1: ∫c is conserved
    exactly (to rounding) while buoyancy stirs the box, and a source adds exactly t ∫s."""
    source = gaussian(0.5, 0.2, 0.08)[1]
    solver = BoussinesqSolver(unit_square_mesh(12), WALLS, viscosity=0.01, diffusivity=0.002, buoyancy=3.0,
                              dt=0.05, source=(lambda x, t: 2.0 * source(x)) if with_source else None)
    state = solver.initial_state(scalar=gaussian(0.3, 0.4, 0.15)[0])
    start = solver.diagnostics(state)
    rate = start["source_rate"]
    assert (rate > 0.01) if with_source else (rate == 0.0)
    for _ in range(30):
        state = solver.step(state)
        mass = solver.diagnostics(state)["scalar_mass"]
        assert abs(mass - start["scalar_mass"] - state.t * rate) <= 1e-12 * start["scalar_mass"]
    assert np.abs(state.velocity).max() > 0.1  # stirred: advection, not diffusion alone
    assert mass == pytest.approx(start["scalar_mass"] + 1.5 * rate, rel=1e-12)


def test_without_buoyancy_the_fluid_stays_at_rest_while_the_scalar_diffuses():
    """β = 0, no driven wall: u = 0 and p = 0 exactly at every step. The scalar then obeys the heat equation,
    under which the second moment of a blob clear of the walls grows as d/dt ∫|x − x₀|²c = 4κ∫c (P1 and
    BDF2 keep this rate for a quadratic weight on a uniform mesh; measured to 7e-8)."""
    kappa, t_end = 0.005, 0.5
    solver = BoussinesqSolver(unit_square_mesh(32), WALLS, viscosity=0.01, diffusivity=kappa, buoyancy=0.0,
                              dt=0.05)
    state = solver.initial_state(scalar=gaussian(0.5, 0.5, 0.08)[0])
    x = ufl.SpatialCoordinate(solver.mesh)

    def moments(state):
        c = solver.transport.function(state.scalar)
        second = dolfinx.fem.assemble_scalar(dolfinx.fem.form(((x[0] - 0.5) ** 2 + (x[1] - 0.5) ** 2) * c * ufl.dx))
        return solver.diagnostics(state)["scalar_mass"], second, state.scalar.max()

    mass0, second0, peak0 = moments(state)
    for _ in range(10):
        state = solver.step(state)
        assert np.all(state.velocity == 0.0) and np.all(state.pressure == 0.0)
    mass, second, peak = moments(state)
    assert mass == pytest.approx(mass0, rel=1e-13)
    assert peak < 0.8 * peak0  # it spreads
    assert (second - second0) / mass == pytest.approx(4 * kappa * t_end, rel=1e-3)  # measured: 7e-8


# -- buoyancy --------------------------------------------------------------------------------------
def test_buoyancy_lifts_the_fluid_above_a_source_symmetrically():
    """A source on the vertical centre line of a mesh symmetric about it (crossed diagonals): the fluid rises
    above the source, ∫u_y = 0 over the closed box (P1 contains y, so (∇·u_h, y) = 0 gives it exactly),
    and (u_x, u_y, c)(x, y) = (−u_x, u_y, c)(1 − x, y) to rounding."""
    source = gaussian(0.5, 0.25, 0.08)[1]
    mesh = unit_square_mesh(16, diagonal="crossed")
    solver = BoussinesqSolver(mesh, WALLS, viscosity=0.01, diffusivity=0.002, buoyancy=1.0, dt=0.1,
                              source=lambda x, t: source(x))
    state = solver.rollout(solver.initial_state(), 20)[-1]

    u, _, c = solver.functions(state)
    x = ufl.SpatialCoordinate(mesh)
    above = ufl.conditional(ufl.And(abs(x[0] - 0.5) < 0.1, x[1] > 0.25), 1.0, 0.0)
    lift = dolfinx.fem.assemble_scalar(dolfinx.fem.form(above * u[1] * ufl.dx))
    net = dolfinx.fem.assemble_scalar(dolfinx.fem.form(u[1] * ufl.dx))
    column_area = 0.2 * 0.75
    speed = np.linalg.norm(state.velocity.reshape(-1, 2), axis=1)
    fastest = np.argmax(speed)
    where = solver.velocity_space.tabulate_dof_coordinates()[fastest]
    assert where[0] == pytest.approx(0.5) and where[1] > 0.25  # on the centre line, above the source,
    assert state.velocity.reshape(-1, 2)[fastest, 1] > 0  # and upward
    assert lift / column_area > 0.2 * speed.max()  # the whole column rises (measured: 0.29 max|u|)
    assert abs(net) < 1e-12 * abs(lift)

    def mirror(space, values, signs):
        points = space.tabulate_dof_coordinates()[:, :2]
        key = {tuple(np.round(p, 10)): i for i, p in enumerate(points)}
        partner = np.array([key[(round(1.0 - px, 10), round(py, 10))] for px, py in np.round(points, 10)])
        block = values.reshape(len(points), -1)
        return np.abs(block[partner] - block * signs).max() / np.abs(block).max()

    assert mirror(solver.velocity_space, state.velocity, np.array([-1.0, 1.0])) < 1e-12  # measured 8e-16
    assert mirror(solver.scalar_space, state.scalar, np.array([1.0])) < 1e-12
    assert np.abs(state.velocity.reshape(-1, 2)[:, 0]).max() > 0.1 * np.abs(state.velocity).max()  # not trivially 0


def test_buoyancy_split_changes_the_pressure_not_the_physics():
    """Taking the gradient part of the buoyancy into the pressure is exact in the PDE: with and without the
    split the velocities agree to the discretisation error (and the total pressures too), while the split
    makes the discrete velocity more nearly divergence-free for a stratified scalar at rest."""
    layer = lambda x: 1.0 / (1.0 + np.exp(-(x[1] - 0.6) / 0.05))  # noqa: E731, light fluid on top: stable
    runs = {}
    for split in (True, False):
        solver = BoussinesqSolver(unit_square_mesh(8), WALLS, viscosity=0.01, diffusivity=1e-3, buoyancy=5.0,
                                  dt=0.1, split_buoyancy=split)
        state = solver.rollout(solver.initial_state(scalar=layer), 3)[-1]
        runs[split] = state, solver.diagnostics(state)["divergence_l2"]
    # a stable stratification at rest is an exact steady state: only the discretisation's spurious flow moves
    assert np.abs(runs[True][0].velocity).max() < 0.1 * np.abs(runs[False][0].velocity).max()
    assert runs[True][1] < 0.1 * runs[False][1]
    pressure_true, pressure_false = runs[True][0].pressure, runs[False][0].pressure
    assert np.linalg.norm(pressure_true - pressure_false) < 0.05 * np.linalg.norm(pressure_false)


# -- failures --------------------------------------------------------------------------------------
def test_bad_settings_and_non_finite_values_fail_naming_the_cause():
    mesh = unit_square_mesh(4)
    with pytest.raises(SurrolabError, match="diffusivity"):
        ScalarTransport(mesh, diffusivity=0.0, dt=0.1)
    with pytest.raises(SurrolabError, match="stabilization"):
        ScalarTransport(mesh, diffusivity=0.1, dt=0.1, stabilization="upwind")
    with pytest.raises(SurrolabError, match="buoyancy"):
        BoussinesqSolver(mesh, WALLS, viscosity=0.01, diffusivity=0.01, buoyancy=float("nan"), dt=0.1)
    open_top = (VelocityBC(lambda x: x[1] < 1.0 - 1e-12, (0.0, 0.0)),)
    with pytest.raises(SurrolabError, match="enclosed"):
        BoussinesqSolver(mesh, open_top, viscosity=0.01, diffusivity=0.01, buoyancy=1.0, dt=0.1)
    transport = ScalarTransport(mesh, diffusivity=0.1, dt=0.1)
    bad = transport.initial_state(lambda x: np.where(x[0] > 0.5, np.nan, 0.0))
    with pytest.raises(SurrolabError, match="non-finite"):
        transport.step(bad, np.zeros(transport.velocity_space.dofmap.index_map.size_local * 2))
