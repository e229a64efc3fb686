"""Helpers actions share on top of the runner's public :class:`~pheme.execution._steps.StepRuntime`.

The effects themselves (outputs, masks, exported env, PATH, annotations,
the job's status) are ``StepRuntime`` methods; the functions here keep the
names the actions package has always used and add input evaluation and
expression-context helpers. Nothing here reaches into runner internals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pheme.errors import ExpressionError
from pheme.execution._expr import EvalContext, evaluate_raw, render, to_string
from pheme.execution._steps import StepRuntime

__all__ = [
    "add_mask",
    "add_path",
    "evaluate_inputs",
    "export_env",
    "log_notice",
    "log_warning",
    "set_output",
    "with_expr",
]


def set_output(rt: StepRuntime, name: str, value: str) -> None:
    rt.set_output(name, value)


def add_mask(rt: StepRuntime, value: str) -> None:
    rt.add_mask(value)


def export_env(rt: StepRuntime, values: Mapping[str, str]) -> None:
    """Like ``core.exportVariable``: later steps (and this phase) see the values."""
    rt.export_env(values)


def add_path(rt: StepRuntime, entry: str) -> None:
    """Like ``core.addPath``: prepended to PATH for later steps (and this phase)."""
    rt.add_path(entry)


def log_warning(rt: StepRuntime, message: str) -> None:
    rt.annotate("warning", message)


def log_notice(rt: StepRuntime, message: str) -> None:
    rt.annotate("notice", message)


def with_expr(rt: StepRuntime, extra: Mapping[str, Any]) -> EvalContext:
    """``rt.expr`` with some contexts replaced (``inputs`` for action defaults, …)."""
    base = rt.expr
    contexts = dict(base.contexts)
    contexts.update(extra)
    return EvalContext(contexts=contexts, job_status=base.job_status, hash_files=base.hash_files)


def _as_string(value: Any, ctx: EvalContext) -> str:
    if isinstance(value, str):
        return render(value, ctx)
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return to_string(evaluate_raw(value, ctx))
    return to_string(value)


def evaluate_inputs(
    rt: StepRuntime,
    given: Mapping[str, Any],
    defaults: Mapping[str, Any],
    *,
    ctx: EvalContext | None = None,
) -> dict[str, str]:
    """The action's inputs as strings: ``with:`` values, then defaults for the rest.

    Names are matched case-insensitively (GitHub does); the result uses the
    name as written in the action's metadata where there is one. Raises
    ExpressionError with GitHub's message when a value cannot be evaluated.
    """
    ctx = ctx or rt.expr
    by_lower = {k.lower(): k for k in defaults}
    result: dict[str, str] = {}
    for key, raw in given.items():
        result[by_lower.get(key.lower(), key)] = _as_string(raw, ctx)
    # Defaults may refer to the inputs given (rare) and to github/env/...
    default_ctx = with_expr(rt, {"inputs": dict(result)}) if ctx is rt.expr else ctx
    for key, default in defaults.items():
        if key in result or default is None:
            continue
        try:
            result[key] = _as_string(default, default_ctx)
        except ExpressionError:
            raise
    return result


def input_env(inputs: Mapping[str, str]) -> dict[str, str]:
    """``INPUT_<NAME>`` variables as @actions/core reads them (upper case, spaces → ``_``)."""
    return {f"INPUT_{name.replace(' ', '_').upper()}": value for name, value in inputs.items()}


def job_status(rt: StepRuntime) -> str:
    """The job's status *now* (a post phase's ``rt.expr`` was built before main ran)."""
    return rt.job_status()


def current_expr(rt: StepRuntime) -> EvalContext:
    """``rt.expr`` with ``success()``/``failure()`` and ``job.status`` reflecting the job now."""
    status = job_status(rt)
    contexts = dict(rt.expr.contexts)
    job_ctx = dict(contexts.get("job") or {})
    job_ctx["status"] = status
    contexts["job"] = job_ctx
    return EvalContext(contexts=contexts, job_status=rt.job_status(), hash_files=rt.expr.hash_files)
