"""Parse a dotenv file (``--secrets-file``, ``--env-file``, ``--var-file``,
``--input-file``) without ever echoing a value.

The format is the common one (act, docker compose, python-dotenv agree on it):

- ``KEY=value`` and ``export KEY=value``; blank lines and ``# comments`` are skipped;
- unquoted values are trimmed, and `` # comment`` after them is dropped;
- ``'single quoted'`` values are literal (no escapes) and may span lines;
- ``"double quoted"`` values understand ``\\n \\r \\t \\" \\\\ \\$`` and may span lines;
- after a closing quote only whitespace or a comment may follow;
- a later key overrides an earlier one;
- keys are ``[A-Za-z_][A-Za-z0-9_]*``; with ``dashes=True`` (workflow_dispatch
  input names, e.g. ``dry-run``) they may also contain ``-``.

Why so careful about errors: the file holds secrets, and a parse error that quotes
the offending line would print one. Every error therefore names the file, the
1-based LINE NUMBER and what was expected, and never any part of a value.
"""

from __future__ import annotations

import re

from pheme.errors import ConfigError, Problem

__all__ = ["parse_dotenv"]

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DASHED_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "$": "$"}


def _fail(path: str, line: int, col: int, message: str) -> ConfigError:
    return ConfigError(str(Problem(path, line, col, message)))


def parse_dotenv(text: str, path: str = "<secrets>", *, dashes: bool = False) -> dict[str, str]:
    """Return the file's ``KEY -> value`` pairs, in file order.

    Raises :class:`ConfigError` ``path:line:col: message`` on the first malformed
    line; the message never contains the value.
    """
    key_re = _DASHED_KEY if dashes else _KEY
    allowed = "letters, digits, - and _" if dashes else "letters, digits and _"
    result: dict[str, str] = {}
    pos = 0
    line = 1
    n = len(text)
    if text.startswith("\ufeff"):
        pos = 1
    while pos < n:
        end = text.find("\n", pos)
        if end == -1:
            end = n
        raw = text[pos:end]
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            pos = end + 1
            line += 1
            continue
        indent = len(raw) - len(raw.lstrip())
        body = raw.lstrip()
        col = indent + 1
        if body.startswith("export") and len(body) > 6 and body[6] in " \t":
            rest = body[6:].lstrip()
            col += len(body) - len(rest)
            body = rest
        match = key_re.match(body)
        if not match:
            raise _fail(path, line, col, "expected KEY=VALUE (a key starts with a letter or _)")
        key = match.group(0)
        after_key = body[match.end() :]
        eq_rest = after_key.lstrip(" \t")
        if not eq_rest.startswith("="):
            # Never naming the key: a malformed line may be a pasted secret.
            if "=" in body:
                raise _fail(path, line, col, f"expected KEY=VALUE (a key has only {allowed})")
            raise _fail(path, line, col, "expected KEY=VALUE (no '=' found)")
        value_part = eq_rest[1:].lstrip(" \t")
        # Offset of value_part's first character within the whole text.
        value_start = end - len(value_part)
        value_col = len(raw) - len(value_part) + 1
        if value_part[:1] in ("'", '"'):
            quote = value_part[0]
            value, close, lines_used = _quoted(text, value_start + 1, quote)
            if close == -1:
                raise _fail(path, line, value_col, f"unterminated {_quote_name(quote)} value for {key}")
            tail_end = text.find("\n", close + 1)
            if tail_end == -1:
                tail_end = n
            tail = text[close + 1 : tail_end].strip()
            if tail and not tail.startswith("#"):
                raise _fail(
                    path,
                    line + lines_used,
                    1,
                    f"unexpected text after the closing quote of {key}",
                )
            result[key] = value
            pos = tail_end + 1
            line += lines_used + 1
            continue
        # Unquoted: drop an inline comment (" #..."), trim.
        comment = re.search(r"\s#", value_part)
        if comment:
            value_part = value_part[: comment.start()]
        result[key] = value_part.strip()
        pos = end + 1
        line += 1
    return result


def _quote_name(quote: str) -> str:
    return "double-quoted" if quote == '"' else "single-quoted"


def _quoted(text: str, start: int, quote: str) -> tuple[str, int, int]:
    """Read a quoted value starting just after the opening quote.

    Returns ``(value, index of the closing quote or -1, newlines crossed)``.
    """
    out: list[str] = []
    i = start
    n = len(text)
    newlines = 0
    while i < n:
        ch = text[i]
        if ch == quote:
            return "".join(out), i, newlines
        if ch == "\n":
            newlines += 1
        if ch == "\\" and quote == '"' and i + 1 < n:
            nxt = text[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
        out.append(ch)
        i += 1
    return "", -1, newlines
