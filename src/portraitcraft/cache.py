"""The project's cache: what it holds, how big it is, and removing it (`portraitcraft cache info|clean`).

It lives in ``$PORTRAITCRAFT_CACHE``, else ``~/.cache/portraitcraft`` (`sources.default_cache_dir`), and holds only
what can be made again:

``lab-default``
    the default composition lab, built on first use of the data name ``lab``.
``from-datasets``
    a `datasets.DatasetDict` (or a folder ``export --to hf`` wrote) written out in the published layout when it is
    opened as data: full copies of its images, one folder per content.
``assess``
    the prediction records of ``portraitcraft assess ... --out -`` (standard output), so that the same command
    resumes.
``baseline``
    the lab-trained feature baseline that ``assess`` builds on first use where no trained model is at hand.

Hugging Face's own caches (``~/.cache/huggingface``: the Arrow files of an export, downloaded models) are theirs:
``huggingface-cli`` manages them.

For example::

    from portraitcraft.cache import cache_parts, clean, human_size

    for part in cache_parts():
        print(part.name, human_size(part.size), part.what)
    clean(["assess"])   # or clean(): every part; each is made again
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from portraitcraft.sources import default_cache_dir

PARTS = {
    "lab-default": "the default composition lab (data name 'lab')",
    "from-datasets": "DatasetDicts opened as data, written in the published layout (full image copies)",
    "assess": "assess's prediction records for standard-output runs (to resume)",
    "baseline": "the lab-trained feature baseline assess builds on first use",
}


@dataclass(frozen=True)
class CachePart:
    name: str
    path: Path
    what: str
    files: int
    size: int  # bytes


def _measure(path: Path) -> tuple[int, int]:
    files = size = 0
    if path.is_dir():
        for item in path.rglob("*"):
            if item.is_file() and not item.is_symlink():
                files += 1
                size += item.stat().st_size
    return files, size


def cache_parts(root: Path | None = None) -> list[CachePart]:
    """Every part of the cache (present or not), with its size."""
    root = default_cache_dir() if root is None else root
    return [CachePart(name, root / name, what, *_measure(root / name)) for name, what in PARTS.items()]


def human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def clean(names: Sequence[str] = (), root: Path | None = None) -> list[CachePart]:
    """Remove the named parts of the cache (all of them by default); only the project's own folders are touched,
    never the cache folder itself or anything else in it. Returns what was removed, with its size."""
    unknown = [name for name in names if name not in PARTS]
    if unknown:
        raise ValueError(f"cache part {unknown[0]!r}: expected one of {', '.join(PARTS)}")
    removed = []
    for part in cache_parts(root):
        if (not names or part.name in names) and part.path.exists():
            shutil.rmtree(part.path)
            removed.append(part)
    return removed


__all__ = ["PARTS", "CachePart", "cache_parts", "clean", "human_size"]
