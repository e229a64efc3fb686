"""What Pheme remembers about deployments: immutable records the store hands out.

A deployment is one attempt to change what serves a service in an
environment: a ``deploy`` (new version at a new revision), a ``rollback``
(an earlier revision back in service) or a ``recovery`` note. Each step is one
action the executor carried out, with its outcome, so ``pheme deployments``
and the web UI can show exactly what happened and when.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = ["DEPLOYMENT_STATUSES", "STEP_OUTCOMES", "DeployStepRecord", "DeploymentRecord", "DeploymentStatus", "record_from_json"]

DeploymentStatus = Literal["in_progress", "paused", "succeeded", "failed", "aborted"]
DEPLOYMENT_STATUSES: tuple[str, ...] = ("in_progress", "paused", "succeeded", "failed", "aborted")
StepOutcome = Literal["running", "succeeded", "failed", "cancelled"]
STEP_OUTCOMES: tuple[str, ...] = ("running", "succeeded", "failed", "cancelled")
TERMINAL_STATUSES = frozenset(("succeeded", "failed", "aborted"))


@dataclass(frozen=True, slots=True)
class DeployStepRecord:
    number: int
    action: str  # the action's class name: StartVersion, SetTraffic, ...
    description: str
    outcome: str
    detail: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "action": self.action,
            "description": self.description,
            "outcome": self.outcome,
            "detail": self.detail,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
        }


@dataclass(frozen=True, slots=True)
class DeploymentRecord:
    """One deployment. ``revision`` is the revision it puts (or tried to put) in service."""

    id: int
    service: str
    environment: str
    kind: Literal["deploy", "rollback"]
    revision: int
    version: str
    strategy: str
    status: str
    commit: str = ""
    triggered_by: str = ""
    target: str = ""
    reason: str = ""
    previous_revision: int | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    steps: tuple[DeployStepRecord, ...] = field(default=())

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "service": self.service,
            "environment": self.environment,
            "kind": self.kind,
            "revision": self.revision,
            "version": self.version,
            "strategy": self.strategy,
            "status": self.status,
            "commit": self.commit,
            "triggered_by": self.triggered_by,
            "target": self.target,
            "reason": self.reason,
            "previous_revision": self.previous_revision,
            "created_at": _iso(self.created_at),
            "finished_at": _iso(self.finished_at),
            "steps": [s.to_json() for s in self.steps],
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _parse_time(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) and text else None


def record_from_json(data: dict[str, Any]) -> DeploymentRecord:
    """The inverse of :meth:`DeploymentRecord.to_json` (the agent's API speaks JSON)."""
    steps = tuple(
        DeployStepRecord(
            number=int(s["number"]),
            action=s["action"],
            description=s["description"],
            outcome=s["outcome"],
            detail=s.get("detail", ""),
            started_at=_parse_time(s.get("started_at")),
            finished_at=_parse_time(s.get("finished_at")),
        )
        for s in data.get("steps") or ()
    )
    return DeploymentRecord(
        id=int(data["id"]),
        service=data["service"],
        environment=data["environment"],
        kind=data["kind"],
        revision=int(data["revision"]),
        version=data["version"],
        strategy=data["strategy"],
        status=data["status"],
        commit=data.get("commit", ""),
        triggered_by=data.get("triggered_by", ""),
        target=data.get("target", ""),
        reason=data.get("reason", ""),
        previous_revision=data.get("previous_revision"),
        created_at=_parse_time(data.get("created_at")),
        finished_at=_parse_time(data.get("finished_at")),
        steps=steps,
    )
