"""The stored form of an analysis: one :class:`AnalysisRun` per template run, with its measurements.

Every measurement keeps the resolved query, the raw values, its phase and the
reason — so "why was my canary rolled back?" is answered by reading the
record, not by re-running PromQL after the fact (the opaque-verdict complaint
Argo Rollouts and Flagger users raise).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pheme.core.monitoring.verdict import Measurement, Verdict, format_value

__all__ = ["AnalysisRun", "measurement_to_json", "run_to_json"]


@dataclass(frozen=True, slots=True)
class AnalysisRun:
    """One analysis template run against one version (``track``: canary, preview, stable)."""

    id: int
    service: str
    environment: str
    version: str
    track: str
    template: str
    verdict: Verdict
    reason: str
    started_at: datetime
    finished_at: datetime | None = None
    deployment: str | None = None
    revision: int | None = None
    baseline_version: str | None = None
    measurements: tuple[Measurement, ...] = ()


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _num(value: float | None) -> float | str | None:
    # JSON has no NaN/Inf: keep them readable as strings.
    if value is None:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return format_value(value)
    return value


def measurement_to_json(m: Measurement) -> dict[str, Any]:
    value: Any = [_num(v) for v in m.value] if isinstance(m.value, list) else _num(m.value)
    return {
        "metric": m.metric,
        "phase": m.phase.value,
        "reason": m.reason,
        "query": m.query,
        "value": value,
        "samples": _num(m.samples),
        "baseline": _num(m.baseline),
        "p_value": _num(m.p_value),
        "raw": dict(m.raw),
        "started_at": _time(m.started_at),
        "finished_at": _time(m.finished_at),
    }


def run_to_json(run: AnalysisRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "deployment": run.deployment,
        "service": run.service,
        "environment": run.environment,
        "version": run.version,
        "revision": run.revision,
        "track": run.track,
        "baseline_version": run.baseline_version,
        "template": run.template,
        "verdict": run.verdict.value,
        "reason": run.reason,
        "started_at": _time(run.started_at),
        "finished_at": _time(run.finished_at),
        "measurements": [measurement_to_json(m) for m in run.measurements],
    }
