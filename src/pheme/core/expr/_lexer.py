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
from typing import Any, Final

from pheme.core.expr._values import str_to_number
from pheme.errors import ExpressionError

__all__ = ["MAX_EXPRESSION_LENGTH", "Token", "fast_tokenize", "tokenize"]

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
# ``a.b.*.c`` written without spaces: one token, value (head, segments), a star segment is None.
# Most real expressions are such paths; one token instead of 2k+1 halves lexing and parsing.
PATH: Final = 23


# A token is a plain tuple (cheaper to build than a NamedTuple):
# (type, value of a literal or identifier name, 0-based offset, lexeme).
Token = tuple[int, Any, int, str]
TYPE: Final = 0
VALUE: Final = 1
POS: Final = 2
LEXEME: Final = 3


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
_IDENT_RUN: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_PATH_RUN: Final = re.compile(
    r"(?>[A-Za-z_][A-Za-z0-9_-]*(?:\.(?:[A-Za-z_][A-Za-z0-9_-]*|\*))+)(?=[\s()\[\],.!><=&|]|\Z)"
)
# The fast path: all tokens of a well-formed expression in one C-level ``findall``.
# Group 1 is a good token, group 2 anything else (then the exact lexer takes over).
_FAST: Final = re.compile(
    r"""\s*(?:(
        (?>[A-Za-z_][A-Za-z0-9_-]*(?:\.(?:[A-Za-z_][A-Za-z0-9_-]*|\*))*)(?=[\s()\[\],.!><=&|]|\Z)
      | '(?:[^']|'')*'
      | ==|!=|<=|>=|&&|\|\||[()\[\],*!<>.]
      | [0-9+\-][^\s()\[\],!><=&|]*
    )|(\S))""",
    re.VERBOSE,
)
_BOUNDARY_CHARS: Final = frozenset("()[],.!><=&|")
_OPERATORS: Final = {
    "==": EQ,
    "!=": NE,
    "<=": LE,
    ">=": GE,
    "&&": AND,
    "||": OR,
    "!": BANG,
    "<": LT,
    ">": GT,
}
_TWO_CHAR: Final = frozenset({EQ, NE, LE, GE, AND, OR})
_KEYWORDS: Final = {
    "true": (TRUE, True),
    "false": (FALSE, False),
    "null": (NULL, None),
    "NaN": (NUMBER, math.nan),
    "Infinity": (NUMBER, math.inf),
}
# After these, '.' dereferences instead of starting a number.
_DEREF_AFTER: Final = frozenset({IDENT, RBRACKET, RPAREN, STAR, PATH})


_FAST_SIMPLE: Final = {**_SINGLE, **_OPERATORS, ".": DOT}


def fast_tokenize(text: str) -> tuple[list[int], list[Any]] | None:
    """Token types and values of a well-formed expression, without positions; None if unsure.

    None sends the caller to :func:`tokenize`, which is exact (and reports
    errors). Used for speed: one ``findall`` instead of a Python loop per character.
    """
    if len(text) > MAX_EXPRESSION_LENGTH:
        return None
    types: list[int] = []
    values: list[Any] = []
    add_type = types.append
    add = values.append
    simple = _FAST_SIMPLE
    prev = EOF
    for good, bad in _FAST.findall(text):
        if bad:
            return None
        t = simple.get(good)
        if t is not None:
            if t == DOT and prev not in _DEREF_AFTER:
                return None  # a number such as .5
            add_type(t)
            add(None)
            prev = t
            continue
        c = good[0]
        if c == "'":
            raw = good[1:-1]
            add_type(STRING)
            add(raw.replace("''", "'") if "''" in raw else raw)
            prev = STRING
        elif c == "_" or "A" <= c <= "Z" or "a" <= c <= "z":
            if "." in good:
                if prev == DOT:
                    return None
                head, *rest = good.split(".")
                if head in _KEYWORDS:
                    return None
                add_type(PATH)
                add((head, tuple(None if s == "*" else s for s in rest)))
                prev = PATH
                continue
            kw = _KEYWORDS.get(good) if prev != DOT else None
            if kw is None:
                add_type(IDENT)
                add(good)
                prev = IDENT
            else:
                prev = kw[0]
                add_type(prev)
                add(kw[1])
        else:
            number = str_to_number(good)
            if number != number:
                return None
            add_type(NUMBER)
            add(number)
            prev = NUMBER
    add_type(EOF)
    add(None)
    return types, values


def _is_boundary(c: str) -> bool:
    return c in _BOUNDARY_CHARS or c.isspace()


def _error(text: str, symbol: str, pos: int) -> ExpressionError:
    return ExpressionError("lexing", f"Unexpected symbol: '{symbol}'", expression=text, position=pos)


def tokenize(text: str) -> tuple[list[int], list[Token]]:
    """Split ``text`` into tokens ending with EOF: (their types, the tokens). Raises ExpressionError."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            "parsing", f"Exceeded max expression length {MAX_EXPRESSION_LENGTH}", expression=text, position=0
        )
    types: list[int] = []
    tokens: list[Token] = []
    add_type = types.append
    add = tokens.append
    single = _SINGLE
    n = len(text)
    i = 0
    prev = EOF
    while i < n:
        c = text[i]
        if c == " ":
            i += 1
            continue
        t = single.get(c)
        if t is not None:
            add_type(t)
            add((t, None, i, c))
            prev = t
            i += 1
            continue
        if prev != DOT:
            m = _PATH_RUN.match(text, i)
            if m is not None:
                lexeme = m.group()
                head, *rest = lexeme.split(".")
                if head not in _KEYWORDS:
                    segments = tuple(None if s == "*" else s for s in rest)
                    add_type(PATH)
                    add((PATH, (head, segments), i, lexeme))
                    prev = PATH
                    i = m.end()
                    continue
        m = _IDENT_RUN.match(text, i)
        if m is not None:
            j = m.end()
            if j < n and not _is_boundary(text[j]):
                # Not an identifier after all (``b@r``): report the whole run.
                m = _RUN.match(text, i)
                raise _error(text, text[i : m.end() if m else j], i)
            lexeme = m.group()
            kw = _KEYWORDS.get(lexeme) if prev != DOT else None
            if kw is None:
                t = IDENT
                add((IDENT, lexeme, i, lexeme))
            else:
                t = kw[0]
                add((t, kw[1], i, lexeme))
            add_type(t)
            prev = t
            i = j
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
            add_type(STRING)
            add((STRING, value, i, text[i : j + 1]))
            prev = STRING
            i = j + 1
            continue
        if c == "." and prev in _DEREF_AFTER:
            add_type(DOT)
            add((DOT, None, i, c))
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
            add_type(NUMBER)
            add((NUMBER, number, i, lexeme))
            prev = NUMBER
            i = j
            continue
        t = _OPERATORS.get(text[i : i + 2], 0) or _OPERATORS.get(c, 0)
        if t:
            width = 2 if t in _TWO_CHAR else 1
            add_type(t)
            add((t, None, i, text[i : i + width]))
            prev = t
            i += width
            continue
        if c.isspace():
            i += 1
            continue
        # A lone '=', '&' or '|', or any other illegal character: report it with the rest of its run.
        m = _RUN.match(text, i + 1)
        raise _error(text, text[i : m.end() if m else i + 1], i)
    add_type(EOF)
    add((EOF, None, n, ""))
    return types, tokens
