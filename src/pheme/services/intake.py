"""GitHub webhooks in: verify, de-duplicate, plan and enqueue, in that order.

    result = handle_github_webhook(server, headers, body)   # -> IntakeResult(status, body)

Order of checks (and why):

1. Size (413) — before anything is parsed.
2. Headers: ``X-GitHub-Event`` and ``X-GitHub-Delivery`` must be present and
   well-formed (400); a missing ``X-Hub-Signature-256`` is 401 at once.
3. JSON (400): the repository's ``full_name`` says whose secret signs it.
4. Unknown repository: 404.
5. HMAC-SHA256 of the raw body with the repository's secret, compared in
   constant time (``hmac.compare_digest``): 401, nothing stored.
6. Plan (workflow files at the pushed commit, trigger matching) and store the
   delivery, the runs and their queue entries in ONE transaction, then answer
   201 with the run ids: a run exists before GitHub gets its answer. A pull
   request runs on its merge commit (see ``server_runs.plan_pull_request``);
   one that conflicts with its base runs nothing and the answer says so
   (202 ``{"runs": [], "skipped": "merge conflict", "conflicts": [paths]}``).
7. A delivery id seen before (the unique key refuses the transaction above):
   200 ``duplicate`` with the runs of the first copy, nothing new stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pheme.errors import PhemeError

__all__ = ["IntakeResult", "handle_github_webhook", "verify_signature"]

log = logging.getLogger("pheme.server.webhooks")

_EVENT = re.compile(r"^[a-z_]{1,64}$")
_DELIVERY = re.compile(r"^[A-Za-z0-9._:-]{1,255}$")
_SIGNATURE = re.compile(r"^sha256=[0-9a-fA-F]{64}$")
NULL_SHA = "0" * 40


@dataclass(frozen=True)
class IntakeResult:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """GitHub's ``X-Hub-Signature-256``, checked in constant time."""
    if not header or not _SIGNATURE.match(header):
        return False
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), header.lower().encode("ascii"))


def _error(status: int, message: str) -> IntakeResult:
    return IntakeResult(status, {"error": message})


def handle_github_webhook(server: Any, headers: Mapping[str, str], body: bytes) -> IntakeResult:
    """Everything ``POST /webhooks/github`` does, without HTTP (headers lower-cased)."""
    metrics = server.metrics
    if len(body) > server.settings.max_body_bytes:
        metrics.webhooks.labels("unknown", "too_large").inc()
        return _error(413, f"payload larger than {server.settings.max_body_bytes} bytes")
    event = headers.get("x-github-event", "")
    delivery = headers.get("x-github-delivery", "")
    signature = headers.get("x-hub-signature-256")
    if not _EVENT.match(event):
        return _error(400, "missing or invalid X-GitHub-Event header")
    if not _DELIVERY.match(delivery):
        return _error(400, "missing or invalid X-GitHub-Delivery header")
    if not signature:
        metrics.webhooks.labels(event, "unsigned").inc()
        return _error(401, "missing X-Hub-Signature-256 header")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        metrics.webhooks.labels(event, "bad_json").inc()
        return _error(400, "the body is not valid JSON")
    if not isinstance(payload, dict):
        return _error(400, "the body must be a JSON object")
    repository = payload.get("repository")
    full_name = repository.get("full_name") if isinstance(repository, dict) else None
    if not isinstance(full_name, str) or not full_name:
        return _error(400, "the payload has no repository.full_name")
    from pheme.storage import NotFoundError

    try:
        repo, secret = server.repo_for_webhook(full_name)
    except NotFoundError:
        metrics.webhooks.labels(event, "unknown_repo").inc()
        return _error(404, f"repository {full_name} is not registered")
    if secret is None or not verify_signature(secret, body, signature):
        metrics.webhooks.labels(event, "bad_signature").inc()
        log.warning("webhook signature mismatch", extra={"repo": repo.name, "delivery": delivery, "event": event})
        return _error(401, "signature does not match")
    # Duplicates are found by the delivery id's unique key in the enqueue transaction
    # (no read transaction per webhook first): planning again is cheap (cached per commit).
    try:
        planned = _plan(server, repo, event, payload)
    except PhemeError as exc:  # git could not fetch the commit, a bad payload ...
        seen = server.sstore.delivery_runs(delivery)
        if seen is not None:  # a repeat of a delivery accepted before: still acknowledged
            metrics.webhooks.labels(event, "duplicate").inc()
            return IntakeResult(200, {"duplicate": True, "runs": list(seen)})
        metrics.webhooks.labels(event, "error").inc()
        return _error(422, str(exc))
    outcome = server.enqueue(planned.runs, delivery=(delivery, event, repo.id))
    if outcome.duplicate:
        metrics.webhooks.labels(event, "duplicate").inc()
        return IntakeResult(200, {"duplicate": True, "runs": list(outcome.run_ids)})
    answer: dict[str, Any] = {"duplicate": False, "runs": list(outcome.run_ids)}
    if planned.skipped is not None:
        answer["skipped"] = planned.skipped
        if planned.conflicts:
            answer["conflicts"] = list(planned.conflicts)
    metrics.webhooks.labels(event, "skipped" if planned.skipped else "accepted").inc()
    log.info("webhook", extra={"repo": repo.name, "event": event, "delivery": delivery, "runs": len(outcome.run_ids)})
    return IntakeResult(201 if outcome.run_ids else 202, answer)


def _actor(payload: Mapping[str, Any]) -> str:
    sender = payload.get("sender")
    if isinstance(sender, dict) and isinstance(sender.get("login"), str):
        return str(sender["login"])
    pusher = payload.get("pusher")
    if isinstance(pusher, dict) and isinstance(pusher.get("name"), str):
        return str(pusher["name"])
    return "github"


def _sha(value: Any) -> str | None:
    return value if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{40}", value) else None


@dataclass(frozen=True)
class _Planned:
    runs: list[Any]
    skipped: str | None = None  # why a delivery GitHub would run on runs nothing (e.g. a merge conflict)
    conflicts: tuple[str, ...] = ()


def _plan(server: Any, repo: Any, event: str, payload: dict[str, Any]) -> _Planned:
    from pheme.services.server_runs import plan_runs

    actor = _actor(payload)
    if event == "push":
        after = _sha(payload.get("after"))
        ref = payload.get("ref")
        if after is None or not isinstance(ref, str) or not ref.startswith("refs/"):
            raise PhemeError("a push payload needs 'ref' and 'after'")
        if after == NULL_SHA or payload.get("deleted") is True:
            return _Planned([])  # a deleted branch runs nothing
        before = _sha(payload.get("before"))
        return _Planned(plan_runs(server, repo, "push", payload, sha=after, ref=ref, before=before, actor=actor))
    if event in ("pull_request", "pull_request_target"):
        from pheme.services.server_runs import plan_pull_request

        plan = plan_pull_request(server, repo, event, payload, actor=actor)
        return _Planned(plan.runs, plan.skipped, plan.conflicts)
    return _Planned([])  # ping and events the server does not run on are acknowledged
