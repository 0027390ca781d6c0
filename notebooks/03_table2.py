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
# # Table 2: how long the Track 2 descriptions are

# %% tags=["parameters", "remove-cell"]
data: str = "data/lab"  # a PortraitCraft root folder, "lab", or a Hugging Face dataset id
definitions: list = ["characters", "characters_no_whitespace", "composition_only", "words"]  # length definitions

# %% tags=["remove-cell"]
import statistics

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from IPython.display import Markdown, display
from plotly.subplots import make_subplots

from portraitcraft.attributes import ATTRIBUTE_NAMES
from portraitcraft.book import SPLIT_COLOURS, banner, caption, show_plotly
from portraitcraft.book.paths import locate, shown_path
from portraitcraft.book.tables import table2_paper_style
from portraitcraft.sources import open_dataset
from portraitcraft.table2 import (
    DEFAULT_DEFINITION,
    LENGTH_DESCRIPTIONS,
    LENGTH_UNITS,
    MATCH_TOLERANCE,
    REPORTED_TABLE2,
    closest_definitions,
    compare_with_paper,
    description_lengths,
    reported_attr_length_rule,
    table2,
)

ds = open_dataset(locate(data))
data_shown = shown_path(data)  # the data as every page prints a path
lengths = table2(ds, definitions)
compared = compare_with_paper(lengths)
ranking = closest_definitions(lengths)
per_record = description_lengths(ds, definitions)
is_lab = ds.is_lab

# %% tags=["remove-input"]
banner(ds, data=data)

# %% tags=["remove-input"]
display(table2_paper_style(REPORTED_TABLE2).style.hide(axis="index").format(precision=1))
caption("Table 2 **reported in the paper**: length of the 5,000 Track 2 descriptions (train 4,500, test 500), "
        "as printed there; the paper does not say in what unit it counts.", label="Table")

# %% tags=["remove-input"]
rule = reported_attr_length_rule()
off = rule[~rule["follows"]]
if len(off):
    display(Markdown(
        f"**Avg. Attr. Length.** This build computes it as the mean divided by {len(ATTRIBUTE_NAMES)}; the paper's "
        "printed values do not all follow that rule: " + "; ".join(
            f"{r.split} {r.mean:.1f} / {len(ATTRIBUTE_NAMES)} = {r.mean_over_13:.1f}, printed {r.avg_attr_length:.1f}"
            for r in off.itertuples()) + ". The paper does not say how it computed the column (perhaps per attribute "
        "text rather than from the whole mean), so that column is compared here as printed."))

# %% tags=["remove-input"]
default_rows = lengths.frame[lengths.frame["definition"] == DEFAULT_DEFINITION]
if default_rows["split"].nunique() == 2:  # one split and "overall": the same numbers twice, shown once
    default_rows = default_rows[default_rows["split"] != "overall"]
if len(default_rows):
    display(table2_paper_style(default_rows).style.hide(axis="index").format(precision=1))
    display(caption(
        f"Table 2 **computed in this build** on {data_shown}: the same statistics over its {len(per_record)} Track 2 "
        f"descriptions, counted as {LENGTH_DESCRIPTIONS[DEFAULT_DEFINITION]}. Std with ddof=1; Avg. Attr. Length is "
        f"the mean divided by {len(ATTRIBUTE_NAMES)}." + "".join(f" Note: {note}." for note in lengths.notes),
        label="Table"))
else:
    display(Markdown(f"**Nothing to compute on {data_shown}:** " + "; ".join(lengths.notes) + "."))

# %% tags=["remove-input"]
if len(ranking):
    best = ranking.iloc[0]
    by_split = compared[compared["definition"] == best["definition"]].set_index("split")
    gaps = ", ".join(f"{split} {by_split.loc[split, 'mean_difference']:+.1%}" for split in best["splits"].split(", "))
    nearest = best["definition"].replace("_", " ")  # named as in the tables
    if best["matches"]:
        verdict = (f"**{nearest}** ({LENGTH_DESCRIPTIONS[best['definition']]}) matches the paper's means within "
                   f"{MATCH_TOLERANCE:.0%} ({gaps}).")
    else:
        verdict = (f"**No way of counting comes within {MATCH_TOLERANCE:.0%} of the paper's means**: the nearest, "
                   f"{nearest}, is {gaps} away, so these descriptions do not tell which unit the paper counts.")
    source = ("The lab's descriptions are synthetic: they check the computation, not the paper's numbers."
              if is_lab else
              f"These are {len(per_record)} of the published descriptions; the closer to the full 5,000, the more "
              "the comparison says about the paper's unit.")
    display(Markdown(f"{verdict} {source}"))
# (without a split in common, the comparison below says so once)

# %% [markdown]
# **How to read it.** The first table is the paper's, the second this build's, in the same columns. The paper
# does not define the length it counts, so the build computes four definitions; the table below sets each
# beside the paper, statistic by statistic, as the relative difference (computed - reported) / reported.

# %% [markdown]
# ## Every definition against the paper

# %% tags=["remove-input"]
if len(compared):
    shown = ["mean", "std", "median", "avg_attr_length"]
    difference = compared[["definition", "split"]].assign(
        definition=compared["definition"].str.replace("_", " "),  # long names wrap in the narrow column
        samples=[f"{int(a)}/{int(b)}" for a, b in zip(compared["samples"], compared["samples_reported"])],
        **{statistic: compared[f"{statistic}_difference"] for statistic in shown},
        range=[f"{lo:+.0%}, {hi:+.0%}" for lo, hi in zip(compared["min_difference"], compared["max_difference"])])
    display(difference.rename(columns={"avg_attr_length": "avg. attr."}).style.hide(axis="index")
            .format({("avg. attr." if c == "avg_attr_length" else c): "{:+.1%}" for c in shown}, na_rep="-"))
    display(caption(
        "Each definition's statistics against the paper's Table 2, as relative differences (computed - reported) / "
        f"reported (range: its two ends); samples as this build / the paper. Within {MATCH_TOLERANCE:.0%} counts as a "
        "match.",
        label="Table"))
else:
    display(Markdown("No split in common with the paper's Table 2: nothing to compare."))

# %% tags=["remove-input"]
pd.DataFrame(
    {"definition": [d.replace("_", " ") for d in definitions],  # named as in the table above
     "what is counted": [LENGTH_DESCRIPTIONS[d] for d in definitions],
     "default": ["yes" if d == DEFAULT_DEFINITION else "" for d in definitions]}
).style.hide(axis="index")

# %% tags=["remove-input"]
caption("The four ways of counting a description's length; the default is used wherever one number is wanted.",
        label="Table")

# %% tags=["hide-input"]
# Invariants: one row per (definition, split) plus overall; samples equal the records; the default numbers
# equal a plain-Python computation on the texts; the comparison's differences are the tables' own numbers.
texts = ds.descriptions().dropna(subset=["content_description", "composition_analysis"])
splits = [s for s in ds.track2_splits if (texts["split"] == s).any()]
assert len(lengths.frame) == len(definitions) * (len(splits) + 1 if splits else 0)
for split in splits:
    records = texts[texts["split"] == split]
    plain = [len(c) + len(a) for c, a in zip(records["content_description"], records["composition_analysis"])]
    assert (lengths.frame.loc[lengths.frame["split"] == split, "samples"] == len(records)).all()
    if "characters" in definitions:
        row = lengths.frame.set_index(["definition", "split"]).loc[("characters", split)]
        assert np.isclose(row["mean"], statistics.fmean(plain)) and np.isclose(row["median"], statistics.median(plain))
        if len(plain) > 1:
            assert np.isclose(row["std"], statistics.stdev(plain))  # ddof=1
        assert np.isclose(row["avg_attr_length"], row["mean"] / 13)
if splits:
    assert (lengths.frame.loc[lengths.frame["split"] == "overall", "samples"] == len(texts)).all()
reported = REPORTED_TABLE2.set_index("split")
for row in compared.itertuples():
    paper_mean = reported.loc[row.split, "mean"]
    assert np.isclose(row.mean_difference, (row.mean - paper_mean) / paper_mean)

# %% [markdown]
# ## Each description's length

# %% tags=["remove-input"]
long = per_record.melt(id_vars=["split", "image_path"], var_name="definition", value_name="length")
if len(long):
    # One panel per unit (characters, words), each with its own axis: ~500 words beside ~2800 characters on one
    # axis read as one scale.
    units = list(dict.fromkeys(LENGTH_UNITS[d] for d in definitions))
    spread = make_subplots(rows=1, cols=len(units), horizontal_spacing=0.14,
                           column_widths=[sum(LENGTH_UNITS[d] == u for d in definitions) for u in units])
    for col, unit in enumerate(units, start=1):
        part = long[long["definition"].map(LENGTH_UNITS) == unit]
        for split, rows in part.groupby("split", sort=False):
            spread.add_trace(go.Box(
                x=rows["definition"].str.replace("_", "<br>"), y=rows["length"], name=split, legendgroup=split,
                showlegend=col == 1, marker_color=SPLIT_COLOURS.get(split), boxpoints="all",
                customdata=rows["image_path"], hovertemplate="%{customdata}<br>%{y}<extra>" + split + "</extra>"),
                row=1, col=col)
        spread.update_yaxes(title_text=f"length ({unit})", row=1, col=col)
    # The paper's means, in the characters panel (the range they fall in), named in the legend to the decimal the
    # paper prints (as in its table above). Train's and test's means lie a few characters apart: each is drawn
    # across its own split's boxes (grouped boxes put train left of a category's centre, test right of it), not as
    # two lines on one another (with one split's boxes, still side by side). Shapes on a category axis take the
    # category's position, 0, 1, 2, ...
    col = units.index("characters") + 1 if "characters" in units else None
    for split, value in reported.loc[["train", "test"], "mean"].items() if col else ():
        line = dict(color=SPLIT_COLOURS.get(split, "#444"), dash="dot" if split == "train" else "dash", width=2)
        left, right = (-0.4, 0.0) if split == "train" else (0.0, 0.4)
        for k in range(sum(LENGTH_UNITS[d] == "characters" for d in definitions)):
            spread.add_shape(type="line", x0=k + left, x1=k + right, y0=value, y1=value, line=line, row=1, col=col)
        spread.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=line,
                                    name=f"paper, {split} mean {value:.1f}"), row=1, col=col)
    spread.update_layout(boxmode="group", title="Description length per record, each definition")
    display(show_plotly(spread, height=460))
    display(caption(
        f"Length of each Track 2 record of {data_shown} under the four definitions, in characters (left) and in words "
        "(right), each on its own axis (box: quartiles; points: records, hover for the image). Dotted and dashed "
        "lines: the paper's reported train and test means, each across its split's boxes among the character counts "
        "(the paper does not state its unit)."))
else:
    display(Markdown("No Track 2 description: nothing to plot."))
