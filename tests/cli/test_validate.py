"""`pheme validate`: every problem as file:line:col: message, exit 1 when any."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pheme.cli import main

GOOD = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n"
BAD = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    foo: 1\n    steps:\n      - run: echo hi\n"


def run(args: list[str], cwd: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    old = Path.cwd()
    os.chdir(cwd)
    try:
        with pytest.raises(SystemExit) as info:
            main(["validate", *args])
    finally:
        os.chdir(old)
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    wf = tmp_path / ".github" / "workflows"
    wf.mkdir(parents=True)
    (wf / "good.yml").write_text(GOOD)
    (wf / "bad.yaml").write_text(BAD)
    (wf / "notes.txt").write_text("not a workflow")
    return tmp_path


def test_default_is_the_repos_workflows_even_from_a_subdirectory(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sub = repo / "src" / "deep"
    sub.mkdir(parents=True)
    code, out, err = run([], sub, capsys)
    assert code == 1
    assert out.splitlines() == ["../../.github/workflows/bad.yaml:5:5: Unexpected value 'foo'"]
    assert err.strip() == "2 workflows, 1 problem"


def test_paths_are_shown_as_given_and_clean_files_exit_0(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run([".github/workflows/good.yml"], repo, capsys)
    assert (code, out, err.strip()) == (0, "", "1 workflow, 0 problems")
    code, out, _err = run([".github/workflows"], repo, capsys)
    assert code == 1
    assert out == ".github/workflows/bad.yaml:5:5: Unexpected value 'foo'\n"


def test_json_output(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(["--json"], repo, capsys)
    assert code == 1
    data = json.loads(out)
    assert data == {
        "workflows": [
            {
                "file": ".github/workflows/bad.yaml",
                "valid": False,
                "problems": [{"line": 5, "col": 5, "message": "Unexpected value 'foo'"}],
            },
            {"file": ".github/workflows/good.yml", "valid": True, "problems": []},
        ]
    }


def test_no_workflows_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([], tmp_path, capsys)
    assert code == 1 and out == ""
    assert (
        err.strip() == f"pheme: no workflow files (*.yml, *.yaml) found in {tmp_path / '.github/workflows'}"
    )


def test_unreadable_and_missing_files_are_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "latin1.yml").write_bytes(b"name: caf\xe9\non: push\n")
    code, out, err = run(["latin1.yml", "gone.yml"], tmp_path, capsys)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("latin1.yml:1:1: cannot read file: not UTF-8")
    assert lines[1] == "gone.yml:1:1: no such file or directory"
    assert "Traceback" not in err


def test_local_called_workflows_are_checked(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wf = repo / ".github" / "workflows"
    (wf / "bad.yaml").unlink()
    (wf / "callee.yml").write_text(
        "on:\n  workflow_call:\n    inputs:\n      who:\n        type: string\n        required: true\n"
        "jobs:\n  a:\n    runs-on: x\n    steps: [{run: echo}]\n"
    )
    (wf / "caller.yml").write_text("on: push\njobs:\n  call:\n    uses: ./.github/workflows/callee.yml\n")
    code, out, _err = run([], repo, capsys)
    assert code == 1
    assert (
        out == ".github/workflows/caller.yml:4:11: Input who is required, but not provided while calling.\n"
    )
