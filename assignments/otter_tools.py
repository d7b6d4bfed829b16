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
import random
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat
import yaml

HERE = Path(__file__).resolve().parent
MASTERS = sorted(HERE.glob("[0-9][0-9]_*.md"))


@dataclass
class Built:
    name: str
    student: Path       # the notebook to hand out
    autograder: Path    # the zip that grades it
    solution: Path      # the reference solution (autograder folder): keep private


def questions(master: Path) -> list[dict]:
    """Name, points (in all, and per test case where the master lists them) and whether it
    is graded by hand, for each question of ``master``."""
    text = master.read_text()
    found = []
    for block in re.findall(r"# BEGIN QUESTION\n(.*?)```", text, flags=re.S):
        config = yaml.safe_load(block)
        points = config.get("points", 1.0)
        total = float(sum(points)) if isinstance(points, list) else float(points)
        found.append({"name": config["name"], "points": total, "points_list": points,
                      "manual": bool(config.get("manual", False))})
    return found


# The environment the autograder zips install (Gradescope builds it with conda from the
# zip's environment.yml, then pip): a Python that torch 2.13 supports, the CPU build of
# torch pinned as in requirements.txt, and optnotes itself as a wheel carried in the zip.
PYTHON_VERSION = "3.11"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
AUTOGRADER_SOURCE = "/autograder/source"    # where Gradescope unpacks the zip


VARIANT = re.compile(r"^(?P<name>[A-Z][A-Z0-9_]*) = (?P<default>[^#\n]+?)"
                     r"  # variant: (?P<choices>[^\n]+)$", flags=re.M)


def variant_text(text: str, seed: int | None, label: str = "") -> str:
    """The master ``text`` with each line ``NAME = default  # variant: CHOICES`` made
    ``NAME = value``: the default without ``seed``, else a value drawn from CHOICES (a
    Python expression, such as ``range(1, 1000)``) by a generator seeded with ``seed``,
    ``label`` and the name. Questions and hidden tests use the names, so they follow."""
    def draw(match):
        value = match["default"]
        if seed is not None:
            choices = list(eval(match["choices"], {"range": range}))   # noqa: S307
            value = repr(random.Random(f"{seed}:{label}:{match['name']}").choice(choices))
        return f"{match['name']} = {value}"

    return VARIANT.sub(draw, text)


def variants(master: Path) -> dict:
    """``{name: (default, choices)}`` of the variant lines of ``master``."""
    return {m["name"]: (m["default"], m["choices"])
            for m in VARIANT.finditer(master.read_text())}


def torch_pin() -> str:
    """The ``torch==...`` line of the repository's requirements.txt."""
    for line in (HERE.parent / "requirements.txt").read_text().splitlines():
        if re.match(r"torch==", line.strip()):
            return line.strip()
    raise RuntimeError("requirements.txt pins no torch version")


def build_wheel(dest: Path) -> Path:
    """A wheel of optnotes built from this checkout, in ``dest`` (emptied first), as the
    site's build makes it (``_ext/student_wheel.py``)."""
    if str(HERE.parent / "_ext") not in sys.path:
        sys.path.insert(0, str(HERE.parent / "_ext"))
    import student_wheel

    return student_wheel.build_wheel(HERE.parent, dest)


def autograder_requirements(wheel: Path) -> list[str]:
    """The pip requirements of the autograder environment (beside otter's own)."""
    return [f"--extra-index-url {TORCH_CPU_INDEX}", f"{torch_pin()}+cpu",
            f"{AUTOGRADER_SOURCE}/files/{wheel.name}"]


def _configure(notebook: Path, wheel: Path) -> None:
    """Add the autograder environment to the master's ASSIGNMENT CONFIG cell."""
    nb = nbformat.read(notebook, as_version=4)
    cell = next(c for c in nb.cells if c.source.startswith("# ASSIGNMENT CONFIG"))
    config = yaml.safe_load(cell.source)
    export = config.get("export_cell")
    if not isinstance(export, dict) or export.get("pdf", True):
        raise ValueError(f"{notebook.stem}: its ASSIGNMENT CONFIG needs export_cell with "
                         "pdf: false (otter's PDF needs LaTeX on the student's machine; the "
                         "build puts the written answers in the zip as HTML and PDF)")
    config.update(python_version=PYTHON_VERSION, requirements=autograder_requirements(wheel),
                  autograder_files=[wheel.name])
    cell.source = "# ASSIGNMENT CONFIG\n" + yaml.safe_dump(config, sort_keys=False)
    nbformat.write(nb, notebook)


# Browsers that print a page to PDF headless (no LaTeX): the first found, on the PATH or
# where macOS and Windows install them, prints the written answers.
BROWSERS = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
            "chrome", "msedge",
            "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
            "/Applications/Chromium.app/Contents/MacOS/Chromium",
            "/Applications/Microsoft Edge.app/Contents/MacOS/Microsoft Edge",
            r"C:\Program Files\Google\Chrome\Application\chrome.exe",
            r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe"]

# The student's export cell: otter's ``grader.export`` call (``EXPORT_CALL``), preceded by
# a rendering of the written questions (the cells between otter's BEGIN and END QUESTION
# markers, as otter's own PDF filter keeps them) as a web page, printed to PDF where a
# browser of BROWSERS is installed; the zip holds both. It needs only what the student
# notebook imports (otter-grader brings nbconvert). Tagged ``otter_ignore``: grading
# skips it.
EXPORT_CELL = """\
# Save your notebook first, then run this cell to export your submission: a zip of this
# notebook and of your written answers as a web page (and as a PDF where Chrome,
# Chromium or Edge is installed).
import os, pathlib, shutil, subprocess
from nbconvert import HTMLExporter
from otter.export.exporters.base_exporter import BaseExporter

answers = BaseExporter.load_notebook("{name}.ipynb", filtering=True, pagebreaks=False)
answers.metadata["title"] = "{name}: written answers"
page = pathlib.Path("{name}-written.html").resolve()
page.write_text(HTMLExporter(exclude_input_prompt=True, exclude_output_prompt=True)
                .from_notebook_node(answers)[0], encoding="utf-8")
written, pdf = [page.name], page.with_suffix(".pdf")
pdf.unlink(missing_ok=True)
browser = next(filter(None, map(shutil.which, {browsers})), None)
if browser:
    command = [browser, "--headless", "--disable-gpu", "--no-pdf-header-footer",
               f"--print-to-pdf={{pdf}}", page.as_uri()]
    if getattr(os, "geteuid", lambda: 1)() == 0:   # as root, it runs only unsandboxed
        command.insert(1, "--no-sandbox")
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        pass
if pdf.is_file():
    written.append(pdf.name)
else:
    print(f"No PDF made (no Chrome, Chromium or Edge found, or it failed): the zip "
          f"holds your written answers as the web page {{page.name}}.")
{call}"""
EXPORT_CALL = re.compile(r"^grader\.export\((?P<args>.*)\)$", flags=re.M)


def export_cell_source(name: str, call: str) -> str:
    """The export cell of the student notebook of ``name``, around otter's ``call``."""
    args = EXPORT_CALL.fullmatch(call.strip())
    if args is None:
        raise ValueError(f"not an otter export call: {call!r}")
    args = args["args"]
    if "files=[" in args:
        args = args.replace("files=[", "files=written + [")
    else:
        args = f"{args}, files=written" if args else "files=written"
    lines = [""]
    for browser in map(repr, BROWSERS):
        if len(lines[-1]) + len(browser) > 80:
            lines.append("")
        lines[-1] += browser + ", "
    browsers = "[\n    " + "\n    ".join(line.rstrip() for line in lines).rstrip(",") + "]"
    return EXPORT_CELL.format(name=name, browsers=browsers, call=f"grader.export({args})")


def _add_written_answers_to_export(notebook: Path, name: str) -> None:
    """Make the export cell of ``notebook`` put its written answers in the zip."""
    nb = nbformat.read(notebook, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and EXPORT_CALL.search(c.source)]
    if len(cells) != 1:
        raise RuntimeError(f"{notebook} has {len(cells)} export cells, not one")
    cells[0].source = export_cell_source(name, EXPORT_CALL.search(cells[0].source)[0])
    tags = cells[0].metadata.setdefault("tags", [])
    if "otter_ignore" not in tags:
        tags.append("otter_ignore")
    nbformat.write(nb, notebook)


def build_one(master: Path, out: Path, run_tests: bool = True, wheel: Path | None = None,
              seed: int | None = None) -> Built:
    """``otter assign`` on one master. With ``run_tests`` otter runs the reference
    solution against every test first and fails if any does not pass. The zip carries
    ``wheel`` (built from this checkout if not given). ``seed`` builds a variant (see
    :func:`variant_text`)."""
    from otter.assign import main as assign

    name = master.stem
    dest = (out / name).resolve()
    shutil.rmtree(dest, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        if wheel is None:
            wheel = build_wheel(Path(tmp) / "wheel")
        shutil.copy(wheel, tmp)
        notebook = Path(tmp) / f"{name}.ipynb"
        jupytext.write(jupytext.reads(variant_text(master.read_text(), seed, master.stem),
                                      fmt="md:myst"), notebook)
        _configure(notebook, wheel)
        quiet = io.StringIO()
        with contextlib.redirect_stdout(quiet), contextlib.chdir(tmp):
            assign(str(notebook), str(dest), no_pdfs=True, no_run_tests=not run_tests)
    zips = sorted((dest / "autograder").glob("*.zip"))
    if len(zips) != 1:
        raise RuntimeError(f"otter assign made {len(zips)} autograder zips for {name}")
    for notebook in (dest / "student" / f"{name}.ipynb", dest / "autograder" / f"{name}.ipynb"):
        _add_written_answers_to_export(notebook, name)
    return Built(name, dest / "student" / f"{name}.ipynb", zips[0],
                 dest / "autograder" / f"{name}.ipynb")


def build(out: Path, run_tests: bool = True, names=None, seed: int | None = None) -> list[Built]:
    out.mkdir(parents=True, exist_ok=True)
    masters = [m for m in MASTERS if not names or m.stem in names]
    with tempfile.TemporaryDirectory() as tmp:
        wheel = build_wheel(Path(tmp) / "wheel")
        return [build_one(m, out, run_tests, wheel, seed) for m in masters]


@dataclass
class Score:
    score: float
    possible: float
    passed: list[bool]  # for each test case of the question


def score_sheet(notebook: str, autograder: str) -> dict[str, Score]:
    """Otter's grading of ``notebook`` with ``autograder``, question by question (plain
    data, so that a grading can run in another process)."""
    from otter.api import grade_submission

    results = grade_submission(notebook, autograder, quiet=True).results
    return {name: Score(r.score, r.possible, [t.passed for t in r.test_case_results])
            for name, r in results.items()}


def master_of(autograder: Path) -> Path | None:
    """The master an autograder zip was built from (by the name otter gives the zip)."""
    name = autograder.name.split("-autograder")[0]
    return next((m for m in MASTERS if m.stem == name), None)


def _notebooks(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts and not p.name.startswith("._"))


def _unzip_all(folder: Path) -> None:
    """Unpack every zip under ``folder`` (zips inside zips too) beside itself."""
    while True:
        zips = [z for z in folder.rglob("*.zip") if not z.with_suffix("").is_dir()]
        if not zips:
            return
        for z in zips:
            target = z.with_suffix("")
            target.mkdir()
            with zipfile.ZipFile(z) as archive:
                for member in archive.namelist():
                    dest = (target / member).resolve()
                    if not str(dest).startswith(str(target.resolve())):
                        raise ValueError(f"{z} holds a path outside it: {member}")
                archive.extractall(target)


def submissions(source: Path, work: Path, assignment: str | None = None) -> dict:
    """``{student: notebook}`` for the downloads of a course platform: ``source`` is a
    folder or a zip holding one notebook, one folder or one zip per student (nested to
    any depth; an otter export zip is a student's zip). A student with several
    notebooks is graded on the one named after ``assignment``, else on the newest."""
    work.mkdir(parents=True, exist_ok=True)
    root = work / "submissions"
    if source.is_file():
        with zipfile.ZipFile(source) as archive:
            archive.extractall(root)
    else:
        shutil.copytree(source, root)
    _unzip_all(root)
    entries = [p for p in root.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    if len(entries) == 1 and entries[0].is_dir() and len(_notebooks(entries[0])) > 1:
        entries = [p for p in entries[0].iterdir() if not p.name.startswith(".")]
    found = {}
    for entry in sorted(entries):
        if entry.suffix == ".zip" and entry.with_suffix("").is_dir():
            continue                         # graded through its unpacked folder
        student = entry.stem if entry.is_file() else entry.name
        notebooks = [entry] if entry.suffix == ".ipynb" else (
            _notebooks(entry) if entry.is_dir() else [])
        if not notebooks:
            continue
        named = [n for n in notebooks if assignment and n.stem.startswith(assignment)]
        pick = (named or notebooks)
        found[student] = max(pick, key=lambda n: n.stat().st_mtime) if len(pick) > 1 else pick[0]
    return found


def written_answers(notebook: Path) -> nbformat.NotebookNode:
    """The cells of the hand-graded questions of a student notebook: those between
    otter's ``<!-- BEGIN QUESTION -->`` and ``<!-- END QUESTION -->`` markers."""
    nb = nbformat.read(notebook, as_version=4)
    keep, inside = [], False
    for cell in nb.cells:
        if "<!-- BEGIN QUESTION -->" in cell.source:
            inside = True
        if inside:
            keep.append(cell)
        if "<!-- END QUESTION -->" in cell.source:
            inside = False
    out = nbformat.v4.new_notebook(cells=keep, metadata=nb.metadata)
    return out


def to_html(nb: nbformat.NotebookNode, title: str) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input_prompt=True, exclude_output_prompt=True)
    nb = nbformat.from_dict(nb)
    nb.metadata["title"] = title
    html, _ = exporter.from_notebook_node(nb)
    return html


def html_to_pdf(html: Path, pdf: Path) -> Path:
    """Print ``html`` to ``pdf`` with headless chromium (Debian's ``chromium``, or another
    browser of :data:`BROWSERS`)."""
    browser = next(filter(None, map(shutil.which, BROWSERS)), None)
    if browser is None:
        raise RuntimeError("chromium (or Chrome, or Edge) is needed for PDFs: "
                           "apt-get install chromium")
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                    "--no-pdf-header-footer", f"--print-to-pdf={pdf}", html.as_uri()],
                   check=True, capture_output=True, timeout=120)
    return pdf


def written_pdfs(built: Built) -> list[Path]:
    """PDFs of the hand-graded questions of a built assignment, for manual grading on
    Gradescope or on paper: the questions as students see them
    (``student/NN_name-written.pdf``) and, with the model answers and rubrics,
    ``autograder/NN_name-written-solutions.pdf`` (keep that one private)."""
    made = []
    for notebook, suffix, title in ((built.student, "written", "written questions"),
                                    (built.solution, "written-solutions",
                                     "written questions: model answers and rubrics")):
        page = notebook.with_name(f"{built.name}-{suffix}.html")
        page.write_text(to_html(written_answers(notebook), f"{built.name}: {title}"))
        made.append(html_to_pdf(page, page.with_suffix(".pdf")))
        page.unlink()
    return made


def grade(source: Path, autograder: Path, report: Path | None = None,
          written: Path | None = None, pdf: bool = False) -> list[dict]:
    """Grade every student's notebook in ``source`` (see :func:`submissions`) with
    ``autograder``. One row per student: a column per question (the hand-graded ones
    empty, to fill in), ``autograded`` (their sum), ``total`` (autograded plus the
    hand-graded columns once filled) and ``possible``. Writes the rows as a CSV at
    ``report``, and each student's written answers as HTML (and PDF) in ``written``."""
    from otter.api import grade_submission

    master = master_of(autograder)
    manual = [q for q in questions(master) if q["manual"]] if master else []
    assignment = master.stem if master else None
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for student, notebook in submissions(source, Path(tmp), assignment).items():
            result = grade_submission(str(notebook), str(autograder), quiet=True)
            row = {"student": student, "submission": notebook.name}
            row.update({q: r.score for q, r in result.results.items()})
            row.update({_manual_column(q): "" for q in manual})
            row.update(autograded=result.total, total=result.total,
                       possible=result.possible + sum(q["points"] for q in manual))
            rows.append(row)
            if written is not None:
                written.mkdir(parents=True, exist_ok=True)
                page = written / f"{student}.html"
                page.write_text(to_html(written_answers(notebook),
                                        f"{student}: written answers"))
                if pdf:
                    html_to_pdf(page, page.with_suffix(".pdf"))
    if report is not None and rows:
        with open(report, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return rows


def _manual_column(q: dict) -> str:
    return f"{q['name']} (manual, {q['points']:g} points)"
