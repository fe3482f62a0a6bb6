"""gondara2016's classical baselines: median and NL-means untuned and tuned on training images, and BM3D.

One setting's baselines are a :class:`BaselineJob`: the arrays and grids they need, so that they can run
in a worker process beside the trainings (:mod:`.ahead`) or here (:func:`classical_baselines`), with the
same result either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meddenoise._utils import as_rng
from meddenoise.experiments.protocol import apply_denoiser
from meddenoise.experiments.reproductions.gondara2016.labels import (
    BM3D,
    MEDIAN_TUNED,
    MEDIAN_UNTUNED,
    NLM_TUNED,
    NLM_UNTUNED,
)
from meddenoise.experiments.reproductions.gondara2016.settings import SETTINGS
from meddenoise.experiments.reproductions.gondara2016.state import GondaraRun, TunedParameters

__all__ = ["BaselineJob", "BaselineResult", "baseline_job", "classical_baselines", "record_baselines"]


@dataclass(frozen=True)
class BaselineResult:
    """One setting's baseline outputs (label → denoised test images; BM3D's on its subset only) and tuning."""

    outputs: dict[str, np.ndarray]
    tuned: TunedParameters


@dataclass(frozen=True)
class BaselineJob:
    """Everything one setting's classical baselines need; :meth:`run` computes them (in any process).

    BM3D runs single-threaded: the same output on every run (its own threads change the order of its
    additions), and two of these jobs side by side keep two cores busy without oversubscribing them.
    """

    key: str
    noisy: np.ndarray  # the setting's noisy test images
    sigma: float  # the noise std measured on training pairs, told to NL-means (tuned) and BM3D
    clean_tune: np.ndarray  # the training images the filters are tuned on
    noisy_tune: np.ndarray  # those with their own draw of the setting's noise
    bm3d_noisy: np.ndarray | None  # the BM3D subset's noisy test images; None without the bm3d package
    median_grid: tuple[int, ...]
    nlm_h_grid: tuple[float, ...]
    nlm_patch_grid: tuple[int, ...]

    @property
    def name(self) -> str:
        return f"baselines-{self.key}"

    def run(self) -> BaselineResult:
        """Untuned median (3x3) and NL-means (scikit-image's defaults), both tuned, and BM3D."""
        from meddenoise.classical import get_classical, tune_classical

        noisy, sigma = self.noisy, self.sigma
        outputs = {MEDIAN_UNTUNED: get_classical("median", size=3)(noisy)}
        nlm_default = get_classical("nlmeans", h=0.1, patch_size=7, patch_distance=11)
        # sigma=0: scikit-image's own default (no noise-variance subtraction in the patch distances).
        outputs[NLM_UNTUNED] = apply_denoiser(nlm_default, noisy, sigma=0.0)
        med_params = tune_classical("median", self.clean_tune, self.noisy_tune, {"size": self.median_grid})
        nlm_grid = {"h": self.nlm_h_grid, "patch_size": self.nlm_patch_grid}
        nlm_params = tune_classical("nlmeans", self.clean_tune, self.noisy_tune, nlm_grid, sigma=sigma)
        assert isinstance(med_params, dict) and isinstance(nlm_params, dict)  # without return_scores
        outputs[MEDIAN_TUNED] = get_classical("median", **med_params)(noisy)
        outputs[NLM_TUNED] = get_classical("nlmeans", **nlm_params)(noisy, sigma=sigma)
        if self.bm3d_noisy is not None:
            bm3d = get_classical("bm3d", threads=1)
            outputs[BM3D] = apply_denoiser(bm3d, self.bm3d_noisy, sigma=sigma)
        tuned: TunedParameters = {"median": med_params, "nlmeans": nlm_params, "images": len(self.clean_tune)}
        return BaselineResult(outputs, tuned)


def baseline_job(run: GondaraRun, key: str) -> BaselineJob:
    """Setting ``key``'s baselines (after :meth:`GondaraRun.corrupt`): its tuning images drawn here, seeded."""
    from meddenoise.classical import bm3d_available
    from meddenoise.noise import parse_noise

    cfg = run.config
    noisy = run.noisy[key]
    # Tuned on training images: a seeded subset of the combined training set, its own noise draw.
    train = run.data.combined_train
    pick = as_rng(run.seed("tune", key)).choice(len(train), min(cfg.tune_images, len(train)), replace=False)
    clean_t = train[np.sort(pick)]
    noisy_t = parse_noise(SETTINGS[key].spec)(clean_t, rng=run.seed("tune-noise", key)).astype(np.float32)
    return BaselineJob(
        key=key,
        noisy=noisy,
        sigma=run.noise_std[key],
        clean_tune=clean_t,
        noisy_tune=noisy_t,
        bm3d_noisy=noisy[run.bm3d_mask] if bm3d_available() else None,
        median_grid=tuple(cfg.median_grid),
        nlm_h_grid=tuple(cfg.nlm_h_grid),
        nlm_patch_grid=tuple(cfg.nlm_patch_grid),
    )


def record_baselines(run: GondaraRun, key: str, result: BaselineResult) -> None:
    """Score setting ``key``'s baseline outputs into the run (BM3D on its subset) and keep the tuning."""
    run.tuned[key] = result.tuned
    for label, output in result.outputs.items():
        run.record_method(key, label, output, run.bm3d_mask if label == BM3D else None)


def classical_baselines(run: GondaraRun, key: str) -> None:
    """Compute and score the baselines of setting ``key`` in this process."""
    record_baselines(run, key, baseline_job(run, key).run())
