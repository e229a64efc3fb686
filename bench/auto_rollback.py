"""Does the monitoring loop decide fast, safely and correctly?

Question: when a bad canary takes traffic, how soon is it rolled back; is a
healthy one promoted; how often does analysis cry wolf on identical versions,
and how often does it catch a version with twice the baseline error rate?

Scenarios:
  (a) rollback  REAL: the deploy agent with the local target and its builtin
                router runs examples/pheme-api. A stable 1.0.0 serves; version
                2.0.0 with ERROR_RATE=0.5 is deployed as a canary (20 % of a
                steady ~150 req/s load) with a success-rate analysis at a 5 s
                interval. Measured: from the canary's traffic switch to the
                switch back to stable (the deployment's own step timestamps).
                20 runs (quick: 3); target p95 <= 15 s.
  (b) promote   REAL: a healthy 1.1.0 canary under the same analysis is promoted.
  (c) A/A       SIMULATED: 1,000 analyses of two identical versions (2 % errors,
                2,000 requests per version per 5 s window), fed through the same
                runner, judging and decision code as (a) with a seeded RNG.
                target: at most 1 % fail.
  (d) detection SIMULATED: 1,000 analyses of a canary with twice the baseline
                error rate (4 % vs 2 %). target: at least 95 % fail.

The analysis in every scenario is the built-in ``success-rate`` template
(success rate >= 95 % and not significantly lower than stable's, Mann-Whitney,
false-alarm budget alpha 0.005 split over the 3 measurements) at a 5 s interval.

Run: ``.venv/bin/python bench/auto_rollback.py [--quick]``. Progress goes to
stderr; the last stdout line is one JSON object, also written to
``bench/results/auto_rollback.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import machine, write_results

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "pheme-api"

INTERVAL = 5.0
BASE_ERROR_RATE = 0.02
REQUESTS_PER_WINDOW = 2000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


# ---------------------------------------------------------------- simulation


def template() -> Any:
    from pheme.core.monitoring.builtin import builtin_template

    return builtin_template("success-rate").with_schedule(interval=INTERVAL)


class SimProbe:
    """One version pair's request outcomes, drawn from a seeded RNG, window by window."""

    def __init__(self, rng: random.Random, canary_rate: float, baseline_rate: float, n: int) -> None:
        self.rng = rng
        self.canary_rate = canary_rate
        self.baseline_rate = baseline_rate
        self.n = n

    async def open(self) -> None:
        return None

    def _errors(self, rate: float) -> int:
        rnd = self.rng.random
        return sum(1 for _ in range(self.n) if rnd() < rate)

    async def measure(self) -> Any:
        from pheme.core.monitoring.verdict import Baseline, Observation

        n = self.n
        ce, be = self._errors(self.canary_rate), self._errors(self.baseline_rate)
        return Observation(
            query=f"simulated: {n} requests per version, error rates {self.canary_rate:g} / {self.baseline_rate:g}",
            value=(n - ce) / n,
            samples=float(n),
            canary_grouped=(float(ce), float(n - ce)),
            baseline=Baseline(value=(n - be) / n, samples=float(n), grouped=(float(be), float(n - be))),
        )


async def _no_sleep(_: float) -> None:
    return None


def simulate(analyses: int, canary_rate: float, seed: int) -> tuple[int, float]:
    """How many of ``analyses`` analyses fail, and the seconds it took."""
    from pheme.core.monitoring.verdict import Verdict
    from pheme.monitoring.analysis import run_analysis
    from pheme.monitoring.providers import AnalysisContext

    t = template()
    ctx = AnalysisContext(service="sim", environment="sim", version="canary", track="canary")
    rng = random.Random(seed)

    async def all_of_them() -> int:
        failed = 0
        for _ in range(analyses):
            probe = SimProbe(rng, canary_rate, BASE_ERROR_RATE, REQUESTS_PER_WINDOW)
            result = await run_analysis(t, ctx, sleep=_no_sleep, probes=lambda spec, p=probe: p)
            failed += result.verdict is Verdict.FAIL
        return failed

    started = time.monotonic()
    failed = asyncio.run(all_of_them())
    return failed, time.monotonic() - started


# ---------------------------------------------------------------- real rollout

DEPLOY_YML = """\
services:
  api:
    artifact: dist/run-{version}.sh
    command: sh {artifact}
    env: {PORT: "{port}", APP_VERSION: "{version}"}
    health: {path: /health, periodSeconds: 0.2}
    replicas: 1
environments:
  production:
    target: {kind: local, router: builtin}
    strategy:
      canary:
        steps:
          - setWeight: 20
          - analysis: {templates: [bench-success-rate], timeoutSeconds: 120}
        scaleDownDelaySeconds: 0
      blueGreen: {scaleDownDelaySeconds: 0}
    progressDeadlineSeconds: 30
"""

TEMPLATE_YML = f"""\
name: bench-success-rate
description: the built-in success-rate judgement at a {INTERVAL:g}s interval
interval: {INTERVAL:g}s
count: 3
failureLimit: 0
inconclusiveLimit: 2
metrics:
  - name: success-rate
    provider: {{scrape: {{signal: success-rate}}}}
    successCondition: result >= 0.95
    minSamples: 20
    compare: {{baseline: stable, alpha: 0.005}}
"""

VERSIONS = {"1.0.0": 0.0, "1.1.0": 0.0, "2.0.0": 0.5}


def make_project(root: Path) -> Path:
    project = root / "project"
    (project / ".pheme" / "analysis").mkdir(parents=True)
    (project / ".pheme" / "deploy.yml").write_text(DEPLOY_YML)
    (project / ".pheme" / "analysis" / "bench.yml").write_text(TEMPLATE_YML)
    dist = project / "dist"
    dist.mkdir()
    app = dist / "pheme-api.pyz"
    subprocess.run(
        [sys.executable, "-m", "zipapp", str(EXAMPLE / "src"), "-m", "pheme_api.server:main", "-o", str(app)],
        check=True,
    )
    for version, error_rate in VERSIONS.items():
        (dist / f"run-{version}.sh").write_text(f'ERROR_RATE={error_rate} exec "{sys.executable}" "{app}"\n')
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    return project


def _traffic_window(record: Any, canary_revision: int) -> tuple[float | None, float | None]:
    """(canary took traffic, traffic back on stable) from the deployment's step records."""
    took = back = None
    for step in record.steps:
        if step.action != "SetTraffic" or step.finished_at is None:
            continue
        text = step.description
        gives_canary = f"revision {canary_revision} " in text and f"revision {canary_revision} 0%" not in text
        if took is None and gives_canary:
            took = step.finished_at.timestamp()
        elif took is not None and not gives_canary:
            back = step.finished_at.timestamp()
            break
    return took, back


async def _with_load(url: str, body: Any) -> tuple[Any, int]:
    from pheme.deploy.loadgen import Load

    host, port = url.removeprefix("http://").split("/")[0].split(":")
    load = Load(host, int(port), path="/", rps=150, connections=6)
    load.start()
    try:
        result = await asyncio.to_thread(body)
    finally:
        await load.stop()
    return result, len(load.samples)


def real_runs(runs: int, workdir: Path) -> dict[str, Any]:
    from pheme.deploy import service as svc

    os.environ["PHEME_HOME"] = str(workdir / "home")
    os.environ.pop("PHEME_DATABASE_URL", None)
    for name in ("GITHUB_WORKFLOW", "GITHUB_RUN_NUMBER", "GITHUB_SHA"):
        os.environ.pop(name, None)
    project = make_project(workdir)
    times: list[float] = []
    details: list[dict[str, Any]] = []
    try:
        first = svc.deploy("api", "production", "1.0.0", strategy="blueGreen", workdir=project)
        if first.status != "succeeded":
            raise SystemExit(f"the stable version did not deploy: {first.reason}")
        services = svc.rollout_status("api", "production").get("services") or [{}]
        url = services[0].get("state", {}).get("url")
        if not url:
            raise SystemExit("the local target reports no URL")
        log(f"stable 1.0.0 serving at {url}")
        for i in range(runs):
            record, sent = asyncio.run(
                _with_load(
                    url, lambda: svc.deploy("api", "production", "2.0.0", strategy="canary", workdir=project)
                )
            )
            full = svc.get_deployment(record.id)
            took, back = _traffic_window(full, full.revision)
            if record.status == "succeeded" or took is None or back is None:
                raise SystemExit(
                    f"run {i + 1}: the bad canary was not rolled back ({record.status}: {record.reason})"
                )
            seconds = back - took
            times.append(seconds)
            details.append(
                {
                    "deployment": record.id,
                    "status": record.status,
                    "seconds": round(seconds, 3),
                    "reason": record.reason,
                }
            )
            log(
                f"run {i + 1}/{runs}: rolled back {seconds:.2f}s after taking traffic ({sent} requests sent); {record.reason[:140]}"
            )
        healthy, sent = asyncio.run(
            _with_load(
                url, lambda: svc.deploy("api", "production", "1.1.0", strategy="canary", workdir=project)
            )
        )
        log(f"healthy 1.1.0: {healthy.status} ({sent} requests sent); {healthy.reason[:160]}")
    finally:
        with contextlib.suppress(Exception):
            svc.stop_agent(keep_services=False)
    return {
        "rollback_seconds": [round(t, 3) for t in times],
        "p95_rollback_s": round(p95(times), 3),
        "median_rollback_s": round(statistics.median(times), 3),
        "healthy_promoted": healthy.status == "succeeded",
        "healthy_reason": healthy.reason,
        "runs": details,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 real rollbacks instead of 20")
    parser.add_argument("--seed", type=int, default=20261128)
    args = parser.parse_args()
    runs = 3 if args.quick else 20
    analyses = 1000

    log(f"A/A: {analyses} simulated analyses of identical versions ({BASE_ERROR_RATE:.0%} errors)...")
    aa_failed, aa_s = simulate(analyses, BASE_ERROR_RATE, args.seed)
    log(f"  {aa_failed} failed ({aa_failed / analyses:.2%}) in {aa_s:.1f}s")
    log(f"detection: {analyses} simulated analyses of a canary at {2 * BASE_ERROR_RATE:.0%} errors...")
    caught, det_s = simulate(analyses, 2 * BASE_ERROR_RATE, args.seed + 1)
    log(f"  {caught} caught ({caught / analyses:.2%}) in {det_s:.1f}s")

    if shutil.which("git") is None:
        raise SystemExit("git is needed for the real rollout runs")
    log(f"real rollbacks: {runs} runs of a canary with ERROR_RATE=0.5 at a {INTERVAL:g}s interval...")
    with tempfile.TemporaryDirectory(prefix="pheme-bench-rollback-") as tmp:
        real = real_runs(runs, Path(tmp))

    result = {
        "bench": "auto_rollback",
        "quick": args.quick,
        "p95_rollback_s": real["p95_rollback_s"],
        "healthy_promoted": real["healthy_promoted"],
        "aa_false_fail_rate": aa_failed / analyses,
        "detection_rate": caught / analyses,
        "targets": {
            "p95_rollback_s": "<= 15",
            "healthy_promoted": True,
            "aa_false_fail_rate": "<= 0.01",
            "detection_rate": ">= 0.95",
        },
        "ok": real["p95_rollback_s"] <= 15
        and real["healthy_promoted"]
        and aa_failed / analyses <= 0.01
        and caught / analyses >= 0.95,
        "rollback": {k: v for k, v in real.items() if k not in ("p95_rollback_s", "healthy_promoted")},
        "simulation": {
            "analyses": analyses,
            "template": "success-rate (built-in) at a 5s interval, count 3, alpha 0.005",
            "requests_per_version_per_window": REQUESTS_PER_WINDOW,
            "baseline_error_rate": BASE_ERROR_RATE,
            "detection_error_rate": 2 * BASE_ERROR_RATE,
            "seed": args.seed,
            "seconds": round(aa_s + det_s, 2),
        },
        "interval_s": INTERVAL,
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
    }
    write_results("auto_rollback", result, quick=args.quick)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
