"""What the commands share: options declared once and the output conventions ('-' is standard output)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

# Options that several commands share, declared once (typer reads the same declaration for each command).
DATA_ARGUMENT = typer.Argument(..., help="A PortraitCraft root folder, 'lab', or a Hugging Face dataset id.")
PROGRESS_OPTION = typer.Option(True, "--progress/--no-progress", help="Show a progress bar.")
SPLIT_OPTION = typer.Option("test", "--split",
    help=("Track 1 split to predict: test (for a submission), train, or validation: the seeded held-out part of train "
          "(fraction 0.1, seed 0) that the book scores where the test labels are hidden."))
BASE_URL_OPTION = typer.Option("http://127.0.0.1:8000/v1", "--base-url",
    help="openai: the server's base URL (ending in /v1).")
API_KEY_OPTION = typer.Option(None, "--api-key",
    help="openai: the API key (default: $PORTRAITCRAFT_API_KEY, else $OPENAI_API_KEY); never recorded.")
CONCURRENCY_OPTION = typer.Option(8, "--concurrency", min=1, help="openai: requests in flight at once.")
DEVICE_OPTION = typer.Option("auto", "--device", help="auto (cuda when available), cpu, cuda, cuda:1, ...")
DTYPE_OPTION = typer.Option("auto", "--dtype",
    help="auto (bfloat16 on cuda, float32 on cpu), bfloat16, float16, float32.")
MAX_SIDE_OPTION = typer.Option(512, "--max-side", min=64, help="Images are decoded with this longer side.")
JOBS_OPTION = typer.Option(1, "--jobs", min=1, help="Processes for feature extraction and cross-validation.")
PROGRESS_BARS_OPTION = typer.Option(True, "--progress/--no-progress",
    help="Show progress bars (feature extraction, model fitting).")
MODEL_DIR_OPTION = typer.Option(None, "--model-dir",
    help=("features: a model saved by `baseline train` (default: the lab's, data/lab/runs/feature-baseline.model, "
          "made by `make baseline`)."))
DESCRIPTIONS_OPTION = typer.Option(..., "--descriptions", "-d",
    help="Track 2 records (track_2_*.json): image_path, content_description, composition_analysis.")


STDOUT = "-"  # as an output path: write to standard output instead of a file


def is_stdout(path: Path | str | None) -> bool:
    return path is not None and str(path) == STDOUT


def show_report(report: Any, json_out: Path | None, inputs: dict[str, Any] | None = None) -> None:
    """Print a report's table on standard error and, when asked, write it as JSON (one line naming the file if it
    cannot be).

    Standard output carries data only when asked: ``--json -`` writes the JSON there, alone. A JSON path that is
    one of ``inputs`` (role -> path) is refused before anything is written."""
    from portraitcraft.outputs import check_target, refuse_inputs

    if is_stdout(json_out):
        from portraitcraft.provenance import json_text

        typer.echo(report.to_text(), err=True)
        typer.echo(json_text(report.as_dict()), nl=False)
        return
    if json_out is not None:
        # refused before the table is printed: a refusal is the command's one answer
        refuse_inputs(json_out, inputs or {})
        check_target(json_out)
    typer.echo(report.to_text(), err=True)
    if json_out is not None:
        report.write_json(json_out)
        typer.echo(f"\nwrote {json_out}", err=True)


def finish_run(summary: Any) -> None:
    """The end of a prediction run (a `runners.base.RunSummary`): its lines, then exit 1 when images failed."""
    for line in summary.lines():
        typer.echo(line)
    if summary.failures:
        typer.echo(f"error: {len(summary.failures)} of {summary.selected} image(s) failed "
                   f"(recorded as failed in {summary.out})", err=True)
        raise typer.Exit(1)
