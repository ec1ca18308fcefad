"""The MPM solver against analytic solutions and experiments: small versions of
`benchmarks/mpm_validation.py` (which has the full studies and the references)."""
import math

import numpy as np
import pytest

from surrolab.benchmarks.mpm_validation import (BAR_TOLERANCE, RUNOUT_TOLERANCE, SLOPE_TOLERANCE, YIELD_TOLERANCE,
                                                bar_frequency, column_collapse, compression_test, law_yield_curve,
                                                runout_scaling)
from surrolab.solvers.mpm.materials import VonMises

PLASTICINE = VonMises(youngs_modulus=3.0e5, poisson_ratio=0.25, yield_stress=5.0e3, density=1.0e3)


@pytest.mark.parametrize("dim", [2, 3])
def test_bar_first_mode_frequency_converges_at_second_order(dim):
    """Free–free bar with ν = 0: f = √(E/ρ)/(2L); error −0.40% at L/Δx = 16, −0.10% at 32 (order 2), the
    same in 2D and 3D."""
    coarse, fine = bar_frequency(16, dim=dim), bar_frequency(32, dim=dim)
    assert abs(fine.error) < BAR_TOLERANCE
    assert math.log(abs(coarse.error) / abs(fine.error), 2) > 1.5


def test_column_collapse_runout_and_rest():
    """a = 1 sand column, 16 cells across, Coulomb floor μ = tan φ: runout (L∞ − L₀)/L₀ against 1.2a (Lube et
    al. 2005; Lajeunesse et al. 2005) within 30% (observed +4%; +9% at 32 cells), and the deposit comes to
    rest: kinetic energy a tiny fraction of the initial potential energy, the top has come down."""
    run = column_collapse(1.0, cells=16)
    assert abs(run.runout / runout_scaling(1.0) - 1) < RUNOUT_TOLERANCE
    assert run.t_end < 2.0 and run.kinetic_ratio < 1e-3
    assert not run.reached_wall
    assert 0.5 < run.final_height < 1.0


@pytest.mark.parametrize("dim, strain", [(3, 0.05), (3, -0.05), (2, 0.05)])
def test_von_mises_law_uniaxial_stress(dim, strain):
    """The law alone along a uniaxial-stress path: slope E (3D; E/(1−ν²) in 2D) and plateau σ_y (2D and 3D)
    of the Cauchy stress."""
    curve = law_yield_curve(PLASTICINE, dim, strain)
    assert curve.slope() == pytest.approx(curve.expected_slope, rel=0.01)
    mean, low, high = curve.plateau()
    assert low > (1 - YIELD_TOLERANCE) * curve.expected_plateau
    assert high < (1 + YIELD_TOLERANCE) * curve.expected_plateau
    assert np.sign(curve.curve[-1, 1]) == np.sign(strain)


def test_von_mises_cube_between_plates_plateaus_at_yield_stress():
    """3D MPM cube (6³ cells) squeezed between frictionless plates: the mean axial stress rises with slope E
    and plateaus at −σ_y."""
    curve = compression_test(PLASTICINE, cells=6, n_grid=24)
    assert curve.slope() == pytest.approx(curve.expected_slope, rel=SLOPE_TOLERANCE)
    mean, low, high = curve.plateau()
    assert mean == pytest.approx(PLASTICINE.yield_stress, rel=YIELD_TOLERANCE)
    assert low > (1 - 2 * YIELD_TOLERANCE) * PLASTICINE.yield_stress
    assert high < (1 + 2 * YIELD_TOLERANCE) * PLASTICINE.yield_stress
    assert np.all(curve.curve[-10:, 1] < 0)  # compression
