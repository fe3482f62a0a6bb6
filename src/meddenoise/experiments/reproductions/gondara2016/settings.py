"""The gondara2016 protocol: noise settings (Table I/IV), scores, and the run's config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from meddenoise.evaluation import Score
from meddenoise.experiments.config import ReproductionConfig
from meddenoise.metrics.masks import MaskRule

__all__ = [
    "BASE_KEY",
    "BODY",
    "QUICK",
    "SCORES",
    "SETTINGS",
    "TABLE4_KEYS",
    "GondaraConfig",
    "NoiseSetting",
]


@dataclass(frozen=True)
class NoiseSetting:
    """One corruption of Table I / IV: its spec and the label the paper's tables use."""

    key: str
    spec: str
    column: str


#: Every corruption of Table I plus Table IV's sd=10 (Table IV's columns first, then the others).
SETTINGS: dict[str, NoiseSetting] = {
    s.key: s
    for s in (
        NoiseSetting("g0.1s1", "gaussian(p=0.1,sigma=1)", "p=0.1, sigma=1"),
        NoiseSetting("g0.5s1", "gaussian(p=0.5,sigma=1)", "p=0.5"),
        NoiseSetting("g0.2s5", "gaussian(p=0.2,sigma=5)", "sd=5"),
        NoiseSetting("g0.2s10", "gaussian(p=0.2,sigma=10)", "sd=10"),
        NoiseSetting("p0.2l5", "poisson(p=0.2,lam=5)", "Poisson, lambda=5"),
        NoiseSetting("g0.2s2", "gaussian(p=0.2,sigma=2)", "p=0.2, sigma=2"),
        NoiseSetting("p0.2l1", "poisson(p=0.2,lam=1)", "Poisson, lambda=1"),
    )
}
TABLE4_KEYS = ("g0.5s1", "g0.2s5", "g0.2s10", "p0.2l5", "g0.2s2", "p0.2l1")
BASE_KEY = "g0.1s1"

#: SSIM with a 7x7 uniform window (scikit-image's old ``compare_ssim`` default, which the paper's era
#: used) at data_range 1 (main tables) and 2 (old scikit-image's float default: the ``_dr2`` tables), PSNR.
#: ``ssim_body``: the same SSIM averaged inside the body mask of each clean image (:data:`BODY`): the
#: mammograms are mostly black background, which dominates the whole-image SSIM.
SCORES: tuple[Score, ...] = (
    Score("ssim", win_size=7, label="SSIM (data_range=1)"),
    Score("ssim_dr2", metric="ssim", data_range=2.0, win_size=7, label="SSIM (data_range=2)"),
    Score("psnr", label="PSNR (dB)"),
    Score(
        "ssim_body", metric="ssim", win_size=7, masked=True, label="SSIM inside the body mask (data_range=1)"
    ),
)
#: The tissue mask of the masked scores: Otsu threshold, largest component, holes filled.
BODY = MaskRule("body")
SCORE_LABELS = {s.name: s.label for s in SCORES}

ParamValue = int | float | str | bool


def _ours_params() -> dict[str, ParamValue | list[int]]:
    # a small U-Net: whole 64x64 images, four levels down to 8x8 (the heavy settings need the whole image);
    # two residual blocks per level: +0.004 SSIM on Table III's Combined over one (docs/reproduce.md)
    return {"channels": [16, 32, 64, 128], "blocks": 2}


class GondaraConfig(ReproductionConfig):
    """Everything that defines a gondara2016 run (:data:`QUICK` gives the CI-sized variant)."""

    size: int = Field(64, ge=8)
    mmm_train: int = Field(300, ge=1)
    dx_train_fraction: float = Field(0.75, gt=0, lt=1)
    limit_mmm: int | None = None
    limit_dx: int | None = None
    epochs: int = Field(100, ge=1, description="Epochs of the Table II/III paper-faithful DAEs.")
    table4_epochs: int = Field(100, ge=1, description="Epochs of each Table IV / Table I setting's DAE.")
    batch_size: int = 10
    optimizer: str = "adadelta"
    loss: str = "bce"
    ours_model: str = "unet"
    ours_params: dict[str, ParamValue | list[int]] = Field(default_factory=_ours_params)
    ours_epochs: int = Field(200, ge=1, description="Epochs of each setting's 'ours' network.")
    ours_loss: str = Field(
        "ssim", description="Loss of the 'ours' networks (ssim: the tables' 7x7 uniform SSIM)."
    )
    ours_patch_size: int | None = Field(
        None, description="Training patch size of 'ours'; None: whole images."
    )
    ours_batch_size: int = Field(
        8,
        ge=1,
        description="Batch size of 'ours': 8 gives twice the steps of 16 in the same epochs (+0.003 / +0.005 SSIM on "
        "Combined / Poisson lambda=5 for 1.3-1.8x the time; docs/reproduce.md).",
    )
    ours_ensemble: Literal[1, 2, 4, 8] = Field(
        8,
        description="Self-ensemble of 'ours' at test time: 1, 2, 4 or 8 flipped/rotated copies averaged.",
    )
    precision: Literal["fp32", "bf16", "auto"] = Field(
        "auto",
        description="Training arithmetic of the paper's DAEs and ours: auto (bf16 autocast where the CPU "
        "computes it natively and the trainer times it faster, else fp32; the 100-epoch DAEs came out within "
        "0.003 SSIM of fp32 in every column), fp32 (the papers'; the same numbers on every CPU) or bf16.",
    )
    train_processes: int = Field(
        0,
        ge=0,
        description="Trainings (and, before them, the settings' classical baselines) run at once, each in its own "
        "process on threads // processes torch threads (at least one): these small networks gain little from a "
        "second thread, so two trainings on two cores finish sooner than one after another on both (the "
        "paper-faithful part 14.4-15.7 against 21.1 min on a 2-core Xeon; docs/reproduce.md). 0: one per CPU "
        "core available; 1: one after another in this process.",
    )
    bm3d_images: int = 20
    tune_images: int = 24
    median_grid: tuple[int, ...] = (3, 5, 7, 9)
    nlm_h_grid: tuple[float, ...] = (0.03, 0.06, 0.1, 0.15, 0.25, 0.4, 0.6)
    nlm_patch_grid: tuple[int, ...] = (5, 7)
    figure_images: int = 3
    settings: tuple[str, ...] = tuple(SETTINGS)


#: Same code path, a few images and epochs (CI).
QUICK: dict[str, object] = {
    "mmm_train": 12,
    "limit_mmm": 16,
    "limit_dx": 12,
    "epochs": 2,
    "table4_epochs": 1,
    "ours_epochs": 1,
    "bm3d_images": 2,
    "tune_images": 4,
    "median_grid": (3, 5),
    "nlm_h_grid": (0.06, 0.15),
    "nlm_patch_grid": (5,),
    "figure_images": 1,
    "settings": (BASE_KEY, "g0.2s10", "p0.2l5"),
}
