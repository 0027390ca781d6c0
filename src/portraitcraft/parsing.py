"""Turn a model's free text into Track 1 prediction fields, by rules, never by guessing.

The reference inference prompt asks for strict JSON::

    {"total_score": "<integer 1-100>",
     "criteria": {"Color Harmony": "<Good|Medium|Poor>", ...},
     "answer": "<A|B|C|D>"}

and the fine-tuning target writes each criterion as ``{"level": ..., "reason": ...}``. Real outputs
drift from both: prose or markdown fences around the JSON, trailing commas, single quotes, output cut
off at the token limit, "**Medium**", "(B)", "72/100", or a letter where a level word belongs (the
reference raw output has ``"Subject Integrity": "C"``). This module reads all of that with explicit
rules. Whatever a rule cannot read becomes ``None`` plus a reason code in ``failures``; it is scored
as wrong and counted per field by `failure_counts`. There is no fallback that picks a value.

Public API
----------
``parse_model_output(text, options=None, *, letters_allowed=False) -> ParsedPrediction``
    The whole output: ``total_score``, ``levels`` (all 13 attribute names), ``answer``, ``failures``,
    ``unknown_keys``, ``notes`` (repairs applied), and the ``raw_text`` it came from.
``read_score / read_level / read_answer(value, ...) -> Reading``
    One field: ``Reading(value, failure)``; exactly one of the two is ``None``.
``parse_score / parse_level / parse_answer(value, ...)``
    The same, value only (``None`` when unreadable).
``extract_json_object(text) -> dict | None``
    The prediction object inside ``text``, repaired where the rules allow (see below).
``attribute_for_key(key) -> str | None``
    The attribute a JSON key names, or ``None``.
``failure_counts(predictions) -> pandas.DataFrame``
    One row per field (total_score, answer, the 13 attributes), one column per reason code.

Decisions (each has a test)
---------------------------
Scores
    ``72``, ``72.5``, ``"72"``, ``"72/100"``, ``"72%"``, ``"72 points"``, ``"Total score: 72"`` read
    as written. ``"x/10"`` is scaled to 100 (``"7.2/10"`` -> 72.0); any other denominator is
    ``unknown_scale``. A bare ``7.2`` stays 7.2: without a written denominator the scale is not
    guessed. Scores are floats and are not rounded here (rounding belongs to whoever writes an
    integer submission). Valid range 1-100 inclusive, otherwise ``out_of_range``. Booleans, NaN and
    infinities are ``not_a_score``.
Levels
    Good / Medium / Poor in any case, with markdown, quotes and end punctuation stripped
    ("good.", "**Medium**", "POOR"), a ``level:`` label, or a leading level word followed by a
    separator and an explanation ("Good - balanced palette"). Two different level words are
    ``ambiguous`` ("Medium to Good"). Synonyms ("Excellent", "Fair") are ``not_a_level``. A bare
    letter A/B/C is ``letter_as_level`` unless ``letters_allowed=True`` (submission-format files,
    where Poor=A, Medium=B, Good=C). ``{"level": ..., "reason": ...}`` objects are read by their
    ``level`` entry.
Answers
    ``B``, ``b``, ``(B)``, ``B.``, ``[B]``, ``**B**``, ``Answer: B``, ``The answer is B``,
    ``Option B``, ``B. <option text>``, ``B, because ...``, or the option's text itself (exact after
    normalising case, spaces, quotes and end punctuation; else the one option whose full text
    appears in the answer). A letter whose attached text is a *different* option's text is
    ``conflicting``; several letters ("B or C", "B, C") or several matching options are
    ``ambiguous``; E, F, ... are ``not_an_answer``. Option texts may begin with the article "A"
    ("A clearly isolated ..."): that is read as text, not as letter A.
Attribute keys
    Exact names, case-insensitive, with ``_``/``-``/spaces/``&`` treated alike, the column keys of
    `attributes.ATTRIBUTE_KEYS`, and British spellings (colour, modelling, centre). Nothing else: a
    key that matches no attribute is reported in ``unknown_keys``, never assigned to the nearest one.
Duplicates
    A field given more than once (repeated JSON key, or "Color Harmony" and "color_harmony") must
    read the same every time, else it is ``conflicting``.
JSON repair
    The scan starts at each ``{`` (so fences and prose around are skipped; text nested deeper than
    32 brackets is not a prediction and is dropped) and repairs, outside strings: trailing commas,
    single/curly quotes, Python literals (True/False/None), bare words (quoted), unescaped inner
    double quotes. A truncated object keeps its complete members only: it
    is cut back after the last complete value, so a half-written ``"total_score": 7`` (maybe 72) or
    ``"answer": "B`` is dropped, not read. When several objects parse, a complete one is preferred
    to a truncated one, and a later one to an earlier one (a model that echoes the template first
    answers last).
Prose
    Fields still absent are read from ``Key: value`` lines outside the JSON ("Answer: B",
    "- **Sharpness**: Poor", "Total score: 72"; a bare "Score:" line is not read, it may belong to
    an attribute). When no JSON object exists at all, an absent field's reason is
    ``not_json`` rather than ``missing``.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from portraitcraft.attributes import (
    ANSWER_LETTERS,
    ATTRIBUTE_NAMES,
    ATTRIBUTES,
    LETTER_TO_LEVEL,
    TOTAL_SCORE_RANGE,
    level_word,
    normalise_level,
)

if TYPE_CHECKING:
    import pandas as pd


class Failure(StrEnum):
    """Why a field could not be read. Values are stable strings (they appear in tables)."""

    NOT_JSON = "not_json"  # the output held no JSON object and no readable prose line for the field
    MISSING = "missing"  # JSON was found but the field was not in it
    EMPTY = "empty"  # the field was there with null or blank text
    NOT_A_SCORE = "not_a_score"
    UNKNOWN_SCALE = "unknown_scale"  # "7/5": a denominator other than 10 or 100
    OUT_OF_RANGE = "out_of_range"  # a score outside 1-100
    NOT_A_LEVEL = "not_a_level"
    LETTER_AS_LEVEL = "letter_as_level"  # "C" where a level word belongs
    NOT_AN_ANSWER = "not_an_answer"
    AMBIGUOUS = "ambiguous"  # two levels or two options named
    CONFLICTING = "conflicting"  # duplicates disagree, or a letter contradicts its option text


# The fields of a Track 1 prediction, in the order tables list them: the one definition every module reads.
FIELDS: Final[tuple[str, ...]] = ("total_score", "answer", *ATTRIBUTE_NAMES)


class Reading(NamedTuple):
    """One field's outcome: a valid value, or None and the reason."""

    value: Any
    failure: Failure | None


@dataclass(frozen=True)
class ParsedPrediction:
    raw_text: str
    total_score: float | None
    levels: dict[str, str | None]  # every attribute name, in ATTRIBUTE_NAMES order
    answer: str | None
    failures: dict[str, Failure] = field(default_factory=dict)  # field -> reason, for every None field
    unknown_keys: tuple[str, ...] = ()  # keys that name no field, e.g. "criteria.Composition"
    notes: tuple[str, ...] = ()  # repairs and sources: "trailing_comma", "truncated", "answer_from_prose"...

    @property
    def is_complete(self) -> bool:
        return not self.failures

    @property
    def recovered_json(self) -> bool:
        """True when the JSON needed a repair (quotes, commas, truncation...) to be read."""
        return any(n in _REPAIR_NOTES for n in self.notes)


# ---------------------------------------------------------------------------------------------
# Text clean-up shared by the field readers

_QUOTE_TRANSLATION = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "`": "'"})
# Decoration a model wraps around a short value: markdown emphasis, quotes, brackets, end punctuation.
_EDGE_DECORATION = " \t\r\n*_'\"~#>"
_TRAILING_PUNCTUATION = ".,;:!?"


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_QUOTE_TRANSLATION)
    previous = None
    while previous != text:
        previous = text
        text = text.strip(_EDGE_DECORATION).rstrip(_TRAILING_PUNCTUATION)
    return text


def _normalise_sentence(text: str) -> str:
    """Option texts compared this way: case, spacing, quotes, markdown and end punctuation ignored."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTE_TRANSLATION).casefold()
    text = re.sub(r"[*_]", "", text)
    text = re.sub(r"\s+", " ", text)
    return text.strip(" .,;:!?'\"()[]")


# ---------------------------------------------------------------------------------------------
# Scores

_SCORE_LABEL = re.compile(r"^(?:(?:total|overall|aesthetic|final)[\s_-]*)?score\s*(?:is\s*)?[:=\-]?\s*", re.I)
_SCORE = re.compile(
    r"(?P<number>[+-]?\d+(?:\.\d+)?)\s*(?:/\s*(?P<denominator>\d+(?:\.\d+)?)|%|points?|pts)?"
)


def read_score(value: object) -> Reading:
    """A total score on the 1-100 scale (see the module docstring for the accepted forms)."""
    if value is None:
        return Reading(None, Failure.EMPTY)
    if isinstance(value, bool):
        return Reading(None, Failure.NOT_A_SCORE)
    if isinstance(value, (int, float)):
        try:
            return _score_in_range(float(value))
        except OverflowError:  # an integer too large for a float
            return Reading(None, Failure.OUT_OF_RANGE)
    if not isinstance(value, str):
        return Reading(None, Failure.NOT_A_SCORE)
    text = _SCORE_LABEL.sub("", _clean(value))
    if not text:
        return Reading(None, Failure.EMPTY)
    match = _SCORE.fullmatch(text)
    if match is None:
        return Reading(None, Failure.NOT_A_SCORE)
    number = float(match["number"])
    if match["denominator"] is not None:
        denominator = float(match["denominator"])
        if denominator not in (10.0, 100.0):
            return Reading(None, Failure.UNKNOWN_SCALE)
        # round() only removes binary noise such as 6.7 * 10 = 67.00000000000001
        number = round(number * 100.0 / denominator, 9)
    return _score_in_range(number)


def _score_in_range(number: float) -> Reading:
    if not math.isfinite(number):
        return Reading(None, Failure.NOT_A_SCORE)
    low, high = TOTAL_SCORE_RANGE
    if not low <= number <= high:
        return Reading(None, Failure.OUT_OF_RANGE)
    return Reading(number, None)


def parse_score(value: object) -> float | None:
    return read_score(value).value


# ---------------------------------------------------------------------------------------------
# Levels

_LEVEL_LABEL = re.compile(r"^level\s*[:=\-]\s*", re.I)
_LEVEL_WORDS = re.compile(r"\b(good|medium|poor)\b", re.I)
# A level word, then a separator, then an explanation: "Good - the palette is coherent".
_LEADING_LEVEL = re.compile(r"^(good|medium|poor)\s*(?:[-\u2013\u2014:;,(]|\.\s)", re.I)
_BRACKETED = re.compile(r"^[(\[]\s*(.*?)\s*[)\]]$")


def read_level(value: object, *, letters_allowed: bool = False) -> Reading:
    """A level word; a submission letter only when ``letters_allowed`` (see the module docstring)."""
    if isinstance(value, Mapping):
        level_keys = [k for k in value if isinstance(k, str) and k.strip().casefold() == "level"]
        if len(level_keys) != 1:
            return Reading(None, Failure.NOT_A_LEVEL)
        value = value[level_keys[0]]
        if isinstance(value, Mapping):  # {"level": {"level": ...}} is not a format anyone writes
            return Reading(None, Failure.NOT_A_LEVEL)
        return read_level(value, letters_allowed=letters_allowed)
    if value is None:
        return Reading(None, Failure.EMPTY)
    if not isinstance(value, str):
        return Reading(None, Failure.NOT_A_LEVEL)
    text = _clean(_LEVEL_LABEL.sub("", _clean(value)))
    bracketed = _BRACKETED.match(text)
    if bracketed:
        text = _clean(bracketed[1])
    if not text:
        return Reading(None, Failure.EMPTY)
    if text.upper() in LETTER_TO_LEVEL:
        if letters_allowed:
            return Reading(normalise_level(text.upper()), None)
        return Reading(None, Failure.LETTER_AS_LEVEL)
    word = level_word(text)
    if word is not None:
        return Reading(word, None)
    named = {m.casefold() for m in _LEVEL_WORDS.findall(text)}
    if len(named) > 1:
        return Reading(None, Failure.AMBIGUOUS)
    leading = _LEADING_LEVEL.match(text)
    if leading and len(named) == 1:
        return Reading(level_word(leading[1]), None)
    return Reading(None, Failure.NOT_A_LEVEL)


def parse_level(value: object, *, letters_allowed: bool = False) -> str | None:
    return read_level(value, letters_allowed=letters_allowed).value


# ---------------------------------------------------------------------------------------------
# Answers

_ANSWER_LABEL = re.compile(
    r"^(?:the\s+)?(?:final\s+|correct\s+|best\s+)?(?:answer|choice|option)(?:\s+is)?\s*[:=\-]?\s*", re.I
)
# "B." "B)" "(B)" "[B]:" "B -" followed by the option's text or nothing. The punctuation is required:
# option texts start with the article "A" ("A clearly isolated ...").
_MARKED_LETTER = re.compile(
    r"^[(\[]?\s*(?P<letter>[A-Da-d])\s*(?:[)\]]\s*[.:,\-]?|[.:,]|\s[-\u2013\u2014])(?:\s+(?P<rest>.*))?$", re.S
)
# "B, C" or "B, or C": a second letter right after the first.
_ANOTHER_LETTER = re.compile(r"^(?:or\s+|and\s+)?[(\[]?[A-D](?:$|[)\].,;:/])")
_STANDALONE_LETTERS = re.compile(r"(?<![A-Za-z])([A-D])(?![A-Za-z])")


def read_answer(value: object, options: Mapping[str, str] | None = None) -> Reading:
    """An answer letter A-D from the forms listed in the module docstring."""
    if value is None:
        return Reading(None, Failure.EMPTY)
    if not isinstance(value, str):
        return Reading(None, Failure.NOT_AN_ANSWER)
    text = _clean(value)
    for _ in range(2):  # "Answer: Option B"
        text = _clean(_ANSWER_LABEL.sub("", text))
    if not text:
        return Reading(None, Failure.EMPTY)
    option_texts = _option_texts(options)
    bare = text.strip("()[] ")
    if len(bare) == 1 and bare.upper() in ANSWER_LETTERS:
        return Reading(bare.upper(), None)
    normalised = _normalise_sentence(text)
    exact = [letter for letter, option in option_texts.items() if option == normalised]
    if len(exact) == 1:
        return Reading(exact[0], None)
    marked = _MARKED_LETTER.match(text)
    if marked:
        letter = marked["letter"].upper()
        rest = _normalise_sentence(marked["rest"] or "")
        named = [other for other, option in option_texts.items() if rest and option == rest]
        if named and letter not in named:
            return Reading(None, Failure.CONFLICTING)
        if _ANOTHER_LETTER.match(marked["rest"] or "") and not named:
            return Reading(None, Failure.AMBIGUOUS)
        return Reading(letter, None)
    contained = [letter for letter, option in option_texts.items() if option and option in normalised]
    if len(contained) == 1:
        return Reading(contained[0], None)
    if len(contained) > 1 or len(set(_STANDALONE_LETTERS.findall(text))) > 1:
        return Reading(None, Failure.AMBIGUOUS)
    return Reading(None, Failure.NOT_AN_ANSWER)


def _option_texts(options: Mapping[str, str] | None) -> dict[str, str]:
    if not isinstance(options, Mapping):
        return {}
    return {
        letter.strip().upper(): _normalise_sentence(text)
        for letter, text in options.items()
        if isinstance(letter, str) and letter.strip().upper() in ANSWER_LETTERS and isinstance(text, str)
    }


def parse_answer(value: object, options: Mapping[str, str] | None = None) -> str | None:
    return read_answer(value, options).value


# ---------------------------------------------------------------------------------------------
# Keys

_SPELLINGS = {"colour": "color", "modelling": "modeling", "centre": "center"}


def _key_form(key: str) -> str:
    words = re.findall(r"[a-z0-9]+", unicodedata.normalize("NFKC", key).casefold().replace("&", " and "))
    return "_".join(_SPELLINGS.get(w, w) for w in words)


_ATTRIBUTE_BY_KEY_FORM: dict[str, str] = {}
for _attribute in ATTRIBUTES:
    for _form in (_key_form(_attribute.name), _key_form(_attribute.key)):
        _ATTRIBUTE_BY_KEY_FORM[_form] = _attribute.name

_TOP_LEVEL_BY_KEY_FORM: dict[str, str] = {
    "total_score": "total_score", "totalscore": "total_score", "overall_score": "total_score",
    "score": "total_score",
    "answer": "answer", "final_answer": "answer", "choice": "answer",
    "criteria": "criteria", "criterion": "criteria",
}


def attribute_for_key(key: object) -> str | None:
    """The attribute a key names (rules in the module docstring), or None. Never the nearest one."""
    if not isinstance(key, str):
        return None
    return _ATTRIBUTE_BY_KEY_FORM.get(_key_form(key))


# ---------------------------------------------------------------------------------------------
# JSON extraction and repair

_REPAIR_NOTES = frozenset(
    {"trailing_comma", "single_quotes", "curly_quotes", "python_literals", "bare_words",
     "unescaped_quote", "truncated", "prefix_only"}
)
_CLOSERS = {"{": "}", "[": "]"}
_JSON_ESCAPES = frozenset('"\\/bfnrtu')
_MAX_CUT_TRIES = 200  # each try is one json.loads; a 512-token output has far fewer members
_MAX_DEPTH = 32  # a prediction nests 3 deep; deeper text is not one, and would only cost recursion


class _JsonObject(dict):
    """A decoded object that also remembers every value of a key written more than once."""

    repeated: dict[str, list[Any]]


def _collect_pairs(pairs: list[tuple[str, Any]]) -> _JsonObject:
    obj = _JsonObject()
    obj.repeated = {}
    for key, value in pairs:
        if key in obj:
            obj.repeated.setdefault(key, [obj[key]]).append(value)
        obj[key] = value
    return obj


@dataclass
class _Scan:
    """One '{'-started candidate, rewritten as JSON text as far as the rules allow."""

    start: int
    end: int  # index just after the closing brace, or len(text) when truncated
    json_text: str
    truncated: bool
    cuts: list[tuple[int, tuple[str, ...]]]  # (length of json_text, open brackets) after complete values
    notes: set[str]


def _next_significant(text: str, index: int) -> str:
    while index < len(text) and text[index].isspace():
        index += 1
    return text[index] if index < len(text) else ""


def _scan_object(text: str, start: int) -> _Scan | None:
    """Rewrite text[start:] (starting at '{') as JSON until its brace closes; None on a bracket mismatch."""
    out: list[str] = []
    length = 0  # running len("".join(out))
    stack: list[str] = []
    expecting_key: list[bool] = []  # per open bracket: inside an object, is the next string a key?
    cuts: list[tuple[int, tuple[str, ...]]] = []
    notes: set[str] = set()
    i = start
    n = len(text)

    def emit(piece: str) -> None:
        nonlocal length
        out.append(piece)
        length += len(piece)

    while i < n:
        char = text[i]
        if char in "{[":
            if len(stack) >= _MAX_DEPTH:
                return None
            stack.append(char)
            expecting_key.append(char == "{")
            emit(char)
            i += 1
        elif char in "}]":
            if not stack or _CLOSERS[stack[-1]] != char:
                return None
            stack.pop()
            expecting_key.pop()
            emit(char)
            i += 1
            if not stack:
                return _Scan(start, i, "".join(out), False, cuts, notes)
            cuts.append((length, tuple(stack)))
        elif char == ",":
            cuts.append((length, tuple(stack)))
            if _next_significant(text, i + 1) in ("}", "]"):
                notes.add("trailing_comma")
            else:
                emit(char)
                if stack and stack[-1] == "{":
                    expecting_key[-1] = True
            i += 1
        elif char == ":":
            if stack and stack[-1] == "{":
                expecting_key[-1] = False
            emit(char)
            i += 1
        elif char in "\"'“”‘’":
            is_key = bool(expecting_key) and expecting_key[-1]
            i, string_text, closed = _read_string(text, i, notes)
            emit(string_text)
            if not closed:
                break
            if stack and not is_key:
                cuts.append((length, tuple(stack)))
        elif char.isalpha() or char == "_":
            j = i
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            word = text[i:j]
            if word in ("true", "false", "null", "NaN", "Infinity"):
                emit(word)
            elif word in ("True", "False", "None"):
                notes.add("python_literals")
                emit({"True": "true", "False": "false", "None": "null"}[word])
            else:
                notes.add("bare_words")
                emit(json.dumps(word))
            i = j
        else:
            emit(char)
            i += 1
    return _Scan(start, n, "".join(out), True, cuts, notes)


def _read_string(text: str, start: int, notes: set[str]) -> tuple[int, str, bool]:
    """Read the string opening at text[start]; return (next index, JSON string text, closed?).

    A quote closes the string only when what follows can follow a JSON string (',', ':', '}', ']',
    or the end): inner unescaped quotes and apostrophes in single-quoted text stay in the string.
    """
    opener = text[start]
    if opener == "'":
        notes.add("single_quotes")
    elif opener != '"':
        notes.add("curly_quotes")
    closers = {'"': '"', "'": "'", "‘": "’'", "’": "’'"}.get(opener, "”“\"")
    out = ['"']
    i = start + 1
    n = len(text)
    while i < n:
        char = text[i]
        if char == "\\":
            if i + 1 >= n:
                return n, "".join(out), False
            escaped = text[i + 1]
            if escaped in _JSON_ESCAPES:
                out.append("\\" + escaped)
            else:  # \' and other escapes JSON lacks: keep the character itself
                out.append("\\\\" + escaped if escaped != "'" else "'")
            i += 2
            continue
        if char in closers and _next_significant(text, i + 1) in (",", ":", "}", "]", ""):
            out.append('"')
            return i + 1, "".join(out), True
        if char == '"':
            if opener == '"':
                notes.add("unescaped_quote")
            out.append('\\"')
        else:
            out.append(char)
        i += 1
    return n, "".join(out), False


def _decode(json_text: str) -> _JsonObject | None:
    try:
        decoded = json.loads(json_text, strict=False, object_pairs_hook=_collect_pairs)
    except (ValueError, RecursionError):
        return None
    return decoded if isinstance(decoded, _JsonObject) else None


def _decode_scan(scan: _Scan) -> tuple[_JsonObject | None, set[str]]:
    """The whole candidate if it decodes, else its longest decodable prefix cut after a complete value."""
    notes = set(scan.notes)
    if not scan.truncated:
        whole = _decode(scan.json_text)
        if whole is not None:
            return whole, notes
    for length, stack in reversed(scan.cuts[-_MAX_CUT_TRIES:]):
        closers = "".join(_CLOSERS[b] for b in reversed(stack))
        prefix = _decode(scan.json_text[:length].rstrip().rstrip(",") + closers)
        if prefix is not None:
            notes.add("truncated" if scan.truncated else "prefix_only")
            return prefix, notes
    return None, notes


def _looks_like_prediction(obj: Mapping[str, Any]) -> bool:
    return any(
        isinstance(k, str) and (_key_form(k) in _TOP_LEVEL_BY_KEY_FORM or attribute_for_key(k))
        for k in obj
    )


@dataclass
class _Extraction:
    obj: _JsonObject | None  # the chosen prediction object
    notes: set[str]
    # Text the prose reader must skip: objects read in full, and truncated ones (a cut-off
    # '"total_score": 7' line inside them may have been 72).
    skip_spans: list[tuple[int, int]]


def _extract(text: str) -> _Extraction:
    found: list[tuple[bool, int, _JsonObject, set[str]]] = []  # (complete, order, object, notes)
    skip_spans: list[tuple[int, int]] = []
    position = 0
    while True:
        start = text.find("{", position)
        if start < 0:
            break
        scan = _scan_object(text, start)
        if scan is None:
            position = start + 1
            continue
        obj, notes = _decode_scan(scan)
        complete = obj is not None and not ({"truncated", "prefix_only"} & notes)
        if complete or scan.truncated:
            skip_spans.append((scan.start, scan.end))
        if obj is not None and _looks_like_prediction(obj):
            found.append((complete, len(found), obj, notes))
        if scan.truncated:
            break
        position = scan.end
    if not found:
        return _Extraction(None, set(), skip_spans)
    _, _, obj, notes = max(found, key=lambda f: (f[0], f[1]))
    if len(found) > 1:
        notes = notes | {"several_objects"}
    if "```" in text:
        notes = notes | {"fenced"}
    return _Extraction(obj, notes, skip_spans)


def extract_json_object(text: str) -> dict[str, Any] | None:
    """The prediction object in ``text`` (repaired, possibly a truncated object's complete part), or None."""
    if not isinstance(text, str):
        return None
    return _extract(text).obj


def read_reasons(text: str) -> dict[str, str]:
    """The reason written for each attribute in a model output of the ``{"level": ..., "reason": ...}`` form (the
    fine-tuning target's), by attribute name; empty when the output has none (the reference prompt asks for none)."""
    obj = extract_json_object(text)
    if obj is None:
        return {}
    reasons: dict[str, str] = {}
    places = [obj] + [v for k, v in obj.items() if _TOP_LEVEL_BY_KEY_FORM.get(_key_form(k)) == "criteria"
                      and isinstance(v, Mapping)]
    for place in places:
        for key, value in place.items():
            attribute = attribute_for_key(key)
            if (
                attribute
                and isinstance(value, Mapping)
                and isinstance(value.get("reason"), str)
                and value["reason"].strip()
            ):
                reasons[attribute] = value["reason"].strip()
    return reasons


# ---------------------------------------------------------------------------------------------
# Prose lines: "Answer: B", "- **Sharpness**: Poor", "Total score: 72/100"

_PROSE_LINE = re.compile(
    r"^[\s>*_`\"'-]*(?:\d{1,2}[.)]\s*)?[*_`\"']*"  # bullets, numbering, emphasis, quotes
    r"(?P<key>[A-Za-z][A-Za-z0-9 &/_'-]{0,80}?)[*_`\"']*\s*[:=]\s*(?P<value>.*)$"
)


def _prose_values(text: str) -> dict[str, list[Any]]:
    values: dict[str, list[Any]] = {}
    for line in text.splitlines():
        match = _PROSE_LINE.match(line.strip())
        if match is None:
            continue
        key = match["key"]
        form = _key_form(key)
        # a bare "Score:" line in prose is as likely an attribute's 0-10 score as the total
        target = attribute_for_key(key) or (None if form == "score" else _TOP_LEVEL_BY_KEY_FORM.get(form))
        if target in FIELDS:
            values.setdefault(target, []).append(match["value"].strip().rstrip(","))
    return values


# ---------------------------------------------------------------------------------------------
# The whole output


def _all_values(obj: Mapping[str, Any], key: str) -> list[Any]:
    repeated = getattr(obj, "repeated", {})
    return list(repeated[key]) if key in repeated else [obj[key]]


def _json_values(obj: _JsonObject, unknown: list[str], notes: set[str]) -> dict[str, list[Any]]:
    values: dict[str, list[Any]] = {}
    criteria_objects: list[Mapping[str, Any]] = []
    for key in obj:
        form = _key_form(key)
        target = _TOP_LEVEL_BY_KEY_FORM.get(form) or attribute_for_key(key)
        if target == "criteria":
            for criteria in _all_values(obj, key):
                if isinstance(criteria, Mapping):
                    criteria_objects.append(criteria)
                else:
                    notes.add("criteria_not_an_object")
        elif target is not None:
            values.setdefault(target, []).extend(_all_values(obj, key))
        else:
            unknown.append(key)
    for criteria in criteria_objects:
        for key in criteria:
            attribute = attribute_for_key(key)
            if attribute is None:
                unknown.append(f"criteria.{key}")
            else:
                values.setdefault(attribute, []).extend(_all_values(criteria, key))
    return values


def _read_field(
    name: str, raw_values: list[Any], options: Mapping[str, str] | None, letters_allowed: bool
) -> Reading:
    readings = []
    for raw in raw_values:
        if name == "total_score":
            readings.append(read_score(raw))
        elif name == "answer":
            readings.append(read_answer(raw, options))
        else:
            readings.append(read_level(raw, letters_allowed=letters_allowed))
    if len(readings) == 1:
        return readings[0]
    if len(set(readings)) == 1:  # written twice, read the same both times
        return readings[0]
    return Reading(None, Failure.CONFLICTING)


def parse_model_output(
    text: str, options: Mapping[str, str] | None = None, *, letters_allowed: bool = False
) -> ParsedPrediction:
    """Read one model output into Track 1 fields. Never raises; unreadable fields carry a reason."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    elif not isinstance(text, str):
        text = "" if text is None else str(text)

    extraction = _extract(text)
    notes = set(extraction.notes)
    unknown: list[str] = []
    json_values = _json_values(extraction.obj, unknown, notes) if extraction.obj is not None else {}

    prose_text = text
    for start, end in reversed(extraction.skip_spans):
        prose_text = prose_text[:start] + "\n" + prose_text[end:]
    prose_values = _prose_values(prose_text)

    readings: dict[str, Reading] = {}
    for name in FIELDS:
        if name in json_values:
            readings[name] = _read_field(name, json_values[name], options, letters_allowed)
        elif name in prose_values:
            notes.add(f"{name}_from_prose")
            readings[name] = _read_field(name, prose_values[name], options, letters_allowed)
        else:
            absent = Failure.MISSING if extraction.obj is not None else Failure.NOT_JSON
            readings[name] = Reading(None, absent)

    return ParsedPrediction(
        raw_text=text,
        total_score=readings["total_score"].value,
        levels={name: readings[name].value for name in ATTRIBUTE_NAMES},
        answer=readings["answer"].value,
        failures={name: r.failure for name, r in readings.items() if r.failure is not None},
        unknown_keys=tuple(unknown),
        notes=tuple(sorted(notes)),
    )


def failure_counts(predictions: Iterable[ParsedPrediction]) -> pd.DataFrame:
    """Failures per field (rows: total_score, answer, the 13 attributes) and reason (columns).

    Also ``failed`` (any reason), ``n`` (outputs read) and ``failure_rate``.
    """
    import pandas as pd

    counts = {name: dict.fromkeys(Failure, 0) for name in FIELDS}
    total = 0
    for prediction in predictions:
        total += 1
        for name, reason in prediction.failures.items():
            counts[name][Failure(reason)] += 1
    table = pd.DataFrame.from_dict(counts, orient="index")
    table.columns = [str(reason) for reason in table.columns]
    table.index.name = "field"
    table["failed"] = table.sum(axis=1)
    table["n"] = total
    table["failure_rate"] = table["failed"] / total if total else float("nan")
    return table


def reference_keeps(text: str | None) -> bool:
    """Whether the reference's evaluation script keeps this answer (qwen-vl-finetune/evaluation/evaluation_multi.py
    :196-205 and :258-261): code fences removed, the text from the first "{" to the last "}" loads as JSON and is not
    empty. It drops every other answer from its results, where we score it (wrong levels, an imputed score)."""
    if not isinstance(text, str):
        return False
    text = text.replace("```json", "").replace("```", "")
    start, end = text.find("{"), text.rfind("}")
    if start == -1 or end == -1:
        return False
    try:
        return bool(json.loads(text[start:end + 1]))
    except (ValueError, RecursionError):
        return False


__all__ = [
    "FIELDS",
    "Failure",
    "ParsedPrediction",
    "Reading",
    "attribute_for_key",
    "extract_json_object",
    "failure_counts",
    "parse_answer",
    "parse_level",
    "parse_model_output",
    "reference_keeps",
    "parse_score",
    "read_answer",
    "read_level",
    "read_score",
]
