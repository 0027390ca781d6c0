"""The README's "Use it from Python" lines, run as written on a small lab (its paths swapped for temporary ones)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytest.importorskip("sklearn")


def readme_block(heading: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split(f"## {heading}\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_use_it_from_python_runs_on_a_small_lab(small_lab, tmp_path, capsys):
    lab = small_lab
    code = readme_block("Use it from Python")
    assert "data/lab" in code and "runs/" in code
    code = code.replace("data/lab", lab.as_posix()).replace("runs/", (tmp_path / "runs").as_posix() + "/")
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the documented lines themselves
    printed = capsys.readouterr().out
    assert "Track 1 train: 24 records" in printed and "SRCC" in printed
    assert len(namespace["predictions"]) == 8
    assert namespace["report"].values["srcc"] == namespace["report"].values["srcc"]  # a number, not NaN


def test_top_level_names_are_the_home_modules_objects_and_load_lazily():
    import importlib
    import subprocess
    import sys

    import portraitcraft

    for name, home in portraitcraft._EXPORTS.items():
        assert getattr(portraitcraft, name) is getattr(importlib.import_module(home), name), name
    assert set(portraitcraft.__all__) == {"__version__", "CITATION", *portraitcraft._EXPORTS}
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        portraitcraft.nope  # noqa: B018
    code = "import sys, portraitcraft; print(sorted({'pandas', 'numpy', 'scipy'} & set(sys.modules)))"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )
