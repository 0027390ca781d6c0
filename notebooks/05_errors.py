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
# # Errors, attribute by attribute
#
# Where a Track 1 model goes wrong: its accuracy on each of the 13 attributes with bootstrap intervals, the
# confusion matrices behind those accuracies, how the overall-score error depends on the true score, which
# attributes the model mixes up, the images it gets most wrong (with the annotators' reasons and the model's own
# text), the fields it failed to produce, and whether its stated probabilities can be trusted.
#
# Every number is computed on the images the prediction file covers and the data labels (on the lab, the test
# split, whose labels come from its ground-truth file), with the scorer's own rules: an invalid level counts
# wrong, as on the leaderboard.

# %% tags=["parameters"]
data = "data/lab"  # a PortraitCraft root folder, "lab", or a Hugging Face dataset id
predictions: list = []  # Track 1 prediction files (submission, raw output or project JSON Lines)
n_bootstrap = 1000  # bootstrap resamples of images for the intervals
seed = 0  # seed of the resamples
hardest = 4  # how many of the hardest images to show for each model
max_side = 256  # longest side of the thumbnails, in pixels

# %%
import html
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import seaborn as sns
from IPython.display import HTML, Markdown, display

from portraitcraft.attributes import ATTRIBUTE_NAMES
from portraitcraft.book import caption, show_plotly, thumbnail
from portraitcraft.book.figures import confusion_panel, reliability_figure
from portraitcraft.book.paths import locate
from portraitcraft.book.tables import raw_text_block, report_cell
from portraitcraft.calibration import answer_probabilities, calibration, calibration_by_attribute, level_probabilities
from portraitcraft.data import DataError, open_dataset
from portraitcraft.errors import (
    analyse_predictions,
    attribute_accuracy,
    attribute_tracking,
    confused_attributes,
    confusion_shares,
    hardest_images,
    image_attributes,
    parse_failures,
    score_error_by_truth,
)
from portraitcraft.evaluation import LEADERBOARD, METRIC_LABELS
from portraitcraft.predictions import distinct_labels

sns.set_theme(style="whitegrid", context="notebook", font_scale=0.9)
plt.rcParams.update({"figure.dpi": 100, "savefig.bbox": "tight"})

ds = open_dataset(locate(data), reveal_ground_truth=True)
analyses, skipped = [], []
files = [locate(str(path)) for path in predictions]
for path, name in zip(files, distinct_labels([Path(f).stem for f in files], files)):  # two runs/preds.jsonl stay two
    try:
        analyses.append(analyse_predictions(path, ds, n_bootstrap=n_bootstrap, seed=seed, name=name))
    except DataError as exc:  # unreadable, or no image of it labelled here: said below, not a broken page
        skipped.append((path, str(exc)))
print(ds.summary())
for path, why in skipped:
    print(f"skipped {path}: {why}")

# %% tags=["remove-input"]
if not analyses:
    display(Markdown("""
**No prediction file was given, so this chapter has nothing to analyse yet.** Pass one or more Track 1 prediction
files (the official submission format, the reference script's raw output, or the project's JSON Lines) to the book:

```bash
make book DATA=data/lab PREDICTIONS="data/lab/runs/feature-baseline.jsonl"
.venv/bin/portraitcraft book --data data/lab --predictions runs/a.jsonl --predictions runs/b.json --only 05_errors
```

On the composition lab, the CPU feature baseline writes such a file in a few minutes:

```bash
.venv/bin/portraitcraft baseline predict data/lab --out data/lab/runs/feature-baseline.jsonl
```

The analysis needs labels for the predicted images: on the lab the test labels are read from
`track_1_test_ground_truth.json`; on the real dataset, predict labelled (training) images, since the published
test labels are hidden.
"""))
elif skipped:
    display(Markdown("\n".join(f"- *Not analysed:* `{p}`: {html.escape(why)}" for p, why in skipped)))

# %% [markdown]
# ## The models at a glance
#
# The leaderboard metrics on the analysed images, with 95% percentile-bootstrap intervals over images.

# %% tags=["hide-input"]
if analyses:
    overview = pd.DataFrame([
        {"model": e.name, "format": e.predictions.format, "images": len(e), "unlabelled": len(e.unlabelled),
         **{METRIC_LABELS[m]: report_cell(e.report, m) for m in LEADERBOARD}}
        for e in analyses
    ])
    display(overview.style.hide(axis="index"))
    display(caption(f"Leaderboard metrics of each prediction file on the images it shares with the labels of "
                    f"{data} (value and 95% interval from {n_bootstrap} bootstrap resamples of images). Images: "
                    "those analysed; unlabelled: predicted images without labels here, left out.", label="Table"))

# %% [markdown]
# ## Accuracy per attribute
#
# The share of images whose level (Poor, Medium, Good) the model got right, attribute by attribute. The grey
# ring marks what always answering the attribute's most common true level would score: an accuracy near it says
# the model has learnt little about that attribute, whatever its size.

# %% tags=["hide-input"]
accuracy = {e.name: attribute_accuracy(e.predicted_levels, e.truth.levels, n_resamples=n_bootstrap, seed=seed)
            for e in analyses}
for e in analyses:
    table = accuracy[e.name]
    # Every image has 13 levels, so Level Acc is the mean of the 13 per-attribute accuracies.
    assert np.isclose(table["accuracy"].mean(), e.report.values["level_acc"]), e.name
    assert ((table["low"] <= table["accuracy"] + 1e-12) & (table["accuracy"] <= table["high"] + 1e-12)).all(), e.name

if analyses:
    figure = go.Figure()
    for e in analyses:
        table = accuracy[e.name]
        figure.add_trace(go.Scatter(
            x=table["accuracy"], y=table["attribute"], mode="markers", name=e.name,
            error_x=dict(type="data", symmetric=False, array=table["high"] - table["accuracy"],
                         arrayminus=table["accuracy"] - table["low"]),
            customdata=np.column_stack([table["low"], table["high"], table["macro_f1"], table["qwk"], table["valid"]]),
            hovertemplate="%{y}<br>accuracy %{x:.3f} [%{customdata[0]:.3f}, %{customdata[1]:.3f}]"
                          "<br>macro-F1 %{customdata[2]:.3f}, QWK %{customdata[3]:.3f}<br>valid %{customdata[4]}"
                          f"<extra>{html.escape(e.name)}</extra>"))
    majority = accuracy[analyses[0].name]
    figure.add_trace(
        go.Scatter(
            x=majority["majority"],
            y=majority["attribute"],
            mode="markers",
            name="most common level",
            marker=dict(symbol="circle-open", size=11, color="#8c8c8c"),
            hovertemplate="%{y}<br>always the most common level: %{x:.3f}<extra></extra>",
        )
    )
    figure.update_layout(title="Level accuracy per attribute", xaxis=dict(title="accuracy", range=[0, 1.02]),
                         yaxis=dict(autorange="reversed", title=None), legend=dict(orientation="h", y=-0.15))
    display(show_plotly(figure, height=520))
    display(caption(f"Accuracy of each attribute's level on the analysed images of {data}, with 95% "
                    f"percentile-bootstrap intervals ({n_bootstrap} resamples of images); invalid levels count wrong. "
                    "Hover a point for macro-F1, quadratic-weighted kappa and the number of valid predictions."))

# %% tags=["hide-input"]
for e in analyses:
    table = accuracy[e.name][["attribute", "accuracy", "low", "high", "majority", "macro_f1", "qwk", "valid", "n"]]
    display(Markdown(f"**{html.escape(e.name)}**"))
    display(table.style.hide(axis="index").format(precision=3).background_gradient(subset=["accuracy"], cmap="Blues",
                                                                                     vmin=0, vmax=1))
    display(caption(f"Per-attribute accuracy (95% interval), the most-common-level reference, macro-F1 over the "
                    f"three levels, quadratic-weighted kappa over the valid predictions, and valid / all predictions; "
                    f"{e.name} on {data}.", label="Table"))

# %% [markdown]
# ## Confusion matrices
#
# For each attribute, what the model answered (columns) for each true level (rows), as the share of the row;
# the number in a cell is the count. A good model fills the diagonal; a model that hedges fills the Medium column;
# the last column counts levels it never produced.

# %% tags=["hide-input"]
for e in analyses:
    confusion = e.report.confusion
    for name in ATTRIBUTE_NAMES:
        assert confusion.loc[name].to_numpy().sum() == len(e), (e.name, name)
    shares = confusion_shares(confusion)
    fig, axes = plt.subplots(3, 5, figsize=(15, 8.4))
    for ax, name in zip(axes.flat, ATTRIBUTE_NAMES):
        confusion_panel(ax, shares.loc[name], confusion.loc[name], name)
    for ax in list(axes.flat)[len(ATTRIBUTE_NAMES):]:
        ax.axis("off")
    fig.suptitle(f"Confusion matrices: {e.name}", x=0.01, ha="left", fontsize=12)
    fig.tight_layout()
    plt.show()
    display(caption(f"True level (rows) against predicted level (columns) for each attribute; colour is the share of "
                    f"the row, the number the count of images; {e.name} on the {len(e)} analysed images of {data}."))

# %% [markdown]
# ## The overall score against the truth
#
# Whether the error of the overall score depends on how good the picture really is: many models pull every score
# towards the middle, overrating poor pictures and underrating good ones (a positive bias at the low end, negative
# at the high end).

# %% tags=["hide-input"]
if analyses:
    points = pd.concat([e.frame().assign(model=e.name) for e in analyses], ignore_index=True)
    valid = points.dropna(subset=["predicted_score"])
    scatter = px.scatter(valid, x="true_score", y="predicted_score", color="model", hover_name="image_path",
                         hover_data={"levels_wrong": True, "abs_error": ":.1f", "model": False},
                         labels={"true_score": "true overall score", "predicted_score": "predicted overall score"},
                         title="Predicted against true overall score")
    low, high = (
        float(np.nanmin(valid[["true_score", "predicted_score"]])),
        float(np.nanmax(valid[["true_score", "predicted_score"]])),
    )
    scatter.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", name="predicted = true",
                                 line=dict(color="#8c8c8c", dash="dot"), hoverinfo="skip"))
    display(show_plotly(scatter, height=460))
    display(caption(f"Each analysed image of {data} with a valid predicted score; the dotted line is a perfect "
                    "prediction. Hover a point for the image and its number of wrong levels; click a model in the "
                    "legend to hide it."))

# %% tags=["hide-input"]
for e in analyses:
    frame = e.frame()
    table = score_error_by_truth(frame["predicted_score"], frame["true_score"], levels_wrong=frame["levels_wrong"])
    assert table["images"].sum() == len(e)
    display(Markdown(f"**{html.escape(e.name)}**"))
    display(table.rename(columns={"bin": "true score", "mae": "mean |error|", "median_ae": "median |error|",
                                  "bias": "bias (pred - true)", "levels_wrong": "wrong levels / image"})
            .style.hide(axis="index").format(precision=2, na_rep="–"))
    display(caption(f"Absolute error of the overall score in bins of the true score, with the mean signed error "
                    f"(bias) and the mean number of wrong attribute levels per image; {e.name} on {data}. "
                    "Invalid scores are counted in images but not in valid.", label="Table"))

# %% [markdown]
# ## Attributes a model confuses
#
# A model can be right for the wrong reason: its Sharpness levels may follow the picture's exposure rather than its
# focus. Each row of the map below is one attribute's predicted levels, each column one attribute's true levels,
# and the colour their agreement (quadratic-weighted kappa: 1 perfect, 0 chance). The diagonal is the ordinary
# per-attribute agreement; a row whose brightest cell is off the diagonal tracks another attribute better than
# its own. The attributes' truths are themselves correlated (one careless shot has several faults), so some
# off-diagonal agreement is expected; the table compares it with how alike the two truths are.

# %% tags=["hide-input"]
for e in analyses:
    tracking = attribute_tracking(e.predicted_levels, e.truth.levels)
    heatmap = go.Figure(go.Heatmap(
        z=tracking.to_numpy(), x=list(tracking.columns), y=list(tracking.index), zmin=-1, zmax=1, colorscale="RdBu",
        colorbar=dict(title="kappa"),
        hovertemplate="predicted %{y}<br>against true %{x}<br>kappa %{z:.3f}<extra></extra>"))
    heatmap.update_layout(title=f"Predicted levels against each attribute's truth: {e.name}",
                          xaxis=dict(title="true levels of", tickangle=40), yaxis=dict(title="predicted levels of",
                                                                                      autorange="reversed"),
                          margin=dict(l=300, b=260))
    display(show_plotly(heatmap, height=760))
    display(
        caption(
            f"Quadratic-weighted kappa between each attribute's predicted levels (rows) and each attribute's "
            f"true levels (columns), valid predictions only; {e.name} on the {len(e)} analysed images of {data}. "
            "Hover a cell for its value."
        )
    )
    confused = confused_attributes(e.predicted_levels, e.truth.levels)
    if confused.empty:
        display(Markdown(f"*{html.escape(e.name)}: every attribute's predictions agree best with its own truth.*"))
    else:
        display(confused.style.hide(axis="index").format(precision=3, na_rep="–"))
        display(caption("Attributes whose predicted levels agree better with another attribute's truth than with "
                        "their own: both kappas, the excess, the kappa between the two truths, and the correlation of "
                        f"the per-image level errors of the two attributes; {e.name} on {data}.", label="Table"))

# %% [markdown]
# ## The hardest images
#
# The images with the most wrong levels (ties broken by the largest score error), each with its wrong
# attributes, the annotators' reason for the true level, and the model's own text.

# %% tags=["hide-input"]
for e in analyses:
    frame = e.frame()
    worst = hardest_images(frame, top=hardest)
    ranked = worst["levels_wrong"].to_numpy()
    assert (np.diff(ranked) <= 0).all() and (ranked.size == 0 or ranked[0] == frame["levels_wrong"].max())
    display(Markdown(f"### {html.escape(e.name)}"))
    for row in worst.itertuples():
        picture = ""
        if ds.image_file(row.image_path) is not None:
            picture = thumbnail(
                ds.open_image(row.image_path, max_side=max_side), title=row.image_path, max_side=max_side
            )
        predicted = "invalid" if not np.isfinite(row.predicted_score) else f"{row.predicted_score:.1f}"
        status = e.details.errors.get(row.image_path)
        display(HTML(f"{picture}<p><b>{row.levels_wrong} of 13 levels wrong</b>, overall score true "
                     f"{row.true_score:.0f}, predicted {predicted}"
                     + (f"; <b>failed record</b>: {html.escape(status)}" if status else "") + "</p>"))
        attributes = image_attributes(e, row.image_path)
        wrong = attributes[~attributes["right"]].drop(columns="right")
        if not wrong.empty:
            display(wrong.style.hide(axis="index").format({"score": "{:.1f}"}, na_rep="–")
                    .set_properties(subset=["reason"], **{"text-align": "left"}))
        display(HTML(raw_text_block(e.details.raw_text.get(row.image_path))))
    display(
        caption(
            f"The {len(worst)} analysed images of {data} with the most wrong levels for {e.name}: true score "
            "and level of each wrong attribute, the predicted level, and the annotators' reason.",
            label="Table",
        )
    )

# %% [markdown]
# ## Fields the model did not produce
#
# A level, score or answer that could not be read counts wrong (or, for the score, is imputed). The table counts
# them per field over every record of the file, with the parser's reason where the file records one.

# %% tags=["hide-input"]
for e in analyses:
    failures = parse_failures(e.predictions, e.details)
    assert (failures["invalid"] <= failures["records"]).all() and (
        failures["failed_records"] <= failures["invalid"]
    ).all()
    shown = failures[failures["invalid"] > 0]
    display(Markdown(f"**{html.escape(e.name)}**: {len(e.predictions)} records, "
                     f"{sum(s == 'failed' for s in e.predictions.status)} failed (no usable output)."))
    if shown.empty:
        display(Markdown("*Every field of every record was valid.*"))
    else:
        display(shown.style.hide(axis="index").format({"share": "{:.1%}"}).set_properties(
            subset=["reasons"], **{"text-align": "left"}))
        display(caption(f"Records of {e.name} without a valid value, per field: how many, their share, how many were "
                        "failed records, and the reasons (the parser's, or the reader's note), most frequent first.",
                        label="Table"))

# %% [markdown]
# ## Are the probabilities calibrated?
#
# Models run with the `score` protocol (token probabilities) and the feature baseline (classifier probabilities)
# state how sure they are of each level. A calibrated model that says 70% is right 70% of the time. The
# reliability diagram compares, in bins of stated confidence (the largest probability), the stated confidence
# with the share right; the expected calibration error (ECE) averages the gap over bins, weighted by items, and
# the Brier score is the mean squared distance between the stated distribution and the truth (0 perfect, 2 worst).

# %% tags=["hide-input"]
for e in analyses:
    level_items = level_probabilities(e)
    answer_items = answer_probabilities(e)
    results = {}
    if len(level_items.truth):
        results["levels (13 attributes)"] = calibration(level_items.probabilities, level_items.truth)
    if len(answer_items.truth):
        results["answers"] = calibration(answer_items.probabilities, answer_items.truth, classes=list("ABCD"))
    if not results:
        display(Markdown(f"*{html.escape(e.name)} carries no probabilities (its records have no `probabilities`), so "
                         "its calibration cannot be measured. Runs with `--protocol score` and the feature baseline "
                         "write them.*"))
        continue
    for result in results.values():
        assert result.table["items"].sum() == result.items and 0 <= result.ece <= 1 and 0 <= result.brier <= 2
    reliability_figure(results, f"Reliability: {e.name}")
    display(caption(f"Share of right answers against stated confidence, in bins of 0.1, for {e.name} on the analysed "
                    f"images of {data} ({', '.join(f'{k}: {r.items} items' for k, r in results.items())}); bars below "
                    "count the items per bin. Bars under the dotted line: overconfident."))
    if len(level_items.truth):
        per_attribute = calibration_by_attribute(level_items)
        display(per_attribute.style.hide(axis="index").format(precision=3))
        display(caption(f"Calibration of each attribute's level probabilities for {e.name}: accuracy of the most "
                        "probable level, mean stated confidence, ECE and Brier score.", label="Table"))
