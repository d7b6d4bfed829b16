"""Every chapter runs as a notebook: jupytext converts it, nbval executes it.

Each ``chapters/NN_name.md`` is converted to ``.ipynb`` inside pytest's ``tmp_path`` (nbval
only collects ``.ipynb`` files) and executed by ``pytest --nbval-lax`` in a subprocess, with
this interpreter as the kernel. ``--nbval-lax`` fails on any cell that raises, including the
hidden cells that assert the chapter's claims; outputs are not compared.

nbval starts the kernel in the notebook's folder. So that relative paths resolve as they do
in the book (whose kernels start in ``chapters/``), the notebook is written to a stand-in
for the repository: ``tmp_path/book/chapters`` holds the notebook and links to everything
else in ``chapters/``, and ``tmp_path/book`` links to the repository's other entries.
Whatever a chapter writes to its working folder lands in ``tmp_path``, not in the repository.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]*_*.md"))
CELL_TIMEOUT_S = 300  # as execute.timeout in _config.yml
CHAPTER_TIMEOUT_S = 1200
TAIL = 8000  # characters of the run's output shown when it fails


def tail(output: str | bytes | None) -> str:
    """The end of a run's output, without terminal colour codes."""
    if isinstance(output, bytes):
        output = output.decode(errors="replace")
    return re.sub(r"\x1b\[[0-9;]*m", "", output or "")[-TAIL:]


def subprocess_env() -> dict:
    """The environment for the run: this checkout's optnotes first on the path, and the
    notebook's usual matplotlib backend (the test session may have forced a headless one)."""
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _link(dst: Path, src: Path) -> None:
    try:
        dst.symlink_to(src, target_is_directory=src.is_dir())
    except OSError:  # no symlinks on this system: only paths inside chapters/ differ
        pass


def stand_in_chapters_folder(tmp_path: Path) -> Path:
    """``tmp_path/book/chapters``: a folder whose relative paths resolve as in ``chapters/``."""
    book = tmp_path / "book"
    chapters = book / "chapters"
    chapters.mkdir(parents=True)
    for src in ROOT.iterdir():
        if src.name != "chapters" and not src.name.startswith((".", "_build")):
            _link(book / src.name, src)
    for src in (ROOT / "chapters").iterdir():
        if src.suffix not in {".md", ".ipynb"} and not src.name.startswith("."):
            _link(chapters / src.name, src)
    return chapters


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_runs_as_a_notebook(chapter: Path, tmp_path: Path):
    folder = stand_in_chapters_folder(tmp_path)
    notebook = folder / f"{chapter.stem}.ipynb"
    jupytext.write(jupytext.read(chapter), notebook)

    cmd = [
        sys.executable, "-m", "pytest", notebook.name,
        "--nbval-lax", "--nbval-current-env", f"--nbval-cell-timeout={CELL_TIMEOUT_S}",
        "-p", "no:cacheprovider", "-x", "-rf", "--color=no",
    ]
    try:
        proc = subprocess.run(cmd, cwd=folder, env=subprocess_env(), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=CHAPTER_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{chapter.name} ran longer than {CHAPTER_TIMEOUT_S} s:\n{tail(exc.output)}")
    rc = proc.returncode
    assert rc == 0, f"{chapter.name} failed as a notebook (rc={rc}):\n{tail(proc.stdout)}"
