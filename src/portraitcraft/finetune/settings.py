"""Fine-tuning's settings and its two named recipes (``ours``, the default, and ``reference``, the public reference
code's), and what the model is trained to answer (the targets); see the package docstring for every choice and
`portraitcraft.finetune.recipes` for the two recipes side by side."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from typing import Any

from portraitcraft.attributes import ATTRIBUTE_NAMES
from portraitcraft.exceptions import PortraitCraftError
from portraitcraft.prompts import GENERATE, QUALITY_WEIGHTS, QUALITY_WORDS, SCORE, SCORE_SLOTS
from portraitcraft.runners.base import Item

FORMAT = "portraitcraft.finetune/1"
TARGETS = (GENERATE, SCORE)
PRECISIONS = ("auto", "bf16-mixed", "bf16", "fp32")
STRATEGIES = ("ddp", "fsdp")  # several processes: whole replicas, or the weights and optimizer state sharded
# The reference SFT script's image budget (qwen-vl-finetune/scripts/sft_qwen3_4b.sh: --max_pixels / --min_pixels).
REFERENCE_TRAIN_MAX_PIXELS = 50176
REFERENCE_TRAIN_MIN_PIXELS = 784
RUN_FILE = "finetune.json"
LOG_FILE = "log.jsonl"
STATE_DIR = "training_state"
INCOMING_DIR = ".incoming"
# The language model's linear layers that LoRA adapts (attention and MLP projections).
LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
TRAINED_PARTS = ("model.language_model.", "lm_head.", "model.visual.merger.", "model.visual.deepstack_merger_list.")
DEEPSTACK_MERGERS = "model.visual.deepstack_merger_list."
RECIPES = ("ours", "reference")
TRAINING_PROMPTS = ("inference", "reference")  # the user turn in training: the inference prompt, or the reference's own
WARMUP_FORMULAS = ("(s+1)/(w+1)", "s/w")  # learning-rate factor during warm-up at step s of w
# The reference conversion's training instruction (qwen-vl-finetune/convert_json_train.py:49-58), text before the
# image; its "<image>" placeholder ends the turn, and the text is stripped (qwenvl/data/data_processor.py:181-182).
REFERENCE_TRAINING_PROMPT = (
    "You are an aesthetics expert. Please evaluate the image across the following 13 sub-criteria:\n"
    "Color Harmony, Visual Style Consistency, Sharpness, Light and Shadow Modeling, "
    "Creativity and Originality, Exposure Control, Application of Classical Composition Principles, "
    "Depth of Field and Layering, Visual Center Stability, Visual Flow Guidance, "
    "Structural Support Stability, Appropriateness of Negative Space, Subject Integrity.\n\n"
    "For each criterion, output a level (Poor / Medium / Good) with a brief reason.\n"
    "Finally provide a total score."
)


class FinetuneError(PortraitCraftError):
    """Training cannot start or go on (data, model, output folder, settings); the message says which file and why."""


@dataclass(frozen=True)
class FinetuneSettings:
    data: str = "lab"  # a PortraitCraft root, "lab", or a hub dataset id
    model: str = "Qwen/Qwen3-VL-4B-Instruct"  # hub id or local folder
    out: str = "runs/finetune"
    target: str = GENERATE  # generate (the reference JSON) or score (the score protocol's words)
    reasons: bool = True  # generate: each criterion as {"level", "reason"} (the reference) or its bare level
    lora: bool = False
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    recipe: str = "ours"  # the named recipe these settings start from (`FinetuneSettings.of_recipe`); recorded
    epochs: float = 2.0
    lr: float = 1e-5
    batch_size: int = 4
    grad_accum: int = 4
    max_pixels: int = REFERENCE_TRAIN_MAX_PIXELS
    min_pixels: int = REFERENCE_TRAIN_MIN_PIXELS
    max_side: int = 2048  # longest side when the image is decoded (the runner's cap)
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    validation_fraction: float = 0.1  # 0: train on every fully labelled training record, none held out
    seed: int = 0
    deepstack_mergers: bool = True  # also train the DeepStack mergers (visual.deepstack_merger_list)
    training_prompt: str = "inference"  # the user turn: "inference" (what predict sends) or "reference"
    mask_newline: bool = False  # the loss also covers the newline after <|im_end|>
    warmup_formula: str = "(s+1)/(w+1)"  # "(s+1)/(w+1)" or "s/w" (transformers', the reference's)
    limit: int | None = None  # train on the first N training images only (after the split)
    max_steps: int | None = None  # the schedule's length in optimizer steps (default: from epochs)
    device: str = "auto"
    precision: str = "auto"
    gradient_checkpointing: bool | None = None  # None: on CUDA for the generate target
    # not part of the training (may change on resume):
    eval_every: int = 250  # optimizer steps between validations (0: only at the start and the end)
    save_every: int = 500  # optimizer steps between checkpoints (0: only at the end)
    validation_predict: int = 32  # generate: validation images also predicted by the runner for metrics
    validation_batches: int | None = None  # validation loss on the first N batches only (None: all)
    stop_after: int | None = None  # stop (and save) after this step, to continue later
    strategy: str = "ddp"  # several processes (torchrun): "ddp" replicas, or "fsdp" sharded (finetune.parallel)

    RUNTIME_FIELDS = ("eval_every", "save_every", "validation_predict", "validation_batches", "stop_after", "device",
                      "strategy")

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise ValueError(f"recipe {self.recipe!r}: expected one of {', '.join(RECIPES)}")
        if self.training_prompt not in TRAINING_PROMPTS:
            raise ValueError(f"training_prompt {self.training_prompt!r}: expected one of {', '.join(TRAINING_PROMPTS)}")
        if self.warmup_formula not in WARMUP_FORMULAS:
            raise ValueError(f"warmup_formula {self.warmup_formula!r}: expected one of {', '.join(WARMUP_FORMULAS)}")
        if self.target not in TARGETS:
            raise ValueError(f"target {self.target!r}: expected one of {', '.join(TARGETS)}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy {self.strategy!r}: expected one of {', '.join(STRATEGIES)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r}: expected one of {', '.join(PRECISIONS)}")
        for name in ("batch_size", "grad_accum", "max_pixels", "min_pixels", "max_side"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: must be at least 1")
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels {self.min_pixels} > max_pixels {self.max_pixels}")
        if not self.epochs > 0 or not self.lr > 0:
            raise ValueError(f"epochs={self.epochs}, lr={self.lr}: both must be positive")
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(f"validation_fraction={self.validation_fraction}: must be in [0, 1)")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio={self.warmup_ratio}: must be in [0, 1)")
        for name in ("max_steps", "stop_after", "limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name}={value}: must be at least 1")

    def training_key(self) -> dict[str, Any]:
        """The settings that define the training; a resumed run must have the same."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in self.RUNTIME_FIELDS
                and f.name != "out"}

    @classmethod
    def of_recipe(cls, recipe: str = "ours", **changes: Any) -> FinetuneSettings:
        """The settings of a named recipe (`RECIPE_VALUES`), with ``changes`` on top."""
        if recipe not in RECIPES:
            raise ValueError(f"recipe {recipe!r}: expected one of {', '.join(RECIPES)}")
        return replace(cls(), recipe=recipe, **{**RECIPE_VALUES[recipe], **changes})

    @property
    def effective_batch(self) -> int:
        """Images per optimizer step on one process (times the processes under torchrun)."""
        return self.batch_size * self.grad_accum


# The settings added with the recipes, as every run written before them trained (recipe "ours"): such a run resumes.
BEFORE_RECIPES: dict[str, Any] = dict(recipe="ours", deepstack_mergers=True, training_prompt="inference",
                                      mask_newline=False, warmup_formula="(s+1)/(w+1)")

# What each recipe sets; every other setting is the dataclass default, the same in both. ``reference`` is the public
# reference code (qwen-vl-finetune/scripts/sft_qwen3_4b.sh with qwenvl/train/train_qwen.py, the files and lines in
# `portraitcraft.finetune.recipes`); ``ours`` keeps a validation split, fp32 master weights, the DeepStack mergers
# trained and the inference prompt in training, each for the reason `recipes.OUR_REASONS` gives.
RECIPE_VALUES: dict[str, dict[str, Any]] = {
    "ours": {},
    "reference": dict(epochs=0.5, validation_fraction=0.0, precision="bf16", deepstack_mergers=False,
                      training_prompt="reference", mask_newline=True, warmup_formula="s/w", seed=42),
}



# --- targets ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Example:
    """One training image with its labels."""

    image_path: str
    levels: dict[str, str]  # attribute name -> Good / Medium / Poor
    reasons: dict[str, str | None]
    total_score: float
    question: str | None = None
    options: dict[str, str] | None = None
    answer: str | None = None

    @property
    def item(self) -> Item:
        return Item(self.image_path, self.question, self.options)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def generate_target(example: Example, *, reasons: bool = True) -> str:
    """The ``generate`` answer: the reference conversion's JSON (see the module docstring)."""
    if reasons:
        criteria: dict[str, Any] = {
            name: {"level": example.levels[name], "reason": (example.reasons[name] or "").strip()}
            for name in ATTRIBUTE_NAMES}
    else:
        criteria = {name: example.levels[name] for name in ATTRIBUTE_NAMES}
    answer: dict[str, Any] = {"criteria": criteria, "total_score": _number(example.total_score)}
    if example.question and example.answer:
        answer["answer"] = example.answer
    return json.dumps(answer, ensure_ascii=False, indent=2)


def quality_word(total_score: float) -> str:
    """The quality word nearest to a 1-100 score under `prompts.quality_to_score` (1 -> bad ... 100 -> excellent)."""
    expected = 1.0 + (float(total_score) - 1.0) * 4.0 / 99.0
    return min(QUALITY_WORDS, key=lambda w: (abs(QUALITY_WEIGHTS[w] - expected), -QUALITY_WEIGHTS[w]))


def score_targets(example: Example) -> dict[str, str]:
    """The ``score`` targets: for each slot read (`prompts.SCORE_SLOTS`), the candidate word that is right."""
    targets = {name: example.levels[name] for name in ATTRIBUTE_NAMES}
    targets["total_score"] = quality_word(example.total_score)
    if example.question and example.answer:
        targets["answer"] = example.answer
    return targets


def score_target_text(example: Example) -> str:
    """The ``score`` targets written as the answer the score prompt asks for (documentation and display)."""
    targets = score_targets(example)
    return "\n".join(f"{slot.head} {targets[slot.field]}" for slot in
                     (SCORE_SLOTS[-1], *SCORE_SLOTS[:-1]) if slot.field in targets)
