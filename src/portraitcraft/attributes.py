"""The benchmark's vocabulary: the 13 composition attributes, the three levels, and the rules that
link scores, levels and submission letters. Every other module imports these; nothing redefines them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np


@dataclass(frozen=True)
class Attribute:
    name: str  # exactly as written in the published JSON files
    key: str  # a column-friendly identifier
    meaning: str  # what a portrait photographer means by it


ATTRIBUTES: Final[tuple[Attribute, ...]] = (
    Attribute("Color Harmony", "color_harmony",
              "Whether the colours work together (a coherent palette, no clashing hues) and support the mood."),
    Attribute("Visual Style Consistency", "visual_style_consistency",
              "Whether lighting, colour grading, setting and styling belong to one coherent look."),
    Attribute("Sharpness", "sharpness",
              "Whether the subject, above all the eyes and face, is crisp, without motion or focus blur."),
    Attribute("Light and Shadow Modeling", "light_and_shadow_modeling",
              "How light direction and hardness shape the face and body: flattering, dimensional, controlled."),
    Attribute("Creativity and Originality", "creativity_and_originality",
              "Whether the picture shows a fresh idea, viewpoint or visual language rather than a stock formula."),
    Attribute("Exposure Control", "exposure_control",
              "Whether brightness suits the scene: no blown highlights or crushed shadows on the subject."),
    Attribute("Application of Classical Composition Principles", "classical_composition",
              "Use of thirds, balance, framing and symmetry to place the subject deliberately."),
    Attribute("Depth of Field and Layering", "depth_of_field_and_layering",
              "Separation of subject from background by focus and by foreground/middle/background layers."),
    Attribute("Visual Center Stability", "visual_center_stability",
              "Whether one clear centre of interest holds the eye instead of competing distractions."),
    Attribute("Visual Flow Guidance", "visual_flow_guidance",
              "Whether lines, gaze and light lead the eye through the frame towards the subject."),
    Attribute("Structural Support Stability", "structural_support_stability",
              "Whether the frame's structure (horizon, verticals, masses) feels grounded rather than tilted or "
              "lopsided."),
    Attribute("Appropriateness of Negative Space", "negative_space",
              "Whether empty space gives the subject room (lead room for the gaze) without crowding or emptiness."),
    Attribute("Subject Integrity", "subject_integrity",
              "Whether the subject is whole and unobstructed: no awkward crops at joints, no cut-off heads or limbs."),
)

ATTRIBUTE_NAMES: Final[tuple[str, ...]] = tuple(a.name for a in ATTRIBUTES)
ATTRIBUTE_KEYS: Final[tuple[str, ...]] = tuple(a.key for a in ATTRIBUTES)
BY_NAME: Final[dict[str, Attribute]] = {a.name: a for a in ATTRIBUTES}
BY_KEY: Final[dict[str, Attribute]] = {a.key: a for a in ATTRIBUTES}

# Ordered from worst to best; the order is the ordinal scale used by kappa and confusion matrices.
LEVELS: Final[tuple[str, ...]] = ("Poor", "Medium", "Good")
# Submission files write levels as letters (the reference conversion: Poor->A, Medium->B, Good->C).
LEVEL_TO_LETTER: Final[dict[str, str]] = {"Poor": "A", "Medium": "B", "Good": "C"}
LETTER_TO_LEVEL: Final[dict[str, str]] = {v: k for k, v in LEVEL_TO_LETTER.items()}
NOT_RESPONDED: Final[str] = "NOT_RES"
ANSWER_LETTERS: Final[tuple[str, ...]] = ("A", "B", "C", "D")

# Level thresholds on the 0-10 attribute scale: score < 5 is Poor, < 7 is Medium, otherwise Good.
POOR_BELOW: Final[float] = 5.0
MEDIUM_BELOW: Final[float] = 7.0

ATTRIBUTE_SCORE_RANGE: Final[tuple[float, float]] = (0.0, 10.0)
TOTAL_SCORE_RANGE: Final[tuple[int, int]] = (1, 100)

# The published test file hides labels with these placeholders.
HIDDEN_LEVEL: Final[str] = "x"
HIDDEN_ANSWER: Final[str] = "x"
HIDDEN_TOTAL: Final[int] = 0
# A predicted level that is missing, NOT_RES or not a level at all, among the level codes 0 Poor .. 2 Good.
INVALID_LEVEL: Final[int] = -1


def labels_hidden(record: object) -> bool:
    """Whether a Track 1 record carries the published test file's placeholders instead of labels.

    The one rule, used by the reader and the scorer alike: hidden means *every* attribute entry has level "x"
    (at least one entry) *and* total_score is the integer 0 (a boolean is not). The answer is not consulted: a
    test record may have no question. A record with only some placeholders (one level "x", or a total of 0
    beside real levels) is not hidden: it is a defective record, and its bad values are reported as defects.
    """
    if not isinstance(record, dict):
        return False
    criteria = record.get("criteria")
    if not isinstance(criteria, dict):
        return False
    levels = [entry.get("level") for entry in criteria.values() if isinstance(entry, dict)]
    total = record.get("total_score")
    return (bool(levels) and all(level == HIDDEN_LEVEL for level in levels)
            and total == HIDDEN_TOTAL and not isinstance(total, bool))


def level_from_score(score: float) -> str:
    """The benchmark's level rule for a 0-10 attribute score."""
    if score is None or (isinstance(score, float) and math.isnan(score)):
        raise ValueError("cannot derive a level from a missing score")
    if score < POOR_BELOW:
        return "Poor"
    if score < MEDIUM_BELOW:
        return "Medium"
    return "Good"


def level_codes_from_scores(scores: np.ndarray) -> np.ndarray:
    """`level_from_score` over an array at once: codes into LEVELS (0 Poor, 1 Medium, 2 Good), -1 where missing."""
    scores = np.asarray(scores, dtype=float)
    codes = np.searchsorted(np.array([POOR_BELOW, MEDIUM_BELOW]), scores, side="right").astype(np.int8)
    codes[np.isnan(scores)] = -1
    return codes


def normalise_level(value: object) -> str | None:
    """A level written as a word (any case) or a submission letter, as one of LEVELS; None otherwise.

    Letters are accepted only here, for files whose format says levels are letters: in the reference
    script's raw output a bare "C" is a defect, so callers reading raw output use `level_word` instead.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.upper() in LETTER_TO_LEVEL:
        return LETTER_TO_LEVEL[text.upper()]
    return level_word(text)


def level_word(value: object) -> str | None:
    """A level written as a word (Good / Medium / Poor, any case, surrounding spaces ignored)."""
    if not isinstance(value, str):
        return None
    text = value.strip().capitalize()
    return text if text in LEVELS else None
