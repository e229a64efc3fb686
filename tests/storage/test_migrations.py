"""Schema migrations: applied on open, matching the models, safe to race (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import threading

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from pheme.storage import Store, open_store
from pheme.storage._migrate import alembic_config
from pheme.storage._orm import VERSION_TABLE, load_all_tables

# The whole schema: every subsystem's tables, not only those the run store loads.
metadata = load_all_tables()

RUN_TABLES = {"runs", "jobs", "steps", "log_chunks", "workflow_counters"}


def _heads(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_heads())
    finally:
        engine.dispose()


def test_an_empty_database_is_migrated_to_head_on_open(db_url: str) -> None:
    open_store(db_url).close()
    head = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    assert _heads(db_url) == head
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            assert tables >= RUN_TABLES
            assert tables == set(metadata.tables) | {VERSION_TABLE}
            # The migrations build exactly what the models describe (no drift).
            ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE, "compare_type": True})
            assert compare_metadata(ctx, metadata) == []
    finally:
        engine.dispose()


def test_reopening_keeps_data(db_url: str) -> None:
    with open_store(db_url) as store:
        run = store.create_run("CI", "ci.yml", "push", "main", "0" * 40)
    with open_store(db_url) as store:
        assert store.get_run(run.id).number == 1
        assert store.create_run("CI", "ci.yml", "push", "main", "0" * 40).number == 2


def test_migrations_go_down_to_empty_and_up_again(db_url: str) -> None:
    open_store(db_url).close()
    engine = create_engine(db_url)
    cfg = alembic_config()
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) <= {VERSION_TABLE}
    finally:
        engine.dispose()
    with open_store(db_url) as store:
        assert store.create_run("CI", "ci.yml", "push", "main", "0" * 40).number == 1


def test_concurrent_first_opens_migrate_once(db_url: str) -> None:
    stores: list[Store] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def opener() -> None:
        try:
            barrier.wait()
            stores.append(open_store(db_url))
        except BaseException as exc:  # pragma: no cover - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    numbers = sorted(s.create_run("CI", "ci.yml", "push", "main", "0" * 40).number for s in stores)
    assert numbers == [1, 2, 3, 4]
    for s in stores:
        s.close()


def test_runs_stored_before_attempts_become_attempt_1(db_url: str) -> None:
    """0005 adds attempts to a database with history: every run, job and queue entry is kept."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    engine = create_engine(db_url)
    cfg = alembic_config()
    now = datetime(2030, 1, 1, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0004_deployments")
            conn.execute(text("INSERT INTO runs (id, number, workflow_name, workflow_file, event, ref, sha, status, "
                              "conclusion, created_at, inputs) VALUES (7, 3, 'CI', 'ci.yml', 'push', 'main', :sha, "
                              "'completed', 'failure', :now, '{}')"), {"sha": "a" * 40, "now": now})  # fmt: skip
            conn.execute(text("INSERT INTO jobs (id, run_id, key, name, status, conclusion, outputs, log_lines) "
                              "VALUES (70, 7, 'build', 'build', 'completed', 'failure', '{}', 0)"))  # fmt: skip
            conn.execute(text("INSERT INTO server_repos (id, name, source, created_at) VALUES (1, 'a/b', '/x', :now)"),
                         {"now": now})  # fmt: skip
            conn.execute(text("INSERT INTO server_queue (run_id, repo_id, state, actor, attempt, rerun_of, payload, "
                              "cancel_in_progress, cancel_requested, enqueued_at) VALUES (7, 1, 'done', 'bob', 2, NULL, "
                              "'{}', false, false, :now)"), {"now": now})  # fmt: skip
    finally:
        engine.dispose()
    with open_store(db_url) as store:
        run = store.get_run(7)
        assert (run.number, run.attempt, run.conclusion) == (3, 1, "failure")
        assert [(j.id, j.attempt, j.reused) for j in run.jobs] == [(70, 1, False)]
        assert store.get_attempt(7, 1) == run and store.attempts(7) == [dataclasses.replace(run, jobs=())]
        from pheme.storage.server import ServerStore

        entry = ServerStore(store).queue_entry(7)
        assert (entry.actor, entry.state) == ("bob", "done")
        again = store.new_attempt(7)  # and it can be re-run as its attempt 2
        assert (again.id, again.number, again.attempt) == (7, 3, 2)
    assert _heads(db_url) == set(ScriptDirectory.from_config(alembic_config()).get_heads())
