"""Does an event trigger a workflow, and if not, why.

GitHub decides this before any job exists, from ``on:`` alone. The rules
implemented here (docs: "Events that trigger workflows" and "Workflow syntax:
on.<event>.<filter>"):

- the workflow must list the event;
- activity ``types`` restrict events that have them; ``pull_request`` and
  ``pull_request_target`` default to ``opened, synchronize, reopened``,
  ``merge_group`` to ``checks_requested``, every other event to all types;
- ``push``: ``branches``/``branches-ignore`` apply to branch pushes and
  ``tags``/``tags-ignore`` to tag pushes. Defining only one kind means the
  other kind of ref never triggers; defining neither means both do.
  Path filters are not evaluated for tag pushes;
- ``pull_request``/``pull_request_target``: ``branches`` filter the *base*
  branch; paths apply to the changed files;
- path filters: ``paths`` needs at least one changed file included,
  ``paths-ignore`` needs at least one changed file not ignored.

Unknown facts do not block: a ``None`` ref, base branch, activity type or
changed-file list makes the matching filter pass (as act does when it cannot
tell), so ``pheme list`` never claims "not triggered" on a guess.

:func:`resolve_dispatch_inputs` types ``workflow_dispatch`` (and
``workflow_call``) inputs the way the ``inputs`` context sees them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pheme.core.planning.filters import filtered, skip
from pheme.core.workflow.model import EventTrigger, Workflow, WorkflowInput
from pheme.errors import PlanningError

__all__ = [
    "DEFAULT_TYPES",
    "Event",
    "InputValue",
    "TriggerDecision",
    "known_events",
    "match_event",
    "normalize_ref",
    "resolve_dispatch_inputs",
]

# A typed value of the ``inputs`` context.
InputValue = str | bool | int | float

_KNOWN_EVENTS = frozenset(
    {
        "branch_protection_rule",
        "check_run",
        "check_suite",
        "create",
        "delete",
        "deployment",
        "deployment_status",
        "discussion",
        "discussion_comment",
        "fork",
        "gollum",
        "image_version",
        "issue_comment",
        "issues",
        "label",
        "merge_group",
        "milestone",
        "page_build",
        "project",
        "project_card",
        "project_column",
        "public",
        "pull_request",
        "pull_request_comment",
        "pull_request_review",
        "pull_request_review_comment",
        "pull_request_target",
        "push",
        "registry_package",
        "release",
        "repository_dispatch",
        "schedule",
        "status",
        "watch",
        "workflow_call",
        "workflow_dispatch",
        "workflow_run",
    }
)

# Activity types used when a workflow gives none; other events accept every type.
DEFAULT_TYPES: Mapping[str, tuple[str, ...]] = {
    "pull_request": ("opened", "synchronize", "reopened"),
    "pull_request_target": ("opened", "synchronize", "reopened"),
    "merge_group": ("checks_requested",),
}

_PATH_FILTER_EVENTS = frozenset({"push", "pull_request", "pull_request_target"})


def known_events() -> frozenset[str]:
    """The event names GitHub accepts under ``on:``."""
    return _KNOWN_EVENTS


@dataclass(frozen=True)
class Event:
    """What happened, as far as trigger matching needs to know.

    ``ref`` is a full ref (``refs/heads/main``, ``refs/tags/v1``); a bare name
    is taken as a branch. For pull requests, ``base_ref`` (the branch the PR
    targets, bare or full) is what ``branches`` filter. ``changed_files`` of
    ``None`` means unknown, and path filters then pass.
    """

    name: str
    ref: str | None = None
    changed_files: tuple[str, ...] | None = None
    action: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    base_ref: str | None = None


@dataclass(frozen=True, slots=True)
class TriggerDecision:
    """``reason`` is a short phrase saying why not (empty when triggered)."""

    triggered: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.triggered


_YES = TriggerDecision(True)


def _no(reason: str) -> TriggerDecision:
    return TriggerDecision(False, reason)


def normalize_ref(ref: str | None) -> str | None:
    """A full ref: ``main`` → ``refs/heads/main``; full refs are kept."""
    if ref is None or ref == "":
        return None
    return ref if ref.startswith("refs/") else f"refs/heads/{ref}"


def _split_ref(ref: str | None) -> tuple[str | None, str]:
    """``("branch", name)``, ``("tag", name)``, ``("other", ref)`` or ``(None, "")`` if unknown."""
    full = normalize_ref(ref)
    if full is None:
        return None, ""
    if full.startswith("refs/heads/"):
        return "branch", full[len("refs/heads/") :]
    if full.startswith("refs/tags/"):
        return "tag", full[len("refs/tags/") :]
    return "other", full


def _list(patterns: Sequence[str]) -> str:
    return ", ".join(patterns) if patterns else "(none)"


def _check_names(
    kind: str, name: str, include: tuple[str, ...] | None, ignore: tuple[str, ...] | None
) -> TriggerDecision:
    """Apply ``<kind>es``/``<kind>es-ignore`` (``branches``, ``tags``) to one short ref name."""
    plural = "branches" if kind == "branch" else "tags"
    if include is not None and (not include or skip(include, [name])):
        return _no(f"{kind} '{name}' does not match {plural}: {_list(include)}")
    if ignore is not None and filtered(ignore, [name]):
        return _no(f"{kind} '{name}' is excluded by {plural}-ignore: {_list(ignore)}")
    return _YES


def _check_paths(trigger: EventTrigger, changed: tuple[str, ...] | None) -> TriggerDecision:
    if changed is None:
        return _YES
    if trigger.paths is not None and (not trigger.paths or skip(trigger.paths, changed)):
        if not changed:
            return _no("no changed files to match paths")
        return _no(f"no changed file matches paths: {_list(trigger.paths)}")
    if trigger.paths_ignore is not None and filtered(trigger.paths_ignore, changed):
        if not changed:
            return _no("no changed files outside paths-ignore")
        return _no(f"every changed file is excluded by paths-ignore: {_list(trigger.paths_ignore)}")
    return _YES


def _check_types(trigger: EventTrigger, event: Event) -> TriggerDecision:
    types = trigger.types if trigger.types is not None else DEFAULT_TYPES.get(event.name)
    if types is None or event.action is None:
        return _YES
    if event.action not in types:
        return _no(f"activity type '{event.action}' is not one of: {_list(types)}")
    return _YES


def _match_push(trigger: EventTrigger, event: Event) -> TriggerDecision:
    kind, name = _split_ref(event.ref)
    branch_filtered = trigger.branches is not None or trigger.branches_ignore is not None
    tag_filtered = trigger.tags is not None or trigger.tags_ignore is not None
    if kind == "branch":
        if tag_filtered and not branch_filtered:
            return _no(f"branch '{name}' pushed but the push trigger only filters tags")
        if branch_filtered:
            decision = _check_names("branch", name, trigger.branches, trigger.branches_ignore)
            if not decision:
                return decision
    elif kind == "tag":
        if branch_filtered and not tag_filtered:
            return _no(f"tag '{name}' pushed but the push trigger only filters branches")
        if tag_filtered:
            return _check_names("tag", name, trigger.tags, trigger.tags_ignore)
        # Path filters are not evaluated for pushes of tags.
        return _YES
    elif kind == "other" and (branch_filtered or tag_filtered):
        return _no(f"ref '{name}' is neither a branch nor a tag")
    return _check_paths(trigger, event.changed_files)


def _payload_get(payload: Mapping[str, Any], *keys: str) -> Any:
    value: Any = payload
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _short_branch(ref: str | None) -> str | None:
    kind, name = _split_ref(ref)
    return name if kind == "branch" else None


def _match_pull_request(trigger: EventTrigger, event: Event) -> TriggerDecision:
    decision = _check_types(trigger, event)
    if not decision:
        return decision
    base_ref = event.base_ref
    if base_ref is None:
        found = _payload_get(event.payload, "pull_request", "base", "ref")
        base_ref = found if isinstance(found, str) else None
    base = _short_branch(base_ref)
    if base is not None:
        decision = _check_names("branch", base, trigger.branches, trigger.branches_ignore)
        if not decision:
            return _no(f"base {decision.reason}")
    return _check_paths(trigger, event.changed_files)


def _match_workflow_run(trigger: EventTrigger, event: Event) -> TriggerDecision:
    decision = _check_types(trigger, event)
    if not decision:
        return decision
    name = _payload_get(event.payload, "workflow", "name") or _payload_get(
        event.payload, "workflow_run", "name"
    )
    if trigger.workflows is not None and isinstance(name, str) and name not in trigger.workflows:
        return _no(f"workflow '{name}' is not one of: {_list(trigger.workflows)}")
    head = _payload_get(event.payload, "workflow_run", "head_branch")
    if isinstance(head, str):
        return _check_names("branch", head, trigger.branches, trigger.branches_ignore)
    return _YES


def _match_merge_group(trigger: EventTrigger, event: Event) -> TriggerDecision:
    decision = _check_types(trigger, event)
    if not decision:
        return decision
    base_ref = event.base_ref
    if base_ref is None:
        found = _payload_get(event.payload, "merge_group", "base_ref")
        base_ref = found if isinstance(found, str) else None
    base = _short_branch(base_ref)
    if base is not None:
        return _check_names("branch", base, trigger.branches, trigger.branches_ignore)
    return _YES


def _match_schedule(trigger: EventTrigger, event: Event) -> TriggerDecision:
    cron = event.payload.get("schedule")
    if isinstance(cron, str) and trigger.crons and cron not in trigger.crons:
        return _no(f"schedule '{cron}' is not one of: {_list(trigger.crons)}")
    return _YES


def match_event(workflow: Workflow, event: Event) -> TriggerDecision:
    """Whether ``event`` starts a run of ``workflow``; if not, the reason."""
    trigger = workflow.on.get(event.name)
    if trigger is None:
        listens = ", ".join(workflow.on) if workflow.on else "no events"
        return _no(f"does not run on {event.name} (on: {listens})")
    if event.name == "push":
        return _match_push(trigger, event)
    if event.name in ("pull_request", "pull_request_target"):
        return _match_pull_request(trigger, event)
    if event.name == "workflow_run":
        return _match_workflow_run(trigger, event)
    if event.name == "merge_group":
        return _match_merge_group(trigger, event)
    if event.name == "schedule":
        return _match_schedule(trigger, event)
    return _check_types(trigger, event)


# --- workflow_dispatch / workflow_call inputs ---------------------------------

_INT_RE = re.compile(r"[+-]?\d+")


def _as_bool(spec: WorkflowInput, value: object, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise PlanningError(f"input '{spec.name}': {what} '{value}' is not a boolean (true or false)")


def _as_number(spec: WorkflowInput, value: object, what: str) -> int | float:
    number: int | float
    if isinstance(value, bool):
        raise PlanningError(f"input '{spec.name}': {what} '{value}' is not a number")
    if isinstance(value, int | float):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = int(text) if _INT_RE.fullmatch(text) else float(text)
        except ValueError:
            raise PlanningError(f"input '{spec.name}': {what} '{value}' is not a number") from None
    else:
        raise PlanningError(f"input '{spec.name}': {what} '{value}' is not a number")
    if isinstance(number, float) and not math.isfinite(number):
        raise PlanningError(f"input '{spec.name}': {what} '{value}' is not a finite number")
    return number


def _as_string(spec: WorkflowInput, value: object, what: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise PlanningError(f"input '{spec.name}': {what} must be a string, not {type(value).__name__}")


def _coerce(spec: WorkflowInput, value: object, what: str) -> InputValue:
    if spec.type == "boolean":
        return _as_bool(spec, value, what)
    if spec.type == "number":
        return _as_number(spec, value, what)
    text = _as_string(spec, value, what)
    if spec.type == "choice" and text not in spec.options:
        shown = f"'{text}'" if what == "value" else f"{what} '{text}'"
        raise PlanningError(
            f"input '{spec.name}': {shown} is not one of the choices: {', '.join(spec.options)}"
        )
    return text


def _zero(spec: WorkflowInput) -> InputValue:
    """GitHub's value for an optional input that was neither given nor defaulted."""
    if spec.type == "boolean":
        return False
    if spec.type == "number":
        return 0
    return ""


def resolve_dispatch_inputs(
    trigger: EventTrigger, given: Mapping[str, str | bool | int | float]
) -> dict[str, InputValue]:
    """Type the given inputs against the trigger's declared ones; apply defaults.

    Raises PlanningError (one line, naming the input) for an unknown input,
    a missing required one, or a value of the wrong type / not a choice.
    The result has every declared input, in declaration order.
    """
    unknown = [name for name in given if name not in trigger.inputs]
    if unknown:
        declared = ", ".join(trigger.inputs) if trigger.inputs else "none"
        raise PlanningError(f"unknown input '{unknown[0]}' (declared inputs: {declared})")
    resolved: dict[str, InputValue] = {}
    for name, spec in trigger.inputs.items():
        if name in given:
            resolved[name] = _coerce(spec, given[name], "value")
        elif spec.default is not None:
            resolved[name] = _coerce(spec, spec.default, "default")
        elif spec.required:
            raise PlanningError(f"input '{name}' is required but was not given")
        else:
            resolved[name] = _zero(spec)
    return resolved
