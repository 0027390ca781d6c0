"""LoRA fine-tuning of a Qwen-Image pipeline's transformer on the Track 2 training split (the fine-tuned generator of
the paper's Figure 3), resumable, with two recipes: ``ours`` (the default) and ``reference`` (the public reference
code's).

For example::

    from portraitcraft.track2.finetune import LoraSettings, run_lora_finetune

    settings = LoraSettings(data="data/lab", model="Qwen/Qwen-Image",
                            out="runs/qwen-image-lora")
    summary = run_lora_finetune(settings)
    # then: portraitcraft track2 generate --lora runs/qwen-image-lora ...

Two recipes (``recipe``; `portraitcraft.track2.recipes` shows them side by side with the reference's files and lines)
    Shared: LoRA rank 64 (alpha 64, Gaussian initialisation) on the transformer's attention projections to_q, to_k,
    to_v and to_out.0; AdamW (0.9, 0.999), weight decay 0.01, eps 1e-8, learning rate 1e-4 with 500 linear warm-up
    steps and a cosine decay to 0 at step 12,000; gradient norm clipped to 1.0; batch 1; bf16 on CUDA (fp32 on the
    CPU); caption dropout 0.15 (the prompt becomes " "); a checkpoint every 500 steps. The prompt is the generation
    prompt with the "AES_COMP, " trigger (`track2.generate.generation_prompt`).
    ``reference`` (the public reference code, run as its run.sh does on 4 processes): 16 images per optimizer step
    (here 16 accumulation steps on one process: the same samples per step), LoRA weights and their AdamW state in
    the model's dtype (bf16 on CUDA), every image drawn at random with replacement, and its resize chain: the long
    side to 1024 and the short side floored (``int``), then both sides floored to a multiple of 32, two resizes with
    PIL's default filter. Not matched: the reference sets no seed, and builds the noisy latents in bf16.
    ``ours`` (the default): 4 images per step (4 accumulation steps; a quarter of the reference's samples over the
    same 12,000 steps, for a single GPU's time), LoRA weights in fp32 (a 1e-4 update is not lost to bf16 rounding),
    every image once per pass in a seeded order, and one LANCZOS resize from the full image to the reference's final
    size (one resampling instead of two).
The loss, as the pipeline's scheduler defines flow matching
    x0 = the VAE latents of the image, normalised by the VAE's latents_mean and latents_std; a training step index
    drawn uniformly from the scheduler's ``num_train_timesteps``, its sigma from the scheduler's own sigma table;
    x_t = (1 - sigma) x0 + sigma noise; the transformer predicts the velocity noise - x0 from the packed x_t at
    timestep t / 1000 (as the pipeline calls it); loss = mean squared error, unweighted.
Determinism and resumption
    Which image, the caption dropout, the VAE sample, the noise and the timestep of every micro-batch are drawn
    from (seed, step, micro-batch) alone, so a run stopped at a checkpoint and resumed reaches the same weights as an
    uninterrupted one. One learning-rate scheduler step per optimizer step.
The output folder
    run.json (the settings; a different configuration on the same folder is refused), log.jsonl (one record per
    optimizer step: loss, learning rate, gradient norm, seconds), checkpoint-NNNNNN/ (pytorch_lora_weights.safetensors
    in diffusers' LoRA format, optimizer.pt, state.json; the last ``keep_checkpoints``), and the latest LoRA weights
    in the folder itself, so ``track2 generate --lora OUT`` loads them. One writer at a time (OUT.lock names the
    holder).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Final

import numpy as np

from portraitcraft.exceptions import PortraitCraftError
from portraitcraft.outputs import OutputError, OutputLock
from portraitcraft.provenance import (
    append_json_line,
    package_versions,
    previous_run,
    read_json_lines,
    truncate_json_lines,
    write_json,
)
from portraitcraft.track2.generate import (
    REFERENCE_MODEL,
    TRIGGER,
    GenerationError,
    generation_prompt,
    locate_pipeline,
    resolve_device,
)

FORMAT: Final[str] = "portraitcraft.track2.lora/1"
RUN_FILE: Final[str] = "run.json"
LOG_FILE: Final[str] = "log.jsonl"
LORA_FILE: Final[str] = "pytorch_lora_weights.safetensors"  # the name diffusers' load_lora_weights looks for
TARGET_MODULES: Final[tuple[str, ...]] = ("to_q", "to_k", "to_v", "to_out.0")
DROPPED_CAPTION: Final[str] = " "
PRECISIONS: Final[tuple[str, ...]] = ("auto", "bf16", "fp32")
RECIPES: Final[tuple[str, ...]] = ("ours", "reference")
LORA_DTYPES: Final[tuple[str, ...]] = ("fp32", "model")
DATA_ORDERS: Final[tuple[str, ...]] = ("epochs", "with_replacement")
RESIZES: Final[tuple[str, ...]] = ("single", "reference")


class LoraFinetuneError(PortraitCraftError):
    """A fine-tuning that cannot start or go on (data, model, folder of another configuration); says why."""


@dataclass(frozen=True)
class LoraSettings:
    """The configuration of one LoRA fine-tuning; the defaults are the ``ours`` recipe, `LoraSettings.of_recipe`
    gives either (module docstring)."""

    data: str
    out: str
    recipe: str = "ours"  # the named recipe these settings start from; recorded
    model: str = REFERENCE_MODEL
    split: str = "train"
    rank: int = 64
    alpha: int | None = None  # None: the rank (scale 1)
    lr: float = 1e-4
    warmup_steps: int = 500
    max_train_steps: int = 12_000
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    weight_decay: float = 0.01
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    batch_size: int = 1
    grad_accum: int = 4
    caption_dropout: float = 0.15
    resolution: int = 1024
    trigger: str = TRIGGER
    max_sequence_length: int = 1024
    precision: str = "auto"  # bf16 on cuda, fp32 on cpu
    seed: int = 0
    lora_dtype: str = "fp32"  # the adapters' weights and AdamW state: fp32, or "model": the model's (bf16 on CUDA)
    data_order: str = "epochs"  # "epochs": each image once per pass, or "with_replacement": random draws
    resize: str = "single"  # "single": one LANCZOS resize to the reference's final size; "reference": its two
    limit: int | None = None  # the first N training images only
    # how the run is carried out, not what it learns (may change between a stop and a resume)
    save_every: int = 500
    keep_checkpoints: int = 10
    stop_after: int | None = None
    device: str = "auto"
    gradient_checkpointing: bool | None = None  # None: on for cuda

    RUNTIME_FIELDS: ClassVar[tuple[str, ...]] = ("save_every", "keep_checkpoints", "stop_after", "device",
                                                 "gradient_checkpointing")

    def __post_init__(self) -> None:
        for name, allowed in (("recipe", RECIPES), ("precision", PRECISIONS), ("lora_dtype", LORA_DTYPES),
                              ("data_order", DATA_ORDERS), ("resize", RESIZES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} {getattr(self, name)!r}: expected one of {', '.join(allowed)}")
        for name in ("rank", "max_train_steps", "batch_size", "grad_accum", "resolution"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} {getattr(self, name)}: must be at least 1")
        if not 0 <= self.caption_dropout <= 1:
            raise ValueError(f"caption_dropout {self.caption_dropout}: expected 0 to 1")
        if self.resolution % 32:
            raise ValueError(f"resolution {self.resolution}: must be a multiple of 32")

    def training_key(self) -> dict[str, Any]:
        """What decides the trained weights: a resumed run must have exactly these."""
        values = asdict(self)
        for name in (*self.RUNTIME_FIELDS, "out"):
            values.pop(name, None)
        return values

    @classmethod
    def of_recipe(cls, recipe: str = "ours", **changes: Any) -> LoraSettings:
        """The settings of a named recipe (`RECIPE_VALUES`) with ``changes`` on top (``data`` and ``out`` among them
        when training)."""
        if recipe not in RECIPES:
            raise ValueError(f"recipe {recipe!r}: expected one of {', '.join(RECIPES)}")
        return cls(**{"data": "lab", "out": "runs/track2-lora", **RECIPE_VALUES[recipe], **changes, "recipe": recipe})

    @property
    def effective_batch(self) -> int:
        """Images per optimizer step (batch x accumulation, one process)."""
        return self.batch_size * self.grad_accum


# The settings added with the recipes, as every run written before them trained (recipe "ours"; its resize then
# floored the long side of an image under 1024 px to 992, fixed since): such a run resumes.
BEFORE_RECIPES: dict[str, Any] = dict(recipe="ours", lora_dtype="fp32", data_order="epochs", resize="single")

# What each recipe sets; the rest is the dataclass default, the same in both (the module docstring says why ours
# differs). ``reference``: qwen-image-finetune's run.sh, train_configs/train_lora.yaml, train.py and
# image_datasets/dataset.py (files and lines in `portraitcraft.track2.recipes`).
RECIPE_VALUES: dict[str, dict[str, Any]] = {
    "ours": {},
    "reference": dict(grad_accum=16, lora_dtype="model", data_order="with_replacement", resize="reference"),
}


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Multiplier of the learning rate after ``step`` optimizer steps: linear warm-up, then a half cosine to 0
    (diffusers' ``get_cosine_schedule_with_warmup``, one cycle)."""
    if step < warmup:
        return step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0))))


def training_size(width: int, height: int, resolution: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """((width, height) after the reference's first resize, the final (width, height)): the long side set to
    ``resolution`` and the short one scaled and floored by ``int``, then both floored to a multiple of 32 (at least
    32). 1003 x 700 -> (1024, 714) -> (1024, 704); 1103 x 827 -> (1024, 767) -> (1024, 736)."""
    if width >= height:
        first = (resolution, int((resolution / width) * height))
    else:
        first = (int((resolution / height) * width), resolution)
    return first, (max(32, first[0] // 32 * 32), max(32, first[1] // 32 * 32))


def training_image(image, resolution: int, resize: str = "single"):
    """The training image as a (3, 1, H, W) tensor in [-1, 1] (one frame, as Qwen-Image's VAE expects), at
    `training_size`'s final size, from the full-size decoded ``image``: ``resize="reference"`` resizes twice with PIL's
    default filter as the reference does, ``"single"`` once with LANCZOS."""
    import torch
    from PIL import Image

    image = image.convert("RGB")
    first, final = training_size(*image.size, resolution)
    if resize == "reference":
        image = image.resize(first).resize(final)
    else:
        image = image.resize(final, Image.Resampling.LANCZOS)
    pixels = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(1)


@dataclass(frozen=True)
class TrainingExample:
    image_path: str
    prompt: str


def training_examples(settings: LoraSettings, skipped: list[str]):
    """(dataset, examples): the Track 2 records of the split whose image is present, with their prompts."""
    from portraitcraft.data import DataError
    from portraitcraft.sources import open_dataset

    try:
        dataset = open_dataset(settings.data)
    except DataError as exc:
        raise LoraFinetuneError(str(exc)) from exc
    frame = dataset.descriptions()
    frame = frame[frame["split"] == settings.split]
    examples = []
    for row in frame.itertuples():
        if row.image_file is None:
            skipped.append(f"{row.image_path}: image not found")
            continue
        examples.append(TrainingExample(row.image_path, generation_prompt(
            row.content_description or "", row.composition_analysis or "", trigger=settings.trigger)))
    examples = examples[:settings.limit] if settings.limit is not None else examples
    if not examples:
        raise LoraFinetuneError(f"{settings.data}: no Track 2 {settings.split} record with its image")
    return dataset, examples


class MicroBatchPlan:
    """Which examples, dropped captions and random streams each micro-batch of each step uses: a function of
    (seed, step, micro-batch) only, so that resuming repeats exactly what an uninterrupted run does. Examples are
    visited in a new random order every pass over the data (``data_order="epochs"``), or drawn with replacement
    (``"with_replacement"``, the reference's)."""

    def __init__(self, n_examples: int, batch_size: int, grad_accum: int, caption_dropout: float, seed: int,
                 data_order: str = "epochs"):
        self.n, self.batch, self.accum = n_examples, batch_size, grad_accum
        self.dropout, self.seed, self.data_order = caption_dropout, seed, data_order

    def _order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, 1, epoch]).permutation(self.n)

    def micro(self, step: int, micro: int) -> tuple[list[int], list[bool], int]:
        """(example indices, caption dropped?, torch seed) of micro-batch ``micro`` of optimizer step ``step``
        (counted from 1)."""
        first = ((step - 1) * self.accum + micro) * self.batch
        if self.data_order == "with_replacement":  # the reference: each sample any image, uniformly
            draws = np.random.default_rng([self.seed, 3, step, micro]).integers(self.n, size=self.batch)
            indices = [int(i) for i in draws]
        else:
            indices = [int(self._order(k // self.n)[k % self.n]) for k in range(first, first + self.batch)]
        rng = np.random.default_rng([self.seed, 2, step, micro])
        dropped = [bool(rng.random() < self.dropout) for _ in indices]
        return indices, dropped, int(rng.integers(2**62))


class LoraTrainer:
    """The pipeline's components with a LoRA adapter on the transformer, an optimizer and a schedule; `step` runs one
    optimizer step over its micro-batches. Used by the command and by the GPU benchmark."""

    def __init__(self, settings: LoraSettings, *, pipeline_folder: str | os.PathLike | None = None,
                 pipeline: Any = None, progress: bool = True):
        import torch
        from diffusers import DiffusionPipeline, FlowMatchEulerDiscreteScheduler
        from peft import LoraConfig

        from portraitcraft.progress import quiet_library_bars

        s = self.settings = settings
        self.device = torch.device(resolve_device(s.device))
        precision = s.precision if s.precision != "auto" else ("bf16" if self.device.type == "cuda" else "fp32")
        self.precision = precision
        self.dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        if pipeline is not None:  # built by the caller (the GPU benchmark's random weights), in self.dtype
            pipe = pipeline
        else:
            folder = pipeline_folder if pipeline_folder is not None else locate_pipeline(s.model)[0]
            quiet_library_bars(progress, using=("diffusers", "transformers", "huggingface_hub"))
            try:
                pipe = DiffusionPipeline.from_pretrained(folder, dtype=self.dtype, use_safetensors=True)
            except Exception as exc:  # safetensors' and torch's own errors for damaged weights too
                raise LoraFinetuneError(f"{s.model}: cannot load the pipeline ({exc})") from exc
        for name in ("transformer", "vae", "text_encoder", "scheduler"):
            if getattr(pipe, name, None) is None:
                raise LoraFinetuneError(f"{s.model}: {type(pipe).__name__} has no {name}; "
                                        "a Qwen-Image pipeline is needed")
        pipe.set_progress_bar_config(disable=True)
        self.pipe = pipe.to(self.device)
        self.transformer, self.vae = pipe.transformer, pipe.vae
        self.vae.requires_grad_(False)
        pipe.text_encoder.requires_grad_(False)
        self.transformer.requires_grad_(False)
        with torch.random.fork_rng(devices=[]):  # the adapter's initial weights depend on the seed only
            torch.manual_seed(s.seed)
            self.transformer.add_adapter(LoraConfig(r=s.rank, lora_alpha=s.alpha or s.rank,
                                                    init_lora_weights="gaussian", target_modules=list(TARGET_MODULES)))
        self.trainable = [(n, p) for n, p in self.transformer.named_parameters() if p.requires_grad]
        self.lora_dtype = torch.float32 if s.lora_dtype == "fp32" else self.dtype
        for _, parameter in self.trainable:  # fp32 adapters over bf16 weights (ours); the reference keeps bf16
            parameter.data = parameter.data.to(self.lora_dtype)
        checkpointing = s.gradient_checkpointing if s.gradient_checkpointing is not None else self.device.type == "cuda"
        if checkpointing:
            self.transformer.enable_gradient_checkpointing()
        self.checkpointing = bool(checkpointing)
        self.transformer.train()
        # A fresh copy: the pipeline's own scheduler is changed by every set_timesteps of an inference.
        self.noise_schedule = FlowMatchEulerDiscreteScheduler.from_config(pipe.scheduler.config)
        self.optimizer = torch.optim.AdamW([p for _, p in self.trainable], lr=s.lr, betas=(s.adam_beta1, s.adam_beta2),
                                           weight_decay=s.weight_decay, eps=s.adam_epsilon)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(step, s.warmup_steps, s.max_train_steps))
        config = self.vae.config
        self.latents_mean = torch.tensor(config.latents_mean).view(1, config.z_dim, 1, 1, 1)
        self.latents_std = torch.tensor(config.latents_std).view(1, config.z_dim, 1, 1, 1)

    def autocast(self):
        import contextlib

        import torch

        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def loss(self, pixels, prompts: Sequence[str], seed: int):
        """Flow-matching loss of a batch of (3, 1, H, W) images of one size and their prompts (module docstring)."""
        import torch
        from diffusers import QwenImagePipeline

        generator = torch.Generator(device="cpu").manual_seed(seed)
        with torch.no_grad():
            pixels = pixels.to(self.device, self.vae.dtype)
            posterior = self.vae.encode(pixels).latent_dist
            sample_noise = torch.randn(posterior.mean.shape, generator=generator).to(self.device, posterior.mean.dtype)
            latents = (posterior.mean + posterior.std * sample_noise).float()  # a sample of the posterior
            x0 = (latents - self.latents_mean.to(self.device)) / self.latents_std.to(self.device)
            embeds, mask = self.pipe.encode_prompt(prompt=list(prompts), device=self.device, num_images_per_prompt=1,
                                                   max_sequence_length=self.settings.max_sequence_length)
            batch, channels, _, height, width = x0.shape
            noise = torch.randn(x0.shape, generator=generator).to(self.device)
            index = (torch.rand(batch, generator=generator) * self.noise_schedule.config.num_train_timesteps).long()
            timesteps = self.noise_schedule.timesteps[index].to(self.device)
            sigmas = self.noise_schedule.sigmas[index].to(self.device).view(batch, 1, 1, 1, 1)
            noisy = (1.0 - sigmas) * x0 + sigmas * noise
            packed = QwenImagePipeline._pack_latents(noisy, batch, channels, height, width)
        with self.autocast():
            prediction = self.transformer(
                hidden_states=packed.to(self.dtype),
                timestep=(timesteps / 1000).to(self.dtype),
                encoder_hidden_states=embeds,
                encoder_hidden_states_mask=mask,
                img_shapes=[[(1, height // 2, width // 2)]] * batch,
                return_dict=False,
            )[0]
        vae_scale = 2 ** len(self.vae.temperal_downsample)
        prediction = QwenImagePipeline._unpack_latents(prediction, height * vae_scale, width * vae_scale, vae_scale)
        return torch.mean((prediction.float() - (noise - x0)) ** 2)

    def step(self, micro_batches: Sequence[tuple[Any, Sequence[str], int]]) -> dict[str, float]:
        """One optimizer step over (pixels, prompts, seed) micro-batches: mean loss, learning rate, gradient norm."""
        import torch

        lr = self.scheduler.get_last_lr()[0]
        total = 0.0
        for pixels, prompts, seed in micro_batches:
            loss = self.loss(pixels, prompts, seed) / len(micro_batches)
            loss.backward()
            total += float(loss.detach())
        norm = torch.nn.utils.clip_grad_norm_([p for _, p in self.trainable], self.settings.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return {"loss": total, "lr": lr, "grad_norm": float(norm)}

    def lora_state(self) -> dict[str, Any]:
        """The adapter's weights in diffusers' LoRA format (what ``load_lora_weights`` reads)."""
        from diffusers.utils import convert_state_dict_to_diffusers
        from peft.utils import get_peft_model_state_dict

        return convert_state_dict_to_diffusers(get_peft_model_state_dict(self.transformer))

    def save_lora(self, folder: Path) -> None:
        from diffusers import QwenImagePipeline

        QwenImagePipeline.save_lora_weights(folder, transformer_lora_layers=self.lora_state(), safe_serialization=True)

    def load_lora(self, folder: Path) -> None:
        from diffusers.utils import convert_unet_state_dict_to_peft
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        # diffusers' names (lora.down, lora.up) back to peft's (lora_A, lora_B)
        saved = load_file(str(folder / LORA_FILE))
        state = convert_unet_state_dict_to_peft({k.removeprefix("transformer."): v for k, v in saved.items()})
        result = set_peft_model_state_dict(self.transformer, state)
        unexpected = getattr(result, "unexpected_keys", None)
        missing = [k for k in getattr(result, "missing_keys", []) if "lora_" in k]
        if unexpected or missing:
            example = (unexpected or missing)[0]
            raise LoraFinetuneError(f"{folder / LORA_FILE}: do not match the adapter ({len(unexpected)} unexpected, "
                                    f"{len(missing)} missing, e.g. {example})")
        for _, parameter in self.trainable:
            parameter.data = parameter.data.to(self.lora_dtype)


# ---- the run ------------------------------------------------------------------------------------------------------

@dataclass
class LoraSummary:
    out: Path
    status: str  # "finished", "stopped", "already finished"
    step: int
    total_steps: int
    images: int
    seconds: float
    first_loss: float | None
    last_loss: float | None
    resumed_from: int | None
    skipped: list[str]

    def lines(self) -> list[str]:
        losses = "" if self.first_loss is None else f"; loss {self.first_loss:.4f} -> {self.last_loss:.4f}"
        resumed = f" (resumed from step {self.resumed_from})" if self.resumed_from else ""
        lines = [f"{self.status} at step {self.step} of {self.total_steps}{resumed}, {self.images} training images, "
                 f"{self.seconds:.1f} s{losses}"]
        if self.skipped:
            lines.append(f"  {len(self.skipped)} record(s) skipped, e.g. {self.skipped[0]}")
        lines.append(f"LoRA weights: {self.out}; generate with: portraitcraft track2 generate --lora {self.out} "
                     "--model MODEL --descriptions FILE --out DIR")
        return lines


def _checkpoints(out: Path) -> list[tuple[int, Path]]:
    found = []
    for folder in out.glob("checkpoint-*"):
        if (folder / "state.json").is_file():  # written last: a checkpoint without it is incomplete
            try:
                found.append((int(folder.name.split("-")[1]), folder))
            except ValueError:
                continue
    return sorted(found)


def read_lora_log(path: str | os.PathLike):
    """log.jsonl (or the run folder holding it) as a pandas frame."""
    import pandas as pd

    path = Path(path)
    return pd.DataFrame(read_json_lines(path / LOG_FILE if path.is_dir() else path))


def _check_out(out: Path, settings: LoraSettings) -> dict[str, Any] | None:
    return previous_run(out, RUN_FILE, FORMAT, settings.training_key(), error=LoraFinetuneError,
                        absent=BEFORE_RECIPES)


def run_lora_finetune(settings: LoraSettings, *, progress: bool = True) -> LoraSummary:
    """Train (or resume, or report an already finished run) as the settings say; see the module docstring."""
    import torch

    from portraitcraft.progress import progress_bar

    s = settings
    started = time.perf_counter()
    out = Path(s.out)
    _check_out(out, s)  # before the lock and the model: a wrong folder is said at once
    out.mkdir(parents=True, exist_ok=True)
    try:
        lock = OutputLock(out, "portraitcraft track2 finetune").acquire()
    except OutputError as exc:
        raise LoraFinetuneError(str(exc)) from exc
    try:
        previous = _check_out(out, s)
        skipped: list[str] = []
        dataset, examples = training_examples(s, skipped)
        checkpoints = _checkpoints(out)
        step = checkpoints[-1][0] if checkpoints else 0
        if previous is not None and step >= s.max_train_steps:
            return LoraSummary(out, "already finished", step, s.max_train_steps, len(examples),
                               time.perf_counter() - started, None, None, None, skipped)
        try:
            trainer = LoraTrainer(s, progress=progress)
        except GenerationError as exc:
            raise LoraFinetuneError(str(exc)) from exc
        if checkpoints:
            folder = checkpoints[-1][1]
            try:  # weights_only: tensors and plain containers only; a pickle of anything else is refused, never run
                trainer.load_lora(folder)
                state = torch.load(folder / "optimizer.pt", map_location=trainer.device, weights_only=True)
                trainer.optimizer.load_state_dict(state["optimizer"])
                trainer.scheduler.load_state_dict(state["scheduler"])
            except Exception as exc:  # unpickling refusals, safetensors' and torch's errors for damaged files
                raise LoraFinetuneError(f"{folder}: cannot resume from this checkpoint ({type(exc).__name__}: "
                                        f"{str(exc).splitlines()[0][:200] if str(exc) else ''})") from exc
        log = out / LOG_FILE
        if step:
            truncate_json_lines(log, step)
        else:
            log.unlink(missing_ok=True)
        record = {
            "format": FORMAT,
            "settings": s.training_key(),
            "runtime": {k: getattr(s, k) for k in s.RUNTIME_FIELDS},
            "model": (previous or {}).get("model") or locate_pipeline(s.model)[1],
            "images": [e.image_path for e in examples],
            "skipped": skipped,
            "precision": trainer.precision,
            "device": str(trainer.device),
            "gradient_checkpointing": trainer.checkpointing,
            "trainable_parameters": sum(p.numel() for _, p in trainer.trainable),
            "packages": package_versions(
                ("portraitcraft", "torch", "diffusers", "transformers", "peft"), with_python=True
            ),
            "started": (previous or {}).get("started") or time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        write_json(out / RUN_FILE, record)
        plan = MicroBatchPlan(len(examples), s.batch_size, s.grad_accum, s.caption_dropout, s.seed, s.data_order)
        stop = s.max_train_steps if s.stop_after is None else min(s.max_train_steps, s.stop_after)
        resumed_from, first, last = step or None, None, None
        bar = progress_bar(s.max_train_steps, initial=step, unit="step", desc="track2 finetune", enabled=progress)
        try:
            while step < stop:
                step += 1
                t0 = time.perf_counter()
                micro_batches = []
                for micro in range(s.grad_accum):
                    indices, dropped, seed = plan.micro(step, micro)
                    chosen = [examples[i] for i in indices]
                    pixels = torch.stack([training_image(dataset.open_image(e.image_path, max_side=None),
                                                         s.resolution, s.resize) for e in chosen])
                    prompts = [DROPPED_CAPTION if d else e.prompt for e, d in zip(chosen, dropped)]
                    micro_batches.append((pixels, prompts, seed))
                result = trainer.step(micro_batches)
                append_json_line(log, {"step": step, **result, "seconds": round(time.perf_counter() - t0, 4)})
                first = result["loss"] if first is None else first
                last = result["loss"]
                bar.update(1)
                bar.set_postfix(loss=f"{last:.4f}", lr=f"{result['lr']:.2e}", refresh=False)
                if step == stop or (s.save_every and step % s.save_every == 0):
                    _save_checkpoint(trainer, out, step, s.keep_checkpoints)
        finally:
            bar.close()
        status = "finished" if step >= s.max_train_steps else "stopped"
        return LoraSummary(out, status, step, s.max_train_steps, len(examples), time.perf_counter() - started, first,
                           last, resumed_from, skipped)
    finally:
        lock.release()


def _save_checkpoint(trainer: LoraTrainer, out: Path, step: int, keep: int) -> None:
    import torch

    folder = out / f"checkpoint-{step:06d}"
    incoming = out / f".incoming-{step:06d}"
    shutil.rmtree(incoming, ignore_errors=True)
    incoming.mkdir()
    trainer.save_lora(incoming)
    torch.save({"optimizer": trainer.optimizer.state_dict(), "scheduler": trainer.scheduler.state_dict()},
               incoming / "optimizer.pt")
    (incoming / "state.json").write_text(json.dumps({"step": step}) + "\n", encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(incoming, folder)
    # The latest weights also in OUT itself, so that `--lora OUT` loads them.
    tmp = out / f".{LORA_FILE}.tmp"
    shutil.copyfile(folder / LORA_FILE, tmp)
    os.replace(tmp, out / LORA_FILE)
    for _, old in _checkpoints(out)[:-keep] if keep > 0 else []:
        shutil.rmtree(old)


__all__ = ["FORMAT", "LORA_FILE", "TARGET_MODULES", "LoraFinetuneError", "LoraSettings", "LoraSummary", "LoraTrainer",
           "MicroBatchPlan", "RECIPES", "RECIPE_VALUES", "lr_factor", "read_lora_log", "run_lora_finetune",
           "training_image", "training_size"]
