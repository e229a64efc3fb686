"""Checks one ``${{ }}`` body against the contexts allowed where it is written.

The parsing itself belongs to :mod:`pheme.core.expr`; this module only turns
GitHub's allowed-context list (``github``, ``matrix``, ``hashFiles(1,255)`` ...)
into the named values and functions the parser accepts, and memoises the
answer: the same expression text appears in many workflow files.
"""

from __future__ import annotations

from pheme.core.expr import parse
from pheme.core.workflow._schema import split_context
from pheme.errors import ExpressionError

__all__ = ["check_expression"]

_cache: dict[tuple[str, tuple[str, ...]], str | None] = {}
_split_cache: dict[tuple[str, ...], tuple[frozenset[str], frozenset[str]]] = {}


def check_expression(text: str, context: tuple[str, ...]) -> str | None:
    """GitHub's error message for ``text`` at a place allowing ``context``, or None if valid."""
    key = (text, context)
    try:
        return _cache[key]
    except KeyError:
        pass
    split = _split_cache.get(context)
    if split is None:
        split = _split_cache[context] = split_context(context)
    named, functions = split
    message: str | None
    try:
        parse(text, contexts=named, functions=functions)
        message = None
    except ExpressionError as exc:
        message = exc.full_message()
        # GitHub allows arguments to success()/failure() in a job's ``if:``
        # (``success(0,MAX)``: the named needs); the expression package knows
        # them only as 0-argument functions, so that one complaint is not ours.
        for fn in ("success", "failure"):
            if f"{fn}(0,MAX)" in context and exc.message.startswith(f"Too many parameters supplied: '{fn}'"):
                message = None
    except RecursionError:
        message = f"Maximum expression depth exceeded. Located at position 1 within expression: {text}"
    except Exception:  # a bug in the expression parser must not stop validation
        message = None
    if len(_cache) > 50_000:
        _cache.clear()
    _cache[key] = message
    return message
