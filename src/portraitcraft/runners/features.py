"""The CPU feature baseline as a backend of the run loop: a saved `portraitcraft.baseline` model on the images
the loop hands it (`portraitcraft assess` uses it to score a folder of photos without a GPU)::

    from portraitcraft import ImageFolder, run_predictions
    from portraitcraft.runners.features import FeatureBackend

    backend = FeatureBackend("data/lab/runs/feature-baseline.model")
    run_predictions(backend, ImageFolder("photos"), split="photos", out="runs/photos.jsonl",
                    items=ImageFolder("photos").items())

Records are those of `baseline.run_feature_baseline` (same ``run``, ``parsed``, ``probabilities``, ``raw_text``):
the images are decoded with the model's own ``max_side``, the features computed by `features.compute_features`,
the levels' probabilities by the saved classifiers, and a question, where an image has one, answered by the
baseline's question rule.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portraitcraft.runners.base import Item, ModelLoadError, Outcome

if TYPE_CHECKING:
    from PIL import Image

# The lab's trained baseline, where `make baseline` puts it (relative to the repository root).
LAB_MODEL_DIR = Path("data/lab/runs/feature-baseline.model")


def default_model_dir() -> Path:
    """The lab's trained baseline under the current folder or the repository holding this package; ModelLoadError
    saying how to make one where there is none."""
    here = Path(__file__).resolve().parents[3]  # src/portraitcraft/runners/features.py -> the repository
    for candidate in (Path.cwd() / LAB_MODEL_DIR, here / LAB_MODEL_DIR):
        if (candidate / "manifest.json").is_file():
            return candidate
    raise ModelLoadError(
        f"no trained feature baseline at {LAB_MODEL_DIR}: pass --model-dir DIR, a model saved by "
        "`portraitcraft baseline train DATA --model-dir DIR` (or run `make baseline` in the repository to train "
        "the lab's)")


class FeatureBackend:
    """A saved feature baseline; see the module docstring."""

    def __init__(self, model_dir: str | os.PathLike | None = None, *, max_side: int | None = None):
        # The features import OpenCV, checked first (OpenCVError): a broken cv2 stops the run before any image.
        from portraitcraft.baseline import BaselineError, load_baseline

        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        try:
            self.model = load_baseline(self.model_dir)
            manifest = json.loads((self.model_dir / "manifest.json").read_text(encoding="utf-8"))
        except (BaselineError, OSError, ValueError) as exc:
            raise ModelLoadError(str(exc)) from exc
        # Features depend on the decoding size: by default the one the model was trained with.
        self.max_side = int(max_side or manifest.get("max_side") or 512)

    def config(self) -> dict[str, Any]:
        from portraitcraft.baseline import run_identity

        return {**run_identity(self.model, self.model_dir, self.max_side), "protocol": "features"}

    def metadata(self) -> dict[str, Any]:
        return self.config()

    def predict(self, items: Sequence[Item], images: Sequence[Image.Image]) -> list[Outcome]:
        import pandas as pd

        from portraitcraft.baseline import prediction_fields
        from portraitcraft.data import QUESTION_ATTRIBUTE
        from portraitcraft.features import FEATURE_NAMES, FeatureError, compute_features

        outcomes: list[Outcome | None] = [None] * len(items)
        rows, kept = [], []
        for i, image in enumerate(images):
            try:
                rows.append(compute_features(image))
                kept.append(i)
            except FeatureError as exc:
                outcomes[i] = Outcome(error=f"FeatureError: {exc}")
        if rows:
            frame = pd.DataFrame(rows, columns=list(FEATURE_NAMES), index=[items[i].image_path for i in kept])
            predicted = self.model.predict(frame)
            for row, i in enumerate(kept):
                item = items[i]
                asked = QUESTION_ATTRIBUTE.search(item.question) if item.question else None
                parsed, probabilities, raw_text = prediction_fields(
                    predicted, row, item.options or None, asked.group(0) if asked else None)
                outcomes[i] = Outcome(parsed=parsed, raw_text=raw_text, probabilities=probabilities)
        return [outcome for outcome in outcomes if outcome is not None]
