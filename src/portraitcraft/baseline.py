"""The CPU composition-feature baseline for Track 1: scikit-learn models on `portraitcraft.features`.

For example::

    from portraitcraft import run_feature_baseline
    from portraitcraft.baseline import FeatureBackend, find_baseline_model

    # predicts the test split with the model `make baseline` saved (training
    # one there first where there is none)
    path = run_feature_baseline("data/lab", "runs/features.jsonl",
                                "data/lab/runs/feature-baseline.model")
    # the lab's saved model, for the run loop
    backend = FeatureBackend(find_baseline_model())

What it predicts
----------------
total_score
    a regressor (ridge or random forest, chosen by 5-fold cross-validated Spearman correlation).
levels
    one classifier per attribute (logistic regression or random forest, chosen by cross-validated
    accuracy) predicting Poor / Medium / Good; its ``predict_proba`` is written as the probabilities.
answer
    the question rule below, from the predicted level of the attribute the question asks about.

The question rule (``QUESTION_RULE``)
-------------------------------------
Each option text is read for cue words from a small lexicon of general English (`GOOD_CUES`, `POOR_CUES`,
`MEDIUM_CUES`); a good or poor cue preceded within three words by a negator (`NEGATORS`: "no blur",
"without clashing", "not crisp") counts for the opposite side. An option's evidence for each level is its
number of cues for that level (mixed good-and-poor cues also count as evidence for Medium); cues in the
verdict clause (after the last "so", "which", "leaving"... of `VERDICT_OPENERS`) count `VERDICT_WEIGHT` times.
Its *fit* to the predicted level is that level's evidence minus the strongest other level's. The option with
the highest fit is the answer when no other option has the same fit. Otherwise (no option with a cue word,
or a tie at the top) the rule answers null and says why in ``raw_text``: the image is counted wrong, never
guessed.
The lexicon is generic photographic English; it is not keyed to the lab's sentence templates.

Saved models
------------
``model_dir/model.skops`` holds the fitted estimators in skops' format, which is read without unpickling: loading
admits only scikit-learn's and NumPy's own types plus the few listed in `TRUSTED_TYPES`, and refuses a file that
holds anything else, so a planted model folder cannot run code. ``model_dir/manifest.json`` holds the feature
names, feature-code version, scikit-learn version, chosen parameters, cross-validation scores and the model file's
SHA-256 (which catches an accidental change, not a deliberate one). Loading checks the feature list and versions
against the running code. A folder saved by an older version (``model.joblib``, a pickle) is refused, never loaded.
`find_baseline_model` is the one answer to "where is the saved model?".

Predicting
----------
`FeatureBackend` is a saved model as a backend of the package's run loop (`runners.base.run_predictions`), and
`predict_feature_baseline` is "train when no model is saved, then the run loop with it", so the baseline's
predictions have the loop's guarantees (resumable, locked, one record per image, failures recorded). The loop
hands it batches of `BATCH_SIZE` images: their features are measured in ``n_jobs`` processes (``--jobs``) and the
saved models run once per batch. The ``features`` backend of `backends` (``predict --backend features``,
``assess``) is the same class.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
import sklearn
from scipy.stats import spearmanr
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import make_scorer
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from portraitcraft.attributes import ATTRIBUTE_KEYS, ATTRIBUTE_NAMES, LEVELS
from portraitcraft.data import QUESTION_ATTRIBUTE, DataError
from portraitcraft.exceptions import PortraitCraftError
from portraitcraft.features import (
    DEFAULT_MAX_SIDE,
    FEATURE_NAMES,
    FEATURE_VERSION,
    FeatureError,
    compute_features_of_images,
    extract_features,
)
from portraitcraft.labels import (
    VALIDATION_FRACTION,
    VALIDATION_SEED,
    VALIDATION_SPLIT,
    held_out_record,
    labelled_images,
    split_image_paths,
    training_names,
    validation_leak,
)
from portraitcraft.outputs import write_atomic
from portraitcraft.predictions import PredictionFileError, read_predictions
from portraitcraft.provenance import file_sha256, write_json
from portraitcraft.runners.base import Item, ModelLoadError, Outcome, RunSummary, run_predictions
from portraitcraft.sources import open_dataset

if TYPE_CHECKING:
    from PIL import Image

MODEL_FILE: Final[str] = "model.skops"
PICKLED_MODEL_FILE: Final[str] = "model.joblib"  # older versions' pickle: refused, never loaded
MANIFEST_FILE: Final[str] = "manifest.json"
MANIFEST_SCHEMA: Final[str] = "portraitcraft.feature_baseline/2"
# Types skops does not trust by default that the saved estimators hold (a forest's trees, array dtypes). A model
# file holding any other such type is refused before it is read.
TRUSTED_TYPES: Final[tuple[str, ...]] = ("numpy.dtype", "sklearn.tree._tree.Tree")
QUESTION_RULE: Final[str] = "lexicon-polarity/1"
CV_FOLDS: Final[int] = 5
GRIDS: Final[tuple[str, ...]] = ("linear", "small")  # "linear": ridge/logistic only (fast); "small": + forests
# Images per batch of the run loop: the saved models are called once per batch (one call of the forests for a
# single image costs as much as for about forty), and a batch's features are measured in ``n_jobs`` processes.
# A run killed midway loses at most one batch, about a second of work.
BATCH_SIZE: Final[int] = 32


class BaselineError(PortraitCraftError):
    """A saved model that does not fit the running code, or data the baseline cannot use."""


# ---- the question rule ------------------------------------------------------------------------------------------

GOOD_CUES: Final[frozenset[str]] = frozenset("""
    crisp sharp sharply clean cleanly clear clearly balanced natural pleasing unified harmonious harmony coherent
    consistent consistently cohesive flattering gentle gently smooth smoothly stable grounded solid firm level
    straight complete completely whole well excellent generous ample comfortable deliberate distinctive fresh
    original originality purposeful convincing convincingly isolates intentional dimensional sculpt sculpts
    preserved preserving preserve good great strong effective elegant beautiful appealing successful correct
    correctly ideal perfect vivid striking engaging compelling sound proven unobstructed anchors anchored
    glowing defined well-defined well-judged well-judged crisply detailed detail room breathe open ample
""".split())
POOR_CUES: Final[frozenset[str]] = frozenset("""
    blur blurred blurry smear smears smeared clipped blown crushed murky severe severely badly bad poor poorly
    awkward awkwardly cut cuts chopped sliced amputated amputation incomplete clash clashes clashing fight
    fights jar jars discordant compete competes competing distracting distraction busy cluttered clutter dense
    unstable unbalanced lopsided tilted tilt slanted slide slides tips cramped vacant swallows tiny confused
    wanders harsh abrupt unflattering disfigures flattens flattening lacks lack lacking fails fail undermine
    undermines damages damaged compromised inconsistent disjointed mismatched breaks unacceptably arbitrary
    ignores stock lifeless flat excess overexposed underexposed overexposure underexposure weak weakens ugly
    dull loses losing lost merge merges problem problematic wrong unsettles unsettled unease uneasy buries
    hard-to-read empty emptiness loud trimmed grazes overlaps clips
""".split())
MEDIUM_CUES: Final[frozenset[str]] = frozenset("""
    slightly slight somewhat moderate moderately partly partial partially acceptable adequate adequately passable
    serviceable mostly fairly modest minor mildly mild reasonably imperfect mixed unremarkable broadly safe
    average ordinary decent okay fair middling competent familiar conventional little bit
""".split())
NEGATORS: Final[frozenset[str]] = frozenset(
    "no not without nothing hardly never nor neither avoids avoid free lacks".split()
)
NEGATION_WINDOW: Final[int] = 3
# Words that open the clause stating the verdict ("..., so the colours feel harmonious"); cues after the last
# of them weigh VERDICT_WEIGHT times as much as the description before it.
VERDICT_OPENERS: Final[frozenset[str]] = frozenset(
    "so which therefore thus hence overall making leaving resulting".split()
)
VERDICT_WEIGHT: Final[int] = 2
_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")


@dataclass(frozen=True)
class OptionEvidence:
    """Cue counts of one option text, and the cue words found (for the explanation)."""

    good: int
    medium: int
    poor: int
    cues: tuple[str, ...]

    def for_level(self, level: str) -> float:
        # Good and poor cues together read as a mixed, middling verdict.
        return {"Good": self.good, "Poor": self.poor, "Medium": self.medium + min(self.good, self.poor)}[level]

    def fit(self, level: str) -> float:
        """Evidence for ``level`` minus the strongest evidence for another level."""
        return self.for_level(level) - max(self.for_level(other) for other in LEVELS if other != level)

    @property
    def has_cues(self) -> bool:
        return bool(self.good or self.medium or self.poor)


def option_evidence(text: str) -> OptionEvidence:
    """Count the lexicon's cue words in one option text, flipping good/poor cues after a nearby negator."""
    words = _WORD.findall(text.lower())
    openers = [i for i, word in enumerate(words) if word in VERDICT_OPENERS]
    verdict_from = openers[-1] if openers else len(words)
    good = medium = poor = 0
    cues: list[str] = []
    for i, word in enumerate(words):
        negated = any(w in NEGATORS for w in words[max(0, i - NEGATION_WINDOW):i])
        if word in GOOD_CUES:
            kind = "poor" if negated else "good"
        elif word in POOR_CUES:
            kind = "good" if negated else "poor"
        elif word in MEDIUM_CUES:
            kind = "medium"
        else:
            continue
        weight = VERDICT_WEIGHT if i > verdict_from else 1
        good += weight * (kind == "good")
        poor += weight * (kind == "poor")
        medium += weight * (kind == "medium")
        cues.append(f"{'not ' if negated and kind != 'medium' else ''}{word}:{kind}")
    return OptionEvidence(good, medium, poor, tuple(cues))


@dataclass(frozen=True)
class QuestionDecision:
    answer: str | None
    explanation: str
    fits: dict[str, float]


def answer_question(options: Mapping[str, str], level: str | None) -> QuestionDecision:
    """The documented rule (module docstring): the option whose cue words best fit the predicted level."""
    if level not in LEVELS:
        return QuestionDecision(None, "no predicted level for the asked attribute", {})
    evidence = {letter: option_evidence(text) for letter, text in options.items() if isinstance(text, str)}
    if not any(e.has_cues for e in evidence.values()):
        return QuestionDecision(None, f"predicted {level}; no option has a cue word, undecided", {})
    fits = {letter: e.fit(level) for letter, e in evidence.items()}
    best = max(fits.values())
    winners = sorted(letter for letter, v in fits.items() if v == best)
    if len(winners) > 1:
        return QuestionDecision(
            None, f"predicted {level}; options {', '.join(winners)} tie (fit {best:g}), undecided", fits
        )
    letter = winners[0]
    return QuestionDecision(letter, f"predicted {level}; option {letter} fits best (fit {best:g}; cues "
                                    f"{', '.join(evidence[letter].cues)})", fits)


# ---- models ---------------------------------------------------------------------------------------------------

def _spearman(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    if np.ptp(y_pred) == 0 or np.ptp(y_true) == 0:
        return 0.0
    return float(spearmanr(y_true, y_pred)[0])


SPEARMAN = make_scorer(_spearman)


def _pipeline(estimator: Any) -> Pipeline:
    return Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler()), ("model", estimator)])


def _regressor_grid(grid: str, seed: int) -> list[dict[str, list]]:
    grids: list[dict[str, list]] = [{"model": [Ridge()], "model__alpha": [1.0, 10.0, 100.0]}]
    if grid == "small":
        grids.append({"model": [RandomForestRegressor(n_estimators=150, max_features=0.4, random_state=seed)],
                      "model__min_samples_leaf": [2, 6]})
    return grids


def _classifier_grid(grid: str, seed: int) -> list[dict[str, list]]:
    grids: list[dict[str, list]] = [{"model": [LogisticRegression(max_iter=2000)], "model__C": [0.1, 1.0]}]
    if grid == "small":
        grids.append({"model": [RandomForestClassifier(n_estimators=150, max_features=0.4, random_state=seed)],
                      "model__min_samples_leaf": [2, 6]})
    return grids


def _describe(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (type(v).__name__ if k == "model" else v) for k, v in params.items()}


@dataclass
class BaselineModel:
    """The fitted regressor and 13 level classifiers, with what is needed to check and explain them."""

    feature_names: tuple[str, ...]
    regressor: Any
    classifiers: dict[str, Any]  # attribute name -> fitted estimator (classes are level words)
    cv: dict[str, Any]  # "total_score" and each attribute: chosen params and CV score
    info: dict[str, Any] = field(default_factory=dict)

    def predict(self, features: pd.DataFrame) -> BaselinePredictions:
        """Scores, levels and level probabilities for each row of ``features`` (columns by name)."""
        missing = [n for n in self.feature_names if n not in features.columns]
        if missing:
            raise BaselineError(
                f"features frame lacks {len(missing)} feature(s) the model needs, first: {missing[0]!r}"
            )
        x = features.loc[:, list(self.feature_names)].to_numpy(dtype=float)
        total = np.clip(self.regressor.predict(x), 1.0, 100.0)
        levels: dict[str, list[str]] = {}
        probabilities: dict[str, np.ndarray] = {}
        for name in ATTRIBUTE_NAMES:
            model = self.classifiers[name]
            proba = model.predict_proba(x)
            full = np.zeros((len(x), len(LEVELS)))
            for j, cls in enumerate(model.classes_):
                full[:, LEVELS.index(cls)] = proba[:, j]
            probabilities[name] = full
            levels[name] = [LEVELS[k] for k in full.argmax(axis=1)]
        return BaselinePredictions(list(features.index), total, levels, probabilities)

    def save(self, model_dir: str | os.PathLike) -> Path:
        """Write model.skops and manifest.json into ``model_dir``; returns the manifest's path."""
        import skops.io

        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        model_path = model_dir / MODEL_FILE
        buffer = io.BytesIO()
        skops.io.dump({"regressor": self.regressor, "classifiers": self.classifiers}, buffer)
        write_atomic(model_path, buffer.getvalue())
        manifest = {
            "schema": MANIFEST_SCHEMA,
            "feature_names": list(self.feature_names),
            "feature_version": FEATURE_VERSION,
            "sklearn_version": sklearn.__version__,
            "question_rule": QUESTION_RULE,
            "model_sha256": file_sha256(model_path),
            "cv": self.cv,
            **self.info,
        }
        return write_json(model_dir / MANIFEST_FILE, manifest)


@dataclass
class BaselinePredictions:
    image_paths: list[str]
    total_score: np.ndarray
    levels: dict[str, list[str]]  # attribute name -> level of each image
    probabilities: dict[str, np.ndarray]  # attribute name -> (n, 3) probabilities in LEVELS order


def _folds(y: np.ndarray | None, n: int, seed: int, classification: bool) -> KFold | StratifiedKFold:
    splits = max(2, min(CV_FOLDS, n))
    if classification and y is not None:
        _, counts = np.unique(y, return_counts=True)
        if counts.min() >= splits:
            return StratifiedKFold(splits, shuffle=True, random_state=seed)
    return KFold(splits, shuffle=True, random_state=seed)


def _fit_level_classifier(xs: np.ndarray, ys: np.ndarray, x_all: np.ndarray, grid: str, seed: int,
                          n_jobs: int) -> tuple[Any, dict[str, Any]]:
    """One attribute's level classifier, chosen by cross-validated accuracy, and its manifest entry."""
    if len(np.unique(ys)) < 2:
        # One level in all of train: nothing to learn; predict it (and say so in the manifest).
        model = DummyClassifier(strategy="most_frequent").fit(
            xs if len(xs) else x_all[:1], ys if len(ys) else ["Medium"]
        )
        return model, {"metric": "accuracy", "score": 1.0 if len(ys) else math.nan,
                       "params": {"model": "DummyClassifier"}, "note": "a single level in the training labels"}
    search = GridSearchCV(_pipeline(LogisticRegression()), _classifier_grid(grid, seed), scoring="accuracy",
                          cv=_folds(ys, len(ys), seed, True), n_jobs=n_jobs, refit=True)
    with warnings.catch_warnings():
        # A level with fewer images than folds is expected for rare levels; the split copes.
        warnings.simplefilter("ignore", UserWarning)
        search.fit(xs, ys)
    majority = pd.Series(ys).value_counts(normalize=True).iloc[0]
    return search.best_estimator_, {"metric": "accuracy", "score": float(search.best_score_),
                                    "majority_share": float(majority), "params": _describe(search.best_params_)}


def train_baseline(features: pd.DataFrame, labels: pd.DataFrame, *, grid: str = "small", seed: int = 0,
                   n_jobs: int = 1, progress: bool = False) -> BaselineModel:
    """Fit the regressor and the 13 classifiers, each chosen by cross-validation over a small grid.

    ``features``: index image_path, columns `FEATURE_NAMES`. ``labels``: `Dataset.images()` rows for the same
    images (total_score and the ``<key>_level`` columns). Only images with a total score are used.
    ``progress`` shows a bar over the 14 model searches.
    """
    from portraitcraft.progress import progress_bar

    if grid not in GRIDS:
        raise ValueError(f"grid={grid!r}: expected one of {GRIDS}")
    labels = labels.set_index("image_path") if "image_path" in labels.columns else labels
    common = [name for name in features.index if name in labels.index and np.isfinite(labels.at[name, "total_score"])]
    if len(common) < 10:
        raise BaselineError(f"only {len(common)} training images with labels and features; need at least 10")
    x = features.loc[common, list(FEATURE_NAMES)].to_numpy(dtype=float)
    started = time.perf_counter()
    cv: dict[str, Any] = {}
    bar = progress_bar(1 + len(ATTRIBUTE_NAMES), unit="model", desc="fitting", enabled=progress)

    y_total = labels.loc[common, "total_score"].to_numpy(dtype=float)
    search = GridSearchCV(_pipeline(Ridge()), _regressor_grid(grid, seed), scoring=SPEARMAN,
                          cv=_folds(None, len(common), seed, False), n_jobs=n_jobs, refit=True)
    search.fit(x, y_total)
    regressor = search.best_estimator_
    cv["total_score"] = {
        "metric": "spearman",
        "score": float(search.best_score_),
        "params": _describe(search.best_params_),
    }
    bar.update(1)

    classifiers: dict[str, Any] = {}
    for name, key in zip(ATTRIBUTE_NAMES, ATTRIBUTE_KEYS):
        y = labels.loc[common, f"{key}_level"].astype(object).to_numpy()
        known = np.array([v in LEVELS for v in y])
        classifiers[name], cv[name] = _fit_level_classifier(x[known], y[known].astype(str), x, grid, seed, n_jobs)
        bar.update(1)
    bar.close()
    info = {"train_images": len(common), "grid": grid, "seed": seed, "cv_folds": CV_FOLDS,
            "train_seconds": round(time.perf_counter() - started, 3)}
    return BaselineModel(tuple(FEATURE_NAMES), regressor, classifiers, cv, info)


def _read_manifest(manifest_path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise BaselineError(f"{manifest_path}: not UTF-8 text ({exc.reason} at byte {exc.start}); not a saved "
                            "feature baseline") from None
    except (ValueError, RecursionError) as exc:
        raise BaselineError(f"{manifest_path}: not valid JSON ({exc}); not a saved feature baseline") from None
    except OSError as exc:
        raise BaselineError(f"{manifest_path}: cannot read ({exc.strerror})") from exc
    if not isinstance(manifest, dict):
        raise BaselineError(f"{manifest_path}: expected a JSON object, found {type(manifest).__name__}")
    return manifest


def load_baseline(model_dir: str | os.PathLike) -> BaselineModel:
    """Read a model saved by `BaselineModel.save`, refusing one made for other features, a changed file, or a
    file holding types outside scikit-learn's, NumPy's and `TRUSTED_TYPES` (nothing in it is executed)."""
    import skops.io

    model_dir = Path(model_dir)
    manifest_path, model_path = model_dir / MANIFEST_FILE, model_dir / MODEL_FILE
    if (model_dir / PICKLED_MODEL_FILE).exists() and not model_path.exists():
        raise BaselineError(f"{model_dir}: holds {PICKLED_MODEL_FILE}, a pickle saved by an older version; pickles "
                            "are never loaded (they can run code). Retrain: remove the folder or give another "
                            "--model-dir")
    if not manifest_path.is_file() or not model_path.is_file():
        raise BaselineError(f"{model_dir}: no saved feature baseline ({MANIFEST_FILE} and {MODEL_FILE} expected)")
    manifest = _read_manifest(manifest_path)
    if manifest.get("schema") != MANIFEST_SCHEMA:
        raise BaselineError(f"{manifest_path}: schema {manifest.get('schema')!r}, expected {MANIFEST_SCHEMA!r}")
    if manifest.get("feature_version") != FEATURE_VERSION or tuple(manifest.get("feature_names", ())) != FEATURE_NAMES:
        raise BaselineError(f"{manifest_path}: made for feature version {manifest.get('feature_version')!r} with other "
                            f"features; this code has version {FEATURE_VERSION!r}. Retrain.")
    if not isinstance(manifest.get("cv"), dict):
        raise BaselineError(f"{manifest_path}: no cross-validation record ('cv'); not a saved feature baseline")
    if file_sha256(model_path) != manifest.get("model_sha256"):
        raise BaselineError(f"{model_path}: does not match the SHA-256 in {manifest_path}")
    if manifest.get("sklearn_version") != sklearn.__version__:
        warnings.warn(f"{manifest_path}: saved with scikit-learn {manifest.get('sklearn_version')}, "
                      f"running {sklearn.__version__}", stacklevel=2)
    try:
        untrusted = [t for t in skops.io.get_untrusted_types(file=model_path) if t not in TRUSTED_TYPES]
        if untrusted:
            raise BaselineError(
                f"{model_path}: holds type(s) a feature baseline never has ({', '.join(untrusted[:5])}); "
                "refused without loading"
            )
        fitted = skops.io.load(model_path, trusted=list(TRUSTED_TYPES))
    except BaselineError:
        raise
    except Exception as exc:  # a damaged or foreign file: zip, JSON schema and type errors of every kind
        raise BaselineError(f"{model_path}: not a readable skops model ({type(exc).__name__}: {exc})") from None
    if not isinstance(fitted, dict) or not isinstance(fitted.get("classifiers"), dict) or \
            set(fitted["classifiers"]) != set(ATTRIBUTE_NAMES) or fitted.get("regressor") is None:
        raise BaselineError(f"{model_path}: does not hold the regressor and the 13 classifiers of a feature baseline")
    info = {k: manifest[k] for k in ("train_images", "grid", "seed", "cv_folds", "train_seconds", "held_out",
                                     "dataset", "synthetic") if k in manifest}
    info["model_sha256"] = manifest["model_sha256"]
    return BaselineModel(
        tuple(manifest["feature_names"]), fitted["regressor"], fitted["classifiers"], manifest["cv"], info
    )


def default_model_dir(out_jsonl: str | os.PathLike) -> Path:
    """Where `predict_feature_baseline` saves (and looks for) the model of a prediction file: ``<file>.model``
    beside it."""
    out = Path(out_jsonl)
    return out.with_name(out.stem + ".model")


# The lab's trained baseline, where `make baseline` puts it (relative to the repository root).
LAB_MODEL_DIR = Path("data/lab/runs/feature-baseline.model")


# The lab-trained baseline `assess` builds once into the cache where no trained model is at hand: the default lab's
# size and seed, the linear models (195 s measured on a busy 2-core machine, most of it measuring the features).
CACHED_LAB = {"n_train": 300, "n_test": 0, "seed": 0}
CACHED_GRID = "linear"


def cached_lab_model_dir() -> Path:
    """Where the lab-trained baseline is cached, named by what makes it (feature code, scikit-learn, lab size)."""
    from portraitcraft.sources import default_cache_dir

    return (default_cache_dir() / "baseline" /
            f"lab-{CACHED_LAB['n_train']}-seed{CACHED_LAB['seed']}-{CACHED_GRID}-features{FEATURE_VERSION}-"
            f"sklearn{sklearn.__version__}")


def lab_model_in_cache(*, progress: bool = True, notify: Any = None) -> Path:
    """The lab-trained feature baseline in the cache, built there on first use (a composition lab rendered in a
    scratch folder, the features measured, linear models fitted; then the lab is removed and only the model kept).
    ``notify(text)`` hears, once, that it is being built and how long that takes."""
    import shutil
    import tempfile

    model_dir = cached_lab_model_dir()
    if (model_dir / MANIFEST_FILE).is_file():
        return model_dir
    from portraitcraft.lab import write_lab

    started = time.perf_counter()
    if notify is not None:
        notify(f"no trained feature baseline at hand: building the lab-trained one once into {model_dir} "
               f"({CACHED_LAB['n_train']} synthetic images: one to a few minutes, once; later runs reuse it)")
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lab-", dir=model_dir.parent) as scratch:
        lab = Path(scratch) / "lab"
        write_lab(lab, **CACHED_LAB, progress=progress)
        staged = Path(scratch) / "model"
        train_on_dataset(lab, staged, grid=CACHED_GRID, n_jobs=os.cpu_count() or 1, progress=progress,
                         cache_dir=Path(scratch) / "features")
        manifest = json.loads((staged / MANIFEST_FILE).read_text(encoding="utf-8"))
        manifest["dataset"] = f"the composition lab ({CACHED_LAB['n_train']} images, seed {CACHED_LAB['seed']})"
        (staged / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        shutil.rmtree(staged / "feature_cache", ignore_errors=True)
        try:
            os.replace(staged, model_dir)  # whole or not at all; a concurrent build that finished first wins
        except OSError:
            if not (model_dir / MANIFEST_FILE).is_file():
                raise
    if notify is not None:
        notify(f"built the lab-trained baseline in {time.perf_counter() - started:.0f} s")
    return model_dir


def lab_model_at_hand(root: str | os.PathLike | None = None) -> Path | None:
    """A lab-trained feature baseline already on this machine, found without training one: the lab's from `make
    baseline` (`LAB_MODEL_DIR` under ``root``, the current folder or this package's repository), else the one
    `lab_model_in_cache` built for `assess`; None where there is neither. For a page that shows the baseline's
    readings where one is at hand and says how to get one where not (training takes minutes)."""
    if root is not None and (Path(root) / LAB_MODEL_DIR / MANIFEST_FILE).is_file():
        return Path(root) / LAB_MODEL_DIR
    found = find_baseline_model()
    if found is not None:
        return found
    cached = cached_lab_model_dir()
    return cached if (cached / MANIFEST_FILE).is_file() else None


# Below this spread of luminance (of 255) an image is one flat colour: a grey card, a blank frame, a file whose
# pixels were lost in decoding. Its features say nothing about composition, and the models would still answer.
FLAT_SPREAD: Final[float] = 2.0


def nearly_uniform(image: Image.Image) -> str | None:
    """Why an image gets no score (low confidence: it is nearly uniform), or None for an image worth scoring."""
    luminance = np.asarray(image.convert("L"), dtype=np.float32)
    spread = float(luminance.std())
    if spread >= FLAT_SPREAD:
        return None
    return (f"low confidence, no score: the image is nearly uniform (luminance spread {spread:.1f} of 255, mean "
            f"{float(luminance.mean()):.0f}): there is no composition to judge")


def trained_on(model: BaselineModel) -> str:
    """What a saved baseline learned from, in words, with the caveat that matters for one's own photos."""
    images = model.info.get("train_images")
    where = model.info.get("dataset") or "an unrecorded dataset"
    if model.info.get("synthetic", "lab" in str(where)):
        return (f"model: the CPU feature baseline trained on {images} synthetic composition-lab images ({where}); "
                "its scores on real photos show the pipeline, not a judgement to trust")
    return f"model: the CPU feature baseline trained on {images} labelled images of {where}"


def find_baseline_model(predictions: str | os.PathLike | None = None) -> Path | None:
    """The saved feature-baseline model (a folder holding its manifest), or None where there is none.

    With ``predictions``: the model that wrote that file, the folder named in its records' ``run`` block, else
    ``<file>.model`` beside it (`default_model_dir`); None when the file is not the feature baseline's or cannot
    be read. Without: the lab's (`LAB_MODEL_DIR`, made by `make baseline`) under the current folder or the
    repository holding this package.
    """
    if predictions is None:
        repository = Path(__file__).resolve().parents[2]  # src/portraitcraft/baseline.py -> the repository
        candidates = [Path.cwd() / LAB_MODEL_DIR, repository / LAB_MODEL_DIR]
    else:
        try:
            runs = read_predictions(predictions).runs
        except (PredictionFileError, DataError):
            return None
        candidates = [Path(run["model"].rsplit("#", 1)[0]) for run in runs
                      if run.get("backend") == "features" and isinstance(run.get("model"), str)]
        if not candidates:
            return None
        candidates.append(default_model_dir(predictions))
    return next((c for c in candidates if (c / MANIFEST_FILE).is_file()), None)


def _train_on_dataset(
    dataset_root: str | os.PathLike,
    model_dir: str | os.PathLike,
    *,
    max_side: int = DEFAULT_MAX_SIDE,
    cache_dir: str | os.PathLike | None = None,
    grid: str = "small",
    seed: int = 0,
    n_jobs: int = 1,
    progress: bool = False,
    held_out: Sequence[str] = (),
    held_out_split: tuple[float, int] | None = None,
) -> BaselineModel:
    """Extract features of the labelled training images but ``held_out`` (the validation split's, drawn with
    ``held_out_split``: fraction and seed), train, save into ``model_dir``."""
    dataset = open_dataset(dataset_root)
    train = labelled_images(dataset)
    train = train[(train["split"] == "train") & ~train["image_path"].isin(set(held_out))]
    if train.empty:
        raise BaselineError(f"{dataset.root}: no labelled Track 1 training images")
    table = extract_features(list(train["image_path"]), list(train["image_file"]), max_side=max_side,
                             cache_dir=cache_dir, n_jobs=n_jobs, progress=progress)
    model = train_baseline(table.frame, train, grid=grid, seed=seed, n_jobs=n_jobs, progress=progress)
    fraction, split_seed = held_out_split or (None, None)
    synthetic = (dataset.root / "lab_factors.json").is_file()  # the composition lab's own file
    model.info.update(dataset=str(dataset.root), synthetic=synthetic, max_side=max_side,
                      train_feature_failures=len(table.failures),
                      feature_seconds_per_image=table.seconds_per_image,
                      held_out=held_out_record(held_out, fraction=fraction, seed=split_seed,
                                               training=training_names(dataset)))
    model.save(model_dir)
    return load_baseline(model_dir)  # what predicts is exactly what was saved


def train_on_dataset(dataset_root: str | os.PathLike, model_dir: str | os.PathLike, **options: Any) -> BaselineModel:
    """Extract features of the labelled training images, train, save into ``model_dir`` (locked meanwhile: a
    second training into the same folder is refused, naming the first). Options: those of the training
    (``max_side``, ``cache_dir``, ``grid``, ``seed``, ``n_jobs``, ``progress``, and ``held_out``: training images
    left out, recorded in the manifest, with ``held_out_split``: their split's fraction and seed)."""
    from portraitcraft.outputs import OutputError, OutputLock

    try:
        lock = OutputLock(model_dir, "portraitcraft baseline train").acquire()
    except OutputError as exc:
        raise BaselineError(str(exc)) from exc
    try:
        return _train_on_dataset(dataset_root, model_dir, **options)
    finally:
        lock.release()


def run_identity(model: BaselineModel, model_dir: str | os.PathLike, max_side: int) -> dict[str, Any]:
    """The ``run`` of the baseline's prediction records: which saved model, features and question rule."""
    return {"backend": "features", "model": f"{model_dir}#{model.info['model_sha256'][:12]}",
            "feature_version": FEATURE_VERSION, "max_side": max_side, "sklearn": sklearn.__version__,
            "question_rule": QUESTION_RULE, "grid": model.info.get("grid"), "seed": model.info.get("seed"),
            "held_out": trained_without(model)}


def trained_without(model: BaselineModel) -> dict[str, Any]:
    """The training images a saved model left out (`portraitcraft.labels.held_out_record`); a model saved before
    this was recorded was trained on every labelled training image."""
    recorded = model.info.get("held_out")
    return recorded if isinstance(recorded, dict) else held_out_record([])


def prediction_fields(predicted: BaselinePredictions, i: int, options: Mapping[str, str] | None,
                      asked: str | None) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(parsed, probabilities, raw_text) of row ``i`` of ``predicted`` for a prediction record; the question, when
    the image has one (``options``, and ``asked``: the attribute it asks about), is answered by `answer_question`."""
    criteria = {attr: predicted.levels[attr][i] for attr in ATTRIBUTE_NAMES}
    answer, explanation, failures = None, "no question for this image", {"answer": "no_question"}
    if options:
        decision = answer_question(options, criteria.get(asked) if asked else None)
        answer, explanation = decision.answer, decision.explanation
        failures = {} if answer else {"answer": "undecided"}
    parsed = {"total_score": round(float(predicted.total_score[i]), 2), "criteria": criteria, "answer": answer,
              "failures": failures, "notes": []}
    probabilities = {"criteria": {attr: dict(zip(LEVELS, np.round(predicted.probabilities[attr][i], 4).tolist()))
                                  for attr in ATTRIBUTE_NAMES}}
    return parsed, probabilities, f"feature baseline; question: {explanation}"


def run_feature_baseline(
    dataset_root: str | os.PathLike,
    out_jsonl: str | os.PathLike,
    model_dir: str | os.PathLike | None = None,
    **options: Any,
) -> Path:
    """`predict_feature_baseline`, returning the output's path (what the book and the scripts want)."""
    return predict_feature_baseline(dataset_root, out_jsonl, model_dir, **options).out


def predict_feature_baseline(
    dataset_root: str | os.PathLike,
    out_jsonl: str | os.PathLike,
    model_dir: str | os.PathLike | None = None,
    *,
    split: str = "test",
    max_side: int = DEFAULT_MAX_SIDE,
    cache_dir: str | os.PathLike | None = None,
    grid: str = "small",
    seed: int = 0,
    n_jobs: int = 1,
    progress: bool = False,
) -> RunSummary:
    """Predict every Track 1 image of ``split`` into ``out_jsonl`` (project JSONL): train first when
    ``model_dir`` (default: `default_model_dir`, ``<out>.model`` beside the output) holds no saved model, then
    the package's run loop (`runners.base.run_predictions`) with `FeatureBackend`.

    The loop's rules hold: the output is locked while the run writes (a second writer is refused, naming the
    first); images already recorded are skipped when the file was written under the same configuration (the
    model's SHA-256, features, ``max_side``, question rule), and a file of another configuration or not of
    prediction records is refused untouched; a torn last line is cut off. An image whose features cannot be
    computed gets a ``failed`` record naming the reason; the summary counts them. The data, the split and the
    output are checked before a model is loaded or trained (minutes). ``cache_dir`` (default: in the model
    folder), ``grid``, ``seed`` and ``n_jobs`` are the training's; ``progress`` shows bars.
    """
    from portraitcraft.outputs import OutputError, OutputLock, check_target, prepare_jsonl_resume
    from portraitcraft.predictions import SCHEMA

    out = Path(out_jsonl)
    model_dir = Path(model_dir) if model_dir is not None else default_model_dir(out)
    try:  # held while training: a second run on this output is refused at once, not after minutes
        check_target(out)
        lock = OutputLock(out, "portraitcraft baseline predict").acquire()
    except OutputError as exc:
        raise BaselineError(str(exc)) from exc
    try:
        dataset = open_dataset(dataset_root)
        images = dataset.images()
        try:
            names = split_image_paths(dataset, split)
        except ValueError as exc:
            raise BaselineError(str(exc)) from exc
        # The validation split is held out of training: its predictions come from a model that never saw it.
        held_out = names if split == VALIDATION_SPLIT else []
        images = images[images["image_path"].isin(set(names))].drop_duplicates("image_path")
        if images.empty:
            raise BaselineError(f"{dataset.root}: no Track 1 images in split {split!r}")
        try:  # an output that cannot be resumed is refused before training, untouched
            prepare_jsonl_resume(out, None, schema=SCHEMA, what="predictions", repair=False)
        except OutputError as exc:
            raise BaselineError(str(exc)) from exc
        if (model_dir / MANIFEST_FILE).is_file() or (model_dir / PICKLED_MODEL_FILE).exists():
            model = load_baseline(model_dir)
            reason = (validation_leak(trained_without(model), names, training_names(dataset))
                      if split == VALIDATION_SPLIT else None)
            if reason:
                raise BaselineError(
                    f"--split {VALIDATION_SPLIT} refused for the saved model {model_dir}: {reason}. Give another "
                    "--model-dir (or none: OUT.model beside OUT): a model is trained there without the validation "
                    "images")
        else:
            model = train_on_dataset(dataset_root, model_dir, max_side=max_side,
                                     cache_dir=model_dir / "feature_cache" if cache_dir is None else cache_dir,
                                     grid=grid, seed=seed, n_jobs=n_jobs, progress=progress, held_out=held_out,
                                     held_out_split=(VALIDATION_FRACTION, VALIDATION_SEED) if held_out else None)
    finally:
        lock.release()
    backend = FeatureBackend(model_dir, max_side=max_side, model=model, n_jobs=n_jobs)
    return run_predictions(backend, dataset, split=split, out=out, progress=progress, batch_size=BATCH_SIZE)


class FeatureBackend:
    """A saved feature baseline as a backend of the run loop (`runners.base.run_predictions`). For example::

        from portraitcraft import ImageFolder, run_predictions
        from portraitcraft.baseline import BATCH_SIZE, FeatureBackend

        backend = FeatureBackend("data/lab/runs/feature-baseline.model", n_jobs=2)
        run_predictions(backend, ImageFolder("photos"), split="photos",
                        out="runs/photos.jsonl",
                        items=ImageFolder("photos").items(),
                        batch_size=BATCH_SIZE)

    The loop decodes each image with ``max_side`` (default: the side the model was trained with, from its
    manifest), `features.compute_features` measures it (a batch's images in ``n_jobs`` processes), the saved
    models predict the score, the levels and their probabilities (one call per batch: give the loop batches of
    `BATCH_SIZE`), and a question, where an image has one, is answered by `answer_question`. ``model_dir`` None:
    the lab's (`find_baseline_model`); ``model``: the model already loaded from ``model_dir``.
    """

    def __init__(self, model_dir: str | os.PathLike | None = None, *, max_side: int | None = None,
                 model: BaselineModel | None = None, n_jobs: int = 1, progress: bool = True, notify: Any = None):
        if model_dir is not None:
            found = Path(model_dir)
        else:  # the lab's from `make baseline` where the repository has one, else the one cached (built once)
            found = find_baseline_model() or lab_model_in_cache(progress=progress, notify=notify)
        self.model_dir = found
        try:
            self.model = model if model is not None else load_baseline(self.model_dir)
            manifest = json.loads((self.model_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
        except (BaselineError, OSError, ValueError) as exc:
            raise ModelLoadError(str(exc)) from exc
        # Features depend on the decoding size: by default the one the model was trained with.
        self.max_side = int(max_side or manifest.get("max_side") or DEFAULT_MAX_SIDE)
        if n_jobs < 1:
            raise ValueError(f"n_jobs={n_jobs}: must be at least 1")
        self.n_jobs = n_jobs

    def config(self) -> dict[str, Any]:
        """What defines the predictions: the model's bytes, not the folder it was read from (a moved model
        resumes its files)."""
        return {"backend": "features", "model_sha256": self.model.info["model_sha256"],
                "feature_version": FEATURE_VERSION, "max_side": self.max_side, "question_rule": QUESTION_RULE}

    def metadata(self) -> dict[str, Any]:
        return {**run_identity(self.model, self.model_dir, self.max_side), "protocol": "features"}

    def predict(self, items: Sequence[Item], images: Sequence[Image.Image]) -> list[Outcome]:
        """The batch's features (in ``n_jobs`` processes), then one call of the saved models for all of them."""
        outcomes: list[Outcome | None] = [None] * len(items)
        rows, kept = [], []
        flat = [nearly_uniform(image) for image in images]
        measured = iter(compute_features_of_images([image for image, why in zip(images, flat) if why is None],
                                                   n_jobs=self.n_jobs))
        for i, why in enumerate(flat):
            if why is not None:
                outcomes[i] = Outcome(error=why)
                continue
            features = next(measured)
            if isinstance(features, FeatureError):
                outcomes[i] = Outcome(error=f"FeatureError: {features}")
            else:
                rows.append(features)
                kept.append(i)
        if rows:
            frame = pd.DataFrame(rows, columns=list(FEATURE_NAMES), index=[items[i].image_path for i in kept])
            predicted = self.model.predict(frame)
            for row, i in enumerate(kept):
                item = items[i]
                asked = QUESTION_ATTRIBUTE.search(item.question) if item.question else None
                parsed, probabilities, raw_text = prediction_fields(
                    predicted, row, item.options or None, asked.group(0) if asked else None)
                outcomes[i] = Outcome(parsed=parsed, raw_text=raw_text, probabilities=probabilities)
        return [outcome for outcome in outcomes if outcome is not None]


def feature_importance(model: BaselineModel) -> pd.DataFrame:
    """Standardised ridge/logistic coefficients or forest importances of the score model, one row per feature."""
    estimator = model.regressor.named_steps["model"]
    values = getattr(estimator, "coef_", None)
    if values is None:
        values = getattr(estimator, "feature_importances_", np.full(len(model.feature_names), np.nan))
    return (pd.DataFrame({"feature": model.feature_names, "weight": np.ravel(values)})
            .assign(magnitude=lambda t: t["weight"].abs()).sort_values("magnitude", ascending=False)
            .reset_index(drop=True))


__all__ = [
    "BATCH_SIZE",
    "BaselineError",
    "BaselineModel",
    "BaselinePredictions",
    "FeatureBackend",
    "GOOD_CUES",
    "LAB_MODEL_DIR",
    "MEDIUM_CUES",
    "NEGATORS",
    "POOR_CUES",
    "QUESTION_RULE",
    "QuestionDecision",
    "answer_question",
    "default_model_dir",
    "feature_importance",
    "find_baseline_model",
    "lab_model_at_hand",
    "load_baseline",
    "option_evidence",
    "predict_feature_baseline",
    "prediction_fields",
    "run_feature_baseline",
    "run_identity",
    "train_baseline",
    "train_on_dataset",
    "trained_without",
]
