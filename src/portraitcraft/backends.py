"""Building a model backend by name, the one way the command line, the book and the library do it (above
`runners` and `baseline`, whose backends it names).

For example::

    from portraitcraft.backends import make_backend

    backend = make_backend("transformers", model="Qwen/Qwen3-VL-4B-Instruct",
                           protocol="score")
    backend = make_backend("openai", base_url="http://host:8000/v1",
                           model="Qwen/Qwen3-VL-4B-Instruct")
    backend = make_backend("features",
                           model_dir="data/lab/runs/feature-baseline.model")

The names (`BACKENDS`): ``features`` (the CPU feature baseline, `baseline.FeatureBackend`), ``transformers``
(Qwen3-VL in this process, `runners.qwen`; ``qwen`` is accepted for it) and ``openai`` (an OpenAI-compatible
chat-completions server, `runners.openai_compat`). Options a backend does not have (``device`` for a server,
``base_url`` for transformers, ``model_dir`` for either) are ignored, so a caller can pass everything it was given.
torch and transformers are imported only when a transformers backend is built.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from portraitcraft.runners.base import Backend

BACKENDS = ("features", "transformers", "openai")
# Other names accepted for a backend: `assess` called the in-process Qwen3-VL "qwen".
ALIASES = {"qwen": "transformers"}


def backend_name(name: str) -> str:
    """The backend ``name`` stands for (an alias resolved); ValueError naming the choices for another name."""
    name = ALIASES.get(name, name)
    if name not in BACKENDS:
        aliases = ", ".join(f"{alias} for {target}" for alias, target in ALIASES.items())
        raise ValueError(f"backend {name!r}: expected one of {', '.join(BACKENDS)} ({aliases})")
    return name


def make_backend(backend: str = "transformers", **options: Any) -> Backend:
    """A backend by name (`BACKENDS`, or an alias), built from the options its settings have. Raises ValueError
    for another name or a bad setting, `runners.base.ModelLoadError` when its model cannot be loaded."""
    name = backend_name(backend)
    if name == "features":
        from portraitcraft.baseline import FeatureBackend

        return FeatureBackend(options.get("model_dir"), max_side=options.get("max_side"),
                              n_jobs=options.get("n_jobs") or 1, progress=options.get("progress", True),
                              notify=options.get("notify"))
    if name == "transformers":
        from portraitcraft.runners.qwen import QwenBackend as make
        from portraitcraft.runners.qwen import QwenSettings as settings
    else:
        from portraitcraft.runners.openai_compat import OpenAIBackend as make
        from portraitcraft.runners.openai_compat import OpenAISettings as settings
    known = {f.name for f in fields(settings)}
    chosen = settings(**{option: value for option, value in options.items() if option in known})
    return make(chosen, progress=options.get("progress", True)) if name == "transformers" else make(chosen)


def default_batch_size(backend: str, concurrency: int = 8) -> int:
    """Images per batch when none is asked for: a server gets ``concurrency`` requests at once, the feature
    baseline `baseline.BATCH_SIZE` (its models called once per batch), a model in this process one image at a
    time."""
    name = backend_name(backend)
    if name == "features":
        from portraitcraft.baseline import BATCH_SIZE

        return BATCH_SIZE
    return concurrency if name == "openai" else 1


__all__ = ["ALIASES", "BACKENDS", "backend_name", "default_batch_size", "make_backend"]
