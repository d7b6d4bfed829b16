"""The source helper chapter 03 uses to show a function without its docstring."""

import pytest

from optnotes import clipping
from optnotes.lesson import _body_text, source_body


def example(x, y=1):
    """A docstring
    over two lines."""
    if x < 0:
        raise ValueError("x must be >= 0")
    z = x + y  # the work
    return z


def test_body_drops_the_docstring_and_keeps_the_code():
    code = source_body(example).data
    assert "docstring" not in code and "over two lines" not in code
    assert code.startswith("def example(x, y=1):\n")
    assert "raise ValueError" in code and code.rstrip().endswith("return z")


def test_start_replaces_the_checks_by_an_ellipsis():
    code = source_body(example, start="the work").data
    assert code.splitlines() == ["def example(x, y=1):", "    ...",
                                 "    z = x + y  # the work", "    return z"]


def test_start_at_the_first_statement_adds_no_ellipsis():
    code = source_body(example, start="if x < 0").data
    assert "..." not in code


def test_multiline_signature_is_kept():
    code = source_body(clipping.clip_grad_norm_, start="# if ‖g‖ > v").data
    assert code.splitlines()[0].startswith("def clip_grad_norm_(")
    assert "-> torch.Tensor:" in code and '"""' not in code
    assert "factor = torch.where" in code


def test_bad_input():
    with pytest.raises(ValueError, match="not in the source"):
        source_body(example, start="no such line")
    with pytest.raises(TypeError, match="must be a function"):
        _body_text("x = 1\n", None)
