"""Throughput of the Qwen3-VL runner at Qwen3-VL-4B-Instruct's size, stage by stage, the reference paths beside the
fast ones.

    python scripts/gpu_bench_qwen.py --out gpu_bench.json     # on a CUDA machine (bfloat16)
    python scripts/gpu_bench_qwen.py --tiny                   # CPU dry run: tiny model, tiny images (not a measurement)

What runs
---------
The model is `Qwen3VLForConditionalGeneration` built from a config with the published dimensions of
Qwen/Qwen3-VL-4B-Instruct, randomly initialised in bfloat16 on the GPU (nothing is downloaded). Source of the
dimensions: the model's config.json on the Hugging Face Hub,
https://huggingface.co/Qwen/Qwen3-VL-4B-Instruct/blob/main/config.json
(text: hidden 2560, intermediate 9728, 36 layers, 32 heads, 8 KV heads, head_dim 128, vocab 151936, rope theta 5e6,
interleaved M-RoPE sections [24, 20, 20], tied embeddings; vision: 24 blocks, hidden 1024, intermediate 4096,
16 heads, patch 16, merge 2, temporal patch 2, out 2560, DeepStack layers [5, 11, 17], 2304 position embeddings).

It is measured through the project's own code path, `portraitcraft.runners.qwen.QwenBackend`, on three workloads
(``--workloads``): ``score`` at 1365x2048 (batches 1 and 16), ``score-50k`` at the fine-tuned row's 50,176 pixels
(batch 64) and ``generate`` (batches 1 and 16, exactly ``--new-tokens`` tokens: random weights never stop). Each
batch size runs twice in the same process, on the same weights:

``reference``  what the runner did before: score with the prefix's KV cache copied per slot and full logits over
               the heads (``score_impl="reference"``), generate with transformers' dynamic cache, images resized on
               the CPU, batches prepared one after the other;
``fast``       the runner's defaults: score with one prefix per image and all slot heads in one block-masked
               continuation, logits only where read, images resized on the GPU; generate with a static cache and
               compiled decoding; the next batch prepared in a thread while the model runs this one.

For each: images per second over ``--batches`` batches after a warm-up batch (the warm-up's time is reported too:
it holds the compilation), and peak GPU memory; then one batch again with a GPU synchronisation at each stage's
end, for the time split: preprocessing (chat text, tokens, image processing, M-RoPE positions), vision tower, LM
prefill, and the slots (score) or the decoding (generate: the time of ``--new-tokens`` tokens less the time of
one; its vision and prefill from a separate vision-tower call and a one-token generation). Each stage's
useful FLOPs (matrix products only, 2 per multiply-add, counted from the model's shapes and the batch's token
counts; the reference path's extra work is not counted) give its achieved TFLOP/s and the fraction of the
bfloat16 matmul peak measured at the start of the same run (``--peak-size``-square products).

The processor is the tiny model's pipeline (`portraitcraft.runners.tiny`: Qwen's chat format, special tokens and
pre-tokenizer, a byte-level BPE of 1024 entries trained on the prompts) with the real Qwen3-VL image processing
(torchvision-backed, patch 16, merge 2, mean/std 0.5) and the runner's pixel budget. The model's vocabulary keeps
its real 151,936 rows (embedding and LM head cost the real FLOPs); the tokenizer only uses the first ids. So the
visual token count is exact for the image size, the text prompt's token count close to but not exactly the real
tokenizer's. Images are synthetic.

``--tiny`` runs the same code on the CPU with the tiny model's dimensions and small images, to show the script
works end to end; its numbers say nothing about a GPU, and its report says so.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from portraitcraft.runners.configs import QWEN3_VL_4B, QWEN3_VL_4B_SOURCE

SOURCE = QWEN3_VL_4B_SOURCE


def build_processor(max_pixels: int):
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

    from portraitcraft.runners.tiny import CHAT_TEMPLATE, build_tokenizer

    image_processor = Qwen2VLImageProcessor(
        patch_size=16, temporal_patch_size=2, merge_size=2, image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5],
        size={"shortest_edge": 256 * 256, "longest_edge": max_pixels})
    video_processor = Qwen3VLVideoProcessor(patch_size=16, temporal_patch_size=2, merge_size=2)
    return Qwen3VLProcessor(image_processor=image_processor, tokenizer=build_tokenizer(),
                            video_processor=video_processor, chat_template=CHAT_TEMPLATE)


def build_model(processor, tiny: bool, device, dtype):
    import torch
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    from portraitcraft.runners.tiny import tiny_config

    tokenizer = processor.tokenizer
    if tiny:
        config = tiny_config(tokenizer)
    else:
        ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in (
            ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
            ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"))}
        text = dict(QWEN3_VL_4B["text_config"], eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
                    pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.pad_token_id)
        config = Qwen3VLConfig(text_config=text, vision_config=QWEN3_VL_4B["vision_config"],
                               tie_word_embeddings=True, **ids)
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen3VLForConditionalGeneration._from_config(config, dtype=dtype)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    return model.eval()


def synthetic_images(n: int, size: tuple[int, int], seed: int = 0):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    width, height = size
    base = np.linspace(0, 255, width * height * 3).reshape(height, width, 3)
    return [Image.fromarray(((base + rng.integers(0, 60, (height, width, 3))) % 256).astype("uint8")) for _ in range(n)]


WORKLOADS = {  # name: (protocol, image size, pixel budget, batch sizes)
    "score": ("score", (1365, 2048), 2048 * 2048, [1, 16]),
    "score-50k": ("score", (1365, 2048), 50176, [64]),
    "generate": ("generate", (1365, 2048), 2048 * 2048, [1, 16]),
}
TINY_WORKLOADS = {
    "score": ("score", (96, 128), 128 * 128, [1, 2]),
    "score-50k": ("score", (96, 128), 64 * 64, [4]),
    "generate": ("generate", (96, 128), 128 * 128, [1, 2]),
}
IMPLEMENTATIONS = ("reference", "fast")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="report JSON (default gpu_bench.json; --tiny: bench_qwen_tiny_cpu.json)")
    parser.add_argument("--tiny", action="store_true", help="tiny model dimensions on the CPU (a dry run)")
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=None, help="override every workload's")
    parser.add_argument("--batches", type=int, default=3, help="timed batches per setting (after one warm-up)")
    parser.add_argument("--new-tokens", type=int, default=256, help="generate: tokens produced per image")
    parser.add_argument("--implementations", nargs="+", default=list(IMPLEMENTATIONS), choices=IMPLEMENTATIONS)
    parser.add_argument("--peak-size", type=int, default=8192, help="side of the square matmuls timing the peak")
    parser.add_argument("--attn-implementation", default=None, help="sdpa (default), eager, flash_attention_2")
    args = parser.parse_args(argv)

    import torch

    from portraitcraft.provenance import package_versions
    from portraitcraft.runners.base import RUNNER_PACKAGES

    cuda = torch.cuda.is_available() and not args.tiny
    if not cuda and not args.tiny:
        print("no CUDA device: run with --tiny for a CPU dry run", file=sys.stderr)
        return 2
    device = torch.device("cuda" if cuda else "cpu")
    dtype = torch.bfloat16 if cuda else torch.float32
    workloads = TINY_WORKLOADS if args.tiny else WORKLOADS
    if args.tiny:
        args.new_tokens = min(args.new_tokens, 8)
        args.batches = min(args.batches, 2)
        args.peak_size = min(args.peak_size, 512)
    args.out = args.out or Path("bench_qwen_tiny_cpu.json" if args.tiny else "gpu_bench.json")

    peak = matmul_peak(device, dtype, args.peak_size)
    print(f"matmul peak ({dtype}, {args.peak_size}^3, {device}): {peak / 1e12:.1f} TFLOP/s", flush=True)
    started = time.perf_counter()
    processor = build_processor(max(w[2] for w in workloads.values()))
    model = build_model(processor, args.tiny, device, dtype)
    if args.attn_implementation:
        model.set_attn_implementation(args.attn_implementation)
    build_seconds = time.perf_counter() - started
    parameters = sum(p.numel() for p in model.parameters())
    print(f"model: {parameters / 1e9:.2f} B parameters, {dtype}, {device}, built in {build_seconds:.1f} s", flush=True)

    rows = []
    for name in args.workloads:
        protocol, size, max_pixels, batch_sizes = workloads[name]
        for batch_size in args.batch_sizes or batch_sizes:
            for implementation in args.implementations:
                row = measure(model, processor, name, protocol, implementation, batch_size, size, max_pixels,
                              args, device, dtype, peak)
                rows.append(row)
                print(_format_row(row), flush=True)
            if len(rows) >= 2 and rows[-1]["implementation"] != rows[-2]["implementation"] \
                    and rows[-1].get("images_per_second") and rows[-2].get("images_per_second"):
                ratio = rows[-1]["images_per_second"] / rows[-2]["images_per_second"]
                rows[-1]["speedup"] = ratio
                print(f"{'':>10} fast / reference: {ratio:.2f}x images/s", flush=True)

    report = {
        "what": "Qwen3-VL runner throughput, random weights at Qwen3-VL-4B-Instruct dimensions"
        if not args.tiny
        else "DRY RUN on the CPU: tiny random Qwen3-VL, tiny images; not a GPU measurement",
        "config_source": SOURCE,
        "parameters": parameters,
        "dtype": str(dtype),
        "device": str(device),
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "matmul_peak_tflops": peak / 1e12,
        "matmul_peak_size": args.peak_size,
        "new_tokens": args.new_tokens,
        "timed_batches": args.batches,
        "attn_implementation": model.config._attn_implementation,
        "build_seconds": build_seconds,
        "platform": platform.platform(),
        "packages": package_versions(RUNNER_PACKAGES, with_python=True),
        "results": rows,
        "note": "prompt tokens come from a 1024-entry BPE trained on the prompts, not Qwen's tokenizer; visual "
        "tokens are exact for the image size. FLOPs: matrix products of the useful work only.",
    }
    write_report(report, _table(rows), args.out)
    return 0


def matmul_peak(device, dtype, size: int, repeats: int = 20) -> float:
    """FLOP/s of ``size``-square matrix products in ``dtype`` on ``device``, the best of a few timed rounds."""
    import torch

    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    best = 0.0
    for _ in range(3):
        _sync(device)
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        _sync(device)
        best = max(best, 2 * size**3 * repeats / (time.perf_counter() - start))
    return best


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(model, processor, workload, protocol, implementation, batch_size, size, max_pixels, args, device,
            dtype, peak) -> dict:
    import torch

    from portraitcraft.runners.base import Item, prefetched
    from portraitcraft.runners.qwen import QwenBackend, QwenSettings

    fast = implementation == "fast"
    if protocol == "score":
        choice = {"score_impl": "block" if fast else "reference"}
    else:  # the CPU never compiles (the runner's own rule); the static cache alone stands in for it there
        choice = {"decode_impl": ("compiled" if device.type == "cuda" else "static") if fast else "dynamic"}
    settings = QwenSettings(protocol=protocol, device=str(device), dtype=str(dtype).removeprefix("torch."),
                            max_pixels=max_pixels, max_new_tokens=args.new_tokens,
                            image_device="auto" if fast else "cpu", **choice)
    identity = {"model": "random-init", "model_source": "config", "model_revision": SOURCE}
    backend = QwenBackend(settings, loaded=(model, processor, identity))
    if protocol == "generate":
        backend.generation.min_new_tokens = args.new_tokens  # a fixed workload: random weights never stop
    question = "Regarding the Sharpness in this image, which of the following best describes the visual evidence?"
    options = {x: f"Option {x}: the subject is rendered with a particular kind of visual evidence." for x in "ABCD"}
    items = [Item(f"bench_{k:03d}.jpg", question, options) for k in range(batch_size)]
    images = synthetic_images(batch_size, size)
    row = {"workload": workload, "protocol": protocol, "implementation": implementation, "batch_size": batch_size,
           "image_size": list(size), "max_pixels": max_pixels,
           **({"score_impl": backend.score_impl} if protocol == "score" else {"decode_impl": backend.decode_impl}),
           "image_device": backend.image_device or "cpu"}
    try:
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        outcomes = backend.predict(items, images)  # warm-up (and, compiled, the compilation)
        _sync(device)
        row["warmup_seconds"] = time.perf_counter() - start

        # Throughput: as the run loop does it (fast: the next batch prepared in a thread meanwhile).
        start = time.perf_counter()
        if fast:
            for prepared in prefetched(lambda _: backend.prepare(items, images), range(args.batches)):
                outcomes = backend.predict(items, images, prepared=prepared)
        else:
            for _ in range(args.batches):
                outcomes = backend.predict(items, images)
        _sync(device)
        seconds = (time.perf_counter() - start) / args.batches
        row.update(status="ok", seconds_per_batch=seconds, images_per_second=batch_size / seconds,
                   prompt_tokens=outcomes[0].tokens["prompt"], generated_tokens=outcomes[0].tokens["generated"])

        # The time split: one batch again, synchronised at each stage's end.
        stages = timed_stages(backend, items, images, device)
        inputs = backend.encode(items, images)
        flops = stage_flops(model, inputs, backend, protocol, args.new_tokens)
        if protocol == "generate":
            with torch.inference_mode():
                vision = _time(lambda: model.model.get_image_features(inputs["pixel_values"],
                                                                      inputs["image_grid_thw"]), device)
            generation = backend.generation
            backend.generation = _copy_config(generation, max_new_tokens=1, min_new_tokens=1)
            first = timed_stages(backend, items, images, device)["generate"]
            backend.generation = generation
            stages = {"preprocessing": stages["preprocessing"], "vision tower": vision,
                      "LM prefill": max(first - vision, 0.0), "decode": max(stages["generate"] - first, 0.0)}
            row["ms_per_token"] = 1000 * stages["decode"] / max(args.new_tokens - 1, 1)
        if "vision tower + LM prefill" in stages:  # the reference score path runs both in one call
            flops["vision tower + LM prefill"] = flops.pop("vision tower") + flops.pop("LM prefill")
        row["stage_seconds"] = stages
        row["stage_tflops"] = {k: flops[k] / stages[k] / 1e12 for k in flops if stages.get(k)}
        row["stage_peak_fraction"] = {k: v * 1e12 / peak for k, v in row["stage_tflops"].items()}
        model_seconds = sum(v for k, v in stages.items() if k != "preprocessing")
        row["model_tflops"] = sum(flops.values()) / model_seconds / 1e12
        row["model_peak_fraction"] = row["model_tflops"] * 1e12 / peak
        row["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None
    except torch.OutOfMemoryError as exc:
        row.update(status="out_of_memory", error=str(exc).splitlines()[0],
                   peak_memory_gib=torch.cuda.max_memory_allocated() / 2**30)
    finally:
        backend.stage_timer = None
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return row


def _copy_config(config, **changes):
    import copy

    config = copy.deepcopy(config)
    config.update(**changes)
    return config


def _time(function, device) -> float:
    _sync(device)
    start = time.perf_counter()
    function()
    _sync(device)
    return time.perf_counter() - start


def timed_stages(backend, items, images, device) -> dict[str, float]:
    """Seconds of each stage the backend marks (`QwenBackend._stage`), the GPU synchronised at each mark."""
    seconds: dict[str, float] = {}
    last = [0.0]

    def mark(stage: str) -> None:
        _sync(device)
        now = time.perf_counter()
        seconds[stage] = seconds.get(stage, 0.0) + now - last[0]
        last[0] = now

    backend.stage_timer = mark
    try:
        _sync(device)
        last[0] = time.perf_counter()
        backend.predict(items, images)
    finally:
        backend.stage_timer = None
    return seconds


def _parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())


def stage_flops(model, inputs, backend, protocol: str, new_tokens: int) -> dict[str, float]:
    """Useful FLOPs of each stage (matrix products, 2 per multiply-add) for this batch, from the model's shapes."""
    visual = model.model.visual
    text = model.config.text_config
    vision = model.config.vision_config
    grids = inputs["image_grid_thw"].tolist()
    patches = [t * h * w for t, h, w in grids]
    merged = sum(patches) / vision.spatial_merge_size**2
    mergers = [visual.merger, *getattr(visual, "deepstack_merger_list", [])]
    flops = {"vision tower": 2 * _parameters(visual.blocks) * sum(patches)
             + 2 * _parameters(visual.patch_embed) * sum(patches)
             + 2 * sum(_parameters(m) for m in mergers) * merged
             + vision.depth * 4 * vision.hidden_size * sum(n * n for n in patches)}
    layers = _parameters(model.model.language_model.layers)
    attention = text.num_hidden_layers * text.num_attention_heads * text.head_dim  # per query-key pair: x 4
    lengths = inputs["attention_mask"].sum(dim=1).tolist()
    flops["LM prefill"] = 2 * layers * sum(lengths) + 2 * attention * sum(n * n for n in lengths)
    head = text.hidden_size * text.vocab_size
    if protocol == "score":
        layout = backend.slot_layout()
        heads = layout.length
        flops["slots"] = sum(2 * layers * heads + 4 * attention * heads * (n + heads) + 2 * head * len(backend.slots)
                             for n in lengths)
    else:  # each new token: the layers, attention over the context so far, the LM head
        flops["decode"] = sum(2 * (layers + head) * (new_tokens - 1)
                              + 4 * attention * sum(n + k for k in range(1, new_tokens)) for n in lengths)
    return flops


def write_report(report: dict, table: str, out: Path) -> None:
    """Print the markdown table, then write the whole report, dated, as JSON to ``out`` (shared by the GPU scripts)."""
    from datetime import datetime, timezone

    report = {**report, "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    print("\n" + table)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {out}")


def _format_row(row: dict) -> str:
    head = f"{row['workload']:>10} batch {row['batch_size']:>3} {row['implementation']:>9}"
    if row["status"] != "ok":
        return f"{head}: {row['status']}"
    memory = f", peak {row['peak_memory_gib']:.1f} GiB" if row.get("peak_memory_gib") is not None else ""
    split = ", ".join(f"{k} {v:.3f} s" for k, v in row["stage_seconds"].items())
    rates = ", ".join(f"{k} {v:.2f} TFLOP/s ({100 * row['stage_peak_fraction'][k]:.0f}%)"
                      for k, v in row["stage_tflops"].items())
    token = f", {row['ms_per_token']:.1f} ms/token" if "ms_per_token" in row else ""
    return (f"{head}: {row['images_per_second']:.3f} images/s ({row['seconds_per_batch']:.3f} s/batch, warm-up "
            f"{row['warmup_seconds']:.1f} s, {row['prompt_tokens']} prompt tokens, {row['generated_tokens']} "
            f"generated{token}){memory}\n{'':>12}split: {split}\n{'':>12}achieved: {rates}")


def _table(rows: list[dict]) -> str:
    lines = ["| workload | batch | path | images/s | x | s/batch | prep s | vision s | prefill s | slots/decode s "
             "| ms/token | TFLOP/s | % peak | peak GiB |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['workload']} | {r['batch_size']} | {r['implementation']} | {r['status']} |"
                         + " |" * 10)
            continue
        st = r["stage_seconds"]
        last = st.get("slots", st.get("decode", float("nan")))
        if "vision tower + LM prefill" in st:
            vision, prefill = "(with prefill)", f"{st['vision tower + LM prefill']:.3f}"
        else:
            vision, prefill = f"{st['vision tower']:.3f}", f"{st['LM prefill']:.3f}"
        peak = f"{r['peak_memory_gib']:.1f}" if r.get("peak_memory_gib") is not None else "-"
        speedup = f"{r['speedup']:.2f}" if "speedup" in r else ""
        token = f"{r['ms_per_token']:.1f}" if "ms_per_token" in r else ""
        lines.append(f"| {r['workload']} | {r['batch_size']} | {r['implementation']} | {r['images_per_second']:.3f} "
                     f"| {speedup} | {r['seconds_per_batch']:.3f} | {st['preprocessing']:.3f} | "
                     f"{vision} | {prefill} | {last:.3f} | {token} | "
                     f"{r['model_tflops']:.2f} | {100 * r['model_peak_fraction']:.1f} | {peak} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
