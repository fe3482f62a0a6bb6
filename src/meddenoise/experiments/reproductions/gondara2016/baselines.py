"""gondara2016's classical baselines: median and NL-means untuned and tuned on training images, and BM3D."""

from __future__ import annotations

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
from meddenoise.experiments.reproductions.gondara2016.state import GondaraRun

__all__ = ["classical_baselines"]


def classical_baselines(run: GondaraRun, key: str) -> None:
    """Score the untuned and tuned median / NL-means filters (and BM3D on its subset) at setting ``key``."""
    from meddenoise.classical import bm3d_available, get_classical, tune_classical
    from meddenoise.noise import parse_noise

    cfg = run.config
    noisy = run.noisy[key]
    sigma = run.noise_std[key]
    run.record_method(key, MEDIAN_UNTUNED, get_classical("median", size=3)(noisy))
    nlm_default = get_classical("nlmeans", h=0.1, patch_size=7, patch_distance=11)
    # sigma=0: scikit-image's own default (no noise-variance subtraction in the patch distances).
    run.record_method(key, NLM_UNTUNED, apply_denoiser(nlm_default, noisy, sigma=0.0))
    # Tuned on training images: a seeded subset of the combined training set, its own noise draw.
    train = run.data.combined_train
    pick = as_rng(run.seed("tune", key)).choice(len(train), min(cfg.tune_images, len(train)), replace=False)
    clean_t = train[np.sort(pick)]
    noisy_t = parse_noise(SETTINGS[key].spec)(clean_t, rng=run.seed("tune-noise", key)).astype(np.float32)
    med_params = tune_classical("median", clean_t, noisy_t, {"size": cfg.median_grid})
    nlm_grid = {"h": cfg.nlm_h_grid, "patch_size": cfg.nlm_patch_grid}
    nlm_params = tune_classical("nlmeans", clean_t, noisy_t, nlm_grid, sigma=sigma)
    assert isinstance(med_params, dict) and isinstance(nlm_params, dict)  # without return_scores
    run.tuned[key] = {"median": med_params, "nlmeans": nlm_params, "images": len(clean_t)}
    run.record_method(key, MEDIAN_TUNED, get_classical("median", **med_params)(noisy))
    nlm = get_classical("nlmeans", **nlm_params)
    run.record_method(key, NLM_TUNED, nlm(noisy, sigma=sigma))
    if bm3d_available():
        bm3d = get_classical("bm3d")
        out = apply_denoiser(bm3d, noisy[run.bm3d_mask], sigma=sigma, progress=True)
        run.record_method(key, BM3D, out, run.bm3d_mask)
