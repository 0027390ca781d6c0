"""The `portraitcraft` command-line program. Each command is a thin shell over a library function.

One module per group of commands: ``data`` (validate, export, demo-data, lab-audit), ``track1`` (evaluate, submission,
predict, merge, assess, finetune, serve), ``baseline``, ``track2`` and ``book`` (book, report); ``common`` holds
the options they share and the output conventions, ``contract`` the error contract and exit codes (every command
registered on a `contract.Program` keeps it). The commands are registered here, in the order ``--help`` lists
them.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from portraitcraft.cli import book, data, track1
from portraitcraft.cli.baseline import baseline_app
from portraitcraft.cli.cache import cache_app
from portraitcraft.cli.common import is_stdout, show_report
from portraitcraft.cli.contract import Program, fail, one_line_errors
from portraitcraft.cli.track2 import track2_app

__all__ = ["app", "command_help", "command_table", "fail", "is_stdout", "main", "one_line_errors", "show_report"]

app = Program(
    name="portraitcraft",
    help=(
        "Tools for the PortraitCraft portrait-composition benchmark: open and validate the data, "
        "generate the synthetic composition lab, score predictions and build the analysis book.\n\n"
        "Start with `portraitcraft demo-data data/lab` and `portraitcraft validate data/lab`."
    ),
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _show_version(value: bool) -> None:
    if value:
        from portraitcraft import __version__

        typer.echo(f"portraitcraft {__version__}")
        raise typer.Exit()


@app.callback()
def _group(
    version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Keeps `portraitcraft COMMAND` a command group even while it has a single command."""


app.command()(data.validate)
app.command()(book.book)
app.command()(track1.evaluate)
app.command()(track1.submission)
app.command()(book.report)
app.command()(data.export)
app.command("demo-data")(data.demo_data)
app.command("lab-audit")(data.lab_audit)
app.command("lmms-tasks")(data.lmms_tasks)
app.command()(track1.predict)
app.command()(track1.merge)
app.command()(track1.assess)
app.command()(track1.finetune)
app.command()(track1.serve)
app.add_typer(baseline_app, name="baseline")
app.add_typer(track2_app, name="track2")
app.add_typer(cache_app, name="cache")


def command_table() -> list[dict[str, str]]:
    """Every command of the program (subcommands as "baseline predict") with the first paragraph of its help, sorted:
    what the book's appendix lists."""
    group = typer.main.get_command(app)
    rows = []
    for name, command in sorted(group.commands.items()):
        subcommands = getattr(command, "commands", None)
        if subcommands:
            rows += [{"command": f"portraitcraft {name} {sub}", "what it does": _summary(c)}
                     for sub, c in sorted(subcommands.items())]
        else:
            rows.append({"command": f"portraitcraft {name}", "what it does": _summary(command)})
    return rows


def _summary(command: object) -> str:
    """A command's help up to its first blank line, whole (click's short help cuts it at a length, mid-sentence)."""
    text = getattr(command, "short_help", None) or getattr(command, "help", None) or ""
    return " ".join(text.strip().split("\n\n")[0].split())


def command_help(name: str, width: int = 110) -> str | None:
    """The ``--help`` of command ``name`` as a terminal without colours shows it (plain text, ``width`` columns),
    from the installed program; None when this version has no such command."""
    import re
    import subprocess
    import sys

    if name not in typer.main.get_command(app).commands:
        return None
    program = Path(sys.executable).with_name("portraitcraft")
    base = [str(program)] if program.is_file() else [sys.executable, "-m", "portraitcraft.cli"]
    plain = {**os.environ, "TERMINAL_WIDTH": str(width), "NO_COLOR": "1", "_TYPER_FORCE_DISABLE_TERMINAL": "1"}
    result = subprocess.run([*base, name, "--help"], capture_output=True, text=True, env=plain, check=False)
    if result.returncode != 0 or "Usage" not in result.stdout:
        raise RuntimeError(f"portraitcraft {name} --help failed: {result.stderr.strip()}")
    return re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)


def main() -> None:
    app()

