"""The model being fine-tuned: which parameters train, the optimizer and schedule, the two losses, LoRA, saving
the weights, and what a configuration costs in parameters and memory."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from portraitcraft.finetune.data import lr_factor
from portraitcraft.finetune.parallel import World
from portraitcraft.finetune.settings import (
    DEEPSTACK_MERGERS,
    LORA_TARGETS,
    REFERENCE_TRAINING_PROMPT,
    TRAINED_PARTS,
    Example,
    FinetuneError,
    FinetuneSettings,
    generate_target,
    score_targets,
)
from portraitcraft.prompts import GENERATE, SCORE, SCORE_SLOTS, generate_prompt, read_score_slots

# --- the model being trained ---------------------------------------------------------------------------------------

def is_trained(name: str, lora: bool, deepstack: bool = True) -> bool:
    """Whether a parameter (named as in the plain Qwen3-VL model) is trained: the LM and ``visual.merger``, the
    DeepStack mergers when ``deepstack``, never the vision encoder."""
    if not name.startswith(TRAINED_PARTS) or (not deepstack and name.startswith(DEEPSTACK_MERGERS)):
        return False
    return not lora or not name.startswith(("model.language_model.", "lm_head."))


def _plain_name(name: str) -> str:
    """A parameter name inside a peft model as in the plain model (prefix and base_layer removed)."""
    name = name.removeprefix("base_model.model.")
    return name.replace(".base_layer.", ".")


class FineTuner:
    """The model, processor and optimizer of one fine-tuning; `step` is one optimizer step on given images."""

    def __init__(self, settings: FinetuneSettings, *, loaded: tuple[Any, Any, dict] | None = None,
                 resume_from: Path | None = None, world: World | None = None, progress: bool = True):
        """Load ``settings.model`` (or, for a full fine-tune being resumed, the checkpoint ``resume_from``), or use
        ``loaded=(model, processor, identity)`` already in memory (the GPU benchmark's random-weight model)."""
        import torch

        from portraitcraft.runners.qwen import ModelLoadError, QwenBackend, QwenSettings, resolve_device, resolve_model

        self.settings = s = settings
        try:
            self.device = resolve_device(s.device)
        except ModelLoadError as exc:
            raise FinetuneError(str(exc)) from exc
        precision = s.precision if s.precision != "auto" else ("bf16-mixed" if self.device.type == "cuda" else "fp32")
        if precision == "bf16-mixed" and self.device.type != "cuda":
            raise FinetuneError("precision bf16-mixed needs a CUDA device; use fp32 on the CPU")
        self.precision = precision
        self.param_dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        if loaded is not None:
            model, processor, self.identity = loaded
        else:
            from transformers import AutoModelForImageTextToText, AutoProcessor

            from portraitcraft.progress import quiet_library_bars

            quiet_library_bars(progress, using=("transformers", "huggingface_hub"))
            source = resume_from if (resume_from is not None and not s.lora) else s.model
            try:
                folder, self.identity = resolve_model(str(source))
                processor = AutoProcessor.from_pretrained(folder, trust_remote_code=False)
                model = AutoModelForImageTextToText.from_pretrained(folder, dtype=self.param_dtype,
                                                                    trust_remote_code=False, use_safetensors=True)
            except ModelLoadError as exc:
                raise FinetuneError(str(exc)) from exc
            except Exception as exc:  # truncated or foreign weights raise safetensors' and torch's own errors too
                raise FinetuneError(f"{source}: cannot load as a transformers image-text model "
                                    f"({type(exc).__name__}: {str(exc)[:300]})") from exc
            if resume_from is not None:
                self.identity = {**self.identity, "model": s.model}
        if getattr(model.config, "model_type", None) not in ("qwen3_vl", "qwen3_vl_moe"):
            raise FinetuneError(f"{s.model}: a {model.config.model_type!r} model, not Qwen3-VL")
        model = model.to(device=self.device, dtype=self.param_dtype)
        self.base = model  # the plain Qwen3-VL (with LoRA layers injected in place when lora)
        for name, param in model.named_parameters():
            param.requires_grad_(is_trained(name, s.lora, s.deepstack_mergers))
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
        self.sharded = s.strategy == "fsdp" and world is not None and world.distributed
        if self.sharded:
            self._shard(model, world)
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
                                           fused=self.device.type == "cuda" and not self.sharded)
        self.scheduler = None

    # -- setup --

    def _shard(self, model, world: World) -> None:
        """FSDP (torch's ``fully_shard``): each language-model layer, then the rest, sharded over the processes."""
        s = self.settings
        if s.lora or s.target == SCORE or s.validation_predict:
            raise FinetuneError("--strategy fsdp trains the generate target, without --lora, with --validation-predict "
                                "0 (the score target and predicting read parts of the model directly, and LoRA's "
                                "merged save needs whole layers); use --strategy ddp for those")
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        mesh = init_device_mesh(self.device.type, (world.size,))
        for layer in model.model.language_model.layers:
            fully_shard(layer, mesh=mesh)
        fully_shard(model, mesh=mesh)

    def full_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The whole model's weights and the optimizer state, gathered from the shards (every process calls it;
        process 0 gets them, on the CPU)."""
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_model_state_dict,
            get_optimizer_state_dict,
        )

        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        weights = get_model_state_dict(self.base, options=options)
        if getattr(self.base.config, "tie_word_embeddings", False):  # saved once, under the embedding's name
            for tied in getattr(self.base, "_tied_weights_keys", None) or {}:
                weights.pop(tied, None)
        return weights, get_optimizer_state_dict(self.base, self.optimizer, options=options)

    def load_full_optimizer_state(self, state: dict[str, Any]) -> None:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        set_optimizer_state_dict(self.base, self.optimizer, optim_state_dict=state,
                                 options=StateDictOptions(full_state_dict=True))

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
                warnings.filterwarnings(
                    "ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning
                )
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

        warmup, formula = self.settings.warmup_ratio, self.settings.warmup_formula
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(step, total_steps, warmup, formula))

    def autocast(self):
        import torch

        if self.precision == "bf16-mixed":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # -- losses --

    def training_messages(self, example: Example, image: Any) -> list[dict[str, Any]]:
        """The user turn trained on: the inference prompt after the image (what predict sends), or the reference
        conversion's instruction before the image."""
        if self.settings.training_prompt == "reference":
            return [{"role": "user", "content": [{"type": "text", "text": REFERENCE_TRAINING_PROMPT},
                                                 {"type": "image", "image": image}]}]
        return self.backend.messages(example.item, generate_prompt(example.question, example.options), image)

    def encode_generate(self, examples: Sequence[Example], images: Sequence[Any]):
        """Processor inputs (left padded) for prompt + answer + eos (+ the newline after it with ``mask_newline``),
        and labels: -100 except on those answer tokens."""
        import torch

        texts, answers = [], []
        for example, image in zip(examples, images):
            opened = self.processor.apply_chat_template(self.training_messages(example, image),
                                                        tokenize=False, add_generation_prompt=True)
            answer = (generate_target(example, reasons=self.settings.reasons) + self.eos
                      + ("\n" if self.settings.mask_newline else ""))
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

    def step(self, micro_batches: Sequence[tuple[Sequence[Example], Sequence[Any]]], *, micro_count: int | None = None,
             world: World | None = None, padding: Sequence[tuple[Sequence[Example], Sequence[Any]]] = ()
             ) -> dict[str, Any]:
        """Forward and backward every micro-batch (the loss divided by the step's number of micro-batches), clip,
        update, schedule. Data-parallel (``world``): this process's share of the step's ``micro_count``
        micro-batches, the gradients then summed over the processes (`finetune.parallel`)."""
        import torch

        self.base.train()
        share = micro_count or len(micro_batches)
        # FSDP averages the gradients over the processes; the replicas' gradients are summed (`World.sum_gradients`)
        scale = world.size / share if self.sharded else 1 / share
        total, count, images = 0.0, 0, 0
        for examples, pictures in micro_batches:
            loss, n = self.loss(examples, pictures)
            (loss * scale).backward()
            total += float(loss.detach()) / share
            count += n
            images += len(examples)
        for examples, pictures in padding:  # FSDP: every process runs as many passes; these add nothing
            (self.loss(examples, pictures)[0] * 0.0).backward()
        params = [p for _, p in self.trainable]
        if world is not None and world.distributed:
            if not self.sharded:
                world.sum_gradients(params)
            total, count, images = world.sum([total, count, images])
            count, images = int(count), int(images)
        norm = torch.nn.utils.clip_grad_norm_(params, self.settings.max_grad_norm) if self.settings.max_grad_norm > 0 \
            else torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params if p.grad is not None]))
        norm = norm.full_tensor() if hasattr(norm, "full_tensor") else norm  # FSDP: a sharded tensor
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

    def save_model(self, folder: Path, state_dict: dict[str, Any] | None = None) -> None:
        # With LoRA, self.base is the transformers model with the adapters injected in place: its weights are
        # saved with the adapters merged, under the plain model's names. FSDP: ``state_dict`` (`full_state`).
        if state_dict is None and self.peft is not None:
            state_dict = self.merged_state_dict()
        self.base.save_pretrained(folder, state_dict=state_dict)
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
