"""Denoising large images in overlapping tiles, blended with smooth weights, in bounded memory.

Each tile is denoised on its own; its output is multiplied by a weight that is 1 in the tile's
interior and falls smoothly (a raised-cosine ramp) to 0 across the overlap, except on sides that
touch the image border, which keep full weight. The weighted outputs are summed and divided by the
summed weights. Pixels near a tile's edge, whose denoising saw a truncated neighbourhood, therefore
count little, and the ramps of neighbouring tiles sum smoothly: no seams.

Memory holds the image, one row of tiles' output and weight accumulators (float32) and one batch of
tiles, whatever the image size (:func:`iter_tiled_rows` streams the finished rows).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from meddenoise.denoiser import Denoiser, as_float_image

__all__ = [
    "DEFAULT_OVERLAP",
    "DEFAULT_TILE",
    "WHOLE_IMAGE_MAX",
    "blend_ramp",
    "count_tiles",
    "denoise_tiled",
    "iter_tiled_rows",
    "resolve_tile",
    "tile_starts",
    "tile_weight",
]

#: Without a tile size given, an image no larger than this on either side (a 512x512 slice, a 1024x1024
#: radiograph) is denoised in one piece, with no overlap recomputed.
WHOLE_IMAGE_MAX = 1024
#: Without a tile size given, larger images are tiled in tiles of this side: memory stays bounded, and on
#: a 2-core CPU the shipped networks ran 22-37 % faster per pixel than in 1024-px tiles (docs/scale.md).
DEFAULT_TILE = 640
#: Default overlap of neighbouring tiles (more than the shipped networks' receptive radius).
DEFAULT_OVERLAP = 32


def resolve_tile(height: int, width: int, tile: int | None) -> int:
    """The tile side used for an image ``height x width``: ``tile`` when given; otherwise the image's own
    size up to :data:`WHOLE_IMAGE_MAX` (one piece), :data:`DEFAULT_TILE` beyond.

    >>> resolve_tile(512, 512, None), resolve_tile(1024, 900, None), resolve_tile(2048, 2500, None)
    (512, 1024, 640)
    >>> resolve_tile(2048, 2500, 1024)
    1024
    """
    if tile is not None:
        return tile
    side = max(height, width)
    return side if side <= WHOLE_IMAGE_MAX else DEFAULT_TILE


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``[0, length)`` with at least ``overlap`` overlap.

    The last tile is aligned to the end, so every tile is full size when ``length >= tile``.
    """
    if tile <= 0:
        raise ValueError(f"tile must be positive, got {tile}")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile), got overlap={overlap}, tile={tile}")
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def blend_ramp(overlap: int) -> np.ndarray:
    """Blending ramp across an overlap of ``overlap`` pixels, rising from 0 to 1.

    The outer quarter (next to the tile's edge, where a denoiser saw a truncated neighbourhood) gets
    weight 0, the middle half a raised-cosine rise, the inner quarter weight 1. The ramp is
    antisymmetric, ``ramp[i] + ramp[overlap - 1 - i] == 1``, so two tiles overlapping by exactly
    ``overlap`` pixels blend with weights that sum to one, and every pixel keeps a positive total.
    """
    if overlap <= 0:
        return np.ones(0, dtype=np.float32)
    margin = overlap // 4
    rise = overlap - 2 * margin
    positions = (np.arange(rise, dtype=np.float64) + 0.5) / rise
    middle = np.sin(0.5 * np.pi * positions) ** 2
    return np.concatenate([np.zeros(margin), middle, np.ones(margin)]).astype(np.float32)


def tile_weight(
    height: int, width: int, overlap: int, *, top: bool, bottom: bool, left: bool, right: bool
) -> np.ndarray:
    """Blending weight of one tile: ramps on the sides that face another tile (flags True), 1 elsewhere."""

    def profile(n: int, start_ramp: bool, end_ramp: bool) -> np.ndarray:
        weights = np.ones(n, dtype=np.float32)
        k = min(overlap, n // 2)
        if k > 0:
            ramp = blend_ramp(k)
            if start_ramp:
                weights[:k] = np.minimum(weights[:k], ramp)
            if end_ramp:
                weights[n - k :] = np.minimum(weights[n - k :], ramp[::-1])
        return weights

    return np.outer(profile(height, top, bottom), profile(width, left, right)).astype(np.float32)


def _tile_boxes(height: int, width: int, tile: int, overlap: int) -> Iterator[tuple[int, int, int, int]]:
    for y in tile_starts(height, tile, overlap):
        for x in tile_starts(width, tile, overlap):
            yield y, x, min(tile, height), min(tile, width)


def denoise_tiled(
    image: np.ndarray,
    denoiser: Denoiser | Callable[[np.ndarray], np.ndarray],
    *,
    tile: int | None = None,
    overlap: int = DEFAULT_OVERLAP,
    sigma: float | None = None,
    batch_size: int = 1,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Denoise a 2D [0, 1] image in overlapping tiles and blend them.

    Parameters
    ----------
    image
        float image ``(H, W)`` in [0, 1].
    denoiser
        A :class:`~meddenoise.denoiser.Denoiser` (batches of tiles go through ``denoise_batch``) or
        any callable mapping an ``(N, h, w)`` float32 batch to the same shape.
    tile
        Tile side in pixels; ``None``: :func:`resolve_tile` (whole up to 1024 px, else 640-px tiles). An
        image no larger than one tile is denoised whole.
    overlap
        Overlap between neighbouring tiles in pixels; should exceed the denoiser's receptive radius.
    sigma
        Noise level on the [0, 1] scale, passed to denoisers that use it.
    batch_size
        Tiles denoised per call (memory grows with it).
    progress
        Called with the number of tiles just finished, e.g. ``tqdm.update``.

    Returns
    -------
    numpy.ndarray
        float32 ``(H, W)``.
    """
    arr = as_float_image(image)
    if arr.ndim != 2:
        raise ValueError(f"denoise_tiled expects one 2D image, got shape {arr.shape}")
    output = np.empty(arr.shape, dtype=np.float32)
    for top, rows in iter_tiled_rows(
        arr, denoiser, tile=tile, overlap=overlap, sigma=sigma, batch_size=batch_size, progress=progress
    ):
        output[top : top + len(rows)] = rows
    return output


def iter_tiled_rows(
    image: np.ndarray,
    denoiser: Denoiser | Callable[[np.ndarray], np.ndarray],
    *,
    tile: int | None = None,
    overlap: int = DEFAULT_OVERLAP,
    sigma: float | None = None,
    batch_size: int = 1,
    progress: Callable[[int], None] | None = None,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """:func:`denoise_tiled` as a stream: yields ``(first_row, rows)`` blocks of the result, top to bottom.

    Tiles are denoised one row of tiles at a time; the rows that no later tile touches are finished
    and yielded, so memory holds one row of tiles (two float32 accumulators of ``tile x W``) besides
    the input, never a float copy of the whole image. The blending is the same sum in the same order as
    for a whole-image accumulator: the result is identical.

    ``image`` is read one tile at a time through ``prepare`` (default: as float32), e.g. the mapping of
    original units to [0, 1], so the mapped image never exists whole either.
    """
    if image.ndim != 2:
        raise ValueError(f"expected one 2D image, got shape {image.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    prepare = prepare or as_float_image
    height, width = image.shape
    tile = resolve_tile(height, width, tile)

    def run(batch: np.ndarray) -> np.ndarray:
        if isinstance(denoiser, Denoiser):
            out = denoiser.denoise_batch(batch, sigma=sigma)
        else:
            out = denoiser(batch)
        return np.asarray(out, dtype=np.float32).reshape(batch.shape)

    if height <= tile and width <= tile:
        out = run(np.asarray(prepare(image), dtype=np.float32)[None])[0]
        if progress is not None:
            progress(1)
        yield 0, out  # one tile: the whole image is held anyway
        return

    tops = tile_starts(height, tile, overlap)
    lefts = tile_starts(width, tile, overlap)
    band_height = min(tile, height)
    # accumulators of the rows from `done` on (at most one row of tiles tall); rows above are yielded
    output = np.zeros((band_height, width), dtype=np.float32)
    weight_sum = np.zeros((band_height, width), dtype=np.float32)
    done = 0
    boxes = [(y, x, band_height, min(tile, width)) for y in tops for x in lefts]
    for first in range(0, len(boxes), batch_size):
        chunk = boxes[first : first + batch_size]
        batch = np.stack(
            [np.asarray(prepare(image[y : y + h, x : x + w]), np.float32) for y, x, h, w in chunk]
        )
        denoised = run(batch)
        for (y, x, h, w), patch in zip(chunk, denoised, strict=True):
            if y > done:  # a new row of tiles: the rows above it are final
                yield from _finished(done, output[: y - done], weight_sum[: y - done])
                keep = done + band_height - y  # rows of the band that the new row of tiles overlaps
                output[:keep] = output[y - done : y - done + keep]
                weight_sum[:keep] = weight_sum[y - done : y - done + keep]
                output[keep:], weight_sum[keep:] = 0.0, 0.0
                done = y
            weight = tile_weight(
                h, w, overlap, top=y > 0, bottom=y + h < height, left=x > 0, right=x + w < width
            )
            output[y - done : y - done + h, x : x + w] += patch * weight
            weight_sum[y - done : y - done + h, x : x + w] += weight
        if progress is not None:
            progress(len(chunk))
    yield from _finished(done, output[: height - done], weight_sum[: height - done])


#: Rows per yielded block: what the caller does with a block (map back, round, store) then makes
#: temporaries of this many rows, not of a whole row of tiles.
ROWS_PER_BLOCK = 128


def _finished(top: int, total: np.ndarray, weights: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    for start in range(0, len(total), ROWS_PER_BLOCK):
        stop = start + ROWS_PER_BLOCK
        yield top + start, total[start:stop] / weights[start:stop]


def count_tiles(height: int, width: int, *, tile: int | None = None, overlap: int = DEFAULT_OVERLAP) -> int:
    """Number of tiles :func:`denoise_tiled` uses for an image of this size."""
    tile = resolve_tile(height, width, tile)
    if height <= tile and width <= tile:
        return 1
    return len(tile_starts(height, tile, overlap)) * len(tile_starts(width, tile, overlap))
