"""Lets `pytest --nbval-lax notebooks` run the jupytext sources (`notebooks/*.py`) as notebooks.

nbval collects only `.ipynb` files; this hook hands it each `.py` source read through jupytext.
It lives in notebooks/, so the ordinary test run (tests/) never loads it.
"""

from __future__ import annotations

import jupytext
import nbval.plugin


class JupytextNotebook(nbval.plugin.IPyNbFile):
    def collect(self):
        # nbval reads the file with nbformat.read inside collect(); read the percent source instead.
        nbformat = nbval.plugin.nbformat
        original_read = nbformat.read
        nbformat.read = lambda path, as_version=4, **kwargs: jupytext.read(path, as_version=as_version)
        try:
            yield from super().collect()
        finally:
            nbformat.read = original_read


def pytest_collect_file(file_path, parent):
    option = parent.config.option
    if (option.nbval or option.nbval_lax) and file_path.suffix == ".py" and file_path.name != "conftest.py":
        return JupytextNotebook.from_parent(parent, path=file_path)
    return None
