"""Built-in actions behave as the real ones where a workflow can see it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pheme.execution.actions.builtins import BuiltinServices
from pheme.storage.objectstore.memory import MemoryObjectStore

from .conftest import run_workflow, write

NODE = shutil.which("node")


def node_major() -> str:
    assert NODE
    return subprocess.run([NODE, "--version"], capture_output=True, text=True, check=True).stdout.strip().lstrip("v").split(".")[0]


def git_repo(path: Path) -> str:
    write(path, {"README.md": "hello\n", "src/app.js": "console.log(1)\n"})
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "one"]):
        subprocess.run(["git", "-C", str(path), *args], check=True, env=env)
    (path / "README.md").write_text("second\n")
    subprocess.run(["git", "-C", str(path), "commit", "-qam", "two"], check=True, env=env)
    return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()


def test_checkout_reports_the_prepared_workspace_and_clones_into_path(tmp_path: Path) -> None:
    sha = git_repo(tmp_path)
    out = run_workflow(
        """
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - id: root
                uses: actions/checkout@v4
              - id: sub
                uses: actions/checkout@v4
                with: {path: copy, fetch-depth: 1, token: ignored}
              - run: test -f copy/src/app.js && test "$(git -C copy rev-list --count HEAD)" = 1 && echo cloned-ok
              - uses: actions/checkout@v4
                with: {path: full, fetch-depth: 0, ref: main}
              - run: test "$(git -C full rev-list --count HEAD)" = 2 && echo full-ok
        """,
        tmp_path,
        sha=sha,
        repository="me/repo",
    )
    assert out.result.conclusion == "success", out.log
    assert out.step_outputs("j", 1)["commit"] == sha
    assert out.step_outputs("j", 2)["commit"] == sha
    assert "cloned-ok" in out.log and "full-ok" in out.log
    assert "Pheme built-in actions/checkout" in out.log


def test_checkout_of_another_repository_fails_clearly(tmp_path: Path) -> None:
    out = run_workflow(
        """
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
                with: {repository: other/repo}
        """,
        tmp_path,
        repository="me/repo",
    )
    assert out.result.conclusion == "failure"
    assert "another repository ('other/repo') needs the network" in out.log


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_setup_node_picks_the_installed_version_and_lists_what_exists_when_unsatisfied(tmp_path: Path) -> None:
    major = node_major()
    out = run_workflow(
        f"""
        on: push
        jobs:
          ok:
            runs-on: ubuntu-latest
            steps:
              - id: n
                uses: actions/setup-node@v4
                with: {{node-version: '{major}.x'}}
              - run: node --version && which node
          bad:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/setup-node@v3
                with: {{node-version: '3.x'}}
        """,
        tmp_path,
    )
    assert out.result.job("ok").conclusion == "success", out.log
    version = out.step_outputs("ok", 1)["node-version"]
    assert version.startswith(f"v{major}.")
    assert version in out.log
    assert out.result.job("bad").conclusion == "failure"
    assert "Unable to find Node.js version '3.x'" in out.log and "Installed:" in out.log


def test_setup_python_resolves_a_spec_from_a_version_file(tmp_path: Path) -> None:
    v = sys.version_info
    write(tmp_path, {".python-version": f"{v.major}.{v.minor}\n"})
    out = run_workflow(
        """
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - id: p
                uses: actions/setup-python@v5
                with: {python-version-file: .python-version}
              - run: python -c "import sys; print('py', sys.version_info[:2])"; echo "loc=$pythonLocation"
        """,
        tmp_path,
        env={"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"},
    )
    assert out.result.conclusion == "success", out.log
    assert out.step_outputs("j", 1)["python-version"].startswith(f"{v.major}.{v.minor}.")
    assert f"py ({v.major}, {v.minor})" in out.log


CACHE_WF = """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - id: c
        uses: actions/cache@v4
        with:
          path: deps
          key: deps-${{ hashFiles('lock.txt') }}
          restore-keys: deps-
      - run: |
          echo "hit=${{ steps.c.outputs.cache-hit }}"
          if [ -f deps/built.txt ]; then echo "restored: $(cat deps/built.txt)"; else mkdir -p deps && echo "$RANDOM$RANDOM" > deps/built.txt; fi
"""


def test_a_cache_saved_by_one_run_is_hit_by_the_next(tmp_path: Path) -> None:
    store = MemoryObjectStore()
    ws1 = write(tmp_path / "ws1", {"lock.txt": "v1"})
    first = run_workflow(CACHE_WF, ws1, services=BuiltinServices(store=store))
    assert first.result.conclusion == "success", first.log
    assert "hit=false" in first.log and "Cache saved with key: deps-" in first.log
    built = (ws1 / "deps" / "built.txt").read_text()
    ws2 = write(tmp_path / "ws2", {"lock.txt": "v1"})
    second = run_workflow(CACHE_WF, ws2, services=BuiltinServices(store=store))
    assert "hit=true" in second.log and f"restored: {built.strip()}" in second.log
    assert "not saving cache" in second.log
    ws3 = write(tmp_path / "ws3", {"lock.txt": "v2"})
    third = run_workflow(CACHE_WF, ws3, services=BuiltinServices(store=store))
    assert "hit=false" in third.log and f"restored: {built.strip()}" in third.log  # restore-keys prefix match


def test_artifacts_travel_between_jobs_byte_for_byte(tmp_path: Path) -> None:
    payload = os.urandom(100_000)
    ws = tmp_path / "ws"
    (ws / "dist").mkdir(parents=True)
    (ws / "dist" / "app.bin").write_bytes(payload)
    (ws / "dist" / "notes.txt").write_text("n")
    services = BuiltinServices(store=MemoryObjectStore(), run_key="r42")
    out = run_workflow(
        """
        on: push
        jobs:
          build:
            runs-on: ubuntu-latest
            steps:
              - id: up
                uses: actions/upload-artifact@v4
                with: {name: dist, path: dist/, retention-days: 3}
              - uses: actions/upload-artifact@v4
                with: {name: none, path: missing/, if-no-files-found: warn}
          use:
            needs: build
            runs-on: ubuntu-latest
            steps:
              - id: down
                uses: actions/download-artifact@v4
                with: {name: dist, path: out}
              - uses: actions/download-artifact@v4
                with: {path: all}
              - run: cmp out/app.bin dist/app.bin && cmp all/dist/app.bin dist/app.bin && echo same-bytes
              - uses: actions/download-artifact@v4
                with: {name: nope}
        """,
        ws,
        services=services,
    )
    assert "same-bytes" in out.log, out.log
    assert (ws / "out" / "app.bin").read_bytes() == payload
    assert out.step_outputs("build", 1)["artifact-id"]
    assert "No files were found with the provided path: missing/" in out.log
    assert services.artifacts().get("r42", "dist").retention_days == 3
    assert out.result.job("use").conclusion == "failure"
    assert "Unable to download artifact(s): Artifact not found for name: nope" in out.log


def test_aws_credentials_are_exported_and_never_logged(tmp_path: Path) -> None:
    key_id, secret = "AKIAEXAMPLEKEY123456", "s3cr3t/K3y+value/abcdefghijklmnopqrst"
    out = run_workflow(
        """
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - uses: aws-actions/configure-aws-credentials@v1
                with:
                  aws-access-key-id: ${{ vars.KEY_ID }}
                  aws-secret-access-key: ${{ vars.SECRET }}
                  aws-region: eu-west-1
              - run: |
                  echo "id=$AWS_ACCESS_KEY_ID secret=$AWS_SECRET_ACCESS_KEY region=$AWS_REGION/$AWS_DEFAULT_REGION"
                  echo "$AWS_SECRET_ACCESS_KEY" | base64
        """,
        tmp_path,
        vars={"KEY_ID": key_id, "SECRET": secret},
    )
    assert out.result.conclusion == "success", out.log
    assert "id=*** secret=*** region=eu-west-1/eu-west-1" in out.log
    assert key_id not in out.log and secret not in out.log


def test_aws_region_is_required(tmp_path: Path) -> None:
    out = run_workflow(
        """
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - uses: aws-actions/configure-aws-credentials@v4
                with: {aws-access-key-id: AKIAKEYID000, aws-secret-access-key: longsecretvalue}
        """,
        tmp_path,
    )
    assert out.result.conclusion == "failure" and "Input required and not supplied: aws-region" in out.log


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_snyk_falls_back_to_npm_audit_with_a_notice(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "package.json": '{"name": "x", "version": "1.0.0"}',
            "package-lock.json": '{"name": "x", "version": "1.0.0", "lockfileVersion": 3, "requires": true, '
            '"packages": {"": {"name": "x", "version": "1.0.0"}}}',
        },
    )
    out = run_workflow(
        """
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - uses: snyk/actions/node@master
                with: {args: --severity-threshold=low}
        """,
        tmp_path,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin"},
    )
    if shutil.which("snyk"):
        pytest.skip("snyk is installed here")
    assert out.result.conclusion == "success", out.log
    assert "running 'npm audit --json' instead of snyk/actions/node@master" in out.log
    assert "npm audit: 0 vulnerable package(s)" in out.log
