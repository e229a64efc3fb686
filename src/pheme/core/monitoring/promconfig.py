"""Generated Prometheus configuration: scrape jobs for Pheme and its services, and alerting rules.

The scrape configuration follows the seed's ``prometheus.yml`` (global
``scrape_interval`` and ``evaluation_interval`` 15s, one job per service) and
adds what analysis needs: every target carries ``service``, ``env``,
``version`` and ``track`` labels, which the built-in ``prometheus/*`` analysis
templates select on. Targets that change with each deployment are read from
``file_sd_configs`` files (one per service) that Pheme rewrites as versions come
and go; Prometheus watches those files, so no reload is needed.

The rules alert on the same two signals the analyses judge (5xx share, p99
latency) plus targets being down. ``HighErrorRate`` carries
``pheme_rollback: "true"``, so routed to Pheme's Alertmanager receiver it rolls
the service's latest deployment back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from pheme.core.monitoring.templates import format_duration

__all__ = [
    "ScrapeTarget",
    "alert_rules",
    "dump_yaml",
    "file_sd_groups",
    "prometheus_config",
]


@dataclass(frozen=True, slots=True)
class ScrapeTarget:
    """One process to scrape: ``address`` is ``host:port``."""

    service: str
    address: str
    environment: str = ""
    version: str = ""
    track: str = ""
    metrics_path: str = "/metrics"

    def labels(self) -> dict[str, str]:
        out = {"service": self.service}
        if self.environment:
            out["env"] = self.environment
        if self.version:
            out["version"] = self.version
        if self.track:
            out["track"] = self.track
        return out


def file_sd_groups(targets: Iterable[ScrapeTarget]) -> list[dict[str, Any]]:
    """The content of a ``file_sd_configs`` file: target groups sharing the same labels."""
    groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for t in targets:
        key = tuple(sorted(t.labels().items()))
        groups.setdefault(key, []).append(t.address)
    return [{"targets": sorted(addrs), "labels": dict(key)} for key, addrs in sorted(groups.items())]


def prometheus_config(
    *,
    services: Sequence[str] = (),
    targets: Sequence[ScrapeTarget] = (),
    pheme_address: str | None = None,
    scrape_interval: float = 15.0,
    evaluation_interval: float = 15.0,
    rule_files: Sequence[str] = (),
    file_sd_dir: str | None = None,
    alertmanagers: Sequence[str] = (),
) -> dict[str, Any]:
    """A ``prometheus.yml`` as a mapping: Pheme's own job and one job per service.

    ``services`` get a job even without static targets (their targets then come
    from ``<file_sd_dir>/<service>.json``); ``targets`` become static configs
    grouped by labels.
    """
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": format_duration(scrape_interval),
            "evaluation_interval": format_duration(evaluation_interval),
        }
    }
    if rule_files:
        config["rule_files"] = list(rule_files)
    if alertmanagers:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]}
    jobs: list[dict[str, Any]] = []
    if pheme_address:
        jobs.append({"job_name": "pheme", "static_configs": [{"targets": [pheme_address]}]})
    by_service: dict[str, list[ScrapeTarget]] = {s: [] for s in services}
    for t in targets:
        by_service.setdefault(t.service, []).append(t)
    for service in sorted(by_service):
        found = by_service[service]
        job: dict[str, Any] = {"job_name": service}
        paths = {t.metrics_path for t in found}
        if len(paths) == 1 and (path := next(iter(paths))) != "/metrics":
            job["metrics_path"] = path
        if found:
            job["static_configs"] = file_sd_groups(found)
        if file_sd_dir is not None:
            job["file_sd_configs"] = [{"files": [f"{file_sd_dir.rstrip('/')}/{service}.json"]}]
        if "static_configs" not in job and "file_sd_configs" not in job:
            job["static_configs"] = [{"targets": [], "labels": {"service": service}}]
        jobs.append(job)
    config["scrape_configs"] = jobs
    return config


_ERROR_RATIO = (
    'sum by (service, env) (rate(http_requests_total{status=~"5.."}[5m]))\n'
    "  / sum by (service, env) (rate(http_requests_total[5m]))"
)
_P99 = "histogram_quantile(0.99, sum by (service, env, le) (rate(http_request_duration_seconds_bucket[5m])))"


def alert_rules(
    *,
    error_rate: float = 0.05,
    p99_seconds: float = 0.5,
    for_errors: float = 120.0,
    for_latency: float = 300.0,
    rollback_on_errors: bool = True,
) -> dict[str, Any]:
    """Prometheus alerting rules (``rule_files`` format) for the services Pheme deploys and for Pheme."""
    error_labels = {"severity": "critical"}
    if rollback_on_errors:
        error_labels["pheme_rollback"] = "true"
    return {
        "groups": [
            {
                "name": "pheme-services",
                "rules": [
                    {
                        "alert": "HighErrorRate",
                        "expr": f"({_ERROR_RATIO}) > {error_rate:g}",
                        "for": format_duration(for_errors),
                        "labels": error_labels,
                        "annotations": {
                            "summary": "{{ $labels.service }}: more than "
                            + f"{error_rate:.0%}"
                            + " of requests fail",
                            "description": "5xx share is {{ $value | humanizePercentage }} in {{ $labels.env }}.",
                        },
                    },
                    {
                        "alert": "HighLatencyP99",
                        "expr": f"{_P99} > {p99_seconds:g}",
                        "for": format_duration(for_latency),
                        "labels": {"severity": "warning"},
                        "annotations": {
                            "summary": "{{ $labels.service }}: p99 latency above " + f"{p99_seconds:g}s",
                            "description": "p99 is {{ $value | humanizeDuration }} in {{ $labels.env }}.",
                        },
                    },
                    {
                        "alert": "ServiceDown",
                        "expr": 'up{service!=""} == 0',
                        "for": "1m",
                        "labels": {"severity": "critical"},
                        "annotations": {
                            "summary": "{{ $labels.service }} ({{ $labels.instance }}) is not answering scrapes",
                        },
                    },
                ],
            },
            {
                "name": "pheme",
                "rules": [
                    {
                        "alert": "PhemeDown",
                        "expr": 'up{job="pheme"} == 0',
                        "for": "2m",
                        "labels": {"severity": "critical"},
                        "annotations": {"summary": "the Pheme server is not answering scrapes"},
                    },
                    {
                        "alert": "PhemeQueueBacklog",
                        "expr": "pheme_queue_depth > 20",
                        "for": "10m",
                        "labels": {"severity": "warning"},
                        "annotations": {
                            "summary": "{{ $value }} runs have been waiting in the queue for 10 minutes"
                        },
                    },
                    {
                        "alert": "PhemeHighChangeFailureRate",
                        "expr": "pheme_dora_change_failure_rate > 0.3",
                        "for": "1h",
                        "labels": {"severity": "info"},
                        "annotations": {
                            "summary": "{{ $labels.service }}: change failure rate {{ $value | humanizePercentage }}"
                            " in {{ $labels.environment }}",
                        },
                    },
                ],
            },
        ]
    }


class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_presenter)


def dump_yaml(data: Mapping[str, Any]) -> str:
    """YAML for a generated file: keys in the order given, multi-line strings as blocks."""
    return yaml.dump(
        dict(data), Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1_000
    )
