"""Commands that compute the book: the whole HTML book, or the paper's figures and tables as files."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from portraitcraft.cli.common import DATA_ARGUMENT, PROGRESS_OPTION
from portraitcraft.cli.contract import fail


def book(
    data: str = typer.Option("data/lab",
        help="The dataset every notebook reads (its `data` parameter): a folder, 'lab', or a Hugging Face dataset id."),
    out: Path | None = typer.Option(None,
        help=("Build folder (default: book/ of the repository): everything the build writes goes there, the executed "
              "notebooks in OUT/executed, submissions in OUT/runs, the HTML in OUT/_build/html.")),
    param: list[str] = typer.Option([], "--param", "-p",
        help="NAME=VALUE (YAML value) for every notebook declaring NAME, e.g. -p max_side=256. Repeatable."),
    only: list[str] = typer.Option([],
        help=("Execute only this chapter (notebook name without .py, e.g. 03_table2); others keep their last run, and "
              "the HTML is built once every chapter has been executed. Repeatable.")),
    html: bool = typer.Option(True, "--html/--no-html", help="Build the HTML after executing the notebooks."),
    predictions: list[str] = typer.Option([], "--predictions",
        help="A Track 1 prediction file, for the notebooks declaring a `predictions` parameter (a list); "
             "LABEL=PATH names it LABEL on every page (else its run or file name). Repeatable."),
    force: bool = typer.Option(False, "--force",
        help="Execute every page and rebuild the HTML even where their inputs did not change."),
    jobs: int = typer.Option(min(2, os.cpu_count() or 1), "--jobs", "-j", min=1,
        help="Pages executed at a time, each in its own kernel (default: 2, or 1 on a single core)."),
    progress: bool = PROGRESS_OPTION,
) -> None:
    """Execute the book's notebooks (papermill) on DATA and build the HTML book (Jupyter Book, warnings are errors).

    A page is executed again only when its source, its parameters, the portraitcraft code or a file given as a parameter changed; the HTML is rebuilt only when a page or the book's configuration changed (--force: everything).

    One chapter: `portraitcraft book --only 04_table3` (its executed notebook lands in book/executed/). Without this command, from any folder: `jupytext --to ipynb notebooks/04_table3.py -o ch.ipynb && papermill ch.ipynb out.ipynb -p data /path/to/data/lab` (the README's "Run one chapter").

    DATA and every prediction file are checked first: data that cannot be opened (not a PortraitCraft root, an unreadable annotation file) or a prediction file that cannot be read stops the build at once, one line per problem. Missing images and hidden test labels do not: the chapters report them.

    Exit codes: 0 built; 1 a notebook failed (named with its cell; the partial notebook is kept in OUT/executed/) or Sphinx reported warnings; 2 bad options, or DATA or a prediction file cannot be read.
    """  # noqa: E501 (the command's help: typer keeps a docstring's line breaks)
    import yaml

    from portraitcraft.book.build import build_book

    parameters = {}
    for item in param:
        name, sep, value = item.partition("=")
        if not sep or not name.strip().isidentifier():
            fail(f"--param expects NAME=VALUE, got {item!r}")
        try:  # safe_load: plain values only, a tag that would build an object is refused
            parameters[name.strip()] = yaml.safe_load(value)
        except (yaml.YAMLError, RecursionError) as exc:
            fail(f"--param {name.strip()}: not a plain YAML value ({str(exc).splitlines()[0][:120]})")
    if predictions:
        parameters["predictions"] = predictions
    from portraitcraft.book.inputs import check_inputs

    problems = check_inputs(data, predictions)  # in seconds, before any chapter runs: one line per problem
    if problems:
        for line in problems:
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(2)
    from portraitcraft.progress import bars_shown

    build_book(data, out=out, parameters=parameters, only=only or None, html=html, force=force, jobs=jobs,
               progress=bars_shown(progress))


def report(
    data: str = DATA_ARGUMENT,
    out: Path = typer.Option(..., "--out",
        help="Folder for figure2a/figure2b/table2/table3 .csv and .json (created if needed)."),
    predictions: list[Path] = typer.Option([], "--predictions", "-p",
        help="A Track 1 prediction file: one computed row of Table 3. Repeatable."),
    bootstrap: int = typer.Option(1000, "--bootstrap", min=0,
        help="Bootstrap resamples of images for Table 3's intervals (0: none)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap, the chance predictor and the validation split."),
    validation_fraction: float = typer.Option(0.1, "--validation-fraction", min=0.01, max=0.99,
        help="Share of train held out for Table 3 where the test labels are hidden."),
) -> None:
    """Write the paper's Figure 2, Table 2 and Table 3 as data (CSV and JSON), without building the book.

    Where the test labels are hidden, Table 3 is scored on a validation split of train and each prediction file is also written as an official submission (OUT/submissions/). Exit codes: 0 written; 2 the data or a prediction file cannot be read, or OUT cannot be written.
    """  # noqa: E501 (the command's help: typer keeps a docstring's line breaks)
    from portraitcraft.paper import write_report

    written = write_report(data, out, predictions, n_bootstrap=bootstrap, seed=seed,
                           validation_fraction=validation_fraction)
    for line in written.lines():
        typer.echo(line)
