"""Strategies as pure generators: feed results, check the actions they ask for.

A small simulated world answers the actions (which revisions are healthy,
which checks pass) and asserts the safety rule on every ``SetTraffic``: no
traffic to a revision that has not been seen ready.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from pheme.core.deploy import (
    Action,
    ActionResult,
    Outcome,
    Pause,
    Release,
    Rollout,
    RunAnalysis,
    RunCheck,
    ScaleVersion,
    SetTraffic,
    StartVersion,
    StopVersion,
    WaitReady,
    abort,
    plan,
    rollback,
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
)
from pheme.core.deploy.strategies import Flow

OLD = Release(1, "1.0.0")
NEW = Release(2, "2.0.0")
SMOKE = Check("smoke", "http", "/health")


@dataclass
class World:
    """Answers actions like a target would, and checks the traffic rule."""

    unhealthy: set[int] = field(default_factory=set)
    failing_checks: set[tuple[str, str]] = field(default_factory=set)  # (phase, name)
    verdict: str = "pass"
    replicas: dict[int, int] = field(default_factory=lambda: {1: 2})
    ready: set[int] = field(default_factory=lambda: {1})
    traffic: dict[int, int] = field(default_factory=lambda: {1: 100})
    actions: list[Action] = field(default_factory=list)
    peak_replicas: int = 0
    min_ready: int = 10**9

    def answer(self, action: Action) -> ActionResult:
        self.actions.append(action)
        match action:
            case StartVersion(revision=rev, replicas=n):
                self.replicas[rev] = n
            case ScaleVersion(revision=rev, replicas=n):
                self.replicas[rev] = n
            case WaitReady(revision=rev):
                if rev in self.unhealthy:
                    self.ready.discard(rev)
                    return ActionResult.failure("health check never passed")
                self.ready.add(rev)
            case SetTraffic(weights=w):
                for rev, weight in w.items():
                    assert weight > 0
                    assert rev in self.ready and rev not in self.unhealthy, f"traffic sent to unready revision {rev}"
                assert not w or sum(w.values()) == 100
                self.traffic = dict(w)
            case RunCheck(check=c, phase=phase):
                if (phase, c.name) in self.failing_checks:
                    return ActionResult.failure("HTTP 500")
            case RunAnalysis():
                if self.verdict == "fail":
                    return ActionResult(False, "error rate 12%", "fail")
                if self.verdict == "inconclusive":
                    self.verdict = "pass"
                    return ActionResult(True, "not enough data", "inconclusive")
                return ActionResult(True, "ok", "pass")
            case StopVersion(revision=rev, delay=d):
                assert self.traffic.get(rev, 0) == 0, "removing a revision that still has traffic"
                if d == 0:
                    self.replicas.pop(rev, None)
                    self.ready.discard(rev)
            case Pause():
                pass
        total = sum(self.replicas.values())
        self.peak_replicas = max(self.peak_replicas, total)
        return ActionResult.success()

    def drive(self, flow: Flow) -> Outcome:
        result: ActionResult | None = None
        try:
            while True:
                action = flow.send(result)  # type: ignore[arg-type]
                result = self.answer(action)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


def service(replicas: int = 2) -> ServiceSpec:
    return ServiceSpec("api", command="serve {port}", replicas=replicas)


def rollout(strategy: object, *, stable: Release | None = OLD, replicas: int = 2) -> Rollout:
    return Rollout(service(replicas), strategy, NEW, stable, progress_deadline=30)  # type: ignore[arg-type]


def kinds(world: World) -> list[str]:
    return [type(a).__name__ for a in world.actions]


def traffic_changes(world: World) -> list[dict[int, int]]:
    return [dict(a.weights) for a in world.actions if isinstance(a, SetTraffic)]


# ------------------------------------------------------------------ blue-green


def test_blue_green_switches_once_after_the_preview_passes_and_keeps_the_old_one_warm() -> None:
    world = World()
    outcome = world.drive(plan(rollout(BlueGreen(pre_promotion=(SMOKE,), post_promotion=(SMOKE,)))))
    assert outcome.status == "succeeded" and outcome.stable == NEW
    assert kinds(world) == ["StartVersion", "WaitReady", "RunCheck", "SetTraffic", "RunCheck", "StopVersion"]
    assert world.actions[0] == StartVersion(2, "2.0.0", 2, "preview")
    assert traffic_changes(world) == [{2: 100}]
    assert world.actions[-1] == StopVersion(1, 600.0)


def test_blue_green_failed_post_promotion_check_switches_back_to_the_verified_old_revision() -> None:
    world = World(failing_checks={("post-promotion", "smoke")})
    outcome = world.drive(plan(rollout(BlueGreen(post_promotion=(SMOKE,)))))
    assert outcome.status == "failed" and outcome.stable == OLD
    assert "post-promotion check 'smoke' failed" in outcome.reason
    assert traffic_changes(world) == [{2: 100}, {1: 100}]
    # The old revision is re-verified before traffic goes back to it, and the new one is removed.
    i = world.actions.index(SetTraffic({1: 100}))
    assert world.actions[i - 1] == WaitReady(1, 1, 10.0)
    assert world.actions[i + 1] == StopVersion(2)
    assert world.traffic == {1: 100}


def test_blue_green_never_switches_back_to_a_broken_old_revision() -> None:
    world = World(failing_checks={("post-promotion", "smoke")}, unhealthy={1})
    outcome = world.drive(plan(rollout(BlueGreen(post_promotion=(SMOKE,)))))
    assert outcome.status == "failed"
    assert "could not switch back" in outcome.reason
    assert traffic_changes(world) == [{2: 100}]  # never a switch to revision 1


def test_blue_green_health_check_that_never_passes_leaves_traffic_untouched() -> None:
    world = World(unhealthy={2})
    outcome = world.drive(plan(rollout(BlueGreen())))
    assert outcome.status == "failed" and outcome.stable == OLD
    assert "progress deadline of 30s" in outcome.reason
    assert traffic_changes(world) == []
    assert world.actions[-1] == StopVersion(2)


def test_blue_green_failed_pre_promotion_check_never_routes_traffic() -> None:
    world = World(failing_checks={("pre-promotion", "smoke")})
    outcome = world.drive(plan(rollout(BlueGreen(pre_promotion=(SMOKE,)))))
    assert outcome.status == "failed"
    assert traffic_changes(world) == []
    assert StopVersion(2) in world.actions


def test_blue_green_without_auto_promotion_pauses_before_the_switch() -> None:
    world = World()
    world.drive(plan(rollout(BlueGreen(auto_promotion=False))))
    assert kinds(world)[:4] == ["StartVersion", "WaitReady", "Pause", "SetTraffic"]
    pause = world.actions[2]
    assert isinstance(pause, Pause) and pause.duration is None


def test_blue_green_failed_post_promotion_analysis_switches_back() -> None:
    world = World(verdict="fail")
    outcome = world.drive(plan(rollout(BlueGreen(post_promotion_analysis=Analysis(("success-rate",))))))
    assert outcome.status == "failed" and "analysis failed: error rate 12%" in outcome.reason
    assert traffic_changes(world) == [{2: 100}, {1: 100}]


# ---------------------------------------------------------------------- canary


CANARY = Canary(steps=(SetWeight(20), PauseStep(5.0), Analysis(("success-rate",)), SetWeight(50), PauseStep(None)))


def test_canary_walks_the_weights_then_promotes() -> None:
    world = World()
    outcome = world.drive(plan(rollout(CANARY)))
    assert outcome.status == "succeeded"
    assert traffic_changes(world) == [{1: 80, 2: 20}, {1: 50, 2: 50}, {2: 100}]
    pauses = [a for a in world.actions if isinstance(a, Pause)]
    assert [p.duration for p in pauses] == [5.0, None]
    assert world.actions[-1] == StopVersion(1, 30.0)


def test_canary_failed_analysis_sends_all_traffic_back_and_removes_the_canary() -> None:
    world = World(verdict="fail")
    outcome = world.drive(plan(rollout(CANARY)))
    assert outcome.status == "failed" and outcome.stable == OLD
    assert traffic_changes(world) == [{1: 80, 2: 20}, {1: 100}]
    assert world.actions[-1] == StopVersion(2)


def test_canary_inconclusive_analysis_pauses_for_a_human() -> None:
    world = World(verdict="inconclusive")
    world.drive(plan(rollout(CANARY)))
    i = next(i for i, a in enumerate(world.actions) if isinstance(a, RunAnalysis))
    nxt = world.actions[i + 1]
    assert isinstance(nxt, Pause) and nxt.duration is None and "inconclusive" in nxt.reason


def test_canary_that_never_becomes_ready_gets_no_traffic() -> None:
    world = World(unhealthy={2})
    outcome = world.drive(plan(rollout(CANARY)))
    assert outcome.status == "failed" and traffic_changes(world) == []


def test_first_canary_deployment_goes_straight_to_full_traffic() -> None:
    world = World(replicas={}, ready=set(), traffic={})
    outcome = world.drive(plan(rollout(CANARY, stable=None)))
    assert outcome.status == "succeeded" and traffic_changes(world) == [{2: 100}]


def test_abort_sends_zero_percent_to_the_canary_in_its_first_action() -> None:
    world = World()
    flow = plan(rollout(CANARY))
    # Run the canary up to its first pause, then abort as the executor does: close it, run abort().
    result: ActionResult | None = None
    while True:
        action = flow.send(result)  # type: ignore[arg-type]
        if isinstance(action, Pause):
            break
        result = world.answer(action)
    flow.close()
    world.actions.clear()
    outcome = world.drive(abort(rollout(CANARY)))
    assert outcome.status == "aborted"
    assert world.actions == [SetTraffic({1: 100}), StopVersion(2)]


# --------------------------------------------------------------------- rolling


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable"),
    [(4, 1, 0), (4, 0, 1), (4, "25%", "25%"), (3, 2, 1), (1, 1, 0), (5, "100%", 0)],
)
def test_rolling_update_stays_within_surge_and_unavailable(replicas: int, surge: int | str, unavailable: int | str) -> None:
    strategy = RollingUpdate(surge, unavailable)
    world = World(replicas={1: replicas})
    s, u = strategy.resolve(replicas)
    outcome = world.drive(plan(rollout(strategy, replicas=replicas)))
    assert outcome.status == "succeeded"
    assert world.peak_replicas <= replicas + s
    assert world.replicas == {2: replicas}
    assert world.traffic == {2: 100}
    # Capacity that can serve (ready replicas) never drops below replicas - maxUnavailable.
    old, new_ready = replicas, 0
    for action in world.actions:
        if isinstance(action, ScaleVersion) and action.revision == 1:
            old = action.replicas
        if isinstance(action, WaitReady) and action.revision == 2:
            new_ready = action.replicas
        assert old + new_ready >= replicas - u


def test_rolling_update_batch_that_never_becomes_ready_restores_the_old_revision() -> None:
    world = World(unhealthy={2}, replicas={1: 4})
    outcome = world.drive(plan(rollout(RollingUpdate(1, 1), replicas=4)))
    assert outcome.status == "failed"
    assert world.traffic == {1: 100}
    assert world.replicas.get(1) == 4 and 2 not in world.replicas


# -------------------------------------------------------------------- recreate


def test_recreate_stops_the_old_revision_first() -> None:
    world = World()
    outcome = world.drive(plan(rollout(Recreate())))
    assert outcome.status == "succeeded"
    assert kinds(world) == ["SetTraffic", "StopVersion", "StartVersion", "WaitReady", "SetTraffic"]


# -------------------------------------------------------------------- rollback


def test_rollback_to_a_warm_revision_is_one_verified_switch() -> None:
    world = World(replicas={1: 2, 2: 2}, ready={1, 2}, traffic={2: 100})
    outcome = world.drive(rollback(service(), NEW, OLD, warm=True, scale_down_delay=60))
    assert outcome.status == "succeeded" and outcome.stable == OLD
    assert world.actions == [WaitReady(1, 1, 10.0), SetTraffic({1: 100}), StopVersion(2, 60)]


def test_rollback_to_a_cold_revision_starts_it_first() -> None:
    world = World(replicas={2: 2}, ready={2}, traffic={2: 100})
    outcome = world.drive(rollback(service(), NEW, OLD, warm=False))
    assert outcome.status == "succeeded"
    assert kinds(world) == ["StartVersion", "WaitReady", "SetTraffic", "StopVersion"]


def test_rollback_to_an_unhealthy_revision_leaves_traffic_where_it_is() -> None:
    world = World(replicas={1: 2, 2: 2}, ready={2}, traffic={2: 100}, unhealthy={1})
    outcome = world.drive(rollback(service(), NEW, OLD, warm=True))
    assert outcome.status == "failed" and outcome.stable == NEW
    assert "traffic stays on revision 2" in outcome.reason
    assert traffic_changes(world) == []
