"""Track 2 generation cost at Qwen-Image's size, without downloading weights: seconds per image and peak memory of
`track2 generate`'s call at the reference's settings, and the time of one LoRA training step of `track2 finetune`.

    python scripts/gpu_bench_track2.py --out book/measurements/gpu_bench_track2-h200-DATE.json   # a CUDA machine
    python scripts/gpu_bench_track2.py --tiny --out /tmp/tiny_bench_track2.json                  # CPU dry run

What runs
---------
diffusers' `QwenImagePipeline` built from the published configurations of Qwen/Qwen-Image, randomly initialised in
bfloat16 on the GPU (nothing is downloaded). Sources of the dimensions: the model's configuration files on the
Hugging Face Hub,
    https://huggingface.co/Qwen/Qwen-Image/blob/main/transformer/config.json  (60 dual-stream blocks, 24 heads of
        128, text width 3584, 64 packed latent channels, RoPE axes 16/56/56: about 20.4 B parameters)
    https://huggingface.co/Qwen/Qwen-Image/blob/main/vae/config.json          (base width 96, multipliers 1/2/4/4,
        2 residual blocks, z 16, temporal downsampling False/True/True)
    https://huggingface.co/Qwen/Qwen-Image/blob/main/text_encoder/config.json (Qwen2.5-VL-7B: 28 layers of 3584,
        28 heads, 4 KV heads, intermediate 18944, vocabulary 152064, M-RoPE sections 16/24/24; a 32-block vision
        tower of 1280 that text-to-image never runs)
    https://huggingface.co/Qwen/Qwen-Image/blob/main/scheduler/scheduler_config.json (as in
        `portraitcraft.track2.tiny_pipeline.QWEN_IMAGE_SCHEDULER`)
The tokenizer is the tiny pipeline's (a byte-level BPE trained on the prompt template, vocabulary ~400; the text
encoder keeps its real 152,064 embedding rows). It splits text far finer than Qwen's: a lab Track 2 prompt is 1,519
of its tokens (cut to the 1,024 that max_sequence_length lets through), where Qwen's tokenizer, at about 1.3-1.5
tokens per English word, gives some 600-700 for the ~450 words of a real prompt (the real sample's median). So the
prompt is cut to ``--prompt-tokens`` (default 650) tiny tokens, and the number of prompt tokens the transformer
actually reads (the pipeline's prompt mask, after its template) is measured and written as ``prompt_tokens``.

Measured
    generation  through `portraitcraft.track2.generate.DiffusersGenerator`'s call: 1024 x 1024, 20 steps, true CFG 5
                with the negative prompt " ", max_sequence_length 1024, a lab description as the prompt; one warm-up
                image, then the median of ``--images`` timed ones; peak memory (``torch.cuda.max_memory_allocated``).
    training    `portraitcraft.track2.finetune.LoraTrainer.step` of our recipe (rank 64 on to_q, to_k,
                to_v, to_out.0; batch 1 x 4 accumulation at 1024 pixels; bf16 with gradient checkpointing; AdamW):
                one warm-up step, then the median of ``--steps`` timed optimizer steps (4 images each: our recipe's
                step), and the peak memory. The 12,000 steps are then estimated from it for each recipe:
                ``hours_ours`` (4 images per step, one GPU); ``gpu_hours_reference`` (16 images per step: 4 times the
                work, on one GPU or summed over GPUs); ``hours_reference_on_4_gpus`` (the reference's 4 processes of 4
                images each: about our step's time per step, all-reduce not included).
An out-of-memory part is reported as such. ``--tiny``: the tiny pipeline's dimensions on the CPU, 64 x 64 pixels,
2 steps: checks the script, measures nothing of interest.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_bench_qwen import write_report  # noqa: E402  (one report writer for the GPU scripts)

SOURCE = "https://huggingface.co/Qwen/Qwen-Image (transformer/, vae/, text_encoder/, scheduler/ config.json)"
TRANSFORMER = {"patch_size": 2, "in_channels": 64, "out_channels": 16, "num_layers": 60, "attention_head_dim": 128,
               "num_attention_heads": 24, "joint_attention_dim": 3584, "guidance_embeds": False,
               "axes_dims_rope": (16, 56, 56)}
VAE = {"base_dim": 96, "z_dim": 16, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_scales": [],
       "temperal_downsample": [False, True, True]}
TEXT_ENCODER = {
    "text_config": {"vocab_size": 152064, "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
                    "num_attention_heads": 28, "num_key_value_heads": 4, "max_position_embeddings": 128000,
                    "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
                    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}},
    "vision_config": {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
                      "out_hidden_size": 3584, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
                      "window_size": 112, "fullatt_block_indexes": [7, 15, 23, 31]},
}


def build_pipeline(tiny: bool, device, dtype):
    """A QwenImagePipeline with random weights: Qwen-Image's dimensions, or the tiny pipeline's."""
    import torch
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        QwenImagePipeline,
        QwenImageTransformer2DModel,
    )
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from portraitcraft.track2.tiny_pipeline import QWEN_IMAGE_SCHEDULER, build_tokenizer, tiny_components

    if tiny:
        components = tiny_components()
    else:
        tokenizer = build_tokenizer()
        special = {"bos_token_id": tokenizer.convert_tokens_to_ids("<|endoftext|>"),
                   "eos_token_id": tokenizer.convert_tokens_to_ids("<|im_end|>"),
                   "pad_token_id": tokenizer.convert_tokens_to_ids("<|endoftext|>")}
        config = Qwen2_5_VLConfig(**TEXT_ENCODER, image_token_id=tokenizer.convert_tokens_to_ids("<|image_pad|>"),
                                  video_token_id=tokenizer.convert_tokens_to_ids("<|video_pad|>"),
                                  vision_start_token_id=tokenizer.convert_tokens_to_ids("<|vision_start|>"), **special)
        config.text_config.update(special)
        previous = torch.get_default_dtype()
        torch.set_default_dtype(dtype)
        try:
            with torch.device(device):  # initialised where they run: 28 B parameters never touch the CPU
                components = {
                    "transformer": QwenImageTransformer2DModel(**TRANSFORMER),
                    "vae": AutoencoderKLQwenImage(**VAE),
                    "text_encoder": Qwen2_5_VLForConditionalGeneration(config).eval(),
                    "tokenizer": tokenizer, "scheduler": FlowMatchEulerDiscreteScheduler(**QWEN_IMAGE_SCHEDULER)}
        finally:
            torch.set_default_dtype(previous)
    pipe = QwenImagePipeline(**components).to(device)  # built in dtype already
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _median_seconds(run, repeats: int, cuda: bool) -> float:
    import torch

    run()  # warm-up
    times = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _measure(name: str, run, repeats: int, cuda: bool) -> dict:
    import torch

    row: dict = {"part": name}
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    try:
        row.update(status="ok", seconds=_median_seconds(run, repeats, cuda))
    except torch.OutOfMemoryError as exc:
        row.update(status="out_of_memory", error=str(exc).splitlines()[0])
    row["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    print(f"{name}: {row}", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("gpu_bench_track2.json"))
    parser.add_argument("--tiny", action="store_true", help="tiny pipeline dimensions on the CPU (dry run)")
    parser.add_argument("--images", type=int, default=3, help="timed images (after one warm-up)")
    parser.add_argument("--steps", type=int, default=3, help="timed LoRA optimizer steps (after one warm-up)")
    parser.add_argument("--parts", nargs="+", default=["generate", "train"], choices=["generate", "train"])
    parser.add_argument("--prompt-tokens", type=int, default=650,
                        help="cut the prompt to this many tiny-tokenizer tokens (Qwen's tokenizer gives ~600-700)")
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    from PIL import Image

    from portraitcraft.lab import make_record
    from portraitcraft.provenance import package_versions
    from portraitcraft.track2.finetune import LoraSettings, LoraTrainer, training_image
    from portraitcraft.track2.generate import TRIGGER, GenerationSettings, generation_prompt

    cuda = torch.cuda.is_available() and not args.tiny
    if not cuda and not args.tiny:
        print("no CUDA device: run with --tiny for a CPU dry run", file=sys.stderr)
        return 2
    device = torch.device("cuda" if cuda else "cpu")
    dtype = torch.bfloat16 if cuda else torch.float32
    side, steps = (64, 2) if args.tiny else (1024, 20)
    if args.tiny:
        args.images, args.steps = min(args.images, 1), min(args.steps, 1)

    started = time.perf_counter()
    pipe = build_pipeline(args.tiny, device, dtype)
    build_seconds = time.perf_counter() - started
    counts = {name: sum(p.numel() for p in getattr(pipe, name).parameters())
              for name in ("transformer", "vae", "text_encoder")}
    print(f"pipeline: {', '.join(f'{k} {v / 1e9:.2f} B' for k, v in counts.items())}; {dtype}, {device}, built in "
          f"{build_seconds:.1f} s", flush=True)

    record = make_record(0, "track2", "test", 0, "bench.jpg")["record"]
    prompt = generation_prompt(record["content_description"], record["composition_analysis"], trigger=TRIGGER)
    full_tokens = pipe.tokenizer(prompt)["input_ids"]
    prompt = pipe.tokenizer.decode(full_tokens[:args.prompt_tokens])
    with torch.no_grad():  # what the transformer reads: the pipeline's own encoding, template dropped, mask summed
        embeds, mask = pipe.encode_prompt(prompt=[prompt], device=device, num_images_per_prompt=1,
                                          max_sequence_length=GenerationSettings().max_sequence_length)
    prompt_tokens = int(mask.sum()) if mask is not None else int(embeds.shape[1])  # no mask: every position read
    print(f"prompt: {len(full_tokens)} tiny tokens, cut to {args.prompt_tokens}; the transformer reads "
          f"{prompt_tokens}", flush=True)
    reference = GenerationSettings()
    rows = []
    if "generate" in args.parts:
        def generate() -> None:
            generator = torch.Generator(device=device).manual_seed(reference.seed)
            pipe(prompt=prompt, negative_prompt=reference.negative_prompt, width=side, height=side,
                 num_inference_steps=steps, true_cfg_scale=reference.true_cfg_scale,
                 max_sequence_length=reference.max_sequence_length, generator=generator)

        row = _measure("generate", generate, args.images, cuda)
        row.update(width=side, height=side, steps=steps, true_cfg_scale=reference.true_cfg_scale)
        rows.append(row)
    if "train" in args.parts:
        settings = LoraSettings(data="(synthetic)", out="(none)", model="(random weights)", resolution=side,
                                device=str(device), **({"rank": 4} if args.tiny else {}))
        trainer = LoraTrainer(settings, pipeline=pipe)
        picture = Image.fromarray(np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8))
        pixels = training_image(picture, side).unsqueeze(0)
        step_count = [0]

        def train() -> None:
            step_count[0] += 1
            trainer.step([(pixels, [prompt], 1000 * step_count[0] + m) for m in range(settings.grad_accum)])

        row = _measure("train", train, args.steps, cuda)
        row.update(rank=settings.rank, grad_accum=settings.grad_accum, batch_size=settings.batch_size,
                   resolution=side, precision=trainer.precision, gradient_checkpointing=trainer.checkpointing,
                   trainable_parameters=sum(p.numel() for _, p in trainer.trainable))
        if row["status"] == "ok":
            per_image = row["seconds"] / settings.effective_batch
            reference_batch = LoraSettings.of_recipe("reference").effective_batch
            row["hours_ours"] = row["seconds"] * settings.max_train_steps / 3600
            row["gpu_hours_reference"] = per_image * reference_batch * settings.max_train_steps / 3600
            row["hours_reference_on_4_gpus"] = row["gpu_hours_reference"] / 4
        rows.append(row)

    report = {
        "what": "Track 2 generation and LoRA training cost, random weights at Qwen-Image dimensions" if not args.tiny
                else "dry run: tiny random Qwen-Image on the CPU, not a GPU measurement",
        "config_source": SOURCE, "parameters": counts, "dtype": str(dtype), "device": str(device),
        "gpu": torch.cuda.get_device_name(0) if cuda else None, "prompt_tokens": prompt_tokens,
        "build_seconds": build_seconds, "platform": platform.platform(),
        "packages": package_versions(("portraitcraft", "torch", "diffusers", "transformers", "peft"), with_python=True),
        "results": rows,
        "prompt_tokens_uncut": len(full_tokens), "prompt_tokens_cut_to": args.prompt_tokens,
        "note": ("prompt_tokens: the tokens the transformer reads, from a small BPE trained on the prompt template cut "
                 "to about what Qwen's tokenizer gives a real prompt (an estimate: Qwen's tokenizer is not available "
                 "offline)"),
    }
    write_report(report, _table(rows), args.out)
    return 0


def _table(rows: list[dict]) -> str:
    lines = ["| part | settings | seconds | peak GiB |", "| --- | --- | ---: | ---: |"]
    for r in rows:
        what = (f"{r['width']}x{r['height']}, {r['steps']} steps, true CFG {r['true_cfg_scale']:g}"
                if r["part"] == "generate" else
                f"rank {r['rank']}, {r['batch_size']} x {r['grad_accum']} at {r['resolution']} px, {r['precision']}")
        seconds = f"{r['seconds']:.2f}" if r["status"] == "ok" else r["status"]
        peak = f"{r['peak_memory_gib']:.1f}" if r.get("peak_memory_gib") is not None else "-"
        lines.append(f"| {r['part']} | {what} | {seconds} | {peak} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
