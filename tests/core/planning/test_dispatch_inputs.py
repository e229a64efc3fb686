"""workflow_dispatch inputs: typed like the `inputs` context, bad values named in one line."""

from __future__ import annotations

import pytest

from pheme.core.planning.triggers import resolve_dispatch_inputs
from pheme.core.workflow.model import EventTrigger, WorkflowInput
from pheme.errors import PlanningError


def trigger(*inputs: WorkflowInput) -> EventTrigger:
    return EventTrigger("workflow_dispatch", inputs={i.name: i for i in inputs})


LEVEL = WorkflowInput("level", type="choice", options=("low", "high"), default="low")
DRY = WorkflowInput("dry", type="boolean", default=False)
COUNT = WorkflowInput("count", type="number")
ENV = WorkflowInput("target", type="environment")
NOTE = WorkflowInput("note", required=True)


def test_values_are_typed() -> None:
    t = trigger(LEVEL, DRY, COUNT, ENV, NOTE)
    got = resolve_dispatch_inputs(
        t, {"level": "high", "dry": "true", "count": "3", "target": "prod", "note": "hi"}
    )
    assert got == {"level": "high", "dry": True, "count": 3, "target": "prod", "note": "hi"}
    assert isinstance(got["count"], int)
    assert resolve_dispatch_inputs(t, {"note": "x", "count": "2.5"})["count"] == 2.5


def test_defaults_and_empty_values_for_optional_inputs() -> None:
    got = resolve_dispatch_inputs(trigger(LEVEL, DRY, COUNT, ENV), {})
    assert got == {"level": "low", "dry": False, "count": 0, "target": ""}
    string_default = WorkflowInput("flag", type="boolean", default="true")
    assert resolve_dispatch_inputs(trigger(string_default), {}) == {"flag": True}


def test_choice_outside_the_options() -> None:
    with pytest.raises(PlanningError) as info:
        resolve_dispatch_inputs(trigger(LEVEL), {"level": "loud"})
    assert str(info.value) == "input 'level': 'loud' is not one of the choices: low, high"


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ({"dry": "yes"}, "input 'dry': value 'yes' is not a boolean"),
        ({"count": "many"}, "input 'count': value 'many' is not a number"),
        ({"count": "nan"}, "input 'count'"),
        ({"verbose": "1"}, "unknown input 'verbose'"),
    ],
)
def test_bad_values_are_reported_by_name(given: dict[str, str], fragment: str) -> None:
    with pytest.raises(PlanningError, match=fragment):
        resolve_dispatch_inputs(trigger(DRY, COUNT), given)


def test_required_input_missing() -> None:
    with pytest.raises(PlanningError, match="input 'note' is required"):
        resolve_dispatch_inputs(trigger(NOTE), {})


def test_required_input_with_a_default_uses_it() -> None:
    spec = WorkflowInput("who", required=True, default="mona")
    assert resolve_dispatch_inputs(trigger(spec), {}) == {"who": "mona"}


def test_no_inputs_declared() -> None:
    with pytest.raises(PlanningError, match=r"declared inputs: none"):
        resolve_dispatch_inputs(EventTrigger("workflow_dispatch"), {"x": "1"})
