"""The UI's routes: server-rendered pages over the same services the API uses.

Pages (GET) need a logged-in user (else a redirect to ``/login``); actions
(POST) need the same role as their API twin and a valid CSRF token
(:mod:`pheme.web.session`). Failures are HTML pages with the right status,
never the API's JSON. Everything a page shows goes through Jinja's
autoescaping: log lines, names and comments are text, never markup.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from pheme.api.auth import Principal
from pheme.core.server import Permission
from pheme.errors import PhemeError
from pheme.web.session import (
    CsrfError,
    check_csrf,
    clear_session,
    csrf_token,
    principal,
    remember_csrf,
    start_session,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

TEMPLATES = Path(__file__).parent / "templates"
PAGE_SIZE = 25
AUDIT_PAGE = 50
LOG_MAX_LINES = 5000
FORM_MAX_BYTES = 64 * 1024
RUN_STATES = ("queued", "in_progress", "waiting", "completed", "success", "failure", "cancelled", "skipped")
_CONCLUSIONS = ("success", "failure", "cancelled", "skipped")
_GLYPHS = {
    "success": "✓", "succeeded": "✓", "failure": "✗", "failed": "✗", "cancelled": "⊘", "aborted": "⊘",
    "skipped": "↷", "in_progress": "●", "waiting": "⏸", "paused": "⏸", "queued": "○", "pending": "○",
    "pass": "✓", "successful": "✓", "fail": "✗", "error": "!", "inconclusive": "?", "running": "●",
}  # fmt: skip
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class _Env:
    """The Jinja environment, built once (autoescape on for every template)."""

    env: Any = None

    @classmethod
    def get(cls) -> Any:
        if cls.env is None:
            import jinja2

            env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                autoescape=True,
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
            )
            env.filters.update(
                glyph=lambda s: _GLYPHS.get(str(s), "•"),
                short_ref=short_ref,
                iso=_iso,
                when=_when,
                seconds=_seconds,
                truncate_text=lambda s, n: s if len(s) <= n else s[: n - 1] + "…",
            )
            cls.env = env
        return cls.env


# ----------------------------------------------------------------- formatting


def short_ref(ref: str) -> str:
    for prefix in ("refs/heads/", "refs/tags/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    value = float(value)
    if value < 60:
        return f"{value:.0f}s"
    if value < 3600:
        return f"{value // 60:.0f}m {value % 60:02.0f}s"
    if value < 86400:
        return f"{value // 3600:.0f}h {value % 3600 // 60:02.0f}m"
    return f"{value / 86400:.1f}d"


def _duration(start: datetime | None, end: datetime | None) -> str:
    if start is None:
        return "—"
    return _seconds(((end or datetime.now(UTC)) - start).total_seconds())


def state_of(status: Any, conclusion: Any) -> str:
    """One word for a run, job or step: its conclusion once completed, else its status."""
    if conclusion is not None:
        return str(getattr(conclusion, "value", conclusion))
    return str(getattr(status, "value", status))


# ------------------------------------------------------------------- plumbing


def _server(request: Request) -> Any:
    return request.app.state.server


def _secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def render(request: Request, template: str, user: Principal | None, code: int = 200, **context: Any) -> HTMLResponse:
    page = _Env.get().get_template(template).render(
        user=user,
        csrf=csrf_token(request),
        can_run=bool(user and user.can(Permission.RUN)),
        can_approve=bool(user and user.can(Permission.APPROVE)),
        nav=context.pop("nav", ""),
        **context,
    )
    response = HTMLResponse(page, status_code=code)
    remember_csrf(request, response)
    return _secure(response)  # type: ignore[return-value]


def error_page(request: Request, user: Principal | None, status: int, message: str, back: str | None = None) -> HTMLResponse:
    headings = {400: "Bad request", 403: "Not allowed", 404: "Not found", 409: "Conflict", 413: "Too large",
                503: "Unavailable"}  # fmt: skip
    return render(request, "error.html", user, status, status=status, heading=headings.get(status, "Error"),
                  message=message, back=back)  # fmt: skip


def _redirect(url: str) -> Response:
    return _secure(RedirectResponse(url, status_code=303))


def _safe_next(value: str | None) -> str:
    """Only a local path may follow a login (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return _redirect("/login?" + urlencode({"next": target}))


def _status_for(exc: Exception) -> int:
    from pheme.core.runs import TransitionError
    from pheme.errors import StorageError, UsageError
    from pheme.services.approvals import ApprovalConflict, ApprovalForbidden
    from pheme.storage import NotFoundError

    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ApprovalForbidden):
        return 403
    if isinstance(exc, ApprovalConflict | TransitionError):
        return 409
    if isinstance(exc, StorageError):
        return 503
    if isinstance(exc, UsageError):
        return 409
    return 400


def page(handler: Callable[[Request, Principal], Response]) -> Callable[[Request], Response]:
    """A GET page for logged-in users; PhemeErrors become error pages."""

    def wrapped(request: Request) -> Response:
        user = principal(request)
        if user is None:
            return _login_redirect(request)
        try:
            return handler(request, user)
        except PhemeError as exc:
            return error_page(request, user, _status_for(exc), str(exc), back="/")

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


async def _read_form(request: Request) -> dict[str, str] | None:
    """The url-encoded form (last value of each field), or None when it is not one / too big."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_MAX_BYTES:
            return None
    if kind != "application/x-www-form-urlencoded":
        return {} if not body else None  # an empty POST is an empty form (it fails the CSRF check)
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=500)
    except (UnicodeDecodeError, ValueError):
        return None
    return {k: v[-1] for k, v in parsed.items()}


def action(permission: Permission | None) -> Callable[[Callable[..., Response]], Callable[..., Any]]:
    """A form POST: CSRF checked first, then the user and ``permission``; runs the
    (blocking) handler in a worker thread."""

    def decorate(handler: Callable[..., Response]) -> Callable[..., Any]:
        async def wrapped(request: Request) -> Response:
            form = await _read_form(request)
            if form is None:
                return await asyncio.to_thread(error_page, request, None, 400, "expected a form (at most 64 KB)")
            return await asyncio.to_thread(_act, request, form, permission, handler)

        wrapped.__name__ = handler.__name__
        return wrapped

    return decorate


def _act(request: Request, form: dict[str, str], permission: Permission | None, handler: Callable[..., Response]) -> Response:
    user = principal(request)
    try:
        check_csrf(request, form)
    except CsrfError as exc:
        return error_page(request, user, 403, str(exc), back="/")
    if permission is None:
        return handler(request, form, user)
    if user is None:
        return _redirect("/login")
    back = _safe_next(form.get("back")) if form.get("back") else "/"
    if not user.can(permission):
        return error_page(request, user, 403, f"the {user.role.label} role may not do this (needs {permission.value})",
                          back=back)  # fmt: skip
    try:
        return handler(request, form, user)
    except PhemeError as exc:
        return error_page(request, user, _status_for(exc), str(exc), back=back)


# ---------------------------------------------------------------------- login


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    user = principal(request)
    if user is not None:
        return _redirect(_safe_next(next))
    return render(request, "login.html", None, next=_safe_next(next), error=None)


@router.post("/login")
@action(None)
def login(request: Request, form: dict[str, str], user: Principal | None) -> Response:
    token = form.get("token", "").strip()
    server = _server(request)
    record = server.authenticate(token) if token else None
    if record is None:
        return render(request, "login.html", None, 401, next=_safe_next(form.get("next")),
                      error="That token is not valid (unknown, revoked or mistyped).")  # fmt: skip
    server.sstore.audit(record.name, "session.login", "web", {"role": record.role.label})
    response = _redirect(_safe_next(form.get("next")))
    start_session(response, request, token)
    return response


@router.post("/logout")
@action(None)
def logout(request: Request, form: dict[str, str], user: Principal | None) -> Response:
    response = _redirect("/login")
    clear_session(response)
    return response


# ----------------------------------------------------------------------- runs


def _run_row(run: Any, repo: str | None, actor: str | None) -> dict[str, Any]:
    return {
        "id": run.id,
        "number": run.number,
        "workflow": run.workflow,
        "repo": repo,
        "ref": run.ref,
        "sha": run.sha,
        "event": run.event,
        "actor": actor,
        "created_at": run.created_at,
        "state": state_of(run.status, run.conclusion),
        "duration": _duration(run.started_at, run.finished_at),
    }


@router.get("/")
@page
def runs_page(request: Request, user: Principal) -> Response:
    """Runs, newest first, filtered by repository, workflow, status and branch; paged by run id."""
    server = _server(request)
    q = request.query_params
    filters = {k: q.get(k, "").strip()[:1024] for k in ("repo", "workflow", "status", "branch")}
    before = q.get("before", "")
    before_id = int(before) if before.isdigit() and 0 < int(before) < 2**62 else None
    names = server.repo_names()
    repo_id = next((rid for rid, name in names.items() if name == filters["repo"]), -1) if filters["repo"] else None
    status = filters["status"] if filters["status"] in RUN_STATES else ""
    filters["status"] = status
    rows = server.sstore.list_runs(
        repo_id=repo_id,
        workflow=filters["workflow"] or None,
        status=status if status and status not in _CONCLUSIONS else None,
        conclusion=status if status in _CONCLUSIONS else None,
        ref=f"refs/heads/{filters['branch']}" if filters["branch"] else None,
        before_id=before_id,
        limit=PAGE_SIZE + 1,
    )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    kept = {k: v for k, v in filters.items() if v}
    older = "/?" + urlencode({**kept, "before": rows[-1][0].id}) if more and rows else None
    return render(
        request, "runs.html", user, nav="runs",
        runs=[_run_row(run, names.get(rid) if rid is not None else None, actor) for run, rid, actor in rows],
        repos=sorted(names.values()), statuses=RUN_STATES, filters=filters, filtered=bool(kept),
        before=before_id, older_url=older, newest_url="/?" + urlencode(kept) if kept else "/",
    )  # fmt: skip


def _workflow_of(server: Any, run: Any, repo_id: int | None) -> Any:
    """The run's workflow as the file was at its commit (None if it cannot be read)."""
    if repo_id is None:
        return None
    from pheme.services.server_runs import load_workflow

    with contextlib.suppress(Exception):
        repo = server.sstore.get_repo(repo_id)
        text = server.mirrors.get(repo.id, repo.source).workflow_files(run.sha).get(run.file)
        if text is not None:
            return load_workflow(run.file, text)
    return None


def _graph(run: Any, workflow: Any) -> Any:
    from pheme.web.graph import GraphJob, Instance, layout

    instances: dict[str, list[Instance]] = {}
    known = set(workflow.jobs) if workflow is not None else set()
    for job in run.jobs:
        key = job.key
        if key not in known and " / " in job.name and job.name.split(" / ", 1)[0] in known:
            key = job.name.split(" / ", 1)[0]
        instances.setdefault(key, []).append(Instance(job.id, job.name, state_of(job.status, job.conclusion)))
    if workflow is not None:
        jobs = [GraphJob(key, j.display_name, tuple(j.needs)) for key, j in workflow.jobs.items()]
        labels = {g.key for g in jobs}
        jobs += [GraphJob(k, k) for k in instances if k not in labels]
    else:
        jobs = [GraphJob(k, insts[0].name) for k, insts in instances.items()]
    return layout(jobs, instances)


def run_signature(run: Any, approvals: list[Any]) -> str:
    """What the page shows that can change: a page whose signature differs reloads."""
    parts = [state_of(run.status, run.conclusion)]
    parts += [f"{j.id}:{state_of(j.status, j.conclusion)}" for j in run.jobs]
    parts += [f"a{a.id}:{a.state}" for a in approvals]
    return "|".join(parts)


def _default_job(run: Any) -> Any:
    for wanted in ("in_progress", "waiting", "failure"):
        for job in run.jobs:
            if state_of(job.status, job.conclusion) == wanted:
                return job
    return run.jobs[-1] if run.jobs else None


def _attempt_of_job(server: Any, run: Any, job_id: int) -> int | None:
    """The attempt of the run that ``job_id`` belongs to (None: not a job of this run)."""
    from pheme.storage import NotFoundError

    if any(j.id == job_id for j in run.jobs):
        return int(run.attempt)
    try:
        job = server.store.get_job(job_id)
    except NotFoundError:
        return None
    return int(job.attempt) if job.run_id == run.id else None


def _run_page(
    request: Request, user: Principal, run_id: int, job_id: int | None, attempt: int | None = None
) -> Response:
    """The run's latest attempt, or the attempt given (or the one ``job_id`` ran in)."""
    from pheme.core.runs import Conclusion, Status
    from pheme.web.deployments import runs_deployments
    from pheme.web.logs import fold

    server = _server(request)
    run = latest = server.store.get_run(run_id)
    if job_id is not None:
        attempt = _attempt_of_job(server, latest, job_id)
        if attempt is None:
            return error_page(request, user, 404, f"run {run_id} has no job {job_id}", back=f"/runs/{run_id}")
    if attempt is not None and attempt != latest.attempt:
        run = server.store.get_attempt(run_id, attempt)
    earlier = run.attempt != latest.attempt
    attempts = server.store.attempts(run_id) if latest.attempt > 1 else [latest]
    repo_id, actor = server.sstore.run_context(run_id)
    if earlier:
        actor = server.store.attempt_actors(run_id).get(run.attempt, actor)
    repo = server.repo_names().get(repo_id) if repo_id is not None else None
    approvals = [] if earlier else server.sstore.list_approvals(run_id=run_id)
    job = next((j for j in run.jobs if j.id == job_id), None) if job_id is not None else _default_job(run)
    log: list[Any] = []
    log_start = log_total = 0
    live = False
    if job is not None:
        log_total = job.log_lines
        log_start = max(0, log_total - LOG_MAX_LINES)
        if log_total > log_start:
            log = fold(list(server.store.read_log(run_id, job.id, log_start, log_total)), log_start)
        live = job.status != Status.COMPLETED
    steps = [{"name": s.name, "state": state_of(s.status, s.conclusion)} for s in (job.steps if job else ())]
    return render(
        request, "run.html", user, nav="runs",
        run=run, repo=repo, actor=actor, approvals=approvals,
        run_state=state_of(run.status, run.conclusion),
        completed=run.status == Status.COMPLETED, earlier=earlier, latest_attempt=latest.attempt,
        attempts=[{"number": a.attempt, "state": state_of(a.status, a.conclusion)} for a in attempts],
        has_failed=any(j.conclusion in (Conclusion.FAILURE, Conclusion.CANCELLED) for j in run.jobs),
        duration=_duration(run.started_at, run.finished_at),
        graph=_graph(run, _workflow_of(server, run, repo_id)),
        job={"id": job.id, "name": job.name, "steps": steps, "reused": job.reused} if job else None,
        job_state=state_of(job.status, job.conclusion) if job else "",
        selected_id=job.id if job else None,
        log=log, log_start=log_start, log_total=log_total, live=live,
        state=run_signature(run, approvals), deployments=runs_deployments(server, run),
    )  # fmt: skip


@router.get("/runs/{run_id:int}")
@page
def run_page(request: Request, user: Principal) -> Response:
    """A run: its job graph, reviews, and the selected job's steps and (live) log."""
    return _run_page(request, user, int(request.path_params["run_id"]), None)


@router.get("/runs/{run_id:int}/attempts/{attempt:int}")
@page
def attempt_page(request: Request, user: Principal) -> Response:
    """The run as one of its attempts ended (earlier attempts stay viewable after a re-run)."""
    return _run_page(request, user, int(request.path_params["run_id"]), None, int(request.path_params["attempt"]))


@router.get("/runs/{run_id:int}/jobs/{job_id:int}")
@page
def job_page(request: Request, user: Principal) -> Response:
    """A job of any attempt of the run, shown within that attempt."""
    return _run_page(request, user, int(request.path_params["run_id"]), int(request.path_params["job_id"]))


@router.get("/runs/{run_id:int}/state")
def run_state(request: Request) -> Response:
    """The run page's signature (polled by the page to know when to reload)."""
    if principal(request) is None:
        return JSONResponse({"error": "log in first"}, status_code=401)
    run_id = int(request.path_params["run_id"])
    server = _server(request)
    try:
        run = server.store.get_run(run_id)
    except PhemeError:
        return JSONResponse({"error": f"no run {run_id}"}, status_code=404)
    return JSONResponse({"state": run_signature(run, server.sstore.list_approvals(run_id=run_id))},
                        headers={"Cache-Control": "no-store"})  # fmt: skip


@router.post("/runs/{run_id:int}/cancel")
@action(Permission.RUN)
def cancel_run(request: Request, form: dict[str, str], user: Principal) -> Response:
    from pheme.services.server_runs import cancel

    run_id = int(request.path_params["run_id"])
    server = _server(request)
    server.store.get_run(run_id)
    cancel(server, run_id, actor=user.name)
    return _redirect(f"/runs/{run_id}")


@router.post("/runs/{run_id:int}/rerun")
@action(Permission.RUN)
def rerun_run(request: Request, form: dict[str, str], user: Principal) -> Response:
    from pheme.services.server_runs import rerun

    run_id = int(request.path_params["run_id"])
    server = _server(request)
    server.store.get_run(run_id)
    rerun(server, run_id, failed_only=form.get("failed_only") == "true", actor=user.name)
    return _redirect(f"/runs/{run_id}")  # the same run, now showing its new attempt


@router.post("/approvals/{approval_id:int}")
@action(Permission.APPROVE)
def decide_approval(request: Request, form: dict[str, str], user: Principal) -> Response:
    """Approve or reject a waiting job (the service enforces reviewers and self-review)."""
    from pheme.services.approvals import decide

    decision = form.get("decision")
    if decision not in ("approve", "reject"):
        return error_page(request, user, 400, "decision must be approve or reject", back="/")
    comment = form.get("comment", "").strip()[:4000] or None
    record = decide(_server(request), int(request.path_params["approval_id"]), decision,  # type: ignore[arg-type]
                    user=user.name, role=user.role, comment=comment)  # fmt: skip
    return _redirect(f"/runs/{record.run_id}")


# ------------------------------------------------------------------- dispatch


def _dispatchable(server: Any, repo_name: str, ref: str) -> list[dict[str, Any]]:
    from pheme.errors import WorkflowError
    from pheme.services.server_runs import load_workflow

    repo = server.sstore.get_repo(repo_name)
    mirror = server.mirrors.get(repo.id, repo.source)
    sha = mirror.resolve(ref)
    found: list[dict[str, Any]] = []
    for path, text in sorted(mirror.workflow_files(sha).items()):
        try:
            workflow = load_workflow(path, text)
        except WorkflowError:
            continue
        trigger = workflow.on.get("workflow_dispatch")
        if trigger is None:
            continue
        inputs = []
        for name, spec in trigger.inputs.items():
            options = list(spec.options)
            if spec.type == "environment" and not options:
                options = sorted({e.name for e in (*server.sstore.list_environments(repo.id),
                                                   *server.sstore.list_environments())})  # fmt: skip
            default = spec.default
            if spec.type == "boolean":
                default = default is True or str(default).lower() == "true"
            elif default is None:
                default = ""
            inputs.append({"name": name, "type": spec.type, "required": spec.required, "default": default,
                           "options": options, "description": spec.description or ""})  # fmt: skip
        found.append({"index": len(found), "path": path, "name": workflow.display_name, "inputs": inputs})
    return found


@router.get("/dispatch")
@page
def dispatch_page(request: Request, user: Principal) -> Response:
    """Workflows of a repository that run on ``workflow_dispatch``, each with a form for its inputs."""
    server = _server(request)
    repos = sorted(server.repo_names().values())
    repo = request.query_params.get("repo") or (repos[0] if repos else "")
    ref = (request.query_params.get("ref") or "main").strip()[:1024]
    workflows: list[dict[str, Any]] = []
    problem = None
    if repo:
        try:
            workflows = _dispatchable(server, repo, ref)
        except PhemeError as exc:
            problem = str(exc)
    return render(request, "dispatch.html", user, nav="dispatch", repos=repos, repo=repo, ref=ref,
                  workflows=workflows, problem=problem)  # fmt: skip


@router.post("/dispatch")
@action(Permission.RUN)
def dispatch_run(request: Request, form: dict[str, str], user: Principal) -> Response:
    from pheme.services.server_runs import dispatch

    inputs = {k[len("input.") :]: v for k, v in form.items() if k.startswith("input.")}
    run_ids = dispatch(_server(request), form.get("repo", ""), form.get("workflow", ""), form.get("ref", "main"),
                       inputs, actor=user.name)  # fmt: skip
    return _redirect(f"/runs/{run_ids[0]}")


# --------------------------------------------------------- environments, audit


@router.get("/environments")
@page
def environments_page(request: Request, user: Principal) -> Response:
    """Each repository's environments, then the server-wide defaults; the reviews waiting."""
    server = _server(request)
    by_repo: dict[str, list[Any]] = {}
    defaults: list[Any] = []
    for env in server.sstore.list_environments(all_repos=True):
        if env.repository is None:
            defaults.append(env)
        else:
            by_repo.setdefault(env.repository, []).append(env)
    return render(request, "environments.html", user, nav="environments",
                  repos=sorted(by_repo.items()), defaults=defaults,
                  pending=server.sstore.list_approvals(state="pending"))  # fmt: skip


@router.get("/audit")
@page
def audit_page(request: Request, user: Principal) -> Response:
    import re

    q = request.query_params
    action_name = q.get("action", "").strip()
    if action_name and not re.fullmatch(r"[a-z_.]{1,64}", action_name):
        action_name = ""
    before = q.get("before", "")
    before_id = int(before) if before.isdigit() and 0 < int(before) < 2**62 else None
    entries = _server(request).sstore.list_audit(before_id=before_id, limit=AUDIT_PAGE + 1, action=action_name or None)
    more = len(entries) > AUDIT_PAGE
    entries = entries[:AUDIT_PAGE]
    kept = {"action": action_name} if action_name else {}
    return render(request, "audit.html", user, nav="audit", entries=entries, action=action_name, before=before_id,
                  older_url="/audit?" + urlencode({**kept, "before": entries[-1].id}) if more and entries else None,
                  newest_url="/audit?" + urlencode(kept) if kept else "/audit")  # fmt: skip


def register_static(app: Any) -> None:
    from starlette.staticfiles import StaticFiles

    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
