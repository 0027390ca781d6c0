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


# Pages laid out like the book's (an article of sections; notebook outputs in .cell_output), for the reader's checks.
READER_PAGE = """<html><head><title>{title}</title>
<style>body {{ font: 16px sans-serif; width: 1000px; }}</style></head>
<body><article>{body}</article></body></html>"""
CLEAN_BODY = """
<section id="a"><h1>A chapter</h1><p>A paragraph a reader can read, wrapped inside the text column.</p>
<section id="b"><h2>Results</h2>
<div class="cell"><div class="cell_output"><table><thead><tr><th>metric</th><th>value</th></tr></thead>
<tbody><tr><td>SRCC</td><td>0.512</td></tr></tbody></table></div></div>
<svg width="400" height="200">
  <text x="20" y="40" font-size="12">first label</text><text x="200" y="40" font-size="12">second label</text>
  <text transform="translate(60 150) rotate(-45)" font-size="12">Visual Center Stability</text>
  <text transform="translate(80 150) rotate(-45)" font-size="12">Subject Integrity</text>
</svg>
<img src="picture.svg" style="width: 400px">
<div class="highlight" style="width: 300px; overflow-x: auto">
<pre>make book DATA=/a/rather/long/path/to/PortraitCraft PREDICTIONS="runs/a.jsonl runs/b.json"</pre></div>
</section></section>"""
PLANTED_BODY = """
<section id="a"><h1>A chapter</h1><p>Some prose.</p>
<section id="b"><h2>Overlapping labels</h2>
<svg width="400" height="100"><text x="20" y="40" font-size="14">Colour Harmony</text>
<text x="60" y="44" font-size="14">Sharpness</text></svg>
<img src="picture.svg" style="width: 400px"></section>
<section id="c"><h2>A clipped table</h2>
<div class="cell"><div class="cell_output"><div style="width: 200px; overflow: hidden">
<table><thead><tr><th>attribute</th><th>accuracy</th><th>interval</th></tr></thead>
<tbody><tr><td>Appropriateness of Negative Space</td><td>0.650</td><td>[0.550, 0.740]</td></tr></tbody></table>
</div></div></div></section>
<section id="g"><h2>Printed JSON</h2><div class="cell"><div class="cell_output"><div class="highlight"
style="width: 300px; overflow-x: auto"><pre>{"criteria": {"Color Harmony": {"level": "Good", "reason": "long"}}}</pre>
</div></div></div></section>
<section id="d"><h2>Tiny digits</h2>
<svg width="300" height="50"><text x="10" y="30" font-size="5">17</text></svg></section>
<section id="e"><h2>Nothing here</h2><div class="cell"><div class="cell_output"></div></div></section>
<section id="f"><h2>Raw output</h2><div class="cell"><div class="cell_output"><div class="output stderr"><pre>
/x/lib.py:3: UserWarning: something internal</pre></div><div class="output"><pre>Traceback (most recent call last):
  File "x.py", line 1</pre></div></div></div></section>
</section>"""
# A picture shown through <img>, as the book shows matplotlib's SVG figures: its text is measured too.
PICTURE_SVG = """<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="300pt" height="75pt"
viewBox="0 0 300 75"><text x="10" y="40" style="font: 12px sans-serif">{first}</text>
<text x="{x}" y="42" style="font: 12px sans-serif">{second}</text></svg>"""


def test_reader_checks_fail_a_planted_page_and_pass_a_clean_one(tmp_path):
    site = tmp_path / "site"
    (site / "planted").mkdir(parents=True)
    (site / "clean.html").write_text(READER_PAGE.format(title="clean", body=CLEAN_BODY), encoding="utf-8")
    (site / "picture.svg").write_text(PICTURE_SVG.format(first="true level", second="predicted", x=150))
    planted_page = READER_PAGE.format(title="planted", body=PLANTED_BODY)
    (site / "planted" / "page.html").write_text(planted_page, encoding="utf-8")
    (site / "planted" / "picture.svg").write_text(PICTURE_SVG.format(first="true level", second="predicted", x=40))

    clean, planted = check_book(site, pages=["clean.html", "planted/page.html"], screenshots=tmp_path / "shots",
                                progress=False)
    assert clean.ok, clean.problems
    assert not planted.ok
    found = planted.reader
    assert any('"Colour Harmony" overlaps "Sharpness"' in m for m in found["overlap"]), found
    assert any('"true level" overlaps "predicted"' in m for m in found["overlap"]), found  # inside the SVG picture
    assert any("table wider than its 200 px box (cut off)" in m and "A clipped table" in m for m in found["clipped"])
    # printed output that runs off the column is reported; a code listing in the prose may scroll (clean page)
    assert any("(scrolls sideways)" in m and "Printed JSON" in m for m in found["clipped"]), found["clipped"]
    assert any(m.startswith('5.0 px text "17"') for m in found["small_text"]), found
    assert found["empty"] == ['section "Nothing here" shows nothing']
    assert any("UserWarning" in m for m in found["raw_output"]) and any("Traceback" in m for m in found["raw_output"])
    assert all(message in planted.problems for message in [f"overlapping text: {m}" for m in found["overlap"]])


def test_screenshots_take_the_whole_height_of_a_tall_page(tmp_path):
    from PIL import Image

    site = tmp_path / "site"
    site.mkdir()
    tall = "".join(f"<p style='height: 900px'>paragraph {n}</p>" for n in range(12))  # about 12,000 px
    (site / "tall.html").write_text(f"<html><body>{tall}<p id='end'>the end</p></body></html>", encoding="utf-8")
    (report,) = check_book(site, pages=["tall.html"], screenshots=tmp_path / "shots", progress=False)
    width, height = Image.open(report.screenshot).size
    assert width == 1280 and height > 12 * 900


def test_a_missing_folder_or_browser_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"), serve_directory(tmp_path / "nothing"):
        pass
    with pytest.raises(BrowserError, match="cannot start"):
        check_book(tmp_path, pages=["x.html"], chromium=str(tmp_path / "no-chromium"), progress=False)
