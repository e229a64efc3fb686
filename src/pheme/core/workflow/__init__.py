"""GitHub Actions workflow files: read, validate and model them exactly as GitHub does.

Public API (pure: no file I/O here — callers pass the text):

    parse_workflow(text, path, *, options=None) -> Workflow      # raises WorkflowError(problems)
    validate_workflow(text, path, *, options=None) -> (Workflow | None, list[Problem])
    LoadOptions                                                  # limits, policies, called-workflow resolver
    parse_cron(expr) -> Cron; CronError                          # on.schedule expressions

The model lives in :mod:`pheme.core.workflow.model`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pheme.core.workflow._loader import LoadOptions, parse_workflow, validate_workflow

if TYPE_CHECKING:
    from pheme.core.workflow.cron import Cron, CronError, parse_cron

__all__ = ["Cron", "CronError", "LoadOptions", "parse_cron", "parse_workflow", "validate_workflow"]

_CRON = ("Cron", "CronError", "parse_cron")


def __getattr__(name: str) -> Any:
    # The cron module loads on first use: only schedules need it, not every `pheme run`.
    if name in _CRON:
        from pheme.core.workflow import cron

        return getattr(cron, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
