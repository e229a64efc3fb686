"""Step kinds: what a step *does*, separate from how the job drives it.

Every kind implements :class:`StepImpl` with three phases like GitHub's
runner: ``pre`` (run at job start, for actions that declare one), ``main``,
and ``post`` (run at job end, in reverse order, for steps whose main ran).
:func:`create_step` is the factory: a ``run:`` step becomes :class:`RunStep`;
a ``uses:`` step is handed to an :class:`ActionResolver` (built-in, JS,
composite and Docker actions plug in there). The default resolver knows no
action yet and fails the step with one line naming it.

A phase talks to the job through :class:`StepRuntime` only (spawn a command
with file/workflow commands handled, log, fail, set outputs, export env…),
so action kinds need nothing from the job's internals.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Mapping
from typing import Literal, Protocol

from pheme.core.workflow.model import Defaults, Pos, Step
from pheme.errors import ActionError, ExecutionError, ExpressionError
from pheme.execution._expr import EvalContext, render
from pheme.execution.events import StepRef
from pheme.execution.shells import resolve_shell

__all__ = [
    "ActionResolver",
    "AnnotationLevel",
    "FailingStep",
    "JobStatusName",
    "OfflineActionResolver",
    "PhaseOutcome",
    "RunStep",
    "StepImpl",
    "StepRuntime",
    "create_step",
    "expr_error",
]

PhaseOutcome = Literal["success", "failure"]
AnnotationLevel = Literal["error", "warning", "notice"]
JobStatusName = Literal["success", "failure", "cancelled"]


class StepRuntime(Protocol):
    """Everything a step phase may use — the one surface actions are written against.

    Facts: ``step`` (the model), ``ref`` (number/id/name as reported), ``env``
    (the full process environment of the next command; a phase may add to it
    for its own commands), ``display_env`` (the ``env:`` shown in the log
    header), ``expr`` (the step's expression contexts), ``defaults``,
    ``workspace``, ``temp`` (RUNNER_TEMP), ``source`` (the workflow file, for
    error positions), ``cancel`` (set when the step must stop; None when it
    must not be cancelled, e.g. an ``always()`` step after cancellation),
    ``interrupted`` (the last command was killed by timeout/cancel: already
    reported), ``outputs`` and ``state`` (what the step has set so far).

    Effects: :meth:`log` / :meth:`fail` / :meth:`annotate`,
    :meth:`run_command` (file and workflow commands handled),
    :meth:`set_output`, :meth:`save_state`, :meth:`add_mask`,
    :meth:`export_env` and :meth:`add_path` (for later steps, and for this
    phase), and :meth:`child` (a runtime for a nested step of a composite
    action, sharing this step's job, log and cancellation).
    """

    step: Step
    ref: StepRef
    env: dict[str, str]
    display_env: Mapping[str, str]
    expr: EvalContext
    defaults: Defaults
    workspace: str
    temp: str
    source: str
    timeout: float | None
    cancel: asyncio.Event | None
    interrupted: bool
    cancelled: bool
    failed: bool
    outputs: dict[str, str]
    state: dict[str, str]

    def log(self, lines: list[str]) -> None: ...

    def fail(self, message: str) -> None: ...

    def annotate(self, level: AnnotationLevel, message: str) -> None:
        """Log ``##[level]message`` and raise an annotation (warning/notice/error; error does not fail)."""
        ...

    async def run_command(self, argv: list[str], *, cwd: str) -> int: ...

    def set_output(self, name: str, value: str) -> None: ...

    def save_state(self, name: str, value: str) -> None: ...

    def add_mask(self, value: str) -> None: ...

    def export_env(self, values: Mapping[str, str]) -> None: ...

    def add_path(self, entry: str) -> None: ...

    def job_status(self) -> JobStatusName:
        """The job's status *now* (``success``/``failure``/``cancelled``)."""
        ...

    def job_env(self) -> dict[str, str]:
        """The job's ``env`` context now: workflow + job env + ``GITHUB_ENV`` writes."""
        ...

    def child(
        self, step: Step, *, expr: EvalContext, step_env: Mapping[str, str], extra_env: Mapping[str, str]
    ) -> StepRuntime:
        """A runtime for ``step`` nested in this one (a composite action's step)."""
        ...


class StepImpl(Protocol):
    has_pre: bool
    has_post: bool

    async def pre(self, rt: StepRuntime) -> PhaseOutcome: ...

    async def main(self, rt: StepRuntime) -> PhaseOutcome: ...

    async def post(self, rt: StepRuntime) -> PhaseOutcome: ...


class ActionResolver(Protocol):
    def resolve(self, uses: str, step: Step) -> StepImpl:
        """The implementation of ``uses:``; raises ActionError when unavailable."""
        ...


class OfflineActionResolver:
    """The default: no action is available yet."""

    def resolve(self, uses: str, step: Step) -> StepImpl:
        if uses.startswith("docker://"):
            raise ActionError(f"docker action '{uses}' needs a container engine, which Pheme does not use")
        if uses.startswith("./") or uses.startswith("../"):
            raise ActionError(f"local action '{uses}' is not supported yet")
        raise ActionError(f"action '{uses}' is not available offline yet")


class _MainOnly:
    has_pre = False
    has_post = False

    async def pre(self, rt: StepRuntime) -> PhaseOutcome:
        return "success"

    async def post(self, rt: StepRuntime) -> PhaseOutcome:
        return "success"


class FailingStep(_MainOnly):
    """A step that cannot run (unresolvable action, invalid step): fails with one line."""

    def __init__(self, message: str) -> None:
        self.message = message

    async def main(self, rt: StepRuntime) -> PhaseOutcome:
        rt.fail(self.message)
        return "failure"


class RunStep(_MainOnly):
    """A ``run:`` script, written to RUNNER_TEMP and run by its shell."""

    def __init__(self, step: Step) -> None:
        self.step = step

    async def main(self, rt: StepRuntime) -> PhaseOutcome:
        step = self.step
        try:
            script = render(step.run or "", rt.expr)
            shell_raw = step.shell or rt.defaults.shell
            shell = render(shell_raw, rt.expr) if shell_raw else None
            wd_raw = step.working_directory or rt.defaults.working_directory
            wd = render(wd_raw, rt.expr) if wd_raw else None
        except ExpressionError as exc:
            rt.fail(expr_error(rt.source, "run", step.pos, exc))
            return "failure"
        header = ["##[group]Run " + (script.strip().splitlines() or [""])[0]]
        header.extend(script.rstrip("\n").split("\n"))
        try:
            command = resolve_shell(shell, rt.env.get("PATH", os.defpath))
        except ExecutionError as exc:
            header.append("##[endgroup]")
            rt.log(header)
            rt.fail(str(exc))
            return "failure"
        header.append(f"shell: {command.display}")
        if rt.display_env:
            header.append("env:")
            header.extend(f"  {k}: {v}" for k, v in rt.display_env.items())
        header.append("##[endgroup]")
        rt.log(header)
        cwd = os.path.join(rt.workspace, wd) if wd else rt.workspace
        if not os.path.isdir(cwd):
            rt.fail(f"working-directory '{wd}' does not exist ({cwd})")
            return "failure"
        path = os.path.join(rt.temp, f"{uuid.uuid4()}{command.extension}")
        with open(path, "w", encoding="utf-8") as f:
            f.write(command.script_text(script))
        try:
            code = await rt.run_command(command.argv(path), cwd=cwd)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
        if code != 0:
            if not rt.interrupted:
                rt.fail(f"Process completed with exit code {code}.")
            return "failure"
        return "success"


def expr_error(source: str, what: str, pos: Pos, exc: ExpressionError) -> str:
    """GitHub's one-line form: ``file (Line: L, Col: C): Error when evaluating 'what': …``."""
    where = f"{source} (Line: {pos.line}, Col: {pos.col}): " if pos.line else f"{source}: "
    return f"{where}Error when evaluating '{what}': {exc.full_message()}"


def create_step(step: Step, resolver: ActionResolver) -> StepImpl:
    """The implementation for ``step``: a run script, or what ``resolver`` gives for ``uses:``."""
    if step.run is not None:
        return RunStep(step)
    if step.uses:
        try:
            return resolver.resolve(step.uses, step)
        except ActionError as exc:
            return FailingStep(str(exc))
    return FailingStep("step has neither 'run' nor 'uses'")
