"""What an action phase needs beyond the runner's minimal ``StepRuntime``.

The runner's :class:`~pheme.execution._steps.StepRuntime` protocol gives a
phase logging, failing and ``run_command``. Actions also set outputs, add
masks, export environment variables and PATH entries for later steps, and
read step/job facts. The runner's ``StepRun`` carries those (``outputs``,
``state`` and its ``job`` with ``masker``, ``set_env``, ``add_path``); this
module is the one place that reaches for them, so the rest of the actions
package stays on a small, documented surface.
"""

from __future__ import annotations

import os
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
    outputs: dict[str, str] = rt.outputs  # type: ignore[attr-defined]
    outputs[name] = value


def add_mask(rt: StepRuntime, value: str) -> None:
    if value and value.strip():
        rt.job.masker.add(value)  # type: ignore[attr-defined]


def export_env(rt: StepRuntime, values: Mapping[str, str]) -> None:
    """Like ``core.exportVariable``: later steps (and this phase) see the values."""
    rt.job.set_env(dict(values))  # type: ignore[attr-defined]
    rt.env.update(values)


def add_path(rt: StepRuntime, entry: str) -> None:
    """Like ``core.addPath``: prepended to PATH for later steps (and this phase)."""
    rt.job.add_path(entry)  # type: ignore[attr-defined]
    old = rt.env.get("PATH", "")
    rt.env["PATH"] = entry + (os.pathsep + old if old else "")


def _annotate(rt: StepRuntime, level: str, message: str) -> None:
    annotate = getattr(rt, "_annotate", None)
    rt.log([f"##[{level}]{message}"])
    if annotate is not None:
        annotate(level, message, {})


def log_warning(rt: StepRuntime, message: str) -> None:
    _annotate(rt, "warning", message)


def log_notice(rt: StepRuntime, message: str) -> None:
    _annotate(rt, "notice", message)


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
    job = getattr(rt, "job", None)
    status = getattr(job, "status", None)
    if callable(status):
        return str(status())
    return rt.expr.job_status


def current_expr(rt: StepRuntime) -> EvalContext:
    """``rt.expr`` with ``success()``/``failure()`` and ``job.status`` reflecting the job now."""
    status = job_status(rt)
    contexts = dict(rt.expr.contexts)
    job_ctx = dict(contexts.get("job") or {})
    job_ctx["status"] = status
    contexts["job"] = job_ctx
    return EvalContext(
        contexts=contexts,
        job_status=status if status in ("success", "failure", "cancelled") else "success",  # type: ignore[arg-type]
        hash_files=rt.expr.hash_files,
    )
