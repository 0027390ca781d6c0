"""The paper's Figure 3 as data: for a few Track 2 descriptions, the original photograph and each generator's image,
every one read by the same extractor and scored against the description, property by property.

For example, the lab's descriptions drawn by the composition-lab generator beside their original images (add a
folder of generated images per generator with ``generated=["runs/qwen-image", ...]``)::

    from portraitcraft.track2.compare import agreement_frame, figure3_panels

    panels = figure3_panels("data/lab", limit=4)
    # one row per property the description asks for, a column per image
    agreement_frame(panels[0])

Generators
    The composition-lab generator (`track2.lab_generator`) draws every description by default; each folder in
    ``generated`` (images named by ``image_path``, as ``track2 generate --out`` writes them) adds a column. An image
    a folder lacks is shown as missing, with the reason.
Which descriptions
    The first ``limit`` records of the split, those whose original image is in the data first (the real sample has
    the images of four of its ten descriptions).
The original
    Scored like a generated image: what the extractor reads from the photograph the description was written for
    shows the reach of the scorer itself (a property the original "misses" is one the extractor or the text parser
    gets wrong, or the description overstates).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portraitcraft.track2.properties import BY_KEY
from portraitcraft.track2.score import ImageScore, score_image
from portraitcraft.track2.text import ParsedDescription, parse_description

ORIGINAL, LAB = "original", "lab generator"


@dataclass
class PanelImage:
    """One image of a panel: the original or a generator's, its score against the description, or why it is absent."""

    label: str
    image: Any = None  # PIL image, None when missing
    score: ImageScore | None = None
    missing: str | None = None


@dataclass
class Panel:
    """One description of Figure 3 and the images set beside it."""

    image_path: str
    content: str
    analysis: str
    parsed: ParsedDescription
    images: list[PanelImage] = field(default_factory=list)

    @property
    def asked(self) -> dict[str, Any]:
        return {key: target.value for key, target in self.parsed.targets.items()}


def _split_records(root: Path, split: str | None):
    from portraitcraft.sources import open_dataset

    frame = open_dataset(str(root)).descriptions()
    if frame.empty:
        return frame, split
    if split is None:
        split = "test" if (frame["split"] == "test").any() else str(frame["split"].iloc[0])
    return frame[frame["split"] == split].reset_index(drop=True), split


def figure3_panels(data: str | os.PathLike, *, split: str | None = None, limit: int = 4,
                   generated: Sequence[str | os.PathLike] = (), labels: Sequence[str] | None = None,
                   side: int = 512, extractor: Any = "cpu", lab_generator: bool = True, seed: int = 346346,
                   embedder: Any = None) -> list[Panel]:
    """The panels of Figure 3 (see the module docstring). ``side``: the lab generator's square images; every image is
    read at most ``max(side, 1024)`` pixels on its long side; ``seed``: the lab generator's (that of ``track2
    generate``'s default, so its column matches ``track2 generate --model lab``). ``embedder`` None: descriptions
    read by the rules only, as the lab generator reads them."""
    from portraitcraft.images import ImageError, open_image
    from portraitcraft.sources import open_dataset
    from portraitcraft.track2.extract import make_extractor
    from portraitcraft.track2.lab_generator import LabGenerator
    from portraitcraft.track2.score import locate_images

    root = Path(data)
    frame, split = _split_records(root, split)
    if frame.empty:
        return []
    order = sorted(range(len(frame)), key=lambda i: frame.loc[i, "image_file"] is None)  # originals first
    chosen = [frame.loc[i] for i in order[:limit]]
    generated = [generated] if isinstance(generated, (str, os.PathLike)) else generated  # one folder given bare
    labels = [labels] if isinstance(labels, str) else labels
    folders = [Path(f) for f in generated]
    names = list(labels) if labels is not None else [f.name for f in folders]
    if len(names) != len(folders):
        raise ValueError(f"{len(folders)} generated folders but {len(names)} labels")
    found = [locate_images(folder, [row["image_path"] for row in chosen]) for folder in folders]
    engine = make_extractor(extractor) if isinstance(extractor, str) else extractor
    dataset = open_dataset(str(root))
    drawer = LabGenerator()
    panels = []
    for row in chosen:
        name = row["image_path"]
        content, analysis = row["content_description"] or "", row["composition_analysis"] or ""
        parsed = parse_description(content, analysis, embedder=embedder)
        panel = Panel(name, content, analysis, parsed)
        pictures: list[PanelImage] = []
        if row["image_file"] is not None:
            pictures.append(PanelImage(ORIGINAL, dataset.open_image(name, max_side=max(side, 1024))))
        else:
            pictures.append(PanelImage(ORIGINAL, missing="not in this data"))
        if lab_generator:
            pictures.append(PanelImage(LAB, drawer.draw(content, analysis, width=side, height=side, seed=seed)))
        for label, folder, paths in zip(names, folders, found):
            path = paths.get(name)
            if path is None:
                pictures.append(PanelImage(label, missing=f"not found under {folder}"))
                continue
            try:
                pictures.append(PanelImage(label, open_image(path, max_side=max(side, 1024))))
            except ImageError as exc:
                pictures.append(PanelImage(label, missing=str(exc)))
        for picture in pictures:
            if picture.image is not None:
                picture.score = score_image(parsed, engine.read([picture.image])[0], name)
        panel.images = pictures
        panels.append(panel)
    return panels


def agreement_frame(panel: Panel):
    """One row per property the description asks for: what it asks, then for every image present what the
    extractor read and the agreement (0-1; NaN where the property was not scored: the reading was not confident, or
    the property is reported and never counted, as the aspect ratio, whose reading is still shown). Values
    are written by `Property.show`, as everywhere else (degrees with their unit, shares as percentages)."""
    import pandas as pd

    rows = []
    for key, target in panel.parsed.targets.items():
        prop = BY_KEY[key]
        row = {"property": prop.label, "asked": prop.show(target.value)}
        for picture in panel.images:
            if picture.score is None:
                continue
            scored = {p.key: p for p in picture.score.properties}
            reported = {p.key: p for p in picture.score.reported}  # read and shown, never counted (the aspect)
            p = scored.get(key, reported.get(key))
            row[f"{picture.label}: read"] = "-" if p is None else prop.show(p.reading)
            row[f"{picture.label}: agreement"] = p.agreement if key in scored else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def overall_frame(panels: Sequence[Panel]):
    """Overall agreement (0-1) of every image of every panel: a row per description, a column per image."""
    import pandas as pd

    rows = []
    for panel in panels:
        row: dict[str, Any] = {"description": panel.image_path, "properties asked": len(panel.parsed.targets)}
        for picture in panel.images:
            row[picture.label] = math.nan if picture.score is None else picture.score.overall
        rows.append(row)
    return pd.DataFrame(rows)


MEASUREMENT_PATTERN = "gpu_bench_track2*.json"  # what `scripts/gpu_bench_track2.py --out` is told to write


def generation_measurements(paths: Sequence[str | os.PathLike], committed: str | os.PathLike) -> list[Path]:
    """The GPU measurement files the Figure 3 page shows: those of ``paths`` that exist, or, when none is given,
    every measurement of `scripts/gpu_bench_track2.py` kept in the folder ``committed`` (`MEASUREMENT_PATTERN`,
    the book's ``book/measurements``), oldest name first."""
    if paths:
        return [Path(p) for p in paths if Path(p).is_file()]
    return sorted(Path(committed).glob(MEASUREMENT_PATTERN))


def generation_cost(paths: Sequence[str | os.PathLike]):
    """The GPU measurements of `scripts/gpu_bench_track2.py` found among ``paths`` as one table (None when there is
    none): part, what was measured, seconds, peak memory, GPU, date, file."""
    import pandas as pd

    rows = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            continue
        report = json.loads(path.read_text(encoding="utf-8"))
        for r in report.get("results", []):
            settings = (f"{r.get('width')}x{r.get('height')} px, {r.get('steps')} steps, true CFG "
                        f"{r.get('true_cfg_scale')}" if r.get("part") == "generate" else
                        f"LoRA rank {r.get('rank')}, {r.get('batch_size')} x {r.get('grad_accum')} images at "
                        f"{r.get('resolution')} px, {r.get('precision')}")
            rows.append({"part": "one image" if r.get("part") == "generate" else "one training step",
                         "settings": settings, "seconds": r.get("seconds") if r.get("status") == "ok" else None,
                         "status": r.get("status"), "peak memory (GiB)": r.get("peak_memory_gib"),
                         "hours for 12,000 steps (ours, 1 GPU)": r.get("hours_ours", r.get("hours_for_reference_run")),
                         "GPU hours (reference, 16 per step)": r.get("gpu_hours_reference"),
                         "GPU": report.get("gpu") or f"none ({report.get('device')}: a dry run)",
                         "measured": str(report.get("measured_at", ""))[:10], "file": path.name})
    return pd.DataFrame(rows) if rows else None


__all__ = ["LAB", "MEASUREMENT_PATTERN", "ORIGINAL", "Panel", "PanelImage", "agreement_frame", "figure3_panels",
           "generation_cost", "generation_measurements", "overall_frame"]
