"""The HTML page of a reproduction: published vs measured tables, figures, timings, environment.

It reads what :meth:`meddenoise.experiments.runner.ExperimentRecord.save` wrote (``results.json`` and the
PNG figures beside it), so a page can be rebuilt from a finished run folder without re-running anything::

    meddenoise reproduce gondara2016 --data-dir ../shared/data --out reports/gondara2016
    # or, later: write_experiment_report(Path("reports/gondara2016"))
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from meddenoise.report.html import HtmlReport

__all__ = ["render_table_html", "tables_markdown", "write_experiment_report"]

_ROW_STYLE = {
    "published": "background:#fff6d6;font-style:italic",
    "paper-faithful": "background:#eef6ff",
    "ours": "background:#eefbea",
}


def _fmt(cell: Mapping[str, Any] | None, digits: int) -> str:
    if cell is None or cell.get("mean") is None:
        return ""
    text = f"{cell['mean']:.{digits}f}"
    if cell.get("std") is not None:
        text += f" ± {cell['std']:.{digits}f}"
    if cell.get("n") is not None:
        text += f' <span style="color:#888;font-size:.8em">(n={int(cell["n"])})</span>'
    return text


def _digits(metric: str | None) -> int:
    """Decimals shown for a metric: counts none, PSNR 2, losses 4, the rest (SSIM, ...) 3."""
    return {"parameters": 0, "psnr": 2, "val_loss": 4}.get(metric or "", 3)


def render_table_html(table: Mapping[str, Any]) -> str:
    """One result table (the ``results.json`` form) as HTML; published rows shaded and italic."""
    digits = _digits(table.get("metric"))
    cols = list(table["columns"])
    parts = ["<table>"]
    parts.append(f"<caption style='text-align:left;font-weight:600'>{html.escape(table['title'])}</caption>")
    parts.append(
        "<thead><tr><th>method</th><th>source</th>"
        + "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        + "</tr></thead><tbody>"
    )
    for row in table["rows"]:
        style = _ROW_STYLE.get(row["source"], "")
        cells = "".join(f'<td class="num">{_fmt(row["cells"].get(c), digits)}</td>' for c in cols)
        parts.append(
            f'<tr style="{style}"><td>{html.escape(row["label"])}</td>'
            f"<td>{html.escape(row['source'])}</td>{cells}</tr>"
        )
    parts.append("</tbody></table>")
    notes = []
    if table.get("caption"):
        notes.append(html.escape(table["caption"]))
    if table.get("published_source"):
        notes.append("Published: " + html.escape(table["published_source"]))
    if notes:
        parts.append(f'<p style="font-size:.88em;color:#444">{"<br>".join(notes)}</p>')
    return "".join(parts)


def write_experiment_report(run_dir: str | Path, *, path: str | Path | None = None) -> Path:
    """Write ``index.html`` (self-contained, images embedded) for the run in ``run_dir``.

    Parameters
    ----------
    run_dir
        Folder holding ``results.json`` and the figures it lists.
    path
        Output page; default ``run_dir/index.html``.
    """
    run_dir = Path(run_dir)
    results_path = run_dir / "results.json"
    try:
        data = json.loads(results_path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{results_path}: no results.json (run the reproduction first)") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{results_path}: not valid JSON ({exc})") from None

    report = HtmlReport(data["title"])
    total = data.get("timings", {}).get("total")
    summary = (
        f"Experiment {data['experiment']}, seed {data['seed']}, "
        + ("QUICK run (few images and epochs; not a reproduction). " if data.get("quick") else "full run. ")
        + (f"Total time {total:.0f} s." if total is not None else "")
    )
    report.add_paragraph(summary)
    report.add_heading("Command", level=3)
    report.add_code(data.get("command", ""))

    if data.get("notes"):
        report.add_heading("Protocol and notes")
        report.add_html("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in data["notes"]) + "</ul>")

    report.add_heading("Published vs measured")
    report.add_paragraph(
        "Shaded italic rows are the published numbers; blue rows the paper-faithful runs; green rows our "
        "stronger methods. Cells are mean ± std over the test images (n = number of images)."
    )
    for table in data.get("tables", []):
        report.add_html(render_table_html(table))

    discrepancies = data.get("discrepancies", [])
    report.add_heading("Differences from the published numbers")
    if discrepancies:
        report.add_table(
            [
                {
                    "table": d["table"],
                    "row": d["row"],
                    "column": d["column"],
                    "published": round(d["published"], 3),
                    "measured": round(d["measured"], 3),
                    "difference": round(d["difference"], 3),
                    "likely reason": d.get("likely_reason", ""),
                }
                for d in discrepancies
            ]
        )
    else:
        report.add_paragraph("Every compared cell is within the tolerance of its published value.")

    figures = data.get("figures", [])
    if figures:
        report.add_heading("Figures")
        for fig in figures:
            png = (run_dir / fig["file"]).read_bytes()
            report.add_heading(fig["title"], level=3)
            report.add_image(png, fig.get("caption", ""))

    report.add_viewer_note()
    report.add_heading("Protocol (machine-readable)", level=3)
    report.add_code(json.dumps(data.get("protocol", {}), indent=2)[:20000])
    extra = data.get("extra", {})
    if extra:
        report.add_heading("Training runs and other details", level=3)
        report.add_code(json.dumps(extra, indent=2, default=str)[:20000])

    report.add_heading("Timings")
    report.add_table([[k, f"{v:.1f} s"] for k, v in data.get("timings", {}).items()], header=["step", "time"])
    env = dict(data.get("environment", {}))
    packages = env.pop("packages", {}) or {}
    flat = {**{k: v for k, v in env.items()}, **{f"version {k}": v for k, v in packages.items()}}
    flat["seed"] = data["seed"]
    flat["started (UTC)"] = data.get("started_utc", "")
    report.add_environment(flat)
    return report.write(Path(path) if path is not None else run_dir / "index.html")


def tables_markdown(run_dir: str | Path, *, keys: Sequence[str] | None = None) -> str:
    """The tables of a finished run (``run_dir/results.json``) as Markdown, e.g. for the docs.

    ``keys`` picks tables by key (default: all), in the given order.
    """
    data = json.loads((Path(run_dir) / "results.json").read_text())
    tables = {t["key"]: t for t in data.get("tables", [])}
    chosen = [tables[k] for k in keys] if keys is not None else list(tables.values())
    blocks = []
    for table in chosen:
        digits = _digits(table.get("metric"))
        lines = [
            f"**{table['title']}**",
            "",
            "| " + " | ".join(["method", "source", *table["columns"]]) + " |",
            "|" + "---|" * (len(table["columns"]) + 2),
        ]
        for row in table["rows"]:
            cells = [_fmt(row["cells"].get(c), digits).split(" <span")[0] for c in table["columns"]]
            ns = {
                row["cells"][c]["n"]
                for c in table["columns"]
                if row["cells"].get(c) and row["cells"][c].get("n")
            }
            label = row["label"] + (f" (n={ns.pop()})" if len(ns) == 1 else "")
            lines.append("| " + " | ".join([label, row["source"], *cells]) + " |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
