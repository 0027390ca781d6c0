"""PortraitCraft inside lmms-eval: the task files, the logged samples read as predictions, and one real run of
``python -m lmms_eval`` with lmms-eval's own Qwen3-VL model class on a tiny random Qwen3-VL, offline."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from portraitcraft.attributes import ATTRIBUTE_KEYS, ATTRIBUTE_NAMES, LEVELS
from portraitcraft.evaluation import dropped_view, evaluate
from portraitcraft.integrations.lmms_eval import TEMPLATE, TEST_TASK, VALIDATION_TASK, write_tasks
from portraitcraft.integrations.lmms_eval import task as functions
from portraitcraft.labels import load_ground_truth, validation_split
from portraitcraft.predictions import LMMS_EVAL, PredictionFileError, read_predictions
from portraitcraft.prompts import generate_prompt
from portraitcraft.sources import open_dataset

datasets = pytest.importorskip("datasets")

# The reference inference's decoding, each with its place in github.com/yytang25/qwen-vl-ft (commit c122cdc),
# qwen-vl-finetune/evaluation/evaluation_multi.py.
REFERENCE_DECODING = {
    "max_new_tokens": (512, "evaluation_multi.py:28 MAX_NEW_TOKENS = 512"),
    "do_sample": (True, "evaluation_multi.py:92 do_sample=True"),
    "temperature": (0.2, "evaluation_multi.py:93 temperature=0.2"),
    "top_p": (0.9, "evaluation_multi.py:94 top_p=0.9"),
}
# The reference's messages: one user turn, the image then the prompt, no system turn (evaluation_multi.py:72-78),
# through the processor of Qwen3-VL-4B-Instruct (line 17) with its own pixel budget (preprocessor_config.json:
# "size": {"shortest_edge": 65536, "longest_edge": 16777216}), after capping the longer side at 2048 (line 71).
REFERENCE_MIN_PIXELS, REFERENCE_MAX_PIXELS = 65536, 16777216
# What the README tells lmms-eval's qwen3_vl class; the test runs exactly these (with a local model and the CPU).
README_MODEL_ARGS = f"max_pixels={REFERENCE_MAX_PIXELS},min_pixels={REFERENCE_MIN_PIXELS},system_prompt="
REPO = Path(__file__).resolve().parents[1]


class _Functions(yaml.SafeLoader):
    """Reads lmms-eval's ``!function`` tags as the names they hold."""


_Functions.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")


@pytest.fixture(scope="module")
def lab(make_lab):
    return make_lab(n_train=20, n_test=3, seed=5)


@pytest.fixture(scope="module")
def exported(lab, tmp_path_factory):
    from portraitcraft.hf import save

    out = tmp_path_factory.mktemp("exported")
    save(open_dataset(lab), out, tracks=(1,))
    return out


@pytest.fixture(scope="module")
def tasks(exported, tmp_path_factory):
    return write_tasks(exported, tmp_path_factory.mktemp("lmms-tasks"))


def test_the_task_decodes_as_the_reference_does():
    shared = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=_Functions)
    decoding = shared["generation_kwargs"]
    for name, (value, where) in REFERENCE_DECODING.items():
        assert decoding[name] == value, where
    assert decoding["until"] == []  # lmms-eval's default stop (a blank line) would cut JSON that holds one
    assert {m["metric"] for m in shared["metric_list"]} == set(functions.METRICS)
    assert "task" not in shared and "dataset_path" not in shared  # never indexed as a task of its own


def test_the_readme_runs_what_this_file_tests():
    section = (REPO / "README.md").read_text(encoding="utf-8").split("### Use it from lmms-eval\n", 1)[1]
    commands = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    assert "--model qwen3_vl \\\n    --model_args pretrained=" in commands and README_MODEL_ARGS in commands
    for step in ("portraitcraft export data/lab exported --to hf", "portraitcraft lmms-tasks exported --out lmms-tasks",
                 f"--include_path lmms-tasks --tasks {VALIDATION_TASK},{TEST_TASK}", "--log_samples",
                 "-g data/lab --split validation", "portraitcraft submission"):
        assert step in commands, step


def test_written_tasks_name_the_export_and_the_books_validation_split(lab, exported, tasks):
    assert set(tasks.tasks) == {VALIDATION_TASK, TEST_TASK}
    validation = yaml.load(tasks.tasks[VALIDATION_TASK].read_text(encoding="utf-8"), Loader=_Functions)
    assert validation["include"] == str(TEMPLATE) and validation["task"] == VALIDATION_TASK
    assert Path(validation["dataset_path"]) == (exported / "track_1").resolve()
    assert validation["test_split"] == "train"
    assert validation["process_docs"] == "!function portraitcraft.integrations.lmms_eval.task.validation_docs"
    test = yaml.load(tasks.tasks[TEST_TASK].read_text(encoding="utf-8"), Loader=_Functions)
    assert test["test_split"] == "test" and test["process_docs"].endswith("task.docs_with_images")
    # the same images and labels as the book's validation split of the original root
    book_truth, _ = validation_split(open_dataset(lab))
    written = load_ground_truth(tasks.ground_truth)
    assert written.image_paths == sorted(book_truth.image_paths) and tasks.documents[VALIDATION_TASK] == 2
    order = [book_truth.image_paths.index(name) for name in written.image_paths]
    assert (written.levels == book_truth.levels[order]).all()
    assert (written.total_score == book_truth.total_score[order]).all()
    assert any("labels are hidden" in note for note in tasks.notes)  # the lab's test split


def test_an_export_with_its_validation_split_is_read_as_such(lab, tmp_path):
    from portraitcraft.hf import save
    from portraitcraft.labels import validation_images

    dataset = open_dataset(lab)
    save(dataset, tmp_path / "exported", tracks=(1,), validation=validation_images(dataset))
    written = write_tasks(tmp_path / "exported", tmp_path / "tasks")
    task = yaml.load(written.tasks[VALIDATION_TASK].read_text(encoding="utf-8"), Loader=_Functions)
    assert task["test_split"] == "validation" and task["process_docs"].endswith("task.docs_with_images")
    assert load_ground_truth(written.ground_truth).image_paths == validation_images(dataset)


def test_a_folder_that_is_not_an_export_is_refused(tmp_path, lab):
    with pytest.raises(ValueError, match="no exported Track 1 dataset"):
        write_tasks(lab, tmp_path / "tasks")
    result = subprocess.run([sys.executable, "-m", "portraitcraft", "lmms-tasks", str(lab), "--out",
                             str(tmp_path / "tasks")], capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "portraitcraft export DATA OUT --to hf" in result.stderr


def test_doc_to_text_is_the_reference_prompt_of_the_record(lab, exported):
    rows = datasets.load_from_disk(str(exported / "track_1"))["test"].remove_columns("image")
    records = published_test_records(lab)
    assert [doc["image_path"] for doc in rows] == list(records)
    for doc in rows:
        record = records[doc["image_path"]]
        assert functions.doc_to_text(doc) == generate_prompt(record["question"], record["options"])


def published_test_records(lab: Path) -> dict[str, dict]:
    """The published test file's records by image (question and options as the reference reads them)."""
    return {rec["image_path"]: rec for rec in json.loads((lab / "track_1_test.json").read_text(encoding="utf-8"))}


@pytest.mark.real_sample
def test_tasks_on_the_real_sample(real_sample, tmp_path):
    from portraitcraft.hf import save

    dataset = open_dataset(real_sample)
    save(dataset, tmp_path / "exported", tracks=(1,))
    written = write_tasks(tmp_path / "exported", tmp_path / "tasks")
    book_truth, _ = validation_split(dataset)
    validation = load_ground_truth(written.ground_truth).image_paths
    assert validation and set(validation) <= set(book_truth.image_paths)
    assert {dataset.image_file(name) is not None for name in validation} == {True}
    records = published_test_records(real_sample)
    rows = datasets.load_from_disk(str(tmp_path / "exported" / "track_1"))["test"].remove_columns("image")
    for doc in rows:
        record = records[doc["image_path"]]
        assert functions.doc_to_text(doc) == generate_prompt(record["question"], record["options"])


def lmms_items(lab, exported, texts):
    """The task's items for the test split (labels revealed from the lab's ground truth file), one model text each."""
    truth = load_ground_truth(lab)
    rows = list(datasets.load_from_disk(str(exported / "track_1"))["test"].remove_columns("image"))
    items = []
    for doc, text in zip(rows, texts):
        i = truth.image_paths.index(doc["image_path"])
        labelled = dict(doc, labels_hidden=False, total_score=float(truth.total_score[i]),
                        answer="ABCD".index(truth.answers[i]),
                        **{f"{key}_level": int(code) for key, code in zip(ATTRIBUTE_KEYS, truth.levels[i])})
        items.append(functions.process_results(labelled, [text])["overall"])
    return items


def test_aggregation_is_portraitcraft_evaluate_and_counts_invalid_fields(lab, exported, tmp_path):
    """The task's aggregation against `evaluate` on the same items written as a file of logged samples: texts that
    hold valid, invalid and missing fields (written here: the scorer's path, not a model's behaviour)."""
    answer = '{{"total_score": {score}, "criteria": {{{criteria}}}, "answer": "{answer}"}}'
    criteria = ", ".join(f'"{name}": "{LEVELS[k % 3]}"' for k, name in enumerate(ATTRIBUTE_NAMES))
    texts = [answer.format(score=71, criteria=criteria, answer="B"),
             answer.format(score='"not a number"', criteria=criteria.replace("Good", "Great"), answer="C"),
             "Overall 40. " + answer.format(score=40, criteria="", answer="E")]
    items = lmms_items(lab, exported, texts)
    values = functions.scores(items)
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"doc_id": i, "target": item["prediction"]["image_path"],
                                           "filtered_resps": text, **dict.fromkeys(functions.METRICS, item)}) + "\n"
                               for i, (item, text) in enumerate(zip(items, texts))), encoding="utf-8")
    predictions = read_predictions(samples)
    assert predictions.format == LMMS_EVAL and len(predictions) == 3
    report = evaluate(predictions, load_ground_truth(lab), n_bootstrap=0)
    for metric in functions.METRICS:
        assert values[metric] == pytest.approx(report.values[metric], abs=1e-9), metric
    assert 0 < values["level_acc"] < 1 and math.isfinite(values["srcc"])
    coverage = report.scored.coverage
    assert coverage["srcc"]["valid"] == 2 and coverage["level_acc"]["valid"] == 13 + 9 + 0
    assert coverage["qa_acc"]["valid"] == 2
    assert dropped_view(report) is not None  # the raw answers are kept, as in a file of portraitcraft predict


def test_samples_of_another_task_are_refused(tmp_path):
    other = tmp_path / "mme_samples.jsonl"
    other.write_text(json.dumps({"doc_id": 0, "target": "Yes", "filtered_resps": "Yes", "mme_score": 1}) + "\n",
                     encoding="utf-8")
    with pytest.raises(PredictionFileError, match=r"line 1: an lmms-eval sample without a PortraitCraft prediction"):
        read_predictions(other)


def test_the_hidden_test_split_scores_nothing_and_says_how_to_submit(exported):
    rows = list(datasets.load_from_disk(str(exported / "track_1"))["test"].remove_columns("image"))
    items = [functions.process_results(doc, ["{}"])["srcc"] for doc in rows]
    with pytest.warns(UserWarning, match="portraitcraft submission"):
        values = functions.scores(items)
    assert all(math.isnan(v) for v in values.values())


# --- one real lmms-eval run --------------------------------------------------------------------------------------

def received_prompts(log: str) -> list[str]:
    """The chat text lmms-eval's qwen3_vl class passed to the processor, as its own DEBUG log line shows it
    (``Question: <text>``, followed by ``Model Response:``; lmms-eval 0.7.3's format)."""
    log = re.sub(r"\x1b\[[0-9;]*m", "", log)
    return re.findall(r" - Question: (.*?)\n[^\n]*? \| DEBUG +\| [^\n]* - Model Response: ", log, re.S)


@pytest.mark.slow
def test_lmms_eval_runs_the_task_and_portraitcraft_reads_its_samples(lab, tasks, tiny_model, tmp_path):
    pytest.importorskip("lmms_eval", reason="lmms-eval is not installed: pip install -e '.[lmms]'")
    out = tmp_path / "runs"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, "-m", "lmms_eval", "--model", "qwen3_vl",
               "--model_args", f"pretrained={tiny_model},device=cpu,device_map=cpu,{README_MODEL_ARGS}",
               "--include_path", str(tasks.folder), "--tasks", f"{VALIDATION_TASK},{TEST_TASK}",
               "--limit", "2", "--log_samples", "--output_path", str(out), "--verbosity", "DEBUG"]
    run = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    # The prompt the model really received: our reference prompt, byte for byte, after the image, in the user turn;
    # before it the system turn lmms-eval's qwen3_vl class always adds (empty with system_prompt=; the reference
    # sends none: the one difference from the reference protocol this class cannot drop).
    prompts = received_prompts(run.stdout + run.stderr)
    records = published_test_records(lab)
    expected = set()
    for record in records.values():
        user = generate_prompt(record["question"], record["options"])
        expected.add(f"<|im_start|>system\n<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>"
                     f"{user}<|im_end|>\n<|im_start|>assistant\n")
    validation_prompt = ("<|im_start|>system\n<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>"
                         f"{generate_prompt(None, None)}<|im_end|>\n<|im_start|>assistant\n")
    assert len(prompts) == 4 and prompts.count(validation_prompt) == 2  # --limit 2: two images of each split
    assert all(p in expected for p in prompts if p != validation_prompt)

    # lmms-eval's own aggregate against portraitcraft evaluate on the samples it logged
    (results_file,) = out.glob("*/*_results.json")
    results = json.loads(results_file.read_text(encoding="utf-8"))["results"][VALIDATION_TASK]
    (samples,) = out.glob(f"*/*_samples_{VALIDATION_TASK}.jsonl")
    report = subprocess.run([sys.executable, "-m", "portraitcraft", "evaluate", "-p", str(samples),
                             "-g", str(lab), "--split", "validation", "--bootstrap", "0", "--json", "-"],
                            capture_output=True, text=True, env=env, check=False)
    assert report.returncode == 0, report.stderr
    ours = json.loads(report.stdout)
    assert ours["predictions"]["format"] == LMMS_EVAL and ours["n_images"] == tasks.documents[VALIDATION_TASK]
    for metric in functions.METRICS:
        theirs, value = results[f"{metric},none"], ours[metric]
        if value is None:  # NaN in our JSON: lmms-eval's aggregate is NaN too
            assert theirs is None or math.isnan(theirs), metric
        else:
            assert theirs == pytest.approx(value, abs=1e-9), metric
    assert "Level Acc" in report.stderr and "SRCC" in report.stderr
    # the labels lmms-tasks wrote beside the tasks score the same
    again = evaluate(samples, tasks.ground_truth, n_bootstrap=0).values
    for metric in functions.METRICS:
        assert math.isnan(again[metric]) if ours[metric] is None else again[metric] == pytest.approx(ours[metric])

    # the test split's samples make the official submission
    (test_samples,) = out.glob(f"*/*_samples_{TEST_TASK}.jsonl")
    submission = subprocess.run([sys.executable, "-m", "portraitcraft", "submission", str(test_samples),
                                 "--test-file", str(lab / "track_1_test.json"), "--out", str(tmp_path / "sub.json")],
                                capture_output=True, text=True, env=env, check=False)
    assert submission.returncode == 0, submission.stderr
    written = json.loads((tmp_path / "sub.json").read_text(encoding="utf-8"))
    assert [r["image_path"] for r in written] == list(records)
