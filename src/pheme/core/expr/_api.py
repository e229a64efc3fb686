"""The public operations: parse (cached), evaluate, conditions, templates."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from functools import lru_cache
from typing import Any, Final

from pheme.core.expr._context import EvalContext, Run
from pheme.core.expr._evaluator import Compiled, compile_tree
from pheme.core.expr._functions import STATUS_FUNCTIONS
from pheme.core.expr._parser import parse_tree
from pheme.core.expr._template import TemplateExpr, split_template
from pheme.core.expr._values import FilteredArray, to_string, truthy
from pheme.errors import ExpressionError

__all__ = [
    "Expr",
    "evaluate",
    "evaluate_condition",
    "evaluate_raw",
    "parse",
    "render",
    "uses_status_function",
]

# Functions allowed when an expression arrives as bare text (render, evaluate("…"), if:):
# the caller did not restrict them, so everything GitHub knows is allowed.
_ALL_EXTRA: Final = frozenset({*STATUS_FUNCTIONS, "hashFiles"})
_OPEN: Final = "${{"


class Expr:
    """A parsed, compiled expression: immutable and reusable across evaluations.

    ``source`` is the text it was parsed from; ``functions`` the lower-case names
    of the functions it calls. Equality is identity; ``parse`` returns the same
    object for the same (text, contexts, functions) while it stays cached.
    """

    __slots__ = ("_fn", "functions", "source")

    def __init__(self, source: str, fn: Compiled, functions: frozenset[str]) -> None:
        self.source = source
        self._fn = fn
        self.functions = functions

    def __repr__(self) -> str:
        return f"Expr({self.source!r})"


@lru_cache(maxsize=256)
def _lower(names: frozenset[str]) -> frozenset[str]:
    return frozenset(n.lower() for n in names)


@lru_cache(maxsize=8192)
def _parse_cached(text: str, contexts: frozenset[str] | None, functions: frozenset[str]) -> Expr:
    lower_contexts = None if contexts is None else _lower(contexts)
    tree, used = parse_tree(text, lower_contexts, _lower(functions))
    return Expr(text, compile_tree(tree), used)


def parse(text: str, *, contexts: Collection[str] | None = None, functions: Collection[str] = ()) -> Expr:
    """Parse an expression body (without ``${{ }}``).

    ``contexts``: the named values allowed (None: any name). ``functions``: the
    extra functions allowed beyond the built-ins (status functions, hashFiles).
    Raises ExpressionError(kind="lexing"|"parsing") with GitHub's message.
    """
    ckey = None if contexts is None else (contexts if type(contexts) is frozenset else frozenset(contexts))
    fkey = functions if type(functions) is frozenset else frozenset(functions)
    return _parse_cached(text, ckey, fkey)


def uses_status_function(expr: Expr) -> bool:
    """Whether the expression calls success(), failure(), always() or cancelled()."""
    return not expr.functions.isdisjoint(STATUS_FUNCTIONS)


def _single_expression(text: str) -> str | None:
    """The body of ``text`` if it is exactly one ``${{ body }}`` (whitespace around allowed)."""
    stripped = text.strip()
    if stripped.startswith(_OPEN) and stripped.endswith("}}"):
        parts = split_template(stripped)
        if len(parts) == 1 and isinstance(parts[0], TemplateExpr):
            return parts[0].source
    return None


def _unwrap(text: str) -> str:
    """Accept ``${{ body }}`` where a bare body is expected."""
    body = _single_expression(text) if _OPEN in text else None
    return text if body is None else body


def evaluate(expr: Expr | str, ctx: EvalContext) -> Any:
    """Evaluate an expression. A str is parsed first (any context, every function allowed).

    Raises ExpressionError(kind="evaluation") (or lexing/parsing for a str).
    """
    if isinstance(expr, str):
        expr = parse(_unwrap(expr), functions=_ALL_EXTRA)
    try:
        value = expr._fn(Run(ctx))
    except ExpressionError as exc:
        if not exc.expression:
            exc.expression = expr.source
        raise
    except RecursionError:
        raise ExpressionError(
            "evaluation", "The value is nested too deeply to evaluate", expression=expr.source
        ) from None
    if type(value) is FilteredArray:
        return list(value)
    return value


def evaluate_condition(cond: str | bool | None, ctx: EvalContext) -> bool:
    """GitHub ``if:`` semantics.

    Empty → ``success()``. ``${{ }}`` around the condition is optional. A
    condition that calls none of the status functions means
    ``success() && (cond)``, so it is not evaluated at all once the job is failing.
    """
    if cond is None:
        return ctx.job_status == "success"
    text = cond if isinstance(cond, str) else to_string(cond)
    text = text.strip()
    if not text:
        return ctx.job_status == "success"
    if _OPEN in text:
        body = _single_expression(text)
        if body is None:
            # Literal text around expressions: GitHub formats it into a string (truthy unless empty).
            exprs = [p for p in split_template(text) if isinstance(p, TemplateExpr)]
            uses_status = any(uses_status_function(parse(e.source, functions=_ALL_EXTRA)) for e in exprs)
            if not uses_status and ctx.job_status != "success":
                return False
            return truthy(render(text, ctx))
        text = body
    expr = parse(text, functions=_ALL_EXTRA)
    if not uses_status_function(expr) and ctx.job_status != "success":
        return False
    return truthy(evaluate(expr, ctx))


def render(text: str, ctx: EvalContext) -> str:
    """Replace every ``${{ expr }}`` in ``text`` with the value's string form."""
    if _OPEN not in text:
        return text
    out: list[str] = []
    for part in split_template(text):
        if isinstance(part, str):
            out.append(part)
        else:
            out.append(to_string(evaluate(parse(part.source, functions=_ALL_EXTRA), ctx)))
    return "".join(out)


def evaluate_raw(value: Any, ctx: EvalContext) -> Any:
    """Evaluate a ``with:``/``env:``/``outputs:`` value.

    A string that is exactly one ``${{ expr }}`` (whitespace around allowed)
    yields the value itself, not its string form; other strings are rendered;
    lists and mappings are evaluated item by item (mapping keys are rendered);
    other scalars are returned as they are.
    """
    if isinstance(value, str):
        if _OPEN not in value:
            return value
        parts = split_template(value)
        exprs = [p for p in parts if isinstance(p, TemplateExpr)]
        if len(exprs) == 1 and all(isinstance(p, TemplateExpr) or not p.strip() for p in parts):
            return evaluate(parse(exprs[0].source, functions=_ALL_EXTRA), ctx)
        return render(value, ctx)
    if isinstance(value, (list, tuple)):
        return [evaluate_raw(v, ctx) for v in value]
    if isinstance(value, Mapping):
        return {
            (render(k, ctx) if isinstance(k, str) else k): evaluate_raw(v, ctx) for k, v in value.items()
        }
    return value
