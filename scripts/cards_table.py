"""Print the README's quality table of the shipped models, generated from their cards (never typed by hand).

The cards are written by ``scripts/train_pretrained.py`` (or ``--cards-only``) from the benchmark
(:mod:`meddenoise.evaluation.benchmark`); this script only lays their per-level numbers side by side::

    .venv/bin/python scripts/cards_table.py            # Markdown table on stdout
    .venv/bin/python scripts/cards_table.py --check README.md docs/denoise.md   # 1 when a file lacks it
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from meddenoise.pretrained import PRETRAINED_DIR
from meddenoise.pretrained.cards import Quality, read_model_card

MODELS = ("ct", "mri", "xray", "general")
COLUMNS = (
    ("noisy", "noisy input"),
    ("model", "shipped model, blind"),
    ("model_told", "shipped model, told σ"),
    ("model_x8", "x8 self-ensemble, blind"),
    ("model_told_x8", "x8 self-ensemble, told σ"),
    ("bm3d", "BM3D, told σ"),
    ("nlmeans", "NL-means, told σ"),
)


def _cell(quality: Quality | None, best: float) -> str:
    if quality is None:
        return "(clean)"
    psnr = "≥ 100" if quality.psnr >= 100 else f"{quality.psnr:.2f}"
    text = f"{psnr} / {quality.ssim:.3f}"
    return f"**{text}**" if quality.psnr >= best and quality.psnr < 100 else text


def _level(level: str, unit_note: str) -> str:
    if level == "0":
        return "0 (clean input)"
    return f"{level} of range" if level.endswith("%") else f"{level} {unit_note}".strip()


def cards_table(folder: Path = PRETRAINED_DIR) -> str:
    """The Markdown table: one row per model and noise level, the best PSNR in bold (clean rows excepted)."""
    header = "| model (held-apart images) | noise std | " + " | ".join(label for _, label in COLUMNS) + " |"
    lines = [header, "|---" * (len(COLUMNS) + 2) + "|"]
    for name in MODELS:
        card = read_model_card(folder / f"{name}.json")
        quality = card.quality
        for level, rows in quality.per_sigma.items():
            present = [rows[key] for key, _ in COLUMNS if key in rows and key != "noisy"]
            best = max((q.psnr for q in present), default=float("inf"))
            cells = [_cell(rows.get(key), best) if key in quality.rows else "–" for key, _ in COLUMNS]
            lines.append(f"| `{name}` ({quality.images}) | {_level(level, '')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", nargs="+", type=Path, help="files that must contain the table verbatim")
    args = parser.parse_args(argv)
    table = cards_table()
    if not args.check:
        print(table)
        return 0
    stale = [str(path) for path in args.check if table not in path.read_text(encoding="utf-8")]
    for path in stale:
        print(
            f"{path}: the shipped models' quality table differs from their cards (run scripts/cards_table.py)"
        )
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
