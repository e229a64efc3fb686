"""Rollout strategies as pure generators of actions.

Each strategy is ``Generator[Action, ActionResult, Outcome]``: the executor
(:mod:`pheme.deploy.executor`) primes it with ``send(None)``, carries out each
yielded action and sends the result back. The rules that keep users safe are
written here, once, where a test can feed any sequence of results:

* Traffic never moves to a revision that has not passed ``WaitReady``; a
  revision that fails readiness, a check or an analysis is removed and the
  traffic is left (or put back) on the stable revision.
* A switch back first re-verifies the stable revision (``WaitReady``): routing
  to a broken primary is how Flagger lost a rollback (flagger #1898).
* An abort (:func:`abort`) sends 0% to the new revision in one ``SetTraffic``,
  then removes it.
* The old revision is removed with ``StopVersion(delay=scale_down_delay)``:
  kept warm, so :func:`rollback` is a single traffic switch.

The strategies never yield from a ``finally`` block: the executor may close
a generator at any yield (on abort) and then runs :func:`abort` instead.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

from pheme.core.deploy.actions import (
    Action,
    ActionResult,
    Outcome,
    Pause,
    Release,
    RunAnalysis,
    RunCheck,
    ScaleVersion,
    SetTraffic,
    StartVersion,
    StopVersion,
    WaitReady,
)
from pheme.core.deploy.model import (
    Analysis,
    BlueGreen,
    Canary,
    Check,
    PauseStep,
    Recreate,
    RollingUpdate,
    ServiceSpec,
    SetWeight,
    Strategy,
)

__all__ = ["Flow", "Rollout", "abort", "blue_green", "canary", "plan", "recreate", "rollback", "rolling_update"]

Flow = Generator[Action, ActionResult, Outcome]

# How long re-verifying an already-running revision may take before we give up on it.
WARM_VERIFY_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Rollout:
    """Everything a strategy decides from: the service, the strategy, the new and stable releases.

    ``stable_replicas`` is how many replicas the stable revision runs now
    (the rolling update scales it down from there).
    """

    service: ServiceSpec
    strategy: Strategy
    new: Release
    stable: Release | None = None
    progress_deadline: float = 600.0
    stable_replicas: int | None = None

    @property
    def replicas(self) -> int:
        return self.service.replicas


def plan(rollout: Rollout) -> Flow:
    """The flow for ``rollout.strategy``."""
    strategy = rollout.strategy
    if isinstance(strategy, BlueGreen):
        return blue_green(rollout)
    if isinstance(strategy, Canary):
        return canary(rollout)
    if isinstance(strategy, RollingUpdate):
        return rolling_update(rollout)
    return recreate(rollout)


# ---------------------------------------------------------------- shared pieces


def _failed(stable: Release | None, reason: str) -> Outcome:
    return Outcome("failed", stable, reason)


def _bring_up(r: Rollout, role: str) -> Generator[Action, ActionResult, str | None]:
    """Start and wait for the new revision; on failure remove it. Returns a failure reason or None."""
    new = r.new
    result = yield StartVersion(new.revision, new.version, r.replicas, role)  # type: ignore[arg-type]
    if not result.ok:
        yield StopVersion(new.revision)
        return f"revision {new.revision} ({new.version}) could not be started: {result.reason}"
    result = yield WaitReady(new.revision, r.replicas, r.progress_deadline)
    if not result.ok:
        yield StopVersion(new.revision)
        return (
            f"revision {new.revision} ({new.version}) did not become ready within the progress deadline "
            f"of {r.progress_deadline:g}s: {result.reason}"
        )
    return None


def _checks(
    r: Rollout, checks: tuple[Check, ...], phase: str
) -> Generator[Action, ActionResult, str | None]:
    for check in checks:
        result = yield RunCheck(r.new.revision, check, phase)  # type: ignore[arg-type]
        if not result.ok:
            return f"{phase} check '{check.name}' failed: {result.reason}"
    return None


def _analysis(r: Rollout, analysis: Analysis, track: str) -> Generator[Action, ActionResult, str | None]:
    """Run an analysis; ``inconclusive`` pauses for a human (Argo's behaviour). Returns a failure reason."""
    result = yield RunAnalysis(r.new.revision, r.new.version, track, analysis)  # type: ignore[arg-type]
    if result.verdict == "inconclusive":
        yield Pause(None, f"analysis inconclusive: {result.reason}; promote to continue or abort")
        return None
    if not result.ok or result.verdict == "fail":
        return f"analysis failed: {result.reason}"
    return None


def _switch_back(r: Rollout) -> Generator[Action, ActionResult, str | None]:
    """Put all traffic back on the stable revision after re-verifying it. Returns a failure reason."""
    stable = r.stable
    if stable is None:
        result = yield SetTraffic({})
        return None if result.ok else result.reason
    result = yield WaitReady(stable.revision, 1, min(WARM_VERIFY_TIMEOUT, r.progress_deadline))
    if not result.ok:
        return f"revision {stable.revision} ({stable.version}) is not healthy either: {result.reason}"
    result = yield SetTraffic({stable.revision: 100})
    return None if result.ok else result.reason


# ------------------------------------------------------------------ strategies


def blue_green(r: Rollout) -> Flow:
    """Preview → pre-promotion checks → (pause) → switch → post-promotion checks → retire the old one.

    A failed post-promotion check or analysis switches traffic back to the
    (re-verified, still warm) stable revision and removes the new one.
    """
    strategy = r.strategy
    assert isinstance(strategy, BlueGreen)
    new, stable = r.new, r.stable
    failure = yield from _bring_up(r, "preview")
    if failure:
        return _failed(stable, failure)
    failure = yield from _checks(r, strategy.pre_promotion, "pre-promotion")
    if failure is None and strategy.pre_promotion_analysis is not None:
        failure = yield from _analysis(r, strategy.pre_promotion_analysis, "preview")
    if failure:
        yield StopVersion(new.revision)
        return _failed(stable, failure)
    if not strategy.auto_promotion:
        yield Pause(None, "autoPromotionEnabled is false: promote to switch traffic")
    result = yield SetTraffic({new.revision: 100})
    if not result.ok:
        back = yield from _switch_back(r)
        yield StopVersion(new.revision)
        extra = f"; switching back failed too: {back}" if back else ""
        return _failed(stable, f"the switch to revision {new.revision} failed: {result.reason}{extra}")
    failure = yield from _checks(r, strategy.post_promotion, "post-promotion")
    if failure is None and strategy.post_promotion_analysis is not None:
        failure = yield from _analysis(r, strategy.post_promotion_analysis, "stable")
    if failure:
        back = yield from _switch_back(r)
        if back is not None and stable is not None:
            # The old revision cannot take the traffic: leave it where it is rather than on a broken one.
            return Outcome("failed", new, f"{failure}; could not switch back: {back}")
        yield StopVersion(new.revision)
        where = f"traffic switched back to revision {stable.revision}" if stable else "no traffic routed"
        return _failed(stable, f"{failure}; {where}")
    if stable is not None:
        yield StopVersion(stable.revision, strategy.scale_down_delay)
    return Outcome("succeeded", new)


def canary(r: Rollout) -> Flow:
    """Weighted steps with pauses and analyses; any failure sends 0% to the canary and removes it."""
    strategy = r.strategy
    assert isinstance(strategy, Canary)
    new, stable = r.new, r.stable
    if stable is None:
        # Nothing to compare with: a first deployment goes straight to 100% once ready (as Argo does).
        failure = yield from _bring_up(r, "stable")
        if failure:
            return _failed(None, failure)
        result = yield SetTraffic({new.revision: 100})
        if not result.ok:
            yield StopVersion(new.revision)
            return _failed(None, result.reason)
        return Outcome("succeeded", new)
    failure = yield from _bring_up(r, "canary")
    if failure:
        return _failed(stable, failure)
    for step in strategy.steps:
        if isinstance(step, SetWeight):
            weight = max(0, min(100, step.weight))
            weights = {stable.revision: 100 - weight, new.revision: weight}
            result = yield SetTraffic({rev: w for rev, w in weights.items() if w > 0})
            failure = None if result.ok else f"setting the canary weight to {weight}% failed: {result.reason}"
        elif isinstance(step, PauseStep):
            yield Pause(step.duration, "canary step")
            failure = None
        else:
            failure = yield from _analysis(r, step, "canary")
        if failure:
            return (yield from _abort_canary(r, failure))
    result = yield SetTraffic({new.revision: 100})
    if not result.ok:
        return (yield from _abort_canary(r, f"the final promotion failed: {result.reason}"))
    yield StopVersion(stable.revision, strategy.scale_down_delay)
    return Outcome("succeeded", new)


def _abort_canary(r: Rollout, reason: str) -> Flow:
    back = yield from _switch_back(r)
    yield StopVersion(r.new.revision)
    if back:
        reason = f"{reason}; switching back failed: {back}"
    return _failed(r.stable, reason)


def _weights(old: Release, old_n: int, new: Release, new_n: int) -> dict[int, int]:
    total = old_n + new_n
    if total == 0:
        return {}
    new_w = round(100 * new_n / total)
    weights = {old.revision: 100 - new_w, new.revision: new_w}
    return {rev: w for rev, w in weights.items() if w > 0}


def rolling_update(r: Rollout) -> Flow:
    """Replace replicas in batches within maxSurge/maxUnavailable; traffic follows ready replicas.

    Traffic is moved off old replicas before they are scaled down. If a new
    batch does not become ready, the old revision is scaled back up, gets all
    traffic again, and the new revision is removed.
    """
    strategy = r.strategy
    assert isinstance(strategy, RollingUpdate)
    new, stable = r.new, r.stable
    n = r.replicas
    if stable is None:
        failure = yield from _bring_up(r, "stable")
        if failure:
            return _failed(None, failure)
        result = yield SetTraffic({new.revision: 100})
        if not result.ok:
            yield StopVersion(new.revision)
            return _failed(None, result.reason)
        return Outcome("succeeded", new)
    surge, unavailable = strategy.resolve(n)
    old_n = r.stable_replicas if r.stable_replicas is not None else n
    new_n = 0
    started = False
    while new_n < n or old_n > 0:
        up = min(n - new_n, n + surge - (old_n + new_n))
        if up > 0:
            new_n += up
            if not started:
                result = yield StartVersion(new.revision, new.version, new_n, "stable")
                started = True
            else:
                result = yield ScaleVersion(new.revision, new_n)
            if result.ok:
                result = yield WaitReady(new.revision, new_n, r.progress_deadline)
            if not result.ok:
                return (yield from _undo_rolling(r, n, f"revision {new.revision} ({new.version}): {result.reason}"))
            result = yield SetTraffic(_weights(stable, old_n, new, new_n))
            if not result.ok:
                return (yield from _undo_rolling(r, n, result.reason))
        down = min(old_n, (old_n + new_n) - (n - unavailable))
        if down > 0:
            old_n -= down
            result = yield SetTraffic(_weights(stable, old_n, new, new_n))
            if not result.ok:
                return (yield from _undo_rolling(r, n, result.reason))
            yield ScaleVersion(stable.revision, old_n)
        if up <= 0 and down <= 0:  # pragma: no cover - resolve() guarantees progress
            break
    yield StopVersion(stable.revision)
    return Outcome("succeeded", new)


def _undo_rolling(r: Rollout, n: int, reason: str) -> Flow:
    stable = r.stable
    assert stable is not None
    yield ScaleVersion(stable.revision, n)
    ready = yield WaitReady(stable.revision, 1, r.progress_deadline)
    if ready.ok:
        yield SetTraffic({stable.revision: 100})
    yield StopVersion(r.new.revision)
    return _failed(stable, f"rolling update failed: {reason}")


def recreate(r: Rollout) -> Flow:
    """Stop the old revision, then start the new one. There is downtime between the two, by design."""
    assert isinstance(r.strategy, Recreate)
    new, stable = r.new, r.stable
    if stable is not None:
        yield SetTraffic({})
        yield StopVersion(stable.revision)
    failure = yield from _bring_up(r, "stable")
    if failure:
        return _failed(None, failure)
    result = yield SetTraffic({new.revision: 100})
    if not result.ok:
        yield StopVersion(new.revision)
        return _failed(None, result.reason)
    return Outcome("succeeded", new)


# ------------------------------------------------------------ abort / rollback


def abort(r: Rollout) -> Flow:
    """Stop a rollout now: 0% to the new revision in one switch, then remove it.

    The stable revision is not re-verified first: during an abort every
    second on the new revision counts, and the stable one was serving until
    the rollout began (its replicas are still running).
    """
    stable = r.stable
    result = yield SetTraffic({stable.revision: 100} if stable is not None else {})
    yield StopVersion(r.new.revision)
    reason = "aborted" if result.ok else f"aborted, but the switch failed: {result.reason}"
    return Outcome("aborted", stable, reason)


def rollback(
    service: ServiceSpec,
    current: Release | None,
    to: Release,
    *,
    warm: bool,
    progress_deadline: float = 600.0,
    scale_down_delay: float = 600.0,
) -> Flow:
    """Put 100% of traffic back on ``to``; start it first unless it is still running (``warm``).

    ``to`` is verified healthy before any traffic moves; if it is not, the
    traffic stays where it is.
    """
    if not warm:
        result = yield StartVersion(to.revision, to.version, service.replicas, "stable")
        if result.ok:
            result = yield WaitReady(to.revision, service.replicas, progress_deadline)
    else:
        result = yield WaitReady(to.revision, 1, min(WARM_VERIFY_TIMEOUT, progress_deadline))
    if not result.ok:
        if not warm:
            yield StopVersion(to.revision)
        where = f"traffic stays on revision {current.revision}" if current else "no traffic routed"
        return Outcome("failed", current, f"revision {to.revision} ({to.version}) is not healthy: {result.reason}; {where}")
    result = yield SetTraffic({to.revision: 100})
    if not result.ok:
        return Outcome("failed", current, f"the switch to revision {to.revision} failed: {result.reason}")
    if current is not None and current.revision != to.revision:
        yield StopVersion(current.revision, scale_down_delay)
    return Outcome("succeeded", to)
