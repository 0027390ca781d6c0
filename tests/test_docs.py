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
    assert max(map(len, portraitcraft.CITATION.splitlines())) <= 72  # the book's text column, without scrolling
    for page in ("README.md", "book/intro.md"):
        blocks = [content for lang, content in fenced_blocks((REPO / page).read_text(encoding="utf-8"))
                  if lang == "bibtex"]
        assert blocks == [portraitcraft.CITATION + "\n"], page


# ---- the API page's examples ---------------------------------------------------------------------------------------

API_PAGE = REPO / "book" / "api.md"

# Every Python example of the API page, by where it is written: a module's docstring, or a documented member's
# (module:Member). `test_the_list_of_examples_is_the_api_page_s` keeps the list whole.
EXAMPLES = ["portraitcraft.sources", "portraitcraft.hf", "portraitcraft.lab", "portraitcraft.labels",
            "portraitcraft.lab.series", "portraitcraft.lab.audit", "portraitcraft.predictions:PredictionWriter",
            "portraitcraft.paper", "portraitcraft.figure2", "portraitcraft.table2", "portraitcraft.table3",
            "portraitcraft.label_free", "portraitcraft.error_analysis", "portraitcraft.calibration",
            "portraitcraft.series_readings", "portraitcraft.measurements", "portraitcraft.runners",
            "portraitcraft.runners.base", "portraitcraft.backends", "portraitcraft.runners.qwen",
            "portraitcraft.runners.openai_compat", "portraitcraft.runners.server", "portraitcraft.runners.configs",
            "portraitcraft.runners.tiny", "portraitcraft.finetune", "portraitcraft.baseline",
            "portraitcraft.baseline:FeatureBackend", "portraitcraft.assess", "portraitcraft.cache",
            "portraitcraft.track2.text", "portraitcraft.track2.extract", "portraitcraft.track2.score",
            "portraitcraft.track2.compare", "portraitcraft.track2.generate", "portraitcraft.track2.lab_generator",
            "portraitcraft.track2.finetune", "portraitcraft.track2.tiny_pipeline", "portraitcraft.outputs",
            "portraitcraft.provenance"]
# They all run, offline and on the CPU, as written, in a folder laid out as the repository is after `make lab` and
# `make baseline` (a small lab in data/lab, its feature baseline's model and predictions in data/lab/runs/) with a
# folder of photos (photos/). What cannot be reached here is stood in for, and only in the examples named here:
# the text on the left, exactly as the example writes it, is replaced by the stand-in on the right.
STAND_INS = {
    "portraitcraft.sources": {'"zijielou/PortraitCraft"': "hub copy"},
    "portraitcraft.runners.server": {'"models/tiny-qwen3-vl"': "tiny model", "port=8000": "free port"},
    "portraitcraft.runners.base": {'"Qwen/Qwen3-VL-4B-Instruct"': "tiny model"},
    "portraitcraft.backends": {'"Qwen/Qwen3-VL-4B-Instruct"': "tiny model", '"http://host:8000/v1"': "server"},
    "portraitcraft.runners.qwen": {'"Qwen/Qwen3-VL-4B-Instruct"': "tiny model"},
    "portraitcraft.runners.openai_compat": {'"Qwen/Qwen3-VL-4B-Instruct"': "tiny model",
                                            '"http://gpu-host:8000/v1"': "server"},
    "portraitcraft.finetune": {'"Qwen/Qwen3-VL-4B-Instruct"': "tiny model"},
    "portraitcraft.track2.generate": {'"Qwen/Qwen-Image"': "tiny pipeline",
                                      "width=1024, height=1024, steps=20": "tiny size"},
    "portraitcraft.track2.finetune": {'"Qwen/Qwen-Image"': "tiny pipeline",
                                      'out="runs/qwen-image-lora")': "one tiny step"},
}
# The stand-ins (built by the `example_folder` fixture):
#   tiny model  the folder of the tiny random Qwen3-VL (`portraitcraft.runners.tiny`), in place of the hub's 4B model;
#   server      `portraitcraft serve`'s server (`runners.server.serve`) on 127.0.0.1 answering from that tiny model
#               (served under its folder's name, as vLLM names a model by the path it loads), in place of a GPU host;
#   tiny pipeline  the folder of the tiny random Qwen-Image (`portraitcraft.track2.tiny_pipeline`), in place of the
#               hub's 20-billion-parameter pipeline;
#   tiny size   64 x 64 pixels and 2 steps in place of the reference's 1024 x 1024 and 20: the tiny pipeline draws
#               noise at any size, and 1024 x 1024 in 20 steps costs about 7 CPU-seconds an image even for it;
#   one tiny step  the example's settings plus one optimizer step of one micro-batch at 64 pixels with rank 4: the
#               default recipe is 12,000 steps at 1024 pixels (a GPU's day), and one step runs every part of it;
#   free port   port 0 (the system picks a free one) in place of 8000, which may be taken where the tests run;
#   hub copy    the lab in the published layout (no test labels, no factors), as `hf download zijielou/PortraitCraft
#               --repo-type dataset --local-dir PortraitCraft` leaves it, in place of the hub's dataset.
# And the name "lab" (the default lab, built into the package's cache on first use: minutes) finds the small lab
# already built there: the examples run with a cache of their own (PORTRAITCRAFT_CACHE) whose lab-default is it.


def api_modules() -> list[str]:
    return re.findall(r"^\.\. automodule:: ([\w.]+)", API_PAGE.read_text(encoding="utf-8"), re.M)


def literal_blocks(doc: str) -> list[str]:
    """The reST literal blocks of a docstring (a paragraph ending in ``::``, then an indented block), dedented."""
    import textwrap

    blocks = []
    for m in re.finditer(r"^( *)\S.*::\n\n", doc, re.M):
        # The block is the lines indented deeper than the line that ends in ``::``, up to the first that is not.
        body = re.match(rf"(?:(?:{m.group(1)} +\S.*)?\n)+", doc[m.end():] + "\n")
        if body:
            blocks.append(textwrap.dedent(body.group(0).rstrip("\n") + "\n"))
    return blocks


def is_python(block: str) -> bool:
    return re.match(r"\s*(from |import |[\w.]+ = |[\w.]+\()", block) is not None


def module_doc(name: str) -> str:
    import importlib
    import inspect

    return inspect.getdoc(importlib.import_module(name)) or ""


def example_doc(where: str) -> str:
    """The docstring an example is written in: ``module`` or ``module:Member``."""
    import importlib
    import inspect

    module, _, member = where.partition(":")
    if not member:
        return module_doc(module)
    return inspect.getdoc(getattr(importlib.import_module(module), member)) or ""


def documented_members(module: str, options: str) -> list[str]:
    """The members autodoc documents for an ``automodule`` directive: those listed after ``:members:``, else the
    module's public classes and functions."""
    import importlib
    import inspect

    listed = re.search(r":members:(.*)", options)
    if listed and listed.group(1).strip():
        return [name.strip() for name in listed.group(1).split(",")]
    found = importlib.import_module(module)
    return [name for name, value in vars(found).items() if not name.startswith("_")
            and (inspect.isclass(value) or inspect.isfunction(value)) and value.__module__ == module]


def api_examples() -> dict[str, list[str]]:
    """Where each Python example of the API page is written (see `EXAMPLES`) -> its code blocks."""
    page = API_PAGE.read_text(encoding="utf-8")
    found = {}
    for directive in re.finditer(r"^\.\. automodule:: ([\w.]+)\n((?:   :\w+:.*\n)*)", page, re.M):
        module, options = directive.groups()
        for where in [module, *(f"{module}:{m}" for m in documented_members(module, options))]:
            blocks = [b for b in literal_blocks(example_doc(where)) if is_python(b)]
            if blocks:
                found[where] = blocks
    return found


def public_modules() -> list[str]:
    """Every module of the package, read from its files (nothing imported): a name with no part starting with
    ``_``. The package itself is the page's opening table."""
    package = REPO / "src" / "portraitcraft"
    names = set()
    for path in package.rglob("*.py"):
        parts = ("portraitcraft", *path.relative_to(package).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if len(parts) > 1 and not any(part.startswith("_") for part in parts):
            names.add(".".join(parts))
    return sorted(names)


def test_every_public_module_is_on_the_api_page_or_named_as_not_on_it():
    """A module added to the package fails here until the page documents it, or names it (or a package above it)
    under "Not on this page" with the reason; the page documents no module that is gone."""
    page = API_PAGE.read_text(encoding="utf-8")
    heading = "\n## Not on this page\n"
    assert heading in page
    elsewhere = re.findall(r"`(portraitcraft(?:\.\w+)+)`", page.split(heading)[1])
    assert elsewhere  # and the reason: the paragraph says where each is documented
    documented = api_modules()
    assert len(documented) == len(set(documented))
    public = public_modules()
    assert "portraitcraft.track2.generate" in public and "portraitcraft.cache" in public  # the finder finds
    missing = [name for name in public if name not in documented
               and not any(name == other or name.startswith(other + ".") for other in elsewhere)]
    assert missing == []
    assert sorted(set(documented) - set(public)) == []
    assert sorted(set(elsewhere) - set(public)) == []


def test_the_list_of_examples_is_the_api_page_s():
    assert list(api_examples()) == EXAMPLES


def test_every_docstring_example_on_the_api_page_is_a_code_block():
    """An indented example after a plain paragraph renders as prose (lines merged, quotes curled, hosts linked);
    after ``::`` it is a literal block."""
    stray = []
    page = API_PAGE.read_text(encoding="utf-8")
    for module, options in re.findall(r"^\.\. automodule:: ([\w.]+)\n((?:   :\w+:.*\n)*)", page, re.M):
        for where in [module, *(f"{module}:{m}" for m in documented_members(module, options))]:
            lines = example_doc(where).splitlines()
            for i, line in enumerate(lines[1:], 1):
                if line.startswith("    ") and not lines[i - 1].strip() and (
                        re.search(r"[=(]", line) or is_python(line)):
                    previous = next((p for p in reversed(lines[:i]) if p.strip()), "")
                    if not previous.startswith((" ", ".. ")) and not previous.rstrip().endswith("::"):
                        stray.append(f"{where}: {line.strip()[:60]}")
    assert stray == []


def test_the_api_page_examples_compile_and_import_what_exists():
    import ast
    import builtins
    import importlib

    checked = 0
    for where, blocks in api_examples().items():
        for block in blocks:
            tree = ast.parse(block, f"{where} example")  # a curly quote or an en-dash would not parse
            bound = {alias.asname or alias.name.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.Import | ast.ImportFrom) for alias in node.names}
            bound |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            free = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
            assert free - bound - set(dir(builtins)) == set(), f"{where}'s example uses names it does not define"
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    module = importlib.import_module(node.module)
                    assert all(hasattr(module, alias.name) for alias in node.names), ast.unparse(node)
            checked += 1
    assert checked >= 10


# The width of the API page's code box, in characters: a longer line scrolls sideways.
CODE_BOX_WIDTH = 79


def test_no_literal_block_on_the_api_page_is_wider_than_its_code_box():
    """Every literal block of every docstring the page documents (modules and their documented members): the
    examples, and the layouts and schemas written as text."""
    too_long = []
    page = API_PAGE.read_text(encoding="utf-8")
    for module, options in re.findall(r"^\.\. automodule:: ([\w.]+)\n((?:   :\w+:.*\n)*)", page, re.M):
        for where in [module, *(f"{module}:{m}" for m in documented_members(module, options))]:
            too_long += [f"{where} ({len(line)}): {line}" for block in literal_blocks(example_doc(where))
                         for line in block.splitlines() if len(line) > CODE_BOX_WIDTH]
    assert too_long == []


def test_a_literal_block_ends_where_its_indentation_does():
    doc = "Intro::\n\n    a = 1\n\n      b = 2\nProse.\n\nTerm\n    Text::\n\n        {x}\n\n    More text.\n"
    assert literal_blocks(doc) == ["a = 1\n\n  b = 2\n", "{x}\n"]


@pytest.fixture(scope="module")
def example_folder(make_lab, tiny_model, tiny_qwen_image, tmp_path_factory):
    """A repository-like folder after `make lab` (a small lab at data/lab), a photos/ folder, a cache of its own
    whose default lab is that lab, and the stand-ins of `STAND_INS` but the server."""
    import shutil

    folder = tmp_path_factory.mktemp("examples")
    lab = folder / "data" / "lab"
    # 12 labelled training images (the feature baseline needs 10), 2 test images: each model example runs on 2.
    shutil.copytree(make_lab(n_train=12, n_test=2, n_track2_train=1, n_track2_test=1, seed=4, long_side=96), lab)
    (folder / "photos" / "2025").mkdir(parents=True)
    for image in sorted((lab / "images_00").glob("*.jpg"))[:3]:
        shutil.copy(image, folder / "photos" / "2025" / image.name)
    (folder / "cache").mkdir()
    (folder / "cache" / "lab-default").symlink_to(lab, target_is_directory=True)
    hub_copy = tmp_path_factory.mktemp("hub") / "PortraitCraft"
    shutil.copytree(lab, hub_copy, ignore=shutil.ignore_patterns("track_1_test_ground_truth.json", "lab_factors.json",
                                                                 "runs"))
    return folder, {"tiny model": str(tiny_model), "hub copy": str(hub_copy), "tiny pipeline": str(tiny_qwen_image),
                    "tiny size": Code("width=64, height=64, steps=2"), "free port": Code("port=0"),
                    "one tiny step": Code('out="runs/qwen-image-lora", max_train_steps=1, grad_accum=1, '
                                          'resolution=64, rank=4)')}


class Code(str):
    """A stand-in written into an example as code, not as a string literal."""


# What examples print where their comments say what it is.
PRINTED = {"portraitcraft.sources": "lab True True\n[]\n"}


def run_examples(names: list[str], folder: Path, stand_ins: dict[str, str], tmp_path: Path, monkeypatch) -> None:
    """Run the examples written at ``names``, each in a fresh folder beside data/lab and photos/ of ``folder``, with
    only `STAND_INS` replaced; every one is tried, and all that fail are named together."""
    import contextlib
    import io

    assert set(STAND_INS) <= set(EXAMPLES) and set(PRINTED) <= set(EXAMPLES)
    monkeypatch.setenv("PORTRAITCRAFT_CACHE", str(folder / "cache"))
    failures = {}
    for where in names:
        work = tmp_path / where.replace(":", ".")
        (work / "data").mkdir(parents=True)
        (work / "data" / "lab").symlink_to(folder / "data" / "lab", target_is_directory=True)
        (work / "photos").symlink_to(folder / "photos", target_is_directory=True)
        monkeypatch.chdir(work)
        for block in [b for b in literal_blocks(example_doc(where)) if is_python(b)]:
            for written, stand_in in STAND_INS.get(where, {}).items():
                assert written in block, f"{where}: the example no longer says {written}"
                value = stand_ins[stand_in]
                block = block.replace(written, value if isinstance(value, Code) else repr(value))
            assert "Qwen/" not in block and not re.search(r"https?://(?!127\.0\.0\.1)", block), block
            printed = io.StringIO()
            try:
                with contextlib.redirect_stdout(printed):
                    exec(compile(block, f"{where} example", "exec"), {"__name__": "example"})
            except Exception as exc:
                failures[where] = f"{type(exc).__name__}: {exc}"
            if where in PRINTED and printed.getvalue() != PRINTED[where]:
                failures[where] = f"printed {printed.getvalue()!r}, its comments say {PRINTED[where]!r}"
    assert failures == {}


def test_every_example_of_the_api_page_runs_as_written(example_folder, score_backend, tmp_path, monkeypatch):
    """All but fine-tuning's (the next test): the feature baseline trained into data/lab/runs/ first, as `make
    baseline` does (at the lab's small size), and the server started; the files the examples write are there."""
    import warnings

    from sklearn.exceptions import FitFailedWarning

    from portraitcraft.baseline import run_feature_baseline
    from portraitcraft.runners.server import ChatModel, serve

    folder, stand_ins = example_folder
    runs = folder / "data" / "lab" / "runs"
    with warnings.catch_warnings():  # a cross-validation fold of 12 images may hold one level only (coped with)
        warnings.simplefilter("ignore", FitFailedWarning)
        run_feature_baseline(runs.parent, runs / "feature-baseline.jsonl", runs / "feature-baseline.model",
                             grid="linear", max_side=96)
    server, _ = serve(chat=ChatModel(score_backend))  # the tiny model, already loaded, under its folder's name
    try:
        run_examples([e for e in EXAMPLES if e not in TRAINING_EXAMPLES], folder,
                     {**stand_ins, "server": server.url}, tmp_path, monkeypatch)
    finally:
        server.shutdown()
        server.server_close()
    # What they say they write, written (the model examples' records on the lab's 2 test images).
    for where, written in {"portraitcraft.runners.base": "runs/tiny.jsonl", "portraitcraft.runners.qwen":
                           "runs/qwen4b.jsonl", "portraitcraft.runners.openai_compat": "runs/vllm.jsonl",
                           "portraitcraft.baseline": "runs/features.jsonl",
                           "portraitcraft.baseline:FeatureBackend": "runs/photos.jsonl",
                           "portraitcraft.predictions:PredictionWriter": "runs/my-model.jsonl"}.items():
        predictions = read_predictions(tmp_path / where.replace(":", ".") / written)
        assert len(predictions.image_paths) == (3 if "photos" in written else 2), where
    assert len((tmp_path / "portraitcraft.assess" / "photos.csv").read_text().splitlines()) == 4
    assert (tmp_path / "portraitcraft.paper" / "report").is_dir()


# The examples that train or generate with a model in process: a test of their own, which xdist runs beside the other.
TRAINING_EXAMPLES = ["portraitcraft.runners.tiny", "portraitcraft.finetune", "portraitcraft.track2.generate",
                     "portraitcraft.track2.finetune", "portraitcraft.track2.tiny_pipeline"]


def test_the_fine_tuning_and_generation_examples_of_the_api_page_run_as_written(example_folder, tmp_path,
                                                                                 monkeypatch):
    """Track 1's fine-tuning runs the whole default recipe on the tiny model, whose random answers never end, so
    that both validations generate to the length limit; Track 2's generation draws the lab's one Track 2 test
    description, its LoRA fine-tuning takes one step; and the tiny pipeline is built."""
    from portraitcraft.track2.finetune import LORA_FILE
    from portraitcraft.track2.generate import RECORDS_FILE, read_records

    folder, stand_ins = example_folder
    run_examples(TRAINING_EXAMPLES, folder, stand_ins, tmp_path, monkeypatch)
    assert (tmp_path / "portraitcraft.finetune" / "runs" / "ft").is_dir()
    generated = tmp_path / "portraitcraft.track2.generate" / "generated"
    assert [r["status"] for r in read_records(generated / RECORDS_FILE)] == ["ok"]
    assert len(list(generated.glob("*.jpg"))) == 1
    assert (tmp_path / "portraitcraft.track2.finetune" / "runs" / "qwen-image-lora" / LORA_FILE).is_file()
    built = tmp_path / "portraitcraft.track2.tiny_pipeline" / "models" / "tiny-qwen-image"
    assert (built / "model_index.json").is_file()


def test_signatures_on_the_api_page_write_long_floats_short():
    """A dataclass's generated ``__init__`` has no source for autodoc to read its defaults from: 1 / 3 would show as
    0.3333333333333333, which the page checker calls a raw number."""
    from portraitcraft.book.sphinx_fixes import short_float_defaults

    signature = "(n: int = 1, subject_x: float = 0.3333333333333333, y=0.43, lr=1e-05)"
    assert short_float_defaults(None, "class", "Factors", None, None, signature, None) == (
        "(n: int = 1, subject_x: float = 0.3333, y=0.43, lr=1e-05)", None)
    assert short_float_defaults(None, "function", "f", None, None, "(x=0.5)", "int") is None


# ---- the API page built as the workflow's link check builds it -------------------------------------------------------

EXTRAS_MODULES = ("cv2", "sklearn", "skops", "torch", "torchvision", "transformers", "accelerate", "peft",
                  "diffusers")


def test_the_link_checker_names_each_broken_internal_link_and_nothing_else(tmp_path, capsys):
    """A planted site: a missing page, a missing anchor, a missing picture, a link out of the site and a folder
    without index.html are named, once each; good links, external addresses, ``#``, the lightbox's ``#_`` and the
    theme's templates under _static/ are not."""
    from portraitcraft.book.links import internal_link_problems, main

    site = tmp_path / "html"
    (site / "book" / "executed").mkdir(parents=True)
    (site / "_static").mkdir()
    (site / "_images").mkdir()
    (site / "_images" / "fig.png").write_bytes(b"png")
    (site / "empty-folder").mkdir()
    (site / "_static" / "macros.html").write_text("<script src=\"{{ pathto('x.js', 1) }}\"></script>")
    (site / "book" / "intro.html").write_text(
        '<h1 id="top">Intro</h1><a name="old-style"></a>'
        '<a href="executed/01.html#counts">ok</a> <a href="#top">ok</a> <a href="#old-style">ok</a> <a href="#">ok</a>'
        '<a href="../_images/fig.png">ok</a> <img src="../_images/fig%2Epng"> <a href="https://example.org/x#y">out</a>'
        '<a href="mailto:a@b.c">mail</a> <img src="data:image/png;base64,AAAA"> <a href="../_static/macros.html">ok</a>'
        '<link rel="stylesheet" href="../_static/theme.css?digest=1">'
        '<a href="executed/02.html">missing page</a> <a href="executed/01.html#no-such-section">missing anchor</a>'
        '<img src="../_images/gone.png"> <a href="../../outside.html">out of the site</a>'
        '<a href="../empty-folder/">folder</a>', encoding="utf-8")
    (site / "book" / "executed" / "01.html").write_text(
        '<section id="counts"><a href="../intro.html#top">back</a><a class="pc-close" href="#_"></a></section>',
        encoding="utf-8")
    (site / "_static" / "theme.css").write_text("")

    assert internal_link_problems(site) == [
        "book/intro.html: executed/02.html (no such file)",
        "book/intro.html: executed/01.html#no-such-section (no id 'no-such-section' on book/executed/01.html)",
        "book/intro.html: ../_images/gone.png (no such file)",
        "book/intro.html: ../../outside.html (outside the built book)",
        "book/intro.html: ../empty-folder/ (no such file)",
    ]
    assert internal_link_problems(site, pages=["book/executed/01.html"]) == []
    with pytest.raises(FileNotFoundError):
        internal_link_problems(tmp_path / "not-built")
    # As `make check-book` runs it: one line per broken link, the count, and the exit code.
    assert main([str(site)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "book/intro.html: executed/02.html (no such file)" and out[-1].endswith("page(s): 5 broken")
    assert main([str(tmp_path / "not-built")]) == 2 and "no such folder" in capsys.readouterr().err


@pytest.mark.slow
def test_the_api_page_builds_with_the_book_extra_alone_and_its_links_hold(tmp_path):
    """The workflow's link check installs `.[book]` only: the API page must still import every module it documents
    (the extras' packages are stood in for), build with warnings as errors, link only to pages that exist, never
    to an example host, and show no repository button while the repository's address is unset."""
    import os
    import subprocess
    import sys

    import yaml

    from portraitcraft.book.build import vendor_plotly
    from portraitcraft.book.links import internal_link_problems

    root = tmp_path / "book-root"
    (root / "book").mkdir(parents=True)
    for name in ("api.md", "formats.md"):
        (root / "book" / name).write_text((REPO / "book" / name).read_text(encoding="utf-8"), encoding="utf-8")
    (root / "book" / "theme").symlink_to(REPO / "book" / "theme")
    vendor_plotly(root)  # as `portraitcraft book` does before it builds: the pages load plotly from the book
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
    # The checker reads these pages as built: a broken link planted in the API page is found.
    api_page = html / "book" / "api.html"
    api_page.write_text(api_page.read_text(encoding="utf-8").replace(
        'href="formats.html"', 'href="formats.html#no-such-heading"', 1), encoding="utf-8")
    assert internal_link_problems(html) == [
        "book/api.html: formats.html#no-such-heading (no id 'no-such-heading' on book/formats.html)"]
    api = (html / "book" / "api.html").read_text(encoding="utf-8")
    assert "portraitcraft.features.compute_features" in api and "portraitcraft.baseline.run_feature_baseline" in api
    assert not re.search(r'href="https?://(gpu-host|host|HOST)[:/]', api)
    assert 'class="highlight-default' in api  # the examples are code blocks
    assert "btn-source-repository-button" not in api and "launch-buttons" not in api
    # Defaults as the source writes them (autodoc_preserve_defaults), else short (sphinx_fixes.short_float_defaults)
    assert "BASE_SCENE" in api and "0.3333333333" not in api


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
