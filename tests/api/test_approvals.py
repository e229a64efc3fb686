"""Protected environments: jobs wait for an authorised reviewer; every decision is audited."""

from __future__ import annotations

from typing import Any

import pytest

DEPLOY = """name: Release
on: [push]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo built
  deploy:
    needs: build
    runs-on: ubuntu-latest
    environment:
      name: production
      url: https://example.com
    steps:
      - run: echo "deploying with $TOKEN to ${{ vars.REGION }}"
        env:
          TOKEN: ${{ secrets.DEPLOY_TOKEN }}
"""


@pytest.fixture
def pipe(pipeline_factory: Any) -> Any:
    pipe = pipeline_factory({".github/workflows/release.yml": DEPLOY})
    pipe.api.request("PUT", "/api/v1/environments/production",
                     json={"reviewers": ["deployer-user"], "reviewer_roles": ["admin"], "prevent_self_review": True})  # fmt: skip
    pipe.api.request("PUT", "/api/v1/environments/production/secrets/DEPLOY_TOKEN", json={"value": "tok-123456"})
    pipe.api.request("PUT", "/api/v1/environments/production/variables/REGION", json={"value": "eu-west"})
    return pipe


def _pending(pipe: Any, run_id: int) -> dict[str, Any]:
    pipe.wait(lambda: bool(pipe.server.sstore.list_approvals(state="pending", run_id=run_id)))
    pipe.wait(lambda: pipe.server.store.get_run(run_id).status.value == "waiting")
    [approval] = pipe.api.get(f"/api/v1/approvals?state=pending&run_id={run_id}").json()["approvals"]
    return dict(approval)


def _log(pipe: Any, run: dict[str, Any], job: str) -> list[str]:
    job_id = next(j["job_id"] for j in run["jobs"] if j["id"] == job)
    return list(pipe.api.get(f"/api/v1/runs/{run['id']}/jobs/{job_id}/logs").json()["lines"])


def test_a_protected_job_waits_then_runs_once_approved_with_its_environment_values(pipe: Any) -> None:
    [run_id] = pipe.push(sender="someone")
    approval = _pending(pipe, run_id)
    run = pipe.run(run_id)
    assert run["status"] == "waiting"
    deploy = next(j for j in run["jobs"] if j["id"] == "deploy")
    assert deploy["status"] == "waiting"
    assert (approval["environment"], approval["job"], approval["requested_by"]) == ("production", "deploy", "someone")
    decided = pipe.api.post(f"/api/v1/approvals/{approval['id']}", role="deployer",
                            json={"decision": "approve", "comment": "ship it"})  # fmt: skip
    assert decided.status_code == 200 and decided.json()["state"] == "approved"
    [done] = pipe.wait_done(run_id)
    assert done["conclusion"] == "success"
    log = _log(pipe, done, "deploy")
    assert "deploying with *** to eu-west" in log
    assert not any("tok-123456" in line for line in log)
    [entry] = pipe.api.get("/api/v1/audit?action=approval.approve", role="viewer").json()["entries"]
    assert (entry["actor"], entry["detail"]["comment"]) == ("deployer-user", "ship it")
    assert entry["at"]
    assert pipe.api.post(f"/api/v1/approvals/{approval['id']}", json={"decision": "reject"}).status_code == 409


def test_a_rejected_job_fails_with_the_reviewer_and_comment_in_its_log(pipe: Any) -> None:
    [run_id] = pipe.push(sender="someone")
    approval = _pending(pipe, run_id)
    pipe.api.post(f"/api/v1/approvals/{approval['id']}", role="admin", json={"decision": "reject", "comment": "not today"})
    [run] = pipe.wait_done(run_id)
    assert run["conclusion"] == "failure"
    deploy = next(j for j in run["jobs"] if j["id"] == "deploy")
    assert deploy["conclusion"] == "failure" and deploy["steps"] == []
    assert any("rejected by admin-user: not today" in line for line in _log(pipe, run, "deploy"))
    assert pipe.api.get("/api/v1/audit?action=approval.reject").json()["entries"][0]["detail"]["comment"] == "not today"


def test_only_listed_reviewers_may_decide_and_never_on_their_own_run(pipe: Any) -> None:
    created = pipe.api.post("/api/v1/tokens", json={"role": "deployer", "name": "mallory"}).json()["token"]
    [run_id] = pipe.push(sender="deployer-user")
    approval = _pending(pipe, run_id)
    outsider = pipe.api.client.post(f"/api/v1/approvals/{approval['id']}", json={"decision": "approve"},
                                    headers={"Authorization": f"Bearer {created}"})  # fmt: skip
    assert outsider.status_code == 403 and "not a required reviewer" in outsider.json()["error"]
    own = pipe.api.post(f"/api/v1/approvals/{approval['id']}", role="deployer", json={"decision": "approve"})
    assert own.status_code == 403 and "self-review" in own.json()["error"]
    assert pipe.api.post(f"/api/v1/approvals/{approval['id']}", role="developer", json={"decision": "approve"}).status_code == 403
    assert pipe.server.store.get_run(run_id).status.value == "waiting"
    pipe.api.post(f"/api/v1/runs/{run_id}/cancel")
    [run] = pipe.wait_done(run_id)
    assert run["conclusion"] == "cancelled"
    assert pipe.api.get(f"/api/v1/approvals/{approval['id']}").json()["state"] == "cancelled"


def test_a_branch_not_allowed_by_the_environment_fails_the_job(pipeline_factory: Any) -> None:
    pipe = pipeline_factory({".github/workflows/release.yml": DEPLOY})
    pipe.api.request("PUT", "/api/v1/environments/production", json={"branches": ["main", "release/*"]})
    [allowed] = pipe.push(ref="refs/heads/release/1.0")
    [refused] = pipe.push(ref="refs/heads/feature")
    ok, bad = pipe.wait_done(allowed, refused)
    assert ok["conclusion"] == "success"
    assert bad["conclusion"] == "failure"
    assert any('Branch "feature" is not allowed to deploy to production' in line for line in _log(pipe, bad, "deploy"))


def test_a_wait_timer_delays_the_job_and_the_waiting_gauge_counts_approvals(pipe: Any) -> None:
    pipe.api.request("PUT", "/api/v1/environments/production", json={"reviewers": ["deployer-user"], "wait_timer": 1})
    [run_id] = pipe.push(sender="someone")
    approval = _pending(pipe, run_id)
    assert "pheme_approvals_waiting 1.0" in pipe.api.get("/metrics", role=None).text
    pipe.api.post(f"/api/v1/approvals/{approval['id']}", role="deployer", json={"decision": "approve"})
    [run] = pipe.wait_done(run_id)
    deploy = next(j for j in run["jobs"] if j["id"] == "deploy")
    from datetime import datetime

    started = datetime.fromisoformat(deploy["started_at"].replace("Z", "+00:00"))
    approved = datetime.fromisoformat(pipe.api.get(f"/api/v1/approvals/{approval['id']}").json()["decided_at"].replace("Z", "+00:00"))
    assert (started - approved).total_seconds() >= 0.9
    assert "pheme_approvals_waiting 0.0" in pipe.api.get("/metrics", role=None).text


def test_environments_are_managed_by_admins_and_never_show_secret_values(pipe: Any) -> None:
    env = pipe.api.get("/api/v1/environments/production", role="viewer").json()
    assert env["secrets"] == ["DEPLOY_TOKEN"] and env["variables"] == {"REGION": "eu-west"}
    assert "tok-123456" not in pipe.api.get("/api/v1/environments").text
    assert "tok-123456" not in pipe.api.get("/api/v1/audit").text
    bad = pipe.api.request("PUT", "/api/v1/environments/production", json={"wait_timer": -1})
    assert bad.status_code == 422
    assert pipe.api.request("DELETE", "/api/v1/environments/production").status_code == 204
    assert pipe.api.get("/api/v1/environments/production").status_code == 404


def test_a_job_seen_waiting_is_already_counted_in_the_waiting_gauge(pipe: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The recorder stores ``waiting`` on its own thread; the gauge must be up before it is told.
    from pheme.services import dispatcher

    seen: list[bool] = []
    record = dispatcher.ServerRecorder.__call__

    def spy(self: Any, event: Any) -> None:
        if isinstance(event, dispatcher.JobWaiting):
            seen.append("pheme_approvals_waiting 1.0" in pipe.server.metrics.render().decode())
        record(self, event)

    monkeypatch.setattr(dispatcher.ServerRecorder, "__call__", spy)
    [run_id] = pipe.push(sender="someone")
    _pending(pipe, run_id)
    assert seen == [True]
