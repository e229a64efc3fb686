"""Fixtures: every store test runs on SQLite and on a real PostgreSQL.

PostgreSQL comes from ``PHEME_TEST_POSTGRES_URL`` or a throwaway server started
once per session (see ``tests/pg_server.py``); without either the PostgreSQL
variants skip with the reason.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pheme.storage import Store, open_store


def load_pg_server() -> ModuleType:
    """``tests/pg_server.py`` as a module (tests are not a package)."""
    name = "pheme_tests_pg_server"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).resolve().parent.parent / "pg_server.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


pg_server_mod = load_pg_server()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    try:
        server = pg_server_mod.acquire()
    except pg_server_mod.PgUnavailable as exc:
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def pg_url(pg_server: Any) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    url: str = pg_server.create_database()
    try:
        yield url
    finally:
        pg_server.drop_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL, once for SQLite and once for PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'pheme.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    try:
        yield s
    finally:
        s.close()
