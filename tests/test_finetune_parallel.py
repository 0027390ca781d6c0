"""Data-parallel fine-tuning on the CPU: two gloo processes reach the weights of one process with the same effective
batch, only process 0 writes, and a run resumes on another number of processes."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from portraitcraft.finetune import (  # noqa: E402
    FinetuneError,
    FinetuneSettings,
    read_log,
    run_finetune,
)
from portraitcraft.finetune.parallel import World  # noqa: E402

# 3 training images, 1 image per micro-batch, 2 micro-batches per step: step 1 gives each of two processes one
# micro-batch, step 2 (the epoch's last image) gives process 1 none.
SETTINGS = dict(reasons=False, epochs=1, lr=2e-3, batch_size=1, grad_accum=2, max_steps=2, warmup_ratio=0.0,
                max_pixels=96 * 96, min_pixels=32 * 32, limit=3, validation_predict=0, validation_batches=1,
                eval_every=0, save_every=0)
TOLERANCE = 1e-6  # absolute, on every weight (float32); the sums are those of one process, so it is usually 0


@pytest.fixture(scope="module")
def lab(small_lab) -> Path:
    return small_lab


def settings_for(lab: Path, model: Path, out: Path, **overrides) -> FinetuneSettings:
    return FinetuneSettings(data=str(lab), model=str(model), out=str(out), **{**SETTINGS, **overrides})


def _process(rank: int, settings: FinetuneSettings, port: int) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    run_finetune(settings, progress=False)


def run_two_processes(settings: FinetuneSettings, timeout: float = 120.0) -> None:
    """``run_finetune`` in two forked processes joined by gloo, as ``torchrun --nproc-per-node 2`` would start it."""
    import torch.multiprocessing as mp

    with socket.socket() as probe:  # a free port for the rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = mp.start_processes(_process, args=(settings, port), nprocs=2, join=False, start_method="fork")
    deadline = time.monotonic() + timeout
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"two-process fine-tuning did not finish within {timeout} s")


def weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return {k: v for f in sorted(folder.glob("*.safetensors")) for k, v in load_file(str(f)).items()}


def largest_difference(first: dict, second: dict) -> float:
    assert first.keys() == second.keys()
    return max(float((first[k] - second[k]).abs().max()) for k in first)


@pytest.fixture(scope="module")
def one_process(lab, tiny_model, tmp_path_factory, one_torch_thread) -> Path:
    out = tmp_path_factory.mktemp("runs") / "one"
    run_finetune(settings_for(lab, tiny_model, out), progress=False)
    return out


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_processes_reach_the_weights_of_one(lab, tiny_model, one_process, tmp_path, strategy):
    one, two = one_process, tmp_path / "two"
    run_two_processes(settings_for(lab, tiny_model, two, strategy=strategy))
    before = weights(tiny_model)
    assert largest_difference(weights(one), before) > 1e-4  # the weights did move
    difference = largest_difference(weights(one), weights(two))
    assert difference <= TOLERANCE
    # Process 0 alone wrote: each step logged once, with the images of both processes; the same losses.
    logs = read_log(one), read_log(two)
    train = [log[log["kind"] == "train"] for log in logs]
    assert train[1]["step"].tolist() == [1, 2] and train[1]["images"].tolist() == [2, 1]
    assert train[1]["loss"].tolist() == pytest.approx(train[0]["loss"].tolist(), abs=1e-6)
    assert json.loads((two / "finetune.json").read_text())["processes"] == 2
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_a_two_process_run_resumes_in_one_process(lab, tiny_model, one_process, tmp_path, strategy):
    """The plan and the checkpoints do not depend on the number of processes, nor on the sharding."""
    straight, resumed = one_process, tmp_path / "resumed"
    run_two_processes(settings_for(lab, tiny_model, resumed, stop_after=1, strategy=strategy))
    assert json.loads((resumed / "finetune.json").read_text())["status"] == "stopped"
    summary = run_finetune(settings_for(lab, tiny_model, resumed), progress=False)
    assert summary.resumed_from == 1 and summary.status == "finished"
    assert largest_difference(weights(straight), weights(resumed)) <= TOLERANCE


def test_a_step_that_cannot_be_shared_evenly_is_refused():
    World(rank=0, size=2).check(batch_size=4, grad_accum=4)  # the paper's 16 on two processes: 2 micro-batches each
    with pytest.raises(FinetuneError, match="not a multiple of the 8 processes.*--batch-size 2 --grad-accum 8"):
        World(rank=0, size=8).check(batch_size=4, grad_accum=4)
