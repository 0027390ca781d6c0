"""PortraitCraft Book: the toolkit under the executable analysis book for the PortraitCraft benchmark.

The main entry points, importable from here::

    import portraitcraft as pc

    dataset = pc.open_dataset("data/lab")
    report = pc.evaluate("runs/features.jsonl", "data/lab/track_1_test_ground_truth.json")

Each name is imported from its home module on first use (`__getattr__`), so ``import portraitcraft`` stays
instant; importing them all at once would load pandas, scipy and scikit-learn (over a second).

The package is built in floors; a module imports only from its own floor or the floors below it, never upward,
and the import graph, lazy imports included, has no circle (``tests/test_layout.py`` checks both).

Lower floor: the benchmark's vocabulary and files
    ``exceptions`` (`PortraitCraftError`, the base of every exception the package raises on purpose, and the
    extra to install for a missing optional package); ``attributes`` (the 13 attributes, levels, the hidden-label
    rule), ``images``, ``text`` (counts, durations); ``data`` (reading and checking a PortraitCraft root:
    `Dataset`, findings and their severity), ``hf`` (the same data as Hugging Face ``datasets``); ``parsing``,
    ``prompts``, ``metrics``;
    ``outputs`` (writing safely: atomic, never over an input, one writer at a time); ``provenance`` (package
    versions, fingerprints, git commit, strict JSON written through ``outputs``); ``predictions``
    (the four prediction formats); ``labels`` (the ground truth: loading it, hidden labels, labelled images, the
    validation split); ``opencv`` (one OpenCV distribution with what the features call, checked before use);
    ``progress`` (progress bars drawn only on a terminal).
Middle floor: doing the work
    ``sources`` (`open_dataset`, the one way in for data: a folder, the lab built on first use, a hub id, a
    DatasetDict), ``cache`` (what the package keeps in its cache, its size, cleaning it), ``evaluation`` (the Track
    1 scorer), ``lab`` (the synthetic composition lab), ``features`` and ``baseline`` (the CPU baseline),
    ``runners`` (Qwen3-VL in process or behind a server), ``backends`` (a model backend by name: features,
    transformers, openai), ``finetune`` (Table 3's fine-tuned row), ``track2`` (Track 2: composition alignment,
    generation), ``assess`` (scoring a folder of photos).
Upper floor: what the book's chapters compute, one module per result
    ``figure2``, ``table2``, ``table3`` and ``paper`` (all of them as files: ``portraitcraft report``);
    ``label_free`` (test predictions read without labels: chapter 4); ``error_analysis`` and ``calibration``
    (chapter 5); ``series_readings`` (chapter 6: the one-factor series as tables, the baseline's judgment of them,
    the same series on a photograph); ``measurements`` (timings, GPU measurements and the reproducibility record:
    chapters 7 and 9).
Top floor: the ways in
    ``book`` (display helpers, ``book.paths`` for the chapters' inputs, ``book.build`` for the HTML), ``cli``, and
    ``integrations`` (Track 1 as a task of other harnesses: ``integrations.lmms_eval``).

Track 1's modules stay at the top of the package rather than in a ``track1`` package beside ``track2``: they are
the benchmark's common ground (``data`` reads the Track 2 files too, ``runners`` serve Track 2's model-based
extractor, ``predictions``, ``labels`` and ``evaluation`` are what most of the package stands on), so a
``track1`` package would hold nearly everything and rename the modules every user imports, without changing
what imports what. Track 2 adds its own description reader, image measurements and scorer, which live in
``track2``.
"""

from __future__ import annotations

__version__ = "0.1.0"


# name -> its home module (the one place it is defined)
_EXPORTS = {
    "CITATION": "portraitcraft.provenance",
    "open_dataset": "portraitcraft.sources",
    "check_dataset": "portraitcraft.sources",
    "Dataset": "portraitcraft.data",
    "DataError": "portraitcraft.data",
    "PortraitCraftError": "portraitcraft.exceptions",
    "evaluate": "portraitcraft.evaluation",
    "read_predictions": "portraitcraft.predictions",
    "write_submission": "portraitcraft.predictions",
    "run_predictions": "portraitcraft.runners.base",
    "run_feature_baseline": "portraitcraft.baseline",
    "ImageFolder": "portraitcraft.assess",
    "assess_folder": "portraitcraft.assess",
    "assessment_rows": "portraitcraft.assess",
    "write_report": "portraitcraft.paper",
    "write_lab": "portraitcraft.lab",
}

# Written out (not built from _EXPORTS) so that linters and type checkers read it; a test keeps the two equal.
__all__ = [
    "__version__", "CITATION", "open_dataset", "check_dataset", "Dataset", "DataError", "evaluate", "read_predictions",
    "write_submission", "run_predictions", "run_feature_baseline", "ImageFolder", "assess_folder", "assessment_rows",
    "write_report", "write_lab", "PortraitCraftError",
]

# typing.TYPE_CHECKING without importing typing (20 ms here): type checkers read this block, Python never runs it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from portraitcraft.assess import ImageFolder, assess_folder, assessment_rows
    from portraitcraft.baseline import run_feature_baseline
    from portraitcraft.data import DataError, Dataset
    from portraitcraft.evaluation import evaluate
    from portraitcraft.exceptions import PortraitCraftError
    from portraitcraft.lab import write_lab
    from portraitcraft.paper import write_report
    from portraitcraft.predictions import read_predictions, write_submission
    from portraitcraft.runners.base import run_predictions
    from portraitcraft.sources import check_dataset, open_dataset


def __getattr__(name: str) -> object:
    home = _EXPORTS.get(name)
    if home is None:
        raise AttributeError(f"module 'portraitcraft' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS} - {"TYPE_CHECKING"})
