"""The book's sources and build pipeline: notebooks, table of contents, configuration, offline figures."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

pytest.importorskip("plotly", reason="the book extra is not installed: pip install 'portraitcraft[book]'")

from portraitcraft.book import build, paths  # noqa: E402
from portraitcraft.book.figures import (  # noqa: E402
    LEVEL_COLOURS,
    radar_labels,
    radar_scale,
    share_digits,
    show_plotly,
    value_with_interval,
)

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_SOURCES = sorted(p for p in (REPO / "notebooks").glob("*.py") if p.name != "conftest.py")


def test_there_are_notebook_sources():
    assert NOTEBOOK_SOURCES, "notebooks/ holds no jupytext sources"


@pytest.mark.parametrize("source", NOTEBOOK_SOURCES, ids=lambda p: p.name)
def test_notebook_source_parses_and_starts_with_a_parameters_cell(source: Path):
    notebook = jupytext.read(source)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells, f"{source.name}: no code cell"
    assert build.parameters_cell(notebook) is code_cells[0], (
        f'{source.name}: the first code cell must be tagged `# %% tags=["parameters"]`'
    )
    assert "data" in build.declared_parameters(notebook), f"{source.name}: the parameters cell must set `data`"
    for cell in code_cells:
        compile(cell.source, f"{source.name} cell", "exec")  # jupytext may read a broken file; Python must not


@pytest.mark.parametrize("source", NOTEBOOK_SOURCES, ids=lambda p: p.name)
def test_papermill_reads_every_parameter_with_its_help(source: Path):
    # `papermill --help-notebook` shows what its own reader finds; a line it cannot parse (an '=' followed by a
    # ':' in the comment, for one) is dropped from that help with a warning in every build log.
    from papermill.translators import PythonTranslator

    notebook = jupytext.read(source)
    inspected = PythonTranslator.inspect(build.parameters_cell(notebook))
    assert [p.name for p in inspected] == build.declared_parameters(notebook)
    undocumented = [p.name for p in inspected if not p.help.strip()]
    assert not undocumented, f"{source.name}: parameters without a '# help' comment: {undocumented}"


def test_toc_lists_every_notebook_and_only_existing_ones():
    pages = build.notebook_pages(REPO)
    listed = [page.source.name for page in pages]
    assert len(listed) == len(set(listed)), f"_toc.yml lists a notebook twice: {listed}"
    assert set(listed) == {p.name for p in NOTEBOOK_SOURCES}, (
        "every notebook in _toc.yml and every toc entry a notebook"
    )
    for page in pages:
        assert page.executed == Path("book/executed") / f"{page.name}.ipynb"
    for document in build.toc_pages(REPO):
        if not document.startswith("book/executed/"):
            assert any((REPO / document).with_suffix(suffix).is_file() for suffix in (".md", ".ipynb")), document


def test_toc_naming_a_notebook_without_source_is_an_error(tmp_path: Path):
    (tmp_path / "_config.yml").write_text("title: t\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: book/executed/99_gone\n")
    with pytest.raises(build.BookError, match=r"book/executed/99_gone.*notebooks/99_gone\.py"):
        build.notebook_pages(tmp_path)


def test_toc_pages_follow_reading_order_through_parts_and_sections(tmp_path: Path):
    (tmp_path / "_toc.yml").write_text(textwrap.dedent("""\
        format: jb-book
        root: book/intro
        parts:
          - caption: A
            chapters:
              - file: book/executed/02_b
                sections:
                  - file: book/executed/03_c.ipynb
          - caption: B
            chapters:
              - file: book/executed/01_a
        """))
    assert build.toc_pages(tmp_path) == ["book/intro", "book/executed/02_b", "book/executed/03_c", "book/executed/01_a"]


def test_declared_parameters_reads_plain_and_annotated_assignments():
    notebook = jupytext.reads(
        '# %% tags=["parameters"]\ndata = "x"\nmax_side: int = 3\nlimit, other = 1, 2\nprint(data)\n\n# %%\nz = 1\n',
        fmt="py:percent",
    )
    assert build.declared_parameters(notebook) == ["data", "max_side"]
    assert build.declared_parameters(jupytext.reads("# %%\nz = 1\n", fmt="py:percent")) == []


def test_config_renders_executed_notebooks_offline():
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["only_build_toc_files"] is True
    sphinx = config["sphinx"]["config"]
    # the vendored plotly.js (made by the build) and the book's own committed stylesheet, nothing from a CDN
    assert sphinx["html_static_path"] == [build.VENDOR_DIR.as_posix(), "book/theme"]
    assert "plotly.min.js" in sphinx["html_js_files"]
    assert all((REPO / "book" / "theme" / css).is_file() for css in sphinx["html_css_files"])
    assert "portraitcraft.book.sphinx_fixes" in config["sphinx"]["extra_extensions"]
    # math would make pages load MathJax from a CDN
    assert not {"dollarmath", "amsmath"} & set(config["parse"]["myst_enable_extensions"])
    assert not (REPO / "_static").exists(), "Jupyter Book injects every js/css of _static/ into every page"


def test_vendor_plotly_copies_the_wheels_bundle(tmp_path: Path):
    import plotly

    target = build.vendor_plotly(tmp_path)
    assert target == tmp_path / "book" / "_vendor" / "plotly.min.js"
    bundled = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert target.read_bytes() == bundled.read_bytes()


def test_dataset_parameter_is_relative_inside_the_repository(tmp_path: Path, monkeypatch):
    inside = tmp_path / "data" / "lab"
    inside.mkdir(parents=True)
    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    outside.mkdir()
    monkeypatch.chdir(tmp_path / "data")
    assert build.dataset_parameter("lab", tmp_path) == "data/lab"  # an existing folder wins over the name "lab"
    assert build.dataset_parameter(str(outside), tmp_path) == str(outside.resolve())
    assert build.dataset_parameter("owner/name", tmp_path) == "owner/name"


def test_locate_finds_data_from_the_notebooks_folder(tmp_path: Path, monkeypatch):
    (tmp_path / "_toc.yml").write_text("root: x\n")
    (tmp_path / "_config.yml").write_text("title: t\n")
    (tmp_path / "data" / "lab").mkdir(parents=True)
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert Path(paths.locate("data/lab")) == tmp_path / "data" / "lab"
    assert paths.locate("owner/name") == "owner/name"
    assert paths.repository_path("book/runs") == tmp_path / "book" / "runs"


def test_locate_finds_the_repository_from_anywhere(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # outside the repository: found from the package's source
    assert Path(paths.locate("pyproject.toml")) == REPO / "pyproject.toml"
    assert paths.repository_path("book/runs") == REPO / "book" / "runs"


def test_shown_path_prints_a_path_short_and_without_dot_dot(tmp_path: Path, monkeypatch):
    repo, home = tmp_path / "work" / "repo", tmp_path / "home"
    (repo / "data" / "lab").mkdir(parents=True)
    (repo / "_toc.yml").write_text("root: x\n")
    (repo / "_config.yml").write_text("title: t\n")
    (tmp_path / "work" / "shared" / "sample").mkdir(parents=True)
    (home / "photos").mkdir(parents=True)
    (tmp_path / "elsewhere" / "x").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(repo)
    assert paths.shown_path(repo / "data" / ".." / "data" / "lab") == "data/lab"  # inside: relative to the root
    assert paths.shown_path("data/lab") == "data/lab" and paths.shown_path(repo) == "."
    assert paths.shown_path(f"{repo}/../shared/sample") == "../shared/sample"  # beside it, as typed from the root
    assert paths.shown_path(home / "photos") == "~/photos"
    assert paths.shown_path(home / "photos", home=False) == str(home / "photos")  # for a quoted shell command
    far = tmp_path / "elsewhere" / "x"
    assert paths.shown_path(f"{far}/../x") == str(far)  # further than a few ".." away: whole, normalised
    assert paths.shown_path("mine=data/lab") == "mine=data/lab"  # a labelled prediction file keeps its label
    assert paths.shown_path("lab") == "lab" and paths.shown_path("owner/name") == "owner/name"  # names, not paths
    # A ".." after a link is resolved rather than taken out by hand (which would name another folder).
    (repo / "link").symlink_to(far)
    assert paths.shown_path(repo / "link" / ".." / "x") == str(far)


def test_show_plotly_gives_html_that_needs_the_vendored_plotly_js():
    import plotly.graph_objects as go

    figure = go.Figure(go.Bar(x=["Poor", "Good"], y=[1, 2]), layout=dict(title="levels"))
    shown = show_plotly(figure, height=300)
    bundle = shown._repr_mimebundle_()
    html = bundle["text/html"]
    assert "Plotly.newPlot" in html and shown.div_id in html
    assert "<script src=" not in html and "cdn.plot.ly" not in html
    assert len(html) < 20_000, "the plotly.js bundle must not be inlined"
    assert bundle["application/vnd.plotly.v1+json"]["layout"]["height"] == 300
    again = show_plotly(go.Figure(go.Bar(x=["Poor", "Good"], y=[1, 2]), layout=dict(title="levels", height=300)))
    assert again.div_id != shown.div_id, "two equal figures on one page need distinct ids"


def test_level_colours_cover_the_vocabulary():
    from portraitcraft.attributes import LEVELS

    assert list(LEVEL_COLOURS) == list(LEVELS)
    assert len(set(LEVEL_COLOURS.values())) == len(LEVELS)


def test_tidy_executed_drops_plotly_json_only_beside_html(tmp_path: Path):
    notebook = nbformat.v4.new_notebook()
    both = nbformat.v4.new_output("display_data", data={"text/html": "<div/>", build.PLOTLY_MIME: {"data": []}})
    alone = nbformat.v4.new_output("display_data", data={build.PLOTLY_MIME: {"data": []}})
    notebook.cells = [nbformat.v4.new_code_cell("x", outputs=[both, alone])]
    notebook.metadata["papermill"] = {"input_path": "/tmp/scratch/x.ipynb"}
    path = tmp_path / "x.ipynb"
    nbformat.write(notebook, path)
    page = build.NotebookPage("x", Path("notebooks/x.py"), Path("book/executed/x.ipynb"))
    build._tidy_executed(path, page)
    tidied = json.loads(path.read_text())
    outputs = tidied["cells"][0]["outputs"]
    assert set(outputs[0]["data"]) == {"text/html"}
    assert set(outputs[1]["data"]) == {build.PLOTLY_MIME}
    assert tidied["metadata"]["papermill"]["input_path"] == "notebooks/x.py"


def test_tidy_executed_removes_a_tagged_section_that_showed_nothing_and_the_injected_parameters(tmp_path: Path):
    def markdown(text: str, *tags: str):
        return nbformat.v4.new_markdown_cell(text, metadata={"tags": list(tags)} if tags else {})

    shown = nbformat.v4.new_output("display_data", data={"text/plain": "a table"})
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("data = 'x'", metadata={"tags": ["injected-parameters"]}),
        markdown("## Empty", build.EMPTY_SECTION_TAG), markdown("Why it matters."), nbformat.v4.new_code_cell("pass"),
        markdown("## Shown", build.EMPTY_SECTION_TAG), nbformat.v4.new_code_cell("table", outputs=[shown]),
        markdown("## Untagged"), nbformat.v4.new_code_cell("pass"),
    ]
    path = tmp_path / "x.ipynb"
    nbformat.write(notebook, path)
    build._tidy_executed(path, build.NotebookPage("x", Path("notebooks/x.py"), Path("book/executed/x.ipynb")))
    removed = ["remove-cell" in cell["metadata"].get("tags", []) for cell in json.loads(path.read_text())["cells"]]
    assert removed == [True, True, True, True, False, False, False, False]


def _tiny_book(root: Path, body: str) -> build.NotebookPage:
    (root / "notebooks").mkdir()
    (root / "notebooks" / "01_tiny.py").write_text(
        '# %% tags=["parameters"]\ndata = "default"\n\n# %%\nprint("data is", data)\n\n' + body
    )
    return build.NotebookPage("01_tiny", Path("notebooks/01_tiny.py"), Path("book/executed/01_tiny.ipynb"))


@pytest.mark.slow
def test_execute_page_injects_declared_parameters_and_runs_at_the_root(tmp_path: Path, capfd):
    page = _tiny_book(tmp_path, '# %%\nimport os\nprint("cwd", os.getcwd())\n')
    executed = build.execute_page(page, tmp_path, {"data": "data/lab", "undeclared": 1}, progress=False)
    # A successful page prints nothing of the kernel's own (no TCP warning, no interrupt caught at shutdown) and
    # leaves no socket files behind.
    printed = capfd.readouterr()
    assert "IPKernelApp" not in printed.err + printed.out and "KeyboardInterrupt" not in printed.err + printed.out
    assert not list(tmp_path.glob("kernel*"))
    notebook = nbformat.read(executed, as_version=4)
    text = "".join(o.get("text", "") for cell in notebook.cells for o in cell.get("outputs", []))
    assert "data is data/lab" in text
    assert f"cwd {tmp_path}" in text
    assert notebook.metadata["papermill"]["parameters"] == {"data": "data/lab"}


@pytest.mark.slow
def test_failing_notebook_is_named_with_its_cell_and_kept(tmp_path: Path):
    page = _tiny_book(tmp_path, '# %%\nvalue = 1\n\n# %%\nraise ValueError("no such split")\n')
    with pytest.raises(build.NotebookFailed) as failure:
        build.execute_page(page, tmp_path, {"data": "x"}, progress=False)
    message = str(failure.value)
    assert "01_tiny" in message and "ValueError: no such split" in message
    source_line = (tmp_path / page.source).read_text().splitlines().index('raise ValueError("no such split")') + 1
    assert f"notebooks/01_tiny.py:{source_line}" in message
    kept = nbformat.read(tmp_path / page.executed, as_version=4)
    assert any(o.get("ename") == "ValueError" for cell in kept.cells for o in cell.get("outputs", []))


@pytest.mark.slow
def test_a_page_is_executed_again_only_when_its_inputs_change(tmp_path: Path):
    page = _tiny_book(tmp_path, "")
    data = tmp_path / "data"
    data.mkdir()
    (data / "track_1_test.json").write_text("[]")
    parameters = {"data": "data"}
    assert build.execute_page(page, tmp_path, parameters, progress=False, force=False) is not None
    first = build.recorded_inputs(tmp_path / page.executed)
    assert first is not None
    assert build.execute_page(page, tmp_path, parameters, progress=False, force=False) is None
    assert build.page_inputs((tmp_path / page.source).read_text(), tmp_path, {"data": "other"}) != first
    (data / "track_1_test.json").write_text("[ ]")  # the dataset changed: a new size
    assert build.page_inputs((tmp_path / page.source).read_text(), tmp_path, parameters) != first
    assert build.execute_page(page, tmp_path, parameters, progress=False, force=False) is not None
    # A failing execution records no inputs, so the next build runs it again.
    (tmp_path / page.source).write_text((tmp_path / page.source).read_text() + "\n# %%\nraise ValueError('x')\n")
    with pytest.raises(build.NotebookFailed):
        build.execute_page(page, tmp_path, parameters, progress=False, force=False)
    assert build.recorded_inputs(tmp_path / page.executed) is None


def test_html_inputs_see_the_book_files_but_not_the_build_output(tmp_path: Path):
    (tmp_path / "_config.yml").write_text("title: x\n")
    (tmp_path / "_toc.yml").write_text("root: book/intro\n")
    (tmp_path / "book" / "_build" / "html").mkdir(parents=True)
    (tmp_path / "book" / "intro.md").write_text("# Intro\n")
    before = build.html_inputs(tmp_path, tmp_path / "book")
    (tmp_path / "book" / "_build" / "html" / "index.html").write_text("<html></html>")
    assert build.html_inputs(tmp_path, tmp_path / "book") == before
    (tmp_path / "book" / "intro.md").write_text("# Introduction\n")
    assert build.html_inputs(tmp_path, tmp_path / "book") != before


@pytest.mark.slow
def test_pages_run_in_parallel_and_a_failure_stops_the_build_naming_its_page(tmp_path: Path):
    (tmp_path / "_config.yml").write_text("title: x\n")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n"
        + "".join(f"  - file: book/executed/0{i}_page\n" for i in (1, 2, 3))
    )
    bodies = {
        # Page 1 waits (up to 2 minutes) for page 2 to start: it meets it only if both run at once.
        1: "import time\nfrom pathlib import Path\nfor _ in range(1200):\n    if Path('page-2-started').exists():\n"
           "        print('met page 2')\n        break\n    time.sleep(0.1)\nelse:\n    print('ran alone')\n",
        2: "from pathlib import Path\nPath('page-2-started').touch()\nraise ValueError('page two fails')\n",
        3: "print('page 3')\n",
    }
    (tmp_path / "notebooks").mkdir()
    for i, body in bodies.items():
        (tmp_path / "notebooks" / f"0{i}_page.py").write_text(f'# %% tags=["parameters"]\ndata = "x"\n\n# %%\n{body}')
    with pytest.raises(build.NotebookFailed) as failure:
        build.build_book("x", root=tmp_path, html=False, progress=False, jobs=2, log=lambda *args: None)
    assert "02_page" in str(failure.value) and "ValueError: page two fails" in str(failure.value)
    first = nbformat.read(tmp_path / "book/executed/01_page.ipynb", as_version=4)  # finished beside the failure, kept
    assert "met page 2" in "".join(o.get("text", "") for cell in first.cells for o in cell.get("outputs", []))

    (tmp_path / "notebooks" / "02_page.py").write_text('# %% tags=["parameters"]\ndata = "x"\n\n# %%\nprint("fixed")\n')
    logged: list[str] = []
    build.build_book("x", root=tmp_path, html=False, progress=False, jobs=2, log=logged.append)
    executed = {line.split()[1] for line in logged if line.startswith("executed")}
    assert "notebooks/02_page.py" in executed and "notebooks/01_page.py" not in executed  # page 1 was up to date
    assert all((tmp_path / f"book/executed/0{i}_page.ipynb").is_file() for i in (1, 2, 3))


def test_a_page_reading_the_other_pages_runs_after_them(tmp_path: Path):
    """The appendix reads the other chapters' executed notebooks: in a parallel build it must start only once
    every other page has ended, or it reports a page of this build as left over from other data."""
    (tmp_path / "_config.yml").write_text("title: x\n")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n"
        + "".join(f"  - file: book/executed/0{i}_page\n" for i in (1, 2, 3))
    )
    header = "# ---\n# jupyter:\n#   portraitcraft:\n#     reads_other_pages: true\n# ---\n\n"
    bodies = {
        1: "import time\nfrom pathlib import Path\ntime.sleep(2)\nPath('page-1-done').touch()\n",
        2: "from pathlib import Path\nprint('saw page 1' if Path('page-1-done').exists() else 'page 1 not done')\n",
        3: "from pathlib import Path\nPath('page-3-done').touch()\n",
    }
    (tmp_path / "notebooks").mkdir()
    for i, body in bodies.items():
        text = f'# %% tags=["parameters"]\ndata = "x"\n\n# %%\n{body}'
        (tmp_path / "notebooks" / f"0{i}_page.py").write_text((header if i == 2 else "") + text)
    assert [page.reads_other_pages for page in build.notebook_pages(tmp_path)] == [False, True, False]
    build.build_book("x", root=tmp_path, html=False, progress=False, jobs=2, log=lambda *args: None)
    reader = nbformat.read(tmp_path / "book/executed/02_page.ipynb", as_version=4)
    assert "saw page 1" in "".join(o.get("text", "") for cell in reader.cells for o in cell.get("outputs", []))
    appendix = {page.name: page for page in build.notebook_pages(REPO)}["07_appendix"]
    assert appendix.reads_other_pages


def test_repeated_inline_scripts_are_dropped_once_per_page():
    """sphinx-thebe's configuration script arrives twice (file name None, then ''): the page must declare it once."""
    from sphinx.builders.html._assets import _JavaScript

    from portraitcraft.book.sphinx_fixes import drop_repeated_scripts

    body = 'const THEBE_JS_URL = "x"'
    context = {"script_files": [_JavaScript("_static/doctools.js", priority=200), _JavaScript(None, body=body),
                                _JavaScript("", body=body), _JavaScript("", body="other = 1")]}
    drop_repeated_scripts(None, "page", "page.html", context, None)
    assert [(s.filename, s.attributes.get("body")) for s in context["script_files"]] == [
        ("_static/doctools.js", None), (None, body), ("", "other = 1")]


def test_radar_labels_are_the_attributes_in_order_wrapped_to_width():
    from portraitcraft.attributes import ATTRIBUTE_NAMES

    labels = radar_labels(width=18, newline="<br>")
    assert len(labels) == len(ATTRIBUTE_NAMES) == len(set(labels))
    assert all(len(line) <= 18 for label in labels for line in label.split("<br>"))
    assert labels[ATTRIBUTE_NAMES.index("Appropriateness of Negative Space")] == "Appropriateness of<br>Negative Space"
    assert labels[ATTRIBUTE_NAMES.index("Application of Classical Composition Principles")].startswith("Classical")


def _reach_along(values: list[float], low: float, degrees: float) -> float:
    """How far from the centre a closed polygon (values on evenly spaced spokes, radius value - low) reaches along a
    direction, found as the farthest crossing of the ray with any edge, in x/y (independently of radar_scale)."""
    n = len(values)
    points = [((v - low) * math.sin(2 * math.pi * k / n), (v - low) * math.cos(2 * math.pi * k / n))
              for k, v in enumerate(values)]
    dx, dy = math.sin(math.radians(degrees)), math.cos(math.radians(degrees))
    reach = 0.0
    for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1]):
        ex, ey = x2 - x1, y2 - y1
        det = dx * (-ey) - dy * (-ex)
        if abs(det) < 1e-12:
            continue
        t = (x1 * (-ey) - y1 * (-ex)) / det  # ray t*(dx, dy) = (x1, y1) + u*(ex, ey)
        u = (dx * y1 - dy * x1) / det
        if t >= 0 and -1e-9 <= u <= 1 + 1e-9:
            reach = max(reach, t)
    return reach


def test_radar_scale_numbers_only_the_rings_outside_every_polygon_in_the_roomiest_gap():
    train = [6.1, 6.0, 6.9, 6.1, 5.8, 6.6, 5.6, 5.7, 6.1, 5.8, 6.6, 5.9, 6.7]
    test = [6.2, 6.1, 7.0, 6.2, 5.8, 6.4, 5.7, 5.7, 6.0, 5.7, 6.9, 5.8, 6.4]
    scale = radar_scale([train, test], low=4, high=10)
    assert scale.rings == [4, 5, 6, 7, 8, 9, 10] and scale.spokes == 13
    reach = {gap: max(_reach_along(p, 4, (gap + 0.5) * 360 / 13) for p in (train, test)) for gap in range(13)}
    assert reach[scale.gap] == pytest.approx(min(reach.values()))  # the gap with the most room
    for ring, label in zip(scale.rings, scale.labels):
        # numbered only beyond the polygons (and the label's half height, 8% of the radius)
        assert bool(label) == (ring - 4 > reach[scale.gap] + 0.08 * 6), (ring, label)
    assert scale.unlabelled == [4, 5, 6] and scale.labels[-1] == "10"
    assert scale.bisector_degrees == pytest.approx((scale.gap + 0.5) * 360 / 13)
    # a polygon that reaches the edge everywhere leaves no ring to number; none is numbered rather than one on it
    assert radar_scale([[10.0] * 13], low=4).labels == [""] * 7


def test_share_digits_are_the_decimals_a_share_of_n_items_carries():
    assert [share_digits(n) for n in (1, 2, 10, 11, 87, 100, 101, 300, 1000, 1300)] == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4]
    assert value_with_interval(0.69, 0.6, 0.78, digits=share_digits(100)) == (
        '0.69<br><span class="interval">[0.60, 0.78]</span>')


def test_value_with_interval_puts_the_interval_under_the_value_and_says_when_missing():
    assert (
        value_with_interval(0.51378, 0.356, 0.6561, digits=4)
        == '0.5138<br><span class="interval">[0.356, 0.656]</span>'
    )
    # no interval (no bootstrap): the value alone
    assert value_with_interval(0.5, float("nan"), float("nan")) == "0.500"
    assert value_with_interval(float("nan"), 0.1, 0.2, missing="n/a") == "n/a"
    assert value_with_interval(None) == "-"
    # one image, or nine: no interval (a bootstrap of so few states a point as if it were certain), the value alone
    assert value_with_interval(0.0769, 0.0769, 0.0769, digits=1, images=1) == "0.1"
    assert value_with_interval(0.5, 0.4, 0.6, digits=1, images=9) == "0.5"
    assert value_with_interval(0.5, 0.4, 0.6, digits=1, images=10) == '0.5<br><span class="interval">[0.4, 0.6]</span>'


def test_percentages_and_metrics_carry_the_decimals_of_their_count():
    import pandas as pd

    from portraitcraft.book.figures import percent
    from portraitcraft.book.tables import metric_digits, report_cell, table3_cell

    assert [percent(0.13, 100), percent(0.013, 1000), percent(1.0, 1), percent(0.125, 8)] == ["13%", "1.3%", "100%",
                                                                                            "12%"]
    assert percent(float("nan"), 100) == "-"
    # 100 images: 2 decimals, Level Acc (1,300 levels) 3; none more than 3 however many images there are
    assert [metric_digits(m, 100) for m in ("srcc", "plcc", "level_acc", "qa_acc", "overall")] == [2, 2, 3, 2, 2]
    assert [metric_digits(m, 20_000) for m in ("srcc", "level_acc", "qa_acc")] == [3, 3, 3]
    assert metric_digits("level_acc", 1) == 2  # 1 of 13 levels right: 0.08
    row = pd.Series({"qa_acc": 0.69, "qa_acc_low": 0.6, "qa_acc_high": 0.78, "qa_available": True, "n_images": 100})
    assert table3_cell(row, "qa_acc") == '0.69<br><span class="interval">[0.60, 0.78]</span>'
    assert table3_cell(pd.concat([row.drop("n_images"), pd.Series({"n_images": 1})]), "qa_acc") == "0.7"

    class Report:  # an EvaluationReport's fields that report_cell reads
        values = {"level_acc": 0.0769}
        ci = {"level_acc": type("Interval", (), {"low": 0.0769, "high": 0.0769})()}
        truth = [None]  # one image

    assert report_cell(Report(), "level_acc") == "0.08"


def test_text_on_a_fill_takes_the_colour_with_the_higher_wcag_contrast():
    import pandas as pd

    from portraitcraft.book.figures import DARK_TEXT, LIGHT_TEXT, contrast_ratio, shaded, text_colour_on

    # WCAG's own reference points: black on white 21:1, #767676 on white 4.54:1
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#767676", "white") == pytest.approx(4.54, abs=0.01)
    # white on the levels' mid green and orange is under 3:1 though they look dark; dark grey reads on them
    assert contrast_ratio("white", LEVEL_COLOURS["Good"]) < 3 and text_colour_on(LEVEL_COLOURS["Good"]) == DARK_TEXT
    assert text_colour_on(LEVEL_COLOURS["Medium"]) == DARK_TEXT and text_colour_on("#00441b") == LIGHT_TEXT
    frame = pd.DataFrame({"name": ["a", "b", "c"], "share": [0.0, 0.62, 1.0]})
    css = shaded(frame.style, cmap="Greens", subset=["share"])._compute().ctx
    colours = [dict(css[(row, 1)]) for row in range(3)]
    assert [c["color"] for c in colours] == [DARK_TEXT, DARK_TEXT, LIGHT_TEXT]
    assert all(contrast_ratio(c["color"], c["background-color"]) >= 4.5 for c in colours)
    assert (0, 0) not in css  # the words are not filled


def test_summary_lines_differ_in_dash_and_width_and_a_darker_shade_stays_that_colour():
    from portraitcraft.book.figures import SUMMARY_LINES, darker, relative_luminance

    assert len({line[0] for line in SUMMARY_LINES}) == len({line[2] for line in SUMMARY_LINES}) == len(SUMMARY_LINES)
    assert [line[2] for line in SUMMARY_LINES] == sorted((line[2] for line in SUMMARY_LINES), reverse=True)
    assert darker("#ffffff", 0.5) == "#808080" and darker("#4c72b0", 0) == "#4c72b0"
    assert relative_luminance(darker("#dd8452")) < relative_luminance("#dd8452")


@pytest.mark.slow
def test_only_runs_one_chapter_on_a_fresh_clone_and_leaves_the_html_for_the_whole_book(tmp_path: Path):
    (tmp_path / "_config.yml").write_text("title: x\n")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n"
        + "".join(f"  - file: book/executed/0{i}_page\n" for i in (1, 2))
    )
    (tmp_path / "notebooks").mkdir()
    for i in (1, 2):
        (tmp_path / "notebooks" / f"0{i}_page.py").write_text(
            f'# %% tags=["parameters"]\ndata = "x"\n\n# %%\nprint({i})\n'
        )
    logged: list[str] = []
    # No page was ever executed (a fresh clone): the chapter asked for runs, and the HTML waits for the others.
    result = build.build_book("x", root=tmp_path, only=["02_page"], progress=False, log=logged.append)
    assert result == tmp_path / build.EXECUTED_DIR
    assert (tmp_path / "book/executed/02_page.ipynb").is_file()
    assert not (tmp_path / "book/executed/01_page.ipynb").exists()
    assert any("HTML not built" in line and "01_page" in line for line in logged)


def test_a_chapter_runs_from_any_working_directory_given_only_its_parameters(small_lab, tmp_path, monkeypatch):
    """Chapter 1 executed by papermill in an empty folder outside the repository, given only `data`."""
    papermill = pytest.importorskip("papermill")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    source = tmp_path / "01_dataset.ipynb"
    nbformat.write(jupytext.read(REPO / "notebooks" / "01_dataset.py"), source)
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("PYTHONPATH", str(REPO / "src"))
    papermill.execute_notebook(str(source), str(tmp_path / "out.ipynb"), parameters={"data": str(small_lab)},
                               cwd=str(elsewhere), kernel_name="python3", progress_bar=False)
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    printed = "".join(o.get("text", "") + o.get("data", {}).get("text/html", "") + o.get("data", {}).get(
        "text/markdown", "") for cell in executed.cells for o in cell.get("outputs", []))
    assert "train 24 images" in printed, printed[:500]  # the banner
    assert list(elsewhere.iterdir()) == []  # nothing written where it ran


def test_intro_lists_every_chapter_and_says_how_to_rerun():
    intro = (REPO / "book" / "intro.md").read_text(encoding="utf-8")
    for page in build.notebook_pages(REPO):
        assert f"{{doc}}`executed/{page.name}`" in intro, f"book/intro.md does not list {page.name}"
    assert "Reported" in intro and "Computed" in intro
    assert "make book DATA=" in intro and "PREDICTIONS=" in intro


def test_banner_names_the_data_its_kind_splits_hidden_labels_predictions_commit_and_date(tmp_path: Path):
    import datetime as dt
    import shutil

    from portraitcraft.book.banner import banner, banner_lines
    from portraitcraft.lab import write_lab
    from portraitcraft.sources import open_dataset

    lab = tmp_path / "lab"
    write_lab(lab, n_train=6, n_test=4, n_track2_train=2, n_track2_test=1, seed=0, annotations_only=True,
              progress=False)
    when = dt.datetime(2026, 11, 30, 4, 5, tzinfo=dt.timezone.utc)
    lines = banner_lines(open_dataset(lab, reveal_ground_truth=True), data="data/lab", predictions=["runs/a.jsonl"],
                         now=when, commit="abc1234")
    assert lines["Data"].startswith("data/lab: the composition lab")
    assert lines["Images"].startswith("Track 1: train 6 images, test 4 images; test labels hidden in the published "
                                      "file, read here from track_1_test_ground_truth.json.")
    assert "Track 2 descriptions: train 2, test 1" in lines["Images"]
    assert lines["Predictions"] == "runs/a.jsonl"
    assert lines["Built"] == "2026-11-30 04:05 UTC from commit abc1234"

    # A folder in the published layout without the lab's files: local data, test labels hidden, no predictions.
    local = tmp_path / "copy"
    local.mkdir()
    for name in ("track_1_train.json", "track_1_test.json"):
        shutil.copy(lab / name, local / name)
    lines = banner_lines(open_dataset(local), predictions=[], now=when, commit="abc1234")
    assert lines["Data"] == f"{local}: a local copy of PortraitCraft"
    assert "test labels hidden." in lines["Images"] and "Track 2" not in lines["Images"]
    assert lines["Predictions"] == "none given"
    # A page that reads no predictions says nothing about them (not "none given" in a build that was given some).
    assert "Predictions" not in banner_lines(open_dataset(local), now=when, commit="abc1234")
    shown = banner(open_dataset(local), predictions=[], now=when, commit="abc1234").data
    assert 'class="pc-banner pc-banner-local"' in shown and "<b>Predictions</b> none given" in shown
    # A page that judges a saved model reads no prediction file: it names the model instead.
    lines = banner_lines(open_dataset(local), predictions=None, model="runs/a.model", now=when, commit="abc1234")
    assert "Predictions" not in lines and lines["Model"] == "runs/a.model"
    assert list(lines) == ["Data", "Images", "Model", "Built"]



def test_the_lab_chapter_takes_the_baseline_model_not_the_prediction_files(tmp_path: Path):
    from portraitcraft.predictions import PredictionWriter, ok_record

    model_dir = tmp_path / "runs" / "baseline.model"
    model_dir.mkdir(parents=True)
    (model_dir / "manifest.json").write_text("{}", encoding="utf-8")
    parsed = {"total_score": 50, "criteria": {}, "answer": "A"}
    for name, run in [("other.jsonl", {"backend": "transformers", "model": "qwen"}),
                      ("baseline.jsonl", {"backend": "features", "model": f"{model_dir}#0123456789ab"})]:
        with PredictionWriter(tmp_path / "runs" / name) as writer:
            writer.write(ok_record("a.jpg", parsed, run=run))
    assert build.baseline_model_parameter(["runs/other.jsonl"], tmp_path) == ""
    found = build.baseline_model_parameter(["runs/other.jsonl", "runs/baseline.jsonl"], tmp_path)
    assert found == "runs/baseline.model"
    # The lab chapter declares the model and no prediction list, so a new prediction file leaves its inputs as
    # they were, and a retrained model changes them.
    source = (Path(__file__).resolve().parents[1] / "notebooks" / "06_lab.py").read_text(encoding="utf-8")
    declared = build.declared_parameters(jupytext.reads(source, fmt="py:percent"))
    assert "baseline_model" in declared and "predictions" not in declared
    before = build.page_inputs(source, tmp_path, {"baseline_model": found})
    (model_dir / "manifest.json").write_text('{"retrained": 1}', encoding="utf-8")
    assert build.page_inputs(source, tmp_path, {"baseline_model": found}) != before


def test_a_lab_trained_baseline_at_hand_is_found_without_training_one(tmp_path: Path, monkeypatch):
    import portraitcraft.baseline as baseline

    monkeypatch.setenv("PORTRAITCRAFT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(baseline, "find_baseline_model", lambda predictions=None: None)  # no repository's lab model
    assert baseline.lab_model_at_hand(tmp_path) is None  # none: the page says how to get one
    cached = baseline.cached_lab_model_dir()
    cached.mkdir(parents=True)
    (cached / "manifest.json").write_text("{}", encoding="utf-8")
    assert baseline.lab_model_at_hand(tmp_path) == cached  # the one assess built
    made = tmp_path / baseline.LAB_MODEL_DIR
    made.mkdir(parents=True)
    (made / "manifest.json").write_text("{}", encoding="utf-8")
    assert baseline.lab_model_at_hand(tmp_path) == made  # make baseline's, in the book's repository, first


@pytest.mark.slow
def test_a_build_without_a_baseline_file_gives_the_lab_chapter_a_model_at_hand(tmp_path: Path):
    (tmp_path / "_config.yml").write_text("title: x\n")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: book/executed/01_page\n")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_page.py").write_text(
        '# %% tags=["parameters"]\ndata = "x"\nbaseline_model = ""\n\n# %%\nprint("model:", repr(baseline_model))\n')
    model = tmp_path / "data" / "lab" / "runs" / "feature-baseline.model"
    model.mkdir(parents=True)
    (model / "manifest.json").write_text("{}", encoding="utf-8")

    def printed() -> str:
        page = nbformat.read(tmp_path / "book/executed/01_page.ipynb", as_version=4)
        return "".join(o.get("text", "") for cell in page.cells for o in cell.get("outputs", []))

    build.build_book("x", root=tmp_path, html=False, progress=False, log=lambda *args: None)
    assert "model: 'data/lab/runs/feature-baseline.model'" in printed()
    # asked for none, it gets none
    build.build_book("x", root=tmp_path, html=False, progress=False, parameters={"baseline_model": ""},
                     log=lambda *args: None)
    assert "model: ''" in printed()


@pytest.mark.slow
def test_builds_into_different_out_folders_run_at_once_and_keep_to_their_folder(tmp_path: Path, monkeypatch):
    """`portraitcraft book --out DIR`: the executed notebooks, what the pages keep and the HTML all go under DIR;
    two builds on other data into other folders, at the same time, each end with their own pages."""
    from concurrent.futures import ThreadPoolExecutor

    root = tmp_path / "repo"
    (root / "book").mkdir(parents=True)
    (root / "_config.yml").write_text("title: x\nexecute:\n  execute_notebooks: 'off'\nonly_build_toc_files: true\n"
                                      "exclude_patterns: [notebooks, out-*]\n")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/executed/01_page\n")
    (root / "book" / "intro.md").write_text("# Intro\n\nThe book.\n")
    (root / "notebooks").mkdir()
    (root / "notebooks" / "01_page.py").write_text(
        '# %% [markdown]\n# # Page\n\n# %% tags=["parameters"]\ndata = "x"\nruns = "book/runs"\n\n# %%\n'
        'from pathlib import Path\n'
        'Path(runs).mkdir(parents=True, exist_ok=True)\n(Path(runs) / "kept.txt").write_text(data)\n'
        'print(f"data is {data}")\n')

    def build_into(name: str) -> Path:
        return build.build_book(name, root=root, out=tmp_path / f"out-{name}", progress=False,
                                log=lambda *args: None)

    # Papermill changes the process's working directory for each page and back; two builds in threads of one
    # process can restore it under each other and leave it in the book's root, where the next test of this worker
    # would find this test's book: the working directory is put back when the test ends.
    monkeypatch.chdir(tmp_path)
    with ThreadPoolExecutor(2) as pool:
        html = dict(zip("ab", pool.map(build_into, "ab")))
    for name in "ab":
        out = tmp_path / f"out-{name}"
        assert html[name] == out / "_build" / "html"
        assert f"data is {name}" in (html[name] / "book" / "executed" / "01_page.html").read_text()
        assert (out / "runs" / "kept.txt").read_text() == name
        assert nbformat.read(out / "executed" / "01_page.ipynb", as_version=4).metadata["papermill"]["parameters"][
            "data"] == name
    assert not (root / "book" / "executed").exists() and not (root / "book" / "runs").exists()
    assert not (root / "book" / "_build").exists()


def test_book_stops_at_once_on_data_or_predictions_it_cannot_read(small_lab, tmp_path: Path):
    """An image folder as DATA, a CSV, a missing file, a record without an image: one line each, exit 2, before any
    chapter runs; a readable file for other images is no error (the chapters say what it scores)."""
    from typer.testing import CliRunner

    from portraitcraft.book.inputs import check_inputs
    from portraitcraft.cli import app

    images = tmp_path / "images"
    images.mkdir()
    (images / "a.jpg").write_bytes((next(small_lab.glob("images_*/*.jpg"))).read_bytes())
    (tmp_path / "p.csv").write_text("image_path,total_score\na.jpg,50\n")
    (tmp_path / "torn.json").write_text('[{"image_path": "a.jpg", "total_score": 50}, {"total_score": 3}]')
    (tmp_path / "other.json").write_text('[{"image_path": "elsewhere.jpg", "total_score": 50}]')
    assert check_inputs(small_lab, [tmp_path / "other.json"]) == []
    problems = check_inputs(images, [tmp_path / "p.csv", tmp_path / "missing.json", tmp_path / "torn.json"])
    assert problems == [
        f"{images}: no PortraitCraft file (track_1_train.json, track_1_test.json, track_2_*.json): not a PortraitCraft "
        "root",
        f"{tmp_path / 'p.csv'}: not a prediction file (expected a JSON list or JSON Lines objects)",
        f"{tmp_path / 'missing.json'}: file not found",
        f"{tmp_path / 'torn.json'}: record 1: missing or empty 'image_path'",
    ]
    result = CliRunner().invoke(app, ["book", "--data", str(images), "--predictions", str(tmp_path / "p.csv"),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.output.splitlines() == [f"error: {line}" for line in problems[:2]]
    assert not (tmp_path / "out").exists()
    # A mistyped chapter is a bad option too: exit 2, one line naming the chapters there are.
    result = CliRunner().invoke(app, ["book", "--data", str(small_lab), "--only", "04_tabel3", "--out",
                                      str(tmp_path / "out"), "--no-html"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: --only 04_tabel3: not a chapter of _toc.yml (chapters: 01_dataset, ")
    assert len(result.output.splitlines()) == 1 and "04_table3" in result.output


def test_a_long_data_path_is_set_in_lines_that_fit_a_command_listing():
    """The appendix and chapter 9 print commands for this build's data: a user's long path is set as a shell
    variable built up at its slashes, each line within the width, and bash reads back the same path."""
    import subprocess

    from portraitcraft.book.paths import shell_variable

    path = "/tmp/j/data-of-a-user-whose-folders-have-long-names/2026/lab/published layout"
    text = shell_variable("DATA", path, width=64)
    assert len(text.splitlines()) == 3 and all(len(line) <= 64 for line in text.splitlines())
    assert subprocess.run(["bash", "-c", f'{text}\nprintf %s "$DATA"'], capture_output=True, text=True,
                          check=True).stdout == path
    assert shell_variable("DATA", "data/lab") == "DATA=data/lab"
