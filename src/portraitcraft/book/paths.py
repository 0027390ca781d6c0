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


def normalised_path(value: str | os.PathLike) -> Path:
    """``value`` made absolute, with ``~``, ``.`` and ``..`` taken out: lexically when that names the same file (a
    folder reached through a link keeps the name the user gave it), else resolved (a ``..`` after a link)."""
    path = Path(value).expanduser().absolute()
    lexical = Path(os.path.normpath(path))
    try:
        same = lexical.resolve() == path.resolve()
    except (OSError, RuntimeError):  # a link loop: the lexical form is as good as any
        same = True
    return lexical if same else path.resolve()


def shown_path(value: str | os.PathLike, *, home: bool = True) -> str:
    """A path as a page prints it (banners, prose, captions, tables: one rule for the whole book).

    The path is normalised (`normalised_path`: no ``/tmp/x/../data``), then shown in the shortest of these forms:
    relative to the repository (inside it, or beside it as ``../shared/sample``), ``~/...`` inside the home folder
    (``home=False`` for a path that a shell command quotes, where ``~`` would not expand), or whole. A relative name
    that is not an existing path (the data name "lab", a Hugging Face dataset id, a file yet to be written) is
    shown as given; a labelled prediction file (``LABEL=PATH``) keeps its label in front.

        shown_path("/home/me/repo/data/lab")         # "data/lab" (the repository being /home/me/repo)
        shown_path("/home/me/repo/../shared/sample")  # "../shared/sample"
        shown_path("/home/me/photos")                # "~/photos"
    """
    from portraitcraft.predictions import split_label

    label, path = split_label(value)
    if label is not None:
        return f"{label}={shown_path(path, home=home)}"
    text = str(value)
    given = Path(text).expanduser()
    located = Path(locate(text)).expanduser()
    if not given.is_absolute() and not located.exists():
        return text
    path = normalised_path(located)
    candidates = [path.as_posix()]
    root = repository_root()
    if root is not None:  # "../shared/sample" beside the repository, as a reader types it from the root
        beside = Path(os.path.relpath(path, os.path.normpath(root.absolute())))
        if beside.parts[:2].count("..") <= 1:  # further up, "../../.." says less than the whole path
            candidates.append(beside.as_posix())
    for folder, prefix in ((root, ""), (Path.home() if home else None, "~/")):
        if folder is None:
            continue
        for base in {Path(os.path.normpath(folder.absolute())), folder.resolve()}:
            for form in {path, path.resolve()}:
                if form.is_relative_to(base):
                    inside = form.relative_to(base).as_posix()
                    candidates.append(prefix + inside if inside != "." else prefix.rstrip("/") or ".")
    return min(candidates, key=len)


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


__all__ = ["EXECUTED_DIR", "book_root_above", "locate", "normalised_path", "repository_path", "repository_root",
           "shell_variable", "shown_path"]
