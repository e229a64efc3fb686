"""The pipeline server's tables: repos, tokens, deliveries, queue, environments,
secrets/variables, approvals, audit log.

Revision ID: 0002_server
Revises: 0001_initial
Create Date: 2026-11-29

Self-contained on purpose (no import of the ORM module).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_server"
down_revision: str | Sequence[str] | None = "0001_initial"
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
        "server_repos",
        sa.Column("id", _id(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("webhook_secret", sa.LargeBinary(), nullable=True),
        sa.Column("github_token_env", sa.String(length=255), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_server_repos")),
        sa.UniqueConstraint("name", name=op.f("uq_server_repos_name")),
    )
    op.create_table(
        "server_tokens",
        sa.Column("id", _id(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("last_used_at", _time(), nullable=True),
        sa.Column("revoked_at", _time(), nullable=True),
        sa.CheckConstraint(_in("role", ("viewer", "developer", "deployer", "admin")), name=op.f("ck_server_tokens_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_server_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_server_tokens_token_hash")),
    )
    op.create_table(
        "server_deliveries",
        sa.Column("delivery_id", sa.String(length=255), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("repo_id", _id(), nullable=True),
        sa.Column("received_at", _time(), nullable=False),
        sa.Column("run_ids", _json(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repo_id"], ["server_repos.id"], name=op.f("fk_server_deliveries_repo_id_server_repos"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("delivery_id", name=op.f("pk_server_deliveries")),
    )
    op.create_table(
        "server_queue",
        sa.Column("run_id", _id(), nullable=False),
        sa.Column("repo_id", _id(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("rerun_of", _id(), nullable=True),
        sa.Column("jobs", _json(), nullable=True),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("concurrency_group", sa.String(length=1024), nullable=True),
        sa.Column("cancel_in_progress", sa.Boolean(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("enqueued_at", _time(), nullable=False),
        sa.Column("claimed_by", sa.String(length=255), nullable=True),
        sa.Column("claimed_at", _time(), nullable=True),
        sa.CheckConstraint(_in("state", ("queued", "running", "done")), name=op.f("ck_server_queue_state")),
        sa.ForeignKeyConstraint(
            ["repo_id"], ["server_repos.id"], name=op.f("fk_server_queue_repo_id_server_repos"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_server_queue_run_id_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_server_queue")),
    )
    op.create_index(op.f("ix_server_queue_state_run_id"), "server_queue", ["state", "run_id"])
    op.create_index(op.f("ix_server_queue_repo_id_run_id"), "server_queue", ["repo_id", "run_id"])
    op.create_index(op.f("ix_server_queue_concurrency_group"), "server_queue", ["concurrency_group"])
    op.create_table(
        "server_environments",
        sa.Column("id", _id(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("rules", _json(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_server_environments")),
        sa.UniqueConstraint("name", name=op.f("uq_server_environments_name")),
    )
    op.create_table(
        "server_values",
        sa.Column("id", _id(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=300), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.CheckConstraint(_in("kind", ("secret", "variable")), name=op.f("ck_server_values_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_server_values")),
        sa.UniqueConstraint("kind", "scope", "name", name=op.f("uq_server_values_kind_scope_name")),
    )
    op.create_table(
        "server_approvals",
        sa.Column("id", _id(), nullable=False),
        sa.Column("run_id", _id(), nullable=False),
        sa.Column("job_key", sa.String(length=255), nullable=False),
        sa.Column("job_name", sa.String(length=1024), nullable=False),
        sa.Column("environment", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("requested_at", _time(), nullable=False),
        sa.Column("decided_at", _time(), nullable=True),
        sa.Column("decided_by", sa.String(length=255), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.CheckConstraint(
            _in("state", ("pending", "approved", "rejected", "cancelled")), name=op.f("ck_server_approvals_state")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_server_approvals_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_server_approvals")),
    )
    op.create_index(op.f("ix_server_approvals_run_id"), "server_approvals", ["run_id"])
    op.create_index(op.f("ix_server_approvals_state"), "server_approvals", ["state"])
    op.create_table(
        "server_audit",
        sa.Column("id", _id(), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=1024), nullable=False),
        sa.Column("detail", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_server_audit")),
    )
    op.create_index(op.f("ix_server_audit_at"), "server_audit", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_server_audit_at"), table_name="server_audit")
    op.drop_table("server_audit")
    op.drop_index(op.f("ix_server_approvals_state"), table_name="server_approvals")
    op.drop_index(op.f("ix_server_approvals_run_id"), table_name="server_approvals")
    op.drop_table("server_approvals")
    op.drop_table("server_values")
    op.drop_table("server_environments")
    op.drop_index(op.f("ix_server_queue_concurrency_group"), table_name="server_queue")
    op.drop_index(op.f("ix_server_queue_repo_id_run_id"), table_name="server_queue")
    op.drop_index(op.f("ix_server_queue_state_run_id"), table_name="server_queue")
    op.drop_table("server_queue")
    op.drop_table("server_deliveries")
    op.drop_table("server_tokens")
    op.drop_table("server_repos")
