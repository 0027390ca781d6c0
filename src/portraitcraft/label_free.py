"""What prediction files say without labels: diagnostics of test-split predictions where the test labels are hidden.

The published test split hides its labels, so a model's test predictions cannot be scored here; they can still be
looked at. Each diagnostic compares what a file predicts with what the labelled training split holds, or two files
with each other, on the images they share (`agreement`: rank correlation and kappa of two files). For example::

    from portraitcraft.label_free import (answer_balance, invalid_fields,
                                          level_shares, score_distribution,
                                          training_reference)
    from portraitcraft.predictions import read_predictions
    from portraitcraft.sources import open_dataset

    train_scores, train_levels = training_reference(open_dataset("data/lab"))
    run = read_predictions("data/lab/runs/feature-baseline.jsonl")
    sets = [("features", run)]
    # predicted overall scores against the training split's
    score_distribution(sets, train_scores)
    # per attribute, the share of each predicted level against train's
    level_shares(sets, train_levels)
    answer_balance(sets)          # how often each answer letter is given
    invalid_fields(run)           # per field, the records without a value

None of these says whether a model is right: a model can match the training split's distributions and be wrong on
every image. They catch what goes wrong before any scoring: a model that gives everyone 70, never says Poor,
always answers A, or whose output mostly fails to parse; and, with two files, how much two runs differ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
from scipy import stats

from portraitcraft.attributes import ANSWER_LETTERS, ATTRIBUTE_NAMES, LEVELS
from portraitcraft.data import Dataset
from portraitcraft.labels import LEVEL_COLUMNS, labelled_images
from portraitcraft.metrics import quadratic_weighted_kappa
from portraitcraft.parsing import FIELDS
from portraitcraft.predictions import RECORD_FORMATS, PredictionSet, SubmissionSummary

# Below this many images, a comparison of distributions, a rank correlation or a kappa is not stated: a handful of
# images gives a number that says nothing (one image has no rank order at all).
MIN_IMAGES: Final[int] = 10


def restricted(prediction_set: PredictionSet, images: Sequence[str]) -> PredictionSet:
    """The records of ``prediction_set`` for ``images`` (in the file's order), with their problems."""
    wanted = set(images)
    rows = [i for i, name in enumerate(prediction_set.image_paths) if name in wanted]
    levels = prediction_set.levels[rows].reshape(-1, len(ATTRIBUTE_NAMES))
    return PredictionSet(prediction_set.path, prediction_set.format, [prediction_set.image_paths[i] for i in rows],
                         prediction_set.total_score[rows], levels,
                         [prediction_set.answers[i] for i in rows], [prediction_set.status[i] for i in rows],
                         [p for p in prediction_set.problems if p.image_path in wanted or p.image_path is None],
                         prediction_set.runs)


def training_reference(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The labelled training images' true overall scores and (images, 13) level codes (-1 where unknown): what
    the diagnostics compare predictions with."""
    train = labelled_images(dataset)
    train = train[train["split"] == "train"]
    if not len(train):
        return np.zeros(0), np.zeros((0, len(ATTRIBUTE_NAMES)), dtype=int)
    levels = np.column_stack([train[c].cat.codes.to_numpy() for c in LEVEL_COLUMNS]).astype(int)
    return train["total_score"].to_numpy(float), levels


def submission_problems(summary: SubmissionSummary, prediction_set: PredictionSet) -> pd.DataFrame:
    """The images a submission holds a NOT_RES or null for, in the test file's order: the record of the prediction
    file (or "no record" for a test image the file does not predict), the fields written NOT_RES / null, and the
    reader's reasons for them."""
    by_image: dict[str, list[str]] = {}
    record_of: dict[str, str] = {}
    lines = prediction_set.format in RECORD_FORMATS  # one record a line
    for problem in prediction_set.problems:
        if problem.image_path is None:
            continue
        by_image.setdefault(problem.image_path, []).append(problem.message)
        if problem.record is not None:
            record_of.setdefault(problem.image_path,
                                 f"line {problem.record + 1}" if lines else f"record {problem.record}")
    position = {name: i for i, name in enumerate(prediction_set.image_paths)}
    missing = set(summary.missing)
    rows = []
    for image, fields in summary.offending:
        if image in missing:
            record, why = "no record", "no prediction for this test image"
        else:
            i = position.get(image)
            record = record_of.get(image) or (
                (f"line {i + 1}" if lines else f"record {i}") if i is not None else "-")
            if i is not None and prediction_set.status[i] == "failed":
                record += " (failed)"
            why = "; ".join(dict.fromkeys(by_image.get(image, []))) or "-"
        shown = fields if len(fields) <= 4 else [*fields[:3], f"{len(fields) - 3} more"]
        rows.append({"image": image, "record": record, "NOT_RES / null": ", ".join(shown), "why": why})
    return pd.DataFrame(rows, columns=["image", "record", "NOT_RES / null", "why"])


def _summary(values: np.ndarray) -> dict[str, float]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return {"valid": 0, "mean": math.nan, "sd": math.nan, "min": math.nan, "median": math.nan, "max": math.nan}
    return {"valid": int(finite.size), "mean": float(finite.mean()),
            "sd": float(finite.std(ddof=1)) if finite.size > 1 else math.nan, "min": float(finite.min()),
            "median": float(np.median(finite)), "max": float(finite.max())}


def score_distribution(sets: Sequence[tuple[str, PredictionSet]], train_scores: np.ndarray) -> pd.DataFrame:
    """One row for the training split's true overall scores, then one per named prediction set: records, valid
    scores, mean, standard deviation, min, median, max, and the Kolmogorov-Smirnov distance of its valid scores to
    the training split's (0: the same distribution, 1: none in common; NaN where either side has fewer than
    `MIN_IMAGES` valid scores)."""
    train = np.asarray(train_scores, dtype=float)
    rows = [{"source": "training split (truth)", "records": int(train.size), **_summary(train), "ks": math.nan}]
    finite_train = train[np.isfinite(train)]
    for name, prediction_set in sets:
        scores = prediction_set.total_score
        finite = scores[np.isfinite(scores)]
        ks = (float(stats.ks_2samp(finite, finite_train).statistic)
              if min(finite.size, finite_train.size) >= MIN_IMAGES else math.nan)
        rows.append({"source": name, "records": len(prediction_set), **_summary(scores), "ks": ks})
    return pd.DataFrame(rows)


def _shares(codes: np.ndarray) -> dict[str, float]:
    n = codes.size
    if not n:
        return {**{level: math.nan for level in LEVELS}, "invalid": math.nan}
    shares = {level: float(np.mean(codes == k)) for k, level in enumerate(LEVELS)}
    return {**shares, "invalid": float(np.mean(codes < 0))}


def level_shares(sets: Sequence[tuple[str, PredictionSet]], train_levels: np.ndarray) -> pd.DataFrame:
    """Per attribute, the share of each level (and of invalid levels) in the training split's truth and in each
    named prediction set; ``train_levels`` is (images, 13) level codes, -1 where unknown (left out of train's
    shares). Long format: attribute, source, Poor, Medium, Good, invalid, and ``difference``: half the sum of the
    absolute differences of the three level shares from train's (total variation: 0 the same mix, 1 disjoint; NaN
    below `MIN_IMAGES` valid levels on either side)."""
    train_levels = np.asarray(train_levels, dtype=int).reshape(-1, len(ATTRIBUTE_NAMES))
    rows = []
    for j, attribute in enumerate(ATTRIBUTE_NAMES):
        known = train_levels[:, j][train_levels[:, j] >= 0]
        reference = _shares(known)
        rows.append({"attribute": attribute, "source": "training split (truth)", **reference, "difference": 0.0})
        for name, prediction_set in sets:
            shares = _shares(prediction_set.levels[:, j])
            valid = 1.0 - shares["invalid"] if np.isfinite(shares["invalid"]) else math.nan
            # the mix among valid predictions, against train's
            mix = [shares[level] / valid if valid else math.nan for level in LEVELS]
            counted_valid = int(np.sum(prediction_set.levels[:, j] >= 0))
            difference = (0.5 * sum(abs(m - reference[level]) for m, level in zip(mix, LEVELS))
                          if min(counted_valid, known.size) >= MIN_IMAGES else math.nan)
            rows.append({"attribute": attribute, "source": name, **shares, "difference": difference})
    return pd.DataFrame(rows)


def answer_balance(sets: Sequence[tuple[str, PredictionSet]]) -> pd.DataFrame:
    """How often each named prediction set answers each letter A-D, and how many answers are invalid: one row per
    set (counts), with the most frequent letter and its share among valid answers (None and NaN without any), and
    ``p_even``, the chi-square goodness-of-fit p-value of the four counts against an even spread (NaN without
    answers). The right letters are hidden, so an uneven spread is a hint of a letter habit, not proof of one."""
    rows = []
    for name, prediction_set in sets:
        answers = list(prediction_set.answers)
        counts = {letter: sum(a == letter for a in answers) for letter in ANSWER_LETTERS}
        valid = sum(counts.values())
        top = max(counts, key=counts.get) if valid else None
        p_even = float(stats.chisquare(list(counts.values())).pvalue) if valid else math.nan
        rows.append({"source": name, **counts, "invalid": len(answers) - valid, "valid": valid, "top": top,
                     "top_share": counts[top] / valid if top else math.nan, "p_even": p_even})
    return pd.DataFrame(rows)


def invalid_fields(prediction_set: PredictionSet) -> pd.DataFrame:
    """Per field (total_score, answer, then the 13 attributes), the records without a valid value and their share;
    failed records (no usable output) count invalid in every field."""
    n = len(prediction_set)
    invalid = {"total_score": int(np.sum(~np.isfinite(prediction_set.total_score))),
               "answer": sum(a is None for a in prediction_set.answers)}
    for j, attribute in enumerate(ATTRIBUTE_NAMES):
        invalid[attribute] = int(np.sum(prediction_set.levels[:, j] < 0))
    return pd.DataFrame({"field": list(FIELDS), "invalid": [invalid[f] for f in FIELDS],
                         "share": [invalid[f] / n if n else math.nan for f in FIELDS]})


@dataclass
class Agreement:
    """Two prediction files on the images both predict."""

    common: int  # images both files predict
    only_first: int
    only_second: int
    score_pairs: int  # common images where both scores are valid
    spearman: float  # rank correlation of the two files' overall scores (NaN: undefined or too few images)
    per_attribute: pd.DataFrame  # attribute, both_valid, agreement (share of equal levels), kappa (quadratic)
    answer_pairs: int
    answer_agreement: float
    too_few: bool  # fewer than MIN_IMAGES common images: correlations and kappas not stated


def agreement(first: PredictionSet, second: PredictionSet) -> Agreement:
    """How much two prediction files agree on the images both predict: Spearman's rank correlation of their
    overall scores, and per attribute the share of equal levels and the quadratic-weighted kappa (agreement beyond
    chance; 1 perfect, 0 chance), each over the images where both values are valid. Below `MIN_IMAGES`
    common images the correlation and the kappas are NaN (``too_few``); the shares of equal levels are kept."""
    row_of = {name: i for i, name in enumerate(second.image_paths)}
    common = [(i, row_of[name]) for i, name in enumerate(first.image_paths) if name in row_of]
    a = np.array([i for i, _ in common], dtype=int)
    b = np.array([k for _, k in common], dtype=int)
    too_few = len(common) < MIN_IMAGES
    scores_a, scores_b = first.total_score[a], second.total_score[b]
    both = np.isfinite(scores_a) & np.isfinite(scores_b)
    spearman = math.nan
    if not too_few and both.sum() >= MIN_IMAGES and np.ptp(scores_a[both]) and np.ptp(scores_b[both]):
        spearman = float(stats.spearmanr(scores_a[both], scores_b[both]).statistic)
    rows = []
    for j, attribute in enumerate(ATTRIBUTE_NAMES):
        levels_a, levels_b = first.levels[a, j], second.levels[b, j]
        valid = (levels_a >= 0) & (levels_b >= 0)
        share = float(np.mean(levels_a[valid] == levels_b[valid])) if valid.any() else math.nan
        kappa = (quadratic_weighted_kappa(levels_a[valid], levels_b[valid])
                 if not too_few and valid.sum() >= MIN_IMAGES else math.nan)
        rows.append({"attribute": attribute, "both_valid": int(valid.sum()), "agreement": share, "kappa": kappa})
    answers = [(first.answers[i], second.answers[k]) for i, k in common
               if first.answers[i] is not None and second.answers[k] is not None]
    answer_agreement = float(np.mean([x == y for x, y in answers])) if answers else math.nan
    return Agreement(len(common), len(first) - len(common), len(second) - len(common), int(both.sum()), spearman,
                     pd.DataFrame(rows), len(answers), answer_agreement, too_few)


__all__ = ["MIN_IMAGES", "Agreement", "agreement", "answer_balance", "invalid_fields", "level_shares",
           "restricted", "score_distribution", "submission_problems", "training_reference"]
