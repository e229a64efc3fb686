"""Persistence for run history and logs: the only package that talks SQL.

Importing this package is cheap (no SQLAlchemy): the heavy modules load when
:func:`open_store` is first called, so the CLI can import it for types.

    from pheme.storage import open_store
    store = open_store()          # SQLite at $PHEME_HOME/pheme.db, or $PHEME_DATABASE_URL
    run = store.create_run("CI", ".github/workflows/ci.yml", "push", "refs/heads/main", sha)

Public API: :func:`open_store`, :class:`Store`, :class:`LogWriter`,
:class:`NotFoundError`, :func:`pheme_home`, :func:`default_database_url`.
Everything returned is a :mod:`pheme.core.runs` record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pheme.storage._errors import NotFoundError
from pheme.storage._paths import DATABASE_URL_ENV, HOME_ENV, default_database_url, pheme_home

if TYPE_CHECKING:
    from pheme.storage._lite import LiteStore
    from pheme.storage._logs import LogWriter
    from pheme.storage._store import Store

__all__ = [
    "DATABASE_URL_ENV",
    "HOME_ENV",
    "LogWriter",
    "NotFoundError",
    "Store",
    "default_database_url",
    "open_lite_store",
    "open_store",
    "pheme_home",
]


def open_store(url: str | None = None) -> Store:
    """Open (creating and migrating as needed) the store at ``url``.

    ``url`` defaults to ``$PHEME_DATABASE_URL``, else SQLite at
    ``$PHEME_HOME/pheme.db`` (``PHEME_HOME`` defaults to
    ``$XDG_DATA_HOME/pheme`` or ``~/.local/share/pheme``). PostgreSQL URLs are
    ``postgresql+psycopg://user:pass@host/db`` (plain ``postgresql://`` works too).

    Raises :class:`~pheme.errors.ConfigError` if the home is not usable and
    :class:`~pheme.errors.StorageError` if the database is unreachable,
    corrupt, not Pheme's, or from a newer Pheme (then nothing is modified).
    """
    from pheme.storage._store import Store

    return Store.open(url)


def open_lite_store(url: str | None = None) -> LiteStore | None:
    """The store at ``url`` opened with the standard library (no SQLAlchemy), for recording
    runs, if it is an existing SQLite file at the shipped schema; else None (use
    :func:`open_store`). Same rows, same numbering: see :mod:`pheme.storage._lite`."""
    from pheme.storage._lite import LiteStore

    return LiteStore.open(url)


def __getattr__(name: str) -> Any:
    # Lazy: `from pheme.storage import Store` works at run time without slowing plain imports.
    if name == "Store":
        from pheme.storage._store import Store

        return Store
    if name == "LogWriter":
        from pheme.storage._logs import LogWriter

        return LogWriter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
