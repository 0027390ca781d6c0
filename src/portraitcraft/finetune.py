"""Fine-tuning Qwen3-VL on the Track 1 training records: the fine-tuned row of Table 3.

    summary = run_finetune(FinetuneSettings(data="data/lab", model="Qwen/Qwen3-VL-4B-Instruct", out="runs/ft"))
    # then: portraitcraft predict --model runs/ft --data ... --max-pixels 50176 --max-new-tokens 1024

What is trained (the paper's partial fine-tuning)
    The language model (its embeddings, and the LM head tied to them) and the vision-language mergers
    (``visual.merger`` and the DeepStack ``visual.deepstack_merger_list``) are trained; the vision encoder
    (patch embedding, position embedding, the vision blocks) is frozen. With ``lora=True`` the language model's
    linear layers get LoRA adapters (peft) instead of full updates, and the mergers are still trained in full.
Paper settings (the defaults)
    2 epochs, learning rate 1e-5, batch size 4 with 4 gradient-accumulation steps (16 images per optimizer
    step). The rest follows the public reference script (``qwen-vl-finetune/scripts/sft_qwen3_4b.sh``):
    AdamW, weight decay 0, 3% linear warm-up then cosine decay, gradient clipping at 1.0, gradient
    checkpointing, and a pixel budget of 50,176 pixels (224 x 224) per image, at least 784.
Precision
    ``auto``: on CUDA ``bf16-mixed`` (float32 master weights and optimizer state, matrix products in bfloat16
    under autocast); on the CPU ``fp32``. ``bf16`` keeps weights, gradients and AdamW state in bfloat16 (half the
    memory); an update of 1e-5 is below bfloat16's resolution for most weights, so most of them do not move:
    use it for measurements, not for the row.
Two target formats (``target``)
    ``generate`` (the paper's): the user turn is the runner's ``generate`` prompt (`prompts.generate_prompt`,
    what ``portraitcraft predict --protocol generate`` sends) with the image; the assistant answer is the
    public reference conversion's JSON (``qwen-vl-finetune/convert_json_train.py``), indented by 2::

        {"criteria": {"Color Harmony": {"level": "Good", "reason": "..."}, ... all 13 ...}, "total_score": 72}

    levels from the scores by the benchmark rule (`attributes.level_from_score`), reasons as written, the
    overall score as given; ``"answer": "B"`` is added after ``total_score`` only for a training record with a
    question and its answer (the published train split has none). ``reasons=False`` writes each criterion as its
    bare level instead (a shorter answer). The loss is the mean cross-entropy over the answer's tokens and the
    closing ``<|im_end|>``; prompt, image and padding tokens are masked. Deviation from the reference: its
    conversion trains on a different instruction ("You are an aesthetics expert...") from the one its own
    inference sends; here the model is trained on the prompt it is asked with at prediction time.

    ``score``: the user turn is the runner's ``score`` prompt (`prompts.score_prompt`); the targets are the
    words the ``score`` protocol reads (`prompts.SCORE_SLOTS`): each attribute's level after its line head
    (``Sharpness: Good``), the overall quality word after ``Overall quality:`` (the total score's nearest word,
    `quality_word`: the inverse of `prompts.quality_to_score`) and, with a labelled question, the answer letter
    after ``Answer:``. The loss is computed through the runner's own reading
    (`QwenBackend.slot_probabilities`): for each slot, minus the log-probability (over the whole vocabulary) of
    the right candidate right after the opened assistant turn and the slot's head, exactly where prediction
    reads it; the mean over slots and images.
Validation split
    `report.validation_split`: a seeded fraction (default 0.1, seed 0) of the fully labelled training images,
    held out of training. With the same fraction and seed it is the split that ``portraitcraft report`` and the
    book score Table 3 on where the test labels are hidden, so the fine-tuned row is never scored on an image
    it was trained on. The held-out names are recorded in ``finetune.json``.
Output folder ``out``
    ``config.json``, the weights and the processor files (``save_pretrained``): a plain Qwen3-VL folder that
    ``portraitcraft predict --model OUT`` loads. With LoRA the adapters are merged into the saved weights (the
    runner needs no peft); the adapters themselves are kept in ``training_state/`` for resuming.
    ``finetune.json``: the settings, data, split, target lengths, versions, status and last step.
    ``log.jsonl``: one JSON record per line, ``{"kind": "train", "step", "epoch", "loss", "lr", "grad_norm",
    "images", "tokens", "seconds"}`` per optimizer step and ``{"kind": "validation", "step", "epoch", "loss",
    ...metrics}`` at step 0, every ``eval_every`` steps and at the end (`read_log` reads it as a frame).
    ``training_state/``: optimizer, scheduler and step: what resuming needs (delete it once training is done).
Predicting with the checkpoint
    Use the training pixel budget (``--max-pixels``/``--min-pixels``: the runner's defaults are the reference
    inference's 2048 x 2048) and, for the generate target, enough new tokens for the whole answer: with reasons it is
    longer than the reference inference's 512, and ``total_score`` comes last, so a cut answer loses the score.
    The run prints the command (``predict_hint`` in ``finetune.json``, from the longest training answer).
Resuming
    Rerunning with the same ``out`` continues from the last checkpoint (saved every ``save_every`` steps and at
    the end) with the same data order and schedule; settings that change the training must match
    (``FinetuneSettings.training_key``), otherwise it stops naming the differences. A checkpoint is written to
    ``out/.incoming/`` and moved into place only once complete, so a run killed while saving keeps the
    previous checkpoint.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from portraitcraft.attributes import ATTRIBUTE_KEYS, ATTRIBUTE_NAMES, LEVELS
from portraitcraft.prompts import (
    GENERATE,
    QUALITY_WEIGHTS,
    QUALITY_WORDS,
    SCORE,
    SCORE_SLOTS,
    generate_prompt,
    read_score_slots,
)
from portraitcraft.runners.base import Item, package_versions

if TYPE_CHECKING:
    from portraitcraft.data import Dataset

FORMAT = "portraitcraft.finetune/1"
TARGETS = (GENERATE, SCORE)
PRECISIONS = ("auto", "bf16-mixed", "bf16", "fp32")
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


class FinetuneError(Exception):
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
    validation_fraction: float = 0.1
    seed: int = 0
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

    RUNTIME_FIELDS = ("eval_every", "save_every", "validation_predict", "validation_batches", "stop_after", "device")

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"target {self.target!r}: expected one of {', '.join(TARGETS)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r}: expected one of {', '.join(PRECISIONS)}")
        for name in ("batch_size", "grad_accum", "max_pixels", "min_pixels", "max_side"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: must be at least 1")
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels {self.min_pixels} > max_pixels {self.max_pixels}")
        if not self.epochs > 0 or not self.lr > 0:
            raise ValueError(f"epochs={self.epochs}, lr={self.lr}: both must be positive")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction={self.validation_fraction}: must be between 0 and 1")
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


# --- data ------------------------------------------------------------------------------------------------------

@dataclass
class TrainingData:
    train: list[Example]
    validation: list[Example]
    skipped: dict[str, list[str]] = field(default_factory=dict)  # reason -> image names left out

    def record(self, settings: FinetuneSettings) -> dict[str, Any]:
        return {"train_images": len(self.train), "validation_images": len(self.validation),
                "validation_fraction": settings.validation_fraction, "seed": settings.seed,
                "validation": [e.image_path for e in self.validation],
                "skipped": {k: v for k, v in self.skipped.items() if v}}


def _examples(dataset: Dataset, names: Sequence[str], reasons: bool, skipped: dict[str, list[str]]) -> list[Example]:
    images = dataset.images()
    images = images[images["split"] == "train"].set_index("image_path")
    attributes = dataset.attributes()
    attributes = attributes[attributes["split"] == "train"]
    reason_of = {(r.image_path, r.attribute): r.reason for r in attributes.itertuples()}
    questions = dataset.questions()
    questions = questions[questions["split"] == "train"].set_index("image_path")
    out = []
    for name in names:
        row = images.loc[name]
        if dataset.image_file(name) is None:
            skipped.setdefault("image missing", []).append(name)
            continue
        texts = {a: reason_of.get((name, a)) for a in ATTRIBUTE_NAMES}
        if reasons and not all(isinstance(t, str) and t.strip() for t in texts.values()):
            skipped.setdefault("a reason missing", []).append(name)
            continue
        levels = {a: str(row[f"{key}_level"]) for a, key in zip(ATTRIBUTE_NAMES, ATTRIBUTE_KEYS)}
        question = options = answer = None
        if name in questions.index:
            q = questions.loc[name]
            if isinstance(q["answer"], str):
                question, answer = q["question"], q["answer"]
                options = {x: q[f"option_{x}"] for x in "ABCD" if isinstance(q[f"option_{x}"], str)}
        out.append(Example(name, levels, texts, float(row["total_score"]), question, options, answer))
    return out


def training_data(dataset: Dataset, settings: FinetuneSettings) -> TrainingData:
    """The training and validation examples: the fully labelled training images split by `report.validation_split`."""
    from portraitcraft.report import validation_split

    try:
        truth, fit = validation_split(dataset, fraction=settings.validation_fraction, seed=settings.seed)
    except ValueError as exc:
        raise FinetuneError(f"{dataset.root / 'track_1_train.json'}: {exc}") from exc
    skipped: dict[str, list[str]] = {}
    validation = _examples(dataset, truth.image_paths, settings.reasons, skipped)
    train = _examples(dataset, fit, settings.reasons, skipped)
    if settings.limit is not None:
        train = train[:settings.limit]
    if not train:
        raise FinetuneError(f"{dataset.root / 'track_1_train.json'}: no usable training image after holding out the "
                            f"validation split (left out: {json.dumps({k: len(v) for k, v in skipped.items()})})")
    return TrainingData(train, validation, skipped)


# --- the plan: which images each optimizer step sees -----------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    n_train: int
    batch_size: int
    grad_accum: int
    epochs: float
    seed: int
    max_steps: int | None = None

    @property
    def micro_per_epoch(self) -> int:
        return math.ceil(self.n_train / self.batch_size)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.micro_per_epoch / self.grad_accum)

    @property
    def total_steps(self) -> int:
        return self.max_steps or max(1, math.ceil(self.epochs * self.steps_per_epoch))

    def order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.n_train)

    def step(self, step: int) -> tuple[float, list[list[int]]]:
        """For optimizer step ``step`` (1-based): the epoch position after it and its micro-batches (indices)."""
        epoch, group = divmod(step - 1, self.steps_per_epoch)
        order = self.order(epoch)
        micro = []
        for m in range(group * self.grad_accum, min((group + 1) * self.grad_accum, self.micro_per_epoch)):
            micro.append(order[m * self.batch_size:(m + 1) * self.batch_size].tolist())
        return epoch + (group + 1) / self.steps_per_epoch, micro


def lr_factor(step: int, total: int, warmup_ratio: float) -> float:
    """Linear warm-up over ceil(warmup_ratio * total) steps, then cosine decay to 0 (the reference's schedule)."""
    warmup = math.ceil(warmup_ratio * total)
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


# --- the model being trained ---------------------------------------------------------------------------------------

def is_trained(name: str, lora: bool) -> bool:
    """Whether a parameter (named as in the plain Qwen3-VL model) is trained: LM and mergers, not the vision encoder."""
    if not name.startswith(TRAINED_PARTS):
        return False
    return not lora or not name.startswith(("model.language_model.", "lm_head."))


def _plain_name(name: str) -> str:
    """A parameter name inside a peft model as in the plain model (prefix and base_layer removed)."""
    name = name.removeprefix("base_model.model.")
    return name.replace(".base_layer.", ".")


class FineTuner:
    """The model, processor and optimizer of one fine-tuning; `step` is one optimizer step on given images."""

    def __init__(self, settings: FinetuneSettings, *, loaded: tuple[Any, Any, dict] | None = None,
                 resume_from: Path | None = None):
        """Load ``settings.model`` (or, for a full fine-tune being resumed, the checkpoint ``resume_from``), or use
        ``loaded=(model, processor, identity)`` already in memory (the GPU benchmark's random-weight model)."""
        import torch

        from portraitcraft.runners.qwen import ModelLoadError, QwenBackend, QwenSettings, resolve_model

        self.settings = s = settings
        self.device = torch.device(s.device if s.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
        precision = s.precision if s.precision != "auto" else ("bf16-mixed" if self.device.type == "cuda" else "fp32")
        if precision == "bf16-mixed" and self.device.type != "cuda":
            raise FinetuneError("precision bf16-mixed needs a CUDA device; use fp32 on the CPU")
        self.precision = precision
        self.param_dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        if loaded is not None:
            model, processor, self.identity = loaded
        else:
            from transformers import AutoModelForImageTextToText, AutoProcessor

            source = resume_from if (resume_from is not None and not s.lora) else s.model
            try:
                folder, self.identity = resolve_model(str(source))
                processor = AutoProcessor.from_pretrained(folder, trust_remote_code=False)
                model = AutoModelForImageTextToText.from_pretrained(folder, dtype=self.param_dtype,
                                                                    trust_remote_code=False)
            except ModelLoadError as exc:
                raise FinetuneError(str(exc)) from exc
            except (OSError, ValueError, KeyError) as exc:
                raise FinetuneError(f"{source}: cannot load as a transformers image-text model ({exc})") from exc
            if resume_from is not None:
                self.identity = {**self.identity, "model": s.model}
        if getattr(model.config, "model_type", None) not in ("qwen3_vl", "qwen3_vl_moe"):
            raise FinetuneError(f"{s.model}: a {model.config.model_type!r} model, not Qwen3-VL")
        model = model.to(device=self.device, dtype=self.param_dtype)
        self.base = model  # the plain Qwen3-VL (with LoRA layers injected in place when lora)
        for name, param in model.named_parameters():
            param.requires_grad_(is_trained(name, s.lora))
        self.peft = None
        if s.lora:
            self._add_lora(model)
        self.checkpointing = (s.gradient_checkpointing if s.gradient_checkpointing is not None
                              else self.device.type == "cuda" and s.target == GENERATE)
        if self.checkpointing:
            if s.target == SCORE:
                raise FinetuneError("gradient checkpointing cannot be used with the score target (its loss reads "
                                    "the prompt's KV cache, as prediction does)")
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        self.trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        if not self.trainable:
            raise FinetuneError(f"{s.model}: no parameter to train (unexpected module names)")
        dtype = "bfloat16" if self.param_dtype == torch.bfloat16 else "float32"
        # The runner's own backend on the same weights: prompts, processor budget, score reading, predictions.
        try:
            self.backend = QwenBackend(QwenSettings(
                model=s.model, protocol=s.target, device=str(self.device), dtype=dtype, max_pixels=s.max_pixels,
                min_pixels=s.min_pixels, max_side=s.max_side, max_new_tokens=1024),
                loaded=(model, processor, self.identity))
        except ModelLoadError as exc:
            raise FinetuneError(str(exc)) from exc
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.eos = self.tokenizer.convert_ids_to_tokens(self._eos_id())
        model.train()
        self.optimizer = torch.optim.AdamW([p for _, p in self.trainable], lr=s.lr, weight_decay=s.weight_decay,
                                           fused=self.device.type == "cuda")
        self.scheduler = None

    # -- setup --

    def _add_lora(self, model) -> None:
        try:
            from peft import LoraConfig, get_peft_model
        except ImportError as exc:
            raise FinetuneError("--lora needs peft: pip install 'portraitcraft[models]' (peft==0.21.2)") from exc
        s = self.settings
        config = LoraConfig(r=s.lora_rank, lora_alpha=s.lora_alpha, lora_dropout=s.lora_dropout,
                            target_modules=LORA_TARGETS, bias="none")
        import torch

        trained_mergers = [n for n, p in model.named_parameters() if p.requires_grad]
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(s.seed)  # the adapters' random initialisation: the same in every run of these settings
            with warnings.catch_warnings():
                # peft 0.21 reads transformers' deprecated `is_gradient_checkpointing`; not ours to act on
                warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
                self.peft = get_peft_model(model, config, autocast_adapter_dtype=self.precision != "bf16")
        # get_peft_model freezes everything but the adapters: the mergers are trained in full, as without LoRA.
        named = dict(model.named_parameters())
        for name in trained_mergers:
            named[name].requires_grad_(True)

    def _eos_id(self) -> int:
        """The token that ends the assistant's turn: Qwen's ``<|im_end|>``, else the generation config's eos."""
        end = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        if isinstance(end, int) and end != self.tokenizer.unk_token_id:
            return end
        eos = self.backend.generation.eos_token_id if self.backend.generation is not None else None
        eos = eos if eos is not None else self.base.generation_config.eos_token_id
        if isinstance(eos, (list, tuple)):
            eos = eos[0]
        if eos is None:
            eos = self.tokenizer.eos_token_id
        if eos is None:
            raise FinetuneError(f"{self.settings.model}: no end-of-turn token (eos) in the generation config or "
                                "tokenizer; a generate target needs one")
        return int(eos)

    def configure_schedule(self, total_steps: int) -> None:
        import torch

        warmup = self.settings.warmup_ratio
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(step, total_steps, warmup))

    def autocast(self):
        import torch

        if self.precision == "bf16-mixed":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # -- losses --

    def encode_generate(self, examples: Sequence[Example], images: Sequence[Any]):
        """Processor inputs (left padded) for prompt + answer + eos, and labels: -100 except on the answer tokens."""
        import torch

        texts, answers = [], []
        for example, image in zip(examples, images):
            prompt = generate_prompt(example.question, example.options)
            opened = self.processor.apply_chat_template(self.backend.messages(example.item, prompt, image),
                                                        tokenize=False, add_generation_prompt=True)
            answer = generate_target(example, reasons=self.settings.reasons) + self.eos
            texts.append(opened + answer)
            answers.append(answer)
        inputs = self.processor(text=texts, images=list(images), padding=True, return_tensors="pt")
        ids = inputs["input_ids"]
        labels = torch.full_like(ids, -100)
        longest = 0
        for row, (example, answer) in enumerate(zip(examples, answers)):
            answer_ids = self.tokenizer(answer, add_special_tokens=False)["input_ids"]
            n = len(answer_ids)
            if ids[row, -n:].tolist() != answer_ids:
                raise FinetuneError(f"{example.image_path}: the answer's tokens differ inside the chat (the prompt's "
                                    "last token merges with the answer's first); cannot mask the prompt")
            labels[row, -n:] = ids[row, -n:]
            longest = max(longest, n)
        return inputs.to(self.device), labels.to(self.device), longest

    def generate_loss(self, examples: Sequence[Example], images: Sequence[Any]):
        """(mean cross-entropy over answer tokens, number of answer tokens)."""
        import torch

        inputs, labels, longest = self.encode_generate(examples, images)
        keep = longest + 1  # left padding: every answer ends in the last column; keep only those logits
        with self.autocast():
            logits = self.base(**inputs, use_cache=False, logits_to_keep=keep).logits
        predicted = logits[:, :-1].float()
        wanted = labels[:, -(keep - 1):]
        loss = torch.nn.functional.cross_entropy(predicted.reshape(-1, predicted.shape[-1]), wanted.reshape(-1),
                                                 ignore_index=-100)
        return loss, int((wanted != -100).sum())

    def score_loss(self, examples: Sequence[Example], images: Sequence[Any], *, readings: list | None = None):
        """(mean over slots and images of -log p(right candidate), number of slots); ``readings`` collects each
        image's (parsed, probabilities) as the score protocol reads them."""
        import torch

        with self.autocast():
            per_image, _ = self.backend.slot_probabilities([e.item for e in examples], images)
        terms = []
        for example, probs in zip(examples, per_image):
            for slot_field, word in score_targets(example).items():
                slot = next(s for s in SCORE_SLOTS if s.field == slot_field)
                terms.append(-torch.log(probs[slot_field][slot.candidates.index(word)]))
            if readings is not None:
                readings.append(read_score_slots({k: v.detach().tolist() for k, v in probs.items()},
                                                 bool(example.question)))
        return torch.stack(terms).mean().float(), len(terms)

    def loss(self, examples: Sequence[Example], images: Sequence[Any], **kwargs):
        if self.settings.target == SCORE:
            return self.score_loss(examples, images, **kwargs)
        return self.generate_loss(examples, images)

    # -- one optimizer step --

    def step(self, micro_batches: Sequence[tuple[Sequence[Example], Sequence[Any]]]) -> dict[str, Any]:
        """Forward and backward every micro-batch (the loss divided by their number), clip, update, schedule."""
        import torch

        self.base.train()
        total, count, images = 0.0, 0, 0
        for examples, pictures in micro_batches:
            loss, n = self.loss(examples, pictures)
            (loss / len(micro_batches)).backward()
            total += float(loss.detach()) / len(micro_batches)
            count += n
            images += len(examples)
        params = [p for _, p in self.trainable]
        norm = torch.nn.utils.clip_grad_norm_(params, self.settings.max_grad_norm) if self.settings.max_grad_norm > 0 \
            else torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params if p.grad is not None]))
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.scheduler is not None:
            self.scheduler.step()
        return {"loss": total, "lr": lr, "grad_norm": float(norm), "images": images, "tokens": count}

    # -- saving --

    def trainable_state(self) -> dict[str, Any]:
        return {n: p.detach().contiguous().cpu() for n, p in self.trainable}

    def merged_state_dict(self) -> dict[str, Any]:
        """The plain model's weights with the LoRA deltas added (out of place: the adapters stay as they are)."""
        import torch

        modules = dict(self.base.named_modules())
        state = {}
        with torch.no_grad():
            for name, tensor in self.base.state_dict().items():
                if ".lora_" in name:
                    continue
                plain = _plain_name(name)
                if ".base_layer." in name and name.endswith(".weight"):
                    layer = modules[name.rsplit(".base_layer.", 1)[0]]
                    delta = layer.get_delta_weight("default") if "default" in layer.lora_A else 0
                    tensor = tensor + delta.to(tensor.dtype)
                state[plain] = tensor
        return state

    def save_model(self, folder: Path) -> None:
        # With LoRA, self.base is the transformers model with the adapters injected in place: its weights are
        # saved with the adapters merged, under the plain model's names.
        self.base.save_pretrained(folder, state_dict=self.merged_state_dict() if self.peft is not None else None)
        self.processor.save_pretrained(folder)


# --- cost ------------------------------------------------------------------------------------------------------------

def parameter_counts(model, lora_rank: int = 16) -> dict[str, int]:
    """A plain Qwen3-VL's parameters by part (a model on the ``meta`` device will do: nothing is allocated):
    ``vision_encoder`` (frozen), ``mergers`` and ``language_model`` (trained in a full fine-tune), and
    ``lora_adapters``: what LoRA of rank ``lora_rank`` on the language model's linear layers would add."""
    import re

    counts = {"vision_encoder": 0, "mergers": 0, "language_model": 0, "lora_adapters": 0}
    for name, param in model.named_parameters():
        if is_trained(name, lora=True):
            counts["mergers"] += param.numel()
        elif is_trained(name, lora=False):
            counts["language_model"] += param.numel()
        else:
            counts["vision_encoder"] += param.numel()
    pattern = re.compile(LORA_TARGETS)
    for name, module in model.named_modules():
        if pattern.fullmatch(name) and hasattr(module, "in_features"):
            counts["lora_adapters"] += lora_rank * (module.in_features + module.out_features)
    return counts


def state_memory_gib(counts: dict[str, int], *, lora: bool, precision: str) -> float:
    """GiB held by weights, gradients and AdamW state (two moments) during training, activations not included:
    bf16-mixed and fp32 keep every weight in float32 (4 bytes) and each trained one 12 more bytes (gradient and
    two moments); bf16 keeps everything in 2-byte bfloat16 (2 + 2 + 4 bytes per trained weight)."""
    size = 2 if precision == "bf16" else 4
    trained = counts["mergers"] + (counts["lora_adapters"] if lora else counts["language_model"])
    every = (counts["vision_encoder"] + counts["mergers"] + counts["language_model"]
             + (counts["lora_adapters"] if lora else 0))
    return (every * size + trained * 3 * size) / 2**30


# --- validation ------------------------------------------------------------------------------------------------------

def _level_codes(levels: dict[str, str | None]) -> list[int]:
    return [LEVELS.index(levels[a]) if levels.get(a) in LEVELS else -1 for a in ATTRIBUTE_NAMES]


def prediction_metrics(examples: Sequence[Example], predicted: Sequence[tuple[float | None, dict[str, str | None]]]):
    """Level accuracy, SRCC and PLCC of predictions against the examples (an unreadable score is left out of the
    correlations, an unreadable level is wrong), and the share of complete predictions."""
    from portraitcraft import metrics

    truth_levels = np.array([_level_codes(e.levels) for e in examples])
    levels = np.array([_level_codes(p[1]) for p in predicted])
    scores = np.array([np.nan if p[0] is None else p[0] for p in predicted], float)
    truth = np.array([e.total_score for e in examples], float)
    ok = np.isfinite(scores)
    complete = np.mean([(p[0] is not None) and all(v in LEVELS for v in p[1].values()) for p in predicted])
    return {"level_acc": metrics.level_accuracy(levels, truth_levels), "srcc": metrics.srcc(scores[ok], truth[ok]),
            "plcc": metrics.plcc(scores[ok], truth[ok]), "complete": float(complete), "predicted": len(predicted)}


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


# --- the output folder ----------------------------------------------------------------------------------------------

def _write_json(path: Path, content: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(content, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def mark_complete(incoming: Path) -> None:
    """Seal a fully written checkpoint folder: its ``COMPLETE`` file lists every file it holds."""
    files = sorted(p.relative_to(incoming).as_posix() for p in incoming.rglob("*") if p.is_file())
    sealing = incoming / "COMPLETE.tmp"
    sealing.write_text(json.dumps(files) + "\n", encoding="utf-8")
    os.replace(sealing, incoming / "COMPLETE")


def commit_incoming(out: Path) -> None:
    """Move a sealed checkpoint from ``out/.incoming`` into ``out``; drop an unsealed one (a save that was killed).

    Idempotent: a commit killed half-way is finished by the next call (the ``COMPLETE`` list says which files
    belong to the checkpoint, so weight files of an older checkpoint with other shard names are removed and
    the ones already moved are kept)."""
    incoming = out / INCOMING_DIR
    if not incoming.exists():
        return
    try:
        listed = json.loads((incoming / "COMPLETE").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        shutil.rmtree(incoming)
        return
    new = {Path(p) for p in listed}
    if any(p.suffix == ".safetensors" for p in new):  # the weights are replaced as a set (shard names may change)
        for old in list(out.glob("*.safetensors")) + list(out.glob("*.safetensors.index.json")):
            if old.relative_to(out) not in new:
                old.unlink()
    # state.json last: it names the step the checkpoint holds
    for rel in sorted(new, key=lambda p: (p.parts[0] == STATE_DIR and p.name == "state.json", str(p))):
        if (incoming / rel).exists():
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(incoming / rel, target)
    shutil.rmtree(incoming)


def read_log(path: str | os.PathLike):
    """``log.jsonl`` (or the folder holding it) as a pandas frame, one row per record."""
    import pandas as pd

    path = Path(path)
    path = path / LOG_FILE if path.is_dir() else path
    if not path.is_file():
        raise FinetuneError(f"{path}: no training log")
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise FinetuneError(f"{path}:{number}: invalid JSON ({exc.msg})") from exc
    return pd.DataFrame(rows)


def _rewrite_log(path: Path, up_to_step: int) -> None:
    """Keep the log records of steps up to the checkpoint's (later ones are redone on resume)."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by a kill
        if record.get("step", 0) <= up_to_step:
            kept.append(line)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(k + "\n" for k in kept), encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class FinetuneSummary:
    out: Path
    status: str  # "finished", "stopped" (stop_after), "already finished"
    step: int
    total_steps: int
    train_images: int
    validation_images: int
    seconds: float
    first_loss: float | None
    last_loss: float | None
    validation: dict[str, Any] | None
    predict_hint: str
    resumed_from: int | None = None

    def lines(self) -> list[str]:
        out = [f"{self.status}: step {self.step} of {self.total_steps} in {self.out} "
               f"({self.train_images} training, {self.validation_images} validation images; {self.seconds:.1f} s"
               + (f", resumed from step {self.resumed_from}" if self.resumed_from else "") + ")"]
        if self.first_loss is not None:
            out.append(f"training loss: {self.first_loss:.4f} at the first step of this run, {self.last_loss:.4f} "
                       "at the last")
        if self.validation:
            shown = ", ".join(f"{k} {v:.4f}" for k, v in self.validation.items()
                              if isinstance(v, float) and k not in ("epoch", "seconds"))
            out.append(f"validation at step {self.validation['step']}: {shown}")
        out.append(f"predict with: {self.predict_hint}")
        return out


def _same_setting(name: str, before: Any, now: Any) -> bool:
    """Settings equal, or for the data and model, two spellings of one existing folder ("data/lab" from the
    repository and its absolute path from notebooks/ are the same training)."""
    if before == now:
        return True
    if name not in ("data", "model") or not (isinstance(before, str) and isinstance(now, str)):
        return False
    first, second = Path(before).expanduser(), Path(now).expanduser()
    return first.exists() and second.exists() and first.resolve() == second.resolve()


class _Trainer:
    """The run: data, plan, loop, logging, validation, checkpoints, resume."""

    def __init__(self, settings: FinetuneSettings, dataset: Dataset, progress: bool):
        self.s = settings
        self.dataset = dataset
        self.progress = progress
        self.out = Path(settings.out)

    def prepare_out(self) -> dict[str, Any] | None:
        """The previous run's record when resuming; checks that the folder is a fine-tuning output."""
        out = self.out
        if out.exists() and not out.is_dir():
            raise FinetuneError(f"{out}: exists and is not a folder")
        if out.exists():
            commit_incoming(out)
        run_file = out / RUN_FILE
        if not run_file.exists():
            if out.exists() and any(out.iterdir()):
                raise FinetuneError(f"{out}: not empty and holds no {RUN_FILE}; fine-tune into a new or empty folder")
            return None
        try:
            previous = json.loads(run_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise FinetuneError(f"{run_file}: unreadable ({exc})") from exc
        if previous.get("format") != FORMAT:
            raise FinetuneError(f"{run_file}: not a {FORMAT} record")
        before, now = previous.get("settings", {}), self.s.training_key()
        changed = [f"{k}: {before.get(k)!r} -> {now[k]!r}" for k in now if not _same_setting(k, before.get(k), now[k])]
        if changed:
            raise FinetuneError(f"{out}: holds a fine-tuning with other settings ({'; '.join(changed)}); "
                                "use another --out, or the same settings to resume")
        return previous

    def run(self) -> FinetuneSummary:
        import torch

        s = self.s
        started = time.perf_counter()
        previous = self.prepare_out()
        state = None
        if previous is not None:
            state_file = self.out / STATE_DIR / "state.json"
            if state_file.exists():
                state = json.loads(state_file.read_text(encoding="utf-8"))
        data = training_data(self.dataset, s)
        plan = Plan(len(data.train), s.batch_size, s.grad_accum, s.epochs, s.seed, s.max_steps)
        if previous is not None and previous.get("status") == "finished" and state is not None \
                and state["step"] >= plan.total_steps:
            return self._summary("already finished", state["step"], plan, data, started, None, None, None,
                                 previous.get("predict_hint", ""), None)

        tuner = FineTuner(s, resume_from=self.out if state is not None else None)
        tuner.configure_schedule(plan.total_steps)
        step = 0
        if state is not None:
            step = self._load_state(tuner, state)
        self.out.mkdir(parents=True, exist_ok=True)
        log_path = self.out / LOG_FILE
        if state is None:
            log_path.unlink(missing_ok=True)  # a run killed before its first checkpoint starts again
        else:
            _rewrite_log(log_path, step)
        lengths = self._target_lengths(tuner, data.train)
        max_new = max(512, int(math.ceil(lengths["max"] * 1.25 / 64) * 64)) if s.target == GENERATE else None
        hint = (f"portraitcraft predict --model {self.out} --protocol {s.target} --max-pixels {s.max_pixels} "
                f"--min-pixels {s.min_pixels}" + (f" --max-new-tokens {max_new}" if max_new else "")
                + " --data DATA --out PREDICTIONS.jsonl")
        identity = (previous or {}).get("model") if state is not None else None
        record = {"format": FORMAT, "settings": s.training_key(),
                  "runtime": {k: getattr(s, k) for k in s.RUNTIME_FIELDS}, "model": identity or tuner.identity,
                  "data": {"source": s.data, "root": str(self.dataset.root)},
                  "split": data.record(s), "plan": {**asdict(plan), "steps_per_epoch": plan.steps_per_epoch,
                                                    "total_steps": plan.total_steps},
                  "target_tokens": lengths, "precision": tuner.precision, "device": str(tuner.device),
                  "gradient_checkpointing": tuner.checkpointing,
                  "trainable_parameters": sum(p.numel() for _, p in tuner.trainable),
                  "parameters": sum(p.numel() for p in tuner.base.parameters()),
                  "packages": package_versions(("portraitcraft", "torch", "transformers", "peft", "accelerate")),
                  "predict_hint": hint, "status": "running", "step": step,
                  "started": (previous or {}).get("started") or time.strftime("%Y-%m-%dT%H:%M:%S")}
        _write_json(self.out / RUN_FILE, record)
        resumed_from = step or None

        last_validation = None
        if step == 0:
            last_validation = self._validate(tuner, data, step, 0.0, max_new, log_path)
        first_loss = last_loss = None
        stop = plan.total_steps if s.stop_after is None else min(plan.total_steps, s.stop_after)
        from tqdm.auto import tqdm

        bar = tqdm(total=plan.total_steps, initial=step, unit="step", desc=f"finetune {s.target}",
                   disable=not self.progress, dynamic_ncols=True)
        try:
            while step < stop:
                step += 1
                epoch, micro = plan.step(step)
                torch.manual_seed(s.seed * 1_000_003 + step)  # LoRA dropout: the same on resume
                t0 = time.perf_counter()
                batches = self._load_batches(data.train, micro, log_path, step)
                result = tuner.step(batches) if batches else {"loss": math.nan, "lr": 0.0, "grad_norm": math.nan,
                                                               "images": 0, "tokens": 0}
                result = {"kind": "train", "step": step, "epoch": round(epoch, 6), **result,
                          "seconds": time.perf_counter() - t0}
                _append(log_path, result)
                first_loss = result["loss"] if first_loss is None else first_loss
                last_loss = result["loss"]
                bar.update(1)
                bar.set_postfix(loss=f"{result['loss']:.4f}", lr=f"{result['lr']:.2e}", refresh=False)
                final = step == stop
                if final or (s.eval_every and step % s.eval_every == 0):
                    last_validation = self._validate(tuner, data, step, epoch, max_new, log_path)
                if final or (s.save_every and step % s.save_every == 0):
                    status = "finished" if step == plan.total_steps else ("stopped" if final else "running")
                    self._save(tuner, step, plan, record, status)
        finally:
            bar.close()
        status = "finished" if step >= plan.total_steps else "stopped"
        return self._summary(status, step, plan, data, started, first_loss, last_loss, last_validation, hint,
                             resumed_from)

    def _summary(self, status, step, plan, data, started, first, last, validation, hint, resumed_from):
        return FinetuneSummary(self.out, status, step, plan.total_steps, len(data.train), len(data.validation),
                               time.perf_counter() - started, first, last, validation, hint, resumed_from)

    def _target_lengths(self, tuner: FineTuner, examples: Sequence[Example]) -> dict[str, Any]:
        """Answer lengths in the model's tokens (generate) or slots (score), over the training examples."""
        if self.s.target == SCORE:
            counts = [len(score_targets(e)) for e in examples]
            return {"unit": "slots", "mean": float(np.mean(counts)), "max": int(max(counts))}
        counts = [len(tuner.tokenizer(generate_target(e, reasons=self.s.reasons) + tuner.eos,
                                      add_special_tokens=False)["input_ids"]) for e in examples]
        return {"unit": "tokens", "mean": float(np.mean(counts)), "max": int(max(counts))}

    def _load_batches(self, examples: Sequence[Example], micro: list[list[int]], log_path: Path, step: int):
        from portraitcraft.images import ImageError

        batches = []
        for indices in micro:
            chosen, images = [], []
            for i in indices:
                example = examples[i]
                try:
                    images.append(self.dataset.open_image(example.image_path, max_side=self.s.max_side))
                    chosen.append(example)
                except (ImageError, OSError) as exc:
                    _append(log_path, {"kind": "skipped_image", "step": step, "image_path": example.image_path,
                                       "error": str(exc)})
            if chosen:
                batches.append((chosen, images))
        return batches

    def _validate(self, tuner: FineTuner, data: TrainingData, step: int, epoch: float, max_new: int | None,
                  log_path: Path) -> dict[str, Any] | None:
        import torch

        s = self.s
        if not data.validation:
            return None
        t0 = time.perf_counter()
        tuner.base.eval()
        total, count, readings, used = 0.0, 0, [], []
        batches = [data.validation[i:i + s.batch_size] for i in range(0, len(data.validation), s.batch_size)]
        if s.validation_batches is not None:
            batches = batches[:s.validation_batches]
        with torch.no_grad():
            for examples in batches:
                images = [self.dataset.open_image(e.image_path, max_side=s.max_side) for e in examples]
                if s.target == SCORE:
                    loss, n = tuner.score_loss(examples, images, readings=readings)
                else:
                    loss, n = tuner.generate_loss(examples, images)
                total += float(loss) * n
                count += n
                used += examples
        result: dict[str, Any] = {"kind": "validation", "step": step, "epoch": round(epoch, 6),
                                  "loss": total / count, "images": len(used)}
        if s.target == SCORE:
            predicted = [(p["total_score"], p["criteria"]) for p, _ in readings]
            result.update(prediction_metrics(used, predicted))
        elif s.validation_predict:
            chosen = data.validation[:s.validation_predict]
            tuner.backend.generation.max_new_tokens = max_new
            predicted = []
            with tuner.autocast():
                for i in range(0, len(chosen), s.batch_size):
                    examples = chosen[i:i + s.batch_size]
                    images = [self.dataset.open_image(e.image_path, max_side=s.max_side) for e in examples]
                    for outcome in tuner.backend.predict([e.item for e in examples], images):
                        predicted.append((outcome.parsed.total_score, outcome.parsed.levels))
            result.update(prediction_metrics(chosen, predicted))
        result = {k: _finite(v) for k, v in result.items()}
        result["seconds"] = time.perf_counter() - t0
        tuner.base.train()
        _append(log_path, result)
        return result

    def _save(self, tuner: FineTuner, step: int, plan: Plan, record: dict[str, Any], status: str) -> None:
        import torch

        incoming = self.out / INCOMING_DIR
        if incoming.exists():
            shutil.rmtree(incoming)
        incoming.mkdir(parents=True)
        tuner.save_model(incoming)
        state_dir = incoming / STATE_DIR
        state_dir.mkdir()
        torch.save({"optimizer": tuner.optimizer.state_dict(), "scheduler": tuner.scheduler.state_dict()},
                   state_dir / "optimizer.pt")
        if tuner.peft is not None:
            from safetensors.torch import save_file

            save_file(tuner.trainable_state(), str(state_dir / "trainable.safetensors"))
        (state_dir / "state.json").write_text(json.dumps({"step": step, "total_steps": plan.total_steps,
                                                          "lora": tuner.peft is not None}) + "\n", encoding="utf-8")
        record.update(status=status, step=step, saved=time.strftime("%Y-%m-%dT%H:%M:%S"))
        _write_json(incoming / RUN_FILE, record)
        mark_complete(incoming)
        commit_incoming(self.out)

    def _load_state(self, tuner: FineTuner, state: dict[str, Any]) -> int:
        import torch

        state_dir = self.out / STATE_DIR
        if state.get("lora"):
            from safetensors.torch import load_file

            saved = load_file(str(state_dir / "trainable.safetensors"))
            params = dict(tuner.trainable)
            if set(saved) != set(params):
                raise FinetuneError(f"{state_dir / 'trainable.safetensors'}: its parameters do not match the model's")
            with torch.no_grad():
                for name, value in saved.items():
                    params[name].copy_(value)
        try:
            saved = torch.load(state_dir / "optimizer.pt", map_location=tuner.device, weights_only=True)
        except (OSError, RuntimeError) as exc:
            raise FinetuneError(f"{state_dir / 'optimizer.pt'}: cannot read ({exc})") from exc
        tuner.optimizer.load_state_dict(saved["optimizer"])
        tuner.scheduler.load_state_dict(saved["scheduler"])
        return int(state["step"])


def _append(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({k: _finite(v) for k, v in record.items()}) + "\n")


def demo_run_dir(parent: str | os.PathLike, data_root: str | os.PathLike, *, images: int, steps: int,
                 seed: int) -> Path:
    """The folder of the book's demonstration run of these settings on this dataset: named after the dataset's
    folder and a digest of its resolved location, so that the book run on another dataset makes its own run
    instead of finding the lab's and refusing it (a run folder resumes only its own settings)."""
    root = Path(data_root).expanduser().resolve()
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:8]
    return Path(parent) / f"run-{root.name}-{digest}-{images}x{steps}-seed{seed}"


def run_finetune(settings: FinetuneSettings, *, dataset: Dataset | None = None,
                 progress: bool = True) -> FinetuneSummary:
    """Fine-tune (or resume, or report an already finished run) as the settings say; see the module docstring."""
    from portraitcraft.data import DataError, open_dataset

    if dataset is None:
        try:
            dataset = open_dataset(settings.data)
        except DataError as exc:
            raise FinetuneError(str(exc)) from exc
    return _Trainer(settings, dataset, progress).run()


__all__ = ["FORMAT", "TARGETS", "Example", "FineTuner", "FinetuneError", "FinetuneSettings", "FinetuneSummary", "Plan",
           "commit_incoming", "generate_target", "lr_factor", "mark_complete", "parameter_counts", "prediction_metrics",
           "quality_word", "read_log", "run_finetune", "score_target_text", "score_targets", "state_memory_gib",
           "training_data"]
