"""GitHub's shared expression test data (actions/languageservices), every case.

Each case: parse with exactly the listed context names allowed, evaluate, and
compare kind and value; or expect an error of the same kind (lexing and
parsing count as one, as GitHub's parsers disagree on the split) whose full
message contains the expected text.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import conformance_path

from pheme.core.expr import EvalContext, evaluate, kind_of, parse
from pheme.errors import ExpressionError

# case id → why we cannot pass it. Aim: empty.
EXCEPTIONS: dict[str, str] = {}

_DIR = ("actions-languageservices", "expressions", "testdata")


def _cases() -> list[Any]:
    try:
        directory = conformance_path(*_DIR)
    except pytest.skip.Exception:
        return [pytest.param(None, id="conformance-data-missing")]
    params = []
    for path in sorted(Path(directory).glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for group, cases in data.items():
            for index, case in enumerate(cases):
                case_id = f"{path.stem}/{group}/{index}"
                marks = [pytest.mark.xfail(reason=EXCEPTIONS[case_id], strict=True)] if case_id in EXCEPTIONS else []
                params.append(pytest.param(case, id=case_id, marks=marks))
    return params


def _same_value(actual: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, (int, float)):
        if isinstance(actual, bool) or not isinstance(actual, (int, float)):
            return False
        if math.isnan(expected):
            return math.isnan(actual)
        return float(actual) == float(expected)
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(_same_value(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(_same_value(actual[k], v) for k, v in expected.items())
        )
    return False


def _kind_family(kind: str) -> str:
    return "syntax" if kind in ("lexing", "parsing") else kind


@pytest.mark.parametrize("case", _cases())
def test_conformance_case(case: dict[str, Any] | None) -> None:
    if case is None:
        conformance_path(*_DIR)  # skips with the reason
        return
    contexts = case.get("contexts") or {}
    expected_error = case.get("err")
    try:
        expr = parse(case["expr"], contexts=set(contexts))
        result = evaluate(expr, EvalContext(contexts=contexts))
    except ExpressionError as exc:
        if expected_error is None:
            pytest.fail(f"unexpected {exc.kind} error: {exc.full_message()}")
        assert _kind_family(exc.kind) == _kind_family(expected_error["kind"]), exc.full_message()
        assert expected_error["value"] in exc.full_message()
        return
    assert expected_error is None, f"expected {expected_error['kind']} error {expected_error['value']!r}, got {result!r}"
    expected = case["result"]
    assert kind_of(result) == expected["kind"].replace("Dictionary", "Object"), result
    assert _same_value(result, expected["value"]), f"{result!r} != {expected['value']!r}"


def test_every_case_is_collected() -> None:
    """The suite has 1,020 cases; losing some silently would hide regressions."""
    directory = conformance_path(*_DIR)
    total = sum(
        len(cases)
        for path in Path(directory).glob("*.json")
        for cases in json.loads(path.read_text(encoding="utf-8")).values()
    )
    assert total == 1020
    assert len(_cases()) == total
