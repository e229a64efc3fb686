"""Environments belong to a repository; the server-wide ones become defaults.

Revision ID: 0006_repo_environments
Revises: 0005_run_attempts (written on top of 0004 and re-chained after 0005
when both were merged; this revision touches only ``server_environments`` and
reads nothing 0005 adds, so it runs the same on top of either)
Create Date: 2026-12-02

``server_environments`` gains ``repo_id`` (NULL: a server-wide default;
deleting the repository deletes its environments). One environment per
(repository, name), and one default per name (a partial unique index: NULLs
are distinct in the unique constraint on SQLite and PostgreSQL alike).

Migration rule: every existing (server-wide) environment is kept, unchanged,
as a server-wide DEFAULT: it applies to any repository that has no
environment of that name. Why defaults rather than a copy per repository:

- nothing changes for running pipelines: every repository keeps exactly the
  protection rules, secrets and variables it had;
- a repository registered later is protected too (with copies, a new
  repository's ``production`` job would deploy with no reviewers at all);
- ``[environments.*]`` in server.toml keeps its meaning (seeded as defaults);
- no secret is copied, re-encrypted or even read: the rows keep their
  ``env:<name>`` scope, which now names a default's values, and their
  encrypted bytes. Nothing stored is lost.

A repository's own environment of the same name replaces the default
entirely (rules, secrets and variables) for that repository.

Downgrade: the old schema has no place for a repository's environments, so
they are deleted with their secrets and variables (``repo:<id>:env:<name>``);
the defaults stay as the server-wide environments they were.

Self-contained on purpose (no import of the ORM module).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_repo_environments"
down_revision: str | Sequence[str] | None = "0005_run_attempts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULTS_ONLY = "repo_id IS NULL"


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("server_environments") as batch:
        batch.add_column(sa.Column("repo_id", _id(), nullable=True))
        batch.drop_constraint("uq_server_environments_name", type_="unique")
        batch.create_unique_constraint("uq_server_environments_repo_id_name", ["repo_id", "name"])
        batch.create_foreign_key(
            "fk_server_environments_repo_id_server_repos", "server_repos", ["repo_id"], ["id"], ondelete="CASCADE"
        )
    op.create_index(
        "ix_server_environments_name",
        "server_environments",
        ["name"],
        unique=True,
        sqlite_where=sa.text(DEFAULTS_ONLY),
        postgresql_where=sa.text(DEFAULTS_ONLY),
    )


def downgrade() -> None:
    op.execute("DELETE FROM server_values WHERE scope LIKE 'repo:%:env:%'")
    op.execute("DELETE FROM server_environments WHERE repo_id IS NOT NULL")
    op.drop_index("ix_server_environments_name", table_name="server_environments")
    with op.batch_alter_table("server_environments") as batch:
        batch.drop_constraint("fk_server_environments_repo_id_server_repos", type_="foreignkey")
        batch.drop_constraint("uq_server_environments_repo_id_name", type_="unique")
        batch.create_unique_constraint("uq_server_environments_name", ["name"])
        batch.drop_column("repo_id")
