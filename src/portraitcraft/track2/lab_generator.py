"""The composition-lab generator: an interpretable Track 2 baseline that draws what a description asks for.

For example::

    import json

    from portraitcraft.track2.lab_generator import LabGenerator

    with open("data/lab/track_2_test.json", encoding="utf-8") as file:
        record = json.load(file)[0]
    generator = LabGenerator()
    image = generator.draw(record["content_description"],
                           record["composition_analysis"],
                           width=1024, height=1024)
    image.save("drawn.jpg")

How it works
    description -> targets (`track2.text.parse_description`, the same reading the scorer makes) -> the lab's scene
    factors (`factors_for`) -> the lab renderer (`lab.render.render_scene`) -> image. Every factor comes from one
    target, or from a neutral default when the description is silent; nothing is learnt.
What it shows
    On the lab, whose descriptions were written from known factors, it proves the scorer measures alignment: its
    images must score far above those it draws from shuffled descriptions (`track2.bench.generator_alignment`).
    On real descriptions it shows which properties a layout model of simple shapes can satisfy at all (framing,
    placement, light, palette, ...) and which it cannot (content: clothing, place, activity are ignored).
Aspect ratio and crop
    A description that states its frame ("in a 3:2 frame") is drawn in that frame, the long side the size asked
    (a 1024 x 1024 request gives 1024 x 683 for 3:2); one that states a crop is drawn with it (the top edge
    through the head, the bottom edge on a joint, a side edge through the figure).
What it cannot set
    The amount of negative space follows from the framing and the number of people (the renderer has no separate
    control); the content description is read only for the number of people.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Final

from portraitcraft.lab.factors import (
    ARM_HALF_WIDTH,
    ASPECTS,
    HEAD_HALF_WIDTH,
    HEAD_TOP,
    JOINT_CUT,
    JOINT_LINES,
    NATURAL_CUT,
    Factors,
    frame_size,
)
from portraitcraft.track2.text import ParsedDescription, parse_description

LAB_MODEL: Final[str] = "lab"

# One representative factor value for each target value (the middle of the range `track2.bench.truth_from_factors`
# maps back to that value, so a drawn scene reads as what was asked).
PLACEMENT_X: Final[dict[str, float]] = {"far left": 0.13, "left third": 1 / 3, "centre": 0.5, "right third": 2 / 3,
                                        "far right": 0.87}
HEAD_SCALE: Final[dict[str, float]] = {"close-up": 0.36, "half-body": 0.2, "full-body": 0.095}
VERTICAL_Y: Final[dict[str, float]] = {"upper": 0.3, "middle": 0.5, "lower": 0.68}
BACKGROUND_BLUR: Final[dict[str, float]] = {"shallow": 6.0, "moderate": 2.5, "deep": 0.3}
HARDNESS: Final[dict[str, float]] = {"soft": 0.15, "moderate": 0.48, "hard": 0.85}
PALETTE: Final[dict[str, str]] = {"warm": "warm", "cool": "cool", "mixed": "complementary", "neutral": "muted"}
PEOPLE: Final[dict[str, int]] = {"one": 1, "two": 2, "three or more": 3}
# Where the subject stands for the lead room asked, as a distance from the side the gaze points to.
LEAD_ROOM_AHEAD: Final[dict[str, float]] = {"ample": 0.68, "modest": 0.5, "none": 0.2}


def _value(parsed: ParsedDescription, key: str) -> Any:
    target = parsed.targets.get(key)
    return None if target is None else target.value


def nearest_aspect(width: int, height: int) -> str:
    """The lab aspect ratio closest to width:height."""
    ratio = width / height
    return min(ASPECTS, key=lambda name: abs(ASPECTS[name][0] / ASPECTS[name][1] - ratio))


def factors_for(parsed: ParsedDescription, *, aspect: str = "1:1", scene_seed: int = 0) -> Factors:
    """The lab scene a description asks for: each factor from its target, neutral where the text is silent."""
    framing = _value(parsed, "framing") or "half-body"
    scale = HEAD_SCALE[framing]
    low, high = NATURAL_CUT[framing]
    cut = (low + high) / 2  # the bottom edge where this framing naturally ends (chest, waist, below the feet)
    y = 1.0 - cut * scale
    vertical = _value(parsed, "vertical_placement")
    if vertical is not None:
        # Move the head to the height asked and resize the figure so the frame still ends at the same body line.
        y = VERTICAL_Y[vertical]
        scale = (1.0 - y) / cut
    gaze = _value(parsed, "gaze") or "camera"
    placement = _value(parsed, "placement")
    if placement is not None:
        x = PLACEMENT_X[placement]
    elif gaze != "camera" and _value(parsed, "lead_room") is not None:
        ahead = LEAD_ROOM_AHEAD[_value(parsed, "lead_room")]
        x = 1.0 - ahead if gaze == "right" else ahead
    elif _value(parsed, "negative_space_side") is not None:
        x = 1 / 3 if _value(parsed, "negative_space_side") == "right" else 2 / 3
    else:
        x = 0.5
    crop = _value(parsed, "crop")
    if crop == "head":  # the top edge through the upper third of the head
        y = -HEAD_TOP * scale - 0.35 * scale
    elif crop == "joint":  # the bottom edge on the framing's first joint line (the neck of a close-up, ...)
        y = 1.0 - JOINT_LINES[JOINT_CUT[framing][0]] * scale
    elif crop == "side":  # a quarter of the figure's width beyond the edge on the subject's side
        width, height = frame_size(aspect)
        half = (HEAD_HALF_WIDTH if framing == "close-up" else ARM_HALF_WIDTH) * scale * height / width
        x = half * 0.5 if x < 0.5 else 1.0 - half * 0.5
    golden = _value(parsed, "golden_hour") == "yes"
    palette = PALETTE[_value(parsed, "palette") or ("warm" if golden else "neutral")]
    tilt = _value(parsed, "horizon_tilt")
    return Factors(
        aspect=aspect, framing=framing, n_people=PEOPLE[_value(parsed, "people") or "one"],
        subject_x=float(x), subject_y=float(y), subject_scale=float(scale), gaze=gaze,
        horizon_y=0.55, horizon_tilt=float(tilt or 0.0), clutter=0.2,
        leading_lines=_value(parsed, "leading_lines") == "yes", global_blur=0.0,
        background_blur=BACKGROUND_BLUR[_value(parsed, "depth_of_field") or "moderate"], exposure=0.0,
        palette=palette, light_direction=_value(parsed, "light_direction") or "front",
        light_hardness=HARDNESS[_value(parsed, "light_hardness") or "moderate"], golden_hour=golden,
        scene_seed=scene_seed)


@dataclass(frozen=True)
class LabGenerator:
    """Draws a description's scene with the lab renderer (see the module docstring).

    ``rules_only``: read descriptions with the parser's rules only (no sentence-embedding fallback), which is
    deterministic whether or not the embedding model is installed."""

    rules_only: bool = True

    def identity(self) -> dict[str, Any]:
        from portraitcraft import __version__

        return {"model": LAB_MODEL, "kind": "composition-lab generator", "portraitcraft": __version__,
                "rules_only": self.rules_only}

    def scene(self, content: str, analysis: str, *, width: int, height: int, seed: int = 0) -> Factors:
        parsed = parse_description(content, analysis, embedder=None if self.rules_only else "auto")
        # Details that carry no composition meaning (props, clothes) vary with the text and the seed.
        digest = hashlib.sha256(f"{seed}\0{content}\0{analysis}".encode()).digest()
        return factors_for(parsed, aspect=_value(parsed, "aspect") or nearest_aspect(width, height),
                           scene_seed=int.from_bytes(digest[:4], "little") % 2**31)

    def draw(self, content: str, analysis: str, *, width: int = 1024, height: int = 1024, seed: int = 0):
        """The RGB image (PIL) of one description: ``width`` x ``height`` pixels, or, where the description states
        an aspect ratio, that ratio with the long side ``max(width, height)``."""
        from portraitcraft.lab.render import render_scene

        factors = self.scene(content, analysis, width=width, height=height, seed=seed)
        image = render_scene(factors, long_side=max(width, height))
        if factors.aspect == nearest_aspect(width, height) and image.size != (width, height):
            image = image.resize((width, height))  # no ratio stated: fit the nearest lab ratio to the size asked
        return image


__all__ = ["LAB_MODEL", "LabGenerator", "factors_for", "nearest_aspect"]
