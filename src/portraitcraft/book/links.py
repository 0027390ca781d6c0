"""The built book's internal links, checked offline: every relative ``href`` and ``src`` of every HTML page names a
file of the build, and every ``#anchor`` names an id on the page it points to.

    python -m portraitcraft.book.links book/_build/html      # part of `make check-book`

Pure Python over the HTML files (the standard library's parser): no browser and no server, well under a second for
the whole book. Addresses with a scheme or a host (``https:``, ``mailto:``, ``data:``, ``//cdn...``) are not
followed here; the workflow's Sphinx link check reads the external ones. A link to a folder needs the folder's
``index.html`` (what a web server answers), and a link that leaves the HTML folder counts as broken: the published
site holds only that folder. Anchors are checked on HTML targets only (an ``id``, or an ``<a name>``); an empty
fragment (``href="#"``) is the top of the page. The pages are the HTML files outside ``_static/`` (the theme keeps
Jinja templates there, not pages).
"""

from __future__ import annotations

from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

# The attributes that name another file of the site, per tag (what a browser follows or loads).
LINK_ATTRIBUTES = {"a": "href", "area": "href", "link": "href", "img": "src", "script": "src", "iframe": "src",
                   "source": "src", "video": "src", "audio": "src", "embed": "src", "track": "src"}
# Fragments that name no element on purpose: ``#_`` closes a picture enlarged over the page (chapter 6's series,
# `book.tables.series_strip`): the CSS shows a picture while it is the ``:target``, and a link to an id that does
# not exist takes that away without scrolling.
NO_TARGET_FRAGMENTS = frozenset({"_"})


class _PageLinks(HTMLParser):
    """The links and the anchor names of one page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value for name, value in attrs if value is not None}
        if values.get("id"):
            self.ids.add(values["id"])
        if tag == "a" and values.get("name"):
            self.ids.add(values["name"])
        attribute = LINK_ATTRIBUTES.get(tag)
        if attribute and values.get(attribute, "").strip():
            self.links.append(values[attribute].strip())


def _read(page: Path) -> _PageLinks:
    parser = _PageLinks()
    parser.feed(page.read_text(encoding="utf-8", errors="replace"))
    parser.close()
    return parser


def book_pages(html_root: Path) -> list[Path]:
    """The built book's HTML pages: every ``.html`` file outside ``_static/``."""
    return sorted(p for p in html_root.rglob("*.html") if "_static" not in p.relative_to(html_root).parts)


def internal_link_problems(html_root: str | Path, pages: Sequence[str] | None = None) -> list[str]:
    """What is broken among the internal links of the built HTML under ``html_root``: one line per link,
    ``PAGE: LINK (why)`` with PAGE relative to the root, in page order. ``pages`` (relative paths) limits the pages
    whose links are read; targets are looked up in the whole folder. An empty list: every link holds."""
    root = Path(html_root).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{html_root}: no such folder (build the book first)")
    sources = book_pages(root) if pages is None else [root / page for page in pages]
    parsed: dict[Path, _PageLinks] = {}

    def links_of(page: Path) -> _PageLinks:
        if page not in parsed:
            parsed[page] = _read(page)
        return parsed[page]

    problems = []
    for page in sources:
        page = page.resolve()
        name = page.relative_to(root).as_posix()
        for link in links_of(page).links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc:
                continue
            path = unquote(parts.path)
            target = (page.parent / path).resolve() if path else page
            if target != root and root not in target.parents:
                problems.append(f"{name}: {link} (outside the built book)")
                continue
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                problems.append(f"{name}: {link} (no such file)")
                continue
            anchor = unquote(parts.fragment)
            if (anchor and anchor not in NO_TARGET_FRAGMENTS and target.suffix == ".html"
                    and anchor not in links_of(target).ids):
                problems.append(f"{name}: {link} (no id {anchor!r} on {target.relative_to(root).as_posix()})")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Check a built book's internal links; exit 0 when all hold, 1 when one is broken, 2 when there is no book."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m portraitcraft.book.links", description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, nargs="?", default=Path("book/_build/html"), help="the built HTML folder")
    args = parser.parse_args(argv)
    try:
        problems = internal_link_problems(args.html)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem)
    pages = len(book_pages(args.html.resolve()))
    print(f"internal links of {pages} page(s): " + (f"{len(problems)} broken" if problems else "all hold"))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
