"""Build and grade the course's otter-grader assignments.

The masters are MyST Markdown notebooks (``assignments/NN_name.md``) with otter's raw
cells; they hold the solutions and the hidden tests, so they stay with the instructor.
``build`` makes, for each master, a student notebook and an autograder zip; ``grade``
scores a folder of submitted notebooks with an autograder, without Docker.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jupytext

HERE = Path(__file__).resolve().parent
MASTERS = sorted(HERE.glob("[0-9][0-9]_*.md"))


@dataclass
class Built:
    name: str
    student: Path       # the notebook to hand out
    autograder: Path    # the zip that grades it
    solution: Path      # the reference solution (autograder folder): keep private


def questions(master: Path) -> list[dict]:
    """Name, points and whether it is graded by hand, for each question of ``master``."""
    text = master.read_text()
    found = []
    for block in re.findall(r"# BEGIN QUESTION\n(.*?)```", text, flags=re.S):
        name = re.search(r"^name:\s*(\S+)", block, flags=re.M).group(1)
        points = re.search(r"^points:\s*([0-9.]+)", block, flags=re.M)
        manual = re.search(r"^manual:\s*true", block, flags=re.M) is not None
        found.append({"name": name, "points": float(points.group(1)) if points else 1.0,
                      "manual": manual})
    return found


def build_one(master: Path, out: Path, run_tests: bool = True) -> Built:
    """``otter assign`` on one master. With ``run_tests`` otter runs the reference
    solution against every test first and fails if any does not pass."""
    from otter.assign import main as assign

    name = master.stem
    dest = out / name
    shutil.rmtree(dest, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        notebook = Path(tmp) / f"{name}.ipynb"
        jupytext.write(jupytext.read(master), notebook)
        quiet = io.StringIO()
        with contextlib.redirect_stdout(quiet):
            assign(str(notebook), str(dest), no_pdfs=True, no_run_tests=not run_tests)
    zips = sorted((dest / "autograder").glob("*.zip"))
    if len(zips) != 1:
        raise RuntimeError(f"otter assign made {len(zips)} autograder zips for {name}")
    return Built(name, dest / "student" / f"{name}.ipynb", zips[0],
                 dest / "autograder" / f"{name}.ipynb")


def build(out: Path, run_tests: bool = True, names=None) -> list[Built]:
    out.mkdir(parents=True, exist_ok=True)
    masters = [m for m in MASTERS if not names or m.stem in names]
    return [build_one(m, out, run_tests) for m in masters]


def grade(folder: Path, autograder: Path, report: Path | None = None) -> list[dict]:
    """Grade every ``.ipynb`` in ``folder`` with ``autograder``; rows of scores (and a CSV
    at ``report`` if given)."""
    from otter.api import grade_submission

    rows = []
    for notebook in sorted(folder.glob("*.ipynb")):
        result = grade_submission(str(notebook), str(autograder), quiet=True)
        row = {"submission": notebook.name, "total": result.total, "possible": result.possible}
        row.update({q: r.score for q, r in result.results.items()})
        rows.append(row)
    if report is not None and rows:
        with open(report, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return rows
