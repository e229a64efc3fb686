"""Step kinds: what a step *does*, separate from how the job drives it.

Every kind implements :class:`StepImpl` with three phases like GitHub's
runner: ``pre`` (run at job start, for actions that declare one), ``main``,
and ``post`` (run at job end, in reverse order, for steps whose main ran).
:func:`create_step` is the factory: a ``run:`` step becomes :class:`RunStep`;
a ``uses:`` step is handed to an :class:`ActionResolver` (built-in, JS,
composite and Docker actions plug in there). The default resolver knows no
action yet and fails the step with one line naming it.

A phase talks to the job through :class:`StepRuntime` only (spawn a command
with file/workflow commands handled, log, fail), so action kinds written
later need nothing from the job's internals.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Mapping
from typing import Literal, Protocol

from pheme.core.workflow.model import Defaults, Pos, Step
from pheme.errors import ActionError, ExecutionError, ExpressionError
from pheme.execution._expr import EvalContext, render
from pheme.execution.shells import resolve_shell

__all__ = [
    "ActionResolver",
    "OfflineActionResolver",
    "PhaseOutcome",
    "RunStep",
    "StepImpl",
    "StepRuntime",
    "create_step",
    "expr_error",
]

PhaseOutcome = Literal["success", "failure"]


class StepRuntime(Protocol):
    """What a step phase may use. ``env`` is the full process environment for
    the step; ``expr`` evaluates with the step's contexts (env included)."""

    step: Step
    env: dict[str, str]
    display_env: Mapping[str, str]
    expr: EvalContext
    defaults: Defaults
    workspace: str
    temp: str
    source: str  # the workflow file, for error positions
    interrupted: bool  # the last command was killed (timeout/cancel); already reported

    def log(self, lines: list[str]) -> None: ...

    def fail(self, message: str) -> None: ...

    async def run_command(self, argv: list[str], *, cwd: str) -> int: ...


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
