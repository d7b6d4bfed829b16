"""optnotes.lesson.source shows a method without its class-level indentation."""

import pytest

import optnotes as on
from optnotes.lesson import source

pytest.importorskip("IPython")


def test_source_of_a_method_is_dedented_and_fits_the_column():
    code = source(on.BatchNorm.forward).data
    lines = code.splitlines()
    assert lines[0].startswith("def forward(")
    assert max(len(line) for line in lines) <= 79


def test_source_of_a_function_drops_only_its_docstring():
    import inspect

    from optnotes import strategies

    code = source(strategies.project_rows).data
    full = inspect.getsource(strategies.project_rows)
    doc = strategies.project_rows.__doc__.strip().splitlines()[0]
    assert doc in full and doc not in code
    assert code.splitlines()[0] == full.splitlines()[0]      # the signature
    assert code.splitlines()[-1] == full.splitlines()[-1]    # the last line
