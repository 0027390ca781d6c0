"""Building a model backend by name, the one way the command line and the book do it.

    backend = make_backend("transformers", model="Qwen/Qwen3-VL-4B-Instruct", protocol="score")
    backend = make_backend("openai", base_url="http://host:8000/v1", model="Qwen/Qwen3-VL-4B-Instruct")

Options a backend does not have (``device`` for a server, ``base_url`` for transformers) are ignored, so a caller
can pass everything it was given. torch and transformers are imported only when a transformers backend is built.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from portraitcraft.runners.base import Backend

BACKENDS = ("transformers", "openai")


def make_backend(backend: str = "transformers", **options: Any) -> Backend:
    """A backend by name: ``transformers`` (Qwen3-VL in this process, `runners.qwen`) or ``openai`` (an
    OpenAI-compatible chat-completions server, `runners.openai_compat`), built from the options its settings
    have. Raises ValueError for another name or a bad setting."""
    if backend == "transformers":
        from portraitcraft.runners.qwen import QwenBackend as make
        from portraitcraft.runners.qwen import QwenSettings as settings
    elif backend == "openai":
        from portraitcraft.runners.openai_compat import OpenAIBackend as make
        from portraitcraft.runners.openai_compat import OpenAISettings as settings
    else:
        raise ValueError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    known = {f.name for f in fields(settings)}
    return make(settings(**{name: value for name, value in options.items() if name in known}))


__all__ = ["BACKENDS", "make_backend"]
