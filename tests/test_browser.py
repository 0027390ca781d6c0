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


# The figure editor's checks: each kind planted once on a page of its own, and a clean page that shows the same
# things done right (legends beside the data, one figure per result, numbers to their precision, cut text marked).
FIGURE_PAGE = """<html><head><title>{title}</title><script src="../plotly.min.js"></script>
<style>body {{ font: 16px sans-serif; width: 1000px; }}</style></head>
<body><article><section id="a"><h1>A chapter</h1>{body}</section></article></body></html>"""


def _bars(legend: dict, *, title: str = "", note: dict | None = None):
    """A grouped bar chart (two series, scores 0-10) with its legend where ``legend`` puts it."""
    import plotly.graph_objects as go

    fig = go.Figure([go.Bar(name=name, x=["Poor", "Medium", "Good"], y=ys) for name, ys in
                     (("train", [9, 9.5, 9.8]), ("test", [8.5, 9.2, 9.6]))])
    fig.update_layout(title=title, legend=legend, width=600, height=360, yaxis_range=[0, 10],
                      margin=dict(l=50, r=150, t=50, b=40))
    if note:
        fig.add_annotation(**note)
    return fig


def _matplotlib_svg(legend_loc: str | tuple, *, title: str = "") -> str:
    """Bars and a line drawn by matplotlib as SVG whose text stays text (the book's setting)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig, ax = plt.subplots(figsize=(6, 3.2))
        ax.bar(range(6), [9, 9.5, 9.8, 9.6, 9.1, 9.4], color="#4c72b0", label="share right")
        ax.plot([0, 5], [2, 4], color="#c44e52", label="calibrated")
        ax.set(ylim=(0, 10), title=title)
        if isinstance(legend_loc, tuple):
            ax.legend(loc="upper left", bbox_to_anchor=legend_loc)
        else:
            ax.legend(loc=legend_loc)
        fig.tight_layout()
        out = io.StringIO()
        fig.savefig(out, format="svg", bbox_inches="tight")
        plt.close(fig)
    return out.getvalue()


def _radar(scale=None):
    """A filled radar of 13 values between 6 and 8 on a radial axis from 3 to 10: with plotly's default ring numbers
    (on the first spoke) 4, 5 and 6 sit inside the polygon; ``scale`` (`radar_scale`) places them outside."""
    import plotly.graph_objects as go

    values = [6.5, 7.2, 7.9, 6.1, 6.8, 7.5, 6.3, 7.0, 7.7, 6.4, 7.1, 6.6, 7.3]
    fig = go.Figure(go.Scatterpolar(r=[*values, values[0]], theta=[f"a{k}" for k in [*range(13), 0]], fill="toself",
                                    name="train"))
    radial = dict(range=[3, 10])
    if scale is not None:
        direction = 90 - scale.bisector_degrees
        radial.update(tickvals=scale.rings, ticktext=scale.labels, angle=direction, tickangle=direction)
    fig.update_layout(polar=dict(radialaxis=radial, angularaxis=dict(rotation=90, direction="clockwise")),
                      width=520, height=460, showlegend=False)
    return fig, values


def _matplotlib_radar_svg() -> str:
    """The same radar drawn by matplotlib, its ring numbers where matplotlib puts them (inside the polygon)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    _, values = _radar()
    angles = np.linspace(0, 2 * np.pi, 13, endpoint=False)
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig, ax = plt.subplots(figsize=(4.5, 4.5), subplot_kw={"projection": "polar"})
        ax.fill(angles, values, color="#4c72b0", alpha=0.3)
        ax.set_ylim(3, 10)
        ax.set_xticks(angles, [f"a{k}" for k in range(13)])
        out = io.StringIO()
        fig.savefig(out, format="svg", bbox_inches="tight")
        plt.close(fig)
    return out.getvalue()


def test_figure_editor_checks_fail_each_planted_page_and_pass_a_clean_one(tmp_path):
    from portraitcraft.book.build import vendor_plotly
    from portraitcraft.book.figures import radar_scale, show_plotly

    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(vendor_plotly(tmp_path / "repo"), site / "plotly.min.js")
    (site / "pages").mkdir()
    (site / "pages" / "mpl_radar.svg").write_text(_matplotlib_radar_svg())
    _, radar_values = _radar()
    beside = dict(x=1.02, xanchor="left", y=1, yanchor="top")  # right of the plot area
    (site / "pages" / "mpl_beside.svg").write_text(_matplotlib_svg((1.01, 1.0), title="share right per bin"))
    (site / "pages" / "mpl_over.svg").write_text(_matplotlib_svg("center"))
    (site / "pages" / "mpl_numbered.svg").write_text(_matplotlib_svg((1.01, 1.0), title="Figure 4 (print)"))
    scores = "<table><thead><tr><th>split</th><th>mean</th><th>evidence</th></tr></thead><tbody>{rows}</tbody></table>"
    pages = {
        "clean": (
            show_plotly(_bars(beside, title="Figure 4. Levels per split",
                              note=dict(text="paper mean", x=1, y=10.4, showarrow=False, yanchor="bottom"))).html
            + "<p><strong>Figure.</strong> Share of each level per split; bars per split, legend at the right.</p>"
            + '<img src="mpl_beside.svg" style="width: 600px">'
            + "<p><strong>Figure.</strong> The share right per bin, measured on 2026-12-06 at 12:18 UTC.</p>"
            + scores.format(rows="<tr><td>train</td><td>0.84</td><td>the subject sits on the left third…</td></tr>"
                                 "<tr><td>test</td><td>9.0</td><td>a wide band of sky above the head, evenly…</td></tr>"
                                 "<tr><td>val *</td><td>1.2e-07</td><td>short</td></tr>")
            + "<p><strong>Table.</strong> Mean score per split (SRCC 0.512, p = 3.1e-05). Rows marked * rest on "
              "fewer than 30 images.</p>"
            # cells filled as the book fills them: each with the text colour that reads on it
            + "<table><tr><td style='background:#55a868;color:#222222'>Good</td>"
              "<td style='background:#c44e52;color:#ffffff'>Poor</td>"
              "<td style='background:#00441b;color:#ffffff'>0.93</td></tr></table>"
            + show_plotly(_radar(radar_scale([radar_values], low=3))[0]).html),
        "legend_plotly": show_plotly(_bars(dict(x=0.5, xanchor="center", y=0.5, yanchor="middle"))).html,
        "label_plotly": show_plotly(_bars(beside, note=dict(text="paper, test mean", x=1, y=8, showarrow=False,
                                                            bgcolor="white", bordercolor="#444"))).html,
        "legend_matplotlib": '<img src="mpl_over.svg" style="width: 600px">',
        "twice_plotly": show_plotly(_bars(beside)).html + "<p>Between them.</p>" + show_plotly(_bars(beside)).html,
        "twice_print": (show_plotly(_bars(beside, title="Figure 4. Levels per split")).html
                        + '<img src="mpl_numbered.svg" style="width: 600px">'),
        "twice_note": "<p><em>Note: test: the labels of 2 images are hidden in this folder.</em></p>" * 2,
        "raw_float": scores.format(rows="<tr><td>train</td><td>9.250000</td><td>-</td></tr>"),
        "raw_time": "<p>Measured at 2026-12-06T12:18:25.498619+00:00 on this machine.</p>",
        "cut_text": scores.format(rows="<tr><td>a</td><td>1</td><td>the subject sits on the left third of the fr</td>"
                                       "<tr><td>b</td><td>2</td><td>a wide band of sky above the head, evenly li</td>"
                                       "<tr><td>c</td><td>3</td><td>short</td></tr>"),
        "environment": (show_plotly(_bars(beside)).html + "<p><strong>Figure.</strong> Embedding distances skipped "
                        "(No module named 'sentence_transformers').</p>"),
        "table_as_figure": scores.format(rows="<tr><td>train</td><td>0.84</td><td>-</td></tr>")
                           + "<p><strong>Figure.</strong> Mean score per split.</p>",
        "ticks_on_fill_plotly": show_plotly(_radar()[0]).html,
        "ticks_on_fill_matplotlib": '<img src="mpl_radar.svg" style="width: 450px">',
        "unmatched_mark": scores.format(rows="<tr><td>train</td><td>0.84</td><td>-</td></tr>")
                          + "<p><strong>Table.</strong> Mean score per split. Rows marked * carry a warning below.</p>",
        # white on a mid green (2.9:1) in a table, and pale grey prose on a white page (2.3:1)
        "low_contrast": ("<table><tr><td style='background:#55a868;color:white'>Good</td>"
                         "<td style='background:#55a868;color:white'>Good</td><td>0.84</td></tr></table>"
                         "<p style='color:#aaaaaa'>A note set in pale grey.</p>"),
    }
    for name, body in pages.items():
        (site / "pages" / f"{name}.html").write_text(FIGURE_PAGE.format(title=name, body=body), encoding="utf-8")

    reports = check_book(site, pages=[f"pages/{name}.html" for name in pages], progress=False)
    by_name = {Path(r.page).stem: r for r in reports}
    assert by_name["clean"].ok, by_name["clean"].problems
    expected = {
        "legend_plotly": ("covers_data", "lies over its plotted data"),
        "label_plotly": ("covers_data", 'the label "paper, test mean"'),
        "legend_matplotlib": ("covers_data", "lies over its plotted data"),
        "twice_plotly": ("duplicate", "2 figures show the same data"),
        "twice_print": ("duplicate", "both numbered Figure 4"),
        "twice_note": ("duplicate", "the same note is shown 2 times"),
        "raw_float": ("raw_number", "unformatted number 9.250000"),
        "raw_time": ("raw_number", "raw timestamp 2026-12-06T12:18:25"),
        "cut_text": ("cut_text", "2 cells cut at 44 characters"),
        "environment": ("environment", "No module named"),
        "table_as_figure": ("caption_label", 'a table captioned "Figure."'),
        "ticks_on_fill_plotly": ("on_fill", 'sit on a filled area: "3", "4", "5", "6"'),
        "ticks_on_fill_matplotlib": ("on_fill", "sit on a filled area"),
        "unmatched_mark": ("unmatched_mark", 'explains the mark "*", which no row or label of its table carries'),
        "low_contrast": ("low_contrast", 'text "Good" at a contrast of 2.9:1 (under 4.5:1), #ffffff on #55a868, and 1 '
                                         "more piece(s)"),
    }
    for name, (kind, message) in expected.items():
        report = by_name[name]
        assert list(report.reader) == [kind], (name, report.reader)  # that kind, and nothing else on the page
        assert any(message in m for m in report.reader[kind]), (name, report.reader)
    assert any('"A note set in pale grey." at a contrast of 2.3:1' in m
               for m in by_name["low_contrast"].reader["low_contrast"]), by_name["low_contrast"].reader


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
