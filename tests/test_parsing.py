"""Free model text -> Track 1 fields. The outputs below are written by hand to look like what
Qwen-VL-style models write under the reference prompt (and how they go wrong)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portraitcraft.attributes import (
    ANSWER_LETTERS,
    ATTRIBUTE_KEYS,
    ATTRIBUTE_NAMES,
    ATTRIBUTES,
    LETTER_TO_LEVEL,
    LEVELS,
)
from portraitcraft.parsing import (
    FIELDS,
    Failure,
    ParsedPrediction,
    attribute_for_key,
    extract_json_object,
    failure_counts,
    parse_answer,
    parse_level,
    parse_model_output,
    parse_score,
    read_answer,
    read_level,
    read_score,
)

from strategies import valid_outputs

SAMPLE = Path(__file__).parents[2] / "shared" / "portraitcraft-sample"

OPTIONS = {
    "A": "The subject's face is sharp, and the background falls off smoothly into blur.",
    "B": "A clearly isolated subject stands out against a plain wall.",
    "C": "The subject is cut off at the knees and partly hidden by a railing.",
    "D": "Several people compete for attention and none of them is in focus.",
}

# One hand-written level per attribute, in ATTRIBUTE_NAMES order.
EXPECTED_LEVELS = dict(zip(ATTRIBUTE_NAMES, [
    "Good", "Medium", "Poor", "Medium", "Good", "Medium", "Poor",
    "Good", "Medium", "Medium", "Good", "Poor", "Medium",
]))


def criteria_lines(levels: dict[str, str], quote: str = '"', indent: str = "    ") -> str:
    return ",\n".join(f"{indent}{quote}{name}{quote}: {quote}{level}{quote}" for name, level in levels.items())


def assert_consistent(parsed: ParsedPrediction) -> None:
    """Every field is either a valid value or None with a reason; nothing else."""
    assert list(parsed.levels) == list(ATTRIBUTE_NAMES)
    values = {"total_score": parsed.total_score, "answer": parsed.answer, **parsed.levels}
    assert set(values) == set(FIELDS)
    for name, value in values.items():
        assert (value is None) == (name in parsed.failures), name
    assert set(parsed.failures) <= set(FIELDS)
    assert all(isinstance(reason, Failure) for reason in parsed.failures.values())
    if parsed.total_score is not None:
        assert math.isfinite(parsed.total_score) and 1 <= parsed.total_score <= 100
    assert parsed.answer is None or parsed.answer in ANSWER_LETTERS
    assert all(level is None or level in LEVELS for level in parsed.levels.values())


# ---------------------------------------------------------------------------------------------
# Whole outputs


def test_fenced_json_inside_prose_is_read_whole() -> None:
    text = (
        "Sure! Here is my evaluation of the portrait.\n\n```json\n{\n"
        '  "total_score": 68,\n  "criteria": {\n'
        + criteria_lines(EXPECTED_LEVELS)
        + '\n  },\n  "answer": "C"\n}\n```\n\nLet me know if you need more detail.'
    )
    parsed = parse_model_output(text, OPTIONS)
    assert_consistent(parsed)
    assert parsed.failures == {}
    assert parsed.is_complete
    assert parsed.total_score == 68
    assert parsed.levels == EXPECTED_LEVELS
    assert parsed.answer == "C"
    assert parsed.raw_text == text
    assert "fenced" in parsed.notes
    assert not parsed.recovered_json


def test_trailing_commas_are_repaired() -> None:
    text = '{"total_score": 55, "criteria": {' + criteria_lines(EXPECTED_LEVELS) + ',\n}, "answer": "A",}'
    parsed = parse_model_output(text)
    assert parsed.failures == {}
    assert parsed.levels == EXPECTED_LEVELS
    assert "trailing_comma" in parsed.notes and parsed.recovered_json


def test_single_quoted_dict_with_apostrophes_in_reasons() -> None:
    text = (
        "{'total_score': 81, 'criteria': {"
        "'Color Harmony': {'level': 'Good', 'reason': 'the model's coat echoes the sky'}, "
        "'Sharpness': {'level': 'Poor', 'reason': 'the eyes aren't in focus'}}, 'answer': 'D'}"
    )
    parsed = parse_model_output(text)
    assert parsed.total_score == 81
    assert parsed.levels["Color Harmony"] == "Good"
    assert parsed.levels["Sharpness"] == "Poor"
    assert parsed.answer == "D"
    assert parsed.failures["Exposure Control"] == Failure.MISSING
    assert "single_quotes" in parsed.notes


def test_python_literals_bare_words_and_curly_quotes() -> None:
    text = "{total_score: 40, criteria: {“Sharpness”: Poor, “Exposure Control”: None}, answer: B, valid: True}"
    parsed = parse_model_output(text)
    assert parsed.total_score == 40
    assert parsed.levels["Sharpness"] == "Poor"
    assert parsed.failures["Exposure Control"] == Failure.EMPTY
    assert parsed.answer == "B"
    assert "valid" in parsed.unknown_keys


def test_unescaped_quotes_inside_a_reason() -> None:
    text = ('{"criteria": {"Application of Classical Composition Principles": '
            '{"level": "Good", "reason": "a clear "rule of thirds" placement"}}, "total_score": 77}')
    parsed = parse_model_output(text)
    assert parsed.levels["Application of Classical Composition Principles"] == "Good"
    assert parsed.total_score == 77
    assert "unescaped_quote" in parsed.notes


def test_truncated_mid_criteria_keeps_the_complete_attributes() -> None:
    first_five = dict(list(EXPECTED_LEVELS.items())[:5])
    text = (
        '```json\n{\n  "total_score": 64,\n  "criteria": {\n'
        + criteria_lines(first_five)
        + ',\n    "Exposure Control": "Med'
    )
    parsed = parse_model_output(text)
    assert_consistent(parsed)
    assert parsed.total_score == 64
    assert {name: parsed.levels[name] for name in first_five} == first_five
    assert parsed.failures["Exposure Control"] == Failure.MISSING
    assert parsed.failures["answer"] == Failure.MISSING
    assert "truncated" in parsed.notes and parsed.recovered_json


def test_truncated_training_format_keeps_levels_whose_reason_was_cut() -> None:
    text = (
        '{"criteria": {"Color Harmony": {"level": "Good", "reason": "warm, coherent palette"}, '
        '"Sharpness": {"level": "Poor", "reason": "the face is bl'
    )
    parsed = parse_model_output(text)
    assert parsed.levels["Color Harmony"] == "Good"
    assert parsed.levels["Sharpness"] == "Poor"


@pytest.mark.parametrize("cut_text", [
    '{"criteria": {"Sharpness": "Good"}, "total_score": 7',  # was 72 or 75: never read as 7
    '{"criteria": {"Sharpness": "Good"}, "answer": "B',  # the letter's closing quote is missing
    '{"criteria": {"Sharpness": "Good"}, "answer": "B. The subject',
])
def test_a_value_cut_mid_way_is_not_read(cut_text: str) -> None:
    parsed = parse_model_output(cut_text, OPTIONS)
    assert parsed.levels["Sharpness"] == "Good"
    assert parsed.total_score is None and parsed.answer is None
    assert parsed.failures["total_score"] == Failure.MISSING
    assert parsed.failures["answer"] == Failure.MISSING


def test_training_target_format_without_answer() -> None:
    target = {
        "criteria": {name: {"level": level, "reason": "because"} for name, level in EXPECTED_LEVELS.items()},
        "total_score": 70,
    }
    parsed = parse_model_output(json.dumps(target, indent=2))
    assert parsed.levels == EXPECTED_LEVELS
    assert parsed.total_score == 70
    assert parsed.failures == {"answer": Failure.MISSING}


def test_attributes_written_at_top_level_without_criteria() -> None:
    text = json.dumps({"total_score": 50, **EXPECTED_LEVELS, "answer": "A"})
    parsed = parse_model_output(text)
    assert parsed.levels == EXPECTED_LEVELS
    assert parsed.failures == {}


def test_later_object_wins_over_an_echoed_template() -> None:
    text = (
        'The format is {"total_score": "<integer 1-100>", "answer": "<A|B|C|D>"}. My output:\n'
        '{"total_score": 58, "answer": "B"}'
    )
    parsed = parse_model_output(text)
    assert parsed.total_score == 58
    assert parsed.answer == "B"
    assert "several_objects" in parsed.notes


def test_a_complete_object_wins_over_a_later_truncated_one() -> None:
    text = '{"total_score": 58, "answer": "B"}\n{"total_score": 90, "answer": "C", "criteria": {"Sharpness"'
    parsed = parse_model_output(text)
    assert (parsed.total_score, parsed.answer) == (58, "B")


def test_no_json_at_all_is_not_json_for_every_field() -> None:
    parsed = parse_model_output("I'm sorry, I cannot evaluate this image.")
    assert_consistent(parsed)
    assert parsed.failures == dict.fromkeys(FIELDS, Failure.NOT_JSON)


def test_an_object_with_no_prediction_keys_is_not_a_prediction() -> None:
    parsed = parse_model_output('The caption is {"text": "a woman by a window"}.')
    assert parsed.failures == dict.fromkeys(FIELDS, Failure.NOT_JSON)


def test_prose_lines_are_read_when_there_is_no_json() -> None:
    text = (
        "Overall assessment\n"
        "Total score: 7.4/10\n"
        "1. **Color Harmony**: Good\n"
        "- **Sharpness:** poor.\n"
        "- Colour Harmony: good\n"
        "**Answer:** (D)\n"
    )
    parsed = parse_model_output(text, OPTIONS)
    assert parsed.total_score == 74
    assert parsed.levels["Color Harmony"] == "Good"
    assert parsed.levels["Sharpness"] == "Poor"
    assert parsed.answer == "D"
    assert parsed.failures["Exposure Control"] == Failure.NOT_JSON
    assert "answer_from_prose" in parsed.notes


def test_a_bare_score_line_in_prose_is_not_the_total() -> None:
    text = "**Sharpness**: Good\nScore: 8/10\n**Exposure Control**: Medium\nAnswer: A"
    parsed = parse_model_output(text)
    assert parsed.failures["total_score"] == Failure.NOT_JSON
    assert parsed.levels["Sharpness"] == "Good" and parsed.answer == "A"


def test_two_different_totals_in_prose_conflict() -> None:
    parsed = parse_model_output("Total score: 72\nOverall score: 65/100")
    assert parsed.failures["total_score"] == Failure.CONFLICTING


def test_answer_after_the_json_is_taken_from_prose() -> None:
    text = '{"total_score": 61, "criteria": {"Sharpness": "Medium"}}\nAnswer: C'
    parsed = parse_model_output(text, OPTIONS)
    assert parsed.answer == "C"
    assert "answer_from_prose" in parsed.notes


def test_prose_does_not_override_json() -> None:
    text = 'Answer: A\n{"answer": "C", "total_score": 61}'
    assert parse_model_output(text).answer == "C"


def test_unknown_attribute_is_reported_not_assigned() -> None:
    text = json.dumps({"criteria": {"Composition": "Good", "Colour harmony": "Poor", "Lighting": "Good"}})
    parsed = parse_model_output(text)
    assert parsed.unknown_keys == ("criteria.Composition", "criteria.Lighting")
    assert parsed.levels["Color Harmony"] == "Poor"
    assert parsed.failures["Application of Classical Composition Principles"] == Failure.MISSING
    assert parsed.failures["Light and Shadow Modeling"] == Failure.MISSING


def test_duplicate_keys_that_agree_are_fine_and_that_disagree_conflict() -> None:
    text = (
        '{"criteria": {"Sharpness": "Good", "sharpness": "good", '
        '"Exposure Control": "Good", "Exposure Control": "Poor", '
        '"Subject Integrity": "Medium", "subject_integrity": "C"}}'
    )
    parsed = parse_model_output(text)
    assert parsed.levels["Sharpness"] == "Good"
    assert parsed.failures["Exposure Control"] == Failure.CONFLICTING
    assert parsed.failures["Subject Integrity"] == Failure.CONFLICTING


def test_a_letter_where_a_level_belongs_is_invalid_in_raw_output() -> None:
    text = json.dumps({"total_score": 62, "criteria": {**EXPECTED_LEVELS, "Subject Integrity": "C"}, "answer": "C"})
    parsed = parse_model_output(text)
    assert parsed.failures == {"Subject Integrity": Failure.LETTER_AS_LEVEL}
    lettered = parse_model_output(text, letters_allowed=True)
    assert lettered.levels["Subject Integrity"] == LETTER_TO_LEVEL["C"]


# ---------------------------------------------------------------------------------------------
# Field readers


@pytest.mark.parametrize(("written", "level"), [
    ("Good", "Good"), ("good.", "Good"), ("**Medium**", "Medium"), ("POOR", "Poor"), (" medium ", "Medium"),
    ("`Good`", "Good"), ('"Poor"', "Poor"), ("Level: Medium", "Medium"), ("(Good)", "Good"),
    ("Good - the palette is coherent", "Good"), ("Poor (visible motion blur)", "Poor"),
    ("Medium. Slightly soft eyes.", "Medium"), ({"level": "good", "reason": "warm tones"}, "Good"),
    ({"Level": "Poor"}, "Poor"),
])
def test_level_forms(written: object, level: str) -> None:
    assert parse_level(written) == level


@pytest.mark.parametrize(("written", "reason"), [
    ("C", Failure.LETTER_AS_LEVEL), ("(b)", Failure.LETTER_AS_LEVEL), ("A.", Failure.LETTER_AS_LEVEL),
    ("D", Failure.NOT_A_LEVEL), ("Excellent", Failure.NOT_A_LEVEL), ("Fair", Failure.NOT_A_LEVEL),
    ("NOT_RES", Failure.NOT_A_LEVEL), ("Not good", Failure.NOT_A_LEVEL), ("Goodish", Failure.NOT_A_LEVEL),
    ("Medium to Good", Failure.AMBIGUOUS), ("Good/Medium", Failure.AMBIGUOUS),
    ("", Failure.EMPTY), ("  ** ", Failure.EMPTY), (None, Failure.EMPTY),
    (7, Failure.NOT_A_LEVEL), (["Good"], Failure.NOT_A_LEVEL), ({"reason": "Good light"}, Failure.NOT_A_LEVEL),
])
def test_level_failures(written: object, reason: Failure) -> None:
    assert read_level(written) == (None, reason)


@pytest.mark.parametrize(("letter", "level"), sorted(LETTER_TO_LEVEL.items()))
def test_letters_are_levels_only_when_allowed(letter: str, level: str) -> None:
    assert parse_level(letter, letters_allowed=True) == level
    assert parse_level({"level": letter}, letters_allowed=True) == level
    assert parse_level(letter) is None


@pytest.mark.parametrize(("written", "score"), [
    (72, 72.0), (72.5, 72.5), ("72", 72.0), (" 72 ", 72.0), ("72/100", 72.0), ("72 / 100", 72.0),
    ("7.2/10", 72.0), ("6.7/10", 67.0), ("10/10", 100.0), ("**85**", 85.0), ("85 points", 85.0),
    ("Total score: 64", 64.0), ("1", 1.0), (100, 100.0), ("7.2", 7.2), ("72%", 72.0),
])
def test_score_forms(written: object, score: float) -> None:
    assert parse_score(written) == score


@pytest.mark.parametrize(("written", "reason"), [
    (0, Failure.OUT_OF_RANGE), (101, Failure.OUT_OF_RANGE), ("-5", Failure.OUT_OF_RANGE),
    ("12/10", Failure.OUT_OF_RANGE), (10**400, Failure.OUT_OF_RANGE),
    ("4/5", Failure.UNKNOWN_SCALE), ("70-75", Failure.NOT_A_SCORE), ("about seventy", Failure.NOT_A_SCORE),
    ("<integer 1-100>", Failure.NOT_A_SCORE), (True, Failure.NOT_A_SCORE), (float("nan"), Failure.NOT_A_SCORE),
    (float("inf"), Failure.NOT_A_SCORE), ([72], Failure.NOT_A_SCORE), (None, Failure.EMPTY), ("", Failure.EMPTY),
])
def test_score_failures(written: object, reason: Failure) -> None:
    assert read_score(written) == (None, reason)


@pytest.mark.parametrize(("written", "letter"), [
    ("B", "B"), ("b", "B"), ("(B)", "B"), ("B.", "B"), ("B)", "B"), ("[B]", "B"), ("**B**", "B"),
    ("Answer: B", "B"), ("answer - b", "B"), ("The answer is (C).", "C"), ("Option D", "D"),
    ("Answer: Option A", "A"), ("The correct answer is D", "D"),
    ("C. The subject is cut off at the knees and partly hidden by a railing.", "C"),
    ("(A) the subject's face is sharp", "A"),
    ("B, because the subject stands alone against the wall", "B"),
    ("B. A clearly isolated subject", "B"),  # a shortened option text after the letter
    # the option's text alone, with case, spacing, quote and final-stop differences
    ("the subject is cut off at the knees and  partly hidden by a railing", "C"),
    ("The subject’s face is sharp, and the background falls off smoothly into blur.", "A"),
    # option B starts with the article "A": it must be read as B's text, not as letter A
    ("A clearly isolated subject stands out against a plain wall.", "B"),
    ("I choose: a clearly isolated subject stands out against a plain wall.", "B"),
])
def test_answer_forms(written: str, letter: str) -> None:
    assert parse_answer(written, OPTIONS) == letter


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("E", Failure.NOT_AN_ANSWER),
        ("<A|B|C|D>", Failure.AMBIGUOUS),
        ("B or C", Failure.AMBIGUOUS),
        ("B, C", Failure.AMBIGUOUS),
        ("B, or (C).", Failure.AMBIGUOUS),
        ("A and B are both plausible", Failure.AMBIGUOUS),
        ("B. The subject is cut off at the knees and partly hidden by a railing.", Failure.CONFLICTING),
        ("I am not sure", Failure.NOT_AN_ANSWER),
        ("", Failure.EMPTY),
        (None, Failure.EMPTY),
        (2, Failure.NOT_AN_ANSWER),
    ],
)
def test_answer_failures(written: object, reason: Failure) -> None:
    assert read_answer(written, OPTIONS) == (None, reason)


def test_option_text_needs_the_options() -> None:
    assert parse_answer("A clearly isolated subject stands out against a plain wall.") is None
    assert parse_answer(OPTIONS["C"]) is None


def test_an_answer_containing_two_option_texts_is_ambiguous() -> None:
    options = {"A": "Red", "B": "Blue", "C": "Green", "D": "Grey"}
    assert read_answer("Red", options) == ("A", None)
    assert read_answer("Red and Blue", options) == (None, Failure.AMBIGUOUS)


# ---------------------------------------------------------------------------------------------
# Keys


def test_every_attribute_is_found_by_name_and_by_key() -> None:
    for attribute in ATTRIBUTES:
        for written in (attribute.name, attribute.key, attribute.name.upper(), attribute.name.lower(),
                        attribute.name.replace(" ", "_"), f"  {attribute.name}  "):
            assert attribute_for_key(written) == attribute.name


@pytest.mark.parametrize(("written", "name"), [
    ("Colour Harmony", "Color Harmony"), ("colour_harmony", "Color Harmony"),
    ("Light & Shadow Modelling", "Light and Shadow Modeling"), ("Visual Centre Stability", "Visual Center Stability"),
    ("depth-of-field-and-layering", "Depth of Field and Layering"),
])
def test_spelling_variants(written: str, name: str) -> None:
    assert attribute_for_key(written) == name


@pytest.mark.parametrize("written", [
    "Composition", "Color", "Harmony", "Negative Space Appropriateness", "Colour Harmonies",
    "Depth of Field", "Visual Stability", "Classical Composition Principles", "", "ColorHarmony",
])
def test_near_misses_are_never_guessed(written: str) -> None:
    assert attribute_for_key(written) is None


def test_no_two_attributes_share_a_key_form() -> None:
    found = [attribute_for_key(k) for k in ATTRIBUTE_KEYS]
    assert found == list(ATTRIBUTE_NAMES)


# ---------------------------------------------------------------------------------------------
# JSON extraction


def test_extract_json_object_returns_none_without_an_object() -> None:
    assert extract_json_object("no braces here") is None
    assert extract_json_object("{]") is None
    assert extract_json_object("") is None


def test_extract_json_object_reads_nested_values() -> None:
    obj = extract_json_object('text ```json\n{"criteria": {"Sharpness": {"level": "Poor"}}, "total_score": "72",}\n```')
    assert obj == {"criteria": {"Sharpness": {"level": "Poor"}}, "total_score": "72"}


# ---------------------------------------------------------------------------------------------
# Counting failures


def test_failure_counts_per_field_and_reason() -> None:
    outputs = [
        json.dumps({"total_score": 62, "criteria": {**EXPECTED_LEVELS, "Subject Integrity": "C"}, "answer": "C"}),
        json.dumps({"total_score": 0, "criteria": EXPECTED_LEVELS, "answer": "E"}),
        "no json here",
    ]
    table = failure_counts(parse_model_output(text) for text in outputs)
    assert list(table.index) == list(FIELDS)
    assert table.loc["Subject Integrity", "letter_as_level"] == 1
    assert table.loc["Subject Integrity", "not_json"] == 1
    assert table.loc["Subject Integrity", "failed"] == 2
    assert table.loc["total_score", "out_of_range"] == 1
    assert table.loc["answer", "not_an_answer"] == 1
    assert table.loc["Sharpness", "failed"] == 1
    assert (table["n"] == 3).all()
    assert table.loc["Subject Integrity", "failure_rate"] == pytest.approx(2 / 3)
    assert {str(reason) for reason in Failure} <= set(table.columns)


def test_failure_counts_of_nothing() -> None:
    table = failure_counts([])
    assert (table["failed"] == 0).all()
    assert table["failure_rate"].isna().all()


# ---------------------------------------------------------------------------------------------
# The real reference output (read from ../shared, never copied)


def _sample(name: str) -> list[dict]:
    path = SAMPLE / name
    if not path.exists():
        pytest.skip(f"real sample absent: {path}")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.real_sample
def test_real_raw_output_flags_the_letter_written_as_a_level() -> None:
    record = _sample("track_1_raw_output_example.json")[0]
    parsed = parse_model_output(json.dumps(record, indent=2), record["options"])
    word_levels = {k: v for k, v in record["criteria"].items() if v in LEVELS}
    lettered = [k for k, v in record["criteria"].items() if v not in LEVELS]
    assert lettered == ["Subject Integrity"]
    assert {k: parsed.levels[k] for k in word_levels} == word_levels
    assert parsed.failures == {"Subject Integrity": Failure.LETTER_AS_LEVEL}
    assert parsed.total_score == record["total_score"]
    assert parsed.answer == record["answer"]
    # the answer written as its option's text reads back as the same letter
    assert parse_answer(record["options"][record["answer"]], record["options"]) == record["answer"]


@pytest.mark.real_sample
def test_real_submission_reads_with_letters_allowed() -> None:
    record = _sample("track_1_submission_example.json")[0]
    parsed = parse_model_output(json.dumps(record), record["options"], letters_allowed=True)
    for name, value in record["criteria"].items():
        letter = value["level"]
        if letter in LETTER_TO_LEVEL:
            assert parsed.levels[name] == LETTER_TO_LEVEL[letter]
        else:
            assert parsed.failures[name] == Failure.NOT_A_LEVEL


# ---------------------------------------------------------------------------------------------
# Properties: never an exception, never an invented value

@given(st.text(max_size=400))
@settings(max_examples=200, deadline=None)
def test_arbitrary_text_never_raises(text: str) -> None:
    assert_consistent(parse_model_output(text, OPTIONS))


@given(st.text(alphabet='{}[]",:\'` \nabcGoodMediumPoorABCD0123456789/.-_*', max_size=200))
@settings(max_examples=300, deadline=None)
def test_json_shaped_noise_never_raises(text: str) -> None:
    assert_consistent(parse_model_output(text, OPTIONS))


@given(valid_outputs())
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_valid_outputs_read_back_exactly(case: tuple[str, dict]) -> None:
    text, expected = case
    parsed = parse_model_output(text, OPTIONS)
    assert parsed.failures == {}
    assert parsed.total_score == expected["total_score"]
    assert parsed.levels == expected["levels"]
    assert parsed.answer == expected["answer"]


@given(valid_outputs(), st.data())
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_truncated_output_never_yields_a_wrong_value(case: tuple[str, dict], data: st.DataObject) -> None:
    text, expected = case
    cut = data.draw(st.integers(0, len(text)))
    parsed = parse_model_output(text[:cut], OPTIONS)
    assert_consistent(parsed)
    assert parsed.total_score in (None, expected["total_score"])
    assert parsed.answer in (None, expected["answer"])
    for name, level in parsed.levels.items():
        assert level in (None, expected["levels"][name])


@given(valid_outputs(), st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(
    ["", "{", "}", "[", "]", ",", ":", '"', "'", "\\", "\n", "C", "Good", "```", "NaN", "1e999", "9" * 500]
)), min_size=1, max_size=6))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_outputs_never_raise(case: tuple[str, dict], edits: list[tuple[int, str]]) -> None:
    text, _ = case
    for position, piece in edits:
        position %= len(text) + 1
        # replace one character with the piece ("" deletes it)
        text = text[:position] + piece + text[position + 1:]
    assert_consistent(parse_model_output(text, OPTIONS))


def test_pathological_inputs_terminate() -> None:
    # deeply nested text is not a prediction; it must be dropped quickly, not recursed into
    for text in (
        "{" * 5000,
        "[" * 5000 + "]" * 5000,
        '{"a": ' * 2000,
        "{]" * 3000,
        '{"x": [' + "[" * 3000 + "]" * 3000 + "]}",
    ):
        assert_consistent(parse_model_output(text))
