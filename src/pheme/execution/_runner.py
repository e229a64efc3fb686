"""Run orchestration: which jobs run, when, and how many at once.

Scheduling is by readiness, never by stages: every selected job gets a task
at once that waits for *its own* ``needs`` to finish, so an independent job
starts while an unrelated long job still runs. A semaphore caps the number of
job instances running at the same time (``max_parallel_jobs``, default the
CPU count); a matrix job's ``strategy.max-parallel`` caps its siblings.

A job that calls a reusable workflow (``uses: ./.github/workflows/x.yml``)
takes no slot itself: the called workflow's jobs are scheduled in a scope of
their own (:class:`_Scope`), reported as ``<caller> / <job>``, and the
caller's result and outputs (for ``needs.<caller>``) come from them — see
:mod:`pheme.execution._reusable` for the rules at the call boundary.

Everything runs inside one ``asyncio.TaskGroup`` and the per-run temporary
directory is removed in ``finally`` whatever happens.

A re-run attempt may carry jobs over (``RunRequest.reused``): such a job
instance finishes at once with its earlier result, without a slot, an event
or its ``if:``; it still waits for its needs, so ordering and ``needs``
contexts are exactly those of a normal run.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import json
import os
import re
import shutil
import tempfile
from collections.abc import Awaitable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pheme.core.planning.matrix import (
    combination_label,
    filtered_out_reason,
    plan_strategy,
    select_combinations,
)
from pheme.core.workflow.model import Environment, Job, Pos, Workflow
from pheme.errors import (
    ExecutionError,
    ExpressionError,
    PhemeError,
    PlanningError,
    WorkflowError,
)
from pheme.execution._concurrency import ConcurrencyGroups, GroupTicket
from pheme.execution._expr import EvalContext, evaluate_condition, evaluate_raw, render, to_string, truthy
from pheme.execution._job import (
    JobRun,
    JobScope,
    JobStatus,
    RunShared,
    aggregate_result,
    env_strings,
    merged_outputs,
)
from pheme.execution._reusable import (
    WorkflowLoader,
    call_inputs,
    call_outputs,
    call_secrets,
    default_loader,
    max_nested_calls,
)
from pheme.execution._steprun import now
from pheme.execution._steps import OfflineActionResolver, expr_error
from pheme.execution._types import JobGate, JobResult, RunRequest, RunResult
from pheme.execution.events import (
    Annotation,
    Conclusion,
    JobFinished,
    JobGroupAcquired,
    JobPending,
    JobRef,
    LogLines,
    RunFinished,
    RunObserver,
    RunStarted,
)
from pheme.execution.masking import Masker

__all__ = ["execute", "select_jobs"]

_STATUS_FUNCS = ("success(", "failure(", "cancelled(", "always(")


def select_jobs(workflow: Workflow, wanted: Sequence[str] | None) -> list[str]:
    """Job ids to run, in file order: all, or ``wanted`` plus their transitive needs.

    Raises PlanningError for an unknown job, an unknown need, or a cycle.
    """
    jobs = workflow.jobs
    for job in jobs.values():
        for need in job.needs:
            if need not in jobs:
                raise PlanningError(f"job '{job.id}' depends on unknown job '{need}'")
    if wanted:
        for w in wanted:
            if w not in jobs:
                raise PlanningError(f"no job '{w}' in {workflow.path} (jobs: {', '.join(jobs)})")
        keep: set[str] = set()
        todo = list(wanted)
        while todo:
            jid = todo.pop()
            if jid not in keep:
                keep.add(jid)
                todo.extend(jobs[jid].needs)
    else:
        keep = set(jobs)
    state: dict[str, int] = {}

    def visit(jid: str, path: list[str]) -> None:
        if state.get(jid) == 2:
            return
        if state.get(jid) == 1:
            cycle = " -> ".join([*path[path.index(jid) :], jid])
            raise PlanningError(f"the job dependencies form a cycle: {cycle}")
        state[jid] = 1
        for need in jobs[jid].needs:
            visit(need, [*path, jid])
        state[jid] = 2

    for jid in keep:
        visit(jid, [])
    return [jid for jid in jobs if jid in keep]


class _Run:
    """Run-wide state: the request, the observer, the slots, what was reported."""

    def __init__(
        self, request: RunRequest, observer: RunObserver, cancel: asyncio.Event, run_dir: str
    ) -> None:
        self.request = request
        self.observer = observer
        self.cancel = cancel
        self.run_dir = run_dir
        cpu = os.cpu_count() or 2
        self.slots = asyncio.Semaphore(max(1, request.max_parallel_jobs or cpu))
        self.keys: set[str] = set()
        # Reported job instances with their place in the listing: (job index, matrix index)
        # for the run's own jobs, the caller's place + the same pair for a called workflow's.
        self.reported: list[tuple[tuple[int, ...], JobResult]] = []
        self.shared: RunShared | None = None
        self.load_workflow: WorkflowLoader = request.load_workflow or default_loader(request.workspace)
        groups = request.concurrency_groups
        self.groups = groups if groups is not None else ConcurrencyGroups()

    # -- setup -----------------------------------------------------------------
    def prepare(self) -> RunShared:
        req = self.request
        event_dir = os.path.join(self.run_dir, "_github_workflow")
        os.makedirs(event_dir)
        event_path = os.path.join(event_dir, "event.json")
        with open(event_path, "w", encoding="utf-8") as f:
            json.dump(dict(req.event_payload), f)
        tool_cache = str(req.tool_cache) if req.tool_cache else os.path.join(self.run_dir, "tool_cache")
        os.makedirs(tool_cache, exist_ok=True)
        masker = Masker(v for v in req.secrets.values() if v)
        debug = any(
            str(src.get("ACTIONS_STEP_DEBUG", "")).lower() == "true" for src in (req.secrets, req.vars)
        )
        workflow_env = self.workflow_env(req.workflow, dict(req.inputs), dict(req.secrets))
        self.shared = RunShared(
            request=req,
            observer=self.observer,
            masker=masker,
            base_env=dict(os.environ),
            workflow_env=workflow_env,
            workspace=str(req.workspace),
            run_dir=self.run_dir,
            tool_cache=tool_cache,
            event_path=event_path,
            resolver=req.action_resolver or OfflineActionResolver(),
            debug=debug,
            run_cancel=self.cancel,
        )
        return self.shared

    def workflow_env(
        self, workflow: Workflow, inputs: Mapping[str, Any], secrets: Mapping[str, str]
    ) -> dict[str, str]:
        """A workflow's ``env`` (contexts: github, inputs, secrets, vars), then the ``--env`` overrides."""
        req = self.request
        ctx = {
            "github": _github_light(req),
            "secrets": dict(secrets),
            "inputs": dict(inputs),
            "vars": dict(req.vars),
        }
        env = env_strings(workflow.env, EvalContext(contexts=ctx))
        env.update(req.env)
        return env

    def unique_key(self, key: str) -> str:
        candidate, n = key, 1
        while candidate in self.keys:
            n += 1
            candidate = f"{key} #{n}"
        self.keys.add(candidate)
        return candidate

    def report(self, position: tuple[int, ...], result: JobResult) -> None:
        self.reported.append((position, result))

    def ordered(self) -> list[JobResult]:
        return [r for _, r in sorted(self.reported, key=lambda item: item[0])]


class _Scope:
    """The jobs of one workflow file: the run's own, or a called workflow's.

    A called workflow's jobs are scheduled exactly like the caller's (each
    waits for its own ``needs``), report as ``<caller> / <job>``, and see
    the inputs and secrets the caller passed. ``cancel`` is the run's cancel
    event for the root scope and the calling job instance's for a callee, so
    cancelling the run or a fail-fast sibling of the caller reaches them.
    """

    def __init__(
        self,
        run: _Run,
        workflow: Workflow,
        *,
        inputs: Mapping[str, Any],
        secrets: Mapping[str, str],
        workflow_env: Mapping[str, str],
        cancel: asyncio.Event,
        depth: int = 0,
        key_prefix: str = "",
        name_prefix: str = "",
        report_id: str | None = None,
        position: tuple[int, ...] = (),
        held: Mapping[str, str] | None = None,
    ) -> None:
        self.run = run
        self.workflow = workflow
        self.inputs = dict(inputs)
        self.secrets = dict(secrets)
        self.workflow_env = dict(workflow_env)
        self.cancel = cancel
        self.depth = depth
        self.key_prefix = key_prefix
        self.name_prefix = name_prefix
        self.report_id = report_id
        self.position = position
        # Concurrency groups (case-folded) held by the jobs that called this workflow -> the
        # caller's key: a job of ours entering one of them would wait forever.
        self.held: dict[str, str] = dict(held or {})
        self.tickets: dict[str, GroupTicket] = {}  # job key -> its group, while it runs
        self.order = {jid: i for i, jid in enumerate(workflow.jobs)}
        self.results: dict[str, list[JobResult]] = {}
        self.done: dict[str, asyncio.Event] = {}
        self.active: set[asyncio.Event] = set()

    @property
    def request(self) -> RunRequest:
        return self.run.request

    @property
    def observer(self) -> RunObserver:
        return self.run.observer

    @property
    def shared(self) -> RunShared:
        assert self.run.shared is not None
        return self.run.shared

    async def run_all(self, selected: Sequence[str]) -> None:
        self.done = {jid: asyncio.Event() for jid in selected}
        watcher = asyncio.create_task(self.watch_cancel())
        try:
            async with asyncio.TaskGroup() as tg:
                for jid in selected:
                    tg.create_task(self.run_job(jid))
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def watch_cancel(self) -> None:
        await self.cancel.wait()
        for event in list(self.active):
            event.set()

    # -- helpers ---------------------------------------------------------------
    def job_id_of(self, job: Job) -> str:
        return self.report_id or job.id

    def finish(self, job: Job, result: JobResult, index: int, *, reported: bool = True) -> None:
        self.results.setdefault(job.id, []).append(result)
        if reported:
            self.run.report((*self.position, self.order.get(job.id, 0), index), result)

    def fail_lines(self, ref: JobRef, lines: Sequence[str]) -> None:
        messages = [self.shared.masker.mask(line) for line in lines]
        self.observer(LogLines(job=ref, lines=[f"##[error]{m}" for m in messages]))
        for message in messages:
            self.observer(Annotation(job=ref, level="error", message=message))

    def not_run(
        self,
        job: Job,
        conclusion: Conclusion,
        reason: str | None,
        error: str | None = None,
        *,
        note: str | None = None,
    ) -> None:
        """Finish ``job`` without running it; ``error`` is logged as an error, ``note`` as a notice."""
        key = self.run.unique_key(self.key_prefix + job.id)
        ref = JobRef(key=key, job_id=self.job_id_of(job), name=self.name_prefix + job.display_name)
        if error:
            self.fail_lines(ref, [error])
        if note:
            self.observer(LogLines(job=ref, lines=[f"##[notice]{self.shared.masker.mask(note)}"]))
        self.observer(
            JobFinished(job=ref, conclusion=conclusion, outputs={}, at=now(), started=False, reason=reason)
        )
        self.finish(
            job, JobResult(ref.key, ref.job_id, ref.name, None, conclusion, started=False, reason=reason), 0
        )

    def needs_context(self, job: Job) -> dict[str, Any]:
        return {
            n: {
                "result": aggregate_result(self.results.get(n, [])),
                "outputs": merged_outputs(self.results.get(n, [])),
            }
            for n in job.needs
        }

    def ancestors(self, job: Job) -> set[str]:
        seen: set[str] = set()
        todo = list(job.needs)
        while todo:
            jid = todo.pop()
            if jid not in seen and jid in self.workflow.jobs:
                seen.add(jid)
                todo.extend(self.workflow.jobs[jid].needs)
        return seen

    def job_status(self, job: Job, needs: Mapping[str, Any]) -> JobStatus:
        """What ``success()``/``failure()``/``cancelled()`` say in a job's ``if:``.

        GitHub: ``failure()`` is true when any *ancestor* job failed;
        ``success()`` only when every need succeeded — a skipped need makes
        it false (the reason ``!failure() && !cancelled()`` is the usual way to
        run after a skipped job).
        """
        if self.cancel.is_set():
            return "cancelled"
        if any(aggregate_result(self.results.get(a, [])) == "failure" for a in self.ancestors(job)):
            return "failure"
        if all(v["result"] == "success" for v in needs.values()):
            return "success"
        return "skipped"

    def job_ctx(self, job: Job, needs: Mapping[str, Any], status: JobStatus, **extra: Any) -> EvalContext:
        req = self.request
        contexts: dict[str, Any] = {
            "github": {**_github_light(req), "job": job.id},
            "needs": dict(needs),
            "inputs": dict(self.inputs),
            "vars": dict(req.vars),
            **extra,
        }
        return EvalContext(contexts=contexts, job_status=status)

    # -- one job id (all its instances) -------------------------------------
    async def run_job(self, job_id: str) -> None:
        job = self.workflow.jobs[job_id]
        try:
            for need in job.needs:
                await self.done[need].wait()
            await self._run_job(job)
        finally:
            self.done[job_id].set()

    def carried(self, job: Job, needs: Mapping[str, Any]) -> list[JobResult] | None:
        """Every instance of ``job`` as carried over from an earlier attempt, or None
        if any instance has to run (or the job is not carried over at all).

        The matrix is expanded as usual (its inputs are the carried-over needs, so it
        comes out as before) and each combination's key looked up in ``reused``.
        """
        reused = self.request.reused
        if self.depth or not reused or not any(r.job_id == job.id for r in reused.values()):
            return None
        try:
            combos = self._strategy(job, needs)[0]
        except (ExpressionError, PlanningError):
            return None
        keys = [self._instance_key(job, combo) for combo in combos]
        if not keys or any(k not in reused for k in keys):
            return None
        return [reused[k] for k in keys]

    def carry(self, job: Job, result: JobResult, index: int) -> None:
        """Finish an instance with its earlier attempt's result (not run, no event)."""
        key = self.run.unique_key(result.key)
        self.finish(job, dataclasses.replace(result, key=key, reused=True), index)

    async def _run_job(self, job: Job) -> None:
        needs = self.needs_context(job)
        carried = self.carried(job, needs)
        if carried is not None:
            for index, result in enumerate(carried):
                self.carry(job, result, index)
            return
        results = [v["result"] for v in needs.values()]
        cancelled = self.cancel.is_set()
        status = self.job_status(job, needs)
        cond = job.if_
        implicit = not (isinstance(cond, str) and any(f in cond.replace(" ", "") for f in _STATUS_FUNCS))
        try:
            if implicit and any(r != "success" for r in results):
                run_it = False
            else:
                run_it = evaluate_condition(cond, self.job_ctx(job, needs, status))
        except ExpressionError as exc:
            self.not_run(job, "failure", "invalid if", expr_error(self.workflow.path, "if", job.pos, exc))
            return
        if not run_it:
            cancelled = self.cancel.is_set()
            self.not_run(job, "cancelled" if cancelled else "skipped", "cancelled" if cancelled else "if")
            return
        unsupported = _unsupported(job, self.key_prefix + job.id)
        if unsupported:
            self.not_run(job, "failure", "unsupported", unsupported)
            return
        try:
            combos, fail_fast, max_parallel, expanded = self._strategy(job, needs)
        except (ExpressionError, PlanningError) as exc:
            self.not_run(job, "failure", "invalid strategy", f"job '{job.id}': {exc}")
            return
        if not combos and expanded:
            reason = filtered_out_reason(self.request.matrix_filter, expanded)
            self.not_run(job, "skipped", reason, note=reason)
            return
        if not combos:
            self.not_run(job, "skipped", "the matrix has no combinations")
            return
        siblings = [asyncio.Event() for _ in combos]
        limit = asyncio.Semaphore(max_parallel or len(combos) or 1)
        async with asyncio.TaskGroup() as tg:
            for index, combo in enumerate(combos):
                strategy = {
                    "fail-fast": fail_fast,
                    "job-index": index,
                    "job-total": len(combos),
                    "max-parallel": max_parallel or len(combos),
                }
                tg.create_task(
                    self._instance(job, combo, strategy, needs, siblings, index, limit, fail_fast, cancelled)
                )

    def _strategy(
        self, job: Job, needs: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any] | None], bool, int, int]:
        """Evaluate the strategy's expressions, then expand it (GitHub's rules) and
        apply the request's ``matrix_filter``.

        Returns (combinations, fail-fast, max-parallel, combinations before the filter).
        """
        strategy = job.strategy
        if strategy is None or strategy.matrix is None:
            return [None], True, 1, 1
        ctx = self.job_ctx(job, needs, "success")
        matrix: Any = strategy.matrix
        if isinstance(matrix, str):
            matrix = evaluate_raw(matrix, ctx)
        if not isinstance(matrix, Mapping):
            raise PlanningError("strategy.matrix must evaluate to a mapping")
        matrix = evaluate_template(matrix, ctx)
        ff, mp = strategy.fail_fast, strategy.max_parallel
        plan = plan_strategy(
            dataclasses.replace(
                strategy,
                matrix=matrix,
                fail_fast=to_string(evaluate_raw(ff, ctx)) if isinstance(ff, str) else ff,
                max_parallel=to_string(evaluate_raw(mp, ctx)) if isinstance(mp, str) else mp,
            )
        )
        combos = list(plan.combinations)
        wanted = self.request.matrix_filter
        kept: list[dict[str, Any] | None] = [dict(c) for c in select_combinations(combos, wanted)]
        return kept, plan.fail_fast, plan.max_parallel or 0, len(combos)

    def _instance_key(self, job: Job, combo: Mapping[str, Any] | None) -> str:
        """``build`` or ``build (3.12, linux)`` (before ``unique_key``)."""
        label = combination_label(combo) if combo else ""
        return self.key_prefix + (f"{job.id} {label}" if label else job.id)

    def _names(self, job: Job, combo: Mapping[str, Any] | None, needs: Mapping[str, Any]) -> tuple[str, str]:
        label = combination_label(combo) if combo else ""
        name = job.display_name
        if job.name and "${{" in job.name:
            ctx = self.job_ctx(job, needs, "success", matrix=dict(combo or {}))
            with contextlib.suppress(ExpressionError):
                name = render(job.name, ctx)
        elif label:
            name = f"{name} {label}"
        return self.run.unique_key(self._instance_key(job, combo)), self.name_prefix + name

    def _cancelled_before_start(
        self, job: Job, ref: JobRef, combo: dict[str, Any] | None, index: int
    ) -> None:
        self.observer(
            JobFinished(
                job=ref, conclusion="cancelled", outputs={}, at=now(), started=False, reason="cancelled"
            )
        )
        self.finish(
            job,
            JobResult(ref.key, ref.job_id, ref.name, combo, "cancelled", started=False, reason="cancelled"),
            index,
        )

    async def _instance(
        self,
        job: Job,
        combo: dict[str, Any] | None,
        strategy: dict[str, Any],
        needs: Mapping[str, Any],
        siblings: list[asyncio.Event],
        index: int,
        limit: asyncio.Semaphore,
        fail_fast: bool,
        approved_cancelled: bool,
    ) -> None:
        cancel = siblings[index]
        key, name = self._names(job, combo, needs)
        prior = self.request.reused.get(key) if self.depth == 0 else None
        if prior is not None:  # a combination that succeeded in an earlier attempt
            self.finish(job, dataclasses.replace(prior, key=key, reused=True), index)
            return
        ref = JobRef(key=key, job_id=self.job_id_of(job), name=name, matrix=combo)
        ticket: GroupTicket | None = None
        try:
            entered = await self._enter_group(job, ref, combo, strategy, needs, cancel, approved_cancelled)
            if isinstance(entered, JobResult):  # ended before it could start
                self.finish(job, entered, index)
                result: JobResult | None = entered
            else:
                ticket = entered
                if ticket is not None:
                    self.tickets[ref.key] = ticket
                result = await self._start(
                    job, ref, combo, strategy, needs, cancel, index, limit, approved_cancelled
                )
        finally:
            if ticket is not None:
                self.tickets.pop(ref.key, None)
                ticket.leave()
        if result is not None and result.conclusion == "failure" and fail_fast and combo is not None:
            for other in siblings:
                if other is not cancel:
                    other.set()

    async def _start(
        self,
        job: Job,
        ref: JobRef,
        combo: dict[str, Any] | None,
        strategy: dict[str, Any],
        needs: Mapping[str, Any],
        cancel: asyncio.Event,
        index: int,
        limit: asyncio.Semaphore,
        approved_cancelled: bool,
    ) -> JobResult | None:
        """Run one job instance (its gate, a slot, the job); None when it ended without a result."""
        key, name = ref.key, ref.name
        if job.uses:
            async with limit:
                if self.cancel.is_set() and not approved_cancelled:
                    cancel.set()
                if cancel.is_set():
                    self._cancelled_before_start(job, ref, combo, index)
                    return None
                self.active.add(cancel)
                try:
                    return await self._call(job, ref, combo, strategy, needs, cancel, index)
                finally:
                    self.active.discard(cancel)
        else:
            shared = self.shared
            scope = JobScope(self.workflow, self.inputs, self.secrets, self.workflow_env)
            if (
                self.request.before_job is not None
                and not cancel.is_set()
                and not (self.cancel.is_set() and not approved_cancelled)
            ):
                gate = await _unless(cancel, self._gate(job, ref, needs, combo))
                if gate is None:  # the job was cancelled while its gate was pending
                    self._cancelled_before_start(job, ref, combo, index)
                    return None
                if gate.decision == "rejected":
                    message = gate.reason or f"job '{job.id}' was rejected"
                    self.fail_lines(ref, [message])
                    self.observer(
                        JobFinished(
                            job=ref,
                            conclusion="failure",
                            outputs={},
                            at=now(),
                            started=False,
                            reason="rejected",
                        )
                    )
                    self.finish(
                        job,
                        JobResult(key, ref.job_id, name, combo, "failure", started=False, reason="rejected"),
                        index,
                    )
                    return None
                shared, scope = self._scoped(gate, scope)
            async with limit, self.run.slots:
                # A job approved after the run was cancelled (``if: always()``) runs;
                # one approved before it, still waiting for a slot, does not.
                if self.cancel.is_set() and not approved_cancelled:
                    cancel.set()
                if cancel.is_set():
                    self._cancelled_before_start(job, ref, combo, index)
                    return None
                self.active.add(cancel)
                try:
                    run = JobRun(
                        shared,
                        job,
                        ref,
                        matrix=combo,
                        strategy=strategy,
                        needs=needs,
                        cancel=cancel,
                        scope=scope,
                    )
                    result = await run.run()
                finally:
                    self.active.discard(cancel)
            self.finish(job, result, index)
            return result

    # -- concurrency groups ----------------------------------------------------
    async def _enter_group(
        self,
        job: Job,
        ref: JobRef,
        combo: dict[str, Any] | None,
        strategy: Mapping[str, Any],
        needs: Mapping[str, Any],
        cancel: asyncio.Event,
        approved_cancelled: bool,
    ) -> GroupTicket | JobResult | None:
        """Hold the job's ``concurrency`` group, waiting (pending) while another job holds it.

        Returns the ticket to leave once the job is over, None when the job has
        no group (or is cancelled already: it is reported as such later), or the
        result of a job that ended here: its group did not evaluate, it would
        deadlock with its caller, or it was cancelled while pending.
        """
        spec = job.concurrency
        if spec is None:
            return None
        ctx = self.job_ctx(job, needs, "success", matrix=dict(combo or {}), strategy=dict(strategy))
        try:
            group = render(spec.group, ctx) if "${{" in spec.group else spec.group
            raw = spec.cancel_in_progress
            cancel_in_progress = truthy(evaluate_raw(raw, ctx)) if isinstance(raw, str) else bool(raw)
        except ExpressionError as exc:
            error: str | None = _concurrency_error(exc)
        else:
            error = None
            if spec.queue == "max" and cancel_in_progress:
                error = "'cancel-in-progress' cannot be true with 'queue: max'"
        if error is not None:
            pos = spec.pos if spec.pos.line else job.pos
            where = f"{self.workflow.path}:{pos.line}:{pos.col}: " if pos.line else f"{self.workflow.path}: "
            return self._ended(ref, combo, "failure", "invalid concurrency", where + error)
        group = group.strip()
        if not group:
            return None
        if self.cancel.is_set() and not approved_cancelled:
            cancel.set()
        if cancel.is_set():
            return None
        caller = self.held.get(group.casefold())
        if caller is not None:
            message = (
                f"Canceling since a deadlock for concurrency group '{group}' was detected "
                f"between '{caller}' and '{ref.key}'"
            )
            return self._ended(ref, combo, "cancelled", "concurrency deadlock", message)

        def cancel_job(message: str) -> None:
            self.fail_lines(ref, [message])
            cancel.set()

        label = f"{ref.name} in run {self.request.run_id}"
        ticket = self.run.groups.join(
            group, cancel_in_progress=cancel_in_progress, label=label, cancel_job=cancel_job, queue=spec.queue
        )
        if ticket.holding:
            return ticket
        if ticket.cancelled:  # the group's queue is full (the reason is in its log)
            return self._ended(ref, combo, "cancelled", "cancelled", None)
        holder = ticket.holder
        held_by = f" ({holder.label})" if holder is not None else ""
        self.observer(
            LogLines(job=ref, lines=[f"Waiting for a running job of concurrency group '{group}'{held_by}"])
        )
        self.observer(JobPending(job=ref, group=group, at=now()))
        self.active.add(cancel)  # cancelling the run ends the wait
        try:
            got = await ticket.wait(cancel)
        except BaseException:
            ticket.leave()
            raise
        finally:
            self.active.discard(cancel)
        if not got:
            return self._ended(ref, combo, "cancelled", "cancelled", None)
        self.observer(JobGroupAcquired(job=ref, group=group, at=now()))
        return ticket

    def _ended(
        self, ref: JobRef, combo: dict[str, Any] | None, conclusion: Conclusion, reason: str, error: str | None
    ) -> JobResult:
        """Report a job instance that ends without starting (the caller records the result)."""
        if error:
            self.fail_lines(ref, [error])
        self.observer(
            JobFinished(job=ref, conclusion=conclusion, outputs={}, at=now(), started=False, reason=reason)
        )
        return JobResult(ref.key, ref.job_id, ref.name, combo, conclusion, started=False, reason=reason)

    def _held_by(self, ref: JobRef) -> dict[str, str]:
        """The groups a workflow called by ``ref`` must not enter: its callers' and ``ref``'s own."""
        ticket = self.tickets.get(ref.key)
        return {**self.held, ticket.key: ref.key} if ticket is not None else dict(self.held)

    # -- reusable workflows ----------------------------------------------------
    async def _call(
        self,
        job: Job,
        ref: JobRef,
        combo: dict[str, Any] | None,
        strategy: Mapping[str, Any],
        needs: Mapping[str, Any],
        cancel: asyncio.Event,
        index: int,
    ) -> JobResult:
        """Run the workflow ``job`` calls, as the jobs ``<caller> / <callee job>``.

        Returns the caller's own result (for ``needs.<caller>``), which is not
        reported: the callee's jobs are. A callee that cannot start (missing,
        invalid, wrong inputs) fails the caller with one line per problem.
        """
        assert job.uses is not None
        where = (
            f"{self.workflow.path}:{job.pos.line}:{job.pos.col}: "
            if job.pos.line
            else f"{self.workflow.path}: "
        )
        ctx = self.job_ctx(
            job, needs, "success", matrix=dict(combo or {}), strategy=dict(strategy), secrets=self.secrets
        )
        try:
            if self.depth + 1 > max_nested_calls():
                raise ExecutionError(
                    f"{where}Nested reusable workflow depth exceeded {max_nested_calls()}: "
                    f"'{job.uses}' is not called"
                )
            try:
                callee = self.run.load_workflow(job.uses)
            except WorkflowError:
                raise  # its problems carry the callee's file:line:col
            except PhemeError as exc:
                raise ExecutionError(f"{where}{exc}") from None
            if "workflow_call" not in callee.on:
                raise ExecutionError(
                    f"{where}'{job.uses}': workflow_call key is not defined in the referenced workflow."
                )
            github_only = EvalContext(contexts={"github": _github_light(self.request)})
            try:
                inputs = call_inputs(callee, job, ctx, github_only)
                secrets = call_secrets(callee, job, ctx, self.secrets)
            except ExecutionError as exc:
                raise ExecutionError(f"{where}{exc}") from None
            try:
                env = self.run.workflow_env(callee, inputs, secrets)
            except ExpressionError as exc:
                raise ExecutionError(expr_error(callee.path, "env", Pos(), exc)) from None
            try:
                selected = select_jobs(callee, None)
            except PlanningError as exc:
                raise ExecutionError(f"{callee.path}: {exc}") from None
        except WorkflowError as exc:
            return self._call_failed(job, ref, combo, index, [str(p) for p in exc.problems] or [str(exc)])
        except PhemeError as exc:
            return self._call_failed(job, ref, combo, index, [str(exc)])
        for value in secrets.values():
            if value:
                self.shared.masker.add(value)
        child = _Scope(
            self.run,
            callee,
            inputs=inputs,
            secrets=secrets,
            workflow_env=env,
            cancel=cancel,
            depth=self.depth + 1,
            key_prefix=f"{ref.key} / ",
            name_prefix=f"{ref.name} / ",
            report_id=self.job_id_of(job),
            position=(*self.position, self.order.get(job.id, 0), index),
            held=self._held_by(ref),
        )
        await child.run_all(selected)
        every = [r for rs in child.results.values() for r in rs]
        conclusion = aggregate_result(every)
        jobs_ctx = {
            jid: {"result": aggregate_result(rs), "outputs": merged_outputs(rs)}
            for jid, rs in child.results.items()
        }
        out_ctx = EvalContext(
            contexts={
                "github": _github_light(self.request),
                "jobs": jobs_ctx,
                "inputs": dict(inputs),
                "vars": dict(self.request.vars),
            }
        )
        outputs, errors = call_outputs(callee, out_ctx)
        if errors:
            self.fail_lines(ref, errors)
            conclusion = "failure"
        result = JobResult(ref.key, ref.job_id, ref.name, combo, conclusion, outputs=outputs)
        self.finish(job, result, index, reported=False)
        return result

    def _call_failed(
        self, job: Job, ref: JobRef, combo: dict[str, Any] | None, index: int, lines: list[str]
    ) -> JobResult:
        self.fail_lines(ref, lines)
        reason = "invalid reusable workflow call"
        self.observer(
            JobFinished(job=ref, conclusion="failure", outputs={}, at=now(), started=False, reason=reason)
        )
        result = JobResult(ref.key, ref.job_id, ref.name, combo, "failure", started=False, reason=reason)
        self.finish(job, result, index)
        return result

    # -- approvals -------------------------------------------------------------
    async def _gate(
        self, job: Job, ref: JobRef, needs: Mapping[str, Any], combo: Mapping[str, Any] | None
    ) -> JobGate:
        """Ask ``RunRequest.before_job`` (approvals, capacity) whether and how the job starts."""
        assert self.request.before_job is not None
        env = job.environment
        environment = Environment(name=env) if isinstance(env, str) else env
        if environment is not None and "${{" in environment.name + (environment.url or ""):
            ctx = self.job_ctx(job, needs, "success", matrix=dict(combo or {}))
            with contextlib.suppress(ExpressionError):
                environment = Environment(
                    name=render(environment.name, ctx),
                    url=render(environment.url, ctx) if environment.url else None,
                )
        decision = await self.request.before_job(ref, environment)
        return decision if isinstance(decision, JobGate) else JobGate(decision=decision)

    def _scoped(self, gate: JobGate, scope: JobScope) -> tuple[RunShared, JobScope]:
        """The run's shared facts and the job's scope with the gate's secrets/vars added for one job."""
        if not gate.secrets and not gate.vars:
            return self.shared, scope
        for value in gate.secrets.values():
            if value:
                self.shared.masker.add(value)
        req = self.request
        scoped = copy.copy(self.shared)
        scoped.request = dataclasses.replace(
            req, secrets={**req.secrets, **gate.secrets}, vars={**req.vars, **gate.vars}
        )
        scoped.new_job_dir = self.shared.new_job_dir  # type: ignore[method-assign]  # one counter per run
        return scoped, dataclasses.replace(scope, secrets={**scope.secrets, **gate.secrets})


_INSERT = re.compile(r"^\$\{\{\s*insert\s*\}\}$")
_SINGLE = re.compile(r"^\s*\$\{\{.*\}\}\s*$", re.S)


def evaluate_template(value: Any, ctx: EvalContext) -> Any:
    """Evaluate a matrix the way GitHub's templates do: keys and values are
    expressions; a ``${{ insert }}`` key merges its mapping into the parent; a
    sequence item that is one expression yielding a sequence is spliced in."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            evaluated = evaluate_template(item, ctx)
            if isinstance(key, str) and _INSERT.match(key.strip()):
                if not isinstance(evaluated, Mapping):
                    raise PlanningError("${{ insert }} must be given a mapping")
                out.update(evaluated)
            else:
                out[to_string(evaluate_raw(key, ctx)) if isinstance(key, str) else str(key)] = evaluated
        return out
    if isinstance(value, (list, tuple)):
        items: list[Any] = []
        for item in value:
            evaluated = evaluate_template(item, ctx)
            if isinstance(item, str) and _SINGLE.match(item) and isinstance(evaluated, list):
                items.extend(evaluated)
            else:
                items.append(evaluated)
        return items
    return evaluate_raw(value, ctx)


async def _unless(cancel: asyncio.Event, work: Awaitable[JobGate]) -> JobGate | None:
    """``work``'s result, or None once ``cancel`` is set first (``work`` is then cancelled)."""
    task = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not task.done():
            task.cancel()
    try:
        return await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if cancel.is_set() and (current is None or not current.cancelling()):
            return None
        raise


def _concurrency_error(exc: ExpressionError) -> str:
    return f"Error when evaluating 'concurrency': {exc.full_message()}"


def _github_light(req: RunRequest) -> dict[str, Any]:
    return {
        "event": dict(req.event_payload),
        "event_name": req.event_name,
        "ref": req.ref,
        "sha": req.sha,
        "repository": req.repository,
        "repository_owner": req.repository.split("/", 1)[0],
        "actor": req.actor,
        "workflow": req.workflow.display_name,
        "run_id": str(req.run_id),
        "run_number": str(req.run_number),
        "run_attempt": str(req.run_attempt),
        "workspace": str(req.workspace),
        "server_url": req.server_url,
        "api_url": req.api_url,
    }


def _unsupported(job: Job, name: str) -> str | None:
    """Why ``job`` cannot run here (``name``: how to call it, ``call / build`` in a called workflow)."""
    if job.container:
        return f"job '{name}' uses a container, but Pheme runs jobs on the host (no container engine)"
    if job.services:
        return f"job '{name}' uses services, but Pheme runs jobs on the host (no container engine)"
    return None


async def execute(
    request: RunRequest, observer: RunObserver, *, cancel: asyncio.Event | None = None
) -> RunResult:
    """Run ``request.workflow`` on this machine and return its results (see runner.py)."""
    selected = select_jobs(request.workflow, request.jobs)
    cancel = cancel or asyncio.Event()
    base = str(request.temp_dir) if request.temp_dir else None
    if base:
        Path(base).mkdir(parents=True, exist_ok=True)
    run_dir = tempfile.mkdtemp(prefix="pheme-run-", dir=base)
    run = _Run(request, observer, cancel, run_dir)
    try:
        shared = run.prepare()
        observer(RunStarted(workflow=request.workflow.display_name, file=request.workflow.path, at=now()))
        root = _Scope(
            run,
            request.workflow,
            inputs=request.inputs,
            secrets=request.secrets,
            workflow_env=shared.workflow_env,
            cancel=cancel,
            held={request.workflow_group.casefold(): "top level workflow"} if request.workflow_group else None,
        )
        await root.run_all(selected)
        ordered = run.ordered()
        if cancel.is_set():
            conclusion: Conclusion = "cancelled"
        elif any(r.conclusion == "failure" for r in ordered):
            conclusion = "failure"
        elif any(r.conclusion == "cancelled" for r in ordered):
            conclusion = "cancelled"
        else:
            conclusion = "success"
        summary = dict(shared.summaries)
        observer(RunFinished(conclusion=conclusion, at=now(), summary=summary))
        return RunResult(
            request.workflow.display_name, request.workflow.path, conclusion, tuple(ordered), summary
        )
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
