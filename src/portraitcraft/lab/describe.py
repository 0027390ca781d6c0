"""Track 2 texts for a lab scene: a ``content_description`` (what is in the picture, about 1,000
characters) and a ``composition_analysis`` (how it is composed, about 1,600 characters), written from
the factors so that every composition claim is true of the rendered image.

The analysis always states, in varying words, the properties a Track 2 scorer parses: placement
(left/right third, centred, near an edge), framing, number of people, amount and side of negative
space, depth of field (shallow/deep), horizon (level/tilted), light (soft/hard, direction, backlit,
golden hour), palette temperature (warm/cool), gaze direction and lead room, and leading lines.
Lengths vary: each text draws a target length and adds optional sentences until it is reached.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from portraitcraft.lab.factors import Factors, frame_size, in_degrees
from portraitcraft.lab.render import figure_look, scene_props, side_light_shows

CONTENT_CHARS: Final[tuple[int, int]] = (860, 1450)  # the real sample ranges from 886 to 1,545
ANALYSIS_CHARS: Final[tuple[int, int]] = (1380, 1900)  # the real sample ranges from 1,426 to 1,973

NAMED_COLOURS: Final[dict[str, tuple[int, int, int]]] = {
    "rust red": (168, 72, 42), "burnt orange": (210, 110, 50), "warm brown": (122, 64, 40), "sand": (220, 170, 96),
    "navy blue": (40, 70, 120), "steel blue": (70, 120, 150), "deep teal": (30, 100, 110), "pale blue": (150, 176, 200),
    "bright orange": (240, 150, 60), "charcoal grey": (70, 70, 74), "stone grey": (140, 132, 120),
    "taupe": (170, 164, 150), "scarlet": (250, 60, 40), "cobalt blue": (40, 60, 250), "lemon yellow": (250, 230, 20),
    "turquoise": (20, 220, 220), "dark olive": (80, 80, 50), "black": (25, 25, 28), "dark brown": (60, 40, 30),
    "chestnut": (110, 70, 40), "blonde": (180, 150, 100), "grey": (110, 110, 110),
}
PLURALS: Final[dict[str, str]] = {"building": "blocky buildings", "bush": "rounded bushes", "pole": "thin poles",
                                  "sign": "rectangular signs"}
PEOPLE_WORDS: Final[dict[int, str]] = {1: "a single person", 2: "two people", 3: "three people", 4: "four people"}
FRAMING_WORDS: Final[dict[str, tuple[str, ...]]] = {
    "close-up": ("a tight head-and-shoulders close-up", "a close-up portrait framed at the chest"),
    "half-body": ("a half-body shot framed at the waist", "a medium, waist-up portrait"),
    "full-body": ("a full-body shot showing the figure from head to feet", "a full-length portrait"),
}


def colour_name(rgb: tuple[int, int, int]) -> str:
    """The nearest name in NAMED_COLOURS."""
    return min(NAMED_COLOURS, key=lambda n: sum((a - b) ** 2 for a, b in zip(NAMED_COLOURS[n], rgb)))


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _fill(rng: np.random.Generator, core: list[str], extra: list[str], target: int) -> str:
    """Core sentences in order, then optional ones (in random order) while the text is shorter than target."""
    sentences = list(core)
    length = sum(len(s) + 1 for s in sentences)
    for i in rng.permutation(len(extra)):
        if length >= target:
            break
        sentences.append(extra[i])
        length += len(extra[i]) + 1
    return " ".join(sentences)


def describe_content(f: Factors, rng: np.random.Generator) -> str:
    """What the picture shows: people, clothes, setting, light and mood, in about 1,000 characters."""
    look = figure_look(f, 0)
    top, hair = colour_name(look["top"]), colour_name(look["hair"])
    trousers = colour_name(look["trousers"])
    width, height = frame_size(f.aspect)
    props = scene_props(f, width, height)
    kinds = sorted({p["kind"] for p in props})
    gaze = {"left": "turned towards the left of the frame", "right": "turned towards the right of the frame",
            "camera": "facing the camera directly"}[f.gaze]
    orientation = "vertical" if height > width else "horizontal" if width > height else "square"
    core = [
        f"The image shows {PEOPLE_WORDS[f.n_people]} standing outdoors in a simple, stylised scene, "
        f"captured as {_pick(rng, FRAMING_WORDS[f.framing])} in a {orientation} {f.aspect} frame.",
        f"The main subject has {hair} hair and wears a {top} top"
        + (f" with {trousers} trousers" if f.framing == "full-body" else "") + f", with the head {gaze}.",
    ]
    if f.n_people > 1:
        core.append(_pick(rng, (
            f"Beside the subject stand {f.n_people - 1} companion{'s' if f.n_people > 2 else ''}, slightly smaller "
            "and a step behind, dressed in colours from the same scheme.",
            f"{('One other figure shares', 'Two other figures share', 'Three other figures share')[f.n_people - 2]} "
            "the frame beside the subject, at a similar distance from the camera.")))
    sky = "a warm orange and gold sky" if f.golden_hour else {
        "warm": "a pale apricot sky", "cool": "a soft blue sky", "complementary": "a deep blue sky",
        "muted": "an overcast grey sky", "clashing": "a lurid green and yellow sky"}[f.palette]
    ground = {"warm": "sandy brown ground", "cool": "blue-grey ground", "complementary": "dark blue ground",
              "muted": "grey stone ground", "clashing": "magenta ground"}[f.palette]
    core.append(f"Behind them, {sky} meets {ground} at a {'level' if abs(f.horizon_tilt) < 1 else 'slanted'} horizon.")
    if props:
        amount = "a few" if len(props) <= 7 else "several" if len(props) <= 15 else "many"
        core.append(f"The background holds {amount} props: {', '.join(PLURALS[k] for k in kinds)}"
                    + (", in loud, saturated colours." if f.clutter > 0.55 else ", in colours close to the scene's palette."))
    else:
        core.append("The background is bare, with no props beyond sky and ground.")
    if f.leading_lines:
        core.append("Pale path lines run across the ground from the bottom of the frame towards the subject.")
    light = {"left": "from the left", "right": "from the right", "front": "from the front",
             "back": "from behind the subject", "top": "from directly above"}[f.light_direction]
    if f.light_direction in ("left", "right") and not side_light_shows(f):
        light = "evenly across the figure, its direction washed out by the bright exposure"
    core.append(f"The light comes {light}, {'hard and direct' if f.light_hardness > 0.6 else 'soft and diffuse' if f.light_hardness < 0.35 else 'moderately soft'}"
                + (", with the low sun glowing in the sky." if f.golden_hour or f.light_direction == "back" else "."))
    mood = {"warm": "warm and inviting", "cool": "calm and cool", "complementary": "vivid and energetic",
            "muted": "quiet and subdued", "clashing": "loud and chaotic"}[f.palette]
    extra = [
        f"The overall mood is {mood}.",
        f"Skin is rendered in a {'pale' if sum(look['skin']) > 600 else 'medium' if sum(look['skin']) > 480 else 'deep'} tone with simple, flat features.",
        "The figures are drawn from simple geometric shapes: an oval head, a tapered torso and rounded limbs.",
        "Fine grain gives the ground a slightly textured surface." if f.background_blur < 2 else
        "The ground's texture dissolves into a smooth blur behind the figures.",
        "The image looks overexposed, with pale, washed-out colours." if f.exposure > 0.5 else
        "The image is dark, with colours sinking into shadow." if f.exposure < -0.5 else
        "Brightness looks natural, with colours neither washed out nor murky.",
        "The whole picture is soft, as if slightly out of focus." if f.global_blur > 1 else
        "Outlines of the figures are crisp against the background.",
        f"The colour palette centres on {'warm tones' if f.temperature == 'warm' else 'cool tones' if f.temperature == 'cool' else 'mixed tones'}, "
        f"repeated in clothing and background.",
        "The subject's expression is neutral and calm, the mouth a small straight line.",
        "Nothing in the scene is written or branded; it is a generic outdoor setting.",
        "The arms hang loosely by the sides, and the posture is upright and relaxed.",
        f"The sky occupies roughly the {'upper third' if f.horizon_y < 0.42 else 'upper half' if f.horizon_y < 0.6 else 'upper two thirds'} of the frame.",
        "The clothing is plain, without visible patterns, logos or accessories.",
        f"The scene suggests {'late afternoon, with the sun low near the horizon' if f.golden_hour else 'daytime under an open sky'}.",
    ]
    return _fill(rng, core, extra, int(rng.integers(*CONTENT_CHARS)))


def analyse_composition(f: Factors, rng: np.random.Generator) -> str:
    """How the picture is composed, in about 1,600 characters, stating every parsed property."""
    side_room = f"on the {f.open_side} side" if f.open_side else "spread on either side"
    placement = {
        "left third": ("The subject is placed on the left third of the frame", "Placed along the left third line, the subject"
                       " sits off-centre"),
        "right third": ("The subject is placed on the right third of the frame", "Placed along the right third line, the"
                        " subject sits off-centre"),
        "centre": ("The subject is centred in the frame", "A centred placement puts the subject on the frame's vertical axis"),
        "far left": ("The subject is pushed to the far left, near the edge", "Crowded against the edge at the far left, the subject"
                     " sits well off the thirds"),
        "far right": ("The subject is pushed to the far right, near the edge", "Crowded against the edge at the far right, the"
                      " subject sits well off the thirds"),
    }[f.placement]
    framing = {"close-up": "close-up", "half-body": "half-body", "full-body": "full-body"}[f.framing]
    people = "a single subject" if f.n_people == 1 else f"a group of {f.n_people} people"
    space_pct = round(100 * (1 - f.occupancy))
    space_amount = "generous" if space_pct > 70 else "moderate" if space_pct > 40 else "little"
    depth = ("shallow depth of field" if f.background_blur >= 4 else "moderate depth of field" if f.background_blur >= 1.5
             else "deep depth of field")
    tilt = abs(f.horizon_tilt)
    horizon = ("The horizon is level, giving the frame a stable base" if tilt < 1 else
               f"The horizon is tilted by about {in_degrees(tilt)}, rising to the {'right' if f.horizon_tilt > 0 else 'left'}")
    hardness = "hard" if f.light_hardness > 0.6 else "soft" if f.light_hardness < 0.35 else "moderately soft"
    direction = {"left": "side light from the left", "right": "side light from the right", "front": "flat frontal light",
                 "back": "backlight that rims the figure", "top": "overhead top light"}[f.light_direction]
    if f.light_direction in ("left", "right") and not side_light_shows(f):
        direction = "light washed flat by the overexposure"
    golden = " in golden hour" if f.golden_hour else ""
    palette = {"warm": "warm palette", "cool": "cool palette", "neutral": "neutral, muted palette",
               "mixed": "mixed palette of warm and cool hues"}[f.temperature]
    if f.gaze == "camera":
        gaze = _pick(rng, ("The subject's gaze meets the camera, so no lead room is needed",
                           "Looking straight into the lens, the subject engages the viewer directly"))
    elif f.lead_room > 0.2:
        gaze = f"The subject looks {f.gaze}, with ample lead room in front of the gaze"
    elif f.lead_room > -0.2:
        gaze = f"The subject looks {f.gaze}, with only modest lead room ahead"
    else:
        gaze = f"The subject looks {f.gaze} towards the nearby edge, leaving no lead room"
    lines = (_pick(rng, ("Converging leading lines on the ground form diagonals that point to the subject",
                         "Diagonal path lines act as leading lines, pulling the eye into the frame and onto the figure"))
             if f.leading_lines else
             _pick(rng, ("There are no leading lines; the eye's path depends on the figure itself",
                         "With no leading lines or diagonals on the ground, the layout relies on placement")))
    kind, amount = f.crop
    crop = {
        "none": f"The {framing} crop keeps the subject whole" + (" from head to feet" if f.framing == "full-body" else
                                                                 ", ending at a natural line"),
        "head": "The top edge cuts off part of the subject's head, an awkward crop",
        "joint": f"The bottom edge cuts the subject at the {f.cut_joint}, an awkward crop at a joint",
        "side": f"The {'left' if f.subject_x < 0.5 else 'right'} edge cuts into the subject's {f.side_cut_part}",
    }[kind]
    core = [
        f"{_pick(rng, ('This is', 'The composition is built as'))} a {framing} portrait of {people} in a {f.aspect} frame.",
        f"{placement[int(rng.integers(2))]}, with {space_amount} negative space (about {space_pct}% of the frame) "
        f"{side_room}.",
        f"{crop}.",
        f"{gaze}.",
        f"A {depth} {'separates the subject from a softly blurred background' if f.background_blur >= 4 else 'keeps the background fairly sharp behind the subject' if f.background_blur < 1.5 else 'softens the background a little'}.",
        f"{horizon}.",
        f"The lighting is {hardness} {direction}{golden}, "
        f"{'modelling the face with a gradual shadow side' if hardness == 'soft' else 'leaving a crisp shadow edge across the figure' if hardness == 'hard' else 'with a visible but gentle shadow edge'}.",
        f"A {palette} ties the scene together{' but clashing saturated accents fight for attention' if f.palette == 'clashing' else ''}.",
        f"{lines}.",
    ]
    extra = [
        "The visual centre rests on the subject's face, the brightest and most detailed area." if f.n_people == 1 else
        "Attention is shared among the figures, so the visual centre is less decisive.",
        "A busy background competes with the subject for attention." if f.clutter > 0.55 else
        "The uncluttered background keeps the eye on the subject." if f.clutter < 0.25 else
        "A few background props add context without overwhelming the subject.",
        "Exposure is well controlled, holding detail in both highlights and shadows." if abs(f.exposure) < 0.3 else
        f"The image is {'overexposed, with highlights clipping' if f.exposure > 0 else 'underexposed, with shadows crushed'}.",
        "Overall sharpness is good, with crisp outlines on the face." if f.global_blur < 0.3 else
        "A global softness reduces sharpness across the whole frame.",
        "Layering runs from the ground in the foreground, through the figure, to the sky and props behind.",
        "The horizontal band of the horizon balances the vertical line of the standing figure.",
        f"The {f.aspect} aspect ratio {'suits the upright figure' if frame_size(f.aspect)[1] > frame_size(f.aspect)[0] else 'leaves room beside the figure'}.",
        "Overall, the structure feels grounded and deliberate." if tilt < 1 and kind == "none" else
        "Overall, the structure feels somewhat unsettled.",
        "Together these choices give the portrait a clear, readable hierarchy from subject to background.",
        f"The eye tends to enter from the {'lower' if f.leading_lines else 'upper'} part of the frame and settle on the "
        f"subject's head, {'then drift along the gaze' if f.gaze != 'camera' else 'held there by the direct gaze'}.",
        f"Visual weight is {'balanced by the open space opposite the subject' if f.placement in ('left third', 'right third') else 'evenly distributed about the centre line' if f.placement == 'centre' else 'heavily concentrated on one side, tipping the balance'}.",
        "The figures form a loose horizontal row whose heads create a gentle rhythm across the frame." if f.n_people > 1 else
        "The lone vertical of the figure acts as the frame's main structural support.",
        f"Tonal contrast between the {'lit' if f.light_direction != 'back' else 'rim-lit'} figure and the background "
        f"{'is strong, so the silhouette reads clearly' if f.background_blur >= 4 or f.clutter < 0.25 else 'is moderate, so some edges merge with the surroundings'}.",
        f"The headroom above the subject is {'absent, since the head touches or crosses the top edge' if kind == 'head' else 'comfortable' if f.subject_y - 0.5 * f.subject_scale > 0.06 else 'tight'}.",
        f"Colour temperature is consistently {f.temperature} across sky, ground and clothing, supporting a unified mood."
        if f.palette != "clashing" else "Colour choices are inconsistent, with competing hues undermining unity.",
        f"The depth cues are {'strong: focus falls off quickly behind the subject' if f.background_blur >= 4 else 'weak: subject and background share similar sharpness'}"
        f"{', while the converging lines add linear perspective' if f.leading_lines else ''}.",
        "Negative space is used as a counterweight rather than as empty filler." if space_amount != "little" else
        "The lack of negative space makes the frame feel dense and tightly packed.",
    ]
    return _fill(rng, core, extra, int(rng.integers(*ANALYSIS_CHARS)))


def describe_scene(f: Factors, rng: np.random.Generator) -> tuple[str, str]:
    """(content_description, composition_analysis) of a scene."""
    return describe_content(f, rng), analyse_composition(f, rng)
