"""Alertmanager webhooks → rollback of the service's latest deployment, once, where configured."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from pheme.core.monitoring.alerts import AlertPolicy
from pheme.errors import UsageError
from pheme.monitoring.alert_receiver import AlertReceiver


def body(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {"version": "4", "status": "firing", "receiver": "pheme", "groupKey": "g", "alerts": list(alerts)}


def firing(fingerprint: str = "f1", status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "HighErrorRate", "service": "api", "env": "production", **labels},
        "annotations": {"summary": "api: more than 5% of requests fail"},
        "startsAt": "2025-01-05T12:00:00Z",
        "fingerprint": fingerprint,
    }


class World:
    def __init__(self, latest: Any) -> None:
        self.latest = latest
        self.rollbacks: list[tuple[str, str, str]] = []
        self.aborts: list[tuple[str, str]] = []
        self.notes: list[tuple[str, dict[str, Any]]] = []

    def receiver(self, **kw: Any) -> AlertReceiver:
        return AlertReceiver(
            latest_deployment=lambda s, e: (
                self.latest if self.latest and (s, e) == ("api", "production") else None
            ),
            rollback=self._rollback,
            abort=lambda s, e: self.aborts.append((s, e)),
            notify=lambda event, data: self.notes.append((event, data)),
            **kw,
        )

    def _rollback(self, service: str, env: str, why: str) -> Any:
        self.rollbacks.append((service, env, why))
        self.latest = SimpleNamespace(id=8, kind="rollback", status="succeeded")
        return SimpleNamespace(id=8)


def deployed(status: str = "succeeded") -> Any:
    return SimpleNamespace(id=7, kind="deploy", status=status)


def test_a_firing_rollback_alert_rolls_back_once() -> None:
    world = World(deployed())
    receiver = world.receiver()
    (out,) = receiver.handle(body(firing(pheme_rollback="true")))
    assert (out.action, out.deployment) == ("rolled_back", 7)
    assert out.detail.startswith("rolled back deployment #7 (alert 'HighErrorRate' firing for api")
    assert out.detail.endswith("; rollback is deployment #8")
    assert world.rollbacks == [
        ("api", "production", "alert HighErrorRate: api: more than 5% of requests fail")
    ]
    assert [n[0] for n in world.notes] == ["alert_rollback"]
    # Alertmanager repeats the same alert: nothing more happens.
    (again,) = receiver.handle(body(firing(pheme_rollback="true")))
    assert again.action == "skipped" and world.rollbacks[1:] == []
    # A new alert instance after the rollback: the latest deployment is the rollback itself.
    (later,) = receiver.handle(body(firing("f2", pheme_rollback="true")))
    assert later.action == "skipped" and "nothing to roll back" in later.detail


def test_alerts_without_the_rollback_label_only_notify() -> None:
    world = World(deployed())
    (out,) = world.receiver().handle(body(firing()))
    assert out.action == "notified"
    assert world.rollbacks == []
    assert world.notes[0][0] == "alert_firing"
    assert world.notes[0][1]["service"] == "api"


def test_policy_can_name_alerts_that_roll_back() -> None:
    world = World(deployed())
    (out,) = world.receiver(policy=AlertPolicy(rollback_alerts=frozenset({"HighErrorRate"}))).handle(
        body(firing())
    )
    assert out.action == "rolled_back"


def test_an_alert_during_a_rollout_aborts_it() -> None:
    world = World(deployed("in_progress"))
    (out,) = world.receiver().handle(body(firing(pheme_rollback="true")))
    assert out.action == "aborted"
    assert world.aborts == [("api", "production")]


def test_unknown_service_resolved_alert_and_failures() -> None:
    world = World(None)
    receiver = world.receiver()
    (out,) = receiver.handle(body(firing(pheme_rollback="true")))
    assert (out.action, out.detail) == ("skipped", "no deployment of api to production is recorded")
    (resolved,) = receiver.handle(body(firing(status="resolved", pheme_rollback="true")))
    assert resolved.action == "notified"

    def broken(service: str, env: str, why: str) -> Any:
        raise RuntimeError("the deploy agent is not running")

    world = World(deployed())
    receiver = AlertReceiver(latest_deployment=lambda s, e: world.latest, rollback=broken)
    (failed,) = receiver.handle(body(firing(pheme_rollback="true")))
    assert (failed.action, failed.detail) == ("failed", "rollback failed: the deploy agent is not running")


def test_not_a_payload() -> None:
    with pytest.raises(UsageError):
        World(None).receiver().handle({"alerts": []})
