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


# --- the error contract: one line on stderr and the documented exit code ------------------------------------------

def test_h_is_help_everywhere_and_bare_groups_print_their_help():
    for command in (["-h"], ["evaluate", "-h"], ["baseline", "predict", "-h"], ["track2", "generate", "-h"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 0 and "Usage: portraitcraft" in result.stdout, command
    for command, listed in (([], "demo-data"), (["baseline"], "predict"), (["track2"], "generate")):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 0 and "Usage: portraitcraft" in result.stdout and listed in result.stdout


def test_a_portraitcraft_error_is_one_line_and_exit_2(small_lab, tmp_path):
    result = CliRunner().invoke(app, ["evaluate", "-p", str(tmp_path / "missing.jsonl"), "-g", str(small_lab)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"error: {tmp_path / 'missing.jsonl'}: file not found"]
    assert result.stdout == ""


def test_an_os_error_names_its_file_in_one_line(small_lab, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    result = CliRunner().invoke(app, ["report", str(small_lab), "--out", str(a_file / "report"), "--bootstrap", "0"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"error: {a_file / 'report'}: Not a directory"]


def test_a_bug_keeps_its_traceback_and_the_environment_variable_shows_any(monkeypatch):
    from portraitcraft.cli.contract import Program
    from portraitcraft.data import DataError

    program = Program()

    @program.command()
    def broken(kind: str) -> None:
        if kind == "bug":
            raise ModuleNotFoundError("No module named 'no_such_helper'", name="no_such_helper")
        raise DataError("data.json:3: not a record")

    @program.command()
    def other() -> None:
        """A second command, so that `broken` stays a sub-command."""

    result = CliRunner().invoke(program, ["broken", "bug"])
    assert result.exit_code == 1 and isinstance(result.exception, ModuleNotFoundError)  # not one of our packages
    result = CliRunner().invoke(program, ["broken", "data"])
    assert result.exit_code == 2 and result.stderr == "error: data.json:3: not a record\n"
    monkeypatch.setenv("PORTRAITCRAFT_TRACEBACK", "1")
    result = CliRunner().invoke(program, ["broken", "data"])
    assert isinstance(result.exception, DataError)


# A Python started with sklearn hidden, as in an installation without the `features` extra.
WITHOUT_SKLEARN = """
import sys

class Hide:
    def find_spec(self, name, path=None, target=None):
        if name == "sklearn" or name.startswith("sklearn."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Hide())
from portraitcraft.cli import main
sys.argv = ["portraitcraft", *sys.argv[1:]]
main()
"""


def test_a_missing_extra_names_the_pip_command(small_lab, tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", WITHOUT_SKLEARN, "baseline", "train", str(small_lab),
                             "--model-dir", str(tmp_path / "model")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr == ("error: scikit-learn is not installed (module 'sklearn'): "
                             "pip install 'portraitcraft[features]'\n")
    assert not (tmp_path / "model").exists()


def test_extras_are_read_from_the_package_requirements():
    import tomllib
    from pathlib import Path

    from portraitcraft.exceptions import extra_of

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert any(r.startswith("scikit-learn") for r in project["optional-dependencies"]["features"])
    assert extra_of("sklearn") == ("scikit-learn", "features")
    assert extra_of("cv2")[1] == "features" and extra_of("torch") == ("torch", "models")
    assert extra_of("jupytext") == ("jupytext", "book") and extra_of("yaml") == ("pyyaml", None)
    assert extra_of("no_such_module") is None


def test_every_exception_of_the_package_is_a_portraitcraft_error():
    import ast
    import importlib
    from pathlib import Path

    from portraitcraft.exceptions import PortraitCraftError

    package = Path(__file__).parents[1] / "src" / "portraitcraft"
    found = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) and any(
                    ast.unparse(base).endswith(("Error", "Exception", "Failed")) for base in node.bases):
                module = ".".join(path.relative_to(package.parent).with_suffix("").parts).removesuffix(".__init__")
                found.append(getattr(importlib.import_module(module), node.name))
    assert len(found) >= 20
    assert [cls.__qualname__ for cls in found if not issubclass(cls, PortraitCraftError)] == []


def test_help_shows_each_options_choices_and_flows_with_the_terminal():
    import re

    from portraitcraft.cli.contract import flowing

    assert flowing("""First line.

    A paragraph wrapped
    by hand at some width.

    - an item
    - another
    """) == "First line.\n\nA paragraph wrapped by hand at some width.\n\n- an item\n- another"
    for columns in ("60", "200"):
        result = CliRunner().invoke(app, ["assess", "--help"], env={"COLUMNS": columns})
        words = " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())
        assert "Rows are CSV or JSON Lines" in words  # a sentence the source wraps is not broken by the help
    wide = CliRunner().invoke(app, ["assess", "--help"], env={"COLUMNS": "200"}).output
    assert "<csv|jsonl>" in wide and "<score|generate>" in wide and "<features|transformers|qwen|openai>" in wide
    assert any("Rows are CSV or JSON Lines (see the portraitcraft.assess module" in line for line in wide.splitlines())


def test_a_local_looking_path_that_does_not_exist_is_no_such_folder_not_a_hub_id(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "data" / "lab").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    typo = CliRunner().invoke(app, ["validate", "data/lab2"])
    assert typo.exit_code == 2 and typo.stderr.strip() == "error: data/lab2: no such folder (did you mean data/lab?)"
    for local in ("./lab2", "~/no/such/folder", "a/b/c"):
        result = CliRunner().invoke(app, ["validate", local])
        assert result.exit_code == 2 and "no such folder" in result.stderr and "hub" not in result.stderr
    hub = CliRunner().invoke(app, ["validate", "someone/dataset"])  # no folder 'someone' here: a hub id
    assert hub.exit_code == 2 and "cannot fetch from the Hugging Face hub" in hub.stderr
    assert "--data" not in hub.stderr  # validate takes the data as its argument


def test_cache_info_shows_where_and_how_big_and_clean_removes_only_its_own_parts(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("PORTRAITCRAFT_CACHE", str(cache))
    (cache / "assess").mkdir(parents=True)
    (cache / "assess" / "photos.jsonl").write_bytes(b"x" * 2500)
    (cache / "baseline" / "lab").mkdir(parents=True)
    (cache / "baseline" / "lab" / "model.skops").write_bytes(b"y" * 1000)
    (cache / "mine.txt").write_text("not the project's")
    info = CliRunner().invoke(app, ["cache", "info"])
    assert info.exit_code == 0 and f"cache: {cache}" in info.stdout
    assert any(line.split()[:3] == ["assess", "2.5", "KB"] for line in info.stdout.splitlines())
    assert any(line.split()[:2] == ["total", "3.5"] for line in info.stdout.splitlines())
    assessed = CliRunner().invoke(app, ["cache", "clean", "assess"])
    assert assessed.exit_code == 0 and not (cache / "assess").exists() and (cache / "baseline").exists()
    everything = CliRunner().invoke(app, ["cache", "clean"])
    assert everything.exit_code == 0 and f"removed {cache / 'baseline'} (1.0 KB)" in everything.stderr
    assert sorted(p.name for p in cache.iterdir()) == ["mine.txt"]  # nothing but the project's own folders
    bad = CliRunner().invoke(app, ["cache", "clean", "everything"])
    assert bad.exit_code == 2 and "expected one of lab-default, from-datasets, assess, baseline" in bad.stderr
