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


def test_durations_take_the_unit_their_size_calls_for():
    from portraitcraft.text import duration

    assert [duration(s) for s in (0.29, 4.24, 38.4, 90, 597, 7200)] == ["0.29 s", "4.2 s", "38 s", "1.5 min",
                                                                       "10 min", "2.0 h"]
    assert duration(1 / 3.4) == "0.29 s"  # one image at 3.4 images/s: not "0.0 min"
    assert duration(float("nan")) == "-"


def test_a_file_line_reference_breaks_only_at_a_space_or_after_a_slash():
    import html as html_module

    from portraitcraft.book.tables import file_line_html, side_by_side_html
    from portraitcraft.finetune.recipes import recipe_rows

    text = "qwenvl/data/data_processor.py:285-291 (all annotations); scripts/sft_qwen3_4b.sh:39 (--bf16)"
    shown = file_line_html(text)
    assert html_module.unescape(re.sub(r"<[^>]+>", "", shown)) == text  # the same characters, copied as they are
    # every piece between break opportunities (a space, a <wbr>) is kept whole, and only a "/" ends a piece
    pieces = re.findall(r"<span style='white-space:nowrap'>([^<]*)</span>", shown)
    assert "".join(pieces) == text.replace(" ", "")
    assert all("/" not in piece[:-1] for piece in pieces)
    assert "data_processor.py:285-291" in pieces and "sft_qwen3_4b.sh:39" in pieces
    assert shown.count("<wbr>") == text.count("/")
    table = side_by_side_html(recipe_rows())
    assert table.count("class='pc-file-line'") == len(recipe_rows())


def test_a_hidden_label_is_said_to_be_hidden_not_shown_as_an_example():
    from portraitcraft.book.tables import record_fields

    hidden = {"image_path": "a.jpg", "criteria": {"Sharpness": {"level": "x"}, "Color Harmony": {"level": "x"}},
              "total_score": 0, "question": "Which?", "options": {"A": "one"}, "answer": "x"}
    rows = {row["field"]: row["example"] for row in record_fields(hidden)}
    assert rows["criteria"] == 'hidden: level "x" for every attribute'
    assert rows["total_score"] == "hidden: 0 as placeholder" and rows["answer"] == 'hidden: "x" as placeholder'
    assert rows["image_path"] == '"a.jpg"' and rows["options.A"] == '"one"'  # what is published is shown
    labelled = {**hidden, "criteria": {"Sharpness": {"score": 7.5, "reason": "crisp"}}, "total_score": 66,
                "answer": "B"}
    rows = {row["field"]: row["example"] for row in record_fields(labelled)}
    assert rows["criteria"] == "{score: float, reason: str} each" and rows["total_score"] == "66"
    assert rows["answer"] == '"B"'


def test_reading_findings_are_listed_whole_or_the_first_ten_and_how_many_more():
    from portraitcraft.book.tables import problem_rows
    from portraitcraft.data import Problem

    found = [Problem("track_2_train.json", i, f"p{i}.jpg", "image missing") for i in range(12)]
    rows, left_out = problem_rows(found)
    assert len(rows) == 12 and left_out == 0  # a dozen: every one
    assert list(rows.columns) == ["file", "record", "image", "problem"]  # all errors: no severity column
    assert rows.iloc[11].tolist() == ["track_2_train.json", "11", "p11.jpg", "image missing"]
    rows, left_out = problem_rows([*found, Problem("track_1_test.json", None, None, "no such file", "warning")])
    assert len(rows) == 10 and left_out == 3  # past a dozen: the first ten, and the count of the others
    assert list(rows.columns) == ["severity", "file", "record", "image", "problem"]  # errors and a warning
    rows, left_out = problem_rows([Problem("a.json", None, None, "unreadable")])
    assert rows.iloc[0].tolist() == ["a.json", "-", "-", "unreadable"] and left_out == 0


def test_a_run_block_reads_as_rows_of_settings_not_dicts():
    from portraitcraft.book.tables import run_rows

    run = {"backend": "features", "grid": "linear", "held_out": {"images": 30, "fraction": 0.1, "seed": 0},
           "packages": {"torch": "2.14.1", "numpy": "2.4.6"}, "train_seconds": 12.3456789,
           "started": "2026-12-06T14:57:51.123456+00:00", "model": None}
    table = run_rows([run, {"backend": "features"}])
    assert list(table.columns) == ["run 1", "run 2"]
    shown = table["run 1"].to_dict()
    assert shown["held out: images"] == "30" and shown["held out: fraction"] == "0.1"
    assert shown["packages: torch"] == "2.14.1" and shown["train seconds"] == "12.35"
    assert shown["started"] == "2026-12-06 14:57:51 UTC" and shown["model"] == "-"
    assert table.loc["grid", "run 2"] == "-"  # a setting one run does not record
    assert not any("{" in value for value in table.to_numpy().ravel())
    nothing_held_out = run_rows([{"held_out": {"images": 0, "sha256": "e3b0c44298fc1c14", "fraction": None,
                                               "seed": None}}])
    assert nothing_held_out["run 1"].to_dict() == {"held out": "none (trained on every labelled training record)"}
    learnt = run_rows([{"held_out": {"images": 0, "sha256": "e3b0c44298fc1c14", "fraction": None, "seed": None,
                                     "training": {"images": 300, "sha256": "104caf189b8f373c"}}}])
    assert learnt["run 1"].to_dict() == {"learnt from": "300 labelled training records (names digest 104caf189b8f373c)",
                                         "held out": "none (trained on every labelled training record)"}


def test_a_help_paragraph_shows_its_code_spans_as_code_not_backticks():
    from portraitcraft.book.tables import code_spans_html

    assert code_spans_html("`--to hf` writes a <DatasetDict> & more (`a`)") == (
        "<code>--to hf</code> writes a &lt;DatasetDict&gt; &amp; more (<code>a</code>)")
