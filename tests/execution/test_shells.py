"""Shells, working directories and defaults.run, as a workflow author sees them."""

from __future__ import annotations

import shutil

import pytest

from pheme.errors import ExecutionError
from pheme.execution.shells import resolve_shell


def test_default_shell_stops_at_the_first_failing_command_but_ignores_pipe_failures(engine):
    result, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: |
          false | true
          echo after-pipe
          false
          echo never
"""
    )
    assert result.job("j").steps[0].outcome == "failure"
    out = col.output("j", 1)
    assert "after-pipe" in out and "never" not in out
    assert any(line.startswith("shell: ") and line.endswith("bash -e {0}") for line in col.lines("j", 1))


def test_shell_bash_uses_pipefail(engine):
    result, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - shell: bash
        run: |
          false | true
          echo never
"""
    )
    assert result.job("j").steps[0].outcome == "failure"
    assert "never" not in col.output("j", 1)
    assert any("--noprofile --norc -eo pipefail {0}" in line for line in col.lines("j", 1))


def test_sh_python_and_custom_shells_run_the_script(engine):
    result, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - shell: sh
        run: echo "from sh"
      - shell: python
        run: |
          import sys
          print("from python", sys.argv[0].endswith(".py"))
      - shell: bash -c "echo custom; cat {0}"
        run: echo body
"""
    )
    assert result.conclusion == "success"
    assert col.output("j", 1) == ["from sh"]
    assert col.output("j", 2) == ["from python True"]
    assert col.output("j", 3) == ["custom", "echo body"]


def test_a_missing_shell_fails_the_step_with_one_clear_line(engine):
    result, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - shell: no-such-shell-xyz {0}
        run: echo hi
"""
    )
    assert result.job("j").steps[0].outcome == "failure"
    errors = [line for line in col.lines("j", 1) if line.startswith("##[error]")]
    assert errors == ["##[error]shell 'no-such-shell-xyz' not found on PATH"]


@pytest.mark.skipif(shutil.which("pwsh") is not None, reason="pwsh is installed here")
def test_pwsh_without_powershell_installed_names_the_shell():
    with pytest.raises(ExecutionError, match="shell 'pwsh' not found on PATH"):
        resolve_shell("pwsh", "/usr/bin:/bin")


def test_custom_shell_without_placeholder_is_rejected():
    with pytest.raises(ExecutionError, match=r"must contain '\{0\}'"):
        resolve_shell("bash -e", "/usr/bin:/bin")


def test_working_directory_and_defaults_apply_with_step_overriding_job_overriding_workflow(engine):
    for d in ("wfdir", "jobdir", "stepdir"):
        (engine.workspace / d).mkdir()
    result, col = engine.run(
        """
on: push
defaults:
  run:
    working-directory: wfdir
    shell: sh
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: basename "$PWD"
  b:
    runs-on: ubuntu-latest
    defaults:
      run:
        working-directory: jobdir
        shell: python
    steps:
      - run: import os; print(os.path.basename(os.getcwd()))
      - run: basename "$PWD"
        shell: bash
        working-directory: stepdir
"""
    )
    assert result.conclusion == "success"
    assert col.output("a", 1) == ["wfdir"]
    assert col.output("b", 1) == ["jobdir"]
    assert col.output("b", 2) == ["stepdir"]


def test_a_missing_working_directory_fails_the_step(engine):
    result, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: echo hi
        working-directory: nope
"""
    )
    assert result.job("j").steps[0].outcome == "failure"
    assert any("working-directory 'nope' does not exist" in line for line in col.lines("j", 1))


def test_the_script_is_written_to_runner_temp(engine):
    result, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: echo "$0" && test "$(dirname "$0")" = "$RUNNER_TEMP"
"""
    )
    assert result.conclusion == "success", col.lines("j")
    assert col.output("j", 1)[0].endswith(".sh")
