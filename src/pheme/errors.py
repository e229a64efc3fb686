"""Pheme's one exception tree.

Every error that can reach a user derives from :class:`PhemeError`, and its
``str()`` is a single line that is safe to print: it never contains a secret
value and never needs a traceback to be understood. The CLI catches
``PhemeError`` at the top and prints ``pheme: <message>``; anything else that
escapes is a bug.

    PhemeError
    ├── UsageError            bad flags or arguments (exit code 2)
    ├── ConfigError           bad configuration or environment (PHEME_HOME, ...)
    ├── ExpressionError       ${{ }} lexing, parsing or evaluation (kind says which)
    ├── WorkflowError         a workflow file is invalid; carries every Problem found
    ├── PlanningError         triggers, inputs or the job graph cannot be planned
    ├── ExecutionError        a step or job could not be executed (missing shell, ...)
    ├── ActionError           a ``uses:`` cannot be resolved or run
    ├── DeployError           a deployment cannot start or proceed (target unreachable, ...)
    └── StorageError          the database is unreachable, corrupt or too new

Why one tree: callers decide by category (permanent user error vs. internal
failure) and the CLI maps categories to exit codes in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ActionError",
    "ConfigError",
    "DeployError",
    "ExecutionError",
    "ExpressionError",
    "PhemeError",
    "PlanningError",
    "Problem",
    "StorageError",
    "UsageError",
    "WorkflowError",
]


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found in a file, at a 1-based line and column.

    ``str()`` gives the compiler-style form ``file:line:col: message``;
    :meth:`github_format` gives GitHub's ``file (Line: L, Col: C): message``.
    """

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"

    def github_format(self) -> str:
        return f"{self.file} (Line: {self.line}, Col: {self.col}): {self.message}"


class PhemeError(Exception):
    """Base of every error Pheme reports to a user."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(PhemeError):
    exit_code = 2


class ConfigError(PhemeError):
    pass


class ExpressionError(PhemeError):
    """An error in a ``${{ }}`` expression.

    ``kind`` is ``lexing``, ``parsing`` or ``evaluation`` (GitHub's names).
    ``position`` is the 0-based offset in the expression, when known.
    """

    def __init__(
        self,
        kind: Literal["lexing", "parsing", "evaluation"],
        message: str,
        *,
        expression: str = "",
        position: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.expression = expression
        self.position = position

    def full_message(self) -> str:
        """GitHub's wording: ``<message>. Located at position <n> within expression: <expr>``."""
        if self.position is None:
            return self.message
        return f"{self.message}. Located at position {self.position + 1} within expression: {self.expression}"


class WorkflowError(PhemeError):
    """A workflow (or action, or deploy file) is invalid. ``problems`` lists them all."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        first = str(self.problems[0]) if self.problems else "invalid workflow"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(first + more)


class PlanningError(PhemeError):
    pass


class ExecutionError(PhemeError):
    pass


class ActionError(PhemeError):
    pass


class DeployError(PhemeError):
    pass


class StorageError(PhemeError):
    pass
