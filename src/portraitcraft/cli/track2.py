"""The `track2` group: score generated portraits against their descriptions, generate them, fine-tune the generator."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from portraitcraft.cli.common import (
    DESCRIPTIONS_OPTION,
    DEVICE_OPTION,
    DTYPE_OPTION,
    PROGRESS_OPTION,
    is_stdout,
    show_report,
)
from portraitcraft.cli.contract import Program, fail

track2_app = Program(help="Track 2 composition alignment: an open, interpretable scorer of generated portraits "
                              "against their descriptions (not the benchmark's official scorer).",
                         no_args_is_help=True)


@track2_app.command("evaluate")
def track2_evaluate(
    descriptions: Path = DESCRIPTIONS_OPTION,
    images: Path = typer.Option(..., "--images", "-i",
        help="Folder of the images, matched by image_path (directly inside, in images_NN folders, or anywhere below)."),
    extractor: Literal["cpu", "vlm"] = typer.Option("cpu", "--extractor",
        help=("cpu: OpenCV measurements and readable rules; vlm: a Qwen3-VL asked one multiple-choice question per "
              "property (needs --model).")),
    model: str | None = typer.Option(None, "--model", help="vlm: a local Qwen3-VL folder or a Hugging Face model id."),
    json_out: Path | None = typer.Option(None, "--json",
        help=("Also write the whole report (every image, property, target, reading, agreement) as JSON here ('-': to "
              "standard output, the table to standard error).")),
    max_side: int = typer.Option(1024, "--max-side", min=64, help="Images are decoded with at most this longer side."),
    rules_only: bool = typer.Option(False, "--rules-only",
        help="Read descriptions with the rules only (skip the sentence-embedding fallback)."),
) -> None:
    """Score images against their Track 2 descriptions: per-property agreement, a weighted overall score per image,
    and coverage. Missing or unreadable images are listed, not fatal.

    Not the official Track 2 scorer. Exit codes: 0 scored; 2 the descriptions cannot be read, the images folder does not exist, or the model cannot be loaded.
    """  # noqa: E501 (the command's help: typer keeps a docstring's line breaks)
    from portraitcraft.track2.score import evaluate_folder

    if extractor not in ("cpu", "vlm"):
        fail(f"--extractor {extractor!r}: expected cpu or vlm")
    if not images.is_dir():
        fail(f"{images}: not a folder")
    report = evaluate_folder(descriptions, images, extractor=extractor, model=model, max_side=max_side,
                             embedder=None if rules_only else "auto")
    inside = json_out is not None and not is_stdout(json_out) and json_out.exists() and \
        json_out.resolve().is_relative_to(images.resolve())
    show_report(report, json_out, {"descriptions": descriptions, **({"images folder's": json_out} if inside else {})})


@track2_app.command("generate")
def track2_generate(
    descriptions: Path = DESCRIPTIONS_OPTION,
    out: Path = typer.Option(..., "--out",
        help=("Folder for the images (named by image_path, ready for `track2 evaluate --images`) and generation.jsonl; "
              "a rerun resumes.")),
    model: str = typer.Option("Qwen/Qwen-Image", "--model",
        help=("A diffusers text-to-image pipeline (hub id or local folder), or 'lab' for the composition-lab "
              "generator.")),
    lora: Path | None = typer.Option(None, "--lora",
        help=("A folder of LoRA weights (pytorch_lora_weights.safetensors, as `track2 finetune` writes) loaded on top "
              "of the pipeline.")),
    trigger: str | None = typer.Option(None, "--trigger",
        help="Text put before the prompt (default: 'AES_COMP, ' with --lora, nothing without; --trigger '' for none)."),
    width: int = typer.Option(1024, "--width", min=8, help="Image width, pixels (the reference: 1024)."),
    height: int = typer.Option(1024, "--height", min=8, help="Image height, pixels (the reference: 1024)."),
    steps: int = typer.Option(20, "--steps", min=1, help="Inference steps (the reference: 20)."),
    true_cfg_scale: float = typer.Option(5.0, "--true-cfg-scale",
        help="True classifier-free guidance scale with the negative prompt (the reference: 5)."),
    guidance_scale: float | None = typer.Option(None, "--guidance-scale",
        help="Guidance scale for pipelines that take one (default: the pipeline's own)."),
    negative_prompt: str = typer.Option(" ", "--negative-prompt",
        help="Negative prompt (the reference: a single space)."),
    seed: int = typer.Option(346346, "--seed", help="Seed of every image's noise (the reference: 346346)."),
    max_sequence_length: int = typer.Option(1024, "--max-sequence-length", min=1,
        help="Prompt tokens the text encoder reads at most (the reference: 1024)."),
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = DTYPE_OPTION,
    device: str = DEVICE_OPTION,
    batch_size: int = typer.Option(1, "--batch-size", min=1,
        help="Prompts per pipeline call (does not change the images)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N records."),
    progress: bool = PROGRESS_OPTION,
) -> None:
    """Generate one portrait per Track 2 description (Qwen-Image and the reference's settings by default; JPEG quality 95, the reference's 75) into OUT.

    Every image gets a record in OUT/generation.jsonl (prompt hash, settings, model and LoRA identity, seconds, error); a rerun skips images already made with the same settings and refuses other settings. Exit codes: 0 every image written; 1 some failed (recorded, listed); 2 the run cannot start (descriptions, model, LoRA, output folder, settings).
    """  # noqa: E501 (the command's help: typer keeps a docstring's line breaks)
    from portraitcraft.track2.generate import GenerationSettings, run_generation

    settings = GenerationSettings(
        model=model, lora=None if lora is None else str(lora), trigger=trigger, width=width, height=height,
        steps=steps, true_cfg_scale=true_cfg_scale, guidance_scale=guidance_scale,
        negative_prompt=negative_prompt, seed=seed, max_sequence_length=max_sequence_length, dtype=dtype,
        device=device, batch_size=batch_size)
    summary = run_generation(descriptions, out, settings, limit=limit, progress=progress)
    for line in summary.lines():
        typer.echo(line)
    if summary.failed:
        typer.echo(f"FAILED: {len(summary.failed)} image(s) (recorded; a rerun retries them)", err=True)
        raise typer.Exit(1)


def _by_recipe(name: str) -> str:
    """A LoRA setting's value in each named recipe, for the help: "ours: 4; reference: 16"."""
    from portraitcraft.track2.finetune import RECIPES, LoraSettings

    return "; ".join(f"{r}: {getattr(LoraSettings.of_recipe(r), name)}" for r in RECIPES)


@track2_app.command("finetune")
def track2_finetune(
    data: str = typer.Option(..., "--data",
        help=("A PortraitCraft root folder, 'lab', or a Hugging Face dataset id; its Track 2 records whose image is "
              "present are trained on.")),
    out: Path = typer.Option(..., "--out",
        help=("Run folder: run.json, log.jsonl, checkpoint-NNNNNN/ and the latest LoRA weights (load them with `track2 "
              "generate --lora OUT`). An existing run of the same configuration is resumed.")),
    model: str = typer.Option("Qwen/Qwen-Image", "--model",
        help="The Qwen-Image pipeline to start from: hub id or local folder."),
    split: str = typer.Option("train", "--split", help="Track 2 split to train on."),
    recipe: Literal["ours", "reference"] = typer.Option("ours", "--recipe",
        help=("ours (4 images per step on one GPU, fp32 adapters, each image once per pass, one resize) or reference "
              "(the public reference code's: 16 images per step as its 4 processes x 4 accumulation, adapters in the "
              "model's dtype, draws with replacement, its two resizes). Options left unset take the recipe's value. "
              f"Images per optimizer step (batch x accumulation): {_by_recipe('effective_batch')}. Recorded; a run "
              "resumes only with its own recipe.")),
    rank: int = typer.Option(64, "--rank", min=1, help="LoRA rank (the reference: 64)."),
    alpha: int | None = typer.Option(None, "--alpha", min=1, help="LoRA alpha (default: the rank, a scale of 1)."),
    lr: float = typer.Option(1e-4, "--lr", min=0.0, help="Peak learning rate (the reference: 1e-4)."),
    warmup_steps: int = typer.Option(500, "--warmup-steps", min=0,
        help="Linear warm-up steps before the cosine decay (the reference: 500)."),
    max_train_steps: int = typer.Option(12000, "--max-train-steps", min=1,
        help="Length of the run (and of the cosine schedule) in optimizer steps (the reference: 12,000)."),
    grad_accum: int | None = typer.Option(None, "--grad-accum", min=1,
        help=("Micro-batches per optimizer step on this one process (the reference code: 4 on each of 4 processes; "
              f"{_by_recipe('grad_accum')}).")),
    batch_size: int = typer.Option(1, "--batch-size", min=1,
        help="Images per micro-batch, of one size (the reference: 1)."),
    weight_decay: float = typer.Option(0.01, "--weight-decay", min=0.0,
        help="AdamW weight decay (the reference: 0.01)."),
    adam_beta1: float = typer.Option(0.9, "--adam-beta1", min=0.0, max=1.0, help="AdamW beta1."),
    adam_beta2: float = typer.Option(0.999, "--adam-beta2", min=0.0, max=1.0, help="AdamW beta2."),
    adam_epsilon: float = typer.Option(1e-8, "--adam-epsilon", min=0.0, help="AdamW epsilon."),
    max_grad_norm: float = typer.Option(1.0, "--max-grad-norm", min=0.0,
        help="Clip the gradient norm to this (the reference: 1.0)."),
    caption_dropout: float = typer.Option(0.15, "--caption-dropout", min=0.0, max=1.0,
        help="Share of prompts replaced by ' ' (the reference: 0.15)."),
    resolution: int = typer.Option(1024, "--resolution", min=32,
        help="Long side of the training images, a multiple of 32 (the reference: 1024)."),
    trigger: str = typer.Option("AES_COMP, ", "--trigger",
        help="Text put before every training prompt (the reference: 'AES_COMP, ')."),
    max_sequence_length: int = typer.Option(1024, "--max-sequence-length", min=1,
        help="Prompt tokens the text encoder reads at most."),
    precision: Literal["auto", "bf16", "fp32"] = typer.Option("auto", "--precision",
        help="auto (bf16 on cuda, fp32 on cpu), bf16, fp32."),
    seed: int = typer.Option(0, "--seed",
        help=("Seed of the adapter's initial weights, the data order, the caption dropout, noise and timesteps (the "
              "reference sets none).")),
    lora_dtype: str | None = typer.Option(None, "--lora-dtype",
        help=f"The adapters' weights and AdamW state: fp32 or model (the model's dtype) ({_by_recipe('lora_dtype')})."),
    data_order: str | None = typer.Option(None, "--data-order",
        help=f"epochs (each image once per pass) or with_replacement ({_by_recipe('data_order')})."),
    resize: str | None = typer.Option(None, "--resize",
        help=("single (one LANCZOS resize to the reference's final size) or reference (its two resizes) "
              f"({_by_recipe('resize')}).")),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Train on the first N images only (smoke runs)."),
    save_every: int = typer.Option(500, "--save-every", min=0,
        help="Optimizer steps between checkpoints (also at the end and at --stop-after; the reference: 500)."),
    keep_checkpoints: int = typer.Option(10, "--keep-checkpoints", min=0,
        help="Checkpoints kept (the oldest are removed; 0: all)."),
    stop_after: int | None = typer.Option(None, "--stop-after", min=1,
        help="Stop and save after this optimizer step; rerun to continue."),
    device: str = DEVICE_OPTION,
    gradient_checkpointing: bool | None = typer.Option(None, "--gradient-checkpointing/--no-gradient-checkpointing",
        help="Recompute activations in the backward pass (default: on for cuda)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar (steps/s, loss)."),
) -> None:
    """LoRA fine-tuning of a Qwen-Image pipeline's transformer on the Track 2 training split (flow-matching loss).

    --recipe ours (the default) or reference (the public reference code's; `portraitcraft.track2.recipes` and the book's Figure 3 page list every setting with its file and line). Rerun the same command to resume from the last checkpoint; another configuration on the same OUT is refused. Exit codes: 0 finished (or stopped at --stop-after); 2 the run cannot start (data, model, output folder, settings).
    """  # noqa: E501 (the command's help: typer keeps a docstring's line breaks)
    from portraitcraft.track2.finetune import LoraSettings, run_lora_finetune

    by_recipe = dict(grad_accum=grad_accum, lora_dtype=lora_dtype, data_order=data_order, resize=resize)
    settings = LoraSettings.of_recipe(
        recipe, data=data, out=str(out), model=model, split=split, rank=rank, alpha=alpha, lr=lr,
        warmup_steps=warmup_steps, max_train_steps=max_train_steps, adam_beta1=adam_beta1, adam_beta2=adam_beta2,
        adam_epsilon=adam_epsilon, batch_size=batch_size, weight_decay=weight_decay, max_grad_norm=max_grad_norm,
        caption_dropout=caption_dropout, resolution=resolution, trigger=trigger,
        max_sequence_length=max_sequence_length, precision=precision, seed=seed, limit=limit, save_every=save_every,
        keep_checkpoints=keep_checkpoints, stop_after=stop_after, device=device,
        gradient_checkpointing=gradient_checkpointing, **{k: v for k, v in by_recipe.items() if v is not None})
    summary = run_lora_finetune(settings, progress=progress)
    for line in summary.lines():
        typer.echo(line)
