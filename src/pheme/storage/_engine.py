"""Engines for SQLite and PostgreSQL, and turning driver errors into one line.

SQLite (the default) gets: WAL journal (readers never block the writer; set
by ``_migrate`` once the file is known to be ours), ``busy_timeout`` (waiting
writers queue instead of failing), foreign keys on, ``synchronous=NORMAL``
(safe with WAL: a power cut may lose the last commits, never corrupt).

Python's sqlite3 opens transactions lazily with a deferred ``BEGIN``; a
deferred transaction that reads and then writes can fail with "database is
locked" without waiting on busy_timeout when another writer got in between.
So the driver's own transaction handling is switched off and we emit
``BEGIN IMMEDIATE`` for connections marked ``pheme_write`` (every store write)
and a plain ``BEGIN`` for reads.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.pool import StaticPool

from pheme.errors import StorageError
from pheme.storage._paths import BUSY_TIMEOUT_S

PG_CONNECT_TIMEOUT_S = 10

_PASSWORD_IN_URL = re.compile(r"(://[^:/@]*:)[^@]*@")


def redact(text: str, url: URL | None = None) -> str:
    """Remove a password from free text: the URL form, and the bare value if known."""
    text = _PASSWORD_IN_URL.sub(r"\1***@", text)
    if url is not None and url.password:
        text = text.replace(str(url.password), "***")
    return text


def parse_url(raw: str) -> URL:
    """Parse and normalise a database URL; plain ``postgresql://`` means psycopg 3."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise StorageError(f"invalid database URL {redact(raw)!r}") from None
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        if url.get_driver_name() not in ("psycopg", ""):
            raise StorageError(f"unsupported PostgreSQL driver {url.drivername!r}: use postgresql+psycopg://")
        url = url.set(drivername="postgresql+psycopg")
    elif backend == "sqlite":
        url = url.set(drivername="sqlite+pysqlite")
    else:
        raise StorageError(f"unsupported database {backend!r}: Pheme supports sqlite and postgresql")
    return url


def describe(url: URL) -> str:
    """How messages name the database: the file for SQLite, the URL without password otherwise."""
    if url.get_backend_name() == "sqlite":
        return url.database if url.database and url.database != ":memory:" else ":memory:"
    return url.render_as_string(hide_password=True)


def build_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise StorageError("PostgreSQL needs psycopg 3: pip install 'pheme[postgres]'") from None
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S, "application_name": "pheme"},
    )


def _sqlite_engine(url: URL) -> Engine:
    memory = url.database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {"connect_args": {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}}
    if memory:
        # One shared connection, so every caller sees the same in-memory database (single thread only).
        kwargs["poolclass"] = StaticPool
    elif url.database and not Path(url.database).parent.is_dir():
        raise StorageError(f"database at {url.database}: directory {Path(url.database).parent} does not exist")
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see module doc)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get("pheme_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def translate(exc: DBAPIError, url: URL, *, opening: bool = False) -> StorageError:
    """One clear line for a driver error, never containing the password."""
    where = describe(url)
    orig = exc.orig if exc.orig is not None else exc
    detail = redact(" ".join(str(orig).split()), url) or type(orig).__name__
    if url.get_backend_name() == "sqlite":
        lowered = detail.lower()
        if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
            return StorageError(f"database at {where} is corrupt or not a Pheme database: {detail}")
        if opening and "unable to open" in lowered:
            return StorageError(f"cannot open database at {where}: {detail}")
        return StorageError(f"database at {where}: {detail}")
    if opening:
        return StorageError(f"cannot connect to PostgreSQL at {where}: {detail}")
    return StorageError(f"database at {where}: {detail}")
