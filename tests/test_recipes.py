"""The ``reference`` recipes hold the values read in the public reference code (github yytang25/qwen-vl-ft, commit
c122cdc4096b1f42a103e0f6e09907b290317c33), kept here as data with their file and line; the Track 2 resize on the
reference's own cases; the recipe tables. Fast: no model is loaded here (the recipes' training runs are in
test_finetune.py and test_track2_generation.py)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from portraitcraft.attributes import ATTRIBUTE_NAMES as TRACK1_ATTRIBUTES
from portraitcraft.finetune import FinetuneSettings
from portraitcraft.finetune.data import Plan, lr_factor
from portraitcraft.finetune.recipes import recipe_rows as track1_rows
from portraitcraft.finetune.settings import REFERENCE_TRAINING_PROMPT

T1 = "qwen-vl-finetune/"
SH = T1 + "scripts/sft_qwen3_4b.sh"
T2 = "qwen-image-finetune/"
YAML = T2 + "train_configs/train_lora.yaml"

# Track 1: setting -> (the reference's value, where it is read). Values that the script leaves to transformers (the
# reference pins 4.57.0, requirements.txt:76) are read in transformers 5.24.0, the version pinned here; both have
# seed 42 and the s/w warm-up.
TRACK1_REFERENCE = {
    "epochs": (0.5, f"{SH}:41 --num_train_epochs 0.5"),
    "lr": (1e-5, f"{SH}:17 lr=1e-5, :51 --learning_rate"),
    "batch_size": (4, f"{SH}:18 batch_size=4, :42 --per_device_train_batch_size"),
    "grad_accum": (4, f"{SH}:19 grad_accum_steps=4, :44 --gradient_accumulation_steps"),
    "max_pixels": (50176, f"{SH}:45 --max_pixels 50176"),
    "min_pixels": (784, f"{SH}:46 --min_pixels 784"),
    "weight_decay": (0.0, f"{SH}:52 --weight_decay 0"),
    "warmup_ratio": (0.03, f"{SH}:53 --warmup_ratio 0.03"),
    "max_grad_norm": (1.0, f"{SH}:54 --max_grad_norm 1"),
    # on by default on CUDA for the generate target (None), as :58 --gradient_checkpointing True
    "gradient_checkpointing": (None, f"{SH}:58 --gradient_checkpointing True"),
    "lora": (False, f"{T1}qwenvl/train/argument.py:42 lora_enable False (the script passes no --lora_enable)"),
    # --bf16 (:39) loads the model in bfloat16 (train_qwen.py:116), so weights, gradients and AdamW state are bf16
    "precision": ("bf16", f"{SH}:39 --bf16; {T1}qwenvl/train/train_qwen.py:116 dtype=torch.bfloat16"),
    # set_model: all of visual frozen (:72-73), then visual.merger alone unfrozen (:75-77); deepstack_merger_list stays
    "deepstack_mergers": (False, f"{T1}qwenvl/train/train_qwen.py:68-77; {SH}:36-37"),
    # every annotation is a training record (data_processor.py:277-291, sampling_rate 1.0), no evaluation (:47)
    "validation_fraction": (0.0, f"{T1}qwenvl/data/data_processor.py:277-291; {SH}:47 --eval_strategy no"),
    "training_prompt": ("reference", f"{T1}convert_json_train.py:49-58 (text, then <image>)"),
    # labels[ans_start : ans_end + 2]: the answer, <|im_end|> (151645) and the token after it, the newline
    "mask_newline": (True, f"{T1}qwenvl/data/data_processor.py:227-233"),
    "warmup_formula": ("s/w", "transformers/optimization.py:137-138 float(current_step) / max(1, warmup)"),
    "seed": (42, "transformers/training_args.py:1293 seed default 42 (the script passes no --seed)"),
    "target": ("generate", f"{T1}convert_json_train.py:43-46, 69 (the JSON answer)"),
    "reasons": (True, f"{T1}convert_json_train.py:38-41 (level and reason per criterion)"),
}

# convert_json_train.py:49-58, with its trailing "\n\n<image>" split off and the text stripped as
# data_processor.py:181-182 does.
TRACK1_TRAINING_PROMPT = (
    "You are an aesthetics expert. Please evaluate the image across the following 13 sub-criteria:\n"
    "Color Harmony, Visual Style Consistency, Sharpness, Light and Shadow Modeling, "
    "Creativity and Originality, Exposure Control, Application of Classical Composition Principles, "
    "Depth of Field and Layering, Visual Center Stability, Visual Flow Guidance, "
    "Structural Support Stability, Appropriateness of Negative Space, Subject Integrity.\n\n"
    "For each criterion, output a level (Poor / Medium / Good) with a brief reason.\n"
    "Finally provide a total score."
)

TRACK2_REFERENCE = {
    "rank": (64, f"{YAML}:30 rank: 64; {T2}train.py:117"),
    "alpha": (64, f"{T2}train.py:118 lora_alpha=args.rank"),  # None here means "the rank"
    "lr": (1e-4, f"{YAML}:15"),
    "warmup_steps": (500, f"{YAML}:17"),
    "max_train_steps": (12_000, f"{YAML}:14"),
    "adam_beta1": (0.9, f"{YAML}:18"),
    "adam_beta2": (0.999, f"{YAML}:19"),
    "weight_decay": (0.01, f"{YAML}:20"),
    "adam_epsilon": (1e-8, f"{YAML}:21"),
    "max_grad_norm": (1.0, f"{YAML}:22"),
    "batch_size": (1, f"{YAML}:3, :12 train_batch_size: 1"),
    # 4 processes (run.sh:7 --num_processes 4) x accumulation 4 (yaml:29): 16 samples per optimizer step
    "effective_batch": (16, f"{T2}run.sh:7; {YAML}:29"),
    "caption_dropout": (0.15, f"{YAML}:6"),
    "resolution": (1024, f"{YAML}:5 img_size: 1024"),
    "max_sequence_length": (1024, f"{T2}train.py:297"),
    # the transformer cast to the weight dtype (bf16 under mixed_precision bf16, train.py:92-98), then add_adapter
    "lora_dtype": ("model", f"{T2}train.py:126-127"),
    "data_order": ("with_replacement", f"{T2}image_datasets/dataset.py:82 random.randint"),
    "resize": ("reference", f"{T2}image_datasets/dataset.py:14-22, 89-93"),
}
TRACK2_TARGET_MODULES = (("to_k", "to_q", "to_v", "to_out.0"), f"{T2}train.py:120")


def test_the_track1_reference_recipe_holds_the_reference_codes_values():
    reference = FinetuneSettings.of_recipe("reference")
    assert reference.recipe == "reference"
    for name, (value, where) in TRACK1_REFERENCE.items():
        assert getattr(reference, name) == value, f"{name}: {getattr(reference, name)!r}, reference {value!r} ({where})"
    assert reference.effective_batch == 16
    assert REFERENCE_TRAINING_PROMPT == TRACK1_TRAINING_PROMPT
    # ours is the default and differs where the table says it does, nowhere else
    ours = FinetuneSettings()
    assert ours == FinetuneSettings.of_recipe("ours") and ours.recipe == "ours"
    differing = {name for name in TRACK1_REFERENCE if getattr(ours, name) != getattr(reference, name)}
    assert differing == {"epochs", "precision", "deepstack_mergers", "validation_fraction", "training_prompt",
                         "mask_newline", "warmup_formula", "seed"}
    with pytest.raises(ValueError, match="recipe 'paper'"):
        FinetuneSettings.of_recipe("paper")


def test_the_warmup_formula_is_transformers_cosine_schedule():
    import torch
    from transformers import get_cosine_schedule_with_warmup

    total = 40
    warmup = math.ceil(0.03 * total)  # transformers/training_args.py:2159, ceil(steps x ratio)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = get_cosine_schedule_with_warmup(optimizer, warmup, total)
    theirs = []
    for _ in range(total):
        theirs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    ours = [lr_factor(s, total, 0.03, "s/w") for s in range(total)]
    assert np.allclose(ours, theirs, rtol=0, atol=1e-12) and ours[0] == 0.0
    assert lr_factor(0, total, 0.03) == 1 / 3  # ours: (s+1)/(w+1), the first step already moves
    # half an epoch: 10 images at 4 x 4 per step is 1 step per epoch, ceil(0.5) = 1 step
    assert Plan(10, 4, 4, 0.5, 42).total_steps == 1 and Plan(100, 4, 4, 0.5, 42).total_steps == 4


def test_the_track2_reference_recipe_holds_the_reference_codes_values():
    pytest.importorskip("diffusers", reason="the models extra is not installed")
    from portraitcraft.track2.finetune import TARGET_MODULES, LoraSettings

    reference = LoraSettings.of_recipe("reference", data="d", out="o")
    values = {**{n: getattr(reference, n) for n in TRACK2_REFERENCE if n != "effective_batch"},
              "alpha": reference.alpha or reference.rank, "effective_batch": reference.effective_batch}
    for name, (value, where) in TRACK2_REFERENCE.items():
        assert values[name] == value, f"{name}: {values[name]!r}, the reference {value!r} ({where})"
    assert sorted(TARGET_MODULES) == sorted(TRACK2_TARGET_MODULES[0])
    ours = LoraSettings(data="d", out="o")
    assert ours == LoraSettings.of_recipe("ours", data="d", out="o")
    assert ours.effective_batch == 4
    differing = {n for n in TRACK2_REFERENCE if n != "effective_batch" and getattr(ours, n) != getattr(reference, n)}
    assert differing == {"lora_dtype", "data_order", "resize"}


@pytest.mark.parametrize("size, first, final", [
    ((1003, 700), (1024, 714), (1024, 704)),  # a long side under 1024: int(1003 * 1024/1003) must not floor to 1023
    ((1103, 827), (1024, 767), (1024, 736)),  # the short side floors to 767 first, so its bucket is 736, not 768
    ((700, 1003), (714, 1024), (704, 1024)),  # portrait
    ((4000, 3000), (1024, 768), (1024, 768)),
    ((1024, 1024), (1024, 1024), (1024, 1024)),
])
def test_track2_training_size_is_the_references(size, first, final):
    pytest.importorskip("diffusers", reason="the models extra is not installed")
    from portraitcraft.track2.finetune import training_size

    assert training_size(*size, 1024) == (first, final)


def test_track2_training_image_resizes_as_the_reference_or_once():
    pytest.importorskip("diffusers", reason="the models extra is not installed")
    from PIL import Image

    from portraitcraft.track2.finetune import training_image

    rng = np.random.default_rng(0)
    picture = Image.fromarray(rng.integers(0, 256, (827, 1103, 3), dtype=np.uint8))
    reference = training_image(picture, 1024, "reference")
    ours = training_image(picture, 1024, "single")
    assert reference.shape == ours.shape == (3, 1, 736, 1024)
    # dataset.py:14-22 then 89-93: two resizes with PIL's default filter, values to [-1, 1]
    w, h = picture.size
    twice = picture.resize((1024, int((1024 / w) * h))).resize((1024, 736))
    expected = np.asarray(twice, dtype=np.float32) / 127.5 - 1
    assert np.array_equal(reference[:, 0].permute(1, 2, 0).numpy(), expected)
    assert not np.array_equal(ours.numpy(), reference.numpy())  # one LANCZOS resampling instead


def test_track2_draws_with_replacement_in_the_reference_recipe():
    pytest.importorskip("diffusers", reason="the models extra is not installed")
    from portraitcraft.track2.finetune import MicroBatchPlan

    epochs = MicroBatchPlan(5, 1, 5, 0.0, 0, "epochs")
    draws = MicroBatchPlan(5, 1, 5, 0.0, 0, "with_replacement")
    for step in (1, 2, 3):
        assert sorted(epochs.micro(step, m)[0][0] for m in range(5)) == [0, 1, 2, 3, 4]
    drawn = [draws.micro(step, m)[0][0] for step in range(1, 21) for m in range(5)]
    assert all(0 <= i < 5 for i in drawn) and draws.micro(3, 2) == draws.micro(3, 2)
    per_step = [sorted(drawn[k:k + 5]) for k in range(0, 100, 5)]
    assert any(len(set(s)) < 5 for s in per_step)  # some image drawn twice within a pass


def test_the_tables_say_same_exactly_where_the_recipes_agree():
    rows = track1_rows()
    by_setting = {r["setting"]: r for r in rows}
    assert by_setting["epochs"]["reference"] == "0.5" and by_setting["epochs"]["ours"] == "2"
    assert by_setting["learning rate"]["same / differs"] == "same"
    assert by_setting["precision"]["same / differs"].startswith("differs: in pure bf16 most 1e-5 updates round")
    assert all(":" in r["reference code"] for r in rows)
    # the table follows the settings: ours set to the reference's values reads "same" throughout
    matched = track1_rows(ours=FinetuneSettings.of_recipe("reference"))
    assert {r["same / differs"] for r in matched} == {"same"}
    pytest.importorskip("diffusers", reason="the models extra is not installed")
    from portraitcraft.track2.recipes import recipe_rows as track2_rows

    rows2 = {r["setting"]: r for r in track2_rows()}
    assert rows2["images per optimizer step"]["ours"].endswith("= 4 images per optimizer step")
    assert rows2["images per optimizer step"]["reference"].startswith("1 x 16 = 16")
    assert rows2["generation: JPEG quality"]["reference"].startswith("75")
    assert rows2["LoRA rank, alpha, initialisation"]["same / differs"] == "same"


def test_the_commands_help_shows_the_recipes_and_their_images_per_step():
    from typer.testing import CliRunner

    from portraitcraft.cli import app

    for command, per_step in ((["finetune"], "ours: 16; reference: 16"),
                              (["track2", "finetune"], "ours: 4; reference: 16")):
        result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "400"})
        assert result.exit_code == 0 and "--recipe" in result.output, result.output
        words = " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())  # the help's text without its boxes
        assert f"Images per optimizer step (batch x accumulation): {per_step}" in words
    refused = CliRunner().invoke(app, ["finetune", "--data", "lab", "--out", "unused", "--recipe", "paper"])
    refusal = " ".join(re.sub("[│╭╮╰╯─]", " ", refused.output).split())
    assert refused.exit_code == 2 and "'paper' is not one of 'ours', 'reference'" in refusal  # the choices, listed


def test_evaluate_shows_the_reference_scripts_dropped_view_beside_ours(make_lab, tmp_path):
    """The reference's evaluation script drops an answer it cannot parse; we score it wrong. Both are shown."""
    import json

    from typer.testing import CliRunner

    from portraitcraft.cli import app
    from portraitcraft.evaluation import dropped_view, evaluate
    from portraitcraft.labels import load_ground_truth
    from portraitcraft.parsing import parse_model_output, reference_keeps
    from portraitcraft.predictions import ok_record

    assert reference_keeps('```json\n{"total_score": 5}\n```') and reference_keeps('text {"a": 1} text')
    assert not reference_keeps("{}") and not reference_keeps("Good, Medium") and not reference_keeps('{"a": 1,}')
    assert not reference_keeps(None)
    lab = make_lab(n_test=4, seed=0)
    truth = load_ground_truth(lab)
    lines = []
    for k, name in enumerate(truth.image_paths):
        levels = {a: ["Poor", "Medium", "Good"][c] for a, c in zip(TRACK1_ATTRIBUTES, truth.levels[k])}
        text = json.dumps({"total_score": float(truth.total_score[k]) + k, "criteria": levels,
                           "answer": truth.answers[k] if truth.answers else None})
        if k == 0:  # a trailing comma: our parser repairs it, the reference's json.loads does not
            text = text[:-1] + ",}"
        if k == 1:  # no JSON at all
            text = "I cannot judge this image."
        lines.append(json.dumps(ok_record(name, parse_model_output(text), run={"backend": "test"})))
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(lines) + "\n")
    report = evaluate(path, truth, n_bootstrap=0)
    view = dropped_view(report)
    assert (view.kept, view.dropped) == (2, 2)
    assert view.values["level_acc"] == 1.0 and report.values["level_acc"] == 0.75  # ours: image 1 all wrong
    result = CliRunner().invoke(app, ["evaluate", "-p", str(path), "-g", str(lab), "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    assert "answers it cannot parse dropped: 2 of 4" in result.output and "Level Acc 1.0000" in result.output
    # A run that writes no answer text (the feature baseline, the score protocol) has no such view: every record
    # would be "dropped" and every metric NaN.
    for protocol in ("features", "score"):
        lines = [json.dumps(ok_record(name, parse_model_output("{}"), run={"backend": "test", "protocol": protocol}))
                 for name in truth.image_paths]
        path.write_text("\n".join(lines) + "\n")
        assert dropped_view(evaluate(path, truth, n_bootstrap=0)) is None
        result = CliRunner().invoke(app, ["evaluate", "-p", str(path), "-g", str(lab), "--bootstrap", "0"])
        assert result.exit_code == 0 and "dropped" not in result.output, result.output
