"""Error analysis, the lab's one-factor series and the reproducibility record, on a tiny lab and hand-made arrays.

Predictions are built from the lab's ground truth with known perturbations, so every expected number is counted
here from those perturbations, not read back from the code under test.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from portraitcraft.attributes import ATTRIBUTE_NAMES, LEVELS, level_from_score
from portraitcraft.baseline import find_baseline_model
from portraitcraft.calibration import answer_probabilities, calibration, calibration_by_attribute, level_probabilities
from portraitcraft.data import GROUND_TRUTH_FILE, DataError
from portraitcraft.error_analysis import (
    analyse_predictions,
    attribute_accuracy,
    attribute_tracking,
    confused_attributes,
    confusion_shares,
    hardest_images,
    image_attributes,
    parse_failures,
    score_error_by_truth,
)
from portraitcraft.lab.series import BASE_SCENE, differing_factors, label_scene, render_series
from portraitcraft.labels import image_labels, load_ground_truth
from portraitcraft.measurements import prediction_timing, read_gpu_benchmark, reproducibility_record
from portraitcraft.parsing import FIELDS
from portraitcraft.predictions import PredictionWriter, failed_record, ok_record, prediction_details, read_predictions
from portraitcraft.provenance import data_fingerprint, package_versions
from portraitcraft.series_readings import factor_effects, moving_attributes, series_table
from portraitcraft.sources import open_dataset

N_TEST = 12
SWAPPED, TRACKED = "Sharpness", "Exposure Control"  # Sharpness is predicted as Exposure Control's true level
SHIFTED = "Color Harmony"  # one level up (cyclically) on the first SHIFT_FIRST images
SHIFT_FIRST = 5
LETTERS_AT = "Subject Integrity"  # the parser refused a letter on the first three images
FAILED_IMAGE = N_TEST - 1
RUN = {"backend": "test", "model": "perturbed-truth", "protocol": "score"}


@pytest.fixture(scope="module")
def lab(make_lab) -> Path:
    return make_lab(n_train=2, n_test=N_TEST, seed=3, long_side=64)


@pytest.fixture(scope="module")
def truth_records(lab) -> list[dict]:
    return json.loads((lab / GROUND_TRUTH_FILE).read_text(encoding="utf-8"))


def true_levels(record: dict) -> dict[str, str]:
    return {name: level_from_score(record["criteria"][name]["score"]) for name in ATTRIBUTE_NAMES}


def perturbed(i: int, record: dict) -> dict:
    """The prediction of test image i: the truth, perturbed as the module constants say."""
    truth = true_levels(record)
    levels = dict(truth)
    levels[SWAPPED] = truth[TRACKED]
    if i < SHIFT_FIRST:
        levels[SHIFTED] = LEVELS[(LEVELS.index(truth[SHIFTED]) + 1) % 3]
    failures = {}
    if i < 3:
        levels[LETTERS_AT] = None
        failures[LETTERS_AT] = "letter_as_level"
    score = None if i == 4 else record["total_score"] + i  # image i is scored i points too high
    if score is None:
        failures["total_score"] = "not_a_number"
    answer = None if i == 2 else ("A" if record["answer"] != "A" else "B") if i == 1 else record["answer"]
    if answer is None:
        failures["answer"] = "undecided"
    return {"total_score": score, "criteria": levels, "answer": answer, "failures": failures}


@pytest.fixture(scope="module")
def predictions_file(lab, truth_records, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("runs") / "perturbed.jsonl"
    with PredictionWriter(path) as writer:
        for i, record in enumerate(truth_records):
            if i == FAILED_IMAGE:
                writer.write(failed_record(record["image_path"], "CUDA out of memory", run=RUN, seconds=2.0))
                continue
            parsed = perturbed(i, record)
            # The first four images carry level probabilities: 0.8 on the predicted level, 0.1 on each other.
            probabilities = None
            if i < 4:
                probabilities = {"criteria": {name: {level: (0.8 if level == parsed["criteria"][name] else 0.1)
                                                     for level in LEVELS}
                                              for name in ATTRIBUTE_NAMES if parsed["criteria"][name]}}
            writer.write(ok_record(record["image_path"], parsed, run=RUN, seconds=1.0 + i,
                                   raw_text=f"model text {i}", probabilities=probabilities))
    return path


@pytest.fixture(scope="module")
def errors(lab, predictions_file):
    return analyse_predictions(predictions_file, lab, n_bootstrap=300, seed=1)


# --- ground truth from the data layer ------------------------------------------------------------------------

def test_labelled_images_are_the_revealed_test_labels_in_the_asked_order(lab, truth_records):
    names = [r["image_path"] for r in truth_records][::-1]
    labels = image_labels(open_dataset(lab, reveal_ground_truth=True), [*names, "elsewhere.jpg"])
    scorer_truth = load_ground_truth(lab / GROUND_TRUTH_FILE)
    order = [scorer_truth.image_paths.index(n) for n in names]
    assert labels.truth.image_paths == names
    assert labels.unlabelled == ["elsewhere.jpg"]
    np.testing.assert_array_equal(labels.truth.levels, scorer_truth.levels[order])
    np.testing.assert_array_equal(labels.truth.total_score, scorer_truth.total_score[order])
    assert labels.truth.answers == [scorer_truth.answers[k] for k in order]
    first = truth_records[-1]
    assert labels.attribute_scores[0].tolist() == [first["criteria"][a]["score"] for a in ATTRIBUTE_NAMES]
    assert labels.reasons.loc[first["image_path"], "Sharpness"] == first["criteria"]["Sharpness"]["reason"]


def test_hidden_test_labels_are_not_labels(lab, truth_records):
    hidden = image_labels(open_dataset(lab), [r["image_path"] for r in truth_records])
    assert hidden.truth.image_paths == []
    assert len(hidden.unlabelled) == N_TEST


def test_predictions_without_any_labelled_image_are_refused(lab, tmp_path):
    path = tmp_path / "elsewhere.jsonl"
    with PredictionWriter(path) as writer:
        writer.write(ok_record("elsewhere.jpg", {"total_score": 50, "criteria": {}, "answer": "A"}, run=RUN))
    with pytest.raises(DataError, match="elsewhere.jsonl: none of its 1 images has labels"):
        analyse_predictions(path, lab, n_bootstrap=0)


def test_analysed_on_table3s_images_a_missing_prediction_is_named_and_counted_wrong(lab, truth_records, tmp_path):
    from portraitcraft.evaluation import evaluate

    path = tmp_path / "partial.jsonl"
    names = [r["image_path"] for r in truth_records]
    with PredictionWriter(path) as writer:
        for i, record in enumerate(truth_records[:9]):
            writer.write(ok_record(record["image_path"], perturbed(i, record), run=RUN))
        writer.write(ok_record("elsewhere.jpg", {"total_score": 50, "criteria": {}, "answer": "A"}, run=RUN))
    truth = load_ground_truth(lab / GROUND_TRUTH_FILE)
    partial = analyse_predictions(path, lab, n_bootstrap=0, truth=truth)
    assert partial.truth.image_paths == names and len(partial) == N_TEST  # what Table 3 scores
    assert partial.missing == names[9:] and partial.unlabelled == ["elsewhere.jpg"]
    assert partial.report.values["level_acc"] == pytest.approx(evaluate(path, truth, n_bootstrap=0).values["level_acc"])
    assert (partial.frame()["levels_wrong"].to_numpy()[9:] == 13).all()
    # without the target, only the predicted images are analysed (the missing ones are not seen)
    assert analyse_predictions(path, lab, n_bootstrap=0).missing == []


# --- per attribute -------------------------------------------------------------------------------------------

def test_confusions_beyond_chance_keep_only_a_systematic_mix_up_binomial_and_holm():
    from scipy import stats

    from portraitcraft.error_analysis import confusions_beyond_chance

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, size=(300, 13))
    independent = rng.integers(0, 3, size=(300, 13))  # a random model: no cell beyond chance
    random_found = confusions_beyond_chance(independent, truth)
    assert random_found.empty and random_found.attrs["tested"] == 13 * 6
    mixed = independent.copy()
    good = truth[:, 2] == 2
    mixed[good, 2] = np.where(rng.random(good.sum()) < 0.7, 0, mixed[good, 2])  # Good read as Poor, mostly
    found = confusions_beyond_chance(mixed, truth)
    assert found[["attribute", "true", "predicted"]].values.tolist() == [[ATTRIBUTE_NAMES[2], "Good", "Poor"]]
    row = found.iloc[0]
    t_count = int(good.sum())
    share = float((mixed[:, 2] == 0).mean())
    assert row["images"] == int((good & (mixed[:, 2] == 0)).sum())
    assert row["expected"] == pytest.approx(t_count * share)
    assert row["p"] == pytest.approx(stats.binomtest(int(row["images"]), t_count, share, alternative="greater").pvalue)
    assert row["p_holm"] <= min(1.0, found.attrs["tested"] * row["p"]) + 1e-12  # Holm is at most Bonferroni


def test_the_question_by_attribute_asked_and_its_answer_letters(lab, errors, truth_records):
    from scipy import stats

    from portraitcraft.error_analysis import answer_letters, question_accuracy

    questions = open_dataset(lab, reveal_ground_truth=True).questions()
    table = question_accuracy(errors, questions)
    assert table["questions"].sum() == N_TEST
    # wrong on image 1, unreadable on image 2, no output on the failed image: the rest right
    assert table["right"].sum() == N_TEST - 3 and table["invalid"].sum() == 2
    asked = questions.drop_duplicates("image_path").set_index("image_path")["attribute"]
    wrong = {asked[truth_records[i]["image_path"]] for i in (1, 2, FAILED_IMAGE)}
    assert set(table.loc[table["accuracy"] < 1, "attribute"]) == wrong

    letters = answer_letters(errors)
    predicted = errors.report.scored.aligned.answers
    by_letter = letters.table.set_index("letter")
    for letter in "ABCD":
        assert by_letter.loc[letter, "predicted"] == sum(p == letter for p in predicted)
        assert by_letter.loc[letter, "true"] == sum(r["answer"] == letter for r in truth_records)
    assert by_letter.loc["invalid", "predicted"] == 2 and letters.valid == N_TEST - 2
    true_counts = by_letter.loc[list("ABCD"), "true"].to_numpy(float)
    keep = true_counts > 0
    expected = true_counts[keep] / true_counts.sum() * letters.valid
    assert letters.chi2 == pytest.approx(stats.chisquare(by_letter.loc[list("ABCD"), "predicted"].to_numpy(float)[keep],
                                                         expected).statistic)


def test_two_models_are_compared_on_the_same_images_with_the_scorers_paired_bootstrap(lab, errors, predictions_file,
                                                                                    truth_records, tmp_path):
    from portraitcraft.error_analysis import compare_models
    from portraitcraft.evaluation import evaluate

    truth = load_ground_truth(lab / GROUND_TRUTH_FILE)
    perfect_path = tmp_path / "perfect.jsonl"
    with PredictionWriter(perfect_path) as writer:
        for record in truth_records:
            writer.write(ok_record(record["image_path"], {"total_score": record["total_score"],
                                                          "criteria": true_levels(record), "answer": record["answer"]},
                                   run=RUN))
    first = analyse_predictions(predictions_file, lab, n_bootstrap=0, truth=truth)
    second = analyse_predictions(perfect_path, lab, n_bootstrap=0, truth=truth)
    table = compare_models(first, second, n_bootstrap=200, seed=2).set_index("metric")
    expected = evaluate(predictions_file, truth, n_bootstrap=200, seed=2, compare=perfect_path).comparison
    assert table.loc["level_acc", "difference"] == pytest.approx(expected.difference["level_acc"])
    assert table.loc["level_acc", "second"] == 1.0 and table.loc["level_acc", "difference"] < 0
    assert (table.loc["level_acc", "low"], table.loc["level_acc", "high"]) == pytest.approx(
        (expected.ci["level_acc"].low, expected.ci["level_acc"].high))
    assert table.loc["level_acc", "high"] < 0  # the perturbed model is worse, and the interval says so
    few = tmp_path / "few.jsonl"
    with PredictionWriter(few) as writer:
        for record in truth_records[:3]:
            writer.write(ok_record(record["image_path"], perturbed(0, record), run=RUN))
    with pytest.raises(ValueError, match="different images"):
        compare_models(first, analyse_predictions(few, lab, n_bootstrap=0), n_bootstrap=0)


def test_attribute_accuracy_counts_the_perturbations(errors, truth_records):
    table = attribute_accuracy(errors.predicted_levels, errors.truth.levels, n_resamples=300, seed=1)
    table = table.set_index("attribute")
    truths = [true_levels(r) for r in truth_records]
    for name in ATTRIBUTE_NAMES:
        right = sum(
            i != FAILED_IMAGE and perturbed(i, r)["criteria"][name] == truths[i][name]
            for i, r in enumerate(truth_records))
        assert table.at[name, "accuracy"] == pytest.approx(right / N_TEST), name
        assert table.at[name, "low"] <= table.at[name, "accuracy"] <= table.at[name, "high"]
        common = max(sum(t[name] == level for t in truths) for level in LEVELS)
        assert table.at[name, "majority"] == pytest.approx(common / N_TEST)
    # Untouched attributes are wrong only on the failed image: a resample without it scores 1.
    assert table.at["Visual Flow Guidance", "accuracy"] == pytest.approx(11 / 12)
    assert table.at["Visual Flow Guidance", "high"] == 1.0
    assert table["accuracy"].mean() == pytest.approx(errors.report.values["level_acc"])


def test_confusion_counts_invalid_levels(errors):
    confusion = errors.report.confusion.loc[LETTERS_AT]
    assert int(confusion["invalid"].sum()) == 3 + 1  # three refused letters and the failed record
    shares = confusion_shares(errors.report.confusion)
    totals = shares.sum(axis=1, min_count=1)  # a true level that never occurs stays NaN
    assert np.allclose(totals[totals.notna()], 1.0)


def test_swapped_attributes_are_found_tracking_each_others_truth():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, size=(80, len(ATTRIBUTE_NAMES)))
    predicted = truth.copy()
    s, e = ATTRIBUTE_NAMES.index(SWAPPED), ATTRIBUTE_NAMES.index(TRACKED)
    predicted[:, s], predicted[:, e] = truth[:, e], truth[:, s]
    tracking = attribute_tracking(predicted, truth)
    assert tracking.at[SWAPPED, TRACKED] == pytest.approx(1.0)
    assert tracking.at[TRACKED, SWAPPED] == pytest.approx(1.0)
    untouched = [n for n in ATTRIBUTE_NAMES if n not in (SWAPPED, TRACKED)]
    assert np.allclose([tracking.at[n, n] for n in untouched], 1.0)
    confused = confused_attributes(predicted, truth)
    assert sorted(map(tuple, confused[["predicted", "tracks"]].values.tolist())) == sorted(
        [(SWAPPED, TRACKED), (TRACKED, SWAPPED)])
    row = confused.set_index("predicted").loc[SWAPPED]
    assert row["kappa_tracked"] == pytest.approx(1.0)
    assert row["excess"] == pytest.approx(1.0 - tracking.at[SWAPPED, SWAPPED])
    # Swapped, the two errors are exact opposites (truth_e - truth_s and truth_s - truth_e): correlation -1.
    assert row["error_correlation"] == pytest.approx(-1.0)


# --- scores and images ---------------------------------------------------------------------------------------

def test_score_error_by_truth_bins_by_hand():
    true = np.array([35, 45, 47, 55, 90, 82], float)
    predicted = np.array([40, 45, 57, np.nan, 80, 82], float)
    table = score_error_by_truth(predicted, true, levels_wrong=np.array([1, 0, 2, 13, 4, 0])).set_index("bin")
    assert list(table.index) == ["<40", "40-49", "50-59", "60-69", "70-79", "80+"]
    assert table.loc["<40", ["images", "valid", "mae", "bias"]].tolist() == [1, 1, 5.0, 5.0]
    assert table.loc["40-49", ["images", "valid", "mae", "median_ae", "bias"]].tolist() == [2, 2, 5.0, 5.0, 5.0]
    assert table.loc["50-59", ["images", "valid"]].tolist() == [1, 0] and math.isnan(table.loc["50-59", "mae"])
    assert table.loc["60-69", "images"] == 0
    assert table.loc["80+", ["images", "mae", "bias", "levels_wrong"]].tolist() == [2, 5.0, -5.0, 2.0]


def test_hardest_images_order_by_levels_then_score_and_the_reverse():
    frame = pd.DataFrame({
        "image_path": list("abcdef"),
        "abs_error": [3.0, 9.0, np.nan, 9.0, 1.0, 20.0],
        "levels_wrong": [5, 5, 13, 2, 5, 0],
    })
    by_levels = hardest_images(frame, top=6, by="levels")["image_path"].tolist()
    assert by_levels == ["c", "b", "a", "e", "d", "f"]
    by_score = hardest_images(frame, top=3, by="score")["image_path"].tolist()
    assert by_score == ["f", "b", "d"]  # b and d tie on error: more wrong levels first; c has no score: last
    with pytest.raises(ValueError, match="by='answer'"):
        hardest_images(frame, by="answer")


def test_the_hardest_image_comes_with_reasons_and_raw_text(errors, truth_records):
    frame = errors.frame()
    hardest = hardest_images(frame, top=1)
    failed_name = truth_records[FAILED_IMAGE]["image_path"]
    assert hardest.at[0, "image_path"] == failed_name  # every level invalid
    assert hardest.at[0, "levels_wrong"] == len(ATTRIBUTE_NAMES)
    second = truth_records[0]
    table = image_attributes(errors, second["image_path"]).set_index("attribute")
    assert table.at[LETTERS_AT, "predicted"] == "invalid"
    assert table.at["Sharpness", "reason"] == second["criteria"]["Sharpness"]["reason"]
    assert errors.details.raw_text[second["image_path"]] == "model text 0"
    assert frame.set_index("image_path").at[truth_records[3]["image_path"], "abs_error"] == pytest.approx(3.0)


# --- parse failures ------------------------------------------------------------------------------------------

def test_parse_failures_per_field_with_the_parsers_reasons(errors):
    table = parse_failures(errors.predictions, errors.details).set_index("field")
    assert list(table.index) == list(FIELDS)
    assert table.at[LETTERS_AT, "invalid"] == 4
    assert table.at[LETTERS_AT, "failed_records"] == 1
    assert table.at[LETTERS_AT, "reasons"] == "letter_as_level (3), failed record (1)"
    assert table.at["total_score", "reasons"] == "not_a_number (1), failed record (1)"
    assert table.at["answer", "invalid"] == 2
    assert table.at["Sharpness", "invalid"] == 1 and table.at["Sharpness", "reasons"] == "failed record (1)"


def test_parse_failures_of_a_raw_file_use_the_readers_notes(tmp_path, truth_records):
    record = truth_records[0]
    raw = [{"image_path": record["image_path"], "total_score": "high",
            "criteria": {**true_levels(record), "Sharpness": "C"}, "answer": "A"}]
    path = tmp_path / "raw.json"
    path.write_text(json.dumps(raw), encoding="utf-8")

    predictions = read_predictions(path)
    table = parse_failures(predictions, prediction_details(path)).set_index("field")
    assert table.at["Sharpness", "reasons"] == "letter 'C' where a level word belongs (1)"
    assert table.at["total_score", "reasons"] == "'high' is not a number (1)"
    assert table.at["Color Harmony", "invalid"] == 0


# --- calibration ---------------------------------------------------------------------------------------------

def test_calibration_against_a_hand_computation():
    p = np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.1, 0.05, 0.85]])
    truth = np.array([0, 1, 2, 2])
    result = calibration(p, truth)
    # bins: 0.6 holds items 2 and 3 (confidence 0.6, one right); 0.7 item 1 (right); 0.8 item 4 (right)
    assert result.table[["bin_low", "items"]].values.tolist() == [[0.6, 2], [0.7, 1], [0.8, 1]]
    assert result.table["accuracy"].tolist() == [0.5, 1.0, 1.0]
    assert result.ece == pytest.approx(2 / 4 * 0.1 + 1 / 4 * 0.3 + 1 / 4 * 0.15)
    brier = [0.3**2 + 0.2**2 + 0.1**2, 0.6**2 + 0.7**2 + 0.1**2, 0.2**2 + 0.2**2 + 0.4**2, 0.1**2 + 0.05**2 + 0.15**2]
    assert result.brier == pytest.approx(np.mean(brier))
    assert result.accuracy == pytest.approx(0.75)
    assert result.mean_confidence == pytest.approx((0.7 + 0.6 + 0.6 + 0.85) / 4)
    empty = calibration(np.zeros((0, 3)), np.zeros(0, int))
    assert empty.items == 0 and math.isnan(empty.ece)


def test_level_probabilities_come_from_the_records_that_carry_them(errors, truth_records):
    items = level_probabilities(errors)
    # Images 0-3 carry probabilities for every level they predicted (12 of 13 on images 0-2, 13 on image 3).
    assert len(items.truth) == 3 * 12 + 13
    assert set(items.image_paths) == {r["image_path"] for r in truth_records[:4]}
    assert np.allclose(items.probabilities.sum(axis=1), 1.0)
    result = calibration(items.probabilities, items.truth)
    right = np.mean(items.probabilities.argmax(axis=1) == items.truth)
    assert result.table["confidence"].tolist() == [pytest.approx(0.8)]
    assert result.ece == pytest.approx(abs(right - 0.8))
    per_attribute = calibration_by_attribute(items).set_index("attribute")
    assert per_attribute.at[LETTERS_AT, "items"] == 1
    assert len(answer_probabilities(errors).truth) == 0  # no answer probabilities were written


# --- the lab's one-factor series -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def series(tmp_path_factory):
    folder = tmp_path_factory.mktemp("series")
    return folder, render_series(folder, ["horizon_tilt", "palette"], long_side=64)


def test_series_scenes_differ_in_exactly_their_factor(series):
    _, steps = series
    for factor in ("horizon_tilt", "palette"):
        members = [s for s in steps if s.factor == factor]
        assert len(members) >= 3
        for before, after in zip(members, members[1:]):
            assert differing_factors(before.factors, after.factors) == [factor]
        for member in members:
            assert differing_factors(BASE_SCENE, member.factors) in ([], [factor])
            assert member.image.is_file()
    pixels = [np.asarray(Image.open(s.image)) for s in steps if s.factor == "horizon_tilt"]
    assert all(not np.array_equal(a, b) for a, b in zip(pixels, pixels[1:]))


def test_series_are_labelled_by_one_annotator_and_reuse_their_images(series):
    folder, steps = series
    tilt = [s for s in steps if s.factor == "horizon_tilt"]
    # Exposure Control reads only the exposure: with the same noise draws it cannot move while the horizon tilts.
    assert len({s.scores["Exposure Control"] for s in tilt}) == 1
    structure = [s.scores["Structural Support Stability"] for s in tilt]
    assert structure == sorted(structure, reverse=True) and structure[0] > structure[-1]
    assert (tilt[2].scores, tilt[2].levels, tilt[2].total_score) == label_scene(tilt[2].factors)
    stamps = {p: p.stat().st_mtime_ns for p in folder.iterdir()}
    again = render_series(folder, ["horizon_tilt", "palette"], long_side=64)
    assert [s.image for s in again] == [s.image for s in steps]
    assert {p: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps


def test_series_table_and_factor_effects(series):
    _, steps = series
    table = series_table(steps)
    assert table.groupby("factor").size().to_dict() == {"horizon_tilt": 4, "palette": 4}
    effects = factor_effects(table)
    assert effects.at["horizon_tilt", "Exposure Control"] == 0
    tilt_scores = [s.scores["Structural Support Stability"] for s in steps if s.factor == "horizon_tilt"]
    assert effects.at["horizon_tilt", "Structural Support Stability"] == pytest.approx(
        max(tilt_scores) - min(tilt_scores)
    )
    assert "Structural Support Stability" in moving_attributes(table, "horizon_tilt")
    assert "Exposure Control" not in moving_attributes(table, "horizon_tilt", min_change=0.01, top=13)


def test_an_unknown_factor_is_refused():
    from portraitcraft.lab.series import one_factor_series

    with pytest.raises(ValueError, match="'tilt' is not a primary factor"):
        one_factor_series("tilt")


# --- reproducibility -----------------------------------------------------------------------------------------

def test_data_fingerprint_follows_the_files_and_counts_images(lab, tmp_path):
    first = data_fingerprint(lab)
    assert first["images"] == 2 + N_TEST
    assert {"track_1_train.json", "track_1_test.json", GROUND_TRUTH_FILE} <= set(first["files"])
    assert data_fingerprint(lab)["sha256"] == first["sha256"]
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in first["files"]:
        shutil.copyfile(lab / name, copy / name)
    moved = data_fingerprint(copy)
    assert moved["sha256"] == first["sha256"] and moved["images"] == 0
    with open(copy / "track_1_test.json", "a", encoding="utf-8") as handle:
        handle.write("\n")
    assert data_fingerprint(copy)["sha256"] != first["sha256"]


def test_reproducibility_record_names_versions_data_and_runs(lab, predictions_file):
    import datetime as dt

    record = reproducibility_record(lab, [predictions_file], settings={"data": str(lab)},
                                             now=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc))
    assert record["date"] == "2026-01-02T03:04:05+00:00"
    assert record["packages"]["numpy"] == np.__version__
    assert record["data"]["images"] == 2 + N_TEST
    assert record["predictions"][0]["records"] == N_TEST
    assert record["predictions"][0]["runs"] == [RUN]
    assert record["settings"] == {"data": str(lab)}
    json.dumps(record)  # plain JSON types throughout
    assert package_versions(["no-such-package-here"]) == {"no-such-package-here": None}


def test_prediction_timing_and_the_baseline_model_lookup(errors, predictions_file, tmp_path):
    timing = prediction_timing(errors.details)
    seconds = [2.0] + [1.0 + i for i in range(N_TEST - 1)]
    assert timing["records_with_seconds"] == N_TEST
    assert timing["total_s"] == pytest.approx(sum(seconds))
    assert timing["median_s"] == pytest.approx(float(np.median(seconds)))
    assert find_baseline_model(predictions_file) is None  # not the feature baseline's file
    model_dir = tmp_path / "somewhere" / "model"
    model_dir.mkdir(parents=True)
    (model_dir / "manifest.json").write_text("{}", encoding="utf-8")
    path = tmp_path / "features.jsonl"
    with PredictionWriter(path) as writer:
        writer.write(ok_record("a.jpg", {"total_score": 50, "criteria": {}, "answer": "A"},
                               run={"backend": "features", "model": f"{model_dir}#0123456789ab"}))
    assert find_baseline_model(path) == model_dir


MEASUREMENTS = Path(__file__).resolve().parents[1] / "book" / "measurements"


@pytest.mark.parametrize("name, rows, first_columns", [
    ("gpu_bench_qwen-h200-2026-11-27.json", 6, ["protocol", "batch", "status", "images/s"]),
    ("gpu_bench_finetune-h200-2026-11-27.json", 3, ["setting", "precision", "status", "images/s", "s/step"]),
])
def test_the_committed_gpu_measurements_read_as_tables(name, rows, first_columns):
    bench = read_gpu_benchmark(MEASUREMENTS / name)
    assert len(bench.results) == rows
    assert [c for c in bench.results.columns if c in first_columns] == first_columns
    assert (bench.results["status"] == "ok").all() and (bench.results["peak GiB"] > 0).all()
    assert bench.gpu == "NVIDIA H200"
    assert "status" not in bench.table().columns and "peak GiB" in bench.table().columns  # all ok: no status shown
    assert "torch 2.11.0" in bench.describe() and name in bench.describe()


def test_columns_shared_by_every_row_move_to_the_caption():
    bench = read_gpu_benchmark(MEASUREMENTS / "gpu_bench_finetune-h200-2026-11-27.json")
    assert bench.shared() == {"batch": "4 x 4", "tokens/image": 1256}
    assert list(bench.table().columns) == ["setting", "precision", "images/s", "s/step", "trainable", "peak GiB"]
    assert "; in every row: batch 4 x 4, tokens/image 1256" in bench.describe()
    assert read_gpu_benchmark(MEASUREMENTS / "gpu_bench_qwen-h200-2026-11-27.json").shared() == {}


def test_a_failed_gpu_setting_keeps_its_status_in_the_table(tmp_path):
    report = json.loads((MEASUREMENTS / "gpu_bench_qwen-h200-2026-11-27.json").read_text())
    report["results"][-1].update(status="out_of_memory", images_per_second=None)
    (tmp_path / "oom.json").write_text(json.dumps(report))
    table = read_gpu_benchmark(tmp_path / "oom.json").table()
    assert table["status"].tolist() == ["ok"] * 5 + ["out_of_memory"]


def test_a_file_that_is_not_a_gpu_measurement_is_refused_by_name(tmp_path):
    other = tmp_path / "features.json"
    other.write_text(json.dumps({"seconds": 1.0}))
    with pytest.raises(DataError, match="features.json: not a GPU benchmark JSON file"):
        read_gpu_benchmark(other)
    with pytest.raises(DataError, match="missing.json"):
        read_gpu_benchmark(tmp_path / "missing.json")
