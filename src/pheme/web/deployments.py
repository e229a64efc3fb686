"""The UI's deployment pages: the list, one deployment, one analysis, and DORA metrics.

Issue 7 asks that every analysis measurement be readable in the UI: the
resolved query, the raw values, the result, its verdict and the reason. The
analysis page shows exactly what :class:`pheme.storage._analysis.AnalysisRepo`
recorded, never a recomputation, so "why was my canary rolled back?" is
answered by the same record the deploy agent acted on.

A deployment started from a workflow job records ``triggered_by = "workflow
<name> #<number> job <key>"`` (``pheme.deploy.service.who``) and the commit; the
run it came from is found by that name, number and commit. It is a best-effort
link (the record holds no run id), shown only when exactly that run exists.

All pages are reads: any logged-in role (viewer and up) may see them.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from pheme.api.auth import Principal
from pheme.errors import PhemeError
from pheme.web.pages import _duration, _server, error_page, page, render

__all__ = ["DORA_WINDOWS", "DoraRow", "dora_rows", "router", "run_link", "runs_deployments"]

router = APIRouter(include_in_schema=False)

DORA_WINDOWS = (7, 30, 90)
RUN_SCAN = 100  # runs of one workflow searched for a deployment's run number
DEPLOY_SCAN = 500  # recent deployments searched for a run's deployments
MAX_ID = 2**62
RAW_OPEN_LINES = 20  # raw values up to this many lines are shown unfolded
_NAME = re.compile(r"[A-Za-z0-9_.\-/]{1,255}")
_TRIGGER = re.compile(r"^workflow (?P<workflow>.+) #(?P<number>\d{1,18})(?: job (?P<job>\S+))?$")


def _id(request: Request, name: str) -> int | None:
    value = int(request.path_params[name])
    return value if 0 < value < MAX_ID else None


# ------------------------------------------------------- deployments <-> runs


def _trigger(triggered_by: str) -> tuple[str, int, str | None] | None:
    found = _TRIGGER.match(triggered_by or "")
    if found is None:
        return None
    return found["workflow"], int(found["number"]), found["job"]


def _same_commit(run_sha: str, commit: str) -> bool:
    # A record without a commit cannot contradict the run; an abbreviated one matches by prefix.
    return not commit or run_sha.startswith(commit.lower())


def run_link(server: Any, record: Any) -> dict[str, Any] | None:
    """The run (and job) a deployment came from: ``{"run_id", "number", "workflow", "job_id", "job", "url"}``,
    or None when it was not started by a workflow or that run is not on this server."""
    trigger = _trigger(record.triggered_by)
    if trigger is None:
        return None
    workflow, number, job_key = trigger
    with contextlib.suppress(PhemeError):
        for run, _repo_id, _actor in server.sstore.list_runs(workflow=workflow, limit=RUN_SCAN):
            if run.number != number or run.workflow != workflow or not _same_commit(run.sha, record.commit):
                continue
            job = next((j for j in run.jobs if j.key == job_key), None) if job_key else None
            url = f"/runs/{run.id}" + (f"/jobs/{job.id}" if job is not None else "")
            return {"run_id": run.id, "number": run.number, "workflow": run.workflow,
                    "job_id": job.id if job is not None else None, "job": job_key, "url": url}  # fmt: skip
    return None


def runs_deployments(server: Any, run: Any) -> list[dict[str, Any]]:
    """Deployments started by ``run``'s jobs (newest first), each with the job key that started it."""
    from pheme.deploy.service import list_deployments

    found: list[dict[str, Any]] = []
    with contextlib.suppress(PhemeError):
        for record in list_deployments(server.store, limit=DEPLOY_SCAN):
            trigger = _trigger(record.triggered_by)
            if trigger is None or trigger[:2] != (run.workflow, run.number) or not _same_commit(run.sha, record.commit):
                continue
            found.append({"record": record, "job": trigger[2]})
    return found


# -------------------------------------------------------------- deployments


@router.get("/deployments")
@page
def deployments_page(request: Request, user: Principal) -> Response:
    from pheme.core.deploy.records import DEPLOYMENT_STATUSES
    from pheme.deploy.service import list_deployments

    q = request.query_params
    filters = {k: q.get(k, "").strip()[:255] for k in ("service", "environment", "status")}
    if filters["status"] not in DEPLOYMENT_STATUSES:
        filters["status"] = ""
    try:
        records = list_deployments(_server(request).store, service=filters["service"] or None,
                                   environment=filters["environment"] or None, status=filters["status"] or None,
                                   limit=100)  # fmt: skip
    except PhemeError as exc:
        return render(request, "deployments.html", user, nav="deployments", unavailable=f"Deployments cannot be read: {exc}")
    return render(request, "deployments.html", user, nav="deployments", unavailable=None, deployments=records,
                  filters=filters, statuses=DEPLOYMENT_STATUSES)  # fmt: skip


@router.get("/deployments/{deployment_id:int}")
@page
def deployment_page(request: Request, user: Principal) -> Response:
    """One deployment: what it is, each step with its outcome, and its analyses with their verdicts."""
    from pheme.deploy.service import get_deployment
    from pheme.monitoring.reports import analyses_for

    deployment_id = _id(request, "deployment_id")
    if deployment_id is None:
        return error_page(request, user, 404, "no such deployment", back="/deployments")
    server = _server(request)
    record = get_deployment(deployment_id, server.store)
    analyses = analyses_for(server.store, deployment=deployment_id, limit=1000)
    analyses.reverse()  # in the order they ran
    steps = [{"step": s, "duration": _duration(s.started_at, s.finished_at) if s.started_at else "—"}
             for s in record.steps]  # fmt: skip
    return render(request, "deployment.html", user, nav="deployments", d=record, steps=steps, analyses=analyses,
                  run=run_link(server, record), duration=_duration(record.created_at, record.finished_at))  # fmt: skip


# ----------------------------------------------------------------- analyses


def _number(value: Any) -> str:
    from pheme.core.monitoring.verdict import format_value

    return "—" if value is None else format_value(value)


def _raw_text(raw: Any) -> str:
    """The provider's raw values as indented JSON (NaN and infinities as the store keeps them)."""
    return json.dumps(dict(raw), indent=2, sort_keys=True, default=str, ensure_ascii=False)


def _metrics(measurements: Sequence[Any]) -> list[dict[str, Any]]:
    """Measurements grouped by metric, in the order each metric was first measured."""
    groups: dict[str, dict[str, Any]] = {}
    for number, m in enumerate(measurements, 1):
        group = groups.setdefault(m.metric, {"name": m.metric, "measurements": [], "phases": {}})
        phase = m.phase.value
        raw = _raw_text(m.raw) if m.raw else ""
        group["phases"][phase] = group["phases"].get(phase, 0) + 1
        group["measurements"].append({
            "number": number, "phase": phase, "reason": m.reason, "query": m.query, "value": _number(m.value),
            "samples": _number(m.samples), "baseline": _number(m.baseline), "p_value": _number(m.p_value),
            "raw": raw, "raw_open": raw.count("\n") < RAW_OPEN_LINES, "started_at": m.started_at, "finished_at": m.finished_at,
        })  # fmt: skip
    return list(groups.values())


@router.get("/analyses/{analysis_id:int}")
@page
def analysis_page(request: Request, user: Principal) -> Response:
    """One analysis run: its template, the overall verdict and reason, and every measurement of every
    metric (time, resolved query, raw values, result, verdict, reason)."""
    from pheme.storage._analysis import AnalysisRepo

    analysis_id = _id(request, "analysis_id")
    if analysis_id is None:
        return error_page(request, user, 404, "no such analysis", back="/deployments")
    run = AnalysisRepo(_server(request).store).get_run(analysis_id)
    deployment = int(run.deployment) if run.deployment and run.deployment.isdigit() else None
    return render(request, "analysis.html", user, nav="deployments", a=run, verdict=run.verdict.value,
                  deployment_id=deployment, metrics=_metrics(run.measurements),
                  duration=_duration(run.started_at, run.finished_at))  # fmt: skip


# --------------------------------------------------------------------- DORA


@dataclass(frozen=True, slots=True)
class DoraRow:
    """One service and environment's metrics, with why lead time is unknown (when it is)."""

    metrics: Any  # pheme.core.monitoring.dora.DoraMetrics
    lead_time_unknown: str | None = None
    commits_from: str | None = None  # the registered repository whose history gave commit times


def _mirrors(server: Any) -> list[tuple[str, Path]]:
    """``(repository name, bare mirror path)`` of each registered repository fetched so far."""
    out: list[tuple[str, Path]] = []
    with contextlib.suppress(PhemeError):
        for repo in server.sstore.list_repos():
            path = server.mirrors.get(repo.id, repo.source).path
            if (Path(path) / "HEAD").exists():
                out.append((repo.name, Path(path)))
    return out


def _shipped(records: Iterable[Any], service: str, environment: str, start: datetime, end: datetime) -> list[Any]:
    """The group's deployments that count for lead time: successful deploys that finished in the window."""
    return [r for r in records if r.service == service and r.environment == environment and r.kind == "deploy"
            and r.status == "succeeded" and r.finished_at is not None and start <= r.finished_at < end]  # fmt: skip


def dora_rows(server: Any, *, service: str | None, environment: str | None, window: timedelta,
              end: datetime) -> list[DoraRow]:  # fmt: skip
    """``dora_report`` per service and environment, with commit times from the registered repository
    whose mirror holds the deployed commits (a deployment names a commit, not a repository)."""
    from pheme.deploy.service import list_deployments
    from pheme.monitoring.reports import DEPLOYMENT_HISTORY_LIMIT, commit_info, dora_report

    store = server.store
    groups = dora_report(store, service=service, environment=environment, window=window, end=end)
    if not groups:
        return []
    needy = [g for g in groups if g.lead_time_median_s is None and g.deployments > 0]
    if not needy:
        return [DoraRow(g) for g in groups]
    records = list_deployments(store, service=service, environment=environment, limit=DEPLOYMENT_HISTORY_LIMIT)
    start = end - window
    commits = {(g.service, g.environment): sorted({r.commit for r in _shipped(records, g.service, g.environment,
                                                                               start, end) if r.commit})
               for g in needy}  # fmt: skip
    wanted = sorted({c for cs in commits.values() for c in cs})
    mirrors = _mirrors(server) if wanted else []
    known = [(name, path, set(commit_info(path, wanted))) for name, path in mirrors]
    rows: list[DoraRow] = []
    for g in groups:
        shas = commits.get((g.service, g.environment))
        if shas is None:
            rows.append(DoraRow(g))
            continue
        if not shas:
            rows.append(DoraRow(g, "its deployments record no commit"))
            continue
        holder = next(((name, path) for name, path, seen in known if seen & set(shas)), None)
        if holder is None:
            where = "no registered repository" if not mirrors else "no registered repository's mirror"
            rows.append(DoraRow(g, f"commit times unknown: {where} holds commit {shas[0][:12]}"))
            continue
        [again] = dora_report(store, service=g.service, environment=g.environment, window=window, end=end,
                              repo=holder[1]) or [g]  # fmt: skip
        reason = None if again.lead_time_median_s is not None else "commit times unknown"
        rows.append(DoraRow(again, reason, holder[0]))
    return rows


def _filter_name(value: str | None) -> str:
    value = (value or "").strip()
    return value if _NAME.fullmatch(value) else ""


@router.get("/dora")
@page
def dora_page(request: Request, user: Principal) -> Response:
    """The four DORA metrics per service and environment over 7, 30 or 90 days."""
    q = request.query_params
    days_text = q.get("days", "30")
    days = int(days_text) if days_text in {str(d) for d in DORA_WINDOWS} else 30
    filters = {"service": _filter_name(q.get("service")), "environment": _filter_name(q.get("environment"))}
    context: dict[str, Any] = {"nav": "dora", "days": days, "windows": DORA_WINDOWS, "filters": filters}
    try:
        rows = dora_rows(_server(request), service=filters["service"] or None,
                         environment=filters["environment"] or None, window=timedelta(days=days),
                         end=datetime.now(UTC))  # fmt: skip
    except PhemeError as exc:
        return render(request, "dora.html", user, unavailable=f"DORA metrics cannot be read: {exc}", **context)
    return render(request, "dora.html", user, unavailable=None, rows=rows, **context)
