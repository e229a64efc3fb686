"""The standard-library store ``pheme run`` records with (no SQLAlchemy).

It must write exactly the rows the SQLAlchemy store writes (the same calls
through both give the same tables), share the store's numbering, enforce the
same state machine, and step aside (None) for anything it is not sure about,
so that the store's own checks and errors apply.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pheme.core.runs import Conclusion, Status, StepRecord, TransitionError
from pheme.errors import StorageError
from pheme.services.recorder import StoreRecorder
from pheme.storage import NotFoundError, open_store
from pheme.storage._lite import LiteStore, sqlite_path

CI = ".github/workflows/ci.yml"
SHA = "a" * 40
T0 = datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)


def _new_db(tmp_path: Path, name: str) -> str:
    url = f"sqlite:///{tmp_path / name}"
    open_store(url).close()  # created and migrated by the store, as `pheme run` finds it
    return url


@pytest.fixture
def db(tmp_path: Path) -> str:
    return _new_db(tmp_path, "pheme.db")


def _lite(url: str) -> LiteStore:
    store = LiteStore.open(url)
    assert store is not None
    return store


def _tables(url: str) -> dict[str, list[dict[str, Any]]]:
    path = sqlite_path(url)
    assert path is not None
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return {
            table: [dict(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY rowid")]
            for table in ("workflow_counters", "runs", "jobs", "steps", "log_chunks")
        }
    finally:
        conn.close()


def _a_run(store: Any) -> int:
    """The calls a recorder makes for a small run (two jobs, a matrix, outputs, a log,
    a continue-on-error step, a skipped one), with fixed times."""
    run = store.create_run("CI", CI, "push", "refs/heads/main", SHA, inputs={"debug": True, "n": 2}, created_at=T0)
    t = [T0 + timedelta(seconds=i) for i in range(10)]
    store.update_run(run.id, Status.IN_PROGRESS, at=t[1])
    with store.batch():
        build = store.create_job(run.id, "build", "build (3.12)", {"python": "3.12"})
        store.update_job(build, Status.IN_PROGRESS, at=t[1])
        store.add_steps(
            build,
            [
                StepRecord(number=1, name="Run make", step_id="make", status=Status.COMPLETED,
                           outcome=Conclusion.FAILURE, conclusion=Conclusion.SUCCESS, outputs={"v": "1"},
                           started_at=t[1], finished_at=t[2]),
                StepRecord(number=2, name="Run deploy", status=Status.IN_PROGRESS, started_at=t[2]),
                StepRecord(number=3, name="Skipped"),
            ],
        )  # fmt: skip
    writer = store.log_writer(build, chunk_lines=3, autostore=False)
    writer.write_block("line 1\nline 2\n✓ unicode")
    writer.writelines(["a", "b", "c", "d"])
    with store.batch():
        writer.store_sealed()
    writer.close()
    store.update_step(build, 2, Status.COMPLETED, conclusion=Conclusion.SUCCESS, outputs={"url": "x"}, at=t[3])
    store.update_step(build, 3, Status.COMPLETED, conclusion=Conclusion.SKIPPED, at=t[3])
    store.update_job(build, Status.COMPLETED, conclusion=Conclusion.SUCCESS, outputs={"out": "v"}, at=t[4])
    test = store.create_job(run.id, "test", "test")
    store.update_job(test, Status.WAITING, at=t[4])
    store.update_job(test, Status.QUEUED, at=t[5])
    store.update_job(test, Status.COMPLETED, conclusion=Conclusion.CANCELLED, at=t[6])
    store.update_run(run.id, Status.COMPLETED, conclusion=Conclusion.FAILURE, error="stopped", at=t[7])
    return run.id


def test_the_same_calls_store_the_same_rows_as_the_sqlalchemy_store(tmp_path: Path) -> None:
    by_store, by_lite = _new_db(tmp_path, "store.db"), _new_db(tmp_path, "lite.db")
    with open_store(by_store) as store:
        run_id = _a_run(store)
        expected = store.get_run(run_id)
    with _lite(by_lite) as lite:
        assert _a_run(lite) == run_id
        assert lite.get_run(run_id) == expected  # and reads it back the same
    assert _tables(by_lite) == _tables(by_store)
    with open_store(by_lite) as store:  # the store reads what the lite store wrote
        assert store.get_run(run_id) == expected
        assert list(store.read_log(run_id, "build (3.12)")) == ["line 1", "line 2", "✓ unicode", "a", "b", "c", "d"]


def test_numbers_stay_unique_when_the_store_and_the_lite_store_race(db: str) -> None:
    numbers: list[int] = []
    lock = threading.Lock()

    def lite_side() -> None:
        with _lite(db) as lite:
            for _ in range(20):
                run = lite.create_run("CI", CI, "push", "refs/heads/main", SHA)
                with lock:
                    numbers.append(run.number)

    with open_store(db) as store:
        thread = threading.Thread(target=lite_side)
        thread.start()
        for _ in range(20):
            run = store.create_run("CI", CI, "push", "refs/heads/main", SHA)
            with lock:
                numbers.append(run.number)
        thread.join()
    assert sorted(numbers) == list(range(1, 41))


def test_the_state_machine_is_the_stores(db: str) -> None:
    with _lite(db) as lite:
        run = lite.create_run("CI", CI, "push", "refs/heads/main", SHA)
        lite.update_run(run.id, Status.COMPLETED, conclusion=Conclusion.SUCCESS)
        with pytest.raises(TransitionError, match=f"run {run.id}: illegal status change completed -> in_progress"):
            lite.update_run(run.id, Status.IN_PROGRESS)
        with pytest.raises(TransitionError, match="completed needs a conclusion"):
            lite.update_run(run.id, Status.COMPLETED)
        with pytest.raises(NotFoundError, match="job 999 not found"):
            lite.update_job(999, Status.IN_PROGRESS)
        with pytest.raises(NotFoundError, match="run 999 not found"):
            lite.get_run(999)
        assert lite.get_run(run.id).conclusion == Conclusion.SUCCESS  # nothing changed


def test_a_failed_batch_stores_none_of_it(db: str) -> None:
    with _lite(db) as lite:
        run = lite.create_run("CI", CI, "push", "refs/heads/main", SHA)
        with pytest.raises(TransitionError), lite.batch():
            lite.create_job(run.id, "build", "build")
            lite.update_run(run.id, Status.COMPLETED)  # no conclusion: refused
        assert lite.get_run(run.id).jobs == ()


def test_a_second_writer_of_the_same_log_is_refused_clearly(db: str) -> None:
    with _lite(db) as lite:
        run = lite.create_run("CI", CI, "push", "refs/heads/main", SHA)
        job = lite.create_job(run.id, "build", "build")
        first, second = lite.log_writer(job), lite.log_writer(job)
        first.writeline("one")
        first.flush()
        second.writeline("two")
        with pytest.raises(StorageError, match=f"job {job}: its log was appended by another writer"):
            second.flush()


def test_the_recorder_records_through_it(db: str) -> None:
    """StoreRecorder needs nothing else: a whole run recorded through the lite store
    reads back complete through the SQLAlchemy store."""
    from pheme.execution.events import (
        JobFinished,
        JobRef,
        JobStarted,
        LogBlock,
        LogLines,
        RunFinished,
        RunStarted,
        StepFinished,
        StepRef,
        StepStarted,
    )

    with _lite(db) as lite:
        run = lite.create_run("CI", CI, "push", "refs/heads/main", SHA)
        job = JobRef(key="build", job_id="build", name="build")
        step = StepRef(number=1, id="echo", name="Run echo")
        with StoreRecorder(lite, run.id) as recorder:
            recorder(RunStarted(workflow="CI", file=CI, at=T0))
            recorder(JobStarted(job=job, at=T0))
            recorder(StepStarted(job=job, step=step, at=T0))
            recorder(LogLines(job=job, lines=LogBlock("hello\nworld"), step=step))
            recorder(StepFinished(job=job, step=step, outcome=Conclusion.SUCCESS, conclusion=Conclusion.SUCCESS,
                                    outputs={"a": "1"}, at=T0))  # fmt: skip
            recorder(JobFinished(job=job, conclusion=Conclusion.SUCCESS, outputs={}, at=T0))
            recorder(RunFinished(conclusion=Conclusion.SUCCESS, at=T0))
    with open_store(db) as store:
        stored = store.get_run(run.id)
        assert (stored.status, stored.conclusion) == (Status.COMPLETED, Conclusion.SUCCESS)
        assert [(s.name, s.conclusion, dict(s.outputs)) for s in stored.jobs[0].steps] == [
            ("Run echo", Conclusion.SUCCESS, {"a": "1"})
        ]
        assert list(store.read_log(run.id, "build")) == ["hello", "world"]


def _newer_schema(tmp_path: Path, url: str) -> None:
    conn = sqlite3.connect(str(sqlite_path(url)), isolation_level=None)
    conn.execute("UPDATE pheme_schema_version SET version_num = 'from_a_newer_pheme'")
    conn.close()


def test_it_steps_aside_for_what_the_store_must_decide(tmp_path: Path, db: str) -> None:
    # No file yet: the store creates it.
    assert LiteStore.open(f"sqlite:///{tmp_path / 'new.db'}") is None
    assert not (tmp_path / "new.db").exists()
    # Not SQLite, or not a plain file URL.
    assert LiteStore.open("postgresql+psycopg://u:p@localhost/db") is None
    assert LiteStore.open("sqlite://") is None
    assert LiteStore.open(f"sqlite:///{tmp_path / 'x.db'}?mode=ro") is None
    # A corrupt file, untouched.
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not a database" * 100)
    assert LiteStore.open(f"sqlite:///{corrupt}") is None
    assert corrupt.read_bytes() == b"this is not a database" * 100
    # A schema at another revision (older, or written by a newer Pheme).
    _newer_schema(tmp_path, db)
    assert LiteStore.open(db) is None
    assert _tables(db)["runs"] == []  # nothing written


def test_sqlite_path_reads_plain_file_urls_only() -> None:
    assert sqlite_path("sqlite:////var/lib/pheme/pheme.db") == "/var/lib/pheme/pheme.db"
    assert sqlite_path("sqlite+pysqlite:///rel/pheme.db") == "rel/pheme.db"
    assert sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path("postgresql://h/db") is None


def test_importing_it_does_not_load_sqlalchemy() -> None:
    import subprocess
    import sys

    code = "import sys, pheme.storage._lite; print('sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
