"""Alertmanager webhook payloads (version 4) and what each alert asks Pheme to do."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pheme.core.monitoring.alerts import AlertPolicy, decide, parse_webhook
from pheme.errors import UsageError


def payload(*alerts: dict, common: dict | None = None) -> dict:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "pheme",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": common or {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


def alert(status: str = "firing", **labels: str) -> dict:
    return {
        "status": status,
        "labels": {"alertname": "HighErrorRate", **labels},
        "annotations": {"summary": "api: more than 5% of requests fail"},
        "startsAt": "2025-01-05T12:00:00.123456789Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": "c0ffee",
    }


def test_parse_a_real_shaped_payload() -> None:
    p = parse_webhook(payload(alert(service="api", env="production")))
    assert (p.version, p.receiver, p.status) == ("4", "pheme", "firing")
    (a,) = p.alerts
    assert (a.name, a.service, a.environment, a.fingerprint) == (
        "HighErrorRate",
        "api",
        "production",
        "c0ffee",
    )
    assert a.starts_at == datetime(2025, 1, 5, 12, 0, 0, 123456, tzinfo=UTC)
    assert a.ends_at is None  # Go's zero time
    assert a.summary == "api: more than 5% of requests fail"


def test_common_labels_apply_to_every_alert_and_job_names_the_service() -> None:
    p = parse_webhook(payload(alert(job="api"), common={"environment": "staging"}))
    assert (p.alerts[0].service, p.alerts[0].environment) == ("api", "staging")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be a JSON object"),
        ({"version": "3", "alerts": []}, "version '3' is not supported"),
        ({"version": "4"}, "'alerts' must be a list"),
        ({"version": "4", "alerts": [{"status": "weird"}]}, "alerts[0].status must be firing or resolved"),
        (
            {"version": "4", "alerts": [{"status": "firing", "labels": []}]},
            "alerts[0].labels must be an object",
        ),
    ],
)
def test_bad_payloads_are_usage_errors(data: object, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_webhook(data)


def test_decisions() -> None:
    p = parse_webhook(
        payload(
            alert(service="api", env="production", pheme_rollback="true"),
            alert(service="web"),
            alert(status="resolved", service="api", pheme_rollback="true"),
            alert(instance="x:1"),
        )
    )
    rollback, notify, resolved, ignored = decide(p.alerts)
    assert (rollback.action, rollback.service, rollback.environment) == ("rollback", "api", "production")
    assert (notify.action, notify.service, notify.environment) == ("notify", "web", "production")
    assert resolved.action == "notify" and "resolved" in resolved.reason
    assert ignored.action == "ignore" and "no service" in ignored.reason


def test_policy_lists_alerts_and_limits_services() -> None:
    p = parse_webhook(payload(alert(service="api"), alert(service="web")))
    policy = AlertPolicy(rollback_alerts=frozenset({"HighErrorRate"}), services=frozenset({"api"}))
    api, web = decide(p.alerts, policy)
    assert api.action == "rollback"
    assert web.action == "notify" and "not enabled" in web.reason
