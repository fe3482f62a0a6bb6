"""The viewer in a real browser: Debian's chromium driven by Playwright (no browser is downloaded).

Skipped with the reason when Playwright (``pip install -e .[dev]``) or a chromium binary (``apt-get install
chromium``, or ``$MEDDENOISE_CHROMIUM``) is missing. Every number shown is checked against numpy.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from viewer_data import make_dicom_pair, make_nifti_pair

from meddenoise.io import read_image, write_image
from meddenoise.noise import estimate_noise_in_units
from meddenoise.viewer import ViewerApp, pair_trees, running_server

pytestmark = pytest.mark.integration


def _chromium() -> str | None:
    candidates = [os.environ.get("MEDDENOISE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"]
    for name in candidates:
        found = shutil.which(name) if name else None
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    executable = _chromium()
    if executable is None:
        pytest.skip("no chromium on PATH (apt-get install chromium, or set MEDDENOISE_CHROMIUM)")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 800}, device_scale_factor=1)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], errors


def open_viewer(page: Any, url: str, rendered: str) -> None:
    page.goto(url)
    page.wait_for_selector(f'#panels[data-rendered="{rendered}"]', timeout=10_000)


def grey(page: Any, side: int | str, r: int, c: int) -> int:
    return int(page.evaluate("([s, r, c]) => window.meddenoiseViewer.grey(s, r, c)", [side, r, c]))


def expected_grey(value: float, level: float, width: float) -> float:
    return float(np.clip(np.round((value - (level - width / 2)) / width * 255), 0, 255))


def drag(page: Any, selector: str, start: tuple[float, float], end: tuple[float, float]) -> None:
    box = page.locator(selector).bounding_box()
    page.mouse.move(box["x"] + start[0], box["y"] + start[1])
    page.mouse.down()
    page.mouse.move(box["x"] + (start[0] + end[0]) / 2, box["y"] + (start[1] + end[1]) / 2)
    page.mouse.move(box["x"] + end[0], box["y"] + end[1])
    page.mouse.up()


@pytest.fixture
def dicom_url(tmp_path: Path) -> Iterator[tuple[str, Path, Path, Path]]:
    orig, out, clean = make_dicom_pair(tmp_path)
    pairs, notes = pair_trees(orig, [out], reference=clean)
    with running_server(ViewerApp(pairs, notes=notes)) as url:
        yield url, orig, out, clean


def slice_of(tree: Path, k: int) -> np.ndarray:
    return read_image(tree / "series" / f"slice{k:02d}.dcm").pixels


def test_scroll_and_window_show_the_hu_values_exactly(
    page: Any, dicom_url: tuple[str, Path, Path, Path]
) -> None:
    url, orig, out, _ = dicom_url
    open_viewer(page, url, "0:2")  # opens on the middle slice, CT soft-tissue window
    assert page.input_value("#window-level") == "40" and page.input_value("#window-width") == "400"
    assert page.locator("#panels .panel").count() == 3  # original, denoised, reference
    a, b = slice_of(orig, 2), slice_of(out, 2)
    for r, c in ((64, 64), (10, 10), (64, 80), (40, 90)):
        assert grey(page, 0, r, c) == pytest.approx(expected_grey(a[r, c], 40, 400), abs=1)
        assert grey(page, 1, r, c) == pytest.approx(expected_grey(b[r, c], 40, 400), abs=1)

    page.locator('#panels .panel[data-side="0"] canvas').hover()
    page.mouse.wheel(0, 100)  # one slice down, on every panel
    page.wait_for_selector('#panels[data-rendered="0:3"]')
    assert page.text_content("#slice-label") == "slice 4 / 5"
    b3 = slice_of(out, 3)
    assert grey(page, 1, 30, 64) == pytest.approx(expected_grey(b3[30, 64], 40, 400), abs=1)

    page.select_option("#preset", "lung")
    assert page.input_value("#window-level") == "-600" and page.input_value("#window-width") == "1500"
    assert grey(page, 1, 30, 64) == pytest.approx(expected_grey(b3[30, 64], -600, 1500), abs=1)

    page.fill("#window-level", "0")
    page.fill("#window-width", "100")
    page.press("#window-width", "Enter")
    assert grey(page, 0, 64, 64) == pytest.approx(expected_grey(slice_of(orig, 3)[64, 64], 0, 100), abs=1)

    page.click("#tool-wl")
    drag(page, '#panels .panel[data-side="0"] canvas', (100, 100), (160, 100))  # right = wider
    assert float(page.input_value("#window-width")) > 100
    assert page.input_value("#preset") == "custom"


def test_roi_reports_mean_and_std_of_every_series(page: Any, dicom_url: tuple[str, Path, Path, Path]) -> None:
    url, orig, out, clean = dicom_url
    open_viewer(page, url, "0:2")
    page.click("#tool-roi")
    canvas = '#panels .panel[data-side="1"] canvas'
    box = page.locator(canvas).bounding_box()
    drag(
        page, canvas, (box["width"] * 0.40, box["height"] * 0.40), (box["width"] * 0.55, box["height"] * 0.6)
    )
    bounds = page.locator("#roi-bounds")
    r0, r1, c0, c1 = (int(bounds.get_attribute(f"data-{key}")) for key in ("r0", "r1", "c0", "c1"))
    assert 0 < r0 < 64 < r1 < 128 and 0 < c0 < 64 < c1 < 128  # around the centre of the 128x128 slice
    for side, tree in enumerate((orig, out, clean)):
        roi = slice_of(tree, 2)[r0:r1, c0:c1].astype(np.float64)
        row = page.locator(f'#roi-table tr[data-side="{side}"]')
        assert float(row.locator(".mean").text_content()) == pytest.approx(roi.mean(), abs=0.006)
        assert float(row.locator(".std").text_content()) == pytest.approx(roi.std(), abs=0.006)
        assert int(row.locator(".count").text_content()) == roi.size
    assert "HU" in bounds.text_content()

    page.keyboard.press("ArrowUp")  # the ROI stays; its numbers follow the slice
    page.wait_for_selector('#panels[data-rendered="0:1"]')
    roi = slice_of(out, 1)[r0:r1, c0:c1].astype(np.float64)
    row = page.locator('#roi-table tr[data-side="1"]')
    assert float(row.locator(".mean").text_content()) == pytest.approx(roi.mean(), abs=0.006)


def test_noise_psnr_ssim_metadata_and_the_swipe_and_difference_views(
    page: Any, dicom_url: tuple[str, Path, Path, Path]
) -> None:
    url, orig, out, _ = dicom_url
    open_viewer(page, url, "0:2")
    page.wait_for_selector('#slice-table[data-slice="2"]')
    noise = [float(page.text_content(f'#slice-table tr[data-side="{s}"] .noise')) for s in (0, 1)]
    # the estimate denoise --noise-level auto uses for these CT slices in HU
    expected = [estimate_noise_in_units(slice_of(t, 2), "HU") for t in (orig, out)]
    assert noise == pytest.approx(expected, abs=0.006)
    assert float(page.text_content('#slice-table tr[data-side="1"] .psnr')) > float(
        page.text_content('#slice-table tr[data-side="0"] .psnr')
    )
    meta = page.text_content("#meta-table")
    assert "CT" in meta and "denoised by test" in meta and "0.661 × 0.661 mm" in meta

    page.click("#mode-swipe")
    assert page.locator("#panels .panel").count() == 1
    page.click("#mode-diff")
    page.wait_for_selector('#panels .panel[data-kind="diff"]')
    state = page.evaluate("window.meddenoiseViewer.state.dwin")
    diff = slice_of(out, 2) - slice_of(orig, 2)
    assert state["level"] == 0
    assert state["width"] == pytest.approx(2 * np.quantile(np.abs(diff), 0.99), rel=0.05)
    for r, c in ((64, 64), (20, 100)):
        assert grey(page, "diff", r, c) == pytest.approx(
            expected_grey(diff[r, c], state["level"], state["width"]), abs=1
        )


def test_float_volume_roi_and_auto_window(page: Any, tmp_path: Path) -> None:
    orig, out = make_nifti_pair(tmp_path)
    pairs, _ = pair_trees(orig, [out])
    with running_server(ViewerApp(pairs)) as url:
        open_viewer(page, url, "0:2")
        a = read_image(orig / "vol.nii.gz").pixels[2].astype(np.float64)
        lo, hi = np.percentile(a, [1, 99])
        assert float(page.input_value("#window-level")) == pytest.approx((lo + hi) / 2, rel=1e-4)
        assert page.locator("#preset option").all_text_contents() == ["auto", "custom"]
        page.click("#tool-roi")
        drag(page, '#panels .panel[data-side="0"] canvas', (20, 20), (600, 700))  # beyond the image: clipped
        row = page.locator('#roi-table tr[data-side="1"]')
        b = read_image(out / "vol.nii.gz").pixels[2].astype(np.float64)
        r0, r1, c0, c1 = (
            int(page.get_attribute("#roi-bounds", f"data-{k}")) for k in ("r0", "r1", "c0", "c1")
        )
        roi = b[r0:r1, c0:c1]
        assert float(row.locator(".mean").text_content()) == pytest.approx(roi.mean(), abs=0.006)
        assert float(row.locator(".std").text_content()) == pytest.approx(roi.std(), abs=0.006)


def test_a_long_series_is_fetched_slice_by_slice_on_demand(page: Any, tmp_path: Path) -> None:
    n = 300
    volume = np.arange(n, dtype=np.float32)[:, None, None] + np.zeros((n, 8, 8), np.float32)
    (tmp_path / "orig").mkdir()
    (tmp_path / "out").mkdir()
    write_image(tmp_path / "orig" / "long.nii", volume)
    write_image(tmp_path / "out" / "long.nii", volume * 2, like=read_image(tmp_path / "orig" / "long.nii"))
    pairs, _ = pair_trees(tmp_path / "orig", [tmp_path / "out"])
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url) if "/slice/" in request.url else None)
    with running_server(ViewerApp(pairs)) as url:
        open_viewer(page, url, f"0:{n // 2}")
        page.locator('#panels .panel[data-side="1"] canvas').hover()
        for _ in range(5):
            page.mouse.wheel(0, 100)
        page.wait_for_selector(f'#panels[data-rendered="0:{n // 2 + 5}"]')
        page.wait_for_load_state("networkidle")
        assert page.text_content("#probe").endswith(
            f"original {n // 2 + 5}.0 · out {2 * (n // 2 + 5)}.0 intensity"
        )
    slices = {int(u.split("/slice/")[1].split("?")[0]) for u in requested}
    assert slices == set(range(n // 2 - 2, n // 2 + 5 + 3))  # shown slices and two neighbours each way
    assert len(requested) == 2 * len(slices)  # each slice of each side fetched once (cached after)


def screen_of(page: Any, panel: int, r: int, c: int) -> tuple[float, float]:
    point = page.evaluate("([p, r, c]) => window.meddenoiseViewer.screenOf(p, r, c)", [panel, r, c])
    return point["x"], point["y"]


def shown(page: Any, panel: int, r: int, c: int) -> int:
    x, y = screen_of(page, panel, r, c)
    return int(page.evaluate("([p, x, y]) => window.meddenoiseViewer.shown(p, x, y)", [panel, x, y]))


def test_pan_and_zoom_move_every_panel_together_and_swipe_splits_at_the_divider(
    page: Any, dicom_url: tuple[str, Path, Path, Path]
) -> None:
    url = dicom_url[0]
    open_viewer(page, url, "0:2")
    before = [screen_of(page, p, 64, 64) for p in range(3)]
    page.click("#tool-pan")
    drag(page, '#panels .panel[data-side="1"] canvas', (100, 100), (140, 130))
    after = [screen_of(page, p, 64, 64) for p in range(3)]
    for (x0, y0), (x1, y1) in zip(before, after, strict=True):
        assert (x1 - x0, y1 - y0) == pytest.approx((40, 30), abs=0.5)
    page.click("#zoom-fit")
    page.click("#zoom-in")
    (xa, _), (xb, _) = screen_of(page, 0, 64, 10), screen_of(page, 0, 64, 20)
    page.click("#zoom-in")
    (xc, _), (xd, _) = screen_of(page, 0, 64, 10), screen_of(page, 0, 64, 20)
    assert (xd - xc) / (xb - xa) == pytest.approx(1.25)
    page.click("#zoom-fit")

    page.click("#mode-swipe")
    page.wait_for_selector('#panels .panel[data-kind="swipe"]')
    box = page.locator("#panels .panel canvas").bounding_box()
    split = lambda: page.evaluate("window.meddenoiseViewer.state.swipe") * box["width"]  # noqa: E731

    def sides_shown() -> tuple[list[int], int]:
        """For pixels along row 64: which side each shows (0 left of the divider, 1 right); how many tell."""
        which, telling = [], 0
        for c in range(20, 108, 4):
            g0, g1, seen = grey(page, 0, 64, c), grey(page, 1, 64, c), shown(page, 0, 64, c)
            x, _ = screen_of(page, 0, 64, c)
            if abs(g0 - g1) > 1 and abs(x - split()) > 6:
                telling += 1
                assert seen in (g0, g1), (c, seen, g0, g1)
                assert (seen == g0) == (x < split()), (c, x, split())
                which.append(0 if seen == g0 else 1)
        return which, telling

    which, telling = sides_shown()
    assert telling >= 5 and 0 in which and 1 in which
    drag(page, "#panels .panel canvas", (split(), 200), (box["width"] * 0.9, 200))  # drag the divider right
    assert page.evaluate("window.meddenoiseViewer.state.swipe") == pytest.approx(0.9, abs=0.01)
    which, telling = sides_shown()
    assert telling >= 5 and set(which) == {0}  # the whole image now lies left of the divider
