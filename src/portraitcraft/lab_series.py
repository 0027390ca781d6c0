"""The lab's one-factor series as tables (chapter 6 of the book): how the lab's labels, and a model's judgment,
move when one composition factor of a scene changes and nothing else does.

    steps = render_series(BASE_SCENE, SWEEPS)          # portraitcraft.lab.series
    table = series_table(steps)                        # one row per image: factor, value, scores, levels
    factor_effects(table)                              # factor x attribute: how far each score moves
    judge_series(steps, baseline_model_dir("data/lab/runs/feature-baseline.jsonl"))
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from portraitcraft.attributes import ATTRIBUTE_NAMES, LEVELS
from portraitcraft.baseline import MANIFEST_FILE, load_baseline
from portraitcraft.baseline import find_baseline_model as baseline_model_dir
from portraitcraft.data import DataError
from portraitcraft.features import DEFAULT_MAX_SIDE, extract_features


def value_label(value: Any) -> str:
    """A factor value as a short label: 0.3333 -> "0.33", True -> "yes"."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{round(value, 2):g}"
    return str(value)


def in_words(names: Sequence[str]) -> str:
    """Factor (or attribute) names in words, joined with commas and 'and': ["clutter", "global_blur"] ->
    "clutter and global blur"."""
    words = [str(n).replace("_", " ") for n in names]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def tied_at(counts: pd.Series, value: Any) -> str:
    """The name(s) in ``counts`` with this value, in bold, named as a tie where several share it."""
    tied = list(counts[counts == value].index)
    return f"**{in_words(tied)}**" + ("" if len(tied) == 1 else f" (a {len(tied)}-way tie)")


def series_table(steps: Sequence[Any]) -> pd.DataFrame:
    """One row per `portraitcraft.lab.series.SeriesStep`: factor, step, value, image, total score, and
    ``score:<attribute>`` / ``level:<attribute>`` columns."""
    rows = []
    for s in steps:
        row = {"factor": s.factor, "step": s.step, "value": value_label(s.value), "image": str(s.image),
               "total_score": s.total_score}
        row.update({f"score:{name}": s.scores[name] for name in ATTRIBUTE_NAMES})
        row.update({f"level:{name}": s.levels[name] for name in ATTRIBUTE_NAMES})
        rows.append(row)
    return pd.DataFrame(rows)


def factor_effects(table: pd.DataFrame, prefix: str = "score:") -> pd.DataFrame:
    """Factor x attribute: how far each attribute's value moves along each factor's series (max - min of the
    ``prefix`` columns: ``score:`` for the ground truth's 0-10 scores, ``expected:`` for a model's expected level)."""
    columns = [f"{prefix}{name}" for name in ATTRIBUTE_NAMES]
    grouped = table.groupby("factor", sort=False)[columns]
    effects = grouped.max() - grouped.min()
    effects.columns = list(ATTRIBUTE_NAMES)
    return effects


def moving_attributes(table: pd.DataFrame, factor: str, *, min_change: float = 1.0, top: int = 4) -> list[str]:
    """The attributes whose ground-truth score moves by at least ``min_change`` along ``factor``'s series,
    largest move first (at most ``top``)."""
    effects = factor_effects(table).loc[factor].sort_values(ascending=False)
    return list(effects[effects >= min_change].index[:top])


def judge_series(steps: Sequence[Any], model_dir: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None,
                 max_side: int | None = None) -> pd.DataFrame:
    """The feature baseline's judgment of each series image: predicted total, levels and expected level
    (sum of level code x probability, 0 Poor .. 2 Good) per attribute, in `series_table` row order.

    ``max_side`` defaults to the side the model was trained with (its manifest), so the features are measured
    as in training.
    """
    model = load_baseline(model_dir)
    side = max_side
    if side is None:
        manifest = json.loads((Path(model_dir) / MANIFEST_FILE).read_text(encoding="utf-8"))
        side = manifest.get("max_side", DEFAULT_MAX_SIDE)
    keys = [f"{s.factor}/{s.step}" for s in steps]
    table = extract_features(keys, [s.image for s in steps], max_side=side, cache_dir=cache_dir)
    if table.failures:
        first = next(iter(table.failures.items()))
        raise DataError(f"features failed for {len(table.failures)} series image(s), first {first[0]}: {first[1]}")
    judged = model.predict(table.frame.loc[keys])
    codes = np.arange(len(LEVELS), dtype=float)
    rows = []
    for i, s in enumerate(steps):
        row = {"factor": s.factor, "step": s.step, "value": value_label(s.value),
               "predicted_total": float(judged.total_score[i])}
        row.update({f"level:{name}": judged.levels[name][i] for name in ATTRIBUTE_NAMES})
        row.update({f"expected:{name}": float(judged.probabilities[name][i] @ codes) for name in ATTRIBUTE_NAMES})
        rows.append(row)
    return pd.DataFrame(rows)


__all__ = ["baseline_model_dir", "factor_effects", "in_words", "judge_series", "moving_attributes", "series_table",
           "tied_at", "value_label"]
