"""The server's tables on SQLite and PostgreSQL: intake atomicity, de-duplication, claims, recovery."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from pheme.core.runs import Conclusion, Status
from pheme.core.server import EnvironmentRules, Role, value_scope
from pheme.errors import UsageError
from pheme.storage import NotFoundError, Store
from pheme.storage.server import NewRun, ServerStore


@pytest.fixture
def server_store(store: Store) -> ServerStore:
    return ServerStore(store)


def _new(repo_id: int, **kw: Any) -> NewRun:
    base: dict[str, Any] = {"repo_id": repo_id, "workflow": "CI", "file": ".github/workflows/ci.yml", "event": "push",
                            "ref": "refs/heads/main", "sha": "a" * 40, "actor": "bob", "payload": {"after": "a" * 40}}  # fmt: skip
    base.update(kw)
    return NewRun(**base)


def test_repos_are_unique_by_name_and_never_expose_their_secret(server_store: ServerStore) -> None:
    repo = server_store.add_repo("acme/proj", "/src", webhook_secret=b"sealed", github_token_env="TOKEN")
    assert repo.has_webhook_secret and server_store.repo_secret(repo.id) == b"sealed"
    with pytest.raises(UsageError, match="already registered"):
        server_store.add_repo("acme/proj", "/other", webhook_secret=None, github_token_env=None)
    assert [r.name for r in server_store.list_repos()] == ["acme/proj"]
    server_store.delete_repo("acme/proj")
    with pytest.raises(NotFoundError):
        server_store.get_repo("acme/proj")


def test_tokens_are_found_by_hash_until_revoked(server_store: ServerStore) -> None:
    token = server_store.add_token("alice", Role.DEPLOYER, "h" * 64)
    found = server_store.token_by_hash("h" * 64)
    assert found is not None and (found.name, found.role) == ("alice", Role.DEPLOYER)
    server_store.revoke_token(token.id)
    assert server_store.token_by_hash("h" * 64) is None
    with pytest.raises(NotFoundError):
        server_store.revoke_token(999)


def test_a_delivery_creates_its_runs_once_even_when_copies_race(server_store: ServerStore) -> None:
    repo = server_store.add_repo("acme/proj", "/src", webhook_secret=None, github_token_env=None)
    outcomes: list[Any] = []
    barrier = threading.Barrier(4)

    def deliver() -> None:
        barrier.wait()
        outcomes.append(server_store.enqueue([_new(repo.id), _new(repo.id, file="b.yml")], delivery=("d-1", "push", repo.id)))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    firsts = [o for o in outcomes if not o.duplicate]
    assert len(firsts) == 1 and len(firsts[0].run_ids) == 2
    assert all(o.run_ids == firsts[0].run_ids for o in outcomes)
    assert len(server_store.store.list_runs()) == 2
    assert server_store.delivery_runs("d-1") == firsts[0].run_ids


def test_claims_are_exclusive_and_interrupted_runs_end_with_a_reason(server_store: ServerStore) -> None:
    store = server_store.store
    repo = server_store.add_repo("acme/proj", "/src", webhook_secret=None, github_token_env=None)
    [run_id] = server_store.enqueue([_new(repo.id, concurrency_group="g")]).run_ids
    assert server_store.queue_depth() == 1
    assert server_store.claim(run_id, "one") and not server_store.claim(run_id, "two")
    store.update_run(run_id, Status.IN_PROGRESS)
    running = store.create_job(run_id, "build", "build")
    store.update_job(running, Status.IN_PROGRESS)
    store.create_step(running, 1, "compile")
    store.update_step(running, 1, Status.IN_PROGRESS)
    waiting = store.create_job(run_id, "deploy", "deploy")
    store.update_job(waiting, Status.WAITING)
    never = store.create_job(run_id, "later", "later")
    approval = server_store.add_approval(run_id, "deploy", "deploy", "production", "bob")
    assert [e.run_id for e in server_store.interrupted()] == [run_id]
    started = server_store.fail_interrupted_run(run_id, "server stopped")
    assert sorted(started) == sorted([running, waiting])
    run = store.get_run(run_id)
    assert (run.status, run.conclusion, run.error) == (Status.COMPLETED, Conclusion.FAILURE, "server stopped")
    conclusions = {j.id: j.conclusion for j in run.jobs}
    assert conclusions == {running: Conclusion.FAILURE, waiting: Conclusion.FAILURE, never: Conclusion.CANCELLED}
    assert run.jobs[0].steps[0].conclusion == Conclusion.FAILURE
    assert server_store.get_approval(approval.id).state == "cancelled"
    assert server_store.interrupted() == [] and server_store.queue_entry(run_id).state == "done"


def test_a_queued_run_can_be_cancelled_before_it_starts(server_store: ServerStore) -> None:
    repo = server_store.add_repo("acme/proj", "/src", webhook_secret=None, github_token_env=None)
    a, b = server_store.enqueue([_new(repo.id), _new(repo.id)]).run_ids
    assert server_store.cancel_queued(a, "cancelled by alice")
    assert server_store.claim(b, "me")
    assert not server_store.cancel_queued(b, "too late")
    assert server_store.store.get_run(a).conclusion == Conclusion.CANCELLED
    assert [e.run_id for e in server_store.queued()] == []


def test_an_approval_is_decided_once(server_store: ServerStore) -> None:
    repo = server_store.add_repo("acme/proj", "/src", webhook_secret=None, github_token_env=None)
    [run_id] = server_store.enqueue([_new(repo.id)]).run_ids
    approval = server_store.add_approval(run_id, "deploy", "deploy", "production", "bob")
    decided = server_store.decide_approval(approval.id, "approved", "alice", "ok")
    assert decided is not None and (decided.state, decided.decided_by, decided.comment) == ("approved", "alice", "ok")
    assert server_store.decide_approval(approval.id, "rejected", "carol", None) is None
    assert [a.id for a in server_store.list_approvals(state="approved")] == [approval.id]


def test_environments_values_and_audit(server_store: ServerStore) -> None:
    rules = EnvironmentRules(reviewers=("alice",), prevent_self_review=True, wait_timer=5, branches=("main",))
    server_store.put_environment("production", rules, "https://example.com")
    server_store.put_value("secret", "env:production", "TOKEN", b"\x01sealed")
    server_store.put_value("variable", "env:production", "REGION", b"eu")
    server_store.put_value("variable", "env:production", "REGION", b"us")
    env = server_store.get_environment("production")
    assert env.rules == rules and env.secret_names == ("TOKEN",) and env.variables == {"REGION": "us"}
    assert server_store.values("secret", "env:production") == {"TOKEN": b"\x01sealed"}
    first = server_store.audit("alice", "approval.approve", "run 1", {"comment": "ok"})
    server_store.audit("bob", "run.cancel", "run 2")
    assert [a.action for a in server_store.list_audit()] == ["run.cancel", "approval.approve"]
    assert server_store.list_audit(before_id=first.id + 1, limit=1)[0].detail == {"comment": "ok"}


def test_environments_belong_to_a_repository_and_defaults_fill_in(server_store: ServerStore) -> None:
    a = server_store.add_repo("acme/a", "/a", webhook_secret=None, github_token_env=None)
    b = server_store.add_repo("acme/b", "/b", webhook_secret=None, github_token_env=None)
    c = server_store.add_repo("acme/c", "/c", webhook_secret=None, github_token_env=None)
    server_store.put_environment("production", EnvironmentRules(reviewers=("alice",)), repo_id=a.id)
    server_store.put_environment("production", EnvironmentRules(reviewers=("bob",)), repo_id=b.id)
    server_store.put_environment("production", EnvironmentRules(reviewer_roles=("admin",)))  # the default
    server_store.put_environment("production", EnvironmentRules(reviewers=("bob", "dave")), repo_id=b.id)  # replaced
    server_store.put_value("secret", value_scope(a.id, "production"), "TOKEN", b"\x01a")
    server_store.put_value("secret", value_scope(b.id, "production"), "TOKEN", b"\x01b")
    server_store.put_value("variable", value_scope(None, "production"), "REGION", b"eu")
    got_a = server_store.get_environment("production", repo_id=a.id)
    assert (got_a.repository, got_a.rules.reviewers, got_a.secret_names, dict(got_a.variables)) == (
        "acme/a", ("alice",), ("TOKEN",), {}
    )
    assert server_store.get_environment("production", repo_id=b.id).rules.reviewers == ("bob", "dave")
    default = server_store.get_environment("production")
    assert default.is_default and default.repository is None and default.variables == {"REGION": "eu"}
    with pytest.raises(NotFoundError, match="environment staging not found in acme/a"):
        server_store.get_environment("staging", repo_id=a.id)
    # what a job gets: the repository's own, else the default, else nothing
    found = {r.name: server_store.find_environment(r.id, "production") for r in (a, b, c)}
    assert {k: (v.repository, v.rules.reviewers) for k, v in found.items() if v} == {
        "acme/a": ("acme/a", ("alice",)), "acme/b": ("acme/b", ("bob", "dave")), "acme/c": (None, ()),
    }  # fmt: skip
    assert server_store.find_environment(c.id, "staging") is None
    assert [(e.repository, e.name) for e in server_store.list_environments(a.id)] == [("acme/a", "production")]
    assert [e.repository for e in server_store.list_environments()] == [None]
    everything = server_store.list_environments(all_repos=True)
    assert [(e.repository, e.secret_names) for e in everything] == [
        (None, ()), ("acme/a", ("TOKEN",)), ("acme/b", ("TOKEN",)),
    ]  # fmt: skip
    server_store.delete_environment("production", repo_id=a.id)
    assert server_store.values("secret", value_scope(a.id, "production")) == {}
    assert server_store.find_environment(a.id, "production") == default  # the default applies again
    assert server_store.values("secret", value_scope(b.id, "production")) == {"TOKEN": b"\x01b"}
    with pytest.raises(NotFoundError, match="environment production not found in acme/a"):
        server_store.delete_environment("production", repo_id=a.id)
    with pytest.raises(NotFoundError, match="repository 999 not found"):
        server_store.put_environment("production", EnvironmentRules(), repo_id=999)


def test_concurrent_puts_of_a_new_environment_leave_one(server_store: ServerStore) -> None:
    repo = server_store.add_repo("acme/a", "/a", webhook_secret=None, github_token_env=None)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def put(i: int) -> None:
        barrier.wait()
        try:
            for repo_id in (repo.id, None):
                server_store.put_environment("production", EnvironmentRules(wait_timer=i), repo_id=repo_id)
        except BaseException as exc:  # pragma: no cover - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [e.repository for e in server_store.list_environments(all_repos=True)] == [None, "acme/a"]


def test_deleting_a_repository_deletes_its_environments_and_all_its_values(server_store: ServerStore) -> None:
    a = server_store.add_repo("acme/a", "/a", webhook_secret=None, github_token_env=None)
    b = server_store.add_repo("acme/b", "/b", webhook_secret=None, github_token_env=None)
    for repo in (a, b):
        server_store.put_environment("production", EnvironmentRules(), repo_id=repo.id)
        server_store.put_value("secret", value_scope(repo.id, "production"), "TOKEN", b"\x01")
        server_store.put_value("secret", value_scope(repo.id), "TOKEN", b"\x01")
    server_store.put_environment("production", EnvironmentRules())
    server_store.put_value("secret", value_scope(None, "production"), "TOKEN", b"\x01")
    server_store.delete_repo("acme/a")
    assert [e.repository for e in server_store.list_environments(all_repos=True)] == [None, "acme/b"]
    assert server_store.values("secret", value_scope(a.id)) == {}
    assert server_store.values("secret", value_scope(a.id, "production")) == {}
    for scope in (value_scope(b.id), value_scope(b.id, "production"), value_scope(None, "production")):
        assert server_store.values("secret", scope) == {"TOKEN": b"\x01"}


def test_approvals_name_their_runs_repository(server_store: ServerStore) -> None:
    repo = server_store.add_repo("acme/proj", "/src", webhook_secret=None, github_token_env=None)
    [run_id] = server_store.enqueue([_new(repo.id)]).run_ids
    approval = server_store.add_approval(run_id, "deploy", "deploy", "production", "bob")
    assert (approval.repo_id, approval.repository) == (repo.id, "acme/proj")
    assert [a.repository for a in server_store.list_approvals(state="pending")] == ["acme/proj"]
    decided = server_store.decide_approval(approval.id, "approved", "alice", None)
    assert decided is not None and decided.repository == "acme/proj"


def test_run_listing_filters_by_repo_and_status_and_pages(server_store: ServerStore) -> None:
    store = server_store.store
    one = server_store.add_repo("acme/one", "/1", webhook_secret=None, github_token_env=None)
    two = server_store.add_repo("acme/two", "/2", webhook_secret=None, github_token_env=None)
    ids = [server_store.enqueue([_new(r.id)]).run_ids[0] for r in (one, two, one, two, one)]
    store.update_run(ids[0], Status.COMPLETED, conclusion=Conclusion.SUCCESS)
    listed = server_store.list_runs(repo_id=one.id)
    assert [r.id for r, _, _ in listed] == [ids[4], ids[2], ids[0]]
    assert [r.id for r, _, _ in server_store.list_runs(status="completed")] == [ids[0]]
    page = server_store.list_runs(limit=2, before_id=ids[3])
    assert [r.id for r, rid, actor in page] == [ids[2], ids[1]] and page[0][2] == "bob"
