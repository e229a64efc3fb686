"""The SQLAlchemy-free run reservation that lets ``pheme run`` start its steps early.

It must write exactly the row the store writes, share the store's numbering,
and step aside (None) for anything it is not sure about, so that the store's
own checks and errors apply.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from pheme.core.runs import Status
from pheme.storage import open_store
from pheme.storage._quick import reserve_run, sqlite_path

CI = ".github/workflows/ci.yml"
SHA = "a" * 40


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'pheme.db'}"
    open_store(url).close()  # created and migrated by the store, as `pheme run` finds it
    return url


def _raw_rows(url: str) -> list[dict[str, object]]:
    path = sqlite_path(url)
    assert path is not None
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY id")]
    finally:
        conn.close()


def test_the_reserved_run_is_the_row_the_store_writes(db: str) -> None:
    with open_store(db) as store:
        by_store = store.create_run("CI", CI, "push", "refs/heads/main", SHA, inputs={"debug": True, "n": 2})
    quick = reserve_run(db, "CI", CI, "push", "refs/heads/main", SHA, inputs={"debug": True, "n": 2})
    assert quick is not None
    assert (by_store.number, quick.number) == (1, 2)

    with open_store(db) as store:
        read_back = store.get_run(quick.id)
        assert read_back.status == Status.QUEUED
        assert (read_back.workflow, read_back.file, read_back.event, read_back.ref, read_back.sha) == (
            "CI", CI, "push", "refs/heads/main", SHA,
        )  # fmt: skip
        assert read_back.inputs == {"debug": True, "n": 2}
        assert read_back.created_at == quick.created_at
        # The store carries on the same numbering, and can update the reserved run.
        assert store.create_run("CI", CI, "push", "refs/heads/main", SHA).number == 3
        store.update_run(quick.id, Status.IN_PROGRESS)

    first, second, _ = _raw_rows(db)
    differing = {k for k in first if first[k] != second[k]}
    assert differing <= {"id", "number", "created_at", "status", "started_at"}
    assert type(first["created_at"]) is type(second["created_at"])
    assert len(str(first["created_at"])) == len(str(second["created_at"]))  # same text format


def test_numbers_stay_unique_when_the_store_and_quick_reservations_race(db: str) -> None:
    numbers: list[int] = []
    lock = threading.Lock()

    def quick_side() -> None:
        for _ in range(20):
            run = reserve_run(db, "CI", CI, "push", "refs/heads/main", SHA)
            assert run is not None
            with lock:
                numbers.append(run.number)

    with open_store(db) as store:
        thread = threading.Thread(target=quick_side)
        thread.start()
        for _ in range(20):
            run = store.create_run("CI", CI, "push", "refs/heads/main", SHA)
            with lock:
                numbers.append(run.number)
        thread.join()
    assert sorted(numbers) == list(range(1, 41))


def test_it_steps_aside_for_what_the_store_must_decide(tmp_path: Path, db: str) -> None:
    # No file yet: the store creates it.
    assert reserve_run(f"sqlite:///{tmp_path / 'new.db'}", "CI", CI, "push", "r", SHA) is None
    # Not SQLite, or not a plain file URL.
    assert reserve_run("postgresql+psycopg://u:p@localhost/db", "CI", CI, "push", "r", SHA) is None
    assert reserve_run("sqlite://", "CI", CI, "push", "r", SHA) is None
    assert reserve_run(f"sqlite:///{tmp_path / 'x.db'}?mode=ro", "CI", CI, "push", "r", SHA) is None
    # A corrupt file.
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not a database" * 100)
    assert reserve_run(f"sqlite:///{corrupt}", "CI", CI, "push", "r", SHA) is None
    assert corrupt.read_bytes() == b"this is not a database" * 100
    # A schema at another revision (older, or written by a newer Pheme).
    path = sqlite_path(db)
    assert path is not None
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE pheme_schema_version SET version_num = 'from_a_newer_pheme'")
    conn.close()
    assert reserve_run(db, "CI", CI, "push", "r", SHA) is None
    assert _raw_rows(db) == []  # nothing written


def test_sqlite_path_reads_plain_file_urls_only() -> None:
    assert sqlite_path("sqlite:////var/lib/pheme/pheme.db") == "/var/lib/pheme/pheme.db"
    assert sqlite_path("sqlite+pysqlite:///rel/pheme.db") == "rel/pheme.db"
    assert sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path("postgresql://h/db") is None
