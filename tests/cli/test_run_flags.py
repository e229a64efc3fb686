"""`pheme run`'s act-style flags: --env-file, --var-file, --input-file, --matrix, -n/--dry-run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.cli.test_run_cmd import CI, make_repo, pheme, pheme_process

from pheme.storage import open_store


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private PHEME_HOME (a process started by a test inherits it)."""
    path = tmp_path / "pheme-home"
    monkeypatch.setenv("PHEME_HOME", str(path))
    monkeypatch.delenv("PHEME_DATABASE_URL", raising=False)
    return path

SHOW = """\
on: push
jobs:
  show:
    runs-on: ubuntu-latest
    steps:
      - run: echo "color=${{ vars.COLOR }} size=${{ vars.SIZE }} greeting=$GREETING who=$WHO"
"""

DISPATCH = """\
on:
  workflow_dispatch:
    inputs:
      n:
        type: number
        required: true
      dry-run:
        type: boolean
        default: false
      label:
        default: none
jobs:
  show:
    runs-on: ubuntu-latest
    steps:
      - run: echo "n=${{ inputs.n }} dry=${{ inputs.dry-run }} label=${{ inputs.label }}"
"""


# ------------------------------------------------------------------ dotenv files


def test_var_and_env_files_reach_the_steps_and_flags_win(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_repo(tmp_path, {".github/workflows/s.yml": SHOW})
    var_file = tmp_path / "vars.env"
    var_file.write_text("# team defaults\nCOLOR=red\nSIZE='large'\n")
    env_file = tmp_path / "env.env"
    env_file.write_text('export GREETING="hello there"\nWHO=file\n')
    code, out, err = pheme(capsys, "run", "-C", str(root), "--var-file", str(var_file), "--env-file", str(env_file),
                           "--var", "COLOR=blue", "--env", "WHO=flag")
    assert code == 0, err
    assert "[show] color=blue size=large greeting=hello there who=flag\n" in out


def test_input_file_feeds_workflow_dispatch_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_repo(tmp_path, {".github/workflows/d.yml": DISPATCH})
    input_file = tmp_path / "inputs.env"
    input_file.write_text("n=41\ndry-run=true\nlabel=from-file\n")  # input names may have dashes
    code, out, err = pheme(capsys, "run", "workflow_dispatch", "-C", str(root), "--input-file", str(input_file),
                           "--input", "label=from-flag")
    assert code == 0, err
    assert "[show] n=41 dry=true label=from-flag\n" in out
    input_file.write_text("n=many\n")  # checked like --input: before anything runs
    code, _, err = pheme(capsys, "run", "workflow_dispatch", "-C", str(root), "--input-file", str(input_file))
    assert code == 2 and "input 'n'" in err


@pytest.mark.parametrize("flag", ["--env-file", "--var-file", "--input-file", "--secrets-file"])
def test_a_malformed_file_is_one_line_with_file_and_line_exit_2_and_never_a_value(
    tmp_path: Path, flag: str
) -> None:
    root = make_repo(tmp_path, {".github/workflows/ci.yml": CI})
    bad = tmp_path / "bad.env"
    bad.write_text('OK=1\nQUOTED="multi\nline"\nhunter2-the-secret-value\n')
    proc = pheme_process(root, "run", flag, str(bad))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"pheme: {bad}:4:1: expected KEY=VALUE (no '=' found)"]
    assert "hunter2" not in proc.stdout + proc.stderr
    with open_store() as store:
        assert store.list_runs() == []


def test_a_missing_file_is_a_usage_error_naming_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_repo(tmp_path, {".github/workflows/ci.yml": CI})
    code, _, err = pheme(capsys, "run", "-C", str(root), "--var-file", str(tmp_path / "nope.env"))
    assert code == 2 and err.count("\n") == 1 and f"--var-file {tmp_path / 'nope.env'}:" in err


def test_a_repositorys_own_dotenv_files_are_never_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_repo(tmp_path, {".github/workflows/s.yml": SHOW, ".env": "GREETING=implicit\n",
                                ".vars": "COLOR=implicit\n", ".secrets": "X=1\n"})
    code, out, err = pheme(capsys, "run", "-C", str(root))
    assert code == 0, err
    assert "[show] color= size= greeting= who=\n" in out


# ------------------------------------------------------------------ --matrix

MATRIX = """\
name: M
on: push
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: echo lint
  test:
    strategy:
      matrix:
        os: [linux, mac]
        py: ["3.11", "3.12"]
    runs-on: ubuntu-latest
    steps:
      - name: Test
        run: echo "testing ${{ matrix.os }} ${{ matrix.py }}"
"""


def test_matrix_runs_only_the_matching_combination_and_the_store_lists_only_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_repo(tmp_path, {".github/workflows/m.yml": MATRIX})
    code, out, err = pheme(capsys, "run", "-C", str(root), "--matrix", "os:mac", "--matrix", "py:3.12", "--json")
    assert code == 0, err
    (run,) = json.loads(out)["runs"]
    assert [(j["name"], j["matrix"]) for j in run["jobs"]] == [
        ("lint", None), ("test (mac, 3.12)", {"os": "mac", "py": "3.12"})
    ]
    assert "testing mac 3.12" in err and "testing linux" not in err
    with open_store() as store:
        (stored,) = store.list_runs()
        assert [j.name for j in store.get_run(stored.id).jobs] == ["lint", "test (mac, 3.12)"]


def test_a_matrix_filter_matching_nothing_skips_the_job_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_repo(tmp_path, {".github/workflows/m.yml": MATRIX})
    code, out, _ = pheme(capsys, "run", "-C", str(root), "--matrix", "os:windows")
    assert code == 0
    assert "[test] - job skipped (the matrix filter os:windows matches none of its 4 combinations)" in out
    with open_store() as store:
        (stored,) = store.list_runs()
        log = "\n".join(store.read_log(stored.id, "test"))
    assert "the matrix filter os:windows matches none of its 4 combinations" in log
    code, _, err = pheme(capsys, "run", "-C", str(root), "--matrix", "os=windows")
    assert code == 2 and "--matrix: expected KEY:VALUE" in err


# ------------------------------------------------------------------ --dry-run


def test_dry_run_prints_the_plan_and_creates_no_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    root = make_repo(tmp_path, {".github/workflows/ci.yml": CI, ".github/workflows/m.yml": MATRIX})
    code, out, err = pheme(capsys, "run", "-C", str(root), "-n", "--matrix", "py:3.11")
    assert code == 0, err
    assert out.splitlines() == [
        ".github/workflows/ci.yml: CI — would run for push on refs/heads/main",
        "  build",
        "    1. Greet",
        '    2. Run echo "version=1.2.3" >> "$GITHUB_OUTPUT"',
        "  test needs build",
        "    matrix: test (3.11)",
        '    1. Run echo "testing ${{ matrix.py }} of ${{ needs.build.outputs.version }}"',
        "  deploy [if: false]",
        "    1. Run echo never",
        "",
        ".github/workflows/m.yml: M — would run for push on refs/heads/main",
        "  lint",
        "    1. Run echo lint",
        "  test",
        "    matrix: test (linux, 3.11), test (mac, 3.11)",
        "    1. Test",
    ]
    assert "nothing was run or recorded" in err
    assert not home.exists()  # no run, and not even an empty store
    # Nothing ran: a run afterwards is number 1.
    code, out, _ = pheme(capsys, "run", "-C", str(root), "--json", "-W", ".github/workflows/m.yml")
    assert code == 0 and json.loads(out)["runs"][0]["number"] == 1


def test_dry_run_json_is_one_document_and_invalid_files_exit_1(tmp_path: Path, home: Path) -> None:
    bad = "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n        uses: a/b@v1\n"
    root = make_repo(tmp_path, {".github/workflows/m.yml": MATRIX, ".github/workflows/bad.yml": bad})
    proc = pheme_process(root, "run", "--dry-run", "--json", "--job", "test")
    assert proc.returncode == 1  # bad.yml is invalid
    assert any(line.startswith(".github/workflows/bad.yml:") for line in proc.stderr.splitlines())
    doc = json.loads(proc.stdout)
    assert doc == {
        "dry_run": True,
        "runs": [{
            "workflow": "M",
            "file": ".github/workflows/m.yml",
            "event": "push",
            "ref": "refs/heads/main",
            "jobs": [{
                "id": "test",
                "name": "test",
                "matrix": [{"os": "linux", "py": "3.11"}, {"os": "linux", "py": "3.12"},
                           {"os": "mac", "py": "3.11"}, {"os": "mac", "py": "3.12"}],
                "needs": [],
                "steps": ["Test"],
            }],
        }],
    }
    assert not home.exists()
    (root / ".github/workflows/bad.yml").unlink()
    proc = pheme_process(root, "run", "-n", "--json", "--working-tree")
    assert proc.returncode == 0 and [r["file"] for r in json.loads(proc.stdout)["runs"]] == [".github/workflows/m.yml"]
