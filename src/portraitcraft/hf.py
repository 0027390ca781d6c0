"""The bridge to Hugging Face `datasets`: a PortraitCraft root as a `datasets.DatasetDict`, and back.

For example::

    from portraitcraft.hf import to_hf
    from portraitcraft.sources import open_dataset

    # DatasetDict: train, test (the root's splits)
    track1 = to_hf(open_dataset("data/lab"), track=1)
    track1["train"][0]["image"]                           # a PIL image
    track1["train"].features["sharpness_level"].int2str(2)  # 'Good'
    # the same records, read by the project's own checks
    again = open_dataset(track1)

Track 1 columns (`track1_features`): ``image`` (`datasets.Image`, the file's own bytes, not re-encoded),
``image_path``, ``labels_hidden``, ``total_score``; per attribute ``<key>_score`` (0-10), ``<key>_level``
(`datasets.ClassLabel` over Poor / Medium / Good) and ``<key>_reason``; ``question``, ``options`` (A-D) and
``answer`` (`ClassLabel` over A-D). Hidden test labels are null scores and level / answer -1 (no label).
Track 2 columns (`track2_features`): ``image``, ``image_path``, ``content_description``, ``composition_analysis``.
An image missing from the root is a null ``image``.

`datasets.load_dataset` cannot read the published folder itself (the two tracks' files have different schemas
under one root); this module is how the data reaches `datasets`. Going back, `from_hf` writes the records in the
published layout into a folder (the images' bytes included) and the project opens that folder as it opens any
root, so a `DatasetDict` gets the same checks and problems as the files.

`datasets` is imported by these functions only, never when `portraitcraft.data` or `portraitcraft.sources` is
imported. `portraitcraft.sources.open_dataset` takes a DatasetDict back (through `materialise`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portraitcraft.attributes import (
    ANSWER_LETTERS,
    ATTRIBUTE_KEYS,
    ATTRIBUTE_NAMES,
    HIDDEN_ANSWER,
    HIDDEN_LEVEL,
    HIDDEN_TOTAL,
    LEVELS,
)
from portraitcraft.provenance import CITATION

if TYPE_CHECKING:
    import datasets

    from portraitcraft.data import Dataset

TRACKS = (1, 2)
# The folder a DatasetDict is written into for opening lives under the project's cache, named by its content.
HF_CACHE_FOLDER = "from-datasets"


def _datasets():
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ImportError("the datasets bridge needs the `datasets` package: pip install datasets") from exc
    return datasets


def track1_features() -> datasets.Features:
    """The Track 1 schema of `to_hf` (module docstring)."""
    ds = _datasets()
    columns: dict[str, Any] = {
        "image": ds.Image(),
        "image_path": ds.Value("string"),
        "labels_hidden": ds.Value("bool"),
        "total_score": ds.Value("float64"),
    }
    for key in ATTRIBUTE_KEYS:
        columns[f"{key}_score"] = ds.Value("float64")
        columns[f"{key}_level"] = ds.ClassLabel(names=list(LEVELS))
        columns[f"{key}_reason"] = ds.Value("string")
    columns["question"] = ds.Value("string")
    columns["options"] = {letter: ds.Value("string") for letter in ANSWER_LETTERS}
    columns["answer"] = ds.ClassLabel(names=list(ANSWER_LETTERS))
    return ds.Features(columns)


def track2_features() -> datasets.Features:
    """The Track 2 schema of `to_hf` (module docstring)."""
    ds = _datasets()
    return ds.Features({
        "image": ds.Image(),
        "image_path": ds.Value("string"),
        "content_description": ds.Value("string"),
        "composition_analysis": ds.Value("string"),
    })


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _image_cell(file: Path | None, name: str) -> dict[str, Any] | None:
    # The file's own bytes: nothing is decoded or re-encoded, so the round trip gives the same file back.
    return None if file is None else {"bytes": Path(file).read_bytes(), "path": name}


def _track1_rows(dataset: Dataset, split: str, keep: Any = None) -> Iterator[dict[str, Any]]:
    images = dataset.images()
    # The records' own reasons, questions and options, each with its row of images()
    entries = [e for e in dataset.track1_entries(split) if keep is None or keep(e.image_path)]
    part = images.iloc[[e.row for e in entries]]
    for row, entry in zip(part.itertuples(index=False), entries):
        record = row._asdict()
        out: dict[str, Any] = {
            "image": _image_cell(record["image_file"], entry.image_path),
            "image_path": entry.image_path,
            "labels_hidden": entry.hidden,
            "total_score": _number(record["total_score"]),
        }
        for j, key in enumerate(ATTRIBUTE_KEYS):
            level = record[f"{key}_level"]
            out[f"{key}_score"] = _number(record[f"{key}_score"])
            out[f"{key}_level"] = LEVELS.index(level) if isinstance(level, str) else -1
            out[f"{key}_reason"] = entry.reasons[j]
        out["question"] = entry.question
        out["options"] = {letter: entry.options.get(letter) for letter in ANSWER_LETTERS}
        out["answer"] = ANSWER_LETTERS.index(entry.answer) if entry.answer in ANSWER_LETTERS else -1
        yield out


def _track2_rows(dataset: Dataset, split: str) -> Iterator[dict[str, Any]]:
    frame = dataset.descriptions()
    for row in frame[frame["split"] == split].itertuples(index=False):
        yield {"image": _image_cell(row.image_file, row.image_path), "image_path": row.image_path,
               "content_description": row.content_description, "composition_analysis": row.composition_analysis}


def _generate(rows: Any) -> Iterator[dict[str, Any]]:
    yield from rows()


def _content_fingerprint(dataset: Dataset, track: int, split: str) -> str:
    """Names what a split's Arrow file is made from (the track file and every image's size and time), so that
    `datasets`' cache reuses it only for the same content."""
    digest = hashlib.sha256(f"portraitcraft.hf/1|{track}|{split}|{dataset.root.resolve()}".encode())
    names = [f"track_{track}_{split}.json", "track_1_test_ground_truth.json" if dataset.ground_truth_revealed else ""]
    for name in filter(None, names):
        path = dataset.root / name
        if path.is_file():
            stat = path.stat()
            digest.update(f"|{name}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    for name in sorted(dataset.image_index):
        stat = dataset.image_index[name].stat()
        digest.update(f"|{name}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:32]


# What every exported split says about itself (`datasets.DatasetInfo`, saved in its dataset_info.json).
LICENSE = "CC BY-NC 4.0"
HOMEPAGE = "https://arxiv.org/abs/2604.03611"  # the paper; CITATION (the package's) says how to cite it


def describe(info: Any, dataset: Dataset, track: int) -> None:
    """Fill a split's `datasets.DatasetInfo`: what it holds, the licence, how to cite the benchmark."""
    lab = (dataset.root / "lab_factors.json").is_file()  # the lab's own file (data.FACTORS_FILE)
    what = ("the synthetic composition lab of the PortraitCraft Book (rendered images, labels from documented "
            "factors)" if lab else "PortraitCraft, a benchmark of real portrait photographs with expert composition "
            "annotations")
    task = ("Track 1, understanding: an overall composition score (1-100), a level (Poor / Medium / Good) for each "
            "of 13 composition attributes with reasons, and a multiple-choice question" if track == 1 else
            "Track 2, generation: a portrait's content description and composition analysis")
    info.description = f"{what}. {task}. Exported by portraitcraft from {dataset.root.name}."
    info.license = LICENSE
    info.citation = CITATION
    info.homepage = HOMEPAGE


def record_counts(dataset: Dataset, track: int) -> dict[str, int]:
    """The number of ``track``'s records in each split the root has a file for (a file may hold none)."""
    if track == 1:
        return {split: len(dataset.track1_entries(split)) for split in dataset.track1_splits}
    frame = dataset.descriptions()
    return {split: int((frame["split"] == split).sum()) for split in dataset.track2_splits}


def rows_without_image(dataset: Dataset, track: int) -> list[str]:
    """The image names of ``track``'s records whose image file is missing: exported with ``image`` None."""
    frame = dataset.images() if track == 1 else dataset.descriptions()
    return [name for name, file in zip(frame["image_path"], frame["image_file"]) if file is None]


def to_hf(dataset: Dataset, track: int = 1, *, cache_dir: str | os.PathLike | None = None,
          validation: Sequence[str] = ()) -> datasets.DatasetDict:
    """``dataset``'s Track 1 or Track 2 records as a `datasets.DatasetDict`, one split per split of the root.

    Rows are written to Arrow files in `datasets`' cache (``cache_dir``: its default), so the whole published
    set does not have to fit in memory. See the module docstring for the columns. A split without records is left
    out (`record_counts`); ValueError when no split has any. With ``validation``, names of
    Track 1 training images (`portraitcraft.labels.validation_images`: the seeded held-out images the book scores
    where the test labels are hidden), the root's train split becomes two: ``validation``, those images, and
    ``train``, the others.
    """
    ds = _datasets()
    if track not in TRACKS:
        raise ValueError(f"track={track!r}: expected 1 or 2")
    splits = dataset.track1_splits if track == 1 else dataset.track2_splits
    if not splits:
        raise ValueError(f"{dataset.root}: no Track {track} files (track_{track}_<split>.json)")
    features = track1_features() if track == 1 else track2_features()
    rows_of = _track1_rows if track == 1 else _track2_rows
    # (name of the part, the root's split it is drawn from, which of its images it keeps: None all)
    selections: list[tuple[str, str, Any]] = [(split, split, None) for split in splits]
    if validation and track == 1 and "train" in splits and "validation" not in splits:
        held = frozenset(validation)
        selections = [part for split in splits for part in (
            [("train", "train", lambda name: name not in held), ("validation", "train", held.__contains__)]
            if split == "train" else [(split, split, None)])]
        held_digest = hashlib.sha256("\n".join(sorted(held)).encode()).hexdigest()
    counts = record_counts(dataset, track)
    if not sum(counts.values()):
        files = ", ".join(f"track_{track}_{split}.json" for split in splits)
        raise ValueError(f"{dataset.root}: no Track {track} records ({files} hold none)")
    parts = {}
    for name, split, keep in selections:
        if not counts[split] or (keep is not None and not any(keep(e.image_path)
                                                              for e in dataset.track1_entries(split))):
            # Left out: `datasets` generates no table without rows, and an empty one saved does not load back.
            continue
        fingerprint = _content_fingerprint(dataset, track, split)
        if keep is not None:
            fingerprint = hashlib.sha256(f"{fingerprint}|{name}|{held_digest}".encode())
            fingerprint = fingerprint.hexdigest()[:32]
        parts[name] = ds.Dataset.from_generator(
            _generate, features=features, split=ds.NamedSplit(name),
            gen_kwargs={"rows": lambda split=split, keep=keep: (
                rows_of(dataset, split, keep) if keep is not None else rows_of(dataset, split))},
            fingerprint=fingerprint, cache_dir=None if cache_dir is None else str(cache_dir))
        describe(parts[name].info, dataset, track)
    return ds.DatasetDict(parts)


# ---- back: a DatasetDict written in the published layout ------------------------------------------------------------

def track_of(data: Mapping[str, Any]) -> int:
    """1 or 2: which of `to_hf`'s schemas the splits of ``data`` have; ValueError naming what is wrong otherwise."""
    if not len(data):
        raise ValueError("the DatasetDict has no splits")
    wanted = {1: set(track1_features()), 2: set(track2_features())}
    first = None
    for split, part in data.items():
        columns = set(part.column_names)
        track = next((t for t, names in wanted.items() if names <= columns), None)
        if track is None:
            missing = min((sorted(names - columns) for names in wanted.values()), key=len)
            raise ValueError(f"split {split!r} is neither a Track 1 nor a Track 2 table of portraitcraft.hf "
                             f"(missing column(s): {', '.join(missing)})")
        if first is not None and track != first:
            raise ValueError(f"split {split!r} has the Track {track} columns, split {next(iter(data))!r} Track {first}")
        first = track
    return first


def _json_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _label(part: Any, column: str, code: int | None) -> str | None:
    return None if code is None or code < 0 else part.features[column].int2str(int(code))


def _track1_record(row: Mapping[str, Any], part: Any) -> dict[str, Any]:
    """One row back to a record of the published files (the test file's placeholders where labels are hidden)."""
    criteria: dict[str, dict[str, Any]] = {}
    hidden = bool(row.get("labels_hidden"))
    for name, key in zip(ATTRIBUTE_NAMES, ATTRIBUTE_KEYS):
        entry: dict[str, Any] = {}
        score, level = row.get(f"{key}_score"), _label(part, f"{key}_level", row.get(f"{key}_level"))
        if hidden:
            entry["level"] = HIDDEN_LEVEL
        elif score is not None:
            entry["score"] = _json_number(score)
        elif level is not None:
            entry["level"] = level
        if row.get(f"{key}_reason") is not None:
            entry["reason"] = row[f"{key}_reason"]
        criteria[name] = entry
    total = row.get("total_score")
    record: dict[str, Any] = {
        "image_path": row["image_path"],
        "criteria": criteria,
        "total_score": HIDDEN_TOTAL if hidden else (None if total is None else _json_number(total)),
    }
    if record["total_score"] is None:
        del record["total_score"]  # absent, as it was: the reader reports it missing again
    if row.get("question") is not None:
        record["question"] = row["question"]
        record["options"] = {k: v for k, v in (row.get("options") or {}).items() if v is not None}
        answer = _label(part, "answer", row.get("answer"))
        record["answer"] = HIDDEN_ANSWER if hidden or answer is None else answer
    return record


def _track2_record(row: Mapping[str, Any], part: Any) -> dict[str, Any]:
    return {key: row[key] for key in ("image_path", "content_description", "composition_analysis")
            if row.get(key) is not None}


def _write_image(cell: Mapping[str, Any] | None, folder: Path, name: str) -> None:
    if not cell:
        return
    target = folder / name
    if target.exists():
        return
    partial = target.with_name(target.name + ".partial")
    if cell.get("bytes") is not None:
        partial.write_bytes(cell["bytes"])
    elif cell.get("path") and Path(cell["path"]).is_file():
        shutil.copyfile(cell["path"], partial)
    else:
        return
    os.replace(partial, target)


def from_hf(data: datasets.DatasetDict | Sequence[datasets.DatasetDict], out: str | os.PathLike) -> Path:
    """Write one `DatasetDict` of `to_hf`'s shape (or one per track) as a PortraitCraft root in ``out``.

    Images go to ``out/images_00`` as their stored bytes; records to ``track_<t>_<split>.json``. Returns ``out``.
    """
    parts = [data] if isinstance(data, Mapping) else list(data)
    out = Path(out)
    images = out / "images_00"
    images.mkdir(parents=True, exist_ok=True)
    seen_tracks: set[int] = set()
    ds = _datasets()
    for dataset_dict in parts:
        track = track_of(dataset_dict)
        if track in seen_tracks:
            raise ValueError(f"two DatasetDicts with Track {track} columns; give at most one per track")
        seen_tracks.add(track)
        make_record = _track1_record if track == 1 else _track2_record
        for split, part in dataset_dict.items():
            raw = part.cast_column("image", ds.Image(decode=False))  # the stored bytes, not decoded pixels
            records = []
            for row in raw:
                name = os.path.basename(str(row["image_path"]))
                _write_image(row["image"], images, name)
                records.append(make_record(row, part))
            target = out / f"track_{track}_{split}.json"
            partial = target.with_name(target.name + ".partial")
            partial.write_text(json.dumps(records, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
            os.replace(partial, target)
    return out


def is_hf_data(source: Any) -> bool:
    """Whether ``source`` is a `datasets.DatasetDict` (or a list of them), without importing `datasets`."""
    items = source if isinstance(source, (list, tuple)) else [source]
    return bool(items) and all(type(item).__module__.startswith("datasets.") and isinstance(item, Mapping)
                               for item in items)


def materialise(source: Any, cache_root: str | os.PathLike) -> Path:
    """The folder under ``cache_root`` holding ``source`` (a DatasetDict or a list of them) in the published
    layout; written once per content (the splits' `datasets` fingerprints name it)."""
    items = source if isinstance(source, (list, tuple)) else [source]
    digest = hashlib.sha256(b"portraitcraft.hf/1")
    for item in items:
        for split, part in item.items():
            digest.update(f"|{split}|{part._fingerprint}".encode())
    folder = Path(cache_root) / HF_CACHE_FOLDER / digest.hexdigest()[:24]
    done = folder / ".complete"
    if not done.is_file():
        if folder.exists():
            shutil.rmtree(folder)  # an interrupted earlier write
        from_hf(list(items), folder)
        done.write_text("", encoding="utf-8")
    return folder


def saved_dataset_dicts(folder: Path) -> list[Path]:
    """The `save_to_disk` folders `save` wrote under ``folder`` (``track_1``, ``track_2``), or ``folder`` itself
    when it is one; empty for anything else."""
    if (folder / "dataset_dict.json").is_file():
        return [folder]
    return [folder / f"track_{t}" for t in TRACKS if (folder / f"track_{t}" / "dataset_dict.json").is_file()]


def load_saved(folders: Sequence[Path]) -> list[datasets.DatasetDict]:
    ds = _datasets()
    return [ds.load_from_disk(str(folder)) for folder in folders]


def save(dataset: Dataset, out: str | os.PathLike, *, tracks: Sequence[int] = TRACKS,
         validation: Sequence[str] = ()) -> list[Path]:
    """`to_hf` of each track the root has records of, saved with `DatasetDict.save_to_disk` into
    ``out/track_<t>`` (``validation``: Track 1's train split as train and validation, see `to_hf`). A track whose
    files hold no record is not written (`record_counts`), nor a split with none.

    Read back with ``datasets.load_from_disk(out / "track_1")``; ``push_to_hub`` uploads one where a hub is reachable.
    """
    written = []
    for track in tracks:
        if not sum(record_counts(dataset, track).values()):
            continue
        target = Path(out) / f"track_{track}"
        to_hf(dataset, track, validation=validation if track == 1 else ()).save_to_disk(str(target))
        written.append(target)
    if not written:
        what = " or ".join(f"Track {track}" for track in tracks)
        has_files = any(dataset.track1_splits if track == 1 else dataset.track2_splits for track in tracks)
        raise ValueError(f"{dataset.root}: no {what} records to export"
                         + (" (its track files hold none)" if has_files else " (no track_<t>_<split>.json files)"))
    return written


__all__ = [
    "from_hf",
    "is_hf_data",
    "load_saved",
    "materialise",
    "record_counts",
    "rows_without_image",
    "save",
    "saved_dataset_dicts",
    "to_hf",
    "track1_features",
    "track2_features",
    "track_of",
]
