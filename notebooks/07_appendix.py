# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   portraitcraft:
#     reads_other_pages: true
# ---

# %% [markdown]
# # Appendix: rerunning, performance, reproducibility

# %% tags=["parameters", "remove-cell"]
data: str = "data/lab"  # a PortraitCraft root folder, "lab", or a Hugging Face dataset id
predictions: list = []  # the prediction files the book was given
benchmarks: list = []  # JSON files written by `python scripts/bench_*.py --json FILE`
gpu_benchmarks: list = ["book/measurements/gpu_bench_qwen-h200-2026-11-27.json"]  # scripts/gpu_bench_qwen.py --out FILE
seed: int = 0  # seed of the bootstrap timed below
executed: str = "book/executed"  # the executed chapters of this build (`portraitcraft book --out DIR`: DIR/executed)

# %% tags=["remove-cell"]
import base64
import html
import json
from pathlib import Path

import pandas as pd
from IPython.display import HTML, Markdown, display

from portraitcraft.book import banner, caption, counted
from portraitcraft.book.paths import locate, repository_path, shell_variable, shown_path
from portraitcraft.book.tables import code_spans_html, run_rows, utc_time
from portraitcraft.cli import command_help, command_table
from portraitcraft.data import DataError, index_images
from portraitcraft.error_analysis import analyse_predictions
from portraitcraft.measurements import (
    benchmark_table,
    page_durations,
    prediction_timing,
    read_gpu_benchmark,
    reproducibility_record,
    timed,
)
from portraitcraft.predictions import prediction_details, prediction_labels
from portraitcraft.sources import open_dataset
from portraitcraft.text import duration

ds = open_dataset(locate(data), reveal_ground_truth=True)
prediction_paths = [locate(str(p)) for p in predictions]
data_shown = shown_path(data)  # as pages print a path: no "..", relative to the repository where shorter

# %% tags=["remove-input"]
banner(ds, data=data, predictions=predictions)

# %% [markdown]
# How to rebuild this book on your own predictions or your own copy of PortraitCraft, how long its parts take,
# and a record of exactly what produced the pages you are reading.
#
# ## Rerunning the book
#
# Everything below runs from the repository root after `make book` or `make test` has created `.venv`.

# %% tags=["remove-input"]
truth_file = ds.root / "track_1_test_ground_truth.json"
# This build's data and prediction files as shell variables, built up at their slashes so that the commands fit the
# page whatever the paths; the commands below use them.
variables = "\n".join([shell_variable("DATA", shown_path(data, home=False)),
                       *(shell_variable(f"PRED{i}", shown_path(p, home=False))
                         for i, p in enumerate(predictions, start=1))])
truth_arg = '"$DATA"/track_1_test_ground_truth.json' if truth_file.is_file() else '"$DATA" --split validation'
first_prediction = '"$PRED1"' if predictions else "runs/mine.jsonl"
again = " \\\n    ".join(['.venv/bin/portraitcraft book --data "$DATA"',
                            *(f'--predictions "$PRED{i}"' for i in range(1, len(predictions) + 1))])
display(Markdown(f"""
**The whole book, on the composition lab** (renders the lab once, executes every chapter, builds the HTML):

```bash
make book
```

**On your own predictions and your own copy of the data** (any of the four prediction formats; a folder in the
published layout, or a Hugging Face dataset id where the hub is reachable):

```bash
make book DATA=/path/to/PortraitCraft \\
    PREDICTIONS="runs/model_a.jsonl runs/model_b.json"
# what the book will find, file by file
.venv/bin/portraitcraft validate /path/to/PortraitCraft --lenient
```

**This build again, exactly** (the data and predictions this page was built with, set once as `DATA` and
`PRED1`, ... for the commands below):

```bash
{variables}
{again}
```

**One chapter only** (the others keep their last executed version), with a notebook parameter changed:

```bash
.venv/bin/portraitcraft book --data "$DATA" \\
    --predictions {first_prediction} \\
    --only 05_errors -p n_bootstrap=2000
```

**Predictions to analyse**: the CPU feature baseline, or a vision-language model (`portraitcraft predict`, where
this version has it: see the list of commands below); the test split for a submission, the validation split (a
seeded tenth of train) for Table 3 and chapter 5 where the test labels are hidden:

```bash
.venv/bin/portraitcraft baseline predict "$DATA" \\
    --out runs/features-test.jsonl
.venv/bin/portraitcraft baseline predict "$DATA" --split validation \\
    --out runs/features-validation.jsonl
.venv/bin/portraitcraft predict --data "$DATA" \\
    --out runs/qwen3vl-score.jsonl --protocol score
```

**Scoring a prediction file** (leaderboard metrics with bootstrap intervals, optionally against a second file):

```bash
.venv/bin/portraitcraft evaluate -p {first_prediction} \\
    -g {truth_arg} --json report.json
.venv/bin/portraitcraft evaluate -p runs/model_a.jsonl \\
    -g {truth_arg} --compare runs/model_b.json
```

**The paper's tables and figures from your predictions**: `portraitcraft report` (its options below, when this
version has it). **Benchmarks** for the performance section: `python scripts/bench_features.py --lab "$DATA" --json
bench/features.json`, then pass the file with `-p benchmarks='[bench/features.json]'`.
"""))

# %% [markdown]
# ## The commands of this version
#
# Read from the installed program itself, so the list and the options below are those of the code that built
# this page.

# %% tags=["remove-input"]
commands = pd.DataFrame(command_table())
assert {"portraitcraft book", "portraitcraft evaluate"} <= set(commands["command"])
commands["what it does"] = commands["what it does"].map(code_spans_html)
display(commands.style.hide(axis="index").set_properties(**{"text-align": "left"}))
display(caption("Every command of the installed `portraitcraft` program, with the first paragraph of its help.",
                label="Table"))

# The help as a terminal shows it, in plain text: typer's rich output would otherwise render as notebook HTML.
for name in ("evaluate", "report"):
    text = command_help(name)
    if text is None:
        display(Markdown(f"*`portraitcraft {name}` is not part of this version.*"))
        continue
    display(HTML(f"<details><summary><code>portraitcraft {name} --help</code></summary>"
                 f"<pre style='font-size:0.8em;white-space:pre-wrap'>{html.escape(text)}</pre></details>"))

# %% [markdown]
# ## Performance
#
# How long the book's parts took in this build, how long each prediction run spent per image (as recorded in
# its files), and a few steps timed here, cheaply. Longer benchmarks live in `scripts/` and are read from their
# JSON output when passed to the book.

# %% tags=["remove-input"]
pages = page_durations(repository_path(executed))
# the data as each page was given it, compared as pages print paths ("data/lab" and its absolute path agree)
same_data = pages["data"].map(lambda given: given is not None and shown_path(given) == data_shown).astype(bool)
other = pages[~same_data]  # left over from a build on other data: not this book's
pages = pages[same_data].drop(columns="data")
if pages.empty:
    display(Markdown("No executed chapter of this build found (this page runs outside a book "
                     "build)."))
else:
    display(pages.style.hide(axis="index").format({"seconds": "{:.1f}", "finished": utc_time}))
    display(caption("How long the latest run of each chapter of this build took, from papermill's record in the "
                    "executed notebook, and when that run finished (UTC). A chapter whose inputs had not changed was "
                    "not run again by this build: its row is from the earlier run, as its finishing time shows. This "
                    "appendix is still running as it writes the table, so its own row, if any, is its previous run.",
                    label="Table"))
if len(other):
    were = "was" if len(other) == 1 else "were"
    display(Markdown(f"{counted(len(other), 'executed notebook')} of this build ({', '.join(other['page'])}) "
                     f"{were} run on other data and left out of the table."))

# %% tags=["remove-input"]
timings = [prediction_timing(prediction_details(p)) for p in prediction_paths]
if timings:
    timing_table = pd.DataFrame(timings).assign(file=prediction_labels(prediction_paths))
    # Headers in words, so that they wrap: snake_case names made the table wider than the text column.
    display(timing_table.rename(columns=lambda c: c.replace("_", " ")).style.hide(axis="index")
            .format(precision=3, na_rep="–"))
    display(caption("Seconds per image recorded in each prediction file (wall time of the model on that image), "
                    "and generated tokens where recorded.", label="Table"))
else:
    display(Markdown("*No prediction file was given, so there are no per-image model timings.*"))

# %% tags=["remove-input"]
from portraitcraft.features import extract_features
from portraitcraft.lab import render_scene
from portraitcraft.lab.series import BASE_SCENE

images = ds.images()
found = images.dropna(subset=["image_file"]).head(3)
measured = [
    {"step": "open and check the dataset", "seconds": timed(lambda: open_dataset(ds.root)),
     "per": f"{len(images)} Track 1 records"},
    {"step": "render one lab scene (512 px)", "seconds": timed(lambda: render_scene(BASE_SCENE), repeat=3),
     "per": "image"},
]
if len(found):
    seconds = timed(lambda: extract_features(list(found["image_path"]), list(found["image_file"])))
    measured.append({"step": "composition features, no cache", "seconds": seconds / len(found), "per": "image"})
not_timed = []
for path in prediction_paths[:1]:
    try:
        seconds = timed(lambda path=path: analyse_predictions(path, ds, n_bootstrap=1000, seed=seed))
        measured.append({"step": "read, align and score a prediction file, 1,000 bootstrap resamples",
                         "seconds": seconds, "per": "file"})
    except DataError as exc:
        not_timed.append(f"`{html.escape(shown_path(path))}` could not be scored, so it was not timed: {exc}")
measured = pd.DataFrame(measured)
measured["time"] = measured.pop("seconds").map(duration)
display(measured[["step", "time", "per"]].style.hide(axis="index"))
display(caption(f"A few steps timed in this notebook on {data_shown}, once each (rendering: mean of 3). Wall-clock "
                "time on the machine that built the book, which other work may share.", label="Table"))
for line in not_timed:
    display(Markdown(f"*{line}*"))

# %% tags=["remove-input"]
if benchmarks:
    bench = benchmark_table(locate(str(b)) for b in benchmarks)
    display(bench.style.hide(axis="index"))
    display(caption("Numbers written by the benchmark scripts in `scripts/` (`--json`), as passed to the book.",
                    label="Table"))
else:
    display(Markdown("*No benchmark file was passed. Run e.g. `python scripts/bench_features.py --lab data/lab --json "
                     "bench/features.json` and rebuild with `-p benchmarks='[bench/features.json]'`.*"))

# %% [markdown]
# ### Qwen3-VL on a GPU
#
# `scripts/gpu_bench_qwen.py` times the Qwen3-VL runner (`portraitcraft predict --model ...`, both protocols) on a
# GPU with a randomly initialised model of Qwen3-VL-4B-Instruct's published size, at batch sizes 1, 4 and 16, on
# portrait-sized images (1365 x 2048). Random weights cost the same time and memory as trained ones, but never stop
# generating, so `generate` is held to 256 new tokens, about the length of the reference JSON answer. The run
# shown by default is kept in `book/measurements/`; pass others as the `gpu_benchmarks` parameter.

# %% tags=["remove-input"]
n_test = int((images["split"] == "test").sum())
for path in gpu_benchmarks:
    measured = read_gpu_benchmark(locate(str(path)))
    display(measured.table().style.hide(axis="index").format(precision=2))
    fastest = measured.results.loc[measured.results["status"] == "ok"].groupby("protocol")["images/s"].max()
    cost = " and ".join(f"{duration(n_test / rate)} with the {protocol} protocol" for protocol, rate in fastest.items())
    display(caption(f"{measured.describe()}. Peak GiB is PyTorch's peak allocation. At the best batch size, the "
                    f"{counted(n_test, 'test image')} of {data_shown} would take {cost}.", label="Table"))
if not gpu_benchmarks:
    display(Markdown("*No GPU measurement was passed (`gpu_benchmarks=[]`).*"))

# %% [markdown]
# ## Reproducibility record
#
# What produced this book. The data fingerprint is one SHA-256 over the SHA-256 of each track JSON file (and of the
# lab's ground-truth and factors files), with the image count beside it: the same files give the same fingerprint
# on any machine.

# %% tags=["remove-input"]
record = reproducibility_record(ds.root, prediction_paths, settings={
    "data": data, "predictions": [str(p) for p in predictions], "benchmarks": [str(b) for b in benchmarks],
    "gpu_benchmarks": [str(b) for b in gpu_benchmarks]})
index, _ = index_images(ds.root)
assert record["data"]["images"] == len(index) and record["packages"]["portraitcraft"] is not None
assert all(len(f["sha256"]) == 64 for f in record["data"]["files"].values())
summary = pd.DataFrame([
    ("date (UTC)", utc_time(record["date"])),
    ("Python", record["python"]),
    ("platform", record["platform"]),
    ("code", record["code"]["commit"][:12]
     + (" with uncommitted changes" if record["code"]["uncommitted_changes"] else "")
     if record["code"] else "not a git checkout"),
    ("data", data_shown),
    ("data fingerprint (SHA-256)", record["data"]["sha256"]),
    ("images", record["data"]["images"]),
    ("prediction files", len(record["predictions"])),
], columns=["", "value"])
display(summary.style.hide(axis="index").set_properties(**{"text-align": "left"}))
display(caption("The build: date, interpreter, platform, the code's git commit, and the data fingerprint.",
                label="Table"))

# %% tags=["remove-input"]
packages = pd.DataFrame([(k, v or "not installed") for k, v in record["packages"].items()],
                        columns=["package", "version"])
# The first 16 hex digits of each SHA-256 fit the column; the whole digests are in the JSON record below.
files = pd.DataFrame([(k, f"{v['bytes']:,}", v["sha256"][:16] + "…") for k, v in record["data"]["files"].items()],
                     columns=["file", "bytes", "sha256 (start)"])
display(HTML("<div style='display:flex;gap:2em;flex-wrap:wrap;align-items:flex-start'>"
             f"<div>{packages.style.hide(axis='index').to_html()}</div>"
             f"<div>{files.style.hide(axis='index').to_html()}</div></div>"))
display(caption("Installed versions of the packages the book uses, and the data files fingerprinted, with their "
                "sizes and the start of their SHA-256.", label="Table"))

# %% tags=["remove-input"]
without_runs = []
for entry in record["predictions"]:
    display(Markdown(f"**`{html.escape(shown_path(entry['path']))}`**: {counted(entry['records'], 'record')}, "
                     f"{entry['format']} format, SHA-256 `{entry['sha256']}`"))
    if entry["runs"]:
        # one row per setting (a nested block such as the held-out images or the packages, one row per entry);
        # a value without spaces (a model's path, a digest) breaks anywhere rather than widen the table
        display(run_rows(entry["runs"]).style.set_properties(**{"text-align": "left", "overflow-wrap": "anywhere"}))
    else:
        without_runs.append(f"`{html.escape(Path(entry['path']).name)}`")
if without_runs:
    # said once for all such files, not once per file
    display(Markdown(f"*No run configuration is recorded in {counted(len(without_runs), 'file')} "
                     f"({', '.join(without_runs)}): only the project's JSON Lines carry one.*"))
if any(entry["runs"] for entry in record["predictions"]):
    display(caption("Each prediction file's digest and the `run` block of its records: the model, its settings and "
                    "configuration hash, the training images it held out and the package versions, where recorded.",
                    label="Table"))
elif not record["predictions"]:
    display(Markdown("*No prediction file was given to this build, so there is no prediction digest or run "
                     "configuration to record.*"))
# The whole record as a file to download: the machine's copy, with its ISO times and full digests.
whole = base64.b64encode(json.dumps(record, indent=2, default=str).encode("utf-8")).decode("ascii")
display(HTML(f"<p>The whole record: <a download='reproducibility.json' "
             f"href='data:application/json;base64,{whole}'>reproducibility.json</a> (everything above, as JSON, "
             "with the full SHA-256 digests).</p>"))
