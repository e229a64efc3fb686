"""Loading analysis templates: what a user writes, what it means, and errors at file:line:col."""

from __future__ import annotations

import pytest

from pheme.core.monitoring.templates import (
    PrometheusProvider,
    ScrapeProvider,
    format_duration,
    load_template,
    parse_duration,
    render_query,
)
from pheme.errors import WorkflowError

FULL = """\
name: checkout-health
description: Success rate from Prometheus, latency from a scrape.
interval: 30s
count: 4
initialDelay: 1m
failureLimit: 1
metrics:
  - name: success-rate
    provider:
      prometheus:
        address: http://prom:9090
        query: sum(rate(http_requests_total{service="{{ service }}",version="{{version}}",status!~"5.."}[{{ interval }}]))
        sampleQuery: sum(increase(http_requests_total{service="{{ service }}"}[{{ interval }}]))
    successCondition: result >= 0.99
    failureCondition: result < 0.9
    minSamples: 50
  - name: latency
    interval: 5s
    count: 2
    consecutiveErrorLimit: 0
    inconclusiveLimit: 5
    onInconclusive: fail
    onError: inconclusive
    provider:
      scrape: {signal: latency, quantile: 0.95}
    successCondition: result <= baseline * 1.2
    compare: {baseline: stable, alpha: 0.02, tolerance: 0.01}
"""


def test_a_full_template() -> None:
    t = load_template(FULL, "analysis/checkout.yml")
    assert t.name == "checkout-health"
    success, latency = t.metrics
    assert isinstance(success.provider, PrometheusProvider)
    assert success.provider.address == "http://prom:9090"
    assert success.provider.sample_query is not None
    # Template-level schedule applies unless the metric overrides it.
    assert (success.interval, success.count, success.initial_delay, success.failure_limit) == (
        30.0,
        4,
        60.0,
        1,
    )
    assert success.min_samples == 50
    assert success.success is not None and success.success.text == "result >= 0.99"
    assert (latency.interval, latency.count, latency.initial_delay) == (5.0, 2, 60.0)
    assert (latency.consecutive_error_limit, latency.inconclusive_limit) == (0, 5)
    assert (latency.on_inconclusive, latency.on_error) == ("fail", "inconclusive")
    assert latency.provider == ScrapeProvider(signal="latency", quantile=0.95)
    # Latency: higher is worse unless the template says otherwise.
    assert latency.compare is not None
    assert (latency.compare.baseline, latency.compare.alpha, latency.compare.worse) == (
        "stable",
        0.02,
        "higher",
    )


def _problems(text: str) -> list[str]:
    with pytest.raises(WorkflowError) as err:
        load_template(text, "t.yml")
    return [str(p) for p in err.value.problems]


def test_every_problem_is_reported_with_its_position() -> None:
    problems = _problems(
        """\
name: bad
intervall: 5s
metrics:
  - name: a
    provider:
      scrape: {signal: errors}
    successCondition: result >=
  - name: b
    provider:
      prometheus:
        query: rate(x{version="{{ versoin }}"}[{{ interval }}])
    failureCondition: import os
    count: 0
"""
    )
    assert problems[0].startswith("t.yml:2:1: unknown key 'intervall' in the template")
    assert any(p.startswith("t.yml:6:24: metric 'a'.provider.scrape.signal must be one of") for p in problems)
    assert any(
        "t.yml:11:16: metric 'b'.provider.prometheus.query: unknown placeholder {{ versoin }}" in p
        for p in problems
    )
    assert any(
        p.startswith("t.yml:12:23: metric 'b'.failureCondition: unknown name 'import'") for p in problems
    )
    assert any(p.startswith("t.yml:13:12: metric 'b'.count must be at least 1") for p in problems)
    assert any(p.startswith("t.yml:7:23: metric 'a'.successCondition: unexpected end") for p in problems)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "t.yml:1:1: empty analysis template"),
        ("name: x\n", "t.yml:1:1: an analysis template needs metrics"),
        ("name: x\nmetrics: []\n", "t.yml:2:10: metrics must be a non-empty list"),
        ("name: x\nmetrics:\n  - name: m\n", "metric 'm' needs a provider"),
        (
            "name: x\nmetrics:\n  - name: m\n    provider: {scrape: {signal: latency}}\n",
            "needs a successCondition, a failureCondition or a compare",
        ),
        (
            "name: x\nmetrics:\n  - name: m\n    provider: {prometheus: {query: up}}\n    successCondition: result > 0\n"
            "    minSamples: 10\n",
            "minSamples needs provider.prometheus.sampleQuery",
        ),
        (
            "name: x\ninterval: soon\nmetrics:\n  - name: m\n    provider: {scrape: {signal: latency}}\n"
            "    successCondition: result < 1\n",
            "t.yml:2:11: the template.interval: invalid duration 'soon'",
        ),
        (
            "name: x\nmetrics:\n  - name: m\n    provider: {scrape: {signal: latency}}\n"
            "    successCondition: result < baseline\n",
            "unknown name 'baseline' (known: result)",
        ),
        ("name: [x\n", "t.yml:"),
    ],
)
def test_single_problems(text: str, message: str) -> None:
    problems = _problems(text)
    assert any(message in p for p in problems), problems


def test_a_metric_defined_twice_is_refused() -> None:
    metric = "  - name: m\n    provider: {scrape: {signal: latency}}\n    successCondition: result < 1\n"
    assert any("defined twice" in p for p in _problems("name: x\nmetrics:\n" + metric + metric))


def test_args_can_be_used_in_queries() -> None:
    t = load_template(
        "name: x\nargs: {route: /api}\nmetrics:\n  - name: m\n    provider:\n      prometheus:\n"
        '        query: rate(x{route="{{ args.route }}"}[1m])\n    successCondition: result < 1\n'
    )
    q = t.metrics[0].provider
    assert isinstance(q, PrometheusProvider)
    assert render_query(q.query, service="s", version="v", track="t", interval=5, args=t.args) == (
        'rate(x{route="/api"}[1m])'
    )


def test_render_query_escapes_values_so_they_cannot_change_the_query() -> None:
    q = render_query(
        'x{version="{{ version }}",track="{{track}}"}[{{ interval }}]',
        service="api",
        version='1.0"} or vector(1) #',
        track="canary",
        interval=90,
    )
    assert q == 'x{version="1.0\\"} or vector(1) #",track="canary"}[90s]'


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5s", 5), ("1m30s", 90), ("500ms", 0.5), ("2h", 7200), ("1d", 86400), ("10", 10), (7, 7), ("0.5", 0.5)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "s", "5s3", "-1", "1m 30s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"), [(5, "5s"), (90, "90s"), (300, "5m"), (1.5, "1500ms"), (7200, "2h")]
)
def test_prometheus_durations(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_with_schedule_overrides_every_metric() -> None:
    t = load_template(FULL).with_schedule(interval=5, count=1)
    assert [(m.interval, m.count) for m in t.metrics] == [(5, 1), (5, 1)]
