"""Calling a reusable workflow (``jobs.<id>.uses``): load the callee, check and
convert what the caller passes, evaluate what the callee returns.

The scheduling itself lives in :mod:`pheme.execution._runner` (a called
workflow's jobs are scheduled like the caller's, in a scope of their own);
this module holds the rules GitHub applies at the call boundary:

- ``with:`` values are evaluated in the caller job's contexts, then checked
  against ``on.workflow_call.inputs``: an undeclared input or a missing
  required one is an error, a ``boolean``/``number`` input refuses a value of
  another type (GitHub: ``Unexpected value '…'``), a ``string`` input takes
  the value's string form. Inputs left out get their ``default`` (which may
  use the ``github`` context), else ``false`` / ``0`` / ``''``.
- ``secrets: inherit`` passes every secret of the caller; a mapping passes
  the listed ones (evaluated in the caller's contexts). A required secret not
  passed, or one the callee does not declare, is an error. ``GITHUB_TOKEN``
  always reaches the callee.
- ``on.workflow_call.outputs.<name>.value`` is evaluated after the callee's
  jobs, with the ``jobs`` context (``jobs.<id>.result`` / ``.outputs``).

Every error here is an :class:`~pheme.errors.ExecutionError` whose message is
one line; the runner prefixes the caller's ``file:line:col``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pheme.core.workflow.model import Job, Workflow, WorkflowInput
from pheme.errors import ExecutionError, ExpressionError
from pheme.execution._expr import EvalContext, evaluate_raw, render, to_string

__all__ = [
    "WorkflowLoader",
    "call_inputs",
    "call_outputs",
    "call_secrets",
    "default_loader",
    "max_nested_calls",
]

# ``load_workflow(uses)``: the callee of ``jobs.<id>.uses: <uses>``, as written.
WorkflowLoader = Callable[[str], Workflow]

_REMOTE = re.compile(
    r"^(?P<owner>[A-Za-z0-9_.-]+)/(?P<repo>[A-Za-z0-9_.-]+)/(?P<path>\.github/workflows/[^@]+\.ya?ml)@(?P<ref>.+)$"
)


def max_nested_calls() -> int:
    """The nesting limit the workflow loader checks (``LoadOptions.max_nested_workflows``)."""
    from pheme.core.workflow import LoadOptions

    return LoadOptions().max_nested_workflows


def default_loader(workspace: Path, search: list[Path] | None = None) -> WorkflowLoader:
    """Read a called workflow from the run's checkout, or a vendored copy.

    ``./.github/workflows/x.yml`` is read from ``workspace``;
    ``owner/repo/.github/workflows/x.yml@ref`` from ``<dir>/owner/repo@ref/…``
    under ``PHEME_ACTIONS_PATH`` (then ``$PHEME_HOME/actions``), the layout
    vendored actions use. The file is parsed with :func:`parse_workflow`, so
    a problem in it raises ``WorkflowError`` with ``file:line:col``.
    """

    def load(uses: str) -> Workflow:
        from pheme.core.workflow import parse_workflow

        ref = uses.strip()
        if ref.startswith("./"):
            rel = ref[2:]
            if not re.match(r"^\.github/workflows/[^/]+\.ya?ml$", rel):
                raise ExecutionError(
                    f"invalid reusable workflow reference '{uses}': a local workflow must be "
                    "./.github/workflows/<file>.yml"
                )
            path = workspace / rel
            if not path.is_file():
                raise ExecutionError(f"reusable workflow '{uses}' not found in the workspace ({path})")
            return parse_workflow(path.read_text(encoding="utf-8"), rel)
        m = _REMOTE.match(ref)
        if not m:
            raise ExecutionError(
                f"invalid reusable workflow reference '{uses}': expected "
                "{owner}/{repo}/.github/workflows/<file>.yml@{ref} or ./.github/workflows/<file>.yml"
            )
        roots = search
        if roots is None:
            from pheme.execution.actions.resolver import actions_path

            roots = actions_path(with_default=True)
        for root in roots:
            path = root / m["owner"] / f"{m['repo']}@{m['ref']}" / m["path"]
            if path.is_file():
                return parse_workflow(path.read_text(encoding="utf-8"), ref)
        where = ", ".join(str(r) for r in roots) or "not set"
        raise ExecutionError(
            f"reusable workflow '{uses}' is not available offline: no copy at "
            f"<dir>/{m['owner']}/{m['repo']}@{m['ref']}/{m['path']} in PHEME_ACTIONS_PATH ({where})"
        )

    return load


def _typed(spec: WorkflowInput, value: Any) -> Any:
    if spec.type == "boolean":
        if not isinstance(value, bool):
            raise ExecutionError(f"Unexpected value '{to_string(value)}' for boolean input '{spec.name}'")
        return value
    if spec.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ExecutionError(f"Unexpected value '{to_string(value)}' for number input '{spec.name}'")
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        return value
    if isinstance(value, Mapping | list):
        raise ExecutionError(f"Unexpected value for string input '{spec.name}': a {type(value).__name__}")
    return to_string(value)


def call_inputs(callee: Workflow, job: Job, ctx: EvalContext, github_ctx: EvalContext) -> dict[str, Any]:
    """The callee's ``inputs`` context for ``job``'s ``with:`` (evaluated with ``ctx``).

    ``github_ctx`` evaluates the callee's input defaults.
    """
    specs = callee.on["workflow_call"].inputs
    by_lower = {name.lower(): spec for name, spec in specs.items()}
    out: dict[str, Any] = {}
    for name, raw in job.with_.items():
        spec = by_lower.get(name.lower())
        if spec is None:
            raise ExecutionError(f"Invalid input, {name} is not defined in the referenced workflow.")
        try:
            value = evaluate_raw(raw, ctx)
        except ExpressionError as exc:
            raise ExecutionError(f"Error when evaluating 'with.{name}': {exc.full_message()}") from None
        out[spec.name] = _typed(spec, value)
    for spec in specs.values():
        if spec.name in out:
            continue
        if spec.required:
            raise ExecutionError(f"Input {spec.name} is required, but not provided while calling.")
        if spec.default is not None:
            try:
                out[spec.name] = _typed(spec, evaluate_raw(spec.default, github_ctx))
            except ExpressionError as exc:
                raise ExecutionError(
                    f"Error when evaluating the default of input '{spec.name}': {exc.full_message()}"
                ) from None
        else:
            out[spec.name] = {"boolean": False, "number": 0}.get(spec.type, "")
    return out


def call_secrets(
    callee: Workflow, job: Job, ctx: EvalContext, caller_secrets: Mapping[str, str]
) -> dict[str, str]:
    """The callee's ``secrets`` context: inherited, or the ones passed (evaluated with ``ctx``)."""
    declared = callee.on["workflow_call"].secrets
    out: dict[str, str] = {}
    token = caller_secrets.get("GITHUB_TOKEN")
    if job.secrets == "inherit":
        out.update(caller_secrets)
    else:
        by_lower = {name.lower(): name for name in declared}
        for name, raw in (job.secrets or {}).items():
            canonical = by_lower.get(name.lower())
            if canonical is None:
                raise ExecutionError(f"Invalid secret, {name} is not defined in the referenced workflow.")
            try:
                out[canonical] = render(raw, ctx) if isinstance(raw, str) else to_string(raw)
            except ExpressionError as exc:
                raise ExecutionError(
                    f"Error when evaluating 'secrets.{name}': {exc.full_message()}"
                ) from None
        for spec in declared.values():
            if spec.required and spec.name not in out:
                raise ExecutionError(f"Secret {spec.name} is required, but not provided while calling.")
    if token is not None:
        out.setdefault("GITHUB_TOKEN", token)
    return out


def call_outputs(callee: Workflow, ctx: EvalContext) -> tuple[dict[str, str], list[str]]:
    """``on.workflow_call.outputs`` evaluated with ``ctx`` (which holds ``jobs``): ``(outputs, errors)``."""
    out: dict[str, str] = {}
    errors: list[str] = []
    for name, spec in callee.on["workflow_call"].outputs.items():
        try:
            out[name] = render(spec.value, ctx) if isinstance(spec.value, str) else to_string(spec.value)
        except ExpressionError as exc:
            errors.append(f"{callee.path}: Error when evaluating 'outputs.{name}': {exc.full_message()}")
    return out, errors
