"""String forms, truthiness and comparisons users rely on in workflows."""

from __future__ import annotations

import math

import pytest

from pheme.core.expr import kind_of, to_string, truthy
from pheme.core.expr._values import loose_eq, str_to_number


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (1.5, "1.5"),
        (16.0, "16"),
        (-0.0, "0"),
        (3, "3"),
        (1e15, "1E+15"),
        (123456789012345678.0, "1.23456789012346E+17"),
        (0.1 + 0.2, "0.3"),
        (1e-5, "1E-05"),
        (math.inf, "Infinity"),
        (math.nan, "NaN"),
        ([1], "Array"),
        ({"a": 1}, "Object"),
        ("text", "text"),
    ],
)
def test_to_string_matches_the_runner(value: object, text: str) -> None:
    assert to_string(value) == text


def test_python_bools_are_booleans_not_numbers() -> None:
    assert kind_of(True) == "Boolean"
    assert kind_of(1) == "Number"
    assert loose_eq(True, 1.0)
    assert not loose_eq(True, 2)


def test_truthiness() -> None:
    assert [truthy(v) for v in (None, False, 0, 0.0, math.nan, "", [], {}, "0", "false")] == [
        False, False, False, False, False, False, True, True, True, True,
    ]


def test_string_to_number_is_javascript_number() -> None:
    assert str_to_number(" 0x1F ") == 31
    assert str_to_number("1_000") != str_to_number("1_000")  # NaN: underscores are not digits
    assert math.isnan(str_to_number("inf"))
    assert str_to_number("") == 0
    assert str_to_number("-Infinity") == -math.inf


def test_case_insensitive_but_not_for_dotless_i() -> None:
    assert loose_eq("Straße", "STRASSE")
    assert not loose_eq("ı", "I")
