"""Scoring end to end: ground truth forms, alignment, every edge case of the semantics, the report and the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from scipy import stats
from typer.testing import CliRunner

from portraitcraft.attributes import ATTRIBUTE_NAMES, LEVEL_TO_LETTER, LEVELS, NOT_RESPONDED, level_from_score
from portraitcraft.cli import app
from portraitcraft.evaluation import evaluate
from portraitcraft.labels import GroundTruthError, load_ground_truth
from portraitcraft.predictions import read_predictions

from strategies import prediction_file_text

RNG = np.random.default_rng(7)
N_ATTR = len(ATTRIBUTE_NAMES)


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def gt_record(name: str, scores: list[float], total: float, answer: str | None = "A") -> dict:
    """A record of the lab's ground-truth file: criteria {attribute: {score, reason}}, total, question, answer."""
    record = {"image_path": name, "criteria": {a: {"score": s, "reason": "r"} for a, s in zip(ATTRIBUTE_NAMES, scores)},
              "total_score": total}
    if answer is not None:
        record.update(question="q", options={k: k for k in "ABCD"}, answer=answer)
    return record


def random_truth(n: int, answers: bool = True) -> list[dict]:
    return [gt_record(f"img_{i:03d}.jpg", list(np.round(RNG.uniform(2, 9.5, N_ATTR), 1)),
                      int(RNG.integers(20, 95)), str(RNG.choice(list("ABCD"))) if answers else None)
            for i in range(n)]


def truth_levels(record: dict) -> list[str]:
    return [level_from_score(record["criteria"][a]["score"]) for a in ATTRIBUTE_NAMES]


def raw_prediction(name: str, levels: list[str], score, answer) -> dict:
    return {"image_path": name, "total_score": score, "criteria": dict(zip(ATTRIBUTE_NAMES, levels)), "answer": answer}


# --- ground truth ----------------------------------------------------------------------------------------------------

def test_ground_truth_forms_give_the_same_levels(tmp_path):
    scores = [1.0, 4.99, 5.0, 6.99, 7.0, 10.0, 3, 5.5, 8, 0, 6, 9, 2]
    expected = [LEVELS.index(level_from_score(s)) for s in scores]
    words = [level_from_score(s) for s in scores]
    forms = {
        "scores": {a: {"score": s} for a, s in zip(ATTRIBUTE_NAMES, scores)},
        "letters": {a: {"level": LEVEL_TO_LETTER[w].lower()} for a, w in zip(ATTRIBUTE_NAMES, words)},
        "words": {a: {"level": f" {w.upper()} "} for a, w in zip(ATTRIBUTE_NAMES, words)},
        "bare": {a: w for a, w in zip(ATTRIBUTE_NAMES, words)},
    }
    for form, criteria in forms.items():
        truth = load_ground_truth(write_json(tmp_path / f"{form}.json",
                                            [{"image_path": "a.jpg", "criteria": criteria, "total_score": "57"}]))
        assert truth.levels.tolist() == [expected], form
        assert truth.total_score.tolist() == [57.0]
        assert not truth.qa_available


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r["criteria"]["Sharpness"].update(score=11), "'Sharpness': no level"),
    (lambda r: r["criteria"].pop("Subject Integrity"), "'Subject Integrity': no level"),
    (lambda r: r.update(total_score="high"), "total_score 'high' is not a number"),
    (lambda r: r.update(answer="E"), "answer 'E' is not a letter A-D"),
    (lambda r: r.pop("image_path"), "record 1: missing or empty 'image_path'"),
    (lambda r: r.update(image_path="img_000.jpg"), "image listed twice (first at record 0)"),
    (lambda r: r.pop("answer"), "record 1 has no answer while record 0 has one"),
])
def test_bad_ground_truth_is_refused_naming_the_record(tmp_path, mutate, message):
    records = random_truth(3)
    mutate(records[1])
    path = write_json(tmp_path / "gt.json", records)
    with pytest.raises(GroundTruthError) as error:
        load_ground_truth(path)
    assert str(path) in str(error.value) and message in str(error.value)


def test_hidden_labels_are_refused(tmp_path):
    hidden = {"image_path": "a.jpg", "criteria": {a: {"level": "x"} for a in ATTRIBUTE_NAMES}, "total_score": 0,
              "question": "q", "options": {k: k for k in "ABCD"}, "answer": "x"}
    with pytest.raises(GroundTruthError, match="hidden labels cannot be scored"):
        load_ground_truth(write_json(tmp_path / "test.json", [hidden]))


def test_hidden_published_test_file_is_refused_by_the_cli(real_sample):
    result = CliRunner().invoke(app, ["evaluate", "-p", str(real_sample / "track_1_submission_example.json"),
                                      "-g", str(real_sample / "track_1_test.json")])
    assert result.exit_code == 2
    assert "hidden labels cannot be scored" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_folder_is_read_through_its_ground_truth_file(tmp_path):
    write_json(tmp_path / "track_1_test_ground_truth.json", random_truth(2))
    assert len(load_ground_truth(tmp_path)) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GroundTruthError, match="a folder without"):
        load_ground_truth(empty)


# --- every edge case against an independent computation ---------------------------------------------------------------

@pytest.fixture
def edge_case_files(tmp_path):
    """Ten ground-truth images and raw predictions exercising every rule of the semantics."""
    truth = random_truth(10)
    predictions = []
    for i, record in enumerate(truth):
        levels = truth_levels(record)
        levels[i % N_ATTR] = LEVELS[(LEVELS.index(levels[i % N_ATTR]) + 1) % 3]  # one wrong level each
        # kept within 1-100: a total outside it is invalid, a rule of its own tested elsewhere
        score = min(100, max(1, record["total_score"] + int(RNG.integers(-15, 15))))
        predictions.append(raw_prediction(record["image_path"], levels, score, record["answer"]))
    p = {r["image_path"]: r for r in predictions}
    p["img_000.jpg"]["total_score"] = "64.5"  # a numeric string is a valid score
    p["img_001.jpg"]["total_score"] = "about 60"  # invalid: imputed
    p["img_002.jpg"]["total_score"] = True  # invalid: imputed
    p["img_003.jpg"]["criteria"]["Sharpness"] = "C"  # letter in raw output: invalid
    p["img_003.jpg"]["criteria"]["Exposure Control"] = NOT_RESPONDED
    p["img_004.jpg"]["criteria"]["Color Harmony"] = f"  {truth_levels(truth[4])[0].lower()} "  # trimmed, any case
    p["img_005.jpg"]["answer"] = " b "
    p["img_006.jpg"]["answer"] = "Z"
    del p["img_007.jpg"]["criteria"]["Visual Flow Guidance"]
    del p["img_009.jpg"]  # no prediction at all
    predictions = list(p.values()) + [raw_prediction("other.jpg", ["Good"] * N_ATTR, 99, "A")]  # not in the truth
    return write_json(tmp_path / "gt.json", truth), write_json(tmp_path / "raw.json", predictions), truth, p


def independent_scores(truth: list[dict], predictions: dict, skip: bool = False) -> dict[str, float]:
    """The semantics written out by hand, record by record, with scipy for the correlations."""
    right_levels, right_answers, scores = 0, 0, []
    for record in truth:
        p = predictions.get(record["image_path"])
        value = p["total_score"] if p else None
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                value = None
        scores.append(None if isinstance(value, bool) or value is None else float(value))
        if p is None:
            continue
        for attribute, level in zip(ATTRIBUTE_NAMES, truth_levels(record)):
            written = p["criteria"].get(attribute)
            right_levels += isinstance(written, str) and written.strip().capitalize() == level
        right_answers += isinstance(p["answer"], str) and p["answer"].strip().upper() == record["answer"]
    valid = [s for s in scores if s is not None]
    true_totals = [r["total_score"] for r in truth]
    if skip:
        pairs = [(s, t) for s, t in zip(scores, true_totals) if s is not None]
        x, y = [s for s, _ in pairs], [t for _, t in pairs]
    else:
        x, y = [s if s is not None else sum(valid) / len(valid) for s in scores], true_totals
    out = {"srcc": stats.spearmanr(x, y).statistic, "plcc": stats.pearsonr(x, y).statistic,
           "level_acc": right_levels / (13 * len(truth)), "qa_acc": right_answers / len(truth)}
    out["overall"] = (out["srcc"] + out["plcc"] + out["level_acc"] + out["qa_acc"]) / 4
    return out


@pytest.mark.parametrize("skip", [False, True])
def test_every_edge_case_matches_the_semantics(edge_case_files, skip):
    gt_path, pred_path, truth, predictions = edge_case_files
    report = evaluate(pred_path, gt_path, n_bootstrap=200, seed=1, skip_invalid_scores=skip)
    expected = independent_scores(truth, predictions, skip=skip)
    for name, value in expected.items():
        assert report.values[name] == pytest.approx(value, abs=1e-12), name
    coverage = report.scored.coverage
    assert (coverage["srcc"]["valid"], coverage["srcc"]["total"]) == (7, 10)  # img_001, 002 invalid; 009 missing
    assert (coverage["level_acc"]["valid"], coverage["level_acc"]["total"]) == (9 * 13 - 3, 130)
    assert (coverage["qa_acc"]["valid"], coverage["qa_acc"]["total"]) == (8, 10)
    assert (coverage["overall"]["valid"], coverage["overall"]["total"]) == (9, 10)
    flags = " ".join(report.flags)
    assert "1 predictions for images outside the ground truth were ignored" in flags
    assert "1 of 10 ground-truth images have no prediction" in flags
    assert ("left out of SRCC/PLCC" if skip else "imputed with the mean of the 7 valid") in flags
    per_image = report.per_image.set_index("image_path")
    assert per_image.loc["img_001.jpg", "score_imputed"] != skip
    assert not per_image.loc["img_000.jpg", "score_imputed"]
    for name in ("srcc", "plcc", "level_acc", "qa_acc", "overall"):
        interval = report.ci[name]
        assert interval.low <= interval.high and interval.resamples == 200


def test_per_attribute_tables_agree_with_the_level_matrix(edge_case_files):
    gt_path, pred_path, truth, predictions = edge_case_files
    report = evaluate(pred_path, gt_path, n_bootstrap=0)
    table = report.per_attribute.set_index("attribute")
    sharpness = ATTRIBUTE_NAMES.index("Sharpness")
    right = sum(1 for r in truth if r["image_path"] in predictions
                and predictions[r["image_path"]]["criteria"].get("Sharpness") == truth_levels(r)[sharpness])
    assert table.loc["Sharpness", "accuracy"] == pytest.approx(right / 10)
    assert table.loc["Sharpness", "valid"] == 8  # img_003 wrote "C", img_009 is missing
    assert report.confusion.loc["Sharpness"].to_numpy().sum() == 10
    assert report.confusion.loc["Sharpness", "invalid"].sum() == 2
    assert report.ci is None


def test_constant_predictions_give_nan_correlations_and_nan_overall(tmp_path):
    truth = random_truth(12)
    predictions = [raw_prediction(r["image_path"], truth_levels(r), 62, r["answer"]) for r in truth]
    report = evaluate(write_json(tmp_path / "p.json", predictions), write_json(tmp_path / "gt.json", truth),
                      n_bootstrap=50)
    assert math.isnan(report.values["srcc"]) and math.isnan(report.values["plcc"])
    assert math.isnan(report.values["overall"])
    assert report.values["level_acc"] == 1.0 and report.values["qa_acc"] == 1.0
    assert any("constant (all 62)" in flag and "not counted as 0" in flag for flag in report.flags)
    assert report.ci["srcc"].undefined == 50


def test_no_valid_score_at_all(tmp_path):
    truth = random_truth(5)
    predictions = [raw_prediction(r["image_path"], truth_levels(r), "?", r["answer"]) for r in truth]
    report = evaluate(write_json(tmp_path / "p.json", predictions), write_json(tmp_path / "gt.json", truth),
                      n_bootstrap=20)
    assert math.isnan(report.values["srcc"]) and math.isnan(report.values["overall"])
    assert any("no valid total_score" in flag for flag in report.flags)


def test_without_questions_qa_is_not_available_and_overall_uses_three_metrics(tmp_path):
    truth = random_truth(15, answers=False)
    predictions = [raw_prediction(r["image_path"], truth_levels(r), r["total_score"] + i % 4, "A")
                   for i, r in enumerate(truth)]
    report = evaluate(write_json(tmp_path / "p.json", predictions), write_json(tmp_path / "gt.json", truth),
                      n_bootstrap=30)
    values = report.values
    assert math.isnan(values["qa_acc"]) and not report.truth.qa_available
    assert values["overall"] == pytest.approx((values["srcc"] + values["plcc"] + values["level_acc"]) / 3)
    assert any("QA not available" in flag for flag in report.flags)
    assert "QA Acc" in report.to_text() and "(not available)" in report.to_text()


def test_bootstrap_is_seeded_and_compare_is_paired(edge_case_files, tmp_path):
    gt_path, pred_path, truth, predictions = edge_case_files
    first = evaluate(pred_path, gt_path, n_bootstrap=100, seed=5)
    again = evaluate(pred_path, gt_path, n_bootstrap=100, seed=5)
    other_seed = evaluate(pred_path, gt_path, n_bootstrap=100, seed=6)
    assert first.ci["srcc"] == again.ci["srcc"]
    assert first.ci["srcc"] != other_seed.ci["srcc"]

    same = evaluate(pred_path, gt_path, n_bootstrap=100, compare=pred_path)
    for name in ("srcc", "plcc", "level_acc", "qa_acc", "overall"):
        assert same.comparison.difference[name] == 0.0
        assert (same.comparison.ci[name].low, same.comparison.ci[name].high) == (0.0, 0.0)

    worse = [{**p, "answer": "D" if p["answer"] != "D" else "A"} for p in predictions.values()]
    worse_path = write_json(tmp_path / "worse.json", worse)
    paired = evaluate(pred_path, gt_path, n_bootstrap=100, compare=worse_path)
    difference = paired.comparison.difference["qa_acc"]
    assert difference == pytest.approx(paired.values["qa_acc"] - paired.comparison.scored.values["qa_acc"])
    assert difference > 0 and paired.comparison.ci["qa_acc"].low > 0
    assert paired.comparison.p_value["qa_acc"] < 0.05  # consistent with a 95% interval above 0


def test_submission_and_raw_formats_score_alike(tmp_path):
    truth = random_truth(20)
    raw, submission = [], []
    for i, r in enumerate(truth):
        levels = truth_levels(r)
        levels[i % N_ATTR] = "Poor" if levels[i % N_ATTR] != "Poor" else "Good"
        raw.append(raw_prediction(r["image_path"], levels, r["total_score"] - i, r["answer"]))
        submission.append(
            {**raw[-1], "criteria": {a: {"level": LEVEL_TO_LETTER[v]} for a, v in zip(ATTRIBUTE_NAMES, levels)}}
        )
    gt = load_ground_truth(write_json(tmp_path / "gt.json", truth))
    a = evaluate(write_json(tmp_path / "raw.json", raw), gt, n_bootstrap=50)
    b = evaluate(write_json(tmp_path / "sub.json", submission), gt, n_bootstrap=50)
    assert a.values == b.values and a.ci == b.ci


# --- the real sample --------------------------------------------------------------------------------------------------

def test_real_raw_and_submission_examples_score_identically(real_sample, tmp_path):
    """A ground truth built here for the one real test image: every level Good, answer C, total 70."""
    name = "unsplash_people_00888_877bfef7968d.jpg"
    truth = write_json(
        tmp_path / "gt.json",
        [
            {
                "image_path": name,
                "criteria": {a: {"level": "C"} for a in ATTRIBUTE_NAMES},
                "total_score": 70,
                "question": "q",
                "answer": "C",
            }
        ],
    )
    raw = evaluate(real_sample / "track_1_raw_output_example.json", truth, n_bootstrap=10)
    submission = evaluate(real_sample / "track_1_submission_example.json", truth, n_bootstrap=10)
    # The model wrote Good for one attribute only (Depth of Field and Layering); its "C" for Subject
    # Integrity is invalid in raw output (NOT_RES in the submission), so it does not count as Good.
    assert raw.values["level_acc"] == pytest.approx(1 / 13)
    assert raw.values["qa_acc"] == 1.0
    for key in ("srcc", "plcc", "level_acc", "qa_acc", "overall"):
        assert raw.values[key] == pytest.approx(submission.values[key], nan_ok=True)
    assert raw.per_image.loc[0, "predicted:Subject Integrity"] is None
    assert raw.per_attribute.set_index("attribute").loc["Subject Integrity", "valid"] == 0
    assert math.isnan(raw.values["srcc"])  # one image: a correlation is undefined, and flagged
    assert any("fewer than two" in flag for flag in raw.flags)


# --- the report and the command ---------------------------------------------------------------------------------------

def test_json_report_is_strict_json_with_leaderboard_keys_on_top(edge_case_files, tmp_path):
    gt_path, pred_path, _, _ = edge_case_files
    out = tmp_path / "report" / "eval.json"
    result = CliRunner().invoke(app, ["evaluate", "-p", str(pred_path), "-g", str(gt_path), "--json", str(out),
                                      "--bootstrap", "100", "--seed", "3", "--compare", str(pred_path)])
    assert result.exit_code == 0, result.output
    for label in ("SRCC", "PLCC", "Level Acc", "QA Acc", "Overall", "95% CI", "coverage", "Semantics"):
        assert label in result.stderr
    assert result.stdout == ""  # standard output carries data only when asked: --json -
    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")
    data = json.loads(out.read_text(encoding="utf-8"), parse_constant=refuse)
    report = evaluate(pred_path, gt_path, n_bootstrap=100, seed=3)
    for key in ("srcc", "plcc", "level_acc", "qa_acc", "overall", "plcc_logistic"):
        assert data[key] == pytest.approx(report.values[key])
        assert data["ci"][key]["low"] == pytest.approx(report.ci[key].low)
        assert set(data["coverage"][key]) == {"of", "valid", "total", "share"}
    assert len(data["per_attribute"]) == 13 and set(data["confusion"]) == set(ATTRIBUTE_NAMES)
    assert data["semantics"] and data["settings"]["seed"] == 3
    assert data["predictions"]["format"] == "raw" and data["predictions"]["ignored_images"] == 1
    assert data["comparison"]["difference"]["overall"]["value"] == 0.0


def test_skip_invalid_scores_option(edge_case_files):
    gt_path, pred_path, _, _ = edge_case_files
    result = CliRunner().invoke(app, ["evaluate", "-p", str(pred_path), "-g", str(gt_path), "--bootstrap", "0",
                                      "--skip-invalid-scores"])
    assert result.exit_code == 0 and "left out of SRCC/PLCC" in result.stderr


@pytest.mark.parametrize("which", ["predictions", "ground_truth", "compare"])
def test_unreadable_files_exit_2_with_one_line(edge_case_files, tmp_path, which):
    gt_path, pred_path, _, _ = edge_case_files
    broken = tmp_path / "broken.json"
    broken.write_text('[{"image_path": "a.jpg", "total_score": 5', encoding="utf-8")
    args = {"predictions": pred_path, "ground_truth": gt_path, "compare": None}
    args[which] = broken
    command = ["evaluate", "-p", str(args["predictions"]), "-g", str(args["ground_truth"])]
    if args["compare"]:
        command += ["--compare", str(args["compare"])]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {broken}:1:") and "Traceback" not in result.output


# --- property-based: malformed prediction files through evaluate ------------------------------------------------------

@pytest.fixture(scope="module")
def small_truth(tmp_path_factory) -> Path:
    records = [gt_record(f"g{i}.jpg", [3 + i] * N_ATTR, 30 + 20 * i, "ABC"[i]) for i in range(3)]
    return write_json(tmp_path_factory.mktemp("gt") / "gt.json", records)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=prediction_file_text(["g0.jpg", "g1.jpg", "g2.jpg", "other.jpg"]))
def test_evaluate_never_shows_a_traceback(small_truth, tmp_path, text):
    predictions = tmp_path / "pred.json"
    predictions.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["evaluate", "-p", str(predictions), "-g", str(small_truth), "--bootstrap", "20",
                                      "--json", str(tmp_path / "r.json")])
    assert result.exit_code in (0, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {predictions}")
    else:
        data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
        assert 0.0 <= data["level_acc"] <= 1.0 and 0.0 <= data["qa_acc"] <= 1.0
        assert data["coverage"]["level_acc"]["valid"] <= 39
        # Every counted-right level comes from a valid prediction of a ground-truth image.
        assert data["level_acc"] * 39 <= data["coverage"]["level_acc"]["valid"] + 1e-9
        assert data["qa_acc"] * 3 <= data["coverage"]["qa_acc"]["valid"] + 1e-9
        assert data["n_images"] == 3 and len(read_predictions(predictions)) >= data["coverage"]["overall"]["valid"]


def test_json_dash_writes_the_report_to_stdout_and_the_table_to_stderr(edge_case_files, tmp_path, monkeypatch):
    gt_path, pred_path, _, _ = edge_case_files
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["evaluate", "-p", str(pred_path), "-g", str(gt_path), "--json", "-",
                                      "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["srcc"] == pytest.approx(evaluate(pred_path, gt_path, n_bootstrap=0).values["srcc"])
    assert "SRCC" in result.stderr and not (tmp_path / "-").exists()
    submission = CliRunner().invoke(app, ["submission", str(pred_path), "--test-file", str(gt_path), "--out", "-"])
    assert submission.exit_code == 0, submission.output
    assert len(json.loads(submission.stdout)) == 10
    assert submission.stderr.startswith("wrote standard output: 10 images") and "/tmp" not in submission.stderr
    assert not (tmp_path / "-").exists()
