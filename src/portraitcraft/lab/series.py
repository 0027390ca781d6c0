"""One-factor-at-a-time series of lab scenes: the teaching strips of the composition-lab chapter.

The sampled lab cannot show what one factor does: every scene draws all its continuous factors afresh (no two
of the 448 default images share a subject position, a tilt or a scene seed), so no two images differ in one
factor only. A series is rendered instead: a base scene (`BASE_SCENE`), one primary factor swept over a few
values (`SWEEPS`), every other factor held fixed::

    from portraitcraft.lab.series import render_series

    steps = render_series("data/lab_series", ["horizon_tilt"], long_side=256)
    [(s.value, s.levels["Structural Support Stability"]) for s in steps]

Each scene is labelled by the lab's own annotation code with the *same* noise draws for every member of a
series (one generator seeded from ``seed`` alone, not from the factor or the step): a fixed annotator. What
changes along a series is then the factor's effect and nothing else. Images are cached: a file named by the
factor, the step and a digest of the scene and its size is rendered once and reused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from PIL import Image, ImageDraw, ImageFont

from portraitcraft.attributes import ATTRIBUTE_NAMES
from portraitcraft.lab.annotate import label_attributes, total_from_scores
from portraitcraft.lab.factors import Factors, image_rng
from portraitcraft.lab.render import render_scene
from portraitcraft.lab.writer import JPEG_QUALITY

# A plain, well-made half-body portrait in a landscape frame (room for a group of four side by side): subject on the
# left third looking right into open space, level horizon, soft side light, warm palette, a few props behind, a
# little background blur. Every sweep passes through it: each sweep's values include the base scene's own.
BASE_SCENE: Final[Factors] = Factors(
    aspect="3:2", framing="half-body", n_people=1, subject_x=1 / 3, subject_y=0.43, subject_scale=0.2,
    gaze="right", horizon_y=0.6, horizon_tilt=0.0, clutter=0.15, leading_lines=False, global_blur=0.0,
    background_blur=3.0, exposure=0.0, palette="warm", light_direction="left", light_hardness=0.3,
    golden_hour=False, scene_seed=20260, skill=0.5,
)


@dataclass(frozen=True)
class Sweep:
    """The values one primary factor takes along its series, and what the series shows, in words."""

    factor: str
    values: tuple[Any, ...]
    shows: str


SWEEPS: Final[dict[str, Sweep]] = {s.factor: s for s in (
    Sweep("horizon_tilt", (0.0, 2.0, 5.0, 10.0), "the horizon tilts from level to 10 degrees (the angle is drawn "
                                                  "against a dashed level line)"),
    Sweep("global_blur", (0.0, 1.0, 2.5, 4.0), "the whole frame goes out of focus (blur radius in pixels at 512 px; "
                                                "the inset doubles the face)"),
    Sweep("exposure", (-1.4, -0.6, 0.0, 0.6, 1.4), "exposure runs from 1.4 stops under to 1.4 stops over"),
    Sweep("clutter", (0.0, 0.15, 0.5, 1.0), "the background goes from bare to full of ever louder props"),
    Sweep("background_blur", (0.0, 3.0, 5.0, 8.0), "the background goes from sharp to strongly defocused (the inset "
                                                    "doubles the props behind the subject)"),
    Sweep("subject_x", (1 / 3, 0.5, 2 / 3, 0.9), "the subject, looking right (arrow), moves from the left third to "
                                                  "the right edge, losing lead room and finally part of the arm"),
    Sweep("subject_y", (0.43, 0.3, 0.05, -0.03), "the subject moves up: the bottom edge first lands on the wrists, "
                                                   "then the top edge cuts into the head"),
    Sweep("n_people", (1, 2, 3, 4), "companions join the subject"),
    Sweep("palette", ("warm", "cool", "muted", "clashing"), "the colour scheme changes"),
    Sweep("light_direction", ("left", "front", "back", "top"), "the key light (arrow) moves from the side to the "
                                                               "front, behind and overhead"),
)}
PRIMARY_FACTORS: Final[tuple[str, ...]] = tuple(f.name for f in dataclasses.fields(Factors))


@dataclass(frozen=True)
class SeriesStep:
    """One scene of a series: its factors, image file and the labels the lab gives it."""

    factor: str
    step: int
    value: Any
    factors: Factors
    image: Path
    scores: dict[str, float]  # the 13 attribute scores, 0-10
    levels: dict[str, str]  # the levels they imply
    total_score: int


def differing_factors(a: Factors, b: Factors) -> list[str]:
    """The primary factors whose values differ between two scenes (derived factors follow from these)."""
    return [name for name in PRIMARY_FACTORS if getattr(a, name) != getattr(b, name)]


def one_factor_series(factor: str, values: Sequence[Any] | None = None, *, base: Factors = BASE_SCENE) -> list[Factors]:
    """The base scene with ``factor`` set to each value in turn (default: the values of `SWEEPS`)."""
    if factor not in PRIMARY_FACTORS:
        raise ValueError(f"{factor!r} is not a primary factor of a lab scene; expected one of {list(PRIMARY_FACTORS)}")
    if values is None:
        if factor not in SWEEPS:
            raise ValueError(f"no default values for {factor!r}; pass values (sweeps with defaults: {list(SWEEPS)})")
        values = SWEEPS[factor].values
    return [base.replace(**{factor: value}) for value in values]


def label_scene(factors: Factors, seed: int = 0) -> tuple[dict[str, float], dict[str, str], int]:
    """(scores, levels, total) the lab's annotation gives a scene, with noise drawn from ``seed`` alone:
    the same annotator for every scene labelled with the same seed."""
    rng = image_rng(seed, "series", 0)
    labels = label_attributes(factors, rng)
    scores = {name: labels[name].score for name in ATTRIBUTE_NAMES}
    return scores, {name: labels[name].level for name in ATTRIBUTE_NAMES}, total_from_scores(scores, rng)


def scene_digest(factors: Factors, long_side: int) -> str:
    """A short digest of everything that decides a scene's pixels: its primary factors and the image size."""
    text = json.dumps({"factors": dataclasses.asdict(factors), "long_side": long_side, "jpeg": JPEG_QUALITY},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def render_series(out_dir: str | os.PathLike, factors: Iterable[str] | None = None, *, base: Factors = BASE_SCENE,
                  seed: int = 0, long_side: int = 256) -> list[SeriesStep]:
    """Render (or reuse from ``out_dir``) the series of each factor named (default: all of `SWEEPS`), in order.

    Files are ``<factor>_<step>_<digest>.jpg``; an existing file is reused, since the same scene and size
    always render the same pixels. Written atomically, so an interrupted run never leaves half an image.
    """
    if long_side < 32:
        raise ValueError(f"long_side={long_side}: too small to show a scene (at least 32 pixels)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    steps = []
    for factor in (list(SWEEPS) if factors is None else list(factors)):
        for step, scene in enumerate(one_factor_series(factor, base=base)):
            path = out / f"{factor}_{step}_{scene_digest(scene, long_side)}.jpg"
            if not path.is_file():
                partial = path.with_name(path.name + ".partial")
                render_scene(scene, long_side=long_side).save(partial, "JPEG", quality=JPEG_QUALITY)
                os.replace(partial, path)
            scores, levels, total = label_scene(scene, seed)
            steps.append(SeriesStep(factor, step, getattr(scene, factor), scene, path, scores, levels, total))
    return steps


def marked_image(step: SeriesStep) -> Image.Image:
    """The step's picture with its factor's change drawn where it is small: the horizon's angle against a dashed
    level line, an arrow for the gaze or the light, a doubled inset of the face (blur) or of the background behind
    the subject (background blur). The image file itself (what a model reads) is left unmarked."""
    with Image.open(step.image) as opened:
        image = opened.convert("RGB")
    f, draw = step.factors, ImageDraw.Draw(image)
    width, height = image.size
    unit = max(width, height) / 512
    line = max(2, round(2 * unit))
    font = _font(round(22 * unit))
    if step.factor == "horizon_tilt":
        y0 = f.horizon_y * height
        slope = math.tan(math.radians(f.horizon_tilt))
        x_left, x_right = 0.55 * width, width - 4
        _dashed(draw, (x_left, y0), (x_right, y0), fill=(255, 255, 255), width=line)
        draw.line([(width / 2, y0), (x_right, y0 - slope * (x_right - width / 2))], fill=(255, 40, 40), width=line)
        _label(draw, (0.78 * width, y0 + 6 * unit), f"{f.horizon_tilt:g}°", font)
    elif step.factor == "subject_x":
        eye = (f.subject_x * width + 0.2 * f.subject_scale * height, (f.subject_y + 0.05) * height)
        _arrow(draw, eye, (eye[0] + 0.18 * width, eye[1]), (255, 40, 40), line)
    elif step.factor == "light_direction":
        cx, cy = f.subject_x * width, (f.subject_y + 1.2 * f.subject_scale) * height
        start = {"left": (cx - 0.3 * width, cy), "front": (cx + 0.02 * width, cy + 0.02 * height),
                 "back": (cx + 0.25 * width, cy - 0.25 * height), "top": (cx, cy - 0.45 * height)}[f.light_direction]
        if f.light_direction == "front":  # towards the viewer: a dot in a ring
            r = 10 * unit
            draw.ellipse((start[0] - r, start[1] - r, start[0] + r, start[1] + r), outline=(255, 220, 0), width=line)
            draw.ellipse((start[0] - 3 * unit, start[1] - 3 * unit, start[0] + 3 * unit, start[1] + 3 * unit),
                         fill=(255, 220, 0))
        else:
            end = (cx + (start[0] - cx) * 0.35, cy + (start[1] - cy) * 0.35)
            _arrow(draw, start, end, (255, 220, 0), line)
        _label(draw, (6 * unit, height - 30 * unit), f"light: {f.light_direction}", font)
    elif step.factor in ("global_blur", "background_blur"):
        h = f.subject_scale * height
        cx, cy = f.subject_x * width, f.subject_y * height
        if step.factor == "global_blur":
            box = (cx - 0.6 * h, cy - 0.7 * h, cx + 0.6 * h, cy + 0.7 * h)
        else:
            horizon = f.horizon_y * height
            box = (cx + 1.6 * h, horizon - 0.9 * h, cx + 3.2 * h, horizon + 0.5 * h)
        box = tuple(int(round(v)) for v in box)
        inset = image.crop(box)
        inset = inset.resize((2 * inset.width, 2 * inset.height), Image.NEAREST)
        corner = (width - inset.width - 4, 4)
        image.paste(inset, corner)
        draw.rectangle((corner[0] - 1, corner[1] - 1, corner[0] + inset.width, corner[1] + inset.height),
                       outline=(255, 255, 255), width=line)
        draw.rectangle(box, outline=(255, 255, 255), width=max(1, line // 2))
    if not differing_factors(BASE_SCENE, f):
        # The base scene recurs in every series: tagged with the series it stands in, so each copy says why it is there.
        tag = f"base scene ({step.factor.replace('_', ' ')} series)"
        _label(draw, (6 * unit, 6 * unit), tag, _font(round(16 * unit)))
    return image


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without scalable default fonts
        return ImageFont.load_default()


def _label(draw: ImageDraw.ImageDraw, at: tuple[float, float], text: str, font: ImageFont.ImageFont) -> None:
    box = draw.textbbox(at, text, font=font)
    draw.rectangle((box[0] - 3, box[1] - 2, box[2] + 3, box[3] + 2), fill=(0, 0, 0))
    draw.text(at, text, fill=(255, 255, 255), font=font)


def _dashed(draw: ImageDraw.ImageDraw, a: tuple[float, float], b: tuple[float, float], *, fill, width: int) -> None:
    length = math.dist(a, b)
    dash = 8 * width
    for start in range(0, int(length), 2 * dash):
        t0, t1 = start / length, min(start + dash, length) / length
        draw.line([(a[0] + (b[0] - a[0]) * t0, a[1] + (b[1] - a[1]) * t0),
                   (a[0] + (b[0] - a[0]) * t1, a[1] + (b[1] - a[1]) * t1)], fill=fill, width=width)


def _arrow(draw: ImageDraw.ImageDraw, a: tuple[float, float], b: tuple[float, float], fill, width: int) -> None:
    draw.line([a, b], fill=fill, width=width)
    angle = math.atan2(b[1] - a[1], b[0] - a[0])
    size = 6 * width
    left = (b[0] - size * math.cos(angle - 0.45), b[1] - size * math.sin(angle - 0.45))
    right = (b[0] - size * math.cos(angle + 0.45), b[1] - size * math.sin(angle + 0.45))
    draw.polygon([b, left, right], fill=fill)


__all__ = ["BASE_SCENE", "PRIMARY_FACTORS", "SWEEPS", "SeriesStep", "Sweep", "differing_factors", "label_scene",
           "marked_image", "one_factor_series", "render_series", "scene_digest"]
