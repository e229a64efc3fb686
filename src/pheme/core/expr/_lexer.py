"""Lexer: expression text → tokens, with GitHub's rules and error wording.

Hand-written for speed: single-character tokens are one dict lookup, and runs
(identifiers, numbers, whitespace) are scanned with ``str`` methods or one
precompiled pattern match per run, never a regex per character.

GitHub quirks kept on purpose (the conformance data depends on them):

* ``+``/``-`` start a number literal, so ``-1`` is one token and ``1-1`` is the
  single bad symbol ``1-1``;
* ``.`` after an identifier, ``]``, ``)`` or ``*`` is the dereference
  operator; anywhere else it starts a number (``.5``);
* a number run continues up to the next boundary character, then must be a
  JavaScript ``Number()`` — so ``0x01p2`` or ``-Inf`` are lexing errors;
* ``true``/``false``/``null``/``NaN``/``Infinity`` are keywords except right
  after a ``.`` (``foo.true`` is a property);
* a lone ``=``, ``&`` or ``|`` swallows the rest of its run and is reported
  as one unexpected symbol (``'=2'``).
"""

from __future__ import annotations

import math
import re
from typing import Any, Final, NamedTuple

from pheme.core.expr._values import str_to_number
from pheme.errors import ExpressionError

__all__ = ["MAX_EXPRESSION_LENGTH", "Token", "tokenize"]

MAX_EXPRESSION_LENGTH: Final = 21000

# Token types.
EOF: Final = 0
LPAREN: Final = 1
RPAREN: Final = 2
LBRACKET: Final = 3
RBRACKET: Final = 4
COMMA: Final = 5
DOT: Final = 6
BANG: Final = 7
NE: Final = 8
EQ: Final = 9
GT: Final = 10
GE: Final = 11
LT: Final = 12
LE: Final = 13
AND: Final = 14
OR: Final = 15
STAR: Final = 16
NUMBER: Final = 17
STRING: Final = 18
IDENT: Final = 19
TRUE: Final = 20
FALSE: Final = 21
NULL: Final = 22


class Token(NamedTuple):
    type: int
    value: Any  # number/string/bool value of literals
    pos: int  # 0-based offset in the expression
    lexeme: str


_SINGLE: Final = {
    "(": LPAREN,
    ")": RPAREN,
    "[": LBRACKET,
    "]": RBRACKET,
    ",": COMMA,
    "*": STAR,
}

# Characters that end an identifier or number run (plus whitespace).
_BOUNDARY_CLASS: Final = r"()\[\],.!><=&|"
# A run that is not a boundary: identifiers and bad symbols.
_RUN: Final = re.compile(rf"[^\s{_BOUNDARY_CLASS}]*")
# A number run: like a run, but '.' does not end it.
_NUMBER_RUN: Final = re.compile(r"[^\s()\[\],!><=&|]*")
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_KEYWORDS: Final = {
    "true": (TRUE, True),
    "false": (FALSE, False),
    "null": (NULL, None),
    "NaN": (NUMBER, math.nan),
    "Infinity": (NUMBER, math.inf),
}
# After these, '.' dereferences instead of starting a number.
_DEREF_AFTER: Final = frozenset({IDENT, RBRACKET, RPAREN, STAR})


def _error(text: str, symbol: str, pos: int) -> ExpressionError:
    return ExpressionError("lexing", f"Unexpected symbol: '{symbol}'", expression=text, position=pos)


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an EOF token. Raises ExpressionError(kind="lexing")."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            "parsing", f"Exceeded max expression length {MAX_EXPRESSION_LENGTH}", expression=text, position=0
        )
    tokens: list[Token] = []
    append = tokens.append
    n = len(text)
    i = 0
    prev = EOF
    while i < n:
        c = text[i]
        t = _SINGLE.get(c)
        if t is not None:
            append(Token(t, None, i, c))
            prev = t
            i += 1
            continue
        if c == " " or c.isspace():
            i += 1
            continue
        if c == "'":
            j = i + 1
            while True:
                j = text.find("'", j)
                if j < 0:
                    raise _error(text, text[i:], i)
                if j + 1 < n and text[j + 1] == "'":
                    j += 2
                    continue
                break
            raw = text[i + 1 : j]
            value = raw.replace("''", "'") if "''" in raw else raw
            append(Token(STRING, value, i, text[i : j + 1]))
            prev = STRING
            i = j + 1
            continue
        if c == "." and prev in _DEREF_AFTER:
            append(Token(DOT, None, i, c))
            prev = DOT
            i += 1
            continue
        if c == "." or c == "-" or c == "+" or "0" <= c <= "9":
            m = _NUMBER_RUN.match(text, i + 1)
            j = m.end() if m else i + 1
            lexeme = text[i:j]
            number = str_to_number(lexeme)
            if number != number:
                raise _error(text, lexeme, i)
            append(Token(NUMBER, number, i, lexeme))
            prev = NUMBER
            i = j
            continue
        nxt = text[i + 1] if i + 1 < n else ""
        if c == "=" or c == "&" or c == "|" or c == "!" or c == "<" or c == ">":
            if c == "!":
                t = NE if nxt == "=" else BANG
            elif c == "<":
                t = LE if nxt == "=" else LT
            elif c == ">":
                t = GE if nxt == "=" else GT
            elif nxt == c:
                t = EQ if c == "=" else (AND if c == "&" else OR)
            else:
                # Illegal lone operator: report it together with the rest of its run.
                m = _RUN.match(text, i + 1)
                j = m.end() if m else i + 1
                raise _error(text, text[i:j], i)
            width = 2 if t in (NE, LE, GE, EQ, AND, OR) else 1
            append(Token(t, None, i, text[i : i + width]))
            prev = t
            i += width
            continue
        # Identifier, keyword, or an illegal symbol.
        m = _RUN.match(text, i)
        j = m.end() if m else i
        if j == i:  # cannot happen: every boundary character is handled above
            j = i + 1
        lexeme = text[i:j]
        if not _IDENTIFIER.match(lexeme):
            raise _error(text, lexeme, i)
        kw = _KEYWORDS.get(lexeme) if prev != DOT else None
        if kw is not None:
            append(Token(kw[0], kw[1], i, lexeme))
            prev = kw[0]
        else:
            append(Token(IDENT, lexeme, i, lexeme))
            prev = IDENT
        i = j
    append(Token(EOF, None, n, ""))
    return tokens
