"""The command line's error contract, kept in one place so that every command answers alike.

Exit codes (the README's "Exit codes" lists them for users):

* 0: done; ``--help``/``-h``, and a bare ``portraitcraft`` or command group, which print their help.
* 1: the work ran but found problems (images that failed, validation errors in strict mode, a book page that
  failed); the output says which.
* 2: the work cannot start or was refused: bad options, data or predictions that cannot be read, an output that
  must not be written, a model that cannot be loaded, a missing optional package (with the ``pip install``
  command that adds it), an operating-system error (a full disk, a permission). One line on standard error,
  ``error: ...``, naming the file, record or setting; no traceback (``PORTRAITCRAFT_TRACEBACK=1`` shows it).

`one_line_errors` is the decorator that does it; `Program` applies it to every command it registers and gives
every command ``-h`` and bare groups their help with exit 0.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
from collections.abc import Callable
from typing import Any

import click
import typer
from typer.core import TyperGroup

from portraitcraft.exceptions import PortraitCraftError, missing_module_hint

USAGE_ERROR = 2  # also click's code for a bad option
TRACEBACK_VARIABLE = "PORTRAITCRAFT_TRACEBACK"


def fail(message: str, code: int = USAGE_ERROR) -> None:
    """One clear line on stderr and a non-zero exit, instead of a traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def os_error_text(exc: OSError) -> str:
    """An OSError as one line naming its file(s): ``PATH: No space left on device``."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    names = [str(name) for name in (exc.filename, exc.filename2) if name is not None]
    return f"{' -> '.join(names)}: {reason}" if names else reason


def one_line_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """``command`` with the error contract: a `PortraitCraftError` (its ``exit_code``), an OSError, a missing
    package that the package lists among its requirements (with the extra to install) or a ValueError (a bad
    setting) end in one line on stderr and the exit code; anything else is a bug and keeps its traceback."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            message, code = _one_line(exc)
            if message is None or os.environ.get(TRACEBACK_VARIABLE):
                raise
            fail(message, code)

    return run


def _one_line(exc: Exception) -> tuple[str | None, int]:
    if isinstance(exc, PortraitCraftError):
        return str(exc) or type(exc).__name__, exc.exit_code
    if isinstance(exc, ModuleNotFoundError):
        return missing_module_hint(exc), USAGE_ERROR
    if isinstance(exc, OSError):
        return os_error_text(exc), USAGE_ERROR
    if isinstance(exc, ValueError):  # settings check their values with ValueError, naming the setting
        return str(exc) or type(exc).__name__, USAGE_ERROR
    return None, 1


class HelpfulGroup(TyperGroup):
    """A command group that prints its help and exits 0 when called with nothing (click exits 2)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            typer.echo(ctx.get_help(), nl=False)  # typer's rich help prints itself and returns ""
            ctx.exit(0)
        return super().parse_args(ctx, args)


# -h as well as --help, for every command: click passes the setting down to each sub-command's context.
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


def flowing(text: str) -> str:
    """A docstring as help text that the terminal wraps: the lines of each paragraph joined (typer keeps a
    docstring's line breaks, so text wrapped by hand at 120 columns broke mid-sentence in a narrower terminal).
    Lines that start a list item (``-``, ``*``, ``1.``) or are indented keep their own line."""
    paragraphs = []
    for paragraph in re.split(r"\n\s*\n", inspect.cleandoc(text)):
        lines = paragraph.splitlines()
        joined = lines[:1]
        for line in lines[1:]:
            if re.match(r"\s|[-*] |\d+[.)] ", line):
                joined.append(line)
            else:
                joined[-1] = f"{joined[-1]} {line.strip()}"
        paragraphs.append("\n".join(joined))
    return "\n\n".join(paragraphs)


class Program(typer.Typer):
    """A typer application whose every command keeps the error contract (`one_line_errors`) and whose help text
    the terminal wraps (`flowing`)."""

    def __init__(self, **options: Any):
        options.setdefault("cls", HelpfulGroup)
        options.setdefault("no_args_is_help", True)
        options.setdefault("context_settings", CONTEXT_SETTINGS)
        super().__init__(**options)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def decorator(function: Callable[..., Any]) -> Callable[..., Any]:
            options = dict(kwargs)
            if options.get("help") is None and function.__doc__:
                options["help"] = flowing(function.__doc__)
            super(Program, self).command(*args, **options)(one_line_errors(function))
            return function

        return decorator


__all__ = ["CONTEXT_SETTINGS", "HelpfulGroup", "Program", "USAGE_ERROR", "fail", "one_line_errors",
           "os_error_text"]
