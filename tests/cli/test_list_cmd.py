"""`pheme list`: workflows, jobs and trigger decisions, through the real loader."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from pheme.cli import main
from pheme.cli.list_cmd import collect, render_table

CI = """\
name: CI
on:
  push:
    branches: [main]
  pull_request:
    branches: [main]
jobs:
  build:
    name: Build it
    runs-on: ubuntu-latest
    steps:
      - run: echo build
  test:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: echo test
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: echo lint
  report:
    needs: [test, lint]
    runs-on: ubuntu-latest
    steps:
      - run: echo report
"""

RELEASE = """\
on:
  push:
    tags: ['v*']
jobs:
  publish:
    runs-on: ubuntu-latest
    steps:
      - run: echo publish
"""

INVALID = """\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo hi
  test:
    runs-on: ubuntu-latest
    needs: [build, ghost]
    steps:
      - run: echo hi
"""


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    git(tmp_path, "init", "-q")
    git(tmp_path, "symbolic-ref", "HEAD", "refs/heads/main")
    wf = tmp_path / ".github" / "workflows"
    wf.mkdir(parents=True)
    (wf / "ci.yml").write_text(CI)
    (wf / "release.yaml").write_text(RELEASE)
    (wf / "notes.txt").write_text("not a workflow")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")  # the git top-level is found from a subdirectory
    return tmp_path


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(["list", *args])
    out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 1), out, err


def listed(out: str) -> dict[str, dict[str, Any]]:
    return {w["file"]: w for w in json.loads(out)["workflows"]}


def test_json_lists_workflows_jobs_and_triggers_for_the_current_branch(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["event"] == "push" and doc["ref"] == "refs/heads/main"
    items = listed(out)
    assert set(items) == {".github/workflows/ci.yml", ".github/workflows/release.yaml"}
    ci = items[".github/workflows/ci.yml"]
    assert (ci["name"], ci["valid"], ci["triggered"], ci["reason"]) == ("CI", True, True, None)
    assert ci["jobs"] == [
        {"id": "build", "name": "Build it", "needs": []},
        {"id": "test", "name": "test", "needs": ["build"]},
        {"id": "lint", "name": "lint", "needs": []},
        {"id": "report", "name": "report", "needs": ["test", "lint"]},
    ]
    release = items[".github/workflows/release.yaml"]
    assert release["triggered"] is False
    assert "branch 'main'" in release["reason"]


def test_ref_option_plain_names_are_branches_and_tags_work(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(["--json", "--ref", "dev"], capsys)
    items = listed(out)
    assert items[".github/workflows/ci.yml"]["triggered"] is False
    assert "branch 'dev'" in items[".github/workflows/ci.yml"]["reason"]

    _, out, _ = run(["--json", "--ref", "refs/tags/v1.0"], capsys)
    items = listed(out)
    assert items[".github/workflows/release.yaml"]["triggered"] is True
    assert items[".github/workflows/ci.yml"]["triggered"] is False


def test_event_option(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(["--json", "--event", "pull_request", "--ref", "main"], capsys)
    items = listed(out)
    assert items[".github/workflows/ci.yml"]["triggered"] is True
    release = items[".github/workflows/release.yaml"]
    assert release["triggered"] is False
    assert "pull_request" in release["reason"]


def test_unknown_event_is_one_line_and_exit_2(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["--event", "pussh"], capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "unknown event 'pussh'" in err


def test_plain_output_when_not_a_terminal(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([], capsys)
    assert code == 0
    lines = out.splitlines()
    assert ".github/workflows/ci.yml: CI — triggered" in lines
    assert "  build (Build it)" in lines
    assert "  report needs test, lint" in lines
    assert any(line.startswith(".github/workflows/release.yaml — not triggered: ") for line in lines)
    assert not any("notes.txt" in line for line in lines)


def test_invalid_workflow_is_listed_with_its_first_problem_and_exit_1(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".github" / "workflows" / "broken.yml").write_text(INVALID)
    code, out, _ = run(["--json"], capsys)
    assert code == 1
    broken = listed(out)[".github/workflows/broken.yml"]
    assert broken["valid"] is False
    assert broken["reason"].startswith(".github/workflows/broken.yml:")
    assert "ghost" in broken["reason"]
    assert listed(out)[".github/workflows/ci.yml"]["valid"] is True

    code, out, _ = run([], capsys)
    assert code == 1
    assert any(line.startswith(".github/workflows/broken.yml — invalid: ") for line in out.splitlines())


def test_paths_select_files_or_directories(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--json", str(repo / ".github" / "workflows" / "release.yaml")], capsys)
    assert code == 0
    assert list(listed(out)) == [".github/workflows/release.yaml"]
    code, out, _ = run(["--json", str(repo)], capsys)
    assert len(listed(out)) == 2


def test_missing_path(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["nowhere.yml"], capsys)
    assert code == 2
    assert "no such file or directory: nowhere.yml" in err


def test_no_workflows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(["--json"], capsys)
    assert code == 0
    assert json.loads(out)["workflows"] == []


def test_rich_table_shows_every_workflow_and_status(repo: Path) -> None:
    (repo / ".github" / "workflows" / "broken.yml").write_text(INVALID)
    event, items = collect([], "push", None, repo)
    buffer = io.StringIO()
    render_table(event, items, Console(file=buffer, width=200, force_terminal=False))
    text = buffer.getvalue()
    assert "Workflows for push refs/heads/main" in text
    for expected in (
        "ci.yml",
        "release.yaml",
        "broken.yml",
        "invalid",
        "build (Build it)",
        "yes",
        "no: branch 'main'",
    ):
        assert expected in text
