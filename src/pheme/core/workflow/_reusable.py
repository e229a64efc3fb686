"""Checks across a call to a reusable workflow (``jobs.<id>.uses``).

Given the called workflow's text (through ``LoadOptions.resolve_workflow``),
GitHub checks that it is callable (``on: workflow_call``), that the caller
passes every required input and secret and nothing undeclared, that input
values have the declared types, that the callee asks for no more
``GITHUB_TOKEN`` permissions than the caller grants, and limits on nesting
depth and on the total number of jobs. Problems found *inside* the callee are
reported against the callee's reference, as GitHub does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pheme.core.workflow._convert import _get, _pairs
from pheme.core.workflow._schema import PERMISSION_SCOPES
from pheme.core.workflow._yaml import BOOL, FLOAT, INT, MAP, NULL, SEQ, STR, Node, to_string
from pheme.core.workflow.model import Job, Workflow

if TYPE_CHECKING:
    from pheme.core.workflow._loader import LoadOptions, _Sink

__all__ = ["check_called_workflows"]

# The order GitHub lists permissions in its messages, then the newer scopes.
_ORDER = (
    "actions", "checks", "contents", "deployments", "discussions", "issues", "packages", "pages",
    "pull-requests", "repository-projects", "statuses", "security-events", "id-token",
)  # fmt: skip
_SCOPES = _ORDER + tuple(s for s in PERMISSION_SCOPES if s not in _ORDER)
_LEVELS = {"none": 0, "read": 1, "write": 2}
_NAMES = {0: "none", 1: "read", 2: "write"}

Permissions = dict[str, int]


def _expand(raw: Any) -> Permissions | None:
    """``read-all`` / ``write-all`` / a mapping → level per scope; None when not a literal."""
    if raw == "read-all":
        return dict.fromkeys(_ORDER, 1)
    if raw == "write-all":
        return dict.fromkeys(_ORDER, 2)
    if isinstance(raw, dict):
        out = {}
        for scope, level in raw.items():
            if level not in _LEVELS:
                return None
            out[str(scope)] = _LEVELS[level]
        return out
    return None


def _policy(name: str) -> Permissions:
    if name == "limited-read":
        perms = dict.fromkeys(_SCOPES, 0)
        perms["contents"] = 1
        perms["packages"] = 1
        return perms
    return dict.fromkeys(_SCOPES, 2)


def _excess(requested: Permissions, allowed: Permissions) -> tuple[str, str] | None:
    over = [s for s in _SCOPES if requested.get(s, 0) > allowed.get(s, 0)]
    if not over:
        return None
    req = ", ".join(f"{s}: {_NAMES[requested[s]]}" for s in over)
    allow = ", ".join(f"{s}: {_NAMES[allowed.get(s, 0)]}" for s in over)
    return req, allow


class _Calls:
    def __init__(self, sink: _Sink, options: LoadOptions) -> None:
        self.sink = sink
        self.options = options
        self.job_count = 0

    def error(self, file: str, node: Node | None, message: str) -> None:
        from pheme.errors import Problem

        line, col = (node.line, node.col) if node is not None else (1, 1)
        self.sink.problems.append(Problem(file, line, col, message))

    def check(self, workflow: Workflow, root: Node, file: str, allowed: Permissions, depth: int) -> None:
        from pheme.core.workflow._loader import _read, _Sink

        jobs_node = _get(root, "jobs")
        wf_perms = _expand(workflow.permissions) if workflow.permissions is not None else None
        for job_id, key_node, job_node in _pairs(jobs_node):
            job = workflow.jobs.get(job_id)
            if job is None:
                continue
            if job.uses is None:
                self.job_count += 1
                continue
            resolve = self.options.resolve_workflow
            uses_node = _get(job_node, "uses")
            if resolve is None:
                self.job_count += 1
                continue
            if depth + 1 > self.options.max_nested_workflows:
                self.error(
                    file,
                    uses_node,
                    f"Nested reusable workflow depth exceeded {self.options.max_nested_workflows}.",
                )
                continue
            self.job_count += 1
            text = resolve(job.uses)
            if text is None:
                continue
            callee_sink = _Sink(job.uses)
            callee_root, callee = _read(text, job.uses, self.options, callee_sink)
            self.sink.problems.extend(callee_sink.problems)
            if callee is None or callee_root is None:
                continue
            if "workflow_call" not in callee.on:
                self.error(file, uses_node, "workflow_call key is not defined in the referenced workflow.")
                continue
            self.check_inputs(file, job, job_node, uses_node, callee)
            self.check_secrets(file, job, job_node, uses_node, callee)
            granted = _expand(job.permissions) if job.permissions is not None else wf_perms
            granted = allowed if granted is None else granted
            if self.check_permissions(file, key_node, job.uses, callee, granted):
                callee_allowed = granted
                if callee.permissions is not None:
                    callee_allowed = _expand(callee.permissions) or granted
                self.check(callee, callee_root, job.uses, callee_allowed, depth + 1)

    def check_inputs(
        self, file: str, job: Job, job_node: Node, uses_node: Node | None, callee: Workflow
    ) -> None:
        defs = {name.lower(): spec for name, spec in callee.on["workflow_call"].inputs.items()}
        given: dict[str, tuple[str, Node]] = {}
        for name, _k, value in _pairs(_get(job_node, "with")):
            given[name.lower()] = (name, value)
        for lname, spec in defs.items():
            if spec.required and lname not in given:
                self.error(file, uses_node, f"Input {spec.name} is required, but not provided while calling.")
        for lname, (name, value) in given.items():
            found = defs.get(lname)
            if found is None:
                self.error(file, value, f"Invalid input, {name} is not defined in the referenced workflow.")
                continue
            if value.expr or value.kind in (MAP, SEQ, NULL):
                continue
            wrong_bool = found.type == "boolean" and value.kind != BOOL
            wrong_number = found.type == "number" and value.kind not in (INT, FLOAT)
            if wrong_bool or wrong_number:
                self.error(file, value, f"Unexpected value '{to_string(value)}'")
            elif found.type == "string" and value.kind != STR:
                value.value = to_string(value)
                value.kind = STR

    def check_secrets(
        self, file: str, job: Job, job_node: Node, uses_node: Node | None, callee: Workflow
    ) -> None:
        if job.secrets == "inherit":
            return
        defs = {name.lower(): spec for name, spec in callee.on["workflow_call"].secrets.items()}
        given: dict[str, tuple[str, Node]] = {}
        secrets_node = _get(job_node, "secrets")
        for name, _k, value in _pairs(secrets_node):
            given[name.lower()] = (name, value)
        for lname, spec in defs.items():
            if spec.required and lname not in given:
                self.error(
                    file, uses_node, f"Secret {spec.name} is required, but not provided while calling."
                )
        for lname, (name, value) in given.items():
            if lname not in defs:
                self.error(file, value, f"Invalid secret, {name} is not defined in the referenced workflow.")

    def check_permissions(
        self, file: str, key_node: Node, ref: str, callee: Workflow, granted: Permissions
    ) -> bool:
        if callee.permissions is not None:
            requested = _expand(callee.permissions)
            if requested is not None:
                excess = _excess(requested, granted)
                if excess:
                    self.error(
                        file,
                        key_node,
                        f"Error calling workflow '{ref}'. The workflow '{ref}' is requesting '{excess[0]}', "
                        f"but is only allowed '{excess[1]}'.",
                    )
                    return False
        ok = True
        for nested in callee.jobs.values():
            if nested.permissions is None:
                continue
            requested = _expand(nested.permissions)
            if requested is None:
                continue
            excess = _excess(requested, granted)
            if excess:
                ok = False
                self.error(
                    file,
                    key_node,
                    f"Error calling workflow '{ref}'. The nested job '{nested.display_name}' is requesting "
                    f"'{excess[0]}', but is only allowed '{excess[1]}'.",
                )
        return ok


def check_called_workflows(workflow: Workflow, root: Node, sink: _Sink, options: LoadOptions) -> None:
    """Checks every ``uses:`` job of ``workflow`` (recursively) and the total job limit."""
    if options.resolve_workflow is None and options.max_jobs is None:
        return
    calls = _Calls(sink, options)
    allowed = _expand(workflow.permissions) if workflow.permissions is not None else None
    calls.check(workflow, root, sink.path, allowed or _policy(options.permissions_policy), 0)
    if options.max_jobs is not None and calls.job_count > options.max_jobs:
        sink.at(1, 1, f"The workflow may not contain more than {options.max_jobs} jobs")
