"""Finding ${{ }} in strings."""

from __future__ import annotations

import pytest

from pheme.core.expr import TemplateExpr, find_expressions, split_template
from pheme.errors import ExpressionError


def test_split_keeps_literal_text_and_offsets() -> None:
    text = "a ${{ x }}b${{y}}"
    assert split_template(text) == ["a ", TemplateExpr("x", 2, 10), "b", TemplateExpr("y", 11, 17)]
    assert text[2:10] == "${{ x }}"


def test_closing_braces_inside_strings_do_not_end_the_expression() -> None:
    parts = find_expressions("${{ format('}}{0}', 'it''s }}') }} tail")
    assert [p.source for p in parts] == ["format('}}{0}', 'it''s }}')"]


def test_text_without_expressions() -> None:
    assert split_template("plain $ {{ text }}") == ["plain $ {{ text }}"]
    assert find_expressions("plain") == []


def test_unclosed_expression_is_a_parse_error_at_its_offset() -> None:
    with pytest.raises(ExpressionError) as err:
        split_template("ok ${{ a }} then ${{ b ")
    assert err.value.kind == "parsing"
    assert err.value.position == 17
