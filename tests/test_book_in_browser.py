"""The whole book, built as `make book` builds it but on a small composition lab (with prediction files), opened page
by page in headless Chromium with no network: no console errors, no failed or external requests, every plotly
figure drawn, tables where the chapters have them, and nothing a reader would see go wrong (overlapping or cut-off
text, text under 10 px, empty sections, raw output, legends over data, a figure or note twice, raw floats and
timestamps, cut text, environment messages in captions; see `portraitcraft.book.browser`), and every internal link
of every page holding (`portraitcraft.book.links`).

The lab book is given two prediction files: the feature baseline trained and run on the lab (a real model's
output), and the lab's own test labels perturbed in known ways, with failed records, unparsed fields and level
probabilities, so that every section of chapters 4 (Table 3) and 5 (errors) has something to show and the
invariants those chapters assert (accuracies inside their intervals, confusion rows summing to the images, a
ranking that is ordered, parse failures within the records...) run on real predictions, not only on
``predictions=[]`` as nbval runs them.

The chapters that read predictions are built again as a real user would: on the lab in the published layout (no
test labels) with the baseline's test-split predictions and, where the real sample is at hand, on the sample with
its test-split raw output, both from a long data path, and checked the same way.

The lab book is built once for the whole run (once across xdist workers) and each test reads it; the published-
layout and real-sample builds are tests of their own, each in a copy of it, so that they run beside the lab book's
page checks on the other worker. A screenshot of each page is kept in test-artifacts/book-pages/ (ignored by git).

The page checks skip with the reason where no Chromium is installed (``make browser`` installs Debian's); the
chapters' own checks on the prediction files do not need it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("papermill", reason="the book extra is not installed: pip install 'portraitcraft[book]'")
pytest.importorskip("sklearn")

from portraitcraft.book.browser import check_book, find_chromium  # noqa: E402
from portraitcraft.book.build import build_book, toc_pages  # noqa: E402
from portraitcraft.book.links import internal_link_problems  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts" / "book-pages"
SMALL_LAB = dict(n_train=60, n_test=30, n_track2_train=6, n_track2_test=8, seed=0, long_side=256)
# The chapters' own knobs turned down: fewer resamples, a shorter fine-tuning demonstration.
CHEAP = {"n_bootstrap": 200, "demo_images": 4, "demo_steps": 2}
# Pages that show tables (a table on the page is part of what they are for).
TABLE_PAGES = ("01_dataset", "03_table2", "04_table3", "05_errors", "07_appendix", "08_track2", "09_finetune",
               "10_figure3")
# The run of the perturbed-labels prediction file, as chapters 4 and 5 name it.
PERTURBED_RUN = {"backend": "test", "model": "perturbed-truth", "protocol": "score"}

# The real sample (read in place, never copied) and the chapters that read its data and predictions.
REAL_SAMPLE = REPO.parent / "shared" / "portraitcraft-sample"
SAMPLE_PAGES = ["01_dataset", "02_figure2", "03_table2", "04_table3", "05_errors"]
# The chapters that read predictions, built on the lab in the published layout.
PUBLISHED_PAGES = ["04_table3", "05_errors"]
# A user's data folder, not the repository's: a long path, which the pages must set in lines that fit.
USERS_DATA = "data-of-a-user-whose-folders-have-rather-long-names/portraitcraft"

pytestmark = pytest.mark.slow
needs_chromium = pytest.mark.skipif(find_chromium() is None,
                                    reason="no Chromium on this machine (make browser installs Debian's chromium)")


def book_copy(root: Path) -> Path:
    """The book's sources (configuration, contents, pages, stylesheet, GPU measurements, notebooks, the scripts
    chapter 9 imports) in `root`."""
    root.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(REPO / name, root / name)
    (root / "book").mkdir()
    for page in (REPO / "book").glob("*.md"):
        shutil.copy(page, root / "book" / page.name)
    shutil.copytree(REPO / "book" / "theme", root / "book" / "theme")
    shutil.copytree(REPO / "book" / "measurements", root / "book" / "measurements")
    shutil.copytree(REPO / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "scripts", root / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def write_perturbed_truth(lab: Path, out: Path) -> Path:
    """The lab's test labels as a prediction file, perturbed in known ways: the last image failed, the parser
    refused a letter where a level belongs on the first two, Sharpness shifted on most images, scores moved, and
    level probabilities on every record."""
    from portraitcraft.attributes import ATTRIBUTE_NAMES, LEVELS, level_from_score
    from portraitcraft.data import GROUND_TRUTH_FILE
    from portraitcraft.predictions import PredictionWriter, failed_record, ok_record

    truth = json.loads((lab / GROUND_TRUTH_FILE).read_text(encoding="utf-8"))
    with PredictionWriter(out) as writer:
        for i, record in enumerate(truth):
            if i == len(truth) - 1:
                writer.write(failed_record(record["image_path"], "CUDA out of memory", run=PERTURBED_RUN,
                                           seconds=2.0))
                continue
            levels = {name: level_from_score(record["criteria"][name]["score"]) for name in ATTRIBUTE_NAMES}
            failures = {}
            if i < 2:  # the parser refused a letter where a level belongs
                levels["Subject Integrity"] = None
                failures["Subject Integrity"] = "letter_as_level"
            levels["Sharpness"] = LEVELS[(LEVELS.index(levels["Sharpness"]) + i) % 3]  # shifted on most images
            parsed = {"total_score": min(100, record["total_score"] + i), "criteria": levels,
                      "answer": record["answer"], "failures": failures}
            probabilities = {"criteria": {name: {level: (0.8 if level == levels[name] else 0.1) for level in LEVELS}
                                          for name in ATTRIBUTE_NAMES if levels[name]}}
            writer.write(ok_record(record["image_path"], parsed, run=PERTURBED_RUN, seconds=1.0,
                                   raw_text=f"model text {i}", probabilities=probabilities))
    return out


@dataclass(frozen=True)
class Build:
    data: Path
    html: Path  # its HTML, as it was when it was built (a later build in the same root rewrites the chapters)
    pages: list[str]  # the pages it built (for the lab: every page of the book)
    executed: Path | None = None  # its executed chapters (kept for the lab)


@pytest.fixture(scope="session")
def books(built_once) -> dict[str, Build]:
    """The lab book, then its chapters built again for a user (published layout, real sample) in the same root as
    `portraitcraft book --only` rebuilds them after a whole build; built once for the whole run, read by the tests.
    """
    sample_at_hand = (REAL_SAMPLE / "track_1_train.json").is_file()

    def build(folder: Path) -> None:
        from portraitcraft.baseline import run_feature_baseline
        from portraitcraft.lab import write_lab

        root = book_copy(folder / "book-root")
        lab = root / "data" / "lab"
        write_lab(lab, progress=False, **SMALL_LAB)
        runs = lab / "runs"
        baseline = run_feature_baseline(lab, runs / "feature-baseline.jsonl", grid="linear", max_side=256)
        perturbed = write_perturbed_truth(lab, runs / "perturbed.jsonl")
        # Absolute paths: a relative one would be read from this process's working directory, the repository. Two
        # pages at a time, each in its own kernel: the machine's two cores.
        html = build_book(str(lab), root=root, parameters={**CHEAP, "predictions": [str(baseline), str(perturbed)]},
                          progress=False, jobs=2, log=lambda *args: None)
        shutil.copytree(html, folder / "html" / "lab")
        shutil.copytree(root / "book" / "executed", folder / "lab-executed")
        # A user's data, from a folder with a long path: the lab in the published layout (no test ground truth, no
        # factors) with the baseline's test-split predictions; the real sample with the reference script's test-split
        # raw output (one image, two labelled ones).
        users = folder / USERS_DATA
        published = users / "lab-in-the-published-layout"
        shutil.copytree(lab, published, ignore=shutil.ignore_patterns(
            "track_1_test_ground_truth.json", "lab_factors.json", "runs"))
        builds = {"published": (published, PUBLISHED_PAGES, [str(baseline)])}
        if sample_at_hand:
            sample = users / "portraitcraft-sample"
            sample.symlink_to(REAL_SAMPLE, target_is_directory=True)  # read in place, never copied
            builds["sample"] = (sample, SAMPLE_PAGES, [str(sample / "track_1_raw_output_example.json")])
        for name, (data, pages, predictions) in builds.items():
            html = build_book(str(data), root=root, parameters={**CHEAP, "predictions": predictions}, only=pages,
                              progress=False, jobs=2, log=lambda *args: None)
            shutil.copytree(html, folder / "html" / name)

    folder = built_once("books", build)
    lab = folder / "book-root" / "data" / "lab"
    users = folder / USERS_DATA
    built = {"lab": Build(lab, folder / "html" / "lab", toc_pages(folder / "book-root"), folder / "lab-executed"),
             "published": Build(users / "lab-in-the-published-layout", folder / "html" / "published",
                                [f"book/executed/{page}" for page in PUBLISHED_PAGES])}
    if sample_at_hand:
        built["sample"] = Build(users / "portraitcraft-sample", folder / "html" / "sample",
                                [f"book/executed/{page}" for page in SAMPLE_PAGES])
    return built


def shown_text(executed: Path) -> str:
    """What an executed chapter shows: the text of its outputs (markdown, HTML or plain, and streams)."""
    notebook = json.loads(executed.read_text(encoding="utf-8"))
    parts = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            assert output.get("output_type") != "error", f"{executed.name}: {output.get('ename')}"
            data = output.get("data", {})
            parts.append("".join(data.get("text/markdown", data.get("text/html", data.get("text/plain", "")))))
            parts.append("".join(output.get("text", "")))
    return "\n".join(parts)


# The first test of the run: it builds the books while the other worker runs other tests; the tests that only read
# them run last (see conftest.py), when they are built, and spread over both workers.
@pytest.mark.first
def test_the_lab_book_has_every_chapter_and_chapters_4_and_5_read_each_prediction_file(books):
    pages = [f"{page}.html" for page in books["lab"].pages]
    chapters = {f"book/executed/{source.stem}.html" for source in (REPO / "notebooks").glob("[0-9]*.py")}
    # every chapter, the introduction, the prediction formats, the API
    assert set(pages) == chapters | {"book/intro.html", "book/formats.html", "book/api.html"}
    assert all((books["lab"].html / page).is_file() for page in pages)
    # Papermill ran chapters 4 and 5 on the labelled test split with both files (the chapters' own asserts passed).
    executed = books["lab"].executed
    table3 = shown_text(executed / "04_table3.ipynb")
    assert "Feature baseline (CPU)" in table3 and "perturbed-truth (score)" in table3  # a row for each file
    errors = shown_text(executed / "05_errors.ipynb")
    assert "letter_as_level" in errors  # the parse failures section read the perturbed file's refusals
    # the two models compared, each named as chapter 4 names it (its run: the baseline, the model and protocol)
    assert ("Feature baseline (CPU) minus perturbed-truth (score)" in errors
            or "perturbed-truth (score) minus Feature baseline (CPU)" in errors)


@pytest.mark.last
@pytest.mark.parametrize("name", ["published", "sample"])
def test_chapter_4_on_hidden_labels_shows_the_submission_and_the_label_free_readings(books, name):
    """Where test labels are hidden, what cannot be computed is said in a sentence (the page checks below see the
    rest): chapter 4 with test-split predictions shows the checked submission and the label-free readings."""
    if name not in books:
        pytest.skip(f"real PortraitCraft sample not found at {REAL_SAMPLE}")
    assert len(str(books[name].data)) >= 70
    page = (books[name].html / "book" / "executed" / "04_table3.html").read_text(encoding="utf-8")
    assert "The submissions for the official test" in page and "The test predictions without labels" in page
    assert "submission_" in page and "Traceback" not in page


@pytest.mark.last
@pytest.mark.parametrize("name", ["lab", "published", "sample"])
def test_every_internal_link_of_each_build_holds(books, name):
    """Every relative href and src of every page of the build names a file of that build, every #anchor an id
    there."""
    if name not in books:
        pytest.skip(f"real PortraitCraft sample not found at {REAL_SAMPLE}")
    assert internal_link_problems(books[name].html) == []


# The lab book's pages in two groups of about equal checking time (the API page and chapter 6 take longest), so
# that the two workers check them at once: these pages, then all the others.
LAB_PAGES_FIRST = ["book/api", "book/formats", "book/executed/01_dataset", "book/executed/03_table2",
                   "book/executed/04_table3", "book/executed/09_finetune"]
PAGE_GROUPS = ["lab-1", "lab-2", "published", "sample"]


@needs_chromium
@pytest.mark.last
@pytest.mark.parametrize("group", PAGE_GROUPS)
def test_every_page_renders_offline_in_chromium(books, group):
    name = group.split("-")[0]
    if name not in books:
        pytest.skip(f"real PortraitCraft sample not found at {REAL_SAMPLE}")
    pages = books[name].pages
    if group == "lab-1":
        assert set(LAB_PAGES_FIRST) <= set(pages)
        pages = LAB_PAGES_FIRST
    elif group == "lab-2":
        pages = [page for page in pages if page not in LAB_PAGES_FIRST]
    pages = [f"{page}.html" for page in pages]
    wanted = [f"{name}/{page}" for page in pages]
    for page in wanted:  # this group's screenshots, kept as <name>__book__executed__<page>.png
        (ARTIFACTS / (Path(page).with_suffix("").as_posix().replace("/", "__") + ".png")).unlink(missing_ok=True)
    # served from the folder that holds each build's HTML under its name (the builds side by side); the API page
    # is checked like the others but not photographed: its picture is some 150,000 px tall and takes 20 s, while
    # the screenshot itself is proven on every other page (make check-book keeps taking it)
    unpictured = [page for page in wanted if page.endswith("book/api.html")]
    reports = check_book(books[name].html.parent, pages=[page for page in wanted if page not in unpictured],
                         screenshots=ARTIFACTS, progress=False)
    reports += check_book(books[name].html.parent, pages=unpictured, progress=False) if unpictured else []
    reports.sort(key=lambda report: wanted.index(report.page))

    problems = {r.page: r.problems for r in reports if r.problems}
    assert not problems, problems
    assert [r.page for r in reports] == wanted
    for report in reports:
        if report.page in unpictured:
            assert report.screenshot is None
            continue
        shot = Path(report.screenshot)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000, shot
    if name == "lab":
        by_page = {Path(r.page).stem: r for r in reports}
        if "02_figure2" in by_page:
            figure2 = by_page["02_figure2"]
            assert figure2.plotly >= 2 and figure2.plotly_rendered == figure2.plotly
        missing = [page for page in TABLE_PAGES if page in by_page and by_page[page].tables < 1]
        assert not missing, f"no table on the page: {missing}"
