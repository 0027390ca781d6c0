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

# %% tags=["parameters", "remove-cell"]
data: str = "data/lab"  # a PortraitCraft root folder, "lab", or a Hugging Face dataset id
predictions: list = []  # Track 1 prediction files (submission, raw output or project JSON Lines)
n_bootstrap: int = 1000  # bootstrap resamples of images for the intervals
seed: int = 0  # seed of the resamples and of the validation split
validation_fraction: float = 0.1  # share of train held out where the test labels are hidden (as in Table 3)
hardest: int = 4  # how many of the hardest images to show for each model
max_side: int = 256  # longest side of the thumbnails, in pixels

# %% tags=["remove-cell"]
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
from portraitcraft.book import (
    banner,
    caption,
    counted,
    interval_estimable,
    percent,
    radar_labels,
    share_digits,
    show_plotly,
    thumbnail,
    value_with_interval,
)
from portraitcraft.book.figures import confusion_panel, reliability_figure
from portraitcraft.book.paths import locate, shown_path
from portraitcraft.book.tables import raw_text_block, report_cell
from portraitcraft.calibration import answer_probabilities, calibration, calibration_by_attribute, level_probabilities
from portraitcraft.data import DataError
from portraitcraft.error_analysis import (
    CONFUSION_ALPHA,
    analyse_predictions,
    answer_letters,
    attribute_accuracy,
    attribute_tracking,
    compare_models,
    confusion_shares,
    confusions_beyond_chance,
    hardest_images,
    image_attributes,
    parse_failures,
    question_accuracy,
    score_error_by_truth,
)
from portraitcraft.evaluation import LEADERBOARD, METRIC_LABELS, MIN_INTERVAL_IMAGES, MIN_PAIRED_IMAGES
from portraitcraft.labels import evaluation_target, runs_validation_leak, training_names
from portraitcraft.predictions import prediction_labels
from portraitcraft.sources import open_dataset

sns.set_theme(style="whitegrid", context="notebook")
plt.rcParams.update({"figure.dpi": 100, "savefig.bbox": "tight"})

ds = open_dataset(locate(data), reveal_ground_truth=True)
data_shown = shown_path(data)  # the data as every page prints a path
# The images Table 3 scores: the test split where its labels are known, else the same validation split of train.
target = evaluation_target(ds, validation_fraction=validation_fraction, seed=seed)
analyses, skipped = [], []
files = [locate(str(path)) for path in predictions]
for path, name in zip(files, prediction_labels(files)):  # each file named as in chapter 4; two alike stay two
    if target.truth is None:
        skipped.append((path, "no labelled image to score it on"))
        continue
    try:
        analysis = analyse_predictions(path, ds, n_bootstrap=n_bootstrap, seed=seed, name=name, truth=target.truth)
    except DataError as exc:  # unreadable: said below, not a broken page
        skipped.append((path, str(exc)))
        continue
    # A model trained on the validation images is not analysed on them (Table 3 leaves it out too).
    leak = runs_validation_leak(analysis.predictions.runs, target.truth.image_paths, training_names(ds)) if (
        target.split == "validation") else None
    if leak:
        skipped.append((path, leak))
    else:
        analyses.append(analysis)
questions = ds.questions()

# %% tags=["remove-input"]
banner(ds, data=data, predictions=predictions)

# %% tags=["remove-input"]
if not analyses:
    display(Markdown(
        f"**Nothing to analyse on {data_shown}:** "
        + ("no prediction file was given" if not predictions else
           "; ".join(f"`{Path(p).name}` could not be analysed: {html.escape(why.removeprefix(f'{p}: '))}"
                     for p, why in skipped))
        # the reasons carry parentheses of their own: the rest of the sentence does without
        + ". This chapter analyses the errors of Track 1 prediction files on the images Table 3 scores, the "
        f"{target.description}. Give it one or more files (the official submission format, the reference "
        "script's raw output, or the project's JSON Lines): `make book DATA=... PREDICTIONS=\"a.jsonl b.json\"`."
        + (" The test labels are hidden here, so predictions of the test split cannot be analysed (chapter 4 writes "
           "their submission and reads them without labels); predict the validation split with the same model "
           "(`portraitcraft predict --split validation`, or `portraitcraft baseline predict --split validation`) "
           "and pass that file." if target.split == "validation" else "")))
else:
    overview = pd.DataFrame([
        {"model": e.name, "images": len(e), "missing": len(e.missing),
         **{METRIC_LABELS[m]: report_cell(e.report, m) for m in LEADERBOARD}}
        for e in analyses
    ])
    display(overview.style.hide(axis="index"))
    display(caption(
        f"Leaderboard metrics of each prediction file on the images Table 3 scores, the {target.description} of "
        f"{data_shown} (value and 95% interval from {n_bootstrap} bootstrap resamples of images, none on fewer than "
        f"{MIN_INTERVAL_IMAGES}; decimals as in Table 3, those their count carries). Missing: scored "
        "images the file has no prediction for, counted wrong.", label="Table"))
    for e in analyses:
        notes = []
        if e.missing:
            notes.append(f"has no prediction for {counted(len(e.missing), 'scored image')}, counted wrong: "
                         + ", ".join(f"`{name}`" for name in e.missing[:10]) + (", ..." if len(e.missing) > 10 else ""))
        if e.unlabelled:
            notes.append(f"predicts {counted(len(e.unlabelled), 'image')} outside the scored set, left out")
        failed = [name for name, status in zip(e.predictions.image_paths, e.predictions.status) if status == "failed"]
        if failed:
            notes.append(f"{counted(len(failed), 'record')} failed (no usable output): "
                         + ", ".join(f"`{name}`" for name in failed[:10]) + (", ..." if len(failed) > 10 else ""))
        display(Markdown(f"**{html.escape(e.name)}** scores Level Acc {e.report.values['level_acc']:.3f} on "
                         f"{counted(len(e), 'image')}" + ("; it " + "; it ".join(notes) if notes else
                                                          ", with a prediction for every one") + "."))
    for path, why in skipped:
        display(Markdown(f"*Not analysed:* `{Path(path).name}`: {html.escape(why.removeprefix(f'{path}: '))}"))
    display(Markdown("**How to read it.** Every number below is computed on these images with the scorer's own "
                     "rules: an invalid or missing level or answer counts wrong, as on the leaderboard."))

# %% [markdown] tags=["remove-if-no-output"]
# ## Two models, paired
#
# With two prediction files, the difference of each metric on the same images and the same bootstrap resamples
# (the scorer's `evaluate --compare`): an interval that excludes 0 says the two differ on these images.

# %% tags=["remove-input"]
if len(analyses) >= 2:
    first, second = analyses[0], analyses[1]
    paired = compare_models(first, second, n_bootstrap=n_bootstrap, seed=seed)
    shown = paired.assign(metric=paired["metric"].map(METRIC_LABELS),
                          interval=[f"[{lo:+.3f}, {hi:+.3f}]" if np.isfinite(lo) and np.isfinite(hi) else "-"
                                    for lo, hi in zip(paired["low"], paired["high"])])
    display(shown[["metric", "first", "second", "difference", "interval", "p"]]
            .rename(columns={"first": first.name, "second": second.name, "difference": "first - second"})
            .style.hide(axis="index").format(precision=3, na_rep="-"))
    display(caption(f"{first.name} minus {second.name} on the same {counted(len(first), 'image')}, with the 95% "
                    f"interval and p-value of a paired bootstrap ({n_bootstrap} resamples, seed {seed}); '-' where "
                    "undefined.", label="Table"))
    overall = paired.set_index("metric").loc["overall"]
    if len(first) < MIN_PAIRED_IMAGES:
        display(Markdown(f"On {counted(len(first), 'image')} (fewer than {MIN_PAIRED_IMAGES}) the two files are not "
                         "compared: a bootstrap of so few images gives no interval or p-value worth stating. Score "
                         "both on more images (the validation split: `--split validation`) to tell them apart."))
    elif np.isfinite(overall["low"]):
        verdict = ("the interval excludes 0: they differ on these images" if overall["low"] > 0 or overall["high"] < 0
                   else "the interval includes 0: these images cannot tell them apart")
        display(Markdown(f"Overall differs by {overall['difference']:+.3f} [{overall['low']:+.3f}, "
                         f"{overall['high']:+.3f}]; {verdict}."))
    else:
        display(Markdown("Overall is undefined for at least one of the two files on these images (a constant or "
                         "invalid score), so their difference has no interval."))
    if len(analyses) > 2:
        display(Markdown(f"Only the first two files are compared; {counted(len(analyses) - 2, 'other file')} "
                         "are analysed one by one below."))

# %% [markdown] tags=["remove-if-no-output"]
# ## Accuracy per attribute
#
# The share of images whose level (Poor, Medium, Good) the model got right, attribute by attribute. The grey
# ring marks what always answering the attribute's most common true level would score: an accuracy near it says
# the model has learnt little about that attribute, whatever its size.

# %% tags=["remove-input"]
accuracy = {e.name: attribute_accuracy(e.predicted_levels, e.truth.levels, n_resamples=n_bootstrap, seed=seed)
            for e in analyses}
for e in analyses:
    table = accuracy[e.name]
    # Every image has 13 levels, so Level Acc is the mean of the 13 per-attribute accuracies.
    assert np.isclose(table["accuracy"].mean(), e.report.values["level_acc"]), e.name
    assert ((table["low"] <= table["accuracy"] + 1e-12) & (table["accuracy"] <= table["high"] + 1e-12)).all(), e.name

if analyses:
    figure = go.Figure()
    symbols = ["circle", "square", "diamond", "triangle-up", "x", "star"]
    for k, e in enumerate(analyses):
        table = accuracy[e.name]
        figure.add_trace(go.Scatter(
            x=table["accuracy"], y=table["attribute"], mode="markers", name=e.name, orientation="h",
            marker=dict(symbol=symbols[k % len(symbols)], size=8),
            error_x=dict(type="data", symmetric=False, array=table["high"] - table["accuracy"],
                         arrayminus=table["accuracy"] - table["low"],
                         visible=interval_estimable(int(table["n"].max()))),
            customdata=np.column_stack([table["low"], table["high"], table["macro_f1"], table["qwk"], table["valid"]]),
            hovertemplate="%{y}<br>accuracy %{x:.3f} [%{customdata[0]:.3f}, %{customdata[1]:.3f}]"
                          "<br>macro-F1 %{customdata[2]:.3f}, QWK %{customdata[3]:.3f}<br>valid %{customdata[4]}"
                          f"<extra>{html.escape(e.name)}</extra>"))
    majority = accuracy[analyses[0].name]
    figure.add_trace(go.Scatter(x=majority["majority"], y=majority["attribute"], mode="markers", orientation="h",
                                name="most common level",
                                marker=dict(symbol="circle-open", size=11, color="#8c8c8c"),
                                hovertemplate="%{y}<br>always the most common level: %{x:.3f}<extra></extra>"))
    # Files side by side within an attribute's row: two close files no longer print one marker over the other.
    figure.update_layout(title="Level accuracy per attribute", xaxis=dict(title="accuracy", range=[0, 1.02]),
                         scattermode="group" if len(analyses) > 1 else "overlay", scattergap=0.3,
                         yaxis=dict(autorange="reversed", title=None), legend=dict(orientation="h", y=-0.15))
    display(show_plotly(figure, height=520))
    display(caption(f"Accuracy of each attribute's level on the analysed images of {data_shown}, with 95% "
                    f"percentile-bootstrap intervals ({n_bootstrap} resamples of images; none on fewer than "
                    f"{MIN_INTERVAL_IMAGES}); invalid levels count wrong. "
                    "Hover a point for macro-F1, quadratic-weighted kappa and the number of valid predictions."))

# %% tags=["remove-input"]
for e in analyses:
    full = accuracy[e.name]
    # Shares of n images carry about log10(n) decimals (0.69 of 100, not 0.690); the statistics beside them alike.
    digits = share_digits(int(full["n"].max()))
    table = pd.DataFrame({
        "attribute": full["attribute"],
        "accuracy": [value_with_interval(v, lo, hi, digits=digits, images=int(n))
                     for v, lo, hi, n in zip(full["accuracy"], full["low"], full["high"], full["n"])],
        "most common": full["majority"], "macro-F1": full["macro_f1"], "QWK": full["qwk"],
        "valid": [f"{v}/{n}" for v, n in zip(full["valid"], full["n"])]})
    display(Markdown(f"**{html.escape(e.name)}**"))
    display(table.style.hide(axis="index").format(precision=digits, na_rep="-"))
    below = full[full["high"] < full["majority"]]["attribute"].tolist()
    display(Markdown(
        f"{html.escape(e.name)} is most accurate on **{full.loc[full['accuracy'].idxmax(), 'attribute']}** "
        f"({full['accuracy'].max():.{digits}f}) and least on **{full.loc[full['accuracy'].idxmin(), 'attribute']}** "
        f"({full['accuracy'].min():.{digits}f}); "
        + (f"on {', '.join(below)} its whole interval lies below always answering the most common level."
           if below else "on no attribute does its whole interval lie below always answering the most common level.")))
    display(caption(f"Per-attribute accuracy (95% interval under it), the most-common-level reference, macro-F1 over "
                    "the "
                    f"three levels, quadratic-weighted kappa over the valid predictions, and valid / all predictions; "
                    f"{e.name} on {data_shown}.", label="Table"))

# %% [markdown] tags=["remove-if-no-output"]
# ## Confusion matrices
#
# For each attribute, what the model answered (columns) for each true level (rows), as the share of the row;
# the number in a cell is the count. A good model fills the diagonal; a model that hedges fills the Medium column;
# the last column counts levels it never produced.

# %% tags=["remove-input"]
for e in analyses:
    confusion = e.report.confusion
    for name in ATTRIBUTE_NAMES:
        assert confusion.loc[name].to_numpy().sum() == len(e), (e.name, name)
    shares = confusion_shares(confusion)
    # Three panels a row at the width of the text column, so that the counts print at a readable size.
    fig, axes = plt.subplots(5, 3, figsize=(7.2, 12.5))
    for ax, name, label in zip(axes.flat, ATTRIBUTE_NAMES, radar_labels(width=26)):
        confusion_panel(ax, shares.loc[name], confusion.loc[name], label)
    for ax in list(axes.flat)[len(ATTRIBUTE_NAMES):]:
        ax.axis("off")
    fig.supxlabel("predicted level (inv.: invalid)", fontsize=11)
    fig.supylabel("true level", fontsize=11)
    fig.suptitle(f"Confusion matrices: {e.name}", x=0.01, ha="left", fontsize=12)
    fig.tight_layout()
    plt.show()
    display(caption(f"True level (rows) against predicted level (columns) for each attribute; colour is the share of "
                    f"the row, the number the count of images; {e.name} on the {len(e)} analysed images of "
                    f"{data_shown}."))

# %% [markdown] tags=["remove-if-no-output"]
# ## The overall score against the truth
#
# Whether the error of the overall score depends on how good the picture really is: many models pull every score
# towards the middle, overrating poor pictures and underrating good ones (a positive bias at the low end, negative
# at the high end).

# %% tags=["remove-input"]
if analyses:
    points = pd.concat([e.frame().assign(model=e.name) for e in analyses], ignore_index=True)
    valid = points.dropna(subset=["predicted_score"])
if analyses and valid.empty:
    display(Markdown(f"No analysed image of {data_shown} has a valid predicted overall score, so there is nothing to "
                     "plot against the truth."))
elif analyses:
    scatter = px.scatter(valid, x="true_score", y="predicted_score", color="model", hover_name="image_path",
                         hover_data={"levels_wrong": True, "abs_error": ":.1f", "model": False},
                         labels={"true_score": "true overall score", "predicted_score": "predicted overall score"},
                         title="Predicted against true overall score")
    both = valid[["true_score", "predicted_score"]]
    low, high = float(np.nanmin(both)), float(np.nanmax(both))
    scatter.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", name="predicted = true",
                                 line=dict(color="#8c8c8c", dash="dot"), hoverinfo="skip"))
    display(show_plotly(scatter, height=460))
    display(caption(f"Each analysed image of {data_shown} with a valid predicted score; the dotted line is a perfect "
                    "prediction. Hover a point for the image and its number of wrong levels; click a model in the "
                    "legend to hide it."))

# %% tags=["remove-input"]
for e in analyses:
    frame = e.frame()
    table = score_error_by_truth(frame["predicted_score"], frame["true_score"], levels_wrong=frame["levels_wrong"])
    assert table["images"].sum() == len(e)
    display(Markdown(f"**{html.escape(e.name)}**"))
    display(table.rename(columns={"bin": "true score", "mae": "mean |err|", "median_ae": "median |err|",
                                  "bias": "bias", "levels_wrong": "wrong levels", "mean_true": "mean true",
                                  "mean_predicted": "mean pred."})
            .style.hide(axis="index").format(precision=1, na_rep="-"))
    display(caption(f"Absolute error of the overall score in bins of the true score, with the mean signed error "
                    f"(bias: predicted - true) and the mean number of wrong attribute levels per image; {e.name} on "
                    f"{data_shown}. "
                    "Invalid scores are counted in images but not in valid.", label="Table"))

# %% [markdown] tags=["remove-if-no-output"]
# ## Confusions beyond chance
#
# Every model mixes levels up now and then; a confusion matters when it happens more often than chance. For each
# attribute and each wrong pair (true level, predicted level), chance is what a model answering independently of
# the picture, with the same mix of answers, would give: the images of that true level times the share of that
# predicted level. Each pair is tested with a one-sided binomial test and the p-values of all pairs are adjusted
# for testing so many (Holm); the table keeps the pairs whose adjusted p is below 0.05.

# %% tags=["remove-input"]
for e in analyses:
    beyond = confusions_beyond_chance(e.predicted_levels, e.truth.levels, alpha=CONFUSION_ALPHA)
    tested = beyond.attrs["tested"]
    if beyond.empty:
        display(Markdown(f"**{html.escape(e.name)}**: none of the {tested} wrong (true, predicted) pairs that occur "
                         f"happens more often than chance (binomial test, Holm-adjusted p < {CONFUSION_ALPHA})."))
        continue
    display(Markdown(f"**{html.escape(e.name)}**: {counted(len(beyond), 'confusion')} of the {tested} tested "
                     f"happen more often than chance; the strongest, {beyond['attribute'][0]} read as "
                     f"{beyond['predicted'][0]} when it is {beyond['true'][0]}, {beyond['ratio'][0]:.1f} times as "
                     "often as chance."))
    display(beyond.style.hide(axis="index").format({"expected": "{:.1f}", "ratio": "{:.2f}", "p": "{:.2g}",
                                                    "p_holm": "{:.2g}"}))
    display(caption(f"Wrong (true, predicted) level pairs that occur more often than chance for {e.name} on "
                    f"{data_shown}: images, the number chance would give, their ratio, the one-sided binomial p-value "
                    "and the Holm-adjusted one.", label="Table"))

# %% [markdown] tags=["remove-if-no-output"]
# ## Does an attribute follow another attribute's truth?
#
# A model can be right for the wrong reason: its Sharpness levels may follow the picture's exposure rather than its
# focus. Each row of the map is one attribute's predicted levels, each column one attribute's true levels, and the
# colour their agreement (quadratic-weighted kappa: 1 perfect, 0 chance). The diagonal is the ordinary
# per-attribute agreement. The attributes' truths are themselves correlated (one careless shot has several
# faults), so some off-diagonal agreement is expected; the map is for looking, not a test.

# %% tags=["remove-input"]
for e in analyses:
    tracking = attribute_tracking(e.predicted_levels, e.truth.levels)
    short = radar_labels(width=60, newline=" ")
    heatmap = go.Figure(go.Heatmap(
        z=tracking.to_numpy(), x=list(range(13)), y=list(range(13)), zmin=-1, zmax=1, colorscale="RdBu",
        colorbar=dict(title="kappa", thickness=12), customdata=np.array(
            [[f"predicted {a}<br>against true {b}" for b in ATTRIBUTE_NAMES] for a in ATTRIBUTE_NAMES]),
        hovertemplate="%{customdata}<br>kappa %{z:.3f}<extra></extra>"))
    # Every attribute named on both axes, in the radar's short form (plotly would label every other one).
    # Rows named and numbered, columns by number: thirteen rotated names took a third of the figure.
    heatmap.update_xaxes(tickvals=list(range(13)), ticktext=[str(k) for k in range(1, 14)], tickangle=0,
                         tickfont_size=11, title="true levels of attribute (by its number on the left)")
    heatmap.update_yaxes(tickvals=list(range(13)), ticktext=[f"{name} {k}" for k, name in enumerate(short, 1)],
                         autorange="reversed", tickfont_size=11, title="predicted levels of attribute")
    heatmap.update_layout(title=f"Predicted levels against each attribute's truth<br><sup>{html.escape(e.name)}</sup>",
                          margin=dict(l=260, b=60, t=60))
    display(show_plotly(heatmap, height=620))
    # A row with one predicted level (or none valid) has no agreement to show: kappa 0 or undefined, a blank row.
    levels_given = [set(e.predicted_levels[:, j][e.predicted_levels[:, j] >= 0]) for j in range(len(ATTRIBUTE_NAMES))]
    blank = [name for name, given in zip(ATTRIBUTE_NAMES, levels_given) if len(given) <= 1]
    display(caption(f"Quadratic-weighted kappa between each attribute's predicted levels (rows) and each attribute's "
                    f"true levels (columns), valid predictions only; {e.name} on the {len(e)} analysed images of "
                    f"{data_shown}. Hover a cell for its value."
                    + (f" Blank row ({', '.join(blank)}): the model gave every image the same level there, so its "
                       "levels agree with no truth beyond chance (kappa 0, or undefined)." if blank else "")))

# %% [markdown] tags=["remove-if-no-output"]
# ## The multiple-choice question
#
# Each image comes with one question about one of the 13 attributes and four options, A to D. How often the model
# answers it right depends on the attribute asked; a model that prefers one letter regardless of the picture shows
# it in how often it answers each letter against how often each letter is right.

# %% tags=["remove-input"]
for e in analyses:
    asked = question_accuracy(e, questions)
    if asked.empty:
        display(Markdown(f"**{html.escape(e.name)}**: the scored images have no questions here "
                         f"({target.description}), so the question cannot be analysed."))
        continue
    display(Markdown(f"**{html.escape(e.name)}**"))
    display(asked.style.hide(axis="index").format({"accuracy": "{:.2f}"}))
    display(caption(f"Accuracy on the question by the attribute it asks about ({e.name} on {data_shown}): questions, "
                    "right answers, their share, and answers that could not be read (counted wrong).", label="Table"))
    letters = answer_letters(e)
    display(letters.table.style.hide(axis="index"))
    test = (f"a chi-square test of the {letters.valid} readable answers against the truth's letter shares gives "
            f"chi2 = {letters.chi2:.1f}, p = {letters.p:.3g}: "
            + ("the model's letters are **not** spread like the truth's" if letters.p < 0.05 else
               "no evidence that the model's letters are spread differently from the truth's")
            if np.isfinite(letters.p) else "the letter test cannot be computed (no readable answer, or a letter the "
            "truth never uses)")
    top = letters.table[letters.table["letter"] != "invalid"].set_index("letter")["predicted"]
    display(caption(f"How often {e.name} answers each letter (predicted), how often each letter is the right one "
                    f"(true) and how often both (right). It answers {top.idxmax()} most often ({top.max()} of "
                    f"{len(e)}); {test}.", label="Table"))

# %% [markdown] tags=["remove-if-no-output"]
# ## The hardest images
#
# The images with the most wrong levels (ties broken by the largest score error), each with its wrong
# attributes, the annotators' reason for the true level, and the model's own text.

# %% tags=["remove-input"]
for e in analyses:
    frame = e.frame()
    worst = hardest_images(frame, top=hardest)
    ranked = worst["levels_wrong"].to_numpy()
    assert (np.diff(ranked) <= 0).all() and (ranked.size == 0 or ranked[0] == frame["levels_wrong"].max())
    display(Markdown(f"### {html.escape(e.name)}"))
    for row in worst.itertuples():
        picture = ""
        if ds.image_file(row.image_path) is not None:
            picture = thumbnail(ds.open_image(row.image_path, max_side=max_side), title=row.image_path,
                                max_side=max_side, credit=not ds.is_lab)
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
    display(caption(f"The {len(worst)} analysed images of {data_shown} with the most wrong levels for {e.name}: "
                    "true score and level of each wrong attribute, the predicted level, and the annotators' reason.",
                    label="Table"))

# %% [markdown] tags=["remove-if-no-output"]
# ## Fields the model did not produce
#
# A level, score or answer that could not be read counts wrong (or, for the score, is imputed). The table counts
# them per field over every record of the file, with the parser's reason where the file records one.

# %% tags=["remove-input"]
for e in analyses:
    failures = parse_failures(e.predictions, e.details)
    assert (failures["invalid"] <= failures["records"]).all()
    assert (failures["failed_records"] <= failures["invalid"]).all()
    shown = failures[failures["invalid"] > 0]
    display(Markdown(f"**{html.escape(e.name)}**: {len(e.predictions)} records, "
                     f"{sum(s == 'failed' for s in e.predictions.status)} failed (no usable output)."))
    if shown.empty:
        display(Markdown("*Every field of every record was valid.*"))
    else:
        shown = shown.assign(share=[percent(v, len(e.predictions)) for v in shown["share"]])
        display(shown.rename(columns={"failed_records": "failed records"}).style.hide(axis="index")
                .set_properties(subset=["reasons"], **{"text-align": "left"}))
        display(caption(f"Records of {e.name} without a valid value, per field: how many, their share, how many were "
                        "failed records, and the reasons (the parser's, or the reader's note), most frequent first.",
                        label="Table"))

# %% [markdown] tags=["remove-if-no-output"]
# ## Are the probabilities calibrated?
#
# Models run with the `score` protocol (token probabilities) and the feature baseline (classifier probabilities)
# state how sure they are of each level. A calibrated model that says 70% is right 70% of the time. The
# reliability diagram compares, in bins of stated confidence (the largest probability), the stated confidence
# with the share right; the expected calibration error (ECE) averages the gap over bins, weighted by items, and
# the Brier score is the mean squared distance between the stated distribution and the truth (0 perfect, 2 worst).

# %% tags=["remove-input"]
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
                    f"images of {data_shown} ({', '.join(f'{k}: {r.items} items' for k, r in results.items())}); "
                    "bars below count the items per bin. Bars under the dotted line: overconfident."))
    if len(level_items.truth):
        per_attribute = calibration_by_attribute(level_items)
        # the accuracy is a share of the items (to the decimals their number carries); the rest are means
        accuracy_format = f"{{:.{share_digits(int(per_attribute['items'].max()))}f}}"
        display(per_attribute.rename(columns={"mean_confidence": "mean confidence", "ece": "ECE", "brier": "Brier"})
                .style.hide(axis="index").format({"accuracy": accuracy_format, "mean confidence": "{:.3f}",
                                                  "ECE": "{:.3f}", "Brier": "{:.3f}"}))
        display(caption(f"Calibration of each attribute's level probabilities for {e.name}: accuracy of the most "
                        "probable level, mean stated confidence, ECE and Brier score.", label="Table"))
