"""Where a chapter finds what its parameters name, from any working directory.

A chapter's parameters name folders and files as a reader types them, relative to the repository ("data/lab",
"book/measurements/x.json"). papermill may run the chapter anywhere: in the repository root (the book build), in
notebooks/ (Jupyter, nbval), or in a scratch folder. `locate` finds a named input and `repository_path` places an
output, both against the repository found from the working directory or, failing that, from this package's
source (an editable install or ``PYTHONPATH=src``).

    ds = open_dataset(locate(data))                      # "data/lab", an absolute path, "lab" or a hub id
    runs = repository_path("book/runs")                  # where a chapter keeps what it computes
"""

from __future__ import annotations

import os
from pathlib import Path

EXECUTED_DIR = Path("book") / "executed"  # the executed chapters, relative to the repository root


def book_root_above(start: str | os.PathLike) -> Path | None:
    """The nearest folder at or above ``start`` holding the book's ``_toc.yml`` and ``_config.yml``."""
    start = Path(start).resolve()
    for folder in (start, *start.parents):
        if (folder / "_toc.yml").is_file() and (folder / "_config.yml").is_file():
            return folder
    return None


def repository_root() -> Path | None:
    """The book's repository: found from the working directory upwards, else from this package's source folder;
    None for an installed package run outside any repository."""
    return book_root_above(Path.cwd()) or book_root_above(Path(__file__).resolve().parent)


def locate(value: str | os.PathLike) -> str:
    """A path parameter as this process can open it: as given when it exists from the working directory, else
    under the repository root when it exists there; anything else unchanged (the data name "lab", a Hugging Face
    dataset id), for `portraitcraft.sources.open_dataset` to resolve. A labelled prediction file (``LABEL=PATH``)
    keeps its label in front of the located path."""
    from portraitcraft.predictions import split_label

    label, path = split_label(value)
    if label is not None:
        return f"{label}={locate(path)}"
    text = str(value)
    if Path(text).expanduser().exists():
        return text
    root = repository_root()
    if root is not None and (root / text).exists():
        return str(root / text)
    return text


def repository_path(value: str | os.PathLike) -> Path:
    """Where a chapter writes what a relative path parameter names: under the repository root (the working
    directory outside a repository); an absolute path unchanged."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    return (repository_root() or Path.cwd()) / path


def shown_path(value: str | os.PathLike) -> str:
    """A path as a page prints it: relative to the repository when inside it (the book does not print this machine's
    folders), else whole."""
    path = Path(value).expanduser().resolve()
    root = repository_root()
    if root is not None and path.is_relative_to(root.resolve()):
        return path.relative_to(root.resolve()).as_posix() or "."
    return str(path)


def shell_variable(name: str, value: str, *, width: int = 64) -> str:
    """``NAME=value`` as bash lines of at most ``width`` characters where the value's folders allow: a long path
    (a user's data folder) is built up at its slashes, ``NAME=/first/part`` then ``NAME=$NAME/next/part``, so that
    a command listing on a page fits the text column whatever the path (commands then use ``"$NAME"``)."""
    import shlex

    pieces = value.split("/")  # an absolute path starts with ""
    lines, current = [], pieces[0]
    for piece in pieces[1:]:
        longer = f"{current}/{piece}"
        if current.strip("/") and 2 * len(name) + 7 + len(longer) > width:  # NAME="$NAME"/'...'
            lines.append(current)
            current = piece
        else:
            current = longer
    lines.append(current)
    out = [f"{name}={shlex.quote(lines[0])}"]
    out += [f'{name}="${name}"/{shlex.quote(part)}' for part in lines[1:]]
    return "\n".join(out)


__all__ = ["EXECUTED_DIR", "book_root_above", "locate", "repository_path", "repository_root", "shell_variable",
           "shown_path"]
