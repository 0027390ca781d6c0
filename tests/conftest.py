"""Shared fixtures. Tests never use the network; the real sample is read from ../shared, never copied."""

from __future__ import annotations

import os
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


@pytest.fixture(scope="session")
def real_sample() -> Path:
    """The real PortraitCraft records and images (licence: read in place, never committed)."""
    if not (REAL_SAMPLE / "track_1_train.json").is_file():
        pytest.skip(f"real PortraitCraft sample not found at {REAL_SAMPLE} (it lives in ../shared beside the repo)")
    return REAL_SAMPLE
