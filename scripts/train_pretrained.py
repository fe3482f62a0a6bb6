"""Train the pretrained denoisers shipped in ``src/meddenoise/pretrained`` and write their model cards.

This is the committed, reproducible command behind every shipped weight file:

    .venv/bin/python scripts/train_pretrained.py                 # all four: general, ct, mri, xray
    .venv/bin/python scripts/train_pretrained.py --models ct     # one of them

Only data whose licence allows redistribution of derived weights is used:

* CT: the TCIA TCGA-LUAD chest CT slices in ``../shared/data/chest-ct-dicom`` (CC BY 3.0; Clark et
  al. 2013), split by patient: the held-apart patients are never trained on; plus pydicom's own
  ``CT_small.dcm``. (pydicom-data's ``693_*`` head CT comes from CQ500, CC BY-NC-SA: not used.)
* MRI: the nilearn MNI152 2009 T1 template (ICBM licence: use and redistribution with the copyright
  notice), axial slices split by slab (a held-apart slab with a gap on each side); plus pydicom's
  ``MR_small.dcm`` and pydicom-data's ``MR2_UNCR.dcm``.
* X-ray: pydicom-data's two computed radiographs ``RG1_UNCR.dcm`` (chest) and ``RG3_UNCR.dcm``
  (extremity). Two images are few, so the model learns from random patches of their left three
  quarters; the right quarter of each is held apart for evaluation.
* general: the union of the three training sets.

Not used (their terms forbid redistribution or commercial use): mini-MIAS, the dental set,
Set12/Train400, MNIST. dipy's data are downloaded at run time (no network here), so not used.

Network and noise: the noise-level-conditioned U-Net ``ffdunet`` (told the noise std, or estimating it);
trained with the ``conditioned`` objective: per patch a noise std drawn log-uniformly from the model's
range on the [0, 1] scale (a fraction of patches at exactly 0, so a clean image told "no noise" comes back
unchanged), unclipped additive white Gaussian noise, the level handed to the network.

The CT model's noise has the texture of low-dose CT (``--ct-texture lowdose``, the shipped choice): for
every training slice the project's sinogram simulation (``lowdose-ct``: Beer-Lambert counts, Poisson +
electronic noise, FBP, the slice's own pixel spacing) makes noise images at several doses; each, divided
by its std in the slice's soft tissue, is a unit-std texture aligned with its slice (streaks follow that
slice's bones). A patch's noise is its level times its texture (``texture="given"`` of the conditioned
objective), or white noise for a fraction of patches, so the level the network is told stays the noise
std in soft tissue whatever its texture. Each texture is reconstructed with its own kernel
(``--ct-kernels varied``): a window from ramp / Shepp-Logan / cosine / Hann and a cutoff between 0.3 and 1 of
Nyquist, because real soft and standard kernels make noise far coarser than the full-band ramp, and a model
that had seen only the ramp left that noise in place (``--ct-kernels ramp`` trains the ramp alone).

``--init-shipped`` fine-tunes each model of ``--models`` (``general`` too) from its own shipped weights (a
CPU-sized continuation of a longer run, with ``--finetune-patches`` / ``--finetune-epochs``; the card names the
SHA-256 of the weights it started from) instead of from a general model.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from meddenoise._utils import atomic_path, shared_data_dir
from meddenoise.data.intensity import IntensitySpec, fit_intensity, to_unit
from meddenoise.denoiser import Denoiser
from meddenoise.evaluation.benchmark import BenchImage
from meddenoise.experiments.model_cards import card_levels, measure_quality
from meddenoise.methods import (
    DenoiserChoice,
    MethodKind,
    texture_amount,
    with_edge_restore,
    with_texture,
)
from meddenoise.models.denoiser import ModelDenoiser
from meddenoise.models.weights import (
    WEIGHT_STORAGES,
    WeightStorage,
    load_weights,
    save_weights,
    tensor_storage,
    weights_storage,
)
from meddenoise.pretrained import PRETRAINED_DIR
from meddenoise.pretrained.cards import (
    ArchitectureParam,
    CardTraining,
    ModelCardData,
    Quality,
    QualityTable,
    write_model_card,
)
from meddenoise.pretrained.cards import quality_markdown as model_card_quality_text
from meddenoise.provenance import sha256_file

if TYPE_CHECKING:
    from collections.abc import Iterable

    from meddenoise.data import Split
    from meddenoise.io import MedicalImage
    from meddenoise.training import TrainConfig

SEED = 20240607
#: The noise-level-conditioned U-Net (FFDNet input, DRUNet-style body) at a size a shared 2-core CPU can
#: train in under an hour and run on a 512x512 slice in a fraction of a second.
ARCHITECTURE = "ffdunet"
ARCHITECTURE_PARAMS: dict[str, ArchitectureParam] = {"channels": [32, 64, 128], "blocks": 1}
CT_INTENSITY = IntensitySpec(method="window", level=0.0, width=2048.0)
PERCENTILE_INTENSITY = IntensitySpec(method="percentile", low=0.5, high=99.5)
#: The ``mri`` card's mapping at use: the percentiles of a copy smoothed by 1.5 px, close to those of the
#: clean volume its training slices were mapped by (noisy percentiles leave the zero background ~2.4 noise
#: stds above 0). 1.5 px was chosen on the MNI152 gap slices (62-69, 90-97: neither trained on nor the
#: card's held-apart slab), told, vs BM3D told: 0 px +0.78 / +0.65 / -0.34 dB at 1 / 2 / 5 %, 1 px +0.84 /
#: +1.03 / +0.63, 1.5 px +0.78 / +1.11 / +1.02, 2 px +0.65 / +1.09 / +1.20 (the best worst level).
MRI_INTENSITY = IntensitySpec(method="percentile", low=0.5, high=99.5, smooth=1.5)
PATCH = 48
BATCH = 16


@dataclass(frozen=True)
class UserDefaults:
    """What users get from a shipped model by default, beside its network: the card fields of the same names
    (meddenoise.pretrained.cards.ModelCardData), read by ``meddenoise.methods.build_denoiser``."""

    #: edge restoration amount (meddenoise.models.edge_restore)
    edge_restore: float = 0.0
    #: the edge restoration acts only where the removed noise is correlated (a scanner's), not on white noise
    edge_restore_correlated_only: bool = False
    #: noise texture put back (meddenoise.models.texture): an amount or ``auto``
    texture: float | str = 0.0
    #: how ``--strength`` goes past 1 (meddenoise.denoiser.strength_passes): ``level`` or ``repeat``
    strength_above_one: str = "level"

    def card_fields(self) -> dict[str, Any]:
        """The card's fields of these defaults, by name."""
        return dataclasses.asdict(self)

    @classmethod
    def of_card(cls, card: ModelCardData) -> UserDefaults:
        """The defaults ``card`` records."""
        return cls(**{f.name: getattr(card, f.name) for f in dataclasses.fields(cls)})


#: Each model's defaults for users (:class:`UserDefaults`; the models not named keep none).
#: ``ct``, and why:
#: - edge restoration 0.4: it keeps more edge gradient than BM3D on low-dose CT; the other models do not
#:   gain. 0.4 since the noise-kind-conditioned ``ct`` (2026-12-01): it blurs less, so 0.8 only cost PSNR
#:   (-0.2 dB at 25 % / 10 % dose, -0.17 dB at 50 HU white) for edge gradient ratios of 0.9986 / 0.9977
#:   instead of 0.4's 0.9981 / 0.9970 (BM3D told: 0.9967 / 0.9933).
#: - on correlated noise only (EdgeRestoring(correlated_only=True)). Chosen on its 35 training slices and on
#:   two CT slices of pydicom-data that no model trained on (a head, an abdomen; 2026-12-04, seed 1): told the
#:   std of added white noise, 0.4 cost 0.02 / 0.05 / 0.10 dB at 10 / 20 / 50 HU on the first and 0.18 / 0.22
#:   / 0.23 dB on the head (the abdomen within 0.04), while on low-dose CT (the removed noise's lag-1
#:   correlation 0.26-0.90) it keeps edges sharper than BM3D.
#: - texture ``auto``: it keeps its scan's texture at low dose, only where the removed noise is correlated
#:   like a CT kernel's.
#: - strength past 1 by ``repeat``: it runs again on its own output. Told twice its level it removed *less* of
#:   a routine scan's noise (34 % -> 25 % on its training slices), two passes remove more (34 % -> 42 %;
#:   docs/low-dose-ct.md).
USER_DEFAULTS: dict[str, UserDefaults] = {
    "ct": UserDefaults(
        edge_restore=0.4, edge_restore_correlated_only=True, texture="auto", strength_above_one="repeat"
    ),
}


def user_defaults(name: str) -> UserDefaults:
    """``name``'s :class:`UserDefaults` (none for a model not in :data:`USER_DEFAULTS`)."""
    return USER_DEFAULTS.get(name, UserDefaults())


#: Noise std range of each model on its [0, 1] scale (log-uniform; CT: 4-120 HU in the 2048-HU window).
SIGMA_RANGES: dict[str, tuple[float, float]] = {
    "general": (0.002, 0.2),
    "ct": (0.002, 0.06),
    "mri": (0.002, 0.1),
    "xray": (0.002, 0.1),
}
CLEAN_FRACTION = 0.05
#: Low-dose CT textures: simulated doses (fractions of the reference dose), realisations per dose, the HU
#: band whose noise std a texture is normalised by, and the fraction of CT patches that get white noise.
CT_TEXTURE_DOSES = (0.05, 0.1, 0.25, 0.5)
CT_TEXTURE_REALISATIONS = 2
#: Reconstruction kernels of the textures (``--ct-kernels varied``): each texture's FBP window is drawn
#: from FBP_FILTERS and its cutoff uniformly from this range (fractions of Nyquist). Real soft / standard
#: kernels give noise far coarser than a full-band ramp (NPS mean frequency 0.17-0.27 /mm on held-out chest
#: CT against 0.48-0.66 for the ramp); a model that saw only the ramp left that noise in place.
CT_TEXTURE_CUTOFFS = (0.3, 1.0)
CT_TEXTURE_TISSUE_HU = (-100.0, 200.0)
CT_WHITE_FRACTION = 0.3
#: Fraction of CT patches given white noise and a texture mixed (``--ct-mixed-fraction``).
CT_MIXED_FRACTION = 0.0
#: ``--ct-correlation``: the ``ct`` network also takes the noise's lag-1 correlation (``correlation_input``)
#: and is told each patch's in training (0 for white noise), so it need not hedge between the two kinds.
CT_CORRELATION = False
#: ``--xray-nih``: the ``xray`` model also trains on ``chest-xray-64``'s train and valid images (NIH
#: ChestX-ray14 at 64x64); its ``test_`` images stay unseen, for checking on radiographs never trained on.
XRAY_NIH = False
#: ``--synthetic-fraction``: the share of each model's training patches cut from generated dead-leaves images
#: (:mod:`meddenoise.data.synthetic`; grey levels from its real training images) instead of real ones.
SYNTHETIC_FRACTION = 0.0
#: Dead-leaves images: side in pixels, disc radii in pixels (the scale of anatomy on a 512x512 slice), and
#: how many patches are cut from each image.
SYNTHETIC_SIDE = 512
SYNTHETIC_RADII = (3.0, 150.0)
SYNTHETIC_PATCHES_PER_IMAGE = 8

CREDITS = {
    "tcga-luad": {
        "name": "TCIA TCGA-LUAD chest CT",
        "licence": "CC BY 3.0 (TCIA data usage policy)",
        "credit": "Clark K, et al. The Cancer Imaging Archive (TCIA): maintaining and operating a public "
        "information repository. J Digit Imaging 2013;26(6):1045-1057; Albertina B, et al. The Cancer Genome "
        "Atlas Lung Adenocarcinoma Collection (TCGA-LUAD), TCIA.",
    },
    "pydicom": {
        "name": "pydicom / pydicom-data sample DICOMs",
        "licence": "MIT (pydicom) / as distributed with pydicom-data",
        "credit": "pydicom contributors, https://pydicom.github.io",
    },
    "mni152": {
        "name": "MNI152 2009 T1 template (nilearn)",
        "licence": "ICBM/MNI licence: free use and redistribution with the copyright notice",
        "credit": "Copyright (C) 1993-2009 Louis Collins, McConnell Brain Imaging Centre, Montreal Neurological "
        "Institute, McGill University; Fonov V, et al. NeuroImage 2011;54(1):313-327.",
    },
    "nih-chestxray14": {
        "name": "NIH ChestX-ray14 frontal chest radiographs, 64x64 (../shared/data/chest-xray-64)",
        "licence": "NIH Clinical Center: usable without restriction, with acknowledgement (the 64x64 copies' "
        "own repository states no licence)",
        "credit": "NIH Clinical Center; Wang X, et al. ChestX-ray8: Hospital-scale chest X-ray database and "
        "benchmarks. CVPR 2017.",
    },
    "dead-leaves": {
        "name": "Synthetic dead-leaves images (meddenoise.data.synthetic.dead_leaves)",
        "licence": "none needed: generated by the training script",
        "credit": "Lee AB, Mumford D, Huang J. Occlusion models for natural images. IJCV 2001;41:35-59; "
        "Achddou R, Gousseau Y, Ladjal S. Synthetic images as a regularity prior for image restoration "
        "neural networks. SSVM 2021.",
    },
}


@dataclass
class ModelData:
    """Training images (list of [0, 1] arrays of any size) and held-apart evaluation images."""

    train: list[np.ndarray] = field(default_factory=list)
    test: list[np.ndarray] = field(default_factory=list)
    sources: list[dict[str, object]] = field(default_factory=list)
    held_apart: str = ""
    intensity: IntensitySpec = PERCENTILE_INTENSITY
    #: the held-apart images in their own units (HU, counts, template values) for the card's benchmark
    bench: list[BenchImage] = field(default_factory=list)
    #: unit-std noise textures aligned with ``train`` (same length, same shapes); empty for white noise
    textures: list[np.ndarray] = field(default_factory=list)
    #: CT: each training slice in HU with its pixel size in mm (what the low-dose textures are simulated from)
    hu_slices: list[tuple[np.ndarray, float]] = field(default_factory=list)
    #: how many of the last ``train`` images and ``sources`` entries this modality's model alone trains on
    #: (the general model's data leave them out)
    own_images: int = 0
    own_sources: int = 0


def _bench_image(name: str, pixels: np.ndarray, image: MedicalImage | None = None, **meta: str) -> BenchImage:
    """A held-apart image in its own units, with the metadata the intensity policy reads."""
    if image is not None:
        m = image.meta
        meta = {"modality": m.modality, "units": m.units, "dtype": m.dtype, "format": m.format}
    return BenchImage(name, np.ascontiguousarray(pixels, dtype=np.float32), **meta)  # type: ignore[arg-type]


def _unit(pixels: np.ndarray, spec: IntensitySpec, modality: str, units: str | None = None) -> np.ndarray:
    return to_unit(fit_intensity(pixels, spec, modality=modality, units=units), pixels)


def _pydicom_image(name: str) -> MedicalImage:
    from pydicom.data import get_testdata_file

    from meddenoise.io import read_image

    path = get_testdata_file(name)
    if path is None:
        raise FileNotFoundError(f"pydicom sample {name} is missing")
    return read_image(path)


def _pixel_mm(image: MedicalImage) -> float:
    """The in-plane pixel size in mm (mean of row and column spacing); 0.7 mm when the file does not say."""
    spacing = image.meta.pixel_spacing
    return float(np.mean(spacing)) if spacing else 0.7


def lowdose_textures(
    hu: np.ndarray, pixel_mm: float, rng: np.random.Generator, *, kernels: str = "varied"
) -> list[np.ndarray]:
    """Unit-std low-dose CT noise textures of one slice (HU), one per dose and realisation.

    ``kernels="ramp"``: every texture reconstructed with the full-band ramp; ``"varied"``: each with a
    window drawn from FBP_FILTERS and a cutoff from CT_TEXTURE_CUTOFFS (sharp to soft kernels).
    """
    from meddenoise.noise.ct import FBP_FILTERS, LowDoseCTNoise

    lo, hi = CT_TEXTURE_TISSUE_HU
    tissue = (hu > lo) & (hu < hi)
    if tissue.sum() < 100:  # a slice without soft tissue: normalise over the body instead
        tissue = hu > -500
    out = []
    for dose in CT_TEXTURE_DOSES:
        for _ in range(CT_TEXTURE_REALISATIONS):
            if kernels == "varied":
                window = str(FBP_FILTERS[int(rng.integers(len(FBP_FILTERS)))])
                cutoff = float(rng.uniform(*CT_TEXTURE_CUTOFFS))
            else:
                window, cutoff = "ramp", 1.0
            model = LowDoseCTNoise(dose=dose, pixel_mm=pixel_mm, filter=window, cutoff=cutoff)
            noise = model.noise_hu(hu.astype(np.float64), rng)
            out.append((noise / noise[tissue].std()).astype(np.float32))
    return out


def _slice_textures(job: tuple[np.ndarray, float, int, int, str]) -> list[np.ndarray]:
    hu, pixel_mm, seed, index, kernels = job
    return lowdose_textures(hu, pixel_mm, np.random.default_rng([seed, 7, index]), kernels=kernels)


def with_ct_textures(data: ModelData, seed: int, *, workers: int = 1, kernels: str = "varied") -> ModelData:
    """A copy of ``data`` whose training slices each come once per texture, with the textures aligned.

    Each slice's textures come from its own seeded stream, so they are the same whatever ``workers``
    (processes simulating slices side by side).
    """
    from concurrent.futures import ProcessPoolExecutor

    if len(data.hu_slices) != len(data.train):
        raise ValueError("low-dose CT textures need every training slice in HU (ModelData.hu_slices)")
    jobs = [(hu, mm, seed, i, kernels) for i, (hu, mm) in enumerate(data.hu_slices)]
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            per_slice = list(pool.map(_slice_textures, jobs))
    else:
        per_slice = [_slice_textures(job) for job in jobs]
    train = [unit for unit, textures in zip(data.train, per_slice, strict=True) for _ in textures]
    return dataclasses.replace(data, train=train, textures=[t for ts in per_slice for t in ts])


def _ct_folder(needs: str) -> Path:
    """``chest-ct-dicom`` of the shared data; ``SystemExit`` saying who ``needs`` it when it is absent."""
    root = shared_data_dir()
    folder = root / "chest-ct-dicom" if root else None
    if folder is None or not folder.is_dir():
        raise SystemExit(f"{needs} ../shared/data/chest-ct-dicom (or $MEDDENOISE_DATA)")
    return folder


def _ct_split(folder: Path) -> tuple[list[Path], list[str], Split]:
    """The CT files of ``folder``, their patients, and the patient-wise split the ``ct`` model was trained on."""
    from meddenoise.data import dicom_groups, train_val_test_split

    files = sorted(folder.glob("*.dcm"))
    groups = dicom_groups(files)
    return (
        files,
        groups,
        train_val_test_split(len(files), fractions=(0.8, 0.0, 0.2), groups=groups, seed=SEED),
    )


def _first_of_each_patient(groups: list[str], indices: Iterable[int]) -> list[int]:
    """The first of ``indices`` of each patient: one slice per held-apart patient for the evaluation."""
    first: dict[str, int] = {}
    for idx in indices:
        first.setdefault(groups[int(idx)], int(idx))
    return list(first.values())


def write_held_apart(out: Path) -> list[Path]:
    """Link the ``ct`` model's held-apart slices (one per held-apart patient) into the new folder ``out``.

    These are the files its card and docs/low-dose-ct.md were measured on (``HELD_OUT_CT`` there): symbolic
    links, so that no image leaves the data folder. ``out`` must not exist yet (nothing is overwritten).
    """
    return _link_ct_slices(out, "held-apart")


def write_training_slices(out: Path, *, every_series: bool = False) -> list[Path]:
    """Link the first slice of each of the ``ct`` model's training patients into the new folder ``out``
    (with ``every_series``: every training slice, one per series, so a patient's other kernels too).

    What the ``ct`` model's texture settings were chosen on (``TRAIN_CT`` in docs/low-dose-ct.md,
    ``scripts/calibrate_texture_ramp.py``; ``every_series`` its check on more kernels): never a held-apart
    patient. Symbolic links, as :func:`write_held_apart`.
    """
    return _link_ct_slices(out, "training", every_series=every_series)


def _link_ct_slices(out: Path, part: str, *, every_series: bool = False) -> list[Path]:
    """Link the first slice of each ``part`` (``"training"`` or ``"held-apart"``) patient into ``out``, or
    with ``every_series`` all of that part's slices."""
    folder = _ct_folder(f"the CT {part} slices need")
    if out.exists():
        raise SystemExit(f"{out}: already exists; give a new folder for the {part} slices")
    files, groups, split = _ct_split(folder)
    chosen = split.train if part == "training" else split.test
    out.mkdir(parents=True)
    links = []
    for idx in [int(i) for i in chosen] if every_series else _first_of_each_patient(groups, chosen):
        link = out / files[idx].name
        link.symlink_to(files[idx].resolve())
        links.append(link)
    return links


def ct_data() -> ModelData:
    """The CT training slices (white noise; :func:`with_ct_textures` adds the low-dose textures)."""
    from meddenoise.io import read_image

    files, groups, split = _ct_split(_ct_folder("the CT model needs"))
    data = ModelData(intensity=CT_INTENSITY)
    slices_hu: list[tuple[np.ndarray, float]] = []
    for idx in split.train:
        image = read_image(files[idx])
        data.train.append(_unit(image.pixels, CT_INTENSITY, "CT", "HU"))
        slices_hu.append((image.pixels, _pixel_mm(image)))
    for idx in _first_of_each_patient(groups, split.test):
        image = read_image(files[idx])
        data.test.append(_unit(image.pixels, CT_INTENSITY, "CT", "HU"))
        data.bench.append(_bench_image(files[idx].name, image.pixels, image))
    small = _pydicom_image("CT_small.dcm")
    data.train.append(_unit(small.pixels, CT_INTENSITY, "CT", "HU"))
    slices_hu.append((small.pixels, _pixel_mm(small)))
    data.hu_slices = slices_hu
    test_patients = sorted({groups[i] for i in split.test})
    data.held_apart = (
        f"{len(test_patients)} held-apart patients ({', '.join(test_patients)}; {len(split.test)} slices, never "
        f"trained on), one whole 512x512 slice each"
    )
    data.sources = [
        {
            **CREDITS["tcga-luad"],
            "images": f"{len(split.train)} slices of {len(set(groups)) - len(test_patients)} patients",
        },
        {**CREDITS["pydicom"], "images": "CT_small.dcm"},
    ]
    return data


def mri_data() -> ModelData:
    from nilearn.datasets import load_mni152_template

    volume = np.asarray(load_mni152_template(resolution=1).get_fdata(), dtype=np.float32)
    # axial slices that hold brain; slab 70..89 held apart, with 8-slice gaps either side never used
    axial = np.moveaxis(volume, 2, 0)
    brain = [i for i in range(axial.shape[0]) if (axial[i] > 0.1 * axial.max()).mean() > 0.08]
    test_slab = range(70, 90)
    gap = set(range(62, 70)) | set(range(90, 98))
    unit = _unit(axial, PERCENTILE_INTENSITY, "MR")  # the clean volume: no smoothing needed
    data = ModelData(intensity=MRI_INTENSITY)
    data.train = [unit[i] for i in brain if i not in test_slab and i not in gap]
    data.test = [unit[i] for i in test_slab if i in brain][::7]
    data.bench = [
        _bench_image(f"MNI152 z={i}", axial[i], modality="MR", dtype="float32", format="nifti")
        for i in [i for i in test_slab if i in brain][::7]
    ]
    for name in ("MR_small.dcm", "MR2_UNCR.dcm"):
        data.train.append(_unit(_pydicom_image(name).pixels, PERCENTILE_INTENSITY, "MR"))
    data.held_apart = (
        f"{len(data.test)} axial MNI152 slices from the held-apart slab z=70..89 (8-slice gaps either side "
        f"unused), whole 197x233 slices"
    )
    data.sources = [
        {**CREDITS["mni152"], "images": f"{len(data.train) - 2} axial slices (1 mm template)"},
        {**CREDITS["pydicom"], "images": "MR_small.dcm, MR2_UNCR.dcm"},
    ]
    return data


def xray_data() -> ModelData:
    data = ModelData(intensity=PERCENTILE_INTENSITY)
    from pydicom.data import get_testdata_file

    from meddenoise.io import read_image

    for name in ("RG1_UNCR.dcm", "RG3_UNCR.dcm"):
        image = read_image(get_testdata_file(name))  # type: ignore[arg-type]
        unit = _unit(image.pixels, PERCENTILE_INTENSITY, "CR")
        cut = unit.shape[1] * 3 // 4
        data.train.append(unit[:, :cut])
        data.test.append(unit[:, cut:])
        data.bench.append(_bench_image(f"{name} right quarter", image.pixels[:, cut:], image))
    data.held_apart = "right quarter of RG1_UNCR and RG3_UNCR (never trained on), each scored whole"
    data.sources = [
        {**CREDITS["pydicom"], "images": "RG1_UNCR.dcm, RG3_UNCR.dcm (left three quarters, random patches)"}
    ]
    if XRAY_NIH:
        nih = _nih_chest_images()
        data.train += nih
        data.sources.append(
            {**CREDITS["nih-chestxray14"], "images": f"{len(nih)} images (its train and valid splits)"}
        )
        data.own_images, data.own_sources = len(nih), 1
    return data


def _nih_chest_images() -> list[np.ndarray]:
    """``chest-xray-64``'s train and valid images on the [0, 1] scale of ``xray``'s intensity mapping."""
    from meddenoise.io import read_image

    root = shared_data_dir()
    folder = root / "chest-xray-64" if root else None
    if folder is None or not folder.is_dir():
        raise SystemExit("--xray-nih needs ../shared/data/chest-xray-64 (or $MEDDENOISE_DATA)")
    files = sorted(p for p in folder.glob("*.png") if not p.name.startswith("test_"))
    return [_unit(read_image(p).pixels, PERCENTILE_INTENSITY, "DX") for p in files]


def general_data(parts: dict[str, ModelData]) -> ModelData:
    data = ModelData(intensity=IntensitySpec(method="auto", level=0.0, width=2048.0, low=0.5, high=99.5))
    for part in parts.values():
        data.train += part.train[: len(part.train) - part.own_images]
        data.test += part.test
        data.bench += part.bench
        data.sources += part.sources[: len(part.sources) - part.own_sources]
    data.held_apart = "every second image of the union of the CT, MRI and X-ray held-apart images"
    return data


def patches(images: list[np.ndarray], count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` random PATCH x PATCH patches, images chosen in proportion to their area."""
    return paired_patches(images, None, count, rng)[0]


def paired_patches(
    images: list[np.ndarray], textures: list[np.ndarray] | None, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    """``count`` random PATCH x PATCH patches (images chosen in proportion to their area) and, when
    ``textures`` are given, the aligned patches of the image's texture (same place, same rotation)."""
    keep = [i for i, im in enumerate(images) if min(im.shape) >= PATCH]
    areas = np.array([images[i].size for i in keep], dtype=np.float64)
    picks = rng.choice(len(keep), size=count, p=areas / areas.sum())
    out = np.empty((count, PATCH, PATCH), dtype=np.float32)
    out_textures = None if textures is None else np.empty_like(out)
    for k, pick in enumerate(picks):
        i = keep[pick]
        im = images[i]
        y = rng.integers(0, im.shape[0] - PATCH + 1)
        x = rng.integers(0, im.shape[1] - PATCH + 1)
        turn = int(rng.integers(4)) if rng.random() < 0.5 else 0
        out[k] = np.rot90(im[y : y + PATCH, x : x + PATCH], k=turn)
        if out_textures is not None and textures is not None:
            out_textures[k] = np.rot90(textures[i][y : y + PATCH, x : x + PATCH], k=turn)
    return out, out_textures


def with_synthetic_patches(
    clean: np.ndarray, images: list[np.ndarray], fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """``clean`` with ``fraction`` of its patches (at random places) replaced by patches of dead-leaves
    images whose grey levels follow the pixels of ``images`` (the model's training images). Aligned CT
    textures are left as they are: each replaced patch keeps its real patch's (noise, not content).
    Returns the patches and how many were replaced.
    """
    from meddenoise.data.synthetic import dead_leaves

    count = round(fraction * len(clean))
    if count == 0:
        return clean, 0
    pool = np.concatenate([im.ravel()[:: max(1, im.size // 20_000)] for im in images])
    side = max(SYNTHETIC_SIDE, PATCH)
    out = clean.copy()
    places = rng.choice(len(clean), size=count, replace=False)
    for start in range(0, count, SYNTHETIC_PATCHES_PER_IMAGE):
        image = dead_leaves((side, side), rng=rng, values=pool, radius_range=SYNTHETIC_RADII, ramp=0.05)
        for k in places[start : start + SYNTHETIC_PATCHES_PER_IMAGE]:
            y, x = rng.integers(0, side - PATCH + 1, size=2)
            out[k] = image[y : y + PATCH, x : x + PATCH]
    return out, count


def ms_per_512(denoiser: Denoiser, repeats: int = 3) -> float:
    image = np.random.default_rng(0).random((512, 512)).astype(np.float32)
    denoiser(image)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        denoiser(image)
        times.append((time.perf_counter() - t0) * 1000)
    return round(float(np.median(times)), 1)


def write_weights(name: str, model: torch.nn.Module, out: Path, storage: WeightStorage) -> Path:
    """``<out>/<name>.safetensors`` in ``storage`` (:func:`meddenoise.models.weights.save_weights`)."""
    metadata = {"architecture": ARCHITECTURE, "model_card": f"{name}.json"}
    return save_weights(model.state_dict(), out / f"{name}.safetensors", storage=storage, metadata=metadata)


SUMMARIES = {
    "general": (
        "any",
        "Noise-level-conditioned Gaussian denoiser for any grey medical image (CT, MRI and X-ray training data).",
    ),
    "ct": (
        "CT",
        "Noise-level-conditioned denoiser for CT slices in HU, trained on simulated low-dose CT noise "
        "(sinogram, FBP) and white noise, through a -1024..1024 HU window.",
    ),
    "mri": (
        "MR",
        "Noise-level-conditioned Gaussian denoiser for MR slices, intensity by robust percentiles.",
    ),
    "xray": (
        "CR/DX",
        "Noise-level-conditioned Gaussian denoiser for radiographs, intensity by robust percentiles (trained on patches "
        "of two images).",
    ),
}


def _recorded_command(argv: list[str], *, from_shipped_general: bool = False) -> str:
    """The command for the card. ``--out`` is left out (where the files go does not change them), and so are
    ``--init-general`` and ``--threads``: a modality model fine-tuned from a separately finished general run
    is the one the single command trains in sequence (same flags, same seeds). ``--init-general shipped``
    stays: it starts from the shipped general model, which the command alone would not train."""
    dropped = ("--out", "--threads") if from_shipped_general else ("--out", "--init-general", "--threads")
    kept = _without(argv, dropped)
    return " ".join([".venv/bin/python scripts/train_pretrained.py", shlex.join(kept)])


def _model_params(name: str) -> dict[str, ArchitectureParam]:
    """The architecture parameters of model ``name``: ``ARCHITECTURE_PARAMS``, and for ``ct`` with
    ``--ct-correlation`` the noise-correlation input."""
    if name == "ct" and CT_CORRELATION:
        return {**ARCHITECTURE_PARAMS, "correlation_input": True}
    return ARCHITECTURE_PARAMS


def _config(
    args: argparse.Namespace, name: str, *, epochs: int, lr: float, init_from: str | None
) -> TrainConfig:
    from meddenoise.training import TrainConfig

    low, high = SIGMA_RANGES[name]
    textured = name == "ct" and args.ct_texture == "lowdose"
    texture: dict[str, object] = (
        {"texture": "given", "white_fraction": CT_WHITE_FRACTION, "mixed_fraction": CT_MIXED_FRACTION}
        if textured
        else {}
    )
    if textured and CT_CORRELATION:
        texture["tell_correlation"] = True
    return TrainConfig(
        model=ARCHITECTURE,
        model_params=_model_params(name),
        init_from=init_from,
        frozen=shipped_int4_tensors(name) if args.freeze_int4 else [],
        noise=None,  # the conditioned objective draws each patch's level and noise itself
        objective={
            "kind": "conditioned",
            "loss": "mse",
            "sigma_low": low,
            "sigma_high": high,
            "distribution": "log-uniform",
            "clean_fraction": CLEAN_FRACTION,
            "level_weight_power": args.level_weight_power,
            **texture,
        },
        optim={"optimizer": "adam", "lr": lr, "schedule": "cosine", "grad_clip": args.grad_clip},
        data={"augment_flips": True, "augment_rot90": True},
        epochs=epochs,
        batch_size=BATCH,
        val_fraction=0.05,
        seed=SEED,
        # auto: bf16 where the CPU computes it natively (~1.8x faster), else fp32; the run records the choice
        precision="auto" if args.bf16 is None else ("bf16" if args.bf16 else "fp32"),
        num_threads=args.threads,
        device=args.device,
    )


def shipped_int4_tensors(name: str) -> list[str]:
    """The state-dict names of the tensors the shipped model ``name`` stores in int4 (``--freeze-int4``)."""
    from meddenoise.pretrained import get_card

    stored = tensor_storage(PRETRAINED_DIR / get_card(name).weights)
    names = [key for key, storage in stored.items() if storage == "int4"]
    if not names:
        raise SystemExit(f"--freeze-int4: the shipped {name} weights hold no int4 tensor")
    return names


def _machine(device: str) -> str:
    """What the card says the model trained on."""
    if device.startswith("cuda"):
        return f"GPU: {torch.cuda.get_device_name(torch.device(device))}"
    return f"{torch.get_num_threads()}-thread CPU"


#: Copies of each PATCH x PATCH float32 array a run holds per patch (the patches, the trainer's split and
#: batches): measured 2026-12-02 from the resident memory of two runs, 52 KB a 64x64 patch for general
#: (3.2 copies) and 82 KB with a CT texture (2.6 copies of each of the two arrays).
PATCH_COPIES = 3.5
#: The share of the available memory one run's patches may take, so that two runs side by side fit (a run
#: past the memory is killed by the system without a word: one that asked 212,536 CT patches was).
MEMORY_SHARE = 0.4


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now (``MemAvailable``), ``None`` where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, AttributeError):
        return None


def patches_that_fit(available_bytes: int, *, patch: int, with_textures: bool) -> int:
    """How many ``patch x patch`` training patches (with their CT textures when ``with_textures``) fit in
    :data:`MEMORY_SHARE` of ``available_bytes``, at :data:`PATCH_COPIES` copies of each array.

    >>> patches_that_fit(16 * 2**30, patch=64, with_textures=False)
    122713
    >>> patches_that_fit(16 * 2**30, patch=64, with_textures=True)
    61356
    """
    per_patch = patch * patch * 4 * (2 if with_textures else 1) * PATCH_COPIES
    return int(MEMORY_SHARE * available_bytes / per_patch)


def _memory_room(count: int, data: ModelData) -> tuple[int, str] | None:
    """When ``count`` patches of ``data`` (with its textures) would not fit in memory: the count that fits and
    a line on the room; ``None`` when they fit or the memory is unknown."""
    available = available_memory()
    if available is None:
        return None
    fit = patches_that_fit(available, patch=PATCH, with_textures=bool(data.textures))
    if count <= fit:
        return None
    return fit, f"{available / 2**30:.1f} GiB available, {fit} patches fit in {MEMORY_SHARE:.0%} of it"


def _budgeted_patches(
    config: TrainConfig, data: ModelData, budget: float, epochs: int, cap: int, tmp: Path
) -> int:
    """Patches that ``epochs`` epochs of ``config`` train in about ``budget`` seconds here (at most ``cap``).

    A probe trains two epochs of a few thousand patches (the first warms the device up, so the rate is the
    second epoch's) and the rate it measures is taken as the run's.
    """
    from meddenoise.training import train

    probe_n = max(32 * BATCH, 512)
    clean, textures = paired_patches(
        data.train, data.textures or None, probe_n, np.random.default_rng([SEED, 99])
    )
    probe = config.derive(epochs=2, init_from=None, val_fraction=0.0)
    result = train(
        probe, clean, out_dir=tmp / f"probe-{time.monotonic_ns()}", train_targets=textures, progress=False
    )
    rate = float(result.history[-1]["images_per_second"] or 0.0)
    chosen = int(min(cap, max(probe_n, rate * budget / epochs)))
    print(f"probe: {rate:.0f} patches/s -> {chosen} patches x {epochs} epochs for {budget:.0f} s", flush=True)
    return chosen


#: ``--init-general shipped``: the modality models start from the shipped general model's weights.
SHIPPED_GENERAL = "shipped"


def _from_shipped_general(args: argparse.Namespace) -> bool:
    """Whether the modality models start from the shipped general model (``--init-general shipped``)."""
    return str(args.init_general) == SHIPPED_GENERAL


def _resolved_argv(argv: list[str], args: argparse.Namespace) -> list[str]:
    """``argv`` with ``--time-budget`` replaced by the patch counts it chose (the card's command reproduces
    the run wherever it runs) and ``--bundle`` / ``--workers`` / ``--runs-dir`` left out (how, not what)."""
    out = _without(argv, ("--time-budget", "--bundle", "--workers", "--runs-dir", "--max-patches"))
    if args.time_budget is not None:  # the counts it chose replace any given, so each flag is there once
        out = _without(out, ("--patches", "--finetune-patches"))
        out += ["--patches", str(args.patches), "--finetune-patches", str(args.finetune_patches)]
    # a general run's own budget, so the one command trains the same (the shipped one is in the repository)
    if args.init_general is not None and not _from_shipped_general(args):
        from meddenoise.training.checkpoint import read_checkpoint_json

        _, doc = read_checkpoint_json(args.init_general / "last.json")
        general = ["--epochs", str(doc["config"]["epochs"])]
        general += ["--patches", str(doc["metadata"]["n_train"] + doc["metadata"]["n_val"])]
        out = _without(out, ("--epochs", "--patches")) + general
    return out


def _shipped_checkpoint(
    name: str, args: argparse.Namespace, tmp: Path, *, role: str = "previously shipped"
) -> tuple[Path, str]:
    """The shipped model ``name`` (PRETRAINED_DIR) written as a checkpoint to start from, and what the card
    says about it (``the {role} {name} model``): the SHA-256 of those weights (they stay in the project's
    git history)."""
    from meddenoise.pretrained import get_card, load_pretrained
    from meddenoise.training.checkpoint import run_metadata, save_checkpoint

    card = get_card(name)
    # the same network, or one it grows into (the correlation input, more blocks: the trainer's grow_from;
    # asked only when not the same, since asking builds both networks)
    same = card.architecture == ARCHITECTURE and card.architecture_params == _model_params(name)
    if not (
        same
        or (card.architecture == ARCHITECTURE and _grows_into(card.architecture_params, _model_params(name)))
    ):
        raise SystemExit(
            f"--init-shipped: {name} is {card.architecture} {card.architecture_params}, neither the "
            f"architecture asked for ({ARCHITECTURE} {_model_params(name)}) nor one it can grow from"
        )
    shipped = load_pretrained(name)  # checks the weights' SHA-256 against the card it is recorded from
    assert isinstance(shipped, ModelDenoiser)
    folder = tmp / f"shipped-{name}"
    folder.mkdir()
    config = _config(args, name, epochs=1, lr=5e-4, init_from=None).derive(
        model_params=dict(card.architecture_params)
    )
    save_checkpoint(folder, "best", model=shipped.model, config=config, metadata=run_metadata(config))
    grown = (
        ""
        if same
        else f", grown from {_params_text(card.architecture_params)} (what it adds starts as a no-op)"
    )
    return (
        folder / "best.json",
        f"the {role} {name} model (weights SHA-256 {card.sha256[:16]}...){grown}",
    )


def _grows_into(source: dict[str, ArchitectureParam], target: dict[str, ArchitectureParam]) -> bool:
    """Whether a network of ``source``'s parameters can start one of ``target``'s (ConditionedUNet.grow_from)."""
    from meddenoise.models import build_model
    from meddenoise.models.conditioned import ConditionedUNet

    grown = build_model(ARCHITECTURE, **target)
    return isinstance(grown, ConditionedUNet) and grown.can_grow_from(build_model(ARCHITECTURE, **source))


def _params_text(params: dict[str, ArchitectureParam]) -> str:
    return ", ".join(f"{k} {v}" for k, v in params.items())


def _without(argv: list[str], flags: tuple[str, ...]) -> list[str]:
    """``argv`` without ``flags`` and their values."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in flags:
            skip = True
        elif not arg.startswith(tuple(f"{flag}=" for flag in flags)):
            out.append(arg)
    return out


def _card_noise(name: str, ct_texture: str, ct_kernels: str = "varied") -> str:
    """What the card says about the training noise."""
    low, high = SIGMA_RANGES[name]
    std = f"std log-uniform in [{low}, {high}] per patch on the [0, 1] scale ({CLEAN_FRACTION:.0%} of patches at exactly 0)"
    told = "conditioned: told the noise level, or estimating it when not told"
    if name == "ct" and ct_texture == "lowdose":
        doses = ", ".join(f"{d:g}" for d in CT_TEXTURE_DOSES)
        low_cut, high_cut = CT_TEXTURE_CUTOFFS
        kernel = (
            f"FBP window drawn from ramp / Shepp-Logan / cosine / Hann with a cutoff uniform in "
            f"{low_cut:g}-{high_cut:g} of Nyquist (soft to sharp kernels)"
            if ct_kernels == "varied"
            else "full-band ramp FBP"
        )
        return (
            f"simulated low-dose CT noise textures (lowdose-ct sinogram simulation at doses {doses}, "
            f"{CT_TEXTURE_REALISATIONS} realisations each, {kernel}, per training slice, with its pixel spacing; normalised "
            f"to unit std in soft tissue) for {1 - CT_WHITE_FRACTION - CT_MIXED_FRACTION:.0%} of noisy patches, "
            + (
                f"white noise and a texture mixed (the texture's share of the variance uniform in 0-1) for "
                f"{CT_MIXED_FRACTION:.0%}, "
                if CT_MIXED_FRACTION
                else ""
            )
            + f"additive white Gaussian for the rest; {std}, not clipped; {told}"
            + (
                "; also told the noise's lag-1 spatial correlation (0 for white noise; estimated from the "
                "image when not told)"
                if CT_CORRELATION
                else ""
            )
        )
    return f"additive white Gaussian, {std}, not clipped; {told}"


def _load_parts() -> dict[str, ModelData]:
    parts: dict[str, ModelData] = {}
    for part, loader in (("ct", ct_data), ("mri", mri_data), ("xray", xray_data)):
        print(f"loading {part} data ...", flush=True)
        parts[part] = loader()
    return parts


def _with_texture(
    parts: dict[str, ModelData], ct_texture: str, *, workers: int = 1, kernels: str = "varied"
) -> tuple[dict[str, ModelData], ModelData]:
    """The data of each modality (CT with ``ct_texture``) and of the general model (never CT textures)."""
    general = general_data(parts)
    if ct_texture != "white":
        print(f"simulating low-dose CT noise textures of {len(parts['ct'].train)} slices ...", flush=True)
        parts = {**parts, "ct": with_ct_textures(parts["ct"], SEED, workers=workers, kernels=kernels)}
    return parts, general


def _load_data(*, ct_texture: str = "white", workers: int = 1) -> tuple[dict[str, ModelData], ModelData]:
    """The data of each modality and of the general model (which never sees CT textures)."""
    return _with_texture(_load_parts(), ct_texture, workers=workers)


# --- a training bundle: the prepared training images, for a machine without the data sources -------------

_BUNDLE_FORMAT = "meddenoise-pretrained-training-bundle/1"


def save_bundle(path: Path, parts: dict[str, ModelData]) -> None:
    """Write the training images of ``parts`` (CT: also its HU slices) to one compressed ``.npz``.

    A machine without ../shared/data, pydicom-data or nilearn (a lent GPU) trains from it with
    ``--bundle``; the held-apart images are not in it (the cards are measured where the data are).
    """
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, object] = {"format": _BUNDLE_FORMAT, "seed": SEED, "parts": {}}
    for name, data in parts.items():
        if data.hu_slices:  # CT: the slices in HU (whole numbers: int16) give the training images again
            for i, (hu, _) in enumerate(data.hu_slices):
                whole = np.array_equal(hu, np.round(hu)) and np.abs(hu).max() < 32768
                arrays[f"{name}/hu/{i:04d}"] = np.asarray(hu, dtype=np.int16 if whole else np.float32)
        else:
            for i, image in enumerate(data.train):
                arrays[f"{name}/train/{i:04d}"] = np.asarray(image, dtype=np.float32)
        meta["parts"][name] = {  # type: ignore[index]
            "sources": data.sources,
            "held_apart": data.held_apart,
            "intensity": data.intensity.to_dict(),
            "pixel_mm": [mm for _, mm in data.hu_slices],
        }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, allow_pickle=False, **arrays)


def load_bundle(path: Path) -> dict[str, ModelData]:
    """The modality data saved by :func:`save_bundle` (training images only)."""
    with np.load(path) as npz:
        meta = json.loads(npz["meta"].tobytes().decode())
        if meta.get("format") != _BUNDLE_FORMAT or meta.get("seed") != SEED:
            raise SystemExit(f"{path}: not a training bundle of this script (format {meta.get('format')!r})")
        parts: dict[str, ModelData] = {}
        for name, info in meta["parts"].items():
            keys = sorted(k for k in npz.files if k.startswith(f"{name}/train/"))
            hu_keys = sorted(k for k in npz.files if k.startswith(f"{name}/hu/"))
            intensity = IntensitySpec.from_dict(info["intensity"])
            hu_slices = [
                (npz[k].astype(np.float32), float(mm))
                for k, mm in zip(hu_keys, info["pixel_mm"], strict=True)
            ]
            parts[name] = ModelData(
                train=[npz[k] for k in keys] or [_unit(hu, intensity, "CT", "HU") for hu, _ in hu_slices],
                sources=info["sources"],
                held_apart=info["held_apart"],
                intensity=intensity,
                hu_slices=hu_slices,
            )
    return parts


def _card_quality(name: str, choice: DenoiserChoice, data: ModelData, modality: str) -> QualityTable:
    """The card's quality table: the benchmark on ``data``'s held-apart images (every second for general)."""
    images = data.bench if name != "general" else data.bench[::2]
    return measure_quality(
        choice, images, levels=card_levels(modality), seed=SEED, held_apart=data.held_apart, progress=True
    )


def _as_shipped(
    model: torch.nn.Module,
    name: str,
    intensity: IntensitySpec,
    source: MethodKind,
    defaults: UserDefaults,
) -> DenoiserChoice:
    """``model`` as users get it: its strength rule, edge restoration (on correlated noise only, if so) and
    noise texture of ``defaults``, unnamed."""
    denoiser = ModelDenoiser(model, name=name, batch_size=4)
    # as the factory does: past strength 1, and for --texture auto on a scanner's noise, ct runs again
    denoiser.strength_above_one = defaults.strength_above_one
    restored = with_edge_restore(
        DenoiserChoice(denoiser, intensity, name, source),
        defaults.edge_restore,
        correlated_only=defaults.edge_restore_correlated_only,
    )
    return with_texture(restored, texture_amount(restored, defaults.texture), label=False)


def _shipped_choice(
    name: str,
    folder: Path,
    defaults: UserDefaults | None = None,
    intensity: IntensitySpec | None = None,
) -> tuple[ModelCardData, DenoiserChoice]:
    """The weights in ``folder`` as users get them: the card's architecture, intensity mapping and
    :class:`UserDefaults` (``defaults`` / ``intensity`` instead when given)."""
    from meddenoise.models import build_model
    from meddenoise.pretrained.cards import read_model_card

    card = read_model_card(folder / f"{name}.json")
    model = build_model(card.architecture, **card.architecture_params)
    model.load_state_dict(load_weights(folder / card.weights))
    model.eval()
    chosen = UserDefaults.of_card(card) if defaults is None else defaults
    spec = IntensitySpec.from_dict(dict(card.intensity)) if intensity is None else intensity
    return card, _as_shipped(model, name, spec, "pretrained", chosen)


def speed_machine() -> str:
    """The CPU a card's speed is timed on, e.g. ``Intel(R) Xeon(R) Processor, 2 cores, avx512_bf16``."""
    from meddenoise.provenance import cpu_info

    cpu = cpu_info()
    bf16 = [f for f in cpu.flags if f in ("avx512_bf16", "amx_bf16")]
    parts = [cpu.model or "CPU", *([f"{cpu.count} cores"] if cpu.count else []), *bf16]
    return ", ".join(parts)


def store_weights_as(name: str, folder: Path, storage: WeightStorage | None) -> None:
    """Rewrite ``folder``'s weights of ``name`` in ``storage`` (the card's SHA-256, size and storage with them).

    ``None`` is ``--cards-only``'s default: float32 weights become int8, others stay as they are. Nothing is
    written when they are stored so already. The card's quality is then stale: callers measure it.
    """
    from meddenoise.pretrained.cards import read_model_card

    card = read_model_card(folder / f"{name}.json")
    path = folder / card.weights
    stored = weights_storage(path)
    if storage is None:
        storage = "int8" if stored == "float32" else stored
    if stored == storage:
        return
    save_weights(
        load_weights(path),
        path,
        storage=storage,
        metadata={"architecture": card.architecture, "model_card": f"{name}.json"},
    )
    updated = dataclasses.replace(
        card, sha256=sha256_file(path), size_bytes=path.stat().st_size, weight_storage=storage
    )
    write_model_card(updated, folder)
    print(f"{name}: weights stored as {storage} ({updated.size_bytes:,} bytes)", flush=True)


def _timed_here(card: ModelCardData, choice: DenoiserChoice) -> ModelCardData:
    """``card`` with the speed of ``choice`` (ms per 512x512 slice) as timed on this machine, now."""
    return dataclasses.replace(
        card,
        ms_per_512=ms_per_512(choice.denoiser),
        speed_machine=speed_machine(),
        speed_threads=torch.get_num_threads(),
    )


def retime_cards(names: list[str], folder: Path, *, threads: int) -> int:
    """Time each shipped model again (ms per 512x512 slice, as users run it) and rewrite that in its card.

    A training's own timing is taken wherever it ran, often beside another job; this re-measures the speed
    alone, on an otherwise idle machine, and leaves the weights and the measured quality untouched.
    """
    torch.set_num_threads(threads)
    for name in names:
        card, choice = _shipped_choice(name, folder)
        updated = _timed_here(card, choice)
        write_model_card(updated, folder)
        print(f"{name}: {card.ms_per_512} -> {updated.ms_per_512} ms per 512x512 slice", flush=True)
    return 0


def verify_cards(
    names: list[str],
    folder: Path,
    *,
    threads: int,
    rewrite: bool = False,
    storage: WeightStorage | None = None,
) -> int:
    """Measure each shipped model's quality again with the benchmark; 1 when any card differs.

    With ``rewrite``, the cards in ``folder`` get the measured quality instead, after the weights are
    stored as ``storage`` when given (:func:`store_weights_as`); without it, float32 weights are stored in int8
    and quantised ones (int8, int4) are left as they are: quantising them again would add rounding.
    """
    torch.set_num_threads(threads)
    parts, general = _load_data()
    failed = 0
    for name in names:
        if rewrite:
            store_weights_as(name, folder, storage)
        data = general if name == "general" else parts[name]
        card, choice = _shipped_choice(
            name,
            folder,
            user_defaults(name) if rewrite else None,
            data.intensity if rewrite else None,
        )
        quality = _card_quality(name, choice, data, card.modality)
        if rewrite:
            # the speed is timed again here: the weights may have trained (and been timed) on another machine
            updated = dataclasses.replace(
                _timed_here(card, choice),
                quality=quality,
                held_apart=data.held_apart,
                intensity=data.intensity.to_dict(),
                intensity_text=data.intensity.describe(),
                **user_defaults(name).card_fields(),
            )
            write_model_card(updated, folder)
            print(f"{name}: card rewritten from the benchmark", flush=True)
            print(model_card_quality_text(quality, name), flush=True)
            continue
        same = quality.to_dict() == card.quality.to_dict()
        failed += not same
        print(f"{name}: {'same quality as its card' if same else 'DIFFERS from its card'}", flush=True)
        if not same:
            print(f"  card:     {card.quality.to_dict()}\n  measured: {quality.to_dict()}", flush=True)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    # --architecture, --patch and --batch override the shipped choice (smoke runs, a GPU)
    global \
        ARCHITECTURE, \
        ARCHITECTURE_PARAMS, \
        PATCH, \
        BATCH, \
        CT_WHITE_FRACTION, \
        CT_MIXED_FRACTION, \
        CT_CORRELATION, \
        XRAY_NIH, \
        SYNTHETIC_FRACTION
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", nargs="+", default=["general", "ct", "mri", "xray"], choices=list(SUMMARIES)
    )
    parser.add_argument("--out", type=Path, default=PRETRAINED_DIR, help="where weights and cards go")
    parser.add_argument("--patches", type=int, default=40000, help="training patches of the general model")
    parser.add_argument(
        "--epochs", type=int, default=3, help="epochs of the general model (fresh noise each)"
    )
    parser.add_argument("--finetune-patches", type=int, default=16000, help="patches per modality model")
    parser.add_argument("--finetune-epochs", type=int, default=4)
    parser.add_argument(
        "--finetune-lr",
        type=float,
        default=5e-4,
        help="peak learning rate of a fine-tune (cosine down from it; from scratch: 1e-3)",
    )
    parser.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bfloat16 autocast while training (default: when the CPU has native bf16)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--init-general",
        type=Path,
        default=None,
        help="fine-tune the modality models from this finished general training run (a run folder), or from "
        "the shipped general model's weights with 'shipped', instead of training the general model first; "
        "lets the modality models train in separate processes",
    )
    parser.add_argument(
        "--ct-texture",
        choices=("lowdose", "white"),
        default="lowdose",
        help="noise texture of the CT model: simulated low-dose CT (sinogram, FBP) or white noise",
    )
    parser.add_argument(
        "--ct-kernels",
        choices=("varied", "ramp"),
        default="varied",
        help="reconstruction kernels of the CT noise textures: soft to sharp (varied) or the full-band ramp only",
    )
    parser.add_argument(
        "--ct-white-fraction",
        type=float,
        default=CT_WHITE_FRACTION,
        help="with low-dose textures: the share of the CT model's noisy patches given white noise instead",
    )
    parser.add_argument(
        "--ct-mixed-fraction",
        type=float,
        default=CT_MIXED_FRACTION,
        help="with low-dose textures: the share of the CT model's noisy patches given white noise and a "
        "texture mixed",
    )
    parser.add_argument(
        "--ct-correlation",
        action="store_true",
        help="the CT network also takes the noise's lag-1 correlation (ffdunet correlation_input) and is "
        "told each patch's in training; --init-shipped from a model without it widens its input layer",
    )
    parser.add_argument(
        "--synthetic-fraction",
        type=float,
        default=SYNTHETIC_FRACTION,
        help="share of each model's training patches cut from generated dead-leaves images (grey levels "
        "from its real training images; meddenoise.data.synthetic) instead of real ones",
    )
    parser.add_argument(
        "--xray-nih",
        action="store_true",
        help="the xray model also trains on ../shared/data/chest-xray-64's train and valid images (NIH "
        "ChestX-ray14, 64x64; its test images stay unseen); general's data are unchanged",
    )
    parser.add_argument(
        "--init-shipped",
        action="store_true",
        help="fine-tune each model of --models (general too) from its own shipped weights with the "
        "--finetune-* settings (the card records their SHA-256) instead of from a general model",
    )
    parser.add_argument("--architecture", default=ARCHITECTURE, help="registered model name")
    parser.add_argument(
        "--architecture-params", type=json.loads, default=ARCHITECTURE_PARAMS, help="JSON keyword arguments"
    )
    parser.add_argument("--no-eval", action="store_true", help="skip the held-apart evaluation (smoke runs)")
    parser.add_argument("--patch", type=int, default=PATCH, help="training patch size")
    parser.add_argument("--batch", type=int, default=BATCH, help="training batch size")
    parser.add_argument(
        "--device",
        default="cpu",
        help="where the networks train: cpu, cuda, cuda:N or auto (TrainConfig.device)",
    )
    parser.add_argument(
        "--runs-dir",
        type=Path,
        default=None,
        help="keep the training run folders here (default: a temporary folder, deleted at the end)",
    )
    parser.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help="seconds of training per model: a short probe measures this machine's patches/s and the number of "
        "patches (--patches / --finetune-patches) is chosen to fill the budget, no more than fit in 40%% of the memory "
        "available (patches_that_fit); the card records the number used",
    )
    parser.add_argument(
        "--max-patches", type=int, default=300000, help="upper bound on the patches --time-budget may choose"
    )
    parser.add_argument("--grad-clip", type=float, default=None, help="clip the gradient norm to this value")
    parser.add_argument(
        "--level-weight-power",
        type=float,
        default=0.0,
        help="weight each patch's MSE by max(std, 0.005)^-P (the conditioned objective's level_weight_power): "
        "gives the low, clinical noise levels their say against the noisiest patches; 0 (default): plain MSE",
    )
    parser.add_argument(
        "--freeze-int4",
        action="store_true",
        help="with --init-shipped: keep the tensors the shipped weights store in int4 at their stored values "
        "(TrainConfig.frozen) and fine-tune the rest; written in int4 again they come back unchanged, so the "
        "fine-tune makes up for their rounding instead of adding new rounding",
    )
    parser.add_argument("--workers", type=int, default=1, help="processes simulating the CT noise textures")
    parser.add_argument(
        "--save-bundle",
        type=Path,
        default=None,
        help="train nothing: write the prepared training images to this .npz (for a machine without the data)",
    )
    parser.add_argument(
        "--bundle",
        type=Path,
        default=None,
        help="train from a --save-bundle file instead of the data sources (implies --no-eval: the cards' quality "
        "is measured afterwards, where the data are, with --cards-only)",
    )
    parser.add_argument(
        "--verify-cards",
        action="store_true",
        help="train nothing: measure the shipped weights again and compare with their cards' quality",
    )
    parser.add_argument(
        "--write-held-apart",
        type=Path,
        default=None,
        metavar="DIR",
        help="train nothing: link the ct model's held-apart CT slices (one per held-apart patient, never trained "
        "on) into the new folder DIR, for the benchmark commands of docs/low-dose-ct.md and docs/denoise.md",
    )
    parser.add_argument(
        "--write-training-slices",
        type=Path,
        default=None,
        metavar="DIR",
        help="train nothing: link the first CT slice of each of the ct model's training patients into the new "
        "folder DIR (what its texture settings were chosen on: scripts/calibrate_texture_ramp.py)",
    )
    parser.add_argument(
        "--all-series",
        action="store_true",
        help="with --write-training-slices: every training slice (one per series: the patients' other "
        "kernels too), not only the first of each patient",
    )
    parser.add_argument(
        "--cards-only",
        action="store_true",
        help="train nothing: measure the shipped weights with the benchmark and rewrite their cards "
        "(the weights are first rewritten in --weights-storage when stored otherwise)",
    )
    parser.add_argument(
        "--retime-cards",
        action="store_true",
        help="train nothing: time the shipped models again (ms per 512x512 slice, --threads threads) and "
        "rewrite only that in their cards; run it on an idle machine",
    )
    parser.add_argument(
        "--weights-storage",
        choices=WEIGHT_STORAGES,
        default=None,
        help="how the weights are written: int8 with a scale per output slice (4x smaller, float32 at load), "
        "int4 per group of 64 values for the largest tensors (for networks too big for int8 in 3 MB) "
        "or float32 (meddenoise.models.weights); default int8, and with --cards-only int8 for float32 "
        "weights and the storage they have for quantised ones (never quantised twice unless asked)",
    )
    args = parser.parse_args(argv)
    if args.freeze_int4 and not (args.init_shipped and args.weights_storage == "int4"):
        parser.error(
            "--freeze-int4 keeps the shipped int4 tensors: it needs --init-shipped and --weights-storage int4"
        )
    ARCHITECTURE, ARCHITECTURE_PARAMS = args.architecture, args.architecture_params
    PATCH, BATCH = args.patch, args.batch
    CT_WHITE_FRACTION = args.ct_white_fraction
    CT_MIXED_FRACTION, CT_CORRELATION = args.ct_mixed_fraction, args.ct_correlation
    XRAY_NIH = args.xray_nih
    if not 0.0 <= args.synthetic_fraction < 1.0:
        parser.error(f"--synthetic-fraction must be in [0, 1), got {args.synthetic_fraction}")
    SYNTHETIC_FRACTION = args.synthetic_fraction
    if args.write_held_apart is not None:
        links = write_held_apart(args.write_held_apart)
        print(
            f"linked the ct model's {len(links)} held-apart slices into {args.write_held_apart}", flush=True
        )
        return 0
    if args.write_training_slices is not None:
        links = write_training_slices(args.write_training_slices, every_series=args.all_series)
        which = "training slices" if args.all_series else "training patients' first slices"
        print(f"linked the ct model's {len(links)} {which} into {args.write_training_slices}", flush=True)
        return 0
    if args.retime_cards:
        return retime_cards(args.models, args.out, threads=args.threads)
    if args.verify_cards or args.cards_only:
        return verify_cards(
            args.models, args.out, threads=args.threads, rewrite=args.cards_only, storage=args.weights_storage
        )
    if args.save_bundle is not None:
        save_bundle(args.save_bundle, _load_parts())
        print(f"wrote {args.save_bundle} ({args.save_bundle.stat().st_size / 1e6:.1f} MB)", flush=True)
        return 0
    if args.bundle is not None:
        args.no_eval = True

    from meddenoise.models import build_model
    from meddenoise.training import train

    torch.set_num_threads(args.threads)
    ct_texture = args.ct_texture if "ct" in args.models else "white"
    raw_parts = load_bundle(args.bundle) if args.bundle is not None else _load_parts()
    wanted = set(args.models)
    if args.init_general is not None and "general" in wanted:
        parser.error("--init-general reuses a general run: leave 'general' out of --models")
    if args.init_shipped and args.init_general is not None:
        parser.error("--init-shipped fine-tunes each model from its own weights: no --init-general")
    parts, general = _with_texture(raw_parts, ct_texture, workers=args.workers, kernels=args.ct_kernels)
    with tempfile.TemporaryDirectory() as tmp:
        # the shipped weights are read before anything is trained (--out may be where the new ones go)
        shipped_start = (
            {m: _shipped_checkpoint(m, args, Path(tmp)) for m in wanted} if args.init_shipped else {}
        )
        runs = args.runs_dir or Path(tmp)
        general_start = (
            _shipped_checkpoint("general", args, Path(tmp), role="shipped")
            if _from_shipped_general(args)
            else None
        )
        general_run = general_start[0] if general_start else args.init_general or runs / "general"
        # The general model is trained first (unless given): every modality model is fine-tuned from it.
        skip_general = args.init_general is not None or (args.init_shipped and "general" not in wanted)
        order = ([] if skip_general else ["general"]) + [m for m in ("ct", "mri", "xray") if m in wanted]
        for name in order:
            data = general if name == "general" else parts[name]
            rng = np.random.default_rng([SEED, list(SUMMARIES).index(name)])
            from_scratch = name == "general" and not args.init_shipped
            if from_scratch:
                patches_n, epochs, lr, init = args.patches, args.epochs, 1e-3, None
            else:
                patches_n, epochs, lr = args.finetune_patches, args.finetune_epochs, args.finetune_lr
                init = str(shipped_start[name][0]) if args.init_shipped else str(general_run)
            config = _config(args, name, epochs=epochs, lr=lr, init_from=init)
            if args.time_budget is not None:
                patches_n = _budgeted_patches(
                    config, data, args.time_budget, epochs, args.max_patches, Path(tmp)
                )
            shortfall = _memory_room(patches_n, data)
            if shortfall is not None:
                fit, room = shortfall
                if args.time_budget is None:  # counts the user gave are kept: the estimate is rough
                    print(
                        f"warning: {name}: {patches_n} patches may not fit in memory ({room}); a run killed "
                        "for memory ends without a message: lower --patches / --finetune-patches",
                        flush=True,
                    )
                else:  # the budget's choice shrinks to what fits
                    print(
                        f"{name}: {patches_n} patches would not fit in memory ({room}): training {fit}",
                        flush=True,
                    )
                    patches_n = fit
            if args.time_budget is not None:  # the card's command says what ran
                if from_scratch:
                    args.patches = patches_n
                else:
                    args.finetune_patches = patches_n
            clean, textures = paired_patches(data.train, data.textures or None, patches_n, rng)
            clean, synthetic_n = with_synthetic_patches(clean, data.train, SYNTHETIC_FRACTION, rng)
            print(
                f"training {name}: {patches_n} patches ({synthetic_n} synthetic), {epochs} epochs", flush=True
            )
            t0 = time.perf_counter()
            run_dir = general_run if name == "general" else runs / name
            result = train(config, clean, out_dir=run_dir, train_targets=textures)
            seconds = time.perf_counter() - t0
            if name not in wanted:
                continue
            # written first, then rebuilt from the registry and the file: the card measures exactly what
            # users load (int8 weights included)
            weights = write_weights(name, result.model, args.out, args.weights_storage or "int8")
            shipped = build_model(ARCHITECTURE, **_model_params(name))
            shipped.load_state_dict(load_weights(weights))
            shipped.eval()
            defaults = user_defaults(name)
            choice = _as_shipped(shipped, name, data.intensity, "checkpoint", defaults)
            quality = (
                _card_quality(name, choice, data, SUMMARIES[name][0])
                if not args.no_eval
                else QualityTable(
                    rows={k: Quality(0.0, 0.0) for k in ("noisy", "model", "nlmeans")},
                    per_sigma={},
                    images=0,
                    crop=0,
                    noise="not evaluated",
                    held_apart=data.held_apart,
                )
            )
            sources = data.sources
            if name != "general":
                sources = [
                    {**item, "images": f"{item.get('images', '')} (general pre-training)"}
                    for item in general.sources
                    if item not in data.sources
                ] + data.sources
            if synthetic_n:
                sources = [
                    *sources,
                    {
                        **CREDITS["dead-leaves"],
                        "images": f"{synthetic_n} of the {patches_n} training patches",
                    },
                ]
            modality, summary = SUMMARIES[name]
            card = ModelCardData(
                name=name,
                modality=modality,
                summary=summary,
                architecture=ARCHITECTURE,
                architecture_params=_model_params(name),
                parameters=int(sum(p.numel() for p in shipped.parameters())),
                weights=weights.name,
                sha256=sha256_file(weights),
                size_bytes=weights.stat().st_size,
                weight_storage=args.weights_storage or "int8",
                **defaults.card_fields(),
                intensity=data.intensity.to_dict(),
                intensity_text=data.intensity.describe(),
                noise=_card_noise(name, args.ct_texture, args.ct_kernels),
                training_data=[{k: str(v) for k, v in s.items()} for s in sources],
                held_apart=data.held_apart,
                command=_recorded_command(
                    _resolved_argv(sys.argv[1:] if argv is None else argv, args),
                    from_shipped_general=general_start is not None,
                ),
                seed=SEED,
                quality=quality,
                ms_per_512=ms_per_512(choice.denoiser),
                speed_machine=speed_machine(),
                speed_threads=torch.get_num_threads(),
                initialised_from=(
                    shipped_start[name][1]
                    if args.init_shipped
                    else None
                    if name == "general"
                    else general_start[1]
                    if general_start is not None
                    else "the general model (same command, same seed)"
                ),
                training=CardTraining(
                    patches=patches_n,
                    epochs=epochs,
                    seconds=round(seconds, 1),
                    machine=_machine(result.config.device),
                    date=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"),
                    config=json.loads(result.config.model_dump_json()),  # precision as resolved and used
                    patch_size=PATCH,
                ),
            )
            write_model_card(card, args.out)
            q = quality.rows
            print(
                f"{name}: {seconds:.0f} s; model {q['model'].psnr:.2f} dB / {q['model'].ssim:.3f}, "
                + (f"bm3d {q['bm3d'].psnr:.2f} / {q['bm3d'].ssim:.3f}, " if "bm3d" in q else "")
                + f"nlmeans {q['nlmeans'].psnr:.2f} / {q['nlmeans'].ssim:.3f}; {card.ms_per_512} ms/512²",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
