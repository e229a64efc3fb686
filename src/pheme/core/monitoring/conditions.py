"""A small, safe expression language for ``successCondition`` / ``failureCondition``.

Why our own: analysis templates come from users and repositories, so their
conditions must never reach ``eval()``. The language is just big enough for
what Argo Rollouts and Flagger users write::

    result >= 0.95
    result[0] < 0.5 && len(result) == 1
    isNaN(result) || result <= baseline * 1.1
    min(result) > 0.9 and not (max(result) > 2)

Grammar (lowest precedence first)::

    or      := and (("or" | "||") and)*
    and     := not (("and" | "&&") not)*
    not     := ("not" | "!") not | cmp
    cmp     := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?
    sum     := prod (("+" | "-") prod)*
    prod    := unary (("*" | "/" | "%") unary)*
    unary   := "-" unary | postfix
    postfix := atom ("[" or "]")*
    atom    := NUMBER | STRING | "true" | "false" | NAME | NAME "(" args ")" | "(" or ")"

Values are floats, booleans, strings and lists of floats (a query that returns
several series). Names are looked up in the variables given to
:meth:`Condition.evaluate` (``result``, ``baseline``...); an unknown name is a
parse-time error when the allowed names are known. Errors are
:class:`ConditionError` with the column, never a Python exception.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Union

from pheme.errors import PhemeError

__all__ = ["Condition", "ConditionError", "Value", "parse_condition"]

Value = Union[float, bool, str, list[float]]  # noqa: UP007 - a runtime alias


class ConditionError(PhemeError):
    """A condition that cannot be parsed or evaluated; ``str()`` gives the column."""

    def __init__(self, message: str, *, text: str = "", position: int | None = None) -> None:
        where = f" at column {position + 1}" if position is not None else ""
        shown = f" in condition {text!r}" if text else ""
        super().__init__(f"{message}{where}{shown}")
        self.text = text
        self.position = position


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op><=|>=|==|!=|&&|\|\||[<>+\-*/%()\[\],!])
    )""",
    re.VERBOSE,
)

_KEYWORDS = {"and": "&&", "or": "||", "not": "!"}


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # num | str | name | op | end
    text: str
    pos: int


def _lex(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            start = pos + (len(text[pos:]) - len(text[pos:].lstrip()))
            raise ConditionError(f"unexpected character {text[start]!r}", text=text, position=start)
        kind = m.lastgroup or "op"
        value = m.group(kind)
        start = m.start(kind)
        if kind == "name" and value in _KEYWORDS:
            kind, value = "op", _KEYWORDS[value]
        toks.append(_Tok(kind, value, start))
        pos = m.end()
    toks.append(_Tok("end", "", len(text)))
    return toks


# --- AST: small closures compiled once, evaluated many times -----------------

Env = Mapping[str, Value]
Node = Callable[[Env], Value]


def _num(v: Value, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise _EvalError(f"{what} needs a number, got {_describe(v)}")
    return float(v)


def _truthy(v: Value) -> bool:
    if isinstance(v, bool):
        return v
    raise _EvalError(f"'and', 'or' and 'not' need true/false, got {_describe(v)}")


def _describe(v: Value) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return f"a list of {len(v)} values (use result[0], min(), max(), avg() or len())"
    if isinstance(v, str):
        return f"the string {v!r}"
    return f"the number {v:g}"


class _EvalError(Exception):
    pass


def _as_list(v: Value, fn: str) -> list[float]:
    if isinstance(v, list):
        return v
    return [_num(v, f"{fn}()")]


def _fn_len(v: Value) -> Value:
    if isinstance(v, list | str):
        return float(len(v))
    return 1.0


def _agg(name: str, f: Callable[[list[float]], float]) -> Callable[[Value], Value]:
    def apply(v: Value) -> Value:
        values = _as_list(v, name)
        if not values:
            return math.nan
        return f(values)

    return apply


def _fn_isnan(v: Value) -> Value:
    if isinstance(v, list):
        return any(math.isnan(x) for x in v)
    return math.isnan(_num(v, "isNaN()"))


def _fn_isinf(v: Value) -> Value:
    if isinstance(v, list):
        return any(math.isinf(x) for x in v)
    return math.isinf(_num(v, "isInf()"))


_FUNCTIONS: dict[str, Callable[[Value], Value]] = {
    "len": _fn_len,
    "min": _agg("min", min),
    "max": _agg("max", max),
    "sum": _agg("sum", math.fsum),
    "avg": _agg("avg", lambda xs: math.fsum(xs) / len(xs)),
    "abs": lambda v: abs(_num(v, "abs()")),
    "isNaN": _fn_isnan,
    "isInf": _fn_isinf,
}

_CMP: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _equal(a: Value, b: Value) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or isinstance(b, str):
        return type(a) is type(b) and a == b
    if isinstance(a, list) or isinstance(b, list):
        raise _EvalError("cannot compare a list with '==' (use result[0], min() or max())")
    return float(a) == float(b)


class _Parser:
    def __init__(self, text: str, names: frozenset[str] | None) -> None:
        self.text = text
        self.toks = _lex(text)
        self.i = 0
        self.names = names
        self.used: set[str] = set()

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def error(self, message: str, tok: _Tok | None = None) -> ConditionError:
        t = tok or self.tok
        return ConditionError(message, text=self.text, position=t.pos)

    def eat(self, text: str) -> bool:
        if self.tok.kind == "op" and self.tok.text == text:
            self.i += 1
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.eat(text):
            got = "the end" if self.tok.kind == "end" else repr(self.tok.text)
            raise self.error(f"expected {text!r}, found {got}")

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise self.error("empty condition")
        node = self.or_()
        if self.tok.kind != "end":
            raise self.error(f"unexpected {self.tok.text!r}")
        return node

    def or_(self) -> Node:
        left = self.and_()
        while self.eat("||"):
            right = self.and_()
            left = (lambda a, b: lambda env: _truthy(a(env)) or _truthy(b(env)))(left, right)
        return left

    def and_(self) -> Node:
        left = self.not_()
        while self.eat("&&"):
            right = self.not_()
            left = (lambda a, b: lambda env: _truthy(a(env)) and _truthy(b(env)))(left, right)
        return left

    def not_(self) -> Node:
        if self.eat("!"):
            inner = self.not_()
            return lambda env: not _truthy(inner(env))
        return self.cmp()

    def cmp(self) -> Node:
        left = self.sum_()
        tok = self.tok
        if tok.kind == "op" and tok.text in ("<", "<=", ">", ">=", "==", "!="):
            self.i += 1
            right = self.sum_()
            if self.tok.kind == "op" and self.tok.text in ("<", "<=", ">", ">=", "==", "!="):
                raise self.error("comparisons cannot be chained; use 'and'")
            op = tok.text
            if op == "==":
                return lambda env: _equal(left(env), right(env))
            if op == "!=":
                return lambda env: not _equal(left(env), right(env))
            f = _CMP[op]
            return lambda env: f(_num(left(env), f"'{op}'"), _num(right(env), f"'{op}'"))
        return left

    def sum_(self) -> Node:
        left = self.prod()
        while self.tok.kind == "op" and self.tok.text in ("+", "-"):
            op = self.tok.text
            self.i += 1
            right = self.prod()
            if op == "+":
                left = (lambda a, b: lambda env: _num(a(env), "'+'") + _num(b(env), "'+'"))(left, right)
            else:
                left = (lambda a, b: lambda env: _num(a(env), "'-'") - _num(b(env), "'-'"))(left, right)
        return left

    def prod(self) -> Node:
        left = self.unary()
        while self.tok.kind == "op" and self.tok.text in ("*", "/", "%"):
            op = self.tok.text
            self.i += 1
            right = self.unary()
            left = _arith(op, left, right)
        return left

    def unary(self) -> Node:
        if self.eat("-"):
            inner = self.unary()
            return lambda env: -_num(inner(env), "'-'")
        return self.postfix()

    def postfix(self) -> Node:
        node = self.atom()
        while self.tok.kind == "op" and self.tok.text == "[":
            self.i += 1
            index = self.or_()
            self.expect("]")
            node = (lambda base, idx: lambda env: _index(base(env), idx(env)))(node, index)
        return node

    def atom(self) -> Node:
        tok = self.tok
        if tok.kind == "num":
            self.i += 1
            value = float(tok.text)
            return lambda env: value
        if tok.kind == "str":
            self.i += 1
            s = re.sub(r"\\(.)", r"\1", tok.text[1:-1])
            return lambda env: s
        if tok.kind == "name":
            self.i += 1
            if tok.text in ("true", "false"):
                b = tok.text == "true"
                return lambda env: b
            if tok.text in ("NaN", "nan"):
                return lambda env: math.nan
            if tok.text in ("Inf", "inf"):
                return lambda env: math.inf
            if self.eat("("):
                return self.call(tok)
            return self.name(tok)
        if self.eat("("):
            node = self.or_()
            self.expect(")")
            return node
        if tok.kind == "end":
            raise self.error("unexpected end of condition")
        raise self.error(f"unexpected {tok.text!r}")

    def call(self, tok: _Tok) -> Node:
        fn = _FUNCTIONS.get(tok.text)
        if fn is None:
            known = ", ".join(sorted(_FUNCTIONS))
            raise self.error(f"unknown function {tok.text!r} (known: {known})", tok)
        if self.tok.kind == "op" and self.tok.text == ")":
            raise self.error(f"{tok.text}() takes one argument")
        arg = self.or_()
        if self.tok.kind == "op" and self.tok.text == ",":
            raise self.error(f"{tok.text}() takes one argument")
        self.expect(")")
        return lambda env: fn(arg(env))

    def name(self, tok: _Tok) -> Node:
        key = tok.text
        if self.names is not None and key not in self.names:
            known = ", ".join(sorted(self.names))
            raise self.error(f"unknown name {key!r} (known: {known})", tok)
        self.used.add(key)

        def lookup(env: Env) -> Value:
            try:
                return env[key]
            except KeyError:
                raise _EvalError(f"{key!r} has no value") from None

        return lookup


def _arith(op: str, a: Node, b: Node) -> Node:
    def apply(env: Env) -> Value:
        x = _num(a(env), f"'{op}'")
        y = _num(b(env), f"'{op}'")
        if op == "*":
            return x * y
        if y == 0:
            # Prometheus' division semantics: x/0 is ±Inf or NaN, never an exception.
            return math.nan if x == 0 or math.isnan(x) else math.copysign(math.inf, x)
        return x / y if op == "/" else math.fmod(x, y)

    return apply


def _index(base: Value, idx: Value) -> Value:
    if not isinstance(base, list):
        if isinstance(base, str):
            raise _EvalError("cannot index a string")
        base = [_num(base, "'[]'")]
    i = _num(idx, "an index")
    if i != int(i):
        raise _EvalError(f"index {i:g} is not a whole number")
    n = int(i)
    if not -len(base) <= n < len(base):
        raise _EvalError(f"index {n} is out of range for {len(base)} value(s)")
    return base[n]


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed condition. ``names`` are the variables it reads."""

    text: str
    names: frozenset[str]
    _node: Node

    def evaluate(self, variables: Mapping[str, Value]) -> bool:
        """True or false; :class:`ConditionError` if it does not give a boolean or cannot be computed."""
        try:
            value = self._node(variables)
        except _EvalError as exc:
            raise ConditionError(str(exc), text=self.text) from None
        if not isinstance(value, bool):
            raise ConditionError(f"gives {_describe(value)}, not true/false", text=self.text)
        return value

    def value(self, variables: Mapping[str, Value]) -> Value:
        """The condition's value (of any type): useful for showing what was compared."""
        try:
            return self._node(variables)
        except _EvalError as exc:
            raise ConditionError(str(exc), text=self.text) from None


def parse_condition(text: str, names: Sequence[str] | None = ("result", "baseline")) -> Condition:
    """Parse ``text``; names outside ``names`` are refused (pass ``None`` to allow any)."""
    parser = _Parser(text, frozenset(names) if names is not None else None)
    node = parser.parse()
    return Condition(text, frozenset(parser.used), node)
