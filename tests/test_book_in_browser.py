"""The whole book, built as `make book` builds it but on a small composition lab (with the feature baseline's
predictions), opened page by page in headless Chromium with no network: no console errors, no failed or external
requests, every plotly figure drawn, tables where the chapters have them, and nothing a reader would see go wrong
(overlapping or cut-off text, text under 10 px, empty sections, raw output, legends over data, a figure or note
twice, raw floats and timestamps, cut text, environment messages in captions; see `portraitcraft.book.browser`),
and every internal link of every page holding (`portraitcraft.book.links`).
The chapters that read predictions are built again as a real user would: on the lab in the published layout (no
test labels) with the baseline's test-split predictions and, where the real sample is at hand, on the sample with
its test-split raw output, both from a long data path, and checked the same way.
A screenshot of each page is kept in test-artifacts/book-pages/ (ignored by git) to look at.

Skips with the reason where no Chromium is installed (``make browser`` installs Debian's).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("papermill", reason="the book extra is not installed: pip install 'portraitcraft[book]'")

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

# The real sample (read in place, never copied) and the chapters that read its data and predictions.
REAL_SAMPLE = REPO.parent / "shared" / "portraitcraft-sample"
SAMPLE_PAGES = ["01_dataset", "02_figure2", "03_table2", "04_table3", "05_errors"]
# The chapters that read predictions, built on the lab in the published layout.
PUBLISHED_PAGES = ["04_table3", "05_errors"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_chromium() is None,
                       reason="no Chromium on this machine (make browser installs Debian's chromium)"),
]


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


def test_every_page_of_the_book_renders_offline_in_chromium(tmp_path: Path):
    from portraitcraft.baseline import run_feature_baseline
    from portraitcraft.lab import write_lab

    root = book_copy(tmp_path / "book-root")
    lab = root / "data" / "lab"
    write_lab(lab, progress=False, **SMALL_LAB)
    # Chapters 4 and 5 analyse prediction files: the CPU feature baseline's, trained here on the small lab.
    predictions = run_feature_baseline(lab, lab / "runs" / "feature-baseline.jsonl", grid="linear", max_side=256)
    # Absolute paths: a relative one would be read from this process's working directory, the repository. Two
    # pages at a time, each in its own kernel: the machine's two cores, and the test's slowest part halved.
    html = build_book(str(lab), root=root, parameters={**CHEAP, "predictions": [str(predictions)]},
                      progress=False, jobs=2, log=lambda *args: None)

    pages = [f"{page}.html" for page in toc_pages(root)]
    chapters = {f"book/executed/{source.stem}.html" for source in (REPO / "notebooks").glob("[0-9]*.py")}
    # every chapter, the introduction, the prediction formats, the API
    assert set(pages) == chapters | {"book/intro.html", "book/formats.html", "book/api.html"}
    # The lab's pages; the chapters that read predictions built again as a user with the real dataset builds them,
    # from a data folder with a long path (a user's, not the repository's): on the lab in the published layout (no
    # test ground truth, no factors) with the baseline's test-split predictions, and, where the real sample is at
    # hand, on it with the reference script's test-split raw output (one image, two labelled ones). Side by side
    # under one folder, checked in one browser session.
    checked = tmp_path / "checked"
    shutil.copytree(html, checked / "lab")
    users = tmp_path / "data-of-a-user-whose-folders-have-rather-long-names" / "portraitcraft"
    published = users / "lab-in-the-published-layout"
    shutil.copytree(lab, published, ignore=shutil.ignore_patterns(
        "track_1_test_ground_truth.json", "lab_factors.json", "runs"))
    builds = {"published": (published, PUBLISHED_PAGES, [str(predictions)])}
    if (REAL_SAMPLE / "track_1_train.json").is_file():
        sample = users / "portraitcraft-sample"
        sample.symlink_to(REAL_SAMPLE, target_is_directory=True)  # read in place, never copied
        builds["sample"] = (sample, SAMPLE_PAGES, [str(sample / "track_1_raw_output_example.json")])
    for name, (data, names, files) in builds.items():
        assert len(str(data)) >= 70
        html = build_book(str(data), root=root, parameters={**CHEAP, "predictions": files}, only=names,
                          progress=False, jobs=2, log=lambda *args: None)
        shutil.copytree(html, checked / name)
    built_pages = [f"{name}/book/executed/{page}.html" for name, (_, names, _) in builds.items() for page in names]
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    reports = check_book(checked, pages=[f"lab/{page}" for page in pages] + built_pages, screenshots=ARTIFACTS,
                         progress=False)

    # Where test labels are hidden, what cannot be computed is said in a sentence, and the pages pass the same checks.
    problems = {r.page: r.problems for r in reports if r.problems}
    assert not problems, problems
    # Every relative href and src of every page of each build names a file of that build, every #anchor an id there.
    for name in ["lab", *builds]:
        assert internal_link_problems(checked / name) == [], name
    assert [r.page for r in reports if not r.page.startswith("lab/")] == built_pages
    # Chapter 4 on hidden labels with test-split predictions: the checked submission and the label-free readings.
    for name in builds:
        page = (checked / name / "book" / "executed" / "04_table3.html").read_text(encoding="utf-8")
        assert "The submissions for the official test" in page and "The test predictions without labels" in page
        assert "submission_" in page and "Traceback" not in page
    by_page = {Path(r.page).stem: r for r in reports if r.page.startswith("lab/")}
    assert by_page["02_figure2"].plotly >= 2 and by_page["02_figure2"].plotly_rendered == by_page["02_figure2"].plotly
    for name in TABLE_PAGES:
        assert by_page[name].tables >= 1, f"{name}: no table on the page"
    for report in reports:
        shot = Path(report.screenshot)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000, shot
