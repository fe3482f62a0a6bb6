"""The self-contained HTML report builder."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from meddenoise.report import HtmlReport, array_to_png, environment_info, parse_markdown_table


def test_report_renders_every_block_and_escapes_text(tmp_path: Path) -> None:
    report = HtmlReport("Demo <1>")
    report.add_heading("Metrics & more").add_paragraph("first\n\nsecond <b>")
    report.add_table(
        [{"method": "median", "PSNR": 27.123456}, {"method": "nlmeans", "PSNR": 29.5, "SSIM": 0.8}]
    )
    report.add_table("| a | b |\n|---|--:|\n| 1 | x |", caption="from markdown")
    report.add_table([[1, 2.5], [3, 4.25]], header=["n", "value"])
    report.add_code("meddenoise demo --out x")
    report.add_environment({"python": "3.11"})
    html = report.render()
    assert "<title>Demo &lt;1&gt;</title>" in html
    assert "Metrics &amp; more" in html and "second &lt;b&gt;" in html
    assert html.count("<table") == 4
    # mapping rows: header from first-seen keys, missing cells empty, floats formatted
    assert "<th>SSIM</th>" in html and ">27.12<" in html
    assert "<caption>from markdown</caption>" in html and "<td>x</td>" in html
    target = report.write(tmp_path / "sub" / "report.html")
    assert target.read_text(encoding="utf-8") == html
    assert not list(target.parent.glob(".*tmp*"))  # the atomic write left no temporary file


def test_images_are_embedded_as_png(tmp_path: Path) -> None:
    png = array_to_png(np.linspace(0, 1, 64 * 32).reshape(32, 64), scale=2)
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    report = HtmlReport("images").add_image(png, "ramp", width=128).add_image(fig, "figure")
    report.add_image_row([(png, "a"), (png, "b")])
    plt.close(fig)
    payloads = re.findall(r'src="data:image/png;base64,([^"]+)"', report.render())
    assert len(payloads) == 4
    decoded = base64.b64decode(payloads[0])
    tmp = tmp_path / "x.png"
    tmp.write_bytes(decoded)
    with Image.open(tmp) as im:
        assert im.size == (128, 64) and im.mode == "L"
        arr = np.asarray(im)
    assert arr.min() == 0 and arr.max() == 255
    with pytest.raises(ValueError, match="PNG"):
        report.add_image(b"not a png")
    with pytest.raises(TypeError):
        report.add_image(42)


def test_array_to_png_respects_the_display_range() -> None:
    png = array_to_png(np.array([[-1000.0, 0.0], [40.0, 3000.0]]), vmin=-160, vmax=240)
    import io

    arr = np.asarray(Image.open(io.BytesIO(png)))
    assert arr[0, 0] == 0 and arr[1, 1] == 255 and 0 < arr[0, 1] < arr[1, 0] < 255
    with pytest.raises(ValueError):
        array_to_png(np.zeros((2, 2, 2)))


def test_markdown_parser_and_environment() -> None:
    assert parse_markdown_table("| a | b |\n|:-|-:|\n| 1 | 2 |") == [["a", "b"], ["1", "2"]]
    with pytest.raises(ValueError):
        parse_markdown_table("no table here")
    env = environment_info()
    assert env["python"].count(".") == 2 and "numpy" in env
