"""The `portraitcraft` command-line program. Each command is a thin shell over a library function."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    name="portraitcraft",
    help=(
        "Tools for the PortraitCraft portrait-composition benchmark: open and validate the data, "
        "generate the synthetic composition lab, score predictions and build the analysis book.\n\n"
        "Start with `portraitcraft demo-data data/lab` and `portraitcraft validate data/lab`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _group() -> None:
    """Keeps `portraitcraft COMMAND` a command group even while it has a single command."""


def fail(message: str, code: int = 2) -> None:
    """One clear line on stderr and a non-zero exit, instead of a traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def validate(
    data: str = typer.Argument(..., help="A PortraitCraft root folder, 'lab', or a Hugging Face dataset id."),
    strict: bool = typer.Option(True, "--strict/--lenient", help="Strict: exit 1 when any error is found. Lenient: report, exit 0."),
    check_images: bool = typer.Option(True, "--check-images/--no-check-images", help="Open every image header to catch unreadable files."),
    max_problems: int = typer.Option(50, help="Print at most this many problems (all are counted)."),
) -> None:
    """Check a PortraitCraft root and name every problem with its file and record.

    Exit codes: 0 no errors (or --lenient); 1 errors found in strict mode; 2 the data cannot be read at all (no such folder, malformed JSON: one line with file, line and column).
    """
    from portraitcraft.data import DataError, iter_problems, open_dataset

    try:
        dataset = open_dataset(data, strict=False, check_images=check_images)
    except DataError as exc:
        fail(str(exc))
    typer.echo(dataset.summary())
    for line in iter_problems(dataset.problems, limit=max_problems):
        typer.echo(f"  {line}")
    hidden = len(dataset.problems) - max_problems
    if hidden > 0:
        typer.echo(f"  ... and {hidden} more")
    if dataset.errors and strict:
        typer.echo(f"FAILED: {len(dataset.errors)} error(s) (use --lenient to report without failing)", err=True)
        raise typer.Exit(1)
    typer.echo("OK" if not dataset.errors else f"reported {len(dataset.errors)} error(s) (lenient mode)")


@app.command()
def book(
    data: str = typer.Option("data/lab", help="The dataset every notebook reads (its `data` parameter): a folder, 'lab', or a Hugging Face dataset id."),
    out: Path | None = typer.Option(None, help="Build folder (default: book/ of the repository); the HTML lands in OUT/_build/html."),
    param: list[str] = typer.Option([], "--param", "-p", help="NAME=VALUE (YAML value) for every notebook declaring NAME, e.g. -p max_side=256. Repeatable."),
    only: list[str] = typer.Option([], help="Execute only this notebook (name without .py); others keep their last run. Repeatable."),
    html: bool = typer.Option(True, "--html/--no-html", help="Build the HTML after executing the notebooks."),
) -> None:
    """Execute the book's notebooks (papermill) on DATA and build the HTML book (Jupyter Book, warnings are errors).

    Exit codes: 0 built; 1 a notebook failed (named with its cell; the partial notebook is kept in book/executed/) or Sphinx reported warnings; 2 bad options.
    """
    import yaml

    from portraitcraft.book.build import BookError, build_book

    parameters = {}
    for item in param:
        name, sep, value = item.partition("=")
        if not sep or not name.strip().isidentifier():
            fail(f"--param expects NAME=VALUE, got {item!r}")
        parameters[name.strip()] = yaml.safe_load(value)
    try:
        build_book(data, out=out, parameters=parameters, only=only or None, html=html)
    except BookError as exc:  # includes a failing notebook, named with its cell
        fail(str(exc), code=1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
