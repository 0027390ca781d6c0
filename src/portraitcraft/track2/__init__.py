"""Track 2: generating portraits from composition descriptions, and an open, interpretable scorer of how well a
portrait matches the composition a description asks for. The scorer is **not** the benchmark's official one (an
unpublished internal model); its scores are comparable only with each other.

Alignment
    * ``text``: a description -> target properties, each with a confidence and the words behind it
    * ``extract``: an image -> readings of the same properties (CPU rules, or a VLM asked one question per
      property)
    * ``score``: per-property agreement, the weighted overall score per image, coverage; scoring a folder
    * ``bench``: the proof on the composition lab (faithful renders of each record's factors, and the lab
      generator against shuffled descriptions) and on the real sample

Generation
    * ``generate``: `track2 generate`: a diffusers pipeline (Qwen-Image by default) or the lab generator, one
      image and one record per description, resumable
    * ``finetune``: `track2 finetune`: LoRA on the pipeline's transformer, flow-matching loss, exact resumption
    * ``lab_generator``: description -> targets -> lab factors -> the lab renderer: the interpretable baseline
    * ``tiny_pipeline``: a tiny random QwenImagePipeline built offline, for tests and CPU demos
    * ``compare``: the paper's Figure 3 as data: originals and generated images scored property by property

The properties themselves, their values and weights live in `properties`. Nothing here imports torch unless the
VLM extractor, a diffusers pipeline or the fine-tuning is used.
"""

from __future__ import annotations

from portraitcraft.track2.properties import BY_KEY, PROPERTIES, PROPERTY_KEYS, Property
from portraitcraft.track2.text import ParsedDescription, Target, parse_description

__all__ = ["BY_KEY", "PROPERTIES", "PROPERTY_KEYS", "ParsedDescription", "Property", "Target", "parse_description"]
