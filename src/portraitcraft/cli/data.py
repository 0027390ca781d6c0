"""Commands on the data itself: validate a root, export it for other tools, render the composition lab."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import typer

from portraitcraft.cli.common import DATA_ARGUMENT, PROGRESS_OPTION
from portraitcraft.cli.contract import fail


def validate(
    data: str = DATA_ARGUMENT,
    strict: bool = typer.Option(True, "--strict/--lenient",
        help="Strict: exit 1 when any error is found. Lenient: report, exit 0."),
    check_images: bool = typer.Option(True, "--check-images/--no-check-images",
        help="Open every image header to catch unreadable files."),
    max_problems: int = typer.Option(50, help="Print at most this many problems (all are counted)."),
    progress: bool = typer.Option(True, "--progress/--no-progress",
        help="Show a progress bar while image headers are read."),
) -> None:
    """Check a PortraitCraft root and name every problem with its file and record.

    Exit codes: 0 no errors (or --lenient); 1 errors found in strict mode; 2 the data cannot be read at all (no such folder, malformed JSON: one line with file, line and column).
    """  # noqa: E501 (the command's help: typer keeps a docstring's line breaks)
    from portraitcraft.data import iter_problems
    from portraitcraft.sources import open_dataset

    dataset = open_dataset(data, strict=False, check_images=check_images, progress=progress)
    typer.echo(dataset.summary())
    for line in iter_problems(dataset.problems, limit=max_problems):
        typer.echo(f"  {line}")
    hidden = len(dataset.problems) - max_problems
    if hidden > 0:
        typer.echo(f"  ... and {hidden} more")
    blocking = len(dataset.blocking)
    found = f"{len(dataset.errors) - blocking} error(s)"
    if blocking:  # not a PortraitCraft root: nothing can be computed from it
        found = f"{blocking} blocking finding(s), {found}"
    if dataset.errors and strict:
        typer.echo(f"FAILED: {found} (use --lenient to report without failing)", err=True)
        raise typer.Exit(1)
    typer.echo("OK" if not dataset.errors else f"reported {found} (lenient mode)")


def export(
    data: str = DATA_ARGUMENT,
    out: Path = typer.Argument(..., help="Folder to write into (created if needed): OUT/track_1 and OUT/track_2."),
    to: Literal["hf"] = typer.Option("hf", "--to",
        help="hf: Hugging Face `datasets` (Arrow, DatasetDict.save_to_disk)."),
    split: str | None = typer.Option(None, "--split",
        help=("validation: Track 1's train split is written as two, validation (the seeded held-out part of train, "
              "fraction 0.1, seed 0, that the book scores where the test labels are hidden) and train (the rest).")),
    progress: bool = PROGRESS_OPTION,
) -> None:
    """Save the data for other tools: `--to hf` writes each track as a Hugging Face `datasets.DatasetDict` (Arrow).

    Splits as in the root; columns: the image, the 13 levels as ClassLabel, the scores, reasons, question and options;
    each split's DatasetInfo carries a description, the licence (CC BY-NC 4.0) and the citation. A record whose image
    file is missing is exported with no image, and counted in a warning; a track or split without records is not
    written (one line says so).

    Load with `datasets.load_from_disk("OUT/track_1")`, or `portraitcraft validate OUT` (any command takes OUT as
    its data); upload with `.push_to_hub(...)` where a hub is reachable. Exit codes: 0 written; 2 the data cannot be
    read or OUT cannot be written.
    """
    from portraitcraft.hf import TRACKS, record_counts, rows_without_image, save
    from portraitcraft.labels import VALIDATION_SPLIT, validation_images
    from portraitcraft.progress import quiet_library_bars
    from portraitcraft.sources import open_dataset

    if split not in (None, VALIDATION_SPLIT):
        fail(f"--split {split!r}: expected {VALIDATION_SPLIT} (without --split the root's splits are written)")
    quiet_library_bars(progress, using=("datasets",))
    dataset = open_dataset(data)
    written = save(dataset, out, validation=validation_images(dataset) if split else ())
    for track in TRACKS:
        missing = rows_without_image(dataset, track) if (out_track := Path(out) / f"track_{track}") in written else []
        if missing:
            typer.echo(f"warning: {len(missing)} Track {track} record(s) exported without an image (the file is "
                       f"missing), first {missing[0]}; they are in {out_track} with image None", err=True)
    for track in TRACKS:
        counts = record_counts(dataset, track)
        empty = [f"track_{track}_{split}.json" for split, n in counts.items() if not n]
        if empty and len(empty) == len(counts):
            older = Path(out) / f"track_{track}"
            kept = f"; the older {older} is left as it was" if older.exists() else ""
            typer.echo(f"Track {track} had no records ({', '.join(empty)} hold none): not exported{kept}", err=True)
        elif empty:
            what = "holds no records: that split is" if len(empty) == 1 else "hold no records: those splits are"
            typer.echo(f"Track {track}: {', '.join(empty)} {what} not exported", err=True)
    for folder in written:
        typer.echo(f"wrote {folder}", err=True)


def lmms_tasks(
    export: Path = typer.Argument(..., help="A folder written by `portraitcraft export DATA OUT --to hf` (OUT)."),
    out: Path = typer.Option(..., "--out", help="Folder for the task files (created): pass it as --include_path."),
) -> None:
    """Write lmms-eval task files for an exported dataset: PortraitCraft Track 1 with the reference prompt, our parser and scorer.

    Tasks: portraitcraft_track1_validation (the book's validation split of train, with validation_ground_truth.json for `portraitcraft evaluate`) and portraitcraft_track1_test (for a submission). Run: python -m lmms_eval --include_path OUT --tasks portraitcraft_track1_validation --model ... --log_samples. Exit codes: 0 written; 2 EXPORT is not a Track 1 export or OUT cannot be written.
    """  # noqa: E501 (the command's help: typer keeps a docstring's line breaks)
    from portraitcraft.integrations.lmms_eval import write_tasks

    for line in write_tasks(export, out).lines():
        typer.echo(line)


def demo_data(
    out: Path = typer.Argument(..., help="Folder to write the synthetic PortraitCraft into (created if needed)."),
    n_train: int = typer.Option(300, help="Track 1 training records (and images)."),
    n_test: int = typer.Option(100, help="Track 1 test records; their labels go to track_1_test_ground_truth.json."),
    n_track2: int = typer.Option(24, help="Track 2 records in each of track_2_train.json and track_2_test.json."),
    seed: int = typer.Option(0, help="Same seed, same bytes (JSON and JPEG)."),
    annotations_only: bool = typer.Option(False, "--annotations-only",
        help="Write the JSON files only, no images (scale tests)."),
    images_per_folder: int = typer.Option(100,
        help="Consecutive images per images_NN folder (eleven folders at most, then wrap)."),
    workers: int = typer.Option(0, help="Processes for rendering; 0 = one per CPU. The output does not depend on it."),
    audit: bool = typer.Option(False, "--audit",
        help="Then check every reason, answer and Track 2 sentence against the rendered pictures (as lab-audit)."),
    progress: bool = PROGRESS_OPTION,
) -> None:
    """Render the composition lab: a synthetic PortraitCraft in the published layout, with known factors.

    Exit codes: 0 written (and, with --audit, no contradiction); 1 the audit found a contradiction; 2 bad options or
    the folder cannot be written (or holds a real download).
    """

    from portraitcraft.lab import write_lab

    summary = write_lab(
        out, n_train=n_train, n_test=n_test, n_track2_train=n_track2, n_track2_test=n_track2, seed=seed,
        annotations_only=annotations_only, images_per_folder=images_per_folder,
        workers=workers or (os.cpu_count() or 1), progress=progress,
    )
    typer.echo(str(summary))
    if audit:
        lab_audit(out, show=20, progress=progress)


def lab_audit(
    root: Path = typer.Argument(..., help="A composition lab rendered by demo-data (it holds lab_masks.json)."),
    show: int = typer.Option(50, help="Contradictions to list (all are counted)."),
    progress: bool = PROGRESS_OPTION,
) -> None:
    """Check every statement of a composition lab's texts against its pictures, never its factors.

    Reasons, the right answers' options and Track 2 descriptions are read sentence by sentence; what each says about
    the people, negative space, gaze and lead room, crops, horizon, light side and palette is measured on the
    rendered image and its label mask, with the tolerances of portraitcraft.lab.audit.TOLERANCES; each reason's
    cause must agree with its verdict. Lists each contradiction (image, source, sentence, what the picture shows).

    Exit codes: 0 no contradiction; 1 at least one; 2 not a rendered lab (no label masks) or images under 512 px
    (the size demo-data renders).
    """
    from portraitcraft.lab.audit import audit_lab

    report = audit_lab(root, progress=progress)
    for contradiction in report.contradictions[:show]:
        typer.echo(str(contradiction))
    if len(report.contradictions) > show:
        typer.echo(f"... and {len(report.contradictions) - show} more")
    typer.echo(report.summary())
    if report.contradictions:
        raise typer.Exit(1)
