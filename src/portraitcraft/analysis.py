"""What the book's last chapters compute: where a Track 1 model goes wrong (chapter 5), how the lab's labels and a
model's judgment move when one composition factor changes (chapter 6), and the record that lets a reader rerun
the book (chapter 7).

    errors = analyse_predictions("data/lab/runs/feature-baseline.jsonl", "data/lab")
    attribute_accuracy(errors.predicted_levels, errors.truth.levels)     # accuracy per attribute, bootstrap CIs
    hardest_images(errors.frame(), top=5)                               # most wrong levels, then largest score error

Every metric comes from `portraitcraft.metrics` (the scorer's own functions); this module only arranges them per
attribute, per image and per bin. Levels are codes 0 Poor, 1 Medium, 2 Good and -1 for an invalid prediction,
which counts wrong everywhere, as in the scorer.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from portraitcraft import metrics
from portraitcraft.attributes import ANSWER_LETTERS, ATTRIBUTE_KEYS, ATTRIBUTE_NAMES, LEVELS, level_word
from portraitcraft.data import (
    FACTORS_FILE,
    GROUND_TRUTH_FILE,
    TRACK_FILE,
    DataError,
    Dataset,
    index_images,
    open_dataset,
)
from portraitcraft.evaluation import EvaluationReport, GroundTruth, align, evaluate
from portraitcraft.predictions import PredictionFileError, PredictionSet, image_name, read_predictions

INVALID = metrics.INVALID_LEVEL
N_ATTRIBUTES: Final[int] = len(ATTRIBUTE_NAMES)
# Overall-score bins for the error-against-truth table: the lab's totals lie in about 45-85, the real ones in 1-100.
SCORE_BINS: Final[tuple[float, ...]] = (0, 40, 50, 60, 70, 80, 101)
CALIBRATION_BINS: Final[int] = 10
# Each bootstrap chunk holds at most this many (resample, image) counts: bounded memory at 50,000 images.
_BOOTSTRAP_CELLS: Final[int] = 20_000_000


# --- what the scorer does not keep: raw text, probabilities, parser failures, timings ----------------------------

@dataclass
class PredictionDetails:
    """Per image (bare file name), the fields of a prediction record that the scorer does not read.

    Only the project's JSON Lines carry them; the submission and raw formats give empty mappings.
    """

    path: Path
    raw_text: dict[str, str | None] = field(default_factory=dict)
    probabilities: dict[str, dict[str, Any]] = field(default_factory=dict)  # records that carry any
    failures: dict[str, dict[str, str]] = field(default_factory=dict)  # field -> the parser's reason
    errors: dict[str, str] = field(default_factory=dict)  # failed records: why
    seconds: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, dict[str, int]] = field(default_factory=dict)


def _records(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise PredictionFileError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        if text.lstrip().startswith("["):
            return json.loads(text)
        return [json.loads(line) for line in text.split("\n") if line.strip()]
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        raise PredictionFileError(f"{path}: invalid JSON: {exc}") from exc


def read_prediction_details(path: str | os.PathLike) -> PredictionDetails:
    """Raw text, probabilities, parser failures, seconds and tokens of each record of a prediction file."""
    path = Path(path)
    details = PredictionDetails(path)
    for rec in _records(path):
        name = image_name(rec.get("image_path")) if isinstance(rec, dict) else None
        if name is None:
            continue  # read_predictions names such a record; details are optional
        details.raw_text[name] = rec.get("raw_text") if isinstance(rec.get("raw_text"), str) else None
        if isinstance(rec.get("probabilities"), dict):
            details.probabilities[name] = rec["probabilities"]
        parsed = rec.get("parsed")
        if isinstance(parsed, dict) and isinstance(parsed.get("failures"), dict):
            details.failures[name] = {str(k): str(v) for k, v in parsed["failures"].items()}
        if rec.get("status") == "failed":
            details.errors[name] = str(rec.get("error"))
        seconds = rec.get("seconds")
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and math.isfinite(seconds):
            details.seconds[name] = float(seconds)
        if isinstance(rec.get("tokens"), dict):
            details.tokens[name] = {k: v for k, v in rec["tokens"].items() if isinstance(v, int)}
    return details


# --- ground truth from the data layer ----------------------------------------------------------------------------

@dataclass
class LabelledImages:
    """The labels of some images as the data layer reads them: GroundTruth for the scorer, plus the 0-10
    attribute scores and the annotators' reasons."""

    truth: GroundTruth
    attribute_scores: np.ndarray  # (n, 13), NaN where the label was a level without a score
    reasons: pd.DataFrame  # index image_path, one column per attribute
    unlabelled: list[str]  # asked-for images the data does not label (hidden test labels, unknown names)


def labelled_images(dataset: Dataset, image_paths: Sequence[str]) -> LabelledImages:
    """Ground truth of the images in ``image_paths`` that the dataset labels, in that order.

    Test labels hidden in the published file count as unlabelled, unless the dataset was opened with
    ``reveal_ground_truth=True`` and holds the lab's ground-truth file. Answers are kept only when every
    labelled image has one (QA needs all or none, as in the scorer).
    """
    images = dataset.images().drop_duplicates("image_path").set_index("image_path")
    level_columns = [f"{key}_level" for key in ATTRIBUTE_KEYS]
    known = images[~images["labels_hidden"] & images["total_score"].notna() & images[level_columns].notna().all(axis=1)]
    wanted = list(dict.fromkeys(image_paths))
    names = [name for name in wanted if name in known.index]
    rows = known.loc[names]
    levels = np.column_stack([rows[c].map(LEVELS.index).to_numpy(dtype=int) for c in level_columns]) if names else (
        np.zeros((0, N_ATTRIBUTES), dtype=int))
    scores = rows[[f"{key}_score" for key in ATTRIBUTE_KEYS]].to_numpy(dtype=float).reshape(-1, N_ATTRIBUTES)
    questions = dataset.questions().drop_duplicates("image_path").set_index("image_path")["answer"]
    answers = [questions.get(name) for name in names]
    has_answers = bool(names) and all(isinstance(a, str) for a in answers)
    attributes = dataset.attributes()
    attributes = attributes[attributes["image_path"].isin(set(names))]
    reasons = (attributes.pivot(index="image_path", columns="attribute", values="reason")
               .reindex(index=names, columns=list(ATTRIBUTE_NAMES)))
    where = dataset.root / GROUND_TRUTH_FILE if dataset.ground_truth_revealed else dataset.root
    forms = ("0-10 scores",) if np.isfinite(scores).all() else ("levels",)
    truth = GroundTruth(where, names, rows["total_score"].to_numpy(dtype=float), levels,
                        answers if has_answers else None, forms)
    return LabelledImages(truth, scores, reasons, [name for name in wanted if name not in known.index])


# --- one model's errors ------------------------------------------------------------------------------------------

@dataclass
class ErrorAnalysis:
    """One prediction file laid over the labels of the images it predicts (row i = ``truth.image_paths[i]``)."""

    name: str
    predictions: PredictionSet
    details: PredictionDetails
    labels: LabelledImages
    report: EvaluationReport  # the scorer's own report on these images
    predicted_levels: np.ndarray  # (n, 13) codes, -1 invalid or missing
    predicted_score: np.ndarray  # (n,) NaN where invalid

    @property
    def truth(self) -> GroundTruth:
        return self.labels.truth

    @property
    def unlabelled(self) -> list[str]:
        return self.labels.unlabelled

    def __len__(self) -> int:
        return len(self.truth)

    def frame(self) -> pd.DataFrame:
        """One row per analysed image: scores, levels right / invalid, and the absolute score error."""
        right = self.predicted_levels == self.truth.levels
        invalid = self.predicted_levels == INVALID
        return pd.DataFrame({
            "image_path": self.truth.image_paths,
            "true_score": self.truth.total_score,
            "predicted_score": self.predicted_score,
            "abs_error": np.abs(self.predicted_score - self.truth.total_score),
            "levels_wrong": (~right).sum(axis=1),
            "levels_invalid": invalid.sum(axis=1),
        })


def analyse_predictions(predictions: PredictionSet | str | os.PathLike, dataset: Dataset | str | os.PathLike, *,
                        n_bootstrap: int = 1000, seed: int = 0, confidence: float = 0.95,
                        name: str | None = None) -> ErrorAnalysis:
    """Read a prediction file, find the labels of its images in ``dataset`` and score them with the scorer.

    The analysed images are those the file predicts and the data labels (the lab's test labels are read from its
    ground-truth file); the others are listed in ``unlabelled``. Raises DataError when none is labelled.
    """
    if not isinstance(predictions, PredictionSet):
        predictions = read_predictions(predictions)
    if not isinstance(dataset, Dataset):
        dataset = open_dataset(dataset, reveal_ground_truth=True)
    elif not dataset.ground_truth_revealed and (dataset.root / GROUND_TRUTH_FILE).is_file():
        dataset = open_dataset(dataset.root, reveal_ground_truth=True)
    labels = labelled_images(dataset, predictions.image_paths)
    if not labels.truth.image_paths:
        raise DataError(f"{predictions.path}: none of its {len(predictions)} images has labels in {dataset.root} "
                        "(test labels are hidden unless the root holds the lab's ground-truth file)")
    report = evaluate(predictions, labels.truth, n_bootstrap=n_bootstrap, seed=seed, confidence=confidence)
    aligned = align(predictions, labels.truth)
    return ErrorAnalysis(name or Path(predictions.path).stem, predictions, read_prediction_details(predictions.path),
                         labels, report, aligned.levels, aligned.predicted_score)


# --- per attribute -----------------------------------------------------------------------------------------------

def attribute_accuracy(predicted: np.ndarray, truth: np.ndarray, *, n_resamples: int = 1000, seed: int = 0,
                       confidence: float = 0.95, names: Sequence[str] = ATTRIBUTE_NAMES) -> pd.DataFrame:
    """Per attribute: accuracy with a percentile-bootstrap interval (resampling images, as the scorer does),
    macro-F1, quadratic-weighted kappa, valid predictions, and the accuracy of always answering the most common
    true level (``majority``: what an attribute's accuracy must beat to mean anything).
    """
    predicted, truth = np.asarray(predicted, int), np.asarray(truth, int)
    n = truth.shape[0]
    table = metrics.per_attribute_table(predicted, truth, tuple(names))
    right = (predicted == truth).astype(float)
    low = np.full(len(names), np.nan)
    high = np.full(len(names), np.nan)
    if n and n_resamples:
        indices = metrics.resample_indices(n, n_resamples, seed)
        samples = np.empty((n_resamples, len(names)))
        chunk = max(1, _BOOTSTRAP_CELLS // n)
        for start in range(0, n_resamples, chunk):
            counts = metrics.resample_counts(indices[start:start + chunk], n)
            samples[start:start + chunk] = np.einsum("bn,nk->bk", counts, right) / n
        for j in range(len(names)):
            interval = metrics.percentile_interval(samples[:, j], confidence)
            low[j], high[j] = interval.low, interval.high
    table.insert(table.columns.get_loc("accuracy") + 1, "low", low)
    table.insert(table.columns.get_loc("low") + 1, "high", high)
    counts = np.stack([(truth == k).sum(axis=0) for k in range(len(LEVELS))]) if n else np.zeros((len(LEVELS), len(names)))
    table["majority"] = counts.max(axis=0) / n if n else np.nan
    return table


def confusion_shares(confusion: pd.DataFrame) -> pd.DataFrame:
    """`metrics.confusion_table` with each row (true level of an attribute) divided by its count; NaN rows
    where a true level never occurs."""
    totals = confusion.sum(axis=1)
    return confusion.div(totals.where(totals > 0), axis=0)


def attribute_tracking(predicted: np.ndarray, truth: np.ndarray, names: Sequence[str] = ATTRIBUTE_NAMES) -> pd.DataFrame:
    """Quadratic-weighted kappa of each attribute's predicted levels (rows) against each attribute's true levels
    (columns), over the valid predictions. The diagonal is the ordinary per-attribute kappa; an off-diagonal cell
    higher than its row's diagonal means the model's levels for that attribute follow another attribute's truth.
    """
    predicted, truth = np.asarray(predicted, int), np.asarray(truth, int)
    k = len(names)
    kappa = np.array([[metrics.quadratic_weighted_kappa(predicted[:, a], truth[:, b]) for b in range(k)]
                      for a in range(k)])
    return pd.DataFrame(kappa, index=pd.Index(list(names), name="predicted"), columns=pd.Index(list(names), name="true"))


def error_correlation(predicted: np.ndarray, truth: np.ndarray, names: Sequence[str] = ATTRIBUTE_NAMES) -> pd.DataFrame:
    """Pearson correlation between attributes of the per-image signed level error (predicted - true code), over
    the images where both predictions are valid. High values: the model errs on the two together."""
    predicted, truth = np.asarray(predicted, int), np.asarray(truth, int)
    errors = np.where(predicted == INVALID, np.nan, (predicted - truth).astype(float))
    return pd.DataFrame(errors, columns=list(names)).corr(min_periods=2)


def confused_attributes(predicted: np.ndarray, truth: np.ndarray, names: Sequence[str] = ATTRIBUTE_NAMES) -> pd.DataFrame:
    """Attributes whose predicted levels track another attribute's truth better than their own.

    One row per such attribute (``predicted``), naming the attribute it tracks best (``tracks``): both kappas,
    their difference (``excess``, largest first), how alike the two truths are (kappa between them: a model that
    confuses two attributes whose truths agree anyway loses little) and the correlation of their errors.
    """
    tracking = attribute_tracking(predicted, truth, names).to_numpy()
    truth_agreement = attribute_tracking(truth, truth, names).to_numpy()
    errors = error_correlation(predicted, truth, names).to_numpy()
    rows = []
    for a, name in enumerate(names):
        others = tracking[a].copy()
        others[a] = np.nan
        if not np.isfinite(others).any():
            continue
        b = int(np.nanargmax(others))
        own = tracking[a, a]
        if np.isfinite(own) and others[b] <= own:
            continue
        rows.append({"predicted": name, "tracks": names[b], "kappa_own": own, "kappa_tracked": others[b],
                     "excess": others[b] - own if np.isfinite(own) else np.nan,
                     "truth_agreement": truth_agreement[a, b], "error_correlation": errors[a, b]})
    columns = ["predicted", "tracks", "kappa_own", "kappa_tracked", "excess", "truth_agreement", "error_correlation"]
    return (pd.DataFrame(rows, columns=columns).sort_values("excess", ascending=False, na_position="first")
            .reset_index(drop=True))


# --- scores and images -------------------------------------------------------------------------------------------

def score_error_by_truth(predicted_score: np.ndarray, true_score: np.ndarray, *,
                         levels_wrong: np.ndarray | None = None, bins: Sequence[float] = SCORE_BINS) -> pd.DataFrame:
    """Absolute error of the overall score in bins of the true score: images, valid scores, mean and median
    absolute error, bias (mean predicted - true: > 0 the model scores too high) and, given ``levels_wrong``
    (per image), the mean number of wrong levels. Bins are left-closed: [40, 50) is "40-49"."""
    predicted_score, true_score = np.asarray(predicted_score, float), np.asarray(true_score, float)
    edges = list(bins)
    labels = [f"<{edges[1]:g}" if lo <= 0 else (f"{lo:g}+" if i == len(edges) - 2 else f"{lo:g}-{edges[i + 1] - 1:g}")
              for i, lo in enumerate(edges[:-1])]
    frame = pd.DataFrame({
        "bin": pd.cut(true_score, edges, right=False, labels=labels),
        "true": true_score, "predicted": predicted_score,
        "abs_error": np.abs(predicted_score - true_score), "signed_error": predicted_score - true_score,
        "levels_wrong": np.asarray(levels_wrong, float) if levels_wrong is not None else np.nan,
    })
    grouped = frame.groupby("bin", observed=False)
    table = pd.DataFrame({
        "images": grouped.size(),
        "valid": grouped["predicted"].count(),
        "mean_true": grouped["true"].mean(),
        "mean_predicted": grouped["predicted"].mean(),
        "mae": grouped["abs_error"].mean(),
        "median_ae": grouped["abs_error"].median(),
        "bias": grouped["signed_error"].mean(),
    })
    if levels_wrong is not None:
        table["levels_wrong"] = grouped["levels_wrong"].mean()
    return table.reset_index()


def hardest_images(frame: pd.DataFrame, *, top: int = 5, by: str = "levels") -> pd.DataFrame:
    """The ``top`` rows of an `ErrorAnalysis.frame` a model got most wrong.

    ``by="levels"``: most wrong levels first, then the largest absolute score error; ``by="score"``: the largest
    score error first, then the most wrong levels. An invalid score (NaN error) sorts after every valid one; ties
    keep the frame's order.
    """
    if by not in ("levels", "score"):
        raise ValueError(f"by={by!r}: expected 'levels' or 'score'")
    error = frame["abs_error"].to_numpy(dtype=float)
    no_error = ~np.isfinite(error)
    wrong = frame["levels_wrong"].to_numpy(dtype=float)
    order_in = np.arange(len(frame))
    error_key = np.where(no_error, 0.0, -error)
    # np.lexsort sorts by the last key first.
    keys = (order_in, error_key, no_error, -wrong) if by == "levels" else (order_in, -wrong, error_key, no_error)
    order = np.lexsort(keys)
    return frame.iloc[order[:top]].reset_index(drop=True)


def image_attributes(errors: ErrorAnalysis, image_path: str) -> pd.DataFrame:
    """The 13 attributes of one analysed image: true score and level, predicted level, right or not, and the
    annotators' reason."""
    row = errors.truth.image_paths.index(image_path)
    names = np.array([*LEVELS, "invalid"], dtype=object)  # code -1 indexes "invalid"
    predicted = errors.predicted_levels[row]
    reasons = errors.labels.reasons.loc[image_path] if image_path in errors.labels.reasons.index else pd.Series(dtype=object)
    return pd.DataFrame({
        "attribute": list(ATTRIBUTE_NAMES),
        "score": errors.labels.attribute_scores[row],
        "level": names[errors.truth.levels[row]],
        "predicted": names[predicted],
        "right": predicted == errors.truth.levels[row],
        "reason": [reasons.get(name) for name in ATTRIBUTE_NAMES],
    })


# --- parse failures ----------------------------------------------------------------------------------------------

FIELDS: Final[tuple[str, ...]] = ("total_score", "answer", *ATTRIBUTE_NAMES)


def _problem_field(message: str) -> tuple[str | None, str]:
    """(field, reason) of a PredictionSet problem message, e.g. "'Sharpness': NOT_RES: invalid"."""
    for name in ATTRIBUTE_NAMES:
        prefix = f"{name!r}: "
        if message.startswith(prefix):
            return name, message[len(prefix):].removesuffix(": invalid")
    for name in ("total_score", "answer"):
        if message.startswith(name + " "):
            return name, message[len(name) + 1:].rsplit(": ", 1)[0]
    return None, message


def parse_failures(predictions: PredictionSet, details: PredictionDetails | None = None) -> pd.DataFrame:
    """Per field (total_score, answer, each attribute): how many records hold no valid value, how many of those
    are failed records (no usable output at all), and the reasons, most frequent first.

    Reasons come from the parser (``parsed.failures`` of the project's JSON Lines) where it gave one, else from the
    reader's note on the value (`PredictionSet.problems`).
    """
    n = len(predictions)
    failed = np.array([s == "failed" for s in predictions.status], dtype=bool)
    invalid = {"total_score": ~np.isfinite(predictions.total_score),
               "answer": np.array([a is None for a in predictions.answers], dtype=bool)}
    for j, name in enumerate(ATTRIBUTE_NAMES):
        invalid[name] = predictions.levels[:, j] == INVALID
    noted: dict[tuple[str, str], str] = {}
    for problem in predictions.problems:
        field_name, reason = _problem_field(problem.message)
        if field_name and problem.image_path:
            noted[(problem.image_path, field_name)] = reason
    rows = []
    for field_name in FIELDS:
        mask = invalid[field_name]
        reasons: Counter[str] = Counter()
        for i in np.flatnonzero(mask):
            image = predictions.image_paths[i]
            if failed[i]:
                reasons["failed record"] += 1
                continue
            parser = details.failures.get(image, {}).get(field_name) if details else None
            reasons[parser or noted.get((image, field_name), "invalid")] += 1
        rows.append({"field": field_name, "invalid": int(mask.sum()), "records": n,
                     "share": mask.sum() / n if n else np.nan, "failed_records": int((mask & failed).sum()),
                     "reasons": ", ".join(f"{r} ({c})" for r, c in reasons.most_common())})
    return pd.DataFrame(rows)


# --- calibration -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Calibration:
    """How well a model's stated probabilities match how often it is right.

    ``table``: one row per non-empty confidence bin (confidence = the largest probability, the predicted class
    its argmax; bins [k/B, (k+1)/B), the last one closed): items, mean confidence, accuracy, gap (accuracy -
    confidence). ``ece`` = sum over bins of (items / all) * |accuracy - confidence|. ``brier`` = mean over items
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


# --- the lab's one-factor series (chapter 6) ---------------------------------------------------------------------

def value_label(value: Any) -> str:
    """A factor value as a short label: 0.3333 -> "0.33", True -> "yes"."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{round(value, 2):g}"
    return str(value)


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


def baseline_model_dir(predictions: str | os.PathLike) -> Path | None:
    """The saved feature-baseline model that wrote a prediction file: the folder named in its records' ``run``
    block, else ``<file>.model`` beside it; None when the file is not the feature baseline's or the model is gone."""
    from portraitcraft.baseline import MANIFEST_FILE, default_model_dir

    path = Path(predictions)
    candidates = []
    try:
        runs = read_predictions(path).runs
    except (PredictionFileError, DataError):
        return None
    for run in runs:
        if run.get("backend") == "features" and isinstance(run.get("model"), str):
            candidates.append(Path(run["model"].rsplit("#", 1)[0]))
    if not candidates:
        return None
    candidates.append(default_model_dir(path))
    return next((c for c in candidates if (c / MANIFEST_FILE).is_file()), None)


def judge_series(steps: Sequence[Any], model_dir: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None,
                 max_side: int | None = None) -> pd.DataFrame:
    """The feature baseline's judgment of each series image: predicted total, levels and expected level
    (sum of level code x probability, 0 Poor .. 2 Good) per attribute, in `series_table` row order.

    ``max_side`` defaults to the side the model was trained with (its manifest), so the features are measured
    as in training.
    """
    from portraitcraft.baseline import MANIFEST_FILE, load_baseline
    from portraitcraft.features import DEFAULT_MAX_SIDE, extract_features

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


# --- performance and reproducibility (chapter 7) ----------------------------------------------------------------

def prediction_timing(details: PredictionDetails) -> dict[str, Any]:
    """Seconds per image recorded in a prediction file (and tokens where recorded): count, total, mean, median,
    95th percentile."""
    seconds = np.array(list(details.seconds.values()), float)
    out: dict[str, Any] = {"file": str(details.path), "records_with_seconds": int(seconds.size)}
    if seconds.size:
        out.update(total_s=float(seconds.sum()), mean_s=float(seconds.mean()), median_s=float(np.median(seconds)),
                   p95_s=float(np.percentile(seconds, 95)))
    generated = [t["generated"] for t in details.tokens.values() if "generated" in t]
    if generated:
        out["mean_generated_tokens"] = float(np.mean(generated))
    return out


def page_durations(executed_dir: str | os.PathLike) -> pd.DataFrame:
    """How long each executed notebook of the book took (papermill's own record in the notebook's metadata)."""
    rows = []
    for path in sorted(Path(executed_dir).glob("*.ipynb")):
        try:
            meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("papermill", {})
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(meta.get("duration"), (int, float)):
            rows.append({"page": path.stem, "seconds": float(meta["duration"]), "finished": meta.get("end_time")})
    return pd.DataFrame(rows, columns=["page", "seconds", "finished"])


def benchmark_table(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """The numbers of JSON files written by ``scripts/bench_*.py --json``, flattened: file, measure, value."""
    rows = []

    def walk(prefix: str, value: Any, file: str) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner, file)
        elif isinstance(value, (int, float, str, bool)) or value is None:
            rows.append({"file": file, "measure": prefix, "value": value})

    for path in paths:
        path = Path(path)
        try:
            walk("", json.loads(path.read_text(encoding="utf-8")), path.name)
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"{path}: not a benchmark JSON file ({exc})") from exc
    return pd.DataFrame(rows, columns=["file", "measure", "value"])


GPU_BENCHMARK_COLUMNS: Final[dict[str, str]] = {  # result field -> column; the order is the table's
    "setting": "setting",  # scripts/gpu_bench_finetune.py
    "workload": "workload", "protocol": "protocol", "implementation": "path",  # scripts/gpu_bench_qwen.py
    "batch_size": "batch", "precision": "precision",
    "status": "status",
    "images_per_second": "images/s", "speedup": "x reference", "seconds_per_batch": "s/batch",
    "seconds_per_step": "s/step", "ms_per_token": "ms/token", "model_peak_fraction": "share of matmul peak",
    "prompt_tokens": "prompt tokens", "generated_tokens": "generated", "tokens_per_image": "tokens/image",
    "trainable_parameters": "trainable", "peak_memory_gib": "peak GiB",
}


@dataclass(frozen=True)
class GpuBenchmark:
    """A measurement written by ``scripts/gpu_bench_qwen.py`` or ``scripts/gpu_bench_finetune.py``."""

    path: Path
    results: pd.DataFrame  # one row per measured setting, the columns named as the book shows them
    what: str
    gpu: str
    packages: dict[str, Any]
    measured_at: str | None = None  # written by the scripts since 2026-11-27

    def shared(self) -> dict[str, Any]:
        """Columns with one value in every row (with several rows), said once in the caption instead."""
        if len(self.results) < 2:
            return {}
        return {c: self.results[c].iloc[0] for c in self.results.columns
                if c != "status" and self.results[c].nunique(dropna=False) == 1}

    def table(self) -> pd.DataFrame:
        """The results as the book shows them, narrow enough for a page: without the shared columns, and with the
        status column only when a setting failed."""
        dropped = list(self.shared())
        if (self.results["status"] == "ok").all():
            dropped.append("status")
        return self.results.drop(columns=dropped)

    def describe(self) -> str:
        """One sentence for a caption: what ran, where, when, with which versions, from which file."""
        versions = ", ".join(f"{name} {self.packages[name]}" for name in ("torch", "transformers")
                             if self.packages.get(name))
        when = f" on {self.measured_at[:10]}" if self.measured_at else ""
        shared = ", ".join(f"{column} {value}" for column, value in self.shared().items())
        shared = f"; in every row: {shared}" if shared else ""
        return f"{self.what}, measured on {self.gpu}{when} ({versions}), file {self.path.name}{shared}"


def read_gpu_benchmark(path: str | os.PathLike) -> GpuBenchmark:
    """Read one GPU benchmark JSON; a file that is not one raises DataError naming it."""
    path = Path(path)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a GPU benchmark JSON file ({exc})") from exc
    if not isinstance(report, dict) or not isinstance(report.get("results"), list) or not report["results"]:
        raise DataError(f"{path}: not a GPU benchmark JSON file (no 'results' list; "
                        "expected the --out file of scripts/gpu_bench_qwen.py or scripts/gpu_bench_finetune.py)")
    results = pd.DataFrame(report["results"])
    if "grad_accum" in results.columns:  # fine-tuning: images per pass x passes per optimizer step
        results["batch_size"] = [f"{b} x {g}" for b, g in zip(results["batch_size"], results["grad_accum"])]
    if "tokens_per_image" in results.columns:
        results["tokens_per_image"] = results["tokens_per_image"].round().astype("Int64")
    shown = [c for c in GPU_BENCHMARK_COLUMNS if c in results.columns]
    results = results[shown].rename(columns=GPU_BENCHMARK_COLUMNS)
    if "trainable" in results.columns:
        results["trainable"] = results["trainable"].map(lambda n: f"{n / 1e9:.2f} B")
    return GpuBenchmark(path=path, results=results, what=str(report.get("what", "GPU benchmark")),
                        gpu=str(report.get("gpu") or report.get("device", "an unnamed device")),
                        packages=dict(report.get("packages") or {}), measured_at=report.get("measured_at"))


DEFAULT_PACKAGES: Final[tuple[str, ...]] = (
    "portraitcraft", "numpy", "pandas", "scipy", "scikit-learn", "opencv-contrib-python-headless", "pillow",
    "pyarrow", "plotly", "matplotlib", "seaborn", "papermill", "jupytext", "jupyter-book", "sphinx", "nbval",
    "torch", "transformers",
)


def package_versions(names: Iterable[str] = DEFAULT_PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution; None where it is not installed."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_fingerprint(root: str | os.PathLike) -> dict[str, Any]:
    """A fingerprint of a PortraitCraft root: the SHA-256 of each track JSON file (and of the lab's ground-truth
    and factors files where present), one SHA-256 over those (file names and digests, sorted), and the number of
    images in the ``images_NN`` folders. The same files and image count give the same fingerprint anywhere."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    names = sorted(p.name for p in root.iterdir()
                   if p.is_file() and (TRACK_FILE.match(p.name) or p.name in (GROUND_TRUTH_FILE, FACTORS_FILE)))
    files = {name: {"sha256": file_sha256(root / name), "bytes": (root / name).stat().st_size} for name in names}
    combined = hashlib.sha256("".join(f"{n}\0{files[n]['sha256']}\n" for n in names).encode()).hexdigest()
    images, _ = index_images(root)
    return {"root": str(root), "sha256": combined, "images": len(images), "files": files}


def prediction_fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    """A prediction file's digest, format, record count and run configuration(s) (the ``run`` blocks)."""
    predictions = read_predictions(path)
    return {"path": str(path), "sha256": file_sha256(path), "format": predictions.format,
            "records": len(predictions), "runs": predictions.runs}


def _git_commit(folder: Path) -> dict[str, Any] | None:
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=False)
        if head.returncode != 0:
            return None
        status = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return {"commit": head.stdout.strip(), "uncommitted_changes": bool(status.stdout.strip())}


def reproducibility_record(data_root: str | os.PathLike, predictions: Iterable[str | os.PathLike] = (), *,
                           packages: Iterable[str] = DEFAULT_PACKAGES, settings: Mapping[str, Any] | None = None,
                           now: _dt.datetime | None = None) -> dict[str, Any]:
    """Everything needed to say what produced a book: date (UTC), Python and platform, package versions, the
    code's git commit, the data fingerprint, each prediction file's digest and run configuration, and any
    ``settings`` (the notebook parameters)."""
    import portraitcraft

    when = (now or _dt.datetime.now(_dt.timezone.utc)).astimezone(_dt.timezone.utc)
    return {
        "date": when.isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(packages),
        "code": _git_commit(Path(portraitcraft.__file__).resolve().parent),
        "data": data_fingerprint(data_root),
        "predictions": [prediction_fingerprint(p) for p in predictions],
        "settings": dict(settings or {}),
    }


__all__ = [
    "CALIBRATION_BINS", "Calibration", "DEFAULT_PACKAGES", "ErrorAnalysis", "FIELDS", "LabelledImages",
    "PredictionDetails", "ProbabilityItems", "SCORE_BINS", "analyse_predictions", "answer_probabilities",
    "attribute_accuracy", "attribute_tracking", "baseline_model_dir", "benchmark_table", "calibration",
    "calibration_by_attribute", "confused_attributes", "confusion_shares", "data_fingerprint", "error_correlation",
    "factor_effects", "file_sha256", "hardest_images", "image_attributes", "judge_series", "labelled_images",
    "level_probabilities", "moving_attributes", "package_versions", "page_durations", "parse_failures",
    "prediction_fingerprint", "prediction_timing", "read_prediction_details", "reproducibility_record",
    "score_error_by_truth", "series_table", "value_label",
]
