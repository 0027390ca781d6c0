"""Fine-tuning's data: the training and validation examples (the validation split is `portraitcraft.labels`'), and
the plan of which images each optimizer step sees, with the learning-rate schedule."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from portraitcraft.attributes import ATTRIBUTE_KEYS, ATTRIBUTE_NAMES
from portraitcraft.data import Dataset
from portraitcraft.finetune.settings import Example, FinetuneError, FinetuneSettings
from portraitcraft.labels import fully_labelled, labelled_images, validation_split

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
    """The training and validation examples: the fully labelled training images split by
    `portraitcraft.labels.validation_split`."""
    skipped: dict[str, list[str]] = {}
    if settings.validation_fraction == 0:  # every fully labelled training record, none held out (the reference)
        labelled = fully_labelled(labelled_images(dataset))
        fit = sorted(labelled.loc[labelled["split"] == "train", "image_path"])
        validation = []
    else:
        try:
            truth, fit = validation_split(dataset, fraction=settings.validation_fraction, seed=settings.seed)
        except ValueError as exc:
            raise FinetuneError(f"{dataset.root / 'track_1_train.json'}: {exc}") from exc
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

    @classmethod
    def of(cls, settings: FinetuneSettings, n_train: int) -> Plan:
        """The plan of a run of these settings over ``n_train`` training images."""
        return cls(n_train, settings.batch_size, settings.grad_accum, settings.epochs, settings.seed,
                   settings.max_steps)

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


def lr_factor(step: int, total: int, warmup_ratio: float, formula: str = "(s+1)/(w+1)") -> float:
    """Linear warm-up over ceil(warmup_ratio * total) steps, then cosine decay to 0. During the warm-up the factor at
    step s of w is s/w (transformers' ``get_cosine_schedule_with_warmup``, the reference's: its first step has a
    learning rate of 0) or (s+1)/(w+1) (ours: every step updates)."""
    warmup = math.ceil(warmup_ratio * total)
    if step < warmup:
        return step / warmup if formula == "s/w" else (step + 1) / (warmup + 1)
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
