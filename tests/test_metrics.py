"""Metric functions against independent computations: scipy, scikit-learn (when installed) and hand-worked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from portraitcraft import metrics
from portraitcraft.metrics import INVALID_LEVEL

RNG = np.random.default_rng(20260)


def tied_scores(n: int, rng: np.random.Generator = RNG) -> tuple[np.ndarray, np.ndarray]:
    """Integer-rounded scores, so ties occur as they do in real 1-100 predictions."""
    truth = np.round(rng.normal(60, 12, n))
    predicted = np.round(truth + rng.normal(0, 9, n))
    return predicted, truth


# --- correlations --------------------------------------------------------------------------------------------------

def test_srcc_and_plcc_equal_scipy_with_ties():
    predicted, truth = tied_scores(300)
    assert metrics.srcc(predicted, truth) == pytest.approx(stats.spearmanr(predicted, truth).statistic, abs=1e-12)
    assert metrics.plcc(predicted, truth) == pytest.approx(stats.pearsonr(predicted, truth).statistic, abs=1e-12)


def test_hand_computed_small_correlations():
    # ranks of x: 1, 2, 3, 4; ranks of y: 1, 3, 2, 4 -> rho = 1 - 6*(0+1+1+0)/(4*15) = 0.8
    assert metrics.srcc([10, 20, 30, 40], [1, 3, 2, 4]) == pytest.approx(0.8)
    # y = 2x + 1 exactly
    assert metrics.plcc([1, 2, 3], [3, 5, 7]) == pytest.approx(1.0)
    assert metrics.plcc([1, 2, 3], [7, 5, 3]) == pytest.approx(-1.0)


@pytest.mark.parametrize("predicted, truth", [
    ([62, 62, 62, 62], [10, 40, 70, 90]),  # constant predictions
    ([10, 40, 70, 90], [50, 50, 50, 50]),  # constant truth
    ([55], [70]),  # a single image
    ([], []),
])
def test_undefined_correlations_are_nan_not_errors(predicted, truth):
    assert math.isnan(metrics.srcc(predicted, truth))
    assert math.isnan(metrics.plcc(predicted, truth))
    assert math.isnan(metrics.plcc_logistic(predicted, truth))


def test_plcc_logistic_recovers_a_logistic_relation_that_plain_plcc_misses():
    predicted = np.linspace(1, 100, 80)
    truth = metrics.logistic_4(predicted, 90.0, 10.0, 50.0, 6.0)
    assert metrics.plcc(predicted, truth) < 0.97
    assert metrics.plcc_logistic(predicted, truth) == pytest.approx(1.0, abs=1e-6)


def test_overall_is_the_mean_and_never_hides_an_undefined_part():
    assert metrics.overall(0.5, 0.7, 0.6, 0.2, qa_available=True) == pytest.approx(0.5)
    assert metrics.overall(0.5, 0.7, 0.6, math.nan, qa_available=False) == pytest.approx(0.6)
    assert math.isnan(metrics.overall(math.nan, math.nan, 0.6, 0.2, qa_available=True))
    assert math.isnan(metrics.overall(0.5, 0.7, 0.6, math.nan, qa_available=True))


# --- accuracies and per-attribute statistics --------------------------------------------------------------------------

def test_level_and_qa_accuracy_count_invalid_as_wrong():
    predicted = np.array([[0, 1, INVALID_LEVEL], [2, 2, 2]])
    truth = np.array([[0, 2, 1], [2, 2, 0]])
    assert metrics.level_accuracy(predicted, truth) == pytest.approx(3 / 6)
    assert metrics.qa_accuracy(["A", None, "C", "x"], ["A", "B", "C", "D"]) == pytest.approx(2 / 4)


def test_confusion_counts_by_hand():
    truth = [0, 0, 1, 2, 2, 2]
    predicted = [0, INVALID_LEVEL, 2, 2, 1, INVALID_LEVEL]
    expected = np.array([
        # Poor Medium Good invalid
        [1, 0, 0, 1],  # true Poor
        [0, 0, 1, 0],  # true Medium
        [0, 1, 1, 1],  # true Good
    ])
    np.testing.assert_array_equal(metrics.confusion_counts(predicted, truth), expected)


def test_macro_f1_by_hand():
    # Same case as above. Poor: tp 1, fp 0, fn 1 -> 2/3. Medium: tp 0, fp 1, fn 1 -> 0. Good: tp 1, fp 1, fn 2 -> 2/5.
    truth = [0, 0, 1, 2, 2, 2]
    predicted = [0, INVALID_LEVEL, 2, 2, 1, INVALID_LEVEL]
    assert metrics.macro_f1(predicted, truth) == pytest.approx((2 / 3 + 0 + 2 / 5) / 3)
    # A level absent from both sides has no F1 and is left out: only Good remains here, and it is perfect.
    assert metrics.macro_f1([2, 2], [2, 2]) == pytest.approx(1.0)
    assert math.isnan(metrics.macro_f1([], []))


def test_quadratic_kappa_by_hand():
    assert metrics.quadratic_weighted_kappa([0, 1, 2, 1], [0, 1, 2, 1]) == pytest.approx(1.0)
    # One level on both sides: chance disagreement is zero, kappa undefined.
    assert math.isnan(metrics.quadratic_weighted_kappa([1, 1, 1], [1, 1, 1]))
    assert math.isnan(metrics.quadratic_weighted_kappa([INVALID_LEVEL, INVALID_LEVEL], [0, 2]))
    # truth (0, 2), predicted (2, 0): observed weighted disagreement 2*1/2 = 1,
    # expected from marginals (1/2, 0, 1/2) x (1/2, 0, 1/2): 2 * (1/4) * 1 = 1/2 -> kappa = 1 - 1 / (1/2) = -1.
    assert metrics.quadratic_weighted_kappa([2, 0], [0, 2]) == pytest.approx(-1.0)


def test_per_attribute_statistics_equal_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn not installed (features extra)")
    n, k = 400, 13
    truth = RNG.integers(0, 3, size=(n, k))
    noisy = np.clip(truth + RNG.integers(-1, 2, size=(n, k)), 0, 2)
    predicted = np.where(RNG.random((n, k)) < 0.15, INVALID_LEVEL, noisy)
    predicted[:, 3] = 1  # one attribute answered "Medium" always
    table = metrics.per_attribute_table(predicted, truth)
    for j, row in table.iterrows():
        p, t = predicted[:, j], truth[:, j]
        valid = p != INVALID_LEVEL
        assert row["accuracy"] == pytest.approx(np.mean(p == t))
        assert row["valid"] == valid.sum()
        assert row["macro_f1"] == pytest.approx(
            sklearn_metrics.f1_score(t, p, labels=[0, 1, 2], average="macro", zero_division=np.nan))
        assert row["qwk"] == pytest.approx(
            sklearn_metrics.cohen_kappa_score(t[valid], p[valid], labels=[0, 1, 2], weights="quadratic"))
        confusion = metrics.confusion_counts(p, t)[:, :3]
        np.testing.assert_array_equal(confusion, sklearn_metrics.confusion_matrix(t, p, labels=[0, 1, 2]))


def test_confusion_table_shape_and_totals():
    truth = RNG.integers(0, 3, size=(50, 13))
    predicted = np.where(RNG.random((50, 13)) < 0.2, INVALID_LEVEL, RNG.integers(0, 3, size=(50, 13)))
    table = metrics.confusion_table(predicted, truth)
    assert list(table.columns) == ["Poor", "Medium", "Good", "invalid"]
    assert table.shape == (13 * 3, 4)
    assert table.to_numpy().sum() == 50 * 13
    assert table.loc[("Sharpness", "Good"), "invalid"] == np.sum(
        (truth[:, 2] == 2) & (predicted[:, 2] == INVALID_LEVEL)
    )


# --- vectorised bootstrap against the per-row computation -------------------------------------------------------------

def test_weighted_ranks_equal_ranking_each_resample():
    predicted, _ = tied_scores(40)
    indices = metrics.resample_indices(40, 25, seed=1)
    ranks = metrics.weighted_ranks(predicted, metrics.resample_counts(indices, 40))
    for b in range(25):
        np.testing.assert_allclose(ranks[b][indices[b]], stats.rankdata(predicted[indices[b]]))


def test_resample_counts_are_multiplicities():
    indices = np.array([[0, 0, 2], [1, 2, 2]])
    np.testing.assert_array_equal(metrics.resample_counts(indices, 3), [[2, 0, 1], [0, 1, 2]])


def test_weighted_correlations_equal_scipy_on_each_resample():
    predicted, truth = tied_scores(60)
    indices = metrics.resample_indices(60, 40, seed=2)
    counts = metrics.resample_counts(indices, 60)
    rho = metrics.weighted_spearman(predicted, truth, counts)
    r = metrics.weighted_pearson(predicted - predicted.mean(), truth - truth.mean(), counts)
    for b in range(40):
        x, y = predicted[indices[b]], truth[indices[b]]
        assert rho[b] == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-10)
        assert r[b] == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-10)


def test_zero_weights_leave_images_out_of_the_correlation():
    predicted, truth = tied_scores(30)
    keep = RNG.random(30) < 0.6
    weights = keep.astype(float)[None, :]
    assert metrics.weighted_spearman(predicted, truth, weights)[0] == pytest.approx(
        stats.spearmanr(predicted[keep], truth[keep]).statistic, abs=1e-10)


def test_constant_resample_is_nan():
    values = np.array([5.0, 5.0, 9.0])
    counts = np.array([[3.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    truth = np.array([1.0, 2.0, 3.0])
    rho = metrics.weighted_spearman(values, truth, counts)
    assert math.isnan(rho[0]) and np.isfinite(rho[1])


def test_bootstrap_rows_equal_direct_metrics_on_the_resampled_images():
    n = 80
    predicted, truth = tied_scores(n)
    levels_right = RNG.integers(0, 14, n).astype(float)
    answer_right = RNG.random(n) < 0.4
    params = metrics.fit_logistic_4(predicted, truth)
    inputs = metrics.ScoringInputs(predicted, truth, np.ones(n), levels_right, answer_right, params)
    indices = metrics.resample_indices(n, 30, seed=3)
    samples = metrics.bootstrap_track1(inputs, indices)
    for b in range(30):
        i = indices[b]
        expected = {
            "srcc": stats.spearmanr(predicted[i], truth[i]).statistic,
            "plcc": stats.pearsonr(predicted[i], truth[i]).statistic,
            "plcc_logistic": stats.pearsonr(metrics.logistic_4(predicted[i], *params), truth[i]).statistic,
            "level_acc": levels_right[i].sum() / (13 * n),
            "qa_acc": answer_right[i].mean(),
        }
        expected["overall"] = np.mean([expected[m] for m in ("srcc", "plcc", "level_acc", "qa_acc")])
        for name, value in expected.items():
            assert samples[name][b] == pytest.approx(value, abs=1e-10), name


def test_bootstrap_without_questions_averages_three_metrics():
    n = 50
    predicted, truth = tied_scores(n)
    inputs = metrics.ScoringInputs(predicted, truth, np.ones(n), np.full(n, 13.0), None)
    samples = metrics.bootstrap_track1(inputs, metrics.resample_indices(n, 10, seed=0))
    assert np.all(np.isnan(samples["qa_acc"]))
    np.testing.assert_allclose(samples["overall"], (samples["srcc"] + samples["plcc"] + 1.0) / 3)


def test_resample_indices_are_seeded():
    np.testing.assert_array_equal(metrics.resample_indices(10, 5, 7), metrics.resample_indices(10, 5, 7))
    assert not np.array_equal(metrics.resample_indices(10, 5, 7), metrics.resample_indices(10, 5, 8))


def test_percentile_interval_and_undefined_count():
    values = np.r_[np.arange(101, dtype=float), np.nan, np.nan]
    interval = metrics.percentile_interval(values, 0.95)
    assert (interval.low, interval.high) == pytest.approx((2.5, 97.5))
    assert interval.undefined == 2 and interval.resamples == 103
    empty = metrics.percentile_interval(np.full(4, np.nan))
    assert math.isnan(empty.low) and empty.undefined == 4


def test_paired_difference_p_by_hand():
    assert metrics.paired_difference_p(np.array([0.1, 0.2, 0.3, -0.1])) == pytest.approx(0.5)  # 2 * 1/4
    assert metrics.paired_difference_p(np.array([0.1, 0.2])) == pytest.approx(0.0)
    assert metrics.paired_difference_p(np.zeros(5)) == pytest.approx(1.0)
