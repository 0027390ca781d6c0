"""The `baseline` group: train the CPU feature baseline and predict with it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from portraitcraft.cli.common import (
    DATA_ARGUMENT,
    JOBS_OPTION,
    MAX_SIDE_OPTION,
    PROGRESS_BARS_OPTION,
    SPLIT_OPTION,
    finish_run,
)
from portraitcraft.cli.contract import Program

baseline_app = Program(
    help="The CPU composition-feature baseline (OpenCV features + scikit-learn; no GPU, no download).",
    no_args_is_help=True)


@baseline_app.command("train")
def baseline_train(
    data: str = DATA_ARGUMENT,
    model_dir: Path = typer.Option(..., "--model-dir", help="Where to save model.skops and manifest.json."),
    max_side: int = MAX_SIDE_OPTION,
    grid: Literal["linear", "small"] = typer.Option("small", "--grid",
        help="Model search: linear (ridge/logistic) or small (+ random forests)."),
    jobs: int = JOBS_OPTION,
    seed: int = typer.Option(0, "--seed", help="Seed of the folds and forests."),
    progress: bool = PROGRESS_BARS_OPTION,
) -> None:
    """Extract features of the labelled training images, choose models by cross-validation, save them.

    Exit codes: 0 saved; 2 the data cannot be used."""
    import json

    from portraitcraft.baseline import train_on_dataset

    model = train_on_dataset(data, model_dir, max_side=max_side, grid=grid, seed=seed, n_jobs=jobs,
                             cache_dir=model_dir / "feature_cache", progress=progress)
    typer.echo(json.dumps({"model_dir": str(model_dir), **model.info, "cv": model.cv}, indent=2, default=str))


@baseline_app.command("predict")
def baseline_predict(
    data: str = DATA_ARGUMENT,
    out: Path = typer.Option(..., "--out",
        help="JSON Lines predictions (portraitcraft.prediction/1); resumed when it exists."),
    model_dir: Path | None = typer.Option(None, "--model-dir",
        help="A saved model (default OUT.model beside OUT; trained there when absent)."),
    split: str = SPLIT_OPTION,
    max_side: int = MAX_SIDE_OPTION,
    grid: Literal["linear", "small"] = typer.Option("small", "--grid",
        help="Model search when training: linear or small."),
    jobs: int = JOBS_OPTION,
    progress: bool = PROGRESS_BARS_OPTION,
) -> None:
    """Predict a Track 1 split with the feature baseline (training first when no saved model exists); rerun to resume.

    Exit codes: 0 every image predicted; 1 the run finished but some images failed (listed, recorded as failed); 2 the data, the output or the saved model cannot be used."""  # noqa: E501 (the command's help: typer keeps a docstring's line breaks)
    from portraitcraft.baseline import predict_feature_baseline

    summary = predict_feature_baseline(data, out, model_dir, split=split, max_side=max_side, grid=grid, n_jobs=jobs,
                                       progress=progress)
    finish_run(summary)
