"""What an evaluation sees: the public EvalContext and the per-evaluation state."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from pheme.errors import ExpressionError

__all__ = ["MAX_MEMORY_CHARS", "EvalContext", "Run"]

# GitHub's runner stops an evaluation whose live strings exceed 1 MiB (UTF-16),
# which is what keeps format('{0}{0}…', toJSON(github)) from exhausting memory.
MAX_MEMORY_CHARS: Final = 1024 * 1024 // 2


@dataclass
class EvalContext:
    """The named values (``github``, ``env``, ``matrix``, …) and job state an expression reads.

    ``contexts`` maps context names to plain JSON-like data; names are looked
    up case-insensitively. ``job_status`` drives ``success()``/``failure()``/
    ``cancelled()``; ``skipped`` (a job some of whose needs were skipped, not
    failed) makes all three false. ``hash_files`` implements ``hashFiles(...)``: the core does
    no I/O, so the caller provides it (None → calling hashFiles is an error).
    """

    contexts: Mapping[str, Any] = field(default_factory=dict)
    job_status: Literal["success", "failure", "cancelled", "skipped"] = "success"
    hash_files: Callable[[Sequence[str]], str] | None = None


class Run:
    """State of one evaluation: the context plus the memory budget used so far."""

    __slots__ = ("contexts", "ctx", "memory")

    def __init__(self, ctx: EvalContext) -> None:
        self.ctx = ctx
        self.contexts = ctx.contexts
        self.memory = 0

    def charge(self, text: str) -> str:
        """Account for a string built during evaluation; too much → evaluation error."""
        self.memory += len(text)
        if self.memory > MAX_MEMORY_CHARS:
            raise ExpressionError("evaluation", "The maximum allowed memory size was exceeded")
        return text
