"""Judging measurements and turning them into verdicts — the decision that must be right."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from pheme.core.monitoring.conditions import parse_condition
from pheme.core.monitoring.templates import AnalysisTemplate, Comparison, MetricSpec, ScrapeProvider
from pheme.core.monitoring.verdict import (
    Baseline,
    Measurement,
    Observation,
    Phase,
    Verdict,
    analysis_outcome,
    judge,
    measurement_alpha,
    metric_status,
)

SPEC = MetricSpec(
    name="success-rate",
    provider=ScrapeProvider(signal="success-rate"),
    interval=5,
    count=3,
    success=parse_condition("result >= 0.95"),
    min_samples=20,
)


def obs(value: float | list[float] | None, samples: float | None = 100, **kw: object) -> Observation:
    return Observation(query="q", value=value, samples=samples, **kw)  # type: ignore[arg-type]


def test_a_good_result_passes_and_says_why() -> None:
    m = judge(SPEC, obs(0.99))
    assert m.phase is Phase.SUCCESSFUL
    assert m.reason == "successCondition 'result >= 0.95' holds (result = 0.99)"


def test_a_bad_result_fails_with_the_value_in_the_reason() -> None:
    m = judge(SPEC, obs(0.5))
    assert m.phase is Phase.FAILED
    assert m.reason == "successCondition 'result >= 0.95' does not hold (result = 0.5)"


@pytest.mark.parametrize(
    ("observation", "reason"),
    [
        (obs(None), "no data: the query returned no series"),
        (obs([]), "no data: the query returned no series"),
        (obs(math.nan), "no data: the result is NaN"),
        (obs([0.99, math.nan]), "no data: the result is NaN"),
        (obs(0.99, samples=3), "too little traffic: 3 requests (minimum 20)"),
        (obs(0.99, samples=None), "no data: the request count is unknown"),
        (obs(0.99, samples=math.nan), "no data: the request count is unknown"),
    ],
)
def test_missing_data_is_inconclusive_never_a_pass(observation: Observation, reason: str) -> None:
    m = judge(SPEC, observation)
    assert m.phase is Phase.INCONCLUSIVE
    assert m.reason.startswith(reason)


def test_missing_data_is_inconclusive_even_with_only_a_failure_condition() -> None:
    # With only failureCondition, "NaN < 0.9" is false — which must not read as a pass.
    spec = replace(SPEC, success=None, failure=parse_condition("result < 0.9"), min_samples=0)
    assert judge(spec, obs(math.nan)).phase is Phase.INCONCLUSIVE
    assert judge(spec, obs(None)).phase is Phase.INCONCLUSIVE


def test_provider_errors_are_errors() -> None:
    m = judge(SPEC, Observation(query="q", error="connection refused"))
    assert (m.phase, m.reason) == (Phase.ERROR, "error: connection refused")


def test_the_grey_zone_between_two_conditions_is_inconclusive() -> None:
    spec = replace(SPEC, success=parse_condition("result >= 0.99"), failure=parse_condition("result < 0.9"))
    assert judge(spec, obs(0.995)).phase is Phase.SUCCESSFUL
    assert judge(spec, obs(0.8)).phase is Phase.FAILED
    grey = judge(spec, obs(0.95))
    assert grey.phase is Phase.INCONCLUSIVE
    assert "neither successCondition" in grey.reason


def test_condition_that_cannot_be_evaluated_is_an_error_not_a_crash() -> None:
    m = judge(SPEC, obs([0.9, 0.99]))
    assert m.phase is Phase.ERROR
    assert "a list of 2 values" in m.reason


COMPARE = replace(
    SPEC,
    success=parse_condition("result >= 0.5"),
    compare=Comparison(baseline="stable", alpha=0.01, worse="lower"),
    count=1,
)


def _counts(requests: int, errors: int) -> tuple[float, float]:
    # Success-rate categories, lowest first: [error, ok].
    return (float(errors), float(requests - errors))


def test_a_canary_significantly_worse_than_stable_fails() -> None:
    o = obs(
        0.90,
        samples=1000,
        canary_grouped=_counts(1000, 100),
        baseline=Baseline(value=0.99, samples=1000, grouped=_counts(1000, 10)),
    )
    m = judge(COMPARE, o)
    assert m.phase is Phase.FAILED
    assert m.reason.startswith(
        "lower than baseline 'stable' (result = 0.9, baseline = 0.99; Mann-Whitney p = "
    )
    assert m.p_value is not None and m.p_value < 1e-10


def test_a_canary_like_stable_passes_and_the_p_value_is_recorded() -> None:
    o = obs(
        0.99,
        samples=1000,
        canary_grouped=_counts(1000, 10),
        baseline=Baseline(value=0.99, samples=1000, grouped=_counts(1000, 10)),
    )
    m = judge(COMPARE, o)
    assert m.phase is Phase.SUCCESSFUL
    assert m.p_value is not None and m.p_value > 0.4
    assert "vs baseline p = " in m.reason


def test_a_significant_but_tolerated_difference_passes() -> None:
    spec = replace(COMPARE, compare=Comparison(alpha=0.01, worse="lower", tolerance=0.05))
    o = obs(
        0.97,
        samples=100_000,
        canary_grouped=_counts(100_000, 3000),
        baseline=Baseline(value=0.99, samples=100_000, grouped=_counts(100_000, 1000)),
    )
    assert judge(spec, o).phase is Phase.SUCCESSFUL


def test_too_little_baseline_traffic_leaves_the_decision_to_the_thresholds() -> None:
    o = obs(
        0.9,
        samples=1000,
        canary_grouped=_counts(1000, 100),
        baseline=Baseline(value=0.0, samples=2, grouped=(2.0, 0.0)),
    )
    assert judge(COMPARE, o).phase is Phase.SUCCESSFUL  # 0.9 >= 0.5
    only_compare = replace(COMPARE, success=None)
    m = judge(only_compare, o)
    assert m.phase is Phase.INCONCLUSIVE
    assert "too little baseline traffic" in m.reason


def test_a_condition_over_baseline_without_baseline_data_is_inconclusive() -> None:
    spec = replace(COMPARE, success=parse_condition("result >= baseline - 0.01"))
    assert judge(spec, obs(0.99, baseline=None)).phase is Phase.INCONCLUSIVE
    assert judge(spec, obs(0.99, baseline=Baseline(value=math.nan))).phase is Phase.INCONCLUSIVE
    assert judge(spec, obs(0.99, baseline=Baseline(value=0.995, samples=100))).phase is Phase.SUCCESSFUL


def test_alpha_is_split_across_measurements() -> None:
    assert measurement_alpha(replace(COMPARE, count=4)) == pytest.approx(0.0025)


def _m(phase: Phase) -> Measurement:
    return Measurement(metric="success-rate", phase=phase, reason=phase.value, query="q")


S, F, U, E = (_m(p) for p in (Phase.SUCCESSFUL, Phase.FAILED, Phase.INCONCLUSIVE, Phase.ERROR))


@pytest.mark.parametrize(
    ("spec_changes", "history", "verdict"),
    [
        ({}, [], Verdict.RUNNING),
        ({}, [S, S], Verdict.RUNNING),
        ({}, [S, S, S], Verdict.PASS),
        # failureLimit 0: the first failure decides at once (the fast rollback).
        ({}, [F], Verdict.FAIL),
        ({"failure_limit": 1}, [F], Verdict.RUNNING),
        ({"failure_limit": 1}, [F, S, S], Verdict.PASS),
        ({"failure_limit": 1}, [F, S, F], Verdict.FAIL),
        # Inconclusive measurements are retried up to inconclusiveLimit, then decide.
        ({}, [U, U, S, S, S], Verdict.PASS),
        ({}, [U, U, U], Verdict.INCONCLUSIVE),
        ({"on_inconclusive": "fail"}, [U, U, U], Verdict.FAIL),
        ({"inconclusive_limit": 0}, [U], Verdict.INCONCLUSIVE),
        # Errors: only consecutive ones count.
        ({"consecutive_error_limit": 1}, [E, S, E, S, S], Verdict.PASS),
        ({"consecutive_error_limit": 1}, [S, E, E], Verdict.FAIL),
        ({"consecutive_error_limit": 1, "on_error": "inconclusive"}, [E, E], Verdict.INCONCLUSIVE),
    ],
)
def test_metric_status(spec_changes: dict, history: list[Measurement], verdict: Verdict) -> None:
    assert metric_status(replace(SPEC, **spec_changes), history).verdict is verdict


def test_the_reason_counts_and_quotes_the_last_measurement() -> None:
    status = metric_status(SPEC, [S, replace(F, reason="result = 0.5")])
    assert (
        status.reason == "success-rate: 1 failed measurement(s), more than failureLimit 0; last: result = 0.5"
    )


def test_analysis_outcome_fails_if_any_metric_fails_and_passes_only_when_all_pass() -> None:
    latency = replace(SPEC, name="latency")
    template = AnalysisTemplate(name="t", metrics=(SPEC, latency))
    lat = [replace(x, metric="latency") for x in (S, S, S)]
    assert analysis_outcome(template, [S, S, S, *lat]).verdict is Verdict.PASS
    assert analysis_outcome(template, [S, S, *lat]).verdict is Verdict.RUNNING
    out = analysis_outcome(template, [S, F, *lat[:1]])
    assert out.verdict is Verdict.FAIL
    assert out.reason.startswith("success-rate: 1 failed")
    inc = [replace(x, metric="latency") for x in (U, U, U)]
    assert analysis_outcome(template, [S, S, S, *inc]).verdict is Verdict.INCONCLUSIVE
    # A failure outranks an inconclusive metric.
    assert analysis_outcome(template, [F, *inc]).verdict is Verdict.FAIL
