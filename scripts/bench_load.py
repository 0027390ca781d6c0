"""Benchmark: load Track 1 annotations at the published scale (47,863 train + 2,000 test) into the tidy frames.

The annotations come from the composition lab in annotations-only mode (no images). Goal: under 5 s on a
2-core machine for open_dataset + images() + attributes() + questions(). Prints the figures; asserts nothing.
It also times `json.load` of the files alone (garbage collection paused, as open_dataset does): what a file that
whole-file decoding refuses pays before `_Checker` starts (see `portraitcraft.data`; the published test file, whose
labels are hidden, always goes that way).

    .venv/bin/python scripts/bench_load.py [--out data/scale] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from portraitcraft.data import gc_paused, read_json_records
from portraitcraft.lab import write_lab
from portraitcraft.sources import open_dataset

N_TRAIN, N_TEST = 47_863, 2_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("data/scale"), help="where the annotations are written once")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    if not (args.out / "track_1_train.json").is_file():
        summary = write_lab(args.out, n_train=N_TRAIN, n_test=N_TEST, annotations_only=True)
        print(f"wrote annotations for {N_TRAIN:,} + {N_TEST:,} records in {summary.seconds:.1f} s")
    size_mb = sum(p.stat().st_size for p in args.out.glob("track_1_*.json")) / 1e6
    print(f"Track 1 JSON: {size_mb:.0f} MB")

    timings: dict[str, list[float]] = {
        "json.load only": [],
        "open_dataset": [],
        "images()": [],
        "attributes()": [],
        "questions()": [],
        "total": [],
    }
    for _ in range(args.repeat):
        start = time.perf_counter()
        with gc_paused():
            for path in sorted(args.out.glob("track_1_*.json")):
                if "ground_truth" not in path.name:
                    read_json_records(path)
        timings["json.load only"].append(time.perf_counter() - start)
        t0 = time.perf_counter()
        dataset = open_dataset(args.out)
        t1 = time.perf_counter()
        images = dataset.images()
        t2 = time.perf_counter()
        attributes = dataset.attributes()
        t3 = time.perf_counter()
        questions = dataset.questions()
        t4 = time.perf_counter()
        for key, seconds in zip(list(timings)[1:], (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
            timings[key].append(seconds)
    print(f"rows: images {len(images):,}, attributes {len(attributes):,}, questions {len(questions):,}")
    for key, values in timings.items():
        print(f"{key:>14}: median {statistics.median(values):.2f} s (min {min(values):.2f}, runs {len(values)})")


if __name__ == "__main__":
    main()
