"""Composite actions: inputs, outputs, nesting, env scoping, failures."""

from __future__ import annotations

from pathlib import Path

from .conftest import run_workflow, write

INNER = """
inputs:
  value: {required: true}
  suffix: {default: "-${{ github.event_name }}"}
outputs:
  result: {value: "${{ steps.make.outputs.out }}"}
runs:
  using: composite
  steps:
    - id: make
      run: echo "out=${{ inputs.value }}${{ inputs.suffix }}" >> $GITHUB_OUTPUT
      shell: bash
    - run: echo "inner action path ${{ github.action_path }}"
      shell: bash
"""

OUTER = """
inputs:
  start: {default: seed}
outputs:
  final: {value: "${{ steps.inner.outputs.result }}!"}
runs:
  using: composite
  steps:
    - run: echo "STEP_ONLY=$STEP_ONLY CALLER=$CALLER"
      shell: bash
      env: {STEP_ONLY: one}
    - run: echo "second sees STEP_ONLY=[$STEP_ONLY] CALLER=$CALLER"
      shell: bash
    - run: echo "EXPORTED=yes" >> $GITHUB_ENV
      shell: bash
    - run: echo "exported is $EXPORTED"
      shell: bash
    - id: inner
      uses: ./inner
      with:
        value: ${{ inputs.start }}
    - if: ${{ failure() }}
      run: echo never
      shell: bash
"""


def test_nested_composites_with_inputs_outputs_and_env_scoping(tmp_path: Path) -> None:
    write(tmp_path, {"inner/action.yml": INNER, "outer/action.yml": OUTER})
    out = run_workflow(
        """
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - id: o
                uses: ./outer
                env: {CALLER: c1}
              - run: echo "final=${{ steps.o.outputs.final }} exported=$EXPORTED"
        """,
        tmp_path,
    )
    assert out.result.conclusion == "success", out.log
    log = out.log
    assert "STEP_ONLY=one CALLER=c1" in log
    assert "second sees STEP_ONLY=[] CALLER=c1" in log
    assert "exported is yes" in log
    assert f"inner action path {tmp_path}/inner" in log
    assert "final=seed-push! exported=yes" in log
    assert "never" not in log.replace("echo never", "")


def test_a_failing_nested_step_fails_the_composite_and_skips_the_rest(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "c/action.yml": """
                outputs:
                  o: {value: "${{ steps.first.outputs.v }}"}
                runs:
                  using: composite
                  steps:
                    - id: first
                      run: echo "v=kept" >> $GITHUB_OUTPUT
                      shell: bash
                    - run: exit 4
                      shell: bash
                    - run: echo "should not run"
                      shell: bash
                    - if: failure()
                      run: echo "cleanup ran"
                      shell: bash
            """
        },
    )
    out = run_workflow(
        """
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - id: c
                uses: ./c
              - if: always()
                run: echo "outcome=${{ steps.c.outcome }} o=${{ steps.c.outputs.o }}"
        """,
        tmp_path,
    )
    assert out.result.conclusion == "failure"
    assert "should not run" not in out.log.replace('echo "should not run"', "")
    assert "cleanup ran" in out.log
    assert "outcome=failure o=kept" in out.log


def test_continue_on_error_inside_a_composite(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "c/action.yml": """
                runs:
                  using: composite
                  steps:
                    - run: exit 1
                      shell: bash
                      continue-on-error: true
                    - run: echo after
                      shell: bash
            """
        },
    )
    out = run_workflow(
        "on: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: ./c\n", tmp_path
    )
    assert out.result.conclusion == "success", out.log
    assert "after" in out.log
