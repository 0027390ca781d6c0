"""Shared fixtures. Tests never use the network; the real sample is read from ../shared, never copied."""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# One compute thread per test process: the suite runs two xdist workers on two cores, and an OpenMP/BLAS pool of
# two threads in each worker would oversubscribe them; the tests' arrays and tiny models gain nothing from threads.
for _threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

REPO = Path(__file__).resolve().parents[1]
REAL_SAMPLE = REPO.parent / "shared" / "portraitcraft-sample"


def pytest_collection_modifyitems(config, items):
    """Tests marked `first` run before the others and those marked `last` after them (each keeping their order): a
    first test starts slow work that the last ones read (a shared build, see `built_once`), beside the other tests,
    and the last ones then spread over the workers at the end."""
    first = [item for item in items if item.get_closest_marker("first")]
    last = [item for item in items if item.get_closest_marker("last") and item not in first]
    others = [item for item in items if item not in first and item not in last]
    items[:] = first + others + last


@pytest.fixture(scope="session")
def real_sample() -> Path:
    """The real PortraitCraft records and images (licence: read in place, never committed)."""
    if not (REAL_SAMPLE / "track_1_train.json").is_file():
        pytest.skip(f"real PortraitCraft sample not found at {REAL_SAMPLE} (it lives in ../shared beside the repo)")
    return REAL_SAMPLE


@pytest.fixture(scope="session")
def one_torch_thread():
    """Torch on one thread: on a small, busy machine two spinning threads make each op of the tiny model some hundred
    times slower (measured: 14 ms against 0.06 ms for a 600x64 reduction)."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_model(built_once, one_torch_thread) -> Path:
    """The tiny random Qwen3-VL of `portraitcraft.runners.tiny`, built offline once for the whole run (read-only)."""
    from portraitcraft.runners.tiny import build_tiny_qwen3_vl

    return built_once("tiny-qwen3-vl", lambda folder: build_tiny_qwen3_vl(folder / "model")) / "model"


@pytest.fixture(scope="session")
def tiny_qwen_image(tmp_path_factory, one_torch_thread) -> Path:
    """The tiny random Qwen-Image pipeline (`portraitcraft.track2.tiny_pipeline`), built once per test process."""
    pytest.importorskip("diffusers", reason="the models extra is not installed")
    from portraitcraft.track2.tiny_pipeline import build_tiny_qwen_image

    return build_tiny_qwen_image(tmp_path_factory.mktemp("models") / "tiny-qwen-image")


@pytest.fixture(scope="session")
def score_backend(tiny_model):
    """The transformers backend on the tiny model, score protocol (token probabilities), loaded once per process."""
    from portraitcraft.runners.qwen import QwenBackend, QwenSettings

    return QwenBackend(QwenSettings(model=str(tiny_model), protocol="score"))


@pytest.fixture(scope="session")
def make_lab(tmp_path_factory):
    """Composition labs by size: ``make_lab(n_train=12, n_test=6, n_track2_test=2, seed=3, long_side=64)`` renders
    a lab once per test process and set of parameters (sizes default to 0, images to 96 pixels) and returns its
    root. Tests only read a lab they did not render themselves."""
    from portraitcraft.lab import write_lab

    made: dict[tuple, Path] = {}

    def make(*, n_train: int = 0, n_test: int = 0, n_track2_train: int = 0, n_track2_test: int = 0, seed: int = 0,
             long_side: int = 96) -> Path:
        key = (n_train, n_test, n_track2_train, n_track2_test, seed, long_side)
        if key not in made:
            root = tmp_path_factory.mktemp("lab-{}-{}-{}-{}-seed{}-{}px".format(*key))
            write_lab(root, n_train=n_train, n_test=n_test, n_track2_train=n_track2_train,
                      n_track2_test=n_track2_test, seed=seed, long_side=long_side, progress=False)
            made[key] = root
        return made[key]

    return make


@pytest.fixture(scope="session")
def small_lab(make_lab) -> Path:
    """A small composition lab shared by the tests that only read it: 24 labelled training images (enough for the
    feature baseline's cross-validation), 8 test images with hidden labels, Track 2 in both splits; 96-pixel images."""
    return make_lab(n_train=24, n_test=8, n_track2_train=3, n_track2_test=2, seed=2, long_side=96)


@pytest.fixture(scope="session")
def built_once(tmp_path_factory):
    """``built_once(name, build)``: a folder that ``build(folder)`` fills once for the whole test run, whichever
    xdist worker asks first; the others wait for it (a file lock) and reuse it. For what is slow to make and only
    read afterwards, such as a built book. A build that failed is tried again by the next test that asks."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder, above each worker's own

    def build_once(name: str, build) -> Path:
        folder, done = base / name, base / f"{name}.done"
        with open(base / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not done.is_file():
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir()
                build(folder)
                done.touch()
        return folder

    return build_once
