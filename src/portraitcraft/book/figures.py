"""Display helpers shared by the book's notebooks: one look for every figure, and figures that render offline.

Importing this module registers the book's plotly template and makes it the default, so every figure a
notebook draws after `from portraitcraft.book import ...` has the same fonts and colours.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import itertools
import math
import textwrap
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
import plotly.io as pio
from IPython.display import HTML, Markdown

from portraitcraft.attributes import ATTRIBUTE_NAMES, LEVELS

if TYPE_CHECKING:
    import pandas as pd
    from PIL import Image

# The pages are static HTML, where tqdm's widget bars cannot show anyway: its "IProgress not found" warning, printed
# when a library imports tqdm.auto in a kernel without ipywidgets, is noise on a page.
warnings.filterwarnings("ignore", message="IProgress not found")

# Poor / Medium / Good read as a traffic light everywhere in the book (tables, bars, confusion matrices).
# LEVELS runs worst to best, so the colours are listed in the same order.
LEVEL_COLOURS: dict[str, str] = dict(zip(LEVELS, ("#c44e52", "#dd8452", "#55a868"), strict=True))

# Splits keep one colour across pages; unknown splits fall back to the template's colourway.
# Blue against orange: train and test side by side must not look alike (blue against lavender did).
SPLIT_COLOURS: dict[str, str] = {"train": "#4c72b0", "test": "#dd8452", "val": "#937860", "validation": "#937860"}

# Lines that may lie on one another (each split's mean and median, a point apart): each its own dash and width, as
# (plotly dash, matplotlib line style, width in px, opacity), widest first. Drawn in this order, the narrower lines
# lie on the wider ones, and where lines coincide each still shows: the widest, half transparent, as a band around
# the others (a line of its own colour over it stays visible), the others as dashes or dots across it.
SUMMARY_LINES: tuple[tuple[str, Any, float, float], ...] = (
    ("solid", "-", 8.0, 0.4), ("dash", (0, (5, 2)), 3.5, 1.0), ("dot", (0, (1, 1.5)), 3.0, 1.0),
    ("dashdot", (0, (6, 2, 1, 2)), 1.5, 1.0))

def darker(colour: Any, by: float = 0.45) -> str:
    """``colour`` mixed with black (``by`` 0: unchanged, 1: black), as a hex string: a second line of a series'
    colour that must stand out where it lies on the first (a split's median over its mean)."""
    from matplotlib.colors import to_hex, to_rgb

    return to_hex([channel * (1 - by) for channel in to_rgb(colour)])


_COLOURWAY = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]

TEMPLATE = "portraitcraft"
pio.templates[TEMPLATE] = go.layout.Template(
    layout=go.Layout(
        font=dict(family="Helvetica, Arial, sans-serif", size=13, color="#222"),
        colorway=_COLOURWAY,
        margin=dict(l=60, r=20, t=50, b=50),
        title=dict(x=0.0, xanchor="left"),
        hoverlabel=dict(font_size=12),
    )
)
pio.templates.default = f"plotly_white+{TEMPLATE}"

# Plot ids derive from the figure's content plus a running count, so re-executing a notebook gives the
# same HTML (diffable executed notebooks) while two identical figures on one page still get distinct ids.
_figure_counter = itertools.count(1)

# The toolbar shows while the pointer is over a figure, not over its title in a page read without a pointer.
_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True, "displayModeBar": "hover"}


def _matplotlib_draws_svg_text() -> None:
    """Matplotlib figures in the kernel come out as SVG whose text stays text (not glyph outlines): sharp at any
    zoom, searchable, and measurable by the book's page checker like plotly's text."""
    try:
        import matplotlib
        from IPython import get_ipython
    except ImportError:
        return
    matplotlib.rcParams["svg.fonttype"] = "none"
    if get_ipython() is not None:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("svg")


_matplotlib_draws_svg_text()


class PlotlyFigure:
    """A plotly figure shown two ways: HTML for the book, plotly's own mime type for live Jupyter.

    The book (Jupyter Book 1 / myst-nb) ignores `application/vnd.plotly.v1+json` and renders the
    `text/html` part, which expects `plotly.min.js` to be loaded by the page from the book's `_vendor`
    folder (no CDN). JupyterLab prefers the plotly mime type and draws the figure with its own plotly.
    """

    def __init__(self, fig: go.Figure) -> None:
        self.figure = fig
        figure_json = fig.to_json()
        digest = hashlib.sha1(figure_json.encode()).hexdigest()[:10]
        self.div_id = f"pc-plot-{next(_figure_counter)}-{digest}"
        self.html = fig.to_html(
            include_plotlyjs=False, full_html=False, div_id=self.div_id, config=_PLOTLY_CONFIG
        )
        self._plotly_json = fig.to_plotly_json()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        title = self.figure.layout.title.text or "plotly figure"
        return {
            "text/html": self.html,
            "application/vnd.plotly.v1+json": {
                "data": self._plotly_json["data"],
                "layout": self._plotly_json["layout"],
                "config": _PLOTLY_CONFIG,
            },
            "text/plain": f"<{title}>",
        }


def radar_labels(width: int = 18, newline: str = "\n") -> list[str]:
    """The 13 attribute names as labels around a radar, in vocabulary order: shortened ("&", no "Application of")
    and wrapped at ``width`` characters, lines joined by ``newline`` ("<br>" for plotly), so that the longest fit
    beside a figure the width of the book's text column."""
    short = [name.replace(" and ", " & ").replace("Application of ", "") for name in ATTRIBUTE_NAMES]
    return [newline.join(textwrap.wrap(name, width)) for name in short]


@dataclass(frozen=True)
class RadarScale:
    """The radial scale of a radar: rings one point apart from ``low`` (the centre) to ``high``, labelled along the
    bisector of spokes ``gap`` and ``gap + 1`` (the gap where the polygons leave the most room), only where the
    label lies outside every filled polygon: ``labels`` holds "" for a ring left unlabelled."""

    low: float
    high: float
    rings: list[float]
    labels: list[str]
    gap: int
    spokes: int

    @property
    def bisector_degrees(self) -> float:
        """The labels' direction in degrees clockwise from the first spoke (matplotlib's ``set_rlabel_position``
        with the first spoke at the top, clockwise)."""
        return (self.gap + 0.5) * 360 / self.spokes

    @property
    def unlabelled(self) -> list[float]:
        return [ring for ring, label in zip(self.rings, self.labels) if not label]


def radar_scale(polygons: Sequence[Sequence[float]], low: float, high: float = 10.0, *,
                clearance: float = 0.08) -> RadarScale:
    """Where a radar's ring numbers can go without sitting on the fill. ``polygons``: one closed shape per trace,
    its values on spokes evenly spaced (the first spoke's value first, not repeated at the end); the radius drawn is
    value - ``low``. For each gap between two spokes the largest radius of any polygon along its bisector is found
    (a straight edge between radii a and b, spokes 2*pi/n apart, crosses the bisector at 2ab cos(pi/n) / (a + b));
    the labels go in the gap where that radius is smallest, on the rings more than ``clearance`` of the radius
    (the label's half height) beyond it."""
    shapes = [[max(float(v) - low, 0.0) if math.isfinite(float(v)) else 0.0 for v in polygon] for polygon in polygons]
    spokes = max((len(s) for s in shapes), default=0)
    if not spokes:
        raise ValueError("radar_scale: no polygon to place the ring labels around")
    half = math.pi / spokes

    def along_bisector(shape: list[float], gap: int) -> float:
        a, b = shape[gap], shape[(gap + 1) % len(shape)]
        return 0.0 if a + b == 0 else 2 * a * b * math.cos(half) / (a + b)

    reach = [max(along_bisector(s, gap) for s in shapes) for gap in range(spokes)]
    gap = min(range(spokes), key=lambda k: (reach[k], k))
    rings = [float(r) for r in range(math.ceil(low), math.floor(high) + 1)]
    margin = clearance * (high - low)
    labels = [f"{ring:g}" if ring - low > reach[gap] + margin else "" for ring in rings]
    return RadarScale(low, high, rings, labels, gap, spokes)


def share_digits(count: int) -> int:
    """Decimals that a share of ``count`` items carries: the fewest that still tell k/count from (k+1)/count
    (100 images: 2, so 0.69 rather than 0.690; 300: 3; 10 or fewer: 1)."""
    return max(1, math.ceil(math.log10(count))) if count > 1 else 1


def percent(share: float | None, count: int, missing: str = "-") -> str:
    """A share of ``count`` items as a percentage, to the decimals that count carries (`share_digits` less the two
    the percent takes): 13 of 100 records is "13%", not "13.0%"; 13 of 1,000 is "1.3%"."""
    if share is None or not math.isfinite(share):
        return missing
    return f"{100 * share:.{max(0, share_digits(count) - 2)}f}%"


def interval_estimable(images: int | None) -> bool:
    """Whether a bootstrap interval over ``images`` images is worth stating: not under
    `portraitcraft.evaluation.MIN_INTERVAL_IMAGES` (resampling one or a few images gives an interval of a point, or
    of nearly nothing, which reads as certainty). ``None``: the count is not known, so the interval is shown."""
    from portraitcraft.evaluation import MIN_INTERVAL_IMAGES

    return images is None or images >= MIN_INTERVAL_IMAGES


def value_with_interval(value: float | None, low: float | None = None, high: float | None = None, *,
                        digits: int = 3, interval_digits: int | None = None, missing: str = "-",
                        images: int | None = None) -> str:
    """A metric as a results table shows it: the value to ``digits`` decimals, and under it, smaller, its interval
    (to ``interval_digits``, at most 3 by default; HTML for a pandas Styler; the stylesheet styles ``.interval``), so
    that columns stay narrow; ``missing`` where the value is NaN. ``images``: how many images the value rests on;
    under `portraitcraft.evaluation.MIN_INTERVAL_IMAGES` no interval is shown (`interval_estimable`)."""
    if value is None or not math.isfinite(value):
        return missing
    text = f"{value:.{digits}f}"
    if (low is not None and high is not None and math.isfinite(low) and math.isfinite(high)
            and interval_estimable(images)):
        places = min(digits, 3) if interval_digits is None else interval_digits
        text += f'<br><span class="interval">[{low:.{places}f}, {high:.{places}f}]</span>'
    return text


def relative_luminance(colour: Any) -> float:
    """WCAG 2 relative luminance of a colour (any matplotlib colour: "#55a868", an RGBA tuple): 0 black, 1 white."""
    from matplotlib.colors import to_rgb

    channels = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(colour)]
    return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]


def contrast_ratio(first: Any, second: Any) -> float:
    """WCAG 2 contrast ratio of two colours, from 1 (the same) to 21 (black on white)."""
    light, dark = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


# The two text colours a filled cell or box may carry. Black and white, not the book's dark grey: on every fill one
# of them reaches WCAG's 4.5:1 (the worst fill, of luminance 0.18, gives 4.6:1 with either), while dark grey and
# white both stay under 4.1:1 on a mid green.
DARK_TEXT, LIGHT_TEXT = "#000000", "#ffffff"


def text_colour_on(background: Any) -> str:
    """The text colour that reads best on ``background``: black or white, whichever has the higher WCAG contrast
    ratio with it (white on a mid green or orange does not, although those look dark)."""
    return max((DARK_TEXT, LIGHT_TEXT), key=lambda text: contrast_ratio(text, background))


def filled_cell_css(background: str, extra: str = "") -> str:
    """CSS for a table cell filled with ``background``: the fill and the text colour that reads on it."""
    return f"background-color: {background}; color: {text_colour_on(background)}" + (f"; {extra}" if extra else "")


def shaded(styler: Any, *, cmap: str, vmin: float = 0.0, vmax: float = 1.0, subset: Any = None) -> Any:
    """A pandas Styler's numeric cells filled by value from the matplotlib colour map ``cmap`` (``vmin`` to
    ``vmax``), each with the text colour that reads on its fill (`text_colour_on`; pandas' own background_gradient
    puts light text on fills as light as a mid green); cells that are not numbers, or NaN, stay unfilled."""
    import matplotlib
    from matplotlib.colors import to_hex

    colours = matplotlib.colormaps[cmap]

    def css(value: object) -> str:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return ""
        position = (min(max(float(value), vmin), vmax) - vmin) / (vmax - vmin) if vmax > vmin else 0.0
        return filled_cell_css(to_hex(colours(position)))

    return styler.map(css, subset=subset)


def show_plotly(fig: go.Figure, *, height: int | None = None) -> PlotlyFigure:
    """Return `fig` ready to display in the book, offline: the last expression of a cell, or `display(...)`."""
    if height is not None:
        fig.update_layout(height=height)
    return PlotlyFigure(fig)


def print_download(fig: Any, filename: str, what: str) -> HTML:
    """A matplotlib figure offered as a PDF to download (vector, fonts embedded: for print) rather than drawn as a
    second figure under its interactive one; the link carries the file (works offline) and the figure is closed."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="pdf", bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return HTML(f'<p class="pc-download">Download {html.escape(what)} for print: <a download="{html.escape(filename)}" '
                f'href="data:application/pdf;base64,{data}">{html.escape(filename)}</a> '
                f"(PDF, {len(buffer.getvalue()) / 1024:.0f} KB)</p>")


def caption(text: str, *, label: str = "Figure") -> Markdown:
    """A short caption under a figure or table, in the same style on every page."""
    return Markdown(f"**{label}.** {text}")


def level_table(attributes: pd.DataFrame) -> Any:
    """The 13 attributes of one image (columns attribute, level, score, reason) with levels coloured.

    Returns a pandas Styler; hidden labels (level None or the placeholder) stay uncoloured.
    """
    columns = [c for c in ("attribute", "level", "score", "reason") if c in attributes.columns]

    def colour(level: object) -> str:
        colour_hex = LEVEL_COLOURS.get(level) if isinstance(level, str) else None
        return filled_cell_css(colour_hex, "font-weight: 600") if colour_hex else ""

    styler = attributes[columns].reset_index(drop=True).style.hide(axis="index")
    if "level" in columns:
        styler = styler.map(colour, subset=["level"])
    if "score" in columns:
        styler = styler.format({"score": "{:.1f}"}, na_rep="hidden")
    styler = styler.set_properties(subset=[c for c in columns if c == "reason"], **{"text-align": "left"})
    return styler.set_table_attributes('style="font-size:0.88em"')


# Under every real PortraitCraft photograph the book shows, after its file name: the dataset names no photographer,
# so the file name is what can be cited.
PHOTO_CREDIT = "Unsplash (via the PortraitCraft dataset, CC BY-NC 4.0; not redistributed)"


def thumbnail(image: Image.Image, *, title: str = "", max_side: int = 384, credit: bool = False) -> str:
    """An HTML <figure> holding `image` as an inline JPEG (no file to copy, works offline). ``credit``: a real
    photograph, captioned with its file name (``title``) and `PHOTO_CREDIT`."""
    picture = image.copy()
    picture.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format="JPEG", quality=85)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    text = f"{title}: {PHOTO_CREDIT}" if credit else title
    caption_html = (f'<figcaption style="max-width:{max(max_side, 320)}px;overflow-wrap:anywhere">'
                    f"{html.escape(text)}</figcaption>") if text else ""
    return (
        f'<figure style="margin:0"><img src="data:image/jpeg;base64,{data}" '
        f'alt="{html.escape(title)}" style="max-width:{max_side}px;height:auto"/>{caption_html}</figure>'
    )


def confusion_panel(ax: Any, shares: pd.DataFrame, counts: pd.DataFrame, title: str) -> None:
    """One confusion matrix on a matplotlib axis: the row share as colour, the count written in the cell (drawn
    directly: seaborn's heatmap redraws the whole figure for every panel). Levels as Poor / Med. / Good / inv., at
    10 points, so that three panels side by side in the text column stay readable."""
    import numpy as np

    values = shares.to_numpy(dtype=float)
    image = ax.imshow(np.nan_to_num(values), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for (i, j), count in np.ndenumerate(counts.to_numpy()):
        ax.text(j, i, f"{count}", ha="center", va="center", fontsize=10,
                color=text_colour_on(image.cmap(image.norm(np.nan_to_num(values[i, j])))))
    short = {"Poor": "Poor", "Medium": "Med.", "Good": "Good"}
    ax.set_xticks(range(counts.shape[1]), [short.get(c, "inv.") for c in counts.columns], fontsize=10)
    ax.set_yticks(range(counts.shape[0]), [short.get(r, r) for r in counts.index], fontsize=10)
    ax.grid(False)
    ax.set_title(title, fontsize=10)


def reliability_figure(results: dict[str, Any], title: str) -> None:
    """Reliability diagrams of `portraitcraft.calibration.Calibration` results side by side: the share right per
    confidence bin against the diagonal, and the items per bin below; shown with matplotlib."""
    import matplotlib.pyplot as plt

    # 3.6 inches a panel: two side by side fill the text column at their drawn size (text at 10 points).
    fig, axes = plt.subplots(2, len(results), figsize=(3.6 * len(results), 5.2), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    for k, (label, result) in enumerate(results.items()):
        top, bottom = axes[0, k], axes[1, k]
        table = result.table
        width = table["bin_high"] - table["bin_low"]
        top.bar(table["bin_low"], table["accuracy"], width=width, align="edge", color="#4c72b0", alpha=0.8,
                edgecolor="white", label="share right")
        top.plot([0, 1], [0, 1], ls=":", color="#8c8c8c", label="calibrated")
        # Unclipped, above the axes: a bin with no item right sits at 0 and stays a whole dot.
        top.plot(table["confidence"], table["accuracy"], "o", color="#c44e52", ms=4, label="bin mean confidence",
                 clip_on=False, zorder=5)
        top.set(xlim=(0, 1), ylim=(0, 1), ylabel="share right",
                title=f"{label}\nECE {result.ece:.3f}, Brier {result.brier:.3f}")
        bottom.bar(table["bin_low"], table["items"], width=width, align="edge", color="#8c8c8c", edgecolor="white")
        bottom.set(xlabel="stated confidence (largest probability)", ylabel="items")
    fig.suptitle(title, x=0.01, ha="left", fontsize=12)
    # One legend for every panel, under the title: inside a panel it lay over the bars.
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="upper center", bbox_to_anchor=(0.5, 0.955), ncol=3,
               fontsize=10, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.91))
    plt.show()
