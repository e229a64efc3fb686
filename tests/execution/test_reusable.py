"""Reusable workflows (``jobs.<id>.uses``): inputs, secrets, outputs, matrix, nesting, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pheme.core.workflow import parse_workflow
from pheme.execution.events import JobFinished, JobStarted


def write(ws: Path, name: str, text: str) -> None:
    path = ws / ".github" / "workflows" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


CALLEE = """
name: Build it
on:
  workflow_call:
    inputs:
      target:
        type: string
        required: true
      count:
        type: number
        default: 3
      verbose:
        type: boolean
      label:
        type: string
        default: ${{ github.event_name }}-default
    secrets:
      token:
        required: true
    outputs:
      artifact:
        value: ${{ jobs.build.outputs.file }}
      report:
        value: ${{ jobs.report.result }}
env:
  TARGET_UPPER: ${{ inputs.target }}!
jobs:
  build:
    name: Compile
    runs-on: ubuntu-latest
    outputs:
      file: ${{ steps.b.outputs.file }}
    steps:
      - id: b
        env:
          INPUTS: ${{ toJSON(inputs) }}
        run: |
          printf 'inputs=%s\\n' "$(printf %s "$INPUTS" | tr -d '\\n')"
          echo "workflow=${{ github.workflow }} job=${{ github.job }} GITHUB_JOB=$GITHUB_JOB"
          echo "env=$TARGET_UPPER caller_env=[$CALLER_ONLY]"
          echo "token=${{ secrets.token }} other=[${{ secrets.other }}]"
          echo "file=${{ inputs.target }}.tar" >> "$GITHUB_OUTPUT"
  report:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: echo "built ${{ needs.build.outputs.file }}"
"""


def test_a_local_reusable_workflow_runs_with_typed_inputs_secrets_and_outputs(engine):
    write(engine.workspace, "build.yml", CALLEE)
    result, col = engine.run(
        """
name: CI
on: push
env:
  CALLER_ONLY: not-propagated
jobs:
  call:
    uses: ./.github/workflows/build.yml
    with:
      target: app
      verbose: ${{ github.event_name == 'push' }}
    secrets:
      token: ${{ secrets.DEPLOY }}
  after:
    needs: call
    runs-on: ubuntu-latest
    steps:
      - run: echo "got ${{ needs.call.outputs.artifact }} report=${{ needs.call.outputs.report }} result=${{ needs.call.result }}"
""",
        secrets={"DEPLOY": "s3cr3t-value", "OTHER": "other-secret"},
    )
    assert result.conclusion == "success", col.lines()
    assert [j.key for j in result.jobs] == ["call / build", "call / report", "after"]
    build = result.job("call / build")
    assert build.name == "call / Compile"
    assert build.job_id == "call"
    assert build.outputs == {"file": "app.tar"}
    out = col.output("call / build", 1)
    inputs = json.loads(out[0].removeprefix("inputs="))
    assert inputs == {"target": "app", "count": 3, "verbose": True, "label": "push-default"}
    assert "workflow=CI job=build GITHUB_JOB=build" in out
    assert "env=app! caller_env=[]" in out
    assert "token=*** other=[]" in out
    assert "s3cr3t-value" not in "\n".join(col.lines())
    assert "built app.tar" in col.output("call / report", 1)
    assert "got app.tar report=success result=success" in col.output("after", 1)
    # Each called job is reported as its own job (what --json lists).
    started = [e.job.key for e in col.of(JobStarted)]
    assert started[:2] == ["call / build", "call / report"]
    assert [j["key"] for j in result.to_json()["jobs"]] == ["call / build", "call / report", "after"]


def test_secrets_inherit_passes_every_secret(engine):
    write(
        engine.workspace,
        "child.yml",
        """
on: workflow_call
jobs:
  show:
    runs-on: ubuntu-latest
    steps:
      - run: test "${{ secrets.A }}${{ secrets.B }}" = "onetwo" && echo inherited
""",
    )
    result, col = engine.run(
        """
on: push
jobs:
  call:
    uses: ./.github/workflows/child.yml
    secrets: inherit
""",
        secrets={"A": "one", "B": "two"},
    )
    assert result.conclusion == "success", col.lines()
    assert "inherited" in col.output("call / show", 1)


@pytest.mark.parametrize(
    ("with_block", "message"),
    [
        ("", "Input target is required, but not provided while calling."),
        (
            "    with:\n      target: x\n      count: many\n",
            "Unexpected value 'many' for number input 'count'",
        ),
        (
            "    with:\n      target: x\n      verbose: ${{ 'yes' }}\n",
            "Unexpected value 'yes' for boolean input 'verbose'",
        ),
        (
            "    with:\n      target: x\n      nope: 1\n",
            "Invalid input, nope is not defined in the referenced workflow.",
        ),
    ],
)
def test_wrong_inputs_fail_the_calling_job_with_its_position(engine, with_block, message):
    write(engine.workspace, "build.yml", CALLEE)
    result, col = engine.run(
        "on: push\njobs:\n  call:\n    uses: ./.github/workflows/build.yml\n"
        + with_block
        + "    secrets:\n      token: t\n"
    )
    assert result.conclusion == "failure"
    [job] = result.jobs
    assert (job.key, job.conclusion, job.started) == ("call", "failure", False)
    errors = [line for line in col.lines("call") if line.startswith("##[error]")]
    assert errors == [f"##[error].github/workflows/test.yml:3:3: {message}"]


def test_a_missing_required_secret_is_an_error(engine):
    write(engine.workspace, "build.yml", CALLEE)
    result, col = engine.run(
        "on: push\njobs:\n  call:\n    uses: ./.github/workflows/build.yml\n    with:\n      target: x\n"
    )
    assert result.job("call").conclusion == "failure"
    assert "Secret token is required, but not provided while calling." in "\n".join(col.lines("call"))


def test_an_invalid_callee_fails_the_caller_with_file_line_col(engine):
    write(
        engine.workspace,
        "bad.yml",
        "on: workflow_call\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n        bogus: 1\n",
    )
    result, col = engine.run("on: push\njobs:\n  call:\n    uses: ./.github/workflows/bad.yml\n")
    assert result.conclusion == "failure"
    errors = [line for line in col.lines("call") if line.startswith("##[error]")]
    assert errors and errors[0].startswith("##[error].github/workflows/bad.yml:7:9: ")
    assert "bogus" in errors[0]


def test_a_callee_without_workflow_call_is_refused(engine):
    write(
        engine.workspace, "push.yml", "on: push\njobs:\n  j:\n    runs-on: x\n    steps:\n      - run: echo\n"
    )
    result, col = engine.run("on: push\njobs:\n  call:\n    uses: ./.github/workflows/push.yml\n")
    assert result.job("call").conclusion == "failure"
    assert "workflow_call key is not defined in the referenced workflow" in "\n".join(col.lines("call"))


def test_a_missing_local_callee_names_the_file(engine):
    result, col = engine.run("on: push\njobs:\n  call:\n    uses: ./.github/workflows/nope.yml\n")
    assert result.job("call").conclusion == "failure"
    assert "reusable workflow './.github/workflows/nope.yml' not found" in "\n".join(col.lines("call"))


SIMPLE = """
on:
  workflow_call:
    inputs:
      v:
        type: string
        default: none
    outputs:
      echoed:
        value: ${{ jobs.j.outputs.o }}
jobs:
  j:
    runs-on: ubuntu-latest
    outputs:
      o: ${{ steps.s.outputs.o }}
    steps:
      - id: s
        run: echo "o=<${{ inputs.v }}>" >> "$GITHUB_OUTPUT"
"""


def test_a_matrix_caller_makes_one_call_per_combination(engine):
    write(engine.workspace, "simple.yml", SIMPLE)
    result, col = engine.run(
        """
on: push
jobs:
  call:
    strategy:
      matrix:
        v: [a, b]
    uses: ./.github/workflows/simple.yml
    with:
      v: ${{ matrix.v }}
  after:
    needs: call
    runs-on: ubuntu-latest
    steps:
      - run: echo "last=${{ needs.call.outputs.echoed }}"
"""
    )
    assert result.conclusion == "success", col.lines()
    assert [j.key for j in result.jobs] == ["call (a) / j", "call (b) / j", "after"]
    assert result.job("call (a) / j").outputs == {"o": "<a>"}
    assert result.job("call (b) / j").outputs == {"o": "<b>"}
    assert col.output("after", 1)[0] in ("last=<a>", "last=<b>")


def test_if_and_needs_on_the_calling_job(engine):
    write(engine.workspace, "simple.yml", SIMPLE)
    result, col = engine.run(
        """
on: push
jobs:
  first:
    runs-on: ubuntu-latest
    outputs:
      v: ${{ steps.s.outputs.v }}
    steps:
      - id: s
        run: echo "v=from-first" >> "$GITHUB_OUTPUT"
  call:
    needs: first
    uses: ./.github/workflows/simple.yml
    with:
      v: ${{ needs.first.outputs.v }}
  skipped:
    if: github.event_name == 'pull_request'
    uses: ./.github/workflows/simple.yml
  after-skipped:
    needs: skipped
    runs-on: ubuntu-latest
    steps:
      - run: echo never
"""
    )
    assert result.conclusion == "success", col.lines()
    assert result.job("call / j").outputs == {"o": "<from-first>"}
    assert result.job("skipped").conclusion == "skipped"
    assert result.job("after-skipped").conclusion == "skipped"
    order = [(type(e).__name__, e.job.key) for e in col.events if isinstance(e, (JobStarted, JobFinished))]
    assert order.index(("JobFinished", "first")) < order.index(("JobStarted", "call / j"))


def test_a_failing_called_job_fails_the_caller_and_skips_its_dependants(engine):
    write(
        engine.workspace,
        "fails.yml",
        """
on: workflow_call
jobs:
  bad:
    runs-on: ubuntu-latest
    steps:
      - run: exit 3
  also:
    needs: bad
    runs-on: ubuntu-latest
    steps:
      - run: echo never
""",
    )
    result, col = engine.run(
        """
on: push
jobs:
  call:
    uses: ./.github/workflows/fails.yml
  next:
    needs: call
    runs-on: ubuntu-latest
    steps:
      - run: echo never
  report:
    needs: call
    if: failure()
    runs-on: ubuntu-latest
    steps:
      - run: echo "call was ${{ needs.call.result }}"
"""
    )
    assert result.conclusion == "failure"
    assert result.job("call / bad").conclusion == "failure"
    assert result.job("call / also").conclusion == "skipped"
    assert result.job("next").conclusion == "skipped"
    assert "call was failure" in col.output("report", 1)


def test_nested_calls_are_named_by_their_path(engine):
    write(
        engine.workspace,
        "outer.yml",
        """
on:
  workflow_call:
    outputs:
      deep:
        value: ${{ jobs.inner.outputs.echoed }}
jobs:
  inner:
    uses: ./.github/workflows/simple.yml
    with:
      v: nested
""",
    )
    write(engine.workspace, "simple.yml", SIMPLE)
    result, col = engine.run(
        """
on: push
jobs:
  top:
    uses: ./.github/workflows/outer.yml
  show:
    needs: top
    runs-on: ubuntu-latest
    steps:
      - run: echo "deep=${{ needs.top.outputs.deep }}"
"""
    )
    assert result.conclusion == "success", col.lines()
    assert [j.key for j in result.jobs] == ["top / inner / j", "show"]
    assert "deep=<nested>" in col.output("show", 1)


def test_calls_nested_deeper_than_the_limit_fail(engine):
    from pheme.core.workflow import LoadOptions

    limit = LoadOptions().max_nested_workflows
    for level in range(1, limit + 2):
        write(
            engine.workspace,
            f"l{level}.yml",
            f"on: workflow_call\njobs:\n  down:\n    uses: ./.github/workflows/l{level + 1}.yml\n",
        )
    write(
        engine.workspace,
        f"l{limit + 2}.yml",
        "on: workflow_call\njobs:\n  leaf:\n    runs-on: x\n    steps:\n      - run: echo leaf\n",
    )
    result, col = engine.run("on: push\njobs:\n  top:\n    uses: ./.github/workflows/l1.yml\n")
    assert result.conclusion == "failure"
    [job] = result.jobs
    assert job.key == "top" + " / down" * limit
    assert f"Nested reusable workflow depth exceeded {limit}" in "\n".join(col.lines(job.key))


def test_a_remote_reusable_workflow_resolves_from_the_actions_path(engine, tmp_path, monkeypatch):
    vendored = tmp_path / "vendored"
    write(vendored / "octo" / "shared@v1", "simple.yml", SIMPLE)
    monkeypatch.setenv("PHEME_ACTIONS_PATH", str(vendored))
    result, col = engine.run(
        """
on: push
jobs:
  call:
    uses: octo/shared/.github/workflows/simple.yml@v1
    with:
      v: remote
"""
    )
    assert result.conclusion == "success", col.lines()
    assert result.job("call / j").outputs == {"o": "<remote>"}


def test_a_remote_reusable_workflow_that_is_not_vendored_is_a_clear_error(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("PHEME_ACTIONS_PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("PHEME_HOME", str(tmp_path / "home"))
    result, col = engine.run("on: push\njobs:\n  call:\n    uses: octo/shared/.github/workflows/x.yml@v1\n")
    assert result.job("call").conclusion == "failure"
    text = "\n".join(col.lines("call"))
    assert "reusable workflow 'octo/shared/.github/workflows/x.yml@v1' is not available offline" in text
    assert "octo/shared@v1/.github/workflows/x.yml" in text


def test_the_request_can_supply_the_called_workflows(engine):
    callee = parse_workflow(SIMPLE, "virtual/simple.yml")
    asked: list[str] = []

    def load(uses: str):
        asked.append(uses)
        return callee

    result, col = engine.run(
        "on: push\njobs:\n  call:\n    uses: ./.github/workflows/anything.yml\n    with:\n      v: given\n",
        load_workflow=load,
    )
    assert result.conclusion == "success", col.lines()
    assert asked == ["./.github/workflows/anything.yml"]
    assert result.job("call / j").outputs == {"o": "<given>"}


def test_cancelling_the_run_cancels_the_called_jobs(engine):
    import asyncio

    write(
        engine.workspace,
        "long.yml",
        "on: workflow_call\njobs:\n  wait:\n    runs-on: x\n    steps:\n      - run: echo started; sleep 60\n",
    )

    async def scenario():
        col = engine.collector()
        cancel = asyncio.Event()
        started = col.when(lambda e: getattr(e, "lines", None) == ["started"])
        task = asyncio.create_task(
            engine.arun(
                "on: push\njobs:\n  call:\n    uses: ./.github/workflows/long.yml\n",
                cancel=cancel,
                collector=col,
            )
        )
        await started.wait()
        cancel.set()
        return await task

    result, _ = asyncio.run(scenario())
    assert result.conclusion == "cancelled"
    assert result.job("call / wait").conclusion == "cancelled"


def test_a_container_job_in_a_called_workflow_fails_naming_it(engine):
    write(
        engine.workspace,
        "svc.yml",
        "on: workflow_call\njobs:\n  db:\n    runs-on: x\n    services:\n      pg:\n        image: postgres\n"
        "    steps:\n      - run: echo\n",
    )
    result, col = engine.run("on: push\njobs:\n  call:\n    uses: ./.github/workflows/svc.yml\n")
    assert result.conclusion == "failure"
    assert result.job("call / db").started is False
    assert any("job 'call / db' uses services" in line for line in col.lines("call / db"))
