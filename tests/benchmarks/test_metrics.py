"""The error metrics against hand-computed values and the properties that define them."""
import numpy as np
import pytest

from surrolab.benchmarks import metrics
from surrolab.benchmarks.metrics import (
    METRICS, boundary_rmse, divergence, domain_boundary_mask, evaluate_all, fourier_band_rmse,
    max_error, nrmse, relative_l2, rmse, vrmse,
)
from surrolab.errors import SurrolabError

RNG = np.random.default_rng(0)


def test_hand_computed_values_on_four_points():
    true = np.array([1.0, 2.0, 3.0, 0.0])
    pred = np.array([1.0, 2.0, 3.0, 4.0])  # error (0, 0, 0, 4)
    assert rmse(pred, true, n_spatial=1) == pytest.approx(2.0)  # sqrt(16 / 4)
    assert max_error(pred, true, n_spatial=1) == pytest.approx(4.0)
    assert relative_l2(pred, true, n_spatial=1) == pytest.approx(4.0 / np.sqrt(14.0))
    assert nrmse(pred, true, n_spatial=1) == pytest.approx(4.0 / np.sqrt(14.0))
    # mean(true) = 1.5, spatial variance = (0.25 + 0.25 + 2.25 + 2.25) / 4 = 1.25
    assert vrmse(pred, true, n_spatial=1) == pytest.approx(np.sqrt(4.0 / (1.25 + 1e-7)), rel=1e-14)


def test_hand_computed_values_per_row_in_2d():
    true = np.array([[[1.0, -1.0], [1.0, -1.0]], [[2.0, 0.0], [0.0, 0.0]]])  # batch of 2, 2x2 grid
    pred = true + np.array([[[0.0, 0.0], [0.0, 2.0]], [[1.0, 1.0], [1.0, 1.0]]])
    np.testing.assert_allclose(rmse(pred, true, n_spatial=2), [1.0, 1.0])
    np.testing.assert_allclose(max_error(pred, true, n_spatial=2), [2.0, 1.0])
    np.testing.assert_allclose(relative_l2(pred, true, n_spatial=2), [1.0, 1.0])  # 2/2 and 2/2


def test_relative_l2_is_scale_invariant():
    true, pred = RNG.normal(size=(3, 32, 32)), RNG.normal(size=(3, 32, 32))
    reference = relative_l2(pred, true, n_spatial=2)
    for c in (1e-6, 0.3, 7.0, 1e5):
        np.testing.assert_allclose(relative_l2(c * pred, c * true, n_spatial=2), reference, rtol=1e-12)


def test_nrmse_equals_rmse_over_rms_of_truth():
    true, pred = RNG.normal(size=(4, 50)), RNG.normal(size=(4, 50))
    rms_true = np.sqrt(np.mean(true**2, axis=-1))
    np.testing.assert_allclose(nrmse(pred, true, n_spatial=1), rmse(pred, true, n_spatial=1) / rms_true)


def test_relative_l2_of_zero_truth_is_finite():
    zero = np.zeros(8)
    assert relative_l2(zero, zero, n_spatial=1) == 0.0
    assert np.isfinite(relative_l2(np.ones(8), zero, n_spatial=1))


def test_vrmse_of_predicting_the_spatial_mean_is_one():
    true = 5.0 + 3.0 * RNG.normal(size=(2, 3, 16, 16))  # offset and scale must not matter
    pred = np.broadcast_to(true.mean(axis=(-2, -1), keepdims=True), true.shape)
    np.testing.assert_allclose(vrmse(pred, true, n_spatial=2, eps=0.0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(vrmse(pred, true, n_spatial=2), 1.0, rtol=1e-7)  # eps=1e-7 vs variance 9


def test_perfect_prediction_scores_zero_everywhere():
    true = RNG.normal(size=(2, 3, 16, 16))
    results = evaluate_all(true, true.copy(), domain_boundary_mask((16, 16)), n_spatial=2)
    assert set(results) == set(METRICS) | {"fourier_low", "fourier_mid", "fourier_high", "boundary_rmse"}
    for name, value in results.items():
        np.testing.assert_array_equal(value, 0.0, err_msg=name)


def test_leading_axes_are_kept_and_samples_are_independent():
    true, pred = RNG.normal(size=(3, 5, 16, 16)), RNG.normal(size=(3, 5, 16, 16))  # (batch, time, y, x)
    results = evaluate_all(pred, true, domain_boundary_mask((16, 16)), n_spatial=2)
    for name, value in results.items():
        assert value.shape == (3, 5), name
    one = evaluate_all(pred[1, 4], true[1, 4], domain_boundary_mask((16, 16)), n_spatial=2)
    for name, value in one.items():
        assert value.shape == (), name
        assert value == pytest.approx(results[name][1, 4], rel=1e-12), name


def test_boundary_rmse_ignores_interior_errors():
    true = RNG.normal(size=(2, 8, 8))
    mask = domain_boundary_mask((8, 8))
    assert mask.sum() == 28 and not mask[1:-1, 1:-1].any()
    interior_error = true.copy()
    interior_error[:, 1:-1, 1:-1] += 100.0
    np.testing.assert_array_equal(boundary_rmse(interior_error, true, mask), 0.0)
    boundary_error = true.copy()
    boundary_error[:, 0, :] += 2.0  # 8 of the 28 boundary nodes are off by 2
    np.testing.assert_allclose(boundary_rmse(boundary_error, true, mask), np.sqrt(8 * 4.0 / 28))


def test_domain_boundary_mask_in_1d_and_3d():
    np.testing.assert_array_equal(domain_boundary_mask((5,)), [True, False, False, False, True])
    assert domain_boundary_mask((4, 5, 6)).sum() == 4 * 5 * 6 - 2 * 3 * 4


def _sine(n, wavevector):
    """sin(2 pi k . x) on an n^d periodic grid, x_i = j / n."""
    x = np.meshgrid(*([np.arange(n) / n] * len(wavevector)), indexing="ij")
    return np.sin(2 * np.pi * sum(k * x_i for k, x_i in zip(wavevector, x)))


@pytest.mark.parametrize("wavevector, band", [
    ((2,), "low"), ((8,), "mid"), ((20,), "high"),
    ((2, 0), "low"), ((0, 8), "mid"), ((20, 0), "high"), ((3, 3), "low"), ((6, 6), "mid"), ((10, 10), "high"),
    ((2, 0, 0), "low"), ((0, 0, 8), "mid"), ((0, 20, 0), "high"),
    ((4, 2, 1), "low"), ((12, 4), "mid"),  # |k| = 4.58, 12.65: the radial index is floor(|k|), not round
])
def test_a_pure_sine_error_lands_in_one_band(wavevector, band):
    error = _sine(64 if len(wavevector) < 3 else 48, wavevector)
    true = RNG.normal(size=error.shape)
    bands = fourier_band_rmse(true + error, true, n_spatial=len(wavevector))
    for name, value in bands.items():
        if name == band:
            assert value == pytest.approx(np.sqrt(0.5), rel=1e-12)  # RMS of a unit sine
        else:
            assert value == pytest.approx(0.0, abs=1e-12), name


@pytest.mark.parametrize("shape, n_spatial", [((4, 64), 1), ((2, 3, 64, 64), 2), ((24, 20, 28), 3),
                                              ((1, 18, 24, 31), 3)])
def test_fourier_bands_satisfy_parseval(shape, n_spatial):
    true, pred = RNG.normal(size=shape), RNG.normal(size=shape)
    bands = fourier_band_rmse(pred, true, n_spatial=n_spatial)
    total = sum(value**2 for value in bands.values())
    np.testing.assert_allclose(total, rmse(pred, true, n_spatial=n_spatial) ** 2, rtol=1e-12)
    assert all(np.all(value > 0) for value in bands.values())  # white noise reaches every band


def test_fourier_band_subset_and_unknown_band():
    true, pred = RNG.normal(size=64), RNG.normal(size=64)
    assert set(fourier_band_rmse(pred, true, bands=("mid",), n_spatial=1)) == {"mid"}
    with pytest.raises(SurrolabError, match="available: low, mid, high"):
        fourier_band_rmse(pred, true, bands=("ultra",), n_spatial=1)


def test_bad_shapes_are_rejected():
    with pytest.raises(SurrolabError, match="must match"):
        rmse(np.zeros((2, 8)), np.zeros((2, 9)), n_spatial=1)
    with pytest.raises(SurrolabError, match="n_spatial"):
        rmse(np.zeros((2, 8)), np.zeros((2, 8)), n_spatial=3)
    with pytest.raises(SurrolabError, match="spatial shape"):
        boundary_rmse(np.zeros((2, 8)), np.zeros((2, 8)), domain_boundary_mask((9,)))
    with pytest.raises(SurrolabError, match="n_spatial"):
        evaluate_all(np.zeros((2, 8, 8)), np.zeros((2, 8, 8)), domain_boundary_mask((8,)), n_spatial=2)


def _taylor_green(n):
    """u = (sin x cos y, -cos x sin y) on [0, 2 pi]^2 with n nodes per side: analytically div u = 0."""
    x = np.linspace(0.0, 2 * np.pi, n)
    X, Y = np.meshgrid(x, x, indexing="ij")
    return np.stack([np.sin(X) * np.cos(Y), -np.cos(X) * np.sin(Y)]), x[1] - x[0]


def test_divergence_of_a_divergence_free_field_is_truncation_error():
    errors = []
    for n in (33, 65, 129):
        field, h = _taylor_green(n)
        div = divergence(field, (h, h))
        assert div.shape == (n, n)
        np.testing.assert_allclose(div[1:-1, 1:-1], 0.0, atol=1e-12)  # central differences cancel exactly
        errors.append(np.max(np.abs(div)))  # the one-sided edges leave O(h^2)
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    np.testing.assert_allclose(orders, 2.0, atol=0.15)


def test_divergence_of_known_fields_with_leading_axes():
    x, y, z = np.linspace(0, 1, 11), np.linspace(-1, 2, 7), np.linspace(0, 3, 5)
    X, Y = np.meshgrid(x, y, indexing="ij")
    field = np.stack([X**2, 3 * Y + X * Y])  # div = 2x + 3 + x, exact for quadratics
    batch = np.stack([field, 2 * field])  # (batch=2, components=2, 11, 7)
    div = divergence(batch, (x[1] - x[0], y[1] - y[0]))
    assert div.shape == (2, 11, 7)
    np.testing.assert_allclose(div[0], 3 * X + 3, atol=1e-12)
    np.testing.assert_allclose(div[1], 6 * X + 6, atol=1e-12)
    X, Y, Z = np.meshgrid(x, y, z, indexing="ij")
    div3 = divergence(np.stack([X * Y, Y**2, -Z * X]), [x[1] - x[0], y[1] - y[0], z[1] - z[0]])
    np.testing.assert_allclose(div3, Y + 2 * Y - X, atol=1e-12)
    with pytest.raises(SurrolabError, match="spacing"):
        divergence(field, (0.1, 0.1, 0.1))


def test_registry_holds_the_pred_true_metrics():
    assert set(METRICS) == {"relative_l2", "nrmse", "rmse", "max_error", "vrmse"}
    assert METRICS["nrmse"] is metrics.nrmse


def test_integral_drift_sees_a_change_of_the_integral_and_not_of_the_shape():
    from surrolab.benchmarks.metrics import integral_drift

    x = np.linspace(0.0, 1.0, 33)
    xx, yy = np.meshgrid(x, x, indexing="ij")
    # the cosine modes integrate to zero: adding them moves no mass
    frames = np.stack([1.0 + t * np.cos(np.pi * xx) * np.cos(2 * np.pi * yy) for t in range(4)])
    np.testing.assert_allclose(integral_drift(frames, (x, x)), 0.0, atol=1e-12)
    grown = np.stack([frames[0], 1.05 * frames[0], 0.9 * frames[0]])[None]  # leading axis kept
    np.testing.assert_allclose(integral_drift(grown, (x, x)), [0.1], rtol=1e-12)
