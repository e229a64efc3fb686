"""Evaluator: compiles the AST once into nested closures, then runs them per evaluation.

Compiling to closures (instead of walking the tree each time) removes the
per-node type dispatch from the hot path; the compiled form is cached with
the parsed expression, so an expression used in a matrix of 50 jobs is
compiled once. Constant indexes (``a.b``, ``a['b']``, ``a[0]``) resolve their
key at compile time.

Index semantics (GitHub's): the index value yields a string key if it is a
primitive (``foo[1]`` on an object looks up ``"1"``) and an integer position
if it is a finite non-negative number after coercion (``foo['1']`` on an
array is element 1). ``.*`` turns an array or object into a *filtered array*;
indexing a filtered array indexes each element and drops the misses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

from pheme.core.expr._context import Run
from pheme.core.expr._functions import FUNCTIONS
from pheme.core.expr._parser import Binary, Call, ContextRef, Group, Index, Literal, Logical, Node, Not, Path
from pheme.core.expr._values import (
    ARRAY,
    BOOLEAN,
    MISSING,
    NULL,
    NUMBER,
    OBJECT,
    STRING,
    FilteredArray,
    ci_get,
    kind_code,
    loose_eq,
    loose_gt,
    loose_lt,
    to_number,
    to_string,
    truthy,
)
from pheme.errors import ExpressionError

__all__ = ["Compiled", "compile_tree"]

Compiled = Callable[[Run], Any]

_PRIMITIVE: Final = frozenset({NULL, BOOLEAN, NUMBER, STRING})


def _index_key(value: Any) -> tuple[str | None, int | None]:
    """The string key and the integer position an index value stands for (either may be None)."""
    k = kind_code(value)
    key = to_string(value) if k in _PRIMITIVE else None
    n = to_number(value)
    position = math.floor(n) if math.isfinite(n) and n >= 0 else None
    return key, position


def _access(obj: Any, key: str | None, position: int | None) -> Any:
    t = type(obj)
    if t is dict:
        if key is None:
            return None
        value = obj.get(key, MISSING)
        return ci_get(obj, key) if value is MISSING else value
    if t is FilteredArray:
        out = FilteredArray()
        for item in obj:
            k = kind_code(item)
            if k == OBJECT:
                if key is not None:
                    value = ci_get(item, key, MISSING)
                    if value is not MISSING:
                        out.append(value)
            elif k == ARRAY and position is not None and position < len(item):
                out.append(item[position])
        return out
    k = kind_code(obj)
    if k == ARRAY:
        if position is not None and position < len(obj):
            return obj[position]
        return None
    if k == OBJECT:
        return None if key is None else ci_get(obj, key)
    return None


def _star(obj: Any) -> FilteredArray:
    t = type(obj)
    if t is FilteredArray:
        out = FilteredArray()
        for item in obj:
            k = kind_code(item)
            if k == OBJECT:
                out.extend(item.values())
            elif k == ARRAY:
                out.extend(item)
        return out
    k = kind_code(obj)
    if k == OBJECT:
        return FilteredArray(obj.values())
    if k == ARRAY:
        return FilteredArray(obj)
    return FilteredArray()


def _compile_index(node: Index) -> Compiled:
    obj = compile_tree(node.obj)
    index = node.index
    if index is None:
        return lambda run: _star(obj(run))
    if type(index) is Literal:
        key, position = _index_key(index.value)
        if key is not None and position is None:
            # The common case, ``a.b``: inline the plain-dict lookup.
            def prop(run: Run) -> Any:
                o = obj(run)
                if type(o) is dict:
                    value = o.get(key, MISSING)
                    return ci_get(o, key) if value is MISSING else value
                return _access(o, key, None)

            return prop
        return lambda run: _access(obj(run), key, position)
    index_fn = compile_tree(index)

    def dynamic(run: Run) -> Any:
        k, p = _index_key(index_fn(run))
        return _access(obj(run), k, p)

    return dynamic


def _compile_context(name: str) -> Compiled:
    def context(run: Run) -> Any:
        contexts = run.contexts
        value = contexts.get(name, MISSING)
        return ci_get(contexts, name) if value is MISSING else value

    return context


def _compile_path(node: Path) -> Compiled:
    root = node.root
    segments = node.segments

    def path(run: Run) -> Any:
        contexts = run.contexts
        value = contexts.get(root, MISSING)
        if value is MISSING:
            value = ci_get(contexts, root)
        for segment in segments:
            if segment is None:
                value = _star(value)
            elif type(value) is dict:
                found = value.get(segment, MISSING)
                value = ci_get(value, segment) if found is MISSING else found
            else:
                value = _access(value, segment, None)
        return value

    return path


def _compile_logical(node: Logical) -> Compiled:
    fns = [compile_tree(a) for a in node.args]
    if node.op == "&&":

        def and_(run: Run) -> Any:
            value = None
            for f in fns:
                value = f(run)
                if not truthy(value):
                    return value
            return value

        return and_

    def or_(run: Run) -> Any:
        value = None
        for f in fns:
            value = f(run)
            if truthy(value):
                return value
        return value

    return or_


def _compile_binary(node: Binary) -> Compiled:
    left = compile_tree(node.left)
    right = compile_tree(node.right)
    op = node.op
    if op == "==":
        return lambda run: loose_eq(left(run), right(run))
    if op == "!=":
        return lambda run: not loose_eq(left(run), right(run))
    if op == ">":
        return lambda run: loose_gt(left(run), right(run))
    if op == "<":
        return lambda run: loose_lt(left(run), right(run))

    compare = loose_gt if op == ">=" else loose_lt

    def or_equal(run: Run) -> bool:
        a = left(run)
        b = right(run)
        return loose_eq(a, b) or compare(a, b)

    return or_equal


def _compile_case(args: list[Compiled]) -> Compiled:
    pairs = list(zip(args[0:-1:2], args[1:-1:2], strict=True))
    default = args[-1]

    def case(run: Run) -> Any:
        for predicate, value in pairs:
            p = predicate(run)
            if type(p) is not bool:
                raise ExpressionError("evaluation", "case predicate must evaluate to a boolean value")
            if p:
                return value(run)
        return default(run)

    return case


def _compile_call(node: Call) -> Compiled:
    args = [compile_tree(a) for a in node.args]
    if node.name == "case":
        return _compile_case(args)
    impl = FUNCTIONS[node.name].impl
    assert impl is not None
    if not args:
        return lambda run: impl(run, [])
    if len(args) == 1:
        (a0,) = args
        return lambda run: impl(run, [a0(run)])
    if len(args) == 2:
        a0, a1 = args
        return lambda run: impl(run, [a0(run), a1(run)])
    return lambda run: impl(run, [f(run) for f in args])


def _compile_literal(node: Literal) -> Compiled:
    value = node.value
    return lambda run: value


def _compile_not(node: Not) -> Compiled:
    operand = compile_tree(node.operand)
    return lambda run: not truthy(operand(run))


def _compile_group(node: Group) -> Compiled:
    return compile_tree(node.inner)


def _compile_context_ref(node: ContextRef) -> Compiled:
    return _compile_context(node.name)


_COMPILERS: Final[dict[type, Callable[[Any], Compiled]]] = {
    Index: _compile_index,
    ContextRef: _compile_context_ref,
    Path: _compile_path,
    Literal: _compile_literal,
    Binary: _compile_binary,
    Logical: _compile_logical,
    Not: _compile_not,
    Call: _compile_call,
    Group: _compile_group,
}


def compile_tree(node: Node) -> Compiled:
    """Turn a parsed tree into a function of the evaluation state."""
    return _COMPILERS[type(node)](node)
