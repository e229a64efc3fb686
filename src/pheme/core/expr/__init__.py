"""GitHub Actions expressions (``${{ }}``): lexer, parser and evaluator, with GitHub's semantics.

The public API, in brief::

    expr = parse("github.ref == 'refs/heads/main'", contexts={"github"})
    evaluate(expr, EvalContext(contexts={"github": {"ref": "refs/heads/main"}}))   # True
    evaluate_condition("failure()", ctx)     # ``if:`` rules (implicit success() && …)
    render("v${{ matrix.version }}", ctx)    # interpolate every ${{ }}
    evaluate_raw({"a": "${{ fromJSON('[1]') }}"}, ctx)   # keeps non-string values

Values are plain JSON-like Python data (see ``Value``). Errors are
``pheme.errors.ExpressionError`` with ``kind`` ``lexing``/``parsing``/
``evaluation`` and GitHub's wording (``full_message()`` adds the position).
The package is pure: no I/O; ``hashFiles`` is delegated to the caller.
"""

from __future__ import annotations

from pheme.core.expr._api import (
    Expr,
    evaluate,
    evaluate_condition,
    evaluate_raw,
    parse,
    render,
    uses_status_function,
)
from pheme.core.expr._context import EvalContext
from pheme.core.expr._functions import STATUS_FUNCTIONS
from pheme.core.expr._template import TemplateExpr, find_expressions, split_template
from pheme.core.expr._values import Value, kind_of, to_string, truthy

__all__ = [
    "STATUS_FUNCTIONS",
    "EvalContext",
    "Expr",
    "TemplateExpr",
    "Value",
    "evaluate",
    "evaluate_condition",
    "evaluate_raw",
    "find_expressions",
    "kind_of",
    "parse",
    "render",
    "split_template",
    "to_string",
    "truthy",
    "uses_status_function",
]
