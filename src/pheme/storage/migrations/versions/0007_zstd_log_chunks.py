"""Log chunks may be Zstandard-compressed (codec 2).

Revision ID: 0007_zstd_log_chunks
Revises: 0006_repo_environments
Create Date: 2026-11-28

No table changes: Pheme now writes log chunks with Zstandard level 1
(``log_chunks.codec = 2``) instead of zlib (codec 1), which it still reads.
This revision exists so that an older Pheme refuses the database as "created
by a newer Pheme" instead of showing zstd chunks as garbage.

Downgrade rewrites every zstd chunk as zlib level 1, so the older Pheme reads
all logs. Self-contained on purpose (no import of the ORM module).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import sqlalchemy as sa
import zstandard
from alembic import op

revision: str = "0007_zstd_log_chunks"
down_revision: str | Sequence[str] | None = "0006_repo_environments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CODEC_ZLIB = 1
CODEC_ZSTD = 2
BATCH = 256


def upgrade() -> None:
    pass  # the schema is unchanged; the revision marks the new chunk format


def downgrade() -> None:
    conn = op.get_bind()
    chunks = sa.table(
        "log_chunks", sa.column("id", sa.Integer), sa.column("codec", sa.SmallInteger), sa.column("data", sa.LargeBinary)
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(chunks.c.id, chunks.c.data)
            .where(chunks.c.codec == CODEC_ZSTD, chunks.c.id > last)
            .order_by(chunks.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for row in rows:
            text = zstandard.decompress(row.data)
            conn.execute(
                sa.update(chunks)
                .where(chunks.c.id == row.id)
                .values(codec=CODEC_ZLIB, data=zlib.compress(text, 1))
            )
        last = rows[-1].id
