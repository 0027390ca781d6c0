"""Track 2 generation: the prompt, the tiny Qwen-Image pipeline, `track2 generate` (records, resumption, failures,
lock, the command), the composition-lab generator, and LoRA fine-tuning (resumption, overfitting).

The tiny random Qwen-Image is built once per test process; images are 64 x 64 with 2 inference steps, training at
64 pixels with rank 4, so that each test takes a few seconds on one CPU thread.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from portraitcraft.cli import app
from portraitcraft.lab import make_record
from portraitcraft.outputs import OutputLock
from portraitcraft.track2.generate import (
    RECORDS_FILE,
    TRIGGER,
    GenerationError,
    GenerationSettings,
    LabDrawing,
    generation_prompt,
    read_records,
    run_generation,
)

pytest.importorskip("diffusers", reason="the models extra is not installed")

SIZE = dict(width=64, height=64, steps=2)


@pytest.fixture(scope="module")
def track2_lab(make_lab) -> Path:
    return make_lab(n_track2_train=3, n_track2_test=4, seed=0, long_side=96)


def _pixels(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


# ---- the prompt ----------------------------------------------------------------------------------------------------

def test_prompt_is_the_reference_one_and_the_trigger_follows_the_lora():
    prompt = generation_prompt(" A woman by the sea. ", "She stands on the left third.\n", trigger=TRIGGER)
    assert prompt == ("AES_COMP, Generate an image based on the following description.\n\n[Content]\nA woman by the "
                      "sea.\n\n[Composition]\nShe stands on the left third.\n")
    assert GenerationSettings().prompt_trigger == ""  # the base model: the trigger is removed
    assert GenerationSettings(lora="runs/x").prompt_trigger == TRIGGER
    assert GenerationSettings(lora="runs/x", trigger="").prompt_trigger == ""
    assert GenerationSettings(trigger="STYLE, ").prompt_trigger == "STYLE, "
    reference = GenerationSettings()
    assert (reference.model, reference.width, reference.height, reference.steps, reference.true_cfg_scale,
            reference.negative_prompt, reference.seed, reference.max_sequence_length) == (
        "Qwen/Qwen-Image", 1024, 1024, 20, 5.0, " ", 346346, 1024)


# ---- the tiny pipeline ---------------------------------------------------------------------------------------------

def test_tiny_pipeline_is_qwen_image_saved_and_loaded_back(tiny_qwen_image):
    from diffusers import DiffusionPipeline

    from portraitcraft.track2.tiny_pipeline import TEMPLATE_PREFIX, TEMPLATE_TOKENS

    index = json.loads((tiny_qwen_image / "model_index.json").read_text())
    assert index["_class_name"] == "QwenImagePipeline"
    assert sum(p.stat().st_size for p in tiny_qwen_image.rglob("*") if p.is_file()) < 5 * 2**20
    pipe = DiffusionPipeline.from_pretrained(tiny_qwen_image)
    assert type(pipe).__name__ == "QwenImagePipeline"
    # The pipeline drops the template's system prefix by count: the tiny vocabulary must give the real count.
    assert pipe.prompt_template_encode_start_idx == TEMPLATE_TOKENS
    assert len(pipe.tokenizer(TEMPLATE_PREFIX)["input_ids"]) == TEMPLATE_TOKENS
    image = pipe(prompt="a portrait", negative_prompt=" ", width=48, height=80, num_inference_steps=2,
                 true_cfg_scale=2.0).images[0]
    assert image.size == (48, 80)


# ---- generate ------------------------------------------------------------------------------------------------------

@pytest.mark.real_sample
def test_generate_the_real_descriptions_then_evaluate_the_folder(tiny_qwen_image, real_sample, tmp_path, monkeypatch):
    from portraitcraft.track2.score import evaluate_folder

    descriptions = real_sample / "track_2_train.json"
    expected = [r["image_path"] for r in json.loads(descriptions.read_text())]
    out = tmp_path / "generated"
    settings = GenerationSettings(model=str(tiny_qwen_image), batch_size=4, **SIZE)
    summary = run_generation(descriptions, out, settings, progress=False)
    assert (summary.generated, summary.skipped, summary.failed) == (10, 0, {})
    records = read_records(out / RECORDS_FILE)
    assert [r["image_path"] for r in records] == expected
    for record in records:
        assert record["status"] == "ok" and record["error"] is None and record["seconds"] >= 0
        assert record["prompt_sha256"].startswith("sha256:")
        assert record["settings"]["model"]["fingerprint"].startswith("sha256:")
        assert record["settings"]["model"]["pipeline"] == "QwenImagePipeline"
        assert record["settings"]["trigger"] == "" and record["settings"]["lora"] is None
        assert record["not_passed"] == []  # Qwen-Image takes every reference setting
        assert _pixels(out / record["image_path"]).shape == (64, 64, 3)
    report = evaluate_folder(descriptions, out, embedder=None)
    assert len(report.scores) == 10 and not report.missing

    with monkeypatch.context() as patched:  # resumed with nothing to do: the weights are not even loaded
        from diffusers import DiffusionPipeline

        patched.setattr(DiffusionPipeline, "from_pretrained", lambda *a, **k: pytest.fail("the model was loaded"))
        again = run_generation(descriptions, out, settings, progress=False)
    assert (again.generated, again.skipped) == (0, 10)
    assert len(read_records(out / RECORDS_FILE)) == 10
    with pytest.raises(GenerationError, match="other settings.*steps: 2 -> 3"):
        run_generation(descriptions, out, GenerationSettings(model=str(tiny_qwen_image), batch_size=4,
                                                             **{**SIZE, "steps": 3}), progress=False)

    # The batch size does not change the pictures: every image has its own generator, seeded alike.
    single = run_generation(descriptions, tmp_path / "one-by-one", GenerationSettings(
        model=str(tiny_qwen_image), batch_size=1, **SIZE), limit=2, progress=False)
    assert single.generated == 2
    for name in expected[:2]:
        assert np.abs(_pixels(tmp_path / "one-by-one" / name) - _pixels(out / name)).max() <= 2  # JPEG rounding


@pytest.fixture(scope="module")
def tiny_stable_diffusion(tmp_path_factory, one_torch_thread) -> Path:
    """Another real diffusers text-to-image pipeline at toy size: StableDiffusionPipeline (CLIP text encoder with a
    character-level vocabulary, a two-level UNet, a two-level VAE, DDIM), saved and read back by `track2 generate`."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    folder = tmp_path_factory.mktemp("models") / "tiny-stable-diffusion"
    folder.mkdir()
    characters = [chr(c) for c in range(33, 127)]
    vocab = {t: i for i, t in enumerate(["<|startoftext|>", "<|endoftext|>", *characters,
                                         *(c + "</w>" for c in characters)])}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(CLIPTextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=37,
                                                num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77,
                                                bos_token_id=0, eos_token_id=1, pad_token_id=1))
    unet = UNet2DConditionModel(block_out_channels=(4, 8), layers_per_block=1, sample_size=32, cross_attention_dim=32,
                                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), norm_num_groups=2,
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=2)
    vae = AutoencoderKL(block_out_channels=[4, 8], down_block_types=["DownEncoderBlock2D"] * 2,
                        up_block_types=["UpDecoderBlock2D"] * 2, latent_channels=4, norm_num_groups=2)
    StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                            scheduler=DDIMScheduler(clip_sample=False, steps_offset=1), safety_checker=None,
                            feature_extractor=None, requires_safety_checker=False).save_pretrained(folder / "pipeline")
    return folder / "pipeline"


def test_another_pipeline_gets_only_the_settings_it_takes(small_lab, tiny_stable_diffusion, tmp_path):
    settings = GenerationSettings(model=str(tiny_stable_diffusion), guidance_scale=3.0, batch_size=2, **SIZE)
    summary = run_generation(small_lab / "track_2_test.json", tmp_path / "sd", settings, progress=False)
    assert (summary.generated, summary.failed) == (2, {})
    record = read_records(tmp_path / "sd" / RECORDS_FILE)[0]
    assert record["settings"]["model"]["pipeline"] == "StableDiffusionPipeline"
    assert record["not_passed"] == ["max_sequence_length", "true_cfg_scale"]  # Qwen-Image's, not Stable Diffusion's
    assert _pixels(tmp_path / "sd" / record["image_path"]).shape == (64, 64, 3)


def test_a_failing_image_is_recorded_and_retried_and_the_command_exits_1(track2_lab, tmp_path):
    records = json.loads((track2_lab / "track_2_test.json").read_text())
    records.append({**records[0], "image_path": "../escape.jpg"})  # would be written outside --out
    descriptions = tmp_path / "descriptions.json"
    descriptions.write_text(json.dumps(records))
    settings = GenerationSettings(model="lab", batch_size=2, **SIZE)

    class RunsOutOfMemoryOnce(LabDrawing):
        """The lab generator with a fault injected: the first call that includes record 1 raises."""

        failed = False

        def generate(self, batch, prompts):
            if not self.failed and any(r["image_path"] == records[1]["image_path"] for r in batch):
                RunsOutOfMemoryOnce.failed = True
                raise MemoryError("out of memory")
            return super().generate(batch, prompts)

    out = tmp_path / "out"
    summary = run_generation(descriptions, out, settings, progress=False, generator=RunsOutOfMemoryOnce(settings))
    # The batch of records 0 and 1 raised once and was retried image by image: both written; the bad name fails.
    assert summary.generated == 4 and list(summary.failed) == ["../escape.jpg"]
    assert "outside the output folder" in summary.failed["../escape.jpg"]
    assert not (tmp_path / "escape.jpg").exists()
    statuses = {r["image_path"]: r["status"] for r in read_records(out / RECORDS_FILE)}
    assert statuses == {**{r["image_path"]: "ok" for r in records[:4]}, "../escape.jpg": "failed"}

    result = CliRunner().invoke(app, ["track2", "generate", "-d", str(descriptions), "--model", "lab", "--out",
                                      str(out), "--width", "64", "--height", "64", "--steps", "2", "--batch-size", "2",
                                      "--no-progress"])
    assert result.exit_code == 1, result.output
    assert "4 already there, 1 failed" in result.output and "FAILED: 1 image(s)" in result.output


def test_a_single_failure_in_a_batch_fails_alone(track2_lab, tmp_path):
    settings = GenerationSettings(model="lab", batch_size=4, **SIZE)
    names = [r["image_path"] for r in json.loads((track2_lab / "track_2_test.json").read_text())]

    class OneBadRecord(LabDrawing):
        def generate(self, batch, prompts):
            if any(r["image_path"] == names[2] for r in batch):
                raise RuntimeError("CUDA error: an illegal memory access\nsecond line")
            return super().generate(batch, prompts)

    summary = run_generation(track2_lab / "track_2_test.json", tmp_path / "out", settings, progress=False,
                             generator=OneBadRecord(settings))
    assert summary.generated == 3
    assert summary.failed == {names[2]: "RuntimeError: CUDA error: an illegal memory access"}


def test_a_second_writer_is_refused_naming_the_holder(track2_lab, tmp_path):
    import os

    out = tmp_path / "out"
    with OutputLock(out, "portraitcraft track2 generate"):
        with pytest.raises(GenerationError, match=f"another run is writing it \\(process {os.getpid()} on .*"
                                                  "'portraitcraft track2 generate'"):
            run_generation(track2_lab / "track_2_test.json", out, GenerationSettings(model="lab", **SIZE),
                           progress=False)
    assert run_generation(track2_lab / "track_2_test.json", out, GenerationSettings(model="lab", **SIZE),
                          progress=False).generated == 4  # released


def test_generate_command_refuses_bad_input(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(app, ["track2", "generate", "-d", str(tmp_path / "nope.json"), "--model", "lab", "--out",
                                  str(tmp_path / "out")])
    assert missing.exit_code == 2 and "nope.json: file not found" in missing.output
    (tmp_path / "d.json").write_text("[]")
    no_model = runner.invoke(app, ["track2", "generate", "-d", str(tmp_path / "d.json"), "--model",
                                   str(tmp_path / "no-such-model"), "--out", str(tmp_path / "out")])
    assert no_model.exit_code == 2 and "no such pipeline folder" in no_model.output


# ---- the composition-lab generator ---------------------------------------------------------------------------------

def test_lab_generator_draws_what_the_description_asks():
    from portraitcraft.track2.bench import truth_from_factors
    from portraitcraft.track2.lab_generator import LabGenerator
    from portraitcraft.track2.text import parse_description

    agree = total = 0
    for k in range(6):
        record = make_record(0, "track2", "test", k, f"x{k}.jpg")["record"]
        content, analysis = record["content_description"], record["composition_analysis"]
        scene = LabGenerator().scene(content, analysis, width=512, height=512)
        truth = truth_from_factors(scene.to_dict())
        for key in ("framing", "people", "placement", "depth_of_field", "light_direction", "gaze", "leading_lines"):
            target = parse_description(content, analysis, embedder=None).targets.get(key)
            if target is not None:
                total += 1
                agree += truth[key] == target.value
    assert total >= 30 and agree == total


def test_lab_generator_scores_above_itself_given_shuffled_descriptions():
    from portraitcraft.track2.bench import generator_alignment

    records = [make_record(0, "track2", "test", k, f"x{k}.jpg")["record"] for k in range(6)]
    result = generator_alignment(records, side=512)
    assert result.n_images == 6 and all(result.permutation[i] != i for i in range(6))
    assert result.matched_mean > result.shuffled_mean


# ---- LoRA fine-tuning ----------------------------------------------------------------------------------------------

def _lora_settings(data: Path, out: Path, model: Path, **changes):
    from portraitcraft.track2.finetune import LoraSettings

    values = dict(data=str(data), out=str(out), model=str(model), rank=4, resolution=64, grad_accum=2,
                  warmup_steps=1, max_train_steps=4, save_every=0, caption_dropout=0.5, device="cpu")
    return LoraSettings(**{**values, **changes})


def test_finetune_resumed_reaches_the_weights_of_an_uninterrupted_run(track2_lab, tiny_qwen_image, tmp_path):
    from diffusers.utils import logging as diffusers_logging
    from safetensors.torch import load_file

    from portraitcraft.track2.finetune import LORA_FILE, LoraFinetuneError, read_lora_log, run_lora_finetune

    whole = run_lora_finetune(_lora_settings(track2_lab, tmp_path / "whole", tiny_qwen_image), progress=False)
    assert (whole.status, whole.step) == ("finished", 4)
    diffusers_logging.enable_progress_bar()  # on, as in a fresh process: off a terminal the command turns it off
    first = CliRunner().invoke(app, [  # the same settings through the command
        "track2", "finetune", "--data", str(track2_lab), "--out", str(tmp_path / "parts"), "--model",
        str(tiny_qwen_image), "--rank", "4", "--resolution", "64", "--grad-accum", "2", "--warmup-steps", "1",
        "--max-train-steps", "4", "--save-every", "0", "--caption-dropout", "0.5", "--device", "cpu",
        "--stop-after", "2", "--no-progress"])
    assert first.exit_code == 0 and "stopped at step 2 of 4" in first.output, first.output
    assert not diffusers_logging.is_progress_bar_enabled()
    assert "Loading pipeline components" not in first.stderr and "\r" not in first.stderr
    rest = run_lora_finetune(_lora_settings(track2_lab, tmp_path / "parts", tiny_qwen_image), progress=False)
    assert (rest.status, rest.step, rest.resumed_from) == ("finished", 4, 2)
    a, b = load_file(str(tmp_path / "whole" / LORA_FILE)), load_file(str(tmp_path / "parts" / LORA_FILE))
    assert set(a) == set(b) and len(a) == 2 * 4 * 2  # lora A and B of to_q, to_k, to_v, to_out.0 in two blocks
    # Same operations in the same order on one thread: the weights are equal to the last bit (tolerance 0).
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    assert any(np.abs(a[k].numpy()).max() > 0 for k in a if "lora.up" in k)  # B (up) starts at zero: it moved
    log = read_lora_log(tmp_path / "parts")
    assert list(log["step"]) == [1, 2, 3, 4]
    assert np.allclose(log["loss"], read_lora_log(tmp_path / "whole")["loss"], rtol=0, atol=0)

    with pytest.raises(LoraFinetuneError, match="other settings.*rank: 4 -> 8"):
        run_lora_finetune(_lora_settings(track2_lab, tmp_path / "parts", tiny_qwen_image, rank=8), progress=False)
    again = run_lora_finetune(_lora_settings(track2_lab, tmp_path / "parts", tiny_qwen_image), progress=False)
    assert again.status == "already finished"
    with OutputLock(tmp_path / "parts", "another trainer"):
        with pytest.raises(LoraFinetuneError, match="another run is writing it.*'another trainer'"):
            run_lora_finetune(_lora_settings(track2_lab, tmp_path / "parts", tiny_qwen_image), progress=False)

    # The saved LoRA is what `track2 generate --lora` loads, with the trigger, and it changes the pictures.
    base = run_generation(track2_lab / "track_2_test.json", tmp_path / "base", GenerationSettings(
        model=str(tiny_qwen_image), trigger=TRIGGER, **SIZE), limit=1, progress=False)
    tuned = run_generation(track2_lab / "track_2_test.json", tmp_path / "tuned", GenerationSettings(
        model=str(tiny_qwen_image), lora=str(tmp_path / "whole"), **SIZE), limit=1, progress=False)
    assert base.generated == tuned.generated == 1
    record = read_records(tmp_path / "tuned" / RECORDS_FILE)[0]
    assert record["settings"]["trigger"] == TRIGGER and record["settings"]["lora"]["fingerprint"].startswith("sha256:")
    name = record["image_path"]
    assert np.abs(_pixels(tmp_path / "tuned" / name) - _pixels(tmp_path / "base" / name)).max() > 0


def test_finetune_loss_falls_when_overfitting_a_few_images(track2_lab, tiny_qwen_image, tmp_path):
    import torch

    from portraitcraft.sources import open_dataset
    from portraitcraft.track2.finetune import LoraTrainer, training_image

    settings = _lora_settings(track2_lab, tmp_path / "unused", tiny_qwen_image, rank=8, lr=1e-2, warmup_steps=0,
                              max_train_steps=1000, max_grad_norm=10.0)
    trainer = LoraTrainer(settings, pipeline_folder=tiny_qwen_image)
    dataset = open_dataset(str(track2_lab))
    frame = dataset.descriptions()
    names = list(frame[frame["split"] == "train"]["image_path"])[:2]
    # Two images, each with two fixed draws of noise and timestep: the model can memorise exactly these.
    batches = [(training_image(dataset.open_image(n, max_side=64), 64).unsqueeze(0), ["a portrait"], seed)
               for n in names for seed in (11, 12)]

    def loss() -> float:
        with torch.no_grad():
            return float(np.mean([float(trainer.loss(*batch)) for batch in batches]))

    before = loss()
    for _ in range(20):
        trainer.step(batches)
    after = loss()
    assert after < 0.9 * before, (before, after)  # measured: 1.54 -> 1.23


# ---- Figure 3 ------------------------------------------------------------------------------------------------------

def test_figure3_panels_put_each_generator_beside_the_original(track2_lab, tmp_path):
    import math

    from portraitcraft.track2.compare import (
        LAB,
        ORIGINAL,
        agreement_frame,
        figure3_panels,
        generation_cost,
        overall_frame,
    )
    from portraitcraft.track2.properties import BY_KEY

    out = tmp_path / "drawn"
    run_generation(track2_lab / "track_2_test.json", out, GenerationSettings(model="lab", width=256, height=256),
                   limit=2, progress=False)
    panels = figure3_panels(track2_lab, generated=[out], labels=["lab via track2 generate"], limit=3, side=256)
    assert len(panels) == 3
    assert [p.label for p in panels[0].images] == [ORIGINAL, LAB, "lab via track2 generate"]
    third = panels[2].images[2]  # only two images were generated
    assert third.image is None and third.score is None and "not found under" in third.missing
    frame = agreement_frame(panels[0])
    assert list(frame["property"]) == [BY_KEY[k].label for k in panels[0].parsed.targets]
    assert {f"{label}: agreement" for label in (ORIGINAL, LAB)} <= set(frame.columns)
    values = frame[f"{LAB}: agreement"].dropna()
    assert len(values) and values.between(0, 1).all()
    # every value written as the property writes it: the horizon in degrees, negative space as a percentage
    for key, target in panels[0].parsed.targets.items():
        row = frame[frame["property"] == BY_KEY[key].label].iloc[0]
        assert row["asked"] == BY_KEY[key].show(target.value)
        score = panels[0].images[0].score
        read = {p.key: p.reading for p in [*score.properties, *score.reported]}
        assert row[f"{ORIGINAL}: read"] == (BY_KEY[key].show(read[key]) if key in read else "-")
    # the aspect ratio: its reading shown beside what was asked, never an agreement (it is not counted)
    aspect = frame[frame["property"] == BY_KEY["aspect"].label].iloc[0]
    assert aspect[f"{ORIGINAL}: read"] != "-" and math.isnan(aspect[f"{ORIGINAL}: agreement"])
    assert any(text.endswith("°") for text in frame["asked"]) or "horizon_tilt" not in panels[0].parsed.targets
    overall = overall_frame(panels)
    assert math.isnan(overall.loc[2, "lab via track2 generate"]) and overall[LAB].notna().all()
    assert generation_cost([tmp_path / "none.json"]) is None


def test_the_gpu_benchmark_runs_its_dry_path_on_the_cpu(tmp_path, one_torch_thread):
    """`scripts/gpu_bench_track2.py --tiny`: both parts run through the project's code on the tiny pipeline's
    dimensions, and the report, read back by the Figure 3 page, says it is not a GPU figure."""
    import sys

    from portraitcraft.track2.compare import generation_cost

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    try:
        import gpu_bench_track2
    finally:
        sys.path.pop(0)
    out = tmp_path / "bench.json"
    assert gpu_bench_track2.main(["--tiny", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert "not a GPU measurement" in report["what"] and report["gpu"] is None
    assert [(r["part"], r["status"]) for r in report["results"]] == [("generate", "ok"), ("train", "ok")]
    assert all(r["seconds"] > 0 for r in report["results"])
    cost = generation_cost([out])
    assert list(cost["part"]) == ["one image", "one training step"] and cost["GPU"].str.contains("dry run").all()


def test_the_figure3_page_finds_the_committed_generation_measurements(tmp_path):
    """Given no file, the page shows what `book/measurements/` keeps under the name the script's docstring gives;
    given files, only those that exist; nothing at all where nothing was measured (the page then says so)."""
    from portraitcraft.track2.compare import generation_cost, generation_measurements

    committed = tmp_path / "measurements"
    committed.mkdir()
    (committed / "gpu_bench_qwen-h200-2026-11-27.json").write_text("{}")  # another script's: not this page's
    assert generation_measurements([], committed) == [] and generation_cost([]) is None
    report = {"gpu": "NVIDIA H200", "measured_at": "2026-12-01T10:00:00+00:00",
              "results": [{"part": "generate", "status": "ok", "seconds": 41.5, "width": 1024, "height": 1024,
                           "steps": 20, "true_cfg_scale": 5.0, "peak_memory_gib": 57.9}]}
    dated = committed / "gpu_bench_track2-h200-2026-12-01.json"
    dated.write_text(json.dumps(report))
    assert generation_measurements([], committed) == [dated]
    assert generation_measurements([tmp_path / "absent.json"], committed) == []
    (row,) = generation_cost(generation_measurements([], committed)).to_dict("records")
    assert (row["GPU"], row["measured"], row["file"], row["seconds"]) == ("NVIDIA H200", "2026-12-01", dated.name, 41.5)


def test_the_reference_recipe_trains_bf16_adapters_on_16_draws_per_step(track2_lab, tiny_qwen_image, tmp_path):
    """The reference recipe over a bf16 model: adapters and their AdamW state in bf16, 16 micro-batches per step
    (the reference's 4 processes x 4), images drawn with replacement; another recipe on its folder is refused."""
    import torch

    from portraitcraft.track2.finetune import LoraFinetuneError, LoraSettings, LoraTrainer, run_lora_finetune

    settings = LoraSettings.of_recipe("reference", data=str(track2_lab), out=str(tmp_path / "ref"),
                                      model=str(tiny_qwen_image), rank=4, resolution=64, warmup_steps=1,
                                      max_train_steps=1, save_every=0, device="cpu", precision="bf16")
    trainer = LoraTrainer(settings)
    assert trainer.trainable and all(p.dtype == torch.bfloat16 for _, p in trainer.trainable)
    ours = LoraTrainer(LoraSettings(**{**settings.__dict__, "recipe": "ours", "lora_dtype": "fp32"}))
    assert all(p.dtype == torch.float32 for _, p in ours.trainable)
    del trainer, ours
    summary = run_lora_finetune(settings, progress=False)
    assert (summary.status, summary.step) == ("finished", 1)
    state = torch.load(tmp_path / "ref" / "checkpoint-000001" / "optimizer.pt", weights_only=True)
    moments = [v["exp_avg"] for v in state["optimizer"]["state"].values()]
    assert moments and all(m.dtype == torch.bfloat16 for m in moments)
    with pytest.raises(LoraFinetuneError, match="with the 'reference' recipe, not 'ours'"):
        run_lora_finetune(_lora_settings(track2_lab, tmp_path / "ref", tiny_qwen_image), progress=False)
