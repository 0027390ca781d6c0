"""Figure 2 of PortraitCraft (arXiv 2604.03611) as data: the overall scores of train against test (2a) and the mean
score of the 13 attributes (2b, the radar), with the level shares and the attributes' correlation beside them.

For example::

    from portraitcraft.figure2 import figure2a, figure2b
    from portraitcraft.sources import open_dataset

    ds = open_dataset("data/lab", reveal_ground_truth=True)
    figure2a(ds).summary   # per split: n, mean, std, median; + .curves, .test
    figure2b(ds).means     # mean 0-10 score of the 13 attributes per split

Only labelled images count (`portraitcraft.labels.labelled_images`); a split whose labels are hidden is left out
and said so in ``notes``. No function raises for a partial dataset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from portraitcraft.attributes import ATTRIBUTE_KEYS, ATTRIBUTE_NAMES, LEVELS, TOTAL_SCORE_RANGE
from portraitcraft.data import Dataset
from portraitcraft.labels import dataset_frame, labelled_images
from portraitcraft.text import counted

# ---- Figure 2(a): overall scores, train against test ------------------------------------------------------------


@dataclass(frozen=True)
class TwoSampleTest:
    """Mann-Whitney U and two-sample Kolmogorov-Smirnov tests of one split's overall scores against another's."""

    first: str
    second: str
    n_first: int
    n_second: int
    mann_whitney_u: float
    mann_whitney_p: float
    ks_statistic: float
    ks_p: float

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class ScoreDistribution:
    """Figure 2(a). ``curves``: split, score, density (a Gaussian KDE on one shared grid); ``summary``: one row
    per split with labelled images (n, mean, std with ddof=1, median, min, max); ``test``: train against test."""

    curves: pd.DataFrame
    summary: pd.DataFrame
    test: TwoSampleTest | None
    notes: list[str] = field(default_factory=list)


def _hidden_note(dataset: Dataset) -> list[str]:
    images = dataset_frame(dataset, "images")
    notes = []
    for split in dataset.track1_splits:
        hidden = int(images.loc[images["split"] == split, "labels_hidden"].sum())
        if hidden:
            notes.append(f"{split}: the labels of {counted(hidden, 'image')} are hidden (as in the published test "
                         "file); that split is left out")
    return notes


def figure2a(dataset: Dataset, *, grid_points: int = 200, min_scores: int = 2) -> ScoreDistribution:
    """Overall-score densities of each labelled split on a shared grid over 1-100, their summary statistics,
    and Mann-Whitney U / KS tests between train and test (when both are labelled). A split with fewer than
    ``min_scores`` labelled images (at least 2) gets no density curve, with a note: a kernel density of a handful of
    scores draws the kernel, not the data."""
    labelled = labelled_images(dataset)
    notes = _hidden_note(dataset)
    grid = np.linspace(*TOTAL_SCORE_RANGE, grid_points)
    curves, rows = [], []
    scores: dict[str, np.ndarray] = {}
    for split in dataset.track1_splits:
        values = labelled.loc[labelled["split"] == split, "total_score"].to_numpy(dtype=float)
        if values.size == 0:
            continue
        scores[split] = values
        rows.append({"split": split, "n": int(values.size), "mean": float(values.mean()),
                     "std": float(values.std(ddof=1)) if values.size > 1 else math.nan,
                     "median": float(np.median(values)), "min": float(values.min()), "max": float(values.max())})
        if values.size < 2 or np.ptp(values) == 0:
            kind = "one" if values.size < 2 else "a constant"
            notes.append(f"{split}: {counted(values.size, 'image')} with {kind} score; no density curve")
            continue
        if values.size < min_scores:
            notes.append(f"{split}: {values.size} labelled images, too few for a density curve (at least "
                         f"{min_scores})")
            continue
        curves.append(pd.DataFrame({"split": split, "score": grid, "density": stats.gaussian_kde(values)(grid)}))
    if not scores:
        notes.append("no labelled Track 1 image: Figure 2(a) is empty")
    test = None
    if "train" in scores and "test" in scores and min(scores["train"].size, scores["test"].size) >= 2:
        u = stats.mannwhitneyu(scores["train"], scores["test"], alternative="two-sided")
        ks = stats.ks_2samp(scores["train"], scores["test"])
        test = TwoSampleTest("train", "test", scores["train"].size, scores["test"].size,
                             float(u.statistic), float(u.pvalue), float(ks.statistic), float(ks.pvalue))
    elif scores:
        notes.append("no two-sample test: it needs at least two labelled images in both train and test")
    summary = pd.DataFrame(rows, columns=["split", "n", "mean", "std", "median", "min", "max"])
    curve_frame = (
        pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=["split", "score", "density"])
    )
    return ScoreDistribution(curve_frame, summary, test, notes)


@dataclass(frozen=True)
class SplitClaims:
    """The paper's two claims about Figure 2(a), checked on the data: the test scores are *more spread out* than
    train's (test std > train std, Brown-Forsythe test, i.e. Levene's centred on the median, two-sided) and *lower
    on average* (test mean < train mean, Welch's t-test, one-sided, and Mann-Whitney U, one-sided, as a check that
    does not assume normal scores). ``checkable`` is False, with the reason in ``why_not``, where the test labels are
    hidden or either split has fewer than `MIN_CLAIM_IMAGES` labelled images. A claim "holds" when the difference
    points the paper's way and its test gives p < `CLAIM_ALPHA`; it "points the same way" when only the direction
    agrees."""

    checkable: bool
    why_not: str = ""
    n_train: int = 0
    n_test: int = 0
    std_train: float = math.nan
    std_test: float = math.nan
    mean_train: float = math.nan
    mean_test: float = math.nan
    spread_statistic: float = math.nan  # Brown-Forsythe W
    spread_p: float = math.nan
    welch_t: float = math.nan  # test minus train
    welch_p: float = math.nan  # one-sided: test mean lower
    mann_whitney_p: float = math.nan  # one-sided: test scores lower

    def verdict(self, claim: str) -> str:
        """'holds', 'points the same way (not significant)', or 'does not hold' for ``claim`` 'spread' or 'mean'."""
        if claim == "spread":
            direction, p = self.std_test > self.std_train, self.spread_p
        elif claim == "mean":
            direction, p = self.mean_test < self.mean_train, self.welch_p
        else:
            raise ValueError(f"claim {claim!r}: expected 'spread' or 'mean'")
        if not direction:
            return "does not hold"
        return "holds" if p < CLAIM_ALPHA else "points the same way (not significant)"


MIN_CLAIM_IMAGES = 3
MIN_DENSITY_SCORES = 10  # the book draws a split's density from at least this many scores
CLAIM_ALPHA = 0.05


def split_claims(dataset: Dataset) -> SplitClaims:
    """Check the paper's claims that test scores are more spread out and lower on average than train's."""
    labelled = labelled_images(dataset)
    train = labelled.loc[labelled["split"] == "train", "total_score"].dropna().to_numpy(float)
    test = labelled.loc[labelled["split"] == "test", "total_score"].dropna().to_numpy(float)
    if "test" in dataset.track1_splits and test.size == 0:
        return SplitClaims(False, "the test split's labels are hidden, so its scores cannot be compared with train's",
                           n_train=int(train.size))
    if min(train.size, test.size) < MIN_CLAIM_IMAGES:
        test_images = counted(test.size, "labelled test image")
        return SplitClaims(False, f"{train.size} labelled train and {test_images}: too few to "
                                  f"compare (at least {MIN_CLAIM_IMAGES} each)", n_train=int(train.size),
                           n_test=int(test.size))
    spread = stats.levene(test, train, center="median")
    welch = stats.ttest_ind(test, train, equal_var=False, alternative="less")
    rank = stats.mannwhitneyu(test, train, alternative="less")
    return SplitClaims(
        True, n_train=int(train.size), n_test=int(test.size), std_train=float(train.std(ddof=1)),
        std_test=float(test.std(ddof=1)), mean_train=float(train.mean()), mean_test=float(test.mean()),
        spread_statistic=float(spread.statistic), spread_p=float(spread.pvalue), welch_t=float(welch.statistic),
        welch_p=float(welch.pvalue), mann_whitney_p=float(rank.pvalue))


# ---- Figure 2(b): the 13 attributes --------------------------------------------------------------------------


@dataclass
class AttributeMeans:
    """Figure 2(b): 13 rows in `ATTRIBUTE_NAMES` order (attribute, key, then ``mean_<split>`` and ``n_<split>``
    for each labelled split)."""

    means: pd.DataFrame
    splits: list[str]
    notes: list[str] = field(default_factory=list)


def _labelled_attributes(dataset: Dataset) -> pd.DataFrame:
    attributes = dataset_frame(dataset, "attributes")
    return attributes[~attributes["labels_hidden"] & attributes["score"].notna()]


def figure2b(dataset: Dataset) -> AttributeMeans:
    """Mean 0-10 score of each attribute per labelled split: the radar of Figure 2(b)."""
    scored = _labelled_attributes(dataset)
    means = pd.DataFrame({"attribute": list(ATTRIBUTE_NAMES), "key": list(ATTRIBUTE_KEYS)})
    splits = []
    for split in dataset.track1_splits:
        part = scored[scored["split"] == split]
        if part.empty:
            continue
        splits.append(split)
        grouped = part.groupby("attribute", observed=False)["score"]
        means[f"mean_{split}"] = grouped.mean().reindex(ATTRIBUTE_NAMES).to_numpy()
        means[f"n_{split}"] = grouped.size().reindex(ATTRIBUTE_NAMES).to_numpy()
    notes = _hidden_note(dataset)
    if not splits:
        notes.append("no labelled Track 1 image: Figure 2(b) has no values")
    return AttributeMeans(means, splits, notes)


def level_distribution(dataset: Dataset) -> pd.DataFrame:
    """Images per (split, attribute, level) among the labelled images, with each level's share of the attribute."""
    scored = _labelled_attributes(dataset)
    counts = (scored.assign(split=scored["split"].astype(str))
              .groupby(["split", "attribute", "level"], observed=True).size().rename("images"))
    full = pd.MultiIndex.from_product(
        [[s for s in dataset.track1_splits if s in set(scored["split"].astype(str))], ATTRIBUTE_NAMES, LEVELS],
        names=["split", "attribute", "level"])
    table = counts.reindex(full, fill_value=0).reset_index()
    totals = table.groupby(["split", "attribute"], sort=False)["images"].transform("sum")
    table["share"] = table["images"] / totals.where(totals > 0)
    return table


def attribute_correlation(dataset: Dataset, split: str | None = None) -> pd.DataFrame:
    """Spearman correlation between the 13 attribute scores over the labelled images (of ``split``, or all).

    A 13 x 13 frame indexed by attribute name; NaN where an attribute is constant or too few images."""
    images = labelled_images(dataset)
    if split is not None:
        images = images[images["split"] == split]
    scores = images[[f"{key}_score" for key in ATTRIBUTE_KEYS]].dropna()
    if len(scores) < 3:
        return pd.DataFrame(np.nan, index=list(ATTRIBUTE_NAMES), columns=list(ATTRIBUTE_NAMES))
    scores.columns = list(ATTRIBUTE_NAMES)
    return scores.corr(method="spearman")


__all__ = [
    "CLAIM_ALPHA", "MIN_CLAIM_IMAGES", "MIN_DENSITY_SCORES", "SplitClaims", "split_claims",
    "AttributeMeans", "ScoreDistribution", "TwoSampleTest", "attribute_correlation", "figure2a", "figure2b",
    "level_distribution",
]
