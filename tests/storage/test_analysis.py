"""Analysis runs and measurements in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from pheme.core.monitoring.verdict import Measurement, Phase, Verdict
from pheme.storage import NotFoundError, Store
from pheme.storage._analysis import AnalysisRepo

T0 = datetime(2025, 1, 5, 12, 0, tzinfo=UTC)


def test_a_run_keeps_query_values_verdict_and_reason(store: Store) -> None:
    repo = AnalysisRepo(store)
    run = repo.start_run(
        service="api",
        environment="production",
        version="1.1",
        track="canary",
        template="success-rate",
        deployment="dep-7",
        revision=4,
        baseline_version="1.0",
        at=T0,
    )
    assert (run.verdict, run.measurements, run.started_at) == (Verdict.RUNNING, (), T0)
    repo.add_measurement(
        run.id,
        Measurement(
            metric="success-rate",
            phase=Phase.INCONCLUSIVE,
            reason="no data: the result is NaN (no requests in the window?)",
            query='sum(rate(http_requests_total{version="1.1"}[5s]))',
            value=math.nan,
            samples=0.0,
            raw={"result": [], "quantile": math.inf},
            started_at=T0,
            finished_at=T0,
        ),
    )
    repo.add_measurement(
        run.id,
        Measurement(
            metric="success-rate",
            phase=Phase.FAILED,
            reason="successCondition 'result >= 0.95' does not hold (result = 0.5)",
            query="q2",
            value=[0.5, math.nan],
            samples=120.0,
            baseline=0.99,
            p_value=1e-12,
            raw={"canary": {"requests": 120, "errors": 60}},
        ),
    )
    done = repo.finish_run(run.id, Verdict.FAIL, "success-rate: 1 failed measurement(s)")
    assert done.verdict is Verdict.FAIL
    assert done.finished_at is not None
    first, second = done.measurements
    assert first.phase is Phase.INCONCLUSIVE
    assert math.isnan(first.value)  # type: ignore[arg-type]
    assert first.raw == {"result": [], "quantile": "+Inf"}
    assert first.query == 'sum(rate(http_requests_total{version="1.1"}[5s]))'
    assert second.value[0] == 0.5 and math.isnan(second.value[1])  # type: ignore[index]
    assert (second.samples, second.baseline, second.p_value) == (120.0, 0.99, 1e-12)


def test_listing_filters_and_orders_newest_first(store: Store) -> None:
    repo = AnalysisRepo(store)
    a = repo.start_run(
        service="api", environment="production", version="1", track="canary", template="t", deployment="d1"
    )
    b = repo.start_run(
        service="api", environment="staging", version="2", track="canary", template="t", deployment="d2"
    )
    c = repo.start_run(service="web", environment="production", version="3", track="preview", template="t")
    assert [r.id for r in repo.list_runs()] == [c.id, b.id, a.id]
    assert [r.id for r in repo.list_runs(deployment="d1")] == [a.id]
    assert [r.id for r in repo.list_runs(service="api", environment="staging")] == [b.id]


def test_interrupted_runs_become_inconclusive(store: Store) -> None:
    repo = AnalysisRepo(store)
    run = repo.start_run(service="api", environment="production", version="1", track="canary", template="t")
    assert list(repo.interrupted("the deploy agent stopped")) == [run.id]
    again = repo.get_run(run.id)
    assert (again.verdict, again.reason) == (Verdict.INCONCLUSIVE, "the deploy agent stopped")


def test_unknown_run(store: Store) -> None:
    with pytest.raises(NotFoundError):
        AnalysisRepo(store).get_run(999)
