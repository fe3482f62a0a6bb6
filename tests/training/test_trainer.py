"""The trainer: learning, determinism by seed, exact resume, self-supervised modes, stacked DAE."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from training_helpers import make_images, stacked_dae_config

from meddenoise.training import TrainConfig, load_checkpoint, train
from meddenoise.training.batches import BatchSource, seeded_rng
from meddenoise.training.config import TrainConfigError


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module, *, atol: float = 0.0) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=0, atol=atol, msg=key)


def test_tiny_overfit_loss_falls_well_below_its_start(tmp_path: Path) -> None:
    images = make_images(4)
    cfg = TrainConfig(
        model="gondara-dae",
        model_params={"filters": 8},
        noise="gaussian(p=0.1,sigma=1)",
        noise_mode="fixed",
        epochs=60,
        batch_size=4,
        val_fraction=0.0,
        lr=3e-3,
        seed=0,
        num_threads=1,
    )
    result = train(cfg, images, out_dir=tmp_path / "run", progress=False)
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < 0.25 * losses[0]
    assert result.best_epoch is not None and result.best_loss == pytest.approx(min(losses))


def test_run_folder_contents(tmp_path: Path, tiny_images: np.ndarray, tiny_config: TrainConfig) -> None:
    result = train(tiny_config, tiny_images, out_dir=tmp_path / "run", progress=False)
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert {
        "config.json",
        "best.safetensors",
        "best.json",
        "last.safetensors",
        "last.json",
        "last.optim.safetensors",
        "history.json",
        "history.png",
    } <= names
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert all(row["val_loss"] is not None and row["train_loss"] > 0 for row in history)
    doc = json.loads((tmp_path / "run" / "best.json").read_text())
    meta = doc["metadata"]
    assert meta["seed"] == tiny_config.seed and meta["torch_version"] == torch.__version__
    assert (meta["n_train"], meta["n_val"], meta["image_shape"]) == (9, 3, [16, 16])
    assert {"meddenoise_version", "numpy_version", "git_commit", "started_utc", "saved_utc"} <= set(meta)
    # "auto" resolved and recorded; the precision is the flag rule's unless timing the step chose fp32
    as_run = tiny_config.resolved().derive(precision=meta["speed"]["precision"])
    assert TrainConfig.from_dict(doc["config"]) == as_run
    assert meta["speed"]["requested"] == {"precision": "auto", "channels_last": "auto"}
    assert meta["speed"]["precision"] == doc["config"]["precision"] in ("fp32", "bf16")
    assert tiny_config.resolved().precision == "bf16" or meta["speed"]["precision"] == "fp32"
    assert (tmp_path / "run" / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model, cfg = load_checkpoint(tmp_path / "run")
    assert cfg == as_run == result.config
    _assert_same_weights(model, result.model)


def test_same_seed_same_weights_other_seed_differs(
    tmp_path: Path, tiny_images: np.ndarray, tiny_config: TrainConfig
) -> None:
    cfg = tiny_config.derive(epochs=2, augment_flips=True, augment_rot90=True)
    a = train(cfg, tiny_images, out_dir=tmp_path / "a", progress=False)
    b = train(cfg, tiny_images, out_dir=tmp_path / "b", progress=False)
    c = train(cfg.derive(seed=4), tiny_images, out_dir=tmp_path / "c", progress=False)
    _assert_same_weights(a.model, b.model)
    assert [r["train_loss"] for r in a.history] == [r["train_loss"] for r in b.history]
    assert not torch.equal(a.model.enc1.weight, c.model.enc1.weight)


@pytest.mark.parametrize(
    "update",
    [
        {"lr_schedule": "cosine", "optimizer": "adam"},
        {"lr_schedule": "plateau", "optimizer": "adadelta", "noise_mode": "fixed", "loss": "bce"},
    ],
)
def test_interrupted_run_resumes_to_the_uninterrupted_result(
    tmp_path: Path, tiny_images: np.ndarray, tiny_config: TrainConfig, update: dict
) -> None:
    cfg = tiny_config.derive(epochs=4, **update)
    # "Kill" the run after epoch 2 (checkpoints are written before the callback), then resume it.
    part = train(
        cfg,
        tiny_images,
        out_dir=tmp_path / "part",
        progress=False,
        on_epoch_end=lambda row: row["epoch"] == 2,
    )
    assert part.interrupted and len(part.history) == 2
    # The uninterrupted run gets the precision the interrupted one's "auto" chose: each run's own timing
    # probe may choose differently on a busy machine, and this test is about resuming, not choosing.
    _, chosen = load_checkpoint(tmp_path / "part" / "last.json")
    full = train(
        cfg.derive(precision=chosen.precision), tiny_images, out_dir=tmp_path / "full", progress=False
    )
    resumed = train(cfg, tiny_images, out_dir=tmp_path / "part", resume=True, progress=False)
    assert resumed.epochs_run == 2
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4]
    np.testing.assert_allclose(
        [r["train_loss"] for r in resumed.history], [r["train_loss"] for r in full.history], rtol=1e-5
    )
    np.testing.assert_allclose(
        [r["val_loss"] for r in resumed.history], [r["val_loss"] for r in full.history], rtol=1e-5
    )
    last_full, _ = load_checkpoint(tmp_path / "full" / "last.json")
    last_resumed, _ = load_checkpoint(tmp_path / "part" / "last.json")
    _assert_same_weights(last_full, last_resumed, atol=1e-6)
    assert resumed.best_epoch == full.best_epoch


def test_resume_refuses_a_changed_config_and_fresh_runs_refuse_an_old_folder(
    tmp_path: Path, tiny_images: np.ndarray, tiny_config: TrainConfig
) -> None:
    cfg = tiny_config.derive(epochs=1)
    train(cfg, tiny_images, out_dir=tmp_path / "run", progress=False)
    with pytest.raises(FileExistsError, match="already holds a training run"):
        train(cfg, tiny_images, out_dir=tmp_path / "run", progress=False)
    with pytest.raises(ValueError, match=r"different config.*loss"):
        train(
            cfg.derive(loss="l1"),
            tiny_images,
            out_dir=tmp_path / "run",
            resume=True,
            progress=False,
        )
    # More epochs is a legal change: training continues from epoch 2.
    more = train(
        cfg.derive(epochs=2),
        tiny_images,
        out_dir=tmp_path / "run",
        resume=True,
        progress=False,
    )
    assert [r["epoch"] for r in more.history] == [1, 2] and more.epochs_run == 1


@pytest.mark.parametrize("mode", ["noise2void", "noise2noise"])
@pytest.mark.parametrize("noise_mode", ["fresh", "fixed"])
def test_self_supervised_modes_train(
    tmp_path: Path, tiny_images: np.ndarray, tiny_config: TrainConfig, mode: str, noise_mode: str
) -> None:
    cfg = tiny_config.derive(mode=mode, noise_mode=noise_mode, epochs=2)
    result = train(cfg, tiny_images, out_dir=tmp_path / "run", progress=False)
    assert all(np.isfinite(r["train_loss"]) and np.isfinite(r["val_loss"]) for r in result.history)


def test_noise2void_batches_target_the_noisy_image_at_masked_pixels(tiny_images: np.ndarray) -> None:
    cfg = TrainConfig(mode="noise2void", noise="gaussian(p=0.1,sigma=1)", noise_mode="fixed", batch_size=5)
    source = BatchSource(cfg, tiny_images, targets=None, noise=_parse(cfg.noise), fixed_rng=seeded_rng(0, 9))
    batch = next(source.batches(np.random.default_rng(1), batch_size=5))
    assert batch.mask is not None and batch.mask.sum() >= 5
    noisy = batch.targets
    assert not np.allclose(noisy, tiny_images[:5]) and noisy.min() >= 0 and noisy.max() <= 1
    assert np.array_equal(batch.inputs[batch.mask == 0], noisy[batch.mask == 0])


def test_noise2noise_targets_are_independent_realisations(tiny_images: np.ndarray) -> None:
    cfg = TrainConfig(mode="noise2noise", noise="gaussian(p=0.1,sigma=1)", batch_size=6)
    source = BatchSource(cfg, tiny_images, targets=None, noise=_parse(cfg.noise), fixed_rng=seeded_rng(0, 9))
    batch = next(source.batches(np.random.default_rng(1), batch_size=6, shuffle=False))
    assert batch.mask is None
    assert not np.allclose(batch.inputs, batch.targets)
    # Both are noisy versions of the same clean images: their means agree far better than with others.
    same = np.abs(batch.inputs - batch.targets).mean()
    other = np.abs(batch.inputs - np.roll(batch.targets, 1, axis=0)).mean()
    assert same < other


def test_explicit_pairs_and_real_noisy_images(
    tmp_path: Path, tiny_images: np.ndarray, tiny_config: TrainConfig
) -> None:
    rng = np.random.default_rng(0)
    a = np.clip(tiny_images + rng.normal(0, 0.1, tiny_images.shape), 0, 1).astype(np.float32)
    b = np.clip(tiny_images + rng.normal(0, 0.1, tiny_images.shape), 0, 1).astype(np.float32)
    n2n = tiny_config.derive(mode="noise2noise", noise=None, epochs=1)
    train(n2n, a, out_dir=tmp_path / "n2n", train_targets=b, progress=False)
    n2v = tiny_config.derive(mode="noise2void", noise=None, epochs=1)
    train(n2v, a, out_dir=tmp_path / "n2v", progress=False)
    with pytest.raises(ValueError, match="needs explicit targets"):
        train(n2n, a, out_dir=tmp_path / "bad", progress=False)


def test_patches_augmentation_and_early_stopping(tmp_path: Path, tiny_config: TrainConfig) -> None:
    images = make_images(6, size=32)
    cfg = tiny_config.model_copy(
        update={
            "patch_size": 16,
            "patches_per_image": 3,
            "augment_flips": True,
            "augment_rot90": True,
            "epochs": 30,
            "lr": 1e-7,
            "early_stopping_patience": 2,
            "early_stopping_min_delta": 1.0,
        }
    )
    result = train(cfg, images, out_dir=tmp_path / "run", progress=False)
    # No epoch can improve by min_delta=1.0, so training stops after 1 + patience epochs.
    assert result.stopped_early and len(result.history) == 3
    with pytest.raises(ValueError, match="patch_size 64 exceeds"):
        train(cfg.derive(patch_size=64), images, out_dir=tmp_path / "big", progress=False)


def test_bad_images_are_refused(tmp_path: Path, tiny_config: TrainConfig) -> None:
    with pytest.raises(ValueError, match=r"values must lie in \[0, 1\]"):
        train(tiny_config, make_images(4) * 3, out_dir=tmp_path / "a", progress=False)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        train(tiny_config, make_images(4)[0], out_dir=tmp_path / "b", progress=False)


def test_stacked_dae_is_pretrained_layer_by_layer_then_fine_tuned(
    tmp_path: Path, tiny_images: np.ndarray
) -> None:
    cfg = stacked_dae_config(model_params={"channels": [8, 8]}, pretrain_epochs_per_layer=2, epochs=2)
    stopped = train(
        cfg, tiny_images, out_dir=tmp_path / "run", progress=False, on_epoch_end=lambda r: r["epoch"] == 1
    )
    after_first = _weights(stopped.model)
    result = train(cfg, tiny_images, out_dir=tmp_path / "run", resume=True, progress=False)
    phases = [row["phase"] for row in result.history]
    assert phases == ["pretrain-layer-0"] * 2 + ["pretrain-layer-1"] * 2 + ["train"] * 2
    assert result.best_epoch is not None and result.best_epoch > 4  # best is chosen in fine-tuning only
    # (test_phases.py checks that each phase leaves the other layers bit-identical)
    assert not torch.equal(
        after_first["encoders.0.conv.weight"], result.model.state_dict()["encoders.0.conv.weight"]
    )


def test_transfer_learning_initialises_from_a_checkpoint(
    tmp_path: Path, tiny_images: np.ndarray, tiny_config: TrainConfig
) -> None:
    cfg = tiny_config.derive(epochs=1)
    source = train(cfg, tiny_images, out_dir=tmp_path / "pre", progress=False)
    zero_lr = cfg.derive(init_from=str(tmp_path / "pre"), lr=1e-12, seed=99)
    tuned = train(zero_lr, tiny_images, out_dir=tmp_path / "fine", progress=False)
    _assert_same_weights(source.model, tuned.model, atol=1e-6)
    assert json.loads((tmp_path / "fine" / "best.json").read_text())["init_from"] == str(tmp_path / "pre")
    other = cfg.derive(init_from=str(tmp_path / "pre"), model_params={"filters": 4})
    with pytest.raises(ValueError, match="checkpoint is mismatched"):
        train(other, tiny_images, out_dir=tmp_path / "bad", progress=False)


def test_frozen_parameters_keep_their_starting_values(
    tmp_path: Path, tiny_images: np.ndarray, tiny_config: TrainConfig
) -> None:
    start = train(tiny_config.derive(epochs=1), tiny_images, out_dir=tmp_path / "pre", progress=False).model
    # AdamW's weight decay would move a frozen tensor left in the optimiser even without a gradient
    cfg = tiny_config.derive(
        init_from=str(tmp_path / "pre"), frozen=["enc*", "mid.weight"], optimizer="adamw", weight_decay=0.1
    )
    tuned = train(cfg, tiny_images, out_dir=tmp_path / "fine", progress=False).model
    before, after = _weights(start), _weights(tuned)
    frozen = {"enc1.weight", "enc1.bias", "enc2.weight", "enc2.bias", "mid.weight"}
    for key in before:
        assert torch.equal(before[key], after[key]) == (key in frozen), key
    saved = load_checkpoint(tmp_path / "fine" / "last.json")[1]
    assert saved.frozen == ["enc*", "mid.weight"]  # a resumed run freezes the same


def test_frozen_names_that_match_nothing_or_everything_are_refused(
    tmp_path: Path, tiny_images: np.ndarray, tiny_config: TrainConfig
) -> None:
    with pytest.raises(TrainConfigError, match=r"'encoder\.\*' match no parameter.*'enc1\.weight'"):
        train(tiny_config.derive(frozen=["enc1.*", "encoder.*"]), tiny_images, out_dir=tmp_path / "a")
    with pytest.raises(TrainConfigError, match="nothing would train"):
        train(tiny_config.derive(frozen=["*"]), tiny_images, out_dir=tmp_path / "b")
    # a layer-wise pretraining phase whose layer is wholly frozen has nothing to train either
    stacked = stacked_dae_config(frozen=["encoders.1.*", "decoders.1.*"])
    with pytest.raises(TrainConfigError, match="phase 'pretrain-layer-1' has nothing left to train"):
        train(stacked, tiny_images, out_dir=tmp_path / "c", progress=False)


def _parse(spec: str | None):
    from meddenoise.noise import parse_noise

    assert spec is not None
    return parse_noise(spec)


def test_bf16_autocast_and_other_losses_train(
    tmp_path: Path, tiny_images: np.ndarray, tiny_config: TrainConfig
) -> None:
    for i, update in enumerate(
        [
            {"bf16": True},
            {"loss": "ssim", "ssim_window": "uniform7"},
            {"loss": "msssim_l1", "optimizer": "sgd"},
        ]
    ):
        cfg = tiny_config.derive(epochs=1, **update)
        result = train(cfg, tiny_images, out_dir=tmp_path / f"run{i}", progress=False)
        assert np.isfinite(result.history[0]["train_loss"]) and np.isfinite(result.history[0]["val_loss"])


def test_a_diverging_run_stops_in_one_line_and_keeps_its_last_good_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An epoch whose mean loss is over ``divergence_factor`` x the lowest earlier one stops the run before it is saved."""
    from meddenoise.training import TrainingDivergedError
    from meddenoise.training import trainer as trainer_module

    losses = iter([1.0, 0.5, 0.6, 80.0, 0.4])
    real_epoch = trainer_module._Run.train_epoch

    def scripted_epoch(self: Any, epoch: int, phase: Any, bar: Any) -> dict[str, Any]:
        row = real_epoch(self, epoch, phase, bar)
        return {**row, "train_loss": next(losses)}  # the run's own row, with a scripted mean loss

    monkeypatch.setattr(trainer_module._Run, "train_epoch", scripted_epoch)
    cfg = TrainConfig(
        model="gondara-dae",
        model_params={"filters": 4},
        noise="gaussian(p=0.1,sigma=1)",
        epochs=5,
        batch_size=4,
        val_fraction=0.0,
        seed=0,
        num_threads=1,
        optim={"divergence_factor": 100.0},
    )
    with pytest.raises(
        TrainingDivergedError, match=r"diverged at epoch 4: mean loss 80 is over 100 x .*\(0\.5\)"
    ):
        train(cfg, make_images(4), out_dir=tmp_path / "run", progress=False)
    last = json.loads((tmp_path / "run" / "last.json").read_text())
    assert last["epoch"] == 3 and last["train_loss"] == 0.6  # the diverged epoch was never written
    # the same losses under a looser factor: no stop
    losses = iter([1.0, 0.5, 0.6, 80.0, 0.4])
    loose = cfg.derive(optim={"divergence_factor": 1000.0})
    assert len(train(loose, make_images(4), out_dir=tmp_path / "loose", progress=False).history) == 5
