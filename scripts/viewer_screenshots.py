"""Screenshots of ``meddenoise view`` for the docs (headless system chromium via Playwright).

    meddenoise denoise ../shared/data/chest-ct-dicom/ID_0000_AGE_0060_CONTRAST_1_CT.dcm -o /tmp/median --method median
    python scripts/viewer_screenshots.py ORIGINAL DENOISED [MORE...] --out docs/img

Writes ``viewer.png`` (side by side, lung window, a ROI), ``viewer-swipe.png`` (swipe view, zoomed) and
``viewer-diff.png`` (difference view), as 8-bit palette PNGs to keep them small.
"""

from __future__ import annotations

import argparse
import io
import shutil
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page, sync_playwright

from meddenoise.viewer import ViewerApp, pair_trees, running_server


def _save(page: Page, target: Path) -> None:
    png = page.screenshot()
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128, dither=Image.Dither.NONE)
    image.save(target, optimize=True)
    print(f"{target}: {target.stat().st_size // 1024} KB")


def _drag(page: Page, selector: str, start: tuple[float, float], end: tuple[float, float]) -> None:
    box = page.locator(selector).bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * start[0], box["y"] + box["height"] * start[1])
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * end[0], box["y"] + box["height"] * end[1], steps=4)
    page.mouse.up()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("original", type=Path)
    parser.add_argument("denoised", type=Path, nargs="+")
    parser.add_argument("--reference", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()
    pairs, notes = pair_trees(args.original, args.denoised, reference=args.reference)
    args.out.mkdir(parents=True, exist_ok=True)
    with running_server(ViewerApp(pairs, notes=notes)) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=args.chromium, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        page = browser.new_page(viewport={"width": 1500, "height": 640})
        page.goto(url)
        page.wait_for_selector('#panels[data-rendered="0:0"]')
        page.wait_for_selector('#slice-table[data-slice="0"]')
        page.select_option("#preset", "lung")
        page.click("#tool-roi")
        _drag(page, '#panels .panel[data-side="0"] canvas', (0.60, 0.42), (0.70, 0.55))
        page.mouse.move(5, 5)
        _save(page, args.out / "viewer.png")
        page.click("#mode-swipe")
        page.select_option("#preset", "soft tissue")
        for _ in range(3):
            page.click("#zoom-in")
        page.fill("#swipe-pos", "450")
        page.dispatch_event("#swipe-pos", "input")
        _save(page, args.out / "viewer-swipe.png")
        page.click("#zoom-fit")
        page.click("#mode-diff")
        _save(page, args.out / "viewer-diff.png")
        browser.close()


if __name__ == "__main__":
    main()
