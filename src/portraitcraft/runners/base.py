"""The run loop shared by every model backend: which images to predict, resuming, failures, progress, summary.

For example::

    from portraitcraft import open_dataset, run_predictions
    from portraitcraft.runners.qwen import QwenBackend, QwenSettings

    backend = QwenBackend(QwenSettings(model="Qwen/Qwen3-VL-4B-Instruct",
                                       protocol="score"))
    summary = run_predictions(backend, open_dataset("data/lab"), split="test",
                              out="runs/tiny.jsonl")
    print("\\n".join(summary.lines()))

Guarantees
----------
* One JSON Lines record (`portraitcraft.predictions` schema) per image, appended and flushed as soon as the image
  is done: a run killed at any moment, SIGKILL included, loses at most the images in flight.
* Resumable: a rerun with the same configuration skips every image that already has a record. The configuration
  is hashed (`config_hash`: backend, model and its revision, protocol, prompt hash, decoding, pixel budget, dtype)
  and written in every record; a file written under another configuration is refused, never mixed.
* A torn last line (the process died inside a write) is cut off on resume and reported; damage anywhere else is
  an error naming the file and line.
* An image that fails (unreadable file, out of memory, server error, ...) gets a ``failed`` record naming the
  error, and the run goes on. A batch that raises is retried image by image, so one bad image fails alone.
  A rerun predicts the failed images again (their old records removed first: one record per image), so a file
  that was unreadable, a timeout or a server error gets another chance; ``retry_failed=False`` keeps them.
* Two processes writing one file: the second is refused, naming the first (`portraitcraft.outputs.OutputLock`).
* The output is checked before anything is written: a folder, a link, a device, or a file that is not JSON Lines
  of prediction records is refused and left untouched.
* The next batch's images are opened, and prepared by the backend when it has a ``prepare`` step (chat text,
  tokens, image processing), in a background thread while the model runs the current batch.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from portraitcraft.attributes import ANSWER_LETTERS
from portraitcraft.exceptions import PortraitCraftError
from portraitcraft.labels import VALIDATION_SPLIT, split_image_paths, training_names, validation_leak
from portraitcraft.outputs import (
    OutputError,
    OutputLock,
    check_target,
    prepare_jsonl_resume,
)
from portraitcraft.predictions import (
    SCHEMA,
    PredictionFileError,
    PredictionWriter,
    drop_failed_records,
    failed_record,
    image_name,
    ok_record,
)
from portraitcraft.provenance import package_versions

if TYPE_CHECKING:
    from PIL import Image

    from portraitcraft.data import Dataset


T = TypeVar("T")
R = TypeVar("R")


class ModelLoadError(PortraitCraftError):
    """The model cannot be loaded (not found, offline, not a Qwen3-VL, a score candidate split into tokens...).

    Defined here, free of torch, so that callers can catch it without importing a model backend."""


class RunError(PortraitCraftError):
    """A run that cannot start (output file of another configuration, locked, or damaged); the message says why."""


@dataclass(frozen=True)
class Item:
    """One image to predict, with its multiple-choice question (None for splits without questions)."""

    image_path: str
    question: str | None = None
    options: dict[str, str] | None = None


@dataclass
class Outcome:
    """What a backend returns for one image: usable output, or the error that prevented it."""

    parsed: Any = None  # a parsing.ParsedPrediction, or a mapping with total_score / criteria / answer
    raw_text: str | None = None
    probabilities: dict[str, Any] | None = None
    tokens: dict[str, int] | None = None  # e.g. {"prompt": 812, "generated": 143}
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Backend(Protocol):
    """A model behind the run loop. ``max_side`` caps the longest image side before the backend sees it."""

    max_side: int | None

    def config(self) -> dict[str, Any]:
        """Everything that defines the predictions; hashed into ``config_hash``."""

    def metadata(self) -> dict[str, Any]:
        """Everything worth recording about the run (config included), JSON-serialisable."""

    def predict(self, items: Sequence[Item], images: Sequence[Image.Image]) -> list[Outcome]:
        """One outcome per item, in order. May raise: the loop then retries the items one by one.

        A backend may also have ``prepare(items, images)``, the work before its model (thread-safe); the loop then
        calls it ahead, for the next batch, and passes its result as ``predict(items, images, prepared=...)``."""


@dataclass
class RunSummary:
    out: Path
    config_hash: str
    selected: int  # images of the split (after --limit)
    already_done: int  # skipped: a record existed
    written_ok: int
    failures: list[tuple[str, str]] = field(default_factory=list)  # (image, error) written this run
    seconds: float = 0.0
    recovered: str | None = None  # what was repaired in the file before resuming
    retried: int = 0  # images whose earlier record was "failed", predicted again in this run

    @property
    def images_per_second(self) -> float:
        done = self.written_ok + len(self.failures)
        return done / self.seconds if self.seconds > 0 else math.nan

    def lines(self, max_failures: int = 20) -> list[str]:
        out = []
        if self.recovered:
            out.append(f"recovered {self.out}: {self.recovered}")
        done = self.written_ok + len(self.failures)
        out.append(f"wrote {done} record(s) to {self.out} ({self.written_ok} ok, {len(self.failures)} failed) "
                   f"in {self.seconds:.1f} s ({self.images_per_second:.2f} images/s); "
                   f"{self.already_done} of {self.selected} already done"
                   + (f", {self.retried} failed before and retried" if self.retried else "")
                   + f"; config {self.config_hash}")
        if self.failures:
            out.append(f"failed images ({len(self.failures)}):")
            out += [f"  {name}: {error}" for name, error in self.failures[:max_failures]]
            if len(self.failures) > max_failures:
                out.append(f"  ... and {len(self.failures) - max_failures} more (status \"failed\" in the file)")
        return out


# --- configuration --------------------------------------------------------------------------------------------

# The packages whose versions each run records (after the Python version).
RUNNER_PACKAGES = (
    "portraitcraft",
    "torch",
    "torchvision",
    "transformers",
    "accelerate",
    "tokenizers",
    "pillow",
    "numpy",
)


def config_hash(config: Mapping[str, Any]) -> str:
    """16 hex digits of SHA-256 over the configuration as canonical JSON."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:16]


# --- which images -----------------------------------------------------------------------------------------------

def split_items(dataset: Dataset, split: str, limit: int | None = None) -> list[Item]:
    """The Track 1 images of ``split`` in file order (the first ``limit`` when given), with their questions.
    ``validation`` is the seeded held-out part of train that the book scores where the test labels are hidden
    (`portraitcraft.labels.split_image_paths`)."""
    if limit is not None and limit < 0:
        raise ValueError(f"limit={limit}: must be zero or more")
    try:
        names = split_image_paths(dataset, split)
    except ValueError as exc:
        raise RunError(str(exc)) from exc
    if limit is not None:
        names = names[:limit]
    questions = dataset.questions()
    questions = questions[questions["image_path"].isin(set(names))].drop_duplicates("image_path")
    questions = questions.set_index("image_path")
    items = []
    for name in names:
        if name in questions.index:
            row = questions.loc[name]
            options = {x: row[f"option_{x}"] for x in ANSWER_LETTERS if isinstance(row[f"option_{x}"], str)}
            items.append(Item(name, row["question"], options))
        else:
            items.append(Item(name))
    return items


# --- the output file ----------------------------------------------------------------------------------------------

def recover_torn_tail(path: Path) -> str | None:
    """Cut off a last line left incomplete by a killed writer; returns what was done (None: nothing to do).

    The package's one rule (`portraitcraft.outputs.prepare_jsonl_resume`): the file is checked whole first and
    left untouched when it is not a JSON Lines file of prediction records.
    """
    try:
        return prepare_jsonl_resume(path, None, schema=SCHEMA, what="predictions").recovered
    except OutputError as exc:
        raise RunError(str(exc)) from exc


# --- the loop --------------------------------------------------------------------------------------------------------

def _error_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _batches(items: Sequence[Item], size: int) -> Iterable[Sequence[Item]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def run_predictions(
    backend: Backend,
    dataset: Dataset,
    *,
    split: str,
    out: str | os.PathLike,
    limit: int | None = None,
    batch_size: int = 1,
    progress: bool = True,
    fsync: bool = False,
    items: Sequence[Item] | None = None,
    retry_failed: bool = True,
) -> RunSummary:
    """Predict every image of ``split`` not yet recorded in ``out``; see the module docstring for guarantees.

    With ``retry_failed`` (the default) an image whose record says ``failed`` (an unreadable file since replaced,
    a timeout, a model error) is predicted again: its old record is removed first, so the file keeps one record
    per image. ``summary.failures`` then holds the images that still failed.

    ``items`` replaces the split's images (``split`` then only names the progress bar); ``dataset`` is then
    anything with ``open_image(image_path, max_side)``, such as `portraitcraft.assess.ImageFolder`.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}: must be at least 1")
    out = Path(out)
    try:
        check_target(out)
    except OutputError as exc:
        raise RunError(str(exc)) from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    wanted = config_hash(backend.config())
    run = {**backend.metadata(), "config_hash": wanted, "packages": package_versions(RUNNER_PACKAGES, with_python=True)}
    items = list(items)[:limit] if items is not None else split_items(dataset, split, limit)
    if split == VALIDATION_SPLIT:
        reason = validation_leak(run.get("held_out"), split_image_paths(dataset, split), training_names(dataset))
        if reason:
            raise RunError(f"--split {VALIDATION_SPLIT} refused for {run.get('model', 'this model')}: {reason}. "
                           "Fine-tune with the validation split held out (--validation-fraction 0.1 --seed 0) to "
                           "score it there, or predict the test split for a submission")

    try:
        lock = OutputLock(out, "portraitcraft predict").acquire()
    except OutputError as exc:
        raise RunError(str(exc)) from exc
    try:
        try:
            recovered = prepare_jsonl_resume(out, wanted, schema=SCHEMA, what="predictions").recovered
            retried = drop_failed_records(out, (i.image_path for i in items)) if retry_failed else []
            writer = PredictionWriter(out, fsync=fsync)
        except (OutputError, PredictionFileError) as exc:
            raise RunError(str(exc)) from exc
        done = {name for name in (image_name(i.image_path) for i in items) if name in writer.recorded}
        pending = [i for i in items if image_name(i.image_path) not in done]
        summary = RunSummary(out, wanted, len(items), len(done), 0, recovered=recovered, retried=len(retried))
        started = time.perf_counter()
        bar = _progress(len(pending), progress, f"{run.get('protocol', 'predict')} {split}")
        try:
            batches = list(_batches(pending, batch_size))
            with writer:
                loads = prefetched(lambda batch: _load_batch(backend, dataset, batch, run), batches)
                for batch, loaded in zip(batches, loads, strict=True):
                    for record in _predict_batch(backend, batch, loaded, run):
                        writer.write(record)
                        if record["status"] == "ok":
                            summary.written_ok += 1
                        else:
                            summary.failures.append((record["image_path"], record["error"]))
                    bar.update(len(batch))
                    if summary.failures:
                        bar.set_postfix(failed=len(summary.failures), refresh=False)
        finally:
            bar.close()
        summary.seconds = time.perf_counter() - started
        return summary
    finally:
        lock.release()


def prefetched(function: Callable[[T], R], inputs: Sequence[T]) -> Iterator[R]:
    """``function(x)`` for each of ``inputs`` in order, the next one computed in a worker thread while the caller
    works on this one (the run loop opens and prepares batch k + 1 while the model runs batch k)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="portraitcraft-prefetch") as pool:
        upcoming = pool.submit(function, inputs[0]) if inputs else None
        for k in range(len(inputs)):
            current = upcoming.result()
            upcoming = pool.submit(function, inputs[k + 1]) if k + 1 < len(inputs) else None
            yield current


@dataclass
class LoadedBatch:
    """A batch's images, opened, and the backend's preparation of them (None: the backend has no ``prepare``, or
    it failed, in which case `predict` prepares again and a failure falls on the images that cause it)."""

    failed: dict[str, dict]  # image -> failed record (unreadable)
    loaded: list[tuple[Item, Any, float]]  # (item, image, seconds to open it)
    prepared: Any = None
    prepare_seconds: float = 0.0


def _load_batch(backend: Backend, dataset: Dataset, batch: Sequence[Item], run: dict[str, Any]) -> LoadedBatch:
    from portraitcraft.images import ImageError

    failed: dict[str, dict] = {}
    loaded: list[tuple[Item, Any, float]] = []
    for item in batch:
        start = time.perf_counter()
        try:
            image = dataset.open_image(item.image_path, max_side=backend.max_side)
        except (ImageError, OSError) as exc:
            failed[item.image_path] = failed_record(item.image_path, _error_text(exc), run=run,
                                                    seconds=time.perf_counter() - start)
            continue
        loaded.append((item, image, time.perf_counter() - start))
    result = LoadedBatch(failed, loaded)
    prepare = getattr(backend, "prepare", None)
    if loaded and prepare is not None:
        start = time.perf_counter()
        try:
            result.prepared = prepare([g[0] for g in loaded], [g[1] for g in loaded])
        except Exception:  # noqa: BLE001 - predict prepares again and reports the error on the image at fault
            result.prepared = None
        result.prepare_seconds = time.perf_counter() - start
    return result


def _predict_batch(backend: Backend, batch: Sequence[Item], loaded: LoadedBatch, run: dict[str, Any]) -> list[dict]:
    """Records for one batch, in order. Seconds: the image's load time plus an equal share of the preparation and
    model time."""
    records: dict[str, dict] = {}
    records.update(loaded.failed)
    groups = [(loaded.loaded, loaded.prepared)] if loaded.loaded else []
    while groups:
        group, prepared = groups.pop(0)
        start = time.perf_counter()
        try:
            items, images = [g[0] for g in group], [g[1] for g in group]
            outcomes = (backend.predict(items, images, prepared=prepared) if prepared is not None
                        else backend.predict(items, images))
            if len(outcomes) != len(group):
                raise RuntimeError(f"backend returned {len(outcomes)} outcomes for {len(group)} images")
        except Exception as exc:  # a batch that fails is retried image by image; one image alone fails alone
            _release_memory()
            if len(group) > 1:
                groups = [([g], None) for g in group] + groups
                continue
            outcomes = [Outcome(error=_error_text(exc))]
        share = (time.perf_counter() - start + (loaded.prepare_seconds if prepared is not None else 0)) / len(group)
        for (item, _, load_seconds), outcome in zip(group, outcomes):
            seconds = load_seconds + share
            if outcome.ok:
                record = ok_record(item.image_path, outcome.parsed, run=run, seconds=seconds,
                                   raw_text=outcome.raw_text, probabilities=outcome.probabilities)
            else:
                record = failed_record(item.image_path, outcome.error or "unknown error", run=run, seconds=seconds,
                                       raw_text=outcome.raw_text)
            if outcome.tokens is not None:
                record["tokens"] = dict(outcome.tokens)
            records[item.image_path] = record
    return [records[item.image_path] for item in batch]


def _release_memory() -> None:
    """After a failure (often out of memory), hand cached accelerator memory back before retrying."""
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _progress(total: int, enabled: bool, description: str):
    from portraitcraft.progress import progress_bar

    # tqdm shows images/s and the ETA from its rate; it hides itself when disabled or off a terminal.
    return progress_bar(total, unit="img", desc=description, enabled=enabled)
