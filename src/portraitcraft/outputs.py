"""Writing outputs safely: never over an input, never through a link, never half-written, one writer at a time.

For example::

    from portraitcraft.outputs import (OutputLock, prepare_jsonl_resume,
                                       write_atomic)

    # a whole file (JSON: provenance.write_json), never over an input
    run = "data/lab/runs/feature-baseline.jsonl"
    write_atomic("report.txt", "2 images", inputs={"predictions": run})
    # a file a run appends to or trains into
    with OutputLock("runs/a.jsonl", "my-run"):
        resumed = prepare_jsonl_resume("runs/a.jsonl", config_hash="0123abcd")

The rules every writer of the package follows
---------------------------------------------
* An output path that is one of the command's inputs (the same file, through any spelling or link) is refused
  before anything is written (`refuse_inputs`).
* A whole file is written to a new temporary file in the output's folder (created exclusively, with a random name,
  so a planted ``OUT.partial`` link is never followed) and renamed over the output only when that is absent or a
  regular file: a link, a device, a FIFO or a folder at the output path is refused (`write_atomic`).
* A file that a run appends to (JSON Lines) or a folder it trains into is held by an advisory lock beside it
  (``OUT.lock``, naming the holder's process, host and command): a second writer is refused with the holder
  named (`OutputLock`). The lock disappears with its process, so a killed run never blocks the next one.
* Resuming a JSON Lines file reads it whole before changing anything: a file that is not JSON Lines of the
  expected records, or whose records were written under another configuration, is refused untouched; only then
  is a torn last line (a run killed inside a write) cut off (`prepare_jsonl_resume`).
"""

from __future__ import annotations

import json
import os
import socket
import stat
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portraitcraft.exceptions import PortraitCraftError

PathLike = str | os.PathLike


class OutputError(PortraitCraftError, ValueError):
    """An output that must not or cannot be written; the message is one line naming the file."""


class OutputLocked(OutputError):
    """Another process is writing this output; the message names it."""


# --- inputs and targets -----------------------------------------------------------------------------------------

def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether two paths name one file: the same inode where both exist, else the same resolved path."""
    a, b = Path(a), Path(b)
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def refuse_inputs(out: PathLike, inputs: Mapping[str, PathLike | None] | Iterable[PathLike | None]) -> None:
    """Raise `OutputError` when ``out`` is one of ``inputs`` (a mapping role -> path names the role)."""
    pairs = inputs.items() if isinstance(inputs, Mapping) else ((None, p) for p in inputs)
    for role, path in pairs:
        if path is not None and same_file(out, path):
            what = f"the {role} file" if role else "an input"
            raise OutputError(f"{out}: is {what} ({path}); refusing to write over an input, choose another output")


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def check_target(path: PathLike) -> None:
    """Refuse an output path whose folder is not a folder, or that exists as anything but a regular file."""
    path = Path(path)
    for parent in (path.parent, *path.parent.parents):
        try:
            mode = os.stat(parent).st_mode
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise OutputError(f"{path}: cannot use folder {parent} ({exc.strerror})") from exc
        if not stat.S_ISDIR(mode):
            raise OutputError(f"{path}: {parent} is not a folder")
        break
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(f"{path}: cannot check ({exc.strerror})") from exc
    if not stat.S_ISREG(mode):
        raise OutputError(f"{path}: is {_kind(mode)}; refusing to replace it (outputs are regular files)")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()


def write_atomic(
    path: PathLike, data: str | bytes, *, inputs: Mapping[str, PathLike | None] | Iterable[PathLike | None] = ()
) -> Path:
    """Write ``data`` to ``path`` whole or not at all (see the module docstring); returns ``path``."""
    path = Path(path)
    refuse_inputs(path, inputs)
    check_target(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:  # named here: the error of mkstemp would name the temporary file, not the output
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, _MODE)
        check_target(path)  # again, just before the rename
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    return path


def open_for_append(path: PathLike):
    """A text handle appending to ``path`` (created if absent), refusing links and anything not a regular file."""
    path = Path(path)
    check_target(path)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        raise OutputError(f"{path}: cannot open for writing ({exc.strerror})") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OutputError(f"{path}: not a regular file; refusing to write to it")
    return os.fdopen(fd, "a", encoding="utf-8")


# --- one writer at a time -----------------------------------------------------------------------------------------

def lock_path(target: PathLike) -> Path:
    target = Path(target)
    return target.with_name(target.name + ".lock")


class OutputLock:
    """An advisory lock on an output file or folder, held in ``<target>.lock`` naming its holder.

    The second process to take it gets `OutputLocked` naming the first (process id, host, command, start time).
    The lock is released when the holder exits in any way (the kernel drops it), so a stale ``.lock`` file
    left by a killed run is simply taken over. Where the platform has no ``fcntl`` (Windows) it locks nothing.
    """

    def __init__(self, target: PathLike, command: str = "portraitcraft") -> None:
        self.target = Path(target)
        self.path = lock_path(self.target)
        self.command = command
        self._fd: int | None = None

    def acquire(self) -> OutputLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        check_target(self.path)
        for _ in range(10):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
            except OSError as exc:
                raise OutputError(f"{self.path}: cannot create the lock of {self.target} ({exc.strerror})") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise OutputLocked(f"{self.target}: another run is writing it ({holder}); wait for it to end, "
                                   "or write to another output") from None
            try:  # the file may have been removed by its previous holder between our open and our lock
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                holder = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                          "started": time.strftime("%Y-%m-%d %H:%M:%S")}
                os.ftruncate(fd, 0)
                os.write(fd, (json.dumps(holder) + "\n").encode("utf-8"))
                return self
            os.close(fd)
        raise OutputError(f"{self.path}: the lock of {self.target} keeps changing; is another run starting?")

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode("utf-8"))
        return (f"process {info['pid']} on {info['host']}, {info['command']!r}, since {info['started']}")
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not yet said who it is"


# --- resuming a JSON Lines file -------------------------------------------------------------------------------------

@dataclass
class Resumed:
    """What `prepare_jsonl_resume` found: the records kept, and what it repaired (None: nothing)."""

    path: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    recovered: str | None = None


def config_of(record: Mapping[str, Any]) -> str | None:
    run = record.get("run")
    return run.get("config_hash") if isinstance(run, Mapping) else None


def prepare_jsonl_resume(path: PathLike, config_hash: str | None, *, schema: str | None = None,
                         what: str = "records", repair: bool = True) -> Resumed:
    """Check a JSON Lines output before appending to it; cut a torn last line; return its records.

    Refused, with the file left untouched (`OutputError` naming the file and line): a path that is not a regular
    file; a line other than the last that is not UTF-8 or not a JSON object; a record of another ``schema`` (when
    given), or written under another configuration than ``config_hash`` (its ``run.config_hash``; None: not
    compared). A last line without its newline or that does not decode is torn: it is cut off and reported.
    Call it while holding the output's `OutputLock`; ``repair=False`` only checks (nothing is cut), for a check
    before a long start-up such as loading a model.
    """
    path = Path(path)
    check_target(path)
    if not path.exists():
        return Resumed(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise OutputError(f"{path}: cannot read ({exc.strerror})") from exc
    lines = data.split(b"\n")
    # The last element is what follows the final newline: empty for a whole file, else an unfinished line.
    complete, tail = lines[:-1], lines[-1]
    records: list[dict[str, Any]] = []
    torn_from: int | None = len(data) - len(tail) if tail.strip() else None
    offset = 0
    for number, raw in enumerate(complete, start=1):
        start, offset = offset, offset + len(raw) + 1
        if not raw.strip():
            continue
        last = number == len(complete) and torn_from is None
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            if last:  # a last line killed inside a write can end in a newline the decoder never sees whole
                torn_from = start
                break
            reason = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else "not valid JSON"
            raise OutputError(f"{path}:{number}: {reason}; the file is damaged before its last line, so it is "
                              "not resumed (it is left as it is; write to another output)") from None
        if not isinstance(record, dict):
            raise OutputError(f"{path}:{number}: not a JSON object; this is not a JSON Lines file of {what} "
                              "(it is left as it is; write to another output)")
        if schema is not None and record.get("schema") != schema:
            raise OutputError(f"{path}:{number}: schema {record.get('schema')!r}, expected {schema!r}; this is not "
                              f"a file of {what} (it is left as it is; write to another output)")
        if config_hash is not None and config_of(record) != config_hash:
            raise OutputError(
                f"{path}: line {number} ({record.get('image_path', '?')}) was written under configuration "
                f"{config_of(record) or 'unknown'}, this run is {config_hash}; write to a new --out file "
                "(records of two configurations are never mixed)")
        records.append(record)
    recovered = None
    if torn_from is not None:
        torn = data[torn_from:].lstrip()
        head = b'{"schema": ' + json.dumps(schema).encode("utf-8") if schema is not None else b"{"
        if not (torn.startswith(head) or head.startswith(torn)):
            # Not the start of a record this program writes: not a torn write but some other file; never cut.
            raise OutputError(f"{path}: its last line is not a complete record and not the start of one; this is "
                              f"not a JSON Lines file of {what} (it is left as it is; write to another output)")
    if torn_from is not None and repair:
        with open(path, "rb+") as handle:
            handle.truncate(torn_from)
        recovered = f"dropped a torn last line ({len(data) - torn_from} bytes) left by an interrupted run"
    return Resumed(path, records, recovered)


__all__ = ["OutputError", "OutputLock", "OutputLocked", "Resumed", "check_target", "config_of", "lock_path",
           "open_for_append", "prepare_jsonl_resume", "refuse_inputs", "same_file", "write_atomic"]
