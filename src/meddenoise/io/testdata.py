"""The sample DICOM files of pydicom and pydicom-data, found on disk without any network access.

``pydicom.data.get_testdata_files`` also tries to download the files pydicom-data lists but does not
ship (about 10 s offline, with a warning); ``get_testdata_file`` with a name that is not shipped waits
~20 s for the network. These helpers search the same two local stores only.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["pydicom_sample", "pydicom_sample_files"]


def pydicom_sample_files(pattern: str = "**/*.dcm") -> list[Path]:
    """Local sample files of pydicom (``pydicom/data/test_files``) and pydicom-data matching ``pattern``.

    Sorted by file name; empty when neither package is installed.
    """
    try:
        from pydicom.data import data_manager
    except ImportError:  # pragma: no cover - pydicom is a core dependency
        return []
    files = list(Path(data_manager.DATA_ROOT, "test_files").glob(pattern))
    for source in data_manager.external_data_sources().values():
        files.extend(Path(p) for p in source.get_paths(pattern, data_manager.DataTypes.DATASET))
    unique = {p.resolve(): p for p in files}
    return sorted(unique.values(), key=lambda p: (p.name, str(p)))


def pydicom_sample(name: str) -> Path:
    """Path of one shipped sample file by name; :class:`FileNotFoundError` (no network) if not shipped."""
    matches = [p for p in pydicom_sample_files(f"**/{name}") if p.name == name]
    if not matches:
        raise FileNotFoundError(
            f"{name}: not among the sample DICOM files shipped with pydicom / pydicom-data"
        )
    return matches[0]
