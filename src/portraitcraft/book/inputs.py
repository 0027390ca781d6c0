"""What the book is given, checked before any chapter runs.

    problems = check_inputs("data/lab", ["runs/a.jsonl"])   # [] or one line per problem

The data is opened as every chapter opens it and each prediction file is read once, in seconds. What stops a build:
data that cannot be opened (no such folder, not a PortraitCraft root, an annotation file that cannot be read) and a
prediction file that cannot be read at all (missing, a folder, not JSON or JSON Lines of prediction records, a
malformed record). What does not: missing images, hidden test labels, records with invalid values, a prediction file
for other images than those scored. The chapters report those: a readable file that scores nothing is no error.
Each line is the one `portraitcraft validate` or `portraitcraft evaluate` prints for the same problem.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from portraitcraft.data import DataError
from portraitcraft.predictions import read_predictions
from portraitcraft.sources import check_dataset


def data_problems(data: str | os.PathLike) -> list[str]:
    """Why the book cannot read ``data`` at all (`portraitcraft validate`'s lines), or []: the blocking findings of
    `portraitcraft.sources.check_dataset` (it cannot be opened, not a PortraitCraft root, an unreadable track file).
    The findings that are carried (single records, missing images, hidden labels) are left to the chapters."""
    return [problem.text for problem in check_dataset(str(data)).blocking]


def prediction_problems(predictions: Iterable[str | os.PathLike]) -> list[str]:
    """One line for each prediction file that cannot be read (`portraitcraft evaluate`'s line), or []."""
    problems = []
    for path in predictions:
        try:
            read_predictions(path)
        except DataError as exc:
            problems.append(str(exc))
    return problems


def check_inputs(data: str | os.PathLike, predictions: Iterable[str | os.PathLike] = ()) -> list[str]:
    """Every reason the book cannot be built on ``data`` and ``predictions``, one line each; [] when it can."""
    return [*data_problems(data), *prediction_problems(predictions)]


__all__ = ["check_inputs", "data_problems", "prediction_problems"]
