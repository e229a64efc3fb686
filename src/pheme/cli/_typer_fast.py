"""Typer, without pydantic for the parameters that need no conversion.

Why: Typer 0.29 coerces EVERY parameter through a pydantic ``TypeAdapter``
built on each invocation, even an option that was not given. For ``pheme
run`` that is importing pydantic plus ~16 adapters: about 0.1 s of a command
whose whole run of a small workflow takes well under a second (measured with
``python -X importtime`` and cProfile).

What is handed through here gives exactly what pydantic would: an absent
value (``None``, or ``()`` for a repeatable option, as Typer's own
``RuntimeParam.coerce`` does before any adapter), a ``str`` for a ``str``
parameter, a string or path for a plain ``Path`` parameter (no ``exists``,
``resolve_path``, ``dir_okay``... options: the path is built, nothing
checked), and lists of those. Everything else (numbers, ranges, choices,
constrained paths, files, custom parsers) goes to Typer's own coercion,
built the first time such a value arrives.

The shim relies on Typer internals (``typer.core._TyperParameter`` and its
lazy ``get_runtime_param``); when they are not there it patches nothing and
Typer behaves as released.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["install"]


def _plain_path(info: Any) -> bool:
    return (
        not getattr(info, "exists", True)
        and getattr(info, "file_okay", False)
        and getattr(info, "dir_okay", False)
        and not getattr(info, "writable", True)
        and getattr(info, "readable", False)
        and not getattr(info, "resolve_path", True)
        and not getattr(info, "allow_dash", True)
        and getattr(info, "path_type", 1) is None
    )


def _leaf(annotation: Any, info: Any) -> type | None:
    """``str`` or ``Path`` when values of this leaf type pass through unchanged, else None."""
    if annotation is str:
        return str
    if annotation is Path and _plain_path(info):
        return Path
    return None


class _Light:
    """Coerces what needs no pydantic; hands anything else to Typer's own coercion."""

    def __init__(self, descriptor: Any, build: Any) -> None:
        self._descriptor = descriptor
        self._build = build  # Typer's build_runtime_param, called on first need
        self._full: Any = None
        info = descriptor.parameter_info
        annotation = descriptor.annotation
        self._list = False
        self._leaf: type | None = None
        if getattr(info, "parser", None) is None and getattr(info, "click_type", None) is None:
            if getattr(annotation, "__origin__", None) is list and len(getattr(annotation, "__args__", ())) == 1:
                self._list = True
                self._leaf = _leaf(annotation.__args__[0], info)
            else:
                self._leaf = _leaf(annotation, info)

    def _one(self, value: Any) -> Any:
        if self._leaf is str and isinstance(value, str):
            return value
        if self._leaf is Path and isinstance(value, str | Path):
            return Path(value)
        raise LookupError  # not ours: Typer decides

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        multi = param.multiple or param.nargs == -1
        if value is None:
            return () if multi else None
        try:
            if self._leaf is not None:
                if self._list and multi and isinstance(value, list | tuple):
                    return [self._one(v) for v in value]
                if not self._list and not multi:
                    return self._one(value)
        except LookupError:
            pass
        if self._full is None:
            self._full = self._build(self._descriptor)
        return self._full.coerce(value, param=param, ctx=ctx)


def install() -> None:
    """Patch Typer's parameters (idempotent; a no-op if Typer's internals differ)."""
    try:
        from typer import core
    except ImportError:  # pragma: no cover - Typer is a dependency
        return
    cls = getattr(core, "_TyperParameter", None)
    original = getattr(cls, "get_runtime_param", None)
    build = getattr(core, "build_runtime_param", None)
    if cls is None or original is None or build is None or getattr(original, "_pheme_light", False):
        return

    def get_runtime_param(self: Any) -> Any:
        cached = getattr(self, "_runtime_param", None)
        if cached is None:
            cached = _Light(self.type_descriptor, build)
            self._runtime_param = cached
        return cached

    get_runtime_param._pheme_light = True  # type: ignore[attr-defined]
    cls.get_runtime_param = get_runtime_param
