"""DORA gauges and analysis counts on the server's ``/metrics``.

A prometheus_client collector computed at scrape time from the store, so the
numbers are exactly what ``pheme dora`` prints (same functions, same window),
and Grafana's "PHEME Deployments & DORA" dashboard reads them:

    pheme_dora_deployment_frequency_per_day{service, environment}
    pheme_dora_lead_time_median_seconds{service, environment}
    pheme_dora_change_failure_rate{service, environment}
    pheme_dora_recovery_time_median_seconds{service, environment}
    pheme_dora_deployments{service, environment, outcome}      (finished in the window)
    pheme_analysis_runs{service, environment, verdict}         (started in the window)

Register it on the server's registry: ``DoraCollector(lambda: store).register(registry)``.
Scrapes are cached for ``ttl`` seconds: Prometheus may scrape every few
seconds, the history changes at deployment pace.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from pheme.core.monitoring.dora import DoraMetrics

__all__ = ["DoraCollector"]

log = logging.getLogger(__name__)


class DoraCollector(Collector):
    def __init__(
        self,
        store: Callable[[], Any],
        *,
        window: timedelta = timedelta(days=30),
        repo: Path | None = None,
        ttl: float = 30.0,
    ) -> None:
        self.store = store
        self.window = window
        self.repo = repo
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def register(self, registry: CollectorRegistry) -> DoraCollector:
        registry.register(self)
        return self

    def describe(self) -> list[Metric]:
        # Describing without touching the database keeps registration cheap and side-effect free.
        return self._families([], {}, {})

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > self.ttl:
                self._cached = (now, self._compute())
            yield from self._cached[1]

    def _compute(self) -> list[Metric]:
        from pheme.monitoring.reports import dora_report

        try:
            store = self.store()
            groups = dora_report(store, window=self.window, repo=self.repo)
            outcomes, verdicts = self._counts(store)
        except Exception:  # a broken database must not break /metrics
            log.exception("DORA metrics could not be computed")
            return self._families([], {}, {})
        return self._families(groups, outcomes, verdicts)

    def _counts(self, store: Any) -> tuple[dict[tuple[str, str, str], int], dict[tuple[str, str, str], int]]:
        from pheme.core.monitoring.dora import facts_from_deployments
        from pheme.core.runs import utc_now
        from pheme.storage._analysis import AnalysisRepo
        from pheme.storage._deployments import DeploymentRepo

        start = utc_now() - self.window
        outcomes: dict[tuple[str, str, str], int] = {}
        for f in facts_from_deployments(DeploymentRepo(store).list(limit=100_000)):
            if f.finished_at is not None and f.finished_at >= start and f.outcome != "in_progress":
                key = (f.service, f.environment, f.outcome)
                outcomes[key] = outcomes.get(key, 0) + 1
        verdicts: dict[tuple[str, str, str], int] = {}
        for run in AnalysisRepo(store).list_runs(limit=100_000, with_measurements=False):
            if run.started_at >= start:
                vkey = (run.service, run.environment, run.verdict.value)
                verdicts[vkey] = verdicts.get(vkey, 0) + 1
        return outcomes, verdicts

    @staticmethod
    def _families(
        groups: list[DoraMetrics],
        outcomes: dict[tuple[str, str, str], int],
        verdicts: dict[tuple[str, str, str], int],
    ) -> list[Metric]:
        labels = ["service", "environment"]
        freq = GaugeMetricFamily(
            "pheme_dora_deployment_frequency_per_day",
            "Successful deployments per day over the DORA window.",
            labels=labels,
        )
        lead = GaugeMetricFamily(
            "pheme_dora_lead_time_median_seconds",
            "Median time from commit to running, over the window.",
            labels=labels,
        )
        cfr = GaugeMetricFamily(
            "pheme_dora_change_failure_rate",
            "Share of finished deployments rolled back, aborted, failed or followed by a fix.",
            labels=labels,
        )
        recovery = GaugeMetricFamily(
            "pheme_dora_recovery_time_median_seconds",
            "Median time from a failed deployment taking traffic to a good version serving again.",
            labels=labels,
        )
        for g in groups:
            key = [g.service, g.environment]
            freq.add_metric(key, g.deployments_per_day)
            if g.lead_time_median_s is not None:
                lead.add_metric(key, g.lead_time_median_s)
            if g.change_failure_rate is not None:
                cfr.add_metric(key, g.change_failure_rate)
            if g.recovery_median_s is not None:
                recovery.add_metric(key, g.recovery_median_s)
        deployments = GaugeMetricFamily(
            "pheme_dora_deployments",
            "Deployments finished in the DORA window, by outcome.",
            labels=[*labels, "outcome"],
        )
        for (service, env, outcome), n in sorted(outcomes.items()):
            deployments.add_metric([service, env, outcome], n)
        analyses = GaugeMetricFamily(
            "pheme_analysis_runs",
            "Analysis runs started in the DORA window, by verdict.",
            labels=[*labels, "verdict"],
        )
        for (service, env, verdict), n in sorted(verdicts.items()):
            analyses.add_metric([service, env, verdict], n)
        return [freq, lead, cfr, recovery, deployments, analyses]
