"""The model runner on the real code path: a tiny random Qwen3-VL built in this session, saved, reloaded through
AutoModelForImageTextToText / AutoProcessor, prompted with the chat template, generating and scoring lab images."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("torchvision")

from portraitcraft.attributes import ANSWER_LETTERS, ATTRIBUTE_NAMES, HIDDEN_LEVEL, LEVELS  # noqa: E402
from portraitcraft.predictions import read_predictions  # noqa: E402
from portraitcraft.prompts import (  # noqa: E402
    QUALITY_WORDS,
    generate_prompt,
    prompt_hash,
    quality_to_score,
    score_prompt,
)
from portraitcraft.runners import RunError, recover_torn_tail, run_predictions, split_items  # noqa: E402
from portraitcraft.sources import open_dataset

REPO = Path(__file__).resolve().parents[1]


# --- fixtures: one tiny model, one tiny lab, backends loaded once ------------------------------------------------

@pytest.fixture(scope="session")
def lab(make_lab) -> Path:
    return make_lab(n_train=2, n_test=6, seed=0, long_side=128)


@pytest.fixture(scope="session")
def generate_backend(tiny_model, score_backend):
    from portraitcraft.runners.qwen import QwenBackend, QwenSettings

    # The same loaded weights (loaded once from disk by score_backend) under the generate protocol.
    loaded = (score_backend.model, score_backend.processor, score_backend.identity)
    return QwenBackend(QwenSettings(model=str(tiny_model), protocol="generate", max_new_tokens=6), loaded=loaded)


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def without_timing(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in ("seconds", "run")}


# --- prompts ----------------------------------------------------------------------------------------------------

def test_generate_prompt_keeps_labels_hidden_and_carries_the_question():
    options = {"A": "first", "B": "second", "C": "third", "D": "fourth"}
    prompt = generate_prompt("Regarding the Sharpness in this image, which?", options)
    for name in ATTRIBUTE_NAMES:
        assert f"{name}: level={HIDDEN_LEVEL}\n" in prompt + "\n"
        assert f'"{name}": "<Good|Medium|Poor>"' in prompt
    assert not any(f"level={level}" in prompt for level in LEVELS)
    assert "Regarding the Sharpness in this image, which?" in prompt and "B. second" in prompt
    assert "Return ONLY valid JSON" in prompt


def test_prompt_hashes_name_each_protocol():
    assert prompt_hash("generate") != prompt_hash("score")
    assert prompt_hash("score") == prompt_hash("score") and len(prompt_hash("score")) == 16
    with pytest.raises(ValueError, match="unknown protocol"):
        prompt_hash("chat")


def test_quality_words_map_onto_1_to_100():
    assert quality_to_score({w: float(w == "excellent") for w in QUALITY_WORDS}) == pytest.approx(100.0)
    assert quality_to_score({w: float(w == "bad") for w in QUALITY_WORDS}) == pytest.approx(1.0)
    assert quality_to_score({w: 1.0 for w in QUALITY_WORDS}) == pytest.approx(50.5)  # expected value 3 (fair)
    assert "Overall quality: <excellent|good|fair|poor|bad>" in score_prompt(None, None)


# --- the tiny model -------------------------------------------------------------------------------------------

def test_tiny_model_is_a_real_small_qwen3_vl(tiny_model, score_backend):
    size = sum(p.stat().st_size for p in tiny_model.rglob("*") if p.is_file())
    assert size < 4 * 2**20
    assert score_backend.model.config.model_type == "qwen3_vl"
    assert type(score_backend.model).__name__ == "Qwen3VLForConditionalGeneration"
    assert score_backend.identity["model_revision"].startswith("sha256:")
    # Every score candidate is one token of the loaded tokenizer, read where the template writes it.
    for slot in score_backend.slots:
        assert len(set(slot.candidate_ids)) == len(slot.slot.candidates)
        words = [score_backend.tokenizer.decode([i]).strip() for i in slot.candidate_ids]
        assert words == list(slot.slot.candidates)


def test_image_pixel_budget_is_applied_and_recorded(lab, score_backend):
    dataset = open_dataset(lab)
    item = split_items(dataset, "test", limit=1)[0]
    image = dataset.open_image(item.image_path, max_side=score_backend.max_side)
    inputs = score_backend.encode([item], [image])
    t, h, w = inputs["image_grid_thw"][0].tolist()
    # patches of 16 pixels, merged 2x2 into one visual token each
    assert (inputs["input_ids"][0] == score_backend.model.config.image_token_id).sum().item() == t * h * w // 4
    assert h * w * 16 * 16 <= score_backend.pixel_budget["longest_edge"]
    assert score_backend.config()["pixel_budget"] == score_backend.pixel_budget


def test_a_candidate_that_is_not_one_token_is_refused(score_backend, monkeypatch):
    from portraitcraft.prompts import ScoreSlot
    from portraitcraft.runners import qwen

    monkeypatch.setattr(qwen, "SCORE_SLOTS", (ScoreSlot("Sharpness", "Sharpness:", ("Good", "Xylophonic")),))
    with pytest.raises(qwen.ModelLoadError, match="Xylophonic"):
        score_backend._resolve_slots()


def test_a_hub_id_offline_fails_at_once_with_a_clear_message(monkeypatch, tmp_path):
    from portraitcraft.runners.qwen import ModelLoadError, resolve_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(ModelLoadError, match="not a local folder.*--model"):
        resolve_model("portraitcraft-tests/no-such-model-4b")
    assert time.perf_counter() - start < 10
    with pytest.raises(ModelLoadError, match="no such model folder"):
        resolve_model(str(tmp_path / "missing"))


# --- score ------------------------------------------------------------------------------------------------------

def test_score_records_structure_and_determinism(lab, score_backend, tmp_path):
    dataset = open_dataset(lab)
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    summary = run_predictions(score_backend, dataset, split="test", out=first, limit=2, batch_size=2, progress=False)
    run_predictions(score_backend, dataset, split="test", out=second, limit=2, batch_size=2, progress=False)
    assert summary.written_ok == 2 and not summary.failures and summary.selected == 2
    records = lines_of(first)
    assert [without_timing(r) for r in records] == [without_timing(r) for r in lines_of(second)]
    questions = {i.image_path: i for i in split_items(dataset, "test")}
    for rec in records:
        assert rec["status"] == "ok" and rec["raw_text"] is None and rec["seconds"] > 0
        probs = rec["probabilities"]
        assert set(probs["criteria"]) == set(ATTRIBUTE_NAMES)
        for name, dist in probs["criteria"].items():
            assert list(dist) == list(LEVELS) and math.isclose(sum(dist.values()), 1.0, rel_tol=1e-9)
            assert rec["parsed"]["criteria"][name] == max(dist, key=dist.get)
        assert list(probs["answer"]) == list(ANSWER_LETTERS)
        assert rec["parsed"]["answer"] == max(probs["answer"], key=probs["answer"].get)
        assert list(probs["total_score"]) == list(QUALITY_WORDS)
        assert rec["parsed"]["total_score"] == pytest.approx(quality_to_score(probs["total_score"]))
        assert 1 <= rec["parsed"]["total_score"] <= 100
        assert all(0 < m <= 1 for m in probs["mass"].values())
        assert rec["tokens"]["generated"] == 0 and rec["tokens"]["prompt"] > 0
        assert questions[rec["image_path"]].question is not None
        run = rec["run"]
        assert run["backend"] == "transformers" and run["protocol"] == "score"
        assert run["prompt_hash"] == prompt_hash("score") and run["model"] == score_backend.settings.model
        assert run["pixel_budget"]["longest_edge"] == score_backend.settings.max_pixels
        assert run["packages"]["transformers"] and run["packages"]["torch"]
    read = read_predictions(first)  # the evaluator reads what the runner wrote
    assert len(read) == 2 and read.status == ["ok"] * 2


def test_score_prefix_cache_matches_a_full_forward_pass(lab, score_backend):
    """The probabilities read from the expanded prefix cache equal those of one forward pass over prefix + head."""
    import torch

    dataset = open_dataset(lab)
    items = split_items(dataset, "test", limit=2)
    images = [dataset.open_image(i.image_path, max_side=score_backend.max_side) for i in items]
    with torch.inference_mode():
        batched, _ = score_backend.slot_probabilities(items, images)  # two images, left padded
        alone, _ = score_backend.slot_probabilities(items[1:], images[1:])
        inputs = score_backend.encode(items[1:], images[1:])
        for slot in (score_backend.slots[0], score_backend.slots[-1]):  # an attribute and the overall quality
            head = torch.tensor([slot.head_ids])
            full = score_backend.model(
                input_ids=torch.cat([inputs["input_ids"], head], dim=1),
                attention_mask=torch.ones(1, inputs["input_ids"].shape[1] + head.shape[1], dtype=torch.long),
                mm_token_type_ids=torch.cat([inputs["mm_token_type_ids"], torch.zeros_like(head)], dim=1),
                pixel_values=inputs["pixel_values"], image_grid_thw=inputs["image_grid_thw"])
            expected = torch.softmax(full.logits[0, -1].double(), dim=-1)[list(slot.candidate_ids)]
            torch.testing.assert_close(alone[0][slot.slot.field], expected, rtol=1e-4, atol=1e-6)
            torch.testing.assert_close(batched[1][slot.slot.field], expected, rtol=1e-3, atol=1e-5)


# --- generate ---------------------------------------------------------------------------------------------------

def test_generate_records_raw_text_parsed_fields_and_decoding(lab, generate_backend, tmp_path):
    dataset = open_dataset(lab)
    out = tmp_path / "gen.jsonl"
    summary = run_predictions(generate_backend, dataset, split="test", out=out, limit=2, batch_size=2, progress=False)
    assert summary.written_ok == 2
    for rec in lines_of(out):
        assert isinstance(rec["raw_text"], str)
        assert set(rec["parsed"]["criteria"]) == set(ATTRIBUTE_NAMES)
        assert set(rec["parsed"]["failures"]) <= {"total_score", "answer", *ATTRIBUTE_NAMES}
        assert 1 <= rec["tokens"]["generated"] <= 6
        assert rec["run"]["decoding"] == {"sampling": "greedy", "do_sample": False, "max_new_tokens": 6, "seed": 0,
                                          "repetition_penalty": generate_backend.generation.repetition_penalty}
        assert rec["run"]["prompt_hash"] == prompt_hash("generate")
    # Greedy decoding is deterministic: the same images alone give the same text as in a batch of two.
    again = tmp_path / "gen1.jsonl"
    run_predictions(generate_backend, dataset, split="test", out=again, limit=2, batch_size=1, progress=False)
    assert [r["raw_text"] for r in lines_of(again)] == [r["raw_text"] for r in lines_of(out)]


# --- resuming and failures ----------------------------------------------------------------------------------------

def test_resume_skips_done_images_and_cuts_a_torn_last_line(lab, score_backend, tmp_path):
    dataset = open_dataset(lab)
    out = tmp_path / "resume.jsonl"
    run_predictions(score_backend, dataset, split="test", out=out, limit=3, progress=False)
    complete = lines_of(out)
    data = out.read_bytes()
    out.write_bytes(data[: len(data) - 40])  # the writer died inside the third record
    assert len(lines_of_valid(out)) == 2

    summary = run_predictions(score_backend, dataset, split="test", out=out, limit=3, progress=False)
    assert summary.recovered and "torn" in summary.recovered
    assert summary.already_done == 2 and summary.written_ok == 1
    resumed = lines_of(out)
    assert [without_timing(r) for r in resumed] == [without_timing(r) for r in complete]

    summary = run_predictions(score_backend, dataset, split="test", out=out, limit=3, progress=False)
    assert summary.already_done == 3 and summary.written_ok == 0 and summary.recovered is None
    assert recover_torn_tail(out) is None


def lines_of_valid(path: Path) -> list[dict]:
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return records


def test_a_file_of_another_configuration_is_refused(lab, score_backend, generate_backend, tmp_path):
    dataset = open_dataset(lab)
    out = tmp_path / "mixed.jsonl"
    run_predictions(score_backend, dataset, split="test", out=out, limit=1, progress=False)
    before = out.read_bytes()
    with pytest.raises(RunError, match="configuration .* new --out"):
        run_predictions(generate_backend, dataset, split="test", out=out, limit=2, progress=False)
    assert out.read_bytes() == before


def test_an_unreadable_image_is_recorded_as_failed_and_the_run_goes_on(lab, score_backend, tmp_path):
    import shutil

    root = tmp_path / "lab"
    shutil.copytree(lab, root)
    dataset = open_dataset(root)
    items = split_items(dataset, "test", limit=3)
    broken = dataset.image_file(items[1].image_path)
    broken.write_bytes(b"not a jpeg at all")
    out = tmp_path / "failures.jsonl"
    summary = run_predictions(score_backend, dataset, split="test", out=out, limit=3, batch_size=3, progress=False)
    assert summary.written_ok == 2
    assert [name for name, _ in summary.failures] == [items[1].image_path]
    assert str(broken) in summary.failures[0][1]
    assert any(items[1].image_path in line for line in summary.lines())
    records = lines_of(out)
    assert [r["status"] for r in records] == ["ok", "failed", "ok"]
    assert records[1]["parsed"] is None and records[1]["error"]
    # A rerun tries the failed image again (still broken: failed again), and keeps one record per image.
    again = run_predictions(score_backend, dataset, split="test", out=out, limit=3, progress=False)
    assert (again.already_done, again.retried, [n for n, _ in again.failures]) == (2, 1, [items[1].image_path])
    assert sorted(r["status"] for r in lines_of(out)) == ["failed", "ok", "ok"]
    # retry_failed=False keeps every record as it is.
    kept = run_predictions(score_backend, dataset, split="test", out=out, limit=3, progress=False, retry_failed=False)
    assert (kept.already_done, kept.retried, kept.failures) == (3, 0, [])


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("PORTRAITCRAFT_SLOW_TESTS") != "1",
    reason="two cold `portraitcraft predict` processes (torch import each); set PORTRAITCRAFT_SLOW_TESTS=1",
)
def test_a_run_killed_with_sigkill_resumes_without_loss(lab, tiny_model, tmp_path):
    """A real `portraitcraft predict` process is killed with SIGKILL after its first record; a rerun completes the
    file, every image exactly once, every line valid. (The torn-line repair itself is tested in-process above.)"""
    out = tmp_path / "killed.jsonl"
    command = [sys.executable, "-m", "portraitcraft.cli", "predict", "--data", str(lab), "--split", "test",
               "--model", str(tiny_model), "--protocol", "score", "--out", str(out), "--limit", "6", "--no-progress"]
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), HF_HUB_OFFLINE="1")
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 900  # a cold start imports torch: slow on a loaded machine
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= 1:
                break
            time.sleep(0.05)
        assert process.poll() is None, f"the run ended before it could be killed: {process.stderr.read().decode()}"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    partial = lines_of_valid(out)
    assert 1 <= len(partial) < 6

    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    records = lines_of(out)
    assert sorted(r["image_path"] for r in records) == sorted(
        i.image_path for i in split_items(open_dataset(lab), "test")
    )
    assert f"{len(partial)} of 6 already done" in result.stdout


def test_predict_command_writes_records_the_evaluator_reads(lab, tiny_model, tmp_path, score_backend, monkeypatch):
    """... and, off a terminal, draws no progress bar: neither its own nor transformers' while loading the model."""
    from transformers.utils import logging as transformers_logging
    from typer.testing import CliRunner

    from portraitcraft.cli import app

    out = tmp_path / "cli.jsonl"
    common = ["predict", "--data", str(lab), "--model", str(tiny_model), "--out", str(out), "--limit", "2"]
    # transformers' own "Loading weights" bar on: off a terminal (CliRunner's stderr) the load must turn it off.
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    transformers_logging.enable_progress_bar()
    result = CliRunner().invoke(app, [*common, "--protocol", "score", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert not transformers_logging.is_progress_bar_enabled()
    assert "Loading weights" not in result.stderr and "\r" not in result.stderr and "it/s" not in result.stderr
    assert "wrote 2 record(s)" in result.output
    assert len(read_predictions(out)) == 2
    result = CliRunner().invoke(app, [*common, "--protocol", "generate", "--max-new-tokens", "4"])
    assert result.exit_code == 2
    assert "new --out" in result.output + (getattr(result, "stderr", "") or "")


# --- the fast paths give the reference paths' records ---------------------------------------------------------

@pytest.fixture(scope="session")
def reference_score_backend(tiny_model, score_backend):
    from portraitcraft.runners.qwen import QwenBackend, QwenSettings

    loaded = (score_backend.model, score_backend.processor, score_backend.identity)
    return QwenBackend(QwenSettings(model=str(tiny_model), protocol="score", score_impl="reference"), loaded=loaded)


def test_block_score_gives_the_reference_records(lab, score_backend, reference_score_backend, tmp_path):
    """One prefix per image with all slot heads under a block mask, logits only where read: the records equal those
    of the reference path (a prefix cache copy per slot), alone and in a left-padded batch."""
    assert score_backend.score_impl == "block" and score_backend.metadata()["score_impl"] == "block"
    assert score_backend.config() == reference_score_backend.config()  # one configuration: files are shared
    dataset = open_dataset(lab)
    lm_head_inputs = []
    hook = score_backend.model.lm_head.register_forward_hook(lambda module, args, out: lm_head_inputs.append(
        tuple(args[0].shape)))
    try:
        block = {size: run_predictions(score_backend, dataset, split="test", out=tmp_path / f"block{size}.jsonl",
                                       limit=3, batch_size=size, progress=False) for size in (1, 3)}
    finally:
        hook.remove()
    # The LM head ran on the slots' read positions only: (images, slots, hidden), never on the prompt.
    assert lm_head_inputs and all(shape[1:] == (len(score_backend.slots), score_backend.model.config.text_config
                                                .hidden_size) for shape in lm_head_inputs)
    assert sorted(shape[0] for shape in lm_head_inputs) == [1, 1, 1, 3]
    run_predictions(reference_score_backend, dataset, split="test", out=tmp_path / "reference.jsonl", limit=3,
                    batch_size=1, progress=False)
    reference = lines_of(tmp_path / "reference.jsonl")
    assert len({r["tokens"]["prompt"] for r in reference}) > 1  # prompts of different lengths: the batch is padded
    worst = 0.0
    for size, summary in block.items():
        assert summary.written_ok == 3
        for new, old in zip(lines_of(tmp_path / f"block{size}.jsonl"), reference, strict=True):
            assert new["image_path"] == old["image_path"] and new["tokens"] == old["tokens"]
            assert new["parsed"]["criteria"] == old["parsed"]["criteria"]
            assert new["parsed"]["answer"] == old["parsed"]["answer"]
            assert new["parsed"]["failures"] == old["parsed"]["failures"]
            assert new["parsed"]["total_score"] == pytest.approx(old["parsed"]["total_score"], abs=1e-6)
            for part in ("criteria", "answer", "total_score", "mass"):
                for name, dist in _flat(new["probabilities"][part]).items():
                    difference = abs(dist - _flat(old["probabilities"][part])[name])
                    worst = max(worst, difference)
                    assert difference <= 1e-5, (size, part, name)
    assert worst < 1e-5


def _flat(value, prefix=""):
    if isinstance(value, dict):
        return {k: v for key, sub in value.items() for k, v in _flat(sub, f"{prefix}{key}/").items()}
    return {prefix: value}


def test_image_processing_on_a_device_runs_through_the_processor(lab, score_backend, tiny_model):
    """``image_device`` reaches the torchvision image processor; on the CPU it gives the same pixels (the GPU is
    the point, but this machine has none)."""
    from portraitcraft.runners.qwen import QwenBackend, QwenSettings

    assert score_backend.image_device is None  # auto: the CPU model's images stay on the CPU processor
    loaded = (score_backend.model, score_backend.processor, score_backend.identity)
    on_device = QwenBackend(QwenSettings(model=str(tiny_model), protocol="score", image_device="cpu:0"), loaded=loaded)
    assert on_device.config()["image_device"] == "cpu"  # recorded: GPU resizing rounds differently
    dataset = open_dataset(lab)
    items = split_items(dataset, "test", limit=2)
    images = [dataset.open_image(i.image_path, max_side=2048) for i in items]
    for key, value in score_backend.prepare(items, images).items():
        assert on_device.prepare(items, images)[key].equal(value), key


def test_the_run_loop_prepares_the_next_batch_while_the_model_runs(lab, tmp_path):
    """The next batch is opened and prepared in a thread while `predict` runs the current one, and `predict` gets
    the preparation of its own images."""
    import threading

    from portraitcraft.runners import Outcome

    class Recorder:
        max_side = 64

        def __init__(self):
            self.prepared_next = threading.Event()
            self.calls = []

        def config(self):
            return {"backend": "recorder"}

        def metadata(self):
            return self.config()

        def prepare(self, items, images):
            self.calls.append(("prepare", [i.image_path for i in items], threading.current_thread().name))
            if len(self.calls) > 1:
                self.prepared_next.set()
            return [i.image_path for i in items]

        def predict(self, items, images, prepared=None):
            assert prepared == [i.image_path for i in items]
            self.calls.append(("predict", [i.image_path for i in items], threading.current_thread().name))
            if len(self.calls) == 2:  # the first batch: batch two is being prepared meanwhile
                assert self.prepared_next.wait(timeout=30), "the next batch was not prepared during this one"
            return [Outcome(parsed={"total_score": 50.0, "criteria": {}, "answer": None}) for _ in items]

    backend = Recorder()
    summary = run_predictions(backend, open_dataset(lab), split="test", out=tmp_path / "r.jsonl", limit=4,
                              batch_size=2, progress=False)
    assert summary.written_ok == 4
    kinds = [c[0] for c in backend.calls]
    assert kinds == ["prepare", "predict", "prepare", "predict"] or kinds == ["prepare", "prepare", "predict",
                                                                              "predict"]
    assert all(name.startswith("portraitcraft-prefetch") for kind, _, name in backend.calls if kind == "prepare")
    assert all(name == threading.main_thread().name for kind, _, name in backend.calls if kind == "predict")


def test_static_cache_decoding_gives_the_same_greedy_text(lab, score_backend, tiny_model):
    """``decode_impl="static"`` (the static KV cache that the compiled decoding uses on CUDA, here without compiling:
    compiling the tiny model takes a minute on this CPU) writes the same greedy answers as transformers' default
    cache. Whitespace is suppressed so that the random model writes varied tokens, not a run of newlines."""
    from portraitcraft.runners.qwen import QwenBackend, QwenSettings

    loaded = (score_backend.model, score_backend.processor, score_backend.identity)
    backends = {impl: QwenBackend(QwenSettings(model=str(tiny_model), protocol="generate", max_new_tokens=10,
                                               decode_impl=impl), loaded=loaded) for impl in ("auto", "static")}
    assert backends["auto"].decode_impl == "dynamic" and backends["auto"].generation.cache_implementation is None
    assert backends["static"].generation.cache_implementation == "static"
    assert backends["static"].metadata()["decode_impl"] == "static"
    assert backends["static"].config() == backends["auto"].config()
    assert backends["static"].generation.disable_compile  # compiling is the "compiled" choice (CUDA's default)
    compiled = QwenBackend(QwenSettings(model=str(tiny_model), protocol="generate", decode_impl="compiled"),
                           loaded=loaded)
    assert compiled.generation.cache_implementation == "static" and not compiled.generation.disable_compile
    blank = [i for token, i in score_backend.tokenizer.get_vocab().items()
             if not token.replace("Ġ", "").replace("Ċ", "").strip()]
    dataset = open_dataset(lab)
    items = split_items(dataset, "test", limit=2)
    images = [dataset.open_image(i.image_path, max_side=2048) for i in items]
    texts = {}
    for impl, backend in backends.items():
        backend.generation.update(suppress_tokens=blank, no_repeat_ngram_size=2, min_new_tokens=10)
        texts[impl] = [(o.raw_text, o.tokens) for o in backend.predict(items, images)]  # a left-padded batch of 2
    assert texts["static"] == texts["auto"]
    assert texts["auto"][0][0] != texts["auto"][1][0] and len(set(texts["auto"][0][0])) > 5  # varied text


def test_the_gpu_benchmark_runs_end_to_end_on_the_cpu(tmp_path, one_torch_thread, capsys):
    """`scripts/gpu_bench_qwen.py --tiny` (the dry run of the GPU benchmark): both paths of both protocols, the time
    split, the achieved FLOP rates and the fast/reference ratio, in a report that says it is not a GPU figure."""
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import gpu_bench_qwen
    finally:
        sys.path.remove(str(REPO / "scripts"))
    out = tmp_path / "bench.json"
    assert gpu_bench_qwen.main(["--tiny", "--out", str(out), "--workloads", "score", "generate", "--batch-sizes", "2",
                                "--batches", "1", "--new-tokens", "3", "--peak-size", "64"]) == 0
    report = json.loads(out.read_text())
    assert "not a GPU measurement" in report["what"] and report["gpu"] is None
    rows = {(r["workload"], r["implementation"]): r for r in report["results"]}
    assert set(rows) == {(w, i) for w in ("score", "generate") for i in ("reference", "fast")}
    assert all(r["status"] == "ok" and r["images_per_second"] > 0 for r in rows.values())
    assert set(rows["score", "fast"]["stage_seconds"]) == {"preprocessing", "vision tower", "LM prefill", "slots"}
    assert set(rows["score", "reference"]["stage_seconds"]) == {"preprocessing", "vision tower + LM prefill", "slots"}
    assert set(rows["generate", "fast"]["stage_seconds"]) == {"preprocessing", "vision tower", "LM prefill", "decode"}
    assert rows["score", "fast"]["score_impl"] == "block" and rows["score", "reference"]["score_impl"] == "reference"
    assert rows["generate", "fast"]["decode_impl"] == "static" and rows["generate", "fast"]["generated_tokens"] == 3
    for workload in ("score", "generate"):
        for row in (rows[workload, "reference"], rows[workload, "fast"]):
            rates = row["stage_tflops"]  # decode is a difference of two timings: at this size it can be noise
            assert all(v > 0 for k, v in rates.items() if k != "decode") and 0 < row["model_peak_fraction"]
    assert math.isfinite(rows["generate", "fast"]["ms_per_token"])
    assert "speedup" in rows["score", "fast"] and "speedup" in rows["generate", "fast"]
    printed = capsys.readouterr().out
    assert "fast / reference" in printed and "| workload | batch | path |" in printed


# --- the validation split ---------------------------------------------------------------------------------------------

def test_the_validation_split_is_refused_to_a_checkpoint_trained_on_it(lab, generate_backend, tmp_path, monkeypatch):
    """`predict --split validation` predicts the seeded held-out images of train; a checkpoint whose finetune.json
    says it held out none of them (a recipe training on every record) is refused before anything is written."""
    from portraitcraft.labels import held_out_record, training_record, validation_images
    from portraitcraft.runners.qwen import checkpoint_held_out

    dataset = open_dataset(lab)
    held = validation_images(dataset)
    assert [item.image_path for item in split_items(dataset, "validation")] == held
    with pytest.raises(RunError, match="no Track 1 split 'dev' .*validation"):
        split_items(dataset, "dev")

    (tmp_path / "finetune.json").write_text(json.dumps(
        {"split": {"validation": [], "validation_fraction": 0.0, "seed": 42}}))
    every_record = checkpoint_held_out(tmp_path)
    assert every_record == held_out_record([], fraction=0.0, seed=42)
    monkeypatch.setattr(generate_backend, "held_out", every_record, raising=False)
    out = tmp_path / "val.jsonl"
    with pytest.raises(RunError, match="--split validation refused .*trained on every labelled training record"):
        run_predictions(generate_backend, dataset, split="validation", out=out, progress=False)
    assert not out.exists()
    monkeypatch.setattr(generate_backend, "held_out", held_out_record(held, fraction=0.1, seed=0), raising=False)
    summary = run_predictions(generate_backend, dataset, split="validation", out=out, limit=1, progress=False)
    assert summary.selected == 1 and read_predictions(out).runs[0]["held_out"]["images"] == len(held)

    # A checkpoint that records the training data it learnt from, another dataset's: this split is not a leak.
    other = tmp_path / "other"
    other.mkdir()
    (other / "finetune.json").write_text(json.dumps({"split": {
        "validation": [], "validation_fraction": 0.0, "seed": 42,
        "training": training_record([f"images_01/elsewhere_{i}.jpg" for i in range(5)])}}))
    monkeypatch.setattr(generate_backend, "held_out", checkpoint_held_out(other), raising=False)
    other_out = tmp_path / "other.jsonl"
    summary = run_predictions(generate_backend, dataset, split="validation", out=other_out, limit=1, progress=False)
    assert summary.selected == 1 and read_predictions(other_out).runs[0]["held_out"]["training"]["images"] == 5
