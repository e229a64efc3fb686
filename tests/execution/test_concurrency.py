"""Job-level ``concurrency``: one job holds a group, one waits, newer ones replace or cancel (GitHub's rules)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pheme.execution._concurrency import MAX_QUEUE
from pheme.execution.events import JobFinished, JobGroupAcquired, JobPending, JobStarted, StepStarted
from pheme.execution.runner import ConcurrencyGroups, JobGate


def _wait_for(path: Path) -> str:
    """A step that blocks until ``path`` exists (the test creates it once it has seen what it waits for)."""
    return f'while [ ! -f "{path}" ]; do sleep 0.02; done'


def _order(col: Any) -> list[tuple[str, str]]:
    kinds = (JobPending, JobGroupAcquired, JobStarted, JobFinished)
    return [(type(e).__name__, e.job.key) for e in col.events if isinstance(e, kinds)]


def test_jobs_of_one_group_run_one_after_the_other_the_second_shown_waiting(engine):
    ws = engine.workspace
    release = ws / "release"

    async def scenario():
        col = engine.collector()
        pending = col.when(lambda e: isinstance(e, JobPending))
        run = asyncio.create_task(
            engine.arun(
                f"""
on: push
jobs:
  first:
    runs-on: x
    concurrency: deploy
    steps:
      - run: {_wait_for(release)}; touch "{ws / "first-done"}"
  second:
    runs-on: x
    concurrency: deploy
    steps:
      - run: test -f "{ws / "first-done"}" && echo after first
""",
                collector=col,
                max_parallel_jobs=4,
            )
        )
        await pending.wait()
        release.touch()
        return await run

    result, col = asyncio.run(scenario())
    assert result.conclusion == "success", col.lines()
    [waiting] = col.of(JobPending)
    assert (waiting.job.key, waiting.group) == ("second", "deploy")
    assert col.lines("second")[0] == "Waiting for a running job of concurrency group 'deploy' (first in run 1)"
    order = _order(col)
    assert order.index(("JobFinished", "first")) < order.index(("JobGroupAcquired", "second"))
    assert order.index(("JobGroupAcquired", "second")) < order.index(("JobStarted", "second"))
    assert col.output("second", 1) == ["after first"]


def test_a_newer_pending_job_cancels_the_older_pending_one(engine):
    ws = engine.workspace
    release = ws / "release"

    async def scenario():
        col = engine.collector()
        replaced = col.when(lambda e: isinstance(e, JobFinished) and e.job.key == "second")
        run = asyncio.create_task(
            engine.arun(
                f"""
on: push
jobs:
  first:
    runs-on: x
    concurrency: deploy
    steps:
      - run: {_wait_for(release)}
  second:
    runs-on: x
    concurrency: deploy
    steps:
      - run: echo second ran
  third:
    runs-on: x
    concurrency: Deploy
    steps:
      - run: echo third ran
""",
                collector=col,
                max_parallel_jobs=4,
            )
        )
        await replaced.wait()
        release.touch()
        return await run

    result, col = asyncio.run(scenario())
    assert result.job("second").conclusion == "cancelled" and not result.job("second").started
    assert "##[error]Canceling since a higher priority waiting request for 'deploy' exists" in col.lines("second")
    assert result.job("first").conclusion == "success"
    assert result.job("third").conclusion == "success"
    assert col.output("third", 1) == ["third ran"]
    assert result.conclusion == "cancelled"  # a cancelled job and no failure


def test_with_queue_max_newer_jobs_wait_in_line_instead_of_replacing_each_other(engine):
    ws = engine.workspace
    release = ws / "release"
    queued = """
    concurrency:
      group: deploy
      queue: max"""

    async def scenario():
        col = engine.collector()
        both_wait = col.when(lambda e: isinstance(e, JobPending) and e.job.key == "third")
        run = asyncio.create_task(
            engine.arun(
                f"""
on: push
jobs:
  first:
    runs-on: x{queued}
    steps:
      - run: {_wait_for(release)}
  second:
    runs-on: x{queued}
    steps:
      - run: echo second ran
  third:
    runs-on: x{queued}
    steps:
      - run: echo third ran
""",
                collector=col,
                max_parallel_jobs=4,
            )
        )
        await both_wait.wait()
        release.touch()
        return await run

    result, col = asyncio.run(scenario())
    assert result.conclusion == "success", col.lines()
    assert [e.job.key for e in col.of(JobPending)] == ["second", "third"]
    order = _order(col)
    assert order.index(("JobFinished", "second")) < order.index(("JobGroupAcquired", "third"))


def test_a_full_queue_cancels_the_job_arriving_at_it():
    async def scenario() -> list[str]:
        groups = ConcurrencyGroups()
        messages: list[str] = []
        holder = groups.join("deploy", cancel_in_progress=False, label="holder", cancel_job=messages.append)
        waiting = [
            groups.join("deploy", cancel_in_progress=False, label=f"w{i}", cancel_job=messages.append, queue="max")
            for i in range(MAX_QUEUE)
        ]
        late = groups.join("DEPLOY", cancel_in_progress=False, label="late", cancel_job=messages.append, queue="max")
        assert holder.holding and not any(w.holding or w.cancelled for w in waiting)
        assert late.cancelled and not late.holding
        holder.leave()
        assert waiting[0].holding and groups.holding() == {"deploy": "w0"}
        return messages

    assert asyncio.run(scenario()) == ["Canceling since the queue of concurrency group 'DEPLOY' is full"]


def test_cancel_in_progress_cancels_the_running_job_whose_always_steps_still_run(engine):
    ws = engine.workspace
    started = ws / "started"
    result, col = engine.run(
        f"""
on: push
jobs:
  old:
    runs-on: x
    concurrency: production
    steps:
      - run: touch "{started}"; sleep 60
      - run: echo not reached
      - if: always()
        run: echo cleanup ran
  gate:
    runs-on: x
    steps:
      - run: {_wait_for(started)}
  new:
    needs: gate
    runs-on: x
    concurrency:
      group: PRODUCTION
      cancel-in-progress: true
    steps:
      - run: echo new deploy
""",
        max_parallel_jobs=4,
    )
    old = result.job("old")
    assert old.conclusion == "cancelled" and old.started
    assert [s.conclusion for s in old.steps] == ["cancelled", "skipped", "success"]
    assert col.output("old", 3) == ["cleanup ran"]
    assert "##[error]Canceling since a higher priority waiting request for 'production' exists" in col.lines("old")
    assert result.job("new").conclusion == "success"
    order = _order(col)
    assert order.index(("JobFinished", "old")) < order.index(("JobStarted", "new"))
    assert result.conclusion == "cancelled"


def test_groups_are_expressions_of_matrix_and_inputs_evaluated_per_instance(engine):
    result, col = engine.run(
        """
on: workflow_dispatch
jobs:
  deploy:
    runs-on: x
    strategy:
      matrix:
        region: [eu, us]
        shard: [1, 2]
    concurrency:
      group: ${{ inputs.app }}-${{ matrix.region }}
      cancel-in-progress: ${{ matrix.region == 'nowhere' }}
    steps:
      - run: echo ${{ matrix.region }} ${{ matrix.shard }}
""",
        event_name="workflow_dispatch",
        inputs={"app": "shop"},
        max_parallel_jobs=4,
    )
    assert result.conclusion == "success", col.lines()
    # Instances of one region wait for each other; the two regions do not.
    assert sorted((e.job.key, e.group) for e in col.of(JobPending)) == [
        ("deploy (eu, 2)", "shop-eu"),
        ("deploy (us, 2)", "shop-us"),
    ]
    order = _order(col)
    for region in ("eu", "us"):
        assert order.index(("JobFinished", f"deploy ({region}, 1)")) < order.index(("JobStarted", f"deploy ({region}, 2)"))


def test_a_group_that_fails_to_evaluate_fails_the_job_with_one_line_and_its_position(engine):
    result, col = engine.run(
        """
on: push
jobs:
  deploy:
    runs-on: x
    concurrency:
      group: ${{ fromJSON('{') }}
    steps:
      - run: echo never
  other:
    runs-on: x
    steps:
      - run: echo fine
"""
    )
    job = result.job("deploy")
    assert (job.conclusion, job.started, job.reason) == ("failure", False, "invalid concurrency")
    [error] = [line for line in col.lines("deploy") if line.startswith("##[error]")]
    assert error.startswith("##[error].github/workflows/test.yml:7:14: Error when evaluating 'concurrency': ")
    assert "\n" not in error
    assert result.job("other").conclusion == "success"
    assert result.conclusion == "failure"


def test_runs_sharing_a_registry_exclude_each_other_and_a_cancelled_run_gives_its_pending_place_up(engine):
    ws = engine.workspace
    release = ws / "release"
    holder = f"""
on: push
jobs:
  deploy:
    runs-on: x
    concurrency: production
    steps:
      - run: {_wait_for(release)}; echo first deploy
"""
    waiter = """
on: push
jobs:
  deploy:
    runs-on: x
    concurrency: production
    steps:
      - run: echo later deploy
"""

    async def scenario():
        groups = ConcurrencyGroups()
        first_col, second_col, third_col = engine.collector(), engine.collector(), engine.collector()
        first_started = first_col.when(lambda e: isinstance(e, StepStarted))
        second_pending = second_col.when(lambda e: isinstance(e, JobPending))
        third_pending = third_col.when(lambda e: isinstance(e, JobPending))
        first = asyncio.create_task(
            engine.arun(holder, collector=first_col, concurrency_groups=groups, run_id=1)
        )
        await first_started.wait()
        cancel_second = asyncio.Event()
        second = asyncio.create_task(
            engine.arun(waiter, collector=second_col, concurrency_groups=groups, run_id=2, cancel=cancel_second)
        )
        await second_pending.wait()
        cancel_second.set()  # cancelling a run gives its pending place up...
        second_result, _ = await second
        assert groups.holding() == {"production": "deploy in run 1"}
        third = asyncio.create_task(
            engine.arun(waiter, collector=third_col, concurrency_groups=groups, run_id=3)
        )
        await third_pending.wait()  # ...so the next one waits without replacing anybody
        release.touch()
        return await first, second_result, await third, groups

    (first, _), second, (third, third_col), groups = asyncio.run(scenario())
    assert first.conclusion == "success"
    assert second.conclusion == "cancelled" and not second.job("deploy").started
    assert third.conclusion == "success" and third_col.output("deploy", 1) == ["later deploy"]
    assert third_col.lines("deploy")[0] == (
        "Waiting for a running job of concurrency group 'production' (deploy in run 1)"
    )
    assert not any("Canceling" in line for line in third_col.lines())
    assert groups.holding() == {}


def test_a_job_cancelled_in_progress_while_its_gate_waits_ends_cancelled_and_the_gate_is_cancelled(engine):
    gate_cancelled: list[str] = []

    async def before_job(ref: Any, environment: Any) -> JobGate:
        if ref.key == "old":
            try:
                await asyncio.Event().wait()  # an approval nobody gives
            except asyncio.CancelledError:
                gate_cancelled.append(ref.key)
                raise
        return JobGate("approved")

    result, col = engine.run(
        """
on: push
jobs:
  old:
    runs-on: x
    concurrency: production
    steps:
      - run: echo never
  build:
    runs-on: x
    steps:
      - run: echo built
  new:
    needs: build
    runs-on: x
    concurrency: {group: production, cancel-in-progress: true}
    steps:
      - run: echo new deploy
""",
        before_job=before_job,
        max_parallel_jobs=4,
    )
    # The old job held the group while its gate waited; the new one waited for it to end.
    assert [e.job.key for e in col.of(JobPending)] == ["new"]
    assert gate_cancelled == ["old"]
    assert result.job("old").conclusion == "cancelled" and not result.job("old").started
    assert "##[error]Canceling since a higher priority waiting request for 'production' exists" in col.lines("old")
    assert result.job("new").conclusion == "success"
    assert col.output("new", 1) == ["new deploy"]


def test_a_called_workflow_job_in_its_callers_group_is_cancelled_as_a_deadlock(engine):
    callee = engine.workspace / ".github" / "workflows" / "deploy.yml"
    callee.parent.mkdir(parents=True)
    callee.write_text(
        """
on: workflow_call
jobs:
  apply:
    runs-on: x
    concurrency: production
    steps:
      - run: echo never
"""
    )
    result, col = engine.run(
        """
on: push
jobs:
  release:
    concurrency: Production
    uses: ./.github/workflows/deploy.yml
"""
    )
    job = result.job("release / apply")
    assert (job.conclusion, job.started) == ("cancelled", False)
    assert col.lines("release / apply") == [
        "##[error]Canceling since a deadlock for concurrency group 'production' was detected "
        "between 'release' and 'release / apply'"
    ]
    assert result.conclusion == "cancelled"
