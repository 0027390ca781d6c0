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

# %% tags=["parameters", "remove-cell"]
data: str = "data/lab"  # the book's dataset (this chapter renders its own lab scenes; data is not read)
baseline_model: str = ""  # a saved feature-baseline model, judged on the series below ("": none); the book passes the
# one that wrote the first feature-baseline prediction file it is given, else a lab-trained one already at hand
series_cache: str = "data/lab_series"  # where the series images are rendered once and reused
image_side: int = 768  # longest side of the series pictures embedded in the page (a click shows them at this size)
seed: int = 0  # the annotator noise shared by every series image
photo: str = "astronaut"  # a photograph of scikit-image's data module for the real-photo series ("": none)

# %% tags=["remove-cell"]
import re

import matplotlib.pyplot as plt
import pandas as pd
import plotly.express as px
import seaborn as sns
from IPython.display import HTML, Markdown, display

from portraitcraft.attributes import ATTRIBUTES, level_from_score
from portraitcraft.baseline import BaselineError, load_baseline, trained_on
from portraitcraft.book import banner, caption, radar_labels, show_plotly
from portraitcraft.book.paths import locate, repository_path
from portraitcraft.book.tables import level_cell_colour, series_strip
from portraitcraft.lab import MODELS, TERMS
from portraitcraft.lab.factors import LONG_SIDE
from portraitcraft.lab.series import BASE_SCENE, SWEEPS, differing_factors, label_scene, render_series
from portraitcraft.series_readings import (
    PHOTO_CREDIT,
    PHOTO_SWEEPS,
    READINGS,
    factor_effects,
    in_words,
    judge_series,
    moving_attributes,
    photo_reading_check,
    photograph,
    render_photo_series,
    series_table,
    tied_at,
    value_label,
)
from portraitcraft.sources import open_dataset

sns.set_theme(style="whitegrid", context="notebook")
plt.rcParams.update({"figure.dpi": 100, "savefig.bbox": "tight"})
SHORT = dict(zip([a.name for a in ATTRIBUTES], radar_labels(width=60, newline=" ")))  # "&", no "Application of"

ds = open_dataset(locate(data))
# A relative cache folder is taken from the repository root, wherever the notebook runs (book build, Jupyter, nbval).
cache = repository_path(series_cache)
steps = render_series(cache, seed=seed, long_side=LONG_SIDE)
table = series_table(steps)
base_total = label_scene(BASE_SCENE, seed)[2]
for factor in SWEEPS:
    members = [s for s in steps if s.factor == factor]
    assert len(members) == len(SWEEPS[factor].values) >= 3, factor
    for before, after in zip(members, members[1:]):
        assert differing_factors(before.factors, after.factors) == [factor], (factor, before.step)
    for s in members:
        assert differing_factors(BASE_SCENE, s.factors) in ([], [factor]) and s.image.is_file()
        assert all(s.levels[name] == level_from_score(score) for name, score in s.scores.items())
    # Every series passes through the base scene, which scores the same in each.
    assert [s.total_score for s in members if not differing_factors(BASE_SCENE, s.factors)] == [base_total], factor

# The same kinds of change on a real photograph (the last section), judged with the lab series in one model load.
photo_steps, mask_how = render_photo_series(photograph(photo), cache / "photo", name=photo) if photo else ([], "")
model_dir = locate(baseline_model) if baseline_model else None
judged, photo_judged, unusable_model, learnt = None, None, "", ""
if model_dir is not None:
    try:
        learnt = trained_on(load_baseline(model_dir))  # "model: the CPU feature baseline trained on ..."
        both = judge_series([*steps, *photo_steps], model_dir, cache_dir=cache / "features")
        judged = both.iloc[: len(steps)].reset_index(drop=True)
        photo_judged = both.iloc[len(steps):].reset_index(drop=True) if photo_steps else None
    except BaselineError as exc:  # a model saved by other code (features changed since): said below, not a crash
        unusable_model = str(exc)
if judged is not None:
    assert list(judged["factor"]) == list(table["factor"]) and list(judged["step"]) == list(table["step"])
effects = factor_effects(table)

# %% tags=["remove-input"]
banner(ds, data=data, predictions=None, model=baseline_model or "none at hand (none given or trained on this machine)")

# %% [markdown]
# A chapter for learning to see composition the way PortraitCraft's annotators do: the lab's pictures change
# **one factor at a time** (a tilting horizon, a blurring frame, a subject walking to the edge), and the map below
# shows how far each attribute's ground-truth score moves when each factor changes.

# %% tags=["remove-input"]
panels = [("ground truth: score range (0-10 points)", effects, 10.0)]
if judged is not None:
    panels.append(("feature baseline: expected-level range (0-2 levels)", factor_effects(judged, "expected:"), 2.0))
# One panel above the other, each the width of the text column, so that every label and number prints readably.
fig, axes = plt.subplots(len(panels), 1, figsize=(7.2, 6.4 * len(panels)), squeeze=False)
for ax, (title, values, top) in zip(axes[:, 0], panels):
    sns.heatmap(values.rename(columns=SHORT, index=lambda f: f.replace("_", " ")), ax=ax, vmin=0, vmax=top * 0.6,
                cmap="Blues", annot=True, fmt=".1f", cbar=False, linewidths=0.5, linecolor="white",
                annot_kws={"size": 9})
    ax.set_title(title, fontsize=11, loc="left")
    ax.set(xlabel=None, ylabel="factor changed")
    ax.tick_params(axis="x", rotation=60, labelsize=10)
    ax.tick_params(axis="y", labelsize=10)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
        label.set_rotation_mode("anchor")
fig.tight_layout()
plt.show()
caption("How far each attribute moves (max - min along the series) when one factor of the base scene changes: the "
        "lab's ground-truth scores" + (" (top) and the feature baseline's expected level, the probability-weighted "
        "level from 0 Poor to 2 Good (bottom)" if judged is not None else "") +
        f". Computed on the {len(steps)} series scenes rendered in this chapter (the data above is not read).")

# %% tags=["remove-input"]
strongest = effects.stack().sort_values(ascending=False)
(top_factor, top_attribute), top_move = strongest.index[0], strongest.iloc[0]
broad = (effects >= 1.0).sum(axis=1).sort_values(ascending=False)
# it opens a sentence: its first letter a capital ("**Clutter**", a factor's name in bold)
most_moving = re.sub(r"^(\W*)(\w)", lambda m: m.group(1) + m.group(2).upper(), tied_at(broad, broad.iloc[0]))


display(Markdown(
    f"The largest move is **{SHORT.get(top_attribute, top_attribute)}** under **{top_factor.replace('_', ' ')}**: "
    f"{top_move:.1f} points along the series. {most_moving} moves the most attributes by a "
    f"point or more ({broad.iloc[0]} of 13), {tied_at(broad, broad.iloc[-1])} the fewest ({broad.iloc[-1]})."
    + ("" if judged is not None else
       f" The feature baseline's model cannot be used ({unusable_model}), so only the ground truth is shown; "
       "`make baseline` trains it again." if unusable_model else
       " No feature-baseline model is at hand, so only the ground truth is shown: `make baseline` trains the lab's "
       "once (a few minutes) and the next build uses it, as does a build given a feature-baseline prediction file.")))

# %% [markdown]
# **How to read it.** A row is one factor changed along its series, a column one attribute; a dark cell means that
# changing the factor moves the attribute's score a lot. Every series passes through the same base scene, a
# well-made half-body portrait in a landscape frame (the subject on the left third looking right into open space,
# a level horizon, soft side light, a warm palette, a few props behind); one factor then changes and all others
# stay as they are. The base scene has the same labels, and so the same overall score, in every series. The sampled
# lab cannot show this by itself (every image draws all its factors afresh), so the series are rendered here with the
# lab's own drawing and labelling code, with the same annotator noise for every image.

# %% [markdown]
# ## Exercises
#
# Work these out from the map above and the series below, then open the solution, which is computed from the same
# numbers.
#
# 1. Which factor moves **Sharpness** the most, and by how many points?
# 2. Which attribute does moving the subject to the right edge (`subject_x`) change the most? Why would an
#    annotator mark it down?
# 3. Along the `exposure` series, which step gives the highest overall score? What does that say about "more light
#    is better"?
# 4. Does any single factor move every attribute? What does that say about reading one attribute's score as a
#    measure of one property of the picture?

# %% tags=["remove-input"]
sharpness = effects["Sharpness"].sort_values(ascending=False)
position = effects.loc["subject_x"].sort_values(ascending=False)
exposure = table[table["factor"] == "exposure"].set_index("value")["total_score"]
every = [f.replace("_", " ") for f, row in effects.iterrows() if (row >= 0.5).all()]
edge = [s for s in steps if s.factor == "subject_x"][-1].factors  # the last step: the subject at the right edge
edge_crop, _ = edge.crop
seen_at_edge = [f"the subject stands at the {edge.placement}, off the thirds line",
                "the arrow of its gaze runs into the right edge within a few head widths"]
if edge_crop == "side":
    seen_at_edge.append(f"the right edge cuts its {edge.side_cut_part}")
top_sharp = sharpness[sharpness == sharpness.iloc[0]]
next_sharp = sharpness[sharpness < sharpness.iloc[0]]
top_position = position[position == position.iloc[0]]
best = exposure[exposure == exposure.max()]
solutions = [
    f"**{in_words(top_sharp.index)}**, by {sharpness.iloc[0]:.1f} points"
    + (" (a tie)" if len(top_sharp) > 1 else "")
    + (f" (next: {next_sharp.index[0].replace('_', ' ')}, {next_sharp.iloc[0]:.1f})." if len(next_sharp) else "."),
    f"**{in_words([SHORT.get(a, a) for a in top_position.index])}** ({position.iloc[0]:.1f} points"
    + (", a tie" if len(top_position) > 1 else "") + "). What the last picture shows: "
    + in_words(seen_at_edge) + ". Placement on the thirds, lead room for the gaze and clean crops are what an "
    "annotator checks for classical composition, negative space and flow, so each of these marks the scene down.",
    f"The step{'s' if len(best) > 1 else ''} at exposure {in_words([value_label(v) for v in best.index])} "
    f"({exposure.max()} of 100{', a tie' if len(best) > 1 else ''}; the darkest step scores {exposure.iloc[0]}, the "
    f"brightest {exposure.iloc[-1]}): both ways off the right exposure lose points.",
    (f"Yes: {', '.join(every)} moves all 13 by half a point or more." if every else
     "No: no factor moves all 13 attributes by half a point or more; each attribute responds to a few factors, "
     "and each factor to a few attributes, so one score mixes several properties of the picture."),
]
bold = [re.sub(r"[*][*](.+?)[*][*]", r"<b>\1</b>", text) for text in solutions]  # the HTML of **bold**
display(HTML("".join(f"<details class='pc-solution'><summary>Solution {i}</summary><p>{text}</p></details>"
                     for i, text in enumerate(bold, 1))))

# %% [markdown]
# ## The 13 attributes
#
# What each attribute asks of a portrait, as the benchmark defines it, and which measurable properties of a
# scene drive it in the lab (with the weight of each in the lab's scoring rule: positive helps, negative hurts).

# %% tags=["remove-input"]
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
display(meanings.style.hide(axis="index").format({"noise (sd)": "{:.2f}"})
        .set_properties(subset=["what it asks", "what drives it in the lab"], **{"text-align": "left"}))
display(caption("The 13 attributes (definitions from `portraitcraft.attributes`), the lab's driving terms with their "
                "weights (from `portraitcraft.lab.annotate.MODELS`), and the per-attribute noise no picture explains.",
                label="Table"))

# %% tags=["remove-input"]
terms = pd.DataFrame([{"term": t.name, "what it measures": t.doc} for t in TERMS.values()])
display(terms.style.hide(axis="index").set_properties(subset=["what it measures"], **{"text-align": "left"}))
display(caption("The lab's terms: each turns a scene factor into a number on a fixed scale. An attribute score is "
                "base + sum of weight x term + noise, clipped to 0-10; Poor below 5, Medium below 7, Good otherwise.",
                label="Table"))

# %% [markdown]
# ## Each series
#
# For each factor: its pictures, two or three to a row (click one to see it full size; click again to close), with
# the change drawn where it is small (the horizon's angle against a dashed level line, an arrow for the gaze or
# the light, a doubled inset where blur is the change); then, for the attributes that move most, the ground-truth
# score and level at each step and the level the feature baseline gives (when available).

# %% tags=["remove-input"]
for factor, sweep in SWEEPS.items():
    members = [s for s in steps if s.factor == factor]
    rows = judged[judged["factor"] == factor].set_index("step") if judged is not None else None
    display(Markdown(f"### {factor.replace('_', ' ')}\n\nAlong this series {sweep.shows}."))
    display(HTML(series_strip(members, rows, image_side=image_side)))
    moving = moving_attributes(table, factor) or moving_attributes(table, factor, min_change=0.0, top=2)
    columns = [value_label(s.value) for s in members]
    lines = {}
    for name in moving:
        lines[(SHORT.get(name, name), "ground truth")] = [f"{s.levels[name]} {s.scores[name]:.1f}" for s in members]
        if rows is not None:
            lines[(SHORT.get(name, name), "feature baseline")] = [rows.loc[s.step, f"level:{name}"] for s in members]
    lines[("overall score", "ground truth")] = [str(s.total_score) for s in members]
    if rows is not None:
        lines[("overall score", "feature baseline")] = [f"{rows.loc[s.step, 'predicted_total']:.1f}" for s in members]
    frame = pd.DataFrame.from_dict(lines, orient="index", columns=pd.Index(columns, name=factor.replace("_", " ")))
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=["attribute", "by"])
    display(frame.style.map(level_cell_colour))
    named = factor.replace("_", " ")
    display(caption(f"The {named} series: the base scene with only {named} changed. Levels and "
                    "0-10 scores of the attributes that move most, from the lab's labelling (one annotator for the "
                    "whole series)" + (", and the feature baseline's levels" if rows is not None else "") + ".",
                    label="Table"))

# %% [markdown]
# ## The overall score along every series
#
# The same comparison for the overall score, all series side by side. Hover a point for its value.

# %% tags=["remove-input"]
totals = (table[["factor", "step", "value", "total_score"]].rename(columns={"total_score": "score"})
          .assign(by="ground truth"))
if judged is not None:
    totals = pd.concat([totals, judged[["factor", "step", "value", "predicted_total"]]
                        .rename(columns={"predicted_total": "score"}).assign(by="feature baseline")], ignore_index=True)
lines_figure = px.line(totals, x="step", y="score", color="by", facet_col="factor", facet_col_wrap=4, markers=True,
                       hover_data={"value": True, "step": False}, facet_col_spacing=0.05, facet_row_spacing=0.1,
                       labels={"step": "step", "score": "score", "by": ""},
                       title="Overall score along each one-factor series")
lines_figure.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1].replace("_", " ")))
# One title for each axis instead of one per panel, which printed over each other.
lines_figure.update_xaxes(dtick=1, title=None)
lines_figure.update_yaxes(title=None)
lines_figure.add_annotation(text="step along the series", x=0.5, xref="paper", y=-0.08, yref="paper", yanchor="top",
                            showarrow=False)
lines_figure.add_annotation(text="overall score", x=-0.07, xref="paper", y=0.5, yref="paper", textangle=-90,
                            showarrow=False)
# The legend in the grid's empty corner (ten series in rows of four); above the panels it touched their titles.
corner = totals["factor"].nunique() % 4 != 0
lines_figure.update_layout(legend=dict(x=1, xanchor="right", y=0, yanchor="bottom") if corner else
                           dict(orientation="h", x=0.5, xanchor="center", y=-0.14, yanchor="top"),
                           margin=dict(l=70, b=80 if corner else 110))
display(show_plotly(lines_figure, height=640))
display(caption("Overall score (1-100) of each series scene by the lab's labelling" +
                (" and as predicted by the feature baseline" if judged is not None else "") +
                "; the x axis counts the steps of the series (hover for the factor's value)."))

# %% [markdown]
# ## Beyond the cartoon: one photograph
#
# The same kinds of change made to a real photograph: reframing the subject with a square crop, cutting the
# headroom, tilting, exposing and blurring the background. The photograph has no ground truth: the point is how a
# model trained on the lab's cartoons reads a real picture changing one factor at a time.

# %% tags=["remove-input"]
if photo_steps and photo_judged is not None:
    display(Markdown("Beside each picture, the feature baseline's overall score and its 13 predicted levels, and a "
                     f"few of the measurements it reads. The model is {learnt.removeprefix('model: ')}."))
elif photo_steps:
    display(Markdown("**No readings beside these pictures**: "
                     + (f"the feature baseline's model cannot be used ({unusable_model}). " if unusable_model else
                        "no feature-baseline model is at hand (none was given, and none was trained on this "
                        "machine). ")
                     + "`make baseline` trains the lab's once, in a few minutes, and the next build reads the "
                     "pictures with it: its overall score, its 13 levels and the measurements behind them."))
if photo_steps:
    display(Markdown(f"The photograph: {PHOTO_CREDIT.get(photo, photo)}, shown here as shot (square). Background "
                     f"blur needs to know where the person is: the subject mask here is {mask_how}; everything "
                     "outside it is blurred. In each series below, the step that leaves the photograph as shot is "
                     "not shown again; its column in the table is marked as shot."))
    as_shot = next(s for s in photo_steps if s.unchanged)
    as_labelled = f"{as_shot.factor.replace('_', ' ')} = {value_label(as_shot.value)}"  # series_strip's label
    display(HTML(series_strip([as_shot], None, columns=2, image_side=512).replace(as_labelled, "as shot")))
for factor in PHOTO_SWEEPS:
    members = [s for s in photo_steps if s.factor == factor]
    rows = photo_judged[photo_judged["factor"] == factor].set_index("step") if photo_judged is not None else None
    display(Markdown(f"### {factor.replace('_', ' ')} (photograph)"))
    display(HTML(series_strip([s for s in members if not s.unchanged], rows, image_side=image_side)))
    if rows is None:
        continue
    # grouped rows (the group named once, beside its rows): the 13 levels, the score, the measurements
    lines = {("predicted level", SHORT.get(name, name)): [rows.loc[s.step, f"level:{name}"] for s in members]
             for name in MODELS}
    lines[("predicted score", "overall (1-100)")] = [f"{rows.loc[s.step, 'predicted_total']:.1f}" for s in members]
    for name in READINGS:
        lines[("measurement", name.replace("_", " "))] = [f"{rows.loc[s.step, f'reading:{name}']:.2f}"
                                                         for s in members]
    headers = [value_label(s.value) + (" (as shot)" if s.unchanged else "") for s in members]
    frame = pd.DataFrame.from_dict(lines, orient="index", columns=pd.Index(headers, name=factor.replace("_", " ")))
    frame.index = pd.MultiIndex.from_tuples(frame.index)
    display(frame.style.map(level_cell_colour).hide(axis="index", names=True))  # no empty row of index names
    display(caption(f"The photograph's {factor.replace('_', ' ')} series: the feature baseline's 13 predicted levels "
                    "and overall score, and the measurements it reads (subject centre x, skin on the top row, "
                    "horizon angle, mean brightness, subject-minus-background sharpness).", label="Table"))

# %% tags=["remove-input"]
if photo_judged is not None:
    check = photo_reading_check(photo_judged)
    right = [f"{r.factor.replace('_', ' ')} ({r.reading.replace('_', ' ')} "
             f"{' → '.join(f'{v:g}' for v in r['values'])})" for _, r in check[check["follows"]].iterrows()]
    wrong = [f"{r.factor.replace('_', ' ')} ({r.reading.replace('_', ' ')} "
             f"{' → '.join(f'{v:g}' for v in r['values'])})" for _, r in check[~check["follows"]].iterrows()]
    lowest, highest = check["levels changing"].min(), check["levels changing"].max()
    display(Markdown(
        "**What the readings get right and wrong.** "
        + (f"Right: the measurement behind the change follows it step by step in {in_words(right)}. " if right else "")
        + (f"Wrong: it does not follow it step by step in {in_words(wrong)}. " if wrong else "")
        + ("The horizon reading is the angle of whatever long straight edges the line detector finds (the flag's "
           "stripes, the shuttle, the suit's seams), not of a horizon, which this photograph does not have. "
           if "tilt" in set(check.loc[~check["follows"], "factor"]) else "")
        + f"Along each series {lowest} to {highest} of the 13 predicted levels change, and the predicted overall "
        "score spans "
        + ", ".join(f"{lo:g} to {hi:g} ({f.replace('_', ' ')})" for f, (lo, hi) in zip(check["factor"],
                                                                                     check["predicted total"]))
        + ". The model learnt its levels on the lab's flat cartoon scenes, where a tilted horizon is one long "
        "straight line, a background a smooth gradient and a person a small figure; on a busy, evenly lit studio "
        "portrait whose face fills much of the frame, a measurement can move the right way and the levels still "
        "say little about the composition. The subject mask is imperfect too: look at the blur series, where "
        "GrabCut can leave parts of the person (the dark neck ring) outside the mask, to be blurred with the "
        "background."))
