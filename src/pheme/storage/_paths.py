"""Where Pheme keeps its data by default (no SQLAlchemy here: imported at CLI startup)."""

from __future__ import annotations

import os
from pathlib import Path

from pheme.errors import ConfigError

__all__ = ["DATABASE_URL_ENV", "HOME_ENV", "default_database_url", "pheme_home"]

HOME_ENV = "PHEME_HOME"
DATABASE_URL_ENV = "PHEME_DATABASE_URL"
DB_FILENAME = "pheme.db"
# How long a SQLite writer waits for another one (every connection, SQLAlchemy or not).
BUSY_TIMEOUT_S = 30.0


def pheme_home(*, create: bool = False) -> Path:
    """``$PHEME_HOME``, else ``$XDG_DATA_HOME/pheme``, else ``~/.local/share/pheme``.

    With ``create=True`` the directory is made (with parents) and checked to be
    writable; any failure is a :class:`ConfigError` of one line, because an
    unusable home is a configuration problem the user fixes, not a bug.
    """
    env = os.environ.get(HOME_ENV)
    if env:
        home, source = Path(env).expanduser(), HOME_ENV
    else:
        xdg = os.environ.get("XDG_DATA_HOME")
        base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
        home, source = base / "pheme", "the data directory"
    if create:
        try:
            home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{source} {home} is not usable: {exc.strerror or exc}") from None
        if not os.access(home, os.W_OK | os.X_OK):
            raise ConfigError(f"{source} {home} is not writable")
    return home


def default_database_url() -> str:
    """``$PHEME_DATABASE_URL``, else SQLite at ``<pheme_home>/pheme.db`` (home created)."""
    url = os.environ.get(DATABASE_URL_ENV)
    if url:
        return url
    return f"sqlite:///{pheme_home(create=True) / DB_FILENAME}"
