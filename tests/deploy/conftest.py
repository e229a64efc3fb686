"""Fixtures for the deploy tests: real pheme-api processes, nginx, a project with a deploy file."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pheme.deploy.supervisor import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "examples" / "pheme-api"


def nginx_or_skip() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if not found:
        pytest.skip("nginx is not installed (Debian package 'nginx'; `make test` installs it)")
    return found


class Backend:
    """One pheme-api process answering its version."""

    def __init__(self, version: str, env: dict[str, str] | None = None) -> None:
        self.version = version
        self.port = free_port()
        full = dict(os.environ, PYTHONPATH=str(EXAMPLE / "src"), PORT=str(self.port), APP_VERSION=version, **(env or {}))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pheme_api"], env=full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    @property
    def addr(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    async def ready(self, timeout: float = 10.0) -> None:
        from pheme.deploy._http import http_get

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                status, _ = await http_get("127.0.0.1", self.port, "/health", 1.0)
                if status == 200:
                    return
            except (OSError, TimeoutError):
                pass
            await asyncio.sleep(0.02)
        raise TimeoutError(f"backend {self.version} not ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def backends() -> Iterator[list[Backend]]:
    started: list[Backend] = []
    yield started
    for b in started:
        b.stop()


def make_project(root: Path, deploy_yml: str, versions: tuple[str, ...] = ("1.0.0", "1.1.0")) -> Path:
    """A copy of pheme-api with zipapps for ``versions`` and the given deploy file."""
    project = root / "project"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", "dist", ".pheme"))
    (project / ".pheme").mkdir()
    (project / ".pheme" / "deploy.yml").write_text(deploy_yml)
    (project / "dist").mkdir()
    for v in versions:
        subprocess.run(
            [sys.executable, "-m", "zipapp", "src", "-m", "pheme_api.server:main", "-o", f"dist/pheme-api-{v}.pyz"],
            cwd=project, check=True,
        )
    return project


def _pg_server_module() -> object:
    import importlib.util

    name = "pheme_tests_pg_server"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "tests" / "pg_server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def deploy_pg_server() -> Iterator[object]:
    mod = _pg_server_module()
    try:
        server = mod.acquire()  # type: ignore[attr-defined]
    except mod.PgUnavailable as exc:  # type: ignore[attr-defined]
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def deploy_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database, once SQLite and once PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pheme.db'}"
        return
    server = request.getfixturevalue("deploy_pg_server")
    url: str = server.create_database()  # type: ignore[attr-defined]
    try:
        yield url
    finally:
        server.drop_database(url)  # type: ignore[attr-defined]
