"""The executor against an in-memory target: results reach the strategy, abort and promote work."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import pytest

from pheme.core.deploy import Release, Rollout, abort, plan
from pheme.core.deploy.actions import Role
from pheme.core.deploy.model import Analysis, BlueGreen, Canary, Check, PauseStep, ServiceSpec, SetWeight
from pheme.deploy.analysis import AnalysisRequest, AnalysisVerdict
from pheme.deploy.executor import Control, Executor, NullRecorder
from pheme.deploy.target import RevisionState, Target, TargetState
from pheme.errors import DeployError

OLD, NEW = Release(1, "1.0"), Release(2, "2.0")
SERVICE = ServiceSpec("api", command="serve", replicas=1)


class FakeTarget:
    """Revisions are ready unless listed in ``broken``; refuses traffic to unready ones like a real target."""

    kind = "fake"

    def __init__(self, broken: set[int] | None = None) -> None:
        self.broken = broken or set()
        self.running: dict[int, str] = {1: "1.0"}
        self.weights: dict[int, int] = {1: 100}
        self.calls: list[str] = []

    async def check_reachable(self) -> None:
        return None

    async def check_version(self, version: str) -> None:
        return None

    async def start(self, revision: int, version: str, replicas: int, role: Role) -> None:
        self.calls.append(f"start {revision}")
        self.running[revision] = version

    async def scale(self, revision: int, replicas: int) -> None:
        self.calls.append(f"scale {revision} {replicas}")

    async def wait_ready(self, revision: int, replicas: int, timeout: float) -> None:
        self.calls.append(f"wait {revision}")
        if revision in self.broken:
            raise DeployError(f"0/{replicas} replica(s) ready after {timeout:g}s")

    async def set_traffic(self, weights: Mapping[int, int]) -> None:
        for rev, w in weights.items():
            if w and (rev in self.broken or rev not in self.running):
                raise DeployError(f"refusing to route to revision {rev}")
        self.calls.append("traffic " + ",".join(f"{r}:{w}" for r, w in sorted(weights.items())))
        self.weights = dict(weights)

    async def stop(self, revision: int, delay: float = 0.0) -> None:
        self.calls.append(f"stop {revision}" + (f" after {delay:g}" if delay else ""))
        if not delay:
            self.running.pop(revision, None)

    async def state(self) -> TargetState:
        revs = tuple(RevisionState(r, v, "stable", 1, 0 if r in self.broken else 1) for r, v in self.running.items())
        return TargetState("api", "test", self.kind, "http://fake", dict(self.weights), revs)

    def revision_url(self, revision: int) -> str | None:
        return None

    async def logs(self, revision: int, tail: int = 50) -> list[str]:
        return []

    async def close(self) -> None:
        return None


def executor(target: FakeTarget, tmp_path: Path, analysis: object = None) -> Executor:
    return Executor(
        target, service="api", environment="test", workdir=tmp_path, recorder=NullRecorder(), analysis=analysis  # type: ignore[arg-type]
    )


def test_the_fake_target_keeps_the_target_protocol() -> None:
    assert isinstance(FakeTarget(), Target)


def test_a_failed_post_promotion_command_check_switches_back(tmp_path: Path) -> None:
    target = FakeTarget()
    strategy = BlueGreen(post_promotion=(Check("smoke", "command", "exit 3"),))
    rollout = Rollout(SERVICE, strategy, NEW, OLD, 5)
    ex = executor(target, tmp_path)
    outcome = asyncio.run(ex.run(plan(rollout)))
    assert outcome.status == "failed" and "'exit 3' exited with 3" in outcome.reason
    assert target.calls == ["start 2", "wait 2", "traffic 2:100", "wait 1", "traffic 1:100", "stop 2"]
    recorder = ex.recorder
    assert isinstance(recorder, NullRecorder)
    assert [o for _, o in recorder.steps] == ["succeeded", "succeeded", "succeeded", "failed", "succeeded", "succeeded", "succeeded"]


def test_a_target_error_becomes_a_failed_step_and_the_strategy_decides(tmp_path: Path) -> None:
    target = FakeTarget(broken={2})
    rollout = Rollout(SERVICE, BlueGreen(), NEW, OLD, 5)
    outcome = asyncio.run(executor(target, tmp_path).run(plan(rollout)))
    assert outcome.status == "failed" and "0/1 replica(s) ready" in outcome.reason
    assert not any(c.startswith("traffic") for c in target.calls)
    assert target.weights == {1: 100}


def test_abort_during_an_indefinite_pause_sends_all_traffic_back_at_once(tmp_path: Path) -> None:
    target = FakeTarget()
    rollout = Rollout(SERVICE, Canary(steps=(SetWeight(20), PauseStep(None))), NEW, OLD, 5)
    control = Control()
    ex = executor(target, tmp_path)

    async def go() -> object:
        task = asyncio.ensure_future(ex.run(plan(rollout), control=control, on_abort=lambda: abort(rollout)))
        while control.pause_reason is None:  # the rollout reaches its pause
            await asyncio.sleep(0.005)
        assert target.weights == {1: 80, 2: 20}
        control.abort("operator said so")
        return await asyncio.wait_for(task, 5)

    outcome = asyncio.run(go())
    assert outcome.status == "aborted"  # type: ignore[attr-defined]
    assert target.calls[-2:] == ["traffic 1:100", "stop 2"]
    recorder = ex.recorder
    assert isinstance(recorder, NullRecorder)
    assert ("pause until promoted (canary step)", "cancelled") in recorder.steps


def test_promote_ends_a_pause_and_the_rollout_completes(tmp_path: Path) -> None:
    target = FakeTarget()
    rollout = Rollout(SERVICE, Canary(steps=(SetWeight(50), PauseStep(None))), NEW, OLD, 5)
    control = Control()

    async def go() -> object:
        task = asyncio.ensure_future(executor(target, tmp_path).run(plan(rollout), control=control))
        assert not control.promote()  # not paused yet
        while control.pause_reason is None:
            await asyncio.sleep(0.005)
        assert control.promote()
        return await asyncio.wait_for(task, 5)

    outcome = asyncio.run(go())
    assert outcome.status == "succeeded"  # type: ignore[attr-defined]
    assert target.weights == {2: 100}


class _Runner:
    def __init__(self, verdict: str) -> None:
        self.verdict = verdict
        self.requests: list[AnalysisRequest] = []

    async def analyze(self, request: AnalysisRequest) -> AnalysisVerdict:
        self.requests.append(request)
        return AnalysisVerdict(self.verdict, "error rate 9% > 5%")  # type: ignore[arg-type]


@pytest.mark.parametrize(("command", "expected"), [("exit 0", "succeeded"), ("echo bad; exit 1", "failed")])
def test_an_analysis_command_stands_in_for_monitoring(tmp_path: Path, command: str, expected: str) -> None:
    target = FakeTarget()
    rollout = Rollout(SERVICE, Canary(steps=(SetWeight(20), Analysis(command=command))), NEW, OLD, 5)
    outcome = asyncio.run(executor(target, tmp_path).run(plan(rollout)))
    assert outcome.status == expected
    assert target.weights == ({2: 100} if expected == "succeeded" else {1: 100})


def test_the_analysis_runner_is_asked_per_template_and_a_fail_aborts_the_canary(tmp_path: Path) -> None:
    target = FakeTarget()
    runner = _Runner("fail")
    rollout = Rollout(SERVICE, Canary(steps=(SetWeight(20), Analysis(("success-rate",)))), NEW, OLD, 5)
    outcome = asyncio.run(executor(target, tmp_path, runner).run(plan(rollout)))
    assert outcome.status == "failed" and "success-rate: fail (error rate 9% > 5%)" in outcome.reason
    (request,) = runner.requests
    assert (request.service, request.version, request.track, request.template) == ("api", "2.0", "canary", "success-rate")
    assert target.weights == {1: 100}


def test_without_a_monitoring_runner_a_template_is_inconclusive_and_pauses(tmp_path: Path) -> None:
    target = FakeTarget()
    rollout = Rollout(SERVICE, Canary(steps=(SetWeight(20), Analysis(("success-rate",)))), NEW, OLD, 5)
    control = Control()

    async def go() -> str:
        task = asyncio.ensure_future(executor(target, tmp_path).run(plan(rollout), control=control))
        while control.pause_reason is None:
            await asyncio.sleep(0.005)
        reason = control.pause_reason
        control.promote()
        await asyncio.wait_for(task, 5)
        return reason

    reason = asyncio.run(go())
    assert "inconclusive" in reason and "no analysis provider" in reason

