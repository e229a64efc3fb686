"""Opening a store: where it lives, and refusing what it must not touch."""

from __future__ import annotations

import hashlib
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pheme.errors import ConfigError, StorageError
from pheme.storage import default_database_url, open_store, pheme_home


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for var in ("PHEME_HOME", "PHEME_DATABASE_URL", "XDG_DATA_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# ------------------------------------------------------------------ locations


def test_default_is_sqlite_in_the_xdg_data_dir(clean_env: Path) -> None:
    assert pheme_home() == clean_env / "home" / ".local" / "share" / "pheme"
    with open_store() as store:
        assert store.backend == "sqlite"
        store.create_run("CI", "ci.yml", "push", "main", "0" * 40)
    assert (clean_env / "home" / ".local" / "share" / "pheme" / "pheme.db").is_file()


def test_xdg_data_home_and_pheme_home(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(clean_env / "xdg"))
    assert pheme_home() == clean_env / "xdg" / "pheme"
    monkeypatch.setenv("PHEME_HOME", str(clean_env / "ph"))
    assert default_database_url() == f"sqlite:///{clean_env / 'ph' / 'pheme.db'}"
    open_store().close()
    assert (clean_env / "ph" / "pheme.db").is_file()


def test_pheme_database_url_selects_the_database(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHEME_HOME", str(clean_env / "unused"))
    monkeypatch.setenv("PHEME_DATABASE_URL", f"sqlite:///{clean_env / 'elsewhere.db'}")
    open_store().close()
    assert (clean_env / "elsewhere.db").is_file()
    assert not (clean_env / "unused").exists()


def test_an_unusable_pheme_home_is_a_config_error(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Below a regular file nothing can be created, not even by root.
    blocker = clean_env / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("PHEME_HOME", str(blocker / "sub"))
    with pytest.raises(ConfigError) as info:
        open_store()
    assert str(info.value) == f"PHEME_HOME {blocker / 'sub'} is not usable: Not a directory"


def test_importing_storage_does_not_load_sqlalchemy() -> None:
    code = "import sys, pheme.storage; print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_reopening_a_current_database_needs_neither_alembic_nor_other_subsystems_tables(tmp_path: Path) -> None:
    # Why it matters: `pheme run` opens the store on every start; Alembic and the
    # server/monitoring/deploy tables cost hundreds of milliseconds it does not need.
    url = f"sqlite:///{tmp_path / 'pheme.db'}"
    open_store(url).close()
    code = (
        "import sys; from pheme.storage import open_store; s = open_store(sys.argv[1]); "
        "s.create_run('CI', 'ci.yml', 'push', 'main', '0' * 40); s.close(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako') "
        "or m in ('sqlalchemy.orm', 'pheme.storage._server', 'pheme.storage._analysis', 'pheme.storage._deployments')))"
    )
    out = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_quick_head_check_agrees_with_alembic() -> None:
    from alembic.script import ScriptDirectory

    from pheme.storage._migrate import alembic_config, file_heads

    assert file_heads() == frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


@pytest.mark.parametrize(
    "url,message",
    [
        ("mysql://u:pw@host/db", "unsupported database 'mysql'"),
        ("::not a url::", "invalid database URL"),
        ("postgresql+psycopg2://u@h/db", "unsupported PostgreSQL driver"),
    ],
)
def test_unsupported_urls(url: str, message: str) -> None:
    with pytest.raises(StorageError, match=message) as info:
        open_store(url)
    assert "pw" not in str(info.value)


def test_sqlite_file_in_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        open_store(f"sqlite:///{tmp_path / 'no' / 'such' / 'pheme.db'}")


# ---------------------------------------------------------- refused untouched


def test_a_database_from_a_newer_pheme_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "pheme.db"
    open_store(f"sqlite:///{db}").close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE pheme_schema_version SET version_num = '0042_from_the_future'")
    conn.close()
    before, files = _digest(db), _files(tmp_path)
    with pytest.raises(StorageError) as info:
        open_store(f"sqlite:///{db}")
    assert str(info.value) == (
        f"database at {db} was created by a newer Pheme (revision 0042_from_the_future); upgrade Pheme"
    )
    assert _digest(db) == before and _files(tmp_path) == files


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: b"PK\x03\x04 this is a zip file, not a database " * 200, id="not-sqlite"),
        pytest.param(lambda data: b"\x00" * 100 + data[100:], id="header-wiped"),
    ],
)
def test_a_corrupt_file_is_refused_untouched(tmp_path: Path, damage: Any) -> None:
    db = tmp_path / "pheme.db"
    open_store(f"sqlite:///{db}").close()
    db.write_bytes(damage(db.read_bytes()))
    before, files = _digest(db), _files(tmp_path)
    with pytest.raises(StorageError) as info:
        open_store(f"sqlite:///{db}")
    assert str(info.value).startswith(f"database at {db} is corrupt or not a Pheme database: ")
    assert "\n" not in str(info.value)
    assert _digest(db) == before and _files(tmp_path) == files


def test_another_programs_sqlite_database_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "pheme.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('keep me')")
    conn.close()
    before = _digest(db)
    with pytest.raises(StorageError, match=r"is corrupt or not a Pheme database: it has tables \(notes\)"):
        open_store(f"sqlite:///{db}")
    assert _digest(db) == before


@pytest.mark.postgres
def test_postgres_from_a_newer_pheme_is_refused_untouched(pg_url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    open_store(pg_url).close()
    libpq = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)

    def snapshot() -> tuple[Any, ...]:
        with psycopg.connect(libpq) as conn:
            tables = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
            ).fetchall()
            version = conn.execute("SELECT version_num FROM pheme_schema_version").fetchall()
            return tuple(tables), tuple(version)

    with psycopg.connect(libpq) as conn:
        conn.execute("UPDATE pheme_schema_version SET version_num = '0042_from_the_future'")
    before = snapshot()
    with pytest.raises(StorageError, match=r"was created by a newer Pheme \(revision 0042_from_the_future\)"):
        open_store(pg_url)
    assert snapshot() == before


def test_unreachable_postgres_is_one_line_without_the_password() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    url = f"postgresql://pheme:hunter2-secret@127.0.0.1:{port}/pheme"
    with pytest.raises(StorageError) as info:
        open_store(url)
    message = str(info.value)
    assert message.startswith(f"cannot connect to PostgreSQL at postgresql+psycopg://pheme:***@127.0.0.1:{port}/pheme: ")
    assert "hunter2" not in message and "\n" not in message
