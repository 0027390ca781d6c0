"""Track 1 fine-tuning's two recipes side by side: each setting of the ``reference`` recipe with the file and line of
the public reference code it comes from (github yytang25/qwen-vl-ft, commit c122cdc, under ``qwen-vl-finetune/``),
ours, and why ours differs. `recipe_table` builds the table from the settings objects themselves."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from portraitcraft.finetune.settings import FinetuneSettings

REFERENCE_COMMIT = "c122cdc4096b1f42a103e0f6e09907b290317c33"
SCRIPT = "scripts/sft_qwen3_4b.sh"
TRAIN = "qwenvl/train/train_qwen.py"
DATA = "qwenvl/data/data_processor.py"
# Values the script leaves to transformers, which the reference pins at 4.57.0 (requirements.txt:76).
TRANSFORMERS = "transformers 4.57.0 (requirements.txt:76; not set by the script)"


@dataclass(frozen=True)
class RecipeRow:
    setting: str  # what a reader calls it
    show: Callable[[FinetuneSettings], str]  # its value in a settings object, in words
    source: str  # where the reference sets it: file:line
    why: str = ""  # why ours differs (empty: the same)


def _precision(s: FinetuneSettings) -> str:
    return {"bf16": "pure bf16: weights, gradients and AdamW state in bfloat16",
            "bf16-mixed": "bf16-mixed: fp32 weights and AdamW state, bf16 matrix products",
            "fp32": "fp32",
            "auto": "bf16-mixed on CUDA (fp32 weights and AdamW state, bf16 products); fp32 on the CPU"}[s.precision]


def _records(s: FinetuneSettings) -> str:
    if s.validation_fraction == 0:
        return "every labelled training record"
    return f"{1 - s.validation_fraction:.0%} of them ({s.validation_fraction:.0%} held out for validation)"


ROWS: tuple[RecipeRow, ...] = (
    RecipeRow("training records", _records, f"{DATA}:285-291 (all annotations); {SCRIPT}:47 (no evaluation)",
              "a model trained on every record has no labelled image left to be scored on; the held-out 10% is "
              "where Table 3 scores the fine-tuned row when the test labels are hidden"),
    RecipeRow("epochs", lambda s: f"{s.epochs:g}", f"{SCRIPT}:41",
              "more passes over the smaller training set (our choice)"),
    RecipeRow("learning rate", lambda s: f"{s.lr:g}", f"{SCRIPT}:17, 51"),
    RecipeRow("images per step", lambda s: f"batch {s.batch_size} x accumulation {s.grad_accum} = {s.effective_batch}",
              f"{SCRIPT}:18-19, 42, 44"),
    RecipeRow("trained parts", lambda s: ("language model, visual.merger"
                                          + (", DeepStack mergers" if s.deepstack_mergers else "")
                                          + ("; LoRA on the LM" if s.lora else "") + "; vision encoder frozen"),
              f"{TRAIN}:67-89 (set_model), {SCRIPT}:36-38",
              "the DeepStack mergers feed vision features into the language model like visual.merger does; we "
              "train them with it"),
    RecipeRow("precision", _precision, f"{SCRIPT}:39 (--bf16), {TRAIN}:111-117 (loaded in bfloat16)",
              "in pure bf16 most 1e-5 updates round to zero (bfloat16 holds 8 significant bits: an update under "
              "about 2^-9 of a weight's size is lost); fp32 master weights keep them"),
    RecipeRow("training prompt", lambda s: ("the reference's instruction, before the image"
                                            if s.training_prompt == "reference" else
                                            "the inference prompt (predict --protocol generate), after the image"),
              "convert_json_train.py:49-58; its inference prompt: evaluation/evaluation_multi.py:109-192",
              "the reference trains on one instruction and asks with another; we train on what we ask"),
    RecipeRow("loss covers", lambda s: "the answer, <|im_end|>" + (" and the newline after it" if s.mask_newline
                                                                      else ""),
              f"{DATA}:227-236",
              "the newline after <|im_end|> is never generated (generation stops at <|im_end|>)"),
    RecipeRow("answer", lambda s: ("the reference JSON with reasons" if s.target == "generate" and s.reasons
                                   else f"target {s.target}" + ("" if s.reasons else ", no reasons")),
              "convert_json_train.py:31-46, 69"),
    RecipeRow("image budget (pixels)", lambda s: f"{s.min_pixels:,} to {s.max_pixels:,}", f"{SCRIPT}:45-46"),
    RecipeRow("weight decay", lambda s: f"{s.weight_decay:g}", f"{SCRIPT}:52"),
    RecipeRow("warm-up ratio", lambda s: f"{s.warmup_ratio:g}, then cosine to 0", f"{SCRIPT}:53, 55"),
    RecipeRow("warm-up factor at step s of w", lambda s: s.warmup_formula,
              f"{TRANSFORMERS}: get_cosine_schedule_with_warmup",
              "(s+1)/(w+1) makes the first step move the weights; s/w spends it at learning rate 0"),
    RecipeRow("gradient clipping", lambda s: f"{s.max_grad_norm:g}", f"{SCRIPT}:54"),
    RecipeRow("gradient checkpointing", lambda s: {None: "on (CUDA, generate target)", True: "on",
                                                    False: "off"}[s.gradient_checkpointing], f"{SCRIPT}:58"),
    RecipeRow("seed", lambda s: str(s.seed), f"{TRANSFORMERS}: TrainingArguments.seed = 42",
              "0 is the seed of the book's validation split; any seed is a choice"),
)


def recipe_rows(ours: FinetuneSettings | None = None, reference: FinetuneSettings | None = None
                ) -> list[dict[str, Any]]:
    """One row per setting: setting, reference (value and file:line), ours, and "same" or "differs: why"."""
    ours = ours or FinetuneSettings.of_recipe("ours")
    reference = reference or FinetuneSettings.of_recipe("reference")
    rows = []
    for row in ROWS:
        theirs, mine = row.show(reference), row.show(ours)
        rows.append({"setting": row.setting, "reference": theirs, "reference code": row.source, "ours": mine,
                     "same / differs": "same" if theirs == mine else f"differs: {row.why}"})
    return rows


def recipe_table(ours: FinetuneSettings | None = None, reference: FinetuneSettings | None = None):
    """`recipe_rows` as a pandas frame."""
    import pandas as pd

    return pd.DataFrame(recipe_rows(ours, reference))
