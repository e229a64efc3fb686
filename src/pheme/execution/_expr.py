"""The one place the runner imports the expression language from.

Everything in ``pheme.execution`` evaluates ``${{ }}`` through these names so
that the engine depends on a single seam of ``pheme.core.expr``.
"""

from __future__ import annotations

from pheme.core.expr import (
    EvalContext,
    evaluate,
    evaluate_condition,
    evaluate_raw,
    parse,
    render,
    to_string,
    truthy,
    uses_status_function,
)

__all__ = [
    "EvalContext",
    "evaluate",
    "evaluate_condition",
    "evaluate_raw",
    "parse",
    "render",
    "to_string",
    "truthy",
    "uses_status_function",
]
