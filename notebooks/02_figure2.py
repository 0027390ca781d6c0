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
# # Figure 2: scores and attributes

# %% tags=["parameters", "remove-cell"]
data: str = "data/lab"  # a PortraitCraft root folder, "lab", or a Hugging Face dataset id
grid_points: int = 200  # points of the density curves on the 1-100 score scale

# %% tags=["remove-cell"]
import matplotlib.pyplot as plt
import numpy as np
import plotly.express as px
import plotly.graph_objects as go
from IPython.display import Markdown, display
from plotly.colors import hex_to_rgb
from scipy import stats

from portraitcraft.attributes import ATTRIBUTE_NAMES, LEVELS
from portraitcraft.book import (
    LEVEL_COLOURS,
    SPLIT_COLOURS,
    SUMMARY_LINES,
    banner,
    caption,
    counted,
    darker,
    print_download,
    radar_labels,
    radar_scale,
    show_plotly,
)
from portraitcraft.book.paths import locate, shown_path
from portraitcraft.figure2 import (
    CLAIM_ALPHA,
    MIN_DENSITY_SCORES,
    attribute_correlation,
    figure2a,
    figure2b,
    level_distribution,
    split_claims,
)
from portraitcraft.labels import labelled_images
from portraitcraft.sources import open_dataset

# The printed figures: a plain white grid, the book's split colours, titles on the left like the plotly figures.
plt.style.use("seaborn-v0_8-whitegrid")
plt.rcParams.update({"figure.dpi": 100, "axes.titlelocation": "left", "font.family": "DejaVu Sans"})

ds = open_dataset(locate(data), reveal_ground_truth=True)
data_shown = shown_path(data)  # the data as every page prints a path
labelled = labelled_images(ds)
scores = figure2a(ds, grid_points=grid_points, min_scores=MIN_DENSITY_SCORES)
claims = split_claims(ds)

# %% tags=["remove-input"]
banner(ds, data=data)

# %% tags=["remove-input"]
if len(scores.curves):
    density = go.Figure()
    drawn_summary = scores.summary.set_index("split").loc[list(dict.fromkeys(scores.curves["split"]))]
    for split, curve in scores.curves.groupby("split", sort=False):
        colour = SPLIT_COLOURS.get(split)
        row = drawn_summary.loc[split]
        density.add_trace(go.Scatter(
            x=curve["score"], y=curve["density"], mode="lines", name=f"{split} (n={int(row['n'])})",
            line=dict(color=colour, width=2.5), fill="tozeroy", opacity=0.6,
            hovertemplate="score %{x:.1f}<br>density %{y:.4f}<extra>" + split + "</extra>"))
    # Mean and median of each split as lines named in the legend with their values: four lines a point apart cannot
    # be told apart by position, so each has its own dash and width (the widest first, the others over it), and a
    # median is a darker shade of its split's colour, so that it shows where it lies on its split's mean.
    summary_lines = [(statistic, split, row[statistic],
                      SPLIT_COLOURS.get(split) if statistic == "mean" else darker(SPLIT_COLOURS.get(split, "#8c8c8c")))
                     for statistic in ("mean", "median") for split, row in drawn_summary.iterrows()]
    for (statistic, split, value, colour), (dash, _, width, opacity) in zip(summary_lines, SUMMARY_LINES):
        line = dict(color=colour, dash=dash, width=width)
        density.add_vline(x=value, line=line, opacity=opacity)
        density.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=line, opacity=opacity,
                                     name=f"{split} {statistic} {value:.1f}"))
    density.update_layout(
        title="Figure 2(a). Overall composition score, train against test",
        xaxis_title="overall score (1-100)", yaxis_title="density", xaxis_range=[1, 100],
        legend=dict(x=1.02, xanchor="left", y=1, yanchor="top"),  # beside the plot, clear of the curves
    )
    display(show_plotly(density, height=420))
    display(caption(
        f"Gaussian kernel density (Scott's bandwidth) of the overall score of the labelled images of {data_shown}, per "
        "split; the vertical lines mark each split's mean and median, each with its own dash and width (the legend, "
        "beside the plot, names each with its value; a median is a darker shade of its split's colour). Hover for "
        "values; click a split in the legend "
        "to hide it."))
else:
    display(Markdown(f"**No density to draw on {data_shown}:** " + "; ".join(scores.notes) + "."))

# %% tags=["remove-input"]
summary = scores.summary.set_index("split")
described = "; ".join(f"{split}: mean {row['mean']:.1f}, standard deviation {row['std']:.1f}, median "
                      f"{row['median']:.0f} ({counted(int(row['n']), 'image')})" for split, row in summary.iterrows())
if claims.checkable:
    spread, mean = claims.verdict("spread"), claims.verdict("mean")
    check = (
        f"The paper says the test scores are **more spread out** and **lower on average** than train's. Here the "
        f"spread claim **{spread}**: test's standard deviation is {claims.std_test:.1f} against train's "
        f"{claims.std_train:.1f} (Brown-Forsythe W = {claims.spread_statistic:.2f}, p = {claims.spread_p:.3g}). "
        f"The mean claim **{mean}**: test's mean is {claims.mean_test:.1f} against train's {claims.mean_train:.1f} "
        f"(Welch's t = {claims.welch_t:.2f}, one-sided p = {claims.welch_p:.3g}; Mann-Whitney one-sided p = "
        f"{claims.mann_whitney_p:.3g}). A claim holds when its difference points the paper's way with "
        f"p < {CLAIM_ALPHA}.")
else:
    check = (f"The paper says the test scores are more spread out and lower on average than train's; **that cannot be "
             f"checked on {data_shown}**: {claims.why_not}.")
display(Markdown((f"On {data_shown}, {described}. " if described else "") + check))

# %% tags=["remove-input"]
drawn = list(dict.fromkeys(scores.curves["split"])) if len(scores.curves) else []
if drawn:
    how = (f"**How to read it.** Each curve is the distribution of one split's overall scores (area 1; drawn for "
           f"{' and '.join(drawn)}); where a curve is wider, its scores are more spread out. The vertical lines are "
           "the splits' means and medians, told apart by dash and width (the legend names each with its value).")
    undrawn = [split for split in summary.index if split not in drawn]
    if undrawn:
        how += f" {' and '.join(undrawn)} has too few labelled scores for a curve: its numbers are in the table below."
else:
    how = ("**How to read it.** No curve is drawn on this data (too few labelled scores per split); each split's "
           "count, mean, spread and range are in the table below.")
if claims.checkable:
    how += " The paper's claims about the two splits are tested above on the same scores."
display(Markdown(how))

# %% [markdown]
# ## (a) Overall scores, train against test, in numbers

# %% tags=["remove-input"]
for note in scores.notes if len(scores.curves) else []:  # without a curve, the notes were said above it
    display(Markdown(f"*Note: {note}.*"))
# as the sentences around it say them: means and spreads to one decimal, the scores themselves as they are (1-100)
display(scores.summary.style.hide(axis="index").format({"mean": "{:.1f}", "std": "{:.1f}", "median": "{:g}",
                                                        "min": "{:g}", "max": "{:g}"}, na_rep="-"))
if scores.test is not None:
    t = scores.test
    display(Markdown(
        f"Two-sided tests of train against test: Mann-Whitney U = {t.mann_whitney_u:.0f} (p = "
        f"{t.mann_whitney_p:.3g}); Kolmogorov-Smirnov D = {t.ks_statistic:.3f} (p = {t.ks_p:.3g}); "
        f"{t.n_first} train and {t.n_second} test images."))

# %% tags=["remove-input"]
caption(
    f"Overall composition score (1-100) per split: images, mean, standard deviation (ddof=1), median and range "
    f"of the labelled images of {data_shown}.", label="Table")

# %% tags=["hide-input"]
# Invariants: the summary is the data's, and each density is a probability density on the shared grid.
for row in scores.summary.itertuples():
    values = labelled.loc[labelled["split"] == row.split, "total_score"].to_numpy(float)
    assert row.n == len(values) and np.isclose(row.mean, values.mean()) and np.isclose(row.median, np.median(values))
    if len(values) > 1:
        assert np.isclose(row.std, values.std(ddof=1))
for split, curve in scores.curves.groupby("split"):
    assert len(curve) == grid_points and (curve["density"] >= 0).all()
    area = np.trapezoid(curve["density"], curve["score"])
    assert 0.9 < area <= 1.0 + 1e-6, (split, area)  # mass beyond 1-100 only from the kernel's tails

# %% tags=["remove-input"]
if len(scores.curves):
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for split, curve in scores.curves.groupby("split", sort=False):
        row = scores.summary.set_index("split").loc[split]
        colour = SPLIT_COLOURS.get(split)
        ax.plot(curve["score"], curve["density"], color=colour, lw=2,
                label=f"{split}: mean {row['mean']:.1f}, sd {row['std']:.1f}, median {row['median']:.0f} "
                      f"(n={int(row['n'])})")
        ax.fill_between(curve["score"], curve["density"], color=colour, alpha=0.15)
    for (statistic, split, value, colour), (_, style, width, opacity) in zip(summary_lines, SUMMARY_LINES):  # as above
        ax.axvline(value, color=colour, ls=style, lw=0.75 * width, alpha=opacity,
                   label=f"{split} {statistic} {value:.1f}")
    ax.set(xlabel="overall score (1-100)", ylabel="density", xlim=(1, 100), title="Figure 2(a)")
    ax.legend(frameon=False, fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the data
    fig.tight_layout()
    display(print_download(fig, "figure2a.pdf", "Figure 2(a) (the densities above, with each split's mean and "
                                                 "median, named with their values in the legend)"))

# %% [markdown]
# ## (b) The 13 attributes

# %% tags=["remove-input"]
attributes = figure2b(ds)
for note in attributes.notes:
    if note not in scores.notes:  # each note once on the page
        display(Markdown(f"*Note: {note}.*"))
columns = {f"mean_{s}": f"mean {s}" for s in attributes.splits}
attributes.means[["attribute", *columns]].rename(columns=columns).style.hide(axis="index").format(precision=2)

# %% tags=["hide-input"]
# Invariants: 13 axes in the vocabulary's order, each mean the plain mean of that attribute's scores.
assert list(attributes.means["attribute"]) == list(ATTRIBUTE_NAMES) and len(attributes.means) == 13
for split in attributes.splits:
    part = labelled[labelled["split"] == split]
    first = part[f"{attributes.means['key'][0]}_score"].dropna()
    assert np.isclose(attributes.means.loc[0, f"mean_{split}"], first.mean())

# %% tags=["remove-input"]
if attributes.splits:
    radar = go.Figure()
    labels = radar_labels(newline="<br>")
    axes, names = [*labels, labels[0]], [*ATTRIBUTE_NAMES, ATTRIBUTE_NAMES[0]]  # closed polygon
    for split in attributes.splits:
        values = attributes.means[f"mean_{split}"].tolist()
        radar.add_trace(go.Scatterpolar(
            r=[*values, values[0]], theta=axes, customdata=names, name=split, fill="toself",
            fillcolor="rgba({}, {}, {}, 0.15)".format(*hex_to_rgb(SPLIT_COLOURS.get(split, "#8c8c8c"))),
            line=dict(color=SPLIT_COLOURS.get(split), width=2, dash="solid" if split == "train" else "dash"),
            hovertemplate="%{customdata}<br>mean %{r:.2f}<extra>" + split + "</extra>"))
    low = float(np.nanmin(attributes.means[[f"mean_{s}" for s in attributes.splits]].to_numpy()))
    # The ring numbers go between the two spokes where the polygons leave the most room, and only on the rings
    # outside every polygon: a number inside sat on the fill, where it could not be read.
    scale = radar_scale([attributes.means[f"mean_{s}"].fillna(low).tolist() for s in attributes.splits],
                        low=max(0.0, np.floor(low) - 1), high=10)
    direction = 90 - scale.bisector_degrees  # plotly's angles run anticlockwise from the right
    radar.update_layout(
        title="Figure 2(b). Mean score of each attribute (0-10)",
        polar=dict(radialaxis=dict(range=[scale.low, scale.high], tickvals=scale.rings, ticktext=scale.labels,
                                   tickfont=dict(size=10, color="#333"), angle=direction, tickangle=direction),
                   angularaxis=dict(tickfont_size=11, rotation=90, direction="clockwise")),
        legend=dict(orientation="h", y=-0.08),
        margin=dict(l=70, r=70, t=70, b=40),
    )
    assert all(len(trace.theta) == 14 and len(set(trace.theta)) == 13 for trace in radar.data)  # 13 axes, closed
    display(show_plotly(radar, height=560))
    display(caption(
        f"Mean 0-10 score of each of the 13 composition attributes over the labelled images of {data_shown}, per "
        "split. "
        f"The centre is {scale.low:g} (near the lowest mean, so that differences between attributes are visible) and "
        f"the rings are one point apart up to {scale.high:g}"
        + (f"; the rings inside the polygon{'s' if len(attributes.splits) > 1 else ''} "
           f"({', '.join(f'{r:g}' for r in scale.unlabelled)}) are left unnumbered "
           "so that no number sits on the fill" if scale.unlabelled else "")
        + ". Hover a vertex for its value."))
    means = attributes.means.set_index("attribute")
    split = attributes.splits[0]
    display(Markdown(
        f"In {split}, **{means[f'mean_{split}'].idxmax()}** has the highest mean score "
        f"({means[f'mean_{split}'].max():.2f}) and **{means[f'mean_{split}'].idxmin()}** the lowest "
        f"({means[f'mean_{split}'].min():.2f})."))

    angles = np.linspace(0, 2 * np.pi, 13, endpoint=False)
    fig, ax = plt.subplots(figsize=(7.5, 7.5), subplot_kw={"projection": "polar"})
    for split in attributes.splits:
        values = attributes.means[f"mean_{split}"].to_numpy()
        ax.plot(np.append(angles, angles[0]), np.append(values, values[0]), color=SPLIT_COLOURS.get(split), lw=2,
                label=split)
        ax.fill(np.append(angles, angles[0]), np.append(values, values[0]), color=SPLIT_COLOURS.get(split), alpha=0.15)
    ax.set_xticks(angles, radar_labels(), fontsize=10)
    ax.set_ylim(scale.low, scale.high)
    ax.set_yticks(scale.rings, scale.labels)
    ax.set_theta_offset(np.pi / 2)  # first attribute at the top, clockwise, as in the interactive radar
    ax.set_theta_direction(-1)
    ax.set_rlabel_position(scale.bisector_degrees)  # the ring numbers where the interactive radar has them
    ax.tick_params(axis="y", labelsize=10)
    ax.set_title("Figure 2(b)", pad=30)
    ax.legend(loc="upper right", bbox_to_anchor=(1.15, 1.1), frameon=False)
    fig.tight_layout()
    display(print_download(fig, "figure2b.pdf", "Figure 2(b) (the means of the radar above)"))
else:
    display(Markdown(f"No labelled image on {data_shown}: no attribute means to draw."))

# %% [markdown]
# ## Levels per attribute
#
# A mean hides how the levels are spread. The benchmark's rule turns each 0-10 score into a level
# (Poor below 5, Medium below 7, Good otherwise); this is the share of each level per attribute.

# %% tags=["remove-input"]
levels = level_distribution(ds)
for split, part in levels.groupby("split", sort=False):
    # every labelled image has a level for each attribute it has a score for (at most one per image)
    assert (part.groupby("attribute", observed=True)["images"].sum() <= (labelled["split"] == split).sum()).all()
if len(levels):
    short = dict(zip(ATTRIBUTE_NAMES, radar_labels(width=60, newline=" ")))  # "&", no "Application of"
    bars = px.bar(
        levels.assign(attribute=levels["attribute"].map(short)), x="share", y="attribute", color="level",
        facet_col="split", orientation="h", hover_data={"images": True, "share": ":.1%"},
        category_orders={"attribute": list(short.values()), "level": list(LEVELS)},
        color_discrete_map=LEVEL_COLOURS, title="Level distribution of the 13 attributes", facet_col_spacing=0.06,
    )
    # Ticks inside each panel (a panel's 100% would print over the next one's 0%), one axis title for all.
    bars.update_xaxes(tickformat=".0%", tickvals=[0.25, 0.5, 0.75], tickangle=0, title=None)
    bars.update_yaxes(title=None)
    bars.add_annotation(text="share of images", x=0.5, xref="paper", y=-0.09, yref="paper", yanchor="top",
                        showarrow=False)
    bars.update_layout(margin=dict(b=80))
    bars.for_each_annotation(lambda a: a.update(text=a.text.replace("split=", "")))
    display(show_plotly(bars, height=520))
    display(caption(
        f"Share of Poor, Medium and Good among the labelled images of {data_shown}, per attribute and split (levels "
        "from the 0-10 scores by the benchmark's rule). Hover a bar for its image count."))
else:
    display(Markdown(f"No labelled image on {data_shown}: no levels to count."))

# %% [markdown]
# ## How the attributes correlate

# %% tags=["remove-input"]
correlation = attribute_correlation(ds)
matrix = correlation.to_numpy()
if np.isfinite(matrix).any():
    assert np.allclose(np.diag(matrix)[np.isfinite(np.diag(matrix))], 1.0)
    assert np.allclose(matrix, matrix.T, equal_nan=True)
    scored = labelled[[c for c in labelled.columns if c.endswith("_score") and c != "total_score"]].dropna()
    assert np.isclose(matrix[0, 1], stats.spearmanr(scored.iloc[:, 0], scored.iloc[:, 1]).statistic)
    # Rows named and numbered, columns by number alone: thirteen names rotated under the columns ran into each other.
    short = radar_labels(width=60, newline=" ")
    heatmap = go.Figure(go.Heatmap(
        z=matrix, x=list(range(13)), y=list(range(13)), zmin=-1, zmax=1, colorscale="RdBu_r",
        text=np.round(matrix, 1), texttemplate="%{text:.1f}", textfont_size=11, customdata=np.array(
            [[f"{a} / {b}" for b in ATTRIBUTE_NAMES] for a in ATTRIBUTE_NAMES]),
        hovertemplate="%{customdata}<br>rho %{z:.2f}<extra></extra>", colorbar=dict(title="rho", thickness=12)))
    heatmap.update_xaxes(tickvals=list(range(13)), ticktext=[str(k) for k in range(1, 14)], tickangle=0,
                         tickfont_size=11, title="attribute, by its number on the left", side="bottom")
    heatmap.update_yaxes(tickvals=list(range(13)), ticktext=[f"{name} {k}" for k, name in enumerate(short, 1)],
                         autorange="reversed", tickfont_size=11)
    heatmap.update_layout(title="Spearman correlation between attribute scores", margin=dict(l=230, t=60, b=60))
    display(show_plotly(heatmap, height=640))
    display(caption(
        f"Spearman rank correlation between the 0-10 scores of the 13 attributes over all {len(labelled)} labelled "
        f"images of {data_shown} (train and, where labelled, test), to one decimal; columns are numbered as the rows. "
        "Hover a cell for the pair and its value to two."))
    pairs = correlation.where(~np.eye(13, dtype=bool)).stack().dropna()  # pandas 3 keeps the NaN diagonal
    if len(pairs):
        (a, b), value = pairs.idxmax(), pairs.max()
        display(Markdown(f"The most correlated pair is **{a}** and **{b}** (rho = {value:.2f}); "
                         f"{int((pairs.abs() >= 0.5).sum() // 2)} of {len(pairs) // 2} pairs have |rho| of 0.5 or "
                         "more."))
else:
    display(Markdown(f"{counted(len(labelled), 'labelled image')} on {data_shown}: too few for a rank correlation "
                     "between attributes."))
