"""Reserve a run in an existing SQLite store without importing SQLAlchemy.

Why: ``pheme run`` needs the run's id and number (``GITHUB_RUN_ID``,
``GITHUB_RUN_NUMBER``) before its first step, and importing SQLAlchemy and
opening the store takes ~0.2 s, more than a short job's steps. So, for the
common case (a SQLite file already at the shipped schema), the run row is
inserted here with the standard library's ``sqlite3``, in the same kind of
``BEGIN IMMEDIATE`` transaction and with the same per-workflow counter as
:meth:`pheme.storage.Store.create_run`; the full store then opens in the
background while the steps run, and records everything else.

Anything unusual (PostgreSQL, no file yet, another journal mode, a version
table that is not exactly at the shipped heads, any SQLite error) returns
None, and the caller opens the store the normal way, which creates, migrates
or refuses with the usual one-line errors. This module is the only place the
``runs`` insert is written twice; tests compare its rows with the store's.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pheme.core.runs import RunRecord, Status, utc_now
from pheme.storage._heads import VERSION_TABLE, file_heads
from pheme.storage._paths import BUSY_TIMEOUT_S, default_database_url

__all__ = ["reserve_run", "sqlite_path"]

_PREFIXES = ("sqlite:///", "sqlite+pysqlite:///")


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
    return value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def reserve_run(
    url: str | None,
    workflow_name: str,
    workflow_file: str,
    event: str,
    ref: str,
    sha: str,
    *,
    inputs: Mapping[str, Any] | None = None,
) -> RunRecord | None:
    """A new queued run, exactly as ``Store.create_run`` makes it, or None (use the store)."""
    path = sqlite_path(url or default_database_url())
    heads = file_heads()
    if path is None or heads is None or not os.path.isfile(path):
        return None
    created = utc_now()
    values = dict(inputs or {})
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    except sqlite3.Error:
        return None
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            return None  # a new or foreign file: the store's checks decide
        conn.execute("BEGIN IMMEDIATE")
        try:
            table = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (VERSION_TABLE,)
            ).fetchone()
            versions = {str(r[0]) for r in conn.execute(f"SELECT version_num FROM {VERSION_TABLE}")} if table else None
            if versions != set(heads):
                conn.execute("ROLLBACK")
                return None
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
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    except sqlite3.Error:
        return None
    finally:
        conn.close()
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
