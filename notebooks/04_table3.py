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
# ---

# %% [markdown]
# # Table 3: methods on Track 1

# %% tags=["parameters", "remove-cell"]
data = "data/lab"  # a PortraitCraft root folder, "lab", or a Hugging Face dataset id
predictions: list = []  # Track 1 prediction files (submission, raw output or JSON Lines), one row each
backend = "transformers"  # model backend for `model` (transformers: Qwen3-VL here; openai: a server)
model = None  # a model id or folder to run on the test split (None: no model run)
protocol = "generate"  # generate (the reference prompt, parsed) or score (token probabilities)
limit = None  # predict only the first N test images (None: all); the others count as missing
n_bootstrap = 1000  # bootstrap resamples of images for the intervals
seed = 0  # seed of the bootstrap, the chance predictor and the validation split
validation_fraction = 0.1  # share of train held out where the test labels are hidden
runs = "book/runs"  # where a model run and the submissions go (relative: to the repository root)

# %% tags=["remove-cell"]
import re
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from IPython.display import HTML, Markdown, display

from portraitcraft.book import banner, caption, show_plotly, value_with_interval
from portraitcraft.book.paths import locate, repository_path
from portraitcraft.book.tables import table3_cell
from portraitcraft.data import counted, open_dataset
from portraitcraft.evaluation import METRIC_LABELS
from portraitcraft.table3 import (
    COMPUTED,
    MIN_ROW_IMAGES,
    MIN_VALID_SHARE,
    REPORTED,
    REPORTED_TABLE3,
    TABLE3_METRICS,
    reproduce_table3,
)

ds = open_dataset(locate(data))
runs_dir = repository_path(runs)
prediction_files = [locate(str(p)) for p in predictions]
run_lines: list[str] = []
if model:
    from portraitcraft.runners import run_predictions
    from portraitcraft.runners.backends import make_backend

    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{Path(str(model)).name}-{protocol}")
    run_file = runs_dir / f"{slug}{'' if limit is None else f'-first{limit}'}.jsonl"
    run_summary = run_predictions(make_backend(backend, model=str(model), protocol=protocol), ds, split="test",
                                  out=run_file, limit=limit, progress=False)
    run_lines = run_summary.lines()
    prediction_files.append(str(run_file))
result = reproduce_table3(ds, prediction_files, n_bootstrap=n_bootstrap, seed=seed,
                          validation_fraction=validation_fraction, submissions_dir=runs_dir / "submissions")
table = result.frame
reported_rows = table[table["source"] == REPORTED].reset_index(drop=True)
computed = table[table["source"] == COMPUTED].reset_index(drop=True)
# The data's folder name (the banner gives its whole path), so that the column stays narrow.
evaluated_on = f"{Path(str(data)).name}, {result.target.split}" if result.target.truth is not None else "-"


# %% tags=["remove-input"]
banner(ds, data=data, predictions=predictions)

# %% tags=["remove-input"]
shown = pd.DataFrame({
    "Method": reported_rows["method"], "Evaluated on": "official test (paper)",
    **{METRIC_LABELS[m]: [value_with_interval(v, digits=4) for v in reported_rows[m]] for m in TABLE3_METRICS
       if m != "overall"},
})
display(shown.style.hide(axis="index").set_properties(**{"text-align": "left"}))
caption("Table 3 **reported in the paper**: Qwen3-VL-4B on the official test split, zero-shot and fine-tuned, as "
        "printed there (no intervals, no Overall); nothing here recomputes them.", label="Table")

# %% tags=["remove-input"]
if len(computed):
    shown = pd.DataFrame({
        "Method": [m + (" *" if w else "") for m, w in zip(computed["method"], computed["warning"])],
        "Evaluated on": evaluated_on,
        "Images": ["-" if pd.isna(n) else f"{n:,}" for n in computed["n_images"]],
        **{METRIC_LABELS[m]: [table3_cell(row, m) for _, row in computed.iterrows()] for m in TABLE3_METRICS},
    })
    display(shown.style.hide(axis="index").set_properties(**{"text-align": "left"}))
    row_notes = "".join(f" {method}: {note}." for method, note in zip(computed["method"], computed["note"]) if note)
    display(caption(
        f"Table 3 **computed in this build** on the {result.target.description} of {data}: value and 95% percentile "
        f"bootstrap interval over images ({n_bootstrap} resamples, seed {seed}). Overall is the mean of SRCC, PLCC, "
        "Level Acc and QA Acc (of the first three where QA is not available); an undefined correlation (a constant "
        f"predictor) is shown as '-', never counted as 0. Rows marked * carry a warning below.{row_notes}",
        label="Table"))
    warned = computed[computed["warning"] != ""]
    if len(warned):
        items = "".join(f"<li><b>{m}</b>: {w}.</li>" for m, w in zip(warned["method"], warned["warning"]))
        display(HTML(
            f'<div class="admonition warning"><p class="admonition-title">Read these rows with care</p>'
            f"<p>A computed row resting on fewer than {MIN_ROW_IMAGES} images has a wide interval; one with fewer "
            f"than {MIN_VALID_SHARE:.0%} valid fields mostly measures the scoring rules for invalid fields (wrong "
            f"level, wrong answer, imputed score), not the model.</p><ul>{items}</ul></div>"))
else:
    display(Markdown(f"**Nothing computed on {data}:** " + "; ".join(result.notes) + "."))

# %% tags=["remove-input"]
scored_rows = computed[computed["n_images"].notna() & computed["overall"].notna()]
if len(scored_rows):
    best = scored_rows.loc[scored_rows["overall"].idxmax()]
    chance = scored_rows[scored_rows["method"] == "Chance (uniform)"]
    beats = ""
    if len(chance) and best["method"] != "Chance (uniform)":
        margin = best["overall"] - chance["overall"].iloc[0]
        apart = best["overall_low"] > chance["overall_high"].iloc[0]
        beats = (f", {margin:+.3f} over chance ({chance['overall'].iloc[0]:.3f}); their intervals "
                 + ("do not overlap." if apart else "overlap, so this data cannot tell them apart."))
    display(Markdown(
        f"On the {result.target.split} split of {data}, **{best['method']}** has the highest Overall, "
        f"{best['overall']:.3f} [{best['overall_low']:.3f}, {best['overall_high']:.3f}]{beats or '.'} "
        + ("These rows are computed on the synthetic lab, not on PortraitCraft: they check the pipeline end to "
           "end and are not comparable with the reported rows." if (ds.root / "lab_factors.json").is_file() else
           "They rest on other images than the paper's official test, so compare them with each other, not with "
           "the reported rows.")))
elif len(computed):
    display(Markdown(
        f"No computed row has an Overall on the {result.target.split} split of {data}: with "
        f"{counted(int(computed['n_images'].max()), 'image')} SRCC and PLCC are undefined, so these rows say only how "
        "the scoring works, not how the methods compare."))
for note in result.notes:
    display(Markdown(f"*Note: {note}.*"))
if run_lines:
    display(Markdown("Model run: " + "; ".join(run_lines)))

# %% [markdown]
# **How to read it.** The first table is the paper's, the second this build's; they are scored on different
# images and are not to be compared row against row.
#
# The paper's Table 3 reports Qwen3-VL-4B on Track 1, zero-shot and fine-tuned: SRCC and PLCC of the overall
# score, accuracy of the 13 attribute levels, and accuracy on the multiple-choice question. Those rows are
# shown as **reported**: the paper's numbers, not recomputed. Beside them, rows **computed** here by
# `portraitcraft evaluate`'s scorer, each with a 95% bootstrap interval and the Overall column (the mean of
# the four metrics):
#
# - every prediction file given as the `predictions` parameter (`make book PREDICTIONS="a.jsonl b.json"`;
#   on the lab, `make book` passes the CPU feature baseline's predictions),
# - a model run through `portraitcraft.runners` when the `model` parameter names one (its predictions go to
#   a resumable JSON Lines file under `book/runs/`),
# - two reference points computed for real: **chance** (uniformly random score, levels and answer, seeded)
#   and **constant mean** (the mean training score, the most frequent training level of each attribute,
#   and the most frequent training answer, or the letter A where train has no questions).
#
# Where the test split's ground truth is hidden (the published dataset), the computed rows are scored on a
# held-out validation split of train, which has no questions (QA Acc not available), and each prediction
# file is written as a submission for the official test.

# %% tags=["hide-input"]
# Invariants: the reported rows are the paper's numbers, labelled reported; every other row was computed here
# on the evaluation target; accuracies are proportions; no QA where the target has no questions.
assert reported_rows["method"].tolist() == REPORTED_TABLE3["method"].tolist()
for metric in ("srcc", "plcc", "level_acc", "qa_acc"):
    assert np.allclose(reported_rows[metric], REPORTED_TABLE3[metric])
assert {"Chance (uniform)", "Constant mean"} <= set(computed["method"]) or result.target.truth is None
scored = computed[computed["n_images"].notna()]
if result.target.truth is not None:
    assert (scored["n_images"] == len(result.target.truth)).all()
    assert scored[["level_acc"]].apply(lambda c: c.between(0, 1)).all().all()
if result.target.split == "validation":
    assert scored["qa_acc"].isna().all() and not scored["qa_available"].any()
constant = computed[computed["method"] == "Constant mean"]
assert constant["srcc"].isna().all(), "a constant score has no rank correlation"

# %% tags=["remove-input"]
long = []
for _, row in table.iterrows():
    for metric in TABLE3_METRICS:
        if pd.notna(row[metric]):
            long.append({"method": row["method"], "source": row["source"], "metric": METRIC_LABELS[metric],
                         "value": row[metric], "low": row[f"{metric}_low"], "high": row[f"{metric}_high"]})
long = pd.DataFrame(long)
chart = go.Figure()
for method, part in long.groupby("method", sort=False):
    is_reported = (part["source"] == REPORTED).all()
    chart.add_trace(go.Scatter(
        x=part["value"], y=part["metric"], mode="markers", name=method + (" (reported)" if is_reported else ""),
        marker=dict(size=11, symbol="diamond-open" if is_reported else "circle", line=dict(width=2)),
        error_x=dict(type="data", symmetric=False, array=(part["high"] - part["value"]).fillna(0),
                     arrayminus=(part["value"] - part["low"]).fillna(0), visible=not is_reported, thickness=1.5),
        hovertemplate="%{y}: %{x:.4f}<extra>" + method + "</extra>"))
chart.update_layout(
    title="Table 3 as a chart: each metric with its 95% interval",
    xaxis=dict(title="value", range=[min(-0.05, float(long["low"].min()) - 0.05) if len(long) else 0, 1.0]),
    yaxis=dict(categoryorder="array", categoryarray=[METRIC_LABELS[m] for m in reversed(TABLE3_METRICS)]),
    legend=dict(orientation="h", y=-0.2),
)
show_plotly(chart, height=460)

# %% tags=["remove-input"]
caption(
    "The rows of the table above, metric by metric: diamonds are the paper's reported numbers, circles the rows "
    "computed here with their 95% bootstrap intervals. The reported and computed rows are not scored on the "
    "same images: compare methods within the computed rows. Click a method in the legend to hide it.")

# %% [markdown]
# ## Per attribute, for each computed method

# %% tags=["remove-input"]
per_attribute = pd.concat(
    {r.method: r.report.per_attribute.set_index("attribute")["accuracy"] for r in result.results if r.report},
    axis=1,
)
if len(per_attribute):
    display(per_attribute.style.format(precision=3).background_gradient(cmap="Greens", vmin=0, vmax=1, axis=None))
    display(caption(
        f"Level accuracy of each attribute for each computed method on the {result.target.description}.",
        label="Table"))
for r in result.results:
    if r.report is None:
        display(Markdown(f"*{r.method}: {r.note}.*"))
if result.submissions:
    shown_paths = [p.relative_to(runs_dir.parents[1]) if p.is_relative_to(runs_dir.parents[1]) else p
                   for p in result.submissions]
    display(Markdown("Submissions for the official test, one per prediction file: "
                     + ", ".join(f"`{p}`" for p in shown_paths)))
