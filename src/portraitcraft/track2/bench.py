"""Proof that the Track 2 scorer measures alignment, on data whose truth is known, and an honest look at real data.

On the composition lab
    Each Track 2 record of the lab was written from its scene's factors (`lab.describe`), so the factors are the
    truth of both sides. The *faithful renderer* (`faithful_image`, the lab's own `render_scene`) draws the image
    each record describes. Scoring every description against every image, a scorer that measures alignment must
    rank the matched pairs (the diagonal) above the mismatched ones: `lab_alignment` reports that ROC AUC, the
    extractor's accuracy per property against the factors, and the text parser's accuracy on the same factors.
On the real sample
    `sample_alignment` scores every real description against every real image present: the truth is unknown, so
    it reports the matched-versus-mismatched scores and ranks as they come, whatever they are.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from portraitcraft.track2.extract import Extractor, Reading, make_extractor
from portraitcraft.track2.properties import BY_KEY, CONTINUOUS, PROPERTY_KEYS
from portraitcraft.track2.score import score_matrix
from portraitcraft.track2.text import ParsedDescription, parse_description


def truth_from_factors(values: dict[str, Any]) -> dict[str, str | float]:
    """The true value of every property of a lab scene, with the cut points the lab's description writer
    (`portraitcraft.lab.describe.analyse_composition`) uses, so that a lab text's targets are true of its image.
    Lead room is absent for a camera gaze (the lab text then says none is needed)."""
    from portraitcraft.lab.factors import Factors

    f = values if isinstance(values, Factors) else Factors.from_dict(values)
    truth: dict[str, str | float] = {
        "placement": f.placement,
        "vertical_placement": "upper" if f.subject_y < 0.4 else "lower" if f.subject_y > 0.6 else "middle",
        "framing": f.framing,
        "people": "one" if f.n_people == 1 else "two" if f.n_people == 2 else "three or more",
        "negative_space": round(1.0 - f.occupancy, 2),
        "depth_of_field": "shallow" if f.background_blur >= 4 else "moderate" if f.background_blur >= 1.5 else "deep",
        "horizon_tilt": abs(f.horizon_tilt),
        "light_hardness": "hard" if f.light_hardness > 0.6 else "soft" if f.light_hardness < 0.35 else "moderate",
        "light_direction": f.light_direction,
        "golden_hour": "yes" if f.golden_hour else "no",
        "palette": f.temperature,
        "gaze": f.gaze,
        "leading_lines": "yes" if f.leading_lines else "no",
    }
    truth["crop"] = f.crop[0]
    truth["aspect"] = f.aspect
    if f.open_side is not None:  # the side whose third is clearly freer of people (the text names no side else)
        truth["negative_space_side"] = f.open_side
    if f.gaze != "camera":
        truth["lead_room"] = "ample" if f.lead_room > 0.2 else "modest" if f.lead_room > -0.2 else "none"
    return truth


def faithful_image(values: dict[str, Any], long_side: int = 512):
    """The image a lab record describes, drawn from its own factors by the lab's renderer."""
    from portraitcraft.lab.factors import Factors
    from portraitcraft.lab.render import render_scene

    return render_scene(Factors.from_dict(values), long_side=long_side)


def roc_auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """Probability that a random positive scores above a random negative (ties count half): the Mann-Whitney AUC.
    NaN scores (nothing scored) count as the lowest score."""
    pos = np.nan_to_num(np.asarray(positives, float), nan=-np.inf)
    neg = np.nan_to_num(np.asarray(negatives, float), nan=-np.inf)
    if not len(pos) or not len(neg):
        return math.nan
    wins = sum(float((p > neg).sum()) + 0.5 * float((p == neg).sum()) for p in pos)  # one row at a time: small memory
    return wins / (len(pos) * len(neg))


def matched_vs_mismatched(matrix: np.ndarray) -> dict[str, Any]:
    """Matched pairs are the diagonal of a (description x image) score matrix, mismatched all other cells."""
    n = min(matrix.shape)
    diagonal = np.array([matrix[i, i] for i in range(n)])
    off = matrix[~np.eye(*matrix.shape, dtype=bool)]
    # Rank of each image's own description among all descriptions scored on that image (1 = best).
    ranks = [int(1 + np.sum(np.nan_to_num(matrix[:, j], nan=-np.inf) > np.nan_to_num(matrix[j, j], nan=-np.inf)))
             for j in range(n)]
    return {"auc": roc_auc(diagonal, off), "matched_mean": float(np.nanmean(diagonal)) if n else math.nan,
            "mismatched_mean": float(np.nanmean(off)) if off.size else math.nan,
            "matched": diagonal.tolist(), "own_description_rank": ranks, "candidates": int(matrix.shape[0])}


def _accuracy(predicted: dict[str, str | float], truth: dict[str, str | float], key: str) -> float | None:
    if key not in predicted or key not in truth:
        return None
    prop = BY_KEY[key]
    if prop.kind == CONTINUOUS:  # within a third of the agreement scale counts as right
        return float(abs(float(predicted[key]) - float(truth[key])) <= prop.scale / 3)
    return float(predicted[key] == truth[key])


@dataclass
class LabAlignment:
    """What `lab_alignment` measured."""

    auc: float
    matched_mean: float
    mismatched_mean: float
    n_images: int
    extractor_accuracy: dict[str, dict[str, float | int | None]]  # key -> {"accuracy", "n"}
    text_accuracy: dict[str, dict[str, float | int | None]]
    matrix: np.ndarray
    image_paths: list[str]
    parsed: list[ParsedDescription]
    readings: list[dict[str, Reading]]
    truth: list[dict[str, str | float]]
    extractor: dict[str, Any]
    seconds: float
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"lab Track 2 alignment: {self.n_images} images, {self.extractor.get('extractor')} extractor, "
               f"{self.seconds:.0f} s",
               f"  ROC AUC matched vs mismatched: {self.auc:.3f} (matched mean {self.matched_mean:.3f}, "
               f"mismatched mean {self.mismatched_mean:.3f})",
               f"  {'property':<22} {'extractor acc':>13} {'n':>4}   {'text acc':>8} {'n':>4}"]
        for key in PROPERTY_KEYS:
            e, t = self.extractor_accuracy[key], self.text_accuracy[key]
            fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
            out.append(f"  {key:<22} {fmt(e['accuracy']):>13} {e['n']:>4}   {fmt(t['accuracy']):>8} {t['n']:>4}")
        return out + [f"  note: {n}" for n in self.notes]

    def as_dict(self) -> dict[str, Any]:
        return {"auc": self.auc, "matched_mean": self.matched_mean, "mismatched_mean": self.mismatched_mean,
                "n_images": self.n_images, "extractor_accuracy": self.extractor_accuracy,
                "text_accuracy": self.text_accuracy, "extractor": self.extractor, "seconds": self.seconds,
                "notes": self.notes}


def _accuracy_table(predicted: Sequence[dict[str, Any]], truth: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    table = {}
    for key in PROPERTY_KEYS:
        hits = [a for p, t in zip(predicted, truth) if (a := _accuracy(p, t, key)) is not None]
        table[key] = {"accuracy": float(np.mean(hits)) if hits else None, "n": len(hits)}
    return table


def lab_alignment(
    root: str | Path,
    *,
    split: str = "test",
    extractor: str | Extractor = "cpu",
    model: str | None = None,
    long_side: int = 512,
    limit: int | None = None,
    embedder: Any = None,
) -> LabAlignment:
    """Render each Track 2 record of a lab split from its own factors, read it, and score all pairs (see module
    docstring). ``root`` is a lab folder (``track_2_<split>.json`` and ``lab_factors.json``)."""
    from portraitcraft.data import FACTORS_FILE, read_json_records

    started = time.perf_counter()
    root = Path(root)
    records = read_json_records(root / f"track_2_{split}.json")[:limit]
    factors = json.loads((root / FACTORS_FILE).read_text(encoding="utf-8"))
    missing = [r["image_path"] for r in records if r["image_path"] not in factors]
    if missing:
        raise ValueError(f"{root / FACTORS_FILE}: no factors for {len(missing)} Track 2 record(s), e.g. {missing[0]}")
    engine = make_extractor(extractor, model=model) if isinstance(extractor, str) else extractor
    truth = [truth_from_factors(factors[r["image_path"]]) for r in records]
    parsed = [
        parse_description(r["content_description"], r["composition_analysis"], embedder=embedder) for r in records
    ]
    readings = [engine.read([faithful_image(factors[r["image_path"]], long_side)])[0] for r in records]
    matrix = score_matrix(parsed, readings)
    summary = matched_vs_mismatched(matrix)
    notes = sorted({n for p in parsed for n in p.notes})
    return LabAlignment(
        auc=summary["auc"], matched_mean=summary["matched_mean"], mismatched_mean=summary["mismatched_mean"],
        n_images=len(records),
        extractor_accuracy=_accuracy_table([{k: r.value for k, r in rd.items()} for rd in readings], truth),
        text_accuracy=_accuracy_table([{k: t.value for k, t in p.targets.items()} for p in parsed], truth),
        matrix=matrix, image_paths=[r["image_path"] for r in records], parsed=parsed, readings=readings, truth=truth,
        extractor=engine.config(), seconds=time.perf_counter() - started, notes=notes)


def short_names(image_paths: Sequence[str]) -> list[str]:
    """Names that tell records apart in a table without cutting: each image name without its extension and its
    trailing content hash ("unsplash_people_19003_59a689ef6cd0.jpg" -> "unsplash_people_19003"); a name that would
    then repeat keeps its hash."""
    stems = [Path(name).stem for name in image_paths]
    short = [re.sub(r"_[0-9a-f]{8,}$", "", stem) for stem in stems]
    return [s if short.count(s) == 1 else stem for s, stem in zip(short, stems)]


def sample_alignment(root: str | Path, *, split: str = "train", extractor: str | Extractor = "cpu",
                     model: str | None = None, max_side: int = 1024, embedder: Any = "auto") -> dict[str, Any]:
    """Every Track 2 description of a real root scored against every image of that split that is present.

    Returns the score matrix (all descriptions x present images; column j's own description is row ``own[j]``),
    matched and mismatched means, the AUC, and each image's rank of its own description (1 = scored highest)."""
    from portraitcraft.sources import open_dataset

    dataset = open_dataset(str(root))
    frame = dataset.descriptions()
    frame = frame[frame["split"] == split].reset_index(drop=True)
    present = [i for i, f in enumerate(frame["image_file"]) if f is not None]
    engine = make_extractor(extractor, model=model) if isinstance(extractor, str) else extractor
    parsed = [parse_description(c, a, embedder=embedder)
              for c, a in zip(frame["content_description"], frame["composition_analysis"])]
    readings = [engine.read([dataset.open_image(frame.loc[i, "image_path"], max_side=max_side)])[0] for i in present]
    matrix = score_matrix(parsed, readings)  # all descriptions x present images
    matched = np.array([matrix[i, j] for j, i in enumerate(present)])
    mask = np.ones_like(matrix, dtype=bool)
    for j, i in enumerate(present):
        mask[i, j] = False
    ranks = [int(1 + np.sum(np.nan_to_num(matrix[:, j], nan=-np.inf) > np.nan_to_num(matrix[i, j], nan=-np.inf)))
             for j, i in enumerate(present)]
    return {"image_paths": [frame.loc[i, "image_path"] for i in present], "own": present,
            "descriptions": list(frame["image_path"]), "matrix": matrix, "parsed": parsed, "readings": readings,
            "matched": matched.tolist(), "matched_mean": float(np.nanmean(matched)) if len(matched) else math.nan,
            "mismatched_mean": float(np.nanmean(matrix[mask])) if mask.any() else math.nan,
            "auc": roc_auc(matched, matrix[mask]), "own_description_rank": ranks, "candidates": len(frame),
            "missing_images": [frame.loc[i, "image_path"] for i in range(len(frame)) if i not in present],
            "extractor": engine.config()}


@dataclass
class GeneratorAlignment:
    """What `generator_alignment` measured: a generator's images scored against their own descriptions and
    against the images it drew from shuffled descriptions."""

    auc: float  # matched pairs over every mismatched pair of the matrix
    shuffled_auc: float  # matched pairs over one derangement: each description against another's image
    matched_mean: float
    shuffled_mean: float
    n_images: int
    matrix: np.ndarray  # descriptions x images (image j drawn from description j)
    permutation: list[int]  # description i's shuffled image is image permutation[i]
    image_paths: list[str]
    generator: dict[str, Any]
    seconds: float

    def lines(self) -> list[str]:
        return [f"generator {self.generator.get('model')}: {self.n_images} images, {self.seconds:.0f} s",
                f"  ROC AUC own description vs shuffled description: {self.shuffled_auc:.3f} "
                f"(matched mean {self.matched_mean:.3f}, shuffled mean {self.shuffled_mean:.3f})",
                f"  ROC AUC matched vs every mismatched pair: {self.auc:.3f}"]

    def as_dict(self) -> dict[str, Any]:
        return {"auc": self.auc, "shuffled_auc": self.shuffled_auc, "matched_mean": self.matched_mean,
                "shuffled_mean": self.shuffled_mean, "n_images": self.n_images, "permutation": self.permutation,
                "generator": self.generator, "seconds": self.seconds}


def derangement(n: int, seed: int = 0) -> list[int]:
    """A random permutation of range(n) that moves every index (n >= 2)."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(n)
        if n < 2 or not np.any(order == np.arange(n)):
            return [int(i) for i in order]


def generator_alignment(records: Sequence[dict[str, str]], generator: Any = None, *, side: int = 512,
                        extractor: str | Extractor = "cpu", model: str | None = None, seed: int = 0,
                        embedder: Any = None) -> GeneratorAlignment:
    """Draw one image per Track 2 record with ``generator`` (default: the lab generator), score every description
    against every image, and compare each image's own description with a shuffled one (a derangement chosen by
    ``seed``). Images are square, ``side`` pixels (the CPU extractor's rules were set at 512)."""
    from portraitcraft.track2.lab_generator import LabGenerator

    started = time.perf_counter()
    generator = generator if generator is not None else LabGenerator()
    engine = make_extractor(extractor, model=model) if isinstance(extractor, str) else extractor
    parsed = [parse_description(r["content_description"], r["composition_analysis"], embedder=embedder)
              for r in records]
    images = [generator.draw(r["content_description"], r["composition_analysis"], width=side, height=side)
              for r in records]
    readings = [engine.read([image])[0] for image in images]
    matrix = score_matrix(parsed, readings)
    n = len(records)
    order = derangement(n, seed)
    matched = np.diag(matrix)
    shuffled = np.array([matrix[i, order[i]] for i in range(n)])
    summary = matched_vs_mismatched(matrix)
    return GeneratorAlignment(
        auc=summary["auc"], shuffled_auc=roc_auc(matched, shuffled), matched_mean=float(np.nanmean(matched)),
        shuffled_mean=float(np.nanmean(shuffled)), n_images=n, matrix=matrix, permutation=order,
        image_paths=[r["image_path"] for r in records], generator=generator.identity(),
        seconds=time.perf_counter() - started)
