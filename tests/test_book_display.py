"""How the book's pages show what the package computed (`portraitcraft.book.tables`, `figures`): times, cut text,
mixed values, the print version of a figure, and the paper's Avg. Attr. Length beside its stated rule."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from portraitcraft.book.tables import plain_value, recipe_agreement, shortened, utc_time
from portraitcraft.table2 import REPORTED_TABLE2, reported_attr_length_rule


def test_times_are_shown_in_utc_to_the_second():
    assert utc_time("2026-12-06T12:18:25.498619+00:00") == "2026-12-06 12:18:25"
    assert utc_time("2026-12-06T13:18:25+01:00") == "2026-12-06 12:18:25"  # another zone, turned to UTC
    assert utc_time("2026-12-06T12:18:25Z") == "2026-12-06 12:18:25"
    assert utc_time(None) == "-" and utc_time(float("nan")) == "-"
    assert utc_time("not a time") == "not a time"  # shown as it is rather than lost


def test_cut_text_ends_at_a_word_with_an_ellipsis():
    text = "the subject sits on the left third of the frame, with generous negative space to the right"
    cut = shortened(text, 40)
    assert len(cut) <= 40 and cut.endswith("…") and text.startswith(cut[:-1])
    assert cut[:-1] == text[:len(cut) - 1] and text[len(cut) - 1] == " "  # ends where a word ends
    assert shortened("short", 40) == "short"
    assert shortened("x" * 100, 40) == "x" * 39 + "…"  # no space to cut at: cut at the limit, still marked


def test_mixed_values_carry_their_own_digits():
    assert [plain_value(v) for v in (0.84, 9.0, 0.333333, "close-up", 3)] == ["0.84", "9", "0.33", "close-up", 3]


def test_the_papers_avg_attr_length_is_compared_with_its_mean_over_13():
    rule = reported_attr_length_rule().set_index("split")
    assert list(rule.index) == list(REPORTED_TABLE2["split"])
    # the paper's printed numbers: 2230.8 / 13 = 171.6 against 171.2 printed, 2236.4 / 13 = 172.0 against 171.9
    assert rule.loc["test", "mean_over_13"] == pytest.approx(171.6) and rule.loc["test", "avg_attr_length"] == 171.2
    assert rule.loc["overall", "mean_over_13"] == pytest.approx(172.0)
    assert not rule["follows"].any()
    fitting = REPORTED_TABLE2.assign(avg_attr_length=(REPORTED_TABLE2["mean"] / 13).round(1))
    assert reported_attr_length_rule(fitting)["follows"].all()


def test_the_print_version_is_a_pdf_to_download_not_a_second_figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from portraitcraft.book.figures import print_download

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    link = print_download(fig, "figure2a.pdf", "Figure 2(a)").data
    assert not plt.get_fignums()  # closed: the notebook does not draw it
    match = re.search(r'<a download="figure2a.pdf" href="data:application/pdf;base64,([^"]+)">', link)
    assert match and base64.b64decode(match.group(1)).startswith(b"%PDF")
    assert "Figure 2(a)" in link


def test_a_prediction_file_has_one_name_in_table3_and_in_the_error_analysis(make_lab, tmp_path):
    """Chapter 4 (Table 3) and chapter 5 (the error analysis) name a file alike: from its run, else its file name;
    two files of one run told apart by their folders in both."""
    from portraitcraft.attributes import ATTRIBUTE_NAMES, level_from_score
    from portraitcraft.data import GROUND_TRUTH_FILE, read_json_records
    from portraitcraft.error_analysis import analyse_predictions
    from portraitcraft.predictions import PredictionWriter, ok_record, prediction_labels
    from portraitcraft.sources import open_dataset
    from portraitcraft.table3 import reproduce_table3

    lab = make_lab(n_train=6, n_test=8, seed=5)
    truth = read_json_records(lab / GROUND_TRUTH_FILE)
    files = []
    for folder, run in (("first", {"model": "org/my-vlm-v1", "protocol": "generate"}),
                        ("second", {"model": "org/my-vlm-v1", "protocol": "generate"}), ("plain", {})):
        out = tmp_path / folder / "preds.jsonl"
        out.parent.mkdir()
        with PredictionWriter(out) as writer:
            for r in truth:
                levels = {n: level_from_score(r["criteria"][n]["score"]) for n in ATTRIBUTE_NAMES}
                writer.write(ok_record(r["image_path"], {"total_score": r["total_score"], "criteria": levels,
                                                         "answer": r["answer"]}, run=run))
        files.append(out)
    labels = prediction_labels(files)
    assert labels == ["my-vlm-v1 (generate) [first/preds.jsonl]", "my-vlm-v1 (generate) [second/preds.jsonl]",
                      "preds.jsonl"]
    ds = open_dataset(lab, reveal_ground_truth=True)
    table = reproduce_table3(ds, files, n_bootstrap=0).frame
    assert set(labels) <= set(table["method"])
    assert analyse_predictions(files[2], ds, n_bootstrap=0).name == "preds.jsonl"

    # A label given with the file (LABEL=PATH, as `book --predictions` takes it) names it in both.
    labelled = f"mine={files[2]}"
    assert prediction_labels([labelled, files[0]]) == ["mine", "my-vlm-v1 (generate)"]
    assert "mine" in set(reproduce_table3(ds, [labelled], n_bootstrap=0).frame["method"])
    assert analyse_predictions(labelled, ds, n_bootstrap=0).name == "mine"


def test_a_label_is_split_from_its_path_only_where_it_is_one(tmp_path):
    from portraitcraft.predictions import split_label

    assert split_label("mine=runs/a.jsonl") == ("mine", Path("runs/a.jsonl"))
    assert split_label("my vlm v1 = runs/a.jsonl") == ("my vlm v1", Path("runs/a.jsonl"))
    assert split_label("runs/a.jsonl") == (None, Path("runs/a.jsonl"))
    assert split_label("runs/x=1/a.jsonl") == (None, Path("runs/x=1/a.jsonl"))  # "=" in a folder: no label
    odd = tmp_path / "a=b.jsonl"
    odd.write_text("{}")
    assert split_label(odd) == (None, odd)  # a file of that very name is a file


def test_recipe_agreement_counts_the_same_settings_and_names_the_others():
    from portraitcraft.finetune.recipes import recipe_rows

    rows = recipe_rows()
    differing = [r["setting"] for r in rows if r["same / differs"].startswith("differs")]
    assert differing and len(differing) < len(rows)
    said = recipe_agreement(rows)
    assert said.startswith(f"{len(rows) - len(differing)} of {len(rows)} the same; ")
    assert said.endswith(f"{', '.join(differing)} differ")
    same_only = [r for r in rows if r["same / differs"] == "same"]
    assert recipe_agreement(same_only) == f"{len(same_only)} of {len(same_only)} the same"
