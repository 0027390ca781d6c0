"""Table 2 of PortraitCraft (arXiv 2604.03611) as data: the length of the Track 2 descriptions per split. For example::

    from portraitcraft.sources import open_dataset
    from portraitcraft.table2 import closest_definitions, table2

    table = table2(open_dataset("data/lab"))
    table.frame    # one row per (definition, split), `overall` included
    closest_definitions(table)    # which length comes closest to the paper's

Table 2 as reported
-------------------
`REPORTED_TABLE2` is the paper's Table 2 as printed, over its 5,000 Track 2 descriptions: per split (train 4,500,
test 500, overall 5,000) the samples, mean, standard deviation, median, range and average length per attribute.
`compare_with_paper` sets a reproduction beside it, statistic by statistic, with the relative difference. The
paper's Avg. Attr. Length is not exactly its mean / 13 (test: 2230.8 / 13 = 171.6, printed 171.2), so it counts
attribute lengths some other way; this project's is mean / 13.

Table 2's length
----------------
The paper does not define the length it counts. `LENGTH_DEFINITIONS` holds four candidates, the first the
default: ``characters`` = len(content_description) + len(composition_analysis); ``characters_no_whitespace``
(the same without any whitespace); ``composition_only`` = len(composition_analysis); ``words`` = the number
of whitespace-separated words of both texts. Std has ddof=1; Avg. Attr. Length = mean / 13 (the attributes).
`closest_definitions` ranks the definitions by how far their train and test means fall from the reported ones;
`MATCH_TOLERANCE` is how close a definition must come before it can be said to match the paper.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from portraitcraft.attributes import ATTRIBUTE_NAMES
from portraitcraft.data import Dataset
from portraitcraft.labels import dataset_frame

N_ATTRIBUTES: Final[int] = len(ATTRIBUTE_NAMES)


LengthFunction = Callable[[str, str], int]

LENGTH_DEFINITIONS: Final[dict[str, LengthFunction]] = {
    "characters": lambda content, composition: len(content) + len(composition),
    "characters_no_whitespace": lambda content, composition: sum(
        len("".join(text.split())) for text in (content, composition)),
    "composition_only": lambda content, composition: len(composition),
    "words": lambda content, composition: len(content.split()) + len(composition.split()),
}
DEFAULT_DEFINITION: Final[str] = "characters"
LENGTH_DESCRIPTIONS: Final[dict[str, str]] = {
    "characters": "len(content_description) + len(composition_analysis)",
    "characters_no_whitespace": "characters of both texts, whitespace removed",
    "composition_only": "len(composition_analysis)",
    "words": "whitespace-separated words of both texts",
}
# What each definition counts in: lengths in characters and in words do not share an axis.
LENGTH_UNITS: Final[dict[str, str]] = {
    "characters": "characters", "characters_no_whitespace": "characters", "composition_only": "characters",
    "words": "words",
}
TABLE2_COLUMNS: Final[tuple[str, ...]] = (
    "definition", "split", "samples", "mean", "std", "median", "min", "max", "avg_attr_length")

# Table 2 of the paper (arXiv 2604.03611), as printed: one row per split, its Range as min and max.
REPORTED_TABLE2: Final[pd.DataFrame] = pd.DataFrame({
    "split": ["train", "test", "overall"],
    "samples": [4500, 500, 5000],
    "mean": [2237.0, 2230.8, 2236.4],
    "std": [251.4, 240.2, 250.3],
    "median": [2214.0, 2215.0, 2214.0],
    "min": [1459.0, 1567.0, 1459.0],
    "max": [3389.0, 3163.0, 3389.0],
    "avg_attr_length": [172.0, 171.2, 171.9],
})
TABLE2_STATISTICS: Final[tuple[str, ...]] = ("samples", "mean", "std", "median", "min", "max", "avg_attr_length")
# A definition "matches" the paper only when its split means fall within this fraction of the reported ones.
MATCH_TOLERANCE: Final[float] = 0.02


@dataclass
class LengthTable:
    """Table 2: one row per (definition, split), ``overall`` (all splits pooled) after each definition's splits."""

    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def description_lengths(dataset: Dataset, definitions: Sequence[str] = tuple(LENGTH_DEFINITIONS)) -> pd.DataFrame:
    """One row per Track 2 record with both texts: split, image_path, and one column per length definition."""
    unknown = [d for d in definitions if d not in LENGTH_DEFINITIONS]
    if unknown:
        raise ValueError(f"unknown length definition(s) {unknown}; expected some of {list(LENGTH_DEFINITIONS)}")
    texts = dataset_frame(dataset, "descriptions")
    complete = texts.dropna(subset=["content_description", "composition_analysis"])
    frame = complete[["split", "image_path"]].reset_index(drop=True)
    for name in definitions:
        function = LENGTH_DEFINITIONS[name]
        frame[name] = [
            function(c, a) for c, a in zip(complete["content_description"], complete["composition_analysis"])
        ]
    return frame


def _length_row(definition: str, split: str, values: np.ndarray) -> dict[str, Any]:
    n = int(values.size)
    mean = float(values.mean()) if n else math.nan
    return {"definition": definition, "split": split, "samples": n, "mean": mean,
            "std": float(values.std(ddof=1)) if n > 1 else math.nan,
            "median": float(np.median(values)) if n else math.nan,
            "min": float(values.min()) if n else math.nan, "max": float(values.max()) if n else math.nan,
            "avg_attr_length": mean / N_ATTRIBUTES}


def table2(dataset: Dataset, definitions: Sequence[str] = tuple(LENGTH_DEFINITIONS)) -> LengthTable:
    """Description-length statistics of Track 2 per split and overall, for each length definition."""
    lengths = description_lengths(dataset, definitions)
    notes = []
    missing = [f for f in ("track_2_train.json", "track_2_test.json") if f in dataset.missing_files]
    if missing:
        notes.append(
            f"not present: {', '.join(missing)}; Table 2 covers {', '.join(dataset.track2_splits) or 'nothing'}"
        )
    skipped = len(dataset_frame(dataset, "descriptions")) - len(lengths)
    if skipped:
        notes.append(f"{skipped} Track 2 record(s) lack a text and are left out of every definition")
    rows = []
    splits = [s for s in dataset.track2_splits if (lengths["split"] == s).any()]
    for definition in definitions:
        for split in splits:
            rows.append(
                _length_row(definition, split, lengths.loc[lengths["split"] == split, definition].to_numpy(float))
            )
        if splits:
            rows.append(_length_row(definition, "overall", lengths[definition].to_numpy(float)))
    if not splits:
        notes.append("no Track 2 description: Table 2 is empty")
    frame = pd.DataFrame(rows, columns=list(TABLE2_COLUMNS))
    frame["samples"] = frame["samples"].astype(int)
    return LengthTable(frame, notes)


def closest_definitions(table: LengthTable | pd.DataFrame, reported: pd.DataFrame = REPORTED_TABLE2) -> pd.DataFrame:
    """Rank the length definitions by the mean absolute difference of their train and test means from the reported
    ones (``overall`` pools the splits, so it is left out: it would count them twice).

    Columns: definition, splits (compared), mean_abs_difference, mean_relative_difference (of the reported
    value), matches (every compared split within `MATCH_TOLERANCE`), rank (1 = closest). Definitions with no split
    in common with ``reported`` get no rank."""
    frame = table.frame if isinstance(table, LengthTable) else table
    paper = reported[reported["split"] != "overall"]
    joined = frame.merge(paper[["split", "mean"]], on="split", suffixes=("", "_reported"))
    joined["difference"] = (joined["mean"] - joined["mean_reported"]).abs()
    joined["relative"] = joined["difference"] / joined["mean_reported"]
    ranking = (joined.groupby("definition", sort=False)
               .agg(splits=("split", lambda s: ", ".join(s)), mean_abs_difference=("difference", "mean"),
                    mean_relative_difference=("relative", "mean"), worst=("relative", "max"))
               .reset_index())
    ranking["matches"] = ranking.pop("worst") <= MATCH_TOLERANCE
    ranking = ranking.sort_values("mean_abs_difference", kind="stable").reset_index(drop=True)
    ranking["rank"] = np.arange(1, len(ranking) + 1)
    return ranking


def reported_attr_length_rule(reported: pd.DataFrame = REPORTED_TABLE2) -> pd.DataFrame:
    """The paper's printed Avg. Attr. Length beside its printed mean divided by 13 (the rule this package uses), per
    split: ``mean_over_13`` to one decimal, and whether the printed value follows the rule (it does not always)."""
    frame = reported[["split", "mean", "avg_attr_length"]].copy()
    frame["mean_over_13"] = (frame["mean"] / N_ATTRIBUTES).round(1)
    frame["follows"] = np.isclose(frame["mean_over_13"], frame["avg_attr_length"])
    return frame.reset_index(drop=True)


def compare_with_paper(table: LengthTable | pd.DataFrame, reported: pd.DataFrame = REPORTED_TABLE2) -> pd.DataFrame:
    """The reproduction beside the paper's Table 2: one row per (definition, split) present in both, with each
    statistic of `TABLE2_STATISTICS` computed, as reported (``<statistic>_reported``) and as the relative difference
    (computed - reported) / reported (``<statistic>_difference``)."""
    frame = table.frame if isinstance(table, LengthTable) else table
    joined = frame.merge(reported, on="split", suffixes=("", "_reported"))
    columns = ["definition", "split"]
    for statistic in TABLE2_STATISTICS:
        joined[f"{statistic}_difference"] = (joined[statistic] - joined[f"{statistic}_reported"]) / joined[
            f"{statistic}_reported"]
        columns += [statistic, f"{statistic}_reported", f"{statistic}_difference"]
    return joined[columns].reset_index(drop=True)


__all__ = [
    "DEFAULT_DEFINITION", "LENGTH_DEFINITIONS", "LENGTH_DESCRIPTIONS", "LENGTH_UNITS", "MATCH_TOLERANCE",
    "REPORTED_TABLE2", "reported_attr_length_rule",
    "TABLE2_COLUMNS", "TABLE2_STATISTICS", "LengthTable", "closest_definitions", "compare_with_paper",
    "description_lengths", "table2",
]
