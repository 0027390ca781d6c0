"""The documentation as a reader uses it: the examples on the prediction-formats page are read by the real reader,
and what the page says about bad records is what the reader does."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from portraitcraft.predictions import PredictionFileError, read_predictions

REPO = Path(__file__).resolve().parents[1]
FORMATS_PAGE = REPO / "book" / "formats.md"


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, content) of every fenced code block of a Markdown text."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.M | re.S)]


def test_every_example_of_the_formats_page_is_read_as_its_format_without_a_problem(tmp_path):
    blocks = fenced_blocks(FORMATS_PAGE.read_text(encoding="utf-8"))
    assert [lang for lang, _ in blocks] == ["json", "json", "text", "text"]
    formats = ["submission", "raw", "jsonl", "lmms_eval"]
    for (_, content), expected, suffix in zip(blocks, formats, [".json", ".json", ".jsonl", ".jsonl"]):
        path = tmp_path / f"{expected}{suffix}"
        path.write_text(content, encoding="utf-8")
        predictions = read_predictions(path)
        assert predictions.format == expected
        assert [p.message for p in predictions.problems] == (["failed: 'timed out after 120 s'"] if expected == "jsonl"
                                                              else [])
        assert predictions.image_paths[0] == "lab_00300.jpg" and predictions.total_score[0] == 62
        assert predictions.answers[0] == "B" and (predictions.levels[0] >= 0).all()
        if expected == "jsonl":
            assert predictions.status == ["ok", "failed"]


def test_the_formats_page_says_what_the_reader_does_with_bad_records(tmp_path):
    page = FORMATS_PAGE.read_text(encoding="utf-8")
    bad = tmp_path / "runs.json"
    bad.write_text(json.dumps([{"image_path": "a.jpg", "total_score": 150, "criteria": {"Sharpness": "Great"},
                                "answer": "E"}]), encoding="utf-8")
    problems = " ".join(str(p) for p in read_predictions(bad).problems)
    assert "total_score 150 outside 1-100: invalid" in problems and "'Great' is not a level: invalid" in problems
    assert "'Color Harmony': missing: invalid" in problems and "answer" in problems

    bad.write_text(json.dumps([{"total_score": 5}]), encoding="utf-8")
    with pytest.raises(PredictionFileError) as caught:
        read_predictions(bad)
    assert str(caught.value).endswith("record 0: missing or empty 'image_path'")
    assert "`runs.json: record 0: missing or empty 'image_path'`" in page

    torn = tmp_path / "runs.jsonl"
    torn.write_text('{"image_path": "a.jpg", "total_score": 62\n', encoding="utf-8")
    with pytest.raises(PredictionFileError) as caught:
        read_predictions(torn)
    assert str(caught.value).startswith(f"{torn}:1:42: invalid JSON:")
    assert "`runs.jsonl:1:42: invalid JSON: ...`" in page


@pytest.mark.parametrize("page", ["book/intro.md", "README.md", "notebooks/04_table3.py"])
def test_the_formats_page_is_linked_from_the_intro_the_readme_and_table3(page):
    text = (REPO / page).read_text(encoding="utf-8")
    assert re.search(r"\{doc\}`(\.\./)?formats`|\{doc\}`[^`]*<\.\./formats>`|\(book/formats\.md\)", text)


def test_the_readme_and_the_intro_cite_the_paper_as_the_exports_do():
    """One BibTeX entry: `portraitcraft.CITATION`, which `hf` writes into every exported DatasetInfo."""
    import portraitcraft

    assert "author" in portraitcraft.CITATION and "eprint        = {2604.03611}" in portraitcraft.CITATION
    for page in ("README.md", "book/intro.md"):
        blocks = [content for lang, content in fenced_blocks((REPO / page).read_text(encoding="utf-8"))
                  if lang == "bibtex"]
        assert blocks == [portraitcraft.CITATION + "\n"], page


# ---- the API page's examples ---------------------------------------------------------------------------------------

API_PAGE = REPO / "book" / "api.md"
# Examples that run here as written, on the lab (a small one stands in for data/lab); the others need a GPU, the
# hub or a server and are checked for what can be checked offline: they compile and their imports resolve.
RUNS_OFFLINE = {"portraitcraft.hf", "portraitcraft.labels", "portraitcraft.lab"}


def api_modules() -> list[str]:
    return re.findall(r"^\.\. automodule:: ([\w.]+)", API_PAGE.read_text(encoding="utf-8"), re.M)


def literal_blocks(doc: str) -> list[str]:
    """The reST literal blocks of a docstring (a paragraph ending in ``::``, then an indented block), dedented."""
    import textwrap

    return [textwrap.dedent(m.group(1)) for m in re.finditer(r"::\n\n((?:(?: {4,}.*)?\n)+)", doc + "\n")]


def is_python(block: str) -> bool:
    return re.match(r"\s*(from |import |[\w.]+ = |[\w.]+\()", block) is not None


def module_doc(name: str) -> str:
    import importlib
    import inspect

    return inspect.getdoc(importlib.import_module(name)) or ""


def test_every_docstring_example_on_the_api_page_is_a_code_block():
    """An indented example after a plain paragraph renders as prose (lines merged, quotes curled, hosts linked);
    after ``::`` it is a literal block."""
    stray = []
    for name in api_modules():
        lines = module_doc(name).splitlines()
        for i, line in enumerate(lines[1:], 1):
            if line.startswith("    ") and not lines[i - 1].strip() and re.search(r"[=(]", line):
                previous = next((p for p in reversed(lines[:i]) if p.strip()), "")
                if not previous.startswith(" ") and not previous.rstrip().endswith("::"):
                    stray.append(f"{name}: {line.strip()[:60]}")
    assert stray == []


def test_the_api_page_examples_compile_and_import_what_exists():
    import ast
    import builtins
    import importlib

    checked = 0
    for name in api_modules():
        for block in filter(is_python, literal_blocks(module_doc(name))):
            tree = ast.parse(block, f"{name} example")  # a curly quote or an en-dash would not parse
            bound = {alias.asname or alias.name.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.Import | ast.ImportFrom) for alias in node.names}
            bound |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            free = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
            assert free - bound - set(dir(builtins)) == set(), f"{name}'s example uses names it does not define"
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    module = importlib.import_module(node.module)
                    assert all(hasattr(module, alias.name) for alias in node.names), ast.unparse(node)
            checked += 1
    assert checked >= 10


@pytest.mark.parametrize("name", sorted(RUNS_OFFLINE))
def test_the_api_page_examples_that_need_no_gpu_run_as_written(name, small_lab, tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "lab").symlink_to(small_lab)
    monkeypatch.chdir(tmp_path)
    blocks = [b for b in literal_blocks(module_doc(name)) if is_python(b)]
    assert blocks
    for block in blocks:
        exec(compile(block, f"{name} example", "exec"), {"__name__": "example"})


# ---- the API page built as the workflow's link check builds it -------------------------------------------------------

EXTRAS_MODULES = ("cv2", "sklearn", "skops", "torch", "torchvision", "transformers", "accelerate", "peft",
                  "diffusers")


def internal_link_problems(html_root: Path) -> list[str]:
    """Every relative link of the built pages that names a missing file or a missing anchor."""
    from html.parser import HTMLParser
    from urllib.parse import unquote, urlsplit

    class Links(HTMLParser):
        def __init__(self):
            super().__init__()
            self.hrefs: list[str] = []
            self.ids: set[str] = set()

        def handle_starttag(self, tag, attrs):
            values = dict(attrs)
            if values.get("id"):
                self.ids.add(values["id"])
            if tag == "a" and values.get("href"):
                self.hrefs.append(values["href"])

    pages = {}
    for page in html_root.rglob("*.html"):
        parser = Links()
        parser.feed(page.read_text(encoding="utf-8"))
        pages[page.resolve()] = parser
    problems = []
    for page, parser in pages.items():
        for href in parser.hrefs:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or href.startswith(("mailto:", "javascript:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if not target.exists():
                problems.append(f"{page.name}: {href} (no such file)")
            elif parts.fragment and target in pages and unquote(parts.fragment) not in pages[target].ids:
                problems.append(f"{page.name}: {href} (no such anchor)")
    return problems


@pytest.mark.slow
def test_the_api_page_builds_with_the_book_extra_alone_and_its_links_hold(tmp_path):
    """The workflow's link check installs `.[book]` only: the API page must still import every module it documents
    (the extras' packages are stood in for), build with warnings as errors, link only to pages that exist, never
    to an example host, and show no repository button while the repository's address is unset."""
    import os
    import subprocess
    import sys

    import yaml

    root = tmp_path / "book-root"
    (root / "book").mkdir(parents=True)
    for name in ("api.md", "formats.md"):
        (root / "book" / name).write_text((REPO / "book" / name).read_text(encoding="utf-8"), encoding="utf-8")
    (root / "book" / "theme").symlink_to(REPO / "book" / "theme")
    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
    assert config["repository"]["url"] == ""  # the published address is not set in this repository yet
    (root / "_config.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/api\nchapters:\n  - file: book/formats\n")
    blocked = tmp_path / "not-installed"
    blocked.mkdir()
    for module in EXTRAS_MODULES:
        (blocked / f"{module}.py").write_text("raise ImportError('not installed: .[book] only')\n")
    env = {**os.environ, "PYTHONPATH": str(blocked)}
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jupyter_book), "build", str(root), "--builder", "html", "-W", "-n", "--keep-going"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    html = root / "_build" / "html"
    assert internal_link_problems(html) == []
    api = (html / "book" / "api.html").read_text(encoding="utf-8")
    assert "portraitcraft.features.compute_features" in api and "portraitcraft.baseline.run_feature_baseline" in api
    assert not re.search(r'href="https?://(gpu-host|host|HOST)[:/]', api)
    assert 'class="highlight-default' in api  # the examples are code blocks
    assert "btn-source-repository-button" not in api and "launch-buttons" not in api


def test_the_workflow_tests_the_oldest_and_newest_python_and_never_cancels_a_pages_deploy():
    import yaml

    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "book.yml").read_text(encoding="utf-8"))
    jobs = workflow["jobs"]
    assert jobs["test"]["strategy"]["matrix"]["python"] == ["3.11", "3.13"]
    assert any("make test" in step.get("run", "") for step in jobs["test"]["steps"])
    assert workflow["concurrency"]["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"
    assert jobs["publish"]["concurrency"] == {"group": "pages", "cancel-in-progress": False}
    ci = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-1] == "make test" and sum("make" in line for line in ci) == 1


def test_papermill_sees_the_type_of_every_notebook_parameter(tmp_path):
    """`papermill --help-notebook` lists each parameter with its type (it reads annotations, not values)."""
    jupytext = pytest.importorskip("jupytext")
    papermill = pytest.importorskip("papermill")
    sources = sorted((REPO / "notebooks").glob("[0-9]*.py"))
    assert sources
    for source in sources:
        notebook = tmp_path / f"{source.stem}.ipynb"
        jupytext.write(jupytext.read(source), notebook)
        parameters = papermill.inspect_notebook(str(notebook))
        assert "data" in parameters, source.name
        untyped = [name for name, p in parameters.items() if p["inferred_type_name"] in (None, "", "None")]
        assert untyped == [], f"{source.name}: parameters without a type: {untyped}"
