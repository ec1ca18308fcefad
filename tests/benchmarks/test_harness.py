import numpy as np

from surrolab.benchmarks.harness import SolverResult, _break_even, _matched, _mean_rel_l2, upsample


def test_upsampling_reproduces_bilinear_fields_exactly():
    coarse_axes = (np.linspace(0, 1, 5), np.linspace(0, 1, 5))
    fine_axes = (np.linspace(0, 1, 17), np.linspace(0, 1, 17))

    def field(x, y):
        return 1.0 + 2.0 * x - 3.0 * y + 0.5 * x * y

    coarse = field(*np.meshgrid(*coarse_axes, indexing="ij"))
    fine = field(*np.meshgrid(*fine_axes, indexing="ij"))
    out = upsample(np.stack([coarse, 2 * coarse])[None], coarse_axes, fine_axes)  # leading axes kept
    assert out.shape == (1, 2, 17, 17)
    np.testing.assert_allclose(out[0, 0], fine, atol=1e-12)
    np.testing.assert_allclose(out[0, 1], 2 * fine, atol=1e-12)


def test_matched_solver_is_the_cheapest_at_or_below_the_surrogate_error():
    solvers = [SolverResult("solver", 1, 1.0, 0.0), SolverResult("x2", 2, 0.3, 0.05),
               SolverResult("x4", 4, 0.1, 0.2), SolverResult("x8", 8, 0.05, 0.6),
               SolverResult("x16 (diverged)", 16, float("nan"), float("inf"))]
    assert _matched(solvers, 0.1) == (solvers[1], "matched")
    assert _matched(solvers, 0.25) == (solvers[2], "matched")
    assert _matched(solvers, 0.01) == (solvers[0], "matched")  # only the full solver is as accurate
    assert _matched(solvers, 0.9) == (solvers[3], "solver more accurate")  # even the coarsest beats it


def test_break_even_counts_queries_and_says_never_when_nothing_is_saved():
    assert _break_even(100.0, solver_s=2.0, model_s=1.0) == 100
    assert _break_even(100.5, solver_s=2.0, model_s=1.0) == 101
    assert _break_even(100.0, solver_s=1.0, model_s=1.0) is None
    assert _break_even(100.0, solver_s=1.0, model_s=2.0) is None


def test_rollout_error_is_space_time_relative_l2_and_the_curve_is_per_frame():
    rng = np.random.default_rng(0)
    true = rng.normal(size=(2, 4, 1, 8, 8))
    pred = true.copy()
    pred[:, 2] += 0.1 * true[:, 2]  # 10% error in one frame only
    total, curve = _mean_rel_l2(pred, true)
    np.testing.assert_allclose(curve, [0, 0, 0.1, 0], atol=1e-12)
    expected = np.mean([0.1 * np.linalg.norm(true[i, 2]) / np.linalg.norm(true[i]) for i in range(2)])
    np.testing.assert_allclose(total, expected, rtol=1e-12)


def test_grid_surrogates_are_not_charged_for_nodes_outside_the_fluid(tmp_path):
    """On a mesh dataset the grid nodes inside the cylinder hold no fluid: the prediction there is zeroed."""
    import torch

    from surrolab.benchmarks.harness import run_model
    from surrolab.datasets import schema
    from surrolab.datasets.dummy import write_tiny_mesh
    from surrolab.surrogates.base import Normalizer, build_model, dataset_signature, save_checkpoint

    path = write_tiny_mesh(tmp_path / "mesh.h5")
    with schema.open_dataset(path) as f:
        d = schema.read_description(f)
        idx = np.arange(int(f.attrs["n_samples"]))
        truth, params = schema.read_fields(f, d, idx), schema.read_parameters(f, d, idx)
        inside = schema.read_mask(f, idx)[:, None, None]
    normalizer = Normalizer(truth.mean(axis=(0, 1, 3, 4)), truth.std(axis=(0, 1, 3, 4)) + 1e-6,
                            params.mean(axis=0), params.std(axis=0) + 1e-6)
    assert not inside.all()  # the cylinders cover grid nodes
    torch.manual_seed(0)
    model = build_model("fno", d, history=1, modes=4, hidden_channels=4, n_layers=1)
    save_checkpoint(tmp_path / "model.pt", model, normalizer, dataset_signature(d))
    pred, *_ = run_model(tmp_path / "model.pt", d, truth, params, "cpu", inside)
    assert np.all(pred[np.broadcast_to(~inside, pred.shape)] == 0)
    assert np.any(pred[:, 1:][np.broadcast_to(inside, pred.shape)[:, 1:]] != 0)
