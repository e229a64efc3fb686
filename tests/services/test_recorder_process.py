"""Local runs recorded by a forked process: same history, no SQLAlchemy in ``pheme run``,
and a recorder that dies or cannot be forked costs one clear line, never the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pheme.core.runs import Conclusion, Status
from pheme.services import recorder_process
from pheme.services.local_run import LocalRunOptions, trigger_local_runs
from pheme.storage import open_store

WORKFLOW = """\
name: Recorded
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      answer: ${{ steps.a.outputs.answer }}
    steps:
      - id: a
        run: |
          echo "answer=42" >> "$GITHUB_OUTPUT"
          seq 1 30000
      - run: echo "after the flood"
  check:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: test "${{ needs.build.outputs.answer }}" = 42
"""

_RUN_IN_A_FRESH_PROCESS = """\
import json, sys
from pheme.cli import main
try:
    main(["run", "--json"])
except SystemExit as exc:
    code = exc.code
with open(sys.argv[1], "w") as f:
    json.dump({"code": code, "sqlalchemy": "sqlalchemy" in sys.modules}, f)
"""


def _pheme_run(root: Path, home: Path, tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    facts = tmp_path / "facts.json"
    env = {**os.environ, "PHEME_HOME": str(home), "NO_COLOR": "1"}
    env.pop("PHEME_DATABASE_URL", None)
    proc = subprocess.run([sys.executable, "-c", _RUN_IN_A_FRESH_PROCESS, str(facts)], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    return json.loads(facts.read_text()), json.loads(proc.stdout)


def test_pheme_run_records_everything_without_loading_sqlalchemy(repos: Any, tmp_path: Path) -> None:
    root = repos.make({".github/workflows/r.yml": WORKFLOW})
    home = tmp_path / "home"
    for number in (1, 2):  # the first run creates the store (in the child), the second finds it
        facts, out = _pheme_run(root, home, tmp_path)
        assert facts == {"code": 0, "sqlalchemy": False}
        (run,) = out["runs"]
        assert (run["number"], run["conclusion"]) == (number, "success")
    with open_store(f"sqlite:///{home / 'pheme.db'}") as store:
        (latest, first) = store.list_runs()
        record = store.get_run(latest.id)
        assert record.conclusion == Conclusion.SUCCESS and latest.number == 2
        build = next(j for j in record.jobs if j.key == "build")
        assert dict(build.outputs) == {"answer": "42"}
        assert [s.conclusion for s in build.steps] == [Conclusion.SUCCESS, Conclusion.SUCCESS]
        log = "\n".join(store.read_log(record.id, "build"))
        assert "30000" in log and log.index("30000") < log.index("after the flood")
        assert store.get_run(first.id).status == Status.COMPLETED


def test_without_a_fork_the_run_is_recorded_in_process(repos: Any, pheme_home: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr(recorder_process.RecorderProcess, "start", lambda self: False)
    root = repos.make({".github/workflows/r.yml": WORKFLOW})
    report = trigger_local_runs(LocalRunOptions(directory=root))
    assert report.succeeded
    (outcome,) = report.outcomes
    with open_store() as store:
        stored = store.get_run(outcome.record.id)
    assert stored.conclusion == Conclusion.SUCCESS
    assert {j.key: dict(j.outputs) for j in stored.jobs} == {"build": {"answer": "42"}, "check": {}}


_KILL_THE_RECORDER = """\
import json, os, signal, sys
from datetime import datetime, UTC
from pheme.errors import PhemeError
from pheme.execution.events import JobRef, JobStarted
from pheme.services.recorder_process import RecorderProcess
from pheme.storage._quick import reserve_run

url = sys.argv[1]
recording = RecorderProcess(url)
assert recording.start()
run = reserve_run(url, "W", ".github/workflows/w.yml", "push", "refs/heads/main", "a" * 40)
if run is None:
    run = recording.create_run(workflow_name="W", workflow_file=".github/workflows/w.yml", event="push",
                               ref="refs/heads/main", sha="a" * 40)
recording.begin(run.id)
recording(JobStarted(job=JobRef("j", "j", "j"), at=datetime.now(UTC)))
os.kill(recording._pid, signal.SIGKILL)
os.waitpid(recording._pid, 0)
for _ in range(100):  # the parent goes on: sending into a dead pipe is not an error for the run
    recording(JobStarted(job=JobRef("j", "j", "j"), at=datetime.now(UTC)))
try:
    recording.end(cancelled=False, error=None)
    print(json.dumps({"raised": None}))
except PhemeError as exc:
    print(json.dumps({"raised": type(exc).__name__, "message": str(exc)}))
"""


def test_a_dead_recorder_is_one_clear_error_at_the_end(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pheme.db'}"
    open_store(url).close()
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(_KILL_THE_RECORDER), url],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["raised"] == "StorageError"
    assert result["message"].startswith("run history not recorded: the recording process stopped")
    assert "\n" not in result["message"]
