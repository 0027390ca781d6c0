"""Track 1 prediction files: reading the four formats, the project's JSON Lines schema, and the official submission.

Formats (detected from the file itself, never from its name)
-------------------------------------------------------------
``submission``
    The official format, a JSON list of ``{image_path, criteria: {attribute: {"level": "A"|"B"|"C"|"NOT_RES"}},
    total_score, question, options, answer}``. Levels are letters (A=Poor, B=Medium, C=Good); the level words are
    accepted too. ``NOT_RES`` or anything else is an invalid level.
``raw``
    What the reference inference script writes, a JSON list of ``{image_path, total_score, criteria: {attribute:
    "Good"|"Medium"|"Poor"}, question, options, answer}``. Only the words are levels here: a bare letter is a
    defect of the model's output (the published example has ``"Subject Integrity": "C"``) and is invalid,
    not Good.
``jsonl``
    The project's own predictions, written by the model runners: one JSON object a line, schema below.
``lmms_eval``
    The samples lmms-eval logs with ``--log_samples`` (``<date>_samples_<task>.jsonl``) for the PortraitCraft task
    of `portraitcraft.integrations.lmms_eval`: one line per image (``doc_id``, ``filtered_resps``, ...), whose
    metric fields each hold ``{"prediction": <a record of the JSON Lines schema below>, "label": ...}``, the record
    the task's ``process_results`` built with our parser. The record is read as in a ``jsonl`` file, so a run of
    lmms-eval is scored, submitted and shown in the book like a run of ``portraitcraft predict``.

How values are read (the same for every format)
----------------------------------------------------
* A level is valid when, after trimming and ignoring case, it is a level word (or, in the submission format
  only, a letter A/B/C). Anything else (``NOT_RES``, missing, another word, a number) is invalid: it is kept
  as invalid and scored wrong, never replaced by a guess.
* An answer is valid when, after trimming and ignoring case, it is one of the letters A-D.
* A total score is valid when it is a number within the documented range 1-100, or a string holding one
  (``"62"``, ``" 62.5 "``); booleans, NaN, infinities, numbers outside 1-100 (-1e6, 0.61, 1000, 1e308) and any
  other text are invalid, each named in ``problems`` with its file and record.
* ``image_path`` is matched by its bare file name (a leading folder is dropped, as the published files
  use bare names). A record without an image path makes the file malformed; two records for one image are
  an error that names the image.

The JSON Lines schema (``portraitcraft.prediction/1``)
------------------------------------------------------
One object a line, written by `PredictionWriter` one record at a time (appended and flushed, so an
interrupted run keeps every finished image)::

    {
      "schema": "portraitcraft.prediction/1",
      "image_path": "unsplash_people_00888_877bfef7968d.jpg",
      # "ok": the model answered; "failed": no usable output (see error)
      "status": "ok",
      # why the image failed (exception text, timeout...), else null
      "error": null,
      # the model's text exactly as generated (null if none)
      "raw_text": "{\\"total_score\\": 62, ...}",
      # the fields read from raw_text by portraitcraft.parsing (null if failed)
      "parsed": {
        "total_score": 62.0,               # 1-100 or null
        # all 13 names; "Good"|"Medium"|"Poor" or null
        "criteria": {"Color Harmony": "Medium", ...},
        "answer": "C",                     # "A".."D" or null
        # field -> reason, for every null field
        "failures": {"Subject Integrity": "letter_as_level"},
        "notes": ["trailing_comma"]        # repairs the parser applied
      },
      # optional, e.g. {"criteria": {"Sharpness": {"Poor": 0.1,
      #   "Medium": 0.7, "Good": 0.2}}, "answer": {"A": ...},
      #   "total_score": {...}}
      "probabilities": null,
      "seconds": 3.21,                     # wall time spent on this image
      # optional (model runners): token counts of this image
      "tokens": {"prompt": 812, "generated": 143},
      # free-form, the same for every line of a run
      "run": {"backend": "transformers", "model": "Qwen/Qwen3-VL-4B-Instruct",
              "protocol": "generate", "prompt_hash": "...",
              "config_hash": "...", ...}
    }

A ``failed`` record still names its image: the image is counted (and scored wrong), not silently dropped.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from portraitcraft.attributes import (
    ANSWER_LETTERS,
    ATTRIBUTE_NAMES,
    BY_NAME,
    INVALID_LEVEL,
    LEVEL_TO_LETTER,
    LEVELS,
    NOT_RESPONDED,
    TOTAL_SCORE_RANGE,
    level_word,
    normalise_level,
)
from portraitcraft.data import DataError, Problem, read_json_records
from portraitcraft.provenance import json_safe, write_json

SCHEMA = "portraitcraft.prediction/1"
SUBMISSION, RAW, JSONL, LMMS_EVAL = "submission", "raw", "jsonl", "lmms_eval"
FORMAT_DESCRIPTIONS = {
    SUBMISSION: "submission format (levels as letters A/B/C)",
    RAW: "reference raw output (levels as words)",
    JSONL: f"project JSON Lines ({SCHEMA})",
    LMMS_EVAL: f"lmms-eval logged samples (--log_samples), records of {SCHEMA}",
}
# The formats whose records are the project's schema, one a line: raw text, parser failures and timings are kept.
RECORD_FORMATS = (JSONL, LMMS_EVAL)
STATUSES = ("ok", "failed")
LEVEL_CODE = {level: code for code, level in enumerate(LEVELS)}

# A number written as text: optional sign, digits with an optional decimal part, optional exponent.
_NUMERIC_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


class PredictionFileError(DataError):
    """A prediction file that cannot be scored at all (unreadable, not JSON, a record without an image...)."""


# --- reading single values -------------------------------------------------------------------------------------

def read_total_score(value: object) -> float | None:
    """A finite number, or a string holding one; None for anything else (booleans included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an integer too large for a float
            return None
    elif isinstance(value, str) and _NUMERIC_TEXT.fullmatch(value.strip()):
        number = float(value.strip())
    else:
        return None
    return number if math.isfinite(number) else None


def read_answer_letter(value: object) -> str | None:
    """A-D after trimming and ignoring case; None otherwise."""
    if isinstance(value, str) and value.strip().upper() in ANSWER_LETTERS:
        return value.strip().upper()
    return None


def image_name(value: object) -> str | None:
    """The bare file name an ``image_path`` refers to; None when it is not a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        return None
    name = value.strip().replace("\\", "/").rsplit("/", 1)[-1]
    return name or None


# --- the prediction set ------------------------------------------------------------------------------------------

@dataclass
class PredictionSet:
    """Every record of one prediction file, read into aligned columns.

    ``levels`` holds level codes (0 Poor, 1 Medium, 2 Good, -1 invalid) in `ATTRIBUTE_NAMES` order;
    ``total_score`` is NaN where the score is invalid; ``answers`` is None where the answer is invalid.
    ``problems`` lists every value read as invalid (as warnings: they are scored wrong, not fatal).
    """

    path: Path
    format: str
    image_paths: list[str]
    total_score: np.ndarray
    levels: np.ndarray
    answers: list[str | None]
    status: list[str]
    problems: list[Problem] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)  # distinct `run` blocks of a JSONL file
    label: str | None = None  # the name it was given with (``LABEL=PATH``, see `split_label`)

    def __len__(self) -> int:
        return len(self.image_paths)

    @property
    def description(self) -> str:
        return FORMAT_DESCRIPTIONS[self.format]

    def frame(self) -> pd.DataFrame:
        """One row per record: image_path, status, total_score, answer, and one level column per attribute."""
        table = pd.DataFrame({"image_path": self.image_paths, "status": self.status,
                              "total_score": self.total_score, "answer": self.answers})
        for j, name in enumerate(ATTRIBUTE_NAMES):
            table[name] = [LEVELS[c] if c >= 0 else None for c in self.levels[:, j]]
        return table


class _Collector:
    """Builds a PredictionSet record by record, noting every invalid value."""

    def __init__(self, path: Path, fmt: str, *, by_line: bool = False):
        self.path, self.format, self.by_line = path, fmt, by_line
        self.names: list[str] = []
        self.scores: list[float] = []
        self.levels: list[list[int]] = []
        self.answers: list[str | None] = []
        self.status: list[str] = []
        self.problems: list[Problem] = []
        self.runs: list[dict[str, Any]] = []
        self.first_record: dict[str, str] = {}

    def record_name(self, record: int) -> str:
        return f"line {record + 1}" if self.by_line else f"record {record}"

    def where(self, record: int) -> str:
        return f"{self.path}: {self.record_name(record)}"

    def note(self, record: int, image: str | None, message: str) -> None:
        self.problems.append(Problem(str(self.path), record, image, message, "warning"))

    def image(self, rec: object, record: int) -> str:
        if not isinstance(rec, dict):
            raise PredictionFileError(
                f"{self.where(record)}: a record must be a JSON object, found {type(rec).__name__}"
            )
        name = image_name(rec.get("image_path"))
        if name is None:
            raise PredictionFileError(f"{self.where(record)}: missing or empty 'image_path'")
        if name in self.first_record:
            raise PredictionFileError(
                f"{self.where(record)}: two predictions for image {name!r} "
                f"(first at {self.first_record[name]}); keep exactly one per image")
        self.first_record[name] = self.record_name(record)
        if name != rec["image_path"]:
            self.note(record, name, f"image_path {rec['image_path']!r} matched by its file name {name!r}")
        return name

    def add(self, name: str, record: int, *, status: str, score: object, criteria: object, answer: object,
            letters_allowed: bool, level_inside: bool) -> None:
        self.names.append(name)
        self.status.append(status)
        if status != "ok":
            self.scores.append(math.nan)
            self.levels.append([INVALID_LEVEL] * len(ATTRIBUTE_NAMES))
            self.answers.append(None)
            return
        number = read_total_score(score)
        if number is None:
            self.note(record, name, f"total_score {_short(score)} is not a number: invalid")
        elif not TOTAL_SCORE_RANGE[0] <= number <= TOTAL_SCORE_RANGE[1]:
            self.note(record, name, f"total_score {number:g} outside {TOTAL_SCORE_RANGE[0]}-{TOTAL_SCORE_RANGE[1]}: "
                                    "invalid")
            number = None
        self.scores.append(math.nan if number is None else number)
        self.levels.append(self._levels(name, record, criteria, letters_allowed, level_inside))
        letter = read_answer_letter(answer)
        if letter is None:
            self.note(record, name, "no answer (null): wrong" if answer is None else
                      f"answer {_short(answer)} is not a letter A-D: wrong")
        self.answers.append(letter)

    def _levels(self, name: str, record: int, criteria: object, letters_allowed: bool, level_inside: bool) -> list[int]:
        if not isinstance(criteria, dict):
            self.note(record, name, f"criteria {_short(criteria)} is not an object: all 13 levels invalid")
            return [INVALID_LEVEL] * len(ATTRIBUTE_NAMES)
        unknown = [key for key in criteria if key not in BY_NAME]
        if unknown:
            self.note(record, name, f"unknown attribute(s) ignored: {', '.join(map(repr, unknown[:3]))}")
        codes = []
        for attribute in ATTRIBUTE_NAMES:
            entry = criteria.get(attribute)
            value = entry.get("level") if level_inside and isinstance(entry, dict) else entry
            if level_inside and entry is not None and not isinstance(entry, dict):
                value = None  # the submission format nests the level: {"level": ...}
            level = normalise_level(value) if letters_allowed else level_word(value)
            if level is None:
                if entry is None:
                    why = "missing"
                elif value == NOT_RESPONDED:
                    why = "NOT_RES"
                elif isinstance(value, str) and value.strip().upper() in LEVEL_TO_LETTER.values():
                    why = f"letter {value!r} where a level word belongs"
                else:
                    why = f"{_short(value if isinstance(entry, dict) and level_inside else entry)} is not a level"
                self.note(record, name, f"{attribute!r}: {why}: invalid")
            codes.append(INVALID_LEVEL if level is None else LEVEL_CODE[level])
        return codes

    def result(self) -> PredictionSet:
        levels = np.array(self.levels, dtype=int).reshape(-1, len(ATTRIBUTE_NAMES))
        return PredictionSet(self.path, self.format, self.names, np.array(self.scores, dtype=float), levels,
                             self.answers, self.status, self.problems, self.runs)


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- reading files -----------------------------------------------------------------------------------------------

def read_predictions(path: str | os.PathLike) -> PredictionSet:
    """Read a prediction file in any of the four formats (see the module docstring).

    Raises `PredictionFileError` (one line naming the file and, where it applies, the record) when the file
    cannot be scored at all. Invalid values inside well-formed records are not errors: they are scored wrong
    and listed in ``problems``.
    """
    return read_prediction_file(path)[0]


def split_label(value: str | os.PathLike) -> tuple[str | None, Path]:
    """A prediction file as given to the book or a reader: ``LABEL=PATH`` (``mine=runs/a.jsonl``) gives the file the
    name LABEL on every page; a plain path has no label (None). A file that exists under the whole name is a path,
    and a label holds no "/"."""
    text = str(value)
    label, separator, rest = text.partition("=")
    if separator and label.strip() and rest and "/" not in label and os.sep not in label and not Path(text).exists():
        return label.strip(), Path(rest.strip())
    return None, Path(text)


def read_prediction_file(path: str | os.PathLike) -> tuple[PredictionSet, list[Any]]:
    """`read_predictions`, plus the file's records as parsed (JSON values, one per record), for readers of the
    fields the scorer ignores (raw text, probabilities, timings): the file is read and parsed once. ``path`` may
    carry a label (``LABEL=PATH``, `split_label`), kept as the set's ``label``."""
    label, path = split_label(path)
    text = _read_text(path)
    start = text.lstrip()[:1]
    if start == "[":
        records = _parse_json_list(path, text)
        predictions = _read_json_list(path, records)
        predictions.label = label
        return predictions, records
    if start == "{":
        predictions, records = _read_jsonl(path, text)
        predictions.label = label
        return predictions, records
    if not start:
        raise PredictionFileError(f"{path}: empty file, no predictions")
    raise PredictionFileError(f"{path}: not a prediction file (expected a JSON list or JSON Lines objects)")


def distinct_labels(labels: Iterable[str], paths: Iterable[str | os.PathLike]) -> list[str]:
    """The labels of several prediction files, made distinct where two read alike, so that rows, legends and
    tables keyed by label never merge two files: the file name is added ("label [b.jsonl]"), then its folder
    ("label [run2/b.jsonl]"), then the whole path; a file given twice is numbered."""
    labels, paths = list(labels), [Path(p) for p in paths]
    repeated = {label for label, count in Counter(labels).items() if count > 1}
    for describe in (lambda p: p.name, lambda p: f"{p.parent.name}/{p.name}", str):
        distinct = [f"{label} [{describe(path)}]" if label in repeated else label for label, path in zip(labels, paths)]
        if len(set(distinct)) == len(distinct):
            return distinct
    counts, seen, numbered = Counter(distinct), Counter[str](), []
    for label in distinct:
        seen[label] += 1
        numbered.append(f"{label} #{seen[label]}" if counts[label] > 1 else label)
    return numbered


def prediction_label(predictions: PredictionSet) -> str:
    """A readable label for a prediction file: the label it was given with (``LABEL=PATH``), else from its run
    metadata ("Feature baseline (CPU)", "model (protocol)"), else its file name: the name every chapter gives it."""
    if predictions.label:
        return predictions.label
    for run in predictions.runs:
        if run.get("backend") == "features":
            return "Feature baseline (CPU)"
        model = run.get("model")
        if isinstance(model, str) and model:
            label = model.rstrip("/").rsplit("/", 1)[-1]
            protocol = run.get("protocol")
            return f"{label} ({protocol})" if protocol else label
    return predictions.path.name


def prediction_labels(files: Iterable[PredictionSet | str | os.PathLike]) -> list[str]:
    """The labels of several prediction files (`prediction_label`, made distinct by `distinct_labels`), the same on
    every page that shows them; a file that cannot be read is labelled by its name (its page says why)."""
    labels, paths = [], []
    for item in files:
        if not isinstance(item, PredictionSet):
            try:
                item = read_predictions(item)
            except PredictionFileError:
                label, path = split_label(item)
                labels.append(label or path.name)
                paths.append(path)
                continue
        labels.append(prediction_label(item))
        paths.append(item.path)
    return distinct_labels(labels, paths)


def _read_text(path: Path) -> str:
    if path.exists() and not path.is_file() and not path.is_dir():  # a FIFO or a device: would block or never end
        raise PredictionFileError(f"{path}: not a regular file (a FIFO, socket or device); refused")
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise PredictionFileError(f"{path}: file not found") from exc
    except IsADirectoryError as exc:
        raise PredictionFileError(f"{path}: is a folder, not a prediction file") from exc
    except UnicodeDecodeError as exc:
        raise PredictionFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise PredictionFileError(f"{path}: cannot read ({exc.strerror})") from exc


def _parse_json_list(path: Path, text: str) -> list[Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PredictionFileError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
    except (RecursionError, ValueError) as exc:  # too deep, or an integer of thousands of digits
        raise PredictionFileError(f"{path}: invalid JSON: {exc}") from exc
    if not isinstance(data, list):
        raise PredictionFileError(f"{path}: expected a JSON list of predictions, found {type(data).__name__}")
    return data


def detect_list_format(records: list[Any]) -> str:
    """``submission`` when criteria entries are objects ({"level": ...}), ``raw`` when they are bare values.

    Decided by the majority of entries over the file, so that one odd record cannot flip the reading of
    all others (its odd entries are then invalid). With no criteria at all, ``submission``.
    """
    votes: Counter[str] = Counter()
    for rec in records:
        criteria = rec.get("criteria") if isinstance(rec, dict) else None
        if isinstance(criteria, dict):
            for entry in criteria.values():
                if entry is not None:
                    votes[SUBMISSION if isinstance(entry, dict) else RAW] += 1
    return RAW if votes[RAW] > votes[SUBMISSION] else SUBMISSION


def _is_project_record(rec: object) -> bool:
    return isinstance(rec, dict) and ("parsed" in rec or "status" in rec)


def _read_json_list(path: Path, records: list[Any]) -> PredictionSet:
    if records and sum(map(_is_project_record, records)) * 2 > len(records):
        # The project's records gathered into a list rather than one a line: read them as such.
        collector = _Collector(path, JSONL)
        for i, rec in enumerate(records):
            _add_project_record(collector, i, rec)
        return collector.result()
    fmt = detect_list_format(records)
    collector = _Collector(path, fmt)
    for i, rec in enumerate(records):
        name = collector.image(rec, i)
        collector.add(name, i, status="ok", score=rec.get("total_score"), criteria=rec.get("criteria"),
                      answer=rec.get("answer"), letters_allowed=fmt == SUBMISSION, level_inside=fmt == SUBMISSION)
    return collector.result()


def _jsonl_lines(path: Path, text: str) -> Iterable[tuple[int, dict[str, Any]]]:
    # Split on "\n" only: str.splitlines() also breaks at U+2028 and U+0085, which JSON strings may hold raw.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PredictionFileError(f"{path}:{number}:{exc.colno}: invalid JSON: {exc.msg}") from exc
        except (RecursionError, ValueError) as exc:
            raise PredictionFileError(f"{path}:{number}: invalid JSON: {exc}") from exc
        if not isinstance(rec, dict):
            raise PredictionFileError(
                f"{path}: line {number}: a record must be a JSON object, found {type(rec).__name__}"
            )
        yield number - 1, rec


def _read_jsonl(path: Path, text: str) -> tuple[PredictionSet, list[dict[str, Any]]]:
    try:
        whole = json.loads(text)
    except (RecursionError, ValueError):
        whole = None
    if isinstance(whole, dict) and len([line for line in text.split("\n") if line.strip()]) > 1:
        raise PredictionFileError(
            f"{path}: one JSON object spread over several lines; expected a JSON list or one record a line (JSON Lines)"
        )
    lines = list(_jsonl_lines(path, text))
    logged = bool(lines) and is_lmms_eval_sample(lines[0][1])
    collector = _Collector(path, LMMS_EVAL if logged else JSONL, by_line=True)
    records = []
    for index, rec in lines:
        if logged:
            rec = _lmms_eval_record(path, index, rec)
        _add_project_record(collector, index, rec)
        records.append(rec)
    if not collector.names:
        raise PredictionFileError(f"{path}: no records")
    return collector.result(), records


def prediction_set(records: Iterable[Mapping[str, Any]], path: str | os.PathLike, fmt: str = JSONL) -> PredictionSet:
    """Records of the JSON Lines schema already in memory, read as a file of them is read (``path`` names them in
    problems)."""
    collector = _Collector(Path(path), fmt, by_line=True)
    for index, rec in enumerate(records):
        _add_project_record(collector, index, rec)
    return collector.result()


def is_lmms_eval_sample(rec: object) -> bool:
    """Whether a JSON Lines object is a sample lmms-eval logged (``--log_samples``) rather than a project record."""
    return isinstance(rec, dict) and "doc_id" in rec and "filtered_resps" in rec and "schema" not in rec


def _lmms_eval_record(path: Path, index: int, rec: dict[str, Any]) -> dict[str, Any]:
    """The project record inside one logged sample (every metric field holds the same one; the first is read)."""
    if not is_lmms_eval_sample(rec):
        raise PredictionFileError(f"{path}: line {index + 1}: not an lmms-eval sample (no 'doc_id' or "
                                  "'filtered_resps') in a file of lmms-eval samples")
    for value in rec.values():
        if isinstance(value, dict) and isinstance(value.get("prediction"), dict) and (
                value["prediction"].get("schema") == SCHEMA):
            return value["prediction"]
    raise PredictionFileError(
        f"{path}: line {index + 1}: an lmms-eval sample without a PortraitCraft prediction record (doc_id "
        f"{_short(rec.get('doc_id'))}); only the samples of the PortraitCraft task "
        "(portraitcraft.integrations.lmms_eval) can be read")


def _add_project_record(collector: _Collector, index: int, rec: object) -> None:
    """One record of the project's schema (see the module docstring)."""
    where = collector.where(index)
    if not isinstance(rec, dict):
        raise PredictionFileError(f"{where}: a record must be a JSON object, found {type(rec).__name__}")
    schema = rec.get("schema", SCHEMA)
    if schema != SCHEMA:
        raise PredictionFileError(f"{where}: unsupported schema {_short(schema)} (this version reads {SCHEMA})")
    if "status" not in rec and "parsed" not in rec:
        raise PredictionFileError(
            f"{where}: not a JSON Lines prediction record (no 'status', no 'parsed'); submission and raw "
            "files are a JSON list [...] of records")
    name = collector.image(rec, index)
    status = rec.get("status")
    if status not in STATUSES:
        raise PredictionFileError(f"{where}: 'status' must be \"ok\" or \"failed\", found {_short(status)}")
    parsed = rec.get("parsed")
    if status == "ok" and not isinstance(parsed, dict):
        collector.note(index, name, f"status ok but 'parsed' is {_short(parsed)}: all fields invalid")
        parsed = {}
    elif status == "failed":
        collector.note(index, name, f"failed: {_short(rec.get('error'), 80)}")
        parsed = {}
    collector.add(name, index, status=status, score=parsed.get("total_score"), criteria=parsed.get("criteria"),
                  answer=parsed.get("answer"), letters_allowed=False, level_inside=False)
    run = rec.get("run")
    if isinstance(run, dict) and run not in collector.runs:
        collector.runs.append(run)


# --- what the scorer does not keep: raw text, probabilities, parser failures, timings -------------------

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


def prediction_details(path: str | os.PathLike, records: Iterable[Any] | None = None) -> PredictionDetails:
    """Raw text, probabilities, parser failures, seconds and tokens of each record of a prediction file.

    ``records``: the file's records as `read_prediction_file` returned them (else the file is read here)."""
    path = split_label(path)[1]
    details = PredictionDetails(path)
    for rec in records if records is not None else read_prediction_file(path)[1]:
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


# --- writing the project's JSON Lines ----------------------------------------------------------------------------

def ok_record(image_path: str, parsed: Any, *, run: Mapping[str, Any], seconds: float | None = None,
              raw_text: str | None = None, probabilities: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A JSONL record for an image the model answered.

    ``parsed`` is a `portraitcraft.parsing.ParsedPrediction` (its ``raw_text`` is used unless given) or a mapping
    with ``total_score``, ``criteria`` (or ``levels``) and ``answer``.
    """
    if isinstance(parsed, Mapping):
        fields = dict(parsed)
        criteria = fields.get("criteria", fields.get("levels", {}))
    else:  # a ParsedPrediction
        fields = {"total_score": parsed.total_score, "answer": parsed.answer,
                  "failures": {k: str(v) for k, v in parsed.failures.items()}, "notes": list(parsed.notes)}
        criteria = parsed.levels
        raw_text = parsed.raw_text if raw_text is None else raw_text
    body = {
        "total_score": fields.get("total_score"),
        "criteria": {name: (criteria or {}).get(name) for name in ATTRIBUTE_NAMES},
        "answer": fields.get("answer"),
        "failures": dict(fields.get("failures") or {}),
        "notes": list(fields.get("notes") or []),
    }
    return {"schema": SCHEMA, "image_path": image_path, "status": "ok", "error": None, "raw_text": raw_text,
            "parsed": body, "probabilities": probabilities, "seconds": seconds, "run": dict(run)}


def failed_record(image_path: str, error: str, *, run: Mapping[str, Any], seconds: float | None = None,
                  raw_text: str | None = None) -> dict[str, Any]:
    """A JSONL record for an image without usable output (exception, timeout, empty generation...)."""
    return {"schema": SCHEMA, "image_path": image_path, "status": "failed", "error": str(error),
            "raw_text": raw_text, "parsed": None, "probabilities": None, "seconds": seconds, "run": dict(run)}


def recorded_images(path: str | os.PathLike) -> set[str]:
    """Images that already have a record (ok or failed) in a JSONL file; empty when the file does not exist.

    Runners skip these to resume an interrupted run. To retry failures, write to a new file.
    """
    path = Path(path)
    if not path.exists():
        return set()
    names = set()
    for _, rec in _jsonl_lines(path, _read_text(path)):
        name = image_name(rec.get("image_path"))
        if name is not None:
            names.add(name)
    return names


def drop_failed_records(path: str | os.PathLike, images: Iterable[str]) -> list[str]:
    """Remove the ``failed`` records of ``images`` from a JSON Lines prediction file, so that a rerun predicts them
    again (one record per image); the file is rewritten whole or not at all. Returns the images dropped."""
    from portraitcraft.outputs import write_atomic

    path = Path(path)
    if not path.is_file():
        return []
    wanted = {image_name(name) for name in images}
    kept, dropped = [], []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        name = image_name(record.get("image_path")) if isinstance(record, dict) else None
        if name in wanted and record.get("status") == "failed":
            dropped.append(name)
        else:
            kept.append(line)
    if dropped:
        write_atomic(path, "".join(kept))
    return dropped


class PredictionWriter:
    """Appends JSONL records one at a time, flushed after each, refusing a second record for an image. For
    example, a model of one's own writing the project's records (which `read_predictions` and the book read)::

        from portraitcraft.parsing import parse_model_output
        from portraitcraft.predictions import (PredictionWriter, failed_record,
                                               ok_record)

        # the same for every record of the run
        run = {"backend": "my-model", "model": "my-model-v1"}
        # the model's raw answer
        text = ('{"total_score": 62, "criteria": {"Sharpness": "Good"}, '
                '"answer": "B"}')
        with PredictionWriter("runs/my-model.jsonl") as writer:
            # a rerun skips what is done
            if "lab_00300.jpg" not in writer.recorded:
                writer.write(ok_record("lab_00300.jpg", parse_model_output(text),
                                       run=run, seconds=1.2))
            if "lab_00301.jpg" not in writer.recorded:
                writer.write(failed_record("lab_00301.jpg",
                                           "timed out after 120 s", run=run))
    """

    def __init__(self, path: str | os.PathLike, *, fsync: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.recorded = recorded_images(self.path)
        self._fsync = fsync
        from portraitcraft.outputs import open_for_append

        self._file = open_for_append(self.path)  # a link or a device at the path is refused

    def write(self, record: Mapping[str, Any]) -> None:
        name = image_name(record.get("image_path"))
        if name is None:
            raise ValueError("a prediction record needs a non-empty image_path")
        if name in self.recorded:
            raise ValueError(f"{self.path}: {name!r} already has a record; one record per image")
        if record.get("status") not in STATUSES:
            raise ValueError(f"status must be 'ok' or 'failed', got {record.get('status')!r}")
        line = json.dumps(json_safe({"schema": SCHEMA, **record}), ensure_ascii=False, allow_nan=False)
        self._file.write(line + "\n")
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())
        self.recorded.add(name)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> PredictionWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- the official submission ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SubmissionSummary:
    out: Path
    images: int  # images of the test file, all written
    predicted: int  # of those, with a prediction record
    missing: list[str]  # test images without any prediction (all NOT_RES, score null)
    invalid_levels: int  # written as NOT_RES (missing images included)
    invalid_scores: int  # written as null
    invalid_answers: int  # written as NOT_RES
    extra: list[str]  # predicted images that are not in the test file (not written)
    # each image written with a NOT_RES or null field, in the test file's order, with the fields
    offending: list[tuple[str, list[str]]] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"wrote {self.out}: {self.images} images ({self.predicted} with a prediction, "
               f"{len(self.missing)} without: every field NOT_RES / null)",
               f"NOT_RES levels {self.invalid_levels}/{13 * self.images}, null scores {self.invalid_scores}, "
               f"NOT_RES answers {self.invalid_answers}"]
        if self.extra:
            out.append(
                f"ignored {len(self.extra)} prediction(s) for images not in the test file, e.g. {self.extra[0]!r}"
            )
        return out


def _json_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def write_submission(
    predictions: PredictionSet, test_file: str | os.PathLike, out: str | os.PathLike
) -> SubmissionSummary:
    """Write the official submission for every image of ``test_file``, in its order.

    Question and options are copied from the test file. Where a prediction is missing or invalid the field is
    ``NOT_RES`` (levels, answer) or null (total_score): never a guessed value.
    """
    from portraitcraft.outputs import check_target, refuse_inputs

    test_file, out = Path(test_file), Path(out)
    refuse_inputs(out, {"predictions": predictions.path, "test": test_file})  # before any work: one clear refusal
    check_target(out)
    test_records = read_json_records(test_file)
    row_of = {name: i for i, name in enumerate(predictions.image_paths)}
    submission, seen = [], set()
    missing: list[str] = []
    offending: list[tuple[str, list[str]]] = []
    invalid_levels = invalid_scores = invalid_answers = 0
    for k, rec in enumerate(test_records):
        if not isinstance(rec, dict) or image_name(rec.get("image_path")) is None:
            raise DataError(f"{test_file}: record {k}: missing or empty 'image_path'")
        name = image_name(rec["image_path"])
        if name in seen:
            raise DataError(f"{test_file}: record {k}: image {name!r} listed twice")
        seen.add(name)
        row = row_of.get(name)
        if row is None:
            missing.append(name)
            codes, score, answer = [INVALID_LEVEL] * len(ATTRIBUTE_NAMES), math.nan, None
        else:
            codes, score, answer = predictions.levels[row], predictions.total_score[row], predictions.answers[row]
        criteria = {attr: {"level": LEVEL_TO_LETTER[LEVELS[c]] if c >= 0 else NOT_RESPONDED}
                    for attr, c in zip(ATTRIBUTE_NAMES, codes)}
        fields = [*(["total_score"] if not math.isfinite(score) else []), *(["answer"] if answer is None else []),
                  *(attr for attr, c in zip(ATTRIBUTE_NAMES, codes) if c < 0)]
        if fields:
            offending.append((name, fields))
        invalid_levels += sum(1 for c in codes if c < 0)
        invalid_scores += int(not math.isfinite(score))
        invalid_answers += int(answer is None)
        submission.append({
            "image_path": rec["image_path"],
            "criteria": criteria,
            "total_score": _json_number(score) if math.isfinite(score) else None,
            "question": rec.get("question"),
            "options": rec.get("options"),
            "answer": answer if answer is not None else NOT_RESPONDED,
        })
    # Whole or not at all, never through a link or over a device, never over an input.
    write_json(out, submission, inputs={"predictions": predictions.path, "test": test_file})
    extra = [name for name in predictions.image_paths if name not in seen]
    return SubmissionSummary(out, len(submission), len(submission) - len(missing), missing,
                             invalid_levels, invalid_scores, invalid_answers, extra, offending)
