"""What produced a result, and writing it down: installed package versions, fingerprints of files, folders and
data roots, the code's git commit, and JSON written safely. For example::

    from portraitcraft.provenance import (data_fingerprint, package_versions,
                                          write_json)

    # {"numpy": "2.1.3", "torch": None}  (None: not installed)
    package_versions(("numpy", "torch"))
    # the track files' SHA-256, one digest over them, the image count
    data_fingerprint("data/lab")
    # strict JSON (NaN -> null), written atomically
    write_json("report/summary.json", {"images": 2, "srcc": float("nan")})

Every JSON report the package writes goes through `write_json`, so its rules live in one place: the payload is made
JSON-safe by `json_safe`, and the file is written by `portraitcraft.outputs.write_atomic` (a temporary file in the
same folder moved over the target, which must be a regular file and not one of the command's inputs), so a reader
never sees half a file and an interrupted write leaves the old one.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import os
import platform
import subprocess
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from portraitcraft.data import FACTORS_FILE, GROUND_TRUTH_FILE, TRACK_FILE, DataError, index_images
from portraitcraft.outputs import open_for_append, write_atomic

# How to cite the benchmark every result here comes from (BibTeX): the one copy, `portraitcraft.CITATION`, which
# exported datasets carry in their DatasetInfo and which the README and the book's introduction show
# (tests/test_docs.py holds them equal). The authors are those of the arXiv listing of 2604.03611 (v1, 4 April 2026).
# Lines stay under 72 characters: the book shows it in the text column.
CITATION = """@misc{sha2026portraitcraft,
  title         = {PortraitCraft: A Benchmark for Portrait Composition
                   Understanding and Generation},
  author        = {Sha, Yuyang and Lou, Zijie and Tang, Youyun and
                   Qu, Xiaochao and Li, Haoxiang and
                   Liu, Ting and Liu, Luoqi},
  year          = {2026},
  eprint        = {2604.03611},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CV},
  url           = {https://arxiv.org/abs/2604.03611},
}"""

# The packages whose versions the book's reproducibility record lists.
DEFAULT_PACKAGES: Final[tuple[str, ...]] = (
    "portraitcraft", "numpy", "pandas", "scipy", "scikit-learn", "opencv-python-headless", "pillow",
    "pyarrow", "plotly", "matplotlib", "seaborn", "papermill", "jupytext", "jupyter-book", "sphinx", "nbval",
    "torch", "transformers",
)


def package_versions(names: Iterable[str] = DEFAULT_PACKAGES, *, with_python: bool = False) -> dict[str, str | None]:
    """Installed version of each distribution, in the order given; None where it is not installed. With
    ``with_python``, the Python version first, under "python"."""
    out: dict[str, str | None] = {"python": platform.python_version()} if with_python else {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


# --- fingerprints ------------------------------------------------------------------------------------------------

def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_fingerprint(folder: Path, full_hash_limit: int = 256 * 2**20) -> str:
    """A content hash of a model folder: every file's name and size, and its bytes when the folder is small
    (under ``full_hash_limit`` bytes in all); for a large folder, the bytes of the files under 16 MiB (config,
    tokenizer, processor, index) and the first and last MiB of each weight file."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and ".cache" not in p.parts)
    total = sum(p.stat().st_size for p in files)
    digest = hashlib.sha256()
    for path in files:
        size = path.stat().st_size
        digest.update(f"{path.relative_to(folder).as_posix()}\0{size}\0".encode())
        with open(path, "rb") as handle:
            if total <= full_hash_limit or size <= 16 * 2**20:
                for block in iter(lambda: handle.read(2**20), b""):
                    digest.update(block)
            else:
                digest.update(handle.read(2**20))
                handle.seek(max(0, size - 2**20))
                digest.update(handle.read(2**20))
    return "sha256:" + digest.hexdigest()[:16]


def data_fingerprint(root: str | os.PathLike) -> dict[str, Any]:
    """A fingerprint of a PortraitCraft root: the SHA-256 of each track JSON file (and of the lab's ground-truth
    and factors files where present), one SHA-256 over those (file names and digests, sorted), and the number of
    images in the ``images_NN`` folders. The same files and image count give the same fingerprint anywhere."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    names = sorted(p.name for p in root.iterdir()
                   if p.is_file() and (TRACK_FILE.match(p.name) or p.name in (GROUND_TRUTH_FILE, FACTORS_FILE)))
    files = {name: {"sha256": file_sha256(root / name), "bytes": (root / name).stat().st_size} for name in names}
    combined = hashlib.sha256("".join(f"{n}\0{files[n]['sha256']}\n" for n in names).encode()).hexdigest()
    images, _ = index_images(root)
    return {"root": str(root), "sha256": combined, "images": len(images), "files": files}


def git_commit(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The git commit checked out in ``folder`` and whether tracked files differ from it; None outside a
    repository or without git."""
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=False)
        if head.returncode != 0:
            return None
        status = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return {"commit": head.stdout.strip(), "uncommitted_changes": bool(status.stdout.strip())}


# --- JSON ----------------------------------------------------------------------------------------------------------

def json_safe(value: Any) -> Any:
    """A copy of ``value`` that strict JSON can hold: mappings (keys as text), lists, tuples and arrays as lists,
    numpy scalars as Python numbers, NaN, infinities and pandas' missing values as null, paths as text."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def json_text(payload: Any, *, indent: int | None = 2) -> str:
    """``payload`` as strict JSON text (after `json_safe`; other objects as their text), ending in a newline."""
    return json.dumps(json_safe(payload), indent=indent, ensure_ascii=False, allow_nan=False, default=str) + "\n"


def write_json(path: str | os.PathLike, payload: Any, *, indent: int | None = 2,
               inputs: Mapping[str, str | os.PathLike | None] | Iterable[str | os.PathLike | None] = ()) -> Path:
    """Write ``payload`` as strict JSON (`json_text`) to ``path`` with `portraitcraft.outputs.write_atomic`: whole
    or not at all, never over one of ``inputs`` (a mapping role -> path names the role in the refusal), never
    through a link or over anything but a regular file. Returns the path."""
    return write_atomic(path, json_text(payload, indent=indent), inputs=inputs)


def append_json_line(path: str | os.PathLike, record: Mapping[str, Any]) -> None:
    """Append ``record`` to a JSON Lines log as one strict JSON line (after `json_safe`), through
    `portraitcraft.outputs.open_for_append` (a regular file, never a link)."""
    with open_for_append(path) as handle:
        handle.write(json.dumps(json_safe(record), default=str) + "\n")


def read_json_lines(path: str | os.PathLike) -> list[Any]:
    """The records of a JSON Lines file (blank lines skipped); ValueError naming the file and line of a bad one."""
    path = Path(path)
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: invalid JSON ({exc.msg})") from exc
    return records


def truncate_json_lines(path: str | os.PathLike, up_to_step: int) -> None:
    """Keep the records of a training log (JSON Lines with a ``step``) up to ``up_to_step``, the checkpoint a run
    resumes from: later steps are trained again. A last line torn by a kill is dropped; a damaged line before it
    is refused (`portraitcraft.outputs.OutputError` naming it). Rewritten atomically."""
    from portraitcraft.outputs import prepare_jsonl_resume

    path = Path(path)
    if not path.exists():
        return
    # The package's one resume rule: damage before the last line is refused (OutputError naming the line), a
    # torn last line is cut.
    records = prepare_jsonl_resume(path, None, what="training log records").records
    kept = [json.dumps(record) for record in records
            if not isinstance(record.get("step", 0), (int, float)) or record.get("step", 0) <= up_to_step]
    write_atomic(path, "".join(k + "\n" for k in kept))


def previous_run(
    out: str | os.PathLike,
    run_file: str,
    record_format: str,
    training_key: Mapping[str, Any],
    *,
    error: type[Exception] = ValueError,
    same: Callable[[str, Any, Any], bool] | None = None,
    absent: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The record (``out/run_file``) of the training run an output folder holds, to resume it; None for a new or
    empty folder. ``error`` is raised, naming the file, for a folder that holds something else, an unreadable
    record, a record of another format, another recipe (a ``recipe`` in ``training_key``: refused in one line), or
    another training (settings in ``training_key`` that differ; ``same`` decides equality, default ``==``)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise error(f"{out}: exists and is not a folder")
    record_path = out / run_file
    if not record_path.is_file():
        if out.exists() and any(out.iterdir()):
            raise error(f"{out}: not empty and holds no {run_file}; fine-tune into a new or empty folder")
        return None
    try:
        previous = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deeply
        raise error(f"{record_path}: unreadable ({str(exc)[:200]})") from None
    if not isinstance(previous, dict) or previous.get("format") != record_format:
        raise error(f"{record_path}: not a {record_format} record")
    before = {**(absent or {}), **previous.get("settings", {})}
    if "recipe" in training_key and before.get("recipe") != training_key["recipe"]:
        was = f"the {before['recipe']!r} recipe" if before.get("recipe") else "no recorded recipe"
        raise error(f"{out}: holds a fine-tuning with {was}, not {training_key['recipe']!r}; resume it with its own "
                    "recipe or use another --out")
    equal = same or (lambda _name, a, b: a == b)
    changed = [f"{k}: {before.get(k)!r} -> {v!r}" for k, v in training_key.items() if not equal(k, before.get(k), v)]
    if changed:
        raise error(f"{out}: holds a fine-tuning with other settings ({'; '.join(changed)}); use another --out, or "
                    "the same settings to resume")
    return previous


__all__ = [
    "DEFAULT_PACKAGES",
    "append_json_line",
    "previous_run",
    "read_json_lines",
    "truncate_json_lines",
    "data_fingerprint",
    "file_sha256",
    "folder_fingerprint",
    "git_commit",
    "json_safe",
    "json_text",
    "package_versions",
    "write_json",
]
