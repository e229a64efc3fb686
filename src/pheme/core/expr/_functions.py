"""The built-in functions: argument counts (checked at parse time) and implementations.

Function names are case-insensitive (``toJson`` = ``tojson``), so the table is
keyed by lower-case name. ``extension`` functions (the status functions and
``hashFiles``) exist only where the caller allows them, as in GitHub, where
``success()`` is valid in ``if:`` but not in ``env:``.

``case`` has no implementation here: it evaluates its arguments lazily, so
the evaluator compiles it itself.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, NamedTuple

from pheme.core.expr._context import Run
from pheme.core.expr._values import (
    ARRAY,
    BOOLEAN,
    NULL,
    NUMBER,
    OBJECT,
    STRING,
    fold,
    kind_code,
    loose_eq,
    to_string,
)
from pheme.errors import ExpressionError

__all__ = ["ALWAYS_ALLOWED", "FUNCTIONS", "STATUS_FUNCTIONS", "FunctionSpec", "to_json"]

STATUS_FUNCTIONS: Final = frozenset({"success", "failure", "always", "cancelled"})

Impl = Callable[[Run, list[Any]], Any]


class FunctionSpec(NamedTuple):
    min_args: int
    max_args: int
    extension: bool
    impl: Impl | None


_PRIMITIVE: Final = frozenset({NULL, BOOLEAN, NUMBER, STRING})


def _contains(run: Run, args: list[Any]) -> bool:
    haystack, needle = args
    k = kind_code(haystack)
    if k == ARRAY:
        return any(loose_eq(item, needle) for item in haystack)
    if k in _PRIMITIVE:
        return fold(to_string(needle)) in fold(to_string(haystack))
    return False


def _starts_with(run: Run, args: list[Any]) -> bool:
    left, right = args
    if kind_code(left) not in _PRIMITIVE or kind_code(right) not in _PRIMITIVE:
        return False
    return fold(to_string(left)).startswith(fold(to_string(right)))


def _ends_with(run: Run, args: list[Any]) -> bool:
    left, right = args
    if kind_code(left) not in _PRIMITIVE or kind_code(right) not in _PRIMITIVE:
        return False
    return fold(to_string(left)).endswith(fold(to_string(right)))


def _format(run: Run, args: list[Any]) -> str:
    """C#-style ``string.Format``: ``{N}`` placeholders, ``{{``/``}}`` escapes, errors in GitHub's words."""
    fmt = to_string(args[0])
    if "{" not in fmt and "}" not in fmt:
        return fmt
    values: list[str | None] = [None] * (len(args) - 1)
    out: list[str] = []
    i = 0
    n = len(fmt)
    while i < n:
        lb = fmt.find("{", i)
        rb = fmt.find("}", i)
        if lb < 0 and rb < 0:
            out.append(fmt[i:])
            break
        if rb >= 0 and (lb < 0 or rb < lb):
            # A '}' outside a placeholder must be doubled.
            if rb + 1 < n and fmt[rb + 1] == "}":
                out.append(fmt[i : rb + 1])
                i = rb + 2
                continue
            raise ExpressionError("evaluation", f"The following format string is invalid: {fmt}")
        out.append(fmt[i:lb])
        if lb + 1 < n and fmt[lb + 1] == "{":
            out.append("{")
            i = lb + 2
            continue
        j = lb + 1
        while j < n and "0" <= fmt[j] <= "9":
            j += 1
        if j == lb + 1 or j >= n or fmt[j] != "}":
            raise ExpressionError("evaluation", f"The following format string is invalid: {fmt}")
        index = int(fmt[lb + 1 : j])
        if index >= len(values):
            raise ExpressionError(
                "evaluation", f"The following format string references more arguments than were supplied: {fmt}"
            )
        text = values[index]
        if text is None:
            text = values[index] = to_string(args[index + 1])
        out.append(text)
        i = j + 1
    return run.charge("".join(out))


def _join(run: Run, args: list[Any]) -> str:
    items = args[0]
    k = kind_code(items)
    if k == OBJECT:
        return ""
    if k != ARRAY:
        return to_string(items)
    separator = ","
    if len(args) > 1 and kind_code(args[1]) in _PRIMITIVE:
        separator = to_string(args[1])
    return run.charge(separator.join([to_string(item) for item in items]))


def _plain(value: Any) -> Any:
    """Make a value ``json.dumps``-ready the way GitHub prints it: integral numbers without '.0'."""
    k = kind_code(value)
    if k == NUMBER:
        if type(value) is int:
            return value
        f = float(value)
        if f.is_integer() and abs(f) < 1e21:
            return int(f)
        return f
    if k == OBJECT:
        return {str(key): _plain(v) for key, v in value.items()}
    if k == ARRAY:
        return [_plain(v) for v in value]
    if k == STRING:
        return to_string(value)
    return value


def to_json(value: Any) -> str:
    """``toJSON``: two-space indented JSON, non-ASCII kept as is (as GitHub prints it)."""
    return json.dumps(_plain(value), indent=2, ensure_ascii=False)


def _to_json(run: Run, args: list[Any]) -> str:
    try:
        return run.charge(to_json(args[0]))
    except RecursionError:
        raise ExpressionError("evaluation", "toJSON: the value is nested too deeply") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON value {name}")


def _from_json(run: Run, args: list[Any]) -> Any:
    text = to_string(args[0])
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise ExpressionError("evaluation", f"Error parsing fromJson: {detail}") from None


def _hash_files(run: Run, args: list[Any]) -> str:
    hasher = run.ctx.hash_files
    if hasher is None:
        raise ExpressionError("evaluation", "hashFiles is not available here (no workspace to hash)")
    patterns: Sequence[str] = [to_string(a) for a in args]
    return hasher(patterns)


def _success(run: Run, args: list[Any]) -> bool:
    return run.ctx.job_status == "success"


def _failure(run: Run, args: list[Any]) -> bool:
    return run.ctx.job_status == "failure"


def _cancelled(run: Run, args: list[Any]) -> bool:
    return run.ctx.job_status == "cancelled"


def _always(run: Run, args: list[Any]) -> bool:
    return True


_MANY: Final = sys.maxsize

FUNCTIONS: Final[Mapping[str, FunctionSpec]] = {
    "contains": FunctionSpec(2, 2, False, _contains),
    "startswith": FunctionSpec(2, 2, False, _starts_with),
    "endswith": FunctionSpec(2, 2, False, _ends_with),
    "format": FunctionSpec(1, _MANY, False, _format),
    "join": FunctionSpec(1, 2, False, _join),
    "tojson": FunctionSpec(1, 1, False, _to_json),
    "fromjson": FunctionSpec(1, 1, False, _from_json),
    "case": FunctionSpec(3, _MANY, False, None),
    "hashfiles": FunctionSpec(1, 255, True, _hash_files),
    "success": FunctionSpec(0, 0, True, _success),
    "failure": FunctionSpec(0, 0, True, _failure),
    "cancelled": FunctionSpec(0, 0, True, _cancelled),
    "always": FunctionSpec(0, 0, True, _always),
}

# Names valid everywhere, in GitHub's spelling.
ALWAYS_ALLOWED: Final = frozenset(
    {"contains", "startsWith", "endsWith", "format", "join", "toJSON", "fromJSON", "case"}
)
