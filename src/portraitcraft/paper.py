"""The paper's artifacts as files: Figure 2, Table 2 and Table 3 of PortraitCraft (arXiv 2604.03611) written as
CSV and JSON, what `portraitcraft report` writes.

For example::

    from portraitcraft import write_report

    # `make baseline` made this one
    write_report("data/lab", "report/",
                 ["data/lab/runs/feature-baseline.jsonl"])

The numbers come from `portraitcraft.figure2`, `portraitcraft.table2` and `portraitcraft.table3`; every one of them
returns what the data allows and says in ``notes`` what it could not do (no Track 2 file, the test labels hidden,
too few images for a density), so the report is written for a partial dataset too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from portraitcraft.data import Dataset
from portraitcraft.figure2 import attribute_correlation, figure2a, figure2b, level_distribution
from portraitcraft.outputs import write_atomic
from portraitcraft.predictions import read_predictions
from portraitcraft.provenance import json_safe, write_json
from portraitcraft.sources import open_dataset
from portraitcraft.table2 import DEFAULT_DEFINITION, LENGTH_DESCRIPTIONS, REPORTED_TABLE2, closest_definitions, table2
from portraitcraft.table3 import reproduce_table3


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return json_safe(frame.astype(object).where(frame.notna(), None).to_dict(orient="records"))


@dataclass
class ReportFiles:
    out_dir: Path
    files: list[Path]
    notes: list[str]

    def lines(self) -> list[str]:
        out = [f"wrote {len(self.files)} file(s) to {self.out_dir}: {', '.join(p.name for p in self.files)}"]
        return out + [f"note: {note}" for note in self.notes]


def write_report(
    dataset: Dataset | str | os.PathLike,
    out_dir: str | os.PathLike,
    predictions: Sequence[str | os.PathLike] = (),
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    validation_fraction: float = 0.1,
) -> ReportFiles:
    """Write every paper artifact as data into ``out_dir``.

    ``figure2a.csv`` (split, score, density) and ``figure2a_summary.csv`` (n, mean, std, median, min, max);
    ``figure2b.csv`` (13 attribute means per split), ``figure2_levels.csv``, ``figure2_correlation.csv``;
    ``table2.csv`` (definition, split, samples, mean, std, median, min, max, avg_attr_length) and
    ``table2_closest.csv``; ``table3.csv``. Each of figure2a, figure2b, table2 and table3 has a JSON twin
    holding the same rows plus what a CSV cannot: the two-sample test, the reported values, the notes.
    Submissions for the official test go to ``out_dir/submissions`` where the test labels are hidden.
    """
    if not isinstance(dataset, Dataset):
        dataset = open_dataset(dataset, reveal_ground_truth=True)
    prediction_sets = [read_predictions(p) for p in predictions]  # a bad file stops here, before any work
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    inputs = list(predictions)  # never written over

    def csv(frame: pd.DataFrame, name: str, **kwargs: Any) -> None:
        path = out / f"{name}.csv"
        write_atomic(path, frame.to_csv(**{"index": False, **kwargs}), inputs=inputs)
        written.append(path)

    def twin(name: str, content: Mapping[str, Any]) -> None:
        path = out / f"{name}.json"
        write_json(path, content, inputs=inputs)
        written.append(path)

    scores = figure2a(dataset)
    csv(scores.curves, "figure2a")
    csv(scores.summary, "figure2a_summary")
    twin("figure2a", {"curves": _records(scores.curves), "summary": _records(scores.summary),
                      "test": scores.test.as_dict() if scores.test else None, "notes": scores.notes})

    attributes = figure2b(dataset)
    levels = level_distribution(dataset)
    correlation = attribute_correlation(dataset)
    csv(attributes.means, "figure2b")
    csv(levels, "figure2_levels")
    csv(correlation.rename_axis("attribute"), "figure2_correlation", index=True)
    twin("figure2b", {"means": _records(attributes.means), "levels": _records(levels),
                      "correlation": _records(correlation.rename_axis("attribute").reset_index()),
                      "notes": attributes.notes})

    lengths = table2(dataset)
    closest = closest_definitions(lengths)
    csv(lengths.frame, "table2")
    csv(closest, "table2_closest")
    twin("table2", {"rows": _records(lengths.frame), "definitions": LENGTH_DESCRIPTIONS,
                    "default_definition": DEFAULT_DEFINITION, "reported": _records(REPORTED_TABLE2),
                    "closest": _records(closest), "notes": lengths.notes})

    methods = reproduce_table3(dataset, prediction_sets, n_bootstrap=n_bootstrap, seed=seed,
                               validation_fraction=validation_fraction, submissions_dir=out / "submissions")
    csv(methods.frame, "table3")
    twin("table3", {"rows": _records(methods.frame), "evaluated_on": methods.target.description,
                    "confidence": 0.95, "bootstrap": n_bootstrap, "seed": seed,
                    "submissions": [str(p) for p in methods.submissions], "notes": methods.notes})
    written.extend(methods.submissions)
    notes = [*scores.notes, *lengths.notes, *methods.notes]
    if dataset.errors:  # the figures are computed without the defective values: say so, with the first one
        notes.insert(0, f"{len(dataset.errors)} problem(s) in the data, their values left out of every figure and "
                        f"table; first: {dataset.errors[0]} (`portraitcraft validate` lists them all)")
    return ReportFiles(out, written, list(dict.fromkeys(notes)))


__all__ = ["ReportFiles", "write_report"]
