"""The bf16 back end (the fast tier): the shipped networks run their convolutions in bfloat16, close to float32."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from meddenoise.methods import BACKENDS, build_denoiser, parse_backend
from meddenoise.methods import factory as factory_module
from meddenoise.models.denoiser import ModelDenoiser


def _network(choice_denoiser: object) -> ModelDenoiser:
    inner = choice_denoiser
    while not isinstance(inner, ModelDenoiser):
        inner = inner.base  # type: ignore[attr-defined]  # ct: texture, then edge restoration
    return inner


def _slice(seed: int = 0) -> np.ndarray:
    yy, xx = np.mgrid[:96, :80]
    disc = ((yy - 48) ** 2 + (xx - 40) ** 2 < 30**2).astype(np.float32)
    noise = np.random.default_rng(seed).normal(0, 0.02, disc.shape)
    return np.clip(0.3 + 0.4 * disc + noise, 0, 1).astype(np.float32)


def test_bf16_is_a_back_end_by_name() -> None:
    assert "bf16" in BACKENDS and parse_backend(" BF16 ") == "bf16"
    with pytest.raises(ValueError, match="torch, bf16, onnx"):
        parse_backend("fp16")


@pytest.mark.parametrize("name", ["ct", "general"])
def test_the_bf16_back_end_runs_the_convolutions_in_bfloat16_close_to_float32(name: str) -> None:
    fp32, bf16 = build_denoiser(name), build_denoiser(name, backend="bf16")
    network = _network(bf16.denoiser)
    assert network.bf16 and not _network(fp32.denoiser).bf16
    seen: dict[str, list[torch.dtype]] = {"head": [], "body": []}
    head, body = [m for m in network.model.modules() if isinstance(m, torch.nn.Conv2d)][:2]
    hooks = [
        layer.register_forward_hook(lambda _m, _i, out, part=part: seen[part].append(out.dtype))
        for part, layer in (("head", head), ("body", body))
    ]
    try:
        image = _slice()
        for sigma in (None, 0.02):
            fast, exact = bf16.denoiser(image, sigma=sigma), fp32.denoiser(image, sigma=sigma)
            diff = np.abs(fast - exact)
            # bf16 rounding: not the float32 pixels, but within a few 1e-3 of them
            assert 0 < diff.max() < 1e-2 and diff.mean() < 1e-3
    finally:
        for hook in hooks:
            hook.remove()
    # the head reads the image in float32 (models._common.input_layer), the rest runs in bf16
    assert set(seen["head"]) == {torch.float32} and set(seen["body"]) == {torch.bfloat16}
    # told no noise, the gate still returns the input exactly (it does not run through bf16)
    image = _slice(1)
    np.testing.assert_array_equal(bf16.denoiser(image, sigma=0.0), np.clip(image, 0, 1))


def test_an_onnx_file_refuses_the_bf16_back_end(tmp_path: Path) -> None:
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not read")
    with pytest.raises(ValueError, match="runs in onnxruntime only"):
        build_denoiser(str(fake), backend="bf16")


def test_a_cpu_without_native_bf16_is_told_once_that_bf16_is_slower(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import meddenoise.provenance as provenance

    monkeypatch.setattr(provenance, "native_bf16", lambda *_a, **_k: False)
    factory_module._say_if_bf16_is_emulated.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger=factory_module.__name__):
            build_denoiser("mri", backend="bf16")
            build_denoiser("xray", backend="bf16")
    finally:
        factory_module._say_if_bf16_is_emulated.cache_clear()  # not the patched CPU's answer for later tests
    said = [r.getMessage() for r in caplog.records if "no native bf16" in r.getMessage()]
    assert len(said) == 1 and "slower than float32" in said[0]


def test_benchmark_choices_put_each_back_end_beside_the_model() -> None:
    from meddenoise.evaluation.benchmark import benchmark_choices

    choices = benchmark_choices(["mri"], ["median"], backends=(None, "bf16"), ensembles=(1, 2))
    assert list(choices) == ["mri", "mri x2", "mri bf16", "mri x2 bf16", "median"]
    assert not _network(choices["mri"].denoiser).bf16
    assert _network(choices["mri bf16"].denoiser).bf16
    # the ensemble of a back end wraps that back end's network
    assert choices["mri x2 bf16"].denoiser.base is _network(choices["mri bf16"].denoiser)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="at least one"):
        benchmark_choices(["mri"], [], backends=())


def test_a_bf16_model_says_so_in_its_label_and_in_what_a_derived_file_records(tmp_path: Path) -> None:
    from meddenoise.pipeline.batch import derivation

    assert build_denoiser("ct", backend="bf16").label == "pretrained ct bf16"
    assert build_denoiser("ct", backend="torch").label == "pretrained ct"
    assert build_denoiser("ct", backend="bf16", ensemble=2).label == "pretrained ct bf16 x2"

    class _Report:
        def describe(self) -> str:
            return "estimated noise 9.7 HU"

    text = derivation("denoised by meddenoise", build_denoiser("mri", backend="bf16").label, _Report())  # type: ignore[arg-type]
    assert text == "denoised by meddenoise: pretrained mri bf16; estimated noise 9.7 HU"
