"""Runs, jobs, steps, logs (range or live SSE tail), artifacts, cancel, re-run, dispatch.

Listing: ``GET /api/v1/runs`` returns ``{"runs": [...], "next": cursor|null}``,
newest first; pass ``cursor=<next>`` for the following page. Each run is
``pheme run --json``'s object plus ``status``, ``repo``, ``actor``,
``created_at`` and ``error``.

Attempts (GitHub's semantics): a re-run keeps the run's id and number and
starts attempt ``run_attempt`` + 1; the run shows its latest attempt.
``GET /api/v1/runs/{id}/attempts/{n}`` is the run as attempt ``n`` ended
(its jobs, steps, conclusion). Job ids of every attempt stay valid for the
job, steps and logs routes; a job carried over by "re-run failed jobs" has
``reused: true`` and reads the log of the attempt it ran in.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import StreamingResponse

from pheme.api.auth import Principal, require
from pheme.api.schemas import DispatchBody, RerunBody
from pheme.core.server import Permission

router = APIRouter(prefix="/api/v1", tags=["runs"])

RunId = Annotated[int, Path(ge=1, le=2**62)]
Attempt = Annotated[int, Path(ge=1, le=10_000)]
JobId = Annotated[int, Path(ge=1, le=2**62)]
Owner = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]
Name = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]
StatusName = Literal["queued", "in_progress", "waiting", "completed"]
ConclusionName = Literal["success", "failure", "cancelled", "skipped"]

LIVE_POLL_SECONDS = 0.25
LOG_PAGE_MAX = 10_000


def encode_cursor(run_id: int) -> str:
    return base64.urlsafe_b64encode(f"r{run_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if text[:1] != "r" or not text[1:].isdigit():
            raise ValueError
        return int(text[1:])
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, "invalid cursor") from None


def _run_or_404(server: Any, run_id: int) -> Any:
    return server.store.get_run(run_id)


def _one_run(server: Any, run_id: int, attempt: int | None = None) -> dict[str, Any]:
    """The run's JSON: its latest attempt, or ``attempt``."""
    run = _run_or_404(server, run_id) if attempt is None else server.store.get_attempt(run_id, attempt)
    repo_id, actor = server.sstore.run_context(run_id)  # actor: who started the latest attempt
    if attempt is not None:
        actor = server.store.attempt_actors(run_id).get(attempt, actor)
    repo = server.repo_names().get(repo_id) if repo_id is not None else None
    data: dict[str, Any] = server.run_json(run, repo, actor)
    return data


@router.get("/runs")
def list_runs(
    request: Request,
    _: Principal = Depends(require(Permission.READ)),
    repo: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")] = None,
    workflow: Annotated[str | None, Query(min_length=1, max_length=1024)] = None,
    status: StatusName | None = None,
    conclusion: ConclusionName | None = None,
    event: Annotated[str | None, Query(pattern=r"^[a-z_]{1,64}$")] = None,
    branch: Annotated[str | None, Query(min_length=1, max_length=1024)] = None,
    sha: Annotated[str | None, Query(pattern=r"^[0-9a-f]{40}$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    server = request.app.state.server
    repo_id = server.sstore.get_repo(repo).id if repo else None
    rows = server.sstore.list_runs(
        repo_id=repo_id,
        workflow=workflow,
        status=status,
        conclusion=conclusion,
        event=event,
        ref=f"refs/heads/{branch}" if branch else None,
        sha=sha,
        before_id=decode_cursor(cursor) if cursor else None,
        limit=limit + 1,
    )
    names = server.repo_names()
    more = len(rows) > limit
    rows = rows[:limit]
    runs = [server.run_json(run, names.get(rid) if rid is not None else None, actor) for run, rid, actor in rows]
    return {"runs": runs, "next": encode_cursor(rows[-1][0].id) if more and rows else None}


@router.get("/runs/{run_id}")
def get_run(run_id: RunId, request: Request, _: Principal = Depends(require(Permission.READ))) -> dict[str, Any]:
    return _one_run(request.app.state.server, run_id)


@router.get("/runs/{run_id}/jobs")
def list_jobs(run_id: RunId, request: Request, _: Principal = Depends(require(Permission.READ))) -> dict[str, Any]:
    return {"jobs": _one_run(request.app.state.server, run_id)["jobs"]}


@router.get("/runs/{run_id}/attempts/{attempt}")
def get_attempt(
    run_id: RunId, attempt: Attempt, request: Request, _: Principal = Depends(require(Permission.READ))
) -> dict[str, Any]:
    """The run as it was in attempt ``attempt``: its jobs, steps and conclusion."""
    return _one_run(request.app.state.server, run_id, attempt)


def _job(server: Any, run_id: int, job_id: int) -> dict[str, Any]:
    """A job of the run's latest attempt, or of an earlier one (its ids stay valid)."""
    from pheme.storage import NotFoundError

    try:
        found = server.store.get_job(job_id)
    except NotFoundError:
        found = None
    if found is not None and found.run_id == run_id:
        for job in _one_run(server, run_id, found.attempt)["jobs"]:
            if job["job_id"] == job_id:
                return dict(job)
    _run_or_404(server, run_id)
    raise HTTPException(404, f"run {run_id} has no job {job_id}")


@router.get("/runs/{run_id}/jobs/{job_id}")
def get_job(run_id: RunId, job_id: JobId, request: Request, _: Principal = Depends(require(Permission.READ))) -> dict[str, Any]:
    return _job(request.app.state.server, run_id, job_id)


@router.get("/runs/{run_id}/jobs/{job_id}/steps")
def list_steps(run_id: RunId, job_id: JobId, request: Request, _: Principal = Depends(require(Permission.READ))) -> dict[str, Any]:
    return {"steps": _job(request.app.state.server, run_id, job_id)["steps"]}


@router.get("/runs/{run_id}/jobs/{job_id}/logs", response_model=None)
def get_logs(
    run_id: RunId,
    job_id: JobId,
    request: Request,
    _: Principal = Depends(require(Permission.READ)),
    start: Annotated[int, Query(ge=0)] = 0,
    end: Annotated[int | None, Query(ge=0)] = None,
    follow: bool = False,
) -> Any:
    """Lines ``start <= n < end`` (0-based) as JSON, or with ``follow=true`` a live
    Server-Sent Events tail from ``start``: ``event: line`` (``{"n", "text"}``) per
    line, then one ``event: end`` (``{"status", "conclusion"}``) when the job is done."""
    server = request.app.state.server
    _job(server, run_id, job_id)
    if follow:
        return StreamingResponse(
            _tail(request, server, run_id, job_id, start),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    total = server.store.log_line_count(run_id, job_id)
    stop = min(total, end if end is not None else total, start + LOG_PAGE_MAX)
    lines = list(server.store.read_log(run_id, job_id, start, stop)) if stop > start else []
    return {"start": start, "lines": lines, "next": start + len(lines), "total": total}


def _read_lines(server: Any, run_id: int, job_id: int, start: int, stop: int) -> list[str]:
    return list(server.store.read_log(run_id, job_id, start, stop))


async def _tail(request: Request, server: Any, run_id: int, job_id: int, start: int) -> AsyncIterator[str]:
    from pheme.core.runs import Status

    position = start
    idle = 0
    while True:
        job = await asyncio.to_thread(server.store.get_job, job_id)
        total = job.log_lines
        if total > position:
            stop = min(total, position + 2000)
            lines = await asyncio.to_thread(_read_lines, server, run_id, job_id, position, stop)
            for offset, text in enumerate(lines):
                yield f"event: line\ndata: {json.dumps({'n': position + offset, 'text': text})}\n\n"
            position += len(lines)
            continue
        if job.status == Status.COMPLETED:
            conclusion = job.conclusion.value if job.conclusion else None
            yield f"event: end\ndata: {json.dumps({'status': job.status.value, 'conclusion': conclusion})}\n\n"
            return
        if await request.is_disconnected():
            return
        idle += 1
        if idle % 60 == 0:  # a comment line every ~15 s keeps proxies from closing the stream
            yield ": keep-alive\n\n"
        await asyncio.sleep(LIVE_POLL_SECONDS)


@router.get("/runs/{run_id}/artifacts")
def list_artifacts(run_id: RunId, request: Request, _: Principal = Depends(require(Permission.READ))) -> dict[str, Any]:
    from pheme.services.runs import iso
    from pheme.storage.objectstore import open_default_store
    from pheme.storage.objectstore.artifacts import ArtifactStore

    _run_or_404(request.app.state.server, run_id)
    from datetime import UTC, datetime

    records = ArtifactStore(open_default_store()).list(str(run_id))
    return {
        "artifacts": [
            {
                "name": r.name,
                "id": r.id,
                "size": r.size,
                "files": r.files,
                "digest": f"sha256:{r.digest}",
                "created_at": iso(datetime.fromtimestamp(r.created_at, UTC)),
                "expires_at": iso(datetime.fromtimestamp(r.expires_at, UTC)),
            }
            for r in records
        ]
    }


@router.get("/runs/{run_id}/artifacts/{name}", response_model=None)
def download_artifact(
    run_id: RunId,
    name: Annotated[str, Path(min_length=1, max_length=255, pattern=r'^[^"\\:<>|*?/\r\n]+$')],
    request: Request,
    _: Principal = Depends(require(Permission.READ)),
) -> Any:
    from pheme.errors import StorageError
    from pheme.storage.objectstore import open_default_store
    from pheme.storage.objectstore.artifacts import ArtifactStore

    _run_or_404(request.app.state.server, run_id)
    objects = open_default_store()
    try:
        record = ArtifactStore(objects).get(str(run_id), name)
    except StorageError as exc:
        raise HTTPException(404, str(exc)) from None

    def chunks() -> Any:
        with objects.open(record.object_key) as blob:
            while True:
                data = blob.read(1 << 16)
                if not data:
                    return
                yield data

    return StreamingResponse(
        chunks(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}.zip"', "Content-Length": str(record.size)},
    )


@router.post("/runs/{run_id}/cancel", status_code=202)
def cancel_run(run_id: RunId, request: Request, who: Principal = Depends(require(Permission.RUN))) -> dict[str, Any]:
    from pheme.services.server_runs import cancel

    server = request.app.state.server
    _run_or_404(server, run_id)
    try:
        cancel(server, run_id, actor=who.name)
    except Exception as exc:
        from pheme.errors import UsageError

        if isinstance(exc, UsageError):
            raise HTTPException(409, str(exc)) from None
        raise
    return _one_run(server, run_id)


@router.post("/runs/{run_id}/rerun", status_code=201)
def rerun_run(
    run_id: RunId, request: Request, body: RerunBody | None = None, who: Principal = Depends(require(Permission.RUN))
) -> dict[str, Any]:
    """Start the run's next attempt (same id, ``run_attempt`` + 1); answers with the run in it."""
    from pheme.errors import UsageError
    from pheme.services.server_runs import rerun

    server = request.app.state.server
    _run_or_404(server, run_id)
    try:
        rerun(server, run_id, failed_only=bool(body and body.failed_only), actor=who.name)
    except UsageError as exc:
        raise HTTPException(409, str(exc)) from None
    return _one_run(server, run_id)


@router.post("/repos/{owner}/{name}/dispatch", status_code=201)
def dispatch_run(
    owner: Owner, name: Name, body: DispatchBody, request: Request, who: Principal = Depends(require(Permission.RUN))
) -> dict[str, Any]:
    from pheme.services.server_runs import dispatch

    server = request.app.state.server
    run_ids = dispatch(server, f"{owner}/{name}", body.workflow, body.ref, body.inputs, actor=who.name)
    return {"runs": [_one_run(server, r) for r in run_ids]}
