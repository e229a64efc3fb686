"""What a strategy asks for, and what it is told back.

A strategy is a generator ``Generator[Action, ActionResult, Outcome]`` (the
httpx auth-flow pattern): it yields one :data:`Action`, the executor carries it
out against a target and sends back an :class:`ActionResult`, and the
strategy decides what comes next. When the generator returns, its value is the
:class:`Outcome`. All the decisions (what to do when a check fails, where
traffic goes back to) live in the pure strategies; all the I/O in the
executor and targets.

Revisions are small integers counted per service and environment (Argo's
``rollouts-pod-template-hash`` plays that part in Kubernetes); a target maps
them to whatever it runs (processes on ports, a Deployment per revision).
Traffic weights are percentages per revision that sum to 100, or an empty
mapping for "route nothing".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pheme.core.deploy.model import Analysis, Check

__all__ = [
    "Action",
    "ActionResult",
    "Outcome",
    "Pause",
    "Release",
    "Role",
    "RunAnalysis",
    "RunCheck",
    "ScaleVersion",
    "SetTraffic",
    "StartVersion",
    "StopVersion",
    "Verdict",
    "WaitReady",
    "describe",
]

# What a revision is for: serves traffic normally / before a blue-green switch / a canary share.
Role = Literal["stable", "preview", "canary"]
Verdict = Literal["pass", "fail", "inconclusive"]


@dataclass(frozen=True, slots=True)
class Release:
    """A version of a service at a revision."""

    revision: int
    version: str


@dataclass(frozen=True, slots=True)
class StartVersion:
    """Start ``replicas`` replicas of ``version`` as ``revision`` (no traffic yet)."""

    revision: int
    version: str
    replicas: int
    role: Role = "stable"


@dataclass(frozen=True, slots=True)
class ScaleVersion:
    """Run exactly ``replicas`` replicas of a started revision (0 keeps it defined but idle)."""

    revision: int
    replicas: int


@dataclass(frozen=True, slots=True)
class WaitReady:
    """Wait until ``replicas`` replicas of ``revision`` pass their health check.

    Fails after ``timeout`` seconds (the environment's progress deadline).
    """

    revision: int
    replicas: int
    timeout: float


@dataclass(frozen=True, slots=True)
class SetTraffic:
    """Route new requests by these weights (percent per revision, summing to 100; empty = none).

    In-flight requests finish where they started. A target must refuse
    (result ``ok=False``) a positive weight for a revision that is not ready:
    that is the last line of defence behind the strategies' own rule.
    """

    weights: Mapping[int, int]


@dataclass(frozen=True, slots=True)
class RunCheck:
    revision: int
    check: Check
    phase: Literal["pre-promotion", "post-promotion"]


@dataclass(frozen=True, slots=True)
class RunAnalysis:
    revision: int
    version: str
    track: Role
    analysis: Analysis


@dataclass(frozen=True, slots=True)
class Pause:
    """Wait ``duration`` seconds or, when ``None``, until promoted. Promote ends either early."""

    duration: float | None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class StopVersion:
    """Remove a revision, after ``delay`` seconds during which it is kept warm (no traffic)."""

    revision: int
    delay: float = 0.0


Action = StartVersion | ScaleVersion | WaitReady | SetTraffic | RunCheck | RunAnalysis | Pause | StopVersion


@dataclass(frozen=True, slots=True)
class ActionResult:
    """How an action went. ``verdict`` is set for analyses; ``reason`` explains a failure."""

    ok: bool
    reason: str = ""
    verdict: Verdict | None = None

    @classmethod
    def success(cls, reason: str = "") -> ActionResult:
        return cls(True, reason)

    @classmethod
    def failure(cls, reason: str) -> ActionResult:
        return cls(False, reason)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a rollout ended and which revision is stable (serving) afterwards."""

    status: Literal["succeeded", "failed", "aborted"]
    stable: Release | None
    reason: str = ""
    retired: tuple[int, ...] = field(default=())


def describe(action: Action) -> str:
    """One line for logs and records ("set traffic: r3 80%, r4 20%")."""
    match action:
        case StartVersion(revision=rev, version=ver, replicas=n, role=role):
            return f"start revision {rev} ({ver}) with {n} replica(s) as {role}"
        case ScaleVersion(revision=rev, replicas=n):
            return f"scale revision {rev} to {n} replica(s)"
        case WaitReady(revision=rev, replicas=n, timeout=t):
            return f"wait until {n} replica(s) of revision {rev} are ready (deadline {t:g}s)"
        case SetTraffic(weights=w):
            if not w:
                return "set traffic: none"
            return "set traffic: " + ", ".join(f"revision {r} {p}%" for r, p in sorted(w.items()))
        case RunCheck(revision=rev, check=c, phase=phase):
            return f"{phase} check '{c.name}' on revision {rev}"
        case RunAnalysis(revision=rev, track=track, analysis=a):
            what = ", ".join(a.templates) if a.templates else (a.command or "")
            return f"analysis of revision {rev} ({track}): {what}"
        case Pause(duration=d, reason=why):
            base = f"pause {d:g}s" if d is not None else "pause until promoted"
            return f"{base} ({why})" if why else base
        case StopVersion(revision=rev, delay=d):
            return f"remove revision {rev}" + (f" after {d:g}s" if d else "")
    raise AssertionError(action)  # pragma: no cover
