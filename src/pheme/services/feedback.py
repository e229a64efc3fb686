"""Feedback out: GitHub commit statuses and signed notification webhooks, retried with backoff.

Commit statuses: ``POST {github_api_url}/repos/{owner}/{repo}/statuses/{sha}``
with ``state`` (pending | success | failure | error), ``context``
(``pheme/<workflow>``), ``description`` and ``target_url`` (the run's page),
only for repositories with a token (``--github-token-env``). A pull request's
run goes to its HEAD commit (where GitHub shows a PR's checks), not to the
merge commit (or base commit) the run checked out.

Notifications (``run_failed``, ``run_succeeded``, ``waiting_for_approval``)
POST JSON to each configured URL, signed like GitHub signs its webhooks:
``X-Pheme-Signature-256: sha256=<HMAC-SHA256 of the body>``.

Why a worker thread with a retry heap: the caller (webhook intake, the
dispatcher) must never wait on a slow or dead endpoint. A delivery is tried
up to ``notify_attempts`` times, ``notify_backoff * 2^n`` seconds apart
(capped at 60 s), on connection errors, 429 and 5xx; any other 4xx is final.
Tokens and secrets never reach the log or the payloads.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Feedback", "status_state"]

log = logging.getLogger("pheme.server.feedback")

MAX_BACKOFF_S = 60.0


def status_state(conclusion: str | None) -> str:
    """A run conclusion as a commit status state."""
    if conclusion in ("success", "skipped"):
        return "success"
    if conclusion == "failure":
        return "failure"
    if conclusion is None:
        return "pending"
    return "error"  # cancelled, or ended by the server


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    kind: str = field(compare=False)
    url: str = field(compare=False)
    body: bytes = field(compare=False)
    headers: dict[str, str] = field(compare=False)
    attempt: int = field(default=0, compare=False)


class Feedback:
    def __init__(self, server: Any) -> None:
        self.server = server
        self.settings = server.settings
        self._heap: list[_Delivery] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._in_flight = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.delivered: list[tuple[str, int]] = []  # (kind, status) — bounded, for tests and diagnostics

    # -------------------------------------------------------------- producers

    def run_queued(self, run: Any, repo: Any) -> None:
        self._status(run, repo, "pending", "Queued")

    def run_started(self, run: Any, repo: Any) -> None:
        self._status(run, repo, "pending", "In progress")

    def run_finished(self, run: Any, repo: Any) -> None:
        conclusion = run.conclusion.value if run.conclusion is not None else None
        state = status_state(conclusion)
        description = {
            "success": "Succeeded", "failure": "Failed", "error": "Cancelled" if conclusion == "cancelled" else "Errored",
        }.get(state, "Finished")  # fmt: skip
        self._status(run, repo, state, description)
        if conclusion == "failure" or (conclusion == "cancelled" and run.error):
            self._notify("run_failed", run, repo)
        elif conclusion in ("success", "skipped"):
            self._notify("run_succeeded", run, repo)

    def waiting_for_approval(self, run: Any, approval: Any) -> None:
        from pheme.services.runs import iso

        try:
            repo_id, _ = self.server.sstore.run_context(run.id)
            repo = self.server.sstore.get_repo(repo_id) if repo_id is not None else None
        except Exception:
            repo = None
        extra = {
            "approval": {
                "id": approval.id,
                "job": approval.job_name,
                "environment": approval.environment,
                "requested_at": iso(approval.requested_at),
            }
        }
        self._notify("waiting_for_approval", run, repo, extra)

    def _status(self, run: Any, repo: Any, state: str, description: str) -> None:
        if repo is None:
            return
        token = self.server.github_token(repo)
        if not token:
            return
        url = f"{self.settings.github_api_url}/repos/{repo.name}/statuses/{self._status_sha(run)}"
        body = {
            "state": state,
            "context": f"{self.settings.status_context_prefix}/{run.workflow}",
            "description": description[:140],
            "target_url": f"{self.settings.base_url()}/runs/{run.id}",
        }
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        self._push("commit_status", url, json.dumps(body).encode("utf-8"), headers)

    def _status_sha(self, run: Any) -> str:
        """The commit a run's status belongs to: a pull request's head for pull request runs."""
        if run.event not in ("pull_request", "pull_request_target"):
            return str(run.sha)
        try:
            payload = self.server.sstore.queue_entry(run.id).payload
        except Exception:  # not a server run: its own commit
            return str(run.sha)
        pr = payload.get("pull_request") if isinstance(payload, dict) else None
        head = pr.get("head") if isinstance(pr, dict) else None
        sha = head.get("sha") if isinstance(head, dict) else None
        return sha if isinstance(sha, str) and len(sha) == 40 else str(run.sha)

    def _notify(self, event: str, run: Any, repo: Any, extra: dict[str, Any] | None = None) -> None:
        targets = [n for n in self.settings.notifications if event in n.events]
        if not targets:
            return
        data = {
            "event": event,
            "repo": getattr(repo, "name", None),
            "run": self.server.run_json(run, getattr(repo, "name", None), None),
            "url": f"{self.settings.base_url()}/runs/{run.id}",
            **(extra or {}),
        }
        body = json.dumps(data, separators=(",", ":")).encode("utf-8")
        for target in targets:
            secret = target.secret.get_secret_value() if target.secret is not None else os.environ.get(target.secret_env or "", "")
            headers = {"X-Pheme-Event": event, "X-Pheme-Delivery": str(uuid.uuid4())}
            if secret:
                headers["X-Pheme-Signature-256"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            self._push("notification", target.url, body, headers)

    def _push(self, kind: str, url: str, body: bytes, headers: dict[str, str]) -> None:
        self._ensure_thread()
        with self._cond:
            heapq.heappush(self._heap, _Delivery(time.monotonic(), next(self._seq), kind, url, body, headers))
            self._cond.notify_all()

    # ---------------------------------------------------------------- worker

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._cond:
                if self._thread is None or not self._thread.is_alive():
                    self._stopping = False
                    self._thread = threading.Thread(target=self._work, name="pheme-feedback", daemon=True)
                    self._thread.start()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """For tests: wait until every delivery is done (delivered or given up)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(5)

    def _work(self) -> None:
        import httpx

        transport = httpx.HTTPTransport(retries=2)  # reconnects on a stale keep-alive connection
        with httpx.Client(timeout=10.0, headers={"User-Agent": "pheme"}, transport=transport) as client:
            while True:
                with self._cond:
                    while not self._stopping and (not self._heap or self._heap[0].due > time.monotonic()):
                        wait = None if not self._heap else max(0.0, self._heap[0].due - time.monotonic())
                        self._cond.wait(wait)
                    if self._stopping:
                        return
                    item = heapq.heappop(self._heap)
                    self._in_flight += 1
                try:
                    self._deliver(client, item)
                finally:
                    with self._cond:
                        self._in_flight -= 1
                        self._cond.notify_all()

    def _deliver(self, client: Any, item: _Delivery) -> None:
        import httpx

        metrics = self.server.metrics
        status = 0
        try:
            response = client.post(item.url, content=item.body, headers={"Content-Type": "application/json", **item.headers})
            status = response.status_code
        except httpx.HTTPError as exc:
            log.warning("delivery failed", extra={"kind": item.kind, "attempt": item.attempt + 1, "error": type(exc).__name__})
        if 200 <= status < 300:
            metrics.notifications.labels(item.kind, "delivered").inc()
            self._record(item.kind, status)
            return
        retry = status == 0 or status == 429 or status >= 500
        if retry and item.attempt + 1 < self.settings.notify_attempts:
            item.attempt += 1
            item.due = time.monotonic() + min(MAX_BACKOFF_S, self.settings.notify_backoff * (2 ** (item.attempt - 1)))
            metrics.notifications.labels(item.kind, "retried").inc()
            with self._cond:
                heapq.heappush(self._heap, item)
            return
        metrics.notifications.labels(item.kind, "failed").inc()
        self._record(item.kind, status)
        log.warning("delivery given up", extra={"kind": item.kind, "status": status, "attempts": item.attempt + 1})

    def _record(self, kind: str, status: int) -> None:
        self.delivered.append((kind, status))
        del self.delivered[:-1000]
