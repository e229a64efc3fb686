"""What a run tells the outside world while it executes.

The runner (``pheme.execution``) emits these events to a :class:`RunObserver`;
the CLI's terminal view, the store recorder and (later) the server's live
stream are observers. Events are plain frozen dataclasses so observers never
depend on runner internals.

Rules every emitter follows:
- Log lines are ALREADY MASKED when they leave the runner. Nothing downstream
  ever sees a secret value.
- Log lines are text without the trailing newline. Groups are kept as GitHub's
  raw logs keep them: a line ``##[group]Title`` opens one, ``##[endgroup]``
  closes it; annotations appear as ``##[error]…`` / ``##[warning]…`` /
  ``##[notice]…`` lines and also as :class:`Annotation` events.
- Observer methods are called from the runner's event-loop thread and must be
  cheap: an observer with slow work (compression, SQL) hands it to its own
  thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

Conclusion = Literal["success", "failure", "cancelled", "skipped"]


@dataclass(frozen=True, slots=True)
class JobRef:
    """One job instance of a run: a matrix job has one JobRef per combination.

    ``key`` is unique within the run (e.g. ``build`` or ``build (3.11, linux)``)
    and is what logs and records are keyed by; ``job_id`` is the workflow's
    job id; ``matrix`` the combination or None.
    """

    key: str
    job_id: str
    name: str
    matrix: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class StepRef:
    """``number`` is 1-based among the job's listed steps (pseudo-steps such as
    "Set up job" are never reported); ``id`` is the step's ``id:`` or None."""

    number: int
    id: str | None
    name: str


@dataclass(frozen=True, slots=True)
class RunStarted:
    workflow: str
    file: str
    at: datetime


@dataclass(frozen=True, slots=True)
class JobStarted:
    job: JobRef
    at: datetime


@dataclass(frozen=True, slots=True)
class StepStarted:
    job: JobRef
    step: StepRef
    at: datetime


@dataclass(frozen=True, slots=True)
class LogLines:
    job: JobRef
    lines: Sequence[str]
    step: StepRef | None = None


@dataclass(frozen=True, slots=True)
class Annotation:
    job: JobRef
    level: Literal["error", "warning", "notice", "debug"]
    message: str
    file: str | None = None
    line: int | None = None
    col: int | None = None
    title: str | None = None


@dataclass(frozen=True, slots=True)
class StepFinished:
    job: JobRef
    step: StepRef
    outcome: Conclusion
    conclusion: Conclusion
    outputs: Mapping[str, str]
    at: datetime


@dataclass(frozen=True, slots=True)
class JobFinished:
    """A job that never ran (skipped by ``if:``, needs failed, cancelled
    before start) is still reported, with no steps and ``started=False``."""

    job: JobRef
    conclusion: Conclusion
    outputs: Mapping[str, str]
    at: datetime
    started: bool = True
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RunFinished:
    conclusion: Conclusion
    at: datetime
    summary: Mapping[str, str] = field(default_factory=dict)  # job key -> GITHUB_STEP_SUMMARY markdown


Event = (
    RunStarted | JobStarted | StepStarted | LogLines | Annotation | StepFinished | JobFinished | RunFinished
)


class RunObserver(Protocol):
    def __call__(self, event: Event) -> None: ...


class Fanout:
    """Sends every event to several observers, in order."""

    def __init__(self, *observers: RunObserver) -> None:
        self._observers = observers

    def __call__(self, event: Event) -> None:
        for observer in self._observers:
            observer(event)
