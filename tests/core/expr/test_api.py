"""parse / evaluate / evaluate_condition / render / evaluate_raw as callers use them."""

from __future__ import annotations

import pytest

from pheme.core.expr import (
    EvalContext,
    evaluate,
    evaluate_condition,
    evaluate_raw,
    parse,
    render,
    uses_status_function,
)
from pheme.errors import ExpressionError

CTX = EvalContext(
    contexts={
        "github": {"ref": "refs/heads/main", "event_name": "push", "event": {"commits": [{"id": "a"}, {"id": "b"}]}},
        "matrix": {"os": "ubuntu-latest", "version": 3.10, "flags": ["x", "y"]},
        "env": {"NAME": "World"},
    }
)


def test_parse_is_cached_per_text_and_allowed_names() -> None:
    assert parse("github.ref", contexts={"github"}) is parse("github.ref", contexts=["github"])
    assert parse("github.ref") is not parse("github.ref", contexts={"github"})


def test_unknown_context_and_function_are_parse_errors() -> None:
    with pytest.raises(ExpressionError) as err:
        parse("secrets.TOKEN", contexts={"github"})
    assert err.value.kind == "parsing"
    assert err.value.full_message().startswith("Unrecognized named-value: 'secrets'. Located at position 1")
    with pytest.raises(ExpressionError, match="Unrecognized function: 'success'"):
        parse("success()")
    assert uses_status_function(parse("success()", functions={"success"}))
    with pytest.raises(ExpressionError, match="Unrecognized function: 'hashFiles'"):
        parse("hashFiles('**/x')", functions={"success"})


def test_context_names_are_case_insensitive() -> None:
    assert parse("GITHUB.ref", contexts={"github"}) is not None
    assert evaluate("GitHub.REF", CTX) == "refs/heads/main"


def test_evaluate_accepts_text_with_or_without_braces() -> None:
    assert evaluate("${{ matrix.os }}", CTX) == "ubuntu-latest"
    assert evaluate("github.event.commits.*.id", CTX) == ["a", "b"]
    assert type(evaluate("github.event.commits.*.id", CTX)) is list


def test_evaluation_errors_name_the_expression() -> None:
    with pytest.raises(ExpressionError) as err:
        evaluate("format('{1}', 'a')", CTX)
    assert err.value.kind == "evaluation"
    assert err.value.expression == "format('{1}', 'a')"


def test_hash_files_delegates_to_the_caller() -> None:
    seen: list[list[str]] = []

    def fake_hash(patterns: object) -> str:
        seen.append(list(patterns))  # type: ignore[call-overload]
        return "abc123"

    ctx = EvalContext(contexts={}, hash_files=fake_hash)
    assert evaluate("hashFiles('**/package-lock.json', 'x')", ctx) == "abc123"
    assert seen == [["**/package-lock.json", "x"]]
    with pytest.raises(ExpressionError, match="hashFiles"):
        evaluate("hashFiles('x')", EvalContext(contexts={}))


@pytest.mark.parametrize(
    ("status", "cond", "expected"),
    [
        ("success", None, True),
        ("failure", None, False),
        ("success", "", True),
        ("success", "github.ref == 'refs/heads/main'", True),
        ("success", "${{ github.ref == 'refs/heads/other' }}", False),
        ("failure", "github.ref == 'refs/heads/main'", False),  # implicit success() &&
        ("failure", "failure()", True),
        ("failure", "${{ always() }}", True),
        ("cancelled", "cancelled()", True),
        ("cancelled", "always() && github.event_name == 'push'", True),
        ("success", "failure()", False),
        ("success", True, True),
        ("success", False, False),
        ("failure", True, False),
        ("success", "matrix.flags", True),  # arrays are truthy
        ("success", "env.MISSING", False),  # null is falsy
    ],
)
def test_evaluate_condition(status: str, cond: str | bool | None, expected: bool) -> None:
    ctx = EvalContext(contexts=CTX.contexts, job_status=status)  # type: ignore[arg-type]
    assert evaluate_condition(cond, ctx) is expected


def test_condition_is_not_evaluated_when_the_job_already_failed() -> None:
    ctx = EvalContext(contexts={}, job_status="failure")
    # fromJSON('x') would raise; success() && … short-circuits first.
    assert evaluate_condition("fromJSON('not json')", ctx) is False


def test_render_interpolates_with_github_string_forms() -> None:
    text = "Hello ${{ env.NAME }} on ${{ matrix.os }} v${{ matrix.version }} ${{ null }}|${{ matrix.flags }}"
    assert render(text, CTX) == "Hello World on ubuntu-latest v3.1 |Array"
    assert render("no expressions", CTX) == "no expressions"


def test_render_reports_an_unclosed_expression() -> None:
    with pytest.raises(ExpressionError) as err:
        render("echo ${{ github.ref", CTX)
    assert err.value.kind == "parsing"
    assert "not closed" in err.value.message


def test_evaluate_raw_keeps_values_of_single_expressions() -> None:
    raw = {
        "list": " ${{ fromJSON('[1, 2]') }} ",
        "text": "v${{ matrix.version }}",
        "flag": True,
        "nested": ["${{ matrix.flags }}", 3],
        "${{ env.NAME }}-key": "plain",
    }
    assert evaluate_raw(raw, CTX) == {
        "list": [1, 2],
        "text": "v3.1",
        "flag": True,
        "nested": [["x", "y"], 3],
        "World-key": "plain",
    }
