"""``pheme server|repo|token|push|hook`` as users call them (real processes, a real server, real git)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

GIT_ID = ("-c", "user.name=Ada Lovelace", "-c", "user.email=ada@example.com")
WORKFLOW = "name: CI\non: [push]\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo hi\n"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHEME_")}
    env.update(PHEME_HOME=str(tmp_path / "home"), PHEME_DATABASE_URL=f"sqlite:///{tmp_path}/s.db", PHEME_SECRET_KEY="k")
    return env


def pheme(env: dict[str, str], *args: str, input_: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pheme", *args], env=env, capture_output=True, text=True,
                          input=input_, cwd=cwd)  # fmt: skip


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(["git", *GIT_ID, *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env=env).stdout.strip()  # fmt: skip


def test_token_create_prints_the_token_last_and_stores_only_its_hash(env: dict[str, str], tmp_path: Path) -> None:
    out = pheme(env, "token", "create", "--role", "deployer", "--name", "alice")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip().splitlines()[-1]
    assert token.startswith("phm_")
    assert token.encode() not in (tmp_path / "s.db").read_bytes()
    listed = pheme(env, "token", "list", "--json")
    assert '"name": "alice"' in listed.stdout and '"role": "deployer"' in listed.stdout and token not in listed.stdout


def test_token_create_refuses_an_unknown_role_in_one_line(env: dict[str, str]) -> None:
    out = pheme(env, "token", "create", "--role", "root")
    assert out.returncode == 2
    assert out.stderr.strip() == "pheme: unknown role 'root' (expected viewer, developer, deployer or admin)"


def test_repo_add_list_and_remove(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    added = pheme(env, "repo", "add", "acme/proj", str(tmp_path / "src"), "--webhook-secret", "s3cr3t-value")
    assert added.returncode == 0, added.stderr
    assert "s3cr3t-value" not in added.stdout
    assert pheme(env, "repo", "list").stdout.split("\t")[0] == "acme/proj"
    again = pheme(env, "repo", "add", "acme/proj", str(tmp_path / "src"))
    assert again.returncode == 2 and "already registered" in again.stderr
    bad = pheme(env, "repo", "add", "not-a-name", str(tmp_path / "src"))
    assert bad.returncode == 2 and "owner/repo" in bad.stderr
    assert pheme(env, "repo", "remove", "acme/proj").returncode == 0
    assert pheme(env, "repo", "list").stdout == ""


@pytest.fixture
def live_server(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    import uvicorn

    from pheme.api import create_app
    from pheme.services.server_settings import load_settings

    for key, value in env.items():
        if key.startswith("PHEME_"):
            monkeypatch.setenv(key, value)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(load_settings(None, scheduler=False), workers=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    while not server.started:  # uvicorn sets this once it listens
        time.sleep(0.01)
    yield app.state.server, url
    server.should_exit = True
    thread.join(10)
    app.state.server.close()


def test_a_git_push_to_a_bare_repository_with_the_hook_queues_runs(
    env: dict[str, str], tmp_path: Path, live_server: tuple[Any, str]
) -> None:
    server, url = live_server
    bare = tmp_path / "proj.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    assert pheme(env, "repo", "add", "acme/proj", str(bare)).returncode == 0
    hook = pheme(env, "hook", "install", "acme/proj", "--server", url)
    assert hook.returncode == 0, hook.stderr
    assert os.access(bare / "hooks" / "post-receive", os.X_OK)
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(bare), str(work))
    (work / ".github/workflows").mkdir(parents=True)
    (work / ".github/workflows/ci.yml").write_text(WORKFLOW)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "first")
    pushed = subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=work, capture_output=True, text=True,
                            env={**env, "PHEME_PUSHER": "ada"})  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    assert "refs/heads/main: 1 run(s) queued" in pushed.stderr
    [run] = server.store.list_runs()
    assert (run.event, run.ref, run.sha) == ("push", "refs/heads/main", git(work, "rev-parse", "HEAD"))
    assert server.sstore.queue_entry(run.id).actor == "ada"


def test_pheme_push_with_explicit_refs(env: dict[str, str], tmp_path: Path, live_server: tuple[Any, str]) -> None:
    server, url = live_server
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / ".github/workflows").mkdir(parents=True)
    (repo / ".github/workflows/ci.yml").write_text(WORKFLOW)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "one")
    sha = git(repo, "rev-parse", "HEAD")
    assert pheme(env, "repo", "add", "acme/proj", str(repo)).returncode == 0
    out = pheme(env, "push", "0" * 40, sha, "refs/heads/main", "--server", url, cwd=repo)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"refs/heads/main: 1 run(s) queued ({server.store.list_runs()[0].id})"
    down = pheme(env, "push", "0" * 40, sha, "refs/heads/main", "--server", "http://127.0.0.1:9", cwd=repo)
    assert down.returncode == 1 and down.stderr.startswith("pheme: cannot reach the server")


def test_pheme_server_serves_and_stops_on_sigterm(env: dict[str, str], tmp_path: Path) -> None:
    import signal

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "pheme", "server", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:  # another process: poll its probe
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/runs", timeout=5).status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a graceful stop
    lines = [line for line in err.decode().splitlines() if line.strip()]
    import json

    records = [json.loads(line) for line in lines]  # every log line is one JSON object
    assert any(r.get("route") == "/api/v1/runs" and r.get("status") == 401 for r in records)
    assert not any("Bearer" in line or "phm_" in line for line in lines)
