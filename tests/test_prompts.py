"""The reference inference prompt, pinned byte for byte on a recorded record.

`tests/snapshots/reference_prompt.txt` is what the benchmark's reference inference sends for the record in
`tests/snapshots/reference_prompt_record.json` (a test record of the composition lab, labels hidden as published):
the output of ``build_prompt`` in github yytang25/qwen-vl-ft, qwen-vl-finetune/evaluation/evaluation_multi.py:109-192
(commit c122cdc), run once on that record. A change to `portraitcraft.prompts` that alters one byte of what a model
is sent fails here; a deliberate change updates the snapshot and says why.
"""

from __future__ import annotations

import json
from pathlib import Path

from portraitcraft.attributes import HIDDEN_LEVEL
from portraitcraft.prompts import GENERATE, SCORE, generate_prompt, prompt_hash

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"


def recorded_record() -> dict:
    return json.loads((SNAPSHOTS / "reference_prompt_record.json").read_text(encoding="utf-8"))


def test_the_reference_prompt_is_sent_byte_for_byte():
    record = recorded_record()
    expected = (SNAPSHOTS / "reference_prompt.txt").read_bytes()
    sent = generate_prompt(record["question"], record["options"]).encode("utf-8")
    if sent != expected:  # name the first difference, not two 2.7 kB blobs
        at = next((i for i, (a, b) in enumerate(zip(sent, expected)) if a != b), min(len(sent), len(expected)))
        raise AssertionError(f"prompt differs from the snapshot at byte {at}: sent {sent[max(at - 40, 0):at + 40]!r}, "
                             f"reference {expected[max(at - 40, 0):at + 40]!r}")


def test_the_recorded_record_hides_its_labels_as_published():
    # The reference fills IMAGE CRITERIA from the record; on a published test record that is level=x throughout,
    # which is all generate_prompt ever writes.
    record = recorded_record()
    assert {entry["level"] for entry in record["criteria"].values()} == {HIDDEN_LEVEL}
    assert record["answer"] == "x" and record["total_score"] == 0


def test_the_prompt_hashes_are_pinned():
    # Every prediction record carries its protocol's hash, and a run resumes only under the same hash: a change of
    # a prompt (or of what defines the score protocol) must be deliberate, and update these values.
    assert prompt_hash(GENERATE) == "bd88a24ed3da3afa"
    assert prompt_hash(SCORE) == "d612416ff415384d"
