"""State of one gondara2016 run: test images, noisy copies, per-method scores and figure outputs."""

from __future__ import annotations

import numpy as np

from meddenoise._utils import as_rng
from meddenoise.evaluation import score_images
from meddenoise.experiments.protocol import TrainedModel, derived_seed, summarise
from meddenoise.experiments.reproductions.gondara2016.data import GROUPS, GondaraData
from meddenoise.experiments.reproductions.gondara2016.labels import NOISY
from meddenoise.experiments.reproductions.gondara2016.settings import BODY, SCORES, SETTINGS, GondaraConfig
from meddenoise.experiments.runner import Cell, ExperimentRecord

__all__ = ["GondaraRun", "TunedParameters"]

#: Tuned filter parameters of one setting: ``{"median": {...}, "nlmeans": {...}, "images": n}``.
TunedParameters = dict[str, object]


class GondaraRun:
    """State of one gondara2016 run (kept in one object so the steps stay short)."""

    def __init__(self, data: GondaraData, config: GondaraConfig, record: ExperimentRecord) -> None:
        self.data = data
        self.config = config
        self.record = record
        self.test = data.combined_test
        self.group = data.test_group
        #: The body mask of every clean test image (for the masked scores).
        self.body = (
            np.stack([BODY(img) for img in self.test]) if len(self.test) else np.zeros((0, 1, 1), bool)
        )
        self.noisy: dict[str, np.ndarray] = {}
        self.noise_std: dict[str, float] = {}
        #: (setting, method) → per-image scores over the combined test set (NaN where not run).
        self.scores: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        self.outputs: dict[tuple[str, str], np.ndarray] = {}
        self.models: dict[str, TrainedModel] = {}
        #: Trainings already run in worker processes (name → their seconds there), loaded when needed.
        self.trained_ahead: dict[str, float] = {}
        self.tuned: dict[str, TunedParameters] = {}
        self.bm3d_mask = self._bm3d_subset()
        self.figure_idx = self._figure_subset()

    def seed(self, *keys: object) -> int:
        """A seed derived from the run's seed and a purpose (stable across runs and Python versions)."""
        return derived_seed(self.config.seed, *keys)

    def _bm3d_subset(self) -> np.ndarray:
        rng = as_rng(self.seed("bm3d-subset"))
        mask = np.zeros(len(self.test), bool)
        per_group = max(1, self.config.bm3d_images // 2)
        for g in GROUPS:
            idx = np.flatnonzero(self.group == g)
            mask[rng.choice(idx, size=min(per_group, idx.size), replace=False)] = True
        return mask

    def _figure_subset(self) -> np.ndarray:
        # Figure images are drawn from the BM3D subset so that every row of a figure exists.
        rng = as_rng(self.seed("figures"))
        picks: list[int] = []
        for g in GROUPS:
            idx = np.flatnonzero(self.bm3d_mask & (self.group == g))
            picks += list(rng.choice(idx, size=min(self.config.figure_images, idx.size), replace=False))
        return np.array(sorted(picks))

    def corrupt(self, key: str) -> None:
        """Corrupt the test images with setting ``key``; measure its noise std on training pairs."""
        from meddenoise.noise import parse_noise

        noise = parse_noise(SETTINGS[key].spec)
        self.noisy[key] = noise(self.test, rng=self.seed("test-noise", key)).astype(np.float32)
        train = self.data.combined_train
        noisy_train = noise(train, rng=self.seed("train-noise", key))
        # The noise level a noise-aware filter is told: measured on training pairs (never on test images).
        self.noise_std[key] = float(np.std(noisy_train - train))
        self.record_method(key, NOISY, self.noisy[key])

    def record_method(
        self, key: str, method: str, output: np.ndarray, mask: np.ndarray | None = None
    ) -> None:
        """Score ``output`` (denoised images of the test subset ``mask``, or all) against the clean images."""
        idx = np.arange(len(self.test)) if mask is None else np.flatnonzero(mask)
        values = score_images(self.test[idx], output, SCORES, masks=list(self.body[idx]))
        full = {name: np.full(len(self.test), np.nan) for name in values}
        for name, v in values.items():
            full[name][idx] = v
        self.scores[(key, method)] = full
        keep = np.isin(idx, self.figure_idx)
        store = np.full((len(self.figure_idx), *self.test.shape[1:]), np.nan, np.float32)
        positions = np.searchsorted(self.figure_idx, idx[keep])
        store[positions] = output[keep]
        self.outputs[(key, method)] = store

    def alias(self, key: str, method: str, same_as: str) -> None:
        """Make ``method`` at setting ``key`` the very scores and outputs of ``same_as``."""
        self.scores[(key, method)] = self.scores[(key, same_as)]
        self.outputs[(key, method)] = self.outputs[(key, same_as)]

    def cell(self, key: str, method: str, score: str, group: str | None = None) -> Cell | None:
        """Mean ± std of ``score`` of ``method`` at setting ``key`` (over one dataset's images, or all)."""
        values = self.scores.get((key, method))
        if values is None:
            return None
        mask = np.isfinite(values[score])
        if group is not None:
            mask &= self.group == group
        if not mask.any():
            return None
        return summarise(values[score], mask)
