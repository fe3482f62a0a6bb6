"""A small, self-contained HTML report: headings, paragraphs, tables, embedded PNG images, environment.

The page has no external references (styles inline, images base64-embedded), so it opens from a
file, an e-mail attachment or a CI artefact exactly as it was written.

Example
-------
>>> from meddenoise.report import HtmlReport
>>> rows = [{"method": "median", "PSNR": 27.1}, {"method": "nlmeans", "PSNR": 29.4}]
>>> report = HtmlReport("Denoising demo").add_heading("Metrics").add_table(rows)  # each add_* returns the report
>>> html = report.render()
>>> "<th>PSNR</th>" in html and "<td>nlmeans</td>" in html
True
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from meddenoise._utils import atomic_path
from meddenoise.provenance import CPU_FLAGS, cpu_info, git_info, package_versions

__all__ = ["HtmlReport", "environment_info", "parse_markdown_table"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #ccc; padding-bottom: .3em; }
h2, h3 { margin-top: 1.6em; }
table { border-collapse: collapse; margin: 1em 0; font-size: .92em; }
th, td { border: 1px solid #ccc; padding: .3em .7em; text-align: left; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: .6em; vertical-align: top; text-align: center; }
figure img { max-width: 100%; image-rendering: pixelated; border: 1px solid #ddd; }
figcaption { font-size: .88em; color: #444; margin-top: .3em; }
pre { background: #f6f6f6; padding: .7em; overflow-x: auto; }
.env td:first-child { font-weight: 600; }
"""


def _format_cell(value: Any, float_format: str) -> tuple[str, bool]:
    """Return the escaped cell text and whether it is numeric (right-aligned)."""
    if isinstance(value, bool) or value is None:
        return html.escape("" if value is None else str(value)), False
    if isinstance(value, float):
        return html.escape(format(value, float_format)), True
    if isinstance(value, int):
        return html.escape(str(value)), True
    return html.escape(str(value)), False


def parse_markdown_table(text: str) -> list[list[str]]:
    """Parse a Markdown pipe table into rows of cell strings (the header first, the ``---`` rule dropped).

    Raises
    ------
    ValueError
        If no line of ``text`` is a pipe-table row.
    """
    rows: list[list[str]] = []
    for line in text.strip().splitlines():
        line = line.strip()
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if all(set(c) <= set("-: ") and c for c in cells):
            continue  # the header rule |---|:--:|
        rows.append(cells)
    if not rows:
        raise ValueError("text holds no Markdown pipe table")
    return rows


def environment_info() -> dict[str, str]:
    """Versions and machine facts worth recording beside any measured number, as display strings.

    The same facts as :func:`meddenoise.provenance.environment` (installed packages only).
    """
    cpu = cpu_info()
    info: dict[str, str] = {
        "date (UTC)": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": cpu.model,
        "cpu count": str(cpu.count),
        "cpu flags": ", ".join(cpu.flags) or "none of " + ", ".join(CPU_FLAGS),
    }
    info.update({name: version for name, version in package_versions().items() if version is not None})
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch threads"] = str(torch.get_num_threads())
    git = git_info()
    if git is not None:
        info["git commit"] = git.commit + (" (modified)" if git.dirty else "")
    return info


class HtmlReport:
    """Builds one self-contained HTML page from blocks added in order.

    Parameters
    ----------
    title
        Page title, shown as the top heading.
    """

    def __init__(self, title: str) -> None:
        self.title = title
        self._blocks: list[str] = []

    def __len__(self) -> int:
        return len(self._blocks)

    def add_heading(self, text: str, *, level: int = 2) -> HtmlReport:
        """Add a heading ``<h2>`` by default (``level`` 1 to 6)."""
        if not 1 <= level <= 6:
            raise ValueError(f"heading level must be 1..6, got {level}")
        self._blocks.append(f"<h{level}>{html.escape(text)}</h{level}>")
        return self

    def add_paragraph(self, text: str) -> HtmlReport:
        """Add a paragraph of plain text (escaped; blank lines start new paragraphs)."""
        for part in str(text).split("\n\n"):
            if part.strip():
                self._blocks.append(f"<p>{html.escape(part.strip())}</p>")
        return self

    def add_code(self, text: str) -> HtmlReport:
        """Add preformatted text, e.g. the command that produced the page."""
        self._blocks.append(f"<pre>{html.escape(text)}</pre>")
        return self

    def add_html(self, fragment: str) -> HtmlReport:
        """Add a raw, trusted HTML fragment (not escaped)."""
        self._blocks.append(fragment)
        return self

    def add_table(
        self,
        rows: Sequence[Mapping[str, Any]] | Sequence[Sequence[Any]] | str,
        *,
        header: Sequence[str] | None = None,
        caption: str | None = None,
        float_format: str = ".4g",
        css_class: str | None = None,
    ) -> HtmlReport:
        """Add a table.

        Parameters
        ----------
        rows
            A sequence of mappings (keys become the header, in first-seen order), a sequence of
            sequences (with ``header``, or the first row is the header), or a Markdown pipe table.
        header
            Column names for a sequence of sequences.
        caption
            Optional caption above the table.
        float_format
            Format spec applied to float cells.
        """
        if isinstance(rows, str):
            parsed = parse_markdown_table(rows)
            head, body = (list(header), parsed) if header is not None else (parsed[0], parsed[1:])
            body_rows: list[Sequence[Any]] = list(body)
        elif rows and isinstance(rows[0], Mapping):
            dict_rows = cast("Sequence[Mapping[str, Any]]", rows)
            head = list(header) if header is not None else []
            if header is None:
                for row in dict_rows:
                    for key in row:
                        if key not in head:
                            head.append(key)
            body_rows = [[row.get(key, "") for key in head] for row in dict_rows]
        else:
            seq_rows: list[Sequence[Any]] = [list(r) for r in rows]
            if header is not None:
                head, body_rows = list(header), seq_rows
            elif seq_rows:
                head, body_rows = [str(c) for c in seq_rows[0]], seq_rows[1:]
            else:
                head, body_rows = [], []
        parts = [f'<table class="{html.escape(css_class)}">' if css_class else "<table>"]
        if caption:
            parts.append(f"<caption>{html.escape(caption)}</caption>")
        if head:
            parts.append(
                "<thead><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in head) + "</tr></thead>"
            )
        parts.append("<tbody>")
        for body_row in body_rows:
            cells = []
            for value in body_row:
                text, numeric = _format_cell(value, float_format)
                cells.append(f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>")
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</tbody></table>")
        self._blocks.append("".join(parts))
        return self

    def add_image(
        self, image: bytes | Any, caption: str = "", *, width: int | None = None, alt: str | None = None
    ) -> HtmlReport:
        """Add a PNG image, base64-embedded.

        Parameters
        ----------
        image
            PNG bytes, or a matplotlib ``Figure`` (saved as PNG at its own dpi; not closed).
        caption
            Caption under the image.
        width
            Display width in CSS pixels (the image keeps its pixels).
        """
        self._blocks.append(self._figure_html(image, caption, width=width, alt=alt))
        return self

    def add_image_row(
        self, images: Sequence[tuple[bytes | Any, str]], *, width: int | None = None
    ) -> HtmlReport:
        """Add images side by side: a sequence of ``(png bytes or figure, caption)``."""
        figures = "".join(self._figure_html(img, cap, width=width, alt=None) for img, cap in images)
        self._blocks.append(f'<div class="row">{figures}</div>')
        return self

    def add_environment(
        self, env: Mapping[str, Any] | None = None, *, title: str = "Environment"
    ) -> HtmlReport:
        """Add a heading and a two-column table of the environment (default :func:`environment_info`)."""
        env = environment_info() if env is None else env
        self.add_heading(title, level=3)
        return self.add_table(
            [[k, str(v)] for k, v in env.items()], header=["item", "value"], css_class="env"
        )

    @staticmethod
    def _figure_html(image: bytes | Any, caption: str, *, width: int | None, alt: str | None) -> str:
        png = _as_png_bytes(image)
        data = base64.b64encode(png).decode("ascii")
        style = f' style="width:{int(width)}px"' if width else ""
        alt_text = html.escape(alt if alt is not None else caption)
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        return f'<figure><img src="data:image/png;base64,{data}" alt="{alt_text}"{style}>{cap}</figure>'

    def render(self) -> str:
        """The whole page as one HTML string."""
        title = html.escape(self.title)
        body = "\n".join(self._blocks)
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{title}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n"
            f"{body}\n</body>\n</html>\n"
        )

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the page to ``path`` atomically (parents created) and return the path."""
        target = Path(path)
        with atomic_path(target) as tmp:
            tmp.write_text(self.render(), encoding="utf-8")
        return target


def _as_png_bytes(image: bytes | Any) -> bytes:
    if isinstance(image, (bytes, bytearray, memoryview)):
        png = bytes(image)
        if not png.startswith(_PNG_SIGNATURE):
            raise ValueError("image bytes are not a PNG (missing the PNG signature)")
        return png
    if hasattr(image, "savefig"):
        buffer = io.BytesIO()
        image.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()
    raise TypeError(f"expected PNG bytes or a matplotlib Figure, got {type(image).__name__}")
