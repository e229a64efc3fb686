"""The built-in success-rate analysis on simulated traffic: few false alarms, real regressions caught.

Request outcomes are drawn from a seeded RNG and fed through the same runner,
judging and decision code as a live canary (only the probe is synthetic), so
the figures are deterministic. bench/auto_rollback.py runs 1,000 of each.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from pheme.core.monitoring.builtin import builtin_template
from pheme.core.monitoring.verdict import Baseline, Observation, Verdict
from pheme.monitoring.analysis import run_analysis
from pheme.monitoring.providers import AnalysisContext

N = 2000  # requests per version per 5 s window
BASE = 0.02


class SimProbe:
    def __init__(self, rng: random.Random, canary: float) -> None:
        self.rng, self.canary = rng, canary

    async def open(self) -> None:
        return None

    def _errors(self, rate: float) -> int:
        rnd = self.rng.random
        return sum(1 for _ in range(N) if rnd() < rate)

    async def measure(self) -> Observation:
        ce, be = self._errors(self.canary), self._errors(BASE)
        return Observation(
            query="simulated",
            value=(N - ce) / N,
            samples=float(N),
            canary_grouped=(float(ce), float(N - ce)),
            baseline=Baseline(value=(N - be) / N, samples=float(N), grouped=(float(be), float(N - be))),
        )


async def _no_sleep(_: float) -> None:
    return None


def failures(analyses: int, canary: float, seed: int) -> int:
    template = builtin_template("success-rate").with_schedule(interval=5)
    ctx = AnalysisContext(service="sim", environment="sim", version="2", track="canary")
    rng = random.Random(seed)

    async def run() -> int:
        failed = 0
        for _ in range(analyses):
            probe: Any = SimProbe(rng, canary)
            result = await run_analysis(template, ctx, sleep=_no_sleep, probes=lambda spec, p=probe: p)
            failed += result.verdict is Verdict.FAIL
        return failed

    return asyncio.run(run())


def test_identical_versions_rarely_fail() -> None:
    assert failures(300, BASE, seed=1) <= 3  # at most 1 %


def test_twice_the_error_rate_is_caught() -> None:
    assert failures(200, 2 * BASE, seed=2) >= 190  # at least 95 %


def test_a_broken_canary_fails_at_the_first_measurement() -> None:
    template = builtin_template("success-rate").with_schedule(interval=5)
    ctx = AnalysisContext(service="sim", environment="sim", version="2", track="canary")
    probe: Any = SimProbe(random.Random(3), 0.5)
    result = asyncio.run(run_analysis(template, ctx, sleep=_no_sleep, probes=lambda spec: probe))
    assert result.verdict is Verdict.FAIL
    assert len(result.measurements) == 1
