"""Analysis runs and measurements (monitoring: the canary analysis record).

Revision ID: 0003_analysis
Revises: 0002_server
Create Date: 2026-11-29

Self-contained on purpose (no import of the ORM module).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_analysis"
down_revision: str | Sequence[str] | None = "0002_server"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "analysis_runs",
        sa.Column("id", _id(), nullable=False),
        sa.Column("deployment", sa.String(length=64), nullable=True),
        sa.Column("service", sa.String(length=255), nullable=False),
        sa.Column("environment", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=True),
        sa.Column("track", sa.String(length=32), nullable=False),
        sa.Column("baseline_version", sa.String(length=255), nullable=True),
        sa.Column("template", sa.String(length=255), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("started_at", _time(), nullable=False),
        sa.Column("finished_at", _time(), nullable=True),
        sa.CheckConstraint(
            _in("verdict", ("running", "pass", "fail", "inconclusive")), name=op.f("ck_analysis_runs_verdict")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analysis_runs")),
    )
    op.create_index(op.f("ix_analysis_runs_deployment"), "analysis_runs", ["deployment"])
    op.create_index(
        op.f("ix_analysis_runs_service_environment_started_at"),
        "analysis_runs",
        ["service", "environment", "started_at"],
    )
    op.create_table(
        "analysis_measurements",
        sa.Column("id", _id(), nullable=False),
        sa.Column("run_id", _id(), nullable=False),
        sa.Column("metric", sa.String(length=255), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("value", _json(), nullable=True),
        sa.Column("samples", sa.Float(), nullable=True),
        sa.Column("baseline", sa.Float(), nullable=True),
        sa.Column("p_value", sa.Float(), nullable=True),
        sa.Column("raw", _json(), nullable=False),
        sa.Column("started_at", _time(), nullable=True),
        sa.Column("finished_at", _time(), nullable=True),
        sa.CheckConstraint(
            _in("phase", ("successful", "failed", "inconclusive", "error")),
            name=op.f("ck_analysis_measurements_phase"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["analysis_runs.id"],
            name=op.f("fk_analysis_measurements_run_id_analysis_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analysis_measurements")),
    )
    op.create_index(op.f("ix_analysis_measurements_run_id"), "analysis_measurements", ["run_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_analysis_measurements_run_id"), table_name="analysis_measurements")
    op.drop_table("analysis_measurements")
    op.drop_index(op.f("ix_analysis_runs_service_environment_started_at"), table_name="analysis_runs")
    op.drop_index(op.f("ix_analysis_runs_deployment"), table_name="analysis_runs")
    op.drop_table("analysis_runs")
