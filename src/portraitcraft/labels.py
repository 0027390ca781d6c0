"""The ground truth, in one place: reading it from a ground-truth file or from a dataset, which labels count as
hidden, which images are labelled, and the seeded validation split that Table 3 and fine-tuning share.

For example::

    from portraitcraft import open_dataset
    from portraitcraft.labels import (evaluation_target, image_labels,
                                      labelled_images, load_ground_truth,
                                      validation_split)

    dataset = open_dataset("data/lab")
    # the lab's track_1_test_ground_truth.json
    truth = load_ground_truth("data/lab")
    # images rows whose labels are known
    labelled_images(dataset)
    # GroundTruth of some images, in that order
    image_labels(dataset, ["lab_00001.jpg"]).truth
    truth, fit = validation_split(dataset, fraction=0.1, seed=0)
    # what Table 3 scores on: the test split or validation
    evaluation_target(dataset)

Hidden labels
-------------
The published test file hides its labels with placeholders: level "x" for every attribute, total_score 0,
answer "x". One rule decides whether a record is hidden, `portraitcraft.attributes.labels_hidden` (it sits beside
the placeholders, below the data reader, which applies it too): hidden means *every* attribute entry has level "x"
*and* total_score is the integer 0. A record with only some placeholders is not hidden but defective: the data
reader reports each bad value, and `load_ground_truth` refuses the file naming the record and the value (a level
"x" is not a level, a total of 0 is outside 1-100). A hidden record is never scored: `load_ground_truth` refuses a
file holding one, and `labelled_images` leaves it out.

Labelled images
---------------
An image is labelled when its labels are not hidden and its overall score is known (`labelled_images`: Figure 2,
the simple predictors); it is fully labelled when, in addition, all 13 levels are known (`image_labels`, the
validation split, fine-tuning). The lab's test labels are known when the dataset was opened with
``reveal_ground_truth=True``.

Validation split
----------------
`validation_split` holds out ``round(fraction x n)`` (at least 1, at most n - 1) of the n fully labelled training
images, sorted by name and drawn with ``numpy.random.default_rng(seed).permutation``. The same fraction and seed
give the same split to `portraitcraft report` (Table 3 where the test labels are hidden) and to
`portraitcraft finetune` (the images it must not train on).
"""

from __future__ import annotations

import os
import sys
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from portraitcraft.attributes import (
    ATTRIBUTE_KEYS,
    ATTRIBUTE_NAMES,
    LEVELS,
    TOTAL_SCORE_RANGE,
    labels_hidden,
    level_from_score,
    normalise_level,
)
from portraitcraft.data import GROUND_TRUTH_FILE, DataError, Dataset, read_json_records
from portraitcraft.predictions import image_name, read_answer_letter, read_total_score
from portraitcraft.text import counted

N_ATTRIBUTES: Final[int] = len(ATTRIBUTE_NAMES)
LEVEL_COLUMNS: Final[tuple[str, ...]] = tuple(f"{key}_level" for key in ATTRIBUTE_KEYS)
SCORE_COLUMNS: Final[tuple[str, ...]] = tuple(f"{key}_score" for key in ATTRIBUTE_KEYS)


# --- ground truth from a file ------------------------------------------------------------------------------------

class GroundTruthError(DataError):
    """A ground-truth file that cannot be used for scoring; the message names the file and record."""


@dataclass
class GroundTruth:
    """True labels of the scored images: total score, 13 level codes, and the answers when there are questions."""

    path: Path
    image_paths: list[str]
    total_score: np.ndarray
    levels: np.ndarray  # (n, 13) codes 0 Poor, 1 Medium, 2 Good
    answers: list[str] | None  # None when the file has no questions (e.g. a validation split of train)
    label_forms: tuple[str, ...]  # how levels were written: "0-10 scores", "letters", "words"

    @property
    def qa_available(self) -> bool:
        return self.answers is not None

    def __len__(self) -> int:
        return len(self.image_paths)

    @property
    def description(self) -> str:
        return f"{len(self)} images, levels from {' and '.join(self.label_forms)}, " + (
            "with questions" if self.qa_available else "without questions (QA not available)")


def _ground_truth_level(entry: object) -> tuple[str | None, str | None]:
    """(level, form) from a criteria entry: {"level": A/B/C or word}, {"score": 0-10}, a bare level or score."""
    if isinstance(entry, dict):
        if "level" in entry:
            entry = entry["level"]
        elif "score" in entry:
            entry = entry["score"]
        else:
            return None, None
    if isinstance(entry, str):
        level = normalise_level(entry)
        form = "letters" if entry.strip().upper() in ("A", "B", "C") else "words"
        return level, form if level else None
    score = read_total_score(entry)
    if score is not None and 0.0 <= score <= 10.0:
        return level_from_score(score), "0-10 scores"
    return None, None


def load_ground_truth(path: str | os.PathLike) -> GroundTruth:
    """Read ground truth: the lab's ``track_1_test_ground_truth.json`` (or a folder holding it), a train-style
    file (criteria scores, no questions), or a test file with labels filled in (levels as A/B/C, as words, or as
    0-10 scores). Files whose labels are hidden (level "x", total 0, answer "x") are refused.
    """
    path = Path(path)
    if path.is_dir():
        if not (path / GROUND_TRUTH_FILE).is_file():
            raise GroundTruthError(f"{path}: a folder without {GROUND_TRUTH_FILE}; give the ground-truth file itself")
        path = path / GROUND_TRUTH_FILE
    try:
        records = read_json_records(path)
    except (RecursionError, ValueError) as exc:  # too deep, or an integer of thousands of digits
        raise GroundTruthError(f"{path}: invalid JSON: {exc}") from exc
    if not records:
        raise GroundTruthError(f"{path}: no records")
    names: list[str] = []
    first: dict[str, int] = {}
    totals, levels, answers = [], [], []
    forms: set[str] = set()
    with_answer: int | None = None
    without_answer: int | None = None
    for i, rec in enumerate(records):
        where = f"{path}: record {i}"
        if not isinstance(rec, dict):
            raise GroundTruthError(f"{where}: a record must be a JSON object, found {type(rec).__name__}")
        name = image_name(rec.get("image_path"))
        if name is None:
            raise GroundTruthError(f"{where}: missing or empty 'image_path'")
        where += f" ({name})"
        if name in first:
            raise GroundTruthError(f"{where}: image listed twice (first at record {first[name]})")
        first[name] = i
        if labels_hidden(rec):
            raise GroundTruthError(
                f"{where}: the labels are hidden (level 'x', total_score 0, answer 'x'), as in the published test "
                f"file; hidden labels cannot be scored. Use a file with real labels, e.g. the lab's {GROUND_TRUTH_FILE}"
            )
        criteria = rec.get("criteria")
        if not isinstance(criteria, dict):
            raise GroundTruthError(f"{where}: missing 'criteria' object")
        row = []
        for attribute in ATTRIBUTE_NAMES:
            level, form = _ground_truth_level(criteria.get(attribute))
            if level is None:
                raise GroundTruthError(
                    f"{where}: {attribute!r}: no level (expected {{'score': 0-10}}, {{'level': A/B/C or a word}})")
            forms.add(form)
            row.append(LEVELS.index(level))
        total = read_total_score(rec.get("total_score"))
        if total is None:
            raise GroundTruthError(f"{where}: total_score {rec.get('total_score')!r:.60} is not a number")
        if not TOTAL_SCORE_RANGE[0] <= total <= TOTAL_SCORE_RANGE[1]:
            raise GroundTruthError(
                f"{where}: total_score {total:g} outside {TOTAL_SCORE_RANGE[0]}-{TOTAL_SCORE_RANGE[1]}"
            )
        answer = rec.get("answer")
        if answer is None:
            without_answer = i if without_answer is None else without_answer
        else:
            letter = read_answer_letter(answer)
            if letter is None:
                raise GroundTruthError(f"{where}: answer {answer!r} is not a letter A-D")
            with_answer = i if with_answer is None else with_answer
        names.append(name)
        totals.append(total)
        levels.append(row)
        answers.append(read_answer_letter(answer))
    if with_answer is not None and without_answer is not None:
        raise GroundTruthError(
            f"{path}: record {without_answer} has no answer while record {with_answer} has one; "
            "QA needs an answer for every image (or for none)")
    order = ("0-10 scores", "letters", "words")
    return GroundTruth(path, names, np.array(totals, float), np.array(levels, int).reshape(-1, len(ATTRIBUTE_NAMES)),
                       answers if with_answer is not None else None, tuple(f for f in order if f in forms))


# --- ground truth from a dataset ---------------------------------------------------------------------------------

# A Dataset does not change once read, and its frames take a while to build: build each once per dataset.
_FRAMES: weakref.WeakKeyDictionary[Dataset, dict[str, pd.DataFrame]] = weakref.WeakKeyDictionary()


def dataset_frame(dataset: Dataset, which: str) -> pd.DataFrame:
    """``dataset.images()``, ``.attributes()``, ``.questions()`` or ``.descriptions()``, built once per dataset
    (a copy each call)."""
    frames = _FRAMES.setdefault(dataset, {})
    if which not in frames:
        frames[which] = getattr(dataset, which)()
    return frames[which].copy()


def labelled_images(dataset: Dataset) -> pd.DataFrame:
    """The rows of ``dataset.images()`` whose labels are known: not hidden, overall score present."""
    images = dataset_frame(dataset, "images")
    return images[~images["labels_hidden"] & images["total_score"].notna()]


def fully_labelled(images: pd.DataFrame) -> pd.DataFrame:
    """The rows of an images frame whose 13 levels are all known."""
    if not len(images):
        return images
    return images[images[list(LEVEL_COLUMNS)].notna().all(axis=1)]


def ground_truth_from_images(images: pd.DataFrame, path: Path, *, answers: list[str] | None = None,
                             label_forms: tuple[str, ...] = ("0-10 scores",)) -> GroundTruth:
    """GroundTruth of fully labelled rows of ``dataset.images()``, in their order."""
    levels = np.column_stack([images[c].cat.codes.to_numpy() for c in LEVEL_COLUMNS]) if len(images) else (
        np.zeros((0, N_ATTRIBUTES), dtype=int))
    return GroundTruth(path, list(images["image_path"]), images["total_score"].to_numpy(float),
                       levels.astype(int).reshape(-1, N_ATTRIBUTES), answers, label_forms)


@dataclass
class LabelledImages:
    """The labels of some images as the data layer reads them: GroundTruth for the scorer, plus the 0-10
    attribute scores and the annotators' reasons."""

    truth: GroundTruth
    attribute_scores: np.ndarray  # (n, 13), NaN where the label was a level without a score
    reasons: pd.DataFrame  # index image_path, one column per attribute
    unlabelled: list[str]  # asked-for images the data does not label (hidden test labels, unknown names)


def image_labels(dataset: Dataset, image_paths: Sequence[str]) -> LabelledImages:
    """Ground truth of the images in ``image_paths`` that the dataset fully labels, in that order.

    Test labels hidden in the published file count as unlabelled, unless the dataset was opened with
    ``reveal_ground_truth=True`` and holds the lab's ground-truth file. Answers are kept only when every
    labelled image has one (QA needs all or none, as in the scorer).
    """
    known = fully_labelled(labelled_images(dataset)).drop_duplicates("image_path").set_index("image_path",
                                                                                             drop=False)
    wanted = list(dict.fromkeys(image_paths))
    names = [name for name in wanted if name in known.index]
    rows = known.loc[names]
    scores = rows[list(SCORE_COLUMNS)].to_numpy(dtype=float).reshape(-1, N_ATTRIBUTES)
    questions = dataset_frame(dataset, "questions")
    answer_of = (questions.drop_duplicates("image_path").set_index("image_path")["answer"] if len(questions)
                 else pd.Series(dtype=object))
    answers = [answer_of.get(name) for name in names]
    has_answers = bool(names) and all(isinstance(a, str) for a in answers)
    attributes = dataset_frame(dataset, "attributes")
    attributes = attributes[attributes["image_path"].isin(set(names))]
    reasons = (attributes.pivot(index="image_path", columns="attribute", values="reason")
               .reindex(index=names, columns=list(ATTRIBUTE_NAMES)))
    where = dataset.root / GROUND_TRUTH_FILE if dataset.ground_truth_revealed else dataset.root
    forms = ("0-10 scores",) if np.isfinite(scores).all() else ("levels",)
    truth = ground_truth_from_images(rows, where, answers=answers if has_answers else None, label_forms=forms)
    return LabelledImages(truth, scores, reasons, [name for name in wanted if name not in known.index])


# --- the validation split and Table 3's target ---------------------------------------------------------------

def _fully_labelled_train(dataset: Dataset) -> pd.DataFrame:
    images = labelled_images(dataset)
    return fully_labelled(images[images["split"] == "train"])


def validation_mask(n: int, *, fraction: float = 0.1, seed: int = 0) -> np.ndarray:
    """Which of ``n`` fully labelled training images, sorted by image path, the validation split holds: a seeded
    ``fraction`` of them (at least one, never all). The one rule behind `validation_split` and every other reader
    of the split (the lmms-eval task selects its images from an exported train split with it)."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction={fraction}: must be between 0 and 1")
    n_validation = min(n - 1, max(1, round(fraction * n)))
    order = np.random.default_rng(seed).permutation(n)
    held_out = np.zeros(n, dtype=bool)
    held_out[order[:n_validation]] = True
    return held_out


def validation_split(dataset: Dataset, *, fraction: float = 0.1, seed: int = 0) -> tuple[GroundTruth, list[str]]:
    """A seeded held-out fraction of the fully labelled training images as ground truth (no questions: QA is not
    available), and the remaining training images. Raises ValueError when fewer than two images are labelled."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction={fraction}: must be between 0 and 1")
    train = _fully_labelled_train(dataset).sort_values("image_path", kind="stable")
    if len(train) < 2:
        raise ValueError(f"{dataset.root}: {len(train)} fully labelled training image(s); a validation split needs two")
    held_out = validation_mask(len(train), fraction=fraction, seed=seed)
    truth = ground_truth_from_images(train[held_out], dataset.root / "track_1_train.json")
    return truth, list(train.loc[~held_out, "image_path"])


@dataclass
class EvaluationTarget:
    """What Table 3's computed rows are scored on, and which training images the simple predictors learn from."""

    truth: GroundTruth | None
    split: str  # "test", "validation", or "none"
    description: str
    fit_images: list[str]
    test_labels_hidden: bool
    notes: list[str] = field(default_factory=list)


def evaluation_target(dataset: Dataset, *, validation_fraction: float = 0.1, seed: int = 0) -> EvaluationTarget:
    """The test split where its labels are available (the lab's ground-truth file, or a test file with labels);
    otherwise a validation split of train, noted as such."""
    notes: list[str] = []
    train = _fully_labelled_train(dataset)
    train_names = list(train["image_path"])
    images = dataset_frame(dataset, "images")
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
        notes.append(
            f"the test split's ground truth is hidden ({counted(len(test), 'image')}: level 'x', total_score 0, "
            "answer 'x'); the official test is scored by the benchmark's server, so prediction files are "
            "written as submissions and the computed rows are scored on a validation split of train"
        )
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


# --- the validation split as a named split, and models that must not be scored on it ------------------------------

VALIDATION_SPLIT: Final[str] = "validation"
VALIDATION_FRACTION: Final[float] = 0.1  # the book's, `portraitcraft report`'s and fine-tuning's defaults
VALIDATION_SEED: Final[int] = 0


def validation_images(dataset: Dataset, *, fraction: float = VALIDATION_FRACTION, seed: int = VALIDATION_SEED
                      ) -> list[str]:
    """The names of the validation split (`validation_split`), in name order: what ``--split validation`` of
    `predict`, `baseline predict`, `export` and `evaluate` selects; the same images the book scores where the test
    labels are hidden. Raises ValueError when fewer than two training images are fully labelled."""
    return list(validation_split(dataset, fraction=fraction, seed=seed)[0].image_paths)


def split_image_paths(dataset: Dataset, split: str) -> list[str]:
    """The Track 1 images of ``split``: a split of the root in file order, or `VALIDATION_SPLIT` (the seeded
    held-out part of train, `validation_images`). Raises ValueError for a split the data does not have."""
    if split == VALIDATION_SPLIT and VALIDATION_SPLIT not in dataset.track1_splits:
        return validation_images(dataset)
    if split not in dataset.track1_splits:
        found = ", ".join([*dataset.track1_splits, VALIDATION_SPLIT]) if dataset.track1_splits else "none"
        raise ValueError(f"{dataset.root}: no Track 1 split {split!r} (found: {found})")
    images = dataset_frame(dataset, "images")
    return images.loc[images["split"] == split, "image_path"].tolist()


def _names_digest(names: Sequence[str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(sorted(set(names))).encode()).hexdigest()


def training_names(dataset: Dataset) -> list[str]:
    """The names of the fully labelled training records of ``dataset``, in name order: what a model trained here
    learns from (less what it holds out), and what `training_record` digests."""
    return sorted(set(_fully_labelled_train(dataset)["image_path"]))


def training_record(names: Sequence[str]) -> dict:
    """Which training data a model learnt from: how many fully labelled training records the dataset it was
    trained on has (`training_names`, its held-out images included) and the digest of their names, the same digest
    as `held_out_record`'s."""
    return {"images": len(set(names)), "sha256": _names_digest(names)[:16]}


def held_out_record(names: Sequence[str], *, fraction: float | None = None, seed: int | None = None,
                    training: Sequence[str] | None = None) -> dict:
    """What a model's record (a saved model's manifest, a run block of its predictions) says about the labelled
    training images it was not trained on: how many, their digest, and the split's fraction and seed (none held
    out: 0 images, every training record learnt from); with ``training`` (`training_names` of the dataset it was
    trained on) also which training data that was, as ``training`` (`training_record`)."""
    # 16 hex digits of the digest tell two sets of names apart and keep a run block short enough to read
    record = {"images": len(set(names)), "sha256": _names_digest(names)[:16], "fraction": fraction, "seed": seed}
    if training is not None:
        record["training"] = training_record(training)
    return record


def learnt_from_other_data(held_out: object, training: Sequence[str] | None) -> bool:
    """Whether a model's record (`held_out_record`) says it learnt from other training data than ``training``
    (`training_names` of the dataset it is about to be scored on): its ``training`` digest differs. False where
    either is unknown, and for a record written before ``training`` was recorded: such a model is taken to have
    learnt from this dataset, as before."""
    if training is None or not isinstance(held_out, dict) or not isinstance(held_out.get("training"), dict):
        return False
    recorded = str(held_out["training"].get("sha256", ""))
    return len(recorded) >= 16 and not _names_digest(training).startswith(recorded)


_NOTED: set[str] = set()


def validation_leak(held_out: object, validation: Sequence[str], training: Sequence[str] | None = None
                    ) -> str | None:
    """Why a model whose record says ``held_out`` (`held_out_record`) must not be scored on the images
    ``validation``, or None: it held out exactly those images, its record says nothing (a model not trained by
    this package, such as a zero-shot one), or it learnt from other training data than ``training`` (the
    `training_names` of the dataset ``validation`` is drawn from; `learnt_from_other_data`), which is then said in
    one line on stderr.

    A record without ``training`` (written before it was recorded), or a check given no ``training``, is judged
    as before: the model is taken to have learnt from this dataset, and refused unless it held out exactly
    ``validation``. A digest tells two training sets apart, not whether they share images: a model trained on
    another dataset that holds some of these images under the same names is let through."""
    if not isinstance(held_out, dict) or "sha256" not in held_out:
        return None
    recorded = str(held_out["sha256"])
    if len(recorded) >= 16 and _names_digest(validation).startswith(recorded):
        return None
    if learnt_from_other_data(held_out, training):
        learnt = held_out["training"]
        theirs, ours = counted(int(learnt.get("images") or 0), "record"), counted(len(set(training or ())), "record")
        note = (f"note: the model learnt from other training data ({theirs}, names digest {learnt.get('sha256')}) "
                f"than this dataset's ({ours}), so its validation split is not a leak")
        if note not in _NOTED:  # one run checks twice (before loading the model, then its run block): said once
            _NOTED.add(note)
            print(note, file=sys.stderr)
        return None
    if not held_out.get("images"):
        return ("its model was trained on every labelled training record, the "
                f"{counted(len(set(validation)), 'image')} of the validation split included: scored on them it would "
                "be scored on what it learnt")
    how = ", ".join(f"{k} {held_out[k]}" for k in ("fraction", "seed") if held_out.get(k) is not None)
    return (f"its model held out other training images ({counted(int(held_out['images']), 'image')}"
            f"{f', {how}' if how else ''}) than this validation split ({counted(len(set(validation)), 'image')}): "
            "some of these images were in its training")


def runs_validation_leak(runs: Sequence[object], validation: Sequence[str],
                         training: Sequence[str] | None = None) -> str | None:
    """`validation_leak` of the run blocks of a prediction file (`PredictionSet.runs`), each of which may carry
    ``held_out``; the first reason found, or None."""
    for run in runs:
        if isinstance(run, dict):
            reason = validation_leak(run.get("held_out"), validation, training)
            if reason:
                return reason
    return None


__all__ = [
    "VALIDATION_FRACTION", "VALIDATION_SEED", "VALIDATION_SPLIT", "held_out_record", "learnt_from_other_data",
    "runs_validation_leak", "split_image_paths", "training_names", "training_record", "validation_images",
    "validation_leak",
    "EvaluationTarget", "GroundTruth", "GroundTruthError", "LabelledImages", "dataset_frame", "evaluation_target",
    "fully_labelled", "ground_truth_from_images", "image_labels", "labelled_images", "labels_hidden",
    "load_ground_truth", "validation_mask", "validation_split",
]
