"""A tiny, randomly initialised Qwen-Image pipeline built offline: diffusers' real ``QwenImagePipeline`` with its
real components at toy size (about 1 MB on disk, well under a second to build once torch is imported).

It draws noise, but every step of the real code path runs on it: ``save_pretrained``, loading back through
``DiffusionPipeline.from_pretrained``, Qwen-Image's prompt template and text encoding, true classifier-free
guidance with a negative prompt, the flow-matching scheduler, the VAE decoder, LoRA loading and LoRA training of
the transformer. Tests, the book's CPU demo and the docs use it in place of the 20-billion-parameter model.

For example::

    from portraitcraft.track2.tiny_pipeline import build_tiny_qwen_image

    folder = build_tiny_qwen_image("models/tiny-qwen-image")
    # then: portraitcraft track2 generate --model models/tiny-qwen-image ...

Components (the classes of ``Qwen/Qwen-Image``'s ``model_index.json``)
    * transformer: ``QwenImageTransformer2DModel``: 2 dual-stream blocks, 2 heads of 16 (Qwen-Image: 60 blocks,
      24 heads of 128), text width 32, the real 16-channel latents packed 2x2.
    * vae: ``AutoencoderKLQwenImage``: base width 8, one residual block per level (Qwen-Image: 96 and 2); the same
      three 2x downsamplings, so an image of H x W pixels has H/8 x W/8 latents.
    * text_encoder: ``Qwen2_5_VLForConditionalGeneration``: 2 text layers of width 32 and a one-block vision tower
      (never used for text-to-image, but part of the class).
    * tokenizer: a byte-level BPE trained here with Qwen's pre-tokenizer and special tokens (as for the tiny
      Qwen3-VL, `runners.tiny`), on Qwen-Image's prompt template and the Track 2 prompt, so that the template's
      system prefix is the 34 tokens the pipeline drops, as with the real vocabulary.
    * scheduler: ``FlowMatchEulerDiscreteScheduler`` with Qwen-Image's published configuration.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

# Qwen/Qwen-Image scheduler/scheduler_config.json (the published values).
QWEN_IMAGE_SCHEDULER: Final[dict[str, Any]] = {
    "base_image_seq_len": 256, "base_shift": 0.5, "invert_sigmas": False, "max_image_seq_len": 8192,
    "max_shift": 0.9, "num_train_timesteps": 1000, "shift": 1.0, "shift_terminal": 0.02,
    "stochastic_sampling": False, "time_shift_type": "exponential", "use_beta_sigmas": False,
    "use_dynamic_shifting": True, "use_exponential_sigmas": False, "use_karras_sigmas": False,
}
# The system prefix of QwenImagePipeline's prompt template: the tokens its text encoding drops
# (``prompt_template_encode_start_idx`` = 34 with the real vocabulary).
TEMPLATE_PREFIX: Final[str] = (
    "<|im_start|>system\nDescribe the image by detailing the color, shape, size, texture, quantity, text, spatial "
    "relationships of the objects and background:<|im_end|>\n<|im_start|>user\n")
TEMPLATE_TOKENS: Final[int] = 34
COMPOSITION_WORDS: Final[str] = (
    "portrait woman man person people couple subject frame framing close-up half-body full-body left right third "
    "centre center placed positioned negative space shallow depth of field background blurred sharp horizon level "
    "tilted soft hard light from the front back top golden hour warm cool palette gaze camera lead room leading "
    "lines composition balance rule of thirds")


def _corpus() -> list[str]:
    from portraitcraft.track2.generate import generation_prompt

    template = TEMPLATE_PREFIX + "{}<|im_end|>\n<|im_start|>assistant\n"
    prompt = generation_prompt("A woman stands by the sea.", "She is placed on the left third.", trigger="AES_COMP, ")
    return [template.format(prompt)] * 40 + [COMPOSITION_WORDS] * 20 + ["0 1 2 3 4 5 6 7 8 9 ."] * 5


def build_tokenizer():
    """The tiny Qwen2 tokenizer (see the module docstring)."""
    from portraitcraft.runners.tiny import build_tokenizer as build_qwen_bpe

    return build_qwen_bpe(vocab_size=768, corpus=_corpus())


def tiny_components(seed: int = 0) -> dict[str, Any]:
    """The five components of the tiny pipeline, weights drawn from ``seed``."""
    import torch
    from diffusers import AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler, QwenImageTransformer2DModel
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    tokenizer = build_tokenizer()
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in (
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"))}
    special = dict(bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
                   eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
                   pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"))
    text_width = 32
    config = Qwen2_5_VLConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=text_width, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
                         rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]}, **special),  # sums to head_dim/2
        vision_config=dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=text_width,
                           patch_size=14, spatial_merge_size=2, temporal_patch_size=2, fullatt_block_indexes=[0],
                           window_size=112),
        **ids, **special)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        text_encoder = Qwen2_5_VLForConditionalGeneration(config).eval()
        # axes_dims_rope (frame, height, width) sums to the head width, as Qwen-Image's (16, 56, 56) sums to 128.
        transformer = QwenImageTransformer2DModel(
            patch_size=2, in_channels=64, out_channels=16, num_layers=2, attention_head_dim=16,
            num_attention_heads=2, joint_attention_dim=text_width, axes_dims_rope=(4, 6, 6))
        vae = AutoencoderKLQwenImage(base_dim=8, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1)
    scheduler = FlowMatchEulerDiscreteScheduler(**QWEN_IMAGE_SCHEDULER)
    return {"transformer": transformer, "vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer,
            "scheduler": scheduler}


def build_tiny_qwen_image(out: str | os.PathLike, *, seed: int = 0) -> Path:
    """Build the tiny random Qwen-Image pipeline into ``out`` (created) and return the folder.

    Deterministic for a given ``seed``: the same weights every time."""
    from diffusers import QwenImagePipeline

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    QwenImagePipeline(**tiny_components(seed)).save_pretrained(out)
    (out / "README.md").write_text(
        "# tiny random Qwen-Image\n\nRandom weights, built by `portraitcraft.track2.tiny_pipeline."
        f"build_tiny_qwen_image` (seed {seed}) for tests and CPU demos. It draws noise.\n", encoding="utf-8")
    return out
