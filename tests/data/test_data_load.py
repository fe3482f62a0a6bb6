"""list_images / load_images / combine_datasets on small generated folders and on the research data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from meddenoise.data import combine_datasets, list_images, load_dataset, load_images


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDDENOISE_CACHE", str(tmp_path / "cache"))


def _write_pngs(
    folder: Path, rng: np.random.Generator, n: int, shape=(32, 32), dtype=np.uint8
) -> list[np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = []
    for i in range(n):
        hi = 256 if dtype == np.uint8 else 65536
        a = rng.integers(0, hi, size=shape, dtype=dtype)
        Image.fromarray(a).save(folder / f"img{i:02d}.png")
        arrays.append(a)
    return arrays


def test_list_images_recursive_and_filters(tmp_path: Path, rng: np.random.Generator) -> None:
    _write_pngs(tmp_path / "a", rng, 2)
    _write_pngs(tmp_path / "a" / "sub", rng, 1)
    (tmp_path / "a" / "notes.txt").write_text("x")
    (tmp_path / "a" / ".hidden").mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "a" / ".hidden" / "h.png")
    assert [p.name for p in list_images(tmp_path / "a")] == ["img00.png", "img01.png", "img00.png"]
    assert len(list_images(tmp_path / "a", recursive=False)) == 2
    assert list_images(tmp_path / "a", extensions=[".jpg"]) == []
    with pytest.raises(FileNotFoundError):
        list_images(tmp_path / "missing")


def test_load_images_scales_by_dtype_range(tmp_path: Path, rng: np.random.Generator) -> None:
    a8 = _write_pngs(tmp_path / "u8", rng, 3)
    a16 = _write_pngs(tmp_path / "u16", rng, 2, dtype=np.uint16)
    x8 = load_images(tmp_path / "u8", progress=False)
    x16 = load_images(tmp_path / "u16", progress=False)
    assert x8.shape == (3, 32, 32) and x8.dtype == np.float32
    np.testing.assert_allclose(x8, np.stack(a8) / 255.0, rtol=0, atol=1e-7)
    np.testing.assert_allclose(x16, np.stack(a16) / 65535.0, rtol=0, atol=1e-7)


def test_load_images_resize_matches_pil_box(tmp_path: Path, rng: np.random.Generator) -> None:
    arrays = _write_pngs(tmp_path / "d", rng, 2, shape=(48, 36))
    x = load_images(tmp_path / "d", size=16, progress=False)
    ref = [
        np.asarray(Image.fromarray(a).convert("F").resize((16, 16), Image.Resampling.BOX)) / 255
        for a in arrays
    ]
    np.testing.assert_allclose(x, np.stack(ref), atol=1e-6)
    assert x.min() >= 0.0 and x.max() <= 1.0


def test_load_images_different_sizes_need_size(tmp_path: Path, rng: np.random.Generator) -> None:
    _write_pngs(tmp_path / "m", rng, 1, shape=(10, 12))
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "m" / "z.png")
    with pytest.raises(ValueError, match=r"differ in size.*size="):
        load_images(tmp_path / "m", progress=False)
    assert load_images(tmp_path / "m", size=8, progress=False).shape == (2, 8, 8)


def test_cache_hit_and_invalidation(tmp_path: Path, rng: np.random.Generator) -> None:
    _write_pngs(tmp_path / "c", rng, 2)
    first = load_images(tmp_path / "c", size=8, progress=False)
    assert list((tmp_path / "cache" / "images").glob("*.npz"))
    np.testing.assert_array_equal(load_images(tmp_path / "c", size=8, progress=False), first)
    Image.fromarray(np.full((32, 32), 255, np.uint8)).save(tmp_path / "c" / "img00.png")
    changed = load_images(tmp_path / "c", size=8, progress=False)
    np.testing.assert_array_equal(changed[0], 1.0)


def test_pad_square_mode(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    Image.fromarray(np.full((10, 20), 255, np.uint8)).save(tmp_path / "p" / "wide.png")
    x = load_images(tmp_path / "p", size=20, square="pad", progress=False, cache=False)
    assert x.shape == (1, 20, 20)
    assert x[0, 0, 0] == 0.0 and x[0, 10, 10] == 1.0


def test_combine_datasets_labels_sources(tmp_path: Path, rng: np.random.Generator) -> None:
    _write_pngs(tmp_path / "mammo", rng, 3)
    _write_pngs(tmp_path / "dental", rng, 2, shape=(40, 30))
    a = load_dataset(tmp_path / "mammo", size=16, progress=False)
    b = load_dataset(tmp_path / "dental", size=16, progress=False)
    both = combine_datasets(a, b)
    assert both.images.shape == (5, 16, 16)
    assert list(both.source) == ["mammo"] * 3 + ["dental"] * 2
    assert both.subset([3]).paths[0].parent.name == "dental"


@pytest.mark.data
def test_load_images_mini_mias(shared_data: Path) -> None:
    x = load_images(shared_data / "mini-mias", size=64, progress=False)
    assert x.shape == (322, 64, 64) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    ref = np.asarray(
        Image.open(shared_data / "mini-mias" / "mdb001.png")
        .convert("F")
        .resize((64, 64), Image.Resampling.BOX)
    )
    np.testing.assert_allclose(x[0], ref / 255.0, atol=1e-6)


@pytest.mark.data
def test_load_chest_ct_dicom_by_hu_range(shared_data: Path) -> None:
    ds = load_dataset(shared_data / "chest-ct-dicom", size=64, progress=False)
    assert ds.images.shape == (45, 64, 64)
    assert ds.normalizers[0]["low"] == -1024.0 and ds.normalizers[0]["units"] == "HU"
    assert ds.images.min() >= 0.0 and ds.images.max() <= 1.0


def test_mixed_folder_dicom_nifti_png(tmp_path: Path) -> None:
    import nibabel as nib

    from meddenoise.io.testdata import pydicom_sample

    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "mr.dcm").write_bytes(pydicom_sample("emri_small.dcm").read_bytes())  # 10 frames
    nib.save(
        nib.Nifti1Image(np.arange(4 * 4 * 3, dtype=np.float32).reshape(4, 4, 3), np.eye(4)),
        folder / "v.nii.gz",
    )
    Image.fromarray(np.full((8, 8), 128, np.uint8)).save(folder / "p.png")
    ds = load_dataset(folder, size=16, progress=False)
    assert ds.images.shape == (10 + 3 + 1, 16, 16)
    assert [p.name for p in ds.paths].count("mr.dcm") == 10
    assert ds.slice_index.tolist()[:10] == list(range(10))
    assert ds.images.min() >= 0.0 and ds.images.max() <= 1.0


def test_cache_is_pruned_oldest_first(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_pngs(tmp_path / "a", rng, 2, shape=(64, 64))
    load_images(tmp_path / "a", size=32, progress=False)
    first = list((tmp_path / "cache" / "images").glob("*.npz"))
    assert len(first) == 1
    monkeypatch.setenv("MEDDENOISE_CACHE_MAX_MB", str(first[0].stat().st_size * 1.1 / 2**20))
    load_images(tmp_path / "a", size=16, progress=False)  # a second entry: over budget, the older goes
    left = list((tmp_path / "cache" / "images").glob("*.npz"))
    assert len(left) == 1 and left[0] != first[0]
