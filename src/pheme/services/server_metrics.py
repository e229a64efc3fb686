"""Prometheus metrics of the pipeline server (one registry per server instance).

Why a registry per instance and not prometheus_client's global one: tests
(and benchmarks) build many apps in one process; a global registry refuses
to register the same metric twice. ``/metrics`` exposes this registry.

The HTTP metrics keep the names and the ``status`` label the seed's Grafana
dashboard reads (``http_requests_total{status}``, ``http_request_duration_seconds``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "ServerMetrics"]

# prometheus_client leaves this one function unannotated; it takes and returns nothing.
_disable_created_metrics = cast(Callable[[], None], prometheus_client.disable_created_metrics)

_DURATION_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, float("inf"))
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, float("inf"))


class ServerMetrics:
    def __init__(self) -> None:
        _disable_created_metrics()  # no *_created series: noise for every scraper
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.runs = Counter("pheme_runs", "Completed runs, by workflow and conclusion.", ["workflow", "conclusion"], registry=r)
        self.jobs = Counter("pheme_jobs", "Completed jobs, by workflow and conclusion.", ["workflow", "conclusion"], registry=r)
        self.run_duration = Histogram(
            "pheme_run_duration_seconds", "Run duration (start to finish).", ["workflow"], buckets=_DURATION_BUCKETS, registry=r
        )
        self.job_duration = Histogram(
            "pheme_job_duration_seconds", "Job duration (start to finish).", ["workflow"], buckets=_DURATION_BUCKETS, registry=r
        )
        self.queue_wait = Histogram(
            "pheme_queue_wait_seconds", "Time from enqueue to start.", buckets=_DURATION_BUCKETS, registry=r
        )
        self.queue_depth = Gauge("pheme_queue_depth", "Runs queued and not yet started.", registry=r)
        self.runs_running = Gauge("pheme_runs_running", "Runs executing now.", registry=r)
        self.jobs_running = Gauge("pheme_jobs_running", "Jobs holding a capacity slot now.", registry=r)
        self.approvals_waiting = Gauge("pheme_approvals_waiting", "Jobs waiting for an approval.", registry=r)
        self.webhooks = Counter("pheme_webhooks", "Webhook deliveries, by event and outcome.", ["event", "outcome"], registry=r)
        self.notifications = Counter(
            "pheme_notifications", "Outgoing notifications and commit statuses, by kind and outcome.", ["kind", "outcome"], registry=r
        )
        self.http_requests = Counter(
            "http_requests", "HTTP requests served, by status code.", ["method", "route", "status"], registry=r
        )
        self.http_duration = Histogram(
            "http_request_duration_seconds", "Time spent serving HTTP requests.", ["method", "route"],
            buckets=_HTTP_BUCKETS, registry=r,
        )  # fmt: skip

    def track_queue_depth(self, depth: Callable[[], float]) -> None:
        self.queue_depth.set_function(depth)

    def render(self) -> bytes:
        return generate_latest(self.registry)
