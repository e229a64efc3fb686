"""GitHub Actions workflow files: read, validate and model them exactly as GitHub does.

Public API (pure: no file I/O here — callers pass the text):

    parse_workflow(text, path, *, options=None) -> Workflow      # raises WorkflowError(problems)
    validate_workflow(text, path, *, options=None) -> (Workflow | None, list[Problem])
    LoadOptions                                                  # limits, policies, called-workflow resolver
    parse_cron(expr) -> Cron; CronError                          # on.schedule expressions

The model lives in :mod:`pheme.core.workflow.model`.
"""

from __future__ import annotations

from pheme.core.workflow._loader import LoadOptions, parse_workflow, validate_workflow
from pheme.core.workflow.cron import Cron, CronError, parse_cron

__all__ = ["Cron", "CronError", "LoadOptions", "parse_cron", "parse_workflow", "validate_workflow"]
