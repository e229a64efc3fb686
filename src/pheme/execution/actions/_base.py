"""The shape every action step shares: three phases, inputs, a banner."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pheme.core.workflow.model import Step
from pheme.errors import ExpressionError
from pheme.execution._steps import PhaseOutcome, StepRuntime
from pheme.execution.actions._runtime import evaluate_inputs

__all__ = ["ActionStep", "expression_failure"]


def expression_failure(rt: StepRuntime, step: Step, exc: ExpressionError) -> PhaseOutcome:
    where = f"(Line: {step.pos.line}, Col: {step.pos.col}): " if step.pos.line else ""
    detail = exc.full_message() if hasattr(exc, "full_message") else str(exc)
    rt.fail(f"{where}{detail}")
    return "failure"


class ActionStep:
    """Base of every ``uses:`` implementation. Subclasses override the phases."""

    has_pre: bool = False

    def __init__(self, uses: str, step: Step) -> None:
        self.uses = uses
        self.step = step
        self._has_post = False

    @property
    def has_post(self) -> bool:
        # Asked by the job right after ``main``; an action decides then.
        return self._has_post

    @has_post.setter
    def has_post(self, value: bool) -> None:
        self._has_post = value

    async def pre(self, rt: StepRuntime) -> PhaseOutcome:
        return "success"

    async def main(self, rt: StepRuntime) -> PhaseOutcome:  # pragma: no cover - abstract
        raise NotImplementedError

    async def post(self, rt: StepRuntime) -> PhaseOutcome:
        return "success"

    def inputs(self, rt: StepRuntime, defaults: Mapping[str, Any]) -> dict[str, str]:
        return evaluate_inputs(rt, self.step.with_, defaults)
