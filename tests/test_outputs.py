"""What the executed chapters print fits the column and holds no warning.

The executed notebooks of this session's book build (offered for download at
``<html>/_sources/chapters/*.ipynb``, the very outputs the pages show) are read cell by
cell: no line of text output is wider than the text column (about 85 characters of the
code font), no raw ``np.float64(...)`` repr is printed (a table or a sentence says it),
and no output holds a warning (a stderr stream with "Warning" in it). A failure names the
chapter, the cell and the offending line.

The checks themselves are tried on small notebooks made here, so each is seen to fail.
"""

from __future__ import annotations

import re

import nbformat
import pytest

from site_build import book, chapter_runs  # noqa: F401 - fixtures

#: The widest line of text output that the 688-px column shows without scrolling.
MAX_CHARS = 85
RAW_REPR = re.compile(r"\bnp\.(float|int|bool)\w*\(")
HIDDEN = {"remove-cell", "remove-output"}


def _text(output) -> str | None:
    """The text a reader sees for ``output`` (None where an image or HTML is shown)."""
    if output.output_type == "stream":
        return output.get("text", "")
    if output.output_type in {"execute_result", "display_data"}:
        data = output.get("data", {})
        if any(k.startswith("image/") or k == "text/html" for k in data):
            return None
        return data.get("text/plain")
    if output.output_type == "error":
        return "\n".join(output.get("traceback", []))
    return None


def output_problems(nb, name: str) -> list[str]:
    """Each output line wider than the column, raw numpy repr and warning of ``nb``."""
    out = []
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for number, cell in enumerate(code_cells, start=1):
        where = f"{name}, code cell {number}"
        hidden = HIDDEN & set(cell.get("metadata", {}).get("tags", []))
        for output in cell.get("outputs", []):
            if (output.output_type == "stream" and output.get("name") == "stderr"
                    and "warning" in output.get("text", "").lower()):
                first = next(line for line in output["text"].splitlines()
                             if "warning" in line.lower())
                out.append(f"{where}: a warning in its output: {first.strip()[:160]}")
                continue
            text = _text(output)
            if text is None or hidden:
                continue
            for line in text.splitlines():
                if len(line) > MAX_CHARS:
                    out.append(f"{where}: an output line of {len(line)} characters "
                               f"(at most {MAX_CHARS}): {line[:100]}...")
                if RAW_REPR.search(line):
                    out.append(f"{where}: a raw numpy repr: {line.strip()[:120]}")
    return out


@pytest.mark.slow
def test_no_chapter_output_is_wider_than_the_column_or_holds_a_warning(book):  # noqa: F811
    assert book.returncode == 0, "the book did not build (see test_book.py)"
    notebooks = sorted((book.html / "_sources" / "chapters").glob("*.ipynb"))
    assert notebooks, f"no executed notebook in {book.html / '_sources' / 'chapters'}"
    problems = []
    for path in notebooks:
        problems += output_problems(nbformat.read(path, as_version=4), path.stem)
    assert not problems, "\n".join(problems)


# --- the checks, on notebooks made for the test ---------------------------------------------

def _notebook(*outputs, tags=()) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("x", outputs=list(outputs), metadata={"tags": list(tags)})
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# t"), cell])


def test_output_checks_pass_on_short_plain_outputs():
    nb = _notebook(nbformat.v4.new_output("stream", name="stdout", text="loss 0.25\n" * 3),
                   nbformat.v4.new_output("execute_result", data={"text/plain": "0.25"}),
                   nbformat.v4.new_output("display_data", data={
                       "image/svg+xml": "<svg/>",
                       "text/plain": "<Figure size 680x340 " + "x" * 90}))
    assert output_problems(nb, "ok") == []


def test_output_checks_fail_on_a_wide_line_a_raw_repr_and_a_warning():
    wide = "{'lr': 0.1, 'loss': " + "0.123456, " * 12 + "}"
    nb = _notebook(
        nbformat.v4.new_output("stream", name="stdout", text="fine\n" + wide + "\n"),
        nbformat.v4.new_output("execute_result", data={"text/plain": "np.float64(0.25)"}),
        nbformat.v4.new_output("stream", name="stderr",
                               text="/x.py:3: UserWarning: the loss is nan\n  warn()\n"))
    problems = output_problems(nb, "07_initialization")
    assert len(problems) == 3, problems
    assert problems[0].startswith("07_initialization, code cell 1: an output line of"), problems
    assert wide[:40] in problems[0]
    assert "np.float64(0.25)" in problems[1]
    assert "UserWarning: the loss is nan" in problems[2]
    # a warning counts in a hidden cell too; a wide line there is not seen on the page
    hidden = _notebook(
        nbformat.v4.new_output("stream", name="stdout", text=wide),
        nbformat.v4.new_output("stream", name="stderr", text="DeprecationWarning: x"),
        tags=["remove-cell"])
    assert [p.split(": ", 1)[1][:7] for p in output_problems(hidden, "n")] == ["a warni"]
