"""A server killed with SIGKILL mid-run restarts with no run left stuck and nothing stored lost."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

SECRET = "restart-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=A", "-c", "user.email=a@b", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()  # fmt: skip


class Server:
    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{port}"

    def start(self, **extra: str) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "pheme", "server", "--port", str(self.port)],
                                         env={**self.env, **extra}, stdout=out, stderr=out)  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # another process: poll its readiness probe
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError("server did not become ready")

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHEME_")}
    env.update(PHEME_HOME=str(tmp_path / "home"), PHEME_DATABASE_URL=f"sqlite:///{tmp_path}/server.db",
               PHEME_SECRET_KEY="k", PHEME_SCHEDULER="false", PHEME_JOB_CAPACITY="2")  # fmt: skip
    return env


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    s = Server(env, _free_port(), tmp_path / "server.log")
    yield s
    s.stop()


def _until(predicate: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # the server is another process: poll its API
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_sigkill_mid_run_then_restart_fails_the_interrupted_job_with_a_reason_and_runs_the_rest(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    block = tmp_path / "block"
    block.write_text("x")
    repo = tmp_path / "repo"
    (repo / ".github/workflows").mkdir(parents=True)
    (repo / ".github/workflows/w.yml").write_text(f"""name: W
on: [push]
concurrency: one-at-a-time
jobs:
  work:
    runs-on: x
    steps:
      - run: if [ -f {block} ]; then echo started; sleep 120; else echo quick; fi
""")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "init")
    sha = _git(repo, "rev-parse", "HEAD")
    cli = subprocess.run([sys.executable, "-m", "pheme", "repo", "add", "acme/proj", str(repo), "--webhook-secret", SECRET],
                         env=env, capture_output=True, text=True)  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    token = subprocess.run([sys.executable, "-m", "pheme", "token", "create", "--role", "developer"], env=env,
                           capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"}
    server.start()

    def push(delivery: str) -> int:
        body = json.dumps({"ref": "refs/heads/main", "after": sha, "repository": {"full_name": "acme/proj"}}).encode()
        sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        r = httpx.post(f"{server.url}/webhooks/github", content=body, timeout=10,
                       headers={"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sig})  # fmt: skip
        assert r.status_code == 201, r.text
        return int(r.json()["runs"][0])

    def run(run_id: int) -> dict[str, Any]:
        return dict(httpx.get(f"{server.url}/api/v1/runs/{run_id}", headers=headers, timeout=10).json())

    def log(run_id: int) -> list[str]:
        job = run(run_id)["jobs"][0]["job_id"]
        return list(httpx.get(f"{server.url}/api/v1/runs/{run_id}/jobs/{job}/logs", headers=headers, timeout=10).json()["lines"])

    first = push("one")
    _until(lambda: run(first)["jobs"] and "started" in log(first))
    second = push("two")  # same concurrency group: stays queued behind the first
    assert run(second)["status"] == "queued"

    server.kill()
    block.unlink()
    server.start()

    interrupted = run(first)
    assert (interrupted["status"], interrupted["conclusion"]) == ("completed", "failure")
    assert "server stopped" in interrupted["error"]
    assert interrupted["jobs"][0]["conclusion"] == "failure"
    assert any("server stopped" in line for line in log(first))
    assert "started" in log(first)  # what was stored before the kill is still there

    _until(lambda: run(second)["status"] == "completed")
    assert run(second)["conclusion"] == "success"
    runs = httpx.get(f"{server.url}/api/v1/runs", headers=headers, timeout=10).json()["runs"]
    assert sorted(r["id"] for r in runs) == [first, second]
    assert all(r["status"] == "completed" for r in runs)


def test_interrupted_runs_end_failed_without_rerun_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pheme.core.runs import Status
    from pheme.services.server import PipelineServer
    from pheme.services.server_settings import load_settings
    from pheme.storage.server import NewRun

    monkeypatch.setenv("PHEME_HOME", str(tmp_path / "home"))
    settings = load_settings(None, database_url=f"sqlite:///{tmp_path}/s.db", secret_key="k", scheduler=False)
    before = PipelineServer(settings, workers=False)
    (tmp_path / "src").mkdir()
    repo = before.add_repo("acme/proj", str(tmp_path / "src"))
    outcome = before.sstore.enqueue([NewRun(repo_id=repo.id, workflow="W", file="w.yml", event="push", ref="refs/heads/main",
                                            sha="a" * 40, actor="bob", payload={})])  # fmt: skip
    run_id = outcome.run_ids[0]
    assert before.sstore.claim(run_id, "old-process")
    before.store.update_run(run_id, Status.IN_PROGRESS)
    job = before.store.create_job(run_id, "work", "work")
    before.store.update_job(job, Status.IN_PROGRESS)
    queued_job = before.store.create_job(run_id, "later", "later")
    before.close()

    after = PipelineServer(settings)
    after.dispatcher.recover()
    run = after.store.get_run(run_id)
    assert (run.status, run.conclusion) == (Status.COMPLETED, "failure")
    assert {j.key: j.conclusion for j in run.jobs} == {"work": "failure", "later": "cancelled"}
    assert any("server stopped" in line for line in after.store.read_log(run_id, job))
    assert list(after.store.read_log(run_id, queued_job)) == []
    assert len(after.store.list_runs()) == 1  # not re-run
    after.close()


RESUMABLE = """on: [push]
jobs:
  setup:
    runs-on: x
    outputs: {v: "${{ steps.s.outputs.v }}"}
    steps: [{id: s, run: 'echo v=computed-again >> $GITHUB_OUTPUT'}]
  work:
    runs-on: x
    needs: setup
    steps: [{run: 'echo "got ${{ needs.setup.outputs.v }} in attempt $GITHUB_RUN_ATTEMPT"'}]
"""


def test_interrupted_runs_are_rerun_as_their_next_attempt_when_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pheme.core.runs import Conclusion, Status
    from pheme.services.server import PipelineServer
    from pheme.services.server_settings import load_settings
    from pheme.storage.server import NewRun

    monkeypatch.setenv("PHEME_HOME", str(tmp_path / "home"))
    repo_dir = tmp_path / "src"
    (repo_dir / ".github/workflows").mkdir(parents=True)
    (repo_dir / ".github/workflows/w.yml").write_text(RESUMABLE)
    _git(repo_dir, "init", "-q", "-b", "main")
    _git(repo_dir, "add", "-A")
    _git(repo_dir, "commit", "-q", "-m", "init")
    sha = _git(repo_dir, "rev-parse", "HEAD")
    settings = load_settings(None, database_url=f"sqlite:///{tmp_path}/s.db", secret_key="k", scheduler=False,
                             rerun_interrupted=True)  # fmt: skip
    before = PipelineServer(settings, workers=False)
    repo = before.add_repo("acme/proj", str(repo_dir))
    run_id = before.sstore.enqueue([NewRun(repo_id=repo.id, workflow="W", file=".github/workflows/w.yml", event="push",
                                           ref="refs/heads/main", sha=sha, actor="bob", payload={})]).run_ids[0]  # fmt: skip
    assert before.sstore.claim(run_id, "old-process")
    before.store.update_run(run_id, Status.IN_PROGRESS)
    setup = before.store.create_job(run_id, "setup", "setup")
    before.store.update_job(setup, Status.IN_PROGRESS)
    before.store.update_job(setup, Status.COMPLETED, conclusion=Conclusion.SUCCESS, outputs={"v": "from-attempt-1"})
    before.store.update_job(before.store.create_job(run_id, "work", "work"), Status.IN_PROGRESS)
    before.close()

    after = PipelineServer(settings)
    after.start()
    try:
        assert after.dispatcher.wait_idle(60)
        assert [r.id for r in after.store.list_runs()] == [run_id]  # the same run, no new one
        first = after.store.get_attempt(run_id, 1)
        assert (first.conclusion, {j.key: j.conclusion for j in first.jobs}) == (
            "failure", {"setup": "success", "work": "failure"})  # fmt: skip
        run = after.store.get_run(run_id)
        assert (run.attempt, run.number, run.conclusion) == (2, 1, "success")
        assert {j.key: j.reused for j in run.jobs} == {"setup": True, "work": False}
        assert "got from-attempt-1 in attempt 2" in list(after.store.read_log(run_id, "work"))
        assert after.sstore.queue_entry(run_id).actor == "pheme"
    finally:
        after.close()
