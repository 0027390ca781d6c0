"""The page checker that opens the built book in a real, headless Chromium (`portraitcraft.book.browser`).

Skips with the reason where no Chromium is installed (``make browser`` installs Debian's).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from portraitcraft.book.browser import BrowserError, check_book, find_chromium, serve_directory

pytestmark = pytest.mark.skipif(find_chromium() is None,
                                reason="no Chromium on this machine (make browser installs Debian's chromium)")

# A page that works offline: the book's vendored plotly.js and one figure made by the book's own helper.
GOOD_PAGE = """<html><head><title>good</title><script src="plotly.min.js"></script></head>
<body><table><tr><td>1</td></tr></table>{figure}</body></html>"""
BAD_PAGE = """<html><head><title>bad</title><script src="missing.js"></script>
<script src="https://cdn.example.org/plotly.js"></script></head>
<body><div class="plotly-graph-div"></div>
<script>console.error("said in error"); notDefined();</script></body></html>"""


def test_checker_sees_what_goes_wrong_and_what_renders(tmp_path):
    """The checker itself: a good page passes with its figure drawn; each fault of a bad page is reported."""
    import plotly.graph_objects as go

    from portraitcraft.book.build import vendor_plotly
    from portraitcraft.book.figures import show_plotly

    vendored = vendor_plotly(tmp_path / "repo")
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(vendored, site / "plotly.min.js")
    figure = show_plotly(go.Figure(go.Bar(x=["Poor", "Medium", "Good"], y=[1, 3, 2])))
    (site / "good.html").write_text(GOOD_PAGE.format(figure=figure.html), encoding="utf-8")
    (site / "bad.html").write_text(BAD_PAGE, encoding="utf-8")

    good, bad = check_book(site, pages=["good.html", "bad.html"], screenshots=tmp_path / "shots", progress=False)
    assert good.ok, good.problems
    assert (good.plotly, good.plotly_rendered, good.tables, good.title) == (1, 1, 1, "good")
    assert Path(good.screenshot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert not bad.ok
    assert (bad.plotly, bad.plotly_rendered) == (1, 0)
    assert any("said in error" in m for m in bad.console_errors)
    assert any("notDefined" in m for m in bad.console_errors)
    assert any(u.endswith("/missing.js (HTTP 404)") for u in bad.failed_requests)
    assert bad.external_requests == ["https://cdn.example.org/plotly.js"]


def test_a_missing_folder_or_browser_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"), serve_directory(tmp_path / "nothing"):
        pass
    with pytest.raises(BrowserError, match="cannot start"):
        check_book(tmp_path, pages=["x.html"], chromium=str(tmp_path / "no-chromium"), progress=False)
