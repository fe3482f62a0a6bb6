"""Starting a deeper conditioned U-Net from a shallower one (``ConditionedUNet.grow_from``, the trainer's
``init_from``): the added residual blocks start as the identity, so fine-tuning begins where the shallower
network was and only adds capacity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from training_helpers import perturbed

from meddenoise.models import build_model
from meddenoise.training import TrainConfig, train
from meddenoise.training.checkpoint import CheckpointError, load_checkpoint

SHALLOW = {"channels": [8, 16, 32], "blocks": 1}


@pytest.mark.parametrize(("blocks", "correlation"), [(2, False), (3, False), (2, True)])
def test_a_deepened_model_computes_what_the_shallow_one_did(blocks: int, correlation: bool) -> None:
    shallow = perturbed(build_model("ffdunet", **SHALLOW), 1)
    deep = build_model("ffdunet", channels=SHALLOW["channels"], blocks=blocks, correlation_input=correlation)
    deep.eval()
    assert deep.can_grow_from(shallow) and not shallow.can_grow_from(deep)
    deep.grow_from(shallow.state_dict())
    x = torch.rand(2, 1, 40, 48)
    told = {"correlation": 0.6} if correlation else {}
    torch.testing.assert_close(deep(x, sigma=0.05, **told), shallow(x, sigma=0.05), rtol=0, atol=1e-6)
    # the added blocks are the identity through a zero second convolution, not absent: their first
    # convolution holds the seeded initialisation, so training moves them from the first step
    added = deep.body[blocks - 1]
    assert float(added.conv2.weight.detach().abs().max()) == 0.0
    assert float(added.conv1.weight.detach().abs().max()) > 0.0
    # every weight of the shallow network is in the deep one, at its place
    torch.testing.assert_close(deep.down[0][blocks].weight, shallow.down[0][1].weight)
    torch.testing.assert_close(deep.up[1][1].conv2.weight, shallow.up[1][1].conv2.weight)


def test_stages_without_blocks_grow_into_stages_with_them() -> None:
    # a stage of 0 blocks is its down-sampling alone, which moves behind the added block
    shallow = perturbed(build_model("ffdunet", channels=[8, 16, 32], blocks=0), 3)
    deep = build_model("ffdunet", channels=[8, 16, 32], blocks=1)
    deep.eval()
    deep.grow_from(shallow.state_dict())
    x = torch.rand(2, 1, 40, 48)
    torch.testing.assert_close(deep(x, sigma=0.05), shallow(x, sigma=0.05), rtol=0, atol=1e-6)
    torch.testing.assert_close(deep.down[0][1].weight, shallow.down[0][0].weight)


@pytest.mark.parametrize("blocks", [1, 2])
def test_a_deeper_body_alone_computes_what_the_shallow_one_did(blocks: int) -> None:
    # the body (the coarsest level) grows while the stages keep their depth, or grow with it
    shallow = perturbed(build_model("ffdunet", **SHALLOW), 2)
    deep = build_model("ffdunet", channels=SHALLOW["channels"], blocks=blocks, body_blocks=3)
    deep.eval()
    assert len(deep.body) == 3 and len(deep.down[0]) == blocks + 1  # blocks, then the down-sampling
    assert deep.can_grow_from(shallow) and not shallow.can_grow_from(deep)
    deep.grow_from(shallow.state_dict())
    x = torch.rand(2, 1, 40, 48)
    torch.testing.assert_close(deep(x, sigma=0.05), shallow(x, sigma=0.05), rtol=0, atol=1e-6)
    torch.testing.assert_close(deep.body[0].conv2.weight, shallow.body[0].conv2.weight)
    for added in (deep.body[1], deep.body[2]):
        assert float(added.conv2.weight.detach().abs().max()) == 0.0
        assert float(added.conv1.weight.detach().abs().max()) > 0.0


def test_the_body_depth_defaults_to_the_stages_and_is_a_real_parameter() -> None:
    same = build_model("ffdunet", channels=[8, 16, 32], blocks=2)
    assert same.body_blocks == 2 and len(same.body) == 2
    deeper = build_model("ffdunet", channels=[8, 16, 32], blocks=2, body_blocks=4)
    # two more 32-channel residual blocks: two 3x3 convolutions each, no biases
    extra = sum(p.numel() for p in deeper.parameters()) - sum(p.numel() for p in same.parameters())
    assert extra == 2 * 2 * 32 * 32 * 9
    with pytest.raises(ValueError, match="blocks"):
        build_model("ffdunet", channels=[8, 16, 32], blocks=2, body_blocks=-1)


def test_growing_is_refused_between_networks_of_other_widths_or_fewer_blocks() -> None:
    deep = build_model("ffdunet", channels=[8, 16, 32], blocks=2)
    assert not deep.can_grow_from(build_model("ffdunet", channels=[8, 16, 64], blocks=1))
    assert not deep.can_grow_from(build_model("ffdunet", channels=[8, 16, 32], blocks=2))  # the same
    assert not deep.can_grow_from(build_model("unet", channels=[8, 16, 32], blocks=1))
    shallow = build_model("ffdunet", **SHALLOW)
    with pytest.raises(ValueError, match="only add blocks"):
        shallow.grow_from(build_model("ffdunet", channels=[8, 16, 32], blocks=3).state_dict())
    # a deeper body cannot shrink back, even into more blocks per stage
    deep_body = build_model("ffdunet", channels=[8, 16, 32], blocks=1, body_blocks=4)
    assert not deep.can_grow_from(deep_body)
    with pytest.raises(ValueError, match="only add blocks"):
        deep.grow_from(deep_body.state_dict())


def test_training_deepens_a_checkpoint_and_moves_the_new_blocks(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    clean = rng.random((16, 32, 32)).astype(np.float32)
    base = TrainConfig(
        model="ffdunet",
        model_params=SHALLOW,
        noise=None,
        objective={"kind": "conditioned", "sigma_low": 0.01, "sigma_high": 0.05},
        epochs=1,
        batch_size=8,
        val_fraction=0.0,
        channels_last=False,
    )
    train(base, clean, out_dir=tmp_path / "shallow")
    shallow, _ = load_checkpoint(tmp_path / "shallow")
    deep_config = base.derive(model_params={**SHALLOW, "blocks": 2}, init_from=str(tmp_path / "shallow"))
    deep = train(deep_config, clean, out_dir=tmp_path / "deep").model
    assert len(deep.body) == 2
    assert float(deep.body[1].conv2.weight.detach().abs().max()) > 0  # the added block learnt something
    torch.testing.assert_close(deep.head.weight, shallow.head.weight, atol=0.05, rtol=0)  # started there
    with pytest.raises(CheckpointError, match="mismatched"):  # fewer blocks cannot start from more
        train(base.derive(init_from=str(tmp_path / "deep")), clean, out_dir=tmp_path / "back")
