"""Dataset curation: known duplicate files and patient identities of the research data folders.

Every reproduction (and any other user of ``../shared/data``) reads the same curated file lists from
here, so that a duplicate dropped in one study is dropped in all and no image straddles train and test.

>>> nih_patient_id("train_Effusion_00012345_001.png")
'00012345'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["KNOWN_DUPLICATES", "CuratedFiles", "curated_pngs", "nih_patient_id"]

#: Later copies of duplicated images, per data folder (the first copy is kept).
#: dental-ceph (data README): 014=087, 057=134, 075=129, 109=144.
KNOWN_DUPLICATES: dict[str, tuple[str, ...]] = {
    "dental-ceph": ("087.png", "129.png", "134.png", "144.png"),
}

_NIH_PATIENT = re.compile(r"_(\d{8})_\d{3}\.png$")


@dataclass(frozen=True)
class CuratedFiles:
    """The distinct files of a folder (sorted, limited) and the known duplicates dropped from it."""

    files: tuple[Path, ...]
    dropped: tuple[str, ...]


def curated_pngs(folder: Path, *, limit: int | None = None) -> CuratedFiles:
    """The ``.png`` files of ``folder`` without its known duplicates, sorted, the first ``limit`` of them.

    Raises
    ------
    FileNotFoundError
        ``<folder>: data folder not found`` or ``<folder>: holds no .png images``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: data folder not found (expected it under --data-dir)")
    drop = KNOWN_DUPLICATES.get(folder.name, ())
    every = sorted(folder.glob("*.png"))
    files = [p for p in every if p.name not in drop]
    if not files:
        raise FileNotFoundError(f"{folder}: holds no .png images")
    return CuratedFiles(
        files=tuple(files[:limit] if limit else files),
        dropped=tuple(p.name for p in every if p.name in drop),
    )


def nih_patient_id(name: str) -> str:
    """The NIH ChestX-ray14 patient of a ``chest-xray-64`` file (``<split>_<label>_<patient>_<index>.png``)."""
    match = _NIH_PATIENT.search(name)
    if match is None:
        raise ValueError(f"{name}: not a chest-xray-64 file name (<split>_<label>_<patient>_<index>.png)")
    return match.group(1)
