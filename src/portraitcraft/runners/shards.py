"""Data-parallel prediction: a split cut into N shards, one run per GPU or machine, and the shard files merged.

On four GPUs, in a shell::

    CUDA_VISIBLE_DEVICES=0 portraitcraft predict ... --shard 0/4 \\
        --out runs/qwen.shard0.jsonl &
    ...
    CUDA_VISIBLE_DEVICES=3 portraitcraft predict ... --shard 3/4 \\
        --out runs/qwen.shard3.jsonl &
    wait
    portraitcraft merge runs/qwen.shard*.jsonl --out runs/qwen.jsonl \\
        --data DATA --split test

Shards
    Image ``name`` belongs to shard ``int(sha256(name)[:16 hex], 16) % N``: a property of the name alone, so
    every process agrees without talking to the others, a shard's images never change when the split's order
    or --limit does (resuming a shard resumes the same images), and the shards' sizes differ only by chance
    (about sqrt(size) images). Each shard is an ordinary resumable run writing its own file.
Merging
    `merge_shard_files` writes the records of all shard files to one file, in the split's order when the split is
    given. It refuses: records of different configurations (``config_hash``), an image recorded twice (in two
    files, or twice in one), a damaged or unfinished file (a torn last line: resume that shard first), records
    of images that are not in the split, and an output file that already exists. Images of the split that no
    shard recorded are reported; the merged file is still written, and, being one configuration, it can be
    completed by ``portraitcraft predict`` with the same settings and ``--out`` the merged file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portraitcraft.exceptions import PortraitCraftError
from portraitcraft.predictions import image_name
from portraitcraft.runners.base import Item


class ShardError(PortraitCraftError, ValueError):
    """A shard specification or a set of shard files that cannot be merged; the message names the file and record."""


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` (shard I of N, counted from 0) as ``(I, N)``."""
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i = n = -1
    if not sep or n < 1 or not 0 <= i < n:
        raise ShardError(f"--shard {text!r}: expected I/N with 0 <= I < N, e.g. 0/4 ... 3/4 for four shards")
    return i, n


def shard_of(image_path: str, count: int) -> int:
    """The shard (0 ... count - 1) of an image, from a hash of its bare file name."""
    name = image_name(image_path) or image_path
    return int(hashlib.sha256(name.encode("utf-8")).hexdigest()[:16], 16) % count


def shard_items(items: Sequence[Item], index: int, count: int) -> list[Item]:
    """The items of shard ``index`` of ``count``, in their order."""
    return [item for item in items if shard_of(item.image_path, count) == index]


@dataclass
class MergeSummary:
    out: Path
    files: int
    written: int
    ok: int
    failed: int
    config_hash: str
    missing: list[str] = field(default_factory=list)  # images of the split that no shard recorded

    def lines(self, max_missing: int = 20) -> list[str]:
        out = [(f"merged {self.files} shard file(s) into {self.out}: {self.written} record(s) ({self.ok} ok, "
                f"{self.failed} failed); config {self.config_hash}")]
        if self.missing:
            out.append(f"missing images ({len(self.missing)}), recorded by no shard:")
            out += [f"  {name}" for name in self.missing[:max_missing]]
            if len(self.missing) > max_missing:
                out.append(f"  ... and {len(self.missing) - max_missing} more")
            out.append(f"complete the file with the shards' predict command, without --shard, and --out {self.out}")
        return out


def _shard_records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, record) of each record of a shard file; a damaged or torn file is refused."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ShardError(f"{path}: no such shard file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ShardError(f"{path}: cannot read ({exc})") from exc
    torn = ShardError(f"{path}: its last line is incomplete (that shard's run was interrupted); rerun its predict "
                      "command, which repairs and resumes the file, then merge")
    if text and not text.endswith("\n"):  # the writer ends every record with a newline
        raise torn
    lines = text.split("\n")
    last = max((n for n, line in enumerate(lines, start=1) if line.strip()), default=0)
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == last:
                raise torn from exc
            raise ShardError(f"{path}:{number}: invalid JSON ({exc.msg}); the file is damaged") from exc
        if not isinstance(record, dict) or not isinstance(record.get("image_path"), str):
            raise ShardError(f"{path}:{number}: not a prediction record")
        records.append((number, record))
    return records


def merge_shard_files(paths: Sequence[str | os.PathLike], out: str | os.PathLike,
                      expected: Sequence[str] | None = None) -> MergeSummary:
    """Merge shard files into ``out`` (see the module docstring); ``expected``: the split's image paths, in order."""
    paths = [Path(p) for p in paths]
    out = Path(out)
    if not paths:
        raise ShardError("no shard files to merge")
    if out.exists() or any(out.resolve() == p.resolve() for p in paths if p.exists()):
        raise ShardError(f"{out}: already exists; merge into a new file")
    seen: dict[str, tuple[Path, int]] = {}
    merged: dict[str, dict[str, Any]] = {}
    config: tuple[str, Path, int] | None = None
    for path in paths:
        for number, record in _shard_records(path):
            found = (record.get("run") or {}).get("config_hash") if isinstance(record.get("run"), dict) else None
            if config is None:
                config = (found, path, number)
            elif found != config[0]:
                raise ShardError(f"{path}:{number} was written under configuration {found}, {config[1]}:{config[2]} "
                                 f"under {config[0]}: shards of different runs are never merged")
            name = image_name(record["image_path"])
            if name in seen:
                where = seen[name]
                raise ShardError(f"{name} is recorded twice: {where[0]}:{where[1]} and {path}:{number} "
                                 "(overlapping shards; merge each shard's file once)")
            seen[name] = (path, number)
            merged[name] = record
    if config is None:
        raise ShardError(f"the shard files hold no records: {', '.join(map(str, paths))}")
    missing: list[str] = []
    order = list(merged)
    if expected is not None:
        names = [image_name(p) or p for p in expected]
        unexpected = [n for n in merged if n not in set(names)]
        if unexpected:
            raise ShardError(f"{len(unexpected)} recorded image(s) are not in the split, e.g. {unexpected[0]} "
                             f"({seen[unexpected[0]][0]}): the shards were run on other data or another split")
        missing = [n for n in names if n not in merged]
        order = [n for n in names if n in merged]

    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with open(partial, "w", encoding="utf-8") as handle:
        for name in order:
            handle.write(json.dumps(merged[name], ensure_ascii=False, allow_nan=False) + "\n")
    partial.replace(out)  # a crash never leaves a half-merged file under the final name
    ok = sum(1 for r in merged.values() if r.get("status") == "ok")
    return MergeSummary(out, len(paths), len(order), ok, len(order) - ok, str(config[0]), missing)
