"""The feature baseline end to end on a small lab, and its question rule on hand-written options."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from portraitcraft.attributes import ATTRIBUTE_NAMES, LEVELS
from portraitcraft.baseline import (
    BaselineError,
    answer_question,
    load_baseline,
    option_evidence,
    run_feature_baseline,
)
from portraitcraft.evaluation import evaluate
from portraitcraft.features import extract_features
from portraitcraft.predictions import read_predictions, recorded_images

# ---- the question rule ------------------------------------------------------------------------------------------

OPTIONS = {
    "A": "The portrait is crisp and well balanced, so the result is excellent.",
    "B": "The picture is slightly soft, so the result is acceptable but only moderate.",
    "C": "Heavy blur smears the face, so the picture is poor and badly out of focus.",
    "D": "The shot was taken outdoors in the afternoon.",
}


@pytest.mark.parametrize(("level", "letter"), [("Good", "A"), ("Medium", "B"), ("Poor", "C")])
def test_rule_picks_the_option_that_matches_the_level(level, letter):
    decision = answer_question(OPTIONS, level)
    assert decision.answer == letter
    assert level in decision.explanation


def test_negation_flips_a_cue():
    assert option_evidence("There is no blur at all").good == 1
    assert option_evidence("The eyes are not crisp").poor == 1
    assert option_evidence("The eyes are crisp").good == 1


def test_verdict_clause_outweighs_the_description():
    evidence = option_evidence("A clean background, so the image is poor")
    assert evidence.poor > evidence.good


def test_rule_says_undecided_instead_of_guessing():
    no_cues = {k: f"Option number {k} about the picture." for k in "ABCD"}
    decision = answer_question(no_cues, "Good")
    assert decision.answer is None and "undecided" in decision.explanation
    tie = {"A": "It is excellent.", "B": "It is excellent.", "C": "It is poor.", "D": "It is poor."}
    decision = answer_question(tie, "Good")
    assert decision.answer is None and "tie" in decision.explanation
    assert answer_question(OPTIONS, None).answer is None


# ---- training and predicting on a small lab -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def baseline_lab(make_lab):
    # 80 test images: with 40 the SRCC's interval is about +-0.25 wide, too wide to tell features from a constant.
    return make_lab(n_train=120, n_test=80, seed=5, long_side=192)


@pytest.fixture(scope="module")
def baseline_run(baseline_lab, tmp_path_factory):
    out = tmp_path_factory.mktemp("baseline_run") / "features.jsonl"
    path = run_feature_baseline(baseline_lab, out, max_side=192, grid="linear", seed=0)
    return baseline_lab, path


def test_run_writes_one_valid_record_per_test_image(baseline_run):
    lab, path = baseline_run
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    truth = json.loads((lab / "track_1_test_ground_truth.json").read_text(encoding="utf-8"))
    assert sorted(r["image_path"] for r in lines) == sorted(r["image_path"] for r in truth)
    for record in lines:
        assert record["status"] == "ok"
        assert record["run"]["backend"] == "features" and "#" in record["run"]["model"]
        parsed = record["parsed"]
        assert 1 <= parsed["total_score"] <= 100
        assert set(parsed["criteria"]) == set(ATTRIBUTE_NAMES)
        assert all(level in LEVELS for level in parsed["criteria"].values())
        for attribute, probabilities in record["probabilities"]["criteria"].items():
            assert math.isclose(sum(probabilities.values()), 1.0, abs_tol=1e-3)
            assert max(probabilities, key=probabilities.get) == parsed["criteria"][attribute]
        # Either an answer, or null with the failure named (counted wrong, never guessed).
        assert parsed["answer"] in {"A", "B", "C", "D"} or parsed["failures"].get("answer") == "undecided"
        assert record["raw_text"].startswith("feature baseline; question:")


def test_predictions_score_above_a_constant_predictor(baseline_run):
    lab, path = baseline_run
    report = evaluate(path, lab / "track_1_test_ground_truth.json", n_bootstrap=200)
    # A constant score has no rank correlation at all; the features must give a clearly positive one.
    assert report.values["srcc"] > 0.3
    assert report.ci["srcc"].low > 0
    truth = report.per_image
    majority = np.mean([
        (truth[f"true:{name}"] == truth[f"true:{name}"].mode()[0]).mean() for name in ATTRIBUTE_NAMES])
    # Level accuracy must not fall below always predicting each attribute's most common test level minus slack.
    assert report.values["level_acc"] > majority - 0.1


def test_saved_model_reloads_and_predicts_identically(baseline_run):
    lab, path = baseline_run
    model_dir = path.with_name(path.stem + ".model")
    manifest = json.loads((model_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["train_images"] == 120 and manifest["feature_names"]
    assert set(manifest["cv"]) == {"total_score", *ATTRIBUTE_NAMES}
    model = load_baseline(model_dir)
    from portraitcraft.sources import open_dataset

    images = open_dataset(lab).images()
    test = images[images["split"] == "test"]
    # The features measured from the files, apart from the run loop that wrote the records (which decodes each image
    # through the dataset): the written predictions are the model's on them.
    table = extract_features(list(test["image_path"]), list(test["image_file"]), max_side=192)
    assert table.computed == len(test) and not table.failures
    first, second = model.predict(table.frame), load_baseline(model_dir).predict(table.frame)
    assert np.array_equal(first.total_score, second.total_score)
    written = read_predictions(path).frame().set_index("image_path")
    assert np.allclose(written.loc[first.image_paths, "total_score"], np.round(first.total_score, 2))
    assert list(written.loc[first.image_paths, ATTRIBUTE_NAMES[0]]) == first.levels[ATTRIBUTE_NAMES[0]]


def test_run_resumes_without_rewriting(baseline_run):
    lab, path = baseline_run
    before = path.read_text(encoding="utf-8")
    lines = before.splitlines()
    partial = path.with_name("partial.jsonl")
    partial.write_text("\n".join(lines[:10]) + "\n", encoding="utf-8")
    run_feature_baseline(lab, partial, path.with_name(path.stem + ".model"), max_side=192)
    assert recorded_images(partial) == recorded_images(path)
    assert partial.read_text(encoding="utf-8").splitlines()[:10] == lines[:10]
    run_feature_baseline(lab, path, path.with_name(path.stem + ".model"), max_side=192)
    assert path.read_text(encoding="utf-8") == before


def test_tampered_model_is_refused(baseline_run, tmp_path):
    import shutil

    _, path = baseline_run
    copy = tmp_path / "model"
    shutil.copytree(path.with_name(path.stem + ".model"), copy, ignore=shutil.ignore_patterns("feature_cache"))
    with open(copy / "model.skops", "ab") as f:
        f.write(b"\0")
    with pytest.raises(BaselineError, match="SHA-256"):
        load_baseline(copy)


# ---- the validation split: predicted by a model that never saw it, refused from one that did ----------------------

def test_validation_split_is_predicted_by_a_model_trained_without_it(baseline_run, tmp_path):
    from portraitcraft.baseline import BaselineError, predict_feature_baseline
    from portraitcraft.data import DataError
    from portraitcraft.evaluation import evaluate_on_split
    from portraitcraft.labels import held_out_record, runs_validation_leak, training_names, validation_images
    from portraitcraft.predictions import read_predictions
    from portraitcraft.sources import open_dataset

    lab, test_run = baseline_run
    validation = validation_images(open_dataset(lab))
    assert len(validation) == 12  # 10% of the 120 training images, seed 0

    # The model of the test-split run learnt from every training image: refused for the validation split, unwritten.
    with pytest.raises(BaselineError, match="trained on every labelled training record"):
        predict_feature_baseline(lab, tmp_path / "leak.jsonl", test_run.with_name(test_run.stem + ".model"),
                                 split="validation", max_side=192, grid="linear")
    assert not (tmp_path / "leak.jsonl").exists()

    out = tmp_path / "val.jsonl"
    summary = predict_feature_baseline(lab, out, split="validation", max_side=192, grid="linear")
    assert summary.selected == len(validation)
    predictions = read_predictions(out)
    assert sorted(predictions.image_paths) == sorted(validation)
    manifest = json.loads((tmp_path / "val.model" / "manifest.json").read_text())
    assert manifest["held_out"] == held_out_record(validation, fraction=0.1, seed=0,
                                                   training=training_names(open_dataset(lab)))
    assert manifest["held_out"]["training"]["images"] == 120
    assert manifest["train_images"] == 120 - len(validation)
    assert runs_validation_leak(predictions.runs, validation) is None

    report = evaluate_on_split(out, lab, "validation", n_bootstrap=0)
    assert report.truth.image_paths == sorted(validation) and len(report.truth) == 12
    # The test run's model saw the validation images: scoring its (train-split) predictions there is refused.
    train_run = tmp_path / "train.jsonl"
    predict_feature_baseline(lab, train_run, test_run.with_name(test_run.stem + ".model"), split="train",
                             max_side=192, grid="linear")
    with pytest.raises(DataError, match="not scored on the validation split: its model was trained on every"):
        evaluate_on_split(train_run, lab, "validation", n_bootstrap=0)



def test_lab_model_predicts_another_datasets_validation_split(baseline_run, real_sample, tmp_path):
    """The validation check compares training data, not only held-out names: the lab's model never saw the real
    sample, so its validation split is predicted (one line on stderr says why), through the CLI as a user runs it."""
    from typer.testing import CliRunner

    from portraitcraft.cli import app
    from portraitcraft.sources import open_dataset

    lab, test_run = baseline_run
    model_dir = test_run.with_name(test_run.stem + ".model")
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert manifest["held_out"]["images"] == 0 and manifest["held_out"]["training"]["images"] == 120
    out = tmp_path / "sample-validation.jsonl"
    result = CliRunner().invoke(app, ["baseline", "predict", str(real_sample), "--split", "validation",
                                      "--model-dir", str(model_dir), "--out", str(out), "--max-side", "192"])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("learnt from other training data") == 1 and "not a leak" in result.stderr
    from portraitcraft.labels import validation_images
    assert sorted(read_predictions(out).image_paths) == validation_images(open_dataset(real_sample))
