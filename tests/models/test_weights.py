"""Weights files: float32 exact, int8 within half a quantisation step, and the shipped int8 files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from safetensors.torch import save_file

from meddenoise.models import build_model
from meddenoise.models.weights import (
    QUANTIZATION_KEY,
    QUANTIZE_MIN_ELEMENTS,
    dequantize_int8,
    load_weights,
    quantize_int8,
    save_weights,
    weights_storage,
)
from meddenoise.pretrained import PRETRAINED_DIR, list_pretrained


def _state(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "big.weight": torch.randn(64, 32, 3, 3, generator=generator),  # 18,432 values: quantised
        "small.weight": torch.randn(4, 8, 3, 3, generator=generator),  # 288: kept float32
        "big.bias": torch.randn(64, generator=generator),  # 1D: kept float32
        "steps": torch.tensor([7, 9], dtype=torch.int64),  # an integer buffer
    }


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float32,
        st.tuples(st.integers(1, 6), st.integers(1, 40)),
        elements=st.floats(-1e3, 1e3, width=32, allow_nan=False, allow_infinity=False),
    )
)
def test_int8_round_trip_is_within_half_a_step_of_each_slice(values: np.ndarray) -> None:
    tensor = torch.from_numpy(values)
    q, scale = quantize_int8(tensor)
    assert q.dtype == torch.int8 and scale.shape == (values.shape[0],)
    back = dequantize_int8(q, scale).numpy()
    peak = np.abs(values).max(axis=1, keepdims=True)
    # half a step of the slice's 255 levels, plus float32 rounding of the product
    bound = peak / 127 / 2 * (1 + 1e-5) + 1e-30
    assert np.all(np.abs(back - values) <= bound)
    assert np.all(np.abs(q.numpy()) <= 127)


def test_int8_keeps_each_slice_peak_and_zero_slices() -> None:
    q, scale = quantize_int8(torch.tensor([[2.0, -1.0, 0.5], [0.0, 0.0, 0.0], [-4.0, 1.0, 3.0]]))
    assert q[:, 0].tolist() == [127, 0, -127]
    assert scale.tolist() == pytest.approx([2 / 127, 1.0, 4 / 127])
    assert dequantize_int8(q, scale)[1].tolist() == [0.0, 0.0, 0.0]


def test_float32_storage_is_exact(tmp_path) -> None:
    state = _state()
    path = save_weights(state, tmp_path / "w.safetensors", metadata={"architecture": "x"})
    loaded = load_weights(path)
    assert weights_storage(path) == "float32"
    assert loaded.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(loaded[key], value)


def test_int8_storage_quantises_only_large_float_tensors(tmp_path) -> None:
    state = _state()
    plain = save_weights(state, tmp_path / "plain.safetensors")
    small = save_weights(state, tmp_path / "small.safetensors", storage="int8")
    assert weights_storage(small) == "int8"
    loaded = load_weights(small)
    assert loaded.keys() == state.keys()
    assert all(value.dtype == state[key].dtype for key, value in loaded.items())
    for key in ("small.weight", "big.bias", "steps"):  # below the size or not a matrix: exact
        assert torch.equal(loaded[key], state[key])
    big = state["big.weight"]
    assert big.numel() >= QUANTIZE_MIN_ELEMENTS
    step = big.reshape(64, -1).abs().amax(1) / 127
    error = (loaded["big.weight"] - big).reshape(64, -1).abs().amax(1)
    assert torch.all(error <= step / 2 * (1 + 1e-5))
    assert not torch.equal(loaded["big.weight"], big)  # it was quantised
    # the large tensor is about a quarter of its float32 size
    saved = 3 * big.numel()
    assert plain.stat().st_size - small.stat().st_size == pytest.approx(saved, rel=0.05)


def test_int8_network_output_stays_close(tmp_path) -> None:
    net = build_model("ffdunet", channels=[16, 32, 64, 64], blocks=1).eval()
    path = save_weights(net.state_dict(), tmp_path / "net.safetensors", storage="int8")
    twin = build_model("ffdunet", channels=[16, 32, 64, 64], blocks=1).eval()
    twin.load_state_dict(load_weights(path))  # strict: every key, every shape
    x = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    sigma = torch.full((2,), 0.05)
    with torch.no_grad():
        a, b = net(x, sigma), twin(x, sigma)
    residual = (x - a).abs().mean()
    assert 0 < (a - b).abs().max() < 0.05 * residual


def test_refuses_bad_input(tmp_path) -> None:
    with pytest.raises(ValueError, match="weight storage"):
        save_weights(_state(), tmp_path / "w.safetensors", storage="float16")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="marks a quantisation scale"):
        save_weights({"a:scale": torch.ones(2)}, tmp_path / "w.safetensors")
    with pytest.raises(ValueError, match="scalar"):
        quantize_int8(torch.tensor(1.0))
    # a scale whose tensor is missing, and a quantisation this version does not know
    orphan = tmp_path / "orphan.safetensors"
    save_file({"w:scale": torch.ones(2)}, str(orphan), metadata={QUANTIZATION_KEY: "int8-per-slice"})
    with pytest.raises(ValueError, match="has no int8 tensor"):
        load_weights(orphan)
    future = tmp_path / "future.safetensors"
    save_file({"w": torch.ones(2)}, str(future), metadata={QUANTIZATION_KEY: "int4-grouped"})
    with pytest.raises(ValueError, match="unknown weight quantisation"):
        load_weights(future)


@pytest.mark.parametrize("card", list_pretrained(), ids=lambda c: c.name)
def test_shipped_weights_are_small_and_load(card) -> None:
    """The shipped files stay under 3 MB (the project's check for tracked files) and say how they are stored."""
    path = PRETRAINED_DIR / card.weights
    assert path.stat().st_size < 3 * 1024 * 1024
    raw = json.loads((PRETRAINED_DIR / f"{card.name}.json").read_text())
    assert raw["weight_storage"] == weights_storage(path) == "int8"
    state = load_weights(path)
    assert all(v.dtype == torch.float32 for v in state.values())
    assert sum(v.numel() for v in state.values()) == card.parameters
