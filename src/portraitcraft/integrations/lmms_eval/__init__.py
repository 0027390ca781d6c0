"""PortraitCraft Track 1 inside lmms-eval: task files for a dataset exported with ``portraitcraft export --to hf``.
From the shell:

.. code-block:: bash

    portraitcraft export data/lab exported --to hf
    portraitcraft lmms-tasks exported --out lmms-tasks
    python -m lmms_eval --include_path lmms-tasks --tasks portraitcraft_track1_validation --model huggingface \\
        --model_args pretrained=Qwen/Qwen3-VL-4B-Instruct --log_samples --output_path runs/lmms-eval
    portraitcraft evaluate -p runs/lmms-eval/<model>/<date>_samples_portraitcraft_track1_validation.jsonl \\
        -g lmms-tasks/validation_ground_truth.json

The settings every task shares live in the shipped ``portraitcraft_track1.yaml`` (the reference protocol's
decoding, the functions of `task`: the reference prompt, our parser, our scorer). lmms-eval reads a dataset from
the path its task YAML names, so `write_tasks` writes, for one export, a small YAML per split that includes the
shared file and names the export's absolute path:

``portraitcraft_track1_validation``
    The validation split (the book's seeded tenth of the labelled training images; the published test labels are
    hidden): SRCC, PLCC and Level Acc; no questions there, so QA Acc is NaN and Overall the mean of the other three,
    as ``portraitcraft evaluate`` reports it. Its labels are also written as ``validation_ground_truth.json``, for
    ``portraitcraft evaluate`` on the logged samples.
``portraitcraft_track1_test``
    The test split, for a submission: ``portraitcraft submission <samples.jsonl> --test-file track_1_test.json``.
    Where its labels are hidden (the published data, the lab's export) the metrics are NaN.

lmms-eval's logged samples (``--log_samples``) are a prediction file of their own format (`predictions`), read by
``evaluate``, ``submission`` and the book like the files of ``portraitcraft predict``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from portraitcraft.text import counted

TEMPLATE = Path(__file__).with_name("portraitcraft_track1.yaml")
VALIDATION_TASK = "portraitcraft_track1_validation"
TEST_TASK = "portraitcraft_track1_test"
GROUND_TRUTH_FILE = "validation_ground_truth.json"
_TASK_MODULE = "portraitcraft.integrations.lmms_eval.task"


@dataclass
class TaskFiles:
    """What `write_tasks` wrote: the folder to pass as ``--include_path``, each task's YAML and its documents."""

    folder: Path
    dataset: Path
    tasks: dict[str, Path] = field(default_factory=dict)
    documents: dict[str, int] = field(default_factory=dict)
    ground_truth: Path | None = None
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"wrote {path} ({counted(self.documents[name], 'image')})" for name, path in self.tasks.items()]
        if self.ground_truth is not None:
            out.append(f"wrote {self.ground_truth} (the labels of {VALIDATION_TASK}, for portraitcraft evaluate -g)")
        out += self.notes
        out.append(f"run: python -m lmms_eval --include_path {self.folder} --tasks {','.join(self.tasks)} ...")
        return out


def track1_folder(export: str | os.PathLike) -> Path:
    """The saved Track 1 DatasetDict in ``export``: ``export/track_1`` (what ``portraitcraft export`` writes) or
    ``export`` itself; ValueError naming the folder otherwise."""
    export = Path(export)
    for folder in (export / "track_1", export):
        if (folder / "dataset_dict.json").is_file():
            return folder.resolve()
    raise ValueError(f"{export}: no exported Track 1 dataset (no dataset_dict.json in it or in its track_1 "
                     "folder); write one with: portraitcraft export DATA OUT --to hf")


def _task_yaml(task: str, dataset: Path, split: str, *, process_docs: str | None = None) -> str:
    lines = [
        f"# {task}: written by `portraitcraft lmms-tasks` for the dataset below; the shared settings are in the",
        "# included file (shipped with portraitcraft).",
        f"include: {json.dumps(str(TEMPLATE))}",
        f"task: {task}",
        f"dataset_path: {json.dumps(str(dataset))}",
        f"test_split: {split}",
    ]
    if process_docs:
        lines.append(f"process_docs: !function {_TASK_MODULE}.{process_docs}")
    return "\n".join(lines) + "\n"


def write_tasks(export: str | os.PathLike, out: str | os.PathLike) -> TaskFiles:
    """Write the lmms-eval task YAMLs for the Track 1 dataset exported in ``export`` into the folder ``out`` (created),
    plus the validation task's labels as ``validation_ground_truth.json``. See the module docstring."""
    import datasets

    from portraitcraft.hf import track_of
    from portraitcraft.integrations.lmms_eval import task as functions
    from portraitcraft.outputs import write_atomic
    from portraitcraft.provenance import write_json

    folder = track1_folder(export)
    data = datasets.load_from_disk(str(folder))
    if not isinstance(data, datasets.DatasetDict) or track_of(data) != 1:
        raise ValueError(f"{folder}: not a Track 1 export of portraitcraft (expected its DatasetDict of Track 1 rows)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = TaskFiles(out.resolve(), folder)
    if "validation" in data:  # a validation split exported as such
        split = "validation"
        docs = data[split].select(functions.rows_with_images(data[split]))
        yaml = _task_yaml(VALIDATION_TASK, folder, split, process_docs="docs_with_images")
    elif "train" in data:
        split, docs = "train", data["train"].select(functions.validation_rows(data["train"]))
        yaml = _task_yaml(VALIDATION_TASK, folder, split, process_docs="validation_docs")
    else:
        docs = None
        written.notes.append(f"no train or validation split in {folder}: no {VALIDATION_TASK} task")
    if docs is not None:
        labels = [functions.label_of(doc) for doc in docs.remove_columns("image")]
        records = [{"image_path": label["image_path"], "total_score": label["total_score"],
                    "criteria": {name: {"level": level} for name, level in label["criteria"].items()}}
                   for label in labels if label is not None]
        written.tasks[VALIDATION_TASK] = write_atomic(out / f"{VALIDATION_TASK}.yaml", yaml)
        written.documents[VALIDATION_TASK] = len(docs)
        written.ground_truth = write_json(out / GROUND_TRUTH_FILE, records)
    if "test" in data:
        written.tasks[TEST_TASK] = write_atomic(out / f"{TEST_TASK}.yaml",
                                                _task_yaml(TEST_TASK, folder, "test", process_docs="docs_with_images"))
        written.documents[TEST_TASK] = len(functions.rows_with_images(data["test"]))
        if written.documents[TEST_TASK] < len(data["test"]):
            written.notes.append(f"{TEST_TASK}: {counted(len(data['test']) - written.documents[TEST_TASK], 'image')} "
                                 "missing from the root left out (the submission writes NOT_RES for them)")
        if all(data["test"]["labels_hidden"]):
            written.notes.append(f"{TEST_TASK}: the test labels are hidden, so its metrics are NaN; write the "
                                 "submission from its logged samples with portraitcraft submission")
    if not written.tasks:
        raise ValueError(f"{folder}: no train, validation or test split to write a task for")
    return written


__all__ = ["GROUND_TRUTH_FILE", "TEMPLATE", "TEST_TASK", "TaskFiles", "VALIDATION_TASK", "track1_folder",
           "write_tasks"]
