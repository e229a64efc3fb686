"""Deployment records and the deployment lock in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from pheme.deploy import service as svc
from pheme.storage import NotFoundError, Store, open_store
from pheme.storage._deployments import DeploymentRepo, LockHeld


@pytest.fixture
def store(deploy_db_url: str) -> Iterator[Store]:
    s = open_store(deploy_db_url)
    try:
        yield s
    finally:
        s.close()


def test_a_deployment_is_recorded_with_its_steps(store: Store) -> None:
    repo = DeploymentRepo(store)
    rec = repo.create(
        service="api", environment="prod", kind="deploy", revision=repo.next_revision("api", "prod"),
        version="1.2.0", strategy="canary", commit="a" * 40, triggered_by="workflow CI #7 job deploy",
        target="local/nginx", previous_revision=None,
    )
    assert rec.revision == 1 and rec.status == "in_progress"
    repo.add_step(rec.id, 1, "StartVersion", "start revision 1 (1.2.0) with 2 replica(s) as canary")
    repo.finish_step(rec.id, 1, "succeeded")
    repo.add_step(rec.id, 2, "WaitReady", "wait until 2 replica(s) of revision 1 are ready")
    repo.finish_step(rec.id, 2, "failed", "0/2 replica(s) ready after 60s")
    repo.set_status(rec.id, "failed", "did not become ready")
    got = svc.get_deployment(rec.id, store)
    assert (got.status, got.reason, got.triggered_by, got.commit) == ("failed", "did not become ready", "workflow CI #7 job deploy", "a" * 40)
    assert [(s.action, s.outcome, s.detail) for s in got.steps] == [
        ("StartVersion", "succeeded", ""),
        ("WaitReady", "failed", "0/2 replica(s) ready after 60s"),
    ]
    assert got.finished_at is not None and got.created_at is not None
    assert repo.next_revision("api", "prod") == 2
    assert [r.id for r in svc.list_deployments(store, service="api", environment="prod")] == [rec.id]
    assert svc.list_deployments(store, environment="staging") == []
    with pytest.raises(NotFoundError):
        svc.get_deployment(rec.id + 100, store)


def test_the_lock_admits_one_holder_at_a_time_even_when_racing(store: Store) -> None:
    repo = DeploymentRepo(store)
    winners: list[str] = []
    losers: list[str] = []
    barrier = threading.Barrier(6)

    def contend(name: str) -> None:
        barrier.wait()
        try:
            repo.acquire_lock("api", "prod", name)
            winners.append(name)
        except LockHeld:
            losers.append(name)

    threads = [threading.Thread(target=contend, args=(f"agent:h:x:{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1 and len(losers) == 5
    # Another environment is independent; releasing lets the next one in.
    repo.acquire_lock("api", "staging", "agent:h:x:99")
    repo.release_lock("api", "prod", winners[0])
    repo.acquire_lock("api", "prod", "agent:h:x:7")


def test_a_dead_holders_lock_can_be_taken_over(store: Store) -> None:
    repo = DeploymentRepo(store)
    repo.acquire_lock("api", "prod", "agent:h:x:1")
    repo.attach_lock("api", "prod", "agent:h:x:1", 42)
    with pytest.raises(LockHeld) as held:
        repo.acquire_lock("api", "prod", "agent:h:x:2", stale=lambda holder: False)
    assert held.value.deployment_id == 42
    repo.acquire_lock("api", "prod", "agent:h:x:2", stale=lambda holder: holder.endswith(":1"))
    assert repo.lock("api", "prod")[0] == "agent:h:x:2"  # type: ignore[index]


def test_unfinished_deployments_are_failed_after_a_crash(store: Store) -> None:
    repo = DeploymentRepo(store)
    rec = repo.create(service="api", environment="prod", kind="deploy", revision=1, version="1", strategy="blueGreen")
    repo.add_step(rec.id, 1, "Pause", "pause until promoted")
    repo.set_status(rec.id, "paused", "waiting")
    assert repo.fail_unfinished("the deploy agent stopped", ids=[rec.id]) == [rec.id]
    got = repo.get(rec.id)
    assert got.status == "failed" and got.steps[0].outcome == "cancelled"


def test_finishing_a_deployment_frees_its_environment_at_the_same_moment(store: Store) -> None:
    repo = DeploymentRepo(store)
    rec = repo.create(service="api", environment="prod", kind="deploy", revision=1, version="1", strategy="blueGreen")
    repo.acquire_lock("api", "prod", "agent:h:x:1")
    repo.attach_lock("api", "prod", "agent:h:x:1", rec.id)
    repo.finish(rec.id, "succeeded", None, service="api", environment="prod", holder="agent:h:x:1")
    assert repo.get(rec.id).status == "succeeded"
    assert repo.lock("api", "prod") is None
    repo.acquire_lock("api", "prod", "agent:h:x:2")  # the next deployment may start at once
