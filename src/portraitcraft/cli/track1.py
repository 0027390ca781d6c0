"""Track 1 commands: score predictions, write the submission, run a model, merge shards, assess a folder of photos,
fine-tune and serve Qwen3-VL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import typer

from portraitcraft.cli.common import (
    API_KEY_OPTION,
    BASE_URL_OPTION,
    CONCURRENCY_OPTION,
    DEVICE_OPTION,
    DTYPE_OPTION,
    MODEL_DIR_OPTION,
    SPLIT_OPTION,
    finish_run,
    is_stdout,
    show_report,
)


def evaluate(
    predictions: Path = typer.Option(..., "--predictions", "-p",
        help="Predictions: submission format, reference raw output, or the project's JSON Lines (detected)."),
    ground_truth: Path = typer.Option(..., "--ground-truth", "-g",
        help=("Ground truth: the lab's track_1_test_ground_truth.json (or its folder), a train-style file, or a test "
              "file with labels filled in; with --split, the data root.")),
    split: str | None = typer.Option(None, "--split",
        help=("validation: score on the seeded held-out part of train (fraction 0.1, seed 0) of the data root given "
              "as --ground-truth, the images the book scores where the test labels are hidden; a file whose model "
              "was trained on them is refused.")),
    json_out: Path | None = typer.Option(None, "--json",
        help="Also write the whole report as JSON here ('-': to standard output, the table to standard error)."),
    compare: Path | None = typer.Option(None, "--compare",
        help="A second prediction file B: paired bootstrap of A - B on the same images."),
    bootstrap: int = typer.Option(1000, "--bootstrap", min=0,
        help="Bootstrap resamples of images for the intervals (0: none)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap resamples."),
    skip_invalid_scores: bool = typer.Option(False, "--skip-invalid-scores",
        help="Leave images without a valid score out of SRCC/PLCC instead of imputing the mean."),
) -> None:
    """Score Track 1 predictions: SRCC, PLCC, Level Acc, QA Acc, Overall, each with a 95% CI and its coverage.

    Exit codes: 0 scored (even when a metric is undefined: it is NaN and flagged); 2 a file cannot be read or is malformed (one line naming the file and record).
    """  # noqa: E501 (the command's help: typer keeps a docstring's line breaks)
    from portraitcraft.evaluation import dropped_view, evaluate_on_split
    from portraitcraft.evaluation import evaluate as run_evaluation

    if split is not None:
        report = evaluate_on_split(predictions, ground_truth, split, n_bootstrap=bootstrap, seed=seed,
                                   skip_invalid_scores=skip_invalid_scores, compare=compare)
    else:
        report = run_evaluation(predictions, ground_truth, n_bootstrap=bootstrap, seed=seed,
                                skip_invalid_scores=skip_invalid_scores, compare=compare)
    show_report(report, json_out, {"predictions": predictions, "ground truth": report.truth.path,
                                   "comparison": compare})
    view = dropped_view(report)
    if view is not None and view.dropped:  # the reference's view only where it differs from ours
        typer.echo(view.line(), err=True)


def submission(
    predictions: Path = typer.Argument(..., help="Predictions in any of the four formats (see `evaluate`)."),
    test_file: Path = typer.Option(..., "--test-file",
        help="The Track 1 test file (track_1_test.json): sets the images, their order, questions and options."),
    out: Path = typer.Option(..., "--out", help="Where to write the official submission JSON ('-': standard output)."),
) -> None:
    """Write the official Track 1 submission with every test image present.

    A missing or invalid prediction is written as NOT_RES (levels, answer) or null (total_score), never guessed. Exit codes: 0 written; 2 a file cannot be read or is malformed.
    """  # noqa: E501 (the command's help: typer keeps a docstring's line breaks)
    import dataclasses
    import tempfile

    from portraitcraft.predictions import read_predictions, write_submission

    to_stdout = is_stdout(out)
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / "submission.json" if to_stdout else out
        summary = write_submission(read_predictions(predictions), test_file, target)
        if to_stdout:
            typer.echo(target.read_text(encoding="utf-8"), nl=False)
            summary = dataclasses.replace(summary, out="standard output")  # not the scratch file, gone by now
    for line in summary.lines():
        typer.echo(line, err=True)


def predict(
    data: str = typer.Option(..., "--data", help="A PortraitCraft root folder, 'lab', or a Hugging Face dataset id."),
    out: Path = typer.Option(..., "--out",
        help=("JSON Lines predictions (portraitcraft.prediction/1); an existing file of the same configuration is "
              "resumed.")),
    split: str = SPLIT_OPTION,
    backend: Literal["transformers", "qwen", "openai", "features"] = typer.Option("transformers", "--backend",
        help=("Model backend: transformers (Qwen3-VL in this process; also called qwen), openai (a chat-completions "
              "server: vLLM, SGLang, LMDeploy, a hosted API) or features (the CPU feature baseline, see "
              "--model-dir).")),
    model: str = typer.Option("Qwen/Qwen3-VL-4B-Instruct", "--model",
        help="Hugging Face model id or local model folder; with --backend openai, the served model's name."),
    model_dir: Path | None = MODEL_DIR_OPTION,
    base_url: str = BASE_URL_OPTION,
    api_key: str | None = API_KEY_OPTION,
    concurrency: int = CONCURRENCY_OPTION,
    timeout: float = typer.Option(300.0, "--timeout", min=0.001,
        help=("openai: seconds without an answer before a request is retried (connection errors, timeouts, 429 and 5xx "
              "are retried with backoff).")),
    revision: str | None = typer.Option(None, "--revision", help="Hub branch, tag or commit (model ids only)."),
    protocol: Literal["generate", "score"] = typer.Option("generate", "--protocol",
        help=("generate: the reference JSON prompt, parsed; score: token probabilities of the candidates, no free "
              "text.")),
    limit: int | None = typer.Option(None, "--limit", min=0, help="Only the first N images of the split."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1,
        help=("Images per forward pass, left padded (default 1); openai: images per round of concurrent requests "
              "(default: --concurrency); features: images per call of the saved models (default 32).")),
    device: str = DEVICE_OPTION,
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = DTYPE_OPTION,
    max_pixels: int = typer.Option(2048 * 2048, "--max-pixels", min=1,
        help="The processor's pixel budget per image (recorded)."),
    min_pixels: int | None = typer.Option(None, "--min-pixels", min=1,
        help="The processor's minimum pixels per image (default: the processor's own)."),
    sampling: Literal["greedy", "reference"] = typer.Option("greedy", "--sampling",
        help="generate: greedy, or reference (temperature 0.2, top-p 0.9; --inference reference: all of it)."),
    inference: Literal["ours", "reference"] = typer.Option("ours", "--inference",
        help=("reference: predict as the reference's evaluation script does: --sampling reference, float16 (unless "
              "--dtype says otherwise), images over 2048 px resized once BILINEAR (--image-resize reference) and, for "
              "a `finetune` checkpoint, the processor of the model it started from (--processor); 512 new tokens "
              "and the processor's own minimum pixels are already the defaults. ours: the options as given.")),
    processor: str | None = typer.Option(None, "--processor",
        help="Load the processor from this hub id or folder (default: the model's own)."),
    image_resize: Literal["thumbnail", "reference"] | None = typer.Option(None, "--image-resize",
        help=("thumbnail (JPEG draft decoding, then LANCZOS to --max-side 2048; the default) or reference (decoded "
              "whole, one BILINEAR resize, as the reference's evaluation script).")),
    max_new_tokens: int = typer.Option(512, "--max-new-tokens", min=1, help="generate: token limit of an answer."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampling (per batch, with the image names)."),
    attn_implementation: str | None = typer.Option(None, "--attn-implementation",
        help="sdpa, eager, flash_attention_2 (default: transformers' choice)."),
    score_impl: Literal["block", "reference"] = typer.Option("block", "--score-impl",
        help=("score: block (one prefix per image, all slot heads after it under a block mask) or reference (the "
              "prefix's cache copied per slot; same records, slower).")),
    decode_impl: Literal["auto", "compiled", "static", "dynamic"] = typer.Option("auto", "--decode-impl",
        help=("generate: compiled (static KV cache, torch.compile'd decoding), static (no compiling), dynamic "
              "(transformers' default); auto: compiled on cuda, dynamic on cpu.")),
    shard: str | None = typer.Option(None, "--shard",
        help=("I/N: predict only shard I of N (0 <= I < N; images assigned by a hash of their name), e.g. one per GPU, "
              "each with its own --out; then `portraitcraft merge`.")),
    image_device: str = typer.Option("auto", "--image-device",
        help=("Where images are resized and normalised: auto (score: the GPU when the model is on one and the "
              "processor is torchvision-backed; generate: the CPU), cpu, cuda, ... (recorded).")),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar (images/s, ETA)."),
) -> None:
    """Run a model on a Track 1 split and append one prediction record per image; rerun to resume.

    Then score with `portraitcraft evaluate -p OUT -g GROUND_TRUTH`. Exit codes: 0 every image predicted; 1 the run finished but some images failed (listed, recorded as failed); 2 the run cannot start (data, model or output file).
    """  # noqa: E501 (the command's help: typer keeps a docstring's line breaks)
    from portraitcraft.backends import backend_name, default_batch_size, make_backend
    from portraitcraft.outputs import prepare_jsonl_resume
    from portraitcraft.predictions import SCHEMA
    from portraitcraft.runners import run_predictions, split_items
    from portraitcraft.runners.shards import parse_shard, shard_items
    from portraitcraft.sources import open_dataset

    backend = backend_name(backend)
    if inference not in ("ours", "reference"):
        raise ValueError(f"--inference {inference!r}: expected ours or reference")
    if inference == "reference":
        from portraitcraft.finetune.checkpoints import base_model

        sampling, dtype = "reference", ("float16" if dtype == "auto" else dtype)
        image_resize = image_resize or "reference"
        processor = processor or base_model(model)
    dataset = open_dataset(data)
    items = split_items(dataset, split, limit)  # a wrong split or limit fails here, before any model is loaded
    if shard is not None:
        items = shard_items(items, *parse_shard(shard))
    # A folder, a link, a device or a file that cannot be resumed at --out fails here, before any model is loaded.
    prepare_jsonl_resume(out, None, schema=SCHEMA, what="predictions", repair=False)
    runner = make_backend(
        backend, model=model, protocol=protocol, sampling=sampling, max_new_tokens=max_new_tokens, seed=seed,
        base_url=base_url, api_key=api_key, concurrency=concurrency, timeout_s=timeout, revision=revision,
        device=device, dtype=dtype, attn_implementation=attn_implementation, max_pixels=max_pixels,
        min_pixels=min_pixels, score_impl=score_impl, decode_impl=decode_impl, image_device=image_device,
        model_dir=model_dir, processor=processor, image_resize=image_resize or "thumbnail", progress=progress)
    batch_size = batch_size or default_batch_size(backend, concurrency)
    summary = run_predictions(runner, dataset, split=split if shard is None else f"{split} shard {shard}",
                              out=out, batch_size=batch_size, progress=progress, items=items)
    finish_run(summary)


def merge(
    files: list[Path] = typer.Argument(..., help="The shard files written by `predict --shard I/N` (JSON Lines)."),
    out: Path = typer.Option(..., "--out", help="The merged JSON Lines file (must not exist yet)."),
    data: str | None = typer.Option(None, "--data",
        help=("The dataset the shards predicted: the merged file follows its split's order, and images no shard "
              "recorded are reported.")),
    split: str = typer.Option("test", "--split", help="With --data: the Track 1 split the shards predicted."),
    limit: int | None = typer.Option(None, "--limit", min=0, help="With --data: the --limit the shards ran with."),
) -> None:
    """Merge the prediction files of the shards of one run (`predict --shard I/N`) into one file.

    Refused: records of different configurations, an image recorded twice, a shard file with an unfinished last line (resume that shard first), images not in the split, an existing --out. Exit codes: 0 merged, every image of the split recorded (or no --data); 1 merged, but images are missing (listed; `predict` without --shard and with --out the merged file completes it); 2 refused.
    """  # noqa: E501 (the command's help: typer keeps a docstring's line breaks)
    from portraitcraft.runners import split_items
    from portraitcraft.runners.shards import merge_shard_files
    from portraitcraft.sources import open_dataset

    expected = None
    if data is not None:
        expected = [item.image_path for item in split_items(open_dataset(data), split, limit)]
    summary = merge_shard_files(files, out, expected)
    for line in summary.lines():
        typer.echo(line)
    if summary.missing:
        raise typer.Exit(1)


def assess(
    folder: Path = typer.Argument(...,
        help="A folder of photos (searched recursively): jpg, jpeg, png, webp, bmp, tif, tiff."),
    backend: Literal["features", "transformers", "qwen", "openai"] = typer.Option("features", "--backend",
        help=("features: the CPU feature baseline (a trained model, see --model-dir); transformers (also called qwen): "
              "Qwen3-VL in this process; openai: a chat-completions server (vLLM, SGLang, a hosted API).")),
    protocol: Literal["score", "generate"] = typer.Option("score", "--protocol",
        help=("qwen/openai: score (token probabilities of the levels) or generate (the reference prompt's text, "
              "parsed; reasons where the model writes them).")),
    out: str = typer.Option("-", "--out", "-o",
        help="Where the rows go: FILE.csv or FILE.jsonl, or '-' for standard output (JSON Lines)."),
    json_out: str | None = typer.Option(None, "--json",
        help="Shorthand for --out PATH --format jsonl ('-': standard output)."),
    fmt: Literal["csv", "jsonl"] | None = typer.Option(None, "--format",
        help="Row format (default: from --out's suffix)."),
    records: Path | None = typer.Option(None, "--records",
        help=("The run's prediction records, kept to resume (default: OUT.records.jsonl beside OUT; for standard "
              "output, the cache).")),
    model_dir: Path | None = MODEL_DIR_OPTION,
    model: str = typer.Option("Qwen/Qwen3-VL-4B-Instruct", "--model",
        help="qwen: Hugging Face model id or local folder; openai: the served model's name."),
    base_url: str = BASE_URL_OPTION,
    api_key: str | None = API_KEY_OPTION,
    concurrency: int = CONCURRENCY_OPTION,
    top_logprobs: int = typer.Option(20, "--top-logprobs", min=1,
        help=("openai, score: length of the top list read per slot (OpenAI and vLLM allow 20 by default; vLLM's "
              "--max-logprobs raises it).")),
    device: str = typer.Option("auto", "--device", help="qwen: auto (cuda when available), cpu, cuda, cuda:1, ..."),
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = typer.Option("auto", "--dtype",
        help="qwen: auto (bfloat16 on cuda, float32 on cpu), bfloat16, float16, float32."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1,
        help="Images per forward pass (default 1; openai: --concurrency; features: 32)."),
    limit: int | None = typer.Option(None, "--limit", min=0, help="Only the first N images (in path order)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar (on standard error)."),
    max_megapixels: float | None = typer.Option(None, "--max-megapixels", min=0.001,
        help=("Refuse images above this many megapixels (default: PIL's decompression-bomb limit, about 89); raise it "
              "for camera files you trust.")),
) -> None:
    """Score every photo in a folder: one row per image (overall score, the 13 levels, their probabilities, reasons).

    Probabilities come with the score protocol and the feature baseline; reasons where the model writes them.

    With the feature baseline and no --model-dir, the lab-trained model is used (from `make baseline` in the
    repository, else built once into the cache on first use: one to a few minutes). The terminal gets a summary:
    how many photos were scored, their score range, the attributes most often Poor, and what the model learned
    from. A nearly uniform image (a blank or flat frame) gets no score and says so.

    Resumable: the prediction records are kept (--records) and a rerun predicts what is missing and what failed.
    Rows are CSV or JSON Lines (see the portraitcraft.assess module for the columns). Exit codes: 0 every image
    scored; 1 some images failed or got no score (rows with status "failed" or no total_score, and the error); 2
    the run cannot start (folder, model, output).
    """
    from portraitcraft.assess import run_assessment
    from portraitcraft.images import allow_megapixels

    if max_megapixels is not None:
        allow_megapixels(max_megapixels)
    if json_out is not None:
        out, fmt = json_out, fmt or "jsonl"
    done = run_assessment(
        folder, out, backend=backend, fmt=fmt, records=records, limit=limit, batch_size=batch_size,
        progress=progress, model_dir=model_dir, model=model, protocol=protocol, device=device, dtype=dtype,
        base_url=base_url, api_key=api_key, concurrency=concurrency, top_logprobs=top_logprobs,
        notify=lambda text: typer.echo(text, err=True))
    if is_stdout(out):
        typer.echo(done.text, nl=False)
    for line in done.lines():
        typer.echo(line, err=True)
    if done.summary.failures or any(row["total_score"] is None for row in done.rows):
        raise typer.Exit(1)


def _by_recipe(name: str) -> str:
    """A setting's value in each named recipe, for the help: "ours: 2; reference: 0.5"."""
    from portraitcraft.finetune.settings import RECIPES, FinetuneSettings

    return "; ".join(f"{r}: {getattr(FinetuneSettings.of_recipe(r), name)}" for r in RECIPES)


def finetune(
    data: str = typer.Option(..., "--data",
        help="A PortraitCraft root folder, 'lab', or a Hugging Face dataset id; its Track 1 train split is used."),
    model: str = typer.Option("Qwen/Qwen3-VL-4B-Instruct", "--model",
        help="The Qwen3-VL to start from: Hugging Face model id or local model folder."),
    out: Path = typer.Option(..., "--out",
        help=("Output folder: the checkpoint (loadable by `predict --model OUT`), finetune.json, log.jsonl, "
              "training_state/. An existing run there is resumed.")),
    recipe: Literal["ours", "reference"] = typer.Option("ours", "--recipe",
        help=("ours (held-out validation split, fp32 master weights, DeepStack mergers trained, the inference prompt "
              "in training) or reference (the public reference code's: every record, 0.5 epochs, visual.merger alone, "
              "pure bf16, its own training prompt). Options left unset take the recipe's value. Images per "
              f"optimizer step (batch x accumulation): {_by_recipe('effective_batch')}. Recorded; a run resumes "
              "only with its own recipe.")),
    target: Literal["generate", "score"] = typer.Option("generate", "--target",
        help=("generate: the reference conversion's JSON (levels, reasons, total score) after the generate prompt; "
              "score: the words the score protocol reads.")),
    reasons: bool = typer.Option(True, "--reasons/--no-reasons",
        help="generate: write each criterion as {level, reason} (the reference) or its bare level (a shorter answer)."),
    lora: bool = typer.Option(False, "--lora",
        help=("LoRA adapters on the language model (peft) instead of full updates; the mergers are still trained in "
              "full. Saved merged.")),
    lora_rank: int = typer.Option(16, "--lora-rank", min=1, help="LoRA rank r."),
    lora_alpha: int = typer.Option(32, "--lora-alpha", min=1, help="LoRA alpha (scale alpha / r)."),
    lora_dropout: float = typer.Option(0.05, "--lora-dropout", min=0.0, max=1.0, help="LoRA dropout."),
    epochs: float | None = typer.Option(None, "--epochs", min=0.0001,
        help=f"Passes over the training images ({_by_recipe('epochs')})."),
    lr: float = typer.Option(1e-5, "--lr", min=0.0,
        help="Peak learning rate (both recipes and the reference script: 1e-5); warm-up, then cosine decay."),
    batch_size: int = typer.Option(4, "--batch-size", min=1,
        help="Images per forward pass, on each process (both recipes and the reference script: 4)."),
    grad_accum: int = typer.Option(4, "--grad-accum", min=1,
        help=("Micro-batches per optimizer step, over all processes (both recipes and the reference script: 4, so "
              "4 x 4 = 16 images per optimizer step). Under torchrun / accelerate launch with N processes each runs "
              "grad-accum / N of them; N must divide it.")),
    max_pixels: int = typer.Option(50176, "--max-pixels", min=1,
        help=("The processor's pixel budget per image (the reference training script: 50176 = 224x224). Predict with "
              "the same.")),
    max_side: int = typer.Option(2048, "--max-side", min=1,
        help="Images are decoded with at most this longer side, before the processor's pixel budget."),
    min_pixels: int = typer.Option(784, "--min-pixels", min=1,
        help="The processor's minimum pixels per image (the reference training script: 784)."),
    warmup_ratio: float = typer.Option(0.03, "--warmup-ratio", min=0.0, max=0.99,
        help="Share of the steps with a linear warm-up before the cosine decay (the reference script: 0.03)."),
    weight_decay: float = typer.Option(0.0, "--weight-decay", min=0.0,
        help="AdamW weight decay (the reference script: 0)."),
    max_grad_norm: float = typer.Option(1.0, "--max-grad-norm", min=0.0,
        help="Clip the gradient norm to this (0: no clipping; the reference script: 1)."),
    validation_fraction: float | None = typer.Option(None, "--validation-fraction", min=0.0, max=0.999,
        help=("Share of train held out, chosen by --seed; the same as `portraitcraft report`'s validation split for "
              f"the same fraction and seed; 0: train on every record ({_by_recipe('validation_fraction')}).")),
    seed: int | None = typer.Option(None, "--seed",
        help=f"Seed of the validation split and the data order ({_by_recipe('seed')})."),
    deepstack_mergers: bool | None = typer.Option(None, "--deepstack-mergers/--no-deepstack-mergers",
        help=f"Also train the DeepStack mergers beside visual.merger ({_by_recipe('deepstack_mergers')})."),
    training_prompt: str | None = typer.Option(None, "--training-prompt",
        help=("The user turn in training: inference (the prompt predict sends, after the image) or reference (the "
              f"reference conversion's instruction, before the image) ({_by_recipe('training_prompt')}).")),
    mask_newline: bool | None = typer.Option(None, "--mask-newline/--no-mask-newline",
        help=f"The loss also covers the newline after <|im_end|> ({_by_recipe('mask_newline')})."),
    warmup_formula: str | None = typer.Option(None, "--warmup-formula",
        help=f"Warm-up factor at step s of w: '(s+1)/(w+1)' or 's/w' ({_by_recipe('warmup_formula')})."),
    limit: int | None = typer.Option(None, "--limit", min=1,
        help="Train on the first N training images only (smoke runs)."),
    max_steps: int | None = typer.Option(None, "--max-steps", min=1,
        help="Length of the run in optimizer steps (default: from --epochs)."),
    stop_after: int | None = typer.Option(None, "--stop-after", min=1,
        help="Stop and save after this optimizer step; rerun to continue (e.g. within a time-limited lease)."),
    eval_every: int = typer.Option(250, "--eval-every", min=0,
        help="Optimizer steps between validations (also at the start and the end; 0: only those)."),
    save_every: int = typer.Option(500, "--save-every", min=0,
        help="Optimizer steps between checkpoints (also at the end; 0: only then)."),
    validation_predict: int = typer.Option(32, "--validation-predict", min=0,
        help=("generate: validation images also predicted by the runner at each validation, for Level Acc / SRCC / "
              "PLCC (score: all, from the loss pass).")),
    validation_batches: int | None = typer.Option(None, "--validation-batches", min=1,
        help="Validation loss on the first N batches only (default: the whole split)."),
    device: str = DEVICE_OPTION,
    precision: Literal["auto", "bf16-mixed", "bf16", "fp32"] | None = typer.Option(None, "--precision",
        help=("auto (bf16-mixed on cuda, fp32 on cpu), bf16-mixed (float32 weights, bfloat16 compute), bf16 (all "
              "bfloat16: least memory; most 1e-5 updates round to zero), fp32 "
              f"({_by_recipe('precision')}).")),
    gradient_checkpointing: bool | None = typer.Option(None, "--gradient-checkpointing/--no-gradient-checkpointing",
        help="Recompute activations in the backward pass (default: on for cuda with --target generate)."),
    strategy: str = typer.Option("ddp", "--strategy",
        help=("Under torchrun / accelerate launch: ddp (each GPU holds the whole model) or fsdp (weights and optimizer "
              "state sharded over the GPUs; generate target, no --lora, --validation-predict 0).")),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar (steps/s, ETA, loss)."),
) -> None:
    """Fine-tune Qwen3-VL on the Track 1 training split (the fine-tuned row of Table 3): language model and mergers trained, vision encoder frozen.

    --recipe ours (the default) or reference (the public reference code's settings; `portraitcraft.finetune.recipes` and chapter 9 list every setting with its file and line); --recipe below says each one's images per optimizer step. On several GPUs: `torchrun --nproc-per-node N -m portraitcraft.cli finetune ...` (or `accelerate launch --multi-gpu --num-processes N -m portraitcraft.cli finetune ...`): data-parallel, the same images per optimizer step, process 0 writes. Rerun the same command to resume from the last checkpoint. Then predict with the command printed at the end. Exit codes: 0 finished (or stopped at --stop-after); 2 the run cannot start (data, model, output folder, settings).
    """  # noqa: E501 (the command's help: typer keeps a docstring's line breaks)
    from portraitcraft.finetune import FinetuneSettings, run_finetune

    by_recipe = dict(epochs=epochs, validation_fraction=validation_fraction, seed=seed, precision=precision,
                     deepstack_mergers=deepstack_mergers, training_prompt=training_prompt, mask_newline=mask_newline,
                     warmup_formula=warmup_formula)
    settings = FinetuneSettings.of_recipe(
        recipe, data=data, model=model, out=str(out), target=target, reasons=reasons, lora=lora,
        lora_rank=lora_rank, lora_alpha=lora_alpha, lora_dropout=lora_dropout, lr=lr, batch_size=batch_size,
        grad_accum=grad_accum, max_pixels=max_pixels, min_pixels=min_pixels, max_side=max_side,
        warmup_ratio=warmup_ratio, weight_decay=weight_decay, max_grad_norm=max_grad_norm, limit=limit,
        max_steps=max_steps, device=device, gradient_checkpointing=gradient_checkpointing, eval_every=eval_every,
        save_every=save_every, validation_predict=validation_predict, validation_batches=validation_batches,
        stop_after=stop_after, strategy=strategy, **{k: v for k, v in by_recipe.items() if v is not None})
    summary = run_finetune(settings, progress=progress)
    if os.environ.get("RANK", "0") == "0":  # under torchrun / accelerate launch, process 0 speaks for all
        for line in summary.lines():
            typer.echo(line)


def serve(
    model: str = typer.Option(..., "--model", help="A local transformers Qwen3-VL folder (or a cached hub id)."),
    host: str = typer.Option("127.0.0.1", "--host",
        help="Address to listen on (0.0.0.0: every interface; the server has no authentication)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port (0: any free port)."),
    name: str | None = typer.Option(None, "--served-model-name",
        help="The model name clients send (default: --model as given)."),
    device: str = DEVICE_OPTION,
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = DTYPE_OPTION,
    max_pixels: int = typer.Option(2048 * 2048, "--max-pixels", min=1, help="The processor's pixel budget per image."),
) -> None:
    """Serve a local Qwen3-VL with the OpenAI chat-completions protocol (a small, one-request-at-a-time server for
    demos and tests; use vLLM or SGLang for real runs). Then: `portraitcraft predict --backend openai --base-url
    http://HOST:PORT/v1 --model NAME ...`. Exit codes: 0 stopped with Ctrl-C; 2 the model cannot be loaded."""
    from portraitcraft.runners.server import serve as start_server

    server, thread = start_server(model, host, port, name=name, quiet=False, device=device, dtype=dtype,
                                  max_pixels=max_pixels)
    typer.echo(f"serving {server.chat.name} at {server.url} (Ctrl-C stops)")
    try:
        thread.join()
    except KeyboardInterrupt:
        server.shutdown()
        server.server_close()
