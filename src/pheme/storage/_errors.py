"""Storage-specific errors (light: no SQLAlchemy)."""

from __future__ import annotations

from pheme.errors import StorageError

__all__ = ["NotFoundError"]


class NotFoundError(StorageError):
    """A run, job or step id that the database does not have (e.g. a typo in ``pheme runs view 42``)."""
