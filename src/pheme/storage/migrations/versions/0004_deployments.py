"""Deployments: history, steps and the per-(service, environment) lock.

Revision ID: 0004_deployments
Revises: 0003_analysis
Create Date: 2026-11-28

Self-contained on purpose (no import of the ORM module).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_deployments"
down_revision: str | Sequence[str] | None = "0003_analysis"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = "('in_progress', 'paused', 'succeeded', 'failed', 'aborted')"
OUTCOMES = "('running', 'succeeded', 'failed', 'cancelled')"


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", _id(), nullable=False),
        sa.Column("service", sa.String(length=255), nullable=False),
        sa.Column("environment", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("previous_revision", sa.Integer(), nullable=True),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("commit_sha", sa.String(length=64), nullable=False),
        sa.Column("triggered_by", sa.String(length=255), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("finished_at", _time(), nullable=True),
        sa.CheckConstraint(f"status IN {STATUSES}", name=op.f("ck_deployments_status")),
        sa.CheckConstraint("kind IN ('deploy', 'rollback')", name=op.f("ck_deployments_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_deployments_service_environment_id"), "deployments", ["service", "environment", "id"]
    )
    op.create_table(
        "deployment_steps",
        sa.Column("deployment_id", _id(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("started_at", _time(), nullable=False),
        sa.Column("finished_at", _time(), nullable=True),
        sa.CheckConstraint(f"outcome IN {OUTCOMES}", name=op.f("ck_deployment_steps_outcome")),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_steps_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("deployment_id", "number", name=op.f("pk_deployment_steps")),
    )
    op.create_table(
        "deployment_locks",
        sa.Column("service", sa.String(length=255), nullable=False),
        sa.Column("environment", sa.String(length=255), nullable=False),
        sa.Column("deployment_id", _id(), nullable=True),
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.Column("acquired_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("service", "environment", name=op.f("pk_deployment_locks")),
    )


def downgrade() -> None:
    op.drop_table("deployment_locks")
    op.drop_table("deployment_steps")
    op.drop_index(op.f("ix_deployments_service_environment_id"), table_name="deployments")
    op.drop_table("deployments")
