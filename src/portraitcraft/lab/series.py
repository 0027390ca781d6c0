"""One-factor-at-a-time series of lab scenes: the teaching strips of the composition-lab chapter.

The sampled lab cannot show what one factor does: every scene draws all its continuous factors afresh (no two
of the 448 default images share a subject position, a tilt or a scene seed), so no two images differ in one
factor only. A series is rendered instead: a base scene (`BASE_SCENE`), one primary factor swept over a few
values (`SWEEPS`), every other factor held fixed::

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
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from portraitcraft.attributes import ATTRIBUTE_NAMES
from portraitcraft.lab.annotate import label_attributes, total_from_scores
from portraitcraft.lab.factors import Factors, image_rng
from portraitcraft.lab.render import render_scene
from portraitcraft.lab.writer import JPEG_QUALITY

# A plain, well-made half-body portrait: subject on the left third looking right into open space, level
# horizon, soft side light, warm palette, a little background blur and clutter. Every sweep starts from it.
BASE_SCENE: Final[Factors] = Factors(
    aspect="2:3", framing="half-body", n_people=1, subject_x=1 / 3, subject_y=0.43, subject_scale=0.2,
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
    Sweep("horizon_tilt", (0.0, 2.0, 5.0, 10.0), "the horizon tilts from level to 10 degrees"),
    Sweep("global_blur", (0.0, 1.0, 2.5, 4.0), "the whole frame goes out of focus (blur radius in pixels at 512 px)"),
    Sweep("exposure", (-1.4, -0.6, 0.0, 0.6, 1.4), "exposure runs from 1.4 stops under to 1.4 stops over"),
    Sweep("clutter", (0.0, 0.35, 0.7, 1.0), "the background fills with ever louder props"),
    Sweep("background_blur", (0.0, 2.0, 5.0, 8.0), "the background goes from sharp to strongly defocused"),
    Sweep("subject_x", (1 / 3, 0.5, 2 / 3, 0.85), "the subject, looking right, moves from the left third to the "
                                                     "right edge, losing lead room and finally part of the shoulder"),
    Sweep("subject_y", (0.43, 0.3, 0.05, -0.03), "the subject moves up: the bottom edge first lands on the wrists, "
                                                   "then the top edge cuts into the head"),
    Sweep("n_people", (1, 2, 3, 4), "companions join the subject"),
    Sweep("palette", ("warm", "cool", "muted", "clashing"), "the colour scheme changes"),
    Sweep("light_direction", ("left", "front", "back", "top"), "the key light moves from the side to the front, "
                                                               "behind and overhead"),
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


__all__ = ["BASE_SCENE", "PRIMARY_FACTORS", "SWEEPS", "SeriesStep", "Sweep", "differing_factors", "label_scene",
           "one_factor_series", "render_series", "scene_digest"]
