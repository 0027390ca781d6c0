"""The ground truth's one home (portraitcraft.labels): the hidden-label rule at both of its edges, as the data reader
and the scorer apply it, and the validation split that Table 3 and fine-tuning share."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portraitcraft.attributes import ATTRIBUTE_NAMES, labels_hidden
from portraitcraft.labels import GroundTruthError, labelled_images, load_ground_truth, validation_split
from portraitcraft.sources import open_dataset


def placeholders(**changes) -> dict:
    """A test record as published: every level "x", total_score 0, answer "x"."""
    record = {"image_path": "a.jpg", "criteria": {a: {"level": "x"} for a in ATTRIBUTE_NAMES}, "total_score": 0,
              "question": "q", "options": {k: k for k in "ABCD"}, "answer": "x"}
    record.update(changes)
    return record


def one_real_level() -> dict:
    """All placeholders but one attribute, which has a real level."""
    record = placeholders()
    record["criteria"][ATTRIBUTE_NAMES[0]] = {"level": "Good"}
    return record


def real_levels_total_zero() -> dict:
    return placeholders(criteria={a: {"level": "Good"} for a in ATTRIBUTE_NAMES})


def write(path: Path, records: list) -> Path:
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def test_hidden_means_every_placeholder_together():
    assert labels_hidden(placeholders())
    assert labels_hidden(placeholders(answer=None))  # the answer is not consulted: a test record may have no question
    assert not labels_hidden(one_real_level())  # one edge: a single level is real
    assert not labels_hidden(real_levels_total_zero())  # the other edge: every level real, total still 0
    assert not labels_hidden(placeholders(total_score=55))
    assert not labels_hidden(placeholders(total_score=False))  # a boolean is not the integer 0
    assert not labels_hidden(placeholders(criteria={}))
    assert not labels_hidden("not a record")


def test_the_reader_hides_only_whole_placeholder_records_and_names_the_partial_ones(tmp_path):
    train = [{"image_path": "t.jpg", "criteria": {a: {"score": 6} for a in ATTRIBUTE_NAMES}, "total_score": 60}]
    root = tmp_path / "root"
    root.mkdir()
    write(root / "track_1_train.json", train)
    write(root / "track_1_test.json", [placeholders(image_path="h.jpg"), one_real_level() | {"image_path": "p.jpg"},
                                       real_levels_total_zero() | {"image_path": "z.jpg"}])
    dataset = open_dataset(root)
    hidden = dataset.images().set_index("image_path")["labels_hidden"]
    assert hidden.to_dict() == {"t.jpg": False, "h.jpg": True, "p.jpg": False, "z.jpg": False}
    problems = [str(p) for p in dataset.problems]
    assert any("p.jpg" in p and "level 'x'" in p for p in problems), problems
    assert any("z.jpg" in p and "total_score 0 outside 1-100" in p for p in problems), problems
    assert labelled_images(dataset)["image_path"].tolist() == ["t.jpg"]


@pytest.mark.parametrize(("record", "message"), [
    (placeholders(), "the labels are hidden"),
    (one_real_level(), f"{ATTRIBUTE_NAMES[1]!r}: no level"),
    (real_levels_total_zero(), "total_score 0 outside 1-100"),
])
def test_the_scorer_refuses_hidden_and_partial_placeholders_naming_them(tmp_path, record, message):
    path = write(tmp_path / "truth.json", [record])
    with pytest.raises(GroundTruthError, match=message) as error:
        load_ground_truth(path)
    assert f"{path}: record 0 (a.jpg)" in str(error.value)


def test_the_validation_split_is_seeded_and_holds_out_a_fraction(tmp_path):
    records = [{"image_path": f"i{k:02d}.jpg", "criteria": {a: {"score": (k + j) % 11} for j, a in
                                                            enumerate(ATTRIBUTE_NAMES)}, "total_score": 20 + k}
               for k in range(20)]
    root = tmp_path / "root"
    root.mkdir()
    write(root / "track_1_train.json", records)
    dataset = open_dataset(root)
    truth, fit = validation_split(dataset, fraction=0.25, seed=3)
    again, _ = validation_split(open_dataset(root), fraction=0.25, seed=3)
    other, _ = validation_split(dataset, fraction=0.25, seed=4)
    assert len(truth) == 5 and len(fit) == 15 and not set(truth.image_paths) & set(fit)
    assert truth.image_paths == again.image_paths != other.image_paths
    assert truth.answers is None and truth.path == root / "track_1_train.json"


def test_validation_leak_compares_the_training_data_a_model_learnt_from():
    from portraitcraft.labels import held_out_record, runs_validation_leak, validation_leak

    lab_train = [f"images_01/lab_{i:03d}.jpg" for i in range(20)]
    other_train = [f"images_01/photo_{i:03d}.jpg" for i in range(20)]
    validation = lab_train[:2]
    trained_on_everything = held_out_record([], training=lab_train)
    # The same training data, nothing held out: refused, as before.
    assert "trained on every labelled training record" in validation_leak(trained_on_everything, validation, lab_train)
    # Holding out exactly this split: allowed; holding out another: refused.
    assert validation_leak(held_out_record(validation, training=lab_train), validation, lab_train) is None
    assert "held out other training images" in validation_leak(
        held_out_record(lab_train[2:4], training=lab_train), validation, lab_train)
    # Another dataset's validation split: the model learnt from other data, let through.
    assert validation_leak(trained_on_everything, other_train[:2], other_train) is None
    assert runs_validation_leak([{"held_out": trained_on_everything}], other_train[:2], other_train) is None
    # A record written before the training data was recorded (a checkpoint's, a manifest's): refused as before,
    # even on another dataset; so is a check that is not told the dataset's training records.
    old_record = held_out_record([], fraction=0.0, seed=42)
    assert "trained on every" in validation_leak(old_record, other_train[:2], other_train)
    assert "trained on every" in runs_validation_leak([{"held_out": old_record}], other_train[:2], other_train)
    assert "trained on every" in validation_leak(trained_on_everything, other_train[:2])
