"""Reproduction of the 2025 project report: per-modality convolutional autoencoders at 128x128.

Protocol:

* MRI: axial slices of the MNI152 T1 template shipped with nilearn (slices whose mean is under 5 % of the
  brightest slice's are skipped), padded to square, resized to 128x128; split by slabs of 10 consecutive
  slices with a 2-slice gap between slabs (neighbouring slices are nearly identical).
* CT: ``chest-ct-dicom`` (45 slices of 27 patients), split by DICOM PatientID, each slice scaled to [0, 1] by
  its 0.5-99.5 percentiles (the report used display-ready Kaggle images), 512 → 128 by area averaging.
* X-ray: ``dental-ceph`` (146 distinct) and ``mini-mias`` (322), full resolution → 128x128 by area
  averaging; seeded random split. ``chest-xray-64`` is only 64x64 and is not upsampled: it is left out
  of the 128x128 study and joins the X-ray data only in the 64x64 variant (``size=64``), split by NIH
  patient so no patient is in both train and test; the protocol records how many images of each source
  are in each split.
* Noise ``clip(x + 0.3 * N(0, 1.5), 0, 1)`` = ``gaussian(p=0.3,sigma=1.5)``; model ``conv-ae`` (Conv 64 →
  pool → Conv 128 → pool → Conv 128 → up → Conv 64 → up → Conv 1 sigmoid), Adam, MSE (the report's loss
  curves reach ~0.0009, an MSE), 50 epochs, batch 16, fresh noise each batch.
* One model per modality and one shared model on all three; every model is tested on every modality's
  test images (cross-modality table) — the report claims modality-specific models are needed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from meddenoise.evaluation import Score
from meddenoise.experiments.config import ReproductionConfig
from meddenoise.experiments.protocol import (
    TrainedModel,
    derived_seed,
    output_collapsed,
    summarise,
    train_denoiser,
)
from meddenoise.experiments.published import PublishedTable
from meddenoise.experiments.registry import Reproduction, ReproductionError, register
from meddenoise.experiments.runner import Cell, ExperimentRecord, ResultTable

if TYPE_CHECKING:
    from meddenoise.training import TrainConfig

__all__ = ["MODALITIES", "ModalityConfig", "ModalityStudy", "load_modalities", "run_modality_study"]

MODALITIES = ("MRI", "CT", "X-ray")
#: ``chest-xray-64`` images are 64x64: they take part only in a study run at exactly this size.
CHEST_XRAY_SIZE = 64

_CITATION = (
    "Karan & Ashish, 'Medical Image Denoising Using Autoencoders', NIT Raipur final-year project report, 2025 "
    "(shared/seeds/002_9ff5e727bbfdaeee.txt)"
)
PUBLISHED_ROW = "Conv AE 64/128 (published)"
#: The 2025 project report: one test set of 52 images (their own Kaggle data; modality mix not given).
MODALITY_STUDY: dict[str, PublishedTable] = {
    "metrics": PublishedTable(
        key="modality-study/metrics",
        source=f"{_CITATION}, 'Metrics over 52 test images'",
        metric="psnr/ssim/mae/lpips",
        columns=("PSNR (dB)", "SSIM", "MAE", "LPIPS"),
        rows={PUBLISHED_ROW: (29.55, 0.8742, 0.0226, 0.0850)},
        note="128x128, noise clip(x + 0.3 * N(0, 1.5), 0, 1), 50 epochs; per-modality models are claimed "
        "but only one set of numbers is printed, over 52 test images.",
    ),
}
#: Our row label of the published numbers.
PUBLISHED_LABEL = "Published (52 test images, their data)"
#: Table column → score (SSIM: 7x7 uniform window, data_range 1).
COLUMNS: dict[str, Score] = {
    "PSNR (dB)": Score("psnr"),
    "SSIM": Score("ssim", win_size=7),
    "MAE": Score("mae"),
    "LPIPS": Score("lpips"),
}


class ModalityConfig(ReproductionConfig):
    """Everything that defines a modality-study run (:data:`QUICK` gives the CI variant)."""

    size: int = Field(128, ge=8, description="Image size; 64 adds chest-xray-64 to the X-ray data.")
    noise: str = "gaussian(p=0.3,sigma=1.5)"
    model: str = "conv-ae"
    epochs: int = 50
    batch_size: int = 16
    test_fraction: float = 0.2
    max_train_per_modality: int | None = 160
    max_test_per_modality: int | None = 40
    max_files_per_folder: int | None = None
    slab_size: int = 10
    slab_gap: int = 2
    figure_images: int = 3
    #: a training whose output is constant on these training images is retried with a new seed and a
    #: 10x smaller learning rate (up to ``max_attempts`` trainings in all)
    collapse_check_images: int = 8
    max_attempts: int = 3


#: Same code path, a few images and one epoch (CI).
QUICK: dict[str, object] = {
    "epochs": 1,
    "max_train_per_modality": 12,
    "max_test_per_modality": 4,
    "max_files_per_folder": 16,
}


@register
class ModalityStudy(Reproduction[ModalityConfig]):
    """The 2025 report: per-modality conv-ae models vs one shared model, with a cross-modality table."""

    name = "modality-study"
    title = "2025 report — per-modality convolutional autoencoders (MRI, CT, X-ray)"
    summary = "2025 report, MRI/CT/X-ray, 128x128 (--size 64 adds chest-xray-64)"
    config_class = ModalityConfig
    published = MODALITY_STUDY
    figures = ("MRI examples", "CT examples", "X-ray examples", "Training and validation loss")
    doc = "docs/reproduce.md#modality-study--protocol"

    def quick_changes(self) -> dict[str, object]:
        return dict(QUICK)

    def report_name(self, changes: Mapping[str, object]) -> str:
        return self.name + (f"-{changes['size']}" if "size" in changes else "")

    def run(self, config: ModalityConfig, *, log: Callable[[str], None] = print) -> ExperimentRecord:
        return run_modality_study(config, log=log)


def _mri_slices(size: int) -> np.ndarray:
    from nilearn.datasets import load_mni152_template

    from meddenoise.data import pad_to_square, resize

    volume = np.asarray(load_mni152_template(resolution=1).get_fdata(), dtype=np.float32)
    means = volume.reshape(-1, volume.shape[2]).mean(axis=0)
    keep = np.flatnonzero(means >= 0.05 * means.max())
    slices = [resize(pad_to_square(volume[:, :, k].T[::-1]), size) for k in keep]
    return np.clip(np.stack(slices), 0.0, 1.0).astype(np.float32)


def _cap(idx: np.ndarray, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    if cap is None or len(idx) <= cap:
        return idx
    return np.sort(rng.choice(idx, size=cap, replace=False))


def _split_indices(
    n: int,
    config: ModalityConfig,
    purpose: str,
    rng: np.random.Generator,
    groups: Sequence[object] | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (group-aware) train/test indices, each part capped at the config's per-modality maximum."""
    from meddenoise.data import train_val_test_split

    frac = (1 - config.test_fraction, 0.0, config.test_fraction)
    split = train_val_test_split(n, fractions=frac, seed=derived_seed(config.seed, purpose), groups=groups)
    return (
        _cap(split.train, config.max_train_per_modality, rng),
        _cap(split.test, config.max_test_per_modality, rng),
    )


def _split_capped(
    images: np.ndarray,
    config: ModalityConfig,
    purpose: str,
    rng: np.random.Generator,
    groups: Sequence[object] | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    train_idx, test_idx = _split_indices(len(images), config, purpose, rng, groups)
    return images[train_idx], images[test_idx]


def load_modalities(
    data_dir: Path, config: ModalityConfig
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, dict[str, object]]]:
    """Train and test images per modality (``config.size`` square, [0, 1]) and a description of each split."""
    from meddenoise.data import dicom_groups, load_images, slab_groups
    from meddenoise.data.curation import curated_pngs, nih_patient_id

    data_dir = Path(data_dir)
    rng = np.random.default_rng(derived_seed(config.seed, "modality-caps"))
    train, test, info = {}, {}, {}

    mri = _mri_slices(config.size)
    groups = slab_groups(len(mri), slab_size=config.slab_size, gap=config.slab_gap)
    train["MRI"], test["MRI"] = _split_capped(mri, config, "mri", rng, groups)
    info["MRI"] = {
        "source": "nilearn MNI152 T1 template, axial slices",
        "slices": len(mri),
        "split": f"slabs of {config.slab_size} slices, {config.slab_gap}-slice gaps left out",
    }

    ct_dir = data_dir / "chest-ct-dicom"
    ct_files = sorted(ct_dir.glob("*.dcm"))[: config.max_files_per_folder]
    if not ct_files:
        raise FileNotFoundError(f"{ct_dir}: no .dcm files")
    ct = load_images(ct_files, size=config.size, normalization="percentile")
    patients = dicom_groups(ct_files)
    train["CT"], test["CT"] = _split_capped(ct, config, "ct", rng, patients)
    info["CT"] = {
        "source": "chest-ct-dicom",
        "slices": len(ct),
        "patients": len(set(patients)),
        "split": "by DICOM PatientID",
        "intensity": "per-slice 0.5-99.5 percentile window",
    }

    with_chest = config.size == CHEST_XRAY_SIZE
    folders = ["dental-ceph", "mini-mias", *(["chest-xray-64"] if with_chest else [])]
    xray_parts, sources, xray_groups = [], [], []
    for folder in folders:
        files = curated_pngs(data_dir / folder, limit=config.max_files_per_folder).files
        xray_parts.append(load_images(list(files), size=config.size))
        sources += [folder] * len(files)
        # chest X-rays are grouped by NIH patient; every other image is its own group
        xray_groups += [
            f"nih/{nih_patient_id(p.name)}" if folder == "chest-xray-64" else f"{folder}/{p.name}"
            for p in files
        ]
    xray = np.concatenate(xray_parts)
    source_of = np.asarray(sources)
    # without chest-xray-64 every image is its own group: the plain seeded random split
    train_idx, test_idx = _split_indices(len(xray), config, "xray", rng, xray_groups if with_chest else None)
    train["X-ray"], test["X-ray"] = xray[train_idx], xray[test_idx]
    info["X-ray"] = {
        "source": "dental-ceph (146 distinct) + mini-mias (322), full resolution → "
        f"{config.size}x{config.size}"
        + (" + chest-xray-64 (NIH ChestX-ray14, 64x64 as given)" if with_chest else ""),
        "images": len(xray),
        "split": "seeded random" + ("; chest-xray-64 by NIH patient" if with_chest else ""),
        "per_source": {
            name: {
                "train": int(np.sum(source_of[train_idx] == name)),
                "test": int(np.sum(source_of[test_idx] == name)),
            }
            for name in dict.fromkeys(sources)
        },
    }
    if not with_chest:
        info["X-ray"]["not_used"] = (
            f"chest-xray-64 (64x64 only; not upsampled for a {config.size}x{config.size} study)"
        )
    for m in MODALITIES:
        info[m].update({"train": len(train[m]), "test": len(test[m])})
    return train, test, info


def train_config(config: ModalityConfig, seed: int) -> TrainConfig:
    """The report's training: conv-ae, Adam, MSE, fresh noise every batch, 10 % validation."""
    from meddenoise.training import TrainConfig

    return TrainConfig(
        precision="fp32",  # float32 like the papers: the same numbers on every CPU (auto may pick bf16)
        model=config.model,
        noise=config.noise,
        noise_mode="fresh",
        loss="mse",
        optimizer="adam",
        epochs=config.epochs,
        batch_size=config.batch_size,
        val_fraction=0.1,
        seed=seed,
        num_threads=config.threads,
    )


def run_modality_study(config: ModalityConfig, *, log: Callable[[str], None] = print) -> ExperimentRecord:
    """Train one conv-ae per modality and a shared one; write the metric and cross-modality tables."""

    from meddenoise.evaluation import NOISY, evaluate
    from meddenoise.experiments import figures
    from meddenoise.metrics import lpips_available
    from meddenoise.noise import parse_noise

    if config.data_dir is None:
        raise ReproductionError("modality-study: the config has no data folder (data_dir)")
    data_dir = config.data_dir
    record = ExperimentRecord.start(
        ModalityStudy.name,
        f"2025 report — per-modality convolutional autoencoders (MRI, CT, X-ray) at {config.size}x{config.size}",
        config,
        log=log,
    )
    with record.step("load MRI, CT and X-ray images"):
        train, test, info = load_modalities(data_dir, config)
    record.protocol["data"] = info
    noise = parse_noise(config.noise)
    noisy_test = {
        m: noise(test[m], rng=derived_seed(config.seed, "test-noise", m)).astype(np.float32)
        for m in MODALITIES
    }
    use_lpips = lpips_available()
    score_specs = [spec for spec in COLUMNS.values() if use_lpips or spec.metric != "lpips"]
    score_names = tuple(spec.name for spec in score_specs)

    models: dict[str, TrainedModel] = {}
    collapses: dict[str, list[dict[str, float]]] = {}
    for name in (*MODALITIES, "shared"):
        images = np.concatenate([train[m] for m in MODALITIES]) if name == "shared" else train[name]
        first = train_config(config, derived_seed(config.seed, "train", name))
        base_lr = first.learning_rate
        check = images[: config.collapse_check_images]
        check_noisy = noise(check, rng=derived_seed(config.seed, "collapse-check", name)).astype(np.float32)
        tc = first
        for attempt in range(config.max_attempts):
            run_name = name if attempt == 0 else f"{name}-retry{attempt}"
            if attempt:
                # a new seed and a 10x smaller step: the collapse comes from early steps that are too large
                tc = first.derive(
                    seed=derived_seed(config.seed, "train", name, attempt),
                    optim={"lr": base_lr / 10**attempt},
                )
            with record.step(
                f"train {config.model} on {name} ({len(images)} images, {config.epochs} epochs)"
                + (f", retry {attempt} at lr {tc.learning_rate:g}" if attempt else "")
            ):
                model = train_denoiser(
                    f"{config.model} ({name})",
                    tc,
                    images,
                    out_dir=record.out_dir / "runs" / run_name,
                    batch_size=16,
                    resume=config.resume,
                )
            collapsed = output_collapsed(model.denoiser, check_noisy, check)
            if collapsed:
                collapses.setdefault(name, []).append({"seed": int(tc.seed), "lr": float(tc.learning_rate)})
            models[name] = model
            if not collapsed:
                break
        if name in collapses:
            tried = ", ".join(f"seed {c['seed']} at lr {c['lr']:g}" for c in collapses[name])
            outcome = (
                "still collapsed after the last attempt"
                if collapsed
                else f"trained normally at seed {tc.seed}, lr {tc.learning_rate:g}"
            )
            record.notes.append(
                f"{name}: training collapsed to a constant output ({tried}: the sigmoid saturated at 0, which "
                f"MSE cannot pull back); retried with a new seed and a 10x smaller learning rate: {outcome}."
            )

    scores: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    outputs: dict[tuple[str, str], np.ndarray] = {}
    with record.step("evaluate every model on every modality" + (" (with LPIPS)" if use_lpips else "")):
        for m in MODALITIES:
            result = evaluate(
                {name: model.denoiser for name, model in models.items()},
                test[m],
                noise,
                score_specs,
                seed=config.seed,
                noisy=noisy_test[m],
                keep_outputs=True,
                batch_size=len(test[m]),
                progress=False,
            )
            scores[("noisy", m)] = {s: result.values(NOISY, s) for s in score_names}
            for name in models:
                scores[(name, m)] = {s: result.values(name, s) for s in score_names}
                outputs[(name, m)] = result.output(name)[: config.figure_images]

    columns = ["PSNR (dB)", "SSIM", "MAE", "LPIPS"]
    main = ResultTable(
        "modality-study/metrics",
        "Denoising quality: published vs measured",
        "psnr/ssim/mae/lpips",
        columns,
        digits=4,
        caption="Each modality model on its own modality's test images; the shared model on all. "
        "SSIM 7x7 uniform window, data_range=1. LPIPS: AlexNet v0.1"
        + ("" if use_lpips else " — weights not present, not computed."),
    )
    main.add_published(MODALITY_STUDY["metrics"], rows={PUBLISHED_ROW: PUBLISHED_LABEL})
    keys = {col: spec.name for col, spec in COLUMNS.items()}

    def cells(name: str, mods: tuple[str, ...]) -> dict[str, Cell | float | None]:
        out: dict[str, Cell | float | None] = {}
        for col, s in keys.items():
            if s in score_names:
                out[col] = summarise(np.concatenate([scores[(name, m)][s] for m in mods]))
        return out

    for m in MODALITIES:
        main.add_row(f"Noisy input, {m}", "measured", cells("noisy", (m,)))
        main.add_row(f"{config.model} trained on {m}, tested on {m}", "measured", cells(m, (m,)))
    main.add_row("Noisy input, all modalities", "measured", cells("noisy", MODALITIES))
    main.add_row(
        f"{config.model} per-modality models, all test images",
        "measured",
        {
            col: summarise(np.concatenate([scores[(m, m)][s] for m in MODALITIES]))
            for col, s in keys.items()
            if s in score_names
        },
    )
    main.add_row(f"{config.model} shared model, all test images", "measured", cells("shared", MODALITIES))
    record.add_table(main)
    record.compare_with_published(
        main,
        pairs={
            PUBLISHED_LABEL: (
                f"{config.model} per-modality models, all test images",
                "measured",
            )
        },
        tolerance=0.05,
        reasons=lambda row, col: (
            "different images (public stand-ins, not the report's Kaggle sets), an unknown "
            "modality mix in the report's 52 test images, unstated batch size and loss"
        ),
    )
    for s, label in (("psnr", "PSNR (dB)"), ("ssim", "SSIM")):
        cross = ResultTable(
            f"modality-study/cross_{s}",
            f"Cross-modality {label}: trained on row, tested on column",
            s,
            list(MODALITIES),
            digits=2 if s == "psnr" else 3,
            caption="Answers the report's claim that each modality needs its own model. "
            "The report publishes no cross-modality numbers (empty Published row).",
        )
        cross.add_row("Published", "published", {})
        cross.add_row("Noisy input", "measured", {m: summarise(scores[("noisy", m)][s]) for m in MODALITIES})
        for name in (*MODALITIES, "shared"):
            cross.add_row(
                f"trained on {name}", "measured", {m: summarise(scores[(name, m)][s]) for m in MODALITIES}
            )
        record.add_table(cross)

    with record.step("figures"):
        k = config.figure_images
        for m in MODALITIES:
            rows = [("original", test[m][:k]), ("noisy", noisy_test[m][:k])]
            rows += [(f"model {n}", outputs[(n, m)]) for n in (*MODALITIES, "shared")]
            path = figures.image_grid(
                rows,
                record.figure_path(f"examples_{m.lower().replace('-', '')}.png"),
                title=f"{m} test images: every model",
            )
            record.add_figure(path, f"{m} examples", "Rows: original, noisy, then each trained model.")
        path = figures.loss_curves(
            {n: mdl.curves() for n, mdl in models.items()},
            record.figure_path("loss_curves.png"),
            ylabel="MSE",
            log_y=True,
        )
        record.add_figure(
            path, "Training and validation loss", "The report's curves settle near 0.0009 (MSE)."
        )
    record.extra["trainings"] = {n: mdl.summary() for n, mdl in models.items()}
    record.extra["collapsed_training_seeds"] = collapses
    record.notes += [
        "Data are public stand-ins, not the report's Kaggle sets: MRI from the MNI152 template (one brain, split "
        "by slab), CT from chest-ct-dicom (split by patient), X-ray from dental-ceph + mini-mias.",
        f"Per modality at most {config.max_train_per_modality} training and {config.max_test_per_modality} test "
        "images (balances the modalities and bounds the run time).",
        (
            "X-ray includes chest-xray-64 (NIH ChestX-ray14, 64x64 as given, split by patient); the protocol's "
            "data.X-ray.per_source gives the images of each source in train and test."
            if config.size == CHEST_XRAY_SIZE
            else f"chest-xray-64 is not used: it is 64x64 and the study is {config.size}x{config.size} (no upsampling)."
        ),
        f"Noise {noise}; {config.model}, Adam, MSE, {config.epochs} epochs, batch {config.batch_size}, fresh noise.",
        "LPIPS "
        + ("computed (AlexNet v0.1)." if use_lpips else "not computed: its weights are not present."),
    ]
    if config.quick:
        record.notes.insert(0, "QUICK RUN: a few images and epochs; numbers are not a reproduction.")
    return record
