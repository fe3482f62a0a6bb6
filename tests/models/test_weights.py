"""Weights files: float32 exact, int8 within half a quantisation step, int4 packed and grouped, and the
shipped files."""

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
    INT4_GROUP,
    INT4_MIN_ELEMENTS,
    QUANTIZATION_KEY,
    QUANTIZE_MIN_ELEMENTS,
    dequantize_int4,
    dequantize_int8,
    load_weights,
    quantize_int4,
    quantize_int8,
    save_weights,
    tensor_storage,
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


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float32,
        st.tuples(st.integers(1, 5), st.integers(1, 3).map(lambda k: 8 * k)),
        elements=st.floats(-1e3, 1e3, width=32, allow_nan=False, allow_infinity=False),
    )
)
def test_int4_round_trip_is_the_best_of_its_clips_and_within_a_step(values: np.ndarray) -> None:
    tensor = torch.from_numpy(values)
    packed, scale = quantize_int4(tensor, group=8)
    assert packed.dtype == torch.uint8 and packed.shape == (values.size // 8, 4)
    assert scale.dtype == torch.float16 and scale.shape == (values.size // 8,)
    back = dequantize_int4(packed, scale, values.shape).numpy()
    groups, restored = values.reshape(-1, 8), back.reshape(-1, 8)
    peak = np.abs(groups).max(axis=1)
    step = scale.to(torch.float32).numpy()
    # every value is a level of its group's 15 (-7..7 steps), and the clipped scale is never above the peak's
    levels = restored / step[:, None]
    assert np.allclose(levels, np.round(levels), atol=1e-3) and np.all(np.abs(np.round(levels)) <= 7)
    # (float16 rounds the scale: relatively by 2^-11 for normal numbers, by 2^-25 absolutely among the
    # subnormals under 2^-14, where a tiny group's scale lands)
    assert np.all(step <= np.maximum(peak / 7 * (1 + 2e-3) + 2.0**-25, 2.0**-24) + (peak == 0))
    # the chosen scale rounds no worse than the plain max/7 scale (the first clip tried)
    plain = torch.from_numpy(np.where(peak > 0, peak / 7, 1.0).astype(np.float32)).to(torch.float16)
    plain32 = plain.to(torch.float32).clamp(min=2.0**-24).numpy()[:, None]
    plain_error = ((np.clip(np.round(groups / plain32), -7, 7) * plain32 - groups) ** 2).sum(axis=1)
    chosen_error = ((restored - groups) ** 2).sum(axis=1)
    assert np.all(chosen_error <= plain_error * (1 + 1e-4) + 1e-6 * peak**2)
    # unclipped values are within half a step (plus float16 rounding of the scale)
    inside = np.abs(groups) <= 7 * step[:, None]
    assert np.all(
        np.abs(restored - groups)[inside] <= (step[:, None] / 2 * (1 + 1e-3) + 1e-30).repeat(8, 1)[inside]
    )


def test_int4_packs_two_values_a_byte_low_nibble_first() -> None:
    packed, scale = quantize_int4(torch.tensor([[7.0, -3.0, 0.0, 1.0], [-7.0, 7.0, 0.0, 0.0]]), group=4)
    assert scale.tolist() == [1.0, 1.0]
    # stored as value + 8: (15, 5) -> 0x5F, (8, 9) -> 0x98, (1, 15) -> 0xF1, (8, 8) -> 0x88
    assert packed.tolist() == [[0x5F, 0x98], [0xF1, 0x88]]
    assert dequantize_int4(packed, scale, (2, 4)).tolist() == [[7.0, -3.0, 0.0, 1.0], [-7.0, 7.0, 0.0, 0.0]]


def test_int4_refuses_groups_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="do not split into groups"):
        quantize_int4(torch.ones(3, 10), group=4)
    with pytest.raises(ValueError, match="even"):
        quantize_int4(torch.ones(3, 9), group=3)
    with pytest.raises(ValueError, match="too large for float16"):
        quantize_int4(torch.full((1, 4), 1e6), group=4)
    with pytest.raises(ValueError, match="one scale per group"):
        dequantize_int4(torch.zeros(2, 2, dtype=torch.uint8), torch.ones(2, dtype=torch.float16), (3, 4))


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


def test_int4_storage_quantises_the_largest_tensors_and_int8s_the_rest(tmp_path) -> None:
    generator = torch.Generator().manual_seed(3)
    state = {
        **_state(),
        "huge.weight": torch.randn(128, 128, 3, 3, generator=generator),  # 147,456 values: int4
    }
    assert state["huge.weight"].numel() >= INT4_MIN_ELEMENTS > state["big.weight"].numel()
    as_int8 = save_weights(state, tmp_path / "int8.safetensors", storage="int8")
    as_int4 = save_weights(state, tmp_path / "int4.safetensors", storage="int4")
    assert weights_storage(as_int4) == "int4"
    loaded, loaded8 = load_weights(as_int4), load_weights(as_int8)
    assert loaded.keys() == state.keys()
    assert all(value.dtype == state[key].dtype for key, value in loaded.items())
    for key in ("small.weight", "big.bias", "steps"):
        assert torch.equal(loaded[key], state[key])
    assert torch.equal(loaded["big.weight"], loaded8["big.weight"])  # under the int4 size: int8
    huge = state["huge.weight"]
    groups = huge.reshape(-1, INT4_GROUP)
    error = (loaded["huge.weight"] - huge).reshape(-1, INT4_GROUP).abs().amax(1)
    assert torch.all(error <= 0.3 * groups.abs().amax(1))  # the most a clip of 0.7 takes off the peak
    # Gaussian weights: about a tenth of their mean magnitude (a mixed-up packing gives about all of it)
    assert (loaded["huge.weight"] - huge).abs().mean() < 0.12 * huge.abs().mean()
    assert (loaded["huge.weight"] - huge).abs().mean() > (loaded8["huge.weight"] - huge).abs().mean()
    # half a byte and a float16 scale per 64 values instead of a byte each
    saved = huge.numel() - (huge.numel() // 2 + huge.numel() // INT4_GROUP * 2)
    expected = saved - 128 * 4 + 8 * 4  # less the int8 slice scales, plus the stored shape
    assert as_int8.stat().st_size - as_int4.stat().st_size == pytest.approx(expected, rel=0.02)


@pytest.mark.parametrize("storage", ["float32", "int8", "int4"])
def test_tensor_storage_says_how_each_tensor_is_stored(tmp_path, storage) -> None:
    state = {**_state(), "huge.weight": torch.randn(128, 128, 3, 3)}
    stored = tensor_storage(save_weights(state, tmp_path / "w.safetensors", storage=storage))
    assert stored.keys() == state.keys()  # no ':scale' or ':shape' entries
    expected = {
        "float32": {},
        "int8": {"big.weight": "int8", "huge.weight": "int8"},
        "int4": {"big.weight": "int8", "huge.weight": "int4"},
    }[storage]
    assert stored == {key: expected.get(key, "float32") for key in state}


@pytest.mark.parametrize("storage", ["int8", "int4"])
def test_quantised_tensors_saved_again_come_back_unchanged(tmp_path, storage) -> None:
    # what --freeze-int4 rests on: frozen at their loaded values, stored tensors cost nothing the second time
    generator = torch.Generator().manual_seed(5)
    huge = torch.randn(128, 128, 3, 3, generator=generator)
    huge[3] = 0.0  # all-zero groups and slices (scale 1) too
    huge[4, :8] *= 40.0  # an outlier group, where a clip below 1 wins
    state = {**_state(), "huge.weight": huge}
    once = load_weights(save_weights(state, tmp_path / "once.safetensors", storage=storage))
    assert not torch.equal(once["huge.weight"], huge)
    twice = load_weights(save_weights(once, tmp_path / "twice.safetensors", storage=storage))
    for key in state:
        assert torch.equal(twice[key], once[key]), key


@pytest.mark.parametrize("storage", ["int8", "int4"])
def test_quantised_network_output_stays_close(tmp_path, storage) -> None:
    # the 128-channel level's convolutions (147,456 values) are what an int4 file stores as int4
    net = build_model("ffdunet", channels=[16, 32, 64, 128], blocks=1).eval()
    path = save_weights(net.state_dict(), tmp_path / "net.safetensors", storage=storage)
    assert weights_storage(path) == storage
    twin = build_model("ffdunet", channels=[16, 32, 64, 128], blocks=1).eval()
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
    with pytest.raises(ValueError, match="marks a quantisation scale"):
        save_weights({"a:shape": torch.ones(2)}, tmp_path / "w.safetensors", storage="int4")
    with pytest.raises(ValueError, match="scalar"):
        quantize_int8(torch.tensor(1.0))
    # a scale whose tensor is missing, and a quantisation this version does not know
    orphan = tmp_path / "orphan.safetensors"
    save_file({"w:scale": torch.ones(2)}, str(orphan), metadata={QUANTIZATION_KEY: "int8-per-slice"})
    with pytest.raises(ValueError, match="has no int8 tensor"):
        load_weights(orphan)
    shapeless = tmp_path / "shapeless.safetensors"
    packed, scale = quantize_int4(torch.ones(2, 4), group=4)
    save_file({"w": packed, "w:scale4": scale}, str(shapeless), metadata={QUANTIZATION_KEY: "int4-per-group"})
    with pytest.raises(ValueError, match="has no int4 tensor"):
        load_weights(shapeless)
    future = tmp_path / "future.safetensors"
    save_file({"w": torch.ones(2)}, str(future), metadata={QUANTIZATION_KEY: "int2-grouped"})
    with pytest.raises(ValueError, match="unknown weight quantisation"):
        load_weights(future)


@pytest.mark.parametrize("card", list_pretrained(), ids=lambda c: c.name)
def test_shipped_weights_are_small_and_load(card) -> None:
    """The shipped files stay under 3 MB (the project's check for tracked files) and say how they are stored."""
    path = PRETRAINED_DIR / card.weights
    assert path.stat().st_size < 3 * 1024 * 1024
    raw = json.loads((PRETRAINED_DIR / f"{card.name}.json").read_text())
    assert raw["weight_storage"] == weights_storage(path) in ("int8", "int4")
    state = load_weights(path)
    assert all(v.dtype == torch.float32 for v in state.values())
    assert sum(v.numel() for v in state.values()) == card.parameters
