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


def _page(folder, name: str, number: str, body: str = "") -> None:
    path = folder / "chapters" / f"{name}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'<h1><span class="section-number">{number}. </span>A title</h1>\n'
                    f'{body}\n', encoding="utf8")


def test_numbering_checks_catch_a_chapter_numbered_one_too_high(tmp_path):
    """The checks above on a made-up site: chapter 7 shown as "8." (what a chapter split
    in two pages without a parent did to every later chapter) is caught, the right
    numbers pass."""
    chapter, other = ROOT / "chapters" / "07_made_up.md", ROOT / "chapters" / "01_other.md"
    figure = '<span class="caption-number">Fig. {n}.1 </span>'
    link = '<a class="reference internal" href="07_made_up.html">chapter 7</a>'
    numref = ('<a class="reference internal" href="07_made_up.html#fig-x">'
              '<span class="std std-numref">Fig. {n}.1</span></a>')
    for number, wrong in (("8", True), ("7", False)):
        site = tmp_path / number
        _page(site, "07_made_up", number, figure.format(n=number))
        _page(site, "01_other", "1", f"<p>See {link} and {numref.format(n=number)}.</p>")
        problems = (page_problems(site, chapter, is_notebook=False)
                    + page_problems(site, other, is_notebook=False) + link_problems(site))
        assert bool(problems) == wrong, problems
        if wrong:  # the title, the figure, the reference to it, the link
            assert len(problems) == 4, problems
