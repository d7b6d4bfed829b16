"""Sphinx extension: the ``optnotes`` wheel a student needs is built with the site.

At the start of a build the package is built into a wheel (from a copy of the package
sources in a temporary folder, so the repository gets no ``build/`` or ``*.egg-info``)
and written to ``.whl/`` (ignored by git). Pages offer it with the ``download`` role,
for example on the home page::

    {download}`optnotes-0.1.0-py3-none-any.whl <.whl/optnotes-0.1.0-py3-none-any.whl>`

so the wheel is copied into the built site, and a page that names a wheel the build did
not make fails the build (``-W``). With it, a downloaded chapter notebook runs in a fresh
environment made with two commands::

    pip install torch==2.13.0
    pip install "optnotes-0.1.0-py3-none-any.whl[course]"
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FOLDER = ".whl"


def build_wheel(root: Path, out: Path) -> Path:
    """Build ``optnotes`` from ``root`` into ``out`` (emptied first); return the wheel."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(root / name, src / name)
        shutil.copytree(root / "optnotes", src / "optnotes",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
             "--quiet", "--wheel-dir", str(out), str(src)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"building the optnotes wheel failed:\n{proc.stdout}")
    wheels = sorted(out.glob("optnotes-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one optnotes wheel in {out}, found {wheels}")
    return wheels[0]


def setup(app):
    root = Path(app.srcdir)

    def on_init(app):
        if (root / "optnotes").is_dir():  # a test's small book has no package
            build_wheel(root, root / FOLDER)

    app.connect("builder-inited", on_init)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
