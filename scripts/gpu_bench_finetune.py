"""Step time and peak memory of fine-tuning Qwen3-VL at Qwen3-VL-4B-Instruct's size, without downloading weights.

    python scripts/gpu_bench_finetune.py --out gpu_bench_finetune.json          # on a CUDA machine
    python scripts/gpu_bench_finetune.py --tiny --out tiny_bench_finetune.json  # CPU smoke test, tiny dimensions

What runs
---------
The model is the random-weight `Qwen3VLForConditionalGeneration` with the published Qwen3-VL-4B-Instruct dimensions
that ``scripts/gpu_bench_qwen.py`` builds (`build_model`, `build_processor`: the same config, the same note on the
tokenizer), trained through the project's own code path: `portraitcraft.finetune.FineTuner.step`, one optimizer
step = ``--grad-accum`` forward/backward passes of ``--batch-size`` images, then clipping and the AdamW update.

Settings measured (``--settings``), each on a freshly built model:

``full``       our recipe's: language model and mergers trained, vision encoder frozen; bf16-mixed (float32 weights
               and AdamW state, bfloat16 compute), gradient checkpointing on;
``full-bf16``  the same with weights, gradients and AdamW state in bfloat16 (the reference recipe's precision: what a
               plain ``--bf16`` Trainer run of a bfloat16-loaded model does; least memory, but 1e-5 updates are
               mostly below bfloat16's resolution; it also trains the DeepStack mergers, which the reference does not);
``lora``       LoRA r=16 on the language model's linear layers, mergers trained in full, bf16-mixed.

Defaults are both recipes' batch (4 x 4 accumulation) and the reference training script's pixel budget (50,176
pixels: about 49 visual tokens per image); ``--max-pixels`` measures others. Images are synthetic
(``--image-size``). The answer is the reference conversion's JSON (`finetune.generate_target`) with synthetic
reasons grown until it is ``--answer-tokens`` tokens long (default 700, about what 13 real reasons take with
Qwen's tokenizer); the prompt is the runner's generate prompt. Reported per setting: seconds per optimizer step
(median of ``--steps`` timed steps after one warm-up step), images per second, prompt/answer/total tokens per
image, trainable parameters, and peak GPU memory (``torch.cuda.max_memory_allocated``). An out-of-memory setting is
reported as such and the next one runs. ``--estimate-images N`` adds the time of N training images x epochs.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpu_bench_qwen import SOURCE, build_model, build_processor, synthetic_images, write_report  # noqa: E402

SETTINGS = {
    "full": {"lora": False, "precision": "bf16-mixed"},
    "full-bf16": {"lora": False, "precision": "bf16"},
    "lora": {"lora": True, "precision": "bf16-mixed"},
}
WORDS = ("the subject visual image composition light balance frame space colour style level evidence strong soft "
         "clear background portrait centre line depth shadow exposure harmony").split()


def synthetic_examples(n: int, tokenizer, answer_tokens: int, seed: int = 0):
    """Examples whose reference-format answer is about ``answer_tokens`` tokens of the given tokenizer."""
    import numpy as np

    from portraitcraft.attributes import ATTRIBUTE_NAMES, LEVELS
    from portraitcraft.finetune import Example, generate_target

    rng = np.random.default_rng(seed)
    examples = []
    for k in range(n):
        levels = {a: LEVELS[int(rng.integers(3))] for a in ATTRIBUTE_NAMES}
        words = 1
        while True:
            reasons = {a: " ".join(rng.choice(WORDS, words)) + "." for a in ATTRIBUTE_NAMES}
            example = Example(f"bench_{k:03d}.jpg", levels, reasons, float(rng.integers(20, 95)))
            length = len(tokenizer(generate_target(example), add_special_tokens=False)["input_ids"])
            if length >= answer_tokens or words > 400:
                break
            words += max(1, (answer_tokens - length) // (2 * len(ATTRIBUTE_NAMES)))
        examples.append(example)
    return examples


def measure(name: str, args, device, cuda: bool) -> dict:
    import torch

    from portraitcraft.finetune import FineTuner, FinetuneSettings

    config = SETTINGS[name]
    dtype = torch.bfloat16 if config["precision"] == "bf16" else torch.float32
    if not cuda:
        config = {**config, "precision": "fp32"}
        dtype = torch.float32
    row = {"setting": name, **config, "batch_size": args.batch_size, "grad_accum": args.grad_accum,
           "max_pixels": args.max_pixels}
    model = tuner = None
    try:
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        processor = build_processor(args.max_pixels)
        model = build_model(processor, args.tiny, device, dtype)
        if args.attn_implementation:
            model.set_attn_implementation(args.attn_implementation)
        settings = FinetuneSettings(model="random-init", out="-", device=str(device), lr=1e-5,
                                    batch_size=args.batch_size, grad_accum=args.grad_accum, max_pixels=args.max_pixels,
                                    min_pixels=min(784, args.max_pixels), **config)
        identity = {"model": "random-init", "model_source": "config", "model_revision": SOURCE}
        tuner = FineTuner(settings, loaded=(model, processor, identity))
        tuner.configure_schedule(args.steps + 1)
        row["build_seconds"] = time.perf_counter() - started
        row["parameters"] = sum(p.numel() for p in tuner.base.parameters())
        row["trainable_parameters"] = sum(p.numel() for _, p in tuner.trainable)
        row["gradient_checkpointing"] = tuner.checkpointing
        width, height = (int(v) for v in args.image_size.lower().split("x"))
        examples = synthetic_examples(args.batch_size, processor.tokenizer, args.answer_tokens)
        images = synthetic_images(args.batch_size, (width, height))
        inputs, labels, _ = tuner.encode_generate(examples, images)
        mask = inputs["attention_mask"].sum(dim=1).float()
        row["tokens_per_image"] = float(mask.mean())
        row["answer_tokens_per_image"] = float((labels != -100).sum(dim=1).float().mean())
        row["visual_tokens_per_image"] = float((inputs["input_ids"] == model.config.image_token_id).sum(dim=1)
                                               .float().mean())
        micro = [(examples, images)] * args.grad_accum
        times, losses = [], []
        for k in range(args.steps + 1):  # the first is a warm-up
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            result = tuner.step(micro)
            if cuda:
                torch.cuda.synchronize()
            if k:
                times.append(time.perf_counter() - start)
            losses.append(result["loss"])
        seconds = sorted(times)[len(times) // 2]
        images_per_step = args.batch_size * args.grad_accum
        row.update(status="ok", seconds_per_step=seconds, images_per_second=images_per_step / seconds,
                   losses=losses, peak_memory_gib=torch.cuda.max_memory_allocated() / 2**30 if cuda else None)
        if args.estimate_images:
            steps = args.epochs * args.estimate_images / images_per_step
            row["estimate"] = {"images": args.estimate_images, "epochs": args.epochs, "optimizer_steps": steps,
                               "hours": steps * seconds / 3600}
    except torch.OutOfMemoryError as exc:
        row.update(status="out_of_memory", error=str(exc).splitlines()[0],
                   peak_memory_gib=torch.cuda.max_memory_allocated() / 2**30 if cuda else None)
    finally:
        del tuner, model
        if cuda:
            torch.cuda.empty_cache()
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("gpu_bench_finetune.json"))
    parser.add_argument("--tiny", action="store_true", help="tiny model dimensions on CPU (smoke test)")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--batch-size", type=int, default=None, help="images per forward pass (default 4; --tiny: 2)")
    parser.add_argument("--grad-accum", type=int, default=None, help="passes per optimizer step (default 4; --tiny: 2)")
    parser.add_argument(
        "--steps", type=int, default=None, help="timed optimizer steps after one warm-up (default 2; --tiny: 1)"
    )
    parser.add_argument("--image-size", default="1365x2048", help="WIDTHxHEIGHT of the synthetic images")
    parser.add_argument("--max-pixels", type=int, default=50176, help="processor pixel budget per image")
    parser.add_argument("--answer-tokens", type=int, default=None,
                        help="answer length in tokens (default 700; --tiny: 120)")
    parser.add_argument("--attn-implementation", default=None, help="sdpa (default), eager, flash_attention_2")
    parser.add_argument(
        "--estimate-images", type=int, default=0, help="also estimate the time of this many training images"
    )
    parser.add_argument("--epochs", type=float, default=2.0, help="epochs of the estimate")
    args = parser.parse_args(argv)

    import torch

    from portraitcraft.provenance import package_versions

    cuda = torch.cuda.is_available() and not args.tiny
    if not cuda and not args.tiny:
        print("no CUDA device: run with --tiny for a CPU smoke test", file=sys.stderr)
        return 2
    device = torch.device("cuda" if cuda else "cpu")
    args.batch_size = args.batch_size or (2 if args.tiny else 4)
    args.grad_accum = args.grad_accum or (2 if args.tiny else 4)
    args.steps = args.steps or (1 if args.tiny else 2)
    args.answer_tokens = args.answer_tokens or (120 if args.tiny else 700)
    if args.tiny and args.image_size == "1365x2048":
        args.image_size = "96x128"

    rows = []
    for name in args.settings:
        row = measure(name, args, device, cuda)
        rows.append(row)
        print(_format_row(row), flush=True)

    report = {
        "what": "Qwen3-VL fine-tuning step, random weights at Qwen3-VL-4B-Instruct dimensions" if not args.tiny
                else "smoke test: tiny random Qwen3-VL on CPU (not a measurement of the 4B model)",
        "config_source": SOURCE, "device": str(device), "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "image_size": args.image_size, "answer_tokens": args.answer_tokens, "timed_steps": args.steps,
        "platform": platform.platform(), "packages": package_versions(("portraitcraft", "torch", "transformers",
                                                                       "peft", "accelerate"), with_python=True),
        "results": rows,
        "note": "prompt tokens come from a 1024-entry BPE trained on the prompts, not Qwen's tokenizer; visual tokens "
                "are exact for the image size and pixel budget; the answer length is set in this tokenizer's tokens",
    }
    write_report(report, _table(rows), args.out)
    return 0


def _format_row(row: dict) -> str:
    if row["status"] != "ok":
        return f"{row['setting']:>9}: {row['status']} (peak {row.get('peak_memory_gib') or float('nan'):.1f} GiB)"
    memory = f", peak {row['peak_memory_gib']:.1f} GiB" if row.get("peak_memory_gib") is not None else ""
    estimate = (f"; {row['estimate']['hours']:.1f} h for {row['estimate']['epochs']:g} x "
                f"{row['estimate']['images']} images" if row.get("estimate") else "")
    return (f"{row['setting']:>9}: {row['seconds_per_step']:.2f} s/step ({row['images_per_second']:.2f} images/s, "
            f"{row['tokens_per_image']:.0f} tokens/image of which {row['answer_tokens_per_image']:.0f} answer, "
            f"{row['trainable_parameters'] / 1e9:.2f} B trainable){memory}{estimate}")


def _table(rows: list[dict]) -> str:
    lines = ["| setting | precision | s/step | images/s | tokens/image | trainable | peak GiB |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        peak = f"{r['peak_memory_gib']:.1f}" if r.get("peak_memory_gib") is not None else "-"
        if r["status"] != "ok":
            lines.append(f"| {r['setting']} | {r['precision']} | {r['status']} | | | | {peak} |")
            continue
        lines.append(
            f"| {r['setting']} | {r['precision']} | {r['seconds_per_step']:.2f} | {r['images_per_second']:.2f} "
            f"| {r['tokens_per_image']:.0f} | {r['trainable_parameters'] / 1e6:.1f} M | {peak} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
