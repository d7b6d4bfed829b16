"""Execute every chapter once, and build the book once, for the whole test session.

Each chapter is executed exactly once per session, whichever test asks first:

* ``test_notebooks.py`` has one test per chapter; it fails with the cell that raised and
  its traceback, as nbval would.
* The executed notebooks go into a jupyter-cache (in a temporary folder), and the book
  is built from that cache (``execute_notebooks: cache``), so the build executes
  nothing: ``test_book.py`` checks its log for that. When the session uses the book, the
  build starts in the background as soon as the last chapter is executed.
* ``test_browser.py`` checks the site that this one build produced.

Chapters are read with myst-nb's own reader (so the cache entry matches the page the
book builds) and executed by jupyter-cache's executor, the function myst-nb itself calls,
in a subprocess per chapter, two at a time on a machine with two or more cores. Each
kernel starts in a stand-in for ``chapters/`` whose relative paths resolve as in the
book, so whatever a chapter writes lands in a temporary folder, not in the repository.

With ``OPTNOTES_STAGE_TIMES=<file>`` in the environment, the time each chapter took, the
time of the book build and of the browser tests are appended to that file
(``stage<TAB>seconds``); ``.ci/run`` prints them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# Every page of a chapter (``06_second_order.md``, a short parent page in plain Markdown,
# and its parts ``06a_...``, ``06b_...``), and those of them that are notebooks: the
# pages that are executed, cached and offered for download.
CHAPTER_FILES = sorted((ROOT / "chapters").glob("[0-9][0-9]*_*.md"))


def is_notebook(path: Path) -> bool:
    """A MyST notebook: its front matter names a kernel."""
    text = path.read_text(encoding="utf8")
    front = re.match(r"---\n(.*?)\n---\n", text, flags=re.S)
    return bool(front and re.search(r"^kernelspec:", front.group(1), flags=re.M))


CHAPTERS = [p for p in CHAPTER_FILES if is_notebook(p)]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))
CELL_TIMEOUT_S = CONFIG["execute"]["timeout"]
CHAPTER_TIMEOUT_S = 1200
BUILD_TIMEOUT_S = 1800
TAIL = 12000  # characters of a log shown when something fails
WORKERS = max(1, min(4, os.cpu_count() or 1))

# ``python -m jupyter_book`` does not exist; call the CLI's entry point with this interpreter.
JUPYTER_BOOK = ("import sys; from jupyter_book.cli.main import main; "
                "sys.exit(main(prog_name='jupyter-book'))")


def tail(output: str | bytes | None, n: int = TAIL) -> str:
    """The end of a run's output, without terminal colour codes."""
    if isinstance(output, bytes):
        output = output.decode(errors="replace")
    return re.sub(r"\x1b\[[0-9;]*m", "", output or "")[-n:]


def subprocess_env() -> dict:
    """This checkout's optnotes first on the path (for the kernels and for autodoc), and the
    notebooks' usual matplotlib backend (the test session may have forced a headless one)."""
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def record_stage(name: str, seconds: float) -> None:
    path = os.environ.get("OPTNOTES_STAGE_TIMES")
    if path:
        with open(path, "a", encoding="utf8") as f:
            f.write(f"{name}\t{seconds:.1f}\n")


def writing_bytecode(env: dict) -> dict:
    """``env`` without PYTHONDONTWRITEBYTECODE: in a new environment installed without
    bytecode (see :func:`install`), the first process that imports a module compiles it
    for all the others."""
    return {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}


def install(python: Path, *args: str, **run) -> subprocess.CompletedProcess:
    """``pip install args`` with ``python``, compiling no bytecode: compiling every file
    installed costs more than compiling, once, the modules that the tests import."""
    return subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-compile",
                           *args], stdin=subprocess.DEVNULL, **run)


# --- one chapter ---------------------------------------------------------------------------

def _link(dst: Path, src: Path) -> None:
    try:
        dst.symlink_to(src, target_is_directory=src.is_dir())
    except OSError:  # no symlinks on this system: only paths inside chapters/ differ
        pass


def stand_in_chapters_folder(folder: Path) -> Path:
    """``folder/book/chapters``: a folder whose relative paths resolve as in ``chapters/``."""
    book = folder / "book"
    chapters = book / "chapters"
    chapters.mkdir(parents=True)
    for src in ROOT.iterdir():
        if src.name != "chapters" and not src.name.startswith((".", "_build")):
            _link(book / src.name, src)
    for src in (ROOT / "chapters").iterdir():
        if src.suffix not in {".md", ".ipynb"} and not src.name.startswith("."):
            _link(chapters / src.name, src)
    return chapters


def read_as_the_book_does(chapter: Path):
    """The chapter as the notebook myst-nb builds the page from."""
    from myst_nb.core.read import read_myst_markdown_notebook
    from myst_parser.config.main import MdParserConfig

    extensions = set(CONFIG.get("parse", {}).get("myst_enable_extensions", []))
    return read_myst_markdown_notebook(
        chapter.read_text(encoding="utf8"), config=MdParserConfig(enable_extensions=extensions),
        add_source_map=True, path=str(chapter))


@dataclass
class Run:
    chapter: Path
    seconds: float
    error: str | None  # the failing cell and its traceback, or why the run stopped


def execute_chapter(chapter: Path, folder: Path) -> tuple[Run, object]:
    """Execute ``chapter`` in a subprocess; return the run and the executed notebook."""
    import nbformat

    cwd = stand_in_chapters_folder(folder)
    source, executed = folder / "input.ipynb", folder / "executed.ipynb"
    nbformat.write(read_as_the_book_does(chapter), source)
    cmd = [sys.executable, __file__, str(source), str(executed), str(cwd), str(CELL_TIMEOUT_S)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=subprocess_env(), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=CHAPTER_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        seconds = time.perf_counter() - start
        return Run(chapter, seconds, f"ran longer than {CHAPTER_TIMEOUT_S} s:\n"
                                     f"{tail(exc.output)}"), None
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        return Run(chapter, seconds, tail(proc.stdout)), None
    return Run(chapter, seconds, None), nbformat.read(executed, as_version=4)


def _execute_main(source: str, executed: str, cwd: str, timeout: str) -> int:
    """In the subprocess: execute as myst-nb does, print the failing cell, save the result."""
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    nb = nbformat.read(source, as_version=4)
    result = single_nb_execution(nb, cwd=cwd, timeout=int(timeout), allow_errors=False,
                                 meta_override=True)
    if result.err is not None:
        failed = [i for i, cell in enumerate(nb.cells)
                  if any(out.get("output_type") == "error" for out in cell.get("outputs", []))]
        if failed:  # the line of the .md where that cell starts (myst-nb's source map)
            lines = nb.metadata.get("source_map") or []
            where = f", line {lines[failed[0]]} of the .md" if failed[0] < len(lines) else ""
            print(f"cell {failed[0]}{where}:")
        from nbclient.exceptions import CellExecutionError

        print(str(result.err) if isinstance(result.err, CellExecutionError) else result.exc_string)
        return 1
    nbformat.write(nb, executed)
    return 0


# --- all chapters, once --------------------------------------------------------------------

class ChapterRuns:
    """Chapters executed in the background, each once, results cached for the book."""

    def __init__(self, folder: Path):
        from jupyter_cache import get_cache

        self.folder = folder
        self.cache_path = folder / "jupyter-cache"
        self.cache = get_cache(str(self.cache_path))
        self.pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="chapter")
        self.futures: dict[Path, Future] = {}
        self.runs: dict[Path, Run] = {}
        self.lock = threading.Lock()

    def start(self, chapters) -> None:
        for chapter in chapters:
            if chapter not in self.futures:
                folder = self.folder / chapter.stem
                self.futures[chapter] = self.pool.submit(execute_chapter, chapter, folder)

    def result(self, chapter: Path) -> Run:
        self.start([chapter])
        run, executed = self.futures[chapter].result()
        with self.lock:
            if chapter not in self.runs:
                if executed is not None:
                    self._cache(chapter, executed, run.seconds)
                self.runs[chapter] = run
                record_stage(f"chapter {chapter.stem}", run.seconds)
        return self.runs[chapter]

    def _cache(self, chapter: Path, executed, seconds: float) -> None:
        from jupyter_cache.base import CacheBundleIn

        self.cache.cache_notebook_bundle(
            CacheBundleIn(executed, str(chapter), data={"execution_seconds": seconds}),
            check_validity=False, overwrite=True)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


# the test modules that use the book
BOOK_MODULES = {"test_book.py", "test_browser.py", "test_student_notebooks.py"}


def builds_the_book(session) -> bool:
    return any(Path(str(item.fspath)).name in BOOK_MODULES for item in session.items)


def chapters_the_session_needs(session) -> list[Path]:
    """Every chapter when the book is built in this session, else the selected ones."""
    if builds_the_book(session):
        return list(CHAPTERS)
    by_stem = {p.stem: p for p in CHAPTERS}
    needed = set()
    for item in session.items:
        if Path(str(item.fspath)).name == "test_notebooks.py":
            chapter = getattr(item, "callspec", None) and item.callspec.params.get("chapter")
            if chapter is not None:
                needed.add(by_stem[Path(chapter).stem])
    return [p for p in CHAPTERS if p in needed]


# Each test module that imports a fixture below gets a fixture of its own, even with
# scope="session"; these objects make the session hold one of each all the same.
_SESSION: dict = {}


def _once(name: str, make):
    if name not in _SESSION:
        _SESSION[name] = make()
    return _SESSION[name]


@pytest.fixture(scope="session")
def chapter_runs(request, tmp_path_factory) -> ChapterRuns:
    def make():
        runs = ChapterRuns(tmp_path_factory.mktemp("chapters"))
        runs.start(chapters_the_session_needs(request.session))
        request.config.add_cleanup(runs.close)
        if builds_the_book(request.session):
            start_book(runs, tmp_path_factory, request.session)
        return runs

    return _once("chapter_runs", make)


# --- the book, once ------------------------------------------------------------------------

@dataclass
class Build:
    html: Path
    returncode: int
    log: str
    seconds: float


def book_config(cache_path: Path, target: Path, root: Path = ROOT) -> Path:
    """``_config.yml`` with execution from ``cache_path`` and absolute extension paths."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf8"))
    config["execute"]["execute_notebooks"] = "cache"
    config["execute"]["cache"] = str(cache_path)
    local = config.get("sphinx", {}).get("local_extensions") or {}
    for name, path in local.items():
        local[name] = str((root / path).resolve())
    target.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf8")
    return target


def build_book(source: Path, config: Path, out: Path, toc: Path | None = None) -> Build:
    cmd = [sys.executable, "-c", JUPYTER_BOOK, "build", str(source), "--config", str(config),
           "--path-output", str(out), "-W", "-n"]
    if toc is not None:
        cmd += ["--toc", str(toc)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=out.parent, env=subprocess_env(), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=BUILD_TIMEOUT_S)
        rc, log = proc.returncode, tail(proc.stdout, 10**7)
    except subprocess.TimeoutExpired as exc:
        rc, log = -1, f"the build ran longer than {BUILD_TIMEOUT_S} s:\n{tail(exc.output)}"
    return Build(out / "_build" / "html", rc, log, time.perf_counter() - start)


# Called with (build, tmp_path_factory, session) once the book is built, to start work
# that needs the build in the background (the nbval runs of the downloaded notebooks),
# so that it overlaps the browser tests.
AFTER_BOOK: list = []


def _build_once_executed(runs: ChapterRuns, tmp_path_factory, session) -> Build | list[str]:
    """The book, built as soon as every chapter is executed; or the chapters that failed."""
    failed = [run.chapter.name for run in map(runs.result, CHAPTERS) if run.error]
    if failed:
        return failed
    folder = tmp_path_factory.mktemp("book")
    build = build_book(ROOT, book_config(runs.cache_path, folder / "_config.yml"),
                       folder / "out")
    record_stage("book build (no execution)", build.seconds)
    if build.returncode == 0:
        for start in AFTER_BOOK:
            start(build, tmp_path_factory, session)
    return build


def start_book(runs: ChapterRuns, tmp_path_factory, session) -> Future:
    """The book's build, started once, in the background: it waits for the chapters and
    then runs beside whatever the session is doing (the assignments' gradings)."""
    return _once("book", lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="book")
                 .submit(_build_once_executed, runs, tmp_path_factory, session))


@pytest.fixture(scope="session")
def book(chapter_runs, tmp_path_factory, request) -> Build:
    """The book, built once with ``-W -n`` from the chapters executed in this session."""
    build = start_book(chapter_runs, tmp_path_factory, request.session).result()
    if isinstance(build, list):
        pytest.fail(f"the book is not built: {', '.join(build)} failed to execute "
                    "(test_notebooks.py shows the failing cell)", pytrace=False)
    return build


if __name__ == "__main__":
    sys.exit(_execute_main(*sys.argv[1:]))
