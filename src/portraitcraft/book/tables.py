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

from portraitcraft.attributes import LEVELS
from portraitcraft.book.figures import LEVEL_COLOURS, value_with_interval

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
    at ``cut`` characters (longer ones made the table wider than the text column); the 13 entries of ``criteria``
    share one shape and are shown once (chapter 1)."""
    rows = []
    for name, value in record.items():
        if name == "criteria" and isinstance(value, dict) and value:
            first = next(iter(value.values()))
            shape = ", ".join(f"{k}: {type(v).__name__}" for k, v in first.items()) if isinstance(first, dict) else ""
            rows.append({"field": f"{prefix}criteria", "type": f"object of {len(value)} attributes",
                         "example": f"{{{shape}}} each"})
        elif isinstance(value, dict):
            rows.extend(record_fields(value, prefix=f"{prefix}{name}.", cut=cut))
        else:
            text = json.dumps(value, ensure_ascii=False)
            rows.append({"field": prefix + name, "type": type(value).__name__,
                         "example": text[:cut] + ("…" if len(text) > cut else "")})
    return rows


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


def table3_cell(row: pd.Series, metric: str) -> str:
    """One cell of Table 3 (a row of `portraitcraft.table3.table3`): the value with its interval below, "n/a" for
    QA where it is not available, "-" where undefined (chapter 4)."""
    not_available = metric == "qa_acc" and row["qa_available"] is False
    return value_with_interval(row[metric], row[f"{metric}_low"], row[f"{metric}_high"], digits=4,
                               missing="n/a" if not_available else "-")


def report_cell(report: Any, metric: str) -> str:
    """A metric of an `EvaluationReport` with its interval below, "n/a" where undefined (chapter 5)."""
    interval = report.ci.get(metric) if report.ci else None
    return value_with_interval(report.values[metric], *((interval.low, interval.high) if interval else ()),
                               missing="n/a")


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
    return f"background-color: {LEVEL_COLOURS[level]}; color: white" if level else ""


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
        label = f"{s.factor} = {value_label(s.value)}"
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
    return pd.DataFrame([{"property": p.key, "asked": BY_KEY[p.key].show(p.target),
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
    "SHORT_NAMES", "TABLE2_PAPER_COLUMNS", "breakable", "column_labels", "level_cell_colour", "missed_properties",
    "raw_text_block", "plain_value", "recipe_agreement", "record_fields", "report_cell", "series_strip", "short_name",
    "shortened", "side_by_side_html", "strip_columns", "table2_paper_style", "table3_cell", "utc_time",
]


def side_by_side_html(rows: Sequence[dict[str, str]]) -> str:
    """A recipe comparison (`finetune.recipes.recipe_rows`, `track2.recipes.recipe_rows`) as an HTML table that fits
    the text column: setting | reference (its value, the file and line under it) | ours | same or differs and why;
    fixed column widths, long words wrapped (chapters 9 and 10)."""
    widths = (17, 31, 24, 28)
    head = "".join(f"<th style='width:{w}%;text-align:left'>{name}</th>"
                   for w, name in zip(widths, ("setting", "reference (file:line)", "ours", "same / differs")))
    body = []
    for row in rows:
        verdict = row["same / differs"]
        colour = "" if verdict == "same" else " style='background:#fff4e0'"
        body.append(
            f"<tr><td>{html.escape(row['setting'])}</td>"
            f"<td>{html.escape(row['reference'])}<br><small><code>{html.escape(row['reference code'])}</code>"
            f"</small></td><td>{html.escape(row['ours'])}</td><td{colour}>{html.escape(verdict)}</td></tr>")
    return ("<table class='pc-recipes' style='table-layout:fixed;width:100%;overflow-wrap:break-word;"
            f"font-size:0.85em'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def recipe_agreement(rows: Sequence[dict[str, str]]) -> str:
    """How far two recipes agree, for a caption: "8 of 16 the same; seed, precision differ"."""
    differ = [row["setting"] for row in rows if row["same / differs"] != "same"]
    said = f"{len(rows) - len(differ)} of {len(rows)} the same"
    return f"{said}; {', '.join(differ)} differ" if differ else said
