"""Throughput and peak memory of the Qwen3-VL runner at Qwen3-VL-4B-Instruct's size, without downloading weights.

    python scripts/gpu_bench_qwen.py --out gpu_bench.json          # on a CUDA machine (bfloat16)
    python scripts/gpu_bench_qwen.py --tiny --out tiny_bench.json  # CPU smoke test with the tiny model's dimensions

What runs
---------
The model is `Qwen3VLForConditionalGeneration` built from a config with the published dimensions of
Qwen/Qwen3-VL-4B-Instruct, randomly initialised in bfloat16 on the GPU (nothing is downloaded). Source of the
dimensions: the model's config.json on the Hugging Face Hub,
https://huggingface.co/Qwen/Qwen3-VL-4B-Instruct/blob/main/config.json
(text: hidden 2560, intermediate 9728, 36 layers, 32 heads, 8 KV heads, head_dim 128, vocab 151936, rope theta 5e6,
interleaved M-RoPE sections [24, 20, 20], tied embeddings; vision: 24 blocks, hidden 1024, intermediate 4096,
16 heads, patch 16, merge 2, temporal patch 2, out 2560, DeepStack layers [5, 11, 17], 2304 position embeddings).

It is measured through the project's own code path: `portraitcraft.runners.qwen.QwenBackend.predict`, for both
protocols, at batch sizes 1, 4 and 16 (``--batch-sizes``). Generate is forced to produce exactly ``--new-tokens``
tokens (random weights never stop by themselves; 256 is about the length of the reference JSON answer).

The processor is the tiny model's pipeline (`portraitcraft.runners.tiny`: Qwen's chat format, special tokens and
pre-tokenizer, a byte-level BPE of 1024 entries trained on the prompts) with the real Qwen3-VL image processing
(patch 16, merge 2, mean/std 0.5) and the runner's pixel budget. The model's vocabulary keeps its real 151,936
rows (embedding and LM head cost the real FLOPs); the tokenizer only uses the first ids. Consequences, printed
with the results: the visual token count is exact for the image size; the text prompt's token count is close to
but not exactly the real tokenizer's (this BPE is trained on the prompts, so it is slightly shorter).

Images are synthetic (``--image-size``, default 1365x2048, a portrait photo capped at 2048 as the runner does).
Reported per protocol and batch size: images per second (after one warm-up batch), seconds per batch, prompt and
generated tokens, and peak GPU memory (``torch.cuda.max_memory_allocated``, reset before each setting). An
out-of-memory setting is reported as such and the next one runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

QWEN3_VL_4B = {
    "text_config": {
        "vocab_size": 151936, "hidden_size": 2560, "intermediate_size": 9728, "num_hidden_layers": 36,
        "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "hidden_act": "silu",
        "max_position_embeddings": 262144, "rms_norm_eps": 1e-6, "attention_bias": False,
        "rope_parameters": {"rope_type": "default", "rope_theta": 5000000.0, "mrope_section": [24, 20, 20],
                            "mrope_interleaved": True},
    },
    "vision_config": {
        "depth": 24, "hidden_size": 1024, "intermediate_size": 4096, "num_heads": 16, "in_channels": 3,
        "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2, "out_hidden_size": 2560,
        "num_position_embeddings": 2304, "deepstack_visual_indexes": [5, 11, 17], "hidden_act": "gelu_pytorch_tanh",
    },
    "tie_word_embeddings": True,
}
SOURCE = "https://huggingface.co/Qwen/Qwen3-VL-4B-Instruct/blob/main/config.json"


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("gpu_bench.json"))
    parser.add_argument("--tiny", action="store_true", help="tiny model dimensions on CPU (smoke test)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=None, help="default 1 4 16 (--tiny: 1 2)")
    parser.add_argument("--batches", type=int, default=3, help="timed batches per setting (after one warm-up)")
    parser.add_argument("--image-size", default="1365x2048", help="WIDTHxHEIGHT of the synthetic images")
    parser.add_argument("--max-pixels", type=int, default=2048 * 2048, help="processor pixel budget per image")
    parser.add_argument("--new-tokens", type=int, default=256, help="generate: tokens produced per image")
    parser.add_argument("--protocols", nargs="+", default=["score", "generate"], choices=["score", "generate"])
    parser.add_argument("--attn-implementation", default=None, help="sdpa (default), eager, flash_attention_2")
    args = parser.parse_args(argv)

    import torch

    from portraitcraft.runners.base import Item, package_versions
    from portraitcraft.runners.qwen import QwenBackend, QwenSettings

    cuda = torch.cuda.is_available() and not args.tiny
    if not cuda and not args.tiny:
        print("no CUDA device: run with --tiny for a CPU smoke test", file=sys.stderr)
        return 2
    device = torch.device("cuda" if cuda else "cpu")
    dtype = torch.bfloat16 if cuda else torch.float32
    if args.tiny:
        args.image_size = args.image_size if args.image_size != "1365x2048" else "96x128"
        args.new_tokens = min(args.new_tokens, 8)
        args.batches = min(args.batches, 1)
    args.batch_sizes = args.batch_sizes or ([1, 2] if args.tiny else [1, 4, 16])
    width, height = (int(v) for v in args.image_size.lower().split("x"))

    started = time.perf_counter()
    processor = build_processor(args.max_pixels)
    model = build_model(processor, args.tiny, device, dtype)
    if args.attn_implementation:
        model.set_attn_implementation(args.attn_implementation)
    build_seconds = time.perf_counter() - started
    parameters = sum(p.numel() for p in model.parameters())
    print(f"model: {parameters / 1e9:.2f} B parameters, {dtype}, {device}, built in {build_seconds:.1f} s", flush=True)

    identity = {"model": "random-init " + ("tiny" if args.tiny else "Qwen3-VL-4B-Instruct dimensions"),
                "model_source": "config", "model_revision": SOURCE}
    question = "Regarding the Sharpness in this image, which of the following best describes the visual evidence?"
    options = {x: f"Option {x}: the subject is rendered with a particular kind of visual evidence." for x in "ABCD"}
    rows = []
    for protocol in args.protocols:
        settings = QwenSettings(protocol=protocol, device=str(device), dtype=str(dtype).removeprefix("torch."),
                                max_pixels=args.max_pixels, max_new_tokens=args.new_tokens)
        backend = QwenBackend(settings, loaded=(model, processor, identity))
        if protocol == "generate":
            backend.generation.min_new_tokens = args.new_tokens  # a fixed workload: random weights never stop
        for batch_size in args.batch_sizes:
            items = [Item(f"bench_{k:03d}.jpg", question, options) for k in range(batch_size)]
            images = synthetic_images(batch_size, (width, height))
            row = {"protocol": protocol, "batch_size": batch_size}
            try:
                if cuda:
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
                outcomes = backend.predict(items, images)  # warm-up
                times = []
                for _ in range(args.batches):
                    if cuda:
                        torch.cuda.synchronize()
                    start = time.perf_counter()
                    outcomes = backend.predict(items, images)
                    if cuda:
                        torch.cuda.synchronize()
                    times.append(time.perf_counter() - start)
                seconds = sorted(times)[len(times) // 2]
                row.update(status="ok", seconds_per_batch=seconds, images_per_second=batch_size / seconds,
                           prompt_tokens=outcomes[0].tokens["prompt"], generated_tokens=outcomes[0].tokens["generated"],
                           peak_memory_gib=torch.cuda.max_memory_allocated() / 2**30 if cuda else None)
            except torch.OutOfMemoryError as exc:
                row.update(status="out_of_memory", error=str(exc).splitlines()[0],
                           peak_memory_gib=torch.cuda.max_memory_allocated() / 2**30 if cuda else None)
            rows.append(row)
            print(_format_row(row), flush=True)
            if cuda:
                torch.cuda.empty_cache()

    report = {
        "what": "Qwen3-VL runner throughput, random weights at Qwen3-VL-4B-Instruct dimensions" if not args.tiny
                else "smoke test: tiny random Qwen3-VL on CPU",
        "config_source": SOURCE, "parameters": parameters, "dtype": str(dtype), "device": str(device),
        "gpu": torch.cuda.get_device_name(0) if cuda else None, "image_size": [width, height],
        "max_pixels": args.max_pixels, "new_tokens": args.new_tokens, "timed_batches": args.batches,
        "attn_implementation": model.config._attn_implementation, "build_seconds": build_seconds,
        "platform": platform.platform(), "packages": package_versions(), "results": rows,
        "note": "prompt tokens come from a 1024-entry BPE trained on the prompts, not Qwen's tokenizer; "
                "visual tokens are exact for the image size",
    }
    write_report(report, _table(rows), args.out)
    return 0


def write_report(report: dict, table: str, out: Path) -> None:
    """Print the markdown table, then write the whole report, dated, as JSON to ``out`` (shared by the GPU scripts)."""
    from datetime import datetime, timezone

    report = {**report, "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    print("\n" + table)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {out}")


def _format_row(row: dict) -> str:
    if row["status"] != "ok":
        return f"{row['protocol']:>8} batch {row['batch_size']:>3}: {row['status']}"
    memory = f", peak {row['peak_memory_gib']:.1f} GiB" if row.get("peak_memory_gib") is not None else ""
    return (f"{row['protocol']:>8} batch {row['batch_size']:>3}: {row['images_per_second']:.3f} images/s "
            f"({row['seconds_per_batch']:.2f} s/batch, {row['prompt_tokens']} prompt tokens, "
            f"{row['generated_tokens']} generated){memory}")


def _table(rows: list[dict]) -> str:
    lines = ["| protocol | batch | images/s | s/batch | prompt tokens | generated | peak GiB |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['protocol']} | {r['batch_size']} | {r['status']} | | | | "
                         f"{r['peak_memory_gib'] or float('nan'):.1f} |")
            continue
        peak = f"{r['peak_memory_gib']:.1f}" if r.get("peak_memory_gib") is not None else "-"
        lines.append(f"| {r['protocol']} | {r['batch_size']} | {r['images_per_second']:.3f} | "
                     f"{r['seconds_per_batch']:.2f} | {r['prompt_tokens']} | {r['generated_tokens']} | {peak} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
