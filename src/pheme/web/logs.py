"""A job's log as the UI shows it: ``##[group]`` … ``##[endgroup]`` folded, annotations marked.

    fold(["##[group]Run make", "cc -o x", "##[endgroup]", "ok"], start=0)
    -> [Group("Run make", [Line(1, "cc -o x", "")]), Line(3, "ok", "")]

Pure and shared by the page (server-side rendering) and the tests. The live
tail in ``static/pheme.js`` applies the same rules to lines arriving over SSE,
so a page rendered half-way and then tailed looks like one rendered at the end.
Line numbers are 1-based like GitHub's. Groups do not nest (GitHub's viewer
does not either): a ``##[group]`` inside an open group closes it first; an
``##[endgroup]`` with no open group is dropped; a group left open at the end
stays open (its job may still be writing into it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Group", "Line", "fold", "line_kind"]

_KINDS = ("error", "warning", "notice", "debug", "command")


@dataclass(frozen=True, slots=True)
class Line:
    number: int  # 1-based
    text: str
    kind: str  # "", "error", "warning", "notice", "debug", "command"


@dataclass(slots=True)
class Group:
    title: str
    number: int  # the ##[group] line's number
    children: list[Line] = field(default_factory=list)
    closed: bool = False

    @property
    def failed(self) -> bool:
        """A group holding an error line opens by default (the reader wants to see it)."""
        return any(c.kind == "error" for c in self.children)


def line_kind(text: str) -> tuple[str, str]:
    """``("error", "boom")`` for ``##[error]boom``; ``("", text)`` for a plain line."""
    if text.startswith("##["):
        close = text.find("]")
        if close > 3:
            kind = text[3:close]
            if kind in _KINDS:
                return kind, text[close + 1 :]
    if text.startswith("[command]"):
        return "command", text[len("[command]") :]
    return "", text


def fold(lines: list[str], start: int = 0) -> list[Line | Group]:
    """Nest ``lines`` (the log from 0-based line ``start``) into groups."""
    root: list[Line | Group] = []
    open_group: Group | None = None
    for offset, text in enumerate(lines):
        number = start + offset + 1
        if text.startswith("##[group]"):
            if open_group is not None:
                open_group.closed = True
            open_group = Group(text[len("##[group]") :] or "group", number)
            root.append(open_group)
        elif text.startswith("##[endgroup]"):
            if open_group is not None:
                open_group.closed = True
                open_group = None
        else:
            kind, shown = line_kind(text)
            line = Line(number, shown, kind)
            if open_group is not None:
                open_group.children.append(line)
            else:
                root.append(line)
    return root
