"""Schema migrations, run programmatically on every open (no alembic.ini).

Why check before upgrading: a database written by a newer Pheme carries a
revision this Pheme does not know. Upgrading (or even switching SQLite to WAL
mode) could damage it, so we inspect first inside a read-only transaction and
refuse with a :class:`StorageError` before anything is written. The same
inspection refuses files that are not SQLite or not Pheme's.

Concurrent openers are serialized: SQLite's write transactions are
``BEGIN IMMEDIATE`` (see ``_engine``); PostgreSQL takes a transaction-level
advisory lock. The loser re-inspects and finds the schema already current.

Fast path: almost every open finds the database already at head. Importing
Alembic (and Mako, Pygments...) and every subsystem's tables to learn that
costs a few hundred milliseconds, which ``pheme run`` would pay on each start.
So the head revisions are read from the migration files' ``revision`` /
``down_revision`` lines, and one query of the version table decides: exactly
the heads -> done, without importing Alembic. Anything else (empty, older,
newer, foreign, unparsable files) takes the full path above, so refusals are
exactly those of Alembic's inspection.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, inspect, text

from pheme.errors import StorageError
from pheme.storage._heads import MIGRATIONS_DIR, file_heads
from pheme.storage._orm import VERSION_TABLE, load_all_tables
from pheme.storage._paths import BUSY_TIMEOUT_S

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

# An arbitrary constant: "pheme" in ASCII, the key of PostgreSQL's advisory lock.
_PG_LOCK_KEY = 0x7068656D65


def alembic_config() -> Config:
    """An in-memory Alembic config pointing at the migrations shipped in this package."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("version_table", VERSION_TABLE)
    return cfg


@dataclass(frozen=True)
class DbState:
    heads: tuple[str, ...]
    at_head: bool


def inspect_state(conn: Connection, where: str, script: ScriptDirectory) -> DbState:
    """What revision the database is at; raises if it is foreign or too new."""
    from alembic.runtime.migration import MigrationContext
    from alembic.util import CommandError

    tables = set(inspect(conn).get_table_names())
    ours = {t.name for t in load_all_tables().sorted_tables}
    if VERSION_TABLE not in tables:
        foreign = tables & ours if conn.dialect.name == "postgresql" else tables
        if foreign:
            names = ", ".join(sorted(foreign)[:5])
            raise StorageError(
                f"database at {where} is corrupt or not a Pheme database: "
                f"it has tables ({names}) but no Pheme schema version"
            )
        return DbState(heads=(), at_head=False)
    ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    heads = tuple(sorted(ctx.get_current_heads()))
    for rev in heads:
        try:
            known = script.get_revision(rev)
        except CommandError:
            known = None
        if known is None:
            raise StorageError(
                f"database at {where} was created by a newer Pheme (revision {rev}); upgrade Pheme"
            )
    return DbState(heads=heads, at_head=set(heads) == set(script.get_heads()))


def _switch_to_wal(raw: Any, where: str) -> None:
    """Switch a SQLite file to WAL (persistent), waiting out other openers.

    The switch needs the file to itself for an instant; when another process
    or thread holds a lock, SQLite answers with the old mode instead of
    waiting (or fails with "database is locked"), so retry until the busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            mode = str(raw.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
        except sqlite3.OperationalError as exc:  # "database is locked": same story, louder
            mode = str(exc)
        if mode in ("wal", "memory"):
            return
        if time.monotonic() > deadline:
            raise StorageError(f"database at {where}: cannot switch to WAL mode (still {mode}); is it in use?")
        time.sleep(0.02)


def _version_rows(conn: Connection) -> set[str] | None:
    """The revisions stored in the version table, or None if there is no such table."""
    if conn.dialect.name == "sqlite":
        exists = conn.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": VERSION_TABLE}
        ).first()
    else:
        exists = conn.execute(
            text("SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = :t"),
            {"t": VERSION_TABLE},
        ).first()
    if exists is None:
        return None
    return {str(v) for v in conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars()}


def at_head_quick(conn: Connection) -> bool:
    """True when the database is exactly at the shipped heads (no Alembic involved)."""
    heads = file_heads()
    if heads is None:
        return False
    rows = _version_rows(conn)
    return rows is not None and rows == set(heads)


def upgrade(engine: Engine, where: str) -> None:
    """Bring the database to the newest revision this Pheme knows, or refuse untouched."""
    with engine.connect() as conn:
        with conn.begin():
            quick = at_head_quick(conn)
        if quick:
            if conn.dialect.name == "sqlite":
                _wal(conn, where)
            return
        _upgrade(conn, where)


def _wal(conn: Connection, where: str) -> None:
    # Persistent, and a write to the file header: only once we know the file is ours.
    # Outside any transaction (SQLite refuses otherwise): straight on the driver connection.
    raw = conn.connection.driver_connection
    assert raw is not None
    _switch_to_wal(raw, where)


def _upgrade(conn: Connection, where: str) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    cfg = alembic_config()
    script = ScriptDirectory.from_config(cfg)
    with conn.begin():
        state = inspect_state(conn, where, script)
    if conn.dialect.name == "sqlite":
        _wal(conn, where)
    if state.at_head:
        return
    conn.execution_options(pheme_write=True)
    with conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        if inspect_state(conn, where, script).at_head:
            return
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
