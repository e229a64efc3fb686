"""Composite actions (``runs.using: composite``).

The nested steps run inside the calling step: their output is that step's
log, their failure is its failure. Each nested step gets a runner
``StepRun`` of its own (so shells, file commands, masking and timeouts are
exactly the workflow's), with the expression contexts GitHub gives a
composite: ``inputs`` are the action's inputs, ``steps`` only the
composite's own steps, ``github.action_path`` its directory, and ``env`` the
job's environment plus the calling step's ``env`` plus the nested step's.
A nested step's ``env`` does not leak into the next one; ``GITHUB_ENV`` and
``GITHUB_PATH`` writes do reach later nested steps and the rest of the job.

Nested ``uses:`` are resolved by the same resolver (nested composites work);
their ``post`` phases run in the composite's post, in reverse order.
Outputs are the action's ``outputs.<id>.value`` expressions, evaluated
after the steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pheme.core.workflow.model import Step
from pheme.errors import ActionError, ExpressionError
from pheme.execution._expr import EvalContext, evaluate_condition, evaluate_raw, render, to_string, truthy
from pheme.execution._steps import FailingStep, PhaseOutcome, RunStep, StepImpl, StepRuntime
from pheme.execution.actions._base import ActionStep, expression_failure
from pheme.execution.actions._runtime import set_output
from pheme.execution.actions.manifest import ActionManifest

if TYPE_CHECKING:
    from pheme.execution.actions.resolver import Resolver

__all__ = ["CompositeAction"]

MAX_DEPTH = 9  # GitHub allows nine levels of nested composite actions


def _env_strings(raw: Any, ctx: EvalContext) -> dict[str, str]:
    if not raw:
        return {}
    if isinstance(raw, str):
        value = evaluate_raw(raw, ctx)
        if not isinstance(value, dict):
            raise ExpressionError("evaluation", "env must evaluate to a mapping")
        raw = value
    return {str(k): render(v, ctx) if isinstance(v, str) else to_string(v) for k, v in raw.items()}


class CompositeAction(ActionStep):
    def __init__(
        self,
        uses: str,
        step: Step,
        manifest: ActionManifest,
        resolver: Resolver,
        *,
        repository: str = "",
        ref: str = "",
        depth: int = 1,
    ) -> None:
        super().__init__(uses, step)
        self.manifest = manifest
        self.resolver = resolver
        self.repository = repository
        self.ref = ref
        self.depth = depth
        self._posts: list[tuple[StepImpl, StepRuntime]] = []

    async def main(self, rt: StepRuntime) -> PhaseOutcome:
        manifest = self.manifest
        if self.depth > MAX_DEPTH:
            rt.fail(f"composite action '{self.uses}' is nested more than {MAX_DEPTH} levels deep")
            return "failure"
        try:
            inputs = self.inputs(rt, {k: i.default for k, i in manifest.inputs.items()})
            caller_env = _env_strings(self.step.env, rt.expr)
        except ExpressionError as exc:
            return expression_failure(rt, self.step, exc)
        steps_ctx: dict[str, Any] = {}
        failed = False
        for nested in manifest.runs.steps:
            env_view = {**rt.job_env(), **caller_env}
            ctx = self._context(rt, inputs, steps_ctx, env_view, "failure" if failed else rt.expr.job_status)
            try:
                run_it = evaluate_condition(nested.if_, ctx)
            except ExpressionError as exc:
                expression_failure(rt, nested, exc)
                failed = True
                continue
            if not run_it:
                if nested.id:
                    steps_ctx[nested.id] = {"outputs": {}, "outcome": "skipped", "conclusion": "skipped"}
                continue
            try:
                step_env = {**caller_env, **_env_strings(nested.env, ctx)}
                ctx = self._context(
                    rt,
                    inputs,
                    steps_ctx,
                    {**rt.job_env(), **step_env},
                    "failure" if failed else rt.expr.job_status,
                )
                coe = nested.continue_on_error
                continue_on_error = coe if isinstance(coe, bool) else truthy(evaluate_raw(coe, ctx))
            except ExpressionError as exc:
                expression_failure(rt, nested, exc)
                failed = True
                continue
            sr = self._child(rt, nested, ctx, step_env)
            impl = self._impl(nested)
            if nested.run is None:
                rt.log([f"##[group]Run {nested.uses}", "##[endgroup]"])
            phase = await impl.main(sr)
            outcome = "failure" if phase == "failure" or sr.failed else "success"
            if sr.cancelled:
                outcome = "cancelled"
            conclusion = "success" if outcome == "failure" and continue_on_error else outcome
            if nested.id:
                steps_ctx[nested.id] = {
                    "outputs": dict(sr.outputs),
                    "outcome": outcome,
                    "conclusion": conclusion,
                }
            if impl.has_post:
                self._posts.append((impl, sr))
            if conclusion != "success":
                failed = True
        self._has_post = bool(self._posts)
        # Outputs are set even when a step failed (GitHub evaluates them anyway).
        out_ctx = self._context(rt, inputs, steps_ctx, {**rt.job_env(), **caller_env}, rt.expr.job_status)
        for name, output in manifest.outputs.items():
            try:
                value = (
                    render(output.value, out_ctx)
                    if isinstance(output.value, str)
                    else to_string(output.value)
                )
            except ExpressionError as exc:
                expression_failure(rt, self.step, exc)
                failed = True
                continue
            set_output(rt, name, value)
        return "failure" if failed else "success"

    async def post(self, rt: StepRuntime) -> PhaseOutcome:
        outcome: PhaseOutcome = "success"
        for impl, sr in reversed(self._posts):
            sr.env.update({f"STATE_{k}": v for k, v in sr.state.items()})
            sr.expr = EvalContext(
                contexts=sr.expr.contexts, job_status=rt.job_status(), hash_files=sr.expr.hash_files
            )
            if await impl.post(sr) == "failure" or sr.failed:
                outcome = "failure"
        return outcome

    # -- helpers -------------------------------------------------------------
    def _context(
        self,
        rt: StepRuntime,
        inputs: dict[str, str],
        steps_ctx: dict[str, Any],
        env_view: dict[str, str],
        status: Literal["success", "failure", "cancelled", "skipped"],
    ) -> EvalContext:
        contexts = dict(rt.expr.contexts)
        github = dict(contexts.get("github") or {})
        github.update(
            {
                "action_path": str(self.manifest.directory),
                "action_repository": self.repository,
                "action_ref": self.ref,
            }
        )
        contexts.update({"inputs": dict(inputs), "steps": steps_ctx, "env": env_view, "github": github})
        return EvalContext(contexts=contexts, job_status=status, hash_files=rt.expr.hash_files)

    def _child(
        self, rt: StepRuntime, nested: Step, ctx: EvalContext, step_env: dict[str, str]
    ) -> StepRuntime:
        return rt.child(
            nested,
            expr=ctx,
            step_env=step_env,
            extra_env={
                "GITHUB_ACTION_PATH": str(self.manifest.directory),
                "GITHUB_ACTION_REPOSITORY": self.repository,
                "GITHUB_ACTION_REF": self.ref,
            },
        )

    def _impl(self, nested: Step) -> StepImpl:
        if nested.run is not None:
            return RunStep(nested)
        assert nested.uses is not None
        try:
            return self.resolver.resolve(nested.uses, nested, depth=self.depth + 1)
        except ActionError as exc:
            return FailingStep(str(exc))
