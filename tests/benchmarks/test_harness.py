import numpy as np

from dataclasses import dataclass

import pytest

from surrolab.benchmarks.harness import (GridScoring, SolverResult, _break_even, _matched, initial_states,
                                         rollout_errors, run_solvers, upsample)
from surrolab.datasets.schema import DatasetDescription
from surrolab.errors import SurrolabError
from surrolab.solvers.problem import ParameterSpec
from surrolab.solvers.trajectory import FieldSpec, GridGeometry, Trajectory


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
    err = rollout_errors(pred, true, {"u": slice(0, 1)}, np.ones((2, 8, 8), dtype=bool))
    np.testing.assert_allclose(err.curve, [0, 0, 0.1, 0], atol=1e-12)
    expected = np.mean([0.1 * np.linalg.norm(true[i, 2]) / np.linalg.norm(true[i]) for i in range(2)])
    np.testing.assert_allclose(err.total, expected, rtol=1e-12)
    assert err.per_field == {"u": pytest.approx(expected, rel=1e-12)}


def test_a_vector_field_is_one_error_and_fields_in_other_units_are_not_added():
    """velocity (2 channels) and pressure: the velocity error is that of the vector, over both components;
    the headline is the mean over the fields, so a pressure in kPa instead of Pa changes nothing."""
    rng = np.random.default_rng(1)
    true = rng.normal(size=(1, 3, 3, 10, 10))  # channels: velocity_x, velocity_y, pressure
    pred = true.copy()
    pred[:, :, 0] += 0.2 * true[:, :, 1]  # an error in the x component only
    fields = {"velocity": slice(0, 2), "pressure": slice(2, 3)}
    inside = np.ones((1, 10, 10), dtype=bool)
    err = rollout_errors(pred, true, fields, inside)
    velocity = 0.2 * np.linalg.norm(true[0, :, 1]) / np.linalg.norm(true[0, :, :2])
    np.testing.assert_allclose(err.per_field["velocity"], velocity, rtol=1e-12)
    assert err.per_field["pressure"] == 0.0
    np.testing.assert_allclose(err.total, velocity / 2, rtol=1e-12)
    rescale = np.array([1.0, 1.0, 1e-3])[None, None, :, None, None]  # pressure in kPa
    np.testing.assert_allclose(rollout_errors(pred * rescale, true * rescale, fields, inside).total, err.total,
                               rtol=1e-12)


def test_nodes_outside_the_fluid_never_count():
    rng = np.random.default_rng(2)
    true, pred = rng.normal(size=(2, 3, 3, 12, 12)), rng.normal(size=(2, 3, 3, 12, 12))
    inside = np.zeros((2, 12, 12), dtype=bool)
    inside[0, 2:9, 1:7], inside[1, 3:, :10] = True, True  # a different fluid per sample
    fields = {"velocity": slice(0, 2), "pressure": slice(2, 3)}
    err = rollout_errors(pred, true, fields, inside)
    moved = pred + 100.0 * ~inside[:, None, None]  # change the prediction everywhere outside
    moved_true = true - 7.0 * ~inside[:, None, None]  # and the truth too: outside is no one's business
    again = rollout_errors(moved, moved_true, fields, inside)
    assert again == err
    inner = pred + 0.5 * inside[:, None, None]
    assert rollout_errors(inner, true, fields, inside).total > err.total  # inside, a change does count


# -- the solver runs: a toy problem with a known error per resolution --------------------------------
@dataclass(frozen=True)
class ToyConfig:
    resolution: int = 8
    substeps: int = 4
    t_end: float = 1.0
    n_frames: int = 3


class ToyDecay:
    """u(t) = u0 exp(-k t) on the nodes of a grid, with an error of (1/resolution)^2 t (a second-order scheme);
    coarsening by 4 goes past a 'stability limit' (non-finite values), by 8 is refused."""

    name, geometry_type = "toy", "grid"

    def grid(self, config):
        return GridGeometry(axes=(np.linspace(0, 1, config.resolution + 1),) * 2)

    def coarsen(self, config, factor):
        if config.substeps % factor:
            raise SurrolabError(f"cannot coarsen by factor={factor}: substeps={config.substeps} is not divisible by it")
        return ToyConfig(resolution=config.resolution // factor, substeps=config.substeps // factor)

    def solve(self, config, params, initial_state):
        t = np.linspace(0, config.t_end, config.n_frames)[:, None, None]
        u = initial_state["u"][None] * np.exp(-params["k"] * t) + t / config.resolution**2
        if config.substeps == 1:
            u = u * np.inf
        return Trajectory(times=t.ravel(), fields={"u": u}, geometry=self.grid(config))


def test_solver_runs_refused_or_diverged_are_reported_not_raised():
    problem, config = ToyDecay(), ToyConfig()
    geometry = problem.grid(config)
    description = DatasetDescription(problem="toy", fields=(FieldSpec("u", "1"),),
                                     parameters=(ParameterSpec("k", "1/s", 0.5, 2.0, 1.0, 0.0, 10.0),),
                                     geometry=geometry, times=np.linspace(0, 1, 3))
    X, Y = np.meshgrid(*geometry.axes, indexing="ij")
    params = np.array([[1.0], [2.0]])
    u0 = np.stack([1 + X + Y, 2 - X * Y])  # bilinear: the coarse grid's linear interpolation is exact for it
    t = np.linspace(0, 1, 3)[None, :, None, None, None]
    truth = (u0[:, None, None] * np.exp(-params[:, 0, None, None, None, None] * t)).astype(np.float32)
    inside = np.ones((2, 9, 9), dtype=bool)
    initial = initial_states(problem, description, truth[:, 0], inside, 0, np.arange(2))
    results = run_solvers(problem, config, description, GridScoring(description, truth, inside), params, (2, 4, 8),
                          initial)
    assert [r.factor for r in results] == [1, 2, 4, 8]
    full, half, unstable, refused = results
    # the toy's own error, (1/8)^2 t, against float32 storage; then 4 times that at half the resolution
    expected = [rollout_errors(truth[:, 1:] + t[:, 1:] / n**2, truth[:, 1:], {"u": slice(0, 1)}, inside).total
                for n in (8, 4)]
    np.testing.assert_allclose(full.rollout_rel_l2, expected[0], rtol=1e-5)
    np.testing.assert_allclose(half.rollout_rel_l2, expected[1], rtol=1e-5)
    assert unstable.note.startswith("diverged") and unstable.rollout_rel_l2 == np.inf
    assert refused.note.startswith("unavailable") and "not divisible" in refused.note
    assert not unstable.error_curve and not refused.error_curve


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
    pred = run_model(tmp_path / "model.pt", d, truth, params, "cpu", inside).prediction
    assert np.all(pred[np.broadcast_to(~inside, pred.shape)] == 0)
    assert np.any(pred[:, 1:][np.broadcast_to(inside, pred.shape)[:, 1:]] != 0)


def test_a_masked_rollout_feeds_the_model_zero_outside_the_domain_as_in_its_data():
    """A model that adds one (normalised) unit per step: inside the mask it keeps adding; outside, the
    rollout resets every predicted frame to physical 0, which the model then sees as its input."""
    import torch

    from surrolab.surrogates.base import Normalizer
    from surrolab.surrogates.rollout import rollout

    class AddOne(torch.nn.Module):
        history, horizon = 1, 1

        def forward(self, frames, parameters):
            return frames[:, -1:] + 1.0

    normalizer = Normalizer([0.5, -2.0], [2.0, 4.0], [0.0], [1.0])  # zero is not zero in normalised units
    start = torch.zeros(1, 1, 2, 6, 5)
    mask = torch.zeros(1, 1, 1, 6, 5, dtype=torch.bool)
    mask[..., 1:4, 2:] = True
    out = rollout(AddOne(), normalizer, start, torch.zeros(1, 1), 4, mask)
    steps = torch.arange(4.0).reshape(1, 4, 1, 1, 1)
    std = normalizer.field_std.reshape(1, 1, 2, 1, 1)
    inside = mask.expand_as(out)
    torch.testing.assert_close(out[inside], (steps * std).expand_as(out)[inside])
    assert out[~inside].abs().max() < 1e-6  # reset to 0 each step, so nothing accumulates there
    free = rollout(AddOne(), normalizer, start, torch.zeros(1, 1), 4)
    torch.testing.assert_close(free, (steps * std).expand_as(out))  # without a mask: everywhere
