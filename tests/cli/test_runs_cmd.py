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


# --------------------------------------------------------------- --tail, --lines and the run filters


@pytest.fixture
def history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store (no repository needed) with run 1: 'big' (20,000 lines in 40 chunks) and 'small'."""
    home = tmp_path / "home"
    monkeypatch.setenv("PHEME_HOME", str(home))
    monkeypatch.delenv("PHEME_DATABASE_URL", raising=False)
    with open_store() as store:
        run = store.create_run("CI", ".github/workflows/ci.yml", "push", "refs/heads/main", "a" * 40)
        big = store.create_job(run.id, "big", "big")
        small = store.create_job(run.id, "small", "small")
        with store.log_writer(big, chunk_lines=500) as log:
            log.writelines(f"line {i}" for i in range(20_000))
        store.append_log(small, ["s0", "s1"])
        with store.batch():
            for job in (big, small):
                store.update_job(job, Status.COMPLETED, conclusion=Conclusion.SUCCESS)
            store.update_run(run.id, Status.COMPLETED, conclusion=Conclusion.SUCCESS)
    return home


def count_decoded_chunks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    from pheme.storage import _logs

    decoded: list[int] = []
    real = _logs._decode

    def counting(codec: int, data: bytes) -> list[str]:
        decoded.append(1)
        return real(codec, data)

    monkeypatch.setattr(_logs, "_decode", counting)
    return decoded


def test_logs_tail_prints_each_jobs_last_lines_reading_only_the_last_chunks(
    history: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded = count_decoded_chunks(monkeypatch)
    code, out, err = pheme(capsys, "logs", "1", "--tail", "3")
    assert (code, err) == (0, "")
    assert out == "[big] line 19997\n[big] line 19998\n[big] line 19999\n[small] s0\n[small] s1\n"
    assert len(decoded) == 2  # one chunk of the 40 of 'big', the only one of 'small'
    decoded.clear()
    code, out, _ = pheme(capsys, "logs", "1", "--job", "big", "--tail", "1200")
    assert out.splitlines() == [f"line {i}" for i in range(18_800, 20_000)]
    assert len(decoded) == 3  # 1,200 lines span three chunks of 500
    assert pheme(capsys, "logs", "1", "--tail", "0")[1] == ""
    code, out, _ = pheme(capsys, "logs", "1", "--job", "small", "--tail", "-1")  # kubectl's "all"
    assert out == "s0\ns1\n"


def test_logs_lines_prints_a_range_of_each_job(
    history: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded = count_decoded_chunks(monkeypatch)
    assert pheme(capsys, "logs", "1", "-j", "big", "--lines", "10498:10502")[1] == (
        "line 10498\nline 10499\nline 10500\nline 10501\n")  # fmt: skip
    assert len(decoded) == 2  # the chunks either side of line 10,500
    assert pheme(capsys, "logs", "1", "-j", "big", "--lines", ":2")[1] == "line 0\nline 1\n"
    assert pheme(capsys, "logs", "1", "-j", "big", "--lines", "19998:")[1] == "line 19998\nline 19999\n"
    assert pheme(capsys, "logs", "1", "-j", "big", "--lines", "7:7")[1] == ""
    assert pheme(capsys, "logs", "1", "-j", "big", "--lines", "30000:")[1] == ""
    code, out, _ = pheme(capsys, "logs", "1", "--lines", "1:")  # every job, prefixed
    assert code == 0 and out.startswith("[big] line 1\n[big] line 2\n") and out.endswith("[big] line 19999\n[small] s1\n")


def test_logs_tail_with_follow_on_a_completed_run_prints_the_tail_and_returns(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = pheme(capsys, "logs", "1", "--tail", "2", "--follow")
    assert code == 0 and out == "[big] line 19998\n[big] line 19999\n[small] s0\n[small] s1\n"
    code, out, _ = pheme(capsys, "logs", "1", "-j", "big", "--tail", "1", "-f")
    assert code == 0 and out == "line 19999\n"


def test_logs_tail_with_follow_prints_the_tail_then_new_lines(history: Path) -> None:
    with open_store() as store:
        run = store.create_run("CI", ".github/workflows/ci.yml", "push", "refs/heads/main", "b" * 40)
        job = store.create_job(run.id, "build", "build")
        store.append_log(job, [f"old {i}" for i in range(100)])
        store.update_run(run.id, Status.IN_PROGRESS)
        store.update_job(job, Status.IN_PROGRESS)
    follower = subprocess.Popen([sys.executable, "-m", "pheme", "logs", str(run.id), "--tail", "2", "-f"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert follower.stdout is not None
        assert [follower.stdout.readline(), follower.stdout.readline()] == ["[build] old 98\n", "[build] old 99\n"]
        with open_store() as store:
            store.append_log(job, ["new 0", "new 1"])
            store.update_job(job, Status.COMPLETED, conclusion=Conclusion.SUCCESS)
            store.update_run(run.id, Status.COMPLETED, conclusion=Conclusion.SUCCESS)
        out, err = follower.communicate(timeout=60)
        assert follower.returncode == 0, err
        assert out == "[build] new 0\n[build] new 1\n"
    finally:
        if follower.poll() is None:
            follower.kill()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("logs", "1", "--tail", "x"), "--tail: give a number of lines (0 or more, -1 for all), not 'x'"),
        (("logs", "1", "--tail", "-5"), "--tail: give a number of lines"),
        (("logs", "1", "--lines", "10"), "--lines: give A:B, A: or :B with line numbers from 0, not '10'"),
        (("logs", "1", "--lines", "a:b"), "--lines: give A:B"),
        (("logs", "1", "--lines", "-10:"), "(use --tail N for the last lines)"),
        (("logs", "1", "--lines", "20:10"), "--lines: the range 20:10 ends (10) before it starts (20)"),
        (("logs", "1", "--tail", "3", "--lines", "1:2"), "give --tail or --lines, not both"),
        (("logs", "1", "--lines", "1:", "-f"), "--lines reads a stored range and cannot --follow"),
        (("runs", "--status", "done"), "--status: 'done' is not one of queued, in_progress, waiting, completed, "
                                       "success, failure, cancelled, skipped"),
        (("runs", "--branch", " "), "--branch: give a branch name"),
        (("runs", "--event", ""), "--event: give an event name"),
    ],
)
def test_bad_values_are_one_line_and_exit_2(
    history: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, out, err = pheme(capsys, *args)
    assert code == 2 and out == ""
    assert err.startswith("pheme: ") and err.count("\n") == 1 and message in err


def test_runs_filters_by_status_branch_and_event_combined_with_workflow_and_limit(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_store() as store:  # run 1 (fixture): CI, push to main, success
        failed = store.create_run("CI", ".github/workflows/ci.yml", "pull_request", "refs/heads/dev", "c" * 40)
        store.update_run(failed.id, Status.COMPLETED, conclusion=Conclusion.FAILURE)  # 2
        running = store.create_run("Deploy", ".github/workflows/deploy.yml", "push", "refs/heads/dev", "d" * 40)
        store.update_run(running.id, Status.IN_PROGRESS)  # 3
        store.create_run("CI", ".github/workflows/ci.yml", "push", "refs/heads/dev", "e" * 40)  # 4, queued

    def ids(*args: str) -> list[int]:
        code, out, err = pheme(capsys, "runs", *args)
        assert code == 0, err
        return [int(line.split()[0]) for line in out.splitlines()[1:]]

    assert ids() == [4, 3, 2, 1]
    assert ids("--status", "failure") == [2]
    assert ids("--status", "completed") == [2, 1]
    assert ids("-s", "in_progress") == [3]
    assert ids("-s", "queued") == [4]
    assert ids("--branch", "dev") == [4, 3, 2]
    assert ids("--branch", "refs/heads/main") == [1]
    assert ids("--event", "push") == [4, 3, 1]
    assert ids("-b", "dev", "-e", "push") == [4, 3]
    assert ids("-b", "dev", "-e", "push", "-W", "ci.yml") == [4]
    assert ids("-b", "dev", "-n", "2") == [4, 3]
    assert ids("-s", "success", "-b", "main", "-e", "push", "-W", "CI") == [1]
    code, out, _ = pheme(capsys, "runs", "-s", "failure", "-b", "main")
    assert code == 0 and out == "no runs match status failure, branch main\n"
    # --json keeps its shape: the same objects as without filters.
    (everything,) = [r for r in json.loads(pheme(capsys, "runs", "--json")[1])["runs"] if r["id"] == 2]
    assert json.loads(pheme(capsys, "runs", "--json", "-s", "failure", "-e", "pull_request")[1]) == {"runs": [everything]}
