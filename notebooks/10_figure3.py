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
# # Figure 3: generated portraits beside their descriptions

# %% tags=["parameters", "remove-cell"]
from typing import Optional  # the parameters' types, for papermill --help-notebook

data: str = "data/lab"  # the book's dataset: its Track 2 descriptions (and original images, where present)
split: "Optional[str]" = None  # the Track 2 split shown (None: test where the data has it, else train)
limit: int = 4  # descriptions shown (those whose original image is in the data first)
generated: list = []  # folders written by `portraitcraft track2 generate --out`, one column each
labels: list = []  # a name for each generated folder (empty: the folder names)
lab_generator: bool = True  # also draw every description with the composition-lab generator
side: int = 512  # the lab generator's image side, pixels (the CPU extractor's rules were set at 512)
thumb_side: int = 200  # longest side of the thumbnails, pixels
bench: list = []  # files of scripts/gpu_bench_track2.py (empty: those kept in book/measurements/, if any)

# %% tags=["remove-cell"]
import html

from IPython.display import HTML, Markdown, display

from portraitcraft.book import banner, caption, shaded, thumbnail
from portraitcraft.book.paths import locate, repository_path, shown_path
from portraitcraft.book.tables import recipe_agreement, side_by_side_html
from portraitcraft.sources import open_dataset
from portraitcraft.track2.compare import (
    MEASUREMENT_PATTERN,
    ORIGINAL,
    agreement_frame,
    figure3_panels,
    generation_cost,
    generation_measurements,
    overall_frame,
)
from portraitcraft.track2.generate import REFERENCE_MODEL, GenerationSettings
from portraitcraft.track2.recipes import recipe_table as lora_recipe_table
from portraitcraft.track2.score import NOT_OFFICIAL

folders = [generated] if isinstance(generated, str) else generated
folders = [repository_path(f) for f in folders]
panels = figure3_panels(locate(data), split=split, limit=limit, generated=folders,
                        labels=labels or None, side=side, lab_generator=lab_generator)
columns = [picture.label for picture in panels[0].images] if panels else []

# %% tags=["remove-input"]
dataset = open_dataset(locate(data))
data_name = shown_path(dataset.root)  # as the page prints it: relative to the repository, or whole
banner(dataset, data=data)

# %% tags=["remove-input"]
if panels:
    overall = overall_frame(panels)
    shown = [c for c in columns if c in overall]
    display(shaded(overall.style.hide(axis="index").format("{:.2f}", subset=shown, na_rep="missing"),
                   cmap="Blues", subset=shown)
            .highlight_null(props="background-color: white; color: #555", subset=shown))
    display(caption(f"Overall agreement of each image with its description ({len(panels)} descriptions of {data_name}; "
                    f"images: {', '.join(columns) or 'none'}).", label="Table"))
else:
    display(Markdown(f"*{data_name} has no Track 2 descriptions: there is no figure to build.*"))

# %% tags=["remove-input"]
if panels:
    means = overall[shown].mean().dropna().sort_values(ascending=False)
    scored = overall[shown].notna().sum()
    if len(means) == 0:
        reading = "No image could be scored, so there is no agreement to compare."
    else:
        listed = "; ".join(f"**{c}** {means[c]:.2f} ({scored[c]} of {len(panels)} scored)" for c in means.index)
        reading = f"Mean agreement with the descriptions: {listed}."
        if len(means) > 1:
            first, gap = means.index[0], means.iloc[0] - means.iloc[-1]
            few = f", on only {len(panels)} descriptions" if len(panels) < 30 else ""
            reading += (f" The {first} images follow the descriptions best, by {gap:.2f} over the "
                        f"{means.index[-1]} ones{few}.")
    display(Markdown(reading))

# %% [markdown]
# **How to read it.** A row is one description, a column one image made from it (or its original photograph);
# a cell is that image's overall agreement with the description, 0 to 1: the weighted mean over the properties the
# description asks for and the extractor could read. The original photograph is scored like the generated images:
# where it falls short, the scorer, not the photograph, is the likelier culprit.

# %% tags=["remove-input"]
display(HTML(f'<div class="admonition important"><p class="admonition-title">Not the official scorer</p>'
             f"<p>{html.escape(NOT_OFFICIAL)}</p></div>"))

# %% [markdown]
# The paper's Figure 3 shows, for a few Track 2 test descriptions, the original photograph beside the images of
# the base Qwen-Image and of the LoRA fine-tuned one. This page builds the same figure and reads every image with
# the open Track 2 scorer of the previous chapter, **property by property**, so that a reader sees *which* requested
# properties each generator misses, not only an overall score.
#
# By default the images come from the **composition-lab generator**, an interpretable baseline that parses the
# description and draws the scene it asks for with the lab's renderer (`portraitcraft.track2.lab_generator`).
# Images of a real generator join it as columns: run `portraitcraft track2 generate` and pass its output folders as
# the `generated` parameter. The scorer is **not** the benchmark's official one.

# %% tags=["remove-cell"]
assert all([p.label for p in panel.images] == columns for panel in panels)
assert all(0 <= s.agreement <= 1 for panel in panels for p in panel.images if p.score for s in p.score.properties)

# %% [markdown]
# ## The figure
#
# For every description: the text (unfold it to read), the images, and one row per property the description asks
# for, with what the extractor read from each image and the agreement (1 full, 0.5 one step off, 0 missed; '-' not
# scored: the extractor could not read it confidently, or, for the aspect ratio, never: it is read and shown, not
# counted). The agreement is weighed by the extractor's own probabilities: a reading that matches what was asked but
# with little confidence earns little.

# %% tags=["remove-input"]
for panel in panels:
    # The original of a real description is a real photograph: named by its file, with its credit.
    real = {ORIGINAL} if not dataset.is_lab else set()
    pictures = "".join(thumbnail(p.image, title=f"{p.label}, {panel.image_path}" if p.label in real else p.label,
                                 max_side=thumb_side, credit=p.label in real) if p.image is not None else
                       f"<figure style='width:{thumb_side}px'><figcaption>{html.escape(p.label)}: "
                       f"{html.escape(p.missing or '')}</figcaption></figure>" for p in panel.images)
    table = agreement_frame(panel)
    agreement_columns = [c for c in table.columns if c.endswith(": agreement")]
    styled = (shaded(table.style.hide(axis="index").format("{:.2f}", subset=agreement_columns, na_rep="-"),
                     cmap="RdYlGn", subset=agreement_columns)
              .highlight_null(props="background-color: white; color: #555", subset=agreement_columns))
    display(HTML(f"<h4>{html.escape(panel.image_path)}</h4>"
                 f"<details><summary>the description ({len(panel.content) + len(panel.analysis):,} characters)"
                 f"</summary><p><b>Content.</b> {html.escape(panel.content)}</p>"
                 f"<p><b>Composition.</b> {html.escape(panel.analysis)}</p></details>"
                 f"<div style='display:flex;gap:8px;flex-wrap:wrap'>{pictures}</div>"
                 f"<div style='font-size:0.8em'>{styled.to_html()}</div>"))
if panels:
    display(caption("Rebuilt from the data: each description's original photograph (where the data has it) and "
                    "generated images, and under them the agreement of each requested property with each image, "
                    "coloured from red (0, missed) through yellow (0.5, one step off) to green (1, as asked).",
                    label="Figure 3"))

# %% [markdown]
# ## Making the images of a real generator
#
# The reference code's generation settings are the defaults of `portraitcraft track2 generate` (Qwen-Image, 1024 x
# 1024, 20 steps, true classifier-free guidance 5 with the negative prompt `" "` (one space), seed 346346; only the
# JPEG quality differs, see the table below); a LoRA from `portraitcraft track2 finetune` adds the `"AES_COMP, "`
# trigger to every prompt:
#
# ```bash
# portraitcraft track2 generate --descriptions track_2_test.json \
#     --out runs/qwen-image
# # LoRA rank 64, 12,000 steps (--recipe reference: the reference code's)
# portraitcraft track2 finetune --data PortraitCraft/ --out runs/lora
# portraitcraft track2 generate --descriptions track_2_test.json \
#     --lora runs/lora --out runs/qwen-image-lora
# portraitcraft book --only 10_figure3 \
#     -p 'generated=[runs/qwen-image, runs/qwen-image-lora]' \
#     -p 'labels=[Qwen-Image, Qwen-Image + LoRA]'
# ```

# %% tags=["remove-input"]
reference = GenerationSettings()
display(Markdown(f"The generation defaults: {REFERENCE_MODEL} at {reference.width} x {reference.height} px, "
                 f"{reference.steps} steps, true CFG {reference.true_cfg_scale:g}, negative prompt "
                 f"`{reference.negative_prompt!r}`, seed {reference.seed}."))

# %% [markdown]
# ## The LoRA fine-tuning: the reference code's recipe and ours
#
# `portraitcraft track2 finetune --recipe reference` is the public reference code (github yytang25/qwen-vl-ft,
# under `qwen-image-finetune/`) setting by setting; `--recipe ours`, the default, fits one GPU. Every row is read
# from the settings objects (`LoraSettings.of_recipe`, `GenerationSettings`) by `portraitcraft.track2.recipes`,
# with the file and line each reference value comes from.

# %% tags=["remove-input"]
lora_recipes = lora_recipe_table().to_dict("records")
display(HTML(side_by_side_html(lora_recipes)))
display(caption(
    f"The reference recipe and ours, setting by setting: {recipe_agreement(lora_recipes)}. The reference keeps the "
    "LoRA weights and their AdamW state in bf16, as its code does: a bf16 weight moves only when the update is at "
    "least about 2⁻⁹ of its size.", label="Table"))

# %% [markdown]
# ## What generation costs
#
# What `scripts/gpu_bench_track2.py` measures on a GPU, with random weights at Qwen-Image's published dimensions:
# seconds per 1024-pixel image at the reference code's generation settings, and per LoRA training step of our
# recipe (batch 1 x 4 accumulation at 1024 pixels; the reference recipe's 16 images per step take about 4 times as
# long).

# %% tags=["remove-input"]
measured = generation_measurements([repository_path(b) for b in bench], repository_path("book/measurements"))
cost = generation_cost(measured)
if cost is None:
    looked = (", ".join(f"`{b}`" for b in bench) + " (the `bench` parameter) does not exist" if bench else
              f"`book/measurements/` keeps no `{MEASUREMENT_PATTERN}`: Qwen-Image's generation and LoRA training "
              "have not been measured on a GPU for this book")
    display(Markdown(
        f"**No measurement to show.** {looked}, so this section gives no seconds and no memory figure; none is "
        "estimated. To measure, on a machine with a CUDA GPU (the script builds Qwen-Image at full size, in bf16), "
        "from the repository root:\n\n"
        "```bash\npython scripts/gpu_bench_track2.py \\\n    --out book/measurements/gpu_bench_track2-GPU-DATE.json\n"
        "portraitcraft book --only 10_figure3\n```\n\n"
        "The page then shows every such file in `book/measurements/`, with the GPU and the date of each; "
        "`-p 'bench=[FILE]'` shows another file instead."))
else:
    display(cost.style.hide(axis="index").format(precision=2, na_rep="-"))
    display(caption("Generation and LoRA training cost on the GPU named in each row, measured on the date given, "
                    "from the file named (random weights, Qwen-Image's dimensions).", label="Table"))
