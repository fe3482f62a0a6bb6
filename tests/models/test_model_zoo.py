"""Every registered model: output shapes for odd sizes, parameter counts, seeded determinism, sources."""

from __future__ import annotations

import sys

import pytest
import torch

from meddenoise.models import MODEL_REGISTRY, build_model

# Small configurations keep the deep models fast in tests; the defaults are checked for parameter counts.
SMALL = {
    "gondara-dae": {"filters": 16},
    "conv-ae": {"filters": 16},
    "rednet": {"depth": 6, "width": 16},
    "redcnn": {"width": 8},
    "dncnn": {"depth": 5, "width": 16},
    "unet": {"channels": (8, 16, 32), "blocks": 1},
    "ffdunet": {"preset": "fast"},
}
# The training helper's stacked-dae is tested in its own area.
OWN_MODELS = sorted(name for name in MODEL_REGISTRY if name != "stacked-dae")


def small_model(name: str) -> torch.nn.Module:
    return build_model(name, **SMALL.get(name, {}))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gondara-dae", 112_001),
        ("dense-ae", 101_200),
        ("conv-ae-transpose", 28_353),
        ("conv-ae", 296_449),
        ("redcnn", 1_848_865),  # Chen 2017: 2,496 + 4 x 230,496 (conv) + 4 x 230,496 + 2,401 (deconv)
    ],
)
def test_parameter_counts_match_the_papers(name: str, expected: int) -> None:
    model = build_model(name)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert f"{expected:,} parameters" in model.describe()


@pytest.mark.parametrize("name", [n for n in OWN_MODELS if n != "dense-ae"])
@pytest.mark.parametrize("size", [(65, 63), (3, 5), (64, 64)])
def test_fully_convolutional_models_keep_any_size(name: str, size: tuple[int, int]) -> None:
    model = small_model(name).eval()
    x = torch.rand(2, 1, *size)
    with torch.inference_mode():
        y = model(x)
    assert y.shape == x.shape
    assert y.dtype == torch.float32
    assert torch.isfinite(y).all()
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


def test_dense_ae_shapes_and_refuses_other_sizes() -> None:
    model = build_model("dense-ae")
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 1, 28, 28)
    with pytest.raises(ValueError, match="28x28"):
        model(torch.rand(1, 1, 32, 32))


@pytest.mark.parametrize("name", OWN_MODELS)
def test_bad_input_shape_is_refused_with_a_clear_error(name: str) -> None:
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        small_model(name)(torch.rand(1, 3, 28, 28))


@pytest.mark.parametrize("name", OWN_MODELS)
def test_same_seed_gives_same_initial_weights(name: str) -> None:
    torch.manual_seed(7)
    first = small_model(name).state_dict()
    torch.manual_seed(7)
    second = small_model(name).state_dict()
    torch.manual_seed(8)
    third = small_model(name).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert any(not torch.equal(first[k], third[k]) for k in first if first[k].is_floating_point())


@pytest.mark.parametrize("name", OWN_MODELS)
def test_every_model_cites_its_source(name: str) -> None:
    model = small_model(name)
    module_doc = sys.modules[type(model).__module__].__doc__ or ""
    assert model.source
    assert model.source.split()[0].strip("',") in module_doc
    assert model.multiple >= 1


@pytest.mark.parametrize("name", sorted(MODEL_REGISTRY))
def test_under_bf16_autocast_only_the_image_layer_computes_in_float32(name: str) -> None:
    # the declared image layer is the first layer to run and, at inference under bf16 autocast, the only
    # convolution / linear layer whose output is float32 (models._common.input_layer); the rest stay bf16
    torch.manual_seed(0)
    model = build_model(name, **SMALL.get(name, {})).eval()
    calls: list[tuple[torch.nn.Module, torch.dtype]] = []
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d | torch.nn.ConvTranspose2d | torch.nn.Linear):
            module.register_forward_hook(lambda m, _i, out: calls.append((m, out.dtype)))
    size = model.fixed_size or 32
    x = 0.5 + 0.003 * torch.randn(1, 1, size, size)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        model(x, **({"sigma": 0.003} if model.uses_sigma else {}))
    assert calls[0] == (model.image_layer(), torch.float32)
    assert len(calls) > 1 and all(dtype == torch.bfloat16 for _, dtype in calls[1:])


def test_dncnn_17_has_the_papers_layout() -> None:
    model = build_model("dncnn")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(convs) == 17 and len(norms) == 15
    assert model.num_parameters() == 556_097


def test_dncnn_folded_batchnorm_equals_the_unfolded_network() -> None:
    torch.manual_seed(0)
    model = build_model("dncnn", depth=5, width=8)
    x = torch.rand(2, 1, 17, 19)
    model.train()
    model(x)  # move the running statistics away from their identity initial values
    model.eval()
    with torch.inference_mode():
        folded = model(x)
        y = torch.relu(model.head(x))
        for block in model.body:
            y = torch.relu(block(y))
        unfolded = (x - model.tail(y)).clamp(0, 1)
    torch.testing.assert_close(folded, unfolded, atol=1e-5, rtol=0)


@pytest.mark.parametrize("depth", [3, 7])
def test_rednet_and_dncnn_reject_bad_depths(depth: int) -> None:
    with pytest.raises(ValueError, match="depth"):
        build_model("rednet", depth=depth)
    with pytest.raises(ValueError, match="depth"):
        build_model("dncnn", depth=depth - 5)


def test_unet_noise_conditioning_uses_sigma() -> None:
    torch.manual_seed(0)
    model = build_model("unet", channels=(8, 16), blocks=1, noise_conditioned=True).eval()
    assert model.uses_sigma and not build_model("unet", channels=(8, 16), blocks=1).uses_sigma
    x = torch.rand(3, 1, 21, 18)
    with torch.inference_mode():
        low, high = model(x, sigma=0.01), model(x, sigma=0.3)
        per_image = model(x, sigma=torch.tensor([0.01, 0.01, 0.3]))
        blind = model(x)
    assert not torch.allclose(low, high)
    torch.testing.assert_close(per_image[:2], low[:2])
    torch.testing.assert_close(per_image[2:], high[2:])
    assert blind.shape == x.shape
    with pytest.raises(ValueError, match="one per image"):
        model(x, sigma=torch.tensor([0.1, 0.2]))


def test_blind_noise_estimate_recovers_gaussian_sigma() -> None:
    from meddenoise.models.unet import estimate_noise_sigma

    gen = torch.Generator().manual_seed(1)
    clean = torch.linspace(0.2, 0.8, 128).repeat(128, 1).expand(4, 1, 128, 128)
    sigmas = torch.tensor([0.02, 0.05, 0.1, 0.2])
    noisy = clean + sigmas.reshape(-1, 1, 1, 1) * torch.randn(4, 1, 128, 128, generator=gen)
    torch.testing.assert_close(estimate_noise_sigma(noisy), sigmas, rtol=0.08, atol=0.0)


@pytest.mark.parametrize("name", ["gondara-dae", "conv-ae"])
def test_fused_upsample_conv_equals_literal_upsample_then_conv(name: str) -> None:
    torch.manual_seed(3)
    fused = build_model(name, filters=8)
    literal = build_model(name, filters=8, fused_upsample=False)
    literal.load_state_dict(fused.state_dict())
    x = torch.rand(2, 1, 23, 30)
    y_fused, y_literal = fused(x), literal(x)
    torch.testing.assert_close(y_fused, y_literal, atol=1e-6, rtol=0)
    y_fused.square().sum().backward()
    y_literal.square().sum().backward()
    for (key, p_fused), p_literal in zip(fused.named_parameters(), literal.parameters(), strict=True):
        torch.testing.assert_close(p_fused.grad, p_literal.grad, atol=1e-5, rtol=1e-4, msg=key)


def test_transposed_convolution_places_taps_like_keras_same_padding() -> None:
    # Keras Conv2DTranspose(k=3, s=2, "same"): input pixel i spreads to output pixels 2i, 2i+1, 2i+2
    layer = build_model("conv-ae-transpose").up1
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[0, 0] = 1.0
        layer.bias.zero_()
    z = torch.zeros(1, 32, 4, 4)
    z[0, 0, 1, 2] = 1.0
    out = type(build_model("conv-ae-transpose"))._up(z, layer)[0, 0]
    assert out.shape == (8, 8)
    assert out.nonzero().tolist() == [[r, c] for r in (2, 3, 4) for c in (4, 5, 6)]
    z = torch.zeros(1, 32, 4, 4)
    z[0, 0, 3, 3] = 1.0  # the last pixel's third tap falls outside and is cropped, as in Keras
    out = type(build_model("conv-ae-transpose"))._up(z, layer)[0, 0]
    assert out.nonzero().tolist() == [[r, c] for r in (6, 7) for c in (6, 7)]


def test_gradient_free_max_pool_equals_max_pool2d() -> None:
    from meddenoise.models._common import max_pool2x2

    y = torch.randn(2, 3, 10, 14).contiguous(memory_format=torch.channels_last)
    y[0, 0, :4, :4] = 0.5  # ties
    with torch.no_grad():
        torch.testing.assert_close(max_pool2x2(y), torch.nn.functional.max_pool2d(y, 2), rtol=0, atol=0)
    y.requires_grad_(True)
    torch.testing.assert_close(max_pool2x2(y), torch.nn.functional.max_pool2d(y, 2), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["gondara-dae", "unet"])
def test_a_full_size_slice_is_denoised_at_its_own_size(name: str) -> None:
    # a model trained on 64x64 patches denoises a 512x512 slice (and an odd-sized one)
    model = small_model(name).eval()
    with torch.inference_mode():
        for size in [(512, 512), (513, 510)]:
            assert model(torch.rand(1, 1, *size)).shape == (1, 1, *size)


def test_redcnn_has_the_papers_layout_and_shortcuts() -> None:
    model = build_model("redcnn", width=8)
    sizes = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: sizes.append(out.shape[-1])) for m in model.convs]
    hooks += [m.register_forward_hook(lambda _m, _i, out: sizes.append(out.shape[-1])) for m in model.deconvs]
    model(torch.rand(1, 1, 32, 32))
    for hook in hooks:
        hook.remove()
    # 5x5 valid convolutions shrink by 4 each, the transposed ones grow back
    assert sizes == [28, 24, 20, 16, 12, 16, 20, 24, 28, 32]
    # with every layer's weights and biases at zero only the input-to-output shortcut is left
    for p in model.parameters():
        torch.nn.init.zeros_(p)
    x = torch.rand(2, 1, 30, 27)
    torch.testing.assert_close(model.eval()(x), x)
