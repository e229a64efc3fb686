"""The four DORA metrics, computed from Pheme's own deployment records.

Pure functions over :class:`DeploymentFact` (the shape these metrics need; the
storage adapter maps deployment records onto it). Definitions, per service and
environment, over the window ``[end - window, end)``:

- **Deployment frequency**: deployments that *finished successfully* in the
  window, as a count and per day (``count / window days``).
- **Lead time for changes**: for each of those, ``finished_at - commit_time``
  (the commit's time to running in that environment); median and mean, in
  seconds. Deployments without a known commit time are left out of it.
- **Change failure rate**: failed changes / finished deployments, where a
  deployment finished in the window if its outcome is known and ``finished_at``
  falls in it. A change failed if it was rolled back, aborted or failed, *or*
  it succeeded and was followed by a fix: the next deployment of the same
  service and environment is marked ``is_fix`` (a hotfix or revert) and
  ships a different commit (a redeploy of the same fix repairs nothing new).
- **Failed deployment recovery time**: for each failed change in the window,
  from the moment the bad version took traffic (``started_at``) until a good
  version served again: the rollback's end (``finished_at``) for rolled-back,
  aborted and failed deployments, the fix's ``finished_at`` for one followed
  by a fix. Median and mean, in seconds; a change whose fix has not finished
  is "not recovered" and counted apart.

Why median: DORA reports medians, and one forgotten branch merged after a month
should not define a team's lead time; the mean is given beside it.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pheme.core.deploy.records import DeploymentRecord

__all__ = [
    "FIX_SUBJECT",
    "CommitInfo",
    "DeploymentFact",
    "DoraMetrics",
    "Outcome",
    "dora_by_group",
    "dora_metrics",
    "facts_from_deployments",
    "failed_changes",
]

Outcome = Literal["succeeded", "rolled_back", "aborted", "failed", "in_progress"]
_FAILED: frozenset[str] = frozenset({"rolled_back", "aborted", "failed"})


@dataclass(frozen=True, slots=True)
class DeploymentFact:
    """What DORA needs to know about one deployment.

    ``started_at`` is when the new version began taking traffic (or the
    deployment started); ``finished_at`` when it ended: promoted, or rolled
    back and stable again. ``is_fix`` marks a deployment made to repair the
    previous one (a hotfix or revert).
    """

    id: str
    service: str
    environment: str
    version: str
    outcome: Outcome
    started_at: datetime
    finished_at: datetime | None = None
    commit_sha: str | None = None
    commit_time: datetime | None = None
    is_fix: bool = False


@dataclass(frozen=True, slots=True)
class DoraMetrics:
    service: str
    environment: str
    window_start: datetime
    window_end: datetime
    deployments: int
    deployments_per_day: float
    lead_time_median_s: float | None
    lead_time_mean_s: float | None
    finished: int
    failed: int
    change_failure_rate: float | None
    recovery_median_s: float | None
    recovery_mean_s: float | None
    unrecovered: int

    def to_json(self) -> dict[str, object]:
        return {
            "service": self.service,
            "environment": self.environment,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "deployment_frequency": {"count": self.deployments, "per_day": self.deployments_per_day},
            "lead_time_for_changes": {"median_s": self.lead_time_median_s, "mean_s": self.lead_time_mean_s},
            "change_failure_rate": {
                "rate": self.change_failure_rate,
                "failed": self.failed,
                "finished": self.finished,
            },
            "failed_deployment_recovery_time": {
                "median_s": self.recovery_median_s,
                "mean_s": self.recovery_mean_s,
                "unrecovered": self.unrecovered,
            },
        }


def _ordered(facts: Iterable[DeploymentFact]) -> list[DeploymentFact]:
    return sorted(facts, key=lambda f: (f.started_at, f.id))


def failed_changes(history: Sequence[DeploymentFact]) -> list[tuple[DeploymentFact, datetime | None]]:
    """Every failed change of one service and environment, with when it was recovered (or ``None``).

    ``history`` is every deployment of that service and environment (any time):
    "followed by a fix" needs to see the deployment after the window's last.
    """
    ordered = _ordered(history)
    out: list[tuple[DeploymentFact, datetime | None]] = []
    for i, fact in enumerate(ordered):
        if fact.outcome in _FAILED:
            out.append((fact, fact.finished_at))
            continue
        if fact.outcome != "succeeded":
            continue
        nxt = next((f for f in ordered[i + 1 :] if f.outcome != "in_progress" or f.is_fix), None)
        # A fix that ships the same commit again is a redeploy, not a repair of this one.
        if nxt is not None and nxt.is_fix and (nxt.commit_sha is None or nxt.commit_sha != fact.commit_sha):
            recovered = nxt.finished_at if nxt.outcome == "succeeded" else None
            out.append((fact, recovered))
    return out


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def _mean(xs: list[float]) -> float | None:
    return math.fsum(xs) / len(xs) if xs else None


def _in(moment: datetime | None, start: datetime, end: datetime) -> bool:
    return moment is not None and start <= moment < end


def dora_metrics(
    history: Iterable[DeploymentFact],
    *,
    service: str,
    environment: str,
    end: datetime,
    window: timedelta,
) -> DoraMetrics:
    """The four metrics for one service and environment over ``[end - window, end)``."""
    if window.total_seconds() <= 0:
        raise ValueError("the window must be longer than zero")
    start = end - window
    facts = [f for f in history if f.service == service and f.environment == environment]
    ordered = _ordered(facts)
    finished = [f for f in ordered if f.outcome != "in_progress" and _in(f.finished_at, start, end)]
    succeeded = [f for f in finished if f.outcome == "succeeded"]
    lead = [
        (f.finished_at - f.commit_time).total_seconds()
        for f in succeeded
        if f.finished_at is not None and f.commit_time is not None
    ]
    failures = [(f, rec) for f, rec in failed_changes(ordered) if _in(f.finished_at, start, end)]
    recovery = [(rec - f.started_at).total_seconds() for f, rec in failures if rec is not None]
    days = window.total_seconds() / 86400.0
    return DoraMetrics(
        service=service,
        environment=environment,
        window_start=start,
        window_end=end,
        deployments=len(succeeded),
        deployments_per_day=len(succeeded) / days,
        lead_time_median_s=_median(lead),
        lead_time_mean_s=_mean(lead),
        finished=len(finished),
        failed=len(failures),
        change_failure_rate=(len(failures) / len(finished)) if finished else None,
        recovery_median_s=_median(recovery),
        recovery_mean_s=_mean(recovery),
        unrecovered=sum(1 for _, rec in failures if rec is None),
    )


def dora_by_group(
    history: Iterable[DeploymentFact],
    *,
    end: datetime,
    window: timedelta,
    service: str | None = None,
    environment: str | None = None,
) -> list[DoraMetrics]:
    """The metrics for every (service, environment) pair seen, optionally filtered; sorted by name."""
    facts = list(history)
    groups = sorted(
        {
            (f.service, f.environment)
            for f in facts
            if (service is None or f.service == service)
            and (environment is None or f.environment == environment)
        }
    )
    return [dora_metrics(facts, service=s, environment=e, end=end, window=window) for s, e in groups]


#: A commit whose subject says it repairs something (Conventional Commits ``fix:``/``fix(x):``,
#: ``hotfix``, git's ``Revert "..."``) makes the deployment that ships it a fix.
FIX_SUBJECT = re.compile(r"^\s*(fix|hotfix|revert)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class CommitInfo:
    time: datetime
    subject: str = ""


_STATUS: dict[str, Outcome] = {
    "succeeded": "succeeded",
    "failed": "failed",
    "aborted": "aborted",
    "in_progress": "in_progress",
    "paused": "in_progress",
}


def facts_from_deployments(
    records: Iterable[DeploymentRecord], commits: Mapping[str, CommitInfo] | None = None
) -> list[DeploymentFact]:
    """Pheme's deployment records as DORA facts.

    A ``deploy`` record is one change; its status maps onto the outcome (a
    failed analysis that switched traffic back is ``failed``). A successful
    ``rollback`` record is not a change of its own: it marks the last
    successful deployment before it as ``rolled_back``, recovered when the
    rollback finished. ``commits`` (by SHA) gives commit times (lead time) and
    subjects (``fix:``/``hotfix``/``Revert`` make a deployment a fix).
    """
    known = commits or {}
    ordered = sorted(records, key=lambda r: (r.created_at.timestamp() if r.created_at else 0.0, r.id))
    facts: dict[int, DeploymentFact] = {}
    # Successful deployments per service and environment, newest last: a rollback undoes the newest.
    good: dict[tuple[str, str], list[int]] = {}
    for r in ordered:
        key = (r.service, r.environment)
        if r.kind == "rollback":
            stack = good.get(key) or []
            if r.status == "succeeded" and stack:
                target = stack.pop()
                old = facts[target]
                facts[target] = DeploymentFact(
                    old.id, old.service, old.environment, old.version, "rolled_back",
                    old.started_at, r.finished_at, old.commit_sha, old.commit_time, old.is_fix,
                )  # fmt: skip
            continue
        if r.created_at is None:
            continue
        info = known.get(r.commit) if r.commit else None
        facts[r.id] = DeploymentFact(
            id=str(r.id),
            service=r.service,
            environment=r.environment,
            version=r.version,
            outcome=_STATUS.get(r.status, "in_progress"),
            started_at=r.created_at,
            finished_at=r.finished_at,
            commit_sha=r.commit or None,
            commit_time=info.time if info else None,
            is_fix=bool(info and FIX_SUBJECT.match(info.subject)),
        )
        if r.status == "succeeded":
            good.setdefault(key, []).append(r.id)
    return [facts[k] for k in sorted(facts, key=lambda i: (facts[i].started_at, i))]
