import neuralop
import torch

from surrolab.surrogates.base import Normalizer
from surrolab.surrogates.fno import FNOSurrogate
from surrolab.surrogates.rollout import rollout


def small_fno(**kw):
    torch.manual_seed(0)
    args = dict(n_channels=2, n_parameters=3, spatial_shape=(16, 16), history=2, modes=6, hidden_channels=8,
                n_layers=2)
    return FNOSurrogate(**{**args, **kw})


def test_it_is_neuraloperators_fno_and_shapes_follow_the_contract():
    model = small_fno(horizon=3)
    assert isinstance(model.fno, neuralop.models.FNO)
    out = model(torch.randn(4, 2, 2, 16, 16), torch.randn(4, 3))
    assert out.shape == (4, 3, 2, 16, 16)


def test_every_parameter_receives_a_gradient():
    model = small_fno()
    model(torch.randn(2, 2, 2, 16, 16), torch.randn(2, 3)).pow(2).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert missing == []


def test_output_depends_on_the_pde_parameters():
    model = small_fno()
    x = torch.randn(1, 2, 2, 16, 16)
    assert not torch.allclose(model(x, torch.zeros(1, 3)), model(x, torch.ones(1, 3)))


def test_periodic_shift_equivariance_without_padding_or_coordinates():
    """FNO's defining property: spectral convolutions commute with periodic shifts."""
    model = small_fno(domain_padding=0.0, positional_embedding=False)
    x, p = torch.randn(1, 2, 2, 16, 16), torch.randn(1, 3)
    shifted = model(torch.roll(x, shifts=(3, 5), dims=(-2, -1)), p)
    torch.testing.assert_close(shifted, torch.roll(model(x, p), shifts=(3, 5), dims=(-2, -1)), rtol=1e-4, atol=1e-5)
    # with the grid coordinates appended (the default) the model is deliberately not shift-equivariant
    located = small_fno(domain_padding=0.0)
    assert not torch.allclose(located(torch.roll(x, 3, -1), p), torch.roll(located(x, p), 3, -1), atol=1e-3)


class Oracle(FNOSurrogate):
    """Returns the true next frame: a rollout driven by it must reproduce the data (LagrangeBench)."""

    def __init__(self, truth_normalised, **kw):
        super().__init__(**kw)
        self.truth, self.step = truth_normalised, 0

    def forward(self, frames, parameters):
        t = self.history + self.step
        self.step += 1
        return self.truth[:, t:t + 1]


def test_oracle_rollout_reproduces_the_trajectory():
    truth = torch.randn(1, 7, 2, 16, 16) * 3 + 1
    norm = Normalizer(torch.tensor([1.0, 0.5]), torch.tensor([3.0, 2.0]), torch.zeros(3), torch.ones(3))
    oracle = Oracle(norm.encode_fields(truth, 2), n_channels=2, n_parameters=3, spatial_shape=(16, 16),
                    history=2, modes=6, hidden_channels=8, n_layers=1)
    out = rollout(oracle, norm, truth[:, :2], torch.zeros(1, 3), 7)
    torch.testing.assert_close(out, truth, rtol=1e-6, atol=1e-5)
