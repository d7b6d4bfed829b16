"""The instructor assignments (otter-grader masters in ``assignments/``).

Every master is built with ``otter assign``. Each reference solution must get full
marks from the autograder; an unanswered student notebook must get zero autograded
points, every test case failing; the wrong and hard-coded submissions kept in
``tests/assignment_fixtures/`` (one file per master, required) must score less than full
marks on each question they fake and full marks on the others; and the student
notebooks must hold neither the hidden tests nor the solutions. Each master with variant
lines is also built as two variants (``build.py --seed``): the reference solution must
get full marks on both, and the hard-coded submissions must lose points on the first.
``otter assign`` itself refuses a master whose reference solution fails its tests
(checked once below; ``assignments/build.py`` runs that check on every build by default,
so the session's builds skip it to grade each solution once).

Each grading runs otter in a kernel of its own and takes several seconds, so the session
grades in the background: as soon as the first slow test here starts, every notebook that
the selected tests grade is submitted to a pool of processes (two at a time on two
cores, one process each because otter works inside the folder it changes to), where the
gradings run beside the chapters' executions; each test then waits for its own.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import re
import runpy
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "assignments"))
import otter_tools  # noqa: E402
import site_build  # noqa: E402
from site_build import WORKERS  # noqa: E402

MASTERS = otter_tools.MASTERS
IDS = [m.stem for m in MASTERS]
FIXTURES = ROOT / "tests" / "assignment_fixtures"


@pytest.fixture(scope="session")
def wheel(tmp_path_factory):
    """One wheel of optnotes for every build of the session."""
    return otter_tools.build_wheel(tmp_path_factory.mktemp("wheel"))


class Builds:
    """The default build (``seed=None``) and the variants of each master, each built once
    a session."""

    def __init__(self, folder: Path, wheel: Path):
        self.folder, self.wheel, self.cache = folder, wheel, {}

    def get(self, master: Path, seed: int | None = None) -> otter_tools.Built:
        if (master.stem, seed) not in self.cache:
            self.cache[master.stem, seed] = otter_tools.build_one(
                master, self.folder / str(seed), run_tests=False, wheel=self.wheel, seed=seed)
        return self.cache[master.stem, seed]


@pytest.fixture(scope="session")
def builds(tmp_path_factory, wheel) -> Builds:
    return Builds(tmp_path_factory.mktemp("assignments"), wheel)


@pytest.fixture(scope="session")
def built(builds) -> dict[str, otter_tools.Built]:
    return {m.stem: builds.get(m) for m in MASTERS}


@dataclass(frozen=True)
class Grading:
    notebook: Path
    autograder: Path
    about: object = None  # what the test needs to know of it (the fake it is, the seed)


class Gradings:
    """Otter's scores of notebooks, graded ``WORKERS`` at a time in processes of their
    own, each notebook once: ``submit`` starts gradings, ``scores`` waits for one."""

    def __init__(self):
        self.pool = ProcessPoolExecutor(max_workers=WORKERS,
                                        mp_context=multiprocessing.get_context("spawn"))
        self.futures: dict[tuple[Path, Path], Future] = {}

    def submit(self, gradings: list[Grading]) -> None:
        for g in gradings:
            key = (g.notebook, g.autograder)
            if key not in self.futures:
                self.futures[key] = self.pool.submit(otter_tools.score_sheet, *map(str, key))

    def scores(self, g: Grading) -> dict[str, otter_tools.Score]:
        self.submit([g])
        return self.futures[g.notebook, g.autograder].result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session")
def gradings(request, builds) -> Gradings:
    """The session's gradings, all submitted at once (the plan of every selected test)."""
    pool = Gradings()
    request.config.add_cleanup(pool.close)
    planned = [(PLANS[item.originalname], item.callspec.params["master"])
               for item in request.session.items
               if item.module.__name__ == __name__ and item.originalname in PLANS]
    for make_plan, master in planned:
        pool.submit(planned_gradings(make_plan, master, builds))
    return pool


_PLANNED: dict = {}


def planned_gradings(make_plan, master: Path, builds: Builds) -> list[Grading]:
    """``make_plan(master, builds)``, made once (a plan writes the notebooks it grades)."""
    key = (make_plan.__name__, master.stem)
    if key not in _PLANNED:
        _PLANNED[key] = make_plan(master, builds)
    return _PLANNED[key]


def graded(make_plan, master: Path, builds: Builds, gradings: Gradings):
    """``(grading, scores)`` for each notebook of the plan ``make_plan`` of ``master``."""
    return [(g, gradings.scores(g)) for g in planned_gradings(make_plan, master, builds)]


def autograded(master: Path) -> list[str]:
    return [q["name"] for q in otter_tools.questions(master) if not q["manual"]]


def test_one_master_per_chapter():
    chapters = {p.stem for p in (ROOT / "chapters").glob("[0-9][0-9]*_*.md")}
    numbers = {c[:2] for c in chapters}
    assert {m.stem[:2] for m in MASTERS} == numbers


@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_master_has_enough_questions(master):
    qs = otter_tools.questions(master)
    assert len([q for q in qs if not q["manual"]]) >= 3
    assert len([q for q in qs if q["manual"]]) >= 1


def reference_solution(master: Path, builds: Builds) -> list[Grading]:
    b = builds.get(master)
    return [Grading(b.solution, b.autograder)]


@pytest.mark.slow
@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_reference_solution_gets_full_marks(master, builds, gradings):
    ((_, scores),) = graded(reference_solution, master, builds, gradings)
    for name in autograded(master):
        score, possible = scores[name].score, scores[name].possible
        assert possible > 0 and score == possible, f"{name}: {score}/{possible}"


def unanswered_notebook(master: Path, builds: Builds) -> list[Grading]:
    b = builds.get(master)
    return [Grading(b.student, b.autograder)]


@pytest.mark.slow
@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_unanswered_student_notebook_gets_zero_autograded_points(master, builds, gradings):
    ((_, scores),) = graded(unanswered_notebook, master, builds, gradings)
    for name in autograded(master):
        passed = [i for i, ok in enumerate(scores[name].passed) if ok]
        assert scores[name].passed, f"{name}: no test cases"
        assert not passed, f"{name}: a blank answer passes test cases {passed}"
        assert scores[name].score == 0


@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_public_tests_carry_at_most_a_small_share_of_the_points(master):
    """Public tests are hints: passing them with a wrong answer earns little."""
    text = master.read_text()
    for q in otter_tools.questions(master):
        if q["manual"]:
            continue
        assert isinstance(q["points_list"], list), f"{q['name']}: give points per test case"
        start = text.index(f"name: {q['name']}\n")
        block = text[start:text.index("# END TESTS", start)]
        cells = re.findall(r"```\{code-cell\} ipython3\n(.*?)```", block, flags=re.S)
        tests = cells[-len(q["points_list"]):]
        public = sum(p for p, c in zip(q["points_list"], tests)
                     if not c.startswith("# HIDDEN"))
        assert public <= 0.2 * q["points"], f"{q['name']}: public tests are worth {public}"


def fakes(master: Path) -> list[dict]:
    path = FIXTURES / f"{master.stem}.py"
    assert path.exists(), f"no wrong or hard-coded submissions for {master.stem} in {path}"
    fixture = runpy.run_path(str(path))
    subs = fixture["SUBMISSIONS"]
    if not fixture.get("INDEPENDENT"):
        return subs
    return [{"name": " + ".join(s["name"] for s in group), "kind": kind,
             "fakes": [q for s in group for q in s["fakes"]],
             "cells": {k: v for s in group for k, v in s["cells"].items()}}
            for kind in ("wrong", "hard-coded")
            for group in [[s for s in subs if s["kind"] == kind]]]


@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_every_autograded_question_has_wrong_and_hard_coded_fakes(master):
    for kind in ("wrong", "hard-coded"):
        faked = {q for s in fakes(master) if s["kind"] == kind for q in s["fakes"]}
        missing = set(autograded(master)) - faked
        assert not missing, f"no {kind} submission for {sorted(missing)}"


def substitute(solution: Path, cells: dict, dest: Path) -> Path:
    """The reference solution with each cell that contains a key replaced by its value."""
    nb = nbformat.read(solution, as_version=4)
    for marker, source in cells.items():
        hits = [c for c in nb.cells if c.cell_type == "code" and marker in c.source]
        assert len(hits) == 1, f"{len(hits)} cells contain {marker!r}"
        hits[0].source = source
    nbformat.write(nb, dest)
    return dest


def fake_submissions(master: Path, b: otter_tools.Built, subs: list) -> list[Grading]:
    """Each submission of ``subs``: the reference solution of the build ``b`` with cells
    replaced (written beside the build)."""
    folder = b.solution.parent.parent / "fakes"
    folder.mkdir(exist_ok=True)
    return [Grading(substitute(b.solution, sub["cells"], folder / f"{master.stem}_{i}.ipynb"),
                    b.autograder, sub) for i, sub in enumerate(subs)]


def check_fakes_lose_points(master: Path, results, label: str = "") -> None:
    """Each fake scores less than full marks on the questions it fakes, full marks on the
    others (except those that use a faked function)."""
    for grading, scores in results:
        sub = grading.about
        for name in autograded(master):
            score, possible = scores[name].score, scores[name].possible
            what = f"{label}{sub['name']}"
            if name in sub["fakes"]:
                assert score < possible, f"{what}: {name} scores {score}/{possible}"
            elif name not in sub.get("uses_faked", ()):
                assert score == possible, f"{what} breaks {name}: {score}/{possible}"


def wrong_and_hard_coded(master: Path, builds: Builds) -> list[Grading]:
    return fake_submissions(master, builds.get(master), fakes(master))


@pytest.mark.slow
@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_wrong_and_hard_coded_submissions_lose_points(master, builds, gradings):
    check_fakes_lose_points(master, graded(wrong_and_hard_coded, master, builds, gradings))


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
    public = _public_text(master)
    return [l.strip() for l in lines if len(l.strip()) > 25 and not l.strip().startswith("#")
            and l.strip() not in public]


def _public_text(master: Path) -> str:
    """What the master shows students: its prose and its given code, without hidden test
    cells and solutions (a line of a hidden test that the question itself states, such
    as the seeding it asks for, is no leak)."""
    text = re.sub(r"```\{code-cell\} ipython3\n# HIDDEN\n.*?```", "", master.read_text(),
                  flags=re.S)
    # model answers (solution blocks of raw cells around markdown only) ...
    text = re.sub(r"\{raw-cell\}\n# BEGIN SOLUTION\n```\n.*?```\{raw-cell\}\n# END SOLUTION",
                  lambda m: m.group(0) if "{code-cell}" in m.group(0) else "", text,
                  flags=re.S)
    # ... and the solutions inside code cells, whose other lines students see
    return re.sub(r"(?<!\{raw-cell\}\n)# BEGIN SOLUTION\n.*?# END SOLUTION", "", text,
                  flags=re.S)


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
def test_otter_assign_rejects_a_wrong_reference_solution(tmp_path, wheel):
    master = MASTERS[0]
    text = master.read_text()
    start = text.index("# BEGIN SOLUTION\n", text.index("```{code-cell}", text.index("# BEGIN QUESTION")))
    end = text.index("# END SOLUTION", start)
    indent = re.search(r"\n( *)# BEGIN SOLUTION\n", text[start - 40:start + 20]).group(1)
    broken = text[:start] + f"# BEGIN SOLUTION\n{indent}return None\n{indent}" + text[end:]
    copy = tmp_path / master.name
    copy.write_text(broken)
    with pytest.raises(Exception):
        otter_tools.build_one(copy, tmp_path / "out", run_tests=True, wheel=wheel)


def zip_environment(autograder: Path) -> dict:
    with zipfile.ZipFile(autograder) as z:
        return yaml.safe_load(z.read("environment.yml"))


@pytest.mark.slow
def test_every_zip_ships_the_same_environment_with_torch_and_optnotes(built):
    envs = [zip_environment(b.autograder) for b in built.values()]
    assert all(env == envs[0] for env in envs)
    pip = next(d["pip"] for d in envs[0]["dependencies"] if isinstance(d, dict))
    assert f"{otter_tools.torch_pin()}+cpu" in pip
    wheel = [line for line in pip if line.endswith(".whl")]
    assert len(wheel) == 1 and "/optnotes-" in wheel[0]
    for b in built.values():
        with zipfile.ZipFile(b.autograder) as z:
            assert wheel[0].replace(otter_tools.AUTOGRADER_SOURCE + "/", "") in z.namelist()
        assert not list(b.student.parent.glob("*.whl"))


@pytest.mark.slow
def test_zip_grades_the_reference_solution_in_a_fresh_environment(built, tmp_path):
    """As Gradescope does: unpack the zip into an empty folder, install the environment
    its environment.yml describes (the Python it names, then its pip requirements) into
    a fresh virtual environment, and grade the reference solution there. The one line
    left out is the extra index of CPU builds of torch, which this machine cannot reach:
    the same torch==2.13.0+cpu comes from its local wheels. One assignment (the one
    that also needs scipy) is graded: every zip ships the same environment (above)."""
    b = built["06_second_order"]
    source = tmp_path / "source"
    source.mkdir()
    with zipfile.ZipFile(b.autograder) as z:
        z.extractall(source)
    env = yaml.safe_load((source / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    version = next(d.split("=", 1)[1] for d in conda if d.startswith("python="))
    python = shutil.which(f"python{version}")
    assert python, f"no python{version} on this machine"
    requirements = [line.replace(otter_tools.AUTOGRADER_SOURCE, str(source)) for line in pip
                    if not line.startswith("--extra-index-url")]
    requirements += [d for d in conda if not d.startswith(("python=", "pip"))]
    (tmp_path / "requirements.txt").write_text("\n".join(requirements) + "\n")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV",
                                                                         "JUPYTER"))}
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True, env=clean)
    site_build.install(venv / "bin" / "python", "-r", str(tmp_path / "requirements.txt"),
                       check=True, env=clean, cwd=tmp_path, capture_output=True)
    out = tmp_path / "results"
    out.mkdir()
    clean["HOME"] = str(tmp_path)     # no Jupyter kernels of the user's
    run = subprocess.run([str(venv / "bin" / "python"), "-m", "otter", "run", "-a",
                          str(b.autograder), "-o", str(out), str(b.solution)],
                         env=clean, cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    tests = {t["name"]: t for t in json.loads((out / "results.json").read_text())["tests"]}
    for name in autograded(MASTERS[IDS.index("06_second_order")]):
        assert tests[name]["max_score"] > 0
        assert tests[name]["score"] == tests[name]["max_score"], tests[name]


def test_build_rejects_an_unknown_assignment(capsys):
    sys.path.insert(0, str(ROOT / "assignments"))
    import build

    assert build.main(["04_first_order", "99_nonsense"]) != 0
    err = capsys.readouterr().err
    assert "99_nonsense" in err and all(m.stem in err for m in MASTERS)


@pytest.mark.slow
@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_student_notebook_ends_with_the_export_cell(master, built):
    nb = nbformat.read(built[master.stem].student, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "grader.export(" in code[-1].source
    assert f'"{master.stem}-written.html"' in code[-1].source  # the written answers, readable
    assert "Rubric (" not in "\n".join(c.source for c in nb.cells)


@pytest.mark.slow
@pytest.mark.parametrize("master", [MASTERS[IDS.index("04_first_order")]], ids=["04_first_order"])
def test_export_zip_holds_the_written_answers_readable(master, built, tmp_path):
    """A student answers the written questions, saves, and runs the export cell (in a
    kernel, in an empty folder): the zip holds the notebook and a web page of the written
    answers, and a PDF of them where a browser is installed (none needs LaTeX); the
    autograded questions stay out of the page; the grader reads the zip. Every master gets
    the same export cell (test_student_notebook_ends_with_the_export_cell), so one runs."""
    from nbclient import NotebookClient

    b = built[master.stem]
    nb = nbformat.read(b.student, as_version=4)
    answers = []
    for cell in nb.cells:
        if cell.source.strip() == "_Type your answer here, replacing this text._":
            answers.append(f"My written answer {len(answers)}: the risk is not zero.")
            cell.source = answers[-1]
    assert answers, "the student notebook has no written answer cell"
    nbformat.write(nb, tmp_path / f"{b.name}.ipynb")
    export = [c for c in nb.cells if c.cell_type == "code"][-1]
    assert "otter_ignore" in export.metadata.get("tags", [])   # grading skips it
    run = nbformat.v4.new_notebook(cells=[nb.cells[0], export], metadata=nb.metadata)
    assert "otter.Notebook(" in run.cells[0].source
    NotebookClient(run, timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for o in run.cells[-1].outputs)
    (exported,) = tmp_path.glob(f"{b.name}_*.zip")
    with zipfile.ZipFile(exported) as z:
        names = set(z.namelist())
        assert {f"{b.name}.ipynb", f"{b.name}-written.html"} <= names
        html = z.read(f"{b.name}-written.html").decode()
        pdf = z.read(f"{b.name}-written.pdf") if f"{b.name}-written.pdf" in names else None
    assert all(answer in html for answer in answers)
    assert "grader.check(" not in html and "otter.Notebook(" not in html
    if any(shutil.which(browser) for browser in otter_tools.BROWSERS):
        assert pdf is not None and pdf.startswith(b"%PDF") and len(pdf) > 1000, printed
    else:
        assert pdf is None and "No PDF made" in printed
    found = otter_tools.submissions(exported, tmp_path / "grading", b.name)
    assert [n.name for n in found.values()] == [f"{b.name}.ipynb"]


@pytest.mark.slow
def test_grade_a_class_download(built, tmp_path):
    """A platform's download: a folder per student, a zip per student (one made by the
    notebook's own export cell), a bare notebook, the whole class zipped again; rows
    named by student, a manual column per written question, the written answers
    readable as HTML and PDF."""
    import zipfile as zf

    from nbclient import NotebookClient

    sys.path.insert(0, str(ROOT / "assignments"))
    import grade as grade_cli

    b = built["01_erm"]
    master = MASTERS[IDS.index("01_erm")]
    cls = tmp_path / "class"
    (cls / "alice" / "attempt").mkdir(parents=True)
    shutil.copy(b.solution, cls / "alice" / "attempt" / "01_erm.ipynb")
    shutil.copy(b.student, cls / "carol.ipynb")
    # bob runs the export cell of an unanswered notebook: otter's submission zip
    bob = tmp_path / "bob"
    bob.mkdir()
    nb = nbformat.read(b.student, as_version=4)
    nb.cells = [nb.cells[0], [c for c in nb.cells if c.cell_type == "code"][-1]]
    assert "otter.Notebook(" in nb.cells[0].source
    nbformat.write(nb, bob / "01_erm.ipynb")
    NotebookClient(nb, timeout=300, resources={"metadata": {"path": str(bob)}}).execute()
    exported = list(bob.glob("01_erm_*.zip"))
    assert len(exported) == 1
    shutil.copy(exported[0], cls / "bob.zip")
    whole = tmp_path / "download.zip"
    with zf.ZipFile(whole, "w") as z:
        for path in cls.rglob("*"):
            z.write(path, Path("class") / path.relative_to(cls))
    report, written = tmp_path / "scores.csv", tmp_path / "written"
    rows = otter_tools.grade(whole, b.autograder, report, written, pdf=True)
    by = {r["student"]: r for r in rows}
    assert set(by) == {"alice", "bob", "carol"}
    manual = [q for q in otter_tools.questions(master) if q["manual"]]
    auto = sum(q["points"] for q in otter_tools.questions(master) if not q["manual"])
    assert by["alice"]["autograded"] == auto and by["carol"]["autograded"] == 0
    assert by["bob"]["autograded"] == 0
    with open(report, newline="") as f:
        header = next(csv.reader(f))
    for q in manual:
        column = f"{q['name']} (manual, {q['points']:g} points)"
        assert column in header and by["alice"][column] == ""
    assert header[-3:] == ["autograded", "total", "possible"]
    html = (written / "alice.html").read_text()
    assert "graded by hand" in html and "memorizing" in html
    assert (written / "alice.pdf").read_bytes().startswith(b"%PDF")
    # the instructor fills in the manual column; --totals adds it
    with open(report, newline="") as f:
        filled = list(csv.DictReader(f))
    for row in filled:
        row[column] = "1.5"
    with open(report, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(filled)
    again = {r["student"]: r for r in grade_cli.totals(report)}
    assert float(again["alice"]["total"]) == auto + 1.5


@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_each_written_question_has_a_rubric_beside_its_model_answer(master):
    text = master.read_text()
    for q in otter_tools.questions(master):
        if not q["manual"]:
            continue
        start = text.index(f"name: {q['name']}\n")
        end = text.index("# END QUESTION", start)
        solution = text[text.index("# BEGIN SOLUTION", start, end):end]
        rubric = re.search(r"\*\*Rubric \(([0-9.]+) points?\)\.\*\*\n(.*?)\n\n", solution,
                           flags=re.S)
        assert rubric, f"{q['name']}: no rubric in the solution block"
        items = re.findall(r"^- ([0-9.]+) points?:", rubric.group(2), flags=re.M)
        assert float(rubric.group(1)) == q["points"] == sum(map(float, items)), q["name"]


# masters whose questions draw no random numbers, and so have no variants
NO_VARIANTS: dict[str, str] = {}
VARIANT_SEEDS = (11, 12)
VARIED = [m for m in MASTERS if m.stem not in NO_VARIANTS]


@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_variants_draw_the_numbers_questions_and_hidden_tests_use(master):
    found = otter_tools.variants(master)
    if master.stem in NO_VARIANTS:
        assert not found
        return
    assert found, f"{master.stem}: no variant lines (NAME = default  # variant: choices)"
    text = master.read_text()
    for name, (default, _) in found.items():
        assert text.count(name) >= 2, f"{name} is defined but not used"
        plain = otter_tools.variant_text(text, None)
        assert f"\n{name} = {default}\n" in plain and "# variant:" not in plain
    drawn = [otter_tools.variant_text(text, s, master.stem) for s in VARIANT_SEEDS]
    assert drawn[0] != drawn[1] != otter_tools.variant_text(text, None)


def reference_solution_on_variants(master: Path, builds: Builds) -> list[Grading]:
    return [Grading(builds.get(master, seed).solution, builds.get(master, seed).autograder,
                    seed) for seed in VARIANT_SEEDS]


@pytest.mark.slow
@pytest.mark.parametrize("master", VARIED, ids=[m.stem for m in VARIED])
def test_reference_solution_gets_full_marks_on_variants(master, builds, gradings):
    names = otter_tools.variants(master)
    for grading, scores in graded(reference_solution_on_variants, master, builds, gradings):
        seed = grading.about
        b = builds.get(master, seed)
        student = "\n".join(c.source for c in nbformat.read(b.student, as_version=4).cells)
        shown = {n: re.search(rf"^{n} = (.*)$", student, flags=re.M).group(1) for n in names}
        assert shown != {n: d for n, (d, _) in names.items()}, shown
        for name in autograded(master):
            score, possible = scores[name].score, scores[name].possible
            assert possible > 0 and score == possible, f"seed {seed}, {name}: {score}/{possible}"


# three masters whose hard-coded fakes type in an answer of the default draw (a risk, a
# power, a slope): every fake already loses points on the default build, so this checks
# on a few, for CI's time, that a variant does not hand such an answer back its points
TYPED_IN = [m for m in VARIED if m.stem in {"02_minibatches", "03_challenges", "05_adaptive"}]


def hard_coded_on_a_variant(master: Path, builds: Builds) -> list[Grading]:
    subs = [s for s in fakes(master) if s["kind"] == "hard-coded"]
    return fake_submissions(master, builds.get(master, VARIANT_SEEDS[0]), subs)


@pytest.mark.slow
@pytest.mark.parametrize("master", TYPED_IN, ids=[m.stem for m in TYPED_IN])
def test_hard_coded_submissions_lose_points_on_a_variant(master, builds, gradings):
    """The hard-coded submissions (answers of the default draw typed in, or recomputed
    from a formula) also lose points on a variant, whose numbers they were not made for."""
    check_fakes_lose_points(master, graded(hard_coded_on_a_variant, master, builds, gradings),
                            label=f"seed {VARIANT_SEEDS[0]}: ")


# what each grading test grades: the session submits these plans for every selected test
# as soon as the first of them starts
PLANS = {
    "test_reference_solution_gets_full_marks": reference_solution,
    "test_unanswered_student_notebook_gets_zero_autograded_points": unanswered_notebook,
    "test_wrong_and_hard_coded_submissions_lose_points": wrong_and_hard_coded,
    "test_reference_solution_gets_full_marks_on_variants": reference_solution_on_variants,
    "test_hard_coded_submissions_lose_points_on_a_variant": hard_coded_on_a_variant,
}
