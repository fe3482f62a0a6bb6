"""Built-in samples every installation has without a download.

* DICOM sample files shipped inside the ``pydicom`` and ``pydicom-data`` wheels: CT, MR, CR, US, NM
  (found on disk, never over the network; see :mod:`meddenoise.io.testdata`).
* The MNI152 T1 brain template (ICBM 2009a, 197x233x189, 1 mm) shipped inside the ``nilearn`` wheel
  (optional extra ``mri``), located without importing nilearn.
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from meddenoise.data.datasets import ImageDataset
from meddenoise.data.intensity import DEFAULT_INTENSITY, intensity_for_image
from meddenoise.data.transforms import pad_to_square, resize
from meddenoise.io import ImageReadError, MedicalImage, read_image
from meddenoise.io.dicom import quiet_warnings
from meddenoise.io.testdata import pydicom_sample_files

__all__ = ["SAMPLE_DICOMS", "Sample", "load_samples", "mni152_path", "samples_dataset"]

#: Distinct greyscale-usable images among the shipped sample DICOMs (other files repeat these in other
#: encodings, are not images, or are broken on purpose): file name → description.
SAMPLE_DICOMS: dict[str, str] = {
    "CT_small.dcm": "CT, 128x128, 16-bit signed, rescaled to HU",
    "693_UNCR.dcm": "CT, 512x512 abdomen",
    "explicit_VR-UN.dcm": "CT, 512x512",
    "eCT_Supplemental.dcm": "enhanced CT, 2 frames 512x512",
    "MR_small.dcm": "MR, 64x64",
    "emri_small.dcm": "enhanced MR, 10 frames 64x64",
    "MR2_UNCR.dcm": "MR, 1024x1024, 12-bit",
    "MR-SIEMENS-DICOM-WithOverlays.dcm": "MR, 484x484 knee, 12-bit",
    "RG1_UNCR.dcm": "CR (MONOCHROME1), 1955x1841, 15-bit",
    "RG3_UNCR.dcm": "CR (MONOCHROME1), 1760x1760, 10-bit",
    "JPEG2000_UNC.dcm": "NM, 1024x256",
    "US1_UNCR.dcm": "US, 480x640 (RGB, converted to grey)",
    "OBXXXX1A.dcm": "US, 600x800 obstetric (palette colour, converted to grey)",
    "gdcm-US-ALOKA-16.dcm": "US, 480x640 (16-bit palette colour, converted to grey)",
}
MNI152_FILE = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
MRI_EXTRA_HINT = "pip install 'meddenoise[mri]' (nilearn) for the MNI152 brain MRI samples"


@dataclass(frozen=True)
class Sample:
    """One built-in sample: ``name``, ``modality`` (DICOM code), the read ``image`` and a ``description``."""

    name: str
    modality: str
    image: MedicalImage
    description: str


def mni152_path() -> Path | None:
    """Path of the MNI152 T1 template inside the installed nilearn package, or ``None`` without nilearn.

    Uses :func:`importlib.util.find_spec` (no import: importing nilearn takes seconds).
    """
    try:
        spec = importlib.util.find_spec("nilearn")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / "datasets" / "data" / MNI152_FILE
        if path.is_file():
            return path
    return None


def load_samples(*, include_mri: bool = True, modalities: tuple[str, ...] | None = None) -> list[Sample]:
    """The built-in samples, in original units.

    Parameters
    ----------
    include_mri
        Add the MNI152 T1 template (one :class:`Sample` holding the volume as a stack of 189 axial
        slices, 197x233). Without nilearn it is skipped with a :class:`UserWarning` naming the extra.
    modalities
        Keep only these modalities (e.g. ``("CT", "MR")``).

    Returns
    -------
    list of Sample
        DICOM samples first (those of :data:`SAMPLE_DICOMS` that are installed and decodable), then MNI152.
    """
    by_name = {p.name: p for p in pydicom_sample_files()}
    samples: list[Sample] = []
    for name, description in SAMPLE_DICOMS.items():
        path = by_name.get(name)
        if path is None:
            continue
        try:
            with quiet_warnings():  # colour → grey is intended for these samples
                image = read_image(path)
        except ImageReadError:
            continue  # e.g. a codec missing on this machine
        samples.append(Sample(Path(name).stem, image.meta.modality, image, description))
    if include_mri:
        path = mni152_path()
        if path is None:
            warnings.warn(
                f"nilearn is not installed: no MNI152 samples; {MRI_EXTRA_HINT}", UserWarning, stacklevel=2
            )
        else:
            image = read_image(path, slice_axis=2)
            image = MedicalImage(image.pixels, image.meta.replace(modality="MR"))
            samples.append(
                Sample("mni152-t1", "MR", image, "MNI152 T1 brain template (ICBM 2009a), axial slices")
            )
    if modalities is not None:
        wanted = {m.upper() for m in modalities}
        samples = [s for s in samples if s.modality.upper() in wanted]
    return samples


def samples_dataset(
    *, size: int = 64, include_mri: bool = True, min_foreground: float = 0.15, mri_step: int = 1
) -> ImageDataset:
    """The samples as an :class:`ImageDataset` of ``size x size`` [0, 1] images (padded to square, area-resized).

    Each frame of a multi-frame DICOM and each MNI152 axial slice (every ``mri_step``-th, rotated upright,
    kept when at least ``min_foreground`` of it is brain) is one image. ``source`` is the sample name
    and ``slice_index`` the frame/slice number, so ``slab_groups`` can keep neighbouring MRI slices in
    one split part. Normalisation: :data:`~meddenoise.data.DEFAULT_INTENSITY` (CT by HU -1024..3071, others by min/max).
    """
    images, paths, slice_index, source, normalizers = [], [], [], [], []
    for sample in load_samples(include_mri=include_mri):
        normalizer = intensity_for_image(sample.image, DEFAULT_INTENSITY)
        is_mri_volume = sample.name == "mni152-t1"
        for k, pixels in enumerate(sample.image.slices()):
            if is_mri_volume:
                if k % mri_step or np.mean(pixels > 0.1 * normalizer.high) < min_foreground:
                    continue
                pixels = np.rot90(pixels)  # (x, y) voxel order → anterior up
            y = normalizer.forward(pixels)
            images.append(np.clip(resize(pad_to_square(y), size), 0.0, 1.0))
            paths.append(Path(sample.image.meta.source or sample.name))
            slice_index.append(k)
            source.append(sample.name)
            normalizers.append(normalizer.to_dict())
    return ImageDataset(
        images=np.stack(images).astype(np.float32),
        paths=paths,
        slice_index=np.asarray(slice_index),
        source=np.asarray(source),
        normalizers=normalizers,
    )
