"""The prompts the model runners send, one home for their text, and a hash that names each version.

Two protocols
-------------
``generate``
    The prompt and output contract of the benchmark's public reference inference
    (``qwen-vl-finetune/evaluation/evaluation_multi.py``): the model writes strict JSON with ``total_score``
    (an integer 1-100), ``criteria`` (the 13 attributes, each Good / Medium / Poor) and ``answer`` (A-D),
    read back by `portraitcraft.parsing.parse_model_output`. The reference fills an ``IMAGE CRITERIA`` block
    from the test record's criteria, which the published test file hides as ``level=x``; `generate_prompt`
    always writes that hidden placeholder, whatever split is run, so a prompt can never carry a label.
``score``
    No free text. The instructions ask for one line per field; the runner starts the assistant's answer with
    a line head (``Color Harmony:``, ``Answer:``, ``Overall quality:``) and reads the next-token
    probabilities of the candidate words (`SCORE_SLOTS`). Attributes read Good / Medium / Poor, the question
    A-D, and the overall score reads five quality words, Q-Align style, whose expected value maps to 1-100
    (`quality_to_score`).

`prompt_hash(protocol)` is a short SHA-256 of everything that defines a protocol's prompts (templates, line
heads, candidates): it goes in every prediction record, so a changed prompt is never mistaken for an old one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from portraitcraft.attributes import ANSWER_LETTERS, ATTRIBUTE_NAMES, ATTRIBUTES, HIDDEN_LEVEL, LEVELS

GENERATE, SCORE = "generate", "score"
PROTOCOLS = (GENERATE, SCORE)

# --- generate: the reference prompt ----------------------------------------------------------------------------

# The reference text, character for character (its leading and trailing newline and the en dash in "1–100"
# included): a model fine-tuned on it must see exactly this.
REFERENCE_PROMPT = """
You are an expert visual aesthetics evaluator.

You MUST analyze the image and output STRICT JSON ONLY.

---

TASKS:
1. Predict overall aesthetic score (1–100) based on visual evidence
2. Predict each criterion level: Good / Medium / Poor
3. Answer the multiple-choice question (A/B/C/D)

---

IMAGE CRITERIA:
{criteria_text}

---

QUESTION:
{question}

---

OPTIONS:
{options_text}

---

OUTPUT FORMAT (STRICT JSON ONLY):

{{
  "total_score": "<integer 1-100 inferred from image>",
  "criteria": {{
{criteria_format}
  }},
  "answer": "<A|B|C|D>"
}}

---

IMPORTANT RULES:

- DO NOT copy any fixed value pattern.
- DO NOT output identical labels for all criteria.
- Each criterion MUST be judged independently from image evidence.
- total_score MUST NOT be a template value; it must reflect real visual quality.
- answer MUST be grounded in visible evidence.
- If unsure, choose Medium instead of guessing Good/Poor blindly.

---

Return ONLY valid JSON. No explanation. No markdown.
"""

# The reference's decoding: sampling at temperature 0.2, top-p 0.9, up to 512 new tokens.
REFERENCE_SAMPLING = {"do_sample": True, "temperature": 0.2, "top_p": 0.9}
REFERENCE_MAX_NEW_TOKENS = 512
# The reference shrinks an image so its longest side is at most 2048 pixels before the processor sees it.
REFERENCE_MAX_SIDE = 2048


def _options_text(options: Mapping[str, str] | None) -> str:
    return "\n".join(f"{letter}. {text}" for letter, text in (options or {}).items())


def generate_prompt(question: str | None, options: Mapping[str, str] | None) -> str:
    """The reference inference prompt for one image (criteria always hidden as ``level=x``).

    An image without a question (training splits have none) gets empty QUESTION and OPTIONS sections.
    """
    criteria_text = "\n".join(f"{name}: level={HIDDEN_LEVEL}" for name in ATTRIBUTE_NAMES)
    criteria_format = ",\n".join(f'    "{name}": "<Good|Medium|Poor>"' for name in ATTRIBUTE_NAMES)
    return REFERENCE_PROMPT.format(criteria_text=criteria_text, question=question or "",
                                   options_text=_options_text(options), criteria_format=criteria_format)


# --- score: token probabilities ----------------------------------------------------------------------------------

QUALITY_WORDS = ("excellent", "good", "fair", "poor", "bad")
# Q-Align's weights: excellent 5 ... bad 1.
QUALITY_WEIGHTS = {"excellent": 5.0, "good": 4.0, "fair": 3.0, "poor": 2.0, "bad": 1.0}

SCORE_PROMPT = """You are an expert judge of portrait photography and composition.

Look at the image and judge it. Reply with exactly these lines and nothing else:
Overall quality: <excellent|good|fair|poor|bad>
{attribute_lines}
Answer: <A|B|C|D>

What each attribute means:
{attribute_meanings}

QUESTION:
{question}

OPTIONS:
{options_text}
"""


@dataclass(frozen=True)
class ScoreSlot:
    """One field read by token probabilities: the line head that starts the answer and the candidate words."""

    field: str  # "total_score", "answer", or an attribute name
    head: str  # the assistant's text before the candidate, e.g. "Sharpness:"
    candidates: tuple[str, ...]  # words as written after the head (the runner decides the leading space)


SCORE_SLOTS: tuple[ScoreSlot, ...] = (
    *(ScoreSlot(name, f"{name}:", LEVELS) for name in ATTRIBUTE_NAMES),
    ScoreSlot("answer", "Answer:", ANSWER_LETTERS),
    ScoreSlot("total_score", "Overall quality:", QUALITY_WORDS),
)


def score_prompt(question: str | None, options: Mapping[str, str] | None) -> str:
    """The score protocol's instructions for one image (an image without a question gets empty sections)."""
    return SCORE_PROMPT.format(
        attribute_lines="\n".join(f"{name}: <Good|Medium|Poor>" for name in ATTRIBUTE_NAMES),
        attribute_meanings="\n".join(f"- {a.name}: {a.meaning}" for a in ATTRIBUTES),
        question=question or "", options_text=_options_text(options))


def score_slots(has_question: bool) -> tuple[ScoreSlot, ...]:
    """The slots read for one image: the answer slot only when the image has a question."""
    return SCORE_SLOTS if has_question else tuple(s for s in SCORE_SLOTS if s.field != "answer")


def quality_to_score(probabilities: Mapping[str, float]) -> float:
    """Expected quality (excellent 5 ... bad 1) mapped linearly onto 1-100: 1 -> 1, 5 -> 100.

    ``probabilities`` over the five words; they are renormalised, so any positive weights do.
    """
    total = sum(probabilities[w] for w in QUALITY_WORDS)
    if not total > 0:
        raise ValueError("quality probabilities sum to zero")
    expected = sum(QUALITY_WEIGHTS[w] * probabilities[w] for w in QUALITY_WORDS) / total
    return 1.0 + (expected - 1.0) * 99.0 / 4.0


# The failure reason of a slot whose candidates hold no probability (none in a server's top-logprobs list).
NO_CANDIDATE_PROBABILITY = "no_candidate_probability"


def read_score_slots(candidate_probabilities: Mapping[str, Sequence[float]],
                     has_question: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """One image's score-protocol reading, as written in its record: ``(parsed, probabilities)``.

    ``candidate_probabilities`` maps each slot's field to its candidates' probabilities under the whole next-token
    distribution, in the slot's candidate order (every backend that reads token probabilities calls this). Each
    distribution is renormalised over its candidates and the share they held is kept as ``mass``; a level or the
    answer is the most probable candidate, the total score the expected quality (`quality_to_score`). The answer
    slot is read only for an image with a question. A slot whose candidates hold no probability at all (none of
    them in a server's top-logprobs list) reads null, with reason `NO_CANDIDATE_PROBABILITY` in ``failures``.
    """
    distributions: dict[str, dict[str, float] | None] = {}
    mass: dict[str, float] = {}
    failures: dict[str, str] = {}
    for slot in score_slots(has_question):
        weights = [float(x) for x in candidate_probabilities[slot.field]]
        total = sum(weights)
        mass[slot.field] = total
        if total > 0:
            distributions[slot.field] = {w: x / total for w, x in zip(slot.candidates, weights)}
        else:
            distributions[slot.field] = None
            failures[slot.field] = NO_CANDIDATE_PROBABILITY
    if not has_question:
        failures["answer"] = "no_question"

    def most_probable(distribution: dict[str, float] | None) -> str | None:
        return max(distribution, key=distribution.get) if distribution else None

    criteria = {name: distributions[name] for name in ATTRIBUTE_NAMES}
    answer, quality = distributions.get("answer"), distributions["total_score"]
    parsed = {"total_score": quality_to_score(quality) if quality else None,
              "criteria": {name: most_probable(d) for name, d in criteria.items()},
              "answer": most_probable(answer), "failures": failures, "notes": ["token_probabilities"]}
    probabilities = {"criteria": criteria, "answer": answer, "total_score": quality, "mass": mass}
    return parsed, probabilities


# --- naming a protocol's prompts ----------------------------------------------------------------------------------

def prompt_hash(protocol: str) -> str:
    """16 hex digits of SHA-256 over everything that defines ``protocol``'s prompts."""
    if protocol == GENERATE:
        content = {"protocol": GENERATE, "template": REFERENCE_PROMPT, "example": generate_prompt("Q?", {"A": "a"})}
    elif protocol == SCORE:
        content = {"protocol": SCORE, "template": SCORE_PROMPT, "example": score_prompt("Q?", {"A": "a"}),
                   "slots": [asdict(s) for s in SCORE_SLOTS], "weights": QUALITY_WEIGHTS}
    else:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode("utf-8")).hexdigest()[:16]
