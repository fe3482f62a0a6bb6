"""Self-contained HTML reports (tables, embedded PNG images, environment) and image helpers for them."""

from meddenoise.report.html import HtmlReport, environment_info, parse_markdown_table
from meddenoise.report.images import array_to_png

__all__ = ["HtmlReport", "array_to_png", "environment_info", "parse_markdown_table"]
