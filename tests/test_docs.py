"""The documentation as a reader uses it: the examples on the prediction-formats page are read by the real reader,
and what the page says about bad records is what the reader does."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from portraitcraft.predictions import PredictionFileError, read_predictions

REPO = Path(__file__).resolve().parents[1]
FORMATS_PAGE = REPO / "book" / "formats.md"


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, content) of every fenced code block of a Markdown text."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.M | re.S)]


def test_every_example_of_the_formats_page_is_read_as_its_format_without_a_problem(tmp_path):
    blocks = fenced_blocks(FORMATS_PAGE.read_text(encoding="utf-8"))
    assert [lang for lang, _ in blocks] == ["json", "json", "text"]
    for (_, content), expected, suffix in zip(blocks, ["submission", "raw", "jsonl"], [".json", ".json", ".jsonl"]):
        path = tmp_path / f"{expected}{suffix}"
        path.write_text(content, encoding="utf-8")
        predictions = read_predictions(path)
        assert predictions.format == expected
        assert [p.message for p in predictions.problems] == (["failed: 'timed out after 120 s'"] if expected == "jsonl"
                                                              else [])
        assert predictions.image_paths[0] == "lab_00300.jpg" and predictions.total_score[0] == 62
        assert predictions.answers[0] == "B" and (predictions.levels[0] >= 0).all()
    assert predictions.status == ["ok", "failed"]


def test_the_formats_page_says_what_the_reader_does_with_bad_records(tmp_path):
    page = FORMATS_PAGE.read_text(encoding="utf-8")
    bad = tmp_path / "runs.json"
    bad.write_text(json.dumps([{"image_path": "a.jpg", "total_score": 150, "criteria": {"Sharpness": "Great"},
                                "answer": "E"}]), encoding="utf-8")
    problems = " ".join(str(p) for p in read_predictions(bad).problems)
    assert "total_score 150 outside 1-100: invalid" in problems and "'Great' is not a level: invalid" in problems
    assert "'Color Harmony': missing: invalid" in problems and "answer" in problems

    bad.write_text(json.dumps([{"total_score": 5}]), encoding="utf-8")
    with pytest.raises(PredictionFileError) as caught:
        read_predictions(bad)
    assert str(caught.value).endswith("record 0: missing or empty 'image_path'")
    assert "`runs.json: record 0: missing or empty 'image_path'`" in page

    torn = tmp_path / "runs.jsonl"
    torn.write_text('{"image_path": "a.jpg", "total_score": 62\n', encoding="utf-8")
    with pytest.raises(PredictionFileError) as caught:
        read_predictions(torn)
    assert str(caught.value).startswith(f"{torn}:1:42: invalid JSON:")
    assert "`runs.jsonl:1:42: invalid JSON: ...`" in page


@pytest.mark.parametrize("page", ["book/intro.md", "README.md", "notebooks/04_table3.py"])
def test_the_formats_page_is_linked_from_the_intro_the_readme_and_table3(page):
    text = (REPO / page).read_text(encoding="utf-8")
    assert re.search(r"\{doc\}`(\.\./)?formats`|\{doc\}`[^`]*<\.\./formats>`|\(book/formats\.md\)", text)
