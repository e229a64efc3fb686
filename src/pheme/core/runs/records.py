"""Run history as plain, immutable domain objects.

These are what storage returns and what the rest of Pheme (runner, CLI, web)
works with; ORM rows never leave :mod:`pheme.storage` (buildbot's lesson: no
framework types in the public API). They are snapshots: to change a status,
ask the store, which applies the state machine and hands back fresh records.

All times are timezone-aware UTC :class:`~datetime.datetime` values, or
``None`` when the moment has not happened (a skipped job never starts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pheme.core.runs.status import Conclusion, Status

__all__ = ["JobRecord", "RunRecord", "StepRecord", "utc_now"]


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (the only kind of time Pheme stores)."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One step of a job. ``number`` is 1-based and unique within the job.

    ``outcome`` is the result before ``continue-on-error`` is applied and
    ``conclusion`` the one after (GitHub's ``steps.<id>.outcome`` /
    ``.conclusion``); both are ``None`` until the step completes.
    """

    number: int
    name: str
    step_id: str | None = None
    status: Status = Status.QUEUED
    outcome: Conclusion | None = None
    conclusion: Conclusion | None = None
    outputs: Mapping[str, str] = field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One job of a run; a matrix job yields one record per combination.

    ``id`` is the database id (unique across all runs); ``key`` is the job's
    id in the workflow file (``jobs.<key>``), shared by all matrix
    combinations; ``name`` is the display name (``build (ubuntu, 3.12)``).
    ``log_lines`` counts the log lines stored so far.

    ``attempt`` is the run attempt the job belongs to. A job carried over
    into a later attempt by "re-run failed jobs" (it succeeded before and was
    not executed again) is a copy with ``reused_from`` set to the job that
    actually ran: its conclusion, outputs, steps and log are that job's.
    """

    id: int
    run_id: int
    key: str
    name: str
    matrix: Mapping[str, Any] | None = None
    status: Status = Status.QUEUED
    conclusion: Conclusion | None = None
    outputs: Mapping[str, str] = field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    log_lines: int = 0
    steps: tuple[StepRecord, ...] = ()
    attempt: int = 1
    reused_from: int | None = None

    @property
    def reused(self) -> bool:
        """Carried over from an earlier attempt rather than executed in this one."""
        return self.reused_from is not None


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run of a workflow.

    ``id`` is unique across all workflows; ``number`` counts runs of the same
    workflow *file* (1, 2, 3 ... like GitHub's ``run_number``). ``workflow`` is
    the workflow's display name and ``file`` its path relative to the
    repository (``.github/workflows/ci.yml``). ``error`` says why Pheme ended
    the run itself (e.g. the server restarted while it ran).

    ``attempt`` counts the run's attempts (GitHub's ``run_attempt``): a re-run
    keeps the run's id and number and starts attempt 2, 3 ...; ``status``,
    ``conclusion``, ``started_at``, ``finished_at``, ``error`` and ``jobs``
    describe the attempt this record shows (the latest, unless it came from
    :meth:`Store.get_attempt`). Earlier attempts stay stored and readable.

    ``jobs`` is filled by :meth:`Store.get_run`; listings leave it empty
    unless asked for jobs.
    """

    id: int
    number: int
    workflow: str
    file: str
    event: str
    ref: str
    sha: str
    status: Status = Status.QUEUED
    conclusion: Conclusion | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    jobs: tuple[JobRecord, ...] = ()
    attempt: int = 1

    def job(self, name_or_key: str) -> JobRecord:
        """The job with this display name, or the only job with this key.

        Raises ``KeyError`` if there is none or the key is ambiguous (a matrix).
        """
        for job in self.jobs:
            if job.name == name_or_key:
                return job
        by_key = [job for job in self.jobs if job.key == name_or_key]
        if len(by_key) == 1:
            return by_key[0]
        if by_key:
            names = ", ".join(job.name for job in by_key)
            raise KeyError(f"job key {name_or_key!r} is ambiguous in run {self.id}: {names}")
        raise KeyError(f"run {self.id} has no job {name_or_key!r}")
