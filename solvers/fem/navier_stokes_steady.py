"""Steady incompressible Navier–Stokes: Newton's method on the discrete steady equations, with continuation in the
viscosity where Newton from the guess does not converge.

Find (u, p) ∈ Taylor–Hood P2–P1 with u = g on the Dirichlet pieces such that for all (v, q)

    F(u, p; v, q) = ρ c(u; u, v) + μ(∇u, ∇v) − (p, ∇·v) − (q, ∇·u) − (f, v)
                    + Σ_K (ρ(u·∇)u − μΔu + ∇p − f, τ_K (u·∇)v)_K + Σ_K ργ_K (∇·u, ∇·v)_K = 0,

the last line only where the stabilisation is on. Everything is `NavierStokesSolver`'s: the spaces, the
boundary data (at a time t), the body force, the advection form (skew-symmetric for an enclosed flow,
convective with an outflow) and the SUPG/grad-div terms with the same τ_K and γ_K (`stabilization.py`), which
have no 1/Δt in them. So a steady state of the time march (uⁿ⁺¹ = uⁿ = uⁿ⁻¹, where u* = u and the BDF residual
vanishes) is a root of F, and the two agree to the march's stopping tolerance
(`tests/solvers/fem/test_navier_stokes_steady.py`). A steady benchmark then does not depend on a pseudo-time
step, and converges quadratically instead of at the slow rate of the flow's decay to steady state.

Newton: PETSc SNES (line search by backtracking), the exact Jacobian by UFL's Gâteaux derivative (through τ_K
and γ_K as well), each linear solve by MUMPS LU (the constant pressure of an enclosed flow as a null space, the
null pivot detected as in the time step), then ∫p = 0 for an enclosed flow.

Continuation: Newton's basin shrinks as the Reynolds number grows, so a solve that fails at ν from its guess
first solves at 2ν (recursively, down to `max_halvings` levels) and starts again from that solution; the
viscosities actually solved are returned. The same path reached Ghia's cavity at Re = 5000 from rest
(`benchmarks/cavity_ghia.py --steady`).

`stabilization="auto"` decides as the time march does, on the cell Reynolds number: a stage is stabilised when
the velocity it starts from, scaled to the stage's viscosity (|u|h/ν with that ν), or the solution it finds
exceeds the solver's limit; once on, it stays on for the later stages. The flow's time is frozen at `t` for
time-dependent boundary data and forces.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import dolfinx_solver  # noqa: F401  (must be imported before dolfinx)
import dolfinx
import dolfinx.fem.petsc
import numpy as np
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from surrolab.errors import SurrolabError, check_positive_int
from surrolab.solvers.fem.navier_stokes import (FlowState, NavierStokesSolver, galerkin_terms,
                                                stabilization_terms)
from surrolab.solvers.fem.stabilization import element_length

_PREFIX = itertools.count()


@dataclass(frozen=True)
class SteadySolution:
    """What `solve_steady` returns."""

    state: FlowState  # the steady (u, p) as dofs, at the frozen time t (previous_velocity = velocity)
    viscosities: tuple[float, ...]  # the continuation path, the target last
    newton_iterations: int  # summed over the stages
    residual: float  # ‖F‖ (Euclidean, dof vector) at the end
    stabilized: bool


class SteadyNavierStokes:
    """Newton's method for the steady problem of a `NavierStokesSolver` (module docstring). Built once; `solve`
    may be called for any viscosity and guess."""

    def __init__(self, solver: NavierStokesSolver, *, t: float = 0.0, rtol: float = 1e-10, atol: float = 1e-12,
                 max_iterations: int = 25):
        self.solver, self.t = solver, float(t)
        check_positive_int("max_iterations", max_iterations)
        mesh = solver.mesh
        self._mu = dolfinx.fem.Constant(mesh, PETSc.ScalarType(solver.viscosity))
        rho = dolfinx.fem.Constant(mesh, PETSc.ScalarType(solver.density))
        self._on = dolfinx.fem.Constant(mesh, PETSc.ScalarType(0.0))  # 1 where SUPG/grad-div are on
        self._up = dolfinx.fem.Function(solver.mixed_space)
        u, p = ufl.split(self._up)
        v, q = ufl.TestFunctions(solver.mixed_space)
        residual = galerkin_terms(u, u, p, v, q, rho, self._mu, solver.enclosed) * ufl.dx
        if solver.body_force is not None:
            residual -= ufl.inner(solver.body_force, v) * ufl.dx
        if solver.stabilization != "none":
            left, right = stabilization_terms(u, u, p, v, rho, self._mu, element_length(mesh, 2),
                                              force=solver.body_force)
            residual += self._on * (left - right if right is not None else left)
        solver.t.value = self.t
        for piece in solver._pieces:
            piece.update(self.t)
        options = {"snes_type": "newtonls", "snes_linesearch_type": "bt", "snes_rtol": rtol, "snes_atol": atol,
                   "snes_stol": 0.0, "snes_max_it": max_iterations, "ksp_type": "preonly", "pc_type": "lu"}
        if PETSc.Sys.hasExternalPackage("mumps"):
            options["pc_factor_mat_solver_type"] = "mumps"
        self._problem = dolfinx.fem.petsc.NonlinearProblem(
            residual, self._up, bcs=solver._bcs, petsc_options_prefix=f"surrolab_steady_{next(_PREFIX)}_",
            petsc_options=options)
        if PETSc.Sys.hasExternalPackage("mumps") and solver.enclosed:
            pc = self._problem.solver.getKSP().getPC()
            pc.setFactorSetUpSolverType()
            pc.getFactorMatrix().setMumpsIcntl(icntl=24, ival=1)  # detect the null pivot
            pc.getFactorMatrix().setMumpsIcntl(icntl=25, ival=0)  # and return one solution
        if solver.enclosed:
            self._problem.A.setNullSpace(solver._nullspace)

    def _newton(self, viscosity: float, start: np.ndarray, stabilized: bool) -> tuple[bool, int, float]:
        self._mu.value = viscosity
        self._on.value = 1.0 if stabilized else 0.0
        self._up.x.array[:] = start
        self._up.x.scatter_forward()
        snes = self._problem.solver
        self._problem.solve()
        finite = bool(np.all(np.isfinite(self._up.x.array)))
        return finite and snes.getConvergedReason() > 0, snes.getIterationNumber(), snes.getFunctionNorm()

    def _cell_reynolds(self, mixed: np.ndarray, viscosity: float) -> float:
        solver = self.solver
        return solver._cell_number(mixed[solver._velocity_dofs], viscosity / solver.density)

    def solve(self, guess: FlowState | None = None, *, viscosity: float | None = None,
              max_halvings: int = 12) -> SteadySolution:
        """The steady state at `viscosity` (the solver's when None) from `guess` (rest when None). If the
        continuation from a guess fails, it is tried once more from rest: a guess from a coarser mesh may lie
        on a branch of discrete solutions that folds before the target (seen: a 32² Re = 3200 cavity as the
        guess on 64² stalled at Re = 3064, while the path from rest reaches 3200)."""
        target = self.solver.viscosity if viscosity is None else viscosity
        if not (isinstance(target, (int, float)) and math.isfinite(target) and target > 0):
            raise SurrolabError(f"viscosity={target!r} is not allowed: it must be a finite number > 0")
        self._iterations = 0  # Newton iterations, a failed path from the guess included
        if guess is None:
            return self._continue(None, float(target), max_halvings)
        try:
            return self._continue(guess, float(target), max_halvings)
        except SurrolabError:
            return self._continue(None, float(target), max_halvings)

    def _continue(self, guess: FlowState | None, target: float, max_halvings: int) -> SteadySolution:
        solver = self.solver
        start = np.zeros_like(self._up.x.array)
        if guess is not None:
            start[solver._velocity_dofs] = guess.velocity
            start[solver._pressure_dofs] = guess.pressure
        auto = solver.stabilization == "auto"
        stabilized = solver.stabilization == "supg" or bool(guess is not None and guess.stabilized)
        path, norm = [], math.inf

        def attempt(viscosity: float, start: np.ndarray) -> np.ndarray | None:
            """Newton at `viscosity` from `start`: the solution's dofs, or None."""
            nonlocal stabilized, norm
            if auto and not stabilized:
                stabilized = self._cell_reynolds(start, viscosity) > solver.cell_reynolds_limit
            converged, count, norm = self._newton(viscosity, start, stabilized)
            self._iterations += count
            if converged and auto and not stabilized and \
                    self._cell_reynolds(self._up.x.array, viscosity) > solver.cell_reynolds_limit:
                stabilized = True  # the solution needs it: solve again, with it, from there
                converged, count, norm = self._newton(viscosity, self._up.x.array.copy(), stabilized)
                self._iterations += count
            if not converged:
                return None
            path.append(viscosity)
            return self._up.x.array.copy()

        # an easier problem that Newton solves from the guess: ν, 2ν, 4ν, ...
        known, mixed = float(target), None
        for _ in range(max_halvings + 1):
            mixed = attempt(known, start)
            if mixed is not None:
                break
            known *= 2.0
        if mixed is None:
            raise SurrolabError(f"Newton did not converge at viscosity {target:g}, nor from the guess at up to "
                                f"{known / 2:g} (2^{max_halvings} times it)")
        # then down to the target, in steps of the ratio that last worked, halved (in log ν) after a failure
        ratio = known / target
        while known > target:
            if ratio < 1.01:
                raise SurrolabError(f"continuation stalled at viscosity {known:g} on the way to {target:g}")
            trial = max(float(target), known / ratio)
            solution = attempt(trial, mixed)
            if solution is None:
                ratio = math.sqrt(ratio)
                continue
            known, mixed = trial, solution
        velocity = mixed[solver._velocity_dofs].copy()
        pressure = mixed[solver._pressure_dofs].copy()
        if solver.enclosed:
            solver._p.x.array[:] = pressure
            pressure -= solver._assemble(solver._pressure_integral) / solver._area
        state = FlowState(t=self.t, velocity=velocity, pressure=pressure, previous_velocity=velocity,
                          stabilized=stabilized)
        return SteadySolution(state, tuple(path), self._iterations, float(norm), stabilized)


def solve_steady(solver: NavierStokesSolver, guess: FlowState | None = None, *, t: float = 0.0,
                 **options) -> SteadySolution:
    """`SteadyNavierStokes(solver, t=t).solve(guess)`: the steady flow of the solver's problem."""
    return SteadyNavierStokes(solver, t=t).solve(guess, **options)


__all__ = ["SteadyNavierStokes", "SteadySolution", "solve_steady"]
