"""`portraitcraft assess`: a folder of photos scored by the feature baseline and the tiny Qwen3-VL, one row each."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from portraitcraft.assess import find_images, image_key, relative_path
from portraitcraft.attributes import ATTRIBUTE_KEYS, ATTRIBUTE_NAMES, LEVELS
from portraitcraft.cli import app
from portraitcraft.parsing import read_reasons

pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def lab(small_lab) -> Path:
    return small_lab


@pytest.fixture(scope="module")
def baseline_dir(lab, tmp_path_factory) -> Path:
    """A small feature baseline, trained in seconds (linear models, 96-pixel images)."""
    from portraitcraft.baseline import train_on_dataset

    model_dir = tmp_path_factory.mktemp("assess_model") / "baseline.model"
    train_on_dataset(lab, model_dir, max_side=96, grid="linear")
    return model_dir


@pytest.fixture
def photos(lab, tmp_path) -> Path:
    """Lab images laid out as a photographer's folder: sub-folders, one name twice, a PNG, a broken file, a note."""
    sources = sorted((lab / "images_00").glob("*.jpg"))
    folder = tmp_path / "photos"
    for sub in ("2024", "2025"):
        (folder / sub).mkdir(parents=True)
    shutil.copy(sources[0], folder / "2024" / "IMG_0001.jpg")
    shutil.copy(sources[1], folder / "2025" / "IMG_0001.jpg")
    Image.open(sources[2]).save(folder / "portrait.PNG")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    (folder / "notes.txt").write_text("not an image", encoding="utf-8")
    return folder


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_image_keys_are_bare_unique_and_reversible():
    names = ["a.jpg", "2024/IMG 1.jpg", "2025/IMG 1.jpg", "odd%2Fname.jpg", "x\\y.jpg"]
    keys = [image_key(n) for n in names]
    assert len(set(keys)) == len(names) and not any("/" in k or "\\" in k for k in keys)
    assert [relative_path(k) for k in keys] == names


def test_features_backend_scores_every_image_resumably(photos, baseline_dir, tmp_path):
    assert find_images(photos) == ["2024/IMG_0001.jpg", "2025/IMG_0001.jpg", "broken.jpg", "portrait.PNG"]
    out = tmp_path / "scores.csv"
    command = ["assess", str(photos), "--backend", "features", "--model-dir", str(baseline_dir), "--out", str(out),
               "--no-progress"]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 1, result.output  # the broken file fails, alone
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["image"] for r in rows] == find_images(photos)
    by_image = {r["image"]: r for r in rows}
    assert by_image["broken.jpg"]["status"] == "failed" and "broken.jpg" in by_image["broken.jpg"]["error"]
    for name in ("2024/IMG_0001.jpg", "2025/IMG_0001.jpg", "portrait.PNG"):
        row = by_image[name]
        assert row["status"] == "ok" and 1 <= float(row["total_score"]) <= 100
        for key in ATTRIBUTE_KEYS:
            probabilities = [float(row[f"{key}_p_{level.lower()}"]) for level in LEVELS]
            assert math.isclose(sum(probabilities), 1.0, abs_tol=1e-3)
            assert row[f"{key}_level"] == LEVELS[max(range(3), key=probabilities.__getitem__)]
    records = out.with_name("scores.csv.records.jsonl")
    assert len(lines(records.read_text(encoding="utf-8"))) == 4
    again = CliRunner().invoke(app, command)  # the failed image is tried again, and fails again: exit 1
    assert again.exit_code == 1 and "3 of 4 already done, 1 failed before and retried" in again.stderr
    assert len(lines(records.read_text(encoding="utf-8"))) == 4  # one record per image, nothing predicted twice
    assert list(csv.DictReader(out.open(encoding="utf-8"))) == rows
    shutil.copy(photos / "portrait.PNG", photos / "broken.jpg")  # the file repaired (a PNG under a .jpg name)
    repaired = CliRunner().invoke(app, command)
    assert repaired.exit_code == 0, repaired.output
    assert "3 of 4 already done, 1 failed before and retried" in repaired.stderr
    records_now = lines(records.read_text(encoding="utf-8"))
    assert len(records_now) == 4 and all(r["status"] == "ok" for r in records_now)


@pytest.mark.real_sample
def test_features_backend_on_the_real_sample_prints_one_record_per_image(real_sample, baseline_dir, tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("PORTRAITCRAFT_CACHE", str(tmp_path / "cache"))
    folder = real_sample / "images_00"
    result = CliRunner().invoke(app, ["assess", str(folder), "--backend", "features", "--model-dir",
                                      str(baseline_dir), "--json", "-", "--no-progress"])
    assert result.exit_code == 0, result.output
    rows = lines(result.stdout)
    assert [r["image"] for r in rows] == sorted(p.name for p in folder.glob("*.jpg"))
    for row in rows:
        assert row["status"] == "ok" and set(row["levels"]) == set(ATTRIBUTE_NAMES)
        assert set(row["levels"].values()) <= set(LEVELS) and row["reasons"] is None


def test_tiny_qwen_score_protocol_gives_levels_with_probabilities(photos, tiny_model, tmp_path):
    (photos / "broken.jpg").unlink()
    out = tmp_path / "qwen.jsonl"
    result = CliRunner().invoke(app, ["assess", str(photos), "--backend", "qwen", "--model", str(tiny_model),
                                      "--protocol", "score", "--device", "cpu", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    rows = lines(out.read_text(encoding="utf-8"))
    assert len(rows) == 3
    for row in rows:
        assert row["status"] == "ok" and 1 <= row["total_score"] <= 100
        for name in ATTRIBUTE_NAMES:
            assert math.isclose(sum(row["probabilities"][name].values()), 1.0, abs_tol=1e-3)
            assert row["levels"][name] in LEVELS


def test_reasons_are_read_where_the_model_writes_them():
    text = json.dumps({"criteria": {"Sharpness": {"level": "Good", "reason": "The eyes are crisp."},
                                    "Color Harmony": "Medium"}, "total_score": 70})
    assert read_reasons(text) == {"Sharpness": "The eyes are crisp."}
    assert read_reasons('{"Sharpness": "Poor"}') == {} and read_reasons("no json here") == {}


def test_errors_come_before_any_model_and_name_the_problem(tmp_path, monkeypatch, photos):
    result = CliRunner().invoke(app, ["assess", str(tmp_path / "nowhere"), "--backend", "qwen", "--model", "x/y"])
    assert result.exit_code == 2 and "no such folder" in result.output
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["assess", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "no image found" in result.output
    result = CliRunner().invoke(app, ["assess", str(photos), "--out", str(tmp_path / "rows.xlsx")])
    assert result.exit_code == 2 and "--format csv|jsonl" in result.output


def test_assess_from_any_folder_builds_the_lab_baseline_once_and_summarises(photos, tmp_path, monkeypatch):
    """No trained model at hand (no repository lab model, an empty cache): the first run builds the lab-trained
    baseline into the cache (a smaller lab here, for time), the second reuses it; the terminal gets the summary, what
    the model learned from, and a flat image is flagged instead of scored."""
    from PIL import Image

    monkeypatch.setattr("portraitcraft.baseline.LAB_MODEL_DIR", Path("no/such/model"))
    # 16 small training images and no Track 2 ones: what is tested is the building once, not the model.
    monkeypatch.setattr("portraitcraft.baseline.CACHED_LAB", {"n_train": 16, "n_test": 0, "n_track2_train": 0,
                                                               "n_track2_test": 0, "seed": 0, "long_side": 128})
    monkeypatch.setenv("PORTRAITCRAFT_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    (photos / "broken.jpg").unlink()
    Image.new("RGB", (120, 90), (40, 160, 40)).save(photos / "flat-green.png")
    out = tmp_path / "rows.jsonl"
    first = CliRunner().invoke(app, ["assess", str(photos), "--out", str(out), "--no-progress"])
    assert first.exit_code == 1, first.output  # the flat frame has no score
    assert "building the lab-trained one once into" in first.stderr and str(tmp_path / "cache") in first.stderr
    rows = {r["image"]: r for r in lines(out.read_text(encoding="utf-8"))}
    assert rows["flat-green.png"]["status"] == "failed" and "nearly uniform" in rows["flat-green.png"]["error"]
    scores = [r["total_score"] for r in rows.values() if r["status"] == "ok"]
    assert len(scores) == 3
    assert (f"assessed 4 photo(s): 3 scored, 1 without a score (see status and error); overall score "
            f"{min(scores):.0f}-{max(scores):.0f}") in first.stderr
    assert "trained on 16 synthetic composition-lab images" in first.stderr
    second = CliRunner().invoke(app, ["assess", str(photos), "--out", str(tmp_path / "again.csv"), "--no-progress"])
    assert "building" not in second.stderr and "synthetic composition-lab images" in second.stderr


def test_openai_backend_scores_a_folder_through_a_loopback_server(photos, tiny_model, tmp_path):
    from portraitcraft.runners.qwen import QwenBackend, QwenSettings
    from portraitcraft.runners.server import ChatModel, serve

    (photos / "broken.jpg").unlink()
    backend = QwenBackend(QwenSettings(model=str(tiny_model), protocol="score"))
    chat = ChatModel(backend, name="tiny-qwen3-vl")
    server, thread = serve(chat=chat)
    # A random model spreads its probability over the whole vocabulary: the candidates are read from all of it.
    vocabulary = str(len(backend.tokenizer))
    try:
        result = CliRunner().invoke(app, ["assess", str(photos), "--backend", "openai", "--base-url",
                                          server.url, "--model", "tiny-qwen3-vl", "--protocol", "score",
                                          "--top-logprobs", vocabulary, "--api-key", "secret-key", "--json", "-",
                                          "--no-progress",
                                          "--records", str(tmp_path / "records.jsonl")])
        # From its top log-probability alone, the overall score's candidate words are (here) never read: predicted,
        # yet no score. The row says why and what to do, and the exit code says not every photo was scored.
        short = CliRunner().invoke(app, ["assess", str(photos), "--backend", "openai", "--base-url", server.url,
                                         "--model", "tiny-qwen3-vl", "--protocol", "score", "--top-logprobs", "1",
                                         "--json", "-", "--no-progress", "--records", str(tmp_path / "top1.jsonl")])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert result.exit_code == 0, result.output
    rows = lines(result.stdout)
    assert [r["image"] for r in rows] == find_images(photos)
    for row in rows:
        assert row["status"] == "ok" and 1 <= row["total_score"] <= 100
        for name in ATTRIBUTE_NAMES:
            probabilities = row["probabilities"][name]
            assert row["levels"][name] == max(probabilities, key=probabilities.get)
    assert "secret-key" not in (tmp_path / "records.jsonl").read_text(encoding="utf-8")
    unscored = [r for r in lines(short.stdout) if r["total_score"] is None]
    assert unscored and short.exit_code == 1, short.output
    assert all(r["status"] == "ok" and r["error"].startswith("no score: no_candidate_probability") and
               "--top-logprobs" in r["error"] for r in unscored)
    assert f"{len(unscored)} without a score" in short.stderr


def test_the_rows_never_overwrite_the_records(photos, baseline_dir, tmp_path):
    records = tmp_path / "same.jsonl"
    result = CliRunner().invoke(app, ["assess", str(photos), "--model-dir", str(baseline_dir), "--records",
                                      str(records), "--out", str(records), "--no-progress"])
    assert result.exit_code == 2 and "--records" in result.output and not records.exists()


def test_run_assessment_is_the_command_from_python(photos, baseline_dir, tmp_path):
    from portraitcraft.assess import run_assessment

    out = tmp_path / "rows.jsonl"
    done = run_assessment(photos, out, backend="features", model_dir=baseline_dir, progress=False)
    assert out.read_text(encoding="utf-8") == done.text
    assert [row["image"] for row in done.rows] == find_images(photos)
    assert [row["status"] for row in done.rows].count("failed") == 1 == len(done.summary.failures)
    assert done.lines()[-1] == f"wrote 4 row(s) to {out}"
    command = ["assess", str(photos), "--backend", "features", "--model-dir", str(baseline_dir), "--json", "-",
               "--records", str(done.records), "--no-progress"]
    result = CliRunner().invoke(app, command)
    # Resumed: only the failed image is predicted again (and fails again: exit 1); the same rows.
    assert result.exit_code == 1 and result.stdout == done.text


def test_one_backend_vocabulary_for_predict_and_assess(lab, photos, baseline_dir, tmp_path):
    from portraitcraft.backends import backend_name

    assert backend_name("qwen") == "transformers" and backend_name("features") == "features"
    with pytest.raises(ValueError, match="'gpt': expected one of features, transformers, openai"):
        backend_name("gpt")
    for command in (["predict", "--data", str(lab), "--out", str(tmp_path / "p.jsonl")], ["assess", str(photos)]):
        result = CliRunner().invoke(app, [*command, "--backend", "gpt"])
        assert result.exit_code == 2 and "gpt" in result.stderr
        assert all(name in result.stderr for name in ("features", "transformers", "qwen", "openai"))
    out = tmp_path / "features.jsonl"
    result = CliRunner().invoke(app, ["predict", "--data", str(lab), "--backend", "features", "--model-dir",
                                      str(baseline_dir), "--limit", "3", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    records = lines(out.read_text(encoding="utf-8"))
    assert [r["status"] for r in records] == ["ok"] * 3 and records[0]["run"]["backend"] == "features"


def test_max_megapixels_sets_the_bomb_guard_and_16_bit_files_keep_their_tones(photos, baseline_dir, tmp_path,
                                                                               monkeypatch):
    import numpy as np
    from PIL import Image

    from portraitcraft.images import open_image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored after the test
    (photos / "broken.jpg").unlink()
    command = ["assess", str(photos), "--model-dir", str(baseline_dir), "--no-progress", "--out", "-"]
    small = CliRunner().invoke(app, [*command, "--max-megapixels", "0.001"])  # every photo is over 1,000 pixels
    assert small.exit_code == 1 and "larger than the decompression-bomb limit of 1,000 pixels" in small.stderr
    assert "assess --max-megapixels N" in small.stderr
    allowed = CliRunner().invoke(app, [*command, "--max-megapixels", "200"])
    assert allowed.exit_code == 0, allowed.output
    ramp = (np.linspace(0, 65535, 64 * 256).reshape(64, 256)).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "ramp16.png")
    grey = np.asarray(open_image(tmp_path / "ramp16.png"))[..., 0]
    assert grey[0, 0] < 5 and grey[-1, -1] > 250 and abs(float(grey.mean()) - 127.5) < 3  # not clipped to white
