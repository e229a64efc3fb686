"""`pheme actions list` / `pheme actions vendor`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from pheme.cli import main

WORKFLOW = """\
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: ./.github/actions/local
      - uses: acme/vendored@v1
      - uses: acme/missing@v2
      - uses: docker://alpine:3
"""


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".github/workflows").mkdir(parents=True)
    (tmp_path / ".github/workflows/ci.yml").write_text(WORKFLOW)
    (tmp_path / ".github/actions/local").mkdir(parents=True)
    (tmp_path / ".github/actions/local/action.yml").write_text(
        "runs:\n  using: composite\n  steps:\n    - uses: actions/setup-node@v4\n"
    )
    vendor = tmp_path / "vendor"
    (vendor / "acme/vendored@v1").mkdir(parents=True)
    (vendor / "acme/vendored@v1/action.yml").write_text("runs:\n  using: node20\n  main: index.js\n")
    monkeypatch.setenv("PHEME_ACTIONS_PATH", str(vendor))
    monkeypatch.setenv("PHEME_HOME", str(tmp_path / "home"))
    return tmp_path


def test_list_shows_how_each_uses_resolves(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["actions", "list", "--dir", str(repo), "--json"], capsys)
    kinds = {(a["uses"], a["kind"]) for a in json.loads(out)["actions"]}
    assert kinds == {
        ("actions/checkout@v4", "builtin"),
        ("./.github/actions/local", "local"),
        ("acme/vendored@v1", "vendored"),
        ("acme/missing@v2", "missing"),
        ("docker://alpine:3", "docker"),
        ("actions/setup-node@v4", "builtin"),  # found inside the local composite action
    }
    assert code == 1  # something is missing
    code, out, _ = run_cli(["actions", "list", "--dir", str(repo)], capsys)
    assert "pheme actions vendor acme/missing@v2" in out
    assert ".github/workflows/ci.yml:9" in out


def _git_repo(path: Path) -> None:
    path.mkdir()
    (path / "action.yml").write_text("runs:\n  using: composite\n  steps: []\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "x"], ["tag", "v1"]):
        subprocess.run(["git", "-C", str(path), *args], check=True, env=env)


def test_vendor_from_a_mirror_then_list_finds_it(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mirror = repo / "mirror"
    _git_repo(mirror)
    code, out, err = run_cli(["actions", "vendor", "acme/missing@v1", "--from", str(mirror)], capsys)
    assert code == 0, err
    assert "vendored acme/missing@v1" in out
    dest = repo / "vendor" / "acme" / "missing@v1"
    assert (dest / "action.yml").is_file() and not (dest / ".git").exists()
    code, _, err = run_cli(["actions", "vendor", "acme/missing@v1", "--from", str(mirror)], capsys)
    assert code == 1 and "already exists" in err


def test_vendor_without_network_is_one_clear_line(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["actions", "vendor", "acme/x@v1", "--from", str(repo / "no-such-mirror")], capsys)
    assert code == 1
    assert err.startswith("pheme: cannot vendor acme/x@v1") and "needs the network" in err
    assert len(err.strip().splitlines()) == 1
