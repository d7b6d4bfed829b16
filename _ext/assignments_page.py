"""Sphinx extension: the Assignments page offers each student notebook for download.

At the start of a build it runs ``otter assign`` (without re-running the solutions'
tests, which the test suite does) on every master in ``assignments/``, copies only the
*student* notebooks into ``assignments/_student/`` (ignored by git), and appends a table
to the page ``assignments``: title, chapter, what it covers, points, download. The masters
and the autograder notebooks, which hold the solutions, never reach the site.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path


def _covers(master: Path) -> str:
    found = re.search(r"<!-- covers: (.*?) -->", master.read_text(), flags=re.S)
    return " ".join(found.group(1).split()) if found else ""


def _title(master: Path) -> str:
    found = re.search(r"^# (.+)$", master.read_text(), flags=re.M)
    return found.group(1).strip() if found else master.stem


def _chapter(root: Path, master: Path) -> str | None:
    """The chapter's page: ``chapters/06_second_order.md`` for ``06_second_order``, else the
    first page whose name starts with the same number (``06a_...`` of a chapter in parts)."""
    exact = root / "chapters" / f"{master.stem}.md"
    chapters = [exact] if exact.is_file() else sorted(
        (root / "chapters").glob(f"{master.stem[:2]}*_*.md"))
    return chapters[0].relative_to(root).as_posix() if chapters else None


def _table(root: Path) -> str:
    sys.path.insert(0, str(root / "assignments"))
    import otter_tools

    rows = ["| Assignment | Chapter | Covers | Points | Student notebook |",
            "|---|---|---|---|---|"]
    for master in otter_tools.MASTERS:
        qs = otter_tools.questions(master)
        auto = sum(q["points"] for q in qs if not q["manual"])
        manual = sum(q["points"] for q in qs if q["manual"])
        chapter = _chapter(root, master)
        link = f"[{int(master.stem[:2])}]({chapter})" if chapter else "–"
        download = f"{{download}}`{master.stem}.ipynb <assignments/_student/{master.stem}.ipynb>`"
        rows.append(f"| {_title(master)} | {link} | {_covers(master)} | "
                    f"{auto + manual:g} ({auto:g} autograded, {manual:g} by hand) | {download} |")
    return "\n".join(rows) + "\n"


def _build_student_notebooks(root: Path) -> None:
    sys.path.insert(0, str(root / "assignments"))
    import otter_tools

    target = root / "assignments" / "_student"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        for built in otter_tools.build(Path(tmp), run_tests=False):
            shutil.copy(built.student, target / built.student.name)


def setup(app):
    root = Path(app.srcdir)
    # a book without the assignments (a test's small book, say) builds without them
    present = (root / "assignments" / "otter_tools.py").is_file()

    def on_init(app):
        if present:
            _build_student_notebooks(root)

    def on_source_read(app, docname, source):
        if present and docname == "assignments":
            source[0] = source[0].rstrip() + "\n\n" + _table(root)

    app.connect("builder-inited", on_init)
    app.connect("source-read", on_source_read)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
