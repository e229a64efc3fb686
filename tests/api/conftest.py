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
