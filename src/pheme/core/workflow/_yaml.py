"""Read YAML the way GitHub reads workflow files, keeping every position.

GitHub reads workflows with the YAML 1.2 core schema, not PyYAML's YAML 1.1
one, so ``on``/``yes``/``no``/``y``/``n`` stay strings, only ``true``/``false``
(any case variant the spec lists) are booleans, ``0755`` is the integer 755
and ``12_345`` is a string. Anchors and aliases are refused, and explicit tags
other than the core ones are errors, each with GitHub's wording.

We take libyaml's event stream (``yaml.CParser``: fast, and unlike the composer
it tells us about anchors) and build small :class:`Node` objects ourselves.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml
from yaml._yaml import CParser
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)

__all__ = ["BOOL", "FLOAT", "INT", "MAP", "NULL", "SEQ", "STR", "Node", "YamlError", "compose", "to_string"]

STR, INT, FLOAT, BOOL, NULL, MAP, SEQ = range(7)

_TAG = "tag:yaml.org,2002:"
_MAX_ALIAS_NODES = 100_000
_STYLE_NAMES = {'"': "DoubleQuoted", "'": "SingleQuoted", "|": "Literal", ">": "Folded"}


class Node:
    """One YAML node with its 1-based position.

    ``value`` is the Python value for scalars, a list of ``(key, value)`` node
    pairs for mappings and a list of nodes for sequences. ``expr`` is set by
    the template reader when a string holds at least one valid ``${{ }}``.
    """

    __slots__ = ("col", "expr", "kind", "line", "style", "value")

    def __init__(self, kind: int, value: Any, line: int, col: int, style: str | None = None) -> None:
        self.kind = kind
        self.value = value
        self.line = line
        self.col = col
        self.style = style
        self.expr = False

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Node({self.kind}, {self.value!r}, {self.line}:{self.col})"

    def to_python(self) -> Any:
        """The plain Python value (dicts keep the file's key order)."""
        if self.kind == MAP:
            return {to_string(k): v.to_python() for k, v in self.value}
        if self.kind == SEQ:
            return [v.to_python() for v in self.value]
        return self.value


class YamlError(Exception):
    """The file cannot be read as YAML at all (GitHub stops at the first such error).

    ``line``/``col`` are 0 when GitHub gives no position; ``message`` is GitHub's text.
    """

    def __init__(self, message: str, line: int = 0, col: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col


def to_string(node: Node) -> str:
    """GitHub's string form of a scalar (``''`` for null, ``true``, ``1.5``...)."""
    kind = node.kind
    if kind == STR:
        return str(node.value)
    if kind == NULL:
        return ""
    if kind == BOOL:
        return "true" if node.value else "false"
    if kind in (INT, FLOAT):
        return format_number(node.value)
    return ""


def format_number(value: float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


_INT_DEC = re.compile(r"[-+]?[0-9]+\Z")
_INT_OCT = re.compile(r"0o[0-7]+\Z")
_INT_HEX = re.compile(r"0x[0-9a-fA-F]+\Z")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
_INF = re.compile(r"[-+]?\.(?:inf|Inf|INF)\Z")
_NAN = re.compile(r"\.(?:nan|NaN|NAN)\Z")
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_TRUE = frozenset(("true", "True", "TRUE"))
_FALSE = frozenset(("false", "False", "FALSE"))
_MAYBE_TYPED = frozenset("0123456789+-.~nNtTfF")


def _resolve_int(text: str) -> int | None:
    if _INT_DEC.match(text):
        return int(text)
    if _INT_OCT.match(text):
        return int(text[2:], 8)
    if _INT_HEX.match(text):
        return int(text[2:], 16)
    return None


def _resolve_float(text: str) -> float | None:
    if _FLOAT.match(text):
        return float(text)
    if _INF.match(text):
        return -math.inf if text[0] == "-" else math.inf
    if _NAN.match(text):
        return math.nan
    return None


def _plain(text: str, line: int, col: int) -> Node:
    """Resolve an untagged plain scalar with the YAML 1.2 core schema."""
    if not text:
        return Node(NULL, None, line, col)
    if text[0] not in _MAYBE_TYPED:
        return Node(STR, text, line, col)
    if text in _NULLS:
        return Node(NULL, None, line, col)
    if text in _TRUE:
        return Node(BOOL, True, line, col)
    if text in _FALSE:
        return Node(BOOL, False, line, col)
    i = _resolve_int(text)
    if i is not None:
        return Node(INT, i, line, col)
    f = _resolve_float(text)
    if f is not None:
        return Node(FLOAT, f, line, col)
    return Node(STR, text, line, col)


def _tagged(ev: ScalarEvent, tag: str, line: int, col: int) -> Node:
    text = ev.value
    if tag in ("!", _TAG + "str"):
        return Node(STR, text, line, col, ev.style)
    if not tag.startswith(_TAG) or tag[len(_TAG) :] not in ("null", "bool", "int", "float"):
        raise YamlError(f"Unexpected tag '{tag}'")
    if ev.style:
        raise YamlError(
            f"The scalar style '{_STYLE_NAMES.get(ev.style, ev.style)}' on line {line} and column {col} "
            f"is not valid with the tag '{tag}'"
        )
    kind = tag[len(_TAG) :]
    node: Node | None = None
    if kind == "null":
        if text in _NULLS:
            node = Node(NULL, None, line, col)
    elif kind == "bool":
        if text in _TRUE or text in _FALSE:
            node = Node(BOOL, text in _TRUE, line, col)
    elif kind == "int":
        i = _resolve_int(text)
        if i is not None:
            node = Node(INT, i, line, col)
    else:
        i = _resolve_int(text)
        f = float(i) if i is not None else _resolve_float(text)
        if f is not None:
            node = Node(FLOAT, f, line, col)
    if node is None:
        raise YamlError(f"The value '{text}' on line {line} and column {col} is invalid for the type '{tag}'")
    return node


def _copy(node: Node, budget: list[int]) -> Node:
    """A deep copy for an alias (the reader annotates nodes, so none may be shared)."""
    budget[0] -= 1
    if budget[0] < 0:
        raise YamlError("Maximum object size exceeded", node.line, node.col)
    if node.kind == MAP:
        value: Any = [(_copy(k, budget), _copy(v, budget)) for k, v in node.value]
    elif node.kind == SEQ:
        value = [_copy(v, budget) for v in node.value]
    else:
        value = node.value
    return Node(node.kind, value, node.line, node.col, node.style)


class _Builder:
    __slots__ = ("allow_anchors", "anchors", "budget", "max_depth", "parser")

    def __init__(self, parser: Any, max_depth: int, allow_anchors: bool) -> None:
        self.parser = parser
        self.max_depth = max_depth
        self.allow_anchors = allow_anchors
        self.anchors: dict[str, Node] = {}
        self.budget = [_MAX_ALIAS_NODES]

    def node(self, ev: Any, depth: int) -> Node:
        anchor = getattr(ev, "anchor", None)
        if anchor is None:
            return self._node(ev, depth)
        mark = ev.start_mark
        line = mark.line + 1
        col = mark.column + 1
        if not self.allow_anchors:
            if type(ev) is AliasEvent:
                raise YamlError(
                    f"Anchors are not currently supported. Remove the alias '{anchor}'", line, col
                )
            raise YamlError(f"Anchors are not currently supported. Remove the anchor '{anchor}'", line, col)
        if type(ev) is AliasEvent:
            target = self.anchors.get(anchor)
            if target is None:
                raise YamlError(
                    f"Unknown alias '{anchor}': no anchor of that name is defined before it", line, col
                )
            return _copy(target, self.budget)
        built = self._node(ev, depth)
        self.anchors[anchor] = built
        return built

    def _node(self, ev: Any, depth: int) -> Node:
        mark = ev.start_mark
        line = mark.line + 1
        col = mark.column + 1
        cls = type(ev)
        if cls is ScalarEvent:
            tag = ev.tag
            if tag is None:
                if ev.style:
                    return Node(STR, ev.value, line, col, ev.style)
                return _plain(ev.value, line, col)
            try:
                return _tagged(ev, tag, line, col)
            except YamlError as exc:
                raise YamlError(exc.message, line, col) from None
        depth += 1
        if depth > self.max_depth:
            raise YamlError("Maximum object depth exceeded", line, col)
        tag = ev.tag
        get = self.parser.get_event
        if cls is MappingStartEvent:
            if tag is not None and tag not in ("!", _TAG + "map"):
                raise YamlError(f"Unexpected tag '{tag}'", line, col)
            pairs: list[tuple[Node, Node]] = []
            while True:
                kev = get()
                if type(kev) is MappingEndEvent:
                    break
                key = self.node(kev, depth)
                value = self.node(get(), depth)
                pairs.append((key, value))
            return Node(MAP, pairs, line, col)
        if cls is SequenceStartEvent:
            if tag is not None and tag not in ("!", _TAG + "seq"):
                raise YamlError(f"Unexpected tag '{tag}'", line, col)
            items: list[Node] = []
            while True:
                iev = get()
                if type(iev) is SequenceEndEvent:
                    break
                items.append(self.node(iev, depth))
            return Node(SEQ, items, line, col)
        raise YamlError(f"Unexpected YAML event {cls.__name__}", line, col)  # pragma: no cover


def compose(text: str, *, max_depth: int = 50, allow_anchors: bool = True) -> Node | None:
    """Parse one YAML document into :class:`Node` s. ``None`` for an empty file.

    Aliases are expanded (GitHub accepts anchors since 2025; its older parser,
    which ``allow_anchors=False`` reproduces, refused them).
    Raises :class:`YamlError` for syntax errors, bad tags, too-deep nesting.
    """
    parser: Any = CParser(text)
    try:
        try:
            ev = parser.get_event()
            if type(ev) is not StreamStartEvent:  # pragma: no cover
                raise YamlError("Expected the start of a YAML stream")
            ev = parser.get_event()
            if type(ev) is StreamEndEvent:
                return None
            if type(ev) is not DocumentStartEvent:  # pragma: no cover
                raise YamlError("Expected a YAML document")
            root = _Builder(parser, max_depth, allow_anchors).node(parser.get_event(), 0)
            ev = parser.get_event()
            if type(ev) is not DocumentEndEvent:  # pragma: no cover
                raise YamlError("Expected the end of the YAML document")
            ev = parser.get_event()
            if type(ev) is not StreamEndEvent:
                mark = ev.start_mark
                raise YamlError(
                    "Only one YAML document is allowed in a workflow file", mark.line + 1, mark.column + 1
                )
            return root
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            parts = [p for p in (exc.context, exc.problem) if p]
            message = ", ".join(parts) if parts else "invalid YAML"
            message = message[0].upper() + message[1:]
            if mark is None:
                raise YamlError(message) from None
            raise YamlError(message, mark.line + 1, mark.column + 1) from None
        except yaml.YAMLError as exc:
            raise YamlError(f"Invalid YAML: {exc}") from None
    finally:
        parser.dispose()
