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
    env = "/api/v1/repos/acme/proj/environments/production"
    for path, body in ((env, {"reviewers": ["deployer-user"], "reviewer_roles": ["admin"], "prevent_self_review": True}),
                       (f"{env}/secrets/DEPLOY_TOKEN", {"value": "tok-123456"}),
                       (f"{env}/variables/REGION", {"value": "eu-west"})):  # fmt: skip
        assert pipe.api.request("PUT", path, json=body).status_code < 300
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
    assert approval["repository"] == "acme/proj"
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
    assert entry["detail"]["repository"] == "acme/proj" and entry["target"].startswith("acme/proj run ")
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
    # a server-wide default: it applies to acme/proj, which has no production of its own
    pipe.api.request("PUT", "/api/v1/environments/production", json={"branches": ["main", "release/*"]})
    [allowed] = pipe.push(ref="refs/heads/release/1.0")
    [refused] = pipe.push(ref="refs/heads/feature")
    ok, bad = pipe.wait_done(allowed, refused)
    assert ok["conclusion"] == "success"
    assert bad["conclusion"] == "failure"
    assert any('Branch "feature" is not allowed to deploy to production' in line for line in _log(pipe, bad, "deploy"))


def test_a_wait_timer_delays_the_job_and_the_waiting_gauge_counts_approvals(pipe: Any) -> None:
    pipe.api.request("PUT", "/api/v1/repos/acme/proj/environments/production",
                     json={"reviewers": ["deployer-user"], "wait_timer": 1})  # fmt: skip
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
    base = "/api/v1/repos/acme/proj/environments"
    env = pipe.api.get(f"{base}/production", role="viewer").json()
    assert env["secrets"] == ["DEPLOY_TOKEN"] and env["variables"] == {"REGION": "eu-west"}
    assert (env["repository"], env["default"]) == ("acme/proj", False)
    assert pipe.api.get(f"{base}/production/secrets", role="viewer").json() == {"secrets": ["DEPLOY_TOKEN"]}
    assert pipe.api.get(f"{base}/production/variables", role="viewer").json() == {"variables": {"REGION": "eu-west"}}
    assert "tok-123456" not in pipe.api.get(base).text
    assert "tok-123456" not in pipe.api.get("/api/v1/audit").text
    bad = pipe.api.request("PUT", f"{base}/production", json={"wait_timer": -1})
    assert bad.status_code == 422
    assert pipe.api.request("DELETE", f"{base}/production/variables/REGION").status_code == 204
    assert pipe.api.get(f"{base}/production/variables").json() == {"variables": {}}
    assert pipe.api.request("DELETE", f"{base}/production").status_code == 204
    gone = pipe.api.get(f"{base}/production")
    assert gone.status_code == 404 and gone.json()["error"] == "environment production not found in acme/proj"
    unknown = pipe.api.get("/api/v1/repos/acme/nope/environments")
    assert unknown.status_code == 404 and unknown.json()["error"] == "repository acme/nope not found"


def test_two_repositories_have_their_own_production_and_both_see_the_defaults(pipe: Any, tmp_path: Any) -> None:
    (tmp_path / "other").mkdir()
    pipe.api.post("/api/v1/repos", json={"name": "acme/other", "source": str(tmp_path / "other")})
    other = "/api/v1/repos/acme/other/environments"
    assert pipe.api.request("PUT", f"{other}/production", json={"reviewers": ["someone-else"]}).status_code == 200
    pipe.api.request("PUT", f"{other}/production/secrets/DEPLOY_TOKEN", json={"value": "other-token"})
    pipe.api.request("PUT", "/api/v1/environments/staging", json={"wait_timer": 3})  # a server-wide default
    mine = pipe.api.get("/api/v1/repos/acme/proj/environments", role="viewer").json()
    theirs = pipe.api.get(other, role="viewer").json()
    assert [(e["name"], e["reviewers"]) for e in mine["environments"]] == [("production", ["deployer-user"])]
    assert [(e["name"], e["reviewers"]) for e in theirs["environments"]] == [("production", ["someone-else"])]
    assert mine["total_count"] == 1
    assert [(e["name"], e["default"], e["repository"]) for e in mine["defaults"]] == [("staging", True, None)]
    assert [e["name"] for e in pipe.api.get("/api/v1/environments").json()["environments"]] == ["staging"]
    # deleting one repository's environment leaves the other's alone
    assert pipe.api.request("DELETE", f"{other}/production").status_code == 204
    assert pipe.api.get("/api/v1/repos/acme/proj/environments/production").json()["secrets"] == ["DEPLOY_TOKEN"]
    [put] = [e for e in pipe.api.get("/api/v1/audit?action=environment.put").json()["entries"]
             if e["detail"]["repository"] == "acme/other"]  # fmt: skip
    assert put["target"] == "acme/other environment production"
    [secret] = pipe.api.get("/api/v1/audit?action=secret.put").json()["entries"][:1]
    assert secret["target"] == "acme/other environment production/DEPLOY_TOKEN" and "other-token" not in str(secret)


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
