"""The store of ``pheme run``, without SQLAlchemy: the standard library's ``sqlite3``.

Why: ``pheme run`` records one run, and importing SQLAlchemy and opening the
store costs ~0.3 s of CPU, more than the rest of the command before its first
step and more than a short job's steps. For the common case (a SQLite file
already at the shipped schema) :class:`LiteStore` writes the same rows with
``sqlite3``: the run row (with the store's per-workflow counter), jobs, steps,
status changes through the same state machine, log chunks (through the same
:class:`~pheme.storage._logwriter.LogWriter`), and reads the run back. It
implements exactly what :class:`~pheme.services.recorder.StoreRecorder` and
``pheme run`` need, nothing else.

Anything unusual (PostgreSQL, no file yet, another journal mode, a version
table that is not exactly at the shipped heads, any SQLite error on opening)
makes :meth:`LiteStore.open` return None, and the caller opens the full store,
which creates, migrates or refuses with the usual one-line errors. Both
writers of these tables live in this package; tests drive the same calls
through both and compare every stored row.

Threads: one connection, used under a lock (``pheme run`` creates the run on
its main thread, the recorder writes from its own). A :meth:`batch` is one
``BEGIN IMMEDIATE`` transaction, as in the store.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from pheme.core.runs import (
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
from pheme.errors import StorageError
from pheme.storage._errors import NotFoundError
from pheme.storage._heads import VERSION_TABLE, file_heads
from pheme.storage._logwriter import CHUNK_BYTES, CHUNK_LINES, FLUSH_INTERVAL_S, LogWriter
from pheme.storage._paths import BUSY_TIMEOUT_S, default_database_url

__all__ = ["LiteStore", "sqlite_path"]

_PREFIXES = ("sqlite:///", "sqlite+pysqlite:///")
_TABLES = {"run": "runs", "job": "jobs", "step": "steps"}


def sqlite_path(url: str) -> str | None:
    """The file of a plain ``sqlite:///PATH`` URL; None for anything else."""
    for prefix in _PREFIXES:
        if url.startswith(prefix):
            path = url[len(prefix) :]
            if not path or path == ":memory:" or "?" in path:
                return None
            return path
    return None


def _stored_time(value: datetime) -> str:
    # SQLAlchemy's SQLite DATETIME format, naive UTC (see _orm.UTCDateTime).
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: Pheme stores timezone-aware UTC times only")
    return value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def _read_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _json(value: Any) -> str | None:
    # SQLAlchemy's JSON type with none_as_null: None is SQL NULL, the rest json.dumps.
    return None if value is None else json.dumps(value)


def _read_json(value: str | None) -> Any:
    return None if value is None else json.loads(value)


class LiteStore:
    """A SQLite store at the shipped schema, written with ``sqlite3``. Use :meth:`open`."""

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self._conn = conn
        self._path = path
        self._lock = threading.RLock()
        self._in_batch = False

    @classmethod
    def open(cls, url: str | None = None) -> LiteStore | None:
        """The store at ``url`` (default: ``$PHEME_DATABASE_URL`` or the home's SQLite file)
        if it is an existing SQLite file in WAL mode at the shipped schema; else None."""
        path = sqlite_path(url or default_database_url())
        heads = file_heads()
        if path is None or heads is None or not os.path.isfile(path):
            return None
        try:
            conn = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error:
            return None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")
            if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                raise sqlite3.DatabaseError("not in WAL mode")  # a new or foreign file: the store decides
            table = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (VERSION_TABLE,)
            ).fetchone()
            versions = (
                {str(r[0]) for r in conn.execute(f"SELECT version_num FROM {VERSION_TABLE}")}
                if table
                else None
            )
            if versions != set(heads):
                raise sqlite3.DatabaseError("not at the shipped schema")
        except sqlite3.Error:
            conn.close()
            return None
        return cls(conn, path)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> LiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------- transactions

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Every call in this block (same thread) in ONE write transaction; nested blocks join it."""
        with self._lock:
            if self._in_batch:
                yield
                return
            self._begin()
            self._in_batch = True
            try:
                yield
            except BaseException as exc:
                self._in_batch = False
                self._abort(exc)
                raise
            self._in_batch = False
            self._commit()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction of its own, or the current batch's."""
        with self._lock:
            if self._in_batch:
                yield self._conn
                return
            self._begin()
            try:
                yield self._conn
            except BaseException as exc:
                self._abort(exc)
                raise
            self._commit()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise self._error(exc) from None

    def _begin(self) -> None:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    def _commit(self) -> None:
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._abort(exc)
            raise self._error(exc) from None

    def _abort(self, exc: BaseException) -> None:
        """Roll back; a driver error goes on as the store's one-line StorageError."""
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise self._error(exc) from None

    def _error(self, exc: sqlite3.Error) -> StorageError:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        lowered = detail.lower()
        if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
            return StorageError(f"database at {self._path} is corrupt or not a Pheme database: {detail}")
        return StorageError(f"database at {self._path}: {detail}")

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
        """A new queued run, numbered 1, 2, 3 ... per ``workflow_file`` (the store's counter)."""
        created = created_at or utc_now()
        values = dict(inputs or {})
        with self._write() as conn:
            number = int(
                conn.execute(
                    "INSERT INTO workflow_counters (workflow_file, last_number) VALUES (?, 1) "
                    "ON CONFLICT (workflow_file) DO UPDATE SET last_number = workflow_counters.last_number + 1 "
                    "RETURNING last_number",
                    (workflow_file,),
                ).fetchone()[0]
            )
            run_id = int(
                conn.execute(
                    "INSERT INTO runs (number, workflow_name, workflow_file, event, ref, sha, status, created_at, inputs)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (number, workflow_name, workflow_file, event, ref, sha, Status.QUEUED.value,
                     _stored_time(created), json.dumps(values)),
                ).fetchone()[0]
            )  # fmt: skip
        return RunRecord(
            id=run_id,
            number=number,
            workflow=workflow_name,
            file=workflow_file,
            event=event,
            ref=ref,
            sha=sha,
            created_at=created,
            inputs=values,
        )

    def update_run(
        self,
        run_id: int,
        status: Status,
        *,
        conclusion: Conclusion | None = None,
        error: str | None = None,
        at: datetime | None = None,
    ) -> None:
        extra: dict[str, Any] = {} if error is None else {"error": error}
        self._transition("run", "id = ?", (run_id,), str(run_id), status, conclusion, at, extra)

    def get_run(self, run_id: int) -> RunRecord:
        """The run (its latest attempt) with that attempt's jobs and their steps."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT id, number, workflow_name, workflow_file, event, ref, sha, status, conclusion, created_at,"
                " started_at, finished_at, inputs, error, attempt FROM runs WHERE id = ?",
                (run_id,),
            ).fetchone()
            if row is None:
                raise NotFoundError(f"run {run_id} not found")
            job_rows = conn.execute(
                "SELECT id, run_id, key, name, matrix, status, conclusion, outputs, started_at, finished_at,"
                " log_lines, attempt, reused_from FROM jobs WHERE run_id = ? AND attempt = ? ORDER BY id",
                (run_id, row[14]),
            ).fetchall()
            steps: dict[int, list[StepRecord]] = {int(j[0]): [] for j in job_rows}
            if job_rows:
                marks = ", ".join("?" * len(job_rows))
                for s in conn.execute(
                    "SELECT job_id, number, step_id, name, status, outcome, conclusion, outputs, started_at,"
                    f" finished_at FROM steps WHERE job_id IN ({marks}) ORDER BY job_id, number",
                    [j[0] for j in job_rows],
                ):
                    steps[int(s[0])].append(
                        StepRecord(
                            number=s[1],
                            step_id=s[2],
                            name=s[3],
                            status=Status(s[4]),
                            outcome=Conclusion(s[5]) if s[5] else None,
                            conclusion=Conclusion(s[6]) if s[6] else None,
                            outputs=_read_json(s[7]) or {},
                            started_at=_read_time(s[8]),
                            finished_at=_read_time(s[9]),
                        )
                    )
        job_records = tuple(
            JobRecord(
                id=j[0],
                run_id=j[1],
                key=j[2],
                name=j[3],
                matrix=_read_json(j[4]),
                status=Status(j[5]),
                conclusion=Conclusion(j[6]) if j[6] else None,
                outputs=_read_json(j[7]) or {},
                started_at=_read_time(j[8]),
                finished_at=_read_time(j[9]),
                log_lines=int(j[10]),
                steps=tuple(steps[int(j[0])]),
                attempt=int(j[11]),
                reused_from=j[12],
            )
            for j in job_rows
        )
        return RunRecord(
            id=row[0],
            number=row[1],
            workflow=row[2],
            file=row[3],
            event=row[4],
            ref=row[5],
            sha=row[6],
            status=Status(row[7]),
            conclusion=Conclusion(row[8]) if row[8] else None,
            created_at=_read_time(row[9]),
            started_at=_read_time(row[10]),
            finished_at=_read_time(row[11]),
            inputs=_read_json(row[12]) or {},
            error=row[13],
            jobs=job_records,
            attempt=int(row[14]),
        )

    # --------------------------------------------------------------------- jobs

    def create_job(self, run_id: int, key: str, name: str, matrix: Mapping[str, Any] | None = None) -> int:
        """A new queued job of the run's latest attempt; returns its id."""
        with self._write() as conn:
            row = conn.execute(
                "INSERT INTO jobs (run_id, key, name, matrix, status, outputs, attempt)"
                " VALUES (?, ?, ?, ?, ?, ?, (SELECT attempt FROM runs WHERE id = ?)) RETURNING id",
                (run_id, key, name, _json(dict(matrix) if matrix is not None else None), Status.QUEUED.value,
                 json.dumps({}), run_id),
            ).fetchone()  # fmt: skip
        return int(row[0])

    def update_job(
        self,
        job_id: int,
        status: Status,
        *,
        conclusion: Conclusion | None = None,
        outputs: Mapping[str, str] | None = None,
        at: datetime | None = None,
    ) -> None:
        extra: dict[str, Any] = {} if outputs is None else {"outputs": json.dumps(dict(outputs))}
        self._transition("job", "id = ?", (job_id,), str(job_id), status, conclusion, at, extra)

    # -------------------------------------------------------------------- steps

    def add_steps(self, job_id: int, records: Sequence[StepRecord]) -> None:
        """Insert steps as they are now (see :meth:`pheme.storage.Store.add_steps`)."""
        rows: list[tuple[Any, ...]] = []
        for r in records:
            outcome, conclusion = step_results(f"{r.number} of job {job_id}", r.status, r.outcome, r.conclusion)
            rows.append(
                (job_id, r.number, r.step_id, r.name, r.status.value, outcome.value if outcome else None,
                 conclusion.value if conclusion else None, json.dumps(dict(r.outputs)),
                 _stored_time(r.started_at) if r.started_at else None,
                 _stored_time(r.finished_at) if r.finished_at else None)
            )  # fmt: skip
        if rows:
            with self._write() as conn:
                conn.executemany(
                    "INSERT INTO steps (job_id, number, step_id, name, status, outcome, conclusion, outputs,"
                    " started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )

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
        outcome, conclusion = step_results(f"{number} of job {job_id}", status, outcome, conclusion)
        extra: dict[str, Any] = {"outcome": outcome.value if outcome else None}
        if outputs is not None:
            extra["outputs"] = json.dumps(dict(outputs))
        where = "job_id = ? AND number = ?"
        self._transition(
            "step", where, (job_id, number), f"{number} of job {job_id}", status, conclusion, at, extra
        )

    # -------------------------------------------------------------- transitions

    def _transition(
        self,
        kind: Kind,
        where: str,
        keys: tuple[Any, ...],
        what: str,
        status: Status,
        conclusion: Conclusion | None,
        at: datetime | None,
        extra: dict[str, Any],
    ) -> None:
        """The store's atomic ``UPDATE ... WHERE status IN (allowed sources)``."""
        check_conclusion(kind, what, status, conclusion)
        when = _stored_time(at or utc_now())
        table = _TABLES[kind]
        sets = ["status = ?", "conclusion = ?"]
        params: list[Any] = [status.value, conclusion.value if conclusion else None]
        for column, value in extra.items():
            sets.append(f"{column} = ?")
            params.append(value)
        if status is Status.IN_PROGRESS:
            sets.append("started_at = coalesce(started_at, ?)")
            params.append(when)
        elif status is Status.COMPLETED:
            sets.append("finished_at = ?")
            params.append(when)
        sources = sorted(s.value for s in allowed_sources(status))
        sql = (
            f"UPDATE {table} SET {', '.join(sets)} WHERE {where}"
            f" AND status IN ({', '.join('?' * len(sources))})"
        )
        with self._write() as conn:
            if conn.execute(sql, (*params, *keys, *sources)).rowcount == 1:
                return
            current = conn.execute(f"SELECT status FROM {table} WHERE {where}", keys).fetchone()
        if current is None:
            raise NotFoundError(f"{kind} {what} not found")
        check_transition(kind, what, Status(current[0]), status, conclusion)
        raise StorageError(f"{kind} {what}: status update matched no row")  # pragma: no cover

    # --------------------------------------------------------------------- logs

    def log_writer(
        self,
        job_id: int,
        *,
        chunk_lines: int = CHUNK_LINES,
        chunk_bytes: int = CHUNK_BYTES,
        flush_interval: float = FLUSH_INTERVAL_S,
        autostore: bool = True,
    ) -> LogWriter:
        """A buffered writer appending to the job's log (one writer per job at a time)."""
        return LogWriter(
            self, job_id, chunk_lines=chunk_lines, chunk_bytes=chunk_bytes, flush_interval=flush_interval,
            autostore=autostore,
        )  # fmt: skip

    def log_start(self, job_id: int) -> int | None:
        with self._read() as conn:
            row = conn.execute("SELECT log_lines FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else int(row[0])

    def store_chunks(self, job_id: int, first: int, end: int, rows: list[dict[str, object]]) -> bool:
        with self._write() as conn:
            claimed = conn.execute(
                "UPDATE jobs SET log_lines = ? WHERE id = ? AND log_lines = ?", (end, job_id, first)
            ).rowcount
            if claimed != 1:
                return False
            conn.executemany(
                "INSERT INTO log_chunks (job_id, first_line, last_line, codec, data) VALUES (?, ?, ?, ?, ?)",
                [(r["job_id"], r["first_line"], r["last_line"], r["codec"], r["data"]) for r in rows],
            )
        return True
