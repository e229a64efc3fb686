"""Initial schema: runs, jobs, steps, log chunks, per-workflow run counters.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-28

Self-contained on purpose (no import of the ORM module): a migration must keep
producing the same schema even after the models move on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUS = "status IN ('queued', 'in_progress', 'waiting', 'completed')"
CONCLUSIONS = "('success', 'failure', 'cancelled', 'skipped')"


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _ck(column: str) -> str:
    return f"{column} IS NULL OR {column} IN {CONCLUSIONS}"


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", _id(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("workflow_name", sa.String(length=1024), nullable=False),
        sa.Column("workflow_file", sa.String(length=1024), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("ref", sa.String(length=1024), nullable=False),
        sa.Column("sha", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("conclusion", sa.String(length=16), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("started_at", _time(), nullable=True),
        sa.Column("finished_at", _time(), nullable=True),
        sa.Column("inputs", _json(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(_ck("conclusion"), name=op.f("ck_runs_conclusion")),
        sa.CheckConstraint(STATUS, name=op.f("ck_runs_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
        sa.UniqueConstraint("workflow_file", "number", name=op.f("uq_runs_workflow_file_number")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_runs_status"), "runs", ["status"])

    op.create_table(
        "workflow_counters",
        sa.Column("workflow_file", sa.String(length=1024), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("workflow_file", name=op.f("pk_workflow_counters")),
    )

    op.create_table(
        "jobs",
        sa.Column("id", _id(), nullable=False),
        sa.Column("run_id", _id(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("matrix", _json(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("conclusion", sa.String(length=16), nullable=True),
        sa.Column("outputs", _json(), nullable=False),
        sa.Column("started_at", _time(), nullable=True),
        sa.Column("finished_at", _time(), nullable=True),
        sa.Column("log_lines", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint(_ck("conclusion"), name=op.f("ck_jobs_conclusion")),
        sa.CheckConstraint(STATUS, name=op.f("ck_jobs_status")),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_jobs_run_id_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index(op.f("ix_jobs_run_id"), "jobs", ["run_id"])
    op.create_index(op.f("ix_jobs_status"), "jobs", ["status"])

    op.create_table(
        "log_chunks",
        sa.Column("id", _id(), nullable=False),
        sa.Column("job_id", _id(), nullable=False),
        sa.Column("first_line", sa.BigInteger(), nullable=False),
        sa.Column("last_line", sa.BigInteger(), nullable=False),
        sa.Column("codec", sa.SmallInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_log_chunks_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_chunks")),
        sa.UniqueConstraint("job_id", "first_line", name=op.f("uq_log_chunks_job_id_first_line")),
    )

    op.create_table(
        "steps",
        sa.Column("id", _id(), nullable=False),
        sa.Column("job_id", _id(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(length=255), nullable=True),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("conclusion", sa.String(length=16), nullable=True),
        sa.Column("outputs", _json(), nullable=False),
        sa.Column("started_at", _time(), nullable=True),
        sa.Column("finished_at", _time(), nullable=True),
        sa.CheckConstraint(_ck("conclusion"), name=op.f("ck_steps_conclusion")),
        sa.CheckConstraint(_ck("outcome"), name=op.f("ck_steps_outcome")),
        sa.CheckConstraint(STATUS, name=op.f("ck_steps_status")),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_steps_job_id_jobs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_steps")),
        sa.UniqueConstraint("job_id", "number", name=op.f("uq_steps_job_id_number")),
    )


def downgrade() -> None:
    op.drop_table("steps")
    op.drop_table("log_chunks")
    op.drop_index(op.f("ix_jobs_status"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_run_id"), table_name="jobs")
    op.drop_table("jobs")
    op.drop_table("workflow_counters")
    op.drop_index(op.f("ix_runs_status"), table_name="runs")
    op.drop_table("runs")
