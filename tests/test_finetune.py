"""Fine-tuning on the real code path: the tiny random Qwen3-VL built here, trained on a tiny composition lab on the CPU,
saved, reloaded by the runner and predicting; resumed runs reach the same weights as uninterrupted ones."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("torchvision")

from portraitcraft.attributes import ATTRIBUTE_NAMES, LEVELS  # noqa: E402
from portraitcraft.finetune import (  # noqa: E402
    INCOMING_DIR,
    STATE_DIR,
    Example,
    FinetuneError,
    FinetuneSettings,
    Plan,
    commit_incoming,
    demo_run_dir,
    generate_target,
    lr_factor,
    mark_complete,
    parameter_counts,
    quality_word,
    read_log,
    run_finetune,
    score_target_text,
    score_targets,
    state_memory_gib,
    training_data,
)
from portraitcraft.parsing import parse_model_output  # noqa: E402
from portraitcraft.prompts import QUALITY_WORDS, SCORE_SLOTS, quality_to_score  # noqa: E402

# A fixed batch: the lab's 4 training images, 1 held out, the other 3 in every step; a learning rate at which
# the tiny model's loss falls clearly within a few steps.
FAST = dict(reasons=False, epochs=1, lr=2e-3, batch_size=3, grad_accum=1, max_steps=4, warmup_ratio=0.0,
            max_pixels=128 * 128, min_pixels=32 * 32, validation_fraction=0.25, validation_predict=0,
            eval_every=2, save_every=2)


# --- fixtures: one tiny model, one tiny lab, one training run of each kind ---------------------------------------

@pytest.fixture(scope="module")
def lab(make_lab) -> Path:
    return make_lab(n_train=4, n_test=2, seed=0, long_side=128)


@pytest.fixture(scope="module")
def dataset(lab):
    from portraitcraft.sources import open_dataset

    return open_dataset(lab)


def settings_for(lab: Path, model: Path, out: Path, **overrides) -> FinetuneSettings:
    return FinetuneSettings(data=str(lab), model=str(model), out=str(out), **{**FAST, **overrides})


@pytest.fixture(scope="module")
def generate_run(tmp_path_factory, lab, dataset, tiny_model):
    """Four uninterrupted optimizer steps, generate target, full fine-tune (checkpoints at steps 2 and 4)."""
    out = tmp_path_factory.mktemp("runs") / "generate"
    summary = run_finetune(settings_for(lab, tiny_model, out), dataset=dataset, progress=False)
    return out, summary


@pytest.fixture(scope="module")
def score_run(tmp_path_factory, lab, dataset, tiny_model):
    out = tmp_path_factory.mktemp("runs") / "score"
    summary = run_finetune(settings_for(lab, tiny_model, out, target="score", max_steps=3, eval_every=0),
                           dataset=dataset, progress=False)
    return out, summary


def weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    state = {}
    for file in sorted(folder.glob("*.safetensors")):
        state.update(load_file(str(file)))
    return state


# --- targets ------------------------------------------------------------------------------------------------------

def example(**overrides) -> Example:
    values = dict(image_path="a.jpg", levels={a: LEVELS[k % 3] for k, a in enumerate(ATTRIBUTE_NAMES)},
                  reasons={a: f"Reason about {a.lower()}, with \"quotes\" and é." for a in ATTRIBUTE_NAMES},
                  total_score=72.0)
    return Example(**{**values, **overrides})


def test_generate_target_is_the_reference_conversion_and_the_parser_reads_it():
    text = generate_target(example())
    answer = json.loads(text)
    assert list(answer) == ["criteria", "total_score"] and answer["total_score"] == 72
    assert list(answer["criteria"]) == list(ATTRIBUTE_NAMES)
    assert answer["criteria"]["Sharpness"] == {"level": example().levels["Sharpness"],
                                               "reason": 'Reason about sharpness, with "quotes" and é.'}
    assert text.startswith('{\n  "criteria": {\n    "Color Harmony": {\n      "level"') and "é" in text
    parsed = parse_model_output(text)
    assert parsed.is_complete is False and set(parsed.failures) == {"answer"}  # no question in training records
    assert parsed.levels == example().levels and parsed.total_score == 72.0
    # Without reasons, levels are bare words; a labelled question adds its answer after the score.
    short = json.loads(generate_target(example(total_score=61.5, question="Q?", options={"A": "a"}, answer="C"),
                                       reasons=False))
    assert short["criteria"]["Sharpness"] == example().levels["Sharpness"]
    assert (
        list(short) == ["criteria", "total_score", "answer"] and short["total_score"] == 61.5 and short["answer"] == "C"
    )


def test_quality_word_inverts_the_score_protocols_mapping():
    for word in QUALITY_WORDS:
        assert quality_word(quality_to_score({w: float(w == word) for w in QUALITY_WORDS})) == word
    assert quality_word(1) == "bad" and quality_word(100) == "excellent" and quality_word(50.5) == "fair"
    # Boundaries halfway between two words' scores: 1 + 99/8 * (2k + 1).
    assert quality_word(13.0) == "bad" and quality_word(13.5) == "poor"
    assert quality_word(87.5) == "good" and quality_word(88.0) == "excellent"


def test_score_targets_name_one_candidate_per_slot():
    targets = score_targets(example(total_score=90))
    assert targets["total_score"] == "excellent" and "answer" not in targets
    for slot in SCORE_SLOTS:
        if slot.field in targets:
            assert targets[slot.field] in slot.candidates
    assert score_targets(example(question="Q?", options={"A": "a"}, answer="B"))["answer"] == "B"
    lines = score_target_text(example(total_score=90)).splitlines()
    assert lines[0] == "Overall quality: excellent" and lines[3] == f"Sharpness: {example().levels['Sharpness']}"
    assert len(lines) == 14


def test_plan_shows_every_image_once_per_epoch_and_the_schedule_warms_up_then_decays():
    plan = Plan(n_train=10, batch_size=3, grad_accum=2, epochs=2, seed=5)
    assert (plan.micro_per_epoch, plan.steps_per_epoch, plan.total_steps) == (4, 2, 4)
    for epoch in range(2):
        seen = [i for step in range(epoch * 2 + 1, epoch * 2 + 3) for batch in plan.step(step)[1] for i in batch]
        assert sorted(seen) == list(range(10))
    assert plan.step(2)[0] == 1.0 and plan.step(3)[0] == 1.5
    assert plan.step(1)[1] != Plan(10, 3, 2, 2, seed=6).step(1)[1]
    assert Plan(10, 3, 2, 0.5, 0).total_steps == 1 and Plan(10, 3, 2, 2, 0, max_steps=7).total_steps == 7
    factors = [lr_factor(s, 100, 0.03) for s in range(100)]
    assert factors[0] < factors[1] < factors[2] < factors[3] == 1.0
    assert all(a >= b for a, b in zip(factors[3:], factors[4:])) and factors[-1] < 0.01


def test_validation_split_is_the_reports_and_is_recorded(dataset):
    from portraitcraft.labels import validation_split

    settings = FinetuneSettings(data="-", validation_fraction=0.25, seed=3)
    data = training_data(dataset, settings)
    truth, fit = validation_split(dataset, fraction=0.25, seed=3)
    assert [e.image_path for e in data.validation] == truth.image_paths
    assert [e.image_path for e in data.train] == fit
    assert not set(truth.image_paths) & set(fit) and len(data.validation) == 1 and len(data.train) == 3
    record = data.record(settings)
    assert record["validation"] == truth.image_paths and record["seed"] == 3
    other = training_data(dataset, FinetuneSettings(data="-", validation_fraction=0.25, seed=4))
    assert {e.image_path for e in data.validation} | {e.image_path for e in other.validation} <= {
        e.image_path for e in data.train + data.validation}
    # The labels are the data's: levels by the benchmark rule, reasons as written.
    images = dataset.images().set_index("image_path")
    first = data.train[0]
    assert first.total_score == images.loc[first.image_path, "total_score"]
    assert first.levels["Sharpness"] == images.loc[first.image_path, "sharpness_level"]
    assert all(isinstance(r, str) and r for r in first.reasons.values())


def test_a_checkpoint_is_moved_into_place_only_when_complete(tmp_path):
    out = tmp_path / "ckpt"
    (out / STATE_DIR).mkdir(parents=True)
    (out / "model.safetensors").write_text("old")
    (out / STATE_DIR / "state.json").write_text('{"step": 2}')
    incoming = out / INCOMING_DIR
    (incoming / STATE_DIR).mkdir(parents=True)
    (incoming / "model-00001-of-00002.safetensors").write_text("new1")
    (incoming / STATE_DIR / "state.json").write_text('{"step": 4}')
    (incoming / "COMPLETE").write_text('["model-00001-of')  # a save killed while sealing
    commit_incoming(out)  # not sealed: the previous checkpoint stays
    assert not incoming.exists() and (out / "model.safetensors").read_text() == "old"
    assert json.loads((out / STATE_DIR / "state.json").read_text())["step"] == 2

    (incoming / STATE_DIR).mkdir(parents=True)
    (incoming / "model-00001-of-00002.safetensors").write_text("new1")
    (incoming / "model-00002-of-00002.safetensors").write_text("new2")
    (incoming / STATE_DIR / "state.json").write_text('{"step": 4}')
    mark_complete(incoming)
    # Killed after moving one file: the next start finishes the move.
    os.replace(incoming / "model-00001-of-00002.safetensors", out / "model-00001-of-00002.safetensors")
    commit_incoming(out)
    assert not incoming.exists() and not (out / "model.safetensors").exists()  # the old weights are gone
    assert sorted(p.name for p in out.glob("*.safetensors")) == ["model-00001-of-00002.safetensors",
                                                                  "model-00002-of-00002.safetensors"]
    assert json.loads((out / STATE_DIR / "state.json").read_text())["step"] == 4


def test_a_folder_that_is_not_a_finetuning_is_refused(tmp_path, lab, dataset):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FinetuneError, match=f"{out}: not empty and holds no finetune.json"):
        run_finetune(FinetuneSettings(data=str(lab), model="-", out=str(out)), dataset=dataset, progress=False)
    with pytest.raises(ValueError, match="target 'chat'"):
        FinetuneSettings(target="chat")


def test_the_answer_alone_carries_the_loss(lab, dataset, tiny_model, tmp_path):
    from portraitcraft.finetune import FineTuner

    tuner = FineTuner(settings_for(lab, tiny_model, tmp_path / "unused", reasons=True))
    data = training_data(dataset, tuner.settings)
    examples = data.train[:2]
    images = [dataset.open_image(e.image_path, max_side=2048) for e in examples]
    inputs, labels, longest = tuner.encode_generate(examples, images)
    for row, e in enumerate(examples):
        kept = labels[row][labels[row] != -100].tolist()
        assert tuner.tokenizer.decode(kept) == generate_target(e) + "<|im_end|>"
        assert len(kept) <= longest and (labels[row, -len(kept):] != -100).all()
    assert (inputs["input_ids"] == tuner.base.config.image_token_id).sum() > 0
    assert (labels[inputs["input_ids"] == tuner.base.config.image_token_id] == -100).all()
    assert (labels[inputs["attention_mask"] == 0] == -100).all()
    # The cost estimate's parameter counts follow the same split into trained and frozen parts.
    counts = parameter_counts(tuner.base)
    assert counts["mergers"] + counts["language_model"] == sum(p.numel() for _, p in tuner.trainable)
    assert counts["vision_encoder"] + counts["mergers"] + counts["language_model"] == sum(
        p.numel() for p in tuner.base.parameters())


def test_activation_checkpointing_recomputes_the_same_step(lab, dataset, tiny_model, tmp_path):
    """The GPU default (checkpointing on) must train exactly as the CPU default does, only with less memory."""
    import torch

    from portraitcraft.finetune import FineTuner

    results = {}
    for checkpointing in (False, True):
        tuner = FineTuner(settings_for(lab, tiny_model, tmp_path / "unused", gradient_checkpointing=checkpointing))
        assert tuner.base.is_activation_checkpointing is checkpointing
        tuner.configure_schedule(1)
        data = training_data(dataset, tuner.settings)
        images = [dataset.open_image(e.image_path, max_side=2048) for e in data.train[:2]]
        logged = tuner.step([(data.train[:2], images)])
        results[checkpointing] = logged, tuner.trainable_state()
    (plain, plain_weights), (recomputed, recomputed_weights) = results[False], results[True]
    assert recomputed["loss"] == pytest.approx(plain["loss"], rel=1e-5)
    assert recomputed["grad_norm"] == pytest.approx(plain["grad_norm"], rel=1e-4)
    for name, weight in plain_weights.items():
        torch.testing.assert_close(recomputed_weights[name], weight, atol=1e-6, rtol=1e-5)


def test_memory_rule_counts_weights_gradients_and_both_moments():
    counts = {"vision_encoder": 100, "mergers": 10, "language_model": 1000, "lora_adapters": 20}
    assert state_memory_gib(counts, lora=False, precision="bf16-mixed") * 2**30 == 1110 * 4 + 1010 * 12
    assert state_memory_gib(counts, lora=False, precision="bf16") * 2**30 == 1110 * 2 + 1010 * 6
    assert state_memory_gib(counts, lora=True, precision="bf16-mixed") * 2**30 == 1130 * 4 + 30 * 12


# --- a training run -----------------------------------------------------------------------------------------------

def test_training_lowers_the_loss_and_logs_curves(generate_run):
    out, summary = generate_run
    assert summary.status == "finished" and summary.step == summary.total_steps == 4
    log = read_log(out)
    train = log[log["kind"] == "train"]
    validation = log[log["kind"] == "validation"]
    assert train["step"].tolist() == [1, 2, 3, 4] and validation["step"].tolist() == [0, 2, 4]
    assert (train["images"] == 3).all() and (train["tokens"] > 0).all() and (train["grad_norm"] > 0).all()
    losses = train["loss"].tolist()
    assert all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0] - 0.3, losses  # the same three images each step
    v = validation["loss"].tolist()
    assert v[-1] < v[0] - 0.3, v  # and the held-out image's loss falls too
    assert train["lr"].tolist()[0] == pytest.approx(2e-3) and train["lr"].is_monotonic_decreasing
    record = json.loads((out / "finetune.json").read_text())
    assert record["status"] == "finished" and record["step"] == 4 and record["format"] == "portraitcraft.finetune/1"
    assert len(record["split"]["validation"]) == 1 and record["split"]["train_images"] == 3
    assert record["split"]["training"]["images"] == 4  # the data it learnt from: the 4 fully labelled records
    assert record["settings"]["lr"] == 2e-3 and record["precision"] == "fp32"
    assert 0 < record["trainable_parameters"] < record["parameters"]
    assert record["target_tokens"]["unit"] == "tokens" and record["target_tokens"]["max"] > 50
    assert "--max-pixels 16384" in record["predict_hint"] and not (out / INCOMING_DIR).exists()


def test_only_the_language_model_and_mergers_change(generate_run, tiny_model):
    out, _ = generate_run
    before, after = weights(tiny_model), weights(out)
    assert set(before) == set(after)
    changed = {name for name in before if not (before[name] == after[name]).all()}
    frozen = [n for n in before if n.startswith("model.visual.") and "merger" not in n]
    trained = [n for n in before if n not in frozen]
    assert frozen and not changed & set(frozen)  # the vision encoder is exactly as it was
    assert any(".deepstack_merger_list." in n for n in trained) and any(n.startswith("model.visual.merger.")
                                                                         for n in trained)
    assert set(trained) <= changed, sorted(set(trained) - changed)  # every trained tensor moved


def test_the_checkpoint_reloads_in_the_runner_and_predicts(generate_run, dataset, tmp_path):
    from portraitcraft.runners import run_predictions
    from portraitcraft.runners.qwen import QwenBackend, QwenSettings

    out, _ = generate_run
    backend = QwenBackend(QwenSettings(model=str(out), protocol="generate", max_new_tokens=8, max_pixels=128 * 128))
    assert backend.identity["model_source"] == "folder" and backend.model.config.model_type == "qwen3_vl"
    summary = run_predictions(backend, dataset, split="test", out=tmp_path / "p.jsonl", limit=1, progress=False)
    assert summary.written_ok == 1 and not summary.failures
    record = json.loads((tmp_path / "p.jsonl").read_text().splitlines()[0])
    assert record["status"] == "ok" and record["run"]["model"] == str(out) and record["tokens"]["generated"] >= 1


def test_a_stopped_run_resumes_to_the_same_weights(generate_run, lab, dataset, tiny_model, tmp_path):
    out, _ = generate_run
    resumed = tmp_path / "resumed"
    first = run_finetune(settings_for(lab, tiny_model, resumed, stop_after=2), dataset=dataset, progress=False)
    assert first.status == "stopped" and first.step == 2
    assert json.loads((resumed / "finetune.json").read_text())["status"] == "stopped"
    second = run_finetune(settings_for(lab, tiny_model, resumed), dataset=dataset, progress=False)
    assert second.status == "finished" and second.resumed_from == 2 and second.step == 4
    log = read_log(resumed)
    assert log.loc[log["kind"] == "train", "step"].tolist() == [1, 2, 3, 4]  # each step logged once
    reference, result = weights(out), weights(resumed)
    for name, tensor in reference.items():
        assert (tensor == result[name]).all(), name
    uninterrupted = read_log(out)
    assert log.loc[log["kind"] == "train", "loss"].tolist() == uninterrupted.loc[
        uninterrupted["kind"] == "train", "loss"].tolist()
    third = run_finetune(settings_for(lab, tiny_model, resumed), dataset=dataset, progress=False)
    assert third.status == "already finished" and third.step == 4


def test_the_command_resumes_or_refuses_other_settings(generate_run, lab, tiny_model, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from portraitcraft.cli import app

    out, _ = generate_run
    base = ["finetune", "--data", str(lab), "--model", str(tiny_model), "--out", str(out), "--no-reasons",
            "--epochs", "1", "--batch-size", "3", "--grad-accum", "1", "--max-steps", "4", "--max-pixels", "16384",
            "--min-pixels", "1024", "--validation-fraction", "0.25", "--warmup-ratio", "0", "--no-progress"]
    runner = CliRunner()
    done = runner.invoke(app, base + ["--lr", "0.002"])
    assert done.exit_code == 0, done.output
    assert (
        "already finished: step 4 of 4" in done.output and "predict with: portraitcraft predict --model" in done.output
    )
    other = runner.invoke(app, base + ["--lr", "0.001"])
    assert (
        other.exit_code == 2 and f"{out}: holds a fine-tuning with other settings (lr: 0.002 -> 0.001)" in other.output
    )
    # The same data folder spelled relative to another working directory is the same training; another folder is not.
    monkeypatch.chdir(lab.parent)
    relative = [lab.name if arg == str(lab) else arg for arg in base]
    again = runner.invoke(app, relative + ["--lr", "0.002"])
    assert again.exit_code == 0 and "already finished: step 4 of 4" in again.output, again.output
    elsewhere = tmp_path / "lab-copy"
    elsewhere.mkdir()
    moved = runner.invoke(app, [str(elsewhere) if arg == str(lab) else arg for arg in base] + ["--lr", "0.002"])
    assert moved.exit_code == 2 and f"data: {str(lab)!r} -> {str(elsewhere)!r}" in moved.output, moved.output


def test_score_target_trains_the_words_the_score_protocol_reads(score_run, dataset, tmp_path):
    from portraitcraft.runners import run_predictions
    from portraitcraft.runners.qwen import QwenBackend, QwenSettings

    out, summary = score_run
    assert summary.status == "finished"
    log = read_log(out)
    train = log[log["kind"] == "train"]
    assert train["loss"].iloc[-1] < train["loss"].iloc[0] - 0.3, train["loss"].tolist()
    assert (train["tokens"] == 3 * 14).all()  # 13 levels and the quality word per image (no questions in train)
    validation = log[log["kind"] == "validation"].iloc[-1]
    assert validation["step"] == 3 and validation["predicted"] == 1 and validation["complete"] == 1.0
    assert (
        0.0 <= validation["level_acc"] <= 1.0 and validation["loss"] < log[log["kind"] == "validation"].iloc[0]["loss"]
    )
    backend = QwenBackend(QwenSettings(model=str(out), protocol="score", max_pixels=128 * 128))
    result = run_predictions(backend, dataset, split="test", out=tmp_path / "s.jsonl", limit=1, progress=False)
    assert result.written_ok == 1


def test_lora_saves_merged_weights_that_reload_with_the_same_outputs(lab, dataset, tiny_model, tmp_path):
    import torch
    from transformers import AutoModelForImageTextToText

    from portraitcraft.finetune import FineTuner

    tuner = FineTuner(settings_for(lab, tiny_model, tmp_path / "unused", lora=True, lr=1e-2))
    tuner.configure_schedule(2)
    data = training_data(dataset, tuner.settings)
    images = [dataset.open_image(e.image_path, max_side=2048) for e in data.train]
    trained = {n.removeprefix("base_model.model.") for n, _ in tuner.trainable}
    assert any(".lora_A." in n for n in trained) and all(".lora_" in n or "merger" in n for n in trained)
    for _ in range(2):
        tuner.step([(data.train, images)])
    folder = tmp_path / "merged"
    tuner.save_model(folder)
    assert not any("lora" in n for n in weights(folder)) and not (folder / "adapter_config.json").exists()

    inputs, _, _ = tuner.encode_generate(data.train[:1], images[:1])
    tuner.base.eval()
    with torch.no_grad():
        expected = tuner.base(**inputs).logits
        merged = AutoModelForImageTextToText.from_pretrained(folder).eval()
        got = merged(**inputs).logits
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    lora_parameters = sum(p.numel() for n, p in tuner.trainable if ".lora_" in n)
    assert parameter_counts(merged, lora_rank=16)["lora_adapters"] == lora_parameters
    before, after = weights(tiny_model), weights(folder)
    changed = {n for n in before if not (before[n] == after[n]).all()}
    assert any("q_proj" in n for n in changed) and any(".merger." in n for n in changed)
    assert not any(n.startswith("model.visual.") and "merger" not in n for n in changed)
    assert "model.language_model.embed_tokens.weight" not in changed  # not adapted under LoRA


def test_a_lora_run_resumes_from_its_adapters_to_the_same_weights(lab, dataset, tiny_model, tmp_path):
    settings = dict(lora=True, lr=1e-2, max_steps=2, eval_every=0, save_every=0, validation_batches=1)
    straight = run_finetune(settings_for(lab, tiny_model, tmp_path / "straight", **settings), dataset=dataset,
                            progress=False)
    stopped = run_finetune(settings_for(lab, tiny_model, tmp_path / "resumed", stop_after=1, **settings),
                           dataset=dataset, progress=False)
    assert (stopped.status, stopped.step) == ("stopped", 1)
    assert (tmp_path / "resumed" / STATE_DIR / "trainable.safetensors").is_file()
    resumed = run_finetune(settings_for(lab, tiny_model, tmp_path / "resumed", **settings), dataset=dataset,
                           progress=False)
    assert straight.status == resumed.status == "finished" and resumed.resumed_from == 1
    reference, result = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert set(reference) == set(result) and not any("lora" in n for n in result)
    for name, tensor in reference.items():
        assert (tensor == result[name]).all(), name


def test_the_book_demonstration_has_one_run_folder_per_dataset(tmp_path: Path, monkeypatch):
    (tmp_path / "data" / "lab").mkdir(parents=True)
    (tmp_path / "elsewhere" / "lab").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    here = demo_run_dir("runs", "data/lab", images=8, steps=8, seed=0)
    # one dataset, two spellings
    assert here == demo_run_dir("runs", tmp_path / "data" / "lab", images=8, steps=8, seed=0)
    assert here != demo_run_dir("runs", "elsewhere/lab", images=8, steps=8, seed=0)  # same folder name, other data
    assert here != demo_run_dir("runs", "data/lab", images=8, steps=8, seed=1)
    assert here.parent == Path("runs") and here.name.startswith("run-lab-")


# --- damaged or planted output folders: clean errors, nothing executed -------------------------------------------

class _Planted:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _stopped_copy(generate_run, tmp_path: Path) -> Path:
    """A copy of the finished run that says it stopped: rerunning it resumes from its checkpoint."""
    import shutil

    out, _ = generate_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    record = json.loads((copy / "finetune.json").read_text())
    (copy / "finetune.json").write_text(json.dumps({**record, "status": "stopped"}))
    return copy


@pytest.mark.parametrize("damage", ["truncated weights", "pickled optimizer", "garbage state", "state without step",
                                    "garbage run record"])
def test_a_damaged_or_planted_run_folder_is_a_clean_error(generate_run, lab, dataset, tiny_model, tmp_path, damage):
    import pickle

    copy = _stopped_copy(generate_run, tmp_path)
    marker = tmp_path / "pwned"
    if damage == "truncated weights":
        weights_file = next(copy.glob("*.safetensors"))
        weights_file.write_bytes(weights_file.read_bytes()[:1000])
        expected = "cannot load as a transformers image-text model"
    elif damage == "pickled optimizer":
        (copy / STATE_DIR / "optimizer.pt").write_bytes(pickle.dumps({"optimizer": _Planted(marker)}))
        expected = "optimizer.pt: refused"
    elif damage == "garbage state":
        (copy / STATE_DIR / "state.json").write_bytes(b"\xff\xfe{{{")
        expected = "state.json: not valid JSON"
    elif damage == "state without step":
        (copy / STATE_DIR / "state.json").write_text('{"step": "four"}')
        expected = "state.json: no checkpoint step"
    else:
        (copy / "finetune.json").write_text("[" * 100000)
        expected = "finetune.json: unreadable"
    with pytest.raises(FinetuneError, match=expected):
        run_finetune(settings_for(lab, tiny_model, copy), dataset=dataset, progress=False)
    assert not marker.exists()


def test_a_pickled_pytorch_model_bin_is_refused_by_predict(tiny_model, tmp_path):
    import pickle
    import shutil

    from portraitcraft.runners.base import ModelLoadError
    from portraitcraft.runners.qwen import QwenBackend, QwenSettings

    folder = tmp_path / "planted-model"
    shutil.copytree(tiny_model, folder)
    for weights_file in folder.glob("*.safetensors"):
        weights_file.unlink()
    marker = tmp_path / "pwned"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_Planted(marker)))
    with pytest.raises(ModelLoadError, match="planted-model"):
        QwenBackend(QwenSettings(model=str(folder), protocol="score"))
    assert not marker.exists()


def test_a_second_training_into_one_folder_is_refused_naming_the_first(lab, dataset, tiny_model, tmp_path):
    from portraitcraft.outputs import OutputLock

    out = tmp_path / "busy"
    with OutputLock(out, "portraitcraft finetune (the first)"):
        with pytest.raises(FinetuneError, match=r"another run is writing it \(process \d+ .*the first"):
            run_finetune(settings_for(lab, tiny_model, out), dataset=dataset, progress=False)
    assert not out.exists()


def test_a_training_log_damaged_before_its_last_line_is_refused(generate_run, lab, dataset, tiny_model, tmp_path):
    from portraitcraft.outputs import OutputError

    copy = _stopped_copy(generate_run, tmp_path)
    log = copy / "log.jsonl"
    lines = log.read_bytes().split(b"\n")
    log.write_bytes(lines[0] + b"\n\xff\xfe\n" + b"\n".join(lines[1:]))
    before = log.read_bytes()
    with pytest.raises(OutputError, match=r"log.jsonl:2: not UTF-8"):
        run_finetune(settings_for(lab, tiny_model, copy), dataset=dataset, progress=False)
    assert log.read_bytes() == before


def test_the_reference_recipe_trains_as_the_reference_code_and_refuses_another_recipe(lab, dataset, tiny_model,
                                                                                        tmp_path):
    """Every record trained, visual.merger alone among the visual parts, pure bf16, the reference's prompt (text
    first) and its label mask (the answer, <|im_end|> and the newline); resuming with our recipe is refused in one
    line. The learning rate is raised so that bf16 weights visibly move in two steps."""
    import torch

    from portraitcraft.finetune import FineTuner

    out = tmp_path / "reference"
    settings = FinetuneSettings.of_recipe(
        "reference", data=str(lab), model=str(tiny_model), out=str(out), reasons=False, lr=2e-3, batch_size=2,
        grad_accum=1, max_steps=2, max_pixels=128 * 128, min_pixels=32 * 32, validation_predict=0, save_every=0)
    tuner = FineTuner(settings)
    assert all(p.dtype == torch.bfloat16 for _, p in tuner.trainable)
    data = training_data(dataset, settings)
    assert len(data.train) == 4 and data.validation == []  # the lab's 4 training images, none held out
    examples = data.train[:2]
    images = [dataset.open_image(e.image_path, max_side=2048) for e in examples]
    inputs, labels, _ = tuner.encode_generate(examples, images)
    for row, e in enumerate(examples):
        kept = labels[row][labels[row] != -100].tolist()
        assert tuner.tokenizer.decode(kept) == generate_target(e, reasons=False) + "<|im_end|>\n"
    text = tuner.tokenizer.decode(inputs["input_ids"][0])
    assert text.index("You are an aesthetics expert.") < text.index("<|vision_start|>")  # text, then the image
    del tuner

    summary = run_finetune(settings, dataset=dataset, progress=False)
    assert summary.status == "finished" and summary.train_images == 4 and summary.validation_images == 0
    record = json.loads((out / "finetune.json").read_text())
    assert record["settings"]["recipe"] == "reference" and record["precision"] == "bf16"
    log = read_log(out)
    assert log.loc[log["kind"] == "train", "lr"].tolist()[0] == 0.0  # s/w: the warm-up's first step at lr 0
    before, after = weights(tiny_model), weights(out)
    changed = {n for n in before if not torch.equal(before[n].to(after[n].dtype), after[n])}
    assert any(n.startswith("model.visual.merger.") for n in changed)
    assert not any(n.startswith("model.visual.") and not n.startswith("model.visual.merger.") for n in changed)
    assert any(n.startswith("model.language_model.") for n in changed)

    with pytest.raises(FinetuneError) as refused:
        run_finetune(settings_for(lab, tiny_model, out), dataset=dataset, progress=False)
    assert str(refused.value) == (f"{out}: holds a fine-tuning with the 'reference' recipe, not 'ours'; resume it "
                                  "with its own recipe or use another --out")


def test_predict_as_the_reference_does_uses_the_base_processor_float16_and_its_resize(generate_run, lab, tiny_model,
                                                                                       tmp_path):
    from PIL import Image
    from typer.testing import CliRunner

    from portraitcraft.cli import app
    from portraitcraft.finetune.checkpoints import base_model
    from portraitcraft.runners.qwen import reference_resize

    out, _ = generate_run
    assert base_model(out) == str(tiny_model) and base_model(tiny_model) is None
    # evaluation_multi.py:33-49: int() of the scaled sides, one BILINEAR resize; smaller images untouched
    wide = Image.new("RGB", (3001, 2001))
    assert reference_resize(wide).size == (2048, 1365) and reference_resize(Image.new("RGB", (800, 600))).size == (
        800, 600)
    result = CliRunner().invoke(app, [
        "predict", "--data", str(lab), "--model", str(out), "--inference", "reference", "--limit", "1",
        "--max-new-tokens", "8", "--max-pixels", str(128 * 128), "--out", str(tmp_path / "p.jsonl"), "--no-progress"])
    assert result.exit_code == 0, result.output
    run = json.loads((tmp_path / "p.jsonl").read_text().splitlines()[0])["run"]
    assert run["processor"]["model"] == str(tiny_model) and run["image_resize"] == "reference"
    assert run["dtype"] == "float16" and run["decoding"]["sampling"] == "reference"


def test_a_run_written_before_the_recipes_resumes_as_ours(generate_run, lab, dataset, tiny_model, tmp_path):
    from portraitcraft.finetune.settings import BEFORE_RECIPES

    copy = _stopped_copy(generate_run, tmp_path)
    record = json.loads((copy / "finetune.json").read_text())
    old = {k: v for k, v in record["settings"].items() if k not in BEFORE_RECIPES}  # as an older version wrote it
    (copy / "finetune.json").write_text(json.dumps({**record, "settings": old}))
    summary = run_finetune(settings_for(lab, tiny_model, copy), dataset=dataset, progress=False)
    assert summary.step == 4 and json.loads((copy / "finetune.json").read_text())["settings"]["recipe"] == "ours"
    (copy / "finetune.json").write_text(json.dumps({**record, "settings": old, "status": "stopped"}))
    with pytest.raises(FinetuneError, match="with the 'ours' recipe, not 'reference'"):
        run_finetune(FinetuneSettings.of_recipe("reference", **{**FAST, "data": str(lab), "model": str(tiny_model),
                                                                "out": str(copy)}), dataset=dataset, progress=False)
