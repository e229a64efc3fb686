"""The store recorder: events in, run history and chunked logs out, off the event-loop thread."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pheme.core.runs import Conclusion, Status
from pheme.execution.events import (
    JobFinished,
    JobRef,
    JobStarted,
    LogBlock,
    LogLines,
    RunFinished,
    RunStarted,
    StepFinished,
    StepRef,
    StepStarted,
)
from pheme.services.recorder import StoreRecorder
from pheme.storage import open_store

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
BUILD = JobRef("build", "build", "build")
TEST_A = JobRef("test (a)", "test", "test (a)", {"os": "a"})
DEPLOY = JobRef("deploy", "deploy", "Deploy")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_whole_run_is_recorded_with_times_outputs_and_logs() -> None:
    with open_store() as store:
        run = store.create_run("CI", ".github/workflows/ci.yml", "push", "refs/heads/main", "a" * 40)
        one, two = StepRef(1, "compile", "Compile"), StepRef(2, None, "Never")
        with StoreRecorder(store, run.id) as rec:
            rec(RunStarted("CI", ".github/workflows/ci.yml", at(0)))
            rec(JobStarted(BUILD, at(1)))
            rec(StepStarted(BUILD, one, at(1)))
            rec(LogLines(BUILD, [f"line {i}" for i in range(10_000)], one))
            rec(StepFinished(BUILD, one, "failure", "success", {"out": "1"}, at(3)))
            rec(StepFinished(BUILD, two, "skipped", "skipped", {}, at(3)))
            rec(JobFinished(BUILD, "success", {"artifact": "x.tgz"}, at(4)))
            rec(JobStarted(TEST_A, at(4)))
            rec(LogLines(TEST_A, ["matrix a"]))
            rec(JobFinished(TEST_A, "failure", {}, at(5)))
            rec(JobFinished(DEPLOY, "skipped", {}, at(5), started=False, reason="needs failed"))
            rec(RunFinished("failure", at(6)))
        stored = store.get_run(run.id)
        assert (stored.status, stored.conclusion) == (Status.COMPLETED, Conclusion.FAILURE)
        assert (stored.started_at, stored.finished_at) == (at(0), at(6))
        build, test_a, deploy = stored.jobs
        assert (build.key, build.name, build.outputs, build.started_at, build.finished_at) == (
            "build", "build", {"artifact": "x.tgz"}, at(1), at(4))
        assert [(s.number, s.step_id, s.outcome, s.conclusion, dict(s.outputs)) for s in build.steps] == [
            (1, "compile", Conclusion.FAILURE, Conclusion.SUCCESS, {"out": "1"}),
            (2, None, Conclusion.SKIPPED, Conclusion.SKIPPED, {}),
        ]
        assert (test_a.key, test_a.name, dict(test_a.matrix or {})) == ("test", "test (a)", {"os": "a"})
        assert (deploy.conclusion, deploy.steps, deploy.started_at) == (Conclusion.SKIPPED, (), None)
        assert build.log_lines == 10_000
        assert store.tail_log(run.id, "build", 2) == ["line 9998", "line 9999"]
        assert list(store.read_log(run.id, "test (a)")) == ["matrix a"]


def test_a_slow_store_applies_backpressure_instead_of_buffering_everything() -> None:
    with open_store() as store:
        run = store.create_run("CI", "ci.yml", "push", "refs/heads/main", "a" * 40)
        gate = threading.Event()
        real_writer = store.log_writer

        def slow_writer(job_id: int, **kw: Any) -> Any:
            gate.wait(10)
            return real_writer(job_id, **kw)

        store.log_writer = slow_writer  # type: ignore[method-assign]
        rec = StoreRecorder(store, run.id, max_pending=4)
        rec.start()
        produced = 0

        def produce() -> None:
            nonlocal produced
            for i in range(50):
                rec(LogLines(BUILD, [f"l{i}"]))
                produced += 1

        producer = threading.Thread(target=produce)
        producer.start()
        producer.join(0.5)
        assert producer.is_alive()  # blocked: the queue is bounded
        assert produced <= 4 + 1 + 512  # never more than the queue plus one batch in hand
        gate.set()
        producer.join(10)
        rec.close()
        assert store.log_line_count(run.id, "build") == 50


def test_a_recording_failure_never_stops_the_run_and_is_reported_at_close() -> None:
    with open_store() as store:
        rec = StoreRecorder(store, 999_999)  # no such run: the first update fails
        rec.start()
        rec(RunStarted("CI", "ci.yml", at(0)))
        for i in range(2000):  # keeps accepting (and dropping) events
            rec(LogLines(BUILD, [str(i)]))
        with pytest.raises(Exception, match="999999"):
            rec.close()


def test_log_text_comes_back_exactly_as_sent() -> None:
    lines = [("x" * (i % 700)) + f" line {i} ünïcode" for i in range(30_000)] + ["", "  indented", "tab\there"]
    with open_store() as store:
        run = store.create_run("CI", "ci.yml", "push", "refs/heads/main", "a" * 40)
        with StoreRecorder(store, run.id) as rec:
            for start in range(0, len(lines), 977):
                rec(LogLines(BUILD, lines[start : start + 977]))
            rec(JobFinished(BUILD, "success", {}, at(1)))
        assert list(store.read_log(run.id, "build")) == lines


def test_output_blocks_are_stored_as_their_lines_and_steps_in_one_batch_are_complete() -> None:
    with open_store() as store:
        run = store.create_run("CI", ".github/workflows/ci.yml", "push", "refs/heads/main", "a" * 40)
        one, two = StepRef(1, "a", "A"), StepRef(2, None, "B")
        with StoreRecorder(store, run.id) as rec:
            rec(RunStarted("CI", ".github/workflows/ci.yml", at(0)))
            rec(JobStarted(BUILD, at(1)))
            rec(StepStarted(BUILD, one, at(1)))
            rec(LogLines(BUILD, LogBlock("first\n\nthird"), one))
            rec(StepFinished(BUILD, one, "success", "success", {"k": "v"}, at(2)))
            rec(StepStarted(BUILD, two, at(2)))
            rec(LogLines(BUILD, ["plain list"], two))
            rec(StepFinished(BUILD, two, "failure", "success", {}, at(3)))
            rec(JobFinished(BUILD, "success", {}, at(4)))
            rec(RunFinished("success", at(5)))
        (build,) = store.get_run(run.id).jobs
        assert [(s.number, s.step_id, s.name, s.status, s.outcome, s.conclusion, s.outputs, s.started_at,
                 s.finished_at) for s in build.steps] == [
            (1, "a", "A", Status.COMPLETED, Conclusion.SUCCESS, Conclusion.SUCCESS, {"k": "v"}, at(1), at(2)),
            (2, None, "B", Status.COMPLETED, Conclusion.FAILURE, Conclusion.SUCCESS, {}, at(2), at(3)),
        ]  # fmt: skip
        assert list(store.read_log(run.id, "build")) == ["first", "", "third", "plain list"]


def test_a_step_seen_across_batches_is_still_updated() -> None:
    with open_store() as store:
        run = store.create_run("CI", ".github/workflows/ci.yml", "push", "refs/heads/main", "a" * 40)
        one = StepRef(1, None, "Long")
        rec = StoreRecorder(store, run.id)
        rec.start()
        rec(RunStarted("CI", ".github/workflows/ci.yml", at(0)))
        rec(JobStarted(BUILD, at(1)))
        rec(StepStarted(BUILD, one, at(1)))
        deadline = time.monotonic() + 10
        while not store.get_run(run.id).jobs or not store.get_run(run.id).jobs[0].steps:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        (step,) = store.get_run(run.id).jobs[0].steps
        assert (step.status, step.started_at) == (Status.IN_PROGRESS, at(1))
        rec(StepFinished(BUILD, one, "success", "success", {}, at(2)))
        rec(JobFinished(BUILD, "success", {}, at(3)))
        rec(RunFinished("success", at(4)))
        rec.close()
        (step,) = store.get_run(run.id).jobs[0].steps
        assert (step.status, step.conclusion, step.started_at, step.finished_at) == (
            Status.COMPLETED, Conclusion.SUCCESS, at(1), at(2))  # fmt: skip


def test_log_text_waiting_for_the_store_is_bounded_by_its_size() -> None:
    """One block may carry a MiB of output: the bound is on characters, not on events."""
    with open_store() as store:
        run = store.create_run("CI", "ci.yml", "push", "refs/heads/main", "a" * 40)
        gate = threading.Event()
        real_writer = store.log_writer

        def slow_writer(job_id: int, **kw: Any) -> Any:
            gate.wait(10)
            return real_writer(job_id, **kw)

        store.log_writer = slow_writer  # type: ignore[method-assign]
        rec = StoreRecorder(store, run.id, max_pending_chars=1_000_000)
        rec.start()
        block = LogBlock("\n".join("y" * 99 for _ in range(3_000)))  # 300 KB
        produced = 0

        def produce() -> None:
            nonlocal produced
            for _ in range(20):
                rec(LogLines(BUILD, block))
                produced += 1

        producer = threading.Thread(target=produce)
        producer.start()
        producer.join(0.5)
        assert producer.is_alive()  # blocked although the event queue has room
        assert produced <= 5  # ~1 MB in the queue and one block in the writer's hands
        gate.set()
        producer.join(10)
        rec.close()
        assert store.log_line_count(run.id, "build") == 60_000
