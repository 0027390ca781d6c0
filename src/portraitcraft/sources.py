"""One way in for data: `open_dataset` opens a PortraitCraft root from any source the package takes.

For example::

    import portraitcraft as pc
    from portraitcraft.hf import to_hf
    from portraitcraft.sources import check_dataset

    # a local folder in the published layout
    ds = pc.open_dataset("data/lab")
    # the default composition lab, built in the cache on first use
    lab = pc.open_dataset("lab")
    # a Hugging Face dataset id (where the hub is reachable)
    hub = pc.open_dataset("zijielou/PortraitCraft")
    # a datasets.DatasetDict of `portraitcraft.hf`'s shape (or a list)
    again = pc.open_dataset(to_hf(ds, track=1))
    # what was opened: "lab", True, True
    print(ds.kind, ds.is_lab, ds.test_labels_hidden)

    # never raises on the data: findings with their severity
    check = check_dataset("data/lab")
    # what stops a build: not a root, an unreadable file
    print([str(finding) for finding in check.blocking])

A folder that ``portraitcraft export --to hf`` wrote opens as its DatasetDicts do. Every command, chapter and
library function that takes data as a name or a path opens it here; `Dataset` (`portraitcraft.data`) reads a
folder and knows nothing of where it came from.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portraitcraft import hf
from portraitcraft.data import BLOCKING, DataError, Dataset, Problem, ValidationError

DEFAULT_LAB = "lab"  # the data name of the default composition lab
DEFAULT_HUB_ID = "zijielou/PortraitCraft"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# The default lab's size and seed: the same lab as `portraitcraft demo-data data/lab` and `make lab` write.
DEFAULT_LAB_SIZE = {"n_train": 300, "n_test": 100, "seed": 0}


def default_cache_dir() -> Path:
    """The package's cache (``PORTRAITCRAFT_CACHE``, else ``~/.cache/portraitcraft``): the default lab, data
    written from `datasets`, assessments."""
    return Path(os.environ.get("PORTRAITCRAFT_CACHE", Path.home() / ".cache" / "portraitcraft"))


def default_lab_root() -> Path:
    """Where the default composition lab (the data name "lab") lives once built."""
    return default_cache_dir() / "lab-default"


def default_lab() -> Path:
    """The default composition lab's root, built there first when it is not yet (one line on stderr says so, and a
    bar shows the rendering). Two processes building at once both finish; the first one's folder is kept."""
    out = default_lab_root()
    if (out / "track_1_train.json").is_file():
        return out
    size = DEFAULT_LAB_SIZE
    print(f"building the default composition lab ({size['n_train']} train and {size['n_test']} test images, seed "
          f"{size['seed']}) in {out}; this happens once", file=sys.stderr, flush=True)
    from portraitcraft.lab.writer import write_lab  # the renderer loads only when a lab is built

    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f"{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    write_lab(partial, **size, progress=True)
    try:
        os.rename(partial, out)  # the whole lab appears at once, or not at all
    except OSError:
        if not (out / "track_1_train.json").is_file():
            raise
        shutil.rmtree(partial, ignore_errors=True)  # another process built it meanwhile
    return out


def resolve_source(source: Any) -> tuple[Path, str]:
    """The root folder of ``source`` and where it came from (`Dataset.source`): ``local``, ``lab``, ``datasets``
    or ``hub:<id>``. A local folder wins over the names "lab" and hub ids; `datasets` data (a DatasetDict, a list of
    them, or a folder ``export --to hf`` wrote) is written once in the published layout under the cache."""
    if hf.is_hf_data(source):
        try:
            return hf.materialise(source, default_cache_dir()), "datasets"
        except ValueError as exc:
            raise DataError(f"DatasetDict: {exc}") from exc
    text = str(source)
    path = Path(text).expanduser()
    if path.exists():
        try:
            saved = hf.saved_dataset_dicts(path)
        except OSError as exc:  # a folder the process may not enter: nothing in it can even be looked at
            raise DataError(f"{path}: cannot read the folder ({exc.strerror or exc})") from exc
        if saved:
            try:
                return hf.materialise(hf.load_saved(saved), default_cache_dir()), "datasets"
            except ValueError as exc:
                raise DataError(f"{path}: {exc}") from exc
        return path, "local"
    if text == DEFAULT_LAB:
        return default_lab(), "lab"
    if HUB_ID.match(text) and not looks_local(text):
        return _download_from_hub(text), f"hub:{text}"
    if looks_local(text):
        raise DataError(f"{text}: no such folder{_near(path)}")
    raise DataError(f"{text}: no such folder, and not 'lab' or a Hugging Face dataset id like {DEFAULT_HUB_ID}")


def looks_local(text: str) -> bool:
    """Whether a name is meant as a folder here rather than a hub id: it starts like a path (``.``, ``/``, ``~``),
    has a backslash or more than one ``/``, or its first part is a folder that exists (``data/lab2`` beside
    ``data/``: a typo of a local folder, not the dataset ``lab2`` of a hub user ``data``)."""
    if text.startswith((".", "/", "~")) or "\\" in text or text.count("/") > 1:
        return True
    first = text.split("/", 1)[0]
    return "/" in text and Path(first).expanduser().is_dir()


def _near(path: Path) -> str:
    """", did you mean data/lab?" when a folder beside the missing one has a close name."""
    import difflib

    parent = path.parent if str(path.parent) else Path(".")
    try:
        names = [p.name for p in parent.iterdir() if p.is_dir()]
    except OSError:
        return ""
    close = difflib.get_close_matches(path.name, names, n=1)
    return f" (did you mean {parent / close[0]}?)" if close else ""


def _download_from_hub(repo_id: str) -> Path:
    offline_hint = (
        f"download it where the hub is reachable (hf download {repo_id} --repo-type dataset "
        "--local-dir PortraitCraft) and give that folder as the data instead (PortraitCraft)"
    )
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:  # pragma: no cover - huggingface_hub is a core dependency
        raise DataError(f"{repo_id}: huggingface_hub is not installed; {offline_hint}") from exc
    try:
        return Path(snapshot_download(repo_id=repo_id, repo_type="dataset"))
    except Exception as exc:  # the hub client raises many kinds; all mean "not available here"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{repo_id}: cannot fetch from the Hugging Face hub ({reason}); {offline_hint}") from exc


def open_dataset(
    source: str | os.PathLike | Any = DEFAULT_LAB,
    *,
    strict: bool = False,
    check_images: bool = False,
    reveal_ground_truth: bool = False,
    progress: bool = False,
) -> Dataset:
    """Open a PortraitCraft root: a local folder, "lab" (built on first use), a hub id such as
    "zijielou/PortraitCraft", or a `datasets.DatasetDict` made by `portraitcraft.hf.to_hf` (or a list of one per
    track), or a folder ``portraitcraft export --to hf`` wrote.

    Lenient by default: problems are collected in `Dataset.problems` and bad values become missing.
    `strict=True` raises `ValidationError` listing every blocking finding and error. `check_images=True` also reads
    each image header. `reveal_ground_truth=True` reads the test split's labels from the lab's ground-truth file
    where there is one. `progress=True` shows a bar while the image headers are read. A source that cannot be read
    at all (no such folder, an unreadable annotation file) raises `DataError` naming the file.
    """
    root, kind = resolve_source(source)
    dataset = Dataset(root, source=kind, check_images=check_images, reveal_ground_truth=reveal_ground_truth,
                      progress=progress)
    if strict and dataset.errors:
        raise ValidationError(dataset.problems)
    return dataset


@dataclass
class DataCheck:
    """What `check_dataset` found: the dataset (None where it could not be read) and every finding."""

    source: str
    dataset: Dataset | None
    findings: list[Problem] = field(default_factory=list)

    @property
    def blocking(self) -> list[Problem]:
        """The findings that stop a build (nothing can be computed from the data while they stand)."""
        return [p for p in self.findings if p.blocking]

    @property
    def carried(self) -> list[Problem]:
        """The findings that are reported and carried (errors in records, warnings, notes)."""
        return [p for p in self.findings if not p.blocking]

    @property
    def ok(self) -> bool:
        return not self.blocking


def check_dataset(
    source: str | os.PathLike | Any = DEFAULT_LAB,
    *,
    check_images: bool = False,
    reveal_ground_truth: bool = False,
    progress: bool = False,
) -> DataCheck:
    """Open ``source`` as `open_dataset` does, but return what stands in the way instead of raising: a source that
    cannot be read at all (no such folder, an annotation file that is not valid JSON) is one blocking finding naming
    the file (its message is `DataError`'s line), and the dataset is None; otherwise the dataset with
    `Dataset.findings` (blocking first)."""
    name = str(source) if not hf.is_hf_data(source) else "DatasetDict"
    try:
        dataset = open_dataset(source, check_images=check_images, reveal_ground_truth=reveal_ground_truth,
                               progress=progress)
    except DataError as exc:
        return DataCheck(name, None, [Problem("", None, None, str(exc), BLOCKING)])
    return DataCheck(name, dataset, dataset.findings())


__all__ = [
    "DEFAULT_HUB_ID", "DEFAULT_LAB", "DEFAULT_LAB_SIZE", "DataCheck", "check_dataset", "default_cache_dir",
    "default_lab", "default_lab_root", "open_dataset", "resolve_source",
]
