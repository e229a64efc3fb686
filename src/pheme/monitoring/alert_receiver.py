"""Alerts in: Alertmanager's webhook → the latest deployment of the service → rollback where configured.

The decision per alert is pure (:func:`pheme.core.monitoring.alerts.decide`);
this class finds the deployment and carries it out through injected
callables, because rolling back is the deploy package's business (the API
layer passes :func:`pheme.deploy.service.rollback` / ``abort``).

Alertmanager repeats a firing alert every ``repeat_interval`` and after its
own restarts; a rollback must happen once. Two guards: an alert instance
(fingerprint + start time) is acted on once per receiver, and nothing is
rolled back unless the service's latest deployment is a successful deploy
(after a rollback, the latest one *is* that rollback). An alert that arrives
while a deployment is still in progress aborts it instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pheme.core.monitoring.alerts import Alert, AlertPolicy, decide, parse_webhook

__all__ = ["AlertOutcome", "AlertReceiver"]

log = logging.getLogger("pheme.monitoring.alerts")


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    alert: str
    status: str
    service: str | None
    environment: str | None
    action: str  # rolled_back | aborted | skipped | notified | ignored | failed
    detail: str
    deployment: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "alert": self.alert,
            "status": self.status,
            "service": self.service,
            "environment": self.environment,
            "action": self.action,
            "detail": self.detail,
            "deployment": self.deployment,
        }


class AlertReceiver:
    """Handle one webhook body at a time (thread-safe)."""

    def __init__(
        self,
        *,
        latest_deployment: Callable[[str, str], Any],
        rollback: Callable[[str, str, str], Any] | None = None,
        abort: Callable[[str, str], Any] | None = None,
        notify: Callable[[str, dict[str, Any]], None] | None = None,
        policy: AlertPolicy | None = None,
    ) -> None:
        self.latest_deployment = latest_deployment
        self.rollback = rollback
        self.abort = abort
        self.notify = notify
        self.policy = policy or AlertPolicy()
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def handle(self, body: Any) -> list[AlertOutcome]:
        """Raises :class:`~pheme.errors.UsageError` if ``body`` is not an Alertmanager v4 payload."""
        payload = parse_webhook(body)
        outcomes: list[AlertOutcome] = []
        with self._lock:
            for decision in decide(payload.alerts, self.policy):
                a = decision.alert
                base: dict[str, Any] = {
                    "alert": a.name,
                    "status": a.status,
                    "service": decision.service,
                    "environment": decision.environment,
                }
                if decision.action == "ignore":
                    outcomes.append(AlertOutcome(**base, action="ignored", detail=decision.reason))
                    continue
                if decision.action == "notify":
                    outcomes.append(AlertOutcome(**base, action="notified", detail=decision.reason))
                    self._notify("alert_" + a.status, a, decision.reason, None)
                    continue
                outcomes.append(
                    self._rollback(a, decision.service or "", decision.environment or "", decision.reason)
                )
        for o in outcomes:
            log.info(
                "alert %s (%s) for %s/%s: %s: %s",
                o.alert,
                o.status,
                o.service,
                o.environment,
                o.action,
                o.detail,
            )
        return outcomes

    def _rollback(self, alert: Alert, service: str, environment: str, reason: str) -> AlertOutcome:
        base: dict[str, Any] = {
            "alert": alert.name,
            "status": alert.status,
            "service": service,
            "environment": environment,
        }
        key = (
            alert.fingerprint or repr(sorted(alert.labels.items())),
            alert.starts_at.isoformat() if alert.starts_at else "",
        )
        if key in self._seen:
            return AlertOutcome(**base, action="skipped", detail="already handled this alert")
        latest = self.latest_deployment(service, environment)
        if latest is None:
            return AlertOutcome(
                **base, action="skipped", detail=f"no deployment of {service} to {environment} is recorded"
            )
        dep_id = int(latest.id)
        if latest.status in ("in_progress", "paused"):
            if self.abort is None:
                return AlertOutcome(
                    **base, action="skipped", detail="aborting is not available here", deployment=dep_id
                )
            return self._act(
                key,
                base,
                dep_id,
                "aborted",
                lambda: self.abort(service, environment) if self.abort else None,
                alert,
                reason,
            )
        if latest.kind != "deploy" or latest.status != "succeeded":
            return AlertOutcome(
                **base,
                action="skipped",
                detail=f"the latest deployment (#{dep_id}, {latest.kind}) is {latest.status}: nothing to roll back",
                deployment=dep_id,
            )
        if self.rollback is None:
            return AlertOutcome(
                **base, action="skipped", detail="rolling back is not available here", deployment=dep_id
            )
        why = f"alert {alert.name}: {alert.summary}"
        return self._act(
            key,
            base,
            dep_id,
            "rolled_back",
            lambda: self.rollback(service, environment, why) if self.rollback else None,
            alert,
            reason,
        )

    def _act(
        self,
        key: tuple[str, str],
        base: dict[str, Any],
        dep_id: int,
        action: str,
        do: Callable[[], Any],
        alert: Alert,
        reason: str,
    ) -> AlertOutcome:
        try:
            result = do()
        except Exception as exc:  # the receiver answers; the failure is reported, not raised
            detail = f"{'rollback' if action == 'rolled_back' else 'abort'} failed: {exc}"
            self._notify("alert_rollback_failed", alert, detail, dep_id)
            return AlertOutcome(**base, action="failed", detail=detail, deployment=dep_id)
        self._seen.add(key)
        verb = "rolled back" if action == "rolled_back" else "aborted"
        new_id = getattr(result, "id", None)
        detail = f"{verb} deployment #{dep_id} ({reason})" + (
            f"; rollback is deployment #{new_id}" if new_id else ""
        )
        self._notify("alert_rollback", alert, detail, dep_id)
        return AlertOutcome(**base, action=action, detail=detail, deployment=dep_id)

    def _notify(self, event: str, alert: Alert, detail: str, deployment: int | None) -> None:
        if self.notify is None:
            return
        try:
            self.notify(
                event,
                {
                    "alert": alert.name,
                    "status": alert.status,
                    "service": alert.service,
                    "environment": alert.environment or self.policy.default_environment,
                    "labels": dict(alert.labels),
                    "summary": alert.summary,
                    "detail": detail,
                    "deployment": deployment,
                },
            )
        except Exception:  # notifications never break the receiver
            log.exception("alert notification failed")
