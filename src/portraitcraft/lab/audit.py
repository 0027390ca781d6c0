"""Check every statement the lab's texts make about a scene against the scene as rendered.

The lab writes its reasons, questions and Track 2 descriptions from each scene's factors, so checking a sentence
against the factors always passes. The audit never reads ``lab_factors.json``: it reads the published texts, the
images and the label masks the renderer wrote (``lab_masks/``, ``lab_masks.json``; see
:func:`portraitcraft.lab.render.scene_masks`) and measures what the picture shows: the people visible and the
visible fraction of each, how much of each side is free of people, where the frame cuts the main subject (top of
the head, side edges, the bottom edge's line on the body), the horizon's angle, where the eyes look, which side of
the subject the light falls on, and the colours of the background.

The audit needs the default 512-pixel render (smaller images blur what it measures). For example::

    from portraitcraft.lab import write_lab
    from portraitcraft.lab.audit import audit_lab

    write_lab("data/audit-lab", n_train=2, n_test=0,
              n_track2_train=0, n_track2_test=0, seed=0)
    report = audit_lab("data/audit-lab")
    print(report.summary())
    report.contradictions[:3]

Each kind of statement has a stated tolerance (``TOLERANCES``). Each reason's cause (the clause before the
verdict) must also agree with its judgement: a cause worded as a strength never ends in a Poor verdict, a fault
never in a Good one, and a middling cause only in a Medium one (:func:`cause_state`).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Final

import numpy as np
from PIL import Image

from portraitcraft.attributes import ATTRIBUTE_NAMES
from portraitcraft.data import GROUND_TRUTH_FILE, DataError, index_images, read_json_records
from portraitcraft.lab.annotate import MODELS, STATE_LEVEL
from portraitcraft.lab.factors import JOINT_LINES, LONG_SIDE, NATURAL_CUT
from portraitcraft.lab.figure import FIGURE_PARTS, lead_room
from portraitcraft.lab.render import GROUND_LABEL
from portraitcraft.lab.writer import MASKS_FILE, MASKS_FOLDER, mask_name

# ---- tolerances -----------------------------------------------------------------------------------
# The smallest long side the audit is run on: the lab's default. Below it the picture cannot show the distinctions
# the texts draw as finely as the tolerances check them: the generator calls a horizon level under 1 degree and
# slightly tilted from 1 degree (the drawn line's rows put it only to a few tenths of a degree across 200 px), and a
# full-body figure's head is 15 px tall at 256 px, too few to place a crop line within a quarter of a head. A
# 350-image lab audited to 4 such contradictions at 256 px and to none at 512; at 96 px the eyes are a pixel or two
# across. Scaling the tolerances with the size would let "level" and "slightly tilted" both pass one picture, so
# smaller labs are refused rather than audited loosely.
MIN_LONG_SIDE: Final[int] = LONG_SIDE
TOLERANCES: Final[dict[str, str]] = {
    "people": "a person counts when at least half the head is visible (in the frame, not hidden by someone in "
              "front); anyone showing less head than that but covering more than 0.5 % of the frame makes the count "
              "ambiguous; the count must equal the number stated",
    "side by side": "no two visible heads overlap by more than a third of the narrower head's width",
    "background share": "the share of the frame free of people is within 7 points of the percentage stated",
    "open side": "the third of the frame on the side named is at least 5 points freer of people than the opposite "
                 "third, and at least half free (a quarter where the text says the space is little)",
    "little space": "'almost no negative space': at most 45 % of the frame is free of people",
    "gaze": "the drawn eyes sit at least 6 % of the face's width off its centre on the side named ('into the "
            "camera': within 6 %), and some of them are visible",
    "lead room": "lead room = the free run ahead of the face's centre (to the frame edge, or to the first column "
                 "where other people fill a fifth of the face's rows) minus the space behind it, in frame widths: "
                 "'ample' at least 0.15; 'modest' between -0.25 and 0.25; 'no lead room' at most -0.15",
    "head crop": "'cut'/'trimmed' top of the head: at least 3 % of the subject's head lies above the top edge; "
                 "'head fully inside': at most 3 % of the head beyond any edge",
    "side crop": "'the left/right edge cuts the subject': at least 4 % of the subject's width (across the arms) "
                 "beyond that edge, or the head cut there; the part named must be the part cut ('shoulder and arm': "
                 "at most 3 % of the head beyond that edge; 'head', 'head and shoulder': at least 1 %)",
    "whole subject": "'whole'/'complete'/'nothing cut off': at most 3 % of the head beyond any edge, and at most 6 % "
                     "of the subject's width beyond a side edge, except in a close-up framed at the chest "
                     "(shoulders running out of a tight frame are normal there); 'head to feet': also at most 1 % "
                     "of the figure below the bottom edge",
    "joint crop": "'at the knees' (any joint): the bottom edge lies within 0.4 head heights of that joint line "
                  "(head height and centre measured from the drawn face)",
    "natural line": "'at a natural line at the chest/waist': the bottom edge lies within 0.25 head heights of the "
                    "framing's natural range and not within 0.3 of a joint line",
    "horizon": "'level': the drawn horizon's angle is within 1.2 degrees of flat; 'about N degrees': within 0.7 "
               "of N; 'tilted'/'slanted': at least 0.8 degrees; 'rising to the right/left': that sign",
    "light side": "'light from the left/right': the subject's torso (its face where the frame shows too little "
                  "torso) is at least 3 grey levels brighter on that side of the head's centre line (at least 30 "
                  "pixels visible on each side)",
    "palette": "of the background's saturated pixels (saturation 0.35+, value 0.25+), those with hues outside the "
               "family named are at most 12 % of the background; a muted or neutral palette has at most 12 % "
               "saturated background at all",
    "cause and judgement": "a reason's cause states the same level as its verdict (a strength with Good, a "
                           "middling point with Medium, a fault with Poor), and the verdict does not repeat the "
                           "cause's opening words",
    "wording": "numbers agree with their nouns ('1 degree', not '1 degrees')",
}


@dataclass(frozen=True)
class Contradiction:
    """A sentence that the picture does not bear out."""

    image: str
    source: str  # e.g. "reason:Color Harmony", "answer", "composition_analysis"
    kind: str  # a key of TOLERANCES
    sentence: str
    measured: str

    def __str__(self) -> str:
        return f"{self.image} [{self.source}] {self.kind}: {self.sentence!r} -- {self.measured}"


@dataclass
class AuditReport:
    root: Path
    images: int = 0
    statements: int = 0
    claims: Counter = field(default_factory=Counter)  # checks made, by kind
    contradictions: list[Contradiction] = field(default_factory=list)

    @property
    def by_kind(self) -> Counter:
        return Counter(c.kind for c in self.contradictions)

    def summary(self) -> str:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.by_kind.items())) or "none"
        return (f"lab audit of {self.root}: {self.images} images, {self.statements} statements, "
                f"{sum(self.claims.values())} checks; {len(self.contradictions)} contradiction(s) ({kinds})")


# ---- measurements -----------------------------------------------------------------------------------
class Scene:
    """What one rendered image shows, measured from its label mask, its extents and its pixels."""

    def __init__(self, image: Path, labels: np.ndarray, extents: dict[str, Any]):
        self.image_path = image
        self.labels = labels
        self.people = extents["people"]
        self.height, self.width = labels.shape
        self.person = (labels & (GROUND_LABEL - 1)) // 8  # 0 background, 1 subject, 2.. companions
        self.part = (labels & (GROUND_LABEL - 1)) % 8

    @cached_property
    def pixels(self) -> np.ndarray:
        with Image.open(self.image_path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.float32)

    @cached_property
    def visible(self) -> list[float]:
        counts = np.bincount(self.person.ravel(), minlength=len(self.people) + 1)
        return [counts[i + 1] / max(p["area"], 1) for i, p in enumerate(self.people)]

    @cached_property
    def head_visible(self) -> list[float]:
        head = self.person[self.part >= FIGURE_PARTS["hair"]]
        counts = np.bincount(head.ravel(), minlength=len(self.people) + 1)
        return [counts[i + 1] / max(p["head_area"], 1) for i, p in enumerate(self.people)]

    @cached_property
    def counted(self) -> tuple[int, int]:
        """(people counted, people ambiguous): see TOLERANCES["people"]."""
        shown = np.bincount(self.person.ravel(), minlength=len(self.people) + 1)[1:] / self.person.size
        counted = sum(1 for h in self.head_visible if h >= 0.5)
        partial = sum(1 for s, h in zip(shown, self.head_visible) if h < 0.5 and s > 0.005)
        return counted, partial

    @cached_property
    def background(self) -> float:
        return float((self.person == 0).mean())

    def third_free(self, side: str) -> float:
        third = self.width // 3
        columns = self.person[:, :third] if side == "left" else self.person[:, self.width - third:]
        return float((columns == 0).mean())

    @property
    def subject(self) -> dict[str, Any]:
        return self.people[0]

    def width_beyond(self, edge: str) -> float:
        """Share of the subject's whole width (across the arms) beyond the left or right edge."""
        left, _, right, _ = self.subject["box"]
        beyond = -left if edge == "left" else right - self.width
        return max(0.0, beyond) / max(right - left, 1)

    @property
    def face(self) -> tuple[float, float, float, float]:
        """(centre x, centre y, width, height) of the subject's face, from its whole drawn ellipse (centroid and
        area: steadier than the box of a small face)."""
        cx, cy, height = self.subject["face"]
        return cx, cy, 0.76 * height, height

    @cached_property
    def gaze_offset(self) -> float | None:
        """The drawn eyes' centre minus the face's centre, in face widths (positive: to the viewer's right); None
        when none of the subject's eye pixels is visible."""
        visible = ((self.person == 1) & (self.part == FIGURE_PARTS["eyes"])).any()
        if not visible or self.subject.get("eyes_x") is None:
            return None
        cx, _, width, _ = self.face
        return float((self.subject["eyes_x"] - cx) / width)

    @cached_property
    def lead(self) -> float:
        """Lead room for the gaze the eyes show (see TOLERANCES["lead room"])."""
        cx, cy, _, height = self.face
        return lead_room(self.person > 1, cx, cy, height, (self.gaze_offset or 0.0) < 0)

    @cached_property
    def cut_line(self) -> float:
        """Where the bottom edge crosses the subject, in head heights below the head centre."""
        _, cy, _, height = self.face
        return (self.height - cy) / max(height, 1e-6)

    @cached_property
    def horizon_angle(self) -> float | None:
        """The drawn horizon's angle in degrees (positive rises to the right); None when it is not in the frame."""
        ground = (self.labels & GROUND_LABEL) > 0
        has = ground.any(axis=0)
        first = np.argmax(ground, axis=0).astype(float)
        inside = has & (first > 0)
        if inside.sum() < self.width // 4:
            return None
        xs = np.flatnonzero(inside)
        # The mask draws the horizon as a staircase: a fit through every column's first ground row is off by up to
        # 1.5 / width radians (a third of a degree at 256 px), a fit through the steps' corners by far less.
        step = inside[:-1] & inside[1:] & (first[:-1] != first[1:])
        if step.sum() >= 2:
            corners = np.flatnonzero(step)
            slope = np.polyfit(corners + 1.0, (first[corners] + first[corners + 1]) / 2, 1)[0]
        else:  # under two steps across the frame: within a pixel of flat, which the fit over all columns shows
            slope = np.polyfit(xs, first[inside], 1)[0]
        return float(-math.degrees(math.atan(slope)))

    @cached_property
    def light_difference(self) -> float | None:
        """Mean luminance of the subject's torso left of the head's centre line minus right of it (grey levels); the
        face's where the frame shows too little torso; None when either side shows fewer than 30 pixels."""
        cx, cy, _, height = self.face
        rows = np.arange(self.height)[:, None]
        columns = np.arange(self.width)[None, :]
        for part, (top, bottom), margin in ((FIGURE_PARTS["body"], (0.9, 2.9), 0.15),
                                            (FIGURE_PARTS["face"], (-0.5, 0.5), 0.1)):
            shown = (self.person == 1) & (self.part == part)
            shown &= (rows >= cy + top * height) & (rows <= cy + bottom * height)
            left = shown & (columns < cx - margin * height)
            right = shown & (columns > cx + margin * height)
            if left.sum() >= 30 and right.sum() >= 30:
                luma = self.pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
                return float(luma[left].mean() - luma[right].mean())
        return None

    @cached_property
    def background_colours(self) -> tuple[np.ndarray, np.ndarray]:
        """(hue in degrees, saturated?) of each background pixel."""
        rgb = self.pixels[self.person == 0] / 255.0
        if not len(rgb):
            return np.zeros(0), np.zeros(0, bool)
        top, low = rgb.max(axis=1), rgb.min(axis=1)
        chroma = top - low
        saturation = np.where(top > 0, chroma / np.maximum(top, 1e-6), 0.0)
        r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
        safe = np.maximum(chroma, 1e-6)
        hue = np.where(top == r, ((g - b) / safe) % 6, np.where(top == g, (b - r) / safe + 2, (r - g) / safe + 4)) * 60
        return hue, (saturation >= 0.35) & (top >= 0.25)

    def off_palette(self, family: str) -> float:
        """Share of the background that is saturated and outside the hue family (any saturated pixel for 'neutral')."""
        hue, saturated = self.background_colours
        if not len(hue):
            return 0.0
        if family == "neutral":
            return float(saturated.mean())
        ranges = HUE_FAMILIES[family]
        inside = np.zeros(len(hue), bool)
        for lo, hi in ranges:
            inside |= (hue >= lo) & (hue <= hi)
        return float((saturated & ~inside).mean())


HUE_FAMILIES: Final[dict[str, tuple[tuple[float, float], ...]]] = {
    "warm": ((0.0, 60.0), (335.0, 360.0)),
    "cool": ((165.0, 265.0),),
    "blue": ((190.0, 250.0),),
    "golden-blue": ((0.0, 60.0), (335.0, 360.0), (190.0, 250.0)),
}
PALETTE_WORDS: Final[dict[str, str]] = {
    "ambers, ochres and rusty browns": "warm", "blues, teals and slate greys": "cool",
    "blue surroundings against orange clothing": "blue", "desaturated greys and stone tones": "neutral",
    "a golden sky over blue ground, against orange clothing": "golden-blue",
}


# ---- claims -----------------------------------------------------------------------------------------
Check = Callable[[Scene, "re.Match[str]"], "str | None"]  # None: borne out; else what was measured instead
NUMBERS: Final[dict[str, int]] = {"one": 1, "two": 2, "three": 3, "four": 4}


def _number(text: str) -> int:
    return int(text) if text.isdigit() else NUMBERS[text.lower()]


def _people(n: int, scene: Scene) -> str | None:
    counted, partial = scene.counted
    if counted == n and not partial:
        return None
    return f"{counted} person(s) visible" + (f", {partial} only partly (ambiguous)" if partial else "")


def _side_by_side(scene: Scene, _: re.Match[str]) -> str | None:
    heads = []
    for number, p in enumerate(scene.people, start=1):
        if scene.head_visible[number - 1] >= 0.5:
            left, _, right, _ = p["face_box"]
            heads.append((left, right))
    heads.sort()
    for (l1, r1), (l2, r2) in zip(heads, heads[1:]):
        overlap = min(r1, r2) - max(l1, l2)
        if overlap > min(r1 - l1, r2 - l2) / 3:
            return f"two heads overlap by {overlap:.0f} px of {min(r1 - l1, r2 - l2):.0f}"
    return None


def _background(scene: Scene, m: re.Match[str]) -> str | None:
    stated = int(m.group("pct"))
    measured = 100 * scene.background
    return None if abs(measured - stated) <= 7 else f"{measured:.0f}% of the frame is free of people"


def _open_side(scene: Scene, m: re.Match[str]) -> str | None:
    side = m.group("side").lower()
    other = "left" if side == "right" else "right"
    free, opposite = scene.third_free(side), scene.third_free(other)
    floor = 0.25 if "little" in m.group(0).lower() else 0.5
    if free >= opposite + 0.05 and free >= floor:
        return None
    return f"{side} third {100 * free:.0f}% free, {other} third {100 * opposite:.0f}% free"


def _little_space(scene: Scene, _: re.Match[str]) -> str | None:
    return None if scene.background <= 0.45 else f"{100 * scene.background:.0f}% of the frame is free of people"


def _gaze_word(offset: float | None) -> str:
    if offset is None:
        return "eyes not visible"
    return "right" if offset >= 0.06 else "left" if offset <= -0.06 else "camera"


def _gaze(scene: Scene, m: re.Match[str]) -> str | None:
    said = (m.groupdict().get("dir") or "camera").lower()
    seen = _gaze_word(scene.gaze_offset)
    return None if seen == said else f"the eyes look {seen}"


def _lead(kind: str) -> Check:
    def check(scene: Scene, m: re.Match[str]) -> str | None:
        said = (m.groupdict().get("dir") or "").lower()
        seen = _gaze_word(scene.gaze_offset)
        if said and seen != said:
            return f"the eyes look {seen}"
        lead = scene.lead
        ok = {"ample": lead >= 0.15, "modest": -0.25 <= lead <= 0.25, "none": lead <= -0.15}[kind]
        return None if ok else f"lead room {lead:+.2f}"
    return check


def _head_cut(scene: Scene, _: re.Match[str]) -> str | None:
    share = scene.subject["head_out"]["top"] / max(scene.subject["head_area"], 1)
    return None if share >= 0.03 else f"{100 * share:.1f}% of the head is above the top edge"


def _head_inside(scene: Scene, _: re.Match[str]) -> str | None:
    out = scene.subject["head_out"]
    share = (out["top"] + out["left"] + out["right"]) / max(scene.subject["head_area"], 1)
    return None if share <= 0.03 else f"{100 * share:.1f}% of the head is outside the frame"


def _whole(scene: Scene, m: re.Match[str]) -> str | None:
    s = scene.subject
    head = (s["head_out"]["top"] + s["head_out"]["left"] + s["head_out"]["right"]) / max(s["head_area"], 1)
    sides = max(scene.width_beyond("left"), scene.width_beyond("right"))
    feet = s["out"]["bottom"] / max(s["area"], 1)
    to_feet = bool(re.search(r"feet|toe", m.group(0), re.I))
    close_up = bool(re.search(r"close-up|chest", sentence_of(m), re.I))
    if head <= 0.03 and (close_up or sides <= 0.06) and (not to_feet or feet <= 0.01):
        return None
    return f"{100 * head:.1f}% of the head, {100 * sides:.1f}% of the figure's width beyond the sides" + (
        f", {100 * feet:.1f}% below the bottom" if to_feet else "")


def sentence_of(m: re.Match[str]) -> str:
    return m.string


def _side_cut(scene: Scene, m: re.Match[str]) -> str | None:
    edge = m.group("edge").lower()
    s = scene.subject
    part = (m.groupdict().get("part") or "").lower()
    head_cut = s["head_out"][edge] > 0.01 * s["head_area"]
    share = scene.width_beyond(edge)
    if share < 0.04 and not head_cut:
        return f"{100 * share:.1f}% of the subject's width beyond the {edge} edge"
    head_beyond = s["head_out"][edge] / max(s["head_area"], 1)
    if part.startswith("head") and not head_cut:
        return f"the {edge} edge cuts the body, not the head"
    if part.startswith("shoulder") and head_beyond > 0.03:
        return f"the {edge} edge cuts the head too"
    return None


def _joint(scene: Scene, m: re.Match[str]) -> str | None:
    joint = m.group("joint").lower()
    line = scene.cut_line
    return None if abs(line - JOINT_LINES[joint]) <= 0.4 else f"bottom edge at {line:.2f} head heights ({joint} at " \
        f"{JOINT_LINES[joint]})"


NATURAL_WORDS: Final[dict[str, str]] = {"chest": "close-up", "waist": "half-body"}


def _natural(scene: Scene, m: re.Match[str]) -> str | None:
    lo, hi = NATURAL_CUT[NATURAL_WORDS[m.group("line").lower()]]
    line = scene.cut_line
    near = min(abs(line - y) for y in JOINT_LINES.values())
    if lo - 0.25 <= line <= hi + 0.25 and near > 0.3:
        return None
    return f"bottom edge at {line:.2f} head heights"


def _level(scene: Scene, _: re.Match[str]) -> str | None:
    angle = scene.horizon_angle
    return None if angle is None or abs(angle) <= 1.2 else f"horizon at {angle:+.1f} degrees"


def _tilted(scene: Scene, m: re.Match[str]) -> str | None:
    angle = scene.horizon_angle
    if angle is None:
        return "no horizon in the frame"
    groups = m.groupdict()
    if abs(angle) < 0.8:
        return f"horizon at {angle:+.1f} degrees"
    if groups.get("deg") and abs(abs(angle) - int(groups["deg"])) > 0.7:
        return f"horizon at {angle:+.1f} degrees"
    rise = (groups.get("rise") or "").lower()
    if rise and (rise == "right") != (angle > 0):
        return f"horizon at {angle:+.1f} degrees (rises to the {'right' if angle > 0 else 'left'})"
    return None


def _light(scene: Scene, m: re.Match[str]) -> str | None:
    side = m.group("side").lower()
    diff = scene.light_difference
    if diff is None:
        return "too little of the torso visible to show the light's side"
    brighter = diff if side == "left" else -diff
    return None if brighter >= 3.0 else f"the torso is {diff:+.1f} grey levels brighter on the left"


def _palette(family_of: Callable[[re.Match[str]], str | None]) -> Check:
    def check(scene: Scene, m: re.Match[str]) -> str | None:
        family = family_of(m)
        if family is None:
            return None
        off = scene.off_palette(family)
        return None if off <= 0.12 else f"{100 * off:.0f}% of the background is saturated outside the {family} family"
    return check


@dataclass(frozen=True)
class Claim:
    kind: str
    pattern: re.Pattern[str]
    check: Check


def _claim(kind: str, pattern: str, check: Check) -> Claim:
    return Claim(kind, re.compile(pattern, re.I), check)


SIDE = r"(?P<side>left|right)"
CLAIMS: Final[tuple[Claim, ...]] = (
    _claim("people", r"\b(?:a single (?:subject|person)|only one person)\b", lambda s, m: _people(1, s)),
    _claim("people", r"\b(?:a second person|two people)\b", lambda s, m: _people(2, s)),
    _claim("people", r"\b(?:a group of|with) (?P<n>\d|two|three|four) (?:people|figures)\b",
           lambda s, m: _people(_number(m.group("n")), s)),
    _claim("people", r"\b(?P<n>three|four) people\b", lambda s, m: _people(_number(m.group("n")), s)),
    _claim("people", r"\bbeside the subject stand (?P<n>\d) companions?\b",
           lambda s, m: _people(_number(m.group("n")) + 1, s)),
    _claim("people", r"\b(?P<n>one|two|three) other figures? shares?\b",
           lambda s, m: _people(_number(m.group("n")) + 1, s)),
    _claim("side by side", r"\bside by side\b", _side_by_side),
    _claim("background share", r"\babout (?P<pct>\d+)% (?:of the frame|background)", _background),
    _claim("open side", r"\b(?:negative|open) space(?: \(about \d+% of the frame(?: is background)?\))? on the "
                        r"(?P<side>left|right)\b", _open_side),
    _claim("little space", r"\balmost no negative space\b", _little_space),
    _claim("gaze", r"\b(?:looks straight into the lens|gaze meets the camera|direct eye contact|facing the camera "
                   r"directly|straight into the lens)", _gaze),
    _claim("gaze", r"\b(?:looks (?P<dir>left|right)|turned towards the (?P<dir2>left|right) of the frame)\b",
           lambda s, m: _gaze(s, _merge(m))),
    _claim("lead room", r"\blooks (?P<dir>left|right) into open space|gaze to the (?P<dir2>left|right) has ample room|"
                        r"\bample lead room\b|generous lead room", lambda s, m: _lead("ample")(s, _merge(m))),
    _claim("lead room", r"\broughly equal space in front and behind|only modest lead room|\bmodest lead room\b",
           _lead("modest")),
    _claim("lead room", r"\bleaving no lead room\b|runs into the frame edge", _lead("none")),
    _claim("head crop", r"head is cut by the top edge|top of the head is chopped|top edge cuts off part of the "
                        r"subject's head|top of the subject's head is trimmed|grazes the crown|head touches or crosses "
                        r"the top edge", _head_cut),
    _claim("head crop", r"head fully inside", _head_inside),
    _claim("whole subject", r"whole figure is inside the frame, from the top of the head to the feet|shown complete, "
                            r"head to toe|keeps the subject whole(?: from head to feet)?|reads as complete", _whole),
    _claim("side crop", r"\bthe (?P<edge>left|right) edge (?:clips a little of|cuts through|cuts into) the subject"
                        r"(?:'s (?P<part>head and shoulder|head|shoulder and arm))?", _side_cut),
    _claim("side crop", r"subject's (?P<part>head and shoulder|head|shoulder and arm) slightly overlaps the "
                        r"(?P<edge>left|right) edge", _side_cut),
    _claim("side crop", r"sliced by the (?P<edge>left|right) edge of the frame, losing part of the "
                        r"(?P<part>head and shoulder|head|shoulder and arm)", _side_cut),
    _claim("joint crop", r"(?:cuts the subject (?:right )?at the|cropping exactly at the) (?P<joint>neck|elbows|wrists|"
                         r"knees|ankles)", _joint),
    _claim("natural line", r"natural line at the (?P<line>chest|waist)|falls cleanly at the (?P<line2>chest|waist)",
           lambda s, m: _natural(s, _merge(m))),
    _claim("horizon", r"horizon is level|level horizon|\bat a level horizon", _level),
    _claim("horizon", r"tilted \(about (?P<deg>\d+) degrees?, rising to the (?P<rise>left|right)\)|tilted by about "
                      r"(?P<deg2>\d+) degrees?, rising to the (?P<rise2>left|right)|roughly (?P<deg3>\d+) degrees|"
                      r"tilt of the horizon towards the (?P<rise3>left|right)|slanted horizon",
           lambda s, m: _tilted(s, _merge(m))),
    _claim("light side", r"(?:light|lit) from the (?P<side>left|right)|light comes from the (?P<side2>left|right)",
           lambda s, m: _light(s, _merge(m))),
    _claim("palette", r"(?:palette of|colours are unified:|clashing hues \() ?(?P<words>[a-z ,]+?)"
                      r"(?: stays| support|\)(?! stays))",
           _palette(lambda m: PALETTE_WORDS.get(m.group("words").strip()))),
    _claim("palette", r"\ba (?P<t>warm|cool|neutral, muted) palette\b|centres on (?P<t2>warm|cool) tones|"
                      r"the (?P<t3>warm|cool|neutral) colour grade|same (?P<t4>warm|cool|neutral) mood",
           _palette(lambda m: _merge(m).group("t").split(",")[0].replace("muted", "neutral"))),
    _claim("wording", r"\b1 degrees\b|\b(?:about|roughly) 0 degrees\b",
           lambda s, m: "a number disagrees with its noun"),
)


class _Merged:
    """A match whose numbered alternatives (deg2, rise3...) answer to their base names."""

    def __init__(self, m: re.Match[str]):
        self.values: dict[str, str] = {}
        for name, value in m.groupdict().items():
            if value is not None:
                self.values.setdefault(name.rstrip("0123456789"), value)
        self._text = m.group(0)

    def groupdict(self) -> dict[str, str]:
        return self.values

    def group(self, name: str | int = 0) -> str:
        return self._text if name == 0 else self.values[str(name)]


def _merge(m: re.Match[str]) -> Any:
    return _Merged(m)


# ---- cause and judgement ----------------------------------------------------------------------------
# Words that mark a cause as a fault (bad) or as a middling point (fair); anything else reads as a strength. The
# lists are about wording only; the test suite checks them against every phrase the lab can write.
FAULT_CUES: Final[tuple[str, ...]] = (
    "fight each other", "compete and jar", "busy", "dense", "heavy blur", "out of focus", "badly",
    "dark shadows into", "severe over", "severe under", "top light leaves", "hard light draws", "harsh, hard",
    "as sharp as the subject",
    "everything from subject", "pushed to the",
    "lopsided", "strongly slanted", "seems to slide", "is cut by", "chopped", "cuts through", "sliced", "amputat",
    "awkward", "no lead room", "into the frame edge", "compete for attention", "no single person", "so tightly",
    "cramped", "tiny in a large", "swallows", "scattered shapes", "wanders", "disjointed", "do not add up",
    "stock portrait", "standard formula", "weaknesses add up",
)
FAIR_CUES: Final[tuple[str, ...]] = (
    "muted and safe", "subdued", "handful", "some background objects", "slight overall softness", "a little soft",
    "washes the side light out", "flattens the modelling", "somewhat", "a little hot", "a little low",
    "flat frontal", "straight onto", "backlight traces",
    "subject is backlit",
    "moderately hard", "fairly defined", "moderately soft", "medium depth", "is centred", "centred placement",
    "slightly tilted", "small tilt", "trimmed", "grazes", "clips a little", "slightly overlaps", "roughly equal",
    "only modest", "second person", "two people share", "fairly full", "rather a lot", "no strong lines",
    "no leading lines", "mostly consistent", "broadly agree", "familiar portrait", "conventional, with",
    "balance out", "middling",
)


def cause_state(cause: str) -> str:
    """'bad', 'fair' or 'good': how a reason's cause is worded (see FAULT_CUES, FAIR_CUES)."""
    text = cause.lower()
    if any(cue in text for cue in FAULT_CUES):
        return "bad"
    if any(cue in text for cue in FAIR_CUES):
        return "fair"
    return "good"


def split_reason(attribute: str, reason: str) -> tuple[str, str] | None:
    """(cause, verdict level) of a lab reason: the verdict is the ending that matches one of the attribute's
    verdicts; None when none matches (not a lab reason)."""
    text = reason.rstrip(".").strip()
    for level, verdicts in MODELS[attribute].verdicts.items():
        for verdict in verdicts:
            if text.lower().endswith(", " + verdict.lower()):
                return text[: -len(verdict) - 2], level
    return None


def _judgement(attribute: str, reason: str) -> str | None:
    parts = split_reason(attribute, reason)
    if parts is None:
        return None
    cause, level = parts
    state = cause_state(cause)
    if STATE_LEVEL[state] != level:
        return f"the cause reads {STATE_LEVEL[state]}, the verdict {level}"
    verdict = reason.rstrip(".")[len(cause) + 2:]
    opener = verdict.split()[0].lower()
    if opener not in ("a", "an", "the") and re.search(rf"(?:^|, ){re.escape(opener)}\b", cause, re.I):
        return f"cause and verdict both open with '{opener}'"
    return None


# ---- statements ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Statement:
    image: str
    source: str
    text: str
    attribute: str | None = None  # for a reason or an answer option: the attribute it judges


SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def lab_statements(root: str | Path) -> Iterator[Statement]:
    """Every statement the lab's published files make about an image: Track 1 reasons (train and, where present,
    the ground truth of the test split), the right answer's option, and Track 2 texts sentence by sentence."""
    root = Path(root)
    for name in ("track_1_train.json", GROUND_TRUTH_FILE):
        path = root / name
        if not path.is_file():
            continue
        for record in read_json_records(path):
            image = str(record.get("image_path"))
            for attribute in ATTRIBUTE_NAMES:
                reason = (record.get("criteria") or {}).get(attribute, {}).get("reason")
                if isinstance(reason, str):
                    yield Statement(image, f"reason:{attribute}", reason, attribute)
            answer, options = record.get("answer"), record.get("options")
            question = record.get("question") or ""
            if isinstance(options, dict) and answer in options:
                asked = next((a for a in ATTRIBUTE_NAMES if f"the {a} in" in question), None)
                yield Statement(image, "answer", options[answer], asked)
    for name in ("track_2_train.json", "track_2_test.json"):
        path = root / name
        if not path.is_file():
            continue
        for record in read_json_records(path):
            for key in ("content_description", "composition_analysis"):
                for sentence in SENTENCE.split(str(record.get(key) or "")):
                    yield Statement(str(record.get("image_path")), key, sentence.strip())


def check_statement(statement: Statement, scene: Scene) -> tuple[list[str], list[Contradiction]]:
    """(kinds checked, contradictions) of one statement against its scene."""
    kinds, found = [], []
    if statement.attribute is not None:
        kinds.append("cause and judgement")
        problem = _judgement(statement.attribute, statement.text)
        if problem:
            found.append(Contradiction(statement.image, statement.source, "cause and judgement", statement.text,
                                       problem))
    for claim in CLAIMS:
        for match in claim.pattern.finditer(statement.text):
            kinds.append(claim.kind)
            problem = claim.check(scene, match)
            if problem:
                found.append(Contradiction(statement.image, statement.source, claim.kind, statement.text, problem))
    return kinds, found


def audit_lab(root: str | Path, *, progress: bool = False, images: Iterable[str] | None = None) -> AuditReport:
    """Audit a rendered lab (see the module docstring); ``images`` limits it to those image names."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: {'not a folder' if root.exists() else 'no such folder'}")
    masks_file = root / MASKS_FILE
    if not masks_file.is_file():
        raise DataError(f"{root}: no {MASKS_FILE}; the audit needs a lab rendered with its label masks "
                        "(`portraitcraft demo-data OUT` writes them; an annotations-only lab has none)")
    extents = json.loads(masks_file.read_text(encoding="utf-8"))
    paths, _ = index_images(root)
    wanted = None if images is None else set(images)
    by_image: dict[str, list[Statement]] = {}
    for statement in lab_statements(root):
        if wanted is None or statement.image in wanted:
            by_image.setdefault(statement.image, []).append(statement)
    from portraitcraft.progress import progress_bar

    report = AuditReport(root)
    with progress_bar(len(by_image), desc="auditing lab", unit="img", enabled=progress, leave=False) as bar:
        for image, statements in by_image.items():
            if image not in extents or image not in paths:
                raise DataError(f"{root}: {image} has statements but no image or label mask")
            if max(extents[image]["size"]) < MIN_LONG_SIDE:
                raise DataError(f"{root}: {image} is {extents[image]['size'][0]}x{extents[image]['size'][1]} px, "
                                f"too small to audit: under a {MIN_LONG_SIDE} px long side the picture cannot show "
                                "what the texts tell apart as finely as the audit checks it (a level horizon from a "
                                "1-degree tilt, a crop line to a quarter of a small figure's head, where its eyes "
                                f"look); render the lab at long_side={MIN_LONG_SIDE} (the default) or more")
            with Image.open(root / MASKS_FOLDER / mask_name(image)) as mask:
                labels = np.asarray(mask)
            scene = Scene(paths[image], labels, extents[image])
            report.images += 1
            for statement in statements:
                report.statements += 1
                kinds, found = check_statement(statement, scene)
                report.claims.update(kinds)
                report.contradictions.extend(found)
            bar.update()
    return report


__all__ = ["AuditReport", "CLAIMS", "Contradiction", "Scene", "Statement", "TOLERANCES", "audit_lab",
           "cause_state", "check_statement", "lab_statements", "split_reason"]
