"""The prometheus provider against a real Prometheus scraping the seed service (started by the test).

Prometheus is configured with Pheme's own generated scrape configuration, so
this also checks that the labels the built-in ``prometheus/*`` templates select
on (service, version, track) are really there.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pheme.core.monitoring.builtin import builtin_template
from pheme.core.monitoring.promconfig import ScrapeTarget, dump_yaml, prometheus_config
from pheme.core.monitoring.templates import load_template
from pheme.core.monitoring.verdict import Phase, Verdict
from pheme.monitoring.analysis import run_analysis
from pheme.monitoring.providers import AnalysisContext, PrometheusError, prometheus_query

pytestmark = pytest.mark.slow


def _conftest() -> Any:
    # The shared helpers live in this directory's conftest.py (tests are not a package).
    name = "pheme_tests_monitoring_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("conftest.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_helpers = _conftest()
Traffic = _helpers.Traffic
start_pheme_api = _helpers.start_pheme_api
start_prometheus = _helpers.start_prometheus


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    stable = start_pheme_api("1.0.0")
    canary = start_pheme_api("1.1.0", error_rate=0.3)
    idle = start_pheme_api("1.2.0")
    load = Traffic([stable.url, canary.url], rate=150).start()
    config = prometheus_config(
        services=["pheme-api"],
        targets=[
            ScrapeTarget("pheme-api", stable.address, "production", "1.0.0", "stable"),
            ScrapeTarget("pheme-api", canary.address, "production", "1.1.0", "canary"),
            ScrapeTarget("pheme-api", idle.address, "production", "1.2.0", "preview"),
        ],
        scrape_interval=0.5,
        evaluation_interval=1,
    )
    try:
        prom = start_prometheus(dump_yaml(config), tmp_path_factory.mktemp("prometheus"))
    except BaseException:
        load.stop()
        for svc in (stable, canary, idle):
            svc.stop()
        raise
    try:
        # Two scrapes of each version with traffic in between: rate() has something to say.
        prom.wait_for_samples('rate(http_requests_total{version="1.1.0"}[2s]) > 0')
        prom.wait_for_samples('rate(http_requests_total{version="1.0.0"}[2s]) > 0')
        yield {"url": prom.url, "stable": stable, "canary": canary, "idle": idle}
    finally:
        prom.stop()
        load.stop()
        for svc in (stable, canary, idle):
            svc.stop()


def ctx(version: str, url: str, *, track: str = "canary", baseline: str | None = None) -> AnalysisContext:
    return AnalysisContext(
        service="pheme-api",
        environment="production",
        version=version,
        track=track,
        prometheus_url=url,
        baseline_version=baseline,
    )


def test_generated_config_labels_every_target(stack: dict[str, Any]) -> None:
    body = httpx.get(f"{stack['url']}/api/v1/query", params={"query": 'up{job="pheme-api"}'}).json()
    labels = sorted(
        (s["metric"]["version"], s["metric"]["track"], s["metric"]["service"]) for s in body["data"]["result"]
    )
    assert labels == [
        ("1.0.0", "stable", "pheme-api"),
        ("1.1.0", "canary", "pheme-api"),
        ("1.2.0", "preview", "pheme-api"),
    ]


def test_builtin_success_rate_passes_stable_and_fails_the_bad_canary(stack: dict[str, Any]) -> None:
    template = builtin_template("prometheus/success-rate").with_schedule(interval=2, count=1)
    good = asyncio.run(run_analysis(template, ctx("1.0.0", stack["url"], track="stable")))
    assert good.verdict is Verdict.PASS, good.reason
    assert good.measurements[0].value == 1.0
    bad = asyncio.run(run_analysis(template, ctx("1.1.0", stack["url"])))
    assert bad.verdict is Verdict.FAIL, bad.reason
    m = bad.measurements[0]
    assert isinstance(m.value, float) and 0.5 < m.value < 0.9  # about 0.7
    # The record shows the resolved query, the raw result and the sample count.
    assert 'version="1.1.0",status=~"5.."}[2s]' in m.query
    assert float(m.raw["result"][0]["value"][1]) == pytest.approx(m.value)
    assert m.samples is not None and m.samples >= 20


def test_no_traffic_is_inconclusive(stack: dict[str, Any]) -> None:
    template = builtin_template("prometheus/http").with_schedule(interval=1, count=1)
    result = asyncio.run(run_analysis(template, ctx("1.2.0", stack["url"], track="preview")))
    assert result.verdict is Verdict.INCONCLUSIVE
    assert all(m.phase is Phase.INCONCLUSIVE for m in result.measurements)
    assert "too little traffic: 0 requests (minimum 20)" in result.reason


def test_a_version_prometheus_never_saw_is_inconclusive(stack: dict[str, Any]) -> None:
    template = builtin_template("prometheus/success-rate").with_schedule(interval=1, count=1)
    result = asyncio.run(run_analysis(template, ctx("9.9.9", stack["url"])))
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.measurements[0].reason.startswith("too little traffic: 0 requests")


def test_comparison_with_the_stable_version_uses_range_queries(stack: dict[str, Any]) -> None:
    template = load_template(
        """\
name: compare
interval: 3s
count: 1
metrics:
  - name: error-ratio
    provider:
      prometheus:
        query: >-
          sum(rate(http_requests_total{version="{{ version }}",status=~"5.."}[1s]) or vector(0))
          / sum(rate(http_requests_total{version="{{ version }}"}[1s]))
        step: 0.5s
    failureCondition: result > 0.9
    compare: {baseline: stable, alpha: 0.05, worse: higher}
"""
    )
    result = asyncio.run(run_analysis(template, ctx("1.1.0", stack["url"], baseline="1.0.0")))
    assert result.verdict is Verdict.FAIL, result.reason
    m = result.measurements[0]
    assert "higher than baseline 'stable'" in m.reason
    assert m.raw["baseline"]["query"].count('version="1.0.0"') == 2


def test_query_errors_and_an_unreachable_server_are_errors(stack: dict[str, Any]) -> None:
    async def bad_query() -> None:
        async with httpx.AsyncClient() as client:
            await prometheus_query(client, stack["url"], "sum(")

    with pytest.raises(PrometheusError, match="Prometheus bad_data"):
        asyncio.run(bad_query())
    template = builtin_template("prometheus/success-rate").with_schedule(interval=0.2, count=1)
    dead = "http://127.0.0.1:1"
    result = asyncio.run(run_analysis(template, ctx("1.1.0", dead)))
    assert result.measurements[0].phase is Phase.ERROR
    assert "Prometheus at http://127.0.0.1:1 is unreachable" in result.measurements[0].reason
    assert result.verdict is Verdict.FAIL  # onError: fail, after consecutiveErrorLimit 2
