"""The safe condition language: what users write in successCondition / failureCondition."""

from __future__ import annotations

import math

import pytest

from pheme.core.monitoring.conditions import ConditionError, parse_condition


@pytest.mark.parametrize(
    ("text", "result", "expected"),
    [
        ("result >= 0.95", 0.97, True),
        ("result >= 0.95", 0.5, False),
        ("result < 0.9 || result > 2", 3.0, True),
        ("result < 0.9 or result > 2", 1.0, False),
        ("result > 0.1 && result < 0.2", 0.15, True),
        ("result > 0.1 and not (result > 0.12)", 0.15, False),
        ("!(result == 1)", 1.0, False),
        ("result != 1", 2.0, True),
        ("result * 100 >= 95", 0.95, True),
        ("result / 2 + 1 == 1.5", 1.0, True),
        ("-result < 0", 1.0, True),
        ("result % 2 == 1", 5.0, True),
        ("result <= 1e-3", 0.0005, True),
        ("abs(result - 1) < .01", 1.005, True),
        ("isNaN(result)", math.nan, True),
        ("isInf(result)", math.inf, True),
        ("(result > 1) == false", 0.5, True),
    ],
)
def test_scalar_conditions(text: str, result: float, expected: bool) -> None:
    assert parse_condition(text).evaluate({"result": result}) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("result[0] >= 0.9", True),
        ("result[-1] < 0.5", True),
        ("len(result) == 3", True),
        ("min(result) > 0.1", True),
        ("max(result) == 0.95", True),
        ("avg(result) > 0.5", True),
        ("sum(result) > 1.5", True),
    ],
)
def test_list_results(text: str, expected: bool) -> None:
    assert parse_condition(text).evaluate({"result": [0.95, 0.9, 0.2]}) is expected


def test_baseline_is_a_variable() -> None:
    cond = parse_condition("result >= baseline - 0.01")
    assert cond.names == {"result", "baseline"}
    assert cond.evaluate({"result": 0.985, "baseline": 0.99}) is True
    assert cond.evaluate({"result": 0.97, "baseline": 0.99}) is False


def test_division_by_zero_gives_nan_like_promql_not_an_exception() -> None:
    assert parse_condition("isNaN(result / 0)").evaluate({"result": 0.0}) is True
    assert parse_condition("result / 0 > 1000").evaluate({"result": 1.0}) is True


def test_nan_compares_false_as_in_ieee() -> None:
    assert parse_condition("result >= 0.95").evaluate({"result": math.nan}) is False
    assert parse_condition("result < 0.95").evaluate({"result": math.nan}) is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty condition"),
        ("result >=", "unexpected end of condition at column 10"),
        ("result >= 0.95 )", "unexpected ')' at column 16"),
        ("__import__('os')", "unknown function '__import__'"),
        ("result.__class__", "unexpected character '.'"),
        ("open(result)", "unknown function 'open'"),
        ("max(result, 1)", "max() takes one argument"),
        ("0 < result < 1", "comparisons cannot be chained"),
        ("result >= 0.95 ;", "unexpected character ';' at column 16"),
        ("secret > 1", "unknown name 'secret' (known: baseline, result)"),
        ("(result > 1", "expected ')', found the end"),
    ],
)
def test_parse_errors_name_the_column(text: str, message: str) -> None:
    with pytest.raises(ConditionError) as err:
        parse_condition(text)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("text", "variables", "message"),
    [
        ("result >= 0.95", {"result": [0.9, 0.99]}, "a list of 2 values (use result[0]"),
        ("result", {"result": 0.5}, "gives the number 0.5, not true/false"),
        ("result and true", {"result": 1.0}, "need true/false, got the number 1"),
        ("result[5] > 0", {"result": [1.0]}, "index 5 is out of range for 1 value(s)"),
        ("result[0.5] > 0", {"result": [1.0]}, "index 0.5 is not a whole number"),
        ("baseline > 0", {"result": 1.0}, "'baseline' has no value"),
        ("result == 'x'", {"result": 1.0}, ""),
    ],
)
def test_evaluation_errors_are_condition_errors(text: str, variables: dict, message: str) -> None:
    cond = parse_condition(text)
    if not message:  # comparing a number with a string is simply false
        assert cond.evaluate(variables) is False
        return
    with pytest.raises(ConditionError) as err:
        cond.evaluate(variables)
    assert message in str(err.value)
    assert text in str(err.value)


def test_strings_and_booleans() -> None:
    assert parse_condition("'a' == \"a\"", names=None).evaluate({}) is True
    assert parse_condition("true && !false", names=None).evaluate({}) is True


def test_deeply_nested_input_does_not_crash_the_process() -> None:
    text = "(" * 50 + "result > 1" + ")" * 50
    assert parse_condition(text).evaluate({"result": 2.0}) is True
