"""Model runners: a shared run loop (`base`) and backends (`qwen`: Qwen3-VL through transformers).
Where each piece is imported from::

    from portraitcraft.runners import run_predictions
    from portraitcraft.runners.qwen import QwenBackend, QwenSettings
    # a 1 MB random Qwen3-VL for CPU demos
    from portraitcraft.runners.tiny import build_tiny_qwen3_vl

The backends import torch and transformers when constructed, not when this package is imported.
"""

from __future__ import annotations

from portraitcraft.runners.base import (
    Backend,
    Item,
    Outcome,
    RunError,
    RunSummary,
    config_hash,
    recover_torn_tail,
    run_predictions,
    split_items,
)

__all__ = ["Backend", "Item", "Outcome", "RunError", "RunSummary", "config_hash", "recover_torn_tail",
           "run_predictions", "split_items"]
