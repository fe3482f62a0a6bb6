"""Precision: bf16 really runs the convolutions in bfloat16; "auto" follows the CPU detector once per
run and, where the CPU has bf16, times the run's own step in both precisions and keeps the faster; old
``bf16: true/false`` configs migrate; a resumed run keeps the precision it recorded."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
from training_helpers import make_images

from meddenoise import provenance
from meddenoise.models.registry import MODEL_REGISTRY
from meddenoise.training import TrainConfig, load_checkpoint, train
from meddenoise.training import trainer as trainer_module
from meddenoise.training.config import TrainConfigError
from meddenoise.training.speed import choose_precision, time_precisions


def _cpu_has_bf16() -> bool:
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


needs_bf16 = pytest.mark.skipif(
    not _cpu_has_bf16(), reason="this CPU has no native bfloat16 support (avx512_bf16/amx)"
)


class _Probe(torch.nn.Module):
    """One convolution whose output dtype is recorded at every forward pass."""

    dtypes: ClassVar[list[torch.dtype]] = []

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 1, 3, padding=1)
        self.conv.register_forward_hook(lambda module, args, out: _Probe.dtypes.append(out.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(x))


@pytest.fixture
def probe_model() -> Iterator[str]:
    MODEL_REGISTRY["bf16-probe"] = _Probe
    try:
        yield "bf16-probe"
    finally:
        del MODEL_REGISTRY["bf16-probe"]


def _config(model: str, **changes: object) -> TrainConfig:
    fields: dict[str, object] = {
        "model": model,
        "noise": "gaussian(p=0.1,sigma=1)",
        "epochs": 1,
        "batch_size": 4,
        "num_threads": 1,
    }
    return TrainConfig(**{**fields, **changes})


def _detector_says(monkeypatch: pytest.MonkeyPatch, native: bool) -> None:
    monkeypatch.setattr(provenance, "native_bf16", lambda device_type="cpu": native)


def _timing_says(monkeypatch: pytest.MonkeyPatch, fp32_ms: float, bf16_ms: float) -> list[int]:
    """Make auto's timing of the two precisions report these step times; returns the list of its calls."""
    calls: list[int] = []

    def timed(step: object, **_: object) -> dict[str, float]:
        calls.append(1)
        return {"fp32": fp32_ms, "bf16": bf16_ms}

    monkeypatch.setattr(trainer_module, "time_precisions", timed)
    return calls


@needs_bf16
@pytest.mark.parametrize(("precision", "expected"), [("bf16", torch.bfloat16), ("fp32", torch.float32)])
def test_bf16_training_runs_the_convolutions_in_bfloat16(
    tmp_path: Path, probe_model: str, precision: str, expected: torch.dtype
) -> None:
    _Probe.dtypes.clear()
    result = train(
        _config(probe_model, precision=precision), make_images(8), out_dir=tmp_path / "run", progress=False
    )
    assert len(_Probe.dtypes) >= 3  # training batches and the validation pass
    assert set(_Probe.dtypes) == {expected}
    assert torch.isfinite(torch.tensor(result.history[0]["train_loss"]))


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_follows_the_cpu_detector(monkeypatch: pytest.MonkeyPatch, native: bool) -> None:
    _detector_says(monkeypatch, native)
    cfg = TrainConfig()
    assert (cfg.precision, cfg.channels_last) == ("auto", "auto")  # the default of new configs
    resolved = cfg.resolved()
    assert resolved.precision == ("bf16" if native else "fp32")
    assert resolved.bf16 is native and resolved.channels_last is torch.backends.mkldnn.is_available()
    assert TrainConfig(precision="fp32", channels_last=False).resolved().precision == "fp32"  # explicit wins
    _detector_says(monkeypatch, not native)
    assert TrainConfig(precision=resolved.precision).resolved().precision == resolved.precision


@pytest.mark.parametrize(
    "native", [pytest.param(True, marks=needs_bf16), pytest.param(False)], ids=["native-bf16", "no-bf16"]
)
def test_an_auto_run_trains_in_the_resolved_precision_and_records_it(
    tmp_path: Path, probe_model: str, monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    _detector_says(monkeypatch, native)
    timings = _timing_says(monkeypatch, fp32_ms=10.0, bf16_ms=5.0)  # bf16 pays where it is native
    _Probe.dtypes.clear()
    result = train(_config(probe_model), make_images(8), out_dir=tmp_path / "run", progress=False)
    expected = "bf16" if native else "fp32"
    assert len(timings) == (1 if native else 0)  # timed once, and only where the CPU has bf16
    assert set(_Probe.dtypes) == {torch.bfloat16 if native else torch.float32}
    assert result.config.precision == expected
    assert json.loads((tmp_path / "run" / "config.json").read_text())["precision"] == expected
    doc = json.loads((tmp_path / "run" / "last.json").read_text())
    assert doc["config"]["precision"] == expected
    assert doc["metadata"]["speed"]["precision"] == expected
    assert doc["metadata"]["speed"]["requested"]["precision"] == "auto"
    assert doc["metadata"]["speed"].get(trainer_module.PROBE_KEY) == (
        {"fp32": 10.0, "bf16": 5.0} if native else None
    )


def test_auto_keeps_fp32_where_bf16_is_not_5_percent_faster() -> None:
    assert choose_precision({"fp32": 10.0, "bf16": 9.8}) == "fp32"  # fp32, the more exact, stays
    assert choose_precision({"fp32": 10.0, "bf16": 9.5}) == "bf16"


def test_the_timing_runs_real_steps_on_copies_and_an_fp32_choice_trains_exactly_as_fp32(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_images: np.ndarray, tiny_config: TrainConfig
) -> None:
    _detector_says(monkeypatch, True)
    measured: list[dict[str, float]] = []

    def keep_fp32(step_ms: dict[str, float]) -> str:
        measured.append(step_ms)
        return "fp32"

    monkeypatch.setattr(trainer_module, "choose_precision", keep_fp32)  # the real steps are timed
    auto = train(tiny_config, tiny_images, out_dir=tmp_path / "auto", progress=False)
    fp32 = train(tiny_config.derive(precision="fp32"), tiny_images, out_dir=tmp_path / "fp32", progress=False)
    assert len(measured) == 1 and min(measured[0].values()) > 0
    doc = json.loads((tmp_path / "auto" / "last.json").read_text())
    assert auto.config.precision == doc["config"]["precision"] == "fp32"
    assert doc["metadata"]["speed"][trainer_module.PROBE_KEY] == pytest.approx(measured[0], abs=1e-3)
    # the timing ran on a copy of the model and on streams of its own: step for step the explicit fp32 run
    assert [r["train_loss"] for r in auto.history] == [r["train_loss"] for r in fp32.history]
    for (name, a), b in zip(auto.model.state_dict().items(), fp32.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_a_resumed_auto_run_keeps_its_measured_precision_without_a_warning(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tiny_images: np.ndarray,
    tiny_config: TrainConfig,
) -> None:
    _detector_says(monkeypatch, True)
    timings = _timing_says(monkeypatch, fp32_ms=10.0, bf16_ms=20.0)
    out = tmp_path / "run"
    train(tiny_config, tiny_images, out_dir=out, progress=False, on_epoch_end=lambda row: row["epoch"] == 1)
    with caplog.at_level(logging.WARNING, logger="meddenoise.training.trainer"):
        resumed = train(tiny_config, tiny_images, out_dir=out, resume=True, progress=False)
    assert resumed.config.precision == "fp32" and len(timings) == 1  # not timed again on resume
    assert not [r for r in caplog.records if "resuming with" in r.getMessage()]


@needs_bf16
def test_auto_times_the_real_step_on_a_bf16_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _detector_says(monkeypatch, True)
    cfg = TrainConfig(
        model="gondara-dae", noise="gaussian(p=0.1,sigma=1)", epochs=1, batch_size=4, num_threads=1
    )
    result = train(cfg, make_images(8), out_dir=tmp_path / "run", progress=False)
    step_ms = json.loads((tmp_path / "run" / "last.json").read_text())["metadata"]["speed"][
        trainer_module.PROBE_KEY
    ]
    assert set(step_ms) == {"fp32", "bf16"} and min(step_ms.values()) > 0
    assert result.config.precision == choose_precision(step_ms)


def test_time_precisions_alternates_the_two_and_keeps_each_ones_best() -> None:
    seen: list[bool] = []
    assert set(time_precisions(seen.append, warmup=2, repeats=3)) == {"fp32", "bf16"}
    assert seen == [False, True] * 5  # warm-up rounds, then timed rounds, fp32 first in each
    with pytest.raises(ValueError, match="repeats"):
        time_precisions(seen.append, repeats=0)


def test_old_boolean_bf16_configs_migrate_to_precision() -> None:
    assert TrainConfig(bf16=True).precision == "bf16"
    assert TrainConfig.from_dict({"bf16": False, "channels_last": True}).precision == "fp32"
    assert TrainConfig(precision="fp32").derive(bf16=True).precision == "bf16"
    old = TrainConfig(precision="bf16").to_dict()
    old.pop("precision")
    assert TrainConfig.from_dict({**old, "bf16": False}).precision == "fp32"  # the flat boolean wins
    with pytest.raises(TrainConfigError, match="precision"):
        TrainConfig.from_dict({"precision": "fp16"})


def _as_old_checkpoint(run: Path) -> None:
    """Rewrite ``run``'s configs as the code before ``precision`` wrote them: ``bf16``/``channels_last`` booleans."""
    for name in ("config.json", "last.json", "best.json"):
        path = run / name
        doc = json.loads(path.read_text())
        config = doc.get("config", doc)
        precision = config.pop("precision")
        config["channels_last"], config["bf16"] = True, precision == "bf16"
        doc.get("metadata", {}).pop("speed", None)
        path.write_text(json.dumps(doc))


def test_old_fp32_checkpoint_loads_and_resumes_bit_identically_on_a_bf16_cpu(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tiny_images: np.ndarray,
    tiny_config: TrainConfig,
) -> None:
    images, cfg = tiny_images, tiny_config
    _detector_says(monkeypatch, False)
    full = train(cfg, images, out_dir=tmp_path / "full", progress=False)
    train(cfg, images, out_dir=tmp_path / "part", progress=False, on_epoch_end=lambda row: row["epoch"] == 1)
    _as_old_checkpoint(tmp_path / "part")
    assert load_checkpoint(tmp_path / "part" / "last.json")[1].precision == "fp32"

    _detector_says(monkeypatch, True)  # "another CPU": auto would now choose bf16
    with caplog.at_level(logging.WARNING, logger="meddenoise.training.trainer"):
        resumed = train(cfg, images, out_dir=tmp_path / "part", resume=True, progress=False)
    lines = [r.getMessage() for r in caplog.records if "resuming with" in r.getMessage()]
    assert len(lines) == 1 and "precision 'fp32'" in lines[0] and "'bf16'" in lines[0]
    assert resumed.config.precision == "fp32"
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in full.history]
    assert [r["val_loss"] for r in resumed.history] == [r["val_loss"] for r in full.history]
    full_last, _ = load_checkpoint(tmp_path / "full" / "last.json")
    resumed_last, saved = load_checkpoint(tmp_path / "part" / "last.json")
    assert saved.precision == "fp32"
    for (name, a), b in zip(full_last.state_dict().items(), resumed_last.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


@needs_bf16
def test_a_bf16_run_resumes_in_bf16_on_a_cpu_without_it(
    tmp_path: Path, probe_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _config(probe_model, epochs=2)
    _detector_says(monkeypatch, True)
    _timing_says(monkeypatch, fp32_ms=10.0, bf16_ms=5.0)
    full = train(cfg, make_images(8), out_dir=tmp_path / "full", progress=False)
    train(cfg, make_images(8), out_dir=tmp_path / "part", progress=False, on_epoch_end=lambda row: True)
    _detector_says(monkeypatch, False)
    _Probe.dtypes.clear()
    resumed = train(cfg, make_images(8), out_dir=tmp_path / "part", resume=True, progress=False)
    assert _Probe.dtypes and set(_Probe.dtypes) == {torch.bfloat16}
    assert resumed.config.precision == "bf16"
    np.testing.assert_array_equal(
        [r["train_loss"] for r in resumed.history], [r["train_loss"] for r in full.history]
    )


def test_resume_refuses_an_explicitly_different_precision(
    tmp_path: Path, probe_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _detector_says(monkeypatch, False)
    cfg = _config(probe_model, epochs=2)
    train(cfg, make_images(8), out_dir=tmp_path / "run", progress=False, on_epoch_end=lambda row: True)
    with pytest.raises(
        ValueError, match=r"cannot resume a run with a different config \(precision: 'fp32' → 'bf16'"
    ):
        train(
            cfg.derive(precision="bf16"),
            make_images(8),
            out_dir=tmp_path / "run",
            resume=True,
            progress=False,
        )


def test_the_detector_reads_the_bf16_flags_of_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("model name\t: Some Xeon\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n")
    assert provenance.native_bf16(cpuinfo=cpuinfo) is True
    cpuinfo.write_text("model name\t: Some EPYC\nflags\t\t: fpu sse2 avx2 fma\n")
    assert provenance.native_bf16(cpuinfo=cpuinfo) is False
    cpuinfo.write_text("flags\t\t: fpu avx2 amx_bf16 amx_tile\n")
    assert provenance.native_bf16(cpuinfo=cpuinfo) is True
