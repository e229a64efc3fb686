"""trigger_local_runs end to end: real git repositories, the real engine, the real store."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from pheme.core.runs import Conclusion, Status
from pheme.errors import ConfigError, UsageError
from pheme.execution.events import Event, StepStarted
from pheme.services.cancel import Cancellation
from pheme.services.local_run import (
    LocalRunOptions,
    parse_matrix_filter,
    parse_pairs,
    plan_local_runs,
    trigger_local_runs,
)
from pheme.storage import open_store

ECHO_MARKER = """\
name: Marker
on: push
jobs:
  read:
    runs-on: ubuntu-latest
    outputs:
      marker: ${{ steps.m.outputs.marker }}
    steps:
      - id: m
        run: echo "marker=$(cat marker.txt)" >> "$GITHUB_OUTPUT"
"""


def run(root: Path, **kw: Any) -> Any:
    return trigger_local_runs(LocalRunOptions(directory=root, **kw))


def outputs(report: Any, job: str = "read") -> dict[str, str]:
    (outcome,) = report.outcomes
    return dict(next(j for j in outcome.record.jobs if j.key == job).outputs)


def test_runs_the_committed_tree_not_the_dirty_working_copy(repos: Any) -> None:
    root = repos.make({".github/workflows/m.yml": ECHO_MARKER, "marker.txt": "committed\n"})
    (root / "marker.txt").write_text("dirty\n")
    report = run(root)
    assert report.succeeded
    assert outputs(report) == {"marker": "committed"}
    # --working-tree runs the files as they are.
    assert outputs(run(root, working_tree=True)) == {"marker": "dirty"}
    # The temporary worktree is gone and git no longer lists it.
    assert repos.git(root, "worktree", "list").count("\n") == 0


def test_workflows_are_read_from_the_tree_that_runs(repos: Any) -> None:
    root = repos.make({".github/workflows/m.yml": ECHO_MARKER, "marker.txt": "x\n"})
    (root / ".github/workflows/m.yml").write_text(ECHO_MARKER.replace("name: Marker", "name: Edited"))
    (root / ".github/workflows/new.yml").write_text(ECHO_MARKER.replace("name: Marker", "name: New"))
    assert [o.record.workflow for o in run(root).outcomes] == ["Marker"]
    assert sorted(o.record.workflow for o in run(root, working_tree=True).outcomes) == ["Edited", "New"]


def test_paths_filter_uses_before_to_head(repos: Any) -> None:
    wf = ECHO_MARKER.replace("on: push", "on:\n  push:\n    paths: ['docs/**']")
    root = repos.make({".github/workflows/m.yml": wf, "marker.txt": "x\n"})
    repos.write(root, {"docs/guide.md": "# guide\n"})
    docs_commit = repos.commit(root, "docs")
    repos.write(root, {"src/app.py": "print()\n"})
    repos.commit(root, "code")
    report = run(root)  # before = HEAD's parent: only src/app.py changed
    assert report.outcomes == []
    assert [(s.file, "docs/**" in s.reason) for s in report.not_triggered] == [(".github/workflows/m.yml", True)]
    report = run(root, before=f"{docs_commit}~1")  # docs/guide.md is in the range now
    assert [o.record.conclusion for o in report.outcomes] == [Conclusion.SUCCESS]


def test_run_ids_and_numbers_come_from_the_store_and_count_per_workflow(repos: Any) -> None:
    wf = """\
name: {name}
on: push
jobs:
  ids:
    runs-on: ubuntu-latest
    outputs:
      id: ${{{{ steps.s.outputs.id }}}}
      number: ${{{{ steps.s.outputs.number }}}}
    steps:
      - id: s
        run: |
          echo "id=$GITHUB_RUN_ID" >> "$GITHUB_OUTPUT"
          echo "number=$GITHUB_RUN_NUMBER" >> "$GITHUB_OUTPUT"
"""
    root = repos.make({".github/workflows/a.yml": wf.format(name="A"), ".github/workflows/b.yml": wf.format(name="B")})
    first = run(root).outcomes
    second = run(root).outcomes
    numbers = [(o.record.workflow, o.record.number) for o in first + second]
    assert numbers == [("A", 1), ("B", 1), ("A", 2), ("B", 2)]
    for outcome in first + second:
        job = outcome.record.jobs[0]
        assert job.outputs == {"id": str(outcome.record.id), "number": str(outcome.record.number)}
    assert len({o.record.id for o in first + second}) == 4


def test_secrets_are_masked_in_stored_logs(repos: Any) -> None:
    wf = """\
on: push
jobs:
  leak:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "token is ${{ secrets.API_TOKEN }}"
          echo "from env: $TOK"
        env:
          TOK: ${{ secrets.API_TOKEN }}
"""
    root = repos.make({".github/workflows/leak.yml": wf})
    report = run(root, secrets={"API_TOKEN": "hunter2-s3cr3t"})
    (outcome,) = report.outcomes
    with open_store() as store:
        text = "\n".join(store.read_log(outcome.record.id, "leak"))
    assert "token is ***" in text and "from env: ***" in text
    assert "hunter2-s3cr3t" not in text


def test_invalid_workflows_are_reported_while_valid_ones_still_run(repos: Any) -> None:
    bad = "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n        uses: actions/checkout@v4\n"
    root = repos.make({".github/workflows/bad.yml": bad, ".github/workflows/good.yml": ECHO_MARKER, "marker.txt": "ok\n"})
    seen: list[str] = []
    report = trigger_local_runs(LocalRunOptions(directory=root), on_problem=lambda p: seen.append(str(p)))
    assert [o.record.workflow for o in report.outcomes] == ["Marker"]
    assert report.outcomes[0].record.conclusion == Conclusion.SUCCESS
    assert report.problems and seen == [str(p) for p in report.problems]
    assert all(s.startswith(".github/workflows/bad.yml:") for s in seen)
    assert not report.succeeded


def test_failed_step_fails_the_run_and_is_recorded(repos: Any) -> None:
    wf = "on: push\njobs:\n  boom:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo before; exit 3\n      - run: echo never\n"
    root = repos.make({".github/workflows/boom.yml": wf})
    report = run(root)
    assert not report.succeeded
    with open_store() as store:
        stored = store.get_run(report.outcomes[0].record.id)
    assert stored.status == Status.COMPLETED and stored.conclusion == Conclusion.FAILURE
    (job,) = stored.jobs
    assert [(s.number, s.conclusion) for s in job.steps] == [(1, Conclusion.FAILURE), (2, Conclusion.SKIPPED)]


def test_payload_looks_like_githubs(repos: Any) -> None:
    wf = """\
on: [push, pull_request]
jobs:
  show:
    runs-on: ubuntu-latest
    steps:
      - run: |
          cat > "$RUNNER_TEMP/../event.json" <<'EOF'
          ${{ toJSON(github.event) }}
          EOF
          echo "ref=$GITHUB_REF" >> "$GITHUB_OUTPUT"
        id: s
    outputs:
      event: ${{ toJSON(github.event) }}
      ref: ${{ steps.s.outputs.ref }}
"""
    root = repos.make({".github/workflows/show.yml": wf, "a.txt": "1\n"})
    repos.write(root, {"b.txt": "2\n"})
    head = repos.commit(root, "second commit\n\nwith a body")
    parent = repos.git(root, "rev-parse", "HEAD~1")

    push = outputs(run(root), "show")
    event = json.loads(push["event"])
    assert push["ref"] == "refs/heads/main"
    assert event["ref"] == "refs/heads/main" and event["after"] == head and event["before"] == parent
    assert event["head_commit"]["id"] == head
    assert event["head_commit"]["message"] == "second commit\n\nwith a body"
    assert event["head_commit"]["author"]["email"] == "ada@example.com"
    assert event["repository"]["full_name"] == "local/proj"

    repos.git(root, "remote", "add", "origin", "git@github.com:octo/hello.git")
    pr = outputs(run(root, event="pull_request"), "show")
    event = json.loads(pr["event"])
    assert pr["ref"] == "refs/pull/1/merge"
    assert event["number"] == 1 and event["pull_request"]["number"] == 1
    assert event["pull_request"]["head"]["sha"] == head
    assert event["pull_request"]["base"]["ref"] == "main"
    assert event["repository"]["full_name"] == "octo/hello"


def test_event_file_is_merged_into_the_payload(repos: Any, tmp_path: Path) -> None:
    wf = """\
on:
  pull_request:
    branches: [release]
jobs:
  show:
    runs-on: ubuntu-latest
    steps:
      - run: echo
    outputs:
      number: ${{ github.event.pull_request.number }}
      title: ${{ github.event.pull_request.title }}
      base: ${{ github.base_ref }}
      repo: ${{ github.event.repository.full_name }}
"""
    root = repos.make({".github/workflows/pr.yml": wf})
    assert run(root, event="pull_request").outcomes == []  # base main: not triggered
    payload = tmp_path / "event.json"
    payload.write_text(json.dumps({"number": 42, "pull_request": {"number": 42, "title": "Hi", "base": {"ref": "release"}}}))
    out = outputs(run(root, event="pull_request", event_file=payload), "show")
    assert out == {"number": "42", "title": "Hi", "base": "release", "repo": "local/proj"}


def test_workflow_dispatch_inputs_are_typed_and_checked_before_anything_runs(repos: Any) -> None:
    wf = """\
on:
  workflow_dispatch:
    inputs:
      level:
        type: choice
        options: [low, high]
        required: true
      dry:
        type: boolean
        default: true
jobs:
  show:
    runs-on: ubuntu-latest
    steps:
      - run: echo
    outputs:
      level: ${{ inputs.level }}
      dry: ${{ inputs.dry }}
      event_level: ${{ github.event.inputs.level }}
"""
    root = repos.make({".github/workflows/d.yml": wf})
    out = outputs(run(root, event="workflow_dispatch", inputs={"level": "high"}), "show")
    assert out == {"level": "high", "dry": "true", "event_level": "high"}
    with pytest.raises(UsageError, match=r"d\.yml: input 'level'"):
        run(root, event="workflow_dispatch", inputs={"level": "medium"})
    with pytest.raises(UsageError, match="unknown input 'nope'"):
        run(root, event="workflow_dispatch", inputs={"level": "low", "nope": "1"})
    with open_store() as store:
        assert len(store.list_runs()) == 1  # the rejected ones left nothing behind


def test_job_filter_runs_the_job_and_its_needs(repos: Any) -> None:
    wf = """\
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    steps: [{run: echo a}]
  b:
    needs: a
    runs-on: ubuntu-latest
    steps: [{run: echo b}]
  c:
    runs-on: ubuntu-latest
    steps: [{run: echo c}]
"""
    root = repos.make({".github/workflows/w.yml": wf})
    (outcome,) = run(root, jobs=("b",)).outcomes
    assert sorted(j.key for j in outcome.record.jobs) == ["a", "b"]
    with pytest.raises(UsageError, match="no triggered workflow has a job 'zzz'"):
        run(root, jobs=("zzz",))


def test_cancellation_records_the_run_as_cancelled(repos: Any) -> None:
    wf = "on: push\njobs:\n  slow:\n    runs-on: ubuntu-latest\n    steps:\n      - run: sleep 30\n      - if: always()\n        run: echo cleanup\n"
    root = repos.make({".github/workflows/slow.yml": wf})
    cancel = Cancellation()

    def observe(record: Any, workflow: Any) -> Any:
        def on_event(event: Event) -> None:
            if isinstance(event, StepStarted) and event.step.number == 1:
                threading.Timer(0.2, cancel.cancel).start()

        return on_event

    report = trigger_local_runs(LocalRunOptions(directory=root), observe=observe, cancel=cancel)
    assert report.cancelled and not report.succeeded
    (outcome,) = report.outcomes
    assert outcome.record.conclusion == Conclusion.CANCELLED
    (job,) = outcome.record.jobs
    assert job.conclusion == Conclusion.CANCELLED
    assert job.steps[1].conclusion == Conclusion.SUCCESS  # if: always() still ran


def test_bad_input_is_one_clear_error(repos: Any, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(ConfigError, match="not a git repository"):
        run(plain)
    empty = repos.make({"README": "hi\n"}, name="empty")
    with pytest.raises(ConfigError, match="no workflows found"):
        run(empty)
    root = repos.make({".github/workflows/m.yml": ECHO_MARKER}, name="ok")
    with pytest.raises(UsageError, match="unknown event 'pushh'"):
        run(root, event="pushh")
    with pytest.raises(UsageError, match="unknown git revision: nope"):
        run(root, before="nope")
    bad_json = tmp_path / "e.json"
    bad_json.write_text('{"a": }')
    with pytest.raises(UsageError, match=r"e\.json:1:7: invalid JSON"):
        run(root, event_file=bad_json)


def test_parse_pairs_reads_bare_keys_from_the_environment_and_never_echoes_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FROM_ENV", "v1")
    assert parse_pairs(["A=1", "B=x=y", "FROM_ENV"], "--secret", from_env=True) == {"A": "1", "B": "x=y", "FROM_ENV": "v1"}
    with pytest.raises(UsageError, match="MISSING is not set"):
        parse_pairs(["MISSING"], "--secret", from_env=True)
    with pytest.raises(UsageError) as err:
        parse_pairs(["=hunter2"], "--secret", from_env=True, secret=True)
    assert "hunter2" not in str(err.value)
    with pytest.raises(UsageError, match="--var X: expected KEY=VALUE"):
        parse_pairs(["X"], "--var")


def test_built_in_actions_work_in_local_runs(repos: Any) -> None:
    wf = """\
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: f
        run: echo "files=$(ls | tr '\\n' ' ')" >> "$GITHUB_OUTPUT"
    outputs:
      files: ${{ steps.f.outputs.files }}
"""
    root = repos.make({".github/workflows/a.yml": wf, "hello.txt": "hi\n"})
    report = run(root)
    assert report.succeeded
    assert "hello.txt" in outputs(report, "a")["files"].split()


def test_pull_request_files_are_those_since_the_base_branch(repos: Any) -> None:
    wf = """\
on:
  push:
    paths: ['docs/**']
  pull_request:
    paths: ['docs/**']
jobs:
  docs:
    runs-on: ubuntu-latest
    steps: [{run: echo docs}]
    outputs:
      base: ${{ github.event.pull_request.base.sha }}
"""
    root = repos.make({".github/workflows/docs.yml": wf, "README.md": "hi\n"})
    main_head = repos.git(root, "rev-parse", "HEAD")
    repos.git(root, "checkout", "-q", "-b", "feature")
    repos.write(root, {"docs/guide.md": "# guide\n"})
    repos.commit(root, "docs")
    repos.write(root, {"src/app.py": "print()\n"})
    repos.commit(root, "code")
    assert run(root).outcomes == []  # push: only the last commit (src/app.py)
    report = run(root, event="pull_request")  # PR: everything since it left main
    assert report.outcomes[0].record.ref == "refs/pull/1/merge"
    assert outputs(report, "docs") == {"base": main_head}


RECORDED = """\
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


def test_a_run_on_an_existing_store_is_recorded_without_loading_sqlalchemy(repos: Any, tmp_path: Path) -> None:
    """The first run creates the store (with SQLAlchemy and its migrations); later ones
    record everything with the standard library, and the store reads it all back."""
    import os
    import subprocess
    import sys

    root = repos.make({".github/workflows/r.yml": RECORDED})
    home = tmp_path / "home"
    env = {**os.environ, "PHEME_HOME": str(home), "NO_COLOR": "1"}
    env.pop("PHEME_DATABASE_URL", None)
    facts = tmp_path / "facts.json"
    for number, loads_sqlalchemy in ((1, True), (2, False)):
        proc = subprocess.run([sys.executable, "-c", _RUN_IN_A_FRESH_PROCESS, str(facts)], cwd=root, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert json.loads(facts.read_text()) == {"code": 0, "sqlalchemy": loads_sqlalchemy}
        (run,) = json.loads(proc.stdout)["runs"]
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


# ------------------------------------------------------------ --matrix, --dry-run

MATRIX = """\
name: Matrix
on: push
jobs:
  prep:
    runs-on: ubuntu-latest
    steps:
      - name: Prepare
        run: echo prep
  test:
    needs: prep
    strategy:
      matrix:
        os: [linux, mac]
        py: [3.10, "3.12"]
    runs-on: ubuntu-latest
    steps:
      - name: Test on ${{ matrix.os }}
        run: echo "${{ matrix.os }} ${{ matrix.py }}"
  later:
    needs: [test]
    if: github.ref == 'refs/heads/main'
    uses: ./.github/workflows/called.yml
"""

CALLED = "on: workflow_call\njobs:\n  c:\n    runs-on: ubuntu-latest\n    steps: [{run: echo c}]\n"


def test_matrix_filter_runs_and_records_only_the_matching_combination(repos: Any) -> None:
    root = repos.make({".github/workflows/m.yml": MATRIX, ".github/workflows/called.yml": CALLED})
    report = run(root, matrix=parse_matrix_filter(["os:mac", "py:3.1"]))
    assert report.succeeded
    with open_store() as store:
        (stored,) = store.list_runs()
        jobs = [(j.name, j.matrix) for j in store.get_run(stored.id).jobs]
    assert jobs == [("prep", None), ("test (mac, 3.1)", {"os": "mac", "py": 3.1}), ("later / c", None)]


def test_parse_matrix_filter_follows_acts_syntax() -> None:
    assert parse_matrix_filter(["os:linux", "os:mac", "image:node:20", "os:linux"]) == {
        "os": ("linux", "mac"),
        "image": ("node:20",),
    }
    with pytest.raises(UsageError, match="--matrix: expected KEY:VALUE"):
        parse_matrix_filter(["os=linux"])


def test_dry_run_plans_like_a_run_and_never_opens_the_store(repos: Any, pheme_home: Path) -> None:
    root = repos.make({".github/workflows/m.yml": MATRIX, ".github/workflows/called.yml": CALLED})
    report = plan_local_runs(LocalRunOptions(directory=root, matrix={"py": ("3.12",)}))
    assert report.valid and not pheme_home.exists()  # no store, not even an empty home
    assert [n.file for n in report.not_triggered] == [".github/workflows/called.yml"]
    (plan,) = report.runs
    assert (plan.workflow, plan.file, plan.event, plan.ref) == ("Matrix", ".github/workflows/m.yml", "push",
                                                                "refs/heads/main")
    prep, test, later = plan.jobs
    assert (prep.id, prep.matrix, prep.steps) == ("prep", None, ("Prepare",))
    assert test.matrix == ({"os": "linux", "py": "3.12"}, {"os": "mac", "py": "3.12"})
    assert test.instances == ("test (linux, 3.12)", "test (mac, 3.12)")
    assert test.steps == ("Test on ${{ matrix.os }}",)
    assert (later.needs, later.uses, later.if_) == (("test",), "./.github/workflows/called.yml",
                                                    "github.ref == 'refs/heads/main'")
    # --job keeps the job and its needs; a filter that matches nothing says why.
    report = plan_local_runs(LocalRunOptions(directory=root, jobs=("test",), matrix={"os": ("bsd",)}))
    (plan,) = report.runs
    assert [j.id for j in plan.jobs] == ["prep", "test"]
    assert plan.jobs[1].skipped == "the matrix filter os:bsd matches none of its 4 combinations"
    assert not pheme_home.exists()


def test_dry_run_reports_invalid_files_and_checks_inputs_like_a_run(repos: Any) -> None:
    bad = "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n        uses: a/b@v1\n"
    dynamic = MATRIX.replace("[linux, mac]", "${{ fromJSON(vars.OSES) }}").replace("name: Matrix", "name: Dyn")
    root = repos.make({".github/workflows/bad.yml": bad, ".github/workflows/dyn.yml": dynamic,
                       ".github/workflows/called.yml": CALLED})
    seen: list[Any] = []
    report = plan_local_runs(LocalRunOptions(directory=root), on_problem=seen.append)
    assert not report.valid and seen == report.problems and seen[0].file == ".github/workflows/bad.yml"
    (plan,) = report.runs
    assert isinstance(plan.jobs[1].matrix, str) and "fromJSON(vars.OSES)" in plan.jobs[1].matrix
    dispatch = "on:\n  workflow_dispatch:\n    inputs:\n      n: {type: number}\njobs:\n  a:\n    runs-on: x\n    steps: [{run: echo}]\n"
    root = repos.make({".github/workflows/d.yml": dispatch}, name="d")
    with pytest.raises(UsageError, match="input 'n'"):
        plan_local_runs(LocalRunOptions(directory=root, event="workflow_dispatch", inputs={"n": "many"}))
