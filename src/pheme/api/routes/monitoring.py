"""Monitoring API: analyses (query, values, verdict, reason), DORA metrics, Alertmanager's webhook.

    GET  /api/v1/analyses?service=&environment=&deployment=&limit=     (read)
    GET  /api/v1/analyses/{id}                                         (read)
    GET  /api/v1/deployments/{id}/analyses                             (read)
    GET  /api/v1/dora?service=&environment=&window=30d                 (read)
    POST /api/v1/alerts/alertmanager                                   (approve: deployer and up)

Alertmanager authenticates with a deployer token: in its receiver,
``webhook_configs: [{url: https://pheme/api/v1/alerts/alertmanager,
http_config: {authorization: {credentials_file: /etc/alertmanager/pheme-token}}}]``.

:func:`install` (called once by ``create_app``) adds the DORA gauges to the
server's ``/metrics``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from pheme.api.auth import Principal, require
from pheme.core.server import Permission

__all__ = ["install", "router"]

router = APIRouter(prefix="/api/v1", tags=["monitoring"])
log = logging.getLogger("pheme.server.monitoring")

Name = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.\-/]{1,255}$")]


def install(app: Any, server: Any) -> None:
    """DORA and analysis gauges on the server's registry (computed at scrape time from its store), and,
    when a notification webhook subscribes to ``deployment_*`` events, the deployment watcher."""
    from pheme.monitoring.metrics import DoraCollector

    registry = getattr(getattr(server, "metrics", None), "registry", None)
    if registry is not None and not getattr(server, "_dora_collector", None):
        server._dora_collector = DoraCollector(lambda: server.store).register(registry)
    notifications = getattr(getattr(server, "settings", None), "notifications", None) or []
    wanted = any(e.startswith("deployment_") for n in notifications for e in n.events) or any(
        r.github_token_env for r in _repos(server)
    )
    if wanted and getattr(server, "_deploy_watcher", None) is None:
        from pheme.monitoring.deploy_watch import DeploymentWatcher

        def announce(event: str, data: dict[str, Any]) -> None:
            notify(server, event, data)
            commit_status(server, event, data)

        watcher = DeploymentWatcher(server.store, announce)
        server._deploy_watcher = watcher
        start, stop = server.start, server.stop

        # The watcher lives exactly as long as the server's workers do.
        def start_all() -> None:
            start()
            watcher.start()

        def stop_all() -> None:
            watcher.stop()
            stop()

        server.start, server.stop = start_all, stop_all


@router.get("/analyses")
def list_analyses(
    request: Request,
    service: Name = None,
    environment: Name = None,
    deployment: int | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    _: Principal = Depends(require(Permission.READ)),
) -> dict[str, Any]:
    from pheme.core.monitoring.records import run_to_json
    from pheme.monitoring.reports import analyses_for

    runs = analyses_for(
        request.app.state.server.store,
        deployment=deployment,
        service=service,
        environment=environment,
        limit=limit,
    )
    return {"analyses": [run_to_json(r) for r in runs]}


@router.get("/analyses/{analysis_id}")
def get_analysis(
    analysis_id: int, request: Request, _: Principal = Depends(require(Permission.READ))
) -> dict[str, Any]:
    from pheme.core.monitoring.records import run_to_json
    from pheme.storage._analysis import AnalysisRepo

    return run_to_json(AnalysisRepo(request.app.state.server.store).get_run(analysis_id))


@router.get("/deployments/{deployment_id}/analyses")
def deployment_analyses(
    deployment_id: int, request: Request, _: Principal = Depends(require(Permission.READ))
) -> dict[str, Any]:
    from pheme.core.monitoring.records import run_to_json
    from pheme.monitoring.reports import analyses_for

    runs = analyses_for(request.app.state.server.store, deployment=deployment_id, limit=1000)
    runs.reverse()
    return {"deployment": deployment_id, "analyses": [run_to_json(r) for r in runs]}


@router.get("/dora")
def dora(
    request: Request,
    service: Name = None,
    environment: Name = None,
    window: Annotated[str, Query(pattern=r"^[0-9.]+[mhdw]$")] = "30d",
    _: Principal = Depends(require(Permission.READ)),
) -> dict[str, Any]:
    from pheme.monitoring.reports import dora_report, dora_to_json, parse_window

    span: timedelta = parse_window(window)
    groups = dora_report(
        request.app.state.server.store, service=service, environment=environment, window=span
    )
    return dora_to_json(groups, span)


def _receiver(request: Request) -> Any:
    state = request.app.state
    receiver = getattr(state, "alert_receiver", None)
    if receiver is None:
        from pheme.monitoring.alert_receiver import AlertReceiver

        server = state.server

        def latest(service: str, environment: str) -> Any:
            from pheme.storage._deployments import DeploymentRepo

            found = DeploymentRepo(server.store).list(service=service, environment=environment, limit=1)
            return found[0] if found else None

        def rollback(service: str, environment: str, why: str) -> Any:
            from pheme.deploy import service as deploy

            return deploy.rollback(service, environment, triggered_by=why)

        def abort(service: str, environment: str) -> Any:
            from pheme.deploy import service as deploy

            return deploy.abort(service, environment)

        receiver = AlertReceiver(
            latest_deployment=latest, rollback=rollback, abort=abort, notify=lambda e, d: notify(server, e, d)
        )
        state.alert_receiver = receiver
    return receiver


@router.post("/alerts/alertmanager")
async def alertmanager(
    request: Request, _: Principal = Depends(require(Permission.APPROVE))
) -> dict[str, Any]:
    import asyncio

    from pheme.errors import UsageError

    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise UsageError("the body is not JSON") from None
    receiver = _receiver(request)
    # Rolling back talks to the deploy agent: off the event loop.
    outcomes = await asyncio.to_thread(receiver.handle, body)
    return {"alerts": [o.to_json() for o in outcomes]}


def notify(server: Any, event: str, data: dict[str, Any]) -> None:
    """Send ``event`` to the server's notification webhooks that subscribe to it, signed as runs' are.

    Uses the server's delivery queue (retries with backoff) when it has one.
    """
    settings = getattr(server, "settings", None)
    feedback = getattr(server, "feedback", None)
    targets = [n for n in getattr(settings, "notifications", []) if event in n.events]
    push = getattr(feedback, "_push", None)
    if not targets or push is None:
        return
    body = json.dumps({"event": event, **data}, separators=(",", ":")).encode("utf-8")
    for target in targets:
        secret = (
            target.secret.get_secret_value()
            if target.secret is not None
            else os.environ.get(target.secret_env or "", "")
        )
        headers = {"X-Pheme-Event": event, "X-Pheme-Delivery": str(uuid.uuid4())}
        if secret:
            headers["X-Pheme-Signature-256"] = (
                "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            )
        push("notification", target.url, body, headers)


def _repos(server: Any) -> list[Any]:
    try:
        return list(server.sstore.list_repos())
    except Exception:  # no server tables (a bare test double): no repositories
        return []


_STATES = {
    "deployment_succeeded": ("success", "deployed"),
    "deployment_rolled_back": ("failure", "rolled back"),
    "deployment_aborted": ("error", "aborted"),
    "deployment_failed": ("failure", "failed"),
}


def commit_status(server: Any, event: str, data: dict[str, Any]) -> None:
    """Set the deployed commit's status on GitHub (context ``pheme/deploy/<service>/<environment>``).

    For every registered repository with a token whose mirror holds the commit:
    the deployment record names a commit, not a repository.
    """
    import subprocess

    deployment = data.get("deployment") or {}
    sha = str(deployment.get("commit") or "")
    feedback = getattr(server, "feedback", None)
    push = getattr(feedback, "_push", None)
    if not sha or push is None or event not in _STATES or deployment.get("kind") == "rollback":
        return
    state, verb = _STATES[event]
    settings = server.settings
    reason = str(deployment.get("reason") or "")
    failed = [a for a in data.get("analyses", []) if a.get("verdict") == "fail"]
    if failed and not reason:
        reason = str(failed[0].get("reason") or "")
    description = f"{deployment.get('version')} {verb}" + (
        f": {reason}" if reason and state != "success" else ""
    )
    for repo in _repos(server):
        token = server.github_token(repo)
        if not token:
            continue
        mirror = server.mirrors.get(repo.id, repo.source)
        found = subprocess.run(
            ["git", "--git-dir", str(mirror.path), "cat-file", "-e", f"{sha}^{{commit}}"],
            capture_output=True,
            check=False,
        )
        if found.returncode != 0:
            continue
        body = {
            "state": state,
            "context": f"{settings.status_context_prefix}/deploy/{deployment.get('service')}/{deployment.get('environment')}",
            "description": description[:140],
            "target_url": f"{settings.base_url()}/api/v1/deployments/{deployment.get('id')}/analyses",
        }
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        push(
            "commit_status",
            f"{settings.github_api_url}/repos/{repo.name}/statuses/{sha}",
            json.dumps(body).encode(),
            headers,
        )
