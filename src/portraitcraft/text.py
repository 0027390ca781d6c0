"""Wording for the lines people read: a count with its noun in the right number, a length of time in its unit.

The book's chapters take it from `portraitcraft.book` with the other display helpers; it lives on the lower floor
because the package's own messages and notes (the data summary, the labels' descriptions, the tables' notes) say
counts too.
"""

from __future__ import annotations


def counted(n: int, noun: str) -> str:
    """``n`` and the noun in the number it needs: "1 image", "2 images", "0 images"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def duration(seconds: float) -> str:
    """A length of time in the unit its size calls for, to the precision a reader needs: seconds under a minute
    ("0.29 s", "4.2 s", "38 s"), minutes under two hours ("1.5 min", "42 min"), hours beyond ("3.1 h"); "-" for
    an unknown (NaN) time."""
    if seconds != seconds:  # NaN
        return "-"
    if seconds < 1:
        return f"{seconds:.2g} s"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 59.5:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 9.95:
        return f"{minutes:.1f} min"
    if minutes < 119.5:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.1f} h"


__all__ = ["counted", "duration"]
