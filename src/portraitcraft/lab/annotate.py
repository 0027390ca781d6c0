"""Labels of a lab scene, written from its factors: the 13 attribute scores with reasons, the total score,
a Track 1 multiple-choice question, and the two Track 2 texts.

How a score is made
-------------------
Each factor is first turned into a *term*, a number on a fixed scale (table ``TERMS``). Each attribute
is then a linear function of a few terms plus Gaussian noise (table ``MODELS``):

.. code-block:: text

    score = clip(base + sum(weight * term) + noise_sd * N(0, 1), 0, 10)
    (rounded to one decimal)

The noise is the part no picture can explain (different annotators, taste); it is large for Creativity and
Originality, as in the real data. ``total_score`` is a function of the 13 attribute scores:

.. code-block:: text

    total_score = clip(round(TOTAL_AT_SIX
                             + TOTAL_SLOPE * (weighted_mean(scores) - 6)
                             + TOTAL_NOISE_SD * N(0, 1)), 1, 100)

with ``TOTAL_WEIGHTS`` (Creativity counts 0.6, the others 1). One more noise draw per image,
``ANNOTATOR_BIAS_SD * N(0, 1)``, is added to all 13 attribute scores of that image alike. :func:`model_table`
returns all of this as rows, for the book.

Each reason cites the term that moved the score most in the direction of its level (for a Poor score the
most damaging term, for a Good score the most helpful one) in words that describe the factor's value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Final

import numpy as np

from portraitcraft.attributes import ANSWER_LETTERS, ATTRIBUTE_NAMES, LEVELS, level_from_score
from portraitcraft.lab.factors import HEAD_TOP, NATURAL_CUT, Factors, in_degrees, rounded
from portraitcraft.lab.render import side_light_shows

STATES: Final[tuple[str, ...]] = ("bad", "fair", "good")  # a term's value read as a photographer would
STATE_LEVEL: Final[dict[str, str]] = {"bad": "Poor", "fair": "Medium", "good": "Good"}
LEVEL_STATE: Final[dict[str, str]] = {v: k for k, v in STATE_LEVEL.items()}


@dataclass(frozen=True)
class Term:
    """A factor read on a numeric scale (``value``), in three states, with words for each state."""

    name: str
    doc: str
    value: Callable[[Factors], float]
    state: Callable[[Factors], str]
    phrase: Callable[[Factors, str], list[str]]  # sentences (without final full stop) that describe a state


def _clamp(value: float, lo: float, hi: float) -> float:
    return lo if value < lo else hi if value > hi else float(value)


def _side(f: Factors) -> str:
    return "left" if f.subject_x < 0.5 else "right"


def _open_side(f: Factors) -> str:
    """'the left'/'the right' where that third is clearly freer of people, else 'either side'."""
    return f"the {f.open_side}" if f.open_side else "either side"


def _palette_words(f: Factors) -> str:
    if f.golden_hour and f.palette == "complementary":
        return "a golden sky over blue ground, against orange clothing"
    return {
        "warm": "ambers, ochres and rusty browns", "cool": "blues, teals and slate greys",
        "complementary": "blue surroundings against orange clothing", "muted": "desaturated greys and stone tones",
        "clashing": "acid green, magenta and saturated primaries",
    }[f.palette]


# ---- terms --------------------------------------------------------------------------------------
def _harmony_state(f: Factors) -> str:
    return "bad" if f.palette == "clashing" else "fair" if f.palette == "muted" else "good"


def _harmony_phrase(f: Factors, state: str) -> list[str]:
    if state == "good":
        return [f"The palette of {_palette_words(f)} stays within one coherent colour scheme",
                f"Colours are unified: {_palette_words(f)} support each other without clashing"]
    if state == "fair":
        return ["The colours are muted and safe, coherent but a little flat and lifeless",
                "A subdued, desaturated palette avoids clashes but adds little mood"]
    return [f"Clashing hues ({_palette_words(f)}) fight each other across the frame",
            "Saturated colours from opposite ends of the wheel compete and jar"]


def _clutter_state(f: Factors) -> str:
    return "good" if f.clutter < 0.25 else "fair" if f.clutter < 0.55 else "bad"


def _clutter_phrase(f: Factors, state: str) -> list[str]:
    if state == "good":
        return ["The background is clean and uncluttered, with hardly any props",
                "An almost empty backdrop leaves nothing to compete with the subject"]
    if state == "fair":
        return ["A handful of background props add context without taking over",
                "Some background objects are visible, mildly distracting but contained"]
    return ["A busy background of brightly coloured props competes with the subject",
            "Dense, high-contrast clutter behind the subject pulls the eye away"]


def _blur_state(f: Factors) -> str:
    return "good" if f.global_blur < 0.3 else "fair" if f.global_blur < 1.8 else "bad"


def _blur_phrase(f: Factors, state: str) -> list[str]:
    if state == "good":
        return ["The eyes, hairline and clothing edges are crisp, with no focus or motion blur",
                "Facial features and outlines are rendered sharply and cleanly"]
    if state == "fair":
        return ["A slight overall softness takes the edge off the eyes and outlines",
                "Fine detail is a little soft across the whole frame, though features remain readable"]
    return ["Heavy blur across the whole frame smears the eyes and facial features",
            "The entire image is out of focus, so even the face has no crisp edge"]


def _exposure_state(f: Factors) -> str:
    e = abs(f.exposure)
    return "good" if e < 0.3 else "fair" if e < 0.85 else "bad"


def _exposure_phrase(f: Factors, state: str) -> list[str]:
    over = f.exposure > 0
    if state == "good":
        return ["Brightness is well judged, with detail kept in both the highlights and the shadows",
                "The exposure is balanced: skin tones are natural and nothing is clipped"]
    if state == "fair":
        return ([f"The image is somewhat {'bright' if over else 'dark'}, with "
                 f"{'pale, thinning highlights' if over else 'heavy shadows'} but usable detail",
                 f"Exposure runs a little {'hot' if over else 'low'}, flattening the tonal range"])
    return ([f"Severe {'overexposure blows out the sky and skin into white' if over else 'underexposure buries the face in murky shadow'}",
             f"The frame is badly {'overexposed, with large clipped highlights' if over else 'underexposed, with crushed, detail-less shadows'}"])


LIGHT_QUALITY: Final[dict[str, float]] = {"left": 1.0, "right": 1.0, "back": 0.75, "front": 0.35, "top": 0.0}


def _light_value(f: Factors) -> float:
    """LIGHT_QUALITY of the direction, except side light washed out by overexposure, which shows as flat as front
    light."""
    if f.light_direction in ("left", "right") and not side_light_shows(f):
        return LIGHT_QUALITY["front"]
    return LIGHT_QUALITY[f.light_direction]


def _light_state(f: Factors) -> str:
    q = _light_value(f)
    return "good" if q >= 0.9 else "fair" if q > 0.2 else "bad"


def _light_phrase(f: Factors, state: str) -> list[str]:
    d = f.light_direction
    if d in ("left", "right") and not side_light_shows(f):
        return ["Overexposure washes the side light out, so the figure looks flatly lit",
                "The bright exposure flattens the modelling: lit and shadow sides look almost the same"]
    if d in ("left", "right"):
        return [f"Directional light from the {d} models the face into a lit side and a shadow side",
                f"Side light from the {d} gives the head and torso clear volume"]
    if d == "back":
        return ["Backlight traces a bright rim around the figure while the front falls into shade",
                "The subject is backlit, outlined by a glowing edge with the face in shadow"]
    if d == "front":
        return ["Flat frontal light shows the face evenly but gives it little volume",
                "Light falls straight onto the subject, so shadows and modelling are minimal"]
    return ["Overhead light casts dark shadows into the eye sockets and under the chin",
            "Top light leaves the eyes in shadow and the body darker below"]


def _hardness_state(f: Factors) -> str:
    return "good" if f.light_hardness < 0.35 else "fair" if f.light_hardness < 0.7 else "bad"


def _hardness_phrase(f: Factors, state: str) -> list[str]:
    if state == "good":
        return ["Soft light rolls gently from highlight to shadow with smooth transitions",
                "The diffuse light wraps the subject with gradual, flattering gradients"]
    if state == "fair":
        return ["The light is moderately hard, with a visible but not harsh shadow edge",
                "Shadows have a fairly defined edge, neither soft nor severe"]
    return ["Hard light draws a sharp-edged shadow line across the face and body",
            "Harsh, hard light creates an abrupt split between lit and shaded areas"]


def _separation_state(f: Factors) -> str:
    return "good" if f.background_blur >= 4.0 else "fair" if f.background_blur >= 1.5 else "bad"


def _separation_phrase(f: Factors, state: str) -> list[str]:
    if state == "good":
        return ["A shallow depth of field melts the background into a soft blur that isolates the subject",
                "The background is strongly defocused, so the subject stands clearly in front of it"]
    if state == "fair":
        return ["The background is moderately soft, giving some separation from the subject",
                "A medium depth of field keeps background shapes recognisable but gently softened"]
    return ["A deep depth of field keeps the background as sharp as the subject, flattening the layers",
            "Everything from subject to background is in focus, so the planes merge"]


def _thirds_value(f: Factors) -> float:
    x = f.subject_x
    third = 1.0 - min(abs(x - 1 / 3), abs(x - 2 / 3)) / 0.12
    centre = 0.7 * (1.0 - abs(x - 0.5) / 0.1)
    return float(_clamp(max(third, centre), 0.0, 1.0))


def _thirds_state(f: Factors) -> str:
    return {"left third": "good", "right third": "good", "centre": "fair"}.get(f.placement, "bad")


def _thirds_phrase(f: Factors, state: str) -> list[str]:
    if f.placement in ("left third", "right third"):
        return [f"The subject is placed on the {f.placement} line, a deliberate off-centre placement",
                f"Positioning the subject along the {f.placement} gives a classic rule-of-thirds balance"]
    if f.placement == "centre":
        return ["The subject is centred, a symmetrical but static placement",
                "A centred placement gives a stable, formal layout without much tension"]
    return [f"The subject is pushed to the {f.placement}, close to the edge and off any thirds line",
            f"Placing the subject at the {f.placement} leaves the frame lopsided"]


def _tilt_value(f: Factors) -> float:
    return float(_clamp((abs(f.horizon_tilt) - 0.8) / 7.0, 0.0, 1.0))


def _tilt_state(f: Factors) -> str:
    t = abs(f.horizon_tilt)
    return "good" if t < 1.0 else "fair" if t < 3.0 else "bad"


def _tilt_phrase(f: Factors, state: str) -> list[str]:
    t = abs(f.horizon_tilt)
    rise = "right" if f.horizon_tilt > 0 else "left"
    if state == "good":
        return ["The level horizon gives the frame a firm base",
                "A straight, level horizon line anchors the scene"]
    if state == "fair":
        return [f"The horizon is slightly tilted (about {in_degrees(t)}, rising to the {rise})",
                f"A small tilt of the horizon towards the {rise} unsettles the base a little"]
    return [f"The horizon is tilted by about {in_degrees(t)}, rising to the {rise}, and the scene seems to slide",
            f"A strongly slanted horizon (roughly {in_degrees(t)}) tips the whole frame"]


def _crop_value(f: Factors) -> float:
    kind, amount = f.crop
    return {"none": 0.0, "head": 0.55 + 0.45 * amount, "joint": 0.5 + 0.3 * amount, "side": 0.45 + 0.55 * amount}[kind]


def _crop_state(f: Factors) -> str:
    kind, amount = f.crop
    if kind == "none":
        return "good"
    if (kind == "head" and amount < 0.2) or (kind == "side" and amount < 0.25):
        return "fair"
    return "bad"


def _natural_line(f: Factors) -> str:
    return {"close-up": "chest", "half-body": "waist", "full-body": "feet"}[f.framing]


def _crop_phrase(f: Factors, state: str) -> list[str]:
    kind, amount = f.crop
    if kind == "none":
        if f.framing == "full-body":
            return ["The whole figure is inside the frame, from the top of the head to the feet",
                    "The subject is shown complete, head to toe, with nothing cut off"]
        return [f"The frame ends at a natural line at the {_natural_line(f)}, so the subject reads as complete",
                f"The {f.framing} crop falls cleanly at the {_natural_line(f)}, with the head fully inside"]
    if kind == "head":
        return (["The very top of the subject's head is trimmed by the top edge",
                 "The top edge grazes the crown of the head, a tight but tolerable crop"] if state == "fair" else
                ["The subject's head is cut by the top edge of the frame",
                 "The top of the head is chopped off by the top edge, an awkward amputation"])
    if kind == "side":
        edge = _side(f)
        part = f.side_cut_part
        return ([f"The {edge} edge clips a little of the subject's {part}",
                 f"The subject's {part} slightly overlaps the {edge} edge"] if state == "fair" else
                [f"The {edge} edge cuts through the subject's {part}, leaving the figure incomplete",
                 f"The subject is sliced by the {edge} edge of the frame, losing part of the {part}"])
    joint = f.cut_joint or "joint"
    return [f"The bottom edge cuts the subject right at the {joint}, an awkward crop",
            f"Cropping exactly at the {joint} makes the body look amputated"]


def _lead_value(f: Factors) -> float:
    return 0.25 if f.gaze == "camera" else f.lead_room


def _lead_state(f: Factors) -> str:
    if f.gaze == "camera" or f.lead_room > 0.2:
        return "good"
    return "fair" if f.lead_room > -0.2 else "bad"


def _lead_phrase(f: Factors, state: str) -> list[str]:
    if f.gaze == "camera":
        return ["The subject looks straight into the lens, holding the viewer's gaze",
                "Direct eye contact with the camera makes the face the natural end point for the eye"]
    if state == "good":
        return [f"The subject looks {f.gaze} into open space, with generous lead room ahead of the gaze",
                f"The gaze to the {f.gaze} has ample room in front of it, carrying the eye across the frame"]
    if state == "fair":
        return [f"The subject looks {f.gaze} with roughly equal space in front and behind",
                f"The gaze to the {f.gaze} has only modest lead room"]
    return [f"The subject looks {f.gaze}, straight at the nearby edge, leaving no lead room",
            f"The gaze to the {f.gaze} runs into the frame edge while empty space piles up behind the head"]


def _crowd_state(f: Factors) -> str:
    return "good" if f.n_people == 1 else "fair" if f.n_people == 2 else "bad"


def _crowd_phrase(f: Factors, state: str) -> list[str]:
    if f.n_people == 1:
        return ["A single subject gives the frame one unambiguous centre of interest",
                "There is only one person, so attention goes straight to them"]
    if f.n_people == 2:
        return ["A second person beside the subject splits attention slightly",
                "Two people share the frame, the main subject only a little more prominent"]
    return [f"A group of {f.n_people} people of similar size compete for attention",
            f"With {f.n_people} figures side by side, no single person clearly dominates"]


IDEAL_OCCUPANCY: Final[dict[str, float]] = {"close-up": 0.6, "half-body": 0.3, "full-body": 0.1}


def _space_value(f: Factors) -> float:
    ideal = IDEAL_OCCUPANCY[f.framing]
    return float(_clamp(1.0 - abs(math.log(max(f.occupancy, 1e-3) / ideal)) / math.log(3.0), 0.0, 1.0))


def _space_state(f: Factors) -> str:
    v = _space_value(f)
    return "good" if v > 0.6 else "fair" if v > 0.3 else "bad"


def _space_phrase(f: Factors, state: str) -> list[str]:
    crowded = f.occupancy > IDEAL_OCCUPANCY[f.framing]
    pct = round(100 * (1 - f.occupancy))
    side = _open_side(f)
    if state == "good":
        return [f"Open space on {side} (about {pct}% of the frame is background) gives the subject room to breathe",
                f"The balance of figure and empty space is comfortable, with negative space on {side}"]
    if state == "fair":
        return ([f"The frame is fairly full, leaving only about {pct}% of it as negative space"] if crowded else
                [f"There is rather a lot of empty space (about {pct}% of the frame), making the subject slightly small"])
    if crowded and pct > 42:
        return [f"The people fill the frame so tightly that only about {pct}% of it is background"]
    return (["The people fill the frame so tightly that there is almost no negative space",
             "The frame is cramped: figures press against the edges with no breathing room"] if crowded else
            [f"The subject is tiny in a large empty frame (about {pct}% background), which feels vacant",
             "Excess empty space swallows the subject"])


def _lines_state(f: Factors) -> str:
    if f.leading_lines:
        return "good"
    return "bad" if f.clutter >= 0.55 else "fair"


def _lines_phrase(f: Factors, state: str) -> list[str]:
    if f.leading_lines:
        return ["Converging path lines run diagonally from the bottom corners towards the subject",
                "Strong leading lines on the ground draw the eye straight to the figure"]
    if state == "fair":
        return ["No strong lines guide the eye; the path to the subject relies on contrast alone",
                "The ground offers no leading lines, so the eye's route is left to the figure itself"]
    return ["Scattered shapes break up the frame and no line leads the eye to the subject",
            "The eye wanders among busy background shapes with nothing channelling it to the figure"]


def _coherence_value(f: Factors) -> float:
    golden_match = 0.2 if f.golden_hour else 0.0
    return float(_clamp(0.55 * f.harmony + 0.45 * (1 - f.clutter) + golden_match - 0.15 * f.light_hardness, 0, 1))


def _coherence_state(f: Factors) -> str:
    v = _coherence_value(f)
    return "good" if v > 0.7 else "fair" if v > 0.45 else "bad"


def _coherence_phrase(f: Factors, state: str) -> list[str]:
    temp = f.temperature
    if state == "good":
        return [f"The {temp} colour grade, light and simple setting form one consistent look",
                f"Setting, palette and {'golden-hour ' if f.golden_hour else ''}light all belong to the same {temp} mood"]
    if state == "fair":
        return ["The look is mostly consistent, though some background elements pull in another direction",
                "Light and colour broadly agree, but the styling is not fully unified"]
    return ["Loud props and mismatched colours make the image feel stylistically disjointed",
            "The colour scheme, lighting and busy setting do not add up to one style"]


def _novelty_value(f: Factors) -> float:
    v = 0.35 * (f.light_direction == "back") + 0.25 * f.golden_hour + 0.25 * (abs(f.horizon_tilt) > 6)
    v += 0.2 * (f.aspect in ("16:9", "1:1")) + 0.15 * (f.palette == "complementary")
    return float(min(v, 1.0))


def _novelty_state(f: Factors) -> str:
    v = _novelty_value(f)
    return "good" if v >= 0.4 else "fair" if v >= 0.15 else "bad"


def _novelty_phrase(f: Factors, state: str) -> list[str]:
    touches = [t for t, on in (
        ("a backlit, rim-lit figure", f.light_direction == "back"), ("golden-hour light", f.golden_hour),
        ("a deliberate Dutch angle", abs(f.horizon_tilt) > 6), (f"a {f.aspect} frame", f.aspect in ("16:9", "1:1")),
        ("a bold complementary palette", f.palette == "complementary")) if on]
    if state == "good":
        return [f"Unusual choices such as {' and '.join(touches[:2])} give the picture a distinctive voice",
                f"The image goes beyond a stock formula through {' and '.join(touches[:2])}"]
    if state == "fair":
        return [f"A familiar portrait set-up, lifted slightly by {touches[0] if touches else 'its framing'}",
                "The concept is conventional, with one or two touches of individuality"]
    return ["It reads like a conventional stock portrait with no unexpected idea",
            "The set-up follows a standard formula and offers little originality"]


TERMS: Final[dict[str, Term]] = {t.name: t for t in (
    Term("harmony", "palette harmony: warm 0.9, cool 0.85, complementary 0.75, muted 0.6, clashing 0.1",
         lambda f: f.harmony, _harmony_state, _harmony_phrase),
    Term("clutter", "background clutter, 0 clean .. 1 busy", lambda f: f.clutter, _clutter_state, _clutter_phrase),
    Term("blur", "global blur: min(global_blur / 3 px, 1)", lambda f: min(f.global_blur / 3.0, 1.0), _blur_state, _blur_phrase),
    Term("exposure_error", "min(|exposure| / 1.5 EV, 1)", lambda f: min(abs(f.exposure) / 1.5, 1.0),
         _exposure_state, _exposure_phrase),
    Term("light_quality", "light direction: side 1.0 (0.35 where overexposure washes its shadow side out), back 0.75, "
         "front 0.35, top 0.0", _light_value, _light_state, _light_phrase),
    Term("hardness", "light hardness, 0 soft .. 1 hard", lambda f: f.light_hardness, _hardness_state, _hardness_phrase),
    Term("separation", "background defocus: min(background_blur / 6 px, 1)", lambda f: min(f.background_blur / 6.0, 1.0),
         _separation_state, _separation_phrase),
    Term("thirds", "placement: 1 on a thirds line, 0.7 centred, 0 near an edge", _thirds_value, _thirds_state, _thirds_phrase),
    Term("tilt", "horizon tilt: clip((|tilt| - 0.8 deg) / 7, 0, 1)", _tilt_value, _tilt_state, _tilt_phrase),
    Term("crop", "crop severity: 0 none; head 0.55-1, joint 0.5-0.8, side 0.45-1 (grows with the amount cut)",
         _crop_value, _crop_state, _crop_phrase),
    Term("lead_room", "space ahead of the gaze minus behind, -1..1; 0.25 for a gaze into the camera",
         _lead_value, _lead_state, _lead_phrase),
    Term("crowding", "(n_people - 1) / 3", lambda f: (f.n_people - 1) / 3.0, _crowd_state, _crowd_phrase),
    Term("space", "negative space fit: 1 - |log(occupancy / ideal)| / log 3, clipped 0..1; ideal occupancy "
         "0.6 close-up, 0.3 half-body, 0.1 full-body", _space_value, _space_state, _space_phrase),
    Term("lines", "leading lines present: 1 or 0", lambda f: float(f.leading_lines), _lines_state, _lines_phrase),
    Term("coherence", "style coherence: 0.55 harmony + 0.45 (1 - clutter) + 0.2 golden hour - 0.15 hardness, clipped",
         _coherence_value, _coherence_state, _coherence_phrase),
    Term("novelty", "unusual choices: 0.35 backlight + 0.25 golden hour + 0.25 Dutch angle (> 6 deg) + 0.2 16:9 or 1:1 "
         "+ 0.15 complementary palette, capped at 1", _novelty_value, _novelty_state, _novelty_phrase),
)}


# ---- attribute models ---------------------------------------------------------------------------
@dataclass(frozen=True)
class AttributeModel:
    """score = clip(base + sum(weight * term) + noise_sd * N(0,1), 0, 10); verdicts finish a reason per level."""

    attribute: str
    base: float
    weights: dict[str, float]
    noise_sd: float
    verdicts: dict[str, tuple[str, ...]]


MODELS: Final[dict[str, AttributeModel]] = {m.attribute: m for m in (
    AttributeModel("Color Harmony", 4.3, {"harmony": 3.8, "clutter": -1.6, "exposure_error": -0.9}, 0.45, {
        "Good": ("creating a pleasing, unified colour mood", "so the colours feel harmonious and intentional"),
        "Medium": ("so the colour works but lacks real cohesion", "giving an acceptable yet unremarkable colour balance"),
        "Poor": ("which makes the colour scheme feel discordant", "so the colours undermine the portrait's mood")}),
    AttributeModel("Visual Style Consistency", 3.9, {"coherence": 4.2, "exposure_error": -0.8, "blur": -0.6}, 0.5, {
        "Good": ("so the visual style is consistent throughout", "giving the image a unified aesthetic"),
        "Medium": ("so the style is only partly consistent", "leaving the overall look somewhat mixed"),
        "Poor": ("so the style feels inconsistent", "which breaks the coherence of the look")}),
    AttributeModel("Sharpness", 8.3, {"blur": -5.2, "exposure_error": -0.5}, 0.4, {
        "Good": ("giving the portrait clean, well-defined detail", "so the key features are crisp"),
        "Medium": ("so sharpness is acceptable but not crisp", "leaving the detail adequate rather than sharp"),
        "Poor": ("so the subject's features are hard to read", "which leaves the portrait unacceptably soft")}),
    AttributeModel("Light and Shadow Modeling", 4.8, {"light_quality": 3.2, "hardness": -1.7}, 0.5, {
        "Good": ("giving the face flattering, dimensional modelling", "so light and shadow sculpt the subject well"),
        "Medium": ("so the modelling is serviceable but not refined", "leaving the light only moderately flattering"),
        "Poor": ("which is unflattering and flattens or disfigures the form", "so the lighting works against the subject")}),
    AttributeModel("Creativity and Originality", 5.6, {"novelty": 1.4}, 1.1, {
        "Good": ("lending the image real originality", "so the idea feels fresh"),
        "Medium": ("so originality is moderate", "resulting in a competent but familiar image"),
        "Poor": ("so the image lacks a creative idea", "leaving little that is original")}),
    AttributeModel("Exposure Control", 7.9, {"exposure_error": -5.4}, 0.4, {
        "Good": ("so exposure control is excellent", "preserving tonal gradation across the frame"),
        "Medium": ("so exposure is passable but imperfect", "costing some tonal range"),
        "Poor": ("so exposure control is poor", "losing important detail on the subject")}),
    AttributeModel("Application of Classical Composition Principles", 4.7,
                   {"thirds": 2.6, "tilt": -1.5, "crop": -2.0, "lines": 0.7, "lead_room": 0.6}, 0.5, {
        "Good": ("a sound application of classical composition", "so the layout follows proven principles"),
        "Medium": ("so the composition is conventional but not refined", "an adequate though unremarkable arrangement"),
        "Poor": ("so the layout ignores basic composition principles", "which makes the composition feel arbitrary")}),
    AttributeModel("Depth of Field and Layering", 4.8, {"separation": 3.3, "clutter": -1.2, "lines": 0.6, "blur": -1.4}, 0.5, {
        "Good": ("creating clear layering between subject and background", "so depth and separation are convincing"),
        "Medium": ("so the layering is only moderate", "giving partial separation between planes"),
        "Poor": ("so the image lacks depth and separation", "which fails to separate the subject from its surroundings")}),
    AttributeModel("Visual Center Stability", 7.3, {"crowding": -2.2, "clutter": -1.9, "crop": -1.6, "separation": 0.8}, 0.5, {
        "Good": ("so the visual centre is clear and stable", "keeping attention firmly on the main subject"),
        "Medium": ("so the visual centre holds, but with some competition", "leaving the centre of interest only moderately stable"),
        "Poor": ("so the eye has no stable centre to rest on", "which weakens the visual centre considerably")}),
    AttributeModel("Visual Flow Guidance", 5.0, {"lines": 1.7, "lead_room": 1.3, "clutter": -1.2, "thirds": 0.9}, 0.55, {
        "Good": ("guiding the viewer's eye smoothly to the subject", "so the visual flow is purposeful"),
        "Medium": ("so the eye's path is adequate but not guided", "giving only modest flow through the frame"),
        "Poor": ("so the visual flow is confused", "which leaves the eye without direction")}),
    AttributeModel("Structural Support Stability", 7.6, {"tilt": -4.4, "crop": -0.9, "thirds": 0.3}, 0.45, {
        "Good": ("so the structure feels grounded and stable", "giving the frame a solid foundation"),
        "Medium": ("so the structure is mostly stable with minor unease", "leaving the frame slightly unsettled"),
        "Poor": ("so the frame feels unstable and unbalanced", "which undermines the structural balance")}),
    AttributeModel("Appropriateness of Negative Space", 4.5, {"space": 2.6, "lead_room": 1.3, "clutter": -1.0}, 0.5, {
        "Good": ("so the negative space is used well", "supporting the subject with well-judged empty areas"),
        "Medium": ("so the use of space is acceptable but not ideal", "leaving negative space only partly effective"),
        "Poor": ("so the negative space is poorly judged", "which upsets the balance of subject and space")}),
    AttributeModel("Subject Integrity", 8.1, {"crop": -5.2, "crowding": -0.7, "blur": -0.8}, 0.45, {
        "Good": ("so the subject's integrity is fully preserved", "keeping the subject whole and unobstructed"),
        "Medium": ("so integrity is mostly preserved", "a minor compromise to the subject's completeness"),
        "Poor": ("so the subject's integrity is badly compromised", "which damages the completeness of the subject")}),
)}
assert tuple(MODELS) == ATTRIBUTE_NAMES, "MODELS must cover the 13 attributes in the published order"

TOTAL_WEIGHTS: Final[dict[str, float]] = {name: (0.6 if name == "Creativity and Originality" else 1.0) for name in ATTRIBUTE_NAMES}
# The total stretches the attribute mean: two real training records (attribute means 5.7 and 7.2, totals
# 53 and 71) lie on a slope of about 12 points per attribute point; 14 spreads the lab's totals over
# roughly 45-85, the bulk of the real range.
TOTAL_AT_SIX: Final[float] = 62.0
TOTAL_SLOPE: Final[float] = 14.0
TOTAL_NOISE_SD: Final[float] = 3.0
ANNOTATOR_BIAS_SD: Final[float] = 0.3


def model_table() -> list[dict[str, Any]]:
    """The scoring functions as rows (attribute, base, term, weight, term meaning, noise_sd), for the book."""
    rows = []
    for model in MODELS.values():
        for term, weight in model.weights.items():
            rows.append(dict(attribute=model.attribute, base=model.base, term=term, weight=weight,
                             term_meaning=TERMS[term].doc, noise_sd=model.noise_sd))
    return rows


# ---- labels ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AttributeLabel:
    score: float
    level: str
    driver: str  # the term cited by the reason
    reason: str


def term_values(f: Factors) -> dict[str, float]:
    return {name: float(term.value(f)) for name, term in TERMS.items()}


def expected_scores(f: Factors, values: dict[str, float] | None = None) -> dict[str, float]:
    """Noise-free score of every attribute (what a perfect reader of the factors would predict)."""
    values = term_values(f) if values is None else values
    return {
        name: float(_clamp(m.base + sum(w * values[t] for t, w in m.weights.items()), 0.0, 10.0))
        for name, m in MODELS.items()
    }


def cited_term(f: Factors, attribute: str, level: str) -> str | None:
    """The term a reason about ``attribute`` at ``level`` cites for the scene ``f``, and the right option of a
    question about it: among the attribute's terms whose state matches the level (a strength for Good, a middling
    point for Medium, a fault for Poor), the one that moved the score most that way; None when no term is in that
    state (the level then comes from the annotator's noise, and the text gives `OVERALL_CAUSES` instead)."""
    states = {name: term.state(f) for name, term in TERMS.items()}
    return _driver(MODELS[attribute], term_values(f), level, states)


def _driver(model: AttributeModel, values: dict[str, float], level: str, states: dict[str, str]) -> str | None:
    """`cited_term` from the scene's term values and states, computed once for all 13 attributes."""
    # Contribution relative to a middling term value, so "no blur" counts as helping Sharpness.
    contributions = {t: w * (values[t] - 0.5) for t, w in model.weights.items() if states[t] == LEVEL_STATE[level]}
    if not contributions:
        return None
    if level == "Poor":
        return min(contributions, key=contributions.get)
    if level == "Good":
        return max(contributions, key=contributions.get)
    return max(contributions, key=lambda t: abs(contributions[t]))


# The cause of a reason whose level no single term explains (annotator noise): worded at that level.
OVERALL_CAUSES: Final[dict[str, tuple[str, ...]]] = {
    "Good": ("Taken as a whole, several modest strengths add up", "Overall the picture handles this well"),
    "Medium": ("Strengths and weaknesses balance out", "Taken as a whole, the picture is middling here"),
    "Poor": ("No single fault dominates, but small weaknesses add up", "Taken as a whole, the small weaknesses add up"),
}


ARTICLES: Final[frozenset[str]] = frozenset({"a", "an", "the"})


def _verdict(verdicts: tuple[str, ...], pick: float, cause: str) -> str:
    """The picked verdict, or another where the picked one would open with a word the cause already opens a clause
    with ('..., giving the frame a firm base, giving ...')."""
    order = [int(pick * len(verdicts))] + [i for i in range(len(verdicts)) if i != int(pick * len(verdicts))]
    for i in order:
        opener = verdicts[i].split()[0].lower()
        if opener in ARTICLES or not re.search(rf"(?:^|, ){re.escape(opener)}\b", cause, re.I):
            return verdicts[i]
    return verdicts[order[0]]


def _sentence(text: str) -> str:
    text = text.strip()
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


def label_attributes(f: Factors, rng: np.random.Generator) -> dict[str, AttributeLabel]:
    """Score, level, driving term and reason for each of the 13 attributes (draws the noise from rng).

    Besides each attribute's own noise, one shared ``ANNOTATOR_BIAS_SD`` draw per image moves all 13
    scores together: a rater's overall impression, which no pixel explains.
    """
    values = term_values(f)
    expected = expected_scores(f, values)
    # All draws at once: one call per record is much cheaper than 40 scalar calls at 50,000 records.
    noise = rng.standard_normal(len(MODELS) + 1).tolist()
    picks = rng.random(2 * len(MODELS)).tolist()
    bias = ANNOTATOR_BIAS_SD * noise[-1]
    labels = {}
    states = {name: term.state(f) for name, term in TERMS.items()}
    phrase_cache: dict[str, list[str]] = {}  # several attributes share a driving term
    for i, (name, model) in enumerate(MODELS.items()):
        score = rounded(_clamp(expected[name] + bias + model.noise_sd * noise[i], 0.0, 10.0), 1)
        level = level_from_score(score)
        driver = _driver(model, values, level, states)
        if driver is None:
            phrases = list(OVERALL_CAUSES[level])
            driver = _driver_any(model, values, level)
        else:
            if driver not in phrase_cache:
                phrase_cache[driver] = TERMS[driver].phrase(f, states[driver])
            phrases = phrase_cache[driver]
        phrase = phrases[int(picks[2 * i] * len(phrases))]
        verdict = _verdict(model.verdicts[level], picks[2 * i + 1], phrase)
        labels[name] = AttributeLabel(score, level, driver, _sentence(f"{phrase}, {verdict}"))
    return labels


def _driver_any(model: AttributeModel, values: dict[str, float], level: str) -> str:
    """The term that moved the score most towards its level, whatever its state (for the question's distractors)."""
    contributions = {t: w * (values[t] - 0.5) for t, w in model.weights.items()}
    if level == "Poor":
        return min(contributions, key=contributions.get)
    if level == "Good":
        return max(contributions, key=contributions.get)
    return max(contributions, key=lambda t: abs(contributions[t]))


def total_from_scores(scores: dict[str, float], rng: np.random.Generator) -> int:
    """total = clip(round(TOTAL_AT_SIX + TOTAL_SLOPE * (weighted mean - 6) + TOTAL_NOISE_SD * N(0,1)), 1, 100)."""
    weight_sum = sum(TOTAL_WEIGHTS.values())
    mean = sum(TOTAL_WEIGHTS[n] * scores[n] for n in ATTRIBUTE_NAMES) / weight_sum
    value = TOTAL_AT_SIX + TOTAL_SLOPE * (mean - 6.0) + TOTAL_NOISE_SD * rng.standard_normal()
    return int(_clamp(rounded(value, 0), 1, 100))


QUESTION_TEMPLATE: Final[str] = "Regarding the {attribute} in this image, which of the following best describes the visual evidence?"


def make_question(f: Factors, labels: dict[str, AttributeLabel], attribute: str, answer: str,
                  rng: np.random.Generator) -> tuple[str, dict[str, str]]:
    """The question about ``attribute`` and four options, the right one at letter ``answer``.

    The right option describes the true state of the term that drove the score, with the true level's
    verdict. Two distractors describe the same term in the other two states with the other levels'
    verdicts; the fourth describes another term of the same attribute in a state it is not in.
    """
    model = MODELS[attribute]
    label = labels[attribute]
    term = TERMS[label.driver]
    true_state = term.state(f)

    def option(t: Term, state: str, level: str) -> str:
        phrases = t.phrase(counterfactual(f, t.name, state) if state != t.state(f) else f, state)
        phrase = phrases[int(rng.integers(len(phrases)))]
        verdicts = model.verdicts[level]
        return _sentence(f"{phrase}, {_verdict(verdicts, int(rng.integers(len(verdicts))) / len(verdicts), phrase)}")

    if STATE_LEVEL[true_state] == label.level:
        right = option(term, true_state, label.level)
    else:  # the reason gave the annotator's overall impression: so does the right answer
        verdicts = model.verdicts[label.level]
        causes = OVERALL_CAUSES[label.level]
        cause = causes[int(rng.integers(len(causes)))]
        right = _sentence(f"{cause}, {_verdict(verdicts, float(rng.random()), cause)}")
    wrong_levels = [lv for lv in LEVELS if lv != label.level]
    wrong = []
    for level in wrong_levels:
        state = LEVEL_STATE[level] if LEVEL_STATE[level] != true_state else next(
            s for s in STATES if s != true_state and s not in (LEVEL_STATE[x] for x in wrong_levels))
        wrong.append(option(term, state, level))
    others = [t for t in model.weights if t != label.driver] or [t for t in TERMS if t != label.driver]
    other = TERMS[others[int(rng.integers(len(others)))]]
    false_states = [s for s in STATES if s != other.state(f)]
    false_state = false_states[int(rng.integers(len(false_states)))]
    wrong.append(option(other, false_state, STATE_LEVEL[false_state]))
    # Distractors must differ in wording from the right answer and from each other.
    seen = {right}
    unique = []
    for text in wrong:
        if text in seen:
            text = _sentence(f"{text[:-1]}, by a wide margin")
        seen.add(text)
        unique.append(text)
    order = [letter for letter in ANSWER_LETTERS if letter != answer]
    rng.shuffle(order)
    options = {answer: right, **dict(zip(order, unique))}
    return QUESTION_TEMPLATE.format(attribute=attribute), {k: options[k] for k in ANSWER_LETTERS}


def counterfactual(f: Factors, term: str, state: str) -> Factors:
    """The scene ``f`` with the factors behind ``term`` changed so that the term reads ``state``: the scene a
    distractor option describes (its wording only; no image is rendered from it). For ``space`` the scene is
    returned unchanged: its wording follows the requested state, and the occupancy it quotes is the true one."""
    return f.replace(**_counterfactual_changes(f, term, state))


def _counterfactual_changes(f: Factors, term: str, state: str) -> dict[str, Any]:
    plain = {"light_direction": "left", "golden_hour": False, "horizon_tilt": 0.0, "aspect": "2:3", "palette": "warm"}
    table: dict[str, dict[str, dict[str, Any]]] = {
        "harmony": {"good": {"palette": "warm"}, "fair": {"palette": "muted"}, "bad": {"palette": "clashing"}},
        "clutter": {"good": {"clutter": 0.1}, "fair": {"clutter": 0.4}, "bad": {"clutter": 0.8}},
        "blur": {"good": {"global_blur": 0.0}, "fair": {"global_blur": 1.0}, "bad": {"global_blur": 3.0}},
        "exposure_error": {"good": {"exposure": 0.0}, "fair": {"exposure": 0.6 if f.exposure >= 0 else -0.6},
                           "bad": {"exposure": 1.2 if f.exposure >= 0 else -1.2}},
        "light_quality": {"good": {"light_direction": "left", "exposure": 0.0}, "fair": {"light_direction": "front"},
                          "bad": {"light_direction": "top"}},
        "hardness": {"good": {"light_hardness": 0.1}, "fair": {"light_hardness": 0.5}, "bad": {"light_hardness": 0.9}},
        "separation": {"good": {"background_blur": 6.0}, "fair": {"background_blur": 2.5}, "bad": {"background_blur": 0.0}},
        "thirds": {"good": {"subject_x": 1 / 3}, "fair": {"subject_x": 0.5}, "bad": {"subject_x": 0.12}},
        "tilt": {"good": {"horizon_tilt": 0.0}, "fair": {"horizon_tilt": 2.0}, "bad": {"horizon_tilt": 8.0}},
        "lead_room": {"good": {"gaze": "camera"}, "fair": {"gaze": "right", "subject_x": 0.5, "n_people": 1},
                      "bad": {"gaze": "right", "subject_x": 0.8, "n_people": 1}},
        "crowding": {"good": {"n_people": 1}, "fair": {"n_people": 2}, "bad": {"n_people": 4}},
        "lines": {"good": {"leading_lines": True}, "fair": {"leading_lines": False, "clutter": 0.3},
                  "bad": {"leading_lines": False, "clutter": 0.8}},
        "coherence": {"good": {"palette": "warm", "clutter": 0.05, "light_hardness": 0.1},
                      "fair": {"palette": "muted", "clutter": 0.4, "golden_hour": False},
                      "bad": {"palette": "clashing", "clutter": 0.9}},
        "novelty": {"good": {"light_direction": "back", "golden_hour": True},
                    "fair": {**plain, "aspect": "16:9"}, "bad": plain},
    }
    if term == "crop":
        scale = f.subject_scale
        if state == "good":
            return {"subject_y": 1.0 - sum(NATURAL_CUT[f.framing]) / 2 * scale, "subject_x": 0.5}
        if state == "fair":
            return {"subject_y": -HEAD_TOP * scale - 0.1 * scale, "subject_x": 0.5}
        return {"subject_y": -HEAD_TOP * scale - 0.35 * scale, "subject_x": 0.5}
    if term == "space":
        return {}  # its wording follows the requested state; the occupancy it quotes is the true one
    return table[term][state]
