"""The book builds with warnings as errors, executing every chapter on the way.

The build reads the repository in place and writes everything (HTML, doctrees, executed
notebooks) under pytest's ``tmp_path`` via ``--path-output``, so the repository's own
``_build`` is neither used nor touched. Notebooks are executed afresh
(``execute_notebooks: force``), so no execution cache is read or written.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD_TIMEOUT_S = 1800
TAIL = 12000  # characters of the build log shown when it fails

# ``python -m jupyter_book`` does not exist; call the CLI's entry point with this interpreter.
JUPYTER_BOOK = "import sys; from jupyter_book.cli.main import main; sys.exit(main(prog_name='jupyter-book'))"


def tail(output: str | bytes | None) -> str:
    """The end of a run's output, without terminal colour codes."""
    if isinstance(output, bytes):
        output = output.decode(errors="replace")
    return re.sub(r"\x1b\[[0-9;]*m", "", output or "")[-TAIL:]


def subprocess_env() -> dict:
    """This checkout's optnotes first on the path (for the kernels and for autodoc), and the
    notebooks' usual matplotlib backend (the test session may have forced a headless one)."""
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@pytest.mark.slow
def test_book_builds_with_warnings_as_errors(tmp_path: Path):
    out = tmp_path / "book"
    cmd = [sys.executable, "-c", JUPYTER_BOOK, "build", str(ROOT), "--path-output", str(out), "-W"]
    try:
        proc = subprocess.run(cmd, cwd=tmp_path, env=subprocess_env(), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the book build ran longer than {BUILD_TIMEOUT_S} s:\n{tail(exc.output)}")
    rc = proc.returncode
    assert rc == 0, f"jupyter-book build -W failed (rc={rc}):\n{tail(proc.stdout)}"

    html = out / "_build" / "html"
    assert (html / "intro.html").is_file(), f"no intro.html in {html}"
    assert (html / "api.html").is_file(), f"no api.html in {html}"
    # _toc.yml must list every chapter that exists (only listed files are built).
    missing = [p.name for p in sorted((ROOT / "chapters").glob("[0-9][0-9]*_*.md"))
               if not (html / "chapters" / f"{p.stem}.html").is_file()]
    assert not missing, f"chapters not in _toc.yml, so not built: {missing}"
