"""Re-runs on the server: the next attempt of the same run, what "re-run failed jobs" carries over,
and concurrency groups judging a re-run by when it was queued."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pheme.core.runs import Conclusion, JobRecord, RunRecord, Status
from pheme.core.workflow import parse_workflow
from pheme.services.server_runs import carried_over, instance_key, rerun, reused_results


@pytest.fixture
def make_server(tmp_path: Path, repos: Any) -> Iterator[Any]:
    from pheme.services.server import PipelineServer
    from pheme.services.server_settings import load_settings

    servers: list[Any] = []

    def make(files: dict[str, str]) -> Any:
        root = repos.make(files, name=f"proj{len(servers)}")
        settings = load_settings(None, database_url=f"sqlite:///{tmp_path}/s{len(servers)}.db", secret_key="k",
                                 scheduler=False, job_capacity=2)  # fmt: skip
        server = PipelineServer(settings)
        server.start()
        servers.append(server)
        server.add_repo("acme/proj", str(root), webhook_secret="s")
        server.test_sha = repos.git(root, "rev-parse", "HEAD")
        return server

    yield make
    for server in servers:
        server.close()


def _push(server: Any, delivery: str) -> int:
    from pheme.services.intake import handle_github_webhook

    body = json.dumps({"ref": "refs/heads/main", "after": server.test_sha, "repository": {"full_name": "acme/proj"},
                       "sender": {"login": "bob"}}).encode()  # fmt: skip
    signature = "sha256=" + hmac.new(b"s", body, hashlib.sha256).hexdigest()
    result = handle_github_webhook(server, {"x-github-event": "push", "x-github-delivery": delivery,
                                            "x-hub-signature-256": signature}, body)  # fmt: skip
    assert result.status == 201, result.body
    run_id: int = result.body["runs"][0]
    return run_id


def _wait(server: Any, predicate: Any) -> None:
    assert server.dispatcher.wait_until(predicate, 60), "timed out"


def _status(server: Any, run_id: int) -> str:
    run = server.store.get_run(run_id)
    return run.conclusion.value if run.conclusion is not None else run.status.value


GROUPED = """on: [push]
concurrency: {{group: one-at-a-time}}
jobs:
  work:
    runs-on: x
    steps:
      - run: |
          if [ "$GITHUB_RUN_NUMBER" = 1 ]; then echo "run 1, attempt $GITHUB_RUN_ATTEMPT"; exit 1; fi
          while [ ! -f {gate} ]; do sleep 0.05; done
"""


def test_a_rerun_attempt_is_the_newest_pending_run_of_its_concurrency_group(make_server: Any, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    server = make_server({".github/workflows/g.yml": GROUPED.format(gate=gate)})
    first = _push(server, "d1")
    _wait(server, lambda: _status(server, first) == "failure")
    second = _push(server, "d2")
    _wait(server, lambda: _status(server, second) == "in_progress")
    third = _push(server, "d3")  # pending behind the running second run
    again = rerun(server, first, failed_only=False, actor="alice")
    assert (again.id, again.attempt, again.status) == (first, 2, Status.QUEUED)
    # Queued after the third run, the re-run is the newest: the third (a higher run id) is cancelled.
    assert _status(server, third) == "cancelled"
    assert "a newer run (1) of concurrency group" in (server.store.get_run(third).error or "")
    assert _status(server, first) == "queued"  # waits while the group's run is in progress
    gate.write_text("go")
    _wait(server, lambda: _status(server, first) == "failure" and _status(server, second) == "success")
    run = server.store.get_run(first)
    assert (run.attempt, run.number) == (2, 1)
    assert "run 1, attempt 2" in list(server.store.read_log(first, "work"))
    assert [a.conclusion for a in server.store.attempts(first)] == [Conclusion.FAILURE, Conclusion.FAILURE]


# ------------------------------------------------------------ what is carried over (pure)

GRAPH = parse_workflow("""on: [push]
jobs:
  lint: {runs-on: x, steps: [{run: 'true'}]}
  build:
    runs-on: x
    strategy: {matrix: {py: ['3.11', '3.12']}}
    steps: [{run: 'true'}]
  test: {runs-on: x, needs: build, steps: [{run: 'true'}]}
  docs: {runs-on: x, if: "github.event_name == 'release'", steps: [{run: 'true'}]}
  call: {needs: lint, uses: ./.github/workflows/called.yml}
  ship: {runs-on: x, needs: [test, lint], steps: [{run: 'true'}]}
""", ".github/workflows/ci.yml")


def _job(job_id: int, key: str, name: str, conclusion: Conclusion, matrix: dict[str, str] | None = None,
         reused_from: int | None = None) -> JobRecord:  # fmt: skip
    return JobRecord(id=job_id, run_id=1, key=key, name=name, matrix=matrix, status=Status.COMPLETED,
                     conclusion=conclusion, outputs={"v": name}, reused_from=reused_from)  # fmt: skip


def test_rerun_failed_jobs_runs_the_failed_combinations_and_their_dependents_only() -> None:
    jobs = (
        _job(1, "lint", "lint", Conclusion.SUCCESS),
        _job(2, "build", "build (3.11)", Conclusion.SUCCESS, {"py": "3.11"}),
        _job(3, "build", "build (3.12)", Conclusion.FAILURE, {"py": "3.12"}),
        _job(4, "test", "test", Conclusion.SKIPPED),
        _job(5, "docs", "docs", Conclusion.SKIPPED),
        _job(6, "call", "call / inner", Conclusion.SUCCESS),
        _job(7, "ship", "ship", Conclusion.SKIPPED),
    )
    run = RunRecord(id=1, number=1, workflow="CI", file=GRAPH.path, event="push", ref="r", sha="s", jobs=jobs)
    kept = carried_over(run, GRAPH)
    # lint and the good combination are kept, so is docs (skipped by its own if:); the failed
    # combination, what needs build (test, then ship) and the reusable-workflow caller run again.
    assert [j.name for j in kept] == ["lint", "build (3.11)", "docs"]


def test_carried_over_jobs_become_the_engines_reused_results_by_instance_key() -> None:
    jobs = (
        _job(10, "lint", "lint", Conclusion.SUCCESS, reused_from=1),
        _job(11, "build", "Build it (3.11)", Conclusion.SUCCESS, {"py": "3.11"}, reused_from=2),
        _job(12, "build", "Build it (3.12)", Conclusion.SUCCESS, {"py": "3.12"}),
    )
    run = RunRecord(id=1, number=1, workflow="CI", file=GRAPH.path, event="push", ref="r", sha="s", jobs=jobs, attempt=2)
    reused = reused_results(run)
    assert sorted(reused) == ["build (3.11)", "lint"]
    assert instance_key(jobs[1]) == "build (3.11)"
    assert (reused["build (3.11)"].job_id, reused["build (3.11)"].conclusion, dict(reused["build (3.11)"].outputs)) == (
        "build", "success", {"v": "Build it (3.11)"})  # fmt: skip


def test_a_run_its_executor_still_holds_is_not_requeued(tmp_path: Path, repos: Any) -> None:
    """Completed, but its queue entry still running (the executor wraps up): refused, nothing changed."""
    from pheme.errors import UsageError
    from pheme.services.server import PipelineServer
    from pheme.services.server_settings import load_settings
    from pheme.storage.server import NewRun

    root = repos.make({".github/workflows/g.yml": "on: [push]\njobs:\n  a: {runs-on: x, steps: [{run: 'true'}]}\n"})
    settings = load_settings(None, database_url=f"sqlite:///{tmp_path}/h.db", secret_key="k", scheduler=False)
    server = PipelineServer(settings, workers=False)
    try:
        repo = server.add_repo("acme/proj", str(root), webhook_secret="s")
        sha = repos.git(root, "rev-parse", "HEAD")
        [run_id] = server.enqueue([NewRun(repo_id=repo.id, workflow="W", file=".github/workflows/g.yml", event="push",
                                          ref="refs/heads/main", sha=sha, actor="bob", payload={})]).run_ids  # fmt: skip
        assert server.sstore.claim(run_id, "executor")
        server.store.update_run(run_id, Status.IN_PROGRESS)
        server.store.update_run(run_id, Status.COMPLETED, conclusion=Conclusion.SUCCESS)
        with pytest.raises(UsageError, match=f"run {run_id} is still being finished by the executor"):
            rerun(server, run_id, failed_only=False, actor="alice")
        assert (server.store.get_run(run_id).attempt, server.sstore.queue_entry(run_id).state) == (1, "running")
        server.sstore.finish_entry(run_id)
        assert rerun(server, run_id, failed_only=False, actor="alice").attempt == 2
        assert (server.sstore.queue_entry(run_id).state, server.sstore.queue_entry(run_id).actor) == ("queued", "alice")
    finally:
        server.close()
