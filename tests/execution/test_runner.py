"""End-to-end behaviour of the engine on real processes: results, env, outputs, needs."""

from __future__ import annotations

from pheme.execution.events import Annotation, JobFinished, JobStarted, RunFinished, RunStarted


def test_a_simple_job_runs_its_steps_and_reports_outputs(engine):
    result, col = engine.run(
        """
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      answer: ${{ steps.calc.outputs.value }}
    steps:
      - run: echo hello
      - id: calc
        run: echo "value=42" >> "$GITHUB_OUTPUT"
"""
    )
    assert result.conclusion == "success"
    job = result.job("build")
    assert job.outputs == {"answer": "42"}
    assert [s.outcome for s in job.steps] == ["success", "success"]
    assert job.steps[1].outputs == {"value": "42"}
    assert col.output("build", 1) == ["hello"]
    kinds = [type(e) for e in col.events]
    assert kinds[0] is RunStarted and kinds[-1] is RunFinished
    assert kinds.index(JobStarted) < kinds.index(JobFinished)


def test_a_failing_step_fails_the_job_and_skips_later_steps(engine):
    result, col = engine.run(
        """
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: exit 3
      - run: echo never
"""
    )
    job = result.job("build")
    assert result.conclusion == "failure"
    assert [(s.outcome, s.conclusion) for s in job.steps] == [("failure", "failure"), ("skipped", "skipped")]
    assert "##[error]Process completed with exit code 3." in col.lines("build", 1)
    assert any(a.level == "error" and "exit code 3" in a.message for a in col.of(Annotation))
    assert "never" not in col.lines("build")


def test_continue_on_error_keeps_outcome_failure_but_conclusion_success(engine):
    result, _ = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - id: flaky
        continue-on-error: true
        run: exit 1
      - run: echo "${{ steps.flaky.outcome }} ${{ steps.flaky.conclusion }}"
"""
    )
    job = result.job("j")
    assert (job.steps[0].outcome, job.steps[0].conclusion) == ("failure", "success")
    assert job.steps[1].outcome == "success"
    assert result.conclusion == "success"


def test_status_functions_choose_which_steps_run_after_a_failure(engine):
    result, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: exit 1
      - run: echo implicit-success
      - if: failure()
        run: echo on-failure
      - if: always()
        run: echo always
      - if: success()
        run: echo explicit-success
      - if: cancelled()
        run: echo on-cancel
      - if: ${{ job.status == 'failure' }}
        run: echo job-status-failure
"""
    )
    outcomes = [s.outcome for s in result.job("j").steps]
    assert outcomes == ["failure", "skipped", "success", "success", "skipped", "skipped", "skipped"]
    assert col.output("j", 3) == ["on-failure"]
    assert col.output("j", 4) == ["always"]


def test_step_if_expressions_see_steps_and_env(engine):
    result, _ = engine.run(
        """
on: push
env:
  DEPLOY: "yes"
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - id: a
        run: echo "go=true" >> "$GITHUB_OUTPUT"
      - if: steps.a.outputs.go == 'true' && env.DEPLOY == 'yes'
        run: echo runs
      - if: steps.a.outputs.go == 'false'
        run: echo skipped
"""
    )
    assert [s.outcome for s in result.job("j").steps] == ["success", "success", "skipped"]


def test_needs_outputs_and_result_and_skipping_after_a_failed_need(engine):
    result, col = engine.run(
        """
on: push
jobs:
  produce:
    runs-on: ubuntu-latest
    outputs:
      version: ${{ steps.v.outputs.version }}
    steps:
      - id: v
        run: echo "version=1.2.3" >> "$GITHUB_OUTPUT"
  consume:
    needs: produce
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ needs.produce.outputs.version }} ${{ needs.produce.result }}"
  broken:
    runs-on: ubuntu-latest
    steps:
      - run: exit 1
  after-broken:
    needs: [broken]
    runs-on: ubuntu-latest
    steps:
      - run: echo never
  report:
    needs: [broken, consume]
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ needs.broken.result }} ${{ needs.consume.result }}"
  on-failure:
    needs: broken
    if: failure()
    runs-on: ubuntu-latest
    steps:
      - run: echo cleaning up
  chained:
    needs: after-broken
    runs-on: ubuntu-latest
    steps:
      - run: echo never
"""
    )
    assert col.output("consume", 1) == ["1.2.3 success"]
    assert col.output("report", 1) == ["failure success"]
    assert col.output("on-failure", 1) == ["cleaning up"]
    assert result.job("after-broken").conclusion == "skipped"
    assert result.job("after-broken").started is False
    assert result.job("chained").conclusion == "skipped"
    assert result.conclusion == "failure"
    finished = {e.job.key: e for e in col.of(JobFinished)}
    assert finished["after-broken"].started is False


def test_job_if_false_skips_the_job(engine):
    result, col = engine.run(
        """
on: push
jobs:
  j:
    if: github.event_name == 'schedule'
    runs-on: ubuntu-latest
    steps:
      - run: echo never
"""
    )
    assert result.job("j").conclusion == "skipped"
    assert result.conclusion == "success"
    assert not col.of(JobStarted)


def test_job_continue_on_error_lets_the_run_succeed(engine):
    result, _ = engine.run(
        """
on: push
jobs:
  experimental:
    runs-on: ubuntu-latest
    continue-on-error: true
    steps:
      - run: exit 1
  next:
    needs: experimental
    runs-on: ubuntu-latest
    steps:
      - run: echo ran
"""
    )
    assert result.job("experimental").conclusion == "success"
    assert result.job("experimental").steps[0].outcome == "failure"
    assert result.job("next").conclusion == "success"
    assert result.conclusion == "success"


def test_expression_errors_fail_the_step_with_the_position(engine):
    result, col = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: echo ${{ fromJSON('not json') }}
"""
    )
    assert result.job("j").steps[0].outcome == "failure"
    errors = [line for line in col.lines("j", 1) if line.startswith("##[error]")]
    assert len(errors) == 1
    assert errors[0].startswith(
        "##[error].github/workflows/test.yml (Line: 7, Col: 9): Error when evaluating 'run'"
    )
    assert "fromJson" in errors[0]


def test_json_document_shape(engine):
    result, _ = engine.run(
        """
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - id: s
        name: Say
        run: echo hi
"""
    )
    doc = result.to_json()
    assert doc["conclusion"] == "success"
    assert doc["jobs"] == [
        {
            "id": "j",
            "key": "j",
            "name": "j",
            "matrix": None,
            "conclusion": "success",
            "outputs": {},
            "steps": [
                {"id": "s", "name": "Say", "outcome": "success", "conclusion": "success", "outputs": {}}
            ],
        }
    ]
