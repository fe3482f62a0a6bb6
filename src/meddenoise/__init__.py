"""meddenoise: denoising medical images with convolutional denoising autoencoders and their descendants."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("meddenoise")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "denoise"]


def __getattr__(name: str) -> object:
    # `meddenoise.denoise` is imported on first use so that `import meddenoise` does not pull in torch.
    if name == "denoise":
        from meddenoise.api import denoise

        return denoise
    raise AttributeError(f"module 'meddenoise' has no attribute {name!r}")
