"""Turning image arrays into (input, target, mask) training batches: cropping, order, augmentation.

What the batches hold (noisy/clean pairs, two noisy realisations, blind-spot masks) is the
objective's business (:mod:`meddenoise.training.objectives`); this module cuts and shuffles.

Every random choice (order, patches, augmentation, noise, blind-spot masks) comes from the numpy
Generator passed in, which the trainer seeds per epoch — so an epoch's batches depend only on the
seed and the epoch index, which is what makes an interrupted run resume exactly.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator
from queue import Empty, Full, Queue
from typing import Any, TypeVar

import numpy as np

from meddenoise.training.config import TrainConfig
from meddenoise.training.objectives import Batch, Objective
from meddenoise.training.objectives.base import NoiseFn

__all__ = ["Batch", "BatchSource", "prefetched", "seeded_rng"]

# Spawn keys that keep the random streams of different purposes apart.
STREAM_SPLIT, STREAM_FIXED_NOISE, STREAM_EPOCH, STREAM_VAL, STREAM_INIT = 1, 2, 3, 4, 5


def seeded_rng(seed: int, *key: int) -> np.random.Generator:
    """An independent Generator for ``seed`` and a purpose ``key`` (e.g. ``STREAM_EPOCH, epoch``)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=tuple(key)))


class BatchSource:
    """Batches of one data set (training or validation) for a config's objective, noise and patching.

    Parameters
    ----------
    config
        The training config (objective, noise mode, patches, augmentation).
    images
        ``(N, H, W)`` float32 in [0, 1]: clean images when ``noise`` is given, otherwise noisy inputs.
    targets
        Explicit targets ``(N, H, W)`` when ``noise`` is None: clean images (supervised) or second
        noisy realisations (noise2noise).
    noise
        The noise model (callable ``noise(x, rng=...)``) or None when ``images`` are already noisy.
    fixed_rng
        Generator for the one-off corruption of ``noise_mode="fixed"`` (ignored otherwise).
    objective
        The objective making the batches; None builds ``config.objective``.
    """

    def __init__(
        self,
        config: TrainConfig,
        images: np.ndarray,
        *,
        targets: np.ndarray | None,
        noise: NoiseFn | None,
        fixed_rng: np.random.Generator,
        objective: Objective | None = None,
    ) -> None:
        self.config = config
        self.data = config.data
        self.objective = config.objective.build() if objective is None else objective
        if noise is not None and targets is not None:
            raise ValueError("give either a noise model (images are clean) or explicit targets, not both")
        self.fresh_noise = noise if noise is not None and config.noise_mode == "fresh" else None
        if self.fresh_noise is not None:
            sources = [images]  # clean crops; the objective draws the noise per batch
        else:
            sources = self.objective.sources(images, targets, noise=noise, rng=fixed_rng)
        self.sources = np.stack([np.asarray(s, dtype=np.float32) for s in sources])  # (S, N, H, W)
        _, self.num_images, h, w = self.sources.shape
        p = self.data.patch_size
        if p is not None and (p > h or p > w):
            raise ValueError(f"patch_size {p} exceeds the image size {h}x{w}")
        crop_h, crop_w = (p, p) if p is not None else (h, w)
        if self.data.augment_rot90 and crop_h != crop_w:
            raise ValueError(f"augment_rot90 needs square images or a patch_size, got {h}x{w}")
        self.crop = (crop_h, crop_w)

    @property
    def samples_per_epoch(self) -> int:
        return self.num_images * self.data.patches_per_image

    def num_batches(self, batch_size: int) -> int:
        return -(-self.samples_per_epoch // batch_size)

    def batches(
        self, rng: np.random.Generator, *, batch_size: int, shuffle: bool = True, augment: bool = True
    ) -> Iterator[Batch]:
        """Yield the batches of one pass; all randomness comes from ``rng``."""
        cfg = self.data
        n = self.samples_per_epoch
        image_index = np.tile(np.arange(self.num_images), cfg.patches_per_image)
        if shuffle:
            image_index = image_index[rng.permutation(n)]
        _, _, h, w = self.sources.shape
        crop_h, crop_w = self.crop
        tops = rng.integers(0, h - crop_h + 1, size=n)
        lefts = rng.integers(0, w - crop_w + 1, size=n)
        n_transforms = (4 if cfg.augment_rot90 else 1) * (4 if cfg.augment_flips else 1)
        transforms = rng.integers(0, n_transforms, size=n) if augment and n_transforms > 1 else None
        for start in range(0, n, batch_size):
            sl = slice(start, min(start + batch_size, n))
            crops = self._gather(image_index[sl], tops[sl], lefts[sl])
            if transforms is not None:
                crops = self._augment(crops, transforms[sl])
            yield self.objective.batch(crops, noise=self.fresh_noise, rng=rng)

    def _gather(self, index: np.ndarray, tops: np.ndarray, lefts: np.ndarray) -> np.ndarray:
        crop_h, crop_w = self.crop
        if (crop_h, crop_w) == self.sources.shape[-2:]:
            return self.sources[:, index]
        rows = tops[:, None] + np.arange(crop_h)
        cols = lefts[:, None] + np.arange(crop_w)
        return self.sources[:, index[:, None, None], rows[:, :, None], cols[:, None, :]]

    def _augment(self, crops: np.ndarray, codes: np.ndarray) -> np.ndarray:
        # code = rotation (0-3, when rot90) + 4 * flip pattern (0-3: none, h, v, both; when flips)
        cfg = self.data
        out = np.empty_like(crops)
        for b, code in enumerate(codes):
            img = crops[:, b]
            rot, flips = (int(code) % 4, int(code) // 4) if cfg.augment_rot90 else (0, int(code))
            if flips & 1:
                img = img[..., :, ::-1]
            if flips & 2:
                img = img[..., ::-1, :]
            out[:, b] = np.rot90(img, k=rot, axes=(-2, -1))
        return out


_T = TypeVar("_T")


def prefetched(batches: Iterator[_T], depth: int) -> Generator[_T, None, None]:
    """``batches``, made up to ``depth`` ahead by one background thread: the same batches in the same order.

    While the main thread waits for a GPU step, the next batches are cut, augmented and noised. The one
    producer draws from its Generator in the order a plain loop would, so nothing changes but the timing;
    the caller must not draw from that Generator itself meanwhile. ``depth`` <= 0: ``batches`` as they are.
    An error in the producer is raised in the caller; leaving the loop early stops the producer.
    """
    if depth <= 0:
        yield from batches
        return
    queue: Queue[tuple[str, Any]] = Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.05)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not put(("batch", batch)):
                    return
            put(("end", None))
        except BaseException as exc:  # handed to the caller, which re-raises it
            put(("error", exc))

    thread = threading.Thread(target=produce, name="meddenoise-batches", daemon=True)
    thread.start()
    try:
        while True:
            try:
                kind, item = queue.get(timeout=0.05)
            except Empty:
                if not thread.is_alive() and queue.empty():
                    raise RuntimeError("the batch producer stopped without a word") from None
                continue
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        thread.join()
