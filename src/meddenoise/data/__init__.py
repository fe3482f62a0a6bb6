"""Datasets, splits, transforms and invertible intensity normalisation.

``load_images(folder, size=64)`` → ``(N, H, W)`` float32 in [0, 1]; ``train_val_test_split`` (optionally by
patient/volume group); :class:`Normalizer` maps original units (HU, counts) to [0, 1] and back,
fitted by THE intensity policy (:mod:`meddenoise.data.intensity`, :class:`IntensitySpec`);
``load_samples()`` gives the built-in DICOM/MRI samples every installation has.
"""

from meddenoise.data.datasets import (
    DEFAULT_EXTENSIONS,
    ImageDataset,
    cache_dir,
    combine_datasets,
    list_images,
    load_dataset,
    load_images,
)
from meddenoise.data.idx import read_idx_images
from meddenoise.data.intensity import (
    CLASSICAL_INTENSITY,
    DEFAULT_INTENSITY,
    INTENSITY_METHODS,
    IntensitySpec,
    fit_intensity,
    floor_noise_margin,
    from_unit,
    intensity_for_image,
    noise_margins,
    to_unit,
)
from meddenoise.data.normalize import CT_DEFAULT_RANGE, CT_WINDOWS, Normalizer
from meddenoise.data.samples import SAMPLE_DICOMS, Sample, load_samples, mni152_path, samples_dataset
from meddenoise.data.splits import Split, dicom_groups, groups_from_paths, slab_groups, train_val_test_split
from meddenoise.data.transforms import (
    augment,
    center_crop_to_square,
    flip_rot90,
    pad_to_square,
    random_patches,
    resize,
    to_grey,
)

__all__ = [
    "CLASSICAL_INTENSITY",
    "CT_DEFAULT_RANGE",
    "CT_WINDOWS",
    "DEFAULT_EXTENSIONS",
    "DEFAULT_INTENSITY",
    "INTENSITY_METHODS",
    "SAMPLE_DICOMS",
    "ImageDataset",
    "IntensitySpec",
    "Normalizer",
    "Sample",
    "Split",
    "augment",
    "cache_dir",
    "center_crop_to_square",
    "combine_datasets",
    "dicom_groups",
    "fit_intensity",
    "flip_rot90",
    "floor_noise_margin",
    "from_unit",
    "groups_from_paths",
    "intensity_for_image",
    "list_images",
    "load_dataset",
    "load_images",
    "load_samples",
    "mni152_path",
    "noise_margins",
    "pad_to_square",
    "random_patches",
    "read_idx_images",
    "resize",
    "samples_dataset",
    "slab_groups",
    "to_grey",
    "to_unit",
    "train_val_test_split",
]
