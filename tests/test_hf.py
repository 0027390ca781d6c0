"""The `datasets` bridge: a root as a DatasetDict and back, on a small lab and on the real sample."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

import portraitcraft
from portraitcraft.attributes import ANSWER_LETTERS, ATTRIBUTE_KEYS, LEVELS
from portraitcraft.data import DataError
from portraitcraft.hf import to_hf
from portraitcraft.sources import open_dataset

datasets = pytest.importorskip("datasets")


@pytest.fixture(scope="module")
def lab(small_lab):
    return small_lab


@pytest.fixture(autouse=True)
def private_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTRAITCRAFT_CACHE", str(tmp_path / "portraitcraft-cache"))


def assert_same_records(a, b):
    """Every field the project reads, and every image's bytes, equal in two opened roots."""
    pd.testing.assert_frame_equal(a.images().drop(columns="image_file"), b.images().drop(columns="image_file"))
    pd.testing.assert_frame_equal(a.attributes(), b.attributes())
    pd.testing.assert_frame_equal(a.questions(), b.questions())
    pd.testing.assert_frame_equal(a.descriptions().drop(columns="image_file"),
                                  b.descriptions().drop(columns="image_file"))
    assert a.track1_splits == b.track1_splits and a.track2_splits == b.track2_splits
    assert [(p.record, p.image_path, p.message) for p in a.problems] == \
           [(p.record, p.image_path, p.message) for p in b.problems]
    names = set(a.images()["image_path"]) | set(a.descriptions()["image_path"])
    for name in names:
        file = a.image_file(name)
        if file is None:
            assert b.image_file(name) is None
        else:
            assert b.image_file(name).read_bytes() == file.read_bytes(), name


@pytest.mark.parametrize("reveal", [False, True])
def test_lab_round_trip_preserves_every_field(lab, tmp_path, reveal):
    dataset = open_dataset(lab, reveal_ground_truth=reveal)
    track1 = to_hf(dataset, 1, cache_dir=tmp_path / "hf")
    track2 = to_hf(dataset, 2, cache_dir=tmp_path / "hf")
    assert list(track1) == ["train", "test"] and list(track2) == ["train", "test"]
    assert track1["train"].num_rows == 24 and track2["test"].num_rows == 2
    back = open_dataset([track1, track2])
    assert back.source == "datasets"
    assert back.images()["labels_hidden"].any() == (not reveal)
    assert_same_records(dataset, back)


def test_columns_are_typed_and_images_decode(lab, tmp_path):
    dataset = open_dataset(lab)
    track1 = to_hf(dataset, 1, cache_dir=tmp_path / "hf")
    features = track1["train"].features
    assert isinstance(features["image"], datasets.Image)
    for key in ATTRIBUTE_KEYS:
        assert features[f"{key}_level"].names == list(LEVELS)
    assert features["answer"].names == list(ANSWER_LETTERS)
    row = track1["train"][0]
    truth = dataset.images().set_index("image_path").loc[row["image_path"]]
    assert row["image"].size == dataset.open_image(row["image_path"], max_side=None).size
    assert row["total_score"] == truth["total_score"]
    assert features["sharpness_level"].int2str(row["sharpness_level"]) == truth["sharpness_level"]
    hidden = track1["test"][0]
    assert hidden["labels_hidden"] and hidden["total_score"] is None
    assert hidden["sharpness_level"] == -1 and hidden["answer"] == -1 and hidden["question"]


def test_export_command_saves_arrow_that_loads_back(lab, tmp_path):
    from typer.testing import CliRunner

    from portraitcraft.cli import app

    out = tmp_path / "exported"
    result = CliRunner().invoke(app, ["export", str(lab), "--to", "hf", str(out)])
    assert result.exit_code == 0, result.output
    loaded = datasets.load_from_disk(str(out / "track_1"))
    assert loaded["test"].num_rows == 8
    assert_same_records(open_dataset(lab), open_dataset(out))
    bad = CliRunner().invoke(app, ["export", str(lab), "--to", "parquet", str(out)])
    assert bad.exit_code == 2 and "'parquet' is not one of 'hf'" in bad.output
    info = loaded["train"].info
    assert info.license == "CC BY-NC 4.0" and "composition lab" in info.description
    assert info.citation == portraitcraft.CITATION and "Sha, Yuyang" in info.citation  # the paper's first author
    assert "Track 1" in info.description


def test_export_warns_and_counts_the_records_without_an_image(make_lab, tmp_path):
    import shutil

    from typer.testing import CliRunner

    from portraitcraft.cli import app

    lab = tmp_path / "lab"
    shutil.copytree(make_lab(n_train=4, n_test=2, n_track2_train=2, n_track2_test=3), lab)
    gone = sorted(open_dataset(lab).descriptions()["image_path"])[:2]
    for name in gone:
        next(lab.glob(f"images_*/{name}")).unlink()
    result = CliRunner().invoke(app, ["export", str(lab), str(tmp_path / "out"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert f"warning: 2 Track 2 record(s) exported without an image (the file is missing), first {gone[0]}" in (
        result.stderr)
    assert result.stdout == ""
    exported = datasets.load_from_disk(str(tmp_path / "out" / "track_2"))
    assert sum(row["image"] is None for split in exported.values() for row in split) == 2


def test_a_dataset_dict_of_another_shape_is_refused():
    other = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["a"]})})
    with pytest.raises(DataError, match="neither a Track 1 nor a Track 2 table"):
        open_dataset(other)


def test_importing_the_data_layer_does_not_import_datasets():
    code = "import sys, portraitcraft.data; print('datasets' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )


@pytest.mark.real_sample
def test_real_sample_round_trip(real_sample, tmp_path):
    dataset = open_dataset(real_sample)
    track1 = to_hf(dataset, 1, cache_dir=tmp_path / "hf")
    track2 = to_hf(dataset, 2, cache_dir=tmp_path / "hf")
    decoded = [row["image"] for row in track1["train"]]
    assert all(image is not None and min(image.size) > 0 for image in decoded)
    assert any(row["image"] is None for row in track2["train"])  # images absent from the sample stay absent
    assert_same_records(dataset, open_dataset([track1, track2]))


def test_export_with_the_validation_split_names_the_images_the_book_scores(lab, tmp_path):
    """`export --split validation`: Track 1's train split written as train and validation, the validation part being
    exactly the seeded images that `predict --split validation` predicts and the book scores."""
    from typer.testing import CliRunner

    from portraitcraft.cli import app
    from portraitcraft.labels import validation_images

    out = tmp_path / "exported"
    result = CliRunner().invoke(app, ["export", str(lab), str(out), "--split", "validation"])
    assert result.exit_code == 0, result.output
    saved = datasets.load_from_disk(str(out / "track_1"))
    assert set(saved) == {"train", "validation", "test"}
    held = validation_images(open_dataset(lab))
    assert sorted(saved["validation"]["image_path"]) == sorted(held)
    train = open_dataset(lab).images().query("split == 'train'")["image_path"]
    assert sorted(saved["train"]["image_path"]) == sorted(set(train) - set(held))
    refused = CliRunner().invoke(app, ["export", str(lab), str(tmp_path / "x"), "--split", "test"])
    assert refused.exit_code == 2 and "--split 'test': expected validation" in refused.output


def test_a_lab_without_track2_records_exports_its_track1_part(make_lab, tmp_path):
    from typer.testing import CliRunner

    from portraitcraft.cli import app

    lab = make_lab(n_train=4, n_test=2, seed=0, long_side=128)  # its Track 2 files are written, with no record
    assert open_dataset(lab).track2_splits == ["train", "test"]
    with pytest.raises(ValueError, match=r"no Track 2 records \(track_2_train.json, track_2_test.json hold none\)"):
        to_hf(open_dataset(lab), 2, cache_dir=tmp_path / "hf")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["export", str(lab), "--to", "hf", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "Track 2 had no records (track_2_train.json, track_2_test.json hold none): not exported" in result.stderr
    assert not (out / "track_2").exists()
    loaded = datasets.load_from_disk(str(out / "track_1"))
    assert {split: part.num_rows for split, part in loaded.items()} == {"train": 4, "test": 2}
    back = open_dataset(out)
    pd.testing.assert_frame_equal(open_dataset(lab).images().drop(columns="image_file"),
                                  back.images().drop(columns="image_file"))
    assert back.track2_splits == []


def test_a_track2_split_without_records_is_left_out_and_named(make_lab, tmp_path):
    from typer.testing import CliRunner

    from portraitcraft.cli import app

    lab = make_lab(n_train=12, n_test=4, n_track2_test=2, seed=0, long_side=96)  # Track 2: train empty, test 2
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["export", str(lab), "--to", "hf", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "Track 2: track_2_train.json holds no records: that split is not exported" in result.stderr
    assert {split: part.num_rows for split, part in datasets.load_from_disk(str(out / "track_2")).items()} == {
        "test": 2}
    pd.testing.assert_frame_equal(open_dataset(lab).descriptions().drop(columns="image_file"),
                                  open_dataset(out).descriptions().drop(columns="image_file"))
