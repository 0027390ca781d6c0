"""Write a synthetic PortraitCraft ("the composition lab") in the published layout.

Files written into ``out``::

    track_1_train.json
        train records: image_path, criteria {attr: {score, reason}},
        total_score
    track_1_test.json
        test records with the ground truth hidden exactly as published:
        criteria {attr: {level: "x"}}, total_score 0, question,
        options A-D, answer "x"
    track_1_test_ground_truth.json
        the hidden labels: the train schema plus question, options and
        the answer letter
    track_2_train.json, track_2_test.json
        image_path, content_description, composition_analysis
    lab_factors.json
        {image_path: {factor: value}} for every image (see lab.factors)
    lab_masks.json, lab_masks/
        what was drawn where: a label PNG per image
        (lab_masks/lab_00000.png) and each person's whole-figure extent
        (see lab.render.scene_masks); read by lab.audit
    images_00/ ... images_10/
        lab_00000.jpg, lab_00001.jpg, ...

Images are numbered across Track 1 train, Track 1 test, Track 2 train, Track 2 test in that order.
Folders hold ``images_per_folder`` consecutive images (100 by default) and, like the published data,
there are at most eleven of them: image ``i`` goes to ``images_{(i // images_per_folder) % 11:02d}``,
so large labs wrap round the eleven folders instead of inventing ``images_11``.

Every record is a pure function of (seed, split, index within the split): one numpy generator per
record, so record ``k`` of a split is the same whatever ``n_train`` or ``n_test`` is, and the same seed
gives byte-identical files (JSON and JPEG).
"""

from __future__ import annotations

import json
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, Iterator

from PIL import Image

from portraitcraft.attributes import ANSWER_LETTERS, ATTRIBUTE_NAMES, HIDDEN_ANSWER, HIDDEN_LEVEL, HIDDEN_TOTAL
from portraitcraft.data import FACTORS_FILE, GROUND_TRUTH_FILE  # the layout is defined once, in data
from portraitcraft.lab.annotate import label_attributes, make_question, total_from_scores
from portraitcraft.lab.describe import describe_scene
from portraitcraft.lab.factors import LONG_SIDE, image_rng, sample_factors
from portraitcraft.lab.render import render_scene, scene_masks

MAX_FOLDERS: Final[int] = 11  # images_00 .. images_10, as published
SPLITS: Final[tuple[tuple[str, str], ...]] = (
    ("track1", "train"), ("track1", "test"), ("track2", "train"), ("track2", "test"),
)
LAB_IMAGE = re.compile(r"lab_\d{5,}\.jpg")
MASKS_FILE: Final[str] = "lab_masks.json"
MASKS_FOLDER: Final[str] = "lab_masks"
JPEG_QUALITY: Final[int] = 90


@dataclass
class LabSummary:
    """What :func:`write_lab` wrote."""

    root: Path
    seed: int
    counts: dict[str, int]  # records per file stem, e.g. {"track_1_train": 300, ...}
    images_written: int
    folders: list[str]
    seconds: float
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["root"] = str(self.root)
        return out

    def __str__(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        return (f"lab written to {self.root} (seed {self.seed}): {counts}; {self.images_written} images in "
                f"{len(self.folders)} folder(s); {self.seconds:.1f} s")


def image_name(index: int) -> str:
    return f"lab_{index:05d}.jpg"


def mask_name(image: str) -> str:
    """File name of an image's label mask in ``lab_masks/``: lab_00000.jpg -> lab_00000.png."""
    return Path(image).with_suffix(".png").name


def image_folder(index: int, images_per_folder: int = 100) -> str:
    return f"images_{(index // images_per_folder) % MAX_FOLDERS:02d}"


def _answer_letter(seed: int, k: int) -> str:
    """Right letter of test question k: each block of four questions uses A-D once, in a seeded order,
    so letters are balanced exactly (per complete block) and still independent of the split's size."""
    block = image_rng(seed, "track1/test/answers", k // 4).permutation(len(ANSWER_LETTERS))
    return ANSWER_LETTERS[int(block[k % 4])]


def make_record(seed: int, track: str, split: str, k: int, image_path: str) -> dict[str, Any]:
    """Factors and records of record ``k`` of a split: keys ``factors``, ``record`` (as published) and,
    for the Track 1 test split, ``ground_truth``."""
    rng = image_rng(seed, f"{track}/{split}", k)
    factors = sample_factors(rng)
    item: dict[str, Any] = {"factors": factors}
    if track == "track2":
        content, analysis = describe_scene(factors, rng)
        item["record"] = {"image_path": image_path, "content_description": content, "composition_analysis": analysis}
        return item
    labels = label_attributes(factors, rng)
    total = total_from_scores({name: label.score for name, label in labels.items()}, rng)
    criteria = {name: {"score": labels[name].score, "reason": labels[name].reason} for name in ATTRIBUTE_NAMES}
    if split != "test":
        item["record"] = {"image_path": image_path, "criteria": criteria, "total_score": total}
        return item
    attribute = ATTRIBUTE_NAMES[int(rng.integers(len(ATTRIBUTE_NAMES)))]
    answer = _answer_letter(seed, k)
    question, options = make_question(factors, labels, attribute, answer, rng)
    item["ground_truth"] = {"image_path": image_path, "criteria": criteria, "total_score": total,
                            "question": question, "options": options, "answer": answer}
    item["record"] = {
        "image_path": image_path, "criteria": {name: {"level": HIDDEN_LEVEL} for name in ATTRIBUTE_NAMES},
        "total_score": HIDDEN_TOTAL, "question": question, "options": options, "answer": HIDDEN_ANSWER,
    }
    return item


@dataclass(frozen=True)
class _Job:
    seed: int
    track: str
    split: str
    start: int  # index within the split
    stop: int
    first_image: int  # global image number of index `start`
    root: str
    render: bool
    images_per_folder: int
    long_side: int


_encode = json.JSONEncoder(ensure_ascii=False).encode


def _run_job(job: _Job) -> list[tuple[str, str, str | None, str | None]]:
    """JSON lines (published record, ``"name": factors`` entry, ground truth or None, ``"name": extents`` entry or
    None) for each record of the job, its images and label masks saved. Encoding here, in the worker, keeps the
    parent process light."""
    out = []
    for k in range(job.start, job.stop):
        number = job.first_image + (k - job.start)
        name = image_name(number)
        item = make_record(job.seed, job.track, job.split, k, name)
        masks_line = None
        if job.render:
            path = Path(job.root) / image_folder(number, job.images_per_folder) / name
            render_scene(item["factors"], long_side=job.long_side).save(path, "JPEG", quality=JPEG_QUALITY)
            masks = scene_masks(item["factors"], long_side=job.long_side)
            Image.fromarray(masks.labels, "L").save(Path(job.root) / MASKS_FOLDER / mask_name(name), optimize=False)
            masks_line = f"{_encode(name)}: {_encode(masks.to_json())}"
        truth = item.get("ground_truth")
        out.append((_encode(item["record"]), f"{_encode(name)}: {_encode(item['factors'].to_dict())}",
                    None if truth is None else _encode(truth), masks_line))
    return out


def _jobs(seed: int, counts: dict[tuple[str, str], int], root: Path, render: bool, images_per_folder: int,
          long_side: int, chunk: int) -> Iterator[_Job]:
    first = 0
    for track, split in SPLITS:
        n = counts[(track, split)]
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            yield _Job(seed, track, split, start, stop, first + start, str(root), render, images_per_folder, long_side)
        first += n


def write_lab(
    out: str | os.PathLike,
    *,
    n_train: int = 300,
    n_test: int = 100,
    n_track2_train: int = 24,
    n_track2_test: int = 24,
    seed: int = 0,
    annotations_only: bool = False,
    images_per_folder: int = 100,
    long_side: int = LONG_SIDE,
    workers: int = 1,
    progress: bool = True,
) -> LabSummary:
    """Generate the composition lab into ``out`` (created if needed) and return what was written.

    ``annotations_only`` writes the JSON files but no images (for scale tests). ``workers > 1`` renders in
    that many processes; the output is byte-identical to a single-process run. Refuses to write into a
    folder that holds a PortraitCraft download (a ``track_1_train.json`` without ``lab_factors.json``).
    """
    started = time.perf_counter()
    root = Path(out)
    for name, value in (("n_train", n_train), ("n_test", n_test), ("n_track2_train", n_track2_train),
                        ("n_track2_test", n_track2_test)):
        if value < 0:
            raise ValueError(f"{name}={value}: must be zero or more")
    if images_per_folder < 1:
        raise ValueError(f"images_per_folder={images_per_folder}: must be at least 1")
    if (root / "track_1_train.json").is_file() and not (root / FACTORS_FILE).is_file():
        raise FileExistsError(
            f"{root}: holds a track_1_train.json that the lab did not write; refusing to overwrite it"
        )
    root.mkdir(parents=True, exist_ok=True)
    counts = {("track1", "train"): n_train, ("track1", "test"): n_test,
              ("track2", "train"): n_track2_train, ("track2", "test"): n_track2_test}
    total_images = sum(counts.values())
    folders = sorted(
        {image_folder(i, images_per_folder) for i in range(min(total_images, images_per_folder * MAX_FOLDERS))}
    )
    if not annotations_only:
        _remove_old_images(root)
        for folder in folders:
            (root / folder).mkdir(exist_ok=True)
        (root / MASKS_FOLDER).mkdir(exist_ok=True)

    # Small chunks when rendering keep the progress bar lively; big ones make JSON-only runs cheap.
    chunk = 25 if not annotations_only else 2000
    jobs = list(_jobs(seed, counts, root, not annotations_only, images_per_folder, long_side, chunk))
    results: dict[tuple[str, str], list] = {key: [] for key in counts}
    bar = _progress(total_images, progress, "rendering lab" if not annotations_only else "writing lab annotations")
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for job, rows in zip(jobs, pool.map(_run_job, jobs)):
                results[(job.track, job.split)].extend(rows)
                bar.update(len(rows))
    else:
        for job in jobs:
            rows = _run_job(job)
            results[(job.track, job.split)].extend(rows)
            bar.update(len(rows))
    bar.close()

    written = []
    # The train file goes last: readers treat its presence as "the lab is complete".
    outputs = [
        ("track_1_test.json", [r[0] for r in results[("track1", "test")]], "[]"),
        (GROUND_TRUTH_FILE, [r[2] for r in results[("track1", "test")]], "[]"),
        ("track_2_train.json", [r[0] for r in results[("track2", "train")]], "[]"),
        ("track_2_test.json", [r[0] for r in results[("track2", "test")]], "[]"),
        (FACTORS_FILE, [r[1] for key in counts for r in results[key]], "{}"),
    ]
    if not annotations_only:
        outputs.append((MASKS_FILE, [r[3] for key in counts for r in results[key]], "{}"))
    else:
        (root / MASKS_FILE).unlink(missing_ok=True)  # masks of an earlier rendered run no longer match
    outputs.append(("track_1_train.json", [r[0] for r in results[("track1", "train")]], "[]"))
    for filename, lines, brackets in outputs:
        _write_json_lines(root / filename, lines, brackets)
        written.append(filename)
    return LabSummary(
        root=root, seed=seed,
        counts={"track_1_train": n_train, "track_1_test": n_test, "track_2_train": n_track2_train,
                "track_2_test": n_track2_test},
        images_written=0 if annotations_only else total_images, folders=[] if annotations_only else folders,
        seconds=time.perf_counter() - started, files=written,
    )


def _write_json_lines(path: Path, lines: list[str], brackets: str) -> None:
    """Write a JSON list (``brackets="[]"``) or object (``"{}"``) atomically, one encoded entry per line:
    valid JSON, diffable, and fast even for the 47,863 records of the full-size training split."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(brackets[0] + "\n")
        handle.write(",\n".join("  " + line for line in lines))
        handle.write(("\n" if lines else "") + brackets[1] + "\n")
    os.replace(tmp, path)


def _remove_old_images(root: Path) -> None:
    """Delete lab images left by an earlier, larger run (only ``lab_NNNNN.jpg`` inside ``images_NN``)."""
    for folder in root.glob("images_[0-9][0-9]"):
        for path in folder.iterdir():
            if LAB_IMAGE.fullmatch(path.name):
                path.unlink()
    masks = root / MASKS_FOLDER
    if masks.is_dir():
        for path in masks.glob("lab_*.png"):
            path.unlink()


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool, description: str) -> Any:
    from portraitcraft.progress import bars_shown, progress_bar

    if not bars_shown(enabled):
        return _NoBar()
    return progress_bar(total, desc=description, unit="img", leave=False)

