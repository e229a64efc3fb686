"""Environment variables and contexts a step sees."""

from __future__ import annotations

import json


def test_env_precedence_is_workflow_then_job_then_step(engine):
    result, col = engine.run(
        """
on: push
env:
  A: wf
  B: wf
  C: wf
jobs:
  j:
    runs-on: ubuntu-latest
    env:
      B: job
      C: job
    steps:
      - run: echo "$A $B $C"
        env:
          C: step
      - run: echo "$A $B $C"
"""
    )
    assert result.conclusion == "success"
    assert col.output("j", 1) == ["wf job step"]
    assert col.output("j", 2) == ["wf job job"]


def test_env_values_are_expressions_and_the_env_context_shows_earlier_levels(engine):
    result, col = engine.run(
        """
on: push
env:
  NAME: world
jobs:
  j:
    runs-on: ubuntu-latest
    env:
      FLAG: true
    steps:
      - run: echo "$GREETING $FLAG $REF"
        env:
          GREETING: hello ${{ env.NAME }}
          REF: ${{ github.ref }}
      - run: echo "${{ env.NAME }} ${{ env.FLAG }} [${{ env.GREETING }}]"
"""
    )
    assert result.conclusion == "success"
    assert col.output("j", 1) == ["hello world true refs/heads/main"]
    assert col.output("j", 2) == ["world true []"]


def test_github_env_applies_to_later_steps_and_the_env_context_and_step_env_still_wins(engine):
    result, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    env:
      X: job
    steps:
      - run: |
          echo "X=from-file" >> "$GITHUB_ENV"
          {
            echo "MULTI<<EOF"
            echo "line one"
            echo "line two"
            echo "EOF"
          } >> "$GITHUB_ENV"
          echo "X in same step: $X"
      - run: echo "$X / ${{ env.X }}"; echo "$MULTI"
      - run: echo "$X"
        env:
          X: step
"""
    )
    assert result.conclusion == "success", col.lines("j")
    assert col.output("j", 1) == ["X in same step: job"]
    assert col.output("j", 2) == ["from-file / from-file", "line one", "line two"]
    assert col.output("j", 3) == ["step"]


def test_github_path_prepends_for_later_steps(engine):
    tools = engine.workspace / "tools"
    tools.mkdir()
    tool = tools / "mytool"
    tool.write_text("#!/bin/sh\necho mytool ran\n")
    tool.chmod(0o755)
    result, col = engine.run(
        f"""
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: echo "{tools}" >> "$GITHUB_PATH"
      - run: mytool; echo "${{PATH%%:*}}"
"""
    )
    assert result.conclusion == "success", col.lines("j")
    assert col.output("j", 2) == ["mytool ran", str(tools)]


def test_default_variables_and_event_file(engine):
    result, col = engine.run(
        """
name: CI
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - id: first
        run: |
          for v in CI GITHUB_ACTIONS GITHUB_WORKSPACE GITHUB_SHA GITHUB_REF GITHUB_REF_NAME GITHUB_REF_TYPE \
                   GITHUB_EVENT_NAME GITHUB_REPOSITORY GITHUB_REPOSITORY_OWNER GITHUB_RUN_ID GITHUB_RUN_NUMBER \
                   GITHUB_RUN_ATTEMPT GITHUB_JOB GITHUB_ACTOR GITHUB_WORKFLOW GITHUB_ACTION GITHUB_SERVER_URL \
                   GITHUB_API_URL RUNNER_OS; do
            echo "$v=${!v}"
          done
          test -d "$RUNNER_TEMP" && test -d "$RUNNER_TOOL_CACHE" && echo dirs-ok
          python3 -c "import json,os; print(json.load(open(os.environ['GITHUB_EVENT_PATH']))['marker'])"
          for f in GITHUB_OUTPUT GITHUB_ENV GITHUB_PATH GITHUB_STEP_SUMMARY GITHUB_STATE; do test -f "${!f}"; done
""",
        event_payload={"marker": "from-event"},
        ref="refs/tags/v1.2",
        sha="abc123",
        repository="octo/hello",
        actor="mona",
        run_id=77,
        run_number=5,
    )
    assert result.conclusion == "success", col.lines("build")
    values = dict(line.split("=", 1) for line in col.output("build", 1) if "=" in line)
    assert values["CI"] == "true" and values["GITHUB_ACTIONS"] == "true"
    assert values["GITHUB_WORKSPACE"] == str(engine.workspace)
    assert values["GITHUB_SHA"] == "abc123"
    assert (values["GITHUB_REF"], values["GITHUB_REF_NAME"], values["GITHUB_REF_TYPE"]) == (
        "refs/tags/v1.2",
        "v1.2",
        "tag",
    )
    assert values["GITHUB_REPOSITORY"] == "octo/hello" and values["GITHUB_REPOSITORY_OWNER"] == "octo"
    assert (values["GITHUB_RUN_ID"], values["GITHUB_RUN_NUMBER"]) == ("77", "5")
    assert values["GITHUB_JOB"] == "build" and values["GITHUB_ACTOR"] == "mona"
    assert values["GITHUB_WORKFLOW"] == "CI" and values["GITHUB_ACTION"] == "first"
    assert values["RUNNER_OS"] == "Linux"
    assert "dirs-ok" in col.output("build", 1)
    assert "from-event" in col.output("build", 1)


def test_cli_env_overrides_workflow_env_and_vars_inputs_secrets_contexts(engine):
    result, col = engine.run(
        """
on: workflow_dispatch
env:
  MODE: file
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: echo "$MODE ${{ vars.COLOR }} ${{ inputs.level }} [${{ secrets.MISSING }}]"
""",
        event_name="workflow_dispatch",
        env={"MODE": "cli"},
        vars={"COLOR": "blue"},
        inputs={"level": "3"},
    )
    assert result.conclusion == "success"
    assert col.output("j", 1) == ["cli blue 3 []"]


def test_pull_request_head_and_base_refs(engine):
    payload = {"pull_request": {"head": {"ref": "feature"}, "base": {"ref": "main"}}}
    result, col = engine.run(
        """
on: pull_request
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: echo "$GITHUB_HEAD_REF $GITHUB_BASE_REF ${{ github.event.pull_request.head.ref }}"
""",
        event_name="pull_request",
        event_payload=payload,
        ref="refs/pull/7/merge",
    )
    assert result.conclusion == "success"
    assert col.output("j", 1) == ["feature main feature"]
    assert json.dumps(payload)  # the payload itself is untouched


def test_hash_files_hashes_matching_workspace_files(engine):
    (engine.workspace / "a.lock").write_text("one")
    result, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: echo "[${{ hashFiles('**/*.lock') }}] [${{ hashFiles('*.none') }}]"
"""
    )
    assert result.conclusion == "success"
    line = col.output("j", 1)[0]
    digest = line.split("]")[0][1:]
    assert len(digest) == 64 and line.endswith("[]")
