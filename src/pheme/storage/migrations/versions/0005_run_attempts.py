"""Run attempts: a re-run is a new attempt of the same run (GitHub's run_attempt).

Revision ID: 0005_run_attempts
Revises: 0004_deployments
Create Date: 2026-12-02

``runs.attempt`` (the latest attempt) and ``jobs.attempt`` (the attempt a job
belongs to) default to 1, so every existing run becomes attempt 1 without
rewriting a row; ``jobs.reused_from`` marks jobs carried over into a later
attempt; ``run_attempts`` keeps how superseded attempts ended. The queue's
``attempt``/``rerun_of`` go: a re-run no longer makes a new run, and the run
row holds its attempt number; its index follows queue order (a re-run queues
again, behind what already waits).

Columns are added and dropped with plain ``ALTER TABLE`` (SQLite 3.35+ drops
unindexed columns natively), so a large history is not copied table by table.
Self-contained on purpose (no import of the ORM module).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_run_attempts"
down_revision: str | Sequence[str] | None = "0004_deployments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = "('queued', 'in_progress', 'waiting', 'completed')"
CONCLUSIONS = "('success', 'failure', 'cancelled', 'skipped')"


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _drop_column(table: str, column: str) -> None:
    bind = op.get_bind()
    version = bind.dialect.server_version_info or ()
    if bind.dialect.name == "sqlite" and tuple(version) < (3, 35):  # pragma: no cover - old SQLite only
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
    else:
        op.drop_column(table, column)


def upgrade() -> None:
    op.add_column("runs", sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("jobs", sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("jobs", sa.Column("reused_from", _id(), nullable=True))
    op.create_table(
        "run_attempts",
        sa.Column("run_id", _id(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("conclusion", sa.String(length=16), nullable=True),
        sa.Column("started_at", _time(), nullable=True),
        sa.Column("finished_at", _time(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(f"status IN {STATUSES}", name=op.f("ck_run_attempts_status")),
        sa.CheckConstraint(
            f"conclusion IS NULL OR conclusion IN {CONCLUSIONS}", name=op.f("ck_run_attempts_conclusion")
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_run_attempts_run_id_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "attempt", name=op.f("pk_run_attempts")),
    )
    _drop_column("server_queue", "rerun_of")
    _drop_column("server_queue", "attempt")
    # Queued runs are taken in queue order, not id order: a re-run's attempt queues behind.
    op.drop_index(op.f("ix_server_queue_state_run_id"), table_name="server_queue")
    op.create_index(op.f("ix_server_queue_state_enqueued_at_run_id"), "server_queue", ["state", "enqueued_at", "run_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_server_queue_state_enqueued_at_run_id"), table_name="server_queue")
    op.create_index(op.f("ix_server_queue_state_run_id"), "server_queue", ["state", "run_id"])
    op.add_column("server_queue", sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("server_queue", sa.Column("rerun_of", _id(), nullable=True))
    op.drop_table("run_attempts")
    _drop_column("jobs", "reused_from")
    _drop_column("jobs", "attempt")
    _drop_column("runs", "attempt")
