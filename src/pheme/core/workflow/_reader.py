"""Schema validation of a composed YAML tree, the way GitHub's template reader does it.

The reader walks the :class:`~pheme.core.workflow._yaml.Node` tree against a
definition from :mod:`._schema`, reporting GitHub's messages ("Unexpected value
'x'", "A sequence was not expected", "Required property is missing: y", ...).
Along the way it finds ``${{ }}`` in strings, checks each against the contexts
allowed at that place, and marks nodes that hold expressions (``node.expr``).

It also normalises scalars the way GitHub does: a number or boolean written
where only a string is allowed becomes that string (``3.10`` → ``"3.1"``), so
the model built afterwards sees exactly what GitHub would use.
"""

from __future__ import annotations

from collections.abc import Callable

from pheme.core.workflow._schema import DEFS, Def
from pheme.core.workflow._yaml import BOOL, FLOAT, INT, MAP, NULL, SEQ, STR, Node, to_string

__all__ = ["LITERAL_EXPRESSION", "MAX_EXPRESSION_LENGTH", "Reader", "scan_template"]

MAX_EXPRESSION_LENGTH = 21000
# ``node.style`` of a string written as ``${{ 'literal' }}`` (GitHub reads it as the literal).
LITERAL_EXPRESSION = "${{"
_OPEN = "${{"
_BACKGROUND_PROPS = frozenset(("background", "wait", "wait-all", "cancel"))
_BACKGROUND_ONLY = frozenset(("wait", "wait-all", "cancel"))
_NOT_CLOSED = "The expression is not closed. An unescaped ${{ sequence was found, but the closing }} sequence was not found."

# (definition, allowed context) — GitHub's DefinitionInfo.
Info = tuple[Def, tuple[str, ...]]
ErrorSink = Callable[[Node, str], None]
# Checks one expression body against an allowed context; returns GitHub's error text or None.
ExprCheck = Callable[[str, tuple[str, ...]], "str | None"]


def scan_template(raw: str) -> list[tuple[int, int]] | None:
    """Find the ``${{ ... }}`` segments of ``raw`` exactly as GitHub does.

    Returns ``(start, end)`` offsets of each ``${{`` and of the character after
    its ``}}``; ``None`` if one is not closed. Single quotes inside toggle a
    string, so ``}}`` inside ``'...'`` does not close the expression.
    """
    result: list[tuple[int, int]] = []
    start = raw.find(_OPEN)
    n = len(raw)
    while start >= 0:
        i = start + 3
        end = -1
        in_string = False
        while i < n:
            c = raw[i]
            if c == "'":
                in_string = not in_string
            elif not in_string and c == "}" and raw[i - 1] == "}":
                end = i
                break
            i += 1
        if end < 0:
            return None
        result.append((start, end + 1))
        start = raw.find(_OPEN, end + 1)
    return result


def _expression_string(trimmed: str) -> str | None:
    """``'it''s'`` → ``it's``; None when the expression is not one string literal."""
    out = []
    in_string = False
    for i, c in enumerate(trimmed):
        if c == "'":
            in_string = not in_string
            if in_string and i != 0:
                out.append(c)
        elif not in_string:
            return None
        else:
            out.append(c)
    return "".join(out)


class Reader:
    """Validates one document. Reports through ``error(node, message)``."""

    def __init__(
        self, error: ErrorSink, check_expression: ExprCheck, *, allow_background_steps: bool = False
    ):
        self.error = error
        self.check_expression = check_expression
        self.allow_background = allow_background_steps
        self._child_cache: dict[tuple[str, tuple[str, ...]], Info] = {}
        self._types_cache: dict[tuple[str, str], list[Def]] = {}
        self._scalar_cache: dict[str, list[Def]] = {}

    # ------------------------------------------------------------ definitions
    def info(self, name: str) -> Info:
        d = DEFS[name]
        return (d, d.context)

    def child(self, parent: Info, name: str) -> Info:
        key = (name, parent[1])
        got = self._child_cache.get(key)
        if got is not None:
            return got
        d = DEFS[name]
        ctx = parent[1]
        if d.context:
            seen = {c.upper() for c in ctx}
            extra = tuple(c for c in d.context if c.upper() not in seen)
            ctx = ctx + extra
        got = (d, ctx)
        self._child_cache[key] = got
        return got

    def _of_kind(self, d: Def, kind: str) -> list[Def]:
        key = (d.name, kind)
        got = self._types_cache.get(key)
        if got is None:
            if d.kind == kind:
                got = [d]
            elif d.kind == "one-of":
                got = [DEFS[n] for n in d.one_of if DEFS[n].kind == kind]
            else:
                got = []
            self._types_cache[key] = got
        return got

    def _scalars(self, d: Def) -> list[Def]:
        got = self._scalar_cache.get(d.name)
        if got is None:
            got = []
            if d.kind in ("string", "boolean", "number", "null"):
                got.append(d)
            elif d.kind == "one-of":
                for n in d.one_of:
                    got.extend(self._scalars(DEFS[n]))
            self._scalar_cache[d.name] = got
        return got

    # ------------------------------------------------------------ reading
    def read(self, node: Node, info: Info) -> None:
        kind = node.kind
        if kind == MAP:
            self._read_mapping(node, info)
        elif kind == SEQ:
            seqs = self._of_kind(info[0], "sequence")
            if not seqs:
                self.error(node, "A sequence was not expected")
                return
            item_info = self.child(info, seqs[0].item or "any")
            for item in node.value:
                self.read(item, item_info)
        else:
            if kind == STR:
                self.parse_scalar(node, info)
            self.validate(node, info)

    def _read_mapping(self, node: Node, info: Info) -> None:
        defs = self._of_kind(info[0], "mapping")
        if not defs:
            self.error(node, "A mapping was not expected")
            return
        first = defs[0]
        if len(defs) == 1 and not first.properties and first.loose_key:
            self._read_loose_mapping(node, info, first)
            return
        defs = list(defs)
        loose_key = first.loose_key
        loose_value = first.loose_value
        upper_keys: set[str] = set()
        has_expression_key = False
        for key, value in node.value:
            if key.kind == STR:
                self.parse_scalar(key, info)
            elif key.kind in (MAP, SEQ):
                self.error(key, "A mapping key must be a string")
                continue
            if key.expr:
                has_expression_key = True
                if info[1]:
                    self.read(value, self.child(info, "any"))
                else:
                    self.error(key, "A template expression is not allowed in this context")
                continue
            name = self._key_string(key)
            if name:
                upper = name.upper()
                if upper in upper_keys:
                    self.error(key, f"'{name}' is already defined")
                    continue
                upper_keys.add(upper)
            prop = self._match_property(defs, name)
            if prop is not None:
                if not self.allow_background and name in _BACKGROUND_PROPS:
                    self.error(key, f"Unexpected value '{name}'")
                    continue
                self.read(value, self.child(info, prop))
                continue
            if loose_key and loose_value:
                self.validate(key, self.child(info, loose_key))
                self.read(value, self.child(info, loose_value))
                continue
            self.error(key, f"Unexpected value '{name}'")
        if len(defs) > 1:
            hits: dict[str, int] = {}
            for d in defs:
                for p in d.properties:
                    hits[p] = hits.get(p, 0) + 1
            props = [p for p, c in hits.items() if c == 1]
            if not self.allow_background:
                props = [p for p in props if p not in _BACKGROUND_ONLY]
            self.error(
                node,
                f"There's not enough info to determine what you meant. Add one of these properties: "
                f"{', '.join(sorted(props))}",
            )
        elif not has_expression_key:
            for pname, (_typ, required) in defs[0].properties.items():
                if required and pname.upper() not in upper_keys:
                    self.error(node, f"Required property is missing: {pname}")

    def _read_loose_mapping(self, node: Node, info: Info, d: Def) -> None:
        key_info = self.child(info, d.loose_key or "string")
        value_info = self.child(info, d.loose_value or "any")
        upper_keys: set[str] = set()
        for key, value in node.value:
            if key.kind == STR:
                self.parse_scalar(key, info)
            elif key.kind in (MAP, SEQ):
                self.error(key, "A mapping key must be a string")
                continue
            if key.expr:
                if info[1]:
                    self.read(value, value_info)
                else:
                    self.error(key, "A template expression is not allowed in this context")
                continue
            name = self._key_string(key)
            if name:
                upper = name.upper()
                if upper in upper_keys:
                    self.error(key, f"'{name}' is already defined")
                    continue
                upper_keys.add(upper)
            self.validate(key, key_info)
            self.read(value, value_info)

    @staticmethod
    def _key_string(key: Node) -> str:
        if key.kind != STR:
            key.value = to_string(key)
            key.kind = STR
        return str(key.value)

    @staticmethod
    def _match_property(defs: list[Def], name: str) -> str | None:
        """GitHub's matchPropertyAndFilter: narrows ``defs`` to those knowing ``name``."""
        result = None
        missing = False
        for d in defs:
            p = d.properties.get(name)
            if p is not None:
                result = p[0]
            else:
                missing = True
        if result is not None and missing:
            defs[:] = [d for d in defs if name in d.properties]
        return result

    # ------------------------------------------------------------ scalars
    def validate(self, node: Node, info: Info) -> None:
        if node.expr:
            if not info[1]:
                self.error(node, "A template expression is not allowed in this context")
            return
        scalars = self._scalars(info[0])
        for d in scalars:
            if _matches(d, node):
                return
        if node.kind != STR:
            text = to_string(node)
            for d in scalars:
                if d.kind == "string" and _matches_string(d, text):
                    node.kind = STR
                    node.value = text
                    return
        self.error(node, f"Unexpected value '{to_string(node)}'")

    def parse_scalar(self, node: Node, info: Info) -> None:
        """Find and check the ``${{ }}`` in a string node; sets ``node.expr``."""
        raw = node.value
        if not raw or _OPEN not in raw:
            return
        segments = scan_template(raw)
        if segments is None:
            self.error(node, _NOT_CLOSED)
            return
        if len(raw) > MAX_EXPRESSION_LENGTH:
            self.error(node, f"Exceeded max expression length {MAX_EXPRESSION_LENGTH}")
            return
        ctx = info[1]
        failed = False
        for start, end in segments:
            body = raw[start + 3 : end - 2]
            trimmed = body.strip()
            if not trimmed:
                self.error(node, "An expression was expected")
                failed = True
                continue
            if trimmed.startswith("insert") and (len(trimmed) == 6 or trimmed[6].isspace()):
                count = len(trimmed[6:].split())
                if count:
                    self.error(
                        node,
                        "Exactly 0 parameter(s) were expected following the directive 'insert'. "
                        f"Actual parameter count: {count}",
                    )
                    failed = True
                    continue
                if start != 0 or end < len(raw):
                    self.error(
                        node,
                        "The directive 'insert' is not allowed in this context. Directives are not supported "
                        "for expressions that are embedded within a string. Directives are only supported when "
                        "the entire value is an expression.",
                    )
                    return
                continue
            message = self.check_expression(trimmed, ctx)
            if message is not None:
                self.error(node, message)
                failed = True
        if failed:
            return
        if len(segments) == 1 and segments[0] == (0, len(raw)):
            literal = _expression_string(raw[3:-2].strip())
            if literal is not None:
                node.value = literal
                node.style = LITERAL_EXPRESSION
                return
        node.expr = True


def _matches_string(d: Def, text: str) -> bool:
    if d.constant is not None:
        return d.constant == text
    if d.non_empty:
        return bool(text)
    return True


def _matches(d: Def, node: Node) -> bool:
    kind = d.kind
    nk = node.kind
    if kind == "string":
        return nk == STR and _matches_string(d, node.value)
    if kind == "boolean":
        return nk == BOOL
    if kind == "number":
        return nk in (INT, FLOAT)
    if kind == "null":
        return nk == NULL
    return False
