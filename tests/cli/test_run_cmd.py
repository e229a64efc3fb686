"""`pheme run` as users call it: real git repositories, the real CLI (in-process and as a process)."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pheme.cli import main
from pheme.cli._view import LiveView, PlainView, make_view
from pheme.core.runs import Conclusion, RunRecord
from pheme.execution.events import (
    JobFinished,
    JobRef,
    JobStarted,
    LogLines,
    RunStarted,
    StepFinished,
    StepRef,
    StepStarted,
)
from pheme.storage import open_store

GIT_ID = ("-c", "user.name=Ada Lovelace", "-c", "user.email=ada@example.com")

CI = """\
name: CI
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      version: ${{ steps.v.outputs.version }}
    steps:
      - name: Greet
        run: echo "hello from build"
      - id: v
        run: echo "version=1.2.3" >> "$GITHUB_OUTPUT"
  test:
    needs: build
    strategy:
      matrix:
        py: ["3.11", "3.12"]
    runs-on: ubuntu-latest
    steps:
      - run: echo "testing ${{ matrix.py }} of ${{ needs.build.outputs.version }}"
  deploy:
    if: false
    runs-on: ubuntu-latest
    steps:
      - run: echo never
"""

FAIL = "name: Boom\non: push\njobs:\n  boom:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo about to fail; exit 4\n"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *GIT_ID, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def make_repo(base: Path, files: dict[str, str], name: str = "proj") -> Path:
    root = base / name
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "pheme-home"
    monkeypatch.setenv("PHEME_HOME", str(path))
    monkeypatch.delenv("PHEME_DATABASE_URL", raising=False)
    return path


def pheme(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The CLI in-process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), out, err


def pheme_process(cwd: Path, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    """The CLI as a separate process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "pheme", *args], cwd=cwd, capture_output=True, text=True, timeout=120, **kw
    )


# ------------------------------------------------------------------ --json


def test_json_is_exactly_one_document_with_the_documented_shape(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {".github/workflows/ci.yml": CI})
    proc = pheme_process(root, "run", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # fails if there is anything but one document
    assert "[build] hello from build" in proc.stderr  # logs went to stderr
    (run,) = doc["runs"]
    assert set(run) == {"id", "number", "run_attempt", "workflow", "file", "event", "ref", "sha", "conclusion",
                        "started_at", "finished_at", "jobs"}
    assert run["run_attempt"] == 1  # a local run is always its first attempt
    assert (run["workflow"], run["file"], run["event"], run["ref"], run["number"]) == (
        "CI", ".github/workflows/ci.yml", "push", "refs/heads/main", 1)
    assert run["sha"] == git(root, "rev-parse", "HEAD")
    assert run["conclusion"] == "success"
    assert datetime.fromisoformat(run["started_at"]) <= datetime.fromisoformat(run["finished_at"])
    jobs = {(j["id"], json.dumps(j["matrix"])): j for j in run["jobs"]}
    assert sorted(jobs) == [("build", "null"), ("deploy", "null"), ("test", '{"py": "3.11"}'), ("test", '{"py": "3.12"}')]
    build = jobs[("build", "null")]
    assert build["outputs"] == {"version": "1.2.3"}
    assert [(s["id"], s["name"], s["outcome"], s["conclusion"]) for s in build["steps"]] == [
        (None, "Greet", "success", "success"),
        ("v", build["steps"][1]["name"], "success", "success"),
    ]
    assert build["steps"][1]["outputs"] == {"version": "1.2.3"}
    deploy = jobs[("deploy", "null")]
    assert deploy["conclusion"] == "skipped" and deploy["steps"] == []
    # `pheme runs --json` gives the same object.
    listed = json.loads(pheme_process(root, "runs", "--json").stdout)
    assert listed["runs"] == doc["runs"]


def test_a_failing_run_exits_1_and_says_where_the_logs_are(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_repo(tmp_path, {".github/workflows/boom.yml": FAIL})
    code, out, _err = pheme(capsys, "run", "-C", str(root))
    assert code == 1
    assert "[boom] about to fail" in out
    assert "[boom] ✗ job failed" in out
    assert "pheme logs 1 --job boom" in out
    code, out, _ = pheme(capsys, "run", "-C", str(root), "--json")
    assert code == 1 and json.loads(out)["runs"][0]["conclusion"] == "failure"


def test_quiet_shows_only_errors_and_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_repo(tmp_path, {".github/workflows/ci.yml": CI})
    code, out, _err = pheme(capsys, "run", "-C", str(root), "--quiet")
    assert code == 0
    assert "hello from build" not in out and "▶" not in out
    assert "✓ CI #1" in out and "test (3.12)" in out


# ------------------------------------------------------------ what runs


def test_dirty_tree_versus_working_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wf = "on: push\njobs:\n  cat:\n    runs-on: ubuntu-latest\n    steps:\n      - run: cat note.txt\n"
    root = make_repo(tmp_path, {".github/workflows/cat.yml": wf, "note.txt": "committed text\n"})
    (root / "note.txt").write_text("uncommitted text\n")
    _, out, _ = pheme(capsys, "run", "-C", str(root))
    assert "[cat] committed text" in out and "uncommitted" not in out
    _, out, _ = pheme(capsys, "run", "-C", str(root), "--working-tree")
    assert "[cat] uncommitted text" in out


def test_paths_filters_follow_before(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wf = "on:\n  push:\n    paths: ['docs/**']\njobs:\n  docs:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo docs changed\n"
    root = make_repo(tmp_path, {".github/workflows/docs.yml": wf, "docs/a.md": "a\n"})
    (root / "code.py").write_text("x = 1\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "code only")
    code, out, err = pheme(capsys, "run", "-C", str(root))
    assert code == 0 and "no workflow is triggered by push on refs/heads/main" in err
    assert "docs.yml: " in err and "docs/**" in err
    code, out, err = pheme(capsys, "run", "-C", str(root), "--before", "HEAD~1", "--json")
    assert code == 0 and json.loads(out)["runs"] == []
    first = git(root, "rev-list", "--max-parents=0", "HEAD")
    # From the empty tree: the root commit's files count as changed.
    code, out, _ = pheme(capsys, "run", "-C", str(root), "--before", "0000000000000000000000000000000000000000", "--json")
    assert code == 0 and len(json.loads(out)["runs"]) == 1, first


def test_ref_flag_and_tags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wf = "on:\n  push:\n    tags: ['v*']\njobs:\n  rel:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo \"ref=$GITHUB_REF name=$GITHUB_REF_NAME\"\n"
    root = make_repo(tmp_path, {".github/workflows/rel.yml": wf})
    code, _, err = pheme(capsys, "run", "-C", str(root), "--ref", "main")
    assert code == 0 and "no workflow is triggered" in err
    code, out, _ = pheme(capsys, "run", "-C", str(root), "--ref", "refs/tags/v1.0")
    assert code == 0 and "[rel] ref=refs/tags/v1.0 name=v1.0" in out


def test_workflow_and_job_selection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_repo(tmp_path, {".github/workflows/ci.yml": CI, ".github/workflows/boom.yml": FAIL})
    code, out, _ = pheme(capsys, "run", "-C", str(root), "--workflow", str(root / ".github/workflows/ci.yml"),
                         "--job", "build", "--json")
    assert code == 0
    (run,) = json.loads(out)["runs"]
    assert run["workflow"] == "CI" and [j["id"] for j in run["jobs"]] == ["build"]
    code, _, err = pheme(capsys, "run", "-C", str(root), "-W", ".github/workflows/nope.yml")
    assert code == 2 and "nope.yml: no such file" in err


def test_dispatch_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wf = ("on:\n  workflow_dispatch:\n    inputs:\n      n:\n        type: number\n        required: true\n"
          "jobs:\n  show:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo \"n=${{ inputs.n }} big=${{ inputs.n > 40 }}\"\n")
    root = make_repo(tmp_path, {".github/workflows/d.yml": wf})
    code, out, _ = pheme(capsys, "run", "workflow_dispatch", "-C", str(root), "--input", "n=41")
    assert code == 0 and "[show] n=41 big=true" in out
    code, _, err = pheme(capsys, "run", "workflow_dispatch", "-C", str(root), "--input", "n=many")
    assert code == 2 and "input 'n'" in err and "not a number" in err


# ------------------------------------------------------------------ secrets


def test_secrets_from_flags_env_and_file_are_masked_in_live_output_and_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    wf = ("on: push\njobs:\n  s:\n    runs-on: ubuntu-latest\n    steps:\n"
          "      - run: |\n          echo \"a=${{ secrets.A }} b=${{ secrets.B }} c=${{ secrets.C }}\"\n"
          "          echo \"v=${{ vars.COLOR }} e=$GREETING\"\n")
    root = make_repo(tmp_path, {".github/workflows/s.yml": wf})
    secrets_file = tmp_path / "secrets.env"
    secrets_file.write_text('# mine\nexport C="c-secret-value"\n')
    monkeypatch.setenv("B", "b-secret-value")
    code, out, err = pheme(capsys, "run", "-C", str(root), "-s", "A=a-secret-value", "--secret", "B",
                           "--secrets-file", str(secrets_file), "--var", "COLOR=blue", "--env", "GREETING=hi")
    assert code == 0, err
    assert "[s] a=*** b=*** c=***\n" in out and "[s] v=blue e=hi\n" in out
    assert "secret-value" not in out + err
    with open_store() as store:
        stored = "\n".join(store.read_log(1, "s"))
    assert "a=*** b=*** c=***" in stored and "secret-value" not in stored


def test_malformed_secrets_file_names_the_line_never_the_value(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {".github/workflows/ci.yml": CI})
    secrets_file = tmp_path / ".secrets"
    secrets_file.write_text('GOOD=1\nMULTI="a\nb"\nthis-is-the-hunter2-value\n')
    proc = pheme_process(root, "run", "--secrets-file", str(secrets_file))
    assert proc.returncode == 2  # a bad file named by a flag is a usage error, like --env-file's
    assert proc.stderr.strip().splitlines() == [f"pheme: {secrets_file}:4:1: expected KEY=VALUE (no '=' found)"]
    assert "hunter2" not in proc.stdout + proc.stderr
    with open_store() as store:
        assert store.list_runs() == []


# --------------------------------------------------------------- bad input


def test_invalid_workflow_is_reported_and_valid_ones_still_run(tmp_path: Path) -> None:
    bad = "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n        uses: actions/checkout@v4\n"
    root = make_repo(tmp_path, {".github/workflows/ci.yml": CI, ".github/workflows/bad.yml": bad})
    proc = pheme_process(root, "run", "--json")
    assert proc.returncode == 1
    problems = [line for line in proc.stderr.splitlines() if line.startswith(".github/workflows/bad.yml:")]
    assert problems and all(line.split(":")[1].isdigit() and line.split(":")[2].isdigit() for line in problems)
    assert [r["workflow"] for r in json.loads(proc.stdout)["runs"]] == ["CI"]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "pushh"], "unknown event 'pushh'"),
        (["run", "push", "--event", "pull_request"], "two different events"),
        (["run", "--secret", "=hunter2"], "--secret: expected KEY=VALUE or KEY"),
        (["run", "--var", "JUSTKEY"], "--var JUSTKEY: expected KEY=VALUE"),
        (["run", "--jobs", "0"], "--jobs"),
        (["run", "--before", "no-such-rev"], "unknown git revision: no-such-rev"),
        (["run", "--secrets-file", "/no/such/file"], "--secrets-file /no/such/file"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: list[str], needle: str
) -> None:
    root = make_repo(tmp_path, {".github/workflows/ci.yml": CI})
    monkeypatch.chdir(root)
    code, _out, err = pheme(capsys, *args)
    assert code == 2
    assert needle in err
    assert "hunter2" not in err
    assert "Traceback" not in err


def test_not_a_git_repository_and_no_workflows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    code, _, err = pheme(capsys, "run", "-C", str(plain))
    assert code == 1 and err.startswith("pheme: not a git repository: ") and err.count("\n") == 1
    empty = make_repo(tmp_path, {"README.md": "hi\n"}, name="empty")
    code, _, err = pheme(capsys, "run", "-C", str(empty))
    assert code == 1 and err.startswith("pheme: no workflows found: ") and err.count("\n") == 1


def test_missing_shell_fails_the_step_with_a_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wf = "on: push\njobs:\n  sh:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n        shell: pwsh\n"
    root = make_repo(tmp_path, {".github/workflows/sh.yml": wf})
    env_path = os.environ["PATH"]
    if any((Path(p) / "pwsh").exists() for p in env_path.split(os.pathsep)):
        pytest.skip("pwsh is installed here")
    code, out, _err = pheme(capsys, "run", "-C", str(root))
    assert code == 1
    assert "[sh] Error: shell 'pwsh' not found" in out


def test_unwritable_home_is_one_line_and_runs_nothing(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {".github/workflows/ci.yml": CI})
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    env = dict(os.environ, PHEME_HOME=str(blocker / "home"))
    proc = pheme_process(root, "run", env=env)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pheme: PHEME_HOME ") and "not usable" in lines[0]
    assert "hello from build" not in proc.stdout


def test_newer_or_corrupt_database_is_refused_untouched(tmp_path: Path, home: Path) -> None:
    root = make_repo(tmp_path, {".github/workflows/ci.yml": CI})
    assert pheme_process(root, "run", "-q").returncode == 0
    db = home / "pheme.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE pheme_schema_version SET version_num = '0099_future'")
    conn.close()
    before = db.read_bytes()
    for command in (["run"], ["runs"], ["logs", "1"]):
        proc = pheme_process(root, *command)
        assert proc.returncode == 1
        assert proc.stderr.strip().splitlines() == [
            f"pheme: database at {db} was created by a newer Pheme (revision 0099_future); upgrade Pheme"
        ]
    assert db.read_bytes() == before
    db.write_bytes(b"\x00" * 100 + before[100:])
    proc = pheme_process(root, "run")
    assert proc.returncode == 1 and "is corrupt or not a Pheme database" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


# ----------------------------------------------------------------- signals


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_cancels_the_run_records_it_and_exits_128_plus_signal(
    tmp_path: Path, home: Path, sig: int, code: int
) -> None:
    wf = ("name: Slow\non: push\njobs:\n  slow:\n    runs-on: ubuntu-latest\n    steps:\n"
          "      - run: echo started; sleep 60\n      - if: always()\n        run: echo cleaned up\n")
    root = make_repo(tmp_path, {".github/workflows/slow.yml": wf})
    proc = subprocess.Popen([sys.executable, "-m", "pheme", "run"], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        if "[slow] started" in line or time.monotonic() > deadline:
            break
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "cleaned up" in out
    with open_store() as store:
        (run,) = store.list_runs()
        assert run.conclusion == Conclusion.CANCELLED


def test_a_second_ctrl_c_aborts_at_once_and_leaves_nothing_running(tmp_path: Path, home: Path) -> None:
    # The step ignores SIGTERM, so a graceful cancel would wait out the 5 s kill grace.
    wf = ("on: push\njobs:\n  stubborn:\n    runs-on: ubuntu-latest\n    steps:\n      - run: |\n"
          "          echo started\n          exec python3 -c \"import signal, time; "
          "signal.signal(signal.SIGTERM, signal.SIG_IGN); signal.signal(signal.SIGINT, signal.SIG_IGN); "
          "print('ignoring', flush=True); time.sleep(120)\"\n")
    root = make_repo(tmp_path, {".github/workflows/s.yml": wf})
    proc = subprocess.Popen([sys.executable, "-m", "pheme", "run"], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "[stubborn] ignoring" in line:
            break
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 4  # well inside the 5 s grace of a graceful cancel
    assert proc.returncode == 130
    assert "aborted (the run is recorded as cancelled)" in err
    with open_store() as store:
        (run,) = store.list_runs()
        assert run.conclusion == Conclusion.CANCELLED
    assert git(root, "worktree", "list").count("\n") == 0
    leftover = subprocess.run(["pgrep", "-f", "signal.SIG_IGN"], capture_output=True, text=True).stdout.split()
    assert leftover == []


# -------------------------------------------------------------------- views


JOB = JobRef(key="build", job_id="build", name="build")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _events(fail: bool) -> list[Any]:
    step = StepRef(1, None, "Compile")
    return [
        RunStarted("CI", ".github/workflows/ci.yml", T0),
        JobStarted(JOB, T0),
        StepStarted(JOB, step, T0),
        LogLines(JOB, ["before group", "##[group]Details", "hidden detail", "##[endgroup]", "##[error]it broke"], step),
        StepFinished(JOB, step, "failure" if fail else "success", "failure" if fail else "success", {},
                     T0 + timedelta(seconds=1.25)),
        JobFinished(JOB, "failure" if fail else "success", {}, T0 + timedelta(seconds=2)),
    ]


class _Workflow:
    display_name = "CI"


def _record() -> RunRecord:
    return RunRecord(id=7, number=3, workflow="CI", file=".github/workflows/ci.yml", event="push",
                     ref="refs/heads/main", sha="0" * 40)


@pytest.mark.parametrize("fail", [False, True])
def test_plain_view_prefixes_lines_by_job_folds_groups_and_shows_step_results(fail: bool) -> None:
    stream = io.StringIO()
    view = PlainView(stream)
    observer = view.observer(_record(), _Workflow())  # type: ignore[arg-type]
    for event in _events(fail=fail):
        observer(event)
    view.close()
    lines = stream.getvalue().splitlines()
    assert "▶ CI #3 (.github/workflows/ci.yml) · run 7" in lines
    assert "[build] before group" in lines
    assert "[build] ▸ Details" in lines
    assert ("[build]   hidden detail" in lines) is fail  # folded unless the step fails
    assert "[build] Error: it broke" in lines
    if fail:
        assert lines[-2:] == ["[build] ✗ Compile (1.2s)", "[build] ✗ job failed (2.0s)"]
    else:
        assert lines[-2:] == ["[build] ✓ Compile (1.2s)", "[build] ✓ job succeeded (2.0s)"]


def test_plain_view_writes_in_batches() -> None:
    class Counting(io.StringIO):
        writes = 0

        def write(self, s: str) -> int:
            Counting.writes += 1
            return super().write(s)

    stream = Counting()
    view = PlainView(stream)
    observer = view.observer(_record(), _Workflow())  # type: ignore[arg-type]
    for i in range(100):
        observer(LogLines(JOB, [f"line {i}-{n}" for n in range(1000)]))
    view.close()
    assert stream.getvalue().count("\n") == 100_000
    assert Counting.writes <= 101


def test_live_view_folds_groups_unless_the_step_fails() -> None:
    for fail in (False, True):
        stream = io.StringIO()
        view = LiveView(stream)
        observer = view.observer(_record(), _Workflow())  # type: ignore[arg-type]
        for event in _events(fail=fail):
            observer(event)
        view.close()
        text = stream.getvalue()
        assert "[build] before group" in text and "[build] ▸ Details" in text
        assert "[build] Error: it broke" in text
        assert ("hidden detail" in text) is fail


def test_make_view_picks_plain_for_pipes() -> None:
    assert isinstance(make_view(io.StringIO()), PlainView)


def test_views_find_markers_inside_output_blocks_and_ignore_other_hashes() -> None:
    from pheme.execution.events import LogBlock

    for quiet in (False, True):
        stream = io.StringIO()
        view = PlainView(stream, quiet=quiet)
        observer = view.observer(_record(), _Workflow())  # type: ignore[arg-type]
        observer(LogLines(JOB, LogBlock("# a comment\nx ##[error]not at a line start\n#")))
        observer(LogLines(JOB, LogBlock("plain\n##[error]found in a block\nafter")))
        view.close()
        lines = stream.getvalue().splitlines()
        assert "[build] Error: found in a block" in lines
        assert ("[build] # a comment" in lines) is not quiet
        assert ("[build] x ##[error]not at a line start" in lines) is not quiet
        assert not any("Error: not at a line start" in line for line in lines)


def test_live_view_shows_the_last_lines_of_a_big_block_and_how_many_it_skipped() -> None:
    from pheme.execution.events import LogBlock

    stream = io.StringIO()
    view = LiveView(stream)
    observer = view.observer(_record(), _Workflow())  # type: ignore[arg-type]
    observer(LogLines(JOB, LogBlock("\n".join(f"line {i}" for i in range(10_000)))))
    view.close()
    text = stream.getvalue()
    assert "… 9900 lines not shown (all are stored: pheme logs 7)" in text
    assert "[build] line 9999" in text and "[build] line 9900" in text and "[build] line 9899\n" not in text


@pytest.mark.parametrize("fail", [False, True])
def test_plain_view_handles_markers_inside_a_block_like_separate_lines(fail: bool) -> None:
    from pheme.execution.events import LogBlock

    step = StepRef(1, None, "Compile")
    stream = io.StringIO()
    view = PlainView(stream)
    observer = view.observer(_record(), _Workflow())  # type: ignore[arg-type]
    block = "a\nb\n##[group]Details\nc\n\nd\n##[endgroup]\ne\n##[error]bad\nf\n##[group]Second\ng"
    observer(LogLines(JOB, LogBlock(block), step))
    observer(StepFinished(JOB, step, "failure" if fail else "success", "failure" if fail else "success", {}, T0))
    view.close()
    lines = stream.getvalue().splitlines()
    shown = ["[build] a", "[build] b", "[build] ▸ Details", "[build] e", "[build] Error: bad", "[build] f",
             "[build] ▸ Second"]  # fmt: skip
    folded = ["[build]   c", "[build]   ", "[build]   d", "[build]   g"]
    assert lines[: len(shown)] == shown
    assert lines[len(shown) : -1] == (folded if fail else [])
