import pytest
import torch

from surrolab.errors import SurrolabError
from surrolab.surrogates.conv_blocks import CircularInterpolate
from surrolab.surrogates.unet import UNetSurrogate


def small_unet(**kw):
    torch.manual_seed(0)
    args = dict(n_channels=2, n_parameters=3, spatial_shape=(16, 16), history=2, hidden_channels=8,
                channel_multipliers=(1, 2))
    return UNetSurrogate(**{**args, **kw})


@pytest.mark.parametrize("shape", [(16, 16), (33, 33), (13, 21)])
def test_odd_grids_are_padded_and_cropped_back(shape):
    """Sides that are not multiples of 2^levels (here 8): padded inside, the output has the input's grid."""
    model = small_unet(spatial_shape=shape, horizon=3, channel_multipliers=(1, 2, 2))
    out = model(torch.randn(2, 2, 2, *shape), torch.randn(2, 3))
    assert out.shape == (2, 3, 2, *shape)
    assert torch.isfinite(out).all()


def test_every_parameter_receives_a_gradient():
    for down, up in (("conv", "transpose"), ("avgpool", "bicubic")):
        model = small_unet(down=down, up=up, n_blocks=2)
        model(torch.randn(2, 2, 2, 16, 16), torch.randn(2, 3)).pow(2).sum().backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
        assert missing == []


def test_output_depends_on_the_pde_parameters_and_predicts_the_frame_or_the_change():
    model = small_unet()
    assert model.predict_difference is False  # PDEArena's target: the next frame itself
    with torch.no_grad():
        model.project.weight.zero_()
        model.project.bias.zero_()
    torch.testing.assert_close(model(torch.randn(1, 2, 2, 16, 16), torch.zeros(1, 3)), torch.zeros(1, 1, 2, 16, 16))
    model = small_unet(predict_difference=True)
    x = torch.randn(1, 2, 2, 16, 16)
    assert not torch.allclose(model(x, torch.zeros(1, 3)), model(x, torch.ones(1, 3)))
    with torch.no_grad():
        model.project.weight.zero_()
        model.project.bias.zero_()
    torch.testing.assert_close(model(x, torch.zeros(1, 3)), x[:, -1:])  # zero change: the last frame


@pytest.mark.parametrize("down,up", [("conv", "transpose"), ("avgpool", "bicubic"), ("maxpool", "bilinear")])
def test_circular_padding_commutes_with_periodic_shifts_by_multiples_of_the_coarsest_cell(down, up):
    model = small_unet(padding_mode="circular", down=down, up=up, channel_multipliers=(1, 2, 2)).eval()
    x, p = torch.randn(2, 2, 2, 16, 24), torch.randn(2, 3)
    shift = (8, 16)  # 2^3 = 8 cells: every level sees a whole-cell shift
    with torch.no_grad():
        shifted = model(torch.roll(x, shift, dims=(-2, -1)), p)
        expected = torch.roll(model(x, p), shift, dims=(-2, -1))
    torch.testing.assert_close(shifted, expected, atol=1e-5, rtol=1e-5)
    with torch.no_grad():  # zero padding breaks it: the property is the padding's, not a coincidence
        zero = small_unet(down=down, up=up, channel_multipliers=(1, 2, 2)).eval()
        assert not torch.allclose(zero(torch.roll(x, shift, dims=(-2, -1)), p),
                                  torch.roll(zero(x, p), shift, dims=(-2, -1)), atol=1e-3)


def test_circular_bicubic_upsampling_is_exact_for_periodic_data():
    """Wrap-padded interpolation equals interpolating three tiled copies and keeping the middle one."""
    x = torch.randn(1, 3, 6, 10)
    tiled = torch.nn.functional.interpolate(x.repeat(1, 1, 3, 3), scale_factor=2, mode="bicubic")
    torch.testing.assert_close(CircularInterpolate("bicubic")(x), tiled[..., 12:24, 20:40])


def test_constructor_rebuilds_the_same_model_and_bad_settings_are_named():
    model = small_unet()
    rebuilt = UNetSurrogate(**model.constructor)
    rebuilt.load_state_dict(model.state_dict())
    x, p = torch.randn(1, 2, 2, 16, 16), torch.randn(1, 3)
    torch.testing.assert_close(rebuilt(x, p), model(x, p))
    with pytest.raises(SurrolabError, match="padding_mode='reflect'"):
        small_unet(padding_mode="reflect")
    with pytest.raises(SurrolabError, match="up='cubic'"):
        small_unet(up="cubic")
