"""A local web viewer comparing original and denoised series (an application, beside ``demo``).

``meddenoise view ORIGINAL DENOISED`` (or :func:`serve_pairs`) pairs the files of an original tree with the
copies ``meddenoise denoise`` wrote, and serves a page on 127.0.0.1 that shows them side by side (synchronised
slices, zoom and pan, swipe and difference views, window/level in the image's units, a ROI tool, the noise
level per slice, PSNR/SSIM against a clean reference). Everything the page needs is served from this package;
slices travel as raw 16-bit or float32 samples and are windowed in the browser.
"""

from meddenoise.viewer.measure import CT_PRESETS, encode_slice, noise_level
from meddenoise.viewer.series import Pair, PairingError, Series, pair_trees
from meddenoise.viewer.server import ViewerApp, make_server, running_server, serve, serve_pairs

__all__ = [
    "CT_PRESETS",
    "Pair",
    "PairingError",
    "Series",
    "ViewerApp",
    "encode_slice",
    "make_server",
    "noise_level",
    "pair_trees",
    "running_server",
    "serve",
    "serve_pairs",
]
