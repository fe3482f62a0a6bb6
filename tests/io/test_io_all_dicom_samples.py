"""Every sample DICOM that pydicom and pydicom-data ship either reads or fails with a clear ImageReadError.

The oracle is pydicom itself: a file of an image storage SOP class (by pydicom's UID dictionary) whose
pixel data pydicom decodes must read; one it cannot decode (missing codec, truncated, no pixel data: RT
plans, SR, ECG...) or of another SOP class (segmentations, RT dose) must raise a one-line ImageReadError.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from io_helpers import SLOW_TO_DECODE

from meddenoise.io import ImageReadError, read_image
from meddenoise.io.testdata import pydicom_sample_files

_FILES = pydicom_sample_files()


def _pydicom_decodes_an_image(path: Path) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(path, force=True)
            return ds.SOPClassUID.name.endswith(" Image Storage") and ds.pixel_array.size > 0
        except Exception:
            return False


def test_samples_are_found_without_network() -> None:
    names = {p.name for p in _FILES}
    assert len(_FILES) > 100
    assert {"CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "US1_UNCR.dcm", "RG1_UNCR.dcm"} <= names


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, id=p.name, marks=[pytest.mark.slow] if p.name in SLOW_TO_DECODE else [])
        for p in _FILES
    ],
)
def test_sample_dicom_reads_or_fails_clearly(path: Path) -> None:
    expected_ok = _pydicom_decodes_an_image(path)
    try:
        img = read_image(path)
    except ImageReadError as exc:
        message = str(exc)
        assert message.startswith(f"{path}: ") and len(message) > len(str(path)) + 10
        assert "\n" not in message
        assert not expected_ok, f"pydicom decodes {path.name} but read_image refused: {message}"
        return
    assert expected_ok, f"{path.name}: read although pydicom cannot decode it"
    assert img.pixels.dtype == np.float32 and img.pixels.ndim in (2, 3)
    assert np.isfinite(img.pixels).all()
    assert img.meta.format == "dicom" and img.meta.source == path
    lo, hi = img.meta.value_range
    assert lo < hi


def test_known_broken_files_fail() -> None:
    by_name = {p.name: p for p in _FILES}
    for name, reason in {
        "MR_truncated.dcm": "truncated",
        "rtplan.dcm": "no pixel data",
        "test-SR.dcm": "no pixel data",
        "waveform_ecg.dcm": "no pixel data",
        "no_meta.dcm": "not a DICOM file",
        "JPEG-LL.dcm": "no installed codec",
        "liver.dcm": r"Segmentation Storage \(1.2.840.10008.5.1.4.1.1.66.4\) is not an image storage SOP class",
        "rtdose_1frame.dcm": "RT Dose Storage .* is not an image storage SOP class",
    }.items():
        with pytest.raises(ImageReadError, match=reason):
            read_image(by_name[name])
