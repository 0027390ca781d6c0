"""Published model dimensions, for measuring the cost of a model without its weights. For example::

    from portraitcraft.finetune.model import parameter_counts
    from portraitcraft.runners.configs import meta_model

    # Qwen3-VL-4B-Instruct's architecture on the meta device: no memory used
    model = meta_model()
    parameter_counts(model)           # its parameters by part

`QWEN3_VL_4B` is the ``text_config`` and ``vision_config`` of Qwen3-VL-4B-Instruct's published ``config.json``
(`QWEN3_VL_4B_SOURCE`), which ``scripts/gpu_bench_*.py`` build random-weight models of.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

QWEN3_VL_4B = {
    "text_config": {
        "vocab_size": 151936, "hidden_size": 2560, "intermediate_size": 9728, "num_hidden_layers": 36,
        "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "hidden_act": "silu",
        "max_position_embeddings": 262144, "rms_norm_eps": 1e-6, "attention_bias": False,
        "rope_parameters": {"rope_type": "default", "rope_theta": 5000000.0, "mrope_section": [24, 20, 20],
                            "mrope_interleaved": True},
    },
    "vision_config": {
        "depth": 24, "hidden_size": 1024, "intermediate_size": 4096, "num_heads": 16, "in_channels": 3,
        "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2, "out_hidden_size": 2560,
        "num_position_embeddings": 2304, "deepstack_visual_indexes": [5, 11, 17], "hidden_act": "gelu_pytorch_tanh",
    },
    "tie_word_embeddings": True,
}
QWEN3_VL_4B_SOURCE = "https://huggingface.co/Qwen/Qwen3-VL-4B-Instruct/blob/main/config.json"


def meta_model(dimensions: Mapping[str, Any] = QWEN3_VL_4B) -> Any:
    """A Qwen3-VL of the given dimensions on PyTorch's ``meta`` device (shapes only, nothing allocated)."""
    import torch
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    config = Qwen3VLConfig(text_config=dimensions["text_config"], vision_config=dimensions["vision_config"],
                           tie_word_embeddings=dimensions.get("tie_word_embeddings", True))
    with torch.device("meta"):
        return Qwen3VLForConditionalGeneration._from_config(config)


__all__ = ["QWEN3_VL_4B", "QWEN3_VL_4B_SOURCE", "meta_model"]
