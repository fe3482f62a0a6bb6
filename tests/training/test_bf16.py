"""bf16: with ``bf16=True`` the network's convolutions really run in bfloat16 during training."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import torch
from training_helpers import make_images

from meddenoise.models.registry import MODEL_REGISTRY
from meddenoise.training import TrainConfig, train


def _cpu_has_bf16() -> bool:
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


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


@pytest.mark.skipif(not _cpu_has_bf16(), reason="this CPU has no native bfloat16 support (avx512_bf16/amx)")
@pytest.mark.parametrize(("bf16", "expected"), [(True, torch.bfloat16), (False, torch.float32)])
def test_bf16_training_runs_the_convolutions_in_bfloat16(
    tmp_path: Path, probe_model: str, bf16: bool, expected: torch.dtype
) -> None:
    cfg = TrainConfig(
        model=probe_model, noise="gaussian(p=0.1,sigma=1)", epochs=1, batch_size=4, bf16=bf16, num_threads=1
    )
    _Probe.dtypes.clear()
    result = train(cfg, make_images(8), out_dir=tmp_path / "run", progress=False)
    assert len(_Probe.dtypes) >= 3  # training batches and the validation pass
    assert set(_Probe.dtypes) == {expected}
    assert torch.isfinite(torch.tensor(result.history[0]["train_loss"]))
