"""Can the pipeline server take GitHub's webhooks and serve its run list fast enough?

Scenarios (a real ``pheme server`` process on a free port, driven over HTTP):
  (a) webhooks  signed ``push`` deliveries (each a new delivery id, so each is a
                new run) sent at a paced 220 requests/s by concurrent clients,
                while the server executes the runs they create (a small shell
                job each, up to the machine's job capacity). Counted: accepted
                requests per second and the latency distribution.
                2,000 requests (quick: 300).        targets: >= 200 req/s, p99 < 100 ms
  (b) runs      ``GET /api/v1/runs`` (50 runs per page, each with 2 jobs x 3
                steps) with 10,000 runs stored (quick: 2,000), 400 requests
                (quick: 100), on SQLite and on PostgreSQL (a throwaway server
                from Debian's binaries, or ``PHEME_TEST_POSTGRES_URL``).
                                                    target: p95 < 50 ms on both

Run: ``.venv/bin/python bench/webhooks.py [--quick]``. Progress goes to stderr;
the last stdout line is one JSON object, also written to
``bench/results/webhooks.json`` with the machine it ran on.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from _common import machine, write_results

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-webhook-secret"
WORKFLOW = """name: Bench
on: [push]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo "building ${{ github.sha }}"; sleep 0.2
      - run: echo done
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


class Server:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        out = self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "pheme", "server", "--port", str(self.port)],
                                     env=self.env, stdout=out, stderr=out)  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise SystemExit("server did not become ready")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def base_env(home: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHEME_")}
    env.update(PHEME_HOME=str(home), PHEME_DATABASE_URL=database_url, PHEME_SECRET_KEY="bench", PHEME_EXECUTOR="true",
               PHEME_SCHEDULER="false", PHEME_LOG_LEVEL="warning")  # fmt: skip
    return env


def cli(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "pheme", *args], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"pheme {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


# ------------------------------------------------------------------ (a) webhooks


async def _send_paced(url: str, bodies: list[tuple[bytes, dict[str, str]]], rate: float, clients: int) -> tuple[list[float], list[int], float]:
    latencies: list[float] = []
    statuses: list[int] = []
    start = time.perf_counter()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(bodies)):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def worker() -> None:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                due = start + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                body, headers = bodies[i]
                t0 = time.perf_counter()
                response = await client.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - t0)
                statuses.append(response.status_code)

        await asyncio.gather(*(worker() for _ in range(clients)))
    return latencies, statuses, time.perf_counter() - start


def bench_webhooks(work: Path, requests: int, rate: float) -> dict[str, Any]:
    home = work / "home-a"
    env = base_env(home, f"sqlite:///{work}/webhooks.db")
    repo = work / "repo"
    (repo / ".github/workflows").mkdir(parents=True)
    (repo / ".github/workflows/bench.yml").write_text(WORKFLOW)
    git = ["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "bench"], cwd=repo, check=True)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()
    cli(env, "repo", "add", "bench/app", str(repo), "--webhook-secret", SECRET)
    token = cli(env, "token", "create", "--role", "viewer").strip().splitlines()[-1]
    bodies: list[tuple[bytes, dict[str, str]]] = []
    for i in range(requests):
        body = json.dumps({"ref": "refs/heads/main", "before": "0" * 40, "after": sha,
                           "repository": {"full_name": "bench/app", "name": "app", "owner": {"login": "bench"}},
                           "pusher": {"name": "bench"}, "sender": {"login": "bench"}, "n": i}).encode()  # fmt: skip
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        bodies.append((body, {"X-GitHub-Event": "push", "X-GitHub-Delivery": f"bench-{i}",
                              "X-Hub-Signature-256": signature, "Content-Type": "application/json"}))  # fmt: skip
    with Server(env, work / "server-a.log") as server:
        warm = [(b, {**h, "X-GitHub-Delivery": h["X-GitHub-Delivery"] + "-warm"}) for b, h in bodies[:5]]
        asyncio.run(_send_paced(f"{server.url}/webhooks/github", warm, 50, 1))  # fetch + parse once
        log(f"(a) {requests} signed push webhooks at {rate:.0f}/s ...")
        latencies, statuses, elapsed = asyncio.run(_send_paced(f"{server.url}/webhooks/github", bodies, rate, 16))
        headers = {"Authorization": f"Bearer {token}"}
        running = httpx.get(f"{server.url}/api/v1/runs?status=in_progress&limit=200", headers=headers).json()["runs"]
        completed = httpx.get(f"{server.url}/api/v1/runs?status=completed&limit=200", headers=headers).json()["runs"]
        metrics = httpx.get(f"{server.url}/metrics").text
    accepted = sum(1 for s in statuses if s == 201)
    depth = next((float(line.split()[-1]) for line in metrics.splitlines() if line.startswith("pheme_queue_depth ")), None)
    result = {
        "requests": requests,
        "target_rate_per_s": rate,
        "accepted": accepted,
        "other_statuses": sorted({s for s in statuses if s != 201}),
        "throughput_per_s": round(accepted / elapsed, 1),
        "latency_ms": {"p50": round(pct(latencies, 50) * 1000, 2), "p95": round(pct(latencies, 95) * 1000, 2),
                       "p99": round(pct(latencies, 99) * 1000, 2), "max": round(max(latencies) * 1000, 2)},
        "runs_executing_at_end": len(running),
        "runs_completed_at_end": len(completed) if len(completed) < 200 else ">=200",
        "queue_depth_at_end": depth,
    }
    result["meets_target"] = result["throughput_per_s"] >= 200 and result["latency_ms"]["p99"] < 100 and accepted == requests
    log(f"    {result['throughput_per_s']}/s, p99 {result['latency_ms']['p99']} ms, {len(running)} runs executing at the end")
    return result


# ------------------------------------------------------------------- (b) runs list


def populate(database_url: str, count: int) -> None:
    from pheme.core.runs import Conclusion, Status
    from pheme.storage import open_store
    from pheme.storage.server import NewRun, ServerStore

    store = open_store(database_url)
    sstore = ServerStore(store)
    try:
        repo = sstore.add_repo("bench/app", "https://example.com/bench/app.git", webhook_secret=None, github_token_env=None)
        made = 0
        while made < count:
            batch = min(500, count - made)
            news = [NewRun(repo_id=repo.id, workflow="CI", file=".github/workflows/ci.yml", event="push",
                           ref="refs/heads/main", sha=f"{made + i:040x}", actor="bench", payload={"n": made + i})
                    for i in range(batch)]  # fmt: skip
            ids = sstore.enqueue(news).run_ids
            with store.batch():
                for n, run_id in enumerate(ids):
                    store.update_run(run_id, Status.IN_PROGRESS)
                    for key in ("build", "test"):
                        job = store.create_job(run_id, key, key)
                        store.update_job(job, Status.IN_PROGRESS)
                        for step in (1, 2, 3):
                            store.create_step(job, step, f"step {step}")
                            store.update_step(job, step, Status.COMPLETED, conclusion=Conclusion.SUCCESS)
                        store.update_job(job, Status.COMPLETED, conclusion=Conclusion.SUCCESS)
                    conclusion = Conclusion.FAILURE if (made + n) % 7 == 0 else Conclusion.SUCCESS
                    store.update_run(run_id, Status.COMPLETED, conclusion=conclusion)
                    sstore.finish_entry(run_id)
            made += batch
            log(f"    stored {made}/{count} runs")
    finally:
        store.close()


def bench_list(work: Path, name: str, database_url: str, runs: int, requests: int) -> dict[str, Any]:
    log(f"(b) {name}: storing {runs} runs ...")
    populate(database_url, runs)
    env = base_env(work / f"home-{name}", database_url)
    token = cli(env, "token", "create", "--role", "viewer").strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    timings: dict[str, list[float]] = {"first page": [], "repo + conclusion filter": [], "deep cursor": []}
    with Server(env, work / f"server-{name}.log") as server, httpx.Client(timeout=30, headers=headers) as client:
        first = client.get(f"{server.url}/api/v1/runs").json()
        assert len(first["runs"]) == 50 and first["next"], "listing did not return a full page"
        cursor = first["next"]
        for _ in range(20):  # walk in, to have a cursor deep in the history
            cursor = client.get(f"{server.url}/api/v1/runs", params={"cursor": cursor}).json()["next"]
        urls = {
            "first page": (f"{server.url}/api/v1/runs", {}),
            "repo + conclusion filter": (f"{server.url}/api/v1/runs", {"repo": "bench/app", "conclusion": "failure"}),
            "deep cursor": (f"{server.url}/api/v1/runs", {"cursor": cursor}),
        }
        for _ in range(5):
            client.get(urls["first page"][0])
        for i in range(requests):
            kind = list(urls)[i % 3]
            url, params = urls[kind]
            t0 = time.perf_counter()
            response = client.get(url, params=params)
            timings[kind].append(time.perf_counter() - t0)
            assert response.status_code == 200
    every = [t for values in timings.values() for t in values]
    out = {
        "runs_stored": runs,
        "requests": requests,
        "p50_ms": round(pct(every, 50) * 1000, 2),
        "p95_ms": round(pct(every, 95) * 1000, 2),
        "p99_ms": round(pct(every, 99) * 1000, 2),
        "by_query_p95_ms": {k: round(pct(v, 95) * 1000, 2) for k, v in timings.items()},
    }
    out["meets_target"] = out["p95_ms"] < 50
    log(f"    p95 {out['p95_ms']} ms (p50 {out['p50_ms']} ms)")
    return out


def postgres() -> tuple[str | None, Any, str]:
    path = ROOT / "tests" / "pg_server.py"
    spec = importlib.util.spec_from_file_location("pheme_bench_pg_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    try:
        server = module.acquire()
    except module.PgUnavailable as exc:
        return None, None, str(exc)
    return server.create_database(), server, "throwaway" if server.data_dir is not None else "PHEME_TEST_POSTGRES_URL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small version")
    args = parser.parse_args()
    requests = 300 if args.quick else 2000
    runs = 2000 if args.quick else 10_000
    list_requests = 99 if args.quick else 399
    out: dict[str, Any] = {"benchmark": "webhooks", "quick": args.quick, "machine": machine()}
    out["load_average_1_5_15_min"] = {"start": [round(x, 2) for x in os.getloadavg()]}  # other work on the box
    with tempfile.TemporaryDirectory(prefix="pheme-bench-webhooks-") as tmp:
        work = Path(tmp)
        out["webhooks"] = bench_webhooks(work, requests, 220.0)
        out["runs_list"] = {"sqlite": bench_list(work, "sqlite", f"sqlite:///{work}/list.db", runs, list_requests)}
        url, pg, how = postgres()
        if url is None:
            log(f"(b) postgresql skipped: {how}")
            out["runs_list"]["postgresql"] = {"skipped": how}
        else:
            try:
                out["runs_list"]["postgresql"] = {**bench_list(work, "postgresql", url, runs, list_requests), "server": how}
            finally:
                pg.drop_database(url)
                pg.close()
    out["load_average_1_5_15_min"]["end"] = [round(x, 2) for x in os.getloadavg()]
    out["targets"] = {"webhooks_per_s": 200, "webhook_p99_ms": 100, "runs_list_p95_ms": 50}
    write_results("webhooks", out, quick=args.quick)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
