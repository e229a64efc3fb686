"""Environments belong to a repository: two repositories' ``production`` are two environments.

Each has its own reviewers and secrets; a job sees its repository's
environment (global < repository < environment), never the other's, and a
repository without its own environment gets the server-wide default.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pheme.core.server import EnvironmentRules, Role

DEPLOY = """name: Deploy
on: [workflow_dispatch]
jobs:
  deploy:
    runs-on: ubuntu-latest
    environment: production
    steps:
      - run: |
          echo "token $(printf %s "$TOKEN" | sha256sum | cut -c1-16)"
          echo "level=${{ vars.LEVEL }} region=${{ vars.REGION }} shared=${{ secrets.SHARED != '' }}"
        env:
          TOKEN: ${{ secrets.TOKEN }}
"""


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


@pytest.fixture
def server(tmp_path: Path, repos: Any) -> Iterator[Any]:
    from pheme.services.server import PipelineServer
    from pheme.services.server_settings import load_settings

    settings = load_settings(None, database_url=f"sqlite:///{tmp_path / 'server.db'}", secret_key="k",
                             scheduler=False, job_capacity=4, work_dir=tmp_path / "work")  # fmt: skip
    server = PipelineServer(settings)
    server.start()
    for name in ("a", "b", "c"):
        root = repos.make({".github/workflows/deploy.yml": DEPLOY}, name=name)
        server.add_repo(f"acme/{name}", str(root))
    a, b = server.sstore.get_repo("acme/a"), server.sstore.get_repo("acme/b")
    server.put_secret("global", "SHARED", "shared-value", actor="test")
    server.put_variable("global", "LEVEL", "global", actor="test")
    server.put_variable(server.scope_of(a), "LEVEL", "repo-a", actor="test")
    server.put_variable(server.scope_of(b), "LEVEL", "repo-b", actor="test")
    # acme/a: reviewed by alice, acme/b: reviewed by bob, acme/c: none of its own (the default).
    server.put_environment("production", EnvironmentRules(reviewers=("alice",)), None, actor="test", repo=a)
    server.put_environment("production", EnvironmentRules(reviewers=("bob",)), None, actor="test", repo=b)
    server.put_environment("production", EnvironmentRules(reviewer_roles=("admin",)), None, actor="test")
    for repo, token in ((a, "token-of-a"), (b, "token-of-b"), (None, "token-of-default")):
        scope = server.scope_of(repo, "production")
        server.put_secret(scope, "TOKEN", token, actor="test")
        server.put_variable(scope, "REGION", f"region-{token[9:]}", actor="test")
    server.put_variable(server.scope_of(a, "production"), "LEVEL", "env-a", actor="test")
    try:
        yield server
    finally:
        server.close()


def _dispatch_and_wait_for_review(server: Any, repo: str) -> Any:
    from pheme.services.server_runs import dispatch

    [run_id] = dispatch(server, repo, "deploy.yml", "main", {}, actor="carol")
    assert server.dispatcher.wait_until(lambda: bool(server.sstore.list_approvals(state="pending", run_id=run_id)))
    [approval] = server.sstore.list_approvals(state="pending", run_id=run_id)
    return approval


def _finish(server: Any, approval: Any, user: str, role: Role = Role.DEPLOYER) -> list[str]:
    from pheme.core.runs import Status
    from pheme.services.approvals import decide

    decide(server, approval.id, "approve", user=user, role=role)
    run_id = approval.run_id
    assert server.dispatcher.wait_until(lambda: server.store.get_run(run_id).status == Status.COMPLETED, 60)
    assert server.store.get_run(run_id).conclusion.value == "success"
    return list(server.store.read_log(run_id, "deploy"))


def test_each_repository_has_its_own_reviewers_and_its_jobs_see_only_its_own_secrets(server: Any) -> None:
    from pheme.services.approvals import ApprovalForbidden, decide

    for_a = _dispatch_and_wait_for_review(server, "acme/a")
    for_b = _dispatch_and_wait_for_review(server, "acme/b")
    assert (for_a.repository, for_b.repository) == ("acme/a", "acme/b")
    # bob reviews acme/b's production, not acme/a's (same environment name)
    with pytest.raises(ApprovalForbidden, match="not a required reviewer of environment production"):
        decide(server, for_a.id, "approve", user="bob", role=Role.DEPLOYER)
    log_a = _finish(server, for_a, "alice")
    log_b = _finish(server, for_b, "bob")
    assert f"token {_digest('token-of-a')}" in log_a
    assert f"token {_digest('token-of-b')}" in log_b
    assert not any(_digest("token-of-b") in line or _digest("token-of-default") in line for line in log_a)
    # global < repository < (repository, environment)
    assert "level=env-a region=region-a shared=true" in log_a
    assert "level=repo-b region=region-b shared=true" in log_b
    assert not any("token-of-" in line for line in log_a + log_b)
    [audit] = server.sstore.list_audit(action="approval.approve", limit=1)
    assert audit.detail["repository"] == "acme/b" and audit.target.startswith("acme/b run ")


def test_a_repository_without_its_own_environment_gets_the_server_wide_default(server: Any) -> None:
    from pheme.services.approvals import ApprovalForbidden, decide

    approval = _dispatch_and_wait_for_review(server, "acme/c")
    assert approval.repository == "acme/c"
    with pytest.raises(ApprovalForbidden):
        decide(server, approval.id, "approve", user="alice", role=Role.DEPLOYER)  # acme/a's reviewer
    log = _finish(server, approval, "root", Role.ADMIN)
    assert f"token {_digest('token-of-default')}" in log
    assert "level=global region=region-default shared=true" in log


def test_a_repositorys_own_environment_replaces_the_default_entirely(server: Any) -> None:
    from pheme.services.server_runs import dispatch

    c = server.sstore.get_repo("acme/c")
    server.put_environment("production", EnvironmentRules(), None, actor="test", repo=c)  # no reviewers, no secrets
    [run_id] = dispatch(server, "acme/c", "deploy.yml", "main", {}, actor="carol")
    assert server.dispatcher.wait_until(lambda: server.store.get_run(run_id).status.value == "completed", 60)
    log = list(server.store.read_log(run_id, "deploy"))
    assert server.sstore.list_approvals(run_id=run_id) == []
    assert f"token {_digest('')}" in log  # the default's TOKEN does not leak in
    assert "level=global region= shared=true" in log


def test_removing_a_repository_removes_its_environments_and_their_secrets(server: Any, repos: Any) -> None:
    c = server.sstore.get_repo("acme/c")  # the newest: SQLite hands its id to the next repository
    server.put_environment("staging", EnvironmentRules(), None, actor="test", repo=c)
    server.put_secret(server.scope_of(c, "staging"), "TOKEN", "token-of-c", actor="test")
    server.put_secret(server.scope_of(c), "REPO_TOKEN", "repo-token-of-c", actor="test")
    server.remove_repo("acme/c", actor="test")
    root = repos.make({".github/workflows/deploy.yml": DEPLOY}, name="d")
    d = server.add_repo("acme/d", str(root))
    assert server.sstore.list_environments(d.id) == []
    assert server.sstore.values("secret", server.scope_of(c, "staging")) == {}
    assert server.sstore.values("secret", server.scope_of(d)) == {}
    assert server.environment_values(d.id, "staging") == ({}, {})
    assert server.environment_values(d.id, "production")[0] == {"TOKEN": "token-of-default"}
    a = server.sstore.get_repo("acme/a")
    assert server.sstore.get_environment("production", repo_id=a.id).secret_names == ("TOKEN",)
