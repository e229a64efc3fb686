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

from pheme.core.runs import Conclusion, JobRecord, RunRecord, Status, StepRecord
from pheme.errors import UsageError

__all__ = [
    "iso",
    "job_selector",
    "line_range",
    "log_lines",
    "run_to_json",
    "select_jobs",
    "status_filter",
    "tail_count",
]


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


STATUS_WORDS = (*(s.value for s in Status), *(c.value for c in Conclusion))


def status_filter(text: str | None) -> tuple[Status | None, Conclusion | None]:
    """``--status``: a status (``queued``, ``in_progress``, ``waiting``, ``completed``)
    or a conclusion (``success``, ``failure``, ``cancelled``, ``skipped``), as in
    ``gh run list --status``; returns ``(status, conclusion)`` with at most one set."""
    if text is None:
        return None, None
    word = text.strip().lower().replace("-", "_")
    if word in Status.__members__.values():
        return Status(word), None
    if word in Conclusion.__members__.values():
        return None, Conclusion(word)
    raise UsageError(f"--status: {text!r} is not one of {', '.join(STATUS_WORDS)}")


def tail_count(text: str | None) -> int | None:
    """``--tail N``: how many of the last lines to show (None: all). ``-1`` means
    all, as in ``kubectl logs``."""
    if text is None:
        return None
    value = text.strip()
    if not (value.isdigit() or value == "-1"):
        raise UsageError(f"--tail: give a number of lines (0 or more, -1 for all), not {text!r}")
    n = int(value)
    return None if n < 0 else n


def line_range(text: str | None) -> tuple[int, int | None] | None:
    """``--lines A:B``: 0-based line numbers, half-open as a Python slice, either
    side optional (``100:``, ``:50``). None when not given."""
    if text is None:
        return None
    start_text, colon, end_text = text.strip().partition(":")
    start_text, end_text = start_text.strip(), end_text.strip()
    if not colon or not all(part.isdigit() for part in (start_text, end_text) if part):
        hint = " (use --tail N for the last lines)" if text.strip().startswith("-") else ""
        raise UsageError(f"--lines: give A:B, A: or :B with line numbers from 0, not {text!r}{hint}")
    start = int(start_text) if start_text else 0
    end = int(end_text) if end_text else None
    if end is not None and end < start:
        raise UsageError(f"--lines: the range {text.strip()} ends ({end}) before it starts ({start})")
    return start, end


def log_lines(
    store: Any,
    run: RunRecord,
    jobs: list[JobRecord],
    *,
    follow: bool = False,
    stop: Callable[[], bool] | None = None,
    named: bool = True,
    tail: int | None = None,
    lines: tuple[int, int | None] | None = None,
) -> Iterator[tuple[str | None, str]]:
    """``(job name or None, line)`` for the selected jobs: stored lines, and with
    ``follow`` new ones as they arrive until the run completes. The name is
    None when ``named`` is false and a single job was selected.

    ``tail=N``: only each job's last N lines (then, with ``follow``, new ones);
    ``lines=(a, b)``: each job's lines ``a <= n < b`` (``b`` None: to the end).
    Either way only the log chunks holding those lines are read. Conflicting
    options raise :class:`UsageError` here, before anything is read.
    """
    if tail is not None and lines is not None:
        raise UsageError("give --tail or --lines, not both")
    if follow and lines is not None:
        raise UsageError("--lines reads a stored range and cannot --follow (use --tail N --follow)")
    return _log_lines(store, run, jobs, follow, stop, len(jobs) == 1 and not named, tail, lines)


def _log_lines(
    store: Any,
    run: RunRecord,
    jobs: list[JobRecord],
    follow: bool,
    stop: Callable[[], bool] | None,
    single: bool,
    tail: int | None,
    lines: tuple[int, int | None] | None,
) -> Iterator[tuple[str | None, str]]:
    if follow:
        if single:
            for line in store.follow_log(run.id, jobs[0].id, poll_interval=0.2, stop=stop, tail=tail):
                yield None, line
            return
        wanted = {j.name for j in jobs}
        for line in store.follow_log(run.id, None, poll_interval=0.2, stop=stop, tail=tail):
            name, _, text = line.partition("\t")
            if name in wanted:
                yield name, text
        return
    for job in jobs:
        if tail is not None:
            # As the store's tail_log (only the last chunk(s) are read), but streamed:
            # --tail 10000000 of a 1 GB log must not hold it all in memory.
            count = store.log_line_count(run.id, job.id)
            selected = store.read_log(run.id, job.id, max(0, count - tail), count)
        elif lines is not None:
            selected = store.read_log(run.id, job.id, lines[0], lines[1])
        else:
            selected = store.read_log(run.id, job.id)
        for line in selected:
            yield (None if single else job.name), line
