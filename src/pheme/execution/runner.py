"""The local runner engine: run a parsed workflow on this machine with GitHub's semantics.

Public API::

    from pheme.execution.runner import RunRequest, execute, run_workflow

    result = await execute(RunRequest(workflow=wf, workspace=checkout, ...), observer, cancel=event)
    result = run_workflow(request, observer)          # sync wrapper (own event loop)
    result.conclusion                                 # success | failure | cancelled
    result.to_json()                                  # one entry of `pheme run --json`'s "runs"

``observer`` receives :mod:`pheme.execution.events` (log lines already masked).
Setting ``cancel`` (Ctrl-C / SIGTERM in the CLI) kills running steps; steps
and jobs with ``if: always()`` / ``cancelled()`` still run; the run ends
``cancelled``.

Decisions worth knowing (GitHub semantics unless said otherwise):

- ``RunRequest.jobs`` (``--job``): those jobs and their transitive needs run
  (like ``act -j``); other jobs are not reported.
- A job or step that never ran is reported with a ``JobFinished``
  (``started=False``) / ``StepFinished`` (``skipped``) without a matching
  ``*Started`` event.
- Job ``continue-on-error: true`` turns a failed job's conclusion into
  ``success`` (so the run and its dependants go on), like a step's.
- A job timeout ends the job ``failure``; the remaining ``always()`` steps run.
- Jobs with ``container:``/``services:`` fail with one clear line naming the
  job (no container engine); ``uses:`` steps go through
  ``RunRequest.action_resolver`` (default: none available offline, the step
  fails naming the action).
- A job with ``uses: ./.github/workflows/x.yml`` (or a vendored
  ``owner/repo/.github/workflows/x.yml@ref``) runs the called workflow's jobs,
  reported as ``<caller> / <job>`` (key ``call / build``, ``job_id`` the
  caller's id); typed inputs, secrets (``inherit`` too), outputs as
  ``needs.<caller>.outputs``, the caller's matrix/``if``/``needs``, nesting up
  to the loader's limit. ``RunRequest.load_workflow`` supplies callee files.
- A job's ``if:`` with a status function: ``failure()`` is true when any
  ancestor job failed, ``success()`` only when every need succeeded (a
  skipped need makes it false, as on GitHub).
- Problem matchers (``::add-matcher::``) are ignored: their annotations are
  not produced. Action ``pre``/``post`` phases log under their step, which is
  reported once (as GitHub's ``--json``-like listings do).
- ``::set-env``/``::add-path`` are disabled (the step fails) unless
  ``ACTIONS_ALLOW_UNSECURE_COMMANDS=true``, as on GitHub; ``::set-output`` and
  ``::save-state`` still work with GitHub's deprecation warning.
- ``jobs.<id>.concurrency`` (group and ``cancel-in-progress`` evaluated per
  instance with github/inputs/vars/needs/strategy/matrix): one job holds a
  group (case-insensitive), a job arriving meanwhile waits (log line
  "Waiting for a running job of concurrency group 'X' (...)", event
  ``JobPending``) and replaces an older waiting one (which ends
  ``cancelled``: "Canceling since a higher priority waiting request for 'X'
  exists"); ``queue: max`` waits in line instead; ``cancel-in-progress``
  cancels the holder like a run cancellation (its ``always()`` steps run).
  The group is entered before ``before_job``, which is cancelled if the job
  is cancelled while it waits. Groups span the runs given the same
  ``RunRequest.concurrency_groups``; a called workflow's job entering a group
  its caller holds is cancelled as a deadlock, as on GitHub.
- All jobs share ``RunRequest.workspace``; each job gets its own RUNNER_TEMP
  under a per-run temporary directory that is removed after the run.
"""

from __future__ import annotations

import asyncio

from pheme.execution._concurrency import ConcurrencyGroups
from pheme.execution._runner import execute, select_jobs
from pheme.execution._steps import ActionResolver, OfflineActionResolver, StepImpl, StepRuntime
from pheme.execution._types import BeforeJob, JobGate, JobResult, RunRequest, RunResult, StepResult
from pheme.execution.events import RunObserver

__all__ = [
    "ActionResolver",
    "BeforeJob",
    "ConcurrencyGroups",
    "JobGate",
    "JobResult",
    "OfflineActionResolver",
    "RunRequest",
    "RunResult",
    "StepImpl",
    "StepResult",
    "StepRuntime",
    "execute",
    "run_workflow",
    "select_jobs",
]


def run_workflow(
    request: RunRequest, observer: RunObserver, *, cancel: asyncio.Event | None = None
) -> RunResult:
    """Synchronous :func:`execute` in a fresh event loop.

    The first Ctrl-C (SIGINT) sets the cancel event and lets the run finish its
    ``always()`` work: the result says ``cancelled``. A second one aborts.
    """

    async def main() -> RunResult:
        event = cancel or asyncio.Event()
        task = asyncio.create_task(execute(request, observer, cancel=event))
        while True:
            try:
                return await asyncio.shield(task)
            except asyncio.CancelledError:
                if task.done():
                    raise
                event.set()

    with asyncio.Runner() as runner:
        return runner.run(main())
