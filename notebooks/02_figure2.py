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
#
# The paper's Figure 2 from the data: (a) the distribution of overall composition scores, train against
# test, with their mean, standard deviation and median and a two-sample test of whether the two splits
# differ; (b) the mean score of each of the 13 attributes as a radar. Then what the radar averages away:
# the Poor / Medium / Good distribution of each attribute, and how the attributes correlate.
#
# Where the test split's labels are hidden (the published dataset), only train can be shown; the lab
# reads its test labels from its ground-truth file. The numbers are computed by `portraitcraft.figure2`,
# which `portraitcraft report DATA --out DIR` also writes as CSV and JSON.

# %% tags=["parameters"]
data = "data/lab"  # a PortraitCraft root folder, "lab", or a Hugging Face dataset id
grid_points = 200  # points of the density curves on the 1-100 score scale

# %%
import matplotlib.pyplot as plt
import numpy as np
import plotly.express as px
import plotly.graph_objects as go
from IPython.display import Markdown, display
from scipy import stats

from portraitcraft.attributes import ATTRIBUTE_NAMES, LEVELS
from portraitcraft.book import LEVEL_COLOURS, SPLIT_COLOURS, caption, radar_labels, show_plotly
from portraitcraft.book.paths import locate
from portraitcraft.data import open_dataset
from portraitcraft.figure2 import attribute_correlation, figure2a, figure2b, level_distribution
from portraitcraft.labels import labelled_images

# The printed figures: a plain white grid, the book's split colours, titles on the left like the plotly figures.
plt.style.use("seaborn-v0_8-whitegrid")
plt.rcParams.update({"figure.dpi": 100, "axes.titlelocation": "left", "font.family": "DejaVu Sans"})

ds = open_dataset(locate(data), reveal_ground_truth=True)
labelled = labelled_images(ds)
print(ds.summary())

# %% [markdown]
# ## (a) Overall scores, train against test

# %% tags=["hide-input"]
scores = figure2a(ds, grid_points=grid_points)
for note in scores.notes:
    display(Markdown(f"*Note: {note}.*"))
display(scores.summary.style.hide(axis="index").format(precision=2))
if scores.test is not None:
    t = scores.test
    display(Markdown(
        f"Mann-Whitney U = {t.mann_whitney_u:.0f} (p = {t.mann_whitney_p:.3g}); "
        f"Kolmogorov-Smirnov D = {t.ks_statistic:.3f} (p = {t.ks_p:.3g}); "
        f"{t.n_first} train and {t.n_second} test images."))

# %% tags=["remove-input"]
caption(
    f"Overall composition score (1-100) per split: images, mean, standard deviation (ddof=1), median and range "
    f"of the labelled images of {ds.root.name}; below, two-sided Mann-Whitney U and two-sample KS tests of "
    "train against test.", label="Table")

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

# %% tags=["hide-input"]
density = go.Figure()
for split, curve in scores.curves.groupby("split", sort=False):
    colour = SPLIT_COLOURS.get(split)
    row = scores.summary.set_index("split").loc[split]
    density.add_trace(go.Scatter(
        x=curve["score"], y=curve["density"], mode="lines", name=f"{split} (n={int(row['n'])})",
        line=dict(color=colour, width=2.5), fill="tozeroy", opacity=0.5,
        hovertemplate="score %{x:.1f}<br>density %{y:.4f}<extra>" + split + "</extra>"))
    density.add_vline(x=row["mean"], line=dict(color=colour, dash="dash", width=1.5))
    density.add_vline(x=row["median"], line=dict(color=colour, dash="dot", width=1.5))
density.update_layout(
    title="Figure 2(a). Overall composition score, train against test",
    xaxis_title="overall score (1-100)", yaxis_title="density", xaxis_range=[1, 100],
    # Inside the plot, top left where scores are rare: above it the legend ran into the title and the toolbar.
    legend=dict(x=0.01, xanchor="left", y=0.98, yanchor="top", bgcolor="rgba(255,255,255,0.8)"),
)
show_plotly(density, height=420)

# %% tags=["remove-input"]
test_text = (
    f" Train and test differ by Mann-Whitney p = {scores.test.mann_whitney_p:.3g}, KS p = {scores.test.ks_p:.3g}."
    if scores.test else " No two-sample test: it needs at least two labelled images in both train and test.")
caption(
    f"Gaussian kernel density (Scott's bandwidth) of the overall score of the labelled images of {ds.root.name}, "
    "per split; dashed lines mark the mean, dotted lines the median." + test_text +
    " Hover for values; click a split in the legend to hide it.")

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(7, 3.6))
for split, curve in scores.curves.groupby("split", sort=False):
    row = scores.summary.set_index("split").loc[split]
    colour = SPLIT_COLOURS.get(split)
    ax.plot(
        curve["score"],
        curve["density"],
        color=colour,
        lw=2,
        label=f"{split}: mean {row['mean']:.1f}, sd {row['std']:.1f}, median {row['median']:.0f} (n={int(row['n'])})",
    )
    ax.fill_between(curve["score"], curve["density"], color=colour, alpha=0.15)
    ax.axvline(row["mean"], color=colour, ls="--", lw=1)
ax.set(xlabel="overall score (1-100)", ylabel="density", xlim=(1, 100), title="Figure 2(a)")
ax.legend(frameon=False, fontsize=9, loc="upper left")
fig.tight_layout()
plt.show()

# %% tags=["remove-input"]
caption("Figure 2(a) for print: the same densities as above, with each split's mean (dashed) in the legend.")

# %% [markdown]
# ## (b) The 13 attributes

# %% tags=["hide-input"]
attributes = figure2b(ds)
for note in attributes.notes:
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

# %% tags=["hide-input"]
radar = go.Figure()
labels = radar_labels(newline="<br>")
axes, names = [*labels, labels[0]], [*ATTRIBUTE_NAMES, ATTRIBUTE_NAMES[0]]  # closed polygon
for split in attributes.splits:
    values = attributes.means[f"mean_{split}"].tolist()
    radar.add_trace(go.Scatterpolar(
        r=[*values, values[0]], theta=axes, customdata=names, name=split, fill="toself", opacity=0.55,
        line=dict(color=SPLIT_COLOURS.get(split), width=2),
        hovertemplate="%{customdata}<br>mean %{r:.2f}<extra>" + split + "</extra>"))
low = (
    float(np.nanmin(attributes.means[[f"mean_{s}" for s in attributes.splits]].to_numpy())) if attributes.splits else 0
)
radar.update_layout(
    title="Figure 2(b). Mean score of each attribute (0-10)",
    polar=dict(radialaxis=dict(range=[max(0.0, np.floor(low) - 1), 10], tickfont_size=10),
               angularaxis=dict(tickfont_size=11, rotation=90, direction="clockwise")),
    legend=dict(orientation="h", y=-0.08),
    margin=dict(l=70, r=70, t=70, b=40),
)
assert all(len(trace.theta) == 14 and len(set(trace.theta)) == 13 for trace in radar.data)  # 13 axes, closed
show_plotly(radar, height=560)

# %% tags=["remove-input"]
caption(
    f"Mean 0-10 score of each of the 13 composition attributes over the labelled images of {ds.root.name}, "
    "per split. The radial axis starts near the lowest mean, so differences between attributes are visible; "
    "hover a vertex for its value.")

# %% tags=["hide-input"]
angles = np.linspace(0, 2 * np.pi, 13, endpoint=False)
fig, ax = plt.subplots(figsize=(7.5, 7.5), subplot_kw={"projection": "polar"})
for split in attributes.splits:
    values = attributes.means[f"mean_{split}"].to_numpy()
    ax.plot(
        np.append(angles, angles[0]), np.append(values, values[0]), color=SPLIT_COLOURS.get(split), lw=2, label=split
    )
    ax.fill(np.append(angles, angles[0]), np.append(values, values[0]), color=SPLIT_COLOURS.get(split), alpha=0.15)
ax.set_xticks(angles, radar_labels(), fontsize=8)
ax.set_ylim(max(0.0, np.floor(low) - 1), 10)
ax.set_theta_offset(np.pi / 2)  # first attribute at the top, clockwise, as in the interactive radar
ax.set_theta_direction(-1)
ax.set_rlabel_position(360 / 26)  # radial labels between the first two axes
ax.set_title("Figure 2(b)", pad=30)
ax.legend(loc="upper right", bbox_to_anchor=(1.15, 1.1), frameon=False)
fig.tight_layout()
plt.show()

# %% tags=["remove-input"]
caption("Figure 2(b) for print: the same means as the interactive radar above.")

# %% [markdown]
# ## Levels per attribute
#
# A mean hides how the levels are spread. The benchmark's rule turns each 0-10 score into a level
# (Poor below 5, Medium below 7, Good otherwise); this is the share of each level per attribute.

# %% tags=["hide-input"]
levels = level_distribution(ds)
for split, part in levels.groupby("split", sort=False):
    # every labelled image has a level for each attribute it has a score for (at most one per image)
    assert (part.groupby("attribute", observed=True)["images"].sum() <= (labelled["split"] == split).sum()).all()
bars = px.bar(
    levels, x="share", y="attribute", color="level", facet_col="split", orientation="h",
    category_orders={"attribute": list(ATTRIBUTE_NAMES), "level": list(LEVELS)},
    color_discrete_map=LEVEL_COLOURS, hover_data={"images": True, "share": ":.1%"},
    title="Level distribution of the 13 attributes",
)
bars.update_xaxes(tickformat=".0%", title="share of images")
bars.for_each_annotation(lambda a: a.update(text=a.text.replace("split=", "")))
show_plotly(bars, height=520)

# %% tags=["remove-input"]
caption(
    f"Share of Poor, Medium and Good among the labelled images of {ds.root.name}, per attribute and split "
    "(levels from the 0-10 scores by the benchmark's rule). Hover a bar for its image count.")

# %% [markdown]
# ## How the attributes correlate

# %% tags=["hide-input"]
correlation = attribute_correlation(ds)
matrix = correlation.to_numpy()
if not np.isfinite(matrix).any():
    display(Markdown(f"*Too few labelled images ({len(labelled)}) for a rank correlation: the matrix is empty.*"))
if np.isfinite(matrix).any():
    assert np.allclose(np.diag(matrix)[np.isfinite(np.diag(matrix))], 1.0)
    assert np.allclose(matrix, matrix.T, equal_nan=True)
    scored = labelled[[c for c in labelled.columns if c.endswith("_score") and c != "total_score"]].dropna()
    assert np.isclose(matrix[0, 1], stats.spearmanr(scored.iloc[:, 0], scored.iloc[:, 1]).statistic)
heatmap = px.imshow(
    correlation, zmin=-1, zmax=1, color_continuous_scale="RdBu_r", text_auto=".2f", aspect="auto",
    title="Spearman correlation between attribute scores",
)
heatmap.update_traces(textfont_size=9)
heatmap.update_layout(margin=dict(l=260, t=60), coloraxis_colorbar=dict(title="rho"))
show_plotly(heatmap, height=620)

# %% tags=["remove-input"]
caption(
    f"Spearman rank correlation between the 0-10 scores of the 13 attributes over all {len(labelled)} labelled "
    f"images of {ds.root.name} (train and, where labelled, test). Hover a cell for the pair.")
