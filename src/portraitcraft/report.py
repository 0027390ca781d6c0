"""The paper's artifacts as data: Figure 2, Table 2 and Table 3 of PortraitCraft (arXiv 2604.03611).

    ds = open_dataset("data/lab", reveal_ground_truth=True)
    figure2a(ds).summary          # overall scores per split: n, mean, std, median; + .curves, .test
    figure2b(ds).means            # mean 0-10 score of the 13 attributes per split (the radar)
    table2(ds).frame              # Track 2 description lengths per (definition, split), `overall` included
    reproduce_table3(ds, ["runs/a.jsonl"]).frame   # reported rows beside rows computed here, with CIs
    write_report(ds, "report/")   # all of it as CSV and JSON, what `portraitcraft report` writes

Every function returns what the data allows and says in ``notes`` what it could not do (no Track 2 file,
the test labels hidden, too few images for a density); none raises for a partial dataset.

Reported numbers
----------------
`REPORTED_TABLE2` and `REPORTED_TABLE3` hold only numbers the paper reports, as quoted in the project's
issue: Table 2's train and test mean lengths (2237.0 and 2230.8), and Table 3's two Qwen3-VL-4B rows. The
paper's other Table 2 cells (samples, std, median, range) are not reproduced here because no source of them
was at hand; they are left out rather than guessed.

Table 2's length
----------------
The paper does not define the length it counts. `LENGTH_DEFINITIONS` holds four candidates, the first the
default: ``characters`` = len(content_description) + len(composition_analysis); ``characters_no_whitespace``
(the same without any whitespace); ``composition_only`` = len(composition_analysis); ``words`` = the number
of whitespace-separated words of both texts. Std has ddof=1; Avg. Attr. Length = mean / 13 (the attributes).
`closest_definitions` ranks the definitions by how far their means fall from the reported ones.

Table 3's simple predictors (computed for real, by `portraitcraft.evaluation.evaluate`)
-----------------------------------------------------------------------------------------
``chance``          score uniform on the integers 1-100, each level uniform over Poor/Medium/Good, the
                    answer uniform over A-D; one seeded generator (`numpy.random.default_rng(seed)`).
``constant-mean``   the mean training total score for every image (a constant, so SRCC and PLCC are
                    undefined: NaN, and Overall with them, as `portraitcraft.evaluation` rules); for each
                    attribute the most frequent training level (ties to the lower level); as answer, the most
                    frequent training answer where the training split has questions, else the fixed letter "A"
                    (the published training split has no questions).
Both learn only from the training images that are not scored (`EvaluationTarget.fit_images`).

Where the test split's ground truth is hidden (the published dataset), Table 3 scores on a held-out
validation split of train (`validation_split`: a seeded fraction of the labelled training images). It has
no questions, so QA Acc is not available and Overall is the mean of the other three. Prediction files are
then also written as official submissions for the test split (`write_submissions`).
"""

from __future__ import annotations

import json
import math
import os
import weakref
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from scipy import stats

from portraitcraft.attributes import (
    ANSWER_LETTERS,
    ATTRIBUTE_KEYS,
    ATTRIBUTE_NAMES,
    LEVELS,
    TOTAL_SCORE_RANGE,
)
from portraitcraft.data import GROUND_TRUTH_FILE, Dataset, counted, open_dataset
from portraitcraft.evaluation import LEADERBOARD, EvaluationReport, GroundTruth, evaluate, load_ground_truth
from portraitcraft.predictions import JSONL, PredictionSet, distinct_labels, read_predictions, write_submission

N_ATTRIBUTES: Final[int] = len(ATTRIBUTE_NAMES)


# ---- Figure 2(a): overall scores, train against test ------------------------------------------------------------


@dataclass(frozen=True)
class TwoSampleTest:
    """Mann-Whitney U and two-sample Kolmogorov-Smirnov tests of one split's overall scores against another's."""

    first: str
    second: str
    n_first: int
    n_second: int
    mann_whitney_u: float
    mann_whitney_p: float
    ks_statistic: float
    ks_p: float

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class ScoreDistribution:
    """Figure 2(a). ``curves``: split, score, density (a Gaussian KDE on one shared grid); ``summary``: one row
    per split with labelled images (n, mean, std with ddof=1, median, min, max); ``test``: train against test."""

    curves: pd.DataFrame
    summary: pd.DataFrame
    test: TwoSampleTest | None
    notes: list[str] = field(default_factory=list)


# A Dataset does not change once read, and its frames take a while to build: build each once per dataset.
_FRAMES: weakref.WeakKeyDictionary[Dataset, dict[str, pd.DataFrame]] = weakref.WeakKeyDictionary()


def _frame(dataset: Dataset, which: str) -> pd.DataFrame:
    """``dataset.images()``, ``.attributes()``, ``.questions()`` or ``.descriptions()``, built once (a copy each call)."""
    frames = _FRAMES.setdefault(dataset, {})
    if which not in frames:
        frames[which] = getattr(dataset, which)()
    return frames[which].copy()


def labelled_images(dataset: Dataset) -> pd.DataFrame:
    """Track 1 images whose overall score is known (hidden test labels excluded)."""
    images = _frame(dataset, "images")
    return images[~images["labels_hidden"] & images["total_score"].notna()]


def _hidden_note(dataset: Dataset) -> list[str]:
    images = _frame(dataset, "images")
    notes = []
    for split in dataset.track1_splits:
        hidden = int(images.loc[images["split"] == split, "labels_hidden"].sum())
        if hidden:
            notes.append(f"{split}: the labels of {hidden} image(s) are hidden (as in the published test file); "
                         f"that split is left out")
    return notes


def figure2a(dataset: Dataset, *, grid_points: int = 200) -> ScoreDistribution:
    """Overall-score densities of each labelled split on a shared grid over 1-100, their summary statistics,
    and Mann-Whitney U / KS tests between train and test (when both are labelled)."""
    labelled = labelled_images(dataset)
    notes = _hidden_note(dataset)
    grid = np.linspace(*TOTAL_SCORE_RANGE, grid_points)
    curves, rows = [], []
    scores: dict[str, np.ndarray] = {}
    for split in dataset.track1_splits:
        values = labelled.loc[labelled["split"] == split, "total_score"].to_numpy(dtype=float)
        if values.size == 0:
            continue
        scores[split] = values
        rows.append({"split": split, "n": int(values.size), "mean": float(values.mean()),
                     "std": float(values.std(ddof=1)) if values.size > 1 else math.nan,
                     "median": float(np.median(values)), "min": float(values.min()), "max": float(values.max())})
        if values.size < 2 or np.ptp(values) == 0:
            notes.append(f"{split}: {values.size} image(s) with {'one' if values.size < 2 else 'a constant'} score; "
                         "no density curve")
            continue
        curves.append(pd.DataFrame({"split": split, "score": grid, "density": stats.gaussian_kde(values)(grid)}))
    if not scores:
        notes.append("no labelled Track 1 image: Figure 2(a) is empty")
    test = None
    if "train" in scores and "test" in scores and min(scores["train"].size, scores["test"].size) >= 2:
        u = stats.mannwhitneyu(scores["train"], scores["test"], alternative="two-sided")
        ks = stats.ks_2samp(scores["train"], scores["test"])
        test = TwoSampleTest("train", "test", scores["train"].size, scores["test"].size,
                             float(u.statistic), float(u.pvalue), float(ks.statistic), float(ks.pvalue))
    elif scores:
        notes.append("no two-sample test: it needs at least two labelled images in both train and test")
    summary = pd.DataFrame(rows, columns=["split", "n", "mean", "std", "median", "min", "max"])
    curve_frame = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=["split", "score", "density"])
    return ScoreDistribution(curve_frame, summary, test, notes)


# ---- Figure 2(b): the 13 attributes --------------------------------------------------------------------------


@dataclass
class AttributeMeans:
    """Figure 2(b): 13 rows in `ATTRIBUTE_NAMES` order (attribute, key, then ``mean_<split>`` and ``n_<split>``
    for each labelled split)."""

    means: pd.DataFrame
    splits: list[str]
    notes: list[str] = field(default_factory=list)


def _labelled_attributes(dataset: Dataset) -> pd.DataFrame:
    attributes = _frame(dataset, "attributes")
    return attributes[~attributes["labels_hidden"] & attributes["score"].notna()]


def figure2b(dataset: Dataset) -> AttributeMeans:
    """Mean 0-10 score of each attribute per labelled split: the radar of Figure 2(b)."""
    scored = _labelled_attributes(dataset)
    means = pd.DataFrame({"attribute": list(ATTRIBUTE_NAMES), "key": list(ATTRIBUTE_KEYS)})
    splits = []
    for split in dataset.track1_splits:
        part = scored[scored["split"] == split]
        if part.empty:
            continue
        splits.append(split)
        grouped = part.groupby("attribute", observed=False)["score"]
        means[f"mean_{split}"] = grouped.mean().reindex(ATTRIBUTE_NAMES).to_numpy()
        means[f"n_{split}"] = grouped.size().reindex(ATTRIBUTE_NAMES).to_numpy()
    notes = _hidden_note(dataset)
    if not splits:
        notes.append("no labelled Track 1 image: Figure 2(b) has no values")
    return AttributeMeans(means, splits, notes)


def level_distribution(dataset: Dataset) -> pd.DataFrame:
    """Images per (split, attribute, level) among the labelled images, with each level's share of the attribute."""
    scored = _labelled_attributes(dataset)
    counts = (scored.assign(split=scored["split"].astype(str))
              .groupby(["split", "attribute", "level"], observed=True).size().rename("images"))
    full = pd.MultiIndex.from_product(
        [[s for s in dataset.track1_splits if s in set(scored["split"].astype(str))], ATTRIBUTE_NAMES, LEVELS],
        names=["split", "attribute", "level"])
    table = counts.reindex(full, fill_value=0).reset_index()
    totals = table.groupby(["split", "attribute"], sort=False)["images"].transform("sum")
    table["share"] = table["images"] / totals.where(totals > 0)
    return table


def attribute_correlation(dataset: Dataset, split: str | None = None) -> pd.DataFrame:
    """Spearman correlation between the 13 attribute scores over the labelled images (of ``split``, or all).

    A 13 x 13 frame indexed by attribute name; NaN where an attribute is constant or too few images."""
    images = labelled_images(dataset)
    if split is not None:
        images = images[images["split"] == split]
    scores = images[[f"{key}_score" for key in ATTRIBUTE_KEYS]].dropna()
    if len(scores) < 3:
        return pd.DataFrame(np.nan, index=list(ATTRIBUTE_NAMES), columns=list(ATTRIBUTE_NAMES))
    scores.columns = list(ATTRIBUTE_NAMES)
    return scores.corr(method="spearman")


# ---- Table 2: Track 2 description lengths ---------------------------------------------------------------------

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
TABLE2_COLUMNS: Final[tuple[str, ...]] = (
    "definition", "split", "samples", "mean", "std", "median", "min", "max", "avg_attr_length")

# Table 2 of the paper, as far as the project can source it: the mean length of the train and test splits.
REPORTED_TABLE2: Final[pd.DataFrame] = pd.DataFrame({"split": ["train", "test"], "mean": [2237.0, 2230.8]})


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
    texts = _frame(dataset, "descriptions")
    complete = texts.dropna(subset=["content_description", "composition_analysis"])
    frame = complete[["split", "image_path"]].reset_index(drop=True)
    for name in definitions:
        function = LENGTH_DEFINITIONS[name]
        frame[name] = [function(c, a) for c, a in zip(complete["content_description"], complete["composition_analysis"])]
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
        notes.append(f"not present: {', '.join(missing)}; Table 2 covers {', '.join(dataset.track2_splits) or 'nothing'}")
    skipped = len(_frame(dataset, "descriptions")) - len(lengths)
    if skipped:
        notes.append(f"{skipped} Track 2 record(s) lack a text and are left out of every definition")
    rows = []
    splits = [s for s in dataset.track2_splits if (lengths["split"] == s).any()]
    for definition in definitions:
        for split in splits:
            rows.append(_length_row(definition, split, lengths.loc[lengths["split"] == split, definition].to_numpy(float)))
        if splits:
            rows.append(_length_row(definition, "overall", lengths[definition].to_numpy(float)))
    if not splits:
        notes.append("no Track 2 description: Table 2 is empty")
    frame = pd.DataFrame(rows, columns=list(TABLE2_COLUMNS))
    frame["samples"] = frame["samples"].astype(int)
    return LengthTable(frame, notes)


def closest_definitions(table: LengthTable | pd.DataFrame, reported: pd.DataFrame = REPORTED_TABLE2) -> pd.DataFrame:
    """Rank the length definitions by the mean absolute difference of their split means from the reported means.

    Columns: definition, splits (compared), mean_abs_difference, mean_relative_difference (of the reported
    value), rank (1 = closest). Definitions with no split in common with ``reported`` get no rank."""
    frame = table.frame if isinstance(table, LengthTable) else table
    joined = frame.merge(reported[["split", "mean"]], on="split", suffixes=("", "_reported"))
    joined["difference"] = (joined["mean"] - joined["mean_reported"]).abs()
    joined["relative"] = joined["difference"] / joined["mean_reported"]
    ranking = (joined.groupby("definition", sort=False)
               .agg(splits=("split", lambda s: ", ".join(s)), mean_abs_difference=("difference", "mean"),
                    mean_relative_difference=("relative", "mean"))
               .reset_index())
    ranking = ranking.sort_values("mean_abs_difference", kind="stable").reset_index(drop=True)
    ranking["rank"] = np.arange(1, len(ranking) + 1)
    return ranking


# ---- Table 3: methods ------------------------------------------------------------------------------------------

TABLE3_METRICS: Final[tuple[str, ...]] = LEADERBOARD  # srcc, plcc, level_acc, qa_acc, overall
TABLE3_COLUMNS: Final[tuple[str, ...]] = (
    "method", "source", "evaluated_on", "n_images", "qa_available",
    *(f"{m}{suffix}" for m in TABLE3_METRICS for suffix in ("", "_low", "_high")), "note")
REPORTED, COMPUTED = "reported", "computed"

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


@dataclass
class EvaluationTarget:
    """What Table 3's computed rows are scored on, and which training images the simple predictors learn from."""

    truth: GroundTruth | None
    split: str  # "test", "validation", or "none"
    description: str
    fit_images: list[str]
    test_labels_hidden: bool
    notes: list[str] = field(default_factory=list)


def _truth_from_images(images: pd.DataFrame, path: Path) -> GroundTruth:
    levels = np.column_stack([images[f"{key}_level"].cat.codes.to_numpy() for key in ATTRIBUTE_KEYS])
    return GroundTruth(path, list(images["image_path"]), images["total_score"].to_numpy(float),
                       levels.astype(int).reshape(-1, N_ATTRIBUTES), None, ("0-10 scores",))


def _fully_labelled_train(dataset: Dataset) -> pd.DataFrame:
    images = labelled_images(dataset)
    images = images[images["split"] == "train"]
    complete = np.all([images[f"{key}_level"].notna().to_numpy() for key in ATTRIBUTE_KEYS], axis=0)
    return images[complete] if len(images) else images


def validation_split(dataset: Dataset, *, fraction: float = 0.1, seed: int = 0) -> tuple[GroundTruth, list[str]]:
    """A seeded held-out fraction of the labelled training images as ground truth (no questions: QA is not
    available), and the remaining training images. Raises ValueError when fewer than two images are labelled."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction={fraction}: must be between 0 and 1")
    train = _fully_labelled_train(dataset).sort_values("image_path", kind="stable")
    if len(train) < 2:
        raise ValueError(f"{dataset.root}: {len(train)} fully labelled training image(s); a validation split needs two")
    n_validation = min(len(train) - 1, max(1, round(fraction * len(train))))
    order = np.random.default_rng(seed).permutation(len(train))
    held_out = np.zeros(len(train), dtype=bool)
    held_out[order[:n_validation]] = True
    truth = _truth_from_images(train[held_out], dataset.root / "track_1_train.json")
    return truth, list(train.loc[~held_out, "image_path"])


def evaluation_target(dataset: Dataset, *, validation_fraction: float = 0.1, seed: int = 0) -> EvaluationTarget:
    """The test split where its labels are available (the lab's ground-truth file, or a test file with labels);
    otherwise a validation split of train, noted as such."""
    notes: list[str] = []
    train = _fully_labelled_train(dataset)
    train_names = list(train["image_path"])
    images = _frame(dataset, "images")
    test = images[images["split"] == "test"]
    hidden = bool(len(test)) and bool(test["labels_hidden"].all()) and not dataset.ground_truth_revealed
    ground_truth_file = dataset.root / GROUND_TRUTH_FILE
    test_file = dataset.root / "track_1_test.json"
    if ground_truth_file.is_file():
        truth = load_ground_truth(ground_truth_file)
        described = f"test split ({counted(len(truth), 'image')}, labels from {GROUND_TRUTH_FILE})"
        return EvaluationTarget(truth, "test", described, train_names, False, notes)
    if len(test) and not test["labels_hidden"].any():
        truth = load_ground_truth(test_file)
        described = f"test split ({counted(len(truth), 'image')}, labels in track_1_test.json)"
        return EvaluationTarget(truth, "test", described, train_names, False, notes)
    if hidden:
        notes.append(f"the test split's ground truth is hidden ({counted(len(test), 'image')}: level 'x', total_score 0, "
                     "answer 'x'); the official test is scored by the benchmark's server, so prediction files are "
                     "written as submissions and the computed rows are scored on a validation split of train")
    elif not len(test):
        notes.append("no Track 1 test split: the computed rows are scored on a validation split of train")
    try:
        truth, fit = validation_split(dataset, fraction=validation_fraction, seed=seed)
    except ValueError as exc:
        notes.append(f"no validation split either: {exc}")
        return EvaluationTarget(None, "none", "nothing to score on", train_names, hidden, notes)
    notes.append(f"validation split: {len(truth)} of {len(truth) + len(fit)} labelled training images "
                 f"(fraction {validation_fraction:g}, seed {seed}); it has no questions, so QA Acc is not available "
                 "and Overall is the mean of SRCC, PLCC and Level Acc")
    described = f"validation split of train ({counted(len(truth), 'image')}, seed {seed})"
    return EvaluationTarget(truth, "validation", described, fit, hidden, notes)


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
    questions = _frame(dataset, "questions")
    answered = questions[questions["image_path"].isin(set(fit_images)) & questions["answer"].notna()]
    answer = Counter(answered["answer"]).most_common(1)[0][0] if len(answered) else ANSWER_LETTERS[0]
    n = len(images)
    return _prediction_set("constant-mean", list(images), np.full(n, mean_score), np.tile(codes, (n, 1)), [answer] * n)


def method_name(predictions: PredictionSet) -> str:
    """A readable method label from a prediction file's run metadata, else its file name."""
    for run in predictions.runs:
        if run.get("backend") == "features":
            return "Feature baseline (CPU)"
        model = run.get("model")
        if isinstance(model, str) and model:
            label = model.rstrip("/").rsplit("/", 1)[-1]
            protocol = run.get("protocol")
            return f"{label} ({protocol})" if protocol else label
    return predictions.path.name


@dataclass
class MethodResult:
    """One computed row of Table 3: a method, its report (None when it could not be scored), and why not."""

    method: str
    report: EvaluationReport | None
    evaluated_on: str
    note: str = ""
    predictions: PredictionSet | None = None


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
            for metric in TABLE3_METRICS:
                row[metric] = report.values[metric]
                if report.ci:
                    row[f"{metric}_low"], row[f"{metric}_high"] = report.ci[metric].low, report.ci[metric].high
        rows.append(row)
    frame = pd.DataFrame(rows).reindex(columns=list(TABLE3_COLUMNS))
    frame["n_images"] = frame["n_images"].astype("Int64")
    frame["qa_available"] = frame["qa_available"].astype("boolean")
    for column in TABLE3_COLUMNS[5:-1]:
        frame[column] = frame[column].astype(float)
    frame["note"] = frame["note"].fillna("")
    return frame


@dataclass
class Table3:
    """Table 3 reproduced: the frame, the scoring target, each method's full report, and submissions written."""

    frame: pd.DataFrame
    target: EvaluationTarget
    results: list[MethodResult]
    submissions: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def write_submissions(dataset: Dataset, predictions: Sequence[PredictionSet], out_dir: str | os.PathLike) -> list[Path]:
    """Write each prediction set as the official submission for the dataset's test file, into ``out_dir``."""
    test_file = dataset.root / "track_1_test.json"
    if not test_file.is_file():
        return []
    out_dir = Path(out_dir)
    written = []
    for prediction_set in predictions:
        out = out_dir / f"submission_{Path(prediction_set.path).stem}.json"
        write_submission(prediction_set, test_file, out)
        written.append(out)
    return written


def reproduce_table3(
    dataset: Dataset,
    predictions: Sequence[str | os.PathLike | PredictionSet] = (),
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    validation_fraction: float = 0.1,
    submissions_dir: str | os.PathLike | None = None,
) -> Table3:
    """Score each prediction file, the chance and the constant-mean predictors on the evaluation target (the
    test split, or a validation split of train where the test labels are hidden) and build Table 3.

    Where the test labels are hidden and ``submissions_dir`` is given, each prediction file is also written
    there as an official submission. Raises `portraitcraft.predictions.PredictionFileError` for an unreadable
    prediction file (one line naming it)."""
    target = evaluation_target(dataset, validation_fraction=validation_fraction, seed=seed)
    notes = list(target.notes)
    sets = [p if isinstance(p, PredictionSet) else read_predictions(p) for p in predictions]
    results: list[MethodResult] = []
    truth = target.truth
    names = distinct_labels([method_name(p) for p in sets], [p.path for p in sets])
    for name, prediction_set in zip(names, sets):
        if truth is None:
            results.append(MethodResult(name, None, target.description, "not scored: no labelled images", prediction_set))
            continue
        covered = len(set(prediction_set.image_paths) & set(truth.image_paths))
        if covered == 0:
            results.append(MethodResult(
                name, None, target.description,
                f"not scored: {prediction_set.path.name} predicts none of the {counted(len(truth), 'image')} of the "
                f"{target.split} split", prediction_set))
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
    submissions: list[Path] = []
    if target.test_labels_hidden and submissions_dir is not None and sets:
        submissions = write_submissions(dataset, sets, submissions_dir)
        notes.append(f"submission file(s) for the official test written: {', '.join(p.name for p in submissions)}")
    return Table3(table3(results), target, results, submissions, notes)


# ---- everything as files ---------------------------------------------------------------------------------------

REPORT_FILES: Final[tuple[str, ...]] = ("figure2a", "figure2b", "table2", "table3")


def _json_ready(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return _json_ready(frame.astype(object).where(frame.notna(), None).to_dict(orient="records"))


def _write_json(path: Path, content: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(_json_ready(content), indent=2, ensure_ascii=False, allow_nan=False) + "\n",
                    encoding="utf-8")


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

    def csv(frame: pd.DataFrame, name: str, **kwargs: Any) -> None:
        path = out / f"{name}.csv"
        frame.to_csv(path, **{"index": False, **kwargs})
        written.append(path)

    def twin(name: str, content: Mapping[str, Any]) -> None:
        path = out / f"{name}.json"
        _write_json(path, content)
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
    return ReportFiles(out, written, list(dict.fromkeys(notes)))


__all__ = [
    "DEFAULT_DEFINITION", "LENGTH_DEFINITIONS", "LENGTH_DESCRIPTIONS", "REPORTED_TABLE2", "REPORTED_TABLE3",
    "TABLE2_COLUMNS", "TABLE3_COLUMNS", "AttributeMeans", "EvaluationTarget", "LengthTable", "MethodResult",
    "ReportFiles", "ScoreDistribution", "Table3", "TwoSampleTest", "attribute_correlation", "chance_predictions",
    "closest_definitions", "constant_mean_predictions", "description_lengths", "evaluation_target", "figure2a",
    "figure2b", "labelled_images", "level_distribution", "method_name", "reproduce_table3", "table2", "table3",
    "validation_split", "write_report", "write_submissions",
]
