"""The server's executor: takes queued runs from the store and runs them with the local engine.

One thread owns one asyncio event loop where every run executes as a task
(the engine is asyncio; the HTTP server keeps its own loop, so a flood of job
output never delays a webhook answer). The loop wakes when something is
enqueued (``wake()``), a run ends, or every few seconds as a safety net.

Rules, and why:

- **Capacity is counted in jobs**, across runs (``job_capacity``): a job takes
  a slot in the engine's ``before_job`` hook, after any approval, and gives it
  back on its ``JobFinished``. Runs start while fewer than ``2 x capacity``
  execute, so runs parked on approvals do not starve the others.
- **Concurrency groups**: a run whose group already has a running run stays
  queued (GitHub's "pending"); enqueueing a newer run of the group cancels the
  older pending one, and with ``cancel-in-progress`` the running one too
  (:meth:`PipelineServer.enqueue`).
- **Job concurrency groups** (``jobs.<id>.concurrency``): every run of a
  repository gets the same :class:`ConcurrencyGroups`, so a job waits
  (``waiting``, with a line in its log saying for which group) while a job of
  another run holds its group, without holding a capacity slot: the engine
  enters the group before ``before_job``. The group is given back when the job
  ends; a cancelled run gives its pending place up. Held only in memory: after
  a restart, interrupted runs are failed anyway.
- **Approvals**: a job with a protected ``environment`` records a pending
  approval, turns ``waiting`` (and the run with it), and its hook awaits a
  decision (:meth:`resolve_approval`) or the run's cancellation.
- **Crash safety**: claims are stored (``server_queue.state = running``). At
  start every run left running by a previous process is ended ``failure``
  with a reason written into each interrupted job's log, and with
  ``rerun_interrupted`` its failed jobs are re-run as the run's next attempt
  (what finished is carried over). Queued runs simply wait for the new process.
- **Attempts**: a re-run executes the same run again (``run_attempt`` + 1);
  jobs carried over from the earlier attempt are handed to the engine as
  ``RunRequest.reused``, so they do not run and do not count as new jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pheme.core.runs import Conclusion, Status
from pheme.core.server import QueueEntry
from pheme.execution.events import Event
from pheme.services.cancel import Cancellation
from pheme.services.recorder import StoreRecorder

__all__ = ["Dispatcher", "JobResumed", "JobWaiting"]

log = logging.getLogger("pheme.server.dispatcher")

POLL_SECONDS = 2.0
INTERRUPTED = "the server stopped while this run was in progress"


@dataclass(frozen=True, slots=True)
class JobWaiting:
    """Server-only event: a job waits for an approval (the recorder marks it ``waiting``)."""

    job: Any  # JobRef
    environment: str


@dataclass(frozen=True, slots=True)
class JobResumed:
    job: Any


class _Flush:
    """A marker event: the recorder sets ``done`` once everything before it is stored."""

    def __init__(self) -> None:
        self.done = threading.Event()


class ServerRecorder(StoreRecorder):
    """The store recorder, plus ``waiting`` for jobs (and their run) held by an approval."""

    def __init__(self, store: Any, run_id: int) -> None:
        super().__init__(store, run_id)
        self._waiting = 0

    def __call__(self, event: Event | JobWaiting | JobResumed | _Flush) -> None:
        if isinstance(event, JobWaiting | JobResumed | _Flush):
            # The server's own events carry no log lines: queued in order, no back-pressure.
            if self._error is None and not self._closed:
                self._queue.put(event)
            return
        super().__call__(event)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until the events queued so far are stored."""
        marker = _Flush()
        self(marker)
        marker.done.wait(timeout)

    def _apply(self, events: list[Any]) -> None:
        markers = [e for e in events if isinstance(e, _Flush)]
        super()._apply([e for e in events if not isinstance(e, _Flush)] if markers else events)
        for marker in markers:  # after the batch above committed
            marker.done.set()

    def _status(self, event: Any) -> None:
        store = self._store
        if isinstance(event, JobWaiting):
            job_id = self._job(event.job)
            store.update_job(job_id, Status.WAITING)
            if self._waiting == 0:
                with contextlib.suppress(Exception):
                    store.update_run(self._run_id, Status.WAITING)
            self._waiting += 1
        elif isinstance(event, JobResumed):
            self._waiting = max(0, self._waiting - 1)
            if self._waiting == 0:
                with contextlib.suppress(Exception):
                    store.update_run(self._run_id, Status.IN_PROGRESS)
        else:
            super()._status(event)


@dataclass(frozen=True)
class _Attempt:
    actor: str  # github.actor: who started the run's first attempt
    reused: dict[str, Any]  # RunRequest.reused: the jobs carried over into this attempt


@dataclass
class _Active:
    entry: QueueEntry
    cancellation: Cancellation = field(default_factory=Cancellation)
    task: asyncio.Task[None] | None = None
    held: set[str] = field(default_factory=set)  # job keys holding a capacity slot
    ticket: Any = None  # the run's workflow-level group in its repository's job groups
    workflow: str = ""


class Dispatcher:
    def __init__(self, server: Any) -> None:
        self.server = server
        self.settings = server.settings
        self.capacity = self.settings.job_capacity
        self.max_runs = max(2 * self.capacity, self.capacity + 2)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping = False
        self._wake: asyncio.Event | None = None
        self._slots: asyncio.Semaphore | None = None
        self._active: dict[int, _Active] = {}
        self._gates: dict[int, asyncio.Future[tuple[str, str | None, str | None]]] = {}
        self._groups: dict[int, Any] = {}  # repository id -> its jobs' ConcurrencyGroups
        self._idle = threading.Condition()

    # ------------------------------------------------------------ thread side

    def start(self) -> None:
        if self._thread is not None:
            return
        self.recover()
        self._thread = threading.Thread(target=self._thread_main, name="pheme-dispatcher", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)

    def cancel(self, run_id: int, reason: str) -> None:
        """Ask a running run to stop (its ``always()`` work still runs)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        def do() -> None:
            active = self._active.get(run_id)
            if active is not None:
                active.cancellation.cancel(reason)

        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(do)

    def resolve_approval(self, approval_id: int, state: str, by: str | None, comment: str | None) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        def do() -> None:
            future = self._gates.get(approval_id)
            if future is not None and not future.done():
                future.set_result((state, by, comment))

        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(do)

    def running_ids(self) -> list[int]:
        return sorted(self._active)

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel running runs, wait for them to record their end, stop the loop."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        self._stopping = True
        for run_id in list(self._active):
            self.cancel(run_id, "the server is shutting down")
        self.wake()
        thread.join(timeout)
        self._thread = None

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """For tests and benchmarks: wait until nothing is queued or running."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while True:
                # The queue first, then the active runs: a run is in ``_active`` from
                # before its claim until after its feedback, so "nothing queued, then
                # nothing active" proves idleness. The other order raced: ``_active``
                # read empty, the loop claimed a run, the query then saw an empty queue
                # and this returned while the run was still executing.
                if self.server.sstore.queue_depth() == 0 and not self._active:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.5))

    def _notify_idle(self) -> None:
        with self._idle:
            self._idle.notify_all()

    def wait_until(self, predicate: Any, timeout: float = 30.0) -> bool:
        """For tests: wait until ``predicate()`` is true, re-checked whenever a run
        starts or ends or a job starts waiting for an approval."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.1))
        return True

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    # ------------------------------------------------------------- recovery

    def recover(self) -> None:
        """End (or re-run) runs a previous server process left running."""
        server = self.server
        for entry in server.sstore.interrupted():
            job_ids = server.sstore.fail_interrupted_run(entry.run_id, INTERRUPTED)
            for job_id in job_ids:
                with contextlib.suppress(Exception):
                    server.store.append_log(job_id, [f"##[error]{INTERRUPTED.capitalize()}: the job did not finish."])
            log.warning("interrupted run ended", extra={"run": entry.run_id, "jobs": len(job_ids)})
            server.after_run_finished(entry.run_id)
            if self.settings.rerun_interrupted:
                from pheme.services.server_runs import rerun

                try:
                    again = rerun(server, entry.run_id, failed_only=True, actor="pheme")
                    log.info("interrupted run re-queued", extra={"run": entry.run_id, "attempt": again.attempt})
                except Exception as exc:
                    log.warning("interrupted run not re-run", extra={"run": entry.run_id, "error": str(exc)})

    # -------------------------------------------------------------- the loop

    async def _main(self) -> None:
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(self.capacity)
        self._ready.set()
        while not self._stopping:
            try:
                await self._schedule()
            except Exception as exc:  # keep the loop alive; the database may come back
                log.error("scheduling failed", extra={"error": f"{type(exc).__name__}: {exc}"})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            self._wake.clear()
        tasks = [a.task for a in self._active.values() if a.task is not None]
        for active in self._active.values():
            active.cancellation.cancel("the server is shutting down")
        if tasks:
            await asyncio.wait(tasks, timeout=25)

    async def _schedule(self) -> None:
        if len(self._active) >= self.max_runs:
            return
        # Only as many as could start (plus some, for runs held back by their concurrency group).
        free = self.max_runs - len(self._active)
        queued: list[QueueEntry] = await asyncio.to_thread(self.server.sstore.queued, limit=free + 20)
        if not queued:
            self._notify_idle()
            return
        busy = {a.entry.concurrency_group for a in self._active.values() if a.entry.concurrency_group}
        for entry in queued:
            if len(self._active) >= self.max_runs or self._stopping:
                break
            if entry.concurrency_group and entry.concurrency_group in busy:
                continue
            # One namespace for workflow- and job-level groups (GitHub's): a job of another
            # run holding (or waiting for) the group keeps this run pending too.
            name = _group_name(entry.concurrency_group)
            if name and self._groups_of(entry.repo_id).busy(name):
                continue
            if entry.run_id in self._active:  # its previous attempt is still being wrapped up
                continue
            active = _Active(entry)
            self._active[entry.run_id] = active  # before the claim: wait_idle() never sees a gap
            if not await asyncio.to_thread(self.server.sstore.claim, entry.run_id, self.server.instance_id):
                self._active.pop(entry.run_id, None)
                continue
            if entry.concurrency_group:
                busy.add(entry.concurrency_group)
                active.ticket = self._groups_of(entry.repo_id).join(
                    name, cancel_in_progress=False, label=f"run {entry.run_id}",
                    cancel_job=active.cancellation.cancel,
                )  # fmt: skip
            active.task = asyncio.get_running_loop().create_task(self._run(active), name=f"run-{entry.run_id}")

    # --------------------------------------------------------------- one run

    async def _run(self, active: _Active) -> None:
        entry = active.entry
        server = self.server
        try:
            await self._execute(active)
        except Exception as exc:
            log.error("run failed to execute", extra={"run": entry.run_id, "error": f"{type(exc).__name__}: {exc}"})
            await asyncio.to_thread(self._end_unfinished, entry.run_id, Conclusion.FAILURE, _one_line(exc))
        finally:
            if active.ticket is not None:
                active.ticket.leave()  # a job waiting for the group gets it
                active.ticket = None
            for _ in active.held:
                assert self._slots is not None
                self._slots.release()
            active.held.clear()
            with contextlib.suppress(Exception):
                await asyncio.to_thread(server.sstore.finish_entry, entry.run_id)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(server.after_run_finished, entry.run_id)
            if self._active.get(entry.run_id) is active:  # last: wait_idle() means "and its feedback is queued"
                del self._active[entry.run_id]
            if self._wake is not None:
                self._wake.set()
            self._notify_idle()

    def _end_unfinished(self, run_id: int, conclusion: Conclusion, error: str | None) -> None:
        store = self.server.store
        run = store.get_run(run_id)
        if run.status == Status.COMPLETED:
            return
        with store.batch():
            for job in run.jobs:
                for step in job.steps:
                    if step.status != Status.COMPLETED:
                        c = conclusion if step.status == Status.IN_PROGRESS else Conclusion.CANCELLED
                        store.update_step(job.id, step.number, Status.COMPLETED, conclusion=c)
                if job.status != Status.COMPLETED:
                    c = conclusion if job.status in (Status.IN_PROGRESS, Status.WAITING) else Conclusion.CANCELLED
                    store.update_job(job.id, Status.COMPLETED, conclusion=c)
            store.update_run(run_id, Status.COMPLETED, conclusion=conclusion, error=error)

    def _prepare(self, entry: QueueEntry) -> tuple[Any, Any, Any, dict[str, str], dict[str, str]]:
        from pheme.services.server_runs import load_workflow, reused_results

        server = self.server
        run = server.store.get_run(entry.run_id)
        repo = server.sstore.get_repo(entry.repo_id)
        mirror = server.mirrors.get(repo.id, repo.source)
        files = mirror.workflow_files(run.sha)
        if run.file not in files:
            raise FileNotFoundError(f"{run.file} is not in commit {run.sha[:12]}")
        workflow = load_workflow(run.file, files[run.file])
        secrets = {**server.secrets_for("global"), **server.secrets_for(server.scope_of(repo))}
        token = server.github_token(repo)
        if token:
            secrets.setdefault("GITHUB_TOKEN", token)
        variables = {**server.variables_for("global"), **server.variables_for(server.scope_of(repo))}
        # github.actor stays who started the run's first attempt; this attempt's is the triggering actor.
        first_actor = server.store.attempt_actors(run.id).get(1) if run.attempt > 1 else None
        attempt = _Attempt(first_actor or entry.actor, reused_results(run))
        return run, repo, (mirror, workflow, attempt), secrets, variables

    async def _execute(self, active: _Active) -> None:
        from pheme.execution.events import Fanout
        from pheme.execution.runner import RunRequest, execute

        entry = active.entry
        server = self.server
        if entry.cancel_requested:
            await asyncio.to_thread(self._end_unfinished, entry.run_id, Conclusion.CANCELLED, "cancelled before start")
            return
        run, repo, (mirror, workflow, attempt), secrets, variables = await asyncio.to_thread(self._prepare, entry)
        active.workflow = workflow.display_name
        if entry.enqueued_at is not None:
            server.metrics.queue_wait.observe(max(0.0, time.time() - entry.enqueued_at.timestamp()))
        server.feedback.run_started(run, repo)
        loop = asyncio.get_running_loop()
        cancel_event = asyncio.Event()
        unsubscribe = active.cancellation.subscribe(_set_from_any_thread(loop, cancel_event))
        recorder = ServerRecorder(server.store, run.id)
        observer = Fanout(recorder, _Watcher(self, active))
        work = server.settings.server_dir() / "work"
        tmp = server.settings.server_dir() / "tmp"
        checkout = mirror.checkout(run.sha, work, repo.name.split("/")[-1])
        workspace = await asyncio.to_thread(checkout.__enter__)
        server.metrics.runs_running.inc()
        recorder.start()
        error: BaseException | None = None
        try:
            request = RunRequest(
                workflow=workflow,
                workspace=workspace,
                event_name=run.event,
                event_payload=dict(entry.payload),
                ref=run.ref,
                sha=run.sha,
                repository=repo.name,
                actor=attempt.actor,
                triggering_actor=entry.actor,
                run_id=run.id,
                run_number=run.number,
                run_attempt=run.attempt,
                reused=attempt.reused,
                secrets=secrets,
                vars=variables,
                inputs=dict(run.inputs),
                jobs=list(entry.jobs) if entry.jobs else None,
                max_parallel_jobs=self.capacity,
                temp_dir=tmp,
                server_url=server.settings.base_url(),
                before_job=self._gate_for(active, run, recorder),
                concurrency_groups=self._groups_of(entry.repo_id),
                workflow_group=_group_name(entry.concurrency_group) or None,
            )
            await execute(request, observer, cancel=cancel_event)
        except BaseException as exc:
            error = exc
        finally:
            unsubscribe()
            server.metrics.runs_running.dec()
            with contextlib.suppress(Exception):
                await asyncio.to_thread(recorder.close)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(checkout.__exit__, None, None, None)
        final = await asyncio.to_thread(server.store.get_run, run.id)
        if final.status != Status.COMPLETED:
            conclusion = Conclusion.CANCELLED if active.cancellation.is_set() else Conclusion.FAILURE
            message = active.cancellation.reason if active.cancellation.is_set() else None
            if error is not None:
                message = _one_line(error)
            await asyncio.to_thread(self._end_unfinished, run.id, conclusion, message)
        if error is not None and not isinstance(error, Exception):
            raise error

    def _groups_of(self, repo_id: int) -> Any:
        from pheme.execution.runner import ConcurrencyGroups

        groups = self._groups.get(repo_id)
        if groups is None:
            groups = self._groups[repo_id] = ConcurrencyGroups()
        return groups

    # ------------------------------------------------------- approvals, slots

    def _gate_for(self, active: _Active, run: Any, recorder: ServerRecorder) -> Any:
        from pheme.execution.runner import JobGate

        server = self.server

        async def before_job(ref: Any, environment: Any) -> Any:
            extra_secrets: dict[str, str] = {}
            extra_vars: dict[str, str] = {}
            if environment is not None:
                decision = await self._environment_gate(active, run, recorder, ref, environment)
                if decision is not None:
                    return decision
                extra_secrets, extra_vars = await asyncio.to_thread(  # the repo's environment's, else the default's
                    server.environment_values, active.entry.repo_id, environment.name
                )
            await self._take_slot(active, ref.key)
            return JobGate("approved", secrets=extra_secrets, vars=extra_vars)

        return before_job

    async def _environment_gate(self, active: _Active, run: Any, recorder: ServerRecorder, ref: Any, environment: Any) -> Any:
        from pheme.core.planning.filters import included
        from pheme.execution.runner import JobGate

        server = self.server
        # The run's repository's environment of that name, else the server-wide default.
        env = await asyncio.to_thread(server.environment_for, active.entry.repo_id, environment.name)
        if env is None:
            return None  # an environment without configuration has no protection rules
        rules = env.rules
        if rules.branches is not None:
            branch = run.ref[len("refs/heads/") :] if run.ref.startswith("refs/heads/") else None
            if branch is None or not included(rules.branches, branch):
                shown = branch or run.ref
                return JobGate(
                    "rejected",
                    reason=f"Branch \"{shown}\" is not allowed to deploy to {env.name} due to environment protection rules.",
                )
        if rules.needs_approval:
            state, by, comment = await self._await_approval(active, run, recorder, ref, env.name)
            if state == "rejected":
                note = f": {comment}" if comment else ""
                return JobGate("rejected", reason=f"Deployment to {env.name} was rejected by {by}{note}")
            if state == "cancelled":
                return JobGate("approved")  # the engine sees the run's cancellation and reports the job cancelled
        if rules.wait_timer > 0 and not active.cancellation.is_set():
            await self._sleep_or_cancel(active, rules.wait_timer)
        return None

    async def _await_approval(
        self, active: _Active, run: Any, recorder: ServerRecorder, ref: Any, environment: str
    ) -> tuple[str, str | None, str | None]:
        server = self.server
        approval = await asyncio.to_thread(
            server.sstore.add_approval, run.id, ref.key, ref.name, environment, active.entry.actor
        )
        future: asyncio.Future[tuple[str, str | None, str | None]] = asyncio.get_running_loop().create_future()
        self._gates[approval.id] = future
        # Counted before the job is recorded ``waiting`` (by the recorder's thread): a
        # reader that sees the waiting job must also see it in the gauge.
        server.metrics.approvals_waiting.inc()
        recorder(JobWaiting(ref, environment))
        try:
            await asyncio.to_thread(self._after_recorded, recorder)
            server.feedback.waiting_for_approval(run, approval)
            cancelled = asyncio.Event()
            loop = asyncio.get_running_loop()
            unsubscribe = active.cancellation.subscribe(_set_from_any_thread(loop, cancelled))
            waiter: asyncio.Future[Any] = asyncio.ensure_future(cancelled.wait())
            try:
                await asyncio.wait({future, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                unsubscribe()
                waiter.cancel()
        except asyncio.CancelledError:  # the job itself was cancelled (see BeforeJob): nobody decides now
            await asyncio.to_thread(server.sstore.decide_approval, approval.id, "cancelled", None, "the job was cancelled")
            raise
        finally:
            self._gates.pop(approval.id, None)
            server.metrics.approvals_waiting.dec()
            recorder(JobResumed(ref))
        if future.done():
            return future.result()
        await asyncio.to_thread(server.sstore.decide_approval, approval.id, "cancelled", None, "the run was cancelled")
        return ("cancelled", None, None)

    def _after_recorded(self, recorder: ServerRecorder) -> None:
        """Let waiters see what was just recorded (the recorder writes in its own thread)."""
        recorder.flush()
        self._notify_idle()

    async def _sleep_or_cancel(self, active: _Active, seconds: float) -> None:
        cancelled = asyncio.Event()
        loop = asyncio.get_running_loop()
        unsubscribe = active.cancellation.subscribe(_set_from_any_thread(loop, cancelled))
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(cancelled.wait(), seconds)
        finally:
            unsubscribe()

    async def _take_slot(self, active: _Active, key: str) -> None:
        assert self._slots is not None
        if active.cancellation.is_set():
            return
        acquire = asyncio.ensure_future(self._slots.acquire())
        cancelled = asyncio.Event()
        loop = asyncio.get_running_loop()
        unsubscribe = active.cancellation.subscribe(_set_from_any_thread(loop, cancelled))
        waiter = asyncio.ensure_future(cancelled.wait())
        try:
            await asyncio.wait({acquire, waiter}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # the job was cancelled while it waited (see BeforeJob)
            if acquire.done() and not acquire.cancelled():
                self._slots.release()
            acquire.cancel()
            raise
        finally:
            unsubscribe()
            waiter.cancel()
        if acquire.done() and not acquire.cancelled():
            active.held.add(key)
            self.server.metrics.jobs_running.inc()
        else:
            acquire.cancel()

    def release_slot(self, active: _Active, key: str) -> None:
        if key in active.held:
            active.held.discard(key)
            assert self._slots is not None
            self._slots.release()
            self.server.metrics.jobs_running.dec()


class _Watcher:
    """Observer on the engine's loop: frees capacity slots and counts jobs and runs."""

    def __init__(self, dispatcher: Dispatcher, active: _Active) -> None:
        self.dispatcher = dispatcher
        self.active = active
        self.metrics = dispatcher.server.metrics
        self.started: dict[str, float] = {}
        self.run_started: float | None = None

    def __call__(self, event: Any) -> None:
        from pheme.execution.events import JobFinished, JobStarted, RunFinished, RunStarted

        workflow = self.active.workflow
        if isinstance(event, JobStarted):
            self.started[event.job.key] = event.at.timestamp()
        elif isinstance(event, JobFinished):
            self.dispatcher.release_slot(self.active, event.job.key)
            self.metrics.jobs.labels(workflow, event.conclusion).inc()
            began = self.started.pop(event.job.key, None)
            if began is not None:
                self.metrics.job_duration.labels(workflow).observe(max(0.0, event.at.timestamp() - began))
        elif isinstance(event, RunStarted):
            self.run_started = event.at.timestamp()
        elif isinstance(event, RunFinished):
            self.metrics.runs.labels(workflow, event.conclusion).inc()
            if self.run_started is not None:
                self.metrics.run_duration.labels(workflow).observe(max(0.0, event.at.timestamp() - self.run_started))


def _set_from_any_thread(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> Callable[[], None]:
    """A cancellation callback that sets ``event`` on its loop (callable from any thread)."""

    def set_it() -> None:
        loop.call_soon_threadsafe(event.set)

    return set_it


def _group_name(stored: str | None) -> str:
    """A workflow-level group as jobs name it: the stored key is ``owner/repo:group``."""
    return stored.split(":", 1)[1] if stored and ":" in stored else (stored or "")


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:500]

