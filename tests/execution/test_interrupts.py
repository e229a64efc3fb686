"""Timeouts and cancellation kill whole process groups; always() work still runs."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from pheme.errors import PlanningError
from pheme.execution.events import LogLines


def _dead(pid: int) -> bool:
    """Gone, or a zombie waiting for its (re)parent to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def test_step_timeout_kills_the_whole_process_group_including_grandchildren(engine):
    pidfile = engine.workspace / "pids"
    result, col = engine.run(
        f"""
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - timeout-minutes: 0.01
        run: |
          sleep 600 &
          echo $! >> "{pidfile}"
          bash -c 'trap "" TERM; echo $$ >> "{pidfile}"; while true; do sleep 0.05; done' &
          wait
      - run: echo skipped
      - if: always()
        run: echo cleanup
""",
        kill_grace_seconds=0.3,
    )
    job = result.job("j")
    assert [s.outcome for s in job.steps] == ["failure", "skipped", "success"]
    assert any("has timed out after 0.01 minutes" in line for line in col.lines("j", 1))
    pids = [int(p) for p in pidfile.read_text().split()]
    assert len(pids) == 2
    assert all(_dead(pid) for pid in pids)  # including the one that ignores SIGTERM


def test_job_timeout_fails_the_job_and_always_steps_still_run(engine):
    result, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    timeout-minutes: 0.01
    steps:
      - run: sleep 600
      - if: always()
        run: echo after-timeout
""",
        kill_grace_seconds=0.3,
    )
    job = result.job("j")
    assert job.conclusion == "failure"
    assert job.steps[0].outcome == "cancelled"
    assert col.output("j", 2) == ["after-timeout"]
    assert any("exceeded the maximum execution time of 0.01 minutes" in line for line in col.lines("j"))


def test_timeout_minutes_may_be_an_expression(engine):
    result, _ = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - timeout-minutes: ${{ fromJSON('0.005') }}
        run: sleep 600
""",
        kill_grace_seconds=0.3,
    )
    assert result.job("j").steps[0].outcome == "failure"


def test_cancellation_kills_running_steps_and_runs_always_and_cancelled_steps(engine):
    pidfile = engine.workspace / "pid"

    async def main():
        from pheme.execution.runner import execute

        collector = engine.collector()
        started = collector.when(lambda e: isinstance(e, LogLines) and "running" in e.lines)
        cancel = asyncio.Event()
        request = engine.request(
            f"""
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: |
          sleep 600 &
          echo $! > "{pidfile}"
          echo running
          wait
      - run: echo implicit
      - if: always()
        run: echo always-ran
      - if: cancelled()
        run: echo cancelled-ran
  later:
    needs: j
    runs-on: ubuntu-latest
    steps:
      - run: echo never
  report:
    needs: j
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo "report ${{{{ needs.j.result }}}}"
""",
            kill_grace_seconds=0.3,
        )
        task = asyncio.create_task(execute(request, collector, cancel=cancel))
        await started.wait()
        cancel.set()
        return await task, collector

    result, col = asyncio.run(main())
    assert result.conclusion == "cancelled"
    job = result.job("j")
    assert job.conclusion == "cancelled"
    assert [(s.outcome, s.conclusion) for s in job.steps] == [
        ("cancelled", "cancelled"),
        ("skipped", "skipped"),
        ("success", "success"),
        ("success", "success"),
    ]
    assert col.output("j", 3) == ["always-ran"]
    assert col.output("j", 4) == ["cancelled-ran"]
    assert "##[error]The operation was canceled." in col.lines("j", 1)
    assert _dead(int(pidfile.read_text()))
    assert result.job("later").conclusion == "cancelled"
    assert result.job("later").started is False
    assert col.output("report", 1) == ["report cancelled"]


def test_uses_steps_fail_clearly_until_actions_are_available(engine):
    result, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/some-action@v9
      - if: always()
        uses: ./local-action
"""
    )
    job = result.job("j")
    assert [s.outcome for s in job.steps] == ["failure", "failure"]
    assert "##[error]action 'actions/some-action@v9' is not available offline yet" in col.lines("j", 1)
    assert "##[error]local action './local-action' is not supported yet" in col.lines("j", 2)


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("    container: node:20\n", "job 'j' uses a container"),
        ("    services:\n      db:\n        image: postgres\n", "job 'j' uses services"),
    ],
)
def test_container_and_services_jobs_fail_with_a_clear_error(engine, block, message):
    result, col = engine.run(
        "on: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n" + block + "    steps:\n      - run: echo hi\n"
    )
    job = result.job("j")
    assert job.conclusion == "failure" and job.started is False
    assert any(line.startswith("##[error]") and message in line for line in col.lines("j"))


def test_an_unknown_job_in_the_filter_is_a_planning_error(engine):
    with pytest.raises(PlanningError, match="no job 'nope'"):
        engine.run("on: push\njobs:\n  j:\n    runs-on: x\n    steps:\n      - run: echo\n", jobs=["nope"])


def test_the_run_temp_directory_is_removed(engine):
    result, _ = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: touch "$RUNNER_TEMP/leftover"
"""
    )
    assert result.conclusion == "success"
    tmp = engine.workspace.parent / "tmp"
    assert os.listdir(tmp) == []
