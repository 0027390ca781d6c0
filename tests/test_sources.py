"""The one way in for data: every source through `portraitcraft.sources.open_dataset`, the kind of what was opened,
and the findings that stop a build against those that are carried; on a lab, the real sample and a lab copy in the
published layout."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from portraitcraft import sources
from portraitcraft.data import BLOCKING, ERROR, NOTE, SEVERITIES, DataError
from portraitcraft.sources import check_dataset, open_dataset

TINY_LAB = {"n_train": 4, "n_test": 2, "n_track2_train": 1, "n_track2_test": 1, "seed": 5, "long_side": 64}


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A private cache and a tiny default lab, so that building "lab" takes a second."""
    monkeypatch.setenv("PORTRAITCRAFT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sources, "DEFAULT_LAB_SIZE", TINY_LAB)
    monkeypatch.chdir(tmp_path)  # no folder named "lab" here
    return tmp_path / "cache"


@pytest.fixture
def published(small_lab, tmp_path) -> Path:
    """The small lab as the benchmark publishes: no ground-truth file, no factors."""
    root = tmp_path / "published"
    shutil.copytree(small_lab, root, ignore=shutil.ignore_patterns("track_1_test_ground_truth.json",
                                                                    "lab_factors.json"))
    return root


def test_the_name_lab_is_built_on_first_use_from_python(cache, capfd):
    dataset = open_dataset("lab")
    assert dataset.root == cache / "lab-default" and dataset.source == "lab"
    assert dataset.is_lab and dataset.kind == "lab"
    assert len(dataset.images()) == TINY_LAB["n_train"] + TINY_LAB["n_test"]
    assert "building the default composition lab (4 train and 2 test images" in capfd.readouterr().err
    again = open_dataset("lab")  # built once: no second line
    assert again.root == dataset.root and "building" not in capfd.readouterr().err
    assert not list(cache.glob("lab-default.partial-*"))


def test_the_package_opens_lab(cache):
    import portraitcraft as pc

    assert pc.open_dataset("lab").is_lab
    assert pc.open_dataset is sources.open_dataset


def test_a_folder_named_lab_wins_over_the_name(cache, small_lab, tmp_path):
    shutil.copytree(small_lab, tmp_path / "lab")
    dataset = open_dataset("lab")
    assert dataset.root == Path("lab") and dataset.source == "local"
    assert not (cache / "lab-default").exists()


def test_kinds_of_a_lab_a_published_copy_and_the_real_sample(small_lab, published, real_sample):
    lab = open_dataset(small_lab)
    assert (lab.kind, lab.is_lab, lab.has_ground_truth_file, lab.test_labels_hidden) == ("lab", True, True, True)
    revealed = open_dataset(small_lab, reveal_ground_truth=True)
    assert not revealed.test_labels_hidden
    copy = open_dataset(published)
    assert (copy.kind, copy.is_lab, copy.has_ground_truth_file, copy.test_labels_hidden) == (
        "local", False, False, True)
    sample = open_dataset(real_sample)
    assert (sample.kind, sample.is_lab, sample.test_labels_hidden) == ("local", False, True)


def test_a_folder_that_is_no_root_blocks(tmp_path):
    (tmp_path / "empty").mkdir()
    check = check_dataset(tmp_path / "empty")
    assert not check.ok and check.dataset is not None
    assert [p.severity for p in check.blocking] == [BLOCKING]
    assert "not a PortraitCraft root" in check.blocking[0].message
    assert str(check.blocking[0]).startswith("blocking: ")
    assert check.dataset.errors == check.blocking  # strict validation fails on it too


@pytest.mark.parametrize("content", ['[{"image_path": "a.jpg",', '{"not": "a list"}'])
def test_an_unreadable_annotation_file_blocks_naming_it(small_lab, tmp_path, content):
    root = tmp_path / "broken"
    shutil.copytree(small_lab, root)
    (root / "track_1_train.json").write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match="track_1_train.json"):
        open_dataset(root)
    check = check_dataset(root)
    assert check.dataset is None and len(check.blocking) == 1 and "track_1_train.json" in check.blocking[0].message


def test_no_such_source_blocks(tmp_path):
    check = check_dataset(tmp_path / "nowhere")
    assert check.dataset is None and "no such folder" in check.blocking[0].message


def test_missing_images_and_hidden_labels_are_carried(real_sample, published):
    check = check_dataset(real_sample)
    assert check.ok and check.dataset is not None
    severities = [p.severity for p in check.findings]
    assert severities == sorted(severities, key=SEVERITIES.index)  # most severe first
    assert any(p.severity == ERROR and p.message == "image missing" for p in check.carried)
    assert any(p.severity == NOTE and "labels hidden for 1 record" in p.message for p in check.carried)
    assert any(p.severity == NOTE and p.file == "track_2_test.json" and p.message == "not present"
               for p in check.carried)
    copy = check_dataset(published)
    assert copy.ok and [p.message.split(" (")[0] for p in copy.findings] == ["labels hidden for 8 records"]


def test_the_lab_check_names_its_ground_truth(small_lab):
    notes = check_dataset(small_lab).dataset.notes()
    assert len(notes) == 1 and "the labels are in track_1_test_ground_truth.json" in notes[0].message


def test_data_no_longer_reaches_for_datasets_or_the_lab():
    """Reading a root imports neither the `datasets` bridge nor the lab generator (a fresh interpreter)."""
    code = ("import sys, portraitcraft.data; "
            "print(sorted(m for m in ('portraitcraft.hf', 'portraitcraft.lab', 'datasets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_command_takes_the_name_lab(cache, tmp_path):
    """`merge --data lab` opens the lab as `predict --data lab` does (it once read "lab" as a folder name)."""
    import json

    from typer.testing import CliRunner

    from portraitcraft.cli import app

    runner = CliRunner()
    validated = runner.invoke(app, ["validate", "lab", "--no-progress"])
    assert validated.exit_code == 0, validated.output
    test_images = open_dataset("lab").images().query("split == 'test'")["image_path"].tolist()
    shard = tmp_path / "shard.jsonl"
    shard.write_text("".join(json.dumps({"schema": "portraitcraft.prediction/1", "image_path": name, "status": "ok",
                                         "error": None, "raw_text": "", "parsed": None, "run": {"config_hash": "c"}})
                             + "\n" for name in test_images[:1]), encoding="utf-8")
    merged = runner.invoke(app, ["merge", str(shard), "--out", str(tmp_path / "merged.jsonl"), "--data", "lab"])
    assert merged.exit_code == 1, merged.output  # merged; the lab's second test image is named as missing
    assert test_images[1] in merged.output


def test_validate_names_a_blocking_finding(tmp_path):
    from typer.testing import CliRunner

    from portraitcraft.cli import app

    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "empty"), "--no-progress"])
    assert result.exit_code == 1
    assert "blocking: " in result.output and "not a PortraitCraft root" in result.output
    assert "FAILED: 1 blocking finding(s), 0 error(s)" in result.output
