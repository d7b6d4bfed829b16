"""The book builds with ``-W -n`` (warnings are errors, every cross-reference resolves).

The build reads the repository in place and writes everything (HTML, doctrees, executed
notebooks) under a temporary folder via ``--path-output``, so the repository's own
``_build`` is neither used nor touched. It takes the chapters' outputs from the
executions of ``test_notebooks.py`` (a jupyter-cache made for this session) and so
executes nothing itself; a cell that raised has already failed its chapter's test.
"""

from __future__ import annotations

import re

import pytest

from site_build import (CHAPTER_FILES, CHAPTERS, ROOT, book, chapter_runs,  # noqa: F401
                        is_notebook)
from site_numbers import assignment_problems, link_problems, page_problems


@pytest.mark.slow
def test_book_builds_with_warnings_as_errors_and_nitpicky(book):  # noqa: F811
    assert book.returncode == 0, (
        f"jupyter-book build -W -n failed (rc={book.returncode}):\n{book.log[-12000:]}")
    assert (book.html / "intro.html").is_file(), f"no intro.html in {book.html}"
    assert (book.html / "api.html").is_file(), f"no api.html in {book.html}"
    # _toc.yml must list every chapter that exists (only listed files are built).
    missing = [p.name for p in CHAPTER_FILES
               if not (book.html / "chapters" / f"{p.stem}.html").is_file()]
    assert not missing, f"chapters not in _toc.yml, so not built: {missing}"


@pytest.mark.slow
def test_book_build_executes_no_chapter_again(book):  # noqa: F811
    executed = re.findall(r"^(.*): Executing notebook", book.log, flags=re.M)
    cached = re.findall(r"^(.*): Using cached notebook", book.log, flags=re.M)
    assert not executed, f"the build executed chapters a second time: {executed}"
    assert len(cached) == len(CHAPTERS), f"cached pages: {cached}"


@pytest.mark.slow
def test_chapter_n_is_numbered_n_on_the_site(book):  # noqa: F811
    """The number in a chapter file's name is the number of its page on the site (a part
    ``06a_`` of chapter 6 is "6.1."), of its figures and exercises, of the notebook it
    offers, of every link that says "chapter N", and of its row on the Assignments page."""
    assert book.returncode == 0, "the book did not build (see the test above)"
    problems = [p for chapter in CHAPTER_FILES
                for p in page_problems(book.html, chapter, is_notebook(chapter))]
    problems += link_problems(book.html)
    masters = sorted((ROOT / "assignments").glob("[0-9][0-9]_*.md"))
    problems += assignment_problems(book.html, masters)
    assert not problems, "\n".join(problems)
