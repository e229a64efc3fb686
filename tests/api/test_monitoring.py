"""The monitoring API: analyses, DORA, the Alertmanager receiver and the DORA gauges on /metrics."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import update

from pheme.core.monitoring.verdict import Measurement, Phase, Verdict
from pheme.core.runs import utc_now
from pheme.storage._analysis import AnalysisRepo
from pheme.storage._deployments import DeploymentRepo, deployments


def _deployment(store: Any, status: str, minutes_ago: float, took: float = 60.0, version: str = "1.0") -> int:
    repo = DeploymentRepo(store)
    rec = repo.create(
        service="api", environment="production", kind="deploy", revision=1, version=version, strategy="canary"
    )
    start = utc_now() - timedelta(minutes=minutes_ago)
    with store._conn(write=True) as conn:
        conn.execute(
            update(deployments)
            .where(deployments.c.id == rec.id)
            .values(status=status, created_at=start, finished_at=start + timedelta(seconds=took))
        )
    return rec.id


def test_analyses_of_a_deployment(api: Any) -> None:
    store = api.server.store
    dep = _deployment(store, "failed", 10)
    repo = AnalysisRepo(store)
    run = repo.start_run(service="api", environment="production", version="1.0", track="canary", template="success-rate",
                         deployment=str(dep))  # fmt: skip
    repo.add_measurement(
        run.id,
        Measurement(
            metric="success-rate",
            phase=Phase.FAILED,
            reason="result = 0.5",
            query="q",
            value=0.5,
            samples=99.0,
        ),
    )
    repo.finish_run(run.id, Verdict.FAIL, "success-rate failed")
    body = api.get(f"/api/v1/deployments/{dep}/analyses", role="viewer").json()
    (analysis,) = body["analyses"]
    assert (analysis["verdict"], analysis["reason"]) == ("fail", "success-rate failed")
    assert analysis["measurements"][0]["query"] == "q" and analysis["measurements"][0]["value"] == 0.5
    assert api.get(f"/api/v1/analyses/{run.id}", role="viewer").json()["id"] == run.id
    assert [a["id"] for a in api.get("/api/v1/analyses?service=api", role="viewer").json()["analyses"]] == [
        run.id
    ]
    assert api.get("/api/v1/analyses?service=web", role="viewer").json() == {"analyses": []}
    missing = api.get("/api/v1/analyses/999", role="viewer")
    assert missing.status_code == 404 and missing.json() == {"error": "analysis 999 not found"}


def test_dora_endpoint_and_gauges(api: Any) -> None:
    store = api.server.store
    _deployment(store, "succeeded", 600)
    _deployment(store, "failed", 300, took=30)
    _deployment(store, "succeeded", 100)
    doc = api.get("/api/v1/dora?window=7d", role="viewer").json()
    (group,) = doc["groups"]
    assert doc["window_days"] == 7
    assert group["deployment_frequency"] == {"count": 2, "per_day": pytest.approx(2 / 7)}
    assert group["change_failure_rate"] == {"rate": pytest.approx(1 / 3), "failed": 1, "finished": 3}
    assert group["failed_deployment_recovery_time"]["median_s"] == pytest.approx(30)
    bad = api.get("/api/v1/dora?window=forever", role="viewer")
    assert bad.status_code == 422
    metrics = api.get("/metrics", role=None).text
    assert 'pheme_dora_change_failure_rate{environment="production",service="api"} 0.333' in metrics
    assert 'pheme_dora_deployments{environment="production",outcome="failed",service="api"} 1.0' in metrics


def payload(**labels: str) -> dict[str, Any]:
    return {
        "version": "4",
        "status": "firing",
        "receiver": "pheme",
        "groupKey": "{}",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "HighErrorRate", "service": "api", "env": "production", **labels},
                "annotations": {"summary": "too many 5xx"},
                "startsAt": "2025-01-05T12:00:00Z",
                "fingerprint": "abc",
            }
        ],
    }


def test_alertmanager_webhook_rolls_back_the_latest_deployment(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pheme.deploy import service as deploy

    calls: list[tuple[str, str, Any]] = []
    monkeypatch.setattr(
        deploy,
        "rollback",
        lambda s, e, **kw: calls.append((s, e, kw.get("triggered_by"))) or SimpleNamespace(id=42),
    )
    dep = _deployment(api.server.store, "succeeded", 5)
    response = api.post("/api/v1/alerts/alertmanager", role="deployer", json=payload(pheme_rollback="true"))
    assert response.status_code == 200, response.text
    (out,) = response.json()["alerts"]
    assert (out["action"], out["deployment"], out["service"], out["environment"]) == (
        "rolled_back",
        dep,
        "api",
        "production",
    )
    assert calls == [("api", "production", "alert HighErrorRate: too many 5xx")]
    # The same alert again (Alertmanager repeats): no second rollback.
    again = api.post(
        "/api/v1/alerts/alertmanager", role="deployer", json=payload(pheme_rollback="true")
    ).json()
    assert again["alerts"][0]["action"] == "skipped" and len(calls) == 1
    # Without the label the alert is only passed on.
    note = api.post("/api/v1/alerts/alertmanager", role="deployer", json=payload()).json()
    assert note["alerts"][0]["action"] == "notified"


def test_alertmanager_webhook_rejects_what_is_not_a_payload(api: Any) -> None:
    response = api.post("/api/v1/alerts/alertmanager", role="deployer", json={"version": "2", "alerts": []})
    assert response.status_code == 400
    assert response.json() == {"error": "alertmanager payload version '2' is not supported (expected '4')"}
    response = api.post(
        "/api/v1/alerts/alertmanager",
        role="deployer",
        content=b"{nope",
        headers={"Content-Type": "application/json"},
    )
    assert response.json() == {"error": "the body is not JSON"}


def test_the_deployment_watcher_runs_with_the_server_when_subscribed(api_factory: Any) -> None:
    hook = {"url": "https://chat.example/hook", "secret": "s", "events": ["deployment_rolled_back"]}
    subscribed = api_factory(notifications=[hook])
    watcher = subscribed.server._deploy_watcher
    assert watcher._thread is not None and watcher._thread.is_alive()
    plain = api_factory()
    assert getattr(plain.server, "_deploy_watcher", None) is None
    subscribed.server.stop()
    assert not watcher._thread.is_alive()


def test_a_rolled_back_deployment_sets_its_commit_status(tmp_path: Any) -> None:
    import json
    import subprocess

    from pheme.api.routes.monitoring import commit_status

    work = tmp_path / "work"
    work.mkdir()
    ident = ["-c", "user.name=A", "-c", "user.email=a@x"]
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    (work / "f").write_text("x")
    subprocess.run(["git", *ident, "-C", str(work), "add", "f"], check=True)
    subprocess.run(["git", *ident, "-C", str(work), "commit", "-q", "-m", "c"], check=True)
    sha = subprocess.run(
        ["git", "-C", str(work), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    bare = tmp_path / "mirror.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    pushed: list[Any] = []
    repo = SimpleNamespace(id=1, name="acme/api", source=str(work), github_token_env="TOKEN")
    other = SimpleNamespace(id=2, name="acme/web", source="elsewhere", github_token_env="TOKEN")
    mirrors = {1: SimpleNamespace(path=bare), 2: SimpleNamespace(path=tmp_path / "missing.git")}
    server = SimpleNamespace(
        settings=SimpleNamespace(
            status_context_prefix="pheme",
            github_api_url="https://api.github.test",
            base_url=lambda: "https://pheme.test",
        ),
        feedback=SimpleNamespace(_push=lambda *a: pushed.append(a)),
        sstore=SimpleNamespace(list_repos=lambda: [repo, other]),
        github_token=lambda r: "tok",
        mirrors=SimpleNamespace(get=lambda rid, source: mirrors[rid]),
    )
    data = {
        "deployment": {"id": 9, "kind": "deploy", "service": "api", "environment": "production", "version": "2.0", "commit": sha,
                       "reason": "analysis failed: success-rate: fail"},
        "analyses": [{"verdict": "fail", "reason": "success-rate: 1 failed measurement(s)"}],
    }  # fmt: skip
    commit_status(server, "deployment_rolled_back", data)
    ((kind, url, body, headers),) = pushed  # only the repository that has the commit
    assert (kind, url) == ("commit_status", f"https://api.github.test/repos/acme/api/statuses/{sha}")
    assert json.loads(body) == {
        "state": "failure",
        "context": "pheme/deploy/api/production",
        "description": "2.0 rolled back: analysis failed: success-rate: fail",
        "target_url": "https://pheme.test/api/v1/deployments/9/analyses",
    }
    assert headers["Authorization"] == "Bearer tok"
