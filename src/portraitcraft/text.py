"""Wording for the lines people read: a count with its noun in the right number.

The book's chapters take it from `portraitcraft.book` with the other display helpers; it lives on the lower floor
because the package's own messages and notes (the data summary, the labels' descriptions, the tables' notes) say
counts too.
"""

from __future__ import annotations


def counted(n: int, noun: str) -> str:
    """``n`` and the noun in the number it needs: "1 image", "2 images", "0 images"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


__all__ = ["counted"]
