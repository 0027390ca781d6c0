"""The data layer: opening roots as published, validation that names file and record, safe images."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from portraitcraft import data as data_module
from portraitcraft.attributes import (
    ATTRIBUTE_KEYS,
    ATTRIBUTE_NAMES,
    LEVELS,
    level_codes_from_scores,
    level_from_score,
    level_word,
    normalise_level,
)
from portraitcraft.cli import app
from portraitcraft.data import DataError, ValidationError, read_json_records
from portraitcraft.images import ImageError, open_image
from portraitcraft.sources import open_dataset

runner = CliRunner()


def train_record(name: str, score: float = 6.0, total: int = 60) -> dict:
    return {
        "image_path": name,
        "criteria": {a: {"score": score, "reason": f"{a} reason"} for a in ATTRIBUTE_NAMES},
        "total_score": total,
    }


def hidden_test_record(name: str) -> dict:
    return {
        "image_path": name,
        "criteria": {a: {"level": "x"} for a in ATTRIBUTE_NAMES},
        "total_score": 0,
        "question": "Regarding the Sharpness in this image, which of the following best describes the visual evidence?",
        "options": {k: f"option {k}" for k in "ABCD"},
        "answer": "x",
    }


def write_root(root: Path, train: list, test: list | None = None, images: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "track_1_train.json").write_text(json.dumps(train))
    if test is not None:
        (root / "track_1_test.json").write_text(json.dumps(test))
    for name, folder in (images or {}).items():
        (root / folder).mkdir(exist_ok=True)
        Image.new("RGB", (64, 48), (120, 80, 40)).save(root / folder / name)
    return root


# ---- the vocabulary ------------------------------------------------------------------------------------


def test_level_rule_boundaries():
    assert [level_from_score(s) for s in (0, 4.9, 5.0, 6.9, 7.0, 10)] == [
        "Poor",
        "Poor",
        "Medium",
        "Medium",
        "Good",
        "Good",
    ]


def test_vectorised_level_rule_is_the_rule():
    scores = np.round(np.arange(0, 10.05, 0.1), 1)
    codes = level_codes_from_scores(np.append(scores, np.nan))
    assert [LEVELS[c] for c in codes[:-1]] == [level_from_score(s) for s in scores]
    assert codes[-1] == -1


def test_level_spellings():
    assert normalise_level(" good ") == "Good"
    assert normalise_level("c") == "Good" and normalise_level("A") == "Poor"
    assert normalise_level("NOT_RES") is None
    # raw outputs are words: a bare letter there is the reference script's defect, not a level
    assert level_word("C") is None and level_word("MEDIUM") == "Medium"


def test_thirteen_unique_attributes():
    assert len(ATTRIBUTE_NAMES) == 13 == len(set(ATTRIBUTE_KEYS))


# ---- the real sample -----------------------------------------------------------------------------------


@pytest.mark.real_sample
def test_real_sample_as_published(real_sample):
    ds = open_dataset(real_sample, check_images=True)
    images = ds.images(with_size=True)
    train = images[images["split"] == "train"].set_index("image_path")
    assert sorted(train["total_score"]) == [53.0, 71.0]
    first = train.loc["unsplash_people_00010_67dcd75a09e4.jpg"]
    assert first["color_harmony_score"] == 7.0 and first["color_harmony_level"] == "Good"
    assert first["negative_space_score"] == 4.2 and first["negative_space_level"] == "Poor"
    assert first["light_and_shadow_modeling_level"] == "Medium"
    assert first["width"] > 2000 and first["reason_chars"] > 13 * 50

    test = images[images["split"] == "test"]
    assert len(test) == 1 and bool(test["labels_hidden"].iloc[0])
    assert np.isnan(test["total_score"].iloc[0]) and test["sharpness_level"].isna().all()
    questions = ds.questions()
    assert questions["answer"].isna().all() and questions["attribute"].tolist() == ["Subject Integrity"]

    descriptions = ds.descriptions()
    assert len(descriptions) == 10 and descriptions["image_file"].notna().sum() == 4
    assert len(ds.missing_images) == 6
    assert all(p.file == "track_2_train.json" and p.message == "image missing" for p in ds.errors)
    assert "track_2_test.json" in ds.missing_files


@pytest.mark.real_sample
def test_validate_real_sample_names_missing_images(real_sample):
    result = runner.invoke(app, ["validate", str(real_sample)])
    assert result.exit_code == 1
    missing = [n for n in json.loads((real_sample / "track_2_train.json").read_text())
               if not (real_sample / "images_00" / n["image_path"]).exists()]
    assert len(missing) == 6
    for record in missing:
        assert record["image_path"] in result.output
    assert runner.invoke(app, ["validate", str(real_sample), "--lenient"]).exit_code == 0


@pytest.mark.real_sample
def test_real_images_downscale(real_sample):
    ds = open_dataset(real_sample)
    img = ds.open_image("unsplash_people_00010_67dcd75a09e4.jpg", max_side=300)
    assert max(img.size) == 300 and img.mode == "RGB"


# ---- validation ------------------------------------------------------------------------------------------


def test_every_problem_named_with_file_and_record(tmp_path):
    bad_score = train_record("b.jpg")
    bad_score["criteria"]["Sharpness"]["score"] = 11.5
    unknown = train_record("c.jpg")
    unknown["criteria"]["Vibes"] = {"score": 5, "reason": ""}
    missing_attr = train_record("d.jpg")
    del missing_attr["criteria"]["Subject Integrity"]
    bad_total = train_record("e.jpg", total=140)
    no_total = train_record("f.jpg")
    del no_total["total_score"]
    records = [
        train_record("a.jpg"),
        bad_score,
        unknown,
        missing_attr,
        bad_total,
        no_total,
        train_record("a.jpg"),
        {"criteria": {}},
    ]
    root = write_root(tmp_path / "root", records, images={"a.jpg": "images_00", "b.jpg": "images_01"})
    ds = open_dataset(root)
    messages = {(p.record, p.message) for p in ds.errors}
    assert (1, "'Sharpness': score 11.5 outside 0-10") in messages
    assert (2, "unknown attribute 'Vibes'") in messages
    assert (3, "missing attribute 'Subject Integrity'") in messages
    assert (4, "total_score 140 outside 1-100") in messages
    assert (5, "missing field 'total_score'") in messages
    assert (6, "duplicate image_path (first at record 0); this record is skipped") in messages
    assert (7, "missing field 'image_path'") in messages
    assert {p.image_path for p in ds.errors if p.message == "image missing"} == {"c.jpg", "d.jpg", "e.jpg", "f.jpg"}
    assert all(p.file == "track_1_train.json" for p in ds.errors)
    # lenient: bad values become missing, the rest of the record is kept
    frame = ds.images().set_index("image_path")
    assert np.isnan(frame.loc["b.jpg", "sharpness_score"]) and frame.loc["b.jpg", "color_harmony_score"] == 6.0
    assert np.isnan(frame.loc["e.jpg", "total_score"])
    assert len(frame) == 6  # the duplicate and the nameless record are not rows
    with pytest.raises(ValidationError) as excinfo:
        open_dataset(root, strict=True)
    assert len(excinfo.value.problems) == len(ds.problems)


def test_malformed_json_is_one_line_with_position(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    text = '[\n  {"image_path": "a.jpg",}\n]'
    (root / "track_1_train.json").write_text(text)
    # The position is Python's own: 2:26 (the brace after the trailing comma) before 3.13, 2:25 (the comma) since.
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        position = f"{exc.lineno}:{exc.colno}"
    assert position in ("2:25", "2:26")
    with pytest.raises(DataError, match=rf"track_1_train\.json:{position}: invalid JSON"):
        open_dataset(root)
    result = runner.invoke(app, ["validate", str(root)])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "Traceback" not in result.output


def test_not_a_list_and_missing_folder(tmp_path):
    path = tmp_path / "track_1_train.json"
    path.write_text('{"image_path": "a.jpg"}')
    with pytest.raises(DataError, match="expected a JSON list"):
        read_json_records(path)
    with pytest.raises(DataError, match="no such folder"):
        open_dataset(tmp_path / "nowhere")


def test_partial_root_loads_what_is_there(tmp_path):
    root = tmp_path / "only2"
    root.mkdir()
    (root / "track_2_test.json").write_text(json.dumps([
        {"image_path": "z.jpg", "content_description": "A woman.", "composition_analysis": "Centred."}
    ]))
    ds = open_dataset(root)
    assert ds.track1_splits == [] and ds.track2_splits == ["test"]
    assert set(ds.missing_files) >= {"track_1_train.json", "track_1_test.json", "track_2_train.json"}
    assert ds.images().empty and len(ds.descriptions()) == 1
    assert ds.problems == []  # no image folder at all is one missing-file line, not a problem per record


def test_checked_and_fast_paths_read_the_same_values(tmp_path):
    """A record with one defect is read value by value (and reported); its good values match a clean record's."""
    clean = train_record("clean.jpg", score=6.5)
    clean["criteria"]["Sharpness"]["score"] = 3
    flawed = json.loads(json.dumps(clean))
    flawed["image_path"] = "flawed.jpg"
    flawed["criteria"]["Exposure Control"]["score"] = True  # a bool is a defect, not 1
    ds = open_dataset(write_root(tmp_path / "root", [clean, flawed]))
    assert [str(p) for p in ds.errors] == [
        "error: track_1_train.json record 1 (flawed.jpg): 'Exposure Control': score True is not a number"
    ]
    frame = ds.images().set_index("image_path")
    assert frame.loc["clean.jpg", "sharpness_level"] == frame.loc["flawed.jpg", "sharpness_level"] == "Poor"
    assert (
        frame.loc["flawed.jpg", "color_harmony_score"] == 6.5
        and frame.loc["flawed.jpg", "color_harmony_level"] == "Medium"
    )
    assert np.isnan(frame.loc["flawed.jpg", "exposure_control_score"]) and pd.isna(
        frame.loc["flawed.jpg", "exposure_control_level"]
    )
    assert frame["reason_chars"].tolist() == [sum(len(f"{a} reason") for a in ATTRIBUTE_NAMES)] * 2
    long = ds.attributes()
    assert len(long) == 26 and long["reason"].iloc[0] == "Color Harmony reason"
    assert long.groupby("image_path")["level"].apply(lambda s: (s == "Poor").sum()).tolist() == [1, 1]


@contextmanager
def checking_path_only():
    """Every Track 1 file read by json.load and `_Checker`, as if whole-file decoding had refused it."""
    with mock.patch.object(data_module, "_decode_well_formed_track1", return_value=None):
        yield


@contextmanager
def counting_whole_file_decodes():
    """Counts the Track 1 files that whole-file decoding admitted."""
    admitted = []
    original = data_module._decode_well_formed_track1

    def decode(path, split):
        records = original(path, split)
        admitted.extend([path.name] if records is not None else [])
        return records

    with mock.patch.object(data_module, "_decode_well_formed_track1", decode):
        yield admitted


def assert_same_reading(fast, checked) -> None:
    assert [str(p) for p in fast.problems] == [str(p) for p in checked.problems]
    pd.testing.assert_frame_equal(fast.images(), checked.images())
    pd.testing.assert_frame_equal(fast.attributes(), checked.attributes())
    pd.testing.assert_frame_equal(fast.questions(), checked.questions())


@pytest.mark.parametrize("reveal", [False, True], ids=["published", "ground-truth"])
def test_whole_file_decoding_reads_the_lab_as_the_checking_path_does(tmp_path, reveal):
    from portraitcraft.lab import write_lab

    root = tmp_path / "lab"
    write_lab(root, n_train=40, n_test=15, annotations_only=True)
    with counting_whole_file_decodes() as admitted:
        fast = open_dataset(root, reveal_ground_truth=reveal)
    with checking_path_only():
        checked = open_dataset(root, reveal_ground_truth=reveal)
    # the published test file hides its labels, which the schema refuses; the labelled one is admitted
    assert admitted == ["track_1_train.json", *(["track_1_test_ground_truth.json"] if reveal else [])]
    assert_same_reading(fast, checked)
    assert len(fast.questions()) == 15 and fast.questions()["answer"].notna().all() == reveal


@pytest.mark.real_sample
def test_whole_file_decoding_reads_the_real_sample_as_the_checking_path_does(real_sample):
    fast, checked, admitted = read_both_ways(real_sample)
    assert admitted == ["track_1_train.json"]
    assert_same_reading(fast, checked)


def labelled_test_record(name: str) -> dict:
    record = train_record(name, score=7.5, total=75)
    record.update(question=hidden_test_record(name)["question"], options={k: f"option {k}" for k in "ABCD"}, answer="C")
    return record


DELETE = object()
# For each field, values a published file could hold: defects, and variants that are not defects (a lower-case answer,
# a score at the bound, an extra level beside a score).
FIELD_VALUES: dict[tuple[str, ...], list] = {
    ("image_path",): ["", " ", "a/b.jpg", "r0.jpg", "t0.jpg", 5, None],  # r0 and t0: the same image twice
    ("criteria",): [{}, [], None],
    ("criteria", "Sharpness"): [{}, "Good", {"level": "Good"}, {"score": 5}],
    ("criteria", "Sharpness", "score"): [True, -0.1, 0, 10, 10.5, "7", None, float("nan"), float("inf")],
    ("criteria", "Sharpness", "reason"): ["", 5, None],
    ("criteria", "Sharpness", "level"): ["Good", "x"],
    ("criteria", "Vibes"): [{"score": 5, "reason": "r"}],
    ("total_score",): [0, 1, 100, 100.5, 64.5, True, "60", None, float("nan")],
    ("question",): [None, "", 5, "Regarding the Color Harmony in this image, which option fits?"],
    ("options",): [{}, [], None, {k: "o" for k in "ABCDE"}, {k: "o" for k in "ABC"}],
    ("options", "A"): ["", 5, None],
    ("options", "E"): ["extra"],
    ("answer",): ["b", " d ", "x", "E", "", None, 3, "AB"],
}


def clean_files() -> dict[str, list[dict]]:
    return {"train": [train_record(f"r{i}.jpg", score=3.0 + i) for i in range(3)],
            "test": [labelled_test_record(f"t{i}.jpg") for i in range(3)]}


def mutate(record: dict, path: tuple[str, ...], value) -> bool:
    """Replace (or delete, for DELETE) the field at `path`; False where its parent is not an object any more."""
    *parents, last = path
    target = record
    for key in parents:
        target = target.get(key) if isinstance(target, dict) else None
    if not isinstance(target, dict):
        return False
    if value is DELETE:
        target.pop(last, None)
    else:
        target[last] = copy.deepcopy(value)
    return True


def read_both_ways(root: Path):
    with counting_whole_file_decodes() as admitted:
        fast = open_dataset(root)
    with checking_path_only():
        checked = open_dataset(root)
    return fast, checked, admitted


def test_each_single_defect_is_read_as_the_checking_path_reads_it(tmp_path):
    """Every field of every kind of record, replaced by each listed value or deleted: whether whole-file decoding
    admits the file or leaves it to the checker, the frames and the problems are the same."""
    admitted_files = 0
    for n, (split, path, value) in enumerate(
        (split, path, value) for split in ("train", "test")
        for path, values in FIELD_VALUES.items() for value in [*values, DELETE]
    ):
        files = clean_files()
        mutate(files[split][1], path, value)
        fast, checked, admitted = read_both_ways(write_root(tmp_path / f"case{n}", files["train"], files["test"]))
        admitted_files += len(admitted)
        try:
            assert_same_reading(fast, checked)
        except AssertionError as exc:
            shown = "deleted" if value is DELETE else repr(value)
            raise AssertionError(f"{split} record 1, {'.'.join(path)} {shown}: {exc}") from None
    assert admitted_files > 20  # the harmless variants (and the untouched file of each case) took the fast path


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_combined_defects_are_read_as_the_checking_path_reads_them(tmp_path_factory, data):
    files = clean_files()
    for _ in range(data.draw(st.integers(2, 4))):
        record = data.draw(st.sampled_from(files[data.draw(st.sampled_from(["train", "test"]))]))
        path = data.draw(st.sampled_from(sorted(FIELD_VALUES)))
        mutate(record, path, data.draw(st.sampled_from([*FIELD_VALUES[path], DELETE])))
    fast, checked, _ = read_both_ways(write_root(tmp_path_factory.mktemp("mutated"), files["train"], files["test"]))
    assert_same_reading(fast, checked)


def test_hidden_ground_truth_never_read_as_labels(tmp_path):
    root = write_root(tmp_path / "r", [train_record("a.jpg")], [hidden_test_record("t.jpg")],
                      images={"a.jpg": "images_00", "t.jpg": "images_03"})
    ds = open_dataset(root)
    test = ds.images().query("split == 'test'")
    assert test["labels_hidden"].all() and test["total_score"].isna().all()
    assert ds.attributes().query("split == 'test'")["level"].isna().all()
    assert ds.questions()["answer"].isna().all()
    assert ds.errors == []
    assert ds.image_file("t.jpg").parent.name == "images_03"


def test_labelled_test_file_accepts_letters_and_words(tmp_path):
    record = hidden_test_record("t.jpg")
    record["criteria"] = {a: {"level": ("C" if i % 2 else "medium")} for i, a in enumerate(ATTRIBUTE_NAMES)}
    record["total_score"] = 64
    record["answer"] = "b"
    root = write_root(tmp_path / "r", [train_record("a.jpg")], [record])
    row = open_dataset(root).images().query("split == 'test'").iloc[0]
    assert not row["labels_hidden"] and row["total_score"] == 64
    assert row["color_harmony_level"] == "Medium" and row["visual_style_consistency_level"] == "Good"
    assert open_dataset(root).questions()["answer"].tolist() == ["B"]


def test_unreadable_image_reported(tmp_path):
    root = write_root(tmp_path / "r", [train_record("a.jpg")], images={})
    (root / "images_00").mkdir()
    (root / "images_00" / "a.jpg").write_bytes(b"not a jpeg")
    ds = open_dataset(root, check_images=True)
    assert [p.record for p in ds.errors] == [0]
    assert ds.errors[0].message.startswith("image unreadable")


def test_hub_id_offline_fails_at_once_with_a_way_out(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(DataError, match=r"zijielou/PortraitCraft: cannot fetch.*give that folder as the data instead"):
        open_dataset("zijielou/PortraitCraft")


# ---- images -----------------------------------------------------------------------------------------------


def test_decompression_bomb_limit_stays_on(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (400, 300)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)  # 120,000 pixels: above the limit, below twice it
    with pytest.raises(ImageError, match=r"big\.png: refused, larger than the decompression-bomb limit"):
        open_image(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)  # above twice the limit: PIL's own error
    with pytest.raises(ImageError, match="refused"):
        open_image(path)


def test_open_image_downscales_and_names_missing(tmp_path):
    path = tmp_path / "wide.jpg"
    Image.new("RGB", (1200, 300), (10, 200, 30)).save(path)
    assert open_image(path, max_side=240).size == (240, 60)
    assert open_image(path, max_side=None).size == (1200, 300)
    with pytest.raises(ImageError, match="nothing.jpg: image file not found"):
        open_image(tmp_path / "nothing.jpg")


def test_cli_help_lists_commands():
    result = subprocess.run([sys.executable, "-m", "portraitcraft.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "validate" in result.stdout


def test_huge_integer_is_a_clear_error(tmp_path):
    path = tmp_path / "track_1_train.json"
    path.write_text('[{"total_score": ' + "9" * 5000 + "}]")
    with pytest.raises(DataError, match="track_1_train.json: invalid JSON"):
        read_json_records(path)
