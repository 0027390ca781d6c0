"""PortraitCraft Book: the toolkit under the executable analysis book for the PortraitCraft benchmark.

The main entry points, importable from here::

    import portraitcraft as pc

    dataset = pc.open_dataset("data/lab")
    report = pc.evaluate("runs/features.jsonl", "data/lab/track_1_test_ground_truth.json")

Each name is imported from its home module on first use (`__getattr__`), so ``import portraitcraft`` stays
instant; importing them all at once would load pandas, scipy and scikit-learn (over a second).
"""

from __future__ import annotations

__version__ = "0.1.0"

# name -> its home module (the one place it is defined)
_EXPORTS = {
    "open_dataset": "portraitcraft.data",
    "Dataset": "portraitcraft.data",
    "DataError": "portraitcraft.data",
    "evaluate": "portraitcraft.evaluation",
    "read_predictions": "portraitcraft.predictions",
    "write_submission": "portraitcraft.predictions",
    "run_predictions": "portraitcraft.runners.base",
    "run_feature_baseline": "portraitcraft.baseline",
    "ImageFolder": "portraitcraft.assess",
    "assess_folder": "portraitcraft.assess",
    "assessment_rows": "portraitcraft.assess",
    "write_lab": "portraitcraft.lab",
}

# Written out (not built from _EXPORTS) so that linters and type checkers read it; a test keeps the two equal.
__all__ = [
    "__version__", "open_dataset", "Dataset", "DataError", "evaluate", "read_predictions", "write_submission",
    "run_predictions", "run_feature_baseline", "ImageFolder", "assess_folder", "assessment_rows", "write_lab",
]

# typing.TYPE_CHECKING without importing typing (20 ms here): type checkers read this block, Python never runs it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from portraitcraft.assess import ImageFolder, assess_folder, assessment_rows
    from portraitcraft.baseline import run_feature_baseline
    from portraitcraft.data import DataError, Dataset, open_dataset
    from portraitcraft.evaluation import evaluate
    from portraitcraft.lab import write_lab
    from portraitcraft.predictions import read_predictions, write_submission
    from portraitcraft.runners.base import run_predictions


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
