"""Table metadata: the tables that hold run history and logs.

Only :mod:`pheme.storage` sees these tables; every public method returns
:mod:`pheme.core.runs` records instead. The metadata carries a
``naming_convention`` so every constraint and index has a stable, predictable
name, which keeps Alembic migrations reproducible on SQLite and PostgreSQL
(Prefect's lesson). The migrations under ``migrations/versions`` must produce
exactly these tables; a test compares them.

Statements are issued with SQLAlchemy Core on these tables (no ORM
session, no identity map): history is append-mostly and the store hands out
immutable records, so the unit-of-work machinery would only add overhead.
"""

from __future__ import annotations

import functools
import importlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from pheme.storage._heads import VERSION_TABLE as VERSION_TABLE  # defined where the quick path reads it too

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

STATUSES = ("queued", "in_progress", "waiting", "completed")
CONCLUSIONS = ("success", "failure", "cancelled", "skipped")

# 64-bit ids on PostgreSQL; SQLite needs exactly INTEGER for a rowid primary key.
Id = BigInteger().with_variant(Integer(), "sqlite")


class _PostgresJsonb(TypeDecorator[Any]):
    """JSONB, resolved once the PostgreSQL dialect is in use.

    Why not ``JSONB`` itself: importing ``sqlalchemy.dialects.postgresql``
    takes ~30 ms that every SQLite start of ``pheme run`` would pay.
    """

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        from sqlalchemy.dialects.postgresql import JSONB

        return dialect.type_descriptor(JSONB(none_as_null=True))


Json = JSON(none_as_null=True).with_variant(_PostgresJsonb(none_as_null=True), "postgresql")


def _in(column: str, values: tuple[str, ...], *, nullable: bool = False) -> str:
    allowed = ", ".join(f"'{v}'" for v in values)
    check = f"{column} IN ({allowed})"
    return f"{column} IS NULL OR {check}" if nullable else check


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on every backend.

    SQLite has no time zones: values are stored as naive UTC text and given
    back their ``UTC`` tzinfo on the way out. Naive datetimes are refused on
    the way in: guessing their zone is how history gets shifted by hours.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: Pheme stores timezone-aware UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData(naming_convention=NAMING_CONVENTION)

# Core tables, not declarative classes: importing ``sqlalchemy.orm`` costs tens of
# milliseconds that ``pheme run`` pays on every start, and the store never needs it.

# Last run number handed out per workflow file (GitHub's ``run_number``): a separate
# row updated with an atomic upsert, so concurrent creators never get the same number.
workflow_counters = Table(
    "workflow_counters",
    metadata,
    Column("workflow_file", String(1024), primary_key=True),
    Column("last_number", Integer, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Id, primary_key=True),
    Column("number", Integer, nullable=False),
    Column("workflow_name", String(1024), nullable=False),
    Column("workflow_file", String(1024), nullable=False),
    Column("event", String(64), nullable=False),
    Column("ref", String(1024), nullable=False),
    Column("sha", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("conclusion", String(16)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("inputs", Json, nullable=False),
    Column("error", Text),
    # The latest attempt (GitHub's run_attempt); status .. error above describe it.
    Column("attempt", Integer, nullable=False, server_default="1"),
    UniqueConstraint("workflow_file", "number"),
    CheckConstraint(_in("status", STATUSES), name="status"),
    CheckConstraint(_in("conclusion", CONCLUSIONS, nullable=True), name="conclusion"),
    Index(None, "status"),
    sqlite_autoincrement=True,
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Id, primary_key=True),
    Column("run_id", Id, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("name", String(1024), nullable=False),
    Column("matrix", Json),
    Column("status", String(16), nullable=False),
    Column("conclusion", String(16)),
    Column("outputs", Json, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    # Lines stored in log_chunks so far: lets tail/follow/ranges find chunks without scanning.
    Column("log_lines", BigInteger, nullable=False, server_default="0"),
    # The run attempt this job belongs to; a run shows its latest attempt's jobs.
    Column("attempt", Integer, nullable=False, server_default="1"),
    # A job carried over unchanged into a later attempt ("re-run failed jobs") copies
    # the row of the job that ran, whose id this is: its log chunks stay under that id.
    Column("reused_from", Id),
    CheckConstraint(_in("status", STATUSES), name="status"),
    CheckConstraint(_in("conclusion", CONCLUSIONS, nullable=True), name="conclusion"),
    Index(None, "run_id"),
    Index(None, "status"),
)

# The finished attempts of a run that a re-run superseded: the run row holds the
# latest attempt, this table what the earlier ones ended as (their jobs and steps
# stay in ``jobs``/``steps`` under their attempt number). ``actor`` is who started
# that attempt (the server's queue knows it; None for ``pheme run`` runs).
run_attempts = Table(
    "run_attempts",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("actor", String(255)),
    Column("status", String(16), nullable=False),
    Column("conclusion", String(16)),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("error", Text),
    CheckConstraint(_in("status", STATUSES), name="status"),
    CheckConstraint(_in("conclusion", CONCLUSIONS, nullable=True), name="conclusion"),
)

steps = Table(
    "steps",
    metadata,
    Column("id", Id, primary_key=True),
    Column("job_id", Id, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("step_id", String(255)),
    Column("name", String(1024), nullable=False),
    Column("status", String(16), nullable=False),
    Column("outcome", String(16)),
    Column("conclusion", String(16)),
    Column("outputs", Json, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    UniqueConstraint("job_id", "number"),
    CheckConstraint(_in("status", STATUSES), name="status"),
    CheckConstraint(_in("outcome", CONCLUSIONS, nullable=True), name="outcome"),
    CheckConstraint(_in("conclusion", CONCLUSIONS, nullable=True), name="conclusion"),
)

# A compressed run of consecutive log lines ``first_line..last_line`` (0-based, inclusive).
# Chunks of one job are contiguous and never overlap, so the chunk holding line *n* is
# the one with the greatest ``first_line <= n`` (one index probe). ``data`` is the UTF-8
# lines joined by ``\n``: ``codec`` 2 = Zstandard (written now), 1 = zlib (written before,
# still read), 0 = uncompressed.
log_chunks = Table(
    "log_chunks",
    metadata,
    Column("id", Id, primary_key=True),
    Column("job_id", Id, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("first_line", BigInteger, nullable=False),
    Column("last_line", BigInteger, nullable=False),
    Column("codec", SmallInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    UniqueConstraint("job_id", "first_line"),
)

# Other subsystems declare their tables on the same ``metadata`` (declaratively, through
# ``Base``). They are imported only by the code that uses them, so opening the store for
# ``pheme run`` does not pay for them; :func:`load_all_tables` brings in every one of them
# where the WHOLE schema matters (migrations, the schema check, foreign-table detection).
SUBSYSTEM_TABLE_MODULES = (
    "pheme.storage._server",
    "pheme.storage._analysis",
    "pheme.storage._deployments",
)


def load_all_tables() -> MetaData:
    """``metadata`` with every subsystem's tables in it (imports their modules)."""
    for name in SUBSYSTEM_TABLE_MODULES:
        importlib.import_module(name)
    return metadata


if TYPE_CHECKING:
    from sqlalchemy.orm import DeclarativeBase

    class Base(DeclarativeBase):
        """The declarative base the subsystems' row classes derive from."""

else:

    def __getattr__(name: str) -> Any:
        # Lazy: ``sqlalchemy.orm`` loads only when a subsystem declares rows.
        if name == "Base":
            return _declarative_base()
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _declarative_base() -> Any:
    from sqlalchemy.orm import DeclarativeBase

    shared = metadata

    class Base(DeclarativeBase):
        metadata = shared

    return Base
