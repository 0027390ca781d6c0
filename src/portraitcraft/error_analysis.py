"""Where a Track 1 model goes wrong (chapter 5 of the book): one prediction file laid over the labels of its
images, then arranged per attribute, per image and per score bin.

For example::

    from portraitcraft.error_analysis import (analyse_predictions,
                                              attribute_accuracy,
                                              hardest_images)

    run = "data/lab/runs/feature-baseline.jsonl"
    errors = analyse_predictions(run, "data/lab")
    # accuracy per attribute, with bootstrap intervals
    attribute_accuracy(errors.predicted_levels, errors.truth.levels)
    # most wrong levels, then largest score error
    hardest_images(errors.frame(), top=5)

Every metric comes from `portraitcraft.metrics` (the scorer's own functions); this module only arranges them per
attribute, per image and per bin. Levels are codes 0 Poor, 1 Medium, 2 Good and -1 for an invalid prediction,
which counts wrong everywhere, as in the scorer. The calibration of a model's probabilities is in
`portraitcraft.calibration`.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from portraitcraft import metrics
from portraitcraft.attributes import ATTRIBUTE_NAMES, INVALID_LEVEL, LEVELS
from portraitcraft.data import DataError, Dataset
from portraitcraft.evaluation import EvaluationReport, evaluate
from portraitcraft.labels import GroundTruth, LabelledImages, image_labels
from portraitcraft.parsing import FIELDS
from portraitcraft.predictions import (
    PredictionDetails,
    PredictionSet,
    prediction_details,
    prediction_label,
    read_prediction_file,
)
from portraitcraft.sources import open_dataset
from portraitcraft.text import counted

INVALID = INVALID_LEVEL
N_ATTRIBUTES: Final[int] = len(ATTRIBUTE_NAMES)
# Overall-score bins for the error-against-truth table: the lab's totals lie in about 45-85, the real ones in 1-100.
SCORE_BINS: Final[tuple[float, ...]] = (0, 40, 50, 60, 70, 80, 101)
# Each bootstrap chunk holds at most this many (resample, image) counts: bounded memory at 50,000 images.
_BOOTSTRAP_CELLS: Final[int] = 20_000_000


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

    @property
    def missing(self) -> list[str]:
        """The analysed images the file has no prediction for (counted wrong, as by the scorer)."""
        has = self.report.scored.aligned.has_prediction
        return [name for name, present in zip(self.truth.image_paths, has) if not present]

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
                        name: str | None = None, truth: GroundTruth | None = None) -> ErrorAnalysis:
    """Read a prediction file, find the labels of its images in ``dataset`` and score them with the scorer.

    The analysed images are those the file predicts and the data labels (the lab's test labels are read from its
    ground-truth file); the others are listed in ``unlabelled``. With ``truth`` (Table 3's evaluation target,
    `portraitcraft.labels.evaluation_target`), the analysed images are exactly ``truth``'s, as Table 3 scores them:
    an image the file does not predict counts wrong and is named in `ErrorAnalysis.missing`, a predicted image
    outside ``truth`` is listed in ``unlabelled``. Raises DataError when no image is labelled. The file is read once
    (scored fields and details alike) and laid over the labels once (by the scorer).
    """
    if isinstance(predictions, PredictionSet):
        details = prediction_details(predictions.path)
    else:
        predictions, records = read_prediction_file(predictions)
        details = prediction_details(predictions.path, records)
    if not isinstance(dataset, Dataset):
        dataset = open_dataset(dataset, reveal_ground_truth=True)
    elif not dataset.ground_truth_revealed and dataset.has_ground_truth_file:
        dataset = open_dataset(dataset.root, reveal_ground_truth=True)
    if truth is not None:
        labels = image_labels(dataset, truth.image_paths)
        if labels.truth.image_paths != list(truth.image_paths):
            raise DataError(f"{dataset.root}: the scored images are not all labelled here")
        scored = set(truth.image_paths)
        if not scored & set(predictions.image_paths):
            verb = "is" if len(predictions) == 1 else "are"
            raise DataError(f"{predictions.path}: predicts none of the {counted(len(truth), 'image')} scored here "
                            f"(its {counted(len(predictions), 'record')} {verb} for other images)")
        labels = dataclasses.replace(labels, truth=truth,
                                     unlabelled=[p for p in predictions.image_paths if p not in scored])
    else:
        labels = image_labels(dataset, predictions.image_paths)
    if not labels.truth.image_paths:
        raise DataError(f"{predictions.path}: none of its {len(predictions)} images has labels in {dataset.root} "
                        "(test labels are hidden unless the root holds the lab's ground-truth file)")
    report = evaluate(predictions, labels.truth, n_bootstrap=n_bootstrap, seed=seed, confidence=confidence)
    aligned = report.scored.aligned
    return ErrorAnalysis(name or prediction_label(predictions), predictions, details, labels, report, aligned.levels,
                         aligned.predicted_score)


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
    counts = (
        np.stack([(truth == k).sum(axis=0) for k in range(len(LEVELS))]) if n else np.zeros((len(LEVELS), len(names)))
    )
    table["majority"] = counts.max(axis=0) / n if n else np.nan
    return table


def confusion_shares(confusion: pd.DataFrame) -> pd.DataFrame:
    """`metrics.confusion_table` with each row (true level of an attribute) divided by its count; NaN rows
    where a true level never occurs."""
    totals = confusion.sum(axis=1)
    return confusion.div(totals.where(totals > 0), axis=0)


def attribute_tracking(
    predicted: np.ndarray, truth: np.ndarray, names: Sequence[str] = ATTRIBUTE_NAMES
) -> pd.DataFrame:
    """Quadratic-weighted kappa of each attribute's predicted levels (rows) against each attribute's true levels
    (columns), over the valid predictions. The diagonal is the ordinary per-attribute kappa; an off-diagonal cell
    higher than its row's diagonal means the model's levels for that attribute follow another attribute's truth.
    """
    predicted, truth = np.asarray(predicted, int), np.asarray(truth, int)
    k = len(names)
    kappa = np.array([[metrics.quadratic_weighted_kappa(predicted[:, a], truth[:, b]) for b in range(k)]
                      for a in range(k)])
    return pd.DataFrame(
        kappa, index=pd.Index(list(names), name="predicted"), columns=pd.Index(list(names), name="true")
    )


def error_correlation(predicted: np.ndarray, truth: np.ndarray, names: Sequence[str] = ATTRIBUTE_NAMES) -> pd.DataFrame:
    """Pearson correlation between attributes of the per-image signed level error (predicted - true code), over
    the images where both predictions are valid. High values: the model errs on the two together."""
    predicted, truth = np.asarray(predicted, int), np.asarray(truth, int)
    errors = np.where(predicted == INVALID, np.nan, (predicted - truth).astype(float))
    return pd.DataFrame(errors, columns=list(names)).corr(min_periods=2)


def confused_attributes(
    predicted: np.ndarray, truth: np.ndarray, names: Sequence[str] = ATTRIBUTE_NAMES
) -> pd.DataFrame:
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


# --- confusions beyond chance --------------------------------------------------------------------------------------

CONFUSION_ALPHA: Final[float] = 0.05


def confusions_beyond_chance(predicted: np.ndarray, truth: np.ndarray, names: Sequence[str] = ATTRIBUTE_NAMES, *,
                             alpha: float = CONFUSION_ALPHA) -> pd.DataFrame:
    """The wrong (true level, predicted level) cells that occur more often than chance, over every attribute.

    A cell's chance is what independent predictions with the same marginals would give: the images with that true
    level times the share of valid predictions with that predicted level. Each off-diagonal cell with at least one
    image is tested with a one-sided binomial test (more than chance), and the p-values of all cells tested are
    adjusted by Holm's method; the cells kept have an adjusted p below ``alpha``. Invalid predictions are left out
    (they are counted in the confusion matrices' last column). Columns: attribute, true, predicted, images,
    expected, ratio (images / expected), p, p_holm; the largest ratio first. ``attrs["tested"]`` holds how many
    cells were tested.
    """
    from scipy import stats

    predicted, truth = np.asarray(predicted, int), np.asarray(truth, int)
    rows = []
    for a, name in enumerate(names):
        valid = predicted[:, a] != INVALID
        p_codes, t_codes = predicted[valid, a], truth[valid, a]
        n = int(valid.sum())
        if n == 0:
            continue
        for t in range(len(LEVELS)):
            t_count = int((t_codes == t).sum())
            for q in range(len(LEVELS)):
                if q == t or t_count == 0:
                    continue
                share = float((p_codes == q).mean())
                count = int(((t_codes == t) & (p_codes == q)).sum())
                if count == 0:
                    continue
                p = float(stats.binomtest(count, t_count, share, alternative="greater").pvalue) if share < 1 else 1.0
                rows.append({"attribute": name, "true": LEVELS[t], "predicted": LEVELS[q], "images": count,
                             "expected": t_count * share, "p": p})
    frame = pd.DataFrame(rows, columns=["attribute", "true", "predicted", "images", "expected", "p"])
    tested = len(frame)
    if tested:
        order = np.argsort(frame["p"].to_numpy(), kind="stable")
        adjusted = np.empty(tested)
        running = 0.0
        for rank, index in enumerate(order):  # Holm: step down, monotone, capped at 1
            running = max(running, min(1.0, (tested - rank) * frame["p"].iloc[index]))
            adjusted[index] = running
        frame["p_holm"] = adjusted
    else:
        frame["p_holm"] = pd.Series(dtype=float)
    frame["ratio"] = frame["images"] / frame["expected"]
    kept = frame[frame["p_holm"] < alpha].sort_values("ratio", ascending=False, kind="stable").reset_index(drop=True)
    kept = kept[["attribute", "true", "predicted", "images", "expected", "ratio", "p", "p_holm"]]
    kept.attrs["tested"] = tested
    return kept


# --- the multiple-choice question ------------------------------------------------------------------------------------

def question_accuracy(errors: ErrorAnalysis, questions: pd.DataFrame) -> pd.DataFrame:
    """Accuracy on the multiple-choice question by the attribute it asks about: attribute, questions, right,
    accuracy, invalid (no readable answer, counted wrong), over the analysed images with a question.
    ``questions`` is `Dataset.questions()` (image_path, attribute, answer...)."""
    if errors.truth.answers is None:
        return pd.DataFrame(columns=["attribute", "questions", "right", "accuracy", "invalid"])
    asked = questions.drop_duplicates("image_path").set_index("image_path")["attribute"]
    predicted = errors.report.scored.aligned.answers
    frame = pd.DataFrame({
        "attribute": [asked.get(name) for name in errors.truth.image_paths],
        "right": [p is not None and p == t for p, t in zip(predicted, errors.truth.answers)],
        "invalid": [p is None for p in predicted],
    })
    frame["attribute"] = frame["attribute"].fillna("(not named)")
    table = frame.groupby("attribute", sort=False).agg(questions=("right", "size"), right=("right", "sum"),
                                                      invalid=("invalid", "sum")).reset_index()
    table["accuracy"] = table["right"] / table["questions"]
    order = {name: i for i, name in enumerate(ATTRIBUTE_NAMES)}
    table = table.sort_values("attribute", key=lambda c: c.map(lambda a: order.get(a, len(order))), kind="stable")
    return table[["attribute", "questions", "right", "accuracy", "invalid"]].reset_index(drop=True)


@dataclass
class AnswerLetters:
    """How often each letter is answered against how often it is right: ``table`` (letter, predicted, true,
    right), and a chi-square goodness-of-fit test of the valid predicted letters against the truth's letter shares
    (``chi2``, ``p``; NaN where it cannot be computed: no valid answer, or a letter the truth never uses but the
    model does)."""

    table: pd.DataFrame
    chi2: float
    p: float
    valid: int


def answer_letters(errors: ErrorAnalysis) -> AnswerLetters:
    """The model's answer letters against the truth's (see `AnswerLetters`); invalid answers form their own row."""
    from scipy import stats

    from portraitcraft.attributes import ANSWER_LETTERS

    if errors.truth.answers is None:
        return AnswerLetters(pd.DataFrame(columns=["letter", "predicted", "true", "right"]), math.nan, math.nan, 0)
    predicted = errors.report.scored.aligned.answers
    truth = errors.truth.answers
    rows = [{"letter": letter, "predicted": sum(p == letter for p in predicted),
             "true": sum(t == letter for t in truth),
             "right": sum(p == letter and t == letter for p, t in zip(predicted, truth))} for letter in ANSWER_LETTERS]
    invalid = sum(p is None or p not in ANSWER_LETTERS for p in predicted)
    rows.append({"letter": "invalid", "predicted": invalid, "true": 0, "right": 0})
    table = pd.DataFrame(rows)
    observed = table.loc[table["letter"] != "invalid", "predicted"].to_numpy(float)
    shares = table.loc[table["letter"] != "invalid", "true"].to_numpy(float)
    valid = int(observed.sum())
    chi2 = p = math.nan
    if valid and shares.sum() and not ((shares == 0) & (observed > 0)).any():
        keep = shares > 0
        expected = shares[keep] / shares.sum() * valid
        result = stats.chisquare(observed[keep], expected)
        chi2, p = float(result.statistic), float(result.pvalue)
    return AnswerLetters(table, chi2, p, valid)


# --- two models --------------------------------------------------------------------------------------------------

def compare_models(first: ErrorAnalysis, second: ErrorAnalysis, *, n_bootstrap: int = 1000, seed: int = 0,
                   confidence: float = 0.95) -> pd.DataFrame:
    """The paired comparison of two prediction files on the same images (the scorer's ``evaluate --compare``):
    per leaderboard metric, each model's value, the difference first - second, its percentile interval over the
    same bootstrap resamples of images, and the bootstrap p-value of no difference. Raises ValueError when the two
    were analysed on different images."""
    from portraitcraft.evaluation import LEADERBOARD

    if list(first.truth.image_paths) != list(second.truth.image_paths):
        raise ValueError(f"{first.name} and {second.name} were analysed on different images: no paired comparison")
    report = evaluate(first.predictions, first.truth, n_bootstrap=n_bootstrap, seed=seed, confidence=confidence,
                      compare=second.predictions)
    comparison = report.comparison
    rows = []
    for metric in LEADERBOARD:
        interval = comparison.ci[metric] if comparison.ci else None
        rows.append({"metric": metric, "first": report.values[metric], "second": comparison.scored.values[metric],
                     "difference": comparison.difference[metric],
                     "low": interval.low if interval else math.nan, "high": interval.high if interval else math.nan,
                     "p": comparison.p_value[metric] if comparison.p_value else math.nan})
    return pd.DataFrame(rows)


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
    reasons = (
        errors.labels.reasons.loc[image_path] if image_path in errors.labels.reasons.index else pd.Series(dtype=object)
    )
    return pd.DataFrame({
        "attribute": list(ATTRIBUTE_NAMES),
        "score": errors.labels.attribute_scores[row],
        "level": names[errors.truth.levels[row]],
        "predicted": names[predicted],
        "right": predicted == errors.truth.levels[row],
        "reason": [reasons.get(name) for name in ATTRIBUTE_NAMES],
    })


# --- parse failures ----------------------------------------------------------------------------------------------


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


__all__ = [
    "CONFUSION_ALPHA", "SCORE_BINS", "AnswerLetters", "ErrorAnalysis", "analyse_predictions",
    "answer_letters", "attribute_accuracy", "attribute_tracking", "compare_models", "confused_attributes",
    "confusion_shares", "confusions_beyond_chance", "error_correlation", "hardest_images", "image_attributes",
    "parse_failures", "question_accuracy", "score_error_by_truth",
]
