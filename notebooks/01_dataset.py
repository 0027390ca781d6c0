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
# # The dataset

# %% tags=["parameters", "remove-cell"]
data: str = "data/lab"  # a PortraitCraft root folder, "lab", or a Hugging Face dataset id
max_side: int = 384  # longest side of the gallery thumbnails, in pixels
gallery_size: int = 3  # how many labelled examples the gallery shows
seed: int = 0  # which examples the gallery picks

# %% tags=["remove-cell"]
import html

import numpy as np
import pandas as pd
import plotly.express as px
from IPython.display import HTML, Markdown, display

from portraitcraft.attributes import ATTRIBUTE_NAMES, LEVELS
from portraitcraft.book import (
    LEVEL_COLOURS,
    SPLIT_COLOURS,
    banner,
    caption,
    counted,
    level_table,
    show_plotly,
    thumbnail,
)
from portraitcraft.book.paths import locate, shown_path
from portraitcraft.book.tables import breakable, problem_rows, record_fields
from portraitcraft.data import EXPECTED_FILES, GROUND_TRUTH_FILE, TRACK_FILE, read_json_records
from portraitcraft.sources import open_dataset

ds = open_dataset(locate(data))
data_shown = shown_path(data)  # as pages print a path: no "..", relative to the repository where shorter
images = ds.images(with_size=True)
descriptions = ds.descriptions()

# %% tags=["remove-input"]
banner(ds, data=data)

# %% tags=["remove-input"]
track1 = images.groupby("split", observed=True).agg(
    records=("image_path", "size"),
    images_found=("image_file", lambda files: int(files.notna().sum())),
    labels_hidden=("labels_hidden", "sum"),
)
track2 = descriptions.groupby("split").agg(
    records=("image_path", "size"),
    images_found=("image_file", lambda files: int(files.notna().sum())),
)
counts = pd.concat({"Track 1": track1, "Track 2": track2}, names=["track", "split"]).fillna({"labels_hidden": 0})
counts["labels_hidden"] = counts["labels_hidden"].astype(int)
display(counts.rename(columns=lambda column: column.replace("_", " ")))
caption(f"Records per track and split in {data_shown}, the images found for them, and the records whose labels are "
        "hidden.", label="Table")

# %% tags=["remove-input"]
missing_images = int(counts["records"].sum() - counts["images_found"].sum()) if len(counts) else 0
hidden = int(counts["labels_hidden"].sum()) if len(counts) else 0
display(Markdown(
    f"{data_shown} holds {counted(int(track1['records'].sum()), 'Track 1 record')} and "
    f"{counted(int(track2['records'].sum()), 'Track 2 description')}; "
    + (f"**{counted(missing_images, 'record')} {'has' if missing_images == 1 else 'have'} no image in the folders**"
       if missing_images else "every record's image is in the folders")
    + (f", and the labels of {counted(hidden, 'record')} are hidden, as the published test split hides them."
       if hidden else ", and every record's labels are present.")))

# %% [markdown]
# **How to read it.** One row per track and split: *records* are the entries of the JSON file, *images found*
# those whose picture is in an `images_NN` folder, *labels hidden* those published without labels (the test
# split). The sections below show what the records hold.

# %% [markdown]
# ## Overall scores and levels

# %% tags=["remove-input"]
scored = images[~images["labels_hidden"]].dropna(subset=["total_score"])
if len(scored) >= 10:
    histogram = px.histogram(
        scored, x="total_score", color="split", color_discrete_map=SPLIT_COLOURS, nbins=20, range_x=[0, 100],
        barmode="overlay", labels={"total_score": "overall score (1-100)", "split": "split"},
        title="Overall score of the labelled images",
    )
    histogram.update_xaxes(tickvals=[20, 40, 60, 80, 100])  # no "0" under the count axis's own "0"
    display(show_plotly(histogram, height=380))
    display(caption(f"Overall scores of the {len(scored)} labelled images. Hover a bar for its count."))
elif len(scored):
    # Too few scores for a histogram's bars: one dot per image on the score line.
    dots = px.strip(scored, x="total_score", color="split", color_discrete_map=SPLIT_COLOURS,
                    hover_name="image_path", labels={"total_score": "overall score (1-100)", "split": "split"},
                    title="Overall score of each labelled image")
    dots.update_traces(marker_size=12)
    dots.update_xaxes(range=[0, 100], tickvals=[0, 20, 40, 60, 80, 100])
    display(show_plotly(dots, height=220))
    display(caption(f"Overall score of each of the {counted(len(scored), 'labelled image')}, one dot each (too few "
                    "for a histogram). Hover a dot for its image."))
else:
    display(Markdown("No labelled image with an overall score: nothing to plot."))

# %% tags=["remove-input"]
attributes = ds.attributes()
levels = (
    attributes[~attributes["labels_hidden"]]
    .groupby(["attribute", "level"], observed=False)
    .size()
    .rename("images")
    .reset_index()
)
bars = px.bar(
    levels,
    y="attribute",
    x="images",
    color="level",
    orientation="h",
    category_orders={"attribute": list(ATTRIBUTE_NAMES), "level": list(LEVELS)},
    color_discrete_map=LEVEL_COLOURS,
    title="Levels of the 13 attributes (labelled images)",
)
if levels.groupby("attribute", observed=True)["images"].sum().max() <= 10:  # a few images: whole counts on the axis
    bars.update_xaxes(dtick=1)
display(show_plotly(bars, height=460))
caption("Levels per attribute, from the 0-10 scores by the benchmark's rule. Click a level in the legend to hide it.")

# %% [markdown]
# ## Files present and missing
#
# The published layout has one JSON file per track and split, and the images spread over folders
# `images_00` ... `images_10`. A root may be partial (the Track 2 test file, for instance, is not
# always distributed); the analyses use whatever is present.

# %% tags=["remove-input"]
present = {p.name for p in ds.root.iterdir()}
files = pd.DataFrame(
    {
        "file": [*EXPECTED_FILES, GROUND_TRUTH_FILE],
        "present": ["yes" if name in present else "no" for name in [*EXPECTED_FILES, GROUND_TRUTH_FILE]],
        "role": ["published"] * len(EXPECTED_FILES) + ["lab only: the test split's hidden labels"],
    }
)
display(files.style.hide(axis="index"))
warnings_found = len(ds.problems) - len(ds.errors)
display(Markdown(
    f"Image folders: {', '.join(f'`{f}`' for f in ds.image_folders) or 'none'}. Reading the files found "
    f"{counted(len(ds.errors), 'error')} and {counted(warnings_found, 'warning')}" + (":" if ds.problems else ".")))
if ds.problems:
    # One row per finding, each naming its file and record; past a dozen, the first ten and how many more.
    findings, left_out = problem_rows(ds.problems, first=10)
    # an image's long file name may break after its "_" rather than widen the table
    display(findings.style.hide(axis="index").format(breakable, subset=["image"])
            .set_properties(**{"text-align": "left"}))
    display(caption((f"Every finding of reading {data_shown}" if not left_out else
                     f"The first {len(findings)} of the {len(ds.problems)} findings of reading {data_shown} "
                     f"({left_out} more not shown)")
                    + ": the file, the record (its position in the file, from 0) and its image. "
                    f"`portraitcraft validate {data_shown}` "
                    + ("lists every one." if left_out else "finds the same from a terminal."), label="Table"))

# %% [markdown]
# ## The fields of a record
#
# The first record of each track file, field by field. The 13 attribute entries of `criteria` share
# one shape, so they are shown once. Where the test file hides its labels, the label fields say so and name the
# placeholder that stands in for them (see the last section).

# %% tags=["remove-input"]
track_files = sorted(name for name in present if TRACK_FILE.match(name))
schema = pd.concat(
    [
        pd.DataFrame(record_fields(records[0])).assign(file=name)
        for name in track_files
        if (records := read_json_records(ds.root / name))
    ],
    ignore_index=True,
)
# A long file name has no place to break: let the example column break anywhere rather than widen the table.
display(schema[["file", "field", "type", "example"]].style.hide(axis="index")
        .set_properties(subset=["example"], **{"overflow-wrap": "anywhere"}))

# %% [markdown]
# ## Image sizes

# %% tags=["remove-input"]
sized = images.dropna(subset=["width", "height"])
sizes = sized.assign(
    orientation=np.select(
        [sized["height"] > sized["width"], sized["height"] < sized["width"]], ["portrait", "landscape"], "square"
    ),
    megapixels=sized["width"] * sized["height"] / 1e6,
)
summary = sizes.groupby("split", observed=True).agg(
    images=("image_path", "size"),
    width=("width", "median"),
    height=("height", "median"),
    mp_min=("megapixels", "min"),
    mp_max=("megapixels", "max"),
    portrait=("orientation", lambda o: int((o == "portrait").sum())),
    landscape=("orientation", lambda o: int((o == "landscape").sum())),
    square=("orientation", lambda o: int((o == "square").sum())),
)
if len(summary):
    sizes_shown = [f"{w:.0f} x {h:.0f}" for w, h in zip(summary.pop("width"), summary.pop("height"))]
    megapixels = [f"{lo:.2f}-{hi:.2f}" for lo, hi in zip(summary.pop("mp_min"), summary.pop("mp_max"))]
    summary.insert(1, "median width x median height", sizes_shown)  # medians apart: not one image's size
    summary.insert(2, "megapixels", megapixels)
    display(summary)
    display(caption("Images per split whose size could be read: median width x height in pixels, the range of "
                    "megapixels, and how many are portrait, landscape or square.", label="Table"))
else:
    display(Markdown("No image whose size could be read."))

# %% [markdown]
# ## Examples
#
# Labelled examples with their overall score and, for each of the 13 attributes, the 0–10 score, the
# level it implies (Poor below 5, Medium below 7, Good otherwise) and the annotator's reason.

# %% tags=["remove-input"]
labelled = images[~images["labels_hidden"] & images["image_file"].notna()]
picked = labelled.sample(n=min(gallery_size, len(labelled)), random_state=seed)
attributes = ds.attributes()
for row in picked.itertuples():
    table = attributes[attributes["image_path"] == row.image_path]
    picture = thumbnail(ds.open_image(row.image_path, max_side=max_side), title=row.image_path, max_side=max_side,
                        credit=not ds.is_lab)  # a real photograph carries its credit
    display(HTML(f"{picture}<p><b>overall score {row.total_score:.0f}</b> ({row.split} split)</p>"))
    display(level_table(table))
if picked.empty:
    display(Markdown("*No labelled example with its image is present.*"))

# %% [markdown]
# ## What the test split hides
#
# The published test file keeps the questions and the four options but hides every label: each
# attribute's level is `"x"`, the overall score is `0` and the answer is `"x"`. The lab writes the same,
# and keeps the real test labels apart in its ground-truth file for scoring.

# %% tags=["remove-input"]
questions = ds.questions()
test_images = images[images["split"] == "test"]
test_questions = questions[questions["split"] == "test"]
hidden_status = pd.DataFrame(
    {
        "test records": [len(test_images)],
        "labels hidden": [int(test_images["labels_hidden"].sum())],
        "questions": [len(test_questions)],
        "answers hidden": [int(test_questions["answer"].isna().sum())],
        "ground truth file": ["present" if GROUND_TRUTH_FILE in present else "absent"],
    }
)
display(hidden_status.style.hide(axis="index"))
if len(test_questions):
    example = test_questions.iloc[0]
    # The photograph beside its question, where the folders hold it.
    found = images[(images["image_path"] == example["image_path"]) & images["image_file"].notna()]
    picture = thumbnail(ds.open_image(example["image_path"], max_side=max_side), title=example["image_path"],
                        max_side=280, credit=not ds.is_lab) if len(found) else ""
    options = "".join(f"<li><b>{letter}.</b> {html.escape(str(example[f'option_{letter}']))}</li>" for letter in "ABCD")
    display(HTML(
        f"<div style='display:flex;gap:16px;align-items:flex-start'>{picture}<div><p>Example question, about "
        f"<i>{html.escape(str(example['attribute']))}</i>: {html.escape(str(example['question']))}</p>"
        f"<ul style='list-style:none;padding-left:0'>{options}</ul></div></div>"))
