"""dciodvfy (dicom3tools) on the derived DICOM written for every pydicom sample of an accepted SOP class.

The oracle is David Clunie's validator: a derived file must not carry an error its source did not
already have (a sample's own defects, e.g. a missing Type 2 attribute, are kept as they are). Error
lines are compared without the element they were found in, so that a source's invalid UID copied into
Source Image Sequence counts as the source's error. dciodvfy cannot read deflated files: such a source
is validated after pydicom re-encodes it as Explicit VR Little Endian, values unchanged.

Skipped, with the reason, when dciodvfy is not installed (Debian package ``dicom3tools``, which
``.ci/run`` installs).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from io_helpers import SLOW_TO_DECODE
from scipy.ndimage import uniform_filter

from meddenoise.io import ImageReadError, read_image, write_image
from meddenoise.io.dicom import IMAGE_STORAGE_SOP_CLASSES
from meddenoise.io.testdata import pydicom_sample_files

DCIODVFY = shutil.which("dciodvfy")
pytestmark = pytest.mark.skipif(
    DCIODVFY is None,
    reason="dciodvfy not installed: apt-get install dicom3tools (.ci/run does) to validate written DICOM",
)

# One of each kind the writer treats differently: every derivation is validated on these.
_REPRESENTATIVE = {
    "CT_small.dcm",  # CT, signed, rescaled
    "eCT_Supplemental.dcm",  # Enhanced CT with functional groups
    "emri_small.dcm",  # Enhanced MR (pulse-sequence attributes)
    "OBXXXX1A.dcm",  # 8-bit palette-colour ultrasound
    "gdcm-US-ALOKA-16.dcm",  # 16-bit palette-colour ultrasound
    "US1_UNCR.dcm",  # RGB ultrasound
    "RG3_UNCI.dcm",  # MONOCHROME1 CR
}
_DEFLATED = "1.2.840.10008.1.2.1.99"


def _accepted_samples() -> list[Path]:
    """Samples whose SOP class the reader accepts (by header; whether a codec decodes them is seen later)."""
    accepted = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in pydicom_sample_files():
            try:
                ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
            except Exception:
                continue
            if str(ds.get("SOPClassUID", "")) in IMAGE_STORAGE_SOP_CLASSES:
                accepted.append(path)
    return accepted


_ACCEPTED = _accepted_samples()


def _errors(path: Path, scratch: Path) -> set[str]:
    """dciodvfy's error lines for ``path``, without the element each was found in."""
    ds = pydicom.dcmread(path, force=True)
    if str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "")) == _DEFLATED:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
        path = scratch / f"inflated_{path.name}"
        ds.save_as(path, enforce_file_format=True)
    assert DCIODVFY is not None
    result = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, timeout=60, check=False)
    lines = (result.stdout + result.stderr).splitlines()
    return {
        " ".join(re.sub(r" in \(0x[0-9a-f]{4},0x[0-9a-f]{4}\).*", "", line).split())
        for line in lines
        if line.startswith("Error")
    }


def _new_errors(source: Path, tmp_path: Path, derivation: str) -> set[str]:
    try:
        image = read_image(source)
    except ImageReadError as exc:  # an accepted class this installation cannot decode (missing codec)
        pytest.skip(f"{source.name} does not read here: {exc.reason[:100]}")
    pixels = image.pixels
    if min(pixels.shape[-2:]) >= 3:  # a denoiser's output: a 3x3 mean, off the stored integer grid
        pixels = uniform_filter(pixels, size=(1, 3, 3) if pixels.ndim == 3 else 3)
    out = write_image(
        tmp_path / f"{derivation}.dcm", pixels, like=image, description="test", derivation=derivation
    )
    assert np.isfinite(read_image(out).pixels).all()
    return _errors(out, tmp_path) - _errors(source, tmp_path)


def test_samples_of_each_kind_are_validated() -> None:
    names = {p.name for p in _ACCEPTED}
    assert names >= _REPRESENTATIVE
    assert len(_ACCEPTED) > 80


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(
    "source",
    [
        pytest.param(p, id=p.name, marks=[pytest.mark.slow] if p.name in SLOW_TO_DECODE else [])
        for p in _ACCEPTED
    ],
)
def test_denoised_dicom_adds_no_validator_error(source: Path, tmp_path: Path) -> None:
    assert _new_errors(source, tmp_path, "smoothing") == set()


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("derivation", ["noise", "conversion"])
@pytest.mark.parametrize("name", sorted(_REPRESENTATIVE))
def test_noisy_and_converted_dicom_add_no_validator_error(name: str, derivation: str, tmp_path: Path) -> None:
    source = next(p for p in _ACCEPTED if p.name == name)
    assert _new_errors(source, tmp_path, derivation) == set()
