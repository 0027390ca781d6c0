"""Label-free diagnostics of test predictions and the checked submission, against independent computations."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from portraitcraft.attributes import ATTRIBUTE_NAMES
from portraitcraft.label_free import (
    MIN_IMAGES,
    agreement,
    answer_balance,
    invalid_fields,
    level_shares,
    restricted,
    score_distribution,
    submission_problems,
)
from portraitcraft.predictions import JSONL, PredictionSet, read_predictions, write_submission

N = len(ATTRIBUTE_NAMES)


def prediction_set(names, scores, levels, answers, path="p.jsonl") -> PredictionSet:
    return PredictionSet(Path(path), JSONL, list(names), np.asarray(scores, float),
                         np.asarray(levels, int).reshape(-1, N), list(answers), ["ok"] * len(names))


def test_score_distribution_states_ks_only_from_enough_scores():
    rng = np.random.default_rng(0)
    train = rng.integers(30, 90, 40).astype(float)
    scores = np.r_[rng.integers(60, 70, 19).astype(float), np.nan]
    many = prediction_set([f"{i}.jpg" for i in range(20)], scores, np.zeros((20, N)), ["A"] * 20)
    few = prediction_set(["x.jpg"], [62.0], np.zeros((1, N)), ["A"])
    table = score_distribution([("many", many), ("few", few)], train).set_index("source")
    assert table.loc["many", "valid"] == 19 and table.loc["many", "records"] == 20
    assert table.loc["many", "mean"] == pytest.approx(np.nanmean(scores))
    assert table.loc["many", "sd"] == pytest.approx(np.nanstd(scores, ddof=1))
    assert table.loc["many", "ks"] == pytest.approx(stats.ks_2samp(scores[:19], train).statistic)
    assert math.isnan(table.loc["few", "ks"]) and math.isnan(table.loc["few", "sd"])


def test_level_shares_and_their_distance_to_train():
    train = np.zeros((20, N), dtype=int)
    train[10:, 0] = 2  # attribute 0: half Poor, half Good
    levels = np.ones((12, N), dtype=int)
    levels[:2, 0] = -1  # two invalid levels of attribute 0, the other ten all Medium
    shares = level_shares([("m", prediction_set([f"{i}" for i in range(12)], [50] * 12, levels, ["A"] * 12))], train)
    first = shares[(shares["attribute"] == ATTRIBUTE_NAMES[0]) & (shares["source"] == "m")].iloc[0]
    assert first["Medium"] == pytest.approx(10 / 12) and first["invalid"] == pytest.approx(2 / 12)
    assert first["difference"] == pytest.approx(1.0)  # all Medium against none: disjoint mixes
    reference = shares[(shares["attribute"] == ATTRIBUTE_NAMES[0]) & (shares["source"] != "m")].iloc[0]
    assert reference["Poor"] == pytest.approx(0.5) and reference["Good"] == pytest.approx(0.5)


def test_answer_balance_and_invalid_fields_count_each_record():
    answers = ["A", "A", "B", None]
    levels = np.zeros((4, N), dtype=int)
    levels[3, 5] = -1
    p = prediction_set(list("abcd"), [50, math.nan, 60, 70], levels, answers)
    row = answer_balance([("p", p)]).iloc[0]
    assert (row["A"], row["B"], row["C"], row["D"], row["invalid"], row["top"]) == (2, 1, 0, 0, 1, "A")
    assert row["top_share"] == pytest.approx(2 / 3)
    # independently: chi-square of (2, 1, 0, 0) against 0.75 each is (1.5625 + 0.0625 + 0.5625 * 2) / 0.75, 3 dof
    assert row["p_even"] == pytest.approx(_chi2_3dof_sf(11 / 3))
    fields = invalid_fields(p).set_index("field")["invalid"]
    assert fields["total_score"] == 1 and fields["answer"] == 1 and fields[ATTRIBUTE_NAMES[5]] == 1
    assert fields.sum() == 3


def test_agreement_on_common_images_with_a_minimum():
    rng = np.random.default_rng(1)
    n = 30
    names = [f"{i}.jpg" for i in range(n)]
    levels_a = rng.integers(0, 3, (n, N))
    levels_b = levels_a.copy()
    levels_b[:6, 0] = (levels_b[:6, 0] + 1) % 3
    scores_a = rng.normal(60, 10, n)
    scores_b = scores_a + rng.normal(0, 5, n)
    a = prediction_set(names, scores_a, levels_a, ["A"] * n)
    b = prediction_set(names[::-1] + ["extra.jpg"], [*scores_b[::-1], 50], [*levels_b[::-1], levels_b[0]],
                       ["A"] * (n + 1))
    result = agreement(a, b)
    assert (result.common, result.only_first, result.only_second) == (n, 0, 1)
    assert result.spearman == pytest.approx(stats.spearmanr(scores_a, scores_b).statistic)
    first = result.per_attribute.iloc[0]
    assert first["agreement"] == pytest.approx(24 / 30)
    from sklearn.metrics import cohen_kappa_score
    assert first["kappa"] == pytest.approx(cohen_kappa_score(levels_a[:, 0], levels_b[:, 0], weights="quadratic"))
    small = agreement(restricted(a, names[:MIN_IMAGES - 1]), b)
    assert small.too_few and math.isnan(small.spearman) and small.per_attribute["kappa"].isna().all()


def test_the_submission_names_each_record_written_not_res(tmp_path: Path):
    test = [{"image_path": name, "criteria": {a: {"level": "x"} for a in ATTRIBUTE_NAMES}, "total_score": 0,
             "question": "q", "options": {"A": "a", "B": "b", "C": "c", "D": "d"}, "answer": "x"}
            for name in ("a.jpg", "b.jpg", "c.jpg")]
    (tmp_path / "test.json").write_text(json.dumps(test))
    good = {a: "Good" for a in ATTRIBUTE_NAMES}
    records = [{"image_path": "a.jpg", "total_score": 60, "criteria": good, "answer": "A"},
               {"image_path": "b.jpg", "total_score": "abc", "criteria": "oops", "answer": "A"}]
    (tmp_path / "raw.json").write_text(json.dumps(records))
    predictions = read_predictions(tmp_path / "raw.json")
    summary = write_submission(predictions, tmp_path / "test.json", tmp_path / "submission.json")
    assert [image for image, _ in summary.offending] == ["b.jpg", "c.jpg"]
    table = submission_problems(summary, predictions).set_index("image")
    assert table.loc["b.jpg", "record"] == "record 1"
    assert "total_score 'abc' is not a number" in table.loc["b.jpg", "why"]
    assert table.loc["c.jpg", "record"] == "no record"
    written = json.loads((tmp_path / "submission.json").read_text())
    assert written[1]["total_score"] is None and written[1]["criteria"][ATTRIBUTE_NAMES[0]]["level"] == "NOT_RES"


def test_book_submissions_carry_the_file_digest_and_replace_stale_ones(small_lab, tmp_path: Path):
    from portraitcraft.sources import open_dataset
    from portraitcraft.table3 import check_submissions, file_digest

    published = tmp_path / "published"
    published.mkdir()
    for f in small_lab.iterdir():
        if f.name.startswith("track_"):
            (published / f.name).write_bytes(f.read_bytes())
    names = open_dataset(published).images().query("split == 'test'")["image_path"].tolist()
    raw = [{"image_path": n, "total_score": 50, "criteria": {a: "Medium" for a in ATTRIBUTE_NAMES}, "answer": "B"}
           for n in names]
    (tmp_path / "p.json").write_text(json.dumps(raw))
    out = tmp_path / "subs"
    out.mkdir()
    (out / "submission_p.json").write_text("[]")  # an older build's
    (out / "notes.txt").write_text("kept")
    checks = check_submissions(open_dataset(published), [read_predictions(tmp_path / "p.json")], out,
                               fingerprint=True, replace_stale=True)
    assert [c.out.name for c in checks] == [f"submission_p_{file_digest(tmp_path / 'p.json')}.json"]
    assert sorted(p.name for p in out.iterdir()) == sorted(["notes.txt", checks[0].out.name])
    assert checks[0].invalid_levels == 0 and checks[0].offending == []


def _chi2_3dof_sf(x: float) -> float:
    """The chi-square survival function with 3 degrees of freedom, in closed form."""
    return math.erfc(math.sqrt(x / 2)) + math.sqrt(2 * x / math.pi) * math.exp(-x / 2)
