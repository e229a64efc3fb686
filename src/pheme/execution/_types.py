"""The engine's request and result objects (public through :mod:`pheme.execution.runner`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pheme.core.workflow.model import Environment, Workflow
from pheme.execution._concurrency import ConcurrencyGroups
from pheme.execution.events import Conclusion, JobRef

if TYPE_CHECKING:
    from pheme.execution._steps import ActionResolver

__all__ = ["BeforeJob", "JobGate", "JobResult", "RunRequest", "RunResult", "StepResult"]


@dataclass(frozen=True, slots=True)
class JobGate:
    """What :attr:`RunRequest.before_job` decides for a job instance about to start.

    ``rejected`` ends the job ``failure`` without running it (``reason`` is
    logged as its error). ``secrets``/``vars`` are added for this job only
    (environment-scoped values); their secrets are masked in every log.
    """

    decision: Literal["approved", "rejected"] = "approved"
    reason: str | None = None
    secrets: Mapping[str, str] = field(default_factory=dict)
    vars: Mapping[str, str] = field(default_factory=dict)


# Awaited before each job instance takes a slot (the server's approvals and capacity), after
# the job got its concurrency group. It is cancelled (asyncio) when the job is cancelled while
# it waits (a fail-fast sibling failed, a newer job of its group cancels it in progress), so
# whatever it holds must be given back in ``finally``/``except CancelledError``.
BeforeJob = Callable[[JobRef, Environment | None], Awaitable["JobGate | Literal['approved', 'rejected']"]]


@dataclass(frozen=True, slots=True)
class RunRequest:
    """Everything one local run needs.

    ``workspace`` is a prepared checkout of ``sha`` (GITHUB_WORKSPACE, shared by
    all jobs of the run). ``env`` holds ``--env`` overrides, applied at
    workflow level. ``jobs`` selects job ids to run; like ``act -j`` their
    transitive ``needs`` run too (so ``needs.<id>.outputs`` stay real), every
    other job is left out of the result. ``temp_dir`` is where the per-run
    temporary directory (RUNNER_TEMP of each job, the event file, the tool
    cache unless ``tool_cache`` is given) is created; it is removed after the
    run. ``load_workflow(uses)`` returns the workflow a job calls
    (``jobs.<id>.uses`` as written); the default reads
    ``./.github/workflows/…`` from ``workspace`` and
    ``owner/repo/.github/workflows/…@ref`` from PHEME_ACTIONS_PATH, and
    parses it (a ``WorkflowError`` fails the calling job with its problems).
    ``concurrency_groups`` holds the jobs' ``concurrency`` groups; runs given
    the same object exclude each other's jobs (the server shares one per
    repository); None gives the run groups of its own. ``workflow_group`` is
    the run's own (workflow-level) group, held by the run: a job of the run in
    the same group is cancelled as a deadlock, as on GitHub.

    ``reused`` carries jobs over from an earlier attempt of the run (GitHub's
    "re-run failed jobs"): job instance key (``build``, ``build (3.12)``, as
    in :class:`JobRef`) -> that instance's result. Such an instance is not
    run and emits no event; its conclusion and outputs are what its
    dependents see in ``needs``, and it is in the :class:`RunResult` with
    ``reused=True``. A job whose every instance is carried over is not
    evaluated at all (no ``if:``); a matrix job with some combinations carried
    over runs only the others. Only the run's own jobs are carried over (not
    the jobs of a called reusable workflow). ``triggering_actor`` is who
    started this attempt (``github.triggering_actor``; default ``actor``).

    ``matrix_filter`` (act's ``--matrix KEY:VALUE``) keeps only the matrix
    combinations whose values match: key -> the allowed values, compared as
    ``${{ matrix.<key> }}`` renders them (see
    :func:`pheme.core.planning.select_combinations`). Keys a job's matrix does
    not have do not filter it, and a job without a matrix is never filtered; a
    job the filter leaves no combination is skipped, with the reason logged.
    ``strategy.job-total`` counts the combinations that remain.
    """

    workflow: Workflow
    workspace: Path
    event_name: str = "push"
    event_payload: Mapping[str, Any] = field(default_factory=dict)
    ref: str = "refs/heads/main"
    sha: str = "0" * 40
    repository: str = "local/repository"
    actor: str = "pheme"
    run_id: int = 1
    run_number: int = 1
    run_attempt: int = 1
    triggering_actor: str | None = None
    secrets: Mapping[str, str] = field(default_factory=dict)
    vars: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    inputs: Mapping[str, Any] = field(default_factory=dict)
    jobs: Sequence[str] | None = None
    max_parallel_jobs: int | None = None
    temp_dir: Path | None = None
    tool_cache: Path | None = None
    action_resolver: ActionResolver | None = None
    server_url: str = "https://github.com"
    api_url: str = "https://api.github.com"
    graphql_url: str = "https://api.github.com/graphql"
    runner_name: str = "pheme"
    kill_grace_seconds: float = 5.0
    before_job: BeforeJob | None = None
    concurrency_groups: ConcurrencyGroups | None = None
    workflow_group: str | None = None
    load_workflow: Callable[[str], Workflow] | None = None
    reused: Mapping[str, JobResult] = field(default_factory=dict)
    matrix_filter: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StepResult:
    number: int
    id: str | None
    name: str
    outcome: Conclusion
    conclusion: Conclusion
    outputs: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "outcome": self.outcome,
            "conclusion": self.conclusion,
            "outputs": dict(self.outputs),
        }


@dataclass(frozen=True, slots=True)
class JobResult:
    """One job instance (a matrix job has one per combination).

    ``reused``: carried over from an earlier attempt (:attr:`RunRequest.reused`), not run.
    """

    key: str
    job_id: str
    name: str
    matrix: Mapping[str, Any] | None
    conclusion: Conclusion
    outputs: Mapping[str, str] = field(default_factory=dict)
    steps: tuple[StepResult, ...] = ()
    started: bool = True
    reason: str | None = None
    reused: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.job_id,
            "key": self.key,
            "name": self.name,
            "matrix": dict(self.matrix) if self.matrix is not None else None,
            "conclusion": self.conclusion,
            "outputs": dict(self.outputs),
            "steps": [s.to_json() for s in self.steps],
        }


@dataclass(frozen=True, slots=True)
class RunResult:
    workflow: str
    file: str
    conclusion: Conclusion
    jobs: tuple[JobResult, ...]
    summary: Mapping[str, str] = field(default_factory=dict)

    def job(self, key: str) -> JobResult:
        for j in self.jobs:
            if j.key == key:
                return j
        raise KeyError(key)

    def to_json(self) -> dict[str, Any]:
        """One entry of the ``--json`` document's ``runs`` list."""
        return {
            "workflow": self.workflow,
            "file": self.file,
            "conclusion": self.conclusion,
            "jobs": [j.to_json() for j in self.jobs],
        }
