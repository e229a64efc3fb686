"""Grafana dashboards (dashboard JSON model) for services, pipelines, deployments and DORA.

The seed's "PHEME System Metrics" dashboard had two panels, "API Response
Time" (``http_request_duration_seconds``) and "Error Rate"
(``rate(http_requests_total{status=~"5.."}[5m])``). A histogram cannot be
graphed by its name alone, so "API Response Time" plots
``histogram_quantile`` over the buckets (p50, p95, p99); "Error Rate" keeps
the seed's query, summed by service and version so a canary stands out.

Every dashboard uses a ``datasource`` variable (type ``datasource``, query
``prometheus``) instead of a hard-coded name, so it imports into any Grafana.
The output is the bare dashboard model that Grafana's file provisioning reads;
wrap it in ``{"dashboard": ...}`` for the HTTP API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SCHEMA_VERSION",
    "dashboards",
    "deployments_dashboard",
    "pipelines_dashboard",
    "services_dashboard",
]

SCHEMA_VERSION = 39
_DS = {"type": "prometheus", "uid": "${datasource}"}


@dataclass(frozen=True, slots=True)
class _Target:
    expr: str
    legend: str = ""
    instant: bool = False


def _panel(
    pid: int,
    title: str,
    targets: Sequence[_Target],
    *,
    x: int,
    y: int,
    w: int = 12,
    h: int = 8,
    kind: str = "timeseries",
    unit: str = "short",
    description: str = "",
    decimals: int | None = None,
) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": unit}
    if decimals is not None:
        defaults["decimals"] = decimals
    options: dict[str, Any]
    if kind == "stat":
        options = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "none",
            "textMode": "auto",
        }
    else:
        options = {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi"},
        }
    return {
        "id": pid,
        "type": kind,
        "title": title,
        "description": description,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "datasource": dict(_DS),
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": dict(_DS),
                "expr": t.expr,
                "legendFormat": t.legend,
                "instant": t.instant,
                "range": not t.instant,
            }
            for i, t in enumerate(targets)
        ],
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
    }


def _datasource_var() -> dict[str, Any]:
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "options": [],
    }


def _query_var(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": dict(_DS),
        "query": {"query": query, "refId": f"{name}-var"},
        "definition": query,
        "current": {"text": "All", "value": "$__all"},
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "hide": 0,
        "refresh": 2,
        "sort": 1,
        "options": [],
    }


def _dashboard(
    uid: str, title: str, panels: list[dict[str, Any]], variables: list[dict[str, Any]], tags: list[str]
) -> dict[str, Any]:
    return {
        "id": None,
        "uid": uid,
        "title": title,
        "tags": ["pheme", *tags],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "templating": {"list": [_datasource_var(), *variables]},
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "links": [],
        "panels": panels,
    }


_SVC = 'service=~"$service"'


def services_dashboard() -> dict[str, Any]:
    """The seed's "PHEME System Metrics": response time and error rate, per service and version."""
    sel = f'{_SVC},env=~"$env"'
    panels = [
        _panel(
            1,
            "API Response Time",
            [
                _Target(
                    f"histogram_quantile({q}, sum by (service, version, le) "
                    f"(rate(http_request_duration_seconds_bucket{{{sel}}}[5m])))",
                    f"p{int(q * 100)} {{{{service}}}} {{{{version}}}}",
                )
                for q in (0.5, 0.95, 0.99)
            ],
            x=0,
            y=0,
            unit="s",
            description="Quantiles of http_request_duration_seconds (histogram).",
        ),
        _panel(
            2,
            "Error Rate",
            [
                _Target(
                    f'sum by (service, version) (rate(http_requests_total{{status=~"5..",{sel}}}[5m]))',
                    "{{service}} {{version}}",
                )
            ],
            x=12,
            y=0,
            unit="reqps",
            description='rate(http_requests_total{status=~"5.."}[5m]): 5xx responses per second.',
        ),
        _panel(
            3,
            "Request Rate",
            [
                _Target(
                    f"sum by (service, version) (rate(http_requests_total{{{sel}}}[5m]))",
                    "{{service}} {{version}}",
                )
            ],
            x=0,
            y=8,
            unit="reqps",
        ),
        _panel(
            4,
            "Success Rate",
            [
                _Target(
                    f'1 - (sum by (service, version) (rate(http_requests_total{{status=~"5..",{sel}}}[5m])) or '
                    f"sum by (service, version) (rate(http_requests_total{{{sel}}}[5m])) * 0) / "
                    f"sum by (service, version) (rate(http_requests_total{{{sel}}}[5m]))",
                    "{{service}} {{version}}",
                )
            ],
            x=12,
            y=8,
            unit="percentunit",
            description="Share of requests not answered 5xx (what the success-rate analysis judges).",
        ),
    ]
    variables = [
        _query_var("service", "Service", "label_values(http_requests_total, service)"),
        _query_var("env", "Environment", "label_values(http_requests_total, env)"),
    ]
    return _dashboard("pheme-services", "PHEME System Metrics", panels, variables, ["services"])


def pipelines_dashboard() -> dict[str, Any]:
    """Pipeline runs from the Pheme server's own ``/metrics``."""
    wf = 'workflow=~"$workflow"'
    panels = [
        _panel(
            1,
            "Runs by conclusion",
            [_Target(f"sum by (conclusion) (increase(pheme_runs_total{{{wf}}}[1h]))", "{{conclusion}}")],
            x=0,
            y=0,
            unit="short",
            description="Completed runs per hour.",
        ),
        _panel(
            2,
            "Run success rate",
            [
                _Target(
                    f'sum(increase(pheme_runs_total{{conclusion="success",{wf}}}[1d])) / '
                    f"sum(increase(pheme_runs_total{{{wf}}}[1d]))",
                    "success",
                )
            ],
            x=12,
            y=0,
            unit="percentunit",
        ),
        _panel(
            3,
            "Run duration",
            [
                _Target(
                    f"histogram_quantile({q}, sum by (workflow, le) (rate(pheme_run_duration_seconds_bucket{{{wf}}}[1h])))",
                    f"p{int(q * 100)} {{{{workflow}}}}",
                )
                for q in (0.5, 0.95)
            ],
            x=0,
            y=8,
            unit="s",
        ),
        _panel(
            4,
            "Queue",
            [
                _Target("pheme_queue_depth", "queued"),
                _Target("pheme_runs_running", "running"),
                _Target(
                    "histogram_quantile(0.95, sum by (le) (rate(pheme_queue_wait_seconds_bucket[1h])))",
                    "p95 wait (s)",
                ),
            ],
            x=12,
            y=8,
            unit="short",
        ),
    ]
    variables = [_query_var("workflow", "Workflow", "label_values(pheme_runs_total, workflow)")]
    return _dashboard("pheme-pipelines", "PHEME Pipelines", panels, variables, ["pipelines"])


def deployments_dashboard() -> dict[str, Any]:
    """Deployments, analyses and the four DORA metrics (gauges Pheme computes from its records)."""
    sel = f'{_SVC},environment=~"$environment"'
    panels = [
        _panel(
            1,
            "Deployment frequency",
            [
                _Target(
                    f"pheme_dora_deployment_frequency_per_day{{{sel}}}",
                    "{{service}} {{environment}}",
                    instant=True,
                )
            ],
            x=0,
            y=0,
            w=6,
            kind="stat",
            unit="short",
            decimals=2,
            description="Successful deployments per day over the DORA window.",
        ),
        _panel(
            2,
            "Lead time for changes",
            [
                _Target(
                    f"pheme_dora_lead_time_median_seconds{{{sel}}}",
                    "{{service}} {{environment}}",
                    instant=True,
                )
            ],
            x=6,
            y=0,
            w=6,
            kind="stat",
            unit="s",
            description="Median time from commit to running in the environment.",
        ),
        _panel(
            3,
            "Change failure rate",
            [
                _Target(
                    f"pheme_dora_change_failure_rate{{{sel}}}", "{{service}} {{environment}}", instant=True
                )
            ],
            x=12,
            y=0,
            w=6,
            kind="stat",
            unit="percentunit",
            description="Deployments rolled back, aborted, failed or followed by a fix.",
        ),
        _panel(
            4,
            "Failed deployment recovery time",
            [
                _Target(
                    f"pheme_dora_recovery_time_median_seconds{{{sel}}}",
                    "{{service}} {{environment}}",
                    instant=True,
                )
            ],
            x=18,
            y=0,
            w=6,
            kind="stat",
            unit="s",
            description="Median time from a bad version taking traffic to a good one serving again.",
        ),
        _panel(
            5,
            "Deployments by outcome",
            [_Target(f"sum by (outcome) (pheme_dora_deployments{{{sel}}})", "{{outcome}}")],
            x=0,
            y=8,
            unit="short",
            description="Deployments in the DORA window, by outcome.",
        ),
        _panel(
            6,
            "Canary versus stable: 5xx share",
            [
                _Target(
                    f'sum by (service, track) (rate(http_requests_total{{status=~"5..",{_SVC}}}[1m])) / '
                    f"sum by (service, track) (rate(http_requests_total{{{_SVC}}}[1m]))",
                    "{{service}} {{track}}",
                )
            ],
            x=12,
            y=8,
            unit="percentunit",
            description="What a running analysis compares, by track (stable, canary, preview).",
        ),
    ]
    variables = [
        _query_var("service", "Service", "label_values(pheme_dora_deployments, service)"),
        _query_var("environment", "Environment", "label_values(pheme_dora_deployments, environment)"),
    ]
    return _dashboard(
        "pheme-deployments", "PHEME Deployments & DORA", panels, variables, ["deployments", "dora"]
    )


def dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard by file name."""
    return {
        "pheme-services.json": services_dashboard(),
        "pheme-pipelines.json": pipelines_dashboard(),
        "pheme-deployments.json": deployments_dashboard(),
    }
