"""A person as the lab draws one: simple shapes (legs, torso, arms, neck, face, hair, eyes turned by the gaze) in
head heights around the head centre, painted in colours for the picture or in part labels for the masks.

The same function draws both, so the label masks (:func:`portraitcraft.lab.render.scene_masks`) and the coverage
the lab's texts quote (:attr:`portraitcraft.lab.factors.Factors.occupancy`) are measured on the very shapes the
picture shows.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
from PIL import Image, ImageDraw

RGB = tuple[int, int, int]


FIGURE_PARTS: Final[dict[str, int]] = {"body": 1, "hair": 2, "face": 3, "eyes": 4}
"""Part codes of a person in the label mask (see :func:`~portraitcraft.lab.render.scene_masks`)."""


PAINT_KEYS: Final[tuple[str, ...]] = ("legs", "shoes", "top", "hands", "neck", "hair", "face", "eyes", "nose", "mouth")


def colour_paint(look: dict[str, RGB]) -> dict[str, tuple[int, ...]]:
    """Fill of each drawn shape of a person in colour (RGBA)."""
    skin, top_colour = look["skin"], look["top"]
    nose = tuple(int(round(a + (b - a) * 0.5)) for a, b in zip(skin, (90, 50, 40)))
    return {name: tuple(rgb) + (255,) for name, rgb in dict(
        legs=look["trousers"], shoes=(40, 32, 28), top=top_colour, hands=skin, neck=skin, hair=look["hair"],
        face=skin, eyes=(30, 24, 22), nose=nose, mouth=(150, 60, 60)).items()}


def label_paint(person: int) -> dict[str, int]:
    """Fill of each drawn shape of a person in the label mask: 8 * person number + part code."""
    part = dict(legs="body", shoes="body", top="body", hands="body", neck="body", hair="hair", face="face",
                eyes="eyes", nose="face", mouth="face")
    return {shape: 8 * person + FIGURE_PARTS[name] for shape, name in part.items()}


def face_ellipse(cx: float, cy: float, h: float) -> tuple[float, float, float, float]:
    """The face's ellipse (left, top, right, bottom): one head height tall, 0.76 wide, around the head centre."""
    return cx - 0.38 * h, cy - 0.5 * h, cx + 0.38 * h, cy + 0.5 * h


def draw_figure(draw: ImageDraw.ImageDraw, cx: float, cy: float, h: float, gaze: str, paint: dict) -> None:
    """A standing person from simple shapes, in head heights ``h`` around the head centre; ``paint`` gives each
    shape's fill (colours for the picture, part labels for the mask)."""

    def p(x: float, y: float) -> tuple[float, float]:
        return cx + x * h, cy + y * h

    def w(units: float) -> int:
        return max(1, round(units * h))

    for side in (-1, 1):  # legs: hip, knee, ankle
        draw.line([p(side * 0.4, 3.3), p(side * 0.42, 5.3), p(side * 0.45, 7.2)], fill=paint["legs"],
                  width=w(0.5), joint="curve")
        draw.ellipse((*p(side * 0.45 - 0.28, 7.1), *p(side * 0.45 + 0.28, 7.5)), fill=paint["shoes"])
    draw.polygon([p(-1.0, 0.9), p(1.0, 0.9), p(0.72, 2.9), p(0.82, 3.6), p(-0.82, 3.6), p(-0.72, 2.9)],
                 fill=paint["top"])
    draw.ellipse((*p(-1.02, 0.7), *p(1.02, 1.2)), fill=paint["top"])
    for side in (-1, 1):  # arms: shoulder, elbow, wrist, hand
        draw.line([p(side * 0.92, 1.0), p(side * 1.12, 2.2), p(side * 1.0, 3.4)], fill=paint["top"],
                  width=w(0.34), joint="curve")
        draw.ellipse((*p(side * 1.0 - 0.16, 3.35), *p(side * 1.0 + 0.16, 3.75)), fill=paint["hands"])
    draw.rectangle((*p(-0.2, 0.3), *p(0.2, 0.9)), fill=paint["neck"])
    turn = {"left": -1.0, "right": 1.0, "camera": 0.0}[gaze]
    # Hair sits behind the head and shows more on the side facing away from the gaze.
    draw.ellipse((*p(-0.44 - 0.06 * turn, -0.6), *p(0.44 - 0.06 * turn, 0.25)), fill=paint["hair"])
    draw.ellipse(face_ellipse(cx, cy, h), fill=paint["face"])
    draw.chord((*p(-0.42 - 0.1 * turn, -0.62), *p(0.42 - 0.1 * turn, 0.0)), 180, 360, fill=paint["hair"])
    eye_y, eye_r = 0.05, max(0.05, 1.2 / max(h, 1.0))
    for side in (-1, 1):
        ex = side * 0.14 + 0.12 * turn
        draw.ellipse((*p(ex - eye_r, eye_y - eye_r * 0.8), *p(ex + eye_r, eye_y + eye_r * 0.8)), fill=paint["eyes"])
    draw.line([p(0.2 * turn, 0.1), p(0.27 * turn + 0.01, 0.26)], fill=paint["nose"], width=max(1, w(0.035)))
    draw.line([p(-0.1 + 0.1 * turn, 0.34), p(0.1 + 0.1 * turn, 0.34)], fill=paint["mouth"], width=max(1, w(0.04)))


def figure_extent(cx: float, cy: float, h: float, gaze: str, width: int, height: int) -> dict[str, Any]:
    """A figure drawn alone on its own canvas (its whole body, whatever the frame cuts), measured against the frame."""
    left, top = math.floor(cx - 1.4 * h), math.floor(cy - 0.7 * h)
    right, bottom = math.ceil(cx + 1.4 * h) + 1, math.ceil(cy + 7.7 * h) + 1
    canvas = Image.new("L", (right - left, bottom - top), 0)
    draw_figure(ImageDraw.Draw(canvas), cx - left, cy - top, h, gaze, label_paint(0))
    parts = np.asarray(canvas)
    body, head = parts > 0, parts >= FIGURE_PARTS["hair"]
    # The face's own outline (hair covers part of it in the figure): where the head centre and height are read.
    outline = Image.new("L", canvas.size, 0)
    ImageDraw.Draw(outline).ellipse(face_ellipse(cx - left, cy - top, h), fill=1)
    face = np.asarray(outline) > 0
    eyes = np.nonzero(parts == FIGURE_PARTS["eyes"])[1]

    def out(mask: np.ndarray) -> dict[str, int]:
        """Pixels beyond each edge: left and right within the frame's rows, top and bottom across all columns."""
        x0, x1 = max(0, min(mask.shape[1], -left)), max(0, min(mask.shape[1], width - left))
        y0, y1 = max(0, min(mask.shape[0], -top)), max(0, min(mask.shape[0], height - top))
        return {"left": int(mask[y0:y1, :x0].sum()), "right": int(mask[y0:y1, x1:].sum()),
                "top": int(mask[:y0, :].sum()), "bottom": int(mask[y1:, :].sum())}

    def box(mask: np.ndarray) -> list[int]:
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        return [int(left + cols[0]), int(top + rows[0]), int(left + cols[-1] + 1), int(top + rows[-1] + 1)]

    y0, y1 = max(0, min(body.shape[0], -top)), max(0, min(body.shape[0], height - top))
    return {"area": int(body.sum()), "rows_area": int(body[y0:y1].sum()), "head_area": int(head.sum()),
            "out": out(body), "head_out": out(head), "box": box(body), "face_box": box(face),
            "eyes_x": float(left + eyes.mean() + 0.5) if len(eyes) else None, "face": _ellipse_reading(face, left, top)}


def _ellipse_reading(mask: np.ndarray, left: int, top: int) -> list[float]:
    """[centre x, centre y, height] of a drawn face ellipse (0.76 as wide as tall), from its centroid and area."""
    ys, xs = np.nonzero(mask)
    height = math.sqrt(len(xs) / (math.pi * 0.38 * 0.5)) if len(xs) else 0.0
    return [float(left + xs.mean() + 0.5), float(top + ys.mean() + 0.5), float(height)] if len(xs) else [0.0, 0.0, 0.0]




def lead_room(others: np.ndarray, cx: float, cy: float, face_height: float, looking_left: bool) -> float:
    """Lead room of a face at (cx, cy) pixels in a frame whose other people are ``others`` (a boolean mask): the
    free run ahead of the face's centre, up to the frame edge or to the first column where other people fill a
    fifth of the face's rows, minus the space behind it to the frame edge, in frame widths."""
    height, width = others.shape
    top, bottom = max(0, int(cy - face_height / 2)), min(height, int(cy + face_height / 2))
    filled = others[top:bottom].mean(axis=0) if bottom > top else np.zeros(width)
    blocked = np.flatnonzero(filled >= 0.2)
    if looking_left:
        stops = blocked[blocked < cx]
        ahead = (cx - (stops.max() + 1 if len(stops) else 0)) / width
        behind = 1.0 - cx / width
    else:
        stops = blocked[blocked > cx]
        ahead = ((stops.min() if len(stops) else width) - cx) / width
        behind = cx / width
    return float(max(ahead, 0.0) - behind)
