"""Progress bars, drawn only where someone watches them.

A bar is shown when the caller asks for one (``--progress``, the default of long commands) *and* standard error is
a terminal *and* ``TQDM_DISABLE`` is not set: redirected to a log file or a pipe, or in CI, a bar's hundreds of
carriage-return updates are noise, so none is drawn. ``--no-progress`` turns bars off on a terminal too.
"""

from __future__ import annotations

import os
import sys
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


def quiet_library_bars(enabled: bool = True) -> None:
    """Turn off the bars of the libraries the package drives (datasets' map/save bars) unless `bars_shown`."""
    if bars_shown(enabled):
        return
    try:
        from datasets.utils.logging import disable_progress_bar
    except ImportError:
        return
    disable_progress_bar()
