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
# # Track 2: composition alignment

# %% tags=["parameters", "remove-cell"]
from typing import Optional  # the parameters' types, for papermill --help-notebook

data: str = "data/lab"  # the book's dataset: the proof below runs on the lab; real data: its Track 2 images scored
sample: str = "../shared/portraitcraft-sample"  # the real sample (read in place, never copied); skipped when absent
split: str = "test"  # the lab's Track 2 split of the proof
limit: "Optional[int]" = None  # only the first N records of that split (None: all)
extractor: str = "cpu"  # "cpu", or "vlm" with `model` (a Qwen3-VL folder)
model: "Optional[str]" = None  # the Qwen3-VL folder the "vlm" extractor reads the images with (None: none)
thumb_side: int = 220  # longest side of the thumbnails, pixels

# %% tags=["remove-cell"]
import html
import json
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import HTML, Markdown, display

from portraitcraft.book import banner, caption, shaded, thumbnail
from portraitcraft.book.paths import locate, repository_path, shown_path
from portraitcraft.book.tables import missed_properties
from portraitcraft.data import FACTORS_FILE
from portraitcraft.sources import open_dataset
from portraitcraft.track2 import BY_KEY, PROPERTIES, parse_description
from portraitcraft.track2.bench import faithful_image, lab_alignment, sample_alignment, short_names
from portraitcraft.track2.score import NOT_OFFICIAL, evaluate_folder, score_image

ds = open_dataset(locate(data))
root = ds.root
is_lab = ds.is_lab
data_name = shown_path(root)  # as the page prints it: relative to the repository, or whole
sample_root = repository_path(sample)
has_sample = (sample_root / "track_2_train.json").is_file()
lab = None
if is_lab:
    lab = lab_alignment(root, split=split, extractor=extractor, model=model, limit=limit)
    n = lab.n_images
    assert lab.matrix.shape == (n, n) and n >= 2
    assert all(0 <= v <= 1 for v in lab.matrix[~np.isnan(lab.matrix)])
real = None
if has_sample:
    real = sample_alignment(sample_root, extractor=extractor, model=model, max_side=1024)
    assert real["matrix"].shape == (real["candidates"], len(real["image_paths"]))


# %% tags=["remove-input"]
banner(ds, data=data)

# %% tags=["remove-input"]
display(HTML(f'<div class="admonition important"><p class="admonition-title">Not the official scorer</p>'
             f"<p>{html.escape(NOT_OFFICIAL)}</p></div>"))

# %% tags=["remove-input"]
if lab is not None:
    off = lab.matrix[~np.eye(lab.n_images, dtype=bool)]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    bins = np.linspace(0, 1, 26)
    ax.hist(off[~np.isnan(off)], bins=bins, density=True, alpha=0.6, label=f"mismatched ({off.size} pairs)")
    ax.hist(np.diag(lab.matrix), bins=bins, density=True, alpha=0.6, label=f"matched ({lab.n_images} pairs)")
    ax.set(xlabel="overall agreement (0-1)", ylabel="density", title=f"ROC AUC {lab.auc:.2f}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)  # beside the bars, not on them
    plt.show()
    display(caption(f"Overall agreement of matched and mismatched (description, image) pairs on the lab's {split} "
                    f"split, {extractor} extractor. The AUC is the chance that a matched pair outscores a mismatched "
                    "one."))
    matched, mismatched = np.nanmean(np.diag(lab.matrix)), np.nanmean(off)
    display(Markdown(
        f"On {data_name}'s {split} split, an image's own description scores {matched:.2f} on average against "
        f"{mismatched:.2f} for the descriptions of other images; a matched pair outscores a mismatched one with "
        f"probability {lab.auc:.2f} (0.5 would be no better than chance)."))
    display(Markdown(
        "**How to read it.** Every lab Track 2 record was written from its scene's factors, so the factors are the "
        "truth of both sides: the faithful renderer draws each record's image from them, and each description is "
        "scored against every image. A scorer that measures alignment ranks each image's own description above the "
        "others. The CPU extractor's rules were tuned by eye on the lab's Track 2 *train* split; this is the "
        f"*{split}* split."))
elif real is not None:
    display(Markdown(
        f"{data_name} is not a composition lab (no `{FACTORS_FILE}`), so the proof on the lab is skipped; the real "
        f"sample's result is below: its images' own descriptions score {real['matched_mean']:.2f} on average "
        f"against {real['mismatched_mean']:.2f} for other descriptions (AUC {real['auc']:.2f}, "
        f"{len(real['matched'])} matched pairs)."))
else:
    display(Markdown(f"{data_name} is not a composition lab and the real sample was not found at `{sample}`: there is "
                     "nothing to score here beyond the reading of a description below."))

# %% [markdown]
# ## The properties
#
# Each property has values, a weight in the overall score, and the question a vision-language model is asked.
# Ordinal values one step apart earn half credit; continuous ones lose credit linearly with the distance.

# %% tags=["remove-input"]
display(pd.DataFrame([{"property": f"{p.label}<br><code>{p.key}</code>", "kind": p.kind,
                       "values": ", ".join(p.values) or
                       ", ".join(f"{o} ~ {p.show(b)}" for o, b in zip(p.options, p.bins)), "weight": p.weight,
                       "meaning": p.meaning} for p in PROPERTIES]).style.hide(axis="index").format({"weight": "{:.2f}"})
        .set_properties(subset=["meaning", "values"], **{"text-align": "left"}))
display(caption("The Track 2 properties (`portraitcraft.track2.properties`): the name the pages use, and under it "
                "the key that reports and code use.", label="Table"))

# %% [markdown]
# ## How a description is read
#
# One Track 2 record of the book's dataset (the first whose image the data holds), read into targets: each with the
# value asked for, how clearly the text states it (confidence, 0-1) and the words it came from. Properties the text
# does not mention are absent and will not be scored.

# %% tags=["remove-input"]
track2_file = root / f"track_2_{split}.json"
if not track2_file.is_file():
    track2_file = next(iter(sorted(root.glob("track_2_*.json"))), None)
if track2_file is not None:
    # The described image beside its description: the first record whose image the folders hold, its file; else the
    # first record and, on the lab, its faithful render.
    example_data = open_dataset(str(root))
    example_records = json.loads(track2_file.read_text(encoding="utf-8"))
    example = next((r for r in example_records if example_data.image_file(r["image_path"]) is not None),
                   example_records[0])
    parsed_example = parse_description(example["content_description"], example["composition_analysis"])
    if example_data.image_file(example["image_path"]) is not None:
        example_picture = thumbnail(example_data.open_image(example["image_path"], max_side=512),
                                    title=example["image_path"], max_side=thumb_side, credit=not example_data.is_lab)
    elif (root / FACTORS_FILE).is_file():
        example_factors = json.loads((root / FACTORS_FILE).read_text(encoding="utf-8"))
        example_picture = (thumbnail(faithful_image(example_factors[example["image_path"]], long_side=512),
                                     title=f"{example['image_path']} (the lab's render)", max_side=thumb_side)
                           if example["image_path"] in example_factors else "")
    else:
        example_picture = ""
    display(HTML(f"<div style='display:flex;gap:16px;align-items:flex-start'>{example_picture}<div><p><b>"
                 f"{html.escape(example['image_path'])}</b>, composition analysis:</p><blockquote>"
                 f"{html.escape(example['composition_analysis'])}</blockquote></div></div>"))
    display(pd.DataFrame([{"property": BY_KEY[t.key].label, "asked": BY_KEY[t.key].show(t.value),
                           "confidence": t.confidence,
                           "source": t.source, "words": t.evidence} for t in parsed_example.targets.values()])
            .style.hide(axis="index").format({"confidence": "{:.2f}"})
            .set_properties(subset=["words"], **{"text-align": "left"}))
    display(caption(f"Targets read from {example['image_path']} ({len(parsed_example.targets)} of {len(PROPERTIES)} "
                    "properties mentioned): the value asked, how clearly the text states it (0-1), and the words it "
                    "came from.", label="Table"))
    for note in parsed_example.notes:
        display(Markdown(f"*Note on this build: {note}*"))

# %% [markdown] tags=["remove-if-no-output"]
# ## How well each side reads the lab

# %% tags=["remove-input"]
if lab is not None:
    accuracy = pd.DataFrame({
        "text parser accuracy": {BY_KEY[k].label: v["accuracy"] for k, v in lab.text_accuracy.items()},
        "records mentioning it": {BY_KEY[k].label: v["n"] for k, v in lab.text_accuracy.items()},
        "extractor accuracy": {BY_KEY[k].label: v["accuracy"] for k, v in lab.extractor_accuracy.items()},
        "images read": {BY_KEY[k].label: v["n"] for k, v in lab.extractor_accuracy.items()},
    })
    display(accuracy.style.format(na_rep="-", precision=2))
    display(caption("Accuracy against the lab's factors, per property: of the targets the parser read from the "
                    "descriptions, and of the values the extractor read from the faithful renders (continuous "
                    "properties: within a third of their agreement scale). '-' : never read.", label="Table"))

# %% [markdown] tags=["remove-if-no-output"]
# ## Per-property agreement
#
# Mean agreement of each property over the matched pairs (what a faithful image earns) and the mismatched ones (what
# an image of another description earns). A property whose two bars are close does not separate images; it is
# either rarely mentioned, hard to read from pixels, or common to most scenes.

# %% tags=["remove-input"]
if lab is not None:
    rows = []
    for i, parsed in enumerate(lab.parsed):
        for j, readings in enumerate(lab.readings):
            if i != j and (i + j) % 3:  # a third of the mismatched pairs is plenty for the means
                continue
            for p in score_image(parsed, readings).properties:
                rows.append({"property": BY_KEY[p.key].label, "pair": "matched" if i == j else "mismatched",
                             "agreement": p.agreement})
    agreement = pd.DataFrame(rows).groupby(["property", "pair"])["agreement"].mean().unstack()
    agreement = agreement.reindex([p.label for p in PROPERTIES]).dropna(how="all")
    ax = agreement.plot.barh(figsize=(7, 5))
    ax.set(xlabel="mean agreement", ylabel=None, xlim=(0, 1))
    ax.legend(title=None, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)  # beside the bars, not on them
    ax.invert_yaxis()
    plt.show()
    display(caption("Mean agreement per property over matched and mismatched pairs on the lab."))

# %% [markdown] tags=["remove-if-no-output"]
# ## Failure cases
#
# The matched pairs that scored lowest: the faithful image beside the properties it was judged to miss, with the
# words that asked for each and the measurement that disagreed.

# %% tags=["remove-input"]
if lab is not None:
    factors = json.loads((root / FACTORS_FILE).read_text(encoding="utf-8"))
    worst = np.argsort(np.nan_to_num(np.diag(lab.matrix), nan=-1))[:3]
    for i in worst:
        name = lab.image_paths[i]
        image = faithful_image(factors[name], long_side=512)
        table = missed_properties(lab.parsed[i], lab.readings[i])
        display(HTML(f"<p><b>{html.escape(name)}</b>: overall {lab.matrix[i, i]:.2f}</p>"
                     f"{thumbnail(image, title=name, max_side=thumb_side)}"))
        if len(table):
            display(table.style.hide(axis="index").format(precision=2))
        else:
            display(Markdown("No disagreement."))
    display(caption("The three lowest-scoring matched pairs of the lab, one table under each image: the properties "
                    "its description asked for, what the extractor read, their agreement (some agree: a low overall "
                    "is the mean over all of them), the words that asked, and the measurement behind the reading.",
                    label="Table"))

# %% [markdown]
# ## The real sample
#
# Four real images with their real descriptions (and six descriptions whose images are not in the sample). Every
# description is scored against every image present. Real photographs are much harder for the CPU extractor than
# the lab's drawings, and the result is reported as it comes.

# %% tags=["remove-input"]
if real is not None:
    display(Markdown(f"Matched mean {real['matched_mean']:.2f}, mismatched mean {real['mismatched_mean']:.2f}, AUC "
                     f"{real['auc']:.2f} over {len(real['matched'])} matched and "
                     f"{real['matrix'].size - len(real['matched'])} mismatched pairs."))
else:
    display(Markdown(f"The real sample was not found at `{sample}`, so it is not scored here."))

# %% tags=["remove-input"]
if real is not None:
    # Short names for the columns (the images) and rows (the descriptions' images), so that the matrix fits.
    columns = [f"image {k + 1}" for k in range(len(real["image_paths"]))]
    rows = short_names(real["descriptions"])
    table = pd.DataFrame(real["matrix"], index=rows, columns=columns)
    # each cell's figures dark or white, whichever reads better on its blue
    styled = shaded(table.style.format("{:.2f}"), cmap="Blues")
    own = {(rows[i], columns[k]) for k, i in enumerate(real["own"])}
    styled = styled.apply(lambda column: ["font-weight: bold; border: 2px solid black"
                                          if (row, column.name) in own else "" for row in column.index])
    display(styled)
    display(caption("Overall agreement of every real description (rows, by the image it describes, without the "
                    "file's extension and hash) with every real image present (columns: "
                    + "; ".join(f"{c} = {n}" for c, n in zip(columns, short_names(real["image_paths"])))
                    + "); the matched pairs are outlined. Rank of each image's own description among the "
                    f"{real['candidates']}, image 1 to {len(columns)}: "
                    + ", ".join(str(rank) for rank in real["own_description_rank"]) + ".", label="Table"))
    sample_data = open_dataset(str(sample_root))
    for name, index in zip(real["image_paths"], real["own"]):
        picture = sample_data.open_image(name, max_side=512)
        table = missed_properties(real["parsed"][index], real["readings"][real["image_paths"].index(name)])
        display(HTML(thumbnail(picture, title=name, max_side=thumb_side, credit=True)))  # a real photograph
        if len(table):
            display(table.style.hide(axis="index").format(precision=2))
        else:
            display(Markdown("No disagreement."))
    display(caption("Under each real image, the properties its own description asked for, with what the extractor "
                    "read and their agreement. Some disagreements are the extractor's errors, some the text's "
                    "vagueness.",
                    label="Table"))

# %% [markdown]
# ## Scoring a folder of generated images
#
# Put the generated images in a folder, named by the records' `image_path`, and run:
#
# ```bash
# portraitcraft track2 evaluate --descriptions track_2_test.json \
#     --images generated/ --json track2.json
# portraitcraft track2 evaluate --descriptions track_2_test.json \
#     --images generated/ --extractor vlm --model /path/to/Qwen3-VL-4B-Instruct
# ```
#
# Missing or unreadable images are listed in the report, not fatal. From Python, `evaluate_folder` returns the same
# report. Below, it scores three Track 2 records of the book's dataset (of the split above where the data has it;
# records whose image the data holds first) against their own images.

# %% tags=["remove-input"]
scoring_records = json.loads(track2_file.read_text(encoding="utf-8")) if track2_file is not None else []
first = ([r for r in scoring_records if ds.image_file(r["image_path"]) is not None] or scoring_records)[:3]
if first:
    with tempfile.TemporaryDirectory() as folder:
        descriptions = Path(folder) / "descriptions.json"
        descriptions.write_text(json.dumps(first), encoding="utf-8")
        report = evaluate_folder(descriptions, root, extractor=extractor, model=model)
    assert len(report.scores) + len(report.missing) == len(first)
    display(HTML("<pre style='white-space:pre-wrap;font-size:0.85em'>"
                 f"{html.escape(report.to_text(max_listed=3))}</pre>"))
else:
    display(Markdown(f"{data_name} has no Track 2 records (`track_2_*.json`), so there is nothing to score in this "
                     "example."))
