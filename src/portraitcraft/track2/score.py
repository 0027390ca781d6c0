"""Score how well images follow their Track 2 descriptions: per-property agreement, a weighted overall score per
image, and coverage. This is an open, interpretable stand-in, **not** the benchmark's official Track 2 scorer.

For example, on the images the composition-lab generator draws for the lab's descriptions::

    from portraitcraft.track2.generate import GenerationSettings, run_generation
    from portraitcraft.track2.score import evaluate_folder

    descriptions = "data/lab/track_2_test.json"
    run_generation(descriptions, "generated/", GenerationSettings(model="lab"))
    report = evaluate_folder(descriptions, "generated/", extractor="cpu")
    print(report.to_text())
    report.write_json("track2.json")

Rules (also written into every report as ``semantics``)
    * A property is scored only when the description mentions it (it has a target) and the extractor reads it.
    * Agreement per property (`properties.Property.agreement`): categorical exact 1, adjacent 0.5, else 0;
      continuous ``1 - distance / scale``, floored at 0. With a probability per value (every extractor gives one for
      categorical properties) it is the expected agreement under those probabilities.
    * Overall per image: the mean agreement weighted by property weight x text confidence x reading confidence;
      undefined (NaN) when nothing could be scored.
    * Coverage: scored properties / the counted properties (weight above 0; the aspect ratio is compared and
      reported, never counted); also reported: how many of the counted properties the description mentions.
    * Images are matched by ``image_path``; a missing or unreadable image is listed with the reason, never fatal.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from portraitcraft.provenance import write_json
from portraitcraft.track2.extract import Extractor, Reading, make_extractor
from portraitcraft.track2.properties import BY_KEY, CONTINUOUS, COUNTED, PROPERTY_KEYS
from portraitcraft.track2.text import ParsedDescription, Target, parse_description

NOT_OFFICIAL: Final[str] = ("An open, interpretable Track 2 composition-alignment scorer of the portraitcraft toolkit; "
                            "NOT the benchmark's official scorer (an unpublished internal model). Compare its scores "
                            "only with each other.")
SEMANTICS: Final[tuple[str, ...]] = (
    "a property is scored only when the description mentions it and the extractor reads it",
    "agreement: categorical exact 1, adjacent 0.5, else 0 (expected under the extractor's probabilities); "
    "continuous 1 - |target - reading| / scale, floored at 0",
    "overall: mean agreement weighted by property weight x text confidence x reading confidence; NaN when none scored",
    "coverage: scored properties / counted properties (the aspect ratio is compared and reported, not counted)",
    "images matched by image_path; missing or unreadable images are listed, not scored",
)


@dataclass(frozen=True)
class PropertyScore:
    key: str
    target: str | float
    reading: str | float
    agreement: float
    weight: float  # property weight x text confidence x reading confidence
    text_evidence: str
    image_evidence: str

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class ImageScore:
    """The alignment of one image with one description."""

    image_path: str
    overall: float  # NaN when no property could be scored
    coverage: float  # scored / counted properties
    mentioned: int  # counted properties the description mentions
    properties: list[PropertyScore]
    reported: list[PropertyScore] = field(default_factory=list)  # read and compared, not counted (the aspect ratio)

    @property
    def scored(self) -> int:
        return len(self.properties)

    def as_dict(self) -> dict[str, Any]:
        return {"image_path": self.image_path, "overall": None if math.isnan(self.overall) else self.overall,
                "coverage": self.coverage, "mentioned": self.mentioned, "scored": self.scored,
                "properties": [p.as_dict() for p in self.properties],
                "reported": [p.as_dict() for p in self.reported]}


def expected_agreement(target: Target, reading: Reading) -> float:
    """Agreement of a reading with a target; the expectation over the reading's probabilities when it has them."""
    prop = BY_KEY[target.key]
    if prop.kind != CONTINUOUS and reading.distribution:
        total = sum(reading.distribution.values())
        return sum(p * prop.agreement(target.value, v) for v, p in reading.distribution.items()) / total
    return prop.agreement(target.value, reading.value)


def score_image(parsed: ParsedDescription, readings: dict[str, Reading], image_path: str = "") -> ImageScore:
    """Score one image's readings against one description's targets (see the module docstring)."""
    scored, reported = [], []
    for key, target in parsed.targets.items():
        reading = readings.get(key)
        if reading is None:
            continue
        agreement = round(expected_agreement(target, reading), 4)
        if BY_KEY[key].weight <= 0:
            reported.append(PropertyScore(key, target.value, reading.value, agreement, 0.0, target.evidence,
                                          reading.evidence))
            continue
        weight = BY_KEY[key].weight * target.confidence * reading.confidence
        if weight <= 0:
            continue
        scored.append(PropertyScore(key, target.value, reading.value, agreement, round(weight, 4), target.evidence,
                                    reading.evidence))
    total = sum(p.weight for p in scored)
    overall = sum(p.weight * p.agreement for p in scored) / total if total > 0 else math.nan
    mentioned = sum(1 for key in parsed.targets if BY_KEY[key].weight > 0)
    return ImageScore(image_path, overall, len(scored) / len(COUNTED), mentioned, scored, reported)


def score_matrix(parsed: Sequence[ParsedDescription], readings: Sequence[dict[str, Reading]]) -> np.ndarray:
    """Overall score of every (description i, image j) pair: the matched pairs are on the diagonal when the two
    lists are in the same order."""
    return np.array([[score_image(p, r).overall for r in readings] for p in parsed], dtype=float)


# ---- scoring a folder of images -----------------------------------------------------------------------------------
def read_descriptions(path: str | os.PathLike) -> tuple[list[dict[str, str]], list[str]]:
    """Track 2 records (``image_path``, ``content_description``, ``composition_analysis``) and the problems found.

    A record without an ``image_path`` is skipped and named; one with a missing text is kept (the other text is
    still read) and named."""
    from portraitcraft.data import read_json_records

    records, problems, seen = [], [], set()
    for i, record in enumerate(read_json_records(Path(path))):
        name = record.get("image_path") if isinstance(record, dict) else None
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{path} record {i}: no image_path; skipped")
            continue
        if name in seen:
            problems.append(f"{path} record {i} ({name}): duplicate image_path; the first record is used")
            continue
        seen.add(name)
        texts = {}
        for key in ("content_description", "composition_analysis"):
            value = record.get(key)
            if not isinstance(value, str) or not value.strip():
                problems.append(f"{path} record {i} ({name}): missing {key}")
                value = ""
            texts[key] = value
        records.append({"image_path": name, **texts})
    return records, problems


def locate_images(folder: str | os.PathLike, names: Iterable[str]) -> dict[str, Path | None]:
    """Where each ``image_path`` is: directly in ``folder``, in its ``images_NN`` folders (the published layout),
    or anywhere below it (searched once, only when needed). None where it is not found. Only files below
    ``folder`` are ever returned."""
    from portraitcraft.data import index_images

    root = Path(folder)
    inside = root.resolve()
    index, _ = index_images(root)
    found: dict[str, Path | None] = {}
    deep: dict[str, Path] | None = None
    for name in names:
        path = root / name
        # Never outside the folder: an absolute image_path or one climbing out with ".." is looked up by its bare
        # file name below the folder instead.
        if path.resolve().is_relative_to(inside) and path.is_file():
            found[name] = path
        elif name in index:
            found[name] = index[name]
        else:
            if deep is None:
                deep = {}
                for candidate in sorted(root.rglob("*")) if root.is_dir() else []:
                    if candidate.is_file():
                        deep.setdefault(candidate.name, candidate)
            found[name] = deep.get(Path(name).name)
    return found


@dataclass
class Track2Report:
    """Scores of a set of (description, image) pairs, what could not be scored and why, and how it was done."""

    scores: list[ImageScore]
    missing: dict[str, str]  # image_path -> why it was not scored (not found, unreadable)
    problems: list[str]  # problems of the description file
    extractor: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def frame(self):
        """One row per (image, property) scored: image_path, property, target, reading, agreement, weight."""
        import pandas as pd

        rows = [{"image_path": s.image_path, "property": p.key, "target": p.target, "reading": p.reading,
                 "agreement": p.agreement, "weight": p.weight} for s in self.scores for p in s.properties]
        return pd.DataFrame(rows, columns=["image_path", "property", "target", "reading", "agreement", "weight"])

    def summary(self) -> dict[str, Any]:
        overall = [s.overall for s in self.scores if not math.isnan(s.overall)]
        per_property, reported = {}, {}
        for prop in COUNTED:
            values = [p.agreement for s in self.scores for p in s.properties if p.key == prop.key]
            per_property[prop.key] = {"scored": len(values),
                                      "mean_agreement": float(np.mean(values)) if values else None}
        for key in PROPERTY_KEYS:
            if key not in per_property:
                values = [p.agreement for s in self.scores for p in s.reported if p.key == key]
                reported[key] = {"compared": len(values),
                                 "mean_agreement": float(np.mean(values)) if values else None}
        return {
            "records": len(self.scores) + len(self.missing), "images_scored": len(self.scores),
            "images_missing": len(self.missing),
            "mean_overall": float(np.mean(overall)) if overall else None,
            "images_without_any_scored_property": len(self.scores) - len(overall),
            "mean_coverage": float(np.mean([s.coverage for s in self.scores])) if self.scores else None,
            "mean_mentioned": float(np.mean([s.mentioned for s in self.scores])) if self.scores else None,
            "per_property": per_property, "reported_not_counted": reported,
        }

    def as_dict(self) -> dict[str, Any]:
        return {"scorer": NOT_OFFICIAL, "semantics": list(SEMANTICS), "extractor": self.extractor,
                "summary": self.summary(), "images": [s.as_dict() for s in self.scores], "missing": self.missing,
                "problems": self.problems, "notes": self.notes, "seconds": round(self.seconds, 2)}

    def write_json(self, path: str | os.PathLike) -> None:
        """The report as JSON, written whole, never through a link (`portraitcraft.provenance.write_json`)."""
        write_json(path, self.as_dict())

    def to_text(self, max_listed: int = 20) -> str:
        s = self.summary()
        mean = "n/a" if s["mean_overall"] is None else f"{s['mean_overall']:.3f}"
        coverage = "n/a" if s["mean_coverage"] is None else f"{s['mean_coverage']:.0%}"
        lines = [
            f"Track 2 composition alignment ({self.extractor.get('extractor', '?')} extractor) - "
            "not the official scorer",
            "",
            f"records {s['records']}, images scored {s['images_scored']}, missing or unreadable {s['images_missing']}",
            f"mean overall agreement {mean} (0-1); mean coverage {coverage} of the {len(COUNTED)} counted "
            f"properties, of which the descriptions mention {s['mean_mentioned'] or 0:.1f} on average",
            "",
            f"{'property':<22} {'scored':>6}  mean agreement",
        ]
        for key, row in s["per_property"].items():
            value = "-" if row["mean_agreement"] is None else f"{row['mean_agreement']:.3f}"
            lines.append(f"{key:<22} {row['scored']:>6}  {value}")
        if s["reported_not_counted"]:
            lines += ["", f"{'reported, not counted':<22} {'compared':>6}  mean agreement"]
        for key, row in s["reported_not_counted"].items():
            value = "-" if row["mean_agreement"] is None else f"{row['mean_agreement']:.3f}"
            lines.append(f"{key:<22} {row['compared']:>6}  {value}")
        width = max([40, *(len(score.image_path) + 1 for score in self.scores[:max_listed])])
        lines += ["", f"{'image':<{width}} overall  coverage"]
        for score in self.scores[:max_listed]:
            value = "  n/a" if math.isnan(score.overall) else f"{score.overall:.3f}"
            lines.append(f"{score.image_path:<{width}} {value}    {score.coverage:.0%}")
        if len(self.scores) > max_listed:
            lines.append(f"... and {len(self.scores) - max_listed} more (all in --json)")
        for title, items in (("not scored", [f"{k}: {v}" for k, v in self.missing.items()]),
                             ("description problems", self.problems), ("notes", self.notes)):
            if items:
                lines += ["", f"{title} ({len(items)}):", *(f"  {x}" for x in items[:max_listed])]
                if len(items) > max_listed:
                    lines.append(f"  ... and {len(items) - max_listed} more")
        lines += ["", "rules:", *(f"  - {x}" for x in SEMANTICS)]
        return "\n".join(lines)


def evaluate_folder(descriptions: str | os.PathLike, images: str | os.PathLike, *, extractor: str | Extractor = "cpu",
                    model: str | None = None, max_side: int = 1024, embedder: Any = "auto") -> Track2Report:
    """Score every image of ``images`` against its description in ``descriptions`` (a Track 2 JSON file)."""
    from portraitcraft.features import FeatureError
    from portraitcraft.images import ImageError, open_image

    started = time.perf_counter()
    records, problems = read_descriptions(descriptions)
    engine = make_extractor(extractor, model=model) if isinstance(extractor, str) else extractor
    paths = locate_images(images, [r["image_path"] for r in records])
    notes: list[str] = []
    scores, missing = [], {}
    for record in records:
        name = record["image_path"]
        path = paths.get(name)
        if path is None:
            missing[name] = f"not found under {images}"
            continue
        try:
            picture = open_image(path, max_side=max_side)
        except ImageError as exc:
            missing[name] = str(exc)
            continue
        parsed = parse_description(record["content_description"], record["composition_analysis"], embedder=embedder)
        notes.extend(n for n in parsed.notes if n not in notes)
        try:
            reading = engine.read([picture])[0]
        except FeatureError as exc:  # an image too small or too plain to measure: listed, never fatal
            missing[name] = f"{path}: cannot be measured ({exc})"
            continue
        scores.append(score_image(parsed, reading, name))
    return Track2Report(scores, missing, problems, engine.config(), notes, time.perf_counter() - started)
