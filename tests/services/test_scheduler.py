"""on: schedule in the server: a tick at a minute starts the workflows whose cron fires, once."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

NIGHTLY = """name: Nightly
on:
  schedule:
    - cron: '30 2 * * *'
    - cron: '0 12 * * 1'
jobs:
  n:
    runs-on: x
    steps:
      - run: echo "${{ github.event.schedule }}"
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Any]:
    from pheme.services.server import PipelineServer
    from pheme.services.server_settings import load_settings

    root = tmp_path / "repo"
    (root / ".github/workflows").mkdir(parents=True)
    (root / ".github/workflows/nightly.yml").write_text(NIGHTLY)
    (root / ".github/workflows/ci.yml").write_text("on: [push]\njobs:\n  a: {runs-on: x, steps: [{run: 'true'}]}\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "init"]):
        subprocess.run(["git", "-c", "user.name=A", "-c", "user.email=a@b", *args], cwd=root, check=True, capture_output=True)
    settings = load_settings(None, database_url=f"sqlite:///{tmp_path}/s.db", secret_key="k", scheduler=False)
    s = PipelineServer(settings, workers=True)
    s.add_repo("acme/proj", str(root))
    yield s
    s.close()


def test_a_matching_minute_starts_the_scheduled_workflow_on_the_default_branch(server: Any) -> None:
    [run_id] = server.scheduler.tick(datetime(2026, 3, 4, 2, 30, 41, tzinfo=UTC))
    run = server.store.get_run(run_id)
    assert (run.event, run.ref, run.file) == ("schedule", "refs/heads/main", ".github/workflows/nightly.yml")
    assert server.sstore.queue_entry(run_id).payload["schedule"] == "30 2 * * *"


def test_the_same_minute_never_starts_twice_and_other_minutes_start_nothing(server: Any) -> None:
    at = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday noon: the second cron
    assert len(server.scheduler.tick(at)) == 1
    assert server.scheduler.tick(at) == []
    assert server.scheduler.tick(datetime(2026, 3, 2, 12, 1, tzinfo=UTC)) == []
    assert len(server.store.list_runs()) == 1
