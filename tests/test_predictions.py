"""Reading the three prediction formats, the JSON Lines writer, and the official submission."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from portraitcraft.attributes import ATTRIBUTE_NAMES, LETTER_TO_LEVEL, NOT_RESPONDED
from portraitcraft.cli import app
from portraitcraft.metrics import INVALID_LEVEL
from portraitcraft.parsing import parse_model_output
from portraitcraft.predictions import (
    JSONL,
    RAW,
    SCHEMA,
    SUBMISSION,
    PredictionFileError,
    PredictionWriter,
    failed_record,
    ok_record,
    read_predictions,
    read_total_score,
    recorded_images,
    write_submission,
)

from strategies import prediction_file_text

LEVEL_CODES = {"Poor": 0, "Medium": 1, "Good": 2}


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def submission_record(name: str, letter: str = "B", score=50, answer="A") -> dict:
    return {"image_path": name, "criteria": {a: {"level": letter} for a in ATTRIBUTE_NAMES},
            "total_score": score, "question": "q", "options": {k: k.lower() for k in "ABCD"}, "answer": answer}


def raw_record(name: str, word: str = "Medium", score=50, answer="A") -> dict:
    return {"image_path": name, "total_score": score, "criteria": {a: word for a in ATTRIBUTE_NAMES},
            "question": "q", "options": {k: k.lower() for k in "ABCD"}, "answer": answer}


def test_total_score_reading():
    assert read_total_score(62) == 62.0
    assert read_total_score(62.5) == 62.5
    assert read_total_score(" 62 ") == 62.0
    assert read_total_score("-3.5e1") == -35.0
    for bad in (True, False, None, "nan", "inf", float("nan"), float("inf"), "62/100", "sixty", "", [62], {"v": 1},
                10**400):
        assert read_total_score(bad) is None, bad


def test_submission_format_levels_answers_and_scores(tmp_path):
    records = [submission_record("a.jpg"), submission_record("b.jpg", score="71")]
    records[0]["criteria"]["Sharpness"] = {"level": " c "}  # trimmed, case ignored: Good
    records[0]["criteria"]["Exposure Control"] = {"level": "poor"}  # a word is a level too
    records[0]["criteria"]["Subject Integrity"] = {"level": NOT_RESPONDED}
    records[0]["criteria"]["Color Harmony"] = {"level": "D"}
    del records[0]["criteria"]["Visual Flow Guidance"]
    records[1]["answer"] = " d "
    records[1]["criteria"]["Sharpness"] = "B"  # not nested as {"level": ...}: malformed entry
    prediction = read_predictions(write_json(tmp_path / "sub.json", records))
    assert prediction.format == SUBMISSION
    assert prediction.image_paths == ["a.jpg", "b.jpg"]
    np.testing.assert_array_equal(prediction.total_score, [50.0, 71.0])
    assert prediction.answers == ["A", "D"]
    row = dict(zip(ATTRIBUTE_NAMES, prediction.levels[0]))
    assert row["Sharpness"] == LEVEL_CODES["Good"]
    assert row["Exposure Control"] == LEVEL_CODES["Poor"]
    assert row["Visual Style Consistency"] == LEVEL_CODES["Medium"]
    for attribute in ("Subject Integrity", "Color Harmony", "Visual Flow Guidance"):
        assert row[attribute] == INVALID_LEVEL, attribute
    assert dict(zip(ATTRIBUTE_NAMES, prediction.levels[1]))["Sharpness"] == INVALID_LEVEL
    assert any("Subject Integrity" in p.message and "NOT_RES" in p.message for p in prediction.problems)


def test_raw_format_takes_words_only(tmp_path):
    record = raw_record("a.jpg", word=" GOOD ")
    record["criteria"]["Subject Integrity"] = "C"  # the reference output's real defect
    record["criteria"]["Sharpness"] = "Excellent"
    record["total_score"] = "n/a"
    record["answer"] = "E"
    prediction = read_predictions(write_json(tmp_path / "raw.json", [record]))
    assert prediction.format == RAW
    row = dict(zip(ATTRIBUTE_NAMES, prediction.levels[0]))
    assert row["Subject Integrity"] == INVALID_LEVEL
    assert row["Sharpness"] == INVALID_LEVEL
    assert row["Color Harmony"] == LEVEL_CODES["Good"]
    assert math.isnan(prediction.total_score[0])
    assert prediction.answers == [None]
    assert any("letter 'C' where a level word belongs" in p.message for p in prediction.problems)
    assert any("answer 'E' is not a letter A-D: wrong" == p.message for p in prediction.problems)
    record["answer"] = None  # a null answer is said to be missing, not shown as Python's None
    prediction = read_predictions(write_json(tmp_path / "null.json", [record]))
    assert any(p.message == "no answer (null): wrong" for p in prediction.problems)
    assert not any("None" in p.message for p in prediction.problems)


def test_image_paths_are_matched_by_file_name(tmp_path):
    prediction = read_predictions(write_json(tmp_path / "p.json", [submission_record("images_03/a.jpg ")]))
    assert prediction.image_paths == ["a.jpg"]


@pytest.mark.parametrize("records, message", [
    ([submission_record("a.jpg"), submission_record("a.jpg")], "two predictions for image 'a.jpg' (first at record 0)"),
    ([submission_record("a.jpg"), submission_record("x/a.jpg")], "two predictions for image 'a.jpg'"),
    ([submission_record("a.jpg"), {"total_score": 3}], "record 1: missing or empty 'image_path'"),
    ([submission_record("a.jpg"), 7], "record 1: a record must be a JSON object, found int"),
    ({"image_path": "a.jpg", "criteria": {}}, "not a JSON Lines prediction record (no 'status', no 'parsed')"),
])
def test_malformed_json_lists_are_one_clear_error(tmp_path, records, message):
    path = write_json(tmp_path / "p.json", records)
    with pytest.raises(PredictionFileError) as error:
        read_predictions(path)
    assert str(path) in str(error.value) and message in str(error.value)


TRAILING_COMMA = '[{"image_path": "a.jpg",}]'


def json_error_position(text: str) -> str:
    """Line and column of the JSON error in ``text`` as this Python reports it (3.13 points at a trailing comma,
    earlier versions at the character after it)."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return f"{exc.lineno}:{exc.colno}"
    raise AssertionError(f"{text!r} is valid JSON")


@pytest.mark.parametrize("text, message", [
    (TRAILING_COMMA, f"p.json:{json_error_position(TRAILING_COMMA)}: invalid JSON"),
    ("", "empty file"),
    ("image_path,total_score\na.jpg,3\n", "not a prediction file"),
    ('{"image_path": "a.jpg", "status": "ok", "parsed": {}}\n{"image_path": "b.jpg"', "p.json:2:"),
    ('{\n  "image_path": "a.jpg",\n  "status": "ok"\n}\n', "one JSON object spread over several lines"),
    ('{"image_path": "a.jpg", "status": "done"}\n', 'line 1: \'status\' must be "ok" or "failed"'),
    ('{"schema": "other/9", "image_path": "a.jpg", "status": "ok"}\n', "unsupported schema"),
    ('{"image_path": "a.jpg", "status": "ok"}\n[1]\n', "line 2: a record must be a JSON object"),
])
def test_malformed_files_name_file_and_record(tmp_path, text, message):
    path = tmp_path / "p.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PredictionFileError) as error:
        read_predictions(path)
    assert str(path) in str(error.value) and message in str(error.value)
    assert "\n" not in str(error.value)


def test_not_utf8_and_missing_files(tmp_path):
    path = tmp_path / "p.json"
    path.write_bytes(b"[\xff\xfe]")
    with pytest.raises(PredictionFileError, match="not UTF-8"):
        read_predictions(path)
    with pytest.raises(PredictionFileError, match="file not found"):
        read_predictions(tmp_path / "absent.json")
    with pytest.raises(PredictionFileError, match="is a folder"):
        read_predictions(tmp_path)


# --- JSON Lines -------------------------------------------------------------------------------------------------------

RUN = {"backend": "test", "model": "none", "protocol": "zero_shot", "prompt_hash": "p0", "config_hash": "c0"}


def test_writer_round_trip_through_the_parser(tmp_path):
    path = tmp_path / "runs" / "pred.jsonl"
    text = json.dumps({"total_score": "72", "criteria": {**{a: "Medium" for a in ATTRIBUTE_NAMES}, "Sharpness": "C"},
                       "answer": "(b)"})
    parsed = parse_model_output(text)
    with PredictionWriter(path) as writer:
        writer.write(ok_record("a.jpg", parsed, run=RUN, seconds=1.5))
        # flushed line by line: readable before the writer is closed
        assert recorded_images(path) == {"a.jpg"}
        writer.write(failed_record("b.jpg", "CUDA out of memory", run=RUN, seconds=0.2))
        writer.write(ok_record("c.jpg", {"total_score": float("nan"), "criteria": {"Sharpness": "Good"}, "answer": "C"},
                               run=RUN, probabilities={"answer": {"A": 0.1, "C": float("nan")}}))
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["schema"] for line in lines] == [SCHEMA] * 3
    assert lines[0]["raw_text"] == text and lines[0]["run"] == RUN and lines[0]["seconds"] == 1.5
    assert lines[0]["parsed"]["failures"] == {"Sharpness": "letter_as_level"}
    assert lines[2]["parsed"]["total_score"] is None and lines[2]["probabilities"]["answer"]["C"] is None

    prediction = read_predictions(path)
    assert prediction.format == JSONL
    assert prediction.status == ["ok", "failed", "ok"]
    assert prediction.runs == [RUN]
    a, b, c = (dict(zip(ATTRIBUTE_NAMES, row)) for row in prediction.levels)
    assert prediction.total_score[0] == 72.0 and prediction.answers[0] == "B"
    assert a["Sharpness"] == INVALID_LEVEL and a["Color Harmony"] == LEVEL_CODES["Medium"]
    assert (
        set(b.values()) == {INVALID_LEVEL} and prediction.answers[1] is None and math.isnan(prediction.total_score[1])
    )
    assert c["Sharpness"] == LEVEL_CODES["Good"] and c["Color Harmony"] == INVALID_LEVEL
    assert math.isnan(prediction.total_score[2])


def test_line_separators_inside_strings_do_not_split_records(tmp_path):
    path = tmp_path / "pred.jsonl"
    text = "Medium\u2028Good\x85\x1c {\"answer\": \"B\"}\r"
    with PredictionWriter(path) as writer:
        writer.write(ok_record("a.jpg", {"answer": "B"}, run=RUN, raw_text=text))
        writer.write(ok_record("b.jpg", {"answer": "C"}, run=RUN, raw_text=text))
    prediction = read_predictions(path)
    assert prediction.image_paths == ["a.jpg", "b.jpg"] and prediction.answers == ["B", "C"]


def test_a_json_list_of_project_records_is_read_as_such(tmp_path):
    records = [ok_record("a.jpg", {"total_score": 40, "criteria": {"Sharpness": "Poor"}, "answer": "a"}, run=RUN),
               failed_record("b.jpg", "timeout", run=RUN)]
    prediction = read_predictions(write_json(tmp_path / "p.json", records))
    assert prediction.format == JSONL and prediction.status == ["ok", "failed"]
    assert prediction.levels[0][ATTRIBUTE_NAMES.index("Sharpness")] == LEVEL_CODES["Poor"]
    assert prediction.answers == ["A", None]


def test_huge_integers_are_a_clear_error(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('[{"image_path": "a.jpg", "total_score": ' + "9" * 5000 + "}]", encoding="utf-8")
    with pytest.raises(PredictionFileError, match="invalid JSON"):
        read_predictions(path)


def test_writer_refuses_a_second_record_for_an_image_even_after_reopening(tmp_path):
    path = tmp_path / "pred.jsonl"
    with PredictionWriter(path) as writer:
        writer.write(failed_record("a.jpg", "timeout", run=RUN))
    with PredictionWriter(path) as writer:
        assert writer.recorded == {"a.jpg"}
        with pytest.raises(ValueError, match="already has a record"):
            writer.write(ok_record("a.jpg", {"total_score": 3}, run=RUN))
        writer.write(ok_record("b.jpg", {"total_score": 3}, run=RUN))
    assert recorded_images(path) == {"a.jpg", "b.jpg"}


def test_jsonl_letters_are_not_levels_and_parsed_must_be_an_object(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join([
        json.dumps({"image_path": "a.jpg", "status": "ok", "parsed": {"criteria": {"Sharpness": "C"}, "answer": "a"}}),
        "",
        json.dumps({"image_path": "b.jpg", "status": "ok", "parsed": "Good"}),
    ]) + "\n", encoding="utf-8")
    prediction = read_predictions(path)
    assert prediction.levels[0][ATTRIBUTE_NAMES.index("Sharpness")] == INVALID_LEVEL
    assert prediction.answers == ["A", None]
    assert set(prediction.levels[1]) == {INVALID_LEVEL}


# --- the official submission ------------------------------------------------------------------------------------------

def test_submission_has_every_test_image_in_order_and_never_guesses(tmp_path):
    test = [{"image_path": name, "criteria": {a: {"level": "x"} for a in ATTRIBUTE_NAMES}, "total_score": 0,
             "question": f"q {name}", "options": {k: f"{k} {name}" for k in "ABCD"}, "answer": "x"}
            for name in ("c.jpg", "a.jpg", "b.jpg")]
    predictions = [raw_record("a.jpg", word="Good", score=61.5, answer="d"), raw_record("z.jpg"),
                   raw_record("c.jpg", word="poor", score="bad", answer="?")]
    predictions[0]["criteria"]["Sharpness"] = "C"
    out = tmp_path / "out" / "submission.json"
    summary = write_submission(read_predictions(write_json(tmp_path / "raw.json", predictions)),
                               write_json(tmp_path / "test.json", test), out)
    written = json.loads(out.read_text(encoding="utf-8"))
    assert [r["image_path"] for r in written] == ["c.jpg", "a.jpg", "b.jpg"]
    c, a, b = written
    assert a["total_score"] == 61.5 and a["answer"] == "D"
    assert a["criteria"]["Sharpness"] == {"level": NOT_RESPONDED}
    assert a["criteria"]["Color Harmony"] == {"level": "C"}
    assert a["question"] == "q a.jpg" and a["options"]["B"] == "B a.jpg"
    assert c["criteria"]["Color Harmony"] == {"level": "A"}
    assert c["total_score"] is None and c["answer"] == NOT_RESPONDED
    assert b["total_score"] is None and b["answer"] == NOT_RESPONDED
    assert all(v == {"level": NOT_RESPONDED} for v in b["criteria"].values())
    assert summary.missing == ["b.jpg"] and summary.extra == ["z.jpg"]
    assert summary.invalid_levels == 1 + 13 and summary.invalid_scores == 2 and summary.invalid_answers == 2
    assert not out.with_name("submission.json.partial").exists()


def test_submission_from_the_real_raw_output_equals_the_reference_conversion(real_sample, tmp_path):
    out = tmp_path / "submission.json"
    write_submission(read_predictions(real_sample / "track_1_raw_output_example.json"),
                     real_sample / "track_1_test.json", out)
    ours = json.loads(out.read_text(encoding="utf-8"))
    reference = json.loads((real_sample / "track_1_submission_example.json").read_text(encoding="utf-8"))
    assert ours == reference
    assert ours[0]["criteria"]["Subject Integrity"] == {"level": NOT_RESPONDED}


def test_real_sample_formats_are_detected(real_sample):
    raw = read_predictions(real_sample / "track_1_raw_output_example.json")
    submission = read_predictions(real_sample / "track_1_submission_example.json")
    assert (raw.format, submission.format) == (RAW, SUBMISSION)
    np.testing.assert_array_equal(raw.levels, submission.levels)
    assert raw.levels[0][ATTRIBUTE_NAMES.index("Subject Integrity")] == INVALID_LEVEL
    assert LETTER_TO_LEVEL["C"] == "Good"  # the letter that would have been misread


# --- property-based: malformed files through the submission command ---------------------------------------------------

TEST_FILE_RECORDS = [{"image_path": n, "question": "q", "options": {k: k for k in "ABCD"}} for n in ("a.jpg", "b.jpg")]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=prediction_file_text(["a.jpg", "b.jpg"]))
def test_submission_command_never_shows_a_traceback(tmp_path, text):
    predictions = tmp_path / "pred.json"
    predictions.write_text(text, encoding="utf-8")
    test_file = write_json(tmp_path / "test.json", TEST_FILE_RECORDS)
    out = tmp_path / "sub.json"
    result = CliRunner().invoke(app, ["submission", str(predictions), "--test-file", str(test_file), "--out", str(out)])
    assert result.exit_code in (0, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and str(predictions) in lines[0]
    else:
        written = json.loads(out.read_text(encoding="utf-8"))
        assert [r["image_path"] for r in written] == ["a.jpg", "b.jpg"]
        for record in written:
            assert set(record["criteria"]) == set(ATTRIBUTE_NAMES)
            assert all(v["level"] in ("A", "B", "C", NOT_RESPONDED) for v in record["criteria"].values())
            assert record["answer"] in ("A", "B", "C", "D", NOT_RESPONDED)
            assert record["total_score"] is None or isinstance(record["total_score"], (int, float))
