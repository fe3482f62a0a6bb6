"""Reproduction of the DnCNN paper's natural-image protocol: Gaussian denoising of Set12, trained on Train400.

Zhang, Zuo, Chen, Meng & Zhang, "Beyond a Gaussian denoiser: residual learning of deep CNN for image
denoising", IEEE TIP 26(7), 2017, Table III (Set12 average PSNR at sigma 15 / 25 / 50).

Protocol:

* Test: the 12 Set12 images (``set12/``, 8-bit grey, 7 at 256x256 and 5 at 512x512), or any folder of
  grey images with ``test_dir`` (``--test-dir``); each is scaled to [0, 1] by its stored range (x / 255 for
  8-bit). Noise: additive white Gaussian noise of std ``sigma / 255`` (sigma on the 0-255 scale), not
  clipped, one seeded draw per image and sigma. PSNR with data range 1 on [0, 1] (= data range 255 on
  0-255) per image, outputs clipped to [0, 1]; the table gives the mean over the images.
* Training: the 400 Train400 images (180x180 grey), the project's own trainer with the ``conditioned``
  objective: random ``patch_size`` crops with flips and rot90, a fresh noise draw per batch, each patch's
  sigma drawn uniformly in ``[0, sigma_max] / 255``; one noise-level-conditioned network (``ffdunet``) serves
  every sigma. Adam, cosine learning rate to 0 over ``epochs`` (one epoch = ``patches_per_image``
  patches of every image), MSE. The weights after the last epoch are tested.
* The network is tested told the true sigma (FFDNet's protocol) and blind: told each noisy image's level
  as estimated by :func:`meddenoise.noise.estimate_noise_std`.
* Baselines measured on the same noisy images: BM3D (the ``bm3d`` package) and NL-means
  (scikit-image), both told the true sigma.
* The training run lives in ``<out>/training`` (or ``train_dir``) and is resumed from its last finished
  epoch when the reproduction is run again into the same folder; a finished training is reused as is.
  The trained model is not shipped: Train400 is for non-commercial research only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, field_validator

from meddenoise.evaluation import Score
from meddenoise.experiments.config import ReproductionConfig
from meddenoise.experiments.protocol import derived_seed, summarise
from meddenoise.experiments.published import PublishedTable
from meddenoise.experiments.registry import Reproduction, ReproductionError, register
from meddenoise.experiments.runner import ExperimentRecord, ResultTable

if TYPE_CHECKING:
    from meddenoise.denoiser import Denoiser
    from meddenoise.training import TrainConfig, TrainResult

__all__ = [
    "DNCNN2017",
    "DnCNN2017",
    "DnCNN2017Config",
    "add_noise",
    "load_grey_images",
    "run_dncnn2017",
    "train_config",
]

_CITATION = (
    "Zhang, Zuo, Chen, Meng & Zhang, 'Beyond a Gaussian Denoiser: Residual Learning of Deep CNN for Image "
    "Denoising', IEEE TIP 26(7):3142-3155, 2017"
)
BM3D_PUBLISHED = "BM3D (published)"
DNCNN_PUBLISHED = "DnCNN-S (published)"
#: Set12 average PSNR (dB) of Table III, the sigma columns as this reproduction labels them.
DNCNN2017: dict[str, PublishedTable] = {
    "set12": PublishedTable(
        key="dncnn2017/set12",
        source=f"{_CITATION} (reference [10] of shared/seeds/004_b05a44ec5c3821c3.txt), Table III (Set12, "
        "average row), as quoted in shared/data/README.md and shared/data/set12/SOURCE.txt",
        metric="psnr",
        columns=("sigma 15", "sigma 25", "sigma 50"),
        rows={
            BM3D_PUBLISHED: (32.37, 29.97, 26.72),
            DNCNN_PUBLISHED: (32.86, 30.44, 27.18),
        },
        note="AWGN on the 0-255 scale; DnCNN-S is one 17-layer network per noise level, trained on "
        "128 x 1,600 40x40 Train400 patches for 50 epochs on a GPU; BM3D told the true sigma.",
    ),
}
PSNR = Score("psnr", label="PSNR (dB)")
TOLD = "ours, told sigma"
BLIND = "ours, blind (estimated sigma)"
TOLD_ENSEMBLE = "ours self-ensemble, told sigma"
BLIND_ENSEMBLE = "ours self-ensemble, blind (estimated sigma)"
#: Short method keys of the evaluation → table row labels.
ROWS: dict[str, str] = {
    "noisy": "Noisy input",
    "bm3d": "BM3D, told sigma (bm3d package)",
    "nlmeans": "NL-means, told sigma (scikit-image)",
    TOLD: "ffdunet, told sigma (ours)",
    BLIND: "ffdunet, blind: estimated sigma (ours)",
    TOLD_ENSEMBLE: "ffdunet self-ensemble, told sigma (ours)",
    BLIND_ENSEMBLE: "ffdunet self-ensemble, blind: estimated sigma (ours)",
}
_OURS = (TOLD, BLIND, TOLD_ENSEMBLE, BLIND_ENSEMBLE)


def _row_label(key: str, ensemble: int) -> str:
    """The table label of ``key``, with the self-ensemble's size."""
    return ROWS[key].replace("self-ensemble", f"x{ensemble} self-ensemble")


class DnCNN2017Config(ReproductionConfig):
    """Everything that defines a dncnn2017 run (:data:`QUICK` gives the CI variant)."""

    sigmas: tuple[float, ...] = Field((15.0, 25.0, 50.0), description="Test noise stds on the 0-255 scale.")
    test_dir: Path | None = Field(None, description="Folder of grey test images (default: <data>/set12).")
    train_dir: Path | None = Field(
        None,
        description="Training run folder, resumed or reused when it holds one (default: <out>/training).",
    )
    max_train_images: int | None = Field(None, ge=1, description="Use only the first N Train400 images.")
    max_test_images: int | None = Field(None, ge=1, description="Score only the first N test images.")
    test_crop: int | None = Field(None, ge=16, description="Score centre crops of this size (quick runs).")
    # the network: ffdunet at (32, 64, 128, 256) x 1 (docs/reproduce.md: chosen by throughput per FLOP)
    channels: tuple[int, ...] = (32, 64, 128, 256)
    blocks: int = Field(1, ge=0)
    # the training budget: epochs x patches_per_image x (number of training images) patches
    epochs: int = Field(45, ge=1)
    patches_per_image: int = Field(40, ge=1)
    patch_size: int = Field(64, ge=16)
    batch_size: int = Field(16, ge=1)
    # 1e-3 without clipping diverged at epoch 10 of the first full run (train loss 0.0019 -> 7e11), so:
    lr: float = Field(5e-4, gt=0)
    grad_clip: float | None = Field(1.0, gt=0, description="Clip the gradient norm (None: no clipping).")
    sigma_max: float = Field(
        55.0, gt=0, le=255, description="Training sigmas: uniform in [0, sigma_max] / 255."
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "fp32", description="Training arithmetic; fp32: bf16 autocast measured slower on CPUs without AMX."
    )
    device: str = Field(
        "cpu",
        pattern=r"^(cpu|cuda(:[0-9]+)?|auto)$",
        description="Where the network trains (TrainConfig.device); a finished run is reused on any device.",
    )
    baselines: tuple[str, ...] = Field(("bm3d", "nlmeans"), description="Classical rows (told sigma).")
    ensemble: Literal[1, 2, 4, 8] = Field(
        8,
        description="Also score ours as a self-ensemble of this many flipped/rotated copies (1: one pass only).",
    )
    figure_sigma: float = 25.0
    figure_image: int = Field(0, ge=0, description="Index of the test image in the figure.")

    @field_validator("baselines", "sigmas", "channels", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        # ``--set sigmas=15,25``, ``--set channels=16,32,64`` and ``--set baselines=`` (none) arrive as text
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("baselines")
    @classmethod
    def _known_baselines(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - {"bm3d", "nlmeans"})
        if unknown:
            raise ValueError(f"unknown baselines {unknown}; choose from bm3d, nlmeans")
        return value

    @field_validator("sigmas")
    @classmethod
    def _positive_sigmas(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or min(value) <= 0:
            raise ValueError("sigmas must be one or more positive numbers (0-255 scale)")
        return value


#: Same code path, a tiny network, a few patches and four 64x64 test crops (CI).
QUICK: dict[str, object] = {
    "max_train_images": 16,
    "max_test_images": 2,
    "test_crop": 64,
    "channels": (8, 16),
    "epochs": 2,
    "patches_per_image": 1,
    "patch_size": 32,
    "batch_size": 8,
}


@register
class DnCNN2017(Reproduction[DnCNN2017Config]):
    """DnCNN (Zhang et al. 2017): Set12 at sigma 15/25/50, one conditioned network trained on Train400."""

    name = "dncnn2017"
    title = "Zhang et al. 2017 (DnCNN) — Gaussian denoising of Set12, trained on Train400"
    summary = "DnCNN paper, Set12 at sigma 15/25/50, trained on Train400 (--test-dir scores another folder)"
    config_class = DnCNN2017Config
    published = DNCNN2017
    figures = ("Test image at sigma 25", "Training loss")
    doc = "docs/reproduce.md#dncnn2017--protocol"

    def quick_changes(self) -> dict[str, object]:
        return dict(QUICK)

    def report_name(self, changes: Mapping[str, object]) -> str:
        test_dir = changes.get("test_dir")
        return self.name + (f"-{Path(str(test_dir)).name}" if test_dir else "")

    def run(self, config: DnCNN2017Config, *, log: Callable[[str], None] = print) -> ExperimentRecord:
        return run_dncnn2017(config, log=log)


def load_grey_images(
    folder: Path, *, limit: int | None = None, crop: int | None = None
) -> tuple[list[np.ndarray], list[str], list[str]]:
    """Every image of ``folder`` as a [0, 1] grey array (any sizes), its name, and one line per failure.

    A file that cannot be read is reported as ``<path>: <reason>`` and skipped; the others are loaded.
    ``crop`` takes centre crops of at most that size.
    """
    from meddenoise.data import list_images, load_dataset

    images, names, failures = [], [], []
    for path in list_images(folder, recursive=False)[:limit]:
        try:
            data = load_dataset(path, cache=False, progress=False)
        except (ValueError, OSError) as exc:  # ImageReadError is a ValueError; the message names the file
            text = str(exc)
            failures.append(text if text.startswith(str(path)) else f"{path}: {text}")
            continue
        if len(data.images) != 1:
            failures.append(f"{path}: holds {len(data.images)} slices; a test image must be one 2D image")
            continue
        image = data.images[0]
        if crop is not None:
            top, left = max(0, (image.shape[0] - crop) // 2), max(0, (image.shape[1] - crop) // 2)
            image = image[top : top + crop, left : left + crop]
        images.append(np.ascontiguousarray(image, dtype=np.float32))
        names.append(path.name)
    return images, names, failures


def add_noise(image: np.ndarray, sigma: float, *, seed: int) -> np.ndarray:
    """``image + sigma / 255 * N(0, 1)``, not clipped (the paper's AWGN on the 0-255 scale), float32."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(image.shape, dtype=np.float64) * (sigma / 255.0)
    return (np.asarray(image, dtype=np.float64) + noise).astype(np.float32)


def train_config(config: DnCNN2017Config) -> TrainConfig:
    """The conditioned training of ``config``: ffdunet, fresh AWGN per batch with a per-patch sigma."""
    from meddenoise.training import TrainConfig

    return TrainConfig(
        model="ffdunet",
        model_params={"channels": list(config.channels), "blocks": config.blocks},
        noise=None,  # the conditioned objective draws the noise itself
        objective={
            "kind": "conditioned",
            "sigma_low": 0.0,
            "sigma_high": config.sigma_max / 255.0,
            # told sigma = 0 the network's gate returns the input exactly: such samples teach nothing
            "clean_fraction": 0.0,
            "loss": "mse",
        },
        epochs=config.epochs,
        batch_size=config.batch_size,
        val_fraction=0.0,  # all 400 images train, as in the paper; the last weights are tested
        data={
            "patch_size": config.patch_size,
            "patches_per_image": config.patches_per_image,
            "augment_flips": True,
            "augment_rot90": True,
        },
        optim={"optimizer": "adam", "lr": config.lr, "schedule": "cosine", "grad_clip": config.grad_clip},
        precision=config.precision,
        channels_last=True,
        num_threads=config.threads,
        device=config.device,
        seed=config.seed,
    )


def _train(
    config: DnCNN2017Config, train_dir: Path, images: np.ndarray, log: Callable[[str], None]
) -> tuple[TrainResult, bool]:
    """Train (or resume, or reuse the finished run in) ``train_dir``; True when a run was resumed."""
    from meddenoise.training import train

    resume = (train_dir / "last.json").exists()
    if resume:
        log(f"resuming the training run in {train_dir} (a finished run is reused as is)")
    try:
        result = train(
            train_config(config), images, out_dir=train_dir, resume=resume, progress=not config.quick
        )
    except ValueError as exc:  # e.g. the folder holds a run of another config
        if not resume:
            raise
        raise ReproductionError(f"{exc}; to train anew choose another --out or --set train_dir=DIR") from None
    return result, resume


def _model_record(
    config: DnCNN2017Config, tc: TrainConfig, result: TrainResult, train_dir: Path, n_train: int
) -> dict[str, Any]:
    """The model-card-like record of the trained network (architecture, data, budget, weights)."""
    from meddenoise.models import count_flops
    from meddenoise.training.checkpoint import read_checkpoint_json

    _, doc = read_checkpoint_json(train_dir / "last.json")
    rows = [r for r in result.history if r.get("phase") == "train"]
    seconds = sum(float(r["seconds"]) for r in rows)
    patches = len(rows) * n_train * config.patches_per_image
    model = result.model
    side = 4 * config.patch_size
    return {
        "architecture": "ffdunet (FFDNet input: pixel-unshuffle 2 + noise-level map; DRUNet-style U-Net body)",
        "model_params": dict(tc.model_params),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "mflop_per_pixel": round(count_flops(model, (1, 1, side, side)) / side**2 / 1e6, 4),
        "training_data": f"Train400: {n_train} grey 180x180 images (BSD-derived, non-commercial research only)",
        "shipped": False,
        "why_not_shipped": "Train400 is licensed for non-commercial research only",
        "objective": tc.objective.model_dump(mode="json"),
        "patch_size": config.patch_size,
        "batch_size": config.batch_size,
        "epochs_done": len(rows),
        "epochs_planned": config.epochs,
        "patches_seen": patches,
        "optimizer_steps": len(rows) * -(-n_train * config.patches_per_image // config.batch_size),
        "training_seconds": round(seconds, 1),
        "patches_per_second": round(patches / seconds, 1) if seconds > 0 else None,
        "final_train_loss": rows[-1]["train_loss"] if rows else None,
        "precision": result.config.precision,
        "threads": config.threads,
        # where the last epoch trained (a finished run reused here keeps the device it trained on)
        "device": str(doc["config"].get("device", "cpu")),
        "weights": str(train_dir / str(doc["weights_file"])),
        "weights_sha256": doc["weights_sha256"],
        "resumed_utc": result.metadata.get("resumed_utc", []),
    }


def _where(model_info: Mapping[str, Any], config: DnCNN2017Config) -> str:
    device = str(model_info.get("device", "cpu"))
    return f"{config.threads} CPU threads" if device == "cpu" else f"on {device}"


def _baseline(name: str) -> Denoiser:
    from meddenoise.classical import get_classical

    return get_classical(name)


def run_dncnn2017(config: DnCNN2017Config, *, log: Callable[[str], None] = print) -> ExperimentRecord:
    """Train (or resume) the conditioned network on Train400; score it, BM3D and NL-means on the test set."""
    from meddenoise.data import load_images
    from meddenoise.evaluation import NOISY, evaluate
    from meddenoise.experiments import figures
    from meddenoise.models.denoiser import ModelDenoiser
    from meddenoise.models.ensemble import SelfEnsemble
    from meddenoise.noise import estimate_noise_std
    from meddenoise.training import load_checkpoint

    if config.data_dir is None and config.test_dir is None:
        raise ReproductionError("dncnn2017: the config has no data folder (data_dir)")
    set12 = config.test_dir is None
    test_dir = Path(config.data_dir or ".") / "set12" if config.test_dir is None else config.test_dir
    if not test_dir.is_dir():
        raise FileNotFoundError(f"{test_dir}: no such folder")
    record = ExperimentRecord.start(DnCNN2017.name, DnCNN2017.title, config, log=log)
    assert config.out is not None  # ExperimentRecord.start checked it
    train_dir = config.train_dir if config.train_dir is not None else config.out / "training"

    with record.step(f"load the test images of {test_dir}"):
        clean, names, failures = load_grey_images(
            test_dir, limit=config.max_test_images, crop=config.test_crop
        )
    for line in failures:
        log(line)
    if not clean:
        raise ReproductionError(f"{test_dir}: no readable grey test images")
    train_folder = Path(config.data_dir or ".") / "train400"
    with record.step("load Train400"):
        files = sorted(train_folder.glob("*.png"))[: config.max_train_images]
        if not files:
            raise FileNotFoundError(f"{train_folder}: no Train400 PNG files")
        train_images = load_images(files, progress=False)
    tc = train_config(config)
    with record.step(
        f"train ffdunet {list(config.channels)} x {config.blocks} on {len(train_images)} images "
        f"({config.epochs} epochs x {config.patches_per_image} patches per image)"
    ):
        cpu_start = time.process_time()
        result, resumed = _train(config, train_dir, train_images, log)
        cpu_seconds = time.process_time() - cpu_start
    # the cosine schedule ends at 0: the last epoch's weights, not the lowest-training-loss epoch's
    model, _ = load_checkpoint(train_dir / "last.json")
    ours = ModelDenoiser(model, name="ffdunet", batch_size=1)
    told_methods: dict[str, Denoiser] = {TOLD: ours}
    blind_methods: dict[str, Denoiser] = {BLIND: ours}
    if config.ensemble > 1:
        told_methods[TOLD_ENSEMBLE] = blind_methods[BLIND_ENSEMBLE] = SelfEnsemble(ours, config.ensemble)
    record.extra["model"] = _model_record(config, tc, result, train_dir, len(train_images))
    # CPU seconds (all threads) of this call's training: the stable figure on a shared machine
    record.extra["model"]["training_cpu_seconds_this_call"] = round(cpu_seconds, 1)
    record.protocol["data"] = {
        "test": str(test_dir),
        "test_images": names,
        "unreadable": failures,
        "test_crop": config.test_crop,
        "train": f"{train_folder} ({len(train_images)} images)",
        "training_run": str(train_dir),
        "resumed": resumed,
    }

    from meddenoise.classical import bm3d_available

    skipped = [name for name in config.baselines if name == "bm3d" and not bm3d_available()]
    baselines = {name: _baseline(name) for name in config.baselines if name not in skipped}
    columns = [f"sigma {s:g}" for s in config.sigmas]
    per_image: dict[str, dict[str, list[float]]] = {}
    cells: dict[str, dict[str, Any]] = {key: {} for key in ROWS}
    estimated: dict[str, Any] = {}
    figure_rows: list[tuple[str, np.ndarray]] = []
    for sigma, column in zip(config.sigmas, columns, strict=True):
        noisy = [
            add_noise(img, sigma, seed=derived_seed(config.seed, "test-noise", sigma, name))
            for img, name in zip(clean, names, strict=True)
        ]
        keep = sigma == config.figure_sigma
        with record.step(f"sigma {sigma:g}: {', '.join([*baselines, 'ours'])} told sigma"):
            told = evaluate(
                {**baselines, **told_methods},
                clean,
                None,
                [PSNR],
                seed=config.seed,
                noisy=noisy,
                sigma=sigma / 255.0,
                clip_outputs=True,
                keep_outputs=keep,
                image_names=names,
                progress=False,
            )
        with record.step(f"sigma {sigma:g}: ours blind (estimated sigma)"):
            blind = evaluate(
                blind_methods,
                clean,
                None,
                [PSNR],
                seed=config.seed,
                noisy=noisy,
                clip_outputs=True,
                image_names=names,
                progress=False,
            )
        for key in ROWS:
            result_of = blind if key in blind_methods else told
            method = NOISY if key == "noisy" else key
            if method not in result_of.methods:
                continue
            values = result_of.values(method, PSNR.name)
            cells[key][column] = summarise(values)
            per_image.setdefault(f"{key} @ {column}", {})["psnr"] = [round(float(v), 4) for v in values]
        levels = np.array([estimate_noise_std(img) for img in noisy]) * 255.0  # what the blind run is told
        estimated[column] = {"mean": float(levels.mean()), "per_image": [round(float(v), 3) for v in levels]}
        if keep:
            i = min(config.figure_image, len(clean) - 1)
            psnr_of = {m: f"{told.values(m, PSNR.name)[i]:.2f} dB" for m in told.methods}
            figure_rows = [("clean", clean[i]), (f"noisy, sigma {sigma:g}, {psnr_of[NOISY]}", noisy[i])]
            figure_rows += [(f"{name}, {psnr_of[name]}", told.outputs[name][i]) for name in baselines]
            figure_rows.append((f"ours (told sigma), {psnr_of[TOLD]}", told.outputs[TOLD][i]))

    table = ResultTable(
        "dncnn2017/set12" if set12 else "dncnn2017/test_dir",
        f"Average PSNR (dB) on {'Set12' if set12 else test_dir.name}: published vs measured",
        "psnr",
        columns,
        digits=2,
        caption="AWGN sigma/255 on [0, 1] images, not clipped; PSNR (data range 1, = 255 on 0-255) per image, "
        "mean ± std over the images; outputs clipped to [0, 1]. One ffdunet serves every sigma.",
    )
    if set12:
        table.add_published(DNCNN2017["set12"])  # the columns of the sigmas the paper has
    for key in ROWS:
        if cells[key]:
            label = _row_label(key, config.ensemble)
            table.add_row(label, "ours" if key in _OURS else "measured", cells[key])
    record.add_table(table)
    if set12:
        record.compare_with_published(
            table,
            pairs={BM3D_PUBLISHED: (ROWS["bm3d"], "measured"), DNCNN_PUBLISHED: (ROWS[TOLD], "ours")},
            tolerance=0.1,
            reasons={
                BM3D_PUBLISHED: "the bm3d package (v4, Mäkinen et al.) is a later implementation than the "
                "paper's MATLAB BM3D; different noise draws",
                DNCNN_PUBLISHED: "a CPU budget of about 1.5 hours and one network for all sigmas, against "
                "DnCNN-S's one 17-layer network per sigma trained for 50 epochs of 204,800 patches on a GPU",
            },
        )
    est_table = ResultTable(
        "dncnn2017/estimated_sigma",
        "Noise level the blind network is told: mean estimate (0-255 scale)",
        "sigma",
        columns,
        digits=2,
        caption="meddenoise.noise.estimate_noise_std on each noisy test image, x 255; the true value heads "
        "each column. The paper publishes no estimates (empty Published row).",
    )
    est_table.add_row("Published", "published", {})
    est_table.add_row(
        "estimate_noise_std", "measured", {c: summarise(estimated[c]["per_image"]) for c in columns}
    )
    record.add_table(est_table)

    targets: dict[str, dict[str, bool]] = {}
    if "bm3d" in baselines:
        for column in columns:
            bm3d_cell = cells["bm3d"].get(column)
            for key, name in ((TOLD, "told >= BM3D"), (TOLD_ENSEMBLE, "ensemble told >= BM3D")):
                ours_cell = cells[key].get(column)
                if ours_cell is not None and bm3d_cell is not None:
                    targets.setdefault(column, {})[name] = bool(ours_cell.mean >= bm3d_cell.mean)
    record.extra["targets"] = targets
    record.extra["per_image_psnr"] = per_image
    record.extra["estimated_sigma"] = estimated

    with record.step("figures"):
        if figure_rows:
            crop = [np.clip(img, 0.0, 1.0) for _, img in figure_rows]
            path = figures.image_grid(
                [("", np.stack(crop))],
                record.figure_path("example_sigma25.png"),
                title=f"{names[min(config.figure_image, len(clean) - 1)]} at sigma {config.figure_sigma:g}",
                column_labels=[label for label, _ in figure_rows],
                cell_inches=2.4,
            )
            record.add_figure(
                path,
                "Test image at sigma 25",
                "Clean, noisy, each baseline and ours (told sigma), clipped to [0, 1].",
            )
        curve = [float(r["train_loss"]) for r in result.history if r.get("phase") == "train"]
        if curve:
            path = figures.loss_curves(
                {"ffdunet on Train400": {"train": curve}},
                record.figure_path("loss_curve.png"),
                ylabel="MSE",
                log_y=True,
            )
            record.add_figure(
                path, "Training loss", "Mean training MSE per epoch (noise levels drawn per patch)."
            )

    model_info = record.extra["model"]
    record.notes += [
        f"Network: ffdunet channels {list(config.channels)} x {config.blocks} blocks "
        f"({model_info['parameters']:,} parameters, {model_info['mflop_per_pixel']} MFLOP per pixel), "
        f"trained {model_info['epochs_done']} epochs = {model_info['patches_seen']:,} {config.patch_size}x"
        f"{config.patch_size} patches in {model_info['training_seconds']:.0f} s "
        f"({model_info['patches_per_second']} patches/s, {_where(model_info, config)}, {model_info['precision']}).",
        f"Training sigma uniform in [0, {config.sigma_max:g}]/255 per patch, fresh noise every batch, Adam "
        f"{config.lr:g} with a cosine schedule to 0, MSE; the last epoch's weights are tested.",
        "The trained model is not shipped (Train400 is for non-commercial research only); its record is "
        "results.json's extra.model, its weights in " + str(train_dir) + ".",
        "Told: the network gets the true sigma (FFDNet's protocol). Blind: it gets each noisy image's "
        "estimate_noise_std (table dncnn2017/estimated_sigma).",
    ]
    for name, what in (
        ("told >= BM3D", "one pass"),
        ("ensemble told >= BM3D", f"x{config.ensemble} self-ensemble"),
    ):
        if not any(name in t for t in targets.values()):
            continue
        missed = [c for c, t in targets.items() if not t.get(name, False)]
        record.notes.append(
            f"Target ours (told) >= BM3D (measured) at every sigma, {what}: "
            + ("met." if not missed else "NOT met: " + ", ".join(missed))
        )
    if skipped:
        record.notes.append(
            "No BM3D row: the optional bm3d package is not installed (pip install 'meddenoise[bm3d]')."
        )
    if failures:
        record.notes.append(f"{len(failures)} unreadable file(s) skipped: " + "; ".join(failures))
    if not set12:
        record.notes.append(
            f"Test images from {test_dir}, not Set12: the published numbers (Set12) are not shown beside them."
        )
    if config.quick:
        record.notes.insert(
            0, "QUICK RUN: a tiny network, a few patches and crops; numbers are not a reproduction."
        )
    return record
