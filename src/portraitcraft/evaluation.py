"""Scoring Track 1 predictions against ground truth: the report behind ``portraitcraft evaluate``.

`SEMANTICS` states exactly what is scored; every report (text and JSON) carries it. In short: the ground-truth
images are the scored set, anything invalid counts wrong (levels, answers) or is imputed (scores), and an
undefined correlation stays NaN and is flagged rather than being scored as 0.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from portraitcraft import metrics
from portraitcraft.attributes import ATTRIBUTE_NAMES, LEVELS
from portraitcraft.data import DataError
from portraitcraft.labels import (
    VALIDATION_FRACTION,
    VALIDATION_SEED,
    VALIDATION_SPLIT,
    GroundTruth,
    load_ground_truth,
    runs_validation_leak,
    training_names,
    validation_split,
)
from portraitcraft.predictions import PredictionSet, read_predictions
from portraitcraft.provenance import json_safe, write_json

METRICS = ("srcc", "plcc", "plcc_logistic", "level_acc", "qa_acc", "overall")
LEADERBOARD = ("srcc", "plcc", "level_acc", "qa_acc", "overall")
# A bootstrap over fewer images states no interval (resampling one image gives an interval of a point), and a
# paired comparison of two prediction files on fewer images no interval and no p-value: one rule for both.
MIN_INTERVAL_IMAGES = 10
MIN_PAIRED_IMAGES = MIN_INTERVAL_IMAGES
METRIC_LABELS = {
    "srcc": "SRCC", "plcc": "PLCC", "plcc_logistic": "PLCC (4PL logistic)",
    "level_acc": "Level Acc", "qa_acc": "QA Acc", "overall": "Overall",
}
# Which coverage stands beside which metric.
COVERAGE_OF = {"srcc": "scores", "plcc": "scores", "plcc_logistic": "scores",
               "level_acc": "levels", "qa_acc": "answers", "overall": "images"}

SEMANTICS = (
    "Scored set: the ground-truth images. Predictions for other images are reported and ignored; "
    "two predictions for one image are an error naming it. Images are matched by bare file name.",
    "Level: right when, after trimming and ignoring case, it equals the ground-truth level (A=Poor, B=Medium, "
    "C=Good in the submission format; words only in raw output and JSON Lines). NOT_RES, missing or anything "
    "else is wrong. Level Acc = right levels / (13 x ground-truth images).",
    "QA Acc = right answers (a letter A-D, case ignored) / ground-truth images; missing or illegal is wrong.",
    "total_score: a number or numeric string; anything else, or a missing image, is invalid and imputed with "
    "the mean of the valid predicted scores (or skipped with --skip-invalid-scores). SRCC and PLCC use all "
    "ground-truth images after imputation, on the raw scale.",
    "plcc_logistic: PLCC after a 4-parameter logistic fit from predicted to true scores; an extra column, "
    "not part of Overall. Its interval holds the full-data fit fixed.",
    "Overall = mean(SRCC, PLCC, Level Acc, QA Acc); without questions in the ground truth, mean of the other "
    "three (flagged). A correlation is undefined (NaN) when either side has zero variance or fewer than two "
    "images; Overall is then NaN too: an undefined correlation is not counted as 0.",
    "Intervals: percentile bootstrap over images (one seeded (B, n) index matrix shared by all metrics and, "
    "with --compare, by both prediction files: a paired bootstrap).",
)


# --- alignment and scoring -----------------------------------------------------------------------------------------

@dataclass
class Aligned:
    """A prediction set laid over the ground-truth images (row i = ground-truth image i)."""

    has_prediction: np.ndarray  # (n,) bool
    failed: np.ndarray  # (n,) bool: a JSONL record with status "failed"
    predicted_score: np.ndarray  # (n,) float, NaN where invalid or missing
    levels: np.ndarray  # (n, 13) codes, -1 invalid or missing
    answers: list[str | None]
    extra_images: list[str]  # predicted images outside the ground truth (ignored)


def align(predictions: PredictionSet, truth: GroundTruth) -> Aligned:
    row_of = {name: i for i, name in enumerate(predictions.image_paths)}
    rows = np.array([row_of.get(name, -1) for name in truth.image_paths], dtype=int)
    present = rows >= 0
    n = len(truth)
    score = np.full(n, np.nan)
    levels = np.full((n, len(ATTRIBUTE_NAMES)), metrics.INVALID_LEVEL, dtype=int)
    score[present] = predictions.total_score[rows[present]]
    levels[present] = predictions.levels[rows[present]]
    answers = [predictions.answers[r] if r >= 0 else None for r in rows]
    failed = np.array([r >= 0 and predictions.status[r] == "failed" for r in rows], dtype=bool)
    truth_names = set(truth.image_paths)
    extra = [name for name in predictions.image_paths if name not in truth_names]
    return Aligned(present, failed, score, levels, answers, extra)


@dataclass
class Scored:
    """Point metrics of one prediction set, plus what the bootstrap needs to resample them."""

    values: dict[str, float]
    inputs: metrics.ScoringInputs
    coverage: dict[str, dict[str, Any]]
    score_handling: dict[str, Any]
    flags: list[str]
    per_image: pd.DataFrame
    per_attribute: pd.DataFrame
    confusion: pd.DataFrame
    aligned: Aligned | None = None  # the predictions laid over the ground truth, as scored


def _correlation_flags(x: np.ndarray, y: np.ndarray, used_label: str) -> list[str]:
    if x.size < 2:
        return [f"SRCC and PLCC undefined (NaN): fewer than two {used_label}; Overall is NaN "
                "(an undefined correlation is not counted as 0)"]
    out = []
    if np.ptp(x) == 0:
        out.append(f"SRCC and PLCC undefined (NaN): the {used_label} are constant (all {x[0]:g}), zero variance; "
                   "Overall is NaN (an undefined correlation is not counted as 0)")
    if np.ptp(y) == 0:
        out.append(
            f"SRCC and PLCC undefined (NaN): the ground-truth scores are constant (all {y[0]:g}); Overall is NaN"
        )
    return out


def score(aligned: Aligned, truth: GroundTruth, *, skip_invalid_scores: bool = False) -> Scored:
    """All point metrics, coverage and flags of one aligned prediction set (see `SEMANTICS`)."""
    n = len(truth)
    n_attr = len(ATTRIBUTE_NAMES)
    flags: list[str] = []
    valid_score = np.isfinite(aligned.predicted_score)
    n_valid = int(valid_score.sum())
    imputed_value = float(aligned.predicted_score[valid_score].mean()) if n_valid else math.nan
    if skip_invalid_scores:
        used = valid_score.copy()
        score_used = aligned.predicted_score.copy()
        handling = {"mode": "skip", "invalid": n - n_valid, "imputed_with": None}
        if n_valid < n:
            flags.append(f"{n - n_valid} of {n} images have no valid score and are left out of SRCC/PLCC "
                         "(--skip-invalid-scores)")
    else:
        used = valid_score.copy() if n_valid == 0 else np.ones(n, bool)
        score_used = np.where(valid_score, aligned.predicted_score, imputed_value)
        handling = {"mode": "impute_mean", "invalid": n - n_valid,
                    "imputed_with": imputed_value if n_valid and n_valid < n else None}
        if n_valid == 0:
            flags.append("no valid total_score at all: nothing to impute from; SRCC and PLCC are NaN, so is Overall")
        elif n_valid < n:
            flags.append(f"{n - n_valid} of {n} images have no valid score: imputed with the mean of the "
                         f"{n_valid} valid predicted scores ({imputed_value:.4g})")
    x, y = score_used[used], truth.total_score[used]
    if n_valid:
        flags += _correlation_flags(x, y, "scores used" if skip_invalid_scores else "predicted scores after imputation")
    logistic = metrics.fit_logistic_4(x, y)
    values = {
        "srcc": metrics.srcc(x, y),
        "plcc": metrics.plcc(x, y),
        "plcc_logistic": metrics.plcc(metrics.logistic_4(x, *logistic), y) if logistic is not None else math.nan,
    }
    if logistic is None and np.isfinite(values["plcc"]):
        flags.append("plcc_logistic: the 4-parameter logistic fit failed (or fewer than 4 images); NaN")
    level_right = aligned.levels == truth.levels
    values["level_acc"] = metrics.level_accuracy(aligned.levels, truth.levels)
    if truth.qa_available:
        answer_right = np.array([p is not None and p == t for p, t in zip(aligned.answers, truth.answers)], bool)
        values["qa_acc"] = float(answer_right.mean())
    else:
        answer_right = None
        values["qa_acc"] = math.nan
        flags.append("QA not available: the ground truth has no questions; QA Acc is NaN and Overall is the mean "
                     "of SRCC, PLCC and Level Acc")
    values["overall"] = metrics.overall(values["srcc"], values["plcc"], values["level_acc"], values["qa_acc"],
                                        qa_available=truth.qa_available)
    missing = int((~aligned.has_prediction).sum())
    if missing:
        flags.append(f"{missing} of {n} ground-truth images have no prediction: levels and answer wrong, score invalid")
    if aligned.failed.any():
        flags.append(f"{int(aligned.failed.sum())} images have a failed record (no usable model output): counted wrong")
    if aligned.extra_images:
        flags.append(f"{len(aligned.extra_images)} predictions for images outside the ground truth were ignored "
                     f"(e.g. {aligned.extra_images[0]!r})")

    level_valid = int((aligned.levels != metrics.INVALID_LEVEL).sum())
    answers_valid = sum(a is not None for a in aligned.answers)
    n_used = int(used.sum())
    counts = {"scores": (n_valid, n), "levels": (level_valid, n_attr * n), "answers": (answers_valid, n),
              "images": (int(aligned.has_prediction.sum()), n)}
    what = {"scores": "valid total_score", "levels": "valid levels", "answers": "valid answers",
            "images": "images with a prediction"}
    coverage = {m: {"of": what[COVERAGE_OF[m]], "valid": counts[COVERAGE_OF[m]][0], "total": counts[COVERAGE_OF[m]][1],
                    "share": counts[COVERAGE_OF[m]][0] / counts[COVERAGE_OF[m]][1]} for m in METRICS}
    handling["used_in_correlations"] = n_used

    inputs = metrics.ScoringInputs(
        predicted_score=np.where(used, score_used, 0.0), true_score=truth.total_score,
        score_weight=used.astype(float), levels_right=level_right.sum(axis=1).astype(float),
        answer_right=answer_right, logistic_params=logistic, n_attributes=n_attr)

    columns = {
        "image_path": truth.image_paths,
        "has_prediction": aligned.has_prediction,
        "failed": aligned.failed,
        "true_score": truth.total_score,
        "predicted_score": aligned.predicted_score,
        "score_used": np.where(used, score_used, np.nan),
        "score_imputed": used & ~valid_score,
        "levels_right": level_right.sum(axis=1),
        "levels_valid": (aligned.levels != metrics.INVALID_LEVEL).sum(axis=1),
        "true_answer": truth.answers if truth.answers is not None else [None] * n,
        "predicted_answer": aligned.answers,
        "answer_right": answer_right if answer_right is not None else np.full(n, np.nan),
    }
    level_names = np.array([*LEVELS, None], dtype=object)  # code -1 indexes the trailing None
    for j, name in enumerate(ATTRIBUTE_NAMES):
        columns[f"true:{name}"] = level_names[truth.levels[:, j]]
        columns[f"predicted:{name}"] = level_names[aligned.levels[:, j]]
    per_image = pd.DataFrame(columns)
    return Scored(values, inputs, coverage, handling, flags, per_image,
                  metrics.per_attribute_table(aligned.levels, truth.levels),
                  metrics.confusion_table(aligned.levels, truth.levels), aligned=aligned)


# --- the report ------------------------------------------------------------------------------------------------------

@dataclass
class Comparison:
    """Paired bootstrap of A - B, where A is ``--predictions`` and B is ``--compare``, on the same resamples."""

    path: Path
    format: str
    scored: Scored
    difference: dict[str, float]
    ci: dict[str, metrics.Interval] | None
    p_value: dict[str, float] | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "predictions": str(self.path),
            "format": self.format,
            "direction": "A - B, A = --predictions, B = --compare",
            **{m: self.scored.values[m] for m in METRICS},
            "coverage": self.scored.coverage,
            "flags": self.scored.flags,
            "difference": {m: {"value": self.difference[m],
                               "ci": self.ci[m].as_dict() if self.ci else None,
                               "p_value": self.p_value[m] if self.p_value else None} for m in METRICS},
        }


@dataclass
class EvaluationReport:
    predictions: PredictionSet
    truth: GroundTruth
    scored: Scored
    ci: dict[str, metrics.Interval] | None
    settings: dict[str, Any]
    comparison: Comparison | None = None
    flags: list[str] = field(default_factory=list)

    @property
    def values(self) -> dict[str, float]:
        return self.scored.values

    @property
    def per_attribute(self) -> pd.DataFrame:
        return self.scored.per_attribute

    @property
    def confusion(self) -> pd.DataFrame:
        return self.scored.confusion

    @property
    def per_image(self) -> pd.DataFrame:
        return self.scored.per_image

    def as_dict(self, max_problems: int = 200) -> dict[str, Any]:
        """Everything as plain JSON types (NaN becomes null). Per-image rows stay in `per_image` only."""
        confusion = {
            attribute: {true: {pred: int(v) for pred, v in row.items()} for true, row in block.droplevel(0).iterrows()}
            for attribute, block in self.confusion.groupby(level="attribute", sort=False)
        }
        problems = self.predictions.problems
        extra = _extra(self)
        out = {
            **{m: self.values[m] for m in METRICS},
            "n_images": len(self.truth),
            "qa_available": self.truth.qa_available,
            "ci": {m: iv.as_dict() for m, iv in self.ci.items()} if self.ci else None,
            "coverage": self.scored.coverage,
            "score_handling": self.scored.score_handling,
            "flags": self.flags,
            "semantics": list(SEMANTICS),
            "per_attribute": self.per_attribute.to_dict(orient="records"),
            "confusion": confusion,
            "predictions": {
                "path": str(self.predictions.path), "format": self.predictions.format,
                "records": len(self.predictions),
                "ignored_images": len(extra),
                "ignored_examples": extra[:20],
                "problems": len(problems),
                "problem_examples": [str(p) for p in problems[:max_problems]],
                "runs": self.predictions.runs,
            },
            "ground_truth": {"path": str(self.truth.path), "images": len(self.truth),
                             "labels": list(self.truth.label_forms), "qa_available": self.truth.qa_available},
            "settings": self.settings,
            "comparison": self.comparison.as_dict() if self.comparison else None,
        }
        return json_safe(out)

    def write_json(self, path: str | os.PathLike) -> None:
        """The report as JSON, written whole; never over the files it was computed from."""
        write_json(path, self.as_dict(), inputs={"predictions": self.predictions.path, "ground truth": self.truth.path})

    def to_text(self, max_problems: int = 5) -> str:
        return format_report(self, max_problems=max_problems)


def _extra(report: EvaluationReport) -> list[str]:
    names = set(report.truth.image_paths)
    return [n for n in report.predictions.image_paths if n not in names]


@dataclass
class DroppedView:
    """The metrics as the reference's evaluation script would report them: answers it cannot parse
    (`parsing.reference_keeps`) are left out instead of scored wrong; no intervals."""

    kept: int
    dropped: int
    values: dict[str, float]

    def line(self) -> str:
        shown = ", ".join(f"{METRIC_LABELS[m]} {_number(self.values[m])}" for m in LEADERBOARD)
        return (f"As the reference's evaluation script counts (answers it cannot parse dropped: {self.dropped} of "
                f"{self.kept + self.dropped}): {shown}")


# Runs whose raw text is no model's JSON answer (the feature baseline's notes, the score protocol's probabilities):
# the reference's parse-or-drop rule does not apply to them.
NO_ANSWER_TEXT_PROTOCOLS = frozenset({"features", "score"})


def dropped_view(report: EvaluationReport) -> DroppedView | None:
    """`DroppedView` of a report on the project's records (JSON Lines, lmms-eval samples: they keep the raw answers);
    None for other formats, and for runs that write no answer text (`NO_ANSWER_TEXT_PROTOCOLS`)."""
    import dataclasses

    from portraitcraft.parsing import reference_keeps
    from portraitcraft.predictions import RECORD_FORMATS, prediction_details

    if report.predictions.format not in RECORD_FORMATS:
        return None
    protocols = {run.get("protocol") for run in report.predictions.runs if isinstance(run, dict)}
    if protocols and protocols <= NO_ANSWER_TEXT_PROTOCOLS:
        return None
    raw = prediction_details(report.predictions.path).raw_text
    truth = report.truth
    keep = np.array([reference_keeps(raw.get(name)) for name in truth.image_paths], dtype=bool)
    if not keep.any():
        return DroppedView(0, len(keep), {m: math.nan for m in METRICS})
    subset = dataclasses.replace(
        truth, image_paths=[n for n, k in zip(truth.image_paths, keep) if k], total_score=truth.total_score[keep],
        levels=truth.levels[keep], answers=None if truth.answers is None else [
            a for a, k in zip(truth.answers, keep) if k])
    scored = score(align(report.predictions, subset), subset,
                   skip_invalid_scores=report.settings["skip_invalid_scores"])
    return DroppedView(int(keep.sum()), int((~keep).sum()), dict(scored.values))


def _intervals(samples: dict[str, np.ndarray], confidence: float) -> dict[str, metrics.Interval]:
    return {m: metrics.percentile_interval(samples[m], confidence) for m in METRICS}


def evaluate(
    predictions: PredictionSet | str | os.PathLike,
    ground_truth: GroundTruth | str | os.PathLike,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    skip_invalid_scores: bool = False,
    compare: PredictionSet | str | os.PathLike | None = None,
) -> EvaluationReport:
    """Score a prediction file (any format of `portraitcraft.predictions`) against ground truth.

    ``n_bootstrap`` resamples of the ground-truth images give every metric a percentile interval (0: none).
    With ``compare``, a second prediction file is scored on the same images and the same resamples, and the
    report carries the paired differences A - B with their intervals and bootstrap p-values.
    """
    if n_bootstrap < 0:
        raise ValueError("n_bootstrap must be >= 0")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    if not isinstance(predictions, PredictionSet):
        predictions = read_predictions(predictions)
    if not isinstance(ground_truth, GroundTruth):
        ground_truth = load_ground_truth(ground_truth)
    scored = score(align(predictions, ground_truth), ground_truth, skip_invalid_scores=skip_invalid_scores)
    indices = metrics.resample_indices(len(ground_truth), n_bootstrap, seed) if n_bootstrap else None
    samples = metrics.bootstrap_track1(scored.inputs, indices) if indices is not None else None
    ci = _intervals(samples, confidence) if samples is not None else None
    comparison = None
    flags_paired: list[str] = []
    if compare is not None:
        other = compare if isinstance(compare, PredictionSet) else read_predictions(compare)
        other_scored = score(align(other, ground_truth), ground_truth, skip_invalid_scores=skip_invalid_scores)
        difference = {m: scored.values[m] - other_scored.values[m] for m in METRICS}
        diff_ci = p_values = None
        if len(ground_truth) < MIN_PAIRED_IMAGES:
            flags_paired = [f"paired comparison on {len(ground_truth)} image(s), fewer than {MIN_PAIRED_IMAGES}: no "
                            "interval and no p-value (a bootstrap of so few images says nothing about a difference)"]
        elif indices is not None:
            other_samples = metrics.bootstrap_track1(other_scored.inputs, indices)
            paired = {m: samples[m] - other_samples[m] for m in METRICS}
            diff_ci = _intervals(paired, confidence)
            p_values = {m: metrics.paired_difference_p(paired[m]) for m in METRICS}
        comparison = Comparison(other.path, other.format, other_scored, difference, diff_ci, p_values)
    settings = {"bootstrap": n_bootstrap, "seed": seed, "confidence": confidence,
                "skip_invalid_scores": skip_invalid_scores, "ci_method": "percentile bootstrap over images"}
    flags = list(scored.flags) + flags_paired
    configurations = {run.get("config_hash", repr(sorted(run.items(), key=str))) for run in predictions.runs}
    if len(configurations) > 1:  # records of several runs in one file: the numbers mix them
        flags.append(f"{predictions.path} holds records of {len(configurations)} different runs (run blocks with "
                     "other configurations); the metrics mix them")
    return EvaluationReport(predictions, ground_truth, scored, ci, settings, comparison, flags)


def evaluate_on_split(
    predictions: PredictionSet | str | os.PathLike,
    data: str | os.PathLike,
    split: str = VALIDATION_SPLIT,
    *,
    compare: PredictionSet | str | os.PathLike | None = None,
    **options: Any,
) -> EvaluationReport:
    """`evaluate` on a named split of a PortraitCraft root instead of a ground-truth file: ``validation``, the
    seeded held-out part of train that the book's Table 3 and chapter 5 score where the test labels are hidden
    (`portraitcraft.labels.validation_split`, fraction 0.1, seed 0). A prediction file whose run records a model
    trained on those images is refused (DataError naming the file and why). ``options``: those of `evaluate`."""
    from portraitcraft.sources import open_dataset

    if split != VALIDATION_SPLIT:
        raise DataError(f"--split {split!r}: only {VALIDATION_SPLIT!r} is scored from a data root (for the test split, "
                        "give its ground-truth file: --ground-truth DATA/track_1_test_ground_truth.json)")
    dataset = open_dataset(str(data))
    try:
        truth = validation_split(dataset, fraction=VALIDATION_FRACTION, seed=VALIDATION_SEED)[0]
    except ValueError as exc:
        raise DataError(str(exc)) from exc
    sets = []
    for given in (predictions, compare):
        if given is None:
            sets.append(None)
            continue
        prediction_set = given if isinstance(given, PredictionSet) else read_predictions(given)
        leak = runs_validation_leak(prediction_set.runs, truth.image_paths, training_names(dataset))
        if leak:
            raise DataError(f"{prediction_set.path}: not scored on the {VALIDATION_SPLIT} split: {leak}")
        sets.append(prediction_set)
    return evaluate(sets[0], truth, compare=sets[1], **options)


# --- text ------------------------------------------------------------------------------------------------------------

def _number(value: float, digits: int = 4) -> str:
    return "NaN" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _interval_text(interval: metrics.Interval | None) -> str:
    if interval is None:
        return "-"
    text = f"[{_number(interval.low)}, {_number(interval.high)}]"
    if interval.undefined:
        text += f" ({interval.undefined} undef.)"
    return text


def format_report(report: EvaluationReport, max_problems: int = 5) -> str:
    """The readable table: metric, value, 95% CI, coverage; then flags, per attribute, and the semantics."""
    values, scored = report.values, report.scored
    pct = int(round(report.settings["confidence"] * 100))
    lines = [
        "PortraitCraft Track 1 evaluation",
        f"  predictions : {report.predictions.path} "
        f"({report.predictions.description}, {len(report.predictions)} records)",
        f"  ground truth: {report.truth.path} ({report.truth.description})",
        "",
        f"  {'metric':<20} {'value':>8}  {f'{pct}% CI':<28} coverage",
    ]
    for m in METRICS:
        cov = scored.coverage[m]
        note = " (extra, not in Overall)" if m == "plcc_logistic" else ""
        if m == "qa_acc" and not report.truth.qa_available:
            note = " (not available)"
        lines.append(
            f"  {METRIC_LABELS[m]:<20} {_number(values[m]):>8}  "
            f"{_interval_text(report.ci[m] if report.ci else None):<28} "
            f"{cov['valid']}/{cov['total']} {cov['of']}{note}"
        )
    if report.ci:
        lines.append(
            f"  intervals: {report.settings['bootstrap']} bootstrap resamples of images, seed {report.settings['seed']}"
        )
    if report.comparison:
        comp = report.comparison
        lines += ["", f"  compared with B = {comp.path} ({comp.format}); difference A - B, paired bootstrap:",
                  f"  {'metric':<20} {'B':>8} {'A - B':>8}  {f'{pct}% CI':<28} p"]
        for m in METRICS:
            lines.append(
                f"  {METRIC_LABELS[m]:<20} {_number(comp.scored.values[m]):>8} {_number(comp.difference[m]):>8}  "
                f"{_interval_text(comp.ci[m] if comp.ci else None):<28} "
                f"{_number(comp.p_value[m], 3) if comp.p_value else '-'}"
            )
    if report.flags:
        lines += ["", "Flags:"] + [f"  - {flag}" for flag in report.flags]
    problems = report.predictions.problems
    if problems:
        lines += ["", f"Invalid values read from the predictions ({len(problems)}, scored wrong or imputed):"]
        lines += [f"  {p}" for p in problems[:max_problems]]
        if len(problems) > max_problems:
            lines.append(f"  ... and {len(problems) - max_problems} more (all in the JSON report)")
    table = report.per_attribute
    lines += ["", "Per attribute (QWK over valid predictions):",
              f"  {'attribute':<50} {'acc':>6} {'F1':>6} {'QWK':>6} {'valid':>9}"]
    for row in table.itertuples(index=False):
        lines.append(f"  {row.attribute:<50} {_number(row.accuracy, 3):>6} {_number(row.macro_f1, 3):>6} "
                     f"{_number(row.qwk, 3):>6} {f'{row.valid}/{row.n}':>9}")
    lines += ["", "Semantics:"] + [f"  - {s}" for s in SEMANTICS]
    return "\n".join(lines)
