"""Track 1 metrics as pure functions on arrays, and their bootstrap.

Conventions shared by every function here:

* Levels are ordinal codes ``0 = Poor < 1 = Medium < 2 = Good`` (the order of `attributes.LEVELS`);
  ``INVALID_LEVEL`` (-1) marks a predicted level that is missing, ``NOT_RES`` or not a level at all.
* A correlation is undefined when either side has zero variance (e.g. a model that always answers 62) or
  fewer than two values: it is NaN, never an exception and never silently 0. Overall is then NaN too,
  because averaging a made-up 0 into Overall would rank a broken model as if it had been measured.
* The bootstrap resamples images. One index matrix of shape (B, n) is drawn once; it is turned into
  per-image counts (how often each image appears in each resample), and every metric of every resample is a
  weighted statistic with those counts as weights. Spearman's rho of a resample is the Pearson correlation of
  the resample's average ranks, computed from the counts with one sort of the data instead of one per row.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from portraitcraft.attributes import ATTRIBUTE_NAMES, INVALID_LEVEL, LEVELS

N_LEVELS = len(LEVELS)
CONFUSION_COLUMNS = (*LEVELS, "invalid")

# Relative size under which a variance counts as zero (floating-point sums of a constant are not exactly 0).
_ZERO_VARIANCE = 1e-12


# --- point estimates -------------------------------------------------------------------------------------------

def _has_spread(values: np.ndarray) -> bool:
    return values.size >= 2 and bool(np.ptp(values) > 0)


def srcc(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Spearman rank correlation; NaN when either side is constant or has fewer than two values."""
    predicted, truth = np.asarray(predicted, float), np.asarray(truth, float)
    if not (_has_spread(predicted) and _has_spread(truth)):
        return math.nan
    return float(stats.spearmanr(predicted, truth).statistic)


def plcc(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Pearson linear correlation on the raw scale; NaN when either side is constant or has fewer than two values."""
    predicted, truth = np.asarray(predicted, float), np.asarray(truth, float)
    if not (_has_spread(predicted) and _has_spread(truth)):
        return math.nan
    return float(stats.pearsonr(predicted, truth).statistic)


def logistic_4(x: np.ndarray, top: float, bottom: float, centre: float, width: float) -> np.ndarray:
    """The 4-parameter logistic that IQA papers fit from predicted to true scores before PLCC."""
    z = np.clip(-(x - centre) / max(abs(width), 1e-12), -500, 500)  # clip: exp overflow on far tails
    return bottom + (top - bottom) / (1.0 + np.exp(z))


def fit_logistic_4(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray | None:
    """Least-squares parameters (top, bottom, centre, width) mapping predicted to true scores; None if the fit fails."""
    predicted, truth = np.asarray(predicted, float), np.asarray(truth, float)
    if not (_has_spread(predicted) and _has_spread(truth)) or predicted.size < 4:
        return None
    start = [truth.max(), truth.min(), float(np.mean(predicted)), float(np.std(predicted)) or 1.0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # covariance warnings are irrelevant: only the fitted curve is used
            params, _ = optimize.curve_fit(logistic_4, predicted, truth, p0=start, maxfev=20000)
    except (RuntimeError, ValueError, optimize.OptimizeWarning):
        return None
    return params if np.all(np.isfinite(params)) else None


def plcc_logistic(predicted: np.ndarray, truth: np.ndarray) -> float:
    """PLCC between the 4-parameter-logistic mapping of the predictions and the truth; NaN if undefined or unfit."""
    params = fit_logistic_4(predicted, truth)
    if params is None:
        return math.nan
    return plcc(logistic_4(np.asarray(predicted, float), *params), truth)


def level_accuracy(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Share of (image, attribute) cells whose predicted level equals the true one; invalid cells are wrong."""
    predicted, truth = np.asarray(predicted), np.asarray(truth)
    return float(np.mean(predicted == truth)) if truth.size else math.nan


def qa_accuracy(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Share of questions answered with the right letter; missing or illegal answers are wrong."""
    predicted, truth = np.asarray(predicted, dtype=object), np.asarray(truth, dtype=object)
    return float(np.mean(predicted == truth)) if truth.size else math.nan


def overall(srcc_value: float, plcc_value: float, level_acc: float, qa_acc: float, *, qa_available: bool) -> float:
    """The leaderboard's Overall: mean of SRCC, PLCC, Level Acc and QA Acc.

    Without questions in the ground truth (``qa_available=False``) it is the mean of the other three. Any
    undefined component that should be there makes Overall NaN (see the module notes).
    """
    parts = [srcc_value, plcc_value, level_acc] + ([qa_acc] if qa_available else [])
    return float(np.mean(parts))  # NaN propagates


# --- per-attribute analysis ------------------------------------------------------------------------------------

def confusion_counts(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """A (3, 4) count matrix: rows true Poor/Medium/Good, columns predicted Poor/Medium/Good/invalid."""
    predicted, truth = np.asarray(predicted, int), np.asarray(truth, int)
    column = np.where(predicted == INVALID_LEVEL, N_LEVELS, predicted)
    flat = np.bincount(truth * (N_LEVELS + 1) + column, minlength=N_LEVELS * (N_LEVELS + 1))
    return flat.reshape(N_LEVELS, N_LEVELS + 1)


def macro_f1(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Mean F1 over the three levels, F1 = 2TP / (2TP + FP + FN).

    An invalid prediction is a false negative of the true level and a false positive of none. A level that
    occurs neither in the truth nor in the predictions has no F1 and is left out of the mean.
    """
    counts = confusion_counts(predicted, truth)
    square = counts[:, :N_LEVELS]
    tp = np.diag(square).astype(float)
    fp = square.sum(axis=0) - tp
    fn = counts.sum(axis=1) - tp
    denominator = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(denominator > 0, 2 * tp / denominator, np.nan)
    return float(np.nanmean(f1)) if np.any(denominator > 0) else math.nan


def quadratic_weighted_kappa(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Cohen's kappa with quadratic weights on the ordinal levels, over the cells with a valid prediction.

    Kappa has no place for "invalid", so those cells are left out; report it beside the count of valid
    predictions. NaN when nothing is valid or when chance disagreement is zero (one level on both sides).
    """
    counts = confusion_counts(predicted, truth)[:, :N_LEVELS].astype(float)
    total = counts.sum()
    if total == 0:
        return math.nan
    levels = np.arange(N_LEVELS)
    weights = (levels[:, None] - levels[None, :]) ** 2 / (N_LEVELS - 1) ** 2
    expected = np.outer(counts.sum(axis=1), counts.sum(axis=0)) / total
    chance = float((weights * expected).sum())
    if chance <= 0:
        return math.nan
    return 1.0 - float((weights * counts).sum()) / chance


def per_attribute_table(
    predicted: np.ndarray, truth: np.ndarray, names: tuple[str, ...] = ATTRIBUTE_NAMES
) -> pd.DataFrame:
    """One row per attribute: accuracy, macro-F1, quadratic-weighted kappa and how many predictions were valid.

    ``predicted`` and ``truth`` are (images, attributes) level-code matrices.
    """
    predicted, truth = np.asarray(predicted, int), np.asarray(truth, int)
    rows = []
    for j, name in enumerate(names):
        p, t = predicted[:, j], truth[:, j]
        rows.append({
            "attribute": name,
            "n": int(t.size),
            "valid": int(np.sum(p != INVALID_LEVEL)),
            "accuracy": level_accuracy(p, t),
            "macro_f1": macro_f1(p, t),
            "qwk": quadratic_weighted_kappa(p, t),
            **{f"true_{level.lower()}": int(np.sum(t == k)) for k, level in enumerate(LEVELS)},
        })
    return pd.DataFrame(rows)


def confusion_table(predicted: np.ndarray, truth: np.ndarray, names: tuple[str, ...] = ATTRIBUTE_NAMES) -> pd.DataFrame:
    """All confusion matrices in one frame: index (attribute, true level), columns Poor/Medium/Good/invalid."""
    predicted, truth = np.asarray(predicted, int), np.asarray(truth, int)
    counts = np.vstack([confusion_counts(predicted[:, j], truth[:, j]) for j in range(len(names))])
    index = pd.MultiIndex.from_arrays([np.repeat(list(names), N_LEVELS), np.tile(list(LEVELS), len(names))],
                                      names=["attribute", "true_level"])
    table = pd.DataFrame(counts, index=index, columns=pd.Index(list(CONFUSION_COLUMNS), name="predicted_level"))
    return table


# --- bootstrap ---------------------------------------------------------------------------------------------------

def resample_indices(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """The (B, n) matrix of image indices, drawn once with replacement (numpy's PCG64, seeded)."""
    return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))


def resample_counts(indices: np.ndarray, n: int) -> np.ndarray:
    """How many times each of the n images appears in each resample: a (B, n) float matrix."""
    b = indices.shape[0]
    flat = (indices + (np.arange(b) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(float)


def _row_sums(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """sum_j weights[b, j] * values[j] (or values[b, j]) for every row b.

    einsum without `optimize` runs a plain single-threaded loop: a BLAS matrix-vector product would be as fast
    alone but spins extra threads that cost more than they save on a busy 2-core machine.
    """
    return np.einsum("ij,j->i" if values.ndim == 1 else "ij,ij->i", weights, values)


def weighted_pearson(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Row-wise Pearson correlation of x and y under (B, n) weights; x and y are (n,) or (B, n).

    NaN for a row with under two images or no spread on either side. Centre x and y beforehand: the
    moments are taken from weighted sums, which lose precision far from zero.
    """
    total = weights.sum(axis=1)

    def mean(values: np.ndarray) -> np.ndarray:
        summed = _row_sums(weights, values)
        return summed / total

    with np.errstate(invalid="ignore", divide="ignore"):
        mean_x, mean_y = mean(x), mean(y)
        square_x, square_y = mean(x * x), mean(y * y)
        var_x, var_y = square_x - mean_x**2, square_y - mean_y**2
        r = (mean(x * y) - mean_x * mean_y) / np.sqrt(var_x * var_y)
        # A constant row leaves rounding noise, not exactly 0, in the variance: compare with the raw moment.
        flat = (var_x <= _ZERO_VARIANCE * square_x) | (var_y <= _ZERO_VARIANCE * square_y)
    r = np.clip(r, -1.0, 1.0)
    r[flat | ~(total >= 2)] = np.nan
    return r


def weighted_ranks(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Row-wise average ranks (1-based, ties averaged) of values repeated ``weights`` times: a (B, n) matrix.

    One sort of ``values`` serves every row: images with equal values form groups, a row's rank of a group is
    the weight below it plus half its own weight (plus 1/2), which is what ranking the resample itself gives.
    Zero-weight images get a rank too but carry no weight in any statistic.
    """
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    last_of_group = np.r_[sorted_values[1:] != sorted_values[:-1], True]
    group = np.empty(values.size, dtype=np.intp)
    group[order] = np.cumsum(np.r_[True, last_of_group[:-1]]) - 1
    # Weight up to and including each group, then below it: cumulative sums instead of a per-row sort.
    through = np.take(np.cumsum(np.take(weights, order, axis=1), axis=1), np.flatnonzero(last_of_group), axis=1)
    below = np.hstack([np.zeros((weights.shape[0], 1)), through[:, :-1]])
    group_rank = (below + through + 1.0) / 2.0
    return np.take(group_rank, group, axis=1)


def weighted_spearman(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Row-wise Spearman correlation of x and y (both (n,)) under (B, n) weights."""
    return weighted_pearson(weighted_ranks(x, weights), weighted_ranks(y, weights), weights)


@dataclass
class ScoringInputs:
    """What every Track 1 metric needs, aligned on the n ground-truth images.

    ``score_weight`` is 1 for an image whose score enters the correlations (all of them after imputation;
    only the valid ones with ``--skip-invalid-scores``) and 0 otherwise.
    """

    predicted_score: np.ndarray  # (n,) float, already imputed where needed (NaN allowed where weight is 0)
    true_score: np.ndarray  # (n,) float
    score_weight: np.ndarray  # (n,) float 0/1
    levels_right: np.ndarray  # (n,) int, right levels per image, 0..13
    answer_right: np.ndarray | None  # (n,) bool, or None when the ground truth has no questions
    logistic_params: np.ndarray | None = None  # the 4PL fitted on the full data, for plcc_logistic
    n_attributes: int = len(ATTRIBUTE_NAMES)


def bootstrap_track1(inputs: ScoringInputs, indices: np.ndarray) -> dict[str, np.ndarray]:
    """Every Track 1 metric on every resample row of ``indices``: {metric: (B,) array}.

    plcc_logistic holds the curve fitted on the full data fixed and recomputes only the correlation, so its
    interval leaves out the fit's own uncertainty (refitting 1,000 curves would dominate the run time).
    """
    n = inputs.true_score.size
    counts = resample_counts(indices, n)
    score_weights = counts * inputs.score_weight[None, :]
    used = inputs.score_weight > 0
    x = np.where(used, inputs.predicted_score, 0.0)
    y = inputs.true_score
    # Centring keeps the weighted sums of squares well conditioned on a 1-100 scale.
    xc = x - x[used].mean() if used.any() else x
    yc = y - y.mean()
    result = {
        "srcc": weighted_spearman(x, y, score_weights),  # unused images weigh 0, so their rank is irrelevant
        "plcc": weighted_pearson(xc, yc, score_weights),
        "level_acc": _row_sums(counts, inputs.levels_right) / (n * inputs.n_attributes),
    }
    if inputs.logistic_params is not None:
        fitted = logistic_4(x, *inputs.logistic_params)
        fitted_c = fitted - fitted[used].mean() if used.any() else fitted
        result["plcc_logistic"] = weighted_pearson(fitted_c, yc, score_weights)
    else:
        result["plcc_logistic"] = np.full(indices.shape[0], np.nan)
    if inputs.answer_right is not None:
        result["qa_acc"] = _row_sums(counts, inputs.answer_right.astype(float)) / n
        parts = [result["srcc"], result["plcc"], result["level_acc"], result["qa_acc"]]
    else:
        result["qa_acc"] = np.full(indices.shape[0], np.nan)
        parts = [result["srcc"], result["plcc"], result["level_acc"]]
    result["overall"] = np.mean(np.vstack(parts), axis=0)
    return result


@dataclass(frozen=True)
class Interval:
    """A percentile bootstrap interval, with how many resamples left the metric undefined."""

    low: float
    high: float
    confidence: float
    resamples: int
    undefined: int

    def as_dict(self) -> dict[str, float | int]:
        return {"low": self.low, "high": self.high, "confidence": self.confidence,
                "resamples": self.resamples, "undefined_resamples": self.undefined}


def percentile_interval(values: np.ndarray, confidence: float = 0.95) -> Interval:
    """The central ``confidence`` percentile interval of the finite values; NaN bounds when none is finite."""
    finite = values[np.isfinite(values)]
    undefined = int(values.size - finite.size)
    if finite.size == 0:
        return Interval(math.nan, math.nan, confidence, int(values.size), undefined)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return Interval(float(low), float(high), confidence, int(values.size), undefined)


def paired_difference_p(differences: np.ndarray) -> float:
    """Two-sided bootstrap p-value that a paired difference is zero: twice the smaller tail share, at most 1."""
    finite = differences[np.isfinite(differences)]
    if finite.size == 0:
        return math.nan
    return float(min(1.0, 2.0 * min(np.mean(finite <= 0), np.mean(finite >= 0))))
