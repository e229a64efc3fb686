"""Alertmanager webhooks in: parse the payload, decide what each firing alert asks of Pheme.

Alertmanager's webhook receiver posts JSON version 4::

    {"version": "4", "groupKey": "...", "truncatedAlerts": 0, "status": "firing",
     "receiver": "pheme", "groupLabels": {...}, "commonLabels": {...},
     "commonAnnotations": {...}, "externalURL": "...",
     "alerts": [{"status": "firing", "labels": {...}, "annotations": {...},
                 "startsAt": "...", "endsAt": "...", "generatorURL": "...",
                 "fingerprint": "..."}]}

An alert is about a deployment when its labels name a ``service`` (or ``job``,
Prometheus' default for a scrape job, which Pheme names after the service) and
optionally an ``environment`` / ``env``. Whether a firing alert rolls back is
policy (:class:`AlertPolicy`): by default only alerts that carry the label
``pheme_rollback="true"`` (or whose name the policy lists) do; every other one
is recorded and notified. Resolved alerts never roll anything back.

Pure: the receiver service looks up the deployment and carries out the action.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pheme.errors import UsageError

__all__ = ["Alert", "AlertDecision", "AlertPolicy", "WebhookPayload", "decide", "parse_webhook"]


@dataclass(frozen=True, slots=True)
class Alert:
    status: Literal["firing", "resolved"]
    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str = ""
    fingerprint: str = ""

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def service(self) -> str | None:
        return self.labels.get("service") or self.labels.get("job") or None

    @property
    def environment(self) -> str | None:
        return self.labels.get("environment") or self.labels.get("env") or None

    @property
    def summary(self) -> str:
        return self.annotations.get("summary") or self.annotations.get("description") or self.name


@dataclass(frozen=True, slots=True)
class WebhookPayload:
    version: str
    status: str
    receiver: str
    group_key: str
    alerts: tuple[Alert, ...]
    external_url: str = ""


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.startswith("0001-01-01"):
        return None  # Go's zero time: "no end yet"
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Go prints nanoseconds; Python's fromisoformat takes at most microseconds.
    m = re.match(r"^(.*?\.)(\d+)(.*)$", text)
    if m is not None:
        text = f"{m.group(1)}{m.group(2)[:6].ljust(6, '0')}{m.group(3)}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _labels(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UsageError(f"alertmanager payload: {where} must be an object")
    return {str(k): str(v) for k, v in value.items()}


def parse_webhook(data: Any) -> WebhookPayload:
    """Validate an Alertmanager webhook body (already decoded JSON). :class:`UsageError` if it is not one."""
    if not isinstance(data, dict):
        raise UsageError("alertmanager payload must be a JSON object")
    version = str(data.get("version", ""))
    if version != "4":
        raise UsageError(
            f"alertmanager payload version {version or '(none)'!r} is not supported (expected '4')"
        )
    raw_alerts = data.get("alerts")
    if not isinstance(raw_alerts, list):
        raise UsageError("alertmanager payload: 'alerts' must be a list")
    common = _labels(data.get("commonLabels"), "commonLabels")
    alerts: list[Alert] = []
    for i, item in enumerate(raw_alerts):
        if not isinstance(item, dict):
            raise UsageError(f"alertmanager payload: alerts[{i}] must be an object")
        status = item.get("status", data.get("status"))
        if status not in ("firing", "resolved"):
            raise UsageError(f"alertmanager payload: alerts[{i}].status must be firing or resolved")
        labels = {**common, **_labels(item.get("labels"), f"alerts[{i}].labels")}
        alerts.append(
            Alert(
                status=status,
                labels=labels,
                annotations=_labels(item.get("annotations"), f"alerts[{i}].annotations"),
                starts_at=_time(item.get("startsAt")),
                ends_at=_time(item.get("endsAt")),
                generator_url=str(item.get("generatorURL", "")),
                fingerprint=str(item.get("fingerprint", "")),
            )
        )
    return WebhookPayload(
        version=version,
        status=str(data.get("status", "")),
        receiver=str(data.get("receiver", "")),
        group_key=str(data.get("groupKey", "")),
        alerts=tuple(alerts),
        external_url=str(data.get("externalURL", "")),
    )


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """When a firing alert rolls a deployment back.

    ``rollback_label``: an alert with this label set to ``true`` rolls back.
    ``rollback_alerts``: alert names that always roll back. ``services``: if
    given, only these services are rolled back automatically.
    ``default_environment``: used when an alert names no environment.
    """

    rollback_label: str = "pheme_rollback"
    rollback_alerts: frozenset[str] = frozenset()
    services: frozenset[str] | None = None
    default_environment: str | None = "production"


@dataclass(frozen=True, slots=True)
class AlertDecision:
    alert: Alert
    action: Literal["rollback", "notify", "ignore"]
    service: str | None
    environment: str | None
    reason: str


def decide(alerts: Sequence[Alert], policy: AlertPolicy = AlertPolicy()) -> list[AlertDecision]:
    """One decision per alert (the service then finds the deployment and acts)."""
    out: list[AlertDecision] = []
    for alert in alerts:
        service = alert.service
        env = alert.environment or policy.default_environment
        label = f"alert '{alert.name}'" if alert.name else "alert"
        if service is None:
            out.append(
                AlertDecision(alert, "ignore", None, env, f"{label} has no service, environment or job label")
            )
            continue
        if alert.status == "resolved":
            out.append(AlertDecision(alert, "notify", service, env, f"{label} resolved for {service}"))
            continue
        wants = (
            alert.labels.get(policy.rollback_label, "").strip().lower() in ("true", "yes", "1")
            or alert.name in policy.rollback_alerts
        )
        if not wants:
            out.append(
                AlertDecision(alert, "notify", service, env, f"{label} firing for {service}: {alert.summary}")
            )
            continue
        if policy.services is not None and service not in policy.services:
            out.append(
                AlertDecision(
                    alert,
                    "notify",
                    service,
                    env,
                    f"{label} firing for {service}; automatic rollback is not enabled for it",
                )
            )
            continue
        out.append(
            AlertDecision(alert, "rollback", service, env, f"{label} firing for {service}: {alert.summary}")
        )
    return out
