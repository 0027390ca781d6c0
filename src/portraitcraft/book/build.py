"""Build the book: execute every notebook named in the table of contents, then render the HTML.

For each page `book/executed/<name>` of `_toc.yml`, in table-of-contents order (`jobs` pages at a time), the
jupytext source
`notebooks/<name>.py` is converted to a notebook, executed by papermill (kernel `python3`, working
directory the repository root, the dataset passed as the `data` parameter) and written to
`book/executed/<name>.ipynb`. Jupyter Book 1 then renders those executed notebooks (it never executes
anything itself) with Sphinx warnings treated as errors, into `<out>/_build/html`.

Rebuilding is cheap when little changed. A page is executed again only when its inputs changed: the
jupytext source, the parameters passed to it, the code of the `portraitcraft` package, or a file given as a
parameter (for a folder: the files at its top, such as a dataset's JSON files), each by name, size and
modification time. The digest of those inputs is kept in the executed notebook's metadata
(``portraitcraft.inputs``); a failed execution records none, so it runs again. The HTML is rebuilt only when
a file it is made from (`_config.yml`, `_toc.yml`, the files under `book/`) changed since the last successful
build, and then only the pages whose notebook changed are rendered again (all of them after a failed build).
Files a notebook reads on its own, not through a parameter, are not seen: ``force=True``
(``portraitcraft book --force``) executes every page and rebuilds the HTML.

Where a build writes
--------------------
Everything a build writes is under its build folder ``out`` (default: the repository's `book/`): the executed
notebooks (`<out>/executed/`, which is `book/executed/` for the default), what the chapters compute and keep (model
runs and the submissions for the official test, `<out>/runs/`), and the HTML (`<out>/_build/html`). For another
``out`` the HTML is rendered from `<out>/_source/`, a copy of the book's configuration, contents and pages whose
`book/executed/` is the build's own: two builds into different folders can run at the same time.

Run it as `portraitcraft book --data data/lab`.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib.resources
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from portraitcraft.book.paths import EXECUTED_DIR, book_root_above
from portraitcraft.exceptions import PortraitCraftError

SOURCES_DIR = Path("notebooks")
VENDOR_DIR = Path("book") / "_vendor"
DEFAULT_OUT = Path("book")  # Jupyter Book writes the HTML to <out>/_build/html
KERNEL = "python3"
CELL_TIMEOUT_S = 1800
INPUTS_KEY = "inputs"  # in the executed notebook's metadata["portraitcraft"]: the digest of what it was run from
HTML_STAMP = ".portraitcraft-inputs"  # in the HTML folder: the digest of what the last successful build read


class BookError(PortraitCraftError, RuntimeError):
    """The book cannot be built; the message says which file and what to do."""

    exit_code = 1  # `portraitcraft book`: the build ran and a page or Sphinx failed


class BookOptionError(BookError):
    """An option names what the book does not have (a chapter missing from _toc.yml): nothing was run."""

    exit_code = 2


class NotebookFailed(BookError):
    """A notebook raised while executing; the partially executed notebook has been kept."""

    def __init__(self, page: NotebookPage, *, cell_number: int, execution_count: int | None,
                 source_line: int | None, error: str, executed: Path) -> None:
        self.page = page
        self.cell_number = cell_number
        self.execution_count = execution_count
        self.source_line = source_line
        self.error = error
        self.executed = executed
        where = f"{page.source}:{source_line}" if source_line else str(page.source)
        prompt = f"In [{execution_count}]" if execution_count else "not executed"
        super().__init__(
            f"notebook {page.name} failed at {where} (cell {cell_number}, {prompt}): {error}\n"
            f"the partially executed notebook is {executed}"
        )


@dataclass(frozen=True)
class NotebookPage:
    """One notebook page of the book: its jupytext source and where its executed notebook goes."""

    name: str
    source: Path  # notebooks/<name>.py, relative to the book root
    executed: Path  # book/executed/<name>.ipynb, relative to the book root
    # Set by `portraitcraft: {reads_other_pages: true}` in the source's jupytext header: the page reads the
    # other pages' executed notebooks (the appendix's timings), so it runs after them.
    reads_other_pages: bool = False


def find_book_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` (default: the working directory) holding `_toc.yml` and `_config.yml`."""
    root = book_root_above(start or Path.cwd())
    if root is None:
        raise BookError(f"no _toc.yml and _config.yml found in {(start or Path.cwd()).resolve()} or above: "
                        "run from the project's repository")
    return root


def _toc_files(entry: Any) -> Iterator[str]:
    """Every `file:` (and the root) of a jb-book table of contents, in reading order."""
    if isinstance(entry, Mapping):
        for key in ("root", "file"):
            if isinstance(entry.get(key), str):
                yield entry[key]
        for key in ("parts", "chapters", "sections"):
            for child in entry.get(key) or []:
                yield from _toc_files(child)
    elif isinstance(entry, list):
        for child in entry:
            yield from _toc_files(child)


def toc_pages(root: Path) -> list[str]:
    """The documents named in `_toc.yml`, in reading order, without extensions."""
    toc_path = root / "_toc.yml"
    try:
        toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BookError(f"{toc_path}: invalid YAML: {exc}") from exc
    return [str(Path(file).with_suffix("")) if Path(file).suffix else file for file in _toc_files(toc)]


def notebook_pages(root: Path) -> list[NotebookPage]:
    """The notebook pages of the table of contents (entries under book/executed/), in reading order."""
    pages = []
    executed_prefix = EXECUTED_DIR.as_posix() + "/"
    for document in toc_pages(root):
        if not document.startswith(executed_prefix):
            continue
        name = document[len(executed_prefix):]
        source = SOURCES_DIR / f"{name}.py"
        if not (root / source).is_file():
            raise BookError(f"_toc.yml lists {document} but its source {source} does not exist")
        pages.append(NotebookPage(name=name, source=source, executed=EXECUTED_DIR / f"{name}.ipynb",
                                  reads_other_pages=_reads_other_pages(root / source)))
    return pages


def _reads_other_pages(source: Path) -> bool:
    """Whether a jupytext source's header marks the page as reading the other pages' executed notebooks."""
    import jupytext

    header = jupytext.read(source, fmt="py:percent").metadata
    return bool(header.get("portraitcraft", {}).get("reads_other_pages"))


def parameters_cell(notebook: Any) -> Any | None:
    """The first code cell tagged `parameters`, or None."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return cell
    return None


def declared_parameters(notebook: Any) -> list[str]:
    """Names assigned at top level of the notebook's parameters cell (what papermill can override)."""
    cell = parameters_cell(notebook)
    if cell is None:
        return []
    names = []
    for statement in ast.parse(cell.source).body:
        targets = statement.targets if isinstance(statement, ast.Assign) else (
            [statement.target] if isinstance(statement, ast.AnnAssign) else [])
        names.extend(t.id for t in targets if isinstance(t, ast.Name))
    return names


def vendor_plotly(root: Path) -> Path:
    """Copy plotly.min.js from the installed plotly wheel into book/_vendor (the book loads it from there, no CDN)."""
    bundled = importlib.resources.files("plotly") / "package_data" / "plotly.min.js"
    if not bundled.is_file():
        raise BookError(f"plotly.min.js is missing from the installed plotly package ({bundled})")
    target = root / VENDOR_DIR / "plotly.min.js"
    target.parent.mkdir(parents=True, exist_ok=True)
    with importlib.resources.as_file(bundled) as path:
        if target.is_file() and target.stat().st_size == path.stat().st_size and (
                target.read_bytes() == path.read_bytes()):
            return target  # unchanged: its modification time stays, and a build running beside reads a whole file
        # Written beside and renamed: a build running at the same time never reads half a file.
        handle, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        os.close(handle)
        shutil.copyfile(path, partial)
        os.chmod(partial, 0o644)
        os.replace(partial, target)
    return target


def dataset_parameter(data: str, root: Path) -> str:
    """The `data` value a notebook receives: folders as paths it can open from the repository root
    (relative when inside the repository, so the book does not print this machine's paths);
    anything else (a Hugging Face dataset id, "lab") unchanged."""
    from portraitcraft.book.paths import normalised_path

    folder = Path(data).expanduser()
    if not folder.exists():
        return data
    resolved = folder.resolve()
    if resolved.is_relative_to(root.resolve()):
        return resolved.relative_to(root.resolve()).as_posix()
    # as the user named it (through a link too), made absolute without "..": pages print it
    return str(normalised_path(folder))


def prediction_parameter(value: str, root: Path) -> str:
    """A prediction file as a notebook receives it: its path as `dataset_parameter` gives it, behind its label when
    it was given one (``LABEL=PATH``, `portraitcraft.predictions.split_label`)."""
    from portraitcraft.predictions import split_label

    label, path = split_label(value)
    located = dataset_parameter(str(path), root)
    return f"{label}={located}" if label is not None else located


@contextmanager
def _kernel_sees_this_package() -> Iterator[None]:
    """Let the notebook kernel import the same `portraitcraft` as this process, installed or not."""
    import portraitcraft

    package_parent = str(Path(portraitcraft.__file__).resolve().parents[1])
    previous = os.environ.get("PYTHONPATH")
    if previous and previous.split(os.pathsep)[0] == package_parent:
        yield  # already set by an enclosing call: pages executed in parallel share the setting
        return
    entries = [package_parent, *(previous.split(os.pathsep) if previous else [])]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(entries))
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = previous


def _line_in_source(source_text: str, cell_source: str) -> int | None:
    """The 1-based line of the jupytext source where a code cell's text starts, if found verbatim."""
    offset = source_text.find(cell_source.strip()) if cell_source.strip() else -1
    return source_text.count("\n", 0, offset) + 1 if offset >= 0 else None


def _file_states(path: Path) -> list[tuple[str, int, int]]:
    """Name, size and modification time of a file, or of each file at the top of a folder."""
    files = sorted(f for f in path.iterdir() if f.is_file()) if path.is_dir() else [path]
    return [(f.name, (st := f.stat()).st_size, st.st_mtime_ns) for f in files]


def _package_digest() -> str:
    """The code of the installed portraitcraft package: a change of any module re-executes every page."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for module in sorted(package.rglob("*.py")):
        digest.update(module.relative_to(package).as_posix().encode())
        digest.update(module.read_bytes())
    return digest.hexdigest()


# Parameters naming where a page writes (or, for the appendix, the build's own executed notebooks): their folders'
# files change with every build, so they enter the digest by name only.
OUTPUT_PARAMETERS = frozenset({"runs", "demo_runs", "executed"})


def page_inputs(source_text: str, root: Path, passed: Mapping[str, Any]) -> str:
    """Digest of what executing a page depends on that the build can see (the module docstring lists it)."""
    paths = []
    for name, value in passed.items():
        if name in OUTPUT_PARAMETERS:
            continue
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, str) and item:
                path = Path(item) if Path(item).is_absolute() else root / item
                if path.exists():
                    paths.append((item, _file_states(path)))
    content = {"source": source_text, "parameters": passed, "paths": paths, "package": _package_digest()}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def recorded_inputs(executed: Path) -> str | None:
    """The input digest an executed notebook was made from; None when absent, failed or unreadable."""
    try:
        metadata = json.loads(executed.read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, ValueError):
        return None
    return metadata.get("portraitcraft", {}).get(INPUTS_KEY)


def execute_page(page: NotebookPage, root: Path, parameters: Mapping[str, Any], *,
                 progress: bool = True, force: bool = True, executed_dir: Path | None = None) -> Path | None:
    """Execute one notebook page with papermill and write <executed_dir>/<name>.ipynb (default:
    book/executed/ of ``root``).

    Only the parameters the notebook declares are passed. Raises NotebookFailed (after writing the
    partially executed notebook) when a cell raises. With ``force=False`` a page whose executed notebook was
    made from the same inputs (`page_inputs`) is left as it is and None is returned.
    """
    import jupytext
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source_path = root / page.source
    source_text = source_path.read_text(encoding="utf-8")
    notebook = jupytext.reads(source_text, fmt="py:percent")
    # A source without a jupytext header names no kernel; papermill needs its language.
    notebook.metadata.setdefault("kernelspec", {"name": KERNEL, "display_name": "Python 3", "language": "python"})
    declared = declared_parameters(notebook)
    passed = {name: value for name, value in parameters.items() if name in declared}
    executed = (executed_dir / f"{page.name}.ipynb") if executed_dir is not None else root / page.executed
    inputs = page_inputs(source_text, root, passed)
    if not force and recorded_inputs(executed) == inputs:
        return None
    executed.parent.mkdir(parents=True, exist_ok=True)

    succeeded = False
    with tempfile.TemporaryDirectory(prefix="portraitcraft-book-") as scratch:
        converted = Path(scratch) / f"{page.name}.ipynb"
        nbformat.write(notebook, converted)
        try:
            with _kernel_sees_this_package():
                papermill.execute_notebook(
                    converted, executed, parameters=passed, kernel_name=KERNEL, cwd=root,
                    progress_bar=progress, execution_timeout=CELL_TIMEOUT_S, **_quiet_kernel(Path(scratch)),
                )
            succeeded = True
        except PapermillExecutionError as exc:
            cell_source = exc.source or ""
            raise NotebookFailed(
                page,
                cell_number=exc.cell_index,
                execution_count=exc.exec_count,
                source_line=_line_in_source(source_text, cell_source),
                error=f"{exc.ename}: {exc.evalue}",
                executed=executed,
            ) from None
        finally:
            _tidy_executed(executed, page, inputs if succeeded else None)
    return executed


def _quiet_kernel(scratch: Path) -> dict[str, Any]:
    """Papermill options for a kernel that prints nothing of its own on a successful build.

    The kernel talks to this process over local sockets in ``scratch`` (IPC) rather than TCP, which it warns is
    unencrypted; and its own log stays below CRITICAL, which silences the "KeyboardInterrupt caught in kernel" that
    ipykernel logs when the interrupt jupyter_client sends before every shutdown lands in a message handler. A cell's
    error still reaches the build through papermill (the notebook's output), not through this log.
    """
    from traitlets.config import Config

    config = Config({"KernelManager": {"transport": "ipc", "ip": str(scratch / "kernel")}})
    return {"config": config, "extra_arguments": ["--IPKernelApp.log_level=CRITICAL"]}


PLOTLY_MIME = "application/vnd.plotly.v1+json"
# A section (a markdown cell starting with a heading, up to the next heading) whose heading cell has this tag is
# removed from the page when its code cells show nothing: on data where a chapter has nothing to show, the reader
# gets the chapter's one sentence saying so, not headings over empty toggles.
EMPTY_SECTION_TAG = "remove-if-no-output"


def _remove_sections_without_output(notebook: Any) -> None:
    cells = notebook.cells
    for start, cell in enumerate(cells):
        if cell.cell_type != "markdown" or EMPTY_SECTION_TAG not in cell.get("metadata", {}).get("tags", []):
            continue
        section = [cell]
        for later in cells[start + 1:]:
            if later.cell_type == "markdown" and later.source.lstrip().startswith("#"):
                break
            section.append(later)
        if any(later.cell_type == "code" and later.get("outputs") for later in section):
            continue
        for member in section:
            tags = member.setdefault("metadata", {}).setdefault("tags", [])
            if "remove-cell" not in tags:
                tags.append("remove-cell")


def _tidy_executed(executed: Path, page: NotebookPage, inputs: str | None = None) -> None:
    """Make the executed notebook say what the book shows.

    Papermill records the scratch copy as the input: record the jupytext source instead. The cell papermill
    injects with the parameters is removed from the page, as the parameters cell is, and so is every section whose
    heading is tagged `EMPTY_SECTION_TAG` when none of its code cells showed anything. Jupyter Book
    cannot render plotly's own mime type (it warns, and warnings fail the build), so where an output
    also carries its HTML rendering (see `portraitcraft.book.figures.show_plotly`) the plotly JSON is
    dropped; an output with plotly JSON alone is left as it is, for the build to report. ``inputs``, the digest
    of a successful execution's inputs, is recorded (and only then: a failed page is executed again).
    """
    import nbformat

    if not executed.is_file():
        return
    notebook = nbformat.read(executed, as_version=4)
    papermill_meta = notebook.metadata.get("papermill", {})
    papermill_meta["input_path"] = page.source.as_posix()
    papermill_meta["output_path"] = page.executed.as_posix()
    if inputs is not None:
        notebook.metadata.setdefault("portraitcraft", {})[INPUTS_KEY] = inputs
    _remove_sections_without_output(notebook)
    for cell in notebook.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")  # like the parameters cell it overrides: settings, not reading
        for output in cell.get("outputs", []):
            bundle = output.get("data", {})
            if PLOTLY_MIME in bundle and "text/html" in bundle:
                del bundle[PLOTLY_MIME]
    nbformat.write(notebook, executed)


def jupyter_book_command() -> list[str]:
    """How to call Jupyter Book 1 with this Python (the script beside the interpreter, else on PATH)."""
    beside = Path(sys.executable).parent / "jupyter-book"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("jupyter-book")
    if found is None:
        raise BookError("jupyter-book is not installed: pip install 'portraitcraft[book]'")
    return [found]


def _files_below(folder: Path, skip: Path) -> list[Path]:
    """Every file under ``folder``, through linked folders too (a build's own `_source/` links to the book's files),
    leaving out ``skip`` (the build output)."""
    found = []
    for current, folders, files in os.walk(folder, followlinks=True):
        here = Path(current)
        folders[:] = [name for name in folders if (here / name).resolve() != skip]
        found += [here / name for name in files]
    return found


def html_inputs(root: Path, out: Path) -> str:
    """Digest of the files the HTML is made from: the configuration, the table of contents, everything under
    book/ but the build output (names, sizes, modification times)."""
    build_dir = (out / "_build").resolve()
    files = [root / "_config.yml", root / "_toc.yml", *_files_below(root / "book", build_dir)]
    states = [(f.relative_to(root).as_posix(), (st := f.stat()).st_size, st.st_mtime_ns)
              for f in sorted(files) if f.is_file()]
    return hashlib.sha256(json.dumps(states).encode()).hexdigest()


def build_html(root: Path, out: Path, *, force: bool = True) -> Path | None:
    """Render the book whose sources are at ``root`` with Jupyter Book 1, Sphinx warnings as errors, into
    ``out``/_build/html; return the HTML folder. With ``force=False``, return None without building when nothing
    it is made from changed since the last successful build, and render only the changed pages when something
    did."""
    html = out / "_build" / "html"
    stamp = html / HTML_STAMP
    inputs = html_inputs(root, out)
    if not force and stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == inputs:
        return None
    # After a successful build Sphinx rewrites only the pages whose notebook changed. After a failed one (no stamp)
    # every page is read again, so that a warning of a page Sphinx kept from the failed build fails this one too.
    incremental = not force and stamp.is_file()
    stamp.unlink(missing_ok=True)  # a failed build must not look up to date
    command = [
        *jupyter_book_command(), "build", str(root), "--builder", "html", "--path-output", str(out),
        *([] if incremental else ["--all"]), "-W", "-n", "--keep-going",
    ]
    result = subprocess.run(command, cwd=root, check=False)
    if result.returncode != 0:
        raise BookError(
            f"jupyter-book build failed (exit {result.returncode}); the Sphinx messages above name the page"
        )
    stamp.write_text(inputs + "\n", encoding="utf-8")
    return html


def _execute_pages(pages: list[NotebookPage], root: Path, parameters: Mapping[str, Any], *, jobs: int,
                   progress: bool, force: bool, log, executed_dir: Path | None = None) -> None:
    """Execute `pages`, `jobs` at a time; a page that reads the others' executed notebooks runs after them. The
    first failure stops the build once the pages running have ended (no new page starts); their executed notebooks
    are kept."""
    readers = [page for page in pages if page.reads_other_pages]
    if readers and len(readers) < len(pages):
        _execute_pages([page for page in pages if not page.reads_other_pages], root, parameters, jobs=jobs,
                       progress=progress, force=force, log=log, executed_dir=executed_dir)
        _execute_pages(readers, root, parameters, jobs=jobs, progress=progress, force=force, log=log,
                       executed_dir=executed_dir)
        return

    def run(page: NotebookPage) -> tuple[NotebookPage, Path | None, float]:
        page_started = time.perf_counter()
        # One progress bar at a time reads; parallel pages report when each ends instead.
        executed = execute_page(page, root, parameters, progress=progress and jobs == 1, force=force,
                                executed_dir=executed_dir)
        return page, executed, time.perf_counter() - page_started

    def shown(page: NotebookPage) -> str:
        return str(executed_dir / f"{page.name}.ipynb") if executed_dir is not None else str(page.executed)

    def report(page: NotebookPage, executed: Path | None, seconds: float) -> None:
        if executed is None:
            log(f"{shown(page)}: up to date (inputs unchanged)")
        else:
            log(f"executed {page.source} -> {shown(page)} in {seconds:.1f} s")

    with _kernel_sees_this_package():
        if jobs <= 1 or len(pages) <= 1:
            for page in pages:
                report(*run(page))
            return
        from concurrent.futures import ThreadPoolExecutor, as_completed

        failure: BaseException | None = None
        # Threads suffice: each page runs in its own kernel process, and this one only waits for it. Papermill
        # changes the process's working directory to the root for each page and back afterwards: from another
        # directory, parallel pages would restore it under each other and a kernel could start elsewhere, so the
        # pool runs from the root itself.
        with contextlib.chdir(root), ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="book-page") as pool:
            futures = [pool.submit(run, page) for page in pages]
            for future in as_completed(futures):
                if future.cancelled():
                    continue
                if future.exception() is None:
                    report(*future.result())
                elif failure is None:
                    failure = future.exception()
                    for other in futures:
                        other.cancel()  # pages not started yet; those running finish
        if failure is not None:
            raise failure


def baseline_model_parameter(predictions: Iterable[str], root: Path) -> str:
    """The `baseline_model` a notebook receives: the saved feature-baseline model that wrote the first prediction
    file given that the feature baseline wrote, seen from the repository root; "" when none did.

    A page judging that model (the lab chapter) takes the model, not the prediction files, as its parameter: its
    digest then follows the model's files, and a new prediction file does not execute it again.
    """
    from portraitcraft.baseline import find_baseline_model
    from portraitcraft.predictions import split_label

    for given in predictions:
        path = split_label(given)[1]
        found = find_baseline_model(path if path.is_absolute() else root / path)
        if found is not None:
            return dataset_parameter(str(found), root)
    return ""


@dataclass(frozen=True)
class BuildLayout:
    """Where one build writes: all of it under ``out`` (see the module docstring)."""

    root: Path  # the repository: the sources of the pages and the book's files
    out: Path  # the build folder
    executed: Path  # the executed notebooks
    runs: Path  # what the chapters compute and keep (model runs, submissions)
    source: Path  # the book the HTML is rendered from: the repository itself, or out/_source

    @property
    def own(self) -> bool:
        """Whether the build has a folder of its own (another than the repository's book/)."""
        return self.source != self.root

    @classmethod
    def of(cls, root: Path, out: Path | None) -> BuildLayout:
        out = (out if out is not None else root / DEFAULT_OUT).resolve()
        if out == (root / DEFAULT_OUT).resolve():
            return cls(root, out, root / EXECUTED_DIR, root / DEFAULT_OUT / "runs", root)
        return cls(root, out, out / "executed", out / "runs", out / "_source")

    def parameters(self) -> dict[str, str]:
        """Where the chapters write and read the build's own files, for a build with a folder of its own (the
        chapters' defaults are the repository's book/ folder)."""
        if not self.own:
            return {}
        return {"runs": str(self.runs), "demo_runs": str(self.runs / "finetune-demo"),
                "executed": str(self.executed)}

    def prepare_source(self) -> None:
        """Make out/_source: the configuration and table of contents copied, the book's files linked, and
        book/executed linked to this build's executed notebooks."""
        if not self.own:
            return
        book = self.source / "book"
        book.mkdir(parents=True, exist_ok=True)
        for name in ("_config.yml", "_toc.yml"):
            shutil.copy2(self.root / name, self.source / name)  # modification time kept: the HTML digest sees edits
        wanted = {"executed": self.executed.resolve()}
        for entry in (self.root / "book").iterdir():
            if entry.name in {"executed", "runs", "_build"} or entry.name.startswith("."):
                continue
            if self.out == entry.resolve() or entry.resolve() in self.out.parents:
                continue  # the build folder itself, inside book/
            wanted[entry.name] = entry.resolve()
        for name, target in wanted.items():
            link = book / name
            if link.is_symlink() and link.resolve() == target:
                continue
            if link.is_symlink() or link.is_file():
                link.unlink()
            elif link.is_dir():
                shutil.rmtree(link)
            link.symlink_to(target, target_is_directory=target.is_dir() or name == "executed")
        for stale in book.iterdir():
            if stale.name not in wanted and stale.is_symlink():
                stale.unlink()


def build_book(data: str = "data/lab", *, root: Path | None = None, out: Path | None = None,
               parameters: Mapping[str, Any] | None = None, only: Iterable[str] | None = None,
               html: bool = True, progress: bool = True, force: bool = False, jobs: int = 1, log=print) -> Path:
    """Execute the notebooks of the table of contents on `data`, then build the HTML.

    `parameters` go to every notebook that declares them (besides `data`, and `baseline_model` worked out from
    the `predictions` given, see `baseline_model_parameter`, else a lab-trained baseline already at hand,
    `portraitcraft.baseline.lab_model_at_hand`); `only` restricts execution
    to the named notebooks (the others keep their last executed version). Pages and HTML whose inputs did not
    change are kept (see the module docstring) unless `force`. `jobs` pages are executed at a time, each in its
    own kernel. Everything the build writes goes under `out` (see `BuildLayout`). Returns the HTML folder, or the
    executed-notebooks folder when `html` is False.
    """
    root = find_book_root(root)
    layout = BuildLayout.of(root, out)
    all_parameters = {"data": dataset_parameter(data, root), **layout.parameters(), **(parameters or {})}
    if "predictions" in all_parameters:
        # prediction files given on the command line, seen from the repository root like `data`
        all_parameters["predictions"] = [prediction_parameter(str(p), root) for p in all_parameters["predictions"]]
        all_parameters.setdefault("baseline_model", baseline_model_parameter(all_parameters["predictions"], root))
    if not all_parameters.get("baseline_model") and "baseline_model" not in (parameters or {}):
        # No prediction file of the feature baseline given: the lab chapter judges its series with a lab-trained
        # baseline already at hand (make baseline's, or the one assess cached), never one trained for the book.
        from portraitcraft.baseline import lab_model_at_hand

        at_hand = lab_model_at_hand(root)
        if at_hand is not None:
            all_parameters["baseline_model"] = dataset_parameter(str(at_hand), root)
    pages = notebook_pages(root)
    wanted = set(only) if only else None
    if wanted:
        unknown = wanted - {page.name for page in pages}
        if unknown:
            raise BookOptionError(f"--only {', '.join(sorted(unknown))}: not a chapter of _toc.yml (chapters: "
                                  f"{', '.join(page.name for page in pages)})")

    started = time.perf_counter()
    vendor_plotly(root)
    todo = [page for page in pages if not wanted or page.name in wanted]
    # Pages are independent of each other: one runs alone. The HTML, though, needs every page of the table of
    # contents executed, so with `only` on a fresh clone it waits for a build of the whole book.
    never_executed = [page.name for page in pages
                      if page not in todo and not (layout.executed / f"{page.name}.ipynb").is_file()]
    # a page named by `only` is executed even when up to date: that is what was asked
    _execute_pages(todo, root, all_parameters, jobs=jobs, progress=progress, force=force or bool(wanted), log=log,
                   executed_dir=None if not layout.own else layout.executed)
    if not html:
        return layout.executed
    if never_executed:
        log(f"HTML not built: {len(never_executed)} other page(s) never executed ({', '.join(never_executed)}); "
            f"the executed notebook is in {layout.executed}. `portraitcraft book` without --only builds the "
            "whole book.")
        return layout.executed
    layout.prepare_source()
    html_started = time.perf_counter()
    html_dir = build_html(layout.source, layout.out, force=force)
    if html_dir is None:
        html_dir = layout.out / "_build" / "html"
        log(f"HTML up to date; book checked in {time.perf_counter() - started:.1f} s: {html_dir / 'index.html'}")
        return html_dir
    log(f"HTML in {time.perf_counter() - html_started:.1f} s; book built in "
        f"{time.perf_counter() - started:.1f} s: {html_dir / 'index.html'}")
    return html_dir
