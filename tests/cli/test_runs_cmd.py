"""`pheme runs`, `pheme runs show` and `pheme logs` over a store filled by real runs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pheme.cli import main
from pheme.core.runs import Conclusion, Status
from pheme.storage import open_store

GIT_ID = ("-c", "user.name=Ada Lovelace", "-c", "user.email=ada@example.com")

CI = """\
name: CI
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      v: ${{ steps.v.outputs.v }}
    steps:
      - run: echo "build log line"; echo "token ${{ secrets.TOKEN }}"
      - id: v
        run: echo "v=7" >> "$GITHUB_OUTPUT"
  test:
    needs: build
    strategy:
      matrix:
        n: [1, 2]
    runs-on: ubuntu-latest
    steps:
      - run: echo "test ${{ matrix.n }}"
"""
OTHER = "name: Other\non: push\njobs:\n  o:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo other\n"


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *GIT_ID, *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PHEME_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PHEME_DATABASE_URL", raising=False)
    root = tmp_path / "proj"
    (root / ".github/workflows").mkdir(parents=True)
    (root / ".github/workflows/ci.yml").write_text(CI)
    (root / ".github/workflows/other.yml").write_text(OTHER)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def pheme(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), out, err


def test_runs_lists_newest_first_with_numbers_per_workflow(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = pheme(capsys, "runs")
    assert code == 0 and "no runs recorded yet" in out
    for _ in range(2):
        assert pheme(capsys, "run", "-C", str(repo), "-q", "-s", "TOKEN=tok-value-123")[0] == 0
    code, out, _ = pheme(capsys, "runs")
    rows = [line.split() for line in out.strip().splitlines()]
    assert rows[0][:3] == ["ID", "NUM", "WORKFLOW"]
    assert [(r[0], r[1], r[2]) for r in rows[1:]] == [("4", "#2", "Other"), ("3", "#2", "CI"), ("2", "#1", "Other"), ("1", "#1", "CI")]
    code, out, _ = pheme(capsys, "runs", "--workflow", "ci.yml", "--limit", "1", "--json")
    (run,) = json.loads(out)["runs"]
    assert (run["id"], run["number"], run["workflow"], run["conclusion"]) == (3, 2, "CI", "success")
    assert [j["id"] for j in run["jobs"]] == ["build", "test", "test"]


def test_runs_show_and_its_json(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pheme(capsys, "run", "-C", str(repo), "-q", "-W", ".github/workflows/ci.yml")
    code, out, _ = pheme(capsys, "runs", "show", "1")
    assert code == 0
    assert "run 1: CI #1 (.github/workflows/ci.yml)" in out
    assert "test (1)" in out and "(v)" in out and "v = 7" in out
    code, out, _ = pheme(capsys, "runs", "show", "1", "--json")
    run = json.loads(out)
    assert run["jobs"][0]["outputs"] == {"v": "7"} and run["jobs"][1]["matrix"] == {"n": 1}
    code, _, err = pheme(capsys, "runs", "show", "42")
    assert code == 1 and err == "pheme: run 42 not found\n"


def test_runs_show_and_logs_name_the_attempt(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pheme(capsys, "run", "-C", str(repo), "-q", "-W", ".github/workflows/ci.yml")
    code, out, _ = pheme(capsys, "runs", "show", "1")
    assert "run 1: CI #1 (.github/workflows/ci.yml) · attempt 1\n" in out  # a local run is attempt 1
    with open_store() as store:  # as the server's "re-run failed jobs" leaves it: build carried over
        first = store.get_run(1)
        build = next(j for j in first.jobs if j.key == "build")
        store.new_attempt(1, reuse=[build.id])
        store.update_run(1, Status.IN_PROGRESS)
        retest = store.create_job(1, "test", "test (1)", {"n": 1})
        store.append_log(retest, ["test 1 again"])
        store.update_job(retest, Status.COMPLETED, conclusion=Conclusion.SUCCESS)
        store.update_run(1, Status.COMPLETED, conclusion=Conclusion.SUCCESS)
    code, out, _ = pheme(capsys, "runs", "show", "1")
    assert code == 0 and "run 1: CI #1 (.github/workflows/ci.yml) · attempt 2 of 2" in out
    assert "build  [build, job id" in out and "success (carried over from an earlier attempt)" in out
    code, out, _ = pheme(capsys, "runs", "show", "1", "--json")
    assert json.loads(out)["run_attempt"] == 2 and len(json.loads(out)["jobs"]) == 2
    code, out, _ = pheme(capsys, "runs", "show", "1", "--attempt", "1", "--json")
    assert (json.loads(out)["run_attempt"], len(json.loads(out)["jobs"])) == (1, 3)
    code, out, _ = pheme(capsys, "logs", "1", "--job", "build")
    assert "build log line" in out  # the carried-over job's log is the one of attempt 1
    code, out, _ = pheme(capsys, "logs", "1")
    assert "[test (1)] test 1 again" in out and "[test (2)]" not in out
    old_test = next(j for j in first.jobs if j.name == "test (2)")
    code, out, _ = pheme(capsys, "logs", "1", "--job", str(old_test.id))  # an attempt-1 job id
    assert code == 0 and "test 2" in out
    code, out, _ = pheme(capsys, "logs", "1", "--attempt", "1")
    assert "[test (2)] test 2" in out
    code, _, err = pheme(capsys, "runs", "show", "1", "--attempt", "5")
    assert code == 1 and err == "pheme: run 1 has no attempt 5 (attempts: 1-2)\n"


def test_logs_by_job_key_name_and_id_are_masked(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pheme(capsys, "run", "-C", str(repo), "-q", "-W", ".github/workflows/ci.yml", "-s", "TOKEN=tok-value-123")
    code, out, _ = pheme(capsys, "logs", "1", "--job", "build")
    assert code == 0 and "build log line" in out and "token ***" in out and "tok-value-123" not in out
    assert not out.startswith("[")  # one job: plain lines
    code, out, _ = pheme(capsys, "logs", "1", "--job", "test")  # a matrix key: every combination, prefixed
    assert "[test (1)] test 1" in out and "[test (2)] test 2" in out
    code, out, _ = pheme(capsys, "logs", "1", "--job", "test (2)")
    assert "test 2" in out and "test 1" not in out
    with open_store() as store:
        job_id = store.get_run(1).jobs[0].id
    code, out, _ = pheme(capsys, "logs", "1", "--job", str(job_id))
    assert "build log line" in out
    code, out, _ = pheme(capsys, "logs", "1")
    assert "[build] build log line" in out and "[test (2)] test 2" in out
    code, _, err = pheme(capsys, "logs", "1", "--job", "nope")
    assert code == 1 and "run 1 has no job 'nope' (jobs: build, test)" in err


def test_logs_follow_streams_until_the_run_completes(repo: Path, tmp_path: Path) -> None:
    slow = ("name: Slow\non: push\njobs:\n  s:\n    runs-on: ubuntu-latest\n    steps:\n"
            "      - run: |\n          echo first\n          sleep 1.5\n          echo second\n")
    (repo / ".github/workflows/slow.yml").write_text(slow)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "slow")
    runner = subprocess.Popen([sys.executable, "-m", "pheme", "run", "-q", "-W", ".github/workflows/slow.yml"],
                              cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with open_store() as store:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                runs = store.list_runs()
                if runs and runs[0].status == Status.IN_PROGRESS:
                    break
                time.sleep(0.05)
        follower = subprocess.run([sys.executable, "-m", "pheme", "logs", "1", "--follow"], cwd=repo,
                                  capture_output=True, text=True, timeout=60)
        assert follower.returncode == 0, follower.stderr
        lines = follower.stdout.splitlines()
        assert "[s] first" in lines and "[s] second" in lines
        assert runner.wait(60) == 0
    finally:
        if runner.poll() is None:
            runner.kill()


def test_runs_works_without_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PHEME_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    code, out, _ = pheme(capsys, "runs", "--json")
    assert code == 0 and json.loads(out) == {"runs": []}
