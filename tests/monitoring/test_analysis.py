"""The analysis runner against the real seed service: scrape, judge, record, decide."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pheme.core.monitoring.templates import load_template
from pheme.core.monitoring.verdict import Phase, Verdict
from pheme.monitoring.analysis import StoreRecorder, TemplateAnalysisRunner, run_analysis
from pheme.monitoring.library import TemplateLibrary
from pheme.monitoring.providers import AnalysisContext
from pheme.storage import open_store
from pheme.storage._analysis import AnalysisRepo


def template(body: str, *, interval: str = "0.4s", count: int = 2) -> Any:
    return load_template(f"name: t\ninterval: {interval}\ncount: {count}\nmetrics:\n{body}")


SUCCESS = """\
  - name: success-rate
    provider: {scrape: {signal: success-rate}}
    successCondition: result >= 0.95
    minSamples: 5
"""


def ctx(
    *endpoints: str, baseline: tuple[str, ...] = (), baseline_version: str | None = None
) -> AnalysisContext:
    return AnalysisContext(
        service="pheme-api",
        environment="production",
        version="1.1.0",
        track="canary",
        endpoints=endpoints,
        baseline_endpoints=baseline,
        baseline_version=baseline_version,
    )


def test_a_healthy_version_with_traffic_passes(start_service: Any, traffic: Any) -> None:
    svc = start_service("1.1.0")
    traffic(svc)
    result = asyncio.run(run_analysis(template(SUCCESS), ctx(svc.url)))
    assert result.verdict is Verdict.PASS, result.reason
    assert [m.phase for m in result.measurements] == [Phase.SUCCESSFUL, Phase.SUCCESSFUL]
    first = result.measurements[0]
    assert first.value == 1.0
    assert first.samples is not None and first.samples >= 5
    assert f"{svc.url}/metrics" in first.query
    assert first.raw["canary"]["requests"] == first.samples


def test_a_failing_version_fails_at_the_first_measurement(start_service: Any, traffic: Any) -> None:
    svc = start_service("1.1.0", error_rate=0.5)
    traffic(svc)
    t0 = time.monotonic()
    result = asyncio.run(run_analysis(template(SUCCESS, count=5), ctx(svc.url)))
    took = time.monotonic() - t0
    assert result.verdict is Verdict.FAIL
    assert len(result.measurements) == 1  # no waiting for the other four
    assert took < 3.0  # one 0.4 s interval, not five
    assert result.reason.startswith("success-rate: 1 failed measurement(s), more than failureLimit 0; last: ")
    assert "does not hold (result = 0." in result.reason


def test_no_traffic_is_inconclusive_not_a_pass(start_service: Any) -> None:
    svc = start_service("1.1.0")
    result = asyncio.run(
        run_analysis(
            template(SUCCESS.replace("minSamples: 5", "minSamples: 5\n    inconclusiveLimit: 1")),
            ctx(svc.url),
        )
    )
    assert result.verdict is Verdict.INCONCLUSIVE
    assert [m.phase for m in result.measurements] == [Phase.INCONCLUSIVE, Phase.INCONCLUSIVE]
    assert "too little traffic: 0 requests (minimum 5)" in result.reason


def test_an_unreachable_version_is_an_error_then_a_failure(start_service: Any) -> None:
    svc = start_service("1.1.0")
    svc.server.shutdown()
    svc.server.server_close()
    body = SUCCESS.replace("minSamples: 5", "minSamples: 5\n    consecutiveErrorLimit: 1")
    result = asyncio.run(run_analysis(template(body, interval="0.2s"), ctx(svc.url)))
    assert result.verdict is Verdict.FAIL
    assert [m.phase for m in result.measurements] == [Phase.ERROR, Phase.ERROR]
    assert "2 consecutive errors" in result.reason
    assert f"scrape of {svc.url}/metrics failed" in result.reason


def test_latency_p99_from_the_histogram(start_service: Any, traffic: Any) -> None:
    svc = start_service("1.1.0", latency_ms=30)
    traffic(svc, rate=100)
    body = """\
  - name: latency
    provider: {scrape: {signal: latency, quantile: 0.99}}
    successCondition: result <= 0.01
    minSamples: 5
"""
    result = asyncio.run(run_analysis(template(body, count=1, interval="0.6s"), ctx(svc.url)))
    # Every request takes >= 30 ms: p99 is above the 0.025 s bucket bound, so above 10 ms.
    assert result.verdict is Verdict.FAIL
    value = result.measurements[0].value
    assert isinstance(value, float) and 0.025 < value <= 0.1


def test_canary_worse_than_stable_fails_the_comparison(start_service: Any, traffic: Any) -> None:
    stable = start_service("1.0.0")
    canary = start_service("1.1.0", error_rate=0.2)
    traffic(stable, canary, rate=300)
    body = """\
  - name: success-rate
    provider: {scrape: {signal: success-rate}}
    successCondition: result >= 0.5
    minSamples: 20
    compare: {baseline: stable, alpha: 0.01}
"""
    result = asyncio.run(
        run_analysis(
            template(body, count=1, interval="1s"),
            ctx(canary.url, baseline=(stable.url,), baseline_version="1.0.0"),
        )
    )
    assert result.verdict is Verdict.FAIL, result.reason
    m = result.measurements[0]
    assert m.baseline == 1.0
    assert m.p_value is not None and m.p_value < 0.01
    assert "lower than baseline 'stable'" in m.reason
    assert m.raw["baseline"]["requests"] > 0


def test_timeout_is_inconclusive(start_service: Any, traffic: Any) -> None:
    svc = start_service("1.1.0")
    traffic(svc)
    result = asyncio.run(
        run_analysis(template(SUCCESS, count=10, interval="0.3s"), ctx(svc.url), timeout=0.5)
    )
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.reason.startswith("the analysis did not finish within 0.5s")


def test_the_runner_records_every_measurement(start_service: Any, traffic: Any, tmp_path: Path) -> None:
    svc = start_service("1.1.0", error_rate=0.5)
    traffic(svc)
    (tmp_path / ".pheme" / "analysis").mkdir(parents=True)
    (tmp_path / ".pheme" / "analysis" / "fast.yml").write_text(
        "name: fast\ninterval: 0.3s\ncount: 2\nmetrics:\n" + SUCCESS
    )
    with open_store(f"sqlite:///{tmp_path / 'pheme.db'}") as store:
        runner = TemplateAnalysisRunner(library=TemplateLibrary(tmp_path), recorder=StoreRecorder(store))
        request = SimpleNamespace(
            service="pheme-api", environment="production", version="1.1.0", revision=3, track="canary",
            template="fast", url=svc.url, timeout=30.0,
        )  # fmt: skip
        verdict = asyncio.run(runner.analyze(request))
        assert verdict.verdict == "fail"
        (run,) = AnalysisRepo(store).list_runs(service="pheme-api")
        assert (run.id, run.verdict, run.revision, run.template) == (verdict.run_id, Verdict.FAIL, 3, "fast")
        assert run.reason == verdict.reason
        (m,) = run.measurements
        assert m.phase is Phase.FAILED and "result = 0." in m.reason
        assert m.query.startswith("scrape 1 - increase(http_requests_total")


def test_unknown_template_is_inconclusive_with_the_known_names(tmp_path: Path) -> None:
    runner = TemplateAnalysisRunner(library=TemplateLibrary(tmp_path))
    request = SimpleNamespace(
        service="a", environment="e", version="1", revision=1, track="canary", template="nope", url=None
    )
    verdict = asyncio.run(runner.analyze(request))
    assert verdict.verdict == "inconclusive"
    assert verdict.reason.startswith("unknown analysis template 'nope' (known: http, latency-p99, ")


def test_broken_repository_template_names_file_line_col(tmp_path: Path) -> None:
    (tmp_path / ".pheme" / "analysis").mkdir(parents=True)
    (tmp_path / ".pheme" / "analysis" / "bad.yml").write_text("name: bad\nmetrics: 3\n")
    runner = TemplateAnalysisRunner(library=TemplateLibrary(tmp_path))
    request = SimpleNamespace(
        service="a", environment="e", version="1", revision=1, track="canary", template="bad", url=None
    )
    verdict = asyncio.run(runner.analyze(request))
    assert verdict.verdict == "inconclusive"
    assert verdict.reason == ".pheme/analysis/bad.yml:2:10: metrics must be a non-empty list"


@pytest.mark.parametrize("name", ["success-rate", "http"])
def test_builtin_templates_run_on_the_seed_service(start_service: Any, traffic: Any, name: str) -> None:
    svc = start_service("1.1.0")
    traffic(svc)
    t = TemplateLibrary(None).get(name).with_schedule(interval=0.5, count=1)
    result = asyncio.run(run_analysis(t, ctx(svc.url)))
    assert result.verdict is Verdict.PASS, result.reason
