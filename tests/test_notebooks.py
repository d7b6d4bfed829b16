"""Every chapter runs as a notebook, and a failure shows the cell that raised.

The chapter is read as the book reads it (myst-nb's reader) and executed as the book
executes it (jupyter-cache's executor, which drives nbclient), once per test session:
the book build reuses these executions instead of running every chapter a second time
(see ``site_build.py``). Any cell that raises fails the test, including the hidden cells
that assert the chapter's claims; outputs are not compared (as ``pytest --nbval-lax``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from site_build import CHAPTERS, chapter_runs  # noqa: F401 - chapter_runs is a fixture


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_runs_as_a_notebook(chapter: Path, chapter_runs):  # noqa: F811
    run = chapter_runs.result(chapter)
    assert run.error is None, f"{chapter.name} failed as a notebook:\n{run.error}"
