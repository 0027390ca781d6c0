"""Generate Track 2 portraits from their descriptions with a diffusers text-to-image pipeline (Qwen-Image by default),
optionally with LoRA weights, or with the composition-lab generator; one image per record, resumable.

For example, with the reference's settings written out (they are the defaults)::

    from portraitcraft.track2.generate import GenerationSettings, run_generation

    settings = GenerationSettings(model="Qwen/Qwen-Image",
                                  width=1024, height=1024, steps=20)
    descriptions = "data/lab/track_2_test.json"
    summary = run_generation(descriptions, "generated/", settings)
    print(summary.generated, "generated,", summary.skipped, "skipped")
    # then: portraitcraft track2 evaluate --images generated/ \\
    #           --descriptions data/lab/track_2_test.json

The reference settings (the benchmark's public Qwen-Image fine-tuning code, evaluation.py) are the defaults, except
the JPEG quality of the written images (`JPEG_QUALITY` 95; the reference saves with PIL's default 75):

* prompt: `PROMPT_TEMPLATE` (`generation_prompt`): the trigger, "Generate an image based on the following
  description.", then "[Content]" and the content, then "[Composition]" and the analysis, each after a blank
  line; the "AES_COMP, " trigger is the LoRA's, so it is written when a LoRA is loaded and left out for the base
  model (``trigger`` overrides both);
* sampling: 1024 x 1024 pixels, 20 steps, true classifier-free guidance 5 with the negative prompt " ",
  max_sequence_length 1024, every image from the same seed 346346 (a generator per image, on the pipeline's
  device as in the reference, so the batch size does not change the pictures);
* precision: bfloat16 on CUDA, float32 on the CPU.

Guarantees
    * Each image is written to OUT/<image_path> (atomically), so OUT feeds ``track2 evaluate --images`` directly,
      then one JSON Lines record is appended to OUT/generation.jsonl: the image, status, prompt hash, every setting,
      the model's and the LoRA's identity (path and content fingerprint), seconds.
    * Resumable: an image whose record says it was written with the same settings and prompt, and whose file is
      there, is skipped. An OUT written with other settings (or another model or LoRA) is refused, never mixed.
    * A record that fails (out of memory, a bad name) is recorded as failed with the error and the run goes on; a
      batch that raises is retried image by image. Failed images are retried by the next run.
    * One writer per OUT: a second run on the same folder is refused, naming the holder of the lock (OUT.lock,
      `outputs.OutputLock`).
    * Works with any diffusers text-to-image pipeline: settings its ``__call__`` does not take (true_cfg_scale,
      max_sequence_length, ...) are not passed, and every record lists them under ``not_passed``.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from portraitcraft.exceptions import PortraitCraftError
from portraitcraft.outputs import OutputError, OutputLock, open_for_append, write_atomic
from portraitcraft.track2.lab_generator import LAB_MODEL

REFERENCE_MODEL: Final[str] = "Qwen/Qwen-Image"
TRIGGER: Final[str] = "AES_COMP, "
PROMPT_TEMPLATE: Final[str] = ("{trigger}Generate an image based on the following description.\n\n[Content]\n{content}"
                               "\n\n[Composition]\n{analysis}\n")
FORMAT: Final[str] = "portraitcraft.track2.generation/1"
RECORDS_FILE: Final[str] = "generation.jsonl"
LOCK_FILE: Final[str] = ".generation.lock"
DTYPES: Final[tuple[str, ...]] = ("auto", "bfloat16", "float16", "float32")
# JPEG (and WEBP) quality of the written images; the reference saves with PIL's default, 75 (evaluation.py:62).
JPEG_QUALITY: Final[int] = 95
REFERENCE_JPEG_QUALITY: Final[int] = 75


class GenerationError(PortraitCraftError):
    """A generation that cannot start (descriptions, model, LoRA, output folder); the message says why."""


def generation_prompt(content: str, analysis: str, *, trigger: str = "") -> str:
    """The reference Track 2 prompt of one description; ``trigger`` is "AES_COMP, " for the fine-tuned model."""
    return PROMPT_TEMPLATE.format(trigger=trigger, content=(content or "").strip(), analysis=(analysis or "").strip())


def sha256_text(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class GenerationSettings:
    """Everything that decides an image, with the reference's generation settings as defaults (module docstring)."""

    model: str = REFERENCE_MODEL  # a diffusers pipeline folder or hub id, or "lab"
    lora: str | None = None  # a folder with pytorch_lora_weights.safetensors (`track2 finetune` writes one)
    trigger: str | None = None  # None: TRIGGER with a LoRA, "" without
    width: int = 1024
    height: int = 1024
    steps: int = 20
    true_cfg_scale: float = 5.0
    guidance_scale: float | None = None  # for pipelines with distilled guidance; Qwen-Image uses true_cfg_scale
    negative_prompt: str = " "
    seed: int = 346346
    max_sequence_length: int = 1024
    dtype: str = "auto"
    device: str = "auto"
    batch_size: int = 1

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype {self.dtype!r}: expected one of {', '.join(DTYPES)}")
        for name in ("width", "height", "steps", "batch_size", "max_sequence_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} {getattr(self, name)}: must be at least 1")
        if self.model == LAB_MODEL and self.lora:
            raise ValueError("the lab generator takes no LoRA")

    @property
    def prompt_trigger(self) -> str:
        if self.trigger is not None:
            return self.trigger
        return TRIGGER if self.lora else ""


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str, device: str) -> str:
    if dtype == "auto":
        return "bfloat16" if device.startswith("cuda") else "float32"
    return dtype


# ---- identities ---------------------------------------------------------------------------------------------------

def file_fingerprint(paths: Sequence[Path]) -> str:
    """A hash of the full bytes of some files (LoRA weights are small enough to hash whole)."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(f"{path.name}\0{path.stat().st_size}\0".encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(2**20), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()[:16]


def locate_pipeline(model: str) -> tuple[Path, dict[str, Any]]:
    """The local folder of a diffusers pipeline (a folder, or a hub id fetched or found in the cache) and its
    identity: path or id, and a content fingerprint (folder) or the snapshot's commit (hub)."""
    from portraitcraft.provenance import folder_fingerprint

    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise GenerationError(f"{path}: not a diffusers pipeline folder (no model_index.json)")
        return path, {"model": str(model), "source": "folder", "fingerprint": folder_fingerprint(path)}
    if path.exists() or model.startswith((".", "/", "~")) or model.count("/") != 1:
        raise GenerationError(f"{model}: no such pipeline folder (and not a hub id of the form owner/name)")
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(model))
    except Exception as exc:  # offline and not cached, unknown repository, ...
        raise GenerationError(f"{model}: cannot fetch the pipeline ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc
    return folder, {"model": model, "source": "hub", "revision": folder.name}


def lora_identity(lora: str) -> dict[str, Any]:
    folder = Path(lora).expanduser()
    weights = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
    if not weights:
        raise GenerationError(f"{lora}: no LoRA weights (*.safetensors) in this folder")
    return {"path": str(lora), "files": [p.name for p in weights], "fingerprint": file_fingerprint(weights)}


def pipeline_class(folder: Path):
    """The diffusers pipeline class a folder's model_index.json names (DiffusionPipeline when diffusers lacks it)."""
    import diffusers

    try:
        name = json.loads((folder / "model_index.json").read_text(encoding="utf-8")).get("_class_name", "")
    except (OSError, json.JSONDecodeError) as exc:
        raise GenerationError(f"{folder / 'model_index.json'}: unreadable ({exc})") from exc
    return getattr(diffusers, str(name), None) or diffusers.DiffusionPipeline


def _load(folder: Path, model: str, dtype: str, device: str, lora: str | None, progress: bool = True):
    import torch
    from diffusers import DiffusionPipeline

    from portraitcraft.progress import quiet_library_bars

    quiet_library_bars(progress, using=("diffusers", "transformers", "huggingface_hub"))
    try:
        # Weights only through safetensors: a pickled .bin is refused, never unpickled.
        pipe = DiffusionPipeline.from_pretrained(folder, dtype=getattr(torch, dtype), use_safetensors=True)
    except Exception as exc:  # a truncated or foreign weights file raises safetensors' and torch's own errors
        raise GenerationError(f"{model}: cannot load the pipeline ({type(exc).__name__}: {str(exc)[:300]})") from exc
    if lora is not None:
        if not hasattr(pipe, "load_lora_weights"):
            raise GenerationError(f"{type(pipe).__name__} cannot load LoRA weights")
        try:
            pipe.load_lora_weights(str(Path(lora).expanduser()), use_safetensors=True)
        except Exception as exc:  # safetensors' own error for a damaged file, among others
            raise GenerationError(f"{lora}: cannot load these LoRA weights into {type(pipe).__name__} ({exc})") from exc
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def load_pipeline(model: str, *, dtype: str = "auto", device: str = "auto", lora: str | None = None):
    """(pipeline on its device, identity) of a diffusers pipeline, with LoRA weights loaded when given."""
    generator = DiffusersGenerator(GenerationSettings(model=model, dtype=dtype, device=device, lora=lora))
    return generator.pipe, generator.identity


# ---- generators ---------------------------------------------------------------------------------------------------

class DiffusersGenerator:
    """A diffusers text-to-image pipeline called with the settings (only those its ``__call__`` accepts).

    Its identity (model, LoRA, pipeline class, device, dtype) is known without loading the weights; they are loaded
    at the first image, so a rerun with nothing left to do costs no model load."""

    def __init__(self, settings: GenerationSettings, *, progress: bool = True):
        self.settings, self.progress = settings, progress  # progress=False: no loading bars either
        self.folder, identity = locate_pipeline(settings.model)
        device = resolve_device(settings.device)
        dtype = resolve_dtype(settings.dtype, device)
        if settings.lora is not None:
            identity["lora"] = lora_identity(settings.lora)
        cls = pipeline_class(self.folder)
        identity.update(pipeline=cls.__name__, device=device, dtype=dtype)
        self.identity = identity
        accepted = inspect.signature(cls.__call__).parameters
        wanted = {"negative_prompt": settings.negative_prompt, "width": settings.width, "height": settings.height,
                  "num_inference_steps": settings.steps, "true_cfg_scale": settings.true_cfg_scale,
                  "guidance_scale": settings.guidance_scale, "max_sequence_length": settings.max_sequence_length}
        self.call = {k: v for k, v in wanted.items() if v is not None and k in accepted}
        self.not_passed = sorted(k for k, v in wanted.items() if v is not None and k not in accepted)
        self._pipe = None

    @property
    def pipe(self):
        if self._pipe is None:
            self._pipe = _load(self.folder, self.settings.model, self.identity["dtype"], self.identity["device"],
                               self.settings.lora, self.progress)
        return self._pipe

    def load(self) -> None:
        """Load the weights now (a pipeline or LoRA that cannot be loaded is an error of the run, not of an image)."""
        _ = self.pipe

    def generate(self, records: Sequence[dict[str, str]], prompts: Sequence[str]) -> list:
        import torch

        device = self.identity["device"]
        # One generator per image, seeded alike: an image does not depend on its batch.
        generators = [torch.Generator(device=device).manual_seed(self.settings.seed) for _ in prompts]
        call = dict(self.call)
        if "negative_prompt" in call:
            call["negative_prompt"] = [call["negative_prompt"]] * len(prompts)
        with torch.inference_mode():
            return list(self.pipe(prompt=list(prompts), generator=generators, **call).images)


class LabDrawing:
    """The composition-lab generator behind the same interface (it reads the description, not the prompt)."""

    def __init__(self, settings: GenerationSettings):
        from portraitcraft.track2.lab_generator import LabGenerator

        self.settings = settings
        self.lab = LabGenerator()
        self.identity = {**self.lab.identity(), "device": "cpu", "dtype": None}
        self.not_passed = ["negative_prompt", "num_inference_steps", "true_cfg_scale", "guidance_scale",
                           "max_sequence_length"]

    def generate(self, records: Sequence[dict[str, str]], prompts: Sequence[str]) -> list:
        s = self.settings
        return [self.lab.draw(r["content_description"], r["composition_analysis"], width=s.width, height=s.height,
                              seed=s.seed) for r in records]


def make_generator(settings: GenerationSettings, *, progress: bool = True):
    return LabDrawing(settings) if settings.model == LAB_MODEL else DiffusersGenerator(settings, progress=progress)


# ---- the output folder --------------------------------------------------------------------------------------------

def read_records(path: Path) -> list[dict[str, Any]]:
    """The records of a generation.jsonl; a line torn by a kill (the last) is ignored, damage elsewhere is an error."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if number == len(lines):
                continue
            raise GenerationError(f"{path}:{number}: invalid JSON ({exc.msg}); the file is damaged") from exc
    return records


def error_text(exc: BaseException) -> str:
    """The exception's type and the first line of its message."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _safe_name(name: str) -> str | None:
    """Why ``name`` cannot be written inside OUT, or None when it can."""
    path = Path(name)
    if path.is_absolute() or ".." in path.parts or not path.name:
        return f"image_path {name!r} would be written outside the output folder"
    if path.suffix.lower() not in (".jpg", ".jpeg", ".png", ".webp"):
        return f"image_path {name!r}: not a .jpg, .jpeg, .png or .webp name"
    return None


def save_image(image, path: Path) -> None:
    """Write whole or not at all (`outputs.write_atomic`): a run killed while saving leaves no half image."""
    kind = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}[path.suffix.lower()]
    options = {"quality": JPEG_QUALITY} if kind in ("JPEG", "WEBP") else {}
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format=kind, **options)
    write_atomic(path, buffer.getvalue())


@dataclass
class GenerationSummary:
    out: Path
    records: int
    generated: int
    skipped: int
    failed: dict[str, str]  # image_path -> error
    seconds: float
    problems: list[str] = field(default_factory=list)
    descriptions: str = ""

    def lines(self) -> list[str]:
        lines = [f"{self.records} records: {self.generated} generated, {self.skipped} already there, "
                 f"{len(self.failed)} failed ({self.seconds:.1f} s); images and {RECORDS_FILE} in {self.out}"]
        lines += [f"  problem: {p}" for p in self.problems]
        lines += [f"  failed {name}: {error}" for name, error in list(self.failed.items())[:20]]
        if len(self.failed) > 20:
            lines.append(f"  ... and {len(self.failed) - 20} more failed (all in {RECORDS_FILE})")
        lines.append(f"score them: portraitcraft track2 evaluate --descriptions {self.descriptions} "
                     f"--images {self.out}")
        return lines


def run_settings(settings: GenerationSettings, identity: dict[str, Any]) -> dict[str, Any]:
    """The settings that decide the pictures (the batch size does not), as written in every record."""
    s = asdict(settings)
    s.pop("batch_size")
    s.update(device=identity.get("device"), dtype=identity.get("dtype"), trigger=settings.prompt_trigger)
    if settings.model == LAB_MODEL:  # the lab draws from the text: the sampling settings do not apply
        for name in ("steps", "true_cfg_scale", "guidance_scale", "negative_prompt", "max_sequence_length"):
            s.pop(name)
    model = {k: v for k, v in identity.items() if k not in ("device", "dtype", "lora")}
    return {**s, "model": model, "lora": identity.get("lora")}


def run_generation(descriptions: str | os.PathLike, out: str | os.PathLike, settings: GenerationSettings, *,
                   limit: int | None = None, progress: bool = True, generator: Any = None) -> GenerationSummary:
    """Generate one image per Track 2 record of ``descriptions`` into ``out`` (see the module docstring).

    ``generator``: an object with ``identity`` (a dict), ``not_passed`` (a list) and ``generate(records, prompts)``
    returning PIL images; default: the one the settings name (a diffusers pipeline, or the lab)."""
    from portraitcraft.data import DataError
    from portraitcraft.track2.score import read_descriptions

    started = time.perf_counter()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GenerationError(f"{out}: exists and is not a folder")
    try:
        records, problems = read_descriptions(descriptions)
    except DataError as exc:
        raise GenerationError(str(exc)) from exc
    records = records[:limit] if limit is not None else records
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _generate(records, problems, descriptions, out, settings, progress, generator, started)
    except OutputError as exc:  # the folder is locked by another run, or its record file cannot be written
        raise GenerationError(str(exc)) from exc


def _generate(records, problems, descriptions, out: Path, settings: GenerationSettings, progress: bool, generator,
              started: float) -> GenerationSummary:
    from portraitcraft.progress import progress_bar

    with OutputLock(out, "portraitcraft track2 generate"):
        log = out / RECORDS_FILE
        previous = read_records(log)
        engine = generator if generator is not None else make_generator(settings, progress=progress)
        wanted = run_settings(settings, engine.identity)
        key = sha256_text(json.dumps(wanted, sort_keys=True, default=str))
        other = [r for r in previous if r.get("status") == "ok" and r.get("settings_hash") != key]
        if other:
            before = other[-1].get("settings", {})
            changed = [f"{k}: {before.get(k)!r} -> {wanted[k]!r}" for k in wanted if before.get(k) != wanted[k]]
            raise GenerationError(f"{out}: holds images generated with other settings ({'; '.join(changed)[:600]}); "
                                  "use another --out (images of two settings are never mixed in one folder)")
        done = {r["image_path"]: r.get("prompt_sha256") for r in previous if r.get("status") == "ok"}
        trigger = settings.prompt_trigger
        todo, skipped, failed = [], 0, {}
        for record in records:
            prompt = generation_prompt(record["content_description"], record["composition_analysis"], trigger=trigger)
            name = record["image_path"]
            if done.get(name) == sha256_text(prompt) and (out / name).is_file():
                skipped += 1
            else:
                todo.append((record, prompt))
        generated = 0
        if todo and hasattr(engine, "load"):
            engine.load()
        bar = progress_bar(len(todo), unit="image", desc="track2 generate", enabled=progress)
        try:
            with open_for_append(log) as handle:
                def write(record: dict[str, str], prompt: str, status: str, seconds: float, error: str | None) -> None:
                    entry = {"format": FORMAT, "image_path": record["image_path"], "status": status, "error": error,
                             "prompt_sha256": sha256_text(prompt), "settings_hash": key, "settings": wanted,
                             "not_passed": engine.not_passed, "batch_size": settings.batch_size,
                             "seconds": round(seconds, 3), "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
                    handle.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
                    handle.flush()

                def attempt(batch: list[tuple[dict[str, str], str]]) -> None:
                    nonlocal generated
                    t0 = time.perf_counter()
                    images = engine.generate([r for r, _ in batch], [p for _, p in batch])
                    if len(images) != len(batch):
                        raise RuntimeError(f"the generator returned {len(images)} images for {len(batch)} prompts")
                    each = (time.perf_counter() - t0) / len(batch)
                    for (record, prompt), image in zip(batch, images):
                        save_image(image, out / record["image_path"])
                        write(record, prompt, "ok", each, None)
                        generated += 1

                for start in range(0, len(todo), settings.batch_size):
                    batch = []
                    for record, prompt in todo[start:start + settings.batch_size]:
                        why = _safe_name(record["image_path"])
                        if why:
                            failed[record["image_path"]] = why
                            write(record, prompt, "failed", 0.0, why)
                            bar.update(1)
                        else:
                            batch.append((record, prompt))
                    if not batch:
                        continue
                    try:
                        attempt(batch)
                    except Exception as exc:  # noqa: BLE001 - one bad batch must not end the run
                        if len(batch) == 1:
                            error = error_text(exc)
                            failed[batch[0][0]["image_path"]] = error
                            write(batch[0][0], batch[0][1], "failed", 0.0, error)
                        else:  # retried image by image, so that one bad image fails alone
                            for single in batch:
                                try:
                                    attempt([single])
                                except Exception as inner:  # noqa: BLE001
                                    error = error_text(inner)
                                    failed[single[0]["image_path"]] = error
                                    write(single[0], single[1], "failed", 0.0, error)
                    bar.update(len(batch))
                    bar.set_postfix(failed=len(failed), refresh=False)
        finally:
            bar.close()
    return GenerationSummary(out, len(records), generated, skipped, failed, time.perf_counter() - started, problems,
                             str(descriptions))


__all__ = ["FORMAT", "LAB_MODEL", "PROMPT_TEMPLATE", "RECORDS_FILE", "REFERENCE_MODEL", "TRIGGER", "DiffusersGenerator",
           "GenerationError", "GenerationSettings", "GenerationSummary", "LabDrawing", "generation_prompt",
           "load_pipeline", "locate_pipeline", "lora_identity", "make_generator", "read_records", "run_generation"]
