"""The public API of pheme.core.expr is a contract other packages code against."""

from __future__ import annotations

import inspect

import pheme.core.expr as expr_api

EXPECTED = {
    "Expr",
    "parse",
    "EvalContext",
    "evaluate",
    "evaluate_condition",
    "render",
    "evaluate_raw",
    "split_template",
    "find_expressions",
    "TemplateExpr",
    "to_string",
    "truthy",
    "kind_of",
    "Value",
    "STATUS_FUNCTIONS",
    "uses_status_function",
}


def test_all_lists_exactly_the_contract() -> None:
    assert set(expr_api.__all__) == EXPECTED
    for name in EXPECTED:
        assert hasattr(expr_api, name), name


def test_parse_signature_is_keyword_only_for_options() -> None:
    params = inspect.signature(expr_api.parse).parameters
    assert list(params) == ["text", "contexts", "functions"]
    assert params["contexts"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["functions"].kind is inspect.Parameter.KEYWORD_ONLY


def test_eval_context_defaults() -> None:
    ctx = expr_api.EvalContext(contexts={})
    assert ctx.job_status == "success"
    assert ctx.hash_files is None


def test_status_functions() -> None:
    assert frozenset({"success", "failure", "always", "cancelled"}) == expr_api.STATUS_FUNCTIONS
