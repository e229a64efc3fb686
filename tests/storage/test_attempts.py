"""Run attempts (a re-run keeps the run and starts its next attempt), on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

import pytest

from pheme.core.runs import Conclusion, RunRecord, Status, StepRecord
from pheme.errors import UsageError
from pheme.storage import NotFoundError, Store

CI = ".github/workflows/ci.yml"


def _finished_run(store: Store) -> tuple[RunRecord, int, int]:
    """A failed run: build succeeded (outputs, a step, a log), test failed (a log)."""
    run = store.create_run("CI", CI, "push", "refs/heads/main", "a" * 40)
    store.update_run(run.id, Status.IN_PROGRESS)
    build = store.create_job(run.id, "build", "build")
    store.add_steps(build, [StepRecord(number=1, name="Compile", step_id="cc", status=Status.COMPLETED,
                                       conclusion=Conclusion.SUCCESS, outputs={"bin": "app"})])  # fmt: skip
    store.append_log(build, ["compiling", "built"])
    store.update_job(build, Status.IN_PROGRESS)
    store.update_job(build, Status.COMPLETED, conclusion=Conclusion.SUCCESS, outputs={"version": "1.2"})
    test = store.create_job(run.id, "test", "test")
    store.append_log(test, ["attempt 1 failed"])
    store.update_job(test, Status.IN_PROGRESS)
    store.update_job(test, Status.COMPLETED, conclusion=Conclusion.FAILURE)
    store.update_run(run.id, Status.COMPLETED, conclusion=Conclusion.FAILURE, error="it broke")
    return run, build, test


def test_a_new_attempt_keeps_the_run_and_the_earlier_attempt_reads_as_it_ended(store: Store) -> None:
    run, build, test = _finished_run(store)
    second = store.new_attempt(run.id, reuse=[build], actor="bob")
    assert (second.id, second.number, second.attempt) == (run.id, run.number, 2)
    assert (second.status, second.conclusion, second.error, second.started_at) == (Status.QUEUED, None, None, None)
    [carried] = second.jobs
    assert (carried.key, carried.attempt, carried.reused_from, carried.conclusion) == ("build", 2, build, Conclusion.SUCCESS)
    assert carried.id != build and carried.outputs == {"version": "1.2"}
    assert [(s.step_id, s.outputs) for s in carried.steps] == [("cc", {"bin": "app"})]

    first = store.get_attempt(run.id, 1)
    assert (first.attempt, first.status, first.conclusion, first.error) == (1, Status.COMPLETED, Conclusion.FAILURE, "it broke")
    assert [(j.id, j.key, j.reused) for j in first.jobs] == [(build, "build", False), (test, "test", False)]
    assert [(a.attempt, a.status) for a in store.attempts(run.id)] == [(1, Status.COMPLETED), (2, Status.QUEUED)]
    assert store.attempt_actors(run.id) == {1: "bob"}
    with pytest.raises(NotFoundError, match="has no attempt 3"):
        store.get_attempt(run.id, 3)

    # The new attempt runs: its jobs are recorded under attempt 2; attempt 1 does not change.
    store.update_run(run.id, Status.IN_PROGRESS)
    retest = store.create_job(run.id, "test", "test")
    store.append_log(retest, ["attempt 2 passed"])
    store.update_job(retest, Status.COMPLETED, conclusion=Conclusion.SUCCESS)
    store.update_run(run.id, Status.COMPLETED, conclusion=Conclusion.SUCCESS)
    latest = store.get_run(run.id)
    assert [(j.key, j.attempt, j.reused) for j in latest.jobs] == [("build", 2, True), ("test", 2, False)]
    assert store.get_attempt(run.id, 1) == first
    assert store.list_runs(with_jobs=True)[0].jobs == tuple(dataclasses.replace(j, steps=()) for j in latest.jobs)


def test_logs_follow_the_latest_attempt_by_name_and_every_attempt_by_id(store: Store) -> None:
    run, build, test = _finished_run(store)
    second = store.new_attempt(run.id, reuse=[build])
    retest = store.create_job(run.id, "test", "test")
    store.append_log(retest, ["attempt 2 passed"])
    carried = second.jobs[0].id
    # A carried-over job has no log of its own: it reads the one of the job that ran.
    assert list(store.read_log(run.id, "build")) == ["compiling", "built"]
    assert list(store.read_log(run.id, carried)) == list(store.read_log(run.id, build))
    assert store.tail_log(run.id, carried, 1) == ["built"]
    assert list(store.read_log(run.id, "test")) == ["attempt 2 passed"]
    assert list(store.read_log(run.id, test)) == ["attempt 1 failed"]  # an earlier attempt's job id stays valid
    assert list(store.read_log(run.id)) == ["build\tcompiling", "build\tbuilt", "test\tattempt 2 passed"]
    store.update_job(retest, Status.COMPLETED, conclusion=Conclusion.SUCCESS)
    store.update_run(run.id, Status.COMPLETED, conclusion=Conclusion.SUCCESS)
    assert list(store.follow_log(run.id, None, poll_interval=0.01)) == list(store.read_log(run.id))


def test_a_third_attempt_carries_over_from_the_job_that_ran(store: Store) -> None:
    run, build, _ = _finished_run(store)
    second = store.new_attempt(run.id, reuse=[build])
    store.update_run(run.id, Status.COMPLETED, conclusion=Conclusion.FAILURE)
    third = store.new_attempt(run.id, reuse=[second.jobs[0].id])
    assert third.attempt == 3 and third.jobs[0].reused_from == build
    assert list(store.read_log(run.id, third.jobs[0].id)) == ["compiling", "built"]


def test_only_a_completed_run_gets_a_new_attempt(store: Store) -> None:
    run = store.create_run("CI", CI, "push", "refs/heads/main", "a" * 40)
    with pytest.raises(UsageError, match=f"run {run.id} is still queued: cancel it or wait for it to finish"):
        store.new_attempt(run.id)
    store.update_run(run.id, Status.IN_PROGRESS)
    with pytest.raises(UsageError, match="still in_progress"):
        store.new_attempt(run.id)
    assert store.get_run(run.id).attempt == 1 and store.attempts(run.id)[0].status == Status.IN_PROGRESS
    with pytest.raises(NotFoundError):
        store.new_attempt(run.id + 1000)


def test_only_completed_jobs_of_the_finished_attempt_are_carried_over(store: Store) -> None:
    run, build, _ = _finished_run(store)
    other, other_build, _ = _finished_run(store)
    with pytest.raises(UsageError, match=f"job {other_build} is not a completed job of run {run.id}"):
        store.new_attempt(run.id, reuse=[build, other_build])
    # Nothing happened: the refusal rolled the whole attempt back.
    assert store.get_run(run.id).attempt == 1 and store.attempt_actors(run.id) == {}
    assert store.get_run(other.id).attempt == 1
