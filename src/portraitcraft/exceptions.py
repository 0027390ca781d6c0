"""The package's one exception family, and what to say when an optional package is missing.

Every exception the package raises on purpose derives from `PortraitCraftError` (`data.DataError`,
`outputs.OutputError`, `runners.base.ModelLoadError`, `baseline.BaselineError`, ...), so a caller can catch them
all at once; its message names the file, record or setting at fault. Some also derive from ValueError or
RuntimeError, as they did before the family existed, so that older ``except ValueError`` code keeps working.

The command line turns each into one line on standard error and the exit code in ``exit_code`` (2: the work
cannot start or was refused; `book.build.BookError`: 1, the book was built but a page failed).

Optional packages come in extras (``pip install 'portraitcraft[features]'``); `missing_module_hint` names the extra
for a ModuleNotFoundError, read from the package's own requirements.
"""

from __future__ import annotations

import re
from pathlib import Path


class PortraitCraftError(Exception):
    """The base of every exception the package raises on purpose; the message says what is wrong and where."""

    exit_code = 2  # the command line's exit status for it: the work cannot start, or was refused


# Import names that are not their distribution's name: import name -> the start of the distribution's name.
IMPORT_NAMES = {"cv2": "opencv", "sklearn": "scikit-learn", "PIL": "pillow", "yaml": "pyyaml"}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_lines() -> list[str]:
    """The package's requirements, ``name...; extra == "x"`` lines: from the repository's pyproject.toml when the
    package runs from a checkout (it is the truth there, even before a reinstall), else the installed metadata."""
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    if pyproject.is_file():
        import tomllib

        try:
            project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        except (OSError, tomllib.TOMLDecodeError):
            project = {}
        if project.get("name") == "portraitcraft":
            lines = list(project.get("dependencies", []))
            for extra, requirements in project.get("optional-dependencies", {}).items():
                lines += [f'{requirement}; extra == "{extra}"' for requirement in requirements]
            return lines
    from importlib.metadata import PackageNotFoundError, requires

    try:
        return list(requires("portraitcraft") or [])
    except PackageNotFoundError:
        return []


def extra_of(module: str) -> tuple[str, str | None] | None:
    """(distribution, extra) of the requirement that provides top-level ``module`` (extra None: a core
    dependency); None when no requirement of the package provides it. The smallest extra wins (``features``
    rather than ``all``)."""
    wanted = _normalise(IMPORT_NAMES.get(module, module))
    found: list[tuple[str, str | None]] = []
    for line in _requirement_lines():
        name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
        if name is None or name.group(1) == "portraitcraft":
            continue
        distribution = _normalise(name.group(1))
        if distribution == wanted or (module in IMPORT_NAMES and distribution.startswith(wanted)):
            extra = re.search(r"""extra\s*==\s*["']([^"']+)["']""", line)
            found.append((name.group(1), extra.group(1) if extra else None))
    if not found:
        return None
    return min(found, key=lambda pair: pair[1] is not None)  # a core dependency before an extra


def missing_module_hint(exc: ModuleNotFoundError) -> str | None:
    """One line for a missing optional (or core) package: what is missing and the pip command that installs it;
    None when the module is none of the package's requirements (a bug, not an installation matter)."""
    module = (exc.name or "").split(".")[0]
    if not module or module == "portraitcraft":
        return None
    found = extra_of(module)
    if found is None:
        return None
    distribution, extra = found
    if extra is None:
        return (f"the package {distribution!r} (module {module!r}) is missing, a dependency of portraitcraft: "
                "pip install portraitcraft")
    return f"{distribution} is not installed (module {module!r}): pip install 'portraitcraft[{extra}]'"


__all__ = ["PortraitCraftError", "extra_of", "missing_module_hint"]
