"""Open every page of the built book in a real, headless Chromium and say what a reader would see go wrong.

    python -m portraitcraft.book.browser book/_build/html --screenshots book/_build/screenshots   # make check-book

The HTML folder is served on 127.0.0.1 (a port chosen by the system) and each page named in the book's table of
contents is opened in one headless Chromium, driven through the DevTools protocol over a pipe
(``--remote-debugging-pipe``: no websocket library, no port of the browser's own). For each page it records

- console errors and uncaught exceptions (``Runtime.exceptionThrown``, ``console.error``, error log entries such
  as a resource that failed to load),
- requests that failed, and requests to any host other than the local server (the book must work offline: a
  CDN script shows up here even on a machine that could reach it),
- plotly figures on the page and how many of them rendered (an SVG drawn inside the figure's div),
- HTML tables on the page,
- what a reader sees go wrong in the laid-out page (`page_checks.js`, measured in the article at 1280 px): text
  that overlaps other text (HTML text, SVG text of plotly figures and of SVG pictures such as matplotlib's, with
  rotated labels compared as the rotated boxes they are), text that runs outside its figure, boxes whose content is
  cut off or scrolls sideways (a table wider than the text column, a long line of printed output; code cells and
  code listings in the prose, which scroll sideways as code does, are exempt), text smaller than `MIN_FONT_PX`,
  sections that show nothing, figures with no data, tables with no rows, and raw program output (stderr,
  tracebacks, printed warnings),
- what a figure editor would send back (also `page_checks.js`): a legend or label box over the plotted marks or over
  other text of its figure (plotly's legends and annotations, matplotlib's legends and boxed labels, tested against
  what the traces and axes actually paint), the same figure twice on a page (the same data, the same picture, or
  one figure number on two figures) and the same note twice (an italic or "Note" paragraph), unformatted floats
  (six or more decimals) and raw ISO timestamps in what the page shows (not in figure data, not in code), text cut
  at a fixed length without an ellipsis, install or environment messages in captions, a caption labelled
  "Figure" under tables alone (or "Table" under figures alone), axis numbers or names printed on a filled area
  (a radar's ring numbers inside its polygon; plotly's and matplotlib's tick labels, sampled against the fills the
  traces and axes paint), and a caption that explains a mark ("rows marked *") that no row or label of its table
  or figure carries,
- text that hardly stands out from its background: a WCAG 2 contrast ratio of its colour against its computed
  background (the element's and its ancestors' backgrounds laid over one another) under 4.5:1, or 3:1 for large text
  (24 px, or 18.66 px bold); text on an image or a gradient, and SVG text, are not judged,
- a full-page PNG screenshot when a folder is given, however tall the page (taken in tiles, joined).

A page fails when it has a console error, a failed or external request, a plotly figure that did not render, or any
of the reader's problems above.
Chromium is found as ``$CHROMIUM``, else ``chromium``, ``chromium-browser``, ``google-chrome`` on the PATH.
"""

from __future__ import annotations

import base64
import fcntl
import functools
import json
import os
import select
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from portraitcraft.exceptions import PortraitCraftError

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome")
# Headless Chromium in a container (no sandbox, no GPU, no /dev/shm); the last ones keep it from reaching out on
# its own.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
                  # A desktop with a mouse, as the reader at 1280 px has, not headless's default of no pointer at
                  # all: pages ask '(hover: hover)' (plotly shows its toolbar only under the pointer there).
                  "--blink-settings=primaryHoverType=2,availableHoverTypes=2,primaryPointerType=4,"
                  "availablePointerTypes=4")
WINDOW = (1280, 900)  # CSS pixels of the viewport; screenshots take the page's whole height
TILE_HEIGHT = 4000  # a tall page is captured in slices of this height (one capture of a very tall page comes out blank)
MIN_FONT_PX = 10  # smaller text is reported: a reader at 1280 px cannot read it
# Text whose WCAG 2 contrast ratio against its background is lower is reported: large text (24 px, or 18.66 px bold)
# under 3:1, smaller text under 4.5:1 (WCAG's AA levels).
MIN_CONTRAST, MIN_CONTRAST_SMALL = 3.0, 4.5
# The reader's checks, run in the page (see its header); it resolves to {kind: [message, ...]}.
PAGE_CHECKS_JS = (Path(__file__).with_name("page_checks.js").read_text(encoding="utf-8")
                  .replace("__MIN_FONT_PX__", str(MIN_FONT_PX)).replace("__MIN_CONTRAST__", str(MIN_CONTRAST))
                  .replace("__MIN_CONTRAST_SMALL__", str(MIN_CONTRAST_SMALL)))
READER_PROBLEMS = {"overlap": "overlapping text", "clipped": "cut off", "small_text": "text too small",
                   "empty": "empty", "raw_output": "raw output", "covers_data": "over the data",
                   "duplicate": "shown twice", "raw_number": "raw number", "cut_text": "cut text",
                   "environment": "environment message in a caption", "caption_label": "caption labelled wrong",
                   "on_fill": "label on a fill", "unmatched_mark": "caption explains a missing mark",
                   "low_contrast": "low contrast"}

# What the page holds once it has settled: plotly figures (and those drawn), tables, the title.
PAGE_SUMMARY_JS = """JSON.stringify({
  title: document.title,
  plotly: document.querySelectorAll('.plotly-graph-div').length,
  plotly_rendered: Array.from(document.querySelectorAll('.plotly-graph-div'))
                        .filter(d => d.querySelector('svg.main-svg')).length,
  tables: document.querySelectorAll('table').length,
  height: Math.ceil(document.documentElement.scrollHeight)
})"""


class BrowserError(PortraitCraftError, RuntimeError):
    """Chromium is missing, would not start, or stopped answering."""


@dataclass
class PageReport:
    page: str  # path of the page under the HTML root
    title: str = ""
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    plotly: int = 0
    plotly_rendered: int = 0
    tables: int = 0
    reader: dict[str, list[str]] = field(default_factory=dict)  # kind (READER_PROBLEMS) -> messages
    screenshot: str | None = None
    seconds: float = 0.0

    @property
    def problems(self) -> list[str]:
        found = [f"console: {m}" for m in self.console_errors]
        found += [f"failed request: {u}" for u in self.failed_requests]
        found += [f"external request: {u}" for u in self.external_requests]
        if self.plotly_rendered < self.plotly:
            found.append(f"{self.plotly - self.plotly_rendered} of {self.plotly} plotly figure(s) not rendered")
        for kind, messages in self.reader.items():
            found += [f"{READER_PROBLEMS.get(kind, kind)}: {m}" for m in messages]
        return found

    @property
    def ok(self) -> bool:
        return not self.problems


def find_chromium() -> str | None:
    """The Chromium to drive: ``$CHROMIUM``, else the first of `BROWSER_NAMES` on the PATH; None when there is none."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"]) or None
    return next((path for name in BROWSER_NAMES if (path := shutil.which(name))), None)


# --- serving the book ---------------------------------------------------------------------------------------------

class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


@contextmanager
def serve_directory(root: Path) -> Iterator[str]:
    """``root`` served over HTTP on 127.0.0.1 while the block runs; yields the base URL (ending in ``/``)."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder (build the book first: make book)")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="book-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _above_four(fd: int) -> int:
    """``fd`` moved to a descriptor number of at least 10 (the old one is closed)."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return moved


# --- the DevTools protocol over a pipe ------------------------------------------------------------------------------

class Chromium:
    """One headless Chromium driven through ``--remote-debugging-pipe`` (messages are JSON, each ending in NUL).

    Chromium reads commands on its file descriptor 3 and writes answers and events on 4.
    """

    def __init__(self, executable: str, *, timeout_s: float = 180.0) -> None:
        if shutil.which(executable) is None:
            raise BrowserError(f"cannot start {executable}: not an executable file")
        self.timeout_s = timeout_s
        self._next_id = 0
        self._buffer = b""
        self.events: list[dict[str, Any]] = []
        commands_read, self._commands = os.pipe()
        self._answers, answers_write = os.pipe()
        # The child's ends above fd 4, so that wiring them onto 3 and 4 cannot overwrite one with the other.
        commands_read, answers_write = (_above_four(fd) for fd in (commands_read, answers_write))
        self._profile = tempfile.TemporaryDirectory(prefix="portraitcraft-chromium-")

        argv = [executable, *CHROMIUM_FLAGS, "--remote-debugging-pipe", f"--user-data-dir={self._profile.name}",
                f"--window-size={WINDOW[0]},{WINDOW[1]}", "about:blank"]

        def wire_pipes() -> None:
            # In the child: the pipes onto fds 3 and 4, which dup2 makes inheritable. Every other descriptor
            # Python opened is close-on-exec already, so close_fds=False leaks nothing (and, unlike pass_fds,
            # does not close 3 and 4 again after this function).
            os.dup2(commands_read, 3)
            os.dup2(answers_write, 4)

        try:
            self._process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL, close_fds=False, preexec_fn=wire_pipes)
        except OSError as exc:
            raise BrowserError(f"cannot start {executable}: {exc}") from exc
        finally:
            os.close(commands_read)
            os.close(answers_write)
        self.session = None
        targets = self.send("Target.getTargets")["targetInfos"]
        page = next((t for t in targets if t["type"] == "page"), None)
        target = page["targetId"] if page else self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=WINDOW[0], height=WINDOW[1], deviceScaleFactor=1,
                  mobile=False)

    def close(self) -> None:
        try:
            self.session = None
            self.send("Browser.close")
        except BrowserError:
            pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for fd in (self._commands, self._answers):
            try:
                os.close(fd)
            except OSError:
                pass
        self._profile.cleanup()

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"Chromium did not answer within {self.timeout_s:g} s")
            ready, _, _ = select.select([self._answers], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._answers, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium exited (code {self._process.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command (to the page session once attached) and wait for its answer; events are kept."""
        self._next_id += 1
        command: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if self.session:
            command["sessionId"] = self.session
        try:
            os.write(self._commands, json.dumps(command).encode("utf-8") + b"\0")
        except OSError as exc:
            raise BrowserError(f"Chromium is gone ({exc})") from exc
        deadline = time.monotonic() + self.timeout_s
        while True:
            message = self._read_message(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error'].get('message')}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, method: str, timeout_s: float) -> bool:
        """Wait until an event ``method`` arrives (True) or ``timeout_s`` passes (False); events are kept."""
        if any(e["method"] == method for e in self.events):
            return True
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                message = self._read_message(deadline)
            except BrowserError:
                if self._process.poll() is not None:
                    raise
                return False
            if "method" in message:
                self.events.append(message)
                if message["method"] == method:
                    return True
        return False

    def evaluate(self, expression: str) -> Any:
        """The value of a page script (awaited when it is a promise)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"evaluating page script: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")


# --- checking pages -------------------------------------------------------------------------------------------------

def _event_messages(events: Sequence[dict[str, Any]], origin: str) -> tuple[list[str], list[str], list[str]]:
    """Console errors, failed requests and requests to other hosts, from one page's events."""
    errors, failed, external, urls = [], [], [], {}
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text", "exception")
            errors.append(text.splitlines()[0])
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            if entry.get("source") == "network":  # a failed load: listed under failed requests
                continue
            errors.append(f"{entry.get('text', '')} {entry.get('url', '')}".strip())
        elif method == "Network.requestWillBeSent":
            url = params.get("request", {}).get("url", "")
            urls[params.get("requestId")] = url
            if urllib.parse.urlsplit(url).scheme in ("http", "https") and not url.startswith(origin):
                external.append(url)
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            if urls.get(params.get("requestId"), "").endswith("/favicon.ico"):
                continue  # the browser's own guess, not something the page asked for
            failed.append(f"{urls.get(params.get('requestId'), '?')} ({params.get('errorText', 'failed')})")
        elif method == "Network.responseReceived" and params.get("response", {}).get("status", 200) >= 400:
            response = params["response"]
            if response.get("url", "").endswith("/favicon.ico"):
                continue
            failed.append(f"{response.get('url')} (HTTP {response.get('status')})")
    return errors, failed, external


def check_page(browser: Chromium, base_url: str, page: str, *, screenshots: Path | None = None,
               settle_s: float = 1.0, load_timeout_s: float = 180.0) -> PageReport:
    """Open ``page`` (a path under the served root) and report on it; see the module docstring."""
    start = time.perf_counter()
    browser.events.clear()
    report = PageReport(page=page)
    browser.send("Page.navigate", url=urllib.parse.urljoin(base_url, page))
    if not browser.wait_for("Page.loadEventFired", load_timeout_s):
        report.console_errors.append(f"the page did not finish loading within {load_timeout_s:g} s")
    browser.wait_for("never.arrives", settle_s)  # let scripts run after load (plotly draws on load)
    summary = json.loads(browser.evaluate(PAGE_SUMMARY_JS))
    report.title, report.tables = summary["title"], summary["tables"]
    report.plotly, report.plotly_rendered = summary["plotly"], summary["plotly_rendered"]
    errors, failed, external = _event_messages(browser.events, base_url)
    report.console_errors += errors
    report.failed_requests, report.external_requests = failed, external
    if screenshots is not None:
        target = screenshots / (Path(page).with_suffix("").as_posix().replace("/", "__") + ".png")
        report.screenshot = str(full_page_screenshot(browser, summary["height"], target))
    # After the screenshot: the checks put SVG pictures inline, which the reader's page does not do.
    report.reader = {kind: messages for kind, messages in json.loads(browser.evaluate(PAGE_CHECKS_JS)).items()
                     if messages}
    report.seconds = time.perf_counter() - start
    return report


def full_page_screenshot(browser: Chromium, height: int, target: Path) -> Path:
    """A PNG of the whole page, ``height`` CSS pixels tall, at the window's width, written to ``target``.

    The viewport is made as tall as the page, rather than using captureBeyondViewport (with which Chromium shifted
    pages whose code cells scroll sideways to the left in the picture); it is captured in slices of `TILE_HEIGHT`,
    joined into one image.
    """
    import io

    from PIL import Image

    height = max(int(height), WINDOW[1])
    target.parent.mkdir(parents=True, exist_ok=True)
    browser.send("Emulation.setDeviceMetricsOverride", width=WINDOW[0], height=height, deviceScaleFactor=1,
                 mobile=False)
    try:
        browser.wait_for("never.arrives", 0.3)  # the relayout, and plotly's resize handler
        tiles = []
        for top in range(0, height, TILE_HEIGHT):
            clip = {"x": 0, "y": top, "width": WINDOW[0], "height": min(TILE_HEIGHT, height - top), "scale": 1}
            shot = browser.send("Page.captureScreenshot", format="png", clip=clip)
            tiles.append(Image.open(io.BytesIO(base64.b64decode(shot["data"]))))
    finally:
        browser.send("Emulation.setDeviceMetricsOverride", width=WINDOW[0], height=WINDOW[1], deviceScaleFactor=1,
                     mobile=False)
    if len(tiles) == 1:
        tiles[0].save(target)
        return target
    whole = Image.new("RGB", (WINDOW[0], sum(tile.height for tile in tiles)), "white")
    top = 0
    for tile in tiles:
        whole.paste(tile.convert("RGB"), (0, top))
        top += tile.height
    whole.save(target)
    return target


def book_pages(html: Path) -> list[str]:
    """The pages to open: every ``.html`` under ``html`` except Sphinx's own (search, genindex, _static...)."""
    skip = {"search.html", "genindex.html", "py-modindex.html"}
    pages = [p.relative_to(html).as_posix() for p in sorted(html.rglob("*.html"))
             if p.name not in skip and not any(part.startswith("_") for part in p.relative_to(html).parts)]
    if not pages:
        raise FileNotFoundError(f"{html}: no HTML pages (build the book first: make book)")
    return pages


def check_book(html: Path, *, pages: Sequence[str] | None = None, screenshots: Path | None = None,
               chromium: str | None = None, progress: bool = True) -> list[PageReport]:
    """Open each page of the built book in headless Chromium; one report per page (see `check_page`)."""
    executable = chromium or find_chromium()
    if executable is None:
        raise BrowserError("no Chromium found (set $CHROMIUM, or install Debian's `chromium`: make browser)")
    pages = list(pages) if pages is not None else book_pages(html)
    reports = []
    with serve_directory(html) as base_url, Chromium(executable) as browser:
        for page in pages:
            reports.append(check_page(browser, base_url, page, screenshots=screenshots))
            if progress:
                r = reports[-1]
                state = "ok" if r.ok else f"{len(r.problems)} problem(s)"
                print(f"{page}: {state} ({r.plotly_rendered}/{r.plotly} plotly, {r.tables} tables, {r.seconds:.1f} s)",
                      flush=True)
    return reports


def main(argv: Sequence[str] | None = None) -> int:
    """Check a built book; exit 0 when every page is fine, 1 when a page has problems, 2 when it cannot run."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m portraitcraft.book.browser", description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, nargs="?", default=Path("book/_build/html"), help="the built HTML folder")
    parser.add_argument("--screenshots", type=Path, default=None, help="save a full-page PNG of each page here")
    parser.add_argument("--page", action="append", default=None, help="only this page (repeatable)")
    args = parser.parse_args(argv)
    try:
        reports = check_book(args.html, pages=args.page, screenshots=args.screenshots)
    except (BrowserError, FileNotFoundError) as exc:
        print(f"error: {exc}")
        return 2
    bad = [r for r in reports if not r.ok]
    for report in bad:
        for problem in report.problems:
            print(f"{report.page}: {problem}")
    print(f"{len(reports) - len(bad)} of {len(reports)} page(s) fine")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
