"""`pheme deploy`, `pheme rollback`, `pheme rollout`, `pheme deployments`, `pheme agent` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pheme.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests"))
from deploy.conftest import make_project  # noqa: E402

PHEME = str(Path(sys.executable).parent / "pheme")
DEPLOY = """\
services:
  api:
    artifact: dist/pheme-api-{version}.pyz
    command: python3 {artifact}
    env: {PORT: "{port}", APP_VERSION: "{version}"}
    health: {path: /health, periodSeconds: 0.2}
environments:
  staging:
    target: local
    strategy: {blueGreen: {scaleDownDelaySeconds: 300}}
    progressDeadlineSeconds: 20
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "home"
    monkeypatch.setenv("PHEME_HOME", str(path))
    monkeypatch.delenv("PHEME_DATABASE_URL", raising=False)
    for name in ("GITHUB_WORKFLOW", "GITHUB_RUN_NUMBER", "GITHUB_SHA", "GITHUB_OUTPUT"):
        monkeypatch.delenv(name, raising=False)
    yield path
    subprocess.run([PHEME, "agent", "stop"], capture_output=True, check=False, timeout=120)


def run(args: list[str], cwd: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    old = Path.cwd()
    os.chdir(cwd)
    try:
        with pytest.raises(SystemExit) as info:
            main(args)
    finally:
        os.chdir(old)
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def pheme(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PHEME, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_a_bad_deploy_file_is_one_line_with_its_position(tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".pheme").mkdir()
    (tmp_path / ".pheme" / "deploy.yml").write_text("services:\n  api: {command: x, replica: 2}\nenvironments: {}\n")
    code, _, err = run(["deploy", "api", "--env", "staging", "--version", "1"], tmp_path, capsys)
    assert code == 1
    assert err == "pheme: .pheme/deploy.yml:2:21: unknown key 'replica' in service 'api' (expected one of: image, command, artifact, ports, env, health, replicas)\n"


def test_unknown_environment_and_missing_file_are_usage_errors(tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["deploy", "api", "--env", "staging", "--version", "1"], tmp_path, capsys)
    assert code == 2 and "no deploy file: .pheme/deploy.yml not found" in err
    project = make_project(tmp_path, DEPLOY, ("1.0.0",))
    code, _, err = run(["deploy", "api", "--env", "prod", "--version", "1.0.0"], project, capsys)
    assert (code, err) == (2, "pheme: unknown environment 'prod' (environments in .pheme/deploy.yml: staging)\n")
    code, _, err = run(["deploy", "api", "--env", "staging", "--version", "1.0.0", "--strategy", "linear"], project, capsys)
    assert code == 2 and "unknown strategy 'linear'" in err


def test_no_deployments_yet(tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["deployments", "--json"], tmp_path, capsys)
    assert (code, json.loads(out)) == (0, {"deployments": []})
    code, out, _ = run(["deployments"], tmp_path, capsys)
    assert "no deployments recorded yet" in out


def test_deploy_rollback_and_listing_from_the_command_line(tmp_path: Path, home: Path) -> None:
    project = make_project(tmp_path, DEPLOY, ("1.0.0", "1.1.0"))
    first = pheme("deploy", "api", "--env", "staging", "--version", "1.0.0", cwd=project)
    assert first.returncode == 0, first.stderr
    assert "✓ set traffic: revision 1 100%" in first.stdout
    url = first.stdout.strip().splitlines()[-1].rsplit(" at ", 1)[1]
    second = pheme("deploy", "api", "--env", "staging", "--version", "1.1.0", cwd=project)
    assert second.returncode == 0, second.stderr
    t0 = time.monotonic()
    back = pheme("rollback", "api", "--env", "staging", cwd=project)
    took = time.monotonic() - t0
    assert back.returncode == 0, back.stderr
    assert back.stdout.strip().endswith("✓ api in staging is back on revision 1 (1.0.0)")
    assert took < 2.0
    import urllib.request

    with urllib.request.urlopen(url + "/version", timeout=5) as resp:
        assert json.load(resp) == {"version": "1.0.0"}
    listing = pheme("deployments", "--json", cwd=project)
    found = json.loads(listing.stdout)["deployments"]
    assert [(d["kind"], d["revision"], d["status"]) for d in found] == [
        ("rollback", 1, "succeeded"), ("deploy", 2, "succeeded"), ("deploy", 1, "succeeded"),
    ]
    status = pheme("rollout", "status", "api", "--env", "staging", cwd=project)
    assert "revision 1 1.0.0" in status.stdout and "100%" in status.stdout
    again = pheme("rollback", "api", "--env", "staging", "--to", "7", cwd=project)
    assert again.returncode == 2
    assert again.stderr == "pheme: revision 7 of 'api' in 'staging' was never deployed successfully\n"
    stop = pheme("agent", "stop", cwd=project)
    assert stop.stdout == "deploy agent stopped\n"
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/version", timeout=2)


def test_rollback_help_falls_back_to_the_full_parser(tmp_path: Path, home: Path) -> None:
    out = pheme("rollback", "--help", cwd=tmp_path)
    assert out.returncode == 0 and "--to" in out.stdout
