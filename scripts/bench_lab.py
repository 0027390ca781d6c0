"""Time the composition lab: rendering per image and writing annotations at full PortraitCraft scale.

    python scripts/bench_lab.py                 # render 60 images, then write 47,863 + 2,000 annotations
    python scripts/bench_lab.py --images 200 --skip-scale

CPU time (process_time) is reported beside wall time: on a shared machine only the former is stable.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from portraitcraft.lab import make_record, render_scene, write_lab


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=60, help="images to render for the per-image timing")
    parser.add_argument("--skip-scale", action="store_true", help="skip the full-scale annotations-only run")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    factors = [make_record(0, "track1", "train", k, "x.jpg")["factors"] for k in range(args.images)]
    render_scene(factors[0])  # warm the caches (grain field)
    cpu, wall = [], []
    for f in factors:
        c0, w0 = time.process_time(), time.perf_counter()
        render_scene(f)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    print(
        f"render_scene: median {1000 * statistics.median(cpu):.1f} ms CPU "
        f"({1000 * statistics.median(wall):.1f} ms wall), "
        f"max {1000 * max(cpu):.1f} ms CPU, over {len(cpu)} images at 512 px"
    )

    if not args.skip_scale:
        with tempfile.TemporaryDirectory() as tmp:
            c0, w0 = time.process_time(), time.perf_counter()
            summary = write_lab(Path(tmp) / "lab", n_train=47_863, n_test=2_000, annotations_only=True,
                                workers=args.workers, progress=False)
            sizes = {p.name: p.stat().st_size for p in (Path(tmp) / "lab").glob("*.json")}
            print(f"annotations only, 47,863 train + 2,000 test: {time.perf_counter() - w0:.1f} s wall, "
                  f"{time.process_time() - c0:.1f} s CPU in this process (workers={args.workers})")
            print("  " + ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in sorted(sizes.items())))
            print(f"  {summary}")


if __name__ == "__main__":
    main()
