"""The fine-tuning run: data, plan, the training loop, logging, validation, checkpoints and resuming."""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from portraitcraft.attributes import ATTRIBUTE_NAMES, LEVELS
from portraitcraft.data import DataError, Dataset
from portraitcraft.finetune.checkpoints import commit_incoming, mark_complete
from portraitcraft.finetune.data import Plan, TrainingData, training_data
from portraitcraft.finetune.model import FineTuner
from portraitcraft.finetune.parallel import World
from portraitcraft.finetune.settings import (
    BEFORE_RECIPES,
    FORMAT,
    INCOMING_DIR,
    LOG_FILE,
    RUN_FILE,
    STATE_DIR,
    Example,
    FinetuneError,
    FinetuneSettings,
    generate_target,
    score_targets,
)
from portraitcraft.labels import training_names, training_record
from portraitcraft.outputs import OutputError, OutputLock
from portraitcraft.prompts import GENERATE, SCORE
from portraitcraft.provenance import (
    append_json_line,
    json_safe,
    package_versions,
    previous_run,
    truncate_json_lines,
    write_json,
)
from portraitcraft.sources import open_dataset

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

    def __init__(self, settings: FinetuneSettings, dataset: Dataset, progress: bool, world: World):
        self.s = settings
        self.dataset = dataset
        self.world = world
        self.progress = progress and world.main
        self.out = Path(settings.out)

    def prepare_out(self) -> dict[str, Any] | None:
        """The previous run's record when resuming; checks that the folder is a fine-tuning output."""
        if self.out.is_dir():
            commit_incoming(self.out)
        return previous_run(self.out, RUN_FILE, FORMAT, self.s.training_key(), error=FinetuneError,
                            same=_same_setting, absent=BEFORE_RECIPES)

    def run(self) -> FinetuneSummary:
        import torch

        s = self.s
        world = self.world
        started = time.perf_counter()
        world.check(s.batch_size, s.grad_accum)
        # Process 0 alone looks at (and repairs) the output folder; the others learn its verdict.
        try:
            verdict = ("ok", self.prepare_out()) if world.main else None
        except FinetuneError as exc:
            verdict = ("error", str(exc))
        verdict = world.from_main(verdict)
        if verdict[0] == "error":
            raise FinetuneError(verdict[1])
        previous = verdict[1]
        state = None
        if previous is not None:
            state_file = self.out / STATE_DIR / "state.json"
            if state_file.exists():
                state = _read_json_object(state_file)
                if isinstance(state.get("step"), bool) or not isinstance(state.get("step"), int) or state["step"] < 0:
                    raise FinetuneError(f"{state_file}: no checkpoint step ('step' is {state.get('step')!r}); the "
                                        "training state is damaged: use another --out")
        data = training_data(self.dataset, s)
        plan = Plan.of(s, len(data.train))
        if previous is not None and previous.get("status") == "finished" and state is not None \
                and state["step"] >= plan.total_steps:
            return self._summary("already finished", state["step"], plan, data, started, None, None, None,
                                 previous.get("predict_hint", ""), None)

        tuner = FineTuner(s, resume_from=self.out if state is not None else None, world=world,
                          progress=self.progress)
        tuner.configure_schedule(plan.total_steps)
        step = 0
        if state is not None:
            step = self._load_state(tuner, state)
        log_path = self.out / LOG_FILE
        if world.main:
            self.out.mkdir(parents=True, exist_ok=True)
            if state is None:
                log_path.unlink(missing_ok=True)  # a run killed before its first checkpoint starts again
            else:
                truncate_json_lines(log_path, step)
        lengths = self._target_lengths(tuner, data.train)
        max_new = max(512, int(math.ceil(lengths["max"] * 1.25 / 64) * 64)) if s.target == GENERATE else None
        hint = (f"portraitcraft predict --model {self.out} --protocol {s.target} --max-pixels {s.max_pixels} "
                f"--min-pixels {s.min_pixels}" + (f" --max-new-tokens {max_new}" if max_new else "")
                + " --data DATA --out PREDICTIONS.jsonl")
        identity = (previous or {}).get("model") if state is not None else None
        record = {
            "format": FORMAT,
            "settings": s.training_key(),
            "runtime": {k: getattr(s, k) for k in s.RUNTIME_FIELDS},
            "model": identity or tuner.identity,
            "data": {"source": s.data, "root": str(self.dataset.root)},
            # which training data it learnt from, so that another dataset's validation split is not refused
            "split": {**data.record(s), "training": training_record(training_names(self.dataset))},
            "plan": {**asdict(plan), "steps_per_epoch": plan.steps_per_epoch, "total_steps": plan.total_steps},
            "target_tokens": lengths,
            "precision": tuner.precision,
            "device": str(tuner.device),
            "gradient_checkpointing": tuner.checkpointing,
            "trainable_parameters": sum(p.numel() for _, p in tuner.trainable),
            "parameters": sum(p.numel() for p in tuner.base.parameters()),
            "processes": world.size,
            "packages": package_versions(
                ("portraitcraft", "torch", "transformers", "peft", "accelerate"), with_python=True
            ),
            "predict_hint": hint,
            "status": "running",
            "step": step,
            "started": (previous or {}).get("started") or time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        if world.main:
            write_json(self.out / RUN_FILE, record)
        resumed_from = step or None

        last_validation = None
        validates = world.main or tuner.sharded  # sharded, the forward pass needs every process
        if step == 0 and validates:
            last_validation = self._validate(tuner, data, step, 0.0, max_new, log_path)
        first_loss = last_loss = None
        stop = plan.total_steps if s.stop_after is None else min(plan.total_steps, s.stop_after)
        from portraitcraft.progress import progress_bar

        bar = progress_bar(plan.total_steps, initial=step, unit="step", desc=f"finetune {s.target}",
                           enabled=self.progress)
        try:
            while step < stop:
                step += 1
                epoch, micro = plan.step(step)
                torch.manual_seed(s.seed * 1_000_003 + step)  # LoRA dropout: the same on resume
                t0 = time.perf_counter()
                batches, skipped = self._load_batches(data.train, world.share(micro), step)
                skipped = [entry for entries in world.gather(skipped) for entry in entries]
                loaded = int(world.sum([len(batches)])[0])  # micro-batches with an image, over all processes
                padding = []
                if tuner.sharded and loaded:  # FSDP: as many passes on every process, the extra ones weightless
                    most = world.most(len(batches))
                    filler = batches[:1] or self._load_batches(data.train, [micro[0][:1]], step)[0]
                    padding = (filler * most)[:most - len(batches)]
                if loaded:
                    result = tuner.step(batches, micro_count=loaded, world=world, padding=padding)
                else:
                    result = {"loss": math.nan, "lr": 0.0, "grad_norm": math.nan, "images": 0, "tokens": 0}
                result = {"kind": "train", "step": step, "epoch": round(epoch, 6), **result,
                          "seconds": time.perf_counter() - t0}
                if world.main:
                    for entry in skipped:
                        append_json_line(log_path, entry)
                    append_json_line(log_path, result)
                first_loss = result["loss"] if first_loss is None else first_loss
                last_loss = result["loss"]
                bar.update(1)
                bar.set_postfix(loss=f"{result['loss']:.4f}", lr=f"{result['lr']:.2e}", refresh=False)
                final = step == stop
                if validates and (final or (s.eval_every and step % s.eval_every == 0)):
                    last_validation = self._validate(tuner, data, step, epoch, max_new, log_path)
                if final or (s.save_every and step % s.save_every == 0):
                    status = "finished" if step == plan.total_steps else ("stopped" if final else "running")
                    gathered = tuner.full_state() if tuner.sharded else None
                    if world.main:
                        self._save(tuner, step, plan, record, status, gathered)
                    world.barrier()  # a checkpoint is complete before any process goes on (or ends)
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

    def _load_batches(self, examples: Sequence[Example], micro: list[list[int]], step: int):
        """The micro-batches' examples and images, and a log entry for each image that could not be opened."""
        from portraitcraft.images import ImageError

        batches, skipped = [], []
        for indices in micro:
            chosen, images = [], []
            for i in indices:
                example = examples[i]
                try:
                    images.append(self.dataset.open_image(example.image_path, max_side=self.s.max_side))
                    chosen.append(example)
                except (ImageError, OSError) as exc:
                    skipped.append({"kind": "skipped_image", "step": step, "image_path": example.image_path,
                                    "error": str(exc)})
            if chosen:
                batches.append((chosen, images))
        return batches, skipped

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
        result = json_safe(result)
        result["seconds"] = time.perf_counter() - t0
        tuner.base.train()
        if self.world.main:
            append_json_line(log_path, result)
        return result

    def _save(self, tuner: FineTuner, step: int, plan: Plan, record: dict[str, Any], status: str,
              gathered: tuple[dict[str, Any], dict[str, Any]] | None = None) -> None:
        """Write a checkpoint; ``gathered``: a sharded run's whole weights and optimizer state
        (`FineTuner.full_state`)."""
        import torch

        incoming = self.out / INCOMING_DIR
        if incoming.exists():
            shutil.rmtree(incoming)
        incoming.mkdir(parents=True)
        tuner.save_model(incoming, gathered[0] if gathered else None)
        state_dir = incoming / STATE_DIR
        state_dir.mkdir()
        optimizer = {"optimizer_full": gathered[1]} if gathered else {"optimizer": tuner.optimizer.state_dict()}
        torch.save({**optimizer, "scheduler": tuner.scheduler.state_dict()}, state_dir / "optimizer.pt")
        if tuner.peft is not None:
            from safetensors.torch import save_file

            save_file(tuner.trainable_state(), str(state_dir / "trainable.safetensors"))
        (state_dir / "state.json").write_text(json.dumps({"step": step, "total_steps": plan.total_steps,
                                                          "lora": tuner.peft is not None}) + "\n", encoding="utf-8")
        record.update(status=status, step=step, saved=time.strftime("%Y-%m-%dT%H:%M:%S"))
        write_json(incoming / RUN_FILE, record)
        mark_complete(incoming)
        commit_incoming(self.out)

    def _load_state(self, tuner: FineTuner, state: dict[str, Any]) -> int:
        import torch

        state_dir = self.out / STATE_DIR
        if state.get("lora"):
            from safetensors.torch import load_file

            try:
                saved = load_file(str(state_dir / "trainable.safetensors"))
            except Exception as exc:  # safetensors' own error for a truncated or foreign file
                raise FinetuneError(f"{state_dir / 'trainable.safetensors'}: cannot read ({exc})") from exc
            params = dict(tuner.trainable)
            if set(saved) != set(params):
                raise FinetuneError(f"{state_dir / 'trainable.safetensors'}: its parameters do not match the model's")
            with torch.no_grad():
                for name, value in saved.items():
                    params[name].copy_(value)
        where = state_dir / "optimizer.pt"
        try:  # weights_only: tensors and plain containers only; anything else is refused, never run
            saved = torch.load(where, map_location=tuner.device, weights_only=True)
            if "optimizer_full" in saved:  # written by a sharded (FSDP) run: parameters named, whole tensors
                tuner.load_full_optimizer_state(saved["optimizer_full"])
            elif tuner.sharded:
                raise FinetuneError(f"{where}: written by an unsharded run; resume it with --strategy ddp")
            else:
                tuner.optimizer.load_state_dict(saved["optimizer"])
            tuner.scheduler.load_state_dict(saved["scheduler"])
        except pickle.UnpicklingError as exc:
            raise FinetuneError(f"{where}: refused, it holds more than tensors (not loaded: "
                                f"{str(exc).splitlines()[0][:200]})") from exc
        except (OSError, RuntimeError, EOFError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise FinetuneError(f"{where}: cannot read ({type(exc).__name__}: {str(exc)[:200]})") from exc
        return int(state["step"])


def _read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, or a `FinetuneError` naming the file."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FinetuneError(f"{path}: unreadable ({exc.strerror})") from exc
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, too deep
        raise FinetuneError(f"{path}: not valid JSON ({str(exc)[:200]}); use another --out") from None
    if not isinstance(content, dict):
        raise FinetuneError(f"{path}: expected a JSON object, found {type(content).__name__}; use another --out")
    return content


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
    if dataset is None:
        try:
            dataset = open_dataset(settings.data)
        except DataError as exc:
            raise FinetuneError(str(exc)) from exc
    world = World.from_environment()
    lock = None
    try:
        if world.main:  # one training into a folder at a time; the second is refused, naming the first
            try:
                lock = OutputLock(settings.out, "portraitcraft finetune").acquire()
            except OutputError as exc:
                raise FinetuneError(str(exc)) from exc
        return _Trainer(settings, dataset, progress, world).run()
    finally:
        if lock is not None:
            lock.release()
        world.close()
