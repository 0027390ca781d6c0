"""Conventions every command follows: --version, and data checked before a model is loaded."""

from __future__ import annotations

from typer.testing import CliRunner

from portraitcraft import __version__
from portraitcraft.cli import app


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"portraitcraft {__version__}"


def test_predict_checks_the_data_before_loading_a_model(tmp_path):
    # The model path does not exist: an error about the data (not about the model) shows the data came first.
    (tmp_path / "lab").mkdir()
    result = CliRunner().invoke(app, ["predict", "--data", str(tmp_path / "no-such-root"), "--out",
                                      str(tmp_path / "p.jsonl"), "--model", str(tmp_path / "no-model")])
    assert result.exit_code == 2 and "no-such-root" in result.output and "no-model" not in result.output
    result = CliRunner().invoke(app, ["predict", "--data", str(tmp_path / "lab"), "--split", "tset", "--out",
                                      str(tmp_path / "p.jsonl"), "--model", str(tmp_path / "no-model")])
    assert result.exit_code == 2 and "no Track 1 split 'tset'" in result.output and "no-model" not in result.output
