"""A tiny, randomly initialised Qwen3-VL built offline: the real architecture, processor and chat format
at toy size (about 1 MB on disk, a few seconds to build).

It answers with noise, but every step of the real code path runs on it: ``save_pretrained``, loading through
``AutoModelForImageTextToText`` / ``AutoProcessor``, the chat template with an image, batched ``generate`` and
token-probability scoring. Tests, the book's CPU demo and the docs use it in place of the 4B model.

For example::

    from portraitcraft.runners.tiny import build_tiny_qwen3_vl

    folder = build_tiny_qwen3_vl("models/tiny-qwen3-vl")
    # then: portraitcraft predict --model models/tiny-qwen3-vl ...

Recipe: a byte-level BPE trained here on a small corpus with Qwen's pre-tokenizer and special tokens, wrapped as
``Qwen2Tokenizer``; ``Qwen2VLImageProcessorPil`` with Qwen3-VL's 16-pixel patches merged 2x2; a chat template that
writes Qwen's ``<|im_start|>role ... <|im_end|>`` turns and ``<|vision_start|><|image_pad|><|vision_end|>`` for an
image; a ``Qwen3VLConfig`` with two text layers of width 64 and a two-block vision tower. The corpus repeats the
words the prompts and the score protocol read (levels, quality words, answer letters) so that each is a single
token, as in the real vocabulary.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from portraitcraft.attributes import ANSWER_LETTERS, ATTRIBUTE_NAMES, LEVELS
from portraitcraft.prompts import QUALITY_WORDS, generate_prompt, score_prompt

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                  "<|image_pad|>", "<|video_pad|>")
# Qwen's own pre-tokenizer split, so that spaces attach to the following word as in the real tokenizer.
_QWEN_SPLIT = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
               r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")

# Qwen-style turns; an image part becomes the vision placeholder the processor expands to one pad per visual token.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif part['type'] == 'text' -%}{{- part['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)



def _corpus() -> list[str]:
    words = [*LEVELS, *QUALITY_WORDS, *ANSWER_LETTERS]
    lines = [" ".join(f"{w}" for w in words)] * 40
    lines += [f"{name}: {level}" for name in ATTRIBUTE_NAMES for level in LEVELS] * 4
    lines += [f"Overall quality: {q}" for q in QUALITY_WORDS] * 10
    lines += [f"Answer: {letter}. The answer is {letter}" for letter in ANSWER_LETTERS] * 10
    lines += ['{"total_score": 62, "criteria": {"Sharpness": "Good"}, "answer": "B"}'] * 10
    lines += ["0 1 2 3 4 5 6 7 8 9 10 100 score level image portrait question options"] * 5
    # The prompts themselves, so that they encode in few tokens, as with a real vocabulary (fast tests).
    question = "Regarding the Sharpness in this image, which of the following best describes the visual evidence?"
    options = {letter: "The subject is sharp and the background is softly blurred." for letter in ANSWER_LETTERS}
    lines += [generate_prompt(question, options), score_prompt(question, options)] * 3
    return lines


def build_tokenizer(vocab_size: int = 1024, corpus: list[str] | None = None):
    """A byte-level BPE with Qwen's special tokens and split rule, as a transformers ``Qwen2Tokenizer``, trained on
    ``corpus`` (default: the Track 1 prompts and answers)."""
    from tokenizers import AddedToken, Regex, Tokenizer, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_QWEN_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(_corpus() if corpus is None else corpus, trainer=trainer)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]  # tuples, not strings
    tokenizer = Qwen2Tokenizer(vocab=model["vocab"], merges=merges, eos_token="<|im_end|>",
                               pad_token="<|endoftext|>", unk_token="<|endoftext|>")
    # Marked special so that "<|image_pad|>" in text is one token, never split into bytes.
    tokenizer.add_tokens([AddedToken(token, special=True) for token in SPECIAL_TOKENS])
    return tokenizer


def build_processor(tokenizer=None):
    from transformers import Qwen2VLImageProcessorPil, Qwen3VLProcessor, Qwen3VLVideoProcessor

    tokenizer = tokenizer if tokenizer is not None else build_tokenizer()
    image_processor = Qwen2VLImageProcessorPil(
        patch_size=16, temporal_patch_size=2, merge_size=2,
        size={"shortest_edge": 32 * 32, "longest_edge": 128 * 128},
    )
    video_processor = Qwen3VLVideoProcessor(patch_size=16, temporal_patch_size=2, merge_size=2)
    return Qwen3VLProcessor(image_processor=image_processor, tokenizer=tokenizer, video_processor=video_processor,
                            chat_template=CHAT_TEMPLATE)


def tiny_config(tokenizer):
    from transformers import Qwen3VLConfig

    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in (
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"))}
    return Qwen3VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=4096,
            # mrope_section sums to head_dim / 2
            rope_parameters={"rope_type": "default", "rope_theta": 5e6, "mrope_section": [4, 2, 2],
                             "mrope_interleaved": True},
            bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
            eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
            pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        ),
        vision_config=dict(
            depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=16, spatial_merge_size=2,
            temporal_patch_size=2, out_hidden_size=64,
            num_position_embeddings=64,  # a perfect square (an 8x8 grid of learned positions)
            deepstack_visual_indexes=[0],
        ),
        tie_word_embeddings=True,
        **ids,
    )


def build_tiny_qwen3_vl(out: str | os.PathLike, *, seed: int = 0) -> Path:
    """Build the tiny random Qwen3-VL and its processor into ``out`` (created) and return the folder.

    Deterministic for a given ``seed``: the same weights every time.
    """
    import torch
    from transformers import GenerationConfig, Qwen3VLForConditionalGeneration

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    processor = build_processor()
    config = tiny_config(processor.tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen3VLForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=config.text_config.bos_token_id, eos_token_id=config.text_config.eos_token_id,
        pad_token_id=config.text_config.pad_token_id, do_sample=False,
    )
    model.save_pretrained(out)
    processor.save_pretrained(out)
    (out / "README.md").write_text(
        "# tiny random Qwen3-VL\n\nRandom weights, built by `portraitcraft.runners.tiny.build_tiny_qwen3_vl` "
        f"(seed {seed}) for tests and CPU demos. Its answers are noise.\n", encoding="utf-8")
    return out
