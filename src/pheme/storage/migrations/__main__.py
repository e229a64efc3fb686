"""Developer helper: autogenerate a new migration revision.

    .venv/bin/python -m pheme.storage.migrations revision -m "add deployments"

Builds a scratch SQLite database at the current head, compares it with the ORM
metadata and writes ``versions/<rev>_<slug>.py`` for review. Always read the
result: autogenerate misses renames and server defaults.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from pheme.storage._migrate import alembic_config, upgrade


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m pheme.storage.migrations")
    sub = parser.add_subparsers(dest="cmd", required=True)
    rev = sub.add_parser("revision", help="autogenerate a new revision")
    rev.add_argument("-m", "--message", required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'scratch.db'}")
        upgrade(engine, "scratch")
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.revision(cfg, message=args.message, autogenerate=True)
        engine.dispose()


if __name__ == "__main__":
    main()
