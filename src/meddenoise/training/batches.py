"""Turning image arrays into (input, target, mask) training batches for each training mode.

Every random choice (order, patches, augmentation, noise, blind-spot masks) comes from the numpy
Generator passed in, which the trainer seeds per epoch — so an epoch's batches depend only on the
seed and the epoch index, which is what makes an interrupted run resume exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from meddenoise.training.blindspot import blind_spot_mask
from meddenoise.training.config import TrainConfig

__all__ = ["Batch", "BatchSource", "seeded_rng"]

NoiseFn = Callable[..., np.ndarray]

# Spawn keys that keep the random streams of different purposes apart.
STREAM_SPLIT, STREAM_FIXED_NOISE, STREAM_EPOCH, STREAM_VAL, STREAM_INIT = 1, 2, 3, 4, 5


def seeded_rng(seed: int, *key: int) -> np.random.Generator:
    """An independent Generator for ``seed`` and a purpose ``key`` (e.g. ``STREAM_EPOCH, epoch``)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=tuple(key)))


@dataclass(frozen=True)
class Batch:
    """One training batch ``(B, H, W)`` float32: network input, target and optional loss mask."""

    inputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray | None


class BatchSource:
    """Batches of one data set (training or validation) for a config's mode, noise and patching.

    Parameters
    ----------
    config
        The training config (mode, noise mode, patches, augmentation, blind-spot settings).
    images
        ``(N, H, W)`` float32 in [0, 1]: clean images when ``noise`` is given, otherwise noisy inputs.
    targets
        Explicit targets ``(N, H, W)`` when ``noise`` is None: clean images (supervised) or second
        noisy realisations (noise2noise).
    noise
        The noise model (callable ``noise(x, rng=...)``) or None when ``images`` are already noisy.
    fixed_rng
        Generator for the one-off corruption of ``noise_mode="fixed"`` (ignored otherwise).
    """

    def __init__(
        self,
        config: TrainConfig,
        images: np.ndarray,
        *,
        targets: np.ndarray | None,
        noise: NoiseFn | None,
        fixed_rng: np.random.Generator,
    ) -> None:
        self.config = config
        self.noise = noise
        mode = config.mode
        if noise is None:
            if mode in ("supervised", "noise2noise") and targets is None:
                raise ValueError(
                    f"mode {mode} without a noise model needs explicit targets "
                    f"({'clean images' if mode == 'supervised' else 'second noisy realisations'})"
                )
            sources = [images] if mode == "noise2void" else [images, targets]
            self.fresh_noise = False
        else:
            if targets is not None:
                raise ValueError("give either a noise model (images are clean) or explicit targets, not both")
            self.fresh_noise = config.noise_mode == "fresh"
            if self.fresh_noise:
                sources = [images]
            elif mode == "supervised":
                sources = [noise(images, rng=fixed_rng), images]
            elif mode == "noise2noise":
                sources = [noise(images, rng=fixed_rng), noise(images, rng=fixed_rng)]
            else:
                sources = [noise(images, rng=fixed_rng)]
        self.sources = np.stack([np.asarray(s, dtype=np.float32) for s in sources])  # (S, N, H, W)
        _, self.num_images, h, w = self.sources.shape
        p = config.patch_size
        if p is not None and (p > h or p > w):
            raise ValueError(f"patch_size {p} exceeds the image size {h}x{w}")
        crop_h, crop_w = (p, p) if p is not None else (h, w)
        if config.augment_rot90 and crop_h != crop_w:
            raise ValueError(f"augment_rot90 needs square images or a patch_size, got {h}x{w}")
        self.crop = (crop_h, crop_w)

    @property
    def samples_per_epoch(self) -> int:
        return self.num_images * self.config.patches_per_image

    def num_batches(self, batch_size: int) -> int:
        return -(-self.samples_per_epoch // batch_size)

    def batches(
        self, rng: np.random.Generator, *, batch_size: int, shuffle: bool = True, augment: bool = True
    ) -> Iterator[Batch]:
        """Yield the batches of one pass; all randomness comes from ``rng``."""
        cfg = self.config
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
            yield self._finish(crops, rng)

    def _gather(self, index: np.ndarray, tops: np.ndarray, lefts: np.ndarray) -> np.ndarray:
        crop_h, crop_w = self.crop
        if (crop_h, crop_w) == self.sources.shape[-2:]:
            return self.sources[:, index]
        rows = tops[:, None] + np.arange(crop_h)
        cols = lefts[:, None] + np.arange(crop_w)
        return self.sources[:, index[:, None, None], rows[:, :, None], cols[:, None, :]]

    def _augment(self, crops: np.ndarray, codes: np.ndarray) -> np.ndarray:
        # code = rotation (0-3, when rot90) + 4 * flip pattern (0-3: none, h, v, both; when flips)
        cfg = self.config
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

    def _finish(self, crops: np.ndarray, rng: np.random.Generator) -> Batch:
        mode = self.config.mode
        if self.fresh_noise:
            assert self.noise is not None
            clean = crops[0]
            first = np.asarray(self.noise(clean, rng=rng), dtype=np.float32)
            if mode == "supervised":
                return Batch(first, clean, None)
            if mode == "noise2noise":
                return Batch(first, np.asarray(self.noise(clean, rng=rng), dtype=np.float32), None)
            return self._blind_spot(first, rng)
        if mode == "noise2void":
            return self._blind_spot(crops[0], rng)
        if mode == "noise2noise":
            # Either realisation can be the input: swapping at random doubles the pairs seen.
            swap = rng.random(crops.shape[1]) < 0.5
            a = np.where(swap[:, None, None], crops[1], crops[0])
            b = np.where(swap[:, None, None], crops[0], crops[1])
            return Batch(a, b, None)
        return Batch(crops[0], crops[1], None)

    def _blind_spot(self, noisy: np.ndarray, rng: np.random.Generator) -> Batch:
        cfg = self.config
        masked = blind_spot_mask(
            noisy,
            fraction=cfg.blind_spot_fraction,
            radius=cfg.blind_spot_radius,
            replacement=cfg.blind_spot_replacement,
            rng=rng,
        )
        return Batch(masked.inputs, noisy, masked.mask)
