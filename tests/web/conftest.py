"""Fixtures for the UI tests: an app on a private PHEME_HOME, a browser-like client per role."""

from __future__ import annotations

import math
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pheme.core.server import EnvironmentRules, Role

GIT_ID = ("-c", "user.name=Ada Lovelace", "-c", "user.email=ada@example.com")
ROLES = ("viewer", "developer", "deployer", "admin")
WEBHOOK_SECRET = "web-ui-secret"
HOSTILE_QUERY = 'sum(rate(http_requests_total{code=~"5..",version="<script>alert(1)</script>"}[1m]))'


@pytest.fixture(autouse=True)
def pheme_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "pheme-home"
    monkeypatch.setenv("PHEME_HOME", str(home))
    for var in ("PHEME_DATABASE_URL", "PHEME_CONFIG", "PHEME_PORT", "PHEME_HOST", "PHEME_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)
    return home


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *GIT_ID, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def make_repo(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


class Browser:
    """A TestClient with its own cookie jar, logged in (or not) through the login form."""

    def __init__(self, app: Any, token: str | None) -> None:
        self.client = TestClient(app, base_url="http://pheme.test")
        self.token = token
        if token is not None:
            page = self.client.get("/login")
            response = self.client.post("/login", data={"token": token, "csrf": csrf_of(page.text), "next": "/"},
                                        follow_redirects=False)  # fmt: skip
            assert response.status_code == 303, response.text

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def csrf(self, path: str = "/") -> str:
        return csrf_of(self.client.get(path).text)

    def post(self, path: str, data: dict[str, str], *, csrf: bool = True, csrf_page: str = "/", **kwargs: Any) -> Any:
        form = dict(data)
        if csrf:
            form["csrf"] = self.csrf(csrf_page)
        kwargs.setdefault("follow_redirects", False)
        return self.client.post(path, data=form, **kwargs)


class Ui:
    """The app, its server, a token per role, and ``ui.as_(role)`` browsers."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.server = app.state.server
        self.tokens: dict[str, str] = {}
        for role in ROLES:
            _, token = self.server.create_token(Role[role.upper()], f"{role}-user")
            self.tokens[role] = token
        self._browsers: dict[str | None, Browser] = {}
        self.root = Path()
        self.deliveries = 0

    def as_(self, role: str | None) -> Browser:
        if role not in self._browsers:
            self._browsers[role] = Browser(self.app, self.tokens[role] if role else None)
        return self._browsers[role]

    def browser(self, token: str | None = None) -> Browser:
        """A fresh browser (own cookies), logged in with ``token`` if given."""
        return Browser(self.app, token)

    def push(self, sender: str = "bob") -> list[int]:
        """A signed push webhook for the repository's HEAD; the new run ids."""
        import hashlib
        import hmac
        import json

        sha = git(self.root, "rev-parse", "HEAD")
        body = json.dumps({
            "ref": "refs/heads/main", "before": "0" * 40, "after": sha,
            "repository": {"full_name": "acme/proj", "name": "proj", "owner": {"login": "acme"}},
            "pusher": {"name": sender}, "sender": {"login": sender},
        }).encode()  # fmt: skip
        self.deliveries += 1
        signature = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        response = self.as_(None).client.post("/webhooks/github", content=body, headers={
            "X-GitHub-Event": "push", "X-GitHub-Delivery": f"d-{self.deliveries}", "X-Hub-Signature-256": signature,
            "Content-Type": "application/json"})  # fmt: skip
        assert response.status_code in (201, 202), response.text
        return list(response.json()["runs"])

    def wait(self, predicate: Any, timeout: float = 60.0) -> None:
        assert self.server.dispatcher.wait_until(predicate, timeout), "timed out waiting"

    def wait_state(self, run_id: int, status: str) -> None:
        self.wait(lambda: self.server.store.get_run(run_id).status.value == status)

    def pending(self, run_id: int) -> Any:
        self.wait(lambda: bool(self.server.sstore.list_approvals(state="pending", run_id=run_id)))
        self.wait_state(run_id, "waiting")
        [approval] = self.server.sstore.list_approvals(state="pending", run_id=run_id)
        return approval


@pytest.fixture
def ui_factory(tmp_path: Path) -> Iterator[Any]:
    from pheme.api import create_app
    from pheme.services.server_settings import load_settings

    made: list[tuple[TestClient, Any]] = []

    def make(workers: bool = False, **overrides: Any) -> Ui:
        overrides.setdefault("database_url", f"sqlite:///{tmp_path / 'server.db'}")
        overrides.setdefault("secret_key", "test-server-secret")
        overrides.setdefault("scheduler", False)
        overrides.setdefault("job_capacity", 4)
        app = create_app(load_settings(None, **overrides), workers=workers)
        lifespan = TestClient(app)
        lifespan.__enter__()
        made.append((lifespan, app))
        return Ui(app)

    yield make
    for lifespan, app in made:
        lifespan.__exit__(None, None, None)
        app.state.server.close()


@pytest.fixture
def ui(ui_factory: Any) -> Ui:
    return ui_factory()


RELEASE = """name: Release
on:
  push:
  workflow_dispatch:
    inputs:
      level:
        description: How loud
        type: choice
        options: [low, high]
        default: low
      dry:
        type: boolean
        default: true
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "::group::Compile <everything>"
          echo "cc -o app <main.c>"
          echo "::endgroup::"
          echo "built & ready"
  test:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: echo tested
  deploy:
    needs: [build, test]
    runs-on: ubuntu-latest
    environment: production
    steps:
      - run: echo deploying
"""


@pytest.fixture
def pipeline(ui_factory: Any, tmp_path: Path) -> Ui:
    """A server whose executor runs, with ``acme/proj`` (the RELEASE workflow) and its
    protected ``production`` environment reviewed by deployers."""
    ui = ui_factory(workers=True)
    root = make_repo(tmp_path / "proj", {".github/workflows/release.yml": RELEASE})
    repo = ui.server.add_repo("acme/proj", str(root), webhook_secret=WEBHOOK_SECRET)
    ui.server.put_environment("production", EnvironmentRules(reviewer_roles=("deployer", "admin"),
                                                             prevent_self_review=True), None, actor="test", repo=repo)  # fmt: skip
    ui.root = root
    return ui


def seed_canary(store: Any, *, commit: str = "c" * 40, triggered_by: str = "user ada") -> tuple[Any, Any, Any]:
    """A canary deployment rolled back by a failed analysis: (deployment, failed analysis, passed analysis).

    Made through the real repositories; one measurement's query and raw values carry ``<script>``."""
    from pheme.core.monitoring.verdict import Measurement, Phase, Verdict
    from pheme.storage._analysis import AnalysisRepo
    from pheme.storage._deployments import DeploymentRepo

    deployments = DeploymentRepo(store)
    d = deployments.create(service="api", environment="production", kind="deploy", revision=2, version="v2.0",
                           strategy="canary", commit=commit, triggered_by=triggered_by, previous_revision=1)  # fmt: skip
    deployments.add_step(d.id, 1, "StartVersion", "start v2.0 at revision 2")
    deployments.finish_step(d.id, 1, "succeeded", "pid 4242 ready")
    deployments.add_step(d.id, 2, "SetTraffic", "send 10% of traffic to v2.0")
    deployments.finish_step(d.id, 2, "succeeded")
    deployments.add_step(d.id, 3, "Analyze", "judge v2.0 with success-rate")
    deployments.finish_step(d.id, 3, "failed", "error rate 12% > 5%")
    deployments.add_step(d.id, 4, "SetTraffic", "send all traffic back to v1.0")
    deployments.finish_step(d.id, 4, "cancelled", "superseded")
    deployments.set_status(d.id, "failed", "analysis success-rate failed: error rate 12% > 5%")

    analyses = AnalysisRepo(store)
    t0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    ok = analyses.start_run(service="api", environment="production", version="v2.0", track="canary",
                            template="latency", deployment=str(d.id), revision=2, baseline_version="v1.0", at=t0)  # fmt: skip
    analyses.add_measurement(ok.id, Measurement(
        metric="p99-latency", phase=Phase.SUCCESSFUL, reason="0.21 <= 0.5", query="histogram_quantile(0.99, x)",
        value=0.21, samples=1500.0, raw={"resultType": "vector", "result": [["1", "0.21"]]},
        started_at=t0, finished_at=t0 + timedelta(seconds=60)))  # fmt: skip
    analyses.finish_run(ok.id, Verdict.PASS, "every metric passed", at=t0 + timedelta(seconds=61))

    bad = analyses.start_run(service="api", environment="production", version="v2.0", track="canary",
                             template="success-rate", deployment=str(d.id), revision=2, at=t0)  # fmt: skip
    analyses.add_measurement(bad.id, Measurement(
        metric="error-rate", phase=Phase.INCONCLUSIVE, reason="no data: the result is NaN (no requests in the window?)",
        query="sum(rate(errors[1m])) / sum(rate(requests[1m]))", value=math.nan, samples=0.0,
        raw={"result": [["1", "NaN"]]}, started_at=t0, finished_at=t0 + timedelta(seconds=30)))  # fmt: skip
    analyses.add_measurement(bad.id, Measurement(
        metric="error-rate", phase=Phase.FAILED, reason="error rate 0.12 > 0.05 <b>bold</b>", query=HOSTILE_QUERY,
        value=0.12, samples=900.0, baseline=0.01, p_value=0.0004,
        raw={"result": [{"metric": {"version": "<script>"}, "value": [1, "0.12"]}]},
        started_at=t0 + timedelta(seconds=30), finished_at=t0 + timedelta(seconds=60)))  # fmt: skip
    analyses.add_measurement(bad.id, Measurement(
        metric="saturation", phase=Phase.ERROR, reason="error: connection refused", query="up{job='api'}"))
    analyses.finish_run(bad.id, Verdict.FAIL, "error-rate failed 1 time (limit 0): error rate 0.12 > 0.05",
                        at=t0 + timedelta(seconds=62))  # fmt: skip
    return deployments.get(d.id), analyses.get_run(bad.id), analyses.get_run(ok.id)
