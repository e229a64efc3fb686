"""JavaScript actions (``runs.using: node12|node16|node20|node24``).

Run with the ``node`` found on the step's PATH — the one setup-node chose,
if it ran. A different major than ``using`` asks for is a warning (it
usually works: GitHub itself runs node12/node16 actions on node20), no node
at all is an error naming the action.

Inputs reach the script as ``INPUT_<NAME>`` (upper case, spaces → ``_``),
as ``@actions/core`` reads them. ``pre``/``post`` run when their
``pre-if``/``post-if`` (default ``always()``) holds; values the script saved
with ``core.saveState`` (``GITHUB_STATE``) come back as ``STATE_<name>`` in
later phases.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache

from pheme.core.workflow.model import Step
from pheme.errors import ExpressionError
from pheme.execution._expr import evaluate_condition
from pheme.execution._steps import PhaseOutcome, StepRuntime
from pheme.execution.actions._base import ActionStep, expression_failure
from pheme.execution.actions._runtime import current_expr, input_env, log_warning
from pheme.execution.actions.manifest import ActionManifest

__all__ = ["NodeAction", "node_major"]


@lru_cache(maxsize=32)
def _node_version(path: str) -> str | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    text = out.stdout.strip()
    return text or None


def node_major(version: str | None) -> int | None:
    if not version:
        return None
    head = version.lstrip("v").split(".", 1)[0]
    return int(head) if head.isdigit() else None


class NodeAction(ActionStep):
    def __init__(
        self,
        uses: str,
        step: Step,
        manifest: ActionManifest,
        *,
        repository: str = "",
        ref: str = "",
        allow_pre: bool = True,
    ) -> None:
        super().__init__(uses, step)
        self.manifest = manifest
        self.repository = repository
        self.ref = ref
        runs = manifest.runs
        # Local actions are loaded when their step runs, after the job's pre
        # phase: GitHub does not run their ``pre`` either.
        self.has_pre = allow_pre and bool(runs.pre)
        self._state: dict[str, str] = {}
        self._main_ran = False

    def _condition(self, rt: StepRuntime, raw: str | None) -> bool:
        return bool(evaluate_condition(raw or "always()", current_expr(rt)))

    async def pre(self, rt: StepRuntime) -> PhaseOutcome:
        runs = self.manifest.runs
        if not runs.pre:
            return "success"
        try:
            if not self._condition(rt, runs.pre_if):
                rt.log([f"Skipping pre of {self.uses}: pre-if evaluated to false"])
                return "success"
        except ExpressionError as exc:
            return expression_failure(rt, self.step, exc)
        return await self._run(rt, runs.pre, "pre")

    async def main(self, rt: StepRuntime) -> PhaseOutcome:
        assert self.manifest.runs.main is not None
        outcome = await self._run(rt, self.manifest.runs.main, "main")
        self._main_ran = True
        self._has_post = bool(self.manifest.runs.post)
        return outcome

    async def post(self, rt: StepRuntime) -> PhaseOutcome:
        runs = self.manifest.runs
        if not runs.post or not self._main_ran:
            return "success"
        try:
            if not self._condition(rt, runs.post_if):
                rt.log([f"Skipping post of {self.uses}: post-if evaluated to false"])
                return "success"
        except ExpressionError as exc:
            return expression_failure(rt, self.step, exc)
        return await self._run(rt, runs.post, "post")

    async def _run(self, rt: StepRuntime, script: str, phase: str) -> PhaseOutcome:
        manifest = self.manifest
        node = shutil.which("node", path=rt.env.get("PATH", os.defpath))
        if node is None:
            rt.fail(
                f"JavaScript action '{self.uses}' needs Node.js ({manifest.runs.using}), "
                "but no 'node' was found on PATH: install Node.js or add actions/setup-node before this step"
            )
            return "failure"
        wanted = int(manifest.runs.using.removeprefix("node"))
        found = _node_version(node)
        if node_major(found) is not None and node_major(found) != wanted and phase == "main":
            log_warning(
                rt,
                f"{self.uses} is a {manifest.runs.using} action; running it with node {found} from {node}",
            )
        entry = (manifest.directory / script).resolve()
        if manifest.directory.resolve() not in entry.parents:
            rt.fail(f"{manifest.file}: runs.{phase} '{script}' is outside the action's directory")
            return "failure"
        if not entry.is_file():
            rt.fail(f"{manifest.file}: runs.{phase} file not found: {entry}")
            return "failure"
        try:
            inputs = self.inputs(rt, {k: i.default for k, i in manifest.inputs.items()})
        except ExpressionError as exc:
            return expression_failure(rt, self.step, exc)
        self._warn_unexpected(rt, inputs, phase)
        extra = input_env(inputs)
        extra.update(
            {
                "GITHUB_ACTION_PATH": str(manifest.directory),
                "GITHUB_ACTION_REPOSITORY": self.repository,
                "GITHUB_ACTION_REF": self.ref,
            }
        )
        state = dict(self._state)
        state.update(rt.state)
        extra.update({f"STATE_{k}": v for k, v in state.items()})
        saved = dict(rt.env)
        rt.env.update(extra)
        try:
            code = await rt.run_command([node, str(entry)], cwd=rt.workspace)
        finally:
            rt.env.clear()
            rt.env.update(saved)
        self._state.update(rt.state)
        if code != 0:
            if not rt.interrupted:
                rt.fail(f"Process completed with exit code {code}.")
            return "failure"
        return "success"

    def _warn_unexpected(self, rt: StepRuntime, inputs: dict[str, str], phase: str) -> None:
        if phase != "main":
            return
        known = {k.lower() for k in self.manifest.inputs}
        unexpected = [k for k in self.step.with_ if k.lower() not in known]
        if unexpected and self.manifest.inputs is not None:
            names = ", ".join(f"'{k}'" for k in unexpected)
            valid = ", ".join(f"'{k}'" for k in self.manifest.inputs)
            log_warning(rt, f"Unexpected input(s) {names}, valid inputs are [{valid}]")


