"""Render 2,000-image composition labs and audit them: every statement against the pictures (portraitcraft.lab.audit).

    python scripts/bench_lab_audit.py                    # seeds 0 and 1, 2,000 images each, into a temporary folder
    python scripts/bench_lab_audit.py --seeds 0 --images 500 --keep /tmp/audit-lab --show 20

Goal: 0 contradictions at both seeds. Prints, per seed, the render and audit times, the checks made by kind and
each contradiction (image, source, sentence, what was measured). Exits 1 when any seed has a contradiction.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from portraitcraft.lab import write_lab
from portraitcraft.lab.audit import audit_lab


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--images", type=int, default=2000, help="images per lab (Track 1: 80 %% train, 15 %% "
                        "test; Track 2: 2.5 %% each)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", help="render into this folder (one sub-folder per seed) and keep it")
    parser.add_argument("--show", type=int, default=40, help="contradictions to print per seed")
    args = parser.parse_args()
    n_t2 = max(1, round(0.025 * args.images))
    n_test = round(0.15 * args.images)
    n_train = args.images - n_test - 2 * n_t2
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.keep) if args.keep else Path(tmp)
        for seed in args.seeds:
            root = base / f"seed{seed}"
            t0 = time.perf_counter()
            write_lab(root, n_train=n_train, n_test=n_test, n_track2_train=n_t2, n_track2_test=n_t2, seed=seed,
                      workers=args.workers, progress=False)
            t1 = time.perf_counter()
            report = audit_lab(root)
            t2 = time.perf_counter()
            print(f"seed {seed}: rendered {args.images} images in {t1 - t0:.1f} s, audited in {t2 - t1:.1f} s")
            print("  checks: " + ", ".join(f"{k} {n}" for k, n in sorted(report.claims.items())))
            print("  " + report.summary())
            for c in report.contradictions[: args.show]:
                print("   ", c)
            failed |= bool(report.contradictions)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
