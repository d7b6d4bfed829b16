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


def test_source_of_a_function_is_unchanged():
    import inspect

    from optnotes import strategies

    code = source(strategies.project_rows).data
    assert code == inspect.getsource(strategies.project_rows)
