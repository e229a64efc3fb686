"""Fixtures for API tests: an app on a private PHEME_HOME, tokens for every role."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pheme.core.server import Role

GIT_ID = ("-c", "user.name=Ada Lovelace", "-c", "user.email=ada@example.com")
ROLES = ("viewer", "developer", "deployer", "admin")


@pytest.fixture(autouse=True)
def pheme_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "pheme-home"
    monkeypatch.setenv("PHEME_HOME", str(home))
    for var in ("PHEME_DATABASE_URL", "PHEME_CONFIG", "PHEME_PORT", "PHEME_HOST", "PHEME_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)
    return home


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *GIT_ID, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def make_repo(base: Path, files: dict[str, str], name: str = "proj") -> Path:
    root = base / name
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def commit(root: Path, files: dict[str, str], message: str = "change") -> str:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture
def settings_factory(tmp_path: Path) -> Any:
    from pheme.services.server_settings import load_settings

    def make(**overrides: Any) -> Any:
        overrides.setdefault("database_url", f"sqlite:///{tmp_path / 'server.db'}")
        overrides.setdefault("secret_key", "test-server-secret")
        overrides.setdefault("scheduler", False)
        overrides.setdefault("job_capacity", 4)
        return load_settings(None, **overrides)

    return make


class Api:
    """A TestClient plus a token per role; ``api.as_(role).get(...)``."""

    def __init__(self, client: TestClient, server: Any) -> None:
        self.client = client
        self.server = server
        self.tokens: dict[str, str] = {}
        for role in ROLES:
            _, token = server.create_token(Role[role.upper()], f"{role}-user")
            self.tokens[role] = token

    def headers(self, role: str | None) -> dict[str, str]:
        return {} if role is None else {"Authorization": f"Bearer {self.tokens[role]}"}

    def request(self, method: str, path: str, role: str | None = "admin", **kwargs: Any) -> Any:
        headers = {**self.headers(role), **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, role: str | None = "admin", **kwargs: Any) -> Any:
        return self.request("GET", path, role, **kwargs)

    def post(self, path: str, role: str | None = "admin", **kwargs: Any) -> Any:
        return self.request("POST", path, role, **kwargs)


@pytest.fixture
def api_factory(settings_factory: Any) -> Iterator[Any]:
    from pheme.api import create_app

    clients: list[TestClient] = []

    def make(workers: bool = False, **overrides: Any) -> Api:
        app = create_app(settings_factory(**overrides), workers=workers)
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return Api(client, app.state.server)

    yield make
    for client in clients:
        client.__exit__(None, None, None)
        client.app.state.server.close()  # type: ignore[attr-defined]


@pytest.fixture
def api(api_factory: Any) -> Api:
    return api_factory()


# ------------------------------------------------------------------ pipelines

WEBHOOK_SECRET = "it's a secret to everybody"


def sign(secret: str, body: bytes) -> str:
    import hashlib
    import hmac

    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Pipeline:
    """A registered repository ``acme/proj`` on a server whose executor runs, and
    helpers to push to it through the signed webhook and wait for the runs."""

    def __init__(self, api: Api, root: Path, name: str = "acme/proj") -> None:
        self.api = api
        self.server = api.server
        self.root = root
        self.name = name
        self.deliveries = 0
        self.head = git(root, "rev-parse", "HEAD")

    def payload(self, sha: str, ref: str = "refs/heads/main", before: str | None = None, sender: str = "bob") -> dict[str, Any]:
        return {
            "ref": ref,
            "before": before or "0" * 40,
            "after": sha,
            "repository": {"full_name": self.name, "name": self.name.split("/")[1], "owner": {"login": "acme"}},
            "pusher": {"name": sender},
            "sender": {"login": sender},
        }

    def send(self, payload: dict[str, Any], event: str = "push", delivery: str | None = None,
             secret: str = WEBHOOK_SECRET) -> Any:  # fmt: skip
        import json

        body = json.dumps(payload).encode()
        self.deliveries += 1
        headers = {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or f"delivery-{self.deliveries}-{id(self)}",
            "X-Hub-Signature-256": sign(secret, body),
            "Content-Type": "application/json",
        }
        return self.api.client.post("/webhooks/github", content=body, headers=headers)

    def push(self, files: dict[str, str] | None = None, ref: str = "refs/heads/main", sender: str = "bob") -> list[int]:
        before = self.head
        if files:
            self.head = commit(self.root, files)
        response = self.send(self.payload(self.head, ref, before, sender))
        assert response.status_code in (201, 202), response.text
        return list(response.json()["runs"])

    def run(self, run_id: int) -> dict[str, Any]:
        data: dict[str, Any] = self.api.get(f"/api/v1/runs/{run_id}").json()
        return data

    def wait(self, predicate: Any, timeout: float = 60.0) -> None:
        assert self.server.dispatcher.wait_until(predicate, timeout), "timed out waiting"

    def wait_done(self, *run_ids: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        from pheme.core.runs import Status

        self.wait(lambda: all(self.server.store.get_run(r).status == Status.COMPLETED for r in run_ids), timeout)
        return [self.run(r) for r in run_ids]

    def wait_status(self, run_id: int, status: str, timeout: float = 60.0) -> dict[str, Any]:
        self.wait(lambda: self.server.store.get_run(run_id).status.value == status, timeout)
        return self.run(run_id)


@pytest.fixture
def pipeline_factory(api_factory: Any, tmp_path: Path) -> Any:
    counter = iter(range(1000))

    def make(files: dict[str, str], **settings: Any) -> Pipeline:
        api = api_factory(workers=True, **settings)
        root = make_repo(tmp_path / f"repos{next(counter)}", files)
        api.server.add_repo("acme/proj", str(root), webhook_secret=WEBHOOK_SECRET)
        return Pipeline(api, root)

    return make


CI = """name: CI
on: [push, workflow_dispatch]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo building ${{ github.sha }}
  test:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: echo testing
"""


@pytest.fixture
def h() -> Any:
    """Helpers for test modules (conftest is not importable under importlib mode)."""
    from types import SimpleNamespace

    return SimpleNamespace(git=git, commit=commit, make_repo=make_repo, sign=sign, WEBHOOK_SECRET=WEBHOOK_SECRET,
                           Pipeline=Pipeline, CI=CI)  # fmt: skip
