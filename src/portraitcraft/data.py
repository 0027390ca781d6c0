"""Reading a PortraitCraft root as published, checking it, and viewing it as tidy pandas frames.

Published layout (the lab writes the same)::

    track_1_train.json   Track 1 records: image_path,
                         criteria {attribute: {score 0-10, reason}},
                         total_score 1-100
    track_1_test.json    the same images' questions, ground truth hidden:
                         level "x", total_score 0, answer "x"
    track_2_<split>.json Track 2 records: image_path, content_description,
                         composition_analysis
    images_00 ... images_10/
                         the images; `image_path` is a bare file name found
                         in whichever folder holds it

A root may be partial; what is absent is listed in `Dataset.missing_files`, and every problem found in a record is
a `Problem` naming the file and record. The lab also writes `track_1_test_ground_truth.json` (the hidden labels)
and `lab_factors.json` (the rendered factors of every image).

Findings have a severity (`SEVERITIES`): ``blocking`` ones stop a build, since nothing can be computed from the data
(a folder that is not a PortraitCraft root, an annotation file that cannot be read: `portraitcraft.sources` turns
the latter's `DataError` into a finding); ``error``, ``warning`` and ``note`` are reported and carried (a record's
bad values become missing, a missing image is left out, hidden test labels are scored elsewhere). Strict validation
fails on ``blocking`` and ``error``.

`Dataset` reads a folder; `portraitcraft.sources.open_dataset` is the way in for every source (a folder, the lab,
a hub id, a `datasets.DatasetDict`).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import math
import os
import re
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Iterable, Iterator, Mapping, NamedTuple

import msgspec
import numpy as np
import pandas as pd

from portraitcraft.attributes import (
    ANSWER_LETTERS,
    ATTRIBUTE_KEYS,
    ATTRIBUTE_NAMES,
    ATTRIBUTE_SCORE_RANGE,
    BY_NAME,
    HIDDEN_ANSWER,
    LEVELS,
    TOTAL_SCORE_RANGE,
    labels_hidden,
    level_codes_from_scores,
    level_from_score,
    normalise_level,
)
from portraitcraft.exceptions import PortraitCraftError
from portraitcraft.images import ImageError, check_image, image_size, open_image
from portraitcraft.text import counted

TRACK_FILE = re.compile(r"^track_([12])_([a-z]+)\.json$")
IMAGE_FOLDER = re.compile(r"^images_\d+$")
EXPECTED_FILES = ("track_1_train.json", "track_1_test.json", "track_2_train.json", "track_2_test.json")
GROUND_TRUTH_FILE = "track_1_test_ground_truth.json"
FACTORS_FILE = "lab_factors.json"
QUESTION_ATTRIBUTE = re.compile("|".join(re.escape(n) for n in sorted(ATTRIBUTE_NAMES, key=len, reverse=True)))


class DataError(PortraitCraftError):
    """A data file or source that cannot be used at all. The message is one line naming the file."""


BLOCKING, ERROR, WARNING, NOTE = "blocking", "error", "warning", "note"
# Most severe first. A blocking finding stops a build; the others are reported and carried.
SEVERITIES = (BLOCKING, ERROR, WARNING, NOTE)
FAILS_STRICT = (BLOCKING, ERROR)


@dataclass(frozen=True)
class Problem:
    """One finding in one record of one file (or about a whole file or folder), with its severity."""

    file: str
    record: int | None  # 0-based position in the file's list; None for file-level problems
    image_path: str | None
    message: str
    severity: str = ERROR  # one of SEVERITIES: blocking and error fail strict mode; warning and note never do

    @property
    def blocking(self) -> bool:
        """Whether nothing can be computed from the data while this stands (a build stops on it)."""
        return self.severity == BLOCKING

    @property
    def text(self) -> str:
        """Where and what, without the severity, e.g. ``track_1_train.json record 3 (a.jpg): image missing``.

        A finding about a source that could not be opened has no file of its own; its message names the file."""
        where = self.file if self.record is None else f"{self.file} record {self.record}"
        if self.image_path:
            where += f" ({self.image_path})"
        return f"{where}: {self.message}" if where else self.message

    def __str__(self) -> str:
        return f"{self.severity}: {self.text}"


class ValidationError(DataError):
    """Strict mode found problems; `problems` lists them all."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        errors = [p for p in problems if p.severity in FAILS_STRICT]
        super().__init__(f"{len(errors)} problem(s) found, first: {errors[0]}")


def require_regular_file(path: Path) -> None:
    """Refuse, naming it, a path that is not a regular file (a FIFO or a device would block or never end)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from exc
    if stat.S_ISDIR(mode):
        raise DataError(f"{path}: is a folder, not a file")
    if not stat.S_ISREG(mode):
        raise DataError(f"{path}: not a regular file (a FIFO, socket or device); refused")


def read_json_records(path: Path) -> list[dict[str, Any]]:
    """A published JSON file as a list of records; malformed JSON is one clear `DataError` (file, line, column)."""
    path = Path(path)
    require_regular_file(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found") from exc
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except ValueError as exc:  # e.g. an integer literal beyond Python's digit limit
        raise DataError(f"{path}: invalid JSON: {exc}") from exc
    except RecursionError:
        raise DataError(f"{path}: invalid JSON: nested too deeply") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from exc
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of records, found {type(data).__name__}")
    return data


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while millions of small, long-lived objects are made.

    Parsed JSON holds no reference cycles, but each allocation burst triggers a collection that walks every
    object made so far: at the published scale that tripled the parse time here.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _as_float(value: Any) -> float | None:
    # bool is an int subclass; a true/false score is a defect, not 1/0.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:  # an integer beyond the float range: out of any range, not a crash
        return math.inf
    return value if math.isfinite(value) else None


@dataclass
class _Track1:
    """Track 1 records of all splits, normalised into columns as they are read.

    Levels are kept only where a record states them instead of a score (rare); everywhere else they follow from
    the scores, so the frames derive them in one vectorised step.
    """

    split: list[str] = field(default_factory=list)
    image_path: list[str] = field(default_factory=list)
    hidden: list[bool] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    scores: list[list[float]] = field(default_factory=list)
    stated_levels: dict[int, list[str | None]] = field(default_factory=dict)  # row -> levels given without scores
    reasons: list[list[str | None]] = field(default_factory=list)
    reason_chars: list[int] = field(default_factory=list)
    question: list[str | None] = field(default_factory=list)
    options: list[dict[str, str]] = field(default_factory=list)
    answer: list[str | None] = field(default_factory=list)

    def score_matrix(self) -> np.ndarray:
        return np.array(self.scores, dtype=float).reshape(len(self.image_path), len(ATTRIBUTE_NAMES))

    def extend_well_formed(self, records: list[_Track1Record], split: str) -> None:
        """Append records that `_decode_well_formed_track1` admitted: nothing to check, nothing hidden."""
        for record in records:
            entries = [getattr(record.criteria, key) for key in ATTRIBUTE_KEYS]
            reasons = [entry.reason for entry in entries]
            self.split.append(split)
            self.image_path.append(record.image_path)
            self.hidden.append(False)
            self.total.append(record.total_score)
            self.scores.append([entry.score for entry in entries])
            self.reasons.append(reasons)
            self.reason_chars.append(sum(map(len, reasons)))
            if record.question is msgspec.UNSET:
                self.question.append(None)
                self.options.append({})
                self.answer.append(None)
            else:
                self.question.append(record.question)
                self.options.append(msgspec.structs.asdict(record.options))
                self.answer.append(_answer_letter(record.answer))

    def level_codes(self, scores: np.ndarray) -> np.ndarray:
        """(records, 13) codes into LEVELS, -1 where there is no level; `scores` is `score_matrix()`."""
        codes = level_codes_from_scores(scores)
        for row, levels in self.stated_levels.items():
            codes[row] = [LEVELS.index(lv) if lv is not None else -1 for lv in levels]
        return codes


# ---- the fast path: a whole Track 1 file decoded against the published schema -------------------------------------
# A file in which every record is well formed (nearly every published file) is decoded by msgspec straight into
# typed records, several times faster than json.load and with the checks done in C. Anything the schema does not
# admit makes the whole file go through json.load and `_Checker`, which names each defect; both paths give the same
# columns (tests/test_data.py compares them).


class _Entry(msgspec.Struct, gc=False):
    score: Annotated[float, msgspec.Meta(ge=ATTRIBUTE_SCORE_RANGE[0], le=ATTRIBUTE_SCORE_RANGE[1])]  # bool refused
    reason: str


_Criteria = msgspec.defstruct(
    "_Criteria", [(key, _Entry) for key in ATTRIBUTE_KEYS], rename=dict(zip(ATTRIBUTE_KEYS, ATTRIBUTE_NAMES)),
    forbid_unknown_fields=True, gc=False,
)
_Options = msgspec.defstruct(
    "_Options", [(letter, str) for letter in ANSWER_LETTERS], forbid_unknown_fields=True, gc=False
)


class _Track1Record(msgspec.Struct, gc=False):
    image_path: str
    criteria: _Criteria  # type: ignore[valid-type]
    total_score: Annotated[float, msgspec.Meta(ge=TOTAL_SCORE_RANGE[0], le=TOTAL_SCORE_RANGE[1])]
    question: str | None | msgspec.UnsetType = msgspec.UNSET
    options: _Options | msgspec.UnsetType = msgspec.UNSET  # type: ignore[valid-type]
    answer: Any = msgspec.UNSET


_TRACK1_DECODER = msgspec.json.Decoder(list[_Track1Record])


def _answer_letter(answer: Any) -> str | None | bool:
    """A record's answer as both reading paths take it: the letter A-D (any case, spaces around), None for the
    hidden placeholder "x", False for anything else (a defect to report)."""
    if answer == HIDDEN_ANSWER:
        return None
    if isinstance(answer, str) and answer.strip().upper() in ANSWER_LETTERS:
        return answer.strip().upper()
    return False


def _decode_well_formed_track1(path: Path, split: str) -> list[_Track1Record] | None:
    """Every record of a Track 1 file, when each one is well formed and none would be reported; else None."""
    try:
        require_regular_file(path)
        records = _TRACK1_DECODER.decode(path.read_bytes())
    except (msgspec.DecodeError, OSError, DataError, ValueError, RecursionError):  # ValidationError is a DecodeError
        return None  # the checking path reads the file again and names what is wrong
    names = [r.image_path for r in records]
    if len(set(names)) != len(names):
        return None
    for record in records:
        name = record.image_path
        if not name.strip() or os.path.basename(name) != name:
            return None
        if record.question is msgspec.UNSET:
            if split == "test":
                return None
        elif record.question is None or record.options is msgspec.UNSET or _answer_letter(record.answer) is False:
            return None
    return records


def _well_formed_scores(criteria: Any) -> tuple[list[float], list[str]] | None:
    """Scores and reasons of a criteria object holding exactly the 13 attributes, each with an in-range numeric
    score and a text reason; None for anything else, which the checking path then reads and reports on.

    Nearly every published record takes this path, which is what makes 50k records load in seconds.
    """
    if not isinstance(criteria, dict) or len(criteria) != len(ATTRIBUTE_NAMES):
        return None
    try:
        entries = [criteria[name] for name in ATTRIBUTE_NAMES]
        scores = [entry["score"] for entry in entries]
        reasons = [entry["reason"] for entry in entries]
    except (KeyError, TypeError):
        return None
    lo, hi = ATTRIBUTE_SCORE_RANGE
    # type() rather than isinstance: a bool score is a defect, and NaN fails the range test.
    if not all((type(v) is float or type(v) is int) and lo <= v <= hi for v in scores):
        return None
    if not all(type(r) is str for r in reasons):
        return None
    return scores, reasons


class _Checker:
    """Reads records into columns while collecting a `Problem` for each defect."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def report(self, file: str, record: int | None, image: str | None, message: str, severity: str = "error") -> None:
        self.problems.append(Problem(file, record, image, message, severity))

    def image_path(self, rec: Any, file: str, i: int) -> str | None:
        if not isinstance(rec, dict):
            self.report(file, i, None, f"record is a {type(rec).__name__}, not an object")
            return None
        name = rec.get("image_path")
        if not isinstance(name, str) or not name.strip():
            self.report(file, i, None, "missing field 'image_path'")
            return None
        if os.path.basename(name) != name:
            # The published files use bare names; a path could escape the root.
            self.report(file, i, name, "image_path must be a bare file name", "warning")
        return name

    def unique_records(self, records: list[Any], file: str) -> Iterator[tuple[int, dict, str]]:
        """(position, record, image_path) of each record with an image path not seen before in this file."""
        seen: dict[str, int] = {}
        for i, rec in enumerate(records):
            name = self.image_path(rec, file, i)
            if name is None:
                continue
            if name in seen:
                self.report(file, i, name, f"duplicate image_path (first at record {seen[name]}); this record is "
                                           "skipped")
                continue
            seen[name] = i
            yield i, rec, name

    def track1(self, records: list[Any], file: str, split: str, table: _Track1) -> None:
        for i, rec, name in self.unique_records(records, file):
            criteria = rec.get("criteria")
            hidden = labels_hidden(rec)
            well_formed = None if hidden else _well_formed_scores(criteria)
            if well_formed is not None:
                scores, reasons = well_formed
            else:
                scores, reasons = self._checked_criteria(criteria, file, i, name, hidden, table)
            total = np.nan
            if hidden:
                pass
            elif "total_score" not in rec:
                self.report(file, i, name, "missing field 'total_score'")
            else:
                total = self._checked_number(rec["total_score"], TOTAL_SCORE_RANGE, "total_score", file, i, name)
            question, options, answer = self._question(rec, file, i, name, split, hidden)
            table.split.append(split)
            table.image_path.append(name)
            table.hidden.append(hidden)
            table.total.append(total)
            table.scores.append(scores)
            table.reasons.append(reasons)
            table.reason_chars.append(sum(len(r) for r in reasons if r))
            table.question.append(question)
            table.options.append(options)
            table.answer.append(answer)

    def _checked_number(self, raw: Any, bounds: tuple[float, float], what: str, file: str, i: int, name: str) -> float:
        """``raw`` as a float within ``bounds``; otherwise the defect is reported and the value is missing (NaN)."""
        lo, hi = bounds
        value = _as_float(raw)
        if value is None:
            self.report(file, i, name, f"{what} {raw!r} is not a number")
        elif not lo <= value <= hi:
            self.report(file, i, name, f"{what} {value:g} outside {lo:g}-{hi:g}")
        else:
            return value
        return np.nan

    def _checked_criteria(
        self, criteria: Any, file: str, i: int, name: str, hidden: bool, table: _Track1
    ) -> tuple[list[float], list[str | None]]:
        """The 13 scores and reasons of a record off the fast path, reporting each defect; bad values become missing."""
        if not isinstance(criteria, dict):
            self.report(file, i, name, "missing field 'criteria'")
            criteria = {}
        for attr in criteria:
            if attr not in BY_NAME:
                self.report(file, i, name, f"unknown attribute {attr!r}")
        scores: list[float] = []
        stated: list[str | None] = []
        reasons: list[str | None] = []
        for attr in ATTRIBUTE_NAMES:
            entry = criteria.get(attr)
            score, level, reason = np.nan, None, None
            if entry is None:
                if criteria:
                    self.report(file, i, name, f"missing attribute {attr!r}")
            elif not isinstance(entry, dict):
                self.report(file, i, name, f"{attr!r}: expected an object with 'score' or 'level'")
            elif hidden:
                pass
            elif "score" in entry:
                score = self._checked_number(entry["score"], ATTRIBUTE_SCORE_RANGE, f"{attr!r}: score", file, i, name)
                level = None if np.isnan(score) else level_from_score(score)
            elif "level" in entry:
                level = normalise_level(entry["level"])
                if level is None:
                    self.report(file, i, name, f"{attr!r}: level {entry['level']!r} is not Good/Medium/Poor or A/B/C")
            else:
                self.report(file, i, name, f"{attr!r}: missing field 'score'")
            if isinstance(entry, dict) and isinstance(entry.get("reason"), str):
                reason = entry["reason"]
            scores.append(score)
            stated.append(level)
            reasons.append(reason)
        if any(lv is not None and np.isnan(sc) for lv, sc in zip(stated, scores)):
            table.stated_levels[len(table.image_path)] = stated
        return scores, reasons

    def _question(self, rec: dict, file: str, i: int, name: str, split: str, hidden: bool):
        if "question" not in rec:
            if split == "test":
                self.report(file, i, name, "missing field 'question'")
            return None, {}, None
        question, options = rec.get("question"), rec.get("options")
        if not isinstance(question, str):
            self.report(file, i, name, "field 'question' is not text")
            question = None
        if not isinstance(options, dict) or sorted(options) != list(ANSWER_LETTERS):
            self.report(file, i, name, "field 'options' must map exactly A, B, C, D to texts")
            options = options if isinstance(options, dict) else {}
        answer = None if hidden else _answer_letter(rec.get("answer"))
        if answer is False:
            self.report(file, i, name, f"answer {rec.get('answer')!r} is not one of A-D")
            answer = None
        return question, {k: v for k, v in options.items() if isinstance(v, str)}, answer

    def track2(self, records: list[Any], file: str, split: str, rows: list[dict]) -> None:
        for i, rec, name in self.unique_records(records, file):
            texts = {}
            for key in ("content_description", "composition_analysis"):
                value = rec.get(key)
                if not isinstance(value, str) or not value.strip():
                    self.report(file, i, name, f"missing field {key!r}")
                    value = None
                texts[key] = value
            rows.append({"split": split, "image_path": name, **texts})


class Track1Entry(NamedTuple):
    """One Track 1 record as read: ``row`` is its row in `Dataset.images`; texts and answers as the file gives them
    (None where absent); ``answer`` the letter A-D or None."""

    row: int
    image_path: str
    hidden: bool
    reasons: list[str | None]  # one per attribute, in ATTRIBUTE_NAMES order
    question: str | None
    options: dict[str, str]
    answer: str | None


def index_images(root: Path) -> tuple[dict[str, Path], list[str]]:
    """Map each bare image file name to its path across the root's `images_NN` folders; also list duplicates."""
    index: dict[str, Path] = {}
    duplicates: list[str] = []
    folders = sorted(p for p in _listing(root) if p.is_dir() and IMAGE_FOLDER.match(p.name)) if root.is_dir() else []
    for folder in folders:
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_file():
                        if entry.name in index:
                            duplicates.append(entry.name)
                        else:
                            index[entry.name] = Path(entry.path)
        except OSError as exc:
            raise DataError(f"{folder}: cannot read the folder ({exc.strerror})") from exc
    return index, duplicates


def _listing(folder: Path) -> list[Path]:
    """The entries of ``folder``; a `DataError` naming it when it cannot be read."""
    try:
        return list(folder.iterdir())
    except OSError as exc:
        raise DataError(f"{folder}: cannot read the folder ({exc.strerror})") from exc


class Dataset:
    """A PortraitCraft root, read and checked. Build it with `open_dataset`."""

    def __init__(self, root: Path, *, source: str, check_images: bool = False, reveal_ground_truth: bool = False,
                 progress: bool = False):
        self.root = Path(root)
        self.source = source
        if not self.root.is_dir():
            raise DataError(f"{self.root}: not a folder")
        checker = _Checker()
        self._images, duplicates = index_images(self.root)
        self.image_folders = sorted({p.parent.name for p in self._images.values()})
        for name in duplicates:
            checker.report("images", None, name, "image found in more than one images_NN folder; using "
                                                 f"{self._images[name]}")

        files = {
            m.group(0): (int(m.group(1)), m.group(2)) for p in _listing(self.root) if (m := TRACK_FILE.match(p.name))
        }
        self.missing_files = [f for f in EXPECTED_FILES if f not in files]
        if not files:
            checker.report(str(self.root), None, None, "no PortraitCraft file (track_1_train.json, track_1_test.json, "
                           "track_2_*.json): not a PortraitCraft root", BLOCKING)
        if not self._images:
            self.missing_files.append("images_00 ... images_10 (no image folder found)")
        self.track1_splits: list[str] = []
        self.track2_splits: list[str] = []
        self.ground_truth_revealed = False
        self._track1 = _Track1()
        track2_rows: list[dict] = []
        with gc_paused():
            self._read_track_files(files, checker, track2_rows, reveal_ground_truth)
        self._track2 = pd.DataFrame(
            track2_rows, columns=["split", "image_path", "content_description", "composition_analysis"]
        )

        listed = [(f"track_1_{s}.json", self._track1_names(s)) for s in self.track1_splits]
        listed += [(f"track_2_{s}.json", self._track2.loc[self._track2["split"] == s, "image_path"].tolist())
                   for s in self.track2_splits]
        from portraitcraft.progress import progress_bar

        # Reading every image header takes a while at the published scale (about 50,000 files): a bar shows it.
        with progress_bar(sum(len(names) for _, names in listed), unit="img", desc="checking images",
                          enabled=progress and check_images) as bar:
            for file, names in listed:
                self._check_images(checker, file, names, check_images)
                bar.update(len(names))
        self.problems = checker.problems
        self.missing_images = sorted({p.image_path for p in self.problems if p.message == "image missing"})

    def _read_track_files(
        self, files: dict[str, tuple[int, str]], checker: _Checker, track2_rows: list[dict], reveal_ground_truth: bool
    ) -> None:
        for filename in sorted(files, key=lambda f: (files[f][0], files[f][1] != "train", files[f][1])):
            track, split = files[filename]
            path = self.root / filename
            if track == 1 and split == "test" and reveal_ground_truth and (self.root / GROUND_TRUTH_FILE).is_file():
                path, filename = self.root / GROUND_TRUTH_FILE, GROUND_TRUTH_FILE
                self.ground_truth_revealed = True
            if track == 1:
                self.track1_splits.append(split)
                well_formed = _decode_well_formed_track1(path, split)
                if well_formed is not None:
                    self._track1.extend_well_formed(well_formed, split)
                else:
                    checker.track1(read_json_records(path), filename, split, self._track1)
            else:
                self.track2_splits.append(split)
                checker.track2(read_json_records(path), filename, split, track2_rows)

    def _track1_names(self, split: str) -> list[str]:
        return [n for s, n in zip(self._track1.split, self._track1.image_path) if s == split]

    def _check_images(self, checker: _Checker, file: str, names: list[str], check_images: bool) -> None:
        if not self._images:
            return  # no image folders at all: reported once as a missing file, not per record
        for i, name in enumerate(names):
            path = self._images.get(name)
            if path is None:
                checker.report(file, i, name, "image missing")
            elif check_images:
                try:
                    check_image(path)  # the header, the pixel limit predict applies, a complete file
                except ImageError as exc:
                    checker.report(file, i, name, f"image unreadable: {exc}")

    # ---- access -------------------------------------------------------------------------------------------

    @property
    def errors(self) -> list[Problem]:
        """The problems strict validation fails on (blocking and error)."""
        return [p for p in self.problems if p.severity in FAILS_STRICT]

    @property
    def blocking(self) -> list[Problem]:
        """The problems that stop a build (nothing can be computed from this root while they stand)."""
        return [p for p in self.problems if p.blocking]

    @property
    def is_lab(self) -> bool:
        """Whether this is a composition lab, which writes its rendered factors (`FACTORS_FILE`) beside the data.

        A copy of it in the published layout (without them) reads as published data."""
        return (self.root / FACTORS_FILE).is_file()

    @property
    def kind(self) -> str:
        """``lab`` (a composition lab, see `is_lab`), ``hub`` (downloaded from the Hugging Face hub) or ``local``
        (a folder in the published layout, a `datasets.DatasetDict` written as one included)."""
        if self.is_lab:
            return "lab"
        return "hub" if str(self.source).startswith("hub:") else "local"

    @property
    def has_ground_truth_file(self) -> bool:
        """Whether the root holds the lab's file of the test split's labels (`GROUND_TRUTH_FILE`)."""
        return (self.root / GROUND_TRUTH_FILE).is_file()

    @property
    def test_labels_hidden(self) -> bool:
        """Whether the Track 1 test split, as read, has records with hidden labels (the published layout; the lab's
        test split unless opened with ``reveal_ground_truth=True``)."""
        return any(hidden and split == "test" for split, hidden in zip(self._track1.split, self._track1.hidden))

    def notes(self) -> list[Problem]:
        """What is carried without being a defect, as findings of severity ``note``: absent files, hidden labels."""
        found = [Problem(name, None, None, "not present", NOTE) for name in self.missing_files]
        hidden = sum(self._track1.hidden)
        if hidden:
            where = ("; the labels are in " + GROUND_TRUTH_FILE) if self.has_ground_truth_file else ""
            found.append(Problem("track_1_test.json", None, None, f"labels hidden for {counted(hidden, 'record')} "
                                 f"(scored on a validation split of train, or by the benchmark's server){where}",
                                 NOTE))
        return found

    def findings(self) -> list[Problem]:
        """Every problem and note, most severe first (the order of `SEVERITIES`), each severity in reading order."""
        return sorted([*self.problems, *self.notes()], key=lambda p: SEVERITIES.index(p.severity))

    @property
    def image_index(self) -> Mapping[str, Path]:
        """Every image file of the root by its bare name (what a record's ``image_path`` names); read-only."""
        return MappingProxyType(self._images)

    def track1_entries(self, split: str) -> list[Track1Entry]:
        """The Track 1 records of ``split`` as read, in file order, with their texts (for writing them back)."""
        t = self._track1
        return [Track1Entry(i, t.image_path[i], bool(t.hidden[i]), t.reasons[i], t.question[i], t.options[i] or {},
                            t.answer[i] or None)
                for i, s in enumerate(t.split) if s == split]

    def image_file(self, image_path: str) -> Path | None:
        return self._images.get(image_path)

    def open_image(self, image_path: str, max_side: int | None = 1024):
        path = self.image_file(image_path)
        if path is None:
            raise ImageError(f"{image_path}: not found in any images_NN folder under {self.root}")
        return open_image(path, max_side=max_side)

    @functools.cached_property
    def _score_matrix(self) -> np.ndarray:
        return self._track1.score_matrix()

    @functools.cached_property
    def _level_codes(self) -> np.ndarray:
        return self._track1.level_codes(self._score_matrix)

    def _split_codes(self) -> np.ndarray:
        order = {split: code for code, split in enumerate(self.track1_splits)}
        return np.fromiter((order[s] for s in self._track1.split), dtype=np.int8, count=len(self._track1.split))

    def images(self, with_size: bool = False) -> pd.DataFrame:
        """One row per Track 1 image: split, labels, the 13 scores and levels, reason length; sizes on request."""
        t = self._track1
        scores, levels = self._score_matrix, self._level_codes
        columns: dict[str, Any] = {
            "split": pd.Categorical.from_codes(self._split_codes(), categories=self.track1_splits),
            "image_path": pd.array(t.image_path, dtype="str"),
            "image_file": pd.array([self._images.get(name) for name in t.image_path], dtype=object),
            "labels_hidden": np.array(t.hidden, dtype=bool),
            "total_score": np.array(t.total, dtype=float),
        }
        for j, key in enumerate(ATTRIBUTE_KEYS):
            columns[f"{key}_score"] = scores[:, j]
        for j, key in enumerate(ATTRIBUTE_KEYS):
            columns[f"{key}_level"] = pd.Categorical.from_codes(levels[:, j], categories=LEVELS, ordered=True)
        columns["reason_chars"] = np.array(t.reason_chars, dtype=np.int64)
        frame = pd.DataFrame(columns)
        if with_size:
            sizes = [image_size(p) if p is not None else (np.nan, np.nan) for p in frame["image_file"]]
            frame["width"] = [s[0] for s in sizes]
            frame["height"] = [s[1] for s in sizes]
        return frame

    def attributes(self) -> pd.DataFrame:
        """One row per (image, attribute): split, image_path, attribute, key, score, level, reason.

        Built from codes rather than strings (the frame has 13 rows per image); `reason` stays object dtype
        because turning 650k texts into Arrow strings costs more than all the rest of the frame.
        """
        t = self._track1
        n, k = len(t.image_path), len(ATTRIBUTE_NAMES)
        per_image = np.repeat(np.arange(n), k)
        per_attribute = np.tile(np.arange(k, dtype=np.int8), n)
        reasons = np.array(t.reasons, dtype=object).reshape(n * k)
        return pd.DataFrame(
            {
                "split": pd.Categorical.from_codes(self._split_codes()[per_image], categories=self.track1_splits),
                "image_path": pd.array(t.image_path, dtype="str").take(per_image),
                "attribute": pd.Categorical.from_codes(per_attribute, categories=ATTRIBUTE_NAMES),
                "key": pd.Categorical.from_codes(per_attribute, categories=ATTRIBUTE_KEYS),
                "score": self._score_matrix.reshape(-1),
                "level": pd.Categorical.from_codes(self._level_codes.reshape(-1), categories=LEVELS, ordered=True),
                "reason": pd.Series(reasons, dtype=object, copy=False),
                "labels_hidden": np.array(t.hidden, dtype=bool)[per_image],
            }
        )

    def questions(self) -> pd.DataFrame:
        """Track 1 multiple-choice questions: one row per image that has one."""
        t = self._track1
        rows = []
        for split, name, question, options, answer in zip(t.split, t.image_path, t.question, t.options, t.answer):
            if question is None:
                continue
            asked = QUESTION_ATTRIBUTE.search(question)
            rows.append(
                {
                    "split": split,
                    "image_path": name,
                    "attribute": asked.group(0) if asked else None,
                    "question": question,
                    **{f"option_{letter}": options.get(letter) for letter in ANSWER_LETTERS},
                    "answer": answer,
                }
            )
        columns = ["split", "image_path", "attribute", "question", *(f"option_{x}" for x in ANSWER_LETTERS), "answer"]
        return pd.DataFrame(rows, columns=columns)

    def descriptions(self) -> pd.DataFrame:
        """Track 2 records: split, image_path, image_file (None where missing) and the two texts."""
        frame = self._track2.copy()
        frame.insert(2, "image_file", [self._images.get(n) for n in frame["image_path"]])
        return frame

    def summary(self) -> str:
        """A few readable lines: what is there, what is missing, how many problems."""
        lines = [f"PortraitCraft root {self.root} (source: {self.source})"]
        images = self.images()
        for split in self.track1_splits:
            part = images[images["split"] == split]
            hidden = int(part["labels_hidden"].sum())
            note = f", ground truth hidden for {hidden}" if hidden else ""
            if split == "test" and self.ground_truth_revealed:
                note = f", ground truth read from {GROUND_TRUTH_FILE}"
            lines.append(f"  Track 1 {split}: {counted(len(part), 'record')}{note}")
        for split in self.track2_splits:
            lines.append(f"  Track 2 {split}: {counted(int((self._track2['split'] == split).sum()), 'record')}")
        lines.append(f"  images found: {len(self._images)} in {len(self.image_folders)} folder(s)")
        if self.missing_files:
            lines.append("  not present: " + ", ".join(self.missing_files))
        counts = Counter(p.severity for p in self.problems)
        blocking = f"{counts[BLOCKING]} blocking, " if counts[BLOCKING] else ""
        lines.append(f"  problems: {blocking}{counts[ERROR]} error(s), {counts[WARNING]} warning(s)")
        if self.missing_images:
            lines.append(f"  missing images: {len(self.missing_images)}")
        return "\n".join(lines)


def iter_problems(problems: Iterable[Problem], limit: int | None = None) -> Iterable[str]:
    for i, problem in enumerate(problems):
        if limit is not None and i >= limit:
            break
        yield str(problem)
