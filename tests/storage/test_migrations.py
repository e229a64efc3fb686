"""Schema migrations: applied on open, matching the models, safe to race (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from pheme.errors import StorageError
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


def test_server_wide_environments_become_defaults_with_their_secrets_intact(db_url: str) -> None:
    """A database at 0004 (environments server-wide) upgraded: nothing stored is lost, secrets stay sealed."""
    from sqlalchemy import insert, select
    from sqlalchemy.exc import IntegrityError

    from pheme.core.runs import utc_now
    from pheme.core.server import EnvironmentRules
    from pheme.services.secretbox import SecretBox
    from pheme.storage._server import environments_t, repos_t, values_t
    from pheme.storage.server import ServerStore

    box = SecretBox(b"server-key")
    sealed = box.seal("tok-123456")
    rules = {"reviewers": ["alice"], "reviewer_roles": ["admin"], "prevent_self_review": True, "wait_timer": 5,
             "branches": ["main"]}  # fmt: skip
    engine = create_engine(db_url)
    cfg = alembic_config()
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0004_deployments")
        with engine.begin() as conn:  # the 0004 schema's columns only (no repo_id yet)
            now = utc_now()
            repo_id = conn.execute(
                insert(repos_t).values(name="acme/proj", source="/src", created_at=now).returning(repos_t.c.id)
            ).scalar_one()
            conn.execute(insert(environments_t).values(name="production", url="https://example.com", rules=rules,
                                                       updated_at=now))  # fmt: skip
            for kind, scope, name, value in (("secret", "env:production", "DEPLOY_TOKEN", sealed),
                                             ("variable", "env:production", "REGION", b"eu-west"),
                                             ("secret", f"repo:{repo_id}", "REPO_TOKEN", sealed),
                                             ("secret", "global", "SHARED", sealed)):  # fmt: skip
                conn.execute(insert(values_t).values(kind=kind, scope=scope, name=name, value=value, updated_at=now))
            before = sorted(tuple(r) for r in conn.execute(select(values_t.c.kind, values_t.c.scope, values_t.c.name,
                                                                   values_t.c.value)))  # fmt: skip
    finally:
        engine.dispose()

    with open_store(db_url) as store:
        server = ServerStore(store)
        [env] = server.list_environments(all_repos=True)
        assert env.is_default and env.rules == EnvironmentRules.from_json(rules) and env.url == "https://example.com"
        assert (env.secret_names, dict(env.variables)) == (("DEPLOY_TOKEN",), {"REGION": "eu-west"})
        found = server.find_environment(repo_id, "production")  # the default applies to the repository
        assert found is not None and found.id == env.id
        assert box.open(server.values("secret", found.scope)["DEPLOY_TOKEN"]) == "tok-123456"
        with store._conn(write=False) as conn:
            after = sorted(tuple(r) for r in conn.execute(select(values_t.c.kind, values_t.c.scope, values_t.c.name,
                                                                  values_t.c.value)))  # fmt: skip
        assert [(k, s, n, bytes(v)) for k, s, n, v in after] == [(k, s, n, bytes(v)) for k, s, n, v in before]
        # now the repository may have its own production beside the default, but never a second default
        server.put_environment("production", EnvironmentRules(), repo_id=repo_id)
        assert len(server.list_environments(all_repos=True)) == 2
        with pytest.raises((IntegrityError, StorageError)), store._conn(write=True) as conn:
            conn.execute(insert(environments_t).values(name="production", rules={}, updated_at=utc_now()))

    # and back: the old schema keeps the defaults (a repository's environments have no place there)
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0004_deployments")
        with engine.connect() as conn:
            assert [r.name for r in conn.execute(select(environments_t.c.name))] == ["production"]
            assert len(conn.execute(select(values_t.c.id)).all()) == 4
    finally:
        engine.dispose()


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


def test_zstd_logs_go_back_to_zlib_when_downgrading_below_0007(db_url: str) -> None:
    import zlib

    from sqlalchemy import text

    lines = [f"line {i} of a log " + "x" * (i % 50) for i in range(5000)]
    with open_store(db_url) as store:
        run = store.create_run("CI", "ci.yml", "push", "main", "0" * 40)
        job_id = store.create_job(run.id, "build", "build")
        store.append_log(job_id, lines)
    engine = create_engine(db_url)
    cfg = alembic_config()
    try:
        with engine.connect() as conn:
            assert {r[0] for r in conn.execute(text("SELECT codec FROM log_chunks"))} == {2}
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0006_repo_environments")
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT codec, data FROM log_chunks ORDER BY first_line")).all()
        # What Pheme before 0007 reads: zlib chunks holding the same text.
        assert {r[0] for r in rows} == {1}
        assert "\n".join(zlib.decompress(r[1]).decode() for r in rows).split("\n") == lines
    finally:
        engine.dispose()
    with open_store(db_url) as store:  # back at head, the zlib chunks still read
        assert list(store.read_log(run.id, "build")) == lines
