"""How fast does Pheme read workflows and evaluate expressions?

Question: can ``pheme validate`` check a large repository's worth of workflow
files in one go, and does ``pheme eval --jsonl`` keep up with bulk expression
evaluation?

Scenarios (wall time of the real CLI as a subprocess, median of 3 runs, Python
start-up included):
  (a) validate  ``pheme validate DIR`` on 1,000 generated, varied, realistic
                workflow files (quick: 100)                   target < 5 s for 1,000
  (b) eval      ``pheme eval --jsonl`` on 100,000 expression lines
                (quick: 10,000)                               target >= 20,000 lines/s

The generated workflows are all valid (the run checks ``0 problems``), mixing
CI matrices, services, containers, deployments with environments, schedules,
dispatch inputs, reusable-workflow calls and many ``${{ }}`` expressions.

Run: ``.venv/bin/python bench/validate.py [--quick]``. Progress goes to stderr;
the last stdout line is one JSON object, also written to
``bench/results/validate.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import machine, write_results

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
RUNS = 3


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pheme() -> str:
    exe = VENV_BIN / "pheme"
    return str(exe) if exe.exists() else "pheme"


# ---------------------------------------------------------------- workflow generator

OSES = ["ubuntu-latest", "ubuntu-22.04", "windows-latest", "macos-latest"]
LANGS = [
    (
        "node",
        "actions/setup-node@v4",
        "node-version",
        ["18", "20", "22"],
        ["npm ci", "npm test", "npm run build"],
    ),
    (
        "python",
        "actions/setup-python@v5",
        "python-version",
        ["3.10", "3.11", "3.12"],
        ["pip install -e .", "pytest -q"],
    ),
    ("go", "actions/setup-go@v5", "go-version", ["1.21", "1.22"], ["go build ./...", "go test ./..."]),
    ("java", "actions/setup-java@v4", "java-version", ["17", "21"], ["./gradlew build", "./gradlew test"]),
]


def ci_workflow(r: random.Random, i: int) -> str:
    lang, action, key, versions, commands = r.choice(LANGS)
    oses = r.sample(OSES, r.randint(1, 3))
    steps = [
        "      - uses: actions/checkout@v4",
        f"      - name: Set up {lang}",
        f"        uses: {action}",
        "        with:",
        f"          {key}: ${{{{ matrix.{lang} }}}}",
        "      - name: Cache",
        "        uses: actions/cache@v4",
        "        with:",
        f"          path: ~/.cache/{lang}",
        f"          key: ${{{{ runner.os }}}}-{lang}-${{{{ hashFiles('**/lockfile') }}}}",
    ]
    for n, cmd in enumerate(commands * r.randint(1, 3)):
        steps += [f"      - name: Step {n} {cmd.split()[0]}", f"        run: {cmd}"]
        if r.random() < 0.3:
            steps.append("        if: ${{ !cancelled() && matrix.os != 'windows-latest' }}")
        if r.random() < 0.3:
            steps += ["        env:", "          CI: 'true'", "          TOKEN: ${{ secrets.GITHUB_TOKEN }}"]
    branches = ", ".join(r.sample(["main", "develop", "release/**", "feature/*"], 2))
    return "\n".join(
        [
            f"name: CI {i}",
            "on:",
            "  push:",
            f"    branches: [{branches}]",
            "    paths-ignore: ['docs/**', '*.md']",
            "  pull_request:",
            "    types: [opened, synchronize, reopened]",
            "concurrency:",
            "  group: ci-${{ github.workflow }}-${{ github.ref }}",
            "  cancel-in-progress: ${{ github.event_name == 'pull_request' }}",
            "permissions:",
            "  contents: read",
            "env:",
            "  FORCE_COLOR: '1'",
            "jobs:",
            "  lint:",
            "    runs-on: ubuntu-latest",
            "    timeout-minutes: 10",
            "    steps:",
            "      - uses: actions/checkout@v4",
            "      - run: make lint",
            "  test:",
            "    needs: lint",
            "    name: Test ${{ matrix.os }} / " + lang + " ${{ matrix." + lang + " }}",
            "    runs-on: ${{ matrix.os }}",
            "    strategy:",
            "      fail-fast: false",
            "      matrix:",
            f"        os: [{', '.join(oses)}]",
            f"        {lang}: [{', '.join(repr(v) for v in versions)}]",
            "        include:",
            f"          - os: {oses[0]}",
            "            experimental: true",
            "    continue-on-error: ${{ matrix.experimental == true }}",
            "    steps:",
            *steps,
            "  report:",
            "    needs: [lint, test]",
            "    if: ${{ always() }}",
            "    runs-on: ubuntu-latest",
            "    steps:",
            '      - run: echo "${{ needs.test.result }}"',
            "",
        ]
    )


def deploy_workflow(r: random.Random, i: int) -> str:
    envs = r.sample(["staging", "production", "qa", "canary"], 2)
    jobs = [
        "  build:",
        "    runs-on: ubuntu-latest",
        "    outputs:",
        "      image: ${{ steps.meta.outputs.image }}",
        "    services:",
        "      postgres:",
        "        image: postgres:16",
        "        env:",
        "          POSTGRES_PASSWORD: ${{ secrets.DB_PASSWORD }}",
        "        ports: ['5432:5432']",
        "        options: --health-cmd pg_isready --health-interval 10s",
        "    container:",
        "      image: node:20",
        "      credentials:",
        "        username: ${{ github.actor }}",
        "        password: ${{ secrets.GITHUB_TOKEN }}",
        "    steps:",
        "      - uses: actions/checkout@v4",
        "      - id: meta",
        '        run: echo "image=app:${{ github.sha }}" >> "$GITHUB_OUTPUT"',
        "      - uses: docker/build-push-action@v6",
        "        with:",
        "          push: ${{ github.ref == 'refs/heads/main' }}",
        "          tags: ${{ steps.meta.outputs.image }}",
    ]
    previous = "build"
    for env in envs:
        jobs += [
            f"  deploy-{env}:",
            f"    needs: {previous}",
            f"    if: github.ref == 'refs/heads/main' && inputs.target == '{env}' || github.event_name == 'push'",
            "    runs-on: ubuntu-latest",
            "    environment:",
            f"      name: {env}",
            f"      url: https://{env}.example.com/${{{{ github.run_id }}}}",
            "    concurrency:",
            f"      group: deploy-{env}",
            "    steps:",
            "      - uses: actions/checkout@v4",
            "      - name: Deploy",
            f"        run: ./deploy.sh {env} ${{{{ needs.{previous}.outputs.image || 'latest' }}}}",
            "        env:",
            "          API_KEY: ${{ secrets.API_KEY }}",
            "        timeout-minutes: 15",
        ]
        previous = f"deploy-{env}"
    minute = r.randint(0, 59)
    return "\n".join(
        [
            f"name: Deploy {i}",
            f"run-name: Deploy ${{{{ inputs.target || 'all' }}}} by @${{{{ github.actor }}}} #{i}",
            "on:",
            "  push:",
            "    tags: ['v*']",
            "  schedule:",
            f"    - cron: '{minute} {r.randint(0, 23)} * * 1-5'",
            "  workflow_dispatch:",
            "    inputs:",
            "      target:",
            "        type: choice",
            f"        options: [{', '.join(envs)}]",
            f"        default: {envs[0]}",
            "      dry-run:",
            "        type: boolean",
            "        default: false",
            "defaults:",
            "  run:",
            "    shell: bash",
            "jobs:",
            *jobs,
            "",
        ]
    )


def caller_workflow(r: random.Random, i: int) -> str:
    return "\n".join(
        [
            f"name: Release {i}",
            "on:",
            "  release:",
            "    types: [published]",
            "jobs:",
            "  call-build:",
            "    uses: octo-org/shared/.github/workflows/build.yml@v2",
            "    with:",
            "      version: ${{ github.event.release.tag_name }}",
            f"      level: {r.randint(1, 5)}",
            "    secrets: inherit",
            "  call-local:",
            "    needs: call-build",
            "    uses: ./.github/workflows/reusable.yml",
            "    with:",
            "      who: release",
            "    secrets:",
            "      token: ${{ secrets.RELEASE_TOKEN }}",
            "  notify:",
            "    needs: [call-build, call-local]",
            "    if: failure()",
            "    runs-on: ubuntu-latest",
            "    steps:",
            "      - run: echo 'release ${{ github.event.release.tag_name }} failed'",
            "",
        ]
    )


REUSABLE = """\
on:
  workflow_call:
    inputs:
      who:
        type: string
        required: true
    secrets:
      token:
        required: false
    outputs:
      done:
        value: ${{ jobs.work.outputs.done }}
jobs:
  work:
    runs-on: ubuntu-latest
    outputs:
      done: ${{ steps.s.outputs.done }}
    steps:
      - id: s
        run: echo "done=${{ inputs.who }}" >> "$GITHUB_OUTPUT"
"""


def generate(folder: Path, count: int) -> None:
    r = random.Random(1234)
    makers = [ci_workflow, ci_workflow, deploy_workflow, caller_workflow]
    (folder / "reusable.yml").write_text(REUSABLE)
    for i in range(count - 1):
        (folder / f"wf-{i:04d}.yml").write_text(makers[i % len(makers)](r, i))


# ---------------------------------------------------------------- expressions

EXPRESSIONS = [
    ("github.ref == 'refs/heads/main'", {"github": {"ref": "refs/heads/main"}}),
    ("startsWith(github.ref, 'refs/tags/v') && github.event_name == 'push'", {"github": {"ref": "refs/tags/v1", "event_name": "push"}}),
    ("format('{0}-{1}', runner.os, hashes.lock)", {"runner": {"os": "Linux"}, "hashes": {"lock": "abc"}}),
    ("contains(fromJSON('[\"a\",\"b\"]'), matrix.x)", {"matrix": {"x": "b"}}),
    ("matrix.node >= 18 && !matrix.experimental", {"matrix": {"node": 20, "experimental": False}}),
    ("toJSON(steps.meta.outputs)", {"steps": {"meta": {"outputs": {"image": "app:1", "tag": "v1"}}}}),
    ("needs.build.outputs.image || 'latest'", {"needs": {"build": {"outputs": {"image": ""}}}}),
    ("join(github.event.commits.*.id, ',')", {"github": {"event": {"commits": [{"id": "a"}, {"id": "b"}]}}}),
    ("endsWith(inputs.target, 'prod') || inputs.force == true", {"inputs": {"target": "staging", "force": True}}),
    ("vars.REGION != '' && env.STAGE == 'production'", {"vars": {"REGION": "eu"}, "env": {"STAGE": "production"}}),
]  # fmt: skip


def eval_lines(count: int) -> str:
    out = []
    for i in range(count):
        expr, ctx = EXPRESSIONS[i % len(EXPRESSIONS)]
        out.append(json.dumps({"expr": expr, "contexts": ctx}))
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- scenarios


def timed(cmd: list[str], stdin: bytes | None = None) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, input=stdin, capture_output=True, check=False)
    return time.perf_counter() - start, proc


def bench_validate(count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pheme-bench-validate-") as tmp:
        repo = Path(tmp)
        (repo / ".git").mkdir()
        folder = repo / ".github" / "workflows"
        folder.mkdir(parents=True)
        generate(folder, count)
        files = len(list(folder.glob("*.yml")))
        size = sum(p.stat().st_size for p in folder.glob("*.yml"))
        log(f"(a) pheme validate: {files} files, {size / 1024:.0f} KiB")
        times = []
        summary = ""
        for run in range(RUNS):
            elapsed, proc = _validate_in(repo)
            summary = proc.stderr.decode().strip().splitlines()[-1] if proc.stderr else ""
            if proc.returncode != 0:
                raise SystemExit(
                    f"pheme validate failed ({proc.returncode}): {proc.stdout.decode()[:2000]} {summary}"
                )
            log(f"    run {run + 1}: {elapsed:.3f} s  [{summary}]")
            times.append(elapsed)
    median = statistics.median(times)
    per_1000 = median * 1000 / files
    return {
        "files": files,
        "bytes": size,
        "runs_s": [round(t, 4) for t in times],
        "median_s": round(median, 4),
        "per_file_ms": round(median * 1000 / files, 3),
        "extrapolated_1000_files_s": round(per_1000, 3),
        "summary": summary,
        "target": "< 5 s for 1,000 files",
        "met": per_1000 < 5.0,
    }


def _validate_in(repo: Path) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    start = time.perf_counter()
    proc = subprocess.run([pheme(), "validate"], cwd=repo, capture_output=True, check=False)
    return time.perf_counter() - start, proc


def bench_eval(count: int) -> dict[str, Any]:
    probe = subprocess.run([pheme(), "eval", "--help"], capture_output=True, check=False)
    if probe.returncode != 0 or b"--jsonl" not in probe.stdout:
        return {
            "lines": count,
            "lines_per_s": None,
            "note": "pheme eval --jsonl is not available",
            "met": None,
        }
    data = eval_lines(count).encode()
    log(f"(b) pheme eval --jsonl: {count} lines")
    times = []
    for run in range(RUNS):
        elapsed, proc = timed([pheme(), "eval", "--jsonl"], data)
        if proc.returncode != 0:
            raise SystemExit(f"pheme eval --jsonl failed ({proc.returncode}): {proc.stderr.decode()[:2000]}")
        out_lines = proc.stdout.count(b"\n")
        if out_lines != count:
            raise SystemExit(f"pheme eval --jsonl wrote {out_lines} lines for {count}")
        errors = proc.stdout.count(b'"error"')
        if errors:
            raise SystemExit(f"pheme eval --jsonl reported {errors} errors on valid expressions")
        log(f"    run {run + 1}: {elapsed:.3f} s ({count / elapsed:,.0f} lines/s)")
        times.append(elapsed)
    median = statistics.median(times)
    rate = count / median
    return {
        "lines": count,
        "runs_s": [round(t, 4) for t in times],
        "median_s": round(median, 4),
        "lines_per_s": round(rate),
        "target": ">= 20,000 lines/s",
        "met": rate >= 20_000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 workflows and 10,000 expression lines")
    args = parser.parse_args()
    files = 100 if args.quick else 1000
    lines = 10_000 if args.quick else 100_000
    results = {"validate": bench_validate(files), "eval": bench_eval(lines)}
    out = {
        "bench": "validate",
        "quick": args.quick,
        "machine": machine(),
        "results": results,
        "all_met": all(r["met"] is not False for r in results.values()),
    }
    text = json.dumps(out)
    write_results("validate", out, quick=args.quick)
    print(text)


if __name__ == "__main__":
    main()
