"""The optional dependencies, declared in one place: which import provides a feature, and how to install it.

Like pydicom's handler registry: code that needs an optional back end asks :func:`is_available` (no
import is attempted twice) or :func:`require`, which raises :class:`MissingOptionalDependency` with one
line such as ``bm3d needs the optional package 'bm3d' (pip install 'meddenoise[bm3d]')``.

Examples
--------
>>> OPTIONAL_DEPENDENCIES["bm3d"].install_hint
"pip install 'meddenoise[bm3d]'"
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from functools import cache

__all__ = [
    "OPTIONAL_DEPENDENCIES",
    "MissingOptionalDependency",
    "OptionalDependency",
    "feature_for_method",
    "is_available",
    "missing_message",
    "require",
]


class MissingOptionalDependency(ImportError):
    """An optional package a feature needs is not installed; the message says how to install it."""


@dataclass(frozen=True)
class OptionalDependency:
    """One optional feature: the modules it imports, the PyPI package(s), the ``meddenoise`` extra and the
    denoising methods it provides (checked by :func:`meddenoise.methods.build_denoiser`)."""

    feature: str
    modules: tuple[str, ...]
    packages: tuple[str, ...]
    extra: str
    note: str = ""
    methods: tuple[str, ...] = ()

    @property
    def install_hint(self) -> str:
        return f"pip install 'meddenoise[{self.extra}]'"


#: Every optional back end of the package (the extras in pyproject.toml).
OPTIONAL_DEPENDENCIES: dict[str, OptionalDependency] = {
    dep.feature: dep
    for dep in (
        OptionalDependency(
            "bm3d", ("bm3d",), ("bm3d",), "bm3d", "closed binary, non-commercial licence", methods=("bm3d",)
        ),
        OptionalDependency(
            "codecs",
            ("pylibjpeg", "openjpeg"),
            ("pylibjpeg", "pylibjpeg-openjpeg"),
            "codecs",
            "JPEG lossless, JPEG-LS and JPEG 2000 compressed DICOM",
        ),
        OptionalDependency("mri", ("nilearn",), ("nilearn",), "mri", "the MNI152 brain MRI samples"),
        # One extra, two features: writing ONNX files needs onnx, running them needs onnxruntime.
        OptionalDependency("onnx", ("onnx",), ("onnx",), "onnx", "ONNX export (meddenoise export)"),
        OptionalDependency(
            "onnxruntime", ("onnxruntime",), ("onnxruntime",), "onnx", "the onnx back end (--backend onnx)"
        ),
        OptionalDependency(
            "dask", ("dask", "distributed"), ("dask", "distributed"), "dask", "batches on a Dask cluster"
        ),
    )
}


def _dependency(feature: str) -> OptionalDependency:
    try:
        return OPTIONAL_DEPENDENCIES[feature]
    except KeyError:
        raise ValueError(
            f"unknown optional feature {feature!r}; known: {', '.join(OPTIONAL_DEPENDENCIES)}"
        ) from None


@cache
def is_available(feature: str) -> bool:
    """Whether every module ``feature`` needs can be found (located, not imported: fast)."""
    for module in _dependency(feature).modules:
        try:
            if importlib.util.find_spec(module) is None:
                return False
        except (ImportError, ValueError):
            return False
    return True


def missing_message(feature: str, *, what: str | None = None) -> str:
    """``"<what> needs the optional package 'x' (pip install 'meddenoise[extra]')"``."""
    dep = _dependency(feature)
    packages = " and ".join(f"'{p}'" for p in dep.packages)
    noun = "package" if len(dep.packages) == 1 else "packages"
    note = f"; {dep.note}" if dep.note else ""
    return f"{what or feature} needs the optional {noun} {packages} ({dep.install_hint}{note})"


def require(feature: str, *, what: str | None = None) -> None:
    """Raise :class:`MissingOptionalDependency` unless ``feature`` is available."""
    if not is_available(feature):
        raise MissingOptionalDependency(missing_message(feature, what=what))


def feature_for_method(method: str) -> str | None:
    """The optional feature that provides the denoising method ``method`` (e.g. ``"bm3d"``), if any."""
    for dep in OPTIONAL_DEPENDENCIES.values():
        if method in dep.methods:
            return dep.feature
    return None
