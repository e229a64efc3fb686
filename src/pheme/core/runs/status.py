"""Status, conclusion and the one state machine for runs, jobs and steps.

GitHub reports a run, a job and a step with the same two fields: ``status``
(where it is in its life) and, once ``completed``, a ``conclusion`` (how it
ended). Pheme keeps exactly that vocabulary so that what users see matches
what they know from GitHub.

Why one state machine: every status change in Pheme (runner, server restart
recovery, cancellation) goes through :func:`check_transition`, and storage
applies it atomically (``UPDATE ... WHERE status IN allowed_sources``). A
stray code path can therefore never resurrect a completed job or finish a run
twice; it gets a :class:`TransitionError` instead of silently corrupting
history (Prefect's lesson: state changes only through explicit rules).

The allowed transitions::

    queued      -> in_progress | waiting | completed
    waiting     -> queued | in_progress | completed
    in_progress -> waiting | completed
    completed   -> (nothing: terminal)

A completed run is never moved back: a re-run starts a new *attempt* of the
run (GitHub's ``run_attempt``). The store archives the finished attempt and
gives the run a fresh ``queued`` status with new job and step rows
(``Store.new_attempt``); no record of the earlier attempt changes.

``waiting`` is GitHub's status for something held back by a protection rule
(environment approval, concurrency group). ``queued -> completed`` covers
things that end without starting: skipped jobs/steps, cancellation before
start, a job whose matrix failed to expand.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pheme.errors import PhemeError

__all__ = [
    "TERMINAL",
    "Conclusion",
    "Kind",
    "Status",
    "TransitionError",
    "allowed_sources",
    "can_transition",
    "check_conclusion",
    "check_transition",
    "step_results",
]

Kind = Literal["run", "job", "step"]


class Status(StrEnum):
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    WAITING = "waiting"
    COMPLETED = "completed"


class Conclusion(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


TERMINAL = frozenset({Status.COMPLETED})

_ALLOWED: dict[Status, frozenset[Status]] = {
    Status.QUEUED: frozenset({Status.IN_PROGRESS, Status.WAITING, Status.COMPLETED}),
    Status.WAITING: frozenset({Status.QUEUED, Status.IN_PROGRESS, Status.COMPLETED}),
    Status.IN_PROGRESS: frozenset({Status.WAITING, Status.COMPLETED}),
    Status.COMPLETED: frozenset(),
}

_SOURCES: dict[Status, frozenset[Status]] = {
    target: frozenset(src for src, targets in _ALLOWED.items() if target in targets) for target in Status
}


class TransitionError(PhemeError):
    """An illegal status change (e.g. ``completed -> in_progress``), or a
    ``completed`` status without a conclusion. Always a bug in the caller,
    reported as one line naming the object."""


def can_transition(current: Status, new: Status) -> bool:
    """True if ``current -> new`` is an allowed status change."""
    return new in _ALLOWED[current]


def allowed_sources(new: Status) -> frozenset[Status]:
    """Every status from which ``new`` may be reached (what storage puts in its WHERE)."""
    return _SOURCES[new]


def check_transition(
    kind: Kind,
    what: str,
    current: Status,
    new: Status,
    conclusion: Conclusion | None = None,
) -> None:
    """Raise :class:`TransitionError` unless ``current -> new`` is allowed and the
    conclusion fits the new status (required for ``completed``, forbidden otherwise).

    ``what`` names the object in the message, e.g. ``"42"`` or ``"build (3)"``.
    """
    check_conclusion(kind, what, new, conclusion)
    if not can_transition(current, new):
        raise TransitionError(f"{kind} {what}: illegal status change {current.value} -> {new.value}")


def check_conclusion(kind: Kind, what: str, status: Status, conclusion: Conclusion | None) -> None:
    """A conclusion exists exactly when the status is ``completed``."""
    if status is Status.COMPLETED and conclusion is None:
        raise TransitionError(f"{kind} {what}: completed needs a conclusion")
    if status is not Status.COMPLETED and conclusion is not None:
        raise TransitionError(f"{kind} {what}: a conclusion ({conclusion.value}) is only valid once completed")


def step_results(
    what: str, status: Status, outcome: Conclusion | None, conclusion: Conclusion | None
) -> tuple[Conclusion | None, Conclusion | None]:
    """A step's ``(outcome, conclusion)`` as stored with ``status``.

    On completion a missing one defaults to the other (they differ only under
    ``continue-on-error``) and at least one is required; before it, neither is
    allowed. Raises :class:`TransitionError` naming the step (``what``).
    """
    if status is Status.COMPLETED:
        outcome = outcome or conclusion
        conclusion = conclusion or outcome
    elif outcome is not None:
        check_conclusion("step", what, status, outcome)
    check_conclusion("step", what, status, conclusion)
    return outcome, conclusion
