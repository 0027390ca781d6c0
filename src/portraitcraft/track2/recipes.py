"""Track 2's two LoRA fine-tuning recipes and the generation settings side by side: each ``reference`` value with the
file and line of the public reference code it comes from (github yytang25/qwen-vl-ft, commit c122cdc, under
``qwen-image-finetune/``), ours, and why ours differs. `recipe_table` builds the table from the settings objects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from portraitcraft.track2.finetune import TARGET_MODULES, LoraSettings
from portraitcraft.track2.generate import JPEG_QUALITY, REFERENCE_JPEG_QUALITY, GenerationSettings

REFERENCE_COMMIT = "c122cdc4096b1f42a103e0f6e09907b290317c33"
CONFIG = "train_configs/train_lora.yaml"
REFERENCE_PROCESSES = 4  # run.sh:7, accelerate launch --num_processes 4


@dataclass(frozen=True)
class TrainingRow:
    setting: str
    show: Callable[[LoraSettings, int], str]  # (settings, processes) -> the value in words
    source: str
    why: str = ""
    code_does: str | None = None  # what the reference code does where no recipe here does the same


def _batch(s: LoraSettings, processes: int) -> str:
    product = f"{processes} processes x " if processes > 1 else ""
    return f"{product}{s.batch_size} x {s.grad_accum} = {processes * s.effective_batch} images per optimizer step"


TRAINING_ROWS: tuple[TrainingRow, ...] = (
    TrainingRow("images per optimizer step", _batch, f"run.sh:6-8; {CONFIG}:3, 12, 29",
                "one GPU's time: ours takes 4 of the reference's 16 images per step (48,000 vs 192,000 samples over "
                "the 12,000 steps); the reference recipe here accumulates 16 on one process"),
    TrainingRow("optimizer steps", lambda s, p: f"{s.max_train_steps:,}", f"{CONFIG}:14"),
    TrainingRow("learning rate, schedule", lambda s, p: f"{s.lr:g}, {s.warmup_steps} warm-up steps, cosine to 0",
                f"{CONFIG}:15-17; train.py:168-173"),
    TrainingRow("AdamW betas, weight decay, eps",
                lambda s, p: f"({s.adam_beta1:g}, {s.adam_beta2:g}), {s.weight_decay:g}, {s.adam_epsilon:g}",
                f"{CONFIG}:18-21; train.py:146, 158-164"),
    TrainingRow("gradient clipping", lambda s, p: f"{s.max_grad_norm:g}", f"{CONFIG}:22; train.py:339"),
    TrainingRow("LoRA rank, alpha, initialisation",
                lambda s, p: f"{s.rank}, {s.alpha or s.rank}, Gaussian", f"{CONFIG}:30; train.py:116-121"),
    TrainingRow("LoRA targets", lambda s, p: ", ".join(TARGET_MODULES), "train.py:120"),
    TrainingRow("LoRA weights and AdamW state", lambda s, p: ("fp32" if s.lora_dtype == "fp32" else
                                                              "the model's dtype (bf16 on CUDA)"),
                "train.py:126-127 (adapter added after the cast to bf16)",
                "a 1e-4 update is not lost to bfloat16 rounding in fp32 adapters"),
    TrainingRow("precision of the model", lambda s, p: {"auto": "bf16 on CUDA, fp32 on the CPU"}.get(s.precision,
                                                                                                    s.precision),
                f"{CONFIG}:24; train.py:92-98"),
    TrainingRow("data order", lambda s, p: ("random draws with replacement" if s.data_order == "with_replacement"
                                            else "each image once per pass, a new seeded order each pass"),
                "image_datasets/dataset.py:77-82",
                "every image equally often; the reference's draws repeat some and miss others"),
    TrainingRow("image resize", lambda s, p: (f"long side {s.resolution}, short floored; then both floored to 32; "
                                              "two resizes, PIL's default filter" if s.resize == "reference" else
                                              f"to the reference's final size (long side {s.resolution}, floored to "
                                              "32), one LANCZOS resize from the full image"),
                f"image_datasets/dataset.py:14-22, 89-93; {CONFIG}:5",
                "the same final size; one resampling instead of two"),
    TrainingRow("caption dropout", lambda s, p: f"{s.caption_dropout:g} (prompt becomes \" \")",
                f"{CONFIG}:6; image_datasets/dataset.py:104-105"),
    TrainingRow("prompt tokens", lambda s, p: f"at most {s.max_sequence_length:,}", "train.py:293-298"),
    TrainingRow("seed", lambda s, p: str(s.seed), "train.py (no seed set)",
                "a seed makes a stopped and resumed run reach an uninterrupted run's weights",
                code_does="none: every run draws differently"),
    TrainingRow("noise and noisy latents", lambda s, p: "built in fp32, cast to the model's dtype at the transformer",
                "train.py:250-280", "fp32 noise and mixing; the transformer runs in bf16 either way",
                code_does="built in the model's dtype (bf16)"),
)


@dataclass(frozen=True)
class GenerationRow:
    setting: str
    show: Callable[[GenerationSettings], str]
    source: str
    why: str = ""


GENERATION_ROWS: tuple[GenerationRow, ...] = (
    GenerationRow("size", lambda g: f"{g.width} x {g.height}", "evaluation.py:54-55"),
    GenerationRow("steps, true CFG", lambda g: f"{g.steps}, {g.true_cfg_scale:g}", "evaluation.py:56-57"),
    GenerationRow("negative prompt", lambda g: "one space" if g.negative_prompt == " " else repr(g.negative_prompt),
                  "evaluation.py:50"),
    GenerationRow("seed", lambda g: f"{g.seed} for every image", "evaluation.py:59"),
    GenerationRow("prompt tokens", lambda g: f"at most {g.max_sequence_length:,}", "evaluation.py:58"),
)


def recipe_rows(ours: LoraSettings | None = None, reference: LoraSettings | None = None, *,
                generation: GenerationSettings | None = None) -> list[dict[str, Any]]:
    """One row per setting: setting, reference (value, file:line), ours, "same" or "differs: why"; the LoRA
    training's settings, then generation's (the reference generates with ``generation``'s defaults)."""
    ours = ours or LoraSettings.of_recipe("ours")
    reference = reference or LoraSettings.of_recipe("reference")
    rows = []

    def add(setting: str, theirs: str, source: str, mine: str, why: str, same: bool | None = None) -> None:
        same = theirs == mine if same is None else same
        rows.append({"setting": setting, "reference": theirs, "reference code": source, "ours": mine,
                     "same / differs": "same" if same else f"differs: {why}"})

    for row in TRAINING_ROWS:
        theirs, mine = row.show(reference, 1), row.show(ours, 1)
        shown = theirs
        if row.code_does is not None:
            add(row.setting, f"{row.code_does} (our reference recipe keeps ours: {theirs})", row.source, mine, row.why,
                False)
            continue
        if row.show is _batch:  # the reference code's 16 come from its processes; the recipe accumulates them on one
            shown = (f"{theirs} (the reference code: {REFERENCE_PROCESSES} processes x {reference.batch_size} x "
                     f"{reference.grad_accum // REFERENCE_PROCESSES})")
        add(row.setting, shown, row.source, mine, row.why, theirs == mine)
    generation = generation or GenerationSettings()
    for grow in GENERATION_ROWS:
        value = grow.show(generation)
        add(f"generation: {grow.setting}", value, grow.source, value, grow.why)
    add("generation: JPEG quality", f"{REFERENCE_JPEG_QUALITY} (PIL's default)", "evaluation.py:62 (save, no quality)",
        str(JPEG_QUALITY), "fewer compression artefacts for the composition scorer to read; stated, not matched")
    return rows


def recipe_table(ours: LoraSettings | None = None, reference: LoraSettings | None = None):
    """`recipe_rows` as a pandas frame."""
    import pandas as pd

    return pd.DataFrame(recipe_rows(ours, reference))
