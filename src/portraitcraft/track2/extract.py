"""Read the Track 2 composition properties (`track2.properties`) from an image: two interchangeable extractors.

For example::

    from PIL import Image

    from portraitcraft.track2.extract import CpuExtractor

    extractor = CpuExtractor()   # or VlmExtractor("models/tiny-qwen3-vl")
    with Image.open("data/lab/images_00/lab_00000.jpg") as image:
        # {"framing": Reading(value="close-up", ...), ...}
        readings = extractor.read([image])[0]

Both return, per image, one `Reading` per property they can see: a value, a confidence, and for categorical
properties a probability for every value (the scorer takes the expected agreement under it).

``cpu``
    Measurements with a plain meaning, built on `portraitcraft.features` (the Haar face detector, saliency, Hough
    lines, colour statistics) plus a few made here (the sky band's colour, the longest near-horizontal line, the
    typical local sharpness, the brightness balance of the face left against right and top against bottom), then
    one readable rule per property (`cpu_readings`). The thresholds were set by looking at the composition lab's
    Track 2 *train* split; `scripts/bench_track2.py` reports the accuracy on the *test* split. On real
    photographs the same rules are much weaker (faces in profile or from behind are not found; real backgrounds
    are not flat), which the confidences try to reflect. Not read, so left unscored: gaze and lead room (they need
    a head pose, which OpenCV's bundled models do not give), light hardness (no measurement tried beat guessing on
    the lab) and, when no face is found, the amount of negative space.
``vlm``
    One multiple-choice question per property (`properties.Property.question`), asked through the model runner's
    ``score`` protocol (`portraitcraft.runners.qwen`): the image and all questions are encoded once, then each
    property's answer line is read from the next-token probabilities of the option letters, as the Track 1 score
    protocol reads levels (the question-answering approach of TIFA and VQAScore). No free text is generated.
    torch and transformers are imported only when a `VlmExtractor` is built.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

import numpy as np

from portraitcraft.track2.properties import (
    BY_KEY,
    CONTINUOUS,
    COUNTED,
    Property,
    continuous_from_bins,
    degrees,
)

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class Reading:
    """What an extractor sees of one property in one image."""

    key: str
    value: str | float
    confidence: float  # 0..1: how much the extractor trusts this reading
    distribution: dict[str, float] | None = None  # categorical: probability of every value
    evidence: str = ""  # the measurement behind it, in words

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


class Extractor(Protocol):
    name: str

    def read(self, images: Sequence[Image.Image]) -> list[dict[str, Reading]]:
        """One mapping of property key to reading per image, in order."""

    def config(self) -> dict[str, Any]:
        """What defines the readings (recorded in reports)."""


# ---- the CPU extractor --------------------------------------------------------------------------------------------
MEASURE_SIDE: Final[int] = 512  # features are computed at this long side (as the feature baseline does)
SMALL_SIDE: Final[int] = 256  # the extra colour and sharpness measurements need no more


def _face_box(f: dict[str, float], width: int, height: int) -> tuple[float, float, float, float] | None:
    """The largest face's box in frame fractions, rebuilt from the features (Haar boxes are square in pixels)."""
    if f["face_count"] < 1 or f["face_area"] <= 0:
        return None
    side = math.sqrt(f["face_area"] * width * height)
    w, h = side / width, side / height
    return f["face_cx"] - w / 2, f["face_cy"] - h / 2, f["face_cx"] + w / 2, f["face_cy"] + h / 2


def distinct_lines(segments: np.ndarray, width: int, height: int) -> tuple[int, float]:
    """How many distinct lines the Hough ``segments`` (rows of `features.hough_lines`: angle in degrees, length in
    pixels, midpoint x and y as frame fractions) draw, and their total length in pixels, each stretch counted once.

    Segments within `SAME_LINE_DEGREES` of each other's angle and `SAME_LINE_OFFSET` of the frame's long side of each
    other's line are one line (the overlapping pieces of one edge, the two edges of a painted stripe); a line's
    length is that of the union of its segments along it."""
    tolerance = SAME_LINE_OFFSET * max(width, height)
    groups: list[tuple[float, np.ndarray, np.ndarray, float, list[tuple[float, float]]]] = []
    for angle, length, mx, my in sorted(np.asarray(segments, dtype=float).tolist(), key=lambda row: -row[1]):
        theta = math.radians(angle)
        along = np.array([math.cos(theta), -math.sin(theta)])  # image y grows downwards
        centre = np.array([mx * width, my * height])
        for first_angle, direction, normal, offset, spans in groups:
            turn = abs((angle - first_angle + 90.0) % 180.0 - 90.0)
            if turn <= SAME_LINE_DEGREES and abs(float(normal @ centre) - offset) <= tolerance:
                middle = float(direction @ centre)
                spans.append((middle - length / 2, middle + length / 2))
                break
        else:
            normal = np.array([-along[1], along[0]])
            middle = float(along @ centre)
            groups.append((angle, along, normal, float(normal @ centre), [(middle - length / 2, middle + length / 2)]))
    total = 0.0
    for *_, spans in groups:
        spans.sort()
        start, end = spans[0]
        for a, b in spans[1:]:
            if a > end:
                total, start = total + end - start, a
            end = max(end, b)
        total += end - start
    return len(groups), total


def measure(image: Image.Image) -> dict[str, float]:
    """Every number the CPU rules read, for one RGB image. Pure and deterministic."""
    from portraitcraft.features import compute_features, hough_lines
    from portraitcraft.opencv import import_cv2

    cv2 = import_cv2(needed=())

    picture = image.convert("RGB")
    if max(picture.size) > MEASURE_SIDE:
        picture = picture.copy()
        picture.thumbnail((MEASURE_SIDE, MEASURE_SIDE))
    rgb = np.asarray(picture, dtype=np.uint8)
    height, width = rgb.shape[:2]
    m: dict[str, float] = dict(compute_features(rgb))
    m["width"], m["height"] = float(width), float(height)

    # Colour temperature: shares of saturated pixels with warm (red-yellow) and cool (cyan-blue-violet) hues.
    long = max(width, height)
    small = cv2.resize(rgb, (max(16, width * SMALL_SIDE // long), max(16, height * SMALL_SIDE // long)),
                       interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hue, sat = hsv[..., 0].astype(float) * 2.0, hsv[..., 1].astype(float) / 255.0  # hue in degrees
    saturated = sat > 0.2
    m["warm_share"] = float((saturated & ((hue < 60) | (hue >= 330))).mean())
    m["cool_share"] = float((saturated & (hue >= 170) & (hue < 270)).mean())
    m["saturated_share"] = float(saturated.mean())
    # The sky band (top eighth): its colour tells a golden-hour sky from a daylight one.
    band = small[: max(2, small.shape[0] // 8)].reshape(-1, 3).astype(float)
    r, g, b = band.mean(axis=0)
    m["sky_red_blue"] = float((r - b) / 255.0)
    m["sky_saturation"] = float(hsv[: max(2, small.shape[0] // 8), :, 1].mean() / 255.0)
    m["sky_green_blue"] = float((g - b) / 255.0)

    # Horizon: the longest near-horizontal line that spans a good part of the frame.
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    lines = hough_lines(gray)
    flat = lines[(np.abs(lines[:, 0]) < 20)] if len(lines) else lines
    if len(flat):
        longest = flat[np.argmax(flat[:, 1])]
        m["horizon_angle"], m["horizon_span"] = float(longest[0]), float(longest[1] / width)
        m["horizon_y"] = float(longest[3])
    else:
        m["horizon_angle"], m["horizon_span"], m["horizon_y"] = 0.0, 0.0, 0.5
    # Leading lines: the diagonal lines in the lower half, how many and how long in all (in frame widths). The Hough
    # transform finds one edge as several overlapping segments, and a painted line as two edges: they are merged
    # into distinct lines first, so that the length is that of the lines a reader sees.
    if len(lines):
        diagonal = (np.abs(lines[:, 0]) >= 20) & (np.abs(lines[:, 0]) <= 75) & (lines[:, 3] > 0.5)
        count, length = distinct_lines(lines[diagonal], width, height)
        m["lower_diagonal_lines"], m["lower_diagonals"] = float(count), float(length / width)
        m["diagonal_pairs"] = float(min((lines[diagonal, 0] > 0).sum(), (lines[diagonal, 0] < 0).sum()))
    else:
        m["lower_diagonal_lines"] = m["lower_diagonals"] = m["diagonal_pairs"] = 0.0

    # Depth of field: the typical local sharpness (most of a frame is background), and the sharpest edges.
    small_gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    local = cv2.blur(np.abs(cv2.Laplacian(small_gray, cv2.CV_32F, ksize=3)), (9, 9))
    m["texture_median"] = float(np.median(local))
    m["texture_peak"] = float(np.percentile(local, 99.5))

    # Light on the subject: brightness of the face (or subject) box, left against right, top against bottom.
    box = _face_box(m, width, height)
    if box is None:
        half = math.sqrt(max(m["subject_area"], 0.01)) / 4
        box = (m["subject_cx"] - half, m["subject_cy"] - half, m["subject_cx"] + half, m["subject_cy"] + half)
    x0, y0, x1, y1 = (int(round(v * s)) for v, s in zip(box, (width, height, width, height)))
    x0, x1 = max(0, x0), min(width, max(x1, x0 + 2))
    y0, y1 = max(0, y0), min(height, max(y1, y0 + 2))
    patch = gray[y0:y1, x0:x1].astype(float) / 255.0
    if patch.size >= 4:
        mid_x, mid_y = patch.shape[1] // 2, patch.shape[0] // 2
        m["light_left_right"] = float(patch[:, :mid_x].mean() - patch[:, mid_x:].mean()) if mid_x else 0.0
        m["light_top_bottom"] = float(patch[:mid_y].mean() - patch[mid_y:].mean()) if mid_y else 0.0
    else:
        m["light_left_right"] = m["light_top_bottom"] = 0.0
    m["face_found"] = float(_face_box(m, width, height) is not None)
    return m


def _one_hot(prop: Property, value: str, sharpness: float = 0.8) -> dict[str, float]:
    """A distribution putting ``sharpness`` on ``value`` and the rest evenly on the other values."""
    rest = (1.0 - sharpness) / (len(prop.values) - 1)
    return {v: sharpness if v == value else rest for v in prop.values}


def _reading(key: str, value: str | float, confidence: float, evidence: str) -> Reading:
    prop = BY_KEY[key]
    distribution = None if prop.kind == CONTINUOUS else _one_hot(prop, str(value), 0.5 + 0.45 * confidence)
    return Reading(key, value, round(float(confidence), 3), distribution, evidence)


def cpu_readings(m: dict[str, float]) -> dict[str, Reading]:
    """The CPU extractor's rules: one per property, each from the measurements of `measure`."""
    out: dict[str, Reading] = {}
    face = m["face_found"] > 0
    x, y = (m["face_cx"], m["face_cy"]) if face else (m["subject_cx"], m["subject_cy"])
    where = "face" if face else "subject (saliency/skin)"
    trust = 0.8 if face else 0.5
    placement = ("far left" if x < 0.2 else "far right" if x > 0.8 else "centre" if abs(x - 0.5) < 0.09
                 else "left third" if x < 0.5 else "right third")  # the lab's own cut points (Factors.placement)
    out["placement"] = _reading("placement", placement, trust, f"{where} centre at x = {x:.2f}")
    vertical = "upper" if y < 0.4 else "lower" if y > 0.6 else "middle"
    out["vertical_placement"] = _reading("vertical_placement", vertical, trust * 0.8, f"{where} centre at y = {y:.2f}")
    out["negative_space_side"] = _reading("negative_space_side", "right" if x < 0.5 else "left",
                                          trust * min(1.0, abs(x - 0.5) * 5), f"{where} centre at x = {x:.2f}")

    # Framing from the face's height as a share of the frame height (a close-up's head fills a third of it).
    if face:
        face_height = math.sqrt(m["face_area"] * m["width"] * m["height"]) / m["height"]
        framing = ("close-up" if face_height > FRAMING_CUTS[1] else "half-body" if face_height > FRAMING_CUTS[0]
                   else "full-body")
        out["framing"] = _reading("framing", framing, 0.8, f"face height {face_height:.2f} of the frame")
    else:
        area = m["subject_area"]
        framing = "close-up" if area > 0.45 else "half-body" if area > 0.2 else "full-body"
        out["framing"] = _reading("framing", framing, 0.3, f"subject box {area:.2f} of the frame (no face found)")

    faces = int(m["face_count"])
    people = "one" if faces <= 1 else "two" if faces == 2 else "three or more"
    found = "1 face found" if faces == 1 else f"{faces} faces found"
    out["people"] = _reading("people", people, 0.5 if faces >= 1 else 0.2, found)

    if face:
        # People are about 8 head heights tall and 2 wide (the Haar box is ~0.87 of the head's height): the frame
        # they cover follows from the face's size and height, for as many figures as faces were found.
        head = math.sqrt(m["face_area"] * m["width"] * m["height"]) / m["height"] / FACE_TO_HEAD
        width = 2.0 * head * m["height"] / m["width"]
        tall = min(1.0, m["face_cy"] + 7.5 * head) - max(0.0, m["face_cy"] - 0.5 * head)
        share = float(np.clip(1.0 - max(faces, 1) * 0.85 * width * tall, 0.0, 1.0))
        out["negative_space"] = _reading("negative_space", share, 0.6,
                                         f"{max(faces, 1)} figure(s), heads {head:.2f} of the frame height: "
                                         f"{share:.0%} free")

    texture = m["texture_median"]  # most of a frame is background: its typical fine texture survives only in focus
    depth = "shallow" if texture < DEPTH_CUTS[0] else "moderate" if texture < DEPTH_CUTS[1] else "deep"
    out["depth_of_field"] = _reading("depth_of_field", depth, 0.5,
                                     f"median local sharpness {texture:.1f} (sharpest edges {m['texture_peak']:.0f})")

    if m["horizon_span"] >= HORIZON_MIN_SPAN:
        angle = m["horizon_angle"]  # signed: positive rises to the right; the tilt asked and read is its size
        rising = round(angle, 1)
        out["horizon_tilt"] = _reading("horizon_tilt", abs(angle), 0.8,
                                       f"longest flat line at {degrees(angle, signed=True)}"
                                       + (" (rising right)" if rising > 0 else " (falling right)" if rising < 0
                                          else "") + f", {m['horizon_span']:.0%} of the frame width")

    if m["sky_red_blue"] > GOLDEN_SKY and m["sky_saturation"] > GOLDEN_SATURATION:
        golden = "yes"
    else:
        golden = "no"
    out["golden_hour"] = _reading("golden_hour", golden, 0.6,
                                  f"sky band red-blue {m['sky_red_blue']:+.2f}, saturation {m['sky_saturation']:.2f}")
    # Light from the brightness balance of the face: a side light brightens one half, a top light the upper half;
    # a backlit face is darker at the top (the light wraps round the outline, not onto the forehead).
    lr, tb = m["light_left_right"], m["light_top_bottom"]
    side, top, back = LIGHT_SIDE if face else LIGHT_SIDE_NO_FACE
    if abs(lr) >= side:
        direction = "left" if lr > 0 else "right"
    elif tb >= top:
        direction = "top"
    elif face and tb <= back:
        direction = "back"
    else:
        direction = "front"
    out["light_direction"] = _reading("light_direction", direction, trust * 0.6,
                                      f"{where}: left-right balance {lr:+.2f}, top-bottom {tb:+.2f}")
    warm, cool = m["warm_share"], m["cool_share"]
    if m["saturated_share"] < NEUTRAL_SATURATED:
        palette = "neutral"
    elif warm > PALETTE_DOMINANT * (warm + cool):
        palette = "warm"
    elif cool > PALETTE_DOMINANT * (warm + cool):
        palette = "cool"
    else:
        palette = "mixed"
    out["palette"] = _reading("palette", palette, 0.8, f"saturated pixels {m['saturated_share']:.0%}: warm "
                                                        f"{warm:.0%}, cool {cool:.0%}")
    lines, count = m["lower_diagonals"], int(m["lower_diagonal_lines"])
    out["leading_lines"] = _reading("leading_lines", "yes" if lines >= LEADING_LINES else "no", 0.7,
                                    "no diagonal line in the lower half" if not count else
                                    f"{count} diagonal line{'s' if count > 1 else ''} in the lower half, "
                                    f"{lines:.1f} frame widths long in all")
    if face:
        # Crop: a face box reaching the top edge means the head is cut there (the hair above the face is gone), one
        # reaching a side edge that a side edge cuts the subject; a cut at a joint cannot be seen from the face.
        box = _face_box(m, m["width"], m["height"])
        hair_top = box[1] - HAIR_ABOVE_FACE * (box[3] - box[1]) if box else 1.0
        if box and hair_top <= 0.0:
            out["crop"] = _reading("crop", "head", 0.7, f"face box top at y = {box[1]:.2f}: the hair above it is cut")
        elif box and (box[0] <= CROP_EDGE or box[2] >= 1.0 - CROP_EDGE):
            out["crop"] = _reading("crop", "side", 0.7, f"face box from x = {box[0]:.2f} to {box[2]:.2f}")
        elif box:  # the head is whole; an arm cut by a side edge or a joint crop below is not seen: a weak "none"
            out["crop"] = _reading("crop", "none", 0.25, f"head inside the frame (hair top at y = {hair_top:.2f})")
    out["aspect"] = aspect_reading(m["width"], m["height"])
    return out


def aspect_reading(width: float, height: float) -> Reading:
    """The frame's aspect ratio, from the image size: the nearest of the lab's ratios (exact when within 2 %)."""
    from portraitcraft.lab.factors import ASPECTS

    ratio = width / height
    nearest = min(ASPECTS, key=lambda name: abs(math.log(ASPECTS[name][0] / ASPECTS[name][1] / ratio)))
    off = abs(math.log(ASPECTS[nearest][0] / ASPECTS[nearest][1] / ratio))
    return _reading("aspect", nearest, 1.0 if off < 0.02 else 0.5, f"{int(width)}x{int(height)} pixels")


# Thresholds of the rules above, set on the lab's Track 2 train split (see the module docstring).
FRAMING_CUTS: Final[tuple[float, float]] = (0.12, 0.23)  # face height / frame height: full | half | close
DEPTH_CUTS: Final[tuple[float, float]] = (3.5, 4.5)  # median local sharpness: shallow | moderate | deep
HORIZON_MIN_SPAN: Final[float] = 0.3
GOLDEN_SKY: Final[float] = 0.25
GOLDEN_SATURATION: Final[float] = 0.45
# Light balance cut points (left-right, top, back): with a face found, and on the saliency/skin subject otherwise.
LIGHT_SIDE: Final[tuple[float, float, float]] = (0.06, 0.04, -0.06)
LIGHT_SIDE_NO_FACE: Final[tuple[float, float, float]] = (0.04, 0.025, -1.0)
FACE_TO_HEAD: Final[float] = 0.87  # Haar face box height / head height, measured on the lab
CPU_THRESHOLDS: Final[tuple[str, ...]] = (
    "FRAMING_CUTS", "DEPTH_CUTS", "HORIZON_MIN_SPAN", "GOLDEN_SKY", "GOLDEN_SATURATION", "LIGHT_SIDE",
    "LIGHT_SIDE_NO_FACE", "FACE_TO_HEAD", "NEUTRAL_SATURATED", "PALETTE_DOMINANT", "LEADING_LINES",
    "SAME_LINE_DEGREES", "SAME_LINE_OFFSET", "CROP_EDGE", "HAIR_ABOVE_FACE")
NEUTRAL_SATURATED: Final[float] = 0.32
PALETTE_DOMINANT: Final[float] = 0.8
LEADING_LINES: Final[float] = 0.05  # total length of the distinct diagonal lines in the lower half, frame widths
SAME_LINE_DEGREES: Final[float] = 3.0  # Hough segments this close in angle ...
SAME_LINE_OFFSET: Final[float] = 0.015  # ... and this close to each other's line (long side fractions) are one line
CROP_EDGE: Final[float] = 0.01  # a face box this close to an edge (frame fraction) touches it
HAIR_ABOVE_FACE: Final[float] = 0.15  # the hair above a face box, in face-box heights (the lab's drawing)


class CpuExtractor:
    """Measurements and readable rules on the CPU; see the module docstring."""

    name = "cpu"

    def read(self, images: Sequence[Image.Image]) -> list[dict[str, Reading]]:
        return [cpu_readings(measure(image)) for image in images]

    def config(self) -> dict[str, Any]:
        from portraitcraft.features import FEATURE_VERSION

        thresholds = {name: globals()[name] for name in CPU_THRESHOLDS}
        return {"extractor": "cpu", "feature_version": FEATURE_VERSION, "measure_side": MEASURE_SIDE,
                "thresholds": json.loads(json.dumps(thresholds))}


# ---- the VLM extractor --------------------------------------------------------------------------------------------
OPTION_LETTERS: Final[str] = "ABCDEFGH"

TRACK2_PROMPT: Final[str] = """You are an expert judge of portrait composition.

Look at the image and answer each question with the letter of one option. Reply with exactly these lines and \
nothing else:
{answer_lines}

Questions:
{questions}
"""


def track2_slots():
    """One score slot per property: the answer line head and the option letters (`prompts.ScoreSlot`)."""
    from portraitcraft.prompts import ScoreSlot

    return tuple(ScoreSlot(p.key, f"{p.label.capitalize()}:", tuple(OPTION_LETTERS[:len(p.options)]))
                 for p in COUNTED)


def track2_prompt() -> str:
    """The instructions: every property's question with its lettered options, and the answer lines to write."""
    answer_lines = "\n".join(
        f"{p.label.capitalize()}: <{'|'.join(OPTION_LETTERS[: len(p.options)])}>" for p in COUNTED
    )
    questions = "\n".join(
        f"{p.label.capitalize()}: {p.question} "
        + "; ".join(f"{OPTION_LETTERS[i]}. {o}" for i, o in enumerate(p.options))
        for p in COUNTED
    )
    return TRACK2_PROMPT.format(answer_lines=answer_lines, questions=questions)


def track2_prompt_hash() -> str:
    content = {"prompt": track2_prompt(), "slots": [(s.field, s.head, s.candidates) for s in track2_slots()]}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def vlm_readings(probabilities: dict[str, Sequence[float]]) -> dict[str, Reading]:
    """Readings from the option probabilities of every property (renormalised over the options)."""
    out = {}
    for prop in COUNTED:
        weights = [float(p) for p in probabilities[prop.key]]
        total = sum(weights)
        if not total > 0:
            continue  # the options hold no probability at all: the property is not read
        shares = [w / total for w in weights]
        confidence = max(shares)
        if prop.kind == CONTINUOUS:
            value: str | float = continuous_from_bins(prop, shares)
            out[prop.key] = Reading(prop.key, round(value, 4), round(confidence, 3), None,
                                    "; ".join(f"{o} {s:.2f}" for o, s in zip(prop.options, shares)))
        else:
            distribution = dict(zip(prop.values, shares))
            value = max(distribution, key=distribution.get)
            out[prop.key] = Reading(prop.key, value, round(confidence, 3), distribution,
                                    "; ".join(f"{v} {s:.2f}" for v, s in distribution.items()))
    return out


class VlmExtractor:
    """A Qwen3-VL asked one multiple-choice question per property through the score protocol; see module docstring.

    ``model`` is a local model folder or hub id (as for `portraitcraft predict`), or an already loaded
    `QwenBackend` whose weights are reused.
    """

    name = "vlm"

    def __init__(self, model: Any, *, device: str = "auto", dtype: str = "auto", max_pixels: int | None = None):
        from portraitcraft.runners.qwen import QwenBackend, QwenSettings

        backend_class = _track2_backend_class()
        if isinstance(model, QwenBackend):
            settings = QwenSettings(model=model.settings.model, protocol="score", device=str(model.device),
                                    dtype=str(model.dtype).removeprefix("torch."),
                                    max_pixels=model.pixel_budget["longest_edge"])
            self.backend = backend_class(settings, loaded=(model.model, model.processor, model.identity))
        else:
            extra = {"max_pixels": max_pixels} if max_pixels else {}
            self.backend = backend_class(QwenSettings(model=str(model), protocol="score", device=device, dtype=dtype,
                                                      **extra))

    def read(self, images: Sequence[Image.Image]) -> list[dict[str, Reading]]:
        import torch

        from portraitcraft.runners.base import Item

        items = [Item(f"image-{i}") for i in range(len(images))]
        with torch.inference_mode():
            per_image, _ = self.backend.slot_probabilities(items, list(images))
        # The aspect ratio is not asked: the image's size says it.
        return [{**vlm_readings({key: p.tolist() for key, p in probabilities.items()}),
                 "aspect": aspect_reading(*image.size)} for probabilities, image in zip(per_image, images)]

    def config(self) -> dict[str, Any]:
        return {"extractor": "vlm", **self.backend.config()}


def _track2_backend_class():
    """`QwenBackend` with the Track 2 prompt and slots in place of Track 1's (built lazily: torch is heavy)."""
    from portraitcraft.runners.qwen import QwenBackend

    class Track2QwenBackend(QwenBackend):
        def _prompt(self, item):  # every image gets the same questions
            return track2_prompt()

        def _resolve_slots(self, slots=None):
            return super()._resolve_slots(track2_slots() if slots is None else slots)

        def config(self) -> dict[str, Any]:
            config = super().config()
            config.update(protocol="track2-score", prompt_hash=track2_prompt_hash())
            return config

    return Track2QwenBackend


def make_extractor(name: str, *, model: str | None = None, device: str = "auto") -> Extractor:
    """The extractor called ``name`` ("cpu" or "vlm"; "vlm" needs ``model``)."""
    if name == "cpu":
        return CpuExtractor()
    if name == "vlm":
        if not model:
            raise ValueError("the vlm extractor needs a model: a local Qwen3-VL folder or a hub id (--model)")
        return VlmExtractor(model, device=device)
    raise ValueError(f"extractor {name!r}: expected cpu or vlm")
