"""The functions lmms-eval calls for the PortraitCraft Track 1 task (named by ``!function`` in its YAML).

One document is one row of the Track 1 table that ``portraitcraft export --to hf`` writes (`portraitcraft.hf`):

``doc_to_visual``
    The image, resized as the reference inference resizes it (`images.resize_like_reference`: longer side at most
    2048 pixels); the model class's processor does the rest, as the reference's processor does.
``doc_to_text``
    `prompts.generate_prompt`: the reference prompt, byte for byte, criteria hidden as ``level=x``.
``process_results``
    The model's text read by `parsing.parse_model_output` into a prediction record of the project's JSON Lines
    schema (`predictions.ok_record`, raw text kept), paired with the document's labels; lmms-eval logs the pair
    with ``--log_samples``, and `predictions.read_predictions` reads that log as a prediction file.
``aggregate_<metric>``
    `evaluation.evaluate` on the records and labels of every document: SRCC, PLCC, Level Acc, QA Acc and Overall
    exactly as ``portraitcraft evaluate`` computes them (invalid fields counted wrong or imputed, never guessed).
    Documents whose labels are hidden (the published test split) are not scored; with none labelled, every metric
    is NaN and the log says how to write the submission instead.
``validation_docs``, ``docs_with_images``
    The validation split (`labels.validation_mask`: the book's seeded tenth of the fully labelled training images)
    taken from the exported train split; a split's rows that have an image (an image missing from the root cannot
    be shown to a model).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from portraitcraft.attributes import ANSWER_LETTERS, ATTRIBUTE_KEYS, ATTRIBUTE_NAMES, LEVELS
from portraitcraft.images import resize_like_reference
from portraitcraft.labels import GroundTruth, validation_mask
from portraitcraft.parsing import parse_model_output
from portraitcraft.predictions import JSONL, ok_record
from portraitcraft.prompts import GENERATE, REFERENCE_MAX_SIDE, generate_prompt, prompt_hash

# The metrics the task reports, in the leaderboard's order (`evaluation.LEADERBOARD`).
METRICS = ("srcc", "plcc", "level_acc", "qa_acc", "overall")
# The run block of every record the task writes (the model is named in lmms-eval's own results file).
RUN = {"backend": "lmms-eval", "protocol": GENERATE, "prompt_hash": prompt_hash(GENERATE)}
LEVEL_COLUMNS = tuple(f"{key}_level" for key in ATTRIBUTE_KEYS)


def options_of(doc: Mapping[str, Any]) -> dict[str, str]:
    """The document's answer options, A-D in order, without the letters it does not have."""
    return {letter: text for letter, text in (doc.get("options") or {}).items() if text is not None}


def doc_to_visual(doc: Mapping[str, Any]) -> list[Any]:
    image = doc.get("image")
    if image is None:
        raise ValueError(f"{doc.get('image_path')}: no image in the exported dataset (missing from the root)")
    return [resize_like_reference(image.convert("RGB"), REFERENCE_MAX_SIDE)]


def doc_to_text(doc: Mapping[str, Any], lmms_eval_specific_kwargs: Mapping[str, Any] | None = None) -> str:
    return generate_prompt(doc.get("question"), options_of(doc))


def label_of(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The document's labels as words (None where the test labels are hidden or a label is missing)."""
    codes = [doc.get(column) for column in LEVEL_COLUMNS]
    total = doc.get("total_score")
    if doc.get("labels_hidden") or total is None or any(c is None or c < 0 for c in codes):
        return None
    answer = doc.get("answer")
    return {"image_path": doc["image_path"], "total_score": float(total),
            "criteria": {name: LEVELS[code] for name, code in zip(ATTRIBUTE_NAMES, codes)},
            "answer": ANSWER_LETTERS[answer] if isinstance(answer, int) and answer >= 0 else None}


def process_results(doc: Mapping[str, Any], results: Sequence[Any]) -> dict[str, dict[str, Any]]:
    text = results[0] if results else ""
    parsed = parse_model_output(text if isinstance(text, str) else str(text), options_of(doc))
    item = {"prediction": ok_record(doc["image_path"], parsed, run=RUN), "label": label_of(doc)}
    return dict.fromkeys(METRICS, item)


def ground_truth(labels: Sequence[Mapping[str, Any]], path: str = "lmms-eval documents") -> GroundTruth:
    """GroundTruth of labelled documents (`label_of`); QA only when every one of them has an answer."""
    answers = [label["answer"] for label in labels]
    has_answers = bool(labels) and all(a is not None for a in answers)
    levels = np.array([[LEVELS.index(label["criteria"][name]) for name in ATTRIBUTE_NAMES] for label in labels],
                      dtype=int).reshape(-1, len(ATTRIBUTE_NAMES))
    return GroundTruth(Path(path), [label["image_path"] for label in labels],
                       np.array([label["total_score"] for label in labels], dtype=float), levels,
                       answers if has_answers else None, ("words",))


def scores(items: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """The five metrics of the task's items, through `evaluation.evaluate` (no bootstrap)."""
    from portraitcraft.evaluation import evaluate
    from portraitcraft.predictions import prediction_set

    labelled = [item["label"] for item in items if item.get("label") is not None]
    if not labelled:
        warnings.warn("PortraitCraft: no document has labels (the test split's are hidden): the metrics are NaN. "
                       "Write the official submission from the logged samples: portraitcraft submission "
                       "<..._samples_<task>.jsonl> --test-file <root>/track_1_test.json --out submission.json",
                      stacklevel=2)
        return dict.fromkeys(METRICS, math.nan)
    predictions = prediction_set([item["prediction"] for item in items], "lmms-eval results", JSONL)
    report = evaluate(predictions, ground_truth(labelled), n_bootstrap=0)
    return {metric: float(report.values[metric]) for metric in METRICS}


def aggregate_srcc(items: Sequence[Mapping[str, Any]]) -> float:
    return scores(items)["srcc"]


def aggregate_plcc(items: Sequence[Mapping[str, Any]]) -> float:
    return scores(items)["plcc"]


def aggregate_level_acc(items: Sequence[Mapping[str, Any]]) -> float:
    return scores(items)["level_acc"]


def aggregate_qa_acc(items: Sequence[Mapping[str, Any]]) -> float:
    return scores(items)["qa_acc"]


def aggregate_overall(items: Sequence[Mapping[str, Any]]) -> float:
    return scores(items)["overall"]


def validation_rows(dataset: Any) -> list[int]:
    """Row numbers of an exported train split that form the validation split, in row order: `labels.validation_mask`
    over its fully labelled rows sorted by image path (the images `labels.validation_split` holds out of the
    same root), less the rows without an image (an image missing from the root cannot be shown to a model)."""
    columns = dataset.select_columns(["image_path", "labels_hidden", "total_score", *LEVEL_COLUMNS]).to_dict()
    labelled = [i for i in range(len(dataset))
                if not columns["labels_hidden"][i] and columns["total_score"][i] is not None
                and all(columns[c][i] is not None and columns[c][i] >= 0 for c in LEVEL_COLUMNS)]
    if len(labelled) < 2:
        raise ValueError(f"{len(labelled)} fully labelled training image(s); a validation split needs two")
    labelled.sort(key=lambda i: columns["image_path"][i])
    held_out = [row for row, keep in zip(labelled, validation_mask(len(labelled))) if keep]
    return sorted(set(held_out) & set(rows_with_images(dataset)))


def rows_with_images(dataset: Any) -> list[int]:
    """Row numbers of an exported split whose image is present (one missing from the root is a null image)."""
    missing = dataset.with_format("arrow")["image"].is_null().to_pylist()
    return [row for row, absent in enumerate(missing) if not absent]


def docs_with_images(dataset: Any) -> Any:
    """lmms-eval's ``process_docs`` for a whole split: its rows with an image (a submission written from the logged
    samples gives the others NOT_RES)."""
    return dataset.select(rows_with_images(dataset))


def validation_docs(dataset: Any) -> Any:
    """lmms-eval's ``process_docs`` for the validation task: the validation rows of the train split."""
    return dataset.select(validation_rows(dataset))
