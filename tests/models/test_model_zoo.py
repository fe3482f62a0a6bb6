"""Every registered model: output shapes for odd sizes, parameter counts, seeded determinism, sources."""

from __future__ import annotations

import sys

import pytest
import torch

from meddenoise.models import MODEL_REGISTRY, build_model

# Small configurations keep the deep models fast in tests; the defaults are checked for parameter counts.
SMALL = {
    "rednet": {"depth": 6, "width": 16},
    "dncnn": {"depth": 5, "width": 16},
    "unet": {"channels": (8, 16, 32), "blocks": 1},
}
# The training helper's stacked-dae is tested in its own area.
OWN_MODELS = sorted(name for name in MODEL_REGISTRY if name != "stacked-dae")


def small_model(name: str) -> torch.nn.Module:
    return build_model(name, **SMALL.get(name, {}))


@pytest.mark.parametrize(
    ("name", "expected"),
    [("gondara-dae", 112_001), ("dense-ae", 101_200), ("conv-ae-transpose", 28_353), ("conv-ae", 296_449)],
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
