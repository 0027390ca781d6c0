"""Progress bars, drawn only where someone watches them.

A bar is shown when the caller asks for one (``--progress``, the default of long commands) *and* standard error is
a terminal *and* ``TQDM_DISABLE`` is not set: redirected to a log file or a pipe, or in CI, a bar's hundreds of
carriage-return updates are noise, so none is drawn. ``--no-progress`` turns bars off on a terminal too.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable
from typing import Any

FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})


def bars_shown(requested: bool = True) -> bool:
    """Whether a progress bar should be drawn: asked for, on a terminal, and not turned off by ``TQDM_DISABLE``."""
    if not requested or os.environ.get("TQDM_DISABLE", "").strip().lower() not in FALSE_WORDS:
        return False
    stream = sys.stderr
    return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())


def progress_bar(total: int | None = None, *, desc: str, unit: str = "it", enabled: bool = True, **options: Any) -> Any:
    """A tqdm bar on standard error (``total`` steps of ``unit``), disabled unless `bars_shown` (``enabled``).

    A disabled bar still counts (``update``, ``n``) and closes; it just draws nothing."""
    from tqdm.auto import tqdm

    options.setdefault("dynamic_ncols", True)
    return tqdm(total=total, desc=desc, unit=unit, disable=not bars_shown(enabled), **options)


# The public switch of each library whose own bars the package can set off: model loading (transformers' "Loading
# weights", diffusers' "Loading pipeline components"), hub downloads, and datasets' map/save.
LIBRARY_SWITCHES = {
    "transformers": ("transformers.utils.logging", "disable_progress_bar"),
    "diffusers": ("diffusers.utils.logging", "disable_progress_bar"),
    "huggingface_hub": ("huggingface_hub.utils", "disable_progress_bars"),
    "datasets": ("datasets.utils.logging", "disable_progress_bar"),
}


def quiet_library_bars(enabled: bool = True, *, using: Iterable[str] = ()) -> None:
    """Turn off the libraries' own bars (`LIBRARY_SWITCHES`) unless `bars_shown` (``enabled``).

    A library is touched only when it is already imported or named in ``using`` (the caller is about to use it):
    none is imported just to be silenced. Called where the package loads a model, so that a log file or a pipe
    gets no loading bars either. A switch stays off for the rest of the process."""
    if bars_shown(enabled):
        return
    wanted = set(using)
    for library, (module, switch) in LIBRARY_SWITCHES.items():
        if library not in sys.modules and library not in wanted:
            continue
        try:
            getattr(importlib.import_module(module), switch)()
        except (ImportError, AttributeError):  # not installed, or a version without the switch: nothing to quiet
            continue
