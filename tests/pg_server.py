"""A PostgreSQL server for tests: the one in ``PHEME_TEST_POSTGRES_URL``, or a throwaway one.

Reusable by any test package (load it with :func:`load` from a conftest, since
tests are not an importable package)::

    server = pg_server.acquire()          # raises PgUnavailable with a reason
    url = server.create_database()        # fresh, empty database (SQLAlchemy URL)
    server.drop_database(url)
    server.close()                        # stops and removes a throwaway server

The throwaway server uses Debian's binaries (``/usr/lib/postgresql/*/bin``):
``initdb`` into a temp dir, ``pg_ctl start`` on a free port, listening only on a
unix socket inside that dir, trust auth, fsync off (test data only). As root
the server must run as the ``postgres`` user, so the temp dir is owned by it
and the binaries run through ``runuser``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from sqlalchemy.engine import URL, make_url

ENV_URL = "PHEME_TEST_POSTGRES_URL"


class PgUnavailable(Exception):
    """No PostgreSQL for tests; the message says why and how to get one."""


def find_bin_dir() -> Path | None:
    """The newest Debian PostgreSQL bin dir that has initdb and pg_ctl."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for bin_dir in candidates:
        if (bin_dir / "initdb").exists() and (bin_dir / "pg_ctl").exists():
            return bin_dir
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _libpq(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class PgServer:
    """A server we may create databases on. ``admin_url`` is a SQLAlchemy URL."""

    admin_url: URL
    data_dir: Path | None = None  # set for a throwaway server we own
    _run_as: list[str] = field(default_factory=list)
    _bin: Path | None = None
    _prefix: str = field(default_factory=lambda: f"pheme_test_{uuid.uuid4().hex[:8]}")
    _counter: itertools.count[int] = field(default_factory=itertools.count)
    _created: set[str] = field(default_factory=set)

    def create_database(self) -> str:
        """A fresh empty database; returns its ``postgresql+psycopg://`` URL (with password)."""
        name = f"{self._prefix}_{next(self._counter)}"
        with psycopg.connect(_libpq(self.admin_url), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self._created.add(name)
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        name = make_url(url).database
        assert name is not None
        with psycopg.connect(_libpq(self.admin_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._created.discard(name)

    def close(self) -> None:
        """Drop what we created; stop and delete a throwaway server."""
        if self.data_dir is None:
            for name in list(self._created):
                with contextlib.suppress(psycopg.Error):
                    self.drop_database(self.admin_url.set(database=name).render_as_string(hide_password=False))
            return
        assert self._bin is not None
        subprocess.run(
            [*self._run_as, str(self._bin / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def start_throwaway() -> PgServer:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise PgUnavailable(
            "no PostgreSQL binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql, "
            f"or set {ENV_URL})"
        )
    base = Path(tempfile.mkdtemp(prefix="pheme-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        try:
            pg_user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(base, ignore_errors=True)
            raise PgUnavailable("running as root but there is no 'postgres' user to run the server") from None
        os.chown(base, pg_user.pw_uid, pg_user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data = base / "data"
    port = _free_port()
    try:
        subprocess.run(
            [*run_as, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "-E", "UTF8", "--no-sync", "--no-instructions"],
            capture_output=True, check=True, text=True,
        )  # fmt: skip
        options = (
            f"-p {port} -k {base} -c listen_addresses='' -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        subprocess.run(
            [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"),
             "-o", options, "-w", "-t", "60", "start"],
            capture_output=True, check=True, text=True,
        )  # fmt: skip
    except subprocess.CalledProcessError as exc:
        log = (base / "server.log").read_text(errors="replace")[-2000:] if (base / "server.log").exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        raise PgUnavailable(f"could not start PostgreSQL: {exc.stderr.strip()} {log}") from None
    admin = URL.create("postgresql+psycopg", username="postgres", database="postgres",
                       query={"host": str(base), "port": str(port)})  # fmt: skip
    return PgServer(admin_url=admin, data_dir=data, _run_as=run_as, _bin=bin_dir)


def acquire() -> PgServer:
    """The server named by ``PHEME_TEST_POSTGRES_URL``, else a new throwaway one."""
    env = os.environ.get(ENV_URL)
    if env:
        url = make_url(env).set(drivername="postgresql+psycopg")
        try:
            with psycopg.connect(_libpq(url), autocommit=True, connect_timeout=10):
                pass
        except psycopg.Error as exc:
            raise PgUnavailable(f"{ENV_URL} is set but unreachable: {str(exc).splitlines()[0]}") from None
        return PgServer(admin_url=url)
    return start_throwaway()
