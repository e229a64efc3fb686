"""Planning helpers of the server: concurrency groups as GitHub names them."""

from __future__ import annotations

from pheme.services.server_runs import concurrency_of, load_workflow, queue_max_of

WORKFLOW = """name: Deploy
on: push
concurrency:
  group: {group}
  {extra}
jobs:
  go:
    runs-on: ubuntu-latest
    steps:
      - run: echo hi
"""


def _group(group: str, extra: str = "") -> tuple[str | None, bool]:
    workflow = load_workflow(".github/workflows/d.yml", WORKFLOW.format(group=group, extra=extra))
    return concurrency_of(workflow, "acme/web", "push", "refs/heads/Main", "a" * 40, {}, {}, {})


def test_group_names_are_case_insensitive_and_per_repository() -> None:
    assert _group("Deploy-${{ github.ref_name }}") == _group("DEPLOY-main") == ("acme/web:deploy-main", False)


def test_cancel_in_progress_and_queue_mode_come_from_the_workflow() -> None:
    assert _group("prod", "cancel-in-progress: ${{ github.ref == 'refs/heads/Main' }}") == ("acme/web:prod", True)
    queued = load_workflow(".github/workflows/d.yml", WORKFLOW.format(group="prod", extra="queue: max"))
    single = load_workflow(".github/workflows/d.yml", WORKFLOW.format(group="prod", extra=""))
    assert (queue_max_of(queued), queue_max_of(single)) == (True, False)
