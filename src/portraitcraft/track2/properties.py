"""The composition properties a Track 2 description can ask for and an image can show: one home for their names,
values, weights, how two values agree, and the multiple-choice question a vision-language model is asked.

Every other Track 2 module reads this table: the text parser (`track2.text`) turns a description into *targets*
over these properties, the extractors (`track2.extract`) turn an image into *readings* over the same properties,
and the scorer (`track2.score`) compares the two with `agreement`. A property the description does not mention
has no target and is not scored.

Kinds
-----
``ordinal``
    ordered categories (close-up < half-body < full-body): exact agreement 1, adjacent ones `ADJACENT_CREDIT`,
    anything further 0.
``nominal``
    unordered categories (light from the left, right, front, back, top): exact 1, else 0, except the pairs listed
    in ``adjacent`` (a mixed palette is half right when the image is warm).
``continuous``
    a number (horizon tilt in degrees, share of the frame left empty): agreement falls linearly with the distance,
    ``1 - |target - reading| / scale``, floored at 0. A VLM answers these by choosing one of ``bins`` (a label and
    its representative value); the expected value is the reading.

The lab's factors map onto these properties in `track2.bench.truth_from_factors`, with the thresholds the lab's
own description writer (`portraitcraft.lab.describe`) uses, so a lab description and its image can be compared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

from portraitcraft.lab.factors import ASPECTS, GAZES, LIGHT_DIRECTIONS

ORDINAL, NOMINAL, CONTINUOUS = "ordinal", "nominal", "continuous"
KINDS: Final[tuple[str, ...]] = (ORDINAL, NOMINAL, CONTINUOUS)
# Credit for an ordinal value one step off (a half-body shot described as a close-up is half right).
ADJACENT_CREDIT: Final[float] = 0.5


@dataclass(frozen=True)
class Property:
    """One composition property: what it means, its values, its weight in the overall score, and its question."""

    key: str
    label: str
    kind: str
    meaning: str
    question: str  # asked of a vision-language model, answered with one of the options' letters
    values: tuple[str, ...] = ()  # categorical values (ordinal: in order); the options are these, in this order
    options: tuple[str, ...] = ()  # how each value (or bin) is worded in the question
    bins: tuple[float, ...] = ()  # continuous: the representative value of each option
    scale: float = 1.0  # continuous: the distance at which agreement reaches 0
    weight: float = 1.0
    adjacent: frozenset[frozenset[str]] = field(default_factory=frozenset)  # nominal: pairs worth ADJACENT_CREDIT
    unit: str = ""  # continuous: how a value is written, DEGREES or SHARE (a share of the frame, 0-1, as a percentage)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.key}: kind {self.kind!r} is not one of {KINDS}")
        if self.unit not in ("", DEGREES, SHARE):
            raise ValueError(f"{self.key}: unit {self.unit!r} is not one of {DEGREES!r}, {SHARE!r}")
        n_options = len(self.bins) if self.kind == CONTINUOUS else len(self.values)
        if len(self.options) != n_options or n_options < 2:
            raise ValueError(f"{self.key}: needs one option wording per value or bin (at least two)")

    @property
    def categorical(self) -> bool:
        return self.kind != CONTINUOUS

    def show(self, value: str | float | None) -> str:
        """A value of this property as a page or report writes it, the same wherever it appears: words as they are,
        degrees with their unit at a tenth of a degree ("9°", "1.5°"), a share of the frame as a whole percentage
        ("84%"); "-" for no value."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        if self.kind != CONTINUOUS:
            return str(value)
        if self.unit == DEGREES:
            return degrees(float(value))
        if self.unit == SHARE:
            return f"{float(value):.0%}"
        return f"{round(float(value), 2):g}"

    def agreement(self, target: str | float, value: str | float) -> float:
        """How far ``value`` (read from an image) agrees with ``target`` (asked by the text), 0 to 1."""
        if self.kind == CONTINUOUS:
            distance = abs(float(target) - float(value))
            return 0.0 if math.isnan(distance) else max(0.0, 1.0 - distance / self.scale)
        if target == value:
            return 1.0
        if self.kind == ORDINAL:
            return ADJACENT_CREDIT if abs(self.values.index(target) - self.values.index(value)) == 1 else 0.0
        return ADJACENT_CREDIT if frozenset((target, value)) in self.adjacent else 0.0


DEGREES, SHARE = "degrees", "share"


def degrees(angle: float, *, signed: bool = False) -> str:
    """An angle in degrees as the Track 2 pages write it, to a tenth of a degree (what a Hough line's angle carries)
    with the trailing ".0" dropped: "9°", "1.5°"; ``signed``: "+1.5°", "-0.5°", "0°" (a measured direction)."""
    text = f"{angle:+.1f}" if signed else f"{abs(angle):.1f}"
    text = text.removesuffix(".0")
    return "0°" if text in ("+0", "-0", "0") else f"{text}°"


# Placement uses the lab's five words (Factors.placement); the thirds lines sit between "far" and "centre".
PLACEMENTS: Final[tuple[str, ...]] = ("far left", "left third", "centre", "right third", "far right")
VERTICAL_PLACEMENTS: Final[tuple[str, ...]] = ("upper", "middle", "lower")
FRAMINGS: Final[tuple[str, ...]] = ("close-up", "half-body", "full-body")  # as lab.factors.FRAMINGS
PEOPLE: Final[tuple[str, ...]] = ("one", "two", "three or more")
HARDNESS: Final[tuple[str, ...]] = ("soft", "moderate", "hard")
DEPTHS: Final[tuple[str, ...]] = ("shallow", "moderate", "deep")
TEMPERATURES: Final[tuple[str, ...]] = ("warm", "cool", "mixed", "neutral")  # lab.factors.PALETTE_TEMPERATURE's words
LEAD_ROOM: Final[tuple[str, ...]] = ("none", "modest", "ample")
YES_NO: Final[tuple[str, ...]] = ("yes", "no")
CROPS: Final[tuple[str, ...]] = ("none", "head", "joint", "side")
# Gaze as seen by the viewer, ordered so that "camera" sits between the two sides.
GAZE_ORDER: Final[tuple[str, ...]] = ("left", "camera", "right")
assert set(GAZE_ORDER) == set(GAZES)

PROPERTIES: Final[tuple[Property, ...]] = (
    Property("placement", "subject placement", ORDINAL,
             "Where the main subject's head sits left to right: near an edge, on a thirds line, or centred.",
             "Where is the main subject's head, from left to right?", PLACEMENTS,
             ("near the left edge", "on the left third", "centred", "on the right third", "near the right edge"),
             weight=1.5),
    Property("vertical_placement", "vertical placement", ORDINAL,
             "Where the main subject's head sits top to bottom: upper third, middle or lower part of the frame.",
             "Where is the main subject's head, from top to bottom?", VERTICAL_PLACEMENTS,
             ("in the upper third", "in the middle", "in the lower part"), weight=0.75),
    Property("framing", "framing", ORDINAL,
             "Shot size: close-up (head and shoulders), half-body (waist up) or full-body (head to feet).",
             "How is the main subject framed?", FRAMINGS,
             ("close-up of head and shoulders", "half-body, from the waist up", "full-body, head to feet"), weight=1.5),
    Property("people", "number of people", ORDINAL, "How many people the picture shows.",
             "How many people are in the picture?", PEOPLE, ("one", "two", "three or more")),
    Property("negative_space", "amount of negative space", CONTINUOUS,
             "Share of the frame left free of people (0 to 1).",
             "How much of the frame is empty space, free of people?", (),
             ("little (under 40 %)", "moderate (40-70 %)", "generous (over 70 %)"), bins=(0.3, 0.55, 0.8), scale=0.5,
             unit=SHARE),
    Property("negative_space_side", "side of the negative space", NOMINAL,
             "Which side of the subject holds the larger free area.",
             "On which side of the main subject is there more empty space?", ("left", "right"), ("left", "right"),
             weight=0.75),
    Property("depth_of_field", "depth of field", ORDINAL,
             "Shallow (background blurred behind a sharp subject), moderate, or deep (background sharp).",
             "How blurred is the background behind the subject?", DEPTHS,
             ("strongly blurred (shallow depth of field)", "slightly soft", "sharp (deep depth of field)")),
    Property("horizon_tilt", "horizon tilt", CONTINUOUS, "How far the horizon leans from level, in degrees.",
             "Is the horizon level or tilted?", (),
             ("level", "slightly tilted (about 3 degrees)", "clearly tilted (about 8 degrees)"), bins=(0.0, 3.0, 8.0),
             scale=6.0, unit=DEGREES),
    Property("light_hardness", "light hardness", ORDINAL,
             "Soft (a gradual, diffuse transition to shadow) to hard (a crisp shadow edge).",
             "Is the light on the subject soft or hard?", HARDNESS,
             ("soft and diffuse", "moderately soft", "hard, with crisp shadow edges"), weight=0.75),
    Property("light_direction", "light direction", NOMINAL,
             "Where the key light comes from, as seen by the viewer; backlight rims the figure.",
             "Where does the main light come from?", LIGHT_DIRECTIONS,
             ("from the left", "from the right", "from the front", "from behind the subject (backlit)", "from above"),
             adjacent=frozenset({frozenset(("front", "top"))})),
    Property("golden_hour", "golden hour", NOMINAL, "Warm, low sunlight of the hour around sunset or sunrise.",
             "Was the picture taken in golden-hour light (warm low sun)?", YES_NO, ("yes", "no"), weight=0.5),
    Property("palette", "palette temperature", NOMINAL,
             "The colour temperature of the scene: warm, cool, a mix of both, or neutral and muted.",
             "What is the colour palette's temperature?", TEMPERATURES,
             ("warm", "cool", "a mix of warm and cool", "neutral, muted"),
             adjacent=frozenset({frozenset(("warm", "mixed")), frozenset(("cool", "mixed"))})),
    Property("gaze", "gaze direction", ORDINAL, "Where the main subject looks, as seen by the viewer.",
             "Where does the main subject look, as seen by the viewer?", GAZE_ORDER,
             ("towards the left of the frame", "into the camera", "towards the right of the frame")),
    Property("lead_room", "lead room", ORDINAL,
             "Free space in front of a sideways gaze: none (looking at the near edge), modest, or ample.",
             "How much free space is in front of the subject's gaze?", LEAD_ROOM,
             ("none, the subject looks at a near edge", "some", "ample"), weight=0.75),
    Property("crop", "crop", NOMINAL,
             "Where the frame cuts the main subject: nowhere, through the top of the head, at a joint (neck, elbows, "
             "wrists, knees, ankles) or by a side edge.",
             "Where does the frame cut the main subject?", CROPS,
             ("nowhere, the subject is whole", "through the top of the head", "at a joint (neck, elbows, wrists, "
              "knees or ankles)", "by the left or right edge")),
    Property("aspect", "aspect ratio", NOMINAL,
             "The frame's width to height. Reported, never counted (weight 0): the reference generator renders "
             "every image at 1024x1024, so counting it would fail that generator on nearly every description.",
             "What is the frame's aspect ratio (width:height)?", tuple(ASPECTS), tuple(ASPECTS), weight=0.0),
    Property("leading_lines", "leading lines", NOMINAL,
             "Lines or diagonals (paths, railings, converging edges) that lead the eye towards the subject.",
             "Are there leading lines or diagonals that lead the eye to the subject?", YES_NO, ("yes", "no"),
             weight=0.75),
)
BY_KEY: Final[dict[str, Property]] = {p.key: p for p in PROPERTIES}
# The properties that count in the alignment score (weight above 0) and that a vision-language model is asked; the
# others (the aspect ratio) are read from the image itself and reported beside the score.
COUNTED: Final[tuple[Property, ...]] = tuple(p for p in PROPERTIES if p.weight > 0)
PROPERTY_KEYS: Final[tuple[str, ...]] = tuple(BY_KEY)


def continuous_from_bins(prop: Property, probabilities: dict[str, float] | list[float]) -> float:
    """The expected value of a continuous property from the probabilities of its options (renormalised)."""
    weights = list(probabilities.values()) if isinstance(probabilities, dict) else list(probabilities)
    total = sum(weights)
    if not total > 0:
        raise ValueError(f"{prop.key}: option probabilities sum to zero")
    return sum(w * b for w, b in zip(weights, prop.bins)) / total
