"""The stacked convolutional DAE (Vincent 2010): any input size, layer autoencoders, parameter count."""

from __future__ import annotations

import pytest
import torch

from meddenoise.models.registry import build_model
from meddenoise.models.stacked import StackedConvDAE


@pytest.mark.parametrize("shape", [(1, 1, 64, 64), (2, 1, 33, 47), (1, 1, 5, 3), (3, 1, 1, 9)])
def test_any_size_maps_to_the_same_shape_in_unit_range(shape: tuple[int, ...]) -> None:
    model = build_model("stacked-dae", channels=[8, 8, 8])
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape and float(y.min()) >= 0.0 and float(y.max()) <= 1.0


def test_parameter_count_and_layer_structure() -> None:
    model = StackedConvDAE(channels=(64, 64))
    # enc 1→64, 64→64; dec 64→64, 64→1 (3x3 convolutions with biases)
    expected = (9 * 64 + 64) + (9 * 64 * 64 + 64) + (9 * 64 * 64 + 64) + (9 * 64 + 1)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model.num_layers == 2 and model.multiple == 4
    x = torch.rand(2, 1, 16, 16)
    with torch.no_grad():
        code1 = model.encode(x, 1)
    assert code1.shape == (2, 64, 8, 8) and float(code1.min()) >= 0
    assert model.layer_autoencoder(1, code1).shape == code1.shape
    assert model.layer_autoencoder(0, model.encode(x, 0)).shape == x.shape
    names = {id(p) for p in model.layer_parameters(1)}
    assert names == {id(p) for p in [*model.encoders[1].parameters(), *model.decoders[1].parameters()]}


def test_bad_channels() -> None:
    with pytest.raises(ValueError, match="channels"):
        StackedConvDAE(channels=())


def test_fused_decoder_equals_upsample_then_convolve() -> None:
    import torch.nn.functional as F

    model = StackedConvDAE(channels=(4, 6))
    code = torch.rand(2, 6, 5, 7, generator=torch.Generator().manual_seed(1))
    conv = model.decoders[1].conv
    expected = F.relu(conv(F.interpolate(code, scale_factor=2, mode="nearest")))
    with torch.no_grad():
        torch.testing.assert_close(model.decoders[1](code), expected, rtol=1e-5, atol=1e-6)
    assert isinstance(build_model("stacked-dae"), StackedConvDAE)
