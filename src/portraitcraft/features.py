"""Interpretable composition features measured from the pixels, with OpenCV only (no download, no GPU).

Every feature is one number with a plain meaning; `FEATURE_DOCS` says what each one measures. They fall into
groups a photographer would recognise:

subject
    where the subject is and how big: OpenCV's bundled Haar frontal-face cascade, the HOG people
    detector, a skin-tone mask, and spectral-residual saliency (Hou and Zhang, 2007). The *subject* is the
    largest face when one is found, else the saliency mass; its centroid is measured against the
    rule-of-thirds lines and the frame centre, and checked for touching the frame edges.
structure
    horizon tilt and line layout from probabilistic Hough lines on Canny edges.
sharpness
    variance of the Laplacian over the frame, inside the subject box and outside it.
exposure
    mean and spread of luminance, clipped highlight and shadow fractions.
colour
    Hasler-Suesstrunk colourfulness, saturation, hue spread (circular) and hue entropy.
clutter/space
    edge density (all, background), negative space (calm, non-salient cells), aspect ratio.

Features are a pure function of the decoded image, so extraction is deterministic and safe to run in
parallel. `extract_features` caches rows in a parquet file keyed by the image file, its size and mtime, the
decoding ``max_side`` and `FEATURE_VERSION` (bump it whenever a feature's code changes).
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

import numpy as np
import pandas as pd
from PIL import Image

from portraitcraft.exceptions import PortraitCraftError
from portraitcraft.images import ImageError, open_image
from portraitcraft.opencv import import_cv2

cv2 = import_cv2()  # one OpenCV distribution, with the detectors below (else one line naming the repair)

T = TypeVar("T")

FEATURE_VERSION: Final[str] = "2"
DEFAULT_MAX_SIDE: Final[int] = 512
# Detectors run on a smaller copy: a face or person big enough to matter for composition is still found,
# and the cascades cost a tenth of the time.
DETECTOR_SIDE: Final[int] = 320
SALIENCY_SIDE: Final[int] = 128
THIRDS: Final[tuple[float, float]] = (1 / 3, 2 / 3)
EDGE_TOUCH: Final[float] = 0.01  # a box within 1 % of the frame side touches that edge
CLIP_HIGH: Final[int] = 250
CLIP_LOW: Final[int] = 5
SPACE_GRID: Final[int] = 12
# A skin-coloured region larger than this share of the frame is a skin-toned backdrop (sand, warm sky), not a person.
SKIN_SUBJECT_MAX: Final[float] = 0.25  # negative space is judged on a 12 x 12 grid of cells

FEATURE_DOCS: Final[dict[str, str]] = {
    "aspect_ratio": "width / height",
    "log_aspect": "log(width / height): 0 square, > 0 landscape",
    "face_count": "frontal faces found by the Haar cascade",
    "face_area": "largest face box area / frame area (0 when none)",
    "face_cx": "largest face centre x / width (0.5 when none)",
    "face_cy": "largest face centre y / height (0.5 when none)",
    "person_count": "people found by the HOG detector",
    "person_area": "largest person box area / frame area (0 when none)",
    "skin_fraction": "share of pixels in the YCrCb skin-tone range",
    "skin_cx": "skin-pixel centroid x / width (0.5 when no skin)",
    "skin_cy": "skin-pixel centroid y / height (0.5 when no skin)",
    "skin_top_touch": "share of the top row's pixels that are skin (a head cut by the top edge)",
    "skin_side_touch": "share of the left and right columns' pixels that are skin",
    "skin_blobs": "skin regions larger than 0.2 % of the frame (people, hands)",
    "saliency_cx": "saliency-weighted centroid x / width",
    "saliency_cy": "saliency-weighted centroid y / height",
    "saliency_spread": "saliency-weighted spread around its centroid (frame-diagonal units)",
    "saliency_peak_ratio": "mean saliency inside the salient mask / mean outside",
    "subject_source": "where the subject came from: 2 face, 1 skin, 0 saliency",
    "subject_cx": "subject centroid x / width",
    "subject_cy": "subject centroid y / height",
    "subject_area": "subject box area / frame area",
    "subject_thirds_dx": "horizontal distance of the subject from the nearest vertical thirds line (width units)",
    "subject_thirds_dy": "vertical distance of the subject from the nearest horizontal thirds line (height units)",
    "subject_centre_dx": "|subject x - 0.5|",
    "subject_touches_top": "1 when the subject box touches the top edge",
    "subject_touches_side": "1 when the subject box touches the left or right edge",
    "subject_touches_bottom": "1 when the subject box touches the bottom edge",
    "salient_edge_fraction": "share of the salient mask's pixels that lie on the frame border",
    "horizon_tilt": "length-weighted median angle of near-horizontal Hough lines, degrees (0 when none)",
    "horizon_tilt_abs": "|horizon_tilt|",
    "horizontal_line_share": "near-horizontal Hough line length / all line length",
    "diagonal_line_share": "diagonal (20-70 degree) Hough line length / all line length (leading lines)",
    "line_count": "Hough line segments found",
    "sharpness": "log(1 + variance of the Laplacian) over the frame",
    "sharpness_subject": "log(1 + variance of the Laplacian) inside the subject box",
    "sharpness_background": "log(1 + variance of the Laplacian) outside the subject box",
    "sharpness_ratio": "sharpness_subject - sharpness_background (log ratio: > 0 subject crisper)",
    "brightness_mean": "mean luminance, 0-1",
    "brightness_std": "luminance standard deviation, 0-1",
    "brightness_p05": "5th luminance percentile, 0-1",
    "brightness_p95": "95th luminance percentile, 0-1",
    "clipped_highlights": f"share of pixels with luminance >= {CLIP_HIGH}",
    "clipped_shadows": f"share of pixels with luminance <= {CLIP_LOW}",
    "subject_brightness": "mean luminance inside the subject box, 0-1",
    "subject_lr_contrast": "|left half - right half| mean luminance inside the subject box (side light), 0-1",
    "colourfulness": "Hasler-Suesstrunk colourfulness (0 grey, > 100 very colourful)",
    "saturation_mean": "mean HSV saturation, 0-1",
    "hue_spread": "circular spread of hue over saturated pixels, 0 one hue .. 1 all hues",
    "hue_entropy": "entropy of the 18-bin hue histogram of saturated pixels, bits",
    "edge_density": "share of Canny edge pixels over the frame",
    "edge_density_background": "share of Canny edge pixels outside the subject box (clutter)",
    "negative_space": "share of grid cells that are calm (few edges) and not salient",
}
FEATURE_NAMES: Final[tuple[str, ...]] = tuple(FEATURE_DOCS)


class FeatureError(PortraitCraftError):
    """An image whose features cannot be computed; the message names the file."""


# ---- detectors (loaded once per process) -------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _face_cascade() -> cv2.CascadeClassifier:
    path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise FeatureError(f"{path}: OpenCV's Haar face cascade could not be loaded")
    return cascade


@functools.lru_cache(maxsize=1)
def _people_detector() -> cv2.HOGDescriptor:
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    return hog


Box = tuple[float, float, float, float]  # x0, y0, x1, y1 as frame fractions


def detect_faces(gray: np.ndarray) -> list[Box]:
    """Frontal faces (Haar cascade) as fractional boxes, largest first."""
    small, scale = _shrink(gray, DETECTOR_SIDE)
    side = max(small.shape)
    found = _face_cascade().detectMultiScale(small, scaleFactor=1.15, minNeighbors=5,
                                             minSize=(max(12, side // 20),) * 2)
    return _fractional_boxes(found, small.shape)


def detect_people(gray: np.ndarray) -> list[Box]:
    """Upright people (HOG + linear SVM) as fractional boxes, largest first."""
    small, _ = _shrink(gray, DETECTOR_SIDE)
    if min(small.shape) < 128:  # the detector window is 64 x 128
        return []
    # A 16-pixel stride costs a fiftieth of the 8-pixel one and still finds a person of composition size.
    found, _weights = _people_detector().detectMultiScale(small, winStride=(16, 16), padding=(8, 8), scale=1.2)
    return _fractional_boxes(found, small.shape)


def _shrink(gray: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    scale = side / max(gray.shape)
    if scale >= 1:
        return gray, 1.0
    return cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), scale


def _fractional_boxes(found: object, shape: tuple[int, int]) -> list[Box]:
    h, w = shape
    boxes = [(x / w, y / h, (x + bw) / w, (y + bh) / h) for x, y, bw, bh in np.asarray(found).reshape(-1, 4).tolist()]
    return sorted(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)


def spectral_residual(image: np.ndarray) -> np.ndarray:
    """Spectral-residual saliency (Hou and Zhang, 2007) at the image's size, 0-1: the log amplitude spectrum of a
    64 x 64 grey copy minus its local mean, back with the original phase, squared and smoothed.

    The steps and sizes are those of OpenCV contrib's ``StaticSaliencySpectralResidual`` (which reads three
    channels as BGR, as here), so the maps agree with it to about 0.01 without needing the contrib build, except
    where a frequency is empty: contrib takes log 0 there and its map turns to noise.
    """
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    small = cv2.resize(gray, (64, 64), interpolation=cv2.INTER_LINEAR_EXACT).astype(np.float64)
    spectrum = np.fft.fft2(small)
    # Amplitudes under one grey level count as one: an empty frequency (a flat image has nothing but the mean, and
    # a real photo can have one at exactly zero) would otherwise give log 0 and swamp the map around it.
    log_amplitude = np.log(np.maximum(np.abs(spectrum), 1.0))
    residual = log_amplitude - cv2.blur(log_amplitude, (3, 3))
    back = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum))))
    sal = cv2.GaussianBlur(back, (5, 5), 8) ** 2
    top = float(sal.max())
    sal = (sal / top if top > 0 else sal).astype(np.float32)
    return cv2.resize(sal, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR_EXACT)


def saliency_map(rgb: np.ndarray) -> np.ndarray:
    """Spectral-residual saliency, smoothed, scaled to 0-1, at the image's size."""
    small, _ = _shrink(rgb, SALIENCY_SIDE)
    sal = cv2.GaussianBlur(spectral_residual(small), (0, 0), 2.0)
    sal = cv2.resize(sal, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    top = float(sal.max())
    return sal / top if top > 0 else sal


def skin_mask(rgb: np.ndarray) -> np.ndarray:
    """Pixels in the classic YCrCb skin range (Cr 135-180, Cb 85-135), opened to drop speckle."""
    ycrcb = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    mask = cv2.inRange(ycrcb, (40, 135, 85), (250, 180, 135))
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0


# ---- the features ------------------------------------------------------------------------------------------------

def _thirds_distance(v: float) -> float:
    return min(abs(v - t) for t in THIRDS)


def _laplacian_log_var(gray: np.ndarray, mask: np.ndarray | None = None) -> float:
    lap = cv2.Laplacian(gray, cv2.CV_32F, ksize=3)
    values = lap if mask is None else lap[mask]
    return float(np.log1p(values.var())) if values.size > 16 else math.nan


def hough_lines(gray: np.ndarray) -> np.ndarray:
    """(n, 4) array of Hough line segments: angle in degrees (-90..90, positive rises to the right), length in
    pixels, midpoint x and y as frame fractions. Edges come from a contrast-stretched copy with Otsu-scaled
    Canny thresholds, so a dark or flat image still shows its horizon."""
    h, w = gray.shape
    lo, hi = np.percentile(gray, [1, 99])
    stretched = np.clip((gray.astype(np.float32) - lo) * 255.0 / max(hi - lo, 1.0), 0, 255).astype(np.uint8)
    smooth = cv2.GaussianBlur(stretched, (5, 5), 0)
    otsu, _ = cv2.threshold(smooth, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    edges = cv2.Canny(smooth, 0.25 * otsu, 0.5 * otsu)
    lines = cv2.HoughLinesP(edges, 1, np.pi / 360, threshold=40, minLineLength=max(w, h) // 6,
                            maxLineGap=max(w, h) // 20)
    if lines is None:
        return np.zeros((0, 4))
    x0, y0, x1, y1 = lines.reshape(-1, 4).astype(float).T
    # Image y grows downwards, so a line that rises to the right has y1 < y0 when x1 > x0.
    angle = np.degrees(np.arctan2(-(y1 - y0), x1 - x0))
    angle = (angle + 90.0) % 180.0 - 90.0
    return np.column_stack([angle, np.hypot(x1 - x0, y1 - y0), (x0 + x1) / (2 * w), (y0 + y1) / (2 * h)])


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, cum[-1] / 2)])


def _box_mask(shape: tuple[int, int], box: Box) -> np.ndarray:
    h, w = shape
    x0, y0, x1, y1 = box
    mask = np.zeros((h, w), bool)
    mask[max(0, int(y0 * h)):max(1, int(math.ceil(y1 * h))), max(0, int(x0 * w)):max(1, int(math.ceil(x1 * w)))] = True
    return mask


def _mask_box(mask: np.ndarray) -> Box | None:
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return None
    h, w = mask.shape
    return xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h


def compute_features(image: Image.Image | np.ndarray) -> dict[str, float]:
    """All `FEATURE_NAMES` for one RGB image (PIL or an H x W x 3 uint8 array). Pure and deterministic."""
    rgb = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 16:
        raise FeatureError(f"expected an RGB image of at least 16 x 16 pixels, got shape {rgb.shape}")
    h, w = rgb.shape[:2]
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    f: dict[str, float] = {"aspect_ratio": w / h, "log_aspect": math.log(w / h)}

    # Subject evidence: faces, people, skin, saliency.
    faces = detect_faces(gray)
    people = detect_people(gray)
    f["face_count"] = float(len(faces))
    f["person_count"] = float(len(people))
    face = faces[0] if faces else None
    f["face_area"] = (face[2] - face[0]) * (face[3] - face[1]) if face else 0.0
    f["face_cx"] = (face[0] + face[2]) / 2 if face else 0.5
    f["face_cy"] = (face[1] + face[3]) / 2 if face else 0.5
    f["person_area"] = (people[0][2] - people[0][0]) * (people[0][3] - people[0][1]) if people else 0.0

    skin = skin_mask(rgb)
    f["skin_fraction"] = float(skin.mean())
    ys, xs = np.nonzero(skin)
    f["skin_cx"] = float(xs.mean() / w) if xs.size else 0.5
    f["skin_cy"] = float(ys.mean() / h) if ys.size else 0.5
    f["skin_top_touch"] = float(skin[0].mean())
    f["skin_side_touch"] = float((skin[:, 0].mean() + skin[:, -1].mean()) / 2)
    n_labels, _labels, stats, _centroids = cv2.connectedComponentsWithStats(skin.astype(np.uint8), connectivity=8)
    blob_areas = stats[1:, cv2.CC_STAT_AREA] if n_labels > 1 else np.zeros(0)
    f["skin_blobs"] = float((blob_areas > 0.002 * h * w).sum())

    sal = saliency_map(rgb)
    grid_y, grid_x = np.mgrid[0:h, 0:w]
    weight = sal**2  # squaring favours the peaks over the diffuse background response
    wsum = float(weight.sum()) or 1.0
    scx = float((weight * grid_x).sum() / wsum / w)
    scy = float((weight * grid_y).sum() / wsum / h)
    f["saliency_cx"], f["saliency_cy"] = scx, scy
    spread = np.sqrt((weight * ((grid_x / w - scx) ** 2 + (grid_y / h - scy) ** 2)).sum() / wsum)
    f["saliency_spread"] = float(spread / math.sqrt(2))
    sal8 = (sal * 255).astype(np.uint8)
    _t, salient = cv2.threshold(sal8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    salient = salient > 0
    inside = float(sal[salient].mean()) if salient.any() else 0.0
    outside = float(sal[~salient].mean()) if (~salient).any() else 0.0
    f["saliency_peak_ratio"] = inside / outside if outside > 1e-6 else 0.0
    border = np.zeros_like(salient)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
    f["salient_edge_fraction"] = float(salient[border].sum() / max(salient.sum(), 1))

    # The subject: a face when one is found, else the largest skin region of person size, else the saliency mass.
    if face is not None:
        fw, fh = face[2] - face[0], face[3] - face[1]
        # Head and shoulders: a face box grown the way a portrait crop would grow it.
        subject_box: Box = (face[0] - fw, face[1] - 0.3 * fh, face[2] + fw, face[3] + 1.5 * fh)
        source, cx, cy = 2.0, (face[0] + face[2]) / 2, (face[1] + face[3]) / 2
    elif blob_areas.size and 0.002 * h * w < blob_areas.max() < SKIN_SUBJECT_MAX * h * w:
        biggest = 1 + int(np.argmax(blob_areas))
        x, y, bw, bh = (
            stats[biggest, k] for k in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP, cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT)
        )
        skin_box = (x / w, y / h, (x + bw) / w, (y + bh) / h)
        sw, sh = skin_box[2] - skin_box[0], skin_box[3] - skin_box[1]
        subject_box = (skin_box[0] - 0.5 * sw, skin_box[1] - 0.2 * sh, skin_box[2] + 0.5 * sw, skin_box[3] + 1.0 * sh)
        source, cx, cy = 1.0, (skin_box[0] + skin_box[2]) / 2, (skin_box[1] + skin_box[3]) / 2
    else:
        box = _mask_box(salient) or (0.25, 0.25, 0.75, 0.75)
        subject_box, source, cx, cy = box, 0.0, scx, scy
    subject_box = (
        max(0.0, subject_box[0]),
        max(0.0, subject_box[1]),
        min(1.0, subject_box[2]),
        min(1.0, subject_box[3]),
    )
    f["subject_source"] = source
    f["subject_cx"], f["subject_cy"] = float(cx), float(cy)
    f["subject_area"] = float((subject_box[2] - subject_box[0]) * (subject_box[3] - subject_box[1]))
    f["subject_thirds_dx"] = _thirds_distance(cx)
    f["subject_thirds_dy"] = _thirds_distance(cy)
    f["subject_centre_dx"] = abs(cx - 0.5)
    f["subject_touches_top"] = float(subject_box[1] <= EDGE_TOUCH)
    f["subject_touches_side"] = float(subject_box[0] <= EDGE_TOUCH or subject_box[2] >= 1 - EDGE_TOUCH)
    f["subject_touches_bottom"] = float(subject_box[3] >= 1 - EDGE_TOUCH)
    in_subject = _box_mask((h, w), subject_box)

    # Structure: lines and the horizon (the longest near-horizontal lines, outside the subject when any are).
    edges = cv2.Canny(cv2.GaussianBlur(gray, (3, 3), 0), 60, 150)
    lines = hough_lines(gray)
    angle, length = lines[:, 0], lines[:, 1]
    all_length = float(length.sum()) or 1.0
    flat = np.abs(angle) < 20
    x0, y0, x1, y1 = subject_box
    in_box = (lines[:, 2] >= x0) & (lines[:, 2] <= x1) & (lines[:, 3] >= y0) & (lines[:, 3] <= y1)
    horizon = flat & ~in_box if (flat & ~in_box).any() else flat
    if horizon.any():
        longest = horizon & (length >= 0.6 * length[horizon].max())
        f["horizon_tilt"] = _weighted_median(angle[longest], length[longest])
    else:
        f["horizon_tilt"] = 0.0
    f["horizon_tilt_abs"] = abs(f["horizon_tilt"])
    f["horizontal_line_share"] = float(length[flat].sum() / all_length)
    diagonal = (np.abs(angle) >= 20) & (np.abs(angle) <= 70)
    f["diagonal_line_share"] = float(length[diagonal].sum() / all_length)
    f["line_count"] = float(len(lines))

    # Sharpness.
    f["sharpness"] = _laplacian_log_var(gray)
    f["sharpness_subject"] = _laplacian_log_var(gray, in_subject)
    background = ~in_subject
    f["sharpness_background"] = _laplacian_log_var(gray, background) if background.sum() > 16 else f["sharpness"]
    if math.isnan(f["sharpness_subject"]):
        f["sharpness_subject"] = f["sharpness"]
    f["sharpness_ratio"] = f["sharpness_subject"] - f["sharpness_background"]

    # Exposure.
    luma = gray.astype(np.float32) / 255.0
    f["brightness_mean"] = float(luma.mean())
    f["brightness_std"] = float(luma.std())
    p05, p95 = np.percentile(luma, [5, 95])
    f["brightness_p05"], f["brightness_p95"] = float(p05), float(p95)
    f["clipped_highlights"] = float((gray >= CLIP_HIGH).mean())
    f["clipped_shadows"] = float((gray <= CLIP_LOW).mean())
    sub = luma[in_subject].reshape(-1) if in_subject.any() else luma.reshape(-1)
    f["subject_brightness"] = float(sub.mean())
    x0, x1 = int(subject_box[0] * w), max(int(subject_box[0] * w) + 2, int(subject_box[2] * w))
    y0, y1 = int(subject_box[1] * h), max(int(subject_box[1] * h) + 1, int(subject_box[3] * h))
    patch = luma[y0:y1, x0:x1]
    mid = patch.shape[1] // 2
    f["subject_lr_contrast"] = float(abs(patch[:, :mid].mean() - patch[:, mid:].mean())) if mid else 0.0

    # Colour.
    r, g, b = (rgb[..., k].astype(np.float32) for k in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    f["colourfulness"] = float(math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean()))
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    saturation = hsv[..., 1].astype(np.float32) / 255.0
    f["saturation_mean"] = float(saturation.mean())
    saturated = saturation > 0.2
    if saturated.sum() > 16:
        hue = hsv[..., 0][saturated].astype(np.float32) * (2 * math.pi / 180.0)  # OpenCV hue is 0-179
        resultant = math.hypot(float(np.cos(hue).mean()), float(np.sin(hue).mean()))
        f["hue_spread"] = 1.0 - resultant
        counts = np.bincount((hsv[..., 0][saturated] // 10).astype(int), minlength=18).astype(float)
        p = counts[counts > 0] / counts.sum()
        f["hue_entropy"] = float(-(p * np.log2(p)).sum())
    else:
        f["hue_spread"], f["hue_entropy"] = 0.0, 0.0

    # Clutter and space.
    edge = edges > 0
    f["edge_density"] = float(edge.mean())
    f["edge_density_background"] = float(edge[background].mean()) if background.any() else f["edge_density"]
    cells_calm = []
    for rows in np.array_split(np.arange(h), SPACE_GRID):
        for cols in np.array_split(np.arange(w), SPACE_GRID):
            cell = np.ix_(rows, cols)
            cells_calm.append(edge[cell].mean() < 0.02 and not salient[cell].mean() > 0.5)
    f["negative_space"] = float(np.mean(cells_calm))
    return {name: float(f[name]) for name in FEATURE_NAMES}


# ---- extraction over a dataset, cached and parallel -----------------------------------------------------------------

def cache_key(image_file: Path, max_side: int | None) -> str:
    """Identifies one image's features: file path, size, mtime, decoding size and feature-code version."""
    stat = Path(image_file).stat()
    text = f"{Path(image_file).resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{max_side}|{FEATURE_VERSION}"
    return hashlib.sha1(text.encode()).hexdigest()


def features_of_file(
    image_file: str | os.PathLike, max_side: int | None = DEFAULT_MAX_SIDE
) -> tuple[dict[str, float], float]:
    """(features, seconds) for one image file, opened through the data layer's safe loader.

    Raises `FeatureError` naming the file when it cannot be decoded or measured.
    """
    started = time.perf_counter()
    cv2.setNumThreads(1)  # parallelism comes from the process pool; nested threads only fight for cores
    try:
        values = compute_features(open_image(Path(image_file), max_side=max_side))
    except ImageError as exc:
        raise FeatureError(str(exc)) from exc
    except FeatureError as exc:
        raise FeatureError(f"{image_file}: {exc}") from exc
    return values, time.perf_counter() - started


def _features_or_error(image_file: str, max_side: int | None) -> tuple[dict[str, float] | None, float, str | None]:
    try:
        values, seconds = features_of_file(image_file, max_side)
        return values, seconds, None
    except FeatureError as exc:
        return None, 0.0, str(exc)


def _in_processes(function: Callable[..., T], arguments: Sequence[tuple], n_jobs: int) -> Iterator[T]:
    """``function(*a)`` for each of ``arguments``, in order, in ``n_jobs`` worker processes when that is more than
    one (joblib's, reused from call to call): OpenCV's detectors are not thread-safe, processes are."""
    if n_jobs > 1 and len(arguments) > 1:
        from joblib import Parallel, delayed

        # A generator of results in order, so that a caller's bar moves as images finish.
        return Parallel(n_jobs=n_jobs, batch_size=4, return_as="generator")(
            delayed(function)(*a) for a in arguments)
    return (function(*a) for a in arguments)


def _image_features_or_error(image: Image.Image | np.ndarray, worker: bool) -> dict[str, float] | FeatureError:
    if worker:
        cv2.setNumThreads(1)  # parallelism comes from the process pool; nested threads only fight for cores
    try:
        return compute_features(image)
    except FeatureError as exc:
        return exc


def compute_features_of_images(images: Sequence[Image.Image | np.ndarray], *,
                               n_jobs: int = 1) -> list[dict[str, float] | FeatureError]:
    """`compute_features` of each of ``images`` (decoded already, e.g. by the run loop), in order: its features,
    or the `FeatureError` that says why there are none. ``n_jobs > 1`` measures them in that many processes; the
    result does not depend on it."""
    parallel = n_jobs > 1 and len(images) > 1
    return list(_in_processes(_image_features_or_error, [(image, parallel) for image in images], n_jobs))


@dataclass
class FeatureTable:
    """Features of a list of images (rows in the order asked), and how they were obtained."""

    frame: pd.DataFrame  # index image_path, columns FEATURE_NAMES; images that failed are left out
    failures: dict[str, str]  # image_path -> why its features could not be computed (missing, unreadable file)
    computed: int  # images computed in this call
    cached: int  # images read from the cache
    seconds_per_image: float  # mean extraction time of the computed images (NaN when all were cached)
    wall_seconds: float


def _cache_file(cache_dir: Path, max_side: int | None) -> Path:
    return cache_dir / f"features_v{FEATURE_VERSION}_side{max_side}.parquet"


def _read_cache(path: Path) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame(columns=["key", *FEATURE_NAMES]).set_index("key")
    table = pd.read_parquet(path)
    if list(table.columns) != list(FEATURE_NAMES):
        return pd.DataFrame(columns=["key", *FEATURE_NAMES]).set_index("key")  # written by other feature code
    return table


def extract_features(
    image_paths: Sequence[str],
    image_files: Sequence[str | os.PathLike | None],
    *,
    max_side: int | None = DEFAULT_MAX_SIDE,
    cache_dir: str | os.PathLike | None = None,
    n_jobs: int = 1,
    progress: bool = False,
) -> FeatureTable:
    """Features of every image, in the given order, reading and extending the cache in ``cache_dir``.

    ``image_files`` are the files the data layer found (`Dataset.images()["image_file"]`); an image whose file
    is missing or unreadable is left out of the frame and named in ``failures`` with the reason. ``n_jobs > 1`` computes
    in that many processes; the result does not
    depend on it (every feature is a pure function of the decoded pixels). ``progress`` shows a bar over the
    images not in the cache.
    """
    started = time.perf_counter()
    if len(image_paths) != len(image_files):
        raise ValueError("image_paths and image_files must have the same length")
    failures: dict[str, str] = {}
    usable: list[tuple[str, Path]] = []
    for name, file in zip(image_paths, image_files):
        if file is None or not Path(file).is_file():
            failures[name] = f"{name}: image file not found" + (f" ({file})" if file is not None else "")
        else:
            usable.append((name, Path(file)))
    keys = {name: cache_key(file, max_side) for name, file in usable}
    cache_path = _cache_file(Path(cache_dir), max_side) if cache_dir is not None else None
    cached = _read_cache(cache_path) if cache_path else pd.DataFrame(columns=list(FEATURE_NAMES))
    todo: dict[str, str] = {}  # cache key -> file, each distinct file once
    for name, file in usable:
        if keys[name] not in cached.index:
            todo.setdefault(keys[name], str(file))
    from portraitcraft.progress import progress_bar

    bar = progress_bar(len(todo), unit="img", desc="features", enabled=progress and bool(todo))
    running = _in_processes(_features_or_error, [(p, max_side) for p in todo.values()], n_jobs)
    results = []
    with bar:
        for result in running:
            results.append(result)
            bar.update(1)
    errors = {key: error for key, (_, _, error) in zip(todo, results) if error is not None}
    good = [(key, values) for key, (values, _, error) in zip(todo, results) if error is None]
    if good:
        fresh = pd.DataFrame(
            [values for _, values in good], index=[key for key, _ in good], columns=list(FEATURE_NAMES)
        )
        cached = pd.concat([cached, fresh]) if len(cached) else fresh
        if cache_path is not None:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            partial = cache_path.with_suffix(f".{os.getpid()}.tmp")
            cached.rename_axis("key").to_parquet(partial)
            os.replace(partial, cache_path)  # atomic: a reader never sees half a cache
    rows = []
    for name, _file in usable:
        if keys[name] in errors:
            failures[name] = errors[keys[name]]
        else:
            rows.append(name)
    frame = cached.loc[[keys[name] for name in rows], list(FEATURE_NAMES)].astype(float)
    frame.index = pd.Index(rows, name="image_path")
    seconds = [s for _, s, error in results if error is None]
    return FeatureTable(frame, failures, computed=len(good), cached=len(rows) - len(good),
                        seconds_per_image=float(np.mean(seconds)) if seconds else math.nan,
                        wall_seconds=time.perf_counter() - started)
