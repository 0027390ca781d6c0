"""A Sphinx extension for the book's HTML: two defects of the Jupyter Book 1 stack that show in a browser console.

Listed in `_config.yml` under `sphinx: extra_extensions`. Each fix names the defect it works around, so that it can
go when the upstream package is fixed.
"""

from __future__ import annotations

from typing import Any


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


def setup(app: Any) -> dict[str, Any]:
    # Late priority: after sphinx-thebe and the theme have added their scripts for the page.
    app.connect("html-page-context", drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
