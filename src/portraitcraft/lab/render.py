"""Draw a lab scene from its :class:`~portraitcraft.lab.factors.Factors` with numpy and Pillow.

The picture is built in the order a photographer would think of it: sky and ground split by a
(possibly tilted) horizon, props that make the background busy, converging lines, the background's
depth-of-field blur, the people (simple shapes: legs, torso, arms, neck, head, hair, eyes turned by
the gaze) shaded by the key light, then exposure and any whole-image blur. Everything that is not a
composition factor (prop shapes, clothing colours, skin tone) comes from ``factors.scene_seed``, so
changing one factor changes only what that factor controls.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from portraitcraft.lab.factors import LONG_SIDE, Factors, companion_layout, frame_size
from portraitcraft.lab.figure import colour_paint, draw_figure, figure_extent, label_paint

RGB = tuple[int, int, int]

# Each palette: sky top, sky at horizon, far ground, near ground, clothing choices, prop hues.
PALETTE_COLOURS: Final[dict[str, dict[str, tuple[RGB, ...]]]] = {
    "warm": dict(sky=((236, 196, 150), (250, 222, 180)), ground=((176, 128, 84), (120, 82, 52)),
                 clothing=((168, 72, 42), (196, 120, 60), (122, 64, 40), (220, 170, 96)),
                 props=((150, 96, 58), (204, 150, 90), (110, 70, 44), (226, 186, 120))),
    "cool": dict(sky=((120, 160, 206), (190, 212, 230)), ground=((86, 122, 128), (52, 78, 92)),
                 clothing=((40, 70, 120), (70, 120, 150), (30, 100, 110), (150, 176, 200)),
                 props=((70, 104, 140), (110, 150, 170), (40, 70, 90), (160, 190, 210))),
    "complementary": dict(sky=((70, 120, 190), (150, 190, 225)), ground=((60, 96, 140), (36, 60, 98)),
                          clothing=((226, 120, 40), (240, 150, 60), (210, 96, 30), (250, 180, 90)),
                          props=((60, 100, 160), (90, 140, 190), (40, 70, 120), (120, 160, 200))),
    "muted": dict(sky=((176, 176, 170), (206, 204, 196)), ground=((128, 124, 116), (94, 90, 84)),
                  clothing=((96, 92, 88), (140, 132, 120), (70, 70, 74), (170, 164, 150)),
                  props=((120, 116, 110), (150, 146, 138), (90, 88, 86), (176, 170, 160))),
    "clashing": dict(sky=((90, 220, 120), (230, 240, 80)), ground=((220, 40, 160), (150, 30, 120)),
                     clothing=((250, 60, 40), (40, 60, 250), (250, 230, 20), (20, 220, 220)),
                     props=((250, 0, 120), (0, 200, 60), (250, 140, 0), (120, 0, 250))),
}
GOLDEN_SKY: Final[tuple[RGB, RGB]] = ((232, 150, 96), (255, 204, 120))
SKIN_TONES: Final[tuple[RGB, ...]] = ((236, 200, 170), (214, 170, 130), (176, 124, 90), (120, 80, 56), (242, 212, 190))
HAIR_COLOURS: Final[tuple[RGB, ...]] = ((40, 28, 22), (86, 56, 34), (150, 110, 60), (20, 18, 18), (180, 150, 100))
MAX_PROPS: Final[int] = 28


def render_scene(factors: Factors, *, long_side: int = LONG_SIDE) -> Image.Image:
    """The RGB image of one scene. Pure: the same factors always give the same pixels."""
    f = factors
    width, height = frame_size(f.aspect, long_side)
    px = long_side / LONG_SIDE  # blur radii are specified at 512 px
    colours = PALETTE_COLOURS[f.palette]

    canvas = _sky_and_ground(f, width, height, colours)
    draw = ImageDraw.Draw(canvas)
    if f.golden_hour or f.light_direction == "back":
        _draw_sun(draw, f, width, height)
    _draw_props(draw, f, width, height)
    if f.leading_lines:
        _draw_leading_lines(draw, f, width, height, colours)
    if f.background_blur > 0.05:
        canvas = _soft_blur(canvas, f.background_blur * px)

    people = [*companion_layout(f), (f.subject_x, f.subject_y, f.subject_scale)]
    for number, (x, y, scale) in enumerate(people):
        # Companions look where the subject looks: a group that faces one way reads as one scene.
        look = figure_look(f, len(people) - 1 - number)
        _composite_figure(canvas, f, x * width, y * height, scale * height, f.gaze, look)

    if abs(f.exposure) > 1e-3:
        # Exposure in stops multiplies light; clipping is what blows highlights or crushes shadows.
        gain = 2.0 ** f.exposure
        canvas = canvas.point([min(255, int(v * gain + 0.5)) for v in range(256)] * 3)
    if f.global_blur > 0.05:
        canvas = _soft_blur(canvas, f.global_blur * px)
    return canvas


GROUND_LABEL: Final[int] = 128
"""Bit of the label mask set on the ground below the horizon (people's labels are 8 * person + part, person 1
the main subject, 2.. the companions; see :data:`~portraitcraft.lab.figure.FIGURE_PARTS`)."""


@dataclass(frozen=True)
class SceneMasks:
    """What the renderer drew where, for checking statements about a picture against the picture itself.

    ``labels`` (height x width, uint8): ``GROUND_LABEL`` on the ground plus, where a person is visible (in front of
    anyone behind), ``8 * person + part``. ``people`` has one entry per person (person 1 first) measured on the whole
    figure drawn alone, in and out of the frame, in pixels: ``area`` and ``head_area`` (hair, face and eyes),
    ``rows_area`` (the figure's pixels in the frame's rows, in or beyond the side edges), ``out`` and ``head_out``
    (pixels beyond the left and right edges within the frame's rows, beyond the top and bottom edges), ``box`` and
    ``face_box`` (left, top, right, bottom, frame coordinates, may lie outside the frame; the face box is the face's
    whole ellipse, one head height tall, around the head centre) and ``eyes_x``, the drawn eyes' centre.
    """

    labels: np.ndarray
    people: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"size": [int(self.labels.shape[1]), int(self.labels.shape[0])], "people": self.people}


def scene_masks(factors: Factors, *, long_side: int = LONG_SIDE) -> SceneMasks:
    """The label mask and per-person extents of a scene, drawn with the same shapes and order as
    :func:`render_scene` (companions first, the main subject last, in front)."""
    f = factors
    width, height = frame_size(f.aspect, long_side)
    labels = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(labels)
    people = [(f.subject_x, f.subject_y, f.subject_scale), *companion_layout(f)]  # person 1 = the subject
    for number in range(len(people), 0, -1):  # drawn back to front, as in render_scene
        x, y, scale = people[number - 1]
        draw_figure(draw, x * width, y * height, scale * height, f.gaze, label_paint(number))
    array = np.asarray(labels).copy()
    array |= (np.asarray(_ground_mask(f, width, height)) > 127).astype(np.uint8) * GROUND_LABEL
    extents = [figure_extent(x * width, y * height, scale * height, f.gaze, width, height) for x, y, scale in people]
    return SceneMasks(array, extents)


def side_light_shows(f: Factors) -> bool:
    """Whether side light still shows on the subject's clothing once exposure has clipped it: the lit and the
    shadow side of the top differ by at least 6 grey levels (half the shading depth, after exposure). Strong
    overexposure clips both sides to white and the modelling disappears from the picture."""
    if f.light_direction not in ("left", "right"):
        return False
    depth = 0.5 * (0.18 + 0.5 * f.light_hardness)
    gain = 2.0 ** f.exposure
    top = np.asarray(figure_look(f, 0)["top"], dtype=float)
    if f.golden_hour:
        top = top * np.array([255, 240, 205]) / 255.0
    weights = np.array([0.299, 0.587, 0.114])
    lit = np.minimum(255.0, top * gain) @ weights
    shadow = np.minimum(255.0, top * (1.0 - depth) * gain) @ weights
    return bool(lit - shadow >= 6.0)


def subject_box(factors: Factors, *, long_side: int = LONG_SIDE) -> tuple[float, float, float, float]:
    """Pixel box (left, top, right, bottom) of the main subject's head: where a face detector should look."""
    width, height = frame_size(factors.aspect, long_side)
    cx, cy, h = factors.subject_x * width, factors.subject_y * height, factors.subject_scale * height
    return cx - 0.38 * h, cy - 0.5 * h, cx + 0.38 * h, cy + 0.5 * h


# ---- background ---------------------------------------------------------------------------------
def _horizon_at(f: Factors, x: np.ndarray | float, width: int, height: int) -> np.ndarray | float:
    """Horizon's y (pixels) at x; positive tilt rises to the right."""
    return f.horizon_y * height - math.tan(math.radians(f.horizon_tilt)) * (x - width / 2)


GRAIN_TILE: Final[int] = 256
GRAIN_LEVEL: Final[int] = 10  # grain amplitude (grey levels either side of zero)


@functools.lru_cache(maxsize=8)
def _grain_field(long_side: int, level: int) -> Image.Image:
    """Film grain (RGB, mean ``level``) at twice the pixel size, big enough for any frame of this long
    side plus a GRAIN_TILE offset; made once per process from a fixed seed."""
    half = (long_side + GRAIN_TILE) // 2 + 2
    noise = np.random.default_rng(20240).normal(level, level / 2.5, (half, half))
    field = Image.fromarray(np.clip(noise, 0, 2 * level).astype(np.uint8), "L")
    field = field.resize((2 * half, 2 * half), Image.NEAREST)
    return Image.merge("RGB", (field, field, field))


def _grain(width: int, height: int, seed: int, level: int = GRAIN_LEVEL) -> Image.Image:
    """Grain for a frame: a seed-chosen window of the shared grain field."""
    ox, oy = seed % GRAIN_TILE, (seed // GRAIN_TILE) % GRAIN_TILE
    return _grain_field(max(width, height), level).crop((ox, oy, ox + width, oy + height))


def _gradient(top: RGB, bottom: RGB, y0: float, y1: float, width: int, height: int) -> Image.Image:
    """Rows blending from ``top`` at y0 to ``bottom`` at y1 (clamped outside), as an RGB image."""
    t = np.clip((np.arange(height, dtype=np.float32) - y0) / max(y1 - y0, 1.0), 0, 1)[:, None]
    rows = np.asarray(top, np.float32) + (np.asarray(bottom, np.float32) - np.asarray(top, np.float32)) * t
    return Image.fromarray(rows.round().astype(np.uint8)[:, None, :], "RGB").resize((width, height), Image.NEAREST)


def _sky_and_ground(f: Factors, width: int, height: int, colours: dict) -> Image.Image:
    mid = f.horizon_y * height
    sky_top, sky_low = GOLDEN_SKY if f.golden_hour else colours["sky"]
    far, near = colours["ground"]
    sky = _gradient(sky_top, sky_low, 0.0, mid, width, height)
    ground = _gradient(far, near, mid, float(height), width, height)
    # Texture on the ground (strong) and in the sky (faint): real photos have it, and blur removes it.
    ground = ImageChops.add(ground, _grain(width, height, f.scene_seed), 1.0, -GRAIN_LEVEL)
    faint = GRAIN_LEVEL // 3
    sky = ImageChops.add(sky, _grain(width, height, f.scene_seed, faint), 1.0, -faint)
    return Image.composite(ground, sky, _ground_mask(f, width, height))


def _ground_mask(f: Factors, width: int, height: int) -> Image.Image:
    """255 on the ground, 0 in the sky: the polygon below the (possibly tilted) horizon."""
    mask = Image.new("L", (width, height), 0)
    left, right = float(_horizon_at(f, 0.0, width, height)), float(_horizon_at(f, float(width), width, height))
    ImageDraw.Draw(mask).polygon([(0, left), (width, right), (width, height + 1), (0, height + 1)], fill=255)
    return mask


def _soft_blur(image: Image.Image, radius: float) -> Image.Image:
    """Gaussian blur; large radii are blurred at half size (4x cheaper, visually the same)."""
    if radius < 3.0:
        return image.filter(ImageFilter.GaussianBlur(radius))
    small = image.resize((max(1, image.width // 2), max(1, image.height // 2)), Image.BILINEAR)
    return small.filter(ImageFilter.GaussianBlur(radius / 2)).resize(image.size, Image.BILINEAR)


def _draw_sun(draw: ImageDraw.ImageDraw, f: Factors, width: int, height: int) -> None:
    sun_x = {"left": 0.12, "right": 0.88}.get(f.light_direction, f.subject_x + 0.06) * width
    sun_y = float(_horizon_at(f, sun_x, width, height)) - 0.06 * height
    r = 0.05 * max(width, height)
    glow = (255, 236, 190) if f.golden_hour else (255, 250, 236)
    draw.ellipse((sun_x - 2 * r, sun_y - 2 * r, sun_x + 2 * r, sun_y + 2 * r), fill=_mix(glow, (255, 200, 140), 0.5))
    draw.ellipse((sun_x - r, sun_y - r, sun_x + r, sun_y + r), fill=glow)


PROP_KINDS: Final[tuple[str, ...]] = ("building", "bush", "pole", "sign")


def scene_props(f: Factors, width: int, height: int) -> list[dict]:
    """The background props shown: kind, position, size and colour. The same MAX_PROPS are always drawn
    from the seed and the first ``round(clutter * MAX_PROPS)`` kept, so raising clutter only adds props."""
    rng = np.random.default_rng([f.scene_seed, 3])
    colours = PALETTE_COLOURS[f.palette]["props"]
    shown = round(f.clutter * MAX_PROPS)
    unit = max(width, height)
    props = []
    for _ in range(MAX_PROPS):
        kind = PROP_KINDS[int(rng.integers(4))]
        x = float(rng.uniform(-0.05, 1.05)) * width
        size = float(rng.uniform(0.03, 0.16)) * unit
        lift = float(rng.uniform(-0.05, 0.12)) * height
        base_colour = colours[int(rng.integers(len(colours)))]
        loud = (int(rng.integers(256)), int(rng.integers(256)), int(rng.integers(256)))
        if f.palette != "clashing":
            # Louder, but within the scheme: the prop's own hue, saturated, at a drawn brightness.
            loud = _saturated(base_colour, loud[0] / 255.0)
        # Busier scenes also get louder colours: clutter is both more things and more contrast.
        fill = _mix(base_colour, loud, f.clutter * 0.8)
        props.append(dict(kind=kind, x=x, size=size, base=float(_horizon_at(f, x, width, height)) + lift, fill=fill))
    return props[:shown]


def _draw_props(draw: ImageDraw.ImageDraw, f: Factors, width: int, height: int) -> None:
    for prop in scene_props(f, width, height):
        x, size, base, fill = prop["x"], prop["size"], prop["base"], prop["fill"]
        if prop["kind"] == "building":  # standing on the horizon
            draw.rectangle((x - size * 0.4, base - size * 1.6, x + size * 0.4, base), fill=fill)
        elif prop["kind"] == "bush":
            draw.ellipse((x - size * 0.6, base - size, x + size * 0.6, base + size * 0.1), fill=fill)
        elif prop["kind"] == "pole":
            draw.line((x, base, x, base - size * 2.2), fill=fill, width=max(2, int(size * 0.08)))
        else:  # sign or window
            draw.rectangle((x - size * 0.5, base - size * 1.3, x + size * 0.5, base - size * 0.7), fill=fill)


def _draw_leading_lines(draw: ImageDraw.ImageDraw, f: Factors, width: int, height: int, colours: dict) -> None:
    """A path whose edges converge on the subject's position on the horizon."""
    vx = f.subject_x * width
    vy = float(_horizon_at(f, vx, width, height))
    vy = min(vy, height * 0.92)
    line_colour = _mix(colours["ground"][0], (245, 240, 225), 0.6)
    thickness = max(3, round(0.012 * max(width, height)))
    for spread in (-0.55, -0.25, 0.25, 0.55):
        x0 = vx + spread * width
        # Stop short of the vanishing point, like real lines that vanish behind the subject.
        x1, y1 = x0 + (vx - x0) * 0.85, height + (vy - height) * 0.85
        draw.line((x0, height, x1, y1), fill=line_colour, width=thickness)


# ---- people -------------------------------------------------------------------------------------
def figure_look(f: Factors, person: int) -> dict[str, RGB]:
    """Colours of one person (0 = main subject, 1.. = companions): skin, hair, top, trousers."""
    rng = np.random.default_rng([f.scene_seed, 2, person])
    clothing = PALETTE_COLOURS[f.palette]["clothing"]
    return dict(
        skin=SKIN_TONES[int(rng.integers(len(SKIN_TONES)))],
        hair=HAIR_COLOURS[int(rng.integers(len(HAIR_COLOURS)))],
        top=clothing[int(rng.integers(len(clothing)))],
        trousers=_mix(clothing[int(rng.integers(len(clothing)))], (30, 30, 36), 0.5),
    )


def _composite_figure(canvas: Image.Image, f: Factors, cx: float, cy: float, h: float, gaze: str,
                      look: dict[str, RGB]) -> None:
    width, height = canvas.size
    left, top = max(0, int(cx - 1.4 * h)), max(0, int(cy - 0.7 * h))
    right, bottom = min(width, int(cx + 1.4 * h) + 1), min(height, int(cy + 7.7 * h) + 1)
    if right <= left or bottom <= top:
        return
    box = (left, top, right, bottom)
    # Draw in the figure's own box (shifted coordinates): cheaper than a full-frame layer.
    layer = Image.new("RGBA", (right - left, bottom - top), (0, 0, 0, 0))
    draw_figure(ImageDraw.Draw(layer), cx - left, cy - top, h, gaze, colour_paint(look))
    rgb, alpha = layer.convert("RGB"), layer.getchannel("A")
    rgb = ImageChops.multiply(rgb, _shading(f, left - cx, top - cy, h, rgb.size).convert("RGB"))
    if f.light_direction == "back":
        # Rim light: the figure's outline glows where the light wraps round from behind.
        rim = ImageChops.subtract(alpha, alpha.filter(ImageFilter.MinFilter(5)))
        glow = Image.new("RGB", rgb.size, (255, 214, 150) if f.golden_hour else (255, 250, 240))
        rgb = Image.composite(glow, rgb, rim)
    if f.golden_hour:
        rgb = ImageChops.multiply(rgb, Image.new("RGB", rgb.size, (255, 240, 205)))
    canvas.paste(rgb, box[:2], alpha)


def _shading(f: Factors, x0: float, y0: float, h: float, size: tuple[int, int]) -> Image.Image:
    """Brightness multiplier (L image, 255 = unchanged) over a figure's box whose top-left corner is
    (x0, y0) pixels from the head centre: the key light's direction sets which side falls into shadow,
    hardness how sharp the light-to-shadow edge (the terminator) is and how deep the shadow."""
    w, hgt = size
    hard = f.light_hardness
    steep = 2.5 + 28.0 * hard
    depth = 0.18 + 0.5 * hard
    if f.light_direction in ("left", "right"):
        xs = (x0 + np.arange(w, dtype=np.float32)) / h
        away = xs if f.light_direction == "left" else -xs
        row = 1.0 - depth / (1.0 + np.exp(-steep * (away - 0.05)))
        return _as_l(row[None, :]).resize(size, Image.NEAREST)
    if f.light_direction == "top":
        # Overhead light: lit crown, a darker body below and shadowed eye sockets.
        ys = (y0 + np.arange(hgt, dtype=np.float32)) / h
        column = 1.0 - depth / (1.0 + np.exp(-steep * 0.3 * (ys - 0.3)))
        shade = _as_l(column[:, None]).resize(size, Image.NEAREST)
        ex, ey = int(round(-x0 - 0.35 * h)), int(round(-y0 - 0.15 * h))
        eyes_w, eyes_h = max(1, int(0.7 * h)), max(1, int(0.3 * h))
        gx = np.exp(-(((np.arange(eyes_w) + 0.5) / eyes_w - 0.5) / 0.25) ** 2)
        gy = np.exp(-(((np.arange(eyes_h) + 0.5) / eyes_h - 0.5) / 0.2) ** 2)
        sockets = _as_l(1.0 - 0.35 * depth * gy[:, None] * gx[None, :])
        shade.paste(ImageChops.multiply(shade.crop((ex, ey, ex + eyes_w, ey + eyes_h)), sockets), (ex, ey))
        return shade
    level = 1.0 - 0.06 * hard if f.light_direction == "front" else 0.62 - 0.22 * hard  # back: camera side in shadow
    return Image.new("L", size, int(round(255 * level)))


def _as_l(values: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(values * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")


def _saturated(colour: RGB, brightness: float) -> RGB:
    """The colour's hue pushed away from grey (twice the chroma) at a brightness between 0.7x and 1.2x."""
    grey = sum(colour) / 3.0
    scale = 0.7 + 0.5 * brightness
    return tuple(int(min(255, max(0, (grey + 2.0 * (c - grey)) * scale))) for c in colour)  # type: ignore[return-value]


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))  # type: ignore[return-value]
