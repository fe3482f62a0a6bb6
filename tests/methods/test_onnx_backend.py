"""The onnx back end of the factory and ``meddenoise export``: same pixels as PyTorch, self-describing files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from meddenoise._optional import is_available
from meddenoise.methods import build_denoiser, export_model, method_kind
from meddenoise.models import build_model
from meddenoise.pretrained import get_card
from meddenoise.training import TrainConfig
from meddenoise.training.checkpoint import save_checkpoint

pytestmark = pytest.mark.skipif(
    not (is_available("onnx") and is_available("onnxruntime")),
    reason="needs onnx and onnxruntime (pip install 'meddenoise[onnx]')",
)


@pytest.fixture(scope="module")
def ct_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_model("ct", tmp_path_factory.mktemp("export") / "ct.onnx")


def _phantom(h: int = 72, w: int = 58, seed: int = 0) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    disc = ((yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (min(h, w) / 3) ** 2).astype(np.float32)
    rng = np.random.default_rng(seed)
    return np.clip(0.2 + 0.5 * disc + rng.normal(0, 0.03, (h, w)), 0, 1).astype(np.float32)


def test_shipped_model_on_the_onnx_back_end_gives_the_torch_pixels() -> None:
    torch_choice = build_denoiser("ct")
    onnx_choice = build_denoiser("ct", backend="onnx")
    # ct's texture, then its edge restoration, around the network
    assert type(onnx_choice.denoiser.base.base).__name__ == "OnnxDenoiser"  # type: ignore[attr-defined]
    assert onnx_choice.intensity == torch_choice.intensity
    batch = np.stack([_phantom(seed=s) for s in range(3)])
    for sigma in (None, 0.02):
        diff = np.abs(onnx_choice.denoiser(batch, sigma=sigma) - torch_choice.denoiser(batch, sigma=sigma))
        assert diff.max() < 1e-4


def test_the_self_ensemble_runs_on_the_onnx_back_end_too() -> None:
    torch_x8 = build_denoiser("ct", ensemble=8)
    onnx_x8 = build_denoiser("ct", backend="onnx", ensemble=8)
    assert type(onnx_x8.denoiser.base.base.base).__name__ == "OnnxDenoiser"  # type: ignore[attr-defined]
    batch = np.stack([_phantom(seed=s) for s in range(2)])[:, :, :40]  # not square: transposed copies
    diff = np.abs(onnx_x8.denoiser(batch, sigma=0.02) - torch_x8.denoiser(batch, sigma=0.02))
    assert diff.max() < 1e-4


def test_an_exported_file_is_a_model_path_with_its_card_and_intensity(ct_onnx: Path) -> None:
    from meddenoise.models.onnx import onnx_metadata

    card = get_card("ct")
    meta = onnx_metadata(ct_onnx)
    assert json.loads(meta["meddenoise.model_card"]) == card.raw
    assert json.loads(meta["meddenoise.intensity"]) == card.intensity.to_dict()
    assert meta["meddenoise.architecture"] == "ffdunet"
    assert method_kind(str(ct_onnx)) == "checkpoint" and method_kind("model.onnx") == "checkpoint"
    choice = build_denoiser(str(ct_onnx))
    assert choice.intensity == card.intensity  # read back from the file, not assumed
    # and its own texture (auto) and edge restoration
    assert choice.denoiser.amount == build_denoiser("ct").denoiser.amount  # type: ignore[attr-defined]
    assert choice.denoiser.base.amount == card.edge_restore > 0  # type: ignore[attr-defined]
    assert choice.denoiser.uses_sigma
    image = _phantom(50, 47)
    np.testing.assert_allclose(choice.denoiser(image), build_denoiser("ct").denoiser(image), atol=1e-4)
    with pytest.raises(ValueError, match="runs in onnxruntime only"):
        build_denoiser(str(ct_onnx), backend="torch")


def test_export_refuses_to_overwrite_and_classical_methods(ct_onnx: Path) -> None:
    before = ct_onnx.read_bytes()
    with pytest.raises(ValueError, match="already exists"):
        export_model("ct", ct_onnx)
    assert ct_onnx.read_bytes() == before
    with pytest.raises(ValueError, match="not a network"):
        export_model("median", ct_onnx.with_name("m.onnx"))
    with pytest.raises(ValueError, match="no back end"):
        build_denoiser("median", backend="onnx")
    with pytest.raises(ValueError, match="unknown back end"):
        build_denoiser("ct", backend="tensorflow")  # type: ignore[arg-type]


def test_a_checkpoint_exports_with_its_config_and_intensity(tmp_path: Path) -> None:
    from meddenoise.models.onnx import onnx_metadata

    config = TrainConfig(
        model="unet",
        model_params={"channels": [4, 8], "blocks": 1},
        epochs=1,
        intensity={"method": "percentile", "low": 1.0, "high": 99.0},
    )
    torch.manual_seed(0)
    json_path = save_checkpoint(
        tmp_path, "best", model=build_model(config.model, **config.model_params), config=config, metadata={}
    )
    target = export_model(str(tmp_path), tmp_path / "run.onnx")
    meta = onnx_metadata(target)
    assert json.loads(meta["meddenoise.intensity"]) == config.intensity.to_dict()
    assert json.loads(meta["meddenoise.model_card"])["config"] == json.loads(json_path.read_text())["config"]
    image = _phantom(33, 40)
    torch_choice = build_denoiser(str(tmp_path), backend="torch")
    for choice in (build_denoiser(str(target)), build_denoiser(str(tmp_path), backend="onnx")):
        assert choice.intensity == torch_choice.intensity
        np.testing.assert_allclose(choice.denoiser(image), torch_choice.denoiser(image), atol=1e-4)
