"""Base of the built-ins: input handling, the banner, errors as one line."""

from __future__ import annotations

from typing import Any, ClassVar

from pheme.core.workflow.model import Step
from pheme.errors import ExpressionError, PhemeError
from pheme.execution._steps import PhaseOutcome, StepRuntime
from pheme.execution.actions._base import ActionStep, expression_failure
from pheme.execution.actions._runtime import log_warning
from pheme.execution.actions.builtins._services import BuiltinServices

__all__ = ["Builtin", "as_bool"]


def as_bool(value: str | None, default: bool = False) -> bool:
    """``core.getBooleanInput``: true/True/TRUE or false/False/FALSE."""
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() == "true"


class Builtin(ActionStep):
    NAME: ClassVar[str] = ""
    # input name -> default (None: no default). Unknown inputs draw a warning.
    INPUTS: ClassVar[dict[str, Any]] = {}
    REQUIRED: ClassVar[tuple[str, ...]] = ()

    def __init__(self, uses: str, step: Step, services: BuiltinServices) -> None:
        super().__init__(uses, step)
        self.services = services
        self.values: dict[str, str] = {}

    async def main(self, rt: StepRuntime) -> PhaseOutcome:
        rt.log([f"Pheme built-in {self.NAME} (offline implementation of {self.uses})"])
        try:
            self.values = self.inputs(rt, self.INPUTS)
        except ExpressionError as exc:
            return expression_failure(rt, self.step, exc)
        known = {k.lower() for k in self.INPUTS}
        unexpected = [k for k in self.step.with_ if k.lower() not in known]
        if unexpected:
            names = ", ".join(f"'{k}'" for k in unexpected)
            valid = ", ".join(f"'{k}'" for k in self.INPUTS)
            log_warning(rt, f"Unexpected input(s) {names}, valid inputs are [{valid}]")
        for name in self.REQUIRED:
            if not self.values.get(name, "").strip():
                rt.fail(f"Input required and not supplied: {name}")
                return "failure"
        try:
            return await self.run(rt)
        except PhemeError as exc:
            rt.fail(str(exc))
            return "failure"

    async def run(self, rt: StepRuntime) -> PhaseOutcome:  # pragma: no cover - abstract
        raise NotImplementedError

    def get(self, name: str, default: str = "") -> str:
        value = self.values.get(name)
        return default if value is None else value
