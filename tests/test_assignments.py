"""The instructor assignments (otter-grader masters in ``assignments/``).

Every master is built with ``otter assign``. Each reference solution must get full
marks from the autograder, each unanswered student notebook must get less than full
marks on every autograded question, and the student notebooks must hold neither the
hidden tests nor the solutions. ``otter assign`` itself refuses a master whose reference
solution fails its tests (checked once below; ``assignments/build.py`` runs that check on
every build by default, so the session fixture skips it to grade each solution once).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "assignments"))
import otter_tools  # noqa: E402

MASTERS = otter_tools.MASTERS
IDS = [m.stem for m in MASTERS]


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("assignments")
    return {b.name: b for b in otter_tools.build(out, run_tests=False)}


def grades(notebook: Path, autograder: Path) -> dict:
    from otter.api import grade_submission

    result = grade_submission(str(notebook), str(autograder), quiet=True)
    return {name: (r.score, r.possible) for name, r in result.results.items()}


def autograded(master: Path) -> list[str]:
    return [q["name"] for q in otter_tools.questions(master) if not q["manual"]]


def test_one_master_per_chapter():
    chapters = {p.stem for p in (ROOT / "chapters").glob("[0-9][0-9]_*.md")}
    numbers = {c[:2] for c in chapters}
    assert {m.stem[:2] for m in MASTERS} == numbers


@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_master_has_enough_questions(master):
    qs = otter_tools.questions(master)
    assert len([q for q in qs if not q["manual"]]) >= 3
    assert len([q for q in qs if q["manual"]]) >= 1


@pytest.mark.slow
@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_reference_solution_gets_full_marks(master, built):
    b = built[master.stem]
    scores = grades(b.solution, b.autograder)
    for name in autograded(master):
        score, possible = scores[name]
        assert possible > 0 and score == possible, f"{name}: {score}/{possible}"


@pytest.mark.slow
@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_unanswered_student_notebook_fails_every_question(master, built):
    b = built[master.stem]
    scores = grades(b.student, b.autograder)
    for name in autograded(master):
        score, possible = scores[name]
        assert score < possible, f"{name}: a blank answer scores {score}/{possible}"


def _hidden_tests_and_solutions(master: Path) -> list[str]:
    """Distinctive lines of the hidden tests and of the solutions of ``master``."""
    text = master.read_text()
    lines = []
    for cell in re.findall(r"```\{code-cell\} ipython3\n(.*?)```", text, flags=re.S):
        body = cell.splitlines()
        if body and body[0].strip() == "# HIDDEN":
            lines += body[1:]
        inside = False
        for line in body:
            if line.strip() == "# BEGIN SOLUTION":
                inside = True
            elif line.strip() == "# END SOLUTION":
                inside = False
            elif inside:
                lines.append(line)
    return [l.strip() for l in lines if len(l.strip()) > 25 and not l.strip().startswith("#")]


@pytest.mark.slow
@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_student_notebook_holds_no_hidden_test_or_solution(master, built):
    student = nbformat.read(built[master.stem].student, as_version=4)
    text = "\n".join(c.source for c in student.cells)
    secret = _hidden_tests_and_solutions(master)
    assert secret, "found no hidden tests or solutions to look for"
    leaked = [line for line in secret if line in text]
    assert not leaked, f"student notebook contains: {leaked[:3]}"


@pytest.mark.slow
def test_otter_assign_rejects_a_wrong_reference_solution(tmp_path):
    master = MASTERS[0]
    text = master.read_text()
    start = text.index("# BEGIN SOLUTION\n", text.index("```{code-cell}", text.index("# BEGIN QUESTION")))
    end = text.index("# END SOLUTION", start)
    indent = re.search(r"\n( *)# BEGIN SOLUTION\n", text[start - 40:start + 20]).group(1)
    broken = text[:start] + f"# BEGIN SOLUTION\n{indent}return None\n{indent}" + text[end:]
    copy = tmp_path / master.name
    copy.write_text(broken)
    with pytest.raises(Exception):
        otter_tools.build_one(copy, tmp_path / "out", run_tests=True)
