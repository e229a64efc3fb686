"""ORM metadata: the tables that hold run history and logs.

Only :mod:`pheme.storage` sees these classes; every public method returns
:mod:`pheme.core.runs` records instead. The metadata carries a
``naming_convention`` so every constraint and index has a stable, predictable
name, which keeps Alembic migrations reproducible on SQLite and PostgreSQL
(Prefect's lesson). The migrations under ``migrations/versions`` must produce
exactly these tables; a test compares them.

Statements are issued with SQLAlchemy Core on ``Model.__table__`` (no ORM
session, no identity map): history is append-mostly and the store hands out
immutable records, so the unit-of-work machinery would only add overhead.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
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
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

VERSION_TABLE = "pheme_schema_version"

STATUSES = ("queued", "in_progress", "waiting", "completed")
CONCLUSIONS = ("success", "failure", "cancelled", "skipped")

# 64-bit ids on PostgreSQL; SQLite needs exactly INTEGER for a rowid primary key.
Id = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


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


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class WorkflowCounter(Base):
    """Last run number handed out per workflow file (GitHub's ``run_number``).

    A separate row updated with an atomic upsert, so concurrent creators of
    runs of the same workflow never get the same number.
    """

    __tablename__ = "workflow_counters"

    workflow_file: Mapped[str] = mapped_column(String(1024), primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, nullable=False)


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("workflow_file", "number"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(_in("conclusion", CONCLUSIONS, nullable=True), name="conclusion"),
        Index(None, "status"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    workflow_name: Mapped[str] = mapped_column(String(1024), nullable=False)
    workflow_file: Mapped[str] = mapped_column(String(1024), nullable=False)
    event: Mapped[str] = mapped_column(String(64), nullable=False)
    ref: Mapped[str] = mapped_column(String(1024), nullable=False)
    sha: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    conclusion: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    inputs: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    error: Mapped[str | None] = mapped_column(Text)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(_in("conclusion", CONCLUSIONS, nullable=True), name="conclusion"),
        Index(None, "run_id"),
        Index(None, "status"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    run_id: Mapped[int] = mapped_column(Id, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    name: Mapped[str] = mapped_column(String(1024), nullable=False)
    matrix: Mapped[dict[str, Any] | None] = mapped_column(Json)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    conclusion: Mapped[str | None] = mapped_column(String(16))
    outputs: Mapped[dict[str, str]] = mapped_column(Json, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Lines stored in log_chunks so far: lets tail/follow/ranges find chunks without scanning.
    log_lines: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")


class Step(Base):
    __tablename__ = "steps"
    __table_args__ = (
        UniqueConstraint("job_id", "number"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(_in("outcome", CONCLUSIONS, nullable=True), name="outcome"),
        CheckConstraint(_in("conclusion", CONCLUSIONS, nullable=True), name="conclusion"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    job_id: Mapped[int] = mapped_column(Id, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    step_id: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(1024), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    outcome: Mapped[str | None] = mapped_column(String(16))
    conclusion: Mapped[str | None] = mapped_column(String(16))
    outputs: Mapped[dict[str, str]] = mapped_column(Json, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LogChunk(Base):
    """A compressed run of consecutive log lines ``first_line..last_line`` (0-based, inclusive).

    Chunks of one job are contiguous and never overlap, so the chunk holding
    line *n* is the one with the greatest ``first_line <= n`` (one index probe).
    ``codec`` 1 = zlib of the UTF-8 lines joined by ``\\n``; 0 = uncompressed.
    """

    __tablename__ = "log_chunks"
    __table_args__ = (UniqueConstraint("job_id", "first_line"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    job_id: Mapped[int] = mapped_column(Id, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False)
    first_line: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_line: Mapped[int] = mapped_column(BigInteger, nullable=False)
    codec: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


metadata = Base.metadata
runs = cast(Table, Run.__table__)
jobs = cast(Table, Job.__table__)
steps = cast(Table, Step.__table__)
log_chunks = cast(Table, LogChunk.__table__)
workflow_counters = cast(Table, WorkflowCounter.__table__)
from pheme.storage import _server as _server  # noqa: E402  (the server tables join the metadata)
from pheme.storage import _analysis as _analysis  # noqa: E402  (the analysis tables join the metadata)
from pheme.storage import _deployments as _deployments  # noqa: E402  (the deployment tables join the metadata)
