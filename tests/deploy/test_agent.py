"""End to end through the local deploy agent: deploy, switch under load, roll back, refuse, recover."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pheme.deploy import service as svc
from pheme.deploy.client import AgentClient
from pheme.deploy.loadgen import Load
from pheme.deploy.supervisor import process_alive
from pheme.errors import DeployError, UsageError

from .conftest import make_project

pytestmark = pytest.mark.timeout(180)

DEPLOY = """\
services:
  api:
    artifact: dist/pheme-api-{version}.pyz
    command: python3 {artifact}
    env: {PORT: "{port}", APP_VERSION: "{version}"}
    health: {path: HEALTH_PATH, periodSeconds: 0.2}
    replicas: 2
environments:
  staging:
    target: {kind: local, router: builtin}
    strategy:
      blueGreen:
        prePromotionChecks: [{http: /version}]
        postPromotionChecks: [{run: "test \\"$PHEME_VERSION\\" != 6.6.6"}]
        scaleDownDelaySeconds: 600
      canary:
        steps: [{setWeight: 25}, {pause: {}}]
    progressDeadlineSeconds: 3
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    monkeypatch.setenv("PHEME_HOME", str(home))
    monkeypatch.delenv("PHEME_DATABASE_URL", raising=False)
    for name in ("GITHUB_WORKFLOW", "GITHUB_RUN_NUMBER", "GITHUB_SHA"):
        monkeypatch.delenv(name, raising=False)
    root = make_project(tmp_path, DEPLOY.replace("HEALTH_PATH", "/health"), ("1.0.0", "1.1.0", "1.2.0", "6.6.6"))
    try:
        yield root
    finally:
        with contextlib.suppress(DeployError):
            svc.stop_agent(keep_services=False)


def _url() -> str:
    status = svc.rollout_status("api", "staging")
    url: str = status["services"][0]["state"]["url"]
    return url


def _served(url: str) -> str:
    import json
    import urllib.request

    with urllib.request.urlopen(url + "/version", timeout=5) as resp:
        return str(json.load(resp)["version"])


def test_blue_green_deploys_switch_under_load_without_a_failed_request_and_roll_back_fast(project: Path) -> None:
    first = svc.deploy("api", "staging", "1.0.0", workdir=project)
    assert first.status == "succeeded", first.reason
    url = _url()
    host, port = url.split("://")[1].split(":")

    async def under_load() -> tuple[Load, float]:
        load = Load(host, int(port), rps=150, connections=6)
        load.start()
        try:
            await load.wait_for(lambda s: s.label == "1.0.0")
            second = await asyncio.to_thread(svc.deploy, "api", "staging", "1.1.0", workdir=project)
            assert second.status == "succeeded", second.reason
            await load.wait_for(lambda s: s.label == "1.1.0")
            t0 = time.monotonic()
            back = await asyncio.to_thread(svc.rollback, "api", "staging")
            took = time.monotonic() - t0
            assert back.status == "succeeded" and back.revision == 1, back.reason
            await load.wait_for(lambda s: s.label == "1.0.0")
        finally:
            await load.stop()
        return load, took

    load, took = asyncio.run(under_load())
    assert load.failed == [], load.failed[:3]
    assert took < 1.0
    assert _served(url) == "1.0.0"
    # Every deployment is recorded, with its steps.
    records = svc.list_deployments(service="api", environment="staging")
    assert [(r.kind, r.revision, r.version, r.status) for r in records] == [
        ("rollback", 1, "1.0.0", "succeeded"),
        ("deploy", 2, "1.1.0", "succeeded"),
        ("deploy", 1, "1.0.0", "succeeded"),
    ]
    detail = svc.get_deployment(records[1].id)
    assert detail.triggered_by.startswith("user ") and detail.previous_revision == 1
    assert [s.action for s in detail.steps] == [
        "StartVersion", "WaitReady", "RunCheck", "SetTraffic", "RunCheck", "StopVersion",
    ]
    assert all(s.outcome == "succeeded" for s in detail.steps)


def test_failed_post_promotion_check_switches_back_and_a_never_healthy_version_never_gets_traffic(
    project: Path,
) -> None:
    assert svc.deploy("api", "staging", "1.0.0", workdir=project).status == "succeeded"
    url = _url()
    bad = svc.deploy("api", "staging", "6.6.6", workdir=project)
    assert bad.status == "failed" and "post-promotion check" in bad.reason
    assert "traffic switched back to revision 1" in bad.reason
    assert _served(url) == "1.0.0"
    # A health check that never passes: the deployment fails at its deadline, traffic untouched.
    (project / ".pheme" / "deploy.yml").write_text(DEPLOY.replace("HEALTH_PATH", "/not-there"))
    t0 = time.monotonic()
    never = svc.deploy("api", "staging", "1.2.0", workdir=project)
    assert never.status == "failed" and "progress deadline of 3s" in never.reason
    assert time.monotonic() - t0 < 15
    assert not any(s.action == "SetTraffic" for s in never.steps)
    assert _served(url) == "1.0.0"
    state = svc.rollout_status("api", "staging")["services"][0]["state"]
    assert state["weights"] == {"1": 100}


def test_a_second_deployment_is_refused_while_one_is_in_progress_and_abort_is_immediate(project: Path) -> None:
    assert svc.deploy("api", "staging", "1.0.0", workdir=project).status == "succeeded"
    url = _url()
    paused = svc.deploy("api", "staging", "1.1.0", strategy="canary", workdir=project)
    assert paused.status == "paused"
    with pytest.raises(DeployError, match="already in progress"):
        svc.deploy("api", "staging", "1.2.0", workdir=project)
    with pytest.raises(DeployError, match="already in progress"):
        svc.rollback("api", "staging")
    seen = {_served(url) for _ in range(40)}
    assert seen == {"1.0.0", "1.1.0"}
    aborted = svc.abort("api", "staging")
    assert aborted.status == "aborted"
    assert {_served(url) for _ in range(20)} == {"1.0.0"}
    # The lock is free again.
    assert svc.deploy("api", "staging", "1.2.0", workdir=project).status == "succeeded"


def test_promote_ends_an_indefinite_pause(project: Path) -> None:
    assert svc.deploy("api", "staging", "1.0.0", workdir=project).status == "succeeded"
    paused = svc.deploy("api", "staging", "1.1.0", strategy="canary", workdir=project)
    assert paused.status == "paused"
    svc.promote("api", "staging")
    from pheme.deploy.client import ensure_agent
    from pheme.deploy.service import follow

    done = follow(ensure_agent(Path(os.environ["PHEME_HOME"])), paused, None)
    assert done.status == "succeeded"
    assert _served(_url()) == "1.1.0"


def test_the_agent_state_survives_a_crash_of_the_agent(project: Path) -> None:
    assert svc.deploy("api", "staging", "1.0.0", workdir=project).status == "succeeded"
    url = _url()
    client = AgentClient(Path(os.environ["PHEME_HOME"]))
    pid = client.call("GET", "/ping")["pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    # The next command starts a new agent, which adopts the running revision and its router port.
    status = svc.rollout_status("api", "staging")["services"][0]
    assert status["state"]["url"] == url
    assert status["stable"] == {"revision": 1, "version": "1.0.0"}
    assert status["state"]["revisions"][0]["replicas"] == 2
    assert _served(url) == "1.0.0"
    assert svc.deploy("api", "staging", "1.1.0", workdir=project).status == "succeeded"
    assert _served(url) == "1.1.0"


def test_bad_input_gives_one_clear_line(project: Path) -> None:
    with pytest.raises(UsageError, match="unknown environment 'prod'"):
        svc.deploy("api", "prod", "1.0.0", workdir=project)
    with pytest.raises(UsageError, match="unknown service 'web'"):
        svc.deploy("web", "staging", "1.0.0", workdir=project)
    with pytest.raises(DeployError, match=r"version 9.9.9 of 'api' does not exist: dist/pheme-api-9.9.9.pyz not found"):
        svc.deploy("api", "staging", "9.9.9", workdir=project)
    with pytest.raises(UsageError, match="no earlier revision to roll back to"):
        svc.rollback("api", "staging")
