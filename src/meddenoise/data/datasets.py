"""Folder datasets: list image files, load them as one float32 [0, 1] array, combine datasets.

``load_images('/work/shared/data/mini-mias', size=64)`` is what experiments and training use. Reading
is parallel (threads; decoders release the GIL) and the result of a resized load is cached in
``~/.cache/meddenoise/images`` (or ``$MEDDENOISE_CACHE``), keyed by every file's path, size and
modification time plus the load options, so a second load costs milliseconds and a changed file
invalidates the entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm.auto import tqdm

from meddenoise._utils import atomic_path
from meddenoise.data.intensity import DEFAULT_INTENSITY, IntensitySpec, intensity_for_image
from meddenoise.data.normalize import NormalizationMethod, Normalizer
from meddenoise.data.transforms import center_crop_to_square, pad_to_square, resize
from meddenoise.io import ImageReadError, read_image
from meddenoise.io.reader import READ_SUFFIXES

__all__ = [
    "DEFAULT_EXTENSIONS",
    "ImageDataset",
    "cache_dir",
    "combine_datasets",
    "list_images",
    "load_dataset",
    "load_images",
]

#: Suffixes :func:`list_images` picks by default (every format :func:`meddenoise.io.read_image` reads).
DEFAULT_EXTENSIONS: tuple[str, ...] = READ_SUFFIXES
SquareMode = Literal["stretch", "pad", "crop"]
_CACHE_VERSION = 2  # 2: the default mapping is the intensity policy's; "auto" is the policy's auto
_CACHE_MAX_BYTES = 512 * 2**20  # one entry
_CACHE_TOTAL_BYTES = 2 * 2**30  # the whole cache; oldest entries go first ($MEDDENOISE_CACHE_MAX_MB)


def _matches(path: Path, extensions: Iterable[str]) -> bool:
    name = path.name.lower()
    return any(name.endswith(ext.lower() if ext.startswith(".") else "." + ext.lower()) for ext in extensions)


def list_images(
    folder: str | os.PathLike[str],
    *,
    recursive: bool = True,
    extensions: Iterable[str] = DEFAULT_EXTENSIONS,
) -> list[Path]:
    """Image files under ``folder`` with one of ``extensions`` (case-insensitive), sorted by path.

    Hidden files and folders (``.name``) are skipped. Raises :class:`FileNotFoundError` for a missing folder.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    exts = tuple(extensions)
    pattern = "**/*" if recursive else "*"
    found = [
        p
        for p in root.glob(pattern)
        if p.is_file()
        and _matches(p, exts)
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return sorted(found)


@dataclass
class ImageDataset:
    """Images ``(N, H, W)`` float32 in [0, 1] with where each came from.

    ``paths[i]`` is image ``i``'s file, ``slice_index[i]`` its slice in that file (0 for 2D files),
    ``source[i]`` the name of the dataset it belongs to (see :func:`combine_datasets`), ``normalizers``
    one :meth:`~meddenoise.data.Normalizer.to_dict` per image (how to map it back to original units).
    """

    images: np.ndarray
    paths: list[Path]
    slice_index: np.ndarray
    source: np.ndarray
    normalizers: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, indices: Sequence[int] | np.ndarray) -> ImageDataset:
        """The images at ``indices`` (e.g. one part of a split)."""
        idx = np.asarray(indices, dtype=np.int64)
        return ImageDataset(
            images=self.images[idx],
            paths=[self.paths[i] for i in idx],
            slice_index=self.slice_index[idx],
            source=self.source[idx],
            normalizers=[self.normalizers[i] for i in idx] if self.normalizers else [],
        )


def cache_dir() -> Path:
    """Where resized loads are cached: ``$MEDDENOISE_CACHE``, else ``$XDG_CACHE_HOME/meddenoise`` or ``~/.cache/meddenoise``."""
    env = os.environ.get("MEDDENOISE_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "meddenoise"


def _prune_cache(folder: Path, keep: Path) -> None:
    """Delete the least recently used entries until the cache fits its budget (``keep`` stays)."""
    budget = int(float(os.environ.get("MEDDENOISE_CACHE_MAX_MB", _CACHE_TOTAL_BYTES / 2**20)) * 2**20)
    entries = []
    for f in folder.glob("*.npz"):
        try:
            st = f.stat()
        except OSError:
            continue
        entries.append((st.st_mtime, st.st_size, f))
    total = sum(size for _, size, _ in entries)
    for _, size, f in sorted(entries):
        if total <= budget:
            break
        if f != keep:
            f.unlink(missing_ok=True)
            total -= size


def _resolve_files(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    recursive: bool,
    extensions: Iterable[str],
) -> list[Path]:
    items = [source] if isinstance(source, str | os.PathLike) else list(source)
    files: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            files.extend(list_images(path, recursive=recursive, extensions=extensions))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    if not files:
        raise FileNotFoundError(
            f"no image files with {', '.join(extensions)} in {', '.join(map(str, items))}"
        )
    return files


def _load_one(
    path: Path,
    size: tuple[int, int] | None,
    square: SquareMode,
    normalization: NormalizationMethod | Literal["auto"] | IntensitySpec,
) -> tuple[np.ndarray, dict[str, Any]]:
    image = read_image(path)
    if normalization == "auto":
        normalization = IntensitySpec("auto")
    normalizer = (
        intensity_for_image(image, normalization)
        if isinstance(normalization, IntensitySpec)
        else Normalizer.for_image(image, method=normalization)
    )
    slices = image.slices()
    if size is None:
        return normalizer.forward(slices), normalizer.to_dict()
    # Area averaging and the normaliser's linear map commute; resizing first is much cheaper, but
    # clipping (a CT window, percentiles) does not commute, so then normalise first.
    clips = float(slices.min()) < normalizer.low or float(slices.max()) > normalizer.high
    if clips:
        slices = normalizer.forward(slices)
    fill = 0.0 if clips else normalizer.low  # padding maps to 0 either way
    if square == "pad" and size[0] == size[1]:
        slices = pad_to_square(slices, value=fill)
    elif square == "crop" and size[0] == size[1]:
        slices = center_crop_to_square(slices)
    slices = resize(slices, size)
    # (bicubic enlarging can overshoot [0, 1]: forward clips; after an early forward clip again)
    out = np.clip(slices, 0.0, 1.0) if clips else normalizer.forward(slices)
    return out.astype(np.float32, copy=False), normalizer.to_dict()


def _cache_key(files: Sequence[Path], options: dict[str, Any]) -> str:
    stats = []
    for f in files:
        st = f.stat()
        stats.append((str(f.resolve()), st.st_size, st.st_mtime_ns))
    blob = json.dumps({"v": _CACHE_VERSION, "files": stats, "options": options}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def load_dataset(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    size: int | tuple[int, int] | None = None,
    recursive: bool = True,
    extensions: Iterable[str] = DEFAULT_EXTENSIONS,
    square: SquareMode = "stretch",
    normalization: NormalizationMethod | Literal["auto"] | IntensitySpec = DEFAULT_INTENSITY,
    cache: bool = True,
    progress: bool = True,
    workers: int | None = None,
    name: str | None = None,
    on_unreadable: Callable[[ImageReadError], None] | None = None,
) -> ImageDataset:
    """Load a folder (recursively), a file or a list of either as an :class:`ImageDataset`.

    Parameters
    ----------
    source
        Folder(s) and/or image file(s); stacks (multi-frame DICOM, NIfTI volumes, TIFF pages) give one
        image per slice.
    size
        Resize every image to ``size x size`` (or ``(H, W)``): area averaging when shrinking (Pillow
        ``BOX`` on float data), bicubic when enlarging. ``None`` keeps sizes, which must then agree.
    square
        With a square ``size``: ``"stretch"`` resizes as is (Gondara 2016), ``"pad"`` pads to square
        first, ``"crop"`` centre-crops to square first.
    normalization
        How each image maps to [0, 1]: an :class:`~meddenoise.data.IntensitySpec` (default
        :data:`~meddenoise.data.DEFAULT_INTENSITY`: 8/16-bit files by their stored range, CT by the HU range
        -1024..3071, other DICOM/NIfTI by min/max), or a :meth:`Normalizer.for_image` method name.
    cache
        Cache resized loads on disk (see :func:`cache_dir`); never for full-size loads over 512 MiB.
    progress
        Show a progress bar (on a terminal) while reading.
    workers
        Reader threads (default: number of CPUs, at most 8).
    name
        Dataset name stored in ``source`` (default: the folder's name).
    on_unreadable
        Called with the error of each file that cannot be read, which is then left out (such a load
        is not cached, so the next one reports the file again). ``None`` (strict): the first
        unreadable file raises.

    Raises
    ------
    FileNotFoundError
        No such folder/file, or no image files in it (or, with ``on_unreadable``, none readable).
    ImageReadError
        A file cannot be read (the message names it) and ``on_unreadable`` is ``None``.
    ValueError
        Images of different sizes and ``size=None``.
    """
    files = _resolve_files(source, recursive, tuple(extensions))
    hw: tuple[int, int] | None = None
    if isinstance(size, int | np.integer):
        hw = (int(size), int(size))
    elif size is not None:
        height, width = size
        hw = (int(height), int(width))
    if name is None:
        first = Path(source if isinstance(source, str | os.PathLike) else next(iter(source)))
        name = first.name if first.is_dir() else first.parent.name
    norm_key = normalization.to_dict() if isinstance(normalization, IntensitySpec) else normalization
    options = {"size": hw, "square": square, "normalization": norm_key}
    key = _cache_key(files, options) if cache else ""
    cache_file = cache_dir() / "images" / f"{key}.npz"
    if cache and cache_file.is_file():
        try:
            os.utime(cache_file)  # mark as recently used for pruning
            with np.load(cache_file, allow_pickle=False) as npz:
                return ImageDataset(
                    images=npz["images"],
                    paths=[Path(p) for p in npz["paths"]],
                    slice_index=npz["slice_index"],
                    source=np.full(len(npz["images"]), name),
                    normalizers=json.loads(str(npz["normalizers"])),
                )
        except (OSError, ValueError, KeyError):
            pass  # unreadable cache entry: load afresh and overwrite it

    def load(path: Path) -> tuple[np.ndarray, dict[str, Any]] | ImageReadError:
        try:
            return _load_one(path, hw, square, normalization)
        except ImageReadError as exc:
            if on_unreadable is None:
                raise
            return exc

    n_workers = workers or min(8, os.cpu_count() or 1)
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            jobs = pool.map(load, files)
            loaded = list(
                tqdm(
                    jobs,
                    total=len(files),
                    desc=f"loading {name}",
                    unit="img",
                    disable=not progress or None,
                    leave=False,
                )
            )
    unreadable = [r for r in loaded if isinstance(r, ImageReadError)]
    for error in unreadable:
        assert on_unreadable is not None  # load() raised otherwise
        on_unreadable(error)
    kept = [(f, r) for f, r in zip(files, loaded, strict=True) if not isinstance(r, ImageReadError)]
    if not kept:
        raise FileNotFoundError(f"none of the {len(files)} image file(s) could be read")
    files = [f for f, _ in kept]
    results = [r for _, r in kept]
    shapes = {r[0].shape[1:] for r in results}
    if len(shapes) > 1:
        examples: dict[tuple[int, ...], Path] = {}
        for f, (arr, _) in zip(files, results, strict=True):
            examples.setdefault(arr.shape[1:], f)
        listing = "; ".join(f"{p.name} is {s[0]}x{s[1]}" for s, p in list(examples.items())[:3])
        raise ValueError(f"images differ in size ({listing}); pass size= to resize them")
    images = np.concatenate([r[0] for r in results]).astype(np.float32, copy=False)
    paths = [f for f, (arr, _) in zip(files, results, strict=True) for _ in range(len(arr))]
    slice_index = np.concatenate([np.arange(len(r[0])) for r in results])
    normalizers = [norm for arr, norm in results for _ in range(len(arr))]
    dataset = ImageDataset(images, paths, slice_index, np.full(len(images), name), normalizers)
    if cache and not unreadable and images.nbytes <= _CACHE_MAX_BYTES:
        try:
            with atomic_path(cache_file) as tmp, open(tmp, "wb") as fh:
                np.savez(
                    fh,
                    images=images,
                    paths=np.asarray([str(p) for p in paths]),
                    slice_index=slice_index,
                    normalizers=np.asarray(json.dumps(normalizers)),
                )
            _prune_cache(cache_file.parent, keep=cache_file)
        except OSError as exc:  # a read-only home must not break loading
            warnings.warn(f"could not write the image cache {cache_file}: {exc}", stacklevel=2)
    return dataset


def load_images(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    size: int | tuple[int, int] | None = None,
    recursive: bool = True,
    extensions: Iterable[str] = DEFAULT_EXTENSIONS,
    **options: Any,
) -> np.ndarray:
    """Images of a folder / file / list of them as ``(N, H, W)`` float32 in [0, 1].

    Shorthand for ``load_dataset(...).images``; see :func:`load_dataset` for ``size`` (area-averaged
    shrinking), normalisation (8/16-bit by dtype range), square handling and caching.
    """
    return load_dataset(source, size=size, recursive=recursive, extensions=extensions, **options).images


def combine_datasets(*datasets: ImageDataset, names: Sequence[str] | None = None) -> ImageDataset:
    """Concatenate datasets of equal image size (e.g. mammograms + dental X-rays, as Gondara 2016 does).

    ``names`` relabels each part's ``source``; :attr:`ImageDataset.source` tells the parts apart.
    """
    if not datasets:
        raise ValueError("combine_datasets needs at least one dataset")
    shapes = {d.images.shape[1:] for d in datasets}
    if len(shapes) > 1:
        raise ValueError(f"datasets differ in image size {sorted(shapes)}; load them with the same size=")
    if names is not None and len(names) != len(datasets):
        raise ValueError(f"{len(names)} names for {len(datasets)} datasets")
    sources = [np.full(len(d), names[i]) if names is not None else d.source for i, d in enumerate(datasets)]
    return ImageDataset(
        images=np.concatenate([d.images for d in datasets]),
        paths=[p for d in datasets for p in d.paths],
        slice_index=np.concatenate([d.slice_index for d in datasets]),
        source=np.concatenate(sources),
        normalizers=[n for d in datasets for n in (d.normalizers or [{}] * len(d))],
    )
