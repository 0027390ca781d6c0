"""Hypothesis strategies of the property-based tests, in one place: arbitrary JSON, prediction records and files
that are anything from well formed to garbage (the readers must name the problem, never raise a traceback), and
model answers that are valid and must be read back exactly."""

from __future__ import annotations

import json
from collections.abc import Sequence

from hypothesis import strategies as st

from portraitcraft.attributes import ANSWER_LETTERS, ATTRIBUTE_NAMES, LEVELS, NOT_RESPONDED

json_scalars = (
    st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats(allow_nan=True) | st.text(max_size=8)
)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
# A level as files write it (words in any case, letters, NOT_RES, the submission's {"level": ...}), or garbage.
level_values = st.sampled_from(["Good", "medium ", "C", "b", NOT_RESPONDED, {"level": "A"}, {"level": "good"},
                                {"level": NOT_RESPONDED}]) | json_values


def prediction_records(image_paths: Sequence[str]) -> st.SearchStrategy:
    """Records of any of the three prediction formats, each field valid, odd or garbage, or no record at all;
    ``image_paths`` are the names a valid record may carry (beside a path with a folder, empty and blank names)."""
    fields = {
        "image_path": st.sampled_from([*image_paths, f"dir/{image_paths[0]}", "", " "]) | json_values,
        "total_score": st.sampled_from([62, "62", 70.5, "x", None]) | json_values,
        "answer": st.sampled_from(["A", "d ", "E", NOT_RESPONDED, None]) | json_values,
        "criteria": st.dictionaries(st.sampled_from((*ATTRIBUTE_NAMES, "Other")), level_values,
                                    max_size=13) | json_values,
        "status": st.sampled_from(["ok", "failed"]) | json_values,
        "parsed": st.fixed_dictionaries({}, optional={
            "total_score": json_values, "answer": json_values,
            "criteria": st.dictionaries(st.sampled_from(ATTRIBUTE_NAMES), level_values, max_size=5) | json_values,
        }) | json_values,
    }
    return st.fixed_dictionaries({}, optional=fields) | json_values


@st.composite
def prediction_file_text(draw: st.DrawFn, image_paths: Sequence[str]) -> str:
    """The text of a prediction file: a JSON list or JSON Lines of `prediction_records`, a list cut short, or noise."""
    rows = draw(st.lists(prediction_records(image_paths), max_size=5))
    shape = draw(st.sampled_from(["list", "jsonl", "cut", "noise"]))
    if shape == "list":
        return json.dumps(rows)
    if shape == "jsonl":
        return "\n".join(json.dumps(r) for r in rows)
    if shape == "cut":
        text = json.dumps(rows)
        return text[: draw(st.integers(0, len(text)))]
    return draw(st.text(max_size=40))


levels_strategy = st.fixed_dictionaries({name: st.sampled_from(LEVELS) for name in ATTRIBUTE_NAMES})
reason_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@st.composite
def valid_outputs(draw: st.DrawFn) -> tuple[str, dict]:
    """A model answer in the reference JSON (levels with or without reasons, the score as a number or text, in a
    code fence or not), with the values it must be read back as."""
    levels = draw(levels_strategy)
    score = draw(st.integers(1, 100))
    answer = draw(st.sampled_from(ANSWER_LETTERS))
    if draw(st.booleans()):
        criteria: dict = {name: {"level": level, "reason": draw(reason_text)} for name, level in levels.items()}
    else:
        criteria = dict(levels)
    obj = {"total_score": draw(st.sampled_from([score, str(score)])), "criteria": criteria, "answer": answer}
    text = json.dumps(obj, indent=draw(st.sampled_from([None, 2, 4])), ensure_ascii=draw(st.booleans()))
    if draw(st.booleans()):
        text = f"Here is my evaluation:\n```json\n{text}\n```\nDone."
    return text, {"total_score": score, "levels": levels, "answer": answer}
