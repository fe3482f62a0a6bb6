"""The viewer's pairing and HTTP server, without a browser: what each route answers, byte for byte."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from viewer_data import N_SLICES, make_dicom_pair, make_nifti_pair, make_png_pair

from meddenoise.io import find_images, read_image
from meddenoise.metrics import psnr, ssim
from meddenoise.noise import estimate_ct_noise
from meddenoise.viewer import PairingError, ViewerApp, encode_slice, pair_trees, running_server


def get(url: str, path: str, *, host: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """A raw GET (the path is sent as given: no client-side normalisation of ``..``)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host} if host else {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.fixture
def dicom_trees(tmp_path: Path) -> tuple[Path, Path, Path]:
    return make_dicom_pair(tmp_path)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One viewer on a DICOM pair for the whole module (read-only requests)."""
    orig, out, _ = make_dicom_pair(tmp_path_factory.mktemp("served"))
    pairs, _ = pair_trees(orig, [out])
    with running_server(ViewerApp(pairs)) as url:
        yield url


def test_pairs_a_dicom_series_slice_by_slice_with_its_denoised_copy(
    dicom_trees: tuple[Path, Path, Path],
) -> None:
    orig, out, clean = dicom_trees
    pairs, notes = pair_trees(orig, [out], reference=clean)
    assert notes == []
    assert [p.name for p in pairs] == ["series"]
    pair = pairs[0]
    assert [p.relative_to(orig) for p in pair.sides[0].paths] == [
        p.relative_to(orig) for p in find_images(orig)
    ]
    assert [p.relative_to(out) for p in pair.sides[1].paths] == [
        p.relative_to(orig) for p in pair.sides[0].paths
    ]
    assert pair.reference is not None and pair.reference.n_slices == N_SLICES


def test_pairs_nifti_volumes_and_png_folders(tmp_path: Path) -> None:
    orig, out = make_nifti_pair(tmp_path / "nii")
    (pair,), _ = pair_trees(orig, [out])
    assert pair.sides[0].stacked and pair.sides[0].n_slices == 4
    np.testing.assert_array_equal(pair.sides[1].slice(2), read_image(out / "vol.nii.gz").pixels[2])
    orig, out = make_png_pair(tmp_path / "png")
    (pair,), _ = pair_trees(orig, [out])
    assert pair.name == "xr" and pair.sides[0].n_slices == 3
    np.testing.assert_array_equal(pair.sides[1].slice(1), read_image(out / "xr" / "img1.png").pixels)


def test_a_series_without_denoised_copy_is_left_out_with_a_note(dicom_trees: tuple[Path, Path, Path]) -> None:
    orig, out, _ = dicom_trees
    (out / "series" / "slice03.dcm").unlink()
    with pytest.raises(PairingError, match="nothing to compare"):
        pair_trees(orig, [out])
    with pytest.raises(PairingError, match="no such file"):
        pair_trees(orig, [out / "missing"])


def test_an_output_folder_inside_the_input_folder_is_not_taken_for_originals(tmp_path: Path) -> None:
    orig, out = make_png_pair(tmp_path)
    inner = orig / "denoised"
    out.rename(inner)
    pairs, notes = pair_trees(orig, [inner])
    assert [p.name for p in pairs] == ["xr"] and notes == []
    assert all(inner not in p.parents for p in pairs[0].sides[0].paths)


def test_single_file_pairs_with_its_copy_in_the_output_folder(dicom_trees: tuple[Path, Path, Path]) -> None:
    orig, out, _ = dicom_trees
    (pair,), _ = pair_trees(orig / "series" / "slice01.dcm", [out / "series"])
    assert pair.sides[1].paths == (out / "series" / "slice01.dcm",)


def test_encode_slice_is_exact_and_picks_the_smallest_type() -> None:
    ints = np.array([[-1024, 0], [3071, 5]], np.float32)
    data, dtype = encode_slice(ints)
    assert dtype == "int16" and np.array_equal(np.frombuffer(data, "<i2").reshape(2, 2), ints)
    assert encode_slice(np.array([[0, 60000]], np.float32))[1] == "uint16"
    floats = np.array([[0.25, -1.5]], np.float32)
    data, dtype = encode_slice(floats)
    assert dtype == "float32" and np.array_equal(np.frombuffer(data, "<f4").reshape(1, 2), floats)


def test_slice_endpoint_returns_the_pixels_in_their_own_units(dicom_trees: tuple[Path, Path, Path]) -> None:
    orig, out, clean = dicom_trees
    pairs, _ = pair_trees(orig, [out], reference=clean)
    with running_server(ViewerApp(pairs)) as url:
        for side, tree in (("a", orig), ("1", out), ("2", clean)):
            status, headers, body = get(url, f"/api/pair/0/slice/3?side={side}")
            assert status == 200, body
            assert headers["X-Dtype"] == "int16"
            rows, cols = int(headers["X-Rows"]), int(headers["X-Columns"])
            got = np.frombuffer(body, "<i2").reshape(rows, cols)
            np.testing.assert_array_equal(got, read_image(tree / "series" / "slice03.dcm").pixels)
        status, _, body = get(url, "/api/pair/0")
        info = json.loads(body)
        assert info["n_slices"] == N_SLICES and info["is_ct"] and info["units"] == "HU"
        assert info["window"] == {"preset": "soft tissue", "level": 40.0, "width": 400.0}
        assert info["sides"][1]["derivation_description"] == "denoised by test"
        assert info["labels"] == ["original", "out", "reference"]


def test_float_nifti_slices_travel_as_float32(tmp_path: Path) -> None:
    orig, out = make_nifti_pair(tmp_path)
    pairs, _ = pair_trees(orig, [out])
    with running_server(ViewerApp(pairs)) as url:
        status, headers, body = get(url, "/api/pair/0/slice/1?side=b")
        assert status == 200 and headers["X-Dtype"] == "float32"
        got = np.frombuffer(body, "<f4").reshape(int(headers["X-Rows"]), int(headers["X-Columns"]))
        np.testing.assert_array_equal(got, read_image(out / "vol.nii.gz").pixels[1])


def test_stats_give_noise_per_side_and_scores_against_the_reference(
    dicom_trees: tuple[Path, Path, Path],
) -> None:
    orig, out, clean = dicom_trees
    pairs, _ = pair_trees(orig, [out], reference=clean)
    stats = ViewerApp(pairs).stats_json(0, 4)
    x, y, ref = (read_image(t / "series" / "slice04.dcm").pixels for t in (orig, out, clean))
    # the estimate denoise --noise-level auto uses: the CT estimator for these HU slices
    units = read_image(orig / "series" / "slice04.dcm").meta.units
    assert units == "HU"
    assert stats["noise"][:2] == pytest.approx([estimate_ct_noise(x), estimate_ct_noise(y)])
    data_range = float(ref.max() - ref.min())
    assert stats["data_range"] == data_range
    assert stats["scores"][1]["psnr"] == pytest.approx(psnr(y, ref, data_range=data_range))
    assert stats["scores"][1]["ssim"] == pytest.approx(ssim(y, ref, data_range=data_range))
    assert stats["scores"][1]["psnr"] > stats["scores"][0]["psnr"]  # the copy is closer to the truth
    lo, hi = np.percentile(x, [1, 99])
    assert stats["auto_window"]["width"] == pytest.approx(hi - lo)


@pytest.mark.parametrize(
    "path",
    [
        "/api/pair/1",
        "/api/pair/0/slice/5?side=0",
        "/api/pair/0/slice/0?side=3",
        "/api/pair/0/slice/0?side=zz",
        "/api/pair/0/stats/99",
        "/api/pair/-1",
        "/nothing",
        "/static/../server.py",
        "/static/..%2fserver.py",
        "/static/%2e%2e/__init__.py",
        "/static/../../io/__init__.py",
        "/static/viewer.py",
        "/static/",
    ],
)
def test_bad_indices_and_paths_outside_static_are_404(served: str, path: str) -> None:
    status, headers, body = get(served, path)
    assert status == 404
    assert headers["Content-Type"] == "application/json" and "error" in json.loads(body)


def test_page_and_its_assets_are_served_from_the_package(served: str) -> None:
    status, _, page = get(served, "/")
    assert status == 200
    for asset in ("/static/viewer.js", "/static/viewer.css"):
        assert asset.encode() in page
        status, headers, body = get(served, asset)
        assert status == 200 and body
        assert headers["Content-Type"].startswith(("text/javascript", "text/css"))
    assert b"http://" not in page and b"https://" not in page  # nothing from a CDN


@pytest.mark.parametrize("host", ["evil.example:80", "192.168.1.5"])
def test_requests_for_another_host_name_are_refused(served: str, host: str) -> None:
    status, _, body = get(served, "/api/pair/0/slice/0?side=0", host=host)
    assert status == 403 and "refused" in json.loads(body)["error"]
    port = urlsplit(served).port
    assert get(served, "/api/pair/0/slice/0?side=0", host=f"localhost:{port}")[0] == 200
