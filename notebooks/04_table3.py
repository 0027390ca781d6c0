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
from typing import Optional  # the parameters' types, for papermill --help-notebook

data: str = "data/lab"  # a PortraitCraft root folder, "lab", or a Hugging Face dataset id
predictions: list = []  # Track 1 prediction files (submission, raw output or JSON Lines), one row each
backend: str = "transformers"  # model backend for `model` (transformers: Qwen3-VL here; openai: a server)
model: "Optional[str]" = None  # a model id or folder to run on the test split (None: no model run)
protocol: str = "generate"  # generate (the reference prompt, parsed) or score (token probabilities)
limit: "Optional[int]" = None  # predict only the first N test images (None: all); the others count as missing
n_bootstrap: int = 1000  # bootstrap resamples of images for the intervals
seed: int = 0  # seed of the bootstrap, the chance predictor and the validation split
validation_fraction: float = 0.1  # share of train held out where the test labels are hidden
runs: str = "book/runs"  # where a model run and the submissions go (relative: to the repository root)

# %% tags=["remove-cell"]
import html
import re
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from IPython.display import HTML, Markdown, display

from portraitcraft.attributes import ATTRIBUTE_NAMES
from portraitcraft.book import (
    banner,
    caption,
    counted,
    interval_estimable,
    percent,
    shaded,
    share_digits,
    show_plotly,
    value_with_interval,
)
from portraitcraft.book.paths import locate, repository_path, shown_path
from portraitcraft.book.tables import MAX_METRIC_DIGITS, breakable, column_labels, metric_digits, table3_cell
from portraitcraft.evaluation import METRIC_LABELS, MIN_INTERVAL_IMAGES
from portraitcraft.label_free import (
    MIN_IMAGES,
    agreement,
    answer_balance,
    invalid_fields,
    level_shares,
    restricted,
    score_distribution,
    submission_problems,
    training_reference,
)
from portraitcraft.sources import open_dataset
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
data_shown = shown_path(data)  # the data as every page prints a path
runs_dir = repository_path(runs)
prediction_files = [locate(str(p)) for p in predictions]
run_lines: list[str] = []
if model:
    from portraitcraft.backends import make_backend
    from portraitcraft.runners import run_predictions

    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{Path(str(model)).name}-{protocol}")
    run_file = runs_dir / f"{slug}{'' if limit is None else f'-first{limit}'}.jsonl"
    run_summary = run_predictions(make_backend(backend, model=str(model), protocol=protocol), ds, split="test",
                                  out=run_file, limit=limit, progress=False)
    run_lines = run_summary.lines()
    prediction_files.append(str(run_file))
# Where the test labels are hidden, each prediction file is also written as the official submission, named by its
# content (a submission of an older version of a file has another name) and alone in the folder with this build's.
result = reproduce_table3(ds, prediction_files, n_bootstrap=n_bootstrap, seed=seed,
                          validation_fraction=validation_fraction, submissions_dir=runs_dir / "submissions",
                          fingerprint_submissions=True)
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
        "Method": [breakable(m) + (" *" if w else "") for m, w in zip(computed["method"], computed["warning"])],
        "Evaluated on": evaluated_on,
        "Images": ["-" if pd.isna(n) else f"{n:,}" for n in computed["n_images"]],
        **{METRIC_LABELS[m]: [table3_cell(row, m) for _, row in computed.iterrows()] for m in TABLE3_METRICS},
    })
    display(shown.style.hide(axis="index").set_properties(**{"text-align": "left"}))
    row_notes = "".join(f" {method}: {note}." for method, note in zip(computed["method"], computed["note"]) if note)
    display(caption(
        f"Table 3 **computed in this build** on the {result.target.description} of {data_shown}: value and 95% "
        f"percentile bootstrap interval over images ({n_bootstrap} resamples, seed {seed}; none on fewer than "
        f"{MIN_INTERVAL_IMAGES} images, where it cannot be estimated). Values carry the decimals their count "
        "carries: Level Acc those of a share of its levels (13 an image), the others those of a share of the images "
        f"(100 images: 2), at most {MAX_METRIC_DIGITS}; the paper's rows above keep the 4 it prints. Overall is the "
        "mean of "
        "SRCC, PLCC, Level Acc and QA Acc (of the first three where QA is not available); an undefined correlation "
        "(a constant predictor) is shown as '-', never counted as 0."
        + (" Rows marked * carry a warning below." if (computed["warning"] != "").any() else "") + row_notes,
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
    display(Markdown(f"**Nothing computed on {data_shown}:** " + "; ".join(result.notes) + "."))

# %% tags=["remove-input"]
scored_rows = computed[computed["n_images"].notna() & computed["overall"].notna()]
if len(scored_rows):
    best = scored_rows.loc[scored_rows["overall"].idxmax()]
    chance = scored_rows[scored_rows["method"] == "Chance (uniform)"]
    places = metric_digits("overall", int(best["n_images"]))  # as the table shows Overall
    estimable = interval_estimable(int(best["n_images"]))
    interval = f" [{best['overall_low']:.{places}f}, {best['overall_high']:.{places}f}]" if estimable else ""
    beats = ""
    if len(chance) and best["method"] != "Chance (uniform)" and estimable:
        margin = best["overall"] - chance["overall"].iloc[0]
        apart = best["overall_low"] > chance["overall_high"].iloc[0]
        beats = (f", {margin:+.{places}f} over chance ({chance['overall'].iloc[0]:.{places}f}); their intervals "
                 + ("do not overlap." if apart else "overlap, so this data cannot tell them apart."))
    display(Markdown(
        f"On the {result.target.split} split of {data_shown}, **{best['method']}** "
        + ("has the highest Overall, " if len(scored_rows) > 1 else "is the only computed row with an Overall, ")
        + f"{best['overall']:.{places}f}{interval}{beats or '.'} "
        + ("These rows are computed on the synthetic lab, not on PortraitCraft: they check the pipeline end to "
           "end and are not comparable with the reported rows." if ds.is_lab else
           "They rest on other images than the paper's official test, so compare them with each other, not with "
           "the reported rows.")))
elif len(computed):
    display(Markdown(
        f"No computed row has an Overall on the {result.target.split} split of {data_shown}: with "
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
#   on the lab, `make book` passes the CPU feature baseline's predictions), in any of the four
#   {doc}`prediction file formats <../formats>`,
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
for _, row in computed.iterrows():  # the computed rows only: the paper's were scored on other images
    for metric in TABLE3_METRICS:
        if pd.notna(row[metric]):
            long.append({"method": row["method"], "metric": METRIC_LABELS[metric],
                         "value": row[metric], "low": row[f"{metric}_low"], "high": row[f"{metric}_high"]})
long = pd.DataFrame(long)
if len(long):
    chart = go.Figure()
    symbols = ["circle", "square", "diamond", "triangle-up", "x", "star", "cross", "pentagon"]
    for k, (method, part) in enumerate(long.groupby("method", sort=False)):
        chart.add_trace(go.Scatter(
            x=part["value"], y=part["metric"], mode="markers", name=method, orientation="h",
            marker=dict(size=10, symbol=symbols[k % len(symbols)], line=dict(width=1)),
            error_x=dict(type="data", symmetric=False, array=(part["high"] - part["value"]).fillna(0),
                         arrayminus=(part["value"] - part["low"]).fillna(0), thickness=1.5),
            hovertemplate="%{y}: %{x:.4f}<extra>" + html.escape(method) + "</extra>"))
    chart.update_layout(
        title="Table 3 computed in this build, with 95% intervals",
        # Methods side by side within a metric's row, so that close values do not hide each other.
        scattermode="group", scattergap=0.4,
        xaxis=dict(title="value",
                   range=[min(-0.05, float(long["low"].min()) - 0.05), 1.0]),
        yaxis=dict(categoryorder="array", categoryarray=[METRIC_LABELS[m] for m in reversed(TABLE3_METRICS)
                                                         if METRIC_LABELS[m] in set(long["metric"])]),
    )
    display(show_plotly(chart, height=220 + 55 * long["metric"].nunique()))
    display(caption(
        f"The computed rows of the table above ({evaluated_on}), metric by metric, each with its 95% bootstrap "
        "interval (SRCC and PLCC are correlations, the accuracies the share right); compare "
        "methods with each other here. The paper's reported rows are left out: they were scored on other images. "
        "PLCC is the raw Pearson correlation of predicted and true overall scores, with no logistic fit "
        "(`portraitcraft evaluate` reports PLCC after a 4-parameter logistic fit as an extra column); the paper does "
        "not say which it prints. Click a method in the legend to hide it."))

# %% [markdown]
# ## Per attribute, for each computed method

# %% tags=["remove-input"]
columns = {r.method: r.report.per_attribute.set_index("attribute")["accuracy"] for r in result.results if r.report}
per_attribute = pd.concat(columns, axis=1) if columns else pd.DataFrame()
if len(per_attribute):
    # Shares of n images, to the decimals n carries (0.69 of 100 images, not 0.690).
    digits = share_digits(len(result.target.truth))
    # A long file name may break after each "/" (a zero-width space), not inside words.
    shown = per_attribute.rename(columns=lambda name: name.replace("/", "/\u200b"))
    methods = list(shown.columns)
    # the attribute as the first column, under the methods' header row (as an index it took a header row of its own)
    display(shaded(shown.reset_index().style.hide(axis="index").format(precision=digits, subset=methods),
                   cmap="Greens", subset=methods))
    display(caption(
        f"Level accuracy of each attribute for each computed method on the {result.target.description}: the share "
        f"of images whose level is right, to {counted(digits, 'decimal')}, the precision of a share of "
        f"{counted(len(result.target.truth), 'image')}; the darker the green, the higher.", label="Table"))
# (a file that was not scored has no column: why is said once, under Table 3 above)

# %% tags=["remove-cell"]
# The prediction files' records for the test split, for the submissions and the label-free diagnostics below.
file_rows = result.results[:len(prediction_files)]
test_images = ds.images().query("split == 'test'")["image_path"].tolist()
test_sets = [(r.method, restricted(r.predictions, test_images)) for r in file_rows]
test_sets = [(name, s) for name, s in test_sets if len(s)]
diagnose = result.target.test_labels_hidden and bool(test_sets)
labels, legend = column_labels([name for name, _ in test_sets])  # long file names as "file 1" in table headers
unscored = [r for r in file_rows if r.report is None]


# %% tags=["remove-input"]
if unscored and result.target.split == "validation":
    files_named = ", ".join(f"`{Path(r.predictions.path).name}`" for r in unscored)
    display(Markdown(
        f"**Not in Table 3:** {files_named} {'predicts' if len(unscored) == 1 else 'predict'} no image of the "
        f"validation split, so Table 3 cannot score {'it' if len(unscored) == 1 else 'them'} here (the test labels "
        "are hidden). What can be done with test-split predictions is below: the official submission and the "
        "diagnostics that need no labels. To get a computed row, predict the validation split with the same model "
        f"(the same {result.target.description}) and pass that file too:"))
    display(Markdown(
        "```bash\n"
        "# the feature baseline (trained without the validation images)\n"
        "portraitcraft baseline predict DATA --split validation \\\n"
        "    --out runs/val.jsonl\n"
        "# or a model\n"
        "portraitcraft predict --data DATA --split validation \\\n"
        "    --model MODEL --out runs/val.jsonl\n"
        "portraitcraft book --data DATA --predictions runs/val.jsonl\n```\n\n"
        "DATA is the data folder of this build (in the banner above)."))

# %% [markdown] tags=["remove-if-no-output"]
# ## The submissions for the official test
#
# The official test is scored by the benchmark's server, from the submission file: every test image, with a level
# letter for each attribute, the overall score and the answer. Where a prediction is missing or invalid, the
# submission holds `NOT_RES` (levels, answer) or null (overall score): scored wrong there, never guessed here.

# %% tags=["remove-input"]
for row, check in zip(file_rows, result.submission_checks):
    if check is None:  # a file of training images (the validation split's): no submission
        continue
    levels_total = 13 * check.images
    display(Markdown(
        f"**{html.escape(row.method)}**: `{check.out.name}` in `{shown_path(check.out.parent)}` holds "
        f"{counted(check.images, 'test image')}, {check.predicted} with a prediction; `NOT_RES` levels "
        f"{check.invalid_levels:,} of {levels_total:,}, null scores {check.invalid_scores}, `NOT_RES` answers "
        f"{check.invalid_answers}."
        + (f" {counted(len(check.extra), 'predicted image')} not in the test file left out (e.g. "
           f"`{check.extra[0]}`)." if check.extra else "")))
    if check.extra and not check.predicted:
        display(Markdown(
            f"**None of the file's records names a test image**: it names `{check.extra[0]}`, the test file names "
            f"images like `{check.offending[0][0]}`. Check the image names (a missing `.jpg`, another split's "
            "images) before uploading: as it is, every field of the submission is `NOT_RES` or null."))
    offending = submission_problems(check, row.predictions)
    if offending.empty:
        display(Markdown("Every field of every test image holds a prediction: the file is ready to upload."))
        continue
    shown = offending.head(20)
    display(shown.style.hide(axis="index").set_properties(**{"text-align": "left"}))
    file_name = Path(row.predictions.path).name
    display(caption(
        "The test images whose submission holds a `NOT_RES` or null, from "
        + (f"`{file_name}`" if row.method == file_name else f"{html.escape(row.method)}'s file `{file_name}`")
        + ": its record, the fields written so, and why"
        + (f"; the first 20 of {len(offending)}" if len(offending) > 20 else "") + ". Fix or rerun these records "
        "(`portraitcraft predict` resumes a run, predicting only what is missing) before uploading.", label="Table"))
if result.submissions:
    display(Markdown("Only the submissions of this build are kept in that folder; each name ends in the first "
                     "digits of its prediction file's SHA-256, so a submission of an older version of a file "
                     "cannot be taken for this one."))

# %% [markdown] tags=["remove-if-no-output"]
# ## The test predictions without labels
#
# Hidden labels do not make test predictions unreadable. Without scoring them, they can be compared with the
# training split's labels (the same benchmark, the same annotators): a model whose scores huddle around one value,
# which never says Poor, which always answers A, or whose output mostly fails to parse shows it here, before an
# upload. None of this says the predictions are right.

# %% tags=["remove-input"]
if diagnose:
    train_scores, train_levels = training_reference(ds)
    spread = score_distribution(test_sets, train_scores)
    display(spread.assign(source=[spread["source"].iloc[0], *labels]).rename(columns={"ks": "KS to train"})
            .style.hide(axis="index")
            .format({"mean": "{:.1f}", "sd": "{:.1f}", "min": "{:.0f}", "median": "{:.1f}", "max": "{:.0f}",
                     "KS to train": "{:.2f}"}, na_rep="-"))
    display(caption(
        f"Overall scores predicted for the test split against the true scores of the training split's "
        f"{counted(len(train_scores), 'labelled image')}: valid scores, mean, standard deviation, range and the "
        "Kolmogorov-Smirnov distance of the two distributions (0 the same, 1 disjoint)"
        + (f"; {legend}" if legend else "") + ".", label="Table"))
    for _, line in spread.iloc[1:].iterrows():
        train_sd = spread["sd"].iloc[0]
        if not np.isfinite(line["mean"]):
            display(Markdown(f"{html.escape(line['source'])} has no valid overall score on the test split."))
        elif min(line["valid"], spread["valid"].iloc[0]) < MIN_IMAGES:
            display(Markdown(
                f"{html.escape(line['source'])} predicts a mean of {line['mean']:.1f} against the training split's "
                f"{spread['mean'].iloc[0]:.1f}; with fewer than {MIN_IMAGES} scores on a side, the two distributions "
                "are not compared."))
        else:
            narrower = line["sd"] < 0.5 * train_sd
            display(Markdown(
                f"{html.escape(line['source'])} predicts a mean of {line['mean']:.1f} against the training split's "
                f"{spread['mean'].iloc[0]:.1f}, with a spread of {line['sd']:.1f} against {train_sd:.1f}"
                + (": its scores huddle in the middle, as those of a model that tells pictures apart poorly do."
                   if narrower else ".")))

# %% tags=["remove-input"]
if diagnose:
    shares = level_shares(test_sets, train_levels)
    # Percentages Poor/Medium/Good in one cell; long file names become "file 1" (named in the caption).
    wide = shares.assign(mix=["/".join("-" if not np.isfinite(v) else f"{100 * v:.0f}" for v in values)
                              for values in shares[["Poor", "Medium", "Good"]].to_numpy()])
    table = wide.pivot(index="attribute", columns="source", values="mix").reindex(
        index=list(ATTRIBUTE_NAMES), columns=["training split (truth)", *(name for name, _ in test_sets)])
    table.columns = ["training split (truth)", *labels]
    for label, (name, _) in zip(labels, test_sets):
        mine = shares[shares["source"] == name].set_index("attribute")
        table[f"{label}: invalid"] = [f"{100 * v:.0f}" for v in mine["invalid"].reindex(table.index)]
    display(table.reset_index().style.hide(axis="index").set_properties(**{"text-align": "left"}))
    display(caption(
        "Percent Poor/Medium/Good per attribute: the training split's true levels, and the levels each file "
        "predicts for the test split, with the percent of invalid levels (written `NOT_RES`)"
        + (f"; {legend}" if legend else "") + ".", label="Table"))
    predicted = shares[shares["source"] != "training split (truth)"]
    compared = predicted.dropna(subset=["difference"])
    never = predicted[(predicted[["Poor", "Medium", "Good"]] == 0).any(axis=1)]
    if len(compared):
        worst = compared.loc[compared["difference"].idxmax()]
        display(Markdown(
            f"The largest departure from the training split's mix is {html.escape(worst['source'])}'s "
            f"**{worst['attribute']}**: {worst['difference']:.0%} of its valid predictions would have to change level "
            "to match it. "
            + (f"{counted(len(never), 'attribute row')} above {'has' if len(never) == 1 else 'have'} a level that is "
               "never predicted (0%)." if len(never) else "Every level is predicted for every attribute.")))
    else:
        display(Markdown(f"With fewer than {MIN_IMAGES} valid levels per attribute on a side, the mixes are shown but "
                         "not compared."))

# %% tags=["remove-input"]
if diagnose:
    letters = answer_balance(test_sets)
    shown_letters = letters.drop(columns=["valid", "top", "top_share", "p_even"]).assign(source=labels)
    display(shown_letters.style.hide(axis="index"))
    display(caption("How often each file answers each letter of the test split's questions (the right letters are "
                    "hidden); invalid answers are written `NOT_RES`" + (f"; {legend}" if legend else "") + ".",
                    label="Table"))
    for _, line in letters.iterrows():
        if line["valid"] < MIN_IMAGES:
            display(Markdown(f"{html.escape(line['source'])} gives {counted(line['valid'], 'valid answer')}: too few "
                             f"(under {MIN_IMAGES}) to speak of a habit."))
            continue
        uneven = line["p_even"] < 0.05
        display(Markdown(f"{html.escape(line['source'])} answers {line['top']} in {line['top_share']:.0%} of its "
                         f"{line['valid']} valid answers, against 25% each for an even spread (chi-square p = "
                         f"{line['p_even']:.2g}): "
                         + ("more uneven than chance alone would make it, a hint of a letter habit (the right "
                            "letters are hidden, so not proof of one)." if uneven else
                            "within what chance gives, no sign of a letter habit.")))
    for name, test_set in test_sets:
        fields = invalid_fields(test_set)
        bad = fields[fields["invalid"] > 0]
        if bad.empty:
            display(Markdown(f"Every field of {html.escape(name)}'s {counted(len(test_set), 'test record')} is "
                             "valid."))
            continue
        display(bad.assign(share=[percent(v, len(test_set)) for v in bad["share"]]).style.hide(axis="index"))
        display(caption(f"Fields of {html.escape(name)}'s test records without a valid value (failed records count "
                        f"in every field), of {counted(len(test_set), 'record')}.", label="Table"))

# %% [markdown] tags=["remove-if-no-output"]
# ## Two files on the test split
#
# Two runs (two models, two prompts, a rerun) can be compared on the test split without its labels: how far
# they agree says how much choosing between them matters, not which is right.

# %% tags=["remove-input"]
if diagnose and len(test_sets) >= 2:
    (first_name, first_set), (second_name, second_set) = test_sets[:2]
    agreeing = agreement(first_set, second_set)
    display(agreeing.per_attribute.rename(columns={"both_valid": "both valid", "agreement": "same level",
                                                   "kappa": "kappa (quadratic)"})
            .style.hide(axis="index").format({"same level": "{:.0%}", "kappa (quadratic)": "{:.2f}"}, na_rep="-"))
    display(caption(
        f"{html.escape(first_name)} against {html.escape(second_name)} on the "
        f"{counted(agreeing.common, 'test image')} both predict: per attribute, the images where both levels are "
        "valid, the share with the same level and the quadratic-weighted kappa (1 the same, 0 chance); "
        f"kappas and correlations need at least {MIN_IMAGES} images.", label="Table"))
    rank = ("-" if not np.isfinite(agreeing.spearman) else f"{agreeing.spearman:.2f}")
    display(Markdown(
        f"Their overall scores have a rank correlation of {rank} over {counted(agreeing.score_pairs, 'image')} "
        "with two valid scores"
        + (f" (fewer than {MIN_IMAGES}: too few to say)" if agreeing.too_few else "")
        + (f"; they give the same answer on {agreeing.answer_agreement:.0%} of "
           f"{counted(agreeing.answer_pairs, 'question')}" if agreeing.answer_pairs else "") + "."))
    if len(test_sets) > 2:
        display(Markdown(f"Only the first two files are compared; {counted(len(test_sets) - 2, 'other file')} left "
                         "out."))
