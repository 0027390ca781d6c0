"""Chapters 4 (Table 3) and 5 (errors) run with prediction files, without the browser: papermill executes the
jupytext sources as the book does, so the invariants the chapters assert (accuracies inside their intervals,
confusion rows summing to the images, a ranking that is ordered, parse failures within the records...) run on
real predictions, not only on ``predictions=[]`` as nbval runs them.

Two files on a small lab: the feature baseline trained and run on it (a real model's output), and the lab's own
test labels perturbed in known ways, with failed records, unparsed fields and level probabilities, so that every
section of chapter 5 (parse failures, calibration, two models compared) has something to show.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portraitcraft.attributes import ATTRIBUTE_NAMES, LEVELS, level_from_score
from portraitcraft.data import GROUND_TRUTH_FILE

pytest.importorskip("papermill")
pytest.importorskip("sklearn")

REPO = Path(__file__).resolve().parents[1]
RUN = {"backend": "test", "model": "perturbed-truth", "protocol": "score"}


@pytest.fixture(scope="module")
def prediction_files(small_lab, tmp_path_factory) -> list[Path]:
    from portraitcraft.baseline import run_feature_baseline
    from portraitcraft.predictions import PredictionWriter, failed_record, ok_record

    runs = tmp_path_factory.mktemp("runs")
    baseline = run_feature_baseline(small_lab, runs / "features.jsonl", max_side=96, grid="linear", seed=0)
    perturbed = runs / "perturbed.jsonl"
    truth = json.loads((small_lab / GROUND_TRUTH_FILE).read_text(encoding="utf-8"))
    with PredictionWriter(perturbed) as writer:
        for i, record in enumerate(truth):
            if i == len(truth) - 1:
                writer.write(failed_record(record["image_path"], "CUDA out of memory", run=RUN, seconds=2.0))
                continue
            levels = {name: level_from_score(record["criteria"][name]["score"]) for name in ATTRIBUTE_NAMES}
            failures = {}
            if i < 2:  # the parser refused a letter where a level belongs
                levels["Subject Integrity"] = None
                failures["Subject Integrity"] = "letter_as_level"
            levels["Sharpness"] = LEVELS[(LEVELS.index(levels["Sharpness"]) + i) % 3]  # shifted on most images
            parsed = {"total_score": record["total_score"] + 3 * i, "criteria": levels, "answer": record["answer"],
                      "failures": failures}
            probabilities = {"criteria": {name: {level: (0.8 if level == levels[name] else 0.1) for level in LEVELS}
                                          for name in ATTRIBUTE_NAMES if levels[name]}}
            writer.write(ok_record(record["image_path"], parsed, run=RUN, seconds=1.0, raw_text=f"model text {i}",
                                   probabilities=probabilities))
    return [baseline, perturbed]


def run_chapter(name: str, tmp_path: Path, **parameters):
    """Execute notebooks/<name>.py with papermill from the repository root; the executed notebook's outputs."""
    from portraitcraft.book import build

    page = next(p for p in build.notebook_pages(REPO) if p.name == name)
    executed = build.execute_page(page, REPO, parameters, progress=False, executed_dir=tmp_path / "executed")
    notebook = json.loads(executed.read_text(encoding="utf-8"))
    return [output for cell in notebook["cells"] if cell["cell_type"] == "code" for output in cell.get("outputs", [])]


def shown_text(outputs) -> str:
    parts = []
    for output in outputs:
        data = output.get("data", {})
        parts.append("".join(data.get("text/markdown", data.get("text/html", data.get("text/plain", "")))))
        parts.append("".join(output.get("text", "")))
    return "\n".join(parts)


def test_chapter_4_scores_each_prediction_file_on_the_labelled_test_split(small_lab, prediction_files, tmp_path):
    outputs = run_chapter("04_table3", tmp_path, data=str(small_lab), predictions=[str(p) for p in prediction_files],
                          n_bootstrap=20, runs=str(tmp_path / "runs"))
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = shown_text(outputs)
    assert "features" in text and "perturbed" in text  # a row for each file


def test_chapter_5_analyses_and_compares_two_prediction_files(small_lab, prediction_files, tmp_path):
    outputs = run_chapter("05_errors", tmp_path, data=str(small_lab), predictions=[str(p) for p in prediction_files],
                          n_bootstrap=20, hardest=2, max_side=64)
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = shown_text(outputs)
    assert "letter_as_level" in text  # the parse failures section read the perturbed file's refusals
    # the two models compared, each named as chapter 4 names it (its run: the baseline, the model and protocol)
    assert ("Feature baseline (CPU) minus perturbed-truth (score)" in text
            or "perturbed-truth (score) minus Feature baseline (CPU)" in text)
