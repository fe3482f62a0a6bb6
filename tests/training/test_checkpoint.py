"""Checkpoints: safetensors + JSON round trip; corrupt or mismatched files fail with one clear line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from meddenoise.models.registry import build_model
from meddenoise.training import CheckpointError, TrainConfig, load_checkpoint
from meddenoise.training.checkpoint import save_checkpoint


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    cfg = TrainConfig(model="gondara-dae", model_params={"filters": 4}, epochs=1)
    torch.manual_seed(0)
    model = build_model(cfg.model, **cfg.model_params)
    return save_checkpoint(tmp_path, "best", model=model, config=cfg, metadata={"seed": 0}, info={"epoch": 1})


def _rewrite_json(path: Path, **changes: object) -> None:
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _expect(path: Path, kind: str, reason: str) -> None:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert f"checkpoint is {kind}" in message and reason in message and "\n" not in message


def test_round_trip_from_folder_json_or_weights(checkpoint: Path) -> None:
    reference = load_file(str(checkpoint.with_suffix(".safetensors")))
    for given in (checkpoint.parent, checkpoint, checkpoint.with_suffix(".safetensors")):
        model, cfg = load_checkpoint(given)
        assert cfg.model_params == {"filters": 4} and not model.training
        for key, value in model.state_dict().items():
            assert torch.equal(value, reference[key])
    x = torch.rand(1, 1, 12, 12)
    assert model(x).shape == x.shape


def test_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nothing.json")


def test_garbage_json_is_corrupt(checkpoint: Path) -> None:
    checkpoint.write_text("{oops")
    _expect(checkpoint, "corrupt", "JSON sidecar unreadable")


def test_json_of_another_format_is_corrupt(checkpoint: Path) -> None:
    checkpoint.write_text(json.dumps({"hello": 1}))
    _expect(checkpoint, "corrupt", "not a meddenoise-checkpoint")


def test_truncated_weights_are_corrupt(checkpoint: Path) -> None:
    weights = checkpoint.with_suffix(".safetensors")
    weights.write_bytes(weights.read_bytes()[:-100])
    _expect(checkpoint, "corrupt", "outside the file")


def test_altered_weights_fail_the_checksum(checkpoint: Path) -> None:
    weights = checkpoint.with_suffix(".safetensors")
    raw = bytearray(weights.read_bytes())
    raw[-5] ^= 0xFF
    weights.write_bytes(bytes(raw))
    _expect(checkpoint, "corrupt", "SHA-256")


def test_insane_header_is_corrupt(checkpoint: Path) -> None:
    weights = checkpoint.with_suffix(".safetensors")
    weights.write_bytes((10**12).to_bytes(8, "little") + b"{}")
    _rewrite_json(checkpoint, weights_sha256=_sha(weights))
    _expect(checkpoint, "corrupt", "header length")


def test_missing_weights_file_is_corrupt(checkpoint: Path) -> None:
    checkpoint.with_suffix(".safetensors").unlink()
    _expect(checkpoint, "corrupt", "weights file is missing")


def test_config_of_another_shape_is_mismatched(checkpoint: Path) -> None:
    doc = json.loads(checkpoint.read_text())
    doc["config"]["model_params"] = {"filters": 8}
    checkpoint.write_text(json.dumps(doc))
    _expect(checkpoint, "mismatched", "enc1.weight has shape (4, 1, 3, 3), the model expects (8, 1, 3, 3)")


def test_unknown_model_is_mismatched(checkpoint: Path) -> None:
    doc = json.loads(checkpoint.read_text())
    doc["config"]["model"] = "no-such-net"
    checkpoint.write_text(json.dumps(doc))
    _expect(checkpoint, "mismatched", "unknown model 'no-such-net'")


def test_extra_or_missing_tensors_are_mismatched(checkpoint: Path) -> None:
    weights = checkpoint.with_suffix(".safetensors")
    state = load_file(str(weights))
    state.pop("out.bias")
    state["extra.weight"] = torch.zeros(3)
    save_file(state, str(weights))
    _rewrite_json(checkpoint, weights_sha256=_sha(weights))
    _expect(checkpoint, "mismatched", "missing out.bias; unexpected extra.weight")


def test_optimizer_state_round_trips(tmp_path: Path) -> None:
    from meddenoise.training.checkpoint import load_optimizer_state, read_checkpoint_json

    cfg = TrainConfig(model="gondara-dae", model_params={"filters": 4})
    model = build_model(cfg.model, **cfg.model_params)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.rand(2, 1, 8, 8)).mean().backward()
    opt.step()
    save_checkpoint(
        tmp_path, "last", model=model, config=cfg, metadata={}, optimizer=opt, resume={"epoch": 1}
    )
    json_path, doc = read_checkpoint_json(tmp_path / "last.json")
    restored = load_optimizer_state(json_path, doc)
    fresh = torch.optim.Adam(model.parameters(), lr=1e-3)
    fresh.load_state_dict(restored)
    for idx, state in opt.state_dict()["state"].items():
        for name, value in state.items():
            assert torch.equal(
                torch.as_tensor(fresh.state_dict()["state"][idx][name]), torch.as_tensor(value)
            )
    assert np.isclose(fresh.param_groups[0]["lr"], 1e-3)


def test_load_denoiser_denoises_any_size(checkpoint: Path) -> None:
    from meddenoise.denoiser import Denoiser
    from meddenoise.training import load_denoiser

    denoiser = load_denoiser(checkpoint.parent)
    assert isinstance(denoiser, Denoiser) and denoiser.name == "gondara-dae"
    image = np.random.default_rng(0).random((37, 29)).astype(np.float32)
    model, _ = load_checkpoint(checkpoint)
    with torch.no_grad():
        expected = model(torch.from_numpy(image)[None, None])[0, 0].numpy()
    out = denoiser(image)
    assert out.shape == image.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-5)
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_denoiser(checkpoint.parent / "missing")


def test_huge_declared_architecture_is_refused_before_it_is_allocated(checkpoint: Path) -> None:
    # 40,000 filters would be ~3e9 parameters (12 GB) if built; the weights on disk are 4 filters
    doc = json.loads(checkpoint.read_text())
    doc["config"]["model_params"] = {"filters": 40000}
    checkpoint.write_text(json.dumps(doc))
    _expect(checkpoint, "mismatched", "parameters, over the limit of")


def test_declared_shapes_are_checked_against_the_weights_before_building(
    checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import meddenoise.models.registry as registry

    built: list[str] = []
    real = registry.build_model

    def spy(name: str, **params: object) -> torch.nn.Module:
        model = real(name, **params)
        built.append(str(next(model.parameters()).device))
        return model

    monkeypatch.setattr(registry, "build_model", spy)
    doc = json.loads(checkpoint.read_text())
    doc["config"]["model_params"] = {"filters": 8}
    checkpoint.write_text(json.dumps(doc))
    _expect(checkpoint, "mismatched", "enc1.weight has shape (4, 1, 3, 3), the model expects (8, 1, 3, 3)")
    assert built == ["meta"]  # the mismatch was found without allocating the real model


@pytest.mark.parametrize("name", ["../elsewhere.safetensors", "/etc/passwd", "sub/best.safetensors", ".."])
def test_weights_file_outside_the_checkpoint_folder_is_refused(checkpoint: Path, name: str) -> None:
    _rewrite_json(checkpoint, weights_file=name)
    _expect(checkpoint, "corrupt", "is not a file name in the checkpoint's folder")


@pytest.mark.parametrize("suffix", [".pt", ".pth"])
def test_pytorch_pickles_are_never_loaded(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"\x80\x04garbage pickle")
    with pytest.raises(CheckpointError, match=r"PyTorch pickle files .* are never loaded") as info:
        load_checkpoint(path)
    assert "JSON" not in str(info.value)
