"""What the book measures about itself and its runs (chapter 7, the appendix, and chapter 9's cost tables): time
per image of a prediction file, time per page of the book, benchmark and GPU measurement files, and the record
that lets a reader rerun the book (GPU measurements: `read_gpu_benchmark`, on the files of ``book/measurements/``).

For example::

    from portraitcraft.measurements import (prediction_timing,
                                            reproducibility_record)
    from portraitcraft.predictions import prediction_details

    runs = ["data/lab/runs/feature-baseline.jsonl"]
    # seconds per image: mean, median, p95
    prediction_timing(prediction_details(runs[0]))
    # date, versions, commit, data, predictions
    reproducibility_record("data/lab", runs)
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from portraitcraft.data import DataError
from portraitcraft.predictions import PredictionDetails, read_predictions
from portraitcraft.provenance import DEFAULT_PACKAGES, data_fingerprint, file_sha256, git_commit, package_versions


def prediction_timing(details: PredictionDetails) -> dict[str, Any]:
    """Seconds per image recorded in a prediction file (and tokens where recorded): count, total, mean, median,
    95th percentile."""
    seconds = np.array(list(details.seconds.values()), float)
    out: dict[str, Any] = {"file": str(details.path), "records_with_seconds": int(seconds.size)}
    if seconds.size:
        out.update(total_s=float(seconds.sum()), mean_s=float(seconds.mean()), median_s=float(np.median(seconds)),
                   p95_s=float(np.percentile(seconds, 95)))
    generated = [t["generated"] for t in details.tokens.values() if "generated" in t]
    if generated:
        out["mean_generated_tokens"] = float(np.mean(generated))
    return out


def timed(action: Callable[[], Any], repeat: int = 1) -> float:
    """Mean wall-clock seconds of ``repeat`` calls of ``action``."""
    started = time.perf_counter()
    for _ in range(repeat):
        action()
    return (time.perf_counter() - started) / repeat


def page_durations(executed_dir: str | os.PathLike) -> pd.DataFrame:
    """How long each executed notebook of the book took (papermill's own record in the notebook's metadata), with
    the ``data`` it was executed on (its papermill parameter; None when it had none), so that a page can leave out
    notebooks left over from a build on other data."""
    rows = []
    for path in sorted(Path(executed_dir).glob("*.ipynb")):
        try:
            meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("papermill", {})
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(meta.get("duration"), (int, float)):
            rows.append({"page": path.stem, "seconds": float(meta["duration"]), "finished": meta.get("end_time"),
                         "data": (meta.get("parameters") or {}).get("data")})
    return pd.DataFrame(rows, columns=["page", "seconds", "finished", "data"])


def benchmark_table(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """The numbers of JSON files written by ``scripts/bench_*.py --json``, flattened: file, measure, value."""
    rows = []

    def walk(prefix: str, value: Any, file: str) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner, file)
        elif isinstance(value, (int, float, str, bool)) or value is None:
            rows.append({"file": file, "measure": prefix, "value": value})

    for path in paths:
        path = Path(path)
        try:
            walk("", json.loads(path.read_text(encoding="utf-8")), path.name)
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"{path}: not a benchmark JSON file ({exc})") from exc
    return pd.DataFrame(rows, columns=["file", "measure", "value"])


GPU_BENCHMARK_COLUMNS: Final[dict[str, str]] = {  # result field -> column; the order is the table's
    "setting": "setting",  # scripts/gpu_bench_finetune.py
    "workload": "workload", "protocol": "protocol", "implementation": "path",  # scripts/gpu_bench_qwen.py
    "batch_size": "batch", "precision": "precision",
    "status": "status",
    "images_per_second": "images/s", "speedup": "x reference", "seconds_per_batch": "s/batch",
    "seconds_per_step": "s/step", "ms_per_token": "ms/token", "model_peak_fraction": "share of matmul peak",
    "prompt_tokens": "prompt tokens", "generated_tokens": "generated", "tokens_per_image": "tokens/image",
    "trainable_parameters": "trainable", "peak_memory_gib": "peak GiB",
}


@dataclass(frozen=True)
class GpuBenchmark:
    """A measurement written by ``scripts/gpu_bench_qwen.py`` or ``scripts/gpu_bench_finetune.py``."""

    path: Path
    results: pd.DataFrame  # one row per measured setting, the columns named as the book shows them
    what: str
    gpu: str
    packages: dict[str, Any]
    measured_at: str | None = None  # written by the scripts since 2026-11-27

    def shared(self) -> dict[str, Any]:
        """Columns with one value in every row (with several rows), said once in the caption instead."""
        if len(self.results) < 2:
            return {}
        return {c: self.results[c].iloc[0] for c in self.results.columns
                if c != "status" and self.results[c].nunique(dropna=False) == 1}

    def table(self) -> pd.DataFrame:
        """The results as the book shows them, narrow enough for a page: without the shared columns, and with the
        status column only when a setting failed."""
        dropped = list(self.shared())
        if (self.results["status"] == "ok").all():
            dropped.append("status")
        return self.results.drop(columns=dropped)

    def describe(self) -> str:
        """One sentence for a caption: what ran, where, when, with which versions, from which file."""
        versions = ", ".join(f"{name} {self.packages[name]}" for name in ("torch", "transformers")
                             if self.packages.get(name))
        when = f" on {self.measured_at[:10]}" if self.measured_at else ""
        shared = ", ".join(f"{column} {value}" for column, value in self.shared().items())
        shared = f"; in every row: {shared}" if shared else ""
        return f"{self.what}, measured on {self.gpu}{when} ({versions}), file {self.path.name}{shared}"


def read_gpu_benchmark(path: str | os.PathLike) -> GpuBenchmark:
    """Read one GPU benchmark JSON; a file that is not one raises DataError naming it."""
    path = Path(path)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a GPU benchmark JSON file ({exc})") from exc
    if not isinstance(report, dict) or not isinstance(report.get("results"), list) or not report["results"]:
        raise DataError(f"{path}: not a GPU benchmark JSON file (no 'results' list; "
                        "expected the --out file of scripts/gpu_bench_qwen.py or scripts/gpu_bench_finetune.py)")
    results = pd.DataFrame(report["results"])
    if "grad_accum" in results.columns:  # fine-tuning: images per pass x passes per optimizer step
        results["batch_size"] = [f"{b} x {g}" for b, g in zip(results["batch_size"], results["grad_accum"])]
    if "tokens_per_image" in results.columns:
        results["tokens_per_image"] = results["tokens_per_image"].round().astype("Int64")
    shown = [c for c in GPU_BENCHMARK_COLUMNS if c in results.columns]
    results = results[shown].rename(columns=GPU_BENCHMARK_COLUMNS)
    if "trainable" in results.columns:
        results["trainable"] = results["trainable"].map(lambda n: f"{n / 1e9:.2f} B")
    return GpuBenchmark(path=path, results=results, what=str(report.get("what", "GPU benchmark")),
                        gpu=str(report.get("gpu") or report.get("device", "an unnamed device")),
                        packages=dict(report.get("packages") or {}), measured_at=report.get("measured_at"))


def prediction_fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    """A prediction file's digest, format, record count and run configuration(s) (the ``run`` blocks)."""
    predictions = read_predictions(path)  # a labelled path (LABEL=PATH) is read as its file
    return {"path": str(predictions.path), "label": predictions.label, "sha256": file_sha256(predictions.path),
            "format": predictions.format, "records": len(predictions), "runs": predictions.runs}


def reproducibility_record(data_root: str | os.PathLike, predictions: Iterable[str | os.PathLike] = (), *,
                           packages: Iterable[str] = DEFAULT_PACKAGES, settings: Mapping[str, Any] | None = None,
                           now: _dt.datetime | None = None) -> dict[str, Any]:
    """Everything needed to say what produced a book: date (UTC), Python and platform, package versions, the
    code's git commit, the data fingerprint, each prediction file's digest and run configuration, and any
    ``settings`` (the notebook parameters)."""
    import portraitcraft

    when = (now or _dt.datetime.now(_dt.timezone.utc)).astimezone(_dt.timezone.utc)
    return {
        "date": when.isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(packages),
        "code": git_commit(Path(portraitcraft.__file__).resolve().parent),
        "data": data_fingerprint(data_root),
        "predictions": [prediction_fingerprint(p) for p in predictions],
        "settings": dict(settings or {}),
    }


__all__ = [
    "GPU_BENCHMARK_COLUMNS", "GpuBenchmark", "benchmark_table", "page_durations", "prediction_fingerprint",
    "prediction_timing", "read_gpu_benchmark", "reproducibility_record", "timed",
]
