"""The composition factors of a lab scene: what is drawn, sampled and recorded for every image.

A scene is fully described by a :class:`Factors` record. Rendering (:func:`portraitcraft.lab.render.render_scene`)
and annotation (:mod:`portraitcraft.lab.annotate`) are pure functions of it, so a chapter can take one
record, change a single factor with :meth:`Factors.replace`, and render the series.

Primary factors (sampled by :func:`sample_factors`, stored in ``lab_factors.json``):

====================  =======================================================================================
factor                meaning (units)
====================  =======================================================================================
aspect                frame aspect ratio, width:height: ``3:2``, ``2:3``, ``4:5``, ``1:1`` or ``16:9``
framing               intended shot size: ``close-up`` (head and shoulders), ``half-body``, ``full-body``
n_people              people in the frame, 1-4 (the main subject plus companions, every head inside it)
subject_x             main subject's head centre, fraction of frame width (0 = left edge)
subject_y             main subject's head centre, fraction of frame height (0 = top edge)
subject_scale         main subject's head height as a fraction of frame height
gaze                  where the main subject looks: ``left``, ``right`` (as seen by the viewer) or ``camera``
horizon_y             horizon height at the frame's centre, fraction of frame height
horizon_tilt          horizon angle in degrees; positive rises to the right
clutter               background clutter, 0 (clean) to 1 (busy): the number and saturation of props
leading_lines         whether converging lines (a path, a railing) run towards the subject
global_blur           Gaussian blur radius over the whole image, pixels at a 512 px long side
background_blur       blur radius of the background only (shallow depth of field), pixels at 512 px
exposure              exposure offset in stops (EV); 0 is correct, values clip highlights or shadows
palette               colour scheme: ``warm``, ``cool``, ``complementary``, ``muted`` or ``clashing``
light_direction       key light from the ``left``, ``right``, ``front``, ``back`` (rim, backlit) or ``top``
light_hardness        0 (soft, wide gradient) to 1 (hard, sharp shadow edge)
golden_hour           warm low sun in the sky and a warm cast on the figures
scene_seed            seed of the details that carry no composition meaning (prop shapes, clothes)
skill                 the photographer's skill, 0..1, used only while sampling: it makes defects co-occur.
                      Rendering and scoring never read it; every effect it has goes through the factors above
====================  =======================================================================================

Derived factors (computed from the geometry, also stored, never sampled independently):

====================  =======================================================================================
crop                  how the frame cuts the main subject: ``none``, ``head`` (top of the head cut off),
                      ``joint`` (bottom edge at a neck, elbow, wrist, knee or ankle line) or ``side``
                      (body cut by the left or right edge)
crop_amount           how much is cut: head fraction for ``head``, body-width fraction for ``side``,
                      closeness to the joint (1 = on it) for ``joint``; 0 for ``none``
cut_line              where the bottom edge crosses the body, in head heights below the head centre
placement             ``left third``, ``centre``, ``right third``, ``far left`` or ``far right``
lead_room             free space in front of the gaze minus behind it, -1..1 (0 when looking at camera)
occupancy             fraction of the frame covered by the people
====================  =======================================================================================
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from PIL import Image, ImageDraw

from portraitcraft.lab.figure import PAINT_KEYS, draw_figure, lead_room

ASPECTS: Final[dict[str, tuple[int, int]]] = {
    "3:2": (3, 2),
    "2:3": (2, 3),
    "4:5": (4, 5),
    "1:1": (1, 1),
    "16:9": (16, 9),
}
FRAMINGS: Final[tuple[str, ...]] = ("close-up", "half-body", "full-body")
GAZES: Final[tuple[str, ...]] = ("left", "right", "camera")
PALETTES: Final[tuple[str, ...]] = ("warm", "cool", "complementary", "muted", "clashing")
LIGHT_DIRECTIONS: Final[tuple[str, ...]] = ("left", "right", "front", "back", "top")

# How well each palette's colours agree (0 clash .. 1 harmonious); drives Color Harmony.
PALETTE_HARMONY: Final[dict[str, float]] = {
    "warm": 0.9, "cool": 0.85, "complementary": 0.75, "muted": 0.6, "clashing": 0.1,
}
PALETTE_TEMPERATURE: Final[dict[str, str]] = {
    "warm": "warm", "cool": "cool", "complementary": "mixed", "muted": "neutral", "clashing": "mixed",
}

# Body proportions in head heights, measured from the head centre (a standing adult is ~8 heads), as drawn by
# portraitcraft.lab.figure: the extents include the hair and the arms, so a crop measured with them is what shows.
HEAD_TOP: Final[float] = -0.62  # top of the hair
BODY_BOTTOM: Final[float] = 7.5  # soles of the feet
SHOULDER_HALF_WIDTH: Final[float] = 1.0
ARM_HALF_WIDTH: Final[float] = 1.29  # outer edge of the elbows: the figure's widest point
HEAD_HALF_WIDTH: Final[float] = 0.52  # hair, turned with the gaze
MIN_SPACING: Final[float] = 0.95  # closest head-centre spacing of a group, head heights: heads side by side
SIDE_CUT_NONE: Final[float] = 0.05  # a side edge cutting at most this share of the subject's width is not a crop
# Lines where a crop by the bottom edge looks amputated (photographers' "never crop at a joint").
JOINT_LINES: Final[dict[str, float]] = {"neck": 0.65, "elbows": 2.2, "wrists": 3.5, "knees": 5.3, "ankles": 7.0}
JOINT_TOLERANCE: Final[float] = 0.3  # head heights either side of a joint line that still read as cut at it
# Natural bottom-edge lines for each framing (head heights below the head centre).
NATURAL_CUT: Final[dict[str, tuple[float, float]]] = {
    "close-up": (1.4, 1.9),  # mid chest
    "half-body": (2.6, 3.1),  # waist
    "full-body": (7.8, 8.8),  # below the feet, with floor
}
JOINT_CUT: Final[dict[str, tuple[str, ...]]] = {
    "close-up": ("neck", "elbows"),
    "half-body": ("wrists",),
    "full-body": ("knees", "ankles"),
}
LONG_SIDE: Final[int] = 512
COVERAGE_SIDE: Final[int] = 160


@dataclass(frozen=True)
class Factors:
    """One lab scene. See the module docstring for every field's meaning and units."""

    aspect: str = "3:2"
    framing: str = "half-body"
    n_people: int = 1
    subject_x: float = 1 / 3
    subject_y: float = 0.35
    subject_scale: float = 0.18
    gaze: str = "right"
    horizon_y: float = 0.55
    horizon_tilt: float = 0.0
    clutter: float = 0.2
    leading_lines: bool = False
    global_blur: float = 0.0
    background_blur: float = 2.0
    exposure: float = 0.0
    palette: str = "warm"
    light_direction: str = "left"
    light_hardness: float = 0.3
    golden_hour: bool = False
    scene_seed: int = 0
    skill: float = 0.5

    def __post_init__(self) -> None:
        checks = (
            ("aspect", self.aspect, ASPECTS), ("framing", self.framing, FRAMINGS), ("gaze", self.gaze, GAZES),
            ("palette", self.palette, PALETTES), ("light_direction", self.light_direction, LIGHT_DIRECTIONS),
        )
        for name, value, allowed in checks:
            if value not in allowed:
                raise ValueError(f"Factors.{name}={value!r}: expected one of {sorted(allowed)}")
        if not 1 <= self.n_people <= 4:
            raise ValueError(f"Factors.n_people={self.n_people}: expected 1 to 4")
        if self.subject_scale <= 0:
            raise ValueError(f"Factors.subject_scale={self.subject_scale}: must be positive")

    # ---- construction -------------------------------------------------------------------------
    def replace(self, **changes: Any) -> Factors:
        """A copy with some primary factors changed; derived factors follow from the new geometry."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Factors:
        """Rebuild from a ``lab_factors.json`` entry (derived keys are ignored: they are recomputed)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        """Primary factors exactly (so ``Factors.from_dict`` re-renders the same pixels) and derived
        factors rounded for reading."""
        out: dict[str, Any] = {name: getattr(self, name) for name in _FIELD_NAMES}
        crop, amount = self.crop
        out.update(
            crop=crop, crop_amount=round(amount, 3), cut_line=round(self.cut_line, 3), placement=self.placement,
            lead_room=round(self.lead_room, 3), occupancy=round(self.occupancy, 3),
        )
        return out

    # ---- geometry -----------------------------------------------------------------------------
    @property
    def size(self) -> tuple[int, int]:
        """Image size in pixels (width, height) at the default 512 px long side."""
        return frame_size(self.aspect, LONG_SIDE)

    @property
    def cut_line(self) -> float:
        """Where the bottom edge crosses the main subject, in head heights below the head centre."""
        return (1.0 - self.subject_y) / self.subject_scale

    @functools.cached_property
    def crop(self) -> tuple[str, float]:
        """(kind, amount) of the worst cut the frame makes into the main subject; see module docstring."""
        head_cut = (0.0 - (self.subject_y + HEAD_TOP * self.subject_scale)) / self.subject_scale
        if head_cut > 0.05:
            return "head", min(head_cut, 1.0)
        side = self.side_cut
        if side > SIDE_CUT_NONE:
            return "side", side
        line = self.cut_line
        if line < BODY_BOTTOM:
            nearest = min(abs(line - y) for y in JOINT_LINES.values())
            if nearest <= JOINT_TOLERANCE:
                return "joint", 1.0 - nearest / (2 * JOINT_TOLERANCE)
        return "none", 0.0

    @property
    def side_cut(self) -> float:
        """Fraction of the main subject cut by a side edge: the head's width in a close-up (shoulders
        running out of a tight frame are normal there), the width across the arms otherwise."""
        width, height = self.size
        if self.framing == "close-up":
            left, right = head_extent(self.gaze, "left"), head_extent(self.gaze, "right")
        else:
            left = right = ARM_HALF_WIDTH
        unit = self.subject_scale * height / width  # head heights in frame-width fractions
        outside = max(left * unit - self.subject_x, self.subject_x + right * unit - 1.0, 0.0)
        return float(min(outside / ((left + right) * unit), 1.0))

    @property
    def side_cut_part(self) -> str:
        """What a side crop cuts, in words: ``head`` in a close-up, else ``shoulder and arm``, or ``head and
        shoulder`` where the edge reaches the head too."""
        if self.framing == "close-up":
            return "head"
        width, height = self.size
        unit = self.subject_scale * height / width
        left, right = head_extent(self.gaze, "left") * unit, head_extent(self.gaze, "right") * unit
        outside = max(left - self.subject_x, self.subject_x + right - 1.0, 0.0)
        return "head and shoulder" if outside > SIDE_CUT_NONE * (left + right) else "shoulder and arm"

    @property
    def cut_joint(self) -> str | None:
        """Name of the joint line the bottom edge sits on, when the crop is ``joint``."""
        if self.crop[0] != "joint":
            return None
        return min(JOINT_LINES, key=lambda j: abs(self.cut_line - JOINT_LINES[j]))

    @property
    def placement(self) -> str:
        """The main subject's horizontal placement in words."""
        x = self.subject_x
        if x < 0.2:
            return "far left"
        if x > 0.8:
            return "far right"
        if abs(x - 0.5) < 0.09:
            return "centre"
        return "left third" if x < 0.5 else "right third"

    @property
    def lead_room(self) -> float:
        """Free space in front of the gaze minus the space behind it (frame-width fractions, from the head centre),
        0 for a camera gaze. The space in front ends at the frame edge or where companions stand at face height."""
        return 0.0 if self.gaze == "camera" else self.coverage[3]

    @functools.cached_property
    def coverage(self) -> tuple[float, float, float, float]:
        """(share of the frame covered by people, free share of the left third, of the right third, lead room for
        the gaze), measured on the figures as drawn (portraitcraft.lab.figure) at a 160 px long side."""
        width, height = frame_size(self.aspect, COVERAGE_SIDE)
        mask = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(mask)
        people = [(self.subject_x, self.subject_y, self.subject_scale), *companion_layout(self)]
        for number in range(len(people), 0, -1):  # back to front, the subject last
            x, y, scale = people[number - 1]
            draw_figure(draw, x * width, y * height, scale * height, self.gaze, {k: min(number, 2) for k in PAINT_KEYS})
        labels = np.asarray(mask)
        third = width // 3
        lead = lead_room(labels > 1, self.subject_x * width, self.subject_y * height, self.subject_scale * height,
                         self.gaze == "left")
        return (float((labels > 0).mean()), float(1.0 - (labels[:, :third] > 0).mean()),
                float(1.0 - (labels[:, width - third:] > 0).mean()), lead)

    @property
    def occupancy(self) -> float:
        """Share of the frame covered by people, as drawn."""
        return self.coverage[0]

    @property
    def open_side(self) -> str | None:
        """The side whose third is clearly freer of people (by 8 points, and at least half free), else None."""
        _, left, right, _ = self.coverage
        if left >= right + 0.08 and left >= 0.53:
            return "left"
        if right >= left + 0.08 and right >= 0.53:
            return "right"
        return None

    @property
    def harmony(self) -> float:
        return PALETTE_HARMONY[self.palette]

    @property
    def temperature(self) -> str:
        """Palette temperature; golden hour makes a palette with no blue ground read warm."""
        return "warm" if self.golden_hour and self.palette != "complementary" else PALETTE_TEMPERATURE[self.palette]


_FIELD_NAMES: Final[tuple[str, ...]] = tuple(f.name for f in dataclasses.fields(Factors))


def head_extent(gaze: str, side: str) -> float:
    """How far the drawn head (face and hair, the hair shifted away from the gaze) reaches to the viewer's left or
    right of the head centre, in head heights."""
    turn = {"left": -1.0, "right": 1.0, "camera": 0.0}[gaze] * (1.0 if side == "left" else -1.0)
    return max(0.38, 0.44 + 0.06 * turn, 0.42 + 0.1 * turn)


def frame_size(aspect: str, long_side: int = LONG_SIDE) -> tuple[int, int]:
    """(width, height) in pixels of a frame with this aspect ratio and long side."""
    w, h = ASPECTS[aspect]
    if w >= h:
        return long_side, round(long_side * h / w)
    return round(long_side * w / h), long_side


def companion_layout(f: Factors) -> list[tuple[float, float, float]]:
    """(head x, head y, scale) of each companion as frame fractions, placed from ``scene_seed``.

    Companions stand beside the main subject at a similar size (slightly behind: 80-95 %), a shoulder width
    apart, so they never hide the main subject's face. They stand first on the side behind the subject's gaze
    (the side with more room for a gaze into the camera), keeping the space the subject looks into open, then on
    the other side. Every companion's head stays inside the frame: where the group is wider than the frame the
    figures stand closer together (down to `MIN_SPACING` head heights, heads still side by side); companions
    that do not fit even so are not drawn, and `sample_factors` never records more people than fit
    (`people_capacity`).
    """
    if f.n_people == 1:
        return []
    rng = np.random.default_rng([f.scene_seed, 7])
    width, height = f.size
    unit = f.subject_scale * height / width  # one head height, in frame widths
    margin = HEAD_HALF_WIDTH * unit  # the whole head stays in the frame
    room = {1.0: max(0.0, 1.0 - margin - f.subject_x), -1.0: max(0.0, f.subject_x - margin)}
    first = {"left": 1.0, "right": -1.0}.get(f.gaze, 1.0 if room[1.0] >= room[-1.0] else -1.0)
    spacing = 2.3 * SHOULDER_HALF_WIDTH * unit
    n = f.n_people - 1
    # Closest spacing that fits all companions, never below MIN_SPACING.
    for step in np.linspace(spacing, MIN_SPACING * unit, 12):
        fits = {d: int(room[d] // step + 1e-9) for d in room}
        if fits[first] + fits[-first] >= n:
            break
    counts = {first: min(n, fits[first])}
    counts[-first] = min(n - counts[first], fits[-first])
    out = []
    for direction in (first, -first):
        for k in range(1, counts[direction] + 1):
            jitter = rng.uniform(0.97, 1.0)  # a little irregular, never beyond the room allowed
            scale = f.subject_scale * rng.uniform(0.8, 0.95)
            # Companions stand on the same floor: the same cut line keeps their bodies level with the subject's.
            y = 1.0 - (1.0 - f.subject_y) * scale / f.subject_scale - rng.uniform(0.0, 0.02)
            out.append((float(f.subject_x + direction * step * k * jitter), float(y), float(scale)))
    return out


def people_capacity(f: Factors) -> int:
    """How many people (the subject included) fit side by side in this frame at the closest spacing."""
    width, height = f.size
    unit = f.subject_scale * height / width
    margin = HEAD_HALF_WIDTH * unit
    step = MIN_SPACING * unit
    room = (max(0.0, 1.0 - margin - f.subject_x), max(0.0, f.subject_x - margin))
    return 1 + sum(int(r // step + 1e-9) for r in room)


# ---- sampling -----------------------------------------------------------------------------------
# Base probabilities of each design choice (for a photographer of average skill), chosen so every
# attribute reaches all three levels. Defects (awkward crops, blur, bad exposure, tilt, clutter...)
# are scaled by ``1.5 - skill`` so they co-occur, as in real photographs where one careless shot
# tends to have several faults; this is what spreads the total score.
P_CROP: Final[dict[str, float]] = {"head": 0.1, "joint": 0.11, "side": 0.07}  # the rest: none
P_FRAMING: Final[dict[str, float]] = {"close-up": 0.35, "half-body": 0.4, "full-body": 0.25}
P_ASPECT: Final[dict[str, float]] = {"2:3": 0.35, "4:5": 0.2, "3:2": 0.25, "1:1": 0.1, "16:9": 0.1}
P_PEOPLE: Final[dict[int, float]] = {1: 0.62, 2: 0.2, 3: 0.11, 4: 0.07}
P_PALETTE: Final[dict[str, float]] = {"warm": 0.3, "cool": 0.25, "complementary": 0.17, "muted": 0.16, "clashing": 0.12}
P_LIGHT: Final[dict[str, float]] = {"left": 0.25, "right": 0.25, "front": 0.22, "back": 0.13, "top": 0.15}
P_GAZE: Final[dict[str, float]] = {"left": 0.4, "right": 0.4, "camera": 0.2}
SCALE_RANGE: Final[dict[str, tuple[float, float]]] = {
    "close-up": (0.3, 0.42), "half-body": (0.17, 0.23), "full-body": (0.085, 0.11),
}


def _pick(rng: np.random.Generator, table: dict[Any, float]) -> Any:
    """One key of ``table`` drawn with the given (unnormalised) weights; one uniform draw."""
    u = rng.random() * sum(table.values())
    for key, weight in table.items():
        u -= weight
        if u < 0:
            return key
    return key


def _defect(rng: np.random.Generator, p: float, skill: float) -> bool:
    return rng.random() < p * (1.5 - skill)


def sample_factors(rng: np.random.Generator, **fixed: Any) -> Factors:
    """Draw one scene's factors; any factor passed in ``fixed`` is used as given instead of drawn.

    A latent ``skill`` ~ Beta(2, 2) scales the chance of every defect (see ``P_*`` tables). Geometry is
    drawn so that the recorded crop is what the frame really does: the intended crop (about ``head``
    10 %, ``joint`` 11 %, ``side`` 7 % at average skill) picks the bottom-edge line and the subject's
    position; the derived ``crop`` of the result is then measured from the geometry, not assumed.
    """
    skill = float(fixed.get("skill", rng.beta(2.0, 2.0)))
    d = 1.5 - skill  # defect multiplier, 0.5 (expert) .. 1.5 (careless)
    aspect = fixed.get("aspect", _pick(rng, P_ASPECT))
    framing = fixed.get("framing", _pick(rng, P_FRAMING))
    intended_crop = _pick(rng, {**{k: v * d for k, v in P_CROP.items()}, "none": 1.0 - sum(P_CROP.values())})
    width, height = frame_size(aspect)
    lo, hi = SCALE_RANGE[framing]
    scale = lo + (hi - lo) * rng.random()
    if intended_crop == "joint":
        joints = JOINT_CUT[framing]
        cut = JOINT_LINES[joints[int(rng.random() * len(joints))]] + 0.3 * (rng.random() - 0.5)
    else:
        lo, hi = NATURAL_CUT[framing]
        cut = lo + (hi - lo) * rng.random()
    subject_y = 1.0 - cut * scale
    if intended_crop == "head":
        subject_y = -HEAD_TOP * scale - (0.15 + 0.3 * rng.random()) * scale
    elif subject_y + HEAD_TOP * scale < 0.03:
        # Too big to fit with headroom at this cut line: shrink until the head fits.
        scale = (1.0 - 0.03) / (cut - HEAD_TOP)
        subject_y = 1.0 - cut * scale
    gaze = fixed.get("gaze", _pick(rng, P_GAZE))
    # Placement: mostly on a third, some centred, some off-balance (more often for careless shots).
    mode = _pick(rng, {"third": 0.55, "centre": 0.25, "edge": 0.2 * d})
    left = rng.random() < 0.5
    if mode == "third":
        x = (1 / 3 if left else 2 / 3) + 0.03 * rng.standard_normal()
    elif mode == "centre":
        x = 0.5 + 0.03 * rng.standard_normal()
    else:
        x = (0.14 if left else 0.76) + 0.1 * rng.random()
    if gaze != "camera" and rng.random() < 0.45 + 0.45 * skill:
        # Photographers leave room on the side the subject faces.
        if (x < 0.5) == (gaze == "left"):
            x = 1.0 - x
    if intended_crop == "side":
        part = HEAD_HALF_WIDTH if framing == "close-up" else ARM_HALF_WIDTH
        half = part * scale * height / width
        # At most 30 % of the width: both sides of the centre line stay in the frame, so the light's side shows.
        out = (0.12 + 0.18 * rng.random()) * 2 * half
        x = half - out if x < 0.5 else 1.0 - half + out
    x = min(max(x, 0.0), 1.0)

    if _defect(rng, 0.4, skill):
        global_blur = 0.6 + rng.random() if rng.random() < 0.62 else 2.0 + 2.0 * rng.random()
    else:
        global_blur = 0.0
    sign = 1.0 if rng.random() < 0.5 else -1.0
    if _defect(rng, 0.4, skill):
        exposure = sign * (0.4 + 0.4 * rng.random() if rng.random() < 0.62 else 0.9 + 0.6 * rng.random())
    else:
        exposure = 0.12 * rng.standard_normal()
    if _defect(rng, 0.25, skill):
        tilt = sign * (2.5 + 9.5 * rng.random())
    else:
        tilt = 0.6 * rng.standard_normal()
    depth = _pick(rng, {"deep": 0.35 * d, "medium": 0.35, "shallow": 0.3 * (2 - d)})
    background_blur = {"deep": 0.8, "medium": 1.5 + 2.0 * rng.random(), "shallow": 4.0 + 4.0 * rng.random()}[depth]
    if depth == "deep":
        background_blur *= rng.random()
    light = _pick(rng, {**P_LIGHT, "top": P_LIGHT["top"] * d})
    palette = _pick(rng, {**P_PALETTE, "clashing": P_PALETTE["clashing"] * d})
    values: dict[str, Any] = dict(
        aspect=aspect, framing=framing, n_people=_pick(rng, P_PEOPLE),
        subject_x=float(x), subject_y=float(subject_y), subject_scale=float(scale), gaze=gaze,
        horizon_y=0.3 + 0.42 * rng.random(), horizon_tilt=float(tilt),
        clutter=min(1.0, float(rng.beta(1.4, 2.6)) * (0.4 + 0.8 * d)),
        leading_lines=bool(rng.random() < 0.15 + 0.3 * skill),
        global_blur=float(global_blur), background_blur=float(background_blur), exposure=float(exposure),
        palette=palette, light_direction=light, light_hardness=float(rng.beta(1.6, 1.6)),
        golden_hour=bool(light in ("back", "left", "right") and palette in ("warm", "complementary")
                         and rng.random() < 0.5),
        scene_seed=int(rng.integers(2**31)), skill=skill,
    )
    values.update(fixed)
    scene = Factors(**values)
    if "n_people" not in fixed and scene.n_people > people_capacity(scene):
        # The frame cannot show this many people side by side: record the people it shows.
        scene = scene.replace(n_people=people_capacity(scene))
    return scene


@functools.lru_cache(maxsize=64)
def _stream_code(stream: str) -> int:
    return int.from_bytes(hashlib.sha256(stream.encode()).digest()[:8], "little")


def image_rng(seed: int, stream: str, index: int) -> np.random.Generator:
    """The generator for one image: depends on (seed, stream, index) only, never on how many are made."""
    return np.random.default_rng(np.random.SeedSequence([seed, _stream_code(stream), index]))


def rounded(value: float, digits: int = 1) -> float:
    """Round half away from zero (``round`` rounds half to even, which surprises readers of scores)."""
    return math.copysign(math.floor(abs(value) * 10**digits + 0.5) / 10**digits, value)


def in_degrees(value: float) -> str:
    """An angle rounded to whole degrees, in words: "1 degree", "4 degrees"."""
    n = int(rounded(value, 0))
    return f"{n} degree" if n == 1 else f"{n} degrees"
