"""Job-level concurrency groups on the server: deploy jobs of different runs of a repository exclude each other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

GROUP_HELD = "Waiting for a running job of concurrency group 'Production' (deploy in run {run})"
REPLACED = "##[error]Canceling since a higher priority waiting request for 'Production' exists"


def _workflow(release: Path) -> str:
    # The deploy step of run N blocks until the test creates release/N.
    return f"""name: Deploy
on:
  workflow_dispatch:
    inputs:
      urgent:
        type: boolean
        default: false
jobs:
  build:
    runs-on: x
    steps:
      - run: echo built
  deploy:
    needs: build
    runs-on: x
    concurrency:
      group: Production
      cancel-in-progress: ${{{{ inputs.urgent }}}}
    steps:
      - run: echo "deploying"; while [ ! -f "{release}/${{{{ github.run_id }}}}" ]; do sleep 0.02; done
      - if: always()
        run: echo cleanup ran
"""


PROTECTED = """name: Protected
on:
  workflow_dispatch:
    inputs:
      urgent:
        type: boolean
        default: false
jobs:
  deploy:
    runs-on: x
    environment: production
    concurrency:
      group: Production
      cancel-in-progress: ${{ inputs.urgent }}
    steps:
      - run: echo deployed
"""


class Server:
    def __init__(self, server: Any, release: Path) -> None:
        self.server = server
        self.release = release

    def dispatch(self, urgent: bool = False, workflow: str = "deploy.yml") -> int:
        from pheme.services.server_runs import dispatch

        [run_id] = dispatch(self.server, "acme/proj", workflow, "main", {"urgent": urgent}, actor="bob")
        return run_id

    def job(self, run_id: int, job: str = "deploy") -> Any:
        return next((j for j in self.server.store.get_run(run_id).jobs if j.name == job), None)

    def status(self, run_id: int, job: str = "deploy") -> str | None:
        record = self.job(run_id, job)
        return None if record is None else record.status.value

    def log(self, run_id: int, job: str = "deploy") -> list[str]:
        record = self.job(run_id, job)
        return [] if record is None else list(self.server.store.read_log(run_id, record.id))

    def wait(self, predicate: Any, timeout: float = 60.0) -> None:
        assert self.server.dispatcher.wait_until(predicate, timeout), "timed out waiting"

    def wait_status(self, run_id: int, status: str, job: str = "deploy") -> None:
        self.wait(lambda: self.status(run_id, job) == status)

    def wait_done(self, run_id: int) -> Any:
        self.wait(lambda: self.server.store.get_run(run_id).status.value == "completed")
        return self.server.store.get_run(run_id)

    def release_run(self, run_id: int) -> None:
        (self.release / str(run_id)).touch()


def _serve(repos: Any, tmp_path: Path, workflows: Any) -> Iterator[Server]:
    """A started server for acme/proj whose workflows are ``workflows(release_dir)``."""
    from pheme.services.server import PipelineServer
    from pheme.services.server_settings import load_settings

    release = tmp_path / "release"
    release.mkdir()
    root = repos.make(workflows(release))
    settings = load_settings(None, database_url=f"sqlite:///{tmp_path}/server.db", secret_key="k", scheduler=False,
                             job_capacity=2)  # fmt: skip
    server = PipelineServer(settings)
    server.add_repo("acme/proj", str(root))
    server.start()
    try:
        yield Server(server, release)
    finally:
        server.close()


@pytest.fixture
def srv(repos: Any, tmp_path: Path) -> Iterator[Server]:
    yield from _serve(repos, tmp_path, lambda release: {
        ".github/workflows/deploy.yml": _workflow(release), ".github/workflows/protected.yml": PROTECTED,
    })  # fmt: skip


def test_deploy_jobs_of_different_runs_wait_replace_and_cancel_in_progress(srv: Server) -> None:
    first = srv.dispatch()
    srv.wait(lambda: "deploying" in srv.log(first))

    # A second run's deploy waits for the group, visibly, without a capacity slot.
    second = srv.dispatch()
    srv.wait_status(second, "waiting")
    srv.wait(lambda: GROUP_HELD.format(run=first) in srv.log(second))  # logs reach the store within a second
    assert srv.server.store.get_run(second).status.value == "in_progress"

    # A third run replaces the pending second one; with 2 job slots its build could not
    # run if the pending deploy held one (the first deploy holds the other).
    third = srv.dispatch()
    cancelled = srv.wait_done(second)
    assert cancelled.conclusion.value == "cancelled"
    deploy = srv.job(second)
    assert (deploy.status.value, deploy.conclusion.value, deploy.started_at) == ("completed", "cancelled", None)
    assert REPLACED in srv.log(second)
    srv.wait_status(third, "waiting")
    assert srv.status(first) == "in_progress"

    # The first deploy ends: the third one gets the group and starts.
    srv.release_run(first)
    assert srv.wait_done(first).conclusion.value == "success"
    srv.wait(lambda: "deploying" in srv.log(third))

    # An urgent run cancels the running third deploy (its always() step still runs), then deploys.
    urgent = srv.dispatch(urgent=True)
    stopped = srv.wait_done(third)
    assert stopped.conclusion.value == "cancelled"
    steps = [(s.conclusion.value if s.conclusion else None) for s in srv.job(third).steps]
    assert steps == ["cancelled", "success"]
    srv.wait(lambda: "deploying" in srv.log(urgent))
    assert "cleanup ran" in srv.log(third) and REPLACED in srv.log(third)
    srv.release_run(urgent)
    assert srv.wait_done(urgent).conclusion.value == "success"
    assert srv.server.dispatcher.wait_idle(30)
    assert srv.server.dispatcher._groups_of(srv.server.sstore.get_repo("acme/proj").id).holding() == {}


def test_cancelling_a_run_whose_job_waits_gives_its_place_up(srv: Server) -> None:
    from pheme.services.server_runs import cancel

    first = srv.dispatch()
    srv.wait(lambda: "deploying" in srv.log(first))
    second = srv.dispatch()
    srv.wait_status(second, "waiting")
    cancel(srv.server, second, actor="alice")
    assert srv.wait_done(second).conclusion.value == "cancelled"
    assert srv.job(second).conclusion.value == "cancelled"

    # The next run waits behind the first without replacing anybody, then deploys.
    third = srv.dispatch()
    srv.wait_status(third, "waiting")
    assert not any(line == REPLACED for line in srv.log(second))
    srv.release_run(first)
    srv.wait(lambda: "deploying" in srv.log(third))
    srv.release_run(third)
    assert srv.wait_done(third).conclusion.value == "success"
    assert srv.wait_done(first).conclusion.value == "success"


def test_a_job_awaiting_approval_holds_the_group_and_cancel_in_progress_withdraws_its_approval(srv: Server) -> None:
    from pheme.core.server import EnvironmentRules, Role
    from pheme.services.approvals import decide

    server = srv.server
    server.put_environment("production", EnvironmentRules(reviewers=("alice",)), None, actor="admin")

    def pending(run_id: int) -> list[Any]:
        return list(server.sstore.list_approvals(state="pending", run_id=run_id))

    first = srv.dispatch(workflow="protected.yml")
    srv.wait(lambda: bool(pending(first)))
    [withdrawn] = pending(first)
    urgent = srv.dispatch(urgent=True, workflow="protected.yml")
    assert srv.wait_done(first).conclusion.value == "cancelled"
    assert server.sstore.get_approval(withdrawn.id).state == "cancelled"
    assert REPLACED in srv.log(first)
    srv.wait(lambda: bool(pending(urgent)))
    [approval] = pending(urgent)
    decide(server, approval.id, "approve", user="alice", role=Role.ADMIN)
    assert srv.wait_done(urgent).conclusion.value == "success"
    assert "pheme_approvals_waiting 0.0" in server.metrics.render().decode()


def _release_workflow(release: Path) -> str:
    # A whole run in the group (workflow level), blocked until the test creates release/N.
    return f"""name: Release
on:
  workflow_dispatch:
    inputs:
      urgent:
        type: boolean
        default: false
concurrency: PRODUCTION
jobs:
  publish:
    runs-on: x
    steps:
      - run: echo "releasing"; while [ ! -f "{release}/${{{{ github.run_id }}}}" ]; do sleep 0.02; done
"""


DEADLOCK = """name: Deadlock
on:
  workflow_dispatch:
    inputs:
      urgent:
        type: boolean
        default: false
concurrency: production
jobs:
  deploy:
    runs-on: x
    concurrency: Production
    steps:
      - run: echo never
"""


@pytest.fixture
def shared(repos: Any, tmp_path: Path) -> Iterator[Server]:
    yield from _serve(repos, tmp_path, lambda release: {
        ".github/workflows/deploy.yml": _workflow(release),
        ".github/workflows/release.yml": _release_workflow(release),
        ".github/workflows/deadlock.yml": DEADLOCK,
    })  # fmt: skip


def test_workflow_and_job_level_groups_are_one_namespace(shared: Server) -> None:
    srv = shared
    # A run holding the group at workflow level: another run's deploy job waits for it.
    release = srv.dispatch(workflow="release.yml")
    srv.wait(lambda: "releasing" in srv.log(release, "publish"))
    deploy = srv.dispatch()
    srv.wait_status(deploy, "waiting")
    srv.wait(lambda: f"Waiting for a running job of concurrency group 'Production' (run {release})" in srv.log(deploy))
    srv.release_run(release)
    assert srv.wait_done(release).conclusion.value == "success"
    srv.wait(lambda: "deploying" in srv.log(deploy))

    # A deploy job holding the group: a run in the group at workflow level stays queued.
    later = srv.dispatch(workflow="release.yml")
    assert srv.server.store.get_run(later).status.value == "queued"
    srv.release_run(deploy)
    finished = srv.wait_done(deploy)
    assert finished.conclusion.value == "success"
    srv.wait(lambda: "releasing" in srv.log(later, "publish"))
    srv.release_run(later)
    done = srv.wait_done(later)
    assert done.conclusion.value == "success"
    deploy_job = next(j for j in finished.jobs if j.key == "deploy")
    assert done.started_at is not None and deploy_job.finished_at is not None
    assert done.started_at >= deploy_job.finished_at  # never both in the group at once


def test_a_job_in_its_own_runs_group_is_cancelled_as_a_deadlock(shared: Server) -> None:
    run = shared.wait_done(shared.dispatch(workflow="deadlock.yml"))
    assert run.conclusion.value == "cancelled"
    assert any(
        "Canceling since a deadlock for concurrency group 'Production' was detected between 'top level workflow' and 'deploy'"
        in line
        for line in shared.log(run.id)
    )
