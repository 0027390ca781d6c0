"""How well a model's stated probabilities match how often it is right (chapter 5 of the book): reliability
tables, expected calibration error and Brier score, over the level and answer probabilities that prediction
records of the ``score`` protocol carry (and the feature baseline's, which carry them too).

For example::

    from portraitcraft.calibration import calibration, level_probabilities
    from portraitcraft.error_analysis import analyse_predictions

    run = "data/lab/runs/feature-baseline.jsonl"
    items = level_probabilities(analyse_predictions(run, "data/lab"))
    calibration(items.probabilities, items.truth).ece
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from portraitcraft.attributes import ANSWER_LETTERS, ATTRIBUTE_NAMES, LEVELS, level_word
from portraitcraft.error_analysis import ErrorAnalysis

CALIBRATION_BINS: Final[int] = 10


@dataclass(frozen=True)
class Calibration:
    """How well a model's stated probabilities match how often it is right.

    ``table``: one row per non-empty confidence bin (confidence = the largest probability, the predicted class
    its argmax; bins [k/B, (k+1)/B), the last one closed): items, mean confidence, accuracy, gap (accuracy -
    confidence). ``ece`` = sum over bins of (items / all) * ``|accuracy - confidence|``. ``brier`` = mean over items
    of sum over classes of (p - 1[true class])^2, 0 (perfect) to 2.
    """

    table: pd.DataFrame
    ece: float
    brier: float
    items: int
    accuracy: float
    mean_confidence: float
    classes: tuple[str, ...]


def calibration(probabilities: np.ndarray, truth: np.ndarray, *, n_bins: int = CALIBRATION_BINS,
                classes: Sequence[str] = LEVELS) -> Calibration:
    """Reliability table, expected calibration error and Brier score of (items, classes) probabilities whose
    rows sum to 1, against true class indices."""
    p = np.asarray(probabilities, float).reshape(-1, len(classes))
    truth = np.asarray(truth, int)
    if p.shape[0] != truth.shape[0]:
        raise ValueError(f"{p.shape[0]} probability rows but {truth.shape[0]} true classes")
    m = p.shape[0]
    columns = ["bin_low", "bin_high", "items", "confidence", "accuracy", "gap"]
    if m == 0:
        return Calibration(pd.DataFrame(columns=columns), math.nan, math.nan, 0, math.nan, math.nan, tuple(classes))
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == truth).astype(float)
    onehot = np.eye(len(classes))[truth]
    brier = float(np.mean(np.sum((p - onehot) ** 2, axis=1)))
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    rows, ece = [], 0.0
    for b in np.unique(bins):
        inside = bins == b
        conf, acc = float(confidence[inside].mean()), float(correct[inside].mean())
        rows.append({"bin_low": b / n_bins, "bin_high": (b + 1) / n_bins, "items": int(inside.sum()),
                     "confidence": conf, "accuracy": acc, "gap": acc - conf})
        ece += inside.sum() / m * abs(acc - conf)
    return Calibration(pd.DataFrame(rows, columns=columns), float(ece), brier, m, float(correct.mean()),
                       float(confidence.mean()), tuple(classes))


def _distribution(entry: object, classes: Sequence[str], read=lambda key: key) -> np.ndarray | None:
    """A probability mapping {class: p} as a vector in ``classes`` order, renormalised; None if unusable."""
    if not isinstance(entry, Mapping):
        return None
    values = {read(k): v for k, v in entry.items()}
    vector = np.array([values.get(c, np.nan) for c in classes], dtype=float)
    if not np.all(np.isfinite(vector)) or np.any(vector < 0) or vector.sum() <= 0:
        return None
    return vector / vector.sum()


@dataclass(frozen=True)
class ProbabilityItems:
    """Predicted distributions and true classes gathered from the records that carry probabilities."""

    probabilities: np.ndarray  # (items, classes)
    truth: np.ndarray  # (items,) class index
    image_paths: list[str]
    attributes: list[str]  # per item: the attribute (levels) or "answer"


def level_probabilities(errors: ErrorAnalysis) -> ProbabilityItems:
    """Every (image, attribute) whose record gives a usable Poor/Medium/Good distribution, with its true level."""
    probs, truth, images, attributes = [], [], [], []
    for i, image in enumerate(errors.truth.image_paths):
        criteria = errors.details.probabilities.get(image, {}).get("criteria")
        if not isinstance(criteria, Mapping):
            continue
        for j, name in enumerate(ATTRIBUTE_NAMES):
            vector = _distribution(criteria.get(name), LEVELS, read=lambda k: level_word(k) or k)
            if vector is not None:
                probs.append(vector)
                truth.append(errors.truth.levels[i, j])
                images.append(image)
                attributes.append(name)
    return ProbabilityItems(np.array(probs, float).reshape(-1, len(LEVELS)), np.array(truth, int), images, attributes)


def answer_probabilities(errors: ErrorAnalysis) -> ProbabilityItems:
    """Every image whose record gives a usable A-D distribution, with its true answer (none without QA)."""
    if errors.truth.answers is None:
        return ProbabilityItems(np.zeros((0, len(ANSWER_LETTERS))), np.zeros(0, int), [], [])
    probs, truth, images = [], [], []
    for image, answer in zip(errors.truth.image_paths, errors.truth.answers):
        vector = _distribution(errors.details.probabilities.get(image, {}).get("answer"), ANSWER_LETTERS,
                               read=lambda k: str(k).strip().upper())
        if vector is not None:
            probs.append(vector)
            truth.append(ANSWER_LETTERS.index(answer))
            images.append(image)
    return ProbabilityItems(np.array(probs, float).reshape(-1, len(ANSWER_LETTERS)), np.array(truth, int), images,
                            ["answer"] * len(images))


def calibration_by_attribute(items: ProbabilityItems, *, n_bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """ECE, Brier score, accuracy and mean confidence of each attribute's level probabilities."""
    rows = []
    attributes = np.array(items.attributes, dtype=object)
    for name in ATTRIBUTE_NAMES:
        inside = attributes == name
        if not inside.any():
            continue
        result = calibration(items.probabilities[inside], items.truth[inside], n_bins=n_bins)
        rows.append({"attribute": name, "items": result.items, "accuracy": result.accuracy,
                     "mean_confidence": result.mean_confidence, "ece": result.ece, "brier": result.brier})
    return pd.DataFrame(rows, columns=["attribute", "items", "accuracy", "mean_confidence", "ece", "brier"])


__all__ = [
    "CALIBRATION_BINS", "Calibration", "ProbabilityItems", "answer_probabilities", "calibration",
    "calibration_by_attribute", "level_probabilities",
]
