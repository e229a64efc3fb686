"""What GitHub allows where in a workflow file: keys, value types and the
expression contexts/functions each key accepts.

This is our own encoding of the table GitHub's parsers read from their
``workflow-v1.0.json`` schema (the "strict" root, which is what GitHub uses to
validate a workflow). We keep GitHub's definition names so a reader of both can
line them up, but only what validation needs: no descriptions, and the ~40
trigger events are generated from the compact :data:`EVENTS` table.

A definition is one of: a mapping (well-known ``properties`` and/or "loose"
key/value types), a sequence (``item`` type), a one-of (alternatives), or a
scalar (string with an optional constant / non-empty rule, boolean, number,
null). ``context`` lists the named values and functions (``name(min,max)``)
that ``${{ }}`` may use at that place; a definition *adds* its context to the
one inherited from its parent, exactly as GitHub's reader does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DEFS", "EVENTS", "Def", "split_context"]


@dataclass(slots=True)
class Def:
    name: str
    kind: str  # "mapping" | "sequence" | "one-of" | "string" | "boolean" | "number" | "null"
    context: tuple[str, ...] = ()
    # mapping
    properties: dict[str, tuple[str, bool]] = field(default_factory=dict)  # key -> (type, required)
    loose_key: str | None = None
    loose_value: str | None = None
    # sequence
    item: str | None = None
    # one-of
    one_of: tuple[str, ...] = ()
    # string
    constant: str | None = None
    non_empty: bool = False


DEFS: dict[str, Def] = {}


def _add(d: Def) -> None:
    DEFS[d.name] = d


def _map(
    name: str,
    props: dict[str, str] | None = None,
    *,
    loose: tuple[str, str] | None = None,
    context: tuple[str, ...] = (),
) -> None:
    """``props`` keys ending in ``!`` are required properties."""
    properties: dict[str, tuple[str, bool]] = {}
    for key, typ in (props or {}).items():
        if key.endswith("!"):
            properties[key[:-1]] = (typ, True)
        else:
            properties[key] = (typ, False)
    _add(
        Def(
            name,
            "mapping",
            context,
            properties=properties,
            loose_key=loose[0] if loose else None,
            loose_value=loose[1] if loose else None,
        )
    )


def _seq(name: str, item: str, *, context: tuple[str, ...] = ()) -> None:
    _add(Def(name, "sequence", context, item=item))


def _one(name: str, *alternatives: str, context: tuple[str, ...] = ()) -> None:
    _add(Def(name, "one-of", context, one_of=alternatives))


def _str(
    name: str, *, constant: str | None = None, non_empty: bool = False, context: tuple[str, ...] = ()
) -> None:
    _add(Def(name, "string", context, constant=constant, non_empty=non_empty))


def _scalar(name: str, kind: str, *, context: tuple[str, ...] = ()) -> None:
    _add(Def(name, kind, context))


def _allowed(name: str, values: tuple[str, ...]) -> None:
    """GitHub's ``allowed-values``: a one-of of string constants."""
    names = []
    for v in values:
        n = f"{name}-{v}"
        _str(n, constant=v)
        names.append(n)
    _one(name, *names)


def split_context(context: tuple[str, ...]) -> tuple[frozenset[str], frozenset[str]]:
    """Split an allowed-context list into (named values, function names)."""
    named = []
    funcs = []
    for c in context:
        paren = c.find("(")
        if paren >= 0:
            funcs.append(c[:paren])
        else:
            named.append(c)
    return frozenset(named), frozenset(funcs)


# ---------------------------------------------------------------- built-ins
_scalar("null", "null")
_scalar("boolean", "boolean")
_scalar("number", "number")
_str("string")
_seq("sequence", "any")
_map("mapping", loose=("string", "any"))
_one("any", "null", "boolean", "number", "string", "sequence", "mapping")

# ---------------------------------------------------------------- contexts
_GIV = ("github", "inputs", "vars")
_NEEDS = (*_GIV, "needs")
_STRATEGY = (*_NEEDS, "strategy", "matrix")
_RUNNER = (*_STRATEGY, "secrets", "steps", "job", "runner", "env")
_STEPS = (*_RUNNER, "hashFiles(1,255)")
_RUNNER_NO_SECRETS = (*_STRATEGY, "steps", "job", "runner", "env")
_STATUS_JOB = ("always(0,0)", "failure(0,MAX)", "cancelled(0,0)", "success(0,MAX)")
_STATUS_STEP = ("always(0,0)", "failure(0,0)", "cancelled(0,0)", "success(0,0)")

# ---------------------------------------------------------------- common scalars
_str("non-empty-string", non_empty=True)
_seq("sequence-of-non-empty-string", "non-empty-string")
_seq("sequence-of-string", "string")
_one("string-or-sequence", "non-empty-string", "sequence-of-non-empty-string")
_scalar("boolean-needs-context", "boolean", context=_NEEDS)
_scalar("number-needs-context", "number", context=_NEEDS)
_str("string-needs-context", context=_NEEDS)
_one("scalar-needs-context", "string", "boolean", "number", context=_STRATEGY)
_one(
    "scalar-needs-context-with-secrets",
    "string",
    "boolean",
    "number",
    context=(*_NEEDS, "secrets", "strategy", "matrix"),
)
_scalar("boolean-strategy-context", "boolean", context=_STRATEGY)
_scalar("number-strategy-context", "number", context=_STRATEGY)
_str("string-strategy-context", context=_STRATEGY)
_scalar("boolean-steps-context", "boolean", context=_STEPS)
_scalar("number-steps-context", "number", context=_STEPS)
_str("string-runner-context", context=_RUNNER)
_str("string-runner-context-no-secrets", context=_RUNNER_NO_SECRETS)
_str("string-steps-context", context=_STEPS)
_str("shell", non_empty=True)
_str("working-directory", non_empty=True)

# ---------------------------------------------------------------- root
_map(
    "workflow-root-strict",
    {
        "on!": "on-strict",
        "name": "string",
        "description": "string",
        "run-name": "run-name",
        "defaults": "workflow-defaults",
        "env": "workflow-env",
        "permissions": "permissions",
        "concurrency": "workflow-concurrency",
        "jobs!": "jobs",
    },
)
_str("run-name", context=_GIV)
_map("workflow-defaults", {"run": "workflow-defaults-run"})
_map("workflow-defaults-run", {"shell": "shell", "working-directory": "working-directory"})
_map("workflow-env", loose=("non-empty-string", "string"), context=(*_GIV, "secrets"))
_one("workflow-concurrency", "string", "concurrency-mapping", context=_GIV)
_one("job-concurrency", "non-empty-string", "concurrency-mapping", context=_STRATEGY)
_map(
    "concurrency-mapping",
    {"group!": "non-empty-string", "cancel-in-progress": "boolean", "queue": "concurrency-queue"},
)
_allowed("concurrency-queue", ("single", "max"))

# ---------------------------------------------------------------- permissions
_str("permission-level-read", constant="read")
_str("permission-level-write", constant="write")
_str("permission-level-no-access", constant="none")
_str("permission-level-shorthand-read-all", constant="read-all")
_str("permission-level-shorthand-write-all", constant="write-all")
_one("permission-level-any", "permission-level-read", "permission-level-write", "permission-level-no-access")
_one("permission-level-read-or-no-access", "permission-level-read", "permission-level-no-access")
_one("permission-level-write-or-no-access", "permission-level-write", "permission-level-no-access")
PERMISSION_SCOPES: dict[str, str] = {
    "actions": "permission-level-any",
    "artifact-metadata": "permission-level-any",
    "attestations": "permission-level-any",
    "checks": "permission-level-any",
    "code-quality": "permission-level-any",
    "contents": "permission-level-any",
    "copilot-requests": "permission-level-write-or-no-access",
    "deployments": "permission-level-any",
    "discussions": "permission-level-any",
    "drives": "permission-level-any",
    "id-token": "permission-level-write-or-no-access",
    "issues": "permission-level-any",
    "models": "permission-level-read-or-no-access",
    "packages": "permission-level-any",
    "pages": "permission-level-any",
    "pull-requests": "permission-level-any",
    "repository-projects": "permission-level-any",
    "security-events": "permission-level-any",
    "statuses": "permission-level-any",
    "vulnerability-alerts": "permission-level-read-or-no-access",
}
_map("permissions-mapping", dict(PERMISSION_SCOPES))
_one(
    "permissions",
    "permissions-mapping",
    "permission-level-shorthand-read-all",
    "permission-level-shorthand-write-all",
)

# ---------------------------------------------------------------- on:
# event -> None (takes no configuration) or {key: type}; a tuple as the type of
# ``types`` lists the allowed activity types.
_PR_TYPES = (
    "assigned", "unassigned", "labeled", "unlabeled", "opened", "edited", "closed", "reopened", "synchronize",
    "converted_to_draft", "locked", "unlocked", "enqueued", "dequeued", "milestoned", "demilestoned",
    "ready_for_review", "review_requested", "review_request_removed", "auto_merge_enabled",
    "auto_merge_disabled", "stacked",
)  # fmt: skip
_CED = ("created", "edited", "deleted")
_BR = {"branches": "string-or-sequence", "branches-ignore": "string-or-sequence"}
_PATHS = {"paths": "string-or-sequence", "paths-ignore": "string-or-sequence"}
EVENTS: dict[str, dict[str, str | tuple[str, ...]] | None] = {
    "branch_protection_rule": {"types": _CED},
    "check_run": {"types": ("completed", "created", "rerequested", "requested_action")},
    "check_suite": {"types": ("completed",)},
    "create": None,
    "delete": None,
    "deployment": None,
    "deployment_status": None,
    "discussion": {
        "types": (
            "created",
            "edited",
            "deleted",
            "transferred",
            "pinned",
            "unpinned",
            "labeled",
            "unlabeled",
            "locked",
            "unlocked",
            "category_changed",
            "answered",
            "unanswered",
        )
    },
    "discussion_comment": {"types": _CED},
    "fork": None,
    "gollum": None,
    "image_version": {
        "types": ("created", "ready", "deleted"),
        "names": "string-or-sequence",
        "versions": "string-or-sequence",
    },
    "issue_comment": {"types": _CED},
    "issues": {
        "types": (
            "opened",
            "edited",
            "deleted",
            "transferred",
            "pinned",
            "unpinned",
            "closed",
            "reopened",
            "assigned",
            "unassigned",
            "labeled",
            "unlabeled",
            "locked",
            "unlocked",
            "milestoned",
            "demilestoned",
            "field_added",
            "field_removed",
            "typed",
            "untyped",
        )
    },
    "label": {"types": _CED},
    "merge_group": {"types": ("checks_requested",), **_BR},
    "milestone": {"types": ("created", "closed", "opened", "edited", "deleted")},
    "page_build": None,
    "project": {"types": ("created", "closed", "reopened", "edited", "deleted")},
    "project_card": {"types": ("created", "moved", "converted", "edited", "deleted")},
    "project_column": {"types": ("created", "updated", "moved", "deleted")},
    "public": None,
    "pull_request": {"types": _PR_TYPES, **_BR, **_PATHS},
    "pull_request_comment": {"types": _CED},
    "pull_request_review": {"types": ("submitted", "edited", "dismissed")},
    "pull_request_review_comment": {"types": _CED},
    "pull_request_target": {"types": _PR_TYPES, **_BR, **_PATHS},
    "push": {**_BR, "tags": "string-or-sequence", "tags-ignore": "string-or-sequence", **_PATHS},
    "registry_package": {"types": ("published", "updated")},
    "release": {
        "types": ("published", "unpublished", "created", "edited", "deleted", "prereleased", "released")
    },
    "repository_dispatch": {"types": "sequence-of-non-empty-string"},
    "schedule": {},  # special: a sequence of cron mappings
    "status": None,
    "watch": {"types": ("started",)},
    "workflow_call": {
        "inputs": "workflow-call-inputs",
        "secrets": "workflow-call-secrets",
        "outputs": "workflow-call-outputs",
    },
    "workflow_dispatch": {"inputs": "workflow-dispatch-inputs-or-null"},
    "workflow_run": {
        "types": ("requested", "completed", "in_progress"),
        "workflows": "string-or-sequence",
        **_BR,
    },
}


def _build_events() -> None:
    strings = []
    event_props: dict[str, str] = {}
    for event, config in EVENTS.items():
        base = event.replace("_", "-")
        _str(f"{base}-string", constant=event)
        strings.append(f"{base}-string")
        event_props[event] = base
        if event == "schedule":
            _seq(base, "cron-mapping")
            continue
        if config is None:
            _scalar(base, "null")
            continue
        props: dict[str, str] = {}
        for key, typ in config.items():
            if isinstance(typ, tuple):
                _allowed(f"{base}-activity-type", typ)
                _seq(f"{base}-activity-types", f"{base}-activity-type")
                _one(f"{base}-activity", f"{base}-activity-type", f"{base}-activity-types")
                props[key] = f"{base}-activity"
            else:
                props[key] = typ
        _map(
            f"{base}-mapping",
            props,
            loose=("non-empty-string", "any") if event == "workflow_dispatch" else None,
        )
        _one(base, "null", f"{base}-mapping")
    _one("on-string-strict", *strings)
    _seq("on-sequence-strict", "on-string-strict")
    _map("on-mapping-strict", event_props)
    _one("on-strict", "on-string-strict", "on-sequence-strict", "on-mapping-strict")


_build_events()

_map("cron-mapping", {"cron!": "non-empty-string", "timezone": "non-empty-string"})

# workflow_call
_map("workflow-call-inputs", loose=("non-empty-string", "workflow-call-input-definition"))
_map(
    "workflow-call-input-definition",
    {
        "description": "string",
        "type!": "workflow-call-input-type",
        "required": "boolean",
        "default": "workflow-call-input-default",
    },
)
_str("input-type-string", constant="string")
_str("input-type-boolean", constant="boolean")
_str("input-type-number", constant="number")
_str("input-type-choice", constant="choice")
_str("input-type-environment", constant="environment")
_one("workflow-call-input-type", "input-type-string", "input-type-boolean", "input-type-number")
_one("workflow-call-input-default", "string", "boolean", "number", context=_GIV)
_map("workflow-call-secrets", loose=("non-empty-string", "workflow-call-secret-definition"))
_one("workflow-call-secret-definition", "null", "workflow-call-secret-mapping-definition")
_map("workflow-call-secret-mapping-definition", {"description": "string", "required": "boolean"})
_map("workflow-call-outputs", loose=("non-empty-string", "workflow-call-output-definition"))
_map("workflow-call-output-definition", {"description": "string", "value!": "workflow-output-context"})
_str("workflow-output-context", context=(*_GIV, "jobs"))

# workflow_dispatch
# GitHub (its canonical C# parser) accepts an input with no configuration
# (``input4:`` = a string input) and ignores unknown keys next to ``inputs``.
_map("workflow-dispatch-inputs", loose=("non-empty-string", "workflow-dispatch-input-or-null"))
_one("workflow-dispatch-input-or-null", "null", "workflow-dispatch-input")
_one("workflow-dispatch-inputs-or-null", "null", "workflow-dispatch-inputs")
_map(
    "workflow-dispatch-input",
    {
        "description": "string",
        "type": "workflow-dispatch-input-type",
        "required": "boolean",
        "default": "workflow-dispatch-input-default",
        "options": "sequence-of-string",
    },
)
_one(
    "workflow-dispatch-input-type",
    "input-type-string",
    "input-type-boolean",
    "input-type-number",
    "input-type-environment",
    "input-type-choice",
)
_one("workflow-dispatch-input-default", "string", "boolean", "number")

# ---------------------------------------------------------------- jobs
_map("jobs", loose=("non-empty-string", "job"))
_one("job", "job-factory", "workflow-job")
_map(
    "job-factory",
    {
        "needs": "needs",
        "if": "job-if",
        "strategy": "strategy",
        "name": "string-strategy-context",
        "runs-on!": "runs-on",
        "timeout-minutes": "number-strategy-context",
        "cancel-timeout-minutes": "number-strategy-context",
        "continue-on-error": "boolean-strategy-context",
        "container": "container",
        "services": "services",
        "env": "job-env",
        "environment": "job-environment",
        "permissions": "permissions",
        "concurrency": "job-concurrency",
        "outputs": "job-outputs",
        "defaults": "job-defaults",
        "steps": "steps",
        "snapshot": "snapshot",
    },
)
_map(
    "workflow-job",
    {
        "name": "string-strategy-context",
        "uses!": "non-empty-string",
        "with": "workflow-job-with",
        "secrets": "workflow-job-secrets",
        "needs": "needs",
        "if": "job-if",
        "permissions": "permissions",
        "concurrency": "job-concurrency",
        "strategy": "strategy",
    },
)
_map("workflow-job-with", loose=("non-empty-string", "scalar-needs-context"))
_one("workflow-job-secrets", "workflow-job-secrets-mapping", "workflow-job-secrets-inherit")
_map("workflow-job-secrets-mapping", loose=("non-empty-string", "scalar-needs-context-with-secrets"))
_str("workflow-job-secrets-inherit", constant="inherit")
_one("needs", "sequence-of-non-empty-string", "non-empty-string")
_str("job-if", context=(*_NEEDS, *_STATUS_JOB))
_map(
    "strategy",
    {"fail-fast": "boolean", "max-parallel": "number", "matrix": "matrix"},
    context=_NEEDS,
)
_map(
    "matrix",
    {"include": "matrix-filter", "exclude": "matrix-filter"},
    loose=("non-empty-string", "sequence"),
)
_seq("matrix-filter", "matrix-filter-item")
_map("matrix-filter-item", loose=("non-empty-string", "any"))
_one("snapshot", "non-empty-string", "snapshot-mapping")
_map(
    "snapshot-mapping",
    {"image-name!": "non-empty-string", "if": "snapshot-if", "version": "non-empty-string"},
)
_str("snapshot-if", context=_STRATEGY)
_one("runs-on", "non-empty-string", "sequence-of-non-empty-string", "runs-on-mapping", context=_STRATEGY)
_map("runs-on-mapping", {"group": "non-empty-string", "labels": "string-or-sequence"})
_map("job-env", loose=("non-empty-string", "string"), context=(*_STRATEGY, "secrets"))
_one("job-environment", "string", "job-environment-mapping", context=_STRATEGY)
_map(
    "job-environment-mapping",
    {"name!": "job-environment-name", "url": "string-runner-context-no-secrets", "deployment": "boolean"},
)
_str("job-environment-name", context=_STRATEGY)
_map("job-defaults", {"run": "job-defaults-run"})
_map(
    "job-defaults-run",
    {"shell": "shell", "working-directory": "working-directory"},
    context=(*_GIV, "strategy", "matrix", "needs", "env"),
)
_map("job-outputs", loose=("non-empty-string", "string-runner-context"))

# containers
_one("container", "string", "container-mapping", context=_STRATEGY)
_map(
    "container-mapping",
    {
        "image": "non-empty-string",
        "options": "string",
        "env": "container-env",
        "ports": "sequence-of-non-empty-string",
        "volumes": "sequence-of-non-empty-string",
        "credentials": "container-registry-credentials",
    },
)
_map("services", loose=("non-empty-string", "services-container"), context=_STRATEGY)
_one("services-container", "non-empty-string", "service-container-mapping", context=_STRATEGY)
_map(
    "service-container-mapping",
    {
        "image": "non-empty-string",
        "options": "string",
        "env": "container-env",
        "ports": "sequence-of-non-empty-string",
        "volumes": "sequence-of-non-empty-string",
        "credentials": "container-registry-credentials",
        "entrypoint": "string",
        "command": "string",
    },
)
_map(
    "container-registry-credentials",
    {"username": "non-empty-string", "password": "non-empty-string"},
    context=(*_GIV, "secrets", "env"),
)
_map("container-env", loose=("non-empty-string", "string-runner-context"))

# ---------------------------------------------------------------- steps
_seq("steps", "steps-item")
_one("steps-item", "run-step", "regular-step", "wait-step", "wait-all-step", "cancel-step", "parallel-step")
_map(
    "run-step",
    {
        "name": "step-name",
        "id": "step-id",
        "if": "step-if",
        "timeout-minutes": "step-timeout-minutes",
        "run!": "string-steps-context",
        "continue-on-error": "step-continue-on-error",
        "env": "step-env",
        "working-directory": "string-steps-context",
        "shell": "shell",
        "background": "boolean",
    },
)
_map(
    "regular-step",
    {
        "name": "step-name",
        "id": "step-id",
        "if": "step-if",
        "continue-on-error": "step-continue-on-error",
        "timeout-minutes": "step-timeout-minutes",
        "uses!": "non-empty-string",
        "with": "step-with",
        "env": "step-env",
        "background": "boolean",
    },
)
_map(
    "wait-step",
    {
        "name": "step-name",
        "id": "step-id",
        "continue-on-error": "step-continue-on-error",
        "wait!": "string-or-sequence",
    },
)
_map(
    "wait-all-step",
    {
        "name": "step-name",
        "id": "step-id",
        "continue-on-error": "step-continue-on-error",
        "wait-all!": "step-wait-all",
    },
)
_one("step-wait-all", "null", "boolean")
_map(
    "cancel-step",
    {
        "name": "step-name",
        "id": "step-id",
        "continue-on-error": "step-continue-on-error",
        "cancel!": "non-empty-string",
    },
)
_map("parallel-step", {"parallel!": "steps"})
_scalar("step-continue-on-error", "boolean", context=_STEPS)
_str("step-id", non_empty=True)
_str("step-if", context=(*_STRATEGY, "steps", "job", "runner", "env", *_STATUS_STEP, "hashFiles(1,255)"))
_map("step-env", loose=("non-empty-string", "string"), context=_STEPS)
_str("step-name", context=_STEPS)
_scalar("step-timeout-minutes", "number", context=_STEPS)
_map("step-with", loose=("non-empty-string", "string"), context=_STEPS)

# Contexts the converter needs when it re-parses ``if:`` conditions.
JOB_IF_CONTEXT: tuple[str, ...] = DEFS["job-if"].context
STEP_IF_CONTEXT: tuple[str, ...] = DEFS["step-if"].context
