"""Run history as users see it: the ``--json`` run objects, listings, logs.

One shape for ``pheme run --json`` and ``pheme runs --json`` (and later the
API), built from the stored :class:`~pheme.core.runs.RunRecord`::

    {"id", "number", "run_attempt", "workflow", "file", "event", "ref", "sha",
     "conclusion", "started_at", "finished_at",
     "jobs": [{"id", "name", "matrix", "conclusion", "outputs",
               "steps": [{"id", "name", "outcome", "conclusion", "outputs"}]}]}

``workflow`` is the workflow's name, ``jobs[].id`` the job KEY (``jobs.<key>``)
with one entry per matrix combination, ``matrix`` the combination or null.
A run or job still in progress has ``conclusion: null``. ``run_attempt`` is
the attempt shown (1 for ``pheme run``; a server re-run keeps ``id`` and
``number`` and counts attempts up), with that attempt's jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from pheme.core.runs import JobRecord, RunRecord, StepRecord
from pheme.errors import UsageError

__all__ = ["iso", "job_selector", "log_lines", "run_to_json", "select_jobs"]


def iso(value: datetime | None) -> str | None:
    """``2024-05-01T12:00:00.123Z`` (UTC, milliseconds) or None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _value(enum_or_none: Any) -> str | None:
    return None if enum_or_none is None else str(getattr(enum_or_none, "value", enum_or_none))


def step_to_json(step: StepRecord) -> dict[str, Any]:
    return {
        "id": step.step_id,
        "name": step.name,
        "outcome": _value(step.outcome),
        "conclusion": _value(step.conclusion),
        "outputs": dict(step.outputs),
    }


def job_to_json(job: JobRecord) -> dict[str, Any]:
    return {
        "id": job.key,
        "name": job.name,
        "matrix": dict(job.matrix) if job.matrix is not None else None,
        "conclusion": _value(job.conclusion),
        "outputs": dict(job.outputs),
        "steps": [step_to_json(s) for s in job.steps],
    }


def run_to_json(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.id,
        "number": run.number,
        "run_attempt": run.attempt,
        "workflow": run.workflow,
        "file": run.file,
        "event": run.event,
        "ref": run.ref,
        "sha": run.sha,
        "conclusion": _value(run.conclusion),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "jobs": [job_to_json(j) for j in run.jobs],
    }


def job_selector(text: str | None) -> int | str | None:
    """``--job``: a database job id (digits) or a job key / display name."""
    if text is None:
        return None
    text = text.strip()
    if not text:
        raise UsageError("--job: give a job key (e.g. build) or a job id")
    return int(text) if text.isdigit() else text


def select_jobs(run: RunRecord, selector: int | str | None) -> list[JobRecord]:
    """The jobs ``--job`` names: all (None), a job id, a display name, or every
    matrix combination of a job key. NotFoundError-style StorageError if none."""
    from pheme.storage import NotFoundError

    if selector is None:
        return list(run.jobs)
    if isinstance(selector, int):
        found = [j for j in run.jobs if j.id == selector]
    else:
        found = [j for j in run.jobs if j.name == selector] or [j for j in run.jobs if j.key == selector]
    if not found:
        keys = ", ".join(dict.fromkeys(j.key for j in run.jobs)) or "none"
        raise NotFoundError(f"run {run.id} has no job {selector!r} (jobs: {keys})")
    return found


def log_lines(
    store: Any,
    run: RunRecord,
    jobs: list[JobRecord],
    *,
    follow: bool = False,
    stop: Callable[[], bool] | None = None,
    named: bool = True,
) -> Iterator[tuple[str | None, str]]:
    """``(job name or None, line)`` for the selected jobs: stored lines, and with
    ``follow`` new ones as they arrive until the run completes. The name is
    None when ``named`` is false and a single job was selected."""
    single = len(jobs) == 1 and not named
    if follow:
        if single:
            for line in store.follow_log(run.id, jobs[0].id, poll_interval=0.2, stop=stop):
                yield None, line
            return
        wanted = {j.name for j in jobs}
        for line in store.follow_log(run.id, None, poll_interval=0.2, stop=stop):
            name, _, text = line.partition("\t")
            if name in wanted:
                yield name, text
        return
    for job in jobs:
        for line in store.read_log(run.id, job.id):
            yield (None if single else job.name), line
