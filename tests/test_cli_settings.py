"""The options of `finetune`, `track2 finetune` and `track2 generate` are their settings dataclasses: one option per
field (a field added without an option fails here), the same defaults, and every option reaches its field."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest
import typer
from typer.testing import CliRunner

from portraitcraft.cli import app
from portraitcraft.finetune import FinetuneSettings
from portraitcraft.track2.finetune import LoraSettings
from portraitcraft.track2.generate import GenerationSettings

# command -> (settings class, the function the command hands its settings to, options that are not settings)
COMMANDS = {
    ("finetune",): (FinetuneSettings, "portraitcraft.finetune.run_finetune", {"progress"}),
    ("track2", "finetune"): (LoraSettings, "portraitcraft.track2.finetune.run_lora_finetune", {"progress"}),
    ("track2", "generate"): (GenerationSettings, "portraitcraft.track2.generate.run_generation",
                             {"descriptions", "out", "limit", "progress"}),
}

# A value other than the default for every field, each valid for its setting.
GIVEN = {
    ("finetune",): dict(
        data="somewhere", model="models/m", out="runs/ft", recipe="reference", target="score", reasons=False,
        lora=True, lora_rank=8, lora_alpha=16, lora_dropout=0.1, epochs=3.0, lr=2e-5, batch_size=2, grad_accum=8,
        max_pixels=100_000, min_pixels=1000, max_side=1024, warmup_ratio=0.05, weight_decay=0.1, max_grad_norm=0.5,
        validation_fraction=0.2, seed=7, deepstack_mergers=True, training_prompt="inference", mask_newline=False,
        warmup_formula="(s+1)/(w+1)", limit=5, max_steps=9, device="cpu", precision="fp32",
        gradient_checkpointing=True, eval_every=3, save_every=4, validation_predict=2, validation_batches=3,
        stop_after=6, strategy="fsdp"),
    ("track2", "finetune"): dict(
        data="somewhere", out="runs/lora", recipe="reference", model="models/qi", split="test", rank=8, alpha=4,
        lr=2e-4, warmup_steps=5, max_train_steps=50, adam_beta1=0.8, adam_beta2=0.99, weight_decay=0.1,
        adam_epsilon=1e-6, max_grad_norm=0.5, batch_size=2, grad_accum=2, caption_dropout=0.5, resolution=512,
        trigger="X, ", max_sequence_length=256, precision="fp32", seed=3, lora_dtype="fp32", data_order="epochs",
        resize="single", limit=4, save_every=7, keep_checkpoints=2, stop_after=9, device="cpu",
        gradient_checkpointing=False),
    ("track2", "generate"): dict(
        model="models/qwen-image", lora="runs/lora", trigger="T, ", width=512, height=768, steps=4, true_cfg_scale=2.5,
        guidance_scale=3.5, negative_prompt="blurry", seed=1, max_sequence_length=256, dtype="float32", device="cpu",
        batch_size=2),
}


def command_of(path: tuple[str, ...]):
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command


def options(path: tuple[str, ...]) -> dict:
    return {param.name: param for param in command_of(path).params}


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_one_option_per_setting_with_the_same_default(path):
    settings, _, others = COMMANDS[path]
    fields = {f.name for f in dataclasses.fields(settings)}
    given = options(path)
    assert sorted(fields - set(given)) == [], "settings without an option"
    assert sorted(set(given) - fields - others) == [], "options that are no setting"
    defaults = settings.of_recipe("ours", data="d", out="o") if settings is LoraSettings else \
        settings.of_recipe("ours") if settings is FinetuneSettings else settings()
    for name in sorted(fields & set(given)):
        default = given[name].default
        if default is not None and not given[name].required:  # None: the recipe's value, or the field's own None
            assert default == getattr(defaults, name), name


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_every_option_reaches_its_setting(path, monkeypatch, tmp_path):
    settings_class, function, others = COMMANDS[path]
    values = GIVEN[path]
    fields = {f.name for f in dataclasses.fields(settings_class)}
    assert set(values) == fields, "GIVEN must name every field"
    required = {f.name: values[f.name] for f in dataclasses.fields(settings_class)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    # What the settings would hold had an option been dropped on the way: GIVEN differs from it everywhere.
    dropped = settings_class.of_recipe(values["recipe"], **required) if "recipe" in values else settings_class()
    assert [n for n in values if n not in {"recipe", *required} and values[n] == getattr(dropped, n)] == []
    received = {}

    def capture(*args, **kwargs):
        received["settings"] = next(a for a in (*args, *kwargs.values()) if isinstance(a, settings_class))
        return SimpleNamespace(lines=lambda: [], failed=[])

    monkeypatch.setattr(function, capture)
    params = options(path)
    argv = list(path)
    for name, value in values.items():
        param = params[name]
        if isinstance(value, bool):
            argv.append(param.opts[0] if value else param.secondary_opts[0])
        else:
            argv += [param.opts[0], str(value)]
    if "descriptions" in others:
        (tmp_path / "d.json").write_text("[]", encoding="utf-8")
        argv += ["--descriptions", str(tmp_path / "d.json"), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    made = received["settings"]
    for name, value in values.items():
        expected = str(Path(value)) if name in ("out", "lora") and isinstance(value, str) else value
        assert getattr(made, name) == expected, name
