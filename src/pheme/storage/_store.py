"""The run-history store: the one object the rest of Pheme asks about runs.

Design notes (why it looks like this):

* Synchronous and thread-safe. The runner and the server may call it from
  several threads; each call takes a pooled connection for one short
  transaction. Async callers run it in a thread.
* Every status change goes through :mod:`pheme.core.runs.status` and is
  applied atomically as ``UPDATE ... WHERE status IN (allowed sources)``: two
  racing updaters cannot both "win" an illegal change.
* Run numbers are counted per workflow file with an atomic upsert on
  ``workflow_counters`` (GitHub's ``run_number``), safe for concurrent creators
  in threads or processes, on SQLite and PostgreSQL alike.
* :meth:`Store.batch` groups many calls into one transaction (one commit, one
  fsync): creating a run with 40 jobs x 5 steps costs a few milliseconds.
* A re-run is a new *attempt* of the same run (GitHub's ``run_attempt``):
  :meth:`Store.new_attempt` archives the finished attempt in ``run_attempts``,
  gives the run a fresh queued status, and copies the jobs it carries over.
  Jobs and steps are never moved between attempts: each attempt has its own
  rows (``jobs.attempt``), so an earlier attempt reads exactly as it ended.
* Only :mod:`pheme.core.runs` records come out; no SQLAlchemy object escapes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, insert, literal, or_, select, update
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from pheme.core.runs import (
    TERMINAL,
    Conclusion,
    JobRecord,
    Kind,
    RunRecord,
    Status,
    StepRecord,
    allowed_sources,
    check_conclusion,
    check_transition,
    step_results,
    utc_now,
)
from pheme.errors import StorageError, UsageError
from pheme.storage import _engine, _logs, _logwriter, _migrate
from pheme.storage._errors import NotFoundError
from pheme.storage._orm import UTCDateTime, jobs, run_attempts, runs, steps, workflow_counters

__all__ = ["Store"]


class Store:
    """Run history and logs in one database. Create with :func:`pheme.storage.open_store`.

    Runs::

        run = store.create_run("CI", ".github/workflows/ci.yml", "push", "refs/heads/main", sha)
        with store.batch():                       # one transaction for the whole plan
            job_id = store.create_job(run.id, "build", "build (3.12)", {"python": "3.12"})
            store.create_step(job_id, 1, "Checkout", step_id="co")
        store.update_run(run.id, Status.IN_PROGRESS)
        store.update_step(job_id, 1, Status.COMPLETED, conclusion=Conclusion.SUCCESS)
        store.get_run(run.id)                      # -> RunRecord with jobs and steps

    Logs (see :class:`pheme.storage.LogWriter`)::

        with store.log_writer(job_id) as log:
            log.write("hello\\n")
        store.read_log(run.id, "build (3.12)", start_line=0, end_line=100)
    """

    def __init__(self, engine: Engine, url: URL) -> None:
        self._engine = engine
        self._url = url
        self._local = threading.local()
        self._write_lock = _sqlite_write_lock(url)

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, url: str | None = None) -> Store:
        """Connect, refuse foreign/newer/corrupt databases untouched, migrate to head."""
        from pheme.storage._paths import default_database_url

        parsed = _engine.parse_url(url or default_database_url())
        engine = _engine.build_engine(parsed)
        try:
            _migrate.upgrade(engine, _engine.describe(parsed))
        except DBAPIError as exc:
            engine.dispose()
            raise _engine.translate(exc, parsed, opening=True) from None
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, parsed)

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    @property
    def where(self) -> str:
        """The database, for messages: a file path or a URL without password."""
        return _engine.describe(self._url)

    def close(self) -> None:
        """Close all pooled connections. The store must not be used afterwards."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------- transactions

    @contextmanager
    def _conn(self, *, write: bool) -> Iterator[Connection]:
        active: Connection | None = getattr(self._local, "conn", None)
        if active is not None:
            yield active
            return
        # SQLite has one writer at a time. Writers of this process queue on a lock
        # (woken the moment it is free) instead of in SQLite's busy handler, which
        # sleeps 1, 2, 5 ... 100 ms between retries: under a webhook burst next to
        # the executor's writes those sleeps were most of the p99.
        lock = self._write_lock if write else None
        try:
            with lock or contextlib.nullcontext(), self._engine.connect() as conn:
                if write:
                    conn.execution_options(pheme_write=True)
                with conn.begin():
                    yield conn
        except DBAPIError as exc:
            raise _engine.translate(exc, self._url) from None

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Run every store call in this block (same thread) in ONE write transaction.

        Either all of it is committed or, if the block raises, none of it.
        Nested ``batch()`` blocks join the outer one. Log writers are not
        affected outside a batch; inside one, their chunks commit with it.
        """
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        with self._conn(write=True) as conn:
            self._local.conn = conn
            try:
                yield
            finally:
                self._local.conn = None

    # --------------------------------------------------------------------- runs

    def create_run(
        self,
        workflow_name: str,
        workflow_file: str,
        event: str,
        ref: str,
        sha: str,
        *,
        inputs: Mapping[str, Any] | None = None,
        created_at: datetime | None = None,
    ) -> RunRecord:
        """A new queued run, numbered 1, 2, 3 ... per ``workflow_file``."""
        created = _as_utc(created_at or utc_now())
        with self._conn(write=True) as conn:
            number = self._next_number(conn, workflow_file)
            run_id = conn.execute(
                _INSERT_RUN,
                {
                    "number": number,
                    "workflow_name": workflow_name,
                    "workflow_file": workflow_file,
                    "event": event,
                    "ref": ref,
                    "sha": sha,
                    "status": Status.QUEUED.value,
                    "created_at": created,
                    "inputs": dict(inputs or {}),
                },
            ).scalar_one()
        return RunRecord(
            id=run_id,
            number=number,
            workflow=workflow_name,
            file=workflow_file,
            event=event,
            ref=ref,
            sha=sha,
            created_at=created,
            inputs=dict(inputs or {}),
        )

    def _next_number(self, conn: Connection, workflow_file: str) -> int:
        stmt = _next_number_statement(conn.dialect.name)
        return int(conn.execute(stmt, {"workflow_file": workflow_file, "last_number": 1}).scalar_one())

    def update_run(
        self,
        run_id: int,
        status: Status,
        *,
        conclusion: Conclusion | None = None,
        error: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Move a run to ``status`` (``conclusion`` iff completed); illegal changes raise
        :class:`~pheme.core.runs.TransitionError`. ``error`` records why Pheme ended it."""
        extra: dict[str, Any] = {} if error is None else {"error": error}
        self._transition("run", runs, (runs.c.id == run_id,), str(run_id), status, conclusion, at, extra)

    def get_run(self, run_id: int) -> RunRecord:
        """The run (its latest attempt) with that attempt's jobs (in creation order)
        and their steps (by number)."""
        with self._conn(write=False) as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
            if row is None:
                raise NotFoundError(f"run {run_id} not found")
            job_records = self._attempt_jobs(conn, run_id, int(row.attempt))
        return _run(row, job_records)

    def _attempt_jobs(self, conn: Connection, run_id: int, attempt: int) -> tuple[JobRecord, ...]:
        job_rows = conn.execute(
            select(jobs).where(jobs.c.run_id == run_id, jobs.c.attempt == attempt).order_by(jobs.c.id)
        ).all()
        if not job_rows:
            return ()
        step_rows = conn.execute(
            select(steps)
            .join(jobs, jobs.c.id == steps.c.job_id)
            .where(jobs.c.run_id == run_id, jobs.c.attempt == attempt)
            .order_by(steps.c.job_id, steps.c.number)
        ).all()
        by_job: dict[int, list[StepRecord]] = {}
        for s in step_rows:
            by_job.setdefault(s.job_id, []).append(_step(s))
        return tuple(_job(j, tuple(by_job.get(j.id, ()))) for j in job_rows)

    def get_attempt(self, run_id: int, attempt: int) -> RunRecord:
        """The run as it was in ``attempt`` (1-based): its status, conclusion,
        times, error, jobs and steps then. The latest attempt is :meth:`get_run`."""
        with self._conn(write=False) as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
            if row is None:
                raise NotFoundError(f"run {run_id} not found")
            if attempt == row.attempt:
                return _run(row, self._attempt_jobs(conn, run_id, attempt))
            old = conn.execute(
                select(run_attempts).where(run_attempts.c.run_id == run_id, run_attempts.c.attempt == attempt)
            ).first()
            if old is None:
                raise NotFoundError(f"run {run_id} has no attempt {attempt} (attempts: 1-{row.attempt})")
            job_records = self._attempt_jobs(conn, run_id, attempt)
        return _archived(row, old, job_records)

    def attempts(self, run_id: int) -> list[RunRecord]:
        """Every attempt of the run, first to latest, without jobs."""
        with self._conn(write=False) as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
            if row is None:
                raise NotFoundError(f"run {run_id} not found")
            old = conn.execute(
                select(run_attempts).where(run_attempts.c.run_id == run_id).order_by(run_attempts.c.attempt)
            ).all()
        return [*(_archived(row, o, ()) for o in old), _run(row, ())]

    def attempt_actors(self, run_id: int) -> dict[int, str | None]:
        """Who started each superseded attempt (as given to :meth:`new_attempt`)."""
        with self._conn(write=False) as conn:
            rows = conn.execute(
                select(run_attempts.c.attempt, run_attempts.c.actor).where(run_attempts.c.run_id == run_id)
            ).all()
        return {int(r.attempt): r.actor for r in rows}

    def new_attempt(self, run_id: int, *, reuse: Sequence[int] = (), actor: str | None = None) -> RunRecord:
        """Start the next attempt of a completed run (a re-run), in one transaction.

        The finished attempt is archived (``actor``: who had started it) with
        its jobs, steps and logs untouched; the run keeps its id and number,
        its ``attempt`` goes up by one and it is ``queued`` again. ``reuse``
        lists completed jobs of the finished attempt to carry over (``re-run
        failed jobs``): each is copied into the new attempt with its
        conclusion, outputs and steps, ``reused_from`` pointing at the job
        that ran (its log stays there). Other jobs get rows as they run.

        A run that is not completed is refused with a :class:`UsageError`,
        also when two re-runs race (one wins).
        """
        with self._conn(write=True) as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
            if row is None:
                raise NotFoundError(f"run {run_id} not found")
            current = int(row.attempt)
            moved = conn.execute(
                update(runs)
                .where(runs.c.id == run_id, runs.c.attempt == current, runs.c.status.in_([s.value for s in TERMINAL]))
                .values(
                    attempt=current + 1, status=Status.QUEUED.value, conclusion=None,
                    started_at=None, finished_at=None, error=None,
                )
            ).rowcount
            if moved != 1:
                raise UsageError(_not_rerunnable(run_id, Status(row.status)))
            conn.execute(
                insert(run_attempts).values(
                    run_id=run_id, attempt=current, actor=actor, status=row.status, conclusion=row.conclusion,
                    started_at=row.started_at, finished_at=row.finished_at, error=row.error,
                )
            )
            if reuse:
                self._carry_over(conn, run_id, current, list(dict.fromkeys(reuse)))
        return self.get_run(run_id)

    def _carry_over(self, conn: Connection, run_id: int, attempt: int, job_ids: list[int]) -> None:
        originals = conn.execute(
            select(jobs).where(jobs.c.id.in_(job_ids), jobs.c.run_id == run_id, jobs.c.attempt == attempt)
        ).all()
        found = {r.id: r for r in originals}
        for job_id in job_ids:
            original = found.get(job_id)
            if original is None or original.status != Status.COMPLETED.value:
                raise UsageError(f"job {job_id} is not a completed job of run {run_id} attempt {attempt}")
        step_rows = conn.execute(select(steps).where(steps.c.job_id.in_(job_ids)).order_by(steps.c.number)).all()
        by_job: dict[int, list[Row[Any]]] = {}
        for s in step_rows:
            by_job.setdefault(s.job_id, []).append(s)
        copies: list[dict[str, Any]] = []
        for job_id in job_ids:
            o = found[job_id]
            copy_id = conn.execute(
                insert(jobs)
                .values(
                    run_id=run_id, key=o.key, name=o.name, matrix=o.matrix, status=o.status,
                    conclusion=o.conclusion, outputs=o.outputs or {}, started_at=o.started_at,
                    finished_at=o.finished_at, log_lines=o.log_lines, attempt=attempt + 1,
                    reused_from=o.reused_from or o.id,
                )
                .returning(jobs.c.id)
            ).scalar_one()
            copies += [
                {
                    "job_id": copy_id, "number": s.number, "step_id": s.step_id, "name": s.name,
                    "status": s.status, "outcome": s.outcome, "conclusion": s.conclusion,
                    "outputs": s.outputs or {}, "started_at": s.started_at, "finished_at": s.finished_at,
                }
                for s in by_job.get(job_id, ())
            ]
        if copies:
            conn.execute(insert(steps), copies)

    def list_runs(
        self,
        workflow: str | None = None,
        *,
        limit: int = 50,
        before_id: int | None = None,
        with_jobs: bool = False,
        status: Status | None = None,
        conclusion: Conclusion | None = None,
        event: str | None = None,
        ref: str | None = None,
    ) -> list[RunRecord]:
        """Newest runs first, filtered in SQL (filters combine with AND).

        ``workflow`` matches a workflow file path (``.github/workflows/ci.yml``),
        its base name (``ci.yml``) or the workflow's display name. ``status`` and
        ``conclusion`` are those of the run's latest attempt (a conclusion implies
        completed); ``event`` (``push``) and ``ref`` (``refs/heads/main``) match
        exactly. Page with ``before_id=<id of the last run of the previous page>``.
        Jobs (without steps) are included only with ``with_jobs=True``.
        """
        query = (
            select(runs)
            .where(*run_filters(workflow, status=status, conclusion=conclusion, event=event, ref=ref))
            .order_by(runs.c.id.desc())
            .limit(max(0, limit))
        )
        if before_id is not None:
            query = query.where(runs.c.id < before_id)
        with self._conn(write=False) as conn:
            rows = conn.execute(query).all()
            job_rows: list[Row[Any]] = []
            if with_jobs and rows:
                ids = [r.id for r in rows]
                job_rows = list(conn.execute(latest_attempt_jobs(ids)))
        by_run: dict[int, list[JobRecord]] = {}
        for j in job_rows:
            by_run.setdefault(j.run_id, []).append(_job(j, ()))
        return [_run(r, tuple(by_run.get(r.id, ()))) for r in rows]

    def fail_incomplete_runs(self, reason: str, *, at: datetime | None = None) -> list[int]:
        """End every run that is not completed (after a crash or server restart).

        Runs conclude ``failure`` with ``error=reason``; their unfinished jobs
        and steps conclude ``failure`` if they had started, else ``cancelled``.
        Every change is one the state machine allows (anything not completed
        may complete). Returns the ids of the runs ended, oldest first.
        """
        when = _as_utc(at or utc_now())
        done = Status.COMPLETED.value
        with self._conn(write=True) as conn:
            run_ids = list(
                conn.execute(select(runs.c.id).where(runs.c.status != done).order_by(runs.c.id)).scalars()
            )
            if not run_ids:
                return []
            job_ids = select(jobs.c.id).where(jobs.c.run_id.in_(run_ids)).scalar_subquery()
            for table, scope in ((steps, steps.c.job_id.in_(job_ids)), (jobs, jobs.c.run_id.in_(run_ids))):
                for was_started, conclusion in ((True, Conclusion.FAILURE), (False, Conclusion.CANCELLED)):
                    started = table.c.status == Status.IN_PROGRESS.value
                    values: dict[str, Any] = {"status": done, "conclusion": conclusion.value, "finished_at": when}
                    if table is steps:
                        values["outcome"] = conclusion.value
                    conn.execute(
                        update(table)
                        .where(scope, table.c.status != done, started if was_started else ~started)
                        .values(**values)
                    )
            conn.execute(
                update(runs)
                .where(runs.c.id.in_(run_ids))
                .values(status=done, conclusion=Conclusion.FAILURE.value, finished_at=when, error=reason)
            )
        return run_ids

    # --------------------------------------------------------------------- jobs

    def create_job(self, run_id: int, key: str, name: str, matrix: Mapping[str, Any] | None = None) -> int:
        """A new queued job of a run; returns its database id.

        ``key`` is ``jobs.<key>`` in the workflow; ``name`` the display name,
        which should be unique within the run (matrix jobs: ``build (3.12)``).
        """
        with self._conn(write=True) as conn:
            return int(
                conn.execute(
                    insert(jobs)
                    .values(
                        run_id=run_id,
                        key=key,
                        name=name,
                        matrix=dict(matrix) if matrix is not None else None,
                        status=Status.QUEUED.value,
                        outputs={},
                        # The run's latest attempt: the recorder creates jobs as they report.
                        attempt=select(runs.c.attempt).where(runs.c.id == run_id).scalar_subquery(),
                    )
                    .returning(jobs.c.id)
                ).scalar_one()
            )

    def update_job(
        self,
        job_id: int,
        status: Status,
        *,
        conclusion: Conclusion | None = None,
        outputs: Mapping[str, str] | None = None,
        at: datetime | None = None,
    ) -> None:
        """Move a job to ``status``; ``outputs`` (if given) replace the job's outputs."""
        extra: dict[str, Any] = {} if outputs is None else {"outputs": dict(outputs)}
        self._transition("job", jobs, (jobs.c.id == job_id,), str(job_id), status, conclusion, at, extra)

    def get_job(self, job_id: int) -> JobRecord:
        """One job (of any attempt of its run) with its steps."""
        with self._conn(write=False) as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
            if row is None:
                raise NotFoundError(f"job {job_id} not found")
            step_rows = conn.execute(select(steps).where(steps.c.job_id == job_id).order_by(steps.c.number)).all()
        return _job(row, tuple(_step(s) for s in step_rows))

    # -------------------------------------------------------------------- steps

    def create_step(self, job_id: int, number: int, name: str, *, step_id: str | None = None) -> None:
        """A new queued step; ``number`` is 1-based and unique within the job."""
        with self._conn(write=True) as conn:
            conn.execute(
                insert(steps).values(
                    job_id=job_id,
                    number=number,
                    step_id=step_id,
                    name=name,
                    status=Status.QUEUED.value,
                    outputs={},
                )
            )

    def add_steps(self, job_id: int, records: Sequence[StepRecord]) -> None:
        """Insert steps as they are NOW (queued, in progress or completed), in one statement.

        Why: a recorder that writes every few dozen milliseconds usually sees a
        step start AND finish in one batch; one row per step is a fraction of the
        cost of ``create_step`` + two ``update_step`` calls. Completed steps need a
        conclusion (the outcome defaults to it), others must have none.
        """
        rows: list[dict[str, Any]] = []
        for r in records:
            outcome, conclusion = step_results(f"{r.number} of job {job_id}", r.status, r.outcome, r.conclusion)
            rows.append(
                {
                    "job_id": job_id,
                    "number": r.number,
                    "step_id": r.step_id,
                    "name": r.name,
                    "status": r.status.value,
                    "outcome": outcome.value if outcome else None,
                    "conclusion": conclusion.value if conclusion else None,
                    "outputs": dict(r.outputs),
                    "started_at": _as_utc(r.started_at) if r.started_at else None,
                    "finished_at": _as_utc(r.finished_at) if r.finished_at else None,
                }
            )
        if rows:
            with self._conn(write=True) as conn:
                conn.execute(insert(steps), rows)

    def update_step(
        self,
        job_id: int,
        number: int,
        status: Status,
        *,
        outcome: Conclusion | None = None,
        conclusion: Conclusion | None = None,
        outputs: Mapping[str, str] | None = None,
        at: datetime | None = None,
    ) -> None:
        """Move a step to ``status``.

        On completion give ``conclusion`` and/or ``outcome``; a missing one
        defaults to the other (they differ only under ``continue-on-error``).
        """
        outcome, conclusion = step_results(f"{number} of job {job_id}", status, outcome, conclusion)
        extra: dict[str, Any] = {"outcome": outcome.value if outcome else None}
        if outputs is not None:
            extra["outputs"] = dict(outputs)
        where = (steps.c.job_id == job_id, steps.c.number == number)
        self._transition("step", steps, where, f"{number} of job {job_id}", status, conclusion, at, extra)

    # -------------------------------------------------------------- transitions

    def _transition(
        self,
        kind: Kind,
        table: Any,
        where: tuple[Any, ...],
        what: str,
        status: Status,
        conclusion: Conclusion | None,
        at: datetime | None,
        extra: dict[str, Any],
    ) -> None:
        check_conclusion(kind, what, status, conclusion)
        when = _as_utc(at or utc_now())
        values: dict[str, Any] = {
            "status": status.value,
            "conclusion": conclusion.value if conclusion else None,
            **extra,
        }
        if status is Status.IN_PROGRESS:
            values["started_at"] = func.coalesce(table.c.started_at, literal(when, UTCDateTime()))
        elif status is Status.COMPLETED:
            values["finished_at"] = when
        sources = [s.value for s in allowed_sources(status)]
        stmt = update(table).where(*where, table.c.status.in_(sources)).values(**values)
        with self._conn(write=True) as conn:
            if conn.execute(stmt).rowcount == 1:
                return
            current = conn.execute(select(table.c.status).where(*where)).scalar()
        if current is None:
            raise NotFoundError(f"{kind} {what} not found")
        check_transition(kind, what, Status(current), status, conclusion)
        raise StorageError(f"{kind} {what}: status update matched no row")  # pragma: no cover

    # --------------------------------------------------------------------- logs

    def log_writer(
        self,
        job_id: int,
        *,
        chunk_lines: int = _logwriter.CHUNK_LINES,
        chunk_bytes: int = _logwriter.CHUNK_BYTES,
        flush_interval: float = _logwriter.FLUSH_INTERVAL_S,
        autostore: bool = True,
    ) -> _logwriter.LogWriter:
        """A buffered writer appending to the job's log (one writer per job at a time)."""
        return _logwriter.LogWriter(
            self,
            job_id,
            chunk_lines=chunk_lines,
            chunk_bytes=chunk_bytes,
            flush_interval=flush_interval,
            autostore=autostore,
        )

    def log_start(self, job_id: int) -> int | None:
        """Lines stored in the job's log so far (None: no such job); a :class:`LogWriter` starts there."""
        with self._conn(write=False) as conn:
            stored = conn.execute(select(jobs.c.log_lines).where(jobs.c.id == job_id)).scalar()
        return None if stored is None else int(stored)

    def store_chunks(self, job_id: int, first: int, end: int, rows: list[dict[str, object]]) -> bool:
        """Claim lines ``first..end`` of the job's log and insert their chunks (one transaction)."""
        with self._conn(write=True) as conn:
            return _logs.claim_and_insert_chunks(conn, job_id, first, end, rows)

    def append_log(self, job_id: int, lines: Iterator[str] | list[str] | tuple[str, ...]) -> int:
        """Append whole lines to a job's log; returns the new line count."""
        with self.log_writer(job_id) as writer:
            writer.writelines(lines)
        return writer.line_count

    def log_line_count(self, run_id: int, job: int | str) -> int:
        """How many lines the job's log has so far."""
        return _logs.resolve_jobs(self, run_id, job)[0].log_lines

    def read_log(
        self, run_id: int, job: int | str | None = None, start_line: int = 0, end_line: int | None = None
    ) -> Iterator[str]:
        """Lines ``start_line <= n < end_line`` (0-based) of a job's log, lazily.

        ``job`` is a job id, a job display name or an unambiguous job key.
        With ``job=None`` the run's jobs are read one after another and each
        line is prefixed with ``"<job name>\\t"`` (as ``gh run view --log``);
        line numbers then count through that combined log. Only the chunks
        covering the range are read, a few at a time, so memory stays bounded.
        """
        return _logs.read_log(self, run_id, job, start_line, end_line)

    def tail_log(self, run_id: int, job: int | str, n: int) -> list[str]:
        """The last ``n`` lines of a job's log (touches only the last chunk(s))."""
        return _logs.tail_log(self, run_id, job, n)

    def follow_log(
        self,
        run_id: int,
        job: int | str | None = None,
        *,
        start_line: int = 0,
        poll_interval: float = _logs.POLL_INTERVAL_S,
        stop: Callable[[], bool] | None = None,
        tail: int | None = None,
    ) -> Iterator[str]:
        """Yield log lines as they are stored, until the job (or, with ``job=None``,
        the run) is completed and everything has been yielded, or ``stop()`` is true.

        Polls every ``poll_interval`` seconds while nothing new arrives. With
        ``job=None`` lines are prefixed ``"<job name>\\t"``; ``start_line`` applies
        to each job. ``tail=N`` starts each job already stored at its last ``N``
        lines (``kubectl logs --tail N -f``; only the chunks holding them are read);
        a job that appears later is followed from ``start_line``.
        """
        return _logs.follow_log(self, run_id, job, start_line, poll_interval, stop, tail)


# ------------------------------------------------------------------- row → record


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: Pheme stores timezone-aware UTC times only")
    return value.astimezone(UTC)


def _not_rerunnable(run_id: int, status: Status) -> str:
    if status is Status.COMPLETED:  # another re-run started the next attempt first
        return f"run {run_id} was re-run at the same moment: its new attempt is queued"
    return f"run {run_id} is still {status.value}: cancel it or wait for it to finish"


def run_filters(
    workflow: str | None = None,
    *,
    status: Status | str | None = None,
    conclusion: Conclusion | str | None = None,
    event: str | None = None,
    ref: str | None = None,
    sha: str | None = None,
) -> list[Any]:
    """WHERE clauses on ``runs`` for the given filters (None: no filter), shared by
    the local and the server listings so both match a workflow the same way."""
    where: list[Any] = []
    if workflow is not None:
        where.append(
            or_(
                runs.c.workflow_file == workflow,
                runs.c.workflow_file.endswith("/" + workflow, autoescape=True),
                runs.c.workflow_name == workflow,
            )
        )
    for column, value in ((runs.c.status, status), (runs.c.conclusion, conclusion), (runs.c.event, event),
                          (runs.c.ref, ref), (runs.c.sha, sha)):  # fmt: skip
        if value is not None:
            where.append(column == str(value))
    return where


def latest_attempt_jobs(run_ids: Sequence[int]) -> Any:
    """Jobs (without steps) of the latest attempt of each of ``run_ids``, in creation order."""
    return (
        select(jobs)
        .join(runs, runs.c.id == jobs.c.run_id)
        .where(jobs.c.run_id.in_(list(run_ids)), jobs.c.attempt == runs.c.attempt)
        .order_by(jobs.c.id)
    )


def _archived(run_row: Row[Any], old: Row[Any], job_records: tuple[JobRecord, ...]) -> RunRecord:
    """The run as a superseded attempt ended (``old``: its ``run_attempts`` row)."""
    return dataclasses.replace(
        _run(run_row, job_records),
        status=Status(old.status),
        conclusion=Conclusion(old.conclusion) if old.conclusion else None,
        started_at=old.started_at,
        finished_at=old.finished_at,
        error=old.error,
        attempt=int(old.attempt),
    )


def _run(row: Row[Any], job_records: tuple[JobRecord, ...]) -> RunRecord:
    return RunRecord(
        id=row.id,
        number=row.number,
        workflow=row.workflow_name,
        file=row.workflow_file,
        event=row.event,
        ref=row.ref,
        sha=row.sha,
        status=Status(row.status),
        conclusion=Conclusion(row.conclusion) if row.conclusion else None,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        inputs=row.inputs or {},
        error=row.error,
        jobs=job_records,
        attempt=int(row.attempt),
    )


def _job(row: Row[Any], step_records: tuple[StepRecord, ...]) -> JobRecord:
    return JobRecord(
        id=row.id,
        run_id=row.run_id,
        key=row.key,
        name=row.name,
        matrix=row.matrix,
        status=Status(row.status),
        conclusion=Conclusion(row.conclusion) if row.conclusion else None,
        outputs=row.outputs or {},
        started_at=row.started_at,
        finished_at=row.finished_at,
        log_lines=int(row.log_lines),
        steps=step_records,
        attempt=int(row.attempt),
        reused_from=row.reused_from,
    )


def _step(row: Row[Any]) -> StepRecord:
    return StepRecord(
        number=row.number,
        step_id=row.step_id,
        name=row.name,
        status=Status(row.status),
        outcome=Conclusion(row.outcome) if row.outcome else None,
        conclusion=Conclusion(row.conclusion) if row.conclusion else None,
        outputs=row.outputs or {},
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


# Statements built once and executed with parameters: building one with .values(...) per
# call (and its cache key) cost more than SQLite's execution of it (~0.3 ms per run).
_INSERT_RUN = insert(runs).returning(runs.c.id)


@functools.cache
def _next_number_statement(dialect: str) -> Any:
    # The dialect modules are imported here, not at the top: only the one in use loads.
    dialect_insert: Any
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return (
        dialect_insert(workflow_counters)
        .on_conflict_do_update(
            index_elements=[workflow_counters.c.workflow_file],
            set_={"last_number": workflow_counters.c.last_number + 1},
        )
        .returning(workflow_counters.c.last_number)
    )


_WRITE_LOCKS: dict[str, threading.RLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _sqlite_write_lock(url: URL) -> threading.RLock | None:
    """The process-wide write lock of a SQLite file (None for PostgreSQL and in-memory).

    Re-entrant, so a thread that opens a second write transaction while holding
    one meets SQLite's own busy timeout and error, as without the lock."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    key = os.path.realpath(url.database)
    with _WRITE_LOCKS_GUARD:
        lock = _WRITE_LOCKS.get(key)
        if lock is None:
            lock = _WRITE_LOCKS[key] = threading.RLock()
        return lock
