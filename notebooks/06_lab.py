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
# # The composition lab
#
# A chapter for learning to see composition the way PortraitCraft's annotators do. It says what each of the 13
# attributes means, then shows the lab's pictures changing **one factor at a time**: a tilting horizon, a blurring
# frame, a subject walking to the edge. Under each series: how the lab's ground truth moves, and how a model's
# judgment moves with it (here the CPU feature baseline, when its predictions are passed to the book).
#
# The sampled lab cannot show this by itself (every image draws all its factors afresh, so no two differ in one
# factor only); the series are rendered here from one base scene with the lab's own drawing and labelling code,
# labelled with the same annotator noise for every image, so what moves along a series is the factor's effect.

# %% tags=["parameters"]
data = "data/lab"  # the book's dataset (this chapter renders its own lab scenes; data is not read)
predictions: list = []  # prediction files; the feature baseline's one also gives the model judged below
series_cache = "data/lab_series"  # where the series images are rendered once and reused
thumb_side = 150  # longest side of the thumbnails in the strips, in pixels
seed = 0  # the annotator noise shared by every series image

# %%

import matplotlib.pyplot as plt
import pandas as pd
import plotly.express as px
import seaborn as sns
from IPython.display import HTML, Markdown, display

from portraitcraft.attributes import ATTRIBUTES, level_from_score
from portraitcraft.book import caption, show_plotly
from portraitcraft.book.paths import locate, repository_path
from portraitcraft.book.tables import level_cell_colour, series_strip, short_name
from portraitcraft.lab import MODELS, TERMS
from portraitcraft.lab.factors import LONG_SIDE
from portraitcraft.lab.series import BASE_SCENE, SWEEPS, differing_factors, render_series
from portraitcraft.lab_series import (
    baseline_model_dir,
    factor_effects,
    judge_series,
    moving_attributes,
    series_table,
    value_label,
)

sns.set_theme(style="whitegrid", context="notebook", font_scale=0.9)
plt.rcParams.update({"figure.dpi": 100, "savefig.bbox": "tight"})

# %% [markdown]
# ## The 13 attributes
#
# What each attribute asks of a portrait, as the benchmark defines it, and which measurable properties of a
# scene drive it in the lab (with the weight of each in the lab's scoring rule: positive helps, negative hurts).

# %% tags=["hide-input"]
drivers = {name: ", ".join(f"{term} ({weight:+g})" for term, weight in sorted(model.weights.items(),
                                                                               key=lambda kv: -abs(kv[1])))
           for name, model in MODELS.items()}
meanings = pd.DataFrame({
    "attribute": [a.name for a in ATTRIBUTES],
    "what it asks": [a.meaning for a in ATTRIBUTES],
    "what drives it in the lab": [drivers[a.name] for a in ATTRIBUTES],
    "noise (sd)": [MODELS[a.name].noise_sd for a in ATTRIBUTES],
})
assert list(meanings["attribute"]) == list(MODELS), "the lab models every attribute, in the published order"
display(meanings.style.hide(axis="index").set_properties(subset=["what it asks", "what drives it in the lab"],
                                                         **{"text-align": "left"}))
display(caption("The 13 attributes (definitions from `portraitcraft.attributes`), the lab's driving terms with their "
                "weights (from `portraitcraft.lab.annotate.MODELS`), and the per-attribute noise no picture explains.",
                label="Table"))

# %% tags=["hide-input"]
terms = pd.DataFrame([{"term": t.name, "what it measures": t.doc} for t in TERMS.values()])
display(terms.style.hide(axis="index").set_properties(subset=["what it measures"], **{"text-align": "left"}))
display(caption("The lab's terms: each turns a scene factor into a number on a fixed scale. An attribute score is "
                "base + sum of weight x term + noise, clipped to 0-10; Poor below 5, Medium below 7, Good otherwise.",
                label="Table"))

# %% [markdown]
# ## The series
#
# Every series starts from the same base scene, a well-made half-body portrait: the subject on the left third
# looking right into open space, a level horizon, soft side light, a warm palette. One factor then changes; all
# others stay as they are.

# %%
# A relative cache folder is taken from the repository root, wherever the notebook runs (book build, Jupyter, nbval).
cache = repository_path(series_cache)
steps = render_series(cache, seed=seed, long_side=LONG_SIDE)
table = series_table(steps)
for factor in SWEEPS:
    members = [s for s in steps if s.factor == factor]
    assert len(members) == len(SWEEPS[factor].values) >= 3, factor
    for before, after in zip(members, members[1:]):
        assert differing_factors(before.factors, after.factors) == [factor], (factor, before.step)
    for s in members:
        assert differing_factors(BASE_SCENE, s.factors) in ([], [factor]) and s.image.is_file()
        assert all(s.levels[name] == level_from_score(score) for name, score in s.scores.items())
print(f"{len(steps)} scenes in {len(SWEEPS)} series, {LONG_SIDE} px, in {series_cache}")

model_dir = next((found for p in predictions if (found := baseline_model_dir(locate(str(p))))), None)
judged = None
if model_dir is not None:
    judged = judge_series(steps, model_dir, cache_dir=cache / "features")
    assert list(judged["factor"]) == list(table["factor"]) and list(judged["step"]) == list(table["step"])
    print(f"feature baseline: {model_dir}")

# %% tags=["remove-input"]
if judged is None:
    display(Markdown("*No feature-baseline predictions were passed to the book, so only the ground truth is shown. "
                     "`make book` passes the baseline's file on the lab; by hand: `portraitcraft book --data data/lab "
                     "--predictions data/lab/runs/feature-baseline.jsonl --only 06_lab`.*"))

# %% [markdown]
# ## Which factor moves which attribute
#
# A summary of all series at once: for each factor, how far each attribute's ground-truth score (0-10) moves
# along its series. A factor moves few attributes strongly; most attributes feel several factors.

# %% tags=["hide-input"]
effects = factor_effects(table)
panels = [("ground truth: score range (0-10 points)", effects, 10.0)]
if judged is not None:
    panels.append(("feature baseline: expected-level range (0-2 levels)", factor_effects(judged, "expected:"), 2.0))
fig, axes = plt.subplots(1, len(panels), figsize=(8.5 * len(panels), 5.6), squeeze=False)
for ax, (title, values, top) in zip(axes[0], panels):
    sns.heatmap(values.rename(columns=short_name), ax=ax, vmin=0, vmax=top * 0.6, cmap="Blues", annot=True, fmt=".1f",
                cbar=False, linewidths=0.5, linecolor="white", annot_kws={"size": 8})
    ax.set(title=title, xlabel=None, ylabel="factor changed")
    ax.tick_params(axis="x", rotation=55, labelsize=8)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
fig.tight_layout()
plt.show()
display(caption("How far each attribute moves (max - min along the series) when one factor of the base scene "
                "changes: the lab's ground-truth scores (left)" + (" and the feature baseline's expected level, "
                "the probability-weighted level from 0 Poor to 2 Good (right)" if judged is not None else "") +
                f". Computed on the {len(steps)} series scenes rendered in this chapter."))

# %% [markdown]
# ## Each series
#
# For each factor: the strip of pictures, then, for the attributes that move most, the ground-truth score and
# level at each step and the level the feature baseline gives (when available).

# %% tags=["hide-input"]
for factor, sweep in SWEEPS.items():
    members = [s for s in steps if s.factor == factor]
    rows = judged[judged["factor"] == factor].set_index("step") if judged is not None else None
    display(Markdown(f"### {factor.replace('_', ' ')}\n\nAlong this series {sweep.shows}."))
    display(HTML(series_strip(members, rows, max_side=thumb_side)))
    moving = moving_attributes(table, factor) or moving_attributes(table, factor, min_change=0.0, top=2)
    columns = [value_label(s.value) for s in members]
    lines = {}
    for name in moving:
        lines[(short_name(name), "ground truth")] = [f"{s.levels[name]} {s.scores[name]:.1f}" for s in members]
        if rows is not None:
            lines[(short_name(name), "feature baseline")] = [rows.loc[s.step, f"level:{name}"] for s in members]
    lines[("overall score", "ground truth")] = [str(s.total_score) for s in members]
    if rows is not None:
        lines[("overall score", "feature baseline")] = [f"{rows.loc[s.step, 'predicted_total']:.1f}" for s in members]
    frame = pd.DataFrame.from_dict(lines, orient="index", columns=pd.Index(columns, name=factor))
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=["attribute", "by"])
    display(frame.style.map(level_cell_colour))
    display(caption(f"The {factor.replace('_', ' ')} series: the base scene with only {factor} changed. Levels and "
                    "0-10 scores of the attributes that move most, from the lab's labelling (one annotator for the "
                    "whole series)" + (", and the feature baseline's levels" if rows is not None else "") + ".",
                    label="Table"))

# %% [markdown]
# ## The overall score along every series
#
# The same comparison for the overall score, all series side by side. Hover a point for its value.

# %% tags=["hide-input"]
totals = (
    table[["factor", "step", "value", "total_score"]].rename(columns={"total_score": "score"}).assign(by="ground truth")
)
if judged is not None:
    totals = pd.concat([totals, judged[["factor", "step", "value", "predicted_total"]]
                        .rename(columns={"predicted_total": "score"}).assign(by="feature baseline")], ignore_index=True)
lines_figure = px.line(totals, x="step", y="score", color="by", facet_col="factor", facet_col_wrap=5, markers=True,
                       hover_data={"value": True, "step": False}, facet_col_spacing=0.03, facet_row_spacing=0.12,
                       labels={"step": "step along the series", "score": "overall score", "by": ""},
                       title="Overall score along each one-factor series")
lines_figure.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1].replace("_", " ")))
lines_figure.update_xaxes(dtick=1)
display(show_plotly(lines_figure, height=560))
display(caption("Overall score (1-100) of each series scene by the lab's labelling" +
                (" and as predicted by the feature baseline" if judged is not None else "") +
                "; the x axis counts the steps of the series (hover for the factor's value)."))
