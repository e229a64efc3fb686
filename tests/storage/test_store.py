"""Run history: numbering, the state machine, queries, crash recovery (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from pheme.core.runs import Conclusion, RunRecord, Status, TransitionError
from pheme.storage import NotFoundError, Store, open_store

CI = ".github/workflows/ci.yml"
DEPLOY = ".github/workflows/deploy.yml"
SHA = "a" * 40


def new_run(store: Store, file: str = CI, name: str = "CI", **kw: object) -> RunRecord:
    return store.create_run(name, file, "push", "refs/heads/main", SHA, **kw)  # type: ignore[arg-type]


def test_run_numbers_count_per_workflow_file(store: Store) -> None:
    numbers = [(r.file, r.number) for r in (new_run(store), new_run(store, DEPLOY, "Deploy"), new_run(store),
                                            new_run(store), new_run(store, DEPLOY, "Deploy"))]  # fmt: skip
    assert numbers == [(CI, 1), (DEPLOY, 1), (CI, 2), (CI, 3), (DEPLOY, 2)]


def test_run_numbers_are_unique_under_concurrent_creators(store: Store, db_url: str) -> None:
    # Two stores = two independent connection pools, as two processes would have.
    other = open_store(db_url)
    per_thread, threads = 15, 6
    results: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def create(s: Store) -> None:
        try:
            start.wait()
            got = [new_run(s).number for _ in range(per_thread)]
            with lock:
                results.extend(got)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=create, args=(store if i % 2 else other,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    other.close()
    assert not errors
    assert sorted(results) == list(range(1, per_thread * threads + 1))


def test_a_run_reads_back_with_jobs_and_steps(store: Store) -> None:
    created = datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    run = new_run(store, inputs={"level": "debug", "dry": True}, created_at=created)
    with store.batch():
        build = store.create_job(run.id, "build", "build (3.12, linux)", {"python": "3.12", "os": "linux"})
        lint = store.create_job(run.id, "lint", "Lint")
        store.create_step(build, 2, "Test", step_id="test")
        store.create_step(build, 1, "Checkout")
    got = store.get_run(run.id)
    assert got.number == 1 and got.workflow == "CI" and got.file == CI and got.sha == SHA
    assert got.inputs == {"level": "debug", "dry": True}
    assert got.created_at == created and got.created_at.tzinfo == UTC
    assert [j.id for j in got.jobs] == [build, lint]
    assert got.job("build").matrix == {"python": "3.12", "os": "linux"}
    assert got.job("Lint").matrix is None
    assert [(s.number, s.step_id, s.name) for s in got.job("build").steps] == [
        (1, None, "Checkout"),
        (2, "test", "Test"),
    ]
    assert all(j.status is Status.QUEUED and j.conclusion is None for j in got.jobs)


def test_lifecycle_sets_status_times_conclusions_and_outputs(store: Store) -> None:
    run = new_run(store)
    job = store.create_job(run.id, "build", "build")
    store.create_step(job, 1, "Compile", step_id="compile")
    store.create_step(job, 2, "Flaky", step_id="flaky")
    store.create_step(job, 3, "Only on tag")
    t0 = datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
    store.update_run(run.id, Status.IN_PROGRESS, at=t0)
    store.update_job(job, Status.IN_PROGRESS, at=t0 + timedelta(seconds=1))
    store.update_step(job, 1, Status.IN_PROGRESS, at=t0 + timedelta(seconds=2))
    store.update_step(job, 1, Status.COMPLETED, conclusion=Conclusion.SUCCESS, outputs={"artifact": "app.whl"},
                      at=t0 + timedelta(seconds=3))  # fmt: skip
    store.update_step(job, 2, Status.IN_PROGRESS)
    # continue-on-error: the step failed (outcome) but counts as success (conclusion)
    store.update_step(job, 2, Status.COMPLETED, outcome=Conclusion.FAILURE, conclusion=Conclusion.SUCCESS)
    store.update_step(job, 3, Status.COMPLETED, conclusion=Conclusion.SKIPPED)
    store.update_job(job, Status.COMPLETED, conclusion=Conclusion.SUCCESS, outputs={"wheel": "app.whl"},
                     at=t0 + timedelta(seconds=9))  # fmt: skip
    store.update_run(run.id, Status.COMPLETED, conclusion=Conclusion.SUCCESS, at=t0 + timedelta(seconds=10))

    got = store.get_run(run.id)
    assert (got.status, got.conclusion) == (Status.COMPLETED, Conclusion.SUCCESS)
    assert (got.started_at, got.finished_at) == (t0, t0 + timedelta(seconds=10))
    j = got.jobs[0]
    assert (j.status, j.conclusion, dict(j.outputs)) == (Status.COMPLETED, Conclusion.SUCCESS, {"wheel": "app.whl"})
    assert j.finished_at == t0 + timedelta(seconds=9)
    s1, s2, s3 = j.steps
    assert (s1.outcome, s1.conclusion, dict(s1.outputs)) == (Conclusion.SUCCESS, Conclusion.SUCCESS,
                                                             {"artifact": "app.whl"})  # fmt: skip
    assert (s1.started_at, s1.finished_at) == (t0 + timedelta(seconds=2), t0 + timedelta(seconds=3))
    assert (s2.outcome, s2.conclusion) == (Conclusion.FAILURE, Conclusion.SUCCESS)
    assert (s3.status, s3.conclusion, s3.started_at) == (Status.COMPLETED, Conclusion.SKIPPED, None)
    assert s3.finished_at is not None and s3.finished_at.tzinfo == UTC


def test_waiting_and_resuming_keeps_the_first_start_time(store: Store) -> None:
    run = new_run(store)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    store.update_run(run.id, Status.IN_PROGRESS, at=t0)
    store.update_run(run.id, Status.WAITING, at=t0 + timedelta(minutes=1))  # e.g. environment approval
    store.update_run(run.id, Status.IN_PROGRESS, at=t0 + timedelta(minutes=5))
    got = store.get_run(run.id)
    assert got.status is Status.IN_PROGRESS and got.started_at == t0


@pytest.mark.parametrize("target", [Status.IN_PROGRESS, Status.QUEUED, Status.WAITING])
def test_completed_is_final_and_illegal_changes_leave_the_row_alone(store: Store, target: Status) -> None:
    run = new_run(store)
    job = store.create_job(run.id, "build", "build")
    store.create_step(job, 1, "s")
    store.update_run(run.id, Status.COMPLETED, conclusion=Conclusion.CANCELLED)
    store.update_job(job, Status.COMPLETED, conclusion=Conclusion.CANCELLED)
    store.update_step(job, 1, Status.COMPLETED, conclusion=Conclusion.CANCELLED)
    with pytest.raises(TransitionError, match=f"run {run.id}: illegal status change completed -> {target}"):
        store.update_run(run.id, target)
    with pytest.raises(TransitionError, match=f"job {job}: illegal status change"):
        store.update_job(job, target)
    with pytest.raises(TransitionError, match="step 1 of job"):
        store.update_step(job, 1, target)
    got = store.get_run(run.id)
    assert (got.status, got.conclusion) == (Status.COMPLETED, Conclusion.CANCELLED)
    assert got.jobs[0].status is Status.COMPLETED and got.jobs[0].steps[0].status is Status.COMPLETED


def test_in_progress_cannot_go_back_to_queued(store: Store) -> None:
    run = new_run(store)
    store.update_run(run.id, Status.IN_PROGRESS)
    with pytest.raises(TransitionError, match="in_progress -> queued"):
        store.update_run(run.id, Status.QUEUED)
    with pytest.raises(TransitionError, match="in_progress -> in_progress"):
        store.update_run(run.id, Status.IN_PROGRESS)


def test_conclusion_only_with_completion(store: Store) -> None:
    run = new_run(store)
    with pytest.raises(TransitionError, match="completed needs a conclusion"):
        store.update_run(run.id, Status.COMPLETED)
    with pytest.raises(TransitionError, match="only valid once completed"):
        store.update_run(run.id, Status.IN_PROGRESS, conclusion=Conclusion.SUCCESS)
    assert store.get_run(run.id).status is Status.QUEUED


def test_unknown_ids_are_not_found(store: Store) -> None:
    run = new_run(store)
    with pytest.raises(NotFoundError, match="run 999 not found"):
        store.get_run(999)
    with pytest.raises(NotFoundError, match="run 999 not found"):
        store.update_run(999, Status.IN_PROGRESS)
    with pytest.raises(NotFoundError, match="job 999 not found"):
        store.update_job(999, Status.IN_PROGRESS)
    job = store.create_job(run.id, "b", "b")
    with pytest.raises(NotFoundError, match="step 7 of job"):
        store.update_step(job, 7, Status.IN_PROGRESS)


def test_naive_datetimes_are_refused(store: Store) -> None:
    run = new_run(store)
    with pytest.raises(ValueError, match="naive datetime"):
        store.update_run(run.id, Status.IN_PROGRESS, at=datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="naive datetime"):
        new_run(store, created_at=datetime(2024, 1, 1))


def test_list_runs_newest_first_filtered_and_paged(store: Store) -> None:
    a1, d1, a2, a3 = new_run(store), new_run(store, DEPLOY, "Deploy"), new_run(store), new_run(store)
    store.create_job(a3.id, "build", "build")
    assert [r.id for r in store.list_runs()] == [a3.id, a2.id, d1.id, a1.id]
    for spec in (CI, "ci.yml", "CI"):
        assert [r.id for r in store.list_runs(spec)] == [a3.id, a2.id, a1.id]
    assert [r.id for r in store.list_runs("Deploy")] == [d1.id]
    assert store.list_runs("i.yml") == []
    page1 = store.list_runs(limit=2)
    page2 = store.list_runs(limit=2, before_id=page1[-1].id)
    assert [r.id for r in page1 + page2] == [a3.id, a2.id, d1.id, a1.id]
    assert store.list_runs(limit=1)[0].jobs == ()
    assert [j.name for j in store.list_runs(limit=1, with_jobs=True)[0].jobs] == ["build"]


def test_list_runs_filters_by_status_conclusion_event_and_ref_and_they_combine(store: Store) -> None:
    ok = new_run(store)
    store.update_run(ok.id, Status.COMPLETED, conclusion=Conclusion.SUCCESS)
    bad = store.create_run("CI", CI, "pull_request", "refs/heads/dev", SHA)
    store.update_run(bad.id, Status.COMPLETED, conclusion=Conclusion.FAILURE)
    running = store.create_run("Deploy", DEPLOY, "workflow_dispatch", "refs/heads/dev", SHA)
    store.update_run(running.id, Status.IN_PROGRESS)
    queued = store.create_run("CI", CI, "push", "refs/heads/dev", SHA)
    tagged = store.create_run("CI", CI, "push", "refs/tags/v1", SHA)

    def ids(**filters: object) -> list[int]:
        return [r.id for r in store.list_runs(**filters)]  # type: ignore[arg-type]

    assert ids(status=Status.COMPLETED) == [bad.id, ok.id]
    assert ids(status=Status.IN_PROGRESS) == [running.id]
    assert ids(status=Status.QUEUED) == [tagged.id, queued.id]
    assert ids(status=Status.WAITING) == []
    assert ids(conclusion=Conclusion.FAILURE) == [bad.id]
    assert ids(event="push") == [tagged.id, queued.id, ok.id]
    assert ids(ref="refs/heads/dev") == [queued.id, running.id, bad.id]
    assert ids(ref="refs/tags/v1") == [tagged.id]
    # Combined with each other, the workflow and the limit (newest first, then cut).
    assert ids(ref="refs/heads/dev", event="push") == [queued.id]
    assert ids(workflow="ci.yml", ref="refs/heads/dev") == [queued.id, bad.id]
    assert ids(workflow="ci.yml", ref="refs/heads/dev", limit=1) == [queued.id]
    assert ids(workflow="Deploy", status=Status.COMPLETED) == []
    assert ids(status=Status.COMPLETED, conclusion=Conclusion.SUCCESS, event="push", ref="refs/heads/main") == [ok.id]
    assert ids(event="schedule") == []
    page1 = ids(ref="refs/heads/dev", limit=2)
    assert page1 + ids(ref="refs/heads/dev", limit=2, before_id=page1[-1]) == [queued.id, running.id, bad.id]


def test_fail_incomplete_runs_after_a_restart(store: Store) -> None:
    done = new_run(store)
    store.update_run(done.id, Status.COMPLETED, conclusion=Conclusion.SUCCESS)
    running = new_run(store)
    queued = new_run(store, DEPLOY, "Deploy")
    started_job = store.create_job(running.id, "build", "build")
    waiting_job = store.create_job(running.id, "deploy", "deploy")
    finished_job = store.create_job(running.id, "lint", "lint")
    store.create_step(started_job, 1, "ran")
    store.create_step(started_job, 2, "running")
    store.create_step(started_job, 3, "not yet")
    store.update_run(running.id, Status.IN_PROGRESS)
    store.update_job(started_job, Status.IN_PROGRESS)
    store.update_job(waiting_job, Status.WAITING)
    store.update_job(finished_job, Status.COMPLETED, conclusion=Conclusion.SUCCESS)
    store.update_step(started_job, 1, Status.COMPLETED, conclusion=Conclusion.SUCCESS)
    store.update_step(started_job, 2, Status.IN_PROGRESS)

    ended = store.fail_incomplete_runs("the Pheme server restarted")

    assert ended == [running.id, queued.id]
    assert store.fail_incomplete_runs("again") == []
    assert store.get_run(done.id).conclusion is Conclusion.SUCCESS and store.get_run(done.id).error is None
    for rid in ended:
        got = store.get_run(rid)
        assert (got.status, got.conclusion, got.error) == (
            Status.COMPLETED, Conclusion.FAILURE, "the Pheme server restarted")  # fmt: skip
        assert got.finished_at is not None
    jobs = {j.key: j for j in store.get_run(running.id).jobs}
    assert jobs["build"].conclusion is Conclusion.FAILURE
    assert jobs["deploy"].conclusion is Conclusion.CANCELLED
    assert jobs["lint"].conclusion is Conclusion.SUCCESS
    assert [s.conclusion for s in jobs["build"].steps] == [
        Conclusion.SUCCESS, Conclusion.FAILURE, Conclusion.CANCELLED]  # fmt: skip


def test_batch_commits_all_or_nothing(store: Store) -> None:
    run = new_run(store)
    with pytest.raises(RuntimeError), store.batch():
        store.create_job(run.id, "a", "a")
        store.update_run(run.id, Status.IN_PROGRESS)
        raise RuntimeError("planning failed half-way")
    got = store.get_run(run.id)
    assert got.jobs == () and got.status is Status.QUEUED
    with store.batch():
        store.create_job(run.id, "a", "a")
        with store.batch():  # nested joins the outer one
            store.update_run(run.id, Status.IN_PROGRESS)
        assert store.get_run(run.id).status is Status.IN_PROGRESS  # reads inside see the batch
    assert len(store.get_run(run.id).jobs) == 1


def test_a_big_run_and_all_its_updates_are_cheap(store: Store) -> None:
    """40 jobs x 5 steps, every status change: what one busy run costs the store."""
    t = time.perf_counter()
    run = new_run(store)
    with store.batch():
        job_ids = [store.create_job(run.id, "build", f"build ({i})", {"i": i}) for i in range(40)]
        for job in job_ids:
            for n in range(1, 6):
                store.create_step(job, n, f"step {n}")
    created = time.perf_counter() - t
    store.update_run(run.id, Status.IN_PROGRESS)
    for job in job_ids:  # one transaction per change, as the runner does while jobs run
        store.update_job(job, Status.IN_PROGRESS)
        for n in range(1, 6):
            store.update_step(job, n, Status.IN_PROGRESS)
            store.update_step(job, n, Status.COMPLETED, conclusion=Conclusion.SUCCESS, outputs={"n": str(n)})
        store.update_job(job, Status.COMPLETED, conclusion=Conclusion.SUCCESS)
    store.update_run(run.id, Status.COMPLETED, conclusion=Conclusion.SUCCESS)
    total = time.perf_counter() - t
    got = store.get_run(run.id)
    print(f"\n[{store.backend}] create 40x5: {created * 1000:.1f} ms; create + 482 updates: {total * 1000:.0f} ms")
    assert len(got.jobs) == 40 and all(len(j.steps) == 5 for j in got.jobs)
    assert all(s.conclusion is Conclusion.SUCCESS for j in got.jobs for s in j.steps)
    assert total < 20, "a 40-job run should cost well under a second; 20 s allows a very slow CI disk"
