"""Run history in the pure core: statuses, the state machine, and records.

Import from here: ``from pheme.core.runs import Status, Conclusion, RunRecord``.
"""

from pheme.core.runs.records import JobRecord, RunRecord, StepRecord, utc_now
from pheme.core.runs.status import (
    TERMINAL,
    Conclusion,
    Kind,
    Status,
    TransitionError,
    allowed_sources,
    can_transition,
    check_conclusion,
    check_transition,
    step_results,
)

__all__ = [
    "TERMINAL",
    "Conclusion",
    "JobRecord",
    "Kind",
    "RunRecord",
    "Status",
    "StepRecord",
    "TransitionError",
    "allowed_sources",
    "can_transition",
    "check_conclusion",
    "check_transition",
    "step_results",
    "utc_now",
]
