"""The transformers backend for Qwen3-VL: ``generate`` (the reference JSON prompt) and ``score`` (token probabilities).

For example::

    from portraitcraft import open_dataset, run_predictions
    from portraitcraft.runners.qwen import QwenBackend, QwenSettings

    backend = QwenBackend(QwenSettings(model="Qwen/Qwen3-VL-4B-Instruct",
                                       protocol="generate"))
    run_predictions(backend, open_dataset("data/lab"), split="test",
                    out="runs/qwen4b.jsonl", batch_size=4)

Loading
    ``model`` is a local folder (any Qwen3-VL checkpoint saved by transformers) or a Hugging Face model id, fetched
    with ``huggingface_hub.snapshot_download`` (or found in its cache). Offline (``HF_HUB_OFFLINE=1`` or no
    network) an id that is not cached fails at once with a message saying what to do. ``trust_remote_code`` is
    never set: only the architectures shipped with transformers load. The model's identity in the records is the
    id or folder and its revision: the hub commit, or for a folder a fingerprint of its files
    (`portraitcraft.provenance.folder_fingerprint`).
Images
    Opened by the run loop with the longest side capped at 2048 pixels (the reference's cap; JPEG draft decoding and
    LANCZOS here, where the reference decodes whole and resizes once BILINEAR: ``image_resize="reference"`` does
    that), then the processor resizes to its pixel budget, set explicitly (`QwenSettings.max_pixels`, default 2048 x
    2048: every capped image passes unchanged, as in the reference, whose processor budget never binds after the
    cap) and recorded. ``processor``: load the processor from another id or folder (the reference predicts a
    fine-tuned checkpoint with its base model's processor).
``generate``
    The reference prompt (`portraitcraft.prompts.generate_prompt`); greedy decoding by default, or the reference's
    sampling (temperature 0.2, top-p 0.9) with ``sampling="reference"``, seeded per batch from the seed and the
    batch's image names. Top-k, repetition penalty and the stop tokens come from the model's generation config, as
    in the reference, and the effective values are recorded. Output read by `parsing.parse_model_output`.
``score``
    Deterministic, no free text. The image and instructions (`prompts.score_prompt`) are encoded once, with the
    assistant's turn opened (the prefix). Every slot's line head (``Sharpness:``, ... for the 13 attributes, the
    question and the overall quality) then follows that one prefix in a single continuation per image: the heads
    are laid end to end, and a block attention mask lets each head see the prefix and itself only, at the positions
    it would have right after the prefix (``score_impl="block"``, the default). Logits are computed only where they
    are read, after each head's last token. The next-token distribution there gives the candidates'
    probabilities: renormalised over the candidates, with the share of the whole distribution they hold kept as
    ``mass``. ``score_impl="reference"`` is the first implementation, kept to check the block one against: the
    prefix's KV cache copied once per slot and each head run on its copy (same records, to float rounding).
    Levels and the answer are the most probable candidate; the total score is the expected quality word mapped
    to 1-100 (`prompts.quality_to_score`). Each candidate must be a single token where the chat template puts it
    (with or without a leading space, whichever the template's own text produces); otherwise the backend refuses
    to start, naming the candidate. The block mask needs an attention that takes a 4-D mask (``sdpa``,
    ``eager``); under ``flash_attention_2`` the reference implementation runs.
``generate`` decoding
    ``decode_impl="compiled"`` (the default on CUDA): a static KV cache, and the decoding step compiled by
    ``torch.compile`` through transformers' static-cache generation (Python and kernel launch overhead dominate
    a decoded token otherwise). ``"dynamic"`` (the default on the CPU) is transformers' default cache, uncompiled;
    ``"static"`` the static cache without compiling. The static cache gives the dynamic one's greedy outputs
    (tested on the tiny model); compiled kernels may round bfloat16 differently, so a long greedy answer can, rarely,
    part from the uncompiled one.
Batching and throughput
    Images are batched with left padding. bfloat16 on CUDA, float32 on CPU unless ``dtype`` says otherwise.
    `QwenBackend.prepare` does a batch's CPU work (chat texts, tokens, image processing) apart from the model, so
    the run loop prepares the next batch while the model runs this one. With a torchvision-backed image processor
    (what ``AutoProcessor`` loads) on a GPU, the image resizing and normalising run on the GPU
    (``image_device="auto"``, score only: generate's images stay on the CPU, away from its CUDA graphs, and the
    prefetching hides their time behind the decoding); where images are resized is recorded in the configuration,
    since GPU resizing rounds differently.
"""

from __future__ import annotations

import json
import math
import os
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portraitcraft.labels import held_out_record
from portraitcraft.parsing import parse_model_output
from portraitcraft.prompts import (
    GENERATE,
    PROTOCOLS,
    REFERENCE_MAX_NEW_TOKENS,
    REFERENCE_MAX_SIDE,
    REFERENCE_SAMPLING,
    SCORE,
    SCORE_SLOTS,
    ScoreSlot,
    generate_prompt,
    prompt_hash,
    read_score_slots,
    score_prompt,
)
from portraitcraft.provenance import folder_fingerprint
from portraitcraft.runners.base import Item, ModelLoadError, Outcome

if TYPE_CHECKING:
    from PIL import Image

DEFAULT_MODEL = "Qwen/Qwen3-VL-4B-Instruct"
DEFAULT_MAX_PIXELS = REFERENCE_MAX_SIDE * REFERENCE_MAX_SIDE
SAMPLINGS = ("greedy", "reference")
IMAGE_RESIZES = ("thumbnail", "reference")  # how an image over max_side is brought down to it
DTYPES = ("auto", "bfloat16", "float16", "float32")
SCORE_IMPLS = ("block", "reference")  # score: one continuation per image with a block mask, or a prefix copy per slot
DECODE_IMPLS = ("auto", "compiled", "static", "dynamic")  # generate: "auto" is compiled on CUDA, dynamic elsewhere
# Attention implementations that take the block mask of the score continuation (a 4-D mask).
BLOCK_MASK_ATTENTION = ("sdpa", "eager")


@dataclass(frozen=True)
class QwenSettings:
    model: str = DEFAULT_MODEL  # hub id or local folder
    revision: str | None = None  # hub branch, tag or commit (ids only)
    protocol: str = GENERATE
    device: str = "auto"  # "auto": cuda when available, else cpu
    dtype: str = "auto"  # "auto": bfloat16 on cuda, float32 on cpu
    attn_implementation: str | None = None  # "sdpa", "eager", "flash_attention_2"; None: transformers' default
    max_pixels: int = DEFAULT_MAX_PIXELS  # the processor's pixel budget per image (its "longest_edge")
    min_pixels: int | None = None  # its "shortest_edge"; None keeps the processor's own
    max_side: int = REFERENCE_MAX_SIDE  # longest side before the processor
    sampling: str = "greedy"  # or "reference": temperature 0.2, top-p 0.9
    max_new_tokens: int = REFERENCE_MAX_NEW_TOKENS
    seed: int = 0
    continuation_rows: int = 64  # score, reference: at most this many slot rows per continuation (bounds KV memory)
    score_impl: str = "block"  # score: "block" (one prefix per image) or "reference" (a prefix copy per slot)
    decode_impl: str = "auto"  # generate: "compiled", "static", "dynamic"; "auto": compiled on cuda, else dynamic
    image_device: str = "auto"  # where images are resized: "auto" (score: the GPU with a torchvision processor), "cpu"
    processor: str | None = None  # load the processor from this id or folder (None: the model's own)
    # "thumbnail": decoded in JPEG draft mode, then LANCZOS; "reference": decoded whole, then one BILINEAR resize
    # to int(side x 2048 / longest) (evaluation/evaluation_multi.py's resize_keep_aspect)
    image_resize: str = "thumbnail"

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol {self.protocol!r}: expected one of {', '.join(PROTOCOLS)}")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling {self.sampling!r}: expected one of {', '.join(SAMPLINGS)}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype {self.dtype!r}: expected one of {', '.join(DTYPES)}")
        if self.score_impl not in SCORE_IMPLS:
            raise ValueError(f"score_impl {self.score_impl!r}: expected one of {', '.join(SCORE_IMPLS)}")
        if self.image_resize not in IMAGE_RESIZES:
            raise ValueError(f"image_resize {self.image_resize!r}: expected one of {', '.join(IMAGE_RESIZES)}")
        if self.decode_impl not in DECODE_IMPLS:
            raise ValueError(f"decode_impl {self.decode_impl!r}: expected one of {', '.join(DECODE_IMPLS)}")
        if self.max_pixels < 1 or (self.min_pixels is not None and not 0 < self.min_pixels <= self.max_pixels):
            raise ValueError(f"pixel budget min {self.min_pixels} / max {self.max_pixels}: need 0 < min <= max")


def reference_resize(image: Image.Image, max_side: int = REFERENCE_MAX_SIDE) -> Image.Image:
    """The reference inference's resize (evaluation/evaluation_multi.py:33-49): an image whose longest side is over
    ``max_side`` is resized once, BILINEAR, to int(side x max_side / longest); a smaller one is left as it is."""
    from PIL import Image as PILImage

    w, h = image.size
    if max(w, h) <= max_side:
        return image
    scale = max_side / max(w, h)
    return image.resize((int(w * scale), int(h * scale)), PILImage.BILINEAR)


# --- locating the model -------------------------------------------------------------------------------------------

def checkpoint_held_out(folder: Path) -> dict[str, Any] | None:
    """What a checkpoint written by `portraitcraft finetune` says it was not trained on (its ``finetune.json``'s
    validation split, as `portraitcraft.labels.held_out_record`, with the training data it learnt from where
    recorded), or None for a model not fine-tuned here."""
    try:
        record = json.loads((folder / "finetune.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    split = record.get("split") if isinstance(record, dict) else None
    if not isinstance(split, dict) or not isinstance(split.get("validation"), list):
        return None
    record = held_out_record([str(name) for name in split["validation"]], fraction=split.get("validation_fraction"),
                             seed=split.get("seed"))
    if isinstance(split.get("training"), dict):  # absent from checkpoints written before it was recorded
        record["training"] = split["training"]
    return record


def resolve_model(model: str, revision: str | None = None) -> tuple[Path, dict[str, Any]]:
    """The local folder holding ``model`` and how it is identified in the records."""
    path = Path(model).expanduser()
    if path.is_dir():
        if revision is not None:
            raise ModelLoadError(f"--revision applies to hub ids, not to the local folder {path}")
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"{path}: not a transformers model folder (no config.json)")
        return path, {"model": str(model), "model_source": "folder", "model_revision": folder_fingerprint(path)}
    if path.exists() or model.startswith((".", "/", "~")) or model.count("/") != 1:
        raise ModelLoadError(f"{model}: no such model folder (and not a hub id of the form owner/name)")

    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(model, revision=revision,
                                        allow_patterns=["*.json", "*.safetensors", "*.txt", "*.jinja", "*.model"]))
    except Exception as exc:  # offline, not cached, unknown id, network error
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
        why = (
            "offline (HF_HUB_OFFLINE is set) and not in the local cache" if offline else f"{type(exc).__name__}: {exc}"
        )
        raise ModelLoadError(
            f"{model}: not a local folder and not available from the Hugging Face Hub ({why}). Download it where "
            f"the hub is reachable (`hf download {model} --local-dir models/{model.split('/')[-1]}`) and pass "
            "that folder as --model") from exc
    return folder, {"model": model, "model_source": "hub", "model_revision": folder.name}


# --- the backend ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SlotTokens:
    """A score slot resolved for the loaded tokenizer."""

    slot: ScoreSlot
    head_ids: tuple[int, ...]  # the line head's tokens after the opened assistant turn
    candidate_ids: tuple[int, ...]  # one token per candidate


def resolve_device(spec: str):
    """``auto`` (cuda when available, else cpu), ``cpu``, ``cuda``, ``cuda:N``, ``mps`` as a torch device;
    `ModelLoadError` naming the option when it is not a device, or not one this machine has."""
    import torch

    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except (RuntimeError, ValueError, TypeError):
        raise ModelLoadError(f"--device {spec!r}: not a device (expected auto, cpu, cuda, cuda:N or mps)") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ModelLoadError(f"--device {spec!r}: no CUDA GPU is available here; use --device cpu (or auto)")
        if device.index is not None and device.index >= count:
            raise ModelLoadError(f"--device {spec!r}: this machine has {count} CUDA GPU(s), numbered 0-{count - 1}")
    elif device.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ModelLoadError(f"--device {spec!r}: no Apple GPU (MPS) is available here; use --device cpu")
    elif device.type != "cpu":
        raise ModelLoadError(f"--device {spec!r}: not supported (expected auto, cpu, cuda, cuda:N or mps)")
    return device


class QwenBackend:
    """Qwen3-VL through transformers; see the module docstring."""

    def __init__(self, settings: QwenSettings = QwenSettings(), *, loaded: tuple[Any, Any, dict] | None = None,
                 progress: bool = True):
        """Load ``settings.model``; or, with ``loaded=(model, processor, identity)``, use objects already in memory
        (the GPU benchmark builds a randomly initialised model that way). ``progress=False``: no loading bars."""
        import torch

        self.settings = settings
        # the reference resize decodes whole images and resizes them itself (`prepare`)
        self.max_side = settings.max_side if settings.image_resize == "thumbnail" else None
        self.device = resolve_device(settings.device)
        if settings.dtype == "auto":
            self.dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        else:
            self.dtype = getattr(torch, settings.dtype)
        if loaded is not None:
            model, self.processor, self.identity = loaded
            self.model = model.to(device=self.device, dtype=self.dtype).eval()
        else:
            self._load(progress)
        if getattr(self.model.config, "model_type", None) not in ("qwen3_vl", "qwen3_vl_moe"):
            raise ModelLoadError(f"{settings.model}: a {self.model.config.model_type!r} model, not Qwen3-VL")
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            raise ModelLoadError(f"{settings.model}: the tokenizer has no pad token; batching needs one")
        size = {"longest_edge": settings.max_pixels}
        current = dict(self.processor.image_processor.size)
        size["shortest_edge"] = settings.min_pixels if settings.min_pixels is not None else current.get("shortest_edge")
        size["shortest_edge"] = min(size["shortest_edge"], settings.max_pixels)
        self.processor.image_processor.size = size
        self.pixel_budget = dict(size)
        # The processor (its Rust tokenizer above all) is not safe to call from two threads at once, and the run
        # loop prepares the next batch in a thread while this one runs.
        self._processor_lock = threading.Lock()
        self.image_device = self._image_device()
        self.decode_impl = self._decode_impl()
        self.generation = self._generation_config() if settings.protocol == GENERATE else None
        self.slots = self._resolve_slots() if settings.protocol == SCORE else None
        self.score_impl = self._score_impl()
        self._layout: SlotLayout | None = None
        self.stage_timer: Callable[[str], None] | None = None  # see `_stage`

    def _load(self, progress: bool = True) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        from portraitcraft.progress import quiet_library_bars

        quiet_library_bars(progress, using=("transformers", "huggingface_hub"))
        settings = self.settings
        folder, self.identity = resolve_model(settings.model, settings.revision)
        self.held_out = checkpoint_held_out(folder)
        extra = {"attn_implementation": settings.attn_implementation} if settings.attn_implementation else {}
        try:
            if settings.processor is not None:  # the reference predicts with the base model's processor
                self.processor_identity = resolve_model(settings.processor)[1]
                self.processor = AutoProcessor.from_pretrained(resolve_model(settings.processor)[0],
                                                               trust_remote_code=False)
            else:
                self.processor = AutoProcessor.from_pretrained(folder, trust_remote_code=False)
            # Weights only through safetensors: a pickled pytorch_model.bin is refused, never unpickled.
            self.model = AutoModelForImageTextToText.from_pretrained(
                folder, dtype=self.dtype, trust_remote_code=False, use_safetensors=True, **extra).to(self.device).eval()
        except Exception as exc:  # a truncated or foreign weights file raises safetensors' and torch's own errors
            raise ModelLoadError(f"{settings.model}: cannot load as a transformers image-text model "
                                 f"({type(exc).__name__}: {str(exc)[:300]})") from exc

    def _image_device(self) -> str | None:
        """The device the image processor resizes on; None: the processor's own (the CPU)."""
        wanted = self.settings.image_device
        torchvision = getattr(self.processor.image_processor, "backend", None) == "torchvision"
        if wanted == "auto":  # generate: on the CPU, so that no thread launches kernels while decoding is captured
            # into CUDA graphs; the prefetching thread hides that work behind the (long) decoding anyway
            gpu = self.device.type == "cuda" and torchvision and self.settings.protocol == SCORE
            return str(self.device) if gpu else None
        if wanted == "cpu":
            return None
        if not torchvision:
            raise ModelLoadError(f"{self.settings.model}: image_device={wanted!r} needs a torchvision-backed image "
                                 f"processor, not {type(self.processor.image_processor).__name__}")
        return wanted

    def _decode_impl(self) -> str:
        wanted = self.settings.decode_impl
        if wanted == "auto":
            return "compiled" if self.device.type == "cuda" else "dynamic"
        return wanted

    def _score_impl(self) -> str:
        """The block continuation needs an attention that takes a 4-D mask; others (flash attention) fall back."""
        if self.settings.score_impl == "block" and self.model.config._attn_implementation not in BLOCK_MASK_ATTENTION:
            return "reference"
        return self.settings.score_impl

    # -- run metadata --

    def config(self) -> dict[str, Any]:
        s = self.settings
        config = {
            "backend": "transformers", **self.identity, "protocol": s.protocol, "prompt_hash": prompt_hash(s.protocol),
            "max_side": s.max_side, "pixel_budget": self.pixel_budget, "dtype": str(self.dtype).removeprefix("torch."),
        }
        if s.processor is not None:
            config["processor"] = getattr(self, "processor_identity", {"model": s.processor})
        if s.image_resize != "thumbnail":
            config["image_resize"] = s.image_resize
        if self.image_device is not None:  # resized elsewhere than on the CPU: pixel values round differently
            config["image_device"] = self.image_device.split(":")[0]  # the kind, not the index: shards share it
        if s.protocol == GENERATE:
            config["decoding"] = self.decoding()
        else:
            config["score_tokens"] = {t.slot.field: {"head": list(t.head_ids), "candidates": list(t.candidate_ids)}
                                      for t in self.slots}
        return config

    def metadata(self) -> dict[str, Any]:
        implementation = {"score_impl": self.score_impl} if self.settings.protocol == SCORE else \
            {"decode_impl": self.decode_impl}
        held_out = getattr(self, "held_out", None)
        return {**self.config(), "device": str(self.device), "attn_implementation":
                self.model.config._attn_implementation, "model_class": type(self.model).__name__, **implementation,
                **({"held_out": held_out} if held_out else {})}

    def decoding(self) -> dict[str, Any]:
        g = self.generation
        values = {"sampling": self.settings.sampling, "do_sample": g.do_sample, "max_new_tokens": g.max_new_tokens,
                  "seed": self.settings.seed, "repetition_penalty": g.repetition_penalty}
        if g.do_sample:
            values.update(temperature=g.temperature, top_p=g.top_p, top_k=g.top_k)
        return values

    def _generation_config(self):
        import copy

        config = copy.deepcopy(self.model.generation_config)
        config.max_new_tokens = self.settings.max_new_tokens
        if self.settings.sampling == "reference":
            config.update(**REFERENCE_SAMPLING)
        else:  # greedy: sampling parameters unset so transformers does not warn about unused ones
            config.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if config.pad_token_id is None:
            config.pad_token_id = self.tokenizer.pad_token_id
        if self.decode_impl in ("compiled", "static"):
            config.cache_implementation = "static"
            # transformers compiles the decoding step itself for a static cache on a GPU; never on the CPU here
            config.disable_compile = self.decode_impl != "compiled"
        return config

    # -- prompts and inputs --

    @staticmethod
    def messages(item: Item, prompt: str, image: Any | None = None) -> list[dict[str, Any]]:
        content: list[dict[str, Any]] = [{"type": "image", "image": image}] if image is not None else []
        return [{"role": "user", "content": [*content, {"type": "text", "text": prompt}]}]

    def _prompt(self, item: Item) -> str:
        build = generate_prompt if self.settings.protocol == GENERATE else score_prompt
        return build(item.question, item.options)

    def prepare(self, items: Sequence[Item], images: Sequence[Image.Image]):
        """A batch's work before the model: chat template with the assistant turn opened, tokens (left padded) and
        pixel values (processed on `image_device` when set, else on the CPU). Thread-safe: the run loop calls it
        for the next batch while the model runs this one."""
        extra = {"device": self.image_device} if self.image_device is not None else {}
        if self.settings.image_resize == "reference":
            images = [reference_resize(image, self.settings.max_side) for image in images]
        with self._processor_lock:
            texts = [self.processor.apply_chat_template(self.messages(item, self._prompt(item), image),
                                                        tokenize=False, add_generation_prompt=True)
                     for item, image in zip(items, images)]
            inputs = self.processor(text=texts, images=list(images), padding=True, return_tensors="pt", **extra)
        if self.settings.protocol == SCORE and self.score_impl == "block":
            # M-RoPE positions are a Python loop over the tokens: done here, off the model's critical path.
            inputs["position_ids"] = self.prefix_positions(inputs)[0]
        return inputs

    def encode(self, items: Sequence[Item], images: Sequence[Image.Image], prepared: Any = None):
        """Processor inputs for a batch (`prepare`'s, or ``prepared`` when given), on the model's device."""
        inputs = prepared if prepared is not None else self.prepare(items, images)
        return inputs.to(self.device)

    def _render(self, assistant_text: str | None) -> list[int]:
        """Token ids of a text-only chat whose assistant turn is opened and holds ``assistant_text``."""
        messages = self.messages(Item("-"), "x")
        if assistant_text is None:
            text = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            messages.append({"role": "assistant", "content": assistant_text})
            text = self.processor.apply_chat_template(messages, tokenize=False, continue_final_message=True)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _resolve_slots(self, slots: Sequence[ScoreSlot] | None = None) -> list[SlotTokens]:
        """Token ids of each slot's head and candidates; ``slots`` defaults to the Track 1 `SCORE_SLOTS` (the Track 2
        extractor passes its own questions' slots)."""
        opened = self._render(None)
        resolved = []
        for slot in SCORE_SLOTS if slots is None else slots:
            head = self._render(slot.head)
            if head[:len(opened)] != opened:
                raise ModelLoadError(f"{self.settings.model}: the chat template does not continue the opened assistant "
                                     f"turn with {slot.head!r}; the score protocol cannot read it")
            failures = []
            for space in (True, False):  # the form the template's own text produces first: "Sharpness: Good"
                ids = []
                for word in slot.candidates:
                    full = self._render(f"{slot.head}{' ' if space else ''}{word}")
                    if full[:len(head)] == head and len(full) == len(head) + 1:
                        ids.append(full[-1])
                    else:
                        failures.append(
                            f"{' ' if space else ''}{word!r}->{self.tokenizer.convert_ids_to_tokens(full[len(head) :])}"
                        )
                if len(ids) == len(slot.candidates):
                    resolved.append(SlotTokens(slot, tuple(head[len(opened):]), tuple(ids)))
                    break
            else:
                raise ModelLoadError(
                    f"{self.settings.model}: score candidates for {slot.field!r} are not single tokens after "
                    f"{slot.head!r} with or without a leading space: {'; '.join(failures)}")
        return resolved

    # -- prediction --

    def predict(self, items: Sequence[Item], images: Sequence[Image.Image], prepared: Any = None) -> list[Outcome]:
        """One outcome per image; ``prepared`` is `prepare`'s output for these images when the caller made it."""
        import torch

        with torch.inference_mode():
            if self.settings.protocol == GENERATE:
                return self._generate(items, images, prepared)
            return self._score(items, images, prepared)

    def _generate(self, items: Sequence[Item], images: Sequence[Image.Image], prepared: Any = None) -> list[Outcome]:
        import copy

        import torch

        inputs = self.encode(items, images, prepared)
        self._stage("preprocessing")
        # Seeded per batch from the image names: a resumed run samples the same batches the same way.
        seed = zlib.crc32("\0".join(i.image_path for i in items).encode()) ^ self.settings.seed
        torch.manual_seed(seed)
        generation = self.generation
        prompt_length = inputs["input_ids"].shape[1]
        if generation.cache_implementation == "static":
            # The static cache sized in steps of 512 tokens: batches whose prompts differ a little reuse one cache
            # shape, and with it one compiled decoding step.
            generation = copy.copy(generation)
            longest = max(generation.max_new_tokens, self.settings.max_new_tokens)
            generation.max_cache_len = 512 * math.ceil((prompt_length + longest) / 512)
        output = self.model.generate(**inputs, generation_config=generation)
        new = output[:, prompt_length:].cpu()
        self._stage("generate")
        stops = self.generation.eos_token_id
        stops = set(stops if isinstance(stops, (list, tuple)) else [stops])
        outcomes = []
        prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()
        for row, item, n_prompt in zip(new, items, prompt_tokens):
            ids = row.tolist()
            length = next((k + 1 for k, t in enumerate(ids) if t in stops), len(ids))
            with self._processor_lock:
                text = self.tokenizer.decode(ids[:length], skip_special_tokens=True)
            parsed = parse_model_output(text, item.options or None)
            outcomes.append(Outcome(parsed=parsed, raw_text=text,
                                    tokens={"prompt": int(n_prompt), "generated": length}))
        return outcomes

    def slot_probabilities(self, items: Sequence[Item], images: Sequence[Image.Image], prepared: Any = None):
        """Per image, per slot: the next-token probabilities (full vocabulary) of the candidates after the slot's
        head, read after one shared prefix per image (see the module docstring; ``score_impl`` says how).
        Returns (probabilities, prompt lengths): a list over images of {field: tensor of candidate probabilities},
        float64 on the CPU."""
        inputs = self.encode(items, images, prepared)
        self._stage("preprocessing")
        if self.score_impl == "reference":
            return self._reference_slot_probabilities(inputs)
        return self._block_slot_probabilities(inputs)

    def _stage(self, name: str) -> None:
        """The end of a stage of a batch: benchmarks set ``stage_timer`` to time each (it synchronises the GPU)."""
        if self.stage_timer is not None:
            self.stage_timer(name)

    def prefix_positions(self, inputs):
        """The prefix's 3-D (M-RoPE) position ids, (3, batch, length), and per image the first position after it."""
        position_ids = inputs.get("position_ids")
        if position_ids is None:
            position_ids, _ = self.model.model.get_rope_index(
                inputs["input_ids"], inputs["mm_token_type_ids"], image_grid_thw=inputs.get("image_grid_thw"),
                attention_mask=inputs["attention_mask"])
        return position_ids, position_ids.amax(dim=(0, 2)) + 1

    def slot_layout(self) -> SlotLayout:
        """The slots' heads laid end to end (the same for every image), built once on the model's device."""
        if self._layout is None:
            self._layout = SlotLayout.build(self.slots, self.device)
        return self._layout

    def _block_slot_probabilities(self, inputs):
        """All slot heads of an image in one continuation after its prefix's cache, under a block mask."""
        import torch

        position_ids, next_position = self.prefix_positions(inputs)
        inputs = {**inputs, "position_ids": position_ids}
        encoded = {}
        if inputs.get("pixel_values") is not None:  # the vision tower apart, so that its time can be told apart
            encoded["image"] = self.model.model.get_image_features(inputs.pop("pixel_values"),
                                                                   inputs["image_grid_thw"], return_dict=True)
            self._stage("vision tower")
        # The prefix's hidden states are not read: the base model, without the LM head.
        prefix = self.model.model(**inputs, mm_encoder_outputs=encoded, use_cache=True)
        self._stage("LM prefill")
        layout = self.slot_layout()
        n = inputs["input_ids"].shape[0]
        ids = layout.ids[None].expand(n, -1)
        positions = (next_position[:, None] + layout.offsets[None, :])[None].expand(3, -1, -1)
        # Each head token sees the image's prefix (its padding excluded) and the earlier tokens of its own head.
        prefix_mask = inputs["attention_mask"].bool()[:, None, None, :].expand(-1, 1, layout.length, -1)
        mask = torch.cat([prefix_mask, layout.mask[None, None].expand(n, 1, -1, -1)], dim=-1)
        if self.model.config._attn_implementation == "eager":  # eager adds the mask to the scores
            mask = torch.zeros(mask.shape, dtype=self.dtype, device=self.device).masked_fill(
                ~mask, torch.finfo(self.dtype).min)
        hidden = self.model.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                                  cache=prefix.cache, use_cache=True).last_hidden_state
        logits = self.model.lm_head(hidden[:, layout.read])  # (images, slots, vocabulary): only the positions read
        probs = torch.softmax(logits.double(), dim=-1).cpu()
        self._stage("slots")
        results = [{t.slot.field: probs[i, k, list(t.candidate_ids)] for k, t in enumerate(self.slots)}
                   for i in range(n)]
        return results, inputs["attention_mask"].sum(dim=1).tolist()

    def _reference_slot_probabilities(self, inputs):
        """The first implementation: the prefix's KV cache copied once per slot, each head run on its copy."""
        import torch
        from transformers import DynamicCache

        prefix = self.model(**inputs, use_cache=True, logits_to_keep=1)  # the prefix's own logits are not read
        self._stage("vision tower + LM prefill")
        cache = prefix.cache
        _, next_position = self.prefix_positions(inputs)

        slots = self.slots
        n_slots = len(slots)
        width = max(len(t.head_ids) for t in slots)
        pad = self.tokenizer.pad_token_id
        heads = torch.full((n_slots, width), pad, dtype=torch.long)
        head_mask = torch.zeros((n_slots, width), dtype=torch.long)
        for k, t in enumerate(slots):  # right padded: padding after a head cannot change what the head sees
            heads[k, :len(t.head_ids)] = torch.tensor(t.head_ids)
            head_mask[k, :len(t.head_ids)] = 1
        last = torch.tensor([len(t.head_ids) - 1 for t in slots])
        heads, head_mask, last = heads.to(self.device), head_mask.to(self.device), last.to(self.device)

        legacy = [(layer.keys, layer.values) for layer in cache.layers]
        per_group = max(1, self.settings.continuation_rows // n_slots)
        n_images = inputs["input_ids"].shape[0]
        results: list[dict[str, Any]] = []
        for start in range(0, n_images, per_group):
            rows = slice(start, min(start + per_group, n_images))
            n = rows.stop - rows.start
            expanded = DynamicCache(config=self.model.config)
            for layer, (k, v) in enumerate(legacy):
                expanded.update(k[rows].repeat_interleave(n_slots, dim=0), v[rows].repeat_interleave(n_slots, dim=0),
                                layer)
            ids = heads.repeat(n, 1)
            mask = torch.cat([inputs["attention_mask"][rows].repeat_interleave(n_slots, dim=0), head_mask.repeat(n, 1)],
                             dim=1)
            positions = (next_position[rows].repeat_interleave(n_slots)[:, None]
                         + torch.arange(width, device=self.device)[None, :])
            positions = positions[None].expand(3, -1, -1)
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, cache=expanded).logits
            picked = logits[torch.arange(n * n_slots, device=self.device), last.repeat(n)]
            probs = torch.softmax(picked.double(), dim=-1).cpu()
            for i in range(n):
                results.append({t.slot.field: probs[i * n_slots + k, list(t.candidate_ids)]
                                for k, t in enumerate(slots)})
        self._stage("slots")
        return results, inputs["attention_mask"].sum(dim=1).tolist()

    def _score(self, items: Sequence[Item], images: Sequence[Image.Image], prepared: Any = None) -> list[Outcome]:
        per_image, prompt_tokens = self.slot_probabilities(items, images, prepared)
        outcomes = []
        for item, probs, n_prompt in zip(items, per_image, prompt_tokens):
            parsed, probabilities = read_score_slots({name: p.tolist() for name, p in probs.items()},
                                                     bool(item.question))
            outcomes.append(Outcome(parsed=parsed, probabilities=probabilities,
                                    tokens={"prompt": int(n_prompt), "generated": 0}))
        return outcomes


@dataclass(frozen=True)
class SlotLayout:
    """The score slots' heads end to end, as one continuation after an image's prefix.

    ``ids`` the head tokens in slot order; ``offsets`` each token's place in its own head (its position after the
    prefix); ``mask`` (length x length, True: may attend) lets a token see the earlier tokens of its own head only;
    ``read`` the index of each head's last token, whose next-token distribution is the slot's."""

    ids: Any
    offsets: Any
    mask: Any
    read: Any

    @property
    def length(self) -> int:
        return int(self.ids.shape[0])

    @classmethod
    def build(cls, slots: Sequence[SlotTokens], device) -> SlotLayout:
        import torch

        ids = [i for t in slots for i in t.head_ids]
        slot_of = torch.tensor([k for k, t in enumerate(slots) for _ in t.head_ids])
        offsets = torch.tensor([j for t in slots for j in range(len(t.head_ids))])
        index = torch.arange(len(ids))
        mask = (slot_of[:, None] == slot_of[None, :]) & (index[None, :] <= index[:, None])
        read = torch.cumsum(torch.tensor([len(t.head_ids) for t in slots]), 0) - 1
        return cls(torch.tensor(ids, device=device), offsets.to(device), mask.to(device), read.to(device))
