"""From observations to measurements, and from measurements to a verdict.

Why this module is pure and separate from the providers: the decision is the
part that must be right, so it is a function of data alone. The same code
judges a live canary (observations from Prometheus or a scrape) and the
bench's simulated analyses (observations drawn from a seeded RNG).

Rules, in order, for one measurement:

1. the provider failed (server down, bad query)          → ``error``
2. fewer requests than ``minSamples`` in the window       → ``inconclusive``
3. no data (empty result, NaN, unknown request count)     → ``inconclusive``
4. ``failureCondition`` holds, or ``successCondition`` does not hold
   and there is no ``failureCondition``                   → ``failed``
5. canary significantly worse than baseline (Mann–Whitney) → ``failed``
6. ``successCondition`` holds (or there is none)          → ``successful``
7. otherwise — between a ``successCondition`` that does not hold and a
   ``failureCondition`` that does not either (the grey zone) → ``inconclusive``

Missing data is never a pass and never a crash: the analyses Argo Rollouts
and Flagger users reported passing on "No values found" are rule 2 here.

For a metric, measurements are taken until one of:

- failed measurements exceed ``failureLimit``         → fail (at once: fast rollback)
- trailing errors exceed ``consecutiveErrorLimit``    → ``onError`` (fail by default)
- inconclusive ones exceed ``inconclusiveLimit``      → ``onInconclusive`` (inconclusive by default)
- ``count`` decisive (successful or failed) measurements → pass

The analysis fails as soon as any metric fails, is inconclusive when any metric
ends inconclusive, and passes when every metric passed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pheme.core.monitoring.conditions import ConditionError, Value
from pheme.core.monitoring.stats import MannWhitneyResult, mann_whitney_grouped, mann_whitney_u
from pheme.core.monitoring.templates import AnalysisTemplate, Comparison, MetricSpec

__all__ = [
    "AnalysisOutcome",
    "Baseline",
    "Measurement",
    "MetricStatus",
    "Observation",
    "Phase",
    "Verdict",
    "analysis_outcome",
    "format_value",
    "judge",
    "measurement_alpha",
    "metric_status",
]


class Phase(StrEnum):
    SUCCESSFUL = "successful"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


class Verdict(StrEnum):
    RUNNING = "running"
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True, slots=True)
class Baseline:
    """What the provider saw for the baseline (stable) version in the same window.

    ``grouped`` holds counts per ordered category (e.g. ``[errors, ok]`` for a
    success rate, per-bucket counts for latency); ``series`` holds raw points
    (a range query). Either feeds the Mann–Whitney test; ``canary_grouped`` /
    ``canary_series`` on the :class:`Observation` are the canary's side.
    """

    value: float | None
    samples: float | None = None
    grouped: tuple[float, ...] | None = None
    series: tuple[float, ...] | None = None
    query: str = ""


@dataclass(frozen=True, slots=True)
class Observation:
    """What a provider returns for one metric and window, before any judgement.

    ``value`` is ``None`` for no data, a float for one series, a list for several.
    ``raw`` holds the provider's raw values (JSON-able) for the record.
    """

    query: str
    value: float | list[float] | None = None
    samples: float | None = None
    error: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    baseline: Baseline | None = None
    canary_grouped: tuple[float, ...] | None = None
    canary_series: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True)
class Measurement:
    """One judged observation: what was asked, what came back, and why it was judged so."""

    metric: str
    phase: Phase
    reason: str
    query: str
    value: float | list[float] | None = None
    samples: float | None = None
    baseline: float | None = None
    p_value: float | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None


def format_value(value: object) -> str:
    if value is None:
        return "no data"
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:.6g}"
    return str(value)


def _has_nan(value: float | list[float]) -> bool:
    if isinstance(value, list):
        return any(math.isnan(v) for v in value)
    return math.isnan(value)


def _compare(cmp: Comparison, obs: Observation) -> tuple[MannWhitneyResult | None, str]:
    """Run the test in the direction that is bad for the canary; ``(None, why)`` if it cannot run."""
    base = obs.baseline
    if base is None:
        return None, "no baseline observation"
    alternative: Literal["greater", "less"] = "greater" if cmp.worse == "higher" else "less"
    try:
        if obs.canary_grouped is not None and base.grouped is not None:
            return mann_whitney_grouped(obs.canary_grouped, base.grouped, alternative), ""
        if obs.canary_series is not None and base.series is not None:
            return mann_whitney_u(obs.canary_series, base.series, alternative), ""
    except ValueError as exc:
        return None, str(exc)
    return None, "no samples to compare"


def judge(
    spec: MetricSpec,
    obs: Observation,
    *,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
) -> Measurement:
    """Apply the rules in the module docstring to one observation."""

    def m(phase: Phase, reason: str, p_value: float | None = None) -> Measurement:
        base_value = obs.baseline.value if obs.baseline is not None else None
        return Measurement(
            metric=spec.name,
            phase=phase,
            reason=reason,
            query=obs.query,
            value=obs.value,
            samples=obs.samples,
            baseline=base_value,
            p_value=p_value,
            raw=obs.raw,
            started_at=started_at,
            finished_at=finished_at,
        )

    if obs.error is not None:
        return m(Phase.ERROR, f"error: {obs.error}")
    value = obs.value
    if spec.min_samples > 0 and obs.samples is not None and obs.samples < spec.min_samples:
        return m(
            Phase.INCONCLUSIVE,
            f"too little traffic: {format_value(float(obs.samples))} requests (minimum {spec.min_samples})",
        )
    if value is None or (isinstance(value, list) and not value):
        return m(Phase.INCONCLUSIVE, "no data: the query returned no series")
    if _has_nan(value):
        return m(Phase.INCONCLUSIVE, "no data: the result is NaN (no requests in the window?)")
    if spec.min_samples > 0 and (obs.samples is None or math.isnan(obs.samples)):
        return m(Phase.INCONCLUSIVE, "no data: the request count is unknown")
    shown = f"result = {format_value(value)}"
    variables: dict[str, Value] = {"result": value}
    base = obs.baseline
    base_ok = base is not None and base.value is not None and not math.isnan(base.value)
    if base is not None and base.value is not None:
        variables["baseline"] = base.value
        shown += f", baseline = {format_value(base.value)}"
    uses_baseline = any(c is not None and "baseline" in c.names for c in (spec.success, spec.failure))
    if uses_baseline and not base_ok:
        return m(Phase.INCONCLUSIVE, f"no baseline data to compare with ({shown})")
    try:
        if spec.failure is not None and spec.failure.evaluate(variables):
            return m(Phase.FAILED, f"failureCondition '{spec.failure.text}' holds ({shown})")
    except ConditionError as exc:
        return m(Phase.ERROR, f"failureCondition: {exc} ({shown})")
    try:
        success = spec.success.evaluate(variables) if spec.success is not None else None
    except ConditionError as exc:
        return m(Phase.ERROR, f"successCondition: {exc} ({shown})")
    if success is False and spec.failure is None and spec.success is not None:
        return m(Phase.FAILED, f"successCondition '{spec.success.text}' does not hold ({shown})")
    p_value: float | None = None
    if spec.compare is not None:
        cmp = spec.compare
        base_samples = base.samples if base is not None else None
        if spec.min_samples > 0 and (base_samples is None or base_samples < spec.min_samples):
            # Too little baseline traffic: the comparison cannot speak; thresholds still can.
            if spec.success is None and spec.failure is None:
                return m(Phase.INCONCLUSIVE, f"too little baseline traffic to compare ({shown})")
        else:
            result, why = _compare(cmp, obs)
            if result is None:
                if spec.success is None and spec.failure is None:
                    return m(Phase.INCONCLUSIVE, f"cannot compare with baseline: {why} ({shown})")
            else:
                p_value = result.p_value
                worse_by = _worse_by(cmp, value, base.value if base is not None else None)
                alpha = measurement_alpha(spec)
                if result.p_value < alpha and worse_by > cmp.tolerance:
                    direction = "higher" if cmp.worse == "higher" else "lower"
                    split = f" ({cmp.alpha:g} over {spec.count} measurements)" if spec.count > 1 else ""
                    return m(
                        Phase.FAILED,
                        f"{direction} than baseline '{cmp.baseline}' ({shown}; Mann-Whitney p = "
                        f"{result.p_value:.3g} < {alpha:.3g}{split})",
                        p_value,
                    )
                shown += f"; vs baseline p = {result.p_value:.3g}"
    if spec.success is None:
        return m(Phase.SUCCESSFUL, f"no failure condition holds ({shown})", p_value)
    if success:
        return m(Phase.SUCCESSFUL, f"successCondition '{spec.success.text}' holds ({shown})", p_value)
    return m(
        Phase.INCONCLUSIVE,
        f"neither successCondition '{spec.success.text}' nor failureCondition holds ({shown})",
        p_value,
    )


def measurement_alpha(spec: MetricSpec) -> float:
    """The significance level of one measurement's comparison.

    ``compare.alpha`` is the false-alarm budget of the whole analysis: the
    chance that two identical versions fail it. It is split evenly across the
    ``count`` measurements (Bonferroni), so taking more measurements does not
    raise the false-alarm rate.
    """
    if spec.compare is None:
        return 0.0
    return spec.compare.alpha / max(spec.count, 1)


def _worse_by(cmp: Comparison, value: float | list[float], baseline: float | None) -> float:
    """How much worse the canary's value is than the baseline's (+inf when unknown: the test decides)."""
    if baseline is None or math.isnan(baseline) or isinstance(value, list):
        return math.inf
    return value - baseline if cmp.worse == "higher" else baseline - value


@dataclass(frozen=True, slots=True)
class MetricStatus:
    metric: str
    verdict: Verdict
    reason: str
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    errors: int = 0


def metric_status(spec: MetricSpec, measurements: Sequence[Measurement]) -> MetricStatus:
    """Where a metric stands after ``measurements`` (oldest first)."""
    counts = {phase: 0 for phase in Phase}
    for x in measurements:
        counts[x.phase] += 1
    trailing_errors = 0
    for x in reversed(measurements):
        if x.phase is not Phase.ERROR:
            break
        trailing_errors += 1
    ok, bad = counts[Phase.SUCCESSFUL], counts[Phase.FAILED]
    inc, err = counts[Phase.INCONCLUSIVE], counts[Phase.ERROR]

    def status(verdict: Verdict, reason: str) -> MetricStatus:
        return MetricStatus(spec.name, verdict, reason, ok, bad, inc, err)

    last = measurements[-1].reason if measurements else ""
    if bad > spec.failure_limit:
        return status(
            Verdict.FAIL,
            f"{spec.name}: {bad} failed measurement(s), more than failureLimit {spec.failure_limit}; last: {last}",
        )
    if trailing_errors > spec.consecutive_error_limit:
        verdict = Verdict.FAIL if spec.on_error == "fail" else Verdict.INCONCLUSIVE
        return status(
            verdict,
            f"{spec.name}: {trailing_errors} consecutive errors, more than consecutiveErrorLimit "
            f"{spec.consecutive_error_limit}; last: {last}",
        )
    if inc > spec.inconclusive_limit:
        verdict = Verdict.FAIL if spec.on_inconclusive == "fail" else Verdict.INCONCLUSIVE
        return status(
            verdict,
            f"{spec.name}: {inc} inconclusive measurement(s), more than inconclusiveLimit "
            f"{spec.inconclusive_limit}; last: {last}",
        )
    if ok + bad >= spec.count:
        return status(Verdict.PASS, f"{spec.name}: {ok} of {ok + bad} measurements successful; last: {last}")
    return status(Verdict.RUNNING, f"{spec.name}: {ok + bad} of {spec.count} measurements so far")


@dataclass(frozen=True, slots=True)
class AnalysisOutcome:
    verdict: Verdict
    reason: str
    metrics: tuple[MetricStatus, ...]


def analysis_outcome(template: AnalysisTemplate, measurements: Sequence[Measurement]) -> AnalysisOutcome:
    """Combine every metric: fail if any fails, inconclusive if any is, pass when all pass."""
    by_metric: dict[str, list[Measurement]] = {m.name: [] for m in template.metrics}
    for x in measurements:
        by_metric.setdefault(x.metric, []).append(x)
    statuses = tuple(metric_status(spec, by_metric[spec.name]) for spec in template.metrics)
    for verdict in (Verdict.FAIL, Verdict.INCONCLUSIVE):
        hit = [s for s in statuses if s.verdict is verdict]
        if hit:
            return AnalysisOutcome(verdict, "; ".join(s.reason for s in hit), statuses)
    if all(s.verdict is Verdict.PASS for s in statuses):
        return AnalysisOutcome(Verdict.PASS, "; ".join(s.reason for s in statuses), statuses)
    running = [s for s in statuses if s.verdict is Verdict.RUNNING]
    return AnalysisOutcome(Verdict.RUNNING, "; ".join(s.reason for s in running), statuses)
