"""A Sphinx extension for the book's HTML: two defects of the Jupyter Book 1 stack that show in a browser console,
settings that follow what the build has (the repository's address, the static folders), and the API page's
signatures written as the book writes numbers.

Listed in `_config.yml` under `sphinx: extra_extensions`. Each fix names the defect it works around, so that it can
go when the upstream package is fixed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

# The buttons that link to the repository, shown exactly when its address is set.
REPOSITORY_BUTTONS = ("use_repository_button", "use_issues_button")


def repository_buttons(app: Any, config: Any) -> None:
    """The repository, issue, Binder and Colab buttons follow one setting, `_config.yml`'s ``repository.url``: shown
    when it is set, hidden while it is empty (they would point nowhere). Jupyter Book refuses an empty address with
    its own button flags on, so those stay off in `_config.yml` and are turned on here."""
    options = config.html_theme_options
    shown = bool(str(options.get("repository_url") or "").strip())
    for key in REPOSITORY_BUTTONS:
        options[key] = shown
    if not shown:
        options.pop("repository_url", None)
        options["launch_buttons"] = {}


def drop_missing_static_paths(app: Any, config: Any) -> None:
    """Keep only the static folders that exist: ``book/_vendor`` (plotly.min.js) is made by `portraitcraft book`, and a
    build without it (the workflow's link check over downloaded notebooks) would warn about a missing folder."""
    config.html_static_path = [p for p in config.html_static_path if (Path(app.confdir) / p).is_dir()]


def drop_repeated_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Keep the first of identical <script> entries.

    sphinx-thebe adds its inline configuration (`const THEBE_JS_URL = ...`) once with the file name None and once,
    re-registered by Sphinx, with ''. Sphinx compares the two as different, so every page declared the constant
    twice and the browser stopped at "Identifier 'THEBE_JS_URL' has already been declared".
    """
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        filename = getattr(script, "filename", script) or ""
        attributes = getattr(script, "attributes", {})
        key = (str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


LONG_FLOAT = re.compile(r"(?<![\w.])\d+\.\d{6,}(?![\d.])")  # as the page checker reads a raw number


def short_float_defaults(app: Any, what: str, name: str, obj: Any, options: Any, signature: str | None,
                         return_annotation: str | None) -> tuple[str | None, str | None] | None:
    """A default autodoc cannot read from the source (a dataclass's generated ``__init__``) shows as Python prints
    it, ``subject_x=0.3333333333333333``; written to 4 significant digits (``0.3333``), as the book writes numbers."""
    if not signature or not LONG_FLOAT.search(signature):
        return None
    return LONG_FLOAT.sub(lambda m: format(float(m.group()), ".4g"), signature), return_annotation


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", repository_buttons)
    app.setup_extension("sphinx.ext.autodoc")  # its event, whatever the order of the extensions in _config.yml
    app.connect("autodoc-process-signature", short_float_defaults)
    app.connect("config-inited", drop_missing_static_paths)
    # Late priority: after sphinx-thebe and the theme have added their scripts for the page.
    app.connect("html-page-context", drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
