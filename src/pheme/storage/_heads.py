"""The head revisions of the shipped migrations, read without Alembic or SQLAlchemy.

Both the store's fast open path (:mod:`pheme.storage._migrate`) and the
SQLAlchemy-free store of ``pheme run`` (:mod:`pheme.storage._lite`) compare the
database's version rows with these heads; anything they cannot understand
makes them return None, and the caller takes the full Alembic path.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

__all__ = ["MIGRATIONS_DIR", "VERSION_TABLE", "file_heads"]

VERSION_TABLE = "pheme_schema_version"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE)


@functools.cache
def file_heads() -> frozenset[str] | None:
    """The head revisions of the shipped migrations, read from the files without Alembic.

    None when a file cannot be understood (the caller then asks Alembic).
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        try:
            found: dict[str, str] = {
                m.group(1): m.group(2) for m in _ASSIGNMENT.finditer(path.read_text(encoding="utf-8"))
            }
            revision = ast.literal_eval(found["revision"])
            down = ast.literal_eval(found.get("down_revision", "None"))
        except (OSError, UnicodeDecodeError, KeyError, ValueError, SyntaxError):
            return None
        if not isinstance(revision, str):
            return None
        revisions.add(revision)
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list) and all(isinstance(d, str) for d in down):
            parents.update(down)
        elif down is not None:
            return None
    heads = frozenset(revisions - parents)
    return heads or None
