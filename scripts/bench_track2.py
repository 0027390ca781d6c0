"""The Track 2 scorer's proof on the composition lab, and its honest result on the real sample.

    python scripts/bench_track2.py                          # lab test split of data/lab, CPU extractor
    python scripts/bench_track2.py --lab /tmp/lab --split test --json out.json
    python scripts/bench_track2.py --sample ../shared/portraitcraft-sample

Lab: every Track 2 record's image is drawn from its own factors (the faithful renderer); every description is
scored against every image; the ROC AUC of matched over mismatched pairs is printed (the goal is >= 0.9),
with the extractor's and the text parser's accuracy per property against the factors. Sample: every real
description against every real image present, matched versus mismatched, reported as it comes. Generator: the
composition-lab generator draws every lab description's scene from the description alone (`track2.lab_generator`);
its images are scored against their own descriptions and against shuffled ones (a derangement), ROC AUC printed.
Figures here are reported, not asserted.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from portraitcraft.data import read_json_records
from portraitcraft.track2.bench import generator_alignment, lab_alignment, sample_alignment

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default=str(REPO / "data" / "lab"), help="a lab folder (with lab_factors.json)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=None, help="only the first N Track 2 records of the split")
    parser.add_argument("--long-side", type=int, default=512, help="long side of the faithful renders")
    parser.add_argument("--extractor", default="cpu", choices=("cpu", "vlm"))
    parser.add_argument("--model", default=None, help="vlm: a Qwen3-VL folder or hub id")
    parser.add_argument("--sample", default=str(REPO.parent / "shared" / "portraitcraft-sample"),
                        help="the real sample (skipped when absent)")
    parser.add_argument("--json", default=None, help="write the figures as JSON here")
    args = parser.parse_args()

    out = {}
    lab = lab_alignment(args.lab, split=args.split, extractor=args.extractor, model=args.model,
                        long_side=args.long_side, limit=args.limit)
    print("\n".join(lab.lines()))
    out["lab"] = lab.as_dict()

    records = read_json_records(Path(args.lab) / f"track_2_{args.split}.json")[:args.limit]
    drawn = generator_alignment(records, side=args.long_side, extractor=args.extractor, model=args.model)
    print("\n" + "\n".join(drawn.lines()))
    out["lab_generator"] = drawn.as_dict()

    if (Path(args.sample) / "track_2_train.json").is_file():
        real = sample_alignment(args.sample, extractor=args.extractor, model=args.model)
        print(f"\nreal sample: {len(real['image_paths'])} images present of {real['candidates']} descriptions "
              f"(missing: {len(real['missing_images'])})")
        print(f"  matched mean {real['matched_mean']:.3f}, mismatched mean {real['mismatched_mean']:.3f}, "
              f"AUC {real['auc']:.3f}")
        for name, score, rank in zip(real["image_paths"], real["matched"], real["own_description_rank"]):
            print(f"  {name}: own description {score:.3f}, ranked {rank} of {real['candidates']}")
        out["sample"] = {k: v for k, v in real.items() if k not in ("matrix", "parsed", "readings")}
        out["sample"]["matrix"] = real["matrix"].tolist()
    else:
        print(f"\nreal sample not found at {args.sample}; skipped")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
