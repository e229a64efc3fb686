"""``pheme run``'s use case: from a git repository to recorded runs.

    git facts -> checkout of HEAD -> load workflows -> match the event
      -> validate inputs -> for each triggered workflow:
         store.create_run -> execute (observer: recorder + caller's view) -> final record

Decisions (and why):

- The COMMITTED tree runs, from a clean detached worktree of HEAD, as a push
  would; ``working_tree=True`` runs the files as they are. Workflows are read
  from the same tree that runs, so a dirty workflow file cannot disagree with
  the code it runs.
- Everything that can be checked before running is checked first (event name,
  refs, event file, inputs, ``--job``, the store) so a usage error never leaves
  a half-recorded run behind.
- Triggered workflows run one after another, each with up to
  ``max_parallel_jobs`` concurrent jobs: their output stays readable and a
  cancellation stops cleanly between runs.
- A dry run (:func:`plan_local_runs`) goes through the same steps up to the
  store (gather, load, match the event, check inputs and ``--job``) and then
  describes the jobs instead of running them: it never opens the store.
- The run is created in the store BEFORE execution, so ``GITHUB_RUN_ID`` and
  ``GITHUB_RUN_NUMBER`` are the stored ones. If the engine dies or is cancelled
  without finishing, the run is still completed (cancelled / failure) here:
  nothing stays "in progress" forever.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pheme.core.runs import Conclusion, RunRecord, Status
from pheme.errors import (
    ConfigError,
    PhemeError,
    PlanningError,
    Problem,
    UsageError,
    WorkflowError,
)
from pheme.services.cancel import Cancellation
from pheme.services.git import NULL_SHA, CommitInfo, GitRepo, checkout_tree, full_name_from_url
from pheme.services.payload import RepoFacts, build_payload, pr_number

if TYPE_CHECKING:
    from pheme.core.workflow.model import Workflow
    from pheme.execution.events import RunObserver

__all__ = [
    "LocalPlanReport",
    "LocalRunOptions",
    "LocalRunReport",
    "NotTriggered",
    "PlannedJob",
    "PlannedRun",
    "RunOutcome",
    "parse_matrix_filter",
    "parse_pairs",
    "plan_local_runs",
    "trigger_local_runs",
]

WORKFLOWS_DIR = Path(".github") / "workflows"

# Called once per run, before it executes: returns the caller's observer (terminal view...).
ObserverFactory = Callable[[RunRecord, "Workflow"], "RunObserver | None"]


@dataclass(frozen=True)
class LocalRunOptions:
    """What ``pheme run`` was asked to do (already parsed from flags)."""

    directory: Path = Path(".")
    event: str = "push"
    ref: str | None = None
    before: str | None = None
    event_file: Path | None = None
    inputs: Mapping[str, str] = field(default_factory=dict)
    workflows: Sequence[Path] = ()
    jobs: Sequence[str] = ()
    secrets: Mapping[str, str] = field(default_factory=dict)
    vars: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    max_parallel_jobs: int | None = None
    working_tree: bool = False
    database_url: str | None = None
    # --matrix KEY:VALUE: key -> allowed values (see RunRequest.matrix_filter).
    matrix: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class NotTriggered:
    file: str
    reason: str


@dataclass(frozen=True)
class RunOutcome:
    """One executed run: the final stored record (with jobs and steps)."""

    record: RunRecord
    workflow: Workflow


@dataclass
class LocalRunReport:
    outcomes: list[RunOutcome] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # invalid workflow files
    not_triggered: list[NotTriggered] = field(default_factory=list)
    cancelled: bool = False
    event: str = "push"
    ref: str = ""
    sha: str = ""

    @property
    def succeeded(self) -> bool:
        """Every run succeeded and every workflow file was valid (skipped runs count as success)."""
        return not self.problems and not self.cancelled and all(
            o.record.conclusion in (Conclusion.SUCCESS, Conclusion.SKIPPED) for o in self.outcomes
        )


@dataclass(frozen=True)
class PlannedJob:
    """One job as a dry run shows it.

    ``matrix``: None for a job without a matrix; its combinations (after
    ``--matrix``; empty when the filter leaves none, then ``skipped`` says
    why); or the matrix as written (a ``str``) when it is an expression
    decided only when the job runs (``${{ fromJSON(needs.x.outputs.y) }}``).
    ``instances`` are the names the job's runs get (``test (3.12)``).
    ``uses`` is the reusable workflow a calling job runs (it has no steps).
    """

    id: str
    name: str
    needs: tuple[str, ...]
    matrix: tuple[Mapping[str, Any], ...] | str | None
    instances: tuple[str, ...]
    steps: tuple[str, ...]
    if_: str | None = None
    uses: str | None = None
    skipped: str | None = None

    def to_json(self) -> dict[str, Any]:
        matrix: Any = self.matrix if self.matrix is None or isinstance(self.matrix, str) else [
            dict(c) for c in self.matrix
        ]
        return {"id": self.id, "name": self.name, "matrix": matrix, "needs": list(self.needs), "steps": list(self.steps)}


@dataclass(frozen=True)
class PlannedRun:
    """One workflow a dry run would run: its jobs in the order they can start."""

    workflow: str
    file: str
    event: str
    ref: str
    jobs: tuple[PlannedJob, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "file": self.file,
            "event": self.event,
            "ref": self.ref,
            "jobs": [j.to_json() for j in self.jobs],
        }


@dataclass
class LocalPlanReport:
    """What :func:`plan_local_runs` found: what would run, and what would not."""

    runs: list[PlannedRun] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # invalid workflow files
    not_triggered: list[NotTriggered] = field(default_factory=list)
    event: str = "push"
    ref: str = ""
    sha: str = ""

    @property
    def valid(self) -> bool:
        return not self.problems


def parse_pairs(values: Sequence[str], flag: str, *, from_env: bool = False, secret: bool = False) -> dict[str, str]:
    """``KEY=VALUE`` flags into a dict. With ``from_env``, a bare ``KEY`` reads the
    environment (act's ``-s KEY``). Errors never show a value."""
    out: dict[str, str] = {}
    for raw in values:
        key, sep, value = raw.partition("=")
        key = key.strip()
        if not key or not _is_name(key):
            shown = "" if secret or sep else f" (got {raw!r})"
            raise UsageError(f"{flag}: expected KEY=VALUE{' or KEY' if from_env else ''}{shown}")
        if not sep:
            if not from_env:
                raise UsageError(f"{flag} {key}: expected KEY=VALUE")
            if key not in os.environ:
                raise UsageError(f"{flag} {key}: {key} is not set in the environment")
            value = os.environ[key]
        out[key] = value
    return out


def parse_matrix_filter(values: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """act's ``--matrix KEY:VALUE`` flags: key -> allowed values (one key given twice: either value).

    The value is everything after the first ``:`` (``image:node:20`` is key
    ``image``, value ``node:20``) and is compared with the text a matrix value
    renders as (``3.10`` in YAML is the number 3.1, so ``py:3.1``)."""
    out: dict[str, tuple[str, ...]] = {}
    for raw in values:
        key, sep, value = raw.partition(":")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--matrix: expected KEY:VALUE (got {raw!r})")
        if value not in out.get(key, ()):
            out[key] = (*out.get(key, ()), value)
    return out


def _is_name(key: str) -> bool:
    return all(c.isalnum() or c in "_-." for c in key) and not key[0].isdigit()


# ----------------------------------------------------------------------- facts


@dataclass(frozen=True)
class _Facts:
    repo: GitRepo
    sha: str
    ref: str
    before: str | None
    changed: tuple[str, ...]
    full_name: str
    base_branch: str
    default_branch: str
    head: CommitInfo
    override: Mapping[str, Any]


def _load_event_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--event-file {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}:1:1: an event payload must be a JSON object")
    return data


def _pr_base(override: Mapping[str, Any]) -> str | None:
    """``pull_request.base.ref`` from an event file, if it gives one."""
    pr = override.get("pull_request")
    base = pr.get("base") if isinstance(pr, Mapping) else None
    ref = base.get("ref") if isinstance(base, Mapping) else None
    return ref.removeprefix("refs/heads/") if isinstance(ref, str) and ref else None


def _full_ref(ref: str) -> str:
    return ref if ref.startswith("refs/") else f"refs/heads/{ref}"


def _gather(options: LocalRunOptions) -> _Facts:
    from pheme.core.planning.triggers import known_events
    from pheme.services.git import start_read_head

    if options.event not in known_events():
        raise UsageError(f"unknown event '{options.event}' (e.g. push, pull_request, workflow_dispatch)")
    # One round of concurrent git processes; while they answer (they run on other
    # cores), this process loads the engine the run needs next: ~100 ms of imports
    # that hide git's ~15-30 ms of waiting.
    pending = start_read_head(options.directory)
    try:
        import pheme.execution.runner  # noqa: F401
    except BaseException:
        pending.cancel()
        raise
    found = pending.result()
    repo = found.repo
    override = _load_event_file(options.event_file) if options.event_file else {}
    if found.head is None and not options.working_tree:
        raise ConfigError(f"the git repository {repo.root} has no commit yet (commit first, or use --working-tree)")
    sha = found.head.sha if found.head else NULL_SHA
    parent = found.parents[0] if found.parents else None
    # ref: --ref, else the event file's (push) or PR head, else the current branch.
    if options.ref:
        ref = _full_ref(options.ref.strip())
    elif isinstance(override.get("ref"), str) and override["ref"]:
        ref = _full_ref(override["ref"])
    else:
        ref = f"refs/heads/{found.branch or found.default_branch or 'main'}"
    if options.before and set(options.before.strip()) == {"0"}:
        before: str | None = None  # "from nothing": every file of HEAD counts as changed
    elif options.before:
        before = repo.resolve(options.before.strip())
    elif isinstance(override.get("before"), str) and override["before"] not in ("", NULL_SHA):
        before = repo.resolve(override["before"])
    elif options.event in ("pull_request", "pull_request_target") and sha != NULL_SHA:
        # A pull request's files are those changed since it left its base branch.
        base_sha = repo.merge_base(f"refs/heads/{_pr_base(override) or found.default_branch or 'main'}", sha)
        before = base_sha if base_sha and base_sha != sha else parent
    else:
        before = parent
    changed = repo.changed_files_worktree(before) if options.working_tree else repo.changed_files(before, sha)
    url = found.remote_url
    full_name = (full_name_from_url(url) if url else None) or f"local/{repo.root.name}"
    default_branch = found.default_branch or "main"
    base_branch = _pr_base(override) or default_branch
    head = found.head or CommitInfo(NULL_SHA, NULL_SHA, "", "", "", "", "", "")
    return _Facts(repo, sha, ref, before, changed, full_name, base_branch, default_branch, head, override)


# -------------------------------------------------------------------- workflows


def _workflow_files(options: LocalRunOptions, repo_root: Path, tree: Path) -> list[str]:
    """Workflow paths relative to the repository root, as they are in ``tree``."""
    if options.workflows:
        rels: list[str] = []
        for given in options.workflows:
            absolute = (options.directory / given).resolve() if not given.is_absolute() else given.resolve()
            try:
                rel = absolute.relative_to(repo_root.resolve())
            except ValueError:
                raise UsageError(f"--workflow {given}: not inside the repository {repo_root}") from None
            if not (tree / rel).is_file():
                where = "the working tree" if tree == repo_root else "the committed tree (commit it, or use --working-tree)"
                raise UsageError(f"--workflow {given}: no such file in {where}")
            rels.append(rel.as_posix())
        return rels
    folder = tree / WORKFLOWS_DIR
    files = sorted(p for p in folder.glob("*") if p.is_file() and p.suffix in (".yml", ".yaml")) if folder.is_dir() else []
    if not files:
        folder_shown = repo_root / WORKFLOWS_DIR
        hint = "" if tree == repo_root else " at HEAD (commit them, or use --working-tree)"
        raise ConfigError(f"no workflows found: no .yml or .yaml files in {folder_shown}{hint}")
    return [f.relative_to(tree).as_posix() for f in files]


def _load(tree: Path, rel: str) -> Workflow:
    from pheme.core.workflow import parse_workflow

    try:
        text = (tree / rel).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkflowError([Problem(rel, 1, 1, f"cannot read the file: {getattr(exc, 'strerror', None) or exc}")]) from None
    return parse_workflow(text, rel)


# ---------------------------------------------------------------------- the use case


@dataclass
class _Planned:
    workflow: Workflow
    payload: dict[str, Any]
    inputs: dict[str, Any]


def trigger_local_runs(
    options: LocalRunOptions,
    observe: ObserverFactory | None = None,
    cancel: Cancellation | None = None,
    on_problem: Callable[[Problem], None] | None = None,
) -> LocalRunReport:
    """Run every workflow that ``options.event`` triggers; return what happened.

    Raises a :class:`PhemeError` (one line) for anything that stops the whole
    command before a run starts: not a repository, no workflows, an unknown
    event, bad inputs, an unusable store. Invalid workflow files do not stop
    the others; they are listed in ``report.problems`` (and passed to
    ``on_problem`` as they are found).
    """
    cancel = cancel or Cancellation()
    recording = _Recording(options.database_url)
    try:
        facts = _gather(options)
    except BaseException:
        recording.close()
        raise
    report = LocalRunReport(event=options.event, ref=facts.ref, sha=facts.sha)
    try:
        with _workspace(facts, options) as tree:
            planned = _select(options, facts, tree, report, on_problem)
            recording.get()  # an unusable PHEME_HOME or database stops here, before any run
            for plan in planned:
                if cancel.is_set():
                    report.cancelled = True
                    break
                outcome = _run_one(recording, options, facts, tree, plan, observe, cancel)
                report.outcomes.append(outcome)
                if outcome.record.conclusion == Conclusion.CANCELLED and cancel.is_set():
                    report.cancelled = True
                    break
    finally:
        recording.close()
    return report


def _select(
    options: LocalRunOptions,
    facts: _Facts,
    tree: Path,
    report: LocalRunReport | LocalPlanReport,
    on_problem: Callable[[Problem], None] | None,
) -> list[_Planned]:
    """Load every workflow file, match the event, check ``--job`` and the inputs:
    the workflows to run. Invalid files and untriggered ones go to ``report``."""
    from pheme.core.planning.triggers import Event, match_event, resolve_dispatch_inputs

    planned: list[_Planned] = []
    for rel in _workflow_files(options, facts.repo.root, tree):
        try:
            workflow = _load(tree, rel)
        except WorkflowError as exc:
            report.problems.extend(exc.problems)
            if on_problem:
                for problem in exc.problems:
                    on_problem(problem)
            continue
        payload = _payload(options, facts, rel)
        event = Event(
            name=options.event,
            ref=_event_ref(options.event, facts, payload),
            changed_files=facts.changed,
            action=payload.get("action") if isinstance(payload.get("action"), str) else None,
            payload=payload,
            base_ref=facts.base_branch if options.event.startswith("pull_request") else None,
        )
        decision = match_event(workflow, event)
        if not decision.triggered:
            report.not_triggered.append(NotTriggered(rel, decision.reason))
            continue
        if options.jobs:
            missing = [j for j in options.jobs if j not in workflow.jobs]
            if len(missing) == len(options.jobs):
                report.not_triggered.append(NotTriggered(rel, f"no job {', '.join(options.jobs)}"))
                continue
        inputs: dict[str, Any] = {}
        trigger = workflow.on.get(options.event)
        if options.event in ("workflow_dispatch", "workflow_call") and trigger is not None:
            try:
                inputs = resolve_dispatch_inputs(trigger, options.inputs)
            except PlanningError as exc:
                raise UsageError(f"{rel}: {exc}") from None
            payload["inputs"] = {k: _input_text(v) for k, v in inputs.items()}
        planned.append(_Planned(workflow, payload, inputs))
    if options.jobs and not planned and not report.problems:
        raise UsageError(f"no triggered workflow has a job {', '.join(repr(j) for j in options.jobs)}")
    return planned


def plan_local_runs(
    options: LocalRunOptions, on_problem: Callable[[Problem], None] | None = None
) -> LocalPlanReport:
    """A dry run: what :func:`trigger_local_runs` would run, without running or
    recording anything (the store is never opened).

    The same checks stop it with a :class:`PhemeError` (not a repository, no
    workflows, unknown event, bad inputs or ``--job``). Matrices written as
    plain values are expanded (and filtered by ``options.matrix``); jobs'
    ``if:`` are shown, not decided.
    """
    facts = _gather(options)
    report = LocalPlanReport(event=options.event, ref=facts.ref, sha=facts.sha)
    with _workspace(facts, options) as tree:
        for plan in _select(options, facts, tree, report, on_problem):
            jobs = _planned_jobs(plan.workflow, options, report, on_problem)
            ref = _event_ref(options.event, facts, plan.payload)
            workflow = plan.workflow
            report.runs.append(PlannedRun(workflow.display_name, workflow.path, options.event, ref, jobs))
    return report


def _planned_jobs(
    workflow: Workflow,
    options: LocalRunOptions,
    report: LocalPlanReport,
    on_problem: Callable[[Problem], None] | None,
) -> tuple[PlannedJob, ...]:
    """The jobs that would run (``--job`` and its needs, or all), in the order they can start."""
    from pheme.core.planning import JobGraph
    from pheme.execution.runner import select_jobs

    try:
        order = JobGraph.from_workflow(workflow).topological_order()
        # The engine's own selection: --job's jobs of this workflow and their needs, or all.
        keep = set(select_jobs(workflow, [j for j in options.jobs if j in workflow.jobs]))
    except PlanningError as exc:
        _problem(report, on_problem, Problem(workflow.path, 1, 1, str(exc)))
        return ()
    out: list[PlannedJob] = []
    for jid in order:
        if jid in keep:
            out.append(_planned_job(workflow, jid, options, report, on_problem))
    return tuple(out)


def _planned_job(
    workflow: Workflow,
    jid: str,
    options: LocalRunOptions,
    report: LocalPlanReport,
    on_problem: Callable[[Problem], None] | None,
) -> PlannedJob:
    from pheme.core.planning import (
        combination_label,
        filtered_out_reason,
        plan_strategy,
        select_combinations,
    )

    job = workflow.jobs[jid]
    steps = tuple(step.display_name for step in job.steps)
    cond = job.if_ if isinstance(job.if_, str) else (None if job.if_ is None else _input_text(job.if_))
    base = PlannedJob(jid, job.display_name, tuple(job.needs), None, (job.display_name,), steps, cond, job.uses)
    strategy = job.strategy
    if strategy is None or strategy.matrix is None:
        return base
    if _has_expression(strategy.matrix):
        written = strategy.matrix if isinstance(strategy.matrix, str) else json.dumps(strategy.matrix, default=str)
        return dataclasses.replace(base, matrix=written, instances=())
    try:
        combos = plan_strategy(strategy).combinations
    except PlanningError as exc:
        _problem(report, on_problem, Problem(workflow.path, job.pos.line or 1, job.pos.col or 1, f"job '{jid}': {exc}"))
        return dataclasses.replace(base, matrix=(), instances=(), skipped=f"invalid strategy: {exc}")
    kept = tuple(select_combinations(combos, options.matrix)) if options.matrix else combos
    skipped = None
    if not kept:
        skipped = filtered_out_reason(options.matrix, len(combos)) if combos else "the matrix has no combinations"
    names = tuple(f"{job.display_name} {combination_label(c)}" if c else job.display_name for c in kept)
    return dataclasses.replace(base, matrix=kept, instances=names, skipped=skipped)


def _has_expression(value: Any) -> bool:
    if isinstance(value, str):
        return "${{" in value
    if isinstance(value, Mapping):
        return any(_has_expression(k) or _has_expression(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_expression(v) for v in value)
    return False


def _problem(report: LocalPlanReport, on_problem: Callable[[Problem], None] | None, problem: Problem) -> None:
    report.problems.append(problem)
    if on_problem:
        on_problem(problem)


class _Recording:
    """The store that runs are recorded in, ready before the first run.

    Why two kinds: importing SQLAlchemy and checking the schema takes ~0.3 s,
    more than a short job's steps. An existing SQLite store at the shipped
    schema (the common case) is opened with the standard library instead
    (:func:`pheme.storage.open_lite_store`: same rows, same numbering) in a
    millisecond. Otherwise (a new home, PostgreSQL, a store to migrate or to
    refuse) the full store opens in a thread at once, while git and the loader
    work, and its error (not writable, corrupt, newer schema) is raised by
    :meth:`get` before any run starts.
    """

    def __init__(self, url: str | None) -> None:
        from pheme.storage import open_lite_store

        self._url = url
        self._store: Any = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        try:
            self._store = open_lite_store(url)
        except PhemeError as exc:  # e.g. an unusable PHEME_HOME: reported by get()
            self._error = exc
            return
        if self._store is None:
            self._thread = threading.Thread(target=self._open, name="pheme-store-open", daemon=True)
            self._thread.start()

    def _open(self) -> None:
        try:
            self._store = _open_store(self._url)
        except BaseException as exc:  # re-raised in the caller's thread by get()
            self._error = exc

    def get(self) -> Any:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            raise self._error
        return self._store

    def close(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._store is not None:
            self._store.close()
            self._store = None


def _input_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _open_store(url: str | None) -> Any:
    from pheme.storage import open_store

    return open_store(url)


def _workspace(facts: _Facts, options: LocalRunOptions) -> Any:
    if options.working_tree:
        import contextlib

        return contextlib.nullcontext(facts.repo.root)
    return checkout_tree(facts.repo, facts.sha)


def _event_ref(event: str, facts: _Facts, payload: Mapping[str, Any]) -> str:
    if event in ("pull_request", "pull_request_target"):
        return f"refs/pull/{pr_number(payload)}/merge"
    return facts.ref


def _payload(options: LocalRunOptions, facts: _Facts, rel: str) -> dict[str, Any]:
    repo_facts = RepoFacts(
        full_name=facts.full_name,
        default_branch=facts.default_branch,
        head=facts.head,
        before=facts.before,
        ref=facts.ref,
        changed_files=facts.changed,
        base_branch=facts.base_branch,
        inputs=dict(options.inputs),
        workflow_file=rel,
    )
    return build_payload(options.event, repo_facts, facts.override)


def _run_one(
    recording: _Recording,
    options: LocalRunOptions,
    facts: _Facts,
    tree: Path,
    plan: _Planned,
    observe: ObserverFactory | None,
    cancel: Cancellation,
) -> RunOutcome:
    """One workflow's run, recorded in the store as it happens."""
    from pheme.execution.events import Fanout
    from pheme.services.recorder import StoreRecorder

    workflow = plan.workflow
    ref = _event_ref(options.event, facts, plan.payload)
    store = recording.get()
    record = store.create_run(workflow.display_name, workflow.path, options.event, ref, facts.sha, inputs=plan.inputs)
    recorder = StoreRecorder(store, record.id)
    observers: list[RunObserver] = [recorder]
    view = observe(record, workflow) if observe else None
    if view is not None:
        observers.append(view)
    error: BaseException | None = None
    request = _request(options, facts, tree, plan, record, ref)
    recorder.start()
    try:
        _execute(request, Fanout(*observers), cancel)
    except BaseException as exc:  # recorded below, then re-raised
        error = exc
    cancelled = cancel.is_set() or isinstance(error, KeyboardInterrupt)
    reason = None if error is None else _one_line(error)
    try:
        recorder.close()
    except PhemeError as exc:
        error = error or exc
    final = store.get_run(record.id)
    if final.status != Status.COMPLETED:
        # The engine stopped without RunFinished (interrupted, or crashed): end it here.
        finish_leftovers(store, final, Conclusion.CANCELLED if cancelled else Conclusion.FAILURE, reason)
        final = store.get_run(record.id)
    if error is not None:
        raise error
    return RunOutcome(final, workflow)


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def finish_leftovers(store: Any, run: RunRecord, conclusion: Conclusion, error: str | None) -> None:
    """End what the engine left unfinished (the run was interrupted, or crashed)."""
    with store.batch():
        for job in run.jobs:
            for step in job.steps:
                if step.status != Status.COMPLETED:
                    c = conclusion if step.status == Status.IN_PROGRESS else Conclusion.CANCELLED
                    store.update_step(job.id, step.number, Status.COMPLETED, conclusion=c)
            if job.status != Status.COMPLETED:
                c = conclusion if job.status == Status.IN_PROGRESS else Conclusion.CANCELLED
                store.update_job(job.id, Status.COMPLETED, conclusion=c)
        store.update_run(run.id, Status.COMPLETED, conclusion=conclusion, error=error)


def _request(
    options: LocalRunOptions, facts: _Facts, tree: Path, plan: _Planned, record: RunRecord, ref: str
) -> Any:
    from pheme.execution.actions import make_resolver
    from pheme.execution.runner import RunRequest

    actor = plan.payload.get("sender", {}).get("login") if isinstance(plan.payload.get("sender"), dict) else None
    return RunRequest(
        workflow=plan.workflow,
        workspace=tree,
        event_name=options.event,
        event_payload=plan.payload,
        ref=ref,
        sha=facts.sha,
        repository=facts.full_name,
        actor=actor or "pheme",
        run_id=record.id,
        run_number=record.number,
        secrets=dict(options.secrets),
        vars=dict(options.vars),
        env=dict(options.env),
        inputs=plan.inputs,
        jobs=list(options.jobs) or None,
        matrix_filter=dict(options.matrix),
        max_parallel_jobs=options.max_parallel_jobs,
        # uses: local actions, built-ins (checkout, cache, artifacts, setup-*), vendored copies.
        action_resolver=make_resolver(),
    )


def _execute(request: Any, observer: Any, cancel: Cancellation) -> Any:
    """Run the engine in a fresh event loop whose cancel event follows ``cancel``."""
    import asyncio

    from pheme.execution.runner import execute

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        def wake() -> None:
            loop.call_soon_threadsafe(event.set)

        unsubscribe = cancel.subscribe(wake)
        try:
            return await execute(request, observer, cancel=event)
        finally:
            unsubscribe()

    with asyncio.Runner() as runner:
        return runner.run(main())
