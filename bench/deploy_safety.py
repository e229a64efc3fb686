"""Deploy safety: zero failed requests, fast switches and fast rollbacks, on both routers.

For each router (the embedded proxy, then Pheme's own nginx) this drives the
real thing: the local deploy agent, pheme-api zipapps as the versions, a
keep-alive load of ``--rps`` requests/s through the router. Under that load:

* N blue-green deployments, each followed by ``pheme rollback`` run as a
  command (so its own start counts), while the previous revision is warm;
* N canary deployments paused at 20% and aborted (0% to the canary at once).

Measured:

* ``failed_requests``: requests without a 2xx answer (the guarantee: 0);
* ``p95_switch_ms``: from the switch decision (the start of the SetTraffic step,
  as recorded) until every request sent afterwards is answered by the new
  version (guarantee: < 250 ms); aborts are switches too;
* ``p95_rollback_ms``: from launching ``pheme rollback`` until every request
  sent afterwards is answered by the previous version (guarantee: < 1 s).

Usage: ``.venv/bin/python bench/deploy_safety.py [--quick]``; progress on
stderr, one JSON object on the last stdout line, also written to
``bench/results/deploy_safety.json``. Exits 1 if a guarantee is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import machine as machine_facts
from _common import write_results

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "pheme-api"
VERSIONS = ("1.0.0", "2.0.0")

DEPLOY = """\
services:
  api:
    artifact: dist/pheme-api-{{version}}.pyz
    command: {python} {{artifact}}
    env: {{PORT: "{{port}}", APP_VERSION: "{{version}}"}}
    health: {{path: /health, periodSeconds: 0.5}}
    replicas: 1
environments:
  bench:
    target: {{kind: local, router: {router}}}
    strategy:
      blueGreen: {{scaleDownDelaySeconds: 20}}
      canary: {{steps: [{{setWeight: 20}}, {{pause: {{}}}}], scaleDownDelaySeconds: 20}}
    progressDeadlineSeconds: 30
"""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    try:
        nginx_version = subprocess.run([nginx, "-v"], capture_output=True, text=True, check=False).stderr.strip()
    except OSError:
        nginx_version = ""
    return machine_facts(nginx=nginx_version)


def p95(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def make_project(work: Path, router: str) -> Path:
    project = work / f"project-{router}"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", "dist", ".pheme"))
    (project / ".pheme").mkdir()
    (project / ".pheme" / "deploy.yml").write_text(DEPLOY.format(python=sys.executable, router=router))
    (project / "dist").mkdir()
    for v in VERSIONS:
        subprocess.run(
            [sys.executable, "-m", "zipapp", "src", "-m", "pheme_api.server:main", "-o", f"dist/pheme-api-{v}.pyz"],
            cwd=project, check=True,
        )
    return project


def step_start(record: Any, action: str, offset: float, last: bool = True) -> float:
    """The monotonic time at which the record's (last) step of ``action`` started."""
    steps = [s for s in record.steps if s.action == action]
    step = steps[-1] if last else steps[0]
    return step.started_at.timestamp() - offset


async def run_router(router: str, work: Path, n: int, rps: float) -> dict[str, Any]:
    from pheme.deploy import service as svc
    from pheme.deploy.loadgen import Load, switch_latency

    home = work / f"home-{router}"
    os.environ["PHEME_HOME"] = str(home)
    os.environ.pop("PHEME_DATABASE_URL", None)
    project = await asyncio.to_thread(make_project, work, router)
    offset = time.time() - time.monotonic()
    pheme = str(Path(sys.executable).parent / "pheme")

    first = await asyncio.to_thread(svc.deploy, "api", "bench", VERSIONS[0], workdir=project, strategy="blue-green")
    if first.status != "succeeded":
        raise SystemExit(f"{router}: first deployment failed: {first.reason}")
    url = (await asyncio.to_thread(svc.rollout_status, "api", "bench"))["services"][0]["state"]["url"]
    host, port = url.split("://")[1].split(":")
    load = Load(host, int(port), rps=rps, connections=8)
    load.start()
    switch_ms: list[float] = []
    rollback_ms: list[float] = []
    aborts = weight_changes = switches = 0
    current = VERSIONS[0]
    try:
        await load.wait_for(lambda s: s.label == current)
        for i in range(n):
            new = VERSIONS[1] if current == VERSIONS[0] else VERSIONS[0]
            rec = await asyncio.to_thread(svc.deploy, "api", "bench", new, workdir=project, strategy="blue-green")
            if rec.status != "succeeded":
                raise SystemExit(f"{router}: deployment {i} failed: {rec.reason}")
            switches += 1
            t0 = step_start(rec, "SetTraffic", offset)
            await load.wait_for(lambda s, v=new: s.label == v)
            await asyncio.sleep(0.3)
            switch_ms.append(switch_latency(load.samples, t0, new, until=time.monotonic()) * 1000)
            # Roll back to the previous (warm) revision with the command, its start included.
            t0 = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                pheme, "rollback", "api", "--env", "bench", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
            )
            out, _ = await proc.communicate()
            if proc.returncode != 0:
                raise SystemExit(f"{router}: rollback {i} failed: {out.decode().strip()}")
            await load.wait_for(lambda s, v=current: s.label == v)
            await asyncio.sleep(0.3)
            if os.environ.get("BENCH_DEBUG"):
                last = await asyncio.to_thread(svc.list_deployments, limit=1)
                full = await asyncio.to_thread(svc.get_deployment, last[0].id)
                log("    rollback steps: " + ", ".join(
                    f"{st.action} +{(st.started_at.timestamp() - offset - t0) * 1000:.0f}..{(st.finished_at.timestamp() - offset - t0) * 1000:.0f}ms"
                    for st in full.steps) + f" created +{(full.created_at.timestamp() - offset - t0) * 1000:.0f}ms")
            rollback_ms.append(switch_latency(load.samples, t0, current, until=time.monotonic()) * 1000)
            # Canary to 20%, then abort: 0% to the canary at once.
            rec = await asyncio.to_thread(svc.deploy, "api", "bench", new, workdir=project, strategy="canary")
            if rec.status != "paused":
                raise SystemExit(f"{router}: canary {i} did not pause: {rec.status} {rec.reason}")
            weight_changes += 1
            await load.wait_for(lambda s, v=new: s.label == v)
            aborted = await asyncio.to_thread(svc.abort, "api", "bench")
            if aborted.status != "aborted":
                raise SystemExit(f"{router}: abort {i} ended {aborted.status}")
            aborts += 1
            t0 = step_start(aborted, "SetTraffic", offset)
            await asyncio.sleep(0.3)
            switch_ms.append(switch_latency(load.samples, t0, current, until=time.monotonic()) * 1000)
            log(f"  {router}: round {i + 1}/{n}: switch {switch_ms[-2]:.1f} ms, rollback {rollback_ms[-1]:.1f} ms, "
                f"abort {switch_ms[-1]:.1f} ms, {len(load.samples)} requests, {len(load.failed)} failed")
    finally:
        await load.stop()
        await asyncio.to_thread(svc.stop_agent, keep_services=False)
    failed = load.failed
    return {
        "requests": len(load.samples),
        "failed_requests": len(failed),
        "failures": [f"{s.status} {s.error}".strip() for s in failed[:5]],
        "retried_on_closed_keepalive": load.retried,
        "switches": switches,
        "canary_weight_changes": weight_changes,
        "aborts": aborts,
        "rollbacks": len(rollback_ms),
        "p95_switch_ms": round(p95(switch_ms), 1),
        "max_switch_ms": round(max(switch_ms, default=0.0), 1),
        "p95_rollback_ms": round(p95(rollback_ms), 1),
        "max_rollback_ms": round(max(rollback_ms, default=0.0), 1),
        "rps": rps,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 rounds per router instead of 20")
    parser.add_argument("--rps", type=float, default=200.0)
    parser.add_argument("--routers", default="builtin,nginx")
    args = parser.parse_args()
    n = 5 if args.quick else 20
    routers: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix="pheme-bench-deploy-"))
    try:
        for router in args.routers.split(","):
            if router == "nginx" and not (shutil.which("nginx") or os.access("/usr/sbin/nginx", os.X_OK)):
                log("nginx is not installed: skipping the nginx router (install the Debian package 'nginx')")
                routers[router] = {"skipped": "nginx not installed"}
                continue
            log(f"{router}: {n} blue-green switches + rollbacks, {n} canary weight changes + aborts at {args.rps:g} req/s")
            routers[router] = asyncio.run(run_router(router, work, n, args.rps))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    broken = []
    for name, r in routers.items():
        if "skipped" in r:
            continue
        if r["failed_requests"]:
            broken.append(f"{name}: {r['failed_requests']} failed requests")
        if r["p95_switch_ms"] >= 250:
            broken.append(f"{name}: p95 switch {r['p95_switch_ms']} ms >= 250 ms")
        if r["p95_rollback_ms"] >= 1000:
            broken.append(f"{name}: p95 rollback {r['p95_rollback_ms']} ms >= 1000 ms")
    out = {
        "bench": "deploy_safety",
        "quick": args.quick,
        "machine": machine(),
        "routers": routers,
        "guarantees": {"failed_requests": 0, "p95_switch_ms": 250, "p95_rollback_ms": 1000},
        "all_met": not broken,
        "broken": broken,
    }
    write_results("deploy_safety", out, quick=args.quick)
    print(json.dumps(out))
    for b in broken:
        log(f"GUARANTEE BROKEN: {b}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
