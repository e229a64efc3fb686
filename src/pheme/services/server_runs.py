"""The server's run use cases: plan runs for an event, dispatch, cancel, re-run.

    plan_runs(server, repo, "push", payload, sha=..., ref=..., before=..., actor=...) -> [NewRun]
    plan_pull_request(server, repo, "pull_request", payload, actor=...) -> PullRequestPlan
    dispatch(server, "owner/repo", "deploy.yml", "main", {"level": "3"}, actor="alice") -> [run ids]
    cancel(server, run_id, actor="alice")
    rerun(server, run_id, failed_only=True, actor="alice") -> the run's new attempt

Reuses the workflow loader (``parse_workflow``) and trigger matching
(``match_event``) exactly as ``pheme run`` does; only where the files come
from differs (the server's mirror of the repository, at the event's commit).
Invalid workflow files are skipped with a log line (they never block the
valid ones), as on GitHub.

A re-run is a new attempt of the same run (same id and number, GitHub's
``run_attempt`` + 1). "Re-run failed jobs" runs the failed or cancelled jobs
and every job depending on them (through ``needs``, transitively) again; the
other jobs are carried over with their conclusion and outputs, which the
re-run jobs see in ``needs``. Matrix jobs are judged per combination. Jobs
that call a reusable workflow always run again when selected (the caller's
own outputs are not stored, so they cannot be carried over).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from pheme.core.server import RepoRecord
from pheme.errors import PlanningError, UsageError, WorkflowError

__all__ = [
    "PullRequestPlan", "cancel", "concurrency_of", "dispatch", "instance_key", "load_workflow", "plan_pull_request",
    "plan_runs", "queue_max_of", "rerun", "reused_results",
]  # fmt: skip

log = logging.getLogger("pheme.server.runs")


@functools.lru_cache(maxsize=512)
def _parse(path: str, text: str) -> Any:
    from pheme.core.workflow import parse_workflow

    try:
        return parse_workflow(text, path)
    except WorkflowError as exc:
        return exc


def load_workflow(path: str, text: str) -> Any:
    """The parsed workflow (cached by content); raises WorkflowError."""
    result = _parse(path, text)
    if isinstance(result, WorkflowError):
        raise result
    return result


def _short(ref: str) -> str:
    for prefix in ("refs/heads/", "refs/tags/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


def queue_max_of(workflow: Any) -> bool:
    """Whether the workflow's concurrency group queues its pending runs (``queue: max``)."""
    spec = workflow.concurrency
    return spec is not None and spec.queue == "max"


def concurrency_of(
    workflow: Any, repo_name: str, event: str, ref: str, sha: str, payload: Mapping[str, Any], inputs: Mapping[str, Any],
    variables: Mapping[str, str],
) -> tuple[str | None, bool]:
    """The workflow's ``concurrency`` group (expressions evaluated) and cancel-in-progress."""
    spec = workflow.concurrency
    if spec is None:
        return None, False
    from pheme.core.expr import EvalContext, evaluate_raw, render, truthy

    pr = payload.get("pull_request") if isinstance(payload.get("pull_request"), dict) else {}
    github = {
        "event": dict(payload),
        "event_name": event,
        "ref": ref,
        "ref_name": _short(ref),
        "sha": sha,
        "repository": repo_name,
        "repository_owner": repo_name.split("/", 1)[0],
        "workflow": workflow.display_name,
        "head_ref": (pr.get("head") or {}).get("ref", "") if pr else "",
        "base_ref": (pr.get("base") or {}).get("ref", "") if pr else "",
        "actor": str((payload.get("sender") or {}).get("login", "")) if isinstance(payload.get("sender"), dict) else "",
    }
    ctx = EvalContext(contexts={"github": github, "inputs": dict(inputs), "vars": dict(variables)})
    try:
        group = render(spec.group, ctx) if "${{" in spec.group else spec.group
        cip = spec.cancel_in_progress
        cancel = truthy(evaluate_raw(cip, ctx)) if isinstance(cip, str) else bool(cip)
    except Exception as exc:  # an invalid expression: no group rather than no run
        log.warning("concurrency group not evaluated", extra={"workflow": workflow.path, "error": type(exc).__name__})
        return None, False
    # Group names are case-insensitive on GitHub: "Prod" and "prod" are one group.
    return (f"{repo_name}:{group.casefold()}" if group else None), cancel


def plan_runs(
    server: Any,
    repo: RepoRecord,
    event_name: str,
    payload: dict[str, Any],
    *,
    sha: str,
    ref: str,
    before: str | None,
    actor: str,
    inputs: Mapping[str, Any] | None = None,
    only_file: str | None = None,
    base_ref: str | None = None,
    pull_files: tuple[str, str] | None = None,
) -> list[Any]:
    """The runs ``event_name`` starts in ``repo`` at ``sha`` (not yet stored).

    Path filters see the files of ``before..sha``, or for a pull request
    (``pull_files`` = (base, head)) those of ``base...head``: what the pull
    request changes, whatever ``sha`` (a merge commit, the base) is."""
    from pheme.core.planning.triggers import Event, match_event
    from pheme.storage.server import NewRun

    mirror = server.mirrors.get(repo.id, repo.source)
    files = mirror.workflow_files(sha)
    changed: tuple[str, ...] | None = None
    variables: dict[str, str] | None = None  # only concurrency groups read them: fetched when needed
    planned: list[Any] = []
    for path, text in sorted(files.items()):
        if only_file is not None and path != only_file:
            continue
        try:
            workflow = load_workflow(path, text)
        except WorkflowError as exc:
            log.warning("invalid workflow skipped", extra={"repo": repo.name, "file": path, "problem": str(exc)})
            continue
        trigger = workflow.on.get(event_name)
        if trigger is None:
            continue
        if changed is None and (trigger.paths is not None or trigger.paths_ignore is not None):
            if pull_files is not None:
                changed = mirror.changed_files(pull_files[0], pull_files[1], since_fork=True)
            else:
                changed = mirror.changed_files(before, sha)
        event = Event(
            name=event_name,
            ref=ref,
            changed_files=changed,
            action=payload.get("action") if isinstance(payload.get("action"), str) else None,
            payload=payload,
            base_ref=base_ref,
        )
        if not match_event(workflow, event):
            continue
        run_inputs: dict[str, Any] = {}
        run_payload = payload
        if event_name == "workflow_dispatch":
            from pheme.core.planning.triggers import resolve_dispatch_inputs

            try:
                run_inputs = dict(resolve_dispatch_inputs(trigger, dict(inputs or {})))
            except PlanningError as exc:
                raise UsageError(f"{path}: {exc}") from None
            run_payload = {**payload, "inputs": {k: _text(v) for k, v in run_inputs.items()}, "workflow": path}
        if workflow.concurrency is not None and variables is None:
            variables = server.variables_for(server.scope_of(repo), cached=True)
        group, cancel_in_progress = concurrency_of(
            workflow, repo.name, event_name, ref, sha, run_payload, run_inputs, variables or {}
        )
        planned.append(
            NewRun(
                repo_id=repo.id,
                workflow=workflow.display_name,
                file=path,
                event=event_name,
                ref=ref,
                sha=sha,
                actor=actor,
                payload=run_payload,
                inputs=run_inputs,
                concurrency_group=group,
                cancel_in_progress=cancel_in_progress,
                queue_max=queue_max_of(workflow),
            )
        )
    return planned


@dataclass(frozen=True)
class PullRequestPlan:
    """The runs of a pull request event, or why it runs nothing (``skipped``, e.g. ``merge conflict``)."""

    runs: list[Any] = field(default_factory=list)
    skipped: str | None = None
    conflicts: tuple[str, ...] = ()


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _sha_of(value: Any) -> str | None:
    return value if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{40}", value) else None


def plan_pull_request(server: Any, repo: RepoRecord, event_name: str, payload: dict[str, Any], *, actor: str) -> PullRequestPlan:
    """The runs of a ``pull_request`` or ``pull_request_target`` delivery, where GitHub runs them.

    ``pull_request``: on the merge commit of the head into the base
    (``refs/pull/N/merge``, made in the mirror), its workflow files read from
    that commit; a merge conflict runs nothing, as on GitHub. The base is the
    event's ``pull_request.base.sha`` (GitHub merges into the base it reports;
    a redelivery gives the same merge commit), else the base branch's tip.

    ``pull_request_target``: on the latest commit of the base branch, with the
    base branch as ``ref``: its workflows come from the base, never from the
    pull request's code.

    Both: ``github.event`` is the payload unchanged, and path filters see the
    pull request's changes (base...head).
    """
    pr = payload.get("pull_request")
    if not isinstance(pr, dict):
        raise UsageError("a pull_request payload needs 'pull_request'")
    head_obj = _obj(pr.get("head"))
    base_obj = _obj(pr.get("base"))
    head = _sha_of(head_obj.get("sha"))
    number = pr.get("number", payload.get("number"))
    base_ref = base_obj.get("ref")
    if head is None or not isinstance(number, int) or isinstance(number, bool):
        raise UsageError("a pull_request payload needs pull_request.head.sha and a number")
    if not isinstance(base_ref, str) or not base_ref:
        raise UsageError("a pull_request payload needs pull_request.base.ref")
    base_ref = base_ref.removeprefix("refs/heads/")
    mirror = server.mirrors.get(repo.id, repo.source)
    base = _sha_of(base_obj.get("sha"))
    if event_name == "pull_request_target":
        base = mirror.branch_tip(base_ref) or base
    elif base is None:
        base = mirror.branch_tip(base_ref)
    if base is None:
        raise UsageError(f"branch {base_ref!r} (the base of pull request #{number}) is not in {repo.source}")
    if event_name == "pull_request_target":
        mirror.ensure(base)
        mirror.ensure_pull_head(head, number)  # path filters read the pull request's changes
        sha, ref = base, f"refs/heads/{base_ref}"
    else:
        merge = mirror.merge_commit(number, head, base)  # cached: a redelivery runs no git process
        if merge.sha is None:
            log.info(
                "pull request not run: %s", merge.reason,
                extra={"repo": repo.name, "pull_request": number, "head": head[:12], "base": base[:12],
                       "conflicts": ", ".join(merge.conflicts[:20])},
            )  # fmt: skip
            return PullRequestPlan(skipped=merge.reason, conflicts=merge.conflicts)
        sha, ref = merge.sha, f"refs/pull/{number}/merge"
    runs = plan_runs(
        server, repo, event_name, payload, sha=sha, ref=ref, before=base, actor=actor, base_ref=base_ref,
        pull_files=(base, head),
    )  # fmt: skip
    return PullRequestPlan(runs)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _find_workflow_file(files: Mapping[str, str], wanted: str) -> str:
    if wanted in files:
        return wanted
    by_base = [p for p in files if p.rsplit("/", 1)[-1] == wanted]
    if len(by_base) == 1:
        return by_base[0]
    for path, text in files.items():
        try:
            if load_workflow(path, text).display_name == wanted:
                return path
        except WorkflowError:
            continue
    raise UsageError(f"no workflow {wanted!r} (workflows: {', '.join(sorted(files)) or 'none'})")


def dispatch(
    server: Any, repo_name: str, workflow: str, ref: str, inputs: Mapping[str, Any], *, actor: str
) -> list[int]:
    """A ``workflow_dispatch`` run of ``workflow`` on ``ref``; returns the new run ids."""
    repo = server.sstore.get_repo(repo_name)
    mirror = server.mirrors.get(repo.id, repo.source)
    mirror.fetch()
    sha = mirror.resolve(ref)
    full_ref = ref if ref.startswith("refs/") else (f"refs/heads/{ref}" if len(ref) != 40 else ref)
    path = _find_workflow_file(mirror.workflow_files(sha), workflow)
    workflow_obj = load_workflow(path, mirror.workflow_files(sha)[path])
    if "workflow_dispatch" not in workflow_obj.on:
        raise UsageError(f"{path} does not run on workflow_dispatch")
    owner, _, name = repo.name.partition("/")
    payload: dict[str, Any] = {
        "ref": full_ref,
        "repository": {"full_name": repo.name, "name": name, "owner": {"login": owner}},
        "sender": {"login": actor},
    }
    new_runs = plan_runs(server, repo, "workflow_dispatch", payload, sha=sha, ref=full_ref, before=None, actor=actor,
                         inputs=inputs, only_file=path)  # fmt: skip
    if not new_runs:
        raise UsageError(f"{path} is not triggered by workflow_dispatch on {full_ref}")
    outcome = server.enqueue(new_runs)
    server.sstore.audit(actor, "run.dispatch", f"{repo.name}/{path}", {"ref": full_ref, "runs": list(outcome.run_ids)})
    return list(outcome.run_ids)


def cancel(server: Any, run_id: int, *, actor: str) -> None:
    """Cancel a queued run at once, or ask its executor to stop a running one."""
    from pheme.core.runs import Status

    run = server.store.get_run(run_id)
    if run.status == Status.COMPLETED:
        raise UsageError(f"run {run_id} is already completed ({run.conclusion.value if run.conclusion else ''})")
    entry = server.sstore.queue_entry(run_id)
    server.sstore.audit(actor, "run.cancel", f"run {run_id}")
    if entry.state == "queued" and server.sstore.cancel_queued(run_id, f"cancelled by {actor}"):
        server.after_run_finished(run_id)
        return
    server.sstore.request_cancel(run_id)
    if server.dispatcher is not None:
        server.dispatcher.cancel(run_id, f"cancelled by {actor}")


def rerun(server: Any, run_id: int, *, failed_only: bool, actor: str) -> Any:
    """Start the next attempt of a completed run: all jobs, or only the failed ones
    (and their dependents; the rest carried over). Returns the run's new attempt
    (a :class:`RunRecord`, same id, ``attempt`` + 1)."""
    from pheme.core.runs import Conclusion, Status

    run = server.store.get_run(run_id)
    if run.status != Status.COMPLETED:
        raise UsageError(f"run {run_id} is still {run.status.value}: cancel it or wait for it to finish")
    entry = server.sstore.queue_entry(run_id)
    if entry.state == "running":
        _await_release(server, run_id)
    repo = server.sstore.get_repo(entry.repo_id)
    files = server.mirrors.get(repo.id, repo.source).workflow_files(run.sha)
    if run.file not in files:
        raise UsageError(f"{run.file} no longer exists at {run.sha[:12]}")
    workflow = load_workflow(run.file, files[run.file])
    reuse: list[Any] = []
    if failed_only:
        if not any(j.conclusion in (Conclusion.FAILURE, Conclusion.CANCELLED) for j in run.jobs):
            raise UsageError(f"run {run_id} has no failed jobs to re-run")
        reuse = carried_over(run, workflow)
    group, cancel_in_progress = concurrency_of(
        workflow, repo.name, run.event, run.ref, run.sha, entry.payload, run.inputs,
        server.variables_for(server.scope_of(repo)),
    )  # fmt: skip
    record = server.sstore.requeue(
        run_id, actor=actor, reuse=[j.id for j in reuse], concurrency_group=group, cancel_in_progress=cancel_in_progress
    )
    server.sstore.audit(actor, "run.rerun", f"run {run_id}", {
        "failed_only": failed_only, "attempt": record.attempt, "reused": [j.name for j in reuse],
    })  # fmt: skip
    server.admitted(run_id, entry.repo_id, group, cancel_in_progress, queue_max_of(workflow))
    return record


RELEASE_SECONDS = 10.0


def _await_release(server: Any, run_id: int) -> None:
    """Wait (briefly) until the executor has let go of a completed run.

    A run is completed a moment before its executor has finished with it (queue
    entry, commit status, notifications of that attempt); the next attempt must
    not start inside that moment. If it takes longer, the re-run is refused
    (``ServerStore.requeue``) with a line saying to try again.
    """
    dispatcher = server.dispatcher
    if dispatcher is None:
        return
    dispatcher.wait_until(
        lambda: run_id not in dispatcher.running_ids() and server.sstore.queue_entry(run_id).state != "running",
        RELEASE_SECONDS,
    )


def carried_over(run: Any, workflow: Any) -> list[Any]:
    """The jobs of the run's latest attempt that "re-run failed jobs" carries over.

    Failed or cancelled instances run again, and so does every job that needs a
    job with such an instance (transitively). A matrix job re-runs only its failed
    or cancelled combinations. Succeeded and skipped jobs outside that set are
    carried over, except callers of a reusable workflow, which always run.
    """
    from pheme.core.runs import Conclusion

    bad = (Conclusion.FAILURE, Conclusion.CANCELLED)
    failed = {j.key for j in run.jobs if j.conclusion in bad}
    dependents: set[str] = set()
    grew = True
    while grew:
        grew = False
        for key, job in workflow.jobs.items():
            if key not in dependents and any(n in failed or n in dependents for n in job.needs):
                dependents.add(key)
                grew = True
    keep: list[Any] = []
    for job in run.jobs:
        definition = workflow.jobs.get(job.key)
        if definition is None or definition.uses or job.key in dependents or job.conclusion in bad:
            continue
        if job.conclusion in (Conclusion.SUCCESS, Conclusion.SKIPPED):
            keep.append(job)
    return keep


def instance_key(job: Any) -> str:
    """The engine's key of a stored job instance: ``build`` or ``build (3.12, linux)``."""
    from pheme.core.planning.matrix import combination_label

    label = combination_label(job.matrix) if job.matrix else ""
    return f"{job.key} {label}" if label else str(job.key)


def reused_results(run: Any) -> dict[str, Any]:
    """``RunRequest.reused`` for a run's attempt: its carried-over jobs, by instance key."""
    from pheme.execution.runner import JobResult

    reused: dict[str, Any] = {}
    for job in run.jobs:
        if job.reused:
            key = instance_key(job)
            conclusion = cast(Any, job.conclusion.value if job.conclusion is not None else "success")
            matrix = dict(job.matrix) if job.matrix is not None else None
            reused[key] = JobResult(key, job.key, job.name, matrix, conclusion, outputs=dict(job.outputs))
    return reused
