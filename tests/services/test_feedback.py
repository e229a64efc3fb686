"""Commit statuses to GitHub's statuses API and signed notification webhooks, against a local
HTTP server that records what it receives (and fails on demand, to see the retries)."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

WORKFLOW = """name: CI
on: [push]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: {command}
"""


class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_first = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with recorder.lock:
                    recorder.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    failing = recorder.fail_first > 0
                    recorder.fail_first -= 1
                self.send_response(503 if failing else 201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.close()


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=A", "-c", "user.email=a@b", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()  # fmt: skip


@pytest.fixture
def make_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from pheme.services.server import PipelineServer
    from pheme.services.server_settings import load_settings

    servers: list[Any] = []
    monkeypatch.setenv("ACME_GITHUB_TOKEN", "ghp_example_token_value")
    monkeypatch.setenv("HOOK_SECRET", "hook-signing-key")

    def make(command: str, **overrides: Any) -> tuple[Any, str]:
        root = tmp_path / f"repo{len(servers)}"
        (root / ".github/workflows").mkdir(parents=True)
        (root / ".github/workflows/ci.yml").write_text(WORKFLOW.format(command=command))
        _git(root, "init", "-q", "-b", "main")
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "-m", "init")
        settings = load_settings(None, database_url=f"sqlite:///{tmp_path}/s{len(servers)}.db", secret_key="k",
                                 scheduler=False, public_url="https://ci.example.com", **overrides)  # fmt: skip
        server = PipelineServer(settings)
        server.start()
        servers.append(server)
        server.add_repo("acme/proj", str(root), webhook_secret="s", github_token_env="ACME_GITHUB_TOKEN")
        return server, _git(root, "rev-parse", "HEAD")

    yield make
    for server in servers:
        server.close()


def _push(server: Any, sha: str) -> int:
    from pheme.services.intake import handle_github_webhook

    body = json.dumps({"ref": "refs/heads/main", "after": sha, "repository": {"full_name": "acme/proj"},
                       "sender": {"login": "bob"}}).encode()  # fmt: skip
    signature = "sha256=" + hmac.new(b"s", body, hashlib.sha256).hexdigest()
    result = handle_github_webhook(server, {"x-github-event": "push", "x-github-delivery": f"d-{sha}",
                                            "x-hub-signature-256": signature}, body)  # fmt: skip
    assert result.status == 201, result.body
    run_id: int = result.body["runs"][0]
    assert server.dispatcher.wait_idle(60)
    assert server.feedback.wait_idle(30)
    return run_id


@pytest.mark.parametrize(("command", "final"), [("true", "success"), ("false", "failure")])
def test_commit_statuses_follow_the_run_to_the_statuses_api(make_server: Any, http: Recorder, command: str, final: str) -> None:
    server, sha = make_server(command, github_api_url=http.url + "/api/v3")
    run_id = _push(server, sha)
    statuses = [r for r in http.requests if "/statuses/" in r["path"]]
    assert {r["path"] for r in statuses} == {f"/api/v3/repos/acme/proj/statuses/{sha}"}
    bodies = [json.loads(r["body"]) for r in statuses]
    r = server.store.get_run(run_id)
    assert [b["state"] for b in bodies] == ["pending", "pending", final], (r.status, r.conclusion, r.error, server.feedback.delivered)
    assert {b["context"] for b in bodies} == {"pheme/CI"}
    assert bodies[-1]["target_url"] == f"https://ci.example.com/runs/{run_id}"
    assert all(r["headers"]["Authorization"] == "Bearer ghp_example_token_value" for r in statuses)


def test_a_repository_without_a_token_gets_no_statuses(make_server: Any, http: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    server, sha = make_server("true", github_api_url=http.url)
    monkeypatch.delenv("ACME_GITHUB_TOKEN")
    _push(server, sha)
    assert http.requests == []


def test_notifications_are_signed_and_retried_with_backoff_until_delivered(make_server: Any, http: Recorder) -> None:
    http.fail_first = 2
    server, sha = make_server(
        "false",
        github_api_url=http.url + "/unused",
        notifications=[{"url": http.url + "/hook", "secret_env": "HOOK_SECRET", "events": ["run_failed"]}],
        notify_backoff=0.05,
    )
    _push(server, sha)
    hooks = [r for r in http.requests if r["path"] == "/hook"]
    statuses = [r for r in http.requests if r["path"] != "/hook"]
    assert len(statuses) == 3 + 2  # two 503s, then each status delivered
    assert len(hooks) == 1
    delivered = hooks[-1]
    assert delivered["headers"]["X-Pheme-Event"] == "run_failed"
    expected = "sha256=" + hmac.new(b"hook-signing-key", delivered["body"], hashlib.sha256).hexdigest()
    assert delivered["headers"]["X-Pheme-Signature-256"] == expected
    payload = json.loads(delivered["body"])
    assert payload["event"] == "run_failed" and payload["run"]["conclusion"] == "failure"
    assert "hook-signing-key" not in delivered["body"].decode() and "ghp_example" not in delivered["body"].decode()
    assert 'pheme_notifications_total{kind="notification",outcome="delivered"} 1.0' in server.metrics.render().decode()


def test_retries_are_bounded(make_server: Any, http: Recorder) -> None:
    http.fail_first = 1000
    server, sha = make_server(
        "true",
        github_api_url=http.url,
        notifications=[{"url": http.url + "/hook", "secret": "x", "events": ["run_succeeded"]}],
        notify_attempts=3,
        notify_backoff=0.01,
    )
    _push(server, sha)
    assert len([r for r in http.requests if r["path"] == "/hook"]) == 3
    assert 'pheme_notifications_total{kind="notification",outcome="failed"} 1.0' in server.metrics.render().decode()


def test_a_rerun_updates_the_same_commit_status_and_notifies_with_its_attempt(make_server: Any, http: Recorder) -> None:
    from pheme.services.server_runs import rerun

    server, sha = make_server(
        'test "$GITHUB_RUN_ATTEMPT" -ge 2',
        github_api_url=http.url + "/api/v3",
        notifications=[{"url": http.url + "/hook", "secret": "x", "events": ["run_failed", "run_succeeded"]}],
    )
    run_id = _push(server, sha)
    again = rerun(server, run_id, failed_only=True, actor="alice")
    assert (again.id, again.attempt) == (run_id, 2)
    assert server.dispatcher.wait_idle(60) and server.feedback.wait_idle(30)
    statuses = [r for r in http.requests if "/statuses/" in r["path"]]
    bodies = [json.loads(r["body"]) for r in statuses]
    # One status per sha and context, updated through both attempts, pointing at the same run.
    assert [b["state"] for b in bodies] == ["pending", "pending", "failure", "pending", "pending", "success"]
    assert {r["path"] for r in statuses} == {f"/api/v3/repos/acme/proj/statuses/{sha}"}
    assert {(b["context"], b["target_url"]) for b in bodies} == {("pheme/CI", f"https://ci.example.com/runs/{run_id}")}
    hooks = [json.loads(r["body"]) for r in http.requests if r["path"] == "/hook"]
    assert [(h["event"], h["run"]["id"], h["run"]["run_attempt"]) for h in hooks] == [
        ("run_failed", run_id, 1), ("run_succeeded", run_id, 2)]  # fmt: skip
