"""Finding ``${{ … }}`` in strings.

A template is literal text with embedded expressions. The closing ``}}`` is
searched outside single-quoted string literals, so ``${{ format('}}') }}``
is one expression. An opening ``${{`` without a closing ``}}`` is an error,
as on GitHub (it never silently becomes literal text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pheme.errors import ExpressionError

__all__ = ["TemplateExpr", "find_expressions", "split_template"]

_OPEN: Final = "${{"
_UNCLOSED: Final = (
    "The expression is not closed. An unescaped ${{ sequence was found, "
    "but the closing }} sequence was not found"
)


@dataclass(frozen=True, slots=True)
class TemplateExpr:
    """One ``${{ … }}``: ``source`` is the expression body (trimmed); ``start``/``end`` delimit
    the whole ``${{ … }}`` in the template (``end`` exclusive)."""

    source: str
    start: int
    end: int


def _closing(text: str, start: int) -> int:
    """Offset of the ``}}`` closing the expression whose body starts at ``start``, or -1."""
    in_string = False
    i = start
    n = len(text) - 1
    while i < n:
        c = text[i]
        if c == "'":
            in_string = not in_string  # '' inside a string toggles twice: still inside
        elif not in_string and c == "}" and text[i + 1] == "}":
            return i
        i += 1
    return -1


def split_template(text: str) -> list[str | TemplateExpr]:
    """Split ``text`` into literal pieces and expressions, in order (empty literals omitted)."""
    parts: list[str | TemplateExpr] = []
    pos = 0
    while True:
        i = text.find(_OPEN, pos)
        if i < 0:
            break
        j = _closing(text, i + 3)
        if j < 0:
            raise ExpressionError("parsing", _UNCLOSED, expression=text, position=i)
        if i > pos:
            parts.append(text[pos:i])
        parts.append(TemplateExpr(text[i + 3 : j].strip(), i, j + 2))
        pos = j + 2
    if pos < len(text):
        parts.append(text[pos:])
    return parts


def find_expressions(text: str) -> list[TemplateExpr]:
    """Every ``${{ … }}`` in ``text``."""
    if _OPEN not in text:
        return []
    return [p for p in split_template(text) if isinstance(p, TemplateExpr)]
