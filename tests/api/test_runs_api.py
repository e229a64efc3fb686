"""Runs through the API with the executor running: listing, detail, logs, SSE, cancel, re-run, dispatch."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

FAILING = """name: Flaky
on: [push]
jobs:
  good:
    runs-on: ubuntu-latest
    steps:
      - run: echo fine
  bad:
    runs-on: ubuntu-latest
    steps:
      - run: test -f fixed.txt
"""

SLOW = """name: Slow
on: [push]
jobs:
  wait:
    runs-on: ubuntu-latest
    steps:
      - run: echo started; sleep 60
      - if: always()
        run: echo cleanup ran
"""

DISPATCH = """name: Deploy
on:
  workflow_dispatch:
    inputs:
      level:
        type: number
        required: true
jobs:
  go:
    runs-on: ubuntu-latest
    steps:
      - run: echo level ${{ inputs.level }} by ${{ github.actor }}
"""


def _log(pipe: Any, run: dict[str, Any], job: str) -> list[str]:
    job_id = next(j["job_id"] for j in run["jobs"] if j["id"] == job)
    return list(pipe.api.get(f"/api/v1/runs/{run['id']}/jobs/{job_id}/logs").json()["lines"])


def test_a_pushed_run_executes_and_reads_like_pheme_run_json(pipeline_factory: Any, h: Any) -> None:
    pipe = pipeline_factory({".github/workflows/ci.yml": h.CI})
    [run_id] = pipe.push()
    [run] = pipe.wait_done(run_id)
    assert {"id", "number", "workflow", "file", "event", "ref", "sha", "conclusion", "started_at", "finished_at",
            "jobs", "status"} <= set(run)  # fmt: skip
    assert (run["status"], run["conclusion"], run["workflow"], run["repo"]) == ("completed", "success", "CI", "acme/proj")
    assert [j["id"] for j in run["jobs"]] == ["build", "test"]
    assert f"building {pipe.head}" in _log(pipe, run, "build")
    listed = pipe.api.get("/api/v1/runs", role="viewer").json()
    assert listed["next"] is None
    assert listed["runs"][0] == run


def test_logs_come_as_ranges_and_as_a_live_sse_tail(pipeline_factory: Any, h: Any) -> None:
    pipe = pipeline_factory({".github/workflows/ci.yml": h.CI})
    [run] = pipe.wait_done(*pipe.push())
    job_id = run["jobs"][0]["job_id"]
    whole = pipe.api.get(f"/api/v1/runs/{run['id']}/jobs/{job_id}/logs").json()
    part = pipe.api.get(f"/api/v1/runs/{run['id']}/jobs/{job_id}/logs?start=1&end=3").json()
    assert part["lines"] == whole["lines"][1:3] and part["next"] == 3 and part["total"] == len(whole["lines"])
    with pipe.api.client.stream(
        "GET", f"/api/v1/runs/{run['id']}/jobs/{job_id}/logs?follow=true", headers=pipe.api.headers("viewer")
    ) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        text = "".join(stream.iter_text())
    events = [block for block in text.split("\n\n") if block.startswith("event:")]
    lines = [json.loads(e.split("data: ", 1)[1])["text"] for e in events if e.startswith("event: line")]
    assert lines == whole["lines"]
    assert json.loads(events[-1].split("data: ", 1)[1]) == {"status": "completed", "conclusion": "success"}


def test_runs_filter_and_page_with_a_cursor(pipeline_factory: Any, h: Any) -> None:
    pipe = pipeline_factory({".github/workflows/ci.yml": h.CI, ".github/workflows/flaky.yml": FAILING})
    ids = [r for i in range(3) for r in pipe.push({f"f{i}.txt": str(i)})]
    pipe.wait_done(*ids)
    seen: list[int] = []
    cursor = None
    while True:
        page = pipe.api.get("/api/v1/runs?limit=2" + (f"&cursor={cursor}" if cursor else "")).json()
        seen += [r["id"] for r in page["runs"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
    failed = pipe.api.get("/api/v1/runs?conclusion=failure").json()["runs"]
    assert {r["workflow"] for r in failed} == {"Flaky"} and len(failed) == 3
    assert len(pipe.api.get("/api/v1/runs?workflow=ci.yml&repo=acme/proj&branch=main").json()["runs"]) == 3
    assert pipe.api.get("/api/v1/runs?branch=other").json()["runs"] == []
    assert pipe.api.get("/api/v1/runs?cursor=%%%").status_code == 400
    assert pipe.api.get("/api/v1/runs?status=bogus").status_code == 422


def test_cancelling_a_running_run_stops_it_and_always_steps_still_run(pipeline_factory: Any) -> None:
    pipe = pipeline_factory({".github/workflows/slow.yml": SLOW})
    [run_id] = pipe.push()
    store = pipe.server.store
    pipe.wait(lambda: any("started" in line for line in _lines(store, run_id)))
    response = pipe.api.post(f"/api/v1/runs/{run_id}/cancel", role="developer")
    assert response.status_code == 202
    [run] = pipe.wait_done(run_id, timeout=30)
    assert run["conclusion"] == "cancelled"
    assert "cleanup ran" in _log(pipe, run, "wait")
    assert pipe.api.post(f"/api/v1/runs/{run_id}/cancel").status_code == 409
    audit = pipe.api.get("/api/v1/audit?action=run.cancel").json()["entries"]
    assert audit[0]["actor"] == "developer-user"


def _lines(store: Any, run_id: int) -> list[str]:
    run = store.get_run(run_id)
    return [line for job in run.jobs for line in store.read_log(run_id, job.id)]


RETRY = """name: Retry
on: [push]
jobs:
  prep:
    runs-on: ubuntu-latest
    outputs:
      token: ${{ steps.make.outputs.token }}
    steps:
      - id: make
        run: echo "token=made-in-attempt-$GITHUB_RUN_ATTEMPT" >> "$GITHUB_OUTPUT"
  check:
    needs: prep
    runs-on: ubuntu-latest
    strategy:
      fail-fast: false
      matrix:
        part: [a, b]
    steps:
      - run: echo "check ${{ matrix.part }} in attempt $GITHUB_RUN_ATTEMPT of run $GITHUB_RUN_ID number $GITHUB_RUN_NUMBER"
      - run: test "${{ matrix.part }}" = a || test "$GITHUB_RUN_ATTEMPT" -ge 2
  report:
    needs: [prep, check]
    runs-on: ubuntu-latest
    steps:
      - run: echo "report got ${{ needs.prep.outputs.token }}, check ${{ needs.check.result }}, attempt ${{ github.run_attempt }}"
"""


def _jobs(run: dict[str, Any]) -> dict[str, tuple[str | None, bool]]:
    return {j["name"]: (j["conclusion"], j["reused"]) for j in run["jobs"]}


def test_rerun_failed_jobs_is_the_next_attempt_and_carries_the_rest_over(pipeline_factory: Any) -> None:
    pipe = pipeline_factory({".github/workflows/retry.yml": RETRY})
    [first] = pipe.wait_done(*pipe.push())
    run_id = first["id"]
    assert (first["conclusion"], first["run_attempt"]) == ("failure", 1)
    assert _jobs(first) == {"prep": ("success", False), "check (a)": ("success", False),
                            "check (b)": ("failure", False), "report": ("skipped", False)}  # fmt: skip

    response = pipe.api.post(f"/api/v1/runs/{run_id}/rerun", role="developer", json={"failed_only": True})
    assert response.status_code == 201, response.text
    queued = response.json()
    assert (queued["id"], queued["number"], queued["run_attempt"], queued["status"]) == (run_id, first["number"], 2, "queued")
    [second] = pipe.wait_done(run_id)
    assert (second["id"], second["number"], second["run_attempt"], second["conclusion"]) == (run_id, first["number"], 2, "success")
    # Failed combination and its dependent ran again; the rest was carried over, not executed.
    assert _jobs(second) == {"prep": ("success", True), "check (a)": ("success", True),
                             "check (b)": ("success", False), "report": ("success", False)}  # fmt: skip
    # GITHUB_RUN_ATTEMPT counts up; GITHUB_RUN_ID and GITHUB_RUN_NUMBER stay.
    assert any(f"check b in attempt 2 of run {run_id} number {first['number']}" in line for line in _log_of(pipe, second, "check (b)"))
    assert any("report got made-in-attempt-1, check success, attempt 2" in line for line in _log_of(pipe, second, "report"))
    assert [r["id"] for r in pipe.api.get("/api/v1/runs").json()["runs"]] == [run_id]  # no new run

    # The first attempt stays as it ended, and its job ids stay valid for the logs.
    earlier = pipe.api.get(f"/api/v1/runs/{run_id}/attempts/1", role="viewer").json()
    assert (earlier["run_attempt"], earlier["conclusion"], _jobs(earlier)) == (1, "failure", _jobs(first))
    assert pipe.api.get(f"/api/v1/runs/{run_id}/attempts/2", role="viewer").json() == second
    assert pipe.api.get(f"/api/v1/runs/{run_id}/attempts/3", role="viewer").status_code == 404
    old_b = next(j["job_id"] for j in first["jobs"] if j["name"] == "check (b)")
    assert pipe.api.get(f"/api/v1/runs/{run_id}/jobs/{old_b}", role="viewer").json()["conclusion"] == "failure"
    assert any("check b in attempt 1" in line for line in _log_of(pipe, first, "check (b)"))
    # A carried-over job reads the log of the attempt it ran in.
    assert _log_of(pipe, second, "prep") == _log_of(pipe, first, "prep")

    # Each attempt counts once in /metrics; carried-over jobs are not counted again.
    metrics = pipe.api.get("/metrics", role=None).text
    assert 'pheme_runs_total{conclusion="failure",workflow="Retry"} 1.0' in metrics
    assert 'pheme_runs_total{conclusion="success",workflow="Retry"} 1.0' in metrics
    assert 'pheme_jobs_total{conclusion="success",workflow="Retry"} 4.0' in metrics

    audit = pipe.api.get("/api/v1/audit?action=run.rerun").json()["entries"][0]
    assert (audit["actor"], audit["detail"]["attempt"]) == ("developer-user", 2)
    assert pipe.api.post(f"/api/v1/runs/{run_id}/rerun", json={"failed_only": True}).status_code == 409  # none failed

    again = pipe.api.post(f"/api/v1/runs/{run_id}/rerun", json={"failed_only": False})
    assert again.status_code == 201 and again.json()["run_attempt"] == 3
    [third] = pipe.wait_done(run_id)
    assert third["run_attempt"] == 3 and not any(reused for _, reused in _jobs(third).values())
    assert any("report got made-in-attempt-3" in line for line in _log_of(pipe, third, "report"))


def _log_of(pipe: Any, run: dict[str, Any], name: str) -> list[str]:
    job_id = next(j["job_id"] for j in run["jobs"] if j["name"] == name)
    return list(pipe.api.get(f"/api/v1/runs/{run['id']}/jobs/{job_id}/logs", role="viewer").json()["lines"])


def test_rerun_of_a_run_that_is_not_completed_is_refused_in_one_line(pipeline_factory: Any) -> None:
    pipe = pipeline_factory({".github/workflows/slow.yml": SLOW})
    [run_id] = pipe.push()
    pipe.wait(lambda: any("started" in line for line in _lines(pipe.server.store, run_id)))
    response = pipe.api.post(f"/api/v1/runs/{run_id}/rerun", role="developer", json={"failed_only": False})
    assert response.status_code == 409
    assert response.json()["error"] == f"run {run_id} is still in_progress: cancel it or wait for it to finish"
    pipe.api.post(f"/api/v1/runs/{run_id}/cancel")
    [run] = pipe.wait_done(run_id)
    assert run["run_attempt"] == 1


def test_dispatch_starts_a_run_with_typed_inputs(pipeline_factory: Any) -> None:
    pipe = pipeline_factory({".github/workflows/deploy.yml": DISPATCH})
    response = pipe.api.post("/api/v1/repos/acme/proj/dispatch", role="developer",
                             json={"workflow": "deploy.yml", "ref": "main", "inputs": {"level": "3"}})  # fmt: skip
    assert response.status_code == 201, response.text
    [run] = pipe.wait_done(response.json()["runs"][0]["id"])
    assert (run["event"], run["conclusion"]) == ("workflow_dispatch", "success")
    assert "level 3 by developer-user" in _log(pipe, run, "go")
    bad = pipe.api.post("/api/v1/repos/acme/proj/dispatch", json={"workflow": "deploy.yml", "inputs": {"level": "x"}})
    assert bad.status_code == 400 and "level" in bad.json()["error"]
    missing = pipe.api.post("/api/v1/repos/acme/proj/dispatch", json={"workflow": "nope.yml"})
    assert missing.status_code == 400


def test_a_newer_run_cancels_the_pending_one_and_cancel_in_progress_stops_the_running_one(pipeline_factory: Any) -> None:
    workflow = SLOW.replace("on: [push]", "on: [push]\nconcurrency:\n  group: deploy-${{ github.ref }}\n  cancel-in-progress: ${{ github.event.head_commit.message == 'urgent' }}")
    pipe = pipeline_factory({".github/workflows/slow.yml": workflow})
    [first] = pipe.push({"a.txt": "1"})
    pipe.wait(lambda: any("started" in line for line in _lines(pipe.server.store, first)))
    [second] = pipe.push({"b.txt": "2"})
    [third] = pipe.push({"c.txt": "3"})
    second_run = pipe.wait_done(second)[0]
    assert second_run["conclusion"] == "cancelled" and second_run["jobs"] == []
    assert pipe.server.store.get_run(third).status.value == "queued"  # waits for the group
    payload = pipe.payload(pipe.head, before=pipe.head)
    payload["head_commit"] = {"id": pipe.head, "message": "urgent"}
    urgent = pipe.send(payload).json()["runs"][0]
    first_run, third_run = pipe.wait_done(first, third)
    assert first_run["conclusion"] == "cancelled" and third_run["conclusion"] == "cancelled"
    pipe.wait(lambda: any("started" in line for line in _lines(pipe.server.store, urgent)))
    pipe.api.post(f"/api/v1/runs/{urgent}/cancel")
    assert pipe.wait_done(urgent)[0]["conclusion"] == "cancelled"


def test_with_queue_max_pending_runs_wait_in_line_instead_of_replacing_each_other(pipeline_factory: Any) -> None:
    workflow = SLOW.replace("on: [push]", "on: [push]\nconcurrency:\n  group: deploy\n  queue: max")
    pipe = pipeline_factory({".github/workflows/slow.yml": workflow})
    store = pipe.server.store

    def started(run_id: int) -> bool:
        return any("started" in line for line in _lines(store, run_id))

    [first] = pipe.push({"a.txt": "1"})
    pipe.wait(lambda: started(first))
    [second] = pipe.push({"b.txt": "2"})
    [third] = pipe.push({"c.txt": "3"})
    assert [store.get_run(r).status.value for r in (second, third)] == ["queued", "queued"]
    for running, following in ((first, second), (second, third)):
        pipe.api.post(f"/api/v1/runs/{running}/cancel")
        pipe.wait(lambda following=following: started(following))
        assert pipe.wait_done(running)[0]["conclusion"] == "cancelled"
    assert store.get_run(third).status.value == "in_progress"  # in arrival order, none replaced
    pipe.api.post(f"/api/v1/runs/{third}/cancel")
    assert all(run["jobs"] for run in pipe.wait_done(first, second, third))  # each of them ran


def test_job_capacity_limits_jobs_across_runs(pipeline_factory: Any) -> None:
    workflow = """on: [push]
jobs:
  a: {runs-on: x, steps: [{run: sleep 0.3}]}
  b: {runs-on: x, steps: [{run: sleep 0.3}]}
"""
    pipe = pipeline_factory({".github/workflows/w.yml": workflow}, job_capacity=1)
    ids = pipe.push() + pipe.push({"x": "1"})
    runs = pipe.wait_done(*ids)
    spans = sorted((j["started_at"], j["finished_at"]) for r in runs for j in r["jobs"])
    assert len(spans) == 4
    assert all(prev[1] <= nxt[0] for prev, nxt in itertools.pairwise(spans))


def test_artifacts_of_a_run_are_listed_and_unknown_ones_are_404(pipeline_factory: Any, h: Any) -> None:
    pipe = pipeline_factory({".github/workflows/ci.yml": h.CI})
    [run] = pipe.wait_done(*pipe.push())
    assert pipe.api.get(f"/api/v1/runs/{run['id']}/artifacts").json() == {"artifacts": []}
    assert pipe.api.get(f"/api/v1/runs/{run['id']}/artifacts/nothing").status_code == 404
    assert pipe.api.get("/api/v1/runs/999999/artifacts").status_code == 404


@pytest.mark.parametrize("path", ["/api/v1/runs/0", "/api/v1/runs/abc", "/api/v1/runs/1/jobs/-1"])
def test_bad_path_parameters_are_422_one_line(api: Any, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 422
    assert set(response.json()) == {"error"}
