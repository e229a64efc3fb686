"""The analysis runner: measure on schedule, judge, record, and answer pass / fail / inconclusive.

:func:`run_analysis` runs one template's metrics concurrently, each on its own
``interval``; every measurement is judged (:func:`pheme.core.monitoring.verdict.judge`)
and recorded as it is taken. It returns as soon as the outcome is certain: a
failed metric ends the analysis at once (the canary's traffic goes back to
stable while the other metrics are still measuring), a pass needs every metric
to pass. Missing data, too little traffic, a timeout, even an internal error,
end as *inconclusive* with the reason — never as a pass, never as a crash.

:class:`TemplateAnalysisRunner` is the deploy executor's ``AnalysisRunner``
(``await runner.analyze(request)``, see :mod:`pheme.deploy.analysis`);
:func:`create_runner` is the factory the deploy package imports by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx

from pheme.core.monitoring.records import AnalysisRun
from pheme.core.monitoring.templates import AnalysisTemplate, MetricSpec
from pheme.core.monitoring.verdict import (
    Measurement,
    MetricStatus,
    Verdict,
    analysis_outcome,
    judge,
    metric_status,
)
from pheme.core.runs import utc_now
from pheme.errors import PhemeError
from pheme.monitoring.library import TemplateLibrary
from pheme.monitoring.providers import AnalysisContext, Probe, open_probe

__all__ = [
    "PROMETHEUS_URL_ENV",
    "AnalysisRecorder",
    "AnalysisResult",
    "RunnerVerdict",
    "StoreRecorder",
    "TemplateAnalysisRunner",
    "create_runner",
    "run_analysis",
]

PROMETHEUS_URL_ENV = "PHEME_PROMETHEUS_URL"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    verdict: Verdict
    reason: str
    measurements: tuple[Measurement, ...]
    run_id: int | None = None
    seconds: float = 0.0


class AnalysisRecorder(Protocol):
    async def start(
        self, template: AnalysisTemplate, ctx: AnalysisContext, extra: dict[str, Any]
    ) -> int | None: ...

    async def measurement(self, run_id: int | None, m: Measurement) -> None: ...

    async def finish(self, run_id: int | None, verdict: Verdict, reason: str) -> None: ...


class StoreRecorder:
    """Records into the store's analysis tables (in a worker thread: the event loop keeps measuring)."""

    def __init__(self, store: Any) -> None:
        from pheme.storage._analysis import AnalysisRepo

        self.repo = AnalysisRepo(store)

    async def start(
        self, template: AnalysisTemplate, ctx: AnalysisContext, extra: dict[str, Any]
    ) -> int | None:
        run: AnalysisRun = await asyncio.to_thread(
            self.repo.start_run,
            service=ctx.service,
            environment=ctx.environment,
            version=ctx.version,
            track=ctx.track,
            template=template.name,
            deployment=extra.get("deployment"),
            revision=extra.get("revision"),
            baseline_version=ctx.baseline_version,
        )
        return run.id

    async def measurement(self, run_id: int | None, m: Measurement) -> None:
        if run_id is not None:
            await asyncio.to_thread(self.repo.add_measurement, run_id, m)

    async def finish(self, run_id: int | None, verdict: Verdict, reason: str) -> None:
        if run_id is not None:
            await asyncio.to_thread(self.repo.finish_run, run_id, verdict, reason)


class _NullRecorder:
    async def start(
        self, template: AnalysisTemplate, ctx: AnalysisContext, extra: dict[str, Any]
    ) -> int | None:
        return None

    async def measurement(self, run_id: int | None, m: Measurement) -> None:
        return None

    async def finish(self, run_id: int | None, verdict: Verdict, reason: str) -> None:
        return None


async def _metric_loop(
    spec: MetricSpec,
    probe: Probe,
    on_measurement: Callable[[Measurement], Awaitable[bool]],
    sleep: Callable[[float], Awaitable[None]],
) -> MetricStatus:
    if spec.initial_delay > 0:
        await sleep(spec.initial_delay)
    await probe.open()
    t0 = time.monotonic()
    taken: list[Measurement] = []
    k = 0
    while True:
        k += 1
        # Measurements stay on the interval grid; one that ran late does not push the rest back.
        k = max(k, int((time.monotonic() - t0) / spec.interval))
        delay = t0 + k * spec.interval - time.monotonic()
        window_start = utc_now() - timedelta(seconds=spec.interval)
        if delay > 0:
            await sleep(delay)
        obs = await probe.measure()
        m = judge(spec, obs, started_at=window_start, finished_at=utc_now())
        taken.append(m)
        status = metric_status(spec, taken)
        if await on_measurement(m) or status.verdict is not Verdict.RUNNING:
            return status


async def run_analysis(
    template: AnalysisTemplate,
    ctx: AnalysisContext,
    *,
    recorder: AnalysisRecorder | None = None,
    client: httpx.AsyncClient | None = None,
    timeout: float | None = None,
    extra: dict[str, Any] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    probes: Callable[[MetricSpec], Probe] | None = None,
) -> AnalysisResult:
    """Run ``template`` against ``ctx`` until its verdict is certain (or ``timeout`` seconds pass).

    ``probes`` replaces the providers (simulations feed synthetic observations through
    the same scheduling, judging and decision code); ``sleep`` replaces the waiting.
    """
    rec: AnalysisRecorder = recorder or _NullRecorder()
    started = time.monotonic()
    run_id = await rec.start(template, ctx, extra or {})
    measurements: list[Measurement] = []

    async def on_measurement(m: Measurement) -> bool:
        measurements.append(m)
        await rec.measurement(run_id, m)
        # Stop this metric's loop once the whole analysis has failed.
        return analysis_outcome(template, measurements).verdict is Verdict.FAIL

    # No client of our own when the probes are given (simulations run thousands of analyses).
    own_client = client is None and probes is None
    http = client
    if own_client:
        http = httpx.AsyncClient(timeout=httpx.Timeout(min(10.0, max(1.0, _shortest(template))), connect=2.0))
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    tasks = [
        asyncio.create_task(
            _metric_loop(
                spec, probes(spec) if probes else open_probe(spec, ctx, _require(http)), on_measurement, sleep
            )
        )
        for spec in template.metrics
    ]
    verdict: Verdict | None = None
    reason = ""
    try:
        pending: set[asyncio.Task[MetricStatus]] = set(tasks)
        while pending:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                break
            done, pending = await asyncio.wait(
                pending, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                task.result()  # re-raises a bug in a loop
            if analysis_outcome(template, measurements).verdict is Verdict.FAIL:
                break
    except Exception as exc:  # a bug must not take the deployment down with it
        log.exception("analysis %s of %s %s failed", template.name, ctx.service, ctx.version)
        verdict, reason = Verdict.INCONCLUSIVE, f"internal error in the analysis: {type(exc).__name__}: {exc}"
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if own_client and http is not None:
            await http.aclose()
    if verdict is None:
        outcome = analysis_outcome(template, measurements)
        verdict, reason = outcome.verdict, outcome.reason
        if verdict is Verdict.RUNNING:
            verdict = Verdict.INCONCLUSIVE
            reason = f"the analysis did not finish within {timeout:g}s" + (f" ({reason})" if reason else "")
    await rec.finish(run_id, verdict, reason)
    return AnalysisResult(verdict, reason, tuple(measurements), run_id, time.monotonic() - started)


def _require(client: httpx.AsyncClient | None) -> httpx.AsyncClient:
    if client is None:  # pragma: no cover - run_analysis always makes one when no probes are given
        raise RuntimeError("no HTTP client")
    return client


def _shortest(template: AnalysisTemplate) -> float:
    return min(m.interval for m in template.metrics)


@dataclass(frozen=True, slots=True)
class RunnerVerdict:
    """Shaped like :class:`pheme.deploy.analysis.AnalysisVerdict` (``verdict``, ``reason``)."""

    verdict: str
    reason: str = ""
    run_id: int | None = None


class TemplateAnalysisRunner:
    """The deploy executor's analysis runner: templates by name, measured on the revision's URL.

    The request (``pheme.deploy.analysis.AnalysisRequest``) carries the service,
    environment, version, revision, track, template name, the revision's URL
    and a timeout. When it also carries ``baseline_url`` / ``baseline_version``
    (the stable revision), metrics with ``compare`` test the canary against it.
    """

    def __init__(
        self,
        *,
        library: TemplateLibrary | None = None,
        recorder: AnalysisRecorder | None = None,
        prometheus_url: str | None = None,
        schedule: dict[str, float] | None = None,
    ) -> None:
        self.library = library
        self.recorder = recorder
        self.prometheus_url = prometheus_url
        self.schedule = schedule or {}

    def context(self, request: Any) -> AnalysisContext:
        url = getattr(request, "url", None)
        endpoints = tuple(getattr(request, "endpoints", ()) or ((url,) if url else ()))
        baseline_url = getattr(request, "baseline_url", None)
        baseline_endpoints = tuple(
            getattr(request, "baseline_endpoints", ()) or ((baseline_url,) if baseline_url else ())
        )
        return AnalysisContext(
            service=request.service,
            environment=request.environment,
            version=request.version,
            track=str(request.track),
            endpoints=endpoints,
            baseline_version=getattr(request, "baseline_version", None),
            baseline_endpoints=baseline_endpoints,
            prometheus_url=self.prometheus_url,
        )

    def _library(self, request: Any) -> TemplateLibrary:
        """The given library, else the repository's (the request's ``workdir``, else the current directory).

        Read afresh for every request: the deploy agent lives long, templates change with the repository.
        """
        if self.library is not None:
            return self.library
        return TemplateLibrary(Path(getattr(request, "workdir", None) or Path.cwd()))

    async def analyze(self, request: Any) -> RunnerVerdict:
        try:
            template = self._library(request).get(request.template)
        except PhemeError as exc:
            return RunnerVerdict("inconclusive", str(exc))
        if self.schedule:
            template = template.with_schedule(
                interval=self.schedule.get("interval"),
                count=int(self.schedule["count"]) if "count" in self.schedule else None,
            )
        extra = {
            "deployment": getattr(request, "deployment", None),
            "revision": getattr(request, "revision", None),
        }
        result = await run_analysis(
            template,
            self.context(request),
            recorder=self.recorder,
            timeout=getattr(request, "timeout", None),
            extra=extra,
        )
        return RunnerVerdict(result.verdict.value, result.reason, result.run_id)


def create_runner() -> TemplateAnalysisRunner:
    """The factory :mod:`pheme.deploy.analysis` imports: repository templates from the current directory,
    measurements recorded in the store (if it can be opened), Prometheus from ``PHEME_PROMETHEUS_URL``."""
    recorder: AnalysisRecorder | None = None
    with contextlib.suppress(PhemeError):
        from pheme.storage import open_store

        recorder = StoreRecorder(open_store())
    return TemplateAnalysisRunner(
        recorder=recorder, prometheus_url=os.environ.get(PROMETHEUS_URL_ENV) or None
    )
