"""The box at the top of every page of the book: which data and prediction files the page was built from, when, and
from which commit, so that a reader can tell a page computed on the composition lab from one computed on the real
data, and a page built from their own predictions from one built from the defaults.

    banner(ds, data=data, predictions=predictions)     # the first visible output of every chapter
    banner(ds, data=data, predictions=None, model=m)   # a page that judges a saved model, not prediction files
"""

from __future__ import annotations

import datetime as _dt
import html
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from IPython.display import HTML

from portraitcraft.book.paths import shown_path
from portraitcraft.data import GROUND_TRUTH_FILE, Dataset
from portraitcraft.provenance import git_commit
from portraitcraft.text import counted

# The words for each `Dataset.kind`.
KIND_WORDS = {
    "lab": "the composition lab, synthetic images and labels made by portraitcraft demo-data",
    "local": "a local copy of PortraitCraft",
    "hub": "PortraitCraft from the Hugging Face hub",
}


def split_counts(dataset: Dataset) -> dict[str, Any]:
    """Images per Track 1 split, descriptions per Track 2 split, and how the test labels stand: ``hidden`` (as
    published), ``read from the ground-truth file`` (the lab's, opened with reveal_ground_truth) or ``known``."""
    images = dataset.images()
    track1 = {split: int((images["split"] == split).sum()) for split in dataset.track1_splits}
    descriptions = dataset.descriptions()
    track2 = {split: int((descriptions["split"] == split).sum()) for split in dataset.track2_splits}
    test = images[images["split"] == "test"]
    if test.empty:
        labels = "no test split"
    elif dataset.ground_truth_revealed:
        labels = f"hidden in the published file, read here from {GROUND_TRUTH_FILE}"
    elif bool(test["labels_hidden"].any()):
        labels = "hidden" + (f" (the lab keeps them in {GROUND_TRUTH_FILE})"
                             if dataset.has_ground_truth_file else "")
    else:
        labels = "known"
    return {"track1": track1, "track2": track2, "test_labels": labels}


def code_version(folder: str | os.PathLike | None = None) -> str:
    """The git commit of the code that built the page (short, with a note when tracked files had changed), or
    "unknown commit" outside a git checkout."""
    import portraitcraft

    found = git_commit(folder if folder is not None else Path(portraitcraft.__file__).resolve().parent)
    if found is None:
        return "unknown commit"
    return found["commit"][:7] + (" with uncommitted changes" if found["uncommitted_changes"] else "")


def banner_lines(dataset: Dataset, *, data: str | None = None, predictions: Iterable[str | os.PathLike] | None = None,
                 model: str | os.PathLike | None = None, now: _dt.datetime | None = None,
                 commit: str | None = None) -> dict[str, str]:
    """The banner's lines as plain text: data, images, predictions (no line when ``predictions`` is None, the
    default: the page reads no prediction file; "none given" for an empty list), the model judged (when ``model`` is
    given), built."""
    counts = split_counts(dataset)
    kind = dataset.kind
    track1 = ", ".join(f"{split} {counted(n, 'image')}" for split, n in counts["track1"].items()) or "no Track 1 file"
    track2 = ", ".join(f"{split} {n}" for split, n in counts["track2"].items())
    images = f"Track 1: {track1}; test labels {counts['test_labels']}."
    if track2:
        images += f" Track 2 descriptions: {track2}."
    when = (now or _dt.datetime.now(_dt.timezone.utc)).astimezone(_dt.timezone.utc)
    lines = {"Data": f"{shown_path(data or dataset.root)}: {KIND_WORDS[kind]}", "Images": images}
    if predictions is not None:
        files = [shown_path(p) for p in predictions]
        lines["Predictions"] = ", ".join(files) if files else "none given"
    if model is not None:
        lines["Model"] = shown_path(model)
    lines["Built"] = f"{when:%Y-%m-%d %H:%M} UTC from commit {commit or code_version()}"
    return lines


def banner(dataset: Dataset, *, data: str | None = None, predictions: Iterable[str | os.PathLike] | None = None,
           model: str | os.PathLike | None = None, now: _dt.datetime | None = None,
           commit: str | None = None) -> HTML:
    """The banner as the page shows it (styled by the book's stylesheet, class ``pc-banner``)."""
    lines = banner_lines(dataset, data=data, predictions=predictions, model=model, now=now, commit=commit)
    kind = dataset.kind
    rows = "".join(f"<div><b>{html.escape(name)}</b> {html.escape(text)}</div>" for name, text in lines.items())
    return HTML(f'<div class="pc-banner pc-banner-{kind}">{rows}</div>')


__all__ = ["KIND_WORDS", "banner", "banner_lines", "code_version", "split_counts"]
