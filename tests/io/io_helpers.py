"""Helpers shared by the io tests (imported by module name: pytest puts this folder on ``sys.path``)."""

from __future__ import annotations

#: Sample DICOMs whose decoding takes seconds each (120 JPEG frames; a 1955x1841 JPEG 2000): the tests
#: that go through every sample run these with the slow tests.
SLOW_TO_DECODE = frozenset(
    {
        "color3d_jpeg_baseline.dcm",
        "RG1_J2KR.dcm",
        "RG1_J2KI.dcm",
        "RG3_J2KR.dcm",
        "MR2_J2KR.dcm",
        "examples_ybr_color.dcm",
    }
)
