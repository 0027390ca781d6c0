"""The executable book: display helpers for its notebooks (`figures`) and the build pipeline (`build`).

The package imports only the display helpers, so `python -m portraitcraft.book.build` runs cleanly.
"""

from __future__ import annotations

from portraitcraft.book.figures import (
    LEVEL_COLOURS,
    SPLIT_COLOURS,
    TEMPLATE,
    caption,
    level_table,
    radar_labels,
    show_plotly,
    thumbnail,
    value_with_interval,
)

__all__ = [
    "LEVEL_COLOURS",
    "SPLIT_COLOURS",
    "TEMPLATE",
    "caption",
    "level_table",
    "radar_labels",
    "show_plotly",
    "thumbnail",
    "value_with_interval",
]
