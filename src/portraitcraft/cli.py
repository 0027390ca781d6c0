"""The `portraitcraft` command-line program. Each command is a thin shell over a library function."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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


def _show_version(value: bool) -> None:
    if value:
        from portraitcraft import __version__

        typer.echo(f"portraitcraft {__version__}")
        raise typer.Exit()


# Options that several commands share, declared once (typer reads the same declaration for each command).
DATA_ARGUMENT = typer.Argument(..., help="A PortraitCraft root folder, 'lab', or a Hugging Face dataset id.")
PROGRESS_OPTION = typer.Option(True, "--progress/--no-progress", help="Show a progress bar.")
SPLIT_OPTION = typer.Option("test", "--split", help="Track 1 split to predict.")
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
DESCRIPTIONS_OPTION = typer.Option(..., "--descriptions", "-d",
    help="Track 2 records (track_2_*.json): image_path, content_description, composition_analysis.")


@app.callback()
def _group(
    version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Keeps `portraitcraft COMMAND` a command group even while it has a single command."""


STDOUT = "-"  # as an output path: write to standard output instead of a file


def is_stdout(path: Path | str | None) -> bool:
    return path is not None and str(path) == STDOUT


def fail(message: str, code: int = 2) -> None:
    """One clear line on stderr and a non-zero exit, instead of a traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def validate(
    data: str = DATA_ARGUMENT,
    strict: bool = typer.Option(True, "--strict/--lenient",
        help="Strict: exit 1 when any error is found. Lenient: report, exit 0."),
    check_images: bool = typer.Option(True, "--check-images/--no-check-images",
        help="Open every image header to catch unreadable files."),
    max_problems: int = typer.Option(50, help="Print at most this many problems (all are counted)."),
    progress: bool = typer.Option(True, "--progress/--no-progress",
        help="Show a progress bar while image headers are read."),
) -> None:
    """Check a PortraitCraft root and name every problem with its file and record.

    Exit codes: 0 no errors (or --lenient); 1 errors found in strict mode; 2 the data cannot be read at all (no such folder, malformed JSON: one line with file, line and column).
    """  # noqa: E501 (the command's help: typer keeps a docstring's line breaks)
    from portraitcraft.data import DataError, iter_problems, open_dataset
    from portraitcraft.lab import resolve_lab_name

    try:
        dataset = open_dataset(resolve_lab_name(data), strict=False, check_images=check_images, progress=progress)
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
    data: str = typer.Option("data/lab",
        help="The dataset every notebook reads (its `data` parameter): a folder, 'lab', or a Hugging Face dataset id."),
    out: Path | None = typer.Option(None,
        help="Build folder (default: book/ of the repository); the HTML lands in OUT/_build/html."),
    param: list[str] = typer.Option([], "--param", "-p",
        help="NAME=VALUE (YAML value) for every notebook declaring NAME, e.g. -p max_side=256. Repeatable."),
    only: list[str] = typer.Option([],
        help=("Execute only this chapter (notebook name without .py, e.g. 03_table2); others keep their last run, and "
              "the HTML is built once every chapter has been executed. Repeatable.")),
    html: bool = typer.Option(True, "--html/--no-html", help="Build the HTML after executing the notebooks."),
    predictions: list[str] = typer.Option([], "--predictions",
        help="A Track 1 prediction file, for the notebooks declaring a `predictions` parameter (a list). Repeatable."),
    force: bool = typer.Option(False, "--force",
        help="Execute every page and rebuild the HTML even where their inputs did not change."),
    jobs: int = typer.Option(min(2, os.cpu_count() or 1), "--jobs", "-j", min=1,
        help="Pages executed at a time, each in its own kernel (default: 2, or 1 on a single core)."),
) -> None:
    """Execute the book's notebooks (papermill) on DATA and build the HTML book (Jupyter Book, warnings are errors).

    A page is executed again only when its source, its parameters, the portraitcraft code or a file given as a parameter changed; the HTML is rebuilt only when a page or the book's configuration changed (--force: everything).

    One chapter: `portraitcraft book --only 04_table3` (its executed notebook lands in book/executed/). Without this command, from any folder: `jupytext --to ipynb notebooks/04_table3.py -o ch.ipynb && papermill ch.ipynb out.ipynb -p data /path/to/data/lab` (the README's "Run one chapter").

    Exit codes: 0 built; 1 a notebook failed (named with its cell; the partial notebook is kept in book/executed/) or Sphinx reported warnings; 2 bad options.
    """  # noqa: E501 (the command's help: typer keeps a docstring's line breaks)
    import yaml

    from portraitcraft.book.build import BookError, build_book

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
    try:
        build_book(data, out=out, parameters=parameters, only=only or None, html=html, force=force, jobs=jobs)
    except BookError as exc:  # includes a failing notebook, named with its cell
        fail(str(exc), code=1)


def show_report(report: Any, json_out: Path | None, inputs: dict[str, Any] | None = None) -> None:
    """Print a report's table and, when asked, write it as JSON (one line naming the file if it cannot be).

    With ``--json -`` the JSON goes to standard output alone and the table to standard error. A JSON path that is
    one of ``inputs`` (role -> path) is refused before anything is written."""
    from portraitcraft.outputs import OutputError, check_target, refuse_inputs

    if is_stdout(json_out):
        from portraitcraft.provenance import json_text

        typer.echo(report.to_text(), err=True)
        typer.echo(json_text(report.as_dict()), nl=False)
        return
    if json_out is not None:
        try:  # refused before the table is printed: a refusal is the command's one answer
            refuse_inputs(json_out, inputs or {})
            check_target(json_out)
        except OutputError as exc:
            fail(str(exc))
    typer.echo(report.to_text())
    if json_out is not None:
        try:
            report.write_json(json_out)
        except OutputError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"{json_out}: cannot write ({exc.strerror})")
        typer.echo(f"\nwrote {json_out}")


@app.command()
def evaluate(
    predictions: Path = typer.Option(..., "--predictions", "-p",
        help="Predictions: submission format, reference raw output, or the project's JSON Lines (detected)."),
    ground_truth: Path = typer.Option(..., "--ground-truth", "-g",
        help=("Ground truth: the lab's track_1_test_ground_truth.json (or its folder), a train-style file, or a test "
              "file with labels filled in.")),
    json_out: Path | None = typer.Option(None, "--json",
        help="Also write the whole report as JSON here ('-': to standard output, the table to standard error)."),
    compare: Path | None = typer.Option(None, "--compare",
        help="A second prediction file B: paired bootstrap of A - B on the same images."),
    bootstrap: int = typer.Option(1000, "--bootstrap", min=0,
        help="Bootstrap resamples of images for the intervals (0: none)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap resamples."),
    skip_invalid_scores: bool = typer.Option(False, "--skip-invalid-scores",
        help="Leave images without a valid score out of SRCC/PLCC instead of imputing the mean."),
) -> None:
    """Score Track 1 predictions: SRCC, PLCC, Level Acc, QA Acc, Overall, each with a 95% CI and its coverage.

    Exit codes: 0 scored (even when a metric is undefined: it is NaN and flagged); 2 a file cannot be read or is malformed (one line naming the file and record).
    """  # noqa: E501 (the command's help: typer keeps a docstring's line breaks)
    from portraitcraft.data import DataError
    from portraitcraft.evaluation import evaluate as run_evaluation

    try:
        report = run_evaluation(predictions, ground_truth, n_bootstrap=bootstrap, seed=seed,
                                skip_invalid_scores=skip_invalid_scores, compare=compare)
    except DataError as exc:
        fail(str(exc))
    show_report(report, json_out, {"predictions": predictions, "ground truth": report.truth.path,
                                   "comparison": compare})


@app.command()
def submission(
    predictions: Path = typer.Argument(..., help="Predictions in any of the three formats (see `evaluate`)."),
    test_file: Path = typer.Option(..., "--test-file",
        help="The Track 1 test file (track_1_test.json): sets the images, their order, questions and options."),
    out: Path = typer.Option(..., "--out", help="Where to write the official submission JSON ('-': standard output)."),
) -> None:
    """Write the official Track 1 submission with every test image present.

    A missing or invalid prediction is written as NOT_RES (levels, answer) or null (total_score), never guessed. Exit codes: 0 written; 2 a file cannot be read or is malformed.
    """  # noqa: E501 (the command's help: typer keeps a docstring's line breaks)
    import tempfile

    from portraitcraft.data import DataError
    from portraitcraft.outputs import OutputError
    from portraitcraft.predictions import read_predictions, write_submission

    to_stdout = is_stdout(out)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            target = Path(scratch) / "submission.json" if to_stdout else out
            summary = write_submission(read_predictions(predictions), test_file, target)
            if to_stdout:
                typer.echo(target.read_text(encoding="utf-8"), nl=False)
    except (DataError, OutputError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{out}: cannot write ({exc.strerror})")
    for line in summary.lines():
        typer.echo(line, err=to_stdout)


@app.command()
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
    from portraitcraft.data import DataError
    from portraitcraft.paper import write_report

    try:
        written = write_report(data, out, predictions, n_bootstrap=bootstrap, seed=seed,
                               validation_fraction=validation_fraction)
    except DataError as exc:  # includes an unreadable prediction file, named with its record
        fail(str(exc))
    except OSError as exc:
        fail(f"{out}: cannot write ({exc.strerror})")
    for line in written.lines():
        typer.echo(line)


@app.command()
def export(
    data: str = DATA_ARGUMENT,
    out: Path = typer.Argument(..., help="Folder to write into (created if needed): OUT/track_1 and OUT/track_2."),
    to: str = typer.Option("hf", "--to", help="hf: Hugging Face `datasets` (Arrow, DatasetDict.save_to_disk)."),
) -> None:
    """Save the data for other tools: `--to hf` writes each track as a Hugging Face `datasets.DatasetDict` (Arrow).

    Splits as in the root; columns: the image, the 13 levels as ClassLabel, the scores, reasons, question and options.

    Load with `datasets.load_from_disk("OUT/track_1")`, or `portraitcraft validate OUT` (any command takes OUT as
    its data); upload with `.push_to_hub(...)` where a hub is reachable. Exit codes: 0 written; 2 the data cannot be
    read or OUT cannot be written.
    """
    from portraitcraft.data import DataError, open_dataset
    from portraitcraft.lab import resolve_lab_name

    if to != "hf":
        fail(f"--to {to!r}: expected hf")
    try:
        from portraitcraft.hf import save

        dataset = open_dataset(resolve_lab_name(data))
        written = save(dataset, out)
    except (DataError, ValueError, ImportError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{out}: cannot write ({exc.strerror or exc})")
    for folder in written:
        typer.echo(f"wrote {folder}")


@app.command("demo-data")
def demo_data(
    out: Path = typer.Argument(..., help="Folder to write the synthetic PortraitCraft into (created if needed)."),
    n_train: int = typer.Option(300, help="Track 1 training records (and images)."),
    n_test: int = typer.Option(100, help="Track 1 test records; their labels go to track_1_test_ground_truth.json."),
    n_track2: int = typer.Option(24, help="Track 2 records in each of track_2_train.json and track_2_test.json."),
    seed: int = typer.Option(0, help="Same seed, same bytes (JSON and JPEG)."),
    annotations_only: bool = typer.Option(False, "--annotations-only",
        help="Write the JSON files only, no images (scale tests)."),
    images_per_folder: int = typer.Option(100,
        help="Consecutive images per images_NN folder (eleven folders at most, then wrap)."),
    workers: int = typer.Option(0, help="Processes for rendering; 0 = one per CPU. The output does not depend on it."),
    progress: bool = PROGRESS_OPTION,
) -> None:
    """Render the composition lab: a synthetic PortraitCraft in the published layout, with known factors.

    Exit codes: 0 written; 2 bad options or the folder cannot be written (or holds a real download).
    """
    import os

    from portraitcraft.lab import write_lab

    try:
        summary = write_lab(
            out, n_train=n_train, n_test=n_test, n_track2_train=n_track2, n_track2_test=n_track2, seed=seed,
            annotations_only=annotations_only, images_per_folder=images_per_folder,
            workers=workers or (os.cpu_count() or 1), progress=progress,
        )
    except (ValueError, FileExistsError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{out}: cannot write ({exc.strerror})")
    typer.echo(str(summary))


@app.command()
def predict(
    data: str = typer.Option(..., "--data", help="A PortraitCraft root folder, 'lab', or a Hugging Face dataset id."),
    out: Path = typer.Option(..., "--out",
        help=("JSON Lines predictions (portraitcraft.prediction/1); an existing file of the same configuration is "
              "resumed.")),
    split: str = SPLIT_OPTION,
    backend: str = typer.Option("transformers", "--backend",
        help=("Model backend: transformers (Qwen3-VL in this process) or openai (a chat-completions server: vLLM, "
              "SGLang, LMDeploy, a hosted API).")),
    model: str = typer.Option("Qwen/Qwen3-VL-4B-Instruct", "--model",
        help="Hugging Face model id or local model folder; with --backend openai, the served model's name."),
    base_url: str = BASE_URL_OPTION,
    api_key: str | None = API_KEY_OPTION,
    concurrency: int = CONCURRENCY_OPTION,
    timeout: float = typer.Option(300.0, "--timeout", min=0.001,
        help=("openai: seconds without an answer before a request is retried (connection errors, timeouts, 429 and 5xx "
              "are retried with backoff).")),
    revision: str | None = typer.Option(None, "--revision", help="Hub branch, tag or commit (model ids only)."),
    protocol: str = typer.Option("generate", "--protocol",
        help=("generate: the reference JSON prompt, parsed; score: token probabilities of the candidates, no free "
              "text.")),
    limit: int | None = typer.Option(None, "--limit", min=0, help="Only the first N images of the split."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1,
        help=("Images per forward pass, left padded (default 1); openai: images per round of concurrent requests "
              "(default: --concurrency).")),
    device: str = DEVICE_OPTION,
    dtype: str = DTYPE_OPTION,
    max_pixels: int = typer.Option(2048 * 2048, "--max-pixels", min=1,
        help="The processor's pixel budget per image (recorded)."),
    min_pixels: int | None = typer.Option(None, "--min-pixels", min=1,
        help="The processor's minimum pixels per image (default: the processor's own)."),
    sampling: str = typer.Option("greedy", "--sampling",
        help="generate: greedy, or reference (temperature 0.2, top-p 0.9)."),
    max_new_tokens: int = typer.Option(512, "--max-new-tokens", min=1, help="generate: token limit of an answer."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampling (per batch, with the image names)."),
    attn_implementation: str | None = typer.Option(None, "--attn-implementation",
        help="sdpa, eager, flash_attention_2 (default: transformers' choice)."),
    score_impl: str = typer.Option("block", "--score-impl",
        help=("score: block (one prefix per image, all slot heads after it under a block mask) or reference (the "
              "prefix's cache copied per slot; same records, slower).")),
    decode_impl: str = typer.Option("auto", "--decode-impl",
        help=("generate: compiled (static KV cache, torch.compile'd decoding), static (no compiling), dynamic "
              "(transformers' default); auto: compiled on cuda, dynamic on cpu.")),
    shard: str | None = typer.Option(None, "--shard",
        help=("I/N: predict only shard I of N (0 <= I < N; images assigned by a hash of their name), e.g. one per GPU, "
              "each with its own --out; then `portraitcraft merge`.")),
    image_device: str = typer.Option("auto", "--image-device",
        help=("Where images are resized and normalised: auto (score: the GPU when the model is on one and the "
              "processor is torchvision-backed; generate: the CPU), cpu, cuda, ... (recorded).")),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar (images/s, ETA)."),
) -> None:
    """Run a model on a Track 1 split and append one prediction record per image; rerun to resume.

    Then score with `portraitcraft evaluate -p OUT -g GROUND_TRUTH`. Exit codes: 0 every image predicted; 1 the run finished but some images failed (listed, recorded as failed); 2 the run cannot start (data, model or output file).
    """  # noqa: E501 (the command's help: typer keeps a docstring's line breaks)
    from portraitcraft.data import DataError, open_dataset
    from portraitcraft.lab import resolve_lab_name
    from portraitcraft.outputs import prepare_jsonl_resume
    from portraitcraft.predictions import SCHEMA
    from portraitcraft.runners import RunError, run_predictions, split_items
    from portraitcraft.runners.backends import BACKENDS, make_backend
    from portraitcraft.runners.openai_compat import ServerCheckError
    from portraitcraft.runners.qwen import ModelLoadError
    from portraitcraft.runners.shards import parse_shard, shard_items

    if backend not in BACKENDS:
        fail(f"--backend {backend!r}: expected transformers or openai")
    try:
        dataset = open_dataset(resolve_lab_name(data))
        items = split_items(dataset, split, limit)  # a wrong split or limit fails here, before any model is loaded
        if shard is not None:
            items = shard_items(items, *parse_shard(shard))
        # A folder, a link, a device or a file that cannot be resumed at --out fails here, before any model is loaded.
        prepare_jsonl_resume(out, None, schema=SCHEMA, what="predictions", repair=False)
        runner = make_backend(
            backend, model=model, protocol=protocol, sampling=sampling, max_new_tokens=max_new_tokens, seed=seed,
            base_url=base_url, api_key=api_key, concurrency=concurrency, timeout_s=timeout, revision=revision,
            device=device, dtype=dtype, attn_implementation=attn_implementation, max_pixels=max_pixels,
            min_pixels=min_pixels, score_impl=score_impl, decode_impl=decode_impl, image_device=image_device)
        batch_size = batch_size or (concurrency if backend == "openai" else 1)
        summary = run_predictions(runner, dataset, split=split if shard is None else f"{split} shard {shard}",
                                  out=out, batch_size=batch_size, progress=progress, items=items)
    except (ValueError, DataError, ModelLoadError, ServerCheckError, RunError) as exc:
        fail(str(exc))
    for line in summary.lines():
        typer.echo(line)
    if summary.failures:
        typer.echo(f"error: {len(summary.failures)} of {summary.selected} image(s) failed "
                   f"(recorded as failed in {out})", err=True)
        raise typer.Exit(1)


@app.command()
def merge(
    files: list[Path] = typer.Argument(..., help="The shard files written by `predict --shard I/N` (JSON Lines)."),
    out: Path = typer.Option(..., "--out", help="The merged JSON Lines file (must not exist yet)."),
    data: str | None = typer.Option(None, "--data",
        help=("The dataset the shards predicted: the merged file follows its split's order, and images no shard "
              "recorded are reported.")),
    split: str = typer.Option("test", "--split", help="With --data: the Track 1 split the shards predicted."),
    limit: int | None = typer.Option(None, "--limit", min=0, help="With --data: the --limit the shards ran with."),
) -> None:
    """Merge the prediction files of the shards of one run (`predict --shard I/N`) into one file.

    Refused: records of different configurations, an image recorded twice, a shard file with an unfinished last line (resume that shard first), images not in the split, an existing --out. Exit codes: 0 merged, every image of the split recorded (or no --data); 1 merged, but images are missing (listed; `predict` without --shard and with --out the merged file completes it); 2 refused.
    """  # noqa: E501 (the command's help: typer keeps a docstring's line breaks)
    from portraitcraft.data import DataError, open_dataset
    from portraitcraft.runners import RunError, split_items
    from portraitcraft.runners.shards import ShardError, merge_shard_files

    try:
        expected = None
        if data is not None:
            expected = [item.image_path for item in split_items(open_dataset(data), split, limit)]
        summary = merge_shard_files(files, out, expected)
    except (ShardError, DataError, RunError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{out}: cannot write ({exc.strerror})")
    for line in summary.lines():
        typer.echo(line)
    if summary.missing:
        raise typer.Exit(1)


@app.command()
def assess(
    folder: Path = typer.Argument(...,
        help="A folder of photos (searched recursively): jpg, jpeg, png, webp, bmp, tif, tiff."),
    backend: str = typer.Option("features", "--backend",
        help=("features: the CPU feature baseline (a trained model, see --model-dir); qwen: Qwen3-VL in this process; "
              "openai: a chat-completions server (vLLM, SGLang, a hosted API).")),
    protocol: str = typer.Option("score", "--protocol",
        help=("qwen/openai: score (token probabilities of the levels) or generate (the reference prompt's text, "
              "parsed; reasons where the model writes them).")),
    out: str = typer.Option("-", "--out", "-o",
        help="Where the rows go: FILE.csv or FILE.jsonl, or '-' for standard output (JSON Lines)."),
    json_out: str | None = typer.Option(None, "--json",
        help="Shorthand for --out PATH --format jsonl ('-': standard output)."),
    fmt: str | None = typer.Option(None, "--format", help="csv or jsonl (default: from --out's suffix)."),
    records: Path | None = typer.Option(None, "--records",
        help=("The run's prediction records, kept to resume (default: OUT.records.jsonl beside OUT; for standard "
              "output, the cache).")),
    model_dir: Path | None = typer.Option(None, "--model-dir",
        help=("features: a model saved by `baseline train` (default: the lab's, data/lab/runs/feature-baseline.model, "
              "made by `make baseline`).")),
    model: str = typer.Option("Qwen/Qwen3-VL-4B-Instruct", "--model",
        help="qwen: Hugging Face model id or local folder; openai: the served model's name."),
    base_url: str = BASE_URL_OPTION,
    api_key: str | None = API_KEY_OPTION,
    concurrency: int = CONCURRENCY_OPTION,
    top_logprobs: int = typer.Option(20, "--top-logprobs", min=1,
        help=("openai, score: length of the top list read per slot (OpenAI and vLLM allow 20 by default; vLLM's "
              "--max-logprobs raises it).")),
    device: str = typer.Option("auto", "--device", help="qwen: auto (cuda when available), cpu, cuda, cuda:1, ..."),
    dtype: str = typer.Option("auto", "--dtype",
        help="qwen: auto (bfloat16 on cuda, float32 on cpu), bfloat16, float16, float32."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1,
        help="Images per forward pass (default 1; openai: --concurrency)."),
    limit: int | None = typer.Option(None, "--limit", min=0, help="Only the first N images (in path order)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar (on standard error)."),
) -> None:
    """Score every photo in a folder: one row per image (overall score, the 13 levels, their probabilities, reasons).

    Probabilities come with the score protocol and the feature baseline; reasons where the model writes them.

    Resumable: the prediction records are kept (--records) and a rerun predicts only what is missing. Rows are CSV
    or JSON Lines (see the portraitcraft.assess module for the columns). Exit codes: 0 every image scored; 1 some
    images failed (rows with status "failed" and the error); 2 the run cannot start (folder, model, output).
    """
    from portraitcraft.assess import (
        FolderError,
        ImageFolder,
        assess_folder,
        assessment_rows,
        default_records,
        format_for,
        format_rows,
    )
    from portraitcraft.outputs import OutputError, check_target, refuse_inputs, write_atomic
    from portraitcraft.runners.base import ModelLoadError, RunError, config_hash
    from portraitcraft.runners.openai_compat import ServerCheckError

    if json_out is not None:
        out, fmt = json_out, fmt or "jsonl"
    if backend not in ("features", "qwen", "openai"):
        fail(f"--backend {backend!r}: expected features, qwen or openai")
    try:
        output_format = format_for(out, fmt)
        images = ImageFolder(folder)  # the folder is checked before any model is loaded
        if backend == "features":
            from portraitcraft.runners.features import FeatureBackend

            runner: Any = FeatureBackend(model_dir)
        else:
            from portraitcraft.runners.backends import make_backend

            runner = make_backend("transformers" if backend == "qwen" else "openai", model=model, protocol=protocol,
                                  device=device, dtype=dtype, base_url=base_url, api_key=api_key,
                                  concurrency=concurrency, top_logprobs=top_logprobs)
        record_file = records or default_records(out, images, config_hash(runner.config()))
        if not is_stdout(out):
            refuse_inputs(out, {"--records": record_file})  # before any image is predicted
            check_target(out)
        summary = assess_folder(runner, images, records=record_file, limit=limit, progress=progress,
                                batch_size=batch_size or (concurrency if backend == "openai" else 1))
    except (FolderError, ValueError, ModelLoadError, ServerCheckError, RunError) as exc:
        fail(str(exc))
    rows = assessment_rows(images, record_file)
    if limit is not None:
        rows = rows[:limit]
    text = "".join(format_rows(rows, output_format))
    if is_stdout(out):
        typer.echo(text, nl=False)
    else:
        try:
            write_atomic(out, text, inputs={"--records": record_file})
        except OutputError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"{out}: cannot write ({exc.strerror})")
    for line in summary.lines():
        typer.echo(line, err=True)
    if not is_stdout(out):
        typer.echo(f"wrote {len(rows)} row(s) to {out}", err=True)
    if summary.failures:
        raise typer.Exit(1)


@app.command()
def finetune(
    data: str = typer.Option(..., "--data",
        help="A PortraitCraft root folder, 'lab', or a Hugging Face dataset id; its Track 1 train split is used."),
    model: str = typer.Option("Qwen/Qwen3-VL-4B-Instruct", "--model",
        help="The Qwen3-VL to start from: Hugging Face model id or local model folder."),
    out: Path = typer.Option(..., "--out",
        help=("Output folder: the checkpoint (loadable by `predict --model OUT`), finetune.json, log.jsonl, "
              "training_state/. An existing run there is resumed.")),
    target: str = typer.Option("generate", "--target",
        help=("generate: the reference conversion's JSON (levels, reasons, total score) after the generate prompt; "
              "score: the words the score protocol reads.")),
    reasons: bool = typer.Option(True, "--reasons/--no-reasons",
        help="generate: write each criterion as {level, reason} (the reference) or its bare level (a shorter answer)."),
    lora: bool = typer.Option(False, "--lora",
        help=("LoRA adapters on the language model (peft) instead of full updates; the mergers are still trained in "
              "full. Saved merged.")),
    lora_rank: int = typer.Option(16, "--lora-rank", min=1, help="LoRA rank r."),
    lora_alpha: int = typer.Option(32, "--lora-alpha", min=1, help="LoRA alpha (scale alpha / r)."),
    lora_dropout: float = typer.Option(0.05, "--lora-dropout", min=0.0, max=1.0, help="LoRA dropout."),
    epochs: float = typer.Option(2.0, "--epochs", min=0.0001, help="Passes over the training images (the paper: 2)."),
    lr: float = typer.Option(1e-5, "--lr", min=0.0,
        help="Peak learning rate (the paper: 1e-5); 3% warm-up, then cosine decay."),
    batch_size: int = typer.Option(4, "--batch-size", min=1,
        help="Images per forward pass, on each process (the paper: 4)."),
    grad_accum: int = typer.Option(4, "--grad-accum", min=1,
        help=("Micro-batches per optimizer step, over all processes (the paper: 4; 16 images per step). Under torchrun "
              "/ accelerate launch with N processes each runs grad-accum / N of them; N must divide it.")),
    max_pixels: int = typer.Option(50176, "--max-pixels", min=1,
        help=("The processor's pixel budget per image (the reference training script: 50176 = 224x224). Predict with "
              "the same.")),
    min_pixels: int = typer.Option(784, "--min-pixels", min=1,
        help="The processor's minimum pixels per image (the reference training script: 784)."),
    warmup_ratio: float = typer.Option(0.03, "--warmup-ratio", min=0.0, max=0.99,
        help="Share of the steps with a linear warm-up before the cosine decay (the reference script: 0.03)."),
    weight_decay: float = typer.Option(0.0, "--weight-decay", min=0.0,
        help="AdamW weight decay (the reference script: 0)."),
    max_grad_norm: float = typer.Option(1.0, "--max-grad-norm", min=0.0,
        help="Clip the gradient norm to this (0: no clipping; the reference script: 1)."),
    validation_fraction: float = typer.Option(0.1, "--validation-fraction", min=0.001, max=0.999,
        help=("Share of train held out, chosen by --seed; the same as `portraitcraft report`'s validation split for "
              "the same fraction and seed.")),
    seed: int = typer.Option(0, "--seed", help="Seed of the validation split and the data order."),
    limit: int | None = typer.Option(None, "--limit", min=1,
        help="Train on the first N training images only (smoke runs)."),
    max_steps: int | None = typer.Option(None, "--max-steps", min=1,
        help="Length of the run in optimizer steps (default: from --epochs)."),
    stop_after: int | None = typer.Option(None, "--stop-after", min=1,
        help="Stop and save after this optimizer step; rerun to continue (e.g. within a time-limited lease)."),
    eval_every: int = typer.Option(250, "--eval-every", min=0,
        help="Optimizer steps between validations (also at the start and the end; 0: only those)."),
    save_every: int = typer.Option(500, "--save-every", min=0,
        help="Optimizer steps between checkpoints (also at the end; 0: only then)."),
    validation_predict: int = typer.Option(32, "--validation-predict", min=0,
        help=("generate: validation images also predicted by the runner at each validation, for Level Acc / SRCC / "
              "PLCC (score: all, from the loss pass).")),
    validation_batches: int | None = typer.Option(None, "--validation-batches", min=1,
        help="Validation loss on the first N batches only (default: the whole split)."),
    device: str = DEVICE_OPTION,
    precision: str = typer.Option("auto", "--precision",
        help=("auto (bf16-mixed on cuda, fp32 on cpu), bf16-mixed (float32 weights, bfloat16 compute), bf16 (all "
              "bfloat16: least memory, small updates are lost), fp32.")),
    gradient_checkpointing: bool | None = typer.Option(None, "--gradient-checkpointing/--no-gradient-checkpointing",
        help="Recompute activations in the backward pass (default: on for cuda with --target generate)."),
    strategy: str = typer.Option("ddp", "--strategy",
        help=("Under torchrun / accelerate launch: ddp (each GPU holds the whole model) or fsdp (weights and optimizer "
              "state sharded over the GPUs; generate target, no --lora, --validation-predict 0).")),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar (steps/s, ETA, loss)."),
) -> None:
    """Fine-tune Qwen3-VL on the Track 1 training split (the fine-tuned row of Table 3): language model and mergers trained, vision encoder frozen.

    The defaults are the paper's settings. On several GPUs: `torchrun --nproc-per-node N -m portraitcraft.cli finetune ...` (or `accelerate launch --multi-gpu --num-processes N -m portraitcraft.cli finetune ...`): data-parallel, the same 16 images per optimizer step, process 0 writes. Rerun the same command to resume from the last checkpoint. Then predict with the command printed at the end. Exit codes: 0 finished (or stopped at --stop-after); 2 the run cannot start (data, model, output folder, settings).
    """  # noqa: E501 (the command's help: typer keeps a docstring's line breaks)
    from portraitcraft.finetune import FinetuneError, FinetuneSettings, run_finetune

    try:
        settings = FinetuneSettings(
            data=data, model=model, out=str(out), target=target, reasons=reasons, lora=lora, lora_rank=lora_rank,
            lora_alpha=lora_alpha, lora_dropout=lora_dropout, epochs=epochs, lr=lr, batch_size=batch_size,
            grad_accum=grad_accum, max_pixels=max_pixels, min_pixels=min_pixels, warmup_ratio=warmup_ratio,
            weight_decay=weight_decay, max_grad_norm=max_grad_norm, validation_fraction=validation_fraction, seed=seed,
            limit=limit, max_steps=max_steps, device=device,
            precision=precision, gradient_checkpointing=gradient_checkpointing, eval_every=eval_every,
            save_every=save_every, validation_predict=validation_predict, validation_batches=validation_batches,
            stop_after=stop_after, strategy=strategy)
        summary = run_finetune(settings, progress=progress)
    except (ValueError, FinetuneError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{out}: cannot write ({exc.strerror})")
    if os.environ.get("RANK", "0") == "0":  # under torchrun / accelerate launch, process 0 speaks for all
        for line in summary.lines():
            typer.echo(line)


@app.command()
def serve(
    model: str = typer.Option(..., "--model", help="A local transformers Qwen3-VL folder (or a cached hub id)."),
    host: str = typer.Option("127.0.0.1", "--host",
        help="Address to listen on (0.0.0.0: every interface; the server has no authentication)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port (0: any free port)."),
    name: str | None = typer.Option(None, "--served-model-name",
        help="The model name clients send (default: --model as given)."),
    device: str = DEVICE_OPTION,
    dtype: str = DTYPE_OPTION,
    max_pixels: int = typer.Option(2048 * 2048, "--max-pixels", min=1, help="The processor's pixel budget per image."),
) -> None:
    """Serve a local Qwen3-VL with the OpenAI chat-completions protocol (a small, one-request-at-a-time server for
    demos and tests; use vLLM or SGLang for real runs). Then: `portraitcraft predict --backend openai --base-url
    http://HOST:PORT/v1 --model NAME ...`. Exit codes: 0 stopped with Ctrl-C; 2 the model cannot be loaded."""
    from portraitcraft.runners.qwen import ModelLoadError
    from portraitcraft.runners.server import serve as start_server

    try:
        server, thread = start_server(model, host, port, name=name, quiet=False, device=device, dtype=dtype,
                                      max_pixels=max_pixels)
    except (ValueError, ModelLoadError, OSError) as exc:
        fail(str(exc))
    typer.echo(f"serving {server.chat.name} at {server.url} (Ctrl-C stops)")
    try:
        thread.join()
    except KeyboardInterrupt:
        server.shutdown()
        server.server_close()


baseline_app = typer.Typer(
    help="The CPU composition-feature baseline (OpenCV features + scikit-learn; no GPU, no download).",
    no_args_is_help=True)
app.add_typer(baseline_app, name="baseline")


@baseline_app.command("train")
def baseline_train(
    data: str = DATA_ARGUMENT,
    model_dir: Path = typer.Option(..., "--model-dir", help="Where to save model.skops and manifest.json."),
    max_side: int = MAX_SIDE_OPTION,
    grid: str = typer.Option("small", "--grid",
        help="Model search: linear (ridge/logistic) or small (+ random forests)."),
    jobs: int = JOBS_OPTION,
    seed: int = typer.Option(0, "--seed", help="Seed of the folds and forests."),
    progress: bool = PROGRESS_BARS_OPTION,
) -> None:
    """Extract features of the labelled training images, choose models by cross-validation, save them.

    Exit codes: 0 saved; 2 the data cannot be used."""
    import json

    from portraitcraft.baseline import BaselineError, train_on_dataset
    from portraitcraft.data import DataError

    try:
        model = train_on_dataset(data, model_dir, max_side=max_side, grid=grid, seed=seed, n_jobs=jobs,
                                 cache_dir=model_dir / "feature_cache", progress=progress)
    except (BaselineError, DataError, ValueError) as exc:
        fail(str(exc))
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
    grid: str = typer.Option("small", "--grid", help="Model search when training: linear or small."),
    jobs: int = JOBS_OPTION,
    progress: bool = PROGRESS_BARS_OPTION,
) -> None:
    """Predict a Track 1 split with the feature baseline (training first when no saved model exists); rerun to resume.

    Exit codes: 0 every image predicted; 1 the run finished but some images failed (listed, recorded as failed); 2 the data, the output or the saved model cannot be used."""  # noqa: E501 (the command's help: typer keeps a docstring's line breaks)
    from portraitcraft.baseline import BaselineError, predict_feature_baseline
    from portraitcraft.data import DataError

    try:
        summary = predict_feature_baseline(data, out, model_dir, split=split, max_side=max_side, grid=grid, n_jobs=jobs,
                                           progress=progress)
    except (BaselineError, DataError, ValueError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{out}: cannot write ({exc.strerror})")
    for line in summary.lines():
        typer.echo(line)
    if summary.failures:
        typer.echo(f"error: {len(summary.failures)} of {summary.selected} image(s) failed "
                   f"(recorded as failed in {out})", err=True)
        raise typer.Exit(1)


track2_app = typer.Typer(help="Track 2 composition alignment: an open, interpretable scorer of generated portraits "
                              "against their descriptions (not the benchmark's official scorer).",
                         no_args_is_help=True)
app.add_typer(track2_app, name="track2")


@track2_app.command("evaluate")
def track2_evaluate(
    descriptions: Path = DESCRIPTIONS_OPTION,
    images: Path = typer.Option(..., "--images", "-i",
        help="Folder of the images, matched by image_path (directly inside, in images_NN folders, or anywhere below)."),
    extractor: str = typer.Option("cpu", "--extractor",
        help=("cpu: OpenCV measurements and readable rules; vlm: a Qwen3-VL asked one multiple-choice question per "
              "property (needs --model).")),
    model: str | None = typer.Option(None, "--model", help="vlm: a local Qwen3-VL folder or a Hugging Face model id."),
    json_out: Path | None = typer.Option(None, "--json",
        help=("Also write the whole report (every image, property, target, reading, agreement) as JSON here ('-': to "
              "standard output, the table to standard error).")),
    max_side: int = typer.Option(1024, "--max-side", min=64, help="Images are decoded with at most this longer side."),
    rules_only: bool = typer.Option(False, "--rules-only",
        help="Read descriptions with the rules only (skip the sentence-embedding fallback)."),
) -> None:
    """Score images against their Track 2 descriptions: per-property agreement, a weighted overall score per image,
    and coverage. Missing or unreadable images are listed, not fatal.

    Not the official Track 2 scorer. Exit codes: 0 scored; 2 the descriptions cannot be read, the images folder does not exist, or the model cannot be loaded.
    """  # noqa: E501 (the command's help: typer keeps a docstring's line breaks)
    from portraitcraft.data import DataError
    from portraitcraft.runners.base import ModelLoadError
    from portraitcraft.track2.score import evaluate_folder

    if extractor not in ("cpu", "vlm"):
        fail(f"--extractor {extractor!r}: expected cpu or vlm")
    if not images.is_dir():
        fail(f"{images}: not a folder")
    try:
        report = evaluate_folder(descriptions, images, extractor=extractor, model=model, max_side=max_side,
                                 embedder=None if rules_only else "auto")
    except DataError as exc:
        fail(str(exc))
    except (ValueError, ImportError, ModelLoadError) as exc:
        fail(str(exc))
    inside = json_out is not None and not is_stdout(json_out) and json_out.exists() and \
        json_out.resolve().is_relative_to(images.resolve())
    show_report(report, json_out, {"descriptions": descriptions, **({"images folder's": json_out} if inside else {})})


@track2_app.command("generate")
def track2_generate(
    descriptions: Path = DESCRIPTIONS_OPTION,
    out: Path = typer.Option(..., "--out",
        help=("Folder for the images (named by image_path, ready for `track2 evaluate --images`) and generation.jsonl; "
              "a rerun resumes.")),
    model: str = typer.Option("Qwen/Qwen-Image", "--model",
        help=("A diffusers text-to-image pipeline (hub id or local folder), or 'lab' for the composition-lab "
              "generator.")),
    lora: Path | None = typer.Option(None, "--lora",
        help=("A folder of LoRA weights (pytorch_lora_weights.safetensors, as `track2 finetune` writes) loaded on top "
              "of the pipeline.")),
    trigger: str | None = typer.Option(None, "--trigger",
        help="Text put before the prompt (default: 'AES_COMP, ' with --lora, nothing without; --trigger '' for none)."),
    width: int = typer.Option(1024, "--width", min=8, help="Image width, pixels (the reference: 1024)."),
    height: int = typer.Option(1024, "--height", min=8, help="Image height, pixels (the reference: 1024)."),
    steps: int = typer.Option(20, "--steps", min=1, help="Inference steps (the reference: 20)."),
    true_cfg_scale: float = typer.Option(5.0, "--true-cfg-scale",
        help="True classifier-free guidance scale with the negative prompt (the reference: 5)."),
    guidance_scale: float | None = typer.Option(None, "--guidance-scale",
        help="Guidance scale for pipelines that take one (default: the pipeline's own)."),
    negative_prompt: str = typer.Option(" ", "--negative-prompt",
        help="Negative prompt (the reference: a single space)."),
    seed: int = typer.Option(346346, "--seed", help="Seed of every image's noise (the reference: 346346)."),
    max_sequence_length: int = typer.Option(1024, "--max-sequence-length", min=1,
        help="Prompt tokens the text encoder reads at most (the reference: 1024)."),
    dtype: str = DTYPE_OPTION,
    device: str = DEVICE_OPTION,
    batch_size: int = typer.Option(1, "--batch-size", min=1,
        help="Prompts per pipeline call (does not change the images)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N records."),
    progress: bool = PROGRESS_OPTION,
) -> None:
    """Generate one portrait per Track 2 description (Qwen-Image and the reference settings by default) into OUT.

    Every image gets a record in OUT/generation.jsonl (prompt hash, settings, model and LoRA identity, seconds, error); a rerun skips images already made with the same settings and refuses other settings. Exit codes: 0 every image written; 1 some failed (recorded, listed); 2 the run cannot start (descriptions, model, LoRA, output folder, settings).
    """  # noqa: E501 (the command's help: typer keeps a docstring's line breaks)
    from portraitcraft.track2.generate import GenerationError, GenerationSettings, run_generation

    try:
        settings = GenerationSettings(
            model=model, lora=None if lora is None else str(lora), trigger=trigger, width=width, height=height,
            steps=steps, true_cfg_scale=true_cfg_scale, guidance_scale=guidance_scale,
            negative_prompt=negative_prompt, seed=seed, max_sequence_length=max_sequence_length, dtype=dtype,
            device=device, batch_size=batch_size)
        summary = run_generation(descriptions, out, settings, limit=limit, progress=progress)
    except (ValueError, GenerationError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{out}: cannot write ({exc.strerror})")
    for line in summary.lines():
        typer.echo(line)
    if summary.failed:
        typer.echo(f"FAILED: {len(summary.failed)} image(s) (recorded; a rerun retries them)", err=True)
        raise typer.Exit(1)


@track2_app.command("finetune")
def track2_finetune(
    data: str = typer.Option(..., "--data",
        help=("A PortraitCraft root folder, 'lab', or a Hugging Face dataset id; its Track 2 records whose image is "
              "present are trained on.")),
    out: Path = typer.Option(..., "--out",
        help=("Run folder: run.json, log.jsonl, checkpoint-NNNNNN/ and the latest LoRA weights (load them with `track2 "
              "generate --lora OUT`). An existing run of the same configuration is resumed.")),
    model: str = typer.Option("Qwen/Qwen-Image", "--model",
        help="The Qwen-Image pipeline to start from: hub id or local folder."),
    split: str = typer.Option("train", "--split", help="Track 2 split to train on."),
    rank: int = typer.Option(64, "--rank", min=1, help="LoRA rank (alpha = rank; the reference: 64)."),
    lr: float = typer.Option(1e-4, "--lr", min=0.0, help="Peak learning rate (the reference: 1e-4)."),
    warmup_steps: int = typer.Option(500, "--warmup-steps", min=0,
        help="Linear warm-up steps before the cosine decay (the reference: 500)."),
    max_train_steps: int = typer.Option(12000, "--max-train-steps", min=1,
        help="Length of the run (and of the cosine schedule) in optimizer steps (the reference: 12,000)."),
    grad_accum: int = typer.Option(4, "--grad-accum", min=1,
        help="Micro-batches per optimizer step (the reference: 4)."),
    batch_size: int = typer.Option(1, "--batch-size", min=1,
        help="Images per micro-batch, of one size (the reference: 1)."),
    weight_decay: float = typer.Option(0.01, "--weight-decay", min=0.0,
        help="AdamW weight decay (the reference: 0.01)."),
    max_grad_norm: float = typer.Option(1.0, "--max-grad-norm", min=0.0,
        help="Clip the gradient norm to this (the reference: 1.0)."),
    caption_dropout: float = typer.Option(0.15, "--caption-dropout", min=0.0, max=1.0,
        help="Share of prompts replaced by ' ' (the reference: 0.15)."),
    resolution: int = typer.Option(1024, "--resolution", min=32,
        help="Long side of the training images, a multiple of 32 (the reference: 1024)."),
    trigger: str = typer.Option("AES_COMP, ", "--trigger",
        help="Text put before every training prompt (the reference: 'AES_COMP, ')."),
    precision: str = typer.Option("auto", "--precision", help="auto (bf16 on cuda, fp32 on cpu), bf16, fp32."),
    seed: int = typer.Option(0, "--seed",
        help="Seed of the adapter's initial weights, the data order, the caption dropout, noise and timesteps."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Train on the first N images only (smoke runs)."),
    save_every: int = typer.Option(500, "--save-every", min=0,
        help="Optimizer steps between checkpoints (also at the end and at --stop-after; the reference: 500)."),
    keep_checkpoints: int = typer.Option(10, "--keep-checkpoints", min=0,
        help="Checkpoints kept (the oldest are removed; 0: all)."),
    stop_after: int | None = typer.Option(None, "--stop-after", min=1,
        help="Stop and save after this optimizer step; rerun to continue."),
    device: str = DEVICE_OPTION,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar (steps/s, loss)."),
) -> None:
    """LoRA fine-tuning of a Qwen-Image pipeline's transformer on the Track 2 training split (flow-matching loss), with the reference settings as defaults.

    Rerun the same command to resume from the last checkpoint; another configuration on the same OUT is refused. Exit codes: 0 finished (or stopped at --stop-after); 2 the run cannot start (data, model, output folder, settings).
    """  # noqa: E501 (the command's help: typer keeps a docstring's line breaks)
    from portraitcraft.track2.finetune import LoraFinetuneError, LoraSettings, run_lora_finetune

    try:
        settings = LoraSettings(
            data=data, out=str(out), model=model, split=split, rank=rank, lr=lr, warmup_steps=warmup_steps,
            max_train_steps=max_train_steps, grad_accum=grad_accum, batch_size=batch_size, weight_decay=weight_decay,
            max_grad_norm=max_grad_norm, caption_dropout=caption_dropout, resolution=resolution, trigger=trigger,
            precision=precision, seed=seed, limit=limit, save_every=save_every, keep_checkpoints=keep_checkpoints,
            stop_after=stop_after, device=device)
        summary = run_lora_finetune(settings, progress=progress)
    except (ValueError, LoraFinetuneError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{out}: cannot write ({exc.strerror})")
    for line in summary.lines():
        typer.echo(line)


def command_table() -> list[dict[str, str]]:
    """Every command of the program (subcommands as "baseline predict") with the first line of its help, sorted:
    what the book's appendix lists."""
    group = typer.main.get_command(app)
    rows = []
    for name, command in sorted(group.commands.items()):
        subcommands = getattr(command, "commands", None)
        if subcommands:
            rows += [{"command": f"portraitcraft {name} {sub}", "what it does": c.get_short_help_str(limit=110)}
                     for sub, c in sorted(subcommands.items())]
        else:
            rows.append({"command": f"portraitcraft {name}", "what it does": command.get_short_help_str(limit=110)})
    return rows


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


if __name__ == "__main__":
    main()
