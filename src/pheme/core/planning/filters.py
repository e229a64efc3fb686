"""GitHub's filter patterns for ``branches``, ``tags`` and ``paths``.

The glob dialect (from GitHub's "Filter pattern cheat sheet"):

- ``*`` any run of characters except ``/``; ``**`` any run of characters;
  ``**/`` at a segment start also matches nothing (``**/README.md`` matches ``README.md``);
- ``?`` / ``+`` zero-or-one / one-or-more of the *preceding* character;
- ``[...]`` a character class of ``a-z``, ``A-Z``, ``0-9`` (ranges allowed);
- ``\\`` escapes the next character; a leading ``!`` negates the pattern.

Patterns are applied in order and the *last* matching one decides, which
is how ``['*.md', '!README.md', 'README*']`` re-includes ``README.md``.

Two ways to apply a list, because GitHub uses the lists two ways:

- :func:`skip` for *positive* filters (``branches``, ``tags``, ``paths``):
  run only if at least one input ends up included;
- :func:`filtered` for *ignore* filters (``*-ignore``): do not run if every
  input is ignored.

Branch/tag filters have one input (the short ref name); path filters have
many (the changed files), which is where "at least one" / "every" matters.
Compiled regexes are cached per pattern, since the same few patterns are
checked against every push.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from pheme.errors import PlanningError

__all__ = [
    "Pattern",
    "compile_pattern",
    "filtered",
    "included",
    "pattern_to_regex",
    "skip",
]


@dataclass(frozen=True, slots=True)
class Pattern:
    """One compiled filter pattern. ``negative`` is true for a ``!`` pattern."""

    source: str
    negative: bool
    regex: re.Pattern[str]

    def matches(self, value: str) -> bool:
        """Whether the glob (without its ``!``) matches ``value``."""
        return self.regex.fullmatch(value) is not None


def _is_range_char(ch: str) -> bool:
    return ("A" <= ch <= "z") or ("0" <= ch <= "9")


def _bracket(pattern: str, start: int) -> tuple[str, int]:
    """Translate ``[...]`` starting at ``pattern[start] == '['``; return (regex, next index)."""
    pos = start + 1
    out = ["["]
    if pos < len(pattern) and pattern[pos] == "]":
        raise PlanningError(f"invalid filter pattern {pattern!r}: empty brackets '[]'")
    first = pos
    while pos < len(pattern) and pattern[pos] != "]":
        ch = pattern[pos]
        if ch == "-":
            if pos == first or pos + 1 >= len(pattern) or pattern[pos + 1] == "]":
                raise PlanningError(f"invalid filter pattern {pattern!r}: invalid range in '[...]'")
            lo, hi = pattern[pos - 1], pattern[pos + 1]
            same_kind = _is_range_char(lo) and _is_range_char(hi) and ("0" <= lo <= "9") == ("0" <= hi <= "9")
            if not same_kind or lo > hi:
                raise PlanningError(
                    f"invalid filter pattern {pattern!r}: ranges can only include a-z, A-Z, A-z and 0-9"
                )
            out.append("-" + re.escape(hi))
            pos += 2
            continue
        if not _is_range_char(ch):
            raise PlanningError(
                f"invalid filter pattern {pattern!r}: '[...]' can only include a-z, A-Z and 0-9"
            )
        out.append(re.escape(ch))
        pos += 1
    if pos >= len(pattern):
        raise PlanningError(f"invalid filter pattern {pattern!r}: missing closing bracket ']' after '['")
    out.append("]")
    return "".join(out), pos + 1


def pattern_to_regex(pattern: str) -> str:
    """Translate one glob (without a leading ``!``) into an anchored-by-fullmatch regex."""
    out: list[str] = []
    pos = 0
    n = len(pattern)
    while pos < n:
        ch = pattern[pos]
        if ch == "*":
            if pos + 1 < n and pattern[pos + 1] == "*":
                if pos + 2 < n and pattern[pos + 2] == "/":
                    out.append("(?:.+/)?")
                    pos += 3
                else:
                    out.append(".*")
                    pos += 2
            else:
                out.append("[^/]*")
                pos += 1
        elif ch in "?+":
            # Quantifier of the preceding character; literal when nothing precedes it.
            out.append(ch if out else re.escape(ch))
            pos += 1
        elif ch == "[":
            text, pos = _bracket(pattern, pos)
            out.append(text)
        elif ch == "\\":
            if pos + 1 >= n:
                raise PlanningError(f"invalid filter pattern {pattern!r}: missing character after '\\'")
            out.append(re.escape(pattern[pos + 1]))
            pos += 2
        else:
            out.append(re.escape(ch))
            pos += 1
    return "".join(out)


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> Pattern:
    """Compile (and cache) one filter pattern. Raises PlanningError for an invalid one."""
    negative = pattern.startswith("!")
    body = pattern[1:] if negative else pattern
    try:
        regex = re.compile(pattern_to_regex(body), re.DOTALL)
    except re.error as exc:  # e.g. '**+' : a quantifier after a quantifier
        raise PlanningError(f"invalid filter pattern {pattern!r}: {exc}") from None
    return Pattern(pattern, negative, regex)


def _compile_all(patterns: Iterable[str]) -> list[Pattern]:
    return [compile_pattern(p) for p in patterns]


def included(patterns: Sequence[str], value: str) -> bool:
    """Whether ``value`` is included by the list: the last matching pattern decides."""
    result = False
    for pat in _compile_all(patterns):
        if pat.matches(value):
            result = not pat.negative
    return result


def skip(patterns: Sequence[str], inputs: Iterable[str]) -> bool:
    """For a positive filter: True when the workflow must NOT run.

    That is when no input is included. An empty pattern list never skips
    (the loader treats an absent filter as ``None`` and does not call this).
    """
    if not patterns:
        return False
    compiled = _compile_all(patterns)
    for value in inputs:
        decision = False
        for pat in compiled:
            if pat.matches(value):
                decision = not pat.negative
        if decision:
            return False
    return True


def filtered(patterns: Sequence[str], inputs: Iterable[str]) -> bool:
    """For an ignore filter: True when the workflow must NOT run.

    That is when every input is ignored. An input is ignored by the first
    pattern that matches it; a ``!`` pattern counts as matching when its
    glob does *not* match (act's reading, which the conformance cases fix).
    An empty pattern list never filters.
    """
    if not patterns:
        return False
    compiled = _compile_all(patterns)
    return all(any(pat.matches(value) != pat.negative for pat in compiled) for value in inputs)
