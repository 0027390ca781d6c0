"""Track 2 composition alignment: an open, interpretable scorer of how well a portrait matches the composition a
description asks for. It is **not** the benchmark's official scorer (an unpublished internal model); its scores
are comparable only with each other.

    text        a description -> target properties, each with a confidence and the words behind it
    extract     an image -> readings of the same properties (CPU rules, or a VLM asked one question per property)
    score       per-property agreement, the weighted overall score per image, coverage; scoring a folder
    bench       the proof on the composition lab (faithful renders of each record's factors) and on the real sample

The properties themselves, their values and weights live in `properties`. Nothing here imports torch unless the
VLM extractor is built.
"""

from __future__ import annotations

from portraitcraft.track2.properties import BY_KEY, PROPERTIES, PROPERTY_KEYS, Property
from portraitcraft.track2.text import ParsedDescription, Target, parse_description

__all__ = ["BY_KEY", "PROPERTIES", "PROPERTY_KEYS", "ParsedDescription", "Property", "Target", "parse_description"]
