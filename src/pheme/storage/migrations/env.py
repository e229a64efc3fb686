"""Alembic environment for Pheme's schema.

At run time :func:`pheme.storage._migrate.upgrade` passes an open connection
(already inside a transaction) in ``config.attributes["connection"]``.
For writing a new revision, developers run (from the repository root)::

    .venv/bin/python -m pheme.storage.migrations revision -m "what changed"

which autogenerates against a scratch SQLite database at head.
"""

from __future__ import annotations

from alembic import context

from pheme.storage._orm import VERSION_TABLE, load_all_tables

metadata = load_all_tables()

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when driven by the developer helper
    raise RuntimeError("Pheme's migrations run through pheme.storage, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,  # SQLite can only ALTER through table copies
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
