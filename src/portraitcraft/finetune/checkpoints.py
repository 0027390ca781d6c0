"""Fine-tuning's output folder: sealed checkpoints moved into place only once complete, and the training log."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from portraitcraft.finetune.settings import INCOMING_DIR, LOG_FILE, RUN_FILE, STATE_DIR, FinetuneError
from portraitcraft.provenance import read_json_lines

# --- the output folder ----------------------------------------------------------------------------------------------

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
    try:
        return pd.DataFrame(read_json_lines(path))
    except ValueError as exc:
        raise FinetuneError(str(exc)) from exc


def base_model(folder: str | os.PathLike) -> str | None:
    """The model a fine-tuning output folder started from (its ``finetune.json``), or None for any other folder or
    id: the reference predicts a fine-tuned checkpoint with the base model's processor."""
    record = Path(folder) / RUN_FILE
    try:
        model = json.loads(record.read_text(encoding="utf-8")).get("model", {})
    except (OSError, ValueError, AttributeError):
        return None
    return model.get("model") if isinstance(model, dict) and isinstance(model.get("model"), str) else None
