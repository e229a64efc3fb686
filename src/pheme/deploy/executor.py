"""The executor: carries a strategy's actions out against a Target and records every step.

It is the only loop that drives a rollout. For each action the strategy
yields, it records the step as started, performs it (target call, HTTP or
command check, analysis, pause), records the outcome and sends the result
back. Target errors (:class:`~pheme.errors.DeployError`) become failed
results, so the *strategy* decides what happens next, never an exception
unwinding half a rollout.

An abort (:meth:`Control.abort`) may arrive at any time: the action in
progress is cancelled, the strategy is closed, and the abort flow
(:func:`pheme.core.deploy.abort`: 0% to the new revision at once, then remove
it) runs to completion without further interruption. A promote ends the
current pause early.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from pheme.core.deploy.actions import (
    Action,
    ActionResult,
    Outcome,
    Pause,
    RunAnalysis,
    RunCheck,
    ScaleVersion,
    SetTraffic,
    StartVersion,
    StopVersion,
    WaitReady,
    describe,
)
from pheme.core.deploy.strategies import Flow
from pheme.deploy._http import http_get
from pheme.deploy.analysis import AnalysisRequest, AnalysisRunner, CommandAnalysisRunner, run_command
from pheme.deploy.target import Target
from pheme.errors import DeployError

__all__ = ["Control", "Executor", "NullRecorder", "Recorder"]


class Recorder(Protocol):
    """Where steps go (the store in the agent, a list in tests)."""

    async def step_started(self, action: Action, description: str) -> int: ...

    async def step_finished(self, number: int, result: ActionResult, *, cancelled: bool = False) -> None: ...

    async def paused(self, reason: str | None) -> None:
        """``reason`` when a pause begins, None when it ends."""


class NullRecorder:
    def __init__(self) -> None:
        self.steps: list[tuple[str, str]] = []
        self._n = 0

    async def step_started(self, action: Action, description: str) -> int:
        self._n += 1
        self.steps.append((description, "running"))
        return self._n

    async def step_finished(self, number: int, result: ActionResult, *, cancelled: bool = False) -> None:
        description = self.steps[number - 1][0]
        outcome = "cancelled" if cancelled else ("succeeded" if result.ok else "failed")
        self.steps[number - 1] = (description, outcome)

    async def paused(self, reason: str | None) -> None:
        return None


class Control:
    """Signals from outside (``pheme rollout promote|abort``) to a running rollout."""

    def __init__(self) -> None:
        self._promote = asyncio.Event()
        self._abort = asyncio.Event()
        self.pause_reason: str | None = None
        self.abort_reason = "aborted by request"

    def promote(self) -> bool:
        """End the current pause. False if the rollout is not paused."""
        if self.pause_reason is None:
            return False
        self._promote.set()
        return True

    def abort(self, reason: str = "aborted by request") -> None:
        self.abort_reason = reason
        self._abort.set()

    @property
    def aborted(self) -> bool:
        return self._abort.is_set()


class Executor:
    """Runs flows against one target. ``workdir`` is where check commands run."""

    def __init__(
        self,
        target: Target,
        *,
        service: str,
        environment: str,
        workdir: Path,
        recorder: Recorder | None = None,
        analysis: AnalysisRunner | None = None,
        analysis_factory: Callable[[], AnalysisRunner] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.target = target
        self.service = service
        self.environment = environment
        self.workdir = workdir
        self.recorder: Recorder = recorder or NullRecorder()
        # Made on first use: a monitoring runner may open connections that a rollback never needs.
        self._analysis_runner = analysis
        self._analysis_factory = analysis_factory
        self.env = dict(os.environ if env is None else env)
        self.timings: list[tuple[str, float]] = []

    async def run(
        self, flow: Flow, *, control: Control | None = None, on_abort: Callable[[], Flow] | None = None
    ) -> Outcome:
        """Drive ``flow`` to its end; on ``control.abort()`` switch to ``on_abort()``."""
        control = control or Control()
        result: ActionResult | None = None
        while True:
            try:
                action = flow.send(result)  # type: ignore[arg-type]
            except StopIteration as stop:
                outcome: Outcome = stop.value
                return outcome
            if control.aborted and on_abort is not None:
                flow.close()
                return await self.run(on_abort(), control=Control())
            number = await self.recorder.step_started(action, describe(action))
            task = asyncio.ensure_future(self._perform(action, control))
            aborter = asyncio.ensure_future(control._abort.wait())
            try:
                await asyncio.wait({task, aborter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                aborter.cancel()
            if not task.done() and on_abort is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
                await self.recorder.step_finished(number, ActionResult.failure(control.abort_reason), cancelled=True)
                flow.close()
                return await self.run(on_abort(), control=Control())
            if not task.done():  # abort without an abort flow: finish the action
                await task
            result = task.result()
            await self.recorder.step_finished(number, result)

    async def _perform(self, action: Action, control: Control) -> ActionResult:
        started = time.perf_counter()
        try:
            return await self._dispatch(action, control)
        except DeployError as exc:
            return ActionResult.failure(str(exc))
        finally:
            self.timings.append((type(action).__name__, time.perf_counter() - started))

    async def _dispatch(self, action: Action, control: Control) -> ActionResult:
        t = self.target
        match action:
            case StartVersion(revision=rev, version=ver, replicas=n, role=role):
                await t.start(rev, ver, n, role)
            case ScaleVersion(revision=rev, replicas=n):
                await t.scale(rev, n)
            case WaitReady(revision=rev, replicas=n, timeout=timeout):
                await t.wait_ready(rev, n, timeout)
            case SetTraffic(weights=weights):
                await t.set_traffic(weights)
            case StopVersion(revision=rev, delay=delay):
                await t.stop(rev, delay)
            case RunCheck():
                return await self._check(action)
            case RunAnalysis():
                return await self._analysis(action)
            case Pause(duration=duration, reason=reason):
                return await self._pause(control, duration, reason)
        return ActionResult.success()

    async def _check(self, action: RunCheck) -> ActionResult:
        check = action.check
        url = self.target.revision_url(action.revision)
        if check.kind == "http":
            if url is None:
                return ActionResult.failure(f"revision {action.revision} has no address to check")
            host_port = url.split("://", 1)[1]
            host, _, port = host_port.rpartition(":")
            try:
                status, _ = await http_get(host, int(port), check.target, check.timeout)
            except (OSError, TimeoutError, Exception) as exc:
                return ActionResult.failure(f"GET {check.target}: {exc.__class__.__name__} {exc}".strip())
            ok = status == check.expect if check.expect is not None else 200 <= status < 300
            return ActionResult(ok, f"GET {check.target} answered {status}")
        return await self._command(check.target, action.revision, url, check.timeout)

    async def _command(self, command: str, revision: int, url: str | None, timeout: float) -> ActionResult:
        state = await self.target.state()
        rev = state.revision(revision)
        version = rev.version if rev else ""
        env = dict(self.env)
        env.update({"PHEME_URL": url or "", "PHEME_VERSION": version, "PHEME_REVISION": str(revision), "PHEME_SERVICE_URL": state.url or ""})
        command = command.replace("{url}", url or "").replace("{version}", version)
        try:
            code, out = await run_command(command, cwd=self.workdir, env=env, timeout=timeout)
        except TimeoutError:
            return ActionResult.failure(f"'{command}' did not finish within {timeout:g}s")
        except OSError as exc:
            return ActionResult.failure(f"'{command}' could not run: {exc}")
        last = out.splitlines()[-1] if out else ""
        if code == 0:
            return ActionResult.success(last)
        return ActionResult.failure(f"'{command}' exited with {code}" + (f": {last}" if last else ""))

    @property
    def analysis(self) -> AnalysisRunner:
        if self._analysis_runner is None:
            factory = self._analysis_factory
            self._analysis_runner = factory() if factory is not None else CommandAnalysisRunner()
        return self._analysis_runner

    async def _analysis(self, action: RunAnalysis) -> ActionResult:
        analysis = action.analysis
        url = self.target.revision_url(action.revision)
        baseline = await self._baseline(action.revision)
        reasons: list[str] = []
        inconclusive = False
        for template in analysis.templates:
            request = AnalysisRequest(
                self.service, self.environment, action.version, action.revision, action.track, template, url, analysis.timeout,
                baseline_version=baseline[0] if baseline else None,
                baseline_url=baseline[1] if baseline else None,
                workdir=str(self.workdir),
                deployment=getattr(self.recorder, "record_id", None),
            )  # fmt: skip
            verdict = await self.analysis.analyze(request)
            reasons.append(f"{template}: {verdict.verdict}" + (f" ({verdict.reason})" if verdict.reason else ""))
            if verdict.verdict == "fail":
                return ActionResult(False, "; ".join(reasons), "fail")
            inconclusive = inconclusive or verdict.verdict == "inconclusive"
        if analysis.command:
            result = await self._command(analysis.command, action.revision, url, analysis.timeout)
            reasons.append(result.reason or ("command passed" if result.ok else "command failed"))
            if not result.ok:
                return ActionResult(False, "; ".join(reasons), "fail")
            if analysis.templates and inconclusive:
                # The command is the user's own verdict: it settles what the templates could not.
                return ActionResult(True, "; ".join(reasons), "pass")
        if inconclusive:
            return ActionResult(True, "; ".join(reasons), "inconclusive")
        return ActionResult(True, "; ".join(reasons), "pass")

    async def _baseline(self, revision: int) -> tuple[str, str | None] | None:
        """(version, direct URL) of the other revision with traffic: what an analysis compares against."""
        with contextlib.suppress(Exception):
            state = await self.target.state()
            for rev in state.revisions:
                if rev.revision != revision and state.weights.get(rev.revision, 0) > 0:
                    return rev.version, self.target.revision_url(rev.revision)
            for rev in state.revisions:
                if rev.revision != revision and rev.role == "stable" and rev.ready > 0:
                    return rev.version, self.target.revision_url(rev.revision)
        return None

    async def _pause(self, control: Control, duration: float | None, reason: str) -> ActionResult:
        control._promote.clear()
        control.pause_reason = reason or "paused"
        await self.recorder.paused(control.pause_reason)
        try:
            if duration is None:
                await control._promote.wait()
                return ActionResult.success("promoted")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(control._promote.wait(), duration)
                return ActionResult.success("promoted")
            return ActionResult.success(f"paused {duration:g}s")
        finally:
            control.pause_reason = None
            await self.recorder.paused(None)
