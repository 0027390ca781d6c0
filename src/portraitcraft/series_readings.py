"""What chapter 6 reads from the one-factor series: how the lab's labels, and the feature baseline's judgment,
move when one composition factor of a scene changes and nothing else does; and the same series made from a real
photograph. The series themselves are rendered by `portraitcraft.lab.series`; this module turns them into tables
and judgments::

    from portraitcraft.baseline import find_baseline_model
    from portraitcraft.lab.series import render_series
    from portraitcraft.series_readings import (factor_effects, judge_series,
                                               series_table)

    # one factor's sweep (without factors: every sweep of lab.series.SWEEPS)
    steps = render_series("data/lab_series", ["horizon_tilt"])
    # one row per image: factor, value, scores, levels
    table = series_table(steps)
    # factor x attribute: how far each score moves
    factor_effects(table)
    model = find_baseline_model("data/lab/runs/feature-baseline.jsonl")
    judge_series(steps, model)
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from PIL import Image, ImageFilter

from portraitcraft.attributes import ATTRIBUTE_NAMES, LEVELS
from portraitcraft.baseline import MANIFEST_FILE, load_baseline
from portraitcraft.data import DataError
from portraitcraft.features import DEFAULT_MAX_SIDE, extract_features


def value_label(value: Any) -> str:
    """A factor value as a short label: 0.3333 -> "0.33", True -> "yes"."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{round(value, 2):g}"
    return str(value)


def in_words(names: Sequence[str]) -> str:
    """Factor (or attribute) names in words, joined with commas and 'and': ["clutter", "global_blur"] ->
    "clutter and global blur"."""
    words = [str(n).replace("_", " ") for n in names]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def tied_at(counts: pd.Series, value: Any) -> str:
    """The name(s) in ``counts`` with this value, in bold, named as a tie where several share it."""
    tied = list(counts[counts == value].index)
    return f"**{in_words(tied)}**" + ("" if len(tied) == 1 else f" (a {len(tied)}-way tie)")


def series_table(steps: Sequence[Any]) -> pd.DataFrame:
    """One row per `portraitcraft.lab.series.SeriesStep`: factor, step, value, image, total score, and
    ``score:<attribute>`` / ``level:<attribute>`` columns."""
    rows = []
    for s in steps:
        row = {"factor": s.factor, "step": s.step, "value": value_label(s.value), "image": str(s.image),
               "total_score": s.total_score}
        row.update({f"score:{name}": s.scores[name] for name in ATTRIBUTE_NAMES})
        row.update({f"level:{name}": s.levels[name] for name in ATTRIBUTE_NAMES})
        rows.append(row)
    return pd.DataFrame(rows)


def factor_effects(table: pd.DataFrame, prefix: str = "score:") -> pd.DataFrame:
    """Factor x attribute: how far each attribute's value moves along each factor's series (max - min of the
    ``prefix`` columns: ``score:`` for the ground truth's 0-10 scores, ``expected:`` for a model's expected level)."""
    columns = [f"{prefix}{name}" for name in ATTRIBUTE_NAMES]
    grouped = table.groupby("factor", sort=False)[columns]
    effects = grouped.max() - grouped.min()
    effects.columns = list(ATTRIBUTE_NAMES)
    return effects


def moving_attributes(table: pd.DataFrame, factor: str, *, min_change: float = 1.0, top: int = 4) -> list[str]:
    """The attributes whose ground-truth score moves by at least ``min_change`` along ``factor``'s series,
    largest move first (at most ``top``)."""
    effects = factor_effects(table).loc[factor].sort_values(ascending=False)
    return list(effects[effects >= min_change].index[:top])


# The measurements behind the baseline's judgement that each series should move, shown beside the pictures.
READINGS: Final[tuple[str, ...]] = ("subject_cx", "skin_top_touch", "horizon_tilt", "brightness_mean",
                                    "sharpness_ratio")


def judge_series(steps: Sequence[Any], model_dir: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None,
                 max_side: int | None = None) -> pd.DataFrame:
    """The feature baseline's judgment of each series image: predicted total, levels and expected level
    (sum of level code x probability, 0 Poor .. 2 Good) per attribute, and a few of the features it read
    (``reading:<name>``, `READINGS`), in `series_table` row order.

    ``max_side`` defaults to the side the model was trained with (its manifest), so the features are measured
    as in training.
    """
    model = load_baseline(model_dir)
    side = max_side
    if side is None:
        manifest = json.loads((Path(model_dir) / MANIFEST_FILE).read_text(encoding="utf-8"))
        side = manifest.get("max_side", DEFAULT_MAX_SIDE)
    keys = [Path(s.image).name for s in steps]  # unique: lab series and photo series share factor names
    table = extract_features(keys, [s.image for s in steps], max_side=side, cache_dir=cache_dir)
    if table.failures:
        first = next(iter(table.failures.items()))
        raise DataError(f"features failed for {len(table.failures)} series image(s), first {first[0]}: {first[1]}")
    judged = model.predict(table.frame.loc[keys])
    codes = np.arange(len(LEVELS), dtype=float)
    rows = []
    for i, s in enumerate(steps):
        row = {"factor": s.factor, "step": s.step, "value": value_label(s.value),
               "predicted_total": float(judged.total_score[i])}
        row.update({f"level:{name}": judged.levels[name][i] for name in ATTRIBUTE_NAMES})
        row.update({f"expected:{name}": float(judged.probabilities[name][i] @ codes) for name in ATTRIBUTE_NAMES})
        row.update({f"reading:{name}": float(table.frame.loc[keys[i], name]) for name in READINGS})
        rows.append(row)
    return pd.DataFrame(rows)


# ---- the same series on a real photograph ----------------------------------------------------------------------
PHOTO_SWEEPS: Final[dict[str, tuple[Any, ...]]] = {
    "reframing": ("right third", "centre", "left edge"),  # where a square crop puts the face
    "headroom": ("to the top", "half", "none", "head cut"),  # the space above the face kept by a square crop
    "tilt": (0.0, 2.0, 5.0, 10.0),  # degrees, counter-clockwise, cropped to the largest upright square
    "exposure": (-1.4, -0.6, 0.0, 0.6, 1.4),  # stops
    "background_blur": (0.0, 3.0, 6.0, 12.0),  # Gaussian radius in pixels at 512 px, outside the subject mask
}


@dataclass(frozen=True)
class PhotoStep:
    """One picture of a series made from a photograph: the factor, its value and the image file."""

    factor: str
    step: int
    value: Any
    image: Path
    unchanged: bool = False  # the photograph as shot (the series' neutral value): shown once, not in every series


PHOTO_CREDIT: Final[dict[str, str]] = {
    "astronaut": "Eileen Collins, NASA astronaut, 1992: a NASA photograph in the public domain, shipped with "
                 "scikit-image as skimage.data.astronaut()",
}


def photograph(name: str = "astronaut") -> Image.Image:
    """A photograph shipped with scikit-image's data module (``skimage.data.<name>()``), as an RGB image."""
    try:
        import skimage.data
    except ImportError as exc:
        raise ImportError("the real-photo series needs scikit-image: pip install 'portraitcraft[book]'") from exc
    loader = getattr(skimage.data, name, None)
    if loader is None:
        raise ValueError(f"skimage.data has no photograph {name!r}")
    return Image.fromarray(np.asarray(loader())).convert("RGB")


# The measurement each photo series should move, and which way: +1 it should rise along the series, -1 fall; "abs":
# its size should rise (the tilt's sign depends on the direction of turn).
PHOTO_READING: Final[dict[str, tuple[str, Any]]] = {
    "reframing": ("subject_cx", -1), "headroom": ("skin_top_touch", +1), "tilt": ("horizon_tilt", "abs"),
    "exposure": ("brightness_mean", +1), "background_blur": ("sharpness_ratio", +1),
}


def photo_reading_check(judged: pd.DataFrame) -> pd.DataFrame:
    """Per photo series: the measurement that should follow the change, its values along the series, its rank
    correlation with the step in the expected direction, whether it follows (at least 0.8), how many of the 13
    predicted levels change and the predicted overall score's range."""
    from scipy.stats import spearmanr

    rows = []
    for factor, (name, direction) in PHOTO_READING.items():
        part = judged[judged["factor"] == factor].sort_values("step")
        values = part[f"reading:{name}"].to_numpy(dtype=float)
        signed = np.abs(values) if direction == "abs" else values * direction
        rho = float(spearmanr(part["step"], signed).statistic) if np.ptp(signed) > 0 else 0.0
        levels = part[[f"level:{a}" for a in ATTRIBUTE_NAMES]]
        rows.append({"factor": factor, "reading": name, "values": [round(float(v), 2) for v in values],
                     "rank correlation": round(rho, 2), "follows": rho >= 0.8,
                     "levels changing": int((levels.nunique() > 1).sum()),
                     "predicted total": (round(float(part["predicted_total"].min()), 1),
                                         round(float(part["predicted_total"].max()), 1))})
    return pd.DataFrame(rows)


GRABCUT_MASK: Final[str] = "GrabCut seeded by the face detector (a box three face widths wide below the face)"


def subject_mask(photo: Image.Image) -> tuple[np.ndarray, str]:
    """(mask, how it was made) of the person in a photograph: OpenCV's GrabCut started from a box around the
    largest face the Haar detector finds (three face widths wide, from above the head to the bottom edge); a drawn
    ellipse around the middle of the frame when no face is found."""
    from portraitcraft.features import detect_faces
    from portraitcraft.opencv import import_cv2

    cv2 = import_cv2()
    rgb = np.asarray(photo.convert("RGB"))
    height, width = rgb.shape[:2]
    faces = detect_faces(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    if not faces:
        mask = np.zeros((height, width), np.uint8)
        cv2.ellipse(mask, (width // 2, int(height * 0.6)), (int(width * 0.3), int(height * 0.45)), 0, 0, 360, 1, -1)
        return mask.astype(bool), "a drawn ellipse (no face found for GrabCut)"
    x0, y0, x1, y1 = faces[0]
    fw = (x1 - x0) * width
    rect = (max(0, int(x0 * width - fw)), max(0, int(y0 * height - 0.6 * fw)),
            0, 0)
    rect = (rect[0], rect[1], min(width - rect[0] - 1, int(3 * fw)), height - rect[1] - 1)
    mask = np.zeros((height, width), np.uint8)
    background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(np.ascontiguousarray(rgb[:, :, ::-1]), mask, rect, background, foreground, 4, cv2.GC_INIT_WITH_RECT)
    person = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    return person, GRABCUT_MASK


def photo_face(photo: Image.Image) -> tuple[float, float, float, float] | None:
    """The largest face's box in pixels (left, top, right, bottom), or None."""
    from portraitcraft.features import detect_faces
    from portraitcraft.opencv import import_cv2

    cv2 = import_cv2()
    rgb = np.asarray(photo.convert("RGB"))
    faces = detect_faces(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    if not faces:
        return None
    x0, y0, x1, y1 = faces[0]
    return x0 * photo.width, y0 * photo.height, x1 * photo.width, y1 * photo.height


def photo_variant(photo: Image.Image, factor: str, value: Any, *, face: tuple[float, float, float, float],
                  mask: np.ndarray, side: int = 512) -> Image.Image:
    """The photograph with one factor changed (see `PHOTO_SWEEPS`), ``side`` pixels square."""
    width, height = photo.size
    fx0, fy0, fx1, fy1 = face
    fcx, fh = (fx0 + fx1) / 2, fy1 - fy0
    window = int(0.6 * min(width, height))
    if factor == "reframing":
        at = {"right third": 2 / 3, "centre": 0.5, "left edge": 0.1}[value]
        left = int(round(max(0, min(width - window, fcx - at * window))))
        top = int(round(max(0, min(height - window, 0.25 * fy0))))
        return _square(photo.crop((left, top, left + window, top + window)), side)
    if factor == "headroom":
        top = {"to the top": 0.0, "half": 0.5 * fy0, "none": fy0, "head cut": fy0 + 0.4 * fh}[value]
        left = int(round(max(0, min(width - window, fcx - window / 2))))
        top = int(round(min(height - window, top)))
        return _square(photo.crop((left, top, left + window, top + window)), side)
    if factor == "tilt":
        turned = photo.rotate(value, resample=Image.BICUBIC)
        angle = math.radians(abs(value))
        inner = min(width, height) / (math.cos(angle) + math.sin(angle))
        cx, cy = width / 2, height / 2
        return _square(turned.crop((int(cx - inner / 2), int(cy - inner / 2), int(cx + inner / 2),
                                    int(cy + inner / 2))), side)
    if factor == "exposure":
        gain = 2.0 ** value
        return _square(photo.point([min(255, int(v * gain + 0.5)) for v in range(256)] * 3), side)
    if factor == "background_blur":
        if value <= 0:
            return _square(photo, side)
        blurred = photo.filter(ImageFilter.GaussianBlur(value * max(width, height) / 512))
        keep = Image.fromarray((mask * 255).astype(np.uint8), "L").filter(ImageFilter.GaussianBlur(2))
        return _square(Image.composite(photo, blurred, keep), side)
    raise ValueError(f"{factor!r}: not a photo series (expected one of {list(PHOTO_SWEEPS)})")


def _square(image: Image.Image, side: int) -> Image.Image:
    return image.convert("RGB").resize((side, side), Image.BICUBIC)


def render_photo_series(photo: Image.Image, out_dir: str | os.PathLike, *, name: str = "photo",
                        side: int = 512) -> tuple[list[PhotoStep], str]:
    """(steps, how the subject mask was made) of every `PHOTO_SWEEPS` series on a photograph, as JPEG files
    ``<name>_<factor>_<step>_<digest>.jpg`` under ``out_dir``. The digest covers the photograph's pixels, the change
    and the size, so a later run reuses the files (and the feature cache keyed by them) instead of redrawing."""
    import hashlib

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pixels = np.asarray(photo.convert("RGB"))
    source = hashlib.sha256(pixels.tobytes()).hexdigest()
    buffer = io.BytesIO()
    _square(photo, side).save(buffer, "JPEG", quality=92)
    plain = buffer.getvalue()  # the photograph as shot, encoded as the steps are
    face = mask = None
    how = GRABCUT_MASK  # the photo series need a face, so the mask is GrabCut's (subject_mask)
    steps = []
    for factor, values in PHOTO_SWEEPS.items():
        for step, value in enumerate(values):
            digest = hashlib.sha256(json.dumps([source, factor, value, side, PHOTO_SERIES_VERSION]).encode())
            path = out / f"{name}_{factor}_{step}_{digest.hexdigest()[:12]}.jpg"
            if not path.is_file():
                if face is None:
                    face = photo_face(photo)
                    if face is None:
                        raise DataError(f"{name}: no face found; the photo series place and crop around the face")
                if mask is None and factor == "background_blur":
                    mask, how = subject_mask(photo)
                partial = path.with_name(path.name + ".partial")
                photo_variant(photo, factor, value, face=face, mask=mask, side=side).save(partial, "JPEG", quality=92)
                os.replace(partial, path)
            # As shot: the neutral step of a series, the very bytes of the photograph as shot.
            steps.append(PhotoStep(factor, step, value, path, path.read_bytes() == plain))
    return steps, how


PHOTO_SERIES_VERSION: Final[int] = 1  # raise when photo_variant draws differently: cached files are then redrawn


__all__ = ["PHOTO_CREDIT", "PHOTO_READING", "PHOTO_SWEEPS", "READINGS", "PhotoStep", "factor_effects", "in_words",
           "judge_series", "moving_attributes", "photo_face", "photo_reading_check", "photo_variant", "photograph",
           "render_photo_series", "series_table", "subject_mask", "tied_at", "value_label"]
