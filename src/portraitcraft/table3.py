"""Table 3 of PortraitCraft (arXiv 2604.03611) as data: the paper's reported rows beside rows computed here, each
with a 95% bootstrap interval. For example::

    from portraitcraft.sources import open_dataset
    from portraitcraft.table3 import reproduce_table3

    runs = ["data/lab/runs/feature-baseline.jsonl"]
    reproduce_table3(open_dataset("data/lab"), runs).frame

Table 3 as reported
-------------------
`REPORTED_TABLE3` holds only the numbers the paper reports, transcribed from it: its two
Qwen3-VL-4B rows (zero-shot and fine-tuned), without an Overall column.

Table 3's simple predictors (computed for real, by `portraitcraft.evaluation.evaluate`)
-----------------------------------------------------------------------------------------
* ``chance``: score uniform on the integers 1-100, each level uniform over Poor/Medium/Good, the answer uniform
  over A-D; one seeded generator (`numpy.random.default_rng(seed)`).
* ``constant-mean``: the mean training total score for every image (a constant, so SRCC and PLCC are undefined:
  NaN, and Overall with them, as `portraitcraft.evaluation` rules); for each attribute the most frequent training
  level (ties to the lower level); as answer, the most frequent training answer where the training split has
  questions, else the fixed letter "A" (the published training split has no questions).

Both learn only from the training images that are not scored (`EvaluationTarget.fit_images`).

Where the test split's ground truth is hidden (the published dataset), Table 3 scores on a held-out
validation split of train (`portraitcraft.labels.validation_split`: a seeded fraction of the labelled training
images; `portraitcraft.labels.evaluation_target` decides). It has no questions, so QA Acc is not available and
Overall is the mean of the other three. Prediction files are then also written as official submissions for the
test split (`write_submissions`).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from portraitcraft.attributes import ANSWER_LETTERS, ATTRIBUTE_KEYS, ATTRIBUTE_NAMES, LEVELS, TOTAL_SCORE_RANGE
from portraitcraft.data import Dataset
from portraitcraft.evaluation import LEADERBOARD, EvaluationReport, evaluate
from portraitcraft.labels import (
    EvaluationTarget,
    dataset_frame,
    evaluation_target,
    labelled_images,
    runs_validation_leak,
    training_names,
)
from portraitcraft.predictions import (
    JSONL,
    PredictionSet,
    SubmissionSummary,
    prediction_label,
    prediction_labels,
    read_predictions,
    write_submission,
)
from portraitcraft.text import counted

N_ATTRIBUTES: Final[int] = len(ATTRIBUTE_NAMES)

TABLE3_METRICS: Final[tuple[str, ...]] = LEADERBOARD  # srcc, plcc, level_acc, qa_acc, overall
TABLE3_COLUMNS: Final[tuple[str, ...]] = (
    "method", "source", "evaluated_on", "n_images", "qa_available",
    *(f"{m}{suffix}" for m in TABLE3_METRICS for suffix in ("", "_low", "_high")), "valid_share", "warning", "note")
REPORTED, COMPUTED = "reported", "computed"
# A computed row resting on fewer images, or with a smaller share of valid fields, carries a warning: its interval
# is wide or its numbers are mostly the scorer's rules for invalid fields, not the model's answers.
MIN_ROW_IMAGES: Final[int] = 30
MIN_VALID_SHARE: Final[float] = 0.9

# Table 3 of the paper: Qwen3-VL-4B on the official test split, zero-shot and fine-tuned. No Overall is
# quoted; the paper's numbers are kept as they are, not completed here.
REPORTED_TABLE3: Final[pd.DataFrame] = pd.DataFrame({
    "method": ["Qwen3-VL-4B (zero-shot)", "Qwen3-VL-4B (fine-tuned)"],
    "source": [REPORTED, REPORTED],
    "evaluated_on": ["PortraitCraft test (paper)"] * 2,
    "srcc": [0.6726, 0.7778],
    "plcc": [0.6420, 0.7477],
    "level_acc": [0.4290, 0.4592],
    "qa_acc": [0.7825, 0.8765],
})


def _prediction_set(name: str, images: list[str], scores: np.ndarray, levels: np.ndarray,
                    answers: list[str | None]) -> PredictionSet:
    return PredictionSet(Path(name), JSONL, list(images), np.asarray(scores, float), np.asarray(levels, int),
                         list(answers), ["ok"] * len(images))


def chance_predictions(images: Sequence[str], *, seed: int = 0) -> PredictionSet:
    """Uniformly random scores (integers 1-100), levels and answers for ``images``, from one seeded generator."""
    rng = np.random.default_rng(seed)
    n = len(images)
    scores = rng.integers(TOTAL_SCORE_RANGE[0], TOTAL_SCORE_RANGE[1] + 1, size=n).astype(float)
    levels = rng.integers(0, len(LEVELS), size=(n, N_ATTRIBUTES))
    answers = [ANSWER_LETTERS[i] for i in rng.integers(0, len(ANSWER_LETTERS), size=n)]
    return _prediction_set(f"chance (seed {seed})", list(images), scores, levels, answers)


def constant_mean_predictions(dataset: Dataset, images: Sequence[str], fit_images: Sequence[str]) -> PredictionSet:
    """The same prediction for every image, learnt from ``fit_images`` (see the module docstring)."""
    labelled = labelled_images(dataset)
    fit = labelled[labelled["image_path"].isin(set(fit_images))]
    if fit.empty:
        raise ValueError(f"{dataset.root}: no labelled training image to fit the constant-mean predictor on")
    mean_score = float(fit["total_score"].mean())
    codes = []
    for key in ATTRIBUTE_KEYS:
        counts = Counter(fit[f"{key}_level"].dropna().astype(str))
        codes.append(max(range(len(LEVELS)), key=lambda c: (counts[LEVELS[c]], -c)))  # ties: the lower level
    questions = dataset_frame(dataset, "questions")
    answered = questions[questions["image_path"].isin(set(fit_images)) & questions["answer"].notna()]
    answer = Counter(answered["answer"]).most_common(1)[0][0] if len(answered) else ANSWER_LETTERS[0]
    n = len(images)
    return _prediction_set("constant-mean", list(images), np.full(n, mean_score), np.tile(codes, (n, 1)), [answer] * n)


# The label a prediction file gets on every page (kept under its former name for callers of this module).
method_name = prediction_label


@dataclass
class MethodResult:
    """One computed row of Table 3: a method, its report (None when it could not be scored), and why not."""

    method: str
    report: EvaluationReport | None
    evaluated_on: str
    note: str = ""
    predictions: PredictionSet | None = None


def row_warning(n_images: int, coverage: dict[str, dict[str, Any]], qa_available: bool = True) -> str:
    """Why a computed row should be read with care, or "": fewer than `MIN_ROW_IMAGES` images, or a metric whose
    fields are valid for less than `MIN_VALID_SHARE` of the images (the fields: `EvaluationReport.coverage`)."""
    reasons = []
    if n_images < MIN_ROW_IMAGES:
        reasons.append(f"rests on {counted(n_images, 'image')} (fewer than {MIN_ROW_IMAGES})")
    seen = set()
    for metric, entry in coverage.items():
        if (metric == "qa_acc" and not qa_available) or entry["of"] in seen:
            continue
        seen.add(entry["of"])
        if entry["share"] < MIN_VALID_SHARE:
            reasons.append(f"{entry['share']:.0%} {entry['of']} ({entry['valid']} of {entry['total']}; less than "
                           f"{MIN_VALID_SHARE:.0%})")
    return "; ".join(reasons)


def table3(results: Sequence[MethodResult], *, reported: pd.DataFrame | None = REPORTED_TABLE3) -> pd.DataFrame:
    """Table 3: the reported rows (labelled ``reported``) then one ``computed`` row per result, with 95% CIs."""
    rows = []
    if reported is not None:
        for record in reported.to_dict(orient="records"):
            rows.append({**record, "note": record.get("note", "as reported in the paper; not recomputed")})
    for result in results:
        row: dict[str, Any] = {"method": result.method, "source": COMPUTED, "evaluated_on": result.evaluated_on,
                               "note": result.note}
        report = result.report
        if report is not None:
            row["n_images"] = len(report.truth)
            row["qa_available"] = report.truth.qa_available
            row["valid_share"] = min(entry["share"] for metric, entry in report.scored.coverage.items()
                                     if metric != "qa_acc" or report.truth.qa_available)
            row["warning"] = row_warning(len(report.truth), report.scored.coverage, report.truth.qa_available)
            for metric in TABLE3_METRICS:
                row[metric] = report.values[metric]
                if report.ci:
                    row[f"{metric}_low"], row[f"{metric}_high"] = report.ci[metric].low, report.ci[metric].high
        rows.append(row)
    frame = pd.DataFrame(rows).reindex(columns=list(TABLE3_COLUMNS))
    frame["n_images"] = frame["n_images"].astype("Int64")
    frame["qa_available"] = frame["qa_available"].astype("boolean")
    for column in TABLE3_COLUMNS[5:-2]:
        frame[column] = frame[column].astype(float)
    frame["note"] = frame["note"].fillna("")
    frame["warning"] = frame["warning"].astype(object).fillna("")
    return frame


@dataclass
class Table3:
    """Table 3 reproduced: the frame, the scoring target, each method's full report, and submissions written."""

    frame: pd.DataFrame
    target: EvaluationTarget
    results: list[MethodResult]
    submissions: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # per prediction file, what its written submission holds (NOT_RES levels and answers, null scores, the images
    # with them); None for a file of training images only, which gets no submission
    submission_checks: list[SubmissionSummary | None] = field(default_factory=list)


def write_submissions(dataset: Dataset, predictions: Sequence[PredictionSet], out_dir: str | os.PathLike, *,
                      fingerprint: bool = False, replace_stale: bool = False) -> list[Path]:
    """Write each prediction set as the official submission for the dataset's test file, into ``out_dir``.
    ``fingerprint`` and ``replace_stale``: see `check_submissions`."""
    return [summary.out for summary in check_submissions(dataset, predictions, out_dir, fingerprint=fingerprint,
                                                         replace_stale=replace_stale)]


def check_submissions(dataset: Dataset, predictions: Sequence[PredictionSet], out_dir: str | os.PathLike, *,
                      fingerprint: bool = False, replace_stale: bool = False) -> list[SubmissionSummary]:
    """`write_submissions`, returning what each submission holds (`SubmissionSummary`: NOT_RES and null counts, the
    images written with them). With ``fingerprint`` each name carries the first 8 hex digits of the SHA-256 of the
    prediction file's bytes (a submission of an older version of the file has another name); with
    ``replace_stale`` every other ``submission_*.json`` in ``out_dir`` is removed first, so that the folder holds
    this build's submissions only."""
    test_file = dataset.root / "track_1_test.json"
    if not test_file.is_file():
        return []
    out_dir = Path(out_dir)
    names = submission_names([p.path for p in predictions])
    if fingerprint:
        names = [f"{Path(name).stem}_{file_digest(p.path)}.json" for name, p in zip(names, predictions)]
    if replace_stale and out_dir.is_dir():
        for stale in out_dir.glob("submission_*.json"):
            if stale.name not in names and stale.is_file() and not stale.is_symlink():
                stale.unlink()
    return [write_submission(prediction_set, test_file, out_dir / name)
            for prediction_set, name in zip(predictions, names)]


def submission_names(paths: Sequence[str | os.PathLike]) -> list[str]:
    """``submission_<stem>.json`` for each prediction file, distinct: where two stems are alike
    (``runA/preds.jsonl``, ``runB/preds.jsonl``) the folder joins the name, then a number."""
    paths = [Path(p) for p in paths]
    names = [p.stem for p in paths]
    repeated = {n for n in names if names.count(n) > 1}
    names = [f"{p.parent.name}_{n}" if n in repeated else n for n, p in zip(names, paths)]
    seen: Counter[str] = Counter()
    unique = []
    for n in names:
        seen[n] += 1
        unique.append(n if seen[n] == 1 else f"{n}_{seen[n]}")
    return [f"submission_{n}.json" for n in unique]


def file_digest(path: str | os.PathLike, length: int = 8) -> str:
    """The first ``length`` hex digits of the SHA-256 of a file's bytes ("nofile" when it cannot be read)."""
    import hashlib

    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return "nofile"
    return digest.hexdigest()[:length]


def reproduce_table3(
    dataset: Dataset,
    predictions: Sequence[str | os.PathLike | PredictionSet] = (),
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    validation_fraction: float = 0.1,
    submissions_dir: str | os.PathLike | None = None,
    fingerprint_submissions: bool = False,
) -> Table3:
    """Score each prediction file, the chance and the constant-mean predictors on the evaluation target (the
    test split, or a validation split of train where the test labels are hidden) and build Table 3.

    Where the test labels are hidden and ``submissions_dir`` is given, each prediction file is also written
    there as an official submission (``fingerprint_submissions``: named by its content, the folder's other
    submissions removed; see `check_submissions`). Raises `portraitcraft.predictions.PredictionFileError` for an
    unreadable prediction file (one line naming it)."""
    target = evaluation_target(dataset, validation_fraction=validation_fraction, seed=seed)
    notes = list(target.notes)
    sets = [p if isinstance(p, PredictionSet) else read_predictions(p) for p in predictions]
    results: list[MethodResult] = []
    truth = target.truth
    names = prediction_labels(sets)
    for name, prediction_set in zip(names, sets):
        if truth is None:
            results.append(
                MethodResult(name, None, target.description, "not scored: no labelled images", prediction_set)
            )
            continue
        covered = len(set(prediction_set.image_paths) & set(truth.image_paths))
        if covered == 0:
            results.append(MethodResult(
                name, None, target.description,
                # named by the row already; the file only where a label names it otherwise
                f"not scored: {'the file' if name == prediction_set.path.name else prediction_set.path.name} predicts "
                f"none of the {counted(len(truth), 'image')} of the {target.split} split", prediction_set))
            continue
        leak = (runs_validation_leak(prediction_set.runs, truth.image_paths, training_names(dataset))
                if target.split == "validation" else None)
        if leak:
            results.append(MethodResult(name, None, target.description, f"not scored: {leak}", prediction_set))
            continue
        report = evaluate(prediction_set, truth, n_bootstrap=n_bootstrap, seed=seed)
        note = "; ".join(report.flags[:2]) if covered < len(truth) else ""
        results.append(MethodResult(name, report, target.description, note, prediction_set))
    if truth is not None:
        for name, simple in (("Chance (uniform)", chance_predictions(truth.image_paths, seed=seed)),
                             ("Constant mean", constant_mean_predictions(dataset, truth.image_paths, target.fit_images)
                              if target.fit_images else None)):
            if simple is None:
                notes.append(f"{name}: no labelled training image to learn from; left out")
                continue
            report = evaluate(simple, truth, n_bootstrap=n_bootstrap, seed=seed)
            note = ("SRCC and PLCC undefined: a constant score has no rank order" if name == "Constant mean"
                    else f"seed {seed}")
            results.append(MethodResult(name, report, target.description, note, simple))
    checks: list[SubmissionSummary | None] = []
    if target.test_labels_hidden and submissions_dir is not None and sets:
        # A file of training images only (the validation split's predictions) is no submission for the test.
        images = dataset_frame(dataset, "images")
        training = set(images.loc[images["split"] != "test", "image_path"])
        for_test = [s for s in sets if not set(s.image_paths) <= training]
        written = iter(check_submissions(dataset, for_test, submissions_dir, fingerprint=fingerprint_submissions,
                                         replace_stale=fingerprint_submissions))
        chosen = {id(s) for s in for_test}
        checks = [next(written) if id(s) in chosen else None for s in sets]
        names = [c.out.name for c in checks if c is not None]
        if names:
            notes.append(f"submission file(s) for the official test written: {', '.join(names)}")
    return Table3(table3(results), target, results, [c.out for c in checks if c is not None], notes, checks)


__all__ = [
    "COMPUTED", "MIN_ROW_IMAGES", "MIN_VALID_SHARE", "REPORTED", "REPORTED_TABLE3", "TABLE3_COLUMNS", "TABLE3_METRICS",
    "MethodResult", "Table3", "row_warning",
    "chance_predictions", "check_submissions", "constant_mean_predictions", "file_digest", "method_name",
    "reproduce_table3", "table3", "write_submissions",
]
