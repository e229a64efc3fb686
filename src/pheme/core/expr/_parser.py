"""Parser: tokens → a small AST, with GitHub's precedence, limits and error wording.

Precedence, lowest first: ``||``, ``&&``, ``== !=``, ``< <= > >=``, ``!``,
then postfix ``.name``, ``.*``, ``[expr]``, ``[*]`` (only after a context
name, a function call or a parenthesised group — never after a literal).

Checks done here, at parse time, as GitHub does them: unknown named values
(``Unrecognized named-value``), unknown functions and argument counts, and
the nesting limit (``Exceeded max expression depth 50``). The depth is
counted exactly the way GitHub's parsers count it (each sub-expression, each
``!``, each chain of ``&&``/``||`` and each postfix accessor is one level),
because the conformance data pins the boundary.
"""

from __future__ import annotations

from typing import Any, Final

from pheme.core.expr import _lexer as L
from pheme.core.expr._functions import FUNCTIONS, STATUS_FUNCTIONS
from pheme.errors import ExpressionError

__all__ = [
    "MAX_DEPTH",
    "Binary",
    "Call",
    "ContextRef",
    "Group",
    "Index",
    "Literal",
    "Logical",
    "Node",
    "Not",
    "Path",
    "parse_tree",
]

MAX_DEPTH: Final = 50


class Node:
    __slots__ = ()


class Literal(Node):
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class ContextRef(Node):
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class Index(Node):
    """``obj[index]`` / ``obj.name`` (index is a string Literal) / ``obj.*`` (index is None)."""

    __slots__ = ("index", "obj")

    def __init__(self, obj: Node, index: Node | None) -> None:
        self.obj = obj
        self.index = index


class Path(Node):
    """``root.a.b`` / ``root.*.b``: a context followed by property names (None = ``*``)."""

    __slots__ = ("root", "segments")

    def __init__(self, root: str, segments: tuple[str | None, ...]) -> None:
        self.root = root
        self.segments = segments


class Not(Node):
    __slots__ = ("operand",)

    def __init__(self, operand: Node) -> None:
        self.operand = operand


class Binary(Node):
    """A comparison: ``op`` is one of ``== != < <= > >=``."""

    __slots__ = ("left", "op", "right")

    def __init__(self, op: str, left: Node, right: Node) -> None:
        self.op = op
        self.left = left
        self.right = right


class Logical(Node):
    """``a && b && c`` or ``a || b || c`` (``op`` is ``&&`` or ``||``), flattened."""

    __slots__ = ("args", "op")

    def __init__(self, op: str, args: list[Node]) -> None:
        self.op = op
        self.args = args


class Call(Node):
    """A function call; ``name`` is lower-case (function names ignore case)."""

    __slots__ = ("args", "name")

    def __init__(self, name: str, args: list[Node]) -> None:
        self.name = name
        self.args = args


class Group(Node):
    __slots__ = ("inner",)

    def __init__(self, inner: Node) -> None:
        self.inner = inner


_COMPARISON_OPS: Final = {L.GT: ">", L.GE: ">=", L.LT: "<", L.LE: "<="}
_EQUALITY_OPS: Final = {L.EQ: "==", L.NE: "!="}
_STATUS_LOWER: Final = frozenset(STATUS_FUNCTIONS)
_LITERALS: Final = frozenset({L.NUMBER, L.STRING, L.TRUE, L.FALSE, L.NULL})


def _token_string(tok: L.Token) -> str:
    if tok[0] == L.EOF:
        return "EOF"
    if tok[0] == L.PATH:
        return str(tok[1][0])
    return tok[3]


class _Retry(Exception):
    """Raised in fast mode (no token positions) so the error is reported by a precise re-parse."""


class _Parser:
    """Recursive descent over the token types (``self.types``), one method per precedence level."""

    __slots__ = ("contexts", "depth", "functions", "i", "text", "tokens", "types", "used", "values")

    def __init__(
        self,
        text: str,
        contexts: frozenset[str] | None,
        functions: frozenset[str],
        fast: tuple[list[int], list[Any]] | None,
    ) -> None:
        self.text = text
        # Fast mode has no token positions: any error is re-raised by a precise re-parse.
        self.tokens: list[L.Token] | None
        if fast is not None:
            self.types, self.values = fast
            self.tokens = None
        else:
            self.types, self.tokens = L.tokenize(text)
            self.values = [tok[1] for tok in self.tokens]
        self.contexts = contexts  # lower-case names, or None for "any"
        self.functions = functions  # lower-case extra function names
        self.i = 0
        self.depth = 0
        self.used: set[str] = set()

    # -- errors -----------------------------------------------------------

    def error(self, description: str, index: int) -> Exception:
        if self.tokens is None:
            return _Retry()
        tok = self.tokens[index]
        return ExpressionError(
            "parsing", f"{description}: '{_token_string(tok)}'", expression=self.text, position=tok[2]
        )

    def unexpected(self) -> Exception:
        if self.types[self.i] == L.EOF and self.i > 0:
            return self.error("Unexpected end of expression", self.i - 1)
        return self.error("Unexpected symbol", self.i)

    def incr(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"Exceeded max expression depth {MAX_DEPTH}", self.i)

    # -- grammar ----------------------------------------------------------

    def parse(self) -> Node:
        if self.types[0] == L.EOF:
            return Literal(None)
        node = self.expression()
        if self.types[self.i] != L.EOF:
            raise self.error("Unexpected symbol", self.i)
        return node

    def expression(self) -> Node:
        self.incr()
        node = self.logical_or()
        self.depth -= 1
        return node

    def logical_or(self) -> Node:
        left = self.logical_and()
        types = self.types
        if types[self.i] != L.OR:
            return left
        self.incr()
        args = [left]
        while types[self.i] == L.OR:
            self.i += 1
            args.append(self.logical_and())
        self.depth -= 1
        return Logical("||", args)

    def logical_and(self) -> Node:
        left = self.equality()
        types = self.types
        if types[self.i] != L.AND:
            return left
        self.incr()
        args = [left]
        while types[self.i] == L.AND:
            self.i += 1
            args.append(self.equality())
        self.depth -= 1
        return Logical("&&", args)

    def equality(self) -> Node:
        """``==``/``!=`` over comparisons (``<`` … ``>=`` bind tighter), both left-associative."""
        types = self.types
        node = self.unary()
        while True:
            t = types[self.i]
            op = _COMPARISON_OPS.get(t)
            if op is not None:
                self.i += 1
                node = Binary(op, node, self.unary())
                continue
            op = _EQUALITY_OPS.get(t)
            if op is None:
                return node
            self.i += 1
            right = self.unary()
            while True:
                cop = _COMPARISON_OPS.get(types[self.i])
                if cop is None:
                    break
                self.i += 1
                right = Binary(cop, right, self.unary())
            node = Binary(op, node, right)

    def unary(self) -> Node:
        if self.types[self.i] == L.BANG:
            self.i += 1
            self.incr()
            operand = self.unary()
            self.depth -= 1
            return Not(operand)
        return self.postfix()

    def postfix(self) -> Node:
        node, indexable = self.primary()
        if not indexable:
            return node
        types = self.types
        levels = 0
        if type(node) is Path:
            # Each ``.name`` of the path is one level, as if it had been lexed token by token.
            levels = len(node.segments)
            if self.depth + levels > MAX_DEPTH:
                raise self.path_depth_error(self.i - 1, MAX_DEPTH - self.depth)
            self.depth += levels
        while True:
            t = types[self.i]
            if t == L.DOT:
                self.i += 1
                self.incr()
                levels += 1
                t = types[self.i]
                if t == L.IDENT:
                    node = Index(node, Literal(self.values[self.i]))
                    self.i += 1
                elif t == L.STAR:
                    self.i += 1
                    node = Index(node, None)
                else:
                    raise self.unexpected()
            elif t == L.LBRACKET:
                self.i += 1
                index: Node | None
                if types[self.i] == L.STAR:
                    self.i += 1
                    index = None
                else:
                    index = self.expression()
                if types[self.i] != L.RBRACKET:
                    raise self.unexpected()
                self.i += 1
                self.incr()
                levels += 1
                node = Index(node, index)
            else:
                break
        self.depth -= levels
        return node

    def path_depth_error(self, index: int, allowed: int) -> Exception:
        """The depth error at the segment of a PATH token that crosses the limit."""
        if self.tokens is None:
            return _Retry()
        tok = self.tokens[index]
        parts = str(tok[3]).split(".")
        offset = tok[2] + sum(len(p) + 1 for p in parts[: allowed + 1])
        segment = parts[allowed + 1]
        return ExpressionError(
            "parsing",
            f"Exceeded max expression depth {MAX_DEPTH}: '{segment}'",
            expression=self.text,
            position=offset,
        )

    def primary(self) -> tuple[Node, bool]:
        """One operand; the flag says whether postfix accessors may follow it."""
        i = self.i
        t = self.types[i]
        if t == L.PATH:
            root, segments = self.values[i]
            if self.contexts is not None and root.lower() not in self.contexts:
                raise self.error("Unrecognized named-value", i)
            self.i = i + 1
            return Path(root, segments), True
        if t == L.IDENT:
            self.i = i + 1
            if self.types[i + 1] == L.LPAREN:
                self.i = i + 2
                return self.call(i), True
            name: str = self.values[i]
            if self.contexts is not None and name.lower() not in self.contexts:
                raise self.error("Unrecognized named-value", i)
            return ContextRef(name), True
        if t in _LITERALS:
            self.i = i + 1
            return Literal(self.values[i]), False
        if t == L.LPAREN:
            self.i = i + 1
            inner = self.expression()
            if self.types[self.i] == L.EOF:
                raise self.error("Unexpected end of expression", self.i - 1)
            if self.types[self.i] != L.RPAREN:
                raise self.error("Unexpected symbol", self.i)
            self.i += 1
            return Group(inner), True
        raise self.unexpected()

    def call(self, ident: int) -> Node:
        args: list[Node] = []
        types = self.types
        while types[self.i] != L.RPAREN:
            if types[self.i] == L.EOF:
                raise self.unexpected()
            args.append(self.expression())
            if types[self.i] != L.RPAREN:
                if types[self.i] != L.COMMA:
                    raise self.unexpected()
                self.i += 1
        self.i += 1
        name = str(self.values[ident]).lower()
        spec = FUNCTIONS.get(name)
        if spec is None or (spec.extension and name not in self.functions):
            raise self.error("Unrecognized function", ident)
        if len(args) < spec.min_args:
            raise self.error("Too few parameters supplied", ident)
        if len(args) > spec.max_args:
            raise self.error("Too many parameters supplied", ident)
        if name == "case" and len(args) % 2 == 0:
            raise self.error("Even number of parameters supplied, requires an odd number of parameters", ident)
        self.used.add(name)
        return Call(name, args)


def parse_tree(
    text: str, contexts: frozenset[str] | None, functions: frozenset[str]
) -> tuple[Node, frozenset[str]]:
    """Parse ``text``; returns the tree and the (lower-case) names of the functions it calls.

    ``contexts`` and ``functions`` must already be lower-cased.
    """
    fast = L.fast_tokenize(text)
    if fast is not None:
        parser = _Parser(text, contexts, functions, fast)
        try:
            return parser.parse(), frozenset(parser.used)
        except _Retry:
            pass  # an error: parse again with positions, to report it exactly
    parser = _Parser(text, contexts, functions, None)
    node = parser.parse()
    return node, frozenset(parser.used)


def uses_status(functions_used: frozenset[str]) -> bool:
    return not functions_used.isdisjoint(_STATUS_LOWER)
