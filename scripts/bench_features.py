"""Benchmark the feature baseline on a lab: feature extraction seconds per image, training time, and the
Track 1 metrics with bootstrap intervals.

    python scripts/bench_features.py                      # default lab (300 train / 100 test, seed 0) in a temp dir
    python scripts/bench_features.py --lab data/lab --jobs 2 --grid small --json out.json

Speed goals live here, not in the tests: the extraction time is measured on a cold cache, then again warm.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", type=Path, help="an existing lab root (default: write the default lab to a temp dir)")
    parser.add_argument("--n-train", type=int, default=300)
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-side", type=int, default=512)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--grid", default="small", choices=["linear", "small"])
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()

    from portraitcraft.baseline import load_baseline, run_feature_baseline
    from portraitcraft.evaluation import evaluate
    from portraitcraft.features import extract_features
    from portraitcraft.lab import write_lab
    from portraitcraft.sources import open_dataset

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root = args.lab
        if root is None:
            root = work / "lab"
            started = time.perf_counter()
            write_lab(root, n_train=args.n_train, n_test=args.n_test, seed=args.seed, workers=args.jobs, progress=False)
            print(f"lab written in {time.perf_counter() - started:.1f} s")
        images = open_dataset(root).images()
        cache = work / "cache"
        cold = extract_features(list(images["image_path"]), list(images["image_file"]), max_side=args.max_side,
                                cache_dir=cache, n_jobs=args.jobs)
        warm = extract_features(list(images["image_path"]), list(images["image_file"]), max_side=args.max_side,
                                cache_dir=cache, n_jobs=args.jobs)
        out = work / "features.jsonl"
        started = time.perf_counter()
        run_feature_baseline(root, out, work / "model", max_side=args.max_side, cache_dir=cache, grid=args.grid,
                             n_jobs=args.jobs)
        run_seconds = time.perf_counter() - started
        model = load_baseline(work / "model")
        report = evaluate(out, root / "track_1_test_ground_truth.json", n_bootstrap=1000)
        numbers = {
            "images": len(images),
            "feature_seconds_per_image": cold.seconds_per_image,
            "feature_wall_seconds_cold": cold.wall_seconds,
            "feature_wall_seconds_warm": warm.wall_seconds,
            "jobs": args.jobs,
            "train_seconds": model.info["train_seconds"],
            "train_and_predict_wall_seconds_cached": run_seconds,
            "cv": model.cv,
            "metrics": {m: report.values[m] for m in ("srcc", "plcc", "level_acc", "qa_acc", "overall")},
            "ci": {m: [iv.low, iv.high] for m, iv in report.ci.items()},
        }
        print(report.to_text())
        print(f"\nfeatures: {cold.seconds_per_image:.3f} s/image (one process), cold wall {cold.wall_seconds:.1f} s "
              f"with {args.jobs} job(s), warm cache {warm.wall_seconds:.2f} s for {len(images)} images")
        print(f"training: {model.info['train_seconds']:.1f} s (grid {args.grid}); "
              f"train+predict on cached features {run_seconds:.1f} s")
        if args.json:
            args.json.write_text(json.dumps(numbers, indent=2, default=float) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
