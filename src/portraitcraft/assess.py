"""Scoring one's own photos: every image in a folder, with any backend, one row per image.

For example::

    from portraitcraft.assess import (ImageFolder, assess_folder,
                                      assessment_rows, run_assessment)
    from portraitcraft.baseline import FeatureBackend

    folder = ImageFolder("photos")  # recursive; jpg, png, webp, bmp, tiff
    summary = assess_folder(FeatureBackend(), folder,
                            records="photos.records.jsonl")
    # one dict per image, in folder order
    rows = assessment_rows(folder, "photos.records.jsonl")

    # all of it, as `portraitcraft assess` does
    done = run_assessment("photos", "photos.csv", backend="features")

The run is the project's run loop (`runners.base.run_predictions`) over the folder's images: the same records
(``portraitcraft.prediction/1``, one JSON line per image, appended as each is done), so an interrupted run resumes
where it stopped and a run under another configuration is refused. The rows are read from those records:

``image``
    the path relative to the folder (``/``-separated)
``status``
    ``ok``, or ``failed`` with ``error`` saying why (an unreadable file, a model error)
``total_score``
    the overall composition score, 1-100 (null where the output had none; ``error`` then says why, e.g. "no
    score: not_json")
``levels``
    the 13 attributes' levels, Good / Medium / Poor (null where unreadable)
``probabilities``
    per attribute, the probabilities of Poor / Medium / Good where the protocol has them
    (``score`` and the feature baseline; null for ``generate``)
``reasons``
    per attribute, the reason text where the model wrote one (a model fine-tuned with reasons; the
    reference prompt asks for none: null)

A record's ``image_path`` is the relative path with ``%``, ``/`` and ``\\`` percent-encoded (`image_key`): the
records match images by a bare file name, and two photos named ``IMG_0001.jpg`` in two sub-folders must stay two.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from portraitcraft.attributes import ATTRIBUTE_KEYS, ATTRIBUTE_NAMES, LEVELS
from portraitcraft.exceptions import PortraitCraftError
from portraitcraft.images import open_image
from portraitcraft.runners.base import Item

if TYPE_CHECKING:
    from PIL import Image

    from portraitcraft.runners.base import Backend, RunSummary

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
FORMATS = ("csv", "jsonl")


class FolderError(PortraitCraftError, ValueError):
    """A folder that cannot be assessed (absent, not a folder, no image in it); the message names it."""


def image_key(relative: str) -> str:
    """The records' name for an image at ``relative`` (a ``/``-separated path): unique and free of slashes."""
    return relative.replace("%", "%25").replace("/", "%2F").replace("\\", "%5C")


def relative_path(key: str) -> str:
    """The relative path an `image_key` was made from."""
    return unquote(key)


def find_images(folder: str | os.PathLike) -> list[str]:
    """Every image below ``folder`` (by suffix, any case; hidden files and folders skipped), as sorted relative
    ``/``-separated paths."""
    root = Path(folder)
    found = []
    for directory, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in files:
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                found.append((Path(directory) / name).relative_to(root).as_posix())
    return sorted(found)


class ImageFolder:
    """A folder of photos in the shape the run loop reads: `items` to predict and `open_image` to load one."""

    def __init__(self, folder: str | os.PathLike):
        self.root = Path(folder)
        if not self.root.exists():
            raise FolderError(f"{self.root}: no such folder")
        if not self.root.is_dir():
            raise FolderError(f"{self.root}: not a folder")
        self.images = find_images(self.root)
        if not self.images:
            raise FolderError(f"{self.root}: no image found (looked for {', '.join(sorted(IMAGE_SUFFIXES))}, "
                              "in sub-folders too)")

    def items(self) -> list[Item]:
        return [Item(image_key(relative)) for relative in self.images]

    def open_image(self, image_path: str, max_side: int | None = 1024) -> Image.Image:
        return open_image(self.root / relative_path(image_path), max_side=max_side)


def assess_folder(backend: Backend, folder: ImageFolder, *, records: str | os.PathLike, batch_size: int = 1,
                  limit: int | None = None, progress: bool = True) -> RunSummary:
    """Predict every image of ``folder`` not yet in ``records`` (the run loop's guarantees: resumable, one record
    per image, failures recorded)."""
    from portraitcraft.runners.base import run_predictions

    return run_predictions(backend, folder, split=folder.root.name or "images", out=records, limit=limit,
                           batch_size=batch_size, progress=progress, items=folder.items())


# What to do about a failure reason of the overall score that a user can act on.
NO_SCORE_HINTS = {"no_candidate_probability": " (the server's top log-probabilities held none of the candidate words: "
                                              "raise --top-logprobs)"}


def _row(relative: str, record: dict[str, Any] | None) -> dict[str, Any]:
    from portraitcraft.parsing import read_reasons

    if record is None:
        return {"image": relative, "status": "missing", "total_score": None, "levels": None, "probabilities": None,
                "reasons": None, "error": "no record (the run stopped before this image)"}
    parsed = record.get("parsed") or {}
    criteria = parsed.get("criteria") or {}
    probabilities = ((record.get("probabilities") or {}).get("criteria")) or None
    reasons = read_reasons(record["raw_text"]) if record.get("raw_text") else {}
    error = record.get("error")
    if error is None and parsed.get("total_score") is None:  # predicted, but the answer held no score
        why = (parsed.get("failures") or {}).get("total_score")
        error = f"no score: {why}{NO_SCORE_HINTS.get(why, '')}" if why else "no score"
    return {
        "image": relative,
        "status": record.get("status"),
        "total_score": parsed.get("total_score"),
        "levels": {name: criteria.get(name) for name in ATTRIBUTE_NAMES} if record.get("status") == "ok" else None,
        "probabilities": ({name: probabilities.get(name) for name in ATTRIBUTE_NAMES} if probabilities else None),
        "reasons": {name: reasons.get(name) for name in ATTRIBUTE_NAMES} if reasons else None,
        "error": error,
    }


def assessment_rows(folder: ImageFolder, records: str | os.PathLike) -> list[dict[str, Any]]:
    """One row per image of ``folder`` (module docstring), in the folder's order, from the ``records`` file."""
    by_key = {}
    path = Path(records)
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a torn last line of a killed run: that image has no record yet
                continue
            if isinstance(record, dict):
                by_key[record.get("image_path")] = record
    return [_row(relative, by_key.get(image_key(relative))) for relative in folder.images]


def csv_columns() -> list[str]:
    columns = ["image", "status", "total_score"]
    for key in ATTRIBUTE_KEYS:
        columns += [f"{key}_level", *(f"{key}_p_{level.lower()}" for level in LEVELS), f"{key}_reason"]
    return [*columns, "error"]


def flat_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row with one column per value (`csv_columns`): ``<key>_level``, ``<key>_p_poor`` ... ``<key>_reason``."""
    flat = {"image": row["image"], "status": row["status"], "total_score": row["total_score"]}
    for name, key in zip(ATTRIBUTE_NAMES, ATTRIBUTE_KEYS):
        flat[f"{key}_level"] = (row["levels"] or {}).get(name)
        probabilities = (row["probabilities"] or {}).get(name) or {}
        for level in LEVELS:
            flat[f"{key}_p_{level.lower()}"] = probabilities.get(level)
        flat[f"{key}_reason"] = (row["reasons"] or {}).get(name)
    flat["error"] = row["error"]
    return flat


def format_rows(rows: Iterable[dict[str, Any]], fmt: str) -> Iterator[str]:
    """The rows as text: ``jsonl`` (one JSON object a line) or ``csv`` (a header, then one line per image)."""
    if fmt == "jsonl":
        for row in rows:
            yield json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n"
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=csv_columns(), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(flat_row(row))
        yield buffer.getvalue()
    else:
        raise ValueError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")


def format_for(path: str, fmt: str | None) -> str:
    """The output format: ``fmt`` when given, else from the file's suffix (standard output: jsonl)."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValueError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
        return fmt
    if path == "-":
        return "jsonl"
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    raise ValueError(f"{path}: cannot tell the format from the suffix {suffix or '(none)'!r}; use .csv or .jsonl, "
                     "or --format csv|jsonl")


@dataclass
class Assessment:
    """What `run_assessment` did: the rows (one per image, in folder order), the run's summary, where the records
    and the rows went, and the rows as text in the output's format."""

    folder: ImageFolder
    records: Path
    out: str
    rows: list[dict[str, Any]]
    text: str
    summary: RunSummary
    model: str = ""  # what the model learned from, in words (the feature baseline says it)

    def lines(self) -> list[str]:
        """The run's summary, what the photos got (`verdict`), what the model learned from, then where the rows went
        (none for standard output)."""
        wrote = [] if self.out == "-" else [f"wrote {len(self.rows)} row(s) to {self.out}"]
        return [*self.summary.lines(), *verdict(self.rows), *([self.model] if self.model else []), *wrote]


def verdict(rows: list[dict[str, Any]], weakest: int = 3) -> list[str]:
    """What a folder's photos got, in two lines: how many were scored and the range of their scores, and the
    attributes most often judged Poor."""
    scores = sorted(float(r["total_score"]) for r in rows if r["status"] == "ok" and r["total_score"] is not None)
    not_scored = len(rows) - len(scores)
    first = (f"assessed {len(rows)} photo(s): {len(scores)} scored" +
             (f", {not_scored} without a score (see status and error)" if not_scored else ""))
    if not scores:
        return [first]
    import statistics

    middle = statistics.median(scores)
    lines = [f"{first}; overall score {scores[0]:.0f}-{scores[-1]:.0f} (median {middle:.0f}) on 1-100"]
    poor = {name: sum(1 for r in rows if (r.get("levels") or {}).get(name) == "Poor") for name in ATTRIBUTE_NAMES}
    common = sorted((n for n in poor if poor[n]), key=lambda n: (-poor[n], ATTRIBUTE_NAMES.index(n)))[:weakest]
    if common:
        lines.append("most often Poor: " + ", ".join(f"{name} ({poor[name]} of {len(scores)})" for name in common))
    else:
        lines.append("no attribute judged Poor")
    return lines


def run_assessment(folder: str | os.PathLike, out: str | os.PathLike = "-", *, backend: str = "features",
                   fmt: str | None = None, records: str | os.PathLike | None = None, limit: int | None = None,
                   batch_size: int | None = None, progress: bool = True, notify: Any = None,
                   **backend_options: Any) -> Assessment:
    """Score every photo of ``folder`` with ``backend`` (a name of `backends`, built from
    ``backend_options``) and write the rows to ``out`` (a ``.csv`` or ``.jsonl`` file; ``"-"``: only returned,
    as ``text``, for standard output).

    Everything that can be refused is checked before any image is predicted, and in this order: the output
    format, the folder, the backend (its model loaded), the output file (not one of the inputs, writable). The
    records (default `default_records`) are the run loop's, so a rerun predicts only what is missing. Raises
    `FolderError`, ValueError, `portraitcraft.outputs.OutputError`, `runners.base.ModelLoadError`,
    `runners.base.RunError` or OSError, each naming what is wrong. ``notify(text)`` hears what happens before the
    run (the feature baseline built once into the cache where no trained one is at hand).
    """
    from portraitcraft.backends import backend_name, default_batch_size, make_backend
    from portraitcraft.outputs import check_target, refuse_inputs, write_atomic
    from portraitcraft.runners.base import config_hash

    out = str(out)
    output_format = format_for(out, fmt)
    images = ImageFolder(folder)  # the folder is checked before any model is loaded
    runner = make_backend(backend, **backend_options, progress=progress, notify=notify)
    record_file = Path(records) if records is not None else default_records(out, images,
                                                                               config_hash(runner.config()))
    if out != "-":
        refuse_inputs(out, {"--records": record_file})  # before any image is predicted
        check_target(out)
    batch = batch_size or default_batch_size(backend, backend_options.get("concurrency") or 8)
    summary = assess_folder(runner, images, records=record_file, limit=limit, progress=progress, batch_size=batch)
    rows = assessment_rows(images, record_file)
    if limit is not None:
        rows = rows[:limit]
    text = "".join(format_rows(rows, output_format))
    if out != "-":
        write_atomic(out, text, inputs={"--records": record_file})
    model = getattr(runner, "model", None)
    described = ""
    if backend_name(backend) == "features" and model is not None:
        from portraitcraft.baseline import trained_on

        described = trained_on(model)
    return Assessment(images, record_file, out, rows, text, summary, described)


def default_records(out: str, folder: ImageFolder, config_hash: str) -> Path:
    """Where the run's records live: beside a file output (``OUT.records.jsonl``); for standard output, in the
    project's cache, named by the folder and the configuration (so that the same command resumes)."""
    if out != "-":
        return Path(out).with_name(Path(out).name + ".records.jsonl")
    import hashlib

    from portraitcraft.sources import default_cache_dir

    where = hashlib.sha256(str(folder.root.resolve()).encode()).hexdigest()[:12]
    return default_cache_dir() / "assess" / f"{folder.root.resolve().name}-{where}-{config_hash}.jsonl"


__all__ = ["FORMATS", "IMAGE_SUFFIXES", "Assessment", "FolderError", "ImageFolder", "assess_folder",
           "assessment_rows", "csv_columns", "default_records", "find_images", "flat_row", "format_for", "format_rows",
           "image_key", "relative_path", "run_assessment", "verdict"]

