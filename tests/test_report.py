"""The paper's artifacts as data (portraitcraft.figure2, table2, table3 and paper; `portraitcraft report`): each
number is checked against an independent computation on the raw JSON records (plain Python, numpy, scipy), on a
tiny lab and on the real sample."""

from __future__ import annotations

import json
import math
import shutil
import statistics
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from portraitcraft.attributes import ANSWER_LETTERS, ATTRIBUTE_NAMES, LEVELS, level_from_score
from portraitcraft.cli import app
from portraitcraft.data import GROUND_TRUTH_FILE
from portraitcraft.figure2 import attribute_correlation, figure2a, figure2b, level_distribution
from portraitcraft.labels import load_ground_truth, validation_split
from portraitcraft.predictions import PredictionWriter, distinct_labels, ok_record
from portraitcraft.sources import open_dataset
from portraitcraft.table2 import (
    LENGTH_DEFINITIONS,
    REPORTED_TABLE2,
    TABLE2_COLUMNS,
    closest_definitions,
    compare_with_paper,
    table2,
)
from portraitcraft.table3 import TABLE3_COLUMNS, chance_predictions, reproduce_table3, table3

REPORTED_MEANS = {"train": 2237.0, "test": 2230.8}  # the paper's Table 2, as printed there


@pytest.fixture(scope="module")
def lab(make_lab) -> Path:
    return make_lab(n_train=12, n_test=6, n_track2_train=4, n_track2_test=3, seed=3, long_side=64)


@pytest.fixture(scope="module")
def lab_dataset(lab: Path):
    return open_dataset(lab, reveal_ground_truth=True)


def records(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))


def plain_lengths(record: dict) -> dict[str, int]:
    content, composition = record["content_description"], record["composition_analysis"]
    return {
        "characters": len(content) + len(composition),
        "characters_no_whitespace": sum(not ch.isspace() for ch in content + composition),
        "composition_only": len(composition),
        "words": len(content.split()) + len(composition.split()),
    }


def expected_length_rows(by_split: dict[str, list[dict]]) -> dict[tuple[str, str], dict[str, float]]:
    expected = {}
    pooled = [r for rs in by_split.values() for r in rs]
    for definition in LENGTH_DEFINITIONS:
        for split, rs in [*by_split.items(), ("overall", pooled)]:
            values = [plain_lengths(r)[definition] for r in rs]
            mean = statistics.fmean(values)
            expected[definition, split] = {
                "samples": len(values), "mean": mean,
                "std": statistics.stdev(values) if len(values) > 1 else math.nan,
                "median": statistics.median(values), "min": min(values), "max": max(values),
                "avg_attr_length": mean / 13,
            }
    return expected


def assert_table2_equals(frame: pd.DataFrame, expected: dict) -> None:
    assert list(frame.columns) == ["definition", "split", "samples", "mean", "std", "median", "min", "max",
                                   "avg_attr_length"]
    assert len(frame) == len(expected)
    for row in frame.to_dict(orient="records"):
        want = expected[row["definition"], row["split"]]
        for column, value in want.items():
            assert row[column] == pytest.approx(value, nan_ok=True), (row["definition"], row["split"], column)


# ---- Table 2 -------------------------------------------------------------------------------------------------


def test_table2_equals_plain_python_on_the_lab(lab: Path, lab_dataset):
    by_split = {split: records(lab / f"track_2_{split}.json") for split in ("train", "test")}
    table = table2(lab_dataset)
    assert_table2_equals(table.frame, expected_length_rows(by_split))
    assert table.notes == []
    # overall pools the splits: its samples are all records
    overall = table.frame[table.frame["split"] == "overall"]
    assert (overall["samples"] == 7).all() and len(overall) == 4


def test_table2_on_the_real_sample_covers_train_and_says_the_test_file_is_missing(real_sample: Path):
    dataset = open_dataset(real_sample)
    table = table2(dataset)
    train = records(real_sample / "track_2_train.json")
    assert_table2_equals(table.frame, expected_length_rows({"train": train}))
    assert any("track_2_test.json" in note for note in table.notes)

    # ranking by distance to the reported train mean (the only split both have)
    distance = {d: abs(statistics.fmean(plain_lengths(r)[d] for r in train) - REPORTED_MEANS["train"])
                for d in LENGTH_DEFINITIONS}
    ranking = closest_definitions(table)
    assert ranking["definition"].tolist() == sorted(distance, key=distance.get)
    assert ranking["mean_abs_difference"].tolist() == pytest.approx(sorted(distance.values()))
    assert set(ranking["splits"]) == {"train"} and ranking["rank"].tolist() == [1, 2, 3, 4]


def test_reported_table2_is_the_papers_whole_table():
    paper = {  # split: samples, mean, std, median, range, avg. attribute length, as printed in the paper
        "train": (4500, 2237.0, 251.4, 2214, (1459, 3389), 172.0),
        "test": (500, 2230.8, 240.2, 2215, (1567, 3163), 171.2),
        "overall": (5000, 2236.4, 250.3, 2214, (1459, 3389), 171.9),
    }
    for row in REPORTED_TABLE2.to_dict(orient="records"):
        assert (row["samples"], row["mean"], row["std"], row["median"], (row["min"], row["max"]),
                row["avg_attr_length"]) == paper[row["split"]]
    assert list(REPORTED_TABLE2["split"]) == list(paper)


def test_comparison_with_the_paper_gives_each_statistics_relative_difference(lab_dataset):
    table = table2(lab_dataset)
    compared = compare_with_paper(table)
    assert len(compared) == len(table.frame)  # train, test and overall are all in the paper
    row = compared[(compared["definition"] == "characters") & (compared["split"] == "test")].iloc[0]
    computed = table.frame.set_index(["definition", "split"]).loc[("characters", "test")]
    for statistic in ("samples", "mean", "std", "median", "min", "max", "avg_attr_length"):
        reported = REPORTED_TABLE2.set_index("split").loc["test", statistic]
        assert row[f"{statistic}_reported"] == reported
        assert row[f"{statistic}_difference"] == pytest.approx((computed[statistic] - reported) / reported)
    # the lab's short synthetic texts are far from the paper's: nothing matches within the tolerance
    assert not closest_definitions(table)["matches"].any()
    assert set(closest_definitions(table)["splits"]) == {"train, test"}


def test_table2_without_track2_files_is_empty_with_a_note(lab: Path, tmp_path: Path):
    shutil.copy(lab / "track_1_train.json", tmp_path / "track_1_train.json")
    table = table2(open_dataset(tmp_path))
    assert table.frame.empty and list(table.frame.columns) == list(TABLE2_COLUMNS)
    assert any("track_2_train.json" in note for note in table.notes)
    assert closest_definitions(table).empty


# ---- Figure 2 ------------------------------------------------------------------------------------------------


def lab_totals(lab: Path) -> dict[str, np.ndarray]:
    return {"train": np.array([r["total_score"] for r in records(lab / "track_1_train.json")], float),
            "test": np.array([r["total_score"] for r in records(lab / GROUND_TRUTH_FILE)], float)}


def test_figure2a_summary_curves_and_tests_equal_numpy_and_scipy(lab: Path, lab_dataset):
    totals = lab_totals(lab)
    result = figure2a(lab_dataset, grid_points=50)
    summary = result.summary.set_index("split")
    assert list(summary.index) == ["train", "test"]
    for split, values in totals.items():
        row = summary.loc[split]
        assert row["n"] == len(values)
        assert row["mean"] == pytest.approx(np.mean(values))
        assert row["std"] == pytest.approx(np.std(values, ddof=1))
        assert row["median"] == pytest.approx(np.median(values))
        assert (row["min"], row["max"]) == (values.min(), values.max())
        curve = result.curves[result.curves["split"] == split]
        grid = np.linspace(1, 100, 50)
        assert curve["score"].to_numpy() == pytest.approx(grid)
        assert curve["density"].to_numpy() == pytest.approx(stats.gaussian_kde(values)(grid))
    u = stats.mannwhitneyu(totals["train"], totals["test"], alternative="two-sided")
    ks = stats.ks_2samp(totals["train"], totals["test"])
    assert (result.test.n_first, result.test.n_second) == (12, 6)
    assert result.test.mann_whitney_u == pytest.approx(u.statistic)
    assert result.test.mann_whitney_p == pytest.approx(u.pvalue)
    assert result.test.ks_statistic == pytest.approx(ks.statistic)
    assert result.test.ks_p == pytest.approx(ks.pvalue)


def test_figure2a_draws_no_density_from_too_few_scores(lab_dataset):
    result = figure2a(lab_dataset, grid_points=20, min_scores=7)  # train has 12 labelled images, test 6
    assert set(result.curves["split"]) == {"train"} and set(result.summary["split"]) == {"train", "test"}
    assert any(note.startswith("test: 6 labelled images, too few for a density curve") for note in result.notes)


def test_split_claims_are_brown_forsythe_and_welch_computed_by_hand(lab: Path, lab_dataset):
    from portraitcraft.figure2 import SplitClaims, split_claims

    totals = lab_totals(lab)
    train, test = totals["train"].astype(float), totals["test"].astype(float)
    claims = split_claims(lab_dataset)
    assert claims.checkable and (claims.n_train, claims.n_test) == (12, 6)
    assert (claims.std_test, claims.std_train) == pytest.approx((test.std(ddof=1), train.std(ddof=1)))
    # Brown-Forsythe: a one-way ANOVA of the absolute deviations from each group's median.
    anova = stats.f_oneway(np.abs(test - np.median(test)), np.abs(train - np.median(train)))
    assert (claims.spread_statistic, claims.spread_p) == pytest.approx((anova.statistic, anova.pvalue))
    # Welch's t, test minus train, one-sided (test lower), with the Welch-Satterthwaite degrees of freedom.
    va, vb = test.var(ddof=1) / test.size, train.var(ddof=1) / train.size
    t = (test.mean() - train.mean()) / np.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / (test.size - 1) + vb**2 / (train.size - 1))
    assert (claims.welch_t, claims.welch_p) == pytest.approx((t, stats.t.cdf(t, dof)))

    hidden = split_claims(open_dataset(lab))  # the published layout: test labels hidden
    assert not hidden.checkable and "hidden" in hidden.why_not

    spread_and_lower = SplitClaims(True, std_train=10, std_test=14, mean_train=60, mean_test=55, spread_p=0.01,
                                   welch_p=0.2)
    assert spread_and_lower.verdict("spread") == "holds"
    assert spread_and_lower.verdict("mean") == "points the same way (not significant)"
    assert SplitClaims(True, std_train=10, std_test=8, spread_p=0.001).verdict("spread") == "does not hold"


def test_figure2a_with_hidden_test_labels_shows_train_only_and_says_why(real_sample: Path):
    result = figure2a(open_dataset(real_sample))
    train = [r["total_score"] for r in records(real_sample / "track_1_train.json")]
    assert result.summary["split"].tolist() == ["train"]
    assert result.summary.loc[0, "mean"] == pytest.approx(statistics.fmean(train))
    assert result.test is None
    assert any("hidden" in note and note.startswith("test") for note in result.notes)


def test_figure2b_means_follow_the_vocabulary_and_equal_the_records(lab: Path, lab_dataset):
    result = figure2b(lab_dataset)
    assert result.means["attribute"].tolist() == list(ATTRIBUTE_NAMES)
    assert result.splits == ["train", "test"]
    for split, file in (("train", "track_1_train.json"), ("test", GROUND_TRUTH_FILE)):
        rs = records(lab / file)
        expected = [statistics.fmean(r["criteria"][name]["score"] for r in rs) for name in ATTRIBUTE_NAMES]
        assert result.means[f"mean_{split}"].tolist() == pytest.approx(expected)
        assert (result.means[f"n_{split}"] == len(rs)).all()


def test_level_distribution_counts_the_benchmark_levels(lab: Path, lab_dataset):
    table = level_distribution(lab_dataset).set_index(["split", "attribute", "level"])
    rs = records(lab / "track_1_train.json")
    for name in ATTRIBUTE_NAMES:
        counts = Counter(level_from_score(r["criteria"][name]["score"]) for r in rs)
        for level in LEVELS:
            assert table.loc[("train", name, level), "images"] == counts[level]
            assert table.loc[("train", name, level), "share"] == pytest.approx(counts[level] / len(rs))


def test_attribute_correlation_is_spearman_over_labelled_images(lab: Path, lab_dataset):
    matrix = attribute_correlation(lab_dataset)
    rs = records(lab / "track_1_train.json") + records(lab / GROUND_TRUTH_FILE)
    first, second = ATTRIBUTE_NAMES[0], ATTRIBUTE_NAMES[3]
    expected = stats.spearmanr([r["criteria"][first]["score"] for r in rs],
                               [r["criteria"][second]["score"] for r in rs]).statistic
    assert matrix.shape == (13, 13)
    assert matrix.loc[first, second] == pytest.approx(expected)
    assert np.allclose(np.diag(matrix), 1.0)


# ---- Table 3 -------------------------------------------------------------------------------------------------


def test_reported_rows_are_the_papers_numbers_labelled_reported():
    table = table3([])
    reported = table[table["source"] == "reported"].set_index("method")
    assert reported.loc["Qwen3-VL-4B (zero-shot)", ["srcc", "plcc", "level_acc", "qa_acc"]].tolist() == [
        0.6726, 0.6420, 0.4290, 0.7825]
    assert reported.loc["Qwen3-VL-4B (fine-tuned)", ["srcc", "plcc", "level_acc", "qa_acc"]].tolist() == [
        0.7778, 0.7477, 0.4592, 0.8765]
    assert reported["overall"].isna().all() and reported["srcc_low"].isna().all()  # nothing made up
    assert list(table.columns) == list(TABLE3_COLUMNS)


def test_a_computed_row_on_few_images_or_with_few_valid_fields_carries_a_warning(lab: Path, lab_dataset):
    from portraitcraft.table3 import row_warning

    result = reproduce_table3(lab_dataset, n_bootstrap=20)
    computed = result.frame[result.frame["source"] == "computed"]
    assert computed["warning"].str.startswith("rests on 6 images (fewer than 30)").all()
    assert (result.frame.loc[result.frame["source"] == "reported", "warning"] == "").all()
    assert (computed["valid_share"] == 1.0).all()
    coverage = {"srcc": {"of": "valid total_score", "valid": 40, "total": 40, "share": 1.0},
                "level_acc": {"of": "valid levels", "valid": 358, "total": 520, "share": 358 / 520},
                "qa_acc": {"of": "valid answers", "valid": 10, "total": 40, "share": 0.25}}
    assert row_warning(40, coverage) == ("69% valid levels (358 of 520; less than 90%); 25% valid answers (10 of 40; "
                                         "less than 90%)")
    assert row_warning(40, coverage, qa_available=False) == "69% valid levels (358 of 520; less than 90%)"
    assert row_warning(30, {"srcc": coverage["srcc"]}) == ""


def test_chance_and_constant_mean_rows_are_computed_on_the_test_labels(lab: Path, lab_dataset):
    result = reproduce_table3(lab_dataset, n_bootstrap=100, seed=4)
    assert result.target.split == "test"
    computed = result.frame[result.frame["source"] == "computed"].set_index("method")
    assert set(computed.index) == {"Chance (uniform)", "Constant mean"}
    assert (computed["n_images"] == 6).all() and computed["qa_available"].all()

    truth_records = records(lab / GROUND_TRUTH_FILE)
    train_records = records(lab / "track_1_train.json")
    true_levels = [[level_from_score(r["criteria"][n]["score"]) for n in ATTRIBUTE_NAMES] for r in truth_records]

    # constant mean: the most frequent training level per attribute (ties: the lower level), answer "A"
    # (the lab's training split has no questions); its constant score leaves SRCC/PLCC/Overall undefined
    majority = []
    for name in ATTRIBUTE_NAMES:
        counts = Counter(level_from_score(r["criteria"][name]["score"]) for r in train_records)
        majority.append(max(LEVELS, key=lambda level: (counts[level], -LEVELS.index(level))))
    right = sum(level == majority[j] for row in true_levels for j, level in enumerate(row))
    constant = computed.loc["Constant mean"]
    assert constant["level_acc"] == pytest.approx(right / (13 * len(truth_records)))
    assert constant["qa_acc"] == pytest.approx(statistics.fmean(r["answer"] == "A" for r in truth_records))
    assert math.isnan(constant["srcc"]) and math.isnan(constant["plcc"]) and math.isnan(constant["overall"])

    # chance: whatever the generator drew, the row scores exactly those draws
    drawn = chance_predictions([r["image_path"] for r in truth_records], seed=4)
    assert drawn.image_paths == [r["image_path"] for r in truth_records]
    right = sum(
        LEVELS[code] == level for codes, row in zip(drawn.levels, true_levels) for code, level in zip(codes, row)
    )
    chance = computed.loc["Chance (uniform)"]
    assert chance["level_acc"] == pytest.approx(right / (13 * len(truth_records)))
    assert chance["qa_acc"] == pytest.approx(statistics.fmean(
        a == r["answer"] for a, r in zip(drawn.answers, truth_records)))
    assert chance["srcc"] == pytest.approx(stats.spearmanr(drawn.total_score,
                                                           [r["total_score"] for r in truth_records]).statistic)
    assert chance["level_acc_low"] <= chance["level_acc"] <= chance["level_acc_high"]


def test_chance_predictions_are_seeded_and_uniform_over_the_vocabulary():
    images = [f"img_{i}.jpg" for i in range(600)]
    first, again, other = (chance_predictions(images, seed=s) for s in (1, 1, 2))
    assert np.array_equal(first.levels, again.levels) and first.answers == again.answers
    assert not np.array_equal(first.levels, other.levels)
    assert set(np.unique(first.levels)) == {0, 1, 2} and set(first.answers) == set(ANSWER_LETTERS)
    assert first.total_score.min() >= 1 and first.total_score.max() <= 100
    assert abs(np.mean(first.levels == 1) - 1 / 3) < 0.05  # uniform, not skewed


def test_a_prediction_file_becomes_a_computed_row_named_from_its_run(lab: Path, lab_dataset, tmp_path: Path):
    truth = load_ground_truth(lab / GROUND_TRUTH_FILE)
    out = tmp_path / "perfect.jsonl"
    with PredictionWriter(out) as writer:
        for r in records(lab / GROUND_TRUTH_FILE):
            levels = {n: level_from_score(r["criteria"][n]["score"]) for n in ATTRIBUTE_NAMES}
            writer.write(
                ok_record(
                    r["image_path"],
                    {"total_score": r["total_score"], "criteria": levels, "answer": r["answer"]},
                    run={"model": "org/oracle", "protocol": "copy"},
                )
            )
    result = reproduce_table3(lab_dataset, [out], n_bootstrap=50)
    row = result.frame.set_index("method").loc["oracle (copy)"]
    assert row["source"] == "computed" and row["n_images"] == len(truth)
    assert (row["srcc"], row["plcc"], row["level_acc"], row["qa_acc"], row["overall"]) == pytest.approx((1, 1, 1, 1, 1))
    assert result.submissions == []  # the test labels are known: nothing to submit


def test_two_files_of_the_same_run_are_two_rows_each_named_by_its_file(lab: Path, lab_dataset, tmp_path: Path):
    """A rerun of one model (same metadata, other numbers) must not merge into the first run's row or legend."""
    files = []
    for folder, flip in (("first", False), ("second", True)):
        out = tmp_path / folder / "preds.jsonl"
        out.parent.mkdir()
        with PredictionWriter(out) as writer:
            for r in records(lab / GROUND_TRUTH_FILE):
                levels = {n: level_from_score(r["criteria"][n]["score"]) for n in ATTRIBUTE_NAMES}
                total = 101 - r["total_score"] if flip else r["total_score"]
                writer.write(
                    ok_record(
                        r["image_path"],
                        {"total_score": total, "criteria": levels, "answer": r["answer"]},
                        run={"model": "org/oracle", "protocol": "copy"},
                    )
                )
        files.append(out)
    frame = reproduce_table3(lab_dataset, files, n_bootstrap=20).frame.set_index("method")
    assert frame.loc["oracle (copy) [first/preds.jsonl]", "srcc"] == pytest.approx(1)
    assert frame.loc["oracle (copy) [second/preds.jsonl]", "srcc"] == pytest.approx(-1)


def test_distinct_labels_add_the_file_then_its_folder_only_where_needed():
    paths = ["a/x.jsonl", "b/y.jsonl", "c/y.jsonl", "d.json"]
    assert distinct_labels(["m", "m", "m", "n"], paths) == ["m [a/x.jsonl]", "m [b/y.jsonl]", "m [c/y.jsonl]", "n"]
    assert distinct_labels(["m", "m", "n", "o"], paths) == ["m [x.jsonl]", "m [y.jsonl]", "n", "o"]
    assert distinct_labels(["m", "m"], ["a/x.jsonl", "a/x.jsonl"]) == ["m [a/x.jsonl] #1", "m [a/x.jsonl] #2"]


def hidden_copy(lab: Path, target: Path) -> Path:
    """The lab as published: its test labels hidden, no ground-truth file (images not needed here)."""
    target.mkdir()
    for name in ("track_1_train.json", "track_1_test.json", "track_2_train.json"):
        shutil.copy(lab / name, target / name)
    return target


def test_hidden_test_labels_score_on_a_validation_split_and_write_submissions(lab: Path, tmp_path: Path):
    root = hidden_copy(lab, tmp_path / "hidden")
    dataset = open_dataset(root)
    test_images = [r["image_path"] for r in records(root / "track_1_test.json")]
    predictions = tmp_path / "test-preds.jsonl"
    with PredictionWriter(predictions) as writer:
        for name in test_images:
            writer.write(ok_record(name, {"total_score": 50, "criteria": {}, "answer": "B"}, run={"model": "m"}))

    result = reproduce_table3(dataset, [predictions], n_bootstrap=50, seed=1, validation_fraction=0.25,
                                     submissions_dir=tmp_path / "submissions")
    assert result.target.split == "validation" and result.target.test_labels_hidden
    assert any("hidden" in note for note in result.notes)
    assert any("QA Acc is not available" in note for note in result.notes)
    assert len(result.target.truth) == 3 and not result.target.truth.qa_available  # 25% of 12
    assert set(result.target.fit_images).isdisjoint(result.target.truth.image_paths)
    assert len(result.target.fit_images) == 9

    computed = result.frame[result.frame["source"] == "computed"].set_index("method")
    scored = computed.loc[["Chance (uniform)", "Constant mean"]]
    assert scored["qa_acc"].isna().all() and not scored["qa_available"].any()
    assert (scored["n_images"] == 3).all()
    # the file predicts the test split only: not scored on validation, but written as a submission
    assert "not scored" in computed.loc["m", "note"] and pd.isna(computed.loc["m", "level_acc"])
    (submission,) = result.submissions
    written = json.loads(submission.read_text())
    assert [r["image_path"] for r in written] == test_images
    assert {r["answer"] for r in written} == {"B"}


def test_validation_split_is_seeded_and_disjoint(lab: Path, lab_dataset):
    truth, rest = validation_split(lab_dataset, fraction=0.25, seed=7)
    again, _ = validation_split(lab_dataset, fraction=0.25, seed=7)
    other, _ = validation_split(lab_dataset, fraction=0.25, seed=8)
    assert truth.image_paths == again.image_paths and truth.image_paths != other.image_paths
    train = {r["image_path"]: r for r in records(lab / "track_1_train.json")}
    assert sorted([*truth.image_paths, *rest]) == sorted(train)
    first = train[truth.image_paths[0]]
    assert truth.total_score[0] == first["total_score"]
    assert [LEVELS[c] for c in truth.levels[0]] == [
        level_from_score(first["criteria"][n]["score"]) for n in ATTRIBUTE_NAMES
    ]


def test_real_sample_table3_notes_hidden_labels(real_sample: Path):
    result = reproduce_table3(open_dataset(real_sample), n_bootstrap=20)
    assert result.target.split == "validation" and len(result.target.truth) == 1
    assert any("hidden" in note for note in result.notes)


# ---- files and the command -----------------------------------------------------------------------------------


def test_report_command_writes_every_artifact_as_csv_and_json(lab: Path, tmp_path: Path):
    out = tmp_path / "report"
    outcome = CliRunner().invoke(app, ["report", str(lab), "--out", str(out), "--bootstrap", "30"])
    assert outcome.exit_code == 0, outcome.output
    for name in ("figure2a", "figure2b", "table2", "table3"):
        assert (out / f"{name}.csv").is_file() and (out / f"{name}.json").is_file(), name
        json.loads((out / f"{name}.json").read_text())  # strict JSON (no NaN)
    table2 = pd.read_csv(out / "table2.csv")
    assert list(table2.columns) == ["definition", "split", "samples", "mean", "std", "median", "min", "max",
                                    "avg_attr_length"]
    assert set(table2["split"]) == {"train", "test", "overall"}
    table3 = pd.read_csv(out / "table3.csv")
    assert table3["source"].tolist().count("reported") == 2 and "Chance (uniform)" in set(table3["method"])
    figure2a = pd.read_csv(out / "figure2a.csv")
    assert set(figure2a["split"]) == {"train", "test"}  # the lab's test labels are read for the figure
    assert len(pd.read_csv(out / "figure2b.csv")) == 13
    assert json.loads((out / "figure2a.json").read_text())["test"]["n_second"] == 6


@pytest.mark.parametrize("arguments, message", [
    (["/nonexistent/portraitcraft"], "/nonexistent/portraitcraft"),
    (["LAB", "--predictions", "/nonexistent/preds.jsonl"], "preds.jsonl: file not found"),
])
def test_report_command_bad_input_is_one_clear_line(lab: Path, tmp_path: Path, arguments, message):
    arguments = [str(lab) if a == "LAB" else a for a in arguments]
    outcome = CliRunner().invoke(app, ["report", *arguments, "--out", str(tmp_path / "out")])
    assert outcome.exit_code == 2
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in outcome.output
