"""The notebooks a student downloads run anywhere and reproduce the page (nbval).

For every chapter, the executed notebook the site offers for download
(``_sources/chapters/NN_name.ipynb`` of the build that ``site_build.py`` makes once per
session) is copied into a folder outside the repository and run under ``pytest --nbval``
in a fresh kernel of a fresh virtual environment that holds only what the home page tells
a student to install: ``torch==2.13.0``, then the ``optnotes`` wheel the site offers,
with its ``course`` extra (plus nbval to run the check). nbval compares every cell's
outputs with those on the page, so a chapter whose printed or glued numbers do not
reproduce on a second, independent run fails, with the cell and the difference.

What may legitimately differ is sanitized (``nbval_sanitize.cfg`` beside this file):
memory addresses, temporary paths and figures (nbval skips PNG images; an SVG carries its
creation date and random ids). A cell whose output is a measured time is tagged
``nbval-ignore-output`` in its chapter. ``nbval_conftest.py`` makes nbval send cells with
history on, as Jupyter does, so a trailing semicolon hides a value as on the page.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import venv
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

import site_build
from site_build import CHAPTERS, WORKERS, book, chapter_runs, record_stage, tail  # noqa: F401

HERE = Path(__file__).resolve().parent
SANITIZE = HERE / "nbval_sanitize.cfg"
NBVAL_CONFTEST = HERE / "nbval_conftest.py"  # cells sent with history, as Jupyter does
ENV_TIMEOUT_S = 1200
CHAPTER_TIMEOUT_S = 1200

# the chapter pages that are notebooks (a page that only groups others has no code)
NOTEBOOKS = [p for p in CHAPTERS if "kernelspec:" in p.read_text(encoding="utf8")[:2000]]

_LOCK = threading.Lock()
_STATE: dict = {}


def _clean_env() -> dict:
    """The environment of a student's shell: nothing that points into the repository."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "VIRTUAL_ENV", "MPLBACKEND", "PYTHONHOME"}}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return site_build.writing_bytecode(env)


# requirements.txt's exact pins (numpy, scipy, scikit-learn, jax, optax, ...)
PINNED = [line.split("#")[0].strip() for line in
          (site_build.ROOT / "requirements.txt").read_text().splitlines()
          if "==" in line.split("#")[0] and not line.startswith("-")]


def make_student_env(folder: Path, wheel: Path) -> Path:
    """A fresh virtual environment with torch 2.13.0 and the wheel's course extra."""
    venv.EnvBuilder(with_pip=True, clear=True).create(folder)
    python = folder / "bin" / "python"
    # the numerical packages at the versions the book was executed with (requirements.txt
    # pins them), so that the outputs nbval compares can match the page
    constraints = folder.parent / f"{folder.name}-constraints.txt"
    constraints.write_text("".join(line + "\n" for line in PINNED))
    steps = [["torch==2.13.0"], [f"{wheel}[course]", "nbval>=0.11", "pytest>=9.2",
                                 "-c", str(constraints)]]
    for packages in steps:
        proc = site_build.install(python, *packages, env=_clean_env(), text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  timeout=ENV_TIMEOUT_S)
        if proc.returncode != 0:
            raise RuntimeError(f"pip install {' '.join(packages)} failed:\n{tail(proc.stdout)}")
    return python


def downloaded_notebook(html: Path, chapter: Path) -> Path:
    return html / "_sources" / "chapters" / f"{chapter.stem}.ipynb"


def offered_wheel(html: Path) -> Path:
    wheels = sorted(html.glob("_downloads/*/optnotes-*.whl"))
    assert len(wheels) == 1, f"the site offers {len(wheels)} optnotes wheels: {wheels}"
    return wheels[0]


def run_nbval(python: Path, notebook: Path) -> tuple[int, str, float]:
    """``pytest --nbval`` on one notebook, in its own folder outside the repository."""
    start = time.perf_counter()
    cmd = [str(python), "-m", "pytest", "--nbval", "--nbval-current-env",
           f"--nbval-sanitize-with={SANITIZE}", "-p", "no:cacheprovider", "-q",
           "--rootdir", str(notebook.parent), notebook.name]
    try:
        proc = subprocess.run(cmd, cwd=notebook.parent, env=_clean_env(), text=True,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=CHAPTER_TIMEOUT_S)
        rc, out = proc.returncode, proc.stdout
    except subprocess.TimeoutExpired as exc:
        rc, out = -1, f"ran longer than {CHAPTER_TIMEOUT_S} s:\n{tail(exc.output)}"
    return rc, out, time.perf_counter() - start


def _run_all(book, base: Path) -> dict:  # noqa: F811
    """Make the environment, then run every chapter, WORKERS at a time."""
    start = time.perf_counter()
    python = make_student_env(base / "venv", offered_wheel(book.html))
    record_stage("student environment (torch + wheel)", time.perf_counter() - start)
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="nbval")
    futures = {}
    for chapter in NOTEBOOKS:
        folder = base / "downloads" / chapter.stem
        folder.mkdir(parents=True)
        notebook = folder / f"{chapter.stem}.ipynb"
        shutil.copy(downloaded_notebook(book.html, chapter), notebook)
        shutil.copy(NBVAL_CONFTEST, folder / "conftest.py")
        futures[chapter] = pool.submit(run_nbval, python, notebook)
    pool.shutdown(wait=False)
    return futures


def _start_all(book, tmp_path_factory) -> Future:  # noqa: F811
    """The runs of every chapter, started once (in the background, as soon as the book
    is built, when this module is part of the session)."""
    with _LOCK:
        if "runs" not in _STATE:
            base = tmp_path_factory.mktemp("student")
            _STATE["runs"] = ThreadPoolExecutor(max_workers=1).submit(_run_all, book, base)
        return _STATE["runs"]


def _start_if_selected(book, tmp_path_factory, session) -> None:  # noqa: F811
    if any(Path(str(item.fspath)).name == Path(__file__).name for item in session.items):
        _start_all(book, tmp_path_factory)


site_build.AFTER_BOOK.append(_start_if_selected)


@pytest.mark.slow
@pytest.mark.parametrize("chapter", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_downloaded_notebook_reproduces_under_nbval(chapter, book, tmp_path_factory):  # noqa: F811
    if book.returncode != 0:
        pytest.fail("the book did not build (test_book.py shows why)", pytrace=False)
    assert downloaded_notebook(book.html, chapter).is_file(), "the page offers no .ipynb"
    rc, out, seconds = _start_all(book, tmp_path_factory).result()[chapter].result()
    record_stage(f"nbval {chapter.stem}", seconds)
    assert rc == 0, (f"{chapter.stem}.ipynb, as downloaded from the site, does not reproduce "
                     f"its outputs under nbval in a fresh environment:\n{tail(out)}")
