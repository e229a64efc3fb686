"""One job instance (one matrix combination) from set-up to clean-up.

Run state lives here and in :class:`~pheme.execution._steprun.StepRun`, never
in the workflow model. The job's environment is layered like GitHub's:
workflow ``env`` < job ``env`` < values written to ``GITHUB_ENV`` by earlier
steps < step ``env``; the GITHUB_*/RUNNER_* defaults are set last because
GitHub does not let a workflow override them.

Cancellation (run cancelled, fail-fast sibling failed, job timeout) sets the
job's ``cancel`` event: the running step's process group is killed, and the
remaining steps are evaluated with ``cancelled()`` true, so only ``always()``
/ ``cancelled()`` steps still run — and those are not killed by the same
cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pheme.core.workflow.model import Defaults, Job, Step, Workflow
from pheme.errors import ExpressionError
from pheme.execution._contexts import default_env, github_context, hash_files_in, runner_context
from pheme.execution._expr import EvalContext, evaluate_condition, evaluate_raw, render, to_string, truthy
from pheme.execution._process import kill_group
from pheme.execution._steprun import StepRun, now
from pheme.execution._steps import ActionResolver, JobStatusName, StepImpl, create_step, expr_error
from pheme.execution._types import JobResult, RunRequest, StepResult
from pheme.execution.events import (
    Annotation,
    Conclusion,
    Event,
    JobFinished,
    JobRef,
    JobStarted,
    LogLines,
    RunObserver,
    StepFinished,
    StepRef,
    StepStarted,
)
from pheme.execution.masking import Masker

__all__ = ["JobRun", "JobScope", "RunShared", "aggregate_result", "env_strings", "merged_outputs"]

DEFAULT_JOB_TIMEOUT_MINUTES = 360.0
JobStatus = Literal["success", "failure", "cancelled", "skipped"]


@dataclass(frozen=True, slots=True)
class JobScope:
    """The workflow a job belongs to and what it was given.

    For the run's own workflow that is the request's ``inputs``/``secrets``
    and the evaluated workflow ``env``; a job of a called (reusable) workflow
    sees the callee's file, the ``with:`` inputs, the secrets passed down and
    the callee's own workflow ``env`` (the caller's is not propagated).
    """

    workflow: Workflow
    inputs: Mapping[str, Any]
    secrets: Mapping[str, str]
    workflow_env: Mapping[str, str]


@dataclass
class RunShared:
    """Run-wide facts every job instance reads."""

    request: RunRequest
    observer: RunObserver
    masker: Masker
    base_env: dict[str, str]
    workflow_env: dict[str, str]
    workspace: str
    run_dir: str
    tool_cache: str
    event_path: str
    resolver: ActionResolver
    debug: bool
    run_cancel: asyncio.Event
    _job_dirs: int = 0
    summaries: dict[str, str] = field(default_factory=dict)

    @property
    def workflow(self) -> Workflow:
        return self.request.workflow

    def root_scope(self) -> JobScope:
        req = self.request
        return JobScope(req.workflow, dict(req.inputs), dict(req.secrets), self.workflow_env)

    def new_job_dir(self) -> str:
        self._job_dirs += 1
        path = os.path.join(self.run_dir, f"job{self._job_dirs}")
        os.makedirs(os.path.join(path, "temp"))
        os.makedirs(os.path.join(path, "file_commands"))
        return path


def env_strings(raw: Mapping[str, Any] | str | None, ctx: EvalContext) -> dict[str, str]:
    """Evaluate an ``env:`` block (a mapping, or one expression yielding one)."""
    if not raw:
        return {}
    if isinstance(raw, str):
        value = evaluate_raw(raw, ctx)
        if not isinstance(value, Mapping):
            raise ExpressionError("evaluation", "env must evaluate to a mapping")
        raw = value
    out: dict[str, str] = {}
    for key, value in raw.items():
        out[str(key)] = render(value, ctx) if isinstance(value, str) else to_string(value)
    return out


def merge_defaults(workflow: Defaults | None, job: Defaults | None) -> Defaults:
    w = workflow or Defaults()
    j = job or Defaults()
    return Defaults(shell=j.shell or w.shell, working_directory=j.working_directory or w.working_directory)


class JobRun:
    def __init__(
        self,
        shared: RunShared,
        job: Job,
        ref: JobRef,
        *,
        matrix: Mapping[str, Any] | None,
        strategy: Mapping[str, Any],
        needs: Mapping[str, Any],
        cancel: asyncio.Event,
        scope: JobScope | None = None,
    ) -> None:
        self.shared = shared
        self.scope = scope or shared.root_scope()
        self.job = job
        self.ref = ref
        self.matrix = matrix
        self.cancel = cancel
        self.masker = shared.masker.copy()
        self.emit: Callable[[Event], None] = shared.observer
        self.defaults = merge_defaults(self.scope.workflow.defaults, job.defaults)
        self.dir = shared.new_job_dir()
        self.temp = os.path.join(self.dir, "temp")
        self.file_commands_dir = os.path.join(self.dir, "file_commands")
        self._file_ids = 0
        self._free_files: dict[str, list[str]] = {}
        self.process_groups: list[int] = []
        self.global_env: dict[str, str] = dict(self.scope.workflow_env)
        self._prepend_path: list[str] = []
        self._summary: list[str] = []
        self.failed = False
        self.timed_out = False
        self.steps_ctx: dict[str, Any] = {}
        self.steps: list[StepResult] = []
        self._action_names: dict[str, int] = {}
        req = shared.request
        github = github_context(req, workspace=shared.workspace, event_path=shared.event_path, job_id=job.id)
        runner = runner_context(
            name=req.runner_name, temp=self.temp, tool_cache=shared.tool_cache, debug=shared.debug
        )
        self.github = github
        self.default_env = default_env(github, runner)
        self.hash_files = hash_files_in(shared.workspace)
        self.contexts: dict[str, Any] = {
            "github": github,
            "runner": runner,
            "strategy": dict(strategy),
            "matrix": dict(matrix) if matrix is not None else {},
            "needs": dict(needs),
            "inputs": dict(self.scope.inputs),
            "vars": dict(req.vars),
            "secrets": dict(self.scope.secrets),
        }

    @property
    def source(self) -> str:
        """The workflow file this job comes from (for error positions)."""
        return self.scope.workflow.path

    # -- services for StepRun ------------------------------------------------
    def next_file_id(self) -> int:
        self._file_ids += 1
        return self._file_ids

    def acquire_file_commands(self, kinds: tuple[tuple[str, str], ...]) -> dict[str, str]:
        """One empty file per file command (``GITHUB_OUTPUT`` ...) for a step.

        A file a step left empty is handed to the next step instead of being
        unlinked and created again: creating five files per step cost more than
        the step itself on some filesystems. The next step sees an empty file,
        as it would a new one.
        """
        files: dict[str, str] = {}
        for var, kind in kinds:
            free = self._free_files.get(var)
            if free:
                files[var] = free.pop()
                continue
            path = os.path.join(self.file_commands_dir, f"{kind}_{self.next_file_id()}")
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
            files[var] = path
        return files

    def release_file_commands(self, files: Mapping[str, str]) -> None:
        """Keep the files left empty for the next step; remove the others."""
        for var, path in files.items():
            try:
                empty = os.stat(path).st_size == 0
            except OSError:
                continue
            if empty:
                self._free_files.setdefault(var, []).append(path)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(path)

    def set_env(self, values: Mapping[str, str]) -> None:
        self.global_env.update(values)

    def add_path(self, entry: str) -> None:
        if entry in self._prepend_path:
            self._prepend_path.remove(entry)
        self._prepend_path.append(entry)

    def add_summary(self, text: str) -> None:
        self._summary.append(text)

    def log(self, lines: list[str], step: StepRef | None = None) -> None:
        self.emit(LogLines(job=self.ref, lines=[self.masker.mask(line) for line in lines], step=step))

    def job_error(self, message: str) -> None:
        message = self.masker.mask(message)
        self.log([f"##[error]{message}"])
        self.emit(Annotation(job=self.ref, level="error", message=message))

    def step_error(self, ref: StepRef, message: str) -> None:
        message = self.masker.mask(message)
        self.log([f"##[error]{message}"], ref)
        self.emit(Annotation(job=self.ref, level="error", message=message))

    def status(self) -> JobStatusName:
        if self.cancel.is_set():
            return "cancelled"
        return "failure" if self.failed else "success"

    def eval_ctx(self, env: Mapping[str, str]) -> EvalContext:
        ctx = dict(self.contexts)
        ctx["steps"] = self.steps_ctx
        ctx["env"] = env
        ctx["job"] = {"status": self.status(), "container": {}, "services": {}}
        return EvalContext(contexts=ctx, job_status=self.status(), hash_files=self.hash_files)

    # -- the job -------------------------------------------------------------
    async def run(self) -> JobResult:
        self.emit(JobStarted(job=self.ref, at=now()))
        timer: asyncio.TimerHandle | None = None
        reason: str | None = None
        outputs: dict[str, str] = {}
        try:
            try:
                job_ctx = self.eval_ctx(self.global_env)
                self.global_env.update(env_strings(self.job.env, job_ctx))
                timeout = self._minutes(self.job.timeout_minutes, job_ctx) or DEFAULT_JOB_TIMEOUT_MINUTES
            except ExpressionError as exc:
                reason = expr_error(self.source, "env", self.job.pos, exc)
                self.job_error(reason)
                self.failed = True
            else:
                timer = asyncio.get_running_loop().call_later(timeout * 60, self._on_timeout, timeout)
                await self._run_steps()
                outputs = self._outputs()
        finally:
            if timer is not None:
                timer.cancel()
            for pgid in self.process_groups:
                kill_group(pgid)
            shutil.rmtree(self.dir, ignore_errors=True)
        if self.timed_out:
            conclusion: Conclusion = "failure"
            reason = reason or "timed out"
        elif self.cancel.is_set():
            conclusion = "cancelled"
        elif self.failed:
            conclusion = "failure"
        else:
            conclusion = "success"
        if conclusion == "failure" and self._job_continue_on_error():
            conclusion = "success"
        if self._summary:
            self.shared.summaries[self.ref.key] = "\n".join(self._summary)
        self.emit(JobFinished(job=self.ref, conclusion=conclusion, outputs=outputs, at=now(), reason=reason))
        return JobResult(
            key=self.ref.key,
            job_id=self.ref.job_id,
            name=self.ref.name,
            matrix=self.matrix,
            conclusion=conclusion,
            outputs=outputs,
            steps=tuple(self.steps),
            reason=reason,
        )

    def _on_timeout(self, minutes: float) -> None:
        self.timed_out = True
        self.job_error(
            f"The job running on runner {self.shared.request.runner_name} has exceeded the maximum "
            f"execution time of {minutes:g} minutes."
        )
        self.cancel.set()

    def _minutes(self, raw: float | str | None, ctx: EvalContext) -> float | None:
        if raw is None:
            return None
        value = evaluate_raw(raw, ctx) if isinstance(raw, str) else raw
        try:
            minutes = float(value)
        except (TypeError, ValueError):
            raise ExpressionError("evaluation", f"timeout-minutes must be a number, got '{value}'") from None
        return minutes if minutes > 0 else None

    def _job_continue_on_error(self) -> bool:
        raw = self.job.continue_on_error
        if isinstance(raw, bool):
            return raw
        try:
            return truthy(evaluate_raw(raw, self.eval_ctx(self.global_env)))
        except ExpressionError:
            return False

    def _action_name(self, step: Step) -> str:
        if step.id:
            return step.id
        base = (
            "__run"
            if step.run is not None
            else "__" + re.sub(r"[^A-Za-z0-9]", "_", (step.uses or "").split("@")[0])
        )
        n = self._action_names.get(base, 0) + 1
        self._action_names[base] = n
        return base if n == 1 else f"{base}_{n}"

    def process_env(self, step_env: Mapping[str, str], action: str) -> dict[str, str]:
        """The process environment of a step: runner env < job env < step env < GITHUB_* defaults."""
        env = dict(self.shared.base_env)
        env["CI"] = "true"
        env.update(self.global_env)
        env.update(step_env)
        env.update(self.default_env)
        env["GITHUB_ACTION"] = action
        if self._prepend_path:
            old = env.get("PATH", "")
            env["PATH"] = os.pathsep.join([*reversed(self._prepend_path), *([old] if old else [])])
        return env

    _process_env = process_env  # the name the actions package used before StepRuntime.child

    async def _run_steps(self) -> None:
        impls: list[StepImpl] = [create_step(s, self.shared.resolver) for s in self.job.steps]
        ran: list[tuple[StepImpl, StepRun]] = []
        for step, impl in zip(self.job.steps, impls, strict=True):
            if impl.has_pre and not self.cancel.is_set():
                pre = self._prepare(step, self._ref(step), {})
                pre.log([f"##[group]Pre {pre.ref.name}", "##[endgroup]"])
                if await impl.pre(pre) == "failure" or pre.failed:
                    self.failed = True
        for step, impl in zip(self.job.steps, impls, strict=True):
            sr = await self._run_main(step, impl)
            if sr is not None and impl.has_post:
                ran.append((impl, sr))
        for impl, sr in reversed(ran):
            sr.cancel = None
            sr.log([f"##[group]Post {sr.ref.name}", "##[endgroup]"])
            sr.env.update({f"STATE_{k}": v for k, v in sr.state.items()})
            if await impl.post(sr) == "failure" or sr.failed:
                self.failed = True

    def _ref(self, step: Step) -> StepRef:
        """The step's display name, evaluated as GitHub's runner does: ``name:``,
        else ``Run`` + the first line of the *evaluated* script (masked); the
        text as written when it cannot be evaluated yet."""
        name = step.display_name
        if step.name and "${{" in step.name:
            with contextlib.suppress(ExpressionError):
                name = self.masker.mask(render(step.name, self.eval_ctx(self.global_env)))
        elif not step.name and step.run is not None and "${{" in step.run:
            with contextlib.suppress(ExpressionError):
                script = render(step.run, self.eval_ctx(self.global_env)).lstrip()
                name = self.masker.mask("Run " + (script.splitlines() or [""])[0])
        return StepRef(number=step.index + 1, id=step.id, name=name)

    def _prepare(self, step: Step, ref: StepRef, step_env: dict[str, str]) -> StepRun:
        sr = StepRun(self, step, ref)
        env_view = {**self.global_env, **step_env}
        sr.expr = self.eval_ctx(env_view)
        sr.env = self.process_env(step_env, self._action_name(step))
        sr.display_env = env_view
        sr.cancel = None if self.cancel.is_set() else self.cancel
        return sr

    def _finish_step(
        self, ref: StepRef, outcome: Conclusion, conclusion: Conclusion, outputs: Mapping[str, str]
    ) -> None:
        self.steps.append(StepResult(ref.number, ref.id, ref.name, outcome, conclusion, dict(outputs)))
        if ref.id:
            self.steps_ctx[ref.id] = {"outputs": dict(outputs), "outcome": outcome, "conclusion": conclusion}
        if conclusion == "failure":
            self.failed = True
        self.emit(
            StepFinished(
                job=self.ref, step=ref, outcome=outcome, conclusion=conclusion, outputs=outputs, at=now()
            )
        )

    async def _run_main(self, step: Step, impl: StepImpl) -> StepRun | None:
        ref = self._ref(step)
        ctx = self.eval_ctx(self.global_env)
        try:
            run_it = evaluate_condition(step.if_, ctx)
        except ExpressionError as exc:
            self.emit(StepStarted(job=self.ref, step=ref, at=now()))
            self.step_error(ref, expr_error(self.source, "if", step.pos, exc))
            self._finish_step(ref, "failure", "failure", {})
            return None
        if not run_it:
            self._finish_step(ref, "skipped", "skipped", {})
            return None
        self.emit(StepStarted(job=self.ref, step=ref, at=now()))
        continue_on_error = False
        try:
            step_env = env_strings(step.env, ctx)
            sr = self._prepare(step, ref, step_env)
            coe = step.continue_on_error
            continue_on_error = coe if isinstance(coe, bool) else truthy(evaluate_raw(coe, sr.expr))
            minutes = self._minutes(step.timeout_minutes, sr.expr)
            sr.timeout = minutes * 60 if minutes else None
        except ExpressionError as exc:
            self.step_error(ref, expr_error(self.source, "step", step.pos, exc))
            self._finish_step(ref, "failure", "failure", {})
            return None
        phase = await impl.main(sr)
        outcome: Conclusion
        if sr.cancelled:
            outcome = "cancelled"
        elif phase == "failure" or sr.failed:
            outcome = "failure"
        else:
            outcome = "success"
        conclusion: Conclusion = "success" if outcome == "failure" and continue_on_error else outcome
        self._finish_step(ref, outcome, conclusion, sr.outputs)
        return sr

    def _outputs(self) -> dict[str, str]:
        if not self.job.outputs:
            return {}
        ctx = self.eval_ctx(self.global_env)
        out: dict[str, str] = {}
        for name, raw in self.job.outputs.items():
            try:
                value = render(raw, ctx) if isinstance(raw, str) else to_string(raw)
            except ExpressionError as exc:
                self.job_error(expr_error(self.source, f"outputs.{name}", self.job.pos, exc))
                self.failed = True
                continue
            if self.masker.contains_secret(value):
                message = f"Skip output '{name}' since it may contain secret."
                self.log([f"##[warning]{message}"])
                self.emit(Annotation(job=self.ref, level="warning", message=message))
                continue
            out[name] = value
        return out


def aggregate_result(results: Sequence[JobResult]) -> Conclusion:
    """``needs.<id>.result`` over a job's instances (matrix jobs have several)."""
    conclusions = {r.conclusion for r in results}
    order: tuple[Conclusion, ...] = ("failure", "cancelled", "success")
    for c in order:
        if c in conclusions:
            return c
    return "skipped"


def merged_outputs(results: Sequence[JobResult]) -> dict[str, str]:
    """Matrix instances' outputs merged in finishing order; a later non-empty value wins."""
    out: dict[str, str] = {}
    for r in results:
        for k, v in r.outputs.items():
            if v or k not in out:
                out[k] = v
    return out
