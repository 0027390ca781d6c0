"""The executable book: display helpers for its notebooks (`figures`, the banner, `counted` for counts in
sentences), where a chapter finds its inputs (`paths`), the build pipeline (`build`) and the offline check of the
built pages' internal links (`links`).

The package imports only the display helpers; chapters import `paths`, the `portraitcraft book` command `build`.
"""

from __future__ import annotations

from portraitcraft.book.banner import banner
from portraitcraft.book.figures import (
    LEVEL_COLOURS,
    SPLIT_COLOURS,
    SUMMARY_LINES,
    TEMPLATE,
    caption,
    darker,
    interval_estimable,
    level_table,
    percent,
    print_download,
    radar_labels,
    radar_scale,
    shaded,
    share_digits,
    show_plotly,
    thumbnail,
    value_with_interval,
)
from portraitcraft.text import counted

__all__ = [
    "LEVEL_COLOURS",
    "SPLIT_COLOURS",
    "SUMMARY_LINES",
    "TEMPLATE",
    "banner",
    "caption",
    "counted",
    "darker",
    "interval_estimable",
    "level_table",
    "percent",
    "print_download",
    "radar_labels",
    "radar_scale",
    "shaded",
    "share_digits",
    "show_plotly",
    "thumbnail",
    "value_with_interval",
]
