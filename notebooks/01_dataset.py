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
#
# What a PortraitCraft root holds: the files present and missing, how many records each split and
# track has, the fields of a record, the image sizes, a few examples with the levels and reasons of
# their 13 attributes, the distribution of overall scores, and what the test split hides.

# %% tags=["parameters"]
data = "data/lab"  # a PortraitCraft root folder, "lab", or a Hugging Face dataset id
max_side = 384  # longest side of the gallery thumbnails, in pixels
gallery_size = 3  # how many labelled examples the gallery shows
seed = 0  # which examples the gallery picks

# %%

import numpy as np
import pandas as pd
import plotly.express as px
from IPython.display import HTML, Markdown, display

from portraitcraft.attributes import ATTRIBUTE_NAMES, LEVELS
from portraitcraft.book import LEVEL_COLOURS, SPLIT_COLOURS, caption, level_table, show_plotly, thumbnail
from portraitcraft.book.paths import locate
from portraitcraft.book.tables import record_fields
from portraitcraft.data import EXPECTED_FILES, GROUND_TRUTH_FILE, TRACK_FILE, open_dataset, read_json_records

ds = open_dataset(locate(data))
print(ds.summary())

# %% [markdown]
# ## Files present and missing
#
# The published layout has one JSON file per track and split, and the images spread over folders
# `images_00` ... `images_10`. A root may be partial (the Track 2 test file, for instance, is not
# always distributed); the analyses below use whatever is present.

# %% tags=["hide-input"]
present = {p.name for p in ds.root.iterdir()}
files = pd.DataFrame(
    {
        "file": [*EXPECTED_FILES, GROUND_TRUTH_FILE],
        "present": [name in present for name in [*EXPECTED_FILES, GROUND_TRUTH_FILE]],
        "role": ["published"] * len(EXPECTED_FILES) + ["lab only: the test split's hidden labels"],
    }
)
display(files.style.hide(axis="index"))
print(f"image folders: {', '.join(ds.image_folders) or 'none'}")
print(f"problems found while reading: {len(ds.errors)} error(s), {len(ds.problems) - len(ds.errors)} warning(s)")

# %% [markdown]
# ## Records per split and track

# %% tags=["hide-input"]
images = ds.images(with_size=True)
descriptions = ds.descriptions()
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
counts.rename(columns=lambda column: column.replace("_", " "))

# %% [markdown]
# ## The fields of a record
#
# The first record of each track file, field by field. The 13 attribute entries of `criteria` share
# one shape, so they are shown once.

# %% tags=["hide-input"]
track_files = sorted(name for name in present if TRACK_FILE.match(name))
schema = pd.concat(
    [
        pd.DataFrame(record_fields(records[0])).assign(file=name)
        for name in track_files
        if (records := read_json_records(ds.root / name))
    ],
    ignore_index=True,
)
display(schema[["file", "field", "type", "example"]].style.hide(axis="index"))

# %% [markdown]
# ## Image sizes

# %% tags=["hide-input"]
sized = images.dropna(subset=["width", "height"])
sizes = sized.assign(
    orientation=np.select(
        [sized["height"] > sized["width"], sized["height"] < sized["width"]], ["portrait", "landscape"], "square"
    ),
    megapixels=sized["width"] * sized["height"] / 1e6,
)
sizes.groupby("split", observed=True).agg(
    images=("image_path", "size"),
    width_median=("width", "median"),
    height_median=("height", "median"),
    megapixels_min=("megapixels", "min"),
    megapixels_max=("megapixels", "max"),
    portrait=("orientation", lambda o: int((o == "portrait").sum())),
    landscape=("orientation", lambda o: int((o == "landscape").sum())),
).round(2).rename(columns=lambda column: column.replace("_", " "))

# %% [markdown]
# ## Examples
#
# Labelled examples with their overall score and, for each of the 13 attributes, the 0–10 score, the
# level it implies (Poor below 5, Medium below 7, Good otherwise) and the annotator's reason.

# %% tags=["hide-input"]
labelled = images[~images["labels_hidden"] & images["image_file"].notna()]
picked = labelled.sample(n=min(gallery_size, len(labelled)), random_state=seed)
attributes = ds.attributes()
for row in picked.itertuples():
    table = attributes[attributes["image_path"] == row.image_path]
    picture = thumbnail(ds.open_image(row.image_path, max_side=max_side), title=row.image_path, max_side=max_side)
    display(HTML(f"{picture}<p><b>overall score {row.total_score:.0f}</b> ({row.split} split)</p>"))
    display(level_table(table))
if picked.empty:
    display(Markdown("*No labelled example with its image is present.*"))

# %% [markdown]
# ## Overall scores and levels

# %% tags=["hide-input"]
scored = images[~images["labels_hidden"]].dropna(subset=["total_score"])
histogram = px.histogram(
    scored,
    x="total_score",
    color="split",
    color_discrete_map=SPLIT_COLOURS,
    nbins=20,
    range_x=[0, 100],
    barmode="overlay",
    labels={"total_score": "overall score (1-100)", "split": "split"},
    title="Overall score of the labelled images",
)
show_plotly(histogram, height=380)

# %% tags=["remove-input"]
caption(f"Overall scores of the {len(scored)} labelled images. Hover a bar for its count.")

# %% tags=["hide-input"]
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
show_plotly(bars, height=460)

# %% tags=["remove-input"]
caption("Levels per attribute, from the 0-10 scores by the benchmark's rule. Click a level in the legend to hide it.")

# %% [markdown]
# ## What the test split hides
#
# The published test file keeps the questions and the four options but hides every label: each
# attribute's level is `"x"`, the overall score is `0` and the answer is `"x"`. The lab writes the same,
# and keeps the real test labels apart in its ground-truth file for scoring.

# %% tags=["hide-input"]
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
    display(
        Markdown(
            f"Example question, about *{example['attribute']}*: {example['question']}\n\n"
            + "\n".join(f"- **{letter}.** {example[f'option_{letter}']}" for letter in "ABCD")
        )
    )
