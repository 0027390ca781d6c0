"""Tables and HTML pieces the chapters show: each chapter's own presentation of what the package computed, kept
here so that the chapters stay free of function definitions.

The numbers are computed elsewhere (`portraitcraft.table2`, `table3`, `error_analysis`, `series_readings`,
`track2`); these functions only format them for a page.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from portraitcraft.attributes import ATTRIBUTE_NAMES, LEVELS
from portraitcraft.book.figures import LEVEL_COLOURS, filled_cell_css, share_digits, value_with_interval

# Shorter names of the two longest attributes, for axis labels and table rows.
SHORT_NAMES: dict[str, str] = {
    "Application of Classical Composition Principles": "Classical Composition",
    "Appropriateness of Negative Space": "Negative Space",
}
# Table 2's columns as the paper prints them.
TABLE2_PAPER_COLUMNS: dict[str, str] = {
    "samples": "Samples", "mean": "Mean", "std": "Std", "median": "Median", "range": "Range",
    "avg_attr_length": "Avg. Attr. Length",
}


def record_fields(record: dict, prefix: str = "", *, cut: int = 50) -> list[dict[str, str]]:
    """The fields of a JSON record (nested objects as dotted names), each with its type and an example value cut
    at a word's end within ``cut`` characters (longer ones made the table wider than the text column); the 13
    entries of ``criteria`` share one shape and are shown once (chapter 1).

    A record of the published test file carries placeholders where its labels are hidden (level "x", total_score
    0, answer "x"): those fields say that the value is hidden, and which placeholder stands in for it, rather than
    show the placeholder as if it were an example value."""
    from portraitcraft.attributes import HIDDEN_ANSWER, HIDDEN_LEVEL, labels_hidden

    hidden = not prefix and labels_hidden(record)
    rows = []
    for name, value in record.items():
        if name == "criteria" and isinstance(value, dict) and value:
            first = next(iter(value.values()))
            shape = ", ".join(f"{k}: {type(v).__name__}" for k, v in first.items()) if isinstance(first, dict) else ""
            example = (f'hidden: level "{HIDDEN_LEVEL}" for every attribute' if hidden else f"{{{shape}}} each")
            rows.append({"field": f"{prefix}criteria", "type": f"object of {len(value)} attributes",
                         "example": example})
        elif isinstance(value, dict):
            rows.extend(record_fields(value, prefix=f"{prefix}{name}.", cut=cut))
        elif hidden and (name == "total_score" or (name == "answer" and value == HIDDEN_ANSWER)):
            rows.append({"field": prefix + name, "type": type(value).__name__,
                         "example": f"hidden: {json.dumps(value)} as placeholder"})
        else:
            rows.append({"field": prefix + name, "type": type(value).__name__,
                         "example": shortened(json.dumps(value, ensure_ascii=False), cut)})  # at a word's end
    return rows


def problem_rows(problems: Sequence[Any], *, first: int = 10) -> tuple[pd.DataFrame, int]:
    """Findings of reading a dataset (`portraitcraft.data.Problem`) as table rows: severity (only when the findings
    differ in it; the sentence above the table counts errors and warnings), file, record (its position in the file,
    counted from 0), image, problem; at most ``first`` of them when there are more than ``first`` + 2 (a table of
    ten says as much as one of a thousand). Returns the rows and how many were left out, for the sentence under the
    table (chapter 1)."""
    shown = list(problems) if len(problems) <= first + 2 else list(problems)[:first]
    rows = pd.DataFrame([{"severity": p.severity, "file": p.file or "-",
                          "record": "-" if p.record is None else str(p.record), "image": p.image_path or "-",
                          "problem": p.message} for p in shown],
                        columns=["severity", "file", "record", "image", "problem"])
    if len({p.severity for p in problems}) <= 1:
        rows = rows.drop(columns="severity")
    return rows, len(problems) - len(shown)


def code_spans_html(text: str) -> str:
    """Plain text with Markdown code spans (a command's help: "`--to hf` writes ...") as HTML for a table cell: the
    text escaped, each `span` in <code>, so no backtick is left showing."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))


def run_rows(runs: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The ``run`` blocks of a prediction file as a table a reader reads down (appendix): one row per setting, one
    column per run. A nested block (``held_out``, ``packages``) gives one row per entry ("held out: images"),
    not a Python dict in a cell; numbers keep the digits they carry (`plain_value`), ISO times read as UTC times
    (`utc_time`), a model's path as pages print paths (`portraitcraft.book.paths.shown_path`)."""
    from portraitcraft.book.paths import shown_path

    def shown(name: str, value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return str(plain_value(value))
        text = str(value)
        if re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?", text):
            return utc_time(text) + " UTC"
        if name == "model" and "/" in text:  # a saved model's folder, with its digest after "#"
            folder, _, digest = text.partition("#")
            return shown_path(folder) + (f"#{digest}" if digest else "")
        return text

    columns: dict[str, dict[str, str]] = {}
    for number, run in enumerate(runs, start=1):
        rows: dict[str, str] = {}
        for name, value in run.items():
            label = name.replace("_", " ")
            if name == "held_out" and isinstance(value, dict) and isinstance(value.get("training"), dict):
                # the training data the model learnt from: one row, not a Python dict in a cell
                learnt = value["training"]
                rows["learnt from"] = (f"{learnt.get('images')} labelled training records "
                                       f"(names digest {learnt.get('sha256')})")
                value = {key: inner for key, inner in value.items() if key != "training"}
            if name == "held_out" and isinstance(value, dict) and value.get("images") == 0:
                # nothing held out: the digest of no names and an unset fraction and seed say nothing more
                rows[label] = "none (trained on every labelled training record)"
            elif isinstance(value, dict):
                for key, inner in value.items():
                    rows[f"{label}: {str(key).replace('_', ' ')}"] = shown(str(key), inner)
            elif isinstance(value, (list, tuple)):
                rows[label] = ", ".join(shown(name, v) for v in value) or "-"
            else:
                rows[label] = shown(name, value)
        columns[f"run {number}"] = rows
    return pd.DataFrame(columns).fillna("-")


def utc_time(stamp: object, missing: str = "-") -> str:
    """An ISO 8601 time (papermill's, a record's) as a reader reads it: date and time to the second, in UTC
    ("2026-12-06 12:18:25"; the column or caption says UTC); ``missing`` where there is none."""
    from datetime import datetime, timezone

    if stamp is None or (isinstance(stamp, float) and stamp != stamp) or not str(stamp).strip():
        return missing
    try:
        moment = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return str(stamp)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def table2_paper_style(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of a Table 2 frame (`portraitcraft.table2.table2`'s, or the paper's `REPORTED_TABLE2`) in the paper's
    columns: Range as min-max, lengths to one decimal, samples with a thousands separator (chapter 3)."""
    shown = frame.assign(
        range=[f"{lo:.0f}-{hi:.0f}" if pd.notna(lo) else "-" for lo, hi in zip(frame["min"], frame["max"])],
        samples=[f"{int(n):,}" for n in frame["samples"]])
    return shown[["split", *TABLE2_PAPER_COLUMNS]].rename(columns={"split": "Split", **TABLE2_PAPER_COLUMNS}).round(1)


# The most decimals a Track 1 metric is shown with: a correlation or an accuracy over 1,000 images is uncertain in
# its second decimal already; a fourth says nothing.
MAX_METRIC_DIGITS = 3


def metric_digits(metric: str, images: int) -> int:
    """Decimals a Track 1 metric over ``images`` images carries (`share_digits`), at most `MAX_METRIC_DIGITS`: Level
    Acc those of a share of its levels (13 an image: 1 image, 0.08; 100 images, 0.634), QA Acc, SRCC, PLCC and
    Overall those of a share of the images (100 images: 0.69)."""
    counted = len(ATTRIBUTE_NAMES) * images if metric == "level_acc" else images
    return min(MAX_METRIC_DIGITS, share_digits(counted))


def table3_cell(row: pd.Series, metric: str) -> str:
    """One cell of Table 3 (a row of `portraitcraft.table3.table3`): the value to the decimals its count of images
    carries (`metric_digits`) with its interval below (none under
    `portraitcraft.evaluation.MIN_INTERVAL_IMAGES`), "n/a" for QA where it is not available, "-" where undefined
    (chapter 4)."""
    not_available = metric == "qa_acc" and row["qa_available"] is False
    images = None if pd.isna(row["n_images"]) else int(row["n_images"])
    return value_with_interval(row[metric], row[f"{metric}_low"], row[f"{metric}_high"],
                               digits=metric_digits(metric, images or 1), images=images,
                               missing="n/a" if not_available else "-")


def report_cell(report: Any, metric: str) -> str:
    """A metric of an `EvaluationReport` as `table3_cell` shows it: to the decimals its images carry, its interval
    below (none under `portraitcraft.evaluation.MIN_INTERVAL_IMAGES`), "n/a" where undefined (chapter 5)."""
    interval = report.ci.get(metric) if report.ci else None
    images = len(report.truth)
    return value_with_interval(report.values[metric], *((interval.low, interval.high) if interval else ()),
                               digits=metric_digits(metric, max(images, 1)), images=images, missing="n/a")


def breakable(name: str) -> str:
    """A name as HTML that may break after ``_``, ``.``, ``-`` and ``/`` (a file name as a table cell or header:
    without spaces it would widen the table past the text column)."""
    import re

    return re.sub(r"([_./-])", r"\1<wbr>", html.escape(name))


def column_labels(names: list[str], *, width: int = 24, stem: str = "file") -> tuple[list[str], str]:
    """Column headers for named sources: each name as it is when it fits ``width`` characters, else "file 1",
    "file 2" ...; and the legend for a caption ("file 1 = long_name.json"), empty when every name fits. A long
    name without spaces cannot wrap, and would widen the table past the text column."""
    labels, legend = [], []
    for number, name in enumerate(names, start=1):
        if len(name) <= width:
            labels.append(name)
        else:
            labels.append(f"{stem} {number}")
            legend.append(f"{stem} {number} = {name}")
    return labels, "; ".join(legend)


def raw_text_block(text: str | None, limit: int = 1500) -> str:
    """A model's raw answer as a folded HTML block, cut at ``limit`` characters (chapter 5)."""
    if not text:
        return "<p><i>No raw text recorded (only the project's JSON Lines keep it).</i></p>"
    shown = text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more characters)"
    return ("<details><summary>the model's raw text</summary><pre style='white-space:pre-wrap;font-size:0.8em'>"
            f"{html.escape(shown)}</pre></details>")


def short_name(name: str) -> str:
    """An attribute's name, the two longest shortened (`SHORT_NAMES`)."""
    return SHORT_NAMES.get(name, name)


def level_cell_colour(text: object) -> str:
    """CSS for a table cell that names a level: the level's colour (chapter 6)."""
    level = next((lv for lv in LEVELS if isinstance(text, str) and lv in text), None)
    return filled_cell_css(LEVEL_COLOURS[level]) if level else ""


SERIES_CSS = (
    "<style>.pc-series{display:grid;gap:10px;margin:0.5em 0}.pc-series figure{margin:0;text-align:center;"
    "font-size:0.85em}.pc-series img{width:100%;height:auto;cursor:zoom-in;display:block}"
    ".pc-series .pc-close{display:none}.pc-series figure:target .pc-close{display:block;position:fixed;inset:0;"
    "background:rgba(0,0,0,0.85);z-index:1000;cursor:zoom-out}.pc-series figure:target img{position:fixed;top:50%;"
    "left:50%;transform:translate(-50%,-50%);width:auto;max-width:96vw;max-height:92vh;z-index:1001;"
    "pointer-events:none}</style>"
)


def strip_columns(n: int, widest: int = 3) -> int:
    """Columns for a strip of ``n`` pictures: as many as fit (at most ``widest``) such that no picture sits alone
    on the last row (4 -> 2, 5 -> 3, 7 -> 4)."""
    for columns in (*range(min(widest, n), 1, -1), widest + 1):  # 7 pictures: 4 + 3
        if n % columns != 1:
            return columns
    return max(1, min(widest, n))


def series_strip(members: Sequence[Any], judged_rows: pd.DataFrame | None, *, columns: int | None = None,
                 image_side: int = 768) -> str:
    """The pictures of one lab series in a grid (HTML; chapter 6): two or three to a row so each is large enough to
    show its factor at a 1280 px wide window, never one picture alone on a row; each marked where its factor's
    change is small (`portraitcraft.lab.series.marked_image`, for steps with lab factors; a photograph's steps are
    shown as they are) and labelled with its factor value and overall score
    (and the feature baseline's where ``judged_rows``, indexed by step, has it). A click opens a picture at full
    size over the page; a second click closes it."""
    from PIL import Image

    from portraitcraft.lab.series import marked_image
    from portraitcraft.series_readings import value_label

    columns = columns or strip_columns(len(members))
    cells = []
    for s in members:
        label = f"{s.factor.replace('_', ' ')} = {value_label(s.value)}"  # in words, as the section's heading
        notes = [f"truth {s.total_score}"] if hasattr(s, "total_score") else []
        if judged_rows is not None:
            notes.append(f"baseline {judged_rows.loc[s.step, 'predicted_total']:.0f}")
        note = ", ".join(notes)
        if hasattr(s, "factors"):
            image = marked_image(s)
        else:
            with Image.open(s.image) as opened:
                image = opened.convert("RGB")
        image.thumbnail((image_side, image_side))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85)
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        anchor = "pc-" + re.sub(r"[^a-z0-9]+", "-", Path(s.image).stem.lower())  # unique per picture on a page
        cells.append(f"<figure id='{anchor}'><a href='#{anchor}'><img src='data:image/jpeg;base64,{data}' "
                     f"alt='{html.escape(label)}'/></a><a class='pc-close' href='#_' aria-label='close'></a>"
                     f"<figcaption>{html.escape(label)}<br/>{note}</figcaption></figure>")
    return (SERIES_CSS + f"<div class='pc-series' style='grid-template-columns:repeat({columns},1fr)'>"
            + "".join(cells) + "</div>")


def missed_properties(parsed: Any, readings: Any) -> pd.DataFrame:
    """The Track 2 properties an image was judged to miss (agreement below 1): what the text asked and said, what
    the image showed, and the agreement (chapter 8). Values as `Property.show` writes them (degrees, percentages)."""
    from portraitcraft.track2.properties import BY_KEY
    from portraitcraft.track2.score import score_image

    missed = [p for p in score_image(parsed, readings).properties if p.agreement < 1]
    return pd.DataFrame([{"property": BY_KEY[p.key].label, "asked": BY_KEY[p.key].show(p.target),
                          "the text said": shortened(p.text_evidence), "read": BY_KEY[p.key].show(p.reading),
                          "the image showed": shortened(p.image_evidence), "agreement": p.agreement}
                         for p in missed])


def shortened(text: str, limit: int = 70) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, with "…" where something was cut."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    if " " in cut[limit // 2:]:
        cut = cut[:cut.rindex(" ")]
    return cut.rstrip(" ,;:") + "…"


def plain_value(value: object) -> object:
    """A value for a mixed table column (words, counts, fractions) as a reader writes it: floats with the digits they
    carry, at most two decimals ("0.84", "9"); anything else unchanged."""
    if isinstance(value, float):
        return f"{round(value, 2):g}"
    return value


__all__ = [
    "MAX_METRIC_DIGITS", "SHORT_NAMES", "TABLE2_PAPER_COLUMNS", "breakable",
    "column_labels", "file_line_html", "level_cell_colour", "metric_digits", "missed_properties", "plain_value",
    "problem_rows", "raw_text_block", "recipe_agreement", "record_fields",
    "report_cell", "run_rows", "series_strip", "short_name", "shortened", "side_by_side_html", "strip_columns",
    "table2_paper_style", "table3_cell", "utc_time",
]


def file_line_html(text: str) -> str:
    """File:line references (``qwenvl/data/data_processor.py:285-291 (all annotations)``) as HTML that a narrow
    column wraps at spaces and after a ``/`` only: each piece between them is kept whole (a browser would otherwise
    break after the ``-`` of a line range or inside a long file name)."""
    words = []
    for word in text.split(" "):
        pieces = [f"<span style='white-space:nowrap'>{html.escape(piece)}</span>"
                  for piece in re.split(r"(?<=/)", word) if piece]
        words.append("<wbr>".join(pieces))
    return " ".join(words)


def side_by_side_html(rows: Sequence[dict[str, str]]) -> str:
    """A recipe comparison (`finetune.recipes.recipe_rows`, `track2.recipes.recipe_rows`) as an HTML table that fits
    the text column: setting | reference (its value, the file and line under it) | ours | same or differs and why;
    fixed column widths, words wrapped at spaces (chapters 9 and 10). A file:line reference such as
    ``qwenvl/data/data_processor.py:285-291`` breaks only after a ``/`` (or at a space), never inside a file name
    or a line number (nor our value, such as ``--protocol generate``, after its dashes): the reference column is
    the widest, so that its longest piece fits at 800 px and up."""
    widths = (15, 36, 22, 27)
    head = "".join(f"<th style='width:{w}%;text-align:left'>{name}</th>"
                   for w, name in zip(widths, ("setting", "reference (file:line)", "ours", "same / differs")))
    body = []
    for row in rows:
        verdict = row["same / differs"]
        colour = "" if verdict == "same" else " style='background:#fff4e0'"
        where = file_line_html(row["reference code"])
        body.append(
            f"<tr><td>{html.escape(row['setting'])}</td>"
            f"<td>{html.escape(row['reference'])}<br><small><code class='pc-file-line'>{where}</code></small></td>"
            f"<td>{file_line_html(row['ours'])}</td><td{colour}>{html.escape(verdict)}</td></tr>")
    return ("<table class='pc-recipes' style='table-layout:fixed;width:100%;overflow-wrap:break-word;"
            f"font-size:0.85em'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def recipe_agreement(rows: Sequence[dict[str, str]]) -> str:
    """How far two recipes agree, for a caption: "8 of 16 the same; seed, precision differ"."""
    differ = [row["setting"] for row in rows if row["same / differs"] != "same"]
    said = f"{len(rows) - len(differ)} of {len(rows)} the same"
    return f"{said}; {', '.join(differ)} differ" if differ else said
